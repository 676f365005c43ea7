/*
 * The ledger entries the broker writes: decisions on submissions (accepted,
 * rejected), deliveries' companions (expired, refused by the recipient),
 * refused connections, auditors' queries and the broker's own events.  Like
 * FSC logging: logged before acted on, and not acted on when not logged.
 */
#include "broker/broker.h"

static void
policy_hex(const struct policy *p, char out[static 2 * POLICY_HASHBYTES + 1])
{
	policy_hash_hex(p, out);
}

/*
 * Append an entry in txn, which the caller aborts if this fails: a nested
 * transaction of its own (events_entry) or one around more (a submission's
 * queue and ledger writes, a delivery's).
 */
int
events_append(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	int rc;

	e->time_ms = now_ms();
	if ((rc = ledger_append(b->ledger, txn, e)) != 0)
		return rc;
	b->ledger_dirty = true;
	return 0;
}

/* Append an entry; a failure aborts the batch (nothing acted on is unlogged). */
int
events_entry(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	MDB_txn *child = NULL;
	int rc;

	/* in a nested transaction: a full map fails this entry, not the batch */
	if ((rc = mdb_txn_begin(b->env, txn, 0, &child)) != 0)
		return db_err(rc);
	if ((rc = events_append(b, child, e)) != 0) {
		mdb_txn_abort(child);
		return rc;
	}
	if ((rc = mdb_txn_commit(child)) != 0)
		return db_err(rc);
	return 0;
}

/*
 * The header's policy attributes into a (forms into `forms`, up to 8 as
 * the envelope check allows): what a replay of a candidate policy needs.
 */
static void
entry_attributes(const Keten__Envelope__V1__Header *h, Keten__Ledger__V1__Attributes *a,
    int32_t forms[static ENV_MAX_FORMS])
{
	const Keten__Envelope__V1__Attributes *ha = h->attributes;

	keten__ledger__v1__attributes__init(a);
	a->handling = (int32_t)h->handling;
	if (ha == NULL)
		return;
	for (size_t i = 0; i < ha->n_exploitation_forms && i < ENV_MAX_FORMS; i++)
		forms[a->n_exploitation_forms++] = (int32_t)ha->exploitation_forms[i];
	a->exploitation_forms = forms;
	a->minor = ha->minor;
	a->region = ha->region;
}

bool
budget_take(struct budget *bg, uint64_t limit, int64_t period_ms, int64_t now)
{
	if (bg->start_ms == 0 || now - bg->start_ms >= period_ms) {
		bg->start_ms = now;
		bg->used = 0;
	}
	if (bg->used < limit) {
		bg->used++;
		return true;
	}
	if (bg->over++ == 0)
		bg->over_ms = now;
	return false;
}

uint64_t
budget_due(struct budget *bg, int64_t period_ms, int64_t now)
{
	uint64_t n = bg->over;

	if (n == 0 || now - bg->over_ms < period_ms)
		return 0;
	bg->over = 0;
	return n;
}

static int64_t
budget_period_ms(const struct broker *b)
{
	return (int64_t)b->cfg->budget_period_s * 1000;
}

/*
 * ZAP refused a connection: remember it for the ledger, at most once a
 * minute per key and address, and at most budget_refusals new entries a
 * period for all of them together (keys cost nothing to make): beyond
 * that the refusals are only counted (events_refusals).
 */
void
events_on_refused(void *arg, const char *key, const char *addr, const char *why)
{
	struct broker *b = arg;
	struct refusal *r = NULL, *oldest = &b->refusals[0];
	int64_t now = mono_ms();

	for (size_t i = 0; i < REFUSALS_TRACKED && r == NULL; i++) {
		struct refusal *x = &b->refusals[i];
		if (x->logged_ms != 0 && strcmp(x->key, key) == 0 && strcmp(x->addr, addr) == 0)
			r = x;
		else if (x->logged_ms < oldest->logged_ms)
			oldest = x;
	}
	if (r != NULL && now - r->logged_ms < 60000) {
		r->since++;
		return;
	}
	if (!budget_take(&b->refusal_budget, b->cfg->budget_refusals, budget_period_ms(b), now))
		return;
	if (r == NULL) {
		r = oldest;	/* a free slot (0) or the longest quiet one */
		memset(r, 0, sizeof(*r));
		snprintf(r->key, sizeof(r->key), "%s", key);
		snprintf(r->addr, sizeof(r->addr), "%s", addr);
	}
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->logged_ms = now;
	r->pending = true;
}

