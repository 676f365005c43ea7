/* Agency directory: load and validate the operator's directory file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/directory.h"
#include "common/yamltree.h"
#include "common/utf8.h"

static const char *const kinds[] = {
	"police", "prosecution", "labour-inspectorate", "military-police",
	"municipality", "riec", "registration-centre", "care", NULL
};

static const char *const top_keys[] = { "version", "agencies", NULL };
static const char *const agency_keys[] = {
	"id", "kind", "name", "transport_key", "signing_key", "encryption_key",
	"valid_from", "valid_until", "revoked", "previous", NULL
};
static const char *const previous_keys[] = {
	"transport_key", "signing_key", "encryption_key", "valid_until", NULL
};

bool
agency_kind_valid(const char *kind)
{
	for (const char *const *k = kinds; *k != NULL; k++)
		if (strcmp(*k, kind) == 0)
			return true;
	return false;
}

void
directory_free(struct directory **dir)
{
	if (dir == NULL || *dir == NULL)
		return;
	free((*dir)->agencies);
	free(*dir);
	*dir = NULL;
}

/*
 * A code point a display name may not hold: control characters (C0, DEL, C1),
 * the line and paragraph separators, the byte-order mark and non-characters.
 * They would garble logs and terminals, and YAML folds or refuses them, so a
 * written directory would not read back the same.
 */
static bool
cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

/* The byte offset of the first unsafe or malformed code point in s, or -1. */
static long
text_unsafe_at(const char *s)
{
	size_t len = strlen(s);
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0 || cp_unsafe(cp))
			return (long)i;
	return -1;
}

static int
get_time(const struct ydoc *doc, const struct ynode *map, const char *key, int64_t *out,
    char err[static KETEN_ERRLEN])
{
	const char *s = NULL;
	int rc;

	*out = 0;
	if ((rc = ydoc_get_str(doc, map, key, false, &s, err)) != 0 || s == NULL)
		return rc;
	if (parse_utc_time(s, out) != 0)
		return ydoc_err(doc, ynode_get(map, key), err, "\"%s\" must be a UTC time like "
		    "2026-01-31T00:00:00Z, found \"%s\"", key, s);
	return 0;
}

static int
parse_agency(const struct ydoc *doc, const struct ynode *m, struct dir_agency *a,
    char err[static KETEN_ERRLEN])
{
	const char *id, *kind, *name = NULL, *tx, *sg, *en;
	int rc;

	if ((rc = ydoc_expect_map(doc, m, "agency entry", err)) ||
	    (rc = ydoc_check_keys(doc, m, "agency entry", agency_keys, err)) ||
	    (rc = ydoc_get_str(doc, m, "id", true, &id, err)) ||
	    (rc = ydoc_get_str(doc, m, "kind", true, &kind, err)) ||
	    (rc = ydoc_get_str(doc, m, "name", false, &name, err)) ||
	    (rc = ydoc_get_str(doc, m, "transport_key", true, &tx, err)) ||
	    (rc = ydoc_get_str(doc, m, "signing_key", true, &sg, err)) ||
	    (rc = ydoc_get_str(doc, m, "encryption_key", true, &en, err)) ||
	    (rc = get_time(doc, m, "valid_from", &a->valid_from_ms, err)) ||
	    (rc = get_time(doc, m, "valid_until", &a->valid_until_ms, err)) ||
	    (rc = ydoc_get_bool(doc, m, "revoked", false, &a->revoked, err)))
		return rc;
	if (!agency_id_valid(id))
		return ydoc_err(doc, ynode_get(m, "id"), err, "invalid agency id \"%s\": use "
		    "1-63 characters a-z, 0-9 and '-'", id);
	if (!agency_kind_valid(kind))
		return ydoc_err(doc, ynode_get(m, "kind"), err, "unknown agency kind \"%s\" "
		    "(expected police, prosecution, labour-inspectorate, military-police, "
		    "municipality, riec, registration-centre or care)", kind);
	if (name != NULL && strlen(name) >= sizeof(a->name))
		return ydoc_err(doc, ynode_get(m, "name"), err, "name longer than %zu bytes",
		    sizeof(a->name) - 1);
	long bad;
	if (name != NULL && (bad = text_unsafe_at(name)) >= 0)
		return ydoc_err(doc, ynode_get(m, "name"), err, "name holds a control or "
		    "invisible character at byte %ld: use printable text", bad);
	if (key_z85_decode(a->tx_pk, tx) != 0)
		return ydoc_err(doc, ynode_get(m, "transport_key"), err, "transport_key must "
		    "be a %d-character Z85 CURVE public key", KETEN_Z85_KEYLEN);
	if (key_b64_decode(a->sign_pk, sizeof(a->sign_pk), sg) != 0)
		return ydoc_err(doc, ynode_get(m, "signing_key"), err, "signing_key must be "
		    "the base64 of a 32-byte Ed25519 public key");
	if (key_b64_decode(a->enc_pk, sizeof(a->enc_pk), en) != 0)
		return ydoc_err(doc, ynode_get(m, "encryption_key"), err, "encryption_key "
		    "must be the base64 of a 32-byte X25519 public key");
	if (a->valid_from_ms && a->valid_until_ms && a->valid_until_ms <= a->valid_from_ms)
		return ydoc_err(doc, ynode_get(m, "valid_until"), err, "valid_until is not "
		    "after valid_from");
	const struct ynode *pv = ynode_get(m, "previous");
	if (pv != NULL) {
		const char *ptx, *psg, *pen;
		int rc2;
		if ((rc2 = ydoc_expect_map(doc, pv, "previous keys", err)) ||
		    (rc2 = ydoc_check_keys(doc, pv, "previous keys", previous_keys, err)) ||
		    (rc2 = ydoc_get_str(doc, pv, "transport_key", true, &ptx, err)) ||
		    (rc2 = ydoc_get_str(doc, pv, "signing_key", true, &psg, err)) ||
		    (rc2 = ydoc_get_str(doc, pv, "encryption_key", true, &pen, err)))
			return rc2;
		if (ynode_get(pv, "valid_until") == NULL)
			return ydoc_err(doc, pv, err, "previous keys need \"valid_until\": the end of "
			    "the overlap");
		if ((rc2 = get_time(doc, pv, "valid_until", &a->prev_until_ms, err)) != 0)
			return rc2;
		if (key_z85_decode(a->prev_tx_pk, ptx) != 0 ||
		    key_b64_decode(a->prev_sign_pk, sizeof(a->prev_sign_pk), psg) != 0 ||
		    key_b64_decode(a->prev_enc_pk, sizeof(a->prev_enc_pk), pen) != 0)
			return ydoc_err(doc, pv, err, "previous keys: transport_key must be Z85 (40 "
			    "characters), signing_key and encryption_key base64 of 32 bytes");
		a->has_previous = true;
	}
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->kind, sizeof(a->kind), "%s", kind);
	snprintf(a->name, sizeof(a->name), "%s", name ? name : id);
	return 0;
}

