/* Ledger proofs of `keten audit prove`: reading and checking (see proof.h). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/checkpoint.h"
#include "ledger/proof.h"

void
proof_free(struct proof **pp)
{
	struct proof *p;

	if (pp == NULL || (p = *pp) == NULL)
		return;
	free(p->entry);
	free(p->note[0]);
	free(p->note[1]);
	free(p);
	*pp = NULL;
}

/* Read one "checkpoint N" block (the note up to a line "."). */
static char *
read_note(FILE *f)
{
	char line[1024], *note = NULL;
	size_t len = 0;
	unsigned long long n;

	if (fgets(line, sizeof(line), f) == NULL || sscanf(line, "checkpoint %llu", &n) != 1)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL && strcmp(line, ".\n") != 0) {
		char *nn = realloc(note, len + strlen(line) + 1);
		if (nn == NULL) {
			free(note);
			return NULL;
		}
		note = nn;
		memcpy(note + len, line, strlen(line) + 1);
		len += strlen(line);
	}
	return note;
}

int
proof_read(FILE *f, struct proof **out)
{
	char line[8192], kind[32];
	unsigned long long x, y;
	struct proof *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return KETEN_ENOMEM;
	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, "keten-proof v1\n") != 0 ||
	    fgets(line, sizeof(line), f) == NULL || sscanf(line, "%31s %llu %llu", kind, &x, &y) != 3)
		goto bad;
	p->inclusion = strcmp(kind, "inclusion") == 0;
	if (!p->inclusion && strcmp(kind, "consistency") != 0)
		goto bad;
	p->first = x;
	p->second = y;
	if (p->inclusion) {
		if (fgets(line, sizeof(line), f) == NULL || strncmp(line, "entry ", 6) != 0)
			goto bad;
		line[strcspn(line, "\n")] = '\0';
		p->entry = malloc(strlen(line));
		if (p->entry == NULL || sodium_base642bin(p->entry, strlen(line), line + 6,
		    strlen(line + 6), NULL, &p->entry_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
			goto bad;
	}
	if (fgets(line, sizeof(line), f) == NULL || strncmp(line, "proof", 5) != 0)
		goto bad;
	for (char *save = NULL, *h = strtok_r(line + 5, " ,\n", &save); h != NULL;
	    h = strtok_r(NULL, " ,\n", &save)) {
		if (p->n == MERKLE_MAX_PROOF || strlen(h) != 64 ||
		    sodium_hex2bin(p->hashes[p->n], 32, h, 64, NULL, NULL, NULL) != 0)
			goto bad;
		p->n++;
	}
	if ((p->note[0] = read_note(f)) == NULL ||
	    (!p->inclusion && (p->note[1] = read_note(f)) == NULL))
		goto bad;
	*out = p;
	return 0;
bad:
	proof_free(&p);
	return KETEN_EINVAL;
}

int
proof_verify(const struct proof *p, const uint8_t pk[static 32], char err[static KETEN_ERRLEN])
{
	char origin[256];
	uint64_t s1, s2;
	uint8_t r1[32], r2[32];

	snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(p->note[0], "\n"), p->note[0]);
	if (checkpoint_verify(p->note[0], origin, pk, &s1, r1, err) != 0 ||
	    (!p->inclusion && checkpoint_verify(p->note[1], origin, pk, &s2, r2, err) != 0))
		return KETEN_ECRYPTO;
	if (p->inclusion) {
		merkle_hash leaf;
		merkle_leaf_hash(leaf, p->entry, p->entry_len);
		if (s1 != p->second || merkle_verify_inclusion(leaf, p->first, p->second,
		    (const merkle_hash *)p->hashes, p->n, r1) != 0)
			return keten_seterr(err, KETEN_ECRYPTO, "entry %llu is not in the signed tree of "
			    "size %llu", (unsigned long long)p->first, (unsigned long long)p->second);
	} else if (s1 != p->first || s2 != p->second || merkle_verify_consistency(p->first,
	    p->second, r1, r2, (const merkle_hash *)p->hashes, p->n) != 0) {
		return keten_seterr(err, KETEN_ECRYPTO, "checkpoint %llu does not extend checkpoint "
		    "%llu", (unsigned long long)p->second, (unsigned long long)p->first);
	}
	return 0;
}
