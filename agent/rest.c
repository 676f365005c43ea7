/* The agent's REST/JSON API for partner systems (see rest.h): listeners, limits, authentication, routing, and the control socket to the agent. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent/rest.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"
#include "schemas/codec.h"
#include "schemas/local.pb-c.h"
#include "agent/rest_int.h"


/* --- responses ----------------------------------------------------------- */

enum MHD_Result
rest_send_text(struct MHD_Connection *c, unsigned status, const char *type, char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"keten\"");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Send j (consumed) as the JSON body. */
enum MHD_Result
rest_send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL)
		return MHD_NO;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);	/* one line: a trailing newline for curl users */
	if (t == NULL) {
		free(s);
		return MHD_NO;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return rest_send_text(c, status, "application/json", t);
}

/* {"error": {"code": CODE, "message": ...}} plus optional fields. */
enum MHD_Result
rest_send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

enum MHD_Result
rest_send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rest_send_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", msg));
}

/* --- the agent, over the control socket ---------------------------------- */

/*
 * Each connection's thread keeps one socket to the agent loop for all its
 * requests: a socket per request cost a connect and a close (two wake-ups of
 * the loop, one of ZeroMQ's reaper) each time.  A socket is kept only while
 * every request sent on it has had its reply (rest_control_release), so a
 * late reply can never answer the next request; it is closed when its
 * thread ends (MHD_stop_daemon joins them before the context is ended).
 */
static pthread_key_t control_key;
static pthread_once_t control_once = PTHREAD_ONCE_INIT;

static void
control_key_drop(void *s)
{
	zmq_close(s);
}

static void
control_key_make(void)
{
	if (pthread_key_create(&control_key, control_key_drop) != 0)
		abort();
}

/* This thread's socket to the agent loop (NULL: none); give it back with rest_control_release. */
void *
rest_control_socket(struct rest *r)
{
	void *s;
	int zero = 0;

	pthread_once(&control_once, control_key_make);
	if ((s = pthread_getspecific(control_key)) != NULL) {
		pthread_setspecific(control_key, NULL);
		return s;
	}
	if ((s = zmq_socket(r->zctx, ZMQ_DEALER)) == NULL)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(s, REST_CONTROL) != 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

/*
 * answered: every request sent on s had its reply, s is kept for this
 * thread's next request; otherwise (a reply may still come) it is closed.
 */
void
rest_control_release(void *s, bool answered)
{
	if (s == NULL)
		return;
	if (!answered || pthread_setspecific(control_key, s) != 0)
		zmq_close(s);
}

/* Send one request; the agent answers requests on one socket in order. */
int
rest_control_put(void *s, const Keten__Local__V1__LocalRequest *req)
{
	size_t n = keten__local__v1__local_request__get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	int rc = -1;

	if (buf != NULL) {
		keten__local__v1__local_request__pack(req, buf);
		rc = zmq_send(s, buf, n, 0) < 0 ? -1 : 0;
	}
	free(buf);
	return rc;
}

/* The next reply within timeout_ms (a request the agent holds until its event). */
static Keten__Local__V1__LocalReply *
control_get_within(void *s, long timeout_ms)
{
	Keten__Local__V1__LocalReply *rep = NULL;
	zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };

	if (zmq_poll(&it, 1, timeout_ms) == 1) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) >= 0)
			rep = keten__local__v1__local_reply__unpack(NULL, zmq_msg_size(&m),
			    zmq_msg_data(&m));
		zmq_msg_close(&m);
	}
	return rep;
}

/* The next reply, or NULL when the agent does not answer in time. */
Keten__Local__V1__LocalReply *
rest_control_get(void *s)
{
	return control_get_within(s, ASK_TIMEOUT_MS);
}

