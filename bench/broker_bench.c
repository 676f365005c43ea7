/*
 * Broker saturation (bench/broker_path.sh): pre-sealed, pre-signed ~1 KiB
 * CaseSignal envelopes from several CURVE clients, each authenticated as a
 * directory agency, through keten-broker to three recipient sinks that Hello,
 * take each Deliver and answer DeliverAck (as agent/agent.c does, without
 * opening the copy).  The same driver runs the raw libzmq ceiling: a CURVE
 * ROUTER that acknowledges each request and forwards it to one of three
 * sinks, no disk.
 *
 * A run at INFLIGHT keeps that many submissions outstanding over all the
 * clients together.  Throughput counts a message when its sender has the
 * acknowledgement and its recipient has it; latency is submit -> SubmitAck.
 * Prints per in-flight level the medians over ROUNDS:
 *   RESULT <system> <inflight> <msgs_per_s> <p50_ms> <p99_ms>
 *
 * usage: broker_bench keten EP SERVER_KEY KEYDIR DIRECTORY SENDERS SINKS COUNT INFLIGHTS ROUNDS
 *        broker_bench zmq DIR COUNT INFLIGHTS ROUNDS
 *        broker_bench connect EP SERVER_KEY KEYDIR AGENCIES
 * SENDERS, SINKS, AGENCIES and INFLIGHTS are comma-separated; COUNT is the
 * number of messages at 100 in flight and above (a tenth of it at 1).
 * `connect` keeps one Hello'd connection per agency open, prints
 * "connected N" and holds them until its standard input closes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench/bench.h"
#include "common/directory.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "common/util.h"
#include "common/wire.h"
#include "schemas/case_types.pb-c.h"

#define MAXPEERS 128
#define PAYLOAD 900	/* sealed content; the packed Submit comes to about 1.1 KiB */

static void *ctx;
static int raw;			/* the raw libzmq ceiling instead of keten */
static void *clients[MAXPEERS];
static size_t nclients;
static struct keten_keys *sinkkeys[MAXPEERS];
static size_t nsinks;
static atomic_long delivered;
static atomic_int sinks_ready, stop_sinks;
static const char *raw_front, *raw_back;

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "broker_bench: %s%s\n", what, detail);
	exit(1);
}

static char **
split(const char *s, size_t *n)
{
	char *d = strdup(s), *save = NULL, **v = calloc(MAXPEERS, sizeof(*v));
	*n = 0;
	for (char *t = strtok_r(d, ",", &save); t && *n < MAXPEERS; t = strtok_r(NULL, ",", &save))
		v[(*n)++] = t;
	return v;
}

static struct keten_keys *
load_keys(const char *dir, const char *agency)
{
	char path[4096], err[KETEN_ERRLEN];
	struct keten_keys *k;

	snprintf(path, sizeof(path), "%s/%s.secret", dir, agency);
	if (keys_load(path, &k, err) != 0)
		fail("", err);
	return k;
}

static void *
curve_dealer(const uint8_t spk[32], const uint8_t pk[32], const uint8_t sk[32], const char *ep,
    const char *rid)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0, hwm = 100000;

	if (rid != NULL)
		zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, strlen(rid));

	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, spk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sk, 32);
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if (zmq_connect(s, ep) != 0)
		fail("cannot connect to ", ep);
	return s;
}

static Keten__Wire__V1__Command *
recv_cmd(void *s, int flags)
{
	zmq_msg_t m;
	Keten__Wire__V1__Command *c;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, s, flags) < 0) {
		zmq_msg_close(&m);
		return NULL;
	}
	c = keten__wire__v1__command__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
	zmq_msg_close(&m);
	return c;
}

/* Hello as this agency and wait for the broker's Hello (10 s). */
static void
hello(void *s, const char *agency)
{
	Keten__Wire__V1__Hello h = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t inst[16];

	randombytes_buf(inst, sizeof(inst));
	h.version = KETEN_PROTOCOL_VERSION;
	h.agency = (char *)agency;
	h.instance = (ProtobufCBinaryData){ 16, inst };
	h.software = (char *)"broker_bench";
	h.time_ms = now_ms();
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &h;
	wire_send(s, NULL, 0, &c, 0);
	for (;;) {
		zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
		if (zmq_poll(&it, 1, 10000) <= 0)
			fail("no Hello from the broker for ", agency);
		Keten__Wire__V1__Command *r = recv_cmd(s, 0);
		int done = r && r->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_HELLO;
		if (r && r->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_ERROR)
			fail("broker refused Hello: ", r->error->reason);
		if (r)
			keten__wire__v1__command__free_unpacked(r, NULL);
		if (done)
			return;
	}
}

