/*
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys: a text ending
 * in a newline, a blank line, then one or more signature lines
 *
 *   — <key name> base64(key ID (4 bytes, big-endian) || Ed25519 signature)
 *
 * key ID = SHA-256(key name || "\n" || 0x01 || public key)[:4].  Verifier keys
 * (vkeys) are "<name>+<hex key ID>+base64(0x01 || public key)".
 *
 * keten's approvals (common/approval.h) are signed notes, so any C2SP tool
 * (for example Go's golang.org/x/mod/sumdb/note) can read and check them.
 * Input is untrusted: a note is at most NOTE_MAX_BYTES with at most
 * NOTE_MAX_SIGS signatures, valid UTF-8 without control characters other
 * than newline.
 */
#ifndef KETEN_NOTE_H
#define KETEN_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define NOTE_MAX_BYTES 65536
#define NOTE_MAX_SIGS 64	/* the spec asks for at least 16 */
#define NOTE_NAMEMAX 128	/* key name, with its NUL */
#define NOTE_VKEYMAX (NOTE_NAMEMAX + 10 + 64)

/* A verifier key: the name and key ID signatures are matched by, and the key. */
struct note_key {
	char name[NOTE_NAMEMAX];
	uint32_t id;
	uint8_t pk[32];
};

/* One signature line of a note. */
struct note_sig {
	char name[NOTE_NAMEMAX];
	uint32_t id;
	uint8_t sig[64];
	bool ed25519;		/* 4 + 64 bytes: could be an Ed25519 signature */
};

/* A parsed note: its text (with the final newline) and its signatures. */
struct note {
	char *text;
	size_t textlen;
	struct note_sig sigs[NOTE_MAX_SIGS];
	size_t nsigs;
};

/*
 * Whether name is a valid key name: non-empty, shorter than NOTE_NAMEMAX,
 * printable ASCII or UTF-8 without spaces or '+'.
 */
bool note_name_valid(const char *name);

/* The key ID of an Ed25519 key under name. */
uint32_t note_key_id(const char *name, const uint8_t pk[static 32]);

/* k from name and pk.  0, or KETEN_EINVAL when the name is not a valid key name. */
int note_key_init(struct note_key *k, const char *name, const uint8_t pk[static 32]);

/* Parse a vkey.  0, or KETEN_EINVAL with what is wrong in err. */
int note_vkey_parse(const char *vkey, struct note_key *k, char err[static KETEN_ERRLEN]);
/* The vkey of k. */
void note_vkey_format(const struct note_key *k, char out[static NOTE_VKEYMAX]);

/*
 * The signature line (with its newline, malloc'd; NULL on out of memory)
 * of key name/sk/pk over text (textlen bytes, ending in a newline).
 */
char *note_sign_line(const char *text, size_t textlen, const char *name,
    const uint8_t sk[static 64], const uint8_t pk[static 32]);

/*
 * Parse buf[0..len) as a signed note.  *out is the caller's (note_free).
 * 0, or KETEN_EINVAL / KETEN_ENOMEM with what is wrong in err.
 */
int note_parse(const char *buf, size_t len, struct note **out, char err[static KETEN_ERRLEN]);
void note_free(struct note **n);

/*
 * Check n's signatures against keys[0..nkeys): as the spec says, a
 * signature whose name and ID match no key is ignored; one that matches a
 * key must verify, or the whole note is refused (KETEN_ECRYPTO, naming the
 * key in err).  ok[i] (when ok is not NULL) tells whether keys[i] signed.
 * Returns the number of keys whose signature verified (0 is not an error
 * here: the caller's threshold decides), or a negative KETEN_E*.
 */
int note_verify(const struct note *n, const struct note_key *keys, size_t nkeys, bool *ok,
    char err[static KETEN_ERRLEN]);

/*
 * The note text followed by the signature lines of a and b, each (name, ID)
 * once: a merge of approvals of the same text.  malloc'd, NUL-terminated.
 * KETEN_EINVAL when the texts differ.
 */
int note_merge(const struct note *a, const struct note *b, char **out,
    char err[static KETEN_ERRLEN]);

/* The note as text (text, blank line, signature lines), malloc'd. */
char *note_format(const struct note *n);

#endif