/* One entry for n refusals (or reports) beyond a budget; 1 when written. */
static uint64_t
over_budget_entry(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Kind kind,
    const char *actor, const char *code, const char *reason)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;

	log_warnx("%s: %s", code, reason);
	e.kind = kind;
	e.actor = (char *)actor;
	e.reason_code = (char *)code;
	e.reason = (char *)reason;
	if (kind == KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED)
		e.recipient = (char *)actor;
	return events_entry(b, txn, &e) == 0 ? 1 : 0;
}

/* What went over the budgets, once their period has passed: one entry each. */
static uint64_t
events_over_budget(struct broker *b, MDB_txn *txn)
{
	int64_t now = mono_ms(), period = budget_period_ms(b);
	char reason[300];
	uint64_t n = 0, over;

	if ((over = budget_due(&b->refusal_budget, period, now)) > 0) {
		snprintf(reason, sizeof(reason), "%llu more connections refused, from keys or "
		    "addresses not recorded one by one (budget: %llu entries in %llu s)",
		    (unsigned long long)over, (unsigned long long)b->cfg->budget_refusals,
		    (unsigned long long)b->cfg->budget_period_s);
		n += over_budget_entry(b, txn, KETEN__LEDGER__V1__KIND__KIND_KEY_REFUSED, "broker",
		    "over-budget", reason);
	}
	for (size_t i = 0; i < b->dir->n; i++) {
		struct peer *p = &b->peers[i];
		if ((over = budget_due(&p->reports, period, now)) == 0)
			continue;
		snprintf(reason, sizeof(reason), "%llu more reports from agency %s not recorded one "
		    "by one (budget: %llu entries in %llu s)", (unsigned long long)over,
		    p->agency->id, (unsigned long long)b->cfg->budget_reports,
		    (unsigned long long)b->cfg->budget_period_s);
		n += over_budget_entry(b, txn, KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED,
		    p->agency->id, "over-budget", reason);
	}
	return n;
}

/* The refusals remembered since the last batch, as KEY_REFUSED entries in txn. */
uint64_t
events_refusals(struct broker *b, MDB_txn *txn)
{
	uint64_t n = 0;

	for (size_t i = 0; i < REFUSALS_TRACKED; i++) {
		struct refusal *r = &b->refusals[i];
		Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
		char reason[400];
		if (!r->pending)
			continue;
		r->pending = false;
		if (strcmp(r->key, "-") == 0)
			snprintf(reason, sizeof(reason), "connection from %s refused: %s", r->addr, r->why);
		else
			snprintf(reason, sizeof(reason), "transport key %s from %s %s", r->key, r->addr,
			    r->why);
		if (r->since > 0)
			snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			    " (and %llu more times in the minute before)", (unsigned long long)r->since);
		r->since = 0;
		log_warnx("key-refused: %s", reason);
		e.kind = KETEN__LEDGER__V1__KIND__KIND_KEY_REFUSED;
		e.actor = "broker";
		e.reason_code = "key-refused";
		e.reason = reason;
		if (events_entry(b, txn, &e) == 0)
			n++;
	}
	return n + events_over_budget(b, txn);
}

/* events_entry for the audit spool */
static int
log_spooled(void *arg, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	return events_entry(arg, txn, e);
}

