/* keten audit's output: entries, the report of a case, statistics (cli/audit.h). */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/audit.h"
#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "ledger/ledgerjson.h"

const char *
audit_kind_name(int kind)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &keten__ledger__v1__kind__descriptor, kind);

	return v != NULL && strncmp(v->name, "KIND_", 5) == 0 ? v->name + 5 : "?";
}

/* The message type without its package ("CaseSignal"). */
static const char *
short_type(const char *t)
{
	return strrchr(t, '.') != NULL ? strrchr(t, '.') + 1 : t;
}

void
audit_entry_line(FILE *f, const Keten__Ledger__V1__Entry *e)
{
	char when[KETEN_TIMESTRLEN], id[KETEN_UUIDSTRLEN], hex[65], safe[LOG_SAFE_LEN(300)];

	fprintf(f, "#%-6llu %s  %-18s", (unsigned long long)e->seq, time_iso(e->time_ms, when),
	    audit_kind_name(e->kind));
	if (e->sender[0])
		fprintf(f, " %s -> %s", e->sender, e->recipient[0] ? e->recipient : "-");
	else if (e->recipient[0] && strcmp(e->actor, e->recipient) == 0)
		fprintf(f, " to %s", e->recipient);	/* DELIVERED, EXPIRED: the copy's recipient */
	else if (e->recipient[0])
		fprintf(f, " %s: to %s", e->actor, e->recipient);
	else
		fprintf(f, " %s", e->actor);
	if (e->message_type[0])
		fprintf(f, "  %s", short_type(e->message_type));
	if (e->purpose[0])
		fprintf(f, "  purpose %s", e->purpose);
	if (e->legal_basis[0])
		fprintf(f, "  basis %s", e->legal_basis);
	for (size_t i = 0; i < e->n_rule_ids; i++)
		fprintf(f, "%s%s", i ? "," : "  rule ", e->rule_ids[i]);
	if (e->n_field_paths)
		fprintf(f, "  %zu field%s", e->n_field_paths, e->n_field_paths == 1 ? "" : "s");
	if (e->message_id.len == KETEN_UUIDBYTES) {
		uuid_format(id, e->message_id.data);
		fprintf(f, "  message %s", id);
	}
	if (e->case_pseudonym.len == 32) {
		sodium_bin2hex(hex, sizeof(hex), e->case_pseudonym.data, 32);
		fprintf(f, "  case %.16s", hex);
	}
	if (e->reason_code[0] || e->reason[0])
		fprintf(f, "  -- %s%s%s", e->reason_code, e->reason_code[0] && e->reason[0] ? ": " : "",
		    log_safe(e->reason, 300, safe, sizeof(safe)));
	fputc('\n', f);
}

void
audit_entry_json_line(FILE *f, const Keten__Ledger__V1__Entry *e)
{
	json_t *j = ledger_entry_json(e);
	char *s = json_dumps(j, JSON_COMPACT);

	fprintf(f, "%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(j);
}

bool
audit_matches(const struct query *q, const Keten__Ledger__V1__Entry *e)
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
	    strcmp(short_type(e->message_type), q->type) != 0)
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

/* --- the report of one case ------------------------------------------------ */

/* Entries kept past their callback: packed again and unpacked as our own. */
struct entries {
	Keten__Ledger__V1__Entry **e;
	size_t n, cap;
};

static int
keep(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct entries *es = arg;
	size_t len = keten__ledger__v1__entry__get_packed_size(e);
	uint8_t *buf;

	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 32;
		Keten__Ledger__V1__Entry **ne = realloc(es->e, cap * sizeof(*ne));
		if (ne == NULL)
			return 1;
		es->e = ne;
		es->cap = cap;
	}
	if ((buf = malloc(len ? len : 1)) == NULL)
		return 1;
	keten__ledger__v1__entry__pack(e, buf);
	es->e[es->n] = keten__ledger__v1__entry__unpack(NULL, len, buf);
	free(buf);
	if (es->e[es->n] != NULL)
		es->n++;
	return 0;
}

static void
entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		keten__ledger__v1__entry__free_unpacked(es->e[i], NULL);
	free(es->e);
	es->e = NULL;
	es->n = es->cap = 0;
}

/* The policy's legal bases: citation and description by id, when a policy file was given. */
struct bases {
	struct ydoc *doc;
	const struct ynode *map;
};

