/* keten audit: what an auditor does with the broker's ledger. */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ledger/auditspool.h"
#include "ledger/checkpoint.h"
#include "common/directory.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "ledger/ledgerjson.h"
#include "ledger/proof.h"
#include "ledger/reader.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "schemas/ledger.pb-c.h"

#define AUDIT_LOG_WAIT_MS 10000	/* how long the broker may take to log a query */
#define POLICY_KEYS 20	/* stats rows one entry counts towards */

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten audit verify --data BROKER_DATA_DIR --key BROKER_PUBLIC [--origin O]\n"
	    "                          [--directory DIRECTORY.yaml]   (also check every cosignature)\n"
	    "       keten audit log    --data BROKER_DATA_DIR [--after SEQ] [--limit N]\n"
	    "       keten audit query  --data BROKER_DATA_DIR [--message ID] [--case PSEUDONYM-HEX]\n"
	    "                          [--case-ref REF --case-sender AGENCY --network-key FILE]\n"
	    "                          [--sender A] [--recipient A] [--rule RULE]\n"
	    "                          [--since 2026-11-01T00:00:00Z] [--until ...]\n"
	    "                          [--kind ACCEPTED|REJECTED|DELIVERED|...] [--type CaseSignal]\n"
	    "       keten audit stats  --data BROKER_DATA_DIR\n"
	    "       keten audit report --data BROKER_DATA_DIR --case-ref REF --case-sender AGENCY\n"
	    "                          --network-key FILE   (or --case PSEUDONYM-HEX)\n"
	    "  report is the processing overview of one case: who received which fields\n"
	    "  when, under which rule, purpose and legal basis, and what was refused.\n"
	    "       keten audit prove  --data BROKER_DATA_DIR --seq N [--size M]\n"
	    "       keten audit prove  --data BROKER_DATA_DIR --consistency OLD,NEW\n"
	    "       keten audit check-proof --key BROKER_PUBLIC PROOF_FILE\n"
	    "  prove writes a self-contained proof (docs/auditor.md) that check-proof\n"
	    "  verifies with nothing but the proof and the broker's public key.\n"
	    "  stats counts accepted and rejected per rule and per sender -> recipient.\n"
	    "  query reads the ledger's indexes: its cost follows the size of the answer.\n"
	    "       keten audit export --data BROKER_DATA_DIR --format logboek [--after SEQ]\n"
	    "  export writes the entries as JSON lines modelled on the Logboek\n"
	    "  Dataverwerkingen (Logius) record: trace id, span id, processing activity,\n"
	    "  status, times, pseudonymous data subject.\n"
	    "  verify rehashes every ledger entry from the first, rebuilds the Merkle tree,\n"
	    "  and checks every stored checkpoint's root and the broker's signature on it;\n"
	    "  BROKER_PUBLIC is the broker's public key file (broker.public.yaml) or its\n"
	    "  signing_key in base64.  log prints entries as JSON lines.  Both read while\n"
	    "  the broker runs.  Exit 0 when the ledger verifies, 1 otherwise.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static int
