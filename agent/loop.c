/*
 * The agent's loop: timers (Hello, heartbeats, witness requests, resends,
 * status requests that waited too long), then what the broker and the
 * control socket hold, applied in one LMDB transaction and committed before
 * anything it answers or acknowledges leaves (loop_defer).
 */
#include "agent/agent.h"

void
loop_defer(struct agent *a, bool to_broker, const uint8_t *rid, size_t rid_len,
    const ProtobufCMessage *msg)
{
	if (!to_broker && a->reply_now) {	/* a reply that need not wait for our commit */
		size_t len;
		uint8_t *frame = wire_pack(msg, &len);
		if (frame != NULL && (zmq_send(a->control, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(a->control, frame, len, ZMQ_DONTWAIT) < 0))
			log_debug("control reply not sent: %s", zmq_strerror(errno));
		free(frame);
		return;
	}
	if (a->npend == a->cappend) {
		size_t cap = a->cappend ? 2 * a->cappend : 256;
		struct pending *np = realloc(a->pend, cap * sizeof(*np));
		if (np == NULL)
			return;		/* the peer times out and asks again */
		a->pend = np;
		a->cappend = cap;
	}
	struct pending *p = &a->pend[a->npend];
	if ((p->frame = wire_pack(msg, &p->len)) == NULL)
		return;
	p->to_broker = to_broker;
	if (rid != NULL)
		memcpy(p->rid, rid, rid_len);
	p->rid_len = rid_len;
	a->npend++;
}

static void
send_pending(struct agent *a)
{
	for (size_t i = 0; i < a->npend; i++) {
		struct pending *p = &a->pend[i];
		if (p->to_broker) {
			if (zmq_send(a->dealer, p->frame, p->len, ZMQ_DONTWAIT) < 0)
				log_debug("ack to broker not sent: %s (it redelivers)",
				    zmq_strerror(errno));
		} else if (zmq_send(a->control, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(a->control, p->frame, p->len, ZMQ_DONTWAIT) < 0) {
			log_debug("control reply not sent: %s", zmq_strerror(errno));
		}
		free(p->frame);
	}
	a->npend = 0;
}

static void
timers(struct agent *a)
{
	int64_t now = mono_ms(), hb = (int64_t)a->cfg->heartbeat_ms;
	MDB_txn *rt;

	/* status requests the broker did not answer in time: answer without it */
	for (size_t i = 0; i < DELIVERY_QUERIES; i++)
		if (a->dq[i].used && now >= a->dq[i].deadline_ms) {
			if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) == 0) {
				control_delivery_answered(a, rt, NULL, now);
				mdb_txn_abort(rt);
			}
			break;
		}
	/* local requests whose wait ended: answer with what there is */
	for (size_t i = 0; i < LOCAL_WAITERS; i++)
		if (a->waiters[i].used && now >= a->waiters[i].deadline_ms) {
			if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) == 0) {
				control_wake(a, rt, NULL, true, now, NULL);
				mdb_txn_abort(rt);
				send_pending(a);
			}
			break;
		}

	if (a->ready && now - a->last_rx_ms > 3 * hb) {
		log_warnx("no word from the broker for %lld ms; reconnecting",
		    (long long)(now - a->last_rx_ms));
		a->ready = false;
		a->next_hello_ms = 0;
	}
	if (!a->ready && now >= a->next_hello_ms && a->refused_backoff_ms != 0) {
		link_hello(a);	/* refused before: one Hello, then the back-off again */
		a->next_hello_ms = now + a->refused_backoff_ms;
	} else if (!a->ready && now >= a->next_hello_ms) {
		/* not connected yet (ZMQ_IMMEDIATE): try again soon.  A Hello that left
		 * waits three heartbeats for its answer: a slow broker answers every
		 * Hello queued, and each answer starts a session (and a resend of the
		 * outbox), so one per heartbeat made several sessions after a stall. */
		a->next_hello_ms = now + (link_hello(a) == 0 ? 3 * hb : 50);
	}
	if (now >= a->next_hb_ms && a->refused_backoff_ms == 0) {
		link_heartbeat(a);
		a->next_hb_ms = now + hb;
	}
	if (a->ready && a->have_broker_sign_pk && now >= a->next_witness_ms) {
		link_witness_request(a);
		a->next_witness_ms = now + 4 * hb;
	}
	if (a->ready && a->inflight > 0 && now - a->progress_ms > (int64_t)a->cfg->resend_ms) {
		log_info("%llu submissions unacknowledged for %llu ms; resending",
		    (unsigned long long)a->inflight, (unsigned long long)a->cfg->resend_ms);
		a->cursor = 0;
		a->inflight = 0;
		a->progress_ms = now;
	}
}

