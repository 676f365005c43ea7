/*
 * The broker's durable delivery queue and duplicate filter, in the broker's
 * LMDB environment.  All writes happen inside the caller's write transaction
 * so that one commit (group commit) covers a whole batch.
 *
 *   queue:  recipient id NUL seq(be64) -> message id(16) || expires_ms(be64, 0 = never) ||
 *                                         packed Command{deliver}   (common/queuedb.h)
 *   expiry: expires_ms(be64) || recipient NUL || seq(be64) -> ""  (retention ends)
 *   seen:   message id(16)             -> accepted_ms(be64) || sender NUL type NUL
 *                                         recipients (comma-separated)
 *   limits: rule NUL sender NUL recipient NUL period(be64) -> count(be64)
 *   meta:   "next_seq"                 -> be64
 */
#ifndef KETEN_BROKER_QUEUE_H
#define KETEN_BROKER_QUEUE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "policy/policy.h"
#include "schemas/wire.pb-c.h"

struct queue;

/* Open (creating) the databases in `env`.  *out owned by caller. */
int queue_open(MDB_env *env, struct queue **out, char err[static KETEN_ERRLEN]);
void queue_free(struct queue **q);

/*
 * Has message `id` been accepted before?  0 and *dup set when it was, from
 * `sender`; KETEN_EEXIST when another sender used the id; 0 otherwise.
 */
int queue_seen(struct queue *q, MDB_txn *txn, const uint8_t id[static 16], const char *sender,
    bool *dup);
/* Record message `id` from `sender` as seen (queue_seen then says dup), in txn. */
int queue_mark_seen(struct queue *q, MDB_txn *txn, const uint8_t id[static 16], const char *sender,
    int64_t when_ms);

/*
 * Record an accepted submission (already checked) in `txn`: one queue entry
 * per copy, and the message in the duplicate filter.  Returns 0,
 * KETEN_EFULL (map full; abort `txn`) or KETEN_EDB.
 */
int queue_submit(struct queue *q, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const uint8_t (*digests)[32], const int64_t *expires, int64_t accepted_ms);

/*
 * Remove up to `max` queued copies whose retention ended by `now`, calling
 * fn for each (to log it).  0 or an error.
 */
int queue_expire(struct queue *q, MDB_txn *txn, int64_t now, size_t max,
    void (*fn)(void *arg, const char *recipient, const uint8_t id[static 16], int64_t expires),
    void *arg);

/*
 * The volume limits of the policy, counted in this store inside `txn`, in the
 * transaction that logs the acceptance (struct policy_ledger callback with
 * arg = struct queue_ledger *; reply_to is answered by the ledger itself).
 * limit_ok: fewer than the rule's count messages were accepted for this rule
 * and pair in the current period.  queue_limit_count adds one to that counter.
 */
struct ledger;
struct queue_ledger {
	struct queue *q;
	struct ledger *ledger;
	MDB_txn *txn;
};
int queue_limit_ok(void *arg, const struct policy_request *rq, const struct policy_rule_info *r);
int queue_limit_count(struct queue *q, MDB_txn *txn, const struct policy_request *rq,
    const struct policy_rule_info *r);

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

/*
 * Number of entries queued for `recipient`, in *out: one pass over that
 * recipient's entries (the broker counts once at start and then keeps the
 * count itself).  0 or an error.
 */
int queue_count(struct queue *q, MDB_txn *txn, const char *recipient, uint64_t *out);

/* Number of entries queued for all recipients. */
size_t queue_depth(struct queue *q, MDB_txn *txn);

#endif
