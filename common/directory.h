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
void directory_free(struct directory **dir);

/* Lookups; the result lives as long as the directory. NULL if absent. */
const struct dir_agency *directory_find(const struct directory *dir, const char *id);
const struct dir_agency *directory_find_transport(const struct directory *dir,
    const uint8_t pk[static KETEN_CURVE_KEYBYTES]);

/* True when the agency is not revoked and `now_ms` lies in its window. */
bool dir_agency_active(const struct dir_agency *a, int64_t now_ms);

/* True when `kind` is one of the agency kinds DESIGN.md names. */
bool agency_kind_valid(const char *kind);

#endif
