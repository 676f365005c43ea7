/* The policy compiler: YAML (docs/policy.md) to rules, errors at file:line:col, the canonical form and its hash. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/yamltree.h"
#include "policy/policy.h"
#include "schemas/case.pb-c.h"
#include "schemas/envelope.pb-c.h"
#include "policy/policy_int.h"

struct compiler {
	struct policy *p;
	const struct directory *dir;
	const struct ydoc *doc;
	char *err;
	const struct ynode *groups;	/* map name -> list */
	char *canon;			/* canonical form, for the hash */
	size_t canon_len, canon_cap;
	policy_report_fn report;	/* NULL: stop at the first error */
	void *report_arg;
	size_t nerr;			/* errors reported so far */
};

/*
 * An id of the policy (a purpose, a basis, a rule): a-z, 0-9 and '-', as
 * agency ids, so that no id can hide a right-to-left override (U+202E) or a
 * zero-width space (U+200B) from the privacy officer who reads it.  0, or
 * an error at node k that names the first character out of place (never
 * the raw id, which could reorder the terminal's line).
 */
static int
check_id(struct compiler *c, const struct ynode *k, const char *what, const char *id)
{
	size_t i, n = strlen(id);
	uint32_t cp = 0;

	if (agency_id_valid(id))
		return 0;
	for (i = 0; i < n && ((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
	    (id[i] == '-' && i > 0)); i++)
		;
	if (n == 0 || n >= KETEN_IDMAX)
		return ydoc_err(c->doc, k, c->err, "invalid %s: an id is 1 to %d characters of a-z, "
		    "0-9 and '-'", what, KETEN_IDMAX - 1);
	if (utf8_decode(id + i, n - i, &cp) == 0)
		cp = (unsigned char)id[i];
	return ydoc_err(c->doc, k, c->err, "invalid %s \"%.*s...\": U+%04X at character %zu; use "
	    "a-z, 0-9 and '-' (not first)", what, (int)i, id, (unsigned)cp, i + 1);
}


static void
canon_add(struct compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
canon_add(struct compiler *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->canon == NULL) {	/* never do arithmetic on a null pointer */
		if ((c->canon = malloc(4096)) == NULL)
			return;
		c->canon_cap = 4096;
		c->canon_len = 0;
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(c->canon + c->canon_len, c->canon_cap - c->canon_len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < c->canon_cap - c->canon_len) {
			c->canon_len += (size_t)n;
			return;
		}
		size_t cap = (c->canon_cap + (size_t)n + 1) * 2;
		char *nc = realloc(c->canon, cap);
		if (nc == NULL)
			return;
		c->canon = nc;
		c->canon_cap = cap;
	}
}

int
policy_agency_index(const struct policy *p, const char *id)
{
	size_t lo = 0, hi = p->nag;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(p->agencies[p->by_name[mid]], id);
		if (cmp == 0)
			return (int)p->by_name[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int
by_name_cmp(const void *a, const void *b, void *arg)
{
	const struct policy *p = arg;

	return strcmp(p->agencies[*(const uint32_t *)a], p->agencies[*(const uint32_t *)b]);
}

int
policy_index_of(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return (int)i;
	return -1;
}

/* A scalar or a list of scalars: call fn for each. */
static int
each_scalar(struct compiler *c, const struct ynode *v, const char *what,
    int (*fn)(struct compiler *, const struct ynode *, void *), void *arg)
{
	int rc;

	if (v->kind == YNODE_SCALAR)
		return fn(c, v, arg);
	if (v->kind != YNODE_SEQ)
		return ydoc_err(c->doc, v, c->err, "expected %s or a list of them, found a mapping",
		    what);
	if (v->n == 0)
		return ydoc_err(c->doc, v, c->err, "empty list: expected at least one %s", what);
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i]->kind != YNODE_SCALAR)
			return ydoc_err(c->doc, v->items[i], c->err, "expected %s", what);
		if ((rc = fn(c, v->items[i], arg)) != 0)
			return rc;
	}
	return 0;
}

