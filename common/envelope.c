/* Sealed and signed envelopes: see envelope.h and docs/protocol.md. */
#include <stdio.h>
#include <string.h>

#include "common/envelope.h"
#include "common/util.h"
#include "schemas/case_types.pb-c.h"

const char *
envelope_strerror(int e)
{
	switch (e) {
	case ENV_OK: return "ok";
	case ENV_BAD_LENGTH: return "a key, nonce or signature has the wrong length";
	case ENV_BAD_KEY: return "unusable public key";
	case ENV_BAD_SIGNATURE: return "the signature does not verify";
	case ENV_CANNOT_OPEN: return "decryption failed (not for us, or altered)";
	case ENV_NOT_LISTED: return "the copy is not the one the sender signed";
	}
	return "envelope error";
}

/* Length-prefixed fields into a SHA-256 state: u32 big-endian length, bytes. */
static void
put(crypto_hash_sha256_state *st, const void *data, size_t len)
{
	uint8_t l[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };

	crypto_hash_sha256_update(st, l, 4);
	if (len)
		crypto_hash_sha256_update(st, data, len);
}

static void
put_str(crypto_hash_sha256_state *st, const char *s)
{
	put(st, s ? s : "", s ? strlen(s) : 0);
}

static void
put_u64(crypto_hash_sha256_state *st, uint64_t v)
{
	uint8_t b[8];

	be64_put(b, v);
	put(st, b, 8);
}

void
envelope_header_digest(uint8_t out[static ENV_DIGESTBYTES], const Keten__Envelope__V1__Header *h)
{
	static const char label[] = "keten-header-v1";
	const Keten__Envelope__V1__Attributes *a = h->attributes;
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	put(&st, label, sizeof(label) - 1);
	put(&st, h->message_id.data, h->message_id.len);
	put(&st, h->case_pseudonym.data, h->case_pseudonym.len);
	put_str(&st, h->sender);
	put_u64(&st, h->n_recipients);
	for (size_t i = 0; i < h->n_recipients; i++)
		put_str(&st, h->recipients[i]);
	put_str(&st, h->message_type);
	put_str(&st, h->purpose);
	put_str(&st, h->legal_basis);
	put_u64(&st, a ? a->n_exploitation_forms : 0);
	for (size_t i = 0; a && i < a->n_exploitation_forms; i++)
		put_u64(&st, (uint64_t)(uint32_t)a->exploitation_forms[i]);
	put_u64(&st, a && a->minor);
	put_str(&st, a ? a->region : NULL);
	put_u64(&st, a ? (uint64_t)(uint32_t)a->urgency : 0);
	put_u64(&st, (uint64_t)(uint32_t)h->handling);
	put(&st, h->in_reply_to.data, h->in_reply_to.len);
	put_str(&st, h->policy_version);
	put_u64(&st, (uint64_t)h->created_ms);
	if (h->view != NULL) {	/* absent in envelopes made before it: their digest stays */
		static const char vlabel[] = "keten-view-v1";
		put(&st, vlabel, sizeof(vlabel) - 1);
		put_u64(&st, h->view->directory_version);
		put(&st, h->view->directory_sha256.data, h->view->directory_sha256.len);
		put_str(&st, h->view->policy);
		put_u64(&st, h->view->witnessed_size);
		put(&st, h->view->witnessed_root.data, h->view->witnessed_root.len);
	}
	crypto_hash_sha256_final(&st, out);
}

void
envelope_manifest_digest(uint8_t out[static ENV_DIGESTBYTES], char *const *paths, size_t n)
{
	static const char label[] = "keten-manifest-v1";
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	put(&st, label, sizeof(label) - 1);
	put_u64(&st, n);
	for (size_t i = 0; i < n; i++)
		put_str(&st, paths[i]);
	crypto_hash_sha256_final(&st, out);
}

void
envelope_copy_digest(uint8_t out[static ENV_DIGESTBYTES], const Keten__Wire__V1__Copy *c)
{
	static const char label[] = "keten-copy-v1";
	crypto_hash_sha256_state st;
	uint8_t md[ENV_DIGESTBYTES];

	envelope_manifest_digest(md, c->manifest, c->n_manifest);
	crypto_hash_sha256_init(&st);
	put(&st, label, sizeof(label) - 1);
	put_str(&st, c->recipient);
	put(&st, md, sizeof(md));
	put(&st, c->nonce.data, c->nonce.len);
	put(&st, c->payload.data, c->payload.len);
	crypto_hash_sha256_final(&st, out);
}

