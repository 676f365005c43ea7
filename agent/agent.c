/*
 * keten-agent: the partner system's door to keten.  One DEALER socket to the
 * broker (CURVE client), the REST API for partner systems and the keten CLI
 * (agent/rest.c, which reaches this loop over an inproc control socket), and a
 * durable outbox and inbox.  Like the broker it works in batches: drain both
 * sockets, apply everything in one LMDB transaction, commit (fsync), then
 * answer callers, acknowledge deliveries and send new submissions.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "agent/outbound.h"
#include "agent/receipt.h"
#include "agent/rest.h"
#include "agent/store.h"
#include "common/directory.h"
#include "common/config.h"
#include "common/db.h"
#include "common/harden.h"
#include "common/keys.h"
#include "common/checkpoint.h"
#include "common/log.h"
#include "common/merkle.h"
#include "common/policysig.h"
#include "common/trust.h"
#include "common/util.h"
#include "common/wire.h"
#include "common/yamltree.h"
#include "schemas/codec.h"

#define RID_MAX 256
#define CONTROL_MAX_FRAME (64u << 20)
#define GATE_RECEIPTS 64	/* receipts shown per message */
#define RTT_BUCKETS 12
#define DELIVERY_QUERIES 64	/* status requests waiting for the broker at once */
#define DELIVERY_WAIT_MS 2000	/* how long a status request waits for the broker */

struct pending {		/* something to send once the batch is committed */
	int to_broker;		/* else a control reply to rid */
	uint8_t rid[RID_MAX];
	size_t rid_len;
	uint8_t *frame;
	size_t len;
};

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
	bool policy_synced;	/* the broker's policy arrived on this session */
	struct outbound_keys okeys;	/* directory, our keys, network key */
	uint8_t *network_key;		/* sodium_malloc'd, or NULL */
	bool update_refused;	/* the broker's last policy could not be adopted */
	struct trust_root *root;	/* the network root we were provisioned with */
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
	uint8_t instance[KETEN_INSTANCEBYTES];
	uint8_t broker_instance[KETEN_INSTANCEBYTES];
	bool have_broker_instance;
	bool ready;		/* the broker answered our Hello on this session */
	uint64_t cursor;	/* highest outbox ref sent in this session */
	uint64_t inflight;
	int64_t progress_ms, last_rx_ms, next_hello_ms, next_hb_ms;
	struct pending *pend;
	size_t npend, cappend;
	uint64_t commits, committed, submitted, received, dups, acked, rejected, refused;
	/* for GET /metrics (agent/rest.c asks over the control socket) */
	uint64_t withheld_fields, api_errors;
	uint64_t rejected_by[32];		/* per keten.wire.v1.ErrorCode */
	struct { uint64_t ref; int64_t sent_ms; } sent_at[4096];	/* ref % 4096 */
	uint64_t rtt_bucket[RTT_BUCKETS + 1], rtt_count;
	double rtt_sum;
};

/* broker round-trip (submission sent -> acknowledged, with fsync at the broker), seconds */
static const double rtt_le[RTT_BUCKETS] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
	1, 2, 5 };

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: keten-agent --config FILE [-n] [--verbose]\n"
	    "  -n, --check     check the configuration and keys, then exit\n"
	    "  -v, --verbose   log debug lines\n");
	exit(2);
}

