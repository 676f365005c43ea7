/* keten keygen: create an agency's three key pairs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "common/keys.h"

int
cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agency", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *id = NULL, *out = NULL;
	struct keten_keys *k = NULL;
	char err[KETEN_ERRLEN], *pub;
	int ch;

	while ((ch = getopt_long(argc, argv, "a:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': id = optarg; break;
		case 'o': out = optarg; break;
		case 'h':
		default:
			fprintf(ch == 'h' ? stdout : stderr,
			    "usage: keten keygen --agency ID --out DIR\n"
			    "  Writes DIR/ID.secret (mode 0600: CURVE transport, Ed25519 signing and\n"
			    "  X25519 encryption secret keys) and DIR/ID.public.yaml, and prints the\n"
			    "  public keys as an entry for the agency directory.  Use --agency broker\n"
			    "  for the broker's own keys.\n");
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (id == NULL || out == NULL || optind != argc) {
		fprintf(stderr, "keten keygen: --agency and --out are required\n");
		return EXIT_USAGE;
	}
	if (keys_generate(id, &k, err) != 0 || keys_save(k, out, err) != 0) {
		fprintf(stderr, "keten keygen: %s\n", err);
		keys_free(&k);
		return EXIT_FAIL;
	}
	if ((pub = keys_public_yaml(k)) != NULL) {
		printf("# wrote %s/%s.secret (keep private) and %s/%s.public.yaml\n"
		    "# directory entry (add kind: and name:):\n%s", out, id, out, id, pub);
		free(pub);
	}
	keys_free(&k);
	return EXIT_OK;
}
