/* Ledger proofs of `keten audit prove`: reading and checking (see proof.h). */
#include <sodium.h>
#include <stdio.h>
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

#define PROOF_MAX_BYTES (16u << 20)	/* a proof file, its entry included */

void
proof_write(FILE *f, const struct proof *p)
{
	char hex[65];

	fprintf(f, "keten-proof v1\n%s %llu %llu\n", p->inclusion ? "inclusion" : "consistency",
	    (unsigned long long)p->first, (unsigned long long)p->second);
	if (p->inclusion) {
		size_t b64len = sodium_base64_ENCODED_LEN(p->entry_len, sodium_base64_VARIANT_ORIGINAL);
		char *e64 = malloc(b64len);
		if (e64 != NULL)
			sodium_bin2base64(e64, b64len, p->entry, p->entry_len,
			    sodium_base64_VARIANT_ORIGINAL);
		fprintf(f, "entry %s\n", e64 != NULL ? e64 : "");
		free(e64);
	}
	fprintf(f, "proof");
	for (size_t i = 0; i < p->n; i++) {
		sodium_bin2hex(hex, sizeof(hex), p->hashes[i], 32);
		fprintf(f, "%s%s", i ? "," : " ", hex);
	}
	fprintf(f, "\n");
	if (!p->inclusion)
		fprintf(f, "checkpoint %llu\n%s.\n", (unsigned long long)p->first, p->note[0]);
	fprintf(f, "checkpoint %llu\n%s.\n", (unsigned long long)p->second,
	    p->note[p->inclusion ? 0 : 1]);
}

/* The next line of buf[*pos..len) (without its newline) in a NUL-terminated copy; NULL at the end. */
static char *
next_line(const char *buf, size_t len, size_t *pos)
{
	const char *end;

	if (*pos >= len || (end = memchr(buf + *pos, '\n', len - *pos)) == NULL)
		return NULL;
	char *line = strndup(buf + *pos, (size_t)(end - buf - *pos));
	*pos = (size_t)(end - buf) + 1;
	return line;
}

/* One "checkpoint N" block: the note up to a line "." (which must come). */
static char *
read_note(const char *buf, size_t len, size_t *pos)
{
	char *head = next_line(buf, len, pos);
	bool ok = head != NULL && strncmp(head, "checkpoint ", 11) == 0;
	size_t start = *pos, at = *pos;

	free(head);
	while (ok && at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		if (nl == NULL)
			break;	/* cut short: no line "." */
		size_t next = (size_t)(nl - buf) + 1;
		if (next - at == 2 && buf[at] == '.') {
			*pos = next;
			return strndup(buf + start, at - start);
		}
		at = next;
	}
	return NULL;
}

/* Parse buf[0..len) loosely; proof_read then insists on the canonical form. */
static int
parse(const char *buf, size_t len, struct proof *p)
{
	char kind[32], *line;
	unsigned long long x, y;
	size_t pos = 0;
	int end = 0, ok;

	line = next_line(buf, len, &pos);
	ok = line != NULL && strcmp(line, "keten-proof v1") == 0;
	free(line);
	if (!ok || (line = next_line(buf, len, &pos)) == NULL)
		return -1;
	ok = sscanf(line, "%31s %llu %llu%n", kind, &x, &y, &end) == 3 && line[end] == '\0';
	free(line);
	if (!ok)
		return -1;
	p->inclusion = strcmp(kind, "inclusion") == 0;
	if (!p->inclusion && strcmp(kind, "consistency") != 0)
		return -1;
	p->first = x;
	p->second = y;
	if (p->inclusion) {
		if ((line = next_line(buf, len, &pos)) == NULL || strncmp(line, "entry ", 6) != 0 ||
		    (p->entry = malloc(strlen(line))) == NULL ||
		    sodium_base642bin(p->entry, strlen(line), line + 6, strlen(line + 6), NULL,
		    &p->entry_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(line);
			return -1;
		}
		free(line);
	}
	if ((line = next_line(buf, len, &pos)) == NULL || strncmp(line, "proof", 5) != 0) {
		free(line);
		return -1;
	}
	for (char *save = NULL, *h = strtok_r(line + 5, " ,", &save); h != NULL;
	    h = strtok_r(NULL, " ,", &save)) {
		if (p->n == MERKLE_MAX_PROOF || strlen(h) != 64 ||
		    sodium_hex2bin(p->hashes[p->n], 32, h, 64, NULL, NULL, NULL) != 0) {
			free(line);
			return -1;
		}
		p->n++;
	}
	free(line);
	if ((p->note[0] = read_note(buf, len, &pos)) == NULL ||
	    (!p->inclusion && (p->note[1] = read_note(buf, len, &pos)) == NULL))
		return -1;
	return 0;
}

int
proof_read(FILE *f, struct proof **out)
{
	struct proof *p;
	char *buf = malloc(PROOF_MAX_BYTES + 1), *canon = NULL;
	size_t len, clen = 0;
	FILE *m;
	int rc = KETEN_EINVAL;

	if (buf == NULL || (p = calloc(1, sizeof(*p))) == NULL) {
		free(buf);
		return KETEN_ENOMEM;
	}
	len = fread(buf, 1, PROOF_MAX_BYTES + 1, f);
	/* what was read must be exactly what proof_write makes of it: no byte
	 * changed, added or left out goes unnoticed (docs/auditor.md) */
	if (len <= PROOF_MAX_BYTES && memchr(buf, '\0', len) == NULL && parse(buf, len, p) == 0 &&
	    (m = open_memstream(&canon, &clen)) != NULL) {
		proof_write(m, p);
		if (fclose(m) == 0 && clen == len && memcmp(canon, buf, len) == 0)
			rc = 0;
	}
	free(canon);
	free(buf);
	if (rc != 0) {
		proof_free(&p);
		return rc;
	}
	*out = p;
	return 0;
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
