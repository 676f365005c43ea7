/*
 * The sending agent's check of a ledger receipt: the broker's signed
 * checkpoint, the inclusion of the logged entry in it, and that the entry
 * records the acceptance of our message.  A receipt that does not check out
 * means the broker misbehaves: the agent logs it loudly.
 */
#ifndef KETEN_AGENT_RECEIPT_H
#define KETEN_AGENT_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schemas/wire.pb-c.h"

struct checkpoint_memo;

/*
 * 0 when r proves the broker logged ACCEPTED for message_id from self; else
 * err.  memo (ledger/checkpoint.h), when not NULL, spares verifying again the
 * checkpoint the previous receipt carried.
 */
int receipt_verify(const Keten__Wire__V1__Receipt *r, const uint8_t broker_pk[static 32],
    const char *self, const uint8_t message_id[static 16], struct checkpoint_memo *memo,
    char err[static KETEN_ERRLEN]);

/*
 * 0 when r proves the broker logged the activation of `what` (the start of
 * the entry's reason: "policy stm version 2026.11.2", "directory version 3")
 * as an entry of kind (keten.ledger.v1.Kind), with policy_version
 * policy_hash when that is not NULL; the proving checkpoint's size and root
 * in *size, root.  r NULL: no proof, refused.  Else err.
 */
int receipt_verify_activation(const Keten__Wire__V1__Receipt *r, const uint8_t broker_pk[static 32],
    int kind, const char *what, const char *policy_hash, uint64_t *size,
    uint8_t root[static 32], char err[static KETEN_ERRLEN]);

/*
 * r as a self-contained proof file (ledger/proof.h, docs/auditor.md): what
 * `keten audit check-proof` and any RFC 6962 / C2SP verifier check with the
 * broker's public key alone.  malloc'd, or NULL when r is not well-formed.
 */
char *receipt_proof_text(const Keten__Wire__V1__Receipt *r);

/* One line for people: "ledger entry #12 (to om) in checkpoint 40 of keten.local/ledger". */
void receipt_describe(const Keten__Wire__V1__Receipt *r, char *out, size_t len);

#endif