static void
basis_text(const struct bases *b, const char *id, const char **citation, const char **description)
{
	const struct ynode *m = b->map != NULL ? ynode_get(b->map, id) : NULL;
	const struct ynode *c = m != NULL ? ynode_get(m, "citation") : NULL;
	const struct ynode *d = m != NULL ? ynode_get(m, "description") : NULL;

	*citation = c != NULL && c->kind == YNODE_SCALAR ? c->str : NULL;
	*description = d != NULL && d->kind == YNODE_SCALAR ? d->str : NULL;
}

/* What became of the copy of message `all` for recipient r: a state, when, why. */
struct fate {
	const char *state;	/* queued, delivered, refused by the recipient, expired */
	const Keten__Ledger__V1__Entry *by;	/* the entry that says so, or NULL (queued) */
};

static struct fate
copy_fate(const struct entries *all, const char *r)
{
	struct fate f = { "queued (not delivered yet)", NULL };

	for (size_t i = 0; i < all->n; i++) {
		const Keten__Ledger__V1__Entry *e = all->e[i];
		if (strcmp(e->recipient, r) != 0)
			continue;
		/* a refused copy is acknowledged too, so that it leaves the queue:
		 * its DELIVERED does not undo the refusal */
		if (e->kind == KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED)
			f = (struct fate){ "refused by the recipient", e };
		else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_DELIVERED && f.by == NULL)
			f = (struct fate){ "delivered", e };
		else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_EXPIRED && f.by == NULL)
			f = (struct fate){ "expired undelivered (its retention ended)", e };
	}
	return f;
}

/* The sender's decisions about recipient r of message `all` (KIND_WITHHELD). */
static json_t *
withheld_json(const struct entries *all, const char *r, bool refused)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < all->n; i++) {
		const Keten__Ledger__V1__Entry *e = all->e[i];
		if (e->kind != KETEN__LEDGER__V1__KIND__KIND_WITHHELD || strcmp(e->recipient, r) != 0 ||
		    (e->n_field_paths == 0) != refused)
			continue;
		json_t *o = json_pack("{s:s, s:I}", "reason", e->reason_code, "seq", (json_int_t)e->seq);
		if (e->n_rule_ids > 0)
			json_object_set_new(o, "rule", json_string(e->rule_ids[0]));
		json_t *f = json_array();
		for (size_t k = 0; k < e->n_field_paths; k++)
			json_array_append_new(f, json_string(e->field_paths[k]));
		json_object_set_new(o, "fields", f);
		json_array_append_new(arr, o);
	}
	return arr;
}

static void
withheld_text(const struct entries *all, const char *r)
{
	for (size_t i = 0; i < all->n; i++) {
		const Keten__Ledger__V1__Entry *e = all->e[i];
		if (e->kind != KETEN__LEDGER__V1__KIND__KIND_WITHHELD || strcmp(e->recipient, r) != 0 ||
		    e->n_field_paths == 0)
			continue;
		printf("    withheld at the source by %s's policy (#%llu, %s%s%s):", e->sender,
		    (unsigned long long)e->seq, e->reason_code, e->n_rule_ids ? ", rule " : "",
		    e->n_rule_ids ? e->rule_ids[0] : "");
		for (size_t k = 0; k < e->n_field_paths; k++)
			printf("%s %s", k ? "," : "", e->field_paths[k]);
		printf("\n");
	}
}

static json_t *
copy_json(const Keten__Ledger__V1__Entry *a, struct fate f, const struct bases *b)
{
	json_t *o = json_object(), *arr;
	const char *cit, *desc;
	char when[KETEN_TIMESTRLEN];

	json_object_set_new(o, "recipient", json_string(a->recipient));
	json_object_set_new(o, "state", json_string(f.state));
	json_object_set_new(o, "acceptedSeq", json_integer((json_int_t)a->seq));
	json_object_set_new(o, "acceptedTime", json_string(time_iso(a->time_ms, when)));
	if (f.by != NULL) {
		json_object_set_new(o, "stateSeq", json_integer((json_int_t)f.by->seq));
		json_object_set_new(o, "stateTime", json_string(time_iso(f.by->time_ms, when)));
		if (f.by->reason[0])
			json_object_set_new(o, "reason", json_string(f.by->reason));
	}
	json_object_set_new(o, "purpose", json_string(a->purpose));
	json_object_set_new(o, "legalBasis", json_string(a->legal_basis));
	basis_text(b, a->legal_basis, &cit, &desc);
	if (cit != NULL)
		json_object_set_new(o, "citation", json_string(cit));
	if (desc != NULL)
		json_object_set_new(o, "basisDescription", json_string(desc));
	arr = json_array();
	for (size_t i = 0; i < a->n_rule_ids; i++)
		json_array_append_new(arr, json_string(a->rule_ids[i]));
	json_object_set_new(o, "rules", arr);
	arr = json_array();
	for (size_t i = 0; i < a->n_field_paths; i++)
		json_array_append_new(arr, json_string(a->field_paths[i]));
	json_object_set_new(o, "fields", arr);
	return o;
}

