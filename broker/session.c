/*
 * The agencies' sessions at the broker: replies held until the commit, the
 * session an agency's Hello starts, its clock and its submission rate, the
 * delivery pump, and what /metrics reports of them.
 */
#include "broker/broker.h"

struct peer *
session_peer(struct broker *b, const struct dir_agency *a)
{
	return &b->peers[a - b->dir->agencies];
}

void
session_reply(struct broker *b, const uint8_t *rid, size_t rid_len,
    const Keten__Wire__V1__Command *cmd)
{
	struct reply *r;

	if (b->nreplies == b->capreplies) {
		size_t cap = b->capreplies ? 2 * b->capreplies : 256;
		struct reply *nr = realloc(b->replies, cap * sizeof(*nr));
		if (nr == NULL) {
			log_warnx("out of memory queueing a reply; the peer will resend");
			return;
		}
		b->replies = nr;
		b->capreplies = cap;
	}
	r = &b->replies[b->nreplies];
	if ((r->frame = wire_pack(&cmd->base, &r->len)) == NULL)
		return;
	memcpy(r->rid, rid, rid_len);
	r->rid_len = rid_len;
	b->nreplies++;
}

/* Queue an already packed frame (copied). */
void
session_reply_frame(struct broker *b, const uint8_t *rid, size_t rid_len, const uint8_t *frame,
    size_t len)
{
	if (b->nreplies == b->capreplies) {
		size_t cap = b->capreplies ? 2 * b->capreplies : 256;
		struct reply *nr = realloc(b->replies, cap * sizeof(*nr));
		if (nr == NULL)
			return;
		b->replies = nr;
		b->capreplies = cap;
	}
	struct reply *r = &b->replies[b->nreplies];
	if ((r->frame = malloc(len ? len : 1)) == NULL)
		return;
	memcpy(r->frame, frame, len);
	r->len = len;
	memcpy(r->rid, rid, rid_len);
	r->rid_len = rid_len;
	b->nreplies++;
}

void
session_error(struct broker *b, const uint8_t *rid, size_t rid_len, Keten__Wire__V1__ErrorCode code,
    const ProtobufCBinaryData *msgid, uint64_t ref, const char *fmt, ...)
{
	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	e.code = code;
	e.reason = reason;
	if (msgid != NULL)
		e.message_id = *msgid;
	e.ref = ref;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	b->errors++;
	session_reply(b, rid, rid_len, &c);
}

