/*
 * rawpeer: an authenticated peer that misbehaves on purpose.  It connects to
 * a broker with an agency's real keys and sends malformed frames, checking
 * that each one is answered with the right error and that the broker still
 * answers a valid Hello afterwards.  With --expect-refused it checks that the
 * broker does not talk to a key outside the directory at all.
 *
 * usage: rawpeer --endpoint EP --server-key Z85 --keys FILE --max-bytes N
 *                [--expect-refused] [--invalid-to AGENCY] [--forge-to AGENCY]
 *                [--directory FILE]   (to seal copies for real recipients)
 *        rawpeer ... --fresh-keys N       N connections, each with a new key
 *        rawpeer ... --flood-reports N    N error reports of 400 KB each
 * The checks include extreme values (INT64_MIN/MAX times, a manifest naming
 * one path again and again, nil and v4 message ids, negative enums) and
 * every command only the broker sends.
 * Exit 0 when every check passed; each check prints one line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/directory.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "schemas/case_types.pb-c.h"
#include "common/wire.h"

static void *sock;
static int failures;
static struct keten_keys *k;
static struct directory *dir;

/*
 * Seal every copy of s (for recipients in the directory; others get random
 * bytes of the right shape) and sign it with our key, as an agent would: the
 * broker then judges header, recipients and manifests, not the crypto.
 */
static void
seal_and_sign(Keten__Wire__V1__Submit *s, const uint8_t *plain, size_t plen)
{
	static uint8_t eph_pk[32], sig[64];
	static uint8_t nonces[8][24], cts[8][512];
	uint8_t eph_sk[32], hd[32], digests[8][32], d[32];

	crypto_box_keypair(eph_pk, eph_sk);
	envelope_header_digest(hd, s->header);
	for (size_t i = 0; i < s->n_copies && i < 8; i++) {
		Keten__Wire__V1__Copy *c = s->copies[i];
		const struct dir_agency *a = dir ? directory_find(dir, c->recipient) : NULL;
		randombytes_buf(nonces[i], 24);
		if (a != NULL && plen + 16 <= sizeof(cts[i])) {
			envelope_seal(c, hd, eph_sk, eph_pk, a->enc_pk, nonces[i], plain, plen);
			memcpy(cts[i], c->payload.data, c->payload.len);	/* keep static copies */
			free(c->payload.data);
			free(c->nonce.data);
			c->payload.data = cts[i];
		} else {
			randombytes_buf(cts[i], 64);
			c->payload = (ProtobufCBinaryData){ 64, cts[i] };
		}
		c->nonce = (ProtobufCBinaryData){ 24, nonces[i] };
		envelope_copy_digest(digests[i], c);
	}
	envelope_digest(d, hd, eph_pk, (const uint8_t (*)[32])digests, s->n_copies);
	envelope_sign(sig, d, k->sign_sk);
	s->ephemeral_key = (ProtobufCBinaryData){ 32, eph_pk };
	s->signature = (ProtobufCBinaryData){ 64, sig };
}

static Keten__Wire__V1__Command *
recv_cmd(long timeout_ms)
{
	zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t m;
	Keten__Wire__V1__Command *c;

	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return NULL;
	zmq_msg_init(&m);
	zmq_msg_recv(&m, sock, 0);
	c = keten__wire__v1__command__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
	zmq_msg_close(&m);
	return c;
}

/* Receive until a reply arrives (heartbeats and policy updates are not replies). */
static Keten__Wire__V1__Command *
recv_reply(long timeout_ms)
{
	for (;;) {
		Keten__Wire__V1__Command *c = recv_cmd(timeout_ms);
		if (c == NULL || (c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT &&
		    c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE &&
		    c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE))
			return c;
		keten__wire__v1__command__free_unpacked(c, NULL);
	}
}

