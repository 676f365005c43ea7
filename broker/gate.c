/* The broker's checks on a submission: header, sender, recipients, manifests. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker/gate.h"
#include "ledger/ledger.h"
#include "common/util.h"

static int
refuse(struct gate_verdict *v, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
refuse(struct gate_verdict *v, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	v->code = code;
	return code;
}

/*
 * reply_to: rq->in_reply_to names an ACCEPTED ledger entry of the rule's
 * request type that rq->recipient sent to rq->sender within the window.
 */
static int
reply_ok(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	struct queue_ledger *ql = arg;

	if (rq->in_reply_to == NULL)
		return 0;
	return ledger_request_logged(ql->ledger, ql->txn, rq->in_reply_to,
	    codec_type_name(r->reply_to_type), rq->recipient, rq->sender,
	    rq->now_ms - (int64_t)r->reply_within_days * 86400000LL);
}

/* The envelope's signature by the sender's key (or the one it rotates out). */
static int
check_signature(const struct dir_agency *from, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, int64_t now_ms, struct gate_verdict *v)
{
	int erc;

	if (pre != NULL && pre->done && pre->s == s &&
	    memcmp(pre->pk, from->sign_pk, sizeof(pre->pk)) == 0) {
		/* checked beside the previous commit, with the keys the directory holds */
		memcpy(v->digests, pre->digests, s->n_copies * sizeof(v->digests[0]));
		erc = pre->erc;
		if (erc == ENV_BAD_SIGNATURE && dir_agency_previous_valid(from, now_ms))
			erc = pre->has_prev && memcmp(pre->prev_pk, from->prev_sign_pk,
			    sizeof(pre->prev_pk)) == 0 ? pre->erc_prev :
			    envelope_verify_submit(s, from->prev_sign_pk, v->digests);
	} else {
		erc = envelope_verify_submit(s, from->sign_pk, v->digests);
		if (erc == ENV_BAD_SIGNATURE && dir_agency_previous_valid(from, now_ms))
			erc = envelope_verify_submit(s, from->prev_sign_pk, v->digests);	/* rotating */
	}
	if (erc != 0)
		return refuse(v, erc == ENV_BAD_LENGTH ? KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED :
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_SIGNATURE, "submit: envelope signature of %s: %s",
		    from->id, envelope_strerror(erc));
	return 0;
}

static bool
word_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return false;
	return n <= max;
}

int
gate_decisions_check(const struct codec_type *t, Keten__Wire__V1__SourceDecision *const *d,
    size_t n, char *why, size_t len)
{
	if (n > GATE_MAX_DECISIONS)
		return snprintf(why, len, "%zu decisions (at most %d)", n, GATE_MAX_DECISIONS), -1;
	for (size_t i = 0; i < n; i++) {
		if (!agency_id_valid(d[i]->recipient))
			return snprintf(why, len, "decision %zu: recipient is not an agency id", i), -1;
		if (d[i]->path[0] != '\0' && codec_type_path_index(t, d[i]->path) < 0)
			return snprintf(why, len, "decision %zu: %s has no field path \"%.128s\"", i,
			    codec_type_name(t), d[i]->path), -1;
		if (d[i]->reason[0] == '\0' || !word_valid(d[i]->reason, 40))
			return snprintf(why, len, "decision %zu: reason is not a reason name", i), -1;
		if (d[i]->rule[0] != '\0' && !agency_id_valid(d[i]->rule))
			return snprintf(why, len, "decision %zu: rule is not a rule id", i), -1;
	}
	return 0;
}

