/* The audit ledger read-only (ledger/reader.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "common/util.h"
#include "ledger/checkpoint.h"
#include "ledger/ledgerindex.h"
#include "ledger/proof.h"
#include "ledger/reader.h"

struct ledger_reader {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi entries, cps, tree, index, cos, meta;
	bool has_tree, has_index, has_cos, has_meta;
};

int
ledger_reader_open(const char *dir, struct ledger_reader **out, char err[static KETEN_ERRLEN])
{
	struct ledger_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	if ((rc = db_env_open_readonly(dir, &r->env, err)) != 0) {
		free(r);
		return rc;
	}
	if (mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn) != 0 ||
	    mdb_dbi_open(r->txn, "ledger", 0, &r->entries) != 0 ||
	    mdb_dbi_open(r->txn, "checkpoints", 0, &r->cps) != 0) {
		ledger_reader_free(&r);
		return keten_seterr(err, KETEN_ENOTFOUND, "%s holds no ledger", dir);
	}
	r->has_tree = mdb_dbi_open(r->txn, "ledger_tree", 0, &r->tree) == 0;
	r->has_index = mdb_dbi_open(r->txn, "ledger_index", 0, &r->index) == 0;
	r->has_cos = mdb_dbi_open(r->txn, "cosignatures", 0, &r->cos) == 0;
	r->has_meta = mdb_dbi_open(r->txn, "meta", 0, &r->meta) == 0;
	*out = r;
	return 0;
}

void
ledger_reader_free(struct ledger_reader **rp)
{
	struct ledger_reader *r;

	if (rp == NULL || (r = *rp) == NULL)
		return;
	if (r->txn != NULL)
		mdb_txn_abort(r->txn);
	mdb_env_close(r->env);
	free(r);
	*rp = NULL;
}

uint64_t
ledger_reader_size(const struct ledger_reader *r)
{
	MDB_val k = { 11, "ledger_size" }, v;

	if (r->has_meta && mdb_get(r->txn, r->meta, &k, &v) == 0 && v.mv_size == 8)
		return be64_get(v.mv_data);
	return 0;
}

int
ledger_reader_walk(struct ledger_reader *r, uint64_t from,
    int (*fn)(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t start[8];
	int stop = 0;

	be64_put(start, from);
	k = (MDB_val){ 8, start };
	if (mdb_cursor_open(r->txn, r->entries, &cur) != 0)
		return -1;
	for (int op = MDB_SET_RANGE; !stop && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size,
		    v.mv_data);
		stop = fn(arg, k.mv_size == 8 ? be64_get(k.mv_data) : UINT64_MAX, e);
		if (e != NULL)
			keten__ledger__v1__entry__free_unpacked(e, NULL);
	}
	mdb_cursor_close(cur);
	return 0;
}

/* The index key prefix q selects (and how much of it a cursor seeks with). */
static size_t
query_prefix(const struct ledger_query *q, uint8_t key[static LIDX_MAXKEY], size_t *seek)
{
	uint8_t t[8];
	size_t plen;

	if (q->message_id != NULL)
		plen = lidx_prefix(key, LIDX_MESSAGE, q->message_id, 16, 0);
	else if (q->case_pseudonym != NULL)
		plen = lidx_prefix(key, LIDX_CASE, q->case_pseudonym, 32, 0);
	else if (q->rule)
		plen = lidx_prefix(key, LIDX_RULE, q->rule, strlen(q->rule), 1);
	else if (q->recipient)
		plen = lidx_prefix(key, LIDX_RECIPIENT, q->recipient, strlen(q->recipient), 1);
	else if (q->sender)
		plen = lidx_prefix(key, LIDX_SENDER, q->sender, strlen(q->sender), 1);
	else {
		be64_put(t, (uint64_t)q->since);
		lidx_prefix(key, LIDX_TIME, t, 8, 0);
		*seek = 9;
		return 1;	/* the time index is ordered: start at `since` */
	}
	*seek = plen;
	return plen;
}