/* Send req to the agent loop and wait for its reply (NULL: no answer). */
Keten__Local__V1__LocalReply *
rest_ask(struct rest *r, const Keten__Local__V1__LocalRequest *req)
{
	void *s = rest_control_socket(r);
	Keten__Local__V1__LocalReply *rep = NULL;

	if (s != NULL && rest_control_put(s, req) == 0)
		rep = rest_control_get(s);
	rest_control_release(s, rep != NULL);
	return rep;
}

/*
 * A long poll: a status or inbox request that the agent holds until its
 * event (the broker decided, a message arrived) or until `until`; asked again
 * while not done(reply) and time is left (an agent with too many waiting
 * answers at once: then after pause_ms).  The last reply (NULL: none).
 */
Keten__Local__V1__LocalReply *
rest_ask_until(struct rest *r, const Keten__Local__V1__LocalRequest *lr, int64_t until, long pause_ms,
    bool (*done)(const Keten__Local__V1__LocalReply *))
{
	void *s = rest_control_socket(r);
	Keten__Local__V1__LocalReply *rep = NULL;

	for (;;) {
		int64_t left = until - mono_ms();
		uint32_t wait = left > 0 ? (uint32_t)(left < LOCAL_WAIT_MAX_MS ? left : LOCAL_WAIT_MAX_MS) : 0;
		if (lr->req_case == KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_STATUS)
			lr->status->wait_ms = wait;
		else if (lr->req_case == KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX)
			lr->inbox->wait_ms = wait;
		int64_t asked = mono_ms();
		if (s == NULL || rest_control_put(s, lr) != 0 ||
		    (rep = control_get_within(s, (long)wait + ASK_TIMEOUT_MS)) == NULL || done(rep) ||
		    mono_ms() >= until)
			break;
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
		rep = NULL;
		if (mono_ms() - asked < pause_ms) {	/* answered at once: not held */
			struct timespec ts = { 0, pause_ms * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	rest_control_release(s, rep != NULL);
	return rep;
}

/* --- JSON helpers -------------------------------------------------------- */

/* --- routes -------------------------------------------------------------- */

/* --- dispatch ------------------------------------------------------------ */

static bool
authorized(struct rest *r, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	uint8_t hash[32];

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	/* digests of equal length: neither the token nor its length leaks through timing */
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)h + 7, strlen(h + 7), NULL, 0);
	return sodium_memcmp(hash, r->token_hash, sizeof(hash)) == 0;
}

/* /v1/inbox/{id}[/ack] and /v1/messages/{id}: the id parsed, the rest in *tail. */
static bool
path_id(const char *url, const char *prefix, uint8_t id[static 16], char ids[static 37],
    const char **tail)
{
	size_t n = strlen(prefix);

	if (strncmp(url, prefix, n) != 0 || strlen(url + n) < 36)
		return false;
	memcpy(ids, url + n, 36);
	ids[36] = '\0';
	*tail = url + n + 36;
	return uuid_parse(id, ids) == 0;
}

static enum MHD_Result
method_not_allowed(struct MHD_Connection *c, const char *allow)
{
	struct MHD_Response *resp;
	char *s = strdup("{\"error\":{\"code\":\"method-not-allowed\",\"message\":\"see Allow\"}}\n");
	enum MHD_Result rc;

	if (s == NULL ||
	    (resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
route(struct rest *r, bool need_token, struct MHD_Connection *c, const char *url,
    const char *method, const struct req *q)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	uint8_t id[16];
	char ids[37];
	const char *tail;

	if (strcmp(url, "/healthz") == 0)
		return get ? rest_get_metrics(r, c, true) : method_not_allowed(c, "GET");
	if (need_token && !authorized(r, c))
		return rest_send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing or wrong bearer "
		    "token (Authorization: Bearer TOKEN, the agent's api_token file)");
	if (strcmp(url, "/metrics") == 0)
		return get ? rest_get_metrics(r, c, false) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/messages") == 0)
		return post ? rest_post_message(r, c, q) : method_not_allowed(c, "POST");
	if (strcmp(url, "/v1/inbox") == 0)
		return get ? rest_get_inbox(r, c) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/outbox") == 0)
		return get ? rest_get_outbox(r, c) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/policy/explain") == 0)
		return get ? rest_get_explain(r, c) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/schemas") == 0)
		return get ? rest_get_schemas(c) : method_not_allowed(c, "GET");
	if (strncmp(url, "/v1/messages/", 13) == 0) {
		if (!path_id(url, "/v1/messages/", id, ids, &tail) || *tail != '\0')
			return rest_send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "expected "
			    "/v1/messages/{message id (UUID)}");
		return get ? rest_get_message(r, c, id, ids) : method_not_allowed(c, "GET");
	}
	if (strncmp(url, "/v1/inbox/", 10) == 0) {
		if (!path_id(url, "/v1/inbox/", id, ids, &tail) || (*tail && strcmp(tail, "/ack") != 0))
			return rest_send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "expected "
			    "/v1/inbox/{message id (UUID)} or /v1/inbox/{id}/ack");
		if (*tail == '\0')
			return get ? rest_inbox_one(r, c, id, false) : method_not_allowed(c, "GET");
		return post ? rest_inbox_one(r, c, id, true) : method_not_allowed(c, "POST");
	}
	return rest_send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no route %.100s (see "
	    "schemas/openapi.yaml)", url);
}

