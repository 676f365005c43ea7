/* Agent outbox and inbox in LMDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/store.h"
#include "common/db.h"
#include "common/util.h"
#include "common/wire.h"

struct store {
	MDB_dbi outbox, originals, inbox, inbox_ids, inbox_acked, sent, receipts, meta;
};

int
store_open(MDB_env *env, struct store **out, char err[static KETEN_ERRLEN])
{
	struct store *st;
	MDB_txn *txn = NULL;
	int rc;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, "outbox", MDB_CREATE, &st->outbox)) ||
	    (rc = mdb_dbi_open(txn, "originals", MDB_CREATE, &st->originals)) ||
	    (rc = mdb_dbi_open(txn, "inbox", MDB_CREATE, &st->inbox)) ||
	    (rc = mdb_dbi_open(txn, "inbox_ids", MDB_CREATE, &st->inbox_ids)) ||
	    (rc = mdb_dbi_open(txn, "inbox_acked", MDB_CREATE, &st->inbox_acked)) ||
	    (rc = mdb_dbi_open(txn, "sent", MDB_CREATE, &st->sent)) ||
	    (rc = mdb_dbi_open(txn, "receipts", MDB_CREATE, &st->receipts)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta))) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		free(st);
		return keten_seterr(err, db_err(rc), "store: %s", mdb_strerror(rc));
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		free(st);
		return keten_seterr(err, db_err(rc), "store: %s", mdb_strerror(rc));
	}
	*out = st;
	return 0;
}

void
store_free(struct store **st)
{
	if (st == NULL)
		return;
	free(*st);
	*st = NULL;
}

/* Read counter `name` from meta (starting at 1) and store it incremented. */
static int
next_counter(struct store *st, MDB_txn *txn, const char *name, uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	uint8_t buf[8];
	uint64_t n = 1;
	int rc;

	if ((rc = mdb_get(txn, st->meta, &k, &v)) == 0 && v.mv_size == 8)
		n = be64_get(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(rc);
	be64_put(buf, n + 1);
	v = (MDB_val){ 8, buf };
	if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0)
		return db_err(rc);
	*out = n;
	return 0;
}

/* Command c (a submission or a refusal of message id) under outbox ref. */
static int
put_command(struct store *st, MDB_txn *txn, uint64_t ref, const uint8_t id[static 16],
    const Keten__Wire__V1__Command *c, unsigned flags)
{
	uint8_t key[8];
	int rc;

	size_t n = keten__wire__v1__command__get_packed_size(c);
	be64_put(key, ref);
	MDB_val k = { 8, key }, v = { 16 + n, NULL };
	if ((rc = mdb_put(txn, st->outbox, &k, &v, MDB_RESERVE | flags)) != 0)
		return db_err(rc);
	memcpy(v.mv_data, id, 16);
	keten__wire__v1__command__pack(c, (uint8_t *)v.mv_data + 16);
	return 0;
}

static int
put_submit(struct store *st, MDB_txn *txn, const Keten__Wire__V1__Submit *s, unsigned flags)
{
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT;
	c.submit = (Keten__Wire__V1__Submit *)s;
	return put_command(st, txn, s->ref, s->header->message_id.data, &c, flags);
}

int
store_outbox_put_refusal(struct store *st, MDB_txn *txn, Keten__Wire__V1__SourceRefusal *r,
    bool fresh)
{
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	int rc;

	if (fresh && (rc = next_counter(st, txn, "next_ref", &r->ref)) != 0)
		return rc;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL;
	c.source_refusal = r;
	return put_command(st, txn, r->ref, r->header->message_id.data, &c, fresh ? MDB_APPEND : 0);
}

int
store_outbox_add(struct store *st, MDB_txn *txn, Keten__Wire__V1__Submit *s,
    const Keten__Local__V1__LocalSubmit *original)
{
	uint8_t key[8];
	uint64_t ref;
	int rc;

	if ((rc = next_counter(st, txn, "next_ref", &ref)) != 0)
		return rc;
	s->ref = ref;
	if ((rc = put_submit(st, txn, s, MDB_APPEND)) != 0)
		return rc;
	be64_put(key, ref);
	MDB_val k = { 8, key }, v = { keten__local__v1__local_submit__get_packed_size(original), NULL };
	if ((rc = mdb_put(txn, st->originals, &k, &v, MDB_RESERVE | MDB_APPEND)) != 0)
		return db_err(rc);
	keten__local__v1__local_submit__pack(original, v.mv_data);
	return 0;
}

