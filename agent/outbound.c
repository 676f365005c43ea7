/* Filtering per recipient on the way out: decode, validate, filter, seal, sign. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/outbound.h"
#include "common/util.h"
#include "common/wire.h"
#include "schemas/codec.h"

void
outbound_free(struct outbound **obp)
{
	struct outbound *ob;

	if (obp == NULL || (ob = *obp) == NULL)
		return;
	for (size_t i = 0; i < ob->submit.n_copies; i++) {
		free(ob->copies[i].payload.data);
		free(ob->copies[i].nonce.data);
		free(ob->copies[i].manifest);
	}
	free(ob->withheld);
	free(ob->wh);
	free(ob->dec);
	free(ob->dec_ptrs);
	free(ob->forms);
	free(ob->recipients);
	free(ob);
	*obp = NULL;
}

static int
add_withheld(struct outbound *ob, size_t cap, const char *rcpt, const char *path,
    enum policy_reason why, const struct policy *p, int rule)
{
	if (ob->nwithheld == cap)
		return -1;
	Keten__Local__V1__Withheld *w = &ob->wh[ob->nwithheld];
	keten__local__v1__withheld__init(w);
	w->recipient = (char *)rcpt;
	w->path = (char *)path;
	w->reason = (char *)policy_reason_name(why);
	w->rule = rule >= 0 ? (char *)policy_rule_id(p, (size_t)rule) : (char *)"";
	ob->withheld[ob->nwithheld++] = w;
	return 0;
}

/* The report's decisions as the broker logs them (valid agency ids only). */
static int
fill_decisions(struct outbound *ob)
{
	size_t n = ob->nwithheld < OUTBOUND_MAX_DECISIONS ? ob->nwithheld : OUTBOUND_MAX_DECISIONS;

	if (n == 0)
		return 0;
	if ((ob->dec = calloc(n, sizeof(*ob->dec))) == NULL ||
	    (ob->dec_ptrs = calloc(n, sizeof(*ob->dec_ptrs))) == NULL)
		return -1;
	for (size_t i = 0; i < ob->nwithheld && ob->ndec < n; i++) {
		const Keten__Local__V1__Withheld *w = ob->withheld[i];
		Keten__Wire__V1__SourceDecision *d = &ob->dec[ob->ndec];
		if (!agency_id_valid(w->recipient))
			continue;	/* no agency: nothing the ledger could name */
		keten__wire__v1__source_decision__init(d);
		d->recipient = w->recipient;
		d->path = w->path;
		d->reason = w->reason;
		d->rule = w->rule;
		ob->dec_ptrs[ob->ndec++] = d;
	}
	ob->submit.decisions = ob->dec_ptrs;
	ob->submit.n_decisions = ob->ndec;
	return 0;
}

void
outbound_refusal(const struct outbound *ob, uint64_t ref, Keten__Wire__V1__SourceRefusal *out)
{
	keten__wire__v1__source_refusal__init(out);
	out->ref = ref;
	out->header = (Keten__Envelope__V1__Header *)&ob->header;
	out->n_decisions = ob->ndec;
	out->decisions = ob->dec_ptrs;
}

/* Header attributes: what the caller declares, plus what the message shows. */
static int
derive_attributes(struct outbound *ob, const struct codec_type *t, const ProtobufCMessage *m,
    const Keten__Envelope__V1__Attributes *given)
{
	const ProtobufCMessageDescriptor *d = codec_type_descriptor(t);
	const ProtobufCFieldDescriptor *ff = protobuf_c_message_descriptor_get_field_by_name(d,
	    "exploitation_forms");
	const ProtobufCFieldDescriptor *uf = protobuf_c_message_descriptor_get_field_by_name(d,
	    "urgency");
	size_t nmsg = 0, ngiven = given ? given->n_exploitation_forms : 0;
	const int *msgforms = NULL;
	struct codec_pathset present;

	keten__envelope__v1__attributes__init(&ob->attrs);
	if (ff != NULL && ff->label == PROTOBUF_C_LABEL_REPEATED && ff->type == PROTOBUF_C_TYPE_ENUM) {
		nmsg = *(const size_t *)((const char *)m + ff->quantifier_offset);
		msgforms = *(int *const *)((const char *)m + ff->offset);
	}
	if ((ob->forms = calloc(nmsg + ngiven + 1, sizeof(int))) == NULL)
		return -1;
	for (size_t i = 0; i < nmsg + ngiven; i++) {
		int f = i < nmsg ? msgforms[i] : (int)given->exploitation_forms[i - nmsg];
		bool have = false;
		for (size_t k = 0; k < ob->attrs.n_exploitation_forms && !have; k++)
			have = ob->forms[k] == f;
		if (!have && f != 0)
			ob->forms[ob->attrs.n_exploitation_forms++] = f;
	}
	ob->attrs.exploitation_forms = (Keten__Case__V1__ExploitationForm *)ob->forms;
	/* a minor anywhere in the message makes the message about a minor */
	ob->attrs.minor = given != NULL && given->minor;
	codec_paths(t, m, &present);
	for (size_t k = 0; k < codec_type_npaths(t) && !ob->attrs.minor; k++) {
		const char *path = codec_type_path(t, k), *dot = strrchr(path, '.');
		if (codec_pathset_has(&present, k) && strcmp(dot ? dot + 1 : path, "is_minor") == 0)
			ob->attrs.minor = true;
	}
	ob->attrs.region = given && given->region ? given->region : (char *)protobuf_c_empty_string;
	ob->attrs.urgency = given ? given->urgency : 0;
	if (uf != NULL && uf->type == PROTOBUF_C_TYPE_ENUM && uf->label == PROTOBUF_C_LABEL_NONE &&
	    *(const int *)((const char *)m + uf->offset) != 0)
		ob->attrs.urgency = *(const int *)((const char *)m + uf->offset);
	return 0;
}

