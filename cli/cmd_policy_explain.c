/* keten policy explain: one decision, field by field: granted by which rule, or withheld and why. */
#include "cli/policy_common.h"

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

int
cmd_policy_explain(int argc, char **argv)
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
		return policy_usage(stderr);
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
	if ((dir = load_directory("explain", o.directory, o.policy)) == NULL)
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
			/* no rule names it: a companion that travels with a granted field */
			bool companion = txt.len == 0;
			if (companion)
				buf_add(&txt, "goes with the granted fields (a person's role, a country)");
			if (o.json) {
				json_t *e = json_object();
				json_object_set_new(e, "path", json_string(codec_type_path(t, x)));
				json_object_set_new(e, "granted", json_true());
				json_object_set_new(e, "rules", jr);
				if (companion)
					json_object_set_new(e, "companion", json_true());
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
