/*
 * keten policy shadow --ledger DIR CANDIDATE: a candidate policy replayed
 * over the traffic the ledger recorded.  Each decision the ledger holds for
 * a message and one recipient is asked of the candidate again, with the
 * attributes the entry recorded (exploitation forms, minor, region,
 * handling); a reply_to condition holds when the ledger has the message
 * answered, accepted from the recipient to the sender, of the rule's
 * request type and within its days; a limit counts as not reached:
 *
 *   ACCEPTED      the copy went, with its manifest (the fields sent); the
 *                 WITHHELD entries of the same copy name the fields the
 *                 sender's policy kept back, so the fields the message had
 *                 are both together.  The candidate shares more (newly
 *                 shared), fewer, or refuses the copy;
 *   WITHHELD, no  refused at the source by the sender's policy (issue [4/7]):
 *   fields        the message's fields are not known, so a candidate that
 *                 permits it is shown with the fields it grants for the type.
 *
 * REJECTED entries (the broker refusing a submission, mostly a bad
 * signature or a forged policy) name no recipient and are not replayed.
 * Changes are grouped per sender -> recipient, type, purpose, change and
 * the candidate's rules.  Nothing is written; the ledger is read in one
 * snapshot (ledger/reader.h).
 */
#include "cli/policy_common.h"
#include "common/util.h"
#include "ledger/reader.h"

enum change { CH_PERMITTED, CH_REFUSED, CH_CHANGED };

static const char *const change_name[] = { "permitted", "refused", "changed" };

/* One recorded decision: a message to one recipient. */
struct rec {
	uint8_t id[16];
	char *s_sender, *s_recipient, *s_purpose, *region, *reason;
	const struct codec_type *t;
	int forms[MAX_FORMS];
	size_t nforms;
	bool minor, reply, attrs, accepted, refused;
	uint8_t in_reply_to[16];
	int64_t time_ms;
	int handling;
	struct codec_pathset sent, withheld;
};

/* A group of alike changes. */
struct group {
	char *sender, *recipient, *purpose, *rules, *reason;
	const struct codec_type *t;
	enum change ch;
	size_t messages;
	struct codec_pathset gained, lost;
};

#define WINDOW 256	/* a message's entries are adjacent: its submission wrote them */

struct replay {
	const struct policy *p;
	struct ledger_reader *lr;
	const struct rec *cur;		/* being judged */
	struct rec win[WINDOW];
	size_t head, n;			/* ring of records not yet judged */
	struct group *g;
	size_t ng;
	uint64_t decisions, unchanged, no_attrs, entries;
};

/* Is the message a reply answers in the ledger as the rule's request? */
struct answered {
	const struct policy_request *rq;
	const struct policy_rule_info *r;
	int64_t after_ms;
	bool found;
};

static int
answered_one(void *arg, const Keten__Ledger__V1__Entry *e)
{
	struct answered *a = arg;

	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED && e->time_ms >= a->after_ms &&
	    a->r->reply_to_type != NULL && codec_type_find(e->message_type) == a->r->reply_to_type &&
	    str_eq(e->sender, a->rq->recipient) && str_eq(e->recipient, a->rq->sender))
		a->found = true;
	return a->found;
}

static int
replay_reply(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	struct replay *rp = arg;
	struct ledger_query q = { .message_id = rq->in_reply_to };
	struct answered a = { rq, r, rp->cur->time_ms - (int64_t)r->reply_within_days * 86400000, false };
	uint64_t looked = 0;

	if (rq->in_reply_to == NULL)
		return 0;
	if (ledger_reader_query(rp->lr, &q, answered_one, &a, &looked) != 0)
		return -1;
	return a.found;
}

static int
replay_limit(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	(void)arg;
	(void)rq;
	(void)r;
	return 1;
}