/* Does e hold what the index the query walks (query_prefix) holds it under? */
static bool
tail_match(const struct ledger_query *q, const Keten__Ledger__V1__Entry *e)
{
	if (q->case_pseudonym != NULL)
		return (e->case_pseudonym.len == 32 && memcmp(e->case_pseudonym.data,
		    q->case_pseudonym, 32) == 0) || (e->linked_case.len == 32 &&
		    memcmp(e->linked_case.data, q->case_pseudonym, 32) == 0);
	if (q->rule) {
		for (size_t i = 0; i < e->n_rule_ids; i++)
			if (strcmp(e->rule_ids[i], q->rule) == 0)
				return true;
		return false;
	}
	if (q->recipient)
		return strcmp(e->recipient, q->recipient) == 0;
	if (q->sender)
		return strcmp(e->sender, q->sender) == 0;
	return e->time_ms >= q->since;	/* the time index: `until` ends the walk */
}

/* The query over the entries from meta "indexed_upto" on, in order. */
static void
query_tail(struct ledger_reader *r, const struct ledger_query *q,
    int (*fn)(void *arg, const Keten__Ledger__V1__Entry *e), void *arg, uint64_t *looked)
{
	MDB_val k = { 12, "indexed_upto" }, v;
	uint64_t from, size = ledger_reader_size(r);
	uint8_t key[8];
	MDB_cursor *cur;

	if (!r->has_meta || mdb_get(r->txn, r->meta, &k, &v) != 0 || v.mv_size != 8)
		return;		/* a ledger indexed entry by entry as it was written */
	if ((from = be64_get(v.mv_data)) >= size || mdb_cursor_open(r->txn, r->entries, &cur) != 0)
		return;
	be64_put(key, from);
	k = (MDB_val){ 8, key };
	for (int op = MDB_SET_RANGE; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		if (k.mv_size != 8 || be64_get(k.mv_data) >= size)
			break;
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size,
		    v.mv_data);
		if (e == NULL)
			continue;
		(*looked)++;
		int stop = 0;
		if (tail_match(q, e))
			stop = q->until && e->time_ms >= q->until && !q->case_pseudonym && !q->rule &&
			    !q->recipient && !q->sender ? 1 : fn(arg, e);
		keten__ledger__v1__entry__free_unpacked(e, NULL);
		if (stop)
			break;
	}
	mdb_cursor_close(cur);
}

int
ledger_reader_query(struct ledger_reader *r, const struct ledger_query *q,
    int (*fn)(void *arg, const Keten__Ledger__V1__Entry *e), void *arg, uint64_t *looked)
{
	MDB_cursor *cur;
	uint8_t key[LIDX_MAXKEY];
	size_t seek, plen;

	*looked = 0;
	if (!r->has_index)
		return KETEN_ENOTFOUND;
	if ((plen = query_prefix(q, key, &seek)) == 0)
		return KETEN_EINVAL;
	MDB_val k = { seek, key }, v;
	if (mdb_cursor_open(r->txn, r->index, &cur) != 0)
		return KETEN_EDB;
	for (int op = MDB_SET_RANGE; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		if (k.mv_size < plen + 8 || memcmp(k.mv_data, key, plen) != 0)
			break;
		uint8_t sk[8];
		memcpy(sk, (uint8_t *)k.mv_data + k.mv_size - 8, 8);
		MDB_val ek = { 8, sk }, ev;
		(*looked)++;
		if (mdb_get(r->txn, r->entries, &ek, &ev) != 0)
			continue;
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, ev.mv_size,
		    ev.mv_data);
		if (e == NULL)
			continue;
		int stop = plen == 1 && q->until && e->time_ms >= q->until ? 1 : fn(arg, e);
		keten__ledger__v1__entry__free_unpacked(e, NULL);
		if (stop) {
			mdb_cursor_close(cur);
			return 0;
		}
	}
	mdb_cursor_close(cur);
	/* the entries the broker has not indexed yet (all but the message id's
	 * keys are written in bulk, after the commit: ledger_index_catchup) */
	if (q->message_id == NULL)
		query_tail(r, q, fn, arg, looked);
	return 0;
}

