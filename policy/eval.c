/* Policy evaluation: the fields a request may carry, by which rules, and why any other is withheld; names and accessors. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yamltree.h"
#include "policy/policy.h"
#include "schemas/case.pb-c.h"
#include "schemas/envelope.pb-c.h"
#include "policy/policy_int.h"

const char *
policy_reason_name(enum policy_reason r)
{
	switch (r) {
	case POLICY_OK: return "ok";
	case POLICY_NO_RULE: return "no-rule";
	case POLICY_PURPOSE_NOT_GRANTED: return "purpose-not-granted";
	case POLICY_CONDITION_FALSE: return "condition-false";
	case POLICY_FORBIDDEN: return "forbidden";
	case POLICY_REPLY_REQUIRED: return "reply-required";
	case POLICY_LIMIT_REACHED: return "limit-reached";
	case POLICY_NOT_GRANTED: return "not-granted";
	case POLICY_ERROR: return "error";
	}
	return "error";
}

/* Internal: the purpose matched but the named legal basis did not.  Reported
 * as POLICY_PURPOSE_NOT_GRANTED, but closer than a purpose mismatch. */
#define BASIS_MISMATCH ((enum policy_reason)100)

static const char *const tlp[] = { "UNSPECIFIED", "CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED" };

int
policy_handling_parse(const char *s)
{
	if (strncmp(s, "HANDLING_LABEL_", 15) == 0)
		s += 15;
	if (strncmp(s, "TLP:", 4) == 0 || strncmp(s, "TLP_", 4) == 0)
		s += 4;
	for (int i = 1; i < 6; i++)
		if (strcmp(s, tlp[i]) == 0)
			return i;
	if (strcmp(s, "AMBER_STRICT") == 0)
		return 4;
	return -1;
}

const char *
policy_handling_name(int label)
{
	return label >= 0 && label < 6 ? tlp[label] : "UNKNOWN";
}

static const struct bucket *
find_bucket(const struct policy *p, int s, int r, size_t t)
{
	uint64_t key = policy_bucket_key(p->sclass[s], p->rclass[r], t);
	size_t slot = policy_bucket_slot(p, key);

	while (p->buckets[slot].key != 0) {
		if (p->buckets[slot].key == key)
			return &p->buckets[slot];
		slot = (slot + 1) & (p->nbuckets - 1);
	}
	return NULL;
}

static bool
when_holds(const struct rule *r, const struct policy_request *rq)
{
	if (r->forms) {
		bool any = false;
		for (size_t i = 0; i < rq->nforms && !any; i++)
			any = rq->forms[i] > 0 && rq->forms[i] < 64 && (r->forms >> rq->forms[i] & 1);
		if (!any)
			return false;
	}
	if (r->minor >= 0 && (int)rq->minor != r->minor)
		return false;
	if (r->nregions) {
		bool any = false;
		for (size_t i = 0; i < r->nregions && !any; i++)
			any = rq->region != NULL && strcmp(rq->region, r->regions[i]) == 0;
		if (!any)
			return false;
	}
	if (r->handling && (rq->handling < 0 || rq->handling > 31 || !(r->handling >> rq->handling & 1)))
		return false;
	return true;
}

/* Does permit or forbid rule r apply to this request?  POLICY_OK or why not. */
static enum policy_reason
rule_applies(const struct policy *p, const struct rule *r, const struct policy_request *rq,
    int purpose, const struct policy_ledger *ledger)
{
	if (r->purpose >= 0 && r->purpose != purpose)
		return POLICY_PURPOSE_NOT_GRANTED;
	if (!r->forbid && rq->basis != NULL && rq->basis[0] != '\0' &&
	    strcmp(p->bases[r->basis], rq->basis) != 0)
		return BASIS_MISMATCH;
	if (!when_holds(r, rq))
		return POLICY_CONDITION_FALSE;
	if (r->info.reply_to_type != NULL) {
		int ok = ledger && ledger->reply_ok ? ledger->reply_ok(ledger->arg, rq, &r->info) : 0;
		if (ok < 0)
			return POLICY_ERROR;
		if (ok == 0)
			return POLICY_REPLY_REQUIRED;
	}
	if (r->info.limit_count > 0) {
		int ok = ledger && ledger->limit_ok ? ledger->limit_ok(ledger->arg, rq, &r->info) : 0;
		if (ok < 0)
			return POLICY_ERROR;
		if (ok == 0)
			return POLICY_LIMIT_REACHED;
	}
	return POLICY_OK;
}

