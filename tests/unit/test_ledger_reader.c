/*
 * The ledger read-only (ledger/reader.c), as keten audit reads it: entries
 * written by the writer (ledger/ledger.c) in a real LMDB environment, read
 * back in order, found through each index, verified, proven (the proof
 * checked by the independent verifier, ledger/proof.c), and an altered
 * entry named by the verification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "tests/unit/testutil.h"
#include "common/db.h"
#include "common/keys.h"
#include "common/util.h"
#include "ledger/ledger.h"
#include "ledger/proof.h"
#include "ledger/reader.h"

#define N 40
#define TAIL 8	/* entries the indexes do not hold yet */
static char dir[] = "/tmp/keten-test-reader-XXXXXX";
static struct keten_keys *keys;
static uint8_t ids[N][16];

/* N entries, a checkpoint after each; every 4th ACCEPTED from nla, the rest from politie. */
static int
setup(void **state)
{
	char err[KETEN_ERRLEN];
	struct ledger *l;
	MDB_env *env;

	(void)state;
	if (mkdtemp(dir) == NULL || keys_generate("broker", &keys, err) != 0 ||
	    db_env_open(dir, 16, 16, &env, err) != 0 || ledger_open(env, "test/ledger", &l, err) != 0)
		return -1;
	for (int i = 0; i < N; i++) {
		Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
		MDB_txn *txn;
		randombytes_buf(ids[i], 16);
		e.kind = i % 4 == 0 ? KETEN__LEDGER__V1__KIND__KIND_ACCEPTED :
		    KETEN__LEDGER__V1__KIND__KIND_DELIVERED;
		e.actor = e.sender = i % 4 == 0 ? "nla" : "politie";
		e.recipient = "om";
		e.message_type = "keten.case.v1.CaseSignal";
		e.message_id = (ProtobufCBinaryData){ 16, ids[i] };
		if (mdb_txn_begin(env, NULL, 0, &txn) != 0 || ledger_append(l, txn, &e) != 0)
			return -1;
		if (ledger_checkpoint(l, txn, keys) != 0 || mdb_txn_commit(txn) != 0)
			return -1;
	}
	/* the broker indexes in bulk when idle: all but the last TAIL entries here */
	MDB_txn *txn;
	uint64_t done = 0;
	if (mdb_txn_begin(env, NULL, 0, &txn) != 0 || ledger_index_catchup(l, txn, N - TAIL,
	    &done) != 0 || done != N - TAIL || mdb_txn_commit(txn) != 0)
		return -1;
	ledger_free(&l);
	mdb_env_close(env);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	keys_free(&keys);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static int
count(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	uint64_t *n = arg;

	assert_non_null(e);
	assert_int_equal(e->seq, seq);
	(*n)++;
	return 0;
}

static int
collect(void *arg, const Keten__Ledger__V1__Entry *e)
{
	uint64_t *seqs = arg;

	seqs[seqs[0]++ + 1] = e->seq;
	return 0;
}

static void
test_walk_and_query(void **state)
{
	struct ledger_reader *r = NULL;
	char err[KETEN_ERRLEN];
	uint64_t n = 0, looked, seqs[N + 1];

	(void)state;
	assert_int_equal(ledger_reader_open(dir, &r, err), 0);
	assert_int_equal(ledger_reader_size(r), N);
	assert_int_equal(ledger_reader_walk(r, 0, count, &n), 0);
	assert_int_equal(n, N);
	n = 0;
	assert_int_equal(ledger_reader_walk(r, 30, count, &n), 0);
	assert_int_equal(n, N - 30);

	/* by message id: exactly that entry, reading only it */
	struct ledger_query q = { .message_id = ids[17] };
	seqs[0] = 0;
	assert_int_equal(ledger_reader_query(r, &q, collect, seqs, &looked), 0);
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[1], 17);
	assert_int_equal(looked, 1);
	/* by sender: nla's ten entries, in order: those indexed through the index
	 * (nothing else read), the last TAIL entries (not indexed yet) by a scan */
	q = (struct ledger_query){ .sender = "nla" };
	seqs[0] = 0;
	assert_int_equal(ledger_reader_query(r, &q, collect, seqs, &looked), 0);
	assert_int_equal(seqs[0], N / 4);
	assert_int_equal(looked, (N - TAIL) / 4 + TAIL);
	for (uint64_t i = 0; i < seqs[0]; i++)
		assert_int_equal(seqs[i + 1], 4 * i);
	/* an unknown sender: nothing */
	q = (struct ledger_query){ .sender = "kmar" };
	seqs[0] = 0;
	assert_int_equal(ledger_reader_query(r, &q, collect, seqs, &looked), 0);
	assert_int_equal(seqs[0], 0);
	ledger_reader_free(&r);
	assert_null(r);
	/* not a ledger */
	assert_int_not_equal(ledger_reader_open("/nonexistent-keten", &r, err), 0);
	assert_null(r);
}

