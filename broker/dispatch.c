/*
 * One frame from an agency to its handler (dispatch_frame), and the
 * handlers of every command but Submit (broker/submit.c): Hello, heartbeat,
 * delivery acknowledgement and query, witness request, cosignature, and an
 * agent's report of a copy it refused.
 */
#include "broker/broker.h"

/* The copies of one message from one sender, as the ledger tells them. */
struct copy_walk {
	const char *sender;
	bool mine;			/* an ACCEPTED entry of this sender was seen */
	Keten__Wire__V1__CopyState st[GATE_MAX_COPIES];
	Keten__Wire__V1__CopyState *stp[GATE_MAX_COPIES];
	char recipient[GATE_MAX_COPIES][KETEN_IDMAX], reason[GATE_MAX_COPIES][200];
	size_t n;
};

static bool
walk_copy(const Keten__Ledger__V1__Entry *e, void *arg)
{
	struct copy_walk *w = arg;
	const char *state = NULL;
	size_t i;

	switch (e->kind) {
	case KETEN__LEDGER__V1__KIND__KIND_ACCEPTED:
		if (strcmp(e->sender, w->sender) != 0)
			return false;
		w->mine = true;
		state = "accepted";
		break;
	case KETEN__LEDGER__V1__KIND__KIND_DELIVERED: state = "delivered"; break;
	case KETEN__LEDGER__V1__KIND__KIND_EXPIRED: state = "expired"; break;
	case KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED: state = "refused"; break;
	default: return false;
	}
	for (i = 0; i < w->n && strcmp(w->recipient[i], e->recipient) != 0; i++)
		;
	if (i == w->n) {
		if (e->kind != KETEN__LEDGER__V1__KIND__KIND_ACCEPTED || w->n == GATE_MAX_COPIES)
			return false;	/* only copies accepted from this sender */
		keten__wire__v1__copy_state__init(&w->st[i]);
		snprintf(w->recipient[i], sizeof(w->recipient[i]), "%s", e->recipient);
		w->st[i].recipient = w->recipient[i];
		w->stp[i] = &w->st[i];
		w->n++;
	}
	/* a later entry says more: accepted, then delivered (or expired, refused);
	 * but a recipient that refused a copy acknowledges it too, so that it
	 * leaves the queue: its DELIVERED does not undo the refusal */
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_DELIVERED && w->st[i].state != NULL &&
	    strcmp(w->st[i].state, "refused") == 0)
		return false;
	w->st[i].state = (char *)state;
	w->st[i].time_ms = e->time_ms;
	snprintf(w->reason[i], sizeof(w->reason[i]), "%s", e->reason);
	w->st[i].reason = w->reason[i];
	return false;
}

/* DeliveryQuery: the states of this sender's copies of a message, from the ledger. */
static void
handle_delivery_query(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__DeliveryQuery *q)
{
	Keten__Wire__V1__DeliveryStatus ds = KETEN__WIRE__V1__DELIVERY_STATUS__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	struct copy_walk *w;

	if (q->message_id.len != KETEN_UUIDBYTES) {
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    NULL, 0, "delivery-query: message_id must be 16 bytes");
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return;
	w->sender = from->id;
	if (ledger_message_walk(b->ledger, txn, q->message_id.data, walk_copy, w) < 0)
		w->n = 0;
	ds.message_id = q->message_id;
	ds.n_copies = w->mine ? w->n : 0;	/* another agency's message: nothing */
	ds.copies = w->stp;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS;
	c.delivery_status = &ds;
	session_reply(b, rid, rid_len, &c);
	free(w);
}

static void
handle_deliver_ack(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__DeliverAck *a)
{
	struct peer *p = session_peer(b, from);
	int rc;

	if (a->message_id.len != KETEN_UUIDBYTES) {
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    NULL, 0, "deliver-ack: message_id must be 16 bytes");
		return;
	}
	/* removed from the queue and logged as delivered together, or neither */
	MDB_txn *child = NULL;
	if ((rc = db_err(mdb_txn_begin(b->env, txn, 0, &child))) == 0) {
		rc = queue_ack(b->queue, child, from->id, a->seq, a->message_id.data);
		if (rc == 0) {
			Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
			e.kind = KETEN__LEDGER__V1__KIND__KIND_DELIVERED;
			e.actor = (char *)from->id;
			e.recipient = (char *)from->id;
			e.message_id = a->message_id;
			rc = events_append(b, child, &e);
		}
		if (rc == 0)
			rc = db_err(mdb_txn_commit(child));
		else
			mdb_txn_abort(child);
	}
	if (rc == KETEN_EFULL)
		log_warnx("cannot log the delivery of a message to %s: storage full; it stays "
		    "queued (raise map_size_mb)", from->id);
	if (rc == 0) {
		b->delivered++;
		metrics_delivered(b->metrics);
		p->queued_pending--;
		if (p->inflight > 0)
			p->inflight--;
		p->progress_ms = mono_ms();
	} else if (rc != KETEN_ENOTFOUND) {
		log_warnx("deliver-ack from %s: %s", from->id, keten_strerror(rc));
	}
}

