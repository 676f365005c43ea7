/* Unit tests of common/directory.c: loading, lookups, validity, refusals. */
#include "tests/unit/testutil.h"

#include "common/directory.h"
#include "common/yamltree.h"

#define NAGENCIES 3

static const char *const ids[NAGENCIES] = { "politie", "om", "kmar" };
static const char *const kinds[NAGENCIES] = { "police", "prosecution", "military-police" };
static const char *const names[NAGENCIES] = {
	"Nationale Politie", "Openbaar Ministerie", "Koninklijke Marechaussee"
};

struct fixture {
	char dir[TU_DIRLEN];
	char *path;			/* DIR/directory.yaml */
	struct keten_keys *keys[NAGENCIES];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[KETEN_ERRLEN];

	if (f == NULL)
		return -1;
	tu_tmpdir(f->dir);
	f->path = tu_printf("%s/directory.yaml", f->dir);
	for (int i = 0; i < NAGENCIES; i++)
		if (keys_generate(ids[i], &f->keys[i], err) != 0)
			return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < NAGENCIES; i++)
		keys_free(&f->keys[i]);
	tu_rmtree(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/*
 * The directory text: "version: 3", "agencies:", then per agency the
 * keys_public_yaml lines plus kind and name, then extra[i] (may be NULL).
 * Without extras agency i spans lines 3+6i (id) to 8+6i (name):
 *   3+6i id (col 9), 4+6i transport_key (col 20), 5+6i signing_key (col 18),
 *   6+6i encryption_key (col 21), 7+6i kind (col 11), 8+6i name (col 11).
 */
static char *
directory_text(const struct fixture *f, const char *const extra[NAGENCIES])
{
	char *text = tu_printf("version: 3\nagencies:\n");

	for (int i = 0; i < NAGENCIES; i++) {
		char *pub = keys_public_yaml(f->keys[i]), *next;
		assert_non_null(pub);
		next = tu_printf("%s%s    kind: %s\n    name: %s\n%s", text, pub, kinds[i],
		    names[i], extra && extra[i] ? extra[i] : "");
		free(pub);
		free(text);
		text = next;
	}
	return text;
}

static struct directory *
load_ok(const struct fixture *f, const char *text)
{
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN];

	free(tu_write(f->dir, "directory.yaml", text, 0644));
	if (directory_load(f->path, &dir, err) != 0)
		fail_msg("directory refused: %s", err);
	return dir;
}

/* Expect KETEN_EINVAL with "PATH:pos" at the start and `what` in the message. */
static void
load_fails(const struct fixture *f, const char *text, const char *pos, const char *what)
{
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN] = "", *prefix = tu_printf("%s:%s", f->path, pos);

	free(tu_write(f->dir, "directory.yaml", text, 0644));
	assert_int_equal(directory_load(f->path, &dir, err), KETEN_EINVAL);
	assert_null(dir);
	assert_prefix(err, prefix);
	assert_contains(err, what);
	free(prefix);
}

static void
z85_of(char out[static KETEN_Z85_KEYLEN + 1], const uint8_t key[static 32])
{
	key_z85_encode(out, key);
}

static void
test_valid_directory(void **state)
{
	struct fixture *f = *state;
	char *text = directory_text(f, NULL);
	struct directory *dir = load_ok(f, text);
	uint8_t unknown[KETEN_CURVE_KEYBYTES];
	int64_t now = now_ms();

	assert_int_equal(dir->version, 3);
	assert_int_equal(dir->n, NAGENCIES);
	for (int i = 0; i < NAGENCIES; i++) {
		const struct dir_agency *a = &dir->agencies[i];
		assert_string_equal(a->id, ids[i]);
		assert_string_equal(a->kind, kinds[i]);
		assert_string_equal(a->name, names[i]);
		assert_memory_equal(a->tx_pk, f->keys[i]->tx_pk, sizeof(a->tx_pk));
		assert_memory_equal(a->sign_pk, f->keys[i]->sign_pk, sizeof(a->sign_pk));
		assert_memory_equal(a->enc_pk, f->keys[i]->enc_pk, sizeof(a->enc_pk));
		assert_int_equal(a->valid_from_ms, 0);
		assert_int_equal(a->valid_until_ms, 0);
		assert_false(a->revoked);
		assert_true(dir_agency_active(a, now));

		assert_ptr_equal(directory_find(dir, ids[i]), a);
		assert_ptr_equal(directory_find_transport(dir, f->keys[i]->tx_pk, now_ms()), a);
	}
	assert_null(directory_find(dir, "nobody"));
	assert_null(directory_find(dir, ""));
	assert_null(directory_find(dir, "politie2"));
	assert_null(directory_find(dir, "Politie"));
	/* a transport lookup matches transport keys only */
	assert_null(directory_find_transport(dir, f->keys[0]->sign_pk, now_ms()));
	assert_null(directory_find_transport(dir, f->keys[0]->enc_pk, now_ms()));
	memcpy(unknown, f->keys[1]->tx_pk, sizeof(unknown));
	unknown[31] ^= 0x80;
	assert_null(directory_find_transport(dir, unknown, now_ms()));

	directory_free(&dir);
	assert_null(dir);
	directory_free(&dir);
	free(text);
}

