/* The generic codec: JSON <-> protobuf, paths, filter, validation. */
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
#include "schemas/validate.h"

extern const ProtobufCMessageDescriptor *const codec_registry[];

/* One message position in a type's tree (the same descriptor can appear at
 * several positions, each with its own path ids). */
struct cnode {
	const ProtobufCMessageDescriptor *d;
	char **json;			/* per field: proto3 JSON (lowerCamelCase) name */
	int *leaf;			/* per field: path id, or -1 for message fields */
	struct cnode **child;		/* per field: node of a message field */
	/*
	 * Role partitions: a repeated message field whose element has an enum
	 * field named "role" gets one subtree per role value, with paths like
	 * "persons[suspect].given_name", so a policy can treat suspects and
	 * possible victims differently.  part[i] has nparts[i] nodes (one per
	 * enum value, in value order); child[i] is part[i][0].
	 */
	struct cnode ***part;
	size_t *nparts;
	int *role_field;		/* per field: index of "role" in the element */
	const struct vrule **rule;	/* per field */
	int country;			/* index of a sibling string field "country", or -1 */
	int first, last;		/* path ids beneath: [first, last) */
};

/* Companion paths (codec_pathset_close): if any path of [first, last) is in
 * a set, `companion` must be too. */
struct closure {
	int first, last, companion;
};

struct codec_type {
	const ProtobufCMessageDescriptor *d;
	struct cnode *root;
	size_t npaths;
	char *paths[CODEC_MAX_PATHS];
	struct closure *closures;
	size_t nclosures;
	uint16_t by_name[CODEC_MAX_PATHS];	/* path ids sorted by path, for lookups */
};

static struct codec_type *types;
static size_t ntypes;
static int init_rc;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ---- type tables ---- */

static char *
camel(const char *name)
{
	size_t n = strlen(name), o = 0;
	char *out = malloc(n + 1);
	bool up = false;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '_') {
			up = true;
			continue;
		}
		out[o++] = up && name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
		up = false;
	}
	out[o] = '\0';
	return out;
}

/* "PERSON_ROLE_POSSIBLE_VICTIM" -> "possible_victim": the value name without
 * the prefix all values of the enum share, in lower case. */
