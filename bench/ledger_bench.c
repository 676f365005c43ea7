/*
 * Ledger benchmark at 10^6 entries (issue [5/7] targets: >= 100,000 entries/s
 * appended with group commit; proofs under 100 us; verify of 10^6 entries
 * under 10 s).  Appends with group commit (1,000 entries and one signed
 * checkpoint per fsync'd commit) against one fsync'd commit per entry in the
 * same run; inclusion and consistency proof time and size at 10^6 entries;
 * a one-case query among 10^6 entries through the index; and the time of
 * `keten audit verify` on the result.
 * usage: ledger_bench [ENTRIES] [KETEN_BIN]   (KETEN_BENCH_KEEP=1: keep the ledger)
 */
#include <lmdb.h>
#include <sodium.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "ledger/ledger.h"
#include "common/db.h"
#include "common/keys.h"
#include "ledger/ledgerindex.h"
#include "ledger/merkle.h"
#include "common/util.h"

static void
fill(Keten__Ledger__V1__Entry *e, uint64_t i, uint8_t id[16], uint8_t pseudo[32], uint8_t cth[32],
    char **paths)
{
	keten__ledger__v1__entry__init(e);
	memset(id, 0, 16);
	be64_put(id + 8, i);
	memset(pseudo, 0, 32);
	be64_put(pseudo, i / 10);	/* ten entries per case */
	memset(cth, (int)(i & 0xff), 32);
	e->kind = KETEN__LEDGER__V1__KIND__KIND_ACCEPTED;
	e->actor = e->sender = "politie";
	e->recipient = i % 2 ? "om" : "gemeente-amsterdam";
	e->message_id = (ProtobufCBinaryData){ 16, id };
	e->case_pseudonym = (ProtobufCBinaryData){ 32, pseudo };
	e->message_type = "keten.case.v1.CaseSignal";
	e->purpose = "investigation";
	e->legal_basis = "wpg-art-16";
	e->policy_version = "12cda3d866807607aa11bb22cc33dd44ee55ff6677889900aabbccddeeff0011";
	e->n_field_paths = 4;
	e->field_paths = paths;
	e->ciphertext_hash = (ProtobufCBinaryData){ 32, cth };
}

/*
 * db_env_open holds DIR/daemon.lock until the process exits, so `keten audit`
 * would take this process for a broker serving DIR and wait for it to log
 * the query: close our lock once the environment is closed.
 */
static void
release_daemon_lock(const char *dir)
{
	char want[4096], link[320], got[4096];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	snprintf(want, sizeof(want), "%s/daemon.lock", dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(link, got, sizeof(got) - 1);
		if (n > 0 && (got[n] = '\0', strcmp(got, want) == 0))
			close(atoi(de->d_name));
	}
	if (d != NULL)
		closedir(d);
}

