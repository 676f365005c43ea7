/* keten schema: the case message types for partner-system developers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "schemas/codec.h"
#include "schemas/validate.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten schema list\n"
	    "       keten schema show TYPE        fields, JSON names, types and formats\n"
	    "       keten schema paths TYPE       field paths, as policies name them\n"
	    "       keten schema validate TYPE FILE.json [--print]\n"
	    "       keten schema encode TYPE FILE.json > FILE.pb   binary protobuf form\n"
	    "  TYPE is a full or short name, e.g. keten.case.v1.CaseSignal or CaseSignal.\n"
	    "  validate prints \"OK\" (or, with --print, the canonical JSON) or the first\n"
	    "  error with its JSON path, and exits 0 or 1.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static const char *
type_name(const ProtobufCFieldDescriptor *f)
{
	static const char *const names[] = {
		"int32", "sint32", "sfixed32", "int64", "sint64", "sfixed64", "uint32", "fixed32",
		"uint64", "fixed64", "float", "double", "bool", "enum", "string", "bytes", "message",
	};
	if (f->type == PROTOBUF_C_TYPE_ENUM)
		return ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
	return (unsigned)f->type < sizeof(names) / sizeof(names[0]) ? names[f->type] : "?";
}

static const char *
format_name(const char *field, ProtobufCType t)
{
	static const char *const kinds[] = {
		[V_TEXT] = "text", [V_DATE] = "date YYYY-MM-DD", [V_PAST_DATE] = "date, not in the future",
		[V_KVK] = "KvK number, 8 digits", [V_POSTCODE] = "Dutch postcode 1234 AB",
		[V_COUNTRY] = "ISO 3166-1 alpha-2", [V_LANGUAGE] = "ISO 639-1",
		[V_PLATE] = "Dutch licence plate", [V_UUID] = "message id (UUID)",
		[V_PHONE] = "phone number", [V_BIRTH_YEAR] = "year 1900..now",
	};
	const struct vrule *r = validate_rule(field);
	static char buf[96];

	if (t != PROTOBUF_C_TYPE_STRING && r->kind != V_BIRTH_YEAR)
		return "";
	if (r->kind == V_TEXT) {
		snprintf(buf, sizeof(buf), "text, at most %zu bytes", r->max_len);
		return buf;
	}
	return kinds[r->kind];
}

static void
show(const ProtobufCMessageDescriptor *d, int indent, int depth)
{
	for (unsigned i = 0; i < d->n_fields && depth < CODEC_MAX_DEPTH; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char json[128], *o = json;
		bool up = false;
		for (const char *c = f->name; *c && o < json + sizeof(json) - 1; c++) {
			if (*c == '_') {
				up = true;
				continue;
			}
			*o++ = up && *c >= 'a' && *c <= 'z' ? (char)(*c - 32) : *c;
			up = false;
		}
		*o = '\0';
		printf("%*s%-22s %-22s %s%s  %s\n", indent, "", f->name, json,
		    f->label == PROTOBUF_C_LABEL_REPEATED ? "repeated " : "", type_name(f),
		    format_name(f->name, f->type));
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			show(f->descriptor, indent + 2, depth + 1);
		if (f->type == PROTOBUF_C_TYPE_ENUM) {
			const ProtobufCEnumDescriptor *ed = f->descriptor;
			printf("%*s  values:", indent, "");
			for (unsigned k = 0; k < ed->n_values; k++)
				printf(" %s", ed->values[k].name);
			printf("\n");
		}
	}
}

static const struct codec_type *
find(const char *name)
{
	const struct codec_type *t = codec_type_find(name);

	if (t == NULL)
		fprintf(stderr, "keten schema: unknown message type \"%s\" (see keten schema list)\n",
		    name);
	return t;
}

enum out_mode { OUT_OK, OUT_JSON, OUT_BINARY };

static int
validate(const struct codec_type *t, const char *file, enum out_mode mode)
{
	FILE *f = fopen(file, "rb");
	char *buf, err[KETEN_ERRLEN], *json;
	size_t len;
	ProtobufCMessage *m;

	if (f == NULL) {
		perror(file);
		return EXIT_FAIL;
	}
	if ((buf = malloc(CODEC_MAX_JSON_BYTES + 1)) == NULL) {
		fclose(f);
		return EXIT_FAIL;
	}
	len = fread(buf, 1, CODEC_MAX_JSON_BYTES + 1, f);
	fclose(f);
	if (codec_from_json(t, buf, len, &m, err) != 0) {
		printf("%s: %s\n", file, err);
		free(buf);
		return EXIT_FAIL;
	}
	free(buf);
	if (mode == OUT_JSON && codec_to_json(t, m, &json) == 0) {
		printf("%s\n", json);
		free(json);
	} else if (mode == OUT_BINARY) {
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t *pb = malloc(n ? n : 1);
		if (pb != NULL) {
			protobuf_c_message_pack(m, pb);
			fwrite(pb, 1, n, stdout);
			free(pb);
		}
	} else {
		printf("%s: OK (%s)\n", file, codec_type_name(t));
	}
	codec_free(m);
	return EXIT_OK;
}

int
cmd_schema(int argc, char **argv)
{
	const struct codec_type *t;

	if (codec_init() != 0) {
		fprintf(stderr, "keten schema: schema tables could not be built\n");
		return EXIT_FAIL;
	}
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage(stdout);
	if (cli_wants_help(argc, argv, 2))
		return cli_usage_verb("schema", usage, argv[1], "docs/schemas.md");
	if (strcmp(argv[1], "list") == 0 && argc == 2) {
		for (size_t i = 0; i < codec_type_count(); i++) {
			t = codec_type_at(i);
			printf("%-40s %zu field paths\n", codec_type_name(t), codec_type_npaths(t));
		}
		return EXIT_OK;
	}
	if (strcmp(argv[1], "show") == 0 && argc == 3) {
		if ((t = find(argv[2])) == NULL)
			return EXIT_FAIL;
		printf("%s\n%-22s %-22s %s\n", codec_type_name(t), "  field", "JSON name", "type");
		show(codec_type_descriptor(t), 2, 0);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "paths") == 0 && argc == 3) {
		if ((t = find(argv[2])) == NULL)
			return EXIT_FAIL;
		for (size_t i = 0; i < codec_type_npaths(t); i++)
			printf("%s\n", codec_type_path(t, i));
		return EXIT_OK;
	}
	if (strcmp(argv[1], "validate") == 0 && (argc == 4 || (argc == 5 &&
	    strcmp(argv[4], "--print") == 0))) {
		if ((t = find(argv[2])) == NULL)
			return EXIT_FAIL;
		return validate(t, argv[3], argc == 5 ? OUT_JSON : OUT_OK);
	}
	if (strcmp(argv[1], "encode") == 0 && argc == 4) {
		if ((t = find(argv[2])) == NULL)
			return EXIT_FAIL;
		return validate(t, argv[3], OUT_BINARY);
	}
	return usage(stderr);
}