struct agency_set {
	uint8_t *set;
	bool allow_groups;
};

/* Levenshtein distance of a and b, capped: 3 means "3 or more". */
static unsigned
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[KETEN_IDMAX + 1];

	if (la > KETEN_IDMAX || lb > KETEN_IDMAX || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb] < 3 ? row[lb] : 3;
}

/* A listed agency id (or group name) one or two edits from s, or NULL. */
static const char *
near_name(struct compiler *c, const char *s, bool groups)
{
	for (size_t k = 0; k < c->dir->n; k++)
		if (edit_distance(s, c->dir->agencies[k].id) <= 2)
			return c->dir->agencies[k].id;
	for (size_t g = 0; groups && c->groups != NULL && g < c->groups->n / 2; g++) {
		const struct ynode *key = c->groups->items[2 * g];
		if (key->kind == YNODE_SCALAR && edit_distance(s, key->str) <= 2)
			return key->str;
	}
	return NULL;
}

/* Remember an agency id the directory lacks (once, with where it is first named). */
static int
add_absent(struct compiler *c, const char *s, size_t line)
{
	struct policy *p = c->p;

	for (size_t i = 0; i < p->nabsent; i++)
		if (strcmp(p->absent[i], s) == 0)
			return 0;
	char **na = realloc(p->absent, (p->nabsent + 1) * sizeof(*na));
	if (na == NULL)
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	p->absent = na;
	size_t *nl = realloc(p->absent_line, (p->nabsent + 1) * sizeof(*nl));
	if (nl == NULL)
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	p->absent_line = nl;
	if ((p->absent[p->nabsent] = strdup(s)) == NULL)
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	p->absent_line[p->nabsent++] = line;
	return 0;
}

/* Resolve an agency reference: id, group name, kind:X or "*". */
static int
add_agency_ref(struct compiler *c, const struct ynode *v, void *arg)
{
	struct agency_set *as = arg;
	const char *s = v->str;
	int i;

	if (strcmp(s, "*") == 0) {
		memset(as->set, 1, c->p->nag);
		return 0;
	}
	if (strncmp(s, "kind:", 5) == 0) {
		if (!agency_kind_valid(s + 5))
			return ydoc_err(c->doc, v, c->err, "unknown agency kind \"%s\" (expected "
			    "police, prosecution, labour-inspectorate, military-police, "
			    "municipality, riec, registration-centre or care)", s + 5);
		for (size_t k = 0; k < c->dir->n; k++)
			if (strcmp(c->dir->agencies[k].kind, s + 5) == 0)
				as->set[k] = 1;
		return 0;
	}
	if ((i = policy_agency_index(c->p, s)) >= 0) {
		as->set[i] = 1;
		return 0;
	}
	const struct ynode *g = as->allow_groups ? ynode_get(c->groups, s) : NULL;
	if (g != NULL) {
		struct agency_set inner = { as->set, false };
		return each_scalar(c, g, "an agency id or kind:KIND", add_agency_ref, &inner);
	}
	/* an agency this network does not have (yet): its rules are inert for
	 * it, and lint lists it; but a near miss of a listed one is a typo */
	const char *near = near_name(c, s, as->allow_groups);
	if (agency_id_valid(s) && near == NULL)
		return add_absent(c, s, v->line);
	return ydoc_err(c->doc, v, c->err, "unknown agency or group \"%s\" (not in the directory%s)%s%s%s",
	    s, as->allow_groups ? " nor under groups" : "; groups cannot contain groups",
	    near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
}

static int
add_type(struct compiler *c, const struct ynode *v, void *arg)
{
	uint64_t *types = arg;

	if (strcmp(v->str, "*") == 0) {
		for (size_t i = 0; i < c->p->ntypes; i++)
			*types |= 1ull << i;
		return 0;
	}
	const struct codec_type *t = codec_type_find(v->str);
	if (t == NULL) {
		char list[300] = "";
		size_t o = 0;
		for (size_t i = 0; i < codec_type_count() && o < sizeof(list); i++) {
			const char *n = codec_type_name(codec_type_at(i));
			const char *dot = strrchr(n, '.');
			int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", dot ? dot + 1 : n);
			if (w > 0)
				o += (size_t)w;
		}
		return ydoc_err(c->doc, v, c->err, "unknown message type \"%s\" (expected one of: %s)",
		    v->str, list);
	}
	*types |= 1ull << codec_type_index(t);
	return 0;
}

struct rule_ctx {
	struct rule *r;
	const struct ynode *purpose_node;
};

static int
add_form(struct compiler *c, const struct ynode *v, void *arg)
{
	struct rule *r = arg;
	const ProtobufCEnumDescriptor *ed = &keten__case__v1__exploitation_form__descriptor;
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, v->str);
	char full[128];

	if (ev == NULL) {
		snprintf(full, sizeof(full), "EXPLOITATION_FORM_%s", v->str);
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, full);
	}
	if (ev == NULL || ev->value <= 0 || ev->value >= 64)
		return ydoc_err(c->doc, v, c->err, "unknown exploitation form \"%s\" (expected SEXUAL, "
		    "LABOUR, CRIMINAL, ORGAN_REMOVAL or OTHER)", v->str);
	r->forms |= 1ull << ev->value;
	return 0;
}

