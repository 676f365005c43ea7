/*
 * The agent's side of the broker protocol (docs/protocol.md): the session
 * (Hello, heartbeats, the broker's restarts), one function per command the
 * broker sends, and the pump that sends the outbox in order within the
 * window.
 */
#include "agent/agent.h"
#include "common/version.h"

static void
new_session(struct agent *a, const char *why)
{
	log_info("session with the broker %s; resending %s", why,
	    a->inflight ? "unacknowledged submissions" : "the outbox");
	a->ready = true;
	/* the broker sends its policy right after its Hello: wait for it */
	a->policy_synced = !a->cfg->policy_updates;
	a->cursor = 0;
	a->inflight = 0;
	a->progress_ms = mono_ms();
}

static void
note_instance(struct agent *a, const ProtobufCBinaryData *inst)
{
	if (inst->len != KETEN_INSTANCEBYTES)
		return;
	if (a->have_broker_instance && memcmp(a->broker_instance, inst->data, inst->len) != 0) {
		/* The broker restarted: what we sent may be lost in its old pipes. */
		log_info("broker restarted");
		a->ready = false;
		a->next_hello_ms = 0;
	}
}

/*
 * The recipient checks what it receives against the schema and the policy it
 * holds: a sender agent filters and validates before sending, so a failing
 * delivery means a faulty or hostile sender (or a policy mismatch).  It is
 * refused, logged and reported to the broker.
 */
static bool
delivery_valid(struct agent *a, Keten__Wire__V1__Deliver *d)
{
	char err[KETEN_ERRLEN], ids[KETEN_UUIDSTRLEN];

	if (inbound_check(a->policy, a->cfg->agency, &a->okeys, d, now_ms(), err) == 0)
		return true;
	uuid_format(ids, d->header->message_id.data);
	log_warnx("delivery %s from %.64s refused: %s", ids, d->header->sender, err);
	a->refused++;

	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	char reason[KETEN_ERRLEN + 128];
	snprintf(reason, sizeof(reason), "delivery %s refused by the recipient: %.400s", ids, err);
	e.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED;
	e.reason = reason;
	e.message_id = d->header->message_id;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	loop_defer(a, true, NULL, 0, &c.base);
	return false;
}

static void
on_hello(struct agent *a, const Keten__Wire__V1__Hello *h)
{
	if (a->refused_backoff_ms != 0) {
		log_info("the broker accepts this agency again");
		a->refused_backoff_ms = 0;
	}
	if (h->instance.len == KETEN_INSTANCEBYTES) {
		memcpy(a->broker_instance, h->instance.data, KETEN_INSTANCEBYTES);
		a->have_broker_instance = true;
	}
	new_session(a, "established");
}

/* The broker accepted a submission: done in the outbox, its receipts checked and kept. */
static void
on_submit_ack(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__SubmitAck *ack)
{
	int rc;

	if (ack->message_id.len != 16)
		return;
	/* what the entry is, we know ourselves: the broker's word cannot turn a
	 * submission into a refusal (and so drop it) or the other way round */
	bool refusal = false;
	if (store_outbox_is_refusal(a->store, txn, ack->ref, &refusal) == 0 &&
	    refusal != ack->source_refusal) {
		char ids[KETEN_UUIDSTRLEN];
		uuid_format(ids, ack->message_id.data);
		log_warnx("the broker acknowledges %s as a %s, but we sent a %s: the broker "
		    "misbehaves; taken as what we sent", ids, ack->source_refusal ? "refusal" :
		    "submission", refusal ? "refusal" : "submission");
	}
	/* a refusal at the source, now in the ledger: the message was not sent */
	rc = store_outbox_done(a->store, txn, ack->ref, ack->message_id.data, refusal ?
	    SENT_REJECTED : SENT_ACCEPTED, refusal ? "refused at the source by our policy (no "
	    "recipient may have it); the refusal is in the broker's ledger" : NULL);
	if (rc == 0 && ack->n_receipts > 0) {
		/* the broker's proof that it logged the acceptance: check and keep it */
		char err[KETEN_ERRLEN], ids[KETEN_UUIDSTRLEN];
		uuid_format(ids, ack->message_id.data);
		for (size_t i = 0; i < ack->n_receipts && a->have_broker_sign_pk; i++)
			if (receipt_verify(ack->receipts[i], a->broker_sign_pk, a->cfg->agency,
			    ack->message_id.data, &a->checkpoint_memo, err) != 0)
				log_warnx("RECEIPT FOR %s DOES NOT VERIFY, the broker misbehaves: %s",
				    ids, err);
		store_receipts_put(a->store, txn, ack);
	}
	if (rc == 0) {
		if (refusal)
			a->source_refusals++;	/* logged, not accepted: nothing to deliver */
		else
			a->acked++;
		control_note_rtt(a, ack->ref);
		if (a->inflight)
			a->inflight--;
		a->progress_ms = mono_ms();
		control_wake(a, txn, ack->message_id.data, false, 0, refusal ? NULL : ack);	/* who waits for it */
	}
}

