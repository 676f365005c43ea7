/*
 * A submission at the broker, in three steps: admit (a duplicate, the
 * store's room, the sender's rate and clock), judge (the gate: signature,
 * recipients, manifests, policy; and the shadow policy beside it), commit
 * (queued, logged and counted together in a nested transaction).  The
 * acknowledgement waits for the batch's commit (broker/loop.c).
 */
#include "broker/broker.h"

/* The submission's message id, or NULL when it has none of 16 bytes. */
static const ProtobufCBinaryData *
submit_id(const Keten__Wire__V1__Submit *s)
{
	return s->header && s->header->message_id.len == KETEN_UUIDBYTES ?
	    &s->header->message_id : NULL;
}

/* Shadow mode: log every decision the candidate policy would take differently. */
/* The patterns of fields a shadow decision gains or loses, in one line. */
struct shadow_fields {
	char text[1200], sign;
	size_t off, more;
};

static void
shadow_field(void *arg, const char *pattern, size_t count)
{
	struct shadow_fields *sf = arg;
	int w;

	(void)count;
	if (sf->more > 0 || (w = snprintf(sf->text + sf->off, sizeof(sf->text) - sf->off, "%s%c%s",
	    sf->off ? " " : "", sf->sign, pattern)) < 0 || sf->off + (size_t)w >= sizeof(sf->text)) {
		sf->text[sf->off] = '\0';
		sf->more++;
		return;
	}
	sf->off += (size_t)w;
}

static void
shadow_compare(struct broker *b, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, const struct gate_verdict *active)
{
	struct gate_verdict *cand = malloc(sizeof(*cand));
	const Keten__Envelope__V1__Header *h = s->header;
	char ids[KETEN_UUIDSTRLEN];

	if (cand == NULL)
		return;
	gate_check(b->dir, b->shadow, b->queue, b->ledger, txn, directory_find(b->dir, h->sender), s,
	    pre, now_ms(), (int64_t)b->cfg->max_clock_skew_ms, cand);
	/* the header's policy version names the active policy, not the candidate */
	if (cand->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED)
		cand->code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY;
	bool a_ok = active->code == 0, c_ok = cand->code == 0;
	uuid_format(ids, h->message_id.data);
	if (a_ok != c_ok) {
		b->shadow_diffs++;
		log_info("shadow: policy %s would %s message %s from %s (%s): %s", policy_version(b->shadow),
		    c_ok ? "accept" : "reject", ids, h->sender, h->message_type,
		    c_ok ? "within the candidate policy" : cand->reason);
	} else if (a_ok) {
		for (size_t i = 0; i < s->n_copies; i++) {
			if (memcmp(&active->dec[i].allowed, &cand->dec[i].allowed,
			    sizeof(cand->dec[i].allowed)) == 0)
				continue;
			b->shadow_diffs++;
			/* every field that differs, gained (+) or lost (-), as patterns */
			const struct codec_type *t = codec_type_find(h->message_type);
			struct shadow_fields sf = { .off = 0 };
			struct codec_pathset gained, lost;
			for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++) {
				gained.w[w] = cand->dec[i].allowed.w[w] & ~active->dec[i].allowed.w[w];
				lost.w[w] = active->dec[i].allowed.w[w] & ~cand->dec[i].allowed.w[w];
			}
			sf.text[0] = '\0';
			if (t != NULL) {
				sf.sign = '+';
				codec_paths_compress(t, &gained, NULL, shadow_field, &sf);
				sf.sign = '-';
				codec_paths_compress(t, &lost, NULL, shadow_field, &sf);
			}
			const char *fields = sf.text;
			size_t more = sf.more;
			log_info("shadow: policy %s would allow %s a different field set for message %s "
			    "(%zu fields instead of %zu): %s%s", policy_version(b->shadow),
			    s->copies[i]->recipient, ids, codec_pathset_count(&cand->dec[i].allowed),
			    codec_pathset_count(&active->dec[i].allowed), fields, more ? " ..." : "");
		}
	}
	free(cand);
}

