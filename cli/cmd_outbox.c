/* keten outbox: what waits in the local agent's outbox to go to the broker, and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "cli/cli.h"
#include "common/util.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten outbox [--config AGENT.yaml] [--limit N] [--json]\n"
	    "  Lists what the agent holds for the broker, oldest first: messages not yet\n"
	    "  acknowledged (submission) and refusals at the source not yet in the ledger\n"
	    "  (refusal), one line each (REF  CREATED  KIND  TYPE  -> RECIPIENTS  PURPOSE\n"
	    "  MESSAGE-ID), after a line saying what they wait for.  --limit (1 to 1000,\n"
	    "  default 100); --json prints GET /v1/outbox's answer.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int
cmd_outbox(int argc, char **argv)
{
	const char *config = NULL;
	unsigned long limit = 100;
	int rc = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			char *end;
			limit = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || limit == 0 || limit > 1000) {
				fprintf(stderr, "keten outbox: --limit is 1 to 1000\n");
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--json") == 0) {
			cli_json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			return usage(stdout);
		} else {
			fprintf(stderr, "keten outbox: unexpected argument \"%.40s\"\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	struct keten_client *kc = cli_client_open(config);
	if (kc == NULL)
		return EXIT_UNREACHABLE;
	char path[64];
	json_t *o = NULL, *it;
	size_t i;
	snprintf(path, sizeof(path), "/v1/outbox?limit=%lu", limit);
	int st = cli_call(kc, "outbox", "GET", path, NULL, &o);
	if (st != 200) {
		rc = cli_exit_code(st);
	} else if (cli_json) {
		cli_print_json(o);
	} else {
		printf("%lld waiting; %s\n", (long long)json_integer_value(json_object_get(o, "depth")),
		    json_string_value(json_object_get(o, "waitingFor")));
		json_array_foreach(json_object_get(o, "items"), i, it) {
			json_t *r;
			size_t k;
			printf("%lld  %s  %-10s  %s  ->", (long long)json_integer_value(json_object_get(it,
			    "ref")), json_string_value(json_object_get(it, "created")),
			    json_string_value(json_object_get(it, "kind")),
			    json_string_value(json_object_get(it, "type")));
			json_array_foreach(json_object_get(it, "recipients"), k, r)
				printf("%s%s", k ? "," : " ", json_string_value(r));
			printf("  %s  %s\n", json_string_value(json_object_get(it, "purpose")),
			    json_string_value(json_object_get(it, "messageId")));
		}
	}
	json_decref(o);
	keten_client_close(&kc);
	return rc;
}
