/* The codec's JSON mapping (proto3 JSON names, both ways) and the validation of field formats. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "schemas/codec.h"
#include "schemas/codec_int.h"
#include "schemas/validate.h"

struct jpath {
	char buf[512];
	size_t len;
};

static size_t
jpath_key(struct jpath *p, const char *key)
{
	size_t old = p->len;
	int w = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "." : "", key);

	if (w > 0 && (size_t)w < sizeof(p->buf) - p->len)
		p->len += (size_t)w;
	return old;
}

static size_t
jpath_index(struct jpath *p, size_t i)
{
	size_t old = p->len;
	int w = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", i);

	if (w > 0 && (size_t)w < sizeof(p->buf) - p->len)
		p->len += (size_t)w;
	return old;
}

static void
jpath_pop(struct jpath *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

static int
jerr(const struct jpath *p, char err[static KETEN_ERRLEN], const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
jerr(const struct jpath *p, char err[static KETEN_ERRLEN], const char *fmt, ...)
{
	va_list ap;
	int off = snprintf(err, KETEN_ERRLEN, "%s: ", p->len ? p->buf : "document");

	if (off < 0 || off >= KETEN_ERRLEN)
		return KETEN_EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + off, KETEN_ERRLEN - (size_t)off, fmt, ap);
	va_end(ap);
	return KETEN_EINVAL;
}

/* Short rendering of a JSON value for messages. */
static void
jshow(const json_t *v, char *out, size_t n)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t cut = s ? strlen(s) : 0;
	bool more = cut > 60;

	if (more) {
		cut = 60;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;	/* never split a UTF-8 character */
	}
	snprintf(out, n, "%.*s%s", (int)cut, s ? s : "?", more ? "..." : "");
	free(s);
}

static int from_json_msg(const struct cnode *n, const json_t *obj, ProtobufCMessage *m,
    struct jpath *p, char err[static KETEN_ERRLEN]);

static int
parse_int(const json_t *v, int64_t min, int64_t max, bool unsigned64, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < min || x > max)
			return -1;
		*out = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {	/* proto3 JSON allows integers as strings */
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		if (s[0] == '\0' || s[0] == ' ' || s[0] == '+')
			return -1;
		if (unsigned64) {
			if (s[0] == '-')
				return -1;
			*out = strtoull(s, &end, 10);
		} else {
			long long x = strtoll(s, &end, 10);
			if (x < min || x > max)
				return -1;
			*out = (uint64_t)x;
		}
		return errno != 0 || *end != '\0' ? -1 : 0;
	}
	return -1;
}

