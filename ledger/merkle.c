/* RFC 6962 / 9162 Merkle tree: hashing, appends, roots, proofs, verification. */
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "ledger/merkle.h"

void
merkle_leaf_hash(merkle_hash out, const void *entry, size_t len)
{
	crypto_hash_sha256_state st;
	static const uint8_t prefix = 0x00;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	crypto_hash_sha256_update(&st, entry, len);
	crypto_hash_sha256_final(&st, out);
}

void
merkle_node_hash(merkle_hash out, const merkle_hash left, const merkle_hash right)
{
	uint8_t buf[1 + 2 * MERKLE_HASHBYTES];

	buf[0] = 0x01;
	memcpy(buf + 1, left, MERKLE_HASHBYTES);
	memcpy(buf + 1 + MERKLE_HASHBYTES, right, MERKLE_HASHBYTES);
	crypto_hash_sha256(out, buf, sizeof(buf));
}

int
merkle_append(const struct merkle_store *s, uint64_t size, const merkle_hash leaf)
{
	merkle_hash h, left;
	uint64_t index = size;
	unsigned level = 0;

	memcpy(h, leaf, MERKLE_HASHBYTES);
	if (s->put(s->arg, 0, index, h) != 0)
		return -1;
	/* every right child completes its parent */
	while (index & 1) {
		if (s->get(s->arg, level, index - 1, left) != 0)
			return -1;
		merkle_node_hash(h, left, h);
		level++;
		index >>= 1;
		if (s->put(s->arg, level, index, h) != 0)
			return -1;
	}
	return 0;
}

/* Largest power of two strictly below n (n > 1). */
static uint64_t
split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH of leaves [off, off + len), len > 0; off is aligned as RFC 6962's recursion leaves it. */
static int
range_hash(const struct merkle_store *s, uint64_t off, uint64_t len, merkle_hash out)
{
	if ((len & (len - 1)) == 0) {
		unsigned level = (unsigned)__builtin_ctzll(len);
		return s->get(s->arg, level, off >> level, out);
	}
	uint64_t k = split(len);
	merkle_hash l, r;
	if (range_hash(s, off, k, l) != 0 || range_hash(s, off + k, len - k, r) != 0)
		return -1;
	merkle_node_hash(out, l, r);
	return 0;
}

int
merkle_root(const struct merkle_store *s, uint64_t size, merkle_hash out)
{
	if (size == 0) {
		crypto_hash_sha256(out, NULL, 0);
		return 0;
	}
	return range_hash(s, 0, size, out);
}

/* PATH(m, D[off : off + n]) of RFC 6962, appended bottom-up into proof. */
static int
path(const struct merkle_store *s, uint64_t m, uint64_t off, uint64_t n, merkle_hash *proof,
    size_t *len)
{
	if (n <= 1)
		return 0;
	uint64_t k = split(n);
	merkle_hash h;
	if (m < k) {
		if (path(s, m, off, k, proof, len) != 0 || range_hash(s, off + k, n - k, h) != 0)
			return -1;
	} else {
		if (path(s, m - k, off + k, n - k, proof, len) != 0 || range_hash(s, off, k, h) != 0)
			return -1;
	}
	if (*len == MERKLE_MAX_PROOF)
		return -1;
	memcpy(proof[(*len)++], h, MERKLE_HASHBYTES);
	return 0;
}

int
merkle_inclusion_proof(const struct merkle_store *s, uint64_t index, uint64_t size,
    merkle_hash proof[MERKLE_MAX_PROOF], size_t *len)
{
	*len = 0;
	if (index >= size)
		return -1;
	return path(s, index, 0, size, proof, len);
}

