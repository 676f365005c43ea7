/*
 * C2SP signed notes (common/note.c) against the example of the spec
 * (c2sp.org/signed-note, "Verifier keys", Example: the vkey
 * example.com/foo+530d903a+... and the note it verifies), then round trips,
 * tampering, unknown and failing signatures, merging and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/note.h"

static const char spec_vkey[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
static const char spec_note[] =
    "This is an example message.\n"
    "\n"
    "\xe2\x80\x94 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsY"
    "jOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

static void
test_spec_example(void **state)
{
	struct note_key k;
	struct note *n = NULL;
	char err[KETEN_ERRLEN], vk[NOTE_VKEYMAX];
	bool ok;

	(void)state;
	assert_int_equal(note_vkey_parse(spec_vkey, &k, err), 0);
	assert_string_equal(k.name, "example.com/foo");
	assert_int_equal(k.id, 0x530d903a);
	note_vkey_format(&k, vk);
	assert_string_equal(vk, spec_vkey);
	assert_int_equal(note_parse(spec_note, strlen(spec_note), &n, err), 0);
	assert_int_equal(n->nsigs, 1);
	assert_int_equal(n->textlen, strlen("This is an example message.\n"));
	assert_int_equal(note_verify(n, &k, 1, &ok, err), 1);
	assert_true(ok);
	note_free(&n);
	assert_null(n);

	/* one changed byte of the text: the known key's signature fails, the note is refused */
	char bad[sizeof(spec_note)];
	memcpy(bad, spec_note, sizeof(spec_note));
	bad[0] = 't';
	assert_int_equal(note_parse(bad, strlen(bad), &n, err), 0);
	assert_int_equal(note_verify(n, &k, 1, &ok, err), KETEN_ECRYPTO);
	assert_non_null(strstr(err, "example.com/foo"));
	note_free(&n);
}

static void
test_vkey_refused(void **state)
{
	static const char *const bad[] = {
		"example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",	/* id */
		"example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",	/* type */
		"example.com/foo+530d903a",
		"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k+x",
		"example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
		"+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
		"example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
	};
	struct note_key k;
	char err[KETEN_ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(note_vkey_parse(bad[i], &k, err), KETEN_EINVAL);
	assert_false(note_name_valid("a+b"));
	assert_false(note_name_valid("a\tb"));
	assert_false(note_name_valid("a\xc2\xa0" "b"));	/* no-break space */
	assert_false(note_name_valid(""));
	assert_true(note_name_valid("politie.keten.example/fg"));
}

/* A note signed by two fresh keys; a third key is unknown to it. */
static void
test_sign_verify_merge(void **state)
{
	static const char text[] = "keten approval v1\nkind policy\n";
	uint8_t pk[3][32], sk[3][64];
	struct note_key keys[3];
	static const char *const names[3] = { "fg-politie", "fg-nla", "fg-om" };
	struct note *a = NULL, *b = NULL, *m = NULL;
	char err[KETEN_ERRLEN], *buf, *merged;
	bool ok[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		crypto_sign_ed25519_keypair(pk[i], sk[i]);
		assert_int_equal(note_key_init(&keys[i], names[i], pk[i]), 0);
	}
	char *l0 = note_sign_line(text, strlen(text), names[0], sk[0], pk[0]);
	char *l1 = note_sign_line(text, strlen(text), names[1], sk[1], pk[1]);
	assert_true(asprintf(&buf, "%s\n%s", text, l0) > 0);
	assert_int_equal(note_parse(buf, strlen(buf), &a, err), 0);
	free(buf);
	assert_true(asprintf(&buf, "%s\n%s", text, l1) > 0);
	assert_int_equal(note_parse(buf, strlen(buf), &b, err), 0);
	free(buf);
	assert_int_equal(note_verify(a, keys, 3, ok, err), 1);
	assert_true(ok[0] && !ok[1] && !ok[2]);

	/* merged: both signatures, each once, and merging again changes nothing */
	assert_int_equal(note_merge(a, b, &merged, err), 0);
	assert_int_equal(note_parse(merged, strlen(merged), &m, err), 0);
	assert_int_equal(m->nsigs, 2);
	assert_int_equal(note_verify(m, keys, 3, ok, err), 2);
	assert_true(ok[0] && ok[1] && !ok[2]);
	char *again;
	assert_int_equal(note_merge(m, a, &again, err), 0);
	assert_string_equal(again, merged);
	free(again);

	/* a signature line by a known name and ID that does not verify refuses the note */
	char *forged = strdup(merged);
	char *sig = strstr(forged, "fg-nla ") + strlen("fg-nla ");
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	struct note *f = NULL;
	assert_int_equal(note_parse(forged, strlen(forged), &f, err), 0);
	assert_int_equal(note_verify(f, keys, 3, ok, err), KETEN_ECRYPTO);
	/* the same note read by someone who knows only fg-politie: fg-nla is ignored */
	assert_int_equal(note_verify(f, keys, 1, ok, err), 1);
	note_free(&f);
	free(forged);

	/* a note of another text cannot be merged in */
	struct note *o = NULL;
	assert_true(asprintf(&buf, "other\n\n%s", l0) > 0);
	assert_int_equal(note_parse(buf, strlen(buf), &o, err), 0);
	assert_int_equal(note_merge(a, o, &again, err), KETEN_EINVAL);
	free(buf);
	note_free(&o);
	free(l0);
	free(l1);
	free(merged);
	note_free(&a);
	note_free(&b);
	note_free(&m);
}

static void
test_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"text without signatures\n",
		"text\n\n",
		"text\n\n\xe2\x80\x94 name\n",
		"text\n\n\xe2\x80\x94 name !!!!\n",
		"text\n\n- name Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
		"te\txt\n\n\xe2\x80\x94 name Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
		"text\n\n\xe2\x80\x94 name Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=",
		"\xff\xfe\n\n\xe2\x80\x94 name Uw2Q\n",
	};
	struct note *n = NULL;
	char err[KETEN_ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(note_parse(bad[i], strlen(bad[i]), &n, err), KETEN_EINVAL);
		assert_null(n);
	}
	/* more signatures than NOTE_MAX_SIGS */
	size_t line = strlen(spec_note) - strlen("This is an example message.\n\n");
	char *many = malloc(40 + (NOTE_MAX_SIGS + 1) * line);
	size_t len = (size_t)sprintf(many, "This is an example message.\n\n");
	for (int i = 0; i <= NOTE_MAX_SIGS; i++)
		len += (size_t)sprintf(many + len, "%s", spec_note + strlen("This is an example message.\n\n"));
	assert_int_equal(note_parse(many, len, &n, err), KETEN_EINVAL);
	free(many);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_vkey_refused),
		cmocka_unit_test(test_sign_verify_merge),
		cmocka_unit_test(test_hostile),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