int
store_outbox_replace(struct store *st, MDB_txn *txn, const Keten__Wire__V1__Submit *s)
{
	return put_submit(st, txn, s, 0);
}

/* The outbox record of ref (message id, then the packed Command) into *v. */
static int
outbox_record(struct store *st, MDB_txn *txn, uint64_t ref, MDB_val *v)
{
	uint8_t key[8];
	MDB_val k = { 8, key };

	be64_put(key, ref);
	return db_err(mdb_get(txn, st->outbox, &k, v));
}

int
store_outbox_get(struct store *st, MDB_txn *txn, uint64_t ref, Keten__Wire__V1__Command **sub,
    Keten__Local__V1__LocalSubmit **original)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	int rc;

	*sub = NULL;
	*original = NULL;
	be64_put(key, ref);
	if ((rc = outbox_record(st, txn, ref, &v)) != 0)
		return rc;
	if (v.mv_size > 16)
		*sub = keten__wire__v1__command__unpack(NULL, v.mv_size - 16, (uint8_t *)v.mv_data + 16);
	if (mdb_get(txn, st->originals, &k, &v) == 0)
		*original = keten__local__v1__local_submit__unpack(NULL, v.mv_size, v.mv_data);
	return 0;
}

bool
store_outbox_has(struct store *st, MDB_txn *txn, const uint8_t id[static 16])
{
	MDB_cursor *cur;
	MDB_val k, v;
	bool found = false;

	/* the outbox is small (unacknowledged messages only): a scan is fine here */
	if (mdb_cursor_open(txn, st->outbox, &cur) != 0)
		return false;
	for (int op = MDB_FIRST; !found && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT)
		found = v.mv_size >= 16 && memcmp(v.mv_data, id, 16) == 0;
	mdb_cursor_close(cur);
	return found;
}

int
store_sent_get(struct store *st, MDB_txn *txn, const uint8_t id[static 16],
    enum sent_status *status, int64_t *time_ms, char *reason, size_t reasonlen)
{
	MDB_val k = { 16, (void *)id }, v;
	int rc;

	if ((rc = mdb_get(txn, st->sent, &k, &v)) != 0)
		return db_err(rc);
	if (v.mv_size < 9)
		return KETEN_EDB;
	*status = (enum sent_status)((uint8_t *)v.mv_data)[0];
	*time_ms = (int64_t)be64_get((uint8_t *)v.mv_data + 1);
	snprintf(reason, reasonlen, "%.*s", (int)(v.mv_size - 9), (char *)v.mv_data + 9);
	return 0;
}

/* When message id was acknowledged by the partner system, or 0. */
static int64_t
acked_at(struct store *st, MDB_txn *txn, const uint8_t id[static 16])
{
	MDB_val k = { 16, (void *)id }, v;

	if (mdb_get(txn, st->inbox_acked, &k, &v) != 0 || v.mv_size != 8)
		return 0;
	return (int64_t)be64_get(v.mv_data);
}

Keten__Local__V1__InboxItem *
store_inbox_find(struct store *st, MDB_txn *txn, const uint8_t id[static 16])
{
	MDB_val k = { 16, (void *)id }, v;

	if (mdb_get(txn, st->inbox_ids, &k, &v) != 0 || v.mv_size != 8)
		return NULL;
	k = v;
	if (mdb_get(txn, st->inbox, &k, &v) != 0)
		return NULL;
	Keten__Local__V1__InboxItem *it = keten__local__v1__inbox_item__unpack(NULL, v.mv_size,
	    v.mv_data);
	if (it != NULL)
		it->acked_ms = acked_at(st, txn, id);
	return it;
}

