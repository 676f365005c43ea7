/* The codec's type tables, built once from the protobuf-c descriptors, and generic field access. */
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

extern const ProtobufCMessageDescriptor *const codec_registry[];

static struct codec_type *types;
static size_t ntypes;
static int init_rc;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

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
const char *
codec_role_name(const ProtobufCEnumDescriptor *ed, unsigned k, char buf[static 128])
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
const struct cnode *
codec_elem_node(const struct cnode *n, unsigned i, const ProtobufCMessage *elem)
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
					snprintf(pp, sizeof(pp), "%s[%s]", path, codec_role_name(ed, k, rn));
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

void *
codec_fptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (char *)m + f->offset;
}

size_t *
codec_fcount(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
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

bool
codec_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *codec_fcount(m, f) > 0;
	return value_set(f->type, codec_fptr(m, f));
}

void
codec_free_value(ProtobufCType t, void *p)
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

void
codec_clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *n = codec_fcount(m, f), es = codec_elem_size(f->type);
		char *arr = *(char **)codec_fptr(m, f);
		for (size_t i = 0; i < *n; i++) {
			if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
			    f->type == PROTOBUF_C_TYPE_MESSAGE)
				codec_free_value(f->type, arr + i * es);
		}
		free(arr);
		*(void **)codec_fptr(m, f) = NULL;
		*n = 0;
	} else {
		codec_free_value(f->type, codec_fptr(m, f));
	}
}

ProtobufCMessage *
codec_msg_new(const ProtobufCMessageDescriptor *d)
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
