/* The audit ledger: entries, Merkle tree and checkpoints in LMDB. */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "ledger/checkpoint.h"
#include "common/db.h"
#include "ledger/ledgerindex.h"
#include "ledger/merkle.h"
#include "common/util.h"

struct ledger {
	MDB_dbi entries, tree, checkpoints, cosigs, index, meta;
	char *origin;
};

struct tree_ctx {
	struct ledger *l;
	MDB_txn *txn;
};

static int
tree_get(void *arg, unsigned level, uint64_t index, merkle_hash out)
{
	struct tree_ctx *c = arg;

	return ltree_get(c->txn, c->l->tree, level, index, out);
}

static int
tree_put(void *arg, unsigned level, uint64_t index, const merkle_hash h)
{
	struct tree_ctx *c = arg;
	uint8_t key[LTREE_KEYBYTES];
	MDB_val k = { LTREE_KEYBYTES, key }, v = { MERKLE_HASHBYTES, (void *)h };

	ltree_key(key, level, index);
	return mdb_put(c->txn, c->l->tree, &k, &v, 0) == 0 ? 0 : -1;
}

/*
 * meta "indexed_upto": the entries below it have all their secondary index
 * keys (ledger_index_catchup).  A ledger without it was indexed entry by
 * entry as it was written: all of it.
 */
static int
indexed_init(struct ledger *l, MDB_txn *txn)
{
	MDB_val k = { 12, "indexed_upto" }, v, sk = { 11, "ledger_size" }, sv;
	uint8_t b[8];

	if (mdb_get(txn, l->meta, &k, &v) == 0)
		return 0;
	be64_put(b, mdb_get(txn, l->meta, &sk, &sv) == 0 && sv.mv_size == 8 ? be64_get(sv.mv_data) : 0);
	v = (MDB_val){ 8, b };
	return mdb_put(txn, l->meta, &k, &v, 0);
}

int
ledger_open(MDB_env *env, const char *origin, struct ledger **out, char err[static KETEN_ERRLEN])
{
	struct ledger *l;
	MDB_txn *txn = NULL;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL || (l->origin = strdup(origin)) == NULL) {
		free(l);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, "ledger", MDB_CREATE, &l->entries)) ||
	    (rc = mdb_dbi_open(txn, "ledger_tree", MDB_CREATE, &l->tree)) ||
	    (rc = mdb_dbi_open(txn, "checkpoints", MDB_CREATE, &l->checkpoints)) ||
	    (rc = mdb_dbi_open(txn, "cosignatures", MDB_CREATE, &l->cosigs)) ||
	    (rc = mdb_dbi_open(txn, "ledger_index", MDB_CREATE, &l->index)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &l->meta)) ||
	    (rc = indexed_init(l, txn)) ||
	    (rc = mdb_txn_commit(txn))) {
		if (rc != 0 && txn != NULL)
			mdb_txn_abort(txn);
		free(l->origin);
		free(l);
		return keten_seterr(err, db_err(rc), "ledger: %s", mdb_strerror(rc));
	}
	*out = l;
	return 0;
}

void
ledger_free(struct ledger **l)
{
	if (l == NULL || *l == NULL)
		return;
	free((*l)->origin);
	free(*l);
	*l = NULL;
}

uint64_t
ledger_size(struct ledger *l, MDB_txn *txn)
{
	MDB_val k = { 11, "ledger_size" }, v;

	if (mdb_get(txn, l->meta, &k, &v) != 0 || v.mv_size != 8)
		return 0;
	return be64_get(v.mv_data);
}

static int
index_put(struct ledger *l, MDB_txn *txn, int kind, const void *value, size_t len, int text,
    uint64_t seq)
{
	uint8_t key[LIDX_MAXKEY];
	size_t n;

	if (len == 0 || (n = lidx_prefix(key, kind, value, len, text)) == 0)
		return 0;	/* nothing to index (or an id too long to: still in the ledger) */
	be64_put(key + n, seq);
	MDB_val k = { n + 8, key }, v = { 0, "" };
	return db_err(mdb_put(txn, l->index, &k, &v, 0));
}

/*
 * The secondary indexes of entry e but the message id's (written with the
 * entry: reply_to and the links between cases ask it in the commit that
 * appends): written in bulk off the path an acknowledgement waits for
 * (ledger_index_catchup); a reader scans the entries not yet indexed.
 */