static int compile(struct ydoc *doc, struct directory **out, char err[static KETEN_ERRLEN]);

int
directory_load(const char *path, struct directory **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = ydoc_load(path, &doc, err)) != 0)
		return rc;
	return compile(doc, out, err);
}

int
directory_parse(const char *name, const void *buf, size_t len, struct directory **out,
    char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = ydoc_parse(name, buf, len, &doc, err)) != 0)
		return rc;
	return compile(doc, out, err);
}

/* Validate a parsed directory document; takes ownership of doc. */
static int
compile(struct ydoc *doc, struct directory **out, char err[static KETEN_ERRLEN])
{
	struct directory *dir = NULL;
	const struct ynode *root, *list;
	int rc;

	root = ydoc_root(doc);
	if ((dir = calloc(1, sizeof(*dir))) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = ydoc_expect_map(doc, root, "agency directory", err)) ||
	    (rc = ydoc_check_keys(doc, root, "agency directory", top_keys, err)) ||
	    (rc = ydoc_get_u64(doc, root, "version", true, 1, UINT64_MAX / 2, &dir->version,
	    err)))
		goto fail;
	list = ynode_get(root, "agencies");
	if (list == NULL || list->kind != YNODE_SEQ || list->n == 0) {
		rc = ydoc_err(doc, list ? list : root, err, "\"agencies\" must be a non-empty "
		    "list of agency entries");
		goto fail;
	}
	if (list->n > DIRECTORY_MAX_AGENCIES) {
		rc = ydoc_err(doc, list, err, "more than %d agencies", DIRECTORY_MAX_AGENCIES);
		goto fail;
	}
	if ((dir->agencies = calloc(list->n, sizeof(*dir->agencies))) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct ynode *m = list->items[i];
		struct dir_agency *a = &dir->agencies[i];
		if ((rc = parse_agency(doc, m, a, err)) != 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			const struct dir_agency *b = &dir->agencies[j];
			if (strcmp(a->id, b->id) == 0) {
				rc = ydoc_err(doc, ynode_get(m, "id"), err, "duplicate agency id "
				    "\"%s\" (first at line %u)", a->id, list->items[j]->line);
				goto fail;
			}
			if (sodium_memcmp(a->tx_pk, b->tx_pk, sizeof(a->tx_pk)) == 0 ||
			    sodium_memcmp(a->sign_pk, b->sign_pk, sizeof(a->sign_pk)) == 0 ||
			    sodium_memcmp(a->enc_pk, b->enc_pk, sizeof(a->enc_pk)) == 0) {
				rc = ydoc_err(doc, m, err, "agency \"%s\" reuses a public key of "
				    "agency \"%s\" (line %u); every agency needs its own keys",
				    a->id, b->id, list->items[j]->line);
				goto fail;
			}
		}
		dir->n++;
	}
	ydoc_free(&doc);
	*out = dir;
	return 0;