static void
copy_text(const Keten__Ledger__V1__Entry *a, struct fate f, const struct bases *b)
{
	char when[KETEN_TIMESTRLEN], safe[LOG_SAFE_LEN(300)];
	const char *cit, *desc;

	printf("  to %s: accepted (#%llu)", a->recipient, (unsigned long long)a->seq);
	if (f.by != NULL)
		printf(", %s %s (#%llu)%s%s", f.state, time_iso(f.by->time_ms, when),
		    (unsigned long long)f.by->seq, f.by->reason[0] ? ": " : "",
		    log_safe(f.by->reason, 300, safe, sizeof(safe)));
	else
		printf(", %s", f.state);
	basis_text(b, a->legal_basis, &cit, &desc);
	printf("\n    purpose %s; legal basis %s", a->purpose, a->legal_basis);
	if (cit != NULL)
		printf(" (%s%s%s)", cit, desc ? ": " : "", desc ? desc : "");
	printf("; rule%s", a->n_rule_ids == 1 ? "" : "s");
	for (size_t i = 0; i < a->n_rule_ids; i++)
		printf("%s %s", i ? "," : "", a->rule_ids[i]);
	printf("\n    fields received (%zu):", a->n_field_paths);
	for (size_t i = 0; i < a->n_field_paths; i++)
		printf("%s %s", i ? "," : "", a->field_paths[i]);
	printf("\n");
}

/* One message of the case: its entries (all of them, by the message index) per copy. */
static json_t *
report_message(struct ledger_reader *r, const Keten__Ledger__V1__Entry *first,
    const struct bases *b, bool json)
{
	struct ledger_query mq = { .message_id = first->message_id.data };
	struct entries all = { NULL, 0, 0 };
	char when[KETEN_TIMESTRLEN], id[KETEN_UUIDSTRLEN], safe[LOG_SAFE_LEN(300)];
	json_t *m = NULL, *copies = NULL, *refusals = NULL, *refused = NULL;
	uint64_t looked;

	ledger_reader_query(r, &mq, keep, &all, &looked);
	uuid_format(id, first->message_id.data);
	if (json) {
		m = json_pack("{s:s, s:s, s:s, s:s}", "messageId", id, "type",
		    short_type(first->message_type), "sender", first->sender, "time",
		    time_iso(first->time_ms, when));
		copies = json_array();
		refusals = json_array();
		refused = json_array();
	} else {
		printf("\n%s  %s from %s  message %s\n", time_iso(first->time_ms, when),
		    short_type(first->message_type), first->sender, id);
	}
	for (size_t i = 0; i < all.n; i++) {
		const Keten__Ledger__V1__Entry *e = all.e[i];
		if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED) {
			struct fate f = copy_fate(&all, e->recipient);
			if (json) {
				json_t *c = copy_json(e, f, b);
				json_object_set_new(c, "withheld", withheld_json(&all, e->recipient, false));
				json_array_append_new(copies, c);
			} else {
				copy_text(e, f, b);
				withheld_text(&all, e->recipient);
			}
		} else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_WITHHELD && e->n_field_paths == 0) {
			/* a recipient the sender's own policy refused: nothing left for it */
			if (json)
				json_array_append_new(refused, json_pack("{s:s, s:I, s:s, s:s, s:s}",
				    "recipient", e->recipient, "seq", (json_int_t)e->seq, "time",
				    time_iso(e->time_ms, when), "reason", e->reason_code, "rule",
				    e->n_rule_ids ? e->rule_ids[0] : ""));
			else
				printf("  to %s: refused at the source by %s's policy (#%llu, %s%s%s)\n",
				    e->recipient, e->sender, (unsigned long long)e->seq, e->reason_code,
				    e->n_rule_ids ? ", rule " : "", e->n_rule_ids ? e->rule_ids[0] : "");
		} else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED) {
			if (json)
				json_array_append_new(refusals, json_pack("{s:I, s:s, s:s, s:s}", "seq",
				    (json_int_t)e->seq, "time", time_iso(e->time_ms, when), "code",
				    e->reason_code, "reason", e->reason));
			else
				printf("  refused by the broker (#%llu, %s): %s\n", (unsigned long long)e->seq,
				    e->reason_code, log_safe(e->reason, 300, safe, sizeof(safe)));
		}
	}
	entries_free(&all);
	if (json) {
		json_object_set_new(m, "copies", copies);
		json_object_set_new(m, "refusals", refusals);
		json_object_set_new(m, "refusedAtSource", refused);
	}
	return m;
}

