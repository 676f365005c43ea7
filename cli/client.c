/*
 * The CLI's connection to its local keten-agent: the agent's REST API on
 * DATA_DIR/api.sock, through libketen-client (agent/keten_client.h).  The
 * CLI is the API's reference client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "cli/cli.h"

struct keten_client *
cli_client_open(const char *path)
{
	struct agent_config *cfg = NULL;
	struct keten_client *kc = NULL;
	char err[KETEN_ERRLEN], *where = NULL;

	if (path == NULL && (path = getenv("KETEN_AGENT_CONFIG")) == NULL) {
		fprintf(stderr, "keten: no agent configuration: pass --config FILE or set "
		    "KETEN_AGENT_CONFIG\n");
		return NULL;
	}
	if (agent_config_load(path, &cfg, err) != 0) {
		fprintf(stderr, "keten: %s\n", err);
		return NULL;
	}
	char sock[4096];
	if (asprintf(&where, "unix:%s", config_api_socket(cfg, sock, sizeof(sock))) < 0 ||
	    keten_client_open(where, NULL, &kc) != 0)
		fprintf(stderr, "keten: cannot use the agent's socket %s\n", where ? where : "");
	free(where);
	agent_config_free(&cfg);
	return kc;
}

int
cli_call(struct keten_client *kc, const char *cmd, const char *method, const char *path,
    json_t *body, json_t **out)
{
	char *req = NULL, *resp = NULL;
	json_error_t je;
	int st;

	*out = NULL;
	if (body != NULL && (req = json_dumps(body, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "keten %s: out of memory\n", cmd);
		return -1;
	}
	st = keten_client_call(kc, method, path, req, &resp);
	free(req);
	if (st < 0) {
		fprintf(stderr, "keten %s: %s\n", cmd, keten_client_error(kc));
		return -1;
	}
	if ((*out = json_loads(resp ? resp : "", 0, &je)) == NULL) {
		fprintf(stderr, "keten %s: the agent answered %d with no JSON: %.200s\n", cmd, st,
		    resp ? resp : "");
		free(resp);
		return -1;
	}
	free(resp);
	if (st >= 300) {
		const char *msg = json_string_value(json_object_get(json_object_get(*out, "error"),
		    "message"));
		fprintf(stderr, "keten %s: %s\n", cmd, msg ? msg : "the agent refused the request");
	}
	return st;
}

bool cli_json;

void
cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	printf("%s\n", s ? s : "null");
	free(s);
}

int
cli_exit_code(int status)
{
	if (status < 0 || status == 503)
		return EXIT_UNREACHABLE;
	return status >= 300 ? EXIT_FAIL : EXIT_OK;
}
