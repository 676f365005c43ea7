/* C2SP tlog-checkpoint signed notes. */
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/checkpoint.h"

static void
key_id(uint8_t out[4], const char *origin, const uint8_t pk[static 32])
{
	crypto_hash_sha256_state st;
	uint8_t h[32];
	static const uint8_t nl_alg[2] = { '\n', 0x01 };

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)origin, strlen(origin));
	crypto_hash_sha256_update(&st, nl_alg, 2);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(out, h, 4);
}

char *
checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[static 32],
    const uint8_t sign_sk[static 64], const uint8_t sign_pk[static 32])
{
	char r64[64], s64[128], *body = NULL, *note = NULL;
	uint8_t blob[4 + 64];

	sodium_bin2base64(r64, sizeof(r64), root, 32, sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&body, "%s\n%llu\n%s\n", origin, (unsigned long long)size, r64) < 0)
		return NULL;
	key_id(blob, origin, sign_pk);
	crypto_sign_ed25519_detached(blob + 4, NULL, (const uint8_t *)body, strlen(body), sign_sk);
	sodium_bin2base64(s64, sizeof(s64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&note, "%s\n\u2014 %s %s\n", body, origin, s64) < 0)
		note = NULL;
	free(body);
	return note;
}

int
checkpoint_verify(const char *note, const char *origin, const uint8_t pk[static 32],
    uint64_t *size, uint8_t root[static 32], char err[static KETEN_ERRLEN])
{
	const char *sep = strstr(note, "\n\n"), *line, *end;
	char *body, expect[300];
	uint8_t blob[4 + 64], kid[4];
	size_t got = 0, olen = strlen(origin);
	unsigned long long n;
	int ok = 0;

	if (sep == NULL)
		return keten_seterr(err, KETEN_EINVAL, "checkpoint: no blank line before the signatures");
	size_t blen = (size_t)(sep - note) + 1;
	if ((body = strndup(note, blen)) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	/* body: origin, size, root */
	char r64[64] = "", org[256] = "";
	int pos = 0;
	if (sscanf(body, "%255[^\n]\n%llu\n%63[^\n]\n%n", org, &n, r64, &pos) != 3 ||
	    (size_t)pos != blen || strcmp(org, origin) != 0 ||
	    sodium_base642bin(root, 32, r64, strlen(r64), NULL, &got, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || got != 32) {
		free(body);
		return keten_seterr(err, KETEN_EINVAL, "checkpoint: not an origin/size/root note for "
		    "\"%s\"", origin);
	}
	key_id(kid, origin, pk);
	snprintf(expect, sizeof(expect), "\u2014 %s ", origin);
	for (line = sep + 2; *line; line = end + 1) {
		if ((end = strchr(line, '\n')) == NULL)
			break;
		size_t elen = strlen(expect);
		if ((size_t)(end - line) <= elen || strncmp(line, expect, elen) != 0)
			continue;	/* another signer (a witness): not ours to check here */
		char b64[200];
		snprintf(b64, sizeof(b64), "%.*s", (int)(end - line - (ptrdiff_t)elen), line + elen);
		if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &got, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0 || got != sizeof(blob) ||
		    memcmp(blob, kid, 4) != 0)
			continue;
		if (crypto_sign_ed25519_verify_detached(blob + 4, (const uint8_t *)body, blen, pk) == 0)
			ok = 1;
	}
	free(body);
	(void)olen;
	if (!ok)
		return keten_seterr(err, KETEN_ECRYPTO, "checkpoint of size %llu: no valid signature "
		    "by the broker's key", n);
	*size = n;
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
