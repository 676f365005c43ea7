/* The CLI's connection to its local keten-agent. */
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "cli/cli.h"
#include "common/wire.h"

struct control {
	void *zctx, *sock;
	struct agent_config *cfg;
};

struct control *
control_open(const char *path)
{
	struct control *c;
	char err[KETEN_ERRLEN];
	int zero = 0;

	if (path == NULL && (path = getenv("KETEN_AGENT_CONFIG")) == NULL) {
		fprintf(stderr, "keten: no agent configuration: pass --config FILE or set "
		    "KETEN_AGENT_CONFIG\n");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (agent_config_load(path, &c->cfg, err) != 0) {
		fprintf(stderr, "keten: %s\n", err);
		free(c);
		return NULL;
	}
	c->zctx = zmq_ctx_new();
	c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
	zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(c->sock, c->cfg->control) != 0) {
		fprintf(stderr, "keten: cannot reach the agent at %s: %s\n", c->cfg->control,
		    zmq_strerror(zmq_errno()));
		control_close(&c);
		return NULL;
	}
	return c;
}

void
control_close(struct control **cp)
{
	struct control *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	if (c->sock)
		zmq_close(c->sock);
	if (c->zctx)
		zmq_ctx_term(c->zctx);
	agent_config_free(&c->cfg);
	free(c);
	*cp = NULL;
}

int
control_send(struct control *c, const Keten__Local__V1__LocalRequest *req)
{
	size_t len;
	uint8_t *buf = wire_pack(&req->base, &len);
	int rc;

	if (buf == NULL)
		return -1;
	rc = zmq_send(c->sock, buf, len, 0) < 0 ? -1 : 0;
	free(buf);
	return rc;
}

Keten__Local__V1__LocalReply *
control_recv(struct control *c, long timeout_ms)
{
	zmq_pollitem_t it = { c->sock, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t m;
	Keten__Local__V1__LocalReply *r;

	if (zmq_poll(&it, 1, timeout_ms) <= 0) {
		fprintf(stderr, "keten: the agent at %s did not answer within %ld ms; is "
		    "keten-agent running?\n", c->cfg->control, timeout_ms);
		return NULL;
	}
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, c->sock, 0) < 0) {
		zmq_msg_close(&m);
		return NULL;
	}
	r = keten__local__v1__local_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
	zmq_msg_close(&m);
	if (r == NULL)
		fprintf(stderr, "keten: malformed reply from the agent\n");
	return r;
}
