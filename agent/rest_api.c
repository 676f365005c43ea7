/* The agent's REST API endpoints: each request mapped to the agent's local API and its answer to JSON (schemas/openapi.yaml). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent/rest.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"
#include "schemas/codec.h"
#include "schemas/local.pb-c.h"
#include "agent/rest_int.h"

/* The agent's error (or no answer) as {"error": ...} and its HTTP status. */
static json_t *
error_json(const Keten__Local__V1__LocalReply *rep, unsigned *status)
{
	const char *code = rep == NULL ? "unavailable" : rep->rep_case !=
	    KETEN__LOCAL__V1__LOCAL_REPLY__REP_ERROR ? "internal" :
	    rep->error->code[0] ? rep->error->code : "invalid";

	*status = strcmp(code, "not-found") == 0 ? MHD_HTTP_NOT_FOUND :
	    strcmp(code, "policy") == 0 ? MHD_HTTP_FORBIDDEN :
	    strcmp(code, "storage") == 0 || strcmp(code, "unavailable") == 0 ?
	    MHD_HTTP_SERVICE_UNAVAILABLE : strcmp(code, "internal") == 0 ?
	    MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_UNPROCESSABLE_CONTENT;
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", rep == NULL ?
	    "the agent did not answer in time" : rep->rep_case ==
	    KETEN__LOCAL__V1__LOCAL_REPLY__REP_ERROR ? rep->error->reason :
	    "unexpected answer from the agent");
}

static enum MHD_Result
send_agent_error(struct MHD_Connection *c, const Keten__Local__V1__LocalReply *rep)
{
	unsigned st;
	json_t *o = error_json(rep, &st);

	return rest_send_json(c, st, o);
}

static json_t *
uuid_json(const ProtobufCBinaryData *b)
{
	char s[KETEN_UUIDSTRLEN];

	if (b->len != KETEN_UUIDBYTES)
		return json_null();
	uuid_format(s, b->data);
	return json_string(s);
}

static json_t *
withheld_json(Keten__Local__V1__Withheld **w, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "recipient", w[i]->recipient,
		    "path", w[i]->path, "reason", w[i]->reason, "rule", w[i]->rule));
	return a;
}

/* An enum value by its full name or the part after the prefix ("LABOUR"). */
static int
enum_value(const ProtobufCEnumDescriptor *d, const char *prefix, const char *name)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(d, name);
	char full[96];

	if (v == NULL) {
		snprintf(full, sizeof(full), "%s%s", prefix, name);
		v = protobuf_c_enum_descriptor_get_value_by_name(d, full);
	}
	return v && v->value != 0 ? v->value : -1;
}

static const char *
enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);

	return v ? v->name : "";
}

/* The header and the case message of one inbox entry. */
static json_t *
item_json(const Keten__Local__V1__InboxItem *it)
{
	const Keten__Wire__V1__Deliver *d = it->message;
	const Keten__Envelope__V1__Header *h;
	json_t *o = json_object(), *msg = NULL;

	if (d == NULL || (h = d->header) == NULL || d->copy == NULL)
		return o;
	json_object_set_new(o, "seq", json_integer((json_int_t)it->seq));
	json_object_set_new(o, "messageId", uuid_json(&h->message_id));
	json_object_set_new(o, "sender", json_string(h->sender));
	const char *type = strrchr(h->message_type, '.');
	json_object_set_new(o, "type", json_string(type ? type + 1 : h->message_type));
	json_object_set_new(o, "purpose", json_string(h->purpose));
	json_object_set_new(o, "legalBasis", json_string(h->legal_basis));
	json_object_set_new(o, "handling", json_string(enum_name(
	    &keten__envelope__v1__handling_label__descriptor, h->handling)));
	if (h->in_reply_to.len == KETEN_UUIDBYTES)
		json_object_set_new(o, "inReplyTo", uuid_json(&h->in_reply_to));
	if (h->case_pseudonym.len > 0) {
		char hex[2 * 64 + 1];
		sodium_bin2hex(hex, sizeof(hex), h->case_pseudonym.data,
		    h->case_pseudonym.len > 64 ? 64 : h->case_pseudonym.len);
		json_object_set_new(o, "casePseudonym", json_string(hex));
	}
	json_object_set_new(o, "createdMs", json_integer(h->created_ms));
	json_object_set_new(o, "receivedMs", json_integer(it->received_ms));
	json_object_set_new(o, "ackedMs", it->acked_ms ? json_integer(it->acked_ms) : json_null());
	json_t *fields = json_array();
	for (size_t i = 0; i < d->copy->n_manifest; i++)
		json_array_append_new(fields, json_string(d->copy->manifest[i]));
	json_object_set_new(o, "fieldPaths", fields);
	const struct codec_type *t = codec_type_find(h->message_type);
	ProtobufCMessage *m = t ? codec_unpack(t, d->copy->payload.data, d->copy->payload.len) : NULL;
	char *js = NULL;
	if (m != NULL && codec_to_json(t, m, &js) == 0)
		msg = json_loads(js, 0, NULL);
	free(js);
	codec_free(m);
	json_object_set_new(o, "message", msg ? msg : json_null());
	return o;
}

