/* Unit tests of common/yamltree.c: positions, refusals, limits, accessors. */
#include "tests/unit/testutil.h"

#include "common/yamltree.h"

/* Parse `text` as "t.yaml"; returns the result code, err holds the message. */
static int
parse(const char *text, struct ydoc **doc, char err[static KETEN_ERRLEN])
{
	*doc = NULL;
	err[0] = '\0';
	return ydoc_parse("t.yaml", text, strlen(text), doc, err);
}

/* Parse text that must be valid. */
static struct ydoc *
parse_ok(const char *text)
{
	struct ydoc *doc;
	char err[KETEN_ERRLEN];
	int rc = parse(text, &doc, err);

	if (rc != 0)
		fail_msg("unexpected parse error %d: %s", rc, err);
	return doc;
}

/* Parse text that must be refused with KETEN_EINVAL and a message starting `prefix`. */
static void
parse_fails(const char *text, const char *prefix, const char *what)
{
	struct ydoc *doc;
	char err[KETEN_ERRLEN];

	assert_int_equal(parse(text, &doc, err), KETEN_EINVAL);
	assert_null(doc);
	assert_prefix(err, prefix);
	assert_contains(err, what);
}

static void
assert_pos(const struct ynode *n, enum ynode_kind kind, unsigned line, unsigned col)
{
	assert_non_null(n);
	assert_int_equal(n->kind, kind);
	assert_int_equal(n->line, line);
	assert_int_equal(n->col, col);
}

static void
assert_scalar(const struct ynode *n, const char *str, unsigned line, unsigned col)
{
	assert_pos(n, YNODE_SCALAR, line, col);
	assert_string_equal(n->str, str);
	assert_int_equal(n->len, strlen(str));
}

static void
test_nested_positions(void **state)
{
	static const char text[] =
	    "top:\n"			/* 1 */
	    "  name: keten\n"		/* 2 */
	    "  list:\n"			/* 3 */
	    "    - one\n"		/* 4 */
	    "    - key: v\n"		/* 5 */
	    "      other: [a, b]\n"	/* 6 */
	    "  empty: \"\"\n"		/* 7 */
	    "flow: {x: 1}\n";		/* 8 */
	struct ydoc *doc = parse_ok(text);
	const struct ynode *root = ydoc_root(doc), *top, *list, *item, *other, *flow;

	assert_string_equal(ydoc_name(doc), "t.yaml");
	assert_pos(root, YNODE_MAP, 1, 1);
	assert_int_equal(root->n, 2);
	assert_scalar(root->items[0], "top", 1, 1);
	assert_scalar(root->items[2], "flow", 8, 1);

	top = ynode_get(root, "top");
	assert_pos(top, YNODE_MAP, 2, 3);
	assert_int_equal(top->n, 3);
	assert_scalar(ynode_get(top, "name"), "keten", 2, 9);
	assert_false(ynode_get(top, "name")->quoted);

	list = ynode_get(top, "list");
	assert_pos(list, YNODE_SEQ, 4, 5);
	assert_int_equal(list->n, 2);
	assert_scalar(list->items[0], "one", 4, 7);
	item = list->items[1];
	assert_pos(item, YNODE_MAP, 5, 7);
	assert_int_equal(item->n, 2);
	assert_scalar(ynode_get(item, "key"), "v", 5, 12);
	other = ynode_get(item, "other");
	assert_pos(other, YNODE_SEQ, 6, 14);
	assert_int_equal(other->n, 2);
	assert_scalar(other->items[0], "a", 6, 15);
	assert_scalar(other->items[1], "b", 6, 18);

	assert_scalar(ynode_get(top, "empty"), "", 7, 10);
	assert_true(ynode_get(top, "empty")->quoted);

	flow = ynode_get(root, "flow");
	assert_pos(flow, YNODE_MAP, 8, 7);
	assert_scalar(flow->items[0], "x", 8, 8);
	assert_scalar(ynode_get(flow, "x"), "1", 8, 11);

	/* lookups that find nothing */
	assert_null(ynode_get(root, "name"));
	assert_null(ynode_get(list, "one"));	/* not a map */
	assert_null(ynode_get(NULL, "top"));
	ydoc_free(&doc);
	assert_null(doc);
	ydoc_free(&doc);	/* freeing twice through the pointer is harmless */
}

