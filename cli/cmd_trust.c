/*
 * keten trust: the network root and approvals (common/trust.h,
 * docs/trust.md).  Approver keys, approving a policy, a directory or a new
 * root with one, and showing who approved and who has not.  `keten policy
 * approve|approvals` and `keten directory approve|approvals` are this
 * command for one kind.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/trust.h"
#include "common/util.h"
#include "common/yamltree.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten trust <command> ...\n"
	    "  keygen --name NAME --out FILE     an approver's key (a privacy officer's, a board\n"
	    "                                    member's); prints its verifier key for the root\n"
	    "  vkey FILE                         the verifier key of an approver or agency key file\n"
	    "  show ROOT                         the network root: keys, roles, thresholds\n"
	    "  approve --key FILE --root ROOT KIND FILE [--approvals OUT]\n"
	    "                                    sign KIND (policy, directory, root) FILE; the\n"
	    "                                    approval is merged into OUT (FILE.approvals)\n"
	    "  approvals --root ROOT KIND FILE [--approvals IN] [--active OLD] [--directory D]\n"
	    "            [--json]\n"
	    "                                    who approved FILE and who has not; exit 0 when\n"
	    "                                    it has enough to be activated, 1 when not;\n"
	    "                                    --active: the version it replaces (a policy:\n"
	    "                                    also keten policy diff, against directory D)\n"
	    "Approver keys never go near the broker: keep them offline (docs/trust.md).\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

/* A file read whole, or a message and NULL. */
static char *
read_whole(const char *path, size_t max, size_t *len)
{
	char err[KETEN_ERRLEN], *buf = NULL;

	if (file_read(path, max, &buf, len, err) != 0) {
		fprintf(stderr, "keten trust: %s\n", err);
		return NULL;
	}
	return buf;
}

/* name: and version: of a policy file (without compiling it). */
static int
policy_ident(const char *path, const char *buf, size_t len, char *name, char *version, size_t max)
{
	struct ydoc *doc = NULL;
	const char *n = NULL, *v = NULL;
	char err[KETEN_ERRLEN];
	int rc;

	if ((rc = ydoc_parse(path, buf, len, &doc, err)) == 0 &&
	    (rc = ydoc_expect_map(doc, ydoc_root(doc), "policy", err)) == 0 &&
	    (rc = ydoc_get_str(doc, ydoc_root(doc), "policy", true, &n, err)) == 0 &&
	    (rc = ydoc_get_str(doc, ydoc_root(doc), "version", true, &v, err)) == 0) {
		snprintf(name, max, "%s", n);
		snprintf(version, max, "%s", v);
	}
	if (rc != 0)
		fprintf(stderr, "keten trust: %s\n", err);
	ydoc_free(&doc);
	return rc;
}

/* What FILE of KIND is, as approvals name it; the buffers live in *id. */
struct subject_id {
	char kind[16], name[NOTE_NAMEMAX], version[NOTE_NAMEMAX];
	struct trust_subject s;
};

static int
identify(const char *kind, const char *path, const char *buf, size_t len,
    const struct trust_root *r, struct subject_id *id)
{
	char err[KETEN_ERRLEN];

	memset(id, 0, sizeof(*id));
	snprintf(id->kind, sizeof(id->kind), "%s", kind);
	if (strcmp(kind, "policy") == 0) {
		if (policy_ident(path, buf, len, id->name, id->version, sizeof(id->name)) != 0)
			return -1;
	} else if (strcmp(kind, "directory") == 0) {
		struct directory *d = NULL;
		if (directory_parse(path, buf, len, &d, err) != 0) {
			fprintf(stderr, "keten trust: %s\n", err);
			return -1;
		}
		snprintf(id->name, sizeof(id->name), "directory");
		snprintf(id->version, sizeof(id->version), "%llu", (unsigned long long)d->version);
		directory_free(&d);
	} else if (strcmp(kind, "root") == 0) {
		struct trust_root *nr = NULL;
		if (trust_root_parse(path, buf, len, &nr, err) != 0) {
			fprintf(stderr, "keten trust: %s\n", err);
			return -1;
		}
		snprintf(id->name, sizeof(id->name), "%s", r->network);
		snprintf(id->version, sizeof(id->version), "%llu", (unsigned long long)nr->version);
		trust_root_free(&nr);
	} else {
		fprintf(stderr, "keten trust: unknown kind \"%s\" (policy, directory, root)\n", kind);
		return -1;
	}
	id->s.kind = id->kind;
	id->s.name = id->name;
	id->s.version = id->version;
	trust_subject_hash(&id->s, buf, len);
	return 0;
}

