/*
 * The RabbitMQ comparison for bench/broker_path.sh, in the shape of
 * broker_bench: three publisher connections (one per sender) with publisher
 * confirms put persistent ~1.1 KiB messages round-robin into three quorum
 * queues (one per recipient); a consumer per queue takes them with manual
 * acknowledgements (prefetch 1000, like the broker's delivery window).
 * INFLIGHT bounds the unconfirmed publishes over all publishers together;
 * a message counts when it is both confirmed and acknowledged by its
 * consumer; latency is publish -> confirm.  Prints per in-flight level the
 * medians over ROUNDS:
 *   RESULT rabbitmq <inflight> <msgs_per_s> <p50_ms> <p99_ms>
 *
 * usage: rabbit_bench PORT COUNT INFLIGHTS ROUNDS
 * (COUNT at 100 in flight and above, a tenth of it at 1; guest on 127.0.0.1)
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define NPUB 3
#define NQ 3
#define SIZE 1100
#define PREFETCH 1000

static int port;
static const char *queues[NQ] = { "kb-gemeente-amsterdam", "kb-gemeente-rotterdam",
    "kb-gemeente-utrecht" };
static atomic_long consumed;
static atomic_int consumer_ready, stop;

static void
die(const char *what, amqp_rpc_reply_t r)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	fprintf(stderr, "rabbit_bench: %s: ", what);
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "%s\n", amqp_error_string2(r.library_error));
	else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD || r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = r.reply.decoded;	/* same layout as connection_close */
		fprintf(stderr, "server: %d %.*s\n", m->reply_code, (int)m->reply_text.len,
		    (char *)m->reply_text.bytes);
	} else
		fprintf(stderr, "reply 0x%08x\n", r.reply.id);
	exit(1);
}

static amqp_connection_state_t
connect_to(int channels)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);

	if (s == NULL || amqp_socket_open(s, "127.0.0.1", port) != AMQP_STATUS_OK) {
		fprintf(stderr, "rabbit_bench: cannot connect to 127.0.0.1:%d\n", port);
		exit(1);
	}
	die("login", amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"));
	for (int ch = 1; ch <= channels; ch++) {
		amqp_channel_open(c, (amqp_channel_t)ch);
		die("channel.open", amqp_get_rpc_reply(c));
	}
	return c;
}

static void *
consumer(void *arg)
{
	amqp_connection_state_t c = connect_to(NQ);

	for (int q = 0; q < NQ; q++) {
		amqp_channel_t ch = (amqp_channel_t)(q + 1);
		amqp_basic_qos(c, ch, 0, PREFETCH, 0);
		die("basic.qos", amqp_get_rpc_reply(c));
		amqp_basic_consume(c, ch, amqp_cstring_bytes(queues[q]), amqp_empty_bytes, 0, 0, 0,
		    amqp_empty_table);
		die("basic.consume", amqp_get_rpc_reply(c));
	}
	atomic_store(&consumer_ready, 1);
	while (!atomic_load(&stop)) {
		amqp_envelope_t env;
		struct timeval tv = { 0, 100000 };
		amqp_maybe_release_buffers(c);
		amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		die("consume", r);
		if (amqp_basic_ack(c, env.channel, env.delivery_tag, 0) != 0) {
			fprintf(stderr, "rabbit_bench: basic.ack failed\n");
			exit(1);
		}
		atomic_fetch_add(&consumed, 1);
		amqp_destroy_envelope(&env);
	}
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	return arg;
}

static amqp_connection_state_t pubs[NPUB];
static uint64_t next_tag[NPUB], low_tag[NPUB];	/* confirms seen up to low_tag */

