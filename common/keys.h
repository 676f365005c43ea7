/*
 * An agency's (or the broker's) three key pairs, DESIGN.md "Crypto":
 * a CURVE transport pair (libzmq, Z85 text), an Ed25519 signing pair and an
 * X25519 encryption pair.  The secret file holds the three secret keys; the
 * public keys are derived from them.  Secret key files must be mode 0600.
 */
#ifndef KETEN_KEYS_H
#define KETEN_KEYS_H

#include <sodium.h>
#include <stdint.h>

#include "common/err.h"
#include "common/util.h"

#define KETEN_CURVE_KEYBYTES 32
#define KETEN_Z85_KEYLEN 40	/* Z85 text of a 32-byte key, without NUL */
#define KETEN_SIGN_PKBYTES crypto_sign_ed25519_PUBLICKEYBYTES
#define KETEN_SIGN_SKBYTES crypto_sign_ed25519_SECRETKEYBYTES
#define KETEN_ENC_KEYBYTES crypto_scalarmult_curve25519_BYTES

struct keten_keys {
	char id[KETEN_IDMAX];
	uint8_t tx_pk[KETEN_CURVE_KEYBYTES];
	uint8_t tx_sk[KETEN_CURVE_KEYBYTES];
	uint8_t sign_pk[KETEN_SIGN_PKBYTES];
	uint8_t sign_sk[KETEN_SIGN_SKBYTES];
	uint8_t enc_pk[KETEN_ENC_KEYBYTES];
	uint8_t enc_sk[KETEN_ENC_KEYBYTES];
};

/* Fresh key pairs for `id` in sodium_malloc'd memory; free with keys_free. */
int keys_generate(const char *id, struct keten_keys **out, char err[static KETEN_ERRLEN]);

/*
 * Load a secret key file.  Refuses (KETEN_EPERM) a file group or others can
 * read or write, and any malformed, truncated or mismatching key, naming the
 * file and line.  *out is sodium_malloc'd; free with keys_free.
 */
int keys_load(const char *path, struct keten_keys **out, char err[static KETEN_ERRLEN]);

/*
 * Write DIR/ID.secret (mode 0600, refuses to overwrite) and DIR/ID.public.yaml
 * (the directory entry to paste).  Creates DIR (0700) if needed.
 */
int keys_save(const struct keten_keys *keys, const char *dir, char err[static KETEN_ERRLEN]);

/* The directory entry of the public keys, YAML, into a malloc'd string. */
char *keys_public_yaml(const struct keten_keys *keys);

/* Wipe and release; accepts NULL and NULLs the pointer. */
void keys_free(struct keten_keys **keys);

/* Z85 encode a 32-byte key into out[41]; decode exactly 40 chars (0/-1). */
void key_z85_encode(char out[static KETEN_Z85_KEYLEN + 1], const uint8_t key[static 32]);
int key_z85_decode(uint8_t out[static 32], const char *text);
/* Standard base64 of exactly `len` bytes; decode refuses any other length. */
int key_b64_decode(uint8_t *out, size_t len, const char *text);
void key_b64_encode(char *out, size_t outlen, const uint8_t *key, size_t len);

#endif
