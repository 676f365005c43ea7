/* The receiving agent's check of a delivery (agent/inbound.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/inbound.h"
#include "common/trust.h"
#include "common/util.h"
#include "schemas/codec.h"

/* Addressed to self, of a known type, signed by its sender as our directory knows it. */
static int
check_envelope(const char *self, const struct outbound_keys *k, const Keten__Wire__V1__Deliver *d,
    int64_t now_ms, const struct codec_type **t, char err[static KETEN_ERRLEN])
{
	const Keten__Envelope__V1__Header *h = d->header;
	const struct dir_agency *from;
	char why[ENV_WHYLEN];
	int rc;

	if (h == NULL || d->copy == NULL || h->message_id.len != KETEN_UUIDBYTES)
		return keten_seterr(err, KETEN_EINVAL, "delivery without header or copy");
	if (envelope_header_check(h, why) != 0)	/* whatever the broker let through */
		return keten_seterr(err, KETEN_EINVAL, "%s", why);
	if (strcmp(d->copy->recipient, self) != 0)
		return keten_seterr(err, KETEN_EINVAL, "copy addressed to \"%.64s\", not to us",
		    d->copy->recipient);
	if ((*t = codec_type_find(h->message_type)) == NULL)
		return keten_seterr(err, KETEN_EINVAL, "unknown message type \"%.128s\"",
		    h->message_type);
	if ((from = directory_find(k->dir, h->sender)) == NULL)
		return keten_seterr(err, KETEN_EINVAL, "sender \"%.64s\" is not in our directory",
		    h->sender);
	if (from->revoked)	/* a revoked key proves nothing, whenever it signed */
		return keten_seterr(err, KETEN_ECRYPTO, "signature of %s: its keys are revoked",
		    h->sender);
	rc = envelope_verify_deliver(d, from->sign_pk);
	if (rc == ENV_BAD_SIGNATURE && dir_agency_previous_valid(from, now_ms))
		rc = envelope_verify_deliver(d, from->prev_sign_pk);	/* the sender is rotating */
	if (rc != 0)
		return keten_seterr(err, KETEN_ECRYPTO, "signature of %s: %s", h->sender,
		    envelope_strerror(rc));
	return 0;
}

/* Open the copy with our key (or the one we rotate out); its payload becomes the content. */
static int
open_copy(const struct outbound_keys *k, Keten__Wire__V1__Deliver *d,
    char err[static KETEN_ERRLEN])
{
	Keten__Wire__V1__Copy *c = d->copy;
	uint8_t hd[ENV_DIGESTBYTES], *plain;
	int rc;

	if (c->payload.len < ENV_MACBYTES || (plain = malloc(c->payload.len)) == NULL)
		return keten_seterr(err, KETEN_ECRYPTO, "copy: %s", envelope_strerror(ENV_BAD_LENGTH));
	envelope_header_digest(hd, d->header);
	rc = envelope_open(plain, c, hd, d->ephemeral_key.data, k->keys->enc_sk, k->keys->enc_pk);
	if (rc == ENV_CANNOT_OPEN && k->previous != NULL)	/* sealed to our old key */
		rc = envelope_open(plain, c, hd, d->ephemeral_key.data, k->previous->enc_sk,
		    k->previous->enc_pk);
	if (rc != 0) {
		free(plain);
		return keten_seterr(err, KETEN_ECRYPTO, "copy: %s", envelope_strerror(rc));
	}
	/* from here on the copy holds the content; the caller stores it */
	free(c->payload.data);
	c->payload = (ProtobufCBinaryData){ c->payload.len - ENV_MACBYTES, plain };
	return 0;
}

/* The content decodes and validates, and holds exactly the fields of the manifest. */
static int
check_fields(const struct codec_type *t, const Keten__Wire__V1__Copy *c,
    struct codec_pathset *manifest, char err[static KETEN_ERRLEN])
{
	struct codec_pathset present;
	ProtobufCMessage *m;
	char e[KETEN_ERRLEN];

	if ((m = codec_unpack(t, c->payload.data, c->payload.len)) == NULL)
		return keten_seterr(err, KETEN_EINVAL, "payload is not a valid protobuf %s",
		    codec_type_name(t));
	if (codec_validate(t, m, e) != 0) {
		codec_free(m);
		return keten_seterr(err, KETEN_EINVAL, "invalid %s: %s", codec_type_name(t), e);
	}
	codec_paths(t, m, &present);
	codec_free(m);
	codec_pathset_clear(manifest);
	for (size_t j = 0; j < c->n_manifest; j++) {
		int pi = codec_type_path_index(t, c->manifest[j]);
		if (pi < 0)
			return keten_seterr(err, KETEN_EINVAL, "manifest names unknown field path "
			    "\"%.128s\"", c->manifest[j]);
		codec_pathset_set(manifest, (size_t)pi);
	}
	if (!codec_pathset_subset(&present, manifest) || !codec_pathset_subset(manifest, &present))
		return keten_seterr(err, KETEN_EINVAL, "the fields present (%zu) differ from the "
		    "manifest (%zu)", codec_pathset_count(&present), codec_pathset_count(manifest));
	return 0;
}