static void
test_optional_fields(void **state)
{
	struct fixture *f = *state;
	static const char *const extra[NAGENCIES] = {
		"    revoked: true\n",
		"    valid_from: 2999-01-01T00:00:00Z\n    revoked: false\n",
		"    valid_from: 1999-01-01T00:00:00Z\n    valid_until: 2000-01-01T00:00:00Z\n",
	};
	char *text = directory_text(f, extra);
	struct directory *dir;
	int64_t now = now_ms(), from, until;

	/* the name is optional and defaults to the id */
	tu_replace(&text, "    name: Openbaar Ministerie\n", "");
	dir = load_ok(f, text);
	const struct dir_agency *revoked = directory_find(dir, "politie");
	const struct dir_agency *future = directory_find(dir, "om");
	const struct dir_agency *past = directory_find(dir, "kmar");

	assert_string_equal(future->name, "om");
	assert_true(revoked->revoked);
	assert_false(future->revoked);
	assert_int_equal(parse_utc_time("2999-01-01T00:00:00Z", &from), 0);
	assert_true(future->valid_from_ms == from);
	assert_int_equal(future->valid_until_ms, 0);
	assert_int_equal(past->valid_from_ms, 915148800000LL);
	assert_int_equal(past->valid_until_ms, 946684800000LL);

	/* none of them is active now */
	assert_false(dir_agency_active(revoked, now));
	assert_false(dir_agency_active(future, now));
	assert_false(dir_agency_active(past, now));

	/* the window is [valid_from, valid_until) */
	assert_false(dir_agency_active(future, from - 1));
	assert_true(dir_agency_active(future, from));
	assert_true(dir_agency_active(future, INT64_MAX));
	until = past->valid_until_ms;
	assert_true(dir_agency_active(past, until - 1));
	assert_false(dir_agency_active(past, until));
	assert_false(dir_agency_active(past, past->valid_from_ms - 1));
	assert_true(dir_agency_active(past, past->valid_from_ms));
	/* revoked wins over any window */
	assert_false(dir_agency_active(revoked, 0));
	directory_free(&dir);
	free(text);

	/* a hand-made entry: no bounds means always active unless revoked */
	struct dir_agency a = { .id = "x" };
	assert_true(dir_agency_active(&a, 0));
	assert_true(dir_agency_active(&a, INT64_MAX));
	a.revoked = true;
	assert_false(dir_agency_active(&a, 1767225600000LL));
}

static void
test_duplicate_id(void **state)
{
	struct fixture *f = *state;
	char *text = directory_text(f, NULL);

	tu_replace(&text, "- id: kmar", "- id: politie");
	load_fails(f, text, "15:9: ", "duplicate agency id \"politie\" (first at line 3)");
	free(text);
}

static void
test_duplicate_key(void **state)
{
	struct fixture *f = *state;
	char *text = directory_text(f, NULL);
	char mine[KETEN_Z85_KEYLEN + 1], theirs[KETEN_Z85_KEYLEN + 1];
	char b64_mine[64], b64_theirs[64];

	/* kmar (line 15) presents the transport key of politie (line 3) */
	z85_of(mine, f->keys[2]->tx_pk);
	z85_of(theirs, f->keys[0]->tx_pk);
	tu_replace(&text, mine, theirs);
	load_fails(f, text, "15:5: ", "reuses a public key of agency \"politie\" (line 3)");
	free(text);

	/* kmar presents the signing key of om (line 9) */
	text = directory_text(f, NULL);
	key_b64_encode(b64_mine, sizeof(b64_mine), f->keys[2]->sign_pk, 32);
	key_b64_encode(b64_theirs, sizeof(b64_theirs), f->keys[1]->sign_pk, 32);
	tu_replace(&text, b64_mine, b64_theirs);
	load_fails(f, text, "15:5: ", "reuses a public key of agency \"om\" (line 9)");
	free(text);

	/* om presents the encryption key of politie */
	text = directory_text(f, NULL);
	key_b64_encode(b64_mine, sizeof(b64_mine), f->keys[1]->enc_pk, 32);
	key_b64_encode(b64_theirs, sizeof(b64_theirs), f->keys[0]->enc_pk, 32);
	tu_replace(&text, b64_mine, b64_theirs);
	load_fails(f, text, "9:5: ", "reuses a public key of agency \"politie\" (line 3)");
	free(text);
}

