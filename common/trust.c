/* The network root of trust and approvals by threshold (common/trust.h). */
#include <sodium.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "common/trust.h"
#include "common/util.h"
#include "common/yamltree.h"

static const char *const root_keys[] = { "network", "version", "thresholds", "keys", NULL };
static const char *const threshold_keys[] = { "policy", "directory", "recovery", "root", NULL };
static const char *const key_keys[] = { "vkey", "agency", "roles", NULL };

/* Distinct agencies holding a key with role. */
static unsigned
agencies_with(const struct trust_root *r, unsigned role)
{
	unsigned n = 0;

	for (size_t i = 0; i < r->nkeys; i++) {
		if (!(r->keys[i].roles & role))
			continue;
		size_t j;
		for (j = 0; j < i; j++)
			if ((r->keys[j].roles & role) && strcmp(r->keys[j].agency, r->keys[i].agency) == 0)
				break;
		n += j == i;
	}
	return n;
}

static bool signed_by_agency(const struct dir_agency *old, const char *note, size_t nlen);
static void list_names(char list[][KETEN_IDMAX], size_t n, char *buf, size_t len);

static int
parse_roles(const struct ydoc *doc, const struct ynode *seq, unsigned *roles,
    char err[static KETEN_ERRLEN])
{
	if (seq == NULL || seq->kind != YNODE_SEQ || seq->n == 0)
		return ydoc_err(doc, seq, err, "roles: want a list of policy, directory, root");
	*roles = 0;
	for (size_t i = 0; i < seq->n; i++) {
		const struct ynode *v = seq->items[i];
		unsigned bit = 0;
		if (v->kind == YNODE_SCALAR && strcmp(v->str, "policy") == 0)
			bit = TRUST_POLICY;
		else if (v->kind == YNODE_SCALAR && strcmp(v->str, "directory") == 0)
			bit = TRUST_DIRECTORY;
		else if (v->kind == YNODE_SCALAR && strcmp(v->str, "root") == 0)
			bit = TRUST_ROOT;
		if (bit == 0)
			return ydoc_err(doc, v, err, "unknown role (want policy, directory or root)");
		*roles |= bit;
	}
	return 0;
}

static int
parse_key(const struct ydoc *doc, const struct ynode *m, struct trust_root *r,
    char err[static KETEN_ERRLEN])
{
	struct trust_key *k = &r->keys[r->nkeys];
	const char *vkey, *agency;
	char why[KETEN_ERRLEN];
	int rc;

	if ((rc = ydoc_expect_map(doc, m, "root key", err)) != 0 ||
	    (rc = ydoc_check_keys(doc, m, "root key", key_keys, err)) != 0 ||
	    (rc = ydoc_get_str(doc, m, "vkey", true, &vkey, err)) != 0 ||
	    (rc = ydoc_get_str(doc, m, "agency", true, &agency, err)) != 0 ||
	    (rc = parse_roles(doc, ynode_get(m, "roles"), &k->roles, err)) != 0)
		return rc;
	if (note_vkey_parse(vkey, &k->key, why) != 0)
		return ydoc_err(doc, ynode_get(m, "vkey"), err, "%s", why);
	if (!agency_id_valid(agency))
		return ydoc_err(doc, ynode_get(m, "agency"), err, "agency: not a valid agency id");
	snprintf(k->agency, sizeof(k->agency), "%s", agency);
	for (size_t i = 0; i < r->nkeys; i++)
		if (strcmp(r->keys[i].key.name, k->key.name) == 0 ||
		    memcmp(r->keys[i].key.pk, k->key.pk, 32) == 0)
			return ydoc_err(doc, m, err, "key %s is listed twice (by name or key)",
			    k->key.name);
	r->nkeys++;
	return 0;
}

static int
parse_thresholds(const struct ydoc *doc, const struct ynode *m, struct trust_root *r,
    char err[static KETEN_ERRLEN])
{
	uint64_t v[4];
	int rc;

	if ((rc = ydoc_expect_map(doc, m, "thresholds", err)) != 0 ||
	    (rc = ydoc_check_keys(doc, m, "thresholds", threshold_keys, err)) != 0)
		return rc;
	for (int i = 0; i < 4; i++)
		if ((rc = ydoc_get_u64(doc, m, threshold_keys[i], true, 1, TRUST_MAX_KEYS, &v[i],
		    err)) != 0)
			return rc;
	r->policy = (unsigned)v[0], r->directory = (unsigned)v[1];
	r->recovery = (unsigned)v[2], r->root = (unsigned)v[3];
	return 0;
}

