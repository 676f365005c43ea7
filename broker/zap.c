/* ZAP handler: the directory decides who may connect. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "broker/zap.h"
#include "common/log.h"
#include "common/util.h"

#define ZAP_FRAMES_MAX 8

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
zap_serve(void *sock, const struct directory *dir)
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
			log_warnx("refused connection from %s: not a CURVE client", addr);
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
				log_warnx("key-refused: transport key %s from %s is not in the "
				    "directory", z85, addr);
				reply(sock, &f[1], "400", "unknown key", "");
			} else if (!dir_agency_active(a, now_ms())) {
				log_warnx("key-refused: transport key %s of agency %s from %s is %s",
				    z85, a->id, addr, a->revoked ? "revoked" :
				    "outside its validity window");
				reply(sock, &f[1], "400", "key not valid", "");
			} else {
				log_debug("admitted agency %s from %s", a->id, addr);
				reply(sock, &f[1], "200", "OK", a->id);
			}
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
}
