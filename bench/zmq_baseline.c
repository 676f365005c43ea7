/*
 * Baseline for bench/message_path.sh: raw libzmq CURVE request/reply between
 * a DEALER and a ROUTER over ipc://, `inflight` requests outstanding, no disk.
 * Prints "baseline_msgs_per_s N".
 * usage: zmq_baseline ENDPOINT COUNT SIZE INFLIGHT
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static char server_pk[41], server_sk[41];
static const char *endpoint;
static long count;

static void *
server(void *ctx)
{
	void *s = zmq_socket(ctx, ZMQ_ROUTER);
	int one = 1;
	zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, server_sk, 40);
	zmq_bind(s, endpoint);
	for (long i = 0; i < count; i++) {
		zmq_msg_t id, body;
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		zmq_msg_recv(&id, s, 0);
		zmq_msg_recv(&body, s, 0);
		zmq_msg_send(&id, s, ZMQ_SNDMORE);
		zmq_msg_send(&body, s, 0);
	}
	sleep(1);
	zmq_close(s);
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	endpoint = argv[1];
	count = atol(argv[2]);
	size_t size = (size_t)atol(argv[3]);
	long inflight = atol(argv[4]);
	void *ctx = zmq_ctx_new();
	char pk[41], sk[41];
	zmq_curve_keypair(server_pk, server_sk);
	zmq_curve_keypair(pk, sk);
	pthread_t t;
	pthread_create(&t, NULL, server, ctx);
	void *c = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, server_pk, 40);
	zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, pk, 40);
	zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, sk, 40);
	zmq_connect(c, endpoint);
	char *buf = calloc(1, size), *rb = malloc(size + 1);
	struct timespec a, b;
	long sent = 0, got = 0;
	/* one warm-up exchange so the handshake is not measured */
	zmq_send(c, buf, size, 0);
	zmq_recv(c, rb, size + 1, 0);
	got = sent = 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (got < count) {
		while (sent < count && sent - got < inflight) {
			zmq_send(c, buf, size, 0);
			sent++;
		}
		zmq_recv(c, rb, size + 1, 0);
		got++;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("baseline_msgs_per_s %.0f\n", (double)(count - 1) / s);
	zmq_close(c);
	pthread_join(t, NULL);
	zmq_ctx_term(ctx);
	free(buf);
	free(rb);
	return 0;
}
