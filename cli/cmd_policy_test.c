/* keten policy test: run expectation files (policy/tests/NAME.yaml) and report rule coverage. */
#include "cli/policy_common.h"

struct test_run {
	const struct policy *p;
	bool *exercised;
	size_t ntests, nfailed, nerrors;
	json_t *jtests;
	bool json;
};

static int
scalar_list(const struct ydoc *doc, const struct ynode *v, const char *what,
    char err[static KETEN_ERRLEN])
{
	if (v->kind == YNODE_SCALAR)
		return 0;
	if (v->kind != YNODE_SEQ)
		return ydoc_err(doc, v, err, "expected %s or a list of them", what);
	for (size_t i = 0; i < v->n; i++)
		if (v->items[i]->kind != YNODE_SCALAR)
			return ydoc_err(doc, v->items[i], err, "expected %s", what);
	return 0;
}

static size_t
list_n(const struct ynode *v)
{
	return v->kind == YNODE_SCALAR ? 1 : v->n;
}

static const struct ynode *
list_at(const struct ynode *v, size_t i)
{
	return v->kind == YNODE_SCALAR ? v : v->items[i];
}

/* Expand field path patterns of a test into a set; error at the node. */
static int
test_paths(const struct ydoc *doc, const struct ynode *v, const struct codec_type *t,
    struct codec_pathset *set, char err[static KETEN_ERRLEN])
{
	int rc;

	codec_pathset_clear(set);
	if ((rc = scalar_list(doc, v, "a field path", err)) != 0)
		return rc;
	for (size_t i = 0; i < list_n(v); i++) {
		char e[KETEN_ERRLEN];
		if (codec_pathset_add(t, set, list_at(v, i)->str, e) != 0)
			return ydoc_err(doc, list_at(v, i), err, "%s", e);
	}
	return 0;
}

static const char *const test_keys[] = {
	"name", "from", "to", "type", "purpose", "basis", "attributes", "reply_ok", "limit_ok",
	"expect", NULL
};
static const char *const attr_keys[] = {
	"exploitation_form", "minor", "region", "handling", NULL
};
static const char *const expect_keys[] = {
	"permitted", "reason", "rule", "rules", "fields", "fields_include", "fields_exclude",
	"withheld", "guarded", "retention_days", "basis", NULL
};

