/* Key pairs: generation, secret file load (with permission check), save. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/keys.h"
#include "common/yamltree.h"

void
key_z85_encode(char out[static KETEN_Z85_KEYLEN + 1], const uint8_t key[static 32])
{
	zmq_z85_encode(out, key, 32);
}

int
key_z85_decode(uint8_t out[static 32], const char *text)
{
	if (strlen(text) != KETEN_Z85_KEYLEN || zmq_z85_decode(out, text) == NULL)
		return -1;
	return 0;
}

int
key_b64_decode(uint8_t *out, size_t len, const char *text)
{
	size_t got = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, len, text, strlen(text), NULL, &got, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || got != len || *end != '\0')
		return -1;
	return 0;
}

void
key_b64_encode(char *out, size_t outlen, const uint8_t *key, size_t len)
{
	sodium_bin2base64(out, outlen, key, len, sodium_base64_VARIANT_ORIGINAL);
}

void
keys_free(struct keten_keys **keys)
{
	if (keys == NULL || *keys == NULL)
		return;
	sodium_free(*keys);	/* sodium_free wipes before releasing */
	*keys = NULL;
}

static struct keten_keys *
keys_alloc(void)
{
	struct keten_keys *k;

	if (sodium_init() < 0 || (k = sodium_malloc(sizeof(*k))) == NULL)
		return NULL;
	memset(k, 0, sizeof(*k));
	return k;
}

