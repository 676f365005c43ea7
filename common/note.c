/* C2SP signed notes with Ed25519 keys (common/note.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/note.h"
#include "common/utf8.h"

#define EMDASH "\xe2\x80\x94"
#define SIG_B64MAX 8192		/* a signature line's base64, at most */

bool
note_name_valid(const char *name)
{
	size_t len = strlen(name);
	uint32_t cp;

	if (len == 0 || len >= NOTE_NAMEMAX)
		return false;
	for (size_t i = 0, n; i < len; i += n) {
		if ((n = utf8_decode(name + i, len - i, &cp)) == 0)
			return false;
		/* no '+', no controls, no Unicode spaces (the ones UTF-8 text may hold) */
		if (cp == '+' || cp <= 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0xa0) ||
		    cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
			return false;
	}
	return true;
}

uint32_t
note_key_id(const char *name, const uint8_t pk[static 32])
{
	crypto_hash_sha256_state st;
	static const uint8_t nl_alg[2] = { '\n', 0x01 };
	uint8_t h[32];

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, nl_alg, sizeof(nl_alg));
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

int
note_key_init(struct note_key *k, const char *name, const uint8_t pk[static 32])
{
	if (!note_name_valid(name))
		return KETEN_EINVAL;
	snprintf(k->name, sizeof(k->name), "%s", name);
	memcpy(k->pk, pk, 32);
	k->id = note_key_id(name, pk);
	return 0;
}

int
note_vkey_parse(const char *vkey, struct note_key *k, char err[static KETEN_ERRLEN])
{
	const char *p1 = strchr(vkey, '+'), *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
	char name[NOTE_NAMEMAX], hex[9];
	uint8_t raw[33];
	size_t got = 0;
	unsigned long id;
	char *end;

	/* the key's base64 may hold '+' itself: the first two separate */
	if (p1 == NULL || p2 == NULL)
		return keten_seterr(err, KETEN_EINVAL, "verifier key: want name+keyid+base64 key, "
		    "three parts separated by '+'");
	if ((size_t)(p1 - vkey) >= sizeof(name) || p2 - p1 - 1 != 8)
		return keten_seterr(err, KETEN_EINVAL, "verifier key: name too long or key ID not "
		    "8 hex digits");
	memcpy(name, vkey, (size_t)(p1 - vkey));
	name[p1 - vkey] = '\0';
	memcpy(hex, p1 + 1, 8);
	hex[8] = '\0';
	id = strtoul(hex, &end, 16);
	if (!note_name_valid(name) || *end != '\0' || strspn(hex, "0123456789abcdef") != 8)
		return keten_seterr(err, KETEN_EINVAL, "verifier key: invalid key name or key ID");
	if (sodium_base642bin(raw, sizeof(raw), p2 + 1, strlen(p2 + 1), NULL, &got, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || got != 33 || raw[0] != 0x01)
		return keten_seterr(err, KETEN_EINVAL, "verifier key %s: not an Ed25519 key "
		    "(want base64 of 0x01 and 32 bytes)", name);
	if (note_key_id(name, raw + 1) != (uint32_t)id)
		return keten_seterr(err, KETEN_EINVAL, "verifier key %s: key ID %s does not match "
		    "the key", name, hex);
	note_key_init(k, name, raw + 1);
	return 0;
}

void
note_vkey_format(const struct note_key *k, char out[static NOTE_VKEYMAX])
{
	uint8_t raw[33];
	char b64[64];

	raw[0] = 0x01;
	memcpy(raw + 1, k->pk, 32);
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, NOTE_VKEYMAX, "%s+%08x+%s", k->name, (unsigned)k->id, b64);
}

char *
note_sign_line(const char *text, size_t textlen, const char *name,
    const uint8_t sk[static 64], const uint8_t pk[static 32])
{
	uint8_t blob[4 + 64];
	char b64[sodium_base64_ENCODED_LEN(sizeof(blob), sodium_base64_VARIANT_ORIGINAL)];
	uint32_t id = note_key_id(name, pk);
	char *line;

	blob[0] = (uint8_t)(id >> 24), blob[1] = (uint8_t)(id >> 16);
	blob[2] = (uint8_t)(id >> 8), blob[3] = (uint8_t)id;
	crypto_sign_ed25519_detached(blob + 4, NULL, (const uint8_t *)text, textlen, sk);
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&line, EMDASH " %s %s\n", name, b64) < 0)
		return NULL;
	return line;
}

