/* The broker's side of the auditors' query log. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/spool.h"
#include "ledger/auditspool.h"
#include "common/log.h"
#include "common/util.h"

#define SPOOL_BATCH 64

struct spool {
	int dirfd, ino;
	char *path;
	char taken[SPOOL_BATCH][AUDITSPOOL_NAMELEN + 1];	/* logged in the open batch */
	size_t ntaken;
	bool more;		/* the last scan stopped at a full batch */
};

int
spool_open(const char *data_dir, struct spool **out, char err[static KETEN_ERRLEN])
{
	struct spool *s;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL || asprintf(&s->path, "%s/" AUDITSPOOL_DIR,
	    data_dir) < 0) {
		free(s);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	s->dirfd = s->ino = -1;
	/* the broker reads; auditors (the group) may only drop records, and the
	 * sticky bit keeps one auditor from removing another's */
	if ((rc = dir_ensure(s->path, 0730, err)) != 0)
		goto fail;
	if (chmod(s->path, 01730) == -1 ||
	    (s->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		rc = keten_seterr(err, KETEN_EIO, "%s: %s", s->path, strerror(errno));
		goto fail;
	}
	if ((s->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(s->ino, s->path, IN_MOVED_TO | IN_CLOSE_WRITE) == -1) {
		rc = keten_seterr(err, KETEN_EIO, "%s: cannot watch: %s", s->path, strerror(errno));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	spool_free(&s);
	return rc;
}

void
spool_free(struct spool **sp)
{
	struct spool *s;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	if (s->dirfd != -1)
		close(s->dirfd);
	if (s->ino != -1)
		close(s->ino);
	free(s->path);
	free(s);
	*sp = NULL;
}

int
spool_fd(const struct spool *s)
{
	return s->ino;
}

/* Whether any event is waiting; drains them. */
static bool
signalled(struct spool *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	while (read(s->ino, buf, sizeof(buf)) > 0)
		any = true;
	return any;
}

/* The auditor: the record file's owner, which the auditor cannot choose. */
static void
owner_name(uid_t uid, char *out, size_t cap)
{
	struct passwd pw, *r = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &r) == 0 && r != NULL)
		snprintf(out, cap, "auditor:%s", r->pw_name);
	else
		snprintf(out, cap, "auditor:uid-%u", (unsigned)uid);
}

/* Log one record file; 1 logged, 0 skipped (gone, or logged before). */
static int
take(struct spool *s, struct ledger *l, MDB_txn *txn, const char *name,
    int (*log)(void *, MDB_txn *, Keten__Ledger__V1__Entry *), void *arg)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	struct audit_query q;
	char buf[AUDITSPOOL_MAX + 1], err[KETEN_ERRLEN], actor[320];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;	/* withdrawn by its auditor */
	if (fstat(fd, &st) == -1) {
		close(fd);
		return 0;
	}
	owner_name(st.st_uid, actor, sizeof(actor));
	e.kind = KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY;
	e.actor = actor;
	n = S_ISREG(st.st_mode) ? read(fd, buf, sizeof(buf)) : -1;
	close(fd);
	if (n < 0 || auditspool_parse(buf, (size_t)n, &q, err) != 0) {
		/* a record we cannot read is logged too, with what was wrong */
		if (n < 0)
			snprintf(err, sizeof(err), "not a readable regular file");
		e.reason_code = "malformed";
		e.reason = err;
		log_warnx("audit spool: %s from %s: %s; logged and removed", name, actor, err);
	} else {
		int seen = ledger_message_logged(l, txn, q.id,
		    KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY);
		if (seen < 0)
			return 0;	/* the ledger cannot be read: try again next batch */
		if (seen == 0) {
			e.message_id = (ProtobufCBinaryData){ 16, q.id };
			if (q.has_case)
				e.case_pseudonym = (ProtobufCBinaryData){ 32, q.pseudo };
			e.reason_code = q.verb;
			e.reason = q.text;
		}
		if (seen == 1) {	/* logged before a crash kept us from removing it */
			unlinkat(s->dirfd, name, 0);
			return 0;
		}
	}
	if (log(arg, txn, &e) != 0)
		return 0;	/* the map is full: the auditor's wait times out */
	memcpy(s->taken[s->ntaken++], name, AUDITSPOOL_NAMELEN + 1);
	return 1;
}

size_t
spool_collect(struct spool *s, struct ledger *l, MDB_txn *txn, bool force,
    int (*log)(void *, MDB_txn *, Keten__Ledger__V1__Entry *), void *arg)
{
	size_t logged = 0;
	DIR *d;
	int fd;
	struct dirent *de;

	if (!signalled(s) && !force && !s->more)
		return 0;
	if ((fd = dup(s->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	rewinddir(d);
	while (s->ntaken < SPOOL_BATCH && (de = readdir(d)) != NULL)
		if (auditspool_name_valid(de->d_name))
			logged += (size_t)take(s, l, txn, de->d_name, log, arg);
	closedir(d);
	s->more = s->ntaken == SPOOL_BATCH;
	return logged;
}

size_t
spool_taken(const struct spool *s)
{
	return s->ntaken;
}

void
spool_settle(struct spool *s, bool committed)
{
	for (size_t i = 0; committed && i < s->ntaken; i++)
		if (unlinkat(s->dirfd, s->taken[i], 0) == -1 && errno != ENOENT)
			log_warnx("audit spool: cannot remove %s: %s", s->taken[i], strerror(errno));
	s->ntaken = 0;
}