read_key(const char *arg, uint8_t pk[static 32])
{
	if (access(arg, R_OK) == 0) {
		struct ydoc *doc = NULL;
		char err[KETEN_ERRLEN];
		const struct ynode *root, *m;
		const char *b64 = NULL;
		int rc = -1;
		if (ydoc_load(arg, &doc, err) != 0) {
			fprintf(stderr, "keten audit: %s\n", err);
			return -1;
		}
		root = ydoc_root(doc);
		m = root && root->kind == YNODE_SEQ && root->n == 1 ? root->items[0] : root;
		if (m && m->kind == YNODE_MAP && ydoc_get_str(doc, m, "signing_key", true, &b64, err) == 0)
			rc = key_b64_decode(pk, 32, b64);
		ydoc_free(&doc);
		return rc;
	}
	return key_b64_decode(pk, 32, arg);
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
witnesses(struct ledger_reader *r)
{
	struct witness_tally t = { .nw = 0 };

	if (ledger_reader_cosignatures(r, witness_one, &t) != 0)
		return 0;	/* an older ledger without witnesses */
	printf("cosignatures: %llu; newest cosigned size per witness:", (unsigned long long)t.n);
	for (size_t i = 0; i < t.nw; i++)
		printf(" %s=%llu", t.w[i].who, (unsigned long long)t.w[i].newest);
	printf("%s%s\n", t.nw ? "" : " none", witness_dir && !t.bad ? " (all verified)" : "");
	return t.bad ? -1 : 0;
}

static int
verify(struct ledger_reader *r, const char *origin, const uint8_t pk[static 32])
{
	char msg[LEDGER_MSGLEN];
	int rc = ledger_reader_verify(r, origin, pk, msg);

	fputs(msg, stdout);
	if (rc != 0 || witnesses(r) != 0)
		return EXIT_FAIL;
	return EXIT_OK;
}

struct query {
	uint8_t msgid[16], pseudo[32];
	bool has_msg, has_case;
	const char *sender, *recipient, *rule, *type;
	int kind;		/* 0 = any */
	int64_t since, until;	/* 0 = open */
};

static bool
matches(const struct query *q, const Keten__Ledger__V1__Entry *e)
{
	if (q->has_msg && (e->message_id.len != 16 || memcmp(e->message_id.data, q->msgid, 16)))
		return false;
	if (q->has_case && (e->case_pseudonym.len != 32 || memcmp(e->case_pseudonym.data, q->pseudo, 32)))
		return false;
	if (q->sender && strcmp(e->sender, q->sender) != 0)
		return false;
	if (q->kind && (int)e->kind != q->kind)
		return false;
	/* the auditors' own queries only when asked for: a query does not find itself */
	if (q->kind == 0 && e->kind == KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY)
		return false;
	if (q->type && strcmp(e->message_type, q->type) != 0 &&
	    !(strrchr(e->message_type, '.') && strcmp(strrchr(e->message_type, '.') + 1, q->type) == 0))
		return false;
	if (q->recipient && strcmp(e->recipient, q->recipient) != 0)
		return false;
	if (q->since && e->time_ms < q->since)
		return false;
	if (q->until && e->time_ms >= q->until)
		return false;
	if (q->rule) {
		bool any = false;
		for (size_t i = 0; i < e->n_rule_ids && !any; i++)
			any = strcmp(e->rule_ids[i], q->rule) == 0;
		if (!any)
			return false;
	}
	return true;
}

static void
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	printf("%s\n", s ? s : "{}");
	free(s);
	json_decref(j);
}

static struct ledger_query
index_query(const struct query *q)
{
	return (struct ledger_query){ q->has_msg ? q->msgid : NULL, q->has_case ? q->pseudo : NULL,
	    q->rule, q->recipient, q->sender, q->since, q->until };
}

struct shown {
	const struct query *q;
	uint64_t shown, limit, queries;
};

static int
query_one(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct shown *s = arg;

	if (matches(s->q, e)) {
		print_json(ledger_entry_json(e));
		s->shown++;
	}
	return s->shown >= s->limit;
}

/* Walk the most selective index the query names; filter by the rest. */
static int
query(struct ledger_reader *r, const struct query *q, uint64_t limit)
{
	struct ledger_query lq = index_query(q);
	struct shown s = { q, 0, limit, 0 };
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

static int
report_one(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct shown *s = arg;
	char when[32], id[KETEN_UUIDSTRLEN] = "-";
	time_t t = (time_t)(e->time_ms / 1000);
	struct tm tm;

	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY) {
		s->queries++;	/* counted, listed by query --kind AUDIT_QUERY */
		return 0;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	if (e->message_id.len == 16)
		uuid_format(id, e->message_id.data);
	const char *type = strrchr(e->message_type, '.') ? strrchr(e->message_type, '.') + 1 :
	    e->message_type;
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED) {
		printf("\n%s  #%llu  %s -> %s  %s  message %s\n", when, (unsigned long long)e->seq,
		    e->sender, e->recipient, type, id);
		printf("  purpose %s, legal basis %s, rule%s", e->purpose, e->legal_basis,
		    e->n_rule_ids == 1 ? "" : "s");
		for (size_t i = 0; i < e->n_rule_ids; i++)
			printf("%s %s", i ? "," : "", e->rule_ids[i]);
		printf("\n  fields received (%zu):", e->n_field_paths);
		for (size_t i = 0; i < e->n_field_paths; i++)
			printf("%s %s", i ? "," : "", e->field_paths[i]);
		printf("\n  every other field of the message was withheld from %s\n", e->recipient);
	} else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED) {
		printf("\n%s  #%llu  %s: %s refused (%s): %s\n", when, (unsigned long long)e->seq,
		    e->sender, type, e->reason_code, e->reason);
	} else {
		printf("\n%s  #%llu  %s\n", when, (unsigned long long)e->seq, e->reason);
	}
	s->shown++;
	return 0;
}