int
store_inbox_ack(struct store *st, MDB_txn *txn, const uint8_t id[static 16], int64_t now,
    int64_t *acked_ms, bool *already)
{
	MDB_val k = { 16, (void *)id }, v;
	uint8_t t[8];
	int rc;

	if (mdb_get(txn, st->inbox_ids, &k, &v) != 0)
		return KETEN_ENOTFOUND;
	if ((*acked_ms = acked_at(st, txn, id)) != 0) {
		*already = true;
		return 0;
	}
	*already = false;
	*acked_ms = now;
	be64_put(t, (uint64_t)now);
	v = (MDB_val){ 8, t };
	if ((rc = mdb_put(txn, st->inbox_acked, &k, &v, 0)) != 0)
		return db_err(rc);
	return 0;
}

size_t
store_inbox_unacked(struct store *st, MDB_txn *txn)
{
	MDB_stat in, ack;

	if (mdb_stat(txn, st->inbox, &in) != 0 || mdb_stat(txn, st->inbox_acked, &ack) != 0 ||
	    ack.ms_entries > in.ms_entries)
		return 0;
	return in.ms_entries - ack.ms_entries;
}

int
store_outbox_is_refusal(struct store *st, MDB_txn *txn, uint64_t ref, bool *refusal)
{
	MDB_val v;
	int rc;

	if ((rc = outbox_record(st, txn, ref, &v)) != 0)
		return rc;
	/* id(16), then the packed Command: its one field's key is its first
	 * bytes; source_refusal is field 16, length-delimited: 0x82 0x01 */
	const uint8_t *p = v.mv_data;
	*refusal = v.mv_size >= 18 && p[16] == 0x82 && p[17] == 0x01;
	return 0;
}

int
store_outbox_done(struct store *st, MDB_txn *txn, uint64_t ref, const uint8_t id[static 16],
    enum sent_status status, const char *reason)
{
	uint8_t key[8], rec[1 + 8 + 256];
	MDB_val k = { 8, key }, v;
	size_t rlen = reason ? strnlen(reason, 256) : 0;
	int rc;

