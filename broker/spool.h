/*
 * The broker's side of the auditors' query log (ledger/auditspool.h): watch
 * DATA_DIR/audit-spool, turn each record into an AUDIT_QUERY ledger entry in
 * the batch transaction, and remove the record only after that commit.
 */
#ifndef KETEN_BROKER_SPOOL_H
#define KETEN_BROKER_SPOOL_H

#include <lmdb.h>

#include "ledger/ledger.h"
#include "common/err.h"

struct spool;

/* Create (mode 1730) and watch DATA_DIR/audit-spool.  0 or an error in err. */
int spool_open(const char *data_dir, struct spool **out, char err[static KETEN_ERRLEN]);
void spool_free(struct spool **s);

/* A descriptor that becomes readable when a record may have arrived. */
int spool_fd(const struct spool *s);

/*
 * Log up to a batch of waiting records through log(arg, entry) in txn (a
 * record already in the ledger, from before a crash, is not logged twice).
 * The number logged.  `force`: scan even if nothing was signalled.
 */
size_t spool_collect(struct spool *s, struct ledger *l, MDB_txn *txn, bool force,
    int (*log)(void *arg, MDB_txn *txn, Keten__Ledger__V1__Entry *e), void *arg);

/* After the commit: remove the records logged (committed) or keep them for the next batch. */
void spool_settle(struct spool *s, bool committed);
/* Queries collected in the batch not yet settled. */
size_t spool_taken(const struct spool *s);

#endif
