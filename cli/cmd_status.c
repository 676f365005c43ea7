/* keten status: what became of a message this agency sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/keten_client.h"
#include "cli/cli.h"
#include "common/util.h"

int
cmd_status(int argc, char **argv)
{
	const char *config = NULL, *idtext = NULL;
	uint8_t id[KETEN_UUIDBYTES];
	unsigned long wait = 0;
	int status = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			cli_json = true;
		else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
			wait = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: keten status [--config AGENT.yaml] [--wait SECONDS] [--json]\n"
			    "                    MESSAGE-ID\n"
			    "  Prints the state of a message this agency sent: queued (in the agent's\n"
			    "  outbox), accepted (the broker has it on disk), rejected (with the\n"
			    "  broker's reason), and the ledger receipts of accepted copies.  --wait\n"
			    "  waits up to SECONDS (at most 30) while it is queued.  Exit 0, or 1 for\n"
			    "  rejected and unknown.  --json prints GET /v1/messages/{id}'s answer.\n");
			return EXIT_OK;
		} else if (idtext == NULL && argv[i][0] != '-')
			idtext = argv[i];
		else {
			fprintf(stderr, "keten status: unexpected argument \"%s\"\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (idtext == NULL || uuid_parse(id, idtext) != 0 || wait > 30) {
		fprintf(stderr, "usage: keten status [--config AGENT.yaml] [--wait SECONDS] MESSAGE-ID\n");
		return EXIT_USAGE;
	}
	struct keten_client *kc = cli_client_open(config);
	if (kc == NULL)
		return EXIT_UNREACHABLE;
	char path[96];
	json_t *s, *r;
	size_t i;
	snprintf(path, sizeof(path), "/v1/messages/%s?wait=%lu", idtext, wait);
	int st = cli_call(kc, "status", "GET", path, NULL, &s);
	if (st == 200 && cli_json) {
		cli_print_json(s);
		status = strcmp(json_string_value(json_object_get(s, "state")) ?
		    json_string_value(json_object_get(s, "state")) : "", "rejected") == 0 ? EXIT_FAIL : EXIT_OK;
	} else if (st == 200) {
		const char *state = json_string_value(json_object_get(s, "state"));
		const char *reason = json_string_value(json_object_get(s, "reason"));
		json_int_t ms = json_integer_value(json_object_get(s, "timeMs"));
		printf("%s %s", idtext, state ? state : "?");
		if (ms) {
			char when[32];
			time_t t = (time_t)(ms / 1000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf(" %s", when);
		}
		if (reason)
			printf(": %s", reason);
		printf("\n");
		json_array_foreach(json_object_get(s, "recipients"), i, r) {
			const char *rs = json_string_value(json_object_get(r, "reason"));
			char when[32] = "";
			time_t t = (time_t)(json_integer_value(json_object_get(r, "timeMs")) / 1000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("  to %s: %s %s%s%s\n", json_string_value(json_object_get(r, "recipient")),
			    json_string_value(json_object_get(r, "state")), when, rs ? ": " : "", rs ? rs : "");
		}
		json_array_foreach(json_object_get(s, "receipts"), i, r)
			printf("  receipt: %s\n", json_string_value(r));
		if (state && strcmp(state, "rejected") == 0)
			status = EXIT_FAIL;
	} else {
		status = cli_exit_code(st);
	}
	json_decref(s);
	keten_client_close(&kc);
	return status;
}
