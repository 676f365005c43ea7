/*
 * The Merkle tree against the published RFC 6962 test vectors (the leaves and
 * roots of certificate-transparency / transparency-dev), and against a naive
 * recursive MTH for every size from 1 to 1,000, with every proof verified and
 * tampered proofs refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "ledger/merkle.h"

/* In-memory store: per level an array of hashes. */
struct mem {
	merkle_hash *lv[64];
	size_t cap[64];
};

static int
mem_get(void *arg, unsigned level, uint64_t index, merkle_hash out)
{
	struct mem *m = arg;

	if (level >= 64 || index >= m->cap[level] || m->lv[level] == NULL)
		return -1;
	memcpy(out, m->lv[level][index], MERKLE_HASHBYTES);
	return 0;
}

static int
mem_put(void *arg, unsigned level, uint64_t index, const merkle_hash h)
{
	struct mem *m = arg;

	if (index >= m->cap[level]) {
		size_t cap = m->cap[level] ? m->cap[level] * 2 : 16;
		while (cap <= index)
			cap *= 2;
		merkle_hash *n = realloc(m->lv[level], cap * sizeof(merkle_hash));
		if (n == NULL)
			return -1;
		m->lv[level] = n;
		m->cap[level] = cap;
	}
	memcpy(m->lv[level][index], h, MERKLE_HASHBYTES);
	return 0;
}

static void
mem_free(struct mem *m)
{
	for (int i = 0; i < 64; i++)
		free(m->lv[i]);
}

static void
unhex(uint8_t *out, const char *hex)
{
	size_t n = strlen(hex) / 2;
	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, NULL, NULL), 0);
}

