/* Signing and checking distributed policies. */
#include <sodium.h>
#include <string.h>

#include "common/policysig.h"
#include "common/util.h"

static void
digest(uint8_t out[static 64], const uint8_t hash[static 32], const uint8_t *source, size_t len,
    const char *version, int64_t activated_ms)
{
	static const char label[] = "keten-policy-update-v1\n";
	crypto_hash_sha512_state st;
	uint8_t srchash[32], when[8];

	crypto_hash_sha256(srchash, source, len);
	be64_put(when, (uint64_t)activated_ms);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_hash_sha512_update(&st, hash, 32);
	crypto_hash_sha512_update(&st, srchash, 32);
	crypto_hash_sha512_update(&st, (const uint8_t *)version, strlen(version));
	crypto_hash_sha512_update(&st, (const uint8_t *)"\n", 1);
	crypto_hash_sha512_update(&st, when, 8);
	crypto_hash_sha512_final(&st, out);
}

void
policysig_sign(uint8_t sig[static 64], const uint8_t hash[static 32], const uint8_t *source,
    size_t len, const char *version, int64_t activated_ms, const uint8_t sk[static 64])
{
	uint8_t d[64];

	digest(d, hash, source, len, version, activated_ms);
	crypto_sign_ed25519_detached(sig, NULL, d, sizeof(d), sk);
}

int
policysig_verify(const uint8_t *sig, size_t siglen, const uint8_t *hash, size_t hashlen,
    const uint8_t *source, size_t len, const char *version, int64_t activated_ms,
    const uint8_t pk[static 32])
{
	uint8_t d[64];

	if (siglen != 64 || hashlen != 32)
		return -1;
	digest(d, hash, source, len, version, activated_ms);
	return crypto_sign_ed25519_verify_detached(sig, d, sizeof(d), pk) == 0 ? 0 : -1;
}

static void
dir_digest(uint8_t out[static 64], const uint8_t *source, size_t len, uint64_t version)
{
	static const char label[] = "keten-directory-update-v1\n";
	crypto_hash_sha512_state st;
	uint8_t srchash[32], v[8];

	crypto_hash_sha256(srchash, source, len);
	be64_put(v, version);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_hash_sha512_update(&st, srchash, 32);
	crypto_hash_sha512_update(&st, v, 8);
	crypto_hash_sha512_final(&st, out);
}

void
dirsig_sign(uint8_t sig[static 64], const uint8_t *source, size_t len, uint64_t version,
    const uint8_t sk[static 64])
{
	uint8_t d[64];

	dir_digest(d, source, len, version);
	crypto_sign_ed25519_detached(sig, NULL, d, sizeof(d), sk);
}

int
dirsig_verify(const uint8_t *sig, size_t siglen, const uint8_t *source, size_t len,
    uint64_t version, const uint8_t pk[static 32])
{
	uint8_t d[64];

	if (siglen != 64)
		return -1;
	dir_digest(d, source, len, version);
	return crypto_sign_ed25519_verify_detached(sig, d, sizeof(d), pk) == 0 ? 0 : -1;
}
