/* Small helpers shared by every part. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/*
 * Tests move a process's clock with KETEN_TEST_CLOCK_OFFSET_MS (an agent whose
 * clock is off, a broker days later for retention).  Read once.
 */
static int64_t
clock_offset(void)
{
	static int64_t offset;
	static int done;

	if (!done) {
		const char *s = getenv("KETEN_TEST_CLOCK_OFFSET_MS");
		offset = s ? strtoll(s, NULL, 10) : 0;
		done = 1;
	}
	return offset;
}

const char *
time_iso(int64_t ms, char out[static KETEN_TIMESTRLEN])
{
	int64_t sec = ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1;	/* floor, no overflow */
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		snprintf(out, KETEN_TIMESTRLEN, "%lld ms", (long long)ms);
		return out;
	}
	strftime(out, KETEN_TIMESTRLEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, KETEN_TIMESTRLEN - 19, ".%03dZ", (int)(ms - sec * 1000));
	return out;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + clock_offset();
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
uuid7_new(uint8_t out[static KETEN_UUIDBYTES])
{
	uint64_t ms = (uint64_t)now_ms();

	randombytes_buf(out, KETEN_UUIDBYTES);
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)(ms >> (40 - 8 * i));
	out[6] = (uint8_t)(0x70 | (out[6] & 0x0f));
	out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
}

void
uuid_format(char out[static KETEN_UUIDSTRLEN], const uint8_t id[static KETEN_UUIDBYTES])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < KETEN_UUIDBYTES; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 15];
	}
	out[o] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
uuid_parse(uint8_t out[static KETEN_UUIDBYTES], const char *s)
{
	uint8_t id[KETEN_UUIDBYTES];
	size_t n = 0;

	if (strlen(s) != 36)
		return KETEN_EINVAL;
	for (size_t i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return KETEN_EINVAL;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return KETEN_EINVAL;
		id[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(out, id, sizeof(id));
	return 0;
}

void
be64_put(uint8_t out[static 8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t
be64_get(const uint8_t in[static 8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

bool
agency_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= KETEN_IDMAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

int
file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
    char err[static KETEN_ERRLEN])
{
	char *tmp = NULL, *dcopy = NULL;
	int fd = -1, dfd = -1, rc = KETEN_EIO;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1) {
		keten_seterr(err, KETEN_EIO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (fchmod(fd, mode) == -1)
		goto fail_errno;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail_errno;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail_errno;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail_errno;
	if ((dcopy = strdup(path)) != NULL && (dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
	goto out;
fail_errno:
	keten_seterr(err, KETEN_EIO, "%s: %s", path, strerror(errno));
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
out:
	free(dcopy);
	free(tmp);
	return rc;
}

char *
path_resolve(const char *base_file, const char *rel)
{
	char *copy, *dir, *out = NULL;

	if (rel[0] == '/' || base_file == NULL)
		return strdup(rel);
	if ((copy = strdup(base_file)) == NULL)
		return NULL;
	dir = dirname(copy);
	if (asprintf(&out, "%s/%s", dir, rel) < 0)
		out = NULL;
	free(copy);
	return out;
}

int
dir_ensure(const char *path, unsigned mode, char err[static KETEN_ERRLEN])
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return keten_seterr(err, KETEN_EINVAL, "bad directory path \"%s\"", path);
	memcpy(buf, path, n + 1);
	while (n > 1 && buf[n - 1] == '/')	/* "dir/" must get `mode` too */
		buf[--n] = '\0';
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, i == n ? mode : 0755) == -1 && errno != EEXIST)
			return keten_seterr(err, KETEN_EIO, "%s: %s", buf, strerror(errno));
		buf[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode))
		return keten_seterr(err, KETEN_EIO, "%s: not a directory", path);
	return 0;
}

int
file_read(const char *path, size_t max, char **out, size_t *lenp, char err[static KETEN_ERRLEN])
{
	return file_read_checked(path, max, NULL, out, lenp, err);
}

/*
 * The reader of file_read_checked and secret_file_read: open path (with
 * extra open flags), judge the opened descriptor (a regular file, then
 * check), and read through it at most max bytes into malloc'd or
 * sodium_malloc'd (secret) memory.
 */
static int
read_checked(const char *path, int flags, size_t max,
    int (*check)(const struct stat *st, const char *path, char err[static KETEN_ERRLEN]),
    bool secret, char **out, size_t *lenp, char err[static KETEN_ERRLEN])
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd, rc;

	/* O_NONBLOCK: a FIFO given as a file must not hang us until a writer comes */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags)) == -1)
		return keten_seterr(err, errno == ENOENT ? KETEN_ENOTFOUND : errno == ELOOP ?
		    KETEN_EPERM : KETEN_EIO, "%s: %s", path, errno == ELOOP && secret ?
		    "a symbolic link; a secret file must be the file itself" : strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return keten_seterr(err, KETEN_EIO, "%s: not a regular file", path);
	}
	if (check != NULL && (rc = check(&st, path, err)) != 0) {	/* the file that is read */
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return keten_seterr(err, KETEN_ETOOBIG, "%s: file larger than %zu bytes", path, max);
	}
	buf = secret ? sodium_malloc((size_t)st.st_size + 1) : malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*lenp = len;
	return 0;
}

