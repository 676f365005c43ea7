/*
 * keten-agent's private header: the agent's state and the functions its
 * roles call in each other (the shape of OpenSMTPD's smtpd.h).  The agent is
 * the partner system's door to keten: one DEALER socket to the broker (CURVE
 * client), the REST API for partner systems and the keten CLI (agent/rest.c,
 * which reaches the loop over an inproc control socket), and a durable
 * outbox and inbox.  Like the broker it works in batches: drain both
 * sockets, apply everything in one LMDB transaction, commit (fsync), then
 * answer callers, acknowledge deliveries and send new submissions.
 *
 * The roles, one file each:
 *   main.c      start-up (configuration, keys, the root, directory and
 *               policy, the store, the sockets), signals, the one teardown
 *   loop.c      the batch loop, timers, replies held until the commit
 *   control.c   the local API's operations: submit, status, inbox, ack,
 *               explain, metrics
 *   link.c      the broker protocol: sessions, one function per command
 *               received, the outbox pump
 *   sync.c      what the broker distributes, checked against the partners'
 *               approvals (docs/trust.md): policy and directory updates,
 *               refiltering, the witness of the ledger
 *   outbound.c, inbound.c   filtering and sealing what leaves; checking and
 *               opening what arrives (agent/outbound.h, agent/inbound.h)
 * Everything here runs on the loop's thread.  A `txn` argument is the
 * batch's write transaction; it outlives the call.
 */
#ifndef KETEN_AGENT_AGENT_H
#define KETEN_AGENT_AGENT_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agent/inbound.h"
#include "agent/outbound.h"
#include "agent/receipt.h"
#include "agent/rest.h"
#include "agent/store.h"
#include "ledger/checkpoint.h"
#include "common/config.h"
#include "common/db.h"
#include "common/directory.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/trust.h"
#include "common/util.h"
#include "common/wire.h"
#include "schemas/codec.h"

#define RID_MAX 256
#define CONTROL_MAX_FRAME (64u << 20)
#define GATE_RECEIPTS 64	/* receipts shown per message */
#define RTT_BUCKETS 12
#define DELIVERY_QUERIES 64	/* status requests waiting for the broker at once */
#define LOCAL_WAITERS 256	/* local requests waiting for an event at once (more: answered at once) */
#define DELIVERY_WAIT_MS 2000	/* how long a status request waits for the broker */

struct pending {		/* something to send once the batch is committed */
	int to_broker;		/* else a control reply to rid */
	uint8_t rid[RID_MAX];
	size_t rid_len;
	uint8_t *frame;
	size_t len;
};

#define REFUSED_BACKOFF_MIN_MS 5000	/* the broker refuses this agency: first pause */
#define REFUSED_BACKOFF_MAX_MS 300000	/* ... doubling up to this */

struct agent {
	struct agent_config *cfg;
	struct keten_keys *keys;
	struct keten_keys *prev_keys;	/* being rotated out, or NULL */
	struct directory *dir;
	struct policy *policy;
	char *policy_src;		/* source of `policy`, to compile again on a directory change */
	size_t policy_src_len;
	uint8_t broker_sign_pk[32];
	bool have_broker_sign_pk, warned_unsigned;
	struct checkpoint_memo checkpoint_memo;	/* the last receipt's checkpoint, verified */
	bool policy_synced;	/* the broker's policy arrived on this session */
	struct outbound_keys okeys;	/* directory, our keys, network key */
	uint8_t *network_key;		/* sodium_malloc'd, or NULL */
	bool update_refused;	/* the broker's last policy could not be adopted */
	struct trust_root *root;	/* the network root we were provisioned with */
	/* what we work from, signed into every header (docs/trust.md): kept by sync_view */
	Keten__Envelope__V1__View view;
	uint8_t view_dir_sha[32], view_root[32];
	char view_policy[160];
	uint64_t views_behind;	/* messages from a partner working from a newer version */
	uint64_t trust_alarms;	/* updates from the broker refused as not approved,
				 * older than ours, or otherwise not what the partners
				 * approved (docs/trust.md) */
	/* witness: the newest checkpoint we verified (size 0: none yet) */
	uint64_t witness_size;
	uint8_t witness_root[32];
	int64_t next_witness_ms;
	uint8_t broker_pk[KETEN_CURVE_KEYBYTES];
	MDB_env *env;
	struct store *store;
	void *zctx, *dealer, *control;
	struct rest *rest;		/* the REST API, or NULL */
	uint8_t api_token_hash[32];	/* digest of the API's bearer token */
	/* status requests waiting for the broker's DeliveryStatus */
	struct delivery_query {
		bool used;
		uint8_t rid[RID_MAX];
		size_t rid_len;
		uint8_t id[KETEN_UUIDBYTES];
		int64_t deadline_ms;
	} dq[DELIVERY_QUERIES];
	/* local requests that wait for an event (a decision, an arrival), not a poll */
	struct local_waiter {
		bool used;
		bool inbox;			/* an inbox list, else a status */
		uint8_t rid[RID_MAX];
		size_t rid_len;
		uint8_t id[KETEN_UUIDBYTES];	/* status: the message */
		uint64_t after;			/* inbox: the list asked for */
		uint32_t limit;
		bool unacked_only;
		int64_t deadline_ms;
	} waiters[LOCAL_WAITERS];
	bool reply_now;			/* loop_defer sends control replies at once (control_wake) */
	bool commit_now;		/* the batch holds more than acknowledgements (loop.c) */
	uint64_t acks_waited;		/* batches of acknowledgements committed with the next */
	uint8_t instance[KETEN_INSTANCEBYTES];
	uint8_t broker_instance[KETEN_INSTANCEBYTES];
	bool have_broker_instance;
	bool ready;		/* the broker answered our Hello on this session */
	uint64_t cursor;	/* highest outbox ref sent in this session */
	uint64_t inflight;
	int64_t progress_ms, last_rx_ms, next_hello_ms, next_hb_ms;
	/* the broker refuses this agency (revoked, or outside its validity window
	 * in the broker's directory): Hellos back off to this interval (0: not
	 * refused); heartbeats wait; one log line per change */
	int64_t refused_backoff_ms, refused_at_ms;
	struct pending *pend;
	size_t npend, cappend;
	uint64_t commits, committed, submitted, received, dups, acked, rejected, refused,
	    source_refusals;	/* refusals at the source the broker logged */
	double t_poll, t_apply, t_commit, t_send;	/* the loop's seconds, for the stop line */
	/* for GET /metrics (agent/rest.c asks over the control socket) */
	uint64_t withheld_fields, api_errors;
	uint64_t rejected_by[32];		/* per keten.wire.v1.ErrorCode */
	struct { uint64_t ref; int64_t sent_ms; } sent_at[4096];	/* ref % 4096 */
	uint64_t rtt_bucket[RTT_BUCKETS + 1], rtt_count;
	double rtt_sum;
};

