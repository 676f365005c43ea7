/* ZAP handler: the directory decides who may connect. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "broker/zap.h"
#include "common/log.h"
#include "common/util.h"

#define ZAP_FRAMES_MAX 8
#define ZAP_AGENCIES 1024	/* agencies whose handshake rate is tracked */

/* Per agency: a token bucket of handshakes. */
static struct bucket {
	char id[KETEN_IDMAX];
	double tokens;
	int64_t last_ms;
} buckets[ZAP_AGENCIES];

/* Take one handshake from the agency's bucket; false when it is empty. */
static bool
admit_rate(const char *id)
{
	int64_t now = mono_ms();
	size_t i, free_slot = ZAP_AGENCIES;

	for (i = 0; i < ZAP_AGENCIES && strcmp(buckets[i].id, id) != 0; i++)
		if (buckets[i].id[0] == '\0' && free_slot == ZAP_AGENCIES)
			free_slot = i;
	if (i == ZAP_AGENCIES) {
		if (free_slot == ZAP_AGENCIES)
			return true;	/* more agencies than tracked: not limited */
		i = free_slot;
		snprintf(buckets[i].id, sizeof(buckets[i].id), "%s", id);
		buckets[i].tokens = ZAP_BURST;
		buckets[i].last_ms = now;
	}
	struct bucket *bk = &buckets[i];
	bk->tokens += (double)(now - bk->last_ms) / 1000.0 * ZAP_RATE;
	if (bk->tokens > ZAP_BURST)
		bk->tokens = ZAP_BURST;
	bk->last_ms = now;
	if (bk->tokens < 1.0)
		return false;
	bk->tokens -= 1.0;
	return true;
}

void *
zap_open(void *zctx)
{
	void *s = zmq_socket(zctx, ZMQ_REP);

	if (s == NULL)
		return NULL;
	if (zmq_bind(s, ZAP_ENDPOINT) != 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

static void
reply(void *sock, const zmq_msg_t *reqid, const char *code, const char *text, const char *user)
{
	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(sock, zmq_msg_data((zmq_msg_t *)reqid), zmq_msg_size((zmq_msg_t *)reqid),
	    ZMQ_SNDMORE);
	zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
}

int
zap_serve(void *sock, const struct directory *dir, zap_refused_fn refused, void *arg)
{
	int served = 0;

	for (;;) {
		zmq_msg_t f[ZAP_FRAMES_MAX];
		int n = 0, more = 1;
		size_t ml = sizeof(more);

		while (more) {
			zmq_msg_t tmp;
			zmq_msg_init(&tmp);
			if (zmq_msg_recv(&tmp, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
				zmq_msg_close(&tmp);
				for (int i = 0; i < n; i++)
					zmq_msg_close(&f[i]);
				return served;
			}
			zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
			if (n < ZAP_FRAMES_MAX)
				f[n++] = tmp;
			else
				zmq_msg_close(&tmp);
		}
		served++;
		/* version, request id, domain, address, identity, mechanism, key */
		char addr[64] = "?";
		if (n >= 4)
			snprintf(addr, sizeof(addr), "%.*s", (int)zmq_msg_size(&f[3]),
			    (const char *)zmq_msg_data(&f[3]));
		if (n != 7 || zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3) ||
		    zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) ||
		    zmq_msg_size(&f[6]) != KETEN_CURVE_KEYBYTES) {
			refused(arg, "-", addr, "not a CURVE client");
			if (n >= 2)
				reply(sock, &f[1], "400", "CURVE required", "");
			else {
				zmq_msg_t empty;
				zmq_msg_init(&empty);
				reply(sock, &empty, "400", "malformed ZAP request", "");
				zmq_msg_close(&empty);
			}
		} else {
			const uint8_t *pk = zmq_msg_data(&f[6]);
			const struct dir_agency *a = directory_find_transport(dir, pk, now_ms());
			char z85[KETEN_Z85_KEYLEN + 1];
			key_z85_encode(z85, pk);
			if (a == NULL) {
				refused(arg, z85, addr, "is not in the directory");
				reply(sock, &f[1], "400", "unknown key", "");
			} else if (!dir_agency_active(a, now_ms())) {
				char why[160];
				snprintf(why, sizeof(why), "of agency %s is %s", a->id, a->revoked ?
				    "revoked" : "outside its validity window");
				refused(arg, z85, addr, why);
				reply(sock, &f[1], "400", "key not valid", "");
			} else if (!admit_rate(a->id)) {
				char why[160];
				snprintf(why, sizeof(why), "of agency %s: more than %.0f connections a "
				    "second", a->id, ZAP_RATE);
				refused(arg, z85, addr, why);
				reply(sock, &f[1], "400", "too many connections", "");
			} else {
				log_debug("admitted agency %s from %s", a->id, addr);
				reply(sock, &f[1], "200", "OK", a->id);
			}
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
}
