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
#include <string.h>

#include <cmocka.h>

#include "common/log.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
