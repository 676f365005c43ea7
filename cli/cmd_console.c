/*
 * keten console: the server (cli/console.h, docs/console.md).
 *
 * One person at a time: libmicrohttpd's own polling thread answers one
 * request after another (a page may take a second: it runs keten commands).
 * GET and HEAD only; nothing is ever written.  Bound to 127.0.0.1 unless
 * --listen says otherwise, and then only with --token-file: the token comes
 * as "Authorization: Bearer T" or, for a browser, once as ?token=T, which
 * sets a cookie.  On loopback the Host header must name loopback (a web page
 * elsewhere cannot reach the console through DNS rebinding).  Pages carry a
 * Content-Security-Policy that allows no script at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "cli/console.h"
#include "common/utf8.h"
#include "common/util.h"

extern char **environ;

#define DEFAULT_LISTEN "127.0.0.1:7470"
#define TOKEN_MAX 256
#define COOKIE "keten_console"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten console [--listen HOST:PORT] [--token-file FILE]\n"
	    "                     [--policy POLICY.yaml] [--directory DIRECTORY.yaml]\n"
	    "                     [--old-policy OLD.yaml] [--root ROOT.yaml]\n"
	    "                     [--ledger BROKER_DATA_DIR] [--key BROKER_PUBLIC]\n"
	    "                     [--network-key FILE]\n"
	    "  a read-only web console over the files given: the sharing matrix of\n"
	    "  --policy, what changes from --old-policy (with --root: who approved; with\n"
	    "  --ledger: the shadow preview over recorded traffic), each case of --ledger\n"
	    "  as a timeline (--network-key: find a case by its reference), the ledger's\n"
	    "  health (--key: verified).  Every page has a JSON twin at PATH.json.\n"
	    "  --listen   default " DEFAULT_LISTEN "; PORT 0 picks a free port.  A\n"
	    "             host other than loopback needs --token-file (the token, one\n"
	    "             line, mode 0600): clients send \"Authorization: Bearer TOKEN\",\n"
	    "             a browser opens http://HOST:PORT/?token=TOKEN once\n"
	    "  It prints its URL and serves until SIGINT or SIGTERM.  docs/console.md\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

/* ---- children: keten's own commands, their JSON read back ---- */

