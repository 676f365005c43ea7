/*
 * libFuzzer target: wire frames (keten.wire.v1.Command) as the broker
 * (broker/dispatch.c dispatch_frame, in a session of the sender's, in a
 * write transaction that is then aborted) and the agent decode them,
 * followed by the checks each applies to what it received, with the fixed
 * fuzz keys (tests/fuzz/fuzzkeys.h), the shipped policy and an empty broker
 * store:
 *   Submit: the broker's gate (broker/gate.c: header, signature, recipients,
 *     manifests, policy); Deliver: the recipient's inbound check
 *     (agent/inbound.c: signature, opening, decoding, manifest, policy);
 *   SubmitAck: every receipt (agent/receipt.c); WitnessChallenge: the
 *     checkpoint and consistency proof; PolicyUpdate / DirectoryUpdate: the
 *     signature, then the compile; Cosignature: the witness line.
 * Run from the repository root (the policy and directory files).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/inbound.h"
#include "agent/outbound.h"
#include "agent/receipt.h"
#include "broker/broker.h"
#include "broker/gate.h"
#include "ledger/ledger.h"
#include "broker/queue.h"
#include "ledger/checkpoint.h"
#include "common/db.h"
#include "ledger/merkle.h"
#include "common/policysig.h"
#include "common/wire.h"
#include "tests/fuzz/fuzzkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct directory *dir;
static struct policy *pol;
static char *pol_src;
static size_t pol_len;
static MDB_env *env;
static struct queue *queue;
static struct ledger *ledger;
static struct keten_keys broker;
static char *note;
static char tmp[] = "/tmp/keten-fuzz-wire-XXXXXX";

static void
cleanup(void)
{
	char p[64];
	static const char *const files[] = { "data.mdb", "lock.mdb", "daemon.lock" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmp, files[i]);
		unlink(p);
	}
	rmdir(tmp);
}

/* The broker's state as broker/main.c sets it up, over the store above. */
static struct broker fb;

static void
setup_broker(void)
{
	static struct broker_config cfg;

	cfg.max_message_bytes = 1 << 20;
	cfg.max_clock_skew_ms = 300000;
	cfg.window = 100;
	cfg.batch_max = 256;
	cfg.heartbeat_ms = 1000;
	fb.cfg = &cfg;
	fb.dir = dir;
	fb.policy = pol;
	fb.env = env;
	fb.queue = queue;
	fb.ledger = ledger;
	fb.keys = &broker;
	fb.storage_limit = UINT64_MAX / 2;	/* loop_check_storage's, for a map that is not full */
	log_silence(true);
	if (metrics_new(&fb.metrics) != 0 || (fb.peers = calloc(dir->n, sizeof(*fb.peers))) == NULL)
		abort();
	for (size_t i = 0; i < dir->n; i++)
		fb.peers[i].agency = &dir->agencies[i];
}

static void
setup(void)
{
	char err[KETEN_ERRLEN];
	uint8_t zero[32] = { 0 };
	FILE *f;

	if (sodium_init() < 0 || codec_init() != 0 || (dir = fuzz_directory()) == NULL ||
	    (f = fopen("policy/stm.yaml", "rb")) == NULL)
		abort();	/* run from the repository root */
	pol_src = malloc(1 << 20);
	pol_len = fread(pol_src, 1, 1 << 20, f);
	fclose(f);
	if (policy_parse("policy/stm.yaml", pol_src, pol_len, dir, &pol, err) != 0 ||
	    mkdtemp(tmp) == NULL)
		abort();
	atexit(cleanup);
	if (db_env_open(tmp, 16, 16, &env, err) != 0 || queue_open(env, &queue, err) != 0 ||
	    ledger_open(env, FUZZ_ORIGIN, &ledger, err) != 0)
		abort();
	fuzzkeys("broker", &broker);
	note = checkpoint_sign(FUZZ_ORIGIN, 6, zero, broker.sign_sk, broker.sign_pk);
	setup_broker();
}

static const struct dir_agency *
agency_or_first(const char *id)
{
	const struct dir_agency *a = id ? directory_find(dir, id) : NULL;

	return a ? a : &dir->agencies[0];
}

/* broker/gate.c on a submission from its header's sender */
static void
broker_submit(const Keten__Wire__V1__Submit *s)
{
	static struct gate_verdict v;
	MDB_txn *txn;

	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		abort();
	const struct dir_agency *from = agency_or_first(s->header ? s->header->sender : NULL);
	if (gate_check(dir, pol, queue, ledger, txn, from, s, NULL, FUZZ_NOW_MS, 300000, &v) != v.code ||
	    memchr(v.reason, '\0', sizeof(v.reason)) == NULL)
		abort();
	mdb_txn_abort(txn);
}

/* agent/agent.c: delivery_valid on what the copy says is ours */
static void
agent_deliver(Keten__Wire__V1__Deliver *d)
{
	struct keten_keys self;
	char err[KETEN_ERRLEN];

	if (d->header == NULL || d->header->message_id.len != 16)
		return;
	fuzzkeys(d->copy && agency_id_valid(d->copy->recipient) ? d->copy->recipient : "om", &self);
	struct outbound_keys k = { dir, &self, NULL, NULL, NULL };
	if (inbound_check(pol, self.id, &k, d, FUZZ_NOW_MS, err) != 0 &&
	    memchr(err, '\0', sizeof(err)) == NULL)
		abort();
}

static void
agent_ack(const Keten__Wire__V1__SubmitAck *ack)
{
	char err[KETEN_ERRLEN], line[256];

	if (ack->message_id.len != 16)
		return;
	for (size_t i = 0; i < ack->n_receipts; i++) {
		receipt_verify(ack->receipts[i], broker.sign_pk, "nla", ack->message_id.data, NULL, err);
		receipt_describe(ack->receipts[i], line, sizeof(line));
	}
}

