/* What the keten policy subcommands share (cli/policy_common.h). */
#include "cli/policy_common.h"

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		fprintf(stderr, "keten policy: out of memory\n");
		exit(EXIT_FAIL);
	}
	return p;
}

char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "keten policy: out of memory\n");
		exit(EXIT_FAIL);
	}
	return d;
}

void
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

const char *
buf_str(const struct buf *b)
{
	return b->s ? b->s : "";
}

const char *
short_type(const struct codec_type *t)
{
	const char *n = codec_type_name(t), *dot = strrchr(n, '.');

	return dot ? dot + 1 : n;
}

const char *
form_name(int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &keten__case__v1__exploitation_form__descriptor, v);

	if (ev == NULL)
		return "?";
	return strncmp(ev->name, "EXPLOITATION_FORM_", 18) == 0 ? ev->name + 18 : ev->name;
}

/* "LABOUR", "labour" or "EXPLOITATION_FORM_LABOUR"; -1 if unknown. */
int
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

int
handling_parse_any(const char *s)
{
	char up[64];
	size_t i;

	for (i = 0; s[i] && i < sizeof(up) - 1; i++)
		up[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
	up[i] = '\0';
	return policy_handling_parse(up);
}

int
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

void
json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(j);
}

int
policy_usage(FILE *f)
{
	fprintf(f,
	    "usage: keten policy lint [--strict] FILE\n"
	    "       keten policy explain [--policy FILE] --from A --to B --type T --purpose P\n"
	    "                            [--basis B] [--attr form=LABOUR] [--attr minor=true]\n"
	    "                            [--attr region=X] [--handling AMBER] [--reply-ok]\n"
	    "                            [--limit-reached] [MESSAGE.json]\n"
	    "       keten policy test FILE DIR\n"
	    "       keten policy diff OLD NEW\n"
	    "       keten policy matrix [--fields PATTERN] FILE\n"
	    "       keten policy shadow --ledger BROKER_DATA_DIR FILE\n"
	    "       keten policy approve --key KEYFILE --root ROOT FILE\n"
	    "       keten policy approvals --root ROOT [--active OLD] FILE\n"
	    "  every command takes --directory FILE (the agency directory the policy is\n"
	    "  compiled against; default: directory.yaml or directory.example.yaml beside\n"
	    "  the policy, else " DEFAULT_DIRECTORY ") and --format text|json.\n"
	    "  lint      compile, then warn about shadowed and unreachable rules, fields\n"
	    "            nobody receives, unused bases and purposes, wildcard grants;\n"
	    "            --strict makes warnings fail (exit 1)\n"
	    "  explain   one decision, per field: granted by which rule, or withheld and why\n"
	    "            (the policy is policy/stm.yaml unless --policy names another)\n"
	    "  test      run DIR/*.yaml expectation files; fails on a failed test or on a\n"
	    "            rule no test exercises\n"
	    "  diff      fields each sender -> recipient pair gains or loses, rules added,\n"
	    "            removed or changed\n"
	    "  matrix    who may send what to whom: per sender -> recipient, type and\n"
	    "            purpose the fields that may go, the permit rules granting them\n"
	    "            (legal basis, reply_to, limit, retention, when) and the forbid\n"
	    "            rules that apply, with the fields each removes; --fields: only\n"
	    "            where fields PATTERN names may go (\"persons[suspect].*\")\n"
	    "  shadow    replay the decisions a broker's ledger recorded (copies sent, fields\n"
	    "            withheld, messages refused at the source) under candidate FILE:\n"
	    "            what it would permit, refuse, newly share or no longer share, per\n"
	    "            sender -> recipient, type, purpose and rule\n"
	    "  approve   a privacy officer's approval of FILE (its exact bytes), added to\n"
	    "            FILE.approvals (docs/trust.md); KEYFILE stays with the officer\n"
	    "  approvals who approved FILE, whose approval is missing, whether the broker and\n"
	    "            the agents will activate it, and (--active) the diff against OLD\n"
	    "  See docs/policy.md.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int
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

int
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
		VAL("--ledger", o->ledger, O_LEDGER)
		VAL("--data", o->ledger, O_LEDGER)	/* as keten audit names it */
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
			return policy_usage(stdout) == EXIT_OK ? -1 : EXIT_USAGE;
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

struct directory *
load_directory(const char *cmd, const char *path, const char *policy)
{
	struct directory *dir = NULL;
	char err[KETEN_ERRLEN], *found = NULL;

	if (path == NULL) {
		/* the directory beside the policy (a copy of the network's, or the
		 * example beside the shipped policy), else the checkout's example */
		const char *near[] = { "directory.yaml", "directory.example.yaml" };
		for (size_t i = 0; i < 2 && found == NULL && policy != NULL; i++) {
			found = path_resolve(policy, near[i]);
			if (found != NULL && access(found, R_OK) != 0) {
				free(found);
				found = NULL;
			}
		}
		if (found == NULL && access(DEFAULT_DIRECTORY, R_OK) != 0) {
			fprintf(stderr, "keten policy %s: name the agency directory the policy is "
			    "written against with --directory FILE (none found beside the policy, as "
			    "directory.yaml or directory.example.yaml, nor at %s)\n", cmd,
			    DEFAULT_DIRECTORY);
			return NULL;
		}
		path = found != NULL ? found : DEFAULT_DIRECTORY;
	}
	if (directory_load(path, &dir, err) != 0)
		fprintf(stderr, "keten policy %s: directory %s\n", cmd, err);
	free(found);
	return dir;
}

void
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

void
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
void
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

void
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

int
ledger_reply(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	const struct attrs *a = arg;

	return a->reply_ok ? 1 : 0;
}

int
ledger_limit(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	const struct attrs *a = arg;

	return a->limit_ok ? 1 : 0;
}

void
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

void
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

json_t *
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

bool
policy_has_agency(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < policy_nagencies(p); i++)
		if (strcmp(policy_agency(p, i), id) == 0)
			return true;
	return false;
}

bool
policy_has_purpose(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < policy_npurposes(p); i++)
		if (strcmp(policy_purpose(p, i), id) == 0)
			return true;
	return false;
}