/* The processing overview of one case, in time order (via the case index). */
static int
report(struct ledger_reader *r, const struct query *q)
{
	struct ledger_query lq = { .case_pseudonym = q->pseudo };
	struct shown s = { q, 0, UINT64_MAX, 0 };
	uint64_t looked;
	char hex[65];

	if (!q->has_case)
		return EXIT_USAGE;
	sodium_bin2hex(hex, sizeof(hex), q->pseudo, 32);
	printf("processing overview of case %.16s...\n", hex);
	if (ledger_reader_query(r, &lq, report_one, &s, &looked) == KETEN_ENOTFOUND)
		return EXIT_USAGE;
	printf("\n%llu ledger entries for this case\n", (unsigned long long)s.shown);
	printf("%llu auditors' queries of this case logged (keten audit query --case %s "
	    "--kind AUDIT_QUERY lists them)\n", (unsigned long long)s.queries, hex);
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

struct stats {
	struct row { char key[160]; uint64_t accepted, rejected; } *rows;
	size_t n, cap;
};

static void
stats_count(struct stats *st, const char key[static 160], bool acc)
{
	size_t i;

	for (i = 0; i < st->n && strcmp(st->rows[i].key, key) != 0; i++)
		;
	if (i == st->n) {
		if (st->n == st->cap) {
			size_t cap = st->cap ? 2 * st->cap : 64;
			struct row *nr = realloc(st->rows, cap * sizeof(*nr));
			if (nr == NULL)
				return;
			st->rows = nr;
			st->cap = cap;
		}
		memcpy(st->rows[st->n].key, key, sizeof(st->rows[st->n].key));
		st->rows[st->n].accepted = st->rows[st->n].rejected = 0;
		st->n++;
	}
	if (acc)
		st->rows[i].accepted++;
	else
		st->rows[i].rejected++;
}

static int
stats_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	char keys[POLICY_KEYS][160];
	size_t nk = 0;

	(void)seq;
	if (e == NULL)
		return 0;
	bool acc = e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED;
	bool rej = e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED;
	if (acc || rej) {
		snprintf(keys[nk++], 160, "pair  %s -> %s", e->sender,
		    e->recipient[0] ? e->recipient : "(refused)");
		for (size_t i = 0; i < e->n_rule_ids && nk < POLICY_KEYS; i++)
			snprintf(keys[nk++], 160, "rule  %s", e->rule_ids[i]);
		if (rej && e->reason_code[0] && nk < POLICY_KEYS)
			snprintf(keys[nk++], 160, "reason %s", e->reason_code);
	}
	for (size_t j = 0; j < nk; j++)
		stats_count(arg, keys[j], acc);
	return 0;
}

/* Accepted and rejected per rule and per sender -> recipient pair (one pass). */
static int
stats(struct ledger_reader *r)
{
	struct stats st = { NULL, 0, 0 };

	ledger_reader_walk(r, 0, stats_one, &st);
	printf("%-60s %10s %10s\n", "", "accepted", "rejected");
	for (size_t i = 0; i < st.n; i++)
		printf("%-60s %10llu %10llu\n", st.rows[i].key, (unsigned long long)st.rows[i].accepted,
		    (unsigned long long)st.rows[i].rejected);
	free(st.rows);
	return EXIT_OK;
}

struct log_walk {
	uint64_t limit;
	bool logboek;
};

