/*
 * keten-broker's private header: the broker's state and the functions its
 * roles call in each other (the shape of OpenSMTPD's smtpd.h).  The roles,
 * one file each:
 *   main.c        start-up (configuration, keys, directory and policy, LMDB,
 *                 the socket), signals and the one teardown
 *   loop.c        the group-commit loop: the frame ring, batches applied in one
 *                 write transaction, the commit, acknowledgements with
 *                 receipts, the storage high-water mark
 *   dispatch.c    one frame to its handler: Hello, heartbeat, delivery
 *                 acknowledgement and query, witness requests, cosignatures,
 *                 an agent's error report
 *   submit.c      a submission: admitted, judged (gate and shadow policy),
 *                 committed (queued and logged together)
 *   events.c      the ledger records of decisions, refusals and the broker's
 *                 own events
 *   session.c     the agencies' sessions: replies, clocks, rates, the
 *                 delivery pump, what /metrics reports of them
 *   distribute.c  the directory and policy: loaded, reloaded on SIGHUP,
 *                 signed and pushed to the agents
 * The modules below them (gate, queue, verify, spool, zap, metrics and the
 * ledger) have public headers of their own.
 *
 * Everything here runs on the loop's thread, except what broker/verify.h
 * and broker/metrics.h say.  A `txn` argument is the batch's write
 * transaction (or a read-only one where named so); it outlives the call.
 */
#ifndef KETEN_BROKER_BROKER_H
#define KETEN_BROKER_BROKER_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "broker/gate.h"
#include "ledger/ledger.h"
#include "broker/metrics.h"
#include "broker/queue.h"
#include "broker/spool.h"
#include "broker/syncer.h"
#include "broker/verify.h"
#include "broker/zap.h"
#include "ledger/checkpoint.h"
#include "common/config.h"
#include "common/db.h"
#include "common/directory.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/trust.h"
#include "common/utf8.h"
#include "common/version.h"
#include "common/util.h"
#include "common/wire.h"

#define REFUSALS_TRACKED 256	/* keys whose refusals are rate-limited */
#define RID_MAX 256
#define REPORT_REASON_MAX 1024	/* bytes of an agent's report kept in the ledger */
#define STORAGE_HIGH_WATER 80	/* % of the map above which submissions are refused */
/* the ledger's secondary indexes (ledger_index_catchup): entries per idle commit,
 * and per busy commit once more than INDEX_LAG_MAX wait (readers scan what waits) */
#define INDEX_CHUNK_IDLE 2048
#define INDEX_CHUNK_BUSY 1024
#define INDEX_LAG_MAX 20000
#define INDEX_LAG_IDLE 1024	/* behind by this much: index when nothing waits, not only when idle */
#define INDEX_QUIET_MS 200	/* no submission for this long: index what waits */

/*
 * A ledger budget (docs/security.md, "Bounds"): at most `limit` entries a
 * period; what goes over is counted and recorded as one entry when the
 * period in which it started has passed (budget_due).
 */
struct budget {
	int64_t start_ms;	/* the current period began (monotonic) */
	uint64_t used;		/* entries taken in it */
	uint64_t over;		/* refused since the last budget_due, and when the first was */
	int64_t over_ms;
};

/* Take one entry of bg's (limit a period_ms); false when it is spent. */
bool budget_take(struct budget *bg, uint64_t limit, int64_t period_ms, int64_t now);
/* What went over, once its period has passed (then reset); else 0. */
uint64_t budget_due(struct budget *bg, int64_t period_ms, int64_t now);

