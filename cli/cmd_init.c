/*
 * keten init: a working network from nothing, in one directory, for a trial
 * or a first look: keys (mode 0600 in 0700 directories), the agency
 * directory, the policy, a network root with a privacy officer's and a board
 * member's key per agency and the approvals the root asks for, and the
 * broker's and each agent's configuration (docs/operator.md "A network from
 * nothing").  In production each agency makes its own keys and each officer
 * keeps his own approval key offline; init does it all in one place, and
 * says so.  The steps are keten's own commands (keygen, trust keygen,
 * policy/directory approve), run in this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/directory.h"
#include "common/keys.h"
#include "common/util.h"

#define INIT_MAX_AGENCIES 64
#ifndef KETEN_SHARE
#define KETEN_SHARE "/usr/local/share/keten"	/* make install's PREFIX/share/keten */
#endif

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten init --agencies ID[:KIND],ID[:KIND],... [--policy FILE]\n"
	    "                  [--listen tcp://127.0.0.1:7400] [--user ACCOUNT] DIR\n"
	    "  Makes DIR (it must not exist) a network to run at once: keys/ (each\n"
	    "  agency's and the broker's keys), officers/ (a privacy officer's and a board\n"
	    "  member's approval key per agency), directory.yaml, policy.yaml (a copy of\n"
	    "  --policy, default policy/stm.yaml here, in the checkout keten was built in,\n"
	    "  or as installed), root.yaml with its thresholds, the approvals of the\n"
	    "  directory and the policy, broker.yaml and AGENCY.yaml per agency; then\n"
	    "  prints the commands that start it.  KIND is police, prosecution,\n"
	    "  labour-inspectorate, military-police, municipality, riec,\n"
	    "  registration-centre or care (guessed from the usual ids: politie, om, nla,\n"
	    "  kmar, gemeente-*, riec-*, comensha).  --user: the account the daemons\n"
	    "  become when started as root (DIR is then opened to it).  For a trial: in\n"
	    "  production every agency makes its own keys (keten keygen) and every\n"
	    "  officer his own approval key (keten trust keygen), docs/trust.md.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static const char *