char *
console_run_text(const struct console *c, const char *const *argv, int *exit_code,
    char err[static KETEN_ERRLEN])
{
	const char *av[32];
	int out[2] = { -1, -1 }, er[2] = { -1, -1 }, status = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t n = 0;

	av[n++] = "keten";
	for (size_t i = 0; argv[i] != NULL && n < 31; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	*exit_code = -1;
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(er, O_CLOEXEC) != 0) {
		snprintf(err, KETEN_ERRLEN, "pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	/* the server blocks SIGINT and SIGTERM (sigwait) and ignores SIGPIPE:
	 * the child starts with neither */
	posix_spawnattr_t sa;
	sigset_t none, dflt;
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGTERM);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &dflt);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawn(&pid, c->exe, &fa, &sa, (char *const *)av, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(er[1]);
	out[1] = er[1] = -1;
	if (rc != 0) {
		snprintf(err, KETEN_ERRLEN, "%.200s: %s", c->exe, strerror(rc));
		goto fail;
	}

	struct buf ob = { 0 }, eb = { 0 };
	int64_t deadline = now_ms() + CONSOLE_CHILD_TIMEOUT_MS;
	bool open_o = true, open_e = true, killed = false;
	while (open_o || open_e) {
		struct pollfd p[2] = { { out[0], POLLIN, 0 }, { er[0], POLLIN, 0 } };
		int64_t left = deadline - now_ms();
		if (left <= 0 || ob.len > CONSOLE_CHILD_MAX_BYTES) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		p[0].fd = open_o ? out[0] : -1;
		p[1].fd = open_e ? er[0] : -1;
		if (poll(p, 2, (int)left) < 0 && errno != EINTR) {
			kill(pid, SIGKILL);	/* not left running with no one reading */
			killed = true;
			break;
		}
		for (int k = 0; k < 2; k++) {
			char chunk[65536];
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = read(p[k].fd, chunk, sizeof(chunk));
			if (got <= 0) {
				if (k == 0)
					open_o = false;
				else
					open_e = false;
				continue;
			}
			struct buf *b = k == 0 ? &ob : &eb;
			if (k == 1 && eb.len > 4096)
				continue;	/* enough to say what went wrong */
			buf_add(b, "%.*s", (int)got, chunk);
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	char *text = NULL;
	if (killed) {
		snprintf(err, KETEN_ERRLEN, "keten %s took longer than %d s or answered more than "
		    "%u MiB: stopped", argv[0], CONSOLE_CHILD_TIMEOUT_MS / 1000,
		    CONSOLE_CHILD_MAX_BYTES >> 20);
	} else {
		/* the child's own words: the last line of what it said on stderr */
		char *e = eb.s ? eb.s : (char *)"";
		size_t l = strlen(e);
		while (l && e[l - 1] == '\n')
			e[--l] = '\0';
		char *last = strrchr(e, '\n');
		utf8_cut(err, KETEN_ERRLEN, l ? (last ? last + 1 : e) : "no answer");
		text = ob.s ? ob.s : strdup("");
		ob.s = NULL;
	}
	free(ob.s);
	free(eb.s);
	close(out[0]);
	close(er[0]);
	return text;
fail:
	for (int k = 0; k < 2; k++) {
		if (out[k] >= 0)
			close(out[k]);
		if (er[k] >= 0)
			close(er[k]);
	}
	return NULL;
}

json_t *
console_run(const struct console *c, const char *const *argv, bool lines, int *exit_code,
    char err[static KETEN_ERRLEN])
{
	char *text = console_run_text(c, argv, exit_code, err);
	json_t *j = NULL;

	if (text == NULL)
		return NULL;
	if (lines) {
		j = json_array();
		for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
		    l = strtok_r(NULL, "\n", &save)) {
			json_t *x = json_loads(l, 0, NULL);
			if (x != NULL)
				json_array_append_new(j, x);
		}
	} else if (text[0] != '\0') {
		json_error_t je;
		j = json_loads(text, 0, &je);
		if (j == NULL && err[0] == '\0')
			snprintf(err, KETEN_ERRLEN, "not JSON: %s", je.text);
	}
	free(text);
	return j;
}

/* ---- the server ---- */

struct server {
	struct console c;
	char token[TOKEN_MAX];	/* empty: loopback, no token */
	bool loopback;
	char host[128];		/* the address --listen named (127.0.0.2, [::1]) */
	unsigned port;
};

static const char *
req_arg(void *req, const char *name)
{
	return MHD_lookup_connection_value(req, MHD_GET_ARGUMENT_KIND, name);
}

static bool
token_ok(const struct server *s, const char *given)
{
	size_t n = strlen(s->token);

	return given != NULL && strlen(given) == n && sodium_memcmp(given, s->token, n) == 0;
}

/* Is the Host header one of the loopback names of our port? */
static bool
host_ok(const struct server *s, const char *host)
{
	char want[160];
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };

	if (!s->loopback)
		return true;	/* a token guards it */
	if (host == NULL)
		return false;
	for (size_t i = 0; i < 4; i++) {	/* the usual names, and the one it listens on */
		snprintf(want, sizeof(want), "%s:%u", i < 3 ? names[i] : s->host, s->port);
		if (strcasecmp(host, want) == 0)
			return true;
	}
	return false;
}

static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
    size_t len, const char *location, const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'self'; "
	    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	if (location != NULL)
		MHD_add_response_header(r, "Location", location);
	if (cookie != NULL)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* PATH or PATH.json: the page's name in *base (and whether JSON was asked). */
static bool
twin(const char *url, char *base, size_t max)
{
	size_t n = strlen(url);
	bool json = n > 5 && strcmp(url + n - 5, ".json") == 0;

	snprintf(base, max, "%.*s", (int)(json ? n - 5 : n), url);
	return json;
}

static void
route(struct server *s, struct MHD_Connection *conn, const char *url, struct page *pg)
{
	const struct console *c = &s->c;
	char base[512];
	uint64_t seq;

	(void)twin(url, base, sizeof(base));
	if (strcmp(base, "/") == 0 || strcmp(base, "/index") == 0)
		console_index(c, pg);
	else if (strcmp(base, "/matrix") == 0)
		console_matrix(c, req_arg, conn, pg);
	else if (strcmp(base, "/matrix/cell") == 0)
		console_cell(c, req_arg, conn, pg);
	else if (strcmp(base, "/change") == 0)
		console_change(c, req_arg, conn, pg);
	else if (strcmp(base, "/cases") == 0)
		console_cases(c, req_arg, conn, pg);
	else if (strncmp(base, "/case/", 6) == 0)
		console_case(c, base + 6, pg);
	else if (strcmp(base, "/health") == 0)
		console_health(c, pg);
	else if (strncmp(base, "/entry/", 7) == 0 && strchr(base + 7, '/') != NULL &&
	    strcmp(strchr(base + 7, '/'), "/proof") == 0) {
		char num[32];
		snprintf(num, sizeof(num), "%.*s", (int)(strchr(base + 7, '/') - (base + 7)), base + 7);
		if (parse_u64(num, &seq))
			console_proof(c, seq, pg);
		else
			console_error(pg, 404, "No such entry", "an entry is named by its number");
	} else if (strncmp(base, "/entry/", 7) == 0 && parse_u64(base + 7, &seq))
		console_entry(c, seq, pg);
	else
		console_error(pg, 404, "No such page", "the pages are listed on the start page");
}

/*
 * A path to send the browser back to on this site: "//host/..." or "/\\host"
 * would be another site's address to a browser, and a control character
 * has no place in a header; those go to the start page.
 */
static const char *
same_site_path(const char *url)
{
	if (url[0] != '/' || url[1] == '/' || url[1] == '\\')
		return "/";
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "/";
	return url;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_size, void **state)
{
	struct server *s = cls;
	static int first;
	char cookie[TOKEN_MAX + 80];
	const char *set_cookie = NULL;

	(void)version;
	(void)upload_data;
	if (*state == NULL) {	/* headers only: answer once they are in */
		*state = &first;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0;	/* a body is never read */
		return MHD_YES;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		static const char msg[] = "{\"error\":\"the console is read-only: GET and HEAD only\"}\n";
		return respond(conn, 405, "application/json", msg, sizeof(msg) - 1, NULL, NULL);
	}
	/* a page of another site may not make the browser ask (each page runs commands) */
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
		static const char msg[] = "{\"error\":\"requests from other sites are refused\"}\n";
		return respond(conn, 403, "application/json", msg, sizeof(msg) - 1, NULL, NULL);
	}
	if (!host_ok(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
		static const char msg[] = "{\"error\":\"Host must name 127.0.0.1, localhost or [::1] "
		    "with the console's port\"}\n";
		return respond(conn, 421, "application/json", msg, sizeof(msg) - 1, NULL, NULL);
	}
	if (s->token[0]) {
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		const char *ck = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE);
		const char *qt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
		bool ok = (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && token_ok(s, auth + 7)) ||
		    token_ok(s, ck);
		if (!ok && token_ok(s, qt)) {
			/* once from the address bar: a cookie, and the token out of the URL */
			snprintf(cookie, sizeof(cookie), COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/",
			    s->token);
			return respond(conn, 303, "text/plain", "", 0, same_site_path(url), cookie);
		}
		if (!ok) {
			static const char msg[] = "{\"error\":\"a token is needed: Authorization: Bearer "
			    "TOKEN, or open /?token=TOKEN once\"}\n";
			return respond(conn, 401, "application/json", msg, sizeof(msg) - 1, NULL, NULL);
		}
	}
	if (strcmp(url, "/style.css") == 0)
		return respond(conn, 200, "text/css; charset=utf-8", console_css, strlen(console_css),
		    NULL, set_cookie);

	char base[512];
	bool json = twin(url, base, sizeof(base));
	struct page pg = { .status = 200 };
	route(s, conn, url, &pg);
	enum MHD_Result rc;
	if (pg.status == 303) {
		rc = respond(conn, 303, "text/plain", "", 0, pg.location, NULL);
	} else if (json || pg.html.s == NULL) {
		char *text = pg.json ? json_dumps(pg.json, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
		const char *t = text ? text : "{}";
		rc = respond(conn, pg.status, "application/json", t, strlen(t), NULL, NULL);
		free(text);
	} else {
		rc = respond(conn, pg.status, pg.type ? pg.type : "text/html; charset=utf-8", pg.html.s,
		    pg.html.len, NULL, NULL);
	}
	json_decref(pg.json);
	free(pg.html.s);
	return rc;
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	fprintf(stderr, "keten console: %s\n", line);
}

static int
read_token(const char *path, char out[static TOKEN_MAX])
{
	char *buf = NULL, err[KETEN_ERRLEN];
	size_t len = 0;

	if (secret_file_read(path, TOKEN_MAX, &buf, &len, err) != 0) {
		fprintf(stderr, "keten console: --token-file %s\n", err);
		return -1;
	}
	size_t n = len;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	/* what a URL carries as it is: ?token= must not need escaping */
	size_t ok = strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~");
	if (n < 16 || n >= TOKEN_MAX || ok < n) {
		fprintf(stderr, "keten console: the token in %s must be one line of 16 to %d "
		    "letters, digits and -._~ (e.g. head -c 24 /dev/urandom | base64 | tr '+/' '-_')\n",
		    path, TOKEN_MAX - 1);
		secret_file_free(&buf, len);
		return -1;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
	secret_file_free(&buf, len);
	return 0;
}

/* HOST:PORT (IPv4 or [IPv6]) into a socket address. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl, bool *loopback)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	uint64_t port;

	if (colon == NULL || !parse_u64(colon + 1, &port) || port > 65535 ||
	    (size_t)(colon - s) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -1;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
		*sl = sizeof(*a6);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -1;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	*sl = sizeof(*a4);
	return 0;
}

int
cmd_console(int argc, char **argv)
{
	struct server *s = calloc(1, sizeof(*s));
	const char *listen_at = DEFAULT_LISTEN, *token_file = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;

	if (s == NULL)
		return EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			free(s);
			return usage(stdout);
		}
		if (strcmp(a, "--listen") == 0)
			dst = &listen_at;
		else if (strcmp(a, "--token-file") == 0)
			dst = &token_file;
		else if (strcmp(a, "--policy") == 0)
			dst = &s->c.policy;
		else if (strcmp(a, "--old-policy") == 0)
			dst = &s->c.old_policy;
		else if (strcmp(a, "--directory") == 0)
			dst = &s->c.directory;
		else if (strcmp(a, "--root") == 0)
			dst = &s->c.root;
		else if (strcmp(a, "--ledger") == 0 || strcmp(a, "--data") == 0)
			dst = &s->c.ledger;
		else if (strcmp(a, "--key") == 0)
			dst = &s->c.key;
		else if (strcmp(a, "--network-key") == 0)
			dst = &s->c.network_key;
		if (dst == NULL || i + 1 >= argc) {
			fprintf(stderr, "keten console: %s %s\n", a, dst == NULL ? "is not an option" :
			    "needs a value");
			free(s);
			return usage(stderr);
		}
		*dst = argv[++i];
	}
	if (s->c.policy == NULL && s->c.ledger == NULL) {
		fprintf(stderr, "keten console: give --policy (a privacy officer's view), --ledger "
		    "(an auditor's) or both\n");
		free(s);
		return usage(stderr);
	}
	if (parse_listen(listen_at, &ss, &sl, &s->loopback) != 0) {
		fprintf(stderr, "keten console: --listen %s: want HOST:PORT (127.0.0.1:7470, "
		    "[::1]:7470)\n", listen_at);
		free(s);
		return EXIT_USAGE;
	}
	if (!s->loopback && token_file == NULL) {
		fprintf(stderr, "keten console: --listen %s is not loopback: give --token-file too, "
		    "so that only who holds the token can look\n", listen_at);
		free(s);
		return EXIT_USAGE;
	}
	if (token_file != NULL && read_token(token_file, s->token) != 0) {
		free(s);
		return EXIT_FAIL;
	}
	ssize_t n = readlink("/proc/self/exe", s->c.exe, sizeof(s->c.exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "keten console: cannot find its own program: %s\n", strerror(errno));
		free(s);
		return EXIT_FAIL;
	}
	s->c.exe[n] = '\0';
	if (codec_init() != 0) {
		free(s);
		return EXIT_FAIL;
	}

	sigset_t stop_set;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);	/* before libmicrohttpd's thread */
	signal(SIGPIPE, SIG_IGN);
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
	    on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, 32u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "keten console: cannot listen on %s (in use, or not an address of "
		    "this host)\n", listen_at);
		free(s);
		return EXIT_FAIL;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	char host[128];
	snprintf(host, sizeof(host), "%.*s", (int)(strrchr(listen_at, ':') - listen_at), listen_at);
	snprintf(s->host, sizeof(s->host), "%s", host);
	snprintf(s->c.url, sizeof(s->c.url), "http://%.64s:%u", strcmp(host, "localhost") == 0 ?
	    "127.0.0.1" : host, s->port);
	printf("keten console: %s/ (read-only; Ctrl-C stops it)\n", s->c.url);
	fflush(stdout);

	/* blocked before: every thread after inherits the mask, the signal
	 * waits for sigwait (no window between a check and a pause) */
	int sig;
	while (sigwait(&stop_set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	sodium_memzero(s->token, sizeof(s->token));
	free(s);
	return EXIT_OK;
}
