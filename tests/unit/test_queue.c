/*
 * The broker's durable delivery queue (broker/queue.c) in a real LMDB
 * environment, with real submissions (tests/unit/msgutil.h): one entry per
 * copy, in order per recipient; acknowledged entries leave, a repeated
 * acknowledgement finds nothing; the duplicate filter knows the id and its
 * sender; what survives a close and reopen; retention expiry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/queue.h"
#include "common/db.h"
#include "tests/unit/msgutil.h"

static char dir[] = "/tmp/keten-test-queue-XXXXXX";
static MDB_env *env;

static int
setup(void **state)
{
	char err[KETEN_ERRLEN];

	(void)state;
	if (mu_setup() != 0 || mkdtemp(dir) == NULL || db_env_open(dir, 16, 16, &env, err) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[64];

	(void)state;
	mdb_env_close(env);
	mu_teardown();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

struct seen {
	uint64_t seqs[16];
	size_t n;
};

static int
collect(void *arg, uint64_t seq, const void *frame, size_t len)
{
	struct seen *s = arg;
	Keten__Wire__V1__Command *c = keten__wire__v1__command__unpack(NULL, len, frame);

	assert_non_null(c);
	assert_int_equal(c->cmd_case, KETEN__WIRE__V1__COMMAND__CMD_DELIVER);
	keten__wire__v1__command__free_unpacked(c, NULL);
	s->seqs[s->n++] = seq;
	return s->n == 16;
}

static struct seen
scan(struct queue *q, const char *recipient, uint64_t after)
{
	struct seen s = { .n = 0 };
	bool exhausted;
	MDB_txn *txn;

	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(queue_scan(q, txn, recipient, after, collect, &s, &exhausted), 0);
	mdb_txn_abort(txn);
	return s;
}

/* Accept ob (two copies: om and politie) in its own commit. */
static void
accept(struct queue *q, const struct outbound *ob, int64_t expires)
{
	uint8_t dig[ENV_MAX_COPIES][32];
	int64_t exp[ENV_MAX_COPIES];
	MDB_txn *txn;

	for (size_t i = 0; i < ob->submit.n_copies; i++) {
		envelope_copy_digest(dig[i], ob->submit.copies[i]);
		exp[i] = expires;
	}
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(queue_submit(q, txn, &ob->submit, (const uint8_t (*)[32])dig, exp,
	    ob->submit.header->created_ms), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
expired_one(void *arg, const char *recipient, const uint8_t id[static 16], int64_t expires)
{
	int *n = arg;

	(void)recipient, (void)id, (void)expires;
	(*n)++;
}

static void
test_queue(void **state)
{
	struct queue *q = NULL;
	struct outbound *ob[3];
	char err[KETEN_ERRLEN];
	MDB_txn *txn;
	bool dup;
	uint64_t n;

	(void)state;
	assert_int_equal(queue_open(env, &q, err), 0);
	for (int i = 0; i < 3; i++) {
		ob[i] = mu_prepare("nla", "politie", "om", "CaseSignal", "investigation",
		    "demo/messages/nla_signal.json");
		assert_non_null(ob[i]);
		accept(q, ob[i], i == 2 ? ob[i]->submit.header->created_ms + 1000 : 0);
	}
	/* per recipient, in order */
	struct seen s = scan(q, "om", 0);
	assert_int_equal(s.n, 3);
	assert_true(s.seqs[0] < s.seqs[1] && s.seqs[1] < s.seqs[2]);
	assert_int_equal(scan(q, "politie", 0).n, 3);
	assert_int_equal(scan(q, "om", s.seqs[0]).n, 2);
	assert_int_equal(scan(q, "gemeente-amsterdam", 0).n, 0);
	/* the duplicate filter: known from nla, refused from anyone else */
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(queue_seen(q, txn, ob[1]->submit.header->message_id.data, "nla", &dup), 0);
	assert_true(dup);
	assert_int_equal(queue_seen(q, txn, ob[1]->submit.header->message_id.data, "politie", &dup),
	    KETEN_EEXIST);
	assert_int_equal(queue_count(q, txn, "om", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(queue_depth(q, txn), 6);
	mdb_txn_abort(txn);
	/* om acknowledges the first: gone; again: not found; with another id: kept */
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(queue_ack(q, txn, "om", s.seqs[0], ob[0]->submit.header->message_id.data), 0);
	assert_int_equal(queue_ack(q, txn, "om", s.seqs[0], ob[0]->submit.header->message_id.data),
	    KETEN_ENOTFOUND);
	assert_int_not_equal(queue_ack(q, txn, "om", s.seqs[1], ob[0]->submit.header->message_id.data),
	    0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(scan(q, "om", 0).n, 2);
	/* a close and reopen keeps it all */
	queue_free(&q);
	assert_null(q);
	assert_int_equal(queue_open(env, &q, err), 0);
	assert_int_equal(scan(q, "om", 0).n, 2);
	assert_int_equal(scan(q, "politie", 0).n, 3);
	/* the third's retention ends: both its copies expire, the others stay */
	int expired = 0;
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(queue_expire(q, txn, ob[2]->submit.header->created_ms + 2000, 100,
	    expired_one, &expired), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(expired, 2);
	assert_int_equal(scan(q, "om", 0).n, 1);
	assert_int_equal(scan(q, "politie", 0).n, 2);
	for (int i = 0; i < 3; i++)
		outbound_free(&ob[i]);
	queue_free(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
