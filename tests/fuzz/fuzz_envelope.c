/*
 * libFuzzer target: sealed and signed envelopes (common/envelope.c) with the
 * fixed fuzz keys (tests/fuzz/fuzzkeys.h).  Byte 0 picks the form: even, a
 * keten.wire.v1.Submit as the broker checks it (signature over every copy);
 * odd, a Deliver as the recipient checks it (signature over the passed-on
 * copy digests, then opening its copy).  The seeds are valid envelopes
 * (tests/fuzz/gen_seeds.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "tests/fuzz/fuzzkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
try_open(const Keten__Wire__V1__Copy *c, const Keten__Envelope__V1__Header *h,
    const ProtobufCBinaryData *eph)
{
	struct keten_keys k;
	uint8_t hd[ENV_DIGESTBYTES], *out;

	if (c == NULL || c->payload.len < ENV_MACBYTES || eph->len != ENV_KEYBYTES)
		return;
	if ((out = malloc(c->payload.len)) == NULL)
		return;
	fuzzkeys(c->recipient, &k);
	envelope_header_digest(hd, h);
	envelope_open(out, c, hd, eph->data, k.enc_sk, k.enc_pk);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keten_keys from;

	if (size < 1 || sodium_init() < 0)
		return 0;
	if ((data[0] & 1) == 0) {
		Keten__Wire__V1__Submit *s = keten__wire__v1__submit__unpack(NULL, size - 1, data + 1);
		uint8_t (*dig)[ENV_DIGESTBYTES];
		if (s == NULL)
			return 0;
		if (s->header != NULL && (dig = calloc(s->n_copies + 1, ENV_DIGESTBYTES)) != NULL) {
			fuzzkeys(s->header->sender, &from);
			if (envelope_verify_submit(s, from.sign_pk, dig) == 0)
				for (size_t i = 0; i < s->n_copies; i++)
					try_open(s->copies[i], s->header, &s->ephemeral_key);
			free(dig);
		}
		keten__wire__v1__submit__free_unpacked(s, NULL);
	} else {
		Keten__Wire__V1__Deliver *d = keten__wire__v1__deliver__unpack(NULL, size - 1, data + 1);
		if (d == NULL)
			return 0;
		if (d->header != NULL && d->copy != NULL) {
			fuzzkeys(d->header->sender, &from);
			if (envelope_verify_deliver(d, from.sign_pk) == 0)
				try_open(d->copy, d->header, &d->ephemeral_key);
		}
		keten__wire__v1__deliver__free_unpacked(d, NULL);
	}
	return 0;
}