static void
defer(struct agent *a, bool to_broker, const uint8_t *rid, size_t rid_len,
    const ProtobufCMessage *msg)
{
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
	defer(a, false, rid, rid_len, &r.base);
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

static void
handle_submit(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    Keten__Local__V1__LocalSubmit *ls)
{
	Keten__Local__V1__LocalSubmitted ok = KETEN__LOCAL__V1__LOCAL_SUBMITTED__INIT;
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;
	void *ledger_arg[2] = { a, txn };
	struct policy_ledger ledger = { inbox_reply_ok, limit_unknown_here, ledger_arg };
	struct outbound *ob = NULL;
	char err[KETEN_ERRLEN];
	MDB_txn *child = NULL;
	int rc;

	if (!local_submit_valid(a, rid, rid_len, ls))
		return;
	if ((rc = outbound_prepare(a->policy, a->cfg->agency, &ledger, &a->okeys, ls,
	    a->cfg->max_message_bytes, NULL, &ob, err)) != 0) {
		if (rc == KETEN_EPERM)
			control_fail(a, rid, rid_len, "policy", "not sent: policy %s lets no recipient "
			    "have this message (%s)", policy_version(a->policy), err);
		else
			control_error(a, rid, rid_len, "%s", err);
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
	defer(a, false, rid, rid_len, &r.base);
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
	char lines[GATE_RECEIPTS][320], *lp[GATE_RECEIPTS];

	if (store_sent_get(a->store, txn, id, &status, &st.time_ms, reason, sizeof(reason)) == 0) {
		st.state = status == SENT_ACCEPTED ? "accepted" : "rejected";
		st.reason = reason;
		ack = store_receipts_get(a->store, txn, id);
		for (size_t i = 0; ack && i < ack->n_receipts && i < GATE_RECEIPTS; i++) {
			char err[KETEN_ERRLEN], d[256];
			receipt_describe(ack->receipts[i], d, sizeof(d));
			int ok = a->have_broker_sign_pk && receipt_verify(ack->receipts[i],
			    a->broker_sign_pk, a->cfg->agency, id, err) == 0;
			snprintf(lines[i], sizeof(lines[i]), "%s: %s", d, ok ? "inclusion verified" :
			    a->have_broker_sign_pk ? "DOES NOT VERIFY" : "not checked (no broker_signing_key)");
			lp[st.n_receipts++] = lines[i];
		}
		st.receipts = lp;
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
	defer(a, false, rid, rid_len, &r.base);
	if (ack)
		keten__wire__v1__submit_ack__free_unpacked(ack, NULL);
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
	if (a->ready && store_sent_get(a->store, txn, q->message_id.data, &status, &t, reason,
	    sizeof(reason)) == 0 && status == SENT_ACCEPTED) {
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
			defer(a, true, NULL, 0, &c.base);
			return;
		}
	}
	status_reply(a, txn, rid, rid_len, q->message_id.data, NULL);
}

/* The broker's answer, or the end of the wait: answer the status requests waiting for it. */
static void
delivery_answered(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__DeliveryStatus *ds,
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
	defer(a, false, rid, rid_len, &r.base);
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
	defer(a, false, rid, rid_len, &r.base);	/* after the commit that holds it */
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
	defer(a, false, rid, rid_len, &r.base);
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
	COUNTER("keten_agent_received_total", "Messages received into the inbox.", a->received);
	COUNTER("keten_agent_duplicates_total", "Deliveries already in the inbox.", a->dups);
	COUNTER("keten_agent_refused_total", "Deliveries refused by this agent's checks.", a->refused);
	COUNTER("keten_agent_trust_alarms_total", "Policy or directory updates from the broker "
	    "refused: not approved by the partners, or older than ours (docs/trust.md).",
	    a->trust_alarms);
	COUNTER("keten_agent_api_errors_total", "Requests answered with an error.", a->api_errors);
	GAUGE("keten_agent_inbox_depth", "Inbox messages the partner system has not acknowledged.",
	    store_inbox_unacked(a->store, txn));
	GAUGE("keten_agent_outbox_depth", "Submissions not yet acknowledged by the broker.",
	    store_outbox_depth(a->store, txn));
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
	defer(a, false, rid, rid_len, &r.base);
	free(buf);
}

/* A submission's round trip, if we still know when it was sent. */
static void
note_rtt(struct agent *a, uint64_t ref)
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
handle_control(struct agent *a, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
    const void *data, size_t len)
{
	Keten__Local__V1__LocalRequest *req;
	Keten__Local__V1__LocalReply r = KETEN__LOCAL__V1__LOCAL_REPLY__INIT;

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
		Keten__Local__V1__InboxPage page;
		uint32_t limit = req->inbox->limit ? req->inbox->limit : 100;
		if (limit > 1000)
			limit = 1000;
		if (store_inbox_list(a->store, txn, req->inbox->after, limit, req->inbox->unacked_only,
		    &page) != 0) {
			store_inbox_page_free(&page);
			control_error(a, rid, rid_len, "cannot read the inbox");
			break;
		}
		r.rep_case = KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX;
		r.inbox = &page;
		defer(a, false, rid, rid_len, &r.base);
		store_inbox_page_free(&page);
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
	default:
		control_error(a, rid, rid_len, "unknown request");
		break;
	}
	keten__local__v1__local_request__free_unpacked(req, NULL);
}

/* Receive one control request (routing id + one frame).  1 if handled. */
static int
receive_control(struct agent *a, MDB_txn *txn)
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
	defer(a, true, NULL, 0, &c.base);
	return false;
}

/*
 * Filter outbox entry `ref` again under the current policy (DESIGN.md: an
 * envelope made under an older policy is refiltered and resent).  Keeps the
 * message id; a message the new policy lets nobody have is rejected.
 * Returns true when the entry changed.
 */
static bool
refilter(struct agent *a, MDB_txn *txn, uint64_t ref)
{
	Keten__Wire__V1__Command *sub = NULL;
	Keten__Local__V1__LocalSubmit *orig = NULL;
	void *ledger_arg[2] = { a, txn };
	struct policy_ledger ledger = { inbox_reply_ok, limit_unknown_here, ledger_arg };
	struct outbound *ob = NULL;
	char err[KETEN_ERRLEN], hash[2 * POLICY_HASHBYTES + 1], ids[KETEN_UUIDSTRLEN];
	bool changed = false;
	int rc;

	if (store_outbox_get(a->store, txn, ref, &sub, &orig) != 0 || sub == NULL ||
	    sub->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_SUBMIT || sub->submit->header == NULL ||
	    sub->submit->header->message_id.len != KETEN_UUIDBYTES)
		goto out;
	const Keten__Envelope__V1__Header *h = sub->submit->header;
	policy_hash_hex(a->policy, hash);
	if (strcmp(h->policy_version, hash) == 0)
		goto out;	/* already made under the current policy */
	uuid_format(ids, h->message_id.data);
	if (orig == NULL) {
		log_warnx("message %s: made under another policy and its original is gone; left as is",
		    ids);
		goto out;
	}
	rc = outbound_prepare(a->policy, a->cfg->agency, &ledger, &a->okeys, orig,
	    a->cfg->max_message_bytes, h->message_id.data, &ob, err);
	if (rc != 0) {
		char reason[KETEN_ERRLEN + 64];
		snprintf(reason, sizeof(reason), "policy %s: %.400s", policy_version(a->policy), err);
		if (store_outbox_done(a->store, txn, ref, h->message_id.data, SENT_REJECTED, reason) == 0)
			a->rejected++;
		log_warnx("message %s not resent: under policy %s %s", ids, policy_version(a->policy), err);
		changed = true;
		goto out;
	}
	ob->submit.ref = ref;
	if (store_outbox_replace(a->store, txn, &ob->submit) == 0) {
		log_info("message %s refiltered under policy %s (%zu fields withheld)", ids,
		    policy_version(a->policy), ob->nwithheld);
		changed = true;
	}
out:
	outbound_free(&ob);
	if (sub)
		keten__wire__v1__command__free_unpacked(sub, NULL);
	if (orig)
		keten__local__v1__local_submit__free_unpacked(orig, NULL);
	return changed;
}

