/*
 * keten policy: the privacy officer's tools (docs/policy.md).
 *
 *   lint     compile a policy and warn about rules that are shadowed or can
 *            never match, fields nobody receives, unused bases and
 *            purposes, wildcard grants
 *   explain  one decision, field by field: granted by which rule, or
 *            withheld and why
 *   test     run expectation files (policy/tests/NAME.yaml) and report rule
 *            coverage
 *   diff     what each sender -> recipient pair gains or loses between two
 *            policy versions, and which rules changed
 *
 * Everything here goes through policy/policy.h: the tools compile with
 * policy_load and learn what a rule does by evaluating it (policy_eval over
 * agency pairs, types, purposes and attribute combinations), by
 * policy_rule_covers and by policy_why_withheld.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/directory.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "policy/policy.h"
#include "schemas/case_types.pb-c.h"
#include "schemas/codec.h"

#define DEFAULT_DIRECTORY "policy/directory.example.yaml"
#define MAX_ATTRS 32
#define MAX_FORMS 8
#define MAX_POS 4
#define NFORMS 5		/* ExploitationForm values 1..5 */
#define NHANDLING 6		/* HandlingLabel values 0..5 */

/* ---- small helpers ---------------------------------------------------- */

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		fprintf(stderr, "keten policy: out of memory\n");
		exit(EXIT_FAIL);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "keten policy: out of memory\n");
		exit(EXIT_FAIL);
	}
	return d;
}

/* A growing string. */
struct buf {
	char *s;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s != NULL && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 64) * 2;
		char *ns = realloc(b->s, cap);
		if (ns == NULL) {
			fprintf(stderr, "keten policy: out of memory\n");
			exit(EXIT_FAIL);
		}
		b->s = ns;
		b->cap = cap;
		b->s[b->len] = '\0';
	}
}

static const char *
buf_str(const struct buf *b)
{
	return b->s ? b->s : "";
}

static const char *
short_type(const struct codec_type *t)
{
	const char *n = codec_type_name(t), *dot = strrchr(n, '.');

	return dot ? dot + 1 : n;
}

static const char *
form_name(int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &keten__case__v1__exploitation_form__descriptor, v);

	if (ev == NULL)
		return "?";
	return strncmp(ev->name, "EXPLOITATION_FORM_", 18) == 0 ? ev->name + 18 : ev->name;
}

/* "LABOUR", "labour" or "EXPLOITATION_FORM_LABOUR"; -1 if unknown. */
static int
form_parse(const char *s)
{
	char up[64], full[96];
	size_t i;

	for (i = 0; s[i] && i < sizeof(up) - 1; i++)
		up[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : (s[i] == '-' ? '_' : s[i]);
	up[i] = '\0';
	const ProtobufCEnumDescriptor *ed = &keten__case__v1__exploitation_form__descriptor;
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, up);
	if (ev == NULL) {
		snprintf(full, sizeof(full), "EXPLOITATION_FORM_%s", up);
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, full);
	}
	return ev != NULL && ev->value > 0 ? ev->value : -1;
}

static int
handling_parse_any(const char *s)
{
	char up[64];
	size_t i;

	for (i = 0; s[i] && i < sizeof(up) - 1; i++)
		up[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
	up[i] = '\0';
	return policy_handling_parse(up);
}

static int
bool_parse(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -1;
}

static void pathset_and(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b);
static void pathset_or(struct codec_pathset *a, const struct codec_pathset *b);

/* Try pattern as a cover of path i; keep it in best when it covers more. */
static void
try_pattern(const struct codec_type *t, const char *pattern, const struct codec_pathset *set,
    const struct codec_pathset *within, size_t i, char *best, size_t bestlen, size_t *bestn,
    struct codec_pathset *bestm)
{
	struct codec_pathset m;
	char err[KETEN_ERRLEN];

	codec_pathset_clear(&m);
	if (codec_pathset_add(t, &m, pattern, err) != 0)
		return;
	pathset_and(&m, &m, within);
	if (!codec_pathset_has(&m, i) || !codec_pathset_subset(&m, set))
		return;
	size_t n = codec_pathset_count(&m);
	if (n > *bestn) {
		*bestn = n;
		*bestm = m;
		snprintf(best, bestlen, "%s", pattern);
	}
}

/*
 * The shortest readable list of patterns for a set of paths of t, relative
 * to the paths in `within` (all paths of the type, or those present in a
 * message): a subtree whose every leaf is in the set becomes "prefix.*"
 * ("location.*", "persons[suspect].*"), the same field of every role
 * "persons.phone", everything "*".  Patterns are valid policy field paths.
 * Calls fn for each pattern with the number of paths it stands for.
 */
static size_t
paths_compress_in(const struct codec_type *t, const struct codec_pathset *set,
    const struct codec_pathset *within, void (*fn)(void *, const char *, size_t), void *arg)
{
	size_t n = codec_type_npaths(t), out = 0;
	struct codec_pathset done;

	codec_pathset_clear(&done);
	if (n > 0 && !codec_pathset_empty(set) && codec_pathset_subset(within, set)) {
		if (fn)
			fn(arg, "*", n);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!codec_pathset_has(set, i) || codec_pathset_has(&done, i))
			continue;
		const char *path = codec_type_path(t, i);
		char best[256], cand[256], gen[256];
		size_t bestn = 0, plen = strlen(path);
		struct codec_pathset bestm;
		codec_pathset_clear(&bestm);
		snprintf(best, sizeof(best), "%s", path);
		/* the path itself, its subtrees, and the same without the role */
		try_pattern(t, path, set, within, i, best, sizeof(best), &bestn, &bestm);
		for (size_t k = 1; k < plen; k++)
			if (path[k] == '.' || path[k] == '[') {
				snprintf(cand, sizeof(cand), "%.*s.*", (int)k, path);
				try_pattern(t, cand, set, within, i, best, sizeof(best), &bestn, &bestm);
			}
		const char *lb = strchr(path, '['), *rb = lb ? strchr(lb, ']') : NULL;
		if (lb && rb) {
			snprintf(gen, sizeof(gen), "%.*s%s", (int)(lb - path), path, rb + 1);
			try_pattern(t, gen, set, within, i, best, sizeof(best), &bestn, &bestm);
			for (size_t k = 1, gl = strlen(gen); k < gl; k++)
				if (gen[k] == '.') {
					snprintf(cand, sizeof(cand), "%.*s.*", (int)k, gen);
					try_pattern(t, cand, set, within, i, best, sizeof(best), &bestn,
					    &bestm);
				}
		}
		if (bestn == 0) {
			codec_pathset_set(&bestm, i);
			bestn = 1;
		}
		pathset_or(&done, &bestm);
		if (fn)
			fn(arg, best, bestn);
		out++;
	}
	return out;
}

static void pathset_all(const struct codec_type *t, struct codec_pathset *s);

static size_t
paths_compress(const struct codec_type *t, const struct codec_pathset *set,
    void (*fn)(void *, const char *, size_t), void *arg)
{
	struct codec_pathset all;

	pathset_all(t, &all);
	return paths_compress_in(t, set, &all, fn, arg);
}

struct join {
	struct buf *b;
	size_t max, n;		/* stop after max patterns (0 = all) */
	const char *sep;
};

static void
join_one(void *arg, const char *pattern, size_t count)
{
	struct join *j = arg;

	if (j->max && j->n >= j->max) {
		j->n++;
		return;
	}
	buf_add(j->b, "%s%s", j->n ? j->sep : "", pattern);
	j->n++;
}

/* Compressed patterns of set, joined by ", ", at most max (then "and N more"). */
static void
paths_join(struct buf *b, const struct codec_type *t, const struct codec_pathset *set, size_t max)
{
	struct join j = { b, max, 0, ", " };

	paths_compress(t, set, join_one, &j);
	if (max && j.n > max)
		buf_add(b, " and %zu more", j.n - max);
}

static void
json_add_pattern(void *arg, const char *pattern, size_t count)
{
	json_array_append_new(arg, json_string(pattern));
}

static json_t *
paths_json(const struct codec_type *t, const struct codec_pathset *set)
{
	json_t *a = json_array();

	paths_compress(t, set, json_add_pattern, a);
	return a;
}

static void
pathset_all(const struct codec_type *t, struct codec_pathset *s)
{
	codec_pathset_clear(s);
	for (size_t i = 0; i < codec_type_npaths(t); i++)
		codec_pathset_set(s, i);
}

static bool
pathset_intersects(const struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		if (a->w[w] & b->w[w])
			return true;
	return false;
}

static void
pathset_or(struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		a->w[w] |= b->w[w];
}

static void
pathset_and(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		out->w[w] = a->w[w] & b->w[w];
}

