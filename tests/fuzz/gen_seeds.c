/*
 * Writes the seed corpora that need valid signatures and sealing, with the
 * fixed fuzz keys (tests/fuzz/fuzzkeys.h): checkpoint, envelope, ledger,
 * proof and wire.  Run from the repository root (tests/fuzz/mkcorpus.sh);
 * the output is committed.  Synthetic data only.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/outbound.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "common/policysig.h"
#include "common/util.h"
#include "common/wire.h"
#include "policy/policy.h"
#include "schemas/codec.h"
#include "schemas/ledger.pb-c.h"
#include "tests/fuzz/fuzzkeys.h"
#include "tests/unit/msgutil.h"

static void
die(const char *what)
{
	fprintf(stderr, "gen_seeds: %s\n", what);
	exit(1);
}

static void
put(const char *dir, const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "tests/fuzz/corpus/%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(a, 1, alen, f) != alen ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
		die(path);
}

static void
put_msg(const char *dir, const char *name, int prefix, const ProtobufCMessage *m)
{
	size_t n;
	uint8_t *buf = wire_pack(m, &n), p = (uint8_t)prefix;

	if (buf == NULL)
		die("out of memory");
	if (prefix < 0)
		put(dir, name, buf, n, NULL, 0);
	else
		put(dir, name, &p, 1, buf, n);
	free(buf);
}

static void
put_cmd(const char *name, Keten__Wire__V1__Command *c)
{
	put_msg("wire", name, -1, &c->base);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	if (f == NULL || buf == NULL)
		die(path);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* A small in-memory Merkle tree store. */
static merkle_hash tree[8][64];

static int
tget(void *arg, unsigned level, uint64_t index, merkle_hash out)
{
	(void)arg;
	if (level >= 8 || index >= 64)
		return -1;
	memcpy(out, tree[level][index], 32);
	return 0;
}

static int
tput(void *arg, unsigned level, uint64_t index, const merkle_hash h)
{
	(void)arg;
	if (level >= 8 || index >= 64)
		return -1;
	memcpy(tree[level][index], h, 32);
	return 0;
}

static const struct merkle_store store = { tget, tput, NULL };

static char *
hexes(const merkle_hash *h, size_t n)
{
	char *s = calloc(1, 8 + n * 65), hex[65];

	for (size_t i = 0; s && i < n; i++) {
		sodium_bin2hex(hex, sizeof(hex), h[i], 32);
		strcat(s, i ? "," : " ");
		strcat(s, hex);
	}
	return s;
}

/* A submission of the seeds, by the agent's own code (tests/unit/msgutil.h). */
static struct outbound *
prepare(const struct policy *p, struct directory *dir, const char *from, const char *to1,
    const char *to2, const char *type, const char *purpose, const char *file)
{
	struct outbound *ob;

	mu_policy = (struct policy *)p;
	mu_dir = dir;
	if ((ob = mu_prepare(from, to1, to2, type, purpose, file)) == NULL)
		die("outbound_prepare");
	return ob;
}

