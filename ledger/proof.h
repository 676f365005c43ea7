/*
 * Self-contained ledger proofs, as `keten audit prove` writes them and
 * `keten audit check-proof` reads them (docs/auditor.md):
 *
 *   keten-proof v1
 *   inclusion <seq> <size>      |  consistency <old> <new>
 *   entry <base64>              (inclusion only: the exact logged bytes)
 *   proof <hex>,<hex>,...       (may be empty)
 *   checkpoint <size>           followed by the signed note, then a line "."
 *   (consistency: two checkpoints, old then new)
 */
#ifndef KETEN_PROOF_H
#define KETEN_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "ledger/merkle.h"

struct proof {
	bool inclusion;			/* else a consistency proof */
	uint64_t first, second;		/* inclusion: seq, size; consistency: old, new size */
	uint8_t *entry;			/* inclusion: the logged bytes (malloc'd) */
	size_t entry_len;
	merkle_hash hashes[MERKLE_MAX_PROOF];
	size_t n;
	char *note[2];			/* the signed checkpoint(s), malloc'd; note[1] for consistency */
};

/*
 * Read a proof from f.  0 with *out set (free with proof_free), KETEN_EINVAL
 * when f does not hold a keten proof exactly as proof_write writes it (a
 * byte changed, added or cut: refused), KETEN_ENOMEM.
 */
int proof_read(FILE *f, struct proof **out);

/* Write p in the format above (as `keten audit prove` does). */
void proof_write(FILE *f, const struct proof *p);

/*
 * Check p against the broker's signing key: the checkpoints' signatures, then
 * the inclusion or consistency proof.  0, or KETEN_ECRYPTO with err saying
 * what does not hold.
 */
int proof_verify(const struct proof *p, const uint8_t pk[static 32], char err[static KETEN_ERRLEN]);

/* Release; accepts NULL and NULLs the pointer. */
void proof_free(struct proof **p);

#endif
