/* The agent's REST/JSON API for partner systems (see rest.h). */
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

#define TOKEN_MAX 256
#define ASK_TIMEOUT_MS 15000	/* the agent answers after its next commit */
#define WAIT_MAX_S 30		/* long-poll bound for GET /v1/inbox?wait= */
#define HEADER_MEMORY (32 * 1024)	/* request line + headers per connection */
#define BATCH_MAX 1000		/* submissions in one POST /v1/messages */

struct rest;

/* One listening socket: TCP (bearer token required) or the Unix socket. */
struct listener {
	struct rest *r;
	struct MHD_Daemon *mhd;
	bool need_token;
};

struct rest {
	struct listener tcp, local;
	char *sock_path;		/* DATA_DIR/api.sock */
	void *zctx;
	uint8_t token_hash[32];		/* BLAKE2b of the token: compared in constant time */
	size_t max_body;
};

/* One request's state across libmicrohttpd's calls: the body as it arrives. */
struct req {
	char *body;
	size_t len, cap;
	bool too_big;
};

/* --- responses ----------------------------------------------------------- */

static enum MHD_Result
send_text(struct MHD_Connection *c, unsigned status, const char *type, char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"keten\"");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Send j (consumed) as the JSON body. */
static enum MHD_Result
send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL)
		return MHD_NO;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);	/* one line: a trailing newline for curl users */
	if (t == NULL) {
		free(s);
		return MHD_NO;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return send_text(c, status, "application/json", t);
}

/* {"error": {"code": CODE, "message": ...}} plus optional fields. */
static enum MHD_Result
send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum MHD_Result
send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", msg));
}

/* --- the agent, over the control socket ---------------------------------- */

/* A socket to the agent loop, for one HTTP request (NULL: none). */
static void *
control_socket(struct rest *r)
{
	void *s = zmq_socket(r->zctx, ZMQ_DEALER);
	int zero = 0;

	if (s == NULL)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(s, REST_CONTROL) != 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

/* Send one request; the agent answers requests on one socket in order. */
static int
control_put(void *s, const Keten__Local__V1__LocalRequest *req)
{
	size_t n = keten__local__v1__local_request__get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	int rc = -1;

	if (buf != NULL) {
		keten__local__v1__local_request__pack(req, buf);
		rc = zmq_send(s, buf, n, 0) < 0 ? -1 : 0;
	}
	free(buf);
	return rc;
}

/* The next reply, or NULL when the agent does not answer in time. */
static Keten__Local__V1__LocalReply *
control_get(void *s)
{
	Keten__Local__V1__LocalReply *rep = NULL;
	zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };

	if (zmq_poll(&it, 1, ASK_TIMEOUT_MS) == 1) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) >= 0)
			rep = keten__local__v1__local_reply__unpack(NULL, zmq_msg_size(&m),
			    zmq_msg_data(&m));
		zmq_msg_close(&m);
	}
	return rep;
}

/* Send req to the agent loop and wait for its reply (NULL: no answer). */
static Keten__Local__V1__LocalReply *
ask(struct rest *r, const Keten__Local__V1__LocalRequest *req)
{
	void *s = control_socket(r);
	Keten__Local__V1__LocalReply *rep = NULL;

	if (s != NULL && control_put(s, req) == 0)
		rep = control_get(s);
	if (s != NULL)
		zmq_close(s);
	return rep;
}

/*
 * A long poll: ask on one socket until done(reply) or mono_ms() reaches
 * `until`, pausing pause_ms between asks.  The last reply (NULL: none).
 */