static void
test_bad_kind_and_id(void **state)
{
	struct fixture *f = *state;
	char *text = directory_text(f, NULL);

	tu_replace(&text, "kind: military-police", "kind: pirates");
	load_fails(f, text, "19:11: ", "unknown agency kind \"pirates\"");
	free(text);

	text = directory_text(f, NULL);
	tu_replace(&text, "- id: om", "- id: OM");
	load_fails(f, text, "9:9: ", "invalid agency id \"OM\"");
	free(text);

	text = directory_text(f, NULL);
	tu_replace(&text, "- id: om", "- id: -om");
	load_fails(f, text, "9:9: ", "invalid agency id \"-om\"");
	free(text);
}

static void
test_malformed_keys(void **state)
{
	struct fixture *f = *state;
	char z85[KETEN_Z85_KEYLEN + 1], b64[64], *text = directory_text(f, NULL);

	/* om's transport key with its last character cut off */
	z85_of(z85, f->keys[1]->tx_pk);
	char *cut = tu_printf("\"%.*s\"", KETEN_Z85_KEYLEN - 1, z85), *full = tu_printf("\"%s\"", z85);
	tu_replace(&text, full, cut);
	load_fails(f, text, "10:20: ", "transport_key must be a 40-character Z85");
	free(text);
	free(cut);
	free(full);

	/* politie's signing key: the base64 of 31 bytes */
	text = directory_text(f, NULL);
	key_b64_encode(b64, sizeof(b64), f->keys[0]->sign_pk, 32);
	char short_b64[64];
	key_b64_encode(short_b64, sizeof(short_b64), f->keys[0]->sign_pk, 31);
	tu_replace(&text, b64, short_b64);
	load_fails(f, text, "5:18: ", "signing_key must be");
	free(text);

	/* kmar's encryption key is not base64 */
	text = directory_text(f, NULL);
	key_b64_encode(b64, sizeof(b64), f->keys[2]->enc_pk, 32);
	tu_replace(&text, b64, "not*base64");
	load_fails(f, text, "18:21: ", "encryption_key must be");
	free(text);
}

static void
test_unknown_and_missing_fields(void **state)
{
	struct fixture *f = *state;
	static const char *const colour[NAGENCIES] = { NULL, "    colour: blue\n", NULL };
	char *text = directory_text(f, colour);

	load_fails(f, text, "15:5: ", "unknown key \"colour\" in agency entry");
	free(text);

	/* a top-level key that is not version or agencies, after the list */
	text = directory_text(f, NULL);
	char *more = tu_printf("%sagencys: []\n", text);
	load_fails(f, more, "21:1: ", "unknown key \"agencys\" in agency directory");
	free(more);
	free(text);

	/* om without kind: the error points at om's entry */
	text = directory_text(f, NULL);
	tu_replace(&text, "    kind: prosecution\n", "");
	load_fails(f, text, "9:5: ", "missing required key \"kind\"");
	free(text);

	/* an entry that is not a mapping */
	text = directory_text(f, NULL);
	more = tu_printf("%s  - just-a-name\n", text);
	load_fails(f, more, "21:5: ", "expected a mapping");
	free(more);
	free(text);
}

static void
test_bad_fields(void **state)
{
	struct fixture *f = *state;
	static const char *const leap[NAGENCIES] = {
		"    valid_from: 2026-02-29T00:00:00Z\n", NULL, NULL
	};
	static const char *const reversed[NAGENCIES] = {
		NULL, NULL,
		"    valid_from: 2027-01-01T00:00:00Z\n    valid_until: 2026-01-01T00:00:00Z\n"
	};
	static const char *const maybe[NAGENCIES] = { NULL, "    revoked: maybe\n", NULL };
	char *text = directory_text(f, leap);

	load_fails(f, text, "9:17: ", "\"valid_from\" must be a UTC time");
	free(text);
	text = directory_text(f, reversed);
	load_fails(f, text, "22:18: ", "valid_until is not after valid_from");
	free(text);
	text = directory_text(f, maybe);
	load_fails(f, text, "15:14: ", "\"revoked\" must be true or false");
	free(text);
}

