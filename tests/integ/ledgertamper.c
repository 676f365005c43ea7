/*
 * ledgertamper: changes a stopped broker's ledger the way an insider with
 * disk access could, for the tests of `keten audit verify`.
 * usage: ledgertamper DATA_DIR flip SEQ | delete SEQ | swap SEQ1 SEQ2 | truncate SEQ
 *                     | foreign SEQ | drop-index 0
 * (truncate deletes SEQ and every later entry, but keeps the checkpoints;
 * foreign adds a record with a 3-byte key, no entry number, among them;
 * drop-index empties the secondary indexes, as if they were lost).
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int
main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t k1[8], k2[8];
	MDB_val a = { 8, k1 }, b = { 8, k2 }, va, vb;
	int rc;

	if (argc < 4)
		return 2;
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) || mdb_env_open(env, argv[1], 0, 0600) ||
	    mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, "ledger", 0, &dbi)) {
		fprintf(stderr, "ledgertamper: cannot open %s\n", argv[1]);
		return 1;
	}
	be64_put(k1, strtoull(argv[3], NULL, 10));
	if (strcmp(argv[2], "flip") == 0) {
		if ((rc = mdb_get(txn, dbi, &a, &va)) != 0)
			return 1;
		uint8_t *copy = malloc(va.mv_size);
		memcpy(copy, va.mv_data, va.mv_size);
		copy[va.mv_size / 2] ^= 0x01;
		va.mv_data = copy;
		rc = mdb_put(txn, dbi, &a, &va, 0);
		free(copy);
	} else if (strcmp(argv[2], "foreign") == 0) {
		MDB_val fk = { 3, k1 }, fv = { 5, (void *)"junk!" };	/* sorts before entry SEQ */
		rc = mdb_put(txn, dbi, &fk, &fv, 0);
	} else if (strcmp(argv[2], "drop-index") == 0) {
		MDB_dbi idx;
		rc = mdb_dbi_open(txn, "ledger_index", 0, &idx) || mdb_drop(txn, idx, 0);
	} else if (strcmp(argv[2], "delete") == 0) {
		rc = mdb_del(txn, dbi, &a, NULL);
	} else if (strcmp(argv[2], "swap") == 0 && argc == 5) {
		be64_put(k2, strtoull(argv[4], NULL, 10));
		if (mdb_get(txn, dbi, &a, &va) || mdb_get(txn, dbi, &b, &vb))
			return 1;
		MDB_val ca = { va.mv_size, malloc(va.mv_size) }, cb = { vb.mv_size, malloc(vb.mv_size) };
		memcpy(ca.mv_data, va.mv_data, va.mv_size);
		memcpy(cb.mv_data, vb.mv_data, vb.mv_size);
		rc = mdb_put(txn, dbi, &a, &cb, 0) || mdb_put(txn, dbi, &b, &ca, 0);
		free(ca.mv_data);
		free(cb.mv_data);
	} else if (strcmp(argv[2], "truncate") == 0) {
		MDB_cursor *cur;
		MDB_val v;
		rc = mdb_cursor_open(txn, dbi, &cur);
		for (;;) {	/* the first entry >= SEQ, again and again, until none is left */
			MDB_val k = { 8, k1 };
			if (rc != 0 || mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) != 0)
				break;
			rc = mdb_cursor_del(cur, 0);
		}
		mdb_cursor_close(cur);
	} else {
		return 2;
	}
	if (rc != 0 || mdb_txn_commit(txn) != 0) {
		fprintf(stderr, "ledgertamper: failed\n");
		return 1;
	}
	mdb_env_close(env);
	return 0;
}
