/*
 * libFuzzer target: JSON -> protobuf for every case message type, then the
 * canonical JSON of the result must parse back to an equal message.
 * The first input byte picks the type; the rest is the JSON document.
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
	ProtobufCMessage *m = NULL, *m2 = NULL;

	if (size < 1 || codec_init() != 0)
		return 0;
	const struct codec_type *t = codec_type_at(data[0] % codec_type_count());
	if (codec_from_json(t, (const char *)data + 1, size - 1, &m, err) != 0)
		return 0;
	if (codec_to_json(t, m, &json) != 0)
		abort();
	if (codec_from_json(t, json, strlen(json), &m2, err) != 0)
		abort();	/* what we print must parse again */
	size_t a = protobuf_c_message_get_packed_size(m), b = protobuf_c_message_get_packed_size(m2);
	if (a != b)
		abort();
	free(json);
	codec_free(m);
	codec_free(m2);
	return 0;
}