/* --- sinks ------------------------------------------------------------ */

static const uint8_t *sink_spk;
static const char *sink_ep;

static void *
sink_thread(void *arg)
{
	void *s[MAXPEERS];
	zmq_pollitem_t it[MAXPEERS];

	for (size_t i = 0; i < nsinks; i++) {
		if (raw) {
			uint8_t pk[32], sk[32];
			char id[24];
			crypto_box_keypair(pk, sk);
			snprintf(id, sizeof(id), "s%zu", i);
			s[i] = curve_dealer(sink_spk, pk, sk, raw_back, id);
			zmq_send(s[i], "ready", 5, 0);
		} else {
			s[i] = curve_dealer(sink_spk, sinkkeys[i]->tx_pk, sinkkeys[i]->tx_sk, sink_ep, NULL);
			hello(s[i], sinkkeys[i]->id);
		}
		it[i] = (zmq_pollitem_t){ s[i], 0, ZMQ_POLLIN, 0 };
	}
	atomic_store(&sinks_ready, 1);
	while (!atomic_load(&stop_sinks)) {
		if (zmq_poll(it, (int)nsinks, 100) <= 0)
			continue;
		for (size_t i = 0; i < nsinks; i++) {
			if (!(it[i].revents & ZMQ_POLLIN))
				continue;
			for (;;) {
				if (raw) {
					zmq_msg_t m;
					zmq_msg_init(&m);
					if (zmq_msg_recv(&m, s[i], ZMQ_DONTWAIT) < 0) {
						zmq_msg_close(&m);
						break;
					}
					zmq_send(s[i], zmq_msg_data(&m), 8, 0);
					zmq_msg_close(&m);
					atomic_fetch_add(&delivered, 1);
					continue;
				}
				Keten__Wire__V1__Command *c = recv_cmd(s[i], ZMQ_DONTWAIT);
				if (c == NULL)
					break;
				if (c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_DELIVER) {
					Keten__Wire__V1__DeliverAck a = KETEN__WIRE__V1__DELIVER_ACK__INIT;
					Keten__Wire__V1__Command o = KETEN__WIRE__V1__COMMAND__INIT;
					a.message_id = c->deliver->header->message_id;
					a.seq = c->deliver->seq;
					o.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK;
					o.deliver_ack = &a;
					wire_send(s[i], NULL, 0, &o, 0);
					atomic_fetch_add(&delivered, 1);
				}
				keten__wire__v1__command__free_unpacked(c, NULL);
			}
		}
	}
	for (size_t i = 0; i < nsinks; i++)
		zmq_close(s[i]);
	return arg;
}

/* --- the raw libzmq ceiling: acknowledge, forward to a sink ------------- */

static uint8_t raw_spk[32], raw_ssk[32];

static void *
raw_server(void *arg)
{
	void *f = zmq_socket(ctx, ZMQ_ROUTER), *b = zmq_socket(ctx, ZMQ_ROUTER);
	int one = 1, hwm = 100000;
	size_t next = 0;

	for (int i = 0; i < 2; i++) {
		void *s = i ? b : f;
		zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof(one));
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, raw_ssk, 32);
		zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
		zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
		if (zmq_bind(s, i ? raw_back : raw_front) != 0)
			fail("cannot bind ", i ? raw_back : raw_front);
	}
	zmq_pollitem_t it[2] = { { f, 0, ZMQ_POLLIN, 0 }, { b, 0, ZMQ_POLLIN, 0 } };
	while (!atomic_load(&stop_sinks)) {
		if (zmq_poll(it, 2, 100) <= 0)
			continue;
		zmq_msg_t id, body;
		while (it[0].revents & ZMQ_POLLIN) {
			zmq_msg_init(&id);
			zmq_msg_init(&body);
			if (zmq_msg_recv(&id, f, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&id);
				zmq_msg_close(&body);
				break;
			}
			zmq_msg_recv(&body, f, 0);
			char sink[24];
			snprintf(sink, sizeof(sink), "s%zu", next++ % nsinks);
			zmq_msg_t fw;
			zmq_msg_init(&fw);
			zmq_msg_copy(&fw, &body);
			zmq_send(b, sink, strlen(sink), ZMQ_SNDMORE);
			zmq_msg_send(&fw, b, 0);
			zmq_msg_send(&id, f, ZMQ_SNDMORE);
			zmq_send(f, zmq_msg_data(&body), 8, 0);
			zmq_msg_close(&body);
		}
		while (it[1].revents & ZMQ_POLLIN) {	/* sinks' acks and "ready": dropped */
			int more = 1;
			size_t ml = sizeof(more);
			zmq_msg_init(&body);
			if (zmq_msg_recv(&body, b, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&body);
				break;
			}
			for (;;) {
				zmq_getsockopt(b, ZMQ_RCVMORE, &more, &ml);
				if (!more)
					break;
				zmq_msg_recv(&body, b, 0);
			}
			zmq_msg_close(&body);
		}
	}
	zmq_close(f);
	zmq_close(b);
	return arg;
}

