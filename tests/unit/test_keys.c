/* Unit tests of common/keys.c: generate, save, load, refusals. */
#include "tests/unit/testutil.h"

#include <zmq.h>

#include "common/keys.h"

struct fixture {
	char dir[TU_DIRLEN];
	struct keten_keys *keys;	/* freshly generated "politie" keys */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[KETEN_ERRLEN];

	if (f == NULL)
		return -1;
	tu_tmpdir(f->dir);
	if (keys_generate("politie", &f->keys, err) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	keys_free(&f->keys);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* Text of a secret key file for `k`, with the fields on lines 2..5. */
static char *
secret_text(const struct keten_keys *k)
{
	char tx[KETEN_Z85_KEYLEN + 1], sg[64], en[64];

	key_z85_encode(tx, k->tx_sk);
	key_b64_encode(sg, sizeof(sg), k->sign_sk, 32);
	key_b64_encode(en, sizeof(en), k->enc_sk, sizeof(k->enc_sk));
	return tu_printf("# test key file\n"		/* 1 */
	    "id: %s\n"					/* 2 */
	    "transport_secret: \"%s\"\n"		/* 3 */
	    "signing_secret: \"%s\"\n"			/* 4 */
	    "encryption_secret: \"%s\"\n",		/* 5 */
	    k->id, tx, sg, en);
}

/*
 * Write `text` as a 0600 key file and expect keys_load to refuse it with
 * `code`, a message starting "PATH:prefix" and containing `what`.
 */
static void
load_fails(struct fixture *f, const char *text, int code, const char *pos, const char *what)
{
	char *path = tu_write(f->dir, "bad.secret", text, 0600);
	char *prefix = tu_printf("%s%s", path, pos), err[KETEN_ERRLEN] = "";
	struct keten_keys *k = NULL;

	assert_int_equal(keys_load(path, &k, err), code);
	assert_null(k);
	assert_prefix(err, prefix);
	assert_contains(err, what);
	free(prefix);
	free(path);
}

static void
assert_keys_equal(const struct keten_keys *a, const struct keten_keys *b)
{
	assert_string_equal(a->id, b->id);
	assert_memory_equal(a->tx_pk, b->tx_pk, sizeof(a->tx_pk));
	assert_memory_equal(a->tx_sk, b->tx_sk, sizeof(a->tx_sk));
	assert_memory_equal(a->sign_pk, b->sign_pk, sizeof(a->sign_pk));
	assert_memory_equal(a->sign_sk, b->sign_sk, sizeof(a->sign_sk));
	assert_memory_equal(a->enc_pk, b->enc_pk, sizeof(a->enc_pk));
	assert_memory_equal(a->enc_sk, b->enc_sk, sizeof(a->enc_sk));
}

static void
test_generate(void **state)
{
	struct fixture *f = *state;
	const struct keten_keys *k = f->keys;
	struct keten_keys *other = NULL;
	char err[KETEN_ERRLEN], pk[KETEN_Z85_KEYLEN + 1], sk[KETEN_Z85_KEYLEN + 1];
	uint8_t derived[32];

	assert_string_equal(k->id, "politie");
	/* every public key belongs to its secret key */
	key_z85_encode(sk, k->tx_sk);
	assert_int_equal(zmq_curve_public(pk, sk), 0);
	assert_int_equal(key_z85_decode(derived, pk), 0);
	assert_memory_equal(derived, k->tx_pk, 32);
	assert_int_equal(crypto_scalarmult_curve25519_base(derived, k->enc_sk), 0);
	assert_memory_equal(derived, k->enc_pk, 32);
	assert_int_equal(crypto_sign_ed25519_sk_to_pk(derived, k->sign_sk), 0);
	assert_memory_equal(derived, k->sign_pk, 32);

	/* and a second generation gives different keys */
	assert_int_equal(keys_generate("politie", &other, err), 0);
	assert_memory_not_equal(other->tx_sk, k->tx_sk, 32);
	assert_memory_not_equal(other->sign_sk, k->sign_sk, 32);
	assert_memory_not_equal(other->enc_sk, k->enc_sk, 32);
	keys_free(&other);
	assert_null(other);
	keys_free(&other);
	keys_free(NULL);
}

static void
test_generate_invalid_id(void **state)
{
	char long_id[KETEN_IDMAX + 1], err[KETEN_ERRLEN];
	struct keten_keys *k = NULL;
	static const char *const bad[] = { "", "Politie", "-politie", "po_litie", "po litie",
		"po.litie", "politie/../x", "p\xc3\xa9" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(keys_generate(bad[i], &k, err), KETEN_EINVAL);
		assert_null(k);
		assert_contains(err, "invalid agency id");
	}
	memset(long_id, 'a', KETEN_IDMAX);
	long_id[KETEN_IDMAX] = '\0';		/* 64 characters: one too many */
	assert_int_equal(keys_generate(long_id, &k, err), KETEN_EINVAL);
	assert_null(k);
	long_id[KETEN_IDMAX - 1] = '\0';	/* 63 characters: the longest */
	assert_int_equal(keys_generate(long_id, &k, err), 0);
	assert_string_equal(k->id, long_id);
	keys_free(&k);
}

static void
test_save_load_roundtrip(void **state)
{
	struct fixture *f = *state;
	char err[KETEN_ERRLEN], tx[KETEN_Z85_KEYLEN + 1];
	char *kdir = tu_printf("%s/keys/sub", f->dir);
	char *secret = tu_printf("%s/politie.secret", kdir);
	char *public = tu_printf("%s/politie.public.yaml", kdir);
	struct keten_keys *loaded = NULL;
	uint8_t sig[crypto_sign_ed25519_BYTES];
	static const uint8_t msg[] = "a message from politie";
	char *text;

	assert_int_equal(keys_save(f->keys, kdir, err), 0);
	assert_int_equal(tu_mode(kdir), 0700);
	assert_int_equal(tu_mode(secret), 0600);
	assert_int_equal(tu_mode(public), 0644);

	assert_int_equal(keys_load(secret, &loaded, err), 0);
	assert_keys_equal(loaded, f->keys);

	/* the seed in the file gives the same Ed25519 key: signatures made with
	 * the loaded key verify under the generated public key */
	assert_int_equal(crypto_sign_ed25519_detached(sig, NULL, msg, sizeof(msg),
	    loaded->sign_sk), 0);
	assert_int_equal(crypto_sign_ed25519_verify_detached(sig, msg, sizeof(msg),
	    f->keys->sign_pk), 0);
	sig[0] ^= 1;
	assert_int_not_equal(crypto_sign_ed25519_verify_detached(sig, msg, sizeof(msg),
	    f->keys->sign_pk), 0);
	keys_free(&loaded);

	/* the public file holds the public keys only */
	text = tu_read(public);
	key_z85_encode(tx, f->keys->tx_pk);
	assert_contains(text, "- id: politie\n");
	assert_contains(text, tx);
	key_z85_encode(tx, f->keys->tx_sk);
	assert_null(strstr(text, tx));
	free(text);

	text = tu_read(secret);
	assert_contains(text, "id: politie\n");
	assert_contains(text, tx);
	free(text);
	free(kdir);
	free(secret);
	free(public);
}

static void
test_public_yaml(void **state)
{
	struct fixture *f = *state;
	char tx[KETEN_Z85_KEYLEN + 1], sg[64], en[64];
	char *yaml = keys_public_yaml(f->keys), *expect;

	assert_non_null(yaml);
	key_z85_encode(tx, f->keys->tx_pk);
	key_b64_encode(sg, sizeof(sg), f->keys->sign_pk, 32);
	key_b64_encode(en, sizeof(en), f->keys->enc_pk, 32);
	expect = tu_printf("  - id: politie\n    transport_key: \"%s\"\n    signing_key: \"%s\"\n"
	    "    encryption_key: \"%s\"\n", tx, sg, en);
	assert_string_equal(yaml, expect);
	free(expect);
	free(yaml);
}

static void
test_load_refuses_open_modes(void **state)
{
	struct fixture *f = *state;
	char *text = secret_text(f->keys), err[KETEN_ERRLEN];
	char *path = tu_write(f->dir, "p.secret", text, 0600);
	static const mode_t bad[] = { 0640, 0604, 0620, 0602, 0660, 0644, 0610 };
	struct keten_keys *k = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		err[0] = '\0';
		assert_int_equal(keys_load(path, &k, err), KETEN_EPERM);
		assert_null(k);
		assert_contains(err, path);
	}
	/* owner-only modes are fine */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(keys_load(path, &k, err), 0);
	assert_keys_equal(k, f->keys);
	keys_free(&k);
	free(path);
	free(text);
}

static void
test_load_missing_file(void **state)
{
	struct fixture *f = *state;
	char *path = tu_printf("%s/none.secret", f->dir), err[KETEN_ERRLEN];
	struct keten_keys *k = NULL;

	assert_int_equal(keys_load(path, &k, err), KETEN_ENOTFOUND);
	assert_null(k);
	assert_contains(err, path);
	free(path);
}

/* The brief's case: one character removed from transport_secret of a saved file. */
static void
test_load_truncated_saved_key(void **state)
{
	struct fixture *f = *state;
	char err[KETEN_ERRLEN], *path, *text, *at, *prefix;
	struct keten_keys *k = NULL;

	assert_int_equal(keys_save(f->keys, f->dir, err), 0);
	path = tu_printf("%s/politie.secret", f->dir);
	text = tu_read(path);
	at = strstr(text, "transport_secret: \"");
	assert_non_null(at);
	at += strlen("transport_secret: \"");
	memmove(at, at + 1, strlen(at + 1) + 1);
	assert_int_equal(unlink(path), 0);
	free(tu_write(f->dir, "politie.secret", text, 0600));

	assert_int_equal(keys_load(path, &k, err), KETEN_EINVAL);
	assert_null(k);
	prefix = tu_printf("%s:3:19: ", path);	/* line 1 is the comment */
	assert_prefix(err, prefix);
	assert_contains(err, "transport_secret");
	free(prefix);
	free(text);
	free(path);
}

static void
test_load_malformed(void **state)
{
	struct fixture *f = *state;
	const struct keten_keys *k = f->keys;
	char tx[KETEN_Z85_KEYLEN + 1], b64[64], *good = secret_text(k), *text;
	uint8_t buf[33];

	/* transport_secret one character short, one long, and with a non-Z85 byte */
	key_z85_encode(tx, k->tx_sk);
	for (int i = 0; i < 3; i++) {
		char bad[KETEN_Z85_KEYLEN + 2];
		snprintf(bad, sizeof(bad), "%s", tx);
		if (i == 0)
			bad[KETEN_Z85_KEYLEN - 1] = '\0';
		else if (i == 1)
			strcat(bad, "0");
		else
			bad[10] = '~';
		text = strdup(good);
		tu_replace(&text, tx, bad);
		load_fails(f, text, KETEN_EINVAL, ":3:19: ", "transport_secret must be");
		free(text);
	}

	/* signing_secret: the base64 of 31 and of 33 bytes */
	key_b64_encode(b64, sizeof(b64), k->sign_sk, 32);
	memcpy(buf, k->sign_sk, 32);
	buf[32] = 0;
	for (size_t n = 31; n <= 33; n += 2) {
		char other[64];
		key_b64_encode(other, sizeof(other), buf, n);
		text = strdup(good);
		tu_replace(&text, b64, other);
		load_fails(f, text, KETEN_EINVAL, ":4:17: ", "signing_secret must be");
		free(text);
	}
	/* not base64 at all, and base64 without its padding */
	text = strdup(good);
	tu_replace(&text, b64, "!!not-base64!!");
	load_fails(f, text, KETEN_EINVAL, ":4:17: ", "signing_secret must be");
	free(text);
	text = strdup(good);
	{
		char *unpadded = strdup(b64);
		unpadded[strlen(unpadded) - 1] = '\0';
		tu_replace(&text, b64, unpadded);
		free(unpadded);
	}
	load_fails(f, text, KETEN_EINVAL, ":4:17: ", "signing_secret must be");
	free(text);

	/* encryption_secret of 31 bytes */
	key_b64_encode(b64, sizeof(b64), k->enc_sk, 32);
	{
		char other[64];
		key_b64_encode(other, sizeof(other), k->enc_sk, 31);
		text = strdup(good);
		tu_replace(&text, b64, other);
	}
	load_fails(f, text, KETEN_EINVAL, ":5:20: ", "encryption_secret must be");
	free(text);
	free(good);
}

static void
test_load_bad_structure(void **state)
{
	struct fixture *f = *state;
	char *good = secret_text(f->keys), *text, *line;

	/* an unknown key, named with its line */
	text = tu_printf("%sextra: 1\n", good);
	load_fails(f, text, KETEN_EINVAL, ":6:1: ", "unknown key \"extra\"");
	free(text);

	/* a missing field: the error points at the start of the mapping (line 2) */
	text = strdup(good);
	line = strstr(text, "signing_secret:");
	memmove(line, strchr(line, '\n') + 1, strlen(strchr(line, '\n') + 1) + 1);
	load_fails(f, text, KETEN_EINVAL, ":2:1: ", "missing required key \"signing_secret\"");
	free(text);

	/* a field given twice */
	text = tu_printf("%sid: politie\n", good);
	load_fails(f, text, KETEN_EINVAL, ":6:1: ", "duplicate key \"id\"");
	free(text);

	/* an id that is not an agency id */
	text = strdup(good);
	tu_replace(&text, "id: politie", "id: Politie");
	load_fails(f, text, KETEN_EINVAL, ":2:5: ", "invalid id \"Politie\"");
	free(text);

	/* a field without value, a list instead of a map, an empty file */
	text = strdup(good);
	tu_replace(&text, "id: politie", "id:");
	load_fails(f, text, KETEN_EINVAL, ":2:1: ", "\"id\" has no value");
	free(text);
	load_fails(f, "- id: politie\n", KETEN_EINVAL, ":1:1: ", "expected a mapping");
	load_fails(f, "", KETEN_EINVAL, ": ", "empty file");
	load_fails(f, "id: [politie\n", KETEN_EINVAL, ":2:1: ", "flow sequence");
	free(good);
}

static void
test_save_refuses_overwrite(void **state)
{
	struct fixture *f = *state;
	struct keten_keys *other = NULL, *loaded = NULL;
	char err[KETEN_ERRLEN], *path = tu_printf("%s/politie.secret", f->dir);
	char *before;

	assert_int_equal(keys_save(f->keys, f->dir, err), 0);
	before = tu_read(path);
	assert_int_equal(keys_generate("politie", &other, err), 0);
	err[0] = '\0';
	assert_int_equal(keys_save(other, f->dir, err), KETEN_EEXIST);
	assert_contains(err, path);
	/* the first key is intact */
	char *after = tu_read(path);
	assert_string_equal(before, after);
	assert_int_equal(keys_load(path, &loaded, err), 0);
	assert_keys_equal(loaded, f->keys);
	keys_free(&loaded);
	keys_free(&other);
	free(before);
	free(after);
	free(path);
}

static void
test_key_codecs(void **state)
{
	uint8_t key[32], out[32];
	char z85[KETEN_Z85_KEYLEN + 1], b64[64];

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 7 + 3);
	key_z85_encode(z85, key);
	assert_int_equal(strlen(z85), KETEN_Z85_KEYLEN);
	assert_int_equal(key_z85_decode(out, z85), 0);
	assert_memory_equal(out, key, 32);
	z85[KETEN_Z85_KEYLEN - 1] = '\0';
	assert_int_equal(key_z85_decode(out, z85), -1);
	assert_int_equal(key_z85_decode(out, ""), -1);

	key_b64_encode(b64, sizeof(b64), key, 32);
	assert_int_equal(strlen(b64), 44);
	memset(out, 0, sizeof(out));
	assert_int_equal(key_b64_decode(out, 32, b64), 0);
	assert_memory_equal(out, key, 32);
	assert_int_equal(key_b64_decode(out, 31, b64), -1);	/* longer than asked */
	assert_int_equal(key_b64_decode(out, 16, "AAAA"), -1);	/* shorter */
	strcat(b64, "x");
	assert_int_equal(key_b64_decode(out, 32, b64), -1);	/* trailing garbage */
	assert_int_equal(key_b64_decode(out, 32, ""), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generate, setup, teardown),
		cmocka_unit_test(test_generate_invalid_id),
		cmocka_unit_test_setup_teardown(test_save_load_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_public_yaml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_open_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_truncated_saved_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_bad_structure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_refuses_overwrite, setup, teardown),
		cmocka_unit_test(test_key_codecs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