/* Collect a failure line for the current test. */
static void
fail_add(struct buf *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail_add(struct buf *f, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	buf_add(f, "%s%s", f->len ? "; " : "", s ? s : "?");
	free(s);
}

static void
rules_list(struct buf *b, const struct policy *p, const int *v, size_t n)
{
	if (n == 0)
		buf_add(b, "none");
	for (size_t i = 0; i < n; i++)
		buf_add(b, "%s%s", i ? ", " : "", policy_rule_id(p, (size_t)v[i]));
}

/* Resolve a rule id of a test file (error at node when unknown). */
static int
test_rule(const struct ydoc *doc, const struct policy *p, const struct ynode *v, int *out,
    char err[static KETEN_ERRLEN])
{
	if (v->kind != YNODE_SCALAR)
		return ydoc_err(doc, v, err, "expected a rule id");
	if ((*out = rule_by_id(p, v->str)) < 0)
		return ydoc_err(doc, v, err, "unknown rule \"%s\" (not in the policy)", v->str);
	return 0;
}

static int
reason_parse(const char *s)
{
	for (int r = POLICY_OK; r <= POLICY_ERROR; r++)
		if (strcmp(policy_reason_name((enum policy_reason)r), s) == 0)
			return r;
	return -1;
}

static int
test_reason(const struct ydoc *doc, const struct ynode *v, int *out,
    char err[static KETEN_ERRLEN])
{
	if (v->kind != YNODE_SCALAR || (*out = reason_parse(v->str)) < 0)
		return ydoc_err(doc, v, err, "unknown reason \"%s\" (expected ok, no-rule, "
		    "purpose-not-granted, condition-false, forbidden, reply-required, limit-reached, "
		    "not-granted or error)", v->kind == YNODE_SCALAR ? v->str : "?");
	return 0;
}

/* Run one test; 0 when it ran (passed or failed), else an error in err. */
static int
run_test(struct test_run *tr, const struct ydoc *doc, const struct ynode *tn,
    char err[static KETEN_ERRLEN])
{
	const struct policy *p = tr->p;
	const char *name, *from, *to, *type, *purpose, *basis = NULL;
	const struct ynode *v, *ex, *at;
	const struct codec_type *t;
	struct attrs a = { .limit_ok = true };
	struct buf names = { 0 }, fails = { 0 };
	int rc;

	if ((rc = ydoc_expect_map(doc, tn, "test", err)) ||
	    (rc = ydoc_check_keys(doc, tn, "test", test_keys, err)) ||
	    (rc = ydoc_get_str(doc, tn, "name", true, &name, err)) ||
	    (rc = ydoc_get_str(doc, tn, "from", true, &from, err)) ||
	    (rc = ydoc_get_str(doc, tn, "to", true, &to, err)) ||
	    (rc = ydoc_get_str(doc, tn, "type", true, &type, err)) ||
	    (rc = ydoc_get_str(doc, tn, "purpose", true, &purpose, err)) ||
	    (rc = ydoc_get_str(doc, tn, "basis", false, &basis, err)) ||
	    (rc = ydoc_get_bool(doc, tn, "reply_ok", false, &a.reply_ok, err)))
		return rc;
	if (ynode_get(tn, "limit_ok") != NULL &&
	    (rc = ydoc_get_bool(doc, tn, "limit_ok", true, &a.limit_ok, err)))
		return rc;
	if (check_names(p, from, to, type, purpose, basis, &t, &names) != 0) {
		const char *key = !policy_has_agency(p, from) ? "from" : !policy_has_agency(p, to) ?
		    "to" : codec_type_find(type) == NULL ? "type" : !policy_has_purpose(p, purpose) ?
		    "purpose" : "basis";
		rc = ydoc_err(doc, ynode_get(tn, key), err, "%s", buf_str(&names));
		free(names.s);
		return rc;
	}
	if ((at = ynode_get(tn, "attributes")) != NULL) {
		const char *s = NULL;
		if ((rc = ydoc_expect_map(doc, at, "test attributes", err)) ||
		    (rc = ydoc_check_keys(doc, at, "test attributes", attr_keys, err)) ||
		    (rc = ydoc_get_bool(doc, at, "minor", false, &a.minor, err)) ||
		    (rc = ydoc_get_str(doc, at, "region", false, &a.region, err)))
			return rc;
		if ((v = ynode_get(at, "exploitation_form")) != NULL) {
			if ((rc = scalar_list(doc, v, "an exploitation form", err)) != 0)
				return rc;
			for (size_t i = 0; i < list_n(v); i++) {
				int f = form_parse(list_at(v, i)->str);
				if (f < 0 || a.nforms == MAX_FORMS)
					return ydoc_err(doc, list_at(v, i), err, "unknown exploitation form "
					    "\"%s\" (expected SEXUAL, LABOUR, CRIMINAL, ORGAN_REMOVAL or "
					    "OTHER)", list_at(v, i)->str);
				a.forms[a.nforms++] = f;
			}
		}
		if ((rc = ydoc_get_str(doc, at, "handling", false, &s, err)) != 0)
			return rc;
		if (s != NULL && (a.handling = handling_parse_any(s)) < 0)
			return ydoc_err(doc, ynode_get(at, "handling"), err, "unknown handling label "
			    "\"%s\" (expected CLEAR, GREEN, AMBER, AMBER+STRICT or RED)", s);
	}
	if ((ex = ynode_get(tn, "expect")) == NULL)
		return ydoc_err(doc, tn, err, "test \"%s\" has no \"expect\"", name);
	if ((rc = ydoc_expect_map(doc, ex, "expectations", err)) ||
	    (rc = ydoc_check_keys(doc, ex, "expectations", expect_keys, err)))
		return rc;

	struct policy_request rq;
	struct policy_ledger lg;
	struct policy_decision d;
	bool permitted;
	make_request(&rq, &lg, from, to, t, purpose, basis, &a);
	policy_eval(p, &rq, &lg, &d);

	if ((rc = ydoc_get_bool(doc, ex, "permitted", true, &permitted, err)) != 0)
		return rc;
	if (permitted != d.permitted) {
		struct buf w = { 0 };
		if (!d.permitted)
			describe_reason(&w, p, &rq, d.reason, d.reason_rule, false);
		fail_add(&fails, "expected %s, got %s%s%s%s", permitted ? "permitted" : "denied",
		    d.permitted ? "permitted" : "denied (", d.permitted ? "" :
		    policy_reason_name(d.reason), d.permitted ? "" : "): ", buf_str(&w));
		free(w.s);
	}
	if ((v = ynode_get(ex, "reason")) != NULL) {
		int want;
		if ((rc = test_reason(doc, v, &want, err)) != 0)
			goto out;
		if ((int)d.reason != want)
			fail_add(&fails, "expected reason %s, got %s", v->str,
			    policy_reason_name(d.reason));
	}
	if ((v = ynode_get(ex, "rule")) != NULL) {
		int want;
		if ((rc = test_rule(doc, p, v, &want, err)) != 0)
			goto out;
		if (d.reason_rule != want)
			fail_add(&fails, "expected reason rule %s, got %s", v->str, d.reason_rule >= 0 ?
			    policy_rule_id(p, (size_t)d.reason_rule) : "none");
	}
	if ((v = ynode_get(ex, "rules")) != NULL) {
		bool *want = xcalloc(policy_nrules(p), 1);
		bool same = true;
		if (v->kind != YNODE_SEQ && !(v->kind == YNODE_SCALAR)) {
			free(want);
			rc = ydoc_err(doc, v, err, "expected a list of rule ids");
			goto out;
		}
		for (size_t i = 0; v->kind == YNODE_SEQ && i < v->n; i++) {
			int ri;
			if ((rc = test_rule(doc, p, v->items[i], &ri, err)) != 0) {
				free(want);
				goto out;
			}
			want[ri] = true;
		}
		if (v->kind == YNODE_SCALAR) {
			int ri;
			if ((rc = test_rule(doc, p, v, &ri, err)) != 0) {
				free(want);
				goto out;
			}
			want[ri] = true;
		}
		size_t nwant = 0;
		for (size_t i = 0; i < policy_nrules(p); i++)
			nwant += want[i];
		for (size_t g = 0; g < d.ngranting; g++)
			same = same && want[d.granting[g]];
		same = same && nwant == d.ngranting;
		if (!same) {
			struct buf w = { 0 }, e = { 0 };
			rules_list(&w, p, d.granting, d.ngranting);
			for (size_t i = 0; i < policy_nrules(p); i++)
				if (want[i])
					buf_add(&e, "%s%s", e.len ? ", " : "", policy_rule_id(p, i));
			fail_add(&fails, "expected granting rules [%s], got [%s]", e.len ? e.s : "none",
			    buf_str(&w));
			free(w.s);
			free(e.s);
		}
		free(want);
	}
	if ((v = ynode_get(ex, "fields")) != NULL) {
		struct codec_pathset want, extra, missing;
		if ((rc = test_paths(doc, v, t, &want, err)) != 0)
			goto out;
		pathset_andnot(&extra, &d.allowed, &want);
		pathset_andnot(&missing, &want, &d.allowed);
		if (!codec_pathset_empty(&extra) || !codec_pathset_empty(&missing)) {
			struct buf w = { 0 };
			if (!codec_pathset_empty(&missing)) {
				buf_add(&w, "missing ");
				paths_join(&w, t, &missing, 8);
			}
			if (!codec_pathset_empty(&extra)) {
				buf_add(&w, "%sunexpected ", w.len ? ", " : "");
				paths_join(&w, t, &extra, 8);
			}
			fail_add(&fails, "allowed fields differ: %s", buf_str(&w));
			free(w.s);
		}
	}
	if ((v = ynode_get(ex, "fields_include")) != NULL) {
		struct codec_pathset want, missing;
		if ((rc = test_paths(doc, v, t, &want, err)) != 0)
			goto out;
		pathset_andnot(&missing, &want, &d.allowed);
		if (!codec_pathset_empty(&missing)) {
			struct buf w = { 0 };
			paths_join(&w, t, &missing, 8);
			fail_add(&fails, "not allowed but expected: %s", buf_str(&w));
			free(w.s);
		}
	}
	if ((v = ynode_get(ex, "fields_exclude")) != NULL) {
		struct codec_pathset want, leak;
		if ((rc = test_paths(doc, v, t, &want, err)) != 0)
			goto out;
		codec_pathset_clear(&leak);
		for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
			leak.w[w] = want.w[w] & d.allowed.w[w];
		if (!codec_pathset_empty(&leak)) {
			struct buf w = { 0 };
			paths_join(&w, t, &leak, 8);
			fail_add(&fails, "allowed but must not be: %s", buf_str(&w));
			free(w.s);
		}
	}
	if ((v = ynode_get(ex, "withheld")) != NULL) {
		/* path: reason, or path: {reason: R, rule: ID} */
		if (v->kind != YNODE_MAP) {
			rc = ydoc_err(doc, v, err, "\"withheld\" maps field paths to a reason or to "
			    "{reason: R, rule: ID}");
			goto out;
		}
		for (size_t i = 0; i < v->n; i++) {
			const struct ynode *k = v->items[2 * i], *val = v->items[2 * i + 1];
			const struct ynode *rn = val, *idn = NULL;
			int want_reason, want_rule = -1;
			struct codec_pathset set;
			static const char *const wk[] = { "reason", "rule", NULL };
			if ((rc = test_paths(doc, k, t, &set, err)) != 0)
				goto out;
			if (val->kind == YNODE_MAP) {
				if ((rc = ydoc_check_keys(doc, val, "withheld field", wk, err)) != 0)
					goto out;
				if ((rn = ynode_get(val, "reason")) == NULL) {
					rc = ydoc_err(doc, val, err, "missing \"reason\"");
					goto out;
				}
				idn = ynode_get(val, "rule");
			}
			if ((rc = test_reason(doc, rn, &want_reason, err)) != 0)
				goto out;
			if (idn != NULL && (rc = test_rule(doc, p, idn, &want_rule, err)) != 0)
				goto out;
			for (size_t x = 0; x < codec_type_npaths(t); x++) {
				if (!codec_pathset_has(&set, x))
					continue;
				if (codec_pathset_has(&d.allowed, x)) {
					fail_add(&fails, "%s: expected withheld (%s), but it is allowed",
					    codec_type_path(t, x), rn->str);
					continue;
				}
				int wr = -1;
				enum policy_reason wy = policy_why_withheld(p, &rq, &lg, &d, x, &wr);
				if ((int)wy != want_reason || (idn != NULL && wr != want_rule))
					fail_add(&fails, "%s: expected withheld as %s%s%s, got %s%s%s",
					    codec_type_path(t, x), rn->str, idn ? " by " : "",
					    idn ? idn->str : "", policy_reason_name(wy),
					    wr >= 0 ? " by " : "", wr >= 0 ? policy_rule_id(p, (size_t)wr) : "");
				else if (idn != NULL)
					tr->exercised[want_rule] = true;
			}
		}
	}
	if ((v = ynode_get(ex, "guarded")) != NULL) {
		/* forbid-rule-id: [paths]: the forbid applies to this request and would
		 * remove these fields even if a permit granted them */
		if (v->kind != YNODE_MAP) {
			rc = ydoc_err(doc, v, err, "\"guarded\" maps forbid rule ids to field paths");
			goto out;
		}
		for (size_t i = 0; i < v->n; i++) {
			const struct ynode *k = v->items[2 * i];
			int fr;
			struct codec_pathset set;
			bool ok = true;
			if ((rc = test_rule(doc, p, k, &fr, err)) != 0)
				goto out;
			if (!policy_rule_is_forbid(p, (size_t)fr)) {
				rc = ydoc_err(doc, k, err, "rule %s is a permit rule; \"guarded\" names "
				    "forbid rules", k->str);
				goto out;
			}
			if ((rc = test_paths(doc, v->items[2 * i + 1], t, &set, err)) != 0)
				goto out;
			for (size_t x = 0; x < codec_type_npaths(t); x++) {
				if (!codec_pathset_has(&set, x))
					continue;
				int g = forbid_guard(p, &rq, &lg, x);
				if (g != fr) {
					ok = false;
					fail_add(&fails, "%s: expected guarded by %s, %s%s",
					    codec_type_path(t, x), k->str, g >= 0 ? "guarded by " :
					    "no forbid rule applies", g >= 0 ? policy_rule_id(p, (size_t)g) : "");
				}
			}
			if (ok)
				tr->exercised[fr] = true;
		}
	}
	if ((v = ynode_get(ex, "retention_days")) != NULL) {
		uint64_t want;
		if ((rc = ydoc_get_u64(doc, ex, "retention_days", true, 0, 36500, &want, err)) != 0)
			goto out;
		if (d.retention_days != want)
			fail_add(&fails, "expected retention %llu days, got %u",
			    (unsigned long long)want, d.retention_days);
	}
	if ((v = ynode_get(ex, "basis")) != NULL) {
		const char *want;
		if ((rc = ydoc_get_str(doc, ex, "basis", true, &want, err)) != 0)
			goto out;
		if (!str_eq(want, d.basis))
			fail_add(&fails, "expected basis %s, got %s", want, d.basis ? d.basis : "none");
	}

	for (size_t g = 0; g < d.ngranting; g++)
		tr->exercised[d.granting[g]] = true;
	if (d.reason_rule >= 0)
		tr->exercised[d.reason_rule] = true;
	tr->ntests++;
	if (fails.len)
		tr->nfailed++;
	if (tr->json) {
		json_t *e = json_object();
		json_object_set_new(e, "file", json_string(ydoc_name(doc)));
		json_object_set_new(e, "line", json_integer(tn->line));
		json_object_set_new(e, "name", json_string(name));
		json_object_set_new(e, "ok", json_boolean(fails.len == 0));
		if (fails.len)
			json_object_set_new(e, "failure", json_string(buf_str(&fails)));
		json_array_append_new(tr->jtests, e);
	} else if (fails.len) {
		printf("FAIL  %s:%u  %s\n      %s\n", ydoc_name(doc), tn->line, name, buf_str(&fails));
	} else {
		printf("ok    %s:%u  %s\n", ydoc_name(doc), tn->line, name);
	}
	rc = 0;
out:
	free(fails.s);
	return rc;
}

static int
run_test_file(struct test_run *tr, const char *path)
{
	struct ydoc *doc = NULL;
	char err[KETEN_ERRLEN];
	const struct ynode *root, *tests;
	static const char *const top[] = { "description", "tests", NULL };
	int rc;

	if ((rc = ydoc_load(path, &doc, err)) != 0)
		goto fail;
	root = ydoc_root(doc);
	if ((rc = ydoc_expect_map(doc, root, "policy test file", err)) ||
	    (rc = ydoc_check_keys(doc, root, "policy test file", top, err)))
		goto fail;
	tests = ynode_get(root, "tests");
	if (tests == NULL || tests->kind != YNODE_SEQ || tests->n == 0) {
		rc = ydoc_err(doc, tests ? tests : root, err, "\"tests\" must be a non-empty list");
		goto fail;
	}
	for (size_t i = 0; i < tests->n; i++)
		if ((rc = run_test(tr, doc, tests->items[i], err)) != 0) {
			/* report and go on with the next test */
			tr->nerrors++;
			if (tr->json) {
				json_t *e = json_object();
				json_object_set_new(e, "file", json_string(path));
				json_object_set_new(e, "error", json_string(err));
				json_array_append_new(tr->jtests, e);
			} else {
				printf("ERROR %s\n", err);
			}
		}
	ydoc_free(&doc);
	return 0;
fail:
	tr->nerrors++;
	if (tr->json) {
		json_t *e = json_object();
		json_object_set_new(e, "file", json_string(path));
		json_object_set_new(e, "error", json_string(err));
		json_array_append_new(tr->jtests, e);
	} else {
		printf("ERROR %s\n", err);
	}
	ydoc_free(&doc);
	return -1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cmd_policy_test(int argc, char **argv)
{
	struct opts o;
	struct directory *dir;
	struct policy *p;
	struct test_run tr = { 0 };
	char **files = NULL;
	size_t nfiles = 0;
	DIR *dd;
	struct dirent *de;
	int rc;

	if ((rc = parse_opts("test", argc, argv, O_FORMAT, &o)) != 0)
		return rc < 0 ? EXIT_OK : rc;
	if (o.npos != 2)
		return policy_usage(stderr);
	if ((dd = opendir(o.pos[1])) == NULL) {
		perror(o.pos[1]);
		return EXIT_FAIL;
	}
	while ((de = readdir(dd)) != NULL) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
			continue;
		char **nf = realloc(files, (nfiles + 1) * sizeof(*nf));
		if (nf == NULL)
			break;
		files = nf;
		if (asprintf(&files[nfiles], "%s/%s", o.pos[1], de->d_name) < 0)
			break;
		nfiles++;
	}
	closedir(dd);
	qsort(files, nfiles, sizeof(*files), name_cmp);
	if (nfiles == 0) {
		fprintf(stderr, "keten policy test: no *.yaml expectation files in %s\n", o.pos[1]);
		free(files);
		return EXIT_FAIL;
	}
	if ((dir = load_directory("test", o.directory, o.pos[0])) == NULL)
		return EXIT_FAIL;
	if ((p = load_policy("test", o.pos[0], dir)) == NULL) {
		directory_free(&dir);
		return EXIT_FAIL;
	}
	tr.p = p;
	tr.exercised = xcalloc(policy_nrules(p), 1);
	tr.json = o.json;
	tr.jtests = json_array();
	for (size_t i = 0; i < nfiles; i++) {
		run_test_file(&tr, files[i]);
		free(files[i]);
	}
	free(files);

	size_t nr = policy_nrules(p), nex = 0;
	for (size_t i = 0; i < nr; i++)
		nex += tr.exercised[i];
	bool failed = tr.nfailed || tr.nerrors || nex < nr;
	if (o.json) {
		json_t *j = json_object(), *un = json_array();
		json_object_set_new(j, "policy", json_string(policy_name(p)));
		json_object_set_new(j, "version", json_string(policy_version(p)));
		json_object_set_new(j, "tests", tr.jtests);
		json_object_set_new(j, "passed", json_integer((json_int_t)(tr.ntests - tr.nfailed)));
		json_object_set_new(j, "failed", json_integer((json_int_t)tr.nfailed));
		json_object_set_new(j, "errors", json_integer((json_int_t)tr.nerrors));
		json_object_set_new(j, "rules", json_integer((json_int_t)nr));
		json_object_set_new(j, "rules_exercised", json_integer((json_int_t)nex));
		for (size_t i = 0; i < nr; i++)
			if (!tr.exercised[i]) {
				json_t *e = json_object();
				json_object_set_new(e, "id", json_string(policy_rule_id(p, i)));
				json_object_set_new(e, "line", json_integer(policy_rule_line(p, i)));
				json_array_append_new(un, e);
			}
		json_object_set_new(j, "unexercised", un);
		json_object_set_new(j, "ok", json_boolean(!failed));
		json_print(j);
	} else {
		json_decref(tr.jtests);
		printf("\n%zu tests: %zu passed, %zu failed%s", tr.ntests, tr.ntests - tr.nfailed,
		    tr.nfailed, tr.nerrors ? "" : "\n");
		if (tr.nerrors)
			printf(", %zu test file error%s\n", tr.nerrors, tr.nerrors == 1 ? "" : "s");
		printf("rule coverage: %zu of %zu rules exercised\n", nex, nr);
		for (size_t i = 0; i < nr; i++)
			if (!tr.exercised[i])
				printf("  not exercised: %s (%s:%u)\n", policy_rule_id(p, i), o.pos[0],
				    policy_rule_line(p, i));
	}
	free(tr.exercised);
	policy_free(&p);
	directory_free(&dir);
	return failed ? EXIT_FAIL : EXIT_OK;
}