/* A refused submission is logged as carefully as an accepted one. */
void
events_rejection(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Submit *s, const char *code, const char *reason)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	const Keten__Envelope__V1__Header *h = s->header;
	char hex[2 * POLICY_HASHBYTES + 1], type[ENV_NAMEMAX + 1], purpose[ENV_NAMEMAX + 1],
	    basis[ENV_NAMEMAX + 1];

	e.kind = KETEN__LEDGER__V1__KIND__KIND_REJECTED;
	e.actor = (char *)from->id;
	e.sender = (char *)from->id;
	if (h != NULL) {
		/* the header may be refused for its sizes: what is kept of it is bounded */
		if (h->message_id.len == KETEN_UUIDBYTES)
			e.message_id = h->message_id;
		if (h->case_pseudonym.len == ENV_DIGESTBYTES)
			e.case_pseudonym = h->case_pseudonym;
		utf8_cut(type, sizeof(type), h->message_type);
		utf8_cut(purpose, sizeof(purpose), h->purpose);
		utf8_cut(basis, sizeof(basis), h->legal_basis);
		e.message_type = type;
		e.purpose = purpose;
		e.legal_basis = basis;
	}
	policy_hex(b->policy, hex);
	e.policy_version = hex;
	e.reason_code = (char *)code;
	e.reason = (char *)reason;
	if (events_entry(b, txn, &e) != 0)
		log_warnx("cannot log a rejection in the ledger");
}

const char *
events_code_name(int code)
{
	switch (code) {
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED: return "malformed";
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_RECIPIENT: return "unknown-recipient";
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED: return "not-allowed";
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY: return "policy";
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED: return "policy-changed";
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_SIGNATURE: return "signature";
	case KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK: return "clock";
	default: return "error";
	}
}

/* The case of the message a reply answers, if that message went to the replier. */
struct answered {
	const char *replier;
	uint8_t pseudonym[32];
	bool found;
};

static bool
walk_answered(const Keten__Ledger__V1__Entry *e, void *arg)
{
	struct answered *a = arg;

	if (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED || strcmp(e->recipient, a->replier) != 0 ||
	    e->case_pseudonym.len != sizeof(a->pseudonym))
		return false;
	memcpy(a->pseudonym, e->case_pseudonym.data, sizeof(a->pseudonym));
	a->found = true;
	return true;
}

/* One ACCEPTED entry per copy, in the transaction that queues it. */
int
events_accepted(struct broker *b, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, const struct gate_verdict *v, uint64_t *first_seq)
{
	const Keten__Envelope__V1__Header *h = s->header;
	char hex[2 * POLICY_HASHBYTES + 1];
	int rc;

	*first_seq = ledger_size(b->ledger, txn);
	policy_hex(b->policy, hex);
	/* a reply links the replier's case to the case of the message it answers
	 * (only one that was sent to it: no agency links itself to a case it
	 * has not been part of) */
	struct answered ans = { .replier = h->sender };
	if (h->in_reply_to.len == KETEN_UUIDBYTES &&
	    ledger_message_walk(b->ledger, txn, h->in_reply_to.data, walk_answered, &ans) < 0)
		ans.found = false;
	bool link = ans.found && !(h->case_pseudonym.len == 32 &&
	    memcmp(h->case_pseudonym.data, ans.pseudonym, 32) == 0);
	Keten__Ledger__V1__Attributes attrs;
	int32_t forms[ENV_MAX_FORMS];
	entry_attributes(h, &attrs, forms);
	for (size_t i = 0; i < s->n_copies; i++) {
		Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
		const Keten__Wire__V1__Copy *c = s->copies[i];
		char *rules[POLICY_MAX_GRANTING];
		uint8_t cth[32];
		for (size_t k = 0; k < v->dec[i].ngranting; k++)
			rules[k] = (char *)policy_rule_id(b->policy, (size_t)v->dec[i].granting[k]);
		if (pre != NULL && pre->done && pre->s == s)
			memcpy(cth, pre->cth[i], sizeof(cth));
		else
			crypto_hash_sha256(cth, c->payload.data, c->payload.len);
		e.kind = KETEN__LEDGER__V1__KIND__KIND_ACCEPTED;
		e.actor = h->sender;
		e.message_id = h->message_id;
		e.case_pseudonym = h->case_pseudonym;
		e.sender = h->sender;
		e.recipient = c->recipient;
		e.message_type = h->message_type;
		e.purpose = h->purpose;
		e.legal_basis = (char *)(v->dec[i].basis ? v->dec[i].basis : h->legal_basis);
		e.n_rule_ids = v->dec[i].ngranting;
		e.rule_ids = rules;
		e.policy_version = hex;
		e.n_field_paths = c->n_manifest;
		e.field_paths = c->manifest;
		e.ciphertext_hash = (ProtobufCBinaryData){ sizeof(cth), cth };
		e.in_reply_to = h->in_reply_to;
		if (link)
			e.linked_case = (ProtobufCBinaryData){ sizeof(ans.pseudonym), ans.pseudonym };
		e.attributes = &attrs;
		if ((rc = events_append(b, txn, &e)) != 0)	/* txn: the submission's own */
			return rc;
	}
	return 0;
}