static void
pathset_andnot(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		out->w[w] = a->w[w] & ~b->w[w];
}

static bool
pathset_equal(const struct codec_pathset *a, const struct codec_pathset *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void
json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(j);
}

/* ---- command line ------------------------------------------------------- */

enum {
	O_FORMAT = 1 << 0,
	O_STRICT = 1 << 1,
	O_POLICY = 1 << 2,
	O_REQUEST = 1 << 3,	/* --from --to --type --purpose --basis --attr --handling ... */
};

struct opts {
	const char *directory, *policy, *from, *to, *type, *purpose, *basis, *handling;
	const char *attrs[MAX_ATTRS];
	size_t nattrs;
	bool json, strict, reply_ok, limit_reached;
	const char *pos[MAX_POS];
	size_t npos;
};

static int
usage(FILE *f)
{
	fprintf(f,
	    "usage: keten policy lint [--strict] FILE\n"
	    "       keten policy explain [--policy FILE] --from A --to B --type T --purpose P\n"
	    "                            [--basis B] [--attr form=LABOUR] [--attr minor=true]\n"
	    "                            [--attr region=X] [--handling AMBER] [--reply-ok]\n"
	    "                            [--limit-reached] [MESSAGE.json]\n"
	    "       keten policy test FILE DIR\n"
	    "       keten policy diff OLD NEW\n"
	    "       keten policy approve --key KEYFILE --root ROOT FILE\n"
	    "       keten policy approvals --root ROOT [--active OLD] FILE\n"
	    "  every command takes --directory FILE (the agency directory the policy is\n"
	    "  compiled against; default " DEFAULT_DIRECTORY ") and --format text|json.\n"
	    "  lint      compile, then warn about shadowed and unreachable rules, fields\n"
	    "            nobody receives, unused bases and purposes, wildcard grants;\n"
	    "            --strict makes warnings fail (exit 1)\n"
	    "  explain   one decision, per field: granted by which rule, or withheld and why\n"
	    "            (the policy is policy/stm.yaml unless --policy names another)\n"
	    "  test      run DIR/*.yaml expectation files; fails on a failed test or on a\n"
	    "            rule no test exercises\n"
	    "  diff      fields each sender -> recipient pair gains or loses, rules added,\n"
	    "            removed or changed\n"
	    "  approve   a privacy officer's approval of FILE (its exact bytes), added to\n"
	    "            FILE.approvals (docs/trust.md); KEYFILE stays with the officer\n"
	    "  approvals who approved FILE, whose approval is missing, whether the broker and\n"
	    "            the agents will activate it, and (--active) the diff against OLD\n"
	    "  See docs/policy.md.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static int
opt_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **out)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*out = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "keten policy %s: %s needs a value\n", cmd, name);
		return -1;
	}
	*out = argv[++*i];
	return 1;
}

static int
parse_opts(const char *cmd, int argc, char **argv, unsigned allowed, struct opts *o)
{
	const char *format = NULL;
	bool only_pos = false;

	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int r;
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			if (o->npos == MAX_POS) {
				fprintf(stderr, "keten policy %s: too many arguments\n", cmd);
				return EXIT_USAGE;
			}
			o->pos[o->npos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
#define VAL(name, field, mask) \
		if ((r = opt_value(cmd, argc, argv, &i, name, &v)) != 0) { \
			if (r < 0) \
				return EXIT_USAGE; \
			if (!((mask) & allowed) && (mask) != 0) \
				goto unknown; \
			field = v; \
			continue; \
		}
		VAL("--directory", o->directory, 0)
		VAL("--format", format, O_FORMAT)
		VAL("--policy", o->policy, O_POLICY)
		VAL("--from", o->from, O_REQUEST)
		VAL("--to", o->to, O_REQUEST)
		VAL("--type", o->type, O_REQUEST)
		VAL("--purpose", o->purpose, O_REQUEST)
		VAL("--basis", o->basis, O_REQUEST)
		VAL("--handling", o->handling, O_REQUEST)
#undef VAL
		if ((r = opt_value(cmd, argc, argv, &i, "--attr", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (!(allowed & O_REQUEST))
				goto unknown;
			if (o->nattrs == MAX_ATTRS) {
				fprintf(stderr, "keten policy %s: too many --attr\n", cmd);
				return EXIT_USAGE;
			}
			o->attrs[o->nattrs++] = v;
			continue;
		}
		if (strcmp(a, "--strict") == 0 && (allowed & O_STRICT)) {
			o->strict = true;
			continue;
		}
		if (strcmp(a, "--reply-ok") == 0 && (allowed & O_REQUEST)) {
			o->reply_ok = true;
			continue;
		}
		if (strcmp(a, "--limit-reached") == 0 && (allowed & O_REQUEST)) {
			o->limit_reached = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return usage(stdout) == EXIT_OK ? -1 : EXIT_USAGE;
unknown:
		fprintf(stderr, "keten policy %s: unknown option \"%s\"\n", cmd, a);
		return EXIT_USAGE;
	}
	if (format != NULL) {
		if (strcmp(format, "json") == 0)
			o->json = true;
		else if (strcmp(format, "text") != 0) {
			fprintf(stderr, "keten policy %s: --format is text or json, not \"%s\"\n", cmd,
			    format);
			return EXIT_USAGE;
		}
	}
	return 0;
}

static struct directory *
load_directory(const char *cmd, const char *path)
{
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN];

	if (path == NULL) {
		if (access(DEFAULT_DIRECTORY, R_OK) != 0) {
			fprintf(stderr, "keten policy %s: name the agency directory the policy is "
			    "written against with --directory FILE (%s not found)\n", cmd,
			    DEFAULT_DIRECTORY);
			return NULL;
		}
		path = DEFAULT_DIRECTORY;
	}
	if (directory_load(path, &dir, err) != 0) {
		fprintf(stderr, "keten policy %s: directory %s\n", cmd, err);
		return NULL;
	}
	return dir;
}

/* ---- what the tools read from the policy file besides the compiled form -- */

struct named {
	char *id;
	unsigned line;
};

struct yinfo {
	char **regions;		/* every value under when: region:, for the attribute universe */
	size_t nregions;
	struct named *bases, *purposes;
	size_t nbases, npurposes;
};

static void
yinfo_add_region(struct yinfo *yi, const char *s)
{
	for (size_t i = 0; i < yi->nregions; i++)
		if (strcmp(yi->regions[i], s) == 0)
			return;
	char **n = realloc(yi->regions, (yi->nregions + 1) * sizeof(*n));
	if (n == NULL)
		return;
	yi->regions = n;
	yi->regions[yi->nregions++] = xstrdup(s);
}

static void
yinfo_named(const struct ynode *m, struct named **out, size_t *n)
{
	if (m == NULL || m->kind != YNODE_MAP)
		return;
	*out = xcalloc(m->n, sizeof(**out));
	for (size_t i = 0; i < m->n; i++) {
		(*out)[i].id = xstrdup(m->items[2 * i]->str);
		(*out)[i].line = m->items[2 * i]->line;
	}
	*n = m->n;
}

/* The file has compiled already; read it again for names and lines. */
static void
yinfo_load(const char *path, struct yinfo *yi)
{
	struct ydoc *doc = NULL;
	char err[KETEN_ERRLEN];
	const struct ynode *root, *rules;

	if (ydoc_load(path, &doc, err) != 0)
		return;
	root = ydoc_root(doc);
	if (root != NULL && root->kind == YNODE_MAP) {
		yinfo_named(ynode_get(root, "bases"), &yi->bases, &yi->nbases);
		yinfo_named(ynode_get(root, "purposes"), &yi->purposes, &yi->npurposes);
		rules = ynode_get(root, "rules");
		for (size_t i = 0; rules && rules->kind == YNODE_SEQ && i < rules->n; i++) {
			const struct ynode *r = rules->items[i], *w, *v;
			if (r->kind != YNODE_MAP || (w = ynode_get(r, "when")) == NULL ||
			    w->kind != YNODE_MAP || (v = ynode_get(w, "region")) == NULL)
				continue;
			if (v->kind == YNODE_SCALAR)
				yinfo_add_region(yi, v->str);
			for (size_t k = 0; v->kind == YNODE_SEQ && k < v->n; k++)
				if (v->items[k]->kind == YNODE_SCALAR)
					yinfo_add_region(yi, v->items[k]->str);
		}
	}
	ydoc_free(&doc);
}

static void
yinfo_free(struct yinfo *yi)
{
	for (size_t i = 0; i < yi->nregions; i++)
		free(yi->regions[i]);
	for (size_t i = 0; i < yi->nbases; i++)
		free(yi->bases[i].id);
	for (size_t i = 0; i < yi->npurposes; i++)
		free(yi->purposes[i].id);
	free(yi->regions);
	free(yi->bases);
	free(yi->purposes);
	memset(yi, 0, sizeof(*yi));
}

/* ---- requests and the ledger answer ------------------------------------ */

struct attrs {
	int forms[MAX_FORMS];
	size_t nforms;
	bool minor;
	const char *region;
	int handling;
	bool reply_ok;		/* the reply_to callback says "holds" */
	bool limit_ok;		/* the limit callback says "holds" */
};

static int
ledger_reply(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	const struct attrs *a = arg;

	return a->reply_ok ? 1 : 0;
}

static int
ledger_limit(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	const struct attrs *a = arg;

	return a->limit_ok ? 1 : 0;
}

static void
make_request(struct policy_request *rq, struct policy_ledger *lg, const char *from,
    const char *to, const struct codec_type *t, const char *purpose, const char *basis,
    const struct attrs *a)
{
	memset(rq, 0, sizeof(*rq));
	rq->sender = from;
	rq->recipient = to;
	rq->type = t;
	rq->purpose = purpose;
	rq->basis = basis;
	rq->forms = a->forms;
	rq->nforms = a->nforms;
	rq->minor = a->minor;
	rq->region = a->region;
	rq->handling = a->handling;
	rq->now_ms = now_ms();
	lg->reply_ok = ledger_reply;
	lg->limit_ok = ledger_limit;
	lg->arg = (void *)a;
}

static void
attrs_describe(struct buf *b, const struct attrs *a)
{
	size_t start = b->len;

	if (a->nforms) {
		buf_add(b, "form ");
		for (size_t i = 0; i < a->nforms; i++)
			buf_add(b, "%s%s", i ? "," : "", form_name(a->forms[i]));
	}
	if (a->minor)
		buf_add(b, "%sminor", b->len > start ? ", " : "");
	if (a->region && a->region[0])
		buf_add(b, "%sregion %s", b->len > start ? ", " : "", a->region);
	if (a->handling)
		buf_add(b, "%shandling %s", b->len > start ? ", " : "",
		    policy_handling_name(a->handling));
	if (a->reply_ok)
		buf_add(b, "%sas a reply", b->len > start ? ", " : "");
	if (!a->limit_ok)
		buf_add(b, "%slimit used up", b->len > start ? ", " : "");
	if (b->len == start)
		buf_add(b, "no attributes");
}

static json_t *
attrs_json(const struct attrs *a)
{
	json_t *j = json_object(), *forms = json_array();

	for (size_t i = 0; i < a->nforms; i++)
		json_array_append_new(forms, json_string(form_name(a->forms[i])));
	json_object_set_new(j, "exploitation_form", forms);
	json_object_set_new(j, "minor", json_boolean(a->minor));
	json_object_set_new(j, "region", a->region ? json_string(a->region) : json_null());
	json_object_set_new(j, "handling", json_string(policy_handling_name(a->handling)));
	json_object_set_new(j, "reply_ok", json_boolean(a->reply_ok));
	json_object_set_new(j, "limit_ok", json_boolean(a->limit_ok));
	return j;
}

static bool
policy_has_agency(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < policy_nagencies(p); i++)
		if (strcmp(policy_agency(p, i), id) == 0)
			return true;
	return false;
}

static bool
policy_has_purpose(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < policy_npurposes(p); i++)
		if (strcmp(policy_purpose(p, i), id) == 0)
			return true;
	return false;
}

