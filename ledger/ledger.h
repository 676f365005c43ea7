/*
 * The audit ledger in the broker's LMDB environment: entries appended in the
 * caller's write transaction (the same one as the queue change they
 * describe), an RFC 6962 Merkle tree over them, and a C2SP signed checkpoint
 * for every size the broker commits.
 *
 *   ledger:      seq(be64)                -> packed keten.ledger.v1.Entry (the hashed bytes)
 *   ledger_tree: level(1) || index(be64)  -> perfect-subtree hash (32)
 *   checkpoints: size(be64)               -> signed note text
 *   cosignatures: size(be64) || agency    -> C2SP cosignature/v1 line of that witness
 *   ledger_index: kind(1) || value || seq(be64) -> "" (secondary indexes, so a query
 *                 costs in proportion to its answer): 'c' case pseudonym, 'm' message
 *                 id, 's' sender, 'r' recipient, 'u' rule id, 't' time (be64 ms)
 *                 (the value of text kinds is NUL-terminated; see ledger/ledgerindex.h)
 *                 ('m' with the entry; the others in bulk: ledger_index_catchup)
 *   meta:        "ledger_size"            -> be64
 *                "indexed_upto"           -> be64 (entries below it are in every index)
 */
#ifndef KETEN_BROKER_LEDGER_H
#define KETEN_BROKER_LEDGER_H

#include <lmdb.h>
#include <stdint.h>

#include "common/err.h"
#include "common/keys.h"
#include "schemas/ledger.pb-c.h"
#include "schemas/wire.pb-c.h"

struct ledger;

/* Open (creating) the databases in env.  `origin` names the log in checkpoints. */
int ledger_open(MDB_env *env, const char *origin, struct ledger **out, char err[static KETEN_ERRLEN]);
void ledger_free(struct ledger **l);

/* Append e (its seq is assigned) in txn.  0, KETEN_EFULL or KETEN_EDB. */
int ledger_append(struct ledger *l, MDB_txn *txn, Keten__Ledger__V1__Entry *e);

/*
 * If the ledger grew since the last checkpoint, write a signed checkpoint for
 * its current size in txn.  0 or an error.
 */
int ledger_checkpoint(struct ledger *l, MDB_txn *txn, const struct keten_keys *keys);

/*
 * Fill r (receipt of entry seq) from txn, where the newest checkpoint is for
 * the current size: the entry bytes, that checkpoint and the inclusion proof.
 * Buffers in r are malloc'd; free with ledger_receipt_clear.
 */
int ledger_receipt(struct ledger *l, MDB_txn *txn, uint64_t seq, Keten__Wire__V1__Receipt *r);
void ledger_receipt_clear(Keten__Wire__V1__Receipt *r);

/*
 * A witness's challenge: the newest checkpoint and the consistency proof from
 * old_size (0: none).  KETEN_EINVAL when old_size is beyond the ledger (the
 * witness saw a bigger tree: evidence of a rollback).  Free with
 * ledger_challenge_clear.
 */
int ledger_challenge(struct ledger *l, MDB_txn *txn, uint64_t old_size,
    Keten__Wire__V1__WitnessChallenge *c);
void ledger_challenge_clear(Keten__Wire__V1__WitnessChallenge *c);
/* The checkpoint note for size (malloc'd) or NULL. */
char *ledger_checkpoint_note(struct ledger *l, MDB_txn *txn, uint64_t size);
/* Store a verified cosignature line beside checkpoint `size`. */
int ledger_cosign_put(struct ledger *l, MDB_txn *txn, uint64_t size, const char *agency,
    const char *line);

/* Current size (entries) as seen in txn. */
uint64_t ledger_size(struct ledger *l, MDB_txn *txn);

/*
 * The secondary indexes but the message id's are written in bulk, off the
 * commit an acknowledgement waits for: entries below ledger_indexed_upto
 * have theirs; ledger_index_catchup indexes up to `max` more in txn (*done
 * of them).  0 or an error (the caller aborts txn).  Readers scan the rest.
 */
uint64_t ledger_indexed_upto(struct ledger *l, MDB_txn *txn);
int ledger_index_catchup(struct ledger *l, MDB_txn *txn, uint64_t max, uint64_t *done);
/*
 * The indexes are derived data: drop them all, write the message id's again
 * from the entries (*entries: how many were read) and set indexed_upto to 0,
 * so that ledger_index_catchup writes the others (keten-broker --reindex).
 */
int ledger_index_reset(struct ledger *l, MDB_txn *txn, uint64_t *entries);

/*
 * Whether the ledger holds, as of `txn`, an ACCEPTED entry for message
 * `request_id` (16 bytes) of type `type` from `from` to `to`, accepted at or
 * after `since_ms`.  Found through the message-id index, so it costs the
 * entries of that one message.  1 yes, 0 no, -1 a ledger that cannot be read.
 */
int ledger_request_logged(struct ledger *l, MDB_txn *txn, const uint8_t request_id[static 16],
    const char *type, const char *from, const char *to, int64_t since_ms);

/*
 * Walk the entries of message `id` (oldest first) through the message-id
 * index until match() says yes: 1 it did, 0 never, -1 a ledger that cannot
 * be read.  Costs the entries of that one message.
 */
int ledger_message_walk(struct ledger *l, MDB_txn *txn, const uint8_t id[static 16],
    bool (*match)(const Keten__Ledger__V1__Entry *, void *), void *arg);

/* Whether an entry of `kind` for message `id` is in the ledger: 1, 0 or -1. */
int ledger_message_logged(struct ledger *l, MDB_txn *txn, const uint8_t id[static 16], int kind);

#endif
