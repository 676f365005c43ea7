/* keten audit: what an auditor does with the broker's ledger. */
#include <getopt.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/auditspool.h"
#include "common/checkpoint.h"
#include "common/db.h"
#include "common/directory.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "common/ledgerjson.h"
#include "common/ledgerindex.h"
#include "common/merkle.h"
#include "common/proof.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "schemas/ledger.pb-c.h"

#define AUDIT_LOG_WAIT_MS 10000	/* how long the broker may take to log a query */
#define POLICY_KEYS 20	/* stats rows one entry counts towards */

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten audit verify --data BROKER_DATA_DIR --key BROKER_PUBLIC [--origin O]\n"
	    "                          [--directory DIRECTORY.yaml]   (also check every cosignature)\n"
	    "       keten audit log    --data BROKER_DATA_DIR [--after SEQ] [--limit N]\n"
	    "       keten audit query  --data BROKER_DATA_DIR [--message ID] [--case PSEUDONYM-HEX]\n"
	    "                          [--case-ref REF --case-sender AGENCY --network-key FILE]\n"
	    "                          [--sender A] [--recipient A] [--rule RULE]\n"
	    "                          [--since 2026-11-01T00:00:00Z] [--until ...]\n"
	    "                          [--kind ACCEPTED|REJECTED|DELIVERED|...] [--type CaseSignal]\n"
	    "       keten audit stats  --data BROKER_DATA_DIR\n"
	    "       keten audit report --data BROKER_DATA_DIR --case-ref REF --case-sender AGENCY\n"
	    "                          --network-key FILE   (or --case PSEUDONYM-HEX)\n"
	    "  report is the processing overview of one case: who received which fields\n"
	    "  when, under which rule, purpose and legal basis, and what was refused.\n"
	    "       keten audit prove  --data BROKER_DATA_DIR --seq N [--size M]\n"
	    "       keten audit prove  --data BROKER_DATA_DIR --consistency OLD,NEW\n"
	    "       keten audit check-proof --key BROKER_PUBLIC PROOF_FILE\n"
	    "  prove writes a self-contained proof (docs/auditor.md) that check-proof\n"
	    "  verifies with nothing but the proof and the broker's public key.\n"
	    "  stats counts accepted and rejected per rule and per sender -> recipient.\n"
	    "  query reads the ledger's indexes: its cost follows the size of the answer.\n"
	    "       keten audit export --data BROKER_DATA_DIR --format logboek [--after SEQ]\n"
	    "  export writes the entries as JSON lines modelled on the Logboek\n"
	    "  Dataverwerkingen (Logius) record: trace id, span id, processing activity,\n"
	    "  status, times, pseudonymous data subject.\n"
	    "  verify rehashes every ledger entry from the first, rebuilds the Merkle tree,\n"
	    "  and checks every stored checkpoint's root and the broker's signature on it;\n"
	    "  BROKER_PUBLIC is the broker's public key file (broker.public.yaml) or its\n"
	    "  signing_key in base64.  log prints entries as JSON lines.  Both read while\n"
	    "  the broker runs.  Exit 0 when the ledger verifies, 1 otherwise.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static int
read_key(const char *arg, uint8_t pk[static 32])
{
	if (access(arg, R_OK) == 0) {
		struct ydoc *doc = NULL;
		char err[KETEN_ERRLEN];
		const struct ynode *root, *m;
		const char *b64 = NULL;
		int rc = -1;
		if (ydoc_load(arg, &doc, err) != 0) {
			fprintf(stderr, "keten audit: %s\n", err);
			return -1;
		}
		root = ydoc_root(doc);
		m = root && root->kind == YNODE_SEQ && root->n == 1 ? root->items[0] : root;
		if (m && m->kind == YNODE_MAP && ydoc_get_str(doc, m, "signing_key", true, &b64, err) == 0)
			rc = key_b64_decode(pk, 32, b64);
		ydoc_free(&doc);
		return rc;
	}
	return key_b64_decode(pk, 32, arg);
}

/* Cosignatures by the agencies (witnesses): how many, and per witness the newest size. */
static const struct directory *witness_dir;	/* --directory: check cosignatures too */

