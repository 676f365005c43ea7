/* keten directory: the operator's agency directory, shown and edited safely. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "cli/cli.h"
#include "common/directory.h"
#include "common/util.h"
#include "common/yamltree.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten directory show   --file DIRECTORY.yaml\n"
	    "       keten directory add    --file DIRECTORY.yaml --public ID.public.yaml --kind KIND\n"
	    "                              [--name NAME]\n"
	    "       keten directory rotate --file DIRECTORY.yaml --public ID.public.yaml\n"
	    "                              [--overlap-days N]   (default 7)\n"
	    "       keten directory revoke --file DIRECTORY.yaml ID\n"
	    "       keten directory approve   --key KEYFILE --root ROOT DIRECTORY.yaml\n"
	    "       keten directory approvals --root ROOT [--active OLD.yaml] DIRECTORY.yaml\n"
	    "  add, rotate and revoke validate the result, raise the version, keep the\n"
	    "  previous file as DIRECTORY.yaml.vN and replace the file atomically.  The\n"
	    "  new version needs approvals (docs/trust.md): members by board members of\n"
	    "  the root's directory threshold; an agency's own key rotation by that\n"
	    "  agency's current key (--key its .secret file).  approve adds one to\n"
	    "  DIRECTORY.yaml.approvals; approvals says who approved and who has not.\n"
	    "  Then send the broker SIGHUP: it sends the new directory and its\n"
	    "  approvals to every agent, which check them.  rotate keeps the agency's\n"
	    "  current keys valid as `previous` for the overlap, so agents that have\n"
	    "  not switched yet keep working.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

/* The keys of a `keten keygen` public file ("  - id: ...", keys). */
static int
read_public(const char *path, struct dir_agency *a, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	const struct ynode *root, *m;
	const char *id, *tx, *sg, *en;
	int rc;

	if ((rc = ydoc_load(path, &doc, err)) != 0)
		return rc;
	root = ydoc_root(doc);
	m = root && root->kind == YNODE_SEQ && root->n == 1 ? root->items[0] : root;
	if ((rc = ydoc_expect_map(doc, m, "public key file", err)) ||
	    (rc = ydoc_get_str(doc, m, "id", true, &id, err)) ||
	    (rc = ydoc_get_str(doc, m, "transport_key", true, &tx, err)) ||
	    (rc = ydoc_get_str(doc, m, "signing_key", true, &sg, err)) ||
	    (rc = ydoc_get_str(doc, m, "encryption_key", true, &en, err)))
		goto out;
	rc = KETEN_EINVAL;
	if (!agency_id_valid(id)) {
		ydoc_err(doc, ynode_get(m, "id"), err, "invalid agency id \"%s\"", id);
		goto out;
	}
	if (key_z85_decode(a->tx_pk, tx) != 0 || key_b64_decode(a->sign_pk, 32, sg) != 0 ||
	    key_b64_decode(a->enc_pk, 32, en) != 0) {
		ydoc_err(doc, m, err, "malformed public keys");
		goto out;
	}
	snprintf(a->id, sizeof(a->id), "%s", id);
	rc = 0;
out:
	ydoc_free(&doc);
	return rc;
}

/* Validate by formatting and parsing again, keep the old file, replace atomically. */
static int
save(const char *path, struct directory *dir)
{
	char err[KETEN_ERRLEN], keep[4200], *old = NULL, *text;
	struct directory *check = NULL;
	size_t oldlen;
	int rc;

	if ((text = directory_format(dir)) == NULL)
		return EXIT_FAIL;
	if (directory_parse(path, text, strlen(text), &check, err) != 0) {
		fprintf(stderr, "keten directory: the result would be invalid, nothing written: %s\n", err);
		free(text);
		return EXIT_FAIL;
	}
	directory_free(&check);
	if (dir->version == 1) {	/* a new directory: nothing to keep */
		if (file_write_atomic(path, text, strlen(text), 0644, err) != 0) {
			fprintf(stderr, "keten directory: %s\n", err);
			rc = EXIT_FAIL;
		} else {
			printf("%s: version 1 written, a new directory; it needs the approvals of the "
			    "network root's board members (keten directory approve, docs/trust.md)\n",
			    path);
			rc = EXIT_OK;
		}
	} else if (file_read(path, YDOC_MAX_BYTES, &old, &oldlen, err) != 0 ||
	    snprintf(keep, sizeof(keep), "%s.v%llu", path, (unsigned long long)(dir->version - 1)) < 0 ||
	    file_write_atomic(keep, old, oldlen, 0644, err) != 0 ||
	    file_write_atomic(path, text, strlen(text), 0644, err) != 0) {
		fprintf(stderr, "keten directory: %s\n", err);
		rc = EXIT_FAIL;
	} else {
		printf("%s: version %llu written (previous kept as %s); send the broker SIGHUP\n", path,
		    (unsigned long long)dir->version, keep);
		rc = EXIT_OK;
	}
	free(old);
	free(text);
	return rc;
}