int
file_read_checked(const char *path, size_t max,
    int (*check)(const struct stat *st, const char *path, char err[static KETEN_ERRLEN]),
    char **out, size_t *lenp, char err[static KETEN_ERRLEN])
{
	return read_checked(path, 0, max, check, false, out, lenp, err);
}

/*
 * A secret file: only its owner may write it, nobody but the owner (and,
 * with `group_read`, its group) may read it; its owner is root or us.
 */
static int
check_owner_mode(const struct stat *st, const char *path, bool group_read,
    char err[static KETEN_ERRLEN])
{
	if (st->st_mode & (group_read ? 037 : 077))
		return keten_seterr(err, KETEN_EPERM, "%s: %s file is %s (mode %04o); run: chmod %s %s",
		    path, group_read ? "shared secret" : "secret", group_read ?
		    "writable by its group or accessible by others" : "accessible by group or others",
		    (unsigned)(st->st_mode & 07777), group_read ? "640" : "600", path);
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return keten_seterr(err, KETEN_EPERM, "%s: secret file is owned by uid %u; it must "
		    "belong to root or to the account that reads it (uid %u)", path,
		    (unsigned)st->st_uid, (unsigned)geteuid());
	return 0;
}

static int
check_secret(const struct stat *st, const char *path, char err[static KETEN_ERRLEN])
{
	return check_owner_mode(st, path, false, err);
}

int
secret_file_read(const char *path, size_t max, char **out, size_t *len,
    char err[static KETEN_ERRLEN])
{
	if (sodium_init() < 0)	/* sodium_malloc needs it; callers need not know */
		return keten_seterr(err, KETEN_ENOMEM, "libsodium initialisation failed");
	return read_checked(path, O_NOFOLLOW, max, check_secret, true, out, len, err);
}

/* A shared secret: as a secret file, but its group may read it (not write). */
static int
check_shared_secret(const struct stat *st, const char *path, char err[static KETEN_ERRLEN])
{
	return check_owner_mode(st, path, true, err);
}

int
shared_secret_file_read(const char *path, size_t max, char **out, size_t *len,
    char err[static KETEN_ERRLEN])
{
	if (sodium_init() < 0)
		return keten_seterr(err, KETEN_ENOMEM, "libsodium initialisation failed");
	return read_checked(path, O_NOFOLLOW, max, check_shared_secret, true, out, len, err);
}

void
secret_file_free(char **buf, size_t len)
{
	(void)len;	/* sodium_free wipes the whole allocation */
	if (buf == NULL || *buf == NULL)
		return;
	sodium_free(*buf);
	*buf = NULL;
}
