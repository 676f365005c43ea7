/* Unit tests of common/err.c: error texts and the error buffer. */
#include "tests/unit/testutil.h"

#include "common/envelope.h"
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
	assert_string_equal(keten_strerror(KETEN_EPERM), "not permitted");
	assert_string_equal(keten_strerror(-1000), "unknown error");
	assert_string_equal(keten_strerror(1), "unknown error");
}

/* Each family in its own range: no value means two things (common/err.h). */
static void
test_ranges(void **state)
{
	static const int keten[] = { KETEN_EINVAL, KETEN_ENOMEM, KETEN_EIO, KETEN_EPERM,
		KETEN_ENOTFOUND, KETEN_EDB, KETEN_EZMQ, KETEN_ECRYPTO, KETEN_ETOOBIG, KETEN_EEXIST,
		KETEN_EFULL };
	static const int env[] = { ENV_BAD_LENGTH, ENV_BAD_KEY, ENV_BAD_SIGNATURE, ENV_CANNOT_OPEN,
		ENV_NOT_LISTED };

	(void)state;
	for (size_t i = 0; i < sizeof(keten) / sizeof(keten[0]); i++) {
		assert_true(keten[i] <= -1 && keten[i] >= -99);
		for (size_t j = 0; j < sizeof(env) / sizeof(env[0]); j++)
			assert_int_not_equal(keten[i], env[j]);
	}
	for (size_t j = 0; j < sizeof(env) / sizeof(env[0]); j++) {
		assert_true(env[j] <= KETEN_ERR_ENV_FIRST && env[j] >= KETEN_ERR_ENV_LAST);
		/* keten_strerror names them as the envelope does */
		assert_string_equal(keten_strerror(env[j]), envelope_strerror(env[j]));
		assert_string_not_equal(keten_strerror(env[j]), "unknown error");
	}
	assert_int_equal(ENV_OK, KETEN_OK);
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
		cmocka_unit_test(test_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