static void
test_verify_and_prove(void **state)
{
	struct ledger_reader *r = NULL;
	struct proof *p = NULL;
	char err[KETEN_ERRLEN], msg[LEDGER_MSGLEN], *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(ledger_reader_open(dir, &r, err), 0);
	assert_int_equal(ledger_reader_verify(r, "test/ledger", keys->sign_pk, msg), 0);
	assert_non_null(strstr(msg, "ledger OK: 40 entries rehashed, 40 signed checkpoints verified"));
	/* another key or origin: refused */
	uint8_t other[32];
	randombytes_buf(other, 32);
	assert_int_equal(ledger_reader_verify(r, "test/ledger", other, msg), KETEN_EINVAL);
	assert_non_null(strstr(msg, "FAIL checkpoint"));
	assert_int_equal(ledger_reader_verify(r, "test/other", keys->sign_pk, msg), KETEN_EINVAL);

	/* an inclusion proof, checked by the independent verifier */
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(ledger_reader_prove(r, 7, 30, 0, false, f, err), 0);
	fclose(f);
	f = fmemopen(buf, len, "r");
	assert_int_equal(proof_read(f, &p), 0);
	fclose(f);
	assert_int_equal(proof_verify(p, keys->sign_pk, err), 0);
	proof_free(&p);
	/* any byte changed, added or cut: not a proof (issue [4/7]: the
	 * checkpoint line changed, junk appended, the closing "." gone) */
	const char *edits[][2] = {
		{ "checkpoint 30\n", "checkpoint 31\n" },
		{ "inclusion 7 30\n", "inclusion 7 30 \n" },
		{ "inclusion 7 30\n", "inclusion 07 30\n" },
		{ "keten-proof v1\n", "keten-proof v1\n\n" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *t = tu_printf("%.*s", (int)len, buf);
		tu_replace(&t, edits[i][0], edits[i][1]);
		f = fmemopen(t, strlen(t), "r");
		assert_int_equal(proof_read(f, &p), KETEN_EINVAL);
		fclose(f);
		free(t);
	}
	char *junk = tu_printf("%.*sjunk\n", (int)len, buf), *cut = tu_printf("%.*s", (int)len - 2, buf);
	f = fmemopen(junk, strlen(junk), "r");
	assert_int_equal(proof_read(f, &p), KETEN_EINVAL);
	fclose(f);
	f = fmemopen(cut, strlen(cut), "r");
	assert_int_equal(proof_read(f, &p), KETEN_EINVAL);
	fclose(f);
	free(junk);
	free(cut);
	free(buf);
	/* a consistency proof */
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(ledger_reader_prove(r, 0, 30, 12, true, f, err), 0);
	fclose(f);
	f = fmemopen(buf, len, "r");
	assert_int_equal(proof_read(f, &p), 0);
	fclose(f);
	assert_int_equal(proof_verify(p, keys->sign_pk, err), 0);
	proof_free(&p);
	free(buf);
	/* what is not there */
	f = fopen("/dev/null", "w");
	assert_int_equal(ledger_reader_prove(r, 50, 30, 0, false, f, err), KETEN_ENOTFOUND);
	fclose(f);
	ledger_reader_free(&r);
}

/* One byte of entry 11 changed on disk: the verification names the entry. */
static void
test_tampered(void **state)
{
	struct ledger_reader *r = NULL;
	char err[KETEN_ERRLEN], msg[LEDGER_MSGLEN];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t key[8], *copy;
	MDB_val k = { 8, key }, v;

	(void)state;
	/* (this process holds the data directory's daemon lock since setup: plain LMDB) */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 16u << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "ledger", 0, &dbi), 0);
	be64_put(key, 11);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size - 1] ^= 1;	/* the last byte: still a valid entry, other bytes */
	v.mv_data = copy;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	free(copy);
	mdb_env_close(env);

	assert_int_equal(ledger_reader_open(dir, &r, err), 0);
	assert_int_equal(ledger_reader_verify(r, "test/ledger", keys->sign_pk, msg), KETEN_EINVAL);
	assert_non_null(strstr(msg, "FAIL checkpoint 12: its root is not the hash of the entries"));
	assert_non_null(strstr(msg, "entry 11 is not what was logged"));
	ledger_reader_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_and_query),
		cmocka_unit_test(test_verify_and_prove),
		cmocka_unit_test(test_tampered),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