/* The cases one report covers: the asked one, then those linked to it (BFS). */
#define REPORT_MAX_CASES 16

struct cases {
	uint8_t c[REPORT_MAX_CASES][32];
	size_t n;
	size_t more;		/* linked cases beyond REPORT_MAX_CASES, not followed */
};

static void
cases_add(struct cases *cs, const ProtobufCBinaryData *p)
{
	if (p->len != 32)
		return;
	for (size_t i = 0; i < cs->n; i++)
		if (memcmp(cs->c[i], p->data, 32) == 0)
			return;
	if (cs->n == REPORT_MAX_CASES) {
		cs->more++;
		return;
	}
	memcpy(cs->c[cs->n++], p->data, 32);
}

/* What a report has shown so far: messages (each once) and counts. */
struct shown_set {
	struct entries msgs;	/* the first entry of each message shown */
	uint64_t entries, queries;
};

static bool
message_shown(const struct shown_set *ss, const Keten__Ledger__V1__Entry *e)
{
	for (size_t j = 0; j < ss->msgs.n; j++)
		if (memcmp(ss->msgs.e[j]->message_id.data, e->message_id.data, KETEN_UUIDBYTES) == 0)
			return true;
	return false;
}

/* One case's part of the report; the cases its entries link to into *cs. */
static json_t *
report_case(struct ledger_reader *r, const uint8_t pseudo[32], const struct bases *b, bool json,
    struct shown_set *ss, struct cases *cs)
{
	struct ledger_query lq = { .case_pseudonym = pseudo };
	struct entries ce = { NULL, 0, 0 };
	json_t *msgs = json ? json_array() : NULL, *other = json ? json_array() : NULL;
	uint64_t looked;

	ledger_reader_query(r, &lq, keep, &ce, &looked);
	for (size_t i = 0; i < ce.n; i++) {
		const Keten__Ledger__V1__Entry *e = ce.e[i];
		cases_add(cs, &e->linked_case);
		cases_add(cs, &e->case_pseudonym);
		if (e->kind == KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY) {
			ss->queries++;	/* counted, listed by query --kind AUDIT_QUERY */
			continue;
		}
		ss->entries++;
		if (e->message_id.len != KETEN_UUIDBYTES) {
			if (json)
				json_array_append_new(other, ledger_entry_json(e));
			else
				audit_entry_line(stdout, e);
			continue;
		}
		if (message_shown(ss, e))	/* each message once, where it starts */
			continue;
		keep(&ss->msgs, e);
		json_t *m = report_message(r, e, b, json);
		if (m != NULL)
			json_array_append_new(msgs, m);
	}
	entries_free(&ce);
	if (!json)
		return NULL;
	char hex[65];
	sodium_bin2hex(hex, sizeof(hex), pseudo, 32);
	return json_pack("{s:s, s:o, s:o}", "case", hex, "messages", msgs, "other", other);
}