/* Every threshold reachable by the keys; recovery above an ordinary change. */
static int
check_thresholds(const struct ydoc *doc, const struct ynode *m, const struct trust_root *r,
    char err[static KETEN_ERRLEN])
{
	static const struct { const char *name; unsigned role; } t[] = {
		{ "policy", TRUST_POLICY }, { "directory", TRUST_DIRECTORY },
		{ "recovery", TRUST_DIRECTORY }, { "root", TRUST_ROOT },
	};
	const unsigned want[4] = { r->policy, r->directory, r->recovery, r->root };

	for (int i = 0; i < 4; i++)
		if (want[i] > agencies_with(r, t[i].role))
			return ydoc_err(doc, ynode_get(m, t[i].name), err, "%s: %u agencies must "
			    "approve, but only %u have a key with role %s", t[i].name, want[i],
			    agencies_with(r, t[i].role), t[i].role == TRUST_POLICY ? "policy" :
			    t[i].role == TRUST_ROOT ? "root" : "directory");
	if (r->recovery < r->directory)
		return ydoc_err(doc, ynode_get(m, "recovery"), err, "recovery: must be at least the "
		    "directory threshold (%u): replacing an agency's keys without it is the "
		    "graver change", r->directory);
	return 0;
}

int
trust_root_parse(const char *name, const void *buf, size_t len, struct trust_root **out,
    char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	struct trust_root *r = NULL;
	const struct ynode *root, *keys;
	const char *network;
	int rc;

	if (len > TRUST_MAX_BYTES)
		return keten_seterr(err, KETEN_EINVAL, "%s: larger than %u bytes", name,
		    TRUST_MAX_BYTES);
	if ((rc = ydoc_parse(name, buf, len, &doc, err)) != 0)
		return rc;
	root = ydoc_root(doc);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ydoc_expect_map(doc, root, "network root", err)) != 0 ||
	    (rc = ydoc_check_keys(doc, root, "network root", root_keys, err)) != 0 ||
	    (rc = ydoc_get_str(doc, root, "network", true, &network, err)) != 0 ||
	    (rc = ydoc_get_u64(doc, root, "version", true, 1, UINT32_MAX, &r->version, err)) != 0 ||
	    (rc = parse_thresholds(doc, ynode_get(root, "thresholds"), r, err)) != 0)
		goto out;
	if (!note_name_valid(network)) {
		rc = ydoc_err(doc, ynode_get(root, "network"), err, "network: a name without spaces "
		    "or '+', like stm.keten.example");
		goto out;
	}
	snprintf(r->network, sizeof(r->network), "%s", network);
	keys = ynode_get(root, "keys");
	if (keys == NULL || keys->kind != YNODE_SEQ || keys->n == 0 || keys->n > TRUST_MAX_KEYS) {
		rc = ydoc_err(doc, keys ? keys : root, err, "keys: want a list of 1 to %d keys",
		    TRUST_MAX_KEYS);
		goto out;
	}
	for (size_t i = 0; i < keys->n; i++)
		if ((rc = parse_key(doc, keys->items[i], r, err)) != 0)
			goto out;
	if ((rc = check_thresholds(doc, ynode_get(root, "thresholds"), r, err)) != 0)
		goto out;
	crypto_hash_sha256(r->sha256, buf, len);
	*out = r;
	r = NULL;
out:
	free(r);
	ydoc_free(&doc);
	return rc;
}

int
trust_root_load(const char *path, struct trust_root **out, char err[static KETEN_ERRLEN])
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = file_read(path, TRUST_MAX_BYTES, &buf, &len, err)) != 0)
		return rc;
	rc = trust_root_parse(path, buf, len, out, err);
	free(buf);
	return rc;
}

void
trust_root_free(struct trust_root **r)
{
	if (r == NULL || *r == NULL)
		return;
	free(*r);
	*r = NULL;
}

