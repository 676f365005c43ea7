/* Ledger receipts: checked by the sender, described for `keten status`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/receipt.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "ledger/proof.h"
#include "schemas/ledger.pb-c.h"

static void
origin_of(const char *note, char out[static 256])
{
	const char *nl = strchr(note, '\n');
	size_t n = nl ? (size_t)(nl - note) : 0;

	snprintf(out, 256, "%.*s", (int)(n < 255 ? n : 255), note);
}

/*
 * The entry r proves: the checkpoint signed by broker_pk (its size and root
 * in *size, root), the entry's inclusion in it; the entry unpacked in *out.
 */
static int
receipt_entry(const Keten__Wire__V1__Receipt *r, const uint8_t broker_pk[static 32],
    uint64_t *size, merkle_hash root, Keten__Ledger__V1__Entry **out,
    struct checkpoint_memo *memo, char err[static KETEN_ERRLEN])
{
	char origin[256];
	merkle_hash leaf, proof[MERKLE_MAX_PROOF];

	if (r->checkpoint == NULL)
		return keten_seterr(err, KETEN_EINVAL, "receipt: no checkpoint");
	origin_of(r->checkpoint, origin);
	if ((memo != NULL ? checkpoint_verify_memo(memo, r->checkpoint, origin, broker_pk, size,
	    root, err) : checkpoint_verify(r->checkpoint, origin, broker_pk, size, root, err)) != 0)
		return KETEN_ECRYPTO;
	if (r->n_inclusion_proof > MERKLE_MAX_PROOF)
		return keten_seterr(err, KETEN_EINVAL, "receipt: proof too long");
	for (size_t i = 0; i < r->n_inclusion_proof; i++) {
		if (r->inclusion_proof[i].len != MERKLE_HASHBYTES)
			return keten_seterr(err, KETEN_EINVAL, "receipt: malformed proof");
		memcpy(proof[i], r->inclusion_proof[i].data, MERKLE_HASHBYTES);
	}
	merkle_leaf_hash(leaf, r->entry.data, r->entry.len);
	if (merkle_verify_inclusion(leaf, r->seq, *size, (const merkle_hash *)proof,
	    r->n_inclusion_proof, root) != 0)
		return keten_seterr(err, KETEN_ECRYPTO, "receipt: entry %llu is not in the signed tree "
		    "of size %llu", (unsigned long long)r->seq, (unsigned long long)*size);
	if ((*out = keten__ledger__v1__entry__unpack(NULL, r->entry.len, r->entry.data)) == NULL)
		return keten_seterr(err, KETEN_EINVAL, "receipt: not a ledger entry");
	if ((*out)->seq != r->seq) {
		keten__ledger__v1__entry__free_unpacked(*out, NULL);
		return keten_seterr(err, KETEN_EINVAL, "receipt: the entry's seq is not the proven one");
	}
	return 0;
}

int
receipt_verify_activation(const Keten__Wire__V1__Receipt *r, const uint8_t broker_pk[static 32],
    int kind, const char *what, const char *policy_hash, uint64_t *size,
    uint8_t root[static 32], char err[static KETEN_ERRLEN])
{
	Keten__Ledger__V1__Entry *e;
	size_t wl = strlen(what);
	int rc;

	if (r == NULL)
		return keten_seterr(err, KETEN_EINVAL, "no proof that its activation is in the ledger");
	if ((rc = receipt_entry(r, broker_pk, size, root, &e, NULL, err)) != 0)
		return rc;
	int ok = (int)e->kind == kind && strncmp(e->reason, what, wl) == 0 &&
	    (e->reason[wl] == ' ' || e->reason[wl] == '\0') &&
	    (policy_hash == NULL || strcmp(e->policy_version, policy_hash) == 0);
	keten__ledger__v1__entry__free_unpacked(e, NULL);
	if (!ok)
		return keten_seterr(err, KETEN_EINVAL, "the ledger entry sent as the proof of its "
		    "activation records something else");
	return 0;
}

int
receipt_verify(const Keten__Wire__V1__Receipt *r, const uint8_t broker_pk[static 32],
    const char *self, const uint8_t message_id[static 16], struct checkpoint_memo *memo,
    char err[static KETEN_ERRLEN])
{
	uint64_t size;
	merkle_hash root;
	Keten__Ledger__V1__Entry *e;
	int rc;

	if ((rc = receipt_entry(r, broker_pk, &size, root, &e, memo, err)) != 0)
		return rc;
	int ok = e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED &&
	    e->message_id.len == 16 && memcmp(e->message_id.data, message_id, 16) == 0 &&
	    strcmp(e->sender, self) == 0;
	keten__ledger__v1__entry__free_unpacked(e, NULL);
	if (!ok)
		return keten_seterr(err, KETEN_EINVAL, "receipt: the entry does not record the "
		    "acceptance of this message from us");
	return 0;
}

void
receipt_describe(const Keten__Wire__V1__Receipt *r, char *out, size_t len)
{
	Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL, r->entry.len,
	    r->entry.data);
	char origin[256];
	unsigned long long size = 0;
	const char *nl = r->checkpoint ? strchr(r->checkpoint, '\n') : NULL;

	if (nl)
		size = strtoull(nl + 1, NULL, 10);
	origin_of(r->checkpoint ? r->checkpoint : "", origin);
	snprintf(out, len, "ledger entry #%llu (to %s) in checkpoint %llu of %s",
	    (unsigned long long)r->seq, e && e->recipient ? e->recipient : "?", size, origin);
	if (e)
		keten__ledger__v1__entry__free_unpacked(e, NULL);
}

char *
receipt_proof_text(const Keten__Wire__V1__Receipt *r)
{
	struct proof p = { .inclusion = true, .first = r->seq };
	const char *nl = r->checkpoint != NULL ? strchr(r->checkpoint, '\n') : NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (nl == NULL || r->n_inclusion_proof > MERKLE_MAX_PROOF)
		return NULL;
	p.second = strtoull(nl + 1, NULL, 10);
	p.entry = r->entry.data;
	p.entry_len = r->entry.len;
	for (size_t i = 0; i < r->n_inclusion_proof; i++) {
		if (r->inclusion_proof[i].len != MERKLE_HASHBYTES)
			return NULL;
		memcpy(p.hashes[i], r->inclusion_proof[i].data, MERKLE_HASHBYTES);
	}
	p.n = r->n_inclusion_proof;
	p.note[0] = r->checkpoint;
	if ((f = open_memstream(&text, &len)) == NULL)
		return NULL;
	proof_write(f, &p);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