/* A query argument as an unsigned number; false if present and not one. */
static bool
arg_u64(struct MHD_Connection *c, const char *name, uint64_t max, uint64_t *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	char *end;

	if (v == NULL)
		return true;
	if (v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*end != '\0' || errno != 0 || x > max)
		return false;
	*out = x;
	return true;
}

/* Storage a LocalSubmit built from one JSON request points into. */
struct submit_buf {
	Keten__Local__V1__LocalSubmit ls;
	Keten__Envelope__V1__Attributes attrs;
	char *rcpts[64];
	int forms[16];
	uint8_t reply_to[KETEN_UUIDBYTES];
	char *payload;		/* malloc'd */
	char path[96];		/* where an error is */
	unsigned status;	/* of an error: 400 the shape, 422 a value */
};

/*
 * Fill sb from one submission object j (which must outlive sb).  NULL, or
 * the JSON path of what is wrong with *why saying what was expected.
 */
static const char *
build_submit(json_t *j, struct submit_buf *sb, const char **why)
{
	static const char *const known[] = { "type", "recipients", "purpose", "legalBasis",
		"caseReference", "handling", "attributes", "inReplyTo", "message", NULL };
	Keten__Local__V1__LocalSubmit *ls = &sb->ls;
	Keten__Envelope__V1__Attributes *attrs = &sb->attrs;
	const char *key;
	json_t *v, *x;

	keten__local__v1__local_submit__init(ls);
	keten__envelope__v1__attributes__init(attrs);
	sb->payload = NULL;
	sb->status = MHD_HTTP_BAD_REQUEST;
	ls->attributes = attrs;
	ls->recipients = sb->rcpts;
	attrs->exploitation_forms = (Keten__Case__V1__ExploitationForm *)sb->forms;
	if (!json_is_object(j))
		return *why = "expected a JSON object (a submission)", "$";
	json_object_foreach(j, key, v) {
		size_t i;
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL) {
			snprintf(sb->path, sizeof(sb->path), "$.%.64s", key);
			return *why = "unknown member (expected type, recipients, purpose, legalBasis, "
			    "caseReference, handling, attributes, inReplyTo, message)", sb->path;
		}
	}
	sb->status = MHD_HTTP_UNPROCESSABLE_CONTENT;	/* from here on: a value is wrong */
	v = json_object_get(j, "type");
	if (!json_is_string(v))
		return *why = "required: a message type (GET /v1/schemas)", "$.type";
	ls->message_type = (char *)json_string_value(v);
	v = json_object_get(j, "recipients");
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
		return *why = "required: an array of 1 to 64 agency ids", "$.recipients";
	for (size_t i = 0; i < json_array_size(v); i++) {
		if (!json_is_string(json_array_get(v, i)))
			return *why = "each recipient is an agency id (a string)", "$.recipients[]";
		sb->rcpts[i] = (char *)json_string_value(json_array_get(v, i));
		for (size_t k = 0; k < i; k++)
			if (strcmp(sb->rcpts[k], sb->rcpts[i]) == 0)
				return *why = "each recipient once: this one is listed twice",
				    "$.recipients[]";
		ls->n_recipients = i + 1;
	}
	v = json_object_get(j, "purpose");
	if (!json_is_string(v))
		return *why = "required: a purpose id of the policy", "$.purpose";
	ls->purpose = (char *)json_string_value(v);
	v = json_object_get(j, "legalBasis");
	if (v && !json_is_string(v))
		return *why = "a legal basis id (string)", "$.legalBasis";
	ls->legal_basis = json_is_string(v) ? (char *)json_string_value(v) : "";
	v = json_object_get(j, "caseReference");
	if (v && !json_is_string(v))
		return *why = "the sender's case reference (string)", "$.caseReference";
	if (json_is_string(v))
		ls->case_reference = (char *)json_string_value(v);
	v = json_object_get(j, "handling");
	if (v && (!json_is_string(v) ||
	    (int)(ls->handling = policy_handling_parse(json_string_value(v))) < 0))
		return *why = "a handling label: CLEAR, GREEN, AMBER, AMBER+STRICT or RED", "$.handling";
	v = json_object_get(j, "inReplyTo");
	if (v && (!json_is_string(v) || uuid_parse(sb->reply_to, json_string_value(v)) != 0))
		return *why = "the message id (UUID) this message answers", "$.inReplyTo";
	if (v)
		ls->in_reply_to = (ProtobufCBinaryData){ KETEN_UUIDBYTES, sb->reply_to };
	v = json_object_get(j, "attributes");
	if (v && !json_is_object(v))
		return *why = "an object: exploitationForms, minor, region, urgency", "$.attributes";
	if (v) {
		json_t *f = json_object_get(v, "exploitationForms");
		json_object_foreach(v, key, x)
			if (strcmp(key, "exploitationForms") && strcmp(key, "minor") &&
			    strcmp(key, "region") && strcmp(key, "urgency"))
				return *why = "unknown member (exploitationForms, minor, region, urgency)",
				    "$.attributes";
		if (f && (!json_is_array(f) || json_array_size(f) > 16))
			return *why = "an array of up to 16 forms", "$.attributes.exploitationForms";
		for (size_t i = 0; f && i < json_array_size(f); i++) {
			x = json_array_get(f, i);
			int fv = json_is_string(x) ? enum_value(&keten__case__v1__exploitation_form__descriptor,
			    "EXPLOITATION_FORM_", json_string_value(x)) : -1;
			if (fv < 0)
				return *why = "SEXUAL, LABOUR, CRIMINAL, ORGAN_REMOVAL or OTHER",
				    "$.attributes.exploitationForms[]";
			sb->forms[i] = fv;
			attrs->n_exploitation_forms = i + 1;
		}
		x = json_object_get(v, "minor");
		if (x && !json_is_boolean(x))
			return *why = "true or false", "$.attributes.minor";
		attrs->minor = json_is_true(x);
		x = json_object_get(v, "region");
		if (x && !json_is_string(x))
			return *why = "a region id (string)", "$.attributes.region";
		attrs->region = json_is_string(x) ? (char *)json_string_value(x) : "";
		x = json_object_get(v, "urgency");
		int u = json_is_string(x) ? enum_value(&keten__case__v1__urgency__descriptor, "URGENCY_",
		    json_string_value(x)) : 0;
		if (x && (!json_is_string(x) || u < 0))
			return *why = "ROUTINE, PRIORITY or IMMEDIATE", "$.attributes.urgency";
		attrs->urgency = u;
	}
	v = json_object_get(j, "message");
	if (!json_is_object(v))
		return *why = "required: the case message as a JSON object", "$.message";
	if ((sb->payload = json_dumps(v, JSON_COMPACT)) == NULL)
		return *why = "out of memory", "$.message";
	ls->payload = (ProtobufCBinaryData){ strlen(sb->payload), (uint8_t *)sb->payload };
	return NULL;
}