void
envelope_digest(uint8_t out[static ENV_DIGESTBYTES], const uint8_t header[static ENV_DIGESTBYTES],
    const uint8_t eph_pk[static ENV_KEYBYTES], const uint8_t (*copies)[ENV_DIGESTBYTES], size_t n)
{
	static const char label[] = "keten-envelope-v1";
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	put(&st, label, sizeof(label) - 1);
	put(&st, header, ENV_DIGESTBYTES);
	put(&st, eph_pk, ENV_KEYBYTES);
	put_u64(&st, n);
	for (size_t i = 0; i < n; i++)
		put(&st, copies[i], ENV_DIGESTBYTES);
	crypto_hash_sha256_final(&st, out);
}

/* key = BLAKE2b-256(shared, "keten-seal-v1" || eph_pk || rcpt_pk || recipient || header) */
static int
derive(uint8_t key[static ENV_KEYBYTES], const uint8_t shared[static 32],
    const uint8_t eph_pk[static 32], const uint8_t rcpt_pk[static 32], const char *recipient,
    const uint8_t header[static ENV_DIGESTBYTES])
{
	static const char label[] = "keten-seal-v1";
	crypto_generichash_state st;

	if (crypto_generichash_init(&st, shared, 32, ENV_KEYBYTES) != 0)
		return -1;
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_generichash_update(&st, eph_pk, 32);
	crypto_generichash_update(&st, rcpt_pk, 32);
	crypto_generichash_update(&st, (const uint8_t *)recipient, strlen(recipient) + 1);
	crypto_generichash_update(&st, header, ENV_DIGESTBYTES);
	crypto_generichash_final(&st, key, ENV_KEYBYTES);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

/* ad = header digest || recipient || 0x00 || manifest digest */
static size_t
make_ad(uint8_t *ad, size_t cap, const uint8_t header[static ENV_DIGESTBYTES],
    const Keten__Wire__V1__Copy *c)
{
	size_t rl = strlen(c->recipient) + 1;

	if (ENV_DIGESTBYTES * 2 + rl > cap)
		return 0;
	memcpy(ad, header, ENV_DIGESTBYTES);
	memcpy(ad + ENV_DIGESTBYTES, c->recipient, rl);
	envelope_manifest_digest(ad + ENV_DIGESTBYTES + rl, c->manifest, c->n_manifest);
	return ENV_DIGESTBYTES * 2 + rl;
}

int
envelope_seal(Keten__Wire__V1__Copy *c, const uint8_t header[static ENV_DIGESTBYTES],
    const uint8_t eph_sk[static ENV_KEYBYTES], const uint8_t eph_pk[static ENV_KEYBYTES],
    const uint8_t recipient_pk[static ENV_KEYBYTES], const uint8_t nonce[static ENV_NONCEBYTES],
    const uint8_t *content, size_t len)
{
	uint8_t shared[32], key[ENV_KEYBYTES], ad[ENV_DIGESTBYTES * 2 + 80], *ct, *n;
	unsigned long long ctlen;
	size_t adlen;
	int rc = ENV_BAD_KEY;

	if ((adlen = make_ad(ad, sizeof(ad), header, c)) == 0)
		return ENV_BAD_LENGTH;
	if (crypto_scalarmult_curve25519(shared, eph_sk, recipient_pk) != 0)
		goto out;
	if (derive(key, shared, eph_pk, recipient_pk, c->recipient, header) != 0)
		goto out;
	if ((ct = malloc(len + ENV_MACBYTES)) == NULL || (n = malloc(ENV_NONCEBYTES)) == NULL) {
		free(ct == NULL ? NULL : ct);
		rc = ENV_BAD_LENGTH;
		goto out;
	}
	memcpy(n, nonce, ENV_NONCEBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, content, len, ad, adlen, NULL, n, key);
	c->payload = (ProtobufCBinaryData){ (size_t)ctlen, ct };
	c->nonce = (ProtobufCBinaryData){ ENV_NONCEBYTES, n };
	rc = 0;
out:
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(key, sizeof(key));
	return rc;
}

int
envelope_open(uint8_t *out, const Keten__Wire__V1__Copy *c, const uint8_t header[static ENV_DIGESTBYTES],
    const uint8_t eph_pk[static ENV_KEYBYTES], const uint8_t own_sk[static ENV_KEYBYTES],
    const uint8_t own_pk[static ENV_KEYBYTES])
{
	uint8_t shared[32], key[ENV_KEYBYTES], ad[ENV_DIGESTBYTES * 2 + 80];
	unsigned long long outlen;
	size_t adlen;
	int rc = ENV_BAD_KEY;

	if (c->nonce.len != ENV_NONCEBYTES || c->payload.len < ENV_MACBYTES)
		return ENV_BAD_LENGTH;
	if ((adlen = make_ad(ad, sizeof(ad), header, c)) == 0)
		return ENV_BAD_LENGTH;
	if (crypto_scalarmult_curve25519(shared, own_sk, eph_pk) != 0)
		goto out;
	if (derive(key, shared, eph_pk, own_pk, c->recipient, header) != 0)
		goto out;
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &outlen, NULL, c->payload.data,
	    c->payload.len, ad, adlen, c->nonce.data, key) == 0 ? 0 : ENV_CANNOT_OPEN;
out:
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(key, sizeof(key));
	return rc;
}

