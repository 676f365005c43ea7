/*
 * keten-broker: one ROUTER socket (CURVE server), the ZAP handler, and the
 * durable delivery queue.  The loop is: drain what the socket has (up to
 * batch_max commands), apply it in one LMDB write transaction, commit (fsync),
 * and only then send the acknowledgements and deliveries (DESIGN.md, step 4).
 *
 * Frames are taken from the socket into a ring as they come, also just
 * before a commit; each submission's signature check is queued for the
 * verifier's threads (broker/verify.h) at once, so they check while the loop
 * applies and commits (fsync) what came before.  Frames are applied in the
 * order they came; none is acknowledged before the commit of its batch.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "broker/gate.h"
#include "broker/ledger.h"
#include "broker/metrics.h"
#include "broker/queue.h"
#include "broker/spool.h"
#include "broker/verify.h"
#include "broker/zap.h"
#include "common/config.h"
#include "common/db.h"
#include "common/directory.h"
#include "common/harden.h"
#include "common/keys.h"
#include "common/checkpoint.h"
#include "common/log.h"
#include "common/policysig.h"
#include "common/util.h"
#include "common/wire.h"
#include "common/yamltree.h"

#define REFUSALS_TRACKED 256	/* keys whose refusals are rate-limited */
#define RID_MAX 256
#define STORAGE_HIGH_WATER 80	/* % of the map above which submissions are refused */

/* An agency's live connection and its delivery window. */
struct peer {
	const struct dir_agency *agency;
	uint8_t rid[RID_MAX];
	size_t rid_len;
	bool connected;
	bool more;		/* the queue may hold entries beyond `cursor` */
	uint64_t cursor;	/* highest seq sent on this connection */
	uint64_t inflight;	/* sent, not yet acknowledged */
	int64_t progress_ms;	/* last send or ack (monotonic) */
	int64_t clock_off_ms;	/* agent clock minus broker clock, from Hello and heartbeats */
	bool refusing;		/* a submission was refused for lack of storage: refuse the
				 * rest of the session too, so the sender resends in order */
	bool rate_refusing;	/* the same, for going over max_submissions_per_s */
	double tokens;		/* submissions this agency may still make now */
	int64_t tokens_ms;	/* when tokens was last topped up (monotonic) */
	int64_t heard_ms;	/* last command on the session (monotonic) */
	/* copies queued for this agency: counted once at start (queue_count), then
	 * kept by the batches; `queued_pending` is the current batch's change,
	 * added at its commit and dropped when the commit fails */
	uint64_t queued;
	int64_t queued_pending;
};

/* A frame taken from the router, waiting for its batch to be verified and applied. */
struct inframe {
	uint8_t rid[RID_MAX];
	size_t rid_len;
	char user[KETEN_IDMAX];		/* the authenticated agency (ZAP's User-Id), or "" */
	int extra;			/* surplus frames that came with it */
	size_t len;			/* the command frame's size */
	Keten__Wire__V1__Command *cmd;	/* unpacked, or NULL */
	bool has_job;			/* a submission: its signature check */
	bool urgent;			/* may not wait: see can_wait() */
	struct verify_job job;
};

/* Frames taken, in order: f[head % cap .. tail % cap); they do not move. */
struct inring {
	struct inframe *f;
	size_t cap;
	uint64_t head, tail;
	uint64_t urgent;		/* frames in it with urgent set */
	double since;			/* mono_s() when the oldest frame in it was taken */
};

/* A reply held back until the batch is committed. */
struct reply {
	uint8_t rid[RID_MAX];
	size_t rid_len;
	uint8_t *frame;
	size_t len;
};

struct broker {
	struct broker_config *cfg;
	struct directory *dir;
	struct policy *policy;		/* active */
	struct policy *shadow;		/* candidate in shadow mode, or NULL */
	uint8_t *policy_frame;		/* packed Command{policy_update} for agents */
	size_t policy_frame_len;
	uint8_t *dir_frame;		/* packed Command{directory_update} for agents */
	size_t dir_frame_len;
	struct keten_keys *keys;
	MDB_env *env;
	struct queue *queue;
	struct ledger *ledger;
	struct spool *spool;		/* auditors' queries waiting to be logged */
	struct verifier *verifier;	/* signature checks beside the commit */
	struct inring ring;		/* frames taken, not yet applied */
	int64_t spool_scanned;		/* mono_ms of the last full look at the spool */
	bool ledger_dirty;		/* entries appended in the current batch */
	bool storage_tight;		/* the map is nearly full: refuse new submissions */
	bool storage_refused;		/* a submission was refused for storage and none
					 * accepted since (what /healthz reports) */
	uint64_t storage_used;		/* bytes of the map used at the start of this batch */
	uint64_t storage_limit;		/* the high-water mark in bytes */
	uint64_t batch_bytes;		/* what this batch's accepted submissions may take */
	void *zctx, *router, *zap;
	struct peer *peers;		/* one per directory entry */
	struct reply *replies;
	size_t nreplies, capreplies;
	uint8_t instance[KETEN_INSTANCEBYTES];
	/* acceptances whose acknowledgement (with receipts) waits for the commit */
	struct pending_ack {
		uint8_t rid[RID_MAX];
		size_t rid_len;
		uint8_t message_id[16];
		uint64_t ref, first_seq;
		size_t ncopies;
		int64_t accepted_ms;
	} *acks;
	size_t nacks, capacks;
	/* refused connections: logged and put in the ledger at most once a minute
	 * per key and address (a client retrying in a loop must not fill either) */
	struct refusal {
		char key[KETEN_Z85_KEYLEN + 1], addr[64], why[160];
		int64_t logged_ms;	/* mono; 0 = free */
		uint64_t since;		/* refusals not logged since */
		bool pending;		/* to log in the next batch */
	} refusals[REFUSALS_TRACKED];
	struct metrics *metrics;	/* counters; HTTP only with metrics_listen */
	/* statistics, logged at shutdown */
	uint64_t commits, committed_cmds, submits, dups, delivered, errors, max_batch, policy_rejects,
	    shadow_diffs;
	/* where the loop's time went (seconds): waiting in poll, taking frames,
	 * applying batches, committing, sending */
	double t_poll, t_take, t_apply, t_commit, t_send;
};

static int load_policy(struct broker *b, const char *path, struct policy **out, char **src,
    size_t *len, char err[static KETEN_ERRLEN]);
