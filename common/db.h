/* Opening an LMDB environment the way broker and agent both need it. */
#ifndef KETEN_DB_H
#define KETEN_DB_H

#include <lmdb.h>

#include "common/err.h"

/*
 * Create `dir` (0700) and open an LMDB environment there with `map_size_mb`
 * and room for `maxdbs` named databases.  Commits are durable (fsync): keten
 * acknowledges nothing that is not on disk.  Takes an exclusive lock on
 * DIR/daemon.lock for the life of the process (KETEN_EEXIST if held).
 * Free with mdb_env_close.
 */
int db_env_open(const char *dir, size_t map_size_mb, unsigned maxdbs, MDB_env **out,
    char err[static KETEN_ERRLEN]);

/*
 * Open an existing environment read-only, without the daemon lock: auditors
 * read while the broker runs (LMDB allows concurrent readers).
 */
int db_env_open_readonly(const char *dir, MDB_env **out, char err[static KETEN_ERRLEN]);

/* Map an LMDB return code to a keten code (MDB_MAP_FULL -> KETEN_EFULL). */
int db_err(int mdb_rc);

#endif