static ProtobufCMessage *
decode(const struct codec_type *t, const Keten__Local__V1__LocalSubmit *ls, char err[static KETEN_ERRLEN])
{
	ProtobufCMessage *m = NULL;
	char e[KETEN_ERRLEN];

	if (ls->payload_is_protobuf) {
		if ((m = codec_unpack(t, ls->payload.data, ls->payload.len)) == NULL) {
			keten_seterr(err, KETEN_EINVAL, "payload is not a valid protobuf %s",
			    codec_type_name(t));
			return NULL;
		}
		if (codec_validate(t, m, e) != 0) {
			codec_free(m);
			keten_seterr(err, KETEN_EINVAL, "invalid %s: %s", codec_type_name(t), e);
			return NULL;
		}
	} else if (codec_from_json(t, (const char *)ls->payload.data, ls->payload.len, &m, e) != 0) {
		keten_seterr(err, KETEN_EINVAL, "invalid %s: %s", codec_type_name(t), e);
		return NULL;
	}
	return m;
}

int
outbound_prepare(const struct policy *p, const char *self, const struct policy_ledger *ledger,
    const struct outbound_keys *k, const Keten__Local__V1__LocalSubmit *ls, size_t max_bytes,
    const uint8_t *reuse_id, struct outbound **out, char err[static KETEN_ERRLEN])
{
	const struct codec_type *t = codec_type_find(ls->message_type);
	uint8_t eph_sk[ENV_KEYBYTES], hd[ENV_DIGESTBYTES];
	struct policy_decision *decs = NULL;
	struct policy_request *rqs = NULL;
	struct outbound *ob;
	ProtobufCMessage *m;
	size_t cap;
	int rc = KETEN_ENOMEM;

	if (t == NULL)
		return keten_seterr(err, KETEN_EINVAL, "unknown message type \"%.128s\" (see keten "
		    "schema list)", ls->message_type);
	if (ls->purpose[0] == '\0')
		return keten_seterr(err, KETEN_EINVAL, "no purpose given (the policy's purposes say "
		    "what a message may be shared for)");
	if (ls->in_reply_to.len != 0 && ls->in_reply_to.len != KETEN_UUIDBYTES)
		return keten_seterr(err, KETEN_EINVAL, "in_reply_to must be a message id");
	for (size_t i = 0; i < ls->n_recipients; i++)	/* the broker refuses a message that */
		for (size_t j = 0; j < i; j++)		/* names one twice: say so now */
			if (strcmp(ls->recipients[i], ls->recipients[j]) == 0)
				return keten_seterr(err, KETEN_EINVAL, "recipient \"%.64s\" listed twice",
				    ls->recipients[i]);
	if ((m = decode(t, ls, err)) == NULL)
		return KETEN_EINVAL;
	cap = ls->n_recipients * (codec_type_npaths(t) + 1);
	if ((ob = calloc(1, sizeof(*ob))) == NULL ||
	    (ob->wh = calloc(cap, sizeof(*ob->wh))) == NULL ||
	    (ob->withheld = calloc(cap, sizeof(*ob->withheld))) == NULL ||
	    (ob->recipients = calloc(ls->n_recipients, sizeof(char *))) == NULL ||
	    derive_attributes(ob, t, m, ls->attributes) != 0)
		goto fail;

	Keten__Envelope__V1__Header *h = &ob->header;
	keten__wire__v1__submit__init(&ob->submit);
	keten__envelope__v1__header__init(h);
	if (reuse_id != NULL)
		memcpy(ob->id, reuse_id, sizeof(ob->id));
	else
		uuid7_new(ob->id);
	h->message_id = (ProtobufCBinaryData){ 16, ob->id };
	h->sender = (char *)self;
	h->message_type = (char *)codec_type_name(t);
	h->purpose = ls->purpose;
	h->legal_basis = ls->legal_basis;
	h->attributes = &ob->attrs;
	h->handling = ls->handling ? ls->handling :
	    KETEN__ENVELOPE__V1__HANDLING_LABEL__HANDLING_LABEL_TLP_AMBER;
	h->in_reply_to = ls->in_reply_to;
	policy_hash_hex(p, ob->policy_hash);
	h->policy_version = ob->policy_hash;
	h->created_ms = now_ms();
	h->view = k->view;
	if (ls->case_reference[0] != '\0') {
		if (k->network_key == NULL) {
			rc = keten_seterr(err, KETEN_EINVAL, "a case reference needs the network key "
			    "(network_key in the agent configuration) to be pseudonymised");
			goto fail;
		}
		envelope_case_pseudonym(ob->pseudonym, k->network_key, self, ls->case_reference);
		h->case_pseudonym = (ProtobufCBinaryData){ sizeof(ob->pseudonym), ob->pseudonym };
	}
	/* one decision per recipient; those who get a copy are fixed before
	 * sealing, because the header digest binds them */
	if ((decs = calloc(ls->n_recipients, sizeof(*decs))) == NULL ||
	    (rqs = calloc(ls->n_recipients, sizeof(*rqs))) == NULL)
		goto fail;
	for (size_t i = 0; i < ls->n_recipients; i++) {
		const char *r = ls->recipients[i];
		const struct dir_agency *da = directory_find(k->dir, r);
		rqs[i] = (struct policy_request){
			.sender = self, .recipient = r, .type = t, .purpose = h->purpose,
			.basis = h->legal_basis, .forms = ob->forms, .nforms = ob->attrs.n_exploitation_forms,
			.minor = ob->attrs.minor, .region = ob->attrs.region, .handling = (int)h->handling,
			.in_reply_to = h->in_reply_to.len ? h->in_reply_to.data : NULL, .now_ms = h->created_ms,
		};
		policy_eval(p, &rqs[i], ledger, &decs[i]);
		if (decs[i].permitted && da != NULL && dir_agency_active(da, h->created_ms))
			ob->header_rcpts[ob->nrecipients++] = (char *)r;
	}
	h->recipients = ob->header_rcpts;
	h->n_recipients = ob->nrecipients;
	ob->nrecipients = 0;
	envelope_header_digest(hd, h);
	crypto_box_keypair(ob->eph_pk, eph_sk);

	size_t denied_text = 0;
	err[0] = '\0';
	for (size_t i = 0; i < ls->n_recipients; i++) {
		const char *r = ls->recipients[i];
		const struct policy_request rq = rqs[i];
		const struct policy_decision d = decs[i];
		const struct dir_agency *da = directory_find(k->dir, r);
		if (da == NULL || !dir_agency_active(da, h->created_ms)) {
			/* the directory's answer comes first: that is the real reason */
			const char *why = da == NULL ? "not in the directory" : da->revoked ?
			    "revoked in the directory" : "outside its validity window in the directory";
			int w = snprintf(err + denied_text, KETEN_ERRLEN - denied_text, "%s%s: %s "
			    "(version %llu)", denied_text ? "; " : "", r, why,
			    (unsigned long long)k->dir->version);
			if (w > 0 && denied_text + (size_t)w < KETEN_ERRLEN)
				denied_text += (size_t)w;
			add_withheld(ob, cap, r, "", POLICY_NO_RULE, p, -1);
			ob->wh[ob->nwithheld - 1].reason = (char *)(da == NULL ? "not-in-directory" :
			    da->revoked ? "revoked" : "key-not-valid");
			continue;
		}
		if (!d.permitted) {
			add_withheld(ob, cap, r, "", d.reason, p, d.reason_rule);
			int w = snprintf(err + denied_text, KETEN_ERRLEN - denied_text, "%s%s: %s%s%s%s",
			    denied_text ? "; " : "", r, policy_reason_name(d.reason),
			    d.reason_rule >= 0 ? " (rule " : "",
			    d.reason_rule >= 0 ? policy_rule_id(p, (size_t)d.reason_rule) : "",
			    d.reason_rule >= 0 ? ")" : "");
			if (w > 0 && denied_text + (size_t)w < KETEN_ERRLEN)
				denied_text += (size_t)w;
			continue;
		}
		/* this recipient's copy: the message minus what it may not have */
		size_t n;
		uint8_t *pb = wire_pack(m, &n);
		ProtobufCMessage *copy = pb ? codec_unpack(t, pb, n) : NULL;
		free(pb);
		if (copy == NULL)
			goto fail;
		struct codec_pathset removed, kept;
		codec_filter(t, copy, &d.allowed, &removed);
		codec_paths(t, copy, &kept);
		for (size_t j = 0; j < codec_type_npaths(t); j++) {
			int rule;
			if (!codec_pathset_has(&removed, j))
				continue;
			enum policy_reason why = policy_why_withheld(p, &rq, ledger, &d, j, &rule);
			add_withheld(ob, cap, r, codec_type_path(t, j), why, p, rule);
		}
		Keten__Wire__V1__Copy *c = &ob->copies[ob->submit.n_copies];
		keten__wire__v1__copy__init(c);
		c->recipient = (char *)r;
		c->manifest = calloc(codec_pathset_count(&kept) + 1, sizeof(char *));
		size_t plen;
		uint8_t *plain = wire_pack(copy, &plen), nonce[ENV_NONCEBYTES];
		codec_free(copy);
		if (c->manifest == NULL || plain == NULL) {
			free(c->manifest);
			free(plain);
			goto fail;
		}
		for (size_t pi = 0; pi < codec_type_npaths(t); pi++)
			if (codec_pathset_has(&kept, pi))
				c->manifest[c->n_manifest++] = (char *)codec_type_path(t, pi);
		/* sealed for this recipient alone, bound to header and manifest */
		randombytes_buf(nonce, sizeof(nonce));
		int src = envelope_seal(c, hd, eph_sk, ob->eph_pk, da->enc_pk, nonce, plain, plen);
		sodium_memzero(plain, plen);
		free(plain);
		if (src != 0) {
			free(c->manifest);
			rc = keten_seterr(err, KETEN_ECRYPTO, "cannot seal for %s: %s", r,
			    envelope_strerror(src));
			goto fail;
		}
		ob->copy_ptrs[ob->submit.n_copies] = c;
		ob->recipients[ob->nrecipients++] = (char *)r;
		ob->submit.n_copies++;
		if (c->payload.len > max_bytes) {
			rc = keten_seterr(err, KETEN_ETOOBIG, "message of %zu bytes exceeds "
			    "max_message_bytes (%zu)", c->payload.len, max_bytes);
			goto fail;
		}
	}
	codec_free(m);
	m = NULL;
	if (ob->submit.n_copies == 0) {
		sodium_memzero(eph_sk, sizeof(eph_sk));
		free(decs);
		free(rqs);
		/* no copy: the header names those asked for, for the refusal's record */
		h->recipients = ls->recipients;
		h->n_recipients = ls->n_recipients;
		if (fill_decisions(ob) != 0) {
			outbound_free(&ob);
			return keten_seterr(err, KETEN_ENOMEM, "out of memory");
		}
		*out = ob;
		return KETEN_EPERM;	/* err lists why, per recipient */
	}
	ob->submit.header = h;
	ob->submit.copies = ob->copy_ptrs;
	if (ob->nrecipients != h->n_recipients) {	/* decided twice, the same way */
		rc = keten_seterr(err, KETEN_EINVAL, "recipients changed while sealing");
		goto fail;
	}
	/* sign header, ephemeral key and every copy */
	uint8_t (*digests)[ENV_DIGESTBYTES] = calloc(ob->submit.n_copies, ENV_DIGESTBYTES), ed[ENV_DIGESTBYTES];
	if (digests == NULL)
		goto fail;
	for (size_t i = 0; i < ob->submit.n_copies; i++)
		envelope_copy_digest(digests[i], ob->copy_ptrs[i]);
	envelope_digest(ed, hd, ob->eph_pk, (const uint8_t (*)[ENV_DIGESTBYTES])digests,
	    ob->submit.n_copies);
	free(digests);
	envelope_sign(ob->sig, ed, k->keys->sign_sk);
	ob->submit.ephemeral_key = (ProtobufCBinaryData){ ENV_KEYBYTES, ob->eph_pk };
	ob->submit.signature = (ProtobufCBinaryData){ ENV_SIGBYTES, ob->sig };
	sodium_memzero(eph_sk, sizeof(eph_sk));
	free(decs);
	free(rqs);
	if (fill_decisions(ob) != 0) {
		outbound_free(&ob);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	*out = ob;
	return 0;
fail:
	sodium_memzero(eph_sk, sizeof(eph_sk));
	free(decs);
	free(rqs);
	codec_free(m);
	outbound_free(&ob);
	if (rc == KETEN_ENOMEM)
		keten_seterr(err, KETEN_ENOMEM, "out of memory");
	return rc;
}