static void
rec_clear(struct rec *r)
{
	free(r->s_sender);
	free(r->s_recipient);
	free(r->s_purpose);
	free(r->region);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

static struct group *
group_of(struct replay *rp, const struct rec *r, enum change ch, const char *rules,
    const char *reason)
{
	for (size_t i = 0; i < rp->ng; i++) {
		struct group *g = &rp->g[i];
		if (g->t == r->t && g->ch == ch && strcmp(g->sender, r->s_sender) == 0 &&
		    strcmp(g->recipient, r->s_recipient) == 0 && strcmp(g->purpose, r->s_purpose) == 0 &&
		    strcmp(g->rules, rules) == 0 && str_eq(g->reason, reason))
			return g;
	}
	struct group *ng = realloc(rp->g, (rp->ng + 1) * sizeof(*ng));
	if (ng == NULL) {
		fprintf(stderr, "keten policy shadow: out of memory\n");
		exit(EXIT_FAIL);
	}
	rp->g = ng;
	struct group *g = &rp->g[rp->ng++];
	memset(g, 0, sizeof(*g));
	g->sender = xstrdup(r->s_sender);
	g->recipient = xstrdup(r->s_recipient);
	g->purpose = xstrdup(r->s_purpose);
	g->rules = xstrdup(rules);
	g->reason = reason ? xstrdup(reason) : NULL;
	g->t = r->t;
	g->ch = ch;
	return g;
}

/* Ask the candidate about one recorded decision and count the answer. */
static void
judge(struct replay *rp, struct rec *r)
{
	struct policy_request rq = { 0 };
	struct policy_ledger lg = { replay_reply, replay_limit, rp };
	struct policy_decision d;
	struct buf rules = { 0 };

	rp->decisions++;
	if (!r->attrs)
		rp->no_attrs++;
	rq.sender = r->s_sender;
	rq.recipient = r->s_recipient;
	rq.type = r->t;
	rq.purpose = r->s_purpose;
	rq.basis = NULL;	/* the ledger keeps the granting basis, not the one asked */
	rq.forms = r->forms;
	rq.nforms = r->nforms;
	rq.minor = r->minor;
	rq.region = r->region;
	rq.handling = r->handling;
	rq.in_reply_to = r->reply ? r->in_reply_to : NULL;
	rq.now_ms = r->time_ms;
	rp->cur = r;
	policy_eval(rp->p, &rq, &lg, &d);
	for (size_t k = 0; k < d.ngranting; k++)
		buf_add(&rules, "%s%s", k ? ", " : "", policy_rule_id(rp->p, (size_t)d.granting[k]));
	if (r->accepted) {
		struct codec_pathset present = r->sent, now, gained, lost;
		pathset_or(&present, &r->withheld);
		pathset_and(&now, &present, &d.allowed);
		pathset_andnot(&gained, &now, &r->sent);
		pathset_andnot(&lost, &r->sent, &now);
		if (!d.permitted || codec_pathset_empty(&now)) {
			char why[160];
			snprintf(why, sizeof(why), "%s%s%s", policy_reason_name(d.permitted ?
			    POLICY_FORBIDDEN : d.reason), d.reason_rule >= 0 ? " (rule " : "",
			    d.reason_rule >= 0 ? policy_rule_id(rp->p, (size_t)d.reason_rule) : "");
			if (d.reason_rule >= 0)
				strncat(why, ")", sizeof(why) - strlen(why) - 1);
			group_of(rp, r, CH_REFUSED, "", why)->messages++;
		} else if (codec_pathset_empty(&gained) && codec_pathset_empty(&lost)) {
			rp->unchanged++;
		} else {
			struct group *g = group_of(rp, r, CH_CHANGED, buf_str(&rules), NULL);
			g->messages++;
			pathset_or(&g->gained, &gained);
			pathset_or(&g->lost, &lost);
		}
	} else if (r->refused && d.permitted && !codec_pathset_empty(&d.allowed)) {
		struct group *g = group_of(rp, r, CH_PERMITTED, buf_str(&rules), r->reason);
		g->messages++;
		pathset_or(&g->gained, &d.allowed);
	} else {
		rp->unchanged++;
	}
	free(rules.s);
}

static void
flush_one(struct replay *rp)
{
	struct rec *r = &rp->win[rp->head];

	if (r->t != NULL && (r->accepted || r->refused))
		judge(rp, r);
	rec_clear(r);
	rp->head = (rp->head + 1) % WINDOW;
	rp->n--;
}

/* The record of (message, recipient), or a new one. */
static struct rec *
rec_find(struct replay *rp, const Keten__Ledger__V1__Entry *e)
{
	for (size_t k = 0; k < rp->n; k++) {
		struct rec *r = &rp->win[(rp->head + rp->n - 1 - k) % WINDOW];
		if (memcmp(r->id, e->message_id.data, 16) == 0 &&
		    strcmp(r->s_recipient, e->recipient) == 0)
			return r;
	}
	if (rp->n == WINDOW)
		flush_one(rp);
	struct rec *r = &rp->win[(rp->head + rp->n++) % WINDOW];
	memcpy(r->id, e->message_id.data, 16);
	r->s_sender = xstrdup(e->sender);
	r->s_recipient = xstrdup(e->recipient);
	r->s_purpose = xstrdup(e->purpose);
	r->t = codec_type_find(e->message_type);
	r->reply = e->in_reply_to.len == 16;
	if (r->reply)
		memcpy(r->in_reply_to, e->in_reply_to.data, 16);
	r->time_ms = e->time_ms;
	if (e->attributes != NULL) {
		const Keten__Ledger__V1__Attributes *a = e->attributes;
		r->attrs = true;
		for (size_t i = 0; i < a->n_exploitation_forms && i < MAX_FORMS; i++)
			r->forms[r->nforms++] = a->exploitation_forms[i];
		r->minor = a->minor;
		r->region = a->region && a->region[0] ? xstrdup(a->region) : NULL;
		r->handling = a->handling;
	}
	return r;
}

static void
add_paths(const struct codec_type *t, struct codec_pathset *s, char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int k = codec_type_path_index(t, paths[i]);
		if (k >= 0)
			codec_pathset_set(s, (size_t)k);
	}
}

