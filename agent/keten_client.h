/*
 * libketen-client: a small C client of the keten agent's REST/JSON API
 * (docs/integration.md, schemas/openapi.yaml).  The keten CLI uses it; so
 * can a partner system written in C.  It speaks HTTP/1.1 with keep-alive
 * over the agent's Unix socket (DATA_DIR/api.sock, no token: the data
 * directory's permissions guard it) or over TCP with a bearer token.
 *
 *   struct keten_client *kc;
 *   if (keten_client_open("http://127.0.0.1:8470", token, &kc) != 0) ...
 *   char *body;
 *   int st = keten_client_call(kc, "POST", "/v1/messages", json, &body);
 *   // st: the HTTP status (202 accepted ...), or -1 (keten_client_error(kc))
 *   free(body);
 *   keten_client_close(&kc);
 *
 * Bodies are JSON text; parse them with any JSON library (the CLI uses
 * jansson).  A handle is not thread-safe: use one per thread.  Every call
 * that fails on a dropped keep-alive connection is retried once on a new
 * one; POST /v1/messages is retried only when nothing of the request was
 * sent, so a retry cannot submit a message twice.
 */
#ifndef KETEN_CLIENT_H
#define KETEN_CLIENT_H

#include <stddef.h>

struct keten_client;

/*
 * `where` is "unix:/path/to/api.sock" or "http://ADDRESS:PORT" (IPv4).
 * `token` is the bearer token (NULL on the Unix socket).  0, or -1 with
 * errno set (EINVAL: a malformed address; ENOMEM).
 */
int keten_client_open(const char *where, const char *token, struct keten_client **out);
void keten_client_close(struct keten_client **kc);

/*
 * One request.  `body` (JSON, or NULL) is sent with Content-Type
 * application/json.  Returns the HTTP status and stores the response body
 * (NUL-terminated, malloc'd, free it) in *response unless that is NULL;
 * -1 when the agent could not be reached or answered no HTTP.
 */
int keten_client_call(struct keten_client *kc, const char *method, const char *path,
    const char *body, char **response);

/* Why the last call returned -1. */
const char *keten_client_error(const struct keten_client *kc);

/* Give up on a call after this long (default 60 s, enough for a 30 s long poll). */
void keten_client_timeout(struct keten_client *kc, int timeout_ms);

#endif