/* Each Content-Length header, to find two that differ. */
struct lengths {
	const char *first;
	bool differ;
	unsigned n;
};

static enum MHD_Result
count_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct lengths *ls = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (ls->n++ == 0)
			ls->first = value;
		else if (value == NULL || ls->first == NULL || strcmp(value, ls->first) != 0)
			ls->differ = true;
	}
	return MHD_YES;
}

/*
 * What can be refused as soon as the headers are in, before any of the
 * body is read (so a client that says "Expect: 100-continue" for 900 MB
 * gets 413, not "100 Continue"): a %00 in the URL, Content-Length twice
 * with different values or beside Transfer-Encoding (request smuggling),
 * a declared length above api_max_body_bytes.  MHD_YES: none of these.
 */
static enum MHD_Result
refuse_early(struct rest *r, struct MHD_Connection *c, bool *refused)
{
	struct lengths ls = { NULL, false, 0 };
	const char *te;

	*refused = true;
	if (rest_guard_nul(r, c))
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "the URL holds a NUL "
		    "byte (%%00)");
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &ls);
	te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (ls.differ)
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "Content-Length given "
		    "twice with different values");
	if (ls.n > 0 && te != NULL)
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "both Content-Length and "
		    "Transfer-Encoding given");
	if (ls.n > 0) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(ls.first, &end, 10);
		const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_EXPECT);
		/* too big: answered now when the client waits for "100 Continue" or
		 * announces more than DRAIN_MAX_BYTES; a smaller body is read and
		 * dropped first (within the body deadline), so that an ordinary
		 * client that sends before it listens reads the 413 instead of a
		 * reset connection */
		if (errno != 0 || end == ls.first || *end != '\0' ||
		    (n > r->max_body && (expect != NULL || n > DRAIN_MAX_BYTES)))
			return rest_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", "request body "
			    "of %.24s bytes is larger than %zu bytes (api_max_body_bytes)", ls.first,
			    r->max_body);
	}
	*refused = false;
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct rest *r = l->r;
	struct req *q = *con_cls;

	(void)version;
	if (q == NULL) {	/* headers are in: check them, set up the body */
		bool refused;
		enum MHD_Result rc = refuse_early(r, c, &refused);
		if (refused)
			return rc;
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return MHD_NO;
		q->chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH) == NULL;
		*con_cls = q;
		rest_guard_phase(r, c, REST_PHASE_BODY);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (q->too_big || q->len + *upload_size > r->max_body) {
			/* too big: dropped as it comes, up to DRAIN_MAX_BYTES (then 413);
			 * beyond that (a chunked body without end) the connection is closed */
			q->drained += *upload_size;
			*upload_size = 0;
			q->too_big = true;
			/* a chunked body has no announced end: closed at once */
			return q->chunked || q->drained > DRAIN_MAX_BYTES ? MHD_NO : MHD_YES;
		}
		if (q->len + *upload_size > q->cap) {
			size_t cap = q->cap ? q->cap : 4096;
			while (cap < q->len + *upload_size)
				cap *= 2;
			char *nb = realloc(q->body, cap);
			if (nb == NULL)
				return MHD_NO;
			q->body = nb;
			q->cap = cap;
		}
		memcpy(q->body + q->len, upload, *upload_size);
		q->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big)
		return rest_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", "request body "
		    "larger than %zu bytes (api_max_body_bytes)", r->max_body);
	rest_guard_phase(r, c, REST_PHASE_ANSWER);
	return route(r, l->need_token, c, url, method, q);
}