/*
 * The sender's view against ours (agent/inbound.h): a fork is an alarm; a
 * sender ahead of us is a warning (the broker has not sent us its version,
 * or not yet), counted for /metrics.
 */
static void
compare_views(struct agent *a, const Keten__Envelope__V1__Header *h)
{
	char why[KETEN_ERRLEN], hash[2 * POLICY_HASHBYTES + 1];
	int rc;

	policy_hash_hex(a->policy, hash);
	rc = inbound_view_check(&a->view, hash, h->view, h->policy_version, h->sender, why);
	if (rc == 1) {
		sync_alarm(a, "%s", why);
	} else if (rc == 2) {
		a->views_behind++;
		log_warnx("%s", why);
	}
}

/*
 * A copy for us: checked, stored in the inbox in a nested transaction, and
 * acknowledged once the batch is committed.  A copy refused for good is
 * acknowledged too, so it leaves the broker's queue; one not stored is not,
 * so the broker delivers it again.
 */
static void
on_deliver(struct agent *a, MDB_txn *txn, Keten__Wire__V1__Deliver *d)
{
	Keten__Wire__V1__DeliverAck ack = KETEN__WIRE__V1__DELIVER_ACK__INIT;
	Keten__Wire__V1__Command out = KETEN__WIRE__V1__COMMAND__INIT;
	MDB_txn *child = NULL;
	bool dup = false;
	int rc;

	if (d->header == NULL || d->header->message_id.len != 16) {
		log_warnx("delivery with a malformed header ignored");
		return;
	}
	if (delivery_valid(a, d)) {
		compare_views(a, d->header);
		if ((rc = mdb_txn_begin(a->env, txn, 0, &child)) == 0) {
			if ((rc = store_inbox_put(a->store, child, d, &dup)) == 0)
				rc = db_err(mdb_txn_commit(child));
			else
				mdb_txn_abort(child);
		} else {
			rc = db_err(rc);
		}
		if (rc != 0) {
			log_warnx("cannot store a delivery: %s", rc == KETEN_EFULL ?
			    "inbox storage full (raise map_size_mb)" : keten_strerror(rc));
			return;
		}
		if (dup) {
			a->dups++;
		} else {
			a->received++;
			control_wake(a, txn, NULL, false, 0, NULL);	/* inbox lists that wait */
		}
	}
	ack.message_id = d->header->message_id;
	ack.seq = d->seq;
	out.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK;
	out.deliver_ack = &ack;
	loop_defer(a, true, NULL, 0, &out.base);
}


/* Start again: a new session (Hello now, or after `after_ms`) that resends the outbox in order. */
static void
restart_session(struct agent *a, int64_t after_ms)
{
	a->ready = false;
	a->policy_synced = false;
	a->next_hello_ms = after_ms ? mono_ms() + after_ms : 0;
	a->cursor = 0;
	a->inflight = 0;
}