/* --- messages ---------------------------------------------------------- */

struct msg {
	uint8_t *buf;
	size_t len;
	size_t client;
};

static struct keten_keys *senders[MAXPEERS];
static struct directory *dir;
static char **sink_ids;

/* A valid Submit, sealed for its recipient and signed by its sender, packed. */
static void
make_keten(struct msg *m, uint64_t ref, size_t si, size_t ri)
{
	static uint8_t content[PAYLOAD];
	Keten__Wire__V1__Submit s = KETEN__WIRE__V1__SUBMIT__INIT;
	Keten__Wire__V1__Command sc = KETEN__WIRE__V1__COMMAND__INIT;
	Keten__Envelope__V1__Header h = KETEN__ENVELOPE__V1__HEADER__INIT;
	Keten__Envelope__V1__Attributes at = KETEN__ENVELOPE__V1__ATTRIBUTES__INIT;
	Keten__Wire__V1__Copy cp = KETEN__WIRE__V1__COPY__INIT, *cps[] = { &cp };
	Keten__Case__V1__ExploitationForm labour[] = { KETEN__CASE__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR };
	char *man[] = { (char *)"reference", (char *)"observed_on", (char *)"exploitation_forms",
	    (char *)"indicators" };
	const struct keten_keys *k = senders[si];
	const struct dir_agency *a = directory_find(dir, sink_ids[ri]);
	uint8_t id[16], pseud[32], eph_pk[32], eph_sk[32], hd[32], cd[32], d[32], sig[64], nonce[24];
	char *to[] = { sink_ids[ri] };

	if (a == NULL)
		fail("not in the directory: sink ", sink_ids[ri]);
	randombytes_buf(content, sizeof(content));
	randombytes_buf(pseud, sizeof(pseud));
	uuid7_new(id);
	at.n_exploitation_forms = 1;
	at.exploitation_forms = labour;
	h.message_id = (ProtobufCBinaryData){ 16, id };
	h.case_pseudonym = (ProtobufCBinaryData){ 32, pseud };
	h.sender = (char *)k->id;
	h.n_recipients = 1;
	h.recipients = to;
	h.message_type = (char *)"keten.case.v1.CaseSignal";
	h.purpose = (char *)"victim-care";
	/* stm.yaml: police and nla may signal municipalities for victim care */
	h.legal_basis = (char *)(strcmp(k->id, "nla") == 0 ? "avg-6-1-c-arbo" : "wpg-art-19");
	h.attributes = &at;
	h.handling = KETEN__ENVELOPE__V1__HANDLING_LABEL__HANDLING_LABEL_TLP_AMBER;
	h.created_ms = now_ms();
	cp.recipient = to[0];
	cp.n_manifest = 4;
	cp.manifest = man;
	s.ref = ref;
	s.header = &h;
	s.n_copies = 1;
	s.copies = cps;
	crypto_box_keypair(eph_pk, eph_sk);
	envelope_header_digest(hd, &h);
	randombytes_buf(nonce, sizeof(nonce));
	if (envelope_seal(&cp, hd, eph_sk, eph_pk, a->enc_pk, nonce, content, sizeof(content)) != 0)
		fail("cannot seal for ", sink_ids[ri]);
	envelope_copy_digest(cd, &cp);
	envelope_digest(d, hd, eph_pk, (const uint8_t (*)[32])cd, 1);
	envelope_sign(sig, d, k->sign_sk);
	s.ephemeral_key = (ProtobufCBinaryData){ 32, eph_pk };
	s.signature = (ProtobufCBinaryData){ 64, sig };
	sc.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT;
	sc.submit = &s;
	m->buf = wire_pack(&sc.base, &m->len);
	free(cp.payload.data);
	free(cp.nonce.data);
	sodium_memzero(eph_sk, sizeof(eph_sk));
}

/* The raw ceiling's request: the ref and padding to the size of keten's. */
static void
make_raw(struct msg *m, uint64_t ref, size_t len)
{
	m->len = len;
	m->buf = calloc(1, len);
	memcpy(m->buf, &ref, 8);
}