int
rule_by_id(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < policy_nrules(p); i++)
		if (strcmp(policy_rule_id(p, i), id) == 0)
			return (int)i;
	return -1;
}

void
list_agencies(struct buf *b, const struct policy *p)
{
	for (size_t i = 0; i < policy_nagencies(p); i++)
		buf_add(b, "%s%s", i ? ", " : "", policy_agency(p, i));
}

void
list_purposes(struct buf *b, const struct policy *p)
{
	for (size_t i = 0; i < policy_npurposes(p); i++)
		buf_add(b, "%s%s", i ? ", " : "", policy_purpose(p, i));
}

void
list_types(struct buf *b)
{
	for (size_t i = 0; i < codec_type_count(); i++)
		buf_add(b, "%s%s", i ? ", " : "", short_type(codec_type_at(i)));
}

/*
 * Check the names of a request against the policy; on error write a message
 * naming what is unknown and what is known into b and return -1.
 */
int
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
struct codec_pathset *
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
int
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
bool
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
struct codec_pathset *
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
void
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

static void
print_error(void *arg, const char *error)
{
	(void)arg;
	fprintf(stderr, "%s\n", error);
}

/* Every rule's error in one run, then "FILE: N errors" (policy_load_each). */
struct policy *
load_policy(const char *cmd, const char *path, const struct directory *dir)
{
	struct policy *p = NULL;
	char err[KETEN_ERRLEN];

	if (policy_load_each(path, dir, &p, err, print_error, NULL) != 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	return p;
}

void
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

bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/*
 * The universe diff and matrix evaluate over (one or two policies; y2 may be y1),
 * at most 32 combinations (masks are 32 bits): no attributes; minor; each exploitation
 * form; each handling label; each region either policy names; a reply to a
 * logged request.  Limits always hold.
 */
void
universe_standard(struct universe *u, const struct yinfo *y1, const struct yinfo *y2)
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
	if (u->n > 32) {
		/* masks are 32 bits: keep the first 31 and the reply combination */
		u->c[31] = u->c[u->n - 1];
		u->n = 32;
	}
}

/*
 * The fields of `set` grouped by the combinations of u they appear in
 * (mask[path] bit c: in combination c; nall: the mask of all): as JSON
 * objects {fields, when} appended to jarr, or, jarr NULL, as lines
 * "    SIGN fields  [when]" on b.
 */
void
paths_when(struct buf *b, const char *sign, const struct codec_type *t,
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