static int
add_region(struct compiler *c, const struct ynode *v, void *arg)
{
	struct rule *r = arg;
	char **nr = realloc(r->regions, (r->nregions + 1) * sizeof(*nr));

	if (nr == NULL || (nr[r->nregions] = strdup(v->str)) == NULL) {
		if (nr)
			r->regions = nr;
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	}
	r->regions = nr;
	r->nregions++;
	return 0;
}

static int
add_handling(struct compiler *c, const struct ynode *v, void *arg)
{
	struct rule *r = arg;
	int h = policy_handling_parse(v->str);

	if (h < 0)
		return ydoc_err(c->doc, v, c->err, "unknown handling label \"%s\" (expected CLEAR, "
		    "GREEN, AMBER, AMBER+STRICT or RED)", v->str);
	r->handling |= 1u << h;
	return 0;
}

static const char *const when_keys[] = { "exploitation_form", "minor", "region", "handling", NULL };

static int
compile_when(struct compiler *c, struct rule *r, const struct ynode *w)
{
	const struct ynode *v;
	bool minor;
	int rc;

	if ((rc = ydoc_expect_map(c->doc, w, "when conditions", c->err)) ||
	    (rc = ydoc_check_keys(c->doc, w, "when conditions", when_keys, c->err)))
		return rc;
	if ((v = ynode_get(w, "exploitation_form")) != NULL &&
	    (rc = each_scalar(c, v, "an exploitation form", add_form, r)) != 0)
		return rc;
	if (ynode_get(w, "minor") != NULL) {
		if ((rc = ydoc_get_bool(c->doc, w, "minor", true, &minor, c->err)) != 0)
			return rc;
		r->minor = minor;
	}
	if ((v = ynode_get(w, "region")) != NULL &&
	    (rc = each_scalar(c, v, "a region id", add_region, r)) != 0)
		return rc;
	if ((v = ynode_get(w, "handling")) != NULL &&
	    (rc = each_scalar(c, v, "a TLP label", add_handling, r)) != 0)
		return rc;
	return 0;
}

static const char *const rule_keys[] = {
	"permit", "forbid", "description", "from", "to", "type", "purpose", "basis", "fields",
	"when", "reply_to", "limit", "retention_days", "needs_every_field", NULL
};

static int
compile_fields(struct compiler *c, struct rule *r, const struct ynode *f)
{
	if (f->kind != YNODE_SEQ || f->n == 0)
		return ydoc_err(c->doc, f, c->err, "\"fields\" must be a non-empty list of field paths "
		    "in rule %s", r->id);
	for (size_t i = 0; i < f->n; i++) {
		const struct ynode *v = f->items[i];
		char first[KETEN_ERRLEN] = "";
		bool ok = false;
		if (v->kind != YNODE_SCALAR)
			return ydoc_err(c->doc, v, c->err, "expected a field path");
		for (size_t t = 0; t < c->p->ntypes; t++) {
			char e[KETEN_ERRLEN];
			if (!(r->types >> t & 1))
				continue;
			if (codec_pathset_add(codec_type_at(t), &r->fields[t], v->str, e) == 0)
				ok = true;
			else if (first[0] == '\0')
				snprintf(first, sizeof(first), "%s", e);
		}
		if (!ok)
			return ydoc_err(c->doc, v, c->err, "%s in rule %s", first, r->id);
	}
	return 0;
}