char *
ledger_reader_note(struct ledger_reader *r, uint64_t size)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;

	be64_put(key, size);
	if (mdb_get(r->txn, r->cps, &k, &v) != 0)
		return NULL;
	return strndup(v.mv_data, v.mv_size);
}

int
ledger_reader_cosignatures(struct ledger_reader *r,
    void (*fn)(void *arg, uint64_t size, const char *agency, const char *line, const char *note),
    void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;

	if (!r->has_cos || mdb_cursor_open(r->txn, r->cos, &cur) != 0)
		return -1;	/* an older ledger without witnesses */
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		char who[64];
		if (k.mv_size <= 8 || k.mv_size - 8 >= sizeof(who))
			continue;
		snprintf(who, sizeof(who), "%.*s", (int)(k.mv_size - 8), (char *)k.mv_data + 8);
		uint64_t size = be64_get(k.mv_data);
		char *line = strndup(v.mv_data, v.mv_size), *note = ledger_reader_note(r, size);
		fn(arg, size, who, line, note);
		free(line);
		free(note);
	}
	mdb_cursor_close(cur);
	return 0;
}

/*
 * Which entry was altered?  The stored leaf hashes (which the check itself
 * never trusts) were written when each entry was appended: the first entry
 * whose bytes no longer hash to its leaf is the one.  Appended to msg.
 */
static void
name_bad_entry(struct ledger_reader *r, uint64_t upto, char *msg, size_t len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t expect = 0;
	size_t off = strlen(msg);

	if (!r->has_tree || mdb_cursor_open(r->txn, r->entries, &cur) != 0) {
		snprintf(msg + off, len - off, "\n");
		return;
	}
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0 && expect < upto;
	    op = MDB_NEXT, expect++) {
		merkle_hash leaf, logged;
		uint64_t seq = k.mv_size == 8 ? be64_get(k.mv_data) : UINT64_MAX;
		if (seq != expect) {
			snprintf(msg + off, len - off, "; entry %llu is missing\n",
			    (unsigned long long)expect);
			mdb_cursor_close(cur);
			return;
		}
		merkle_leaf_hash(leaf, v.mv_data, v.mv_size);
		if (ltree_get(r->txn, r->tree, 0, seq, logged) == 0 && sodium_memcmp(leaf, logged, 32) != 0) {
			snprintf(msg + off, len - off, "; entry %llu is not what was logged\n",
			    (unsigned long long)seq);
			mdb_cursor_close(cur);
			return;
		}
	}
	mdb_cursor_close(cur);
	snprintf(msg + off, len - off, "\n");
}

/* One checkpoint reached at size f->size: signed by pk, and its root that of the entries. */
static int
check_checkpoint(struct ledger_reader *r, const MDB_val *cv, const char *origin,
    const uint8_t pk[static 32], const struct merkle_frontier *f, char msg[static LEDGER_MSGLEN])
{
	uint64_t size;
	merkle_hash root, mine;
	char err[KETEN_ERRLEN], *note = strndup(cv->mv_data, cv->mv_size);

	if (note == NULL || checkpoint_verify(note, origin, pk, &size, root, err) != 0) {
		snprintf(msg, LEDGER_MSGLEN, "FAIL checkpoint %llu: %s\n", (unsigned long long)f->size,
		    note ? err : "out of memory");
		free(note);
		return -1;
	}
	free(note);
	merkle_frontier_root(f, mine);
	if (size != f->size || sodium_memcmp(root, mine, 32) != 0) {
		snprintf(msg, LEDGER_MSGLEN, "FAIL checkpoint %llu: its root is not the hash of the "
		    "entries 0..%llu as stored: the ledger was altered", (unsigned long long)size,
		    (unsigned long long)f->size - 1);
		name_bad_entry(r, f->size, msg, LEDGER_MSGLEN);
		return -1;
	}
	return 0;
}