struct stale_scan {
	uint64_t *refs;
	size_t n, cap;
};

static int
collect_ref(void *arg, uint64_t ref, const void *frame, size_t len)
{
	struct stale_scan *sc = arg;

	(void)frame, (void)len;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 64;
		uint64_t *nr = realloc(sc->refs, cap * sizeof(*nr));
		if (nr == NULL)
			return 1;
		sc->refs = nr;
		sc->cap = cap;
	}
	sc->refs[sc->n++] = ref;
	return 0;
}

/*
 * An update from the broker that the partners did not approve, or that goes
 * back: refused, counted, logged as an alarm and reported for the ledger.
 * The broker is not trusted with what may be shared (docs/trust.md).
 */
static void trust_alarm(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
trust_alarm(struct agent *a, const char *fmt, ...)
{
	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	char what[KETEN_ERRLEN + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	a->trust_alarms++;
	log_warnx("ALARM %s", what);
	e.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED;
	e.reason = what;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	defer(a, true, NULL, 0, &c.base);
}

/* Keep what was adopted across restarts: a restart must not roll it back. */
static void
keep_adopted(struct agent *a, MDB_txn *txn, const char *what, const void *src, size_t len,
    const char *approvals)
{
	char name[32];

	snprintf(name, sizeof(name), "%s_src", what);
	if (store_meta_put(a->store, txn, name, src, len) != 0)
		log_warnx("cannot keep the adopted %s: a restart starts from the configured file", what);
	snprintf(name, sizeof(name), "%s_approvals", what);
	store_meta_put(a->store, txn, name, approvals, strlen(approvals));
}

/*
 * The broker's policy u, compiled in *out, is what the partners approved:
 * not older than ours, the version and name it says, approved by the policy
 * threshold of our root.  0, or -1 after an alarm.
 */
static int
policy_approved(struct agent *a, const Keten__Wire__V1__PolicyUpdate *u, struct policy **out)
{
	char err[KETEN_ERRLEN], name[128];
	int cmp = trust_version_cmp(u->version, policy_version(a->policy));

	if (cmp < 0) {
		trust_alarm(a, "policy update %.64s refused: older than ours (%s): a rollback",
		    u->version, policy_version(a->policy));
		return -1;
	}
	if (trust_check_policy(a->root, u->name, u->version, u->source.data, u->source.len,
	    u->approvals, strlen(u->approvals), err) != 0) {
		trust_alarm(a, "policy update %.64s refused, keeping %s: %s", u->version,
		    policy_version(a->policy), err);
		return -1;
	}
	snprintf(name, sizeof(name), "broker policy %.64s", u->version);
	if (policy_parse(name, u->source.data, u->source.len, a->dir, out, err) != 0) {
		log_warnx("policy update %.64s refused, keeping %s: %s", u->version,
		    policy_version(a->policy), err);
		return -1;
	}
	if (strcmp(policy_name(*out), u->name) != 0 || strcmp(policy_version(*out), u->version) != 0 ||
	    (cmp == 0 && memcmp(policy_hash(*out), policy_hash(a->policy), POLICY_HASHBYTES) != 0)) {
		trust_alarm(a, "policy update %.64s refused: %s", u->version, cmp == 0 ?
		    "the same version as ours with other content" :
		    "the file names another policy or version than the update");
		policy_free(out);
		return -1;
	}
	if (memcmp(policy_hash(*out), u->hash.data, POLICY_HASHBYTES) != 0) {
		log_warnx("policy update %.64s refused: it compiles differently here (is our directory "
		    "%s the broker's?)", u->version, a->cfg->directory);
		policy_free(out);
		return -1;
	}
	return 0;
}

/* The broker's policy: check its approvals, compile, adopt, and refilter what waits. */
static void
handle_policy_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__PolicyUpdate *u)
{
	struct policy *p = NULL;

	if (!a->cfg->policy_updates) {
		log_debug("policy update %.64s ignored (policy_updates: false)", u->version);
		return;
	}
	a->policy_synced = true;	/* even if we keep ours: we know the broker's */
	if (u->hash.len != POLICY_HASHBYTES) {
		log_warnx("malformed policy update ignored");
		return;
	}
	if (memcmp(u->hash.data, policy_hash(a->policy), POLICY_HASHBYTES) == 0)
		return;		/* the one we have */
	if (policy_approved(a, u, &p) != 0) {
		a->update_refused = true;
		return;
	}
	char *copy = malloc(u->source.len + 1);
	if (copy == NULL) {
		policy_free(&p);
		return;
	}
	memcpy(copy, u->source.data, u->source.len);
	copy[u->source.len] = '\0';
	free(a->policy_src);
	a->policy_src = copy;
	a->policy_src_len = u->source.len;
	policy_free(&a->policy);
	a->policy = p;
	a->update_refused = false;
	keep_adopted(a, txn, "policy", u->source.data, u->source.len, u->approvals);
	log_info("policy %s version %s activated from the broker, approved by the partners",
	    policy_name(p), policy_version(p));

	/* what waits in the outbox was filtered by the old policy */
	struct stale_scan sc = { 0 };
	bool exhausted, any = false;
	store_outbox_scan(a->store, txn, 0, collect_ref, &sc, &exhausted);
	for (size_t i = 0; i < sc.n; i++)
		any |= refilter(a, txn, sc.refs[i]);
	free(sc.refs);
	if (any) {
		a->cursor = 0;	/* send the refiltered entries again, in order */
		a->inflight = 0;
	}
}

/*
 * The broker's directory: newer than ours, approved by the root's rules
 * against ours (an agency's keys by that agency), our policy compiling
 * against it; then adopted.
 */
static void
handle_directory_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__DirectoryUpdate *u)
{
	struct directory *nd = NULL;
	struct policy *p = NULL;
	char err[KETEN_ERRLEN], name[64];

	if (u->version == a->dir->version)
		return;		/* the one we have */
	if (u->version < a->dir->version) {
		trust_alarm(a, "directory version %llu from the broker refused: older than ours "
		    "(%llu): a rollback", (unsigned long long)u->version,
		    (unsigned long long)a->dir->version);
		return;
	}
	snprintf(name, sizeof(name), "broker directory v%llu", (unsigned long long)u->version);
	if (directory_parse(name, u->source.data, u->source.len, &nd, err) != 0 ||
	    nd->version != u->version) {
		log_warnx("directory version %llu refused: %s", (unsigned long long)u->version,
		    nd ? "its version field differs" : err);
		directory_free(&nd);
		return;
	}
	if (trust_check_directory(a->root, a->dir, nd, u->source.data, u->source.len, u->approvals,
	    strlen(u->approvals), err) != 0) {
		trust_alarm(a, "directory version %llu from the broker refused, keeping %llu: %s",
		    (unsigned long long)u->version, (unsigned long long)a->dir->version, err);
		directory_free(&nd);
		return;
	}
	if (policy_parse(a->cfg->policy, a->policy_src, a->policy_src_len, nd, &p, err) != 0) {
		log_warnx("directory version %llu refused: our policy does not compile against it: %s",
		    (unsigned long long)u->version, err);
		directory_free(&nd);
		return;
	}
	policy_free(&a->policy);
	a->policy = p;
	directory_free(&a->dir);
	a->dir = nd;
	a->okeys.dir = nd;
	keep_adopted(a, txn, "directory", u->source.data, u->source.len, u->approvals);
	log_info("directory version %llu activated from the broker (%zu agencies), approved by "
	    "the partners", (unsigned long long)nd->version, nd->n);
}

