/*
 * The broker's delivery queue as it is on disk: its key and value layout,
 * in one place for the broker that writes it (broker/queue.c) and `keten
 * queue` that reads it (a copy of the broker's data directory, or the
 * directory while the broker runs: LMDB allows readers beside the writer).
 *
 *   queue:  recipient id NUL seq(be64) -> message id(16) || expires_ms(be64, 0 = never) ||
 *                                         packed keten.wire.v1.Command{deliver}
 */
#ifndef KETEN_COMMON_QUEUEDB_H
#define KETEN_COMMON_QUEUEDB_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "schemas/wire.pb-c.h"

#define QUEUEDB_NAME "queue"
#define QUEUEDB_HEAD 24		/* value: message id (16) || expires_ms (8) || frame */

/* The key of recipient's copy `seq` into key; its length. */
size_t queuedb_key(uint8_t key[static KETEN_IDMAX + 8], const char *recipient, uint64_t seq);

/* One queued copy, as queuedb_walk hands it over (valid during the call). */
struct queuedb_copy {
	const char *recipient;
	uint64_t seq;
	const uint8_t *message_id;	/* 16 bytes */
	int64_t expires_ms;		/* 0: never */
	const Keten__Wire__V1__Deliver *deliver;	/* NULL when the frame does not unpack */
	size_t bytes;			/* of the stored frame */
};

/*
 * Each queued copy in `dbi` (the queue database) in txn, by recipient then
 * sequence; only those of `recipient` unless it is NULL.  fn returns nonzero
 * to stop.  0, or an LMDB error as a KETEN_E* code.
 */
int queuedb_walk(MDB_txn *txn, MDB_dbi dbi, const char *recipient,
    int (*fn)(void *arg, const struct queuedb_copy *c), void *arg);

#endif
