/*
 * Ledger checkpoints (ledger/checkpoint.c): C2SP tlog-checkpoint notes
 * signed with Ed25519, and C2SP cosignature/v1 lines.  The key ID and the
 * signature are checked with the generic signed-note code (common/note.c,
 * itself checked against the spec's example), so a checkpoint is a note any
 * C2SP verifier reads; then every changed part is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/note.h"
#include "ledger/checkpoint.h"

#define ORIGIN "keten.example/ledger"

static uint8_t pk[32], sk[64], root[32];

static void
test_sign_verify(void **state)
{
	char err[KETEN_ERRLEN], *note = checkpoint_sign(ORIGIN, 42, root, sk, pk);
	uint8_t got[32];
	uint64_t size;
	struct note *n = NULL;
	struct note_key k;

	(void)state;
	assert_non_null(note);
	assert_int_equal(checkpoint_verify(note, ORIGIN, pk, &size, got, err), 0);
	assert_int_equal(size, 42);
	assert_memory_equal(got, root, 32);
	/* the same note through the generic signed-note verifier: a standard C2SP note */
	assert_int_equal(note_parse(note, strlen(note), &n, err), 0);
	assert_int_equal(note_key_init(&k, ORIGIN, pk), 0);
	assert_int_equal(note_verify(n, &k, 1, NULL, err), 1);
	assert_non_null(strstr(n->text, ORIGIN "\n42\n"));
	note_free(&n);

	/* another key, another origin */
	uint8_t pk2[32], sk2[64];
	crypto_sign_ed25519_keypair(pk2, sk2);
	assert_int_not_equal(checkpoint_verify(note, ORIGIN, pk2, &size, got, err), 0);
	assert_int_not_equal(checkpoint_verify(note, "other.example/ledger", pk, &size, got, err), 0);
	/* a changed size and a changed root hash */
	char *bad = strdup(note);
	char *p = strstr(bad, "\n42\n");
	p[1] = '3';
	assert_int_not_equal(checkpoint_verify(bad, ORIGIN, pk, &size, got, err), 0);
	strcpy(bad, note);
	p = strchr(strchr(bad, '\n') + 1, '\n') + 1;	/* the root line */
	p[0] = p[0] == 'A' ? 'B' : 'A';
	assert_int_not_equal(checkpoint_verify(bad, ORIGIN, pk, &size, got, err), 0);
	free(bad);
	free(note);
}

static void
test_cosignature(void **state)
{
	char *note = checkpoint_sign(ORIGIN, 7, root, sk, pk), *line;
	uint8_t wpk[32], wsk[64];

	(void)state;
	crypto_sign_ed25519_keypair(wpk, wsk);
	line = checkpoint_cosign(note, "politie", 1764000000, wsk, wpk);
	assert_non_null(line);
	assert_int_equal(strncmp(line, "\xe2\x80\x94 politie ", strlen("\xe2\x80\x94 politie ")), 0);
	assert_int_equal(checkpoint_cosig_verify(note, line, "politie", wpk), 0);
	/* by another witness's name or key, or over another checkpoint: refused */
	assert_int_not_equal(checkpoint_cosig_verify(note, line, "om", wpk), 0);
	assert_int_not_equal(checkpoint_cosig_verify(note, line, "politie", pk), 0);
	char *other = checkpoint_sign(ORIGIN, 8, root, sk, pk);
	assert_int_not_equal(checkpoint_cosig_verify(other, line, "politie", wpk), 0);
	free(other);
	free(line);
	free(note);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_cosignature),
	};

	if (sodium_init() < 0)
		return 1;
	crypto_sign_ed25519_keypair(pk, sk);
	randombytes_buf(root, sizeof(root));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