/* agent/agent.c handle_witness_challenge, as a witness that saw size 2 */
static void
agent_witness(const Keten__Wire__V1__WitnessChallenge *w)
{
	char origin[256], err[KETEN_ERRLEN];
	uint64_t size;
	uint8_t root[32], seen[32] = { 0 };
	merkle_hash proof[MERKLE_MAX_PROOF];

	if (w->checkpoint == NULL)
		return;
	snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(w->checkpoint, "\n"), w->checkpoint);
	if (checkpoint_verify(w->checkpoint, origin, broker.sign_pk, &size, root, err) != 0 ||
	    size <= 2 || w->old_size != 2 || w->n_consistency_proof > MERKLE_MAX_PROOF)
		return;
	for (size_t i = 0; i < w->n_consistency_proof; i++) {
		if (w->consistency_proof[i].len != 32)
			return;
		memcpy(proof[i], w->consistency_proof[i].data, 32);
	}
	merkle_verify_consistency(2, size, seen, root, (const merkle_hash *)proof,
	    w->n_consistency_proof);
}

static void
agent_policy(const Keten__Wire__V1__PolicyUpdate *u)
{
	struct policy *p = NULL;
	char err[KETEN_ERRLEN];

	if (u->hash.len != POLICY_HASHBYTES ||
	    policysig_verify(u->signature.data, u->signature.len, u->hash.data, u->hash.len,
	    u->source.data, u->source.len, u->version, u->activated_ms, broker.sign_pk) != 0)
		return;
	if (policy_parse("broker policy", u->source.data, u->source.len, dir, &p, err) == 0) {
		if (memcmp(policy_hash(p), u->hash.data, POLICY_HASHBYTES) != 0)
			policy_free(&p);	/* "it compiles differently here" */
		policy_free(&p);
	}
}

static void
agent_directory(const Keten__Wire__V1__DirectoryUpdate *u)
{
	struct directory *nd = NULL;
	struct policy *p = NULL;
	char err[KETEN_ERRLEN];

	if (u->version <= dir->version ||
	    dirsig_verify(u->signature.data, u->signature.len, u->source.data, u->source.len,
	    u->version, broker.sign_pk) != 0)
		return;
	if (directory_parse("broker directory", u->source.data, u->source.len, &nd, err) == 0 &&
	    nd->version == u->version &&
	    policy_parse("policy/stm.yaml", pol_src, pol_len, nd, &p, err) == 0)
		policy_free(&p);
	directory_free(&nd);
}

/*
 * broker/dispatch.c on the frame as it came from `from`, on the connection of
 * its session (except a Hello, which starts one), in a write transaction
 * that is aborted, so every input meets the same empty store.
 */
static void
broker_dispatch(const uint8_t *data, size_t size, const struct dir_agency *from)
{
	static const uint8_t rid[5] = { 0, 'f', 'u', 'z', 'z' };
	struct inframe f;
	MDB_txn *txn;

	memset(&f, 0, sizeof(f));
	memcpy(f.rid, rid, sizeof(rid));
	f.rid_len = sizeof(rid);
	snprintf(f.user, sizeof(f.user), "%s", from->id);
	f.len = size;
	if ((f.cmd = keten__wire__v1__command__unpack(NULL, size, data)) == NULL)
		return;
	if (f.cmd->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_HELLO)
		session_start(&fb, from, rid, sizeof(rid));
	session_peer(&fb, from)->clock_off_ms = 0;	/* what an earlier input's heartbeat said */
	if (mdb_txn_begin(env, NULL, 0, &txn) != 0)
		abort();
	dispatch_frame(&fb, txn, &f);
	if (f.cmd != NULL)
		abort();	/* dispatch_frame frees what it was given */
	mdb_txn_abort(txn);
	for (size_t i = 0; i < fb.nreplies; i++) {
		if (fb.replies[i].len == 0)
			abort();	/* every reply is a packed command */
		free(fb.replies[i].frame);
	}
	fb.nreplies = 0;
	fb.nacks = 0;
	fb.ledger_dirty = false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Keten__Wire__V1__Command *c;

	if (dir == NULL)
		setup();
	if (size > (1 << 20) + 4096)	/* the broker's default frame limit */
		return 0;
	if ((c = keten__wire__v1__command__unpack(NULL, size, data)) == NULL)
		return 0;
	wire_cmd_name(c->cmd_case);
	broker_dispatch(data, size, agency_or_first(c->cmd_case ==
	    KETEN__WIRE__V1__COMMAND__CMD_SUBMIT && c->submit->header ? c->submit->header->sender :
	    c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_HELLO ? c->hello->agency : NULL));
	switch (c->cmd_case) {
	case KETEN__WIRE__V1__COMMAND__CMD_HELLO:
		agency_or_first(c->hello->agency);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT:
		broker_submit(c->submit);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE: {
		const struct dir_agency *a = agency_or_first(NULL);
		if (c->cosignature->signature_line != NULL)
			checkpoint_cosig_verify(note, c->cosignature->signature_line, a->id, a->sign_pk);
		break;
	}
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER:
		agent_deliver(c->deliver);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK:
		agent_ack(c->submit_ack);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE:
		agent_witness(c->witness_challenge);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE:
		agent_policy(c->policy_update);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE:
		agent_directory(c->directory_update);
		break;
	default:
		break;
	}
	keten__wire__v1__command__free_unpacked(c, NULL);
	return 0;
}
