/*
 * Sealed and signed envelopes (DESIGN.md "Crypto"; the byte-exact format is
 * in docs/protocol.md).  libsodium primitives only.
 *
 * Per message the sender picks a fresh ephemeral X25519 key pair.  For each
 * recipient:
 *   shared = X25519(ephemeral_sk, recipient_encryption_pk)
 *   key    = BLAKE2b-256(key = shared, "keten-seal-v1" || ephemeral_pk ||
 *            recipient_encryption_pk || recipient id || header digest)
 *   copy   = XChaCha20-Poly1305(key, random 24-byte nonce, content,
 *            ad = header digest || recipient id || manifest digest)
 * so a copy opens only for its recipient, under its header and manifest.
 * The sender signs (Ed25519) the envelope digest over the header digest, the
 * ephemeral public key and every copy's digest (recipient, manifest digest,
 * nonce, ciphertext).  The broker checks the signature without reading any
 * content; a recipient checks it with the copy digests the broker passes on.
 */
#ifndef KETEN_ENVELOPE_H
#define KETEN_ENVELOPE_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "schemas/envelope.pb-c.h"
#include "schemas/wire.pb-c.h"

#define ENV_DIGESTBYTES 32
#define ENV_KEYBYTES 32
#define ENV_NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ENV_MACBYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENV_SIGBYTES crypto_sign_ed25519_BYTES
#define ENV_MAX_COPIES 64	/* recipients per message, as broker and agents allow */

/* Why an envelope does not check out (envelope_strerror). */
enum env_error {
	ENV_OK = 0,			/* the range of these codes: common/err.h */
	ENV_BAD_LENGTH = -101,		/* a key, nonce or signature of the wrong size */
	ENV_BAD_KEY = -102,		/* a public key with no usable shared secret */
	ENV_BAD_SIGNATURE = -103,	/* the signature does not verify */
	ENV_CANNOT_OPEN = -104,		/* authentication failed: not for us, or altered */
	ENV_NOT_LISTED = -105,		/* our copy's digest is not in the signed list */
};
const char *envelope_strerror(int e);

#define ENV_EPOCH_MS 1577836800000LL	/* 2020-01-01T00:00:00Z: no message is older */
#define ENV_WHYLEN 160
#define ENV_NAMEMAX 128	/* bytes of a header's type, purpose, basis, policy version, region */
#define ENV_MAX_FORMS 8	/* exploitation forms in a header (five exist) */

/*
 * The header's values in range, whoever signed it (docs/protocol.md,
 * Notation): a UUIDv7 message id, a case pseudonym of 32 bytes or none,
 * sender and recipients no longer than agency ids, at most ENV_MAX_COPIES
 * recipients, type, purpose, basis, policy version and region at most
 * ENV_NAMEMAX bytes, at most ENV_MAX_FORMS exploitation forms, created_ms from ENV_EPOCH_MS, handling, urgency and exploitation
 * forms known values (so never negative), an in_reply_to that is empty or
 * a message id.  0, or -1 with the reason in
 * why.  The broker's gate and the receiving agent both ask it.
 */
int envelope_header_check(const Keten__Envelope__V1__Header *h, char why[static ENV_WHYLEN]);

/* Digests of the canonical forms (docs/protocol.md). */
void envelope_header_digest(uint8_t out[static ENV_DIGESTBYTES], const Keten__Envelope__V1__Header *h);
void envelope_manifest_digest(uint8_t out[static ENV_DIGESTBYTES], char *const *paths, size_t n);
void envelope_copy_digest(uint8_t out[static ENV_DIGESTBYTES], const Keten__Wire__V1__Copy *c);
void envelope_digest(uint8_t out[static ENV_DIGESTBYTES], const uint8_t header[static ENV_DIGESTBYTES],
    const uint8_t eph_pk[static ENV_KEYBYTES], const uint8_t (*copies)[ENV_DIGESTBYTES], size_t n);

/*
 * Seal `content` for one recipient into c->payload (malloc'd, len + MAC) and
 * c->nonce (malloc'd); c->recipient and c->manifest must be set.  `nonce` is
 * the 24 random bytes to use (tests pass fixed ones).  0 or an env_error.
 */
int envelope_seal(Keten__Wire__V1__Copy *c, const uint8_t header[static ENV_DIGESTBYTES],
    const uint8_t eph_sk[static ENV_KEYBYTES], const uint8_t eph_pk[static ENV_KEYBYTES],
    const uint8_t recipient_pk[static ENV_KEYBYTES], const uint8_t nonce[static ENV_NONCEBYTES],
    const uint8_t *content, size_t len);

/* Open our copy into out (c->payload.len - MAC bytes).  0 or an env_error. */
int envelope_open(uint8_t *out, const Keten__Wire__V1__Copy *c,
    const uint8_t header[static ENV_DIGESTBYTES], const uint8_t eph_pk[static ENV_KEYBYTES],
    const uint8_t own_sk[static ENV_KEYBYTES], const uint8_t own_pk[static ENV_KEYBYTES]);

/* Sign / verify the envelope digest.  verify: 0 or ENV_BAD_SIGNATURE/LENGTH. */
void envelope_sign(uint8_t sig[static ENV_SIGBYTES], const uint8_t digest[static ENV_DIGESTBYTES],
    const uint8_t sign_sk[static 64]);
int envelope_verify(const uint8_t *sig, size_t siglen, const uint8_t digest[static ENV_DIGESTBYTES],
    const uint8_t sign_pk[static 32]);

/*
 * Whole-submission check, as the broker does it: signature of s under the
 * sender's signing key.  Fills digests[i] for each copy (caller provides
 * s->n_copies slots).  ENV_BAD_LENGTH for more than ENV_MAX_COPIES copies,
 * a wrong-sized ephemeral key or nonce, or a ciphertext shorter than its tag.
 * 0 or an env_error.
 */
int envelope_verify_submit(const Keten__Wire__V1__Submit *s, const uint8_t sign_pk[static 32],
    uint8_t (*digests)[ENV_DIGESTBYTES]);

/*
 * Recipient's check of a delivery: the signature over the passed-on copy
 * digests (1..ENV_MAX_COPIES; copy_index out of range is ENV_BAD_LENGTH),
 * and that our copy's digest is the listed one at copy_index (ENV_NOT_LISTED).
 */
int envelope_verify_deliver(const Keten__Wire__V1__Deliver *d, const uint8_t sign_pk[static 32]);

/*
 * Case pseudonym: BLAKE2b-256 keyed with the network key (held by agents
 * and auditors, not by the broker) over "keten-case-v1" || sender || 0x00 ||
 * the sender's case reference.
 */
void envelope_case_pseudonym(uint8_t out[static ENV_DIGESTBYTES], const uint8_t key[static 32],
    const char *sender, const char *reference);

#endif
