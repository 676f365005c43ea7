/* C2SP tlog-checkpoint signed notes. */
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/note.h"
#include "ledger/checkpoint.h"

char *
checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[static 32],
    const uint8_t sign_sk[static 64], const uint8_t sign_pk[static 32])
{
	char r64[64], *body = NULL, *line, *note = NULL;

	sodium_bin2base64(r64, sizeof(r64), root, 32, sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&body, "%s\n%llu\n%s\n", origin, (unsigned long long)size, r64) < 0)
		return NULL;
	if ((line = note_sign_line(body, strlen(body), origin, sign_sk, sign_pk)) != NULL &&
	    asprintf(&note, "%s\n%s", body, line) < 0)
		note = NULL;
	free(line);
	free(body);
	return note;
}

int
checkpoint_verify(const char *note, const char *origin, const uint8_t pk[static 32],
    uint64_t *size, uint8_t root[static 32], char err[static KETEN_ERRLEN])
{
	struct note *n = NULL;
	struct note_key k;
	char r64[64];
	size_t got = 0;
	int count, rc;

	if (note_key_init(&k, origin, pk) != 0)
		return keten_seterr(err, KETEN_EINVAL, "checkpoint: origin \"%.64s\" is not a valid "
		    "key name (no spaces, no '+')", origin);
	/* a signed note as C2SP signed-note says, with every signature line
	 * well-formed; a signature by the broker's key that fails fails it all */
	if ((rc = note_parse(note, strlen(note), &n, err)) != 0)
		return rc;
	/* the text: origin, size (decimal, no leading zero), root (base64 of
	 * 32 bytes), then extension lines, each non-empty (tlog-checkpoint) */
	const char *t = n->text, *l2 = strchr(t, '\n') + 1, *l3 = strchr(l2, '\n');
	const char *l4 = l3 != NULL ? strchr(l3 + 1, '\n') : NULL;
	bool ok = l3 != NULL && l4 != NULL && (size_t)(l2 - 1 - t) == strlen(origin) &&
	    strncmp(t, origin, strlen(origin)) == 0 && l3 > l2 && (l2[0] != '0' || l3 == l2 + 1) &&
	    (size_t)(l4 - l3 - 1) < sizeof(r64);
	unsigned long long sz = 0;
	for (const char *c = l2; ok && c < l3; c++) {
		unsigned d = (unsigned)(*c - '0');
		ok = *c >= '0' && *c <= '9' && sz <= (UINT64_MAX - d) / 10;
		sz = sz * 10 + d;
	}
	if (ok) {
		snprintf(r64, sizeof(r64), "%.*s", (int)(l4 - l3 - 1), l3 + 1);
		ok = sodium_base642bin(root, 32, r64, strlen(r64), NULL, &got, NULL,
		    sodium_base64_VARIANT_ORIGINAL) == 0 && got == 32;
		char canon[64];
		sodium_bin2base64(canon, sizeof(canon), root, 32, sodium_base64_VARIANT_ORIGINAL);
		ok = ok && strcmp(canon, r64) == 0;
	}
	for (const char *e = l4 != NULL ? l4 + 1 : NULL; ok && e < t + n->textlen;
	    e = strchr(e, '\n') + 1)
		ok = *e != '\n';	/* an extension line: opaque, but never empty */
	if (!ok) {
		note_free(&n);
		return keten_seterr(err, KETEN_EINVAL, "checkpoint: not an origin/size/root note for "
		    "\"%s\"", origin);
	}
	count = note_verify(n, &k, 1, NULL, err);
	note_free(&n);
	if (count < 0)
		return KETEN_ECRYPTO;
	if (count == 0)
		return keten_seterr(err, KETEN_ECRYPTO, "checkpoint of size %llu: no signature by the "
		    "broker's key", sz);
	*size = sz;
	return 0;
}

void
checkpoint_memo_clear(struct checkpoint_memo *m)
{
	free(m->note);
	free(m->origin);
	*m = (struct checkpoint_memo){ 0 };
}

int
checkpoint_verify_memo(struct checkpoint_memo *m, const char *note, const char *origin,
    const uint8_t pk[static 32], uint64_t *size, uint8_t root[static 32],
    char err[static KETEN_ERRLEN])
{
	int rc;

	if (m->note != NULL && strcmp(m->note, note) == 0 && strcmp(m->origin, origin) == 0 &&
	    memcmp(m->pk, pk, 32) == 0) {
		*size = m->size;
		memcpy(root, m->root, 32);
		m->hits++;
		return 0;
	}
	if ((rc = checkpoint_verify(note, origin, pk, size, root, err)) != 0)
		return rc;
	checkpoint_memo_clear(m);
	if ((m->note = strdup(note)) == NULL || (m->origin = strdup(origin)) == NULL) {
		checkpoint_memo_clear(m);	/* verified; only not remembered */
		return 0;
	}
	memcpy(m->pk, pk, 32);
	m->size = *size;
	memcpy(m->root, root, 32);
	return 0;
}

static void
cosig_key_id(uint8_t out[4], const char *name, const uint8_t pk[static 32])
{
	crypto_hash_sha256_state st;
	uint8_t h[32];
	static const uint8_t nl_alg[2] = { '\n', 0x04 };

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, nl_alg, 2);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(out, h, 4);
}

/* "cosignature/v1\ntime T\n" || note body; malloc'd. */
static char *
cosig_message(const char *note, uint64_t t)
{
	const char *sep = strstr(note, "\n\n");
	char *msg = NULL;

	if (sep == NULL)
		return NULL;
	if (asprintf(&msg, "cosignature/v1\ntime %llu\n%.*s", (unsigned long long)t,
	    (int)(sep - note + 1), note) < 0)
		return NULL;
	return msg;
}

char *
checkpoint_cosign(const char *note, const char *name, uint64_t t, const uint8_t sign_sk[static 64],
    const uint8_t sign_pk[static 32])
{
	uint8_t blob[4 + 8 + 64];
	char b64[200], *msg = cosig_message(note, t), *line = NULL;

	if (msg == NULL)
		return NULL;
	cosig_key_id(blob, name, sign_pk);
	for (int i = 0; i < 8; i++)
		blob[4 + i] = (uint8_t)(t >> (56 - 8 * i));
	crypto_sign_ed25519_detached(blob + 12, NULL, (const uint8_t *)msg, strlen(msg), sign_sk);
	free(msg);
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&line, "\u2014 %s %s\n", name, b64) < 0)
		return NULL;
	return line;
}

int
checkpoint_cosig_verify(const char *note, const char *line, const char *name,
    const uint8_t pk[static 32])
{
	char prefix[300], b64[200];
	uint8_t blob[4 + 8 + 64], kid[4];
	size_t got = 0, plen;
	uint64_t t = 0;

	snprintf(prefix, sizeof(prefix), "\u2014 %s ", name);
	plen = strlen(prefix);
	if (strncmp(line, prefix, plen) != 0)
		return -1;
	snprintf(b64, sizeof(b64), "%s", line + plen);
	b64[strcspn(b64, "\n")] = '\0';
	if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &got, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || got != sizeof(blob))
		return -1;
	cosig_key_id(kid, name, pk);
	if (memcmp(kid, blob, 4) != 0)
		return -1;
	for (int i = 0; i < 8; i++)
		t = t << 8 | blob[4 + i];
	char *msg = cosig_message(note, t);
	if (msg == NULL)
		return -1;
	int rc = crypto_sign_ed25519_verify_detached(blob + 12, (const uint8_t *)msg, strlen(msg),
	    pk) == 0 ? 0 : -1;
	free(msg);
	return rc;
}
