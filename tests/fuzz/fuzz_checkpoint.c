/*
 * libFuzzer target: ledger checkpoints (ledger/checkpoint.c), a C2SP signed
 * note as agents receive it in receipts and witness challenges and auditors
 * read it, with the fixed fuzz keys of the broker (tests/fuzz/fuzzkeys.h).
 * The input is the note; every "— NAME ..." line after the blank line is
 * also checked as NAME's cosignature.  A note that verifies must say what a
 * note signed afresh with the same content says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/checkpoint.h"
#include "tests/fuzz/fuzzkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keten_keys broker;
	char err[KETEN_ERRLEN], origin[256], *note;
	uint64_t n = 0, n2 = 0;
	uint8_t root[32], root2[32];

	if (broker.id[0] == '\0') {
		if (sodium_init() < 0)
			abort();
		fuzzkeys("broker", &broker);
	}
	if ((note = malloc(size + 1)) == NULL)
		return 0;
	memcpy(note, data, size);
	note[size] = '\0';
	snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(note, "\n"), note);
	if (checkpoint_verify(note, origin, broker.sign_pk, &n, root, err) == 0) {
		char *again = checkpoint_sign(origin, n, root, broker.sign_sk, broker.sign_pk);
		if (again == NULL || checkpoint_verify(again, origin, broker.sign_pk, &n2, root2,
		    err) != 0 || n2 != n || memcmp(root, root2, 32) != 0)
			abort();
		free(again);
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	const char *sigs = strstr(note, "\n\n");
	for (const char *line = sigs ? sigs + 2 : NULL; line && *line; ) {
		const char *end = strchr(line, '\n');
		char name[64];
		if (strncmp(line, "\u2014 ", 4) == 0) {
			struct keten_keys w;
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(line + 4, " \n"), line + 4);
			fuzzkeys(name, &w);
			checkpoint_cosig_verify(note, line, name, w.sign_pk);
		}
		line = end ? end + 1 : NULL;
	}
	free(note);
	return 0;
}
