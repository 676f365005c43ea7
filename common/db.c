/* LMDB environment setup shared by broker and agent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/db.h"
#include "common/util.h"

int
db_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL)
		return KETEN_EFULL;
	if (rc == MDB_NOTFOUND)
		return KETEN_ENOTFOUND;
	return KETEN_EDB;
}

int
db_env_open(const char *dir, size_t map_size_mb, unsigned maxdbs, MDB_env **out,
    char err[static KETEN_ERRLEN])
{
	MDB_env *env = NULL;
	int rc;

	char lock[4096];
	int fd;

	if ((rc = dir_ensure(dir, 0700, err)) != 0)
		return rc;
	/* One daemon per data directory: two agents sharing an outbox would both
	 * send it.  The lock is held until the process exits. */
	snprintf(lock, sizeof(lock), "%s/daemon.lock", dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return keten_seterr(err, KETEN_EIO, "%s: %s", lock, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return keten_seterr(err, KETEN_EEXIST, "%s: another process is using this data "
		    "directory", dir);
	}
	if ((rc = mdb_env_create(&env)) ||
	    (rc = mdb_env_set_mapsize(env, map_size_mb << 20)) ||
	    (rc = mdb_env_set_maxdbs(env, maxdbs)) ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600))) {
		keten_seterr(err, db_err(rc), "%s: cannot open database: %s", dir,
		    mdb_strerror(rc));
		if (env != NULL)
			mdb_env_close(env);
		return db_err(rc) ? db_err(rc) : KETEN_EDB;
	}
	*out = env;
	return 0;
}

int
db_env_open_readonly(const char *dir, MDB_env **out, char err[static KETEN_ERRLEN])
{
	MDB_env *env = NULL;
	int rc;

	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
	    (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0))) {
		keten_seterr(err, db_err(rc) ? db_err(rc) : KETEN_EDB, "%s: cannot open the database "
		    "read-only: %s", dir, mdb_strerror(rc));
		if (env != NULL)
			mdb_env_close(env);
		return db_err(rc) ? db_err(rc) : KETEN_EDB;
	}
	*out = env;
	return 0;
}
