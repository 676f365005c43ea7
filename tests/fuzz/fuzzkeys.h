/*
 * Fixed test keys for the fuzz targets and their seed generator: every
 * agency's (and the broker's) key pairs derive from its id, so a seed sealed
 * and signed once stays valid.  Synthetic keys, for tests only.
 */
#ifndef KETEN_FUZZKEYS_H
#define KETEN_FUZZKEYS_H

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/directory.h"
#include "common/keys.h"

/* 2030-01-01T00:00:00Z: after the seeds were made (fuzz_directory clears validity windows) */
#define FUZZ_NOW_MS 1893456000000LL
#define FUZZ_ORIGIN "keten.local/ledger"

static inline void
fuzzkeys(const char *id, struct keten_keys *k)
{
	uint8_t seed[32];

	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", id);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)id, strlen(id),
	    (const uint8_t *)"keten-fuzz-keys", 15);
	crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed);
	seed[0] ^= 1;
	crypto_box_seed_keypair(k->enc_pk, k->enc_sk, seed);
	seed[0] ^= 3;
	crypto_box_seed_keypair(k->tx_pk, k->tx_sk, seed);
	sodium_memzero(seed, sizeof(seed));
}

/*
 * The example directory (policy/directory.example.yaml, run from the
 * repository root) with every agency's keys replaced by its fuzz keys.
 * NULL when the file is missing.
 */
static inline struct directory *
fuzz_directory(void)
{
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN];

	if (directory_load("policy/directory.example.yaml", &dir, err) != 0)
		return NULL;
	for (size_t i = 0; i < dir->n; i++) {
		struct dir_agency *a = &dir->agencies[i];
		struct keten_keys k;
		fuzzkeys(a->id, &k);
		memcpy(a->tx_pk, k.tx_pk, sizeof(a->tx_pk));
		memcpy(a->sign_pk, k.sign_pk, sizeof(a->sign_pk));
		memcpy(a->enc_pk, k.enc_pk, sizeof(a->enc_pk));
		a->has_previous = false;
		a->revoked = false;
		a->valid_from_ms = a->valid_until_ms = 0;
	}
	return dir;
}

#endif
