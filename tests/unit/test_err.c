/* Unit tests of common/err.c: error texts and the error buffer. */
#include "tests/unit/testutil.h"

#include "common/err.h"

static void
test_strerror(void **state)
{
	static const int codes[] = { KETEN_OK, KETEN_EINVAL, KETEN_ENOMEM, KETEN_EIO,
		KETEN_EPERM, KETEN_ENOTFOUND, KETEN_EDB, KETEN_EZMQ, KETEN_ECRYPTO,
		KETEN_ETOOBIG, KETEN_EEXIST, KETEN_EFULL };

	/* every code has its own text */
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = keten_strerror(codes[i]);
		assert_non_null(s);
		assert_string_not_equal(s, "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, keten_strerror(codes[j]));
	}
	assert_string_equal(keten_strerror(KETEN_EPERM), "insecure file permissions");
	assert_string_equal(keten_strerror(-1000), "unknown error");
	assert_string_equal(keten_strerror(1), "unknown error");
}

static void
test_seterr(void **state)
{
	char err[KETEN_ERRLEN], big[2 * KETEN_ERRLEN];

	assert_int_equal(keten_seterr(err, KETEN_EIO, "%s: %d", "file", 42), KETEN_EIO);
	assert_string_equal(err, "file: 42");

	/* long messages are cut to the buffer, always terminated */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(keten_seterr(err, KETEN_EINVAL, "%s", big), KETEN_EINVAL);
	assert_int_equal(strlen(err), KETEN_ERRLEN - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_seterr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
