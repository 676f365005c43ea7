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
 * With --path, the whole path through real agents: CLIENTS clients submit N
 * CaseSignals (~0.9 KiB, tests/data/messages/casesignal_construction.json)
 * each to the RECIPIENTS (comma-separated), then the recipients' inboxes are
 * read over their agents' Unix sockets (INBOXES, comma-separated
 * unix:PATH).  Latency is POST -> stored in the inbox (the recipient agent's
 * receivedMs, wall clock of the same machine, ms), per copy and per message
 * (its last copy); throughput is messages in every inbox per second, from
 * the first POST to the last copy stored.
 *
 *   api_bench http://127.0.0.1:PORT TOKEN-FILE RECIPIENT N CLIENTS
 *   api_bench --path http://127.0.0.1:PORT TOKEN-FILE RECIPIENTS N CLIENTS INBOXES
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "bench/bench.h"

#define PATH_MESSAGE "{\"reference\":\"P-%d\",\"observedOn\":\"2026-05-19\"," \
	"\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"],\"sector\":\"SECTOR_CONSTRUCTION\"," \
	"\"indicators\":[\"INDICATOR_UNDERPAYMENT\",\"INDICATOR_UNAWARE_OF_ADDRESS\"," \
	"\"INDICATOR_FALSE_PROMISES\"],\"observation\":\"Renovation crew sleeping in the building " \
	"they work on; told they would get a contract and training, received neither.\"," \
	"\"location\":{\"streetAddress\":\"Bouwplaats 1\",\"postcode\":\"5611 ZZ\"," \
	"\"municipality\":\"Eindhoven\"},\"persons\":[{\"personRef\":\"B1\"," \
	"\"role\":\"PERSON_ROLE_POSSIBLE_VICTIM\",\"givenName\":\"Oleksandr\"," \
	"\"familyName\":\"Pryklad\",\"birthYear\":1990,\"nationality\":\"UA\"," \
	"\"gender\":\"GENDER_MALE\",\"languages\":[\"uk\",\"ru\"]}],\"companies\":[{\"name\":" \
	"\"Bouwbedrijf Stenen Luchtkasteel (fictief)\",\"kvkNumber\":\"99000505\"," \
	"\"sector\":\"SECTOR_CONSTRUCTION\",\"address\":{\"streetAddress\":\"Nepstraat 8\"," \
	"\"postcode\":\"5612 AA\",\"municipality\":\"Eindhoven\"}}],\"urgency\":\"URGENCY_ROUTINE\"}"

static const char *where, *recipient;
static char token[300];
static int per_client;
static int path_mode;			/* --path: see the top */
static double *path_sent_ms;		/* per message: wall clock of its POST, ms */
static int path_clients;

static double
wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

struct run {
	double *t202, *tacc;	/* per submission, seconds */
	int n, failed;
};
static struct run runs[64];

