/*
 * The agent's local API, as the REST API (agent/rest.c) and the keten CLI
 * reach it over the control socket: submit (validated, filtered per
 * recipient, sealed, signed and stored in the outbox before the answer),
 * status, inbox and its acknowledgement, explain, metrics.
 */
#include "agent/agent.h"
#include "schemas/ledger.pb-c.h"

/* broker round-trip (submission sent -> acknowledged, with fsync at the broker), seconds */
static const double rtt_le[RTT_BUCKETS] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
	1, 2, 5 };

/* A submission's round trip, if we still know when it was sent. */
void
control_note_rtt(struct agent *a, uint64_t ref)
{
	size_t slot = ref % (sizeof(a->sent_at) / sizeof(a->sent_at[0]));
	size_t b;

	if (a->sent_at[slot].ref != ref || ref == 0)
		return;
	double s = (double)(mono_ms() - a->sent_at[slot].sent_ms) / 1000.0;
	a->sent_at[slot].ref = 0;
	for (b = 0; b < RTT_BUCKETS && s > rtt_le[b]; b++)
		;
	a->rtt_bucket[b]++;
	a->rtt_count++;
	a->rtt_sum += s;
}


static void
control_fail(struct agent *a, const uint8_t *rid, size_t rid_len, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define control_error(a, rid, rid_len, ...) control_fail(a, rid, rid_len, "invalid", __VA_ARGS__)

/* Answer a control request with an error: `code` is invalid, policy, not-found or storage. */
static void
control_fail(struct agent *a, const uint8_t *rid, size_t rid_len, const char *code,
    const char *fmt, ...)
{
	Keten__Local__V1__LocalError e = KETEN__LOCAL__V1__LOCAL_ERROR__INIT;
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	a->api_errors++;
	e.reason = reason;
	e.code = (char *)code;
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_ERROR;
	r.error = &e;
	loop_defer(a, false, rid, rid_len, &r.base);
}

static bool
local_submit_valid(struct agent *a, const uint8_t *rid, size_t rid_len,
    const Keten__Local__V1__LocalSubmit *ls)
{
	if (ls->n_recipients == 0 || ls->n_recipients > 64) {
		control_error(a, rid, rid_len, "need 1 to 64 recipients, got %zu", ls->n_recipients);
		return false;
	}
	for (size_t i = 0; i < ls->n_recipients; i++)
		if (!agency_id_valid(ls->recipients[i])) {
			control_error(a, rid, rid_len, "recipient \"%.64s\" is not a valid agency id",
			    ls->recipients[i]);
			return false;
		}
	if (ls->message_type[0] == '\0' || strlen(ls->message_type) > 128) {
		control_error(a, rid, rid_len, "message type must be 1 to 128 characters");
		return false;
	}
	return true;
}

/*
 * reply_to, answered from our inbox: the request this answers came from the
 * recipient, was of the rule's type, and arrived within the window.
 */
static int
inbox_reply_ok(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	struct agent *a = ((void **)arg)[0];
	MDB_txn *txn = ((void **)arg)[1];
	Keten__Local__V1__InboxItem *it;
	int ok = 0;

	if (rq->in_reply_to == NULL ||
	    (it = store_inbox_find(a->store, txn, rq->in_reply_to)) == NULL)
		return 0;
	const Keten__Wire__V1__Deliver *d = it->message;
	if (d != NULL && d->header != NULL && strcmp(d->header->sender, rq->recipient) == 0 &&
	    strcmp(d->header->message_type, codec_type_name(r->reply_to_type)) == 0 &&
	    rq->now_ms - it->received_ms <= (int64_t)r->reply_within_days * 86400000LL)
		ok = 1;
	keten__local__v1__inbox_item__free_unpacked(it, NULL);
	return ok;
}

/* Volume limits are counted by the broker, which sees every sender's traffic. */
static int
limit_unknown_here(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	(void)arg, (void)rq, (void)r;
	return 1;
}

struct policy_ledger
control_policy_ledger(void *arg[static 2])
{
	return (struct policy_ledger){ inbox_reply_ok, limit_unknown_here, arg };
}

/* ob (refused for every recipient) as a SourceRefusal in the outbox, in a nested transaction. */
static int
refusal_store(struct agent *a, MDB_txn *txn, const struct outbound *ob)
{
	Keten__Wire__V1__SourceRefusal sr;
	MDB_txn *child = NULL;
	int rc;

	if (ob->ndec == 0)
		return KETEN_EINVAL;	/* no recipient the ledger could name */
	outbound_refusal(ob, 0, &sr);
	if ((rc = db_err(mdb_txn_begin(a->env, txn, 0, &child))) != 0)
		return rc;
	if ((rc = store_outbox_put_refusal(a->store, child, &sr, true)) == 0)
		rc = db_err(mdb_txn_commit(child));
	else
		mdb_txn_abort(child);
	return rc;
}

static void
handle_submit(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    Keten__Local__V1__LocalSubmit *ls)
{
	Keten__Local__V1__LocalSubmitted ok = KETEN__LOCAL__V1__LOCAL_SUBMITTED__INIT;
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	void *ledger_arg[2] = { a, txn };
	struct policy_ledger ledger = control_policy_ledger(ledger_arg);
	struct outbound *ob = NULL;
	char err[KETEN_ERRLEN];
	MDB_txn *child = NULL;
	int rc;

	if (!local_submit_valid(a, rid, rid_len, ls))
		return;
	if ((rc = outbound_prepare(a->policy, a->cfg->agency, &ledger, &a->okeys, ls,
	    a->cfg->max_message_bytes, NULL, &ob, err)) != 0) {
		if (rc == KETEN_EPERM) {
			/* the refusal is a decision too: the broker's ledger records it
			 * (sent from the outbox like a submission, exactly once) */
			char ids[KETEN_UUIDSTRLEN];
			uuid_format(ids, ob->id);
			if (refusal_store(a, txn, ob) == 0)
				control_fail(a, rid, rid_len, "policy", "not sent: policy %s lets no "
				    "recipient have this message (%s); the refusal goes into the ledger as "
				    "message %s", policy_version(a->policy), err, ids);
			else
				control_fail(a, rid, rid_len, "policy", "not sent: policy %s lets no "
				    "recipient have this message (%s)", policy_version(a->policy), err);
		} else {
			control_error(a, rid, rid_len, "%s", err);
		}
		outbound_free(&ob);
		return;
	}
	if ((rc = mdb_txn_begin(a->env, txn, 0, &child)) == 0) {
		if ((rc = store_outbox_add(a->store, child, &ob->submit, ls)) == 0)
			rc = db_err(mdb_txn_commit(child));
		else
			mdb_txn_abort(child);
	} else {
		rc = db_err(rc);
	}
	if (rc != 0) {
		control_fail(a, rid, rid_len, "storage", "not accepted: agent storage %s",
		    rc == KETEN_EFULL ? "full (raise map_size_mb)" : "error");
		outbound_free(&ob);
		return;
	}
	a->submitted++;
	a->withheld_fields += ob->nwithheld;
	ok.message_id = ob->submit.header->message_id;
	ok.n_withheld = ob->nwithheld;
	ok.withheld = ob->withheld;
	ok.n_recipients = ob->nrecipients;
	ok.recipients = ob->recipients;
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_SUBMITTED;
	r.submitted = &ok;
	loop_defer(a, false, rid, rid_len, &r.base);
	outbound_free(&ob);
}

/* Answer a status request: the outbox and sent records, receipts, and the copies' states (ds). */
static void
status_reply(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const uint8_t id[static KETEN_UUIDBYTES], const Keten__Wire__V1__DeliveryStatus *ds)
{
	Keten__Local__V1__StatusReply st = KETEN__LOCAL__V1__STATUS_REPLY__INIT;
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	enum sent_status status;
	char reason[300] = "";
	Keten__Wire__V1__SubmitAck *ack = NULL;
	char lines[GATE_RECEIPTS][320], *lp[GATE_RECEIPTS], *proofs[GATE_RECEIPTS];

	if (store_sent_get(a->store, txn, id, &status, &st.time_ms, reason, sizeof(reason)) == 0) {
		st.state = status == SENT_ACCEPTED ? "accepted" : "rejected";
		st.reason = reason;
		ack = store_receipts_get(a->store, txn, id);
		for (size_t i = 0; ack && i < ack->n_receipts && i < GATE_RECEIPTS; i++) {
			char err[KETEN_ERRLEN], d[256];
			receipt_describe(ack->receipts[i], d, sizeof(d));
			int ok = a->have_broker_sign_pk && receipt_verify(ack->receipts[i],
			    a->broker_sign_pk, a->cfg->agency, id, &a->checkpoint_memo, err) == 0;
			snprintf(lines[i], sizeof(lines[i]), "%s: %s", d, ok ? "inclusion verified" :
			    a->have_broker_sign_pk ? "DOES NOT VERIFY" : "not checked (no broker_signing_key)");
			lp[st.n_receipts++] = lines[i];
			if ((proofs[st.n_proofs] = receipt_proof_text(ack->receipts[i])) != NULL)
				st.n_proofs++;
		}
		st.receipts = lp;
		st.proofs = proofs;
		if (ds != NULL) {
			st.n_copies = ds->n_copies;
			st.copies = ds->copies;
		}
	} else if (store_outbox_has(a->store, txn, id)) {
		st.state = "queued";
	} else {
		st.state = "unknown";
	}
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_STATUS;
	r.status = &st;
	loop_defer(a, false, rid, rid_len, &r.base);
	for (size_t i = 0; i < st.n_proofs; i++)
		free(proofs[i]);
	if (ack)
		keten__wire__v1__submit_ack__free_unpacked(ack, NULL);
}

/* Hold a request until its event (control_wake).  false: no room, answer now. */
static bool
wait_add(struct agent *a, bool inbox, const uint8_t *rid, size_t rid_len,
    const uint8_t *id, const Keten__Local__V1__InboxList *il, uint32_t wait_ms)
{
	if (rid_len > RID_MAX)
		return false;
	for (size_t i = 0; i < LOCAL_WAITERS; i++) {
		struct local_waiter *w = &a->waiters[i];
		if (w->used)
			continue;
		memset(w, 0, sizeof(*w));
		w->used = true;
		w->inbox = inbox;
		memcpy(w->rid, rid, rid_len);
		w->rid_len = rid_len;
		if (id != NULL)
			memcpy(w->id, id, KETEN_UUIDBYTES);
		if (il != NULL) {
			w->after = il->after;
			w->limit = il->limit;
			w->unacked_only = il->unacked_only;
		}
		w->deadline_ms = mono_ms() + (wait_ms > LOCAL_WAIT_MAX_MS ? LOCAL_WAIT_MAX_MS : wait_ms);
		return true;
	}
	return false;
}

/* An inbox page after `after` (at most limit, 1000), as the reply to rid. */
static void
inbox_reply(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len, uint64_t after,
    uint32_t limit, bool unacked_only)
{
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	Keten__Local__V1__InboxPage page;

	if (limit == 0)
		limit = 100;
	if (limit > 1000)
		limit = 1000;
	if (store_inbox_list(a->store, txn, after, limit, unacked_only, &page) != 0) {
		store_inbox_page_free(&page);
		control_error(a, rid, rid_len, "cannot read the inbox");
		return;
	}
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX;
	r.inbox = &page;
	loop_defer(a, false, rid, rid_len, &r.base);
	store_inbox_page_free(&page);
}

static void handle_status(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const Keten__Local__V1__StatusQuery *q);

/*
 * The copies' states as an acknowledgement gives them: each receipt is the
 * ACCEPTED entry of one copy, so at this moment each is accepted.  The
 * broker's DeliveryStatus is not asked (one more round trip through its
 * commit): a status asked later is.  0 copies when the entries do not unpack.
 */
static size_t
copies_from_ack(const Keten__Wire__V1__SubmitAck *ack, Keten__Wire__V1__CopyState *cs,
    Keten__Wire__V1__CopyState **cp, Keten__Ledger__V1__Entry **entries, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ack->n_receipts && n < max; i++) {
		Keten__Ledger__V1__Entry *e = keten__ledger__v1__entry__unpack(NULL,
		    ack->receipts[i]->entry.len, ack->receipts[i]->entry.data);
		if (e == NULL || e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED) {
			if (e != NULL)
				keten__ledger__v1__entry__free_unpacked(e, NULL);
			continue;
		}
		keten__wire__v1__copy_state__init(&cs[n]);
		cs[n].recipient = e->recipient;
		cs[n].state = "accepted";
		cs[n].time_ms = e->time_ms;
		cp[n] = &cs[n];
		entries[n++] = e;
	}
	return n;
}

