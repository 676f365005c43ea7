/*
 * RFC 6962 / RFC 9162 Merkle tree over an append-only log (SHA-256,
 * leaf = H(0x00 || entry), node = H(0x01 || left || right)).
 *
 * Storage is the caller's: the hashes of perfect subtrees, addressed by
 * (level, index) — the subtree of 2^level leaves starting at leaf
 * index * 2^level.  An append stores at most log2(n) + 1 of them (the leaf
 * and the subtrees it completes); a root, an inclusion proof and a
 * consistency proof read O(log n) of them.
 */
#ifndef KETEN_MERKLE_H
#define KETEN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASHBYTES 32
#define MERKLE_MAX_PROOF 64		/* hashes in any proof for trees below 2^63 */

typedef uint8_t merkle_hash[MERKLE_HASHBYTES];

struct merkle_store {
	/* Hash of the perfect subtree (level, index) into out: 0, or -1. */
	int (*get)(void *arg, unsigned level, uint64_t index, merkle_hash out);
	/* Store it (appends only): 0, or -1. */
	int (*put)(void *arg, unsigned level, uint64_t index, const merkle_hash h);
	void *arg;
};

void merkle_leaf_hash(merkle_hash out, const void *entry, size_t len);
void merkle_node_hash(merkle_hash out, const merkle_hash left, const merkle_hash right);

/* Append leaf number `size` (the tree had `size` leaves): 0, or -1. */
int merkle_append(const struct merkle_store *s, uint64_t size, const merkle_hash leaf);

/* Root of the first `size` leaves (size 0: SHA-256 of nothing).  0 or -1. */
int merkle_root(const struct merkle_store *s, uint64_t size, merkle_hash out);

/* Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1). */
int merkle_inclusion_proof(const struct merkle_store *s, uint64_t index, uint64_t size,
    merkle_hash proof[MERKLE_MAX_PROOF], size_t *len);
/* Consistency proof from size m to size n, 0 < m <= n (RFC 9162 2.1.4.1). */
int merkle_consistency_proof(const struct merkle_store *s, uint64_t m, uint64_t n,
    merkle_hash proof[MERKLE_MAX_PROOF], size_t *len);

/* Verification (RFC 9162 2.1.3.2, 2.1.4.2): 0 when the proof holds, -1 otherwise. */
int merkle_verify_inclusion(const merkle_hash leaf, uint64_t index, uint64_t size,
    const merkle_hash *proof, size_t len, const merkle_hash root);
int merkle_verify_consistency(uint64_t m, uint64_t n, const merkle_hash root_m,
    const merkle_hash root_n, const merkle_hash *proof, size_t len);

/*
 * An in-memory frontier (compact range) for verifiers that rehash a log from
 * the start: append leaves, ask the root of what was appended so far.
 */
struct merkle_frontier {
	merkle_hash h[64];		/* h[l]: the perfect subtree of 2^l leaves, if bit l of size is set */
	uint64_t size;
};
void merkle_frontier_append(struct merkle_frontier *f, const merkle_hash leaf);
void merkle_frontier_root(const struct merkle_frontier *f, merkle_hash out);

#endif