static void *
client(void *arg)
{
	struct run *r = arg;
	struct keten_client *kc;
	char body[2400], path[96], *resp = NULL, pad[1001];

	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	if (keten_client_open(where, token, &kc) != 0) {
		r->failed = per_client;
		return NULL;
	}
	for (int i = 0; i < per_client; i++) {
		if (path_mode) {
			int k = (int)(r - runs) + i * path_clients;	/* this message's number */
			char m[1200];
			snprintf(m, sizeof(m), PATH_MESSAGE, k);
			snprintf(body, sizeof(body), "{\"type\":\"CaseSignal\",\"recipients\":%s,"
			    "\"purpose\":\"victim-care\",\"message\":%s}", recipient, m);
			path_sent_ms[k] = wall_ms();
		} else {
			snprintf(body, sizeof(body), "{\"type\":\"CaseReferral\",\"recipients\":[\"%s\"],"
			    "\"purpose\":\"prosecution\",\"message\":{\"reference\":\"B-%p-%d\","
			    "\"summary\":\"%.900s\"}}", recipient, (void *)r, i, pad);
		}
		double t0 = now();
		int st = keten_client_call(kc, "POST", "/v1/messages", body, &resp);
		double t1 = now();
		const char *id = resp ? strstr(resp, "\"messageId\":\"") : NULL;
		if (st != 202 || id == NULL) {
			if (r->failed++ == 0)
				fprintf(stderr, "api_bench: POST answered %d: %.300s\n", st, resp ? resp : "");
			free(resp);
			continue;
		}
		if (path_mode) {	/* the inboxes tell the rest */
			r->t202[r->n] = t1 - t0;
			r->tacc[r->n] = t1 - t0;
			r->n++;
			free(resp);
			resp = NULL;
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
	struct run *r = runs;
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
	if (path_mode) {
		free(a);
		free(b);
		return;
	}
	snprintf(label, sizeof(label), "POST -> accepted, %d client%s", clients, clients > 1 ? "s" : "");
	printf("  %-34s p50 %7.3f ms  p99 %7.3f ms  %6.0f msg/s%s\n", label, 1e3 * pct(b, total, .5),
	    1e3 * pct(b, total, .99), total / el, failed ? "  (FAILURES)" : "");
	if (failed)
		printf("  %d submissions failed\n", failed);
	free(a);
	free(b);
}

/*
 * Read every inbox until it holds n messages of this run (P-0 .. P-n-1) or
 * 300 s pass; print latency POST -> stored per copy and per message, and
 * the throughput.
 */
static int
read_inboxes(char *inboxes, int n, double first_ms)
{
	double *last = calloc((size_t)n, sizeof(double)), *copy = NULL;
	size_t ncopy = 0, capcopy = 0;
	int missing = 0, ninbox = 0;
	double end_ms = 0;

	for (char *w = strtok(inboxes, ","); w != NULL; w = strtok(NULL, ","), ninbox++) {
		struct keten_client *kc;
		long long after = 0;
		int got = 0;
		double t0 = now();
		if (keten_client_open(w, NULL, &kc) != 0) {
			fprintf(stderr, "api_bench: cannot open %s\n", w);
			return 1;
		}
		while (got < n && now() - t0 < 300) {
			char path[128], *resp = NULL;
			snprintf(path, sizeof(path), "/v1/inbox?all=true&limit=1000&wait=5&after=%lld", after);
			if (keten_client_call(kc, "GET", path, NULL, &resp) != 200) {
				fprintf(stderr, "api_bench: GET %s on %s failed: %.200s\n", path, w,
				    resp ? resp : "");
				free(resp);
				break;
			}
			json_t *page = json_loads(resp, 0, NULL), *items = json_object_get(page, "items"), *it;
			size_t i;
			free(resp);
			after = json_integer_value(json_object_get(page, "next"));
			json_array_foreach(items, i, it) {
				const char *ref = json_string_value(json_object_get(json_object_get(it,
				    "message"), "reference"));
				double rcv = (double)json_integer_value(json_object_get(it, "receivedMs"));
				int k;
				if (ref == NULL || sscanf(ref, "P-%d", &k) != 1 || k < 0 || k >= n ||
				    path_sent_ms[k] == 0)
					continue;
				if (ncopy == capcopy) {
					capcopy = capcopy ? 2 * capcopy : 4096;
					copy = realloc(copy, capcopy * sizeof(*copy));
				}
				double l = (rcv - path_sent_ms[k]) / 1e3;	/* s; ms resolution */
				copy[ncopy++] = l;
				if (l > last[k])
					last[k] = l;
				if (rcv > end_ms)
					end_ms = rcv;
				got++;
			}
			json_decref(page);
		}
		keten_client_close(&kc);
		missing += n - got;
	}
	printf("  %-34s %d messages x %d recipients, %d copies missing\n", "REST -> 3 inboxes", n,
	    ninbox, missing);
	printf("  %-34s p50 %7.3f ms  p99 %7.3f ms\n", "POST -> in an inbox (each copy)",
	    1e3 * pct(copy, (int)ncopy, .5), 1e3 * pct(copy, (int)ncopy, .99));
	printf("  %-34s p50 %7.3f ms  p99 %7.3f ms  %6.0f msg/s (x%d copies)\n",
	    "POST -> in every inbox", 1e3 * pct(last, n, .5), 1e3 * pct(last, n, .99),
	    end_ms > first_ms ? n / ((end_ms - first_ms) / 1e3) : 0, ninbox);
	free(copy);
	free(last);
	return missing != 0;
}

int
main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "--path") == 0) {
		path_mode = 1;
		where = argv[2];
		int n = atoi(argv[5]), clients = atoi(argv[6]);
		if (n < clients || clients < 1 || clients > 64)
			return 2;
		n -= n % clients;
		static char rec[512];
		size_t o = 0;
		rec[o++] = '[';
		for (char *t = strtok(argv[4], ","); t && o < sizeof(rec) - 80; t = strtok(NULL, ","))
			o += (size_t)snprintf(rec + o, sizeof(rec) - o, "%s\"%s\"", o > 1 ? "," : "", t);
		rec[o++] = ']';
		recipient = rec;
		FILE *f = fopen(argv[3], "r");
		if (f == NULL || fgets(token, sizeof(token), f) == NULL)
			return 1;
		fclose(f);
		token[strcspn(token, "\n")] = '\0';
		path_sent_ms = calloc((size_t)n, sizeof(double));
		path_clients = clients;
		printf("whole path: %d clients POST %d CaseSignals to %s; agent -> broker -> agents -> "
		    "inboxes (fsync at each hop):\n", clients, n, recipient);
		double first = wall_ms();
		submit(clients, n);
		return read_inboxes(argv[7], n, first);
	}
	if (argc != 6) {
		fprintf(stderr, "usage: api_bench http://ADDR:PORT TOKEN-FILE RECIPIENT N CLIENTS\n"
		    "       api_bench --path http://ADDR:PORT TOKEN-FILE RECIPIENTS N CLIENTS "
		    "unix:SOCK,...\n");
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