void
control_wake(struct agent *a, MDB_txn *txn, const uint8_t *id, bool expired, int64_t now,
    const Keten__Wire__V1__SubmitAck *ack)
{
	for (size_t i = 0; i < LOCAL_WAITERS; i++) {
		struct local_waiter *w = &a->waiters[i];
		if (!w->used)
			continue;
		if (expired ? now < w->deadline_ms : id != NULL ? w->inbox ||
		    memcmp(w->id, id, KETEN_UUIDBYTES) != 0 : !w->inbox)
			continue;
		w->used = false;
		if (w->inbox) {
			inbox_reply(a, txn, w->rid, w->rid_len, w->after, w->limit, w->unacked_only);
		} else if (ack != NULL && ack->n_receipts > 0) {
			Keten__Wire__V1__DeliveryStatus ds = KETEN__WIRE__V1__DELIVERY_STATUS__INIT;
			Keten__Wire__V1__CopyState cs[GATE_RECEIPTS], *cp[GATE_RECEIPTS];
			Keten__Ledger__V1__Entry *entries[GATE_RECEIPTS];
			ds.message_id = ack->message_id;
			ds.n_copies = copies_from_ack(ack, cs, cp, entries, GATE_RECEIPTS);
			ds.copies = cp;
			/* at once, not after our commit: the broker's acknowledgement is
			 * the fact (its receipts prove it), our record of it is not; were
			 * it lost, the outbox sends again and the broker says duplicate */
			a->reply_now = true;
			status_reply(a, txn, w->rid, w->rid_len, w->id, ds.n_copies ? &ds : NULL);
			a->reply_now = false;
			for (size_t k = 0; k < ds.n_copies; k++)
				keten__ledger__v1__entry__free_unpacked(entries[k], NULL);
		} else {
			Keten__Local__V1__StatusQuery q = KETEN__LOCAL__V1__STATUS_QUERY__INIT;
			q.message_id = (ProtobufCBinaryData){ KETEN_UUIDBYTES, w->id };
			handle_status(a, txn, w->rid, w->rid_len, &q);
		}
	}
}

