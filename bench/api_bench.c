/*
 * The agent's REST API under load: C clients (libketen-client, one keep-alive
 * connection each) submit CaseReferrals over HTTP and wait for the broker's
 * acceptance (GET /v1/messages/{id}?wait=).  Per submission it measures
 *   202:      POST /v1/messages until the agent has it on disk (fsync), and
 *   accepted: POST until the broker has it logged and committed (fsync),
 * and, as the baseline in the same run, GET /healthz: the HTTP round trip
 * through the agent's loop with no disk.  Prints p50/p99 and throughput for
 * 1 client and for CLIENTS clients.
 *
 *   api_bench http://127.0.0.1:PORT TOKEN-FILE RECIPIENT N CLIENTS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "bench/bench.h"

static const char *where, *recipient;
static char token[300];
static int per_client;

struct run {
	double *t202, *tacc;	/* per submission, seconds */
	int n, failed;
};

static void *
client(void *arg)
{
	struct run *r = arg;
	struct keten_client *kc;
	char body[1400], path[96], *resp = NULL, pad[1001];

	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	if (keten_client_open(where, token, &kc) != 0) {
		r->failed = per_client;
		return NULL;
	}
	for (int i = 0; i < per_client; i++) {
		snprintf(body, sizeof(body), "{\"type\":\"CaseReferral\",\"recipients\":[\"%s\"],"
		    "\"purpose\":\"prosecution\",\"message\":{\"reference\":\"B-%p-%d\","
		    "\"summary\":\"%.900s\"}}", recipient, (void *)r, i, pad);
		double t0 = now();
		int st = keten_client_call(kc, "POST", "/v1/messages", body, &resp);
		double t1 = now();
		const char *id = resp ? strstr(resp, "\"messageId\":\"") : NULL;
		if (st != 202 || id == NULL) {
			r->failed++;
			free(resp);
			continue;
		}
		snprintf(path, sizeof(path), "/v1/messages/%.36s?wait=30", id + 13);
		free(resp);
		st = keten_client_call(kc, "GET", path, NULL, &resp);
		double t2 = now();
		if (st != 200 || strstr(resp, "\"state\":\"accepted\"") == NULL) {
			r->failed++;
		} else {
			r->t202[r->n] = t1 - t0;
			r->tacc[r->n] = t2 - t0;
			r->n++;
		}
		free(resp);
		resp = NULL;
	}
	keten_client_close(&kc);
	return NULL;
}

static double
pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n ? v[(int)(p * (n - 1))] : 0;
}

/* The baseline: GET /healthz, the HTTP round trip through the agent loop. */
static void
health(int n)
{
	struct keten_client *kc;
	double *t = calloc((size_t)n, sizeof(*t));

	if (t == NULL || keten_client_open(where, token, &kc) != 0)
		exit(1);
	for (int i = 0; i < n; i++) {
		double t0 = now();
		char *resp = NULL;
		if (keten_client_call(kc, "GET", "/healthz", NULL, &resp) != 200)
			exit(1);
		free(resp);
		t[i] = now() - t0;
	}
	keten_client_close(&kc);
	printf("  %-34s p50 %7.3f ms  p99 %7.3f ms  (baseline: HTTP + agent loop, no disk)\n",
	    "GET /healthz, 1 client", 1e3 * pct(t, n, .5), 1e3 * pct(t, n, .99));
	free(t);
}

static void
submit(int clients, int n)
{
	pthread_t th[64];
	struct run r[64];
	int total = 0, failed = 0;

	per_client = n / clients;
	for (int c = 0; c < clients; c++) {
		r[c] = (struct run){ calloc((size_t)per_client, sizeof(double)),
		    calloc((size_t)per_client, sizeof(double)), 0, 0 };
	}
	double t0 = now();
	for (int c = 0; c < clients; c++)
		pthread_create(&th[c], NULL, client, &r[c]);
	for (int c = 0; c < clients; c++)
		pthread_join(th[c], NULL);
	double el = now() - t0;
	double *a = calloc((size_t)n, sizeof(double)), *b = calloc((size_t)n, sizeof(double));
	for (int c = 0; c < clients; c++) {
		memcpy(a + total, r[c].t202, (size_t)r[c].n * sizeof(double));
		memcpy(b + total, r[c].tacc, (size_t)r[c].n * sizeof(double));
		total += r[c].n;
		failed += r[c].failed;
		free(r[c].t202);
		free(r[c].tacc);
	}
	char label[64];
	snprintf(label, sizeof(label), "POST -> 202, %d client%s", clients, clients > 1 ? "s" : "");
	printf("  %-34s p50 %7.3f ms  p99 %7.3f ms\n", label, 1e3 * pct(a, total, .5),
	    1e3 * pct(a, total, .99));
	snprintf(label, sizeof(label), "POST -> accepted, %d client%s", clients, clients > 1 ? "s" : "");
	printf("  %-34s p50 %7.3f ms  p99 %7.3f ms  %6.0f msg/s%s\n", label, 1e3 * pct(b, total, .5),
	    1e3 * pct(b, total, .99), total / el, failed ? "  (FAILURES)" : "");
	if (failed)
		printf("  %d submissions failed\n", failed);
	free(a);
	free(b);
}

int
main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: api_bench http://ADDR:PORT TOKEN-FILE RECIPIENT N CLIENTS\n");
		return 2;
	}
	where = argv[1];
	recipient = argv[3];
	FILE *f = fopen(argv[2], "r");
	if (f == NULL || fgets(token, sizeof(token), f) == NULL)
		return 1;
	fclose(f);
	token[strcspn(token, "\n")] = '\0';
	int n = atoi(argv[4]), clients = atoi(argv[5]);
	if (n < clients || clients < 1 || clients > 64)
		return 2;
	printf("HTTP submit of %d CaseReferrals (~1 KiB), agent -> broker (fsync at both):\n", n);
	health(n);
	submit(1, n / 4 > 0 ? n / 4 : 1);
	submit(clients, n);
	return 0;
}