static int
set_value(const struct cnode *n, unsigned fi, const json_t *v, void *dst, struct jpath *p,
    char err[static KETEN_ERRLEN])
{
	const ProtobufCFieldDescriptor *f = &n->d->fields[fi];
	char shown[80];
	uint64_t u;

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			break;
		*(protobuf_c_boolean *)dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		if (parse_int(v, INT32_MIN, INT32_MAX, false, &u) != 0)
			break;
		*(int32_t *)dst = (int32_t)(int64_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		if (parse_int(v, 0, UINT32_MAX, false, &u) != 0)
			break;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		if (parse_int(v, INT64_MIN, INT64_MAX, false, &u) != 0)
			break;
		*(int64_t *)dst = (int64_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		if (parse_int(v, 0, INT64_MAX, true, &u) != 0)
			break;
		*(uint64_t *)dst = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
		double d;
		if (json_is_number(v))
			d = json_number_value(v);
		else if (json_is_string(v) && strcmp(json_string_value(v), "NaN") == 0)
			d = NAN;
		else if (json_is_string(v) && strcmp(json_string_value(v), "Infinity") == 0)
			d = INFINITY;
		else if (json_is_string(v) && strcmp(json_string_value(v), "-Infinity") == 0)
			d = -INFINITY;
		else
			break;
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)dst = (float)d;
		else
			*(double *)dst = d;
		return 0;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev = NULL;
		if (json_is_string(v))
			ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
		else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
		    json_integer_value(v) <= INT32_MAX)
			ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(v));
		if (ev == NULL) {
			jshow(v, shown, sizeof(shown));
			return jerr(p, err, "expected %s %s name such as \"%s\", got %s",
			    strchr("AEIOU", ed->short_name[0]) ? "an" : "a", ed->short_name,
			    ed->n_values > 1 ? ed->values[1].name : ed->values[0].name, shown);
		}
		*(int *)dst = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(v))
			break;
		size_t len = json_string_length(v);
		const char *s = json_string_value(v);
		if (strlen(s) != len)
			return jerr(p, err, "NUL character in a string");
		char *copy = malloc(len + 1);
		if (copy == NULL)
			return keten_seterr(err, KETEN_ENOMEM, "out of memory");
		memcpy(copy, s, len + 1);
		codec_free_value(f->type, dst);
		*(char **)dst = copy;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		if (!json_is_string(v))
			break;
		const char *s = json_string_value(v);
		size_t slen = json_string_length(v), got = 0;
		uint8_t *buf = malloc(slen ? slen : 1);
		static const int variants[] = {
			sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
			sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING,
		};
		int ok = -1;
		if (buf == NULL)
			return keten_seterr(err, KETEN_ENOMEM, "out of memory");
		for (size_t i = 0; i < 4 && ok != 0; i++) {
			const char *end;
			ok = sodium_base642bin(buf, slen ? slen : 1, s, slen, NULL, &got, &end,
			    variants[i]);
			if (ok == 0 && end != s + slen)
				ok = -1;
		}
		if (ok != 0) {
			free(buf);
			return jerr(p, err, "expected base64 data");
		}
		codec_free_value(f->type, dst);
		*(ProtobufCBinaryData *)dst = (ProtobufCBinaryData){ got, buf };
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		if (!json_is_object(v))
			break;
		ProtobufCMessage *sub = codec_msg_new(f->descriptor);
		if (sub == NULL)
			return keten_seterr(err, KETEN_ENOMEM, "out of memory");
		codec_free_value(f->type, dst);
		*(ProtobufCMessage **)dst = sub;
		return from_json_msg(n->child[fi], v, sub, p, err);
	}
	}
	jshow(v, shown, sizeof(shown));
	static const char *const want[] = {
		[PROTOBUF_C_TYPE_INT32] = "a 32-bit integer", [PROTOBUF_C_TYPE_SINT32] = "a 32-bit integer",
		[PROTOBUF_C_TYPE_SFIXED32] = "a 32-bit integer", [PROTOBUF_C_TYPE_INT64] = "a 64-bit integer",
		[PROTOBUF_C_TYPE_SINT64] = "a 64-bit integer", [PROTOBUF_C_TYPE_SFIXED64] = "a 64-bit integer",
		[PROTOBUF_C_TYPE_UINT32] = "an unsigned 32-bit integer",
		[PROTOBUF_C_TYPE_FIXED32] = "an unsigned 32-bit integer",
		[PROTOBUF_C_TYPE_UINT64] = "an unsigned 64-bit integer",
		[PROTOBUF_C_TYPE_FIXED64] = "an unsigned 64-bit integer",
		[PROTOBUF_C_TYPE_FLOAT] = "a number", [PROTOBUF_C_TYPE_DOUBLE] = "a number",
		[PROTOBUF_C_TYPE_BOOL] = "true or false", [PROTOBUF_C_TYPE_ENUM] = "an enum name",
		[PROTOBUF_C_TYPE_STRING] = "a string", [PROTOBUF_C_TYPE_BYTES] = "base64 data",
		[PROTOBUF_C_TYPE_MESSAGE] = "an object",
	};
	return jerr(p, err, "expected %s, got %s", want[f->type], shown);
}

static int
find_field(const struct cnode *n, const char *key)
{
	for (unsigned i = 0; i < n->d->n_fields; i++)
		if (strcmp(n->json[i], key) == 0 || strcmp(n->d->fields[i].name, key) == 0)
			return (int)i;
	return -1;
}