static int
compile_rule(struct compiler *c, const struct ynode *m, struct rule *r)
{
	const struct ynode *v;
	const char *id = NULL, *purpose = NULL, *basis = NULL;
	uint64_t n;
	int rc;

	if ((rc = ydoc_expect_map(c->doc, m, "rule", c->err)) ||
	    (rc = ydoc_check_keys(c->doc, m, "rule", rule_keys, c->err)))
		return rc;
	bool p = ynode_get(m, "permit") != NULL, f = ynode_get(m, "forbid") != NULL;
	if (p == f)
		return ydoc_err(c->doc, m, c->err, "a rule starts with \"permit: ID\" or \"forbid: ID\"%s",
		    p ? ", not both" : "");
	r->forbid = f;
	if ((rc = ydoc_get_str(c->doc, m, f ? "forbid" : "permit", true, &id, c->err)) != 0 ||
	    (rc = check_id(c, ynode_get(m, f ? "forbid" : "permit"), "rule id", id)) != 0)
		return rc;
	r->line = m->line;
	r->col = m->col;
	if ((r->id = strdup(id)) == NULL)
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	r->info.id = r->id;
	r->minor = -1;
	r->purpose = r->basis = -1;
	if ((r->from = calloc(c->p->nag, 1)) == NULL || (r->to = calloc(c->p->nag, 1)) == NULL ||
	    (r->fields = calloc(c->p->ntypes, sizeof(*r->fields))) == NULL)
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");

	static const char *const need_permit[] = { "from", "to", "type", "purpose", "basis", "fields" };
	static const char *const need_forbid[] = { "from", "to", "type" };
	const char *const *need = f ? need_forbid : need_permit;
	for (size_t i = 0; i < (f ? 3u : 6u); i++)
		if (ynode_get(m, need[i]) == NULL)
			return ydoc_err(c->doc, m, c->err, "%s rule %s has no \"%s\"", f ? "forbid" :
			    "permit", r->id, need[i]);
	struct agency_set fs = { r->from, true }, ts = { r->to, true };
	if ((rc = each_scalar(c, ynode_get(m, "from"), "an agency, group or kind:KIND",
	    add_agency_ref, &fs)) ||
	    (rc = each_scalar(c, ynode_get(m, "to"), "an agency, group or kind:KIND",
	    add_agency_ref, &ts)) ||
	    (rc = each_scalar(c, ynode_get(m, "type"), "a message type", add_type, &r->types)))
		return rc;
	if ((rc = ydoc_get_str(c->doc, m, "purpose", !f, &purpose, c->err)) != 0)
		return rc;
	if (purpose != NULL && !(f && strcmp(purpose, "*") == 0) &&
	    (r->purpose = policy_index_of(c->p->purposes, c->p->npurposes, purpose)) < 0)
		return ydoc_err(c->doc, ynode_get(m, "purpose"), c->err, "unknown purpose \"%s\" in rule "
		    "%s (declare it under purposes)", purpose, r->id);
	if (f && ynode_get(m, "basis") != NULL)
		return ydoc_err(c->doc, ynode_get(m, "basis"), c->err, "a forbid rule has no legal basis");
	if (!f) {
		if ((rc = ydoc_get_str(c->doc, m, "basis", true, &basis, c->err)) != 0)
			return rc;
		if ((r->basis = policy_index_of(c->p->bases, c->p->nbases, basis)) < 0)
			return ydoc_err(c->doc, ynode_get(m, "basis"), c->err, "unknown legal basis \"%s\" "
			    "in rule %s (declare it under bases)", basis, r->id);
	}
	if ((v = ynode_get(m, "fields")) != NULL) {
		if ((rc = compile_fields(c, r, v)) != 0)
			return rc;
	} else {
		r->whole = true;
	}
	if ((v = ynode_get(m, "when")) != NULL && (rc = compile_when(c, r, v)) != 0)
		return rc;
	if ((v = ynode_get(m, "reply_to")) != NULL) {
		static const char *const k[] = { "type", "within_days", NULL };
		const char *tn;
		if (f)
			return ydoc_err(c->doc, v, c->err, "reply_to belongs on permit rules");
		if ((rc = ydoc_expect_map(c->doc, v, "reply_to", c->err)) ||
		    (rc = ydoc_check_keys(c->doc, v, "reply_to", k, c->err)) ||
		    (rc = ydoc_get_str(c->doc, v, "type", true, &tn, c->err)) ||
		    (rc = ydoc_get_u64(c->doc, v, "within_days", true, 1, 3650, &n, c->err)))
			return rc;
		if ((r->info.reply_to_type = codec_type_find(tn)) == NULL)
			return ydoc_err(c->doc, ynode_get(v, "type"), c->err, "unknown message type \"%s\"",
			    tn);
		r->info.reply_within_days = (uint32_t)n;
	}
	if ((v = ynode_get(m, "limit")) != NULL) {
		static const char *const k[] = { "count", "per", NULL };
		const char *per;
		if (f)
			return ydoc_err(c->doc, v, c->err, "limit belongs on permit rules");
		if ((rc = ydoc_expect_map(c->doc, v, "limit", c->err)) ||
		    (rc = ydoc_check_keys(c->doc, v, "limit", k, c->err)) ||
		    (rc = ydoc_get_u64(c->doc, v, "count", true, 1, 1000000, &n, c->err)) ||
		    (rc = ydoc_get_str(c->doc, v, "per", true, &per, c->err)))
			return rc;
		r->info.limit_count = (uint32_t)n;
		if (strcmp(per, "day") == 0)
			r->info.limit_per = POLICY_PER_DAY;
		else if (strcmp(per, "week") == 0)
			r->info.limit_per = POLICY_PER_WEEK;
		else if (strcmp(per, "month") == 0)
			r->info.limit_per = POLICY_PER_MONTH;
		else
			return ydoc_err(c->doc, ynode_get(v, "per"), c->err, "\"per\" must be day, week or "
			    "month, found \"%s\"", per);
	}
	if (ynode_get(m, "retention_days") != NULL) {
		if (f)
			return ydoc_err(c->doc, ynode_get(m, "retention_days"), c->err,
			    "retention_days belongs on permit rules");
		if ((rc = ydoc_get_u64(c->doc, m, "retention_days", true, 1, 36500, &n, c->err)) != 0)
			return rc;
		r->retention_days = (uint32_t)n;
	}
	if (ynode_get(m, "description") != NULL && ynode_get(m, "description")->kind != YNODE_SCALAR)
		return ydoc_err(c->doc, ynode_get(m, "description"), c->err, "description must be text");
	/* documentation for lint and the officers: not in the canonical form */
	if ((v = ynode_get(m, "needs_every_field")) != NULL) {
		const char *why;
		if (f)
			return ydoc_err(c->doc, v, c->err, "needs_every_field belongs on permit rules");
		if ((rc = ydoc_get_str(c->doc, m, "needs_every_field", true, &why, c->err)) != 0)
			return rc;
		if (why[0] == '\0')
			return ydoc_err(c->doc, v, c->err, "needs_every_field says why the recipient "
			    "needs every field; it is empty");
		if ((r->needs_every_field = strdup(why)) == NULL)
			return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	}
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canonical form: everything that decides an evaluation, in a fixed order. */
static void
canon_rule(struct compiler *c, const struct rule *r)
{
	struct policy *p = c->p;

	canon_add(c, "%s %s\nfrom", r->forbid ? "forbid" : "permit", r->id);
	for (size_t i = 0; i < p->nag; i++)
		if (r->from[i])
			canon_add(c, " %s", p->agencies[i]);
	canon_add(c, "\nto");
	for (size_t i = 0; i < p->nag; i++)
		if (r->to[i])
			canon_add(c, " %s", p->agencies[i]);
	canon_add(c, "\npurpose %s\nbasis %s\nwhen %llx %d %x", r->purpose >= 0 ?
	    p->purposes[r->purpose] : "*", r->basis >= 0 ? p->bases[r->basis] : "-",
	    (unsigned long long)r->forms, r->minor, r->handling);
	if (r->nregions > 1)	/* order has no meaning */
		qsort(r->regions, r->nregions, sizeof(char *), str_cmp);
	for (size_t i = 0; i < r->nregions; i++)
		canon_add(c, " %s", r->regions[i]);
	canon_add(c, "\nreply %s %u limit %u/%d retention %u\n", r->info.reply_to_type ?
	    codec_type_name(r->info.reply_to_type) : "-", r->info.reply_within_days,
	    r->info.limit_count, (int)r->info.limit_per, r->retention_days);
	for (size_t t = 0; t < p->ntypes; t++) {
		if (!(r->types >> t & 1))
			continue;
		const struct codec_type *ct = codec_type_at(t);
		canon_add(c, "type %s%s", codec_type_name(ct), r->whole ? " whole" : "");
		for (size_t k = 0; k < codec_type_npaths(ct) && !r->whole; k++)
			if (codec_pathset_has(&r->fields[t], k))
				canon_add(c, " %s", codec_type_path(ct, k));
		canon_add(c, "\n");
	}
}

static const char *const top_keys[] = {
	"policy", "version", "description", "groups", "purposes", "bases", "rules", NULL
};

static int
compile_named_map(struct compiler *c, const struct ynode *root, const char *key,
    const char *textkey, const char *optkey, char ***ids, char ***texts, size_t *n)
{
	const struct ynode *m = ynode_get(root, key);
	const char *const keys[] = { textkey, optkey, NULL };
	int rc;

	if (m == NULL)
		return ydoc_err(c->doc, root, c->err, "missing \"%s\"", key);
	if (m->kind != YNODE_MAP || m->n == 0)
		return ydoc_err(c->doc, m, c->err, "\"%s\" must map each id to its %s", key, textkey);
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->items[2 * i]->str, m->items[2 * j]->str) == 0)
				return ydoc_err(c->doc, m->items[2 * i], c->err, "duplicate id \"%s\" "
				    "under %s (first at line %u)", m->items[2 * i]->str, key,
				    m->items[2 * j]->line);
	*ids = calloc(m->n, sizeof(char *));
	*texts = calloc(m->n, sizeof(char *));
	if (*ids == NULL || *texts == NULL)
		return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		const struct ynode *k = m->items[2 * i], *v = m->items[2 * i + 1];
		const char *text;
		if ((rc = check_id(c, k, "id", k->str)) != 0)
			return rc;
		if ((rc = ydoc_expect_map(c->doc, v, key, c->err)) ||
		    (rc = ydoc_check_keys(c->doc, v, key, keys, c->err)) ||
		    (rc = ydoc_get_str(c->doc, v, textkey, true, &text, c->err)))
			return rc;
		if (((*ids)[i] = strdup(k->str)) == NULL || ((*texts)[i] = strdup(text)) == NULL)
			return keten_seterr(c->err, KETEN_ENOMEM, "out of memory");
		(*n)++;
		canon_add(c, "%s %s %s\n", key, k->str, text);
	}
	return 0;
}