static void
report_ledger(struct agent *a, const char *what)
{
	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	log_warnx("LEDGER %s", what);
	e.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED;
	e.reason = (char *)what;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	defer(a, true, NULL, 0, &c.base);
}

/*
 * We are a witness: the broker's newest checkpoint must extend the one we
 * verified before (consistency proof); then we cosign it.  A broker that
 * rewrote or rolled back its ledger is caught here.
 */
static void
handle_witness_challenge(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__WitnessChallenge *w)
{
	char origin[256], err[KETEN_ERRLEN], what[KETEN_ERRLEN + 128];
	uint64_t size;
	uint8_t root[32];
	merkle_hash proof[MERKLE_MAX_PROOF];

	if (!a->have_broker_sign_pk || w->checkpoint == NULL)
		return;
	snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(w->checkpoint, "\n"), w->checkpoint);
	if (checkpoint_verify(w->checkpoint, origin, a->broker_sign_pk, &size, root, err) != 0) {
		snprintf(what, sizeof(what), "checkpoint from the broker does not verify: %s", err);
		report_ledger(a, what);
		return;
	}
	if (size < a->witness_size) {
		snprintf(what, sizeof(what), "ROLLED BACK: the broker shows %llu entries, we saw %llu",
		    (unsigned long long)size, (unsigned long long)a->witness_size);
		report_ledger(a, what);
		return;
	}
	if (size == a->witness_size && a->witness_size > 0) {
		if (sodium_memcmp(root, a->witness_root, 32) != 0)
			report_ledger(a, "FORKED: the same size with another root");
		return;
	}
	if (a->witness_size > 0) {
		if (w->old_size != a->witness_size || w->n_consistency_proof > MERKLE_MAX_PROOF) {
			report_ledger(a, "INCONSISTENT: no consistency proof from the size we saw");
			return;
		}
		for (size_t i = 0; i < w->n_consistency_proof; i++) {
			if (w->consistency_proof[i].len != 32) {
				report_ledger(a, "INCONSISTENT: malformed consistency proof");
				return;
			}
			memcpy(proof[i], w->consistency_proof[i].data, 32);
		}
		if (merkle_verify_consistency(a->witness_size, size, a->witness_root, root,
		    (const merkle_hash *)proof, w->n_consistency_proof) != 0) {
			snprintf(what, sizeof(what), "INCONSISTENT: checkpoint %llu does not extend "
			    "checkpoint %llu: the broker rewrote its history", (unsigned long long)size,
			    (unsigned long long)a->witness_size);
			report_ledger(a, what);
			return;
		}
	}
	if (store_meta_put(a->store, txn, "witness_note", w->checkpoint, strlen(w->checkpoint)) != 0)
		return;
	a->witness_size = size;
	memcpy(a->witness_root, root, 32);
	char *line = checkpoint_cosign(w->checkpoint, a->cfg->agency, (uint64_t)(now_ms() / 1000),
	    a->keys->sign_sk, a->keys->sign_pk);
	if (line != NULL) {
		Keten__Wire__V1__Cosignature cs = KETEN__WIRE__V1__COSIGNATURE__INIT;
		Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
		cs.size = size;
		cs.signature_line = line;
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE;
		c.cosignature = &cs;
		defer(a, true, NULL, 0, &c.base);
		free(line);
	}
	log_debug("witnessed checkpoint %llu", (unsigned long long)size);
}

