/*
 * The broker's durable delivery queue and duplicate filter, in the broker's
 * LMDB environment.  All writes happen inside the caller's write transaction
 * so that one commit (group commit) covers a whole batch.
 *
 *   queue: recipient id NUL seq(be64) -> message id(16) || packed Command{deliver}
 *   seen:  message id(16)             -> accepted_ms(be64) || sender id
 *   meta:  "next_seq"                 -> be64
 */
#ifndef KETEN_BROKER_QUEUE_H
#define KETEN_BROKER_QUEUE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "schemas/wire.pb-c.h"

struct queue;

/* Open (creating) the databases in `env`.  *out owned by caller. */
int queue_open(MDB_env *env, struct queue **out, char err[static KETEN_ERRLEN]);
void queue_free(struct queue **q);

/*
 * Record a submission from `sender` in `txn`: one queue entry per recipient.
 * A message id seen before from the same sender sets *dup and writes nothing.
 * Returns 0, KETEN_EEXIST (id used by another sender), KETEN_EFULL (map full;
 * the caller must abort `txn`) or KETEN_EDB.
 */
int queue_submit(struct queue *q, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const char *sender, int64_t accepted_ms, bool *dup);

/*
 * Remove the entry (recipient, seq) if it holds message `id`.  0 when deleted,
 * KETEN_ENOTFOUND when absent (an ack repeated), else an error.
 */
int queue_ack(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t seq,
    const uint8_t id[static 16]);

/*
 * Call fn(arg, seq, frame, len) for each entry of `recipient` with seq > after,
 * in order, until fn returns nonzero.  `frame` is the packed Command to send;
 * it lives as long as `txn`.  *exhausted is set when the end was reached.
 */
int queue_scan(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t after,
    int (*fn)(void *arg, uint64_t seq, const void *frame, size_t len), void *arg,
    bool *exhausted);

/* Number of entries queued for all recipients. */
size_t queue_depth(struct queue *q, MDB_txn *txn);

#endif