/* Our submission ref was rejected for good: done in the outbox with the reason. */
static void
rejected(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__Error *e)
{
	char ids[KETEN_UUIDSTRLEN];

	uuid_format(ids, e->message_id.data);
	if (store_outbox_done(a->store, txn, e->ref, e->message_id.data, SENT_REJECTED,
	    e->reason) == 0) {
		a->rejected++;
		a->rejected_by[(unsigned)e->code < 32 ? e->code : 0]++;
		control_note_rtt(a, e->ref);
		control_wake(a, txn, e->message_id.data, false, 0, NULL);
		if (a->inflight)
			a->inflight--;
		char safe[LOG_SAFE_LEN(300)];
		log_warnx("message %s rejected by the broker: %s", ids,
		    log_safe(e->reason, 300, safe, sizeof(safe)));
	}
}

static void
on_error(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__Error *e)
{
	bool retry = e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE ||
	    e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED;
	bool changed = e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED &&
	    e->ref != 0;
	char safe[LOG_SAFE_LEN(300)];	/* the broker's words, for our log */

	if (retry && e->ref != 0) {
		/* the broker is full: it refuses the rest of this session; come back
		 * later with a new one and resend the outbox in order */
		if (a->ready)
			log_warnx("broker error %d: %s; retrying in %llu ms", e->code,
			    log_safe(e->reason, 300, safe, sizeof(safe)),
			    (unsigned long long)a->cfg->resend_ms);
		restart_session(a, (int64_t)a->cfg->resend_ms);
	} else if (e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NO_SESSION) {
		/* the broker restarted or we reconnected: Hello, then resend in order */
		if (a->ready)
			log_info("the broker has no session for this connection; saying hello");
		restart_session(a, 0);
	} else if (changed && sync_refilter(a, txn, e->ref)) {
		/* made under an older policy: refiltered under ours, send again */
		if (a->inflight)
			a->inflight--;
		if (a->cursor >= e->ref)
			a->cursor = e->ref - 1;
	} else if (changed && a->cfg->policy_updates && !a->update_refused) {
		/* the broker enforces a policy we have not seen yet (it restarted or
		 * reloaded): keep the message, ask for the policy, refilter, resend */
		log_info("the broker enforces another policy than %s; fetching it before "
		    "sending again", policy_version(a->policy));
		restart_session(a, 0);
	} else if (e->ref != 0 && e->message_id.len == 16 && !retry) {
		rejected(a, txn, e);
	} else if (e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED && e->ref == 0 &&
	    e->reason != NULL && strstr(e->reason, "revoked or outside its validity window") != NULL) {
		/* not a message of ours: this agency itself is refused.  Back off
		 * (5 s doubling to 5 min), say so once per step, send nothing */
		int64_t was = a->refused_backoff_ms;
		if (was != 0 && mono_ms() - a->refused_at_ms < was)
			return;	/* an answer to what we sent before the pause: same news */
		a->refused_at_ms = mono_ms();
		a->refused_backoff_ms = was == 0 ? REFUSED_BACKOFF_MIN_MS : was * 2 > REFUSED_BACKOFF_MAX_MS ?
		    REFUSED_BACKOFF_MAX_MS : was * 2;
		a->ready = false;
		a->next_hello_ms = mono_ms() + a->refused_backoff_ms;
		a->next_hb_ms = a->next_hello_ms;
		if (a->refused_backoff_ms != was)
			log_warnx("the broker refuses agency %s: %s (the broker's directory says so; "
			    "ask its operator, or check valid_until); nothing is sent, the outbox is "
			    "kept; asking again in %lld s", a->cfg->agency,
			    log_safe(e->reason, 300, safe, sizeof(safe)),
			    (long long)(a->refused_backoff_ms / 1000));
	} else {
		log_warnx("broker error %d: %s", e->code, log_safe(e->reason, 300, safe, sizeof(safe)));
	}
}

