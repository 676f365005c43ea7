/*
 * The agent's outbox (agent/store.c) in a real LMDB environment: a
 * submission and a refusal at the source under their refs, told apart from
 * what was stored (the agent does not take the broker's word for which an
 * acknowledgement answers), and gone once done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/store.h"
#include "common/db.h"
#include "tests/unit/msgutil.h"

static char dir[] = "/tmp/keten-test-store-XXXXXX";
static MDB_env *env;
static struct store *st;

static int
setup(void **state)
{
	char err[KETEN_ERRLEN];

	(void)state;
	if (mu_setup() != 0 || mkdtemp(dir) == NULL || db_env_open(dir, 16, 16, &env, err) != 0 ||
	    store_open(env, &st, err) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[64];

	(void)state;
	store_free(&st);
	mdb_env_close(env);
	mu_teardown();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void
test_submission_and_refusal(void **state)
{
	struct outbound *ob = mu_prepare("nla", "gemeente-amsterdam", NULL, "CaseSignal",
	    "victim-care", "demo/messages/nla_signal.json");
	Keten__Local__V1__LocalSubmit ls = KETEN__LOCAL__V1__LOCAL_SUBMIT__INIT;
	Keten__Wire__V1__SourceRefusal sr;
	MDB_txn *txn;
	bool refusal = true;

	(void)state;
	assert_non_null(ob);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(store_outbox_add(st, txn, &ob->submit, &ls), 0);
	uint64_t sref = ob->submit.ref;
	outbound_refusal(ob, 0, &sr);
	assert_int_equal(store_outbox_put_refusal(st, txn, &sr, true), 0);
	assert_int_not_equal(sr.ref, sref);
	assert_int_equal(store_outbox_is_refusal(st, txn, sref, &refusal), 0);
	assert_false(refusal);
	assert_int_equal(store_outbox_is_refusal(st, txn, sr.ref, &refusal), 0);
	assert_true(refusal);
	assert_int_equal(store_outbox_is_refusal(st, txn, sr.ref + 1, &refusal), KETEN_ENOTFOUND);
	assert_int_equal(store_outbox_done(st, txn, sr.ref, ob->id, SENT_REJECTED, "refused"), 0);
	assert_int_equal(store_outbox_is_refusal(st, txn, sr.ref, &refusal), KETEN_ENOTFOUND);
	assert_int_equal(mdb_txn_commit(txn), 0);
	outbound_free(&ob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_submission_and_refusal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