static const char *
role_name(const ProtobufCEnumDescriptor *ed, unsigned k, char buf[static 128])
{
	size_t pre = strlen(ed->values[0].name);

	for (unsigned i = 1; i < ed->n_values; i++) {
		size_t j = 0;
		while (j < pre && ed->values[i].name[j] == ed->values[0].name[j])
			j++;
		pre = j;
	}
	while (pre > 0 && ed->values[0].name[pre - 1] != '_')
		pre--;
	snprintf(buf, 128, "%s", ed->values[k].name + pre);
	for (char *c = buf; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	return buf;
}

/* The subtree an element of field i uses: its role's partition, if any. */
static const struct cnode *
elem_node(const struct cnode *n, unsigned i, const ProtobufCMessage *elem)
{
	if (n->part[i] == NULL)
		return n->child[i];
	const ProtobufCFieldDescriptor *rf = &n->child[i]->d->fields[n->role_field[i]];
	int v = *(const int *)((const char *)elem + rf->offset);
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(rf->descriptor, v);
	size_t k = ev ? (size_t)(ev - ((const ProtobufCEnumDescriptor *)rf->descriptor)->values) : 0;

	return k < n->nparts[i] ? n->part[i][k] : n->child[i];
}

static bool
add_closure(struct codec_type *t, int first, int last, int companion)
{
	struct closure *c = realloc(t->closures, (t->nclosures + 1) * sizeof(*c));

	if (c == NULL)
		return false;
	t->closures = c;
	t->closures[t->nclosures++] = (struct closure){ first, last, companion };
	return true;
}

static struct cnode *
build(struct codec_type *t, const ProtobufCMessageDescriptor *d, const char *prefix, int depth)
{
	struct cnode *n;

	if (depth > CODEC_MAX_DEPTH || (n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->d = d;
	n->country = -1;
	n->first = (int)t->npaths;
	n->json = calloc(d->n_fields, sizeof(*n->json));
	n->leaf = calloc(d->n_fields, sizeof(*n->leaf));
	n->child = calloc(d->n_fields, sizeof(*n->child));
	n->rule = calloc(d->n_fields, sizeof(*n->rule));
	n->part = calloc(d->n_fields, sizeof(*n->part));
	n->nparts = calloc(d->n_fields, sizeof(*n->nparts));
	n->role_field = calloc(d->n_fields, sizeof(*n->role_field));
	if (!n->json || !n->leaf || !n->child || !n->rule || !n->part || !n->nparts || !n->role_field)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char path[256];
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF || f->label == PROTOBUF_C_LABEL_REQUIRED ||
		    (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE))
			return NULL;	/* the codec handles proto3 singular and repeated fields */
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
		if ((n->json[i] = camel(f->name)) == NULL)
			return NULL;
		n->rule[i] = validate_rule(f->name);
		if (strcmp(f->name, "country") == 0 && f->type == PROTOBUF_C_TYPE_STRING)
			n->country = (int)i;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCMessageDescriptor *cd = f->descriptor;
			const ProtobufCFieldDescriptor *role =
			    protobuf_c_message_descriptor_get_field_by_name(cd, "role");
			n->leaf[i] = -1;
			n->role_field[i] = -1;
			if (f->label == PROTOBUF_C_LABEL_REPEATED && role != NULL &&
			    role->type == PROTOBUF_C_TYPE_ENUM && role->label == PROTOBUF_C_LABEL_NONE) {
				const ProtobufCEnumDescriptor *ed = role->descriptor;
				n->role_field[i] = (int)(role - cd->fields);
				n->nparts[i] = ed->n_values;
				if ((n->part[i] = calloc(ed->n_values, sizeof(struct cnode *))) == NULL)
					return NULL;
				for (unsigned k = 0; k < ed->n_values; k++) {
					char pp[300], rn[128];
					snprintf(pp, sizeof(pp), "%s[%s]", path, role_name(ed, k, rn));
					struct cnode *pn = build(t, cd, pp, depth + 1);
					if ((n->part[i][k] = pn) == NULL)
						return NULL;
					/* a person's role travels with any of its fields */
					if (!add_closure(t, pn->first, pn->last, pn->leaf[n->role_field[i]]))
						return NULL;
				}
				n->child[i] = n->part[i][0];
			} else if ((n->child[i] = build(t, cd, path, depth + 1)) == NULL) {
				return NULL;
			}
		} else {
			if (t->npaths == CODEC_MAX_PATHS || (t->paths[t->npaths] = strdup(path)) == NULL)
				return NULL;
			n->leaf[i] = (int)t->npaths++;
		}
	}
	n->last = (int)t->npaths;
	/* a foreign postcode or plate is only valid next to its country */
	if (n->country >= 0)
		for (unsigned i = 0; i < d->n_fields; i++)
			if ((strcmp(d->fields[i].name, "postcode") == 0 ||
			    strcmp(d->fields[i].name, "licence_plate") == 0) && n->leaf[i] >= 0 &&
			    !add_closure(t, n->leaf[i], n->leaf[i] + 1, n->leaf[n->country]))
				return NULL;
	return n;
}

static const struct codec_type *sorting;

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(sorting->paths[*(const uint16_t *)a], sorting->paths[*(const uint16_t *)b]);
}

static void
do_init(void)
{
	size_t n = 0;

	while (codec_registry[n] != NULL)
		n++;
	if ((types = calloc(n, sizeof(*types))) == NULL) {
		init_rc = KETEN_ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		types[i].d = codec_registry[i];
		if ((types[i].root = build(&types[i], types[i].d, "", 0)) == NULL) {
			init_rc = KETEN_EINVAL;
			return;
		}
		for (size_t k = 0; k < types[i].npaths; k++)
			types[i].by_name[k] = (uint16_t)k;
		sorting = &types[i];
		qsort(types[i].by_name, types[i].npaths, sizeof(uint16_t), path_cmp);
	}
	ntypes = n;
}

int
codec_init(void)
{
	pthread_once(&init_once, do_init);
	return init_rc;
}

size_t codec_type_count(void) { codec_init(); return ntypes; }
const struct codec_type *codec_type_at(size_t i) { codec_init(); return i < ntypes ? &types[i] : NULL; }
size_t codec_type_index(const struct codec_type *t) { return (size_t)(t - types); }
const ProtobufCMessageDescriptor *codec_type_descriptor(const struct codec_type *t) { return t->d; }
const char *codec_type_name(const struct codec_type *t) { return t->d->name; }
size_t codec_type_npaths(const struct codec_type *t) { return t->npaths; }
const char *codec_type_path(const struct codec_type *t, size_t i) { return i < t->npaths ? t->paths[i] : NULL; }

