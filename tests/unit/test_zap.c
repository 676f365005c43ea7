/*
 * The broker's ZAP handler (broker/zap.c) answering RFC 27 requests over
 * ZeroMQ's inproc transport, as libzmq itself asks them: a listed key is
 * admitted as its agency (the user id), an unknown, revoked or expired key
 * is refused and reported, and a key handshaking in a loop is refused once
 * over its rate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "broker/zap.h"
#include "common/util.h"
#include "tests/fuzz/fuzzkeys.h"

static void *zctx, *zap, *req;
static struct directory *dir;
static int refusals;
static char last_why[256];

static void
on_refused(void *arg, const char *key, const char *addr, const char *why)
{
	(void)arg, (void)key, (void)addr;
	refusals++;
	snprintf(last_why, sizeof(last_why), "%s", why);
}

/* One ZAP request for key; the status code in status, the user id in user. */
static void
ask(const uint8_t key[32], char status[8], char user[64])
{
	const char *frames[] = { "1.0", "1", "keten", "192.0.2.1", "", "CURVE" };
	zmq_msg_t m;
	int more = 1, i = 0;

	for (size_t k = 0; k < 6; k++)
		assert_true(zmq_send(req, frames[k], strlen(frames[k]), ZMQ_SNDMORE) >= 0);
	assert_int_equal(zmq_send(req, key, 32, 0), 32);
	assert_true(zap_serve(zap, dir, on_refused, NULL) >= 1);
	status[0] = user[0] = '\0';
	while (more) {
		size_t ml = sizeof(more);
		zmq_msg_init(&m);
		assert_true(zmq_msg_recv(&m, req, 0) >= 0);
		if (i == 2)
			snprintf(status, 8, "%.*s", (int)zmq_msg_size(&m), (char *)zmq_msg_data(&m));
		if (i == 4)
			snprintf(user, 64, "%.*s", (int)zmq_msg_size(&m), (char *)zmq_msg_data(&m));
		zmq_msg_close(&m);
		zmq_getsockopt(req, ZMQ_RCVMORE, &more, &ml);
		i++;
	}
}

static void
test_zap(void **state)
{
	struct keten_keys k;
	uint8_t stranger[32];
	char status[8], user[64];

	(void)state;
	fuzzkeys("nla", &k);
	ask(k.tx_pk, status, user);
	assert_string_equal(status, "200");
	assert_string_equal(user, "nla");
	/* a key nobody listed */
	randombytes_buf(stranger, sizeof(stranger));
	ask(stranger, status, user);
	assert_string_equal(status, "400");
	assert_int_equal(refusals, 1);
	/* revoked, and outside its validity window */
	struct dir_agency *om = (struct dir_agency *)directory_find(dir, "om");
	fuzzkeys("om", &k);
	om->revoked = true;
	ask(k.tx_pk, status, user);
	assert_string_equal(status, "400");
	assert_non_null(strstr(last_why, "revoked"));
	om->revoked = false;
	om->valid_until_ms = now_ms() - 1000;
	ask(k.tx_pk, status, user);
	assert_string_equal(status, "400");
	om->valid_until_ms = 0;
	ask(k.tx_pk, status, user);
	assert_string_equal(status, "200");
	assert_string_equal(user, "om");
	/* a key handshaking in a loop: refused once past the burst */
	fuzzkeys("politie", &k);
	int admitted = 0;
	for (int i = 0; i < 2 * (int)ZAP_BURST; i++) {
		ask(k.tx_pk, status, user);
		admitted += strcmp(status, "200") == 0;
	}
	assert_true(admitted >= (int)ZAP_BURST - 1 && admitted < 2 * (int)ZAP_BURST);
}

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0 || (dir = fuzz_directory()) == NULL)
		return -1;	/* run from the repository root */
	zctx = zmq_ctx_new();
	if ((zap = zap_open(zctx)) == NULL || (req = zmq_socket(zctx, ZMQ_REQ)) == NULL ||
	    zmq_connect(req, ZAP_ENDPOINT) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	int zero = 0;

	(void)state;
	zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_close(req);
	zmq_close(zap);
	zmq_ctx_term(zctx);
	directory_free(&dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