static void
show(const struct directory *dir)
{
	int64_t now = now_ms();

	printf("version %llu, %zu agencies\n", (unsigned long long)dir->version, dir->n);
	for (size_t i = 0; i < dir->n; i++) {
		const struct dir_agency *a = &dir->agencies[i];
		char tx[KETEN_Z85_KEYLEN + 1], state[80];
		key_z85_encode(tx, a->tx_pk);
		if (a->revoked)
			snprintf(state, sizeof(state), "REVOKED");
		else if (!dir_agency_active(a, now))
			snprintf(state, sizeof(state), "outside validity");
		else if (dir_agency_previous_valid(a, now)) {
			char when[32];
			time_t t = (time_t)(a->prev_until_ms / 1000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			snprintf(state, sizeof(state), "active, rotating: old keys valid until %s", when);
		}
		else
			snprintf(state, sizeof(state), "active");
		printf("  %-22s %-20s %-34.34s %.8s...  %s\n", a->id, a->kind, a->name, tx, state);
	}
}

int
cmd_directory(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "public", required_argument, NULL, 'p' },
		{ "kind", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "overlap-days", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *pub = NULL, *kind = NULL, *name = NULL, *verb;
	long overlap = 7;
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN];
	int ch, rc = EXIT_FAIL;

	if (argc < 2)
		return usage(stderr);
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return usage(stdout);
	if (cli_wants_help(argc, argv, 2))
		return cli_usage_verb("directory", usage, verb, "docs/operator.md");
	if (strcmp(verb, "approve") == 0 || strcmp(verb, "approvals") == 0)
		return cli_trust_kind("directory", argc - 1, argv + 1);
	optind = 2;
	while ((ch = getopt_long(argc, argv, "f:p:k:n:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': file = optarg; break;
		case 'p': pub = optarg; break;
		case 'k': kind = optarg; break;
		case 'n': name = optarg; break;
		case 'o': overlap = strtol(optarg, NULL, 10); break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (file == NULL)
		return usage(stderr);
	if (strcmp(verb, "add") == 0 && access(file, F_OK) != 0 && errno == ENOENT) {
		/* the first agency of a new directory: add makes it (version 1) */
		if ((dir = calloc(1, sizeof(*dir))) == NULL)
			return EXIT_FAIL;
	} else if (directory_load(file, &dir, err) != 0) {
		fprintf(stderr, "keten directory: %s\n", err);
		return EXIT_FAIL;
	}
	if (strcmp(verb, "show") == 0 && optind == argc) {
		show(dir);
		rc = EXIT_OK;
	} else if (strcmp(verb, "add") == 0 && pub && kind && optind == argc) {
		struct dir_agency a = { 0 };
		if (read_public(pub, &a, err) != 0) {
			fprintf(stderr, "keten directory: %s\n", err);
			goto out;
		}
		if (!agency_kind_valid(kind) || directory_find(dir, a.id) != NULL) {
			fprintf(stderr, "keten directory: %s\n", directory_find(dir, a.id) ?
			    "that agency is already listed (use rotate)" : "unknown kind");
			goto out;
		}
		snprintf(a.kind, sizeof(a.kind), "%s", kind);
		snprintf(a.name, sizeof(a.name), "%s", name ? name : a.id);
		struct dir_agency *na = realloc(dir->agencies, (dir->n + 1) * sizeof(*na));
		if (na == NULL)
			goto out;
		dir->agencies = na;
		dir->agencies[dir->n++] = a;
		dir->version++;
		rc = save(file, dir);
	} else if (strcmp(verb, "rotate") == 0 && pub && optind == argc && overlap >= 0 &&
	    overlap <= 365) {
		struct dir_agency nk = { 0 };
		struct dir_agency *a;
		if (read_public(pub, &nk, err) != 0) {
			fprintf(stderr, "keten directory: %s\n", err);
			goto out;
		}
		if ((a = (struct dir_agency *)directory_find(dir, nk.id)) == NULL) {
			fprintf(stderr, "keten directory: %s is not listed (use add)\n", nk.id);
			goto out;
		}
		if (memcmp(nk.tx_pk, a->tx_pk, 32) == 0 || memcmp(nk.sign_pk, a->sign_pk, 32) == 0 ||
		    memcmp(nk.enc_pk, a->enc_pk, 32) == 0) {
			fprintf(stderr, "keten directory rotate: %s holds %s's current keys, not new "
			    "ones: make new keys first (keten keygen --agency %s --out NEWDIR) and "
			    "rotate to NEWDIR/%s.public.yaml\n", pub, nk.id, nk.id, nk.id);
			goto out;
		}
		memcpy(a->prev_tx_pk, a->tx_pk, 32);
		memcpy(a->prev_sign_pk, a->sign_pk, 32);
		memcpy(a->prev_enc_pk, a->enc_pk, 32);
		a->prev_until_ms = (now_ms() / 1000 + overlap * 86400) * 1000;
		a->has_previous = overlap > 0;
		memcpy(a->tx_pk, nk.tx_pk, 32);
		memcpy(a->sign_pk, nk.sign_pk, 32);
		memcpy(a->enc_pk, nk.enc_pk, 32);
		dir->version++;
		rc = save(file, dir);
	} else if (strcmp(verb, "revoke") == 0 && optind + 1 == argc) {
		struct dir_agency *a = (struct dir_agency *)directory_find(dir, argv[optind]);
		if (a == NULL) {
			fprintf(stderr, "keten directory: %s is not listed\n", argv[optind]);
			goto out;
		}
		a->revoked = true;
		a->has_previous = false;
		dir->version++;
		rc = save(file, dir);
	} else {
		rc = usage(stderr);
	}
out:
	directory_free(&dir);
	return rc;
}