static void
test_empty_document(void **state)
{
	static const char *const texts[] = { "", "# only a comment\n\n" };
	char err[KETEN_ERRLEN];
	struct ydoc *doc;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		doc = parse_ok(texts[i]);
		assert_null(ydoc_root(doc));
		assert_int_equal(ydoc_expect_map(doc, ydoc_root(doc), "thing", err), KETEN_EINVAL);
		assert_string_equal(err, "t.yaml: empty file, expected a thing");
		ydoc_free(&doc);
	}
	/* "---" alone is a document holding one empty (null) scalar */
	doc = parse_ok("---\n");
	assert_scalar(ydoc_root(doc), "", 2, 1);
	assert_int_equal(ydoc_expect_map(doc, ydoc_root(doc), "thing", err), KETEN_EINVAL);
	assert_prefix(err, "t.yaml:2:1: expected a mapping");
	ydoc_free(&doc);
}

static void
test_expect_map(void **state)
{
	struct ydoc *doc = parse_ok("\n- a\n- b\n");
	char err[KETEN_ERRLEN];

	assert_int_equal(ydoc_expect_map(doc, ydoc_root(doc), "thing", err), KETEN_EINVAL);
	assert_prefix(err, "t.yaml:2:1: ");
	assert_contains(err, "expected a mapping");
	ydoc_free(&doc);

	doc = parse_ok("a: 1\n");
	assert_int_equal(ydoc_expect_map(doc, ydoc_root(doc), "thing", err), 0);
	ydoc_free(&doc);
}

static void
test_syntax_errors(void **state)
{
	parse_fails("a: 1\nb: 2\n  c: 3\n", "t.yaml:3:4: ", "mapping values are not allowed");
	parse_fails("a: 1\nb: [1, 2\nc: 3\n", "t.yaml:3:2: ", "while parsing a flow sequence");
	parse_fails("a: 1\nb: {x: 1\n", "t.yaml:3:1: ", "while parsing a flow mapping");
	parse_fails("a: 1\nb: 'open\n", "t.yaml:3:1: ", "quoted scalar");
	parse_fails("a: 1\n\tb: 2\n", "t.yaml:2:1: ", "tab character");
	/* in plain words with the likely fix first, libyaml's after */
	parse_fails("description: Rules: for everyone\n", "t.yaml:1:19: ",
	    "a ': ' where YAML does not expect a new key: if it is part of a text, put the text in quotes");
	parse_fails("a: 1\nb: [1, 2\nc: 3\n", "t.yaml:3:2: ", "a list in [ ] that is not closed");
	parse_fails("a: 1\nb: 'open\n", "t.yaml:3:1: ", "a quoted text that is never closed");
	parse_fails("a: 1\n\tb: 2\n", "t.yaml:2:1: ", "indent with spaces");
	parse_fails("a:\n  - x\n - y\n", "t.yaml:", "(YAML: ");
	parse_fails("- a\nb: 1\n", "t.yaml:2:1: ", "block collection");
	/* a mapping key that is itself a collection */
	parse_fails("? [a]\n: 1\n", "t.yaml:1:3: ", "mapping key must be a plain scalar");
	/* "\0" escapes to a NUL byte, which would truncate the C string */
	parse_fails("a: 1\nb: \"x\\0y\"\n", "t.yaml:2:4: ", "NUL byte");
}

/*
 * Regression: libyaml reports encoding errors (invalid UTF-8, control
 * characters) by byte offset only; the position must still be line:col.
 */
static void
test_encoding_error_position(void **state)
{
	parse_fails("a: 1\nb: 2\nc: \xff\n", "t.yaml:3:4: ", "UTF-8");
	parse_fails("a: 1\nb: 2\nc: \"x\x01\"\n", "t.yaml:3:6: ", "control characters");
}