/*
 * A status request.  For an accepted message the broker is asked what became
 * of each copy (its ledger knows); the answer goes out when the broker's
 * arrives, or without it after DELIVERY_WAIT_MS.
 */
static void
handle_status(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const Keten__Local__V1__StatusQuery *q)
{
	enum sent_status status;
	int64_t t;
	char reason[8];

	if (q->message_id.len != KETEN_UUIDBYTES || rid_len > RID_MAX) {
		control_error(a, rid, rid_len, "status: a message id is 16 bytes");
		return;
	}
	bool decided = store_sent_get(a->store, txn, q->message_id.data, &status, &t, reason,
	    sizeof(reason)) == 0;
	/* queued, and the caller waits: answered when the broker decides (control_wake) */
	if (q->wait_ms > 0 && !decided && store_outbox_has(a->store, txn, q->message_id.data) &&
	    wait_add(a, false, rid, rid_len, q->message_id.data, NULL, q->wait_ms))
		return;
	if (a->ready && decided && status == SENT_ACCEPTED) {
		for (size_t i = 0; i < DELIVERY_QUERIES; i++) {
			struct delivery_query *dq = &a->dq[i];
			if (dq->used)
				continue;
			Keten__Wire__V1__DeliveryQuery dqm = KETEN__WIRE__V1__DELIVERY_QUERY__INIT;
			Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
			dq->used = true;
			memcpy(dq->rid, rid, rid_len);
			dq->rid_len = rid_len;
			memcpy(dq->id, q->message_id.data, KETEN_UUIDBYTES);
			dq->deadline_ms = mono_ms() + DELIVERY_WAIT_MS;
			dqm.message_id = q->message_id;
			c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_QUERY;
			c.delivery_query = &dqm;
			loop_defer(a, true, NULL, 0, &c.base);
			return;
		}
	}
	status_reply(a, txn, rid, rid_len, q->message_id.data, NULL);
}