static int
replay_entry(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct replay *rp = arg;
	struct rec *r;

	(void)seq;
	rp->entries++;
	if (e == NULL || e->message_id.len != 16 || e->recipient == NULL || !e->recipient[0] ||
	    (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED &&
	    e->kind != KETEN__LEDGER__V1__KIND__KIND_WITHHELD))
		return 0;
	r = rec_find(rp, e);
	if (r->t == NULL)
		return 0;	/* a type this schema does not know: nothing to ask */
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED) {
		r->accepted = true;
		add_paths(r->t, &r->sent, e->field_paths, e->n_field_paths);
	} else if (e->n_field_paths > 0) {
		add_paths(r->t, &r->withheld, e->field_paths, e->n_field_paths);
	} else {
		r->refused = true;
		free(r->reason);
		r->reason = xstrdup(e->reason_code ? e->reason_code : "");
	}
	return 0;
}

static void
print_text(const struct replay *rp, const char *ledger, const char *file)
{
	char hash[2 * POLICY_HASHBYTES + 1];
	struct buf b = { 0 };

	policy_hash_hex(rp->p, hash);
	printf("candidate %s: policy %s version %s (sha256 %.16s...)\n", file, policy_name(rp->p),
	    policy_version(rp->p), hash);
	printf("replayed over %s: %llu decisions (a message to one recipient) in %llu entries\n",
	    ledger, (unsigned long long)rp->decisions, (unsigned long long)rp->entries);
	if (rp->no_attrs)
		printf("  %llu recorded before entries kept their attributes: asked as none\n",
		    (unsigned long long)rp->no_attrs);
	printf("unchanged: %llu\n", (unsigned long long)rp->unchanged);
	if (rp->ng == 0) {
		printf("no recorded decision would come out differently\n");
		return;
	}
	for (size_t i = 0; i < rp->ng; i++) {
		const struct group *g = &rp->g[i];
		const char *msgs = g->messages == 1 ? "message" : "messages";
		printf("\n%s -> %s  %s  purpose %s\n", g->sender, g->recipient, short_type(g->t),
		    g->purpose);
		b.len = 0;
		switch (g->ch) {
		case CH_PERMITTED:
			paths_join(&b, g->t, &g->gained, 8);
			printf("  %zu %s refused at the source (%s) would be PERMITTED by rule %s: "
			    "up to %zu fields: %s\n", g->messages, msgs, g->reason ? g->reason : "?",
			    g->rules, codec_pathset_count(&g->gained), buf_str(&b));
			break;
		case CH_REFUSED:
			printf("  %zu %s accepted would be REFUSED: %s\n", g->messages, msgs, g->reason);
			break;
		case CH_CHANGED:
			printf("  %zu %s accepted would go with other fields (rule %s):\n", g->messages,
			    msgs, g->rules);
			if (!codec_pathset_empty(&g->gained)) {
				paths_join(&b, g->t, &g->gained, 0);
				printf("    newly shared: %s\n", buf_str(&b));
			}
			b.len = 0;
			if (!codec_pathset_empty(&g->lost)) {
				paths_join(&b, g->t, &g->lost, 0);
				printf("    no longer shared: %s\n", buf_str(&b));
			}
			break;
		}
	}
	free(b.s);
}

