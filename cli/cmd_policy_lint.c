/*
 * keten policy lint: compile a policy and warn about rules that are shadowed
 * or can never match, fields nobody receives, unused bases and purposes,
 * wildcard grants (docs/policy.md).
 */
#include "cli/policy_common.h"

struct finding {
	unsigned line;
	bool note;		/* a note does not count as a warning */
	const char *kind;
	char *rule;		/* rule id, or the basis / purpose id, or NULL */
	char *msg;
};

struct findings {
	struct finding *v;
	size_t n, cap;
};

static void
finding_add(struct findings *f, unsigned line, bool note, const char *kind, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
finding_add(struct findings *f, unsigned line, bool note, const char *kind, const char *rule,
    const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 32;
		struct finding *nv = realloc(f->v, f->cap * sizeof(*nv));
		if (nv == NULL) {
			fprintf(stderr, "keten policy: out of memory\n");
			exit(EXIT_FAIL);
		}
		f->v = nv;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	f->v[f->n++] = (struct finding){ line, note, kind, rule ? xstrdup(rule) : NULL,
	    msg ? msg : xstrdup("?") };
}

static int
finding_cmp(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	unsigned lx = x->line ? x->line : ~0u, ly = y->line ? y->line : ~0u;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * The lint universe: each exploitation form alone (or none) x minor x each
 * handling label x no region or each region a rule names; ledger conditions
 * hold.  A `when` test is "any of" per attribute, so single forms decide
 * every form condition.
 */
static void
universe_lint(struct universe *u, const struct yinfo *yi)
{
	for (size_t ri = 0; ri <= yi->nregions; ri++)
		for (int h = 0; h < NHANDLING; h++)
			for (int m = 0; m < 2; m++)
				for (int f = 0; f <= NFORMS; f++) {
					struct attrs a = { .minor = m, .handling = h, .reply_ok = true,
					    .limit_ok = true };
					if (f) {
						a.forms[0] = f;
						a.nforms = 1;
					}
					a.region = ri ? yi->regions[ri - 1] : NULL;
					combo_add(u, &a);
				}
}

static bool
narrower(const struct policy_rule_info *a, const struct policy_rule_info *b)
{
	/* does rule a carry a ledger condition rule b does not (or a stricter one)? */
	if (a->reply_to_type != NULL && (b->reply_to_type != a->reply_to_type ||
	    a->reply_within_days < b->reply_within_days))
		return true;
	if (a->limit_count != 0 && (b->limit_count == 0 || a->limit_per != b->limit_per ||
	    a->limit_count < b->limit_count))
		return true;
	return false;
}

int
cmd_policy_lint(int argc, char **argv)
{
	struct opts o;
	struct directory *dir;
	struct policy *p;
	struct yinfo yi = { 0 };
	struct universe u = { 0 };
	struct findings fs = { 0 };
	int rc;

	if ((rc = parse_opts("lint", argc, argv, O_FORMAT | O_STRICT, &o)) != 0)
		return rc < 0 ? EXIT_OK : rc;
	if (o.npos != 1)
		return policy_usage(stderr);
	if ((dir = load_directory("lint", o.directory, o.pos[0])) == NULL)
		return EXIT_FAIL;
	if ((p = load_policy("lint", o.pos[0], dir)) == NULL) {
		directory_free(&dir);
		return EXIT_FAIL;
	}
	yinfo_load(o.pos[0], &yi);
	universe_lint(&u, &yi);

	const char *file = o.pos[0];
	size_t nr = policy_nrules(p), nt = codec_type_count(), nag = policy_nagencies(p);
	size_t np = policy_npurposes(p);
	struct codec_pathset *rf = rule_fields(p);
	bool *matched = xcalloc(nr, 1), *contributes = xcalloc(nr, 1), *unshadowed = xcalloc(nr, 1);
	bool *f_applies = xcalloc(nr, 1), *f_effective = xcalloc(nr, 1);
	uint8_t *shadowers = xcalloc(nr * nr, 1);
	int *forbid_of = xcalloc(nr, sizeof(int)), *removed_by = xcalloc(nr, sizeof(int));
	for (size_t i = 0; i < nr; i++)
		forbid_of[i] = removed_by[i] = -1;
	struct codec_pathset *granted = xcalloc(nt, sizeof(*granted));
	struct codec_pathset *forbid_paths = xcalloc(nt, sizeof(*forbid_paths));

	for (size_t i = 0; i < nr; i++)
		if (policy_rule_is_forbid(p, i))
			for (size_t ti = 0; ti < nt; ti++)
				pathset_or(&forbid_paths[ti], &rf[i * nt + ti]);

	/* every sender, recipient, type, purpose and attribute combination */
	for (size_t s = 0; s < nag; s++)
		for (size_t r = 0; r < nag; r++)
			for (size_t ti = 0; ti < nt; ti++) {
				const struct codec_type *t = codec_type_at(ti);
				for (size_t pi = 0; pi < np; pi++)
					for (size_t ci = 0; ci < u.n; ci++) {
				if (ci == 0 && !permits_possible(p, policy_agency(p, s),
				    policy_agency(p, r), t, policy_purpose(p, pi)))
					break;
				struct policy_request rq;
				struct policy_ledger lg;
				struct policy_decision d;
				make_request(&rq, &lg, policy_agency(p, s), policy_agency(p, r), t,
				    policy_purpose(p, pi), NULL, &u.c[ci].a);
				policy_eval(p, &rq, &lg, &d);
				if (d.reason == POLICY_FORBIDDEN && d.reason_rule >= 0)
					f_applies[d.reason_rule] = true;
				/*
				 * Denied because forbid rules removed everything the
				 * matching permits granted: which permits could those be?
				 */
				if (d.reason == POLICY_FORBIDDEN && d.reason_rule >= 0 &&
				    !codec_pathset_empty(&d.forbidden))
					for (size_t b = 0; b < nr; b++)
						if (!policy_rule_is_forbid(p, b) && removed_by[b] < 0 &&
						    str_eq(policy_rule_purpose(p, b), policy_purpose(p, pi)) &&
						    !codec_pathset_empty(&rf[b * nt + ti]) &&
						    codec_pathset_subset(&rf[b * nt + ti], &d.forbidden))
							removed_by[b] = d.reason_rule;
				for (size_t x = 0; x < codec_type_npaths(t); x++) {
					int fr;
					if (!codec_pathset_has(&d.forbidden, x))
						continue;
					if (policy_why_withheld(p, &rq, &lg, &d, x, &fr) ==
					    POLICY_FORBIDDEN && fr >= 0)
						f_applies[fr] = f_effective[fr] = true;
				}
				if (!d.permitted)
					continue;
				pathset_or(&granted[ti], &d.allowed);
				for (size_t g = 0; g < d.ngranting; g++) {
					int b = d.granting[g];
					const struct policy_rule_info *bi = policy_rule_info(p, (size_t)b);
					struct codec_pathset un;
					matched[b] = true;
					if (pathset_intersects(&rf[(size_t)b * nt + ti], &d.allowed))
						contributes[b] = true;
					else if (forbid_of[b] < 0)
						for (size_t x = 0; x < codec_type_npaths(t); x++) {
							int fr;
							if (codec_pathset_has(&rf[(size_t)b * nt + ti], x) &&
							    policy_why_withheld(p, &rq, &lg, &d, x, &fr) ==
							    POLICY_FORBIDDEN && fr >= 0) {
								forbid_of[b] = fr;
								break;
							}
						}
					if (unshadowed[b])
						continue;
					codec_pathset_clear(&un);
					for (size_t h = 0; h < g; h++) {
						int a = d.granting[h];
						if (a >= b || !str_eq(policy_rule_basis(p, (size_t)a),
						    policy_rule_basis(p, (size_t)b)) ||
						    narrower(policy_rule_info(p, (size_t)a), bi))
							continue;
						pathset_or(&un, &rf[(size_t)a * nt + ti]);
					}
					if (!codec_pathset_subset(&rf[(size_t)b * nt + ti], &un)) {
						unshadowed[b] = true;
						continue;
					}
					for (size_t h = 0; h < g; h++) {
						int a = d.granting[h];
						if (a < b && str_eq(policy_rule_basis(p, (size_t)a),
						    policy_rule_basis(p, (size_t)b)) &&
						    !narrower(policy_rule_info(p, (size_t)a), bi))
							shadowers[(size_t)b * nr + (size_t)a] = 1;
					}
				}
			}
			}

	/* where do forbid rules apply, even if no permit grants what they name? */
	size_t nforbid_unknown = 0;
	struct codec_pathset *probes = forbid_probes(p, rf);
	struct universe fu = { 0 };
	for (size_t ri = 0; ri <= yi.nregions; ri++)
		for (int h = 0; h < NHANDLING; h++)
			for (int m = 0; m < 2; m++) {
				/* all forms at once: any form condition holds */
				struct attrs a = { .nforms = NFORMS, .minor = m, .handling = h,
				    .reply_ok = true, .limit_ok = true };
				for (int f = 0; f < NFORMS; f++)
					a.forms[f] = f + 1;
				a.region = ri ? yi.regions[ri - 1] : NULL;
				combo_add(&fu, &a);
			}
	for (size_t i = 0; i < nr; i++)
		if (policy_rule_is_forbid(p, i) && !f_applies[i])
			nforbid_unknown++;
	for (size_t s = 0; s < nag && nforbid_unknown; s++)
		for (size_t r = 0; r < nag && nforbid_unknown; r++)
			for (size_t ti = 0; ti < nt && nforbid_unknown; ti++) {
				const struct codec_type *t = codec_type_at(ti);
				if (codec_pathset_empty(&forbid_paths[ti]))
					continue;
				for (size_t pi = 0; pi < np && nforbid_unknown; pi++)
					for (size_t ci = 0; ci < fu.n && nforbid_unknown; ci++) {
						struct policy_request rq;
						struct policy_ledger lg;
						make_request(&rq, &lg, policy_agency(p, s),
						    policy_agency(p, r), t, policy_purpose(p, pi), NULL,
						    &fu.c[ci].a);
						for (size_t f = 0; f < nr; f++) {
							if (!policy_rule_is_forbid(p, f) || f_applies[f])
								continue;
							const struct codec_pathset *pr = &probes[f * nt + ti];
							for (size_t x = 0; x < codec_type_npaths(t); x++) {
								if (!codec_pathset_has(pr, x))
									continue;
								int fr = forbid_guard(p, &rq, &lg, x);
								if (fr >= 0 && !f_applies[fr]) {
									f_applies[fr] = true;
									nforbid_unknown--;
								}
								if (f_applies[f])
									break;
							}
						}
					}
			}

	/* findings per rule */
	for (size_t i = 0; i < nr; i++) {
		const char *id = policy_rule_id(p, i);
		unsigned line = policy_rule_line(p, i);
		struct buf b = { 0 };

		if (policy_rule_is_forbid(p, i)) {
			bool whole = true;
			for (size_t ti = 0; ti < nt && whole; ti++) {
				struct codec_pathset all;
				pathset_all(codec_type_at(ti), &all);
				if (!codec_pathset_empty(&rf[i * nt + ti]) && !pathset_equal(&all, &rf[i * nt + ti]))
					whole = false;
			}
			if (!f_applies[i])
				finding_add(&fs, line, false, "never-matches", id, "forbid rule %s never "
				    "applies: for no sender -> recipient pair, type, purpose and "
				    "attributes does it remove anything (its from or to may resolve to "
				    "no agency, or earlier forbid rules already remove every field it "
				    "names)", id);
			else if (!f_effective[i] && !whole)
				finding_add(&fs, line, true, "safeguard", id, "forbid rule %s removes "
				    "nothing that a permit grants today; it guards against future "
				    "permits", id);
			continue;
		}
		/* wildcards */
		for (size_t ti = 0; ti < nt; ti++) {
			struct codec_pathset all;
			pathset_all(codec_type_at(ti), &all);
			if (pathset_equal(&all, &rf[i * nt + ti]))
				buf_add(&b, "%s%s", b.len ? ", " : "", short_type(codec_type_at(ti)));
		}
		if (b.len && policy_rule_needs_every_field(p, i) == NULL)
			finding_add(&fs, line, false, "wildcard", id, "rule %s grants every field "
			    "(\"*\") of %s: list the fields the recipient needs, or say why it "
			    "needs them all (needs_every_field:)", id, buf_str(&b));
		else if (!b.len && policy_rule_needs_every_field(p, i) != NULL)
			finding_add(&fs, line, false, "needs-every-field", id, "rule %s says it "
			    "needs every field (needs_every_field:) but does not grant every field "
			    "of a type: remove the line", id);
		free(b.s);
		b = (struct buf){ 0 };
		if (!matched[i] && removed_by[i] >= 0) {
			finding_add(&fs, line, false, "never-matches", id, "rule %s can never "
			    "grant anything: forbid rule %s (line %u) removes all its fields", id,
			    policy_rule_id(p, (size_t)removed_by[i]),
			    policy_rule_line(p, (size_t)removed_by[i]));
			continue;
		}
		if (!matched[i]) {
			/*
			 * Is the rule indexed for any pair at all?  Ask with no
			 * purpose: every permit fails on it and the first permit
			 * granting a field is named (unless a forbid rule that
			 * applies anyway is named first).
			 */
			bool present = false;
			struct attrs none = { .reply_ok = true, .limit_ok = true };
			for (size_t s = 0; s < nag && !present; s++)
				for (size_t r = 0; r < nag && !present; r++)
					for (size_t ti = 0; ti < nt && !present; ti++) {
						const struct codec_type *t = codec_type_at(ti);
						struct policy_request rq;
						struct policy_ledger lg;
						struct policy_decision d0;
						if (codec_pathset_empty(&rf[i * nt + ti]))
							continue;
						memset(&d0, 0, sizeof(d0));
						d0.reason = POLICY_NO_RULE;
						d0.reason_rule = -1;
						make_request(&rq, &lg, policy_agency(p, s),
						    policy_agency(p, r), t, "", NULL, &none);
						for (size_t x = 0; x < codec_type_npaths(t) && !present; x++) {
							int wr;
							if (!codec_pathset_has(&rf[i * nt + ti], x))
								continue;
							policy_why_withheld(p, &rq, &lg, &d0, x, &wr);
							present = wr == (int)i;
						}
					}
			if (!present)
				finding_add(&fs, line, false, "never-matches", id, "rule %s can never "
				    "match: no sender -> recipient pair of the directory is in both its "
				    "from and to (check groups and kind: against the directory)", id);
			else
				finding_add(&fs, line, false, "never-matches", id, "rule %s can never "
				    "match: for no combination of exploitation form, minor, region and "
				    "handling do its conditions hold without a whole-message forbid", id);
			continue;
		}
		if (!contributes[i]) {
			if (forbid_of[i] >= 0)
				finding_add(&fs, line, false, "never-matches", id, "rule %s never adds a "
				    "field: wherever it applies, forbid rules such as %s (line %u) remove "
				    "everything it grants", id, policy_rule_id(p, (size_t)forbid_of[i]),
				    policy_rule_line(p, (size_t)forbid_of[i]));
			else
				finding_add(&fs, line, false, "never-matches", id, "rule %s never adds a "
				    "field: wherever it applies, forbid rules remove everything it grants",
				    id);
			continue;
		}
		if (!unshadowed[i]) {
			for (size_t a = 0; a < nr; a++)
				if (shadowers[i * nr + a])
					buf_add(&b, "%s%s (line %u)", b.len ? ", " : "",
					    policy_rule_id(p, a), policy_rule_line(p, a));
			finding_add(&fs, line, false, "shadowed", id, "rule %s is shadowed: wherever "
			    "it applies, earlier rules with the same purpose and basis already grant "
			    "every field it grants: %s", id, buf_str(&b));
		}
		free(b.s);
	}

	/*
	 * fields granted to nobody: a warning (a field the schema has for no
	 * one), except those a forbid rule names (not a whole-message forbid):
	 * kept from everyone on purpose, which is a note
	 */
	for (size_t ti = 0; ti < nt; ti++) {
		const struct codec_type *t = codec_type_at(ti);
		struct codec_pathset all, none, guarded = { 0 };
		struct buf b = { 0 };
		pathset_all(t, &all);
		pathset_andnot(&none, &all, &granted[ti]);
		for (size_t i = 0; i < nr; i++) {
			struct codec_pathset named = { 0 };
			if (!policy_rule_is_forbid(p, i))
				continue;
			for (size_t k = 0; k < codec_type_npaths(t); k++)
				if (policy_rule_covers(p, i, t, k))
					codec_pathset_set(&named, k);
			if (!pathset_equal(&named, &all))
				pathset_or(&guarded, &named);
		}
		pathset_and(&guarded, &guarded, &none);
		pathset_andnot(&none, &none, &guarded);
		if (!codec_pathset_empty(&guarded)) {
			paths_join(&b, t, &guarded, 6);
			finding_add(&fs, 0, true, "kept-from-everyone", NULL, "%zu of %zu fields of %s "
			    "go to nobody, as forbid rules say: %s", codec_pathset_count(&guarded),
			    codec_type_npaths(t), short_type(t), buf_str(&b));
			free(b.s);
			b = (struct buf){ 0 };
		}
		size_t n = codec_pathset_count(&none);
		if (n == 0)
			continue;
		paths_join(&b, t, &none, 6);
		if (n == codec_type_npaths(t))
			finding_add(&fs, 0, false, "granted-to-nobody", NULL, "no rule lets anyone "
			    "receive any field of %s", short_type(t));
		else
			finding_add(&fs, 0, false, "granted-to-nobody", NULL, "%zu of %zu fields of %s "
			    "are granted to nobody: %s", n, codec_type_npaths(t), short_type(t),
			    buf_str(&b));
		free(b.s);
	}

	/* bases and purposes never used */
	for (size_t k = 0; k < yi.nbases; k++) {
		bool used = false;
		for (size_t i = 0; i < nr && !used; i++)
			used = str_eq(policy_rule_basis(p, i), yi.bases[k].id);
		if (!used)
			finding_add(&fs, yi.bases[k].line, false, "unused-basis", yi.bases[k].id,
			    "legal basis %s is declared but no rule uses it", yi.bases[k].id);
	}
	for (size_t k = 0; k < np; k++) {
		const char *pid = policy_purpose(p, k);
		unsigned pline = 0;
		bool used = false;
		for (size_t i = 0; i < nr && !used; i++)
			used = !policy_rule_is_forbid(p, i) && str_eq(policy_rule_purpose(p, i), pid);
		for (size_t j = 0; j < yi.npurposes; j++)
			if (strcmp(yi.purposes[j].id, pid) == 0)
				pline = yi.purposes[j].line;
		if (!used)
			finding_add(&fs, pline, false, "unused-purpose", pid, "purpose %s is declared "
			    "but no permit rule grants anything for it", pid);
	}

	/* agencies the policy names that this directory lacks: one warning for all */
	if (policy_nabsent(p) > 0) {
		struct buf b = { NULL, 0, 0 };
		size_t first = 0, line;
		for (size_t i = 0; i < policy_nabsent(p); i++) {
			const char *id = policy_absent(p, i, &line);
			buf_add(&b, "%s%s (line %zu)", i ? ", " : "", id, line);
			if (i == 0)
				first = line;
		}
		finding_add(&fs, (unsigned)first, false, "absent-agency", NULL, "%zu agenc%s named by "
		    "the policy %s not in the directory: %s; rules about %s are inert until the "
		    "directory lists %s", policy_nabsent(p), policy_nabsent(p) == 1 ? "y" : "ies",
		    policy_nabsent(p) == 1 ? "is" : "are", buf_str(&b),
		    policy_nabsent(p) == 1 ? "it" : "them", policy_nabsent(p) == 1 ? "it" : "them");
		free(b.s);
	}

	qsort(fs.v, fs.n, sizeof(*fs.v), finding_cmp);
	size_t nwarn = 0, nnote = 0;
	for (size_t i = 0; i < fs.n; i++)
		fs.v[i].note ? nnote++ : nwarn++;
	char hex[2 * POLICY_HASHBYTES + 1];
	policy_hash_hex(p, hex);
	if (o.json) {
		json_t *j = json_object(), *w = json_array();
		json_object_set_new(j, "file", json_string(file));
		json_object_set_new(j, "policy", json_string(policy_name(p)));
		json_object_set_new(j, "version", json_string(policy_version(p)));
		json_object_set_new(j, "sha256", json_string(hex));
		json_object_set_new(j, "rules", json_integer((json_int_t)nr));
		for (size_t i = 0; i < fs.n; i++) {
			json_t *e = json_object();
			json_object_set_new(e, "level", json_string(fs.v[i].note ? "note" : "warning"));
			json_object_set_new(e, "kind", json_string(fs.v[i].kind));
			json_object_set_new(e, "id", fs.v[i].rule ? json_string(fs.v[i].rule) :
			    json_null());
			json_object_set_new(e, "line", fs.v[i].line ? json_integer(fs.v[i].line) :
			    json_null());
			json_object_set_new(e, "message", json_string(fs.v[i].msg));
			json_array_append_new(w, e);
		}
		json_object_set_new(j, "findings", w);
		json_object_set_new(j, "warnings", json_integer((json_int_t)nwarn));
		json_object_set_new(j, "notes", json_integer((json_int_t)nnote));
		json_object_set_new(j, "ok", json_boolean(!(o.strict && nwarn)));
		json_print(j);
	} else {
		for (size_t i = 0; i < fs.n; i++) {
			if (fs.v[i].line)
				printf("%s:%u: %s: %s\n", file, fs.v[i].line, fs.v[i].note ? "note" :
				    "warning", fs.v[i].msg);
			else
				printf("%s: %s: %s\n", file, fs.v[i].note ? "note" : "warning",
				    fs.v[i].msg);
		}
		printf("%s: policy %s version %s (sha256 %.16s...): %zu rules, %zu warning%s, "
		    "%zu note%s%s\n", file, policy_name(p), policy_version(p), hex, nr, nwarn,
		    nwarn == 1 ? "" : "s", nnote, nnote == 1 ? "" : "s",
		    o.strict && nwarn ? " (--strict: failed)" : "");
	}

	for (size_t i = 0; i < fs.n; i++) {
		free(fs.v[i].rule);
		free(fs.v[i].msg);
	}
	free(fs.v);
	free(rf);
	free(matched);
	free(contributes);
	free(unshadowed);
	free(f_applies);
	free(f_effective);
	free(shadowers);
	free(forbid_of);
	free(removed_by);
	free(probes);
	free(granted);
	free(forbid_paths);
	free(u.c);
	free(fu.c);
	yinfo_free(&yi);
	policy_free(&p);
	directory_free(&dir);
	return o.strict && nwarn ? EXIT_FAIL : EXIT_OK;
}
