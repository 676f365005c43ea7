/*
 * Keys of the ledger's secondary indexes (shared by the broker, which writes
 * them, and `keten audit query`, which reads them): kind byte, the value
 * (binary for ids, NUL-terminated text for names, 8-byte big-endian for
 * times), then the entry's sequence number (8 bytes, big-endian).
 * Also the key of the stored Merkle tree ("ledger_tree"): level, index.
 */
#ifndef KETEN_LEDGERINDEX_H
#define KETEN_LEDGERINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "common/util.h"

enum {
	LIDX_CASE = 'c', LIDX_MESSAGE = 'm', LIDX_SENDER = 's', LIDX_RECIPIENT = 'r',
	LIDX_RULE = 'u', LIDX_TIME = 't',
};

#define LIDX_MAXKEY 128

/* The key prefix (kind + value) into out; returns its length, 0 if too long. */
static inline size_t
lidx_prefix(uint8_t out[static LIDX_MAXKEY], int kind, const void *value, size_t len, int text)
{
	size_t n = 1 + len + (text ? 1 : 0);

	if (n + 8 > LIDX_MAXKEY)
		return 0;
	out[0] = (uint8_t)kind;
	memcpy(out + 1, value, len);
	if (text)
		out[1 + len] = '\0';
	return n;
}

/* "ledger_tree": key = level (1 byte) || index (8 bytes, big-endian), value = the 32-byte hash. */
#define LTREE_KEYBYTES 9

static inline void
ltree_key(uint8_t key[static LTREE_KEYBYTES], unsigned level, uint64_t index)
{
	key[0] = (uint8_t)level;
	be64_put(key + 1, index);
}

/* The stored hash of the perfect subtree (level, index) into out; -1 if absent or malformed. */
static inline int
ltree_get(MDB_txn *txn, MDB_dbi tree, unsigned level, uint64_t index, uint8_t out[static 32])
{
	uint8_t key[LTREE_KEYBYTES];
	MDB_val k = { LTREE_KEYBYTES, key }, v;

	ltree_key(key, level, index);
	if (mdb_get(txn, tree, &k, &v) != 0 || v.mv_size != 32)
		return -1;
	memcpy(out, v.mv_data, 32);
	return 0;
}

#endif