static Keten__Local__V1__LocalReply *
ask_until(struct rest *r, const Keten__Local__V1__LocalRequest *lr, int64_t until, long pause_ms,
    bool (*done)(const Keten__Local__V1__LocalReply *))
{
	void *s = control_socket(r);
	Keten__Local__V1__LocalReply *rep;

	while ((rep = s != NULL && control_put(s, lr) == 0 ? control_get(s) : NULL) != NULL &&
	    !done(rep) && mono_ms() < until) {
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
		struct timespec ts = { 0, pause_ms * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (s != NULL)
		zmq_close(s);
	return rep;
}

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

	return send_json(c, st, o);
}

/* --- JSON helpers -------------------------------------------------------- */

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

/* --- routes -------------------------------------------------------------- */

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
static enum MHD_Result
post_message(struct rest *r, struct MHD_Connection *c, const struct req *q)
{
	json_error_t je;
	json_t *j;
	bool batch;
	size_t n;

	if ((j = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return send_error(c, MHD_HTTP_BAD_REQUEST, "malformed-json",
		    "request body, line %d column %d: %s", je.line, je.column, je.text);
	batch = json_is_array(j);
	n = batch ? json_array_size(j) : 1;
	if (batch && (n == 0 || n > BATCH_MAX)) {
		json_decref(j);
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "$: a batch holds 1 to %d "
		    "submissions", BATCH_MAX);
	}
	struct submit_buf *sb = calloc(n, sizeof(*sb));
	json_t *results = json_array();
	unsigned st = MHD_HTTP_ACCEPTED;
	void *s = NULL;
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
			enum MHD_Result rc = send_error(c, sb[i].status, "invalid",
			    "%s%s: %s", batch ? path : "", batch ? bad + 1 : bad, why);
			for (size_t k = 0; k <= i; k++)
				free(sb[k].payload);
			free(sb);
			json_decref(results);
			json_decref(j);
			return rc;
		}
	}
	if ((s = control_socket(r)) != NULL)
		for (size_t i = 0; i < n; i++) {
			Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
			lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_SUBMIT;
			lr.submit = &sb[i].ls;
			if (control_put(s, &lr) != 0)
				break;
		}
	for (size_t i = 0; i < n; i++) {
		Keten__Local__V1__LocalReply *rep = s ? control_get(s) : NULL;
		unsigned one;
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
	if (s)
		zmq_close(s);
	free(sb);
	json_decref(j);
	if (!batch) {
		json_t *one = json_incref(json_array_get(results, 0));
		json_decref(results);
		return send_json(c, st, one);
	}
	return send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "results", results));
}

/* wait= on a message: until the broker has answered */
static bool
status_decided(const Keten__Local__V1__LocalReply *rep)
{
	return rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_STATUS ||
	    strcmp(rep->status->state, "queued") != 0;
}

static enum MHD_Result
get_message(struct rest *r, struct MHD_Connection *c, const uint8_t id[static 16], const char *ids)
{
	Keten__Local__V1__StatusQuery sq = KETEN__LOCAL__V1__STATUS_QUERY__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	enum MHD_Result rc;

	uint64_t wait = 0;

	if (!arg_u64(c, "wait", WAIT_MAX_S, &wait))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "wait= is 0 to %d seconds",
		    WAIT_MAX_S);
	sq.message_id = (ProtobufCBinaryData){ 16, (uint8_t *)id };
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_STATUS;
	lr.status = &sq;
	/* wait=S: until the broker has answered (no longer queued), at most S seconds */
	rep = ask_until(r, &lr, mono_ms() + (int64_t)wait * 1000, 2, status_decided);
	if (rep == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_STATUS) {
		rc = send_agent_error(c, rep);
	} else if (strcmp(rep->status->state, "unknown") == 0) {
		rc = send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no message %s was sent by this "
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
		rc = send_json(c, MHD_HTTP_OK, o);
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

static enum MHD_Result
get_inbox(struct rest *r, struct MHD_Connection *c)
{
	Keten__Local__V1__InboxList il = KETEN__LOCAL__V1__INBOX_LIST__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep = NULL;
	uint64_t after = 0, limit = 100, wait = 0;
	const char *all = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "all");

	if (!arg_u64(c, "after", UINT64_MAX - 1, &after) || !arg_u64(c, "limit", 1000, &limit) ||
	    limit == 0 || !arg_u64(c, "wait", WAIT_MAX_S, &wait))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "after= is an inbox sequence "
		    "number, limit= 1 to 1000, wait= 0 to %d seconds", WAIT_MAX_S);
	il.after = after;
	il.limit = (uint32_t)limit;
	il.unacked_only = !(all && strcmp(all, "true") == 0);
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX;
	lr.inbox = &il;
	rep = ask_until(r, &lr, mono_ms() + (int64_t)wait * 1000, 50, inbox_nonempty);
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
	return send_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result
