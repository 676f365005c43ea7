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

/*
 * Answer every pending ZAP request on `sock` without blocking.  Refusals are
 * logged with the client's public key and address.  Returns the number of
 * requests answered.
 */
int zap_serve(void *sock, const struct directory *dir);

#endif