void
envelope_sign(uint8_t sig[static ENV_SIGBYTES], const uint8_t digest[static ENV_DIGESTBYTES],
    const uint8_t sign_sk[static 64])
{
	crypto_sign_ed25519_detached(sig, NULL, digest, ENV_DIGESTBYTES, sign_sk);
}

int
envelope_verify(const uint8_t *sig, size_t siglen, const uint8_t digest[static ENV_DIGESTBYTES],
    const uint8_t sign_pk[static 32])
{
	if (siglen != ENV_SIGBYTES)
		return ENV_BAD_LENGTH;
	return crypto_sign_ed25519_verify_detached(sig, digest, ENV_DIGESTBYTES, sign_pk) == 0 ?
	    0 : ENV_BAD_SIGNATURE;
}

int
envelope_verify_submit(const Keten__Wire__V1__Submit *s, const uint8_t sign_pk[static 32],
    uint8_t (*digests)[ENV_DIGESTBYTES])
{
	uint8_t hd[ENV_DIGESTBYTES], d[ENV_DIGESTBYTES];

	if (s->header == NULL || s->ephemeral_key.len != ENV_KEYBYTES || s->n_copies > ENV_MAX_COPIES)
		return ENV_BAD_LENGTH;
	for (size_t i = 0; i < s->n_copies; i++)	/* a copy no one could ever open */
		if (s->copies[i]->nonce.len != ENV_NONCEBYTES || s->copies[i]->payload.len < ENV_MACBYTES)
			return ENV_BAD_LENGTH;
	envelope_header_digest(hd, s->header);
	for (size_t i = 0; i < s->n_copies; i++)
		envelope_copy_digest(digests[i], s->copies[i]);
	envelope_digest(d, hd, s->ephemeral_key.data, (const uint8_t (*)[ENV_DIGESTBYTES])digests,
	    s->n_copies);
	return envelope_verify(s->signature.data, s->signature.len, d, sign_pk);
}

int
envelope_verify_deliver(const Keten__Wire__V1__Deliver *dl, const uint8_t sign_pk[static 32])
{
	uint8_t hd[ENV_DIGESTBYTES], own[ENV_DIGESTBYTES], d[ENV_DIGESTBYTES];
	uint8_t (*list)[ENV_DIGESTBYTES];
	int rc;

	if (dl->header == NULL || dl->copy == NULL || dl->ephemeral_key.len != ENV_KEYBYTES ||
	    dl->n_copy_digests == 0 || dl->n_copy_digests > ENV_MAX_COPIES ||
	    dl->copy_index >= dl->n_copy_digests)
		return ENV_BAD_LENGTH;
	if ((list = malloc(dl->n_copy_digests * ENV_DIGESTBYTES)) == NULL)
		return ENV_BAD_LENGTH;
	for (size_t i = 0; i < dl->n_copy_digests; i++) {
		if (dl->copy_digests[i].len != ENV_DIGESTBYTES) {
			free(list);
			return ENV_BAD_LENGTH;
		}
		memcpy(list[i], dl->copy_digests[i].data, ENV_DIGESTBYTES);
	}
	envelope_copy_digest(own, dl->copy);
	if (sodium_memcmp(own, list[dl->copy_index], ENV_DIGESTBYTES) != 0) {
		free(list);
		return ENV_NOT_LISTED;
	}
	envelope_header_digest(hd, dl->header);
	envelope_digest(d, hd, dl->ephemeral_key.data, (const uint8_t (*)[ENV_DIGESTBYTES])list,
	    dl->n_copy_digests);
	free(list);
	rc = envelope_verify(dl->signature.data, dl->signature.len, d, sign_pk);
	return rc;
}

