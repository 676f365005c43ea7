/*
 * The sending agent's preparation of a submission (DESIGN.md steps 1-3):
 * decode and validate the case message, derive the header attributes,
 * evaluate the policy for each recipient, filter each recipient's copy to
 * its allowed fields, and build the header, the copies with their field
 * manifests (each copy sealed for its recipient, the envelope signed), and
 * the report of what was withheld for whom and why.  The check of what
 * arrives is agent/inbound.h.
 */
#ifndef KETEN_AGENT_OUTBOUND_H
#define KETEN_AGENT_OUTBOUND_H

#include "common/directory.h"
#include "common/envelope.h"
#include "common/err.h"
#include "common/keys.h"
#include "policy/policy.h"
#include "schemas/local.pb-c.h"
#include "schemas/wire.pb-c.h"

#define OUTBOUND_MAX_RECIPIENTS 64
#define OUTBOUND_MAX_DECISIONS 1024	/* decisions sent about one message (the broker's bound) */

struct outbound {
	Keten__Wire__V1__Submit submit;		/* header and copies, ready to store */
	Keten__Local__V1__Withheld **withheld;	/* the report for the caller */
	size_t nwithheld;
	char **recipients;			/* who gets a copy */
	size_t nrecipients;
	/* storage the structures above point into */
	Keten__Envelope__V1__Header header;
	Keten__Envelope__V1__Attributes attrs;
	Keten__Wire__V1__Copy copies[OUTBOUND_MAX_RECIPIENTS];
	Keten__Wire__V1__Copy *copy_ptrs[OUTBOUND_MAX_RECIPIENTS];
	char *header_rcpts[OUTBOUND_MAX_RECIPIENTS];
	Keten__Local__V1__Withheld *wh;
	/* the same decisions for the broker's ledger (submit.decisions; a refusal's) */
	Keten__Wire__V1__SourceDecision *dec, **dec_ptrs;
	size_t ndec;
	uint8_t id[16];
	char policy_hash[2 * POLICY_HASHBYTES + 1];
	int *forms;
	uint8_t eph_pk[ENV_KEYBYTES];
	uint8_t sig[ENV_SIGBYTES];
	uint8_t pseudonym[ENV_DIGESTBYTES];
};

/* What the agent signs and seals with. */
struct outbound_keys {
	const struct directory *dir;		/* recipients' encryption keys */
	const struct keten_keys *keys;		/* our signing key */
	const uint8_t *network_key;		/* 32 bytes for case pseudonyms, or NULL */
	const struct keten_keys *previous;	/* keys being rotated out, or NULL */
	/* what we work from, signed into every header (docs/trust.md), or NULL;
	 * it must outlive the outbound made with it */
	Keten__Envelope__V1__View *view;
};

/*
 * Prepare submission `ls` from agency `self` under policy p.  `ledger`
 * answers reply_to (the agent's inbox) and limit.  On success *out holds
 * at least one copy; when the policy lets no recipient have anything the
 * result is KETEN_EPERM, err lists why per recipient and *out holds the
 * header and the decisions but no copy (for outbound_refusal).  Either way
 * *out carries the sender's decisions (what was refused and withheld, by
 * which rule) in submit.decisions, at most OUTBOUND_MAX_DECISIONS.
 * `reuse_id` (16 bytes, or NULL for a fresh UUIDv7) keeps the message id
 * when refiltering.  Free with outbound_free (also after an error).
 */
int outbound_prepare(const struct policy *p, const char *self, const struct policy_ledger *ledger,
    const struct outbound_keys *k, const Keten__Local__V1__LocalSubmit *ls, size_t max_bytes,
    const uint8_t *reuse_id, struct outbound **out, char err[static KETEN_ERRLEN]);
void outbound_free(struct outbound **ob);

/* ob's SourceRefusal under outbox ref (pointing into ob): for a KETEN_EPERM result. */
void outbound_refusal(const struct outbound *ob, uint64_t ref, Keten__Wire__V1__SourceRefusal *out);

#endif
