/*
 * ZAP handler (RFC 27/ZAP): admits a CURVE client only if its transport key
 * is listed in the agency directory, not revoked and inside its validity
 * window; the ZAP user id is then the agency id, which the broker reads back
 * from every frame ("User-Id") as the authenticated sender.
 */
#ifndef KETEN_BROKER_ZAP_H
#define KETEN_BROKER_ZAP_H

#include "common/directory.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

/* Bind a REP socket at ZAP_ENDPOINT; must happen before the ROUTER binds. */
void *zap_open(void *zctx);

/* Told of every refusal: the key (Z85, or "-" when none), the address, why. */
typedef void (*zap_refused_fn)(void *arg, const char *key, const char *addr, const char *why);

/*
 * Answer every pending ZAP request on `sock` without blocking, calling
 * refused() for each refusal.  An agency whose key completes more than
 * ZAP_RATE handshakes a second (ZAP_BURST at once) is refused until it
 * slows down: a client reconnecting in a loop cannot keep the broker busy.
 * Returns the number of requests answered.
 */
#define ZAP_RATE 10.0
#define ZAP_BURST 20.0
int zap_serve(void *sock, const struct directory *dir, zap_refused_fn refused, void *arg);

#endif