char *
trust_statement(const char *network, const struct trust_subject *s)
{
	char hex[65], *text;

	sodium_bin2hex(hex, sizeof(hex), s->sha256, 32);
	if (asprintf(&text, "keten approval v1\nnetwork %s\nkind %s\nname %s\nversion %s\n"
	    "sha256 %s\n", network, s->kind, s->name, s->version, hex) < 0)
		return NULL;
	return text;
}

void
trust_subject_hash(struct trust_subject *s, const void *buf, size_t len)
{
	crypto_hash_sha256(s->sha256, buf, len);
}

/* The note, parsed and checked to be an approval of exactly s. */
static int
parse_approval(const struct trust_root *r, const struct trust_subject *s, const char *note,
    size_t len, struct note **n, char err[static KETEN_ERRLEN])
{
	char *want;
	int rc;

	if (note == NULL || len == 0)
		return keten_seterr(err, KETEN_EPERM, "no approvals");
	if ((rc = note_parse(note, len, n, err)) != 0)
		return rc;
	if ((want = trust_statement(r->network, s)) == NULL) {
		note_free(n);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	if (strlen(want) != (*n)->textlen || memcmp(want, (*n)->text, (*n)->textlen) != 0) {
		const char *v = strstr((*n)->text, "\nversion "), *h = strstr((*n)->text, "\nsha256 ");
		int vl = v ? (int)strcspn(v + 9, "\n") : 0;
		bool same_version = v && (size_t)vl == strlen(s->version) &&
		    strncmp(v + 9, s->version, (size_t)vl) == 0;
		bool named = strcmp(s->kind, s->name) != 0;
		keten_seterr(err, KETEN_EINVAL, "%s%s%s version %s is not approved: the approvals "
		    "with it are of %s%.*s%s", s->kind, named ? " " : "", named ? s->name : "",
		    s->version, same_version ?
		    "other content (sha256 " : v ? "version " : "something else", same_version && h ?
		    16 : vl, same_version && h ? h + 8 : v ? v + 9 : "", same_version ? "...)" : "");
		free(want);
		note_free(n);
		return KETEN_EINVAL;
	}
	free(want);
	return 0;
}

static void
tally_add(char list[][KETEN_IDMAX], size_t *n, const char *agency)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], agency) == 0)
			return;
	snprintf(list[(*n)++], KETEN_IDMAX, "%s", agency);
}

int
trust_tally(const struct trust_root *r, unsigned role, const struct trust_subject *s,
    const char *note, size_t len, struct trust_tally *t, char err[static KETEN_ERRLEN])
{
	struct note_key keys[TRUST_MAX_KEYS];
	bool ok[TRUST_MAX_KEYS];
	size_t idx[TRUST_MAX_KEYS], nk = 0;
	struct note *n = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = parse_approval(r, s, note, len, &n, err)) != 0)
		return rc;
	for (size_t i = 0; i < r->nkeys; i++)
		if (r->keys[i].roles & role) {
			idx[nk] = i;
			keys[nk++] = r->keys[i].key;
		}
	rc = note_verify(n, keys, nk, ok, err);
	note_free(&n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nk; i++)
		if (ok[i])
			tally_add(t->approved, &t->napproved, r->keys[idx[i]].agency);
	for (size_t i = 0; i < nk; i++) {
		const char *a = r->keys[idx[i]].agency;
		size_t j;
		for (j = 0; j < t->napproved && strcmp(t->approved[j], a) != 0; j++)
			;
		if (j == t->napproved)
			tally_add(t->missing, &t->nmissing, a);
	}
	return 0;
}

/* "a, b and c" of the list into buf. */
static void
list_names(char list[][KETEN_IDMAX], size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (n == 0)
		snprintf(buf, len, "none");
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i == 0 ? "" :
		    i + 1 == n ? " and " : ", ", list[i]);
}

/* t against threshold: 0, or KETEN_EPERM saying who approved and who has not. */
static int
judge(const struct trust_tally *t, unsigned threshold, const char *what,
    char err[static KETEN_ERRLEN])
{
	char yes[200], no[200];

	if (t->napproved >= threshold)
		return 0;
	list_names((char (*)[KETEN_IDMAX])t->approved, t->napproved, yes, sizeof(yes));
	list_names((char (*)[KETEN_IDMAX])t->missing, t->nmissing, no, sizeof(no));
	return keten_seterr(err, KETEN_EPERM, "%s needs approvals of %u agencies, has %zu "
	    "(approved: %s; not yet: %s)", what, threshold, t->napproved, yes, no);
}