	be64_put(key, ref);
	if ((rc = mdb_get(txn, st->outbox, &k, &v)) != 0)
		return db_err(rc);
	if (v.mv_size < 16 || memcmp(v.mv_data, id, 16) != 0)
		return KETEN_ENOTFOUND;
	if ((rc = mdb_del(txn, st->outbox, &k, NULL)) != 0)
		return db_err(rc);
	if ((rc = mdb_del(txn, st->originals, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
		return db_err(rc);
	rec[0] = (uint8_t)status;
	be64_put(rec + 1, (uint64_t)now_ms());
	if (rlen)
		memcpy(rec + 9, reason, rlen);
	MDB_val sk = { 16, (void *)id }, sv = { 9 + rlen, rec };
	return db_err(mdb_put(txn, st->sent, &sk, &sv, 0));
}

int
store_outbox_scan(struct store *st, MDB_txn *txn, uint64_t after,
    int (*fn)(void *, uint64_t, const void *, size_t), void *arg, bool *exhausted)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	MDB_cursor *cur;
	int rc, op = MDB_SET_RANGE;

	*exhausted = false;
	be64_put(key, after + 1);
	if ((rc = mdb_cursor_open(txn, st->outbox, &cur)) != 0)
		return db_err(rc);
	for (;;) {
		if ((rc = mdb_cursor_get(cur, &k, &v, op)) != 0) {
			if (rc == MDB_NOTFOUND) {
				*exhausted = true;
				rc = 0;
			}
			break;
		}
		op = MDB_NEXT;
		if (k.mv_size != 8 || v.mv_size < 16)
			continue;
		if (fn(arg, be64_get(k.mv_data), (uint8_t *)v.mv_data + 16, v.mv_size - 16))
			break;
	}
	mdb_cursor_close(cur);
	return db_err(rc);
}

size_t
store_outbox_depth(struct store *st, MDB_txn *txn)
{
	MDB_stat s;

	return mdb_stat(txn, st->outbox, &s) == 0 ? s.ms_entries : 0;
}

int
store_inbox_put(struct store *st, MDB_txn *txn, const Keten__Wire__V1__Deliver *d, bool *dup)
{
	Keten__Local__V1__InboxItem item = KETEN__LOCAL__V1__INBOX_ITEM__INIT;
	MDB_val ik = { d->header->message_id.len, d->header->message_id.data }, v;
	uint8_t key[8];
	uint64_t seq;
	int rc;

	*dup = false;
	if ((rc = mdb_get(txn, st->inbox_ids, &ik, &v)) == 0) {
		*dup = true;
		return 0;
	} else if (rc != MDB_NOTFOUND) {
		return db_err(rc);
	}
	if ((rc = next_counter(st, txn, "next_inbox", &seq)) != 0)
		return rc;
	item.seq = seq;
	item.received_ms = now_ms();
	item.message = (Keten__Wire__V1__Deliver *)d;
	be64_put(key, seq);
	MDB_val k = { 8, key };
	v = (MDB_val){ keten__local__v1__inbox_item__get_packed_size(&item), NULL };
	if ((rc = mdb_put(txn, st->inbox, &k, &v, MDB_RESERVE | MDB_APPEND)) != 0)
		return db_err(rc);
	keten__local__v1__inbox_item__pack(&item, v.mv_data);
	MDB_val sv = { 8, key };
	return db_err(mdb_put(txn, st->inbox_ids, &ik, &sv, MDB_NOOVERWRITE));
}

int
store_inbox_list(struct store *st, MDB_txn *txn, uint64_t after, uint32_t limit,
    bool unacked_only, Keten__Local__V1__InboxPage *page)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	MDB_cursor *cur;
	int rc, op = MDB_SET_RANGE;

	keten__local__v1__inbox_page__init(page);
	if ((page->items = calloc(limit ? limit : 1, sizeof(*page->items))) == NULL)
		return KETEN_ENOMEM;
	be64_put(key, after + 1);
	if ((rc = mdb_cursor_open(txn, st->inbox, &cur)) != 0)
		return db_err(rc);
	while (page->n_items < limit && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		Keten__Local__V1__InboxItem *it =
		    keten__local__v1__inbox_item__unpack(NULL, v.mv_size, v.mv_data);
		if (it == NULL)
			continue;	/* written by us; only a corrupt file gets here */
		const Keten__Wire__V1__Deliver *d = it->message;
		if (d != NULL && d->header != NULL && d->header->message_id.len == 16)
			it->acked_ms = acked_at(st, txn, d->header->message_id.data);
		if (unacked_only && it->acked_ms != 0) {
			keten__local__v1__inbox_item__free_unpacked(it, NULL);
			continue;
		}
		page->items[page->n_items++] = it;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : db_err(rc);
}

void
store_inbox_page_free(Keten__Local__V1__InboxPage *page)
{
	for (size_t i = 0; i < page->n_items; i++)
		keten__local__v1__inbox_item__free_unpacked(page->items[i], NULL);
	free(page->items);
	page->items = NULL;
	page->n_items = 0;
}

int
store_receipts_put(struct store *st, MDB_txn *txn, const Keten__Wire__V1__SubmitAck *ack)
{
	MDB_val k = { ack->message_id.len, ack->message_id.data };
	MDB_val v = { keten__wire__v1__submit_ack__get_packed_size(ack), NULL };
	int rc;

	if (ack->message_id.len != 16)
		return KETEN_EINVAL;
	if ((rc = mdb_put(txn, st->receipts, &k, &v, MDB_RESERVE)) != 0)
		return db_err(rc);
	keten__wire__v1__submit_ack__pack(ack, v.mv_data);
	return 0;
}

Keten__Wire__V1__SubmitAck *
store_receipts_get(struct store *st, MDB_txn *txn, const uint8_t id[static 16])
{
	MDB_val k = { 16, (void *)id }, v;

	if (mdb_get(txn, st->receipts, &k, &v) != 0)
		return NULL;
	return keten__wire__v1__submit_ack__unpack(NULL, v.mv_size, v.mv_data);
}

int
store_meta_put(struct store *st, MDB_txn *txn, const char *name, const void *data, size_t len)
{
	MDB_val k = { strlen(name), (void *)name }, v = { len, (void *)data };

	return db_err(mdb_put(txn, st->meta, &k, &v, 0));
}

char *
store_meta_get(struct store *st, MDB_txn *txn, const char *name)
{
	MDB_val k = { strlen(name), (void *)name }, v;

	if (mdb_get(txn, st->meta, &k, &v) != 0)
		return NULL;
	return strndup(v.mv_data, v.mv_size);
}