/* Entry k/v is the next one (f->size), a ledger entry with that seq: appended to f. */
static int
rehash_entry(const MDB_val *k, const MDB_val *v, struct merkle_frontier *f,
    char msg[static LEDGER_MSGLEN])
{
	merkle_hash leaf;

	if (k->mv_size != 8) {
		snprintf(msg, LEDGER_MSGLEN, "FAIL a record with a %zu-byte key, which is no entry "
		    "number, lies where entry %llu should be: the ledger was altered\n", k->mv_size,
		    (unsigned long long)f->size);
		return -1;
	}
	if (be64_get(k->mv_data) != f->size) {
		uint64_t next = be64_get(k->mv_data);
		if (next == f->size + 1)
			snprintf(msg, LEDGER_MSGLEN, "FAIL entry %llu: missing (entry %llu follows entry "
			    "%llu)\n", (unsigned long long)f->size, (unsigned long long)next,
			    (unsigned long long)f->size - (f->size > 0));
		else
			snprintf(msg, LEDGER_MSGLEN, "FAIL entry %llu: missing, with the %llu after it "
			    "(the next stored is entry %llu)\n", (unsigned long long)f->size,
			    (unsigned long long)(next - f->size - 1), (unsigned long long)next);
		return -1;
	}
	Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v->mv_size, v->mv_data);
	if (e == NULL || e->seq != f->size) {
		snprintf(msg, LEDGER_MSGLEN, "FAIL entry %llu: not a ledger entry, or its seq is "
		    "wrong\n", (unsigned long long)f->size);
		if (e)
			keten__ledger__v1__entry__free_unpacked(e, NULL);
		return -1;
	}
	keten__ledger__v1__entry__free_unpacked(e, NULL);
	merkle_leaf_hash(leaf, v->mv_data, v->mv_size);	/* rehash, never trust stored hashes */
	merkle_frontier_append(f, leaf);
	return 0;
}

int
ledger_reader_verify(struct ledger_reader *r, const char *origin, const uint8_t pk[static 32],
    char msg[static LEDGER_MSGLEN])
{
	struct merkle_frontier f = { .size = 0 };
	MDB_cursor *ec = NULL, *cc = NULL;
	MDB_val k, v, ck, cv;
	uint64_t checked = 0, last_size = 0;
	int erc, crc, rc = KETEN_EINVAL;

	msg[0] = '\0';
	if (mdb_cursor_open(r->txn, r->entries, &ec) != 0 ||
	    mdb_cursor_open(r->txn, r->cps, &cc) != 0) {
		snprintf(msg, LEDGER_MSGLEN, "FAIL the ledger cannot be read\n");
		goto out;
	}
	crc = mdb_cursor_get(cc, &ck, &cv, MDB_FIRST);
	for (erc = mdb_cursor_get(ec, &k, &v, MDB_FIRST); ; erc = mdb_cursor_get(ec, &k, &v, MDB_NEXT)) {
		/* every checkpoint whose size we have reached */
		while (crc == 0 && ck.mv_size == 8 && be64_get(ck.mv_data) == f.size) {
			if (check_checkpoint(r, &cv, origin, pk, &f, msg) != 0)
				goto out;
			checked++;
			last_size = f.size;
			crc = mdb_cursor_get(cc, &ck, &cv, MDB_NEXT);
		}
		if (erc != 0)
			break;
		if (rehash_entry(&k, &v, &f, msg) != 0)
			goto out;
	}
	if (crc == 0) {
		/* the newest checkpoint says how many there were */
		MDB_val lk = ck, lv;
		if (mdb_cursor_get(cc, &lk, &lv, MDB_LAST) != 0)
			lk = ck;
		uint64_t had = lk.mv_size == 8 ? be64_get(lk.mv_data) : 0;
		char which[64];
		if (had == f.size + 1)
			snprintf(which, sizeof(which), "entry %llu was", (unsigned long long)f.size);
		else
			snprintf(which, sizeof(which), "entries %llu to %llu were",
			    (unsigned long long)f.size, (unsigned long long)had - 1);
		if (had > f.size)
			snprintf(msg, LEDGER_MSGLEN, "FAIL the newest checkpoint covers %llu entries but "
			    "%llu are stored: %s removed\n", (unsigned long long)had,
			    (unsigned long long)f.size, which);
		else
			snprintf(msg, LEDGER_MSGLEN, "FAIL a checkpoint record with a %zu-byte key, which "
			    "is no ledger size: the ledger was altered\n", ck.mv_size);
		goto out;
	}
	if (last_size != f.size) {
		snprintf(msg, LEDGER_MSGLEN, "FAIL %llu entries after the newest checkpoint (%llu)\n",
		    (unsigned long long)(f.size - last_size), (unsigned long long)last_size);
		goto out;
	}
	merkle_hash root;
	char hex[65];
	merkle_frontier_root(&f, root);
	sodium_bin2hex(hex, sizeof(hex), root, 32);
	snprintf(msg, LEDGER_MSGLEN, "ledger OK: %llu entries rehashed, %llu signed checkpoints "
	    "verified; newest: size %llu, root %s\n", (unsigned long long)f.size,
	    (unsigned long long)checked, (unsigned long long)last_size, hex);
	rc = 0;
out:
	if (ec != NULL)
		mdb_cursor_close(ec);
	if (cc != NULL)
		mdb_cursor_close(cc);
	return rc;
}