/* An agency's live connection and its delivery window. */
struct peer {
	const struct dir_agency *agency;
	uint8_t rid[RID_MAX];
	size_t rid_len;
	bool connected;
	bool more;		/* the queue may hold entries beyond `cursor` */
	bool more_pending;	/* the batch being applied queued some: `more` once
				 * committed (a delivery of the last batch may
				 * scan the queue meanwhile, and find none yet) */
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
	struct budget reports;	/* its VIOLATION_REPORTED entries (budget_reports) */
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
	struct trust_root *root;	/* the network root (common/trust.h) */
	/* the chain of roots after version 1, as RootUpdate frames sent on Hello */
	struct { uint8_t *frame; size_t len; } roots[64];
	size_t nroots;
	char *policy_approvals;		/* the active policy's approvals (a signed note) */
	char *dir_approvals;		/* the active directory's */
	/* for the ledger: the hash and the approvers of what was last checked */
	char policy_record[384], dir_record[384];
	char *dir_src, *policy_src;	/* the active files, as distributed */
	size_t dir_src_len, policy_src_len;
	/* proofs that the activations are in the ledger, sent with the updates */
	Keten__Wire__V1__Receipt dir_act, policy_act;
	bool has_dir_act, has_policy_act;
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
	struct syncer *syncer;		/* a commit's second sync beside the next batch */
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
		bool source_refusal;	/* the answer to a SourceRefusal */
	} *acks;
	size_t nacks, capacks;
	/*
	 * A batch committed with MDB_NOMETASYNC, waiting for the syncer: its
	 * replies and acknowledgements go out once the sync returned, its
	 * deliveries after them (loop.c).  At most one.
	 */
	struct {
		bool active;
		struct reply *replies;
		size_t nreplies, capreplies;
		struct pending_ack *acks;
		size_t nacks, capacks;
	} held;
	bool sync_failed;		/* a sync failed: the broker stops */
	/* refused connections: logged and put in the ledger at most once a minute
	 * per key and address (a client retrying in a loop must not fill either) */
	struct refusal {
		char key[KETEN_Z85_KEYLEN + 1], addr[64], why[160];
		int64_t logged_ms;	/* mono; 0 = free */
		uint64_t since;		/* refusals not logged since */
		bool pending;		/* to log in the next batch */
	} refusals[REFUSALS_TRACKED];
	struct budget refusal_budget;	/* new KEY_REFUSED entries, all keys (budget_refusals) */
	struct metrics *metrics;	/* counters; HTTP only with metrics_listen */
	/* statistics, logged at shutdown */
	uint64_t commits, committed_cmds, submits, dups, delivered, errors, max_batch, policy_rejects,
	    shadow_diffs;
	uint64_t overlapped;		/* commits whose second sync overlapped the next batch */
	uint64_t pages_written;		/* by the commits: the loop thread's block output / page size */
	uint64_t index_lag;		/* ledger entries not yet in the secondary indexes */
	int64_t last_submit_ms;		/* mono_ms() of the last submission taken */
	size_t page_size;
	/* where the loop's time went (seconds): waiting in poll, taking frames,
	 * applying batches, committing, sending */
	double t_poll, t_take, t_apply, t_commit, t_send;
	double t_sync;			/* waiting for the syncer (part of apply) */
};

/* Set by the signal handlers (main.c), read by the loop. */
extern volatile sig_atomic_t broker_stopping, broker_reload;

/* loop.c */

/* Serve until asked to stop; what waits for company is committed first. */
void loop_run(struct broker *b);
/* Measure how full the map is and whether new submissions are refused. */
void loop_check_storage(struct broker *b);
/* Free the ring's frames (never applied, so never acknowledged) and the ring. */
void loop_ring_free(struct inring *r);

/* dispatch.c */

/*
 * Apply one frame of a verified batch inside txn: check who sent it and its
 * shape, then hand it to its command's handler.  Frees f's command and job.
 */
void dispatch_frame(struct broker *b, MDB_txn *txn, struct inframe *f);

/* submit.c */

/*
 * Admit, judge and commit one Submit inside txn.  Accepted copies are
 * queued and logged in a nested transaction; the acknowledgement waits for
 * the batch's commit (b->acks).  pre: its signature check, or NULL.
 */
void submit_handle(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre);
/*
 * A message the sender's policy let no recipient have (SourceRefusal): its
 * decisions logged once per message id (KIND_WITHHELD), acknowledged after
 * the commit.
 */
void submit_refusal_handle(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const uint8_t *rid, size_t rid_len, const Keten__Wire__V1__SourceRefusal *sr);

/* events.c: the ledger entries the broker writes (DESIGN.md, Audit ledger) */

/* Append e in txn, the caller's (it aborts txn if this fails).  0 or KETEN_E*. */
int events_append(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Entry *e);
/* Append e in a nested transaction of txn: a full map fails this entry only. */
int events_entry(struct broker *b, MDB_txn *txn, Keten__Ledger__V1__Entry *e);
/* ZAP's callback for a refused connection: remembered, logged at most once a minute. */
void events_on_refused(void *arg, const char *key, const char *addr, const char *why);
/*
 * The refusals remembered since the last batch, as KEY_REFUSED entries, and
 * the counts of what went over the ledger budgets whose period has passed,
 * one entry each; how many entries.
 */
