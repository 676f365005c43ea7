/* Durable delivery queue and duplicate filter (LMDB). */
#include <stdlib.h>
#include <string.h>

#include "broker/queue.h"
#include "common/db.h"
#include "common/queuedb.h"
#include "common/util.h"

struct queue {
	MDB_dbi queue, seen, limits, expiry, meta;
};

#define QHEAD QUEUEDB_HEAD	/* the layout: common/queuedb.h */

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
	if ((rc = mdb_dbi_open(txn, QUEUEDB_NAME, MDB_CREATE, &q->queue)) ||
	    (rc = mdb_dbi_open(txn, "seen", MDB_CREATE, &q->seen)) ||
	    (rc = mdb_dbi_open(txn, "limits", MDB_CREATE, &q->limits)) ||
	    (rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &q->expiry)) ||
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


int
queue_seen(struct queue *q, MDB_txn *txn, const uint8_t id[static 16], const char *sender,
    bool *dup)
{
	MDB_val k = { 16, (void *)id }, v;
	size_t slen = strlen(sender);
	int rc;

	*dup = false;
	if ((rc = mdb_get(txn, q->seen, &k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return db_err(rc);
	if (v.mv_size > 8 + slen && memcmp((uint8_t *)v.mv_data + 8, sender, slen) == 0 &&
	    ((uint8_t *)v.mv_data)[8 + slen] == '\0') {
		*dup = true;
		return 0;
	}
	return KETEN_EEXIST;
}

/* expiry: expires_ms(8) || recipient NUL || seq(8) -> "" */
static size_t
expiry_key(uint8_t key[static 8 + KETEN_IDMAX + 8], int64_t expires, const char *recipient, uint64_t seq)
{
	size_t n = strlen(recipient) + 1;

	be64_put(key, (uint64_t)expires);
	memcpy(key + 8, recipient, n);
	be64_put(key + 8 + n, seq);
	return 16 + n;
}

int
queue_submit(struct queue *q, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const uint8_t (*digests)[32], const int64_t *expires, int64_t accepted_ms)
{
	ProtobufCBinaryData dl[64];
	const Keten__Envelope__V1__Header *h = s->header;
	MDB_val v;
	uint8_t seqbuf[8], key[KETEN_IDMAX + 8];
	uint64_t seq = 0;
	int rc;

	MDB_val mk = { 8, "next_seq" };
	if ((rc = mdb_get(txn, q->meta, &mk, &v)) == 0 && v.mv_size == 8)
		seq = be64_get(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(rc);
	if (seq == 0)
		seq = 1;

	Keten__Wire__V1__Deliver d = KETEN__WIRE__V1__DELIVER__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	d.header = (Keten__Envelope__V1__Header *)h;
	d.accepted_ms = accepted_ms;
	/* what the recipient needs to check the sender's signature */
	d.ephemeral_key = s->ephemeral_key;
	d.signature = s->signature;
	if (s->n_copies > 64)
		return KETEN_EINVAL;
	for (size_t i = 0; i < s->n_copies; i++)
		dl[i] = (ProtobufCBinaryData){ 32, (uint8_t *)digests[i] };
	d.n_copy_digests = s->n_copies;
	d.copy_digests = dl;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER;
	c.deliver = &d;
	for (size_t i = 0; i < s->n_copies; i++, seq++) {
		d.seq = seq;
		d.copy = s->copies[i];
		d.copy_index = (uint32_t)i;
		size_t n = keten__wire__v1__command__get_packed_size(&c);
		MDB_val qk = { queuedb_key(key, s->copies[i]->recipient, seq), key };
		MDB_val qv = { QHEAD + n, NULL };
		if ((rc = mdb_put(txn, q->queue, &qk, &qv, MDB_RESERVE)) != 0)
			return db_err(rc);
		memcpy(qv.mv_data, h->message_id.data, 16);
		be64_put((uint8_t *)qv.mv_data + 16, (uint64_t)expires[i]);
		keten__wire__v1__command__pack(&c, (uint8_t *)qv.mv_data + QHEAD);
		if (expires[i] != 0) {	/* the granting rule's retention ends then */
			uint8_t ek[8 + KETEN_IDMAX + 8];
			MDB_val ekv = { expiry_key(ek, expires[i], s->copies[i]->recipient, seq), ek };
			MDB_val ev = { 0, "" };
			if ((rc = mdb_put(txn, q->expiry, &ekv, &ev, 0)) != 0)
				return db_err(rc);
		}
	}
	be64_put(seqbuf, seq);
	v = (MDB_val){ 8, seqbuf };
	if ((rc = mdb_put(txn, q->meta, &mk, &v, 0)) != 0)
		return db_err(rc);

	/* replay protection: this id, from this sender, when (reply_to asks the ledger) */
	return queue_mark_seen(q, txn, h->message_id.data, h->sender, accepted_ms);
}

int
queue_mark_seen(struct queue *q, MDB_txn *txn, const uint8_t id[static 16], const char *sender,
    int64_t when_ms)
{
	MDB_val k = { 16, (void *)id }, v = { 8 + strlen(sender) + 1, NULL };
	int rc;

	if ((rc = mdb_put(txn, q->seen, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE)) != 0)
		return db_err(rc);
	be64_put(v.mv_data, (uint64_t)when_ms);
	strcpy((char *)v.mv_data + 8, sender);
	return 0;
}

static uint64_t
period_of(const struct policy_rule_info *r, int64_t now_ms)
{
	int64_t day = now_ms / 86400000LL;

	switch (r->limit_per) {
	case POLICY_PER_WEEK: return (uint64_t)((day + 3) / 7);	/* weeks start on Monday */
	case POLICY_PER_MONTH: return (uint64_t)(day / 30);	/* 30-day periods */
	default: return (uint64_t)day;
	}
}

static size_t
limit_key(uint8_t *key, size_t cap, const struct policy_request *rq, const struct policy_rule_info *r)
{
	int n = snprintf((char *)key, cap, "%s%c%s%c%s%c", r->id, 0, rq->sender, 0, rq->recipient, 0);

	if (n < 0 || (size_t)n + 8 > cap)
		return 0;
	be64_put(key + n, period_of(r, rq->now_ms));
	return (size_t)n + 8;
}

int
queue_limit_ok(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	struct queue_ledger *l = arg;
	uint8_t key[512];
	MDB_val k = { limit_key(key, sizeof(key), rq, r), key }, v;
	int rc;

	if (k.mv_size == 0)
		return -1;
	if ((rc = mdb_get(l->txn, l->q->limits, &k, &v)) == MDB_NOTFOUND)
		return 1;
	if (rc != 0 || v.mv_size != 8)
		return -1;
	return be64_get(v.mv_data) < r->limit_count ? 1 : 0;
}

int
queue_limit_count(struct queue *q, MDB_txn *txn, const struct policy_request *rq,
    const struct policy_rule_info *r)
{
	uint8_t key[512], val[8];
	MDB_val k = { limit_key(key, sizeof(key), rq, r), key }, v;
	uint64_t n = 0;
	int rc;

	if (k.mv_size == 0)
		return KETEN_EINVAL;
	if ((rc = mdb_get(txn, q->limits, &k, &v)) == 0 && v.mv_size == 8)
		n = be64_get(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(rc);
	be64_put(val, n + 1);
	v = (MDB_val){ 8, val };
	return db_err(mdb_put(txn, q->limits, &k, &v, 0));
}

int
queue_ack(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t seq,
    const uint8_t id[static 16])
{
	uint8_t key[KETEN_IDMAX + 8];
	MDB_val k = { queuedb_key(key, recipient, seq), key }, v;
	int rc;

	if ((rc = mdb_get(txn, q->queue, &k, &v)) != 0)
		return db_err(rc);
	if (v.mv_size < QHEAD || memcmp(v.mv_data, id, 16) != 0)
		return KETEN_ENOTFOUND;
	int64_t expires = (int64_t)be64_get((uint8_t *)v.mv_data + 16);
	if (expires != 0) {
		uint8_t ek[8 + KETEN_IDMAX + 8];
		MDB_val ekv = { expiry_key(ek, expires, recipient, seq), ek };
		if ((rc = mdb_del(txn, q->expiry, &ekv, NULL)) != 0 && rc != MDB_NOTFOUND)
			return db_err(rc);
	}
	return db_err(mdb_del(txn, q->queue, &k, NULL));
}

int
queue_scan(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t after,
    int (*fn)(void *, uint64_t, const void *, size_t), void *arg, bool *exhausted)
{
	uint8_t key[KETEN_IDMAX + 8];
	size_t plen = strlen(recipient) + 1;
	MDB_val k = { queuedb_key(key, recipient, after + 1), key }, v;
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
		if (v.mv_size < QHEAD)
			continue;	/* never written by queue_submit */
		if (fn(arg, be64_get((uint8_t *)k.mv_data + plen), (uint8_t *)v.mv_data + QHEAD,
		    v.mv_size - QHEAD) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return db_err(rc);
}

int
queue_count(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t *out)
{
	uint8_t key[KETEN_IDMAX + 8];
	size_t plen = strlen(recipient) + 1;
	MDB_val k, v;
	MDB_cursor *cur;
	uint64_t n = 0;
	int rc, op = MDB_SET_RANGE;

	if (plen >= KETEN_IDMAX)
		return KETEN_EINVAL;
	k = (MDB_val){ queuedb_key(key, recipient, 0), key };
	if ((rc = mdb_cursor_open(txn, q->queue, &cur)) != 0)
		return db_err(rc);
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != plen + 8 || memcmp(k.mv_data, recipient, plen) != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return db_err(rc);
	*out = n;
	return 0;
}

size_t
queue_depth(struct queue *q, MDB_txn *txn)
{
	MDB_stat st;

	if (mdb_stat(txn, q->queue, &st) != 0)
		return 0;
	return st.ms_entries;
}

int
queue_expire(struct queue *q, MDB_txn *txn, int64_t now, size_t max,
    void (*fn)(void *arg, const char *recipient, const uint8_t id[static 16], int64_t expires),
    void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t done = 0;
	int rc;

	if ((rc = mdb_cursor_open(txn, q->expiry, &cur)) != 0)
		return db_err(rc);
	while (done < max && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size < 8 + 2 + 8)
			break;
		int64_t expires = (int64_t)be64_get(k.mv_data);
		if (expires > now)
			break;
		const char *recipient = (const char *)k.mv_data + 8;
		size_t rl = strnlen(recipient, k.mv_size - 16);
		uint64_t seq = be64_get((uint8_t *)k.mv_data + k.mv_size - 8);
		char rcpt[KETEN_IDMAX];
		uint8_t qkb[KETEN_IDMAX + 8], id[16];
		if (rl >= sizeof(rcpt))
			break;
		memcpy(rcpt, recipient, rl);
		rcpt[rl] = '\0';
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		MDB_val qk = { queuedb_key(qkb, rcpt, seq), qkb }, qv;
		if (mdb_get(txn, q->queue, &qk, &qv) == 0 && qv.mv_size >= QHEAD) {
			memcpy(id, qv.mv_data, 16);
			if ((rc = mdb_del(txn, q->queue, &qk, NULL)) != 0)
				break;
			fn(arg, rcpt, id, expires);
		}
		done++;
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : db_err(rc);
}