static void make_policy_frame(struct broker *b, const char *src, size_t len);
static void make_dir_frame(struct broker *b, const char *src, size_t len);
static void check_storage(struct broker *b);

static volatile sig_atomic_t stopping, reload;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		stopping = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: keten-broker --config FILE [-n] [--verbose]\n"
	    "  -n, --check     check the configuration, keys and directory, then exit\n"
	    "  -v, --verbose   log debug lines\n");
	exit(2);
}

static struct peer *
peer_of(struct broker *b, const struct dir_agency *a)
{
	return &b->peers[a - b->dir->agencies];
}

static void
queue_reply(struct broker *b, const uint8_t *rid, size_t rid_len,
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
static void
queue_reply_frame(struct broker *b, const uint8_t *rid, size_t rid_len, const uint8_t *frame,
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

static void
reply_error(struct broker *b, const uint8_t *rid, size_t rid_len, Keten__Wire__V1__ErrorCode code,
    const ProtobufCBinaryData *msgid, uint64_t ref, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void
reply_error(struct broker *b, const uint8_t *rid, size_t rid_len, Keten__Wire__V1__ErrorCode code,
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
	queue_reply(b, rid, rid_len, &c);
}

static void
send_replies(struct broker *b)
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
static struct peer *
start_session(struct broker *b, const struct dir_agency *a, const uint8_t *rid, size_t rid_len)
{
	struct peer *p = peer_of(b, a);

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

static bool
in_session(struct broker *b, const struct dir_agency *a, const uint8_t *rid, size_t rid_len)
{
	const struct peer *p = peer_of(b, a);

	return p->connected && p->rid_len == rid_len && memcmp(p->rid, rid, rid_len) == 0;
}

static void
log_policy(const struct policy *p, const char *what)
{
	char hash[2 * POLICY_HASHBYTES + 1];

	policy_hash_hex(p, hash);
	log_info("%s policy %s version %s (sha256 %.16s...), %zu rules", what, policy_name(p),
	    policy_version(p), hash, policy_nrules(p));
}

/* Shadow mode: log every decision the candidate policy would take differently. */
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
			log_info("shadow: policy %s would allow %s a different field set for message %s "
			    "(%zu fields instead of %zu)", policy_version(b->shadow),
			    s->copies[i]->recipient, ids, codec_pathset_count(&cand->dec[i].allowed),
			    codec_pathset_count(&active->dec[i].allowed));
		}
	}
	free(cand);
}

static void
policy_hex(const struct policy *p, char out[static 2 * POLICY_HASHBYTES + 1])
{
	policy_hash_hex(p, out);
}

/*
 * Append an entry in txn, which the caller aborts if this fails: a nested
 * transaction of its own (log_entry) or one around more (a submission's
 * queue and ledger writes, a delivery's).
 */
static int
log_append(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	int rc;

	e->time_ms = now_ms();
	if ((rc = ledger_append(b->ledger, txn, e)) != 0)
		return rc;
	b->ledger_dirty = true;
	return 0;
}

/* Append an entry; a failure aborts the batch (nothing acted on is unlogged). */
static int
log_entry(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	MDB_txn *child = NULL;
	int rc;

	/* in a nested transaction: a full map fails this entry, not the batch */
	if ((rc = mdb_txn_begin(b->env, txn, 0, &child)) != 0)
		return db_err(rc);
	if ((rc = log_append(b, child, e)) != 0) {
		mdb_txn_abort(child);
		return rc;
	}
	if ((rc = mdb_txn_commit(child)) != 0)
		return db_err(rc);
	return 0;
}

/* ZAP refused a connection: remember it for the ledger, at most once a minute per key. */
static void
on_refused(void *arg, const char *key, const char *addr, const char *why)
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

/* The refusals remembered since the last batch, as KEY_REFUSED entries in txn. */
static uint64_t
log_refusals(struct broker *b, MDB_txn *txn)
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
		if (log_entry(b, txn, &e) == 0)
			n++;
	}
	return n;
}

/* log_entry for the audit spool */
static int
log_spooled(void *arg, MDB_txn *txn, Keten__Ledger__V1__Entry *e)
{
	return log_entry(arg, txn, e);
}

/* A refused submission is logged as carefully as an accepted one. */
static void
log_rejection(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Submit *s, const char *code, const char *reason)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	const Keten__Envelope__V1__Header *h = s->header;
	char hex[2 * POLICY_HASHBYTES + 1];

	e.kind = KETEN__LEDGER__V1__KIND__KIND_REJECTED;
	e.actor = (char *)from->id;
	e.sender = (char *)from->id;
	if (h != NULL) {
		e.message_id = h->message_id;
		e.case_pseudonym = h->case_pseudonym;
		e.message_type = h->message_type;
		e.purpose = h->purpose;
		e.legal_basis = h->legal_basis;
	}
	policy_hex(b->policy, hex);
	e.policy_version = hex;
	e.reason_code = (char *)code;
	e.reason = (char *)reason;
	if (log_entry(b, txn, &e) != 0)
		log_warnx("cannot log a rejection in the ledger");
}

static const char *
error_code_name(int code)
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

/* One ACCEPTED entry per copy, in the transaction that queues it. */
static int
log_accepted(struct broker *b, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, const struct gate_verdict *v, uint64_t *first_seq)
{
	const Keten__Envelope__V1__Header *h = s->header;
	char hex[2 * POLICY_HASHBYTES + 1];
	int rc;

	*first_seq = ledger_size(b->ledger, txn);
	policy_hex(b->policy, hex);
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
		if ((rc = log_append(b, txn, &e)) != 0)	/* txn: the submission's own */
			return rc;
	}
	return 0;
}

/* The broker's own events: policy and directory changes. */
static void
log_event(struct broker *b, Keten__Ledger__V1__Kind kind, const char *reason)
{
	Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
	char hex[2 * POLICY_HASHBYTES + 1];
	MDB_txn *txn;

	if (mdb_txn_begin(b->env, NULL, 0, &txn) != 0)
		return;
	policy_hex(b->policy, hex);
	e.kind = kind;
	e.actor = "broker";
	e.policy_version = hex;
	e.reason = (char *)reason;
	if (log_entry(b, txn, &e) != 0 || ledger_checkpoint(b->ledger, txn, b->keys) != 0 ||
	    mdb_txn_commit(txn) != 0) {
		log_warnx("cannot write a %s entry to the ledger", reason);
		mdb_txn_abort(txn);
	}
	b->ledger_dirty = false;
}

