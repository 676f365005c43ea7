/* keten audit: what an auditor does with the broker's ledger. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/audit.h"
#include "cli/cli.h"
#include "ledger/auditspool.h"
#include "ledger/checkpoint.h"
#include "common/directory.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "common/note.h"
#include "ledger/ledgerjson.h"
#include "ledger/proof.h"
#include "ledger/reader.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "schemas/ledger.pb-c.h"

#define AUDIT_LOG_WAIT_MS 10000	/* how long the broker may take to log a query */

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten audit verify --data BROKER_DATA_DIR --key BROKER_PUBLIC [--origin O]\n"
	    "                          [--directory DIRECTORY.yaml]   (also check every cosignature)\n"
	    "       keten audit log    --data BROKER_DATA_DIR [--after SEQ] [--limit N] [--json]\n"
	    "       keten audit query  --data BROKER_DATA_DIR [--message ID] [--case PSEUDONYM-HEX]\n"
	    "                          [--case-ref REF --case-sender AGENCY --network-key FILE]\n"
	    "                          [--sender A] [--recipient A] [--rule RULE]\n"
	    "                          [--since 2026-11-01T00:00:00Z] [--until ...]\n"
	    "                          [--kind ACCEPTED|REJECTED|DELIVERED|...] [--type CaseSignal]\n"
	    "                          [--limit N] [--json]\n"
	    "       keten audit stats  --data BROKER_DATA_DIR [--json]\n"
	    "       keten audit report --data BROKER_DATA_DIR --case-ref REF --case-sender AGENCY\n"
	    "                          --network-key FILE   (or --case PSEUDONYM-HEX)\n"
	    "                          [--policy POLICY.yaml] [--no-links] [--json]\n"
	    "       keten audit prove  --data BROKER_DATA_DIR --seq N [--size M]\n"
	    "       keten audit prove  --data BROKER_DATA_DIR --consistency OLD,NEW\n"
	    "       keten audit check-proof --key BROKER_PUBLIC PROOF_FILE\n"
	    "       keten audit checkpoint --data BROKER_DATA_DIR [--size N]\n"
	    "       keten audit vkey   --key BROKER_PUBLIC [--origin O]\n"
	    "       keten audit export --data BROKER_DATA_DIR --format logboek [--after SEQ]\n"
	    "  verify     rehashes every entry, rebuilds the Merkle tree and checks every\n"
	    "             signed checkpoint (and with --directory every cosignature)\n"
	    "  log        the entries in order; query: those an index finds (its cost\n"
	    "             follows the size of the answer); one line each, --json for JSON lines\n"
	    "  report     the processing overview of one case: per message and recipient,\n"
	    "             accepted under which rule, purpose and legal basis (its citation\n"
	    "             from --policy), which fields, delivered when, or refused and why;\n"
	    "             then each other agency's case linked to it by a reply (--no-links: not)\n"
	    "  stats      accepted, rejected, delivered and withheld at the source per\n"
	    "             sender -> recipient, per rule and per reason; entries per kind\n"
	    "  prove      a self-contained proof (docs/auditor.md) that check-proof verifies\n"
	    "             with nothing but the proof and the broker's public key\n"
	    "  checkpoint the newest cosigned checkpoint (or the one of --size) with its\n"
	    "             witnesses' cosignature lines: a C2SP signed note\n"
	    "  vkey       the broker's verifier key in signed-note form, for C2SP tools\n"
	    "  export     JSON lines modelled on the Logboek Dataverwerkingen (Logius)\n"
	    "  BROKER_PUBLIC is the broker's public key file (broker.public.yaml) or its\n"
	    "  signing_key in base64.  Times are ISO 8601 in UTC.  Exit 0 when the answer\n"
	    "  is given (verify: the ledger verifies), 1 when not, 2 for a wrong command line.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static int
usage_verb(const char *verb)
{
	return cli_usage_verb("audit", usage, verb, "docs/auditor.md");
}