static int
witnesses(MDB_txn *txn, MDB_dbi cps)
{
	uint64_t bad = 0;
	struct { char who[64]; uint64_t newest; } w[64];
	size_t nw = 0;
	MDB_dbi cos;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0;

	(void)cps;
	if (mdb_dbi_open(txn, "cosignatures", 0, &cos) != 0 || mdb_cursor_open(txn, cos, &cur) != 0)
		return 0;	/* an older ledger without witnesses */
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		char who[64];
		size_t i;
		if (k.mv_size <= 8 || k.mv_size - 8 >= sizeof(who))
			continue;
		snprintf(who, sizeof(who), "%.*s", (int)(k.mv_size - 8), (char *)k.mv_data + 8);
		for (i = 0; i < nw && strcmp(w[i].who, who) != 0; i++)
			;
		if (i == nw && nw < 64) {
			snprintf(w[nw].who, sizeof(w[nw].who), "%s", who);
			w[nw++].newest = 0;
		}
		if (i < nw && be64_get(k.mv_data) > w[i].newest)
			w[i].newest = be64_get(k.mv_data);
		n++;
		if (witness_dir != NULL) {
			const struct dir_agency *a = directory_find(witness_dir, who);
			uint8_t ck[8];
			MDB_val ckv = { 8, ck }, cv;
			char *line = strndup(v.mv_data, v.mv_size), *note = NULL;
			memcpy(ck, k.mv_data, 8);
			if (mdb_get(txn, cps, &ckv, &cv) == 0)
				note = strndup(cv.mv_data, cv.mv_size);
			if (a == NULL || note == NULL || line == NULL ||
			    (checkpoint_cosig_verify(note, line, who, a->sign_pk) != 0 &&
			    !(a->has_previous && checkpoint_cosig_verify(note, line, who, a->prev_sign_pk) == 0))) {
				printf("FAIL the cosignature of %s on checkpoint %llu does not verify\n", who,
				    (unsigned long long)be64_get(k.mv_data));
				bad++;
			}
			free(line);
			free(note);
		}
	}
	mdb_cursor_close(cur);
	printf("cosignatures: %llu; newest cosigned size per witness:", (unsigned long long)n);
	for (size_t i = 0; i < nw; i++)
		printf(" %s=%llu", w[i].who, (unsigned long long)w[i].newest);
	printf("%s%s\n", nw ? "" : " none", witness_dir && !bad ? " (all verified)" : "");
	return bad ? -1 : 0;
}

/*
 * Which entry was altered?  The stored leaf hashes (which the check itself
 * never trusts) were written when each entry was appended: the first entry
 * whose bytes no longer hash to its leaf is the one.
 */
static void
name_bad_entry(MDB_txn *txn, MDB_dbi entries, uint64_t upto)
{
	MDB_dbi tree;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t expect = 0;

	if (mdb_dbi_open(txn, "ledger_tree", 0, &tree) != 0 || mdb_cursor_open(txn, entries, &cur) != 0) {
		printf("\n");
		return;
	}
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0 && expect < upto;
	    op = MDB_NEXT, expect++) {
		merkle_hash leaf, logged;
		uint64_t seq = k.mv_size == 8 ? be64_get(k.mv_data) : UINT64_MAX;
		if (seq != expect) {
			printf("; entry %llu is missing\n", (unsigned long long)expect);
			mdb_cursor_close(cur);
			return;
		}
		merkle_leaf_hash(leaf, v.mv_data, v.mv_size);
		if (ltree_get(txn, tree, 0, seq, logged) == 0 && sodium_memcmp(leaf, logged, 32) != 0) {
			printf("; entry %llu is not what was logged\n", (unsigned long long)seq);
			mdb_cursor_close(cur);
			return;
		}
	}
	mdb_cursor_close(cur);
	printf("\n");
}

