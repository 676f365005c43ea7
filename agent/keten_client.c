/* libketen-client: the agent's REST/JSON API from C (see keten_client.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/keten_client.h"

#define HEAD_MAX 16384			/* response status line and headers */
#define BODY_MAX (256u << 20)		/* a response body larger than this is refused */

struct keten_client {
	int fd;				/* -1: not connected */
	bool unix_socket;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	char *token;
	int timeout_ms;
	char err[256];
};

static int
fail(struct keten_client *kc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct keten_client *kc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kc->err, sizeof(kc->err), fmt, ap);
	va_end(ap);
	if (kc->fd != -1) {
		close(kc->fd);
		kc->fd = -1;
	}
	return -1;
}

int
keten_client_open(const char *where, const char *token, struct keten_client **out)
{
	struct keten_client *kc = calloc(1, sizeof(*kc));

	if (kc == NULL)
		return -1;
	kc->fd = -1;
	kc->timeout_ms = 60000;
	if (strncmp(where, "unix:", 5) == 0) {
		if (strlen(where + 5) >= sizeof(kc->sun.sun_path) || where[5] == '\0')
			goto inval;
		kc->unix_socket = true;
		kc->sun.sun_family = AF_UNIX;
		strcpy(kc->sun.sun_path, where + 5);
	} else if (strncmp(where, "http://", 7) == 0) {
		char host[64];
		const char *hp = where + 7, *colon = strrchr(hp, ':');
		char *end;
		unsigned long port;
		if (colon == NULL || (size_t)(colon - hp) >= sizeof(host))
			goto inval;
		memcpy(host, hp, (size_t)(colon - hp));
		host[colon - hp] = '\0';
		port = strtoul(colon + 1, &end, 10);
		if ((*end != '\0' && strcmp(end, "/") != 0) || port == 0 || port > 65535)
			goto inval;
		kc->sin.sin_family = AF_INET;
		kc->sin.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
		    &kc->sin.sin_addr) != 1)
			goto inval;
	} else {
		goto inval;
	}
	if (token != NULL && (kc->token = strdup(token)) == NULL) {
		free(kc);
		return -1;
	}
	*out = kc;
	return 0;
inval:
	free(kc);
	errno = EINVAL;
	return -1;
}

void
keten_client_close(struct keten_client **kcp)
{
	struct keten_client *kc;

	if (kcp == NULL || (kc = *kcp) == NULL)
		return;
	if (kc->fd != -1)
		close(kc->fd);
	if (kc->token != NULL) {
		memset(kc->token, 0, strlen(kc->token));
		free(kc->token);
	}
	free(kc);
	*kcp = NULL;
}

const char *
keten_client_error(const struct keten_client *kc)
{
	return kc->err;
}

void
keten_client_timeout(struct keten_client *kc, int timeout_ms)
{
	kc->timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
}

