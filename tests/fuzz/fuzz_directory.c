/*
 * libFuzzer target: the agency directory (common/directory.c) as the broker
 * loads it and as an agent takes it from a DirectoryUpdate.  A directory that
 * parses must format to YAML that parses to the same agencies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/directory.h"
#include "tests/fuzz/fuzzkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[KETEN_ERRLEN];
	struct directory *d = NULL, *d2 = NULL;
	char *yaml;

	if (directory_parse("fuzz.yaml", data, size, &d, err) != 0) {
		if (d != NULL || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct dir_agency *a = &d->agencies[i];
		if (directory_find(d, a->id) != a ||
		    directory_find_transport(d, a->tx_pk, 0) == NULL)
			abort();
		dir_agency_active(a, FUZZ_NOW_MS);
		dir_agency_previous_valid(a, FUZZ_NOW_MS);
	}
	if ((yaml = directory_format(d)) == NULL)
		abort();
	if (directory_parse("formatted.yaml", yaml, strlen(yaml), &d2, err) != 0 ||
	    d2->n != d->n || d2->version != d->version)
		abort();	/* what we write must read back */
	for (size_t i = 0; i < d->n; i++)
		if (memcmp(&d->agencies[i], &d2->agencies[i], sizeof(d->agencies[i])) != 0)
			abort();
	free(yaml);
	directory_free(&d2);
	directory_free(&d);
	return 0;
}