static void
handle_broker(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__Command *c)
{
	int rc;

	switch (c->cmd_case) {
	case KETEN__WIRE__V1__COMMAND__CMD_HELLO:
		if (c->hello->instance.len == KETEN_INSTANCEBYTES) {
			memcpy(a->broker_instance, c->hello->instance.data, KETEN_INSTANCEBYTES);
			a->have_broker_instance = true;
		}
		new_session(a, "established");
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_HEARTBEAT:
		note_instance(a, &c->heartbeat->instance);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE:
		handle_policy_update(a, txn, c->policy_update);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE:
		handle_directory_update(a, txn, c->directory_update);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_WITNESS_CHALLENGE:
		handle_witness_challenge(a, txn, c->witness_challenge);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVERY_STATUS:
		delivery_answered(a, txn, c->delivery_status, 0);
		break;
	case KETEN__WIRE__V1__COMMAND__CMD_SUBMIT_ACK: {
		const Keten__Wire__V1__SubmitAck *ack = c->submit_ack;
		if (ack->message_id.len != 16)
			break;
		rc = store_outbox_done(a->store, txn, ack->ref, ack->message_id.data,
		    SENT_ACCEPTED, NULL);
		if (rc == 0 && ack->n_receipts > 0) {
			/* the broker's proof that it logged the acceptance: check and keep it */
			char err[KETEN_ERRLEN], ids[KETEN_UUIDSTRLEN];
			uuid_format(ids, ack->message_id.data);
			for (size_t i = 0; i < ack->n_receipts && a->have_broker_sign_pk; i++)
				if (receipt_verify(ack->receipts[i], a->broker_sign_pk, a->cfg->agency,
				    ack->message_id.data, err) != 0)
					log_warnx("RECEIPT FOR %s DOES NOT VERIFY, the broker misbehaves: %s",
					    ids, err);
			store_receipts_put(a->store, txn, ack);
		}
		if (rc == 0) {
			a->acked++;
			note_rtt(a, ack->ref);
			if (a->inflight)
				a->inflight--;
			a->progress_ms = mono_ms();
		}
		break;
	}
	case KETEN__WIRE__V1__COMMAND__CMD_DELIVER: {
		Keten__Wire__V1__Deliver *d = c->deliver;
		Keten__Wire__V1__DeliverAck ack = KETEN__WIRE__V1__DELIVER_ACK__INIT;
		Keten__Wire__V1__Command out = KETEN__WIRE__V1__COMMAND__INIT;
		bool dup = false;
		if (d->header == NULL || d->header->message_id.len != 16) {
			log_warnx("delivery with a malformed header ignored");
			break;
		}
		if (!delivery_valid(a, d))
			goto ack;	/* refused for good: acknowledge so it leaves the queue */
		MDB_txn *child = NULL;
		if ((rc = mdb_txn_begin(a->env, txn, 0, &child)) == 0) {
			if ((rc = store_inbox_put(a->store, child, d, &dup)) == 0)
				rc = db_err(mdb_txn_commit(child));
			else
				mdb_txn_abort(child);
		} else {
			rc = db_err(rc);
		}
		if (rc != 0) {
			/* not stored, not acknowledged: the broker delivers it again */
			log_warnx("cannot store a delivery: %s", rc == KETEN_EFULL ?
			    "inbox storage full (raise map_size_mb)" : keten_strerror(rc));
			break;
		}
		if (dup)
			a->dups++;
		else
			a->received++;
	ack:
		ack.message_id = d->header->message_id;
		ack.seq = d->seq;
		out.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DELIVER_ACK;
		out.deliver_ack = &ack;
		defer(a, true, NULL, 0, &out.base);
		break;
	}
	case KETEN__WIRE__V1__COMMAND__CMD_ERROR: {
		const Keten__Wire__V1__Error *e = c->error;
		if ((e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE ||
		    e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED) && e->ref != 0) {
			/* the broker is full: it refuses the rest of this session; come back
			 * later with a new one and resend the outbox in order */
			if (a->ready)
				log_warnx("broker error %d: %.300s; retrying in %llu ms", e->code, e->reason,
				    (unsigned long long)a->cfg->resend_ms);
			a->ready = false;
			a->policy_synced = false;
			a->next_hello_ms = mono_ms() + (int64_t)a->cfg->resend_ms;
			a->cursor = 0;
			a->inflight = 0;
			break;
		}
		if (e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NO_SESSION) {
			/* the broker restarted or we reconnected: Hello, then resend in order */
			if (a->ready)
				log_info("the broker has no session for this connection; saying hello");
			a->ready = false;
			a->policy_synced = false;
			a->next_hello_ms = 0;
			a->cursor = 0;
			a->inflight = 0;
			break;
		}
		bool final = e->code != KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_STORAGE &&
		    e->code != KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED;
		if (e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED && e->ref != 0 &&
		    refilter(a, txn, e->ref)) {
			/* made under an older policy: refiltered under ours, send again */
			if (a->inflight)
				a->inflight--;
			if (a->cursor >= e->ref)
				a->cursor = e->ref - 1;
			break;
		}
		if (e->code == KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_POLICY_CHANGED && e->ref != 0 &&
		    a->cfg->policy_updates && !a->update_refused) {
			/* the broker enforces a policy we have not seen yet (it restarted or
			 * reloaded): keep the message, ask for the policy, refilter, resend */
			log_info("the broker enforces another policy than %s; fetching it before "
			    "sending again", policy_version(a->policy));
			a->ready = false;
			a->policy_synced = false;
			a->next_hello_ms = 0;
			a->inflight = 0;
			a->cursor = 0;
			break;
		}
		if (e->ref != 0 && e->message_id.len == 16 && final) {
			char ids[KETEN_UUIDSTRLEN];
			uuid_format(ids, e->message_id.data);
			if (store_outbox_done(a->store, txn, e->ref, e->message_id.data,
			    SENT_REJECTED, e->reason) == 0) {
				a->rejected++;
				a->rejected_by[(unsigned)e->code < 32 ? e->code : 0]++;
				note_rtt(a, e->ref);
				if (a->inflight)
					a->inflight--;
				log_warnx("message %s rejected by the broker: %.300s", ids, e->reason);
			}
		} else {
			log_warnx("broker error %d: %.300s", e->code, e->reason);
		}
		break;
	}
	default:
		log_warnx("unexpected %s from the broker ignored", wire_cmd_name(c->cmd_case));
		break;
	}
}