static int
rule_by_id(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < policy_nrules(p); i++)
		if (strcmp(policy_rule_id(p, i), id) == 0)
			return (int)i;
	return -1;
}

static void
list_agencies(struct buf *b, const struct policy *p)
{
	for (size_t i = 0; i < policy_nagencies(p); i++)
		buf_add(b, "%s%s", i ? ", " : "", policy_agency(p, i));
}

static void
list_purposes(struct buf *b, const struct policy *p)
{
	for (size_t i = 0; i < policy_npurposes(p); i++)
		buf_add(b, "%s%s", i ? ", " : "", policy_purpose(p, i));
}

static void
list_types(struct buf *b)
{
	for (size_t i = 0; i < codec_type_count(); i++)
		buf_add(b, "%s%s", i ? ", " : "", short_type(codec_type_at(i)));
}

/*
 * Check the names of a request against the policy; on error write a message
 * naming what is unknown and what is known into b and return -1.
 */
static int
check_names(const struct policy *p, const char *from, const char *to, const char *type,
    const char *purpose, const char *basis, const struct codec_type **t, struct buf *b)
{
	if (!policy_has_agency(p, from) || !policy_has_agency(p, to)) {
		buf_add(b, "unknown agency \"%s\" (the directory has: ",
		    policy_has_agency(p, from) ? to : from);
		list_agencies(b, p);
		buf_add(b, ")");
		return -1;
	}
	if ((*t = codec_type_find(type)) == NULL) {
		buf_add(b, "unknown message type \"%s\" (expected one of: ", type);
		list_types(b);
		buf_add(b, ")");
		return -1;
	}
	if (!policy_has_purpose(p, purpose)) {
		buf_add(b, "unknown purpose \"%s\" (the policy declares: ", purpose);
		list_purposes(b, p);
		buf_add(b, ")");
		return -1;
	}
	if (basis != NULL && policy_basis_citation(p, basis) == NULL) {
		buf_add(b, "unknown legal basis \"%s\" (not declared under bases in the policy)",
		    basis);
		return -1;
	}
	return 0;
}

/* Per rule and type, the fields the rule grants (permit) or removes (forbid). */
static struct codec_pathset *
rule_fields(const struct policy *p)
{
	size_t nr = policy_nrules(p), nt = codec_type_count();
	struct codec_pathset *rf = xcalloc(nr * nt, sizeof(*rf));

	for (size_t i = 0; i < nr; i++)
		for (size_t ti = 0; ti < nt; ti++) {
			const struct codec_type *t = codec_type_at(ti);
			for (size_t x = 0; x < codec_type_npaths(t); x++)
				if (policy_rule_covers(p, i, t, x))
					codec_pathset_set(&rf[i * nt + ti], x);
		}
	return rf;
}

/*
 * Would a forbid rule remove field x from this request if a permit granted
 * it?  policy_why_withheld answers for a decision in which every field was
 * granted and then removed: it names the first forbid rule that applies to
 * x.  Returns that rule index or -1.
 */
static int
forbid_guard(const struct policy *p, const struct policy_request *rq,
    const struct policy_ledger *lg, size_t x)
{
	struct policy_decision d;
	int rule = -1;

	memset(&d, 0, sizeof(d));
	d.reason = POLICY_NO_RULE;
	d.reason_rule = -1;
	pathset_all(rq->type, &d.forbidden);
	return policy_why_withheld(p, rq, lg, &d, x, &rule) == POLICY_FORBIDDEN ? rule : -1;
}

/*
 * Can any permit rule match (s, r, t, purpose) under some attributes?  Not
 * when, with no attributes and the ledger conditions holding, the decision
 * is no-rule or purpose-not-granted: purpose and basis do not depend on the
 * attributes.  Lets lint and diff skip most of a large directory.
 */
static bool
permits_possible(const struct policy *p, const char *s, const char *r,
    const struct codec_type *t, const char *purpose)
{
	struct attrs none = { .reply_ok = true, .limit_ok = true };
	struct policy_request rq;
	struct policy_ledger lg;
	struct policy_decision d;

	make_request(&rq, &lg, s, r, t, purpose, NULL, &none);
	policy_eval(p, &rq, &lg, &d);
	return d.permitted || (d.reason != POLICY_NO_RULE &&
	    d.reason != POLICY_PURPOSE_NOT_GRANTED);
}

/*
 * Per forbid rule and type, the fields to probe with forbid_guard: one field
 * no earlier forbid rule covers (the probe then names this rule exactly when
 * it applies), or all its fields when earlier rules cover every one.
 */
static struct codec_pathset *
forbid_probes(const struct policy *p, const struct codec_pathset *rf)
{
	size_t nr = policy_nrules(p), nt = codec_type_count();
	struct codec_pathset *pr = xcalloc(nr * nt, sizeof(*pr));

	for (size_t ti = 0; ti < nt; ti++) {
		struct codec_pathset earlier;
		codec_pathset_clear(&earlier);
		for (size_t i = 0; i < nr; i++) {
			const struct codec_pathset *f = &rf[i * nt + ti];
			struct codec_pathset own;
			if (!policy_rule_is_forbid(p, i) || codec_pathset_empty(f))
				continue;
			pathset_andnot(&own, f, &earlier);
			if (codec_pathset_empty(&own)) {
				pr[i * nt + ti] = *f;
			} else {
				for (size_t x = 0; x < CODEC_MAX_PATHS; x++)
					if (codec_pathset_has(&own, x)) {
						codec_pathset_set(&pr[i * nt + ti], x);
						break;
					}
			}
			pathset_or(&earlier, f);
		}
	}
	return pr;
}