/*
 * A token bucket per agency: max_submissions_per_s, with a burst of two
 * seconds' worth.  Once over, the rest of the session is refused too, so the
 * agent resends in order after its pause.
 */
static bool
rate_ok(struct broker *b, struct peer *pe)
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

/*
 * Judge and apply one Submit inside the batch transaction.  Accepted copies
 * go to the queue in a nested transaction, so that a full map refuses this
 * submission but keeps the rest of the batch.
 */
static void
handle_submit(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre)
{
	Keten__Wire__V1__SubmitAck ack = KETEN__WIRE__V1__SUBMIT_ACK__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	const ProtobufCBinaryData *mid = s->header && s->header->message_id.len == KETEN_UUIDBYTES ?
	    &s->header->message_id : NULL;
	struct gate_verdict *v = NULL;
	MDB_txn *child = NULL;
	int64_t now = now_ms();
	bool dup = false;
	uint64_t first_seq = 0;
	int rc;

	if (mid != NULL && (rc = queue_seen(b->queue, txn, mid->data, from->id, &dup)) != 0) {
		metrics_rejected(b->metrics, rc == KETEN_EEXIST ? "malformed" : "storage");
		reply_error(b, rid, rid_len, rc == KETEN_EEXIST ?
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED :
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE, mid, s->ref, "submit: %s",
		    rc == KETEN_EEXIST ? "message id already used by another sender" :
		    "broker storage error; retry later");
		return;
	}
	if (dup) {	/* accepted before: the agent did not hear our ack */
		b->dups++;
		metrics_duplicate(b->metrics);
		goto ack;
	}
	if ((v = malloc(sizeof(*v))) == NULL) {
		metrics_rejected(b->metrics, "storage");
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE, mid,
		    s->ref, "broker out of memory; retry later");
		return;
	}
	/* what this submission may take: queued copies, ledger entries, indexes, tree */
	uint64_t need = 2048;
	for (size_t i = 0; i < s->n_copies; i++)
		need += 3 * (s->copies[i]->payload.len + 64 * s->copies[i]->n_manifest) + 1024;
	if (!b->storage_tight && b->storage_used + b->batch_bytes + need > b->storage_limit) {
		b->storage_tight = true;
		log_warnx("storage: the map is nearly full; refusing new submissions (deliveries and "
		    "audits go on); raise map_size_mb and restart");
	}
	if (b->storage_tight || peer_of(b, from)->refusing) {
		peer_of(b, from)->refusing = true;
		b->storage_refused = true;
		metrics_rejected(b->metrics, "storage");
		/* keep room for deliveries, their ledger entries and audits; nothing was
		 * decided about this message (it will be sent again), so nothing to log */
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE, mid, s->ref,
		    "broker storage nearly full (over %d%% of map_size_mb); deliveries and audits go "
		    "on; retry later", STORAGE_HIGH_WATER);
		free(v);
		return;
	}
	struct peer *pe = peer_of(b, from);
	if (!rate_ok(b, pe)) {
		/* nothing decided: the agent pauses and sends it again, in order */
		metrics_rejected(b->metrics, "rate-limited");
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED, mid,
		    s->ref, "%s sends more than max_submissions_per_s (%llu a second); retry later",
		    from->id, (unsigned long long)b->cfg->max_submissions_per_s);
		free(v);
		return;
	}
	if (pe->clock_off_ms > (int64_t)b->cfg->max_clock_skew_ms ||
	    pe->clock_off_ms < -(int64_t)b->cfg->max_clock_skew_ms) {
		char why[200];
		snprintf(why, sizeof(why), "the clock of %s is %lld s %s the broker's (allowed: %lld s); "
		    "fix the clock", from->id, (long long)((llabs(pe->clock_off_ms) + 500) / 1000),
		    pe->clock_off_ms > 0 ? "ahead of" : "behind",
		    (long long)(b->cfg->max_clock_skew_ms / 1000));
		log_rejection(b, txn, from, s, "clock", why);
		metrics_rejected(b->metrics, "clock");
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK, mid, s->ref,
		    "%s", why);
		free(v);
		return;
	}
	gate_check(b->dir, b->policy, b->queue, b->ledger, txn, from, s, pre, now,
	    (int64_t)b->cfg->max_clock_skew_ms, v);
	if (b->shadow != NULL && mid != NULL)
		shadow_compare(b, txn, s, pre, v);
	if (v->code != 0) {
		if (v->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY ||
		    v->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED)
			b->policy_rejects++;
		log_warnx("submit from %s rejected: %s", from->id, v->reason);
		log_rejection(b, txn, from, s, error_code_name(v->code), v->reason);
		metrics_rejected(b->metrics, error_code_name(v->code));
		reply_error(b, rid, rid_len, v->code, mid, s->ref, "%s", v->reason);
		free(v);
		return;
	}
	if ((rc = mdb_txn_begin(b->env, txn, 0, &child)) == 0) {
		int64_t expires[GATE_MAX_COPIES];
		for (size_t i = 0; i < s->n_copies; i++)	/* the shortest retention of its rules */
			expires[i] = v->dec[i].retention_days ?
			    now + (int64_t)v->dec[i].retention_days * 86400000LL : 0;
		rc = queue_submit(b->queue, child, s, (const uint8_t (*)[32])v->digests, expires, now);
		if (rc == 0)	/* logged in the same transaction as queued: both or neither */
			rc = log_accepted(b, child, s, pre, v, &first_seq);
		/* count what the volume limits of the granting rules allow */
		for (size_t i = 0; i < s->n_copies && rc == 0; i++) {
			struct policy_request rq;
			gate_request(s->header, s->copies[i]->recipient,
			    codec_type_find(s->header->message_type), now, &rq);
			for (size_t k = 0; k < v->dec[i].ngranting && rc == 0; k++) {
				const struct policy_rule_info *ri =
				    policy_rule_info(b->policy, (size_t)v->dec[i].granting[k]);
				if (ri->limit_count > 0)
					rc = queue_limit_count(b->queue, child, &rq, ri);
			}
		}
		if (rc == 0)
			rc = db_err(mdb_txn_commit(child));
		else
			mdb_txn_abort(child);
	} else {
		rc = db_err(rc);
	}
	free(v);
	if (rc == 0)
		b->batch_bytes += need;
	if (rc != 0) {
		metrics_rejected(b->metrics, "storage");
		b->storage_refused = b->storage_refused || rc == KETEN_EFULL;
		log_warnx("submit from %s refused: %s", from->id, rc == KETEN_EFULL ?
		    "storage full (raise map_size_mb)" : keten_strerror(rc));
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE,
		    mid, s->ref, "broker storage %s; retry later", rc == KETEN_EFULL ? "full" : "error");
		return;
	}
	b->submits++;
	b->storage_refused = false;
	metrics_accepted(b->metrics);
	for (size_t i = 0; i < s->n_copies; i++) {
		struct peer *rp = peer_of(b, directory_find(b->dir, s->copies[i]->recipient));
		rp->more = true;
		rp->queued_pending++;
	}
	/* acknowledged with its receipts once the batch (and its checkpoint) is committed */
	if (b->nacks == b->capacks) {
		size_t cap = b->capacks ? 2 * b->capacks : 256;
		struct pending_ack *na = realloc(b->acks, cap * sizeof(*na));
		if (na == NULL)
			goto ack;	/* without receipts rather than not at all */
		b->acks = na;
		b->capacks = cap;
	}
	struct pending_ack *pa = &b->acks[b->nacks++];
	memcpy(pa->rid, rid, rid_len);
	pa->rid_len = rid_len;
	memcpy(pa->message_id, mid->data, 16);
	pa->ref = s->ref;
	pa->first_seq = first_seq;
	pa->ncopies = s->n_copies;
	pa->accepted_ms = now;
	return;
