/*
 * libFuzzer target: the audit-spool record the broker reads from auditors
 * (ledger/auditspool.c).  A record that parses must format back to a record
 * that parses to the same query.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/auditspool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_query q, r;
	char err[KETEN_ERRLEN], buf[AUDITSPOOL_MAX];
	size_t n;

	if (auditspool_parse((const char *)data, size, &q, err) != 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if ((n = auditspool_format(&q, buf)) == 0)
		return 0;	/* a parsed record can exceed the formatted size only at the limit */
	if (auditspool_parse(buf, n, &r, err) != 0 || memcmp(q.id, r.id, 16) != 0 ||
	    strcmp(q.verb, r.verb) != 0 || q.has_case != r.has_case ||
	    (q.has_case && memcmp(q.pseudo, r.pseudo, 32) != 0) || strcmp(q.text, r.text) != 0)
		abort();
	return 0;
}
