/*
 * The sync that makes a committed batch durable, on a thread of its own
 * (docs/performance.md "Commits that overlap work").
 *
 * A commit in LMDB is two syncs: the data pages, then the meta page that
 * points at them.  When more frames wait, the loop commits a batch with
 * MDB_NOMETASYNC (the data pages are synced, the meta page only written)
 * and asks the syncer for the second sync (mdb_env_sync), while it applies
 * the next batch.  Nothing of the batch is sent before that sync returned:
 * acknowledgements, receipts, replies, deliveries (broker/loop.c).  LMDB
 * keeps the database whole either way (a crash before the sync undoes the
 * batch, it cannot corrupt: the previous meta page points at pages no
 * later commit overwrote); tests/integ/t_powerloss.sh drops every unsynced
 * write at a random moment and shows that nothing acknowledged is lost.
 *
 * One sync at a time; the loop starts one only when the last one was
 * waited for.
 */
#ifndef KETEN_BROKER_SYNCER_H
#define KETEN_BROKER_SYNCER_H

#include <lmdb.h>
#include <stdbool.h>

struct syncer;

/* A syncer of env with its thread; 0, or a KETEN_E* code. */
int syncer_new(MDB_env *env, struct syncer **out);
/* Waits for a sync under way, stops the thread.  Accepts NULL or a NULL *s. */
void syncer_free(struct syncer **s);
/* Ask for a sync of env (none is under way). */
void syncer_start(struct syncer *s);
/* Whether the sync asked for has returned (or none was asked for). */
bool syncer_done(struct syncer *s);
/* Wait for it: what mdb_env_sync returned (0 when none was asked for). */
int syncer_wait(struct syncer *s);
/* Readable when a sync returned (for poll); syncer_wait reads it empty. */
int syncer_fd(const struct syncer *s);

#endif
