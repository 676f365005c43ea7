/* The broker's /healthz and /metrics (Prometheus text 0.0.4) over libmicrohttpd. */
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metrics.h"
#include "common/log.h"

/* Rejection reasons: the ledger's reason codes, then refusals the agent retries. */
static const char *const reasons[] = {
	"malformed", "unknown-recipient", "not-allowed", "policy", "policy-changed", "signature",
	"clock", "storage", "rate-limited", "no-session", "error",
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))
#define REASON_OTHER (NREASONS - 1)

/* Commit latency (s): the fsync dominates, ~0.35-1 ms on the build machine (DESIGN.md). */
static const double commit_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};
/* Commands per commit: 1 when idle, up to batch_max (default 1024) under load. */
static const double batch_bounds[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384, 65536,
};
#define NBUCKETS (sizeof(commit_bounds) / sizeof(commit_bounds[0]))
_Static_assert(sizeof(batch_bounds) == sizeof(commit_bounds), "same bucket count");

struct histogram {
	const double *bounds;
	uint64_t counts[NBUCKETS + 1];	/* per bucket, not cumulative; the last is +Inf */
	uint64_t count;
	double sum;
};

struct counts {
	uint64_t accepted, duplicate, delivered, expired;
	uint64_t rejected[NREASONS];
};

struct metrics {
	struct counts done, pending;
	uint64_t sent;
	uint64_t pages_written;		/* LMDB pages the commits wrote */
	struct histogram commit, batch;
	struct MHD_Daemon *daemon;
	int epoll_fd;
	metrics_fill_fn *fill;
	void *fill_arg;
	struct metrics_state st;	/* reused at every request */
};

int
metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return KETEN_ENOMEM;
	m->commit.bounds = commit_bounds;
	m->batch.bounds = batch_bounds;
	m->epoll_fd = -1;
	*out = m;
	return 0;
}

void
metrics_free(struct metrics **mp)
{
	struct metrics *m;

	if (mp == NULL || (m = *mp) == NULL)
		return;
	if (m->daemon != NULL)
		MHD_stop_daemon(m->daemon);
	free(m->st.recipients);
	free(m);
	*mp = NULL;
}

int
metrics_state_queue(struct metrics_state *st, const char *recipient, uint64_t depth)
{
	if (strlen(recipient) >= sizeof(st->recipients[0].recipient) ||
	    st->nrecipients >= METRICS_MAX_RECIPIENTS)
		return KETEN_ETOOBIG;
	if (st->nrecipients == st->caprecipients) {
		size_t cap = st->caprecipients ? 2 * st->caprecipients : 16;
		struct metrics_queue *n = realloc(st->recipients, cap * sizeof(*n));
		if (n == NULL)
			return KETEN_ENOMEM;
		st->recipients = n;
		st->caprecipients = cap;
	}
	struct metrics_queue *q = &st->recipients[st->nrecipients++];
	strcpy(q->recipient, recipient);
	q->depth = depth;
	return 0;
}

/* ---- counting ---- */

void
metrics_accepted(struct metrics *m)
{
	m->pending.accepted++;
}

void
metrics_duplicate(struct metrics *m)
{
	m->pending.duplicate++;
}

void
metrics_rejected(struct metrics *m, const char *reason)
{
	size_t i;

	for (i = 0; i < REASON_OTHER; i++)
		if (strcmp(reasons[i], reason) == 0)
			break;
	m->pending.rejected[i]++;
}

void
metrics_delivered(struct metrics *m)
{
	m->pending.delivered++;
}

void
metrics_expired(struct metrics *m)
{
	m->pending.expired++;
}

void
metrics_sent(struct metrics *m, uint64_t n)
{
	m->sent += n;
}

