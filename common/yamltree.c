/* YAML document -> tree with positions, over libyaml's event parser. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "common/util.h"
#include "common/log.h"
#include "common/yamltree.h"

struct ydoc {
	char *name;
	struct ynode *root;
	size_t nodes;
};

/*
 * libyaml's problem in plain words with the likely fix, for privacy officers
 * who write YAML by hand (libyaml's own words follow in parentheses).
 */
static const char *
yaml_plain_words(const char *problem, const char *context)
{
	static const struct { const char *problem, *context, *words; } known[] = {
		{ "mapping values are not allowed", NULL, "a ': ' where YAML does not expect "
		    "a new key: if it is part of a text, put the text in quotes (\"...\"); if it "
		    "is a key, indent it like the keys above it" },
		{ "found character that cannot start any token", NULL, "a character YAML does "
		    "not allow at the start of a value (a tab, '@', '`' or '%'): use spaces to "
		    "indent, or put the value in quotes" },
		{ "tab character", NULL, "a tab used for indentation: indent with spaces" },
		{ "did not find expected key", NULL, "this line is not indented like the keys "
		    "of its block: align it with the keys above it (spaces only)" },
		{ "did not find expected '-' indicator", NULL, "this line is not indented like "
		    "the list items above it: align its '-' with theirs" },
		{ "could not find expected ':'", NULL, "a key without ':', or a text that runs "
		    "on over lines: add the ':' or put the text in quotes" },
		{ "did not find expected ',' or ']'", NULL, "a list in [ ] that is not closed: "
		    "add the ']' (or a ',' between items)" },
		{ "did not find expected ',' or '}'", NULL, "a map in { } that is not closed: "
		    "add the '}' (or a ',' between entries)" },
		{ NULL, "quoted scalar", "a quoted text that is never closed: add the closing "
		    "quote" },
		{ "found unexpected end of stream", NULL, "the file ends in the middle of "
		    "something: a quote, '[' or '{' that is never closed" },
		{ "found undefined tag handle", NULL, "a '!' YAML reads as a tag: put the value "
		    "in quotes" },
		{ "control characters are not allowed", NULL, "the file holds a control "
		    "character: save it as plain UTF-8 text" },
		{ "invalid", NULL, "the file is not valid UTF-8 text here: save it as UTF-8" },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].problem != NULL && (problem == NULL ||
		    strstr(problem, known[i].problem) == NULL))
			continue;
		if (known[i].context != NULL && (context == NULL ||
		    strstr(context, known[i].context) == NULL) && (problem == NULL ||
		    strstr(problem, known[i].context) == NULL))
			continue;
		return known[i].words;
	}
	return "the file is not valid YAML here";
}

static void
node_free(struct ynode *n)
{
	if (n == NULL)
		return;
	if (n->str != NULL) {
		sodium_memzero(n->str, n->len);
		free(n->str);
	}
	size_t count = n->kind == YNODE_MAP ? 2 * n->n : n->n;
	for (size_t i = 0; i < count; i++)
		node_free(n->items[i]);
	free(n->items);
	free(n);
}

void
ydoc_free(struct ydoc **docp)
{
	if (docp == NULL || *docp == NULL)
		return;
	node_free((*docp)->root);
	free((*docp)->name);
	free(*docp);
	*docp = NULL;
}

const struct ynode *
ydoc_root(const struct ydoc *doc)
{
	return doc->root;
}

const char *
ydoc_name(const struct ydoc *doc)
{
	return doc->name;
}

int
ydoc_err(const struct ydoc *doc, const struct ynode *node, char err[static KETEN_ERRLEN],
    const char *fmt, ...)
{
	va_list ap;
	int off;

	if (node != NULL)
		off = snprintf(err, KETEN_ERRLEN, "%s:%u:%u: ", doc->name, node->line, node->col);
	else
		off = snprintf(err, KETEN_ERRLEN, "%s: ", doc->name);
	if (off < 0 || off >= KETEN_ERRLEN)
		return KETEN_EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + off, KETEN_ERRLEN - (size_t)off, fmt, ap);
	va_end(ap);
	return KETEN_EINVAL;
}

static int
add_child(struct ynode *parent, struct ynode *child)
{
	size_t have = parent->kind == YNODE_MAP ? parent->n * 2 : parent->n;
	/* a map collects key and value; n counts complete pairs.  Room doubles, so
	 * a long list costs O(n), not O(n^2) copies. */
	if (have + 2 <= parent->cap)
		return 0;
	size_t cap = parent->cap ? 2 * parent->cap : 8;
	struct ynode **items = realloc(parent->items, cap * sizeof(*items));

	if (items == NULL)
		return -1;
	parent->items = items;
	parent->cap = cap;
	return 0;
}