inbox_one(struct rest *r, struct MHD_Connection *c, const uint8_t id[static 16], bool ack)
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
	rep = ask(r, &lr);
	if (ack && rep && rep->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_ACKED) {
		json_t *o = json_object();
		json_object_set_new(o, "messageId", uuid_json(&ia.message_id));
		json_object_set_new(o, "ackedMs", json_integer(rep->acked->acked_ms));
		json_object_set_new(o, "already", json_boolean(rep->acked->already));
		rc = send_json(c, MHD_HTTP_OK, o);
	} else if (!ack && rep && rep->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX &&
	    rep->inbox->n_items == 1) {
		rc = send_json(c, MHD_HTTP_OK, item_json(rep->inbox->items[0]));
	} else {
		rc = send_agent_error(c, rep);
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}

static enum MHD_Result
get_explain(struct rest *r, struct MHD_Connection *c)
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
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid", "explain needs recipient=, "
		    "type= and purpose= (legalBasis= optional)");
	x.recipient = (char *)rc_;
	x.message_type = (char *)t;
	x.purpose = (char *)p;
	x.legal_basis = b ? (char *)b : "";
	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_EXPLAIN;
	lr.explain = &x;
	if ((rep = ask(r, &lr)) == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_EXPLAIN) {
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
		rc = send_json(c, MHD_HTTP_OK, o);
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}

/* The case message types and their field paths (from the compiled-in schemas). */
static enum MHD_Result
get_schemas(struct MHD_Connection *c)
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
		return send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no message type \"%.64s\"", only);
	}
	return send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "types", a));
}

static enum MHD_Result
get_metrics(struct rest *r, struct MHD_Connection *c, bool health)
{
	Keten__Local__V1__MetricsQuery mq = KETEN__LOCAL__V1__METRICS_QUERY__INIT;
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *rep;
	enum MHD_Result rc;

	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_METRICS;
	lr.metrics = &mq;
	rep = ask(r, &lr);
	if (rep == NULL || rep->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_METRICS) {
		rc = health ? send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, json_pack("{s:s}", "status",
		    "the agent does not answer")) : send_agent_error(c, rep);
	} else if (health) {
		bool up = strstr(rep->metrics->text, "\nketen_agent_broker_connected 1\n") != NULL;
		rc = send_json(c, MHD_HTTP_OK, json_pack("{s:s,s:s}", "status", "ok", "broker",
		    up ? "connected" : "disconnected"));
	} else {
		rc = send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", strdup(rep->metrics->text));
	}
	if (rep)
		keten__local__v1__local_reply__free_unpacked(rep, NULL);
	return rc;
}

/* --- dispatch ------------------------------------------------------------ */

static bool
authorized(struct rest *r, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	uint8_t hash[32];

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	/* digests of equal length: neither the token nor its length leaks through timing */
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)h + 7, strlen(h + 7), NULL, 0);
	return sodium_memcmp(hash, r->token_hash, sizeof(hash)) == 0;
}

/* /v1/inbox/{id}[/ack] and /v1/messages/{id}: the id parsed, the rest in *tail. */
static bool
path_id(const char *url, const char *prefix, uint8_t id[static 16], char ids[static 37],
    const char **tail)
{
	size_t n = strlen(prefix);

	if (strncmp(url, prefix, n) != 0 || strlen(url + n) < 36)
		return false;
	memcpy(ids, url + n, 36);
	ids[36] = '\0';
	*tail = url + n + 36;
	return uuid_parse(id, ids) == 0;
}

