/* Ledger entries as JSON for auditors (see ledgerjson.h). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ledger/ledgerjson.h"
#include "common/util.h"
#include "schemas/case_types.pb-c.h"
#include "schemas/envelope.pb-c.h"

/* An enum value by its name, or its number when the name is unknown. */
static json_t *
enum_json(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	return ev != NULL ? json_string(ev->name) : json_integer(v);
}

/* The policy attributes of an ACCEPTED or WITHHELD entry. */
static json_t *
attributes_json(const Keten__Ledger__V1__Attributes *a)
{
	json_t *o = json_object(), *forms = json_array();

	for (size_t i = 0; i < a->n_exploitation_forms; i++)
		json_array_append_new(forms, enum_json(&keten__case__v1__exploitation_form__descriptor,
		    a->exploitation_forms[i]));
	json_object_set_new(o, "exploitationForms", forms);
	json_object_set_new(o, "minor", json_boolean(a->minor));
	if (a->region != NULL && a->region[0] != '\0')
		json_object_set_new(o, "region", json_string(a->region));
	json_object_set_new(o, "handling", enum_json(&keten__envelope__v1__handling_label__descriptor,
	    a->handling));
	return o;
}

json_t *
ledger_entry_json(const Keten__Ledger__V1__Entry *e)
{
	json_t *o = json_object(), *a;
	char hex[129], id[KETEN_UUIDSTRLEN];
	const ProtobufCEnumValue *kind = protobuf_c_enum_descriptor_get_value(
	    &keten__ledger__v1__kind__descriptor, e->kind);

	json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
	char when[KETEN_TIMESTRLEN];
	json_object_set_new(o, "timeMs", json_integer(e->time_ms));
	json_object_set_new(o, "time", json_string(time_iso(e->time_ms, when)));
	json_object_set_new(o, "kind", json_string(kind ? kind->name : "?"));
	json_object_set_new(o, "actor", json_string(e->actor));
	if (e->message_id.len == KETEN_UUIDBYTES) {
		uuid_format(id, e->message_id.data);
		json_object_set_new(o, "messageId", json_string(id));
	}
	if (e->case_pseudonym.len > 0 && e->case_pseudonym.len <= 64) {
		sodium_bin2hex(hex, sizeof(hex), e->case_pseudonym.data, e->case_pseudonym.len);
		json_object_set_new(o, "casePseudonym", json_string(hex));
	}
#define S(f, n) if (e->f && e->f[0]) json_object_set_new(o, n, json_string(e->f))
	S(sender, "sender");
	S(recipient, "recipient");
	S(message_type, "messageType");
	S(purpose, "purpose");
	S(legal_basis, "legalBasis");
	S(policy_version, "policyVersion");
	S(reason_code, "reasonCode");
	S(reason, "reason");
#undef S
	if (e->n_rule_ids) {
		a = json_array();
		for (size_t i = 0; i < e->n_rule_ids; i++)
			json_array_append_new(a, json_string(e->rule_ids[i]));
		json_object_set_new(o, "ruleIds", a);
	}
	if (e->n_field_paths) {
		a = json_array();
		for (size_t i = 0; i < e->n_field_paths; i++)
			json_array_append_new(a, json_string(e->field_paths[i]));
		json_object_set_new(o, "fieldPaths", a);
	}
	if (e->in_reply_to.len == KETEN_UUIDBYTES) {
		uuid_format(id, e->in_reply_to.data);
		json_object_set_new(o, "inReplyTo", json_string(id));
	}
	if (e->linked_case.len == 32) {
		sodium_bin2hex(hex, sizeof(hex), e->linked_case.data, 32);
		json_object_set_new(o, "linkedCase", json_string(hex));
	}
	if (e->ciphertext_hash.len == 32) {
		sodium_bin2hex(hex, sizeof(hex), e->ciphertext_hash.data, 32);
		json_object_set_new(o, "ciphertextHash", json_string(hex));
	}
	if (e->attributes != NULL)
		json_object_set_new(o, "attributes", attributes_json(e->attributes));
	return o;
}


