/*
 * What the parts of the codec share (schemas/codec.h is the contract): the
 * type tables built from the protobuf-c descriptors (one node per message
 * of a type, with the range of field paths under each field) and the
 * generic field access the JSON mapping, the validation and the path
 * filter walk messages with.  Private to schemas/codec_*.c.
 */
#ifndef KETEN_SCHEMAS_CODEC_INT_H
#define KETEN_SCHEMAS_CODEC_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "schemas/codec.h"

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

const char *codec_role_name(const ProtobufCEnumDescriptor *ed, unsigned k, char buf[static 128]);
const struct cnode *codec_elem_node(const struct cnode *n, unsigned i, const ProtobufCMessage *elem);
void *codec_fptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
size_t *codec_fcount(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
bool codec_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
void codec_free_value(ProtobufCType t, void *p);
void codec_clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
ProtobufCMessage *codec_msg_new(const ProtobufCMessageDescriptor *d);

#endif
