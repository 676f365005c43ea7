/*
 * The receiving agent's check of what arrives (DESIGN.md step 5): the
 * sender's signature, the copy opened with our key, decoded and validated,
 * the fields present equal to the manifest, and every field allowed to us
 * by the policy we hold.
 */
#ifndef KETEN_AGENT_INBOUND_H
#define KETEN_AGENT_INBOUND_H

#include "agent/outbound.h"

/*
 * Check a delivery addressed to `self`: the sender's signature over the
 * envelope holds (its key from the directory), the copy is for self and
 * opens with our key, decodes and validates, holds exactly the fields of
 * its manifest, and the policy allows self those fields.  On success
 * d->copy->payload is replaced by the opened content.  0, or KETEN_EINVAL /
 * KETEN_ECRYPTO with the reason in err.
 */
int inbound_check(const struct policy *p, const char *self, const struct outbound_keys *k,
    Keten__Wire__V1__Deliver *d, int64_t now_ms, char err[static KETEN_ERRLEN]);

/*
 * Compare the sender's view (signed in the header; NULL from an older
 * sender) with ours.  0: consistent.  1: a fork, which only a broker that
 * shows agencies different directories, policies or ledgers produces: the
 * same directory version with other content, the same policy version
 * under another hash (their_policy_hash, the header's policy_version), or
 * the same ledger size with another root.  2: the sender works from a newer
 * directory or policy than ours (the broker has not given it to us, or not
 * yet).  What was found, for a person, in why.
 */
int inbound_view_check(const Keten__Envelope__V1__View *ours, const char *our_policy_hash,
    const Keten__Envelope__V1__View *theirs, const char *their_policy_hash, const char *sender,
    char why[static KETEN_ERRLEN]);

#endif