/* The agent's answer to one submission: 202 and what was withheld, or the error. */
static json_t *
submitted_json(const Keten__Local__V1__LocalReply *rep, unsigned *status)
{
	if (rep != NULL && rep->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_SUBMITTED) {
		json_t *out = json_object(), *ra = json_array();
		const Keten__Local__V1__LocalSubmitted *s = rep->submitted;
		json_object_set_new(out, "messageId", uuid_json(&s->message_id));
		for (size_t i = 0; i < s->n_recipients; i++)
			json_array_append_new(ra, json_string(s->recipients[i]));
		json_object_set_new(out, "recipients", ra);
		json_object_set_new(out, "withheld", withheld_json(s->withheld, s->n_withheld));
		*status = MHD_HTTP_ACCEPTED;
		return out;
	}
	return error_json(rep, status);
}

/*
 * POST /v1/messages: one submission (an object), or a batch (an array of up
 * to BATCH_MAX objects) submitted in order: the requests go to the agent
 * back to back on one socket, so it takes them in order, most often in one
 * commit.  Each is on disk before the answer; as with a single submission, a
 * caller whose answer is lost cannot know which were stored (docs/integration.md).
 */
enum MHD_Result
rest_post_message(struct rest *r, struct MHD_Connection *c, const struct req *q)
{
	json_error_t je;
	json_t *j;
	bool batch;
	size_t n;

	if ((j = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "malformed-json",
		    "request body, line %d column %d: %s", je.line, je.column, je.text);
	batch = json_is_array(j);
	n = batch ? json_array_size(j) : 1;
	if (batch && (n == 0 || n > BATCH_MAX)) {
		json_decref(j);
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "$: a batch holds 1 to %d "
		    "submissions", BATCH_MAX);
	}
	struct submit_buf *sb = calloc(n, sizeof(*sb));
	json_t *results = json_array();
	unsigned st = MHD_HTTP_ACCEPTED;
	void *s = NULL;
	size_t answered = 0;
	if (sb == NULL) {
		json_decref(j);
		return MHD_NO;
	}
	/* every submission checked before any is sent: a batch is taken whole or not at all */
	for (size_t i = 0; i < n; i++) {
		const char *why, *bad = build_submit(batch ? json_array_get(j, i) : j, &sb[i], &why);
		if (bad != NULL) {
			char path[48];
			snprintf(path, sizeof(path), "$[%zu]", i);
			enum MHD_Result rc = rest_send_error(c, sb[i].status, "invalid",
			    "%s%s: %s", batch ? path : "", batch ? bad + 1 : bad, why);
			for (size_t k = 0; k <= i; k++)
				free(sb[k].payload);
			free(sb);
			json_decref(results);
			json_decref(j);
			return rc;
		}
	}
	if ((s = rest_control_socket(r)) != NULL)
		for (size_t i = 0; i < n; i++) {
			Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
			lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_SUBMIT;
			lr.submit = &sb[i].ls;
			if (rest_control_put(s, &lr) != 0)
				break;
		}
	for (size_t i = 0; i < n; i++) {
		Keten__Local__V1__LocalReply *rep = s ? rest_control_get(s) : NULL;
		unsigned one;

		answered += rep != NULL;
		json_t *o = submitted_json(rep, &one);
		if (batch)
			json_object_set_new(o, "status", json_integer(one));
		json_array_append_new(results, o);
		if (!batch)
			st = one;
		if (rep)
			keten__local__v1__local_reply__free_unpacked(rep, NULL);
		free(sb[i].payload);
	}
	rest_control_release(s, answered == n);
	free(sb);
	json_decref(j);
	if (!batch) {
		json_t *one = json_incref(json_array_get(results, 0));
		json_decref(results);
		return rest_send_json(c, st, one);
	}
	return rest_send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "results", results));
}

