/*
 * An example partner system in C on libketen-client (agent/keten_client.h):
 *
 *   keten-client-example AGENT TOKEN-FILE send TYPE RECIPIENT PURPOSE MESSAGE.json
 *       submits the message, prints its id and what the policy withheld,
 *       then waits until the broker has accepted (or rejected) it;
 *   keten-client-example AGENT TOKEN-FILE receive COUNT
 *       long-polls the inbox, prints each message's sender, type and id,
 *       acknowledges it after "storing" it, until COUNT have arrived.
 *
 * AGENT is http://127.0.0.1:PORT (the agent's api_listen) or
 * unix:DATA_DIR/api.sock (then TOKEN-FILE is "-").  The JSON is handled
 * with plain string functions to keep the example free of dependencies; a
 * real system would use its JSON library.  Exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"

/* The string value of "key" in a flat JSON text (example-grade, not a parser). */
static char *
json_str(const char *json, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if (json == NULL || (p = strstr(json, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= cap)
		return NULL;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return out;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap && (buf = realloc(buf, cap = 2 * cap + 8192)) == NULL)
			break;
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

static int
send_one(struct keten_client *kc, char **argv)
{
	char *msg = read_file(argv[4]), *req = NULL, *resp = NULL, id[40], path[96], state[32];
	int st;

	if (msg == NULL) {
		perror(argv[4]);
		return 1;
	}
	if (asprintf(&req, "{\"type\":\"%s\",\"recipients\":[\"%s\"],\"purpose\":\"%s\",\"message\":%s}",
	    argv[1], argv[2], argv[3], msg) < 0)
		return 1;
	free(msg);
	st = keten_client_call(kc, "POST", "/v1/messages", req, &resp);
	free(req);
	if (st != 202 || json_str(resp, "messageId", id, sizeof(id)) == NULL) {
		fprintf(stderr, "not accepted (%d): %s\n", st, st < 0 ? keten_client_error(kc) : resp);
		free(resp);
		return 1;
	}
	printf("submitted %s\n", id);
	/* what the policy withheld, per recipient and field: the "withheld" array */
	const char *w = strstr(resp, "\"withheld\":[");
	printf("withheld: %s\n", w && w[12] != ']' ? w + 11 : "nothing");
	free(resp);
	snprintf(path, sizeof(path), "/v1/messages/%s?wait=10", id);
	st = keten_client_call(kc, "GET", path, NULL, &resp);
	if (st != 200 || json_str(resp, "state", state, sizeof(state)) == NULL) {
		fprintf(stderr, "no status (%d)\n", st);
		free(resp);
		return 1;
	}
	printf("state %s\n", state);
	free(resp);
	return strcmp(state, "accepted") == 0 ? 0 : 1;
}

static int
receive(struct keten_client *kc, int count)
{
	char *resp = NULL, path[96], id[40], sender[80], type[80], next[24] = "0";

	for (int got = 0; got < count;) {
		snprintf(path, sizeof(path), "/v1/inbox?after=%s&limit=1&wait=10", next);
		int st = keten_client_call(kc, "GET", path, NULL, &resp);
		if (st != 200) {
			fprintf(stderr, "inbox (%d): %s\n", st, st < 0 ? keten_client_error(kc) : resp);
			free(resp);
			return 1;
		}
		if (json_str(resp, "messageId", id, sizeof(id)) == NULL) {
			free(resp);
			fprintf(stderr, "nothing arrived within 10 s\n");
			return 1;
		}
		json_str(resp, "sender", sender, sizeof(sender));
		json_str(resp, "type", type, sizeof(type));
		const char *n = strstr(resp, "\"next\":");
		snprintf(next, sizeof(next), "%lld", n ? atoll(n + 7) : 0LL);
		free(resp);
		printf("received %s from %s: %s\n", type, sender, id);
		/* ... store it in the case system first; then acknowledge ... */
		snprintf(path, sizeof(path), "/v1/inbox/%s/ack", id);
		if ((st = keten_client_call(kc, "POST", path, NULL, NULL)) != 200) {
			fprintf(stderr, "ack failed (%d)\n", st);
			return 1;
		}
		got++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct keten_client *kc;
	char token[300] = "", *nl;
	int rc;

	if (argc < 4 || (strcmp(argv[3], "send") == 0 && argc != 8) ||
	    (strcmp(argv[3], "receive") == 0 && argc != 5)) {
		fprintf(stderr, "usage: keten-client-example AGENT TOKEN-FILE send TYPE RECIPIENT "
		    "PURPOSE MESSAGE.json\n       keten-client-example AGENT TOKEN-FILE receive COUNT\n");
		return 2;
	}
	if (strcmp(argv[2], "-") != 0) {
		FILE *f = fopen(argv[2], "r");
		if (f == NULL || fgets(token, sizeof(token), f) == NULL) {
			perror(argv[2]);
			return 1;
		}
		fclose(f);
		if ((nl = strchr(token, '\n')) != NULL)
			*nl = '\0';
	}
	if (keten_client_open(argv[1], token[0] ? token : NULL, &kc) != 0) {
		fprintf(stderr, "bad agent address %s\n", argv[1]);
		return 2;
	}
	rc = strcmp(argv[3], "send") == 0 ? send_one(kc, argv + 3) : receive(kc, atoi(argv[4]));
	keten_client_close(&kc);
	return rc;
}