static void
test_load_names_file(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN];
	struct ydoc *doc = NULL;
	char *path, *prefix, *missing;

	tu_tmpdir(dir);
	path = tu_write(dir, "bad.yaml", "ok: 1\nlist: [1, 2\n", 0644);
	assert_int_equal(ydoc_load(path, &doc, err), KETEN_EINVAL);
	assert_null(doc);
	prefix = tu_printf("%s:3:1: ", path);
	assert_prefix(err, prefix);
	free(prefix);
	free(path);

	path = tu_write(dir, "good.yaml", "a: [1, 2]\n", 0644);
	assert_int_equal(ydoc_load(path, &doc, err), 0);
	assert_string_equal(ydoc_name(doc), path);
	assert_int_equal(ynode_get(ydoc_root(doc), "a")->n, 2);
	ydoc_free(&doc);
	free(path);

	missing = tu_printf("%s/missing.yaml", dir);
	assert_int_equal(ydoc_load(missing, &doc, err), KETEN_ENOTFOUND);
	assert_contains(err, missing);
	free(missing);

	assert_int_equal(ydoc_load(dir, &doc, err), KETEN_EIO);
	assert_contains(err, "not a regular file");
	tu_rmtree(dir);
}

/* An explicit tag was silently dropped: "!!binary aGVsbG8=" read as the text. */
static void
test_tags_refused(void **state)
{
	(void)state;
	parse_fails("version: !!binary aGVsbG8=\n", "t.yaml:1:10: ", "tags are not allowed (found !!binary)");
	parse_fails("a: !!str 5\n", "t.yaml:1:4: ", "(found !!str)");
	parse_fails("a: !custom\n  k: v\n", "t.yaml:1:4: ", "(found !custom)");
	parse_fails("a: !!seq [1]\n", "t.yaml:1:4: ", "(found !!seq)");
}

static void
test_aliases_and_anchors_refused(void **state)
{
	parse_fails("a: 1\nb: *x\n", "t.yaml:2:4: ", "aliases are not allowed");
	parse_fails("a: &x 1\nb: *x\n", "t.yaml:1:4: ", "anchors are not allowed");
	/* anchors on a mapping, a sequence, and deep inside pending keys */
	parse_fails("a: &m\n  k: v\n", "t.yaml:1:4: ", "anchors are not allowed");
	parse_fails("a: 1\nb: &s [1, 2]\n", "t.yaml:2:4: ", "anchors are not allowed");
	parse_fails("a:\n  b:\n    c: &x 1\n", "t.yaml:3:8: ", "anchors are not allowed");
	/* merge keys need an alias, so they are refused as well */
	parse_fails("base: {a: 1}\nc:\n  <<: *base\n", "t.yaml:3:7: ", "aliases");
}

static void
test_one_document_only(void **state)
{
	struct ydoc *doc;

	parse_fails("a: 1\n---\nb: 2\n", "t.yaml:2:1: ", "only one YAML document");
	parse_fails("--- 1\n--- 2\n", "t.yaml:2:1: ", "only one YAML document");
	/* explicit start and end markers around one document are fine */
	doc = parse_ok("---\na: 1\n...\n");
	assert_string_equal(ynode_get(ydoc_root(doc), "a")->str, "1");
	ydoc_free(&doc);
}

/* n nested flow sequences "[[[...]]]" */
static char *
nested_seqs(int n)
{
	char *s = malloc((size_t)n * 2 + 1);

	assert_non_null(s);
	memset(s, '[', (size_t)n);
	memset(s + n, ']', (size_t)n);
	s[2 * n] = '\0';
	return s;
}