fail:
	directory_free(&dir);
	ydoc_free(&doc);
	return rc;
}

const struct dir_agency *
directory_find(const struct directory *dir, const char *id)
{
	for (size_t i = 0; i < dir->n; i++)
		if (strcmp(dir->agencies[i].id, id) == 0)
			return &dir->agencies[i];
	return NULL;
}

const struct dir_agency *
directory_find_transport(const struct directory *dir, const uint8_t pk[static KETEN_CURVE_KEYBYTES],
    int64_t now)
{
	for (size_t i = 0; i < dir->n; i++) {
		const struct dir_agency *a = &dir->agencies[i];
		if (memcmp(a->tx_pk, pk, KETEN_CURVE_KEYBYTES) == 0 ||
		    (dir_agency_previous_valid(a, now) &&
		    memcmp(a->prev_tx_pk, pk, KETEN_CURVE_KEYBYTES) == 0))
			return a;
	}
	return NULL;
}

bool
dir_agency_previous_valid(const struct dir_agency *a, int64_t now)
{
	return a->has_previous && now < a->prev_until_ms;
}

static void
fmt_time(char out[static 32], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * s as a YAML double-quoted scalar that reads back byte for byte (a name
 * directory_parse accepted; a malformed byte, which it never accepts, is
 * written as U+FFFD so the output stays YAML).
 */
static int
yaml_quoted(FILE *f, const char *s)
{
	size_t len = strlen(s);
	uint32_t cp;

	fputc('"', f);
	for (size_t i = 0, n; i < len; i += n) {
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0) {
			fputs("\\uFFFD", f);
			n = 1;
		} else if (cp_unsafe(cp)) {
			fprintf(f, "\\u%04X", (unsigned)cp);	/* all of them are below U+10000 */
		} else {
			if (cp == '"' || cp == '\\')
				fputc('\\', f);
			fwrite(s + i, 1, n, f);
		}
	}
	return fputc('"', f);
}

char *
directory_format(const struct directory *dir)
{
	char *out = NULL, tx[KETEN_Z85_KEYLEN + 1], sg[64], en[64], when[32];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "# keten agency directory, written by `keten directory`; comments are not kept.\n"
	    "version: %llu\nagencies:\n", (unsigned long long)dir->version);
	for (size_t i = 0; i < dir->n; i++) {
		const struct dir_agency *a = &dir->agencies[i];
		key_z85_encode(tx, a->tx_pk);
		key_b64_encode(sg, sizeof(sg), a->sign_pk, sizeof(a->sign_pk));
		key_b64_encode(en, sizeof(en), a->enc_pk, sizeof(a->enc_pk));
		fprintf(f, "  - id: %s\n    kind: %s\n    name: ", a->id, a->kind);
		yaml_quoted(f, a->name);
		fprintf(f, "\n    transport_key: \"%s\"\n    signing_key: \"%s\"\n"
		    "    encryption_key: \"%s\"\n", tx, sg, en);
		if (a->valid_from_ms) {
			fmt_time(when, a->valid_from_ms);
			fprintf(f, "    valid_from: %s\n", when);
		}
		if (a->valid_until_ms) {
			fmt_time(when, a->valid_until_ms);
			fprintf(f, "    valid_until: %s\n", when);
		}
		if (a->revoked)
			fprintf(f, "    revoked: true\n");
		if (a->has_previous) {
			key_z85_encode(tx, a->prev_tx_pk);
			key_b64_encode(sg, sizeof(sg), a->prev_sign_pk, sizeof(a->prev_sign_pk));
			key_b64_encode(en, sizeof(en), a->prev_enc_pk, sizeof(a->prev_enc_pk));
			fmt_time(when, a->prev_until_ms);
			fprintf(f, "    previous:\n      transport_key: \"%s\"\n      signing_key: \"%s\"\n"
			    "      encryption_key: \"%s\"\n      valid_until: %s\n", tx, sg, en, when);
		}
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

bool
dir_agency_active(const struct dir_agency *a, int64_t now)
{
	if (a->revoked)
		return false;
	if (a->valid_from_ms && now < a->valid_from_ms)
		return false;
	if (a->valid_until_ms && now >= a->valid_until_ms)
		return false;
	return true;
}