static void
print_json(const struct replay *rp, const char *ledger, const char *file)
{
	char hash[2 * POLICY_HASHBYTES + 1];
	json_t *o = json_object(), *c = json_array();

	policy_hash_hex(rp->p, hash);
	json_object_set_new(o, "candidate", json_pack("{s:s, s:s, s:s, s:s}", "file", file, "name",
	    policy_name(rp->p), "version", policy_version(rp->p), "sha256", hash));
	json_object_set_new(o, "ledger", json_string(ledger));
	json_object_set_new(o, "entries", json_integer((json_int_t)rp->entries));
	json_object_set_new(o, "decisions", json_integer((json_int_t)rp->decisions));
	json_object_set_new(o, "unchanged", json_integer((json_int_t)rp->unchanged));
	json_object_set_new(o, "withoutAttributes", json_integer((json_int_t)rp->no_attrs));
	for (size_t i = 0; i < rp->ng; i++) {
		const struct group *g = &rp->g[i];
		json_t *x = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "from", g->sender, "to",
		    g->recipient, "type", short_type(g->t), "purpose", g->purpose, "change",
		    change_name[g->ch], "messages", (json_int_t)g->messages);
		if (g->rules[0])
			json_object_set_new(x, "rules", json_string(g->rules));
		if (g->reason)
			json_object_set_new(x, g->ch == CH_PERMITTED ? "recordedReason" : "reason",
			    json_string(g->reason));
		json_object_set_new(x, g->ch == CH_PERMITTED ? "fields" : "gained",
		    paths_json(g->t, &g->gained));
		if (g->ch == CH_CHANGED)
			json_object_set_new(x, "lost", paths_json(g->t, &g->lost));
		json_array_append_new(c, x);
	}
	json_object_set_new(o, "changes", c);
	json_print(o);	/* and frees it */
}

int
cmd_policy_shadow(int argc, char **argv)
{
	struct opts o;
	struct directory *dir;
	struct ledger_reader *lr = NULL;
	struct replay rp = { 0 };
	struct policy *p;
	char err[KETEN_ERRLEN];
	int rc;

	if ((rc = parse_opts("shadow", argc, argv, O_FORMAT | O_LEDGER, &o)) != 0)
		return rc < 0 ? EXIT_OK : rc;
	if (o.npos != 1 || o.ledger == NULL) {
		fprintf(stderr, "keten policy shadow: usage: keten policy shadow --ledger "
		    "BROKER_DATA_DIR FILE\n");
		return EXIT_USAGE;
	}
	if ((dir = load_directory("shadow", o.directory, o.pos[0])) == NULL)
		return EXIT_FAIL;
	if ((p = load_policy("shadow", o.pos[0], dir)) == NULL) {
		directory_free(&dir);
		return EXIT_FAIL;
	}
	if (ledger_reader_open(o.ledger, &lr, err) != 0) {
		fprintf(stderr, "keten policy shadow: %s\n", err);
		policy_free(&p);
		directory_free(&dir);
		return EXIT_FAIL;
	}
	rp.p = p;
	rp.lr = lr;
	if (ledger_reader_walk(lr, 0, replay_entry, &rp) != 0) {
		fprintf(stderr, "keten policy shadow: the ledger in %s cannot be read to its end\n",
		    o.ledger);
		rc = EXIT_FAIL;
	} else {
		while (rp.n > 0)
			flush_one(&rp);
		if (o.json)
			print_json(&rp, o.ledger, o.pos[0]);
		else
			print_text(&rp, o.ledger, o.pos[0]);
		rc = EXIT_OK;
	}
	while (rp.n > 0)
		flush_one(&rp);
	for (size_t i = 0; i < rp.ng; i++) {
		free(rp.g[i].sender);
		free(rp.g[i].recipient);
		free(rp.g[i].purpose);
		free(rp.g[i].rules);
		free(rp.g[i].reason);
	}
	free(rp.g);
	ledger_reader_free(&lr);
	policy_free(&p);
	directory_free(&dir);
	return rc;
}