/* The broker's answer, or the end of the wait: answer the status requests waiting for it. */
void
control_delivery_answered(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__DeliveryStatus *ds,
    int64_t now)
{
	for (size_t i = 0; i < DELIVERY_QUERIES; i++) {
		struct delivery_query *dq = &a->dq[i];
		if (!dq->used || (ds != NULL ? ds->message_id.len != KETEN_UUIDBYTES ||
		    memcmp(ds->message_id.data, dq->id, KETEN_UUIDBYTES) != 0 : now < dq->deadline_ms))
			continue;
		status_reply(a, txn, dq->rid, dq->rid_len, dq->id, ds);
		dq->used = false;
	}
}

static void
handle_inbox_get(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const ProtobufCBinaryData *id)
{
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	Keten__Local__V1__InboxPage page = KETEN__LOCAL__V1__INBOX_PAGE__INIT;
	Keten__Local__V1__InboxItem *it;

	if (id->len != KETEN_UUIDBYTES) {
		control_error(a, rid, rid_len, "a message id is 16 bytes");
		return;
	}
	if ((it = store_inbox_find(a->store, txn, id->data)) == NULL) {
		control_fail(a, rid, rid_len, "not-found", "no message with this id in the inbox");
		return;
	}
	page.n_items = 1;
	page.items = &it;
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX;
	r.inbox = &page;
	loop_defer(a, false, rid, rid_len, &r.base);
	keten__local__v1__inbox_item__free_unpacked(it, NULL);
}