static int compile(struct ydoc *doc, const struct directory *dir, struct policy **out,
    char err[static KETEN_ERRLEN], policy_report_fn report, void *arg);

int
policy_load(const char *path, const struct directory *dir, struct policy **out,
    char err[static KETEN_ERRLEN])
{
	return policy_load_each(path, dir, out, err, NULL, NULL);
}

int
policy_load_each(const char *path, const struct directory *dir, struct policy **out,
    char err[static KETEN_ERRLEN], policy_report_fn report, void *arg)
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = ydoc_load(path, &doc, err)) != 0)
		return rc;
	return compile(doc, dir, out, err, report, arg);
}

int
policy_parse(const char *name, const void *buf, size_t len, const struct directory *dir,
    struct policy **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = ydoc_parse(name, buf, len, &doc, err)) != 0)
		return rc;
	return compile(doc, dir, out, err, NULL, NULL);
}

/*
 * A rule that does not compile: with a report function, report it and go on
 * to the next rule (a privacy officer sees every rule's error in one run);
 * without, stop.  A rule's error cannot change how the next rule compiles:
 * rules refer to groups, purposes and bases, never to other rules.
 */
static int
rule_failed(struct compiler *c, int rc)
{
	if (c->report == NULL || rc == KETEN_ENOMEM)
		return rc;
	c->report(c->report_arg, c->err);
	c->nerr++;
	return 0;
}

