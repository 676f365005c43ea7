/* keten inbox / keten ack: what the local agent has received, and taking it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "cli/cli.h"
#include "common/util.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten inbox [--config AGENT.yaml] [--after SEQ] [--limit N] [--all]\n"
	    "                   [--new] [--wait SECONDS] [--json]\n"
	    "  Prints one line per message, tab-separated:\n"
	    "    SEQ  MESSAGE-ID  SENDER  TYPE  RECEIVED  MESSAGE\n"
	    "  RECEIVED is the time it arrived, ISO 8601 in UTC.\n"
	    "  MESSAGE is the case message as canonical JSON on one line.  --all pages\n"
	    "  through the whole inbox.  --new lists only what was not acknowledged with\n"
	    "  keten ack.  --wait waits up to SECONDS (at most 30) for a message to arrive.\n"
	    "  --json prints each item as the API gives it (GET /v1/inbox), one per line.\n"
	    "       keten ack [--config AGENT.yaml] [--json] MESSAGE-ID...\n"
	    "  Records that the partner system has taken these messages (GET /v1/inbox\n"
	    "  lists only unacknowledged ones).\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	*out = strtoull(s, &end, 10);
	return *end == '\0';
}

/* One line per inbox item; returns how many were printed, the last seq in *after. */
static size_t
print_items(json_t *page, uint64_t *after)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(page, "items"), i, it) {
		if (cli_json) {
			cli_print_json(it);
			*after = (uint64_t)json_integer_value(json_object_get(it, "seq"));
			continue;
		}
		char *msg = json_dumps(json_object_get(it, "message"), JSON_COMPACT | JSON_ENCODE_ANY);
		const char *type = json_string_value(json_object_get(it, "type"));
		json_int_t seq = json_integer_value(json_object_get(it, "seq"));
		char when[KETEN_TIMESTRLEN];
		printf("%lld\t%s\t%s\tketen.case.v1.%s\t%s\t%s\n", (long long)seq,
		    json_string_value(json_object_get(it, "messageId")),
		    json_string_value(json_object_get(it, "sender")), type ? type : "?",
		    time_iso(json_integer_value(json_object_get(it, "receivedMs")), when),
		    msg ? msg : "null");
		free(msg);
		*after = (uint64_t)seq;
	}
	return json_array_size(json_object_get(page, "items"));
}

int
cmd_inbox(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "after", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'A' },
		{ "new", no_argument, NULL, 'N' },
		{ "wait", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	uint64_t after = 0, limit = 100, wait = 0;
	bool all = false, only_new = false;
	int ch, status = EXIT_OK;

	while ((ch = getopt_long(argc, argv, "c:a:n:ANw:hJ", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'a':
			if (!parse_u64(optarg, &after))
				return usage(stderr);
			break;
		case 'n':
			if (!parse_u64(optarg, &limit) || limit == 0 || limit > 1000)
				return usage(stderr);
			break;
		case 'A': all = true; break;
		case 'N': only_new = true; break;
		case 'J': cli_json = true; break;
		case 'w':
			if (!parse_u64(optarg, &wait) || wait > 30)
				return usage(stderr);
			break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (optind != argc)
		return usage(stderr);
	struct keten_client *kc = cli_client_open(config);
	if (kc == NULL)
		return EXIT_UNREACHABLE;
	if (all)
		limit = 1000;
	for (;;) {
		char path[160];
		json_t *page;
		snprintf(path, sizeof(path), "/v1/inbox?after=%llu&limit=%llu&wait=%llu%s",
		    (unsigned long long)after, (unsigned long long)limit, (unsigned long long)wait,
		    only_new ? "" : "&all=true");
		int st = cli_call(kc, "inbox", "GET", path, NULL, &page);
		if (st != 200) {
			status = cli_exit_code(st);
			json_decref(page);
			break;
		}
		size_t n = print_items(page, &after);
		json_decref(page);
		if (!all || n < limit)
			break;
	}
	keten_client_close(&kc);
	return status;
}

int
cmd_ack(int argc, char **argv)
{
	const char *config = NULL;
	int status = EXIT_OK, nids = 0;
	uint8_t id[KETEN_UUIDBYTES];

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return cli_usage_verb(NULL, usage, "ack", "docs/integration.md");
		else if (strcmp(argv[i], "--json") == 0)
			cli_json = true;
		else if (uuid_parse(id, argv[i]) == 0)
			nids++;
		else {
			fprintf(stderr, "keten ack: \"%s\" is not a message id\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (nids == 0)
		return usage(stderr);
	struct keten_client *kc = cli_client_open(config);
	if (kc == NULL)
		return EXIT_UNREACHABLE;
	for (int i = 1; i < argc && status != EXIT_UNREACHABLE; i++) {
		char path[80];
		json_t *out;
		if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) {
			i++;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0)
			continue;
		snprintf(path, sizeof(path), "/v1/inbox/%s/ack", argv[i]);
		int st = cli_call(kc, "ack", "POST", path, NULL, &out);
		if (st == 200 && cli_json)
			cli_print_json(out);
		else if (st == 200)
			printf("%s acknowledged%s\n", argv[i],
			    json_is_true(json_object_get(out, "already")) ? " (before)" : "");
		else
			status = cli_exit_code(st);
		json_decref(out);
	}
	keten_client_close(&kc);
	return status;
}