void
trust_describe(const struct trust_root *r, unsigned role, const struct trust_subject *s,
    const struct directory *od, const char *note, size_t len, char *buf, size_t buflen)
{
	struct trust_tally *t = malloc(sizeof(*t));
	char err[KETEN_ERRLEN], names[256];
	size_t off = 0;

	buf[0] = '\0';
	if (t != NULL && trust_tally(r, role, s, note, len, t, err) == 0 && t->napproved > 0) {
		list_names(t->approved, t->napproved, names, sizeof(names));
		off = (size_t)snprintf(buf, buflen, "approved by %s", names);
	}
	free(t);
	for (size_t i = 0; od != NULL && i < od->n && off < buflen; i++)
		if (signed_by_agency(&od->agencies[i], note, len))
			off += (size_t)snprintf(buf + off, buflen - off, "%s%s", off == 0 ?
			    "approved by its own key: " : strstr(buf, "own key") ? ", " :
			    "; own key: ", od->agencies[i].id);
	if (off == 0)
		snprintf(buf, buflen, "no valid approvals");
}

int
trust_check_policy(const struct trust_root *r, const char *name, const char *version,
    const void *src, size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN])
{
	struct trust_subject s = { "policy", name, version, { 0 } };
	struct trust_tally *t = malloc(sizeof(*t));
	char what[160];
	int rc;

	if (t == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	trust_subject_hash(&s, src, len);
	snprintf(what, sizeof(what), "policy %.64s version %.64s", name, version);
	if ((rc = trust_tally(r, TRUST_POLICY, &s, note, nlen, t, err)) == 0)
		rc = judge(t, r->policy, what, err);
	else if (rc == KETEN_EPERM)
		keten_seterr(err, rc, "%s has no approvals (it needs %u agencies' privacy officers)",
		    what, r->policy);
	free(t);
	return rc;
}

/* a and b the same but for the agency's keys. */
static bool
same_membership(const struct dir_agency *a, const struct dir_agency *b)
{
	return strcmp(a->kind, b->kind) == 0 && strcmp(a->name, b->name) == 0 &&
	    a->valid_from_ms == b->valid_from_ms && a->valid_until_ms == b->valid_until_ms &&
	    a->revoked == b->revoked;
}

static bool
same_keys(const struct dir_agency *a, const struct dir_agency *b)
{
	return memcmp(a->tx_pk, b->tx_pk, sizeof(a->tx_pk)) == 0 &&
	    memcmp(a->sign_pk, b->sign_pk, sizeof(a->sign_pk)) == 0 &&
	    memcmp(a->enc_pk, b->enc_pk, sizeof(a->enc_pk)) == 0;
}

/* The agency's own signing key in od signed the note (key name: its id). */
static bool
signed_by_agency(const struct dir_agency *old, const char *note, size_t nlen)
{
	struct note_key k;
	struct note *n = NULL;
	char err[KETEN_ERRLEN];
	bool ok = false;

	if (note_key_init(&k, old->id, old->sign_pk) != 0 || note_parse(note, nlen, &n, err) != 0)
		return false;
	ok = note_verify(n, &k, 1, NULL, err) == 1;
	note_free(&n);
	return ok;
}

/* What the change from od to nd touches: membership, and whose keys changed. */
static bool
membership_changed(const struct directory *od, const struct directory *nd)
{
	if (od == NULL || od->n != nd->n)
		return true;
	for (size_t i = 0; i < nd->n; i++) {
		const struct dir_agency *o = directory_find(od, nd->agencies[i].id);
		if (o == NULL || !same_membership(o, &nd->agencies[i]))
			return true;
	}
	return false;
}

static bool
keys_changed(const struct directory *od, const struct directory *nd)
{
	for (size_t i = 0; od != NULL && i < nd->n; i++) {
		const struct dir_agency *o = directory_find(od, nd->agencies[i].id);
		if (o != NULL && !same_keys(o, &nd->agencies[i]))
			return true;
	}
	return false;
}

int
trust_check_directory(const struct trust_root *r, const struct directory *od,
    const struct directory *nd, const void *src, size_t len, const char *note, size_t nlen,
    char err[static KETEN_ERRLEN])
{
	char version[24];
	struct trust_subject s = { "directory", "directory", version, { 0 } };
	struct trust_tally *t = malloc(sizeof(*t));
	int rc;

	if (t == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	snprintf(version, sizeof(version), "%llu", (unsigned long long)nd->version);
	trust_subject_hash(&s, src, len);
	if (od != NULL && nd->version <= od->version) {
		rc = keten_seterr(err, KETEN_EPERM, "directory version %llu is not newer than the "
		    "active version %llu", (unsigned long long)nd->version,
		    (unsigned long long)od->version);
		goto out;
	}
	if ((rc = trust_tally(r, TRUST_DIRECTORY, &s, note, nlen, t, err)) != 0) {
		if (rc == KETEN_EPERM)
			keten_seterr(err, rc, "directory version %s has no approvals", version);
		goto out;
	}
	/* an agency's own key change needs only its own signature; anything
	 * else (members, names, windows, revocation, a bare new version) the
	 * directory threshold */
	if ((membership_changed(od, nd) || !keys_changed(od, nd)) &&
	    (rc = judge(t, r->directory, od == NULL ? "the first directory" :
	    "a change of the directory", err)) != 0)
		goto out;
	for (size_t i = 0; od != NULL && i < nd->n; i++) {
		const struct dir_agency *o = directory_find(od, nd->agencies[i].id);
		if (o == NULL || same_keys(o, &nd->agencies[i]) || signed_by_agency(o, note, nlen))
			continue;
		char what[200];
		snprintf(what, sizeof(what), "a change of %s's keys not signed by %s's own "
		    "signing key", o->id, o->id);
		if ((rc = judge(t, r->recovery, what, err)) != 0)
			goto out;
	}
out:
	free(t);
	return rc;
}

int
trust_check_root(const struct trust_root *r, const struct trust_root *nr, const void *src,
    size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN])
{
	char version[24];
	struct trust_subject s = { "root", r->network, version, { 0 } };
	struct trust_tally *t = malloc(sizeof(*t));
	int rc;

	if (t == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	snprintf(version, sizeof(version), "%llu", (unsigned long long)nr->version);
	trust_subject_hash(&s, src, len);
	if (strcmp(nr->network, r->network) != 0 || nr->version != r->version + 1) {
		rc = keten_seterr(err, KETEN_EPERM, "root %s version %llu does not follow %s "
		    "version %llu (same network, the next version)", nr->network,
		    (unsigned long long)nr->version, r->network, (unsigned long long)r->version);
		goto out;
	}
	if ((rc = trust_tally(r, TRUST_ROOT, &s, note, nlen, t, err)) != 0 ||
	    (rc = judge(t, r->root, "a new root, by the keys of the old,", err)) != 0 ||
	    (rc = trust_tally(nr, TRUST_ROOT, &s, note, nlen, t, err)) != 0 ||
	    (rc = judge(t, nr->root, "a new root, by its own keys,", err)) != 0)
		goto out;
out:
	free(t);
	return rc;
}

/* The next dot-separated part of *s as a number; false when it is not one. */
static bool
next_part(const char **s, unsigned long long *v)
{
	char *end;

	if (**s < '0' || **s > '9')
		return false;
	*v = strtoull(*s, &end, 10);
	if (*end != '.' && *end != '\0')
		return false;
	*s = *end == '.' ? end + 1 : end;
	return true;
}

int
trust_version_cmp(const char *a, const char *b)
{
	const char *pa = a, *pb = b;
	unsigned long long va, vb;

	while (*pa != '\0' && *pb != '\0') {
		if (!next_part(&pa, &va) || !next_part(&pb, &vb))
			return strcmp(a, b);
		if (va != vb)
			return va < vb ? -1 : 1;
	}
	return *pa != '\0' ? 1 : *pb != '\0' ? -1 : 0;
}

static struct trust_signer *
signer_alloc(void)
{
	struct trust_signer *s = sodium_malloc(sizeof(*s));

	if (s != NULL)
		memset(s, 0, sizeof(*s));
	return s;
}

void
trust_signer_free(struct trust_signer **s)
{
	if (s == NULL || *s == NULL)
		return;
	sodium_free(*s);	/* wipes */
	*s = NULL;
}

static const char *const signer_keys[] = { "name", "signing_secret", NULL };

/* An agency's .secret file as a signer named by the agency id. */
static int
signer_from_agency(const char *path, struct trust_signer **out, char err[static KETEN_ERRLEN])
{
	struct keten_keys *k = NULL;
	struct trust_signer *s;
	int rc;

	if ((rc = keys_load(path, &k, err)) != 0)
		return rc;
	if ((s = signer_alloc()) == NULL) {
		keys_free(&k);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	snprintf(s->name, sizeof(s->name), "%s", k->id);
	memcpy(s->pk, k->sign_pk, 32);
	memcpy(s->sk, k->sign_sk, 64);
	keys_free(&k);
	*out = s;
	return 0;
}

int
trust_signer_load(const char *path, struct trust_signer **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	struct trust_signer *s = NULL;
	const struct ynode *root;
	const char *name, *seed64;
	uint8_t seed[32];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = secret_file_read(path, 4096, &buf, &len, err)) != 0)
		return rc;
	rc = ydoc_parse(path, buf, len, &doc, err);
	secret_file_free(&buf, len);
	if (rc != 0)
		return rc;
	root = ydoc_root(doc);
	if (root != NULL && root->kind == YNODE_MAP && ynode_get(root, "id") != NULL) {
		ydoc_free(&doc);
		return signer_from_agency(path, out, err);
	}
	if ((rc = ydoc_expect_map(doc, root, "approver key file", err)) ||
	    (rc = ydoc_check_keys(doc, root, "approver key file", signer_keys, err)) ||
	    (rc = ydoc_get_str(doc, root, "name", true, &name, err)) ||
	    (rc = ydoc_get_str(doc, root, "signing_secret", true, &seed64, err)))
		goto out;
	if (!note_name_valid(name)) {
		rc = ydoc_err(doc, ynode_get(root, "name"), err, "name: a key name without spaces "
		    "or '+'");
		goto out;
	}
	if (key_b64_decode(seed, sizeof(seed), seed64) != 0) {
		rc = ydoc_err(doc, ynode_get(root, "signing_secret"), err, "signing_secret must be "
		    "the base64 of a 32-byte Ed25519 seed");
		goto out;
	}
	if ((s = signer_alloc()) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	crypto_sign_ed25519_seed_keypair(s->pk, s->sk, seed);
	*out = s;
out:
	sodium_memzero(seed, sizeof(seed));
	ydoc_free(&doc);
	return rc;
}

int
trust_signer_create(const char *name, const char *path, struct trust_signer **out,
    char err[static KETEN_ERRLEN])
{
	struct trust_signer *s;
	struct stat st;
	char seed64[64], *text = NULL;
	int rc, n;

	if (!note_name_valid(name))
		return keten_seterr(err, KETEN_EINVAL, "\"%s\" is not a key name (no spaces, no "
		    "'+')", name);
	if (lstat(path, &st) == 0)
		return keten_seterr(err, KETEN_EEXIST, "%s exists; refusing to overwrite a secret "
		    "key", path);
	if ((s = signer_alloc()) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	snprintf(s->name, sizeof(s->name), "%s", name);
	crypto_sign_ed25519_keypair(s->pk, s->sk);
	key_b64_encode(seed64, sizeof(seed64), s->sk, 32);	/* sk is seed || pk */
	n = asprintf(&text, "# keten approver key \"%s\": keep it offline and private (mode "
	    "0600);\n# never on the broker's host (docs/trust.md)\nname: %s\n"
	    "signing_secret: \"%s\"\n", name, name, seed64);
	sodium_memzero(seed64, sizeof(seed64));
	if (n < 0) {
		trust_signer_free(&s);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	rc = file_write_atomic(path, text, strlen(text), 0600, err);
	sodium_memzero(text, strlen(text));
	free(text);
	if (rc != 0) {
		trust_signer_free(&s);
		return rc;
	}
	*out = s;
	return 0;
}