int
events_withheld(struct broker *b, MDB_txn *txn, const Keten__Envelope__V1__Header *h,
    Keten__Wire__V1__SourceDecision *const *d, size_t n, uint64_t *first_seq)
{
	bool done[GATE_MAX_DECISIONS] = { false };
	char *paths[GATE_MAX_DECISIONS], reason[200];
	int rc;
	Keten__Ledger__V1__Attributes attrs;
	int32_t forms[ENV_MAX_FORMS];

	entry_attributes(h, &attrs, forms);

	*first_seq = ledger_size(b->ledger, txn);
	for (size_t i = 0; i < n && i < GATE_MAX_DECISIONS; i++) {
		Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
		char *rule = d[i]->rule;
		size_t np = 0;
		if (done[i])
			continue;
		/* one entry per recipient, reason and rule: the paths it withheld */
		for (size_t j = i; j < n && j < GATE_MAX_DECISIONS; j++) {
			if (done[j] || strcmp(d[j]->recipient, d[i]->recipient) != 0 ||
			    strcmp(d[j]->reason, d[i]->reason) != 0 || strcmp(d[j]->rule, rule) != 0)
				continue;
			done[j] = true;
			if (d[j]->path[0] != '\0')
				paths[np++] = d[j]->path;
		}
		if (np == 0)
			snprintf(reason, sizeof(reason), "refused at the source by %s's policy", h->sender);
		else
			snprintf(reason, sizeof(reason), "%zu field%s withheld at the source by %s's "
			    "policy", np, np == 1 ? "" : "s", h->sender);
		e.kind = KETEN__LEDGER__V1__KIND__KIND_WITHHELD;
		e.actor = h->sender;
		e.sender = h->sender;
		e.recipient = d[i]->recipient;
		e.message_id = h->message_id;
		e.case_pseudonym = h->case_pseudonym;
		e.message_type = h->message_type;
		e.purpose = h->purpose;
		e.legal_basis = h->legal_basis;
		e.policy_version = h->policy_version;	/* the sender's policy */
		e.in_reply_to = h->in_reply_to;
		e.n_rule_ids = rule[0] ? 1 : 0;
		e.rule_ids = &rule;
		e.reason_code = d[i]->reason;
		e.reason = reason;
		e.n_field_paths = np;
		e.field_paths = paths;
		e.attributes = &attrs;
		if ((rc = events_append(b, txn, &e)) != 0)
			return rc;
	}
	return 0;
}