static void
observe(struct histogram *h, double v)
{
	size_t i = 0;

	while (i < NBUCKETS && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_batch_commit(struct metrics *m, double seconds, uint64_t commands, uint64_t pages)
{
	m->pages_written += pages;
	struct counts *d = &m->done, *p = &m->pending;

	d->accepted += p->accepted;
	d->duplicate += p->duplicate;
	d->delivered += p->delivered;
	d->expired += p->expired;
	for (size_t i = 0; i < NREASONS; i++)
		d->rejected[i] += p->rejected[i];
	memset(p, 0, sizeof(*p));
	observe(&m->commit, seconds);
	observe(&m->batch, (double)commands);
}

void
metrics_batch_abort(struct metrics *m)
{
	memset(&m->pending, 0, sizeof(m->pending));
}

/* ---- rendering ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static int
sb_finish(struct sbuf *b, char **out, size_t *len)
{
	if (b->oom || b->p == NULL) {
		free(b->p);
		return KETEN_ENOMEM;
	}
	*out = b->p;
	*len = b->len;
	return 0;
}

static void
family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the exposition format requires. */
static void
label_value(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			sb_printf(b, "\\\\");
		else if (*s == '"')
			sb_printf(b, "\\\"");
		else if (*s == '\n')
			sb_printf(b, "\\n");
		else
			sb_printf(b, "%c", *s);
	}
}

static void
histogram(struct sbuf *b, const char *name, const char *help, const struct histogram *h)
{
	uint64_t cum = 0;

	family(b, name, "histogram", help);
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += h->counts[i];
		sb_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, h->bounds[i], cum);
	}
	cum += h->counts[NBUCKETS];
	sb_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	sb_printf(b, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

int
metrics_render(const struct metrics *m, const struct metrics_state *st, char **out, size_t *len)
{
	struct sbuf b = { 0 };
	const struct counts *d = &m->done;
	uint64_t rejected = 0;

	for (size_t i = 0; i < NREASONS; i++)
		rejected += d->rejected[i];
	family(&b, "keten_broker_submissions_total", "counter",
	    "Submissions answered by the broker since it started, by result (duplicate: accepted "
	    "before, acknowledged again).");
	sb_printf(&b, "keten_broker_submissions_total{result=\"accepted\"} %" PRIu64 "\n"
	    "keten_broker_submissions_total{result=\"duplicate\"} %" PRIu64 "\n"
	    "keten_broker_submissions_total{result=\"rejected\"} %" PRIu64 "\n",
	    d->accepted, d->duplicate, rejected);
	family(&b, "keten_broker_rejections_total", "counter",
	    "Submissions refused since the broker started, by reason (the ledger's reason code; "
	    "storage and no-session are retried by the agent).");
	for (size_t i = 0; i < NREASONS; i++)
		sb_printf(&b, "keten_broker_rejections_total{reason=\"%s\"} %" PRIu64 "\n", reasons[i],
		    d->rejected[i]);
	family(&b, "keten_broker_deliveries_total", "counter",
	    "Copies acknowledged by their recipient agent (logged as delivered) since the broker "
	    "started.");
	sb_printf(&b, "keten_broker_deliveries_total %" PRIu64 "\n", d->delivered);
	family(&b, "keten_broker_delivery_sends_total", "counter",
	    "Delivery frames sent to recipient agents since the broker started, resends included.");
	sb_printf(&b, "keten_broker_delivery_sends_total %" PRIu64 "\n", m->sent);
	family(&b, "keten_broker_expired_total", "counter",
	    "Queued copies removed undelivered because the retention of their rule ended.");
	sb_printf(&b, "keten_broker_expired_total %" PRIu64 "\n", d->expired);
	family(&b, "keten_broker_lmdb_pages_written_total", "counter",
	    "LMDB pages (and meta pages) the broker's commits wrote; per message: divide by "
	    "keten_broker_submissions_total{result=\"accepted\"}.");
	sb_printf(&b, "keten_broker_lmdb_pages_written_total %" PRIu64 "\n", m->pages_written);
	family(&b, "keten_broker_ledger_entries_total", "counter",
	    "Entries in the audit ledger (its size; it only grows).");
	sb_printf(&b, "keten_broker_ledger_entries_total %" PRIu64 "\n", st->ledger_entries);
	family(&b, "keten_broker_queue_depth", "gauge",
	    "Copies queued for a recipient agency, not yet acknowledged by it.");
	for (size_t i = 0; i < st->nrecipients; i++) {
		sb_printf(&b, "keten_broker_queue_depth{recipient=\"");
		label_value(&b, st->recipients[i].recipient);
		sb_printf(&b, "\"} %" PRIu64 "\n", st->recipients[i].depth);
	}
	family(&b, "keten_broker_connected_agents", "gauge",
	    "Agencies with a session heard from within three heartbeats.");
	sb_printf(&b, "keten_broker_connected_agents %" PRIu64 "\n", st->connected_agents);
	family(&b, "keten_broker_storage_used_bytes", "gauge", "Bytes of the LMDB map in use.");
	sb_printf(&b, "keten_broker_storage_used_bytes %" PRIu64 "\n", st->storage_used);
	family(&b, "keten_broker_storage_limit_bytes", "gauge",
	    "Bytes in use above which new submissions are refused (80% of map_size_mb).");
	sb_printf(&b, "keten_broker_storage_limit_bytes %" PRIu64 "\n", st->storage_limit);
	family(&b, "keten_broker_storage_map_bytes", "gauge", "The LMDB map size (map_size_mb).");
	sb_printf(&b, "keten_broker_storage_map_bytes %" PRIu64 "\n", st->storage_map);
	family(&b, "keten_broker_storage_refusing", "gauge",
	    "1 while new submissions are refused because storage is nearly full, else 0.");
	sb_printf(&b, "keten_broker_storage_refusing %d\n", st->refusing ? 1 : 0);
	histogram(&b, "keten_broker_commit_seconds",
	    "Time to commit one batch (LMDB commit with fsync).", &m->commit);
	histogram(&b, "keten_broker_batch_size", "Commands applied per commit.", &m->batch);
	return sb_finish(&b, out, len);
}

int
metrics_render_health(const struct metrics_state *st, char **out, size_t *len)
{
	struct sbuf b = { 0 };

	sb_printf(&b, "{\"status\":\"%s\",\"storage\":\"%s\",\"ledger_entries\":%" PRIu64
	    ",\"connected_agents\":%" PRIu64 ",\"queued\":%" PRIu64 ",\"storage_used_bytes\":%" PRIu64
	    ",\"storage_limit_bytes\":%" PRIu64 "}\n",
	    st->refusing ? "refusing-submissions" : "ok", st->refusing ? "nearly-full" : "ok",
	    st->ledger_entries, st->connected_agents, st->queued, st->storage_used,
	    st->storage_limit);
	return sb_finish(&b, out, len);
}

/* ---- HTTP ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warnx("metrics http: %s", line);
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
    bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
	    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;	/* closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return reply(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text), false);
}

static const struct metrics_state *
refresh(struct metrics *m)
{
	struct metrics_state *st = &m->st;
	struct metrics_queue *keep = st->recipients;
	size_t cap = st->caprecipients;

	memset(st, 0, sizeof(*st));
	st->recipients = keep;
	st->caprecipients = cap;
	if (m->fill != NULL)
		m->fill(m->fill_arg, st);
	return st;
}

/*
 * Every request is answered on the first call, once its headers are in:
 * nothing here takes a body, so one announced is refused unread (MHD then
 * closes the connection).
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	struct metrics *m = cls;
	const char *cl, *te;
	char *body = NULL;
	size_t len = 0;

	(void)version;
	(void)upload;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD\n");
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (*upload_size != 0 || te != NULL || (cl != NULL && strcmp(cl, "0") != 0))
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request bodies are not accepted\n");
	if (strcmp(url, "/metrics") == 0) {
		if (metrics_render(m, refresh(m), &body, &len) != 0)
			return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len, true);
	}
	if (strcmp(url, "/healthz") == 0) {
		const struct metrics_state *st = refresh(m);
		if (metrics_render_health(st, &body, &len) != 0)
			return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return reply(c, st->refusing ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
		    "application/json", body, len, true);
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");
}

int
metrics_listen(struct metrics *m, const struct sockaddr *addr, socklen_t len,
    metrics_fill_fn *fill, void *arg, char err[static KETEN_ERRLEN])
{
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	uint16_t port;
	const union MHD_DaemonInfo *info;

	if (addr->sa_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	} else {
		port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
	}
	(void)len;
	m->fill = fill;
	m->fill_arg = arg;
	m->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,	/* first: it covers the others */
	    MHD_OPTION_SOCK_ADDR, addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_CONN_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEMORY_LIMIT,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)METRICS_CONN_LIMIT,
	    MHD_OPTION_END);
	if (m->daemon == NULL)
		return keten_seterr(err, KETEN_EIO, "cannot serve metrics on port %u (address in "
		    "use, or not an address of this host)", (unsigned)port);
	if ((info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		MHD_stop_daemon(m->daemon);
		m->daemon = NULL;
		return keten_seterr(err, KETEN_EIO, "metrics: libmicrohttpd has no epoll descriptor");
	}
	m->epoll_fd = info->epoll_fd;
	return 0;
}

int
metrics_fd(const struct metrics *m)
{
	return m != NULL && m->daemon != NULL ? m->epoll_fd : -1;
}

long
metrics_timeout(struct metrics *m, long max_ms)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (m == NULL || m->daemon == NULL || MHD_get_timeout(m->daemon, &t) != MHD_YES)
		return max_ms;
	return t < (MHD_UNSIGNED_LONG_LONG)max_ms ? (long)t : max_ms;
}

void
metrics_run(struct metrics *m)
{
	if (m != NULL && m->daemon != NULL)
		MHD_run(m->daemon);
}