int
audit_report(struct ledger_reader *r, const char *data, const struct query *q,
    const char *policy_file, bool links,
    bool json)
{
	struct cases cs = { .n = 0 };
	struct shown_set ss = { { NULL, 0, 0 }, 0, 0 };
	struct bases b = { NULL, NULL };
	char hex[65], err[KETEN_ERRLEN];
	json_t *out = NULL, *linked = NULL;

	if (policy_file != NULL) {
		if (ydoc_load(policy_file, &b.doc, err) != 0) {
			fprintf(stderr, "keten audit report: %s\n", err);
			return EXIT_FAIL;
		}
		b.map = ydoc_root(b.doc) != NULL ? ynode_get(ydoc_root(b.doc), "bases") : NULL;
	}
	ProtobufCBinaryData first = { 32, (uint8_t *)q->pseudo };
	cases_add(&cs, &first);
	if (json)
		linked = json_array();
	for (size_t ci = 0; ci < cs.n && (ci == 0 || links); ci++) {
		sodium_bin2hex(hex, sizeof(hex), cs.c[ci], 32);
		if (!json && ci == 0)
			printf("processing overview of case %.16s...\n", hex);
		else if (!json)
			printf("\nlinked case %.16s... (another agency's case: a message of one answers a "
			    "message of the other)\n", hex);
		json_t *part = report_case(r, cs.c[ci], &b, json, &ss, &cs);
		if (json && ci == 0)
			out = part;
		else if (json)
			json_array_append_new(linked, part);
	}
	if (json) {
		json_object_set_new(out, "linkedCases", linked);
		json_object_set_new(out, "entries", json_integer((json_int_t)ss.entries));
		json_object_set_new(out, "auditQueries", json_integer((json_int_t)ss.queries));
		cli_print_json(out);
		json_decref(out);
	} else {
		sodium_bin2hex(hex, sizeof(hex), q->pseudo, 32);
		printf("\n%llu ledger entries for this case%s\n", (unsigned long long)ss.entries,
		    cs.n > 1 && links ? " and the cases linked to it" : "");
		if (cs.n > 1 && !links)
			printf("%zu linked case%s not followed (--no-links)\n", cs.n - 1,
			    cs.n == 2 ? "" : "s");
		if (cs.more > 0)
			printf("%zu more linked cases not followed (at most %d in one report)\n",
			    cs.more, REPORT_MAX_CASES);
		printf("%llu auditors' queries of this case logged (keten audit query --case %s "
		    "--kind AUDIT_QUERY lists them)\n", (unsigned long long)ss.queries, hex);
		printf("as a timeline in a browser: keten console --ledger %s, then /case/%s\n",
		    data, hex);
	}
	if (ss.entries == 0)
		fprintf(stderr, "keten audit report: no entries for this case; a case reference is "
		    "pseudonymised per agency: --case-sender must be the agency whose reference it is\n");
	entries_free(&ss.msgs);
	ydoc_free(&b.doc);
	return EXIT_OK;
}

/* --- statistics ------------------------------------------------------------- */

struct row {
	char key[160];
	uint64_t accepted, rejected, delivered, withheld;
};

struct stats {
	struct ledger_reader *r;
	struct row *rows;
	size_t n, cap;
	uint64_t kinds[32];
};

static struct row *
stats_row(struct stats *st, const char *key)
{
	size_t i;

	for (i = 0; i < st->n && strcmp(st->rows[i].key, key) != 0; i++)
		;
	if (i == st->n) {
		if (st->n == st->cap) {
			size_t cap = st->cap ? 2 * st->cap : 64;
			struct row *nr = realloc(st->rows, cap * sizeof(*nr));
			if (nr == NULL)
				return NULL;
			st->rows = nr;
			st->cap = cap;
		}
		memset(&st->rows[st->n], 0, sizeof(st->rows[0]));
		snprintf(st->rows[st->n].key, sizeof(st->rows[0].key), "%s", key);
		st->n++;
	}
	return &st->rows[i];
}

/* The ACCEPTED entry of a DELIVERED one: who sent it, by which rules. */
struct accepted_of {
	const char *recipient;
	char sender[64];
	char rules[8][64];
	size_t nrules;
	bool found;
};

static int
find_accepted(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct accepted_of *a = arg;

	if (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED || strcmp(e->recipient, a->recipient) != 0)
		return 0;
	snprintf(a->sender, sizeof(a->sender), "%s", e->sender);
	for (a->nrules = 0; a->nrules < e->n_rule_ids && a->nrules < 8; a->nrules++)
		snprintf(a->rules[a->nrules], sizeof(a->rules[0]), "%s", e->rule_ids[a->nrules]);
	a->found = true;
	return 1;
}

static void
stats_count(struct stats *st, const char *key, int kind)
{
	struct row *w = stats_row(st, key);

	if (w == NULL)
		return;
	if (kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED)
		w->accepted++;
	else if (kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED)
		w->rejected++;
	else if (kind == KETEN__LEDGER__V1__KIND__KIND_WITHHELD)
		w->withheld++;
	else
		w->delivered++;
}