/* A wrong command line, said in one line. */
static int bad(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bad(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keten audit %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (keten audit --help)\n");
	return EXIT_USAGE;
}

/* The broker's public key from its public key file or base64; -1 said why. */
static int
read_key(const char *verb, const char *arg, uint8_t pk[static 32])
{
	/* a file that exists, or what is not a key in base64 (which may hold a '/') */
	uint8_t probe[32];
	if (access(arg, F_OK) == 0 || key_b64_decode(probe, 32, arg) != 0) {
		struct ydoc *doc = NULL;
		char err[KETEN_ERRLEN];
		const struct ynode *root, *m;
		const char *b64 = NULL;
		int rc = -1;
		if (ydoc_load(arg, &doc, err) != 0) {
			fprintf(stderr, "keten audit %s: --key: %s\n", verb, err);
			return -1;
		}
		root = ydoc_root(doc);
		m = root && root->kind == YNODE_SEQ && root->n == 1 ? root->items[0] : root;
		if (m && m->kind == YNODE_MAP && ydoc_get_str(doc, m, "signing_key", true, &b64, err) == 0)
			rc = key_b64_decode(pk, 32, b64);
		if (rc != 0)
			fprintf(stderr, "keten audit %s: --key: %s holds no signing_key of 32 bytes in "
			    "base64 (give the broker's broker.public.yaml)\n", verb, arg);
		ydoc_free(&doc);
		return rc;
	}
	if (key_b64_decode(pk, 32, arg) != 0) {
		fprintf(stderr, "keten audit %s: --key: \"%.60s\" is neither a readable file nor a "
		    "signing key in base64\n", verb, arg);
		return -1;
	}
	return 0;
}

/* Cosignatures by the agencies (witnesses): how many, and per witness the newest size. */
static const struct directory *witness_dir;	/* --directory: check cosignatures too */

struct witness_tally {
	struct { char who[64]; uint64_t newest; } w[64];
	size_t nw;
	uint64_t n, bad;
};

static void
witness_one(void *arg, uint64_t size, const char *who, const char *line, const char *note)
{
	struct witness_tally *t = arg;
	size_t i;

	for (i = 0; i < t->nw && strcmp(t->w[i].who, who) != 0; i++)
		;
	if (i == t->nw && t->nw < 64) {
		snprintf(t->w[t->nw].who, sizeof(t->w[t->nw].who), "%s", who);
		t->w[t->nw++].newest = 0;
	}
	if (i < t->nw && size > t->w[i].newest)
		t->w[i].newest = size;
	t->n++;
	if (witness_dir != NULL) {
		const struct dir_agency *a = directory_find(witness_dir, who);
		if (a == NULL || note == NULL || line == NULL ||
		    (checkpoint_cosig_verify(note, line, who, a->sign_pk) != 0 &&
		    !(a->has_previous && checkpoint_cosig_verify(note, line, who, a->prev_sign_pk) == 0))) {
			printf("FAIL the cosignature of %s on checkpoint %llu does not verify\n", who,
			    (unsigned long long)size);
			t->bad++;
		}
	}
}

static int
witnesses(struct ledger_reader *r, json_t *out)
{
	struct witness_tally t = { .nw = 0 };

	if (ledger_reader_cosignatures(r, witness_one, &t) != 0)
		return 0;	/* an older ledger without witnesses */
	if (out != NULL) {
		json_t *w = json_object();
		for (size_t i = 0; i < t.nw; i++)
			json_object_set_new(w, t.w[i].who, json_integer((json_int_t)t.w[i].newest));
		json_object_set_new(out, "cosignatures", json_integer((json_int_t)t.n));
		json_object_set_new(out, "newestCosignedSize", w);
		if (witness_dir != NULL)
			json_object_set_new(out, "cosignaturesVerified", json_boolean(t.bad == 0));
		return t.bad ? -1 : 0;
	}
	printf("cosignatures: %llu; newest cosigned size per witness:", (unsigned long long)t.n);
	for (size_t i = 0; i < t.nw; i++)
		printf(" %s=%llu", t.w[i].who, (unsigned long long)t.w[i].newest);
	printf("%s%s\n", t.nw ? "" : " none", witness_dir && !t.bad ? " (all verified)" : "");
	return t.bad ? -1 : 0;
}

/* --json: JSON lines (or one JSON document) instead of the human form */
static bool json_out;

static int
verify(struct ledger_reader *r, const char *origin, const uint8_t pk[static 32])
{
	char msg[LEDGER_MSGLEN];
	int rc = ledger_reader_verify(r, origin, pk, msg);
	json_t *out = json_out ? json_object() : NULL;

	if (out != NULL) {
		msg[strcspn(msg, "\n")] = '\0';
		json_object_set_new(out, "verdict", json_string(msg));
		json_object_set_new(out, "size", json_integer((json_int_t)ledger_reader_size(r)));
	} else {
		fputs(msg, stdout);
	}
	int wrc = witnesses(r, out);
	if (out != NULL) {
		json_object_set_new(out, "ok", json_boolean(rc == 0 && wrc == 0));
		cli_print_json(out);
		json_decref(out);
	}
	return rc != 0 || wrc != 0 ? EXIT_FAIL : EXIT_OK;
}

static struct ledger_query
index_query(const struct query *q)
{
	return (struct ledger_query){ q->has_msg ? q->msgid : NULL, q->has_case ? q->pseudo : NULL,
	    q->rule, q->recipient, q->sender, q->since, q->until };
}

static void
show_entry(const Keten__Ledger__V1__Entry *e)
{
	if (json_out)
		audit_entry_json_line(stdout, e);
	else
		audit_entry_line(stdout, e);
}

struct shown {
	const struct query *q;
	uint64_t shown, limit;
};

static int
query_one(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct shown *s = arg;

	if (audit_matches(s->q, e)) {
		show_entry(e);
		s->shown++;
	}
	return s->shown >= s->limit;
}

/* Walk the most selective index the query names; filter by the rest. */
static int
query(struct ledger_reader *r, const struct query *q, uint64_t limit)
{
	struct ledger_query lq = index_query(q);
	struct shown s = { q, 0, limit };
	uint64_t looked = 0;
	int rc = limit == 0 ? 0 : ledger_reader_query(r, &lq, query_one, &s, &looked);

	if (rc == KETEN_ENOTFOUND) {
		fprintf(stderr, "keten audit: this ledger has no indexes\n");
		return EXIT_FAIL;
	}
	if (rc != 0)
		return EXIT_USAGE;
	fprintf(stderr, "%llu entries (%llu read through the index)\n", (unsigned long long)s.shown,
	    (unsigned long long)looked);
	return EXIT_OK;
}

/*
 * A self-contained proof, text (ledger/proof.h, docs/auditor.md):
 *   keten-proof v1
 *   inclusion <seq> <size>      |  consistency <old> <new>
 *   entry <base64>              (inclusion only: the exact logged bytes)
 *   proof <hex>,<hex>,...       (may be empty)
 *   checkpoint <size>           followed by the signed note, then a line "."
 *   (consistency: two checkpoints, old then new)
 */
static int
prove(struct ledger_reader *r, uint64_t seq, uint64_t size, uint64_t old, bool consistency)
{
	char err[KETEN_ERRLEN];

	if (ledger_reader_prove(r, seq, size, old, consistency, stdout, err) != 0) {
		fprintf(stderr, "keten audit prove: %s\n", err);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* The independent verifier: only the proof file and the broker's key. */
static int
check_proof(const char *path, const uint8_t pk[static 32])
{
	FILE *f = fopen(path, "r");
	struct proof *p = NULL;
	char err[KETEN_ERRLEN];
	int rc = EXIT_FAIL;

	if (f == NULL) {
		perror(path);
		return EXIT_FAIL;
	}
	if (proof_read(f, &p) != 0) {
		printf("FAIL %s is not a keten proof\n", path);
	} else if (proof_verify(p, pk, err) != 0) {
		printf("FAIL %s\n", err);
	} else {
		if (p->inclusion)
			printf("proof OK: entry %llu is in the broker's signed checkpoint of size %llu\n",
			    (unsigned long long)p->first, (unsigned long long)p->second);
		else
			printf("proof OK: the signed checkpoint of size %llu extends the one of size "
			    "%llu\n", (unsigned long long)p->second, (unsigned long long)p->first);
		rc = EXIT_OK;
	}
	proof_free(&p);
	fclose(f);
	return rc;
}

struct log_walk {
	uint64_t limit;
	bool logboek;
	struct ledger_reader *r;
};

/* The ACCEPTED entry of the copy a DELIVERED (EXPIRED, refused) entry is about. */
struct copy_of {
	const char *recipient;
	uint8_t *packed;
	size_t len;
};

static int
find_copy(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct copy_of *c = arg;

	if (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED || strcmp(e->recipient, c->recipient) != 0)
		return 0;
	c->len = keten__ledger__v1__entry__get_packed_size(e);
	if ((c->packed = malloc(c->len ? c->len : 1)) != NULL)
		keten__ledger__v1__entry__pack(e, c->packed);
	return 1;
}

static void
logboek_one(struct ledger_reader *r, const Keten__Ledger__V1__Entry *e)
{
	Keten__Ledger__V1__Entry *acc = NULL;
	struct copy_of c = { .recipient = e->recipient };
	uint64_t looked;

	if (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED && e->message_id.len == 16 &&
	    e->recipient[0]) {
		struct ledger_query mq = { .message_id = e->message_id.data };
		ledger_reader_query(r, &mq, find_copy, &c, &looked);
		if (c.packed != NULL)
			acc = keten__ledger__v1__entry__unpack(NULL, c.len, c.packed);
	}
	json_t *j = ledger_entry_logboek_json(e, acc);
	cli_print_json(j);
	json_decref(j);
	if (acc != NULL)
		keten__ledger__v1__entry__free_unpacked(acc, NULL);
	free(c.packed);
}

static int
log_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct log_walk *w = arg;

	(void)seq;
	if (w->limit == 0)
		return 1;
	w->limit--;
	if (e != NULL && w->logboek) {
		logboek_one(w->r, e);
	} else if (e != NULL) {
		show_entry(e);
	}
	return w->limit == 0;
}

static int
pseudonym_from(struct query *q, const char *ref, const char *sender, const char *keyfile)
{
	struct ydoc *doc = NULL;
	char err[KETEN_ERRLEN];
	const char *b64 = NULL;
	uint8_t key[32];
	int rc = -1;

	if (ydoc_load(keyfile, &doc, err) != 0) {
		fprintf(stderr, "keten audit: %s\n", err);
		return -1;
	}
	if (ydoc_root(doc) && ydoc_get_str(doc, ydoc_root(doc), "network_key", true, &b64, err) == 0 &&
	    key_b64_decode(key, 32, b64) == 0) {
		envelope_case_pseudonym(q->pseudo, key, sender, ref);
		q->has_case = true;
		rc = 0;
	}
	sodium_memzero(key, sizeof(key));
	ydoc_free(&doc);
	return rc;
}

/*
 * Have the broker log this query (an AUDIT_QUERY entry) before it runs.
 * The record carries the case pseudonym, never --case-ref, and the options
 * as given except the case reference's and the network key's values.
 */
static int
log_query(const char *data, const char *verb, const struct query *q, int argc, char **argv)
{
	struct audit_query aq = { .has_case = q->has_case };
	char err[KETEN_ERRLEN];
	size_t off = 0;

	if (!auditspool_broker_running(data)) {
		fprintf(stderr, "keten audit: no broker serves %s (stopped, or a copy): this query is "
		    "not logged in the ledger\n", data);
		return 0;
	}
	randombytes_buf(aq.id, sizeof(aq.id));
	snprintf(aq.verb, sizeof(aq.verb), "%s", verb);
	memcpy(aq.pseudo, q->pseudo, sizeof(aq.pseudo));
	off = (size_t)snprintf(aq.text, sizeof(aq.text), "keten audit %s", verb);
	for (int i = 2; i < argc && off < sizeof(aq.text); i++) {
		const char *a = argv[i];
		bool secret = i > 2 && (strcmp(argv[i - 1], "--case-ref") == 0 ||
		    strcmp(argv[i - 1], "--network-key") == 0);
		bool shown = true;
		for (const char *c = a; *c; c++)
			shown = shown && (unsigned char)*c >= 0x20 && (unsigned char)*c <= 0x7e;
		if (strncmp(a, "--case-ref=", 11) == 0 || strncmp(a, "--network-key=", 14) == 0)
			secret = true;
		off += (size_t)snprintf(aq.text + off, sizeof(aq.text) - off, " %s",
		    secret ? "(withheld)" : shown ? a : "(unprintable)");
	}
	if (off >= sizeof(aq.text))
		aq.text[sizeof(aq.text) - 1] = '\0';
	if (auditspool_log(data, &aq, AUDIT_LOG_WAIT_MS, err) != 0) {
		fprintf(stderr, "keten audit: %s\n", err);
		return -1;
	}
	return 0;
}

/* The cosignature lines of one checkpoint size (or, size 0, of the newest cosigned one). */
struct cosigned {
	uint64_t size;
	bool newest;
	char *lines;
	size_t len;
};

static void
cosig_one(void *arg, uint64_t size, const char *who, const char *line, const char *note)
{
	struct cosigned *c = arg;

	(void)who, (void)note;
	if (c->newest && size > c->size) {	/* a newer cosigned checkpoint: start again */
		c->size = size;
		c->len = 0;
	}
	if (size != c->size || line == NULL)
		return;
	size_t n = strlen(line);
	char *nl = realloc(c->lines, c->len + n + 2);
	if (nl == NULL)
		return;
	c->lines = nl;
	memcpy(c->lines + c->len, line, n);
	c->len += n;
	if (n == 0 || line[n - 1] != '\n')
		c->lines[c->len++] = '\n';
	c->lines[c->len] = '\0';
}

/*
 * A checkpoint as a third party takes it: the broker's signed note with the
 * witnesses' cosignature lines appended (C2SP tlog-cosignature), the newest
 * one that has cosignatures unless --size names one.
 */
static int
checkpoint_out(struct ledger_reader *r, uint64_t size)
{
	struct cosigned c = { .size = size, .newest = size == 0 };
	char *note;

	ledger_reader_cosignatures(r, cosig_one, &c);
	if (c.size == 0)
		c.size = ledger_reader_size(r);	/* none cosigned yet: the newest */
	if ((note = ledger_reader_note(r, c.size)) == NULL) {
		free(c.lines);
		fprintf(stderr, "keten audit checkpoint: no signed checkpoint of size %llu in this "
		    "ledger\n", (unsigned long long)c.size);
		return EXIT_FAIL;
	}
	printf("%s%s", note, c.lines != NULL ? c.lines : "");
	if (c.lines == NULL)
		fprintf(stderr, "keten audit checkpoint: size %llu has no cosignatures (yet)\n",
		    (unsigned long long)c.size);
	free(note);
	free(c.lines);
	return EXIT_OK;
}

/* The broker's verifier key for its checkpoints, in signed-note vkey form. */
static int
vkey_out(const char *origin, const uint8_t pk[static 32])
{
	struct note_key k;
	char vkey[NOTE_VKEYMAX];

	if (note_key_init(&k, origin, pk) != 0)
		return bad("vkey", "--origin \"%.64s\" is not a signed-note key name", origin);
	note_vkey_format(&k, vkey);
	printf("%s\n", vkey);
	return EXIT_OK;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "ledger", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "origin", required_argument, NULL, 'o' },
		{ "after", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "message", required_argument, NULL, 'M' },
		{ "case", required_argument, NULL, 'C' },
		{ "case-ref", required_argument, NULL, 'R' },
		{ "case-sender", required_argument, NULL, 'S' },
		{ "network-key", required_argument, NULL, 'N' },
		{ "sender", required_argument, NULL, 's' },
		{ "recipient", required_argument, NULL, 'r' },
		{ "rule", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 'b' },
		{ "until", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'J' },
		{ "policy", required_argument, NULL, 'P' },
		{ "no-links", no_argument, NULL, 'L' },
		{ "kind", required_argument, NULL, 'K' },
		{ "type", required_argument, NULL, 'T' },
		{ "seq", required_argument, NULL, 'Q' },
		{ "directory", required_argument, NULL, 'D' },
		{ "size", required_argument, NULL, 'Z' },
		{ "consistency", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const verbs[] = {
		"verify", "log", "query", "stats", "report", "prove", "check-proof", "checkpoint",
		"vkey", "export", NULL
	};
	const char *data = NULL, *key = NULL, *origin = "keten.local/ledger", *verb, *policy = NULL;
	uint64_t after = 0, limit = UINT64_MAX;
	bool has_after = false, known = false, links = true;
	struct query q = { .has_msg = false };
	const char *caseref = NULL, *casesender = NULL, *netkey = NULL, *format = NULL;
	uint64_t pseq = UINT64_MAX, psize = 0, pold = 0;
	bool pcons = false;
	uint8_t pk[32];
	char err[KETEN_ERRLEN], *end;
	struct ledger_reader *r = NULL;
	int ch, rc = EXIT_FAIL;

	if (argc < 2)
		return usage(stderr);
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0)
		return usage(stdout);
	for (size_t i = 0; verbs[i] != NULL && !known; i++)
		known = strcmp(verb, verbs[i]) == 0;
	if (!known)
		return bad(verb, "no such command; the commands are verify, log, query, stats, report, "
		    "prove, check-proof, checkpoint, vkey, export");
	json_out = false;
	optind = 2;
	opterr = 0;
#define NUMBER(var, what) do { errno = 0; var = strtoull(optarg, &end, 10); \
	if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-') \
		return bad(verb, "%s must be a whole number, not \"%.40s\"", what, optarg); } while (0)
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': data = optarg; break;
		case 'k': key = optarg; break;
		case 'o': origin = optarg; break;
		case 'a': NUMBER(after, "--after"); has_after = true; break;
		case 'n': NUMBER(limit, "--limit"); break;
		case 'M':
			if (uuid_parse(q.msgid, optarg) != 0)
				return bad(verb, "--message must be a message id (a UUID), not \"%.40s\"",
				    optarg);
			q.has_msg = true;
			break;
		case 'C':
			if (strlen(optarg) != 64 || sodium_hex2bin(q.pseudo, 32, optarg, 64, NULL, NULL,
			    NULL) != 0)
				return bad(verb, "--case must be a case pseudonym: 64 hexadecimal digits");
			q.has_case = true;
			break;
		case 'R': caseref = optarg; break;
		case 'F': format = optarg; break;
		case 'J': json_out = true; break;
		case 'P': policy = optarg; break;
		case 'L': links = false; break;
		case 'T': q.type = optarg; break;
		case 'Q': NUMBER(pseq, "--seq"); break;
		case 'D': {
			struct directory *d = NULL;
			if (directory_load(optarg, &d, err) != 0) {
				fprintf(stderr, "keten audit %s: %s\n", verb, err);
				return EXIT_FAIL;
			}
			directory_free((struct directory **)&witness_dir);
			witness_dir = d;
			break;
		}
		case 'Z': NUMBER(psize, "--size"); break;
		case 'Y': {
			unsigned long long o, nw;
			int n = 0;
			if (sscanf(optarg, "%llu,%llu%n", &o, &nw, &n) != 2 || optarg[n] != '\0')
				return bad(verb, "--consistency is OLD,NEW: two checkpoint sizes");
			pold = o;
			psize = nw;
			pcons = true;
			break;
		}
		case 'K': {
			char full[64];
			snprintf(full, sizeof(full), "KIND_%s", optarg);
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
			    &keten__ledger__v1__kind__descriptor, full);
			if (ev == NULL) {
				fprintf(stderr, "keten audit %s: unknown kind %s; the kinds are", verb, optarg);
				for (unsigned i = 0; i < keten__ledger__v1__kind__descriptor.n_values; i++) {
					const char *nm = keten__ledger__v1__kind__descriptor.values[i].name;
					if (strcmp(nm, "KIND_UNSPECIFIED") != 0)
						fprintf(stderr, " %s", nm + 5);
				}
				fprintf(stderr, "\n");
				return EXIT_USAGE;
			}
			q.kind = ev->value;
			break;
		}
		case 'S': casesender = optarg; break;
		case 'N': netkey = optarg; break;
		case 's': q.sender = optarg; break;
		case 'r': q.recipient = optarg; break;
		case 'u': q.rule = optarg; break;
		case 'b':
			if (parse_utc_time(optarg, &q.since) != 0)
				return bad(verb, "--since is a time like 2026-11-01T00:00:00Z");
			break;
		case 'e':
			if (parse_utc_time(optarg, &q.until) != 0)
				return bad(verb, "--until is a time like 2026-11-01T00:00:00Z");
			break;
		case 'h': return usage_verb(verb);
		case '?':
			return bad(verb, "unknown option or missing value: %.40s", argv[optind - 1]);
		default: return usage(stderr);
		}
	}