static int
index_deferred(struct ledger *l, MDB_txn *txn, const Keten__Ledger__V1__Entry *e)
{
	uint8_t t[8];
	int rc;

	be64_put(t, (uint64_t)e->time_ms);
	if ((rc = index_put(l, txn, LIDX_CASE, e->case_pseudonym.data, e->case_pseudonym.len, 0,
	    e->seq)) || (rc = index_put(l, txn, LIDX_SENDER, e->sender, strlen(e->sender), 1,
	    e->seq)) || (rc = index_put(l, txn, LIDX_RECIPIENT, e->recipient, strlen(e->recipient), 1,
	    e->seq)) || (rc = index_put(l, txn, LIDX_TIME, t, 8, 0, e->seq)))
		return rc;
	for (size_t i = 0; i < e->n_rule_ids; i++)
		if ((rc = index_put(l, txn, LIDX_RULE, e->rule_ids[i], strlen(e->rule_ids[i]), 1,
		    e->seq)) != 0)
			return rc;
	/* a reply that links two cases is found by either (keten audit report) */
	if (e->linked_case.len == 32 && (rc = index_put(l, txn, LIDX_CASE, e->linked_case.data,
	    e->linked_case.len, 0, e->seq)) != 0)
		return rc;
	return 0;
}

/* (see ledger.h) */
int
ledger_message_walk(struct ledger *l, MDB_txn *txn, const uint8_t id[static 16],
    bool (*match)(const Keten__Ledger__V1__Entry *, void *), void *arg)
{
	uint8_t key[LIDX_MAXKEY];
	size_t n = lidx_prefix(key, LIDX_MESSAGE, id, 16, 0);
	MDB_cursor *cur;
	MDB_val k = { n, key }, v;
	int rc, found = 0;

	if (mdb_cursor_open(txn, l->index, &cur) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && found == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != n + 8 || memcmp(k.mv_data, key, n) != 0)
			break;	/* past this message's entries */
		uint8_t sk[8];
		memcpy(sk, (uint8_t *)k.mv_data + n, 8);
		MDB_val ek = { 8, sk }, ev;
		Keten__Ledger__V1__Entry *e;
		if (mdb_get(txn, l->entries, &ek, &ev) != 0 ||
		    (e = keten__ledger__v1__entry__unpack(NULL, ev.mv_size, ev.mv_data)) == NULL) {
			found = -1;	/* an index pointing at nothing readable */
			break;
		}
		found = match(e, arg);
		keten__ledger__v1__entry__free_unpacked(e, NULL);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND && found == 0)
		return -1;
	return found;
}

struct request_match {
	const char *type, *from, *to;
	int64_t since_ms;
};

static bool
is_request(const Keten__Ledger__V1__Entry *e, void *arg)
{
	const struct request_match *m = arg;

	return e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED && e->time_ms >= m->since_ms &&
	    strcmp(e->message_type, m->type) == 0 && strcmp(e->sender, m->from) == 0 &&
	    strcmp(e->recipient, m->to) == 0;
}

int
ledger_request_logged(struct ledger *l, MDB_txn *txn, const uint8_t request_id[static 16],
    const char *type, const char *from, const char *to, int64_t since_ms)
{
	struct request_match m = { type, from, to, since_ms };

	return ledger_message_walk(l, txn, request_id, is_request, &m);
}

static bool
is_kind(const Keten__Ledger__V1__Entry *e, void *arg)
{
	return (int)e->kind == *(const int *)arg;
}

int
ledger_message_logged(struct ledger *l, MDB_txn *txn, const uint8_t id[static 16], int kind)
{
	return ledger_message_walk(l, txn, id, is_kind, &kind);
}

int
ledger_append(struct ledger *l, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	uint64_t seq = ledger_size(l, txn);
	uint8_t key[8], sz[8];
	merkle_hash leaf;
	struct tree_ctx tc = { l, txn };
	struct merkle_store st = { tree_get, tree_put, &tc };
	int rc;

	e->seq = seq;
	be64_put(key, seq);
	MDB_val k = { 8, key }, v = { keten__ledger__v1__entry__get_packed_size(e), NULL };
	if ((rc = mdb_put(txn, l->entries, &k, &v, MDB_RESERVE | MDB_APPEND)) != 0)
		return db_err(rc);
	keten__ledger__v1__entry__pack(e, v.mv_data);
	/* the leaf is the hash of exactly the stored bytes */
	merkle_leaf_hash(leaf, v.mv_data, v.mv_size);
	if (merkle_append(&st, seq, leaf) != 0)
		return KETEN_EFULL;	/* a put failed: LMDB is full (or worse); the caller aborts */
	if ((rc = index_put(l, txn, LIDX_MESSAGE, e->message_id.data, e->message_id.len, 0,
	    seq)) != 0)
		return rc;
	be64_put(sz, seq + 1);
	MDB_val mk = { 11, "ledger_size" }, mv = { 8, sz };
	return db_err(mdb_put(txn, l->meta, &mk, &mv, 0));
}

