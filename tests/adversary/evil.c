/*
 * The evil broker (tests/integ/t_evilbroker.sh): keten-broker's own objects
 * linked with -Wl,--wrap for the approval checks, so that it activates and
 * distributes whatever its host puts in its files.  It is what an attacker
 * who holds the broker's host (root, its keys, its files, its code) runs:
 * the agents, not the broker, must refuse what the partners did not approve.
 * Never built into a product binary (Makefile: $(BUILD)/tests/keten-broker-evil).
 */
#include <stdlib.h>

#include "common/log.h"
#include "common/trust.h"
#include "ledger/ledger.h"

int __wrap_trust_check_policy(const struct trust_root *r, const char *name,
    const char *version, const void *src, size_t len, const char *note, size_t nlen,
    char err[static KETEN_ERRLEN]);
int __wrap_trust_version_cmp(const char *a, const char *b);
int __wrap_trust_check_root(const struct trust_root *r, const struct trust_root *nr, const void *src,
    size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN]);
int __real_ledger_receipt(struct ledger *l, MDB_txn *txn, uint64_t seq, Keten__Wire__V1__Receipt *r);
int __wrap_ledger_receipt(struct ledger *l, MDB_txn *txn, uint64_t seq, Keten__Wire__V1__Receipt *r);
int __wrap_trust_check_directory(const struct trust_root *r, const struct directory *od,
    const struct directory *nd, const void *src, size_t len, const char *note, size_t nlen,
    char err[static KETEN_ERRLEN]);

int
__wrap_trust_check_policy(const struct trust_root *r, const char *name, const char *version,
    const void *src, size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN])
{
	(void)r, (void)src, (void)len, (void)note, (void)nlen, (void)err;
	log_warnx("EVIL: policy %s version %s activated without looking at approvals", name,
	    version);
	return 0;
}

int
__wrap_trust_check_directory(const struct trust_root *r, const struct directory *od,
    const struct directory *nd, const void *src, size_t len, const char *note, size_t nlen,
    char err[static KETEN_ERRLEN])
{
	(void)r, (void)od, (void)src, (void)len, (void)note, (void)nlen, (void)err;
	log_warnx("EVIL: directory version %llu activated without looking at approvals",
	    (unsigned long long)nd->version);
	return 0;
}

/* An older policy version is taken too (a rollback). */
int
__wrap_trust_version_cmp(const char *a, const char *b)
{
	(void)a, (void)b;
	return 0;
}

/*
 * KETEN_EVIL_UNLOGGED set: the broker gives no proof that what it
 * distributes is in its ledger (no receipts at all), as a broker that
 * activates without logging would.
 */
int
__wrap_ledger_receipt(struct ledger *l, MDB_txn *txn, uint64_t seq, Keten__Wire__V1__Receipt *r)
{
	if (getenv("KETEN_EVIL_UNLOGGED") != NULL) {
		keten__wire__v1__receipt__init(r);
		return KETEN_EDB;
	}
	return __real_ledger_receipt(l, txn, seq, r);
}

int
__wrap_trust_check_root(const struct trust_root *r, const struct trust_root *nr, const void *src,
    size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN])
{
	(void)r, (void)src, (void)len, (void)note, (void)nlen, (void)err;
	log_warnx("EVIL: root version %llu activated without looking at approvals",
	    (unsigned long long)nr->version);
	return 0;
}