/* wait= on a message: until the broker has answered */
static bool
status_decided(const Keten__Local__V1__LocalReply *rep)
{
	return rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_STATUS ||
	    strcmp(rep->status->state, "queued") != 0;
}

enum MHD_Result
rest_get_message(struct rest *r, struct MHD_Connection *c, const uint8_t id[static 16], const char *ids)
{
	Keten__Local__V1__StatusQuery sq = KETEN__LOCAL__V1__STATUS_QUERY__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	enum MHD_Result rc;

	uint64_t wait = 0;

	if (!arg_u64(c, "wait", WAIT_MAX_S, &wait))
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "wait= is 0 to %d seconds",
		    WAIT_MAX_S);
	sq.message_id = (ProtobufCBinaryData){ 16, (uint8_t *)id };
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_STATUS;
	lr.status = &sq;
	/* wait=S: until the broker has answered (no longer queued), at most S seconds */
	rep = rest_ask_until(r, &lr, mono_ms() + (int64_t)wait * 1000, 2, status_decided);
	if (rep == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_STATUS) {
		rc = send_agent_error(c, rep);
	} else if (strcmp(rep->status->state, "unknown") == 0) {
		rc = rest_send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no message %s was sent by this "
		    "agent", ids);
	} else {
		Keten__Local__V1__StatusReply *st = rep->status;
		json_t *o = json_object(), *ra = json_array();
		json_object_set_new(o, "messageId", json_string(ids));
		json_object_set_new(o, "state", json_string(st->state));
		if (st->reason[0])
			json_object_set_new(o, "reason", json_string(st->reason));
		if (st->time_ms)
			json_object_set_new(o, "timeMs", json_integer(st->time_ms));
		for (size_t i = 0; i < st->n_receipts; i++)
			json_array_append_new(ra, json_string(st->receipts[i]));
		json_object_set_new(o, "receipts", ra);
		ra = json_array();
		for (size_t i = 0; i < st->n_proofs; i++)
			json_array_append_new(ra, json_string(st->proofs[i]));
		json_object_set_new(o, "proofs", ra);
		/* per recipient, from the broker's ledger (absent when it did not answer) */
		if (st->n_copies > 0) {
			json_t *copies = json_array();
			for (size_t i = 0; i < st->n_copies; i++) {
				const Keten__Wire__V1__CopyState *cs = st->copies[i];
				json_t *x = json_pack("{s:s,s:s,s:I}", "recipient", cs->recipient, "state",
				    cs->state, "timeMs", (json_int_t)cs->time_ms);
				if (cs->reason[0] && strcmp(cs->state, "delivered") != 0 &&
				    strcmp(cs->state, "accepted") != 0)
					json_object_set_new(x, "reason", json_string(cs->reason));
				json_array_append_new(copies, x);
			}
			json_object_set_new(o, "recipients", copies);
		}
		rc = rest_send_json(c, MHD_HTTP_OK, o);
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}