/*
 * The loop.  A batch that holds only the broker's acknowledgements of our
 * submissions waits up to ACK_DEFER_MS for company before its commit: the
 * replies it makes go out at once (control_wake: the broker's receipts are the
 * fact, our record of them is not, and were it lost the outbox sends again and
 * the broker says duplicate), so nothing waits for that commit, and the next
 * submission of a partner system that sends one at a time shares it instead
 * of waiting behind it.  Anything else in the batch (a submission, a
 * delivery, a control request, any other command from the broker) or a full
 * batch commits it at once.  While a batch waits, timers and the outbox pump
 * wait too (they read in transactions of their own).
 */
#define ACK_DEFER_MS 5

/* Commit the batch in txn (n commands; 0: nothing written, abort it). */
static void
commit(struct agent *a, MDB_txn *txn, uint64_t n)
{
	int rc;

	if (n == 0) {
		mdb_txn_abort(txn);
		return;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		log_warnx("commit failed: %s; nothing of this batch is acknowledged, "
		    "the outbox is sent again", mdb_strerror(rc));
		for (size_t i = 0; i < a->npend; i++)
			free(a->pend[i].frame);
		a->npend = 0;
		/* acknowledgements it applied are lost with it, and counted
		 * off `inflight`: the resend timer would not see their
		 * messages; the broker answers what it has as duplicates */
		a->cursor = 0;
		a->inflight = 0;
		a->progress_ms = mono_ms();
		return;
	}
	a->commits++;
	a->committed += n;
}

void
loop_run(struct agent *a)
{
	zmq_pollitem_t items[2] = {
		{ a->dealer, 0, ZMQ_POLLIN, 0 },
		{ a->control, 0, ZMQ_POLLIN, 0 },
	};
	long tick = (long)(a->cfg->heartbeat_ms / 4);
	MDB_txn *txn = NULL;	/* a batch of acknowledgements waiting for company */
	int64_t held_since = 0;
	uint64_t n = 0;
	int rc;

	a->last_rx_ms = mono_ms();
	while (!agent_stopping) {
		long timeout = tick > 0 ? tick : 1;
		if (txn == NULL) {
			timers(a);
		} else {
			int64_t left = held_since + ACK_DEFER_MS - mono_ms();
			timeout = left > 0 ? (long)left : 0;
		}
		double tp = mono_s();
		int prc = zmq_poll(items, 2, timeout);
		double ta = mono_s();
		a->t_poll += ta - tp;
		if (prc < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("poll: %s", zmq_strerror(errno));
			break;
		}
		if (txn == NULL) {
			if ((rc = mdb_txn_begin(a->env, NULL, 0, &txn)) != 0) {
				log_warnx("cannot begin a transaction: %s", mdb_strerror(rc));
				txn = NULL;
				break;
			}
			n = 0;
			a->commit_now = false;
		}
		bool got;
		do {
			got = false;
			if (link_receive(a, txn)) {
				got = true;
				n++;
			}
			if (control_receive(a, txn)) {
				a->commit_now = true;
				got = true;
				n++;
			}
		} while (got && n < a->cfg->batch_max);
		double tc = mono_s();
		a->t_apply += tc - ta;
		if (n > 0 && !a->commit_now && a->npend == 0 && n < a->cfg->batch_max) {
			if (held_since == 0)
				held_since = mono_ms();
			if (mono_ms() - held_since < ACK_DEFER_MS)
				continue;	/* acknowledgements only: wait for company */
		}
		if (held_since != 0 && a->commit_now)
			a->acks_waited++;
		held_since = 0;
		commit(a, txn, n);
		txn = NULL;
		double ts = mono_s();
		a->t_commit += ts - tc;
		send_pending(a);	/* before the pump can fill the queue to the broker */
		link_pump(a);
		a->t_send += mono_s() - ts;
	}
	/* asked to stop: acknowledgements that waited for company go in now */
	if (txn != NULL) {
		commit(a, txn, n);
		send_pending(a);
	}
}
