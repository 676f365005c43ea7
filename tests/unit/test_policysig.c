/* Signatures over distributed policies: what is signed, and that any change breaks it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/policysig.h"

static const char src[] = "policy: t\nversion: \"1\"\n";

static void
test_roundtrip_and_tamper(void **state)
{
	uint8_t pk[32], sk[64], pk2[32], sk2[64], hash[32], sig[64], bad[64], h2[32];
	char src2[sizeof(src)];

	(void)state;
	assert_true(sodium_init() >= 0);
	crypto_sign_ed25519_keypair(pk, sk);
	crypto_sign_ed25519_keypair(pk2, sk2);
	randombytes_buf(hash, sizeof(hash));
	policysig_sign(sig, hash, (const uint8_t *)src, strlen(src), "1", 1767225600000, sk);
	assert_int_equal(policysig_verify(sig, 64, hash, 32, (const uint8_t *)src, strlen(src), "1",
	    1767225600000, pk), 0);
	/* another key */
	assert_int_equal(policysig_verify(sig, 64, hash, 32, (const uint8_t *)src, strlen(src), "1",
	    1767225600000, pk2), -1);
	/* each signed part changed */
	memcpy(h2, hash, 32);
	h2[31] ^= 1;
	assert_int_equal(policysig_verify(sig, 64, h2, 32, (const uint8_t *)src, strlen(src), "1",
	    1767225600000, pk), -1);
	memcpy(src2, src, sizeof(src));
	src2[0] = 'P';
	assert_int_equal(policysig_verify(sig, 64, hash, 32, (const uint8_t *)src2, strlen(src2), "1",
	    1767225600000, pk), -1);
	assert_int_equal(policysig_verify(sig, 64, hash, 32, (const uint8_t *)src, strlen(src), "2",
	    1767225600000, pk), -1);
	assert_int_equal(policysig_verify(sig, 64, hash, 32, (const uint8_t *)src, strlen(src), "1",
	    1767225600001, pk), -1);
	/* the signature itself changed, truncated, or the hash of the wrong length */
	memcpy(bad, sig, 64);
	bad[0] ^= 0x80;
	assert_int_equal(policysig_verify(bad, 64, hash, 32, (const uint8_t *)src, strlen(src), "1",
	    1767225600000, pk), -1);
	assert_int_equal(policysig_verify(sig, 63, hash, 32, (const uint8_t *)src, strlen(src), "1",
	    1767225600000, pk), -1);
	assert_int_equal(policysig_verify(sig, 64, hash, 31, (const uint8_t *)src, strlen(src), "1",
	    1767225600000, pk), -1);
	/* deterministic: Ed25519 signs the same input the same way */
	policysig_sign(bad, hash, (const uint8_t *)src, strlen(src), "1", 1767225600000, sk);
	assert_memory_equal(bad, sig, 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_tamper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