struct builder {
	struct ydoc *doc;
	struct ynode *stack[YDOC_MAX_DEPTH + 1];
	size_t depth;
	bool pending_key[YDOC_MAX_DEPTH + 1];	/* map waiting for a value */
};

/* Attach a finished node to the current container, or make it the root. */
static int
attach(struct builder *b, struct ynode *node, char err[static KETEN_ERRLEN])
{
	if (b->depth == 0) {
		b->doc->root = node;
		return 0;
	}
	struct ynode *p = b->stack[b->depth - 1];
	if (add_child(p, node) == -1) {
		node_free(node);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	if (p->kind == YNODE_SEQ) {
		p->items[p->n++] = node;
	} else if (!b->pending_key[b->depth - 1]) {
		if (node->kind != YNODE_SCALAR) {
			int rc = ydoc_err(b->doc, node, err, "a mapping key must be a plain scalar");
			node_free(node);
			return rc;
		}
		p->items[2 * p->n] = node;
		b->pending_key[b->depth - 1] = true;
	} else {
		p->items[2 * p->n + 1] = node;
		p->n++;
		b->pending_key[b->depth - 1] = false;
	}
	return 0;
}

static struct ynode *
node_new(struct builder *b, enum ynode_kind kind, const yaml_event_t *ev)
{
	struct ynode *n;

	if (++b->doc->nodes > YDOC_MAX_NODES || (n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	return n;
}

int
ydoc_parse(const char *name, const void *buf, size_t len, struct ydoc **out,
    char err[static KETEN_ERRLEN])
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b = { 0 };
	int rc = KETEN_EINVAL, docs = 0;
	bool done = false;

	if (len > YDOC_MAX_BYTES)
		return keten_seterr(err, KETEN_ETOOBIG, "%s: file larger than %u bytes", name,
		    YDOC_MAX_BYTES);
	if ((b.doc = calloc(1, sizeof(*b.doc))) == NULL || (b.doc->name = strdup(name)) == NULL) {
		free(b.doc);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	if (!yaml_parser_initialize(&parser)) {
		ydoc_free(&b.doc);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			size_t line = parser.problem_mark.line + 1, col = parser.problem_mark.column + 1;
			if (parser.error == YAML_READER_ERROR) {
				/* libyaml gives only a byte offset for encoding errors */
				const char *text = buf;
				line = col = 1;
				for (size_t i = 0; i < parser.problem_offset && i < len; i++) {
					if (text[i] == '\n') {
						line++;
						col = 1;
					} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
						col++;
					}
				}
			}
			snprintf(err, KETEN_ERRLEN, "%s:%zu:%zu: %s (YAML: %s%s%s)", name, line, col,
			    yaml_plain_words(parser.problem, parser.context),
			    parser.problem ? parser.problem : "syntax error",
			    parser.context ? " " : "", parser.context ? parser.context : "");
			goto fail;
		}
		struct ynode *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				snprintf(err, KETEN_ERRLEN, "%s:%zu:%zu: only one YAML document "
				    "per file is allowed", name, ev.start_mark.line + 1,
				    ev.start_mark.column + 1);
				yaml_event_delete(&ev);
				goto fail;
			}
			break;
		case YAML_ALIAS_EVENT:
			snprintf(err, KETEN_ERRLEN, "%s:%zu:%zu: YAML aliases are not allowed",
			    name, ev.start_mark.line + 1, ev.start_mark.column + 1);
			yaml_event_delete(&ev);
			goto fail;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT ?
			    ev.data.scalar.anchor : ev.type == YAML_SEQUENCE_START_EVENT ?
			    ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
			if (anchor != NULL) {
				snprintf(err, KETEN_ERRLEN, "%s:%zu:%zu: YAML anchors are not "
				    "allowed", name, ev.start_mark.line + 1, ev.start_mark.column + 1);
				yaml_event_delete(&ev);
				goto fail;
			}
			/* an explicit tag (!!binary, !!int, !custom) would be silently
			 * dropped: every value of a keten file is read as written */
			const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT ?
			    ev.data.scalar.tag : ev.type == YAML_SEQUENCE_START_EVENT ?
			    ev.data.sequence_start.tag : ev.data.mapping_start.tag;
			if (tag != NULL) {
				const char *t = (const char *)tag;
				bool core = strncmp(t, "tag:yaml.org,2002:", 18) == 0;
				char safe[LOG_SAFE_LEN(40)];
				snprintf(err, KETEN_ERRLEN, "%s:%zu:%zu: YAML tags are not allowed "
				    "(found %s%s): write the value without one", name,
				    ev.start_mark.line + 1, ev.start_mark.column + 1, core ? "!!" : "",
				    log_safe(core ? t + 18 : t, 40, safe, sizeof(safe)));
				yaml_event_delete(&ev);
				goto fail;
			}
			enum ynode_kind k = ev.type == YAML_SCALAR_EVENT ? YNODE_SCALAR :
			    ev.type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP;
			if ((n = node_new(&b, k, &ev)) == NULL) {
				snprintf(err, KETEN_ERRLEN, "%s: too many YAML nodes (limit %u)",
				    name, YDOC_MAX_NODES);
				yaml_event_delete(&ev);
				goto fail;
			}
			if (k == YNODE_SCALAR) {
				n->len = ev.data.scalar.length;
				n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
				if ((n->str = malloc(n->len + 1)) == NULL) {
					node_free(n);
					yaml_event_delete(&ev);
					keten_seterr(err, KETEN_ENOMEM, "out of memory");
					goto fail;
				}
				memcpy(n->str, ev.data.scalar.value, n->len);
				n->str[n->len] = '\0';
				if (strlen(n->str) != n->len) {
					int pos_line = (int)n->line, pos_col = (int)n->col;
					node_free(n);
					yaml_event_delete(&ev);
					snprintf(err, KETEN_ERRLEN, "%s:%d:%d: NUL byte in a scalar",
					    name, pos_line, pos_col);
					goto fail;
				}
				sodium_memzero(ev.data.scalar.value, ev.data.scalar.length);
				if ((rc = attach(&b, n, err)) != 0) {
					yaml_event_delete(&ev);
					goto fail;
				}
				rc = KETEN_EINVAL;
			} else {
				if (b.depth >= YDOC_MAX_DEPTH) {
					snprintf(err, KETEN_ERRLEN, "%s:%u:%u: nested deeper than %d "
					    "levels", name, n->line, n->col, YDOC_MAX_DEPTH);
					node_free(n);
					yaml_event_delete(&ev);
					goto fail;
				}
				b.pending_key[b.depth] = false;
				b.stack[b.depth++] = n;
			}
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: {
			struct ynode *c = b.stack[--b.depth];
			if ((rc = attach(&b, c, err)) != 0) {
				yaml_event_delete(&ev);
				goto fail;
			}
			rc = KETEN_EINVAL;
			break;
		}
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	*out = b.doc;
	return 0;
fail:
	while (b.depth > 0) {
		struct ynode *c = b.stack[--b.depth];
		if (c->kind == YNODE_MAP && b.pending_key[b.depth])
			node_free(c->items[2 * c->n]);	/* key still waiting for its value */
		node_free(c);
	}
	yaml_parser_delete(&parser);
	ydoc_free(&b.doc);
	return rc == 0 ? KETEN_EINVAL : rc;
}

int
ydoc_load(const char *path, struct ydoc **out, char err[static KETEN_ERRLEN])
{
	char *buf;
	size_t len;
	int rc;

	if ((rc = file_read(path, YDOC_MAX_BYTES, &buf, &len, err)) != 0)
		return rc;
	rc = ydoc_parse(path, buf, len, out, err);
	sodium_memzero(buf, len);	/* key files pass through here */
	free(buf);
	return rc;
}

const struct ynode *
ynode_get(const struct ynode *map, const char *key)
{
	if (map == NULL || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->str, key) == 0)
			return map->items[2 * i + 1];
	return NULL;
}