ack:
	ack.message_id = *mid;
	ack.ref = s->ref;
	ack.duplicate = dup;
	ack.accepted_ms = now;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK;
	c.submit_ack = &ack;
	queue_reply(b, rid, rid_len, &c);
}

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
	/* a later entry says more: accepted, then delivered (or expired, refused) */
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
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
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
	queue_reply(b, rid, rid_len, &c);
	free(w);
}

static void
handle_deliver_ack(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__DeliverAck *a)
{
	struct peer *p = peer_of(b, from);
	int rc;

	if (a->message_id.len != KETEN_UUIDBYTES) {
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
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
			rc = log_append(b, child, &e);
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

/* An agent's clock, as it says in Hello and heartbeats; a change of state is logged. */
static void
note_clock(struct broker *b, const struct dir_agency *a, int64_t their_ms)
{
	struct peer *p = peer_of(b, a);
	int64_t skew = (int64_t)b->cfg->max_clock_skew_ms;

	if (their_ms == 0)
		return;
	bool was_off = p->clock_off_ms > skew || p->clock_off_ms < -skew;
	p->clock_off_ms = their_ms - now_ms();
	bool off = p->clock_off_ms > skew || p->clock_off_ms < -skew;
	if (off && !was_off)
		log_warnx("the clock of %s is %lld s %s ours: its submissions are refused until it is "
		    "fixed", a->id, (long long)((llabs(p->clock_off_ms) + 500) / 1000),
		    p->clock_off_ms > 0 ? "ahead of" : "behind");
	else if (!off && was_off)
		log_info("the clock of %s is right again", a->id);
}

static void
handle_hello(struct broker *b, const struct dir_agency *from, const uint8_t *rid,
    size_t rid_len, const Keten__Wire__V1__Hello *h)
{
	Keten__Wire__V1__Hello me = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	if (h->version != KETEN_PROTOCOL_VERSION) {
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_PROTOCOL, NULL,
		    0, "hello: protocol version %u not supported (this broker speaks %d)",
		    h->version, KETEN_PROTOCOL_VERSION);
		return;
	}
	if (strcmp(h->agency, from->id) != 0) {
		log_warnx("agency %s says hello as \"%.64s\"; check its configuration",
		    from->id, h->agency);
		reply_error(b, rid, rid_len, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_PROTOCOL, NULL,
		    0, "hello: this connection is authenticated as %s, not %.64s", from->id,
		    h->agency);
		return;
	}
	start_session(b, from, rid, rid_len);
	note_clock(b, from, h->time_ms);
	me.version = KETEN_PROTOCOL_VERSION;
	me.agency = "broker";
	me.instance = (ProtobufCBinaryData){ sizeof(b->instance), b->instance };
	me.software = "keten-broker 0.1.0";
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &me;
	queue_reply(b, rid, rid_len, &c);
	/* the agent works from our directory and filters by what we enforce */
	if (b->dir_frame != NULL)
		queue_reply_frame(b, rid, rid_len, b->dir_frame, b->dir_frame_len);
	if (b->policy_frame != NULL)
		queue_reply_frame(b, rid, rid_len, b->policy_frame, b->policy_frame_len);
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
	queue_reply(b, rid, rid_len, &c);
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
	queue_reply(b, rid, rid_len, &cmd);
	ledger_challenge_clear(&c);
}

/* A witness's cosignature: checked with its key, stored beside the checkpoint. */
static void
handle_cosignature(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Cosignature *cs)
{
	char *note = ledger_checkpoint_note(b->ledger, txn, cs->size);

	if (note == NULL || checkpoint_cosig_verify(note, cs->signature_line, from->id,
	    from->sign_pk) != 0) {
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

/* Apply one frame of a verified batch inside txn. */
static void
apply_frame(struct broker *b, MDB_txn *txn, struct inframe *f)
{
	const uint8_t *rid = f->rid;
	int ridlen = (int)f->rid_len, extra = f->extra;
	size_t len = f->len;
	Keten__Wire__V1__Command *cmd = f->cmd;
	const struct dir_agency *from = f->user[0] ? directory_find(b->dir, f->user) : NULL;

	if (from == NULL) {
		/* ZAP admitted it, so the directory changed under us; refuse. */
		log_warnx("frame from unauthenticated peer dropped");
		goto out;
	}
	if (!dir_agency_active(from, now_ms())) {
		reply_error(b, rid, (size_t)ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED,
		    NULL, 0, "agency %s is revoked or outside its validity window", from->id);
		goto out;
	}
	if (extra > 0) {
		log_warnx("malformed frame from %s: %d frames, expected 1", from->id, extra + 1);
		reply_error(b, rid, (size_t)ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    NULL, 0, "expected exactly 1 frame per command, got %d", extra + 1);
		goto out;
	}
	if (len > b->cfg->max_message_bytes + 4096) {
		log_warnx("oversize frame from %s: %zu bytes", from->id, len);
		reply_error(b, rid, (size_t)ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_TOO_LARGE,
		    NULL, 0, "frame of %zu bytes exceeds the limit of %llu bytes", len,
		    (unsigned long long)b->cfg->max_message_bytes + 4096);
		goto out;
	}
	if (cmd == NULL) {
		log_warnx("malformed frame from %s: %zu bytes that are not a wire command",
		    from->id, len);
		reply_error(b, rid, (size_t)ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED,
		    NULL, 0, "frame of %zu bytes is not a valid keten.wire.v1.Command", len);
		goto out;
	}
	if ((cmd->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_SUBMIT ||
	    cmd->cmd_case == KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT) &&
	    !in_session(b, from, rid, (size_t)ridlen)) {
		/* a reconnect or our restart: the agent says Hello, then resends in order */
		const Keten__Wire__V1__Submit *sub = cmd->cmd_case ==
		    KETEN__WIRE__V1__COMMAND__CMD_SUBMIT ? cmd->submit : NULL;
		if (sub != NULL)
			metrics_rejected(b->metrics, "no-session");
		reply_error(b, rid, (size_t)ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NO_SESSION,
		    sub && sub->header ? &sub->header->message_id : NULL, sub ? sub->ref : 0,
		    "no session on this connection: say Hello first");
		goto out;
	}
	if (in_session(b, from, rid, (size_t)ridlen))
		peer_of(b, from)->heard_ms = mono_ms();
	switch (cmd->cmd_case) {
	case KETEN__WIRE__V1__COMMAND__CMD_HELLO:
		handle_hello(b, from, rid, (size_t)ridlen, cmd->hello);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT:
		handle_submit(b, txn, from, rid, (size_t)ridlen, cmd->submit,
		    f->has_job ? &f->job : NULL);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK:
		handle_deliver_ack(b, txn, from, rid, (size_t)ridlen, cmd->deliver_ack);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT:
		note_clock(b, from, cmd->heartbeat->time_ms);
		handle_heartbeat(b, rid, (size_t)ridlen);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST:
		handle_witness_request(b, txn, from, rid, (size_t)ridlen, cmd->witness_request);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE:
		handle_cosignature(b, txn, from, cmd->cosignature);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_QUERY:
		handle_delivery_query(b, txn, from, rid, (size_t)ridlen, cmd->delivery_query);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_ERROR: {
		log_warnx("agency %s reports error %d: %.200s", from->id, cmd->error->code,
		    cmd->error->reason);
		Keten__Ledger__V1__Entry e = KETEN__LEDGER__V1__ENTRY__INIT;
		e.kind = KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED;
		e.actor = (char *)from->id;
		e.recipient = (char *)from->id;
		e.message_id = cmd->error->message_id;
		e.reason = cmd->error->reason;
		log_entry(b, txn, &e);
		break;
	}
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK:
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER:
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS:
		reply_error(b, rid, (size_t)ridlen, KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED,
		    NULL, 0, "%s is sent by the broker, not to it", wire_cmd_name(cmd->cmd_case));
		break;
	default:
		log_warnx("unknown command from %s", from->id);
		reply_error(b, rid, (size_t)ridlen,
		    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_COMMAND, NULL, 0,
		    "frame holds no known command");
		break;
	}
out:
	if (f->has_job)
		verify_job_clear(&f->job);
	if (cmd != NULL)
		keten__wire__v1__command__free_unpacked(cmd, NULL);
	f->cmd = NULL;
	f->has_job = false;
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
static void
pump_deliveries(struct broker *b)
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
static int
count_queued(struct broker *b)
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

/* The batch is committed (or not): its queue changes count, or are forgotten. */
static void
settle_queued(struct broker *b, bool committed)
{
	for (size_t i = 0; i < b->dir->n; i++) {
		struct peer *p = &b->peers[i];
		if (committed && p->queued_pending < 0 && (uint64_t)-p->queued_pending > p->queued)
			p->queued = 0;	/* never: every removal was counted in */
		else if (committed)
			p->queued = (uint64_t)((int64_t)p->queued + p->queued_pending);
		p->queued_pending = 0;
	}
}

static double
mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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
static void
fill_metrics(void *arg, struct metrics_state *st)
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

static int
setup(struct broker *b, bool check_only)
{
	char err[KETEN_ERRLEN];
	int rc;

	if ((rc = keys_load(b->cfg->keys, &b->keys, err)) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	/* the secret key is read: root is no longer needed */
	if (!check_only && (rc = harden_drop_user(b->cfg->user, "user", err)) != 0) {
		log_warnx("%s: %s", b->cfg->path, err);
		return -1;
	}
	char *src = NULL, *dsrc = NULL;
	size_t len = 0, dlen = 0;
	if ((rc = file_read(b->cfg->directory, YDOC_MAX_BYTES, &dsrc, &dlen, err)) != 0 ||
	    (rc = directory_parse(b->cfg->directory, dsrc, dlen, &b->dir, err)) != 0 ||
	    (rc = load_policy(b, b->cfg->policy, &b->policy, &src, &len, err)) != 0 ||
	    (b->cfg->shadow_policy != NULL &&
	    (rc = policy_load(b->cfg->shadow_policy, b->dir, &b->shadow, err)) != 0)) {
		log_warnx("%s", err);
		free(src);
		free(dsrc);
		return -1;
	}
	make_policy_frame(b, src, len);
	make_dir_frame(b, dsrc, dlen);
	free(src);
	free(dsrc);
	if (check_only)
		return 0;
	if ((b->peers = calloc(b->dir->n, sizeof(*b->peers))) == NULL)
		return -1;
	for (size_t i = 0; i < b->dir->n; i++)
		b->peers[i].agency = &b->dir->agencies[i];
	if ((rc = db_env_open(b->cfg->data_dir, b->cfg->map_size_mb, 16, &b->env, err)) != 0 ||
	    (rc = queue_open(b->env, &b->queue, err)) != 0 ||
	    (rc = ledger_open(b->env, b->cfg->origin, &b->ledger, err)) != 0 ||
	    (rc = spool_open(b->cfg->data_dir, &b->spool, err)) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (metrics_new(&b->metrics) != 0)
		return -1;
	if (b->cfg->metrics_listen != NULL) {
		if ((rc = count_queued(b)) != 0) {
			log_warnx("cannot count the delivery queue: %s", keten_strerror(rc));
			return -1;
		}
		check_storage(b);
		if ((rc = metrics_listen(b->metrics, (const struct sockaddr *)&b->cfg->metrics_addr,
		    b->cfg->metrics_addrlen, fill_metrics, b, err)) != 0) {
			log_warnx("metrics_listen %s: %s", b->cfg->metrics_listen, err);
			return -1;
		}
		log_info("serving /metrics and /healthz on http://%s%s", b->cfg->metrics_listen,
		    b->cfg->metrics_public ? " (metrics_public: not only this host)" : "");
	}
	randombytes_buf(b->instance, sizeof(b->instance));
	/* before ZeroMQ starts its threads, which inherit the filter */
	if (b->cfg->seccomp && (rc = harden_seccomp(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	log_info("seccomp: %s", !b->cfg->seccomp ? "off (seccomp: false)" : rc == 0 ?
	    "system call filter installed" : "not installed in this sanitizer build");
	if ((rc = verifier_new((unsigned)b->cfg->verify_threads, &b->verifier)) != 0) {
		log_warnx("cannot start the verifier's threads: %s", keten_strerror(rc));
		return -1;
	}
	b->ring.cap = b->cfg->batch_max * 2 < 64 ? 64 : b->cfg->batch_max * 2 > 8192 ? 8192 :
	    b->cfg->batch_max * 2;
	if ((b->ring.f = calloc(b->ring.cap, sizeof(*b->ring.f))) == NULL)
		return -1;
	log_info("signatures checked on %u thread%s beside the commit",
	    verifier_threads(b->verifier), verifier_threads(b->verifier) == 1 ? "" : "s");
	b->zctx = zmq_ctx_new();
	if ((b->zap = zap_open(b->zctx)) == NULL) {
		log_warnx("cannot start the ZAP handler: %s", zmq_strerror(errno));
		return -1;
	}
	b->router = zmq_socket(b->zctx, ZMQ_ROUTER);
	int one = 1, zero = 0, hb = (int)b->cfg->heartbeat_ms, hbt = 3 * hb;
	int hwm = (int)(b->cfg->window * 2 + 1000);
	int64_t maxmsg = (int64_t)b->cfg->max_message_bytes * 2 + 65536;
	if (zmq_setsockopt(b->router, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, b->keys->tx_sk, 32) ||
	    zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, "keten", 5) ||
	    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
	    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(b->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) ||
	    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TTL, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof(zero))) {
		log_warnx("socket options: %s", zmq_strerror(errno));
		return -1;
	}
	if (zmq_bind(b->router, b->cfg->listen) != 0) {
		log_warnx("cannot listen on %s: %s", b->cfg->listen, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Load and compile a policy file, keeping its source for distribution.
 * 0, or an error in err.
 */
static int
load_policy(struct broker *b, const char *path, struct policy **out, char **src, size_t *len,
    char err[static KETEN_ERRLEN])
{
	int rc;

	if ((rc = file_read(path, YDOC_MAX_BYTES, src, len, err)) != 0)
		return rc;
	if ((rc = policy_parse(path, *src, *len, b->dir, out, err)) != 0) {
		free(*src);
		*src = NULL;
	}
	return rc;
}

/* The signed PolicyUpdate agents receive on connect and on change. */
static void
make_policy_frame(struct broker *b, const char *src, size_t len)
{
	Keten__Wire__V1__PolicyUpdate u = KETEN__WIRE__V1__POLICY_UPDATE__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t sig[64];

	u.name = (char *)policy_name(b->policy);
	u.version = (char *)policy_version(b->policy);
	u.hash = (ProtobufCBinaryData){ POLICY_HASHBYTES, (uint8_t *)policy_hash(b->policy) };
	u.source = (ProtobufCBinaryData){ len, (uint8_t *)src };
	u.activated_ms = now_ms();
	policysig_sign(sig, policy_hash(b->policy), (const uint8_t *)src, len, u.version,
	    u.activated_ms, b->keys->sign_sk);
	u.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE;
	c.policy_update = &u;
	free(b->policy_frame);
	b->policy_frame = wire_pack(&c.base, &b->policy_frame_len);
}

/* The signed DirectoryUpdate agents receive on connect and on change. */
static void
make_dir_frame(struct broker *b, const char *src, size_t len)
{
	Keten__Wire__V1__DirectoryUpdate u = KETEN__WIRE__V1__DIRECTORY_UPDATE__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t sig[64];

	u.version = b->dir->version;
	u.source = (ProtobufCBinaryData){ len, (uint8_t *)src };
	dirsig_sign(sig, (const uint8_t *)src, len, u.version, b->keys->sign_sk);
	u.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE;
	c.directory_update = &u;
	free(b->dir_frame);
	b->dir_frame = wire_pack(&c.base, &b->dir_frame_len);
}

/*
 * Adopt a new directory: peers keep their connection state by agency id;
 * agencies no longer active lose it (their commands are refused, nothing is
 * delivered to them).
 */
static int
swap_directory(struct broker *b, struct directory *nd)
{
	struct peer *np = calloc(nd->n ? nd->n : 1, sizeof(*np));
	int64_t now = now_ms();

	if (np == NULL)
		return -1;
	for (size_t i = 0; i < nd->n; i++) {
		const struct dir_agency *old = directory_find(b->dir, nd->agencies[i].id);
		if (old != NULL)
			np[i] = b->peers[old - b->dir->agencies];
		np[i].agency = &nd->agencies[i];
		if (np[i].connected && !dir_agency_active(&nd->agencies[i], now)) {
			log_warnx("agency %s is %s: its session is cut off", nd->agencies[i].id,
			    nd->agencies[i].revoked ? "revoked" : "outside its validity window");
			np[i].connected = false;
		}
	}
	free(b->peers);
	b->peers = np;
	directory_free(&b->dir);
	b->dir = nd;
	if (count_queued(b) != 0)
		log_warnx("cannot count the delivery queue of new agencies; their queue_depth is low");
	return 0;
}

/* SIGHUP: a bad new policy leaves the old one active, and says why. */
static void
reload_policy(struct broker *b)
{
	struct policy *p = NULL, *sh = NULL;
	struct directory *nd = NULL, *olddir = b->dir;
	char err[KETEN_ERRLEN], *src = NULL, *dsrc = NULL;
	size_t len = 0, dlen = 0;
	bool dir_changed = false;

	/* the directory first: the policy compiles against it */
	if (file_read(b->cfg->directory, YDOC_MAX_BYTES, &dsrc, &dlen, err) != 0 ||
	    directory_parse(b->cfg->directory, dsrc, dlen, &nd, err) != 0) {
		log_warnx("directory reload refused, keeping version %llu: %s",
		    (unsigned long long)b->dir->version, err);
		free(dsrc);
		return;
	}
	if (nd->version < b->dir->version) {
		log_warnx("directory reload refused: version %llu is older than the active %llu",
		    (unsigned long long)nd->version, (unsigned long long)b->dir->version);
		directory_free(&nd);
		free(dsrc);
		return;
	}
	dir_changed = nd->version > b->dir->version;
	if (!dir_changed)
		directory_free(&nd);	/* same version: keep what we have */
	else
		b->dir = nd;		/* compile the policy against it; undone below on failure */
	if (load_policy(b, b->cfg->policy, &p, &src, &len, err) != 0) {
		if (dir_changed) {
			b->dir = olddir;
			directory_free(&nd);
		}
		free(dsrc);
		log_warnx("policy reload refused, keeping version %s%s: %s", policy_version(b->policy),
		    dir_changed ? " and the old directory" : "", err);
		return;
	}
	if (dir_changed) {
		b->dir = olddir;
		if (swap_directory(b, nd) != 0) {
			directory_free(&nd);
			policy_free(&p);
			free(src);
			free(dsrc);
			log_warnx("directory reload failed: out of memory");
			return;
		}
		make_dir_frame(b, dsrc, dlen);
		log_info("activated directory version %llu (%zu agencies)",
		    (unsigned long long)b->dir->version, b->dir->n);
		char what[64];
		snprintf(what, sizeof(what), "directory version %llu", (unsigned long long)b->dir->version);
		log_event(b, KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED, what);
	}
	free(dsrc);
	if (b->cfg->shadow_policy != NULL && policy_load(b->cfg->shadow_policy, b->dir, &sh, err) != 0) {
		log_warnx("shadow policy reload refused, keeping the old one: %s", err);
	} else if (b->cfg->shadow_policy != NULL) {
		policy_free(&b->shadow);
		b->shadow = sh;
		log_policy(b->shadow, "shadow");
	}
	bool changed = memcmp(policy_hash(p), policy_hash(b->policy), POLICY_HASHBYTES) != 0;
	policy_free(&b->policy);
	b->policy = p;
	log_policy(b->policy, "activated");
	if (changed) {
		char what[96];
		snprintf(what, sizeof(what), "policy %s version %s", policy_name(p), policy_version(p));
		log_event(b, KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, what);
	}
	make_policy_frame(b, src, len);
	free(src);
	if ((!changed && !dir_changed) || b->policy_frame == NULL)
		return;
	/* every connected agent works from the new directory and policy from now on */
	for (size_t i = 0; i < b->dir->n; i++) {
		struct peer *pe = &b->peers[i];
		if (!pe->connected)
			continue;
		if (dir_changed && b->dir_frame != NULL)
			queue_reply_frame(b, pe->rid, pe->rid_len, b->dir_frame, b->dir_frame_len);
		queue_reply_frame(b, pe->rid, pe->rid_len, b->policy_frame, b->policy_frame_len);
	}
	send_replies(b);
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
	log_entry(x->b, x->txn, &e);
	metrics_expired(x->b->metrics);
	const struct dir_agency *a = directory_find(x->b->dir, recipient);
	if (a != NULL)
		peer_of(x->b, a)->queued_pending--;
	log_info("a queued copy for %s expired undelivered: its retention ended", recipient);
}

/* How full the map is: the high-water mark of the data file against map_size_mb. */
static void
check_storage(struct broker *b)
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
		ack.n_receipts = nr;
		ack.receipts = rp;
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK;
		c.submit_ack = &ack;
		queue_reply(b, pa->rid, pa->rid_len, &c);
		for (size_t k = 0; k < nr; k++)
			ledger_receipt_clear(&rc[k]);
	}
	if (txn)
		mdb_txn_abort(txn);
	b->nacks = 0;
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
		if (f->has_job)
			verifier_push(b->verifier, &f->job);
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
		apply_frame(b, txn, f);
	}
	if (r->head < r->tail)
		r->since = mono_s();	/* the rest waits from now */
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
	check_storage(b);
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
	n += log_refusals(b, txn);
	/* auditors' queries: on a signal, and once a second in case one was missed */
	bool force = mono_ms() - b->spool_scanned >= 1000;
	if (force)
		b->spool_scanned = mono_ms();
	n += spool_collect(b->spool, b->ledger, txn, force, log_spooled, b);
	/* queued copies whose retention ended: removed and logged, a few per batch */
	struct expire_ctx xc = { b, txn };
	if (queue_expire(b->queue, txn, now_ms(), 256, log_expired, &xc) == 0 && b->ledger_dirty)
		n++;	/* something to commit */
	if (defer && n > 0)
		apply_frames(b, r, txn, &n);	/* a commit anyway: the acks go with it */
	/* a signed checkpoint for the new size, in the same commit */
	if (b->ledger_dirty && (rc = ledger_checkpoint(b->ledger, txn, b->keys)) != 0)
		log_warnx("cannot write a checkpoint: %s", keten_strerror(rc));
	b->ledger_dirty = false;
	/* what came meanwhile is checked while the commit waits for the disk */
	take_frames(b, r);
	double tc = mono_s();
	b->t_apply += tc - ta;
	if (n > 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = mdb_txn_commit(txn);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		settle_queued(b, rc == 0);
		if (rc != 0) {
			metrics_batch_abort(b->metrics);
			/* Nothing of this batch is on disk: acknowledge nothing. */
			log_warnx("commit failed: %s; dropping %llu replies (peers resend)",
			    mdb_strerror(rc), (unsigned long long)n);
			for (size_t i = 0; i < b->nreplies; i++)
				free(b->replies[i].frame);
			b->nreplies = 0;
			b->nacks = 0;	/* nothing of it is on disk: no acknowledgements */
			spool_settle(b->spool, false);
		} else {
			spool_settle(b->spool, true);
			metrics_batch_commit(b->metrics, (double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, n);
			b->commits++;
			b->committed_cmds += n;
			if (n > b->max_batch)
				b->max_batch = n;
			log_debug("commit: %llu commands", (unsigned long long)n);
			ack_with_receipts(b);
		}
	} else {
		mdb_txn_abort(txn);
		settle_queued(b, false);
		metrics_batch_abort(b->metrics);
		spool_settle(b->spool, false);
	}
	double ts = mono_s();
	b->t_commit += ts - tc;
	send_replies(b);
	pump_deliveries(b);
	metrics_run(b->metrics);	/* no transaction is open here */
	b->t_send += mono_s() - ts;
	return 0;
}

static void
inring_free(struct inring *r)
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

static void
run(struct broker *b)
{
	/* the metrics' HTTP server runs on this thread, between batches (broker/metrics.h) */
	zmq_pollitem_t items[4] = {
		{ b->router, 0, ZMQ_POLLIN, 0 },
		{ b->zap, 0, ZMQ_POLLIN, 0 },
		{ NULL, spool_fd(b->spool), ZMQ_POLLIN, 0 },
		{ NULL, metrics_fd(b->metrics), ZMQ_POLLIN, 0 },
	};
	int nitems = metrics_fd(b->metrics) >= 0 ? 4 : 3;

	while (!stopping) {
		if (reload) {
			reload = 0;
			reload_policy(b);
		}
		/* frames beyond the ring wait in the socket; taken ones do not wait */
		items[0].events = b->ring.tail - b->ring.head < b->ring.cap ? ZMQ_POLLIN : 0;
		double tp = mono_s();
		long timeout = metrics_timeout(b->metrics, (long)b->cfg->heartbeat_ms);
		if (defer_acks(b, &b->ring, tp)) {	/* wait for company, not longer */
			long left = (long)((b->ring.since - tp) * 1000.0) + (long)b->cfg->ack_defer_ms + 1;
			if (timeout < 0 || left < timeout)
				timeout = left;
		} else if (b->ring.tail > b->ring.head) {
			timeout = 0;
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
		zap_serve(b->zap, b->dir, on_refused, b);
		take_frames(b, &b->ring);
		double tn = mono_s();
		b->t_take += tn - tt;
		if (apply_batch(b, &b->ring, defer_acks(b, &b->ring, tn)) != 0)
			return;
	}
	/* asked to stop: what waits for company goes in now (acks it holds
	 * spare the recipients redeliveries after the restart) */
	if (b->ring.tail > b->ring.head && b->ring.urgent == 0) {
		uint64_t end = b->ring.tail;	/* more than batch_max when batch_max is small */
		unsigned long long n = (unsigned long long)(end - b->ring.head);
		log_info("committing %llu frame%s that waited (delivery acknowledgements, "
		    "housekeeping)", n, n == 1 ? "" : "s");
		while (b->ring.head < end && apply_batch(b, &b->ring, false) == 0)
			;
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct broker b = { 0 };
	const char *config = NULL;
	bool check = false, verbose = false;
	char err[KETEN_ERRLEN];
	int ch;

	while ((ch = getopt_long(argc, argv, "c:nvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'n': check = true; break;
		case 'v': verbose = true; break;
		default: usage();
		}
	}
	if (config == NULL || optind != argc)
		usage();
	log_init("broker", verbose);
	/* Each nested LMDB transaction (one per ledger entry and submission)
	 * allocates and frees a 2 MiB dirty list, and the ring frees up to
	 * 2 x batch_max unpacked commands at once.  With glibc's defaults that
	 * was an mmap/munmap, or a heap trim and regrowth, per entry: half the
	 * loop's time in page faults at 1,000 in flight.  Keep such blocks on
	 * the heap and the heap's free memory for the next batch. */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	if (sodium_init() < 0)
		fatal("libsodium initialisation failed");
	if (codec_init() != 0)
		fatal("case message schema tables could not be built");
	if (broker_config_load(config, &b.cfg, err) != 0)
		fatal("%s", err);
	if (setup(&b, check) != 0)
		fatal("%s: configuration not usable", config);
	if (check) {
		printf("%s: configuration OK (%zu agencies in %s, policy %s version %s)\n", config,
		    b.dir->n, b.cfg->directory, policy_name(b.policy), policy_version(b.policy));
		policy_free(&b.policy);
		policy_free(&b.shadow);
		free(b.policy_frame);
	free(b.dir_frame);
	free(b.acks);
		keys_free(&b.keys);
		directory_free(&b.dir);
		broker_config_free(&b.cfg);
		return 0;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("listening on %s with %zu agencies in the directory (version %llu)",
	    b.cfg->listen, b.dir->n, (unsigned long long)b.dir->version);
	log_policy(b.policy, "active");
	if (b.shadow != NULL)
		log_policy(b.shadow, "shadow");
	{
		char what[96];
		snprintf(what, sizeof(what), "policy %s version %s at start", policy_name(b.policy),
		    policy_version(b.policy));
		log_event(&b, KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, what);
		snprintf(what, sizeof(what), "directory version %llu at start",
		    (unsigned long long)b.dir->version);
		log_event(&b, KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED, what);
	}
	run(&b);
	log_info("stopping: commits=%llu commands=%llu avg_batch=%.1f max_batch=%llu "
	    "submits=%llu duplicates=%llu delivered=%llu errors=%llu policy_rejects=%llu "
	    "shadow_diffs=%llu; seconds in poll=%.2f take=%.2f apply=%.2f commit=%.2f send=%.2f",
	    (unsigned long long)b.commits, (unsigned long long)b.committed_cmds,
	    b.commits ? (double)b.committed_cmds / (double)b.commits : 0.0,
	    (unsigned long long)b.max_batch, (unsigned long long)b.submits,
	    (unsigned long long)b.dups, (unsigned long long)b.delivered,
	    (unsigned long long)b.errors, (unsigned long long)b.policy_rejects,
	    (unsigned long long)b.shadow_diffs, b.t_poll, b.t_take, b.t_apply, b.t_commit, b.t_send);
	verifier_free(b.verifier);	/* before the frames its jobs point into */
	inring_free(&b.ring);
	zmq_close(b.router);
	zmq_close(b.zap);
	zmq_ctx_term(b.zctx);
	queue_free(&b.queue);
	ledger_free(&b.ledger);
	spool_free(&b.spool);
	metrics_free(&b.metrics);
	mdb_env_close(b.env);
	for (size_t i = 0; i < b.nreplies; i++)
		free(b.replies[i].frame);
	free(b.replies);
	free(b.peers);
	free(b.policy_frame);
	free(b.dir_frame);
	free(b.acks);
	keys_free(&b.keys);
	policy_free(&b.policy);
	policy_free(&b.shadow);
	directory_free(&b.dir);
	broker_config_free(&b.cfg);
	return 0;
}
