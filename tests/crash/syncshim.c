/*
 * A machine crash, simulated (tests/integ/t_powerloss.sh): an LD_PRELOAD
 * shim that keeps, beside the data directory, a copy of what a disk would
 * hold if the power went at this moment and every write not yet synced were
 * lost.
 *
 *   KETEN_SYNCSHIM_DIR   the directory watched (absolute; the broker's data)
 *   KETEN_SYNCSHIM_OUT   the copy: made by the test from the directory before
 *                        the process starts, then kept here
 *   KETEN_SYNCSHIM_FREEZE_AFTER  after this many syncs of files in the
 *                        directory the disk "dies": the next sync never
 *                        returns (its thread blocks) and the copy changes no
 *                        more.  The test then kills the process and starts
 *                        it again on the copy.  0 or unset: never.
 *   KETEN_SYNCSHIM_FAIL_THREAD, KETEN_SYNCSHIM_FAIL_AFTER  a disk that fails
 *                        instead: after this many syncs by the thread of
 *                        that name (prctl PR_GET_NAME), each of its syncs of
 *                        a watched file fails with EIO and does nothing;
 *                        a sync of a watched file by any other thread after
 *                        that is reported ("a sync after the failed one").
 *
 * The model: a write to a file in the directory (write, pwrite, writev,
 * pwritev) marks its byte range dirty.  fsync or fdatasync of any descriptor
 * of that file copies every dirty range of the file, as the file holds it
 * now, into the copy: what the sync made durable.  A write through a
 * descriptor opened O_SYNC or O_DSYNC (LMDB's meta page) is copied at once.
 * Renames and removals in the directory are applied to the copy at once,
 * and a file's length follows the real one at each sync (a lenient model of
 * the directory: the test is about the data a sync covers).
 *
 * Writes through the C library's own streams (fopen) are not seen; the
 * broker's data files are written with write(2) and friends.  Memory-mapped
 * writes are not seen: the broker does not use MDB_WRITEMAP.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXFD 4096
#define MAXFILES 64

struct range {
	off_t off;
	size_t len;
};

struct file {
	char rel[PATH_MAX];		/* relative to the watched directory; "" = free */
	struct range *r;
	size_t n, cap;
};