#undef NUMBER
	if (format != NULL) {
		if (strcmp(format, "json") == 0)
			json_out = true;
		else if (strcmp(format, "logboek") == 0 ? strcmp(verb, "export") != 0 :
		    strcmp(format, "text") != 0)
			return bad(verb, "--format is text or json%s, not \"%.20s\"",
			    strcmp(verb, "export") == 0 ? " (export: logboek)" : "", format);
	}
	if (strcmp(verb, "export") == 0 && (format == NULL || strcmp(format, "logboek") != 0))
		return bad(verb, "give --format logboek");
	if (strcmp(verb, "check-proof") == 0) {
		if (key == NULL)
			return bad(verb, "give --key, the broker's public key file");
		if (optind + 1 != argc)
			return bad(verb, "give one proof file");
		if (read_key(verb, key, pk) != 0)
			return EXIT_USAGE;
		return check_proof(argv[optind], pk);
	}
	if (optind != argc)
		return bad(verb, "unexpected argument \"%.40s\"", argv[optind]);
	if (strcmp(verb, "vkey") == 0) {
		if (key == NULL)
			return bad(verb, "give --key, the broker's public key file");
		return read_key(verb, key, pk) != 0 ? EXIT_USAGE : vkey_out(origin, pk);
	}
	if (data == NULL)
		return bad(verb, "give --data, the broker's data directory (or a copy of it)");
	if (strcmp(verb, "verify") == 0) {
		if (key == NULL)
			return bad(verb, "give --key, the broker's public key file");
		if (read_key(verb, key, pk) != 0)
			return EXIT_USAGE;
	}
	if (caseref != NULL && (casesender == NULL || netkey == NULL))
		return bad(verb, "--case-ref needs --case-sender (the agency whose reference it is) "
		    "and --network-key");
	if (caseref != NULL && pseudonym_from(&q, caseref, casesender, netkey) != 0)
		return bad(verb, "--network-key %s holds no network_key", netkey);
	if (strcmp(verb, "report") == 0 && !q.has_case)
		return bad(verb, "give --case-ref with --case-sender and --network-key, or --case");
	if (strcmp(verb, "prove") == 0 && !pcons && pseq == UINT64_MAX)
		return bad(verb, "give --seq N (an inclusion proof) or --consistency OLD,NEW");
	if (log_query(data, verb, &q, argc, argv) != 0)
		return EXIT_FAIL;
	if (ledger_reader_open(data, &r, err) != 0) {
		fprintf(stderr, "keten audit %s: %s\n", verb, err);
		goto out;
	}
	if (strcmp(verb, "verify") == 0) {
		rc = verify(r, origin, pk);
	} else if (strcmp(verb, "query") == 0) {
		rc = query(r, &q, limit);
	} else if (strcmp(verb, "report") == 0) {
		rc = audit_report(r, data, &q, policy, links, json_out);
	} else if (strcmp(verb, "prove") == 0) {
		uint64_t lsize = ledger_reader_size(r);
		if (psize == 0)
			psize = lsize;
		if (psize > lsize || (!pcons && pseq >= psize) || (pcons && (pold == 0 || pold > psize))) {
			fprintf(stderr, "keten audit prove: the ledger has %llu entries: %s\n",
			    (unsigned long long)lsize, psize > lsize ? "--size is beyond it" : pcons ?
			    "OLD must be 1 to NEW" : "--seq must be below --size");
			rc = EXIT_USAGE;
			goto out;
		}
		rc = prove(r, pseq, psize, pold, pcons);
	} else if (strcmp(verb, "stats") == 0) {
		rc = audit_stats(r, json_out);
	} else if (strcmp(verb, "checkpoint") == 0) {
		rc = checkpoint_out(r, psize);
	} else {	/* log, export */
		struct log_walk w = { limit, strcmp(verb, "export") == 0, r };
		ledger_reader_walk(r, has_after ? after + 1 : 0, log_one, &w);
		rc = EXIT_OK;
	}
out:
	ledger_reader_free(&r);
	directory_free((struct directory **)&witness_dir);
	return rc;
}
