/*
 * A YAML document loaded into a small tree with line:column marks, so every
 * configuration, directory, key and policy file reports errors as
 * file:line:col.  Input is untrusted: size, depth and node count are bounded,
 * aliases and anchors are refused, and scalars are wiped on free (key files
 * pass through here).
 */
#ifndef KETEN_YAMLTREE_H
#define KETEN_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define YDOC_MAX_BYTES (4u << 20)
#define YDOC_MAX_DEPTH 32
#define YDOC_MAX_NODES 200000

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };

struct ynode {
	enum ynode_kind kind;
	unsigned line, col;		/* 1-based position of the node's start */
	char *str;			/* scalar value (NUL-terminated), else NULL */
	size_t len;			/* scalar length */
	bool quoted;			/* scalar was written in quotes */
	size_t n;			/* items of a sequence, pairs of a map */
	struct ynode **items;		/* seq: n items; map: 2n (key, value) */
	size_t cap;			/* room in items */
};

struct ydoc;

/*
 * Load `path`.  On success *out owns the tree; free with ydoc_free().  An empty
 * file gives a root of NULL.  Errors are written to err as "path:line:col: ...".
 */
int ydoc_load(const char *path, struct ydoc **out, char err[static KETEN_ERRLEN]);
/* Same, from memory; `name` is used in messages. */
int ydoc_parse(const char *name, const void *buf, size_t len, struct ydoc **out,
    char err[static KETEN_ERRLEN]);
void ydoc_free(struct ydoc **doc);

/* Root node (NULL for an empty document); valid until ydoc_free. */
const struct ynode *ydoc_root(const struct ydoc *doc);
/* File name given to load/parse. */
const char *ydoc_name(const struct ydoc *doc);

/* Value of `key` in a map, NULL if absent. */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/*
 * Checked accessors: each writes "file:line:col: what was wrong" and returns
 * KETEN_EINVAL when the node is missing (and required) or of the wrong kind.
 * `what` describes the map for messages, e.g. "broker configuration".
 */
int ydoc_expect_map(const struct ydoc *doc, const struct ynode *node, const char *what,
    char err[static KETEN_ERRLEN]);
/* Refuse keys not in the NULL-terminated `allowed` list and duplicate keys. */
int ydoc_check_keys(const struct ydoc *doc, const struct ynode *map, const char *what,
    const char *const *allowed, char err[static KETEN_ERRLEN]);
int ydoc_get_str(const struct ydoc *doc, const struct ynode *map, const char *key,
    bool required, const char **out, char err[static KETEN_ERRLEN]);
int ydoc_get_u64(const struct ydoc *doc, const struct ynode *map, const char *key,
    bool required, uint64_t min, uint64_t max, uint64_t *out, char err[static KETEN_ERRLEN]);
int ydoc_get_bool(const struct ydoc *doc, const struct ynode *map, const char *key,
    bool required, bool *out, char err[static KETEN_ERRLEN]);
/* Error located at `node` (or at the document when node is NULL). */
int ydoc_err(const struct ydoc *doc, const struct ynode *node, char err[static KETEN_ERRLEN],
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parse an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SSZ" to ms since the epoch. */
int parse_utc_time(const char *s, int64_t *out_ms);

#endif