/* The broker's own events: policy and directory changes. */
int
events_broker(struct broker *b, Keten__Ledger__V1__Kind kind, const char *reason, uint64_t *seq)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	char hex[2 * POLICY_HASHBYTES + 1];
	MDB_txn *txn;
	int rc;

	if (mdb_txn_begin(b->env, NULL, 0, &txn) != 0) {
		log_warnx("cannot write a %s entry to the ledger", reason);
		return KETEN_EDB;
	}
	policy_hex(b->policy, hex);
	e.kind = kind;
	e.actor = "broker";
	e.policy_version = hex;
	e.reason = (char *)reason;
	if ((rc = events_entry(b, txn, &e)) != 0 ||
	    (rc = ledger_checkpoint(b->ledger, txn, b->keys)) != 0)
		mdb_txn_abort(txn);
	else
		rc = db_err(mdb_txn_commit(txn));	/* frees txn, also when it fails */
	b->ledger_dirty = false;
	if (rc != 0) {
		log_warnx("cannot write a %s entry to the ledger", reason);
		return rc;
	}
	if (seq != NULL)
		*seq = e.seq;
	return 0;
}

/* A copy to `agency` of the walked message, and whether it reported on it already. */
struct report_walk {
	const char *agency;
	bool copy, reported;
};

static bool
walk_report(const Keten__Ledger__V1__Entry *e, void *arg)
{
	struct report_walk *w = arg;

	if (e->recipient == NULL || strcmp(e->recipient, w->agency) != 0)
		return false;
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED)
		w->copy = true;
	else if (e->kind == KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED)
		w->reported = true;
	return false;
}

/*
 * An agent's report (an Error it sent us): a copy it refused, or an alarm.
 * The first report on each copy it was sent is always recorded (the
 * sender's DeliveryQuery answers "refused" from it); any other report takes
 * from the agency's budget_reports, beyond which they are only counted.
 * The reason is cut to REPORT_REASON_MAX bytes.
 */
void
events_violation(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Error *err)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	struct report_walk w = { .agency = from->id };
	char safe[LOG_SAFE_LEN(200)], reason[REPORT_REASON_MAX + 1];

	if (err->message_id.len == KETEN_UUIDBYTES &&
	    ledger_message_walk(b->ledger, txn, err->message_id.data, walk_report, &w) < 0)
		w.copy = false;
	if (!(w.copy && !w.reported) && !budget_take(&session_peer(b, from)->reports,
	    b->cfg->budget_reports, budget_period_ms(b), mono_ms()))
		return;
	log_warnx("agency %s reports error %d: %s", from->id, err->code,
	    log_safe(err->reason, 200, safe, sizeof(safe)));
	utf8_cut(reason, sizeof(reason), err->reason ? err->reason : "");
	e.kind = KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED;
	e.actor = (char *)from->id;
	e.recipient = (char *)from->id;
	e.message_id = err->message_id;
	e.reason = reason;
	events_entry(b, txn, &e);
}

uint64_t
events_spool(struct broker *b, MDB_txn *txn, bool force)
{
	return spool_collect(b->spool, b->ledger, txn, force, log_spooled, b);
}

struct expire_ctx {
	struct broker *b;
	MDB_txn *txn;
};

static void
log_expired(void *arg, const char *recipient, const uint8_t id[static 16], int64_t expires)
{
	struct expire_ctx *x = arg;
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;

	(void)expires;
	e.kind = KETEN__LEDGER__V1__KIND__KIND_EXPIRED;
	e.actor = "broker";
	e.recipient = (char *)recipient;
	e.message_id = (ProtobufCBinaryData){ 16, (uint8_t *)id };
	e.reason = "the retention of the granting rule ended before delivery";
	events_entry(x->b, x->txn, &e);
	metrics_expired(x->b->metrics);
	const struct dir_agency *a = directory_find(x->b->dir, recipient);
	if (a != NULL)
		session_peer(x->b, a)->queued_pending--;
	log_info("a queued copy for %s expired undelivered: its retention ended", recipient);
}

int
events_expire(struct broker *b, MDB_txn *txn)
{
	struct expire_ctx xc = { b, txn };

	return queue_expire(b->queue, txn, now_ms(), 256, log_expired, &xc);
}
