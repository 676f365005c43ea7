/* Unit tests of ledger/auditspool.c: the record format `keten audit` hands the broker. */
#include "tests/unit/testutil.h"

#include <sys/file.h>

#include "ledger/auditspool.h"

static void
sample(struct audit_query *q)
{
	memset(q, 0, sizeof(*q));
	for (int i = 0; i < 16; i++)
		q->id[i] = (uint8_t)(0xa0 + i);
	strcpy(q->verb, "report");
	q->has_case = true;
	for (int i = 0; i < 32; i++)
		q->pseudo[i] = (uint8_t)i;
	strcpy(q->text, "keten audit report --ledger /srv/keten --case-ref (withheld)");
}

static void
test_roundtrip(void **state)
{
	struct audit_query q, r;
	char buf[AUDITSPOOL_MAX], err[KETEN_ERRLEN];
	size_t n;

	(void)state;
	sample(&q);
	n = auditspool_format(&q, buf);
	assert_true(n > 0);
	assert_string_equal(buf, "keten-audit-query/v1\n"
	    "id a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
	    "verb report\n"
	    "case 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	    "query keten audit report --ledger /srv/keten --case-ref (withheld)\n");
	assert_int_equal(auditspool_parse(buf, n, &r, err), 0);
	assert_memory_equal(r.id, q.id, 16);
	assert_string_equal(r.verb, "report");
	assert_true(r.has_case);
	assert_memory_equal(r.pseudo, q.pseudo, 32);
	assert_string_equal(r.text, q.text);

	/* without a case the line is absent and comes back as none */
	q.has_case = false;
	n = auditspool_format(&q, buf);
	assert_null(strstr(buf, "case "));
	assert_int_equal(auditspool_parse(buf, n, &r, err), 0);
	assert_false(r.has_case);
}

static void
test_format_refuses(void **state)
{
	struct audit_query q;
	char buf[AUDITSPOOL_MAX];

	(void)state;
	sample(&q);
	strcpy(q.text, "a\nverb forged");	/* a newline would forge a line */
	assert_int_equal(auditspool_format(&q, buf), 0);
	sample(&q);
	strcpy(q.verb, "two words");
	assert_int_equal(auditspool_format(&q, buf), 0);
	sample(&q);
	q.verb[0] = '\0';
	assert_int_equal(auditspool_format(&q, buf), 0);
}

static void
bad(const char *rec, const char *want)
{
	struct audit_query q;
	char err[KETEN_ERRLEN];

	err[0] = '\0';
	assert_int_equal(auditspool_parse(rec, strlen(rec), &q, err), KETEN_EINVAL);
	assert_string_equal(err, want);
}

static void
test_parse_errors(void **state)
{
	char big[AUDITSPOOL_MAX + 2];

	(void)state;
	bad("", "empty record");
	bad("keten-audit-query/v2\n", "line 1: not a keten-audit-query/v1 record");
	bad("keten-audit-query/v1", "line 1: no newline at the end");
	bad("keten-audit-query/v1\nid 00\n", "line 2: bad value for \"id\"");
	bad("keten-audit-query/v1\nidx\n", "line 2: expected \"key value\"");
	bad("keten-audit-query/v1\nwho me\n", "line 2: unknown key \"who\"");
	bad("keten-audit-query/v1\nverb a\nverb b\n", "line 3: \"verb\" given twice");
	bad("keten-audit-query/v1\nverb a b\n", "line 2: bad value for \"verb\"");
	bad("keten-audit-query/v1\nquery caf\xc3\xa9\n", "line 2: byte 0xc3 is not printable ASCII");
	bad("keten-audit-query/v1\ncase 00\n", "line 2: bad value for \"case\"");
	bad("keten-audit-query/v1\nid a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\nquery q\n", "missing verb");
	bad("keten-audit-query/v1\nverb v\nquery q\n", "missing id");
	bad("keten-audit-query/v1\nid a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\nverb v\n", "missing query");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad(big, "record of 2049 bytes (at most 2048)");
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(auditspool_name_valid("0123456789abcdef0123456789abcdef.q"));
	assert_false(auditspool_name_valid("0123456789abcdef0123456789abcdef.q.tmp.42"));
	assert_false(auditspool_name_valid("0123456789ABCDEF0123456789abcdef.q"));
	assert_false(auditspool_name_valid("../23456789abcdef0123456789abcdef.q"));
	assert_false(auditspool_name_valid(".q"));
}

/* With no broker holding the lock, nobody would log: auditspool_broker_running says so. */
static void
test_broker_running(void **state)
{
	char dir[TU_DIRLEN], path[TU_DIRLEN + 16];
	int fd;

	(void)state;
	tu_tmpdir(dir);
	assert_int_equal(auditspool_broker_running(dir), 0);	/* no lock file */
	snprintf(path, sizeof(path), "%s/daemon.lock", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(auditspool_broker_running(dir), 0);	/* nobody holds it */
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(auditspool_broker_running(dir), 1);
	close(fd);
	assert_int_equal(auditspool_broker_running(dir), 0);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_broker_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