/* How close a failed rule came: the reason to report is the closest one. */
static int
closeness(enum policy_reason r)
{
	switch ((int)r) {
	case POLICY_ERROR: return 7;
	case POLICY_LIMIT_REACHED: return 6;
	case POLICY_REPLY_REQUIRED: return 5;
	case POLICY_CONDITION_FALSE: return 4;
	case BASIS_MISMATCH: return 3;
	case POLICY_PURPOSE_NOT_GRANTED: return 2;
	default: return 1;
	}
}

static void
deny(struct policy_decision *d, enum policy_reason why, int rule)
{
	d->permitted = false;
	d->reason = why;
	d->reason_rule = rule;
	codec_pathset_clear(&d->allowed);
	d->ngranting = 0;
	d->retention_days = 0;
	d->basis = NULL;
}

void
policy_eval(const struct policy *p, const struct policy_request *rq,
    const struct policy_ledger *ledger, struct policy_decision *d)
{
	const struct bucket *b;
	int s, r, purpose, forbids[POLICY_MAX_GRANTING];
	size_t nforbids = 0;
	enum policy_reason best = POLICY_NO_RULE;
	int best_rule = -1;

	memset(d, 0, sizeof(*d));
	d->reason = POLICY_NO_RULE;
	d->reason_rule = -1;
	if (p == NULL || rq == NULL || rq->type == NULL || rq->sender == NULL ||
	    rq->recipient == NULL || rq->purpose == NULL) {
		deny(d, POLICY_ERROR, -1);
		return;
	}
	s = policy_agency_index(p, rq->sender);
	r = policy_agency_index(p, rq->recipient);
	if (s < 0 || r < 0 || (b = find_bucket(p, s, r, codec_type_index(rq->type))) == NULL)
		return;
	purpose = policy_index_of(p->purposes, p->npurposes, rq->purpose);
	size_t t = codec_type_index(rq->type);
	for (uint32_t k = 0; k < b->cnt; k++) {
		const struct rule *ru = &p->rules[p->idx[b->off + k]];
		int ri = (int)p->idx[b->off + k];
		enum policy_reason why = rule_applies(p, ru, rq, purpose, ledger);
		if (why == POLICY_ERROR) {
			deny(d, POLICY_ERROR, ri);
			return;
		}
		if (ru->forbid) {
			if (why != POLICY_OK)
				continue;
			if (ru->whole) {
				deny(d, POLICY_FORBIDDEN, ri);
				return;
			}
			for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
				d->forbidden.w[w] |= ru->fields[t].w[w];
			if (nforbids < POLICY_MAX_GRANTING)
				forbids[nforbids++] = ri;
			continue;
		}
		if (why != POLICY_OK) {
			if (closeness(why) > closeness(best)) {
				best = why;
				best_rule = ri;
			}
			continue;
		}
		for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
			d->allowed.w[w] |= ru->fields[t].w[w];
		if (d->ngranting < POLICY_MAX_GRANTING)
			d->granting[d->ngranting++] = ri;
		if (ru->retention_days && (!d->retention_days || ru->retention_days < d->retention_days))
			d->retention_days = ru->retention_days;
		if (d->basis == NULL)
			d->basis = p->bases[ru->basis];
	}
	bool any_granted = !codec_pathset_empty(&d->allowed);
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++) {
		d->forbidden.w[w] &= d->allowed.w[w];
		d->allowed.w[w] &= ~d->forbidden.w[w];
	}
	if (!codec_pathset_empty(&d->allowed)) {
		/*
		 * what may go carries its companions (a person's role, an
		 * address's country: codec_pathset_close), as the sending agent
		 * sends it; else the broker would refuse a copy the agent made
		 */
		codec_pathset_close(rq->type, &d->allowed);
		d->permitted = true;
		d->reason = POLICY_OK;
		return;
	}
	if (any_granted) {
		/* name the first forbid that removed something that was granted */
		int forbid_rule = -1;
		for (size_t k = 0; k < nforbids && forbid_rule < 0; k++)
			for (size_t w = 0; w < CODEC_MAX_PATHS / 64 && forbid_rule < 0; w++)
				if (p->rules[forbids[k]].fields[t].w[w] & d->forbidden.w[w])
					forbid_rule = forbids[k];
		struct codec_pathset keep = d->forbidden;
		deny(d, POLICY_FORBIDDEN, forbid_rule);
		d->forbidden = keep;
		return;
	}
	deny(d, best == BASIS_MISMATCH ? POLICY_PURPOSE_NOT_GRANTED : best, best_rule);
}