static int
verify(MDB_txn *txn, MDB_dbi entries, MDB_dbi cps, const char *origin, const uint8_t pk[static 32])
{
	struct merkle_frontier f = { .size = 0 };
	MDB_cursor *ec = NULL, *cc = NULL;
	MDB_val k, v, ck, cv;
	int erc, crc;
	uint64_t checked = 0, last_size = 0;
	char err[KETEN_ERRLEN];
	int rc = EXIT_FAIL;

	mdb_cursor_open(txn, entries, &ec);
	mdb_cursor_open(txn, cps, &cc);
	crc = mdb_cursor_get(cc, &ck, &cv, MDB_FIRST);
	for (erc = mdb_cursor_get(ec, &k, &v, MDB_FIRST); ; erc = mdb_cursor_get(ec, &k, &v, MDB_NEXT)) {
		/* every checkpoint whose size we have reached */
		while (crc == 0 && ck.mv_size == 8 && be64_get(ck.mv_data) == f.size) {
			uint64_t size;
			merkle_hash root, mine;
			char *note = strndup(cv.mv_data, cv.mv_size);
			if (note == NULL || checkpoint_verify(note, origin, pk, &size, root, err) != 0) {
				printf("FAIL checkpoint %llu: %s\n", (unsigned long long)f.size,
				    note ? err : "out of memory");
				free(note);
				goto fail;
			}
			free(note);
			merkle_frontier_root(&f, mine);
			if (size != f.size || sodium_memcmp(root, mine, 32) != 0) {
				printf("FAIL checkpoint %llu: its root is not the hash of the entries "
				    "0..%llu as stored: the ledger was altered", (unsigned long long)size,
				    (unsigned long long)f.size - 1);
				name_bad_entry(txn, entries, f.size);
				goto fail;
			}
			checked++;
			last_size = size;
			crc = mdb_cursor_get(cc, &ck, &cv, MDB_NEXT);
		}
		if (erc != 0)
			break;
		if (k.mv_size != 8 || be64_get(k.mv_data) != f.size) {
			printf("FAIL entry %llu: missing (the next stored key is %llu)\n",
			    (unsigned long long)f.size, k.mv_size == 8 ?
			    (unsigned long long)be64_get(k.mv_data) : 0ULL);
			goto fail;
		}
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size, v.mv_data);
		if (e == NULL || e->seq != f.size) {
			printf("FAIL entry %llu: not a ledger entry, or its seq is wrong\n",
			    (unsigned long long)f.size);
			if (e)
				keten__ledger__v1__entry__free_unpacked(e, NULL);
			goto fail;
		}
		keten__ledger__v1__entry__free_unpacked(e, NULL);
		merkle_hash leaf;
		merkle_leaf_hash(leaf, v.mv_data, v.mv_size);	/* rehash, never trust stored hashes */
		merkle_frontier_append(&f, leaf);
	}
	if (crc == 0) {
		printf("FAIL a checkpoint of size %llu is beyond the %llu entries stored: entries were "
		    "removed\n", ck.mv_size == 8 ? (unsigned long long)be64_get(ck.mv_data) : 0ULL,
		    (unsigned long long)f.size);
		goto fail;
	}
	if (last_size != f.size) {
		printf("FAIL %llu entries after the newest checkpoint (%llu)\n",
		    (unsigned long long)(f.size - last_size), (unsigned long long)last_size);
		goto fail;
	}
	merkle_hash root;
	char hex[65];
	merkle_frontier_root(&f, root);
	sodium_bin2hex(hex, sizeof(hex), root, 32);
	printf("ledger OK: %llu entries rehashed, %llu signed checkpoints verified; newest: size %llu, "
	    "root %s\n", (unsigned long long)f.size, (unsigned long long)checked,
	    (unsigned long long)last_size, hex);
	if (witnesses(txn, cps) != 0)
		goto fail;
	rc = EXIT_OK;
fail:
	mdb_cursor_close(ec);
	mdb_cursor_close(cc);
	return rc;
}

struct query {
	uint8_t msgid[16], pseudo[32];
	bool has_msg, has_case;
	const char *sender, *recipient, *rule, *type;
	int kind;		/* 0 = any */
	int64_t since, until;	/* 0 = open */
};

static bool
matches(const struct query *q, const Keten__Ledger__V1__Entry *e)
{
	if (q->has_msg && (e->message_id.len != 16 || memcmp(e->message_id.data, q->msgid, 16)))
		return false;
	if (q->has_case && (e->case_pseudonym.len != 32 || memcmp(e->case_pseudonym.data, q->pseudo, 32)))
		return false;
	if (q->sender && strcmp(e->sender, q->sender) != 0)
		return false;
	if (q->kind && (int)e->kind != q->kind)
		return false;
	/* the auditors' own queries only when asked for: a query does not find itself */
	if (q->kind == 0 && e->kind == KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY)
		return false;
	if (q->type && strcmp(e->message_type, q->type) != 0 &&
	    !(strrchr(e->message_type, '.') && strcmp(strrchr(e->message_type, '.') + 1, q->type) == 0))
		return false;
	if (q->recipient && strcmp(e->recipient, q->recipient) != 0)
		return false;
	if (q->since && e->time_ms < q->since)
		return false;
	if (q->until && e->time_ms >= q->until)
		return false;
	if (q->rule) {
		bool any = false;
		for (size_t i = 0; i < e->n_rule_ids && !any; i++)
			any = strcmp(e->rule_ids[i], q->rule) == 0;
		if (!any)
			return false;
	}
	return true;
}