static int
connect_agent(struct keten_client *kc)
{
	int one = 1;

	kc->fd = socket(kc->unix_socket ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (kc->fd == -1)
		return fail(kc, "socket: %s", strerror(errno));
	if (connect(kc->fd, kc->unix_socket ? (struct sockaddr *)&kc->sun :
	    (struct sockaddr *)&kc->sin, kc->unix_socket ? sizeof(kc->sun) : sizeof(kc->sin)) == -1) {
		char where[128];
		if (kc->unix_socket)
			snprintf(where, sizeof(where), "%s", kc->sun.sun_path);
		else
			snprintf(where, sizeof(where), "%s:%u", inet_ntoa(kc->sin.sin_addr),
			    (unsigned)ntohs(kc->sin.sin_port));
		return fail(kc, "cannot reach the agent at %s: %s", where, strerror(errno));
	}
	if (!kc->unix_socket)
		setsockopt(kc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Is the kept-alive connection still open (no EOF waiting)? */
static bool
alive(struct keten_client *kc)
{
	char c;
	ssize_t n;

	if (kc->fd == -1)
		return false;
	n = recv(kc->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		close(kc->fd);
		kc->fd = -1;
		return false;
	}
	return true;
}

static int
send_all(struct keten_client *kc, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(kc->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read at least one byte into buf within the deadline; bytes read, 0 on EOF, -1. */
static ssize_t
recv_some(struct keten_client *kc, char *buf, size_t cap, int64_t deadline)
{
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t left = deadline - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = { kc->fd, POLLIN, 0 };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			errno = pr == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		ssize_t r = recv(kc->fd, buf, cap, 0);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* One exchange on the open connection; *sent tells whether the request left. */
static int
exchange(struct keten_client *kc, const char *method, const char *path, const char *body,
    char **response, bool *sent)
{
	char head[HEAD_MAX + 1], *req = NULL;
	size_t blen = body ? strlen(body) : 0, have = 0;
	struct timespec ts;
	int n, status;

	n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: keten-agent\r\n%s%s%s"
	    "Accept: application/json\r\n%sContent-Length: %zu\r\n\r\n", method, path,
	    kc->token ? "Authorization: Bearer " : "", kc->token ? kc->token : "",
	    kc->token ? "\r\n" : "", body ? "Content-Type: application/json\r\n" : "", blen);
	if (n < 0)
		return fail(kc, "out of memory");
	*sent = false;
	if (send_all(kc, req, (size_t)n) != 0 || (blen && send_all(kc, body, blen) != 0)) {
		free(req);
		return fail(kc, "sending to the agent: %s", strerror(errno));
	}
	free(req);
	*sent = true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + kc->timeout_ms;
	char *end = NULL;
	while (end == NULL) {
		if (have == HEAD_MAX)
			return fail(kc, "the agent's response headers exceed %d bytes", HEAD_MAX);
		ssize_t r = recv_some(kc, head + have, HEAD_MAX - have, deadline);
		if (r <= 0)
			return fail(kc, "no response from the agent: %s", r == 0 ? "connection closed" :
			    strerror(errno));
		have += (size_t)r;
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599)
		return fail(kc, "the agent answered no HTTP");
	size_t hlen = (size_t)(end - head) + 4, clen = 0;
	bool close_after = false, has_len = false;
	for (char *line = strstr(head, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = strtoul(line + 15, NULL, 10);
			has_len = true;
		} else if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line, "close") &&
		    strstr(line, "close") < strstr(line, "\r\n")) {
			close_after = true;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
			return fail(kc, "the agent answered with a transfer encoding this client does "
			    "not read");
		}
	}
	if (!has_len)
		return fail(kc, "the agent's response has no Content-Length");
	if (clen > BODY_MAX)
		return fail(kc, "the agent's response of %zu bytes is too large", clen);
	char *b = malloc(clen + 1);
	if (b == NULL)
		return fail(kc, "out of memory");
	size_t got = have - hlen < clen ? have - hlen : clen;
	memcpy(b, head + hlen, got);
	while (got < clen) {
		ssize_t r = recv_some(kc, b + got, clen - got, deadline);
		if (r <= 0) {
			free(b);
			return fail(kc, "the agent's response was cut off: %s", r == 0 ?
			    "connection closed" : strerror(errno));
		}
		got += (size_t)r;
	}
	b[clen] = '\0';
	if (response != NULL)
		*response = b;
	else
		free(b);
	if (close_after) {
		close(kc->fd);
		kc->fd = -1;
	}
	return status;
}

int
keten_client_call(struct keten_client *kc, const char *method, const char *path,
    const char *body, char **response)
{
	bool sent = false, idempotent = strcmp(method, "GET") == 0 ||
	    strncmp(path, "/v1/inbox/", 10) == 0;	/* an ack may be repeated */
	int st;

	if (response != NULL)
		*response = NULL;
	kc->err[0] = '\0';
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = alive(kc);
		if (!reused && connect_agent(kc) != 0)
			return -1;
		if ((st = exchange(kc, method, path, body, response, &sent)) >= 0)
			return st;
		/* a kept-alive connection the agent had closed: once more on a new one,
		 * unless a submission may have arrived */
		if (!reused || (sent && !idempotent))
			break;
	}
	return -1;
}