/* One command from the broker, to its handler. */
static void
handle_broker(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__Command *c)
{
	if (c->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK)
		a->commit_now = true;	/* only acknowledgements may wait for company (loop.c) */
	switch (c->cmd_case) {
	case KETEN__WIRE__V1__COMMAND__CMD_HELLO:
		on_hello(a, c->hello);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT:
		note_instance(a, &c->heartbeat->instance);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE:
		sync_policy_update(a, txn, c->policy_update);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE:
		sync_directory_update(a, txn, c->directory_update);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_ROOT_UPDATE:
		sync_root_update(a, txn, c->root_update);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE:
		sync_witness_challenge(a, txn, c->witness_challenge);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS:
		control_delivery_answered(a, txn, c->delivery_status, 0);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK:
		on_submit_ack(a, txn, c->submit_ack);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER:
		on_deliver(a, txn, c->deliver);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_ERROR:
		on_error(a, txn, c->error);
		break;
	default:
		log_warnx("unexpected %s from the broker ignored", wire_cmd_name(c->cmd_case));
		break;
	}
}

int
link_receive(struct agent *a, MDB_txn *txn)
{
	zmq_msg_t m;
	Keten__Wire__V1__Command *c;
	int more = 0;
	size_t ml = sizeof(more);

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, a->dealer, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return 0;
	}
	a->last_rx_ms = mono_ms();
	zmq_getsockopt(a->dealer, ZMQ_RCVMORE, &more, &ml);
	if (more) {
		while (more) {
			zmq_msg_t x;
			zmq_msg_init(&x);
			zmq_msg_recv(&x, a->dealer, 0);
			zmq_msg_close(&x);
			zmq_getsockopt(a->dealer, ZMQ_RCVMORE, &more, &ml);
		}
		log_warnx("multi-frame message from the broker ignored");
	} else if ((c = keten__wire__v1__command__unpack(NULL, zmq_msg_size(&m),
	    zmq_msg_data(&m))) == NULL) {
		log_warnx("malformed frame of %zu bytes from the broker ignored", zmq_msg_size(&m));
	} else {
		handle_broker(a, txn, c);
		keten__wire__v1__command__free_unpacked(c, NULL);
	}
	zmq_msg_close(&m);
	return 1;
}

int
link_hello(struct agent *a)
{
	Keten__Wire__V1__Hello h = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	h.version = KETEN_PROTOCOL_VERSION;
	h.agency = a->cfg->agency;
	h.instance = (ProtobufCBinaryData){ sizeof(a->instance), a->instance };
	h.software = "keten-agent " KETEN_VERSION;
	h.time_ms = now_ms();
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &h;
	return wire_send(a->dealer, NULL, 0, &c, ZMQ_DONTWAIT);
}

void
link_heartbeat(struct agent *a)
{
	Keten__Wire__V1__Heartbeat hb = KETEN__WIRE__V1__HEARTBEAT__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	hb.instance = (ProtobufCBinaryData){ sizeof(a->instance), a->instance };
	hb.time_ms = now_ms();
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT;
	c.heartbeat = &hb;
	wire_send(a->dealer, NULL, 0, &c, ZMQ_DONTWAIT);
}

static int
pump_one(void *arg, uint64_t ref, const void *frame, size_t len)
{
	struct agent *a = arg;

	if (a->inflight >= a->cfg->window)
		return 1;
	if (zmq_send(a->dealer, frame, len, ZMQ_DONTWAIT) < 0)
		return 1;	/* not connected or queue full: try again later */
	a->cursor = ref;
	a->inflight++;
	a->sent_at[ref % (sizeof(a->sent_at) / sizeof(a->sent_at[0]))].ref = ref;
	a->sent_at[ref % (sizeof(a->sent_at) / sizeof(a->sent_at[0]))].sent_ms = mono_ms();
	a->progress_ms = mono_ms();
	return 0;
}

void
link_pump(struct agent *a)
{
	MDB_txn *txn;
	bool exhausted;

	if (!a->ready || !a->policy_synced || a->inflight >= a->cfg->window)
		return;
	if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	store_outbox_scan(a->store, txn, a->cursor, pump_one, a, &exhausted);
	mdb_txn_abort(txn);
}

/* Ask for the newest checkpoint and the proof from the one we witnessed. */
void
link_witness_request(struct agent *a)
{
	Keten__Wire__V1__WitnessRequest w = KETEN__WIRE__V1__WITNESS_REQUEST__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	w.known_size = a->witness_size;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST;
	c.witness_request = &w;
	wire_send(a->dealer, NULL, 0, &c, ZMQ_DONTWAIT);
}