static void
handle_hello(struct broker *b, const struct dir_agency *from, const uint8_t *rid,
    size_t rid_len, const Keten__Wire__V1__Hello *h)
{
	Keten__Wire__V1__Hello me = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	if (h->version != KETEN_PROTOCOL_VERSION) {
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_PROTOCOL, NULL,
		    0, "hello: protocol version %u not supported (this broker speaks %d)",
		    h->version, KETEN_PROTOCOL_VERSION);
		return;
	}
	if (strcmp(h->agency, from->id) != 0) {
		char safe[LOG_SAFE_LEN(64)];
		log_warnx("agency %s says hello as \"%s\"; check its configuration",
		    from->id, log_safe(h->agency, 64, safe, sizeof(safe)));
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_PROTOCOL, NULL,
		    0, "hello: this connection is authenticated as %s, not %.64s", from->id,
		    h->agency);
		return;
	}
	session_start(b, from, rid, rid_len);
	session_note_clock(b, from, h->time_ms);
	me.version = KETEN_PROTOCOL_VERSION;
	me.agency = "broker";
	me.instance = (ProtobufCBinaryData){ sizeof(b->instance), b->instance };
	me.software = "keten-broker " KETEN_VERSION;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &me;
	session_reply(b, rid, rid_len, &c);
	/* the agent works from our directory and filters by what we enforce */
	for (size_t i = 0; i < b->nroots; i++)	/* the roots first: they judge the rest */
		session_reply_frame(b, rid, rid_len, b->roots[i].frame, b->roots[i].len);
	if (b->dir_frame != NULL)
		session_reply_frame(b, rid, rid_len, b->dir_frame, b->dir_frame_len);
	if (b->policy_frame != NULL)
		session_reply_frame(b, rid, rid_len, b->policy_frame, b->policy_frame_len);
}

static void
handle_heartbeat(struct broker *b, const uint8_t *rid, size_t rid_len)
{
	Keten__Wire__V1__Heartbeat hb = KETEN__WIRE__V1__HEARTBEAT__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	hb.instance = (ProtobufCBinaryData){ sizeof(b->instance), b->instance };
	hb.time_ms = now_ms();
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT;
	c.heartbeat = &hb;
	session_reply(b, rid, rid_len, &c);
}

/* A witness asks for the newest checkpoint and the proof from what it saw. */
static void
handle_witness_request(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__WitnessRequest *w)
{
	Keten__Wire__V1__WitnessChallenge c;
	Keten__Wire__V1__Command cmd = KETEN__WIRE__V1__COMMAND__INIT;
	int rc = ledger_challenge(b->ledger, txn, w->known_size, &c);

	if (rc == KETEN_EINVAL) {
		log_warnx("witness %s has seen a ledger of %llu entries, larger than ours (%llu): "
		    "was the ledger rolled back?", from->id, (unsigned long long)w->known_size,
		    (unsigned long long)ledger_size(b->ledger, txn));
		/* show it what we have: the witness judges, not we */
		rc = ledger_challenge(b->ledger, txn, 0, &c);
	}
	if (rc != 0)
		return;		/* nothing to witness yet */
	cmd.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE;
	cmd.witness_challenge = &c;
	session_reply(b, rid, rid_len, &cmd);
	ledger_challenge_clear(&c);
}

/* A witness's cosignature: checked with its key, stored beside the checkpoint. */
static void
handle_cosignature(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Cosignature *cs)
{
	char *note = ledger_checkpoint_note(b->ledger, txn, cs->size);

	/* during a key rotation's overlap the witness may still sign with its old key */
	if (note == NULL || (checkpoint_cosig_verify(note, cs->signature_line, from->id,
	    from->sign_pk) != 0 && !(dir_agency_previous_valid(from, now_ms()) &&
	    checkpoint_cosig_verify(note, cs->signature_line, from->id, from->prev_sign_pk) == 0))) {
		log_warnx("cosignature of %s for checkpoint %llu does not verify; not stored", from->id,
		    (unsigned long long)cs->size);
		free(note);
		return;
	}
	free(note);
	if (ledger_cosign_put(b->ledger, txn, cs->size, from->id, cs->signature_line) == 0)
		log_debug("checkpoint %llu cosigned by %s", (unsigned long long)cs->size, from->id);
}

/*
 * Whether f may be handled: an active agency, one frame, within the size
 * limit, a wire command, and (for submissions and heartbeats) on the
 * connection of its session.  false: answered or dropped here.
 */