/* Walk the most selective index the query names; filter by the rest. */
static int
query(MDB_txn *txn, MDB_dbi entries, const struct query *q, uint64_t limit)
{
	MDB_dbi idx;
	MDB_cursor *cur;
	uint8_t key[LIDX_MAXKEY], t[8];
	size_t plen;
	uint64_t shown = 0, looked = 0;

	if (mdb_dbi_open(txn, "ledger_index", 0, &idx) != 0) {
		fprintf(stderr, "keten audit: this ledger has no indexes\n");
		return EXIT_FAIL;
	}
	if (q->has_msg)
		plen = lidx_prefix(key, LIDX_MESSAGE, q->msgid, 16, 0);
	else if (q->has_case)
		plen = lidx_prefix(key, LIDX_CASE, q->pseudo, 32, 0);
	else if (q->rule)
		plen = lidx_prefix(key, LIDX_RULE, q->rule, strlen(q->rule), 1);
	else if (q->recipient)
		plen = lidx_prefix(key, LIDX_RECIPIENT, q->recipient, strlen(q->recipient), 1);
	else if (q->sender)
		plen = lidx_prefix(key, LIDX_SENDER, q->sender, strlen(q->sender), 1);
	else {
		be64_put(t, (uint64_t)q->since);
		lidx_prefix(key, LIDX_TIME, t, 8, 0);
		plen = 1;	/* the time index is ordered: start at `since` */
	}
	if (plen == 0)
		return EXIT_USAGE;
	MDB_val k = { q->has_msg || q->has_case || q->rule || q->recipient || q->sender ? plen : 9,
	    key }, v;
	mdb_cursor_open(txn, idx, &cur);
	for (int op = MDB_SET_RANGE; shown < limit && mdb_cursor_get(cur, &k, &v, op) == 0;
	    op = MDB_NEXT) {
		if (k.mv_size < plen + 8 || memcmp(k.mv_data, key, plen) != 0)
			break;
		uint8_t sk[8];
		memcpy(sk, (uint8_t *)k.mv_data + k.mv_size - 8, 8);
		MDB_val ek = { 8, sk }, ev;
		looked++;
		if (mdb_get(txn, entries, &ek, &ev) != 0)
			continue;
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, ev.mv_size, ev.mv_data);
		if (e == NULL)
			continue;
		if (plen == 1 && q->until && e->time_ms >= q->until) {
			keten__ledger__v1__entry__free_unpacked(e, NULL);
			break;
		}
		if (matches(q, e)) {
			json_t *j = ledger_entry_json(e);
			char *s = json_dumps(j, JSON_COMPACT);
			printf("%s\n", s ? s : "{}");
			free(s);
			json_decref(j);
			shown++;
		}
		keten__ledger__v1__entry__free_unpacked(e, NULL);
	}
	mdb_cursor_close(cur);
	fprintf(stderr, "%llu entries (%llu read through the index)\n", (unsigned long long)shown,
	    (unsigned long long)looked);
	return EXIT_OK;
}

/* The processing overview of one case, in time order (via the case index). */
static int
report(MDB_txn *txn, MDB_dbi entries, const struct query *q)
{
	MDB_dbi idx;
	MDB_cursor *cur;
	uint8_t key[LIDX_MAXKEY];
	size_t plen = lidx_prefix(key, LIDX_CASE, q->pseudo, 32, 0);
	uint64_t n = 0, nq = 0;
	char hex[65];

	if (!q->has_case || mdb_dbi_open(txn, "ledger_index", 0, &idx) != 0)
		return EXIT_USAGE;
	sodium_bin2hex(hex, sizeof(hex), q->pseudo, 32);
	printf("processing overview of case %.16s...\n", hex);
	MDB_val k = { plen, key }, v;
	mdb_cursor_open(txn, idx, &cur);
	for (int op = MDB_SET_RANGE; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		if (k.mv_size < plen + 8 || memcmp(k.mv_data, key, plen) != 0)
			break;
		uint8_t sk[8];
		memcpy(sk, (uint8_t *)k.mv_data + k.mv_size - 8, 8);
		MDB_val ek = { 8, sk }, ev;
		if (mdb_get(txn, entries, &ek, &ev) != 0)
			continue;
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, ev.mv_size, ev.mv_data);
		if (e == NULL)
			continue;
		char when[32], id[KETEN_UUIDSTRLEN] = "-";
		time_t t = (time_t)(e->time_ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
		if (e->message_id.len == 16)
			uuid_format(id, e->message_id.data);
		const char *type = strrchr(e->message_type, '.') ? strrchr(e->message_type, '.') + 1 :
		    e->message_type;
		if (e->kind == KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY) {
			nq++;	/* counted, listed by query --kind AUDIT_QUERY */
			keten__ledger__v1__entry__free_unpacked(e, NULL);
			continue;
		}
		if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED) {
			printf("\n%s  #%llu  %s -> %s  %s  message %s\n", when, (unsigned long long)e->seq,
			    e->sender, e->recipient, type, id);
			printf("  purpose %s, legal basis %s, rule%s", e->purpose, e->legal_basis,
			    e->n_rule_ids == 1 ? "" : "s");
			for (size_t i = 0; i < e->n_rule_ids; i++)
				printf("%s %s", i ? "," : "", e->rule_ids[i]);
			printf("\n  fields received (%zu):", e->n_field_paths);
			for (size_t i = 0; i < e->n_field_paths; i++)
				printf("%s %s", i ? "," : "", e->field_paths[i]);
			printf("\n  every other field of the message was withheld from %s\n", e->recipient);
		} else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED) {
			printf("\n%s  #%llu  %s: %s refused (%s): %s\n", when, (unsigned long long)e->seq,
			    e->sender, type, e->reason_code, e->reason);
		} else {
			printf("\n%s  #%llu  %s\n", when, (unsigned long long)e->seq, e->reason);
		}
		n++;
		keten__ledger__v1__entry__free_unpacked(e, NULL);
	}
	mdb_cursor_close(cur);
	printf("\n%llu ledger entries for this case\n", (unsigned long long)n);
	printf("%llu auditors' queries of this case logged (keten audit query --case %s "
	    "--kind AUDIT_QUERY lists them)\n", (unsigned long long)nq, hex);
	return EXIT_OK;
}