/* The ref a reply acknowledges, or -1 (not an acknowledgement). */
static long
reply_ref(void *s, int *err)
{
	if (raw) {
		uint64_t ref;
		if (zmq_recv(s, &ref, 8, ZMQ_DONTWAIT) != 8)
			return -2;
		return (long)ref;
	}
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return -2;
	}
	Keten__Wire__V1__Command *c = keten__wire__v1__command__unpack(NULL, zmq_msg_size(&m),
	    zmq_msg_data(&m));
	zmq_msg_close(&m);
	long ref = -1;
	if (c && c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK) {
		ref = (long)c->submit_ack->ref;
	} else if (c && c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_ERROR) {
		fprintf(stderr, "broker_bench: error %d: %s\n", (int)c->error->code, c->error->reason);
		*err = 1;
	}
	if (c)
		keten__wire__v1__command__free_unpacked(c, NULL);
	return ref;
}

static double
pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp);
	size_t i = (size_t)(p * (double)n);
	return v[i >= n ? n - 1 : i];
}

/* One round: COUNT messages, INFLIGHT outstanding.  Fills tput, p50, p99 (ms). */
static void
round_run(long count, long inflight, size_t raw_len, double *tput, double *p50, double *p99)
{
	struct msg *m = calloc((size_t)count, sizeof(*m));
	double *sent_at = calloc((size_t)count, sizeof(double)), *lat = calloc((size_t)count, sizeof(double));
	zmq_pollitem_t it[MAXPEERS];
	long sent = 0, acked = 0, base = atomic_load(&delivered);
	int err = 0;

	for (long i = 0; i < count; i++) {	/* sealed and signed before the clock starts */
		m[i].client = (size_t)i % nclients;
		if (raw)
			make_raw(&m[i], (uint64_t)i, raw_len);
		else
			make_keten(&m[i], (uint64_t)i, m[i].client, ((size_t)i / nclients) % nsinks);
	}
	for (size_t i = 0; i < nclients; i++)
		it[i] = (zmq_pollitem_t){ clients[i], 0, ZMQ_POLLIN, 0 };
	double t0 = now(), tacks = 0;
	while (acked < count) {
		while (sent < count && sent - acked < inflight) {
			sent_at[sent] = now();
			if (zmq_send(clients[m[sent].client], m[sent].buf, m[sent].len, 0) < 0)
				fail("send failed: ", zmq_strerror(zmq_errno()));
			sent++;
		}
		int n = zmq_poll(it, (int)nclients, 30000);
		if (n <= 0)
			fail("no acknowledgement for 30 s", "");
		for (size_t i = 0; i < nclients; i++) {
			if (!(it[i].revents & ZMQ_POLLIN))
				continue;
			long ref;
			while ((ref = reply_ref(clients[i], &err)) != -2) {
				if (err)
					exit(1);
				if (ref < 0 || ref >= count || lat[ref] != 0)
					continue;
				lat[ref] = now() - sent_at[ref];
				if (lat[ref] == 0)
					lat[ref] = 1e-9;
				acked++;
			}
		}
	}
	tacks = now();
	while (atomic_load(&delivered) - base < count) {
		if (now() - tacks > 60)
			fail("not every message delivered within 60 s", "");
		usleep(200);
	}
	double t1 = now();
	*tput = (double)count / (t1 - t0);
	*p50 = 1000 * pct(lat, (size_t)count, 0.50);
	*p99 = 1000 * pct(lat, (size_t)count, 0.99);
	for (long i = 0; i < count; i++)
		free(m[i].buf);
	free(m);
	free(sent_at);
	free(lat);
}

static void
run_levels(const char *system, long count, const char *levels, int rounds, size_t raw_len)
{
	size_t nl;
	char **lv = split(levels, &nl);

	for (size_t l = 0; l < nl; l++) {
		long w = atol(lv[l]), c = w < 100 ? count / 10 : count;
		double t[16], a[16], b[16];
		int r = rounds > 16 ? 16 : rounds;
		for (int i = 0; i < r; i++) {
			round_run(c, w, raw_len, &t[i], &a[i], &b[i]);
			fprintf(stderr, "  %s inflight=%ld round %d: %.0f msg/s p50 %.3f ms p99 %.3f ms\n",
			    system, w, i + 1, t[i], a[i], b[i]);
		}
		qsort(t, (size_t)r, sizeof(double), cmp);
		qsort(a, (size_t)r, sizeof(double), cmp);
		qsort(b, (size_t)r, sizeof(double), cmp);
		printf("RESULT %s %ld %.0f %.3f %.3f\n", system, w, t[r / 2], a[r / 2], b[r / 2]);
		fflush(stdout);
	}
}

