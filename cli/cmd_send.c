/* keten send: hand one message, or one per input line, to the local agent. */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "cli/cli.h"
#include "common/util.h"
#include "policy/policy.h"

#define SEND_BATCH 256		/* input lines per request at most */


static int
usage(FILE *f)
{
	fprintf(f, "usage: keten send [--config AGENT.yaml] --to ID[,ID...] --type TYPE --purpose P\n"
	    "                  [--basis B] [--handling LABEL] [--attr form=LABOUR] [--attr minor=true]\n"
	    "                  [--attr region=R] [--reply-to MESSAGE-ID] [--case REFERENCE] [--quiet]\n"
	    "                  [--json]\n"
	    "                  (--body JSON | --file FILE.json | --lines)\n"
	    "  Hands a case message (JSON, see keten schema show TYPE) to the local agent,\n"
	    "  which filters it per recipient by the policy, and prints its message id once\n"
	    "  the agent has it on disk.  What the policy withholds from whom, and why, is\n"
	    "  printed to standard error (--quiet: not).  --lines sends each line of\n"
	    "  standard input as one message and prints one id per line, in order.\n"
	    "  LABEL is a TLP 2.0 label: CLEAR, GREEN, AMBER (default), AMBER+STRICT, RED.\n"
	    "  --case gives your case reference; only its keyed pseudonym travels.\n"
	    "  --json prints the API's answer per message (POST /v1/messages) as a JSON line.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static bool quiet;

/* Print one submission's result: its id and what was withheld, or why not. */
static int
print_result(json_t *out, int st, const char *where)
{
	const char *id = json_string_value(json_object_get(out, "messageId"));
	json_t *w;
	size_t i;

	if (cli_json)
		cli_print_json(out);
	if (st != 202 || id == NULL) {
		const char *msg = json_string_value(json_object_get(json_object_get(out, "error"),
		    "message"));
		fprintf(stderr, "keten send: %s%s%s\n", where, where[0] ? ": " : "",
		    msg ? msg : "not accepted");
		return st == 503 ? EXIT_UNREACHABLE : EXIT_FAIL;
	}
	if (!cli_json)
		printf("%s\n", id);
	json_array_foreach(json_object_get(out, "withheld"), i, w) {
		const char *rc = json_string_value(json_object_get(w, "recipient"));
		const char *path = json_string_value(json_object_get(w, "path"));
		const char *why = json_string_value(json_object_get(w, "reason"));
		const char *rule = json_string_value(json_object_get(w, "rule"));
		if (quiet || !rc || !path || !why || !rule)
			continue;
		if (path[0] == '\0')
			fprintf(stderr, "%s: not sent to %s: %s%s%s%s\n", id, rc, why,
			    rule[0] ? " (rule " : "", rule, rule[0] ? ")" : "");
		else
			fprintf(stderr, "%s: withheld from %s: %s: %s%s%s%s\n", id, rc, path, why,
			    rule[0] ? " (rule " : "", rule, rule[0] ? ")" : "");
	}
	return EXIT_OK;
}

/* The request with `message` set from JSON text, or NULL (error printed). */
static json_t *
with_message(json_t *req, const char *payload, size_t len, const char *where)
{
	json_error_t je;
	json_t *msg = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je), *r;

	if (msg == NULL) {
		fprintf(stderr, "keten send: %s%sline %d column %d: %s\n", where, where[0] ? ", " : "",
		    je.line, je.column, je.text);
		return NULL;
	}
	r = json_copy(req);
	json_object_set_new(r, "message", msg);
	return r;
}

/*
 * Submit the batch (an array of requests, in input order) in one call;
 * print each result.  The worst exit code.
 */
static int
flush(struct keten_client *kc, json_t *batch, unsigned long first_line)
{
	json_t *out, *o;
	size_t i;
	int status = EXIT_OK;
	char where[48];

	if (json_array_size(batch) == 0)
		return EXIT_OK;
	int st = cli_call(kc, "send", "POST", "/v1/messages", batch, &out);
	if (st == 200) {
		json_array_foreach(json_object_get(out, "results"), i, o) {
			snprintf(where, sizeof(where), "input line %lu", first_line + i);
			int rc = print_result(o, (int)json_integer_value(json_object_get(o, "status")),
			    where);
			if (rc > status)
				status = rc;
		}
	} else {
		status = cli_exit_code(st);
	}
	json_decref(out);
	json_array_clear(batch);
	return status;
}

/* Is more standard input ready now? (batch what is there; do not wait for more) */
static bool
input_ready(void)
{
	struct pollfd p = { 0, POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* --attr form=LABOUR | minor=true | region=ID | urgency=IMMEDIATE, into the request's attributes */
static int
parse_attr(const char *kv, json_t *attrs)
{
	const char *eq = strchr(kv, '=');
	const char *v = eq ? eq + 1 : "";
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);

	if (klen == 4 && strncmp(kv, "form", 4) == 0 && *v) {
		json_t *f = json_object_get(attrs, "exploitationForms");
		if (f == NULL)
			json_object_set_new(attrs, "exploitationForms", f = json_array());
		json_array_append_new(f, json_string(v));
	} else if (klen == 5 && strncmp(kv, "minor", 5) == 0 &&
	    (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)) {
		json_object_set_new(attrs, "minor", json_boolean(strcmp(v, "true") == 0));
	} else if (klen == 6 && strncmp(kv, "region", 6) == 0 && *v) {
		json_object_set_new(attrs, "region", json_string(v));
	} else if (klen == 7 && strncmp(kv, "urgency", 7) == 0 && *v) {
		json_object_set_new(attrs, "urgency", json_string(v));
	} else {
		fprintf(stderr, "keten send: bad attribute \"%s\" (form=LABOUR, minor=true|false, "
		    "region=ID, urgency=IMMEDIATE)\n", kv);
		return -1;
	}
	return 0;
}

/* The whole of file, in *data (the caller frees it); perror()s the failure. */
static int
read_input(const char *file, char **data, size_t *len)
{
	FILE *f = fopen(file, "rb");
	char buf[65536];
	size_t r;

	if (f == NULL) {
		perror(file);
		return -1;
	}
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
		char *nd = realloc(*data, *len + r);
		if (nd == NULL) {
			fclose(f);
			free(*data);
			*data = NULL;
			return -1;
		}
		*data = nd;
		memcpy(*data + *len, buf, r);
		*len += r;
	}
	fclose(f);
	return 0;
}

/* The request's fields other than the message (rcpts and attrs stay the caller's). */
static void
fill_request(json_t *req, const char *type, json_t *rcpts, const char *purpose,
    const char *basis, const char *caseref, const char *handling, const char *reply_to,
    json_t *attrs)
{
	json_object_set_new(req, "type", json_string(type));
	json_object_set(req, "recipients", rcpts);
	json_object_set_new(req, "purpose", json_string(purpose));
	if (basis)
		json_object_set_new(req, "legalBasis", json_string(basis));
	if (caseref)
		json_object_set_new(req, "caseReference", json_string(caseref));
	if (handling)
		json_object_set_new(req, "handling", json_string(handling));
	if (reply_to)
		json_object_set_new(req, "inReplyTo", json_string(reply_to));
	if (json_object_size(attrs) > 0)
		json_object_set(req, "attributes", attrs);
}

/* One message (--body or --file); the exit status. */
static int
send_one(struct keten_client *kc, json_t *req, const char *msg, size_t len, const char *where)
{
	json_t *one = with_message(req, msg, len, where), *out;
	int status = EXIT_FAIL;

	if (one != NULL) {
		int st = cli_call(kc, "send", "POST", "/v1/messages", one, &out);
		if (st >= 0 && st != 202 && cli_json && out != NULL)
			cli_print_json(out);	/* the error object, as the API gave it */
		status = st == 202 ? print_result(out, st, "") : cli_exit_code(st);
		json_decref(out);
		json_decref(one);
	}
	return status;
}

/*
 * --lines: one message per line of stdin, in order, batched: what stdin
 * holds now (up to SEND_BATCH lines) goes in one request, which the agent
 * takes in one commit.  The exit status.
 */
static int
send_lines(struct keten_client *kc, json_t *req)
{
	json_t *batch = json_array();
	char *line = NULL, where[32];
	size_t cap = 0;
	ssize_t n;
	unsigned long no = 0, first = 1;
	int status = EXIT_OK;

	while (status != EXIT_UNREACHABLE && (n = getline(&line, &cap, stdin)) >= 0) {
		snprintf(where, sizeof(where), "input line %lu", ++no);
		json_t *one = with_message(req, line, (size_t)n, where);
		if (one == NULL) {
			int rc = flush(kc, batch, first);	/* keep the order of output */
			status = rc > EXIT_FAIL ? rc : EXIT_FAIL;
			first = no + 1;
			continue;
		}
		json_array_append_new(batch, one);
		if (json_array_size(batch) == SEND_BATCH || !input_ready()) {
			int rc = flush(kc, batch, first);
			if (rc > status)
				status = rc;
			first = no + 1;
		}
	}
	int rc = flush(kc, batch, first);
	if (rc > status)
		status = rc;
	json_decref(batch);
	free(line);
	return status;
}

/* cmd_send's work; the caller owns (and frees) attrs, req and rcpts on every path. */
static int
send_main(int argc, char **argv, const struct option *opts, json_t *attrs, json_t *req,
    json_t *rcpts)
{
	const char *config = NULL, *type = NULL, *body = NULL, *file = NULL;
	char *tolist = NULL;
	size_t nto = 0;
	bool lines = false;
	int ch, status = EXIT_OK;
	const char *purpose = NULL, *basis = NULL, *caseref = NULL;
	const char *handling = NULL, *reply_to = NULL;
	uint8_t id[KETEN_UUIDBYTES];

	while ((ch = getopt_long(argc, argv, "c:t:T:b:f:lhp:B:H:A:R:qC:J", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 't': tolist = optarg; break;
		case 'T': type = optarg; break;
		case 'b': body = optarg; break;
		case 'f': file = optarg; break;
		case 'l': lines = true; break;
		case 'p': purpose = optarg; break;
		case 'B': basis = optarg; break;
		case 'q': quiet = true; break;
		case 'J': cli_json = true; break;
		case 'C': caseref = optarg; break;
		case 'H':
			if (policy_handling_parse(handling = optarg) < 0) {
				fprintf(stderr, "keten send: unknown handling label \"%s\" (CLEAR, GREEN, "
				    "AMBER, AMBER+STRICT, RED)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'R':
			if (uuid_parse(id, reply_to = optarg) != 0) {
				fprintf(stderr, "keten send: --reply-to needs a message id\n");
				return EXIT_USAGE;
			}
			break;
		case 'A':
			if (parse_attr(optarg, attrs) != 0)
				return EXIT_USAGE;
			break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (tolist == NULL || type == NULL || purpose == NULL || optind != argc ||
	    (body != NULL) + (file != NULL) + lines != 1)
		return usage(stderr);
	for (char *save = NULL, *t = strtok_r(tolist, ",", &save); t != NULL;
	    t = strtok_r(NULL, ",", &save)) {
		if (nto == 64) {
			fprintf(stderr, "keten send: at most 64 recipients\n");
			return EXIT_USAGE;
		}
		json_array_append_new(rcpts, json_string(t));
		nto++;
	}

	char *data = NULL;
	size_t len = 0;
	if (file != NULL && read_input(file, &data, &len) != 0)
		return EXIT_FAIL;

	struct keten_client *kc = cli_client_open(config);
	if (kc == NULL) {
		free(data);
		return EXIT_UNREACHABLE;
	}
	fill_request(req, type, rcpts, purpose, basis, caseref, handling, reply_to, attrs);

	status = lines ? send_lines(kc, req) : body ? send_one(kc, req, body, strlen(body), "") :
	    send_one(kc, req, data, len, file);
	keten_client_close(&kc);
	free(data);
	return status;
}

int
cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "type", required_argument, NULL, 'T' },
		{ "body", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		{ "lines", no_argument, NULL, 'l' },
		{ "purpose", required_argument, NULL, 'p' },
		{ "basis", required_argument, NULL, 'B' },
		{ "handling", required_argument, NULL, 'H' },
		{ "attr", required_argument, NULL, 'A' },
		{ "reply-to", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'J' },
		{ "case", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *attrs = json_object(), *req = json_object(), *rcpts = json_array();
	int status;

	status = send_main(argc, argv, opts, attrs, req, rcpts);
	json_decref(req);
	json_decref(attrs);
	json_decref(rcpts);
	return status;
}
