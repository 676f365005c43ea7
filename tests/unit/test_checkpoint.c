/*
 * Unit tests of ledger/checkpoint.c: C2SP tlog-checkpoint signed notes and
 * cosignature/v1 lines.  Known answers from an independent implementation
 * (Go's golang.org/x/mod/sumdb/note, through the transparency-dev tools):
 *
 *   - the key pair of transparency-dev/tessera's test log, published in its
 *     tests and docs (e.g. cmd/conformance/posix/README.md):
 *       PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg
 *       example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx
 *     (base64 of 0x01 || Ed25519 seed, 0x01 || public key; 33d7b496 is the
 *     key hash, SHA-256(name || "\n" || 0x01 || key)[:4]);
 *   - a checkpoint that log signed, size 100270, published inside a spicy
 *     signature in warpfork/spicytool spicy/parse_test.go (TestParseSpicySig).
 * Ed25519 is deterministic, so signing the same size and root with that seed
 * must give the published note byte for byte.
 */
#include "tests/unit/testutil.h"

#include <sodium.h>

#include "common/note.h"
#include "ledger/checkpoint.h"

#define ORIGIN "example.com/log/testdata"
#define SKEY_B64 "AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"
#define VKEY_B64 "AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
#define ROOT_B64 "GRV1O0dCqmjjPvYi7CtOT79zb/fPwLNsMFWsynwU8Ac="

static const char published[] =
    ORIGIN "\n"
    "100270\n"
    ROOT_B64 "\n"
    "\n"
    "\u2014 " ORIGIN " M9e0lkcvy5bAe7rrC8tCyAP+my+CLzswA91zOpBNWVU7qCojkUOHnfdQzDImoYeYH8G8PJSwOqsx0RkSa261OmKVwwM=\n";

static uint8_t pk[32], sk[64], root[32];