static int
receive_broker(struct agent *a, MDB_txn *txn)
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

static int
send_hello(struct agent *a)
{
	Keten__Wire__V1__Hello h = KETEN__WIRE__V1__HELLO__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	h.version = KETEN_PROTOCOL_VERSION;
	h.agency = a->cfg->agency;
	h.instance = (ProtobufCBinaryData){ sizeof(a->instance), a->instance };
	h.software = "keten-agent 0.1.0";
	h.time_ms = now_ms();
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_HELLO;
	c.hello = &h;
	return wire_send(a->dealer, NULL, 0, &c, ZMQ_DONTWAIT);
}

static void
send_heartbeat(struct agent *a)
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

static void
pump_outbox(struct agent *a)
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

static void
timers(struct agent *a)
{
	int64_t now = mono_ms(), hb = (int64_t)a->cfg->heartbeat_ms;
	MDB_txn *rt;

	/* status requests the broker did not answer in time: answer without it */
	for (size_t i = 0; i < DELIVERY_QUERIES; i++)
		if (a->dq[i].used && now >= a->dq[i].deadline_ms) {
			if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) == 0) {
				delivery_answered(a, rt, NULL, now);
				mdb_txn_abort(rt);
			}
			break;
		}

	if (a->ready && now - a->last_rx_ms > 3 * hb) {
		log_warnx("no word from the broker for %lld ms; reconnecting",
		    (long long)(now - a->last_rx_ms));
		a->ready = false;
		a->next_hello_ms = 0;
	}
	if (!a->ready && now >= a->next_hello_ms) {
		/* not connected yet (ZMQ_IMMEDIATE): try again soon.  A Hello that left
		 * waits three heartbeats for its answer: a slow broker answers every
		 * Hello queued, and each answer starts a session (and a resend of the
		 * outbox), so one per heartbeat made several sessions after a stall. */
		a->next_hello_ms = now + (send_hello(a) == 0 ? 3 * hb : 50);
	}
	if (now >= a->next_hb_ms) {
		send_heartbeat(a);
		a->next_hb_ms = now + hb;
	}
	if (a->ready && a->have_broker_sign_pk && now >= a->next_witness_ms) {
		Keten__Wire__V1__WitnessRequest w = KETEN__WIRE__V1__WITNESS_REQUEST__INIT;
		Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
		w.known_size = a->witness_size;
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_WITNESS_REQUEST;
		c.witness_request = &w;
		wire_send(a->dealer, NULL, 0, &c, ZMQ_DONTWAIT);
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
 * What was adopted from the broker before a restart, when newer than the
 * configured files: a restart does not roll the agent back to versions a
 * broker could then serve again.  (They were checked when adopted; the
 * store is this agency's own.)
 */
static int
restore_adopted(struct agent *a)
{
	char err[KETEN_ERRLEN], *dsrc = NULL, *psrc = NULL;
	struct directory *nd = NULL;
	struct policy *np = NULL;
	MDB_txn *rt;
	int rc = 0;

	if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) != 0)
		return 0;
	dsrc = store_meta_get(a->store, rt, "directory_src");
	psrc = a->cfg->policy_updates ? store_meta_get(a->store, rt, "policy_src") : NULL;
	mdb_txn_abort(rt);
	if (dsrc != NULL && directory_parse("adopted directory", dsrc, strlen(dsrc), &nd, err) == 0 &&
	    nd->version > a->dir->version) {
		log_info("directory version %llu, adopted before the restart, is newer than %s "
		    "(version %llu): kept", (unsigned long long)nd->version, a->cfg->directory,
		    (unsigned long long)a->dir->version);
		directory_free(&a->dir);
		a->dir = nd;
		nd = NULL;
	}
	const char *src = a->policy_src;
	size_t len = a->policy_src_len;
	if (psrc != NULL && policy_parse("adopted policy", psrc, strlen(psrc), a->dir, &np, err) == 0 &&
	    trust_version_cmp(policy_version(np), policy_version(a->policy)) > 0) {
		log_info("policy version %s, adopted before the restart, is newer than %s (%s): kept",
		    policy_version(np), a->cfg->policy, policy_version(a->policy));
		src = psrc;
		len = strlen(psrc);
	}
	policy_free(&np);
	/* the policy compiles against the directory now active */
	if (policy_parse(src == psrc ? "adopted policy" : a->cfg->policy, src, len, a->dir, &np,
	    err) != 0) {
		log_warnx("%s", err);
		rc = -1;
	} else {
		policy_free(&a->policy);
		a->policy = np;
		if (src == psrc) {
			free(a->policy_src);
			a->policy_src = psrc;
			a->policy_src_len = len;
			psrc = NULL;
		}
	}
	a->okeys.dir = a->dir;
	directory_free(&nd);
	free(dsrc);
	free(psrc);
	return rc;
}