static struct {
	bool on;
	char dir[PATH_MAX], out[PATH_MAX];
	size_t dirlen;
	long freeze_after, syncs;
	bool frozen;
	char fail_thread[16];
	long fail_after, thread_syncs;
	pthread_mutex_t mu;
	struct file files[MAXFILES];
	short fdfile[MAXFD];		/* 1 + index into files, 0: not watched */
	bool fdsync[MAXFD];		/* opened O_SYNC or O_DSYNC */
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static off_t (*real_lseek)(int, off_t, int);

static void
die(const char *what)
{
	fprintf(stderr, "syncshim: %s: %s\n", what, strerror(errno));
	abort();
}

__attribute__((constructor)) static void
init(void)
{
	const char *d = getenv("KETEN_SYNCSHIM_DIR"), *o = getenv("KETEN_SYNCSHIM_OUT");
	const char *f = getenv("KETEN_SYNCSHIM_FREEZE_AFTER");

	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_close = dlsym(RTLD_NEXT, "close");
	real_write = dlsym(RTLD_NEXT, "write");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_writev = dlsym(RTLD_NEXT, "writev");
	real_pwritev = dlsym(RTLD_NEXT, "pwritev");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_rename = dlsym(RTLD_NEXT, "rename");
	real_renameat = dlsym(RTLD_NEXT, "renameat");
	real_unlink = dlsym(RTLD_NEXT, "unlink");
	real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
	real_lseek = dlsym(RTLD_NEXT, "lseek");
	if (d == NULL || o == NULL || d[0] != '/' || o[0] != '/')
		return;
	if (realpath(d, S.dir) == NULL || realpath(o, S.out) == NULL)
		die("KETEN_SYNCSHIM_DIR or KETEN_SYNCSHIM_OUT");
	S.dirlen = strlen(S.dir);
	S.freeze_after = f ? strtol(f, NULL, 10) : 0;
	const char *ft = getenv("KETEN_SYNCSHIM_FAIL_THREAD"), *fa = getenv("KETEN_SYNCSHIM_FAIL_AFTER");
	if (ft != NULL)
		snprintf(S.fail_thread, sizeof(S.fail_thread), "%s", ft);
	S.fail_after = fa ? strtol(fa, NULL, 10) : 0;
	S.on = true;
}

/* The path of name (relative to dirfd) inside the watched directory, or NULL. */
static const char *
watched(int dirfd, const char *name, char buf[PATH_MAX])
{
	char base[PATH_MAX];

	if (!S.on || name == NULL)
		return NULL;
	if (name[0] == '/') {
		snprintf(buf, PATH_MAX, "%s", name);
	} else {
		if (dirfd == AT_FDCWD) {
			if (getcwd(base, sizeof(base)) == NULL)
				return NULL;
		} else {
			char link[64];
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			ssize_t n = readlink(link, base, sizeof(base) - 1);
			if (n < 0)
				return NULL;
			base[n] = '\0';
		}
		int n = snprintf(buf, PATH_MAX, "%s/%s", base, name);
		if (n < 0 || n >= PATH_MAX)
			return NULL;
	}
	/* the directory itself, or a file in it (or below) */
	if (strncmp(buf, S.dir, S.dirlen) != 0 || (buf[S.dirlen] != '/' && buf[S.dirlen] != '\0'))
		return NULL;
	const char *rel = buf + S.dirlen;
	while (*rel == '/')
		rel++;
	return rel;
}

static int
file_of(const char *rel)
{
	int free_slot = -1;

	for (int i = 0; i < MAXFILES; i++) {
		if (S.files[i].rel[0] == '\0') {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcmp(S.files[i].rel, rel) == 0) {
			return i;
		}
	}
	if (free_slot < 0) {
		errno = EMFILE;
		die("too many files");
	}
	snprintf(S.files[free_slot].rel, PATH_MAX, "%s", rel);
	return free_slot;
}

static void
note_open(int fd, int dirfd, const char *path, int flags)
{
	char buf[PATH_MAX];
	const char *rel;
	struct stat st;

	if (fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&S.mu);
	S.fdfile[fd] = 0;
	if ((rel = watched(dirfd, path, buf)) != NULL && rel[0] != '\0' && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		S.fdfile[fd] = (short)(1 + file_of(rel));
		S.fdsync[fd] = (flags & (O_SYNC | O_DSYNC)) != 0;
	}
	pthread_mutex_unlock(&S.mu);
}

/* Copy [off, off+len) of the real file into the copy. */
static void
copy_range(const char *rel, off_t off, size_t len)
{
	char src[PATH_MAX + 2], dst[PATH_MAX + 2], buf[65536];
	int in, out;

	snprintf(src, sizeof(src), "%s/%s", S.dir, rel);
	snprintf(dst, sizeof(dst), "%s/%s", S.out, rel);
	if ((in = real_open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return;		/* removed meanwhile */
	if ((out = real_open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
		die(dst);
	while (len > 0) {
		ssize_t n = pread(in, buf, len < sizeof(buf) ? len : sizeof(buf), off);
		if (n <= 0)
			break;	/* past the end: the file is shorter now */
		if (real_pwrite(out, buf, (size_t)n, off) != n)
			die(dst);
		off += n;
		len -= (size_t)n;
	}
	struct stat st;
	if (fstat(in, &st) == 0 && ftruncate(out, st.st_size) != 0)
		die(dst);
	real_close(in);
	real_close(out);
}

static void
note_write(int fd, off_t off, ssize_t len)
{
	if (len <= 0 || fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&S.mu);
	if (S.fdfile[fd] == 0 || S.frozen) {
		pthread_mutex_unlock(&S.mu);
		return;
	}
	struct file *f = &S.files[S.fdfile[fd] - 1];
	if (S.fdsync[fd]) {
		copy_range(f->rel, off, (size_t)len);
	} else {
		struct range *last = f->n ? &f->r[f->n - 1] : NULL;
		if (last && last->off + (off_t)last->len == off) {
			last->len += (size_t)len;
		} else {
			if (f->n == f->cap) {
				f->cap = f->cap ? 2 * f->cap : 64;
				if ((f->r = realloc(f->r, f->cap * sizeof(*f->r))) == NULL)
					die("realloc");
			}
			f->r[f->n++] = (struct range){ off, (size_t)len };
		}
	}
	pthread_mutex_unlock(&S.mu);
}

/* A sync of fd: 0 to go on with the real one; does not return once frozen. */
static void
note_sync(int fd)
{
	if (fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&S.mu);
	if (S.fdfile[fd] == 0) {
		pthread_mutex_unlock(&S.mu);
		return;
	}
	S.syncs++;
	if (S.frozen || (S.freeze_after > 0 && S.syncs > S.freeze_after)) {
		if (!S.frozen) {
			S.frozen = true;
			fprintf(stderr, "syncshim: the disk died at sync %ld\n", S.syncs);
		}
		pthread_mutex_unlock(&S.mu);
		for (;;)
			sleep(1000);	/* a sync that never returns */
	}
	struct file *f = &S.files[S.fdfile[fd] - 1];
	for (size_t i = 0; i < f->n; i++)
		copy_range(f->rel, f->r[i].off, f->r[i].len);
	f->n = 0;
	pthread_mutex_unlock(&S.mu);
}

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	int fd = real_open(path, flags, mode);
	note_open(fd, AT_FDCWD, path, flags);
	return fd;
}
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	int fd = real_openat(dirfd, path, flags, mode);
	note_open(fd, dirfd, path, flags);
	return fd;
}
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int
close(int fd)
{
	if (fd >= 0 && fd < MAXFD) {
		pthread_mutex_lock(&S.mu);
		S.fdfile[fd] = 0;
		pthread_mutex_unlock(&S.mu);
	}
	return real_close(fd);
}

/* Where a write at the file position of fd lands: -1 for a file not watched. */
static off_t
position(int fd)
{
	return fd >= 0 && fd < MAXFD && S.fdfile[fd] ? real_lseek(fd, 0, SEEK_CUR) : -1;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	off_t off = position(fd);
	ssize_t n = real_write(fd, buf, len);
	if (off >= 0)
		note_write(fd, off, n);
	return n;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = real_pwrite(fd, buf, len, off);
	note_write(fd, off, n);
	return n;
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	off_t off = position(fd);
	ssize_t n = real_writev(fd, iov, cnt);
	if (off >= 0)
		note_write(fd, off, n);
	return n;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t n = real_pwritev(fd, iov, cnt, off);
	note_write(fd, off, n);
	return n;
}
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
    __attribute__((alias("pwritev")));

/* Whether this sync fails (KETEN_SYNCSHIM_FAIL_THREAD): then it does nothing. */
static bool
fails(int fd)
{
	char name[16] = "";
	bool f = false;

	if (!S.on || S.fail_thread[0] == '\0' || fd < 0 || fd >= MAXFD)
		return false;
	pthread_mutex_lock(&S.mu);
	if (S.fdfile[fd] != 0 && prctl(PR_GET_NAME, name, 0, 0, 0) == 0 &&
	    strcmp(name, S.fail_thread) == 0 && ++S.thread_syncs > S.fail_after) {
		f = true;
		if (S.thread_syncs == S.fail_after + 1)
			fprintf(stderr, "syncshim: the disk fails the syncs of %s from sync %ld on\n",
			    S.fail_thread, S.thread_syncs);
	}
	pthread_mutex_unlock(&S.mu);
	return f;
}

/* fsync or fdatasync (real) of fd, as the shim's disk does it. */
static int
shim_sync(int fd, int (*real)(int))
{
	if (fails(fd)) {
		errno = EIO;
		return -1;
	}
	if (S.fail_thread[0] != '\0' && S.thread_syncs > S.fail_after && fd >= 0 && fd < MAXFD &&
	    S.fdfile[fd] != 0)	/* what t_powerloss requires never happens */
		fprintf(stderr, "syncshim: a sync after the failed one\n");
	int rc = real(fd);
	if (rc == 0)
		note_sync(fd);
	return rc;
}

int
fsync(int fd)
{
	return shim_sync(fd, real_fsync);
}

int
fdatasync(int fd)
{
	return shim_sync(fd, real_fdatasync);
}

/* Renames and removals in the directory: the copy follows at once. */
static void
mirror_rename(int ofd, const char *from, int nfd, const char *to)
{
	char b1[PATH_MAX], b2[PATH_MAX], s1[PATH_MAX + 2], s2[PATH_MAX + 2];
	const char *r1 = watched(ofd, from, b1), *r2 = watched(nfd, to, b2);

	if (r1 == NULL || r2 == NULL || S.frozen)
		return;
	pthread_mutex_lock(&S.mu);
	snprintf(s1, sizeof(s1), "%s/%s", S.out, r1);
	snprintf(s2, sizeof(s2), "%s/%s", S.out, r2);
	real_rename(s1, s2);
	for (int i = 0; i < MAXFILES; i++)	/* dirty ranges of the old name are the new one's */
		if (strcmp(S.files[i].rel, r1) == 0)
			snprintf(S.files[i].rel, PATH_MAX, "%s", r2);
	pthread_mutex_unlock(&S.mu);
}

int
rename(const char *from, const char *to)
{
	int rc = real_rename(from, to);
	if (rc == 0)
		mirror_rename(AT_FDCWD, from, AT_FDCWD, to);
	return rc;
}

int
renameat(int ofd, const char *from, int nfd, const char *to)
{
	int rc = real_renameat(ofd, from, nfd, to);
	if (rc == 0)
		mirror_rename(ofd, from, nfd, to);
	return rc;
}

static void
mirror_unlink(int dirfd, const char *path)
{
	char b[PATH_MAX], s[PATH_MAX + 2];
	const char *r = watched(dirfd, path, b);

	if (r == NULL || r[0] == '\0' || S.frozen)
		return;
	snprintf(s, sizeof(s), "%s/%s", S.out, r);
	real_unlink(s);
}

int
unlink(const char *path)
{
	int rc = real_unlink(path);
	if (rc == 0)
		mirror_unlink(AT_FDCWD, path);
	return rc;
}

int
unlinkat(int dirfd, const char *path, int flags)
{
	int rc = real_unlinkat(dirfd, path, flags);
	if (rc == 0 && !(flags & AT_REMOVEDIR))
		mirror_unlink(dirfd, path);
	return rc;
}

__attribute__((destructor)) static void
fini(void)
{
	if (S.on && getenv("KETEN_SYNCSHIM_VERBOSE"))
		fprintf(stderr, "syncshim: %ld syncs counted\n", S.syncs);
}
