/* The keten command: one binary, one file per subcommand (cmd_*.c). */
#ifndef KETEN_CLI_H
#define KETEN_CLI_H

#include "common/config.h"
#include <jansson.h>

/* Exit codes, documented in README.md. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* the operation failed (agent said no, I/O error) */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_UNREACHABLE = 3,	/* the local agent did not answer */
};

int cmd_init(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_receipt(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_ack(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_trust(int argc, char **argv);
int cmd_console(int argc, char **argv);
/* `keten policy|directory approve|approvals ...` (argv[0] is the verb): keten trust's for kind. */
int cli_trust_kind(const char *kind, int argc, char **argv);
/* `keten GROUP VERB --help`: VERB's lines of the group's usage (cli/usage.c). */
int cli_usage_verb(const char *group, int (*usage)(FILE *), const char *verb, const char *see);
bool cli_wants_help(int argc, char **argv, int from);

struct keten_client;

/*
 * Load the agent configuration (path, or $KETEN_AGENT_CONFIG when NULL) and
 * open a client of the agent's API on DATA_DIR/api.sock.  Prints the reason
 * and returns NULL on error.  Close with keten_client_close.
 */
struct keten_client *cli_client_open(const char *config_path);
/*
 * One API call with a JSON body (or NULL).  Returns the HTTP status with
 * the parsed response in *out (json_decref it), or -1; a failure (-1 or an
 * error status) is printed as "keten CMD: reason".
 */
int cli_call(struct keten_client *kc, const char *cmd, const char *method, const char *path,
    json_t *body, json_t **out);
/* --json: print the API's JSON (one object per line) instead of text. */
extern bool cli_json;
/* Print j as one compact JSON line on stdout. */
void cli_print_json(json_t *j);

/* The exit code for an HTTP status (or -1): 0, 1, or 3 when the agent is unreachable. */
int cli_exit_code(int status);

#endif
