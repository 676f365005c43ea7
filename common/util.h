/* Small helpers shared by every part: time, ids, big-endian keys, files. */
#ifndef KETEN_UTIL_H
#define KETEN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KETEN_UUIDBYTES 16
#define KETEN_UUIDSTRLEN 37	/* 36 characters and the NUL */
#define KETEN_TIMESTRLEN 32	/* "2026-12-04T04:44:10.724Z" and the NUL, with room */
#define KETEN_IDMAX 64		/* agency ids: [a-z0-9-], 1..63 characters */

/*
 * Wall clock in milliseconds since the Unix epoch (plus KETEN_TEST_CLOCK_OFFSET_MS
 * when set: for tests only); monotonic clock in ms.
 */
int64_t now_ms(void);
/* ms since the epoch as ISO 8601 in UTC with milliseconds ("2026-12-04T04:44:10.724Z"); out. */
const char *time_iso(int64_t ms, char out[static KETEN_TIMESTRLEN]);
int64_t mono_ms(void);
/* The monotonic clock in seconds, for the loops' time accounting. */
double mono_s(void);

/* A fresh UUIDv7 (RFC 9562): 48-bit ms timestamp, version 7, random rest. */
void uuid7_new(uint8_t out[static KETEN_UUIDBYTES]);
/* Lower-case 8-4-4-4-12 text form. */
void uuid_format(char out[static KETEN_UUIDSTRLEN], const uint8_t id[static KETEN_UUIDBYTES]);
/* Parse the text form; 0 or KETEN_EINVAL. */
int uuid_parse(uint8_t out[static KETEN_UUIDBYTES], const char *s);

void be64_put(uint8_t out[static 8], uint64_t v);
uint64_t be64_get(const uint8_t in[static 8]);

/* True when s is a valid agency id: 1..63 of [a-z0-9-], not starting with '-'. */
bool agency_id_valid(const char *s);

/*
 * Write `len` bytes to `path` atomically: temporary file in the same
 * directory with `mode`, fsync, rename, fsync of the directory.
 */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
    char err[static KETEN_ERRLEN]);

/*
 * Resolve `rel` against the directory of `base_file` unless it is absolute.
 * Returns a malloc'd string (caller frees) or NULL on out of memory.
 */
char *path_resolve(const char *base_file, const char *rel);

/*
 * Read a whole regular file of at most `max` bytes into a malloc'd buffer
 * (NUL-terminated; *len excludes the NUL).  KETEN_ETOOBIG, KETEN_ENOTFOUND,
 * KETEN_EIO or KETEN_ENOMEM with the reason in err.
 */
int file_read(const char *path, size_t max, char **out, size_t *len, char err[static KETEN_ERRLEN]);
/* The same; check(), when not NULL, judges the opened file's stat first. */
struct stat;
int file_read_checked(const char *path, size_t max,
    int (*check)(const struct stat *st, const char *path, char err[static KETEN_ERRLEN]),
    char **out, size_t *len, char err[static KETEN_ERRLEN]);

/*
 * Read a secret file (a key, a token) through one descriptor, so that what
 * is judged is what is read: opened without following a symbolic link,
 * then on that descriptor: a regular file, no access for group or others,
 * owned by root or by the account that reads it; at most max bytes, into
 * sodium_malloc'd memory (NUL-terminated; *len excludes the NUL).  KETEN_EPERM
 * names what is wrong with the file; else as file_read.  Free the buffer
 * with secret_file_free, which wipes it.
 */
/*
 * The same for a secret two parties hold (the REST API token: the agent and
 * its partner system): its group may read it too (mode 0640 or 0440), so a
 * partner system's account reads it through the group; never group-writable,
 * nothing for others.
 */
int shared_secret_file_read(const char *path, size_t max, char **out, size_t *len,
    char err[static KETEN_ERRLEN]);
int secret_file_read(const char *path, size_t max, char **out, size_t *len,
    char err[static KETEN_ERRLEN]);
void secret_file_free(char **buf, size_t len);

/* mkdir -p with mode for the last component; 0 or KETEN_EIO. */
int dir_ensure(const char *path, unsigned mode, char err[static KETEN_ERRLEN]);

#endif
