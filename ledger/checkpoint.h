/*
 * Ledger checkpoints in the C2SP tlog-checkpoint format, signed as a C2SP
 * signed note with an Ed25519 key:
 *
 *   <origin>\n<size>\n<base64 root hash>\n
 *   \n
 *   — <origin> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>\n
 *
 * key id = SHA-256(origin || "\n" || 0x01 || public key)[:4]; the signature
 * covers the note text (the first three lines, newlines included).
 */
#ifndef KETEN_CHECKPOINT_H
#define KETEN_CHECKPOINT_H

#include <stdint.h>

#include "common/err.h"

/* The signed note, malloc'd; NULL on out of memory. */
char *checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[static 32],
    const uint8_t sign_sk[static 64], const uint8_t sign_pk[static 32]);

/*
 * Parse and verify a signed note against origin and key: 0 with *size and
 * root set, or KETEN_EINVAL / KETEN_ECRYPTO with the reason in err.
 */
int checkpoint_verify(const char *note, const char *origin, const uint8_t pk[static 32],
    uint64_t *size, uint8_t root[static 32], char err[static KETEN_ERRLEN]);

/*
 * checkpoint_verify with a memory of the last note it accepted: the same
 * note text, origin and key as then (compared byte for byte) give the same
 * answer without a second Ed25519 verification.  A broker signs one
 * checkpoint per commit and every receipt of that commit carries it (three
 * to a message with three recipients), so an agent verifies each note once.
 * A note that differs in any byte, or another key or origin, is verified in
 * full.  One memo per thread; zero-initialised; checkpoint_memo_clear frees.
 */
struct checkpoint_memo {
	char *note, *origin;
	uint8_t pk[32];
	uint64_t size;
	uint8_t root[32];
	uint64_t hits;		/* answers given without verifying again */
};
int checkpoint_verify_memo(struct checkpoint_memo *m, const char *note, const char *origin,
    const uint8_t pk[static 32], uint64_t *size, uint8_t root[static 32],
    char err[static KETEN_ERRLEN]);
void checkpoint_memo_clear(struct checkpoint_memo *m);

/*
 * C2SP cosignature/v1 by a witness (an agency) over a checkpoint note:
 * Ed25519 over "cosignature/v1\ntime <t>\n" || the note's text (first three
 * lines), line "— <name> base64(keyid(4) || t (8, big-endian) || sig(64))",
 * keyid = SHA-256(name || "\n" || 0x04 || pubkey)[:4].  Returns the line
 * (malloc'd, with its newline) or NULL.
 */
char *checkpoint_cosign(const char *note, const char *name, uint64_t timestamp,
    const uint8_t sign_sk[static 64], const uint8_t sign_pk[static 32]);
/* Verify a cosignature line over note by name/pk: 0 or -1. */
int checkpoint_cosig_verify(const char *note, const char *line, const char *name,
    const uint8_t pk[static 32]);

#endif
