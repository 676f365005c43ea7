/*
 * keten policy matrix: who may send what to whom.  For every sender ->
 * recipient pair, message type and purpose some permit rule can match: the
 * fields that may go (and under which attributes), the permit rules that
 * grant them with their legal basis, reply_to, limit and retention, and
 * the forbid rules that apply there, with the fields each guards (never
 * goes) and those it removes from what a permit granted.  The
 * console's sharing matrix (docs/console.md) is drawn from its JSON.
 *
 * Evaluated, not read from the YAML: every point of the standard universe
 * (cli/policy_common.c universe_standard: no attributes, minor, each
 * exploitation form, each handling label, each region, as a reply) goes
 * through policy_eval, as `diff` does.
 */
#include "cli/policy_common.h"

static const char *const per_name[] = { "day", "week", "month" };

/* --fields PATTERN: per cell, which of the fields the pattern names may go */
static const char *select_pattern;

/* The combinations a mask names: ["always"] or their labels. */
static json_t *
when_json(uint32_t mask, uint32_t all, const struct universe *u)
{
	json_t *w = json_array();

	if (mask == all) {
		json_array_append_new(w, json_string("always"));
		return w;
	}
	for (size_t c = 0; c < u->n; c++)
		if (mask >> c & 1)
			json_array_append_new(w, json_string(u->c[c].label));
	return w;
}

static json_t *
rule_json(const struct policy *p, size_t i, uint32_t mask, uint32_t all, const struct universe *u,
    const struct codec_type *t, const struct codec_pathset *fields, uint32_t retention)
{
	json_t *j = json_object();
	const char *basis = policy_rule_basis(p, i);
	const struct policy_rule_info *ri = policy_rule_info(p, i);

	json_object_set_new(j, "id", json_string(policy_rule_id(p, i)));
	json_object_set_new(j, "line", json_integer(policy_rule_line(p, i)));
	json_object_set_new(j, "basis", basis ? json_string(basis) : json_null());
	json_object_set_new(j, "citation", basis && policy_basis_citation(p, basis) ?
	    json_string(policy_basis_citation(p, basis)) : json_null());
	json_object_set_new(j, "when", when_json(mask, all, u));
	json_object_set_new(j, "fields", paths_json(t, fields));
	json_object_set_new(j, "fieldCount", json_integer((json_int_t)codec_pathset_count(fields)));
	if (ri->reply_to_type != NULL) {
		json_object_set_new(j, "replyTo", json_pack("{s:s, s:i}", "type",
		    short_type(ri->reply_to_type), "withinDays", (int)ri->reply_within_days));
	}
	if (ri->limit_count)
		json_object_set_new(j, "limit", json_pack("{s:i, s:s}", "count", (int)ri->limit_count,
		    "per", per_name[ri->limit_per]));
	if (retention)
		json_object_set_new(j, "retentionDays", json_integer(retention));
	if (policy_rule_needs_every_field(p, i))
		json_object_set_new(j, "needsEveryField",
		    json_string(policy_rule_needs_every_field(p, i)));
	return j;
}

