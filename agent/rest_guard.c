/*
 * Every API connection's deadlines (docs/security.md, "Bounds"): a client
 * gets HEADER_TIMEOUT_MS for its request line and headers and
 * BODY_TIMEOUT_MS for its body, counted from the start, not from its last
 * byte, so one that sends a byte every few seconds cannot hold one of the
 * api_max_connections threads for ever.  libmicrohttpd 0.9.75 only knows an
 * idle timeout; a watchdog thread shuts down the socket of a connection
 * past its deadline, which ends it in libmicrohttpd's own thread.  The time
 * an endpoint takes to answer (a long poll, ?wait=) is not counted.
 *
 * The guard also notes a %00 in the URL (rest_guard_unescape), which
 * libmicrohttpd's own decoding would turn into a NUL that cuts a path or a
 * query value short: the request is refused instead.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "agent/rest_int.h"
#include "common/log.h"
#include "common/util.h"

struct rest_conn {
	int fd;
	enum rest_phase phase;
	int64_t since_ms;	/* the phase began (monotonic) */
	bool cut;		/* shut down by the watchdog */
	bool nul;		/* a %00 in the URL */
	struct rest_conn *next, **prevp;
};

void
rest_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct rest *r = ((struct listener *)cls)->r;
	struct rest_conn *k = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return;	/* unguarded: libmicrohttpd's idle timeout still holds */
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k->fd = ci != NULL ? ci->connect_fd : -1;
		k->phase = REST_PHASE_HEADERS;
		k->since_ms = mono_ms();
		pthread_mutex_lock(&r->guard_mu);
		if ((k->next = r->conns) != NULL)
			k->next->prevp = &k->next;
		k->prevp = &r->conns;
		r->conns = k;
		pthread_mutex_unlock(&r->guard_mu);
		*socket_context = k;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && k != NULL) {
		/* before libmicrohttpd closes the socket: the watchdog never
		 * shuts down a descriptor that was reused */
		pthread_mutex_lock(&r->guard_mu);
		if (k->next != NULL)
			k->next->prevp = k->prevp;
		*k->prevp = k->next;
		pthread_mutex_unlock(&r->guard_mu);
		free(k);
		*socket_context = NULL;
	}
}

static struct rest_conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

void
rest_guard_phase(struct rest *r, struct MHD_Connection *c, enum rest_phase phase)
{
	struct rest_conn *k = conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&r->guard_mu);
	if (k->phase != phase) {
		k->phase = phase;
		k->since_ms = mono_ms();
	}
	if (phase == REST_PHASE_HEADERS)
		k->nul = false;	/* the next request on a kept-alive connection */
	pthread_mutex_unlock(&r->guard_mu);
}

size_t
rest_guard_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	struct rest *r = ((struct listener *)cls)->r;
	struct rest_conn *k;

	if (strstr(s, "%00") != NULL && (k = conn_of(c)) != NULL) {
		pthread_mutex_lock(&r->guard_mu);
		k->nul = true;
		pthread_mutex_unlock(&r->guard_mu);
	}
	return MHD_http_unescape(s);
}

bool
rest_guard_nul(struct rest *r, struct MHD_Connection *c)
{
	struct rest_conn *k = conn_of(c);
	bool nul;

	if (k == NULL)
		return false;
	pthread_mutex_lock(&r->guard_mu);
	nul = k->nul;
	pthread_mutex_unlock(&r->guard_mu);
	return nul;
}

/* Shut down what is past its deadline; log what was, at most every 10 s. */
static void
guard_sweep(struct rest *r, int64_t now)
{
	for (struct rest_conn *k = r->conns; k != NULL; k = k->next) {
		int64_t limit = k->phase == REST_PHASE_HEADERS ? HEADER_TIMEOUT_MS :
		    k->phase == REST_PHASE_BODY ? BODY_TIMEOUT_MS : -1;
		if (k->cut || limit < 0 || now - k->since_ms < limit)
			continue;
		if (k->fd >= 0)
			shutdown(k->fd, SHUT_RDWR);
		k->cut = true;
		if (k->phase == REST_PHASE_HEADERS)
			r->cut_headers++;
		else
			r->cut_bodies++;
	}
	if ((r->cut_headers > r->cut_logged_headers || r->cut_bodies > r->cut_logged_bodies) &&
	    now - r->cut_logged_ms >= 10000) {
		log_warnx("api: closed %llu connections that did not send their headers within %d s "
		    "and %llu that did not send their body within %d s (slow or stalled clients; "
		    "%llu and %llu in all)",
		    (unsigned long long)(r->cut_headers - r->cut_logged_headers), HEADER_TIMEOUT_MS / 1000,
		    (unsigned long long)(r->cut_bodies - r->cut_logged_bodies), BODY_TIMEOUT_MS / 1000,
		    (unsigned long long)r->cut_headers, (unsigned long long)r->cut_bodies);
		r->cut_logged_headers = r->cut_headers;
		r->cut_logged_bodies = r->cut_bodies;
		r->cut_logged_ms = now;
	}
}

static void *
guard_main(void *arg)
{
	struct rest *r = arg;

	pthread_mutex_lock(&r->guard_mu);
	while (!r->guard_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->guard_cv, &r->guard_mu, &ts);
		guard_sweep(r, mono_ms());
	}
	pthread_mutex_unlock(&r->guard_mu);
	return NULL;
}

int
rest_guard_start(struct rest *r)
{
	pthread_condattr_t ca;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&r->guard_cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		return -1;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_mutex_init(&r->guard_mu, NULL) != 0) {
		pthread_cond_destroy(&r->guard_cv);
		return -1;
	}
	r->guard_init = true;
	if (pthread_create(&r->guard_thread, NULL, guard_main, r) != 0)
		return -1;
	r->guard_running = true;
	return 0;
}

void
rest_guard_stop(struct rest *r)
{
	if (r->guard_running) {
		pthread_mutex_lock(&r->guard_mu);
		r->guard_stop = true;
		pthread_cond_signal(&r->guard_cv);
		pthread_mutex_unlock(&r->guard_mu);
		pthread_join(r->guard_thread, NULL);
		r->guard_running = false;
	}
}

void
rest_guard_free(struct rest *r)
{
	if (r->guard_init) {
		pthread_cond_destroy(&r->guard_cv);
		pthread_mutex_destroy(&r->guard_mu);
		r->guard_init = false;
	}
}
