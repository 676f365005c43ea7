/*
 * The broker's ledger as the policy's reply_to condition sees it: a request
 * counts only as an ACCEPTED entry of that id, type and direction, accepted
 * within the window.  A real LMDB environment in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "ledger/ledger.h"
#include "common/db.h"

static void
put(struct ledger *l, MDB_env *env, Keten__Ledger__V1__Kind kind, const uint8_t id[16],
    const char *type, const char *from, const char *to, int64_t t)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	MDB_txn *txn;

	e.kind = kind;
	e.time_ms = t;
	e.actor = (char *)from;
	e.message_id = (ProtobufCBinaryData){ 16, (uint8_t *)id };
	e.sender = (char *)from;
	e.recipient = (char *)to;
	e.message_type = (char *)type;
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(ledger_append(l, txn, &e), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
test_request_logged(void **state)
{
	char dir[] = "/tmp/keten-test-ledger-XXXXXX", err[KETEN_ERRLEN], path[64];
	uint8_t req[16], other[16], refused[16], next[16];
	struct ledger *l;
	MDB_env *env;
	MDB_txn *txn;
	const int64_t t = 1764000000000;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(db_env_open(dir, 16, 16, &env, err), 0);
	assert_int_equal(ledger_open(env, "test/ledger", &l, err), 0);
	randombytes_buf(req, 16);
	randombytes_buf(other, 16);
	randombytes_buf(refused, 16);
	memcpy(next, req, 16);
	next[15] ^= 1;	/* an id that sorts right beside req in the index */
	/* the request: gemeente to politie, logged once per copy (two recipients) */
	put(l, env, KETEN__LEDGER__V1__KIND__KIND_ACCEPTED, req, "InformationRequest",
	    "gemeente-amsterdam", "nla", t);
	put(l, env, KETEN__LEDGER__V1__KIND__KIND_ACCEPTED, req, "InformationRequest",
	    "gemeente-amsterdam", "politie", t);
	put(l, env, KETEN__LEDGER__V1__KIND__KIND_DELIVERED, req, "InformationRequest",
	    "gemeente-amsterdam", "politie", t + 5);
	put(l, env, KETEN__LEDGER__V1__KIND__KIND_ACCEPTED, next, "InformationRequest",
	    "gemeente-rotterdam", "politie", t);
	put(l, env, KETEN__LEDGER__V1__KIND__KIND_REJECTED, refused, "InformationRequest",
	    "gemeente-amsterdam", "politie", t);

	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(ledger_request_logged(l, txn, req, "InformationRequest",
	    "gemeente-amsterdam", "politie", t - 1000), 1);
	assert_int_equal(ledger_request_logged(l, txn, req, "InformationRequest",
	    "gemeente-amsterdam", "nla", t), 1);
	/* the other direction, another type, another recipient, outside the window */
	assert_int_equal(ledger_request_logged(l, txn, req, "InformationRequest",
	    "politie", "gemeente-amsterdam", t - 1000), 0);
	assert_int_equal(ledger_request_logged(l, txn, req, "CaseSignal",
	    "gemeente-amsterdam", "politie", t - 1000), 0);
	assert_int_equal(ledger_request_logged(l, txn, req, "InformationRequest",
	    "gemeente-amsterdam", "om", t - 1000), 0);
	assert_int_equal(ledger_request_logged(l, txn, req, "InformationRequest",
	    "gemeente-amsterdam", "politie", t + 1), 0);
	/* a neighbouring id's entry does not count for req, nor req's for it */
	assert_int_equal(ledger_request_logged(l, txn, next, "InformationRequest",
	    "gemeente-amsterdam", "politie", t - 1000), 0);
	/* a refused request, and an id never logged */
	assert_int_equal(ledger_request_logged(l, txn, refused, "InformationRequest",
	    "gemeente-amsterdam", "politie", t - 1000), 0);
	assert_int_equal(ledger_request_logged(l, txn, other, "InformationRequest",
	    "gemeente-amsterdam", "politie", t - 1000), 0);
	mdb_txn_abort(txn);

	ledger_free(&l);
	mdb_env_close(env);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_logged),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