void
session_flush(struct broker *b)
{
	for (size_t i = 0; i < b->nreplies; i++) {
		struct reply *r = &b->replies[i];
		if (zmq_send(b->router, r->rid, r->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(b->router, r->frame, r->len, ZMQ_DONTWAIT) < 0)
			log_debug("reply dropped: %s (the peer resends)", zmq_strerror(errno));
		free(r->frame);
	}
	b->nreplies = 0;
}

/*
 * Sessions: an agency's session is the connection it last said Hello on.
 * Only Hello starts one; submissions on any other connection are refused
 * (NO_SESSION) until the agent says Hello there.  So after a broker restart
 * or a reconnect the agent resends its unacknowledged outbox from the start,
 * in order, before anything newer: per-sender order holds across crashes.
 */
struct peer *
session_start(struct broker *b, const struct dir_agency *a, const uint8_t *rid, size_t rid_len)
{
	struct peer *p = session_peer(b, a);

	if (!p->connected || p->rid_len != rid_len || memcmp(p->rid, rid, rid_len))
		log_info("agency %s connected", a->id);
	memcpy(p->rid, rid, rid_len);
	p->rid_len = rid_len;
	p->connected = true;
	/* new session: the agent may have lost what was in flight */
	p->refusing = false;
	p->rate_refusing = false;
	p->cursor = 0;
	p->inflight = 0;
	p->more = true;
	p->progress_ms = mono_ms();
	p->heard_ms = p->progress_ms;
	return p;
}

bool
session_current(struct broker *b, const struct dir_agency *a, const uint8_t *rid, size_t rid_len)
{
	const struct peer *p = session_peer(b, a);

	return p->connected && p->rid_len == rid_len && memcmp(p->rid, rid, rid_len) == 0;
}

const char *
session_clock_words(int64_t off_ms, char *buf, size_t len)
{
	const char *dir = off_ms > 0 ? "ahead of" : "behind";

	if (off_ms >= INT64_MAX / 2 || off_ms <= -(INT64_MAX / 2) ||
	    llabs(off_ms) / 1000 >= 366LL * 86400)
		snprintf(buf, len, "more than a year %s", dir);
	else
		snprintf(buf, len, "%lld s %s", (long long)((llabs(off_ms) + 500) / 1000), dir);
	return buf;
}

/* An agent's clock, as it says in Hello and heartbeats; a change of state is logged. */
void
session_note_clock(struct broker *b, const struct dir_agency *a, int64_t their_ms)
{
	struct peer *p = session_peer(b, a);
	int64_t skew = (int64_t)b->cfg->max_clock_skew_ms;

	bool was_off = p->clock_off_ms > skew || p->clock_off_ms < -skew;
	if (their_ms == 0) {	/* no time given: an offset from before says nothing now */
		p->clock_off_ms = 0;
		if (was_off)
			log_info("the clock of %s is no longer known (it sent none): its submissions are "
			    "judged by their own times", a->id);
		return;
	}
	/* any int64 from the wire: saturate (and keep llabs of it defined) */
	if (__builtin_sub_overflow(their_ms, now_ms(), &p->clock_off_ms) ||
	    p->clock_off_ms > INT64_MAX / 2 || p->clock_off_ms < -(INT64_MAX / 2))
		p->clock_off_ms = their_ms < 0 ? -(INT64_MAX / 2) : INT64_MAX / 2;
	bool off = p->clock_off_ms > skew || p->clock_off_ms < -skew;
	char words[64];
	if (off && !was_off)
		log_warnx("the clock of %s is %s ours: its submissions are refused until it is "
		    "fixed", a->id, session_clock_words(p->clock_off_ms, words, sizeof(words)));
	else if (!off && was_off)
		log_info("the clock of %s is right again", a->id);
}

/*
 * A token bucket per agency: max_submissions_per_s, with a burst of two
 * seconds' worth.  Once over, the rest of the session is refused too, so the
 * agent resends in order after its pause.
 */
bool
session_rate_ok(struct broker *b, struct peer *pe)
{
	double rate = (double)b->cfg->max_submissions_per_s, burst = 2 * rate;
	int64_t now = mono_ms();

	if (rate == 0)
		return true;
	if (pe->rate_refusing)
		return false;
	if (pe->tokens_ms == 0)
		pe->tokens = burst;
	pe->tokens += (double)(now - pe->tokens_ms) / 1000.0 * rate;
	if (pe->tokens > burst)
		pe->tokens = burst;
	pe->tokens_ms = now;
	if (pe->tokens < 1.0) {
		pe->rate_refusing = true;
		log_warnx("%s goes over max_submissions_per_s (%.0f a second); refusing its "
		    "submissions until it comes back", pe->agency->id, rate);
		return false;
	}
	pe->tokens -= 1.0;
	return true;
}

struct pump {
	struct broker *b;
	struct peer *p;
	uint64_t budget;
	bool blocked;
};

static int
pump_one(void *arg, uint64_t seq, const void *frame, size_t len)
{
	struct pump *pu = arg;
	struct peer *p = pu->p;

	if (pu->budget == 0)
		return 1;
	if (zmq_send(pu->b->router, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(pu->b->router, frame, len, ZMQ_DONTWAIT) < 0) {
		if (errno == EHOSTUNREACH) {
			log_info("agency %s disconnected", p->agency->id);
			p->connected = false;
		}
		pu->blocked = true;
		return 1;
	}
	p->cursor = seq;
	p->inflight++;
	p->progress_ms = mono_ms();
	pu->budget--;
	metrics_sent(pu->b->metrics, 1);
	return 0;
}

/* Send queued messages to connected agencies with room in their window. */
void
session_pump(struct broker *b)
{
	MDB_txn *txn = NULL;
	int64_t now = mono_ms();

	for (size_t i = 0; i < b->dir->n; i++) {
		struct peer *p = &b->peers[i];
		if (!p->connected || !dir_agency_active(p->agency, now_ms()))
			continue;
		if (p->inflight > 0 && now - p->progress_ms > (int64_t)b->cfg->redeliver_ms) {
			log_info("agency %s: %llu deliveries unacknowledged for %llu ms; resending",
			    p->agency->id, (unsigned long long)p->inflight,
			    (unsigned long long)b->cfg->redeliver_ms);
			p->cursor = 0;
			p->inflight = 0;
			p->more = true;
		}
		if (!p->more || p->inflight >= b->cfg->window)
			continue;
		if (txn == NULL && mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn) != 0)
			return;
		struct pump pu = { b, p, b->cfg->window - p->inflight, false };
		bool exhausted = false;
		if (queue_scan(b->queue, txn, p->agency->id, p->cursor, pump_one, &pu,
		    &exhausted) == 0 && exhausted)
			p->more = false;
	}
	if (txn != NULL)
		mdb_txn_abort(txn);
}

/*
 * Count in the queue what is queued for each agency whose count is 0: all at
 * start, the new ones after a directory change (the others keep theirs).
 * Only needed when metrics are served.
 */
int
session_count_queued(struct broker *b)
{
	MDB_txn *txn;
	int rc;

	if (b->cfg->metrics_listen == NULL)
		return 0;
	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return db_err(rc);
	for (size_t i = 0; i < b->dir->n && rc == 0; i++) {
		struct peer *p = &b->peers[i];
		if (p->queued == 0)
			rc = queue_count(b->queue, txn, p->agency->id, &p->queued);
	}
	mdb_txn_abort(txn);
	return rc;
}

/* The batch is committed (or not): its queue changes count and are delivered, or are forgotten. */
void
session_settle_queued(struct broker *b, bool committed)
{
	for (size_t i = 0; i < b->dir->n; i++) {
		struct peer *p = &b->peers[i];
		if (committed && p->queued_pending < 0 && (uint64_t)-p->queued_pending > p->queued)
			p->queued = 0;	/* never: every removal was counted in */
		else if (committed)
			p->queued = (uint64_t)((int64_t)p->queued + p->queued_pending);
		p->queued_pending = 0;
		if (committed && p->more_pending)
			p->more = true;
		p->more_pending = false;
	}
}

static bool
heard_recently(const struct broker *b, const struct peer *p, int64_t mono)
{
	return p->connected && mono - p->heard_ms <= 3 * (int64_t)b->cfg->heartbeat_ms;
}

/*
 * What /metrics and /healthz report, read on the loop's thread between
 * batches: counters kept in memory, one read transaction for the ledger size.
 */
void
session_fill_metrics(void *arg, struct metrics_state *st)
{
	struct broker *b = arg;
	int64_t mono = mono_ms();
	MDB_txn *txn;
	MDB_envinfo info;

	if (mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn) == 0) {
		st->ledger_entries = ledger_size(b->ledger, txn);
		st->queued = queue_depth(b->queue, txn);
		mdb_txn_abort(txn);
	}
	for (size_t i = 0; i < b->dir->n; i++) {
		const struct peer *p = &b->peers[i];
		if (heard_recently(b, p, mono) && dir_agency_active(p->agency, now_ms()))
			st->connected_agents++;
		metrics_state_queue(st, p->agency->id, p->queued);
	}
	st->storage_used = b->storage_used;
	st->storage_limit = b->storage_limit;
	if (mdb_env_info(b->env, &info) == 0)
		st->storage_map = info.me_mapsize;
	/* storage_tight alone is recomputed each batch from the pages in use; a
	 * refusal for what a submission would add holds until one is accepted */
	st->refusing = b->storage_tight || b->storage_refused;
}