/* "policy stm version 2026.12.1", "directory version 3" */
static const char *
label(const struct subject_id *id)
{
	static char buf[3 * NOTE_NAMEMAX];

	if (strcmp(id->kind, id->name) == 0)
		snprintf(buf, sizeof(buf), "%s version %s", id->kind, id->version);
	else
		snprintf(buf, sizeof(buf), "%s %s version %s", id->kind, id->name, id->version);
	return buf;
}

static struct trust_root *
load_root(const char *path)
{
	struct trust_root *r = NULL;
	char err[KETEN_ERRLEN];

	if (path == NULL) {
		fprintf(stderr, "keten trust: --root ROOT is required (the network root file)\n");
		return NULL;
	}
	if (trust_root_load(path, &r, err) != 0)
		fprintf(stderr, "keten trust: %s\n", err);
	return r;
}

static int
trust_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *out = NULL;
	struct trust_signer *s = NULL;
	struct note_key k;
	char err[KETEN_ERRLEN], vk[NOTE_VKEYMAX];
	int ch;

	while ((ch = getopt_long(argc, argv, "n:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': name = optarg; break;
		case 'o': out = optarg; break;
		default: return usage(stderr);
		}
	}
	if (name == NULL || out == NULL || optind != argc)
		return usage(stderr);
	if (trust_signer_create(name, out, &s, err) != 0) {
		fprintf(stderr, "keten trust keygen: %s\n", err);
		return EXIT_FAIL;
	}
	note_key_init(&k, s->name, s->pk);
	note_vkey_format(&k, vk);
	printf("# wrote %s (keep it offline); its verifier key, for the network root:\n%s\n",
	    out, vk);
	trust_signer_free(&s);
	return EXIT_OK;
}

static int
trust_vkey(int argc, char **argv)
{
	struct trust_signer *s = NULL;
	struct note_key k;
	char err[KETEN_ERRLEN], vk[NOTE_VKEYMAX];

	if (argc != 2)
		return usage(stderr);
	if (trust_signer_load(argv[1], &s, err) != 0) {
		fprintf(stderr, "keten trust vkey: %s\n", err);
		return EXIT_FAIL;
	}
	note_key_init(&k, s->name, s->pk);
	note_vkey_format(&k, vk);
	printf("%s\n", vk);
	trust_signer_free(&s);
	return EXIT_OK;
}

static const char *
role_names(unsigned roles)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s%s%s", roles & TRUST_POLICY ? "policy " : "",
	    roles & TRUST_DIRECTORY ? "directory " : "", roles & TRUST_ROOT ? "root " : "");
	if (buf[0] != '\0')
		buf[strlen(buf) - 1] = '\0';
	return buf;
}

static int
trust_show(int argc, char **argv)
{
	struct trust_root *r;
	char vk[NOTE_VKEYMAX], hex[65];

	if (argc != 2 || (r = load_root(argv[1])) == NULL)
		return argc != 2 ? usage(stderr) : EXIT_FAIL;
	sodium_bin2hex(hex, sizeof(hex), r->sha256, 32);
	printf("network %s, root version %llu (sha256 %s)\n", r->network,
	    (unsigned long long)r->version, hex);
	printf("thresholds (distinct agencies): policy %u, directory %u, recovery %u, root %u\n",
	    r->policy, r->directory, r->recovery, r->root);
	for (size_t i = 0; i < r->nkeys; i++) {
		note_vkey_format(&r->keys[i].key, vk);
		printf("  %-20s %-22s %s\n", r->keys[i].agency, role_names(r->keys[i].roles), vk);
	}
	trust_root_free(&r);
	return EXIT_OK;
}