uint64_t events_refusals(struct broker *b, MDB_txn *txn);
/* The auditors' spooled queries (force: look at the whole spool); how many. */
uint64_t events_spool(struct broker *b, MDB_txn *txn, bool force);
/* Queued copies whose retention ended (a few per batch): removed and logged as EXPIRED. */
int events_expire(struct broker *b, MDB_txn *txn);
/*
 * The sender's own decisions about a message (Submit.decisions, a
 * SourceRefusal) as KIND_WITHHELD entries in txn: one per recipient, reason
 * and rule.  The first one's seq in *first_seq.  0 or KETEN_E*.
 */
int events_withheld(struct broker *b, MDB_txn *txn, const Keten__Envelope__V1__Header *h,
    Keten__Wire__V1__SourceDecision *const *d, size_t n, uint64_t *first_seq);
/* A refused submission, logged as carefully as an accepted one. */
void events_rejection(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Submit *s, const char *code, const char *reason);
/* One ACCEPTED entry per copy in txn; the first one's seq in *first_seq. */
int events_accepted(struct broker *b, MDB_txn *txn, const Keten__Wire__V1__Submit *s,
    const struct verify_job *pre, const struct gate_verdict *v, uint64_t *first_seq);
/* An agent's report of a copy it refused (VIOLATION_REPORTED). */
void events_violation(struct broker *b, MDB_txn *txn, const struct dir_agency *from,
    const Keten__Wire__V1__Error *err);
/*
 * The broker's own events (policy, directory) in a commit of their own, with
 * a checkpoint of the new size; the entry's seq in *seq (when not NULL).
 * 0 or a KETEN_E* (logged).
 */
int events_broker(struct broker *b, Keten__Ledger__V1__Kind kind, const char *reason,
    uint64_t *seq);
/* The ledger's and the metrics' name of a wire error code. */
const char *events_code_name(int code);

/* session.c */

struct peer *session_peer(struct broker *b, const struct dir_agency *a);
/* Hold a reply (packed now) or an already packed frame (copied) until the commit. */
void session_reply(struct broker *b, const uint8_t *rid, size_t rid_len,
    const Keten__Wire__V1__Command *cmd);
void session_reply_frame(struct broker *b, const uint8_t *rid, size_t rid_len,
    const uint8_t *frame, size_t len);
void session_error(struct broker *b, const uint8_t *rid, size_t rid_len,
    Keten__Wire__V1__ErrorCode code, const ProtobufCBinaryData *msgid, uint64_t ref,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Send the replies held (after the commit). */
void session_flush(struct broker *b);
struct peer *session_start(struct broker *b, const struct dir_agency *a, const uint8_t *rid,
    size_t rid_len);
/* Whether rid is the connection a's session is on. */
bool session_current(struct broker *b, const struct dir_agency *a, const uint8_t *rid,
    size_t rid_len);
void session_note_clock(struct broker *b, const struct dir_agency *a, int64_t their_ms);
bool session_rate_ok(struct broker *b, struct peer *pe);
/* "3600 s ahead of", "more than a year behind": an agent's clock offset in words. */
const char *session_clock_words(int64_t off_ms, char *buf, size_t len);
/* Send queued copies to connected agencies with room in their window. */
void session_pump(struct broker *b);
int session_count_queued(struct broker *b);
void session_settle_queued(struct broker *b, bool committed);
/* metrics' callback (broker/metrics.h): what /metrics and /healthz report. */
void session_fill_metrics(void *arg, struct metrics_state *st);

/* distribute.c */

/*
 * Read and compile the directory and the policy (and the shadow policy) of
 * the configuration, and make the signed frames agents receive.  0, or -1
 * with the reason logged.
 */
int distribute_load(struct broker *b);
/* SIGHUP: a bad new directory or policy leaves the old ones active, and says why. */
void distribute_reload(struct broker *b);
/* At start: the active policy and directory, logged and in the ledger. */
void distribute_announce(struct broker *b);
void distribute_log_policy(const struct policy *p, const char *what);

#endif