int
gate_refusal_check(const struct dir_agency *from, const Keten__Wire__V1__SourceRefusal *sr,
    char *why, size_t len)
{
	const Keten__Envelope__V1__Header *h = sr->header;
	const struct codec_type *t;
	char hw[ENV_WHYLEN];

	if (h == NULL || envelope_header_check(h, hw) != 0)
		return snprintf(why, len, "%s", h == NULL ? "no header" : hw), -1;
	if (strcmp(h->sender, from->id) != 0)
		return snprintf(why, len, "header names sender \"%.64s\" but this connection is "
		    "authenticated as %s", h->sender, from->id), -1;
	if ((t = codec_type_find(h->message_type)) == NULL ||
	    strcmp(codec_type_name(t), h->message_type) != 0)
		return snprintf(why, len, "unknown message type \"%.128s\"", h->message_type), -1;
	if (sr->n_decisions == 0)
		return snprintf(why, len, "no decisions"), -1;
	return gate_decisions_check(t, sr->decisions, sr->n_decisions, why, len);
}

/* The header's fields, each copy's shape; the message type in *t. */
static int
check_header(const Keten__Wire__V1__Submit *s, int64_t now_ms, int64_t max_skew_ms,
    const struct codec_type **t, struct gate_verdict *v)
{
	const Keten__Envelope__V1__Header *h = s->header;
	char why[ENV_WHYLEN];

	if (envelope_header_check(h, why) != 0)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED, "submit: %s", why);
	if (h->created_ms > now_ms + max_skew_ms)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK,
		    "submit: created %lld s in the future by the broker's clock (allowed: %lld s); "
		    "check the sender's clock", (long long)((h->created_ms - now_ms) / 1000),
		    (long long)(max_skew_ms / 1000));
	for (size_t i = 0; i < s->n_copies; i++)
		if (s->copies[i]->nonce.len != ENV_NONCEBYTES || s->copies[i]->payload.len < ENV_MACBYTES)
			return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
			    "submit: copy %zu is not a sealed copy (nonce or ciphertext too short)", i);
	if ((*t = codec_type_find(h->message_type)) == NULL ||
	    strcmp(codec_type_name(*t), h->message_type) != 0)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    "submit: unknown message type \"%.128s\"", h->message_type);
	if (h->purpose[0] == '\0')
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    "submit: header has no purpose");
	if (s->n_copies == 0 || s->n_copies > GATE_MAX_COPIES || h->n_recipients != s->n_copies)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    "submit: need 1 to %d copies, one per header recipient (got %zu copies, %zu "
		    "recipients)", GATE_MAX_COPIES, s->n_copies, h->n_recipients);
	if (gate_decisions_check(*t, s->decisions, s->n_decisions, why, sizeof(why)) != 0)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED, "submit: %s", why);
	return 0;
}

/* Copy i: its recipient, its manifest's paths in *manifest. */
static int
check_recipient(const struct directory *dir, const Keten__Wire__V1__Submit *s, size_t i,
    const struct codec_type *t, int64_t now_ms, struct codec_pathset *manifest,
    struct gate_verdict *v)
{
	const Keten__Wire__V1__Copy *c = s->copies[i];
	const struct dir_agency *r = directory_find(dir, c->recipient);

	if (strcmp(c->recipient, s->header->recipients[i]) != 0)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    "submit: copy %zu is for \"%.64s\" but header recipient %zu is \"%.64s\"",
		    i, c->recipient, i, s->header->recipients[i]);
	if (r == NULL || !dir_agency_active(r, now_ms))
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_RECIPIENT,
		    "submit: recipient \"%.64s\" is %s", c->recipient, r == NULL ?
		    "not in the directory" : "revoked or outside its validity window");
	for (size_t j = 0; j < i; j++)
		if (strcmp(c->recipient, s->copies[j]->recipient) == 0)
			return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
			    "submit: recipient \"%s\" listed twice", c->recipient);
	codec_pathset_clear(manifest);
	for (size_t k = 0; k < c->n_manifest; k++) {
		int pi = codec_type_path_index(t, c->manifest[k]);
		if (pi < 0)
			return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
			    "submit: copy for %s names unknown field path \"%.128s\"",
			    c->recipient, c->manifest[k]);
		if (codec_pathset_has(manifest, (size_t)pi))	/* so a manifest is bounded too */
			return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
			    "submit: copy for %s names field path \"%.128s\" twice",
			    c->recipient, c->manifest[k]);
		codec_pathset_set(manifest, (size_t)pi);
	}
	return 0;
}

