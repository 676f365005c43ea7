/*
 * The broker's judgement of a submission (DESIGN.md step 4): the header is
 * well formed and names the authenticated sender, the sender's signature
 * over the sealed envelope verifies with its key from the directory, the
 * created time is not in the future beyond the clock skew, every recipient is an
 * active agency with exactly one copy, and every copy's manifest lies within
 * what the active policy allows that recipient.  The broker judges by header
 * and manifest only; it never needs the content.
 */
#ifndef KETEN_BROKER_GATE_H
#define KETEN_BROKER_GATE_H

#include <lmdb.h>

#include "broker/queue.h"
#include "broker/verify.h"
#include "common/directory.h"
#include "common/envelope.h"
#include "policy/policy.h"
#include "schemas/wire.pb-c.h"

#define GATE_MAX_COPIES 64
#define GATE_MAX_DECISIONS 1024	/* a sender's decisions about one message (SourceDecision) */

struct gate_verdict {
	int code;			/* 0, or a keten.wire.v1.ErrorCode */
	char reason[512];		/* for the sender: what was wrong */
	struct policy_decision dec[GATE_MAX_COPIES];	/* per copy, when code == 0 */
	uint8_t digests[GATE_MAX_COPIES][ENV_DIGESTBYTES];	/* copy digests (signed) */
};

/*
 * Judge submission s from agency `from` under policy p, answering ledger-bound
 * conditions inside txn: reply_to from the ledger, limit from the counters
 * in q.  pre, when not NULL, is the verifier's check of s's signature
 * (broker/verify.h), used when it was made with the keys `from` holds now.
 * Fills *v; returns v->code.
 */
struct ledger;

/*
 * A sender's decisions about one message of type t (Submit.decisions,
 * SourceRefusal): at most GATE_MAX_DECISIONS, each naming an agency id, a
 * path of t or "" (the recipient refused), a reason of a-z and '-' and a rule
 * id or "".  0, or -1 with what is wrong in why (len bytes).
 */
int gate_decisions_check(const struct codec_type *t, Keten__Wire__V1__SourceDecision *const *d,
    size_t n, char *why, size_t len);

/* A SourceRefusal from agency `from`: its header and decisions.  0, or -1 with why. */
int gate_refusal_check(const struct dir_agency *from, const Keten__Wire__V1__SourceRefusal *sr,
    char *why, size_t len);

int gate_check(const struct directory *dir, const struct policy *p, struct queue *q,
    struct ledger *ledger, MDB_txn *txn, const struct dir_agency *from, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, int64_t now_ms, int64_t max_skew_ms, struct gate_verdict *v);

#endif