static int
from_json_msg(const struct cnode *n, const json_t *obj, ProtobufCMessage *m, struct jpath *p,
    char err[static KETEN_ERRLEN])
{
	const char *key;
	json_t *v;
	int rc;

	uint64_t seen[4] = { 0 };	/* fields set so far, to refuse a field given twice */

	json_object_foreach((json_t *)obj, key, v) {
		size_t old = jpath_key(p, key);
		int fi = find_field(n, key);
		if (fi < 0)
			return jerr(p, err, "unknown field \"%s\" in %s", key, n->d->short_name);
		const ProtobufCFieldDescriptor *f = &n->d->fields[fi];
		if (fi < 256) {
			if (seen[fi / 64] >> (fi % 64) & 1)
				return jerr(p, err, "field given twice (as \"%s\" and \"%s\")", f->name,
				    n->json[fi]);
			seen[fi / 64] |= 1ull << (fi % 64);
		}
		if (json_is_null(v)) {
			jpath_pop(p, old);
			continue;	/* null means the default value */
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (!json_is_array(v)) {
				char shown[80];
				jshow(v, shown, sizeof(shown));
				return jerr(p, err, "expected an array, got %s", shown);
			}
			size_t cnt = json_array_size(v), es = codec_elem_size(f->type);
			if (cnt > CODEC_MAX_REPEATED)
				return jerr(p, err, "more than %d elements", CODEC_MAX_REPEATED);
			codec_clear_field(m, f);
			if (cnt == 0) {
				jpath_pop(p, old);
				continue;
			}
			char *arr = calloc(cnt, es);
			if (arr == NULL)
				return keten_seterr(err, KETEN_ENOMEM, "out of memory");
			*(void **)codec_fptr(m, f) = arr;
			size_t *count = codec_fcount(m, f);
			for (size_t i = 0; i < cnt; i++) {
				size_t o2 = jpath_index(p, i);
				json_t *e = json_array_get(v, i);
				if (json_is_null(e))
					return jerr(p, err, "null is not allowed in an array");
				/* counted before filling so a failure frees it; the slot is
				 * NULL (calloc) until filled, which free_unpacked accepts */
				(*count)++;
				if ((rc = set_value(n, (unsigned)fi, e, arr + i * es, p, err)) != 0)
					return rc;
				jpath_pop(p, o2);
			}
		} else if ((rc = set_value(n, (unsigned)fi, v, codec_fptr(m, f), p, err)) != 0) {
			return rc;
		}
		jpath_pop(p, old);
	}
	return 0;
}

/* Nesting depth of a JSON text, counted on the raw bytes before parsing. */
static bool
json_too_deep(const char *s, size_t len, int limit)
{
	int depth = 0;
	bool str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = false;
		} else if (c == '"') {
			str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > limit)
				return true;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return false;
}