/*
 * How a withheld field (field = true) or a denied message is explained to a
 * person; the reason code is printed beside it.
 */
static void
describe_reason(struct buf *b, const struct policy *p, const struct policy_request *rq,
    enum policy_reason why, int rule, bool field)
{
	const char *id = rule >= 0 ? policy_rule_id(p, (size_t)rule) : "?";
	unsigned line = rule >= 0 ? policy_rule_line(p, (size_t)rule) : 0;
	const struct policy_rule_info *info = rule >= 0 ? policy_rule_info(p, (size_t)rule) : NULL;
	const char *what = field ? "it" : "the message";

	switch (why) {
	case POLICY_OK:
		buf_add(b, "granted");
		break;
	case POLICY_NO_RULE:
		buf_add(b, "no rule lets %s send %s to %s", rq->sender, short_type(rq->type),
		    rq->recipient);
		break;
	case POLICY_NOT_GRANTED:
		buf_add(b, "no rule for this sender, recipient and type grants it");
		break;
	case POLICY_PURPOSE_NOT_GRANTED:
		if (rule >= 0) {
			const char *pu = policy_rule_purpose(p, (size_t)rule);
			const char *ba = policy_rule_basis(p, (size_t)rule);
			if (pu && strcmp(pu, rq->purpose) != 0)
				buf_add(b, "rule %s (line %u) grants %s for purpose %s, not %s", id, line,
				    what, pu, rq->purpose);
			else
				buf_add(b, "rule %s (line %u) grants %s under basis %s, not %s", id, line,
				    what, ba ? ba : "-", rq->basis ? rq->basis : "-");
		} else {
			buf_add(b, "no rule grants %s for purpose %s", what, rq->purpose);
		}
		break;
	case POLICY_CONDITION_FALSE:
		buf_add(b, "rule %s (line %u) would grant %s, but its `when` does not hold", id,
		    line, what);
		break;
	case POLICY_FORBIDDEN:
		buf_add(b, "%srule %s (line %u)", field ? "" : "forbidden by ", id, line);
		break;
	case POLICY_REPLY_REQUIRED:
		buf_add(b, "rule %s (line %u) grants %s only as a reply to a logged %s from %s "
		    "within %u days", id, line, what,
		    info && info->reply_to_type ? short_type(info->reply_to_type) : "request",
		    rq->recipient, info ? info->reply_within_days : 0);
		break;
	case POLICY_LIMIT_REACHED:
		buf_add(b, "rule %s (line %u) would grant %s, but its limit of %u per %s is used up",
		    id, line, what, info ? info->limit_count : 0,
		    info == NULL ? "?" : info->limit_per == POLICY_PER_DAY ? "day" :
		    info->limit_per == POLICY_PER_WEEK ? "week" : "month");
		break;
	case POLICY_ERROR:
		buf_add(b, "the evaluation failed%s%s; an error is a deny", rule >= 0 ? " at rule " :
		    "", rule >= 0 ? id : "");
		break;
	}
}

static struct policy *
load_policy(const char *cmd, const char *path, const struct directory *dir)
{
	struct policy *p = NULL;
	char err[KETEN_ERRLEN];

	if (policy_load(path, dir, &p, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	return p;
}

/* ---- lint ----------------------------------------------------------------- */

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

/* One attribute combination of the universe tools evaluate over. */
struct combo {
	struct attrs a;
	char label[160];
};

struct universe {
	struct combo *c;
	size_t n;
};

static void
combo_add(struct universe *u, const struct attrs *a)
{
	struct buf b = { 0 };
	struct combo *nc = realloc(u->c, (u->n + 1) * sizeof(*nc));

	if (nc == NULL) {
		fprintf(stderr, "keten policy: out of memory\n");
		exit(EXIT_FAIL);
	}
	u->c = nc;
	u->c[u->n].a = *a;
	attrs_describe(&b, a);
	snprintf(u->c[u->n].label, sizeof(u->c[u->n].label), "%s", buf_str(&b));
	free(b.s);
	u->n++;
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

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int
cmd_lint(int argc, char **argv)
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
		return usage(stderr);
	if ((dir = load_directory("lint", o.directory)) == NULL)
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
		if (b.len)
			finding_add(&fs, line, false, "wildcard", id, "rule %s grants every field "
			    "(\"*\") of %s: list the fields the recipient needs", id, buf_str(&b));
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

	/* fields granted to nobody */
	for (size_t ti = 0; ti < nt; ti++) {
		const struct codec_type *t = codec_type_at(ti);
		struct codec_pathset all, none;
		struct buf b = { 0 };
		pathset_all(t, &all);
		pathset_andnot(&none, &all, &granted[ti]);
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

/* ---- explain -------------------------------------------------------------- */

/* Parse --attr k=v (and --handling) into a; message into err on failure. */
static int
parse_attr(struct attrs *a, const char *kv, struct buf *err)
{
	const char *eq = strchr(kv, '=');
	char key[64];

	if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		buf_add(err, "--attr takes KEY=VALUE (form=LABOUR, minor=true, region=ID, "
		    "handling=AMBER), not \"%s\"", kv);
		return -1;
	}
	snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
	const char *v = eq + 1;
	if (strcmp(key, "form") == 0 || strcmp(key, "exploitation_form") == 0 ||
	    strcmp(key, "forms") == 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", v);
		for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save)) {
			int f = form_parse(tok);
			if (f < 0) {
				buf_add(err, "unknown exploitation form \"%s\" (expected SEXUAL, LABOUR, "
				    "CRIMINAL, ORGAN_REMOVAL or OTHER)", tok);
				return -1;
			}
			if (a->nforms == MAX_FORMS) {
				buf_add(err, "too many exploitation forms");
				return -1;
			}
			a->forms[a->nforms++] = f;
		}
		return 0;
	}
	if (strcmp(key, "minor") == 0) {
		if (bool_parse(v, &a->minor) != 0) {
			buf_add(err, "minor is true or false, not \"%s\"", v);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "region") == 0) {
		a->region = v;
		return 0;
	}
	if (strcmp(key, "handling") == 0) {
		if ((a->handling = handling_parse_any(v)) < 0) {
			buf_add(err, "unknown handling label \"%s\" (expected CLEAR, GREEN, AMBER, "
			    "AMBER+STRICT or RED)", v);
			return -1;
		}
		return 0;
	}
	buf_add(err, "unknown attribute \"%s\" (expected form, minor, region or handling)", key);
	return -1;
}

static char *
read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(max + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, max + 1, f);
	fclose(f);
	buf[*len < max + 1 ? *len : max] = '\0';
	return buf;
}

/* Lines of explain's text output, aligned when printed. */
struct run_lines {
	char sign;
	const char *text;
	int width;
	size_t n;
	struct { char sign; char *pattern, *text; } *v;
};

static void
run_line(void *arg, const char *pattern, size_t count)
{
	struct run_lines *rl = arg;
	void *nv = realloc(rl->v, (rl->n + 1) * sizeof(*rl->v));

	if (nv == NULL)
		return;
	rl->v = nv;
	rl->v[rl->n].sign = rl->sign;
	rl->v[rl->n].pattern = xstrdup(pattern);
	rl->v[rl->n].text = xstrdup(rl->text);
	if ((int)strlen(pattern) > rl->width)
		rl->width = (int)strlen(pattern);
	rl->n++;
}

static void
run_lines_print(struct run_lines *rl)
{
	for (size_t i = 0; i < rl->n; i++) {
		printf("  %c %-*s  %s\n", rl->v[i].sign, rl->width, rl->v[i].pattern, rl->v[i].text);
		free(rl->v[i].pattern);
		free(rl->v[i].text);
	}
	free(rl->v);
	rl->v = NULL;
	rl->n = 0;
}

