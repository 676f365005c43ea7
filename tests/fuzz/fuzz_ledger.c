/*
 * libFuzzer target: ledger entries (keten.ledger.v1.Entry) as `keten audit`
 * reads them from the broker's ledger, and as agents read them in receipts:
 * protobuf unpack, then both JSON renderings (ledger/ledgerjson.c), which
 * must always give an object that serialises.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "ledger/ledgerjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, size, data);
	json_t *j[2];

	if (e == NULL)
		return 0;
	j[0] = ledger_entry_json(e);
	j[1] = ledger_entry_logboek_json(e, e);
	for (int i = 0; i < 2; i++) {
		char *s = json_dumps(j[i], JSON_COMPACT);
		if (!json_is_object(j[i]) || s == NULL)
			abort();
		free(s);
		json_decref(j[i]);
	}
	keten__ledger__v1__entry__free_unpacked(e, NULL);
	return 0;
}