/* Parse KIND FILE and the options approve and approvals share. */
struct trust_args {
	const char *key, *root, *approvals, *active, *kind, *file, *directory;
	bool json;		/* approvals --json: one JSON object */
	char defpath[4096];
};

static int
parse_args(int argc, char **argv, const char *kind, struct trust_args *a)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "root", required_argument, NULL, 'r' },
		{ "approvals", required_argument, NULL, 'a' },
		{ "active", required_argument, NULL, 'A' },
		{ "directory", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:r:a:A:d:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': a->directory = optarg; break;
		case 'k': a->key = optarg; break;
		case 'r': a->root = optarg; break;
		case 'a': a->approvals = optarg; break;
		case 'A': a->active = optarg; break;
		case 'j': a->json = true; break;
		default: return -1;
		}
	}
	if (argc - optind != (kind == NULL ? 2 : 1))
		return -1;
	a->kind = kind != NULL ? kind : argv[optind++];
	a->file = argv[optind];
	if (a->approvals == NULL) {
		snprintf(a->defpath, sizeof(a->defpath), "%s.approvals", a->file);
		a->approvals = a->defpath;
	}
	return 0;
}

static int
trust_approve(int argc, char **argv, const char *kind)
{
	struct trust_args a;
	struct trust_root *r = NULL;
	struct trust_signer *s = NULL;
	struct subject_id id;
	struct note *mine = NULL, *have = NULL;
	char err[KETEN_ERRLEN], *src = NULL, *text = NULL, *line = NULL, *buf = NULL, *out = NULL;
	size_t len = 0, blen = 0;
	int status = EXIT_FAIL;

	if (parse_args(argc, argv, kind, &a) != 0 || a.key == NULL)
		return usage(stderr);
	if ((r = load_root(a.root)) == NULL || (src = read_whole(a.file, YDOC_MAX_BYTES, &len)) == NULL ||
	    identify(a.kind, a.file, src, len, r, &id) != 0)
		goto out;
	if (trust_signer_load(a.key, &s, err) != 0) {
		fprintf(stderr, "keten trust approve: %s\n", err);
		goto out;
	}
	if ((text = trust_statement(r->network, &id.s)) == NULL ||
	    (line = note_sign_line(text, strlen(text), s->name, s->sk, s->pk)) == NULL ||
	    asprintf(&buf, "%s\n%s", text, line) < 0 ||
	    note_parse(buf, strlen(buf), &mine, err) != 0)
		goto out;
	free(buf);
	buf = NULL;
	if (file_read(a.approvals, NOTE_MAX_BYTES, &buf, &blen, err) == 0) {
		if (note_parse(buf, blen, &have, err) != 0) {
			fprintf(stderr, "keten trust approve: %s: %s\n", a.approvals, err);
			goto out;
		}
		if (have->textlen != mine->textlen || memcmp(have->text, mine->text,
		    mine->textlen) != 0) {
			printf("%s held approvals of another version or content of %s: replaced\n",
			    a.approvals, a.file);
			note_free(&have);
		}
	}
	if (have != NULL ? note_merge(have, mine, &out, err) != 0 :
	    (out = note_format(mine)) == NULL)
		goto out;
	if (file_write_atomic(a.approvals, out, strlen(out), 0644, err) != 0) {
		fprintf(stderr, "keten trust approve: %s\n", err);
		goto out;
	}
	printf("%s approved %s (the exact bytes of %s); approvals in %s\n", s->name, label(&id),
	    a.file, a.approvals);
	status = EXIT_OK;
out:
	note_free(&mine);
	note_free(&have);
	trust_signer_free(&s);
	trust_root_free(&r);
	free(src);
	free(text);
	free(line);
	free(buf);
	free(out);
	return status;
}

static void
print_tally(const char *what, const struct trust_tally *t, unsigned threshold)
{
	printf("  %s (%u agencies for the threshold): %s", what, threshold,
	    t->napproved ? "" : "none");
	for (size_t i = 0; i < t->napproved; i++)
		printf("%s%s", i ? ", " : "", t->approved[i]);
	if (t->nmissing > 0) {
		printf("; not yet:");
		for (size_t i = 0; i < t->nmissing; i++)
			printf(" %s", t->missing[i]);
	}
	printf("\n");
}

