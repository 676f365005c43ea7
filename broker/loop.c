/*
 * The broker's loop: drain what the socket has (up to batch_max commands),
 * apply it in one LMDB write transaction, commit (fsync), and only then send
 * the acknowledgements and deliveries (DESIGN.md, step 4).
 *
 * Frames are taken from the socket into a ring as they come, also just
 * before a commit; each submission's signature check is queued for the
 * verifier's threads (broker/verify.h) at once, so they check while the loop
 * applies and commits (fsync) what came before.  Frames are applied in the
 * order they came; none is acknowledged before the commit of its batch.
 *
 * When frames wait at a commit, the commit's second sync (the meta page)
 * runs on the syncer's thread while the loop applies the next batch
 * (broker/syncer.h): the committed batch's replies, acknowledgements and
 * deliveries are held until that sync returned, and sent between two
 * frames of the next batch, or before its commit at the latest.
 */
#include "broker/broker.h"

/*
 * Receive one ROUTER message: routing id, then exactly one body frame.
 * Returns 1 when a command was handled, 0 when the socket is empty.
 */
/*
 * Take one frame from the router into f: its routing id, its sender, the
 * command unpacked and, for a submission, the keys its signature is checked
 * with.  1: f holds it; 0: nothing to keep; -1: the socket has nothing.
 */
static int
take_frame(struct broker *b, struct inframe *f)
{
	uint8_t rid[RID_MAX];
	zmq_msg_t body;
	int ridlen, more = 0;
	size_t ml = sizeof(more);

	if ((ridlen = zmq_recv(b->router, rid, sizeof(rid), ZMQ_DONTWAIT)) < 0)
		return -1;
	if ((size_t)ridlen > sizeof(rid))
		ridlen = sizeof(rid);	/* libzmq routing ids are 5 bytes; never happens */
	memset(f, 0, offsetof(struct inframe, job));
	f->has_job = false;
	memcpy(f->rid, rid, (size_t)ridlen);
	f->rid_len = (size_t)ridlen;
	zmq_msg_init(&body);
	if (zmq_msg_recv(&body, b->router, 0) < 0) {
		zmq_msg_close(&body);
		return 0;	/* nothing to answer */
	}
	zmq_getsockopt(b->router, ZMQ_RCVMORE, &more, &ml);
	while (more) {	/* drain and count surplus frames */
		zmq_msg_t x;
		zmq_msg_init(&x);
		zmq_msg_recv(&x, b->router, 0);
		zmq_msg_close(&x);
		f->extra++;
		zmq_getsockopt(b->router, ZMQ_RCVMORE, &more, &ml);
	}
	const char *user = zmq_msg_gets(&body, "User-Id");
	if (user != NULL && strlen(user) < sizeof(f->user))
		strcpy(f->user, user);
	f->len = zmq_msg_size(&body);
	const struct dir_agency *from = f->user[0] ? directory_find(b->dir, f->user) : NULL;
	if (from != NULL && f->extra == 0 && f->len <= b->cfg->max_message_bytes + 4096)
		f->cmd = keten__wire__v1__command__unpack(NULL, f->len, zmq_msg_data(&body));
	zmq_msg_close(&body);
	if (f->cmd != NULL && f->cmd->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT) {
		/* every field but state, which a worker may read through a stale
		 * queue entry: verifier_push sets it under the verifier's lock */
		struct verify_job *j = &f->job;
		j->s = f->cmd->submit;
		memcpy(j->pk, from->sign_pk, sizeof(j->pk));
		memset(j->prev_pk, 0, sizeof(j->prev_pk));
		if ((j->has_prev = dir_agency_previous_valid(from, now_ms())))
			memcpy(j->prev_pk, from->prev_sign_pk, sizeof(j->prev_pk));
		j->done = false;
		j->erc = j->erc_prev = 0;
		j->digests = j->cth = NULL;
		f->has_job = true;
	}
	return 1;
}

