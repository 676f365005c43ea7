/*
 * The broker's health check and Prometheus metrics, served over HTTP by
 * libmicrohttpd on `metrics_listen` (docs/operator.md lists every metric).
 *
 * Threads: none.  The daemon runs in libmicrohttpd's "external" mode with
 * epoll: the broker adds metrics_fd() to its zmq_poll items, bounds its poll
 * timeout with metrics_timeout() and calls metrics_run() once per loop turn,
 * between batches (no LMDB write transaction open).  Request handlers
 * therefore run on the broker's own thread and read its state directly through
 * the fill callback; nothing is shared with another thread.  Sockets are
 * non-blocking, so a slow or silent client costs a file descriptor until the
 * connection timeout, never a stall of the loop.
 *
 * Counting follows the group commit: what a batch counts (accepted, rejected,
 * delivered, ...) is held as pending and becomes visible only when the batch
 * is committed (metrics_batch_commit); a failed commit drops it
 * (metrics_batch_abort), as it drops the batch's replies.
 */
#ifndef KETEN_BROKER_METRICS_H
#define KETEN_BROKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

#define METRICS_CONN_LIMIT 16		/* HTTP connections at once */
#define METRICS_CONN_TIMEOUT_S 10	/* an idle or slow connection is closed after this */
#define METRICS_MEMORY_LIMIT 16384	/* per connection: request line and headers */
#define METRICS_MAX_RECIPIENTS 4096	/* queue_depth series per scrape at most */

struct metrics;

/* What the broker reports at each request (filled by its callback). */
struct metrics_state {
	uint64_t ledger_entries;	/* entries in the audit ledger */
	uint64_t queued;		/* copies in the delivery queue, all recipients */
	uint64_t connected_agents;	/* agencies with a live session */
	uint64_t storage_used;		/* bytes of the LMDB map in use */
	uint64_t storage_limit;		/* high-water mark: submissions are refused above it */
	uint64_t storage_map;		/* the map size (map_size_mb) */
	bool refusing;			/* storage is tight: new submissions are refused */
	/* per recipient, added with metrics_state_queue(); owned by struct metrics */
	size_t nrecipients, caprecipients;
	struct metrics_queue {
		char recipient[64];
		uint64_t depth;
	} *recipients;
};

/* Fill *st (its fields are zeroed first); called on the broker's thread. */
typedef void metrics_fill_fn(void *arg, struct metrics_state *st);

/* Add a recipient's queue depth to st.  0, or KETEN_ENOMEM / KETEN_ETOOBIG (dropped). */
int metrics_state_queue(struct metrics_state *st, const char *recipient, uint64_t depth);

/* Counters only, no HTTP yet.  *out owned by the caller; free with metrics_free. */
int metrics_new(struct metrics **out);
void metrics_free(struct metrics **m);

/*
 * Serve GET /healthz and GET /metrics on `addr` (IPv4 or IPv6).  `fill` is
 * called for each such request.  0, or KETEN_EIO with the reason in err.
 */
int metrics_listen(struct metrics *m, const struct sockaddr *addr, socklen_t len,
    metrics_fill_fn *fill, void *arg, char err[static KETEN_ERRLEN]);

/* The file descriptor to poll for input (libmicrohttpd's epoll fd), -1 when not serving. */
int metrics_fd(const struct metrics *m);
/* The poll timeout to use: max_ms, or less when the HTTP server needs to run sooner. */
long metrics_timeout(struct metrics *m, long max_ms);
/* Accept, read, answer, time out: never blocks.  No-op when not serving. */
void metrics_run(struct metrics *m);

/*
 * Submission outcomes, pending until the batch commits.  `reason` is the
 * ledger's reason code (malformed, unknown-recipient, not-allowed, policy,
 * policy-changed, signature, clock) or storage / no-session for refusals the
 * agent retries; anything else counts as "error".
 */
void metrics_accepted(struct metrics *m);
void metrics_duplicate(struct metrics *m);
void metrics_rejected(struct metrics *m, const char *reason);
/* A copy acknowledged by its recipient (pending); one expired undelivered (pending). */
void metrics_delivered(struct metrics *m);
void metrics_expired(struct metrics *m);
/* Delivery frames handed to the socket, resends included (counted at once). */
void metrics_sent(struct metrics *m, uint64_t n);

/*
 * The batch of `commands` was committed in `seconds`, writing `pages` LMDB
 * pages: publish its pending counts.
 */
void metrics_batch_commit(struct metrics *m, double seconds, uint64_t commands, uint64_t pages);
/* The batch was not committed: forget its pending counts. */
void metrics_batch_abort(struct metrics *m);

/*
 * Render the Prometheus text format 0.0.4 (metrics) or the health document
 * (JSON) into a malloc'd buffer the caller frees.  0 or KETEN_ENOMEM.
 */
int metrics_render(const struct metrics *m, const struct metrics_state *st, char **out,
    size_t *len);
int metrics_render_health(const struct metrics_state *st, char **out, size_t *len);

#endif