static int
stats_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct stats *st = arg;
	char key[160];

	(void)seq;
	if (e == NULL)
		return 0;
	if (e->kind >= 0 && e->kind < 32)
		st->kinds[e->kind]++;
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_DELIVERED && e->message_id.len == 16) {
		/* a delivery names its recipient; its sender and rules are in the ACCEPTED entry */
		struct accepted_of a = { .recipient = e->recipient };
		struct ledger_query mq = { .message_id = e->message_id.data };
		uint64_t looked;
		ledger_reader_query(st->r, &mq, find_accepted, &a, &looked);
		if (!a.found)
			return 0;
		snprintf(key, sizeof(key), "pair %s -> %s", a.sender, e->recipient);
		stats_count(st, key, e->kind);
		for (size_t i = 0; i < a.nrules; i++) {
			snprintf(key, sizeof(key), "rule %s", a.rules[i]);
			stats_count(st, key, e->kind);
		}
		return 0;
	}
	if (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED &&
	    e->kind != KETEN__LEDGER__V1__KIND__KIND_REJECTED &&
	    e->kind != KETEN__LEDGER__V1__KIND__KIND_WITHHELD)
		return 0;
	snprintf(key, sizeof(key), "pair %s -> %s", e->sender, e->recipient[0] ? e->recipient :
	    "(refused)");
	stats_count(st, key, e->kind);
	for (size_t i = 0; i < e->n_rule_ids; i++) {
		snprintf(key, sizeof(key), "rule %s", e->rule_ids[i]);
		stats_count(st, key, e->kind);
	}
	if ((e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED ||
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_WITHHELD) && e->reason_code[0]) {
		snprintf(key, sizeof(key), "reason %s", e->reason_code);
		stats_count(st, key, e->kind);
	}
	return 0;
}

static int
row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->key, ((const struct row *)b)->key);
}

int
audit_stats(struct ledger_reader *r, bool json)
{
	static const char *const sections[][2] = {
		{ "pair ", "per sender -> recipient" }, { "rule ", "per rule" },
		{ "reason ", "refusals and withholdings per reason" },
	};
	struct stats st = { .r = r };
	json_t *out = NULL;

	ledger_reader_walk(r, 0, stats_one, &st);
	qsort(st.rows, st.n, sizeof(st.rows[0]), row_cmp);
	if (json)
		out = json_object();
	for (size_t s = 0; s < 3; s++) {
		size_t plen = strlen(sections[s][0]);
		json_t *arr = json ? json_array() : NULL;
		if (!json)
			printf("%s%-44s %9s %9s %9s %9s\n", s ? "\n" : "", sections[s][1], "accepted",
			    "rejected", "delivered", "withheld");
		for (size_t i = 0; i < st.n; i++) {
			const struct row *w = &st.rows[i];
			if (strncmp(w->key, sections[s][0], plen) != 0)
				continue;
			if (json)
				json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "key",
				    w->key + plen, "accepted", (json_int_t)w->accepted, "rejected",
				    (json_int_t)w->rejected, "delivered", (json_int_t)w->delivered,
				    "withheld", (json_int_t)w->withheld));
			else
				printf("  %-42s %9llu %9llu %9llu %9llu\n", w->key + plen,
				    (unsigned long long)w->accepted, (unsigned long long)w->rejected,
				    (unsigned long long)w->delivered, (unsigned long long)w->withheld);
		}
		if (json)
			json_object_set_new(out, s == 0 ? "pairs" : s == 1 ? "rules" : "reasons", arr);
	}
	json_t *kinds = json ? json_object() : NULL;
	if (!json)
		printf("\nentries per kind\n");
	for (int k = 0; k < 32; k++) {
		if (st.kinds[k] == 0)
			continue;
		if (json)
			json_object_set_new(kinds, audit_kind_name(k), json_integer((json_int_t)st.kinds[k]));
		else
			printf("  %-42s %9llu\n", audit_kind_name(k), (unsigned long long)st.kinds[k]);
	}
	if (json) {
		json_object_set_new(out, "kinds", kinds);
		cli_print_json(out);
		json_decref(out);
	}
	free(st.rows);
	return EXIT_OK;
}