/* How full the map is: the high-water mark of the data file against map_size_mb. */
void
loop_check_storage(struct broker *b)
{
	MDB_envinfo info;
	MDB_stat st;
	bool was = b->storage_tight;

	if (mdb_env_info(b->env, &info) != 0 || mdb_env_stat(b->env, &st) != 0)
		return;
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	b->storage_used = used;
	b->storage_limit = (uint64_t)info.me_mapsize / 100 * STORAGE_HIGH_WATER;
	b->batch_bytes = 0;
	b->storage_tight = used > b->storage_limit;
	if (b->storage_tight && !was)
		log_warnx("storage: %llu of %llu MiB used; refusing new submissions (deliveries and "
		    "audits go on); raise map_size_mb and restart", (unsigned long long)(used >> 20),
		    (unsigned long long)(info.me_mapsize >> 20));
}

/* Acknowledge what the last commit accepted, each copy with its receipt. */
static void
ack_with_receipts(struct broker *b)
{
	MDB_txn *txn = NULL;
	Keten__Wire__V1__Receipt rc[GATE_MAX_COPIES], *rp[GATE_MAX_COPIES];

	if (b->nacks == 0)
		return;
	if (mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn) != 0)
		txn = NULL;
	for (size_t i = 0; i < b->nacks; i++) {
		struct pending_ack *pa = &b->acks[i];
		Keten__Wire__V1__SubmitAck ack = KETEN__WIRE__V1__SUBMIT_ACK__INIT;
		Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
		size_t nr = 0;
		for (size_t k = 0; txn && k < pa->ncopies && k < GATE_MAX_COPIES; k++) {
			if (ledger_receipt(b->ledger, txn, pa->first_seq + k, &rc[nr]) != 0)
				break;
			rp[nr] = &rc[nr];
			nr++;
		}
		ack.message_id = (ProtobufCBinaryData){ 16, pa->message_id };
		ack.ref = pa->ref;
		ack.accepted_ms = pa->accepted_ms;
		ack.source_refusal = pa->source_refusal;
		ack.n_receipts = nr;
		ack.receipts = rp;
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK;
		c.submit_ack = &ack;
		session_reply(b, pa->rid, pa->rid_len, &c);
		for (size_t k = 0; k < nr; k++)
			ledger_receipt_clear(&rc[k]);
	}
	if (txn)
		mdb_txn_abort(txn);
	b->nacks = 0;
}

/* Send nothing of the current batch: its replies and acknowledgements go. */
static void
drop_answers(struct broker *b)
{
	for (size_t i = 0; i < b->nreplies; i++)
		free(b->replies[i].frame);
	b->nreplies = 0;
	b->nacks = 0;
}

/* Exchange what the current batch sends with what the held batch sends. */
static void
swap_held(struct broker *b)
{
#define SWAP(a, c) do { __typeof__(a) t_ = (a); (a) = (c); (c) = t_; } while (0)
	SWAP(b->replies, b->held.replies);
	SWAP(b->nreplies, b->held.nreplies);
	SWAP(b->capreplies, b->held.capreplies);
	SWAP(b->acks, b->held.acks);
	SWAP(b->nacks, b->held.nacks);
	SWAP(b->capacks, b->held.capacks);
#undef SWAP
}

/*
 * The held batch's sync returned (or wait for it): send its replies and
 * acknowledgements, then deliver.  A failed sync acknowledges nothing of
 * it and stops the broker: what LMDB holds of it is not known to be on
 * disk, and the page cache may have forgotten that it is not (the senders
 * resend after the restart; the seen table drops what did survive).
 */
static void
release_held(struct broker *b)
{
	if (!b->held.active)
		return;
	double t0 = mono_s();
	int rc = syncer_wait(b->syncer);
	b->t_sync += mono_s() - t0;
	b->held.active = false;
	swap_held(b);	/* the held batch's in b's places, the current one's aside */
	if (rc != 0) {
		log_warnx("cannot sync the ledger after a commit: %s; acknowledging nothing of "
		    "it (%zu replies, %zu acknowledgements) and stopping", mdb_strerror(rc),
		    b->nreplies, b->nacks);
		drop_answers(b);
		b->sync_failed = true;
		broker_stopping = 1;
	} else {
		ack_with_receipts(b);
		session_flush(b);
	}
	swap_held(b);
	if (rc == 0)
		session_pump(b);	/* the held batch's copies are on disk now */
}