/* wait= on the inbox: until something is there */
static bool
inbox_nonempty(const Keten__Local__V1__LocalReply *rep)
{
	return rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX || rep->inbox->n_items > 0;
}

enum MHD_Result
rest_get_inbox(struct rest *r, struct MHD_Connection *c)
{
	Keten__Local__V1__InboxList il = KETEN__LOCAL__V1__INBOX_LIST__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep = NULL;
	uint64_t after = 0, limit = 100, wait = 0;
	const char *all = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "all");

	if (!arg_u64(c, "after", UINT64_MAX - 1, &after) || !arg_u64(c, "limit", 1000, &limit) ||
	    limit == 0 || !arg_u64(c, "wait", WAIT_MAX_S, &wait))
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "after= is an inbox sequence "
		    "number, limit= 1 to 1000, wait= 0 to %d seconds", WAIT_MAX_S);
	il.after = after;
	il.limit = (uint32_t)limit;
	il.unacked_only = !(all && strcmp(all, "true") == 0);
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX;
	lr.inbox = &il;
	rep = rest_ask_until(r, &lr, mono_ms() + (int64_t)wait * 1000, 50, inbox_nonempty);
	if (rep == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX) {
		enum MHD_Result rc = send_agent_error(c, rep);
		if (rep)
			keten__local__v1__local_reply__free_unpacked(rep, NULL);
		return rc;
	}
	json_t *o = json_object(), *items = json_array();
	uint64_t next = after;
	for (size_t i = 0; i < rep->inbox->n_items; i++) {
		json_array_append_new(items, item_json(rep->inbox->items[i]));
		next = rep->inbox->items[i]->seq;
	}
	json_object_set_new(o, "items", items);
	json_object_set_new(o, "next", json_integer((json_int_t)next));
	keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rest_send_json(c, MHD_HTTP_OK, o);
}

