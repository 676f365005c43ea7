/*
 * The sharing policy (DESIGN.md "Policy"; docs/policy.md): YAML written by
 * privacy officers, compiled against the agency directory and the case
 * schemas into an immutable struct policy, and evaluated identically by the
 * sending agent, the broker and the receiving agent.
 *
 * Default deny.  For (sender, recipient, message type, purpose, attributes)
 * the allowed fields are the union of the matching permit rules minus what
 * matching forbid rules remove; a forbid without fields denies the message.
 * Any evaluation error is a deny.  Rules are indexed by (sender, recipient,
 * type): an evaluation looks only at the rules for that triple.
 *
 * reply_to and limit depend on what happened before; they are answered by
 * the caller through struct policy_ledger (the broker from its store, the
 * agent from its inbox).
 */
#ifndef KETEN_POLICY_H
#define KETEN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/directory.h"
#include "common/err.h"
#include "schemas/codec.h"
#include "schemas/envelope.pb-c.h"

#define POLICY_HASHBYTES 32
#define POLICY_MAX_RULES 10000
#define POLICY_MAX_GRANTING 16	/* granting rule ids reported per decision */

struct policy;

/* Why a message, or a field, is not shared. */
enum policy_reason {
	POLICY_OK = 0,
	POLICY_NO_RULE,			/* no rule for this sender, recipient and type */
	POLICY_PURPOSE_NOT_GRANTED,	/* rules exist, but not for this purpose (or basis) */
	POLICY_CONDITION_FALSE,		/* a matching rule's `when` does not hold */
	POLICY_FORBIDDEN,		/* a forbid rule removes the message or field */
	POLICY_REPLY_REQUIRED,		/* only as an answer to a logged request */
	POLICY_LIMIT_REACHED,		/* the rule's volume limit is used up */
	POLICY_NOT_GRANTED,		/* (field) no matching permit rule grants this field */
	POLICY_ERROR,			/* evaluation failed: deny */
};

const char *policy_reason_name(enum policy_reason r);	/* "no-rule", "forbidden", ... */

enum policy_period { POLICY_PER_DAY, POLICY_PER_WEEK, POLICY_PER_MONTH };

/* What the evaluator tells the ledger callbacks about a rule. */
struct policy_rule_info {
	const char *id;
	const struct codec_type *reply_to_type;	/* reply_to: the request type */
	uint32_t reply_within_days;
	uint32_t limit_count;			/* limit: 0 = none */
	enum policy_period limit_per;
};

struct policy_request {
	const char *sender;		/* agency ids */
	const char *recipient;
	const struct codec_type *type;
	const char *purpose;
	const char *basis;		/* legal basis the sender names; NULL = any */
	/* header attributes (DESIGN.md): */
	const int *forms;		/* ExploitationForm values */
	size_t nforms;
	bool minor;
	const char *region;		/* NULL or "" = none */
	int handling;			/* keten.envelope.v1.HandlingLabel value */
	const uint8_t *in_reply_to;	/* 16 bytes or NULL */
	int64_t now_ms;
};

/*
 * The request an envelope header makes for one recipient of type t
 * (broker and recipient judge the same request).  rq points into h, which
 * must outlive it.
 */
void policy_request_from_header(const Keten__Envelope__V1__Header *h, const char *recipient,
    const struct codec_type *t, int64_t now_ms, struct policy_request *rq);

/*
 * Ledger-bound conditions.  Each returns 1 (holds), 0 (does not hold) or a
 * negative error (evaluated as a deny).  A NULL struct or function means
 * the condition cannot be checked here: the rule does not match.
 */
struct policy_ledger {
	int (*reply_ok)(void *arg, const struct policy_request *rq, const struct policy_rule_info *r);
	int (*limit_ok)(void *arg, const struct policy_request *rq, const struct policy_rule_info *r);
	void *arg;
};

struct policy_decision {
	bool permitted;				/* some fields may be shared */
	enum policy_reason reason;		/* when not permitted: why */
	int reason_rule;			/* rule index the reason names, or -1 */
	struct codec_pathset allowed;		/* fields that may be shared */
	struct codec_pathset forbidden;		/* fields a forbid rule removed */
	int granting[POLICY_MAX_GRANTING];	/* permit rules that matched (indices) */
	size_t ngranting;
	uint32_t retention_days;		/* shortest retention of granting rules (0 = none) */
	const char *basis;			/* legal basis of the first granting rule */
};