/* A frame that may wait ack_defer_ms in the ring (defer_acks()). */
static bool
can_wait(const Keten__Wire__V1__Command *cmd)
{
	if (cmd == NULL)
		return false;	/* answered with an error: at once */
	switch (cmd->cmd_case) {
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK:
	case KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT:
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST:
	case KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE:
		return true;
	default:
		return false;	/* submissions, Hello, status queries, the unexpected */
	}
}

/* Take what the socket holds into the ring, and queue the submissions' checks. */
static void
take_frames(struct broker *b, struct inring *r)
{
	while (r->tail - r->head < r->cap) {
		struct inframe *f = &r->f[r->tail % r->cap];
		int rc = take_frame(b, f);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		if (f->has_job) {
			verifier_push(b->verifier, &f->job);
			b->last_submit_ms = mono_ms();
		}
		f->urgent = !can_wait(f->cmd);
		r->urgent += f->urgent;
		if (r->tail == r->head)
			r->since = mono_s();
		r->tail++;
	}
}

/*
 * Whether to leave the ring's frames for the next round.  A batch of
 * delivery acknowledgements answers no one: the recipient committed its
 * inbox before it acknowledged, and a DELIVERED record lost in a crash
 * means the copy is sent again and the recipient drops the duplicate.  Its
 * commit (two syncs) would only delay the submission that is usually on its
 * way: at one message in flight the SubmitAck lets the sender send the next
 * while the recipients acknowledge the last.  So such a batch waits up to
 * ack_defer_ms for company, unless it is already large.  The agents'
 * housekeeping (heartbeats, witness requests and cosignatures, each every
 * few seconds per agent) waits with it rather than end the wait: with a
 * hundred agents one of them comes every few milliseconds.
 */
static bool
defer_acks(const struct broker *b, const struct inring *r, double now)
{
	return b->cfg->ack_defer_ms > 0 && r->tail > r->head && r->urgent == 0 &&
	    r->tail - r->head < r->cap / 2 &&
	    now - r->since < (double)b->cfg->ack_defer_ms / 1000.0;
}

/* Apply up to batch_max frames of the ring (counted in *n), in order. */
static void
apply_frames(struct broker *b, struct inring *r, MDB_txn *txn, uint64_t *n)
{
	for (; r->head < r->tail && *n < b->cfg->batch_max; r->head++, (*n)++) {
		struct inframe *f = &r->f[r->head % r->cap];
		if (f->has_job)
			verifier_need(b->verifier, &f->job);
		r->urgent -= f->urgent;
		dispatch_frame(b, txn, f);
		if (b->held.active && syncer_done(b->syncer))
			release_held(b);	/* the last batch is on disk: send it now */
	}
	if (r->head < r->tail)
		r->since = mono_s();	/* the rest waits from now */
}

/*
 * Bytes this thread has put into the page cache for the disk (the kernel's
 * block-output count, at the time a page is dirtied): around a commit, the
 * pages LMDB wrote (its dirty pages and the meta page), since only the
 * loop's thread writes the data file and each commit's sync leaves the
 * pages clean.  getrusage needs no /proc, which a daemon that gave up root
 * may not read.
 */
static uint64_t
thread_written(struct broker *b)
{
	struct rusage ru;

	if (b->page_size == 0) {
		MDB_stat st;
		b->page_size = mdb_env_stat(b->env, &st) == 0 ? st.ms_psize : 4096;
	}
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_oublock * 512;
}

/*
 * Commit the batch's transaction (n commands); only what is on disk is
 * acknowledged, with its receipts.
 */