/* GET /v1/outbox: what waits to go to the broker, oldest first, and why. */
enum MHD_Result
rest_get_outbox(struct rest *r, struct MHD_Connection *c)
{
	Keten__Local__V1__OutboxList ol = KETEN__LOCAL__V1__OUTBOX_LIST__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	uint64_t limit = 100;

	if (!arg_u64(c, "limit", 1000, &limit) || limit == 0)
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "limit= is 1 to 1000");
	ol.limit = (uint32_t)limit;
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_OUTBOX;
	lr.outbox = &ol;
	rep = rest_ask(r, &lr);
	if (rep == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_OUTBOX) {
		enum MHD_Result rc = send_agent_error(c, rep);
		if (rep)
			keten__local__v1__local_reply__free_unpacked(rep, NULL);
		return rc;
	}
	json_t *o = json_object(), *items = json_array();
	for (size_t i = 0; i < rep->outbox->n_items; i++) {
		const Keten__Local__V1__OutboxItem *it = rep->outbox->items[i];
		char ids[KETEN_UUIDSTRLEN] = "", when[KETEN_TIMESTRLEN];
		json_t *rc = json_array();
		if (it->message_id.len == KETEN_UUIDBYTES)
			uuid_format(ids, it->message_id.data);
		for (size_t k = 0; k < it->n_recipients; k++)
			json_array_append_new(rc, json_string(it->recipients[k]));
		const char *type = strrchr(it->message_type, '.') ? strrchr(it->message_type, '.') + 1 :
		    it->message_type;
		json_array_append_new(items, json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:I, s:s}",
		    "ref", (json_int_t)it->ref, "messageId", ids, "kind", it->kind, "type", type,
		    "recipients", rc, "purpose", it->purpose, "createdMs", (json_int_t)it->created_ms,
		    "created", time_iso(it->created_ms, when)));
	}
	json_object_set_new(o, "items", items);
	json_object_set_new(o, "depth", json_integer((json_int_t)rep->outbox->depth));
	json_object_set_new(o, "waitingFor", json_string(rep->outbox->waiting_for));
	keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rest_send_json(c, MHD_HTTP_OK, o);
}