static void
on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)toe;
	rest_guard_phase(cls, c, REST_PHASE_HEADERS);	/* kept alive: the next request's clock */
	if (q != NULL) {
		free(q->body);
		free(q);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct rest *r = cls;
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	if (strstr(line, "connection limit") != NULL) {
		/* a client refused for want of a thread: never silently */
		int64_t now = mono_ms();
		pthread_mutex_lock(&r->guard_mu);
		bool say = ++r->limit_refused == 1 || now - r->limit_logged_ms >= 10000;
		if (say)
			r->limit_logged_ms = now;
		uint64_t n = r->limit_refused;
		pthread_mutex_unlock(&r->guard_mu);
		if (say)
			log_warnx("api: all api_max_connections connections in use: a new one was "
			    "refused (%llu so far); slow clients are closed after %d s", (unsigned long long)n,
			    HEADER_TIMEOUT_MS / 1000);
		return;
	}
	log_debug("api: %s", line);
}

/*
 * The token file: 0600, or 0640 for a partner system's account that reads it
 * through the file's group; one line with at least 32 printable characters.
 */
int
rest_read_token(const char *path, uint8_t hash[static 32], char err[static KETEN_ERRLEN])
{
	char *buf = NULL;
	size_t len = 0, size;
	int rc;

	if ((rc = shared_secret_file_read(path, 4096, &buf, &len, err)) != 0)
		return rc;
	size = len;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	bool ok = len >= 32 && len <= TOKEN_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = buf[i] > 0x20 && buf[i] < 0x7f;
	if (!ok) {
		secret_file_free(&buf, size);
		return keten_seterr(err, KETEN_EINVAL, "%s: the API token must be one line of 32 to %d "
		    "printable characters without spaces (e.g. head -c 32 /dev/urandom | base64)",
		    path, TOKEN_MAX);
	}
	crypto_generichash(hash, 32, (const uint8_t *)buf, len, NULL, 0);
	secret_file_free(&buf, size);
	return 0;
}

/* Start libmicrohttpd on listener l, bound to sa or to the listening socket fd. */
static int
listen_on(struct listener *l, const struct agent_config *cfg, const struct sockaddr *sa, int fd)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_POLL | MHD_USE_ERROR_LOG | (sa != NULL && sa->sa_family == AF_INET6 ?
	    MHD_USE_IPv6 : 0);

	if (sa != NULL)
		l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
		    MHD_OPTION_SOCK_ADDR, sa,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->api_max_connections,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->api_max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(WAIT_MAX_S + 30),
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, l->r,
		    MHD_OPTION_NOTIFY_CONNECTION, rest_guard_notify, l,
		    MHD_OPTION_UNESCAPE_CALLBACK, rest_guard_unescape, l,
		    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, l->r,
		    MHD_OPTION_END);
	else
		l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
		    MHD_OPTION_LISTEN_SOCKET, fd,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->api_max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(WAIT_MAX_S + 30),
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, l->r,
		    MHD_OPTION_NOTIFY_CONNECTION, rest_guard_notify, l,
		    MHD_OPTION_UNESCAPE_CALLBACK, rest_guard_unescape, l,
		    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, l->r,
		    MHD_OPTION_END);
	return l->mhd ? 0 : -1;
}

