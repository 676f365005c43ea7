/*
 * The audit ledger read-only, as auditors read it (keten audit): a broker's
 * data directory while the broker runs (LMDB allows readers beside the
 * writer), or a copy of it.  With ledger/ledger.h (the writer) this is the
 * only code that knows the ledger's databases and key layout
 * (ledger/ledgerindex.h): everything else reads through here.
 *
 * A reader holds one read-only transaction for its whole life: what it
 * shows is one consistent snapshot.  Pointers it hands to a callback (entry
 * bytes, notes, lines) live until the callback returns; an unpacked entry
 * is freed after the callback.
 */
#ifndef KETEN_LEDGER_READER_H
#define KETEN_LEDGER_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "ledger/merkle.h"
#include "schemas/ledger.pb-c.h"

struct ledger_reader;

/*
 * Open the ledger in the LMDB environment `dir` read-only.  0, or
 * KETEN_ENOTFOUND ("holds no ledger") / another KETEN_E* with err.
 * Free with ledger_reader_free.
 */
int ledger_reader_open(const char *dir, struct ledger_reader **out, char err[static KETEN_ERRLEN]);
void ledger_reader_free(struct ledger_reader **r);

/* Entries as the writer last counted them (meta "ledger_size"). */
uint64_t ledger_reader_size(const struct ledger_reader *r);

/*
 * Each entry with seq >= from, in order, unpacked (NULL when its bytes are
 * not an entry): fn returns nonzero to stop.  0, or -1 on a read error.
 */
int ledger_reader_walk(struct ledger_reader *r, uint64_t from,
    int (*fn)(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e), void *arg);

/* What a query asks: the most selective index named is walked, the rest is the caller's. */
struct ledger_query {
	const uint8_t *message_id;	/* 16 bytes, or NULL */
	const uint8_t *case_pseudonym;	/* 32 bytes, or NULL */
	const char *rule, *recipient, *sender;	/* or NULL */
	int64_t since, until;		/* ms; 0: open.  The time index when nothing else is named */
};

/*
 * The entries the most selective index of q names (message id, case,
 * rule, recipient, sender, else time from `since` up to `until`), oldest
 * first, unpacked: fn returns nonzero to stop.  *looked counts the entries
 * read.  0; KETEN_ENOTFOUND when the ledger has no indexes; KETEN_EINVAL
 * for a value too long for an index key.
 */
int ledger_reader_query(struct ledger_reader *r, const struct ledger_query *q,
    int (*fn)(void *arg, const Keten__Ledger__V1__Entry *e), void *arg, uint64_t *looked);

/* The signed checkpoint note of `size` (malloc'd), or NULL. */
char *ledger_reader_note(struct ledger_reader *r, uint64_t size);

/*
 * Each stored cosignature, in (size, agency) order: fn(arg, size, agency,
 * line, note) with the line and the checkpoint note it cosigns (NULL when
 * that checkpoint is missing).  0; -1 when the ledger has no witnesses.
 */
int ledger_reader_cosignatures(struct ledger_reader *r,
    void (*fn)(void *arg, uint64_t size, const char *agency, const char *line, const char *note),
    void *arg);

/*
 * Rehash every entry (never trusting stored hashes) and check every signed
 * checkpoint by `origin` and key pk against the entries stored.  The
 * verdict, as one line for a person (with its newline), in msg:
 * "ledger OK: ..." or "FAIL ..." naming what was altered, removed or
 * added.  0 when OK, KETEN_EINVAL when not.
 */
#define LEDGER_MSGLEN 1024
int ledger_reader_verify(struct ledger_reader *r, const char *origin, const uint8_t pk[static 32],
    char msg[static LEDGER_MSGLEN]);

/*
 * A self-contained proof file (docs/auditor.md, ledger/proof.h) on f: of
 * entry seq in the checkpoint of `size`, or (consistency) of the checkpoint
 * of `size` extending the one of `old`.  0, or KETEN_ENOTFOUND with err.
 */
int ledger_reader_prove(struct ledger_reader *r, uint64_t seq, uint64_t size, uint64_t old,
    bool consistency, FILE *f, char err[static KETEN_ERRLEN]);

#endif