int
main(int argc, char **argv)
{
	uint64_t N = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	const char *bin = argc > 2 ? argv[2] : "bin";

	/* whole batches of 1,000, and at least two committed sizes for consistency proofs */
	if (N < 10000 || N % 1000 != 0) {
		fprintf(stderr, "ledger_bench: ENTRIES must be a multiple of 1000, at least 10000\n");
		return 2;
	}
	char dir[] = "/tmp/keten-ledger-bench-XXXXXX", err[KETEN_ERRLEN], cmd[512];
	struct keten_keys *keys;
	struct ledger *l;
	MDB_env *env;
	MDB_txn *txn;
	char *paths[] = { "reference", "persons[possible_victim].given_name", "companies.kvk_number",
		"exploitation_forms" };
	uint8_t id[16], pseudo[32], cth[32];
	double t0;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL || keys_generate("broker", &keys, err) != 0)
		return 1;
	if (db_env_open(dir, 4096, 16, &env, err) != 0 || ledger_open(env, "bench/ledger", &l, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* one fsync'd commit per entry: the baseline */
	const uint64_t single = 2000;
	t0 = now();
	for (uint64_t i = 0; i < single; i++) {
		Keten__Ledger__V1__Entry e;
		fill(&e, i, id, pseudo, cth, paths);
		mdb_txn_begin(env, NULL, 0, &txn);
		if (ledger_append(l, txn, &e) != 0 || ledger_checkpoint(l, txn, keys) != 0 ||
		    mdb_txn_commit(txn) != 0)
			return 1;
	}
	double single_rate = (double)single / (now() - t0);
	/* group commit: 1,000 entries per commit */
	t0 = now();
	for (uint64_t i = single; i < N;) {
		mdb_txn_begin(env, NULL, 0, &txn);
		for (uint64_t k = 0; k < 1000 && i < N; k++, i++) {
			Keten__Ledger__V1__Entry e;
			fill(&e, i, id, pseudo, cth, paths);
			if (ledger_append(l, txn, &e) != 0)
				return 1;
		}
		if (ledger_checkpoint(l, txn, keys) != 0 || mdb_txn_commit(txn) != 0)
			return 1;
	}
	double batch_rate = (double)(N - single) / (now() - t0);
	/* the secondary indexes, in bulk as the broker writes them when idle */
	t0 = now();
	for (uint64_t done = 1; done > 0;) {
		mdb_txn_begin(env, NULL, 0, &txn);
		if (ledger_index_catchup(l, txn, 10000, &done) != 0 || mdb_txn_commit(txn) != 0)
			return 1;
	}
	double index_rate = (double)N / (now() - t0);
	printf("ledger of %llu entries\n", (unsigned long long)N);
	printf("secondary indexes in bulk (10,000 a commit) %7.0f entries/s\n", index_rate);
	printf("append, one fsync'd commit per entry     %10.0f entries/s (baseline, same run)\n",
	    single_rate);
	printf("append, group commit of 1,000            %10.0f entries/s (%.0fx; target >= 100,000)\n",
	    batch_rate, batch_rate / single_rate);

	/* proofs at the full size */
	Keten__Wire__V1__Receipt r;
	mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	t0 = now();
	size_t plen = 0;
	const int P = 10000;
	for (int k = 0; k < P; k++) {
		uint64_t seq = ((uint64_t)k * 7919u * 104729u) % N;
		if (ledger_receipt(l, txn, seq, &r) != 0)
			return 1;
		plen = r.n_inclusion_proof;
		ledger_receipt_clear(&r);
	}
	double incl_us = (now() - t0) / P * 1e6;
	Keten__Wire__V1__WitnessChallenge c;
	t0 = now();
	size_t clen = 0;
	for (int k = 0; k < P; k++) {
		uint64_t old = 1000 * (uint64_t)(1 + (k % (int)(N / 1000 - 1)));	/* a committed size */
		if (old >= N || ledger_challenge(l, txn, old, &c) != 0)
			continue;
		clen = c.n_consistency_proof;
		ledger_challenge_clear(&c);
	}
	double cons_us = (now() - t0) / P * 1e6;
	printf("inclusion proof (with entry + checkpoint) %9.1f us, %zu hashes = %zu bytes (target < 100 us)\n",
	    incl_us, plen, plen * 32);
	printf("consistency proof (with checkpoint)       %9.1f us, %zu hashes = %zu bytes\n", cons_us,
	    clen, clen * 32);

	/* one case among N: through the index */
	MDB_dbi idx, entries;
	mdb_dbi_open(txn, "ledger_index", 0, &idx);
	mdb_dbi_open(txn, "ledger", 0, &entries);
	t0 = now();
	uint64_t found = 0;
	const int Q = 1000;
	for (int k = 0; k < Q; k++) {
		uint8_t key[LIDX_MAXKEY], ps[32] = { 0 };
		be64_put(ps, ((uint64_t)k * 7919u) % (N / 10));
		size_t kl = lidx_prefix(key, LIDX_CASE, ps, 32, 0);
		MDB_val kk = { kl, key }, vv;
		MDB_cursor *cur;
		mdb_cursor_open(txn, idx, &cur);
		for (int op = MDB_SET_RANGE; mdb_cursor_get(cur, &kk, &vv, op) == 0; op = MDB_NEXT) {
			if (kk.mv_size < kl + 8 || memcmp(kk.mv_data, key, kl) != 0)
				break;
			MDB_val ek = { 8, (uint8_t *)kk.mv_data + kk.mv_size - 8 }, ev;
			if (mdb_get(txn, entries, &ek, &ev) == 0) {
				Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, ev.mv_size,
				    ev.mv_data);
				found += e != NULL;
				keten__ledger__v1__entry__free_unpacked(e, NULL);
			}
		}
		mdb_cursor_close(cur);
	}
	printf("one-case query among %llu entries      %9.1f us (%.1f entries per case)\n",
	    (unsigned long long)N, (now() - t0) / Q * 1e6, (double)found / Q);
	mdb_txn_abort(txn);
	ledger_free(&l);
	mdb_env_close(env);
	release_daemon_lock(dir);

	/* keten audit verify on it */
	char pub[256];
	char b64[64];
	key_b64_encode(b64, sizeof(b64), keys->sign_pk, 32);
	snprintf(pub, sizeof(pub), "%s", b64);
	snprintf(cmd, sizeof(cmd), "%s/keten audit verify --data %s --key %s --origin bench/ledger "
	    ">/dev/null", bin, dir, pub);
	t0 = now();
	int vrc = system(cmd);
	printf("keten audit verify of %llu entries     %9.2f s (%s; target < 10 s)\n",
	    (unsigned long long)N, now() - t0, vrc == 0 ? "OK" : "FAILED");
	if (getenv("KETEN_BENCH_KEEP") != NULL) {
		/* for timing readers of a large ledger (keten console, audit queries) */
		printf("kept %s (KETEN_BENCH_KEEP): remove it when done\n", dir);
	} else {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	keys_free(&keys);
	return vrc == 0 ? 0 : 1;
}
