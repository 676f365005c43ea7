/* keten: the command-line tool.  `keten <command> [options]`, like git. */
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/version.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "init", cmd_init, "a working network from nothing, in one directory (a trial)" },
	{ "keygen", cmd_keygen, "create an agency's key pairs" },
	{ "directory", cmd_directory, "show or edit the agency directory: show, add, rotate, revoke,\n"
	    "             approve, approvals" },
	{ "send", cmd_send, "hand a message to the local agent" },
	{ "inbox", cmd_inbox, "list messages in the local agent's inbox" },
	{ "status", cmd_status, "what became of a message this agency sent" },
	{ "receipt", cmd_receipt, "export a sent message's ledger receipts as proof files" },
	{ "outbox", cmd_outbox, "what waits in the local agent's outbox for the broker, and why" },
	{ "queue", cmd_queue, "what waits in the broker's queue, for whom, since when, and why" },
	{ "ack", cmd_ack, "record that inbox messages were taken by the partner system" },
	{ "schema", cmd_schema, "case message types: list, show, paths, validate, encode" },
	{ "audit", cmd_audit, "the audit ledger: verify, log, query, report, stats, prove,\n"
	    "             check-proof, checkpoint, vkey, export" },
	{ "policy", cmd_policy, "sharing policy tools: lint, explain, test, diff, matrix, shadow,\n"
	    "             approve, approvals" },
	{ "console", cmd_console, "a read-only web console of the sharing matrix, a policy change,\n"
	    "             each case as a timeline and the ledger's health" },
	{ "trust", cmd_trust, "the network root and approvals: keygen, vkey, show, approve,\n"
	    "             approvals" },
};

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`keten <command> --help` describes a command; `keten --version` prints %s.\n",
	    KETEN_VERSION);
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "keten: libsodium initialisation failed\n");
		return EXIT_FAIL;
	}
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout);
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("keten %s\n", KETEN_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		/* --help anywhere after the command: its usage (of its subcommand,
		 * when one is named and the command tells them apart), stdout, exit 0 */
		for (int a = 2; a < argc; a++)
			if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
				static const char *const groups[] = { "audit", "policy", "trust",
				    "directory", "schema" };
				bool sub = false;
				for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
					sub = sub || (argc > 2 && argv[2][0] != '-' && a > 2 &&
					    strcmp(argv[1], groups[g]) == 0);
				char *help[] = { argv[1], sub ? argv[2] : (char *)"--help",
				    (char *)"--help", NULL };
				return commands[i].fn(sub ? 3 : 2, help);
			}
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "keten: unknown command \"%s\"\n", argv[1]);
	return usage(stderr);
}