/*
 * One entry as a Logboek Dataverwerkingen style record (field names after the
 * Logius standard's OpenTelemetry-based model; check them against the version
 * your organisation implements).  acc: the ACCEPTED entry of the same copy,
 * for a DELIVERED, EXPIRED or refused one (they name only the recipient and
 * the message): its data subject, purpose, rules and fields fill the record.
 */
json_t *
ledger_entry_logboek_json(const Keten__Ledger__V1__Entry *e, const Keten__Ledger__V1__Entry *acc)
{
	json_t *o = json_object(), *at = json_object(), *a;
	char trace[33] = "", span[17], when[KETEN_TIMESTRLEN], pseudo[65];
	const ProtobufCEnumValue *kind = protobuf_c_enum_descriptor_get_value(
	    &keten__ledger__v1__kind__descriptor, e->kind);
	const Keten__Ledger__V1__Entry *src = acc != NULL ? acc : e;	/* what the copy was */

	if (e->message_id.len == 16)
		sodium_bin2hex(trace, sizeof(trace), e->message_id.data, 16);
	snprintf(span, sizeof(span), "%016llx", (unsigned long long)e->seq);
	time_iso(e->time_ms, when);
	json_object_set_new(o, "trace_id", json_string(trace));
	json_object_set_new(o, "span_id", json_string(span));
	json_object_set_new(o, "name", json_string(kind ? kind->name + 5 : "?"));
	json_object_set_new(o, "start_time", json_string(when));
	json_object_set_new(o, "end_time", json_string(when));
	json_object_set_new(o, "status_code", json_string(
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_REJECTED ||
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED ? "ERROR" : "OK"));
	json_object_set_new(o, "resource", json_pack("{s:s}", "name", "keten-broker"));
	/* a reply's record links to the trace of the request it answers */
	if (src->in_reply_to.len == 16) {
		char parent[33];
		sodium_bin2hex(parent, sizeof(parent), src->in_reply_to.data, 16);
		json_object_set_new(o, "links", json_pack("[{s:s}]", "trace_id", parent));
	}
	if (src->purpose[0])
		json_object_set_new(at, "dpl.core.processing_activity_id", json_string(src->purpose));
	if (src->case_pseudonym.len == 32) {
		sodium_bin2hex(pseudo, sizeof(pseudo), src->case_pseudonym.data, 32);
		json_object_set_new(at, "dpl.core.data_subject_id", json_string(pseudo));
		json_object_set_new(at, "dpl.core.data_subject_id_type", json_string("keten-case-pseudonym"));
	}
	json_object_set_new(at, "dpl.core.user_id", json_string(e->actor));
	if (src->sender[0])
		json_object_set_new(at, "keten.sender", json_string(src->sender));
	if (e->recipient[0])
		json_object_set_new(at, "keten.recipient", json_string(e->recipient));
	if (src->message_type[0])
		json_object_set_new(at, "keten.message_type", json_string(src->message_type));
	if (src->legal_basis[0])
		json_object_set_new(at, "keten.legal_basis", json_string(src->legal_basis));
	if (src->n_rule_ids) {
		a = json_array();
		for (size_t i = 0; i < src->n_rule_ids; i++)
			json_array_append_new(a, json_string(src->rule_ids[i]));
		json_object_set_new(at, "keten.rule_ids", a);
	}
	if (src->n_field_paths) {
		a = json_array();
		for (size_t i = 0; i < src->n_field_paths; i++)
			json_array_append_new(a, json_string(src->field_paths[i]));
		json_object_set_new(at, "keten.field_paths", a);
	}
	if (e->reason_code[0])
		json_object_set_new(at, "keten.reason_code", json_string(e->reason_code));
	if (e->reason[0])
		json_object_set_new(at, "keten.reason", json_string(e->reason));
	json_object_set_new(o, "attributes", at);
	return o;
}