int
main(void)
{
	struct keten_keys broker, nla, politie;
	struct directory *dir;
	struct policy *p = NULL;
	char err[KETEN_ERRLEN], name[64];
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	if (sodium_init() < 0 || codec_init() != 0 || (dir = fuzz_directory()) == NULL ||
	    policy_load("policy/stm.yaml", dir, &p, err) != 0)
		die("setup (run from the repository root)");
	fuzzkeys("broker", &broker);
	fuzzkeys("nla", &nla);
	fuzzkeys("politie", &politie);

	/* submissions as the agent makes them: the demo's car-wash signal */
	struct outbound *ob[3] = {
		prepare(p, dir, "nla", "politie", "om", "CaseSignal", "investigation",
		    "tests/data/messages/signal_carwash.json"),
		prepare(p, dir, "nla", "gemeente-amsterdam", NULL, "CaseSignal", "victim-care",
		    "tests/data/messages/signal_carwash.json"),
		prepare(p, dir, "politie", "om", NULL, "CaseReferral", "prosecution",
		    "tests/data/messages/casereferral_prosecution.json"),
	};
	for (size_t s = 0; s < 3; s++) {
		ProtobufCBinaryData digs[ENV_MAX_COPIES];
		uint8_t dig[ENV_MAX_COPIES][ENV_DIGESTBYTES];
		Keten__Wire__V1__Deliver d;
		ob[s]->submit.ref = s + 1;
		snprintf(name, sizeof(name), "submit%zu", s);
		put_msg("envelope", name, 0, &ob[s]->submit.base);
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT;
		c.submit = &ob[s]->submit;
		put_cmd(name, &c);
		for (size_t i = 0; i < ob[s]->submit.n_copies; i++) {
			mu_deliver_of(ob[s], i, &d, digs, dig);
			snprintf(name, sizeof(name), "deliver%zu-%s", s, d.copy->recipient);
			put_msg("envelope", name, 1, &d.base);
			c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER;
			c.deliver = &d;
			put_cmd(name, &c);
		}
	}

	/* ledger entries, the tree over them, checkpoints, receipts and proofs */
	Keten__Ledger__V1__Entry e[6];
	static const char *kinds[6] = { "accepted-politie", "accepted-om", "rejected", "delivered",
		"policy-activated", "audit-query" };
	uint8_t *packed[6], pseudo[32] = { 9, 9, 9 }, cth[32] = { 4, 2 };
	size_t plen[6];
	char *rules[] = { "signal-labour-police", "signal-labour-om" };
	char *paths[] = { "reference", "observedOn", "sector", "observation" };
	for (size_t i = 0; i < 6; i++) {
		keten__ledger__v1__entry__init(&e[i]);
		e[i].seq = i;
		e[i].time_ms = 1764570000000LL + (int64_t)i * 1000;
		e[i].actor = "broker";
		e[i].message_id = ob[0]->submit.header->message_id;
		e[i].case_pseudonym = (ProtobufCBinaryData){ 32, pseudo };
		e[i].sender = "nla";
		e[i].message_type = "keten.case.v1.CaseSignal";
		e[i].purpose = "investigation";
		e[i].policy_version = ob[0]->submit.header->policy_version;
	}
	e[0].kind = e[1].kind = KETEN__LEDGER__V1__KIND__KIND_ACCEPTED;
	e[0].recipient = "politie";
	e[1].recipient = "om";
	for (size_t i = 0; i < 2; i++) {
		e[i].rule_ids = rules;
		e[i].n_rule_ids = 1;
		e[i].field_paths = paths;
		e[i].n_field_paths = 4;
		e[i].ciphertext_hash = (ProtobufCBinaryData){ 32, cth };
		e[i].legal_basis = "sv-art-126";
	}
	e[2].kind = KETEN__LEDGER__V1__KIND__KIND_REJECTED;
	e[2].recipient = "gemeente-amsterdam";
	e[2].reason_code = "forbidden";
	e[2].reason = "policy: gemeente-amsterdam may not receive this CaseSignal (rule no-suspects-to-care)";
	e[2].rule_ids = rules + 1;
	e[2].n_rule_ids = 1;
	e[3].kind = KETEN__LEDGER__V1__KIND__KIND_DELIVERED;
	e[3].actor = "politie";
	e[3].recipient = "politie";
	e[4].kind = KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED;
	e[4].message_id = (ProtobufCBinaryData){ 0, NULL };
	e[4].case_pseudonym = (ProtobufCBinaryData){ 0, NULL };
	e[4].sender = "";
	e[5].kind = KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY;
	e[5].actor = "auditor";
	e[5].reason = "query --case-ref (pseudonymised) --sender nla";
	for (size_t i = 0; i < 6; i++) {
		merkle_hash leaf;
		if ((packed[i] = wire_pack(&e[i].base, &plen[i])) == NULL)
			die("out of memory");
		put("ledger", kinds[i], packed[i], plen[i], NULL, 0);
		merkle_leaf_hash(leaf, packed[i], plen[i]);
		if (merkle_append(&store, i, leaf) != 0)
			die("merkle");
	}
	char *note[7];
	for (uint64_t n = 1; n <= 6; n++) {
		merkle_hash root;
		if (merkle_root(&store, n, root) != 0 ||
		    (note[n] = checkpoint_sign(FUZZ_ORIGIN, n, root, broker.sign_sk, broker.sign_pk)) == NULL)
			die("checkpoint");
	}
	put("checkpoint", "size1", note[1], strlen(note[1]), NULL, 0);
	put("checkpoint", "size6", note[6], strlen(note[6]), NULL, 0);
	char *l1 = checkpoint_cosign(note[6], "nla", 1764570100, nla.sign_sk, nla.sign_pk);
	char *l2 = checkpoint_cosign(note[6], "politie", 1764570101, politie.sign_sk, politie.sign_pk);
	size_t cl = strlen(note[6]) + strlen(l1) + strlen(l2) + 1;
	char *cos = malloc(cl);
	snprintf(cos, cl, "%s%s%s", note[6], l1, l2);
	put("checkpoint", "size6-cosigned", cos, strlen(cos), NULL, 0);

	/* proofs as keten audit prove writes them */
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t np;
	char buf[8192], *h, e64[2048];
	for (uint64_t seq = 0; seq < 2; seq++) {
		if (merkle_inclusion_proof(&store, seq, 6, proof, &np) != 0)
			die("inclusion proof");
		sodium_bin2base64(e64, sizeof(e64), packed[seq], plen[seq], sodium_base64_VARIANT_ORIGINAL);
		h = hexes((const merkle_hash *)proof, np);
		snprintf(buf, sizeof(buf), "keten-proof v1\ninclusion %llu 6\nentry %s\nproof%s\n"
		    "checkpoint 6\n%s.\n", (unsigned long long)seq, e64, h, note[6]);
		snprintf(name, sizeof(name), "inclusion-%llu-6", (unsigned long long)seq);
		put("proof", name, buf, strlen(buf), NULL, 0);
		free(h);
	}
	static const uint64_t cons[][2] = { { 1, 6 }, { 3, 6 }, { 4, 5 } };
	for (size_t i = 0; i < 3; i++) {
		if (merkle_consistency_proof(&store, cons[i][0], cons[i][1], proof, &np) != 0)
			die("consistency proof");
		h = hexes((const merkle_hash *)proof, np);
		snprintf(buf, sizeof(buf), "keten-proof v1\nconsistency %llu %llu\nproof%s\n"
		    "checkpoint %llu\n%s.\ncheckpoint %llu\n%s.\n", (unsigned long long)cons[i][0],
		    (unsigned long long)cons[i][1], h, (unsigned long long)cons[i][0], note[cons[i][0]],
		    (unsigned long long)cons[i][1], note[cons[i][1]]);
		snprintf(name, sizeof(name), "consistency-%llu-%llu", (unsigned long long)cons[i][0],
		    (unsigned long long)cons[i][1]);
		put("proof", name, buf, strlen(buf), NULL, 0);
		free(h);
	}

	/* what else crosses the wire */
	Keten__Wire__V1__SubmitAck ack = KETEN__WIRE__V1__SUBMIT_ACK__INIT;
	Keten__Wire__V1__Receipt rc[2] = { KETEN__WIRE__V1__RECEIPT__INIT, KETEN__WIRE__V1__RECEIPT__INIT };
	Keten__Wire__V1__Receipt *rcp[2] = { &rc[0], &rc[1] };
	merkle_hash ip[2][MERKLE_MAX_PROOF];
	ProtobufCBinaryData ipb[2][MERKLE_MAX_PROOF];
	for (size_t i = 0; i < 2; i++) {
		size_t n;
		merkle_inclusion_proof(&store, i, 2, ip[i], &n);
		for (size_t j = 0; j < n; j++)
			ipb[i][j] = (ProtobufCBinaryData){ 32, ip[i][j] };
		rc[i].seq = i;
		rc[i].entry = (ProtobufCBinaryData){ plen[i], packed[i] };
		rc[i].checkpoint = note[2];
		rc[i].inclusion_proof = ipb[i];
		rc[i].n_inclusion_proof = n;
	}
	ack.message_id = ob[0]->submit.header->message_id;
	ack.ref = 1;
	ack.accepted_ms = 1764570000000LL;
	ack.receipts = rcp;
	ack.n_receipts = 2;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK;
	c.submit_ack = &ack;
	put_cmd("submit-ack", &c);

	Keten__Wire__V1__WitnessChallenge wc = KETEN__WIRE__V1__WITNESS_CHALLENGE__INIT;
	ProtobufCBinaryData cpb[MERKLE_MAX_PROOF];
	merkle_consistency_proof(&store, 2, 6, proof, &np);
	for (size_t j = 0; j < np; j++)
		cpb[j] = (ProtobufCBinaryData){ 32, proof[j] };
	wc.old_size = 2;
	wc.checkpoint = note[6];
	wc.consistency_proof = cpb;
	wc.n_consistency_proof = np;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE;
	c.witness_challenge = &wc;
	put_cmd("witness-challenge", &c);

	size_t slen;
	char *src = slurp("policy/stm.yaml", &slen);
	uint8_t psig[64];
	Keten__Wire__V1__PolicyUpdate pu = KETEN__WIRE__V1__POLICY_UPDATE__INIT;
	pu.name = (char *)policy_name(p);
	pu.version = (char *)policy_version(p);
	pu.hash = (ProtobufCBinaryData){ POLICY_HASHBYTES, (uint8_t *)policy_hash(p) };
	pu.source = (ProtobufCBinaryData){ slen, (uint8_t *)src };
	pu.activated_ms = 1764570000000LL;
	policysig_sign(psig, pu.hash.data, pu.source.data, slen, pu.version, pu.activated_ms,
	    broker.sign_sk);
	pu.signature = (ProtobufCBinaryData){ 64, psig };
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE;
	c.policy_update = &pu;
	put_cmd("policy-update", &c);

	dir->version++;
	char *dsrc = directory_format(dir);
	uint8_t dsig[64];
	Keten__Wire__V1__DirectoryUpdate du = KETEN__WIRE__V1__DIRECTORY_UPDATE__INIT;
	du.version = dir->version;
	du.source = (ProtobufCBinaryData){ strlen(dsrc), (uint8_t *)dsrc };
	dirsig_sign(dsig, du.source.data, du.source.len, du.version, broker.sign_sk);
	du.signature = (ProtobufCBinaryData){ 64, dsig };
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE;
	c.directory_update = &du;
	put_cmd("directory-update", &c);
	put("directory", "fuzzkeys.yaml", dsrc, strlen(dsrc), NULL, 0);

	uint8_t inst[16] = { 0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	Keten__Wire__V1__Hello hello = KETEN__WIRE__V1__HELLO__INIT;
	hello.version = KETEN_PROTOCOL_VERSION;
	hello.agency = "nla";
	hello.instance = (ProtobufCBinaryData){ 16, inst };
	hello.software = "keten-agent 0.1.0";
	hello.time_ms = 1764570000000LL;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &hello;
	put_cmd("hello", &c);
	Keten__Wire__V1__Heartbeat hb = KETEN__WIRE__V1__HEARTBEAT__INIT;
	hb.instance = hello.instance;
	hb.time_ms = hello.time_ms;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT;
	c.heartbeat = &hb;
	put_cmd("heartbeat", &c);
	Keten__Wire__V1__DeliverAck da = KETEN__WIRE__V1__DELIVER_ACK__INIT;
	da.message_id = ob[0]->submit.header->message_id;
	da.seq = 7;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK;
	c.deliver_ack = &da;
	put_cmd("deliver-ack", &c);
	Keten__Wire__V1__Error er = KETEN__WIRE__V1__ERROR__INIT;
	er.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY;
	er.reason = "policy 3: field suspects may not go to gemeente-amsterdam: forbidden";
	er.message_id = da.message_id;
	er.ref = 2;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &er;
	put_cmd("error", &c);
	Keten__Wire__V1__WitnessRequest wr = KETEN__WIRE__V1__WITNESS_REQUEST__INIT;
	wr.known_size = 2;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST;
	c.witness_request = &wr;
	put_cmd("witness-request", &c);
	Keten__Wire__V1__Cosignature cs = KETEN__WIRE__V1__COSIGNATURE__INIT;
	cs.size = 6;
	cs.signature_line = l1;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE;
	c.cosignature = &cs;
	put_cmd("cosignature", &c);
	printf("gen_seeds: checkpoint, envelope, ledger, proof, wire and directory seeds written\n");
	return 0;
}