/* One round of COUNT messages with INFLIGHT unconfirmed at most. */
static void
round_run(long count, long inflight, double *tput, double *p50, double *p99)
{
	double *sent_at = calloc((size_t)count, sizeof(double)), *lat = calloc((size_t)count, sizeof(double));
	long *idx[NPUB];
	uint64_t tag0[NPUB];
	char body[SIZE];
	long sent = 0, acked = 0, base = atomic_load(&consumed);
	amqp_basic_properties_t props;

	memset(body, 'x', sizeof(body));
	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
	props.delivery_mode = 2;	/* persistent */
	props.content_type = amqp_cstring_bytes("application/octet-stream");
	for (int p = 0; p < NPUB; p++) {
		idx[p] = calloc((size_t)count, sizeof(long));
		tag0[p] = next_tag[p];
	}
	double t0 = now();
	while (acked < count) {
		while (sent < count && sent - acked < inflight) {
			int p = (int)(sent % NPUB), q = (int)((sent / NPUB) % NQ);
			memcpy(body, &sent, sizeof(sent));
			sent_at[sent] = now();
			idx[p][next_tag[p] - tag0[p]] = sent;
			next_tag[p]++;
			if (amqp_basic_publish(pubs[p], 1, amqp_empty_bytes, amqp_cstring_bytes(queues[q]),
			    0, 0, &props, (amqp_bytes_t){ sizeof(body), body }) != AMQP_STATUS_OK) {
				fprintf(stderr, "rabbit_bench: publish failed\n");
				exit(1);
			}
			sent++;
		}
		struct pollfd pf[NPUB];
		int ready = 0;
		for (int p = 0; p < NPUB; p++) {
			pf[p] = (struct pollfd){ amqp_get_sockfd(pubs[p]), POLLIN, 0 };
			if (amqp_frames_enqueued(pubs[p]) || amqp_data_in_buffer(pubs[p])) {
				pf[p].revents = POLLIN;
				ready = 1;
			}
		}
		if (!ready && poll(pf, NPUB, 30000) <= 0) {
			fprintf(stderr, "rabbit_bench: no confirm for 30 s\n");
			exit(1);
		}
		for (int p = 0; p < NPUB; p++) {
			if (!(pf[p].revents & POLLIN))
				continue;
			for (;;) {
				amqp_frame_t f;
				struct timeval tv = { 0, 0 };
				int rc = amqp_simple_wait_frame_noblock(pubs[p], &f, &tv);
				if (rc == AMQP_STATUS_TIMEOUT)
					break;
				if (rc != AMQP_STATUS_OK) {
					fprintf(stderr, "rabbit_bench: %s\n", amqp_error_string2(rc));
					exit(1);
				}
				if (f.frame_type != AMQP_FRAME_METHOD)
					continue;
				if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
					fprintf(stderr, "rabbit_bench: publish nacked\n");
					exit(1);
				}
				if (f.payload.method.id != AMQP_BASIC_ACK_METHOD)
					continue;
				amqp_basic_ack_t *a = f.payload.method.decoded;
				uint64_t from = a->multiple ? low_tag[p] + 1 : a->delivery_tag;
				double t = now();
				for (uint64_t tag = from; tag <= a->delivery_tag; tag++) {
					if (tag <= tag0[p])
						continue;
					long i = idx[p][tag - 1 - tag0[p]];
					if (lat[i] == 0) {
						lat[i] = t - sent_at[i];
						acked++;
					}
				}
				if (a->multiple || a->delivery_tag == low_tag[p] + 1)
					low_tag[p] = a->delivery_tag;
				amqp_maybe_release_buffers(pubs[p]);
			}
		}
	}
	double tacks = now();
	while (atomic_load(&consumed) - base < count) {
		if (now() - tacks > 60) {
			fprintf(stderr, "rabbit_bench: not every message consumed within 60 s\n");
			exit(1);
		}
		usleep(200);
	}
	double t1 = now();
	*tput = (double)count / (t1 - t0);
	qsort(lat, (size_t)count, sizeof(double), cmp);
	*p50 = 1000 * lat[count / 2];
	*p99 = 1000 * lat[(size_t)(0.99 * (double)count)];
	for (int p = 0; p < NPUB; p++)
		free(idx[p]);
	free(sent_at);
	free(lat);
}

int
main(int argc, char **argv)
{
	pthread_t ct;

	if (argc != 5) {
		fprintf(stderr, "usage: rabbit_bench PORT COUNT INFLIGHTS ROUNDS\n");
		return 2;
	}
	port = atoi(argv[1]);
	long count = atol(argv[2]);
	int rounds = atoi(argv[4]);
	if (rounds > 16)
		rounds = 16;

	amqp_connection_state_t adm = connect_to(1);
	for (int q = 0; q < NQ; q++) {
		amqp_table_entry_t e = { amqp_cstring_bytes("x-queue-type"),
		    { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("quorum") } };
		amqp_table_t args = { 1, &e };
		amqp_queue_declare(adm, 1, amqp_cstring_bytes(queues[q]), 0, 1, 0, 0, args);
		die("queue.declare (quorum)", amqp_get_rpc_reply(adm));
	}
	pthread_create(&ct, NULL, consumer, NULL);
	while (!atomic_load(&consumer_ready))
		usleep(1000);
	for (int p = 0; p < NPUB; p++) {
		pubs[p] = connect_to(1);
		amqp_confirm_select(pubs[p], 1);
		die("confirm.select", amqp_get_rpc_reply(pubs[p]));
	}
	double x, y, z;
	round_run(30, 1, &x, &y, &z);	/* warm-up */

	char *levels = strdup(argv[3]), *save = NULL;
	for (char *l = strtok_r(levels, ",", &save); l; l = strtok_r(NULL, ",", &save)) {
		long w = atol(l), c = w < 100 ? count / 10 : count;
		double t[16], a[16], b[16];
		for (int i = 0; i < rounds; i++) {
			round_run(c, w, &t[i], &a[i], &b[i]);
			fprintf(stderr, "  rabbitmq inflight=%ld round %d: %.0f msg/s p50 %.3f ms p99 %.3f ms\n",
			    w, i + 1, t[i], a[i], b[i]);
		}
		qsort(t, (size_t)rounds, sizeof(double), cmp);
		qsort(a, (size_t)rounds, sizeof(double), cmp);
		qsort(b, (size_t)rounds, sizeof(double), cmp);
		printf("RESULT rabbitmq %ld %.0f %.3f %.3f\n", w, t[rounds / 2], a[rounds / 2],
		    b[rounds / 2]);
		fflush(stdout);
	}
	atomic_store(&stop, 1);
	pthread_join(ct, NULL);
	for (int p = 0; p < NPUB; p++) {
		amqp_channel_close(pubs[p], 1, AMQP_REPLY_SUCCESS);
		amqp_connection_close(pubs[p], AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(pubs[p]);
	}
	amqp_connection_close(adm, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(adm);
	free(levels);
	return 0;
}