const struct codec_type *
codec_type_find(const char *name)
{
	codec_init();
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i].d->name, name) == 0 || strcmp(types[i].d->short_name, name) == 0)
			return &types[i];
	return NULL;
}

int
codec_type_path_index(const struct codec_type *t, const char *path)
{
	size_t lo = 0, hi = t->npaths;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(t->paths[t->by_name[mid]], path);
		if (c == 0)
			return t->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- field access ---- */

static void *
fptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (char *)m + f->offset;
}

static size_t *
fcount(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (size_t *)((char *)m + f->quantifier_offset);
}

size_t
codec_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* A singular leaf value differs from its proto3 default. */
static bool
value_set(ProtobufCType t, const void *p)
{
	switch (codec_elem_size(t)) {
	case 0: return false;
	default: break;
	}
	switch (t) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s != NULL && s[0] != '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len > 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p != 0 || signbit(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p != 0 || signbit(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p != NULL;
	default:
		if (codec_elem_size(t) == 4)
			return *(const uint32_t *)p != 0;
		return *(const uint64_t *)p != 0;
	}
}

static bool
field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *fcount(m, f) > 0;
	return value_set(f->type, fptr(m, f));
}

static void
free_value(ProtobufCType t, void *p)
{
	if (t == PROTOBUF_C_TYPE_STRING) {
		char *s = *(char **)p;
		if (s != NULL && s != protobuf_c_empty_string)
			free(s);
		*(char **)p = (char *)protobuf_c_empty_string;
	} else if (t == PROTOBUF_C_TYPE_BYTES) {
		free(((ProtobufCBinaryData *)p)->data);
		*(ProtobufCBinaryData *)p = (ProtobufCBinaryData){ 0, NULL };
	} else if (t == PROTOBUF_C_TYPE_MESSAGE) {
		if (*(ProtobufCMessage **)p != NULL)
			protobuf_c_message_free_unpacked(*(ProtobufCMessage **)p, NULL);
		*(ProtobufCMessage **)p = NULL;
	} else {
		memset(p, 0, codec_elem_size(t));
	}
}

static void
clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *n = fcount(m, f), es = codec_elem_size(f->type);
		char *arr = *(char **)fptr(m, f);
		for (size_t i = 0; i < *n; i++) {
			if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
			    f->type == PROTOBUF_C_TYPE_MESSAGE)
				free_value(f->type, arr + i * es);
		}
		free(arr);
		*(void **)fptr(m, f) = NULL;
		*n = 0;
	} else {
		free_value(f->type, fptr(m, f));
	}
}

static ProtobufCMessage *
msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);

	if (m != NULL)
		d->message_init(m);
	return m;
}