static enum MHD_Result
method_not_allowed(struct MHD_Connection *c, const char *allow)
{
	struct MHD_Response *resp;
	char *s = strdup("{\"error\":{\"code\":\"method-not-allowed\",\"message\":\"see Allow\"}}\n");
	enum MHD_Result rc;

	if (s == NULL ||
	    (resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
route(struct rest *r, bool need_token, struct MHD_Connection *c, const char *url,
    const char *method, const struct req *q)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	uint8_t id[16];
	char ids[37];
	const char *tail;

	if (strcmp(url, "/healthz") == 0)
		return get ? get_metrics(r, c, true) : method_not_allowed(c, "GET");
	if (need_token && !authorized(r, c))
		return send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing or wrong bearer "
		    "token (Authorization: Bearer TOKEN, the agent's api_token file)");
	if (strcmp(url, "/metrics") == 0)
		return get ? get_metrics(r, c, false) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/messages") == 0)
		return post ? post_message(r, c, q) : method_not_allowed(c, "POST");
	if (strcmp(url, "/v1/inbox") == 0)
		return get ? get_inbox(r, c) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/policy/explain") == 0)
		return get ? get_explain(r, c) : method_not_allowed(c, "GET");
	if (strcmp(url, "/v1/schemas") == 0)
		return get ? get_schemas(c) : method_not_allowed(c, "GET");
	if (strncmp(url, "/v1/messages/", 13) == 0) {
		if (!path_id(url, "/v1/messages/", id, ids, &tail) || *tail != '\0')
			return send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "expected "
			    "/v1/messages/{message id (UUID)}");
		return get ? get_message(r, c, id, ids) : method_not_allowed(c, "GET");
	}
	if (strncmp(url, "/v1/inbox/", 10) == 0) {
		if (!path_id(url, "/v1/inbox/", id, ids, &tail) || (*tail && strcmp(tail, "/ack") != 0))
			return send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "expected "
			    "/v1/inbox/{message id (UUID)} or /v1/inbox/{id}/ack");
		if (*tail == '\0')
			return get ? inbox_one(r, c, id, false) : method_not_allowed(c, "GET");
		return post ? inbox_one(r, c, id, true) : method_not_allowed(c, "POST");
	}
	return send_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no route %.100s (see "
	    "schemas/openapi.yaml)", url);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct rest *r = l->r;
	struct req *q = *con_cls;

	(void)version;
	if (q == NULL) {	/* headers are in: set up the body */
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return MHD_NO;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!q->too_big && q->len + *upload_size > r->max_body)
			q->too_big = true;	/* keep reading (discarding) to answer 413 */
		if (!q->too_big) {
			if (q->len + *upload_size > q->cap) {
				size_t cap = q->cap ? q->cap : 4096;
				while (cap < q->len + *upload_size)
					cap *= 2;
				char *nb = realloc(q->body, cap);
				if (nb == NULL)
					return MHD_NO;
				q->body = nb;
				q->cap = cap;
			}
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", "request body larger "
		    "than %zu bytes (api_max_body_bytes)", r->max_body);
	return route(r, l->need_token, c, url, method, q);
}

static void
on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls, (void)c, (void)toe;
	if (q != NULL) {
		free(q->body);
		free(q);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("api: %s", line);
}

/* The token file: 0600, one line with at least 32 printable characters. */
int
rest_read_token(const char *path, uint8_t hash[static 32], char err[static KETEN_ERRLEN])
{
	char *buf = NULL;
	size_t len = 0, size;
	int rc;

	if ((rc = secret_file_read(path, 4096, &buf, &len, err)) != 0)
		return rc;
	size = len;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	bool ok = len >= 32 && len <= TOKEN_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = buf[i] > 0x20 && buf[i] < 0x7f;
	if (!ok) {
		secret_file_free(&buf, size);
		return keten_seterr(err, KETEN_EINVAL, "%s: the API token must be one line of 32 to %d "
		    "printable characters without spaces (e.g. head -c 32 /dev/urandom | base64)",
		    path, TOKEN_MAX);
	}
	crypto_generichash(hash, 32, (const uint8_t *)buf, len, NULL, 0);
	secret_file_free(&buf, size);
	return 0;
}