kind_of(const char *id)
{
	static const struct { const char *prefix, *kind; } k[] = {
		{ "politie", "police" }, { "om", "prosecution" }, { "nla", "labour-inspectorate" },
		{ "kmar", "military-police" }, { "gemeente-", "municipality" }, { "riec", "riec" },
		{ "comensha", "registration-centre" }, { "zorg", "care" },
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (strncmp(id, k[i].prefix, strlen(k[i].prefix)) == 0)
			return k[i].kind;
	return NULL;
}

/* One of keten's commands, its chatter on stdout silenced; its exit code. */
static int
run(int (*fn)(int, char **), ...)
{
	char *argv[16];
	int argc = 0, saved, rc;
	va_list ap;

	va_start(ap, fn);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved < 0 || null < 0)
		return EXIT_FAIL;
	dup2(null, STDOUT_FILENO);
	close(null);
	optind = 0;	/* each command parses its own argv from the start */
	rc = fn(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return rc;
}

/* path (under dir) written with mode, from printf-style text; -1 said why. */
static int
write_file(const char *dir, const char *name, unsigned mode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
write_file(const char *dir, const char *name, unsigned mode, const char *fmt, ...)
{
	char *path = NULL, *text = NULL, err[KETEN_ERRLEN];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (rc < 0 || asprintf(&path, "%s/%s", dir, name) < 0) {
		free(text);
		return -1;
	}
	rc = file_write_atomic(path, text, strlen(text), mode, err);
	if (rc != 0)
		fprintf(stderr, "keten init: %s\n", err);
	free(path);
	free(text);
	return rc != 0 ? -1 : 0;
}

static char *
read_all(const char *path)
{
	char *buf = NULL, err[KETEN_ERRLEN];
	size_t len;

	if (file_read(path, 4 << 20, &buf, &len, err) != 0) {
		fprintf(stderr, "keten init: %s\n", err);
		return NULL;
	}
	return buf;
}

/* dir/NAME.SUFFIX (malloc'd), or NULL. */
static char *
path_in(const char *dir, const char *name, const char *suffix)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s%s", dir, name, suffix) < 0)
		p = NULL;
	return p;
}

int
cmd_init(int argc, char **argv)
{
	const char *list = NULL, *policy = NULL, *listen = "tcp://127.0.0.1:7400";
	const char *user = NULL, *dir = NULL;
	char *ids[INIT_MAX_AGENCIES], *kinds[INIT_MAX_AGENCIES], *copy = NULL;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--agencies") == 0 && i + 1 < argc)
			list = argv[++i];
		else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy = argv[++i];
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout);
		else if (dir == NULL && argv[i][0] != '-')
			dir = argv[i];
		else {
			fprintf(stderr, "keten init: unexpected argument \"%.40s\" (keten init --help)\n",
			    argv[i]);
			return EXIT_USAGE;
		}
	}
	if (list == NULL || dir == NULL) {
		fprintf(stderr, "keten init: give --agencies ID,ID,... and the directory to make "
		    "(keten init --help)\n");
		return EXIT_USAGE;
	}
	if ((copy = strdup(list)) == NULL)
		return EXIT_FAIL;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t != NULL;
	    t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		if (colon != NULL)
			*colon++ = '\0';
		if (n == INIT_MAX_AGENCIES || !agency_id_valid(t) || strcmp(t, "broker") == 0) {
			fprintf(stderr, "keten init: \"%.40s\" is not an agency id (a-z, 0-9, '-'; at "
			    "most %d agencies)\n", t, INIT_MAX_AGENCIES);
			free(copy);
			return EXIT_USAGE;
		}
		const char *kind = colon != NULL ? colon : kind_of(t);
		if (kind == NULL || !agency_kind_valid(kind)) {
			fprintf(stderr, "keten init: what kind of agency is %s? give %s:KIND (police, "
			    "prosecution, labour-inspectorate, military-police, municipality, riec, "
			    "registration-centre, care)\n", t, t);
			free(copy);
			return EXIT_USAGE;
		}
		ids[n] = t;
		kinds[n++] = (char *)kind;
	}
	/* the checkout's (here, or the one this keten was built in), else the installed one */
	char beside[PATH_MAX + 32] = "";
	ssize_t exe_len = readlink("/proc/self/exe", beside, PATH_MAX);
	if (exe_len > 0) {
		beside[exe_len] = '\0';
		char *slash = strrchr(beside, '/');
		if (slash != NULL)
			strcpy(slash, "/../policy/stm.yaml");
	}
	if (policy == NULL)
		policy = access("policy/stm.yaml", R_OK) == 0 ? "policy/stm.yaml" :
		    beside[0] != '\0' && access(beside, R_OK) == 0 ? beside :
		    KETEN_SHARE "/policy/stm.yaml";
	char *policy_text = read_all(policy);
	if (policy_text == NULL) {
		fprintf(stderr, "keten init: give the policy with --policy FILE\n");
		free(copy);
		return EXIT_FAIL;
	}
	int rc = EXIT_FAIL;
	bool made = false;
	char *keys = NULL, *officers = NULL, *root = NULL, *dirfile = NULL, *polfile = NULL;
	if (mkdir(dir, user ? 0755 : 0750) != 0) {
		fprintf(stderr, "keten init: %s: %s%s\n", dir, strerror(errno),
		    errno == EEXIST ? " (init makes a new directory: give another)" : "");
		goto out;
	}
	made = true;
	if (asprintf(&keys, "%s/keys", dir) < 0 || asprintf(&officers, "%s/officers", dir) < 0 ||
	    asprintf(&root, "%s/root.yaml", dir) < 0 || asprintf(&dirfile, "%s/directory.yaml",
	    dir) < 0 || asprintf(&polfile, "%s/policy.yaml", dir) < 0 ||
	    mkdir(keys, 0700) != 0 || mkdir(officers, 0700) != 0)
		goto out;

	/* 1. keys: the broker's and every agency's */
	if (run(cmd_keygen, "keygen", "--agency", "broker", "--out", keys, (char *)NULL) != 0)
		goto out;
	struct keten_keys *bk = NULL;
	char err[KETEN_ERRLEN], *bpath = path_in(keys, "broker", ".secret");
	if (bpath == NULL || keys_load(bpath, &bk, err) != 0) {
		fprintf(stderr, "keten init: %s\n", err);
		free(bpath);
		goto out;
	}
	free(bpath);
	char tx[KETEN_Z85_KEYLEN + 1], sg[64];
	key_z85_encode(tx, bk->tx_pk);
	key_b64_encode(sg, sizeof(sg), bk->sign_pk, 32);
	keys_free(&bk);

	/* 2. the directory: every agency's public keys with its kind */
	size_t dlen = 0;
	char *dtext = NULL;
	FILE *df = open_memstream(&dtext, &dlen);
	if (df == NULL)
		goto out;
	fprintf(df, "# agency directory made by keten init (trial keys)\nversion: 1\nagencies:\n");
	for (size_t i = 0; i < n; i++) {
		if (run(cmd_keygen, "keygen", "--agency", ids[i], "--out", keys, (char *)NULL) != 0) {
			fclose(df);
			free(dtext);
			goto out;
		}
		char *pp = path_in(keys, ids[i], ".public.yaml"), *pub = pp ? read_all(pp) : NULL;
		free(pp);
		if (pub == NULL) {
			fclose(df);
			free(dtext);
			goto out;
		}
		char *nl = strchr(pub, '\n');	/* "  - id: X" first: the kind goes after it */
		fprintf(df, "%.*s\n    kind: %s\n%s", nl ? (int)(nl - pub) : 0, pub, kinds[i],
		    nl ? nl + 1 : "");
		free(pub);
	}
	fclose(df);
	int wrc = write_file(dir, "directory.yaml", 0644, "%s", dtext);
	free(dtext);
	if (wrc != 0 || write_file(dir, "policy.yaml", 0644, "%s", policy_text) != 0)
		goto out;

	/* 3. the root: per agency a privacy officer (policy) and a board member (directory, root) */
	unsigned two = n < 2 ? (unsigned)n : 2, three = n < 3 ? (unsigned)n : 3;
	size_t rlen = 0;
	char *rtext = NULL;
	FILE *rf = open_memstream(&rtext, &rlen);
	if (rf == NULL)
		goto out;
	fprintf(rf, "# network root made by keten init (trial keys; docs/trust.md)\n"
	    "network: %s.keten.local\nversion: 1\n"
	    "thresholds: { policy: %u, directory: %u, recovery: %u, root: %u }\nkeys:\n",
	    ids[0], two, two, three, two);
	for (size_t i = 0; i < n; i++) {
		for (int role = 0; role < 2; role++) {
			char name[96], *kp, vkey[256] = "";
			snprintf(name, sizeof(name), "%s-%s", role == 0 ? "fg" : "board", ids[i]);
			kp = path_in(officers, name, ".key");
			if (kp == NULL || run(cmd_trust, "trust", "keygen", "--name", name, "--out", kp,
			    (char *)NULL) != 0) {
				free(kp);
				fclose(rf);
				free(rtext);
				goto out;
			}
			/* its vkey: keten trust vkey prints it */
			char *vf = path_in(officers, name, ".vkey");
			int saved = dup(STDOUT_FILENO), fd = vf ? open(vf, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0600) : -1;
			if (fd >= 0) {
				fflush(stdout);
				dup2(fd, STDOUT_FILENO);
				close(fd);
				char *va[] = { "trust", "vkey", kp, NULL };
				optind = 0;
				cmd_trust(3, va);
				fflush(stdout);
				dup2(saved, STDOUT_FILENO);
			}
			close(saved);
			char *vt = vf ? read_all(vf) : NULL;
			if (vt != NULL) {
				snprintf(vkey, sizeof(vkey), "%s", vt);
				vkey[strcspn(vkey, "\n")] = '\0';
				unlink(vf);
			}
			free(vt);
			free(vf);
			free(kp);
			fprintf(rf, "  - { vkey: \"%s\", agency: %s, roles: [%s] }\n", vkey, ids[i],
			    role == 0 ? "policy" : "directory, root");
		}
	}
	fclose(rf);
	wrc = write_file(dir, "root.yaml", 0644, "%s", rtext);
	free(rtext);
	if (wrc != 0)
		goto out;

	/* 4. the approvals the root asks for: the first agencies' officers and board */
	for (unsigned i = 0; i < two; i++) {
		char fgn[96], bdn[96];
		snprintf(fgn, sizeof(fgn), "fg-%s", ids[i]);
		snprintf(bdn, sizeof(bdn), "board-%s", ids[i]);
		char *fg = path_in(officers, fgn, ".key");
		char *bd = path_in(officers, bdn, ".key");
		int arc = fg && bd ? run(cmd_policy, "policy", "approve", "--key", fg, "--root", root,
		    polfile, (char *)NULL) : EXIT_FAIL;
		if (arc == 0)
			arc = run(cmd_directory, "directory", "approve", "--key", bd, "--root", root,
			    dirfile, (char *)NULL);
		free(fg);
		free(bd);
		if (arc != 0) {
			fprintf(stderr, "keten init: the approvals could not be made\n");
			goto out;
		}
	}

	/* 5. data directories: the daemons' own, the account they become's when
	 * started as root (they read keys and configuration before that) */
	if (user != NULL) {
		struct passwd *pw = getpwnam(user);
		if (pw == NULL) {
			fprintf(stderr, "keten init: no account %s\n", user);
			goto out;
		}
		for (size_t i = 0; i <= n; i++) {
			char *dd = path_in(dir, i == n ? "broker" : ids[i], "-data");
			int ok = dd != NULL && mkdir(dd, 0700) == 0 && chown(dd, pw->pw_uid, pw->pw_gid) == 0;
			if (!ok)
				fprintf(stderr, "keten init: %s: %s\n", dd ? dd : dir, strerror(errno));
			free(dd);
			if (!ok)
				goto out;
		}
	}

	/* the network key for case pseudonyms: agents and auditors, never the broker */
	unsigned char nk[32];
	char nk64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	randombytes_buf(nk, sizeof(nk));
	sodium_bin2base64(nk64, sizeof(nk64), nk, sizeof(nk), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(nk, sizeof(nk));
	wrc = write_file(keys, "network.key", 0600, "network_key: \"%s\"\n", nk64);
	sodium_memzero(nk64, sizeof(nk64));
	if (wrc != 0)
		goto out;

	/* 6. configurations (0640: the daemons refuse files others can read) */
	const char *ipc = strncmp(listen, "ipc://", 6) == 0 ? listen : NULL;
	char *bdata = NULL;
	if (asprintf(&bdata, "listen: %s\ndata_dir: broker-data\nkeys: keys/broker.secret\n"
	    "directory: directory.yaml\npolicy: policy.yaml\nroot: root.yaml\n%s%s%s", listen,
	    user ? "user: " : "", user ? user : "", user ? "\n" : "") < 0)
		goto out;
	wrc = write_file(dir, "broker.yaml", 0640, "%s", bdata);
	free(bdata);
	if (wrc != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char name[96];
		snprintf(name, sizeof(name), "%s.yaml", ids[i]);
		if (write_file(dir, name, 0640, "agency: %s\nbroker: %s\nbroker_key: \"%s\"\n"
		    "broker_signing_key: \"%s\"\nkeys: keys/%s.secret\ndata_dir: %s-data\n"
		    "policy: policy.yaml\ndirectory: directory.yaml\nroot: root.yaml\n"
		    "network_key: keys/network.key\n%s%s%s",
		    ids[i], ipc ? ipc : listen, tx, sg, ids[i], ids[i], user ? "user: " : "",
		    user ? user : "", user ? "\n" : "") != 0)
			goto out;
	}
	rc = EXIT_OK;
	printf("# a network of %zu agencies in %s (trial keys: in production every agency makes "
	    "its own, docs/trust.md)\n", n, dir);
	printf("# approvals: policy by the officers of");
	for (unsigned i = 0; i < two; i++)
		printf(" %s", ids[i]);
	printf(", directory by the board members of");
	for (unsigned i = 0; i < two; i++)
		printf(" %s", ids[i]);
	printf("\n# start it:\ncd %s\nketen-broker --config broker.yaml &\n", dir);
	for (size_t i = 0; i < n; i++)
		printf("keten-agent --config %s.yaml &\n", ids[i]);
	if (n >= 2)
		printf("# and send something the policy allows, e.g.:\n"
		    "keten send --config %s.yaml --to %s --type CaseReferral --purpose prosecution "
		    "--body '{\"reference\":\"TRIAL-1\"}'\n", ids[0], ids[1]);
out:
	if (rc != EXIT_OK && made)
		fprintf(stderr, "keten init: stopped; %s is left as it is (remove it before trying "
		    "again)\n", dir);
	free(keys);
	free(officers);
	free(root);
	free(dirfile);
	free(polfile);
	free(policy_text);
	free(copy);
	return rc;
}