/*
 * Compile a policy file against the agency directory and the case schemas.
 * Errors name file:line:col, what was found and what was expected.  *out is
 * immutable and owned by the caller; free with policy_free.
 */
int policy_load(const char *path, const struct directory *dir, struct policy **out,
    char err[static KETEN_ERRLEN]);
/* The same from memory; `name` stands for the file in error messages. */
int policy_parse(const char *name, const void *buf, size_t len, const struct directory *dir,
    struct policy **out, char err[static KETEN_ERRLEN]);
/*
 * policy_load, reporting every rule that does not compile (each error as
 * policy_load would give it) before failing with "FILE: N errors"; errors
 * outside the rules (syntax, groups, purposes, bases) still stop at the first.
 */
typedef void (*policy_report_fn)(void *arg, const char *error);
int policy_load_each(const char *path, const struct directory *dir, struct policy **out,
    char err[static KETEN_ERRLEN], policy_report_fn report, void *arg);
void policy_free(struct policy **p);

const char *policy_name(const struct policy *p);
const char *policy_version(const struct policy *p);
/* SHA-256 of the canonical form of the compiled policy; hex in 65 bytes. */
const uint8_t *policy_hash(const struct policy *p);
void policy_hash_hex(const struct policy *p, char out[static 2 * POLICY_HASHBYTES + 1]);

/* Evaluate.  Never fails open: on any error *out says POLICY_ERROR. */
void policy_eval(const struct policy *p, const struct policy_request *rq,
    const struct policy_ledger *ledger, struct policy_decision *out);

/*
 * Why is field `path_index` of the request's type not in d->allowed?  For
 * explain: POLICY_FORBIDDEN (with *rule the forbid rule), or the reason the
 * nearest permit rule granting it did not match (*rule that rule), or
 * POLICY_NOT_GRANTED (*rule -1) when no rule for this triple grants it.
 */
enum policy_reason policy_why_withheld(const struct policy *p, const struct policy_request *rq,
    const struct policy_ledger *ledger, const struct policy_decision *d, size_t path_index,
    int *rule);

/* Rules, for tools. */
size_t policy_nrules(const struct policy *p);
/*
 * The agency ids the policy names that its directory does not list (an
 * agency not in this network): rules about them are inert.  How many; the
 * i-th in *name with the line it is first named on.  (An id one or two
 * letters from a listed agency or group is an error instead: a typo.)
 */
size_t policy_nabsent(const struct policy *p);
const char *policy_absent(const struct policy *p, size_t i, size_t *line);
const char *policy_rule_id(const struct policy *p, size_t i);
bool policy_rule_is_forbid(const struct policy *p, size_t i);
const char *policy_rule_basis(const struct policy *p, size_t i);
const char *policy_rule_purpose(const struct policy *p, size_t i);
unsigned policy_rule_line(const struct policy *p, size_t i);
/* A permit's needs_every_field: why it grants every field; NULL if unsaid. */
const char *policy_rule_needs_every_field(const struct policy *p, size_t i);
const struct policy_rule_info *policy_rule_info(const struct policy *p, size_t i);
/* Does rule i grant (permit) or remove (forbid) field path_index of type t? */
bool policy_rule_covers(const struct policy *p, size_t i, const struct codec_type *t,
    size_t path_index);

/* The agencies and purposes the policy knows (directory order / file order). */
size_t policy_nagencies(const struct policy *p);
const char *policy_agency(const struct policy *p, size_t i);
size_t policy_npurposes(const struct policy *p);
const char *policy_purpose(const struct policy *p, size_t i);
/* Citation text of a legal basis id, or NULL. */
const char *policy_basis_citation(const struct policy *p, const char *basis);

/* Parse a TLP label name ("AMBER+STRICT", "TLP:RED", "HANDLING_LABEL_TLP_RED"); -1 if unknown. */
int policy_handling_parse(const char *s);
const char *policy_handling_name(int label);

#endif