static int
setup(struct agent *a, bool check_only)
{
	char err[KETEN_ERRLEN];

	if (keys_load(a->cfg->keys, &a->keys, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (strcmp(a->keys->id, a->cfg->agency) != 0) {
		log_warnx("%s: keys belong to \"%s\", but the configuration says agency \"%s\"",
		    a->cfg->keys, a->keys->id, a->cfg->agency);
		return -1;
	}
	if (trust_root_load(a->cfg->root, &a->root, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	key_z85_decode(a->broker_pk, a->cfg->broker_key);
	if (a->cfg->broker_signing_key != NULL) {
		key_b64_decode(a->broker_sign_pk, sizeof(a->broker_sign_pk), a->cfg->broker_signing_key);
		a->have_broker_sign_pk = true;
	}
	if (directory_load(a->cfg->directory, &a->dir, err) != 0 ||
	    file_read(a->cfg->policy, YDOC_MAX_BYTES, &a->policy_src, &a->policy_src_len, err) != 0 ||
	    policy_parse(a->cfg->policy, a->policy_src, a->policy_src_len, a->dir, &a->policy,
	    err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (a->cfg->network_key != NULL) {
		struct ydoc *doc = NULL;
		const char *b64 = NULL;
		int fd = open(a->cfg->network_key, O_RDONLY | O_CLOEXEC);
		if (fd == -1 || file_check_private(fd, a->cfg->network_key, err) != 0) {
			if (fd == -1)
				snprintf(err, sizeof(err), "%s: %s", a->cfg->network_key, strerror(errno));
			else
				close(fd);
			log_warnx("%s", err);
			return -1;
		}
		close(fd);
		if (ydoc_load(a->cfg->network_key, &doc, err) != 0 ||
		    ydoc_expect_map(doc, ydoc_root(doc), "network key file", err) != 0 ||
		    ydoc_get_str(doc, ydoc_root(doc), "network_key", true, &b64, err) != 0 ||
		    (a->network_key = sodium_malloc(32)) == NULL ||
		    key_b64_decode(a->network_key, 32, b64) != 0) {
			if (b64 != NULL)
				snprintf(err, sizeof(err), "%s: network_key must be the base64 of 32 bytes",
				    a->cfg->network_key);
			ydoc_free(&doc);
			log_warnx("%s", err);
			return -1;
		}
		ydoc_free(&doc);
	}
	if (a->cfg->previous_keys != NULL) {
		if (keys_load(a->cfg->previous_keys, &a->prev_keys, err) != 0) {
			log_warnx("%s", err);
			return -1;
		}
		if (strcmp(a->prev_keys->id, a->cfg->agency) != 0) {
			log_warnx("%s: previous keys belong to \"%s\", not to %s", a->cfg->previous_keys,
			    a->prev_keys->id, a->cfg->agency);
			return -1;
		}
	}
	a->okeys = (struct outbound_keys){ a->dir, a->keys, a->network_key, a->prev_keys };
	if (check_only)
		return 0;
	if (a->cfg->api_listen != NULL && rest_read_token(a->cfg->api_token, a->api_token_hash, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	/* every secret file is read: root is no longer needed */
	if (harden_drop_user(a->cfg->user, "user", err) != 0) {
		log_warnx("%s: %s", a->cfg->path, err);
		return -1;
	}
	if (db_env_open(a->cfg->data_dir, a->cfg->map_size_mb, 12, &a->env, err) != 0 ||
	    store_open(a->env, &a->store, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	randombytes_buf(a->instance, sizeof(a->instance));
	if (restore_adopted(a) != 0)
		return -1;
	{	/* the newest checkpoint we witnessed survives restarts */
		MDB_txn *rt;
		if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) == 0) {
			char *note = store_meta_get(a->store, rt, "witness_note");
			char origin[256];
			if (note != NULL && a->have_broker_sign_pk) {
				snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(note, "\n"), note);
				if (checkpoint_verify(note, origin, a->broker_sign_pk, &a->witness_size,
				    a->witness_root, err) != 0)
					a->witness_size = 0;
			}
			free(note);
			mdb_txn_abort(rt);
		}
	}
	/* before ZeroMQ and libmicrohttpd start their threads, which inherit the filter */
	int frc = a->cfg->seccomp ? harden_seccomp(err) : 0;
	if (frc < 0) {
		log_warnx("%s", err);
		return -1;
	}
	log_info("seccomp: %s", !a->cfg->seccomp ? "off (seccomp: false)" : frc == 0 ?
	    "system call filter installed" : "not installed in this sanitizer build");
	a->zctx = zmq_ctx_new();
	a->dealer = zmq_socket(a->zctx, ZMQ_DEALER);
	a->control = zmq_socket(a->zctx, ZMQ_ROUTER);
	int one = 1, zero = 0, hb = (int)a->cfg->heartbeat_ms, hbt = 3 * hb;
	int rc_ivl = 100, rc_max = 5000;
	int64_t maxmsg = (int64_t)a->cfg->max_message_bytes * 2 + 65536;
	int64_t ctlmax = CONTROL_MAX_FRAME;
	if (zmq_setsockopt(a->dealer, ZMQ_CURVE_SERVERKEY, a->broker_pk, 32) ||
	    zmq_setsockopt(a->dealer, ZMQ_CURVE_PUBLICKEY, a->keys->tx_pk, 32) ||
	    zmq_setsockopt(a->dealer, ZMQ_CURVE_SECRETKEY, a->keys->tx_sk, 32) ||
	    zmq_setsockopt(a->dealer, ZMQ_IMMEDIATE, &one, sizeof(one)) ||
	    zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL, &rc_ivl, sizeof(rc_ivl)) ||
	    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL_MAX, &rc_max, sizeof(rc_max)) ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_TTL, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(a->dealer, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(a->control, ZMQ_MAXMSGSIZE, &ctlmax, sizeof(ctlmax)) ||
	    zmq_setsockopt(a->control, ZMQ_LINGER, &zero, sizeof(zero))) {
		log_warnx("socket options: %s", zmq_strerror(errno));
		return -1;
	}
	if (zmq_bind(a->control, REST_CONTROL) != 0) {
		log_warnx("cannot bind the control socket %s: %s", REST_CONTROL, zmq_strerror(errno));
		return -1;
	}
	if (rest_start(a->cfg, a->zctx, a->api_token_hash, &a->rest, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (a->cfg->api_listen != NULL)
		log_info("REST API on http://%s/v1/ and %s/api.sock", a->cfg->api_listen,
		    a->cfg->data_dir);
	if (zmq_connect(a->dealer, a->cfg->broker) != 0) {
		log_warnx("cannot connect to %s: %s", a->cfg->broker, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

static void
run(struct agent *a)
{
	zmq_pollitem_t items[2] = {
		{ a->dealer, 0, ZMQ_POLLIN, 0 },
		{ a->control, 0, ZMQ_POLLIN, 0 },
	};
	long tick = (long)(a->cfg->heartbeat_ms / 4);

	a->last_rx_ms = mono_ms();
	while (!stopping) {
		timers(a);
		if (zmq_poll(items, 2, tick > 0 ? tick : 1) < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("poll: %s", zmq_strerror(errno));
			break;
		}
		MDB_txn *txn;
		int rc = mdb_txn_begin(a->env, NULL, 0, &txn);
		if (rc != 0) {
			log_warnx("cannot begin a transaction: %s", mdb_strerror(rc));
			break;
		}
		uint64_t n = 0;
		bool got;
		do {
			got = false;
			if (receive_broker(a, txn)) {
				got = true;
				n++;
			}
			if (receive_control(a, txn)) {
				got = true;
				n++;
			}
		} while (got && n < a->cfg->batch_max);
		if (n > 0) {
			if ((rc = mdb_txn_commit(txn)) != 0) {
				log_warnx("commit failed: %s; nothing of this batch is acknowledged",
				    mdb_strerror(rc));
				for (size_t i = 0; i < a->npend; i++)
					free(a->pend[i].frame);
				a->npend = 0;
			} else {
				a->commits++;
				a->committed += n;
			}
		} else {
			mdb_txn_abort(txn);
		}
		send_pending(a);
		pump_outbox(a);
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
	/* static: the zeroed pages of its tables (sent_at, dq) stay untouched,
	 * and so out of the resident set, until they are used */
	static struct agent a;
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
	log_init("agent", verbose);
	if (sodium_init() < 0)
		fatal("libsodium initialisation failed");
	if (codec_init() != 0)
		fatal("case message schema tables could not be built");
	if (agent_config_load(config, &a.cfg, err) != 0)
		fatal("%s", err);
	char comp[KETEN_IDMAX + 8];
	snprintf(comp, sizeof(comp), "agent %s", a.cfg->agency);
	log_init(comp, verbose);
	if (setup(&a, check) != 0)
		fatal("%s: configuration not usable", config);
	if (check) {
		char hex[65];
		sodium_bin2hex(hex, sizeof(hex), a.root->sha256, 32);
		printf("%s: configuration OK (agency %s, broker %s, policy %s version %s)\n", config,
		    a.cfg->agency, a.cfg->broker, policy_name(a.policy), policy_version(a.policy));
		printf("root of trust: %s, network %s version %llu (sha256 %s), %zu keys; approvals "
		    "needed: policy %u, directory %u, recovery %u, root %u agencies\n", a.cfg->root,
		    a.root->network, (unsigned long long)a.root->version, hex, a.root->nkeys,
		    a.root->policy, a.root->directory, a.root->recovery, a.root->root);
		trust_root_free(&a.root);
		policy_free(&a.policy);
		free(a.policy_src);
		directory_free(&a.dir);
		keys_free(&a.keys);
		agent_config_free(&a.cfg);
		return 0;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the parse trees and tables of start-up are freed: give their pages back */
	malloc_trim(0);
	log_info("started; broker %s, API %s/api.sock, policy %s version %s", a.cfg->broker,
	    a.cfg->data_dir, policy_name(a.policy), policy_version(a.policy));
	run(&a);
	log_info("stopping: commits=%llu commands=%llu submitted=%llu acked=%llu rejected=%llu "
	    "received=%llu duplicates=%llu refused=%llu", (unsigned long long)a.commits,
	    (unsigned long long)a.committed, (unsigned long long)a.submitted,
	    (unsigned long long)a.acked, (unsigned long long)a.rejected,
	    (unsigned long long)a.received, (unsigned long long)a.dups,
	    (unsigned long long)a.refused);
	/* wake API threads waiting on the agent (ETERM), then stop the API */
	zmq_ctx_shutdown(a.zctx);
	rest_stop(&a.rest);
	zmq_close(a.dealer);
	zmq_close(a.control);
	zmq_ctx_term(a.zctx);
	store_free(&a.store);
	mdb_env_close(a.env);
	for (size_t i = 0; i < a.npend; i++)
		free(a.pend[i].frame);
	free(a.pend);
	keys_free(&a.keys);
	keys_free(&a.prev_keys);
	if (a.network_key != NULL)
		sodium_free(a.network_key);
	trust_root_free(&a.root);
	policy_free(&a.policy);
	free(a.policy_src);
	directory_free(&a.dir);
	agent_config_free(&a.cfg);
	return 0;
}
