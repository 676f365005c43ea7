/*
 * Peers' strings on their way into a log line (common/log.c log_safe): a
 * newline, an escape sequence or a backslash cannot make a line of the
 * peer's own (the forged "checkpoint 999 cosigned by ..." line of the
 * adversarial probe), and a long string is cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/utf8.h"

static void
test_log_safe(void **state)
{
	char buf[LOG_SAFE_LEN(64)], small[8];

	(void)state;
	assert_string_equal(log_safe("plain text", 64, buf, sizeof(buf)), "plain text");
	assert_string_equal(log_safe("x\n2026-12-04T00:00:00Z INFO broker: checkpoint 999 cosigned by om",
	    64, buf, sizeof(buf)), "x\\x0a2026-12-04T00:00:00Z INFO broker: checkpoint 999 cosigned by o...");
	assert_null(strchr(buf, '\n'));
	assert_string_equal(log_safe("\x1b[31mred\\", 64, buf, sizeof(buf)), "\\x1b[31mred\\x5c");
	assert_string_equal(log_safe("caf\xc3\xa9", 64, buf, sizeof(buf)), "caf\xc3\xa9");	/* UTF-8 kept */
	assert_string_equal(log_safe(NULL, 64, buf, sizeof(buf)), "");
	/* a buffer too small for the whole: cut, always terminated, never overrun */
	log_safe("\n\n\n\n\n\n", 64, small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_null(strchr(small, '\n'));
	/* the worst case fits LOG_SAFE_LEN */
	char worst[65];
	memset(worst, '\n', 64);
	worst[64] = '\0';
	log_safe(worst, 64, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 64 * 4);
}

/* Whatever a call site passes on, a log line stays one line (vlog escapes controls). */
static void
test_one_line(void **state)
{
	char path[] = "/tmp/keten-test-log-XXXXXX", buf[4096];
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;
	size_t n;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	log_warnx("agency %s says hello", "x\nFAKE INFO broker: checkpoint 999\r\x1b[2J");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_non_null(f = fdopen(fd, "r"));
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	assert_non_null(strstr(buf, "agency x\\x0aFAKE INFO broker: checkpoint 999\\x0d\\x1b[2J says hello\n"));
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);	/* the only newline ends the line */
}

/* A peer's long reason on its way into the ledger (utf8_cut): bounded, never mid-character. */
static void
test_utf8_cut(void **state)
{
	char out[12], big[4096];

	(void)state;
	assert_int_equal(utf8_cut(out, sizeof(out), "short"), 5);
	assert_string_equal(out, "short");
	assert_int_equal(utf8_cut(out, sizeof(out), "exactly 11!"), 11);	/* fits whole */
	assert_string_equal(out, "exactly 11!");
	utf8_cut(out, sizeof(out), "twelve bytes");
	assert_string_equal(out, "twelve b...");
	/* "é" (2 bytes) would straddle the cut: left out whole */
	utf8_cut(out, sizeof(out), "abcdefg\xc3\xa9xyz");
	assert_string_equal(out, "abcdefg...");
	utf8_cut(out, sizeof(out), "ab\xff\xc3");	/* not UTF-8: '?' */
	assert_string_equal(out, "ab??");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(utf8_cut(out, sizeof(out), big), sizeof(out) - 1);
	assert_int_equal(utf8_cut(out, 4, big), 3);
	assert_string_equal(out, "...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_safe),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
