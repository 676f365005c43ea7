/* The auditors' query log: records `keten audit` drops for the broker to log. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ledger/auditspool.h"
#include "common/util.h"

#define MAGIC "keten-audit-query/v1"

static bool
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

size_t
auditspool_format(const struct audit_query *q, char buf[static AUDITSPOOL_MAX])
{
	char id[33], ps[65] = "";
	int n;

	if (!printable(q->verb) || !printable(q->text) || q->verb[0] == '\0' ||
	    strchr(q->verb, ' '))
		return 0;
	sodium_bin2hex(id, sizeof(id), q->id, 16);
	if (q->has_case)
		sodium_bin2hex(ps, sizeof(ps), q->pseudo, 32);
	n = snprintf(buf, AUDITSPOOL_MAX, MAGIC "\nid %s\nverb %s\n%s%s%squery %s\n", id,
	    q->verb, q->has_case ? "case " : "", ps, q->has_case ? "\n" : "", q->text);
	return n < 0 || n >= AUDITSPOOL_MAX ? 0 : (size_t)n;
}

/* Copy a value into a fixed field; false if it does not fit. */
static bool
put(char *dst, size_t cap, const char *v, size_t len)
{
	if (len >= cap)
		return false;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return true;
}

int
auditspool_parse(const char *buf, size_t len, struct audit_query *q, char err[static KETEN_ERRLEN])
{
	bool seen_id = false, seen_verb = false, seen_query = false;
	size_t line = 0;
	const char *p = buf, *end = buf + len;

	memset(q, 0, sizeof(*q));
	if (len > AUDITSPOOL_MAX)
		return keten_seterr(err, KETEN_EINVAL, "record of %zu bytes (at most %d)", len,
		    AUDITSPOOL_MAX);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return keten_seterr(err, KETEN_EINVAL, "line %zu: no newline at the end", line + 1);
		line++;
		for (const char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				return keten_seterr(err, KETEN_EINVAL, "line %zu: byte 0x%02x is not "
				    "printable ASCII", line, (unsigned char)*c);
		size_t n = (size_t)(nl - p);
		if (line == 1) {
			if (n != strlen(MAGIC) || memcmp(p, MAGIC, n) != 0)
				return keten_seterr(err, KETEN_EINVAL, "line 1: not a %s record", MAGIC);
			p = nl + 1;
			continue;
		}
		const char *sp = memchr(p, ' ', n);
		if (sp == NULL)
			return keten_seterr(err, KETEN_EINVAL, "line %zu: expected \"key value\"", line);
		size_t kl = (size_t)(sp - p), vl = (size_t)(nl - sp - 1);
		const char *v = sp + 1;
		bool ok, dup = false;
		if (kl == 2 && memcmp(p, "id", 2) == 0) {
			dup = seen_id;
			ok = vl == 32 && sodium_hex2bin(q->id, 16, v, vl, NULL, NULL, NULL) == 0;
			seen_id = true;
		} else if (kl == 4 && memcmp(p, "verb", 4) == 0) {
			dup = seen_verb;
			ok = vl > 0 && memchr(v, ' ', vl) == NULL && put(q->verb, sizeof(q->verb), v, vl);
			seen_verb = true;
		} else if (kl == 4 && memcmp(p, "case", 4) == 0) {
			dup = q->has_case;
			ok = vl == 64 && sodium_hex2bin(q->pseudo, 32, v, vl, NULL, NULL, NULL) == 0;
			q->has_case = true;
		} else if (kl == 5 && memcmp(p, "query", 5) == 0) {
			dup = seen_query;
			ok = put(q->text, sizeof(q->text), v, vl);
			seen_query = true;
		} else {
			return keten_seterr(err, KETEN_EINVAL, "line %zu: unknown key \"%.*s\"", line,
			    (int)(kl > 32 ? 32 : kl), p);
		}
		if (dup)
			return keten_seterr(err, KETEN_EINVAL, "line %zu: \"%.*s\" given twice", line,
			    (int)kl, p);
		if (!ok)
			return keten_seterr(err, KETEN_EINVAL, "line %zu: bad value for \"%.*s\"", line,
			    (int)kl, p);
		p = nl + 1;
	}
	if (line == 0)
		return keten_seterr(err, KETEN_EINVAL, "empty record");
	if (!seen_id || !seen_verb || !seen_query)
		return keten_seterr(err, KETEN_EINVAL, "missing %s", !seen_id ? "id" :
		    !seen_verb ? "verb" : "query");
	return 0;
}

bool
auditspool_name_valid(const char *name)
{
	if (strlen(name) != AUDITSPOOL_NAMELEN || strcmp(name + 32, ".q") != 0)
		return false;
	for (int i = 0; i < 32; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

int
auditspool_broker_running(const char *data_dir)
{
	char path[4096];
	int fd, running;

	snprintf(path, sizeof(path), "%s/daemon.lock", data_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : 1;
	running = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);	/* releases a lock we took */
	return running;
}

int
auditspool_log(const char *data_dir, const struct audit_query *q, int64_t timeout_ms,
    char err[static KETEN_ERRLEN])
{
	char buf[AUDITSPOOL_MAX], path[4096], id[33];
	size_t len;
	int rc;

	if ((len = auditspool_format(q, buf)) == 0)
		return keten_seterr(err, KETEN_EINVAL, "the query is too long to be logged");
	sodium_bin2hex(id, sizeof(id), q->id, 16);
	snprintf(path, sizeof(path), "%s/" AUDITSPOOL_DIR "/%s.q", data_dir, id);
	if ((rc = file_write_atomic(path, buf, len, 0644, err)) != 0) {
		char why[KETEN_ERRLEN];	/* err is both the reason and the result */
		snprintf(why, sizeof(why), "%s", err);
		return keten_seterr(err, rc, "cannot log this query with the broker: %s", why);
	}
	for (int64_t start = mono_ms(); access(path, F_OK) == 0;) {
		if (mono_ms() - start > timeout_ms) {
			if (unlink(path) == 0)
				return keten_seterr(err, KETEN_EIO, "the broker did not log this query "
				    "within %lld ms (is keten-broker serving %s?); the query did not run",
				    (long long)timeout_ms, data_dir);
			break;	/* taken by the broker just now */
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}