void
envelope_case_pseudonym(uint8_t out[static ENV_DIGESTBYTES], const uint8_t key[static 32],
    const char *sender, const char *reference)
{
	static const char label[] = "keten-case-v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, 32, ENV_DIGESTBYTES);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_generichash_update(&st, (const uint8_t *)sender, strlen(sender) + 1);
	crypto_generichash_update(&st, (const uint8_t *)reference, strlen(reference));
	crypto_generichash_final(&st, out, ENV_DIGESTBYTES);
	sodium_memzero(&st, sizeof(st));	/* keyed with the network key */
}

static bool
enum_known(const ProtobufCEnumDescriptor *d, int v)
{
	return protobuf_c_enum_descriptor_get_value(d, v) != NULL;
}

int
envelope_header_check(const Keten__Envelope__V1__Header *h, char why[static ENV_WHYLEN])
{
	const uint8_t *id = h->message_id.data;
	const Keten__Envelope__V1__Attributes *a = h->attributes;

	if (h->message_id.len != KETEN_UUIDBYTES)
		return snprintf(why, ENV_WHYLEN, "header with a 16-byte message id required"), -1;
	/* what the ledger keeps of a header is bounded here, for every entry made of it */
	if (h->case_pseudonym.len != 0 && h->case_pseudonym.len != ENV_DIGESTBYTES)
		return snprintf(why, ENV_WHYLEN, "case pseudonym of %zu bytes (32 or none)",
		    h->case_pseudonym.len), -1;
	if (strlen(h->sender) >= KETEN_IDMAX || strlen(h->message_type) > ENV_NAMEMAX ||
	    strlen(h->purpose) > ENV_NAMEMAX || strlen(h->legal_basis) > ENV_NAMEMAX ||
	    strlen(h->policy_version) > ENV_NAMEMAX)
		return snprintf(why, ENV_WHYLEN, "sender, message type, purpose, legal basis or "
		    "policy version longer than %d bytes", ENV_NAMEMAX), -1;
	if (h->n_recipients > ENV_MAX_COPIES)
		return snprintf(why, ENV_WHYLEN, "%zu recipients (at most %d)", h->n_recipients,
		    ENV_MAX_COPIES), -1;
	for (size_t i = 0; i < h->n_recipients; i++)
		if (strlen(h->recipients[i]) >= KETEN_IDMAX)
			return snprintf(why, ENV_WHYLEN, "recipient %zu longer than an agency id", i), -1;
	/* RFC 9562: version nibble 7, variant bits 10 */
	if ((id[6] >> 4) != 7 || (id[8] & 0xc0) != 0x80)
		return snprintf(why, ENV_WHYLEN, "message id is not a UUIDv7 (version %d)",
		    id[6] >> 4), -1;
	if (h->created_ms < ENV_EPOCH_MS)
		return snprintf(why, ENV_WHYLEN, "created_ms %lld is before 2020-01-01: not a "
		    "message's time", (long long)h->created_ms), -1;
	if (!enum_known(&keten__envelope__v1__handling_label__descriptor, (int)h->handling))
		return snprintf(why, ENV_WHYLEN, "handling label %d is not a TLP label",
		    (int)h->handling), -1;
	if (h->in_reply_to.len != 0 && h->in_reply_to.len != KETEN_UUIDBYTES)
		return snprintf(why, ENV_WHYLEN, "in_reply_to must be a 16-byte message id"), -1;
	if (a == NULL)
		return 0;
	if (a->n_exploitation_forms > ENV_MAX_FORMS)
		return snprintf(why, ENV_WHYLEN, "%zu exploitation forms (at most %d)",
		    a->n_exploitation_forms, ENV_MAX_FORMS), -1;
	if (strlen(a->region) >= ENV_NAMEMAX)
		return snprintf(why, ENV_WHYLEN, "region longer than %d bytes", ENV_NAMEMAX - 1), -1;
	for (size_t i = 0; i < a->n_exploitation_forms; i++)
		if (!enum_known(&keten__case__v1__exploitation_form__descriptor,
		    (int)a->exploitation_forms[i]))
			return snprintf(why, ENV_WHYLEN, "exploitation form %d is not one",
			    (int)a->exploitation_forms[i]), -1;
	if (!enum_known(&keten__case__v1__urgency__descriptor, (int)a->urgency))
		return snprintf(why, ENV_WHYLEN, "urgency %d is not one", (int)a->urgency), -1;
	return 0;
}