/* Perfect-subtree hashes from the broker's stored tree, for proofs. */
struct tree_read {
	MDB_txn *txn;
	MDB_dbi tree;
};

static int
tree_get(void *arg, unsigned level, uint64_t index, merkle_hash out)
{
	struct tree_read *t = arg;

	return ltree_get(t->txn, t->tree, level, index, out);
}

static int
tree_put(void *arg, unsigned level, uint64_t index, const merkle_hash h)
{
	(void)arg, (void)level, (void)index, (void)h;
	return -1;	/* read-only */
}

static char *
note_at(MDB_txn *txn, MDB_dbi cps, uint64_t size)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;

	be64_put(key, size);
	if (mdb_get(txn, cps, &k, &v) != 0)
		return NULL;
	return strndup(v.mv_data, v.mv_size);
}

static void
print_hashes(const char *label, const merkle_hash *h, size_t n)
{
	char hex[65];

	printf("%s", label);
	for (size_t i = 0; i < n; i++) {
		sodium_bin2hex(hex, sizeof(hex), h[i], 32);
		printf("%s%s", i ? "," : " ", hex);
	}
	printf("\n");
}

/*
 * A self-contained proof, text:
 *   keten-proof v1
 *   inclusion <seq> <size>      |  consistency <old> <new>
 *   entry <base64>              (inclusion only: the exact logged bytes)
 *   proof <hex>,<hex>,...       (may be empty)
 *   checkpoint <size>           followed by the signed note, then a line "."
 *   (consistency: two checkpoints, old then new)
 */
static int
prove(MDB_txn *txn, MDB_dbi entries, MDB_dbi cps, uint64_t seq, uint64_t size, uint64_t old,
    bool consistency)
{
	struct tree_read tr = { txn, 0 };
	struct merkle_store st = { tree_get, tree_put, &tr };
	merkle_hash proof[MERKLE_MAX_PROOF];
	size_t n;
	char *a = NULL, *b = NULL;

	if (mdb_dbi_open(txn, "ledger_tree", 0, &tr.tree) != 0)
		return EXIT_FAIL;
	if (!consistency) {
		uint8_t key[8];
		MDB_val k = { 8, key }, v;
		be64_put(key, seq);
		if (seq >= size || mdb_get(txn, entries, &k, &v) != 0 ||
		    (b = note_at(txn, cps, size)) == NULL ||
		    merkle_inclusion_proof(&st, seq, size, proof, &n) != 0) {
			fprintf(stderr, "keten audit prove: no entry %llu in a checkpoint of size %llu\n",
			    (unsigned long long)seq, (unsigned long long)size);
			free(b);
			return EXIT_FAIL;
		}
		size_t b64len = sodium_base64_ENCODED_LEN(v.mv_size, sodium_base64_VARIANT_ORIGINAL);
		char *e64 = malloc(b64len);
		if (e64 == NULL)
			return EXIT_FAIL;
		sodium_bin2base64(e64, b64len, v.mv_data, v.mv_size, sodium_base64_VARIANT_ORIGINAL);
		printf("keten-proof v1\ninclusion %llu %llu\nentry %s\n", (unsigned long long)seq,
		    (unsigned long long)size, e64);
		free(e64);
	} else {
		if (old == 0 || old > size || (a = note_at(txn, cps, old)) == NULL ||
		    (b = note_at(txn, cps, size)) == NULL ||
		    merkle_consistency_proof(&st, old, size, proof, &n) != 0) {
			fprintf(stderr, "keten audit prove: no checkpoints %llu and %llu to prove between\n",
			    (unsigned long long)old, (unsigned long long)size);
			free(a);
			free(b);
			return EXIT_FAIL;
		}
		printf("keten-proof v1\nconsistency %llu %llu\n", (unsigned long long)old,
		    (unsigned long long)size);
	}
	print_hashes("proof", (const merkle_hash *)proof, n);
	if (a != NULL)
		printf("checkpoint %llu\n%s.\n", (unsigned long long)old, a);
	printf("checkpoint %llu\n%s.\n", (unsigned long long)size, b);
	free(a);
	free(b);
	return EXIT_OK;
}