static int
cmd_explain(int argc, char **argv)
{
	struct opts o;
	struct directory *dir;
	struct policy *p;
	struct attrs a = { .limit_ok = true };
	struct buf err = { 0 };
	const struct codec_type *t;
	struct codec_pathset present;
	ProtobufCMessage *msg = NULL;
	int rc;

	if ((rc = parse_opts("explain", argc, argv, O_FORMAT | O_POLICY | O_REQUEST, &o)) != 0)
		return rc < 0 ? EXIT_OK : rc;
	if (o.npos > 1)
		return usage(stderr);
	if (!o.from || !o.to || !o.type || !o.purpose) {
		fprintf(stderr, "keten policy explain: --from, --to, --type and --purpose are "
		    "required\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < o.nattrs; i++)
		if (parse_attr(&a, o.attrs[i], &err) != 0)
			goto usage_err;
	if (o.handling != NULL && (a.handling = handling_parse_any(o.handling)) < 0) {
		buf_add(&err, "unknown handling label \"%s\" (expected CLEAR, GREEN, AMBER, "
		    "AMBER+STRICT or RED)", o.handling);
		goto usage_err;
	}
	a.reply_ok = o.reply_ok;
	a.limit_ok = !o.limit_reached;
	if (codec_init() != 0) {
		fprintf(stderr, "keten policy explain: schema tables could not be built\n");
		return EXIT_FAIL;
	}
	if (o.policy == NULL)
		o.policy = "policy/stm.yaml";
	if ((dir = load_directory("explain", o.directory)) == NULL)
		return EXIT_FAIL;
	if ((p = load_policy("explain", o.policy, dir)) == NULL) {
		directory_free(&dir);
		return EXIT_FAIL;
	}
	if (check_names(p, o.from, o.to, o.type, o.purpose, o.basis, &t, &err) != 0) {
		policy_free(&p);
		directory_free(&dir);
		goto usage_err;
	}
	pathset_all(t, &present);
	if (o.npos == 1) {
		size_t len;
		char *json = read_file(o.pos[0], CODEC_MAX_JSON_BYTES, &len), e[KETEN_ERRLEN];
		if (json == NULL) {
			perror(o.pos[0]);
			rc = EXIT_FAIL;
			goto out;
		}
		if (codec_from_json(t, json, len, &msg, e) != 0) {
			fprintf(stderr, "%s: %s\n", o.pos[0], e);
			free(json);
			rc = EXIT_FAIL;
			goto out;
		}
		free(json);
		codec_pathset_clear(&present);
		codec_paths(t, msg, &present);
	}

	struct policy_request rq;
	struct policy_ledger lg;
	struct policy_decision d;
	make_request(&rq, &lg, o.from, o.to, t, o.purpose, o.basis, &a);
	policy_eval(p, &rq, &lg, &d);

	struct buf attrs = { 0 }, why = { 0 };
	attrs_describe(&attrs, &a);
	size_t ngrant = 0, nwith = 0;
	for (size_t x = 0; x < codec_type_npaths(t); x++)
		if (codec_pathset_has(&present, x))
			codec_pathset_has(&d.allowed, x) ? ngrant++ : nwith++;
	if (!d.permitted)
		describe_reason(&why, p, &rq, d.reason, d.reason_rule, false);

	json_t *j = NULL, *jfields = NULL;
	if (o.json) {
		json_t *jr = json_object(), *jg = json_array();
		j = json_object();
		jfields = json_array();
		json_object_set_new(jr, "from", json_string(o.from));
		json_object_set_new(jr, "to", json_string(o.to));
		json_object_set_new(jr, "type", json_string(codec_type_name(t)));
		json_object_set_new(jr, "purpose", json_string(o.purpose));
		json_object_set_new(jr, "basis", o.basis ? json_string(o.basis) : json_null());
		json_object_set_new(jr, "attributes", attrs_json(&a));
		if (o.npos == 1)
			json_object_set_new(jr, "message", json_string(o.pos[0]));
		json_object_set_new(j, "policy", json_string(policy_name(p)));
		json_object_set_new(j, "version", json_string(policy_version(p)));
		json_object_set_new(j, "request", jr);
		json_object_set_new(j, "permitted", json_boolean(d.permitted));
		json_object_set_new(j, "reason", json_string(policy_reason_name(d.reason)));
		json_object_set_new(j, "reason_rule", d.reason_rule >= 0 ?
		    json_string(policy_rule_id(p, (size_t)d.reason_rule)) : json_null());
		if (!d.permitted)
			json_object_set_new(j, "explanation", json_string(buf_str(&why)));
		json_object_set_new(j, "retention_days", d.retention_days ?
		    json_integer(d.retention_days) : json_null());
		json_object_set_new(j, "basis", d.basis ? json_string(d.basis) : json_null());
		for (size_t g = 0; g < d.ngranting; g++) {
			size_t ri = (size_t)d.granting[g];
			json_t *e = json_object();
			const char *ba = policy_rule_basis(p, ri);
			json_object_set_new(e, "id", json_string(policy_rule_id(p, ri)));
			json_object_set_new(e, "line", json_integer(policy_rule_line(p, ri)));
			json_object_set_new(e, "basis", ba ? json_string(ba) : json_null());
			json_object_set_new(e, "citation", ba && policy_basis_citation(p, ba) ?
			    json_string(policy_basis_citation(p, ba)) : json_null());
			json_array_append_new(jg, e);
		}
		json_object_set_new(j, "granting", jg);
	} else {
		printf("%s -> %s  %s  purpose %s%s%s\n", o.from, o.to, short_type(t), o.purpose,
		    o.basis ? "  basis " : "", o.basis ? o.basis : "");
		printf("attributes: %s\n", buf_str(&attrs));
		printf("policy %s version %s%s%s\n\n", policy_name(p), policy_version(p),
		    o.npos ? ", message " : "", o.npos ? o.pos[0] : "");
		if (d.permitted) {
			printf("PERMITTED: %zu of %zu %s shared", ngrant, ngrant + nwith,
			    o.npos ? "fields present in the message are" : "fields may be");
			if (d.retention_days)
				printf(", keep at most %u days", d.retention_days);
			printf("\n");
			for (size_t g = 0; g < d.ngranting; g++) {
				size_t ri = (size_t)d.granting[g];
				const char *ba = policy_rule_basis(p, ri);
				printf("  rule %s (line %u), basis %s: %s\n", policy_rule_id(p, ri),
				    policy_rule_line(p, ri), ba ? ba : "-",
				    ba && policy_basis_citation(p, ba) ? policy_basis_citation(p, ba) : "-");
			}
		} else {
			printf("DENIED (%s): %s\n", policy_reason_name(d.reason), buf_str(&why));
		}
		printf("\n");
	}

	/* per field; in text, one line when every field is withheld for one reason */
	bool uniform = !d.permitted && !o.json;
	enum policy_reason u_why = POLICY_OK;
	int u_rule = -2;
	for (size_t x = 0; x < codec_type_npaths(t) && uniform; x++) {
		int wr = -1;
		if (!codec_pathset_has(&present, x))
			continue;
		enum policy_reason wy = policy_why_withheld(p, &rq, &lg, &d, x, &wr);
		if (u_rule == -2) {
			u_why = wy;
			u_rule = wr;
		} else if (wy != u_why || wr != u_rule) {
			uniform = false;
		}
	}
	if (uniform && u_rule != -2) {
		struct buf txt = { 0 };
		describe_reason(&txt, p, &rq, u_why, u_rule, true);
		printf("  all %zu fields%s are withheld: %s: %s\n", nwith, o.npos ? " of the message" :
		    "", policy_reason_name(u_why), buf_str(&txt));
		free(txt.s);
		codec_pathset_clear(&present);
	}
	/*
	 * Text: runs of consecutive fields with the same outcome, a whole
	 * subtree written as "prefix.*".  JSON: every leaf field.
	 */
	struct outcome {
		bool granted;
		enum policy_reason why;
		int rule;
		char *text;
	} prev = { 0 }, cur;
	struct codec_pathset run;
	struct run_lines rl = { .width = 10 };
	codec_pathset_clear(&run);
	for (size_t x = 0; x <= codec_type_npaths(t); x++) {
		bool end = x == codec_type_npaths(t);
		struct buf txt = { 0 };
		memset(&cur, 0, sizeof(cur));
		if (!end && !codec_pathset_has(&present, x))
			continue;
		if (!end && codec_pathset_has(&d.allowed, x)) {
			json_t *jr = json_array();
			cur.granted = true;
			for (size_t g = 0; g < d.ngranting; g++) {
				size_t ri = (size_t)d.granting[g];
				if (!policy_rule_covers(p, ri, t, x))
					continue;
				buf_add(&txt, "%s%s", txt.len ? ", " : "", policy_rule_id(p, ri));
				json_array_append_new(jr, json_string(policy_rule_id(p, ri)));
			}
			if (o.json) {
				json_t *e = json_object();
				json_object_set_new(e, "path", json_string(codec_type_path(t, x)));
				json_object_set_new(e, "granted", json_true());
				json_object_set_new(e, "rules", jr);
				json_array_append_new(jfields, e);
			} else {
				json_decref(jr);
			}
		} else if (!end) {
			cur.why = policy_why_withheld(p, &rq, &lg, &d, x, &cur.rule);
			buf_add(&txt, "%s: ", policy_reason_name(cur.why));
			describe_reason(&txt, p, &rq, cur.why, cur.rule, true);
			if (o.json) {
				json_t *e = json_object();
				json_object_set_new(e, "path", json_string(codec_type_path(t, x)));
				json_object_set_new(e, "granted", json_false());
				json_object_set_new(e, "reason", json_string(policy_reason_name(cur.why)));
				json_object_set_new(e, "rule", cur.rule >= 0 ?
				    json_string(policy_rule_id(p, (size_t)cur.rule)) : json_null());
				json_object_set_new(e, "explanation", json_string(strchr(txt.s, ' ') + 1));
				json_array_append_new(jfields, e);
			}
		}
		cur.text = txt.s;
		if (o.json) {
			free(cur.text);
			continue;
		}
		/* flush the previous run when the outcome changes */
		if (prev.text != NULL && (end || cur.granted != prev.granted ||
		    strcmp(cur.text, prev.text) != 0)) {
			rl.sign = prev.granted ? '+' : '-';
			rl.text = prev.text;
			paths_compress_in(t, &run, &present, run_line, &rl);
			codec_pathset_clear(&run);
			free(prev.text);
			prev.text = NULL;
		}
		if (end)
			break;
		if (prev.text == NULL)
			prev = cur;
		else
			free(cur.text);
		codec_pathset_set(&run, x);
	}
	if (!o.json)
		run_lines_print(&rl);
	if (o.json) {
		json_object_set_new(j, "fields", jfields);
		json_print(j);
	}
	free(attrs.s);
	free(why.s);
	rc = EXIT_OK;
out:
	if (msg)
		codec_free(msg);
	free(err.s);
	policy_free(&p);
	directory_free(&dir);
	return rc;
usage_err:
	fprintf(stderr, "keten policy explain: %s\n", buf_str(&err));
	free(err.s);
	return EXIT_USAGE;
}

/* ---- test ------------------------------------------------------------------- */

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

static int
cmd_test(int argc, char **argv)
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
		return usage(stderr);
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
	if ((dir = load_directory("test", o.directory)) == NULL)
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

/* ---- diff ------------------------------------------------------------------- */

/*
 * The diff universe (both policies): no attributes; minor; each exploitation
 * form; each handling label; each region either policy names; a reply to a
 * logged request.  Limits always hold.
 */
static void
universe_diff(struct universe *u, const struct yinfo *y1, const struct yinfo *y2)
{
	struct attrs a = { .limit_ok = true };

	combo_add(u, &a);
	a.minor = true;
	combo_add(u, &a);
	a.minor = false;
	for (int f = 1; f <= NFORMS; f++) {
		a.forms[0] = f;
		a.nforms = 1;
		combo_add(u, &a);
	}
	a.nforms = 0;
	for (int h = 1; h < NHANDLING; h++) {
		a.handling = h;
		combo_add(u, &a);
	}
	a.handling = 0;
	for (int k = 0; k < 2; k++) {
		const struct yinfo *y = k ? y2 : y1;
		for (size_t i = 0; i < y->nregions; i++) {
			bool dup = false;
			for (size_t c = 0; c < u->n && !dup; c++)
				dup = u->c[c].a.region && strcmp(u->c[c].a.region, y->regions[i]) == 0;
			if (dup)
				continue;
			a.region = y->regions[i];
			combo_add(u, &a);
		}
	}
	a.region = NULL;
	a.reply_ok = true;
	combo_add(u, &a);
}

struct diffrule {
	char *id;
	int in[2];			/* rule index in old / new, -1 absent */
	uint8_t *applies[2];		/* per universe point */
};

static void
set_bit(uint8_t *v, size_t i)
{
	v[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool
get_bit(const uint8_t *v, size_t i)
{
	return v[i / 8] >> (i % 8) & 1;
}

static void
print_changes(struct buf *b, const char *sign, const struct codec_type *t,
    const struct codec_pathset *set, const struct universe *u, const uint32_t *mask,
    size_t nall, json_t *jarr)
{
	/* group paths by the set of combinations they change in */
	struct codec_pathset todo = *set;

	for (size_t x = 0; x < codec_type_npaths(t); x++) {
		if (!codec_pathset_has(&todo, x))
			continue;
		struct codec_pathset grp;
		codec_pathset_clear(&grp);
		for (size_t y = x; y < codec_type_npaths(t); y++)
			if (codec_pathset_has(&todo, y) && mask[y] == mask[x]) {
				codec_pathset_set(&grp, y);
				todo.w[y / 64] &= ~(1ull << (y % 64));
			}
		struct buf when = { 0 }, fields = { 0 };
		size_t nc = 0;
		for (size_t c = 0; c < u->n; c++)
			if (mask[x] >> c & 1)
				nc++;
		if (nc == nall) {
			buf_add(&when, "always");
		} else if (2 * nc > u->n) {
			buf_add(&when, "always except ");
			size_t start = when.len;
			for (size_t c = 0; c < u->n; c++)
				if (!(mask[x] >> c & 1))
					buf_add(&when, "%s%s", when.len > start ? "; " : "", u->c[c].label);
		} else {
			for (size_t c = 0; c < u->n; c++)
				if (mask[x] >> c & 1)
					buf_add(&when, "%s%s", when.len ? "; " : "", u->c[c].label);
		}
		paths_join(&fields, t, &grp, 0);
		if (jarr) {
			json_t *e = json_object(), *jw = json_array();
			json_object_set_new(e, "fields", paths_json(t, &grp));
			if (nc == nall)
				json_array_append_new(jw, json_string("always"));
			else
				for (size_t c = 0; c < u->n; c++)
					if (mask[x] >> c & 1)
						json_array_append_new(jw, json_string(u->c[c].label));
			json_object_set_new(e, "when", jw);
			json_array_append_new(jarr, e);
		} else if (fields.len + when.len < 90) {
			buf_add(b, "    %s %s  [%s]\n", sign, buf_str(&fields), buf_str(&when));
		} else {
			/* long: fields wrapped, then the cases on their own line */
			size_t col = 6;
			buf_add(b, "    %s ", sign);
			for (char *save = NULL, *tok = strtok_r(fields.s, ",", &save); tok;
			    tok = strtok_r(NULL, ",", &save)) {
				if (*tok == ' ')
					tok++;
				if (col > 6 && col + strlen(tok) > 96) {
					buf_add(b, ",\n      ");
					col = 6;
				} else if (col > 6) {
					buf_add(b, ", ");
					col += 2;
				}
				buf_add(b, "%s", tok);
				col += strlen(tok);
			}
			buf_add(b, "\n      [%s]\n", buf_str(&when));
		}
		free(when.s);
		free(fields.s);
	}
}

static int
cmd_diff(int argc, char **argv)
{
	struct opts o;
	struct directory *dir;
	struct policy *pp[2] = { NULL, NULL };
	struct yinfo yi[2] = { { 0 }, { 0 } };
	struct universe u = { 0 };
	int rc;

	if ((rc = parse_opts("diff", argc, argv, O_FORMAT, &o)) != 0)
		return rc < 0 ? EXIT_OK : rc;
	if (o.npos != 2)
		return usage(stderr);
	if ((dir = load_directory("diff", o.directory)) == NULL)
		return EXIT_FAIL;
	for (int k = 0; k < 2; k++) {
		if ((pp[k] = load_policy("diff", o.pos[k], dir)) == NULL) {
			policy_free(&pp[0]);
			directory_free(&dir);
			return EXIT_FAIL;
		}
		yinfo_load(o.pos[k], &yi[k]);
	}
	universe_diff(&u, &yi[0], &yi[1]);
	if (u.n > 32) {
		/* masks are 32 bits: keep the first 31 and the reply combination */
		u.c[31] = u.c[u.n - 1];
		u.n = 32;
	}

	/* purposes: the union, old order first */
	size_t npur = 0;
	const char **pur = xcalloc(policy_npurposes(pp[0]) + policy_npurposes(pp[1]), sizeof(char *));
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < policy_npurposes(pp[k]); i++) {
			bool dup = false;
			for (size_t j = 0; j < npur && !dup; j++)
				dup = strcmp(pur[j], policy_purpose(pp[k], i)) == 0;
			if (!dup)
				pur[npur++] = policy_purpose(pp[k], i);
		}

	/* rules: the union by id */
	size_t nrules = 0, nag = policy_nagencies(pp[0]), nt = codec_type_count();
	struct diffrule *dr = xcalloc(policy_nrules(pp[0]) + policy_nrules(pp[1]), sizeof(*dr));
	size_t npoints = nag * nag * nt * npur * u.n, nbytes = (npoints + 7) / 8;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < policy_nrules(pp[k]); i++) {
			const char *id = policy_rule_id(pp[k], i);
			size_t j;
			for (j = 0; j < nrules; j++)
				if (strcmp(dr[j].id, id) == 0)
					break;
			if (j == nrules) {
				dr[j].id = xstrdup(id);
				dr[j].in[0] = dr[j].in[1] = -1;
				dr[j].applies[0] = xcalloc(nbytes, 1);
				dr[j].applies[1] = xcalloc(nbytes, 1);
				nrules++;
			}
			dr[j].in[k] = (int)i;
		}
	int *map[2];
	for (int k = 0; k < 2; k++) {
		map[k] = xcalloc(policy_nrules(pp[k]), sizeof(int));
		for (size_t j = 0; j < nrules; j++)
			if (dr[j].in[k] >= 0)
				map[k][dr[j].in[k]] = (int)j;
	}
	struct codec_pathset *probes[2];
	bool *whole[2];
	for (int k = 0; k < 2; k++) {
		struct codec_pathset *rf = rule_fields(pp[k]);
		probes[k] = forbid_probes(pp[k], rf);
		/* forbid rules that refuse whole messages (no fields, or "*") */
		whole[k] = xcalloc(policy_nrules(pp[k]), 1);
		for (size_t i = 0; i < policy_nrules(pp[k]); i++) {
			bool w = policy_rule_is_forbid(pp[k], i), any = false;
			for (size_t ti = 0; ti < nt && w; ti++) {
				struct codec_pathset all;
				if (codec_pathset_empty(&rf[i * nt + ti]))
					continue;
				any = true;
				pathset_all(codec_type_at(ti), &all);
				w = pathset_equal(&all, &rf[i * nt + ti]);
			}
			whole[k][i] = w && any;
		}
		free(rf);
	}
	/* points where a whole-message forbid applies: other rules do not matter there */
	uint8_t *masked = xcalloc(nbytes, 1);

	struct buf out = { 0 };
	json_t *jpairs = json_array();
	size_t nchanged_pairs = 0;
	size_t point = 0;
	uint32_t all = u.n >= 32 ? 0xffffffffu : (1u << u.n) - 1;
	for (size_t s = 0; s < nag; s++)
		for (size_t r = 0; r < nag; r++)
			for (size_t ti = 0; ti < nt; ti++) {
				const struct codec_type *t = codec_type_at(ti);
				for (size_t pi = 0; pi < npur; pi++) {
					uint32_t gain[CODEC_MAX_PATHS] = { 0 }, lose[CODEC_MAX_PATHS] = { 0 };
					struct codec_pathset gained, lost;
					struct buf ret = { 0 };
					codec_pathset_clear(&gained);
					codec_pathset_clear(&lost);
					bool possible[2];
					for (int k = 0; k < 2; k++)
						possible[k] = permits_possible(pp[k], policy_agency(pp[k], s),
						    policy_agency(pp[k], r), t, pur[pi]);
					for (size_t ci = 0; ci < u.n; ci++, point++) {
						struct policy_decision d[2];
						for (int k = 0; k < 2; k++) {
							struct policy_request rq;
							struct policy_ledger lg;
							make_request(&rq, &lg, policy_agency(pp[k], s),
							    policy_agency(pp[k], r), t, pur[pi], NULL, &u.c[ci].a);
							memset(&d[k], 0, sizeof(d[k]));
							if (possible[0] || possible[1])
								policy_eval(pp[k], &rq, &lg, &d[k]);
							for (size_t g = 0; g < d[k].ngranting; g++)
								set_bit(dr[map[k][d[k].granting[g]]].applies[k], point);
							if (d[k].reason == POLICY_FORBIDDEN && d[k].reason_rule >= 0) {
								set_bit(dr[map[k][d[k].reason_rule]].applies[k], point);
								if (whole[k][d[k].reason_rule])
									set_bit(masked, point);
							}
							for (size_t f = 0; f < policy_nrules(pp[k]); f++) {
								const struct codec_pathset *pr = &probes[k][f * nt + ti];
								if (!policy_rule_is_forbid(pp[k], f) ||
								    codec_pathset_empty(pr))
									continue;
								for (size_t x = 0; x < codec_type_npaths(t); x++) {
									if (!codec_pathset_has(pr, x))
										continue;
									int fr = forbid_guard(pp[k], &rq, &lg, x);
									if (fr >= 0)
										set_bit(dr[map[k][fr]].applies[k], point);
									if (fr >= 0 && whole[k][fr])
										set_bit(masked, point);
									if (fr == (int)f)
										break;
								}
							}
						}
						for (size_t x = 0; x < codec_type_npaths(t); x++) {
							bool a0 = codec_pathset_has(&d[0].allowed, x);
							bool a1 = codec_pathset_has(&d[1].allowed, x);
							if (a1 && !a0) {
								gain[x] |= 1u << ci;
								codec_pathset_set(&gained, x);
							} else if (a0 && !a1) {
								lose[x] |= 1u << ci;
								codec_pathset_set(&lost, x);
							}
						}
						if (d[0].permitted && d[1].permitted &&
						    d[0].retention_days != d[1].retention_days && ret.len == 0)
							buf_add(&ret, "retention %u -> %u days (%s)",
							    d[0].retention_days, d[1].retention_days, u.c[ci].label);
					}
					if (codec_pathset_empty(&gained) && codec_pathset_empty(&lost) &&
					    ret.len == 0) {
						free(ret.s);
						continue;
					}
					nchanged_pairs++;
					if (o.json) {
						json_t *e = json_object(), *jg = json_array(), *jl = json_array();
						json_object_set_new(e, "from", json_string(policy_agency(pp[0], s)));
						json_object_set_new(e, "to", json_string(policy_agency(pp[0], r)));
						json_object_set_new(e, "type", json_string(short_type(t)));
						json_object_set_new(e, "purpose", json_string(pur[pi]));
						print_changes(NULL, "+", t, &gained, &u, gain, all, jg);
						print_changes(NULL, "-", t, &lost, &u, lose, all, jl);
						json_object_set_new(e, "gained", jg);
						json_object_set_new(e, "lost", jl);
						if (ret.len)
							json_object_set_new(e, "retention", json_string(ret.s));
						json_array_append_new(jpairs, e);
					} else {
						buf_add(&out, "  %s -> %s  %s  %s\n", policy_agency(pp[0], s),
						    policy_agency(pp[0], r), short_type(t), pur[pi]);
						print_changes(&out, "+", t, &gained, &u, gain, all, NULL);
						print_changes(&out, "-", t, &lost, &u, lose, all, NULL);
						if (ret.len)
							buf_add(&out, "    ~ %s\n", ret.s);
					}
					free(ret.s);
				}
			}

	/* rules added, removed, changed */
	struct buf rout = { 0 };
	json_t *jrules = json_array();
	size_t nrchanged = 0;
	for (size_t j = 0; j < nrules; j++) {
		int i0 = dr[j].in[0], i1 = dr[j].in[1];
		json_t *e = json_object();
		json_object_set_new(e, "id", json_string(dr[j].id));
		if (i0 < 0 || i1 < 0) {
			int k = i0 < 0 ? 1 : 0, i = i0 < 0 ? i1 : i0;
			json_object_set_new(e, "change", json_string(k ? "added" : "removed"));
			json_object_set_new(e, "line", json_integer(policy_rule_line(pp[k], (size_t)i)));
			buf_add(&rout, "  %s %s %s (%s line %u)\n", k ? "+" : "-", k ? "added  " :
			    "removed", dr[j].id, o.pos[k], policy_rule_line(pp[k], (size_t)i));
			json_array_append_new(jrules, e);
			nrchanged++;
			continue;
		}
		struct buf what = { 0 };
		json_t *jw = json_array();
		const struct policy *a = pp[0], *b = pp[1];
		if (policy_rule_is_forbid(a, (size_t)i0) != policy_rule_is_forbid(b, (size_t)i1))
			buf_add(&what, "%s; ", policy_rule_is_forbid(b, (size_t)i1) ?
			    "now a forbid rule" : "now a permit rule");
		if (!str_eq(policy_rule_purpose(a, (size_t)i0), policy_rule_purpose(b, (size_t)i1)))
			buf_add(&what, "purpose %s -> %s; ", policy_rule_purpose(a, (size_t)i0) ?
			    policy_rule_purpose(a, (size_t)i0) : "*", policy_rule_purpose(b, (size_t)i1) ?
			    policy_rule_purpose(b, (size_t)i1) : "*");
		const char *b0 = policy_rule_basis(a, (size_t)i0), *b1 = policy_rule_basis(b, (size_t)i1);
		if (!str_eq(b0, b1))
			buf_add(&what, "basis %s -> %s; ", b0 ? b0 : "-", b1 ? b1 : "-");
		else if (b0 && !str_eq(policy_basis_citation(a, b0), policy_basis_citation(b, b1)))
			buf_add(&what, "citation of %s changed; ", b0);
		const struct policy_rule_info *f0 = policy_rule_info(a, (size_t)i0);
		const struct policy_rule_info *f1 = policy_rule_info(b, (size_t)i1);
		if (f0->reply_to_type != f1->reply_to_type ||
		    f0->reply_within_days != f1->reply_within_days) {
			buf_add(&what, "reply_to ");
			if (f0->reply_to_type)
				buf_add(&what, "%s within %u days", short_type(f0->reply_to_type),
				    f0->reply_within_days);
			else
				buf_add(&what, "none");
			buf_add(&what, " -> ");
			if (f1->reply_to_type)
				buf_add(&what, "%s within %u days", short_type(f1->reply_to_type),
				    f1->reply_within_days);
			else
				buf_add(&what, "none");
			buf_add(&what, "; ");
		}
		if (f0->limit_count != f1->limit_count || f0->limit_per != f1->limit_per) {
			static const char *const per[] = { "day", "week", "month" };
			buf_add(&what, "limit ");
			if (f0->limit_count)
				buf_add(&what, "%u per %s", f0->limit_count, per[f0->limit_per]);
			else
				buf_add(&what, "none");
			buf_add(&what, " -> ");
			if (f1->limit_count)
				buf_add(&what, "%u per %s", f1->limit_count, per[f1->limit_per]);
			else
				buf_add(&what, "none");
			buf_add(&what, "; ");
		}
		for (size_t ti = 0; ti < nt; ti++) {
			const struct codec_type *t = codec_type_at(ti);
			struct codec_pathset c0, c1, plus, minus;
			codec_pathset_clear(&c0);
			codec_pathset_clear(&c1);
			for (size_t x = 0; x < codec_type_npaths(t); x++) {
				if (policy_rule_covers(a, (size_t)i0, t, x))
					codec_pathset_set(&c0, x);
				if (policy_rule_covers(b, (size_t)i1, t, x))
					codec_pathset_set(&c1, x);
			}
			if (pathset_equal(&c0, &c1))
				continue;
			pathset_andnot(&plus, &c1, &c0);
			pathset_andnot(&minus, &c0, &c1);
			if (codec_pathset_empty(&c0))
				buf_add(&what, "now covers %s; ", short_type(t));
			else if (codec_pathset_empty(&c1))
				buf_add(&what, "no longer covers %s; ", short_type(t));
			else {
				buf_add(&what, "fields of %s:", short_type(t));
				if (!codec_pathset_empty(&plus)) {
					buf_add(&what, " + ");
					paths_join(&what, t, &plus, 6);
				}
				if (!codec_pathset_empty(&minus)) {
					buf_add(&what, " - ");
					paths_join(&what, t, &minus, 6);
				}
				buf_add(&what, "; ");
			}
		}
		/* from, to and when: where the rule applies */
		size_t more = 0, less = 0, ex_more = (size_t)-1, ex_less = (size_t)-1;
		bool is_whole = whole[0][i0] || whole[1][i1];
		for (size_t pt = 0; pt < npoints; pt++) {
			if (!is_whole && get_bit(masked, pt))
				continue;
			bool x0 = get_bit(dr[j].applies[0], pt), x1 = get_bit(dr[j].applies[1], pt);
			if (x1 && !x0 && more++ == 0)
				ex_more = pt;
			if (x0 && !x1 && less++ == 0)
				ex_less = pt;
		}
		for (int k = 0; k < 2; k++) {
			size_t n = k ? less : more, pt = k ? ex_less : ex_more;
			if (n == 0)
				continue;
			size_t ci = pt % u.n, rest = pt / u.n;
			size_t pi = rest % npur;
			rest /= npur;
			size_t ti = rest % nt;
			rest /= nt;
			size_t r = rest % nag, s = rest / nag;
			buf_add(&what, "%s applies in %zu case%s (e.g. %s -> %s %s %s, %s); ",
			    k ? "no longer" : "now also", n, n == 1 ? "" : "s", policy_agency(a, s),
			    policy_agency(a, r), short_type(codec_type_at(ti)), pur[pi], u.c[ci].label);
		}
		if (what.len == 0) {
			json_decref(e);
			json_decref(jw);
			continue;
		}
		what.s[what.len - 2] = '\0';
		buf_add(&rout, "  ~ changed %s (%s line %u): %s\n", dr[j].id, o.pos[1],
		    policy_rule_line(b, (size_t)i1), what.s);
		json_object_set_new(e, "change", json_string("changed"));
		json_object_set_new(e, "line", json_integer(policy_rule_line(b, (size_t)i1)));
		for (char *save = NULL, *tok = strtok_r(what.s, ";", &save); tok;
		    tok = strtok_r(NULL, ";", &save))
			json_array_append_new(jw, json_string(tok[0] == ' ' ? tok + 1 : tok));
		json_object_set_new(e, "details", jw);
		json_array_append_new(jrules, e);
		free(what.s);
		nrchanged++;
	}

	char h0[2 * POLICY_HASHBYTES + 1], h1[2 * POLICY_HASHBYTES + 1];
	policy_hash_hex(pp[0], h0);
	policy_hash_hex(pp[1], h1);
	if (o.json) {
		json_t *j = json_object();
		json_t *jo = json_object(), *jn = json_object();
		json_object_set_new(jo, "file", json_string(o.pos[0]));
		json_object_set_new(jo, "version", json_string(policy_version(pp[0])));
		json_object_set_new(jo, "sha256", json_string(h0));
		json_object_set_new(jn, "file", json_string(o.pos[1]));
		json_object_set_new(jn, "version", json_string(policy_version(pp[1])));
		json_object_set_new(jn, "sha256", json_string(h1));
		json_object_set_new(j, "old", jo);
		json_object_set_new(j, "new", jn);
		json_object_set_new(j, "rules", jrules);
		json_object_set_new(j, "sharing", jpairs);
		json_print(j);
	} else {
		json_decref(jrules);
		json_decref(jpairs);
		printf("old: %s  policy %s version %s (sha256 %.16s...)\n", o.pos[0],
		    policy_name(pp[0]), policy_version(pp[0]), h0);
		printf("new: %s  policy %s version %s (sha256 %.16s...)\n", o.pos[1],
		    policy_name(pp[1]), policy_version(pp[1]), h1);
		if (strcmp(h0, h1) == 0)
			printf("\nthe compiled policies are identical\n");
		printf("\nrules: %zu added, removed or changed\n%s", nrchanged, buf_str(&rout));
		printf("\nsharing: %zu sender -> recipient, type and purpose combination%s change%s\n",
		    nchanged_pairs, nchanged_pairs == 1 ? "" : "s", nchanged_pairs == 1 ? "s" : "");
		if (nchanged_pairs)
			printf("  (+ gained, - lost; [in which cases: %s])\n%s",
			    "always, or the attributes under which", buf_str(&out));
	}
	free(out.s);
	free(rout.s);
	for (size_t j = 0; j < nrules; j++) {
		free(dr[j].id);
		free(dr[j].applies[0]);
		free(dr[j].applies[1]);
	}
	free(dr);
	free(map[0]);
	free(map[1]);
	free(probes[0]);
	free(probes[1]);
	free(whole[0]);
	free(whole[1]);
	free(masked);
	free(pur);
	free(u.c);
	yinfo_free(&yi[0]);
	yinfo_free(&yi[1]);
	policy_free(&pp[0]);
	policy_free(&pp[1]);
	directory_free(&dir);
	return EXIT_OK;
}

/* ---- entry ---------------------------------------------------------------------- */

int
cmd_policy(int argc, char **argv)
{
	if (codec_init() != 0) {
		fprintf(stderr, "keten policy: schema tables could not be built\n");
		return EXIT_FAIL;
	}
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout);
	if (strcmp(argv[1], "lint") == 0)
		return cmd_lint(argc, argv);
	if (strcmp(argv[1], "explain") == 0)
		return cmd_explain(argc, argv);
	if (strcmp(argv[1], "test") == 0)
		return cmd_test(argc, argv);
	if (strcmp(argv[1], "diff") == 0)
		return cmd_diff(argc, argv);
	if (strcmp(argv[1], "approve") == 0 || strcmp(argv[1], "approvals") == 0)
		return cli_trust_kind("policy", argc - 1, argv + 1);
	fprintf(stderr, "keten policy: unknown subcommand \"%s\"\n", argv[1]);
	return usage(stderr);
}