int
ydoc_expect_map(const struct ydoc *doc, const struct ynode *node, const char *what,
    char err[static KETEN_ERRLEN])
{
	if (node == NULL)
		return ydoc_err(doc, NULL, err, "empty file, expected a %s", what);
	if (node->kind != YNODE_MAP)
		return ydoc_err(doc, node, err, "expected a mapping (key: value) for the %s",
		    what);
	return 0;
}

int
ydoc_check_keys(const struct ydoc *doc, const struct ynode *map, const char *what,
    const char *const *allowed, char err[static KETEN_ERRLEN])
{
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i];
		bool ok = false;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, k->str) == 0;
		if (!ok) {
			char list[256] = "";
			size_t o = 0;
			for (const char *const *a = allowed; *a != NULL; a++) {
				int w = snprintf(list + o, sizeof(list) - o, "%s%s",
				    a == allowed ? "" : ", ", *a);
				if (w < 0 || (size_t)w >= sizeof(list) - o)
					break;
				o += (size_t)w;
			}
			return ydoc_err(doc, k, err, "unknown key \"%s\" in %s (expected one of: %s)",
			    k->str, what, list);
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(map->items[2 * j]->str, k->str) == 0)
				return ydoc_err(doc, k, err, "duplicate key \"%s\" in %s (first at "
				    "line %u)", k->str, what, map->items[2 * j]->line);
	}
	return 0;
}