static int
log_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct log_walk *w = arg;

	(void)seq;
	if (w->limit == 0)
		return 1;
	w->limit--;
	if (e != NULL)
		print_json(w->logboek ? ledger_entry_logboek_json(e) : ledger_entry_json(e));
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
		{ "kind", required_argument, NULL, 'K' },
		{ "type", required_argument, NULL, 'T' },
		{ "seq", required_argument, NULL, 'Q' },
		{ "directory", required_argument, NULL, 'D' },
		{ "size", required_argument, NULL, 'Z' },
		{ "consistency", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *key = NULL, *origin = "keten.local/ledger", *verb;
	uint64_t after = 0, limit = UINT64_MAX;
	bool has_after = false;
	struct query q = { .has_msg = false };
	const char *caseref = NULL, *casesender = NULL, *netkey = NULL, *format = NULL;
	uint64_t pseq = UINT64_MAX, psize = 0, pold = 0;
	bool pcons = false;
	uint8_t pk[32];
	char err[KETEN_ERRLEN];
	struct ledger_reader *r = NULL;
	int ch, rc = EXIT_FAIL;

	if (argc < 2)
		return usage(stderr);
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return usage(stdout);
	optind = 2;
	while ((ch = getopt_long(argc, argv, "d:k:o:a:n:hM:C:R:S:N:s:r:u:b:e:F:K:T:Q:Z:Y:D:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': data = optarg; break;
		case 'k': key = optarg; break;
		case 'o': origin = optarg; break;
		case 'a': after = strtoull(optarg, NULL, 10); has_after = true; break;
		case 'n': limit = strtoull(optarg, NULL, 10); break;
		case 'M':
			if (uuid_parse(q.msgid, optarg) != 0)
				return usage(stderr);
			q.has_msg = true;
			break;
		case 'C':
			if (sodium_hex2bin(q.pseudo, 32, optarg, strlen(optarg), NULL, NULL, NULL) != 0 ||
			    strlen(optarg) != 64)
				return usage(stderr);
			q.has_case = true;
			break;
		case 'R': caseref = optarg; break;
		case 'F': format = optarg; break;
		case 'T': q.type = optarg; break;
		case 'Q': pseq = strtoull(optarg, NULL, 10); break;
		case 'D': {
			struct directory *d = NULL;
			if (directory_load(optarg, &d, err) != 0) {
				fprintf(stderr, "keten audit: %s\n", err);
				return EXIT_FAIL;
			}
			witness_dir = d;
			break;
		}
		case 'Z': psize = strtoull(optarg, NULL, 10); break;
		case 'Y': {
			unsigned long long o, nw;
			if (sscanf(optarg, "%llu,%llu", &o, &nw) != 2)
				return usage(stderr);
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
				fprintf(stderr, "keten audit: unknown kind %s (ACCEPTED, REJECTED, DELIVERED, "
				    "EXPIRED, POLICY_ACTIVATED, DIRECTORY_CHANGED, KEY_REFUSED, AUDIT_QUERY,\n"
				    "VIOLATION_REPORTED)\n", optarg);
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
				return usage(stderr);
			break;
		case 'e':
			if (parse_utc_time(optarg, &q.until) != 0)
				return usage(stderr);
			break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (strcmp(verb, "check-proof") == 0) {
		if (key == NULL || read_key(key, pk) != 0 || optind + 1 != argc)
			return usage(stderr);
		return check_proof(argv[optind], pk);
	}
	if (data == NULL || optind != argc)
		return usage(stderr);
	if (strcmp(verb, "verify") == 0 && (key == NULL || read_key(key, pk) != 0)) {
		fprintf(stderr, "keten audit: --key must be the broker's public key file or its "
		    "base64 signing_key\n");
		return EXIT_USAGE;
	}
	if (caseref != NULL && (casesender == NULL || netkey == NULL ||
	    pseudonym_from(&q, caseref, casesender, netkey) != 0)) {
		fprintf(stderr, "keten audit: --case-ref needs --case-sender and a readable "
		    "--network-key file\n");
		return EXIT_USAGE;
	}
	if (strcmp(verb, "report") == 0 && !q.has_case) {
		fprintf(stderr, "keten audit report: give --case-ref with --case-sender and "
		    "--network-key, or --case\n");
		return EXIT_USAGE;
	}
	if (log_query(data, verb, &q, argc, argv) != 0)
		return EXIT_FAIL;
	if (ledger_reader_open(data, &r, err) != 0) {
		fprintf(stderr, "keten audit: %s\n", err);
		goto out;
	}
	if (strcmp(verb, "verify") == 0) {
		rc = verify(r, origin, pk);
	} else if (strcmp(verb, "query") == 0) {
		rc = query(r, &q, limit);
	} else if (strcmp(verb, "report") == 0) {
		rc = report(r, &q);
	} else if (strcmp(verb, "prove") == 0) {
		uint64_t lsize = ledger_reader_size(r);
		if (psize == 0)
			psize = lsize;
		if ((!pcons && pseq == UINT64_MAX) || psize > lsize) {
			rc = usage(stderr);
			goto out;
		}
		rc = prove(r, pseq, psize, pold, pcons);
	} else if (strcmp(verb, "stats") == 0) {
		rc = stats(r);
	} else if (strcmp(verb, "log") == 0 || (strcmp(verb, "export") == 0 && format != NULL &&
	    strcmp(format, "logboek") == 0)) {
		struct log_walk w = { limit, strcmp(verb, "export") == 0 };
		ledger_reader_walk(r, has_after ? after + 1 : 0, log_one, &w);
		rc = EXIT_OK;
	} else {
		rc = usage(stderr);
	}
out:
	ledger_reader_free(&r);
	directory_free((struct directory **)&witness_dir);
	return rc;
}