static int
yes(void *arg, const struct policy_request *r, const struct policy_rule_info *i)
{
	(void)arg, (void)r, (void)i;
	return 1;
}

/* Every field of the manifest allowed to self by our policy. */
static int
check_policy(const struct policy *p, const char *self, const Keten__Envelope__V1__Header *h,
    const struct codec_type *t, const struct codec_pathset *manifest, int64_t now_ms,
    char err[static KETEN_ERRLEN])
{
	struct policy_request rq;
	struct policy_decision dec;
	/* the broker answered reply_to and limit from its ledger; here the fields count */
	struct policy_ledger trust = { yes, yes, NULL };

	policy_request_from_header(h, self, t, now_ms, &rq);
	policy_eval(p, &rq, &trust, &dec);
	if (!dec.permitted)
		return keten_seterr(err, KETEN_EINVAL, "our policy %s does not let us receive this: %s",
		    policy_version(p), policy_reason_name(dec.reason));
	for (size_t j = 0; j < codec_type_npaths(t); j++)
		if (codec_pathset_has(manifest, j) && !codec_pathset_has(&dec.allowed, j))
			return keten_seterr(err, KETEN_EINVAL, "field %s is not allowed to us by "
			    "policy %s", codec_type_path(t, j), policy_version(p));
	return 0;
}

int
inbound_check(const struct policy *p, const char *self, const struct outbound_keys *k,
    Keten__Wire__V1__Deliver *d, int64_t now_ms, char err[static KETEN_ERRLEN])
{
	const struct codec_type *t = NULL;
	struct codec_pathset manifest;
	int rc;

	if ((rc = check_envelope(self, k, d, now_ms, &t, err)) != 0 ||
	    (rc = open_copy(k, d, err)) != 0 ||
	    (rc = check_fields(t, d->copy, &manifest, err)) != 0)
		return rc;
	return check_policy(p, self, d->header, t, &manifest, now_ms, err);
}

/* "stm 2026.11.2" -> name length and the version's start; 0 when not NAME VERSION. */
static size_t
policy_split(const char *s, const char **version)
{
	const char *sp = strchr(s, ' ');

	if (sp == NULL)
		return 0;
	*version = sp + 1;
	return (size_t)(sp - s);
}

static bool
bytes_equal(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int
inbound_view_check(const Keten__Envelope__V1__View *ours, const char *our_policy_hash,
    const Keten__Envelope__V1__View *theirs, const char *their_policy_hash, const char *sender,
    char why[static KETEN_ERRLEN])
{
	const char *ov = NULL, *tv = NULL;
	size_t on, tn;

	if (theirs == NULL || ours == NULL)
		return 0;
	if (theirs->directory_version == ours->directory_version &&
	    !bytes_equal(&theirs->directory_sha256, &ours->directory_sha256))
		return keten_seterr(why, 1, "SPLIT VIEW: %s works from another directory version "
		    "%llu than ours: the broker showed us different directories", sender,
		    (unsigned long long)ours->directory_version);
	on = policy_split(ours->policy, &ov);
	tn = policy_split(theirs->policy, &tv);
	if (on > 0 && on == tn && strncmp(ours->policy, theirs->policy, on) == 0 &&
	    strcmp(ov, tv) == 0 && strcmp(our_policy_hash, their_policy_hash) != 0)
		return keten_seterr(why, 1, "SPLIT VIEW: %s works from policy %s with other content "
		    "than ours: the broker showed us different policies", sender, ours->policy);
	if (theirs->witnessed_size != 0 && theirs->witnessed_size == ours->witnessed_size &&
	    !bytes_equal(&theirs->witnessed_root, &ours->witnessed_root))
		return keten_seterr(why, 1, "SPLIT VIEW: %s witnessed another ledger of %llu entries "
		    "than we did: the broker forked its ledger", sender,
		    (unsigned long long)ours->witnessed_size);
	if (theirs->directory_version > ours->directory_version)
		return keten_seterr(why, 2, "%s works from directory version %llu, we from %llu: the "
		    "broker has not given it to us (yet)", sender,
		    (unsigned long long)theirs->directory_version,
		    (unsigned long long)ours->directory_version);
	if (on > 0 && on == tn && strncmp(ours->policy, theirs->policy, on) == 0 &&
	    trust_version_cmp(tv, ov) > 0)
		return keten_seterr(why, 2, "%s works from policy %s, we from %s: the broker has not "
		    "given it to us (yet)", sender, theirs->policy, ours->policy);
	return 0;
}
