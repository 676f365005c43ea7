/*
 * The agent's REST/JSON API for partner systems (docs/integration.md,
 * schemas/openapi.yaml).  libmicrohttpd serves it in its own threads, one
 * per connection (a slow client holds only its own thread); each request is
 * translated into a keten.local.v1 request and sent to the agent's loop over
 * the control socket (inproc), so the agent's state is only ever touched by
 * its own thread and a 202 means what `keten send` means: on disk (fsync).
 */
#ifndef KETEN_AGENT_REST_H
#define KETEN_AGENT_REST_H

/* How long the agent holds a local status or inbox request for its event (ms). */
#define LOCAL_WAIT_MAX_MS 30000

#include <stdint.h>

#include "common/config.h"
#include "common/err.h"

#define REST_CONTROL "inproc://keten-rest"	/* where the agent loop listens for the API */

struct rest;

/*
 * The bearer token file (refused unless 0600; one line of 32 to 256
 * printable characters) as the digest the API compares.  Read it before
 * dropping root.  0 or an error.
 */
int rest_read_token(const char *path, uint8_t hash[static 32], char err[static KETEN_ERRLEN]);

/*
 * Serve the API on DATA_DIR/api.sock and, with cfg->api_listen, on that
 * address for the token whose digest is token_hash.
 * `zctx` is the agent's ZeroMQ context.  0 or an error.
 */
int rest_start(const struct agent_config *cfg, void *zctx, const uint8_t token_hash[static 32],
    struct rest **out, char err[static KETEN_ERRLEN]);
/* Stop accepting, finish the requests in flight, free.  Before zmq_ctx_term. */
void rest_stop(struct rest **r);

#endif