/*
 * Admit: whether the broker takes up a submission at all.  A duplicate is
 * acknowledged again (*dup); a full store, a sender over its rate or with a
 * wrong clock is refused here.  *need: what it may take of the store.
 * true: judge it.
 */
static bool
submit_admit(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s, bool *dup,
    uint64_t *need)
{
	const ProtobufCBinaryData *mid = submit_id(s);
	struct peer *pe = session_peer(b, from);
	int rc;

	if (mid != NULL && (rc = queue_seen(b->queue, txn, mid->data, from->id, dup)) != 0) {
		metrics_rejected(b->metrics, rc == KETEN_EEXIST ? "malformed" : "storage");
		session_error(b, rid, rid_len, rc == KETEN_EEXIST ?
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED :
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE, mid, s->ref, "submit: %s",
		    rc == KETEN_EEXIST ? "message id already used by another sender" :
		    "broker storage error; retry later");
		return false;
	}
	if (*dup)	/* accepted before: the agent did not hear our ack */
		return false;
	/* what this submission may take: queued copies, ledger entries, indexes, tree */
	*need = 2048;
	for (size_t i = 0; i < s->n_copies; i++)
		*need += 3 * (s->copies[i]->payload.len + 64 * s->copies[i]->n_manifest) + 1024;
	if (!b->storage_tight && b->storage_used + b->batch_bytes + *need > b->storage_limit) {
		b->storage_tight = true;
		log_warnx("storage: the map is nearly full; refusing new submissions (deliveries and "
		    "audits go on); raise map_size_mb and restart");
	}
	if (b->storage_tight || pe->refusing) {
		pe->refusing = true;
		b->storage_refused = true;
		metrics_rejected(b->metrics, "storage");
		/* keep room for deliveries, their ledger entries and audits; nothing was
		 * decided about this message (it will be sent again), so nothing to log */
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE, mid,
		    s->ref, "broker storage nearly full (over %d%% of map_size_mb); deliveries and "
		    "audits go on; retry later", STORAGE_HIGH_WATER);
		return false;
	}
	if (!session_rate_ok(b, pe)) {
		/* nothing decided: the agent pauses and sends it again, in order */
		metrics_rejected(b->metrics, "rate-limited");
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED,
		    mid, s->ref, "%s sends more than max_submissions_per_s (%llu a second); retry "
		    "later", from->id, (unsigned long long)b->cfg->max_submissions_per_s);
		return false;
	}
	if (pe->clock_off_ms > (int64_t)b->cfg->max_clock_skew_ms ||
	    pe->clock_off_ms < -(int64_t)b->cfg->max_clock_skew_ms) {
		char why[200], words[64];
		snprintf(why, sizeof(why), "the clock of %s is %s the broker's (allowed: %lld s); "
		    "fix the clock", from->id, session_clock_words(pe->clock_off_ms, words,
		    sizeof(words)), (long long)(b->cfg->max_clock_skew_ms / 1000));
		events_rejection(b, txn, from, s, "clock", why);
		metrics_rejected(b->metrics, "clock");
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK, mid,
		    s->ref, "%s", why);
		return false;
	}
	return true;
}

/*
 * Judge: the gate's verdict in *v (and the shadow policy's, logged).  A
 * rejection is logged and answered here.  true: accepted.
 */
static bool
submit_judge(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, int64_t now, struct gate_verdict *v)
{
	gate_check(b->dir, b->policy, b->queue, b->ledger, txn, from, s, pre, now,
	    (int64_t)b->cfg->max_clock_skew_ms, v);
	if (b->shadow != NULL && submit_id(s) != NULL)
		shadow_compare(b, txn, s, pre, v);
	if (v->code == 0)
		return true;
	if (v->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY ||
	    v->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED)
		b->policy_rejects++;
	log_warnx("submit from %s rejected: %s", from->id, v->reason);
	events_rejection(b, txn, from, s, events_code_name(v->code), v->reason);
	metrics_rejected(b->metrics, events_code_name(v->code));
	session_error(b, rid, rid_len, v->code, submit_id(s), s->ref, "%s", v->reason);
	return false;
}

