/*
 * libFuzzer target: the proof files `keten audit check-proof` reads
 * (ledger/proof.c), verified with the fixed fuzz key of the broker
 * (tests/fuzz/fuzzkeys.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/proof.h"
#include "tests/fuzz/fuzzkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keten_keys broker;
	char err[KETEN_ERRLEN];
	struct proof *p = NULL;
	FILE *f;

	if (broker.id[0] == '\0') {
		if (sodium_init() < 0)
			abort();
		fuzzkeys("broker", &broker);
	}
	if (size == 0 || (f = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	if (proof_read(f, &p) == 0) {
		if (p->n > MERKLE_MAX_PROOF || p->note[0] == NULL || (!p->inclusion && p->note[1] == NULL))
			abort();
		if (proof_verify(p, broker.sign_pk, err) != 0 && memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		proof_free(&p);
	}
	fclose(f);
	return 0;
}