static void
test_bad_top_level(void **state)
{
	struct fixture *f = *state;
	char *text = directory_text(f, NULL);

	/* no version: "agencies:" is now on line 1, where the mapping starts */
	tu_replace(&text, "version: 3\n", "");
	load_fails(f, text, "1:1: ", "missing required key \"version\"");
	free(text);

	text = directory_text(f, NULL);
	tu_replace(&text, "version: 3", "version: 0");
	load_fails(f, text, "1:10: ", "\"version\" must be between 1 and");
	free(text);

	text = directory_text(f, NULL);
	tu_replace(&text, "version: 3", "version: three");
	load_fails(f, text, "1:10: ", "\"version\" must be a whole number");
	free(text);

	load_fails(f, "version: 3\nagencies: []\n", "2:11: ", "non-empty list");
	load_fails(f, "version: 3\n", "1:1: ", "non-empty list");
	load_fails(f, "version: 3\nagencies:\n  politie: x\n", "3:3: ", "non-empty list");
	load_fails(f, "", " ", "empty file");
	load_fails(f, "- version: 3\n", "1:1: ", "expected a mapping");
}

static void
test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN];

	assert_int_equal(directory_load(f->path, &dir, err), KETEN_ENOTFOUND);
	assert_null(dir);
	assert_contains(err, f->path);
}

