/*
 * keten-broker with its defence removed, for tests/integ/t_powerloss.sh
 * only: the syncer's mdb_env_sync does nothing, so a batch committed with
 * MDB_NOMETASYNC is acknowledged while its meta page is not on disk.  The
 * machine-crash test must catch it losing acknowledged messages; if it did
 * not, the test could not fail.  Never built into a product binary.
 */
#include <lmdb.h>

int __wrap_mdb_env_sync(MDB_env *env, int force);

int
__wrap_mdb_env_sync(MDB_env *env, int force)
{
	(void)env, (void)force;
	return 0;
}