static const char *const ct_leaves[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *const ct_roots[] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void
ct_tree(struct mem *m, struct merkle_store *s)
{
	memset(m, 0, sizeof(*m));
	*s = (struct merkle_store){ mem_get, mem_put, m };
	for (size_t i = 0; i < 8; i++) {
		uint8_t d[16];
		merkle_hash lh;
		size_t n = strlen(ct_leaves[i]) / 2;
		if (n)
			unhex(d, ct_leaves[i]);
		merkle_leaf_hash(lh, d, n);
		assert_int_equal(merkle_append(s, i, lh), 0);
	}
}

static void
test_rfc6962_roots(void **state)
{
	struct mem m;
	struct merkle_store s;
	merkle_hash root, want;
	struct merkle_frontier f = { .size = 0 };

	(void)state;
	ct_tree(&m, &s);
	for (uint64_t n = 0; n <= 8; n++) {
		unhex(want, ct_roots[n]);
		assert_int_equal(merkle_root(&s, n, root), 0);
		assert_memory_equal(root, want, 32);
		merkle_frontier_root(&f, root);
		assert_memory_equal(root, want, 32);
		if (n < 8) {
			merkle_hash lh;
			assert_int_equal(mem_get(&m, 0, n, lh), 0);
			merkle_frontier_append(&f, lh);
		}
	}
	mem_free(&m);
}

static void
check_proof(const char *const *hexes, size_t n, const merkle_hash *proof, size_t len)
{
	assert_int_equal(len, n);
	for (size_t i = 0; i < n; i++) {
		merkle_hash h;
		unhex(h, hexes[i]);
		assert_memory_equal(proof[i], h, 32);
	}
}

static void
test_rfc6962_proofs(void **state)
{
	struct mem m;
	struct merkle_store s;
	merkle_hash proof[MERKLE_MAX_PROOF], leaf, r1, r2;
	size_t len;

	(void)state;
	ct_tree(&m, &s);
	static const char *const inc0[] = {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	};
	static const char *const inc5[] = {
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	};
	static const char *const con28[] = {
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	};
	static const char *const con68[] = {
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	};
	static const char *const con25[] = {
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	};
	assert_int_equal(merkle_root(&s, 8, r2), 0);
	assert_int_equal(merkle_inclusion_proof(&s, 0, 8, proof, &len), 0);
	check_proof(inc0, 3, proof, len);
	assert_int_equal(mem_get(&m, 0, 0, leaf), 0);
	assert_int_equal(merkle_verify_inclusion(leaf, 0, 8, proof, len, r2), 0);
	assert_int_equal(merkle_inclusion_proof(&s, 5, 8, proof, &len), 0);
	check_proof(inc5, 3, proof, len);
	assert_int_equal(mem_get(&m, 0, 5, leaf), 0);
	assert_int_equal(merkle_verify_inclusion(leaf, 5, 8, proof, len, r2), 0);

	assert_int_equal(merkle_consistency_proof(&s, 2, 8, proof, &len), 0);
	check_proof(con28, 2, proof, len);
	assert_int_equal(merkle_root(&s, 2, r1), 0);
	assert_int_equal(merkle_verify_consistency(2, 8, r1, r2, proof, len), 0);
	assert_int_equal(merkle_consistency_proof(&s, 6, 8, proof, &len), 0);
	check_proof(con68, 3, proof, len);
	assert_int_equal(merkle_root(&s, 6, r1), 0);
	assert_int_equal(merkle_verify_consistency(6, 8, r1, r2, proof, len), 0);
	assert_int_equal(merkle_consistency_proof(&s, 2, 5, proof, &len), 0);
	check_proof(con25, 2, proof, len);
	mem_free(&m);
}

/* Naive MTH straight from RFC 6962 section 2.1. */
static void
naive(merkle_hash out, const merkle_hash *leaves, uint64_t n)
{
	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	uint64_t k = 1;
	while (k << 1 < n)
		k <<= 1;
	merkle_hash l, r;
	naive(l, leaves, k);
	naive(r, leaves + k, n - k);
	merkle_node_hash(out, l, r);
}

static void
test_every_size_to_1000(void **state)
{
	enum { N = 1000 };
	struct mem m = { 0 };
	struct merkle_store s = { mem_get, mem_put, &m };
	struct merkle_frontier f = { .size = 0 };
	merkle_hash *leaves = calloc(N, sizeof(merkle_hash)), *roots = calloc(N + 1, sizeof(merkle_hash));
	merkle_hash root, proof[MERKLE_MAX_PROOF], bad;
	size_t len;

	(void)state;
	assert_non_null(leaves);
	assert_non_null(roots);
	for (uint64_t i = 0; i < N; i++) {
		uint8_t e[8];
		for (int b = 0; b < 8; b++)
			e[b] = (uint8_t)(i >> (8 * b));
		merkle_leaf_hash(leaves[i], e, sizeof(e));
		assert_int_equal(merkle_append(&s, i, leaves[i]), 0);
		merkle_frontier_append(&f, leaves[i]);
		naive(roots[i + 1], leaves, i + 1);
		assert_int_equal(merkle_root(&s, i + 1, root), 0);
		assert_memory_equal(root, roots[i + 1], 32);
		merkle_frontier_root(&f, root);
		assert_memory_equal(root, roots[i + 1], 32);
	}
	for (uint64_t n = 1; n <= N; n++) {
		/* all indices for small trees, a spread for large ones */
		uint64_t step = n <= 64 ? 1 : n / 17 + 1;
		for (uint64_t i = 0; i < n; i += step) {
			assert_int_equal(merkle_inclusion_proof(&s, i, n, proof, &len), 0);
			assert_true(len <= 10);
			assert_int_equal(merkle_verify_inclusion(leaves[i], i, n, proof, len, roots[n]), 0);
			/* a wrong index, size, leaf or proof hash is refused */
			if (n > 1) {
				assert_int_not_equal(merkle_verify_inclusion(leaves[i], (i + 1) % n, n, proof,
				    len, roots[n]), 0);
				assert_int_not_equal(merkle_verify_inclusion(leaves[(i + 1) % n], i, n, proof,
				    len, roots[n]), 0);
				memcpy(bad, proof[len / 2], 32);
				proof[len / 2][0] ^= 1;
				assert_int_not_equal(merkle_verify_inclusion(leaves[i], i, n, proof, len,
				    roots[n]), 0);
				memcpy(proof[len / 2], bad, 32);
			}
			/* a proof cut short is refused (a different size can share a path's
			 * shape, so only the root decides there) */
			if (len > 0)
				assert_int_not_equal(merkle_verify_inclusion(leaves[i], i, n, proof, len - 1,
				    roots[n]), 0);
		}
		/* consistency from every (or a spread of) earlier size */
		for (uint64_t mm = 1; mm <= n; mm += (n <= 40 ? 1 : n / 13 + 1)) {
			assert_int_equal(merkle_consistency_proof(&s, mm, n, proof, &len), 0);
			assert_int_equal(merkle_verify_consistency(mm, n, roots[mm], roots[n], proof, len), 0);
			if (mm < n) {
				assert_int_not_equal(merkle_verify_consistency(mm, n, roots[n], roots[n], proof,
				    len), 0);
				proof[0][5] ^= 1;
				assert_int_not_equal(merkle_verify_consistency(mm, n, roots[mm], roots[n],
				    proof, len), 0);
			}
		}
	}
	assert_int_not_equal(merkle_inclusion_proof(&s, 5, 5, proof, &len), 0);
	assert_int_not_equal(merkle_consistency_proof(&s, 0, 5, proof, &len), 0);
	assert_int_not_equal(merkle_consistency_proof(&s, 6, 5, proof, &len), 0);
	free(leaves);
	free(roots);
	mem_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6962_roots),
		cmocka_unit_test(test_rfc6962_proofs),
		cmocka_unit_test(test_every_size_to_1000),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