int
keys_generate(const char *id, struct keten_keys **out, char err[static KETEN_ERRLEN])
{
	struct keten_keys *k;
	char pk[KETEN_Z85_KEYLEN + 1], sk[KETEN_Z85_KEYLEN + 1];

	if (!agency_id_valid(id))
		return keten_seterr(err, KETEN_EINVAL, "invalid agency id \"%s\": use 1-63 "
		    "characters a-z, 0-9 and '-'", id);
	if ((k = keys_alloc()) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	snprintf(k->id, sizeof(k->id), "%s", id);
	if (zmq_curve_keypair(pk, sk) != 0) {
		keys_free(&k);
		return keten_seterr(err, KETEN_ECRYPTO, "CURVE key generation failed (libzmq "
		    "built without CURVE?)");
	}
	zmq_z85_decode(k->tx_pk, pk);
	zmq_z85_decode(k->tx_sk, sk);
	sodium_memzero(sk, sizeof(sk));
	crypto_sign_ed25519_keypair(k->sign_pk, k->sign_sk);
	crypto_box_keypair(k->enc_pk, k->enc_sk);
	*out = k;
	return 0;
}

static const char *const key_file_keys[] = {
	"id", "transport_secret", "signing_secret", "encryption_secret", NULL
};

int
keys_load(const char *path, struct keten_keys **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	struct keten_keys *k = NULL;
	const struct ynode *root;
	const char *id = NULL, *tx = NULL, *sg = NULL, *en = NULL;
	char z85[KETEN_Z85_KEYLEN + 1];
	uint8_t chk[32];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	/* judged and read through one descriptor: nothing swaps it in between */
	if ((rc = secret_file_read(path, 64 << 10, &buf, &len, err)) != 0)
		return rc;
	rc = ydoc_parse(path, buf, len, &doc, err);
	secret_file_free(&buf, len);
	if (rc != 0)
		return rc;
	root = ydoc_root(doc);
	if ((rc = ydoc_expect_map(doc, root, "secret key file", err)) ||
	    (rc = ydoc_check_keys(doc, root, "secret key file", key_file_keys, err)) ||
	    (rc = ydoc_get_str(doc, root, "id", true, &id, err)) ||
	    (rc = ydoc_get_str(doc, root, "transport_secret", true, &tx, err)) ||
	    (rc = ydoc_get_str(doc, root, "signing_secret", true, &sg, err)) ||
	    (rc = ydoc_get_str(doc, root, "encryption_secret", true, &en, err)))
		goto fail;
	rc = KETEN_EINVAL;
	if (!agency_id_valid(id)) {
		ydoc_err(doc, ynode_get(root, "id"), err, "invalid id \"%s\"", id);
		goto fail;
	}
	if ((k = keys_alloc()) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(k->id, sizeof(k->id), "%s", id);
	if (key_z85_decode(k->tx_sk, tx) != 0) {
		ydoc_err(doc, ynode_get(root, "transport_secret"), err,
		    "transport_secret must be a %d-character Z85 key", KETEN_Z85_KEYLEN);
		goto fail;
	}
	if (key_b64_decode(chk, 32, sg) != 0) {
		ydoc_err(doc, ynode_get(root, "signing_secret"), err,
		    "signing_secret must be the base64 of a 32-byte Ed25519 seed");
		goto fail;
	}
	crypto_sign_ed25519_seed_keypair(k->sign_pk, k->sign_sk, chk);
	if (key_b64_decode(k->enc_sk, 32, en) != 0) {
		ydoc_err(doc, ynode_get(root, "encryption_secret"), err,
		    "encryption_secret must be the base64 of a 32-byte X25519 key");
		goto fail;
	}
	crypto_scalarmult_curve25519_base(k->enc_pk, k->enc_sk);
	key_z85_encode(z85, k->tx_sk);
	if (zmq_curve_public(z85, z85) != 0 || key_z85_decode(k->tx_pk, z85) != 0) {
		ydoc_err(doc, ynode_get(root, "transport_secret"), err,
		    "cannot derive the transport public key");
		goto fail;
	}
	sodium_memzero(z85, sizeof(z85));
	sodium_memzero(chk, sizeof(chk));
	ydoc_free(&doc);
	*out = k;
	return 0;
fail:
	sodium_memzero(z85, sizeof(z85));
	sodium_memzero(chk, sizeof(chk));
	keys_free(&k);
	ydoc_free(&doc);
	return rc;
}

char *
keys_public_yaml(const struct keten_keys *k)
{
	char tx[KETEN_Z85_KEYLEN + 1], sg[64], en[64], *out = NULL;

	key_z85_encode(tx, k->tx_pk);
	key_b64_encode(sg, sizeof(sg), k->sign_pk, sizeof(k->sign_pk));
	key_b64_encode(en, sizeof(en), k->enc_pk, sizeof(k->enc_pk));
	if (asprintf(&out,
	    "  - id: %s\n"
	    "    transport_key: \"%s\"\n"
	    "    signing_key: \"%s\"\n"
	    "    encryption_key: \"%s\"\n", k->id, tx, sg, en) < 0)
		return NULL;
	return out;
}

int
keys_save(const struct keten_keys *k, const char *dir, char err[static KETEN_ERRLEN])
{
	char path[4096], tx[KETEN_Z85_KEYLEN + 1], sg[64], en[64];
	char *secret = NULL, *pub = NULL;
	struct stat st;
	int rc, n;

	if ((rc = dir_ensure(dir, 0700, err)) != 0)
		return rc;
	n = snprintf(path, sizeof(path), "%s/%s.secret", dir, k->id);
	if (n < 0 || (size_t)n >= sizeof(path))
		return keten_seterr(err, KETEN_EINVAL, "path too long");
	if (lstat(path, &st) == 0)
		return keten_seterr(err, KETEN_EEXIST, "%s exists; refusing to overwrite a "
		    "secret key (for a key rotation, make the new keys in another directory, "
		    "e.g. --out %s/new, then keten directory rotate --public it)", path, dir);
	key_z85_encode(tx, k->tx_sk);
	/* An Ed25519 secret key is seed || public key; the file holds the seed. */
	key_b64_encode(sg, sizeof(sg), k->sign_sk, 32);
	key_b64_encode(en, sizeof(en), k->enc_sk, sizeof(k->enc_sk));
	n = asprintf(&secret,
	    "# keten secret keys of \"%s\". Keep private: mode 0600, never copy off this host.\n"
	    "id: %s\n"
	    "transport_secret: \"%s\"\n"
	    "signing_secret: \"%s\"\n"
	    "encryption_secret: \"%s\"\n", k->id, k->id, tx, sg, en);
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(sg, sizeof(sg));
	sodium_memzero(en, sizeof(en));
	if (n < 0)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	rc = file_write_atomic(path, secret, strlen(secret), 0600, err);
	sodium_memzero(secret, strlen(secret));
	free(secret);
	if (rc != 0)
		return rc;
	if ((pub = keys_public_yaml(k)) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s.public.yaml", dir, k->id);
	rc = file_write_atomic(path, pub, strlen(pub), 0644, err);
	free(pub);
	return rc;
}
