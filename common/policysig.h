/*
 * Signature over a distributed policy (wire PolicyUpdate): Ed25519 by the
 * broker's signing key over
 *   "keten-policy-update-v1\n" || hash(32) || SHA-256(source)(32) ||
 *   version || "\n" || activated_ms (8 bytes, big-endian)
 * so an agent can check where a policy came from and that nobody changed it.
 */
#ifndef KETEN_POLICYSIG_H
#define KETEN_POLICYSIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/keys.h"

void policysig_sign(uint8_t sig[static 64], const uint8_t hash[static 32], const uint8_t *source,
    size_t len, const char *version, int64_t activated_ms, const uint8_t sk[static 64]);
/* 0 when the signature verifies, -1 otherwise. */
int policysig_verify(const uint8_t *sig, size_t siglen, const uint8_t *hash, size_t hashlen,
    const uint8_t *source, size_t len, const char *version, int64_t activated_ms,
    const uint8_t pk[static 32]);

/*
 * The same for a distributed directory: Ed25519 over
 * SHA-512("keten-directory-update-v1\n" || SHA-256(source) || version (8 bytes BE)).
 */
void dirsig_sign(uint8_t sig[static 64], const uint8_t *source, size_t len, uint64_t version,
    const uint8_t sk[static 64]);
int dirsig_verify(const uint8_t *sig, size_t siglen, const uint8_t *source, size_t len,
    uint64_t version, const uint8_t pk[static 32]);

#endif
