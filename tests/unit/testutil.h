/*
 * Helpers shared by the unit tests: a scratch directory under /tmp, small
 * file helpers and assertions on error messages.  Header-only (each test is
 * one translation unit); everything is static inline.
 */
#ifndef KETEN_TESTUTIL_H
#define KETEN_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define TU_DIRLEN 64

/* The message must contain `needle`; on failure both are printed. */
#define assert_contains(s, needle) do { \
	const char *s_ = (s), *n_ = (needle); \
	if (s_ == NULL || strstr(s_, n_) == NULL) \
		fail_msg("\"%s\" does not contain \"%s\"", s_ ? s_ : "(null)", n_); \
} while (0)

/* The message must start with `prefix` (used for "file:line:col: "). */
#define assert_prefix(s, prefix) do { \
	const char *s_ = (s), *p_ = (prefix); \
	if (s_ == NULL || strncmp(s_, p_, strlen(p_)) != 0) \
		fail_msg("\"%s\" does not start with \"%s\"", s_ ? s_ : "(null)", p_); \
} while (0)

/* A fresh, empty directory /tmp/keten-unit-XXXXXX. */
static inline void
tu_tmpdir(char dir[static TU_DIRLEN])
{
	snprintf(dir, TU_DIRLEN, "/tmp/keten-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static inline int
tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf dir */
static inline void
tu_rmtree(const char *dir)
{
	nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* asprintf that cannot fail the caller; free the result. */
static inline char *
tu_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *
tu_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	assert_non_null(s);
	return s;
}

/* Write `text` to dir/name with exactly `mode`; returns the path (free it). */
static inline char *
tu_write(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = tu_printf("%s/%s", dir, name);
	size_t len = strlen(text), off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(close(fd), 0);
	return path;
}

/* Whole file as a NUL-terminated string (free it). */
static inline char *
tu_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, r;

	assert_non_null(f);
	do {
		if (cap - len < 4096) {
			cap += 4096;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
	} while (r > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Permission bits of path. */
static inline unsigned
tu_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

/* Replace the first `from` in *s by `to` (reallocates *s). */
static inline void
tu_replace(char **s, const char *from, const char *to)
{
	char *at = strstr(*s, from), *out;

	if (at == NULL)
		fail_msg("\"%s\" not found in test text", from);
	out = tu_printf("%.*s%s%s", (int)(at - *s), *s, to, at + strlen(from));
	free(*s);
	*s = out;
}

#endif