static void
handle_inbox_ack(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const ProtobufCBinaryData *id)
{
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	Keten__Local__V1__InboxAcked ok = KETEN__LOCAL__V1__INBOX_ACKED__INIT;
	bool already = false;
	int rc;

	if (id->len != KETEN_UUIDBYTES) {
		control_error(a, rid, rid_len, "a message id is 16 bytes");
		return;
	}
	if ((rc = store_inbox_ack(a->store, txn, id->data, now_ms(), &ok.acked_ms, &already)) != 0) {
		if (rc == KETEN_ENOTFOUND)
			control_fail(a, rid, rid_len, "not-found", "no message with this id in the inbox");
		else
			control_fail(a, rid, rid_len, "storage", "cannot record the acknowledgement: %s",
			    keten_strerror(rc));
		return;
	}
	ok.already = already;
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_ACKED;
	r.acked = &ok;
	loop_defer(a, false, rid, rid_len, &r.base);	/* after the commit that holds it */
}

/* What our policy lets this agency send `recipient`: fields, rules, and why the rest not. */
static void
handle_explain(struct agent *a, const uint8_t *rid, size_t rid_len, const Keten__Local__V1__Explain *x)
{
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	Keten__Local__V1__ExplainReply er = KETEN__LOCAL__V1__EXPLAIN_REPLY__INIT;
	const struct codec_type *t = codec_type_find(x->message_type);
	struct policy_decision d;

	if (t == NULL) {
		control_error(a, rid, rid_len, "unknown message type \"%.128s\" (see GET /v1/schemas)",
		    x->message_type);
		return;
	}
	if (!agency_id_valid(x->recipient) || x->purpose[0] == '\0') {
		control_error(a, rid, rid_len, "explain needs a valid recipient and a purpose");
		return;
	}
	struct policy_request rq = {
		.sender = a->cfg->agency, .recipient = x->recipient, .type = t,
		.purpose = x->purpose, .basis = x->legal_basis[0] ? x->legal_basis : NULL,
		.now_ms = now_ms(),
	};
	policy_eval(a->policy, &rq, NULL, &d);
	size_t np = codec_type_npaths(t), na = 0, nw = 0;
	char **allowed = calloc(np ? np : 1, sizeof(*allowed));
	char **rules = calloc(d.ngranting ? d.ngranting : 1, sizeof(*rules));
	Keten__Local__V1__Withheld *wh = calloc(np ? np : 1, sizeof(*wh));
	Keten__Local__V1__Withheld **whp = calloc(np ? np : 1, sizeof(*whp));
	if (allowed == NULL || rules == NULL || wh == NULL || whp == NULL) {
		control_fail(a, rid, rid_len, "storage", "out of memory");
		goto out;
	}
	er.permitted = d.permitted;
	if (!d.permitted) {
		er.reason = (char *)policy_reason_name(d.reason);
		er.reason_rule = d.reason_rule >= 0 ? (char *)policy_rule_id(a->policy,
		    (size_t)d.reason_rule) : "";
	}
	for (size_t i = 0; i < d.ngranting; i++)
		rules[i] = (char *)policy_rule_id(a->policy, (size_t)d.granting[i]);
	for (size_t i = 0; i < np; i++) {
		if (d.permitted && codec_pathset_has(&d.allowed, i)) {
			allowed[na++] = (char *)codec_type_path(t, i);
			continue;
		}
		int rule = -1;
		enum policy_reason why = d.permitted ? policy_why_withheld(a->policy, &rq, NULL, &d, i,
		    &rule) : d.reason;
		if (!d.permitted)
			rule = d.reason_rule;
		keten__local__v1__withheld__init(&wh[nw]);
		wh[nw].recipient = x->recipient;
		wh[nw].path = (char *)codec_type_path(t, i);
		wh[nw].reason = (char *)policy_reason_name(why);
		wh[nw].rule = rule >= 0 ? (char *)policy_rule_id(a->policy, (size_t)rule) : "";
		whp[nw] = &wh[nw];
		nw++;
	}
	er.n_rules = d.ngranting;
	er.rules = rules;
	er.n_allowed = na;
	er.allowed = allowed;
	er.n_withheld = nw;
	er.withheld = whp;
	er.policy_version = (char *)policy_version(a->policy);
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_EXPLAIN;
	r.explain = &er;
	loop_defer(a, false, rid, rid_len, &r.base);
out:
	free(allowed);
	free(rules);
	free(wh);
	free(whp);
}