static bool
admit_frame(struct broker *b, const struct dir_agency *from, const struct inframe *f)
{
	const uint8_t *rid = f->rid;
	size_t ridlen = f->rid_len, len = f->len;
	const Keten__Wire__V1__Command *cmd = f->cmd;

	if (from == NULL) {
		/* ZAP admitted it, so the directory changed under us; refuse. */
		log_warnx("frame from unauthenticated peer dropped");
		return false;
	}
	if (!dir_agency_active(from, now_ms())) {
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED,
		    NULL, 0, "agency %s is revoked or outside its validity window", from->id);
		return false;
	}
	if (f->extra > 0) {
		log_warnx("malformed frame from %s: %d frames, expected 1", from->id, f->extra + 1);
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    NULL, 0, "expected exactly 1 frame per command, got %d", f->extra + 1);
		return false;
	}
	if (len > b->cfg->max_message_bytes + 4096) {
		log_warnx("oversize frame from %s: %zu bytes", from->id, len);
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_TOO_LARGE,
		    NULL, 0, "frame of %zu bytes exceeds the limit of %llu bytes", len,
		    (unsigned long long)b->cfg->max_message_bytes + 4096);
		return false;
	}
	if (cmd == NULL) {
		log_warnx("malformed frame from %s: %zu bytes that are not a wire command",
		    from->id, len);
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    NULL, 0, "frame of %zu bytes is not a valid keten.wire.v1.Command", len);
		return false;
	}
	if ((cmd->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT ||
	    cmd->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL ||
	    cmd->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT) &&
	    !session_current(b, from, rid, ridlen)) {
		/* a reconnect or our restart: the agent says Hello, then resends in order */
		const Keten__Wire__V1__Submit *sub = cmd->cmd_case ==
		    KETEN__WIRE__V1__COMMAND__CMD_SUBMIT ? cmd->submit : NULL;
		const Keten__Wire__V1__SourceRefusal *sr = cmd->cmd_case ==
		    KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL ? cmd->source_refusal : NULL;
		const Keten__Envelope__V1__Header *h = sub ? sub->header : sr ? sr->header : NULL;
		if (sub != NULL)
			metrics_rejected(b->metrics, "no-session");
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NO_SESSION,
		    h ? &h->message_id : NULL, sub ? sub->ref : sr ? sr->ref : 0,
		    "no session on this connection: say Hello first");
		return false;
	}
	return true;
}

/* The command of an admitted frame, to its handler. */
static void
handle_command(struct broker *b, MDB_txn *txn, const struct dir_agency *from, struct inframe *f)
{
	const uint8_t *rid = f->rid;
	size_t ridlen = f->rid_len;
	Keten__Wire__V1__Command *cmd = f->cmd;

	switch (cmd->cmd_case) {
	case KETEN__WIRE__V1__COMMAND__CMD_HELLO:
		handle_hello(b, from, rid, ridlen, cmd->hello);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT:
		submit_handle(b, txn, from, rid, ridlen, cmd->submit, f->has_job ? &f->job : NULL);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK:
		handle_deliver_ack(b, txn, from, rid, ridlen, cmd->deliver_ack);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT:
		session_note_clock(b, from, cmd->heartbeat->time_ms);
		handle_heartbeat(b, rid, ridlen);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST:
		handle_witness_request(b, txn, from, rid, ridlen, cmd->witness_request);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE:
		handle_cosignature(b, txn, from, cmd->cosignature);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_QUERY:
		handle_delivery_query(b, txn, from, rid, ridlen, cmd->delivery_query);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_ERROR:
		events_violation(b, txn, from, cmd->error);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SOURCE_REFUSAL:
		submit_refusal_handle(b, txn, from, rid, ridlen, cmd->source_refusal);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK:
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER:
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS:
	case KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE:
	case KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE:
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE:
	case KETEN__WIRE__V1__COMMAND__CMD_ROOT_UPDATE:
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED,
		    NULL, 0, "%s is sent by the broker, not to it", wire_cmd_name(cmd->cmd_case));
		break;
	default:
		log_warnx("unknown command from %s", from->id);
		session_error(b, rid, ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_COMMAND,
		    NULL, 0, "frame holds no known command");
		break;
	}
}

void
dispatch_frame(struct broker *b, MDB_txn *txn, struct inframe *f)
{
	const struct dir_agency *from = f->user[0] ? directory_find(b->dir, f->user) : NULL;

	if (admit_frame(b, from, f)) {
		if (session_current(b, from, f->rid, f->rid_len))
			session_peer(b, from)->heard_ms = mono_ms();
		handle_command(b, txn, from, f);
	}
	if (f->has_job)
		verify_job_clear(&f->job);
	if (f->cmd != NULL)
		keten__wire__v1__command__free_unpacked(f->cmd, NULL);
	f->cmd = NULL;
	f->has_job = false;
}
