/*
 * What the two halves of the agent's REST API share (agent/rest.h is the
 * contract): rest.c serves (listeners, limits, authentication, routing, the
 * token, the control socket to the agent's loop) and rest_api.c answers
 * (each endpoint and its JSON).  Private to agent/rest*.c.
 */
#ifndef KETEN_AGENT_REST_INT_H
#define KETEN_AGENT_REST_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/rest.h"
#include "schemas/local.pb-c.h"

#define TOKEN_MAX 256
#define ASK_TIMEOUT_MS 15000	/* the agent answers after its next commit */
#define WAIT_MAX_S 30		/* long-poll bound for GET /v1/inbox?wait= */
#define HEADER_MEMORY (32 * 1024)	/* request line + headers per connection */
#define BATCH_MAX 1000		/* submissions in one POST /v1/messages */
#define HEADER_TIMEOUT_MS 10000	/* request line and headers, from the connection's start */
#define BODY_TIMEOUT_MS 30000	/* the body, from the end of the headers */
#define DRAIN_MAX_BYTES (16u << 20)	/* an oversized body read and dropped before its 413 */

struct rest;

/* One listening socket: TCP (bearer token required) or the Unix socket. */
struct listener {
	struct rest *r;
	struct MHD_Daemon *mhd;
	bool need_token;
};

struct rest_conn;

struct rest {
	struct listener tcp, local;
	char *sock_path;		/* DATA_DIR/api.sock */
	void *zctx;
	uint8_t token_hash[32];		/* BLAKE2b of the token: compared in constant time */
	size_t max_body;
	/* rest_guard.c: the connections and their deadlines, under guard_mu */
	pthread_mutex_t guard_mu;
	pthread_cond_t guard_cv;
	pthread_t guard_thread;
	bool guard_init, guard_running, guard_stop;
	struct rest_conn *conns;
	uint64_t cut_headers, cut_bodies, cut_logged_headers, cut_logged_bodies;
	int64_t cut_logged_ms, limit_logged_ms;
	uint64_t limit_refused;		/* connections refused at api_max_connections */
};

/* Where a connection is in its request: what its deadline counts. */
enum rest_phase {
	REST_PHASE_HEADERS,	/* request line and headers: HEADER_TIMEOUT_MS */
	REST_PHASE_BODY,	/* the body: BODY_TIMEOUT_MS */
	REST_PHASE_ANSWER,	/* the endpoint answers (a long poll may wait): no deadline */
};

/* One request's state across libmicrohttpd's calls: the body as it arrives. */
struct req {
	char *body;
	size_t len, cap;
	bool too_big;
	size_t drained;		/* bytes of a too big body dropped */
	bool chunked;		/* no Content-Length: no announced end */
};

/* rest_guard.c */
int rest_guard_start(struct rest *r);
void rest_guard_stop(struct rest *r);
void rest_guard_free(struct rest *r);
/* MHD_OPTION_NOTIFY_CONNECTION (cls: the listener): a connection starts or ends */
void rest_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);
/* MHD_OPTION_UNESCAPE_CALLBACK (cls: the listener): notes a %00, then decodes */
size_t rest_guard_unescape(void *cls, struct MHD_Connection *c, char *s);
void rest_guard_phase(struct rest *r, struct MHD_Connection *c, enum rest_phase phase);
/* The request's URL held a %00. */
bool rest_guard_nul(struct rest *r, struct MHD_Connection *c);

enum MHD_Result rest_send_text(struct MHD_Connection *c, unsigned status, const char *type, char *text);
enum MHD_Result rest_send_json(struct MHD_Connection *c, unsigned status, json_t *j);
enum MHD_Result rest_send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void *rest_control_socket(struct rest *r);
void rest_control_release(void *s, bool answered);
int rest_control_put(void *s, const Keten__Local__V1__LocalRequest *req);
Keten__Local__V1__LocalReply *rest_control_get(void *s);
Keten__Local__V1__LocalReply *rest_ask(struct rest *r, const Keten__Local__V1__LocalRequest *req);
Keten__Local__V1__LocalReply *rest_ask_until(struct rest *r, const Keten__Local__V1__LocalRequest *lr, int64_t until, long pause_ms,
    bool (*done)(const Keten__Local__V1__LocalReply *));
enum MHD_Result rest_post_message(struct rest *r, struct MHD_Connection *c, const struct req *q);
enum MHD_Result rest_get_message(struct rest *r, struct MHD_Connection *c, const uint8_t id[static 16], const char *ids);
enum MHD_Result rest_get_inbox(struct rest *r, struct MHD_Connection *c);
enum MHD_Result rest_get_outbox(struct rest *r, struct MHD_Connection *c);
enum MHD_Result rest_inbox_one(struct rest *r, struct MHD_Connection *c, const uint8_t id[static 16], bool ack);
enum MHD_Result rest_get_explain(struct rest *r, struct MHD_Connection *c);
enum MHD_Result rest_get_schemas(struct MHD_Connection *c);
enum MHD_Result rest_get_metrics(struct rest *r, struct MHD_Connection *c, bool health);

#endif
