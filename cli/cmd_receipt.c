/*
 * keten receipt export: the ledger receipts of a message this agency sent,
 * as proof files a third party checks with the broker's public key alone
 * (`keten audit check-proof`, or any RFC 6962 / C2SP verifier: docs/auditor.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keten_client.h"
#include "cli/cli.h"
#include "common/util.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten receipt export [--config AGENT.yaml] [--dir DIR] MESSAGE-ID\n"
	    "  Writes each ledger receipt the broker gave for the copies of a message this\n"
	    "  agency sent as DIR/MESSAGE-ID.N.proof (DIR: the current directory) and\n"
	    "  prints the paths.  A receipt proves that the broker logged the copy's\n"
	    "  acceptance in its signed ledger: check one with\n"
	    "    keten audit check-proof --key broker.public.yaml FILE\n"
	    "  (the format is in docs/auditor.md).  Exit 0, 1 when the message has no\n"
	    "  receipts (queued, rejected or unknown).\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int
cmd_receipt(int argc, char **argv)
{
	const char *config = NULL, *idtext = NULL, *dir = ".";
	uint8_t id[KETEN_UUIDBYTES];
	int rc = EXIT_FAIL;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage(argc < 2 ? stderr : stdout);
	if (strcmp(argv[1], "export") != 0) {
		fprintf(stderr, "keten receipt: no command \"%.40s\"; the command is export\n", argv[1]);
		return EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout);
		else if (idtext == NULL && argv[i][0] != '-')
			idtext = argv[i];
		else {
			fprintf(stderr, "keten receipt export: unexpected argument \"%.40s\"\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (idtext == NULL || uuid_parse(id, idtext) != 0) {
		fprintf(stderr, "keten receipt export: give the message id (a UUID) of a message this "
		    "agency sent\n");
		return EXIT_USAGE;
	}
	struct keten_client *kc = cli_client_open(config);
	if (kc == NULL)
		return EXIT_UNREACHABLE;
	char path[96];
	json_t *s = NULL, *proofs;
	snprintf(path, sizeof(path), "/v1/messages/%s", idtext);
	int st = cli_call(kc, "receipt export", "GET", path, NULL, &s);
	if (st != 200) {
		rc = cli_exit_code(st);
		goto out;
	}
	proofs = json_object_get(s, "proofs");
	if (!json_is_array(proofs) || json_array_size(proofs) == 0) {
		fprintf(stderr, "keten receipt export: message %s has no receipts (it is %s)\n", idtext,
		    json_string_value(json_object_get(s, "state")) ?
		    json_string_value(json_object_get(s, "state")) : "unknown");
		goto out;
	}
	rc = EXIT_OK;
	for (size_t i = 0; i < json_array_size(proofs); i++) {
		const char *text = json_string_value(json_array_get(proofs, i));
		char *file = NULL, err[KETEN_ERRLEN];
		if (text == NULL || asprintf(&file, "%s/%s.%zu.proof", dir, idtext, i + 1) < 0) {
			rc = EXIT_FAIL;
			continue;
		}
		if (file_write_atomic(file, text, strlen(text), 0644, err) != 0) {
			fprintf(stderr, "keten receipt export: %s\n", err);
			rc = EXIT_FAIL;
		} else {
			printf("%s\n", file);
		}
		free(file);
	}
out:
	json_decref(s);
	keten_client_close(&kc);
	return rc;
}
