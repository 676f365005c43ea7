/*
 * libFuzzer target: protobuf unpack of every case message type, then
 * validation, paths, and filtering with a set derived from the input.
 * The first input byte picks the type; the rest is the protobuf encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[KETEN_ERRLEN], *json = NULL;
	struct codec_pathset present, allowed, removed, after;

	if (size < 1 || codec_init() != 0)
		return 0;
	const struct codec_type *t = codec_type_at(data[0] % codec_type_count());
	ProtobufCMessage *m = codec_unpack(t, data + 1, size - 1);
	if (m == NULL)
		return 0;
	codec_validate(t, m, err);
	codec_paths(t, m, &present);
	codec_pathset_clear(&allowed);
	for (size_t i = 0; i < codec_type_npaths(t); i++)
		if (data[(i * 7 + 1) % size] & 1)
			codec_pathset_set(&allowed, i);
	codec_filter(t, m, &allowed, &removed);
	codec_paths(t, m, &after);
	codec_pathset_close(t, &allowed);	/* companions travel with what is kept */
	if (!codec_pathset_subset(&after, &allowed) || !codec_pathset_subset(&removed, &present))
		abort();
	if (codec_to_json(t, m, &json) == 0)
		free(json);
	codec_free(m);
	return 0;
}