static void
commit_batch(struct broker *b, MDB_txn *txn, uint64_t n, bool overlap)
{
	struct timespec t0, t1;

	uint64_t w0 = thread_written(b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* the syncer is idle (nothing is held): it reads no flag meanwhile */
	if (overlap)
		mdb_env_set_flags(b->env, MDB_NOMETASYNC, 1);
	int rc = mdb_txn_commit(txn);
	if (overlap)
		mdb_env_set_flags(b->env, MDB_NOMETASYNC, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t w1 = thread_written(b);
	uint64_t pages = w1 > w0 && b->page_size ? (w1 - w0 + b->page_size - 1) / b->page_size : 0;
	session_settle_queued(b, rc == 0);
	if (rc != 0) {
		metrics_batch_abort(b->metrics);
		/* Nothing of this batch is on disk: acknowledge nothing. */
		log_warnx("commit failed: %s; dropping %llu replies (peers resend)",
		    mdb_strerror(rc), (unsigned long long)n);
		drop_answers(b);	/* nothing of it is on disk: no acknowledgements */
		spool_settle(b->spool, false);
		return;
	}
	spool_settle(b->spool, true);
	metrics_batch_commit(b->metrics, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, n, pages);
	b->pages_written += pages;
	b->commits++;
	b->committed_cmds += n;
	if (n > b->max_batch)
		b->max_batch = n;
	log_debug("commit: %llu commands", (unsigned long long)n);
	if (overlap) {	/* its meta page is written, not yet synced: hold what it sends */
		syncer_start(b->syncer);
		swap_held(b);
		b->held.active = true;
		b->overlapped++;
	} else {
		ack_with_receipts(b);
	}
}

/* Nothing to commit. */
static void
abort_batch(struct broker *b, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	session_settle_queued(b, false);
	metrics_batch_abort(b->metrics);
	spool_settle(b->spool, false);
}

/*
 * Apply up to batch_max frames of the ring in order (or none: the queries,
 * refusals and expiries that wait) in one write transaction, commit it, and
 * only then send what it answers and delivers.  With `defer` the frames
 * (all of them can wait: defer_acks()) are applied only if something else
 * makes a commit anyway.  -1 when no transaction can be begun.
 */
static int
apply_batch(struct broker *b, struct inring *r, bool defer)
{
	MDB_txn *txn = NULL;
	loop_check_storage(b);
	int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (rc != 0) {
		log_warnx("cannot begin a transaction: %s", mdb_strerror(rc));
		return -1;
	}
	uint64_t n = 0;
	double ta = mono_s();
	if (!defer)
		apply_frames(b, r, txn, &n);
	/* refused connections, rate-limited per key */
	n += events_refusals(b, txn);
	/* auditors' queries: on a signal, and once a second in case one was missed */
	bool force = mono_ms() - b->spool_scanned >= 1000;
	if (force)
		b->spool_scanned = mono_ms();
	n += events_spool(b, txn, force);
	/* queued copies whose retention ended: removed and logged, a few per batch */
	if (events_expire(b, txn) == 0 && b->ledger_dirty)
		n++;	/* something to commit */
	if (defer && n > 0)
		apply_frames(b, r, txn, &n);	/* a commit anyway: the acks go with it */
	/*
	 * the secondary indexes, in bulk: when the loop was idle a whole poll
	 * (nothing came for a heartbeat), when nothing waits and enough is
	 * behind to be worth a commit of its own (not after every message at
	 * low load: the next one would wait for that commit), or in each batch
	 * when far behind
	 */
	uint64_t lag = ledger_size(b->ledger, txn) - ledger_indexed_upto(b->ledger, txn), done = 0;
	bool quiet = n == 0 && r->head == r->tail;
	bool no_traffic = mono_ms() - b->last_submit_ms >= INDEX_QUIET_MS;	/* heartbeats go on */
	if (lag > 0 && ((quiet && (no_traffic || lag >= INDEX_LAG_IDLE)) || lag > INDEX_LAG_MAX)) {
		if ((rc = ledger_index_catchup(b->ledger, txn, n == 0 ? INDEX_CHUNK_IDLE :
		    INDEX_CHUNK_BUSY, &done)) != 0)
			log_warnx("cannot index the ledger: %s", keten_strerror(rc));
		n += done;
		lag -= done;
	}
	b->index_lag = lag;
	/* a signed checkpoint for the new size, in the same commit */
	if (b->ledger_dirty && (rc = ledger_checkpoint(b->ledger, txn, b->keys)) != 0)
		log_warnx("cannot write a checkpoint: %s", keten_strerror(rc));
	b->ledger_dirty = false;
	/* what came meanwhile is checked while the commit waits for the disk */
	take_frames(b, r);
	/* the last batch goes out before this one: its sync has long returned */
	release_held(b);
	if (b->sync_failed) {	/* its pages may be lost: nothing after it is committed */
		abort_batch(b, txn);
		drop_answers(b);
		return -1;
	}
	/*
	 * frames wait: the commit's second sync overlaps applying them.  Not
	 * with auditors' queries in the batch (their spool files are removed
	 * once the entries are on disk), nor when stopping.
	 */
	bool overlap = r->tail > r->head && spool_taken(b->spool) == 0 && !broker_stopping;
	double tc = mono_s();
	b->t_apply += tc - ta;
	if (n > 0)
		commit_batch(b, txn, n, overlap);
	else
		abort_batch(b, txn);
	double ts = mono_s();
	b->t_commit += ts - tc;
	session_flush(b);
	if (!b->held.active)
		session_pump(b);	/* else once it is on disk */
	metrics_run(b->metrics);	/* no transaction is open here */
	b->t_send += mono_s() - ts;
	return 0;
}

void
loop_ring_free(struct inring *r)
{
	for (; r->head < r->tail; r->head++) {	/* never applied: never acknowledged */
		struct inframe *f = &r->f[r->head % r->cap];
		if (f->has_job)
			verify_job_clear(&f->job);
		if (f->cmd != NULL)
			keten__wire__v1__command__free_unpacked(f->cmd, NULL);
	}
	free(r->f);
	memset(r, 0, sizeof(*r));
}

void
loop_run(struct broker *b)
{
	/* the metrics' HTTP server runs on this thread, between batches (broker/metrics.h) */
	zmq_pollitem_t items[5] = {
		{ b->router, 0, ZMQ_POLLIN, 0 },
		{ b->zap, 0, ZMQ_POLLIN, 0 },
		{ NULL, spool_fd(b->spool), ZMQ_POLLIN, 0 },
		{ NULL, syncer_fd(b->syncer), ZMQ_POLLIN, 0 },
		{ NULL, metrics_fd(b->metrics), ZMQ_POLLIN, 0 },
	};
	int nitems = metrics_fd(b->metrics) >= 0 ? 5 : 4;

	while (!broker_stopping) {
		if (broker_reload) {
			broker_reload = 0;
			distribute_reload(b);
		}
		/* frames beyond the ring wait in the socket; taken ones do not wait */
		items[0].events = b->ring.tail - b->ring.head < b->ring.cap ? ZMQ_POLLIN : 0;
		double tp = mono_s();
		long timeout = metrics_timeout(b->metrics, (long)b->cfg->heartbeat_ms);
		if (defer_acks(b, &b->ring, tp)) {	/* wait for company, not longer */
			long left = (long)((b->ring.since - tp) * 1000.0) + (long)b->cfg->ack_defer_ms + 1;
			if (timeout < 0 || left < timeout)
				timeout = left;
		} else if (b->ring.tail > b->ring.head || b->index_lag >= INDEX_LAG_IDLE) {
			timeout = 0;	/* frames waiting, or enough entries to index */
		} else if (b->index_lag > 0) {	/* index once submissions paused */
			long left = (long)(b->last_submit_ms + INDEX_QUIET_MS - mono_ms());
			if (timeout < 0 || left < timeout)
				timeout = left > 0 ? left : 0;
		}
		int prc = zmq_poll(items, nitems, timeout);
		double tt = mono_s();
		b->t_poll += tt - tp;
		if (prc < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("poll: %s", zmq_strerror(errno));
			break;
		}
		if (b->held.active && syncer_done(b->syncer))
			release_held(b);
		zap_serve(b->zap, b->dir, events_on_refused, b);
		take_frames(b, &b->ring);
		double tn = mono_s();
		b->t_take += tn - tt;
		if (apply_batch(b, &b->ring, defer_acks(b, &b->ring, tn)) != 0)
			return;
	}
	/* asked to stop: what waits for company goes in now (acks it holds
	 * spare the recipients redeliveries after the restart) */
	if (b->ring.tail > b->ring.head && b->ring.urgent == 0 && !b->sync_failed) {
		uint64_t end = b->ring.tail;	/* more than batch_max when batch_max is small */
		unsigned long long n = (unsigned long long)(end - b->ring.head);
		log_info("committing %llu frame%s that waited (delivery acknowledgements, "
		    "housekeeping)", n, n == 1 ? "" : "s");
		while (b->ring.head < end && apply_batch(b, &b->ring, false) == 0)
			;
	}
	release_held(b);
}