void
codec_free(ProtobufCMessage *m)
{
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

ProtobufCMessage *
codec_unpack(const struct codec_type *t, const uint8_t *data, size_t len)
{
	return protobuf_c_message_unpack(t->d, NULL, len, data);
}

/* ---- JSON paths in error messages ---- */

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

/* ---- JSON -> protobuf ---- */

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
		free_value(f->type, dst);
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
		free_value(f->type, dst);
		*(ProtobufCBinaryData *)dst = (ProtobufCBinaryData){ got, buf };
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		if (!json_is_object(v))
			break;
		ProtobufCMessage *sub = msg_new(f->descriptor);
		if (sub == NULL)
			return keten_seterr(err, KETEN_ENOMEM, "out of memory");
		free_value(f->type, dst);
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
			clear_field(m, f);
			if (cnt == 0) {
				jpath_pop(p, old);
				continue;
			}
			char *arr = calloc(cnt, es);
			if (arr == NULL)
				return keten_seterr(err, KETEN_ENOMEM, "out of memory");
			*(void **)fptr(m, f) = arr;
			size_t *count = fcount(m, f);
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
		} else if ((rc = set_value(n, (unsigned)fi, v, fptr(m, f), p, err)) != 0) {
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
	if ((m = msg_new(t->d)) == NULL) {
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

/* ---- protobuf -> JSON ---- */

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
		if (!field_present(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *fcount(m, f), es = codec_elem_size(f->type);
			const char *arr = *(char *const *)fptr(m, f);
			if ((v = json_array()) == NULL)
				goto fail;
			for (size_t k = 0; k < cnt; k++)
				if (json_array_append_new(v, to_json_value(n, i, arr + k * es)) != 0) {
					json_decref(v);
					goto fail;
				}
		} else if ((v = to_json_value(n, i, fptr(m, f))) == NULL) {
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

/* ---- validation ---- */

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
			const char *c = *(char *const *)fptr(m, &n->d->fields[n->country]);
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
		if (!field_present(m, f))
			continue;
		size_t old = jpath_key(p, n->json[i]);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *fcount(m, f), es = codec_elem_size(f->type);
			const char *arr = *(char *const *)fptr(m, f);
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
		} else if ((rc = validate_value(n, i, m, fptr(m, f), p, depth, err)) != 0) {
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

/* ---- paths and filter ---- */

static void
paths_walk(const struct cnode *n, const ProtobufCMessage *m, struct codec_pathset *out)
{
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &n->d->fields[i];
		if (n->child[i] == NULL) {
			if (field_present(m, f))
				codec_pathset_set(out, (size_t)n->leaf[i]);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *fcount(m, f);
			ProtobufCMessage *const *arr = *(ProtobufCMessage **const *)fptr(m, f);
			for (size_t k = 0; k < cnt; k++)
				if (arr[k] != NULL)
					paths_walk(elem_node(n, i, arr[k]), arr[k], out);
		} else {
			const ProtobufCMessage *sub = *(ProtobufCMessage *const *)fptr(m, f);
			if (sub != NULL)
				paths_walk(n->child[i], sub, out);
		}
	}
}

void
codec_paths(const struct codec_type *t, const ProtobufCMessage *m, struct codec_pathset *out)
{
	codec_pathset_clear(out);
	paths_walk(t->root, m, out);
}

/*
 * Filter m in place.  Returns whether m still holds anything; *changed is
 * set when something was cleared, so only messages this filter emptied are
 * removed (an empty message the sender sent stays as it was).
 */
static bool
filter_walk(const struct cnode *n, ProtobufCMessage *m, const struct codec_pathset *allowed,
    struct codec_pathset *removed, bool *changed)
{
	bool any = false;

	if (m->n_unknown_fields > 0) {	/* no path names them, so no policy allows them */
		for (unsigned i = 0; i < m->n_unknown_fields; i++)
			free(m->unknown_fields[i].data);
		free(m->unknown_fields);
		m->unknown_fields = NULL;
		m->n_unknown_fields = 0;
		*changed = true;
	}
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &n->d->fields[i];
		if (n->child[i] == NULL) {
			if (!field_present(m, f))
				continue;
			if (codec_pathset_has(allowed, (size_t)n->leaf[i])) {
				any = true;
			} else {
				clear_field(m, f);
				*changed = true;
				if (removed)
					codec_pathset_set(removed, (size_t)n->leaf[i]);
			}
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t *cnt = fcount(m, f), kept = 0;
			ProtobufCMessage **arr = *(ProtobufCMessage ***)fptr(m, f);
			for (size_t k = 0; k < *cnt; k++) {
				bool ch = false;
				if (arr[k] != NULL && !filter_walk(elem_node(n, i, arr[k]), arr[k], allowed, removed,
				    &ch) && ch) {
					codec_free(arr[k]);
					*changed = true;
				} else {
					arr[kept++] = arr[k];
				}
			}
			*cnt = kept;
			if (kept == 0) {
				free(arr);
				*(void **)fptr(m, f) = NULL;
			} else {
				any = true;
			}
		} else {
			ProtobufCMessage **sub = (ProtobufCMessage **)fptr(m, f);
			bool ch = false;
			if (*sub == NULL)
				continue;
			if (!filter_walk(n->child[i], *sub, allowed, removed, &ch) && ch) {
				codec_free(*sub);
				*sub = NULL;
				*changed = true;
			} else {
				any = true;
			}
		}
	}
	return any;
}

void
codec_pathset_close(const struct codec_type *t, struct codec_pathset *s)
{
	for (size_t i = 0; i < t->nclosures; i++) {
		const struct closure *c = &t->closures[i];
		for (int k = c->first; k < c->last; k++)
			if (codec_pathset_has(s, (size_t)k)) {
				codec_pathset_set(s, (size_t)c->companion);
				break;
			}
	}
}

void
codec_filter(const struct codec_type *t, ProtobufCMessage *m, const struct codec_pathset *allowed,
    struct codec_pathset *removed)
{
	struct codec_pathset a = *allowed;
	bool changed = false;

	codec_pathset_close(t, &a);
	if (removed)
		codec_pathset_clear(removed);
	filter_walk(t->root, m, &a, removed, &changed);
}

static void
add_range(struct codec_pathset *set, const struct cnode *n)
{
	for (int i = n->first; i < n->last; i++)
		codec_pathset_set(set, (size_t)i);
}

/*
 * Add what parts[k..] names beneath node n.  A part may carry a role
 * qualifier, "persons[suspect]"; without one a partitioned field fans out to
 * every role.  Returns 0, or KETEN_ENOTFOUND with the message in err.
 */
static int
add_parts(const struct cnode *n, char **parts, size_t nparts, size_t k, bool subtree,
    struct codec_pathset *set, const char *pattern, char err[static KETEN_ERRLEN])
{
	char name[128], *q;
	int fi = -1;

	if (k == nparts) {
		add_range(set, n);
		return 0;
	}
	snprintf(name, sizeof(name), "%s", parts[k]);
	if ((q = strchr(name, '[')) != NULL) {
		size_t ql = strlen(q);
		if (ql < 3 || q[ql - 1] != ']')
			return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (a role "
			    "qualifier is written [role])", pattern);
		q[ql - 1] = '\0';
		*q++ = '\0';
	}
	for (unsigned i = 0; i < n->d->n_fields && fi < 0; i++)
		if (strcmp(n->d->fields[i].name, name) == 0)
			fi = (int)i;
	if (fi < 0)
		return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (%s has no field %s)",
		    pattern, n->d->short_name, name);
	if (n->child[fi] == NULL) {
		if (k + 1 != nparts || subtree || q != NULL)
			return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (%s.%s is "
			    "not a message)", pattern, n->d->short_name, name);
		codec_pathset_set(set, (size_t)n->leaf[fi]);
		return 0;
	}
	if (q != NULL) {
		if (n->part[fi] == NULL)
			return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (%s.%s has "
			    "no roles)", pattern, n->d->short_name, name);
		for (size_t r = 0; r < n->nparts[fi]; r++) {
			const ProtobufCFieldDescriptor *rf = &n->child[fi]->d->fields[n->role_field[fi]];
			char rn[128];
			if (strcmp(role_name(rf->descriptor, (unsigned)r, rn), q) == 0)
				return add_parts(n->part[fi][r], parts, nparts, k + 1, subtree, set, pattern,
				    err);
		}
		return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (no role \"%s\")",
		    pattern, q);
	}
	if (n->part[fi] == NULL)
		return add_parts(n->child[fi], parts, nparts, k + 1, subtree, set, pattern, err);
	for (size_t r = 0; r < n->nparts[fi]; r++) {
		int rc = add_parts(n->part[fi][r], parts, nparts, k + 1, subtree, set, pattern, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
codec_pathset_add(const struct codec_type *t, struct codec_pathset *set, const char *pattern,
    char err[static KETEN_ERRLEN])
{
	char buf[256], *parts[CODEC_MAX_DEPTH + 1], *save = NULL;
	size_t len = strlen(pattern), n = 0;
	bool subtree = false;

	if (strcmp(pattern, "*") == 0) {
		add_range(set, t->root);
		return 0;
	}
	if (len == 0 || len >= sizeof(buf))
		return keten_seterr(err, KETEN_ENOTFOUND, "empty or overlong field path");
	memcpy(buf, pattern, len + 1);
	if (len > 2 && strcmp(buf + len - 2, ".*") == 0) {
		buf[len - 2] = '\0';
		subtree = true;
	}
	for (char *part = strtok_r(buf, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save)) {
		if (n == CODEC_MAX_DEPTH)
			return keten_seterr(err, KETEN_ENOTFOUND, "field path \"%s\" too deep", pattern);
		parts[n++] = part;
	}
	if (n == 0)
		return keten_seterr(err, KETEN_ENOTFOUND, "empty field path");
	/* validate against a scratch set first so a failing pattern adds nothing */
	struct codec_pathset tmp = { 0 };
	int rc = add_parts(t->root, parts, n, 0, subtree, &tmp, pattern, err);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		set->w[i] |= tmp.w[i];
	return 0;
}

bool
codec_pathset_subset(const struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		if (a->w[i] & ~b->w[i])
			return false;
	return true;
}

bool
codec_pathset_empty(const struct codec_pathset *s)
{
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		if (s->w[i])
			return false;
	return true;
}

size_t
codec_pathset_count(const struct codec_pathset *s)
{
	size_t n = 0;

	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		n += (size_t)__builtin_popcountll(s->w[i]);
	return n;
}