/* Copy i under the policy: permitted, and every path of its manifest allowed. */
static int
check_policy(const struct policy *p, const struct policy_ledger *pl,
    const Keten__Wire__V1__Submit *s, size_t i, const struct codec_type *t, int64_t now_ms,
    const struct codec_pathset *manifest, int code, struct gate_verdict *v)
{
	const Keten__Envelope__V1__Header *h = s->header;
	const Keten__Wire__V1__Copy *c = s->copies[i];
	struct policy_request rq;

	policy_request_from_header(h, c->recipient, t, now_ms, &rq);
	policy_eval(p, &rq, pl, &v->dec[i]);
	if (!v->dec[i].permitted) {
		int ri = v->dec[i].reason_rule;
		return refuse(v, code, "policy %s: %s may not receive this %s for purpose %s: %s%s%s%s",
		    policy_version(p), c->recipient, h->message_type, h->purpose,
		    policy_reason_name(v->dec[i].reason), ri >= 0 ? " (rule " : "",
		    ri >= 0 ? policy_rule_id(p, (size_t)ri) : "", ri >= 0 ? ")" : "");
	}
	for (size_t k = 0; k < codec_type_npaths(t); k++) {
		if (!codec_pathset_has(manifest, k) || codec_pathset_has(&v->dec[i].allowed, k))
			continue;
		int ri;
		enum policy_reason why = policy_why_withheld(p, &rq, pl, &v->dec[i], k, &ri);
		return refuse(v, code, "policy %s: field %s may not go to %s: %s%s%s%s",
		    policy_version(p), codec_type_path(t, k), c->recipient,
		    policy_reason_name(why), ri >= 0 ? " (rule " : "",
		    ri >= 0 ? policy_rule_id(p, (size_t)ri) : "", ri >= 0 ? ")" : "");
	}
	return 0;
}

int
gate_check(const struct directory *dir, const struct policy *p, struct queue *q,
    struct ledger *ledger, MDB_txn *txn,
    const struct dir_agency *from, const Keten__Wire__V1__Submit *s, const struct verify_job *pre,
    int64_t now_ms, int64_t max_skew_ms, struct gate_verdict *v)
{
	const Keten__Envelope__V1__Header *h = s->header;
	const struct codec_type *t = NULL;
	struct queue_ledger ql = { q, ledger, txn };
	struct policy_ledger pl = { reply_ok, queue_limit_ok, &ql };
	char hash[2 * POLICY_HASHBYTES + 1];
	int rc;

	v->code = 0;
	v->reason[0] = '\0';
	if (h == NULL || h->message_id.len != KETEN_UUIDBYTES)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    "submit: header with a 16-byte message id required");
	if (strcmp(h->sender, from->id) != 0)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED,
		    "submit: header names sender \"%.64s\" but this connection is authenticated as %s",
		    h->sender, from->id);
	if (s->n_copies == 0 || s->n_copies > GATE_MAX_COPIES)
		return refuse(v, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    "submit: need 1 to %d copies, got %zu", GATE_MAX_COPIES, s->n_copies);
	/* the header's shape first: a value out of range (a negative enum) is
	 * malformed whatever the signature says (docs/protocol.md, Notation) */
	if ((rc = check_header(s, now_ms, max_skew_ms, &t, v)) != 0 ||
	    (rc = check_signature(from, s, pre, now_ms, v)) != 0)
		return rc;
	policy_hash_hex(p, hash);
	/* made under another policy: the sender refilters (DESIGN.md, Policy) */
	int code = strcmp(h->policy_version, hash) != 0 ?
	    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED :
	    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY;
	for (size_t i = 0; i < s->n_copies; i++) {
		struct codec_pathset manifest;
		if ((rc = check_recipient(dir, s, i, t, now_ms, &manifest, v)) != 0 ||
		    (rc = check_policy(p, &pl, s, i, t, now_ms, &manifest, code, v)) != 0)
			return rc;
	}
	return 0;
}
