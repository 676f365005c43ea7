/*
 * The agent's durable outbox and inbox (LMDB).  Writes happen in the caller's
 * write transaction so one commit covers a batch (group commit).
 *
 *   outbox:    ref(be64)        -> message id(16) || packed Command{submit or source_refusal}
 *   originals: ref(be64)        -> packed keten.local.v1.LocalSubmit (the caller's
 *                                  unfiltered message, to refilter under a new policy)
 *   inbox:     seq(be64)        -> packed keten.local.v1.InboxItem
 *   inbox_ids: message id(16)   -> seq(be64)          (duplicate filter)
 *   inbox_acked: message id(16) -> be64 ms            (the partner system took it)
 *   sent:      message id(16)   -> status byte || be64 time || reason text
 *   receipts:  message id(16)   -> packed SubmitAck (its ledger receipts)
 *   meta:      "next_ref", "next_inbox" -> be64
 */
#ifndef KETEN_AGENT_STORE_H
#define KETEN_AGENT_STORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "schemas/local.pb-c.h"
#include "schemas/wire.pb-c.h"

enum sent_status { SENT_ACCEPTED = 1, SENT_REJECTED = 2 };

struct store;

int store_open(MDB_env *env, struct store **out, char err[static KETEN_ERRLEN]);
void store_free(struct store **st);

/*
 * Put a new submission (header and copies, message id set) in the outbox
 * under the next outbox ref, which is written to s->ref.  KETEN_EFULL when
 * the map is full.
 */
int store_outbox_add(struct store *st, MDB_txn *txn, Keten__Wire__V1__Submit *s,
    const Keten__Local__V1__LocalSubmit *original);

/*
 * A message the policy let no recipient have, for the broker's ledger: in
 * the outbox under the next ref (fresh, written to r->ref) or in place of
 * the submission under r->ref (refiltered to nothing).  Sent and
 * acknowledged like a submission; its outcome is recorded as rejected.
 */
int store_outbox_put_refusal(struct store *st, MDB_txn *txn, Keten__Wire__V1__SourceRefusal *r,
    bool fresh);
/* Whether outbox entry `ref` holds a refusal (not a submission): what we sent, not what an ack says. */
int store_outbox_is_refusal(struct store *st, MDB_txn *txn, uint64_t ref, bool *refusal);
/* Replace the submission under s->ref (refiltered under a new policy). */
int store_outbox_replace(struct store *st, MDB_txn *txn, const Keten__Wire__V1__Submit *s);

/*
 * The outbox entry `ref`: its submission and the caller's original message
 * (either may be NULL when absent or undecodable).  Free both with their
 * free_unpacked functions.
 */
int store_outbox_get(struct store *st, MDB_txn *txn, uint64_t ref, Keten__Wire__V1__Command **sub,
    Keten__Local__V1__LocalSubmit **original);

/*
 * The broker answered submission `ref`: drop it from the outbox if it holds
 * message `id` and record the outcome in `sent`.  KETEN_ENOTFOUND when the
 * entry was already gone (a repeated ack).
 */
int store_outbox_done(struct store *st, MDB_txn *txn, uint64_t ref, const uint8_t id[static 16],
    enum sent_status status, const char *reason);

/*
 * Call fn(arg, ref, frame, len) for outbox entries with ref > after, in order,
 * until fn returns nonzero; `frame` is the packed Command to send and lives
 * as long as txn.  *exhausted is set when the end was reached.
 */
int store_outbox_scan(struct store *st, MDB_txn *txn, uint64_t after,
    int (*fn)(void *arg, uint64_t ref, const void *frame, size_t len), void *arg,
    bool *exhausted);

/* Entries in the outbox. */
size_t store_outbox_depth(struct store *st, MDB_txn *txn);

/*
 * Store a delivered message unless its id is already in the inbox (*dup).
 * KETEN_EFULL when the map is full.
 */
int store_inbox_put(struct store *st, MDB_txn *txn, const Keten__Wire__V1__Deliver *d,
    bool *dup);

/*
 * The inbox entry holding message `id`, or NULL; free with
 * keten__local__v1__inbox_item__free_unpacked.
 */
Keten__Local__V1__InboxItem *store_inbox_find(struct store *st, MDB_txn *txn,
    const uint8_t id[static 16]);

/*
 * The partner system took message id: record when (once).  KETEN_ENOTFOUND
 * when it is not in the inbox; *already when it had been acknowledged.
 */
int store_inbox_ack(struct store *st, MDB_txn *txn, const uint8_t id[static 16], int64_t now,
    int64_t *acked_ms, bool *already);
/* Inbox entries not yet acknowledged (O(1)). */
size_t store_inbox_unacked(struct store *st, MDB_txn *txn);

/* Outcome recorded for a sent message: 0 and status, time and reason, or KETEN_ENOTFOUND. */
int store_sent_get(struct store *st, MDB_txn *txn, const uint8_t id[static 16],
    enum sent_status *status, int64_t *time_ms, char *reason, size_t reasonlen);
/* Keep the broker's acknowledgement with its receipts; get it back (free_unpacked), or NULL. */
int store_receipts_put(struct store *st, MDB_txn *txn, const Keten__Wire__V1__SubmitAck *ack);
Keten__Wire__V1__SubmitAck *store_receipts_get(struct store *st, MDB_txn *txn,
    const uint8_t id[static 16]);

/* Small named values (meta): put bytes; get a NUL-terminated malloc'd copy or NULL. */
int store_meta_put(struct store *st, MDB_txn *txn, const char *name, const void *data, size_t len);
char *store_meta_get(struct store *st, MDB_txn *txn, const char *name);

/* Is message `id` still in the outbox (not yet acknowledged)? */
bool store_outbox_has(struct store *st, MDB_txn *txn, const uint8_t id[static 16]);

/*
 * Inbox entries with seq > after (unacknowledged ones only if asked), at most limit, into a page the caller frees
 * with store_inbox_page_free.
 */
int store_inbox_list(struct store *st, MDB_txn *txn, uint64_t after, uint32_t limit,
    bool unacked_only, Keten__Local__V1__InboxPage *page);
void store_inbox_page_free(Keten__Local__V1__InboxPage *page);

#endif