/* One cell: sender s -> recipient r, type t, purpose pur.  NULL when nothing can be permitted. */
static json_t *
cell_json(const struct policy *p, size_t s, size_t r, size_t ti, const char *pur,
    const struct universe *u, const struct codec_pathset *rf, const struct codec_pathset *probes)
{
	const struct codec_type *t = codec_type_at(ti);
	size_t nr = policy_nrules(p), nt = codec_type_count(), np = codec_type_npaths(t);
	const char *from = policy_agency(p, s), *to = policy_agency(p, r);
	uint32_t all = u->n >= 32 ? 0xffffffffu : (1u << u->n) - 1;

	if (!permits_possible(p, from, to, t, pur))
		return NULL;
	uint32_t *rmask = xcalloc(nr, sizeof(uint32_t)), *fmask = xcalloc(nr, sizeof(uint32_t));
	uint32_t *whole = xcalloc(nr, sizeof(uint32_t)), *ret = xcalloc(nr, sizeof(uint32_t));
	uint32_t fieldmask[CODEC_MAX_PATHS] = { 0 };
	struct codec_pathset *rgrant = xcalloc(nr, sizeof(*rgrant));
	struct codec_pathset *rforbid = xcalloc(nr, sizeof(*rforbid));
	struct codec_pathset allowed;
	codec_pathset_clear(&allowed);

	for (size_t ci = 0; ci < u->n && ci < 32; ci++) {
		struct policy_request rq;
		struct policy_ledger lg;
		struct policy_decision d;
		memset(&d, 0, sizeof(d));
		make_request(&rq, &lg, from, to, t, pur, NULL, &u->c[ci].a);
		policy_eval(p, &rq, &lg, &d);
		if (d.reason == POLICY_FORBIDDEN && d.reason_rule >= 0)
			whole[d.reason_rule] |= 1u << ci;
		for (size_t g = 0; g < d.ngranting; g++) {
			size_t gi = (size_t)d.granting[g];
			rmask[gi] |= 1u << ci;
			if (d.retention_days && (ret[gi] == 0 || d.retention_days < ret[gi]))
				ret[gi] = d.retention_days;
			for (size_t x = 0; x < np; x++)
				if (codec_pathset_has(&d.allowed, x) && policy_rule_covers(p, gi, t, x))
					codec_pathset_set(&rgrant[gi], x);
		}
		for (size_t x = 0; x < np; x++) {
			if (codec_pathset_has(&d.allowed, x)) {
				codec_pathset_set(&allowed, x);
				fieldmask[x] |= 1u << ci;
			}
			if (d.permitted && codec_pathset_has(&d.forbidden, x)) {
				int fr = -1;
				if (policy_why_withheld(p, &rq, &lg, &d, x, &fr) == POLICY_FORBIDDEN &&
				    fr >= 0) {
					codec_pathset_set(&rforbid[fr], x);
					fmask[fr] |= 1u << ci;
				}
			}
		}
		/* forbid rules that apply here although they removed nothing granted */
		for (size_t f = 0; f < nr; f++) {
			const struct codec_pathset *pr = &probes[f * nt + ti];
			if (!policy_rule_is_forbid(p, f) || codec_pathset_empty(pr))
				continue;
			for (size_t x = 0; x < np; x++)
				if (codec_pathset_has(pr, x) && forbid_guard(p, &rq, &lg, x) == (int)f) {
					fmask[f] |= 1u << ci;
					break;
				}
		}
	}

	json_t *c = json_object(), *jr = json_array(), *jf = json_array(), *jw = json_array();
	json_object_set_new(c, "from", json_string(from));
	json_object_set_new(c, "to", json_string(to));
	json_object_set_new(c, "type", json_string(short_type(t)));
	json_object_set_new(c, "purpose", json_string(pur));
	json_object_set_new(c, "fieldCount", json_integer((json_int_t)codec_pathset_count(&allowed)));
	json_object_set_new(c, "fields", paths_json(t, &allowed));
	paths_when(NULL, "+", t, &allowed, u, fieldmask, all, jw);
	json_object_set_new(c, "fieldsWhen", jw);
	if (select_pattern != NULL) {
		struct codec_pathset sel, hit;
		char err[KETEN_ERRLEN];
		codec_pathset_clear(&sel);
		(void)codec_pathset_add(t, &sel, select_pattern, err);	/* not in t: none */
		pathset_and(&hit, &allowed, &sel);
		json_object_set_new(c, "selected", json_pack("{s:s, s:i, s:o}", "pattern",
		    select_pattern, "count", (int)codec_pathset_count(&hit), "fields",
		    paths_json(t, &hit)));
	}
	for (size_t i = 0; i < nr; i++) {
		if (rmask[i] && !policy_rule_is_forbid(p, i))
			json_array_append_new(jr, rule_json(p, i, rmask[i], all, u, t, &rgrant[i], ret[i]));
		if (!policy_rule_is_forbid(p, i) || (!fmask[i] && !whole[i]))
			continue;
		json_t *f = json_object();
		json_object_set_new(f, "id", json_string(policy_rule_id(p, i)));
		json_object_set_new(f, "line", json_integer(policy_rule_line(p, i)));
		json_object_set_new(f, "when", when_json(fmask[i] | whole[i], all, u));
		json_object_set_new(f, "wholeMessage", json_boolean(whole[i] != 0));
		if (whole[i])
			json_object_set_new(f, "wholeMessageWhen", when_json(whole[i], all, u));
		json_object_set_new(f, "guards", paths_json(t, &rf[i * nt + ti]));
		json_object_set_new(f, "removed", paths_json(t, &rforbid[i]));
		json_object_set_new(f, "removedCount",
		    json_integer((json_int_t)codec_pathset_count(&rforbid[i])));
		json_array_append_new(jf, f);
	}
	json_object_set_new(c, "rules", jr);
	json_object_set_new(c, "forbid", jf);
	free(rmask);
	free(fmask);
	free(whole);
	free(ret);
	free(rgrant);
	free(rforbid);
	if (json_array_size(jr) == 0 && json_array_size(jf) == 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* The whole matrix of policy p (file `file`) as JSON. */
static json_t *
matrix_json(const struct policy *p, const struct directory *dir, const char *file,
    const struct universe *u)
{
	size_t nag = policy_nagencies(p), nt = codec_type_count();
	json_t *j = json_object(), *ja = json_array(), *jt = json_array(), *jp = json_array();
	json_t *cells = json_array();
	char hex[2 * POLICY_HASHBYTES + 1];
	struct codec_pathset *rf = rule_fields(p), *probes = forbid_probes(p, rf);

	policy_hash_hex(p, hex);
	json_object_set_new(j, "policy", json_pack("{s:s, s:s, s:s, s:s}", "file", file, "name",
	    policy_name(p), "version", policy_version(p), "sha256", hex));
	for (size_t s = 0; s < nag; s++) {
		const struct dir_agency *a = directory_find(dir, policy_agency(p, s));
		json_array_append_new(ja, json_pack("{s:s, s:s?, s:s?}", "id", policy_agency(p, s),
		    "name", a && a->name[0] ? a->name : NULL, "kind", a && a->kind[0] ? a->kind : NULL));
	}
	for (size_t ti = 0; ti < nt; ti++)
		json_array_append_new(jt, json_string(short_type(codec_type_at(ti))));
	for (size_t i = 0; i < policy_npurposes(p); i++)
		json_array_append_new(jp, json_string(policy_purpose(p, i)));
	for (size_t s = 0; s < nag; s++)
		for (size_t r = 0; r < nag; r++)
			for (size_t ti = 0; ti < nt; ti++)
				for (size_t pi = 0; pi < policy_npurposes(p); pi++) {
					json_t *c = cell_json(p, s, r, ti, policy_purpose(p, pi), u,
					    rf, probes);
					if (c != NULL)
						json_array_append_new(cells, c);
				}
	json_object_set_new(j, "agencies", ja);
	json_object_set_new(j, "types", jt);
	json_object_set_new(j, "purposes", jp);
	json_t *conds = json_array();
	for (size_t c = 0; c < u->n && c < 32; c++)
		json_array_append_new(conds, json_string(u->c[c].label));
	json_object_set_new(j, "evaluatedUnder", conds);
	json_object_set_new(j, "cells", cells);
	free(rf);
	free(probes);
	return j;
}

static void
print_text(json_t *m, const char *file)
{
	size_t i;
	json_t *c;

	printf("policy %s version %s: who may send what to whom\n",
	    json_string_value(json_object_get(json_object_get(m, "policy"), "name")),
	    json_string_value(json_object_get(json_object_get(m, "policy"), "version")));
	printf("(drawn as a table: keten console --policy %s, then /matrix)\n", file);
	json_array_foreach(json_object_get(m, "cells"), i, c) {
		size_t k;
		json_t *x;
		json_t *sel = json_object_get(c, "selected");
		if (sel != NULL && json_integer_value(json_object_get(sel, "count")) == 0)
			continue;
		printf("\n%s -> %s  %s  %s: %lld field%s\n", json_string_value(json_object_get(c, "from")),
		    json_string_value(json_object_get(c, "to")),
		    json_string_value(json_object_get(c, "type")),
		    json_string_value(json_object_get(c, "purpose")),
		    (long long)json_integer_value(json_object_get(c, "fieldCount")),
		    json_integer_value(json_object_get(c, "fieldCount")) == 1 ? "" : "s");
		if (sel != NULL) {
			struct buf b = { 0 };
			json_array_foreach(json_object_get(sel, "fields"), k, x)
				buf_add(&b, "%s%s", k ? ", " : "", json_string_value(x));
			printf("  of %s: %s\n", select_pattern, buf_str(&b));
			free(b.s);
		}
		json_array_foreach(json_object_get(c, "rules"), k, x) {
			const char *b = json_string_value(json_object_get(x, "basis"));
			printf("  permit %s (line %lld): %lld fields, basis %s\n",
			    json_string_value(json_object_get(x, "id")),
			    (long long)json_integer_value(json_object_get(x, "line")),
			    (long long)json_integer_value(json_object_get(x, "fieldCount")), b ? b : "-");
		}
		json_array_foreach(json_object_get(c, "forbid"), k, x) {
			printf("  forbid %s (line %lld): %s\n", json_string_value(json_object_get(x, "id")),
			    (long long)json_integer_value(json_object_get(x, "line")),
			    json_is_true(json_object_get(x, "wholeMessage")) ? "refuses the message" :
			    json_integer_value(json_object_get(x, "removedCount")) ? "removes granted fields" :
			    "applies (removes nothing granted)");
		}
	}
}

int
cmd_policy_matrix(int argc, char **argv)
{
	struct opts o;
	struct directory *dir;
	struct policy *p;
	struct yinfo yi = { 0 };
	struct universe u = { 0 };
	int rc;

	/* --fields PATTERN is matrix's own: take it out before the shared options */
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--fields") == 0 && i + 1 < argc) {
			select_pattern = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(char *));
			argc -= 2;
			break;
		}
	if (select_pattern != NULL) {
		bool known = false;
		for (size_t ti = 0; ti < codec_type_count() && !known; ti++) {
			struct codec_pathset sel;
			char err[KETEN_ERRLEN];
			codec_pathset_clear(&sel);
			known = codec_pathset_add(codec_type_at(ti), &sel, select_pattern, err) == 0;
		}
		if (!known) {
			fprintf(stderr, "keten policy matrix: --fields %s: no message type has such a "
			    "field (keten schema paths TYPE lists them)\n", select_pattern);
			return EXIT_USAGE;
		}
	}
	if ((rc = parse_opts("matrix", argc, argv, O_FORMAT, &o)) != 0)
		return rc < 0 ? EXIT_OK : rc;
	if (o.npos != 1)
		return policy_usage(stderr);
	if ((dir = load_directory("matrix", o.directory, o.pos[0])) == NULL)
		return EXIT_FAIL;
	if ((p = load_policy("matrix", o.pos[0], dir)) == NULL) {
		directory_free(&dir);
		return EXIT_FAIL;
	}
	yinfo_load(o.pos[0], &yi);
	universe_standard(&u, &yi, &yi);
	json_t *m = matrix_json(p, dir, o.pos[0], &u);
	if (o.json) {
		json_print(m);	/* takes m */
	} else {
		print_text(m, o.pos[0]);
		json_decref(m);
	}
	free(u.c);
	yinfo_free(&yi);
	policy_free(&p);
	directory_free(&dir);
	return EXIT_OK;
}
