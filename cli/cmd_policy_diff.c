/*
 * keten policy diff: what each sender -> recipient pair gains or loses
 * between two policy versions, and which rules changed.
 */
#include "cli/policy_common.h"
#include "common/trust.h"

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

int
cmd_policy_diff(int argc, char **argv)
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
		return policy_usage(stderr);
	if ((dir = load_directory("diff", o.directory, o.pos[1])) == NULL)
		return EXIT_FAIL;
	for (int k = 0; k < 2; k++) {
		if ((pp[k] = load_policy("diff", o.pos[k], dir)) == NULL) {
			policy_free(&pp[0]);
			directory_free(&dir);
			return EXIT_FAIL;
		}
		yinfo_load(o.pos[k], &yi[k]);
	}
	universe_standard(&u, &yi[0], &yi[1]);

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
						paths_when(NULL, "+", t, &gained, &u, gain, all, jg);
						paths_when(NULL, "-", t, &lost, &u, lose, all, jl);
						json_object_set_new(e, "gained", jg);
						json_object_set_new(e, "lost", jl);
						if (ret.len)
							json_object_set_new(e, "retention", json_string(ret.s));
						json_array_append_new(jpairs, e);
					} else {
						buf_add(&out, "  %s -> %s  %s  %s\n", policy_agency(pp[0], s),
						    policy_agency(pp[0], r), short_type(t), pur[pi]);
						paths_when(&out, "+", t, &gained, &u, gain, all, NULL);
						paths_when(&out, "-", t, &lost, &u, lose, all, NULL);
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
	/* a changed policy needs a newer version: agents adopt nothing that is
	 * not newer (docs/trust.md), and approvals name the version */
	int vcmp = trust_version_cmp(policy_version(pp[1]), policy_version(pp[0]));
	const char *vwarn = strcmp(h0, h1) == 0 || vcmp > 0 ? NULL : vcmp == 0 ?
	    "the policy changed but its version did not: raise `version:` before approving it" :
	    "the new policy's version is older than the old one's: agents will refuse it";
	if (vwarn != NULL)
		fprintf(stderr, "keten policy diff: warning: %s (old %s, new %s)\n", vwarn,
		    policy_version(pp[0]), policy_version(pp[1]));
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
		if (vwarn != NULL)
			json_object_set_new(j, "versionWarning", json_string(vwarn));
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
		printf("\nside by side in a browser: keten console --old-policy %s --policy %s, "
		    "then /change\n", o.pos[0], o.pos[1]);
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
