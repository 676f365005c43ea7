/* The keten command: one binary, one file per subcommand (cmd_*.c). */
#ifndef KETEN_CLI_H
#define KETEN_CLI_H

#include "common/config.h"
#include "schemas/local.pb-c.h"

/* Exit codes, documented in README.md. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* the operation failed (agent said no, I/O error) */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_UNREACHABLE = 3,	/* the local agent did not answer */
};

int cmd_keygen(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_policy(int argc, char **argv);

/* A connection to the local agent's control socket. */
struct control;

/*
 * Load the agent configuration (path, or $KETEN_AGENT_CONFIG when NULL) and
 * connect to its control socket.  Prints the reason and returns NULL on error.
 */
struct control *control_open(const char *config_path);
void control_close(struct control **c);
/* Send one request without waiting; 0 or -1. */
int control_send(struct control *c, const Keten__Local__V1__LocalRequest *req);
/*
 * Wait up to timeout_ms for one reply; NULL on timeout (message printed).
 * Free with keten__local__v1__local_reply__free_unpacked.
 */
Keten__Local__V1__LocalReply *control_recv(struct control *c, long timeout_ms);

#endif