/* Count what the volume limits of each copy's granting rules allow. */
static int
count_limits(struct broker *b, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const struct gate_verdict *v, int64_t now)
{
	int rc = 0;

	for (size_t i = 0; i < s->n_copies && rc == 0; i++) {
		struct policy_request rq;
		policy_request_from_header(s->header, s->copies[i]->recipient,
		    codec_type_find(s->header->message_type), now, &rq);
		for (size_t k = 0; k < v->dec[i].ngranting && rc == 0; k++) {
			const struct policy_rule_info *ri =
			    policy_rule_info(b->policy, (size_t)v->dec[i].granting[k]);
			if (ri->limit_count > 0)
				rc = queue_limit_count(b->queue, txn, &rq, ri);
		}
	}
	return rc;
}

/*
 * Commit: the accepted copies queued, logged and counted in a nested
 * transaction of txn, so that a full map refuses this submission but keeps
 * the rest of the batch.  The first ACCEPTED entry's seq in *first_seq.
 * 0, or a KETEN_E* code (answered here).
 */
static int
submit_commit(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, const struct gate_verdict *v, int64_t now,
    uint64_t *first_seq)
{
	MDB_txn *child = NULL;
	int rc;

	if ((rc = mdb_txn_begin(b->env, txn, 0, &child)) == 0) {
		int64_t expires[GATE_MAX_COPIES];
		for (size_t i = 0; i < s->n_copies; i++)	/* the shortest retention of its rules */
			expires[i] = v->dec[i].retention_days ?
			    now + (int64_t)v->dec[i].retention_days * 86400000LL : 0;
		rc = queue_submit(b->queue, child, s, (const uint8_t (*)[32])v->digests, expires, now);
		if (rc == 0)	/* logged in the same transaction as queued: both or neither */
			rc = events_accepted(b, child, s, pre, v, first_seq);
		uint64_t wseq;	/* after the ACCEPTED entries, which the receipts count from */
		if (rc == 0 && s->n_decisions > 0)
			rc = events_withheld(b, child, s->header, s->decisions, s->n_decisions, &wseq);
		if (rc == 0)
			rc = count_limits(b, child, s, v, now);
		if (rc == 0)
			rc = db_err(mdb_txn_commit(child));
		else
			mdb_txn_abort(child);
	} else {
		rc = db_err(rc);
	}
	if (rc != 0) {
		metrics_rejected(b->metrics, "storage");
		b->storage_refused = b->storage_refused || rc == KETEN_EFULL;
		log_warnx("submit from %s refused: %s", from->id, rc == KETEN_EFULL ?
		    "storage full (raise map_size_mb)" : keten_strerror(rc));
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE,
		    submit_id(s), s->ref, "broker storage %s; retry later",
		    rc == KETEN_EFULL ? "full" : "error");
	}
	return rc;
}

/*
 * The acknowledgement of an accepted submission: with its receipts once the
 * batch (and its checkpoint) is committed.  false: no room to hold it.
 */
static bool
hold_ack(struct broker *b, const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    uint64_t first_seq, int64_t now, bool refusal)
{
	if (b->nacks == b->capacks) {
		size_t cap = b->capacks ? 2 * b->capacks : 256;
		struct pending_ack *na = realloc(b->acks, cap * sizeof(*na));
		if (na == NULL)
			return false;
		b->acks = na;
		b->capacks = cap;
	}
	struct pending_ack *pa = &b->acks[b->nacks++];
	memcpy(pa->rid, rid, rid_len);
	pa->rid_len = rid_len;
	memcpy(pa->message_id, submit_id(s)->data, 16);
	pa->ref = s->ref;
	pa->first_seq = first_seq;
	pa->ncopies = s->n_copies;
	pa->accepted_ms = now;
	pa->source_refusal = refusal;
	return true;
}