static void
expect_error(const char *what, Keten__Wire__V1__ErrorCode code)
{
	Keten__Wire__V1__Command *c = recv_reply(5000);

	if (c == NULL) {
		printf("FAIL %s: no reply\n", what);
		failures++;
		return;
	}
	if (c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_ERROR || c->error->code != code) {
		printf("FAIL %s: got %s (code %d), expected error code %d\n", what,
		    wire_cmd_name(c->cmd_case), c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_ERROR ?
		    (int)c->error->code : -1, (int)code);
		failures++;
	} else {
		printf("ok   %s: error %d \"%s\"\n", what, (int)code, c->error->reason);
	}
	keten__wire__v1__command__free_unpacked(c, NULL);
}

/* Flip one ciphertext bit of the first copy, after signing. */
static void
cts_flip(Keten__Wire__V1__Submit *s)
{
	s->copies[0]->payload.data[0] ^= 1;
}

static void
send_bytes(const void *p, size_t n, int flags)
{
	zmq_send(sock, p, n, flags);
}

static void
send_cmd(const Keten__Wire__V1__Command *c)
{
	wire_send(sock, NULL, 0, c, 0);
}

static void
hello(const char *agency)
{
	Keten__Wire__V1__Hello h = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t inst[16] = { 1 };

	h.version = KETEN_PROTOCOL_VERSION;
	h.agency = (char *)agency;
	h.instance = (ProtobufCBinaryData){ 16, inst };
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &h;
	send_cmd(&c);
}

/* A command of the broker's, or one with extreme values: its reply. */
static void
send_case(Keten__Wire__V1__Command *c, const char *what, Keten__Wire__V1__ErrorCode code)
{
	send_cmd(c);
	expect_error(what, code);
}

static void
expect_hello(const char *what)
{
	Keten__Wire__V1__Command *c = recv_reply(5000);

	if (c == NULL || c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_HELLO) {
		printf("FAIL %s: no hello reply\n", what);
		failures++;
	} else {
		printf("ok   %s: hello answered\n", what);
	}
	if (c)
		keten__wire__v1__command__free_unpacked(c, NULL);
}

/* Hello and heartbeats with the extreme times of an int64, then still served. */
static void
extreme_times(void)
{
	int64_t t[] = { INT64_MIN, INT64_MAX, -1 };
	Keten__Wire__V1__Heartbeat hb = KETEN__WIRE__V1__HEARTBEAT__INIT;
	Keten__Wire__V1__Hello h = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t inst[16] = { 1 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char what[64];
		h.version = KETEN_PROTOCOL_VERSION;
		h.agency = k->id;
		h.instance = (ProtobufCBinaryData){ 16, inst };
		h.time_ms = t[i];
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
		c.hello = &h;
		send_cmd(&c);
		snprintf(what, sizeof(what), "hello at time %lld", (long long)t[i]);
		expect_hello(what);
		hb.time_ms = t[i];
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT;
		c.heartbeat = &hb;
		send_cmd(&c);
	}
	hello(k->id);
	expect_hello("after extreme clocks");
}