/* The agent's counters in the Prometheus text exposition format (0.0.4). */
static void
handle_metrics(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len)
{
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	Keten__Local__V1__MetricsText mt = KETEN__LOCAL__V1__METRICS_TEXT__INIT;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL) {
		control_fail(a, rid, rid_len, "storage", "out of memory");
		return;
	}
#define COUNTER(name, help, v) fprintf(f, "# HELP " name " " help "\n# TYPE " name \
	" counter\n" name " %llu\n", (unsigned long long)(v))
#define GAUGE(name, help, v) fprintf(f, "# HELP " name " " help "\n# TYPE " name \
	" gauge\n" name " %llu\n", (unsigned long long)(v))
	COUNTER("keten_agent_submitted_total", "Messages the partner system submitted and the agent "
	    "stored in its outbox.", a->submitted);
	COUNTER("keten_agent_withheld_fields_total", "Field paths withheld by policy, summed over "
	    "recipients of submitted messages.", a->withheld_fields);
	COUNTER("keten_agent_accepted_total", "Submissions the broker accepted (logged and "
	    "committed).", a->acked);
	fprintf(f, "# HELP keten_agent_rejected_total Submissions the broker rejected, by reason.\n"
	    "# TYPE keten_agent_rejected_total counter\n");
	for (size_t i = 0; i < 32; i++) {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
		    &keten__wire__v1__error_code__descriptor, (int)i);
		if (ev == NULL || i == 0)
			continue;
		char reason[48];
		snprintf(reason, sizeof(reason), "%s", ev->name + strlen("ERROR_CODE_"));
		for (char *c = reason; *c; c++)
			*c = *c == '_' ? '-' : (char)(*c | 0x20);
		fprintf(f, "keten_agent_rejected_total{reason=\"%s\"} %llu\n", reason,
		    (unsigned long long)a->rejected_by[i]);
	}
	COUNTER("keten_agent_source_refusals_total", "Messages the policy let no recipient have, "
	    "logged in the broker's ledger as refused at the source.", a->source_refusals);
	COUNTER("keten_agent_received_total", "Messages received into the inbox.", a->received);
	COUNTER("keten_agent_duplicates_total", "Deliveries already in the inbox.", a->dups);
	COUNTER("keten_agent_refused_total", "Deliveries refused by this agent's checks.", a->refused);
	COUNTER("keten_agent_trust_alarms_total", "Policy or directory updates from the broker "
	    "refused: not approved by the partners, or older than ours (docs/trust.md).",
	    a->trust_alarms);
	COUNTER("keten_agent_views_behind_total", "Messages from partners that work from a newer "
	    "directory or policy than this agent (docs/trust.md).", a->views_behind);
	COUNTER("keten_agent_api_errors_total", "Requests answered with an error.", a->api_errors);
	GAUGE("keten_agent_inbox_depth", "Inbox messages the partner system has not acknowledged.",
	    store_inbox_unacked(a->store, txn));
	GAUGE("keten_agent_outbox_depth", "Submissions not yet acknowledged by the broker.",
	    store_outbox_depth(a->store, txn));
	GAUGE("keten_agent_broker_refuses_us", "1 while the broker refuses this agency (revoked, "
	    "or outside its validity window in the broker's directory).", a->refused_backoff_ms != 0);
	GAUGE("keten_agent_broker_connected", "1 while a session with the broker is established.",
	    a->ready ? 1 : 0);
	fprintf(f, "# HELP keten_agent_broker_roundtrip_seconds Submission sent to the broker until "
	    "its acknowledgement (after the broker's fsync'd commit).\n"
	    "# TYPE keten_agent_broker_roundtrip_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t i = 0; i < RTT_BUCKETS; i++) {
		cum += a->rtt_bucket[i];
		fprintf(f, "keten_agent_broker_roundtrip_seconds_bucket{le=\"%g\"} %llu\n", rtt_le[i],
		    (unsigned long long)cum);
	}
	fprintf(f, "keten_agent_broker_roundtrip_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "keten_agent_broker_roundtrip_seconds_sum %.6f\n"
	    "keten_agent_broker_roundtrip_seconds_count %llu\n",
	    (unsigned long long)a->rtt_count, a->rtt_sum, (unsigned long long)a->rtt_count);