enum policy_reason
policy_why_withheld(const struct policy *p, const struct policy_request *rq,
    const struct policy_ledger *ledger, const struct policy_decision *d, size_t path, int *rule)
{
	const struct bucket *b;
	int s, r;
	enum policy_reason best = POLICY_NOT_GRANTED;

	*rule = -1;
	if (d->reason == POLICY_FORBIDDEN && d->reason_rule >= 0 &&
	    p->rules[d->reason_rule].whole) {
		*rule = d->reason_rule;
		return POLICY_FORBIDDEN;
	}
	s = policy_agency_index(p, rq->sender);
	r = policy_agency_index(p, rq->recipient);
	if (s < 0 || r < 0 || (b = find_bucket(p, s, r, codec_type_index(rq->type))) == NULL)
		return POLICY_NOT_GRANTED;
	size_t t = codec_type_index(rq->type);
	int purpose = policy_index_of(p->purposes, p->npurposes, rq->purpose);
	for (uint32_t k = 0; k < b->cnt; k++) {
		int ri = (int)p->idx[b->off + k];
		const struct rule *ru = &p->rules[ri];
		if (!ru->whole && !codec_pathset_has(&ru->fields[t], path))
			continue;
		enum policy_reason why = rule_applies(p, ru, rq, purpose, ledger);
		if (ru->forbid) {
			/* a hard limit that applies is the reason to report, granted or not */
			if (why == POLICY_OK) {
				*rule = ri;
				return POLICY_FORBIDDEN;
			}
			continue;
		}
		if (why != POLICY_OK && (*rule < 0 || closeness(why) > closeness(best))) {
			best = why;
			*rule = ri;
		}
	}
	return best == BASIS_MISMATCH ? POLICY_PURPOSE_NOT_GRANTED : best;
}

const char *policy_name(const struct policy *p) { return p->name; }
const char *policy_version(const struct policy *p) { return p->version; }
const uint8_t *policy_hash(const struct policy *p) { return p->hash; }
size_t policy_nrules(const struct policy *p) { return p->nrules; }
const char *policy_rule_id(const struct policy *p, size_t i) { return p->rules[i].id; }
bool policy_rule_is_forbid(const struct policy *p, size_t i) { return p->rules[i].forbid; }
unsigned policy_rule_line(const struct policy *p, size_t i) { return p->rules[i].line; }
const struct policy_rule_info *policy_rule_info(const struct policy *p, size_t i) { return &p->rules[i].info; }
size_t policy_nagencies(const struct policy *p) { return p->nag; }
const char *policy_agency(const struct policy *p, size_t i) { return p->agencies[i]; }
size_t policy_npurposes(const struct policy *p) { return p->npurposes; }
const char *policy_purpose(const struct policy *p, size_t i) { return p->purposes[i]; }

const char *
policy_rule_basis(const struct policy *p, size_t i)
{
	return p->rules[i].basis >= 0 ? p->bases[p->rules[i].basis] : NULL;
}

const char *
policy_rule_purpose(const struct policy *p, size_t i)
{
	return p->rules[i].purpose >= 0 ? p->purposes[p->rules[i].purpose] : NULL;
}

const char *
policy_basis_citation(const struct policy *p, const char *basis)
{
	int i = policy_index_of(p->bases, p->nbases, basis);

	return i >= 0 ? p->citations[i] : NULL;
}

bool
policy_rule_covers(const struct policy *p, size_t i, const struct codec_type *t, size_t path)
{
	const struct rule *r = &p->rules[i];
	size_t ti = codec_type_index(t);

	if (!(r->types >> ti & 1))
		return false;
	return r->whole || codec_pathset_has(&r->fields[ti], path);
}

const char *
policy_rule_needs_every_field(const struct policy *p, size_t i)
{
	return p->rules[i].needs_every_field;
}

void
policy_hash_hex(const struct policy *p, char out[static 2 * POLICY_HASHBYTES + 1])
{
	sodium_bin2hex(out, 2 * POLICY_HASHBYTES + 1, p->hash, POLICY_HASHBYTES);
}