/* The independent verifier: only the proof file and the broker's key. */
static int
check_proof(const char *path, const uint8_t pk[static 32])
{
	FILE *f = fopen(path, "r");
	struct proof *p = NULL;
	char err[KETEN_ERRLEN];
	int rc = EXIT_FAIL;

	if (f == NULL) {
		perror(path);
		return EXIT_FAIL;
	}
	if (proof_read(f, &p) != 0) {
		printf("FAIL %s is not a keten proof\n", path);
	} else if (proof_verify(p, pk, err) != 0) {
		printf("FAIL %s\n", err);
	} else {
		if (p->inclusion)
			printf("proof OK: entry %llu is in the broker's signed checkpoint of size %llu\n",
			    (unsigned long long)p->first, (unsigned long long)p->second);
		else
			printf("proof OK: the signed checkpoint of size %llu extends the one of size "
			    "%llu\n", (unsigned long long)p->second, (unsigned long long)p->first);
		rc = EXIT_OK;
	}
	proof_free(&p);
	fclose(f);
	return rc;
}

/* Accepted and rejected per rule and per sender -> recipient pair (one pass). */
static int
stats(MDB_txn *txn, MDB_dbi entries)
{
	struct row { char key[160]; uint64_t accepted, rejected; } *rows = NULL;
	size_t n = 0, cap = 0;
	MDB_cursor *cur;
	MDB_val k, v;

	mdb_cursor_open(txn, entries, &cur);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size, v.mv_data);
		if (e == NULL)
			continue;
		bool acc = e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED;
		bool rej = e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED;
		char keys[POLICY_KEYS][160];
		size_t nk = 0;
		if (acc || rej) {
			snprintf(keys[nk++], 160, "pair  %s -> %s", e->sender,
			    e->recipient[0] ? e->recipient : "(refused)");
			for (size_t i = 0; i < e->n_rule_ids && nk < POLICY_KEYS; i++)
				snprintf(keys[nk++], 160, "rule  %s", e->rule_ids[i]);
			if (rej && e->reason_code[0] && nk < POLICY_KEYS)
				snprintf(keys[nk++], 160, "reason %s", e->reason_code);
		}
		for (size_t j = 0; j < nk; j++) {
			size_t i;
			for (i = 0; i < n && strcmp(rows[i].key, keys[j]) != 0; i++)
				;
			if (i == n) {
				if (n == cap) {
					cap = cap ? 2 * cap : 64;
					struct row *nr = realloc(rows, cap * sizeof(*nr));
					if (nr == NULL)
						break;
					rows = nr;
				}
				memcpy(rows[n].key, keys[j], sizeof(rows[n].key));
				rows[n].accepted = rows[n].rejected = 0;
				n++;
			}
			if (acc)
				rows[i].accepted++;
			else
				rows[i].rejected++;
		}
		keten__ledger__v1__entry__free_unpacked(e, NULL);
	}
	mdb_cursor_close(cur);
	printf("%-60s %10s %10s\n", "", "accepted", "rejected");
	for (size_t i = 0; i < n; i++)
		printf("%-60s %10llu %10llu\n", rows[i].key, (unsigned long long)rows[i].accepted,
		    (unsigned long long)rows[i].rejected);
	free(rows);
	return EXIT_OK;
}

static int
pseudonym_from(struct query *q, const char *ref, const char *sender, const char *keyfile)
{
	struct ydoc *doc = NULL;
	char err[KETEN_ERRLEN];
	const char *b64 = NULL;
	uint8_t key[32];
	int rc = -1;

	if (ydoc_load(keyfile, &doc, err) != 0) {
		fprintf(stderr, "keten audit: %s\n", err);
		return -1;
	}
	if (ydoc_root(doc) && ydoc_get_str(doc, ydoc_root(doc), "network_key", true, &b64, err) == 0 &&
	    key_b64_decode(key, 32, b64) == 0) {
		envelope_case_pseudonym(q->pseudo, key, sender, ref);
		q->has_case = true;
		rc = 0;
	}
	sodium_memzero(key, sizeof(key));
	ydoc_free(&doc);
	return rc;
}

/*
 * Have the broker log this query (an AUDIT_QUERY entry) before it runs.
 * The record carries the case pseudonym, never --case-ref, and the options
 * as given except the case reference's and the network key's values.
 */
