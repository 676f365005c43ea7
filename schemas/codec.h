/*
 * One generic codec over protobuf-c descriptors for every case message type
 * (schemas/case.proto): JSON <-> protobuf in the proto3 JSON mapping, the
 * field paths present in a message, a field filter, and validation of field
 * formats.  Nothing here is written per message type.
 *
 * Field paths use the proto field names, dotted, without indices:
 * "companies.kvk_number", "companies.address.postcode".  Only leaf fields
 * (scalars, strings, enums, bytes and repeated forms of those) have paths;
 * a path set can name a message field ("companies" or "companies.*") to mean
 * every leaf beneath it, and "*" means everything.
 *
 * Role partitions: elements of a repeated message field whose type has an
 * enum field "role" (Person) have their paths per role value:
 * "persons[suspect].given_name", "persons[possible_victim].birth_year".  A
 * pattern without the qualifier ("persons.given_name", "persons.*") covers
 * every role; with it ("persons[suspect].*") only that role.  So a policy
 * can share a victim's name with a care coordinator and never a suspect's.
 *
 * Paths of a type are numbered 0..n-1 once; a set of paths is a bitset
 * (struct codec_pathset), so listing and filtering are tree walks with bit
 * tests, and the policy engine compiles its rules into the same bitsets.
 *
 * Call codec_init() once before any other function (it is idempotent and
 * thread-safe).  Types returned by the lookups live for the whole process.
 */
#ifndef KETEN_CODEC_H
#define KETEN_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CODEC_MAX_PATHS 512		/* leaf paths per type; checked at init */
#define CODEC_MAX_DEPTH 16		/* message nesting (types and JSON) */
#define CODEC_MAX_JSON_BYTES (1u << 20)	/* JSON documents larger are refused */
#define CODEC_MAX_REPEATED 1000		/* elements of one repeated field */

struct codec_type;

struct codec_pathset {
	uint64_t w[CODEC_MAX_PATHS / 64];
};

/* Build the type tables.  0, or KETEN_EINVAL if a schema breaks a limit. */
int codec_init(void);

/* Registered (sendable) types. */
size_t codec_type_count(void);
const struct codec_type *codec_type_at(size_t i);
/* Position of t in the registry: codec_type_at(codec_type_index(t)) == t. */
size_t codec_type_index(const struct codec_type *t);
/* Look up by full name ("keten.case.v1.CaseSignal") or short name ("CaseSignal"). */
const struct codec_type *codec_type_find(const char *name);
const ProtobufCMessageDescriptor *codec_type_descriptor(const struct codec_type *t);
const char *codec_type_name(const struct codec_type *t);	/* full name */

/* The type's leaf paths, numbered 0..n-1 in descriptor order. */
size_t codec_type_npaths(const struct codec_type *t);
const char *codec_type_path(const struct codec_type *t, size_t i);
/* Index of an exact leaf path, or -1. */
int codec_type_path_index(const struct codec_type *t, const char *path);

/*
 * Parse a JSON document into a new message of type t (caller frees with
 * codec_free).  Refuses unknown fields, wrong types, unknown enum names,
 * invalid UTF-8, duplicate keys, nesting deeper than CODEC_MAX_DEPTH,
 * documents over CODEC_MAX_JSON_BYTES and more than CODEC_MAX_REPEATED
 * elements, then validates (codec_validate).  Errors name the JSON path:
 * "persons[2].birthDate: expected a date YYYY-MM-DD, got \"31-02-1990\"".
 */
int codec_from_json(const struct codec_type *t, const char *json, size_t len,
    ProtobufCMessage **out, char err[static KETEN_ERRLEN]);

/*
 * Canonical proto3 JSON of m (lowerCamelCase names, default values omitted,
 * enums as names, 64-bit integers as strings, bytes as base64), compact, in
 * field-number order.  *out is malloc'd; 0 or KETEN_ENOMEM.
 */
int codec_to_json(const struct codec_type *t, const ProtobufCMessage *m, char **out);

/*
 * Check formats declared once in schemas/validate.c (dates, KvK, postcode,
 * country and language codes, licence plates, UUIDs, string lengths), that
 * enum values are defined and strings are UTF-8.  Errors name the JSON path.
 */
int codec_validate(const struct codec_type *t, const ProtobufCMessage *m,
    char err[static KETEN_ERRLEN]);

/* Set in *out the paths present in m (non-default leaves). */
void codec_paths(const struct codec_type *t, const ProtobufCMessage *m,
    struct codec_pathset *out);

/*
 * Companion fields travel together, so a filtered message stays meaningful
 * and valid: a person's role goes with any field of that person (filtering
 * it away would move the person to another role partition), and an
 * address's or vehicle's country goes with its postcode or licence plate
 * (a foreign postcode without its country is not a valid Dutch one).
 * codec_pathset_close adds those companions to s.
 */
void codec_pathset_close(const struct codec_type *t, struct codec_pathset *s);

/*
 * Clear every leaf of m whose path is not in `allowed` (closed with
 * codec_pathset_close first), and any unknown fields; messages this left
 * empty are removed.  If `removed` is not NULL, the paths cleared are set.
 */
void codec_filter(const struct codec_type *t, ProtobufCMessage *m,
    const struct codec_pathset *allowed, struct codec_pathset *removed);

/*
 * Add to `set` the paths matched by `pattern`: an exact leaf path, a message
 * path ("persons" or "persons.*") for every leaf beneath it, or "*".
 * KETEN_ENOTFOUND with a message naming the unknown part otherwise.
 */
int codec_pathset_add(const struct codec_type *t, struct codec_pathset *set, const char *pattern,
    char err[static KETEN_ERRLEN]);

/* Bitset helpers. */
static inline void codec_pathset_clear(struct codec_pathset *s) { *s = (struct codec_pathset){ 0 }; }
static inline void codec_pathset_set(struct codec_pathset *s, size_t i) { s->w[i / 64] |= 1ull << (i % 64); }
static inline bool codec_pathset_has(const struct codec_pathset *s, size_t i) { return s->w[i / 64] >> (i % 64) & 1; }
bool codec_pathset_subset(const struct codec_pathset *a, const struct codec_pathset *b);
bool codec_pathset_empty(const struct codec_pathset *s);
size_t codec_pathset_count(const struct codec_pathset *s);

/*
 * The shortest readable list of patterns for a set of paths of t, relative
 * to the paths in `within` (all paths of the type when NULL, or those
 * present in a message): a subtree whose every leaf is in the set becomes
 * "prefix.*" ("location.*", "persons[suspect].*"), the same field of every
 * role "persons.phone", everything "*".  Patterns are valid policy field
 * paths.  Calls fn (when not NULL) for each pattern with the number of paths
 * it stands for; returns how many patterns.
 */
size_t codec_paths_compress(const struct codec_type *t, const struct codec_pathset *set,
    const struct codec_pathset *within, void (*fn)(void *, const char *, size_t), void *arg);

/* Parse protobuf bytes into a message of type t (NULL if malformed). */
ProtobufCMessage *codec_unpack(const struct codec_type *t, const uint8_t *data, size_t len);
void codec_free(ProtobufCMessage *m);

/* Bytes one element of a field of protobuf-c type t takes in a message struct. */
size_t codec_elem_size(ProtobufCType t);

#endif