static const struct ynode *
key_node(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->str, key) == 0)
			return map->items[2 * i];
	return NULL;
}

static int
get_scalar(const struct ydoc *doc, const struct ynode *map, const char *key, bool required,
    const struct ynode **out, char err[static KETEN_ERRLEN])
{
	const struct ynode *v = ynode_get(map, key);

	*out = NULL;
	if (v == NULL) {
		if (required)
			return ydoc_err(doc, map, err, "missing required key \"%s\"", key);
		return 0;
	}
	if (v->kind != YNODE_SCALAR)
		return ydoc_err(doc, v, err, "\"%s\" must be a single value, not a %s", key,
		    v->kind == YNODE_MAP ? "mapping" : "list");
	if (v->len == 0 && !v->quoted) {
		if (required)
			return ydoc_err(doc, key_node(map, key), err, "\"%s\" has no value", key);
		return 0;
	}
	*out = v;
	return 0;
}

int
ydoc_get_str(const struct ydoc *doc, const struct ynode *map, const char *key, bool required,
    const char **out, char err[static KETEN_ERRLEN])
{
	const struct ynode *v;
	int rc;

	if ((rc = get_scalar(doc, map, key, required, &v, err)) != 0)
		return rc;
	if (v != NULL)
		*out = v->str;
	return 0;
}

int
ydoc_get_u64(const struct ydoc *doc, const struct ynode *map, const char *key, bool required,
    uint64_t min, uint64_t max, uint64_t *out, char err[static KETEN_ERRLEN])
{
	const struct ynode *v;
	unsigned long long x;
	char *end;
	int rc;

	if ((rc = get_scalar(doc, map, key, required, &v, err)) != 0 || v == NULL)
		return rc;
	errno = 0;
	if (v->str[0] < '0' || v->str[0] > '9' ||
	    (x = strtoull(v->str, &end, 10), errno != 0 || *end != '\0'))
		return ydoc_err(doc, v, err, "\"%s\" must be a whole number, found \"%s\"", key,
		    v->str);
	if (x < min || x > max)
		return ydoc_err(doc, v, err, "\"%s\" must be between %llu and %llu, found %llu",
		    key, (unsigned long long)min, (unsigned long long)max, x);
	*out = x;
	return 0;
}

int
ydoc_get_bool(const struct ydoc *doc, const struct ynode *map, const char *key, bool required,
    bool *out, char err[static KETEN_ERRLEN])
{
	const struct ynode *v;
	int rc;

	if ((rc = get_scalar(doc, map, key, required, &v, err)) != 0 || v == NULL)
		return rc;
	if (strcmp(v->str, "true") == 0)
		*out = true;
	else if (strcmp(v->str, "false") == 0)
		*out = false;
	else
		return ydoc_err(doc, v, err, "\"%s\" must be true or false, found \"%s\"", key,
		    v->str);
	return 0;
}

static bool
leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
parse_utc_time(const char *s, int64_t *out_ms)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se, n = 0;

	if (strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
	    n != 20)
		return KETEN_EINVAL;
	for (int i = 0; i < 19; i++) {
		if (i == 4 || i == 7 || i == 10 || i == 13 || i == 16)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return KETEN_EINVAL;
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
		return KETEN_EINVAL;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return KETEN_EINVAL;
	int64_t days = 0;
	for (int yy = 1970; yy < y; yy++)
		days += leap(yy) ? 366 : 365;
	for (int m = 1; m < mo; m++)
		days += mdays[m - 1] + (m == 2 && leap(y));
	days += d - 1;
	*out_ms = ((days * 24 + h) * 60 + mi) * 60000LL + se * 1000LL;
	return 0;
}