/* Perfect-subtree hashes from the broker's stored tree, for proofs. */
static int
tree_get(void *arg, unsigned level, uint64_t index, merkle_hash out)
{
	struct ledger_reader *r = arg;

	return ltree_get(r->txn, r->tree, level, index, out);
}

static int
tree_put(void *arg, unsigned level, uint64_t index, const merkle_hash h)
{
	(void)arg, (void)level, (void)index, (void)h;
	return -1;	/* read-only */
}

int
ledger_reader_prove(struct ledger_reader *r, uint64_t seq, uint64_t size, uint64_t old,
    bool consistency, FILE *f, char err[static KETEN_ERRLEN])
{
	struct merkle_store st = { tree_get, tree_put, r };
	struct proof p = { .inclusion = !consistency, .first = consistency ? old : seq,
	    .second = size };
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	int rc = 0;

	if (!r->has_tree)
		return keten_seterr(err, KETEN_ENOTFOUND, "this ledger has no Merkle tree");
	be64_put(key, seq);
	if (!consistency) {
		if (seq >= size || (p.note[0] = ledger_reader_note(r, size)) == NULL ||
		    mdb_get(r->txn, r->entries, &k, &v) != 0 ||
		    merkle_inclusion_proof(&st, seq, size, p.hashes, &p.n) != 0)
			rc = keten_seterr(err, KETEN_ENOTFOUND, "no entry %llu in a checkpoint of "
			    "size %llu", (unsigned long long)seq, (unsigned long long)size);
		p.entry = v.mv_data;	/* in the read transaction, not to be freed */
		p.entry_len = v.mv_size;
	} else if (old == 0 || old > size || (p.note[0] = ledger_reader_note(r, old)) == NULL ||
	    (p.note[1] = ledger_reader_note(r, size)) == NULL ||
	    merkle_consistency_proof(&st, old, size, p.hashes, &p.n) != 0) {
		rc = keten_seterr(err, KETEN_ENOTFOUND, "no checkpoints %llu and %llu to prove "
		    "between", (unsigned long long)old, (unsigned long long)size);
	}
	if (rc == 0)
		proof_write(f, &p);
	free(p.note[0]);
	free(p.note[1]);
	return rc;
}