#undef COUNTER
#undef GAUGE
	fclose(f);
	mt.text = buf;
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_METRICS;
	r.metrics = &mt;
	loop_defer(a, false, rid, rid_len, &r.base);
	free(buf);
}

/* One outbox entry for the listing (packed Command: a submission or a refusal). */
struct outbox_walk {
	Keten__Local__V1__OutboxItem *items, **ptrs;
	Keten__Wire__V1__Command **cmds;
	size_t n, limit;
};

static int
outbox_one(void *arg, uint64_t ref, const void *frame, size_t len)
{
	struct outbox_walk *w = arg;
	Keten__Wire__V1__Command *c = keten__wire__v1__command__unpack(NULL, len, frame);
	const Keten__Envelope__V1__Header *h = NULL;
	Keten__Local__V1__OutboxItem *it = &w->items[w->n];

	if (c == NULL)
		return 0;
	if (c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT)
		h = c->submit->header;
	else if (c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL)
		h = c->source_refusal->header;
	if (h == NULL) {
		keten__wire__v1__command__free_unpacked(c, NULL);
		return 0;
	}
	keten__local__v1__outbox_item__init(it);
	it->ref = ref;
	it->message_id = h->message_id;
	it->kind = c->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT ? "submission" : "refusal";
	it->message_type = h->message_type;
	it->n_recipients = h->n_recipients;
	it->recipients = h->recipients;
	it->created_ms = h->created_ms;
	it->purpose = h->purpose;
	w->ptrs[w->n] = it;
	w->cmds[w->n++] = c;	/* the item points into it: freed after the reply */
	return w->n >= w->limit;
}