enum MHD_Result
rest_inbox_one(struct rest *r, struct MHD_Connection *c, const uint8_t id[static 16], bool ack)
{
	Keten__Local__V1__InboxGet ig = KETEN__LOCAL__V1__INBOX_GET__INIT;
	Keten__Local__V1__InboxAck ia = KETEN__LOCAL__V1__INBOX_ACK__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	enum MHD_Result rc;

	if (ack) {
		ia.message_id = (ProtobufCBinaryData){ 16, (uint8_t *)id };
		lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX_ACK;
		lr.inbox_ack = &ia;
	} else {
		ig.message_id = (ProtobufCBinaryData){ 16, (uint8_t *)id };
		lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX_GET;
		lr.inbox_get = &ig;
	}
	rep = rest_ask(r, &lr);
	if (ack && rep && rep->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_ACKED) {
		json_t *o = json_object();
		json_object_set_new(o, "messageId", uuid_json(&ia.message_id));
		json_object_set_new(o, "ackedMs", json_integer(rep->acked->acked_ms));
		json_object_set_new(o, "already", json_boolean(rep->acked->already));
		rc = rest_send_json(c, MHD_HTTP_OK, o);
	} else if (!ack && rep && rep->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX &&
	    rep->inbox->n_items == 1) {
		rc = rest_send_json(c, MHD_HTTP_OK, item_json(rep->inbox->items[0]));
	} else {
		rc = send_agent_error(c, rep);
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}

enum MHD_Result
rest_get_explain(struct rest *r, struct MHD_Connection *c)
{
	Keten__Local__V1__Explain x = KETEN__LOCAL__V1__EXPLAIN__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	const char *rc_ = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "recipient");
	const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	const char *p = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "purpose");
	const char *b = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "legalBasis");
	enum MHD_Result rc;

	if (rc_ == NULL || t == NULL || p == NULL)
		return rest_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "explain needs recipient=, "
		    "type= and purpose= (legalBasis= optional)");
	x.recipient = (char *)rc_;
	x.message_type = (char *)t;
	x.purpose = (char *)p;
	x.legal_basis = b ? (char *)b : "";
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_EXPLAIN;
	lr.explain = &x;
	if ((rep = rest_ask(r, &lr)) == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_EXPLAIN) {
		rc = send_agent_error(c, rep);
	} else {
		Keten__Local__V1__ExplainReply *e = rep->explain;
		json_t *o = json_object(), *a = json_array(), *ru = json_array();
		json_object_set_new(o, "recipient", json_string(rc_));
		json_object_set_new(o, "type", json_string(t));
		json_object_set_new(o, "purpose", json_string(p));
		json_object_set_new(o, "policyVersion", json_string(e->policy_version));
		json_object_set_new(o, "permitted", json_boolean(e->permitted));
		if (!e->permitted) {
			json_object_set_new(o, "reason", json_string(e->reason));
			json_object_set_new(o, "reasonRule", json_string(e->reason_rule));
		}
		for (size_t i = 0; i < e->n_rules; i++)
			json_array_append_new(ru, json_string(e->rules[i]));
		json_object_set_new(o, "rules", ru);
		for (size_t i = 0; i < e->n_allowed; i++)
			json_array_append_new(a, json_string(e->allowed[i]));
		json_object_set_new(o, "allowed", a);
		json_object_set_new(o, "withheld", withheld_json(e->withheld, e->n_withheld));
		rc = rest_send_json(c, MHD_HTTP_OK, o);
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}

/* The case message types and their field paths (from the compiled-in schemas). */
enum MHD_Result
rest_get_schemas(struct MHD_Connection *c)
{
	const char *only = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	json_t *a = json_array();

	for (size_t i = 0; i < codec_type_count(); i++) {
		const struct codec_type *t = codec_type_at(i);
		const char *full = codec_type_name(t), *dot = strrchr(full, '.');
		if (only && strcmp(only, full) != 0 && strcmp(only, dot ? dot + 1 : full) != 0)
			continue;
		json_t *paths = json_array();
		for (size_t k = 0; k < codec_type_npaths(t); k++)
			json_array_append_new(paths, json_string(codec_type_path(t, k)));
		json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "name", dot ? dot + 1 : full,
		    "fullName", full, "paths", paths));
	}
	if (only && json_array_size(a) == 0) {
		json_decref(a);
		return rest_send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no message type \"%.64s\"", only);
	}
	return rest_send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "types", a));
}

enum MHD_Result
rest_get_metrics(struct rest *r, struct MHD_Connection *c, bool health)
{
	Keten__Local__V1__MetricsQuery mq = KETEN__LOCAL__V1__METRICS_QUERY__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	enum MHD_Result rc;

	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_METRICS;
	lr.metrics = &mq;
	rep = rest_ask(r, &lr);
	if (rep == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_METRICS) {
		rc = health ? rest_send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, json_pack("{s:s}", "status",
		    "the agent does not answer")) : send_agent_error(c, rep);
	} else if (health) {
		bool up = strstr(rep->metrics->text, "\nketen_agent_broker_connected 1\n") != NULL;
		bool refused = strstr(rep->metrics->text, "\nketen_agent_broker_refuses_us 1\n") != NULL;
		rc = rest_send_json(c, MHD_HTTP_OK, json_pack("{s:s,s:s}", "status", "ok", "broker",
		    up ? "connected" : refused ? "refuses this agency (revoked, or outside its validity "
		    "window in the broker's directory)" : "disconnected"));
	} else {
		rc = rest_send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", strdup(rep->metrics->text));
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}