/*
 * The Unix socket for local clients (the keten CLI, partner systems on this
 * host), without a token: DATA_DIR/api.sock, mode 0600, which the 0700 data
 * directory guards; or api_socket, mode 0660, which the agent's group may
 * use: the directory it is in decides who reaches it (a systemd
 * RuntimeDirectory of mode 0750 with the agent's group, docs/operator.md).
 */
static int
unix_listener(struct rest *r, const struct agent_config *cfg, char err[static KETEN_ERRLEN])
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if ((cfg->api_socket != NULL && (r->sock_path = strdup(cfg->api_socket)) == NULL) ||
	    (cfg->api_socket == NULL && asprintf(&r->sock_path, "%s/api.sock", cfg->data_dir) < 0)) {
		r->sock_path = NULL;
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	if (strlen(r->sock_path) >= sizeof(sun.sun_path))
		return keten_seterr(err, KETEN_EINVAL, "%s: path too long for a Unix socket (at most "
		    "%zu bytes): use a shorter data_dir", r->sock_path, sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, r->sock_path);
	unlink(r->sock_path);	/* a stale socket: the data directory lock says we own it */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(r->sock_path, cfg->api_socket != NULL ? 0660 : 0600) == -1 ||
	    listen(fd, 64) == -1) {
		int e = errno;
		if (fd != -1)
			close(fd);
		return keten_seterr(err, KETEN_EIO, "%s: %s", r->sock_path, strerror(e));
	}
	if (listen_on(&r->local, cfg, NULL, fd) != 0) {
		close(fd);
		return keten_seterr(err, KETEN_EIO, "%s: cannot serve the API", r->sock_path);
	}
	return 0;
}

int
rest_start(const struct agent_config *cfg, void *zctx, const uint8_t token_hash[static 32],
    struct rest **out, char err[static KETEN_ERRLEN])
{
	struct rest *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	r->zctx = zctx;
	r->max_body = cfg->api_max_body_bytes;
	r->tcp = (struct listener){ r, NULL, true };
	r->local = (struct listener){ r, NULL, false };
	if (rest_guard_start(r) != 0) {
		rc = keten_seterr(err, KETEN_ENOMEM, "cannot start the API's connection watchdog");
		goto fail;
	}
	/* TCP first: api.sock appearing is the sign, for scripts, that the API is up */
	if (cfg->api_listen != NULL) {
		memcpy(r->token_hash, token_hash, sizeof(r->token_hash));
		if (listen_on(&r->tcp, cfg, (const struct sockaddr *)&cfg->api_addr, -1) != 0) {
			rc = keten_seterr(err, KETEN_EIO, "cannot listen for the API on %s (in use?)",
			    cfg->api_listen);
			goto fail;
		}
	}
	if ((rc = unix_listener(r, cfg, err)) != 0)
		goto fail;
	*out = r;
	return 0;
fail:
	rest_stop(&r);
	return rc;
}

void
rest_stop(struct rest **rp)
{
	struct rest *r;

	if (rp == NULL || (r = *rp) == NULL)
		return;
	rest_guard_stop(r);
	if (r->tcp.mhd)
		MHD_stop_daemon(r->tcp.mhd);
	if (r->local.mhd)
		MHD_stop_daemon(r->local.mhd);
	rest_guard_free(r);
	if (r->sock_path) {
		unlink(r->sock_path);
		free(r->sock_path);
	}
	sodium_memzero(r->token_hash, sizeof(r->token_hash));
	free(r);
	*rp = NULL;
}