static void
handle_outbox(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const Keten__Local__V1__OutboxList *q)
{
	Keten__Local__V1__OutboxPage page = KETEN__LOCAL__V1__OUTBOX_PAGE__INIT;
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	struct outbox_walk w = { .limit = q->limit == 0 ? 100 : q->limit > 1000 ? 1000 : q->limit };
	bool exhausted;
	char why[200];

	w.items = calloc(w.limit, sizeof(*w.items));
	w.ptrs = calloc(w.limit, sizeof(*w.ptrs));
	w.cmds = calloc(w.limit, sizeof(*w.cmds));
	if (w.items == NULL || w.ptrs == NULL || w.cmds == NULL) {
		control_error(a, rid, rid_len, "out of memory");
		goto out;
	}
	store_outbox_scan(a->store, txn, 0, outbox_one, &w, &exhausted);
	page.n_items = w.n;
	page.items = w.ptrs;
	page.depth = store_outbox_depth(a->store, txn);
	if (a->refused_backoff_ms != 0)
		snprintf(why, sizeof(why), "the broker refuses this agency (revoked, or outside its "
		    "validity window): asking again every %lld s", (long long)(a->refused_backoff_ms / 1000));
	else if (!a->ready)
		snprintf(why, sizeof(why), "no session with the broker (not reachable, or restarting)");
	else if (page.depth > 0 && a->inflight > 0)
		snprintf(why, sizeof(why), "sent, waiting for the broker's acknowledgement (%llu in "
		    "flight)", (unsigned long long)a->inflight);
	else if (page.depth > 0)
		snprintf(why, sizeof(why), "queued, to be sent in the next round");
	else
		snprintf(why, sizeof(why), "nothing");
	page.waiting_for = why;
	r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_OUTBOX;
	r.outbox = &page;
	loop_defer(a, false, rid, rid_len, &r.base);
out:
	for (size_t i = 0; i < w.n; i++)
		keten__wire__v1__command__free_unpacked(w.cmds[i], NULL);
	free(w.items);
	free(w.ptrs);
	free(w.cmds);
}

static void
handle_control(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const void *data, size_t len)
{
	Keten__Local__V1__LocalRequest *req;

	if ((req = keten__local__v1__local_request__unpack(NULL, len, data)) == NULL) {
		control_error(a, rid, rid_len, "malformed request");
		return;
	}
	switch (req->req_case) {
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_SUBMIT:
		handle_submit(a, txn, rid, rid_len, req->submit);
		break;
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_STATUS:
		handle_status(a, txn, rid, rid_len, req->status);
		break;
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX: {
		const Keten__Local__V1__InboxList *il = req->inbox;
		Keten__Local__V1__InboxPage page;
		/* nothing to list and the caller waits: answered when a message arrives */
		if (il->wait_ms > 0 && store_inbox_list(a->store, txn, il->after, 1, il->unacked_only,
		    &page) == 0 && page.n_items == 0 && wait_add(a, true, rid, rid_len, NULL, il,
		    il->wait_ms)) {
			store_inbox_page_free(&page);
			break;
		}
		if (il->wait_ms > 0)
			store_inbox_page_free(&page);
		inbox_reply(a, txn, rid, rid_len, il->after, il->limit, il->unacked_only);
		break;
	}
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX_GET:
		handle_inbox_get(a, txn, rid, rid_len, &req->inbox_get->message_id);
		break;
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX_ACK:
		handle_inbox_ack(a, txn, rid, rid_len, &req->inbox_ack->message_id);
		break;
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_EXPLAIN:
		handle_explain(a, rid, rid_len, req->explain);
		break;
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_METRICS:
		handle_metrics(a, txn, rid, rid_len);
		break;
	case KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_OUTBOX:
		handle_outbox(a, txn, rid, rid_len, req->outbox);
		break;
	default:
		control_error(a, rid, rid_len, "unknown request");
		break;
	}
	keten__local__v1__local_request__free_unpacked(req, NULL);
}

/* Receive one control request (routing id + one frame).  1 if handled. */
int
control_receive(struct agent *a, MDB_txn *txn)
{
	uint8_t rid[RID_MAX];
	zmq_msg_t body;
	int ridlen, more = 0;
	size_t ml = sizeof(more);

	if ((ridlen = zmq_recv(a->control, rid, sizeof(rid), ZMQ_DONTWAIT)) < 0)
		return 0;
	if ((size_t)ridlen > sizeof(rid))
		ridlen = sizeof(rid);
	zmq_msg_init(&body);
	zmq_msg_recv(&body, a->control, 0);
	zmq_getsockopt(a->control, ZMQ_RCVMORE, &more, &ml);
	if (more) {
		while (more) {
			zmq_msg_t x;
			zmq_msg_init(&x);
			zmq_msg_recv(&x, a->control, 0);
			zmq_msg_close(&x);
			zmq_getsockopt(a->control, ZMQ_RCVMORE, &more, &ml);
		}
		control_error(a, rid, (size_t)ridlen, "expected one frame per request");
	} else {
		handle_control(a, txn, rid, (size_t)ridlen, zmq_msg_data(&body), zmq_msg_size(&body));
	}
	zmq_msg_close(&body);
	return 1;
}
