/* Durable delivery queue and duplicate filter (LMDB). */
#include <stdlib.h>
#include <string.h>

#include "broker/queue.h"
#include "common/db.h"
#include "common/util.h"

struct queue {
	MDB_dbi queue, seen, meta;
};

int
queue_open(MDB_env *env, struct queue **out, char err[static KETEN_ERRLEN])
{
	struct queue *q;
	MDB_txn *txn;
	int rc;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		free(q);
		return keten_seterr(err, db_err(rc), "queue: %s", mdb_strerror(rc));
	}
	if ((rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &q->queue)) ||
	    (rc = mdb_dbi_open(txn, "seen", MDB_CREATE, &q->seen)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &q->meta)) ||
	    (rc = mdb_txn_commit(txn))) {
		if (rc != 0 && txn != NULL)
			mdb_txn_abort(txn);
		free(q);
		return keten_seterr(err, db_err(rc), "queue: %s", mdb_strerror(rc));
	}
	*out = q;
	return 0;
}

void
queue_free(struct queue **q)
{
	if (q == NULL)
		return;
	free(*q);
	*q = NULL;
}

static size_t
make_key(uint8_t key[static KETEN_IDMAX + 8], const char *recipient, uint64_t seq)
{
	size_t n = strlen(recipient) + 1;

	memcpy(key, recipient, n);
	be64_put(key + n, seq);
	return n + 8;
}

int
queue_submit(struct queue *q, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const char *sender, int64_t accepted_ms, bool *dup)
{
	MDB_val k = { 16, s->message_id.data }, v;
	uint8_t seenval[8 + KETEN_IDMAX], seqbuf[8], key[KETEN_IDMAX + 8];
	uint64_t seq = 0;
	size_t slen = strlen(sender);
	int rc;

	*dup = false;
	if ((rc = mdb_get(txn, q->seen, &k, &v)) == 0) {
		if (v.mv_size == 8 + slen && memcmp((uint8_t *)v.mv_data + 8, sender, slen) == 0) {
			*dup = true;
			return 0;
		}
		return KETEN_EEXIST;
	} else if (rc != MDB_NOTFOUND) {
		return db_err(rc);
	}
	MDB_val mk = { 8, "next_seq" };
	if ((rc = mdb_get(txn, q->meta, &mk, &v)) == 0 && v.mv_size == 8)
		seq = be64_get(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(rc);
	if (seq == 0)
		seq = 1;

	Keten__Wire__V1__Deliver d = KETEN__WIRE__V1__DELIVER__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	d.message_id = s->message_id;
	d.sender = (char *)sender;
	d.message_type = s->message_type;
	d.payload = s->payload;
	d.created_ms = s->created_ms;
	d.accepted_ms = accepted_ms;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER;
	c.deliver = &d;
	for (size_t i = 0; i < s->n_recipients; i++, seq++) {
		d.seq = seq;
		size_t n = keten__wire__v1__command__get_packed_size(&c);
		MDB_val qk = { make_key(key, s->recipients[i], seq), key };
		MDB_val qv = { 16 + n, NULL };
		if ((rc = mdb_put(txn, q->queue, &qk, &qv, MDB_RESERVE)) != 0)
			return db_err(rc);
		memcpy(qv.mv_data, s->message_id.data, 16);
		keten__wire__v1__command__pack(&c, (uint8_t *)qv.mv_data + 16);
	}
	be64_put(seqbuf, seq);
	v = (MDB_val){ 8, seqbuf };
	if ((rc = mdb_put(txn, q->meta, &mk, &v, 0)) != 0)
		return db_err(rc);
	be64_put(seenval, (uint64_t)accepted_ms);
	memcpy(seenval + 8, sender, slen);
	v = (MDB_val){ 8 + slen, seenval };
	if ((rc = mdb_put(txn, q->seen, &k, &v, MDB_NOOVERWRITE)) != 0)
		return db_err(rc);
	return 0;
}

int
queue_ack(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t seq,
    const uint8_t id[static 16])
{
	uint8_t key[KETEN_IDMAX + 8];
	MDB_val k = { make_key(key, recipient, seq), key }, v;
	int rc;

	if ((rc = mdb_get(txn, q->queue, &k, &v)) != 0)
		return db_err(rc);
	if (v.mv_size < 16 || memcmp(v.mv_data, id, 16) != 0)
		return KETEN_ENOTFOUND;
	return db_err(mdb_del(txn, q->queue, &k, NULL));
}

int
queue_scan(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t after,
    int (*fn)(void *, uint64_t, const void *, size_t), void *arg, bool *exhausted)
{
	uint8_t key[KETEN_IDMAX + 8];
	size_t plen = strlen(recipient) + 1;
	MDB_val k = { make_key(key, recipient, after + 1), key }, v;
	MDB_cursor *cur;
	int rc, op = MDB_SET_RANGE;

	*exhausted = false;
	if ((rc = mdb_cursor_open(txn, q->queue, &cur)) != 0)
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
		if (k.mv_size != plen + 8 || memcmp(k.mv_data, recipient, plen) != 0) {
			*exhausted = true;
			break;
		}
		if (v.mv_size < 16)
			continue;	/* never written by queue_submit */
		if (fn(arg, be64_get((uint8_t *)k.mv_data + plen), (uint8_t *)v.mv_data + 16,
		    v.mv_size - 16) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return db_err(rc);
}

size_t
queue_depth(struct queue *q, MDB_txn *txn)
{
	MDB_stat st;

	if (mdb_stat(txn, q->queue, &st) != 0)
		return 0;
	return st.ms_entries;
}
