/* Agency directory: load and validate the operator's directory file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/directory.h"
#include "common/yamltree.h"

static const char *const kinds[] = {
	"police", "prosecution", "labour-inspectorate", "military-police",
	"municipality", "riec", "registration-centre", "care", NULL
};

static const char *const top_keys[] = { "version", "agencies", NULL };
static const char *const agency_keys[] = {
	"id", "kind", "name", "transport_key", "signing_key", "encryption_key",
	"valid_from", "valid_until", "revoked", NULL
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
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->kind, sizeof(a->kind), "%s", kind);
	snprintf(a->name, sizeof(a->name), "%s", name ? name : id);
	return 0;
}

int
directory_load(const char *path, struct directory **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	struct directory *dir = NULL;
	const struct ynode *root, *list;
	int rc;

	if ((rc = ydoc_load(path, &doc, err)) != 0)
		return rc;
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
directory_find_transport(const struct directory *dir, const uint8_t pk[static KETEN_CURVE_KEYBYTES])
{
	for (size_t i = 0; i < dir->n; i++)
		if (memcmp(dir->agencies[i].tx_pk, pk, KETEN_CURVE_KEYBYTES) == 0)
			return &dir->agencies[i];
	return NULL;
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