/* SUBPROOF(m, D[off : off + n], b) of RFC 6962. */
static int
subproof(const struct merkle_store *s, uint64_t m, uint64_t off, uint64_t n, int b,
    merkle_hash *proof, size_t *len)
{
	merkle_hash h;

	if (m == n) {
		if (b)
			return 0;
		if (range_hash(s, off, n, h) != 0)
			return -1;
	} else {
		uint64_t k = split(n);
		if (m <= k) {
			if (subproof(s, m, off, k, b, proof, len) != 0 ||
			    range_hash(s, off + k, n - k, h) != 0)
				return -1;
		} else {
			if (subproof(s, m - k, off + k, n - k, 0, proof, len) != 0 ||
			    range_hash(s, off, k, h) != 0)
				return -1;
		}
	}
	if (*len == MERKLE_MAX_PROOF)
		return -1;
	memcpy(proof[(*len)++], h, MERKLE_HASHBYTES);
	return 0;
}

int
merkle_consistency_proof(const struct merkle_store *s, uint64_t m, uint64_t n,
    merkle_hash proof[MERKLE_MAX_PROOF], size_t *len)
{
	*len = 0;
	if (m == 0 || m > n)
		return -1;
	if (m == n)
		return 0;
	return subproof(s, m, 0, n, 1, proof, len);
}

int
merkle_verify_inclusion(const merkle_hash leaf, uint64_t index, uint64_t size,
    const merkle_hash *proof, size_t len, const merkle_hash root)
{
	merkle_hash r;
	uint64_t fn = index, sn = size - 1;

	if (index >= size)
		return -1;
	memcpy(r, leaf, MERKLE_HASHBYTES);
	for (size_t i = 0; i < len; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(r, proof[i], r);
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_node_hash(r, r, proof[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(r, root, MERKLE_HASHBYTES) == 0 ? 0 : -1;
}

int
merkle_verify_consistency(uint64_t m, uint64_t n, const merkle_hash root_m,
    const merkle_hash root_n, const merkle_hash *proof, size_t len)
{
	merkle_hash fr, sr;
	uint64_t fn, sn;
	size_t i = 0;

	if (m == 0 || m > n)
		return -1;
	if (m == n)
		return len == 0 && sodium_memcmp(root_m, root_n, MERKLE_HASHBYTES) == 0 ? 0 : -1;
	if (len == 0)
		return -1;
	/* if m is a power of two, the first proof element is root_m itself */
	const merkle_hash *p = proof;
	size_t plen = len;
	merkle_hash first;
	if ((m & (m - 1)) == 0) {
		memcpy(first, root_m, MERKLE_HASHBYTES);
	} else {
		memcpy(first, proof[0], MERKLE_HASHBYTES);
		p = proof + 1;
		plen = len - 1;
	}
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, first, MERKLE_HASHBYTES);
	memcpy(sr, first, MERKLE_HASHBYTES);
	for (i = 0; i < plen; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(fr, p[i], fr);
			merkle_node_hash(sr, p[i], sr);
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_node_hash(sr, sr, p[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(fr, root_m, MERKLE_HASHBYTES) == 0 &&
	    sodium_memcmp(sr, root_n, MERKLE_HASHBYTES) == 0 ? 0 : -1;
}

void
merkle_frontier_append(struct merkle_frontier *f, const merkle_hash leaf)
{
	merkle_hash h;
	unsigned level = 0;

	memcpy(h, leaf, MERKLE_HASHBYTES);
	while (f->size >> level & 1) {
		merkle_node_hash(h, f->h[level], h);
		level++;
	}
	memcpy(f->h[level], h, MERKLE_HASHBYTES);
	f->size++;
}

void
merkle_frontier_root(const struct merkle_frontier *f, merkle_hash out)
{
	bool any = false;

	if (f->size == 0) {
		crypto_hash_sha256(out, NULL, 0);
		return;
	}
	/* fold the perfect subtrees from the smallest (rightmost) to the largest */
	for (unsigned level = 0; level < 64; level++) {
		if (!(f->size >> level & 1))
			continue;
		if (!any) {
			memcpy(out, f->h[level], MERKLE_HASHBYTES);
			any = true;
		} else {
			merkle_node_hash(out, f->h[level], out);
		}
	}
}
