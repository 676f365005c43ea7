/*
 * The agency directory (DESIGN.md "Agency directory"): the operator's list of
 * agencies with their public keys, validity window and revoked flag.  The
 * broker admits only transport keys listed here (broker/zap.c).
 *
 * File format (YAML), documented in docs/operator.md:
 *   version: 3
 *   agencies:
 *     - id: politie
 *       kind: police
 *       name: Nationale Politie
 *       transport_key: "<Z85, 40 chars>"
 *       signing_key: "<base64 Ed25519 public key>"
 *       encryption_key: "<base64 X25519 public key>"
 *       valid_from: 2026-01-01T00:00:00Z      # optional
 *       valid_until: 2028-01-01T00:00:00Z     # optional
 *       revoked: false                        # optional
 *       previous:                             # optional: keys being rotated out
 *         transport_key: "..."
 *         signing_key: "..."
 *         encryption_key: "..."
 *         valid_until: 2026-12-06T00:00:00Z   # required: end of the overlap
 *
 * Rotation with overlap: until previous.valid_until the old transport key is
 * still admitted and the old signing key still verifies; senders seal to the
 * current encryption key only, and a recipient keeps its previous secret
 * keys (agent previous_keys) to open what was sealed to the old one.
 */
#ifndef KETEN_DIRECTORY_H
#define KETEN_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/keys.h"

#define DIRECTORY_MAX_AGENCIES 4096

struct dir_agency {
	char id[KETEN_IDMAX];
	char kind[32];
	char name[128];
	uint8_t tx_pk[KETEN_CURVE_KEYBYTES];
	uint8_t sign_pk[KETEN_SIGN_PKBYTES];
	uint8_t enc_pk[KETEN_ENC_KEYBYTES];
	int64_t valid_from_ms;		/* 0 = no lower bound */
	int64_t valid_until_ms;		/* 0 = no upper bound */
	bool revoked;
	bool has_previous;		/* keys being rotated out, until prev_until_ms */
	uint8_t prev_tx_pk[KETEN_CURVE_KEYBYTES];
	uint8_t prev_sign_pk[KETEN_SIGN_PKBYTES];
	uint8_t prev_enc_pk[KETEN_ENC_KEYBYTES];
	int64_t prev_until_ms;
};

struct directory {
	uint64_t version;
	size_t n;
	struct dir_agency *agencies;	/* n entries, owned */
};

/*
 * Load and validate a directory file: unknown keys, bad ids or kinds,
 * malformed keys, duplicate ids and duplicate keys are errors naming
 * file:line:col.  *out is owned by the caller; free with directory_free.
 */
int directory_load(const char *path, struct directory **out, char err[static KETEN_ERRLEN]);
/* The same from memory; `name` stands for the file in messages. */
int directory_parse(const char *name, const void *buf, size_t len, struct directory **out,
    char err[static KETEN_ERRLEN]);
/*
 * The directory as YAML (the file format above), malloc'd; NULL on out of
 * memory.  Comments of the original file are not kept.
 */
char *directory_format(const struct directory *dir);
void directory_free(struct directory **dir);

/* Lookups; the result lives as long as the directory. NULL if absent. */
const struct dir_agency *directory_find(const struct directory *dir, const char *id);
/* The agency whose current, or previous and still valid at now_ms, transport key is pk. */
const struct dir_agency *directory_find_transport(const struct directory *dir,
    const uint8_t pk[static KETEN_CURVE_KEYBYTES], int64_t now_ms);
/* The agency's previous keys are still valid at now_ms. */
bool dir_agency_previous_valid(const struct dir_agency *a, int64_t now_ms);

/* True when the agency is not revoked and `now_ms` lies in its window. */
bool dir_agency_active(const struct dir_agency *a, int64_t now_ms);

/* True when `kind` is one of the agency kinds DESIGN.md names. */
bool agency_kind_valid(const char *kind);

#endif