/* Start libmicrohttpd on listener l, bound to sa or to the listening socket fd. */
static int
listen_on(struct listener *l, const struct agent_config *cfg, const struct sockaddr *sa, int fd)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_POLL | MHD_USE_ERROR_LOG | (sa != NULL && sa->sa_family == AF_INET6 ?
	    MHD_USE_IPv6 : 0);

	if (sa != NULL)
		l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
		    MHD_OPTION_SOCK_ADDR, sa,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->api_max_connections,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->api_max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(WAIT_MAX_S + 30),
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, l->r,
		    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, l->r,
		    MHD_OPTION_END);
	else
		l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
		    MHD_OPTION_LISTEN_SOCKET, fd,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->api_max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(WAIT_MAX_S + 30),
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, l->r,
		    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, l->r,
		    MHD_OPTION_END);
	return l->mhd ? 0 : -1;
}

/* DATA_DIR/api.sock for local clients (the keten CLI): the 0700 data directory guards it. */
static int
unix_listener(struct rest *r, const struct agent_config *cfg, char err[static KETEN_ERRLEN])
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (asprintf(&r->sock_path, "%s/api.sock", cfg->data_dir) < 0) {
		r->sock_path = NULL;
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	if (strlen(r->sock_path) >= sizeof(sun.sun_path))
		return keten_seterr(err, KETEN_EINVAL, "%s: path too long for a Unix socket (at most "
		    "%zu bytes): use a shorter data_dir", r->sock_path, sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, r->sock_path);
	unlink(r->sock_path);	/* a stale socket: the data directory lock says we own it */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 || chmod(r->sock_path, 0600) == -1 ||
	    listen(fd, 64) == -1) {
		int e = errno;
		if (fd != -1)
			close(fd);
		return keten_seterr(err, KETEN_EIO, "%s: %s", r->sock_path, strerror(e));
	}
	if (listen_on(&r->local, cfg, NULL, fd) != 0) {
		close(fd);
		return keten_seterr(err, KETEN_EIO, "%s: cannot serve the API", r->sock_path);
	}
	return 0;
}

int
rest_start(const struct agent_config *cfg, void *zctx, const uint8_t token_hash[static 32],
    struct rest **out, char err[static KETEN_ERRLEN])
{
	struct rest *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	r->zctx = zctx;
	r->max_body = cfg->api_max_body_bytes;
	r->tcp = (struct listener){ r, NULL, true };
	r->local = (struct listener){ r, NULL, false };
	/* TCP first: api.sock appearing is the sign, for scripts, that the API is up */
	if (cfg->api_listen != NULL) {
		memcpy(r->token_hash, token_hash, sizeof(r->token_hash));
		if (listen_on(&r->tcp, cfg, (const struct sockaddr *)&cfg->api_addr, -1) != 0) {
			rc = keten_seterr(err, KETEN_EIO, "cannot listen for the API on %s (in use?)",
			    cfg->api_listen);
			goto fail;
		}
	}
	if ((rc = unix_listener(r, cfg, err)) != 0)
		goto fail;
	*out = r;
	return 0;
fail:
	rest_stop(&r);
	return rc;
}

void
rest_stop(struct rest **rp)
{
	struct rest *r;

	if (rp == NULL || (r = *rp) == NULL)
		return;
	if (r->tcp.mhd)
		MHD_stop_daemon(r->tcp.mhd);
	if (r->local.mhd)
		MHD_stop_daemon(r->local.mhd);
	if (r->sock_path) {
		unlink(r->sock_path);
		free(r->sock_path);
	}
	sodium_memzero(r->token_hash, sizeof(r->token_hash));
	free(r);
	*rp = NULL;
}