int
main(int argc, char **argv)
{
	uint8_t spk[32];
	char err[KETEN_ERRLEN];
	pthread_t st, rt;

	if (sodium_init() < 0)
		return 1;
	ctx = zmq_ctx_new();
	if (argc == 6 && strcmp(argv[1], "zmq") == 0) {
		static char f[4096], b[4096];
		raw = 1;
		snprintf(f, sizeof(f), "ipc://%s/raw-front.sock", argv[2]);
		snprintf(b, sizeof(b), "ipc://%s/raw-back.sock", argv[2]);
		raw_front = f;
		raw_back = b;
		crypto_box_keypair(raw_spk, raw_ssk);
		nsinks = 3;
		nclients = 3;
		sink_spk = raw_spk;
		pthread_create(&rt, NULL, raw_server, NULL);
		usleep(100000);
		for (size_t i = 0; i < nclients; i++) {
			uint8_t pk[32], sk[32];
			crypto_box_keypair(pk, sk);
			clients[i] = curve_dealer(raw_spk, pk, sk, raw_front, NULL);
		}
		pthread_create(&st, NULL, sink_thread, NULL);
		while (!atomic_load(&sinks_ready))
			usleep(1000);
		usleep(500000);	/* the sinks' handshakes: the ROUTER drops what it cannot route */
		/* warm-up: every connection's handshake before the clock */
		double x, y, z;
		round_run(30, 1, 1100, &x, &y, &z);
		run_levels("raw-libzmq", atol(argv[3]), argv[4], atoi(argv[5]), 1100);
	} else if (argc == 11 && strcmp(argv[1], "keten") == 0) {
		size_t ns, nk;
		char **snd = split(argv[6], &ns);
		sink_ids = split(argv[7], &nk);
		if (key_z85_decode(spk, argv[3]) != 0)
			fail("bad server key ", argv[3]);
		if (directory_load(argv[5], &dir, err) != 0)
			fail("", err);
		nsinks = nk;
		for (size_t i = 0; i < nk; i++)
			sinkkeys[i] = load_keys(argv[4], sink_ids[i]);
		sink_spk = spk;
		sink_ep = argv[2];
		pthread_create(&st, NULL, sink_thread, NULL);
		while (!atomic_load(&sinks_ready))
			usleep(1000);
		nclients = ns;
		for (size_t i = 0; i < ns; i++) {
			senders[i] = load_keys(argv[4], snd[i]);
			clients[i] = curve_dealer(spk, senders[i]->tx_pk, senders[i]->tx_sk, argv[2], NULL);
			hello(clients[i], senders[i]->id);
		}
		double x, y, z;
		round_run(30, 1, 0, &x, &y, &z);
		run_levels("keten", atol(argv[8]), argv[9], atoi(argv[10]), 0);
	} else if (argc == 6 && strcmp(argv[1], "connect") == 0) {
		size_t na;
		char **ag = split(argv[5], &na);
		if (key_z85_decode(spk, argv[3]) != 0)
			fail("bad server key ", argv[3]);
		for (size_t i = 0; i < na; i++) {
			struct keten_keys *k = load_keys(argv[4], ag[i]);
			clients[i] = curve_dealer(spk, k->tx_pk, k->tx_sk, argv[2], NULL);
			hello(clients[i], k->id);
			keys_free(&k);
		}
		printf("connected %zu\n", na);
		fflush(stdout);
		char c;
		while (read(0, &c, 1) > 0)
			;
		for (size_t i = 0; i < na; i++)
			zmq_close(clients[i]);
		zmq_ctx_term(ctx);
		return 0;
	} else {
		fprintf(stderr, "usage: broker_bench keten EP SERVER_KEY KEYDIR DIRECTORY SENDERS SINKS "
		    "COUNT INFLIGHTS ROUNDS\n       broker_bench zmq DIR COUNT INFLIGHTS ROUNDS\n"
		    "       broker_bench connect EP SERVER_KEY KEYDIR AGENCIES\n");
		return 2;
	}
	atomic_store(&stop_sinks, 1);
	pthread_join(st, NULL);
	if (raw)
		pthread_join(rt, NULL);
	for (size_t i = 0; i < nclients; i++)
		zmq_close(clients[i]);
	zmq_ctx_term(ctx);
	return 0;
}