/* An acknowledgement without receipts: a duplicate, or no room to hold one. */
static void
ack_now(struct broker *b, const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    bool dup, int64_t now, bool refusal)
{
	Keten__Wire__V1__SubmitAck ack = KETEN__WIRE__V1__SUBMIT_ACK__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	ack.message_id = *submit_id(s);
	ack.ref = s->ref;
	ack.duplicate = dup;
	ack.accepted_ms = now;
	ack.source_refusal = refusal;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK;
	c.submit_ack = &ack;
	session_reply(b, rid, rid_len, &c);
}

void
submit_handle(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre)
{
	struct gate_verdict *v = NULL;
	int64_t now = now_ms();
	bool dup = false;
	uint64_t first_seq = 0, need = 0;
	int rc;

	if (!submit_admit(b, txn, from, rid, rid_len, s, &dup, &need)) {
		if (dup) {
			b->dups++;
			metrics_duplicate(b->metrics);
			ack_now(b, rid, rid_len, s, true, now, false);
		}
		return;
	}
	if ((v = malloc(sizeof(*v))) == NULL) {
		metrics_rejected(b->metrics, "storage");
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE,
		    submit_id(s), s->ref, "broker out of memory; retry later");
		return;
	}
	if (!submit_judge(b, txn, from, rid, rid_len, s, pre, now, v)) {
		free(v);
		return;
	}
	rc = submit_commit(b, txn, from, rid, rid_len, s, pre, v, now, &first_seq);
	free(v);
	if (rc != 0)
		return;
	b->batch_bytes += need;
	b->submits++;
	b->storage_refused = false;
	metrics_accepted(b->metrics);
	for (size_t i = 0; i < s->n_copies; i++) {
		struct peer *rp = session_peer(b, directory_find(b->dir, s->copies[i]->recipient));
		rp->more_pending = true;
		rp->queued_pending++;
	}
	if (!hold_ack(b, rid, rid_len, s, first_seq, now, false))
		ack_now(b, rid, rid_len, s, false, now, false);	/* without receipts rather than not at all */
}

void
submit_refusal_handle(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__SourceRefusal *sr)
{
	/* admitted as a submission with no copies: session, seen ids, storage, rate, clock */
	Keten__Wire__V1__Submit s = KETEN__WIRE__V1__SUBMIT__INIT;
	MDB_txn *child = NULL;
	int64_t now = now_ms();
	uint64_t need = 0, first_seq = 0;
	bool dup = false;
	char why[300];
	int rc;

	s.ref = sr->ref;
	s.header = sr->header;
	if (gate_refusal_check(from, sr, why, sizeof(why)) != 0) {
		if (sr->header != NULL && sr->header->message_id.len == KETEN_UUIDBYTES)
			events_rejection(b, txn, from, &s, "malformed", why);	/* on the record too */
		metrics_rejected(b->metrics, "malformed");
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    submit_id(&s), s.ref, "source-refusal: %s", why);
		return;
	}
	if (!submit_admit(b, txn, from, rid, rid_len, &s, &dup, &need)) {
		if (dup)
			ack_now(b, rid, rid_len, &s, true, now, true);
		return;
	}
	if ((rc = db_err(mdb_txn_begin(b->env, txn, 0, &child))) == 0) {
		/* logged and marked seen together: a resent refusal is acknowledged, not logged again */
		if ((rc = events_withheld(b, child, sr->header, sr->decisions, sr->n_decisions,
		    &first_seq)) == 0 && (rc = queue_mark_seen(b->queue, child,
		    sr->header->message_id.data, from->id, now)) == 0)
			rc = db_err(mdb_txn_commit(child));
		else
			mdb_txn_abort(child);
	}
	if (rc != 0) {
		metrics_rejected(b->metrics, "storage");
		session_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE,
		    submit_id(&s), s.ref, "broker storage %s; retry later",
		    rc == KETEN_EFULL ? "full" : "error");
		return;
	}
	b->batch_bytes += need;
	if (!hold_ack(b, rid, rid_len, &s, first_seq, now, true))
		ack_now(b, rid, rid_len, &s, false, now, true);
}
