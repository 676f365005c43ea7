/*
 * The auditors' query log (DESIGN.md "Audit ledger": audit-query entries).
 *
 * `keten audit` reads the ledger read-only and holds no key that may append
 * to it, so it asks the broker to log each query: it drops a small record
 * into DATA_DIR/audit-spool/ (written to a temporary name, fsync'd, renamed
 * to ID.q) and waits until the broker has committed an AUDIT_QUERY entry
 * for it and removed the file.  The broker names the auditor by the file's
 * owner (the operating system's account, which the auditor cannot forge),
 * never by what the record claims.  A record holds no case reference, only
 * the case pseudonym.
 *
 * Record format, one "key value" per line, printable ASCII, at most
 * AUDITSPOOL_MAX bytes:
 *
 *   keten-audit-query/v1
 *   id 0123456789abcdef0123456789abcdef     (16 random bytes, hex)
 *   verb query                              (query, report, verify, ...)
 *   case <64 hex>                           (optional: the case pseudonym)
 *   query <the canonical query, free text>
 */
#ifndef KETEN_AUDITSPOOL_H
#define KETEN_AUDITSPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define AUDITSPOOL_DIR "audit-spool"
#define AUDITSPOOL_MAX 2048
#define AUDITSPOOL_NAMELEN 34		/* 32 hex digits + ".q" */

struct audit_query {
	uint8_t id[16];
	char verb[32];
	bool has_case;
	uint8_t pseudo[32];
	char text[1536];
};

/* Format q as a record into buf (AUDITSPOOL_MAX).  The length, or 0 if too long. */
size_t auditspool_format(const struct audit_query *q, char buf[static AUDITSPOOL_MAX]);

/* Parse a record; 0, or KETEN_EINVAL with the line and what is wrong in err. */
int auditspool_parse(const char *buf, size_t len, struct audit_query *q,
    char err[static KETEN_ERRLEN]);

/* Whether `name` is a finished record's file name (ID.q), not a temporary. */
bool auditspool_name_valid(const char *name);

/*
 * Whether a broker holds DATA_DIR (its daemon.lock): 1 yes, 0 no (nobody
 * could log a query: the directory is a copy or the broker is stopped), and
 * 1 when that cannot be told (the lock file is not ours to open).
 */
int auditspool_broker_running(const char *data_dir);

/*
 * Drop q into DATA_DIR/audit-spool and wait up to timeout_ms until the
 * broker has logged it.  0, or an error in err (the record is withdrawn).
 */
int auditspool_log(const char *data_dir, const struct audit_query *q, int64_t timeout_ms,
    char err[static KETEN_ERRLEN]);

#endif