/* Valid UTF-8 with no control character but newline. */
static bool
note_text_valid(const char *s, size_t len)
{
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n) {
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0)
			return false;
		if ((cp < 0x20 && cp != '\n') || cp == 0x7f)
			return false;
	}
	return true;
}

/* One signature line, s[0..len) without its newline, into *sig. */
static int
parse_sig_line(const char *s, size_t len, struct note_sig *sig, char err[static KETEN_ERRLEN])
{
	const char *name, *sp;
	uint8_t *raw;
	size_t got = 0, nlen, blen;

	if (len < 4 || memcmp(s, EMDASH " ", 4) != 0)
		return keten_seterr(err, KETEN_EINVAL, "signed note: a signature line must start "
		    "with an em dash and a space");
	name = s + 4;
	if ((sp = memchr(name, ' ', len - 4)) == NULL)
		return keten_seterr(err, KETEN_EINVAL, "signed note: a signature line needs a key "
		    "name, a space and a signature");
	nlen = (size_t)(sp - name);
	blen = len - 4 - nlen - 1;
	if (nlen == 0 || nlen >= sizeof(sig->name) || blen == 0 || blen > SIG_B64MAX)
		return keten_seterr(err, KETEN_EINVAL, "signed note: key name or signature of a "
		    "bad length");
	memcpy(sig->name, name, nlen);
	sig->name[nlen] = '\0';
	if (!note_name_valid(sig->name))
		return keten_seterr(err, KETEN_EINVAL, "signed note: invalid key name");
	if ((raw = malloc(blen)) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	if (sodium_base642bin(raw, blen, sp + 1, blen, NULL, &got, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || got < 5) {
		free(raw);
		return keten_seterr(err, KETEN_EINVAL, "signed note: signature of %s is not base64 "
		    "of a key ID and a signature", sig->name);
	}
	sig->id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
	sig->ed25519 = got == 4 + 64;
	if (sig->ed25519)
		memcpy(sig->sig, raw + 4, 64);
	free(raw);
	return 0;
}

int
note_parse(const char *buf, size_t len, struct note **out, char err[static KETEN_ERRLEN])
{
	struct note *n;
	const char *sep = NULL;
	int rc;

	if (len > NOTE_MAX_BYTES)
		return keten_seterr(err, KETEN_EINVAL, "signed note: larger than %d bytes",
		    NOTE_MAX_BYTES);
	if (len < 2 || buf[len - 1] != '\n' || !note_text_valid(buf, len))
		return keten_seterr(err, KETEN_EINVAL, "signed note: not UTF-8 text ending in a "
		    "newline without control characters");
	/* the text ends at the last empty line */
	for (size_t i = len - 1; i-- > 0;)
		if (buf[i] == '\n' && buf[i + 1] == '\n') {
			sep = buf + i;
			break;
		}
	if (sep == NULL || sep == buf)
		return keten_seterr(err, KETEN_EINVAL, "signed note: no blank line between the text "
		    "and the signatures");
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	n->textlen = (size_t)(sep - buf) + 1;
	if ((n->text = strndup(buf, n->textlen)) == NULL) {
		note_free(&n);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	for (const char *line = sep + 2, *end; line < buf + len; line = end + 1) {
		end = memchr(line, '\n', (size_t)(buf + len - line));
		if (n->nsigs == NOTE_MAX_SIGS) {
			note_free(&n);
			return keten_seterr(err, KETEN_EINVAL, "signed note: more than %d signatures",
			    NOTE_MAX_SIGS);
		}
		if ((rc = parse_sig_line(line, (size_t)(end - line), &n->sigs[n->nsigs], err)) != 0) {
			note_free(&n);
			return rc;
		}
		n->nsigs++;
	}
	if (n->nsigs == 0) {
		note_free(&n);
		return keten_seterr(err, KETEN_EINVAL, "signed note: no signature");
	}
	*out = n;
	return 0;
}

void
note_free(struct note **np)
{
	if (np == NULL || *np == NULL)
		return;
	free((*np)->text);
	free(*np);
	*np = NULL;
}

int
note_verify(const struct note *n, const struct note_key *keys, size_t nkeys, bool *ok,
    char err[static KETEN_ERRLEN])
{
	int count = 0;

	for (size_t k = 0; k < nkeys; k++) {
		bool good = false;
		for (size_t i = 0; i < n->nsigs; i++) {
			const struct note_sig *s = &n->sigs[i];
			if (s->id != keys[k].id || strcmp(s->name, keys[k].name) != 0)
				continue;	/* not this key's: ignored */
			if (!s->ed25519 || crypto_sign_ed25519_verify_detached(s->sig,
			    (const uint8_t *)n->text, n->textlen, keys[k].pk) != 0)
				return keten_seterr(err, KETEN_ECRYPTO, "signed note: the signature "
				    "of %s does not verify", keys[k].name);
			good = true;
		}
		if (ok != NULL)
			ok[k] = good;
		count += good;
	}
	return count;
}

/* Append the signature line of s to *buf (of *len bytes). */
static int
append_sig(char **buf, size_t *len, const struct note_sig *s)
{
	uint8_t blob[4 + 64];
	char b64[sodium_base64_ENCODED_LEN(sizeof(blob), sodium_base64_VARIANT_ORIGINAL)];
	char *nb;
	int n;

	blob[0] = (uint8_t)(s->id >> 24), blob[1] = (uint8_t)(s->id >> 16);
	blob[2] = (uint8_t)(s->id >> 8), blob[3] = (uint8_t)s->id;
	memcpy(blob + 4, s->sig, 64);
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	if ((nb = realloc(*buf, *len + strlen(s->name) + sizeof(b64) + 8)) == NULL)
		return KETEN_ENOMEM;
	n = sprintf(nb + *len, EMDASH " %s %s\n", s->name, b64);
	*buf = nb;
	*len += (size_t)n;
	return 0;
}

static bool
has_sig(const struct note *n, size_t upto, const struct note_sig *s)
{
	for (size_t i = 0; i < upto; i++)
		if (n->sigs[i].id == s->id && strcmp(n->sigs[i].name, s->name) == 0)
			return true;
	return false;
}

/* Text, blank line, the Ed25519 signatures of a then b (each name and ID once). */
static char *
format_sigs(const struct note *a, const struct note *b)
{
	size_t len = a->textlen + 1;
	char *buf = malloc(len + 1);

	if (buf == NULL)
		return NULL;
	memcpy(buf, a->text, a->textlen);
	buf[a->textlen] = '\n';
	for (size_t i = 0; i < a->nsigs; i++)
		if (a->sigs[i].ed25519 && !has_sig(a, i, &a->sigs[i]) &&
		    append_sig(&buf, &len, &a->sigs[i]) != 0)
			goto fail;
	for (size_t i = 0; b != NULL && i < b->nsigs; i++)
		if (b->sigs[i].ed25519 && !has_sig(a, a->nsigs, &b->sigs[i]) &&
		    !has_sig(b, i, &b->sigs[i]) && append_sig(&buf, &len, &b->sigs[i]) != 0)
			goto fail;
	buf[len] = '\0';
	return buf;
fail:
	free(buf);
	return NULL;
}

int
note_merge(const struct note *a, const struct note *b, char **out, char err[static KETEN_ERRLEN])
{
	if (a->textlen != b->textlen || memcmp(a->text, b->text, a->textlen) != 0)
		return keten_seterr(err, KETEN_EINVAL, "signed notes: the texts differ, so these are "
		    "not approvals of the same thing");
	if ((*out = format_sigs(a, b)) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	return 0;
}

char *
note_format(const struct note *n)
{
	return format_sigs(n, NULL);
}
