/* The broker's delivery queue on disk (see queuedb.h). */
#include <string.h>

#include "common/db.h"
#include "common/queuedb.h"

size_t
queuedb_key(uint8_t key[static KETEN_IDMAX + 8], const char *recipient, uint64_t seq)
{
	size_t n = strlen(recipient) + 1;

	memcpy(key, recipient, n);
	be64_put(key + n, seq);
	return n + 8;
}

int
queuedb_walk(MDB_txn *txn, MDB_dbi dbi, const char *recipient,
    int (*fn)(void *arg, const struct queuedb_copy *c), void *arg)
{
	uint8_t key[KETEN_IDMAX + 8];
	MDB_val k = { 0, NULL }, v;
	MDB_cursor *cur;
	int rc, op = MDB_FIRST, stop = 0;

	if (recipient != NULL) {
		if (strlen(recipient) >= KETEN_IDMAX)
			return 0;	/* no agency has such an id: nothing waits for it */
		k = (MDB_val){ queuedb_key(key, recipient, 0), key };
		op = MDB_SET_RANGE;
	}
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return db_err(rc);
	while (stop == 0 && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		const char *r = k.mv_data;
		size_t rlen = k.mv_size > 8 ? strnlen(r, k.mv_size - 8) : k.mv_size;
		if (k.mv_size < 9 || rlen != k.mv_size - 9 || v.mv_size < QUEUEDB_HEAD)
			continue;	/* never written by the broker */
		if (recipient != NULL && strcmp(r, recipient) != 0)
			break;
		Keten__Wire__V1__Command *c = keten__wire__v1__command__unpack(NULL,
		    v.mv_size - QUEUEDB_HEAD, (const uint8_t *)v.mv_data + QUEUEDB_HEAD);
		struct queuedb_copy qc = {
			.recipient = r,
			.seq = be64_get((const uint8_t *)k.mv_data + rlen + 1),
			.message_id = v.mv_data,
			.expires_ms = (int64_t)be64_get((const uint8_t *)v.mv_data + 16),
			.deliver = c != NULL && c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_DELIVER ?
			    c->deliver : NULL,
			.bytes = v.mv_size - QUEUEDB_HEAD,
		};
		stop = fn(arg, &qc);
		if (c != NULL)
			keten__wire__v1__command__free_unpacked(c, NULL);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : db_err(rc);
}