static int
log_query(const char *data, const char *verb, const struct query *q, int argc, char **argv)
{
	struct audit_query aq = { .has_case = q->has_case };
	char err[KETEN_ERRLEN];
	size_t off = 0;

	if (!auditspool_broker_running(data)) {
		fprintf(stderr, "keten audit: no broker serves %s (stopped, or a copy): this query is "
		    "not logged in the ledger\n", data);
		return 0;
	}
	randombytes_buf(aq.id, sizeof(aq.id));
	snprintf(aq.verb, sizeof(aq.verb), "%s", verb);
	memcpy(aq.pseudo, q->pseudo, sizeof(aq.pseudo));
	off = (size_t)snprintf(aq.text, sizeof(aq.text), "keten audit %s", verb);
	for (int i = 2; i < argc && off < sizeof(aq.text); i++) {
		const char *a = argv[i];
		bool secret = i > 2 && (strcmp(argv[i - 1], "--case-ref") == 0 ||
		    strcmp(argv[i - 1], "--network-key") == 0);
		bool shown = true;
		for (const char *c = a; *c; c++)
			shown = shown && (unsigned char)*c >= 0x20 && (unsigned char)*c <= 0x7e;
		if (strncmp(a, "--case-ref=", 11) == 0 || strncmp(a, "--network-key=", 14) == 0)
			secret = true;
		off += (size_t)snprintf(aq.text + off, sizeof(aq.text) - off, " %s",
		    secret ? "(withheld)" : shown ? a : "(unprintable)");
	}
	if (off >= sizeof(aq.text))
		aq.text[sizeof(aq.text) - 1] = '\0';
	if (auditspool_log(data, &aq, AUDIT_LOG_WAIT_MS, err) != 0) {
		fprintf(stderr, "keten audit: %s\n", err);
		return -1;
	}
	return 0;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "ledger", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "origin", required_argument, NULL, 'o' },
		{ "after", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "message", required_argument, NULL, 'M' },
		{ "case", required_argument, NULL, 'C' },
		{ "case-ref", required_argument, NULL, 'R' },
		{ "case-sender", required_argument, NULL, 'S' },
		{ "network-key", required_argument, NULL, 'N' },
		{ "sender", required_argument, NULL, 's' },
		{ "recipient", required_argument, NULL, 'r' },
		{ "rule", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 'b' },
		{ "until", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'F' },
		{ "kind", required_argument, NULL, 'K' },
		{ "type", required_argument, NULL, 'T' },
		{ "seq", required_argument, NULL, 'Q' },
		{ "directory", required_argument, NULL, 'D' },
		{ "size", required_argument, NULL, 'Z' },
		{ "consistency", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *key = NULL, *origin = "keten.local/ledger", *verb;
	uint64_t after = 0, limit = UINT64_MAX;
	bool has_after = false;
	struct query q = { .has_msg = false };
	const char *caseref = NULL, *casesender = NULL, *netkey = NULL, *format = NULL;
	uint64_t pseq = UINT64_MAX, psize = 0, pold = 0;
	bool pcons = false;
	uint8_t pk[32];
	char err[KETEN_ERRLEN];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi entries, cps;
	int ch, rc = EXIT_FAIL;

	if (argc < 2)
		return usage(stderr);
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return usage(stdout);
	optind = 2;
	while ((ch = getopt_long(argc, argv, "d:k:o:a:n:hM:C:R:S:N:s:r:u:b:e:F:K:T:Q:Z:Y:D:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': data = optarg; break;
		case 'k': key = optarg; break;
		case 'o': origin = optarg; break;
		case 'a': after = strtoull(optarg, NULL, 10); has_after = true; break;
		case 'n': limit = strtoull(optarg, NULL, 10); break;
		case 'M':
			if (uuid_parse(q.msgid, optarg) != 0)
				return usage(stderr);
			q.has_msg = true;
			break;
		case 'C':
			if (sodium_hex2bin(q.pseudo, 32, optarg, strlen(optarg), NULL, NULL, NULL) != 0 ||
			    strlen(optarg) != 64)
				return usage(stderr);
			q.has_case = true;
			break;
		case 'R': caseref = optarg; break;
		case 'F': format = optarg; break;
		case 'T': q.type = optarg; break;
		case 'Q': pseq = strtoull(optarg, NULL, 10); break;
		case 'D': {
			struct directory *d = NULL;
			if (directory_load(optarg, &d, err) != 0) {
				fprintf(stderr, "keten audit: %s\n", err);
				return EXIT_FAIL;
			}
			witness_dir = d;
			break;
		}
		case 'Z': psize = strtoull(optarg, NULL, 10); break;
		case 'Y': {
			unsigned long long o, nw;
			if (sscanf(optarg, "%llu,%llu", &o, &nw) != 2)
				return usage(stderr);
			pold = o;
			psize = nw;
			pcons = true;
			break;
		}
		case 'K': {
			char full[64];
			snprintf(full, sizeof(full), "KIND_%s", optarg);
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
			    &keten__ledger__v1__kind__descriptor, full);
			if (ev == NULL) {
				fprintf(stderr, "keten audit: unknown kind %s (ACCEPTED, REJECTED, DELIVERED, "
				    "EXPIRED, POLICY_ACTIVATED, DIRECTORY_CHANGED, KEY_REFUSED, AUDIT_QUERY,\n"
				    "VIOLATION_REPORTED)\n", optarg);
				return EXIT_USAGE;
			}
			q.kind = ev->value;
			break;
		}
		case 'S': casesender = optarg; break;
		case 'N': netkey = optarg; break;
		case 's': q.sender = optarg; break;
		case 'r': q.recipient = optarg; break;
		case 'u': q.rule = optarg; break;
		case 'b':
			if (parse_utc_time(optarg, &q.since) != 0)
				return usage(stderr);
			break;
		case 'e':
			if (parse_utc_time(optarg, &q.until) != 0)
				return usage(stderr);
			break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (strcmp(verb, "check-proof") == 0) {
		if (key == NULL || read_key(key, pk) != 0 || optind + 1 != argc)
			return usage(stderr);
		return check_proof(argv[optind], pk);
	}
	if (data == NULL || optind != argc)
		return usage(stderr);
	if (strcmp(verb, "verify") == 0 && (key == NULL || read_key(key, pk) != 0)) {
		fprintf(stderr, "keten audit: --key must be the broker's public key file or its "
		    "base64 signing_key\n");
		return EXIT_USAGE;
	}
	if (caseref != NULL && (casesender == NULL || netkey == NULL ||
	    pseudonym_from(&q, caseref, casesender, netkey) != 0)) {
		fprintf(stderr, "keten audit: --case-ref needs --case-sender and a readable "
		    "--network-key file\n");
		return EXIT_USAGE;
	}
	if (strcmp(verb, "report") == 0 && !q.has_case) {
		fprintf(stderr, "keten audit report: give --case-ref with --case-sender and "
		    "--network-key, or --case\n");
		return EXIT_USAGE;
	}
	if (log_query(data, verb, &q, argc, argv) != 0)
		return EXIT_FAIL;
	if (db_env_open_readonly(data, &env, err) != 0) {
		fprintf(stderr, "keten audit: %s\n", err);
		return EXIT_FAIL;
	}
	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
	    mdb_dbi_open(txn, "ledger", 0, &entries) != 0 ||
	    mdb_dbi_open(txn, "checkpoints", 0, &cps) != 0) {
		fprintf(stderr, "keten audit: %s holds no ledger\n", data);
		goto out;
	}
	if (strcmp(verb, "verify") == 0) {
		rc = verify(txn, entries, cps, origin, pk);
	} else if (strcmp(verb, "query") == 0) {
		rc = query(txn, entries, &q, limit);
	} else if (strcmp(verb, "report") == 0) {
		rc = report(txn, entries, &q);
	} else if (strcmp(verb, "prove") == 0) {
		MDB_val mk = { 11, "ledger_size" }, mv;
		MDB_dbi meta;
		uint64_t lsize = 0;
		if (mdb_dbi_open(txn, "meta", 0, &meta) == 0 && mdb_get(txn, meta, &mk, &mv) == 0 &&
		    mv.mv_size == 8)
			lsize = be64_get(mv.mv_data);
		if (psize == 0)
			psize = lsize;
		if ((!pcons && pseq == UINT64_MAX) || psize > lsize) {
			rc = usage(stderr);
			goto out;
		}
		rc = prove(txn, entries, cps, pseq, psize, pold, pcons);
	} else if (strcmp(verb, "stats") == 0) {
		rc = stats(txn, entries);
	} else if (strcmp(verb, "log") == 0 || (strcmp(verb, "export") == 0 && format != NULL &&
	    strcmp(format, "logboek") == 0)) {
		bool logboek = strcmp(verb, "export") == 0;
		MDB_cursor *cur;
		MDB_val k, v;
		uint8_t start[8];
		be64_put(start, has_after ? after + 1 : 0);
		k = (MDB_val){ 8, start };
		mdb_cursor_open(txn, entries, &cur);
		for (int op = MDB_SET_RANGE; limit > 0 && mdb_cursor_get(cur, &k, &v, op) == 0;
		    op = MDB_NEXT, limit--) {
			Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size,
			    v.mv_data);
			if (e == NULL)
				continue;
			json_t *j = logboek ? ledger_entry_logboek_json(e) : ledger_entry_json(e);
			char *s = json_dumps(j, JSON_COMPACT);
			printf("%s\n", s ? s : "{}");
			free(s);
			json_decref(j);
			keten__ledger__v1__entry__free_unpacked(e, NULL);
		}
		mdb_cursor_close(cur);
		rc = EXIT_OK;
	} else {
		rc = usage(stderr);
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	directory_free((struct directory **)&witness_dir);
	return rc;
}