static void
test_depth_limit(void **state)
{
	char *text = nested_seqs(YDOC_MAX_DEPTH), *msg;
	struct ydoc *doc = parse_ok(text);
	const struct ynode *n = ydoc_root(doc);
	int depth = 0;

	for (; n != NULL && n->kind == YNODE_SEQ; depth++)
		n = n->n ? n->items[0] : NULL;
	assert_int_equal(depth, YDOC_MAX_DEPTH);
	ydoc_free(&doc);
	free(text);

	text = nested_seqs(YDOC_MAX_DEPTH + 1);
	msg = tu_printf("nested deeper than %d levels", YDOC_MAX_DEPTH);
	parse_fails(text, "t.yaml:1:33: ", msg);
	free(text);

	/* the same limit for block mappings: k: on each line, two more spaces */
	size_t cap = (YDOC_MAX_DEPTH + 2) * (2 * YDOC_MAX_DEPTH + 8), o = 0;
	text = malloc(cap);
	assert_non_null(text);
	for (int i = 0; i < YDOC_MAX_DEPTH; i++)
		o += (size_t)snprintf(text + o, cap - o, "%*sk:\n", 2 * i, "");
	snprintf(text + o, cap - o, "%*sk: v\n", 2 * YDOC_MAX_DEPTH, "");
	/* 33 mappings: the 33rd starts at line 33, column 65 */
	parse_fails(text, "t.yaml:33:65: ", msg);
	free(text);
	free(msg);

	/* a huge but flat list hits the node limit instead */
	size_t items = YDOC_MAX_NODES;
	text = malloc(items * 2 + 2);
	assert_non_null(text);
	text[0] = '[';
	for (size_t i = 0; i < items; i++) {
		text[1 + 2 * i] = '0';
		text[2 + 2 * i] = ',';
	}
	text[items * 2] = ']';
	text[items * 2 + 1] = '\0';
	parse_fails(text, "t.yaml: ", "too many YAML nodes");
	free(text);
}

static void
test_size_limit(void **state)
{
	size_t len = YDOC_MAX_BYTES + 1;
	char *buf = malloc(len), err[KETEN_ERRLEN];
	struct ydoc *doc = NULL;

	assert_non_null(buf);
	memset(buf, '#', len);
	assert_int_equal(ydoc_parse("big.yaml", buf, len, &doc, err), KETEN_ETOOBIG);
	assert_null(doc);
	assert_prefix(err, "big.yaml: ");
	free(buf);
}

static const char *const allowed[] = { "alpha", "beta", NULL };

