/*
 * Ledger receipts as agents check them (agent/receipt.c): made by the
 * broker's ledger writer (ledger/ledger.c ledger_receipt) in a real LMDB
 * environment.  A sender's receipt proves the acceptance of its message; an
 * activation's receipt proves what was put in force.  Another key, a
 * changed entry, another message, a proof of something else: refused.
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

#include "agent/receipt.h"
#include "common/db.h"
#include "common/keys.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"

static char dir[] = "/tmp/keten-test-receipt-XXXXXX";
static MDB_env *env;
static struct ledger *ledger;
static struct keten_keys *keys;
static uint8_t msg[16];

static uint64_t
append(Keten__Ledger__V1__Kind kind, const char *sender, const char *reason, const char *pv)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	MDB_txn *txn;

	e.kind = kind;
	e.actor = e.sender = (char *)sender;
	e.recipient = "om";
	e.message_id = (ProtobufCBinaryData){ 16, msg };
	e.reason = (char *)reason;
	e.policy_version = (char *)pv;
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(ledger_append(ledger, txn, &e), 0);
	assert_int_equal(ledger_checkpoint(ledger, txn, keys), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	return e.seq;
}

static void
receipt_of(uint64_t seq, Keten__Wire__V1__Receipt *r)
{
	MDB_txn *txn;

	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(ledger_receipt(ledger, txn, seq, r), 0);
	mdb_txn_abort(txn);
}

static void
test_receipts(void **state)
{
	Keten__Wire__V1__Receipt r, a;
	char err[KETEN_ERRLEN], line[256];
	uint8_t other_pk[32], other_sk[64], root[32], other_msg[16];
	uint64_t size;

	(void)state;
	randombytes_buf(msg, 16);
	append(KETEN__LEDGER__V1__KIND__KIND_DELIVERED, "politie", "", "");
	uint64_t acc = append(KETEN__LEDGER__V1__KIND__KIND_ACCEPTED, "nla", "", "");
	uint64_t act = append(KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "broker",
	    "policy stm version 2026.12.1 (file sha256 ab..., approved by politie and nla)", "h1");
	append(KETEN__LEDGER__V1__KIND__KIND_DELIVERED, "politie", "", "");

	/* a sender's receipt, proven against the newest checkpoint; the same
	 * checks with a checkpoint memo (ledger/checkpoint.h), which has by then
	 * accepted this receipt's checkpoint: every refusal stays a refusal */
	struct checkpoint_memo memo = { 0 };
	for (int m = 0; m < 2; m++) {
		struct checkpoint_memo *mp = m ? &memo : NULL;
		receipt_of(acc, &r);
		assert_int_equal(receipt_verify(&r, keys->sign_pk, "nla", msg, mp, err), 0);
		receipt_describe(&r, line, sizeof(line));
		assert_non_null(strstr(line, "ledger entry #1 (to om) in checkpoint 4"));
		crypto_sign_ed25519_keypair(other_pk, other_sk);
		assert_int_not_equal(receipt_verify(&r, other_pk, "nla", msg, mp, err), 0);
		assert_int_not_equal(receipt_verify(&r, keys->sign_pk, "politie", msg, mp, err), 0);
		randombytes_buf(other_msg, 16);
		assert_int_not_equal(receipt_verify(&r, keys->sign_pk, "nla", other_msg, mp, err), 0);
		r.entry.data[r.entry.len - 1] ^= 1;	/* the entry changed: not in the tree */
		assert_int_equal(receipt_verify(&r, keys->sign_pk, "nla", msg, mp, err), KETEN_ECRYPTO);
		r.entry.data[r.entry.len - 1] ^= 1;
		r.seq++;	/* another position */
		assert_int_not_equal(receipt_verify(&r, keys->sign_pk, "nla", msg, mp, err), 0);
		r.seq--;
		/* the checkpoint's signature changed, after the memo has its note */
		char *sig = strstr(r.checkpoint, "\n\n\xe2\x80\x94 ");
		assert_non_null(sig);
		sig += strlen(sig) - 20;	/* inside the signature, not its padding */
		char was = *sig;
		*sig = was == 'A' ? 'B' : 'A';
		assert_int_equal(receipt_verify(&r, keys->sign_pk, "nla", msg, mp, err), KETEN_ECRYPTO);
		*sig = was;
		assert_int_equal(receipt_verify(&r, keys->sign_pk, "nla", msg, mp, err), 0);
		if (m) {	/* the memo answered: the receipts after the first were not verified again */
			assert_non_null(memo.note);
			assert_true(memo.hits >= 4);
		}
		ledger_receipt_clear(&r);
	}
	checkpoint_memo_clear(&memo);
	receipt_of(acc, &r);

	/* an activation's receipt */
	receipt_of(act, &a);
	assert_int_equal(receipt_verify_activation(&a, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "policy stm version 2026.12.1", "h1",
	    &size, root, err), 0);
	assert_int_equal(size, 4);
	/* of another version, a version that merely starts alike, another hash, another kind */
	assert_int_not_equal(receipt_verify_activation(&a, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "policy stm version 2026.12.2", "h1",
	    &size, root, err), 0);
	assert_int_not_equal(receipt_verify_activation(&a, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "policy stm version 2026.12", "h1",
	    &size, root, err), 0);
	assert_int_not_equal(receipt_verify_activation(&a, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "policy stm version 2026.12.1", "h2",
	    &size, root, err), 0);
	assert_int_not_equal(receipt_verify_activation(&a, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED, "policy stm version 2026.12.1", NULL,
	    &size, root, err), 0);
	/* a message's receipt is no proof of an activation; no receipt at all is none either */
	assert_int_not_equal(receipt_verify_activation(&r, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "policy stm version 2026.12.1", NULL,
	    &size, root, err), 0);
	assert_int_equal(receipt_verify_activation(NULL, keys->sign_pk,
	    KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, "policy stm version 2026.12.1", NULL,
	    &size, root, err), KETEN_EINVAL);
	assert_non_null(strstr(err, "no proof"));
	ledger_receipt_clear(&r);
	ledger_receipt_clear(&a);
}

static int
setup(void **state)
{
	char err[KETEN_ERRLEN];

	(void)state;
	if (sodium_init() < 0 || mkdtemp(dir) == NULL || keys_generate("broker", &keys, err) != 0 ||
	    db_env_open(dir, 16, 16, &env, err) != 0 ||
	    ledger_open(env, "test/ledger", &ledger, err) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[64];

	(void)state;
	ledger_free(&ledger);
	mdb_env_close(env);
	keys_free(&keys);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receipts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