int
ledger_checkpoint(struct ledger *l, MDB_txn *txn, const struct keten_keys *keys)
{
	uint64_t size = ledger_size(l, txn);
	uint8_t key[8];
	merkle_hash root;
	struct tree_ctx tc = { l, txn };
	struct merkle_store st = { tree_get, tree_put, &tc };
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (size == 0)
		return 0;
	/* only when the ledger grew since the newest checkpoint */
	if ((rc = mdb_cursor_open(txn, l->checkpoints, &cur)) != 0)
		return db_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == 0 && k.mv_size == 8 && be64_get(k.mv_data) == size)
		return 0;
	if (merkle_root(&st, size, root) != 0)
		return KETEN_EDB;
	char *note = checkpoint_sign(l->origin, size, root, keys->sign_sk, keys->sign_pk);
	if (note == NULL)
		return KETEN_ENOMEM;
	be64_put(key, size);
	k = (MDB_val){ 8, key };
	v = (MDB_val){ strlen(note), note };
	rc = db_err(mdb_put(txn, l->checkpoints, &k, &v, MDB_APPEND));
	free(note);
	return rc;
}

int
ledger_receipt(struct ledger *l, MDB_txn *txn, uint64_t seq, Keten__Wire__V1__Receipt *r)
{
	uint64_t size = ledger_size(l, txn);
	uint8_t key[8];
	merkle_hash proof[MERKLE_MAX_PROOF];
	struct tree_ctx tc = { l, txn };
	struct merkle_store st = { tree_get, tree_put, &tc };
	MDB_val k = { 8, key }, v;
	size_t n;

	keten__wire__v1__receipt__init(r);
	if (seq >= size)
		return KETEN_EINVAL;
	be64_put(key, seq);
	if (mdb_get(txn, l->entries, &k, &v) != 0)
		return KETEN_EDB;
	if ((r->entry.data = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
		return KETEN_ENOMEM;
	memcpy(r->entry.data, v.mv_data, v.mv_size);
	r->entry.len = v.mv_size;
	be64_put(key, size);
	if (mdb_get(txn, l->checkpoints, &k, &v) != 0 ||
	    (r->checkpoint = strndup(v.mv_data, v.mv_size)) == NULL ||
	    merkle_inclusion_proof(&st, seq, size, proof, &n) != 0 ||
	    (r->inclusion_proof = calloc(n ? n : 1, sizeof(ProtobufCBinaryData))) == NULL ||
	    (n && (r->inclusion_proof[0].data = malloc(n * MERKLE_HASHBYTES)) == NULL)) {
		ledger_receipt_clear(r);
		return KETEN_EDB;
	}
	for (size_t i = 0; i < n; i++) {
		r->inclusion_proof[i] = (ProtobufCBinaryData){ MERKLE_HASHBYTES,
		    r->inclusion_proof[0].data + i * MERKLE_HASHBYTES };
		memcpy(r->inclusion_proof[i].data, proof[i], MERKLE_HASHBYTES);
	}
	r->n_inclusion_proof = n;
	r->seq = seq;
	return 0;
}

void
ledger_receipt_clear(Keten__Wire__V1__Receipt *r)
{
	free(r->entry.data);
	free(r->checkpoint);
	if (r->inclusion_proof != NULL)
		free(r->inclusion_proof[0].data);
	free(r->inclusion_proof);
	keten__wire__v1__receipt__init(r);
}

char *
ledger_checkpoint_note(struct ledger *l, MDB_txn *txn, uint64_t size)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;

	be64_put(key, size);
	if (mdb_get(txn, l->checkpoints, &k, &v) != 0)
		return NULL;
	return strndup(v.mv_data, v.mv_size);
}

int
ledger_challenge(struct ledger *l, MDB_txn *txn, uint64_t old_size,
    Keten__Wire__V1__WitnessChallenge *c)
{
	uint64_t size = ledger_size(l, txn);
	merkle_hash proof[MERKLE_MAX_PROOF];
	struct tree_ctx tc = { l, txn };
	struct merkle_store st = { tree_get, tree_put, &tc };
	size_t n = 0;

	keten__wire__v1__witness_challenge__init(c);
	if (old_size > size)
		return KETEN_EINVAL;
	if (size == 0 || (c->checkpoint = ledger_checkpoint_note(l, txn, size)) == NULL)
		return KETEN_ENOTFOUND;
	c->old_size = old_size;
	if (old_size > 0 && old_size < size && merkle_consistency_proof(&st, old_size, size, proof, &n) != 0) {
		ledger_challenge_clear(c);
		return KETEN_EDB;
	}
	if (n > 0) {
		uint8_t *buf = malloc(n * MERKLE_HASHBYTES);
		if (buf == NULL || (c->consistency_proof = calloc(n, sizeof(ProtobufCBinaryData))) == NULL) {
			free(buf);
			ledger_challenge_clear(c);
			return KETEN_ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			memcpy(buf + i * MERKLE_HASHBYTES, proof[i], MERKLE_HASHBYTES);
			c->consistency_proof[i] = (ProtobufCBinaryData){ MERKLE_HASHBYTES,
			    buf + i * MERKLE_HASHBYTES };
		}
		c->n_consistency_proof = n;
	}
	return 0;
}

void
ledger_challenge_clear(Keten__Wire__V1__WitnessChallenge *c)
{
	free(c->checkpoint);
	if (c->n_consistency_proof > 0)
		free(c->consistency_proof[0].data);
	free(c->consistency_proof);
	keten__wire__v1__witness_challenge__init(c);
}

int
ledger_cosign_put(struct ledger *l, MDB_txn *txn, uint64_t size, const char *agency,
    const char *line)
{
	uint8_t key[8 + 64];
	size_t al = strlen(agency);

	if (al > 63)
		return KETEN_EINVAL;
	be64_put(key, size);
	memcpy(key + 8, agency, al);
	MDB_val k = { 8 + al, key }, v = { strlen(line), (void *)line };
	return db_err(mdb_put(txn, l->cosigs, &k, &v, 0));
}

uint64_t
ledger_indexed_upto(struct ledger *l, MDB_txn *txn)
{
	MDB_val k = { 12, "indexed_upto" }, v;

	if (mdb_get(txn, l->meta, &k, &v) != 0 || v.mv_size != 8)
		return 0;
	return be64_get(v.mv_data);
}

int
ledger_index_reset(struct ledger *l, MDB_txn *txn, uint64_t *entries)
{
	uint64_t size = ledger_size(l, txn);
	uint8_t key[8], b[8];
	int rc;

	if ((rc = mdb_drop(txn, l->index, 0)) != 0)
		return db_err(rc);
	for (uint64_t seq = 0; seq < size; seq++) {
		be64_put(key, seq);
		MDB_val k = { 8, key }, v;
		if ((rc = mdb_get(txn, l->entries, &k, &v)) != 0)
			return db_err(rc);
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size,
		    v.mv_data);
		if (e == NULL)
			continue;	/* not an entry (audit verify says which) */
		rc = index_put(l, txn, LIDX_MESSAGE, e->message_id.data, e->message_id.len, 0, seq);
		keten__ledger__v1__entry__free_unpacked(e, NULL);
		if (rc != 0)
			return rc;
	}
	*entries = size;
	be64_put(b, 0);
	MDB_val k = { 12, "indexed_upto" }, v = { 8, b };
	return db_err(mdb_put(txn, l->meta, &k, &v, 0));
}

int
ledger_index_catchup(struct ledger *l, MDB_txn *txn, uint64_t max, uint64_t *done)
{
	uint64_t upto = ledger_indexed_upto(l, txn), size = ledger_size(l, txn), n = 0;
	uint8_t key[8], b[8];
	int rc = 0;

	for (; upto + n < size && n < max && rc == 0; n++) {
		be64_put(key, upto + n);
		MDB_val k = { 8, key }, v;
		if ((rc = mdb_get(txn, l->entries, &k, &v)) != 0) {
			rc = db_err(rc);
			break;
		}
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, v.mv_size,
		    v.mv_data);
		if (e == NULL)
			continue;	/* not an entry (audit verify says which): nothing to index */
		rc = index_deferred(l, txn, e);
		keten__ledger__v1__entry__free_unpacked(e, NULL);
	}
	if (rc != 0)
		return rc;
	*done = n;
	be64_put(b, upto + n);
	MDB_val k = { 12, "indexed_upto" }, v = { 8, b };
	return db_err(mdb_put(txn, l->meta, &k, &v, 0));
}