/* Every command only the broker sends, sent to it: NOT_ALLOWED, by name. */
static void
broker_only_commands(void)
{
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	Keten__Wire__V1__SubmitAck sa = KETEN__WIRE__V1__SUBMIT_ACK__INIT;
	Keten__Wire__V1__DeliveryStatus ds = KETEN__WIRE__V1__DELIVERY_STATUS__INIT;
	Keten__Wire__V1__PolicyUpdate pu = KETEN__WIRE__V1__POLICY_UPDATE__INIT;
	Keten__Wire__V1__DirectoryUpdate du = KETEN__WIRE__V1__DIRECTORY_UPDATE__INIT;
	Keten__Wire__V1__WitnessChallenge wc = KETEN__WIRE__V1__WITNESS_CHALLENGE__INIT;
	Keten__Wire__V1__RootUpdate ru = KETEN__WIRE__V1__ROOT_UPDATE__INIT;

	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK, c.submit_ack = &sa;
	send_case(&c, "submit-ack sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS, c.delivery_status = &ds;
	send_case(&c, "delivery-status sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE, c.policy_update = &pu;
	send_case(&c, "policy-update sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE, c.directory_update = &du;
	send_case(&c, "directory-update sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE, c.witness_challenge = &wc;
	send_case(&c, "witness-challenge sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ROOT_UPDATE, c.root_update = &ru;
	send_case(&c, "root-update sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
}

/* n error reports of 400 KB each, none about a copy: the broker's ledger keeps a budget of them. */
static void
flood_reports(unsigned long n)
{
	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	char *reason = malloc(400 * 1024 + 1);

	if (reason == NULL)
		exit(2);
	memset(reason, 'r', 400 * 1024);
	reason[400 * 1024] = '\0';
	hello(k->id);
	expect_hello("flood: session");
	e.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED;
	e.reason = reason;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	for (unsigned long i = 0; i < n; i++)
		send_cmd(&c);
	free(reason);
	hello(k->id);
	expect_hello("flood: still served");
	printf("ok   %lu reports of 400 KB sent\n", n);
}

/* n connections, each with a fresh key: refused, and the ledger keeps a budget of them. */
static int
fresh_keys(void *ctx, const char *ep, const uint8_t spk[32], unsigned long n)
{
	void **socks = calloc(n, sizeof(*socks));
	int zero = 0;

	if (socks == NULL)
		return 2;
	for (unsigned long i = 0; i < n; i++) {
		uint8_t pk[32], sk[32];
		crypto_box_keypair(pk, sk);
		socks[i] = zmq_socket(ctx, ZMQ_DEALER);
		zmq_setsockopt(socks[i], ZMQ_CURVE_SERVERKEY, spk, 32);
		zmq_setsockopt(socks[i], ZMQ_CURVE_PUBLICKEY, pk, 32);
		zmq_setsockopt(socks[i], ZMQ_CURVE_SECRETKEY, sk, 32);
		zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof(zero));
		zmq_connect(socks[i], ep);
		zmq_send(socks[i], "", 0, ZMQ_DONTWAIT);
	}
	zmq_sleep(2);	/* the handshakes happen in the background */
	for (unsigned long i = 0; i < n; i++)
		zmq_close(socks[i]);
	free(socks);
	zmq_ctx_term(ctx);
	printf("ok   %lu connections with fresh keys made\n", n);
	return 0;
}

/* A refusal at the source sent twice: logged once, acknowledged both times; a bad one refused. */
static void
source_refusals(const Keten__Envelope__V1__Header *model)
{
	Keten__Envelope__V1__Header h = *model;
	Keten__Wire__V1__SourceDecision d = KETEN__WIRE__V1__SOURCE_DECISION__INIT, *dp[] = { &d };
	Keten__Wire__V1__SourceRefusal sr = KETEN__WIRE__V1__SOURCE_REFUSAL__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	char *to[] = { (char *)"om" };
	uint8_t id[16];

	uuid7_new(id);
	h.message_id = (ProtobufCBinaryData){ 16, id };
	h.recipients = to;
	h.n_recipients = 1;
	d.recipient = "om";
	d.path = "";
	d.reason = "forbidden";
	d.rule = "no-such-rule";
	sr.ref = 99;
	sr.header = &h;
	sr.n_decisions = 1;
	sr.decisions = dp;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL;
	c.source_refusal = &sr;
	for (int round = 0; round < 2; round++) {
		send_cmd(&c);
		Keten__Wire__V1__Command *r = recv_reply(5000);
		bool ok = r != NULL && r->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK &&
		    r->submit_ack->source_refusal && r->submit_ack->duplicate == (round == 1);
		printf("%s source refusal %s: %s\n", ok ? "ok  " : "FAIL", round ? "resent" : "sent",
		    ok ? (round ? "acknowledged as a duplicate" : "acknowledged") : "not acknowledged so");
		failures += !ok;
		if (r)
			keten__wire__v1__command__free_unpacked(r, NULL);
	}
	char idtext[KETEN_UUIDSTRLEN];
	uuid_format(idtext, id);
	printf("     source refusal id %s\n", idtext);
	/* a decision naming a path the type does not have */
	uuid7_new(id);
	d.path = "persons[suspect].shoe_size";
	send_case(&c, "source refusal with an unknown path", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "server-key", required_argument, NULL, 's' },
		{ "keys", required_argument, NULL, 'k' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "expect-refused", no_argument, NULL, 'r' },
		{ "invalid-to", required_argument, NULL, 'i' },
		{ "forge-to", required_argument, NULL, 'f' },
		{ "directory", required_argument, NULL, 'd' },
		{ "fresh-keys", required_argument, NULL, 'n' },
		{ "flood-reports", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ep = NULL, *skey = NULL, *kfile = NULL, *invalid_to = NULL, *forge_to = NULL;
	size_t maxb = 1 << 20;
	int refused = 0, ch;
	unsigned long fresh = 0, reports = 0;
	const char *dirfile = NULL;
	uint8_t spk[32];
	char err[KETEN_ERRLEN];

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': ep = optarg; break;
		case 's': skey = optarg; break;
		case 'k': kfile = optarg; break;
		case 'm': maxb = strtoul(optarg, NULL, 10); break;
		case 'r': refused = 1; break;
		case 'i': invalid_to = optarg; break;
		case 'f': forge_to = optarg; break;
		case 'd': dirfile = optarg; break;
		case 'n': fresh = strtoul(optarg, NULL, 10); break;
		case 'R': reports = strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!ep || !skey || !kfile || key_z85_decode(spk, skey) != 0)
		return 2;
	if (keys_load(kfile, &k, err) != 0 || (dirfile && directory_load(dirfile, &dir, err) != 0)) {
		fprintf(stderr, "rawpeer: %s\n", err);
		return 2;
	}
	void *ctx = zmq_ctx_new();
	int zero = 0;
	if (fresh > 0)
		return fresh_keys(ctx, ep, spk, fresh);
	sock = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spk, 32);
	zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->tx_pk, 32);
	zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->tx_sk, 32);
	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_connect(sock, ep);

	if (reports > 0) {
		flood_reports(reports);
		goto out;
	}
	if (refused) {
		hello(k->id);
		Keten__Wire__V1__Command *c = recv_cmd(2000);
		if (c != NULL) {
			printf("FAIL unlisted key: the broker answered with %s\n",
			    wire_cmd_name(c->cmd_case));
			keten__wire__v1__command__free_unpacked(c, NULL);
			failures++;
		} else {
			printf("ok   unlisted key: no answer from the broker\n");
		}
		goto out;
	}

	hello(k->id);
	Keten__Wire__V1__Command *c = recv_reply(5000);
	if (c == NULL || c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_HELLO) {
		printf("FAIL hello: no hello reply\n");
		failures++;
	} else {
		printf("ok   hello answered\n");
	}
	if (c)
		keten__wire__v1__command__free_unpacked(c, NULL);

	/* random bytes */
	uint8_t junk[256];
	randombytes_buf(junk, sizeof(junk));
	junk[0] = 0xff;	/* field 31, wire type 7: never valid protobuf */
	send_bytes(junk, sizeof(junk), 0);
	expect_error("random bytes", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);

	/* an Error whose reason would forge a line of the broker's log */
	{
		Keten__Wire__V1__Error fe = KETEN__WIRE__V1__ERROR__INIT;
		Keten__Wire__V1__Command fc = KETEN__WIRE__V1__COMMAND__INIT;
		size_t flen;
		fe.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED;
		fe.reason = "x\n2026-12-04T00:00:00.000Z INFO broker: checkpoint 999 cosigned by om";
		fc.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
		fc.error = &fe;
		uint8_t *fb = wire_pack(&fc.base, &flen);
		if (fb != NULL)
			send_bytes(fb, flen, 0);
		free(fb);
		printf("ok   an error report with a forged log line sent\n");
	}

	/* a valid Submit, truncated */
	Keten__Wire__V1__Submit s = KETEN__WIRE__V1__SUBMIT__INIT;
	Keten__Wire__V1__Command sc = KETEN__WIRE__V1__COMMAND__INIT;
	Keten__Envelope__V1__Header h = KETEN__ENVELOPE__V1__HEADER__INIT;
	Keten__Envelope__V1__Attributes at = KETEN__ENVELOPE__V1__ATTRIBUTES__INIT;
	Keten__Wire__V1__Copy cp = KETEN__WIRE__V1__COPY__INIT, *cps[] = { &cp };
	Keten__Case__V1__ExploitationForm labour[] = { KETEN__CASE__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR };
	uint8_t id[16];
	char *to[] = { (char *)"nobody" };
	uuid7_new(id);
	at.n_exploitation_forms = 1;
	at.exploitation_forms = labour;
	h.message_id = (ProtobufCBinaryData){ 16, id };
	h.sender = k->id;
	h.n_recipients = 1;
	h.recipients = to;
	h.message_type = (char *)"keten.case.v1.CaseSignal";
	h.created_ms = now_ms();
	h.purpose = (char *)"investigation";
	h.attributes = &at;
	h.handling = KETEN__ENVELOPE__V1__HANDLING_LABEL__HANDLING_LABEL_TLP_AMBER;
	cp.recipient = to[0];
	cp.payload = (ProtobufCBinaryData){ sizeof(junk), junk };
	s.ref = 7;
	s.header = &h;
	s.n_copies = 1;
	s.copies = cps;
	sc.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT;
	sc.submit = &s;
	seal_and_sign(&s, junk, sizeof(junk));
	size_t len;
	uint8_t *packed = wire_pack(&sc.base, &len);
	send_bytes(packed, len / 2, 0);
	expect_error("truncated protobuf", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);

	/* the whole Submit, to a recipient that does not exist */
	send_bytes(packed, len, 0);
	expect_error("unknown recipient", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_RECIPIENT);
	free(packed);

	/* the same, with a signature that does not match (one byte of the copy changed) */
	junk[5] ^= 1;
	cts_flip(&s);
	send_cmd(&sc);
	expect_error("altered after signing", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_SIGNATURE);
	seal_and_sign(&s, junk, sizeof(junk));

	/* a header naming another sender than the authenticated one */
	h.sender = (char *)"politie";
	send_cmd(&sc);
	expect_error("header names another sender", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	h.sender = k->id;

	/* a signed envelope whose handling label is no TLP label */
	uuid7_new(id);
	h.handling = (Keten__Envelope__V1__HandlingLabel)99;
	seal_and_sign(&s, junk, sizeof(junk));
	send_cmd(&sc);
	expect_error("handling label out of range", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	h.handling = (Keten__Envelope__V1__HandlingLabel)-1;	/* negative: no agreed digest */
	seal_and_sign(&s, junk, sizeof(junk));
	send_cmd(&sc);
	expect_error("negative handling label", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	h.handling = KETEN__ENVELOPE__V1__HANDLING_LABEL__HANDLING_LABEL_TLP_AMBER;

	/* times and ids that are no message's */
	int64_t created = h.created_ms, bad_times[] = { 0, -1, INT64_MIN };
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		h.created_ms = bad_times[i];
		seal_and_sign(&s, junk, sizeof(junk));
		send_cmd(&sc);
		expect_error("created_ms out of range", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	}
	h.created_ms = INT64_MAX;
	seal_and_sign(&s, junk, sizeof(junk));
	send_cmd(&sc);
	expect_error("created_ms INT64_MAX", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK);
	h.created_ms = created;
	memset(id, 0, sizeof(id));
	seal_and_sign(&s, junk, sizeof(junk));
	send_cmd(&sc);
	expect_error("nil message id", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	randombytes_buf(id, sizeof(id));
	id[6] = 0x40 | (id[6] & 0x0f), id[8] = 0x80 | (id[8] & 0x3f);
	seal_and_sign(&s, junk, sizeof(junk));
	send_cmd(&sc);
	expect_error("v4 message id", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	uuid7_new(id);

	/* header strings and a pseudonym as big as the frame allows: refused,
	 * and what the ledger keeps of them is bounded (t_malformed measures) */
	{
		char *big = malloc(300000 + 1);
		uint8_t *pseudo = calloc(1, 100000);
		if (big == NULL || pseudo == NULL)
			exit(2);
		memset(big, 'p', 300000);
		big[300000] = '\0';
		char *purpose = h.purpose;
		h.purpose = big;
		seal_and_sign(&s, junk, sizeof(junk));
		send_cmd(&sc);
		expect_error("purpose of 300,000 bytes", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
		h.purpose = purpose;
		h.case_pseudonym = (ProtobufCBinaryData){ 100000, pseudo };
		seal_and_sign(&s, junk, sizeof(junk));
		send_cmd(&sc);
		expect_error("case pseudonym of 100,000 bytes", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
		h.case_pseudonym = (ProtobufCBinaryData){ 0, NULL };
		free(big);
		free(pseudo);
	}

	/* a DeliveryQuery and a DeliverAck with ids of the wrong length */
	{
		Keten__Wire__V1__DeliveryQuery dq = KETEN__WIRE__V1__DELIVERY_QUERY__INIT;
		Keten__Wire__V1__Command qc = KETEN__WIRE__V1__COMMAND__INIT;
		dq.message_id = (ProtobufCBinaryData){ 3, id };
		qc.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_QUERY;
		qc.delivery_query = &dq;
		send_case(&qc, "delivery-query with a 3-byte id", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	}
	broker_only_commands();
	extreme_times();
	source_refusals(&h);

	/* a manifest naming one path 20,000 times, signed: as big an entry as
	 * the sender likes, were it let through */
	if (forge_to != NULL) {
		char *fto[] = { (char *)forge_to }, **man = malloc(20000 * sizeof(*man));
		for (size_t i = 0; i < 20000; i++)
			man[i] = (char *)"reference";
		uuid7_new(id);
		h.recipients = fto;
		h.purpose = (char *)"victim-care";
		cp.recipient = fto[0];
		cp.n_manifest = 20000;
		cp.manifest = man;
		seal_and_sign(&s, junk, sizeof(junk));
		send_cmd(&sc);
		expect_error("manifest naming one path 20,000 times",
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
		free(man);
		h.recipients = to;
		h.purpose = (char *)"investigation";
		cp.recipient = to[0];
		cp.n_manifest = 0;
		cp.manifest = NULL;
	}

	/* a forged manifest: suspects' names for a municipality's care coordinator */
	if (forge_to != NULL) {
		char *fto[] = { (char *)forge_to }, *man[] = { (char *)"persons[suspect].given_name" };
		uuid7_new(id);
		h.recipients = fto;
		h.purpose = (char *)"victim-care";
		cp.recipient = fto[0];
		cp.n_manifest = 1;
		cp.manifest = man;
		seal_and_sign(&s, junk, sizeof(junk));
		send_cmd(&sc);
		Keten__Wire__V1__Command *fc = recv_reply(5000);
		if (fc == NULL || fc->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_ERROR ||
		    (fc->error->code != KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY &&
		    fc->error->code != KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED) ||
		    strstr(fc->error->reason, "persons[suspect].given_name") == NULL) {
			printf("FAIL forged manifest: not rejected by policy with the field named\n");
			failures++;
		} else {
			printf("ok   forged manifest: error %d \"%s\"\n", (int)fc->error->code,
			    fc->error->reason);
		}
		if (fc)
			keten__wire__v1__command__free_unpacked(fc, NULL);
		h.recipients = to;
		h.purpose = (char *)"investigation";
		cp.recipient = to[0];
		cp.n_manifest = 0;
	}

	/* a well-formed protobuf that holds no known command (field 99) */
	uint8_t unknown[] = { 0x98, 0x06, 0x01 };
	send_bytes(unknown, sizeof(unknown), 0);
	expect_error("unknown command", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_COMMAND);

	/* empty frame: a Command with nothing set */
	send_bytes("", 0, 0);
	expect_error("empty frame", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_COMMAND);

	/* two frames */
	send_bytes(unknown, sizeof(unknown), ZMQ_SNDMORE);
	send_bytes(unknown, sizeof(unknown), 0);
	expect_error("two frames", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);

	/* a command only the broker may send */
	Keten__Wire__V1__Deliver d = KETEN__WIRE__V1__DELIVER__INIT;
	Keten__Wire__V1__Command dc = KETEN__WIRE__V1__COMMAND__INIT;
	d.header = &h;
	dc.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER;
	dc.deliver = &d;
	send_cmd(&dc);
	expect_error("deliver sent to broker", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);

	/* oversize frame: above the broker's limit, below the transport cap */
	size_t big = maxb + 8192;
	uint8_t *huge = calloc(1, big);
	send_bytes(huge, big, 0);
	free(huge);
	expect_error("oversize frame", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_TOO_LARGE);

	/* a Hello claiming another agency */
	hello("someone-else");
	expect_error("hello as another agency", KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_PROTOCOL);

	/* still served */
	hello(k->id);
	c = recv_reply(5000);
	if (c == NULL || c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_HELLO) {
		printf("FAIL still served: no hello reply after the bad frames\n");
		failures++;
	} else {
		printf("ok   still served after bad frames\n");
	}
	if (c)
		keten__wire__v1__command__free_unpacked(c, NULL);
	/* content the broker cannot judge but the recipient must refuse */
	if (invalid_to != NULL) {
		char *rcpt[] = { (char *)invalid_to };
		uint8_t bad[] = { 0x0a, 0x05, 'x' };	/* field 1 claims 5 bytes, has 1 */
		uuid7_new(id);
		h.recipients = rcpt;
		cp.recipient = rcpt[0];
		s.ref = 8;
		seal_and_sign(&s, bad, sizeof(bad));	/* sealed properly: only om can see it is bad */
		send_cmd(&sc);
		c = recv_reply(5000);
		if (c == NULL || c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK) {
			printf("FAIL invalid content: broker did not accept it for delivery\n");
			failures++;
		} else {
			printf("ok   invalid content queued for %s (the broker cannot read it)\n",
			    invalid_to);
		}
		if (c)
			keten__wire__v1__command__free_unpacked(c, NULL);
		/* the same signed submission replayed in a new session: acknowledged
		 * as the one it is, never accepted twice (t_malformed counts) */
		hello(k->id);
		expect_hello("replay: a new session");
		send_cmd(&sc);
		c = recv_reply(5000);
		if (c == NULL || c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK) {
			printf("FAIL replay in a new session: not acknowledged as a duplicate\n");
			failures++;
		} else {
			printf("ok   replay in a new session: acknowledged (once in the ledger)\n");
		}
		if (c)
			keten__wire__v1__command__free_unpacked(c, NULL);
	}
	/* two commands of the oneof in one frame (a heartbeat's bytes, then a
	 * hello's): protobuf keeps the last, the first is freed */
	{
		Keten__Wire__V1__Heartbeat hb = KETEN__WIRE__V1__HEARTBEAT__INIT;
		Keten__Wire__V1__Hello hh = KETEN__WIRE__V1__HELLO__INIT;
		Keten__Wire__V1__Command c1 = KETEN__WIRE__V1__COMMAND__INIT, c2 = c1;
		uint8_t inst[16] = { 1 }, *b1, *b2, *both;
		size_t l1, l2;
		hb.instance = (ProtobufCBinaryData){ 16, inst };
		c1.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT, c1.heartbeat = &hb;
		hh.version = KETEN_PROTOCOL_VERSION;
		hh.agency = k->id;
		hh.instance = (ProtobufCBinaryData){ 16, inst };
		c2.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO, c2.hello = &hh;
		b1 = wire_pack(&c1.base, &l1);
		b2 = wire_pack(&c2.base, &l2);
		if (b1 != NULL && b2 != NULL && (both = malloc(l1 + l2)) != NULL) {
			memcpy(both, b1, l1);
			memcpy(both + l1, b2, l2);
			send_bytes(both, l1 + l2, 0);
			free(both);
			expect_hello("two commands in one frame (the last counts)");
		}
		free(b1);
		free(b2);
	}
out:
	zmq_close(sock);
	zmq_ctx_term(ctx);
	keys_free(&k);
	directory_free(&dir);
	return failures ? 1 : 0;
}