static void
test_check_keys(void **state)
{
	char err[KETEN_ERRLEN];
	struct ydoc *doc = parse_ok("alpha: 1\nbeta: 2\n");

	assert_int_equal(ydoc_check_keys(doc, ydoc_root(doc), "thing", allowed, err), 0);
	ydoc_free(&doc);

	doc = parse_ok("alpha: 1\nbeta: 2\n  # comment\ngamma: 3\n");
	assert_int_equal(ydoc_check_keys(doc, ydoc_root(doc), "thing", allowed, err),
	    KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:4:1: unknown key \"gamma\" in thing "
	    "(expected one of: alpha, beta)");
	ydoc_free(&doc);

	doc = parse_ok("alpha: 1\nbeta: 2\nalpha: 3\n");
	assert_int_equal(ydoc_check_keys(doc, ydoc_root(doc), "thing", allowed, err),
	    KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:3:1: duplicate key \"alpha\" in thing (first at line 1)");
	ydoc_free(&doc);

	/* nested map: the position is that of the inner key */
	doc = parse_ok("outer:\n  beta: 1\n  beta: 2\n");
	assert_int_equal(ydoc_check_keys(doc, ynode_get(ydoc_root(doc), "outer"), "inner",
	    allowed, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:3:3: duplicate key \"beta\" in inner (first at line 2)");
	ydoc_free(&doc);
}

static const char numbers[] =
    "n: 42\n"				/* 1 */
    "max: 18446744073709551615\n"	/* 2 */
    "over: 18446744073709551616\n"	/* 3 */
    "neg: -1\n"				/* 4 */
    "hex: 0x10\n"			/* 5 */
    "frac: 1.5\n"			/* 6 */
    "plus: +5\n"			/* 7 */
    "space: \" 5\"\n"			/* 8 */
    "word: ten\n"			/* 9 */
    "empty:\n"				/* 10 */
    "list: [1]\n"			/* 11 */
    "low: 5\n";				/* 12 */

static void
test_get_u64(void **state)
{
	struct ydoc *doc = parse_ok(numbers);
	const struct ynode *root = ydoc_root(doc);
	char err[KETEN_ERRLEN];
	uint64_t v = 7;

	assert_int_equal(ydoc_get_u64(doc, root, "n", true, 0, 100, &v, err), 0);
	assert_int_equal(v, 42);
	assert_int_equal(ydoc_get_u64(doc, root, "n", true, 42, 42, &v, err), 0);
	assert_int_equal(ydoc_get_u64(doc, root, "max", true, 0, UINT64_MAX, &v, err), 0);
	assert_true(v == UINT64_MAX);

	static const struct { const char *key; const char *prefix; } garbage[] = {
		{ "over", "t.yaml:3:7: " }, { "neg", "t.yaml:4:6: " },
		{ "hex", "t.yaml:5:6: " }, { "frac", "t.yaml:6:7: " },
		{ "plus", "t.yaml:7:7: " }, { "space", "t.yaml:8:8: " },
		{ "word", "t.yaml:9:7: " },
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		v = 7;
		err[0] = '\0';
		assert_int_equal(ydoc_get_u64(doc, root, garbage[i].key, true, 0, UINT64_MAX, &v,
		    err), KETEN_EINVAL);
		assert_prefix(err, garbage[i].prefix);
		assert_contains(err, "must be a whole number");
		assert_int_equal(v, 7);
	}

	assert_int_equal(ydoc_get_u64(doc, root, "low", true, 10, 100, &v, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:12:6: \"low\" must be between 10 and 100, found 5");
	assert_int_equal(ydoc_get_u64(doc, root, "n", true, 0, 41, &v, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:1:4: \"n\" must be between 0 and 41, found 42");
	assert_int_equal(v, 7);

	/* missing: an error only when required; the error points at the map */
	assert_int_equal(ydoc_get_u64(doc, root, "nope", true, 0, 9, &v, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:1:1: missing required key \"nope\"");
	assert_int_equal(ydoc_get_u64(doc, root, "nope", false, 0, 9, &v, err), 0);
	assert_int_equal(v, 7);

	/* present without a value: the error points at the key */
	assert_int_equal(ydoc_get_u64(doc, root, "empty", true, 0, 9, &v, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:10:1: \"empty\" has no value");
	assert_int_equal(ydoc_get_u64(doc, root, "empty", false, 0, 9, &v, err), 0);
	assert_int_equal(v, 7);

	assert_int_equal(ydoc_get_u64(doc, root, "list", false, 0, 9, &v, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:11:7: \"list\" must be a single value, not a list");
	ydoc_free(&doc);
}

static void
test_get_bool(void **state)
{
	struct ydoc *doc = parse_ok("t: true\nf: false\nyes: yes\nT: True\none: 1\nm: {a: 1}\n");
	const struct ynode *root = ydoc_root(doc);
	char err[KETEN_ERRLEN];
	bool b = false;

	assert_int_equal(ydoc_get_bool(doc, root, "t", true, &b, err), 0);
	assert_true(b);
	assert_int_equal(ydoc_get_bool(doc, root, "f", true, &b, err), 0);
	assert_false(b);

	b = true;
	assert_int_equal(ydoc_get_bool(doc, root, "yes", true, &b, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:3:6: \"yes\" must be true or false, found \"yes\"");
	assert_int_equal(ydoc_get_bool(doc, root, "T", true, &b, err), KETEN_EINVAL);
	assert_prefix(err, "t.yaml:4:4: ");
	assert_int_equal(ydoc_get_bool(doc, root, "one", true, &b, err), KETEN_EINVAL);
	assert_prefix(err, "t.yaml:5:6: ");
	assert_int_equal(ydoc_get_bool(doc, root, "m", true, &b, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:6:4: \"m\" must be a single value, not a mapping");
	assert_true(b);

	assert_int_equal(ydoc_get_bool(doc, root, "absent", false, &b, err), 0);
	assert_true(b);
	assert_int_equal(ydoc_get_bool(doc, root, "absent", true, &b, err), KETEN_EINVAL);
	assert_contains(err, "missing required key \"absent\"");
	ydoc_free(&doc);
}

static void
test_get_str(void **state)
{
	struct ydoc *doc = parse_ok("s: hello world\nq: \"\"\nnull:\n");
	const struct ynode *root = ydoc_root(doc);
	char err[KETEN_ERRLEN];
	const char *s = NULL;

	assert_int_equal(ydoc_get_str(doc, root, "s", true, &s, err), 0);
	assert_string_equal(s, "hello world");
	/* an explicitly quoted empty string is a value */
	assert_int_equal(ydoc_get_str(doc, root, "q", true, &s, err), 0);
	assert_string_equal(s, "");
	s = NULL;
	assert_int_equal(ydoc_get_str(doc, root, "null", false, &s, err), 0);
	assert_null(s);
	assert_int_equal(ydoc_get_str(doc, root, "null", true, &s, err), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:3:1: \"null\" has no value");
	ydoc_free(&doc);
}

static void
test_ydoc_err(void **state)
{
	struct ydoc *doc = parse_ok("a:\n  b: c\n");
	char err[KETEN_ERRLEN];

	assert_int_equal(ydoc_err(doc, ynode_get(ynode_get(ydoc_root(doc), "a"), "b"), err,
	    "bad %s", "value"), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml:2:6: bad value");
	assert_int_equal(ydoc_err(doc, NULL, err, "whole file"), KETEN_EINVAL);
	assert_string_equal(err, "t.yaml: whole file");
	ydoc_free(&doc);
}

static void
test_parse_utc_time_valid(void **state)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T00:00:01Z", 1000 },
		{ "2026-01-01T00:00:00Z", 1767225600000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
		{ "2000-02-29T12:34:56Z", 951827696000LL },
		{ "2024-12-31T23:59:59Z", 1735689599000LL },
		{ "2099-12-31T23:59:59Z", 4102444799000LL },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = -1;
		if (parse_utc_time(ok[i].s, &ms) != 0)
			fail_msg("%s refused", ok[i].s);
		if (ms != ok[i].ms)
			fail_msg("%s gave %lld, expected %lld", ok[i].s, (long long)ms,
			    (long long)ok[i].ms);
	}
}

static void
test_parse_utc_time_invalid(void **state)
{
	static const char *const bad[] = {
		"2026-02-29T00:00:00Z",		/* not a leap year */
		"2100-02-29T00:00:00Z",		/* century, not a leap year */
		"2026-04-31T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z",
		"2026-01-00T00:00:00Z",
		"2026-01-32T00:00:00Z",
		"2026-01-01T24:00:00Z",
		"2026-01-01T23:60:00Z",
		"2026-12-31T23:59:60Z",		/* no leap seconds */
		"1969-12-31T23:59:59Z",
		"2026-01-01t00:00:00Z",
		"2026-01-01T00:00:00z",
		"2026-01-01T00:00:00",
		"2026-01-01 00:00:00Z",
		"2026/01/01T00:00:00Z",
		"2026-01-01T00:00:00+00:00",
		"2026-01-01T00:00:00.000Z",
		"2026-01-01T00:00:00Z ",
		" 2026-01-01T00:00:00Z",
		"2026-1-01T00:00:00Z",
		"2026-01-1T00:00:00Z0",
		"+026-01-01T00:00:00Z",
		"2026-+1-01T00:00:00Z",
		"2026-01-01T0a:00:00Z",
		"2026-01-01",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 0;
		if (parse_utc_time(bad[i], &ms) != KETEN_EINVAL)
			fail_msg("\"%s\" accepted as %lld", bad[i], (long long)ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_positions),
		cmocka_unit_test(test_empty_document),
		cmocka_unit_test(test_expect_map),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_encoding_error_position),
		cmocka_unit_test(test_load_names_file),
		cmocka_unit_test(test_aliases_and_anchors_refused),
		cmocka_unit_test(test_tags_refused),
		cmocka_unit_test(test_one_document_only),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_check_keys),
		cmocka_unit_test(test_get_u64),
		cmocka_unit_test(test_get_bool),
		cmocka_unit_test(test_get_str),
		cmocka_unit_test(test_ydoc_err),
		cmocka_unit_test(test_parse_utc_time_valid),
		cmocka_unit_test(test_parse_utc_time_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