/* base64 of 0x01 || 32 bytes, as the note package writes keys. */
static void
note_key(uint8_t out[32], const char *b64)
{
	uint8_t raw[33];
	size_t len = 0;

	assert_int_equal(sodium_base642bin(raw, sizeof(raw), b64, strlen(b64), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(len, 33);
	assert_int_equal(raw[0], 0x01);	/* Ed25519 */
	memcpy(out, raw + 1, 32);
}

static int
setup(void **state)
{
	uint8_t seed[32], vk[32];
	size_t len = 0;
	(void)state;

	if (sodium_init() < 0)
		return -1;
	note_key(seed, SKEY_B64);
	note_key(vk, VKEY_B64);
	crypto_sign_ed25519_seed_keypair(pk, sk, seed);
	if (memcmp(pk, vk, 32) != 0)
		return -1;	/* the published pair does not match: a bad vector */
	return sodium_base642bin(root, 32, ROOT_B64, strlen(ROOT_B64), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) == 0 && len == 32 ? 0 : -1;
}

/* checkpoint_verify must refuse note with `code`. */
static void
assert_refused(const char *note, const char *origin, const uint8_t key[32], int code)
{
	char err[KETEN_ERRLEN] = "";
	uint64_t size = 7;
	uint8_t r[32];

	assert_int_equal(checkpoint_verify(note, origin, key, &size, r, err), code);
	assert_int_equal(size, 7);	/* not written on failure */
	assert_true(err[0] != '\0');
}

/* The published note with `from` replaced by `to` must be refused with code. */
static void
assert_edit_refused(const char *from, const char *to, int code)
{
	char *note = strdup(published);

	assert_non_null(note);
	tu_replace(&note, from, to);
	assert_refused(note, ORIGIN, pk, code);
	free(note);
}

/* The published checkpoint verifies, and signing it again gives the same bytes. */
static void
test_published_vector(void **state)
{
	char err[KETEN_ERRLEN];
	uint64_t size = 0;
	uint8_t r[32];
	(void)state;

	assert_int_equal(checkpoint_verify(published, ORIGIN, pk, &size, r, err), 0);
	assert_int_equal(size, 100270);
	assert_memory_equal(r, root, 32);

	char *note = checkpoint_sign(ORIGIN, 100270, root, sk, pk);
	assert_non_null(note);
	assert_string_equal(note, published);
	free(note);
}

/* Sign and verify round trip, for sizes 0, 1 and 2^64 - 1. */
static void
test_sign_verify(void **state)
{
	static const uint64_t sizes[] = { 0, 1, UINT64_MAX };
	char err[KETEN_ERRLEN];
	(void)state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t r0[32], r[32];
		uint64_t size = 42;
		randombytes_buf(r0, sizeof(r0));
		char *note = checkpoint_sign("keten.local/ledger", sizes[i], r0, sk, pk);
		assert_non_null(note);
		assert_int_equal(checkpoint_verify(note, "keten.local/ledger", pk, &size, r, err), 0);
		assert_int_equal(size, sizes[i]);
		assert_memory_equal(r, r0, 32);
		free(note);
	}
}

/* Every single changed byte of the note's text or signature is refused. */
static void
test_every_changed_byte(void **state)
{
	char *note = strdup(published);
	size_t body = strstr(published, "\n\n") - published + 1;
	(void)state;

	assert_non_null(note);
	for (size_t i = 0; i < strlen(published); i++) {
		if (i == body)
			continue;	/* the blank line: tested below */
		char was = note[i];
		note[i] = (char)(was == 'A' ? 'B' : was == '\n' ? ' ' : 'A');
		if (i < body)	/* the text: any change breaks the signature or the form */
			assert_true(checkpoint_verify(note, ORIGIN, pk, &(uint64_t){ 0 },
			    (uint8_t[32]){ 0 }, (char[KETEN_ERRLEN]){ 0 }) != 0);
		else if (i > body + strlen("\u2014 " ORIGIN " ") + 1 && i < strlen(published) - 2)
			/* the signature's base64 (not its last, padding-bearing characters) */
			assert_refused(note, ORIGIN, pk, KETEN_ECRYPTO);
		note[i] = was;
	}
	/* no blank line: no signatures at all */
	note[body] = 'x';
	assert_refused(note, ORIGIN, pk, KETEN_EINVAL);
	free(note);

	/* a size one larger, a root with one bit flipped */
	assert_edit_refused("100270", "100271", KETEN_ECRYPTO);
	assert_edit_refused("GRV1O0", "GRV1O1", KETEN_ECRYPTO);
}

/* Another key, another origin: refused. */
static void
test_wrong_key_and_origin(void **state)
{
	uint8_t pk2[32], sk2[64];
	(void)state;

	crypto_sign_ed25519_keypair(pk2, sk2);
	assert_refused(published, ORIGIN, pk2, KETEN_ECRYPTO);
	assert_refused(published, "example.com/log/other", pk, KETEN_EINVAL);
	assert_refused(published, "example.com/log/testdat", pk, KETEN_EINVAL);

	/* the same tree signed by another key under the same origin */
	char *forged = checkpoint_sign(ORIGIN, 100270, root, sk2, pk2);
	assert_non_null(forged);
	assert_refused(forged, ORIGIN, pk, KETEN_ECRYPTO);
	free(forged);

	/* our key's signature line moved under another note (size 100269) */
	char *moved = checkpoint_sign(ORIGIN, 100269, root, sk2, pk2);
	char *line = strstr(published, "\u2014");
	assert_non_null(moved);
	*strstr(moved, "\u2014") = '\0';
	char *spliced = tu_printf("%s%s", moved, line);
	assert_refused(spliced, ORIGIN, pk, KETEN_ECRYPTO);
	free(spliced);
	free(moved);
}

/*
 * What a note may hold besides the three lines: other signers' lines are
 * skipped (witnesses sign the same note); extension lines (tlog-checkpoint:
 * opaque, non-empty) are part of the signed text; a missing line, an empty
 * extension line or a root in another base64 spelling is not a checkpoint.
 */
static void
test_other_lines(void **state)
{
	char err[KETEN_ERRLEN];
	uint64_t size = 0;
	uint8_t r[32], wpk[32], wsk[64];
	(void)state;

	crypto_sign_ed25519_keypair(wpk, wsk);
	char *cosig = checkpoint_cosign(published, "witness.example", 1700000000, wsk, wpk);
	assert_non_null(cosig);
	char *both = tu_printf("%s%s", published, cosig);
	assert_int_equal(checkpoint_verify(both, ORIGIN, pk, &size, r, err), 0);
	assert_int_equal(size, 100270);
	free(both);
	both = tu_printf("%.*s%s%s", (int)(strstr(published, "\u2014") - published), published,
	    cosig, strstr(published, "\u2014"));	/* ours second */
	assert_int_equal(checkpoint_verify(both, ORIGIN, pk, &size, r, err), 0);
	free(both);
	free(cosig);

	/* an extension line added after signing: the signature no longer holds */
	assert_edit_refused(ROOT_B64 "\n", ROOT_B64 "\nextension\n", KETEN_ECRYPTO);
	assert_edit_refused(ROOT_B64 "\n", ROOT_B64 "\n\n", KETEN_EINVAL);
	assert_edit_refused(ROOT_B64 "\n", "", KETEN_EINVAL);
	assert_edit_refused("\n100270\n", "\n0100270\n", KETEN_EINVAL);	/* a leading zero */
	/* signed with an extension line: it verifies */
	char *body = tu_printf(ORIGIN "\n5\n" ROOT_B64 "\nx-extension: yes\n");
	char *line = note_sign_line(body, strlen(body), ORIGIN, sk, pk);
	assert_non_null(line);
	char *ext = tu_printf("%s\n%s", body, line);
	assert_int_equal(checkpoint_verify(ext, ORIGIN, pk, &size, r, err), 0);
	assert_int_equal(size, 5);
	free(body);
	free(line);
	free(ext);
	assert_edit_refused(ROOT_B64, "GRV1O0dCqmjjPvYi7CtOT79zb/fPwLNsMFWsynwU8A==", KETEN_EINVAL);
	assert_refused("", ORIGIN, pk, KETEN_EINVAL);
	assert_refused("\n\n", ORIGIN, pk, KETEN_EINVAL);
}

/*
 * Junk after the signature lines.  C2SP signed-note (and Go's note.Open) call
 * such a note malformed; so does checkpoint_verify (note_parse).  The junk
 * must not change what verifies: refused, or the signed size and root.
 */
static void
assert_junk_harmless(const char *note)
{
	char err[KETEN_ERRLEN];
	uint64_t size = 0;
	uint8_t r[32];
	assert_int_equal(checkpoint_verify(note, ORIGIN, pk, &size, r, err), KETEN_EINVAL);
	assert_int_equal(size, 0);	/* nothing read out of a refused note */
}

static void
test_junk_appended(void **state)
{
	static const char *const junk[] = {
		"junk\n", "\n", "\u2014 " ORIGIN, "\u2014 " ORIGIN " AAAA\n", "100271\n",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		char *note = tu_printf("%s%s", published, junk[i]);
		assert_junk_harmless(note);
		free(note);
	}
	/* junk before the blank line is in the signed text: refused */
	assert_edit_refused("\n\n", "\njunk\n\n", KETEN_ECRYPTO);
	/* a second signature line by the broker's key that fails fails the note */
	char *two = tu_printf("%s\u2014 " ORIGIN " M9e0lkcvy5bAe7rrC8tCyAP+my+CLzswA91zOpBNWVU7qCojkUOHnfdQzDImoYeYH8G8PJSwOqsx0RkSa261OmKVwwA=\n", published);
	assert_refused(two, ORIGIN, pk, KETEN_ECRYPTO);
	free(two);
	/* origins the signed-note rules forbid: refused before anything else */
	assert_refused(published, "example.com/log+testdata", pk, KETEN_EINVAL);
	assert_refused(published, "example.com/log testdata", pk, KETEN_EINVAL);
}

/* cosignature/v1: round trip; the timestamp, note, name and key are bound. */
static void
test_cosignature(void **state)
{
	uint8_t wpk[32], wsk[64], opk[32], osk[64], blob[4 + 8 + 64], h[32];
	size_t len = 0;
	(void)state;

	crypto_sign_ed25519_keypair(wpk, wsk);
	crypto_sign_ed25519_keypair(opk, osk);
	char *line = checkpoint_cosign(published, "witness.example", 1700000000, wsk, wpk);
	assert_non_null(line);
	assert_prefix(line, "\u2014 witness.example ");
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_int_equal(checkpoint_cosig_verify(published, line, "witness.example", wpk), 0);

	/* the blob: key id (c2sp.org/signed-note, alg 0x04), then the time, big-endian */
	const char *b64 = line + strlen("\u2014 witness.example ");
	assert_int_equal(sodium_base642bin(blob, sizeof(blob), b64, strlen(b64) - 1, NULL, &len,
	    NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(len, sizeof(blob));
	char *kid = tu_printf("witness.example\n%c", 0x04);
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)kid, strlen(kid));
	crypto_hash_sha256_update(&st, wpk, 32);
	crypto_hash_sha256_final(&st, h);
	free(kid);
	assert_memory_equal(blob, h, 4);
	assert_memory_equal(blob + 4, "\x00\x00\x00\x00\x65\x53\xf1\x00", 8);
	/* the signature: over "cosignature/v1\ntime <t>\n" || the note's text */
	size_t body = strstr(published, "\n\n") - published + 1;
	char *msg = tu_printf("cosignature/v1\ntime 1700000000\n%.*s", (int)body, published);
	assert_int_equal(crypto_sign_ed25519_verify_detached(blob + 12, (const uint8_t *)msg,
	    strlen(msg), wpk), 0);
	free(msg);

	assert_int_equal(checkpoint_cosig_verify(published, line, "witness.example", opk), -1);
	assert_int_equal(checkpoint_cosig_verify(published, line, "witness.other", wpk), -1);
	char *other = checkpoint_sign(ORIGIN, 100271, root, sk, pk);
	assert_int_equal(checkpoint_cosig_verify(other, line, "witness.example", wpk), -1);
	free(other);
	for (size_t i = strlen("\u2014 witness.example "); i < strlen(line) - 3; i++) {
		char *bad = strdup(line);
		bad[i] = (char)(bad[i] == 'A' ? 'B' : 'A');
		assert_int_equal(checkpoint_cosig_verify(published, bad, "witness.example", wpk), -1);
		free(bad);
	}
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_vector),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_every_changed_byte),
		cmocka_unit_test(test_wrong_key_and_origin),
		cmocka_unit_test(test_other_lines),
		cmocka_unit_test(test_junk_appended),
		cmocka_unit_test(test_cosignature),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