int
codec_from_json(const struct codec_type *t, const char *json, size_t len, ProtobufCMessage **out,
    char err[static KETEN_ERRLEN])
{
	json_error_t je;
	json_t *root;
	ProtobufCMessage *m;
	struct jpath p = { .len = 0 };
	int rc;

	if (len > CODEC_MAX_JSON_BYTES)
		return keten_seterr(err, KETEN_ETOOBIG, "document: %zu bytes, larger than the limit "
		    "of %u bytes", len, CODEC_MAX_JSON_BYTES);
	if (json_too_deep(json, len, CODEC_MAX_DEPTH))
		return keten_seterr(err, KETEN_EINVAL, "document: nested deeper than %d levels",
		    CODEC_MAX_DEPTH);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (root == NULL)
		return keten_seterr(err, KETEN_EINVAL, "document: invalid JSON at line %d column %d: "
		    "%s", je.line, je.column, je.text);
	if (!json_is_object(root)) {
		char shown[80];
		jshow(root, shown, sizeof(shown));
		json_decref(root);
		return keten_seterr(err, KETEN_EINVAL, "document: expected a JSON object for %s, "
		    "got %s", t->d->short_name, shown);
	}
	if ((m = codec_msg_new(t->d)) == NULL) {
		json_decref(root);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	rc = from_json_msg(t->root, root, m, &p, err);
	json_decref(root);
	if (rc == 0)
		rc = codec_validate(t, m, err);
	if (rc != 0) {
		codec_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static json_t *to_json_msg(const struct cnode *n, const ProtobufCMessage *m);

static json_t *
to_json_value(const struct cnode *n, unsigned fi, const void *p)
{
	const ProtobufCFieldDescriptor *f = &n->d->fields[fi];
	char num[32];

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(num, sizeof(num), "%lld", (long long)*(const int64_t *)p);
		return json_string(num);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		snprintf(num, sizeof(num), "%llu", (unsigned long long)*(const uint64_t *)p);
		return json_string(num);
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
		double d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
		if (isnan(d))
			return json_string("NaN");
		if (isinf(d))
			return json_string(d > 0 ? "Infinity" : "-Infinity");
		return json_real(d);
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return ev ? json_string(ev->name) : json_integer(*(const int *)p);
	}
	case PROTOBUF_C_TYPE_STRING:
		return json_stringn(*(char *const *)p, strlen(*(char *const *)p));
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		size_t n64 = sodium_base64_ENCODED_LEN(b->len, sodium_base64_VARIANT_ORIGINAL);
		char *s = malloc(n64);
		json_t *j;
		if (s == NULL)
			return NULL;
		sodium_bin2base64(s, n64, b->data, b->len, sodium_base64_VARIANT_ORIGINAL);
		j = json_string(s);
		free(s);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return to_json_msg(n->child[fi], *(ProtobufCMessage *const *)p);
	}
	return NULL;
}

static json_t *
to_json_msg(const struct cnode *n, const ProtobufCMessage *m)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &n->d->fields[i];
		json_t *v;
		if (!codec_field_present(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *codec_fcount(m, f), es = codec_elem_size(f->type);
			const char *arr = *(char *const *)codec_fptr(m, f);
			if ((v = json_array()) == NULL)
				goto fail;
			for (size_t k = 0; k < cnt; k++)
				if (json_array_append_new(v, to_json_value(n, i, arr + k * es)) != 0) {
					json_decref(v);
					goto fail;
				}
		} else if ((v = to_json_value(n, i, codec_fptr(m, f))) == NULL) {
			goto fail;
		}
		if (json_object_set_new(obj, n->json[i], v) != 0)
			goto fail;
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

int
codec_to_json(const struct codec_type *t, const ProtobufCMessage *m, char **out)
{
	json_t *j = to_json_msg(t->root, m);
	char *s;

	if (j == NULL)
		return KETEN_ENOMEM;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		return KETEN_ENOMEM;
	*out = s;
	return 0;
}

static int validate_msg(const struct cnode *n, const ProtobufCMessage *m, struct jpath *p,
    int depth, char err[static KETEN_ERRLEN]);

static int
validate_value(const struct cnode *n, unsigned fi, const ProtobufCMessage *m, const void *v,
    struct jpath *p, int depth, char err[static KETEN_ERRLEN])
{
	const ProtobufCFieldDescriptor *f = &n->d->fields[fi];
	char want[160];

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		size_t len = s ? strlen(s) : 0;
		bool foreign = false;
		if (s == NULL)
			return jerr(p, err, "missing string");
		if (!utf8_valid(s, len))
			return jerr(p, err, "invalid UTF-8");
		if (n->country >= 0) {
			const char *c = *(char *const *)codec_fptr(m, &n->d->fields[n->country]);
			foreign = c != NULL && c[0] != '\0' && strcmp(c, "NL") != 0;
		}
		if (validate_string(n->rule[fi], s, len, foreign, want, sizeof(want)) != 0)
			return jerr(p, err, "%s", want);
		return 0;
	}
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		if (validate_int(n->rule[fi], *(const int32_t *)v, want, sizeof(want)) != 0)
			return jerr(p, err, "%s", want);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v) == NULL)
			return jerr(p, err, "undefined %s value %d",
			    ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name, *(const int *)v);
		return 0;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
		return sub ? validate_msg(n->child[fi], sub, p, depth + 1, err) : 0;
	}
	default:
		return 0;
	}
}

static int
validate_msg(const struct cnode *n, const ProtobufCMessage *m, struct jpath *p, int depth,
    char err[static KETEN_ERRLEN])
{
	int rc;

	if (depth > CODEC_MAX_DEPTH)
		return jerr(p, err, "nested too deeply");
	if (m->n_unknown_fields > 0)	/* data no path names: a policy could not see it */
		return jerr(p, err, "unknown field number %u in %s", m->unknown_fields[0].tag,
		    n->d->short_name);
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &n->d->fields[i];
		if (!codec_field_present(m, f))
			continue;
		size_t old = jpath_key(p, n->json[i]);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *codec_fcount(m, f), es = codec_elem_size(f->type);
			const char *arr = *(char *const *)codec_fptr(m, f);
			if (cnt > CODEC_MAX_REPEATED)
				return jerr(p, err, "more than %d elements", CODEC_MAX_REPEATED);
			for (size_t k = 0; k < cnt; k++) {
				size_t o2 = jpath_index(p, k);
				if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
				    *(ProtobufCMessage *const *)(arr + k * es) == NULL)
					return jerr(p, err, "missing element");
				if ((rc = validate_value(n, i, m, arr + k * es, p, depth, err)) != 0)
					return rc;
				jpath_pop(p, o2);
			}
		} else if ((rc = validate_value(n, i, m, codec_fptr(m, f), p, depth, err)) != 0) {
			return rc;
		}
		jpath_pop(p, old);
	}
	return 0;
}

int
codec_validate(const struct codec_type *t, const ProtobufCMessage *m, char err[static KETEN_ERRLEN])
{
	struct jpath p = { .len = 0 };

	return validate_msg(t->root, m, &p, 0, err);
}