/* The agencies of the active directory whose own key signed the note. */
static void
print_own(const char *active, const char *note, size_t nlen)
{
	struct directory *od = NULL;
	struct note *n = NULL;
	char err[KETEN_ERRLEN];
	bool any = false;

	if (active == NULL || directory_load(active, &od, err) != 0 ||
	    note_parse(note, nlen, &n, err) != 0) {
		directory_free(&od);
		return;
	}
	printf("  signed by agencies' own keys (each for its own key change):");
	for (size_t i = 0; i < od->n; i++) {
		struct note_key k;
		if (note_key_init(&k, od->agencies[i].id, od->agencies[i].sign_pk) == 0 &&
		    note_verify(n, &k, 1, NULL, err) == 1) {
			printf(" %s", od->agencies[i].id);
			any = true;
		}
	}
	printf("%s\n", any ? "" : " none");
	note_free(&n);
	directory_free(&od);
}

/* The verdict the broker and every agent reach (trust_check_*), printed. */
static int
verdict(const struct trust_args *a, const struct trust_root *r, const char *src, size_t len,
    const struct subject_id *id, const char *note, size_t nlen)
{
	char err[KETEN_ERRLEN];
	int rc = KETEN_EINVAL;

	if (strcmp(a->kind, "policy") == 0) {
		rc = trust_check_policy(r, id->name, id->version, src, len, note, nlen, err);
	} else if (strcmp(a->kind, "directory") == 0) {
		struct directory *od = NULL, *nd = NULL;
		if ((a->active == NULL || directory_load(a->active, &od, err) == 0) &&
		    directory_parse(a->file, src, len, &nd, err) == 0)
			rc = trust_check_directory(r, od, nd, src, len, note, nlen, err);
		directory_free(&od);
		directory_free(&nd);
	} else {
		struct trust_root *nr = NULL;
		if (trust_root_parse(a->file, src, len, &nr, err) == 0)
			rc = trust_check_root(r, nr, src, len, note, nlen, err);
		trust_root_free(&nr);
	}
	if (rc == 0 && strcmp(a->kind, "root") == 0)
		printf("enough approvals: a valid successor of %s; the broker and every agent will "
		    "take it as their next root\n", a->root);
	else if (rc == 0)
		printf("enough approvals: the broker and every agent will activate it\n");
	else
		printf("not activated: %s\n", err);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/*
 * approvals --json: {kind, name, version, sha256, network, threshold,
 * approved: [agency], missing: [agency], activates, verdict}.
 */
static int
approvals_json(const struct trust_args *a, const struct trust_root *r, const struct subject_id *id,
    const char *hex, const char *src, size_t len, struct trust_tally *t)
{
	char err[KETEN_ERRLEN], *note = NULL;
	size_t nlen = 0;
	unsigned role = strcmp(a->kind, "policy") == 0 ? TRUST_POLICY :
	    strcmp(a->kind, "root") == 0 ? TRUST_ROOT : TRUST_DIRECTORY;
	unsigned threshold = role == TRUST_POLICY ? r->policy : role == TRUST_ROOT ? r->root :
	    r->directory;
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "kind", a->kind, "name", id->name,
	    "version", id->version, "sha256", hex, "network", r->network, "threshold", (int)threshold);
	json_t *ja = json_array(), *jm = json_array();
	const char *problem = NULL;
	int rc = KETEN_EINVAL;

	if (file_read(a->approvals, NOTE_MAX_BYTES, &note, &nlen, err) != 0) {
		problem = "no approvals";
	} else if (trust_tally(r, role, &id->s, note, nlen, t, err) != 0) {
		problem = "approvals refused";
	} else {
		for (size_t i = 0; i < t->napproved; i++)
			json_array_append_new(ja, json_string(t->approved[i]));
		for (size_t i = 0; i < t->nmissing; i++)
			json_array_append_new(jm, json_string(t->missing[i]));
	}
	if (problem == NULL && role == TRUST_POLICY)
		rc = trust_check_policy(r, id->name, id->version, src, len, note, nlen, err);
	else if (problem == NULL)
		rc = 0;	/* directory and root: their checks need the active one; use the text form */
	json_object_set_new(j, "approved", ja);
	json_object_set_new(j, "missing", jm);
	json_object_set_new(j, "activates", json_boolean(rc == 0 && role == TRUST_POLICY));
	json_object_set_new(j, "verdict", json_string(problem != NULL ? err : rc == 0 ?
	    "enough approvals: the broker and every agent will activate it" : err));
	if (problem != NULL)
		json_object_set_new(j, "problem", json_string(problem));
	cli_print_json(j);
	json_decref(j);
	free(note);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

static int
trust_approvals(int argc, char **argv, const char *kind)
{
	struct trust_args a;
	struct trust_root *r = NULL;
	struct subject_id id;
	struct trust_tally *t = calloc(1, sizeof(*t));
	char err[KETEN_ERRLEN], hex[65], *src = NULL, *note = NULL;
	size_t len = 0, nlen = 0;
	int status = EXIT_FAIL;

	if (t == NULL || parse_args(argc, argv, kind, &a) != 0) {
		free(t);
		return usage(stderr);
	}
	if ((r = load_root(a.root)) == NULL || (src = read_whole(a.file, YDOC_MAX_BYTES, &len)) == NULL ||
	    identify(a.kind, a.file, src, len, r, &id) != 0)
		goto out;
	sodium_bin2hex(hex, sizeof(hex), id.s.sha256, 32);
	if (a.json) {
		status = approvals_json(&a, r, &id, hex, src, len, t);
		goto out;
	}
	printf("%s (file sha256 %s) in network %s\n", label(&id), hex, r->network);
	if (file_read(a.approvals, NOTE_MAX_BYTES, &note, &nlen, err) != 0) {
		printf("  no approvals: %s\n", err);
	} else if (trust_tally(r, strcmp(a.kind, "policy") == 0 ? TRUST_POLICY :
	    strcmp(a.kind, "root") == 0 ? TRUST_ROOT : TRUST_DIRECTORY, &id.s, note, nlen, t,
	    err) != 0) {
		printf("  approvals in %s refused: %s\n", a.approvals, err);
	} else {
		print_tally(strcmp(a.kind, "policy") == 0 ? "approved by privacy officers of" :
		    strcmp(a.kind, "root") == 0 ? "approved by root keys of" :
		    "approved by board members of", t, strcmp(a.kind, "policy") == 0 ?
		    r->policy : strcmp(a.kind, "root") == 0 ? r->root : r->directory);
		if (strcmp(a.kind, "directory") == 0)
			print_own(a.active, note, nlen);
	}
	status = verdict(&a, r, src, len, &id, note, nlen);
	if (strcmp(a.kind, "policy") == 0 && a.active != NULL) {
		char *dargv[] = { "policy", "diff", "--directory", (char *)a.directory,
		    (char *)a.active, (char *)a.file, NULL };
		printf("\nwhat changes against the active version %s (keten policy diff):\n",
		    a.active);
		fflush(stdout);
		if (a.directory == NULL)
			cmd_policy(4, (char *[]){ "policy", "diff", (char *)a.active, (char *)a.file,
			    NULL });
		else
			cmd_policy(6, dargv);
	}
out:
	trust_root_free(&r);
	free(src);
	free(note);
	free(t);
	return status;
}

int
cmd_trust(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage(stdout);
	if (cli_wants_help(argc, argv, 2))
		return cli_usage_verb("trust", usage, argv[1], "docs/trust.md");
	if (strcmp(argv[1], "keygen") == 0)
		return trust_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "vkey") == 0)
		return trust_vkey(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return trust_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "approve") == 0)
		return trust_approve(argc - 1, argv + 1, NULL);
	if (strcmp(argv[1], "approvals") == 0)
		return trust_approvals(argc - 1, argv + 1, NULL);
	fprintf(stderr, "keten trust: unknown command \"%s\"\n", argv[1]);
	return usage(stderr);
}

int
cli_trust_kind(const char *kind, int argc, char **argv)
{
	/* keten policy approve ... is keten trust approve ... policy FILE */
	return strcmp(argv[0], "approve") == 0 ? trust_approve(argc, argv, kind) :
	    trust_approvals(argc, argv, kind);
}