static void
test_agency_kinds(void **state)
{
	static const char *const good[] = { "police", "prosecution", "labour-inspectorate",
		"military-police", "municipality", "riec", "registration-centre", "care" };
	static const char *const bad[] = { "", "Police", "polic", "police ", "army" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(agency_kind_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(agency_kind_valid(bad[i]));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/*
 * Rotation with overlap: agency 0's old keys stay valid as `previous` until
 * valid_until; after that only the new ones.  The file survives
 * directory_format -> directory_parse unchanged.
 */
static void
test_previous_keys_and_format(void **state)
{
	struct fixture *f = *state;
	struct keten_keys *newk = NULL;
	char err[KETEN_ERRLEN], tx[KETEN_Z85_KEYLEN + 1], sg[64], en[64];
	int64_t until;

	assert_int_equal(keys_generate("agency-new", &newk, err), 0);
	key_z85_encode(tx, f->keys[0]->tx_pk);
	key_b64_encode(sg, sizeof(sg), f->keys[0]->sign_pk, 32);
	key_b64_encode(en, sizeof(en), f->keys[0]->enc_pk, 32);
	const char *extra[NAGENCIES] = { NULL };
	char *prev = tu_printf("    previous:\n      transport_key: \"%s\"\n      signing_key: \"%s\"\n"
	    "      encryption_key: \"%s\"\n      valid_until: 2030-01-01T00:00:00Z\n", tx, sg, en);
	extra[0] = prev;
	char *text = directory_text(f, extra);
	/* give agency 0 the new keys as current ones */
	char ntx[KETEN_Z85_KEYLEN + 1], nsg[64], nen[64];
	key_z85_encode(ntx, newk->tx_pk);
	key_b64_encode(nsg, sizeof(nsg), newk->sign_pk, 32);
	key_b64_encode(nen, sizeof(nen), newk->enc_pk, 32);
	char *first = strstr(text, tx);
	assert_non_null(first);
	memcpy(first, ntx, KETEN_Z85_KEYLEN);
	char *fsg = strstr(text, sg), *fen = strstr(text, en);
	memcpy(fsg, nsg, strlen(nsg));
	memcpy(fen, nen, strlen(nen));
	struct directory *dir = load_ok(f, text);
	const struct dir_agency *a = &dir->agencies[0];
	assert_true(a->has_previous);
	assert_int_equal(parse_utc_time("2030-01-01T00:00:00Z", &until), 0);
	assert_int_equal(a->prev_until_ms, until);
	/* both transport keys admitted during the overlap, only the new one after */
	assert_ptr_equal(directory_find_transport(dir, newk->tx_pk, until - 1), a);
	assert_ptr_equal(directory_find_transport(dir, f->keys[0]->tx_pk, until - 1), a);
	assert_ptr_equal(directory_find_transport(dir, newk->tx_pk, until), a);
	assert_null(directory_find_transport(dir, f->keys[0]->tx_pk, until));
	assert_true(dir_agency_previous_valid(a, until - 1));
	assert_false(dir_agency_previous_valid(a, until));
	assert_memory_equal(a->prev_sign_pk, f->keys[0]->sign_pk, 32);
	assert_memory_equal(a->sign_pk, newk->sign_pk, 32);

	/* format and parse again: the same directory */
	char *out = directory_format(dir);
	struct directory *again = NULL;
	assert_non_null(out);
	if (directory_parse("formatted", out, strlen(out), &again, err) != 0)
		fail_msg("formatted directory refused: %s\n%s", err, out);
	assert_int_equal(again->version, dir->version);
	assert_int_equal(again->n, dir->n);
	for (size_t i = 0; i < dir->n; i++) {
		const struct dir_agency *x = &dir->agencies[i], *y = &again->agencies[i];
		assert_string_equal(x->id, y->id);
		assert_string_equal(x->kind, y->kind);
		assert_string_equal(x->name, y->name);
		assert_memory_equal(x->tx_pk, y->tx_pk, 32);
		assert_memory_equal(x->sign_pk, y->sign_pk, 32);
		assert_memory_equal(x->enc_pk, y->enc_pk, 32);
		assert_int_equal(x->has_previous, y->has_previous);
		assert_int_equal(x->prev_until_ms, y->prev_until_ms);
		assert_memory_equal(x->prev_tx_pk, y->prev_tx_pk, 32);
		assert_int_equal(x->revoked, y->revoked);
	}
	free(out);
	directory_free(&again);
	directory_free(&dir);

	/* previous keys without the end of the overlap are refused */
	char *cut = strstr(text, "      valid_until: 2030");
	assert_non_null(cut);
	strcpy(cut, "");
	load_fails(f, text, "", "need \"valid_until\"");
	free(text);
	free(prev);
	keys_free(&newk);
}

/*
 * A display name is printable text: quotes, backslashes and any script
 * survive directory_format -> directory_parse byte for byte; control and
 * invisible characters (which YAML folds or refuses and which garble logs)
 * are refused at file:line:col.
 */
static void
test_name_text(void **state)
{
	struct fixture *f = *state;
	static const char odd[] = "Gemeente 's-Hertogenbosch \\\"Zuid\\\" \\\\ \\u03a9 \\U0001F6A2";
	static const char odd_utf8[] = "Gemeente 's-Hertogenbosch \"Zuid\" \\ \xce\xa9 "
	    "\xf0\x9f\x9a\xa2";
	char err[KETEN_ERRLEN], *text = directory_text(f, NULL), *quoted = tu_printf("name: \"%s\"", odd);

	tu_replace(&text, "name: Nationale Politie", quoted);
	struct directory *dir = load_ok(f, text), *again = NULL;
	assert_string_equal(dir->agencies[0].name, odd_utf8);
	char *out = directory_format(dir);
	assert_non_null(out);
	if (directory_parse("formatted", out, strlen(out), &again, err) != 0)
		fail_msg("formatted directory refused: %s\n%s", err, out);
	assert_string_equal(again->agencies[0].name, odd_utf8);
	free(out);
	directory_free(&again);
	directory_free(&dir);
	free(quoted);
	free(text);

	static const char *const refused[] = {
		"\"Nationale\\x01Politie\"", "\"Nationale\\nPolitie\"", "\"Nationale\\tPolitie\"",
		"\"Nationale\\x7fPolitie\"", "\"Nationale\\x85Politie\"", "\"Nationale\\u2028Politie\"",
		"\"\\uFEFFNationale Politie\"", "\"Nationale\\uFFFE\"",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *name = tu_printf("name: %s", refused[i]);
		text = directory_text(f, NULL);
		tu_replace(&text, "name: Nationale Politie", name);
		load_fails(f, text, "8:11: ", "control or invisible character");
		free(text);
		free(name);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid_directory),
		T(test_optional_fields),
		T(test_duplicate_id),
		T(test_duplicate_key),
		T(test_bad_kind_and_id),
		T(test_malformed_keys),
		T(test_unknown_and_missing_fields),
		T(test_bad_fields),
		T(test_bad_top_level),
		T(test_missing_file),
		cmocka_unit_test(test_agency_kinds),
		T(test_previous_keys_and_format),
		T(test_name_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