/* Set by the signal handler (main.c), read by the loop. */
extern volatile sig_atomic_t agent_stopping;

/* loop.c */

/*
 * Hold msg (packed now) until the batch is committed: for the broker
 * (to_broker) or as the reply to a control request from rid.
 */
void loop_defer(struct agent *a, bool to_broker, const uint8_t *rid, size_t rid_len,
    const ProtobufCMessage *msg);
/* Serve until asked to stop. */
void loop_run(struct agent *a);

/* control.c */

/* One request from the control socket (the REST API, the CLI), applied in txn. 1: one taken. */
int control_receive(struct agent *a, MDB_txn *txn);
/*
 * The broker's DeliveryStatus ds answers the status requests waiting for
 * it; with ds NULL, the requests whose deadline passed at now are answered
 * from our own records.
 */
void control_delivery_answered(struct agent *a, MDB_txn *txn,
    const Keten__Wire__V1__DeliveryStatus *ds, int64_t now);
/*
 * The policy's ledger-bound checks as an agent can answer them: reply_to
 * from our inbox, volume limits left to the broker (which sees every
 * sender).  arg is { a, txn } and must outlive the checks.
 */
struct policy_ledger control_policy_ledger(void *arg[static 2]);
/* A submission ref was answered by the broker: its round trip, for /metrics. */
void control_note_rtt(struct agent *a, uint64_t ref);
/*
 * Answer the requests that waited for this: the broker decided on message
 * `id` (a status; with its acknowledgement `ack`, whose receipts give the
 * copies' states), or a message arrived (id NULL: the inbox lists); with
 * `expired`, those whose wait ended at now.  Replies go out after txn commits.
 */
void control_wake(struct agent *a, MDB_txn *txn, const uint8_t *id, bool expired, int64_t now,
    const Keten__Wire__V1__SubmitAck *ack);

/* link.c */

/* One frame from the broker, handled in txn.  1: one taken, 0: none waiting. */
int link_receive(struct agent *a, MDB_txn *txn);
/* Hello, heartbeat and witness request to the broker.  0, or -1 when not sent. */
int link_hello(struct agent *a);
void link_heartbeat(struct agent *a);
void link_witness_request(struct agent *a);
/* Send what the outbox holds beyond the cursor, within the window. */
void link_pump(struct agent *a);

/* sync.c */

/* Filter outbox entry ref again under the active policy. true: it is to be sent again. */
bool sync_refilter(struct agent *a, MDB_txn *txn, uint64_t ref);
/* The broker's policy and directory: adopted only as the partners approved them. */
void sync_policy_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__PolicyUpdate *u);
void sync_directory_update(struct agent *a, MDB_txn *txn,
    const Keten__Wire__V1__DirectoryUpdate *u);
/* The broker's newest checkpoint: verified against what we witnessed, then cosigned. */
void sync_witness_challenge(struct agent *a, MDB_txn *txn,
    const Keten__Wire__V1__WitnessChallenge *w);
/* The broker's root chain: the next version after ours, if both roots approve it. */
void sync_root_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__RootUpdate *u);
/* Refresh a->view from the directory, policy and witness we have now. */
void sync_view(struct agent *a);
/* An alarm (docs/trust.md): logged, counted, reported for the ledger. */
void sync_alarm(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* At start: what was adopted before a restart, when newer than the configured files. */
int sync_restore(struct agent *a);

#endif