/* Compile a parsed document; takes ownership of doc. */
static int
compile(struct ydoc *doc, const struct directory *dir, struct policy **out,
    char err[static KETEN_ERRLEN], policy_report_fn report, void *arg)
{
	struct compiler c = { .dir = dir, .err = err, .report = report, .report_arg = arg };
	struct policy *p;
	const struct ynode *root, *rules;
	const char *name, *version;
	int rc;

	if (codec_init() != 0) {
		ydoc_free(&doc);
		return keten_seterr(err, KETEN_EINVAL, "case schema tables unavailable");
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		ydoc_free(&doc);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	c.p = p;
	p->ntypes = codec_type_count();
	if (p->ntypes > MAX_TYPES) {
		free(p);
		ydoc_free(&doc);
		return keten_seterr(err, KETEN_EINVAL, "more than %d message types", MAX_TYPES);
	}
	c.doc = doc;
	root = ydoc_root(doc);
	if ((rc = ydoc_expect_map(doc, root, "policy", err)) ||
	    (rc = ydoc_check_keys(doc, root, "policy", top_keys, err)) ||
	    (rc = ydoc_get_str(doc, root, "policy", true, &name, err)) ||
	    (rc = ydoc_get_str(doc, root, "version", true, &version, err)))
		goto fail;
	if ((p->name = strdup(name)) == NULL || (p->version = strdup(version)) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	canon_add(&c, "keten-policy v1\nname %s\nversion %s\n", name, version);

	/* agencies from the directory, sorted for lookup */
	p->nag = dir->n;
	if ((p->agencies = calloc(p->nag, sizeof(char *))) == NULL ||
	    (p->by_name = calloc(p->nag ? p->nag : 1, sizeof(uint32_t))) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < p->nag; i++) {
		if ((p->agencies[i] = strdup(dir->agencies[i].id)) == NULL) {
			rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
			goto fail;
		}
		p->by_name[i] = (uint32_t)i;
	}
	qsort_r(p->by_name, p->nag, sizeof(uint32_t), by_name_cmp, p);

	c.groups = ynode_get(root, "groups");
	if (c.groups != NULL) {
		if (c.groups->kind != YNODE_MAP) {
			rc = ydoc_err(doc, c.groups, err, "\"groups\" must map group names to lists of "
			    "agencies");
			goto fail;
		}
		for (size_t i = 0; i < c.groups->n; i++) {
			const struct ynode *k = c.groups->items[2 * i];
			uint8_t *tmp = calloc(p->nag ? p->nag : 1, 1);
			struct agency_set as = { tmp, false };
			if (tmp == NULL) {
				rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
				goto fail;
			}
			if (policy_agency_index(p, k->str) >= 0) {
				free(tmp);
				rc = ydoc_err(doc, k, err, "group \"%s\" has the name of an agency", k->str);
				goto fail;
			}
			for (size_t j = 0; j < i; j++)
				if (strcmp(c.groups->items[2 * j]->str, k->str) == 0) {
					free(tmp);
					rc = ydoc_err(doc, k, err, "duplicate group \"%s\"", k->str);
					goto fail;
				}
			rc = each_scalar(&c, c.groups->items[2 * i + 1], "an agency id or kind:KIND",
			    add_agency_ref, &as);
			free(tmp);
			if (rc != 0)
				goto fail;
		}
	}
	if ((rc = compile_named_map(&c, root, "purposes", "description", "register", &p->purposes,
	    &p->purpose_desc, &p->npurposes)) ||
	    (rc = compile_named_map(&c, root, "bases", "citation", NULL, &p->bases, &p->citations,
	    &p->nbases)))
		goto fail;

	rules = ynode_get(root, "rules");
	if (rules == NULL || rules->kind != YNODE_SEQ || rules->n == 0) {
		rc = ydoc_err(doc, rules ? rules : root, err, "\"rules\" must be a non-empty list");
		goto fail;
	}
	if (rules->n > POLICY_MAX_RULES) {
		rc = ydoc_err(doc, rules, err, "more than %d rules", POLICY_MAX_RULES);
		goto fail;
	}
	if ((p->rules = calloc(rules->n, sizeof(*p->rules))) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < rules->n; i++) {
		struct rule *r = &p->rules[i];
		p->nrules++;
		if ((rc = compile_rule(&c, rules->items[i], r)) != 0) {
			if ((rc = rule_failed(&c, rc)) != 0)
				goto fail;
			continue;
		}
		for (size_t j = 0; j < i && r->id != NULL; j++)
			if (p->rules[j].id != NULL && strcmp(p->rules[j].id, r->id) == 0) {
				rc = ydoc_err(doc, rules->items[i], err, "duplicate rule id \"%s\" (first "
				    "at line %u)", r->id, p->rules[j].line);
				if ((rc = rule_failed(&c, rc)) != 0)
					goto fail;
				break;
			}
		if (c.nerr == 0)
			canon_rule(&c, r);
	}
	if (c.nerr > 0) {
		rc = keten_seterr(err, KETEN_EINVAL, "%s: %zu error%s", ydoc_name(doc), c.nerr,
		    c.nerr == 1 ? "" : "s");
		goto fail;
	}
	if ((rc = policy_build_index(p, err)) != 0)
		goto fail;
	if (c.canon == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	crypto_hash_sha256(p->hash, (const unsigned char *)c.canon, c.canon_len);
	free(c.canon);
	ydoc_free(&doc);
	*out = p;
	return 0;
fail:
	free(c.canon);
	ydoc_free(&doc);
	policy_free(&p);
	return rc ? rc : KETEN_EINVAL;
}

void
policy_free(struct policy **pp)
{
	struct policy *p;

	if (pp == NULL || (p = *pp) == NULL)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		struct rule *r = &p->rules[i];
		free(r->id);
		free(r->needs_every_field);
		free(r->from);
		free(r->to);
		free(r->fields);
		for (size_t k = 0; k < r->nregions; k++)
			free(r->regions[k]);
		free(r->regions);
	}
	free(p->rules);
	for (size_t i = 0; i < p->nabsent; i++)
		free(p->absent[i]);
	free(p->absent);
	free(p->absent_line);
	for (size_t i = 0; i < p->nag && p->agencies; i++)
		free(p->agencies[i]);
	free(p->agencies);
	free(p->by_name);
	for (size_t i = 0; i < p->npurposes; i++) {
		free(p->purposes[i]);
		free(p->purpose_desc[i]);
	}
	free(p->purposes);
	free(p->purpose_desc);
	for (size_t i = 0; i < p->nbases; i++) {
		free(p->bases[i]);
		free(p->citations[i]);
	}
	free(p->bases);
	free(p->citations);
	free(p->sclass);
	free(p->rclass);
	free(p->buckets);
	free(p->idx);
	free(p->name);
	free(p->version);
	free(p);
	*pp = NULL;
}

size_t
policy_nabsent(const struct policy *p)
{
	return p->nabsent;
}

const char *
policy_absent(const struct policy *p, size_t i, size_t *line)
{
	if (i >= p->nabsent)
		return NULL;
	if (line != NULL)
		*line = p->absent_line[i];
	return p->absent[i];
}
