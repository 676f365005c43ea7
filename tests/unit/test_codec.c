/*
 * Unit tests of the generic case-message codec (schemas/codec_types.c, codec_json.c, codec_paths.c): the
 * message corpus in tests/data/messages round-trips JSON -> protobuf -> JSON,
 * every input in tests/data/bad is refused with exactly the error line of its
 * .err file, path sets and the field filter keep their properties over
 * thousands of random messages, and a few regression tests for codec bugs.
 *
 * Tests run from the repository root and find their data under tests/data.
 * Random messages come from a fixed-seed xorshift generator: a failure
 * prints the seed and replays identically.
 */
#include "tests/unit/testutil.h"

#include <dirent.h>
#include <signal.h>
#include <jansson.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "schemas/codec.h"
#include "schemas/validate.h"
#include "common/utf8.h"

#define DATA_MESSAGES "tests/data/messages"
#define DATA_BAD "tests/data/bad"
#define RANDOM_PER_TYPE 500
#define CORPUS_FILTER_ROUNDS 60

/* ---- small helpers ---- */

/* Whole file; *len excludes the terminating NUL that is always added. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	do {
		if (cap - n < 65536) {
			cap += 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dir's files ending in `suffix`; NULL-terminated, free with free_names. */
static char **
list_dir(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, sl = strlen(suffix);

	if (d == NULL)
		fail_msg("cannot open directory %s (tests run from the repository root)", dir);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		names = realloc(names, (n + 2) * sizeof(*names));
		assert_non_null(names);
		names[n] = strdup(e->d_name);
		assert_non_null(names[n]);
		n++;
	}
	closedir(d);
	if (names == NULL) {
		names = calloc(1, sizeof(*names));
		assert_non_null(names);
	}
	names[n] = NULL;
	qsort(names, n, sizeof(*names), cmp_str);
	return names;
}

static void
free_names(char **names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

static const struct codec_type *
type_by_short_name(const char *name)
{
	for (size_t i = 0; i < codec_type_count(); i++) {
		const struct codec_type *t = codec_type_at(i);
		if (strcasecmp(codec_type_descriptor(t)->short_name, name) == 0)
			return t;
	}
	return NULL;
}

/*
 * The type of a corpus file from its name: the part before the first '_'
 * is the short type name in any case ("casesignal_nailsalon.json"); the
 * original example signal_carwash.json uses the alias "signal".
 */
static const struct codec_type *
type_for_file(const char *name)
{
	char prefix[64];
	size_t n = strcspn(name, "_.");

	if (n >= sizeof(prefix))
		return NULL;
	memcpy(prefix, name, n);
	prefix[n] = '\0';
	if (strcasecmp(prefix, "signal") == 0)
		return codec_type_find("CaseSignal");
	return type_by_short_name(prefix);
}

static const struct codec_type *
type_named(const char *name)
{
	const struct codec_type *t = codec_type_find(name);

	if (t == NULL)
		fail_msg("no codec type %s", name);
	return t;
}

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), n);
	*len = n;
	return buf;
}

static bool
same_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* A deep copy, through the wire format. */
static ProtobufCMessage *
clone_msg(const struct codec_type *t, const ProtobufCMessage *m)
{
	size_t n;
	uint8_t *buf = pack(m, &n);
	ProtobufCMessage *c = codec_unpack(t, buf, n);

	free(buf);
	assert_non_null(c);
	return c;
}

/* Parse JSON that must be accepted. */
static ProtobufCMessage *
from_json_ok(const struct codec_type *t, const char *json, size_t len, const char *what)
{
	ProtobufCMessage *m = NULL;
	char err[KETEN_ERRLEN] = "";
	int rc = codec_from_json(t, json, len, &m, err);

	if (rc != 0)
		fail_msg("%s: codec_from_json(%s) failed with %d: %s", what, codec_type_name(t), rc, err);
	assert_non_null(m);
	return m;
}

static char *
to_json_ok(const struct codec_type *t, const ProtobufCMessage *m)
{
	char *out = NULL;

	assert_int_equal(codec_to_json(t, m, &out), 0);
	assert_non_null(out);
	return out;
}

/* Comma-separated names of the paths in s (free it). */
static char *
set_str(const struct codec_type *t, const struct codec_pathset *s)
{
	size_t cap = 64, len = 0;
	char *out = malloc(cap);

	assert_non_null(out);
	out[0] = '\0';
	for (size_t i = 0; i < codec_type_npaths(t); i++) {
		if (!codec_pathset_has(s, i))
			continue;
		const char *p = codec_type_path(t, i);
		size_t pl = strlen(p);
		if (len + pl + 3 > cap) {
			cap = 2 * (len + pl + 3);
			out = realloc(out, cap);
			assert_non_null(out);
		}
		len += (size_t)sprintf(out + len, "%s%s", len ? "," : "", p);
	}
	return out;
}

/*
 * A path without role qualifiers: "persons[suspect].given_name" ->
 * "persons.given_name".  (A change in progress partitions repeated Person
 * fields by role; tests that name persons paths accept both forms.)
 */
static void
unqualify(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in && o + 1 < n; in++) {
		if (*in == '[') {
			while (*in && *in != ']')
				in++;
			if (!*in)
				break;
			continue;
		}
		out[o++] = *in;
	}
	out[o] = '\0';
}

/* Whether CaseSignal-like types have role-qualified person paths. */
static bool
role_partitioned(const struct codec_type *t)
{
	for (size_t i = 0; i < codec_type_npaths(t); i++)
		if (strchr(codec_type_path(t, i), '[') != NULL)
			return true;
	return false;
}

/* Like set_str, with qualifiers removed and duplicates dropped (free it). */
static char *
set_str_unq(const struct codec_type *t, const struct codec_pathset *s)
{
	size_t cap = 64, len = 0;
	char *out = malloc(cap), u[256], key[260];

	assert_non_null(out);
	out[0] = '\0';
	for (size_t i = 0; i < codec_type_npaths(t); i++) {
		if (!codec_pathset_has(s, i))
			continue;
		unqualify(codec_type_path(t, i), u, sizeof(u));
		snprintf(key, sizeof(key), ",%s,", u);
		{
			char *wrapped = tu_printf(",%s,", out);
			bool dup = strstr(wrapped, key) != NULL;
			free(wrapped);
			if (dup)
				continue;
		}
		size_t ul = strlen(u);
		if (len + ul + 3 > cap) {
			cap = 2 * (len + ul + 3);
			out = realloc(out, cap);
			assert_non_null(out);
		}
		len += (size_t)sprintf(out + len, "%s%s", len ? "," : "", u);
	}
	return out;
}

static bool
set_equal(const struct codec_pathset *a, const struct codec_pathset *b)
{
	return codec_pathset_subset(a, b) && codec_pathset_subset(b, a);
}

static void
set_andnot(struct codec_pathset *out, const struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		out->w[i] = a->w[i] & ~b->w[i];
}

static void
set_or(struct codec_pathset *out, const struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		out->w[i] = a->w[i] | b->w[i];
}

/* ---- deterministic pseudo-random numbers (xorshift64*) ---- */

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static unsigned
rnd(uint64_t *s, unsigned n)
{
	return (unsigned)((rng_next(s) >> 11) % n);
}

static void
setup_codec(void)
{
	assert_int_equal(codec_init(), 0);
}

/* ---- type registry ---- */

static const char *const all_types[] = {
	"CaseSignal", "InformationRequest", "InformationResponse", "CaseReferral",
	"CareNotice", "VictimRegistration", "CaseUpdate",
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void
test_type_registry(void **state)
{
	setup_codec();
	assert_int_equal(codec_type_count(), NTYPES);
	for (size_t i = 0; i < NTYPES; i++) {
		const struct codec_type *t = codec_type_find(all_types[i]);
		char full[128];
		assert_non_null(t);
		snprintf(full, sizeof(full), "keten.case.v1.%s", all_types[i]);
		assert_string_equal(codec_type_name(t), full);
		assert_ptr_equal(codec_type_find(full), t);
		assert_true(codec_type_npaths(t) > 0 && codec_type_npaths(t) <= CODEC_MAX_PATHS);
		for (size_t k = 0; k < codec_type_npaths(t); k++)
			assert_int_equal(codec_type_path_index(t, codec_type_path(t, k)), (int)k);
		assert_null(codec_type_path(t, codec_type_npaths(t)));
	}
	/* building blocks of case_types.proto are not sendable types */
	assert_null(codec_type_find("Person"));
	assert_null(codec_type_find("keten.case.v1.Address"));
	assert_null(codec_type_find("NoSuchType"));
	assert_null(codec_type_find(""));
	{
		const struct codec_type *t = type_named("CaseSignal");
		int k = codec_type_path_index(t, "companies.kvk_number");
		assert_true(k >= 0);
		assert_string_equal(codec_type_path(t, (size_t)k), "companies.kvk_number");
		/* message paths and JSON names are not leaf paths */
		assert_int_equal(codec_type_path_index(t, "persons"), -1);
		assert_int_equal(codec_type_path_index(t, "companies"), -1);
		assert_int_equal(codec_type_path_index(t, "companies.kvkNumber"), -1);
		assert_int_equal(codec_type_path_index(t, "*"), -1);
	}
}

/* ---- the message corpus ---- */

static void
test_corpus_roundtrip(void **state)
{
	char **names;
	size_t count = 0, per_type[NTYPES] = { 0 };

	setup_codec();
	names = list_dir(DATA_MESSAGES, ".json");
	for (size_t i = 0; names[i] != NULL; i++) {
		char path[512], *text, *out, *out2, *out3;
		size_t len, n1, n2;
		const struct codec_type *t = type_for_file(names[i]);
		ProtobufCMessage *m, *m2, *u;
		json_t *jin, *jout;
		json_error_t je;
		uint8_t *pb, *pb2;

		if (t == NULL)
			fail_msg("%s: no message type for this file name prefix", names[i]);
		for (size_t k = 0; k < NTYPES; k++)
			if (t == codec_type_find(all_types[k]))
				per_type[k]++;
		snprintf(path, sizeof(path), "%s/%s", DATA_MESSAGES, names[i]);
		text = read_file(path, &len);
		m = from_json_ok(t, text, len, names[i]);
		{
			char err[KETEN_ERRLEN];
			assert_int_equal(codec_validate(t, m, err), 0);
		}

		/* JSON -> protobuf -> JSON is unchanged */
		out = to_json_ok(t, m);
		jin = json_loadb(text, len, 0, &je);
		if (jin == NULL)
			fail_msg("%s: not JSON: %s", names[i], je.text);
		jout = json_loads(out, 0, &je);
		if (jout == NULL)
			fail_msg("%s: codec_to_json output is not JSON: %s: %s", names[i], je.text, out);
		if (!json_equal(jin, jout))
			fail_msg("%s: not in canonical form; the codec gives\n%s", names[i], out);

		/* canonical JSON is a fixed point */
		m2 = from_json_ok(t, out, strlen(out), names[i]);
		out2 = to_json_ok(t, m2);
		assert_string_equal(out, out2);

		/* protobuf bytes -> message -> the same JSON and the same bytes */
		pb = pack(m, &n1);
		u = codec_unpack(t, pb, n1);
		assert_non_null(u);
		out3 = to_json_ok(t, u);
		assert_string_equal(out, out3);
		pb2 = pack(u, &n2);
		assert_true(same_bytes(pb, n1, pb2, n2));

		json_decref(jin);
		json_decref(jout);
		free(out);
		free(out2);
		free(out3);
		free(pb);
		free(pb2);
		codec_free(m);
		codec_free(m2);
		codec_free(u);
		free(text);
		count++;
	}
	free_names(names);
	assert_true(count >= 22);
	for (size_t k = 0; k < NTYPES; k++)
		if (per_type[k] == 0)
			fail_msg("no corpus message of type %s", all_types[k]);
}

/* ---- refused inputs ---- */

static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int
this_year(void)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	return tm.tm_year + 1900;
}

/* Exit status of a test child that found a wrong result (sanitizers exit with 1). */
#define CHILD_MISMATCH 3

/*
 * In a forked child: a crash must end the child, not return into cmocka's
 * signal handler (which would go on running the remaining tests there).
 */
static void
child_begin(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/*
 * Check one bad input; in a child process, so that a codec crash is one
 * failed file and not the end of the test program.  0 when refused with
 * exactly the expected line.
 */
static int
check_bad_file(const char *name)
{
	char path[512], *text = NULL, *type, *want, err[KETEN_ERRLEN] = "", *out = NULL;
	size_t len, tl, wl;
	const struct codec_type *t;
	ProtobufCMessage *m = NULL;
	int rc, bad = 1;

	snprintf(path, sizeof(path), "%s/%.*s.type", DATA_BAD, (int)(strlen(name) - 5), name);
	type = read_file(path, &tl);
	chomp(type);
	snprintf(path, sizeof(path), "%s/%.*s.err", DATA_BAD, (int)(strlen(name) - 5), name);
	want = read_file(path, &wl);
	chomp(want);
	/* the birth-year bound is this year; the .err files were written in 2026 */
	{
		static const char y2026[] = "between 1900 and 2026";
		char *at = strstr(want, y2026), year[8];
		if (at != NULL) {
			snprintf(year, sizeof(year), "%04d", this_year() % 10000);
			memcpy(at + sizeof(y2026) - 5, year, 4);
		}
	}
	if ((t = codec_type_find(type)) == NULL) {
		fprintf(stderr, "  %s: unknown type \"%s\" in its .type file\n", name, type);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", DATA_BAD, name);
	text = read_file(path, &len);
	rc = codec_from_json(t, text, len, &m, err);
	if (rc == 0) {
		codec_to_json(t, m, &out);
		fprintf(stderr, "  %s: accepted as %s, expected refusal\n      want: %s\n      got:  %s\n",
		    name, type, want, out ? out : "?");
	} else if (m != NULL) {
		fprintf(stderr, "  %s: refused but *out was set\n", name);
	} else if (strcmp(err, want) != 0) {
		fprintf(stderr, "  %s: wrong error (%d)\n      want: %s\n      got:  %s\n", name, rc,
		    want, err);
	} else {
		bad = 0;
	}
out:
	codec_free(m);
	free(out);
	free(text);
	free(type);
	free(want);
	return bad;
}

static void
test_bad_inputs(void **state)
{
	char **names;
	size_t count = 0, failed = 0;

	setup_codec();
	names = list_dir(DATA_BAD, ".json");
	for (size_t i = 0; names[i] != NULL; i++, count++) {
		pid_t pid;
		int status;
		char side[512];
		bool missing = false;

		/* the child must not fail a cmocka assertion: check the side files here */
		for (int k = 0; k < 2; k++) {
			snprintf(side, sizeof(side), "%s/%.*s.%s", DATA_BAD, (int)(strlen(names[i]) - 5),
			    names[i], k ? "err" : "type");
			if (access(side, R_OK) != 0) {
				fprintf(stderr, "  %s: %s is missing\n", names[i], side);
				missing = true;
			}
		}
		if (missing) {
			failed++;
			continue;
		}
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			child_begin();
			_exit(check_bad_file(names[i]) ? CHILD_MISMATCH : 0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "  %s: codec crashed with signal %d\n", names[i],
			    WTERMSIG(status));
			failed++;
		} else if (WEXITSTATUS(status) != 0) {
			if (WEXITSTATUS(status) != CHILD_MISMATCH)	/* e.g. a sanitizer report */
				fprintf(stderr, "  %s: codec crashed (exit status %d)\n", names[i],
				    WEXITSTATUS(status));
			failed++;
		}
	}
	free_names(names);
	assert_true(count >= 32);
	if (failed)
		fail_msg("%zu of %zu bad inputs in %s not refused as their .err says", failed, count,
		    DATA_BAD);
}

/* Documents over CODEC_MAX_JSON_BYTES are refused before parsing; exactly the limit is not. */
static void
test_size_limit(void **state)
{
	const struct codec_type *t;
	static const char head[] = "{\"reference\":\"POL-2026-0999\",\"observation\":\"";
	size_t big = CODEC_MAX_JSON_BYTES + 1, n;
	char *doc = malloc(big + 1), err[KETEN_ERRLEN] = "";
	ProtobufCMessage *m = NULL;

	setup_codec();
	t = type_named("CaseSignal");
	assert_non_null(doc);
	/* a valid object followed by whitespace up to the given length */
	memcpy(doc, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	memset(doc + n, 'x', 100);
	n += 100;
	memcpy(doc + n, "\"}", 2);
	n += 2;
	memset(doc + n, ' ', big - n);
	doc[big] = '\0';

	assert_int_equal(codec_from_json(t, doc, big, &m, err), KETEN_ETOOBIG);
	assert_null(m);
	assert_string_equal(err, "document: 1048577 bytes, larger than the limit of 1048576 bytes");
	assert_contains(err, "limit");

	m = from_json_ok(t, doc, CODEC_MAX_JSON_BYTES, "exactly the size limit");
	codec_free(m);

	/* a real 2 MiB document, not just padding */
	{
		size_t len2 = 2u << 20;
		char *doc2 = malloc(len2 + 1);
		assert_non_null(doc2);
		memcpy(doc2, head, sizeof(head) - 1);
		memset(doc2 + sizeof(head) - 1, 'y', len2 - (sizeof(head) - 1) - 2);
		memcpy(doc2 + len2 - 2, "\"}", 2);
		doc2[len2] = '\0';
		assert_int_equal(codec_from_json(t, doc2, len2, &m, err), KETEN_ETOOBIG);
		assert_contains(err, "larger than the limit of 1048576 bytes");
		free(doc2);
	}
	free(doc);
}

/* Nesting: 16 levels pass the depth check, 17 do not; brackets in strings do not count. */
static void
test_depth_limit(void **state)
{
	const struct codec_type *t;
	char doc[512], err[KETEN_ERRLEN];
	ProtobufCMessage *m = NULL;

	setup_codec();
	t = type_named("CaseSignal");
	for (int extra = 12; extra <= 13; extra++) {	/* 4 levels + extra */
		int n = snprintf(doc, sizeof(doc), "{\"persons\":[{\"address\":{\"streetAddress\":");
		for (int i = 0; i < extra; i++)
			doc[n++] = '[';
		doc[n++] = '1';
		for (int i = 0; i < extra; i++)
			doc[n++] = ']';
		n += snprintf(doc + n, sizeof(doc) - (size_t)n, "}}]}");
		err[0] = '\0';
		assert_int_not_equal(codec_from_json(t, doc, (size_t)n, &m, err), 0);
		assert_null(m);
		if (extra == 12) {
			assert_string_equal(err, "persons[0].address.streetAddress: expected a string, "
			    "got [[[[[[[[[[[[1]]]]]]]]]]]]");
		} else {
			assert_string_equal(err, "document: nested deeper than 16 levels");
		}
	}
	static const char in_strings[] =
	    "{\"reference\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{\","
	    "\"observation\":\"quote \\\" then [[[[[[[[[[[[[[[[[[[[[[ and \\\\\"}";
	m = from_json_ok(t, in_strings, strlen(in_strings), "brackets inside strings");
	codec_free(m);
}

/* CODEC_MAX_REPEATED elements are accepted, one more is not. */
static void
test_repeated_limit(void **state)
{
	const struct codec_type *t;
	char err[KETEN_ERRLEN];
	ProtobufCMessage *m = NULL;

	setup_codec();
	t = type_named("CaseReferral");
	for (int cnt = CODEC_MAX_REPEATED; cnt <= CODEC_MAX_REPEATED + 1; cnt++) {
		size_t cap = 64 + (size_t)cnt * 40, n = 0;
		char *doc = malloc(cap);
		assert_non_null(doc);
		n += (size_t)sprintf(doc + n, "{\"referencedSignals\":[");
		for (int i = 0; i < cnt; i++)
			n += (size_t)sprintf(doc + n, "%s\"00000000-0000-4000-8000-%012d\"", i ? "," : "",
			    i);
		n += (size_t)sprintf(doc + n, "]}");
		if (cnt == CODEC_MAX_REPEATED) {
			m = from_json_ok(t, doc, n, "1000 elements");
			codec_free(m);
		} else {
			assert_int_equal(codec_from_json(t, doc, n, &m, err), KETEN_EINVAL);
			assert_string_equal(err, "referencedSignals: more than 1000 elements");
		}
		free(doc);
	}
}

/* Inputs the proto3 JSON mapping allows are accepted and come out canonical. */
static void
test_noncanonical_input(void **state)
{
	static const struct {
		const char *type, *in, *out;
	} cases[] = {
		/* proto field names, enum numbers, integers as strings, explicit defaults, nulls */
		{ "CaseSignal",
		  "{\"reference\":\"R1\",\"observed_on\":\"2026-11-01\",\"sector\":5,\"urgency\":null,"
		  "\"indicators\":[],\"observation\":\"\",\"persons\":[{\"given_name\":\"Testa\","
		  "\"birth_year\":\"1990\",\"is_minor\":false,\"role\":\"PERSON_ROLE_UNSPECIFIED\","
		  "\"languages\":null}],\"location\":null}",
		  "{\"reference\":\"R1\",\"observedOn\":\"2026-11-01\",\"sector\":\"SECTOR_CAR_WASH\","
		  "\"persons\":[{\"givenName\":\"Testa\",\"birthYear\":1990}]}" },
		/* field-number order, whatever the input order */
		{ "CaseUpdate",
		  "{\"note\":\"n\",\"status\":\"CASE_STATUS_OPEN\",\"reference\":\"R2\"}",
		  "{\"reference\":\"R2\",\"status\":\"CASE_STATUS_OPEN\",\"note\":\"n\"}" },
		/* empty messages the sender sent are kept */
		{ "CaseSignal", "{\"location\":{},\"persons\":[{},{\"address\":{}}]}",
		  "{\"location\":{},\"persons\":[{},{\"address\":{}}]}" },
		/* an all-default document */
		{ "VictimRegistration", "{\"birthYear\":0,\"isMinor\":false,\"gender\":0}", "{}" },
		/* escapes and non-ASCII text survive */
		{ "CaseUpdate", "{\"note\":\"tab\\t quote\\\" back\\\\ \\u00e9 \\ud834\\udd1e \\u0001\"}",
		  "{\"note\":\"tab\\t quote\\\" back\\\\ \xc3\xa9 \xf0\x9d\x84\x9e \\u0001\"}" },
		/* repeated UNSPECIFIED elements are values, not defaults */
		{ "CaseReferral", "{\"exploitationForms\":[\"EXPLOITATION_FORM_UNSPECIFIED\",2]}",
		  "{\"exploitationForms\":[\"EXPLOITATION_FORM_UNSPECIFIED\","
		  "\"EXPLOITATION_FORM_LABOUR\"]}" },
		/* a foreign postcode and plate are free form; NL or no country means Dutch */
		{ "CaseSignal", "{\"location\":{\"postcode\":\"SW1A 1AA\",\"country\":\"GB\"},"
		  "\"vehicles\":[{\"licencePlate\":\"B-XY 1234\",\"country\":\"DE\"},"
		  "{\"licencePlate\":\"99-XX-99\",\"country\":\"NL\"}]}",
		  "{\"location\":{\"postcode\":\"SW1A 1AA\",\"country\":\"GB\"},"
		  "\"vehicles\":[{\"licencePlate\":\"B-XY 1234\",\"country\":\"DE\"},"
		  "{\"licencePlate\":\"99-XX-99\",\"country\":\"NL\"}]}" },
		/* Feb 29 of a leap year; 1900 is the first year */
		{ "CaseSignal", "{\"observedOn\":\"2024-02-29\",\"persons\":[{\"birthDate\":\"1900-01-01\","
		  "\"birthYear\":1900}]}",
		  "{\"observedOn\":\"2024-02-29\",\"persons\":[{\"birthDate\":\"1900-01-01\","
		  "\"birthYear\":1900}]}" },
	};

	setup_codec();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct codec_type *t = type_named(cases[i].type);
		ProtobufCMessage *m = from_json_ok(t, cases[i].in, strlen(cases[i].in), cases[i].in);
		char *out = to_json_ok(t, m);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: canonical form\n  want %s\n  got  %s", i, cases[i].out, out);
		free(out);
		codec_free(m);
	}
}

/* ---- paths ---- */

static void
test_paths_carwash(void **state)
{
	static const char *const want[] = {
		"reference", "observed_on", "exploitation_forms", "sector", "indicators",
		"observation", "location.street_address", "location.postcode",
		"location.municipality", "persons.person_ref", "persons.role", "persons.given_name",
		"persons.family_name", "persons.birth_date", "persons.birth_year",
		"persons.nationality", "persons.gender", "persons.languages", "persons.phone",
		"persons.identity_document.type", "persons.identity_document.number",
		"persons.identity_document.issuing_country", "companies.name",
		"companies.kvk_number", "companies.sector", "companies.address.street_address",
		"companies.address.postcode", "companies.address.municipality",
		"vehicles.licence_plate", "vehicles.description", "urgency",
	};
	/* the same with persons partitioned by role (P1 a possible victim, S1 a suspect) */
	static const char *const want_roles[] = {
		"reference", "observed_on", "exploitation_forms", "sector", "indicators",
		"observation", "location.street_address", "location.postcode",
		"location.municipality",
		"persons[possible_victim].person_ref", "persons[possible_victim].role",
		"persons[possible_victim].given_name", "persons[possible_victim].family_name",
		"persons[possible_victim].birth_year", "persons[possible_victim].nationality",
		"persons[possible_victim].gender", "persons[possible_victim].languages",
		"persons[possible_victim].identity_document.type",
		"persons[possible_victim].identity_document.number",
		"persons[possible_victim].identity_document.issuing_country",
		"persons[suspect].person_ref", "persons[suspect].role", "persons[suspect].given_name",
		"persons[suspect].family_name", "persons[suspect].birth_date",
		"persons[suspect].nationality", "persons[suspect].phone",
		"companies.name", "companies.kvk_number", "companies.sector",
		"companies.address.street_address", "companies.address.postcode",
		"companies.address.municipality",
		"vehicles.licence_plate", "vehicles.description", "urgency",
	};
	const struct codec_type *t;
	struct codec_pathset got, expect;
	char *text, *a, *b;
	size_t len, nwant;
	const char *const *w;
	ProtobufCMessage *m;

	setup_codec();
	t = type_named("CaseSignal");
	if (role_partitioned(t)) {
		w = want_roles;
		nwant = sizeof(want_roles) / sizeof(want_roles[0]);
	} else {
		w = want;
		nwant = sizeof(want) / sizeof(want[0]);
	}
	text = read_file(DATA_MESSAGES "/signal_carwash.json", &len);
	m = from_json_ok(t, text, len, "signal_carwash.json");
	codec_pathset_clear(&expect);
	for (size_t i = 0; i < nwant; i++) {
		int k = codec_type_path_index(t, w[i]);
		if (k < 0)
			fail_msg("CaseSignal has no path %s", w[i]);
		codec_pathset_set(&expect, (size_t)k);
	}
	memset(&got, 0xa5, sizeof(got));	/* codec_paths clears *out first */
	codec_paths(t, m, &got);
	a = set_str(t, &got);
	b = set_str(t, &expect);
	assert_string_equal(a, b);
	assert_int_equal(codec_pathset_count(&got), nwant);
	free(a);
	free(b);
	codec_free(m);
	free(text);
}

/* Add `pattern` to a fresh set; must succeed.  Returns the set as a string. */
static char *
add_ok(const struct codec_type *t, const char *pattern, struct codec_pathset *s)
{
	char err[KETEN_ERRLEN] = "";
	int rc;

	codec_pathset_clear(s);
	rc = codec_pathset_add(t, s, pattern, err);
	if (rc != 0)
		fail_msg("codec_pathset_add(%s, \"%s\") failed with %d: %s", codec_type_name(t), pattern,
		    rc, err);
	return set_str(t, s);
}

static void
add_fails(const struct codec_type *t, const char *pattern, const char *want_err)
{
	char err[KETEN_ERRLEN] = "";
	struct codec_pathset s, before;
	char *a;

	/* a failed add leaves the set as it was */
	codec_pathset_clear(&s);
	codec_pathset_set(&s, 0);
	before = s;
	assert_int_equal(codec_pathset_add(t, &s, pattern, err), KETEN_ENOTFOUND);
	a = set_str(t, &s);
	assert_true(set_equal(&s, &before));
	free(a);
	if (strcmp(err, want_err) != 0)
		fail_msg("codec_pathset_add(\"%s\")\n  want %s\n  got  %s", pattern, want_err, err);
}

static void
test_pathset_add(void **state)
{
	const struct codec_type *t;
	struct codec_pathset s, s2;
	char *a, *b;

	setup_codec();
	/* "*" is every path of every type */
	for (size_t i = 0; i < NTYPES; i++) {
		t = type_named(all_types[i]);
		free(add_ok(t, "*", &s));
		assert_int_equal(codec_pathset_count(&s), codec_type_npaths(t));
		for (size_t k = 0; k < codec_type_npaths(t); k++) {
			/* every exact leaf path is its own set of one */
			free(add_ok(t, codec_type_path(t, k), &s2));
			assert_int_equal(codec_pathset_count(&s2), 1);
			assert_true(codec_pathset_has(&s2, k));
		}
	}

	t = type_named("CaseSignal");
	/* an exact leaf (under every role, when persons are partitioned by role) */
	free(add_ok(t, "persons.given_name", &s));
	a = set_str_unq(t, &s);
	assert_string_equal(a, "persons.given_name");
	free(a);
	for (size_t k = 0; k < codec_type_npaths(t); k++) {
		char u[256];
		unqualify(codec_type_path(t, k), u, sizeof(u));
		assert_int_equal(codec_pathset_has(&s, k), strcmp(u, "persons.given_name") == 0);
	}
	free(add_ok(t, "reference", &s));
	assert_int_equal(codec_pathset_count(&s), 1);
	assert_true(codec_pathset_has(&s, (size_t)codec_type_path_index(t, "reference")));

	/* a message path is every leaf beneath it, with or without ".*" */
	a = add_ok(t, "persons.*", &s);
	b = add_ok(t, "persons", &s2);
	assert_string_equal(a, b);
	assert_true(set_equal(&s, &s2));
	for (size_t k = 0; k < codec_type_npaths(t); k++) {
		char u[256];
		unqualify(codec_type_path(t, k), u, sizeof(u));
		assert_int_equal(codec_pathset_has(&s, k), strncmp(u, "persons.", 8) == 0);
	}
	free(a);
	free(b);
	a = set_str_unq(t, &s);
	assert_string_equal(a, "persons.person_ref,persons.role,persons.given_name,"
	    "persons.family_name,persons.birth_date,persons.birth_year,persons.nationality,"
	    "persons.gender,persons.languages,persons.phone,persons.is_minor,"
	    "persons.identity_document.type,persons.identity_document.number,"
	    "persons.identity_document.issuing_country,persons.address.street_address,"
	    "persons.address.postcode,persons.address.municipality,persons.address.country");
	free(a);
	free(add_ok(t, "persons.identity_document", &s));
	a = set_str_unq(t, &s);
	assert_string_equal(a, "persons.identity_document.type,persons.identity_document.number,"
	    "persons.identity_document.issuing_country");
	free(a);
	a = add_ok(t, "companies.address.*", &s);
	assert_string_equal(a, "companies.address.street_address,companies.address.postcode,"
	    "companies.address.municipality,companies.address.country");
	free(a);
	a = add_ok(t, "location", &s);
	assert_string_equal(a, "location.street_address,location.postcode,location.municipality,"
	    "location.country");
	free(a);

	/* adding accumulates */
	codec_pathset_clear(&s);
	{
		char err[KETEN_ERRLEN];
		assert_int_equal(codec_pathset_add(t, &s, "reference", err), 0);
		assert_int_equal(codec_pathset_add(t, &s, "vehicles", err), 0);
		assert_int_equal(codec_pathset_add(t, &s, "reference", err), 0);
	}
	a = set_str(t, &s);
	assert_string_equal(a, "reference,vehicles.licence_plate,vehicles.description,vehicles.country");
	free(a);

	/* errors name the pattern, the message type and the unknown field */
	add_fails(t, "colour", "unknown field path \"colour\" (CaseSignal has no field colour)");
	add_fails(t, "persons.shoe_size",
	    "unknown field path \"persons.shoe_size\" (Person has no field shoe_size)");
	add_fails(t, "persons.givenName",
	    "unknown field path \"persons.givenName\" (Person has no field givenName)");
	add_fails(t, "persons.address.zip",
	    "unknown field path \"persons.address.zip\" (Address has no field zip)");
	add_fails(t, "reference.*",
	    "unknown field path \"reference.*\" (CaseSignal.reference is not a message)");
	add_fails(t, "reference.text",
	    "unknown field path \"reference.text\" (CaseSignal.reference is not a message)");
	add_fails(t, "persons.identity_document.number.*",
	    "unknown field path \"persons.identity_document.number.*\" "
	    "(IdentityDocument.number is not a message)");
	add_fails(t, "persons.*.*", "unknown field path \"persons.*.*\" (Person has no field *)");
	add_fails(t, "", "empty or overlong field path");
	add_fails(type_named("VictimRegistration"), "persons",
	    "unknown field path \"persons\" (VictimRegistration has no field persons)");
	add_fails(type_named("CareNotice"), "victim.name",
	    "unknown field path \"victim.name\" (Person has no field name)");
}

/* ---- random messages ---- */

static const char *
pick(uint64_t *rng, const char *const *list, size_t n)
{
	return list[rnd(rng, (unsigned)n)];
}
#define PICK(rng, list) pick(rng, list, sizeof(list) / sizeof(list[0]))

/* Free text: ASCII, characters JSON must escape, and multi-byte UTF-8. */
static char *
random_text(uint64_t *rng, size_t max_len)
{
	static const char *const bits[] = {
		"a", "b", "k", "Z", "0", "7", " ", " ", "-", ".", "\"", "\\", "/", "\n", "\t", "\x01",
		"\xc3\xa9", "\xc3\x9f", "\xc8\x98", "\xe1\xbb\x85", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
	};
	size_t target, n = 0;
	char *s;

	if (rnd(rng, 25) == 0) {	/* exactly at the limit */
		s = malloc(max_len + 1);
		assert_non_null(s);
		for (size_t i = 0; i < max_len; i++)
			s[i] = (char)('a' + rnd(rng, 26));
		s[max_len] = '\0';
		return s;
	}
	target = 1 + rnd(rng, (unsigned)(max_len < 60 ? max_len : 60));
	s = malloc(target + 1);
	assert_non_null(s);
	while (n < target) {
		const char *b = PICK(rng, bits);
		size_t bl = strlen(b);
		if (n + bl > target) {
			if (n > 0)
				break;
			b = "x";
			bl = 1;
		}
		memcpy(s + n, b, bl);
		n += bl;
	}
	s[n] = '\0';
	return s;
}

static char *
random_string(uint64_t *rng, const char *field)
{
	static const char *const countries[] = { "NL", "BE", "DE", "PL", "RO", "BG", "UA", "VN",
		"NG", "SR", "GB", "MD", "LT", "PH" };
	static const char *const languages[] = { "nl", "en", "de", "pl", "ro", "bg", "uk", "vi",
		"ar", "tl", "fr", "ru" };
	static const int plates[][3] = { { 2, 2, 2 }, { 2, 3, 1 }, { 1, 3, 2 }, { 3, 2, 1 },
		{ 1, 2, 3 }, { 2, 2, 2 } };
	const struct vrule *r = validate_rule(field);
	char buf[64];

	switch (r->kind) {
	case V_TEXT:
		return random_text(rng, r->max_len);
	case V_DATE:
	case V_PAST_DATE: {
		static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		int y = 1900 + (int)rnd(rng, 126), mo = 1 + (int)rnd(rng, 12);
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		int d = 1 + (int)rnd(rng, (unsigned)(mdays[mo - 1] + (mo == 2 && leap)));
		snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y, mo, d);
		break;
	}
	case V_KVK:
		snprintf(buf, sizeof(buf), "99%06u", rnd(rng, 1000000));
		break;
	case V_POSTCODE:
		snprintf(buf, sizeof(buf), "%u%03u %c%c", 1 + rnd(rng, 9), rnd(rng, 1000),
		    'A' + rnd(rng, 26), 'A' + rnd(rng, 26));
		break;
	case V_COUNTRY:
		return strdup(PICK(rng, countries));
	case V_LANGUAGE:
		return strdup(PICK(rng, languages));
	case V_PLATE: {
		const int *g = plates[rnd(rng, sizeof(plates) / sizeof(plates[0]))];
		size_t n = 0;
		for (int i = 0; i < 3; i++) {
			bool letters = rnd(rng, 2);
			if (i)
				buf[n++] = '-';
			for (int k = 0; k < g[i]; k++)
				buf[n++] = letters ? (char)('B' + rnd(rng, 24)) : (char)('0' + rnd(rng, 10));
		}
		buf[n] = '\0';
		break;
	}
	case V_UUID: {
		static const char hex[] = "0123456789abcdef";
		for (size_t i = 0; i < 36; i++)
			buf[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[rnd(rng, 16)];
		buf[36] = '\0';
		break;
	}
	case V_PHONE:
		snprintf(buf, sizeof(buf), "+31 6 0000 %04u", rnd(rng, 10000));
		break;
	case V_BIRTH_YEAR:
	default:
		snprintf(buf, sizeof(buf), "x");
		break;
	}
	return strdup(buf);
}

static ProtobufCMessage *random_msg(const ProtobufCMessageDescriptor *d, uint64_t *rng,
    unsigned density, int depth);

static void
random_value(const ProtobufCFieldDescriptor *f, void *p, uint64_t *rng, unsigned density,
    int depth, bool repeated)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(char **)p = random_string(rng, f->name);
		assert_non_null(*(char **)p);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		/* repeated fields may hold UNSPECIFIED; a singular one would be absent */
		unsigned i = repeated && rnd(rng, 8) == 0 ? 0 : 1 + rnd(rng, ed->n_values - 1);
		*(int *)p = ed->values[i].value;
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = 1;
		break;
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)p = validate_rule(f->name)->kind == V_BIRTH_YEAR ?
		    1900 + (int32_t)rnd(rng, 126) : 1 + (int32_t)rnd(rng, 100000);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)p = 1 + rnd(rng, 100000);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)p = 1 + rnd(rng, 100000);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)p = 0.5f + (float)rnd(rng, 100);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)p = 0.25 + rnd(rng, 100);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		size_t n = 1 + rnd(rng, 8);
		uint8_t *b = malloc(n);
		assert_non_null(b);
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)rnd(rng, 256);
		*(ProtobufCBinaryData *)p = (ProtobufCBinaryData){ n, b };
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)p = random_msg(f->descriptor, rng, density, depth + 1);
		break;
	}
}

/*
 * A valid random message: each field is set with probability density/100;
 * repeated fields get 1..3 elements; nested messages may come out empty.
 */
static ProtobufCMessage *
random_msg(const ProtobufCMessageDescriptor *d, uint64_t *rng, unsigned density, int depth)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);

	assert_non_null(m);
	d->message_init(m);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (rnd(rng, 100) >= density || (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= 8))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 1 + rnd(rng, 3), es = codec_elem_size(f->type);
			char *arr = calloc(n, es);
			assert_non_null(arr);
			for (size_t k = 0; k < n; k++)
				random_value(f, arr + k * es, rng, density, depth, true);
			*(void **)((char *)m + f->offset) = arr;
			*(size_t *)((char *)m + f->quantifier_offset) = n;
		} else {
			random_value(f, (char *)m + f->offset, rng, density, depth, false);
		}
	}
	return m;
}

/* A random path set for filtering m (whose paths are P). */
static void
random_set(const struct codec_type *t, uint64_t *rng, const struct codec_pathset *P,
    struct codec_pathset *S)
{
	size_t np = codec_type_npaths(t);

	codec_pathset_clear(S);
	switch (rnd(rng, 6)) {
	case 0:		/* nothing */
		break;
	case 1:		/* every path with probability 1/2 */
		for (size_t i = 0; i < np; i++)
			if (rnd(rng, 2))
				codec_pathset_set(S, i);
		break;
	case 2:		/* the present paths and some more */
		*S = *P;
		for (size_t i = 0; i < np; i++)
			if (rnd(rng, 4) == 0)
				codec_pathset_set(S, i);
		break;
	case 3:		/* the present paths but one */
		*S = *P;
		if (!codec_pathset_empty(P)) {
			size_t k = rnd(rng, (unsigned)codec_pathset_count(P));
			for (size_t i = 0; i < np; i++)
				if (codec_pathset_has(P, i) && k-- == 0) {
					S->w[i / 64] &= ~(1ull << (i % 64));
					break;
				}
		}
		break;
	default: {	/* a few patterns, as a policy names them */
		unsigned n = 1 + rnd(rng, 4);
		for (unsigned j = 0; j < n; j++) {
			char pat[256], err[KETEN_ERRLEN];
			snprintf(pat, sizeof(pat), "%s", codec_type_path(t, rnd(rng, (unsigned)np)));
			char *dot = strrchr(pat, '.');
			if (dot != NULL && rnd(rng, 2)) {	/* the enclosing message */
				if (rnd(rng, 2))
					strcpy(dot, ".*");
				else
					*dot = '\0';
			}
			if (codec_pathset_add(t, S, pat, err) != 0)
				fail_msg("codec_pathset_add(\"%s\"): %s", pat, err);
		}
		break;
	}
	}
}

/*
 * The filter's properties for message m and set S (m is not changed):
 * the result holds only paths of S, exactly the present paths of S; the
 * removed set is exactly the present paths outside S (so removed and kept
 * make up the original); filtering again changes nothing.
 */
static char *check_filter_msg(const struct codec_type *t, const ProtobufCMessage *m,
    const struct codec_pathset *S, const char *what);

/* check_filter_msg as a cmocka check; `m` is freed on failure. */
static void
check_filter(const struct codec_type *t, ProtobufCMessage *m, const struct codec_pathset *S,
    const char *what)
{
	char *msg = check_filter_msg(t, m, S, what), buf[2048];

	if (msg == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s", msg);
	free(msg);
	codec_free(m);
	fail_msg("%s", buf);
}

/*
 * The filter's properties for message m and set S (m is not changed): the
 * result holds only paths of S and of m; every present path outside S is
 * reported removed, and removed and kept make up the original paths;
 * filtering again changes nothing; a set covering every present path
 * changes nothing.  NULL, or what went wrong (free it).
 */
static char *
check_filter_msg(const struct codec_type *t, const ProtobufCMessage *m,
    const struct codec_pathset *S, const char *what)
{
	struct codec_pathset P, K, R, R2, want, u, Sc = *S;
	ProtobufCMessage *c = clone_msg(t, m);
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t n1, n2;
	char *msg = NULL, *x = NULL, *y = NULL;

	/* the filter keeps companion fields (a person's role, an address's
	 * country): the properties hold for the closed set */
	codec_pathset_close(t, &Sc);
	S = &Sc;

	codec_paths(t, m, &P);
	memset(&R, 0xff, sizeof(R));	/* codec_filter clears *removed first */
	codec_filter(t, c, S, &R);
	codec_paths(t, c, &K);
	set_andnot(&want, &P, S);
	set_or(&u, &R, &K);

	if (!codec_pathset_subset(&K, S)) {
		msg = tu_printf("%s: after filtering, paths [%s] not within the set [%s]", what,
		    x = set_str(t, &K), y = set_str(t, S));
	} else if (!codec_pathset_subset(&K, &P)) {
		msg = tu_printf("%s: after filtering, paths [%s] that were not there before [%s]", what,
		    x = set_str(t, &K), y = set_str(t, &P));
	} else if (!codec_pathset_subset(&want, &R) || !codec_pathset_subset(&R, &P)) {
		/* every present path outside the set is removed; nothing else is reported */
		msg = tu_printf("%s: removed [%s], expected at least [%s] and only present paths",
		    what, x = set_str(t, &R), y = set_str(t, &want));
	} else if (!set_equal(&u, &P)) {
		/* removed and kept make up the original */
		msg = tu_printf("%s: removed + kept [%s] differ from the original [%s]", what,
		    x = set_str(t, &u), y = set_str(t, &P));
	}
	if (msg != NULL)
		goto out;

	/* filtering twice is filtering once */
	b1 = pack(c, &n1);
	codec_filter(t, c, S, &R2);
	b2 = pack(c, &n2);
	if (!same_bytes(b1, n1, b2, n2) || !codec_pathset_empty(&R2)) {
		msg = tu_printf("%s: a second filter with the same set changed the message (removed "
		    "[%s])", what, x = set_str(t, &R2));
		goto out;
	}
	free(b1);
	free(b2);
	codec_free(c);

	/* a set that covers every present path changes nothing, removes nothing */
	set_or(&u, S, &P);
	c = clone_msg(t, m);
	b1 = pack(m, &n1);
	codec_filter(t, c, &u, &R2);
	b2 = pack(c, &n2);
	if (!same_bytes(b1, n1, b2, n2) || !codec_pathset_empty(&R2)) {
		msg = tu_printf("%s: filtering with a set covering all present paths changed the "
		    "message (removed [%s])", what, x = set_str(t, &R2));
		goto out;
	}
	codec_free(c);

	/* removed may be NULL; the result is the same */
	c = clone_msg(t, m);
	codec_filter(t, c, S, NULL);
	codec_paths(t, c, &u);
	if (!set_equal(&u, &K))
		msg = tu_printf("%s: filtering with removed == NULL kept [%s], not [%s]", what,
		    x = set_str(t, &u), y = set_str(t, &K));
out:
	codec_free(c);
	free(b1);
	free(b2);
	free(x);
	free(y);
	return msg;
}

static void
test_random_messages(void **state)
{
	static const unsigned densities[] = { 10, 35, 65, 90 };

	setup_codec();
	for (size_t ti = 0; ti < NTYPES; ti++) {
		const struct codec_type *t = type_named(all_types[ti]);
		const ProtobufCMessageDescriptor *d = codec_type_descriptor(t);
		uint64_t seed = 0x9E3779B97F4A7C15ull ^ (uint64_t)(ti + 1) * 0x100000001B3ull;
		uint64_t rng = seed;
		struct codec_pathset all, union_paths;
		char err[KETEN_ERRLEN];

		codec_pathset_clear(&union_paths);
		codec_pathset_clear(&all);
		assert_int_equal(codec_pathset_add(t, &all, "*", err), 0);
		for (int i = 0; i < RANDOM_PER_TYPE; i++) {
			char what[160], *out, *out2;
			ProtobufCMessage *m, *m2, *u;
			struct codec_pathset P, S;
			uint8_t *b1, *b2;
			size_t n1, n2;

			snprintf(what, sizeof(what), "%s random message #%d (seed 0x%016llx)",
			    all_types[ti], i, (unsigned long long)seed);
			m = random_msg(d, &rng, densities[rnd(&rng, 4)], 0);
			if (codec_validate(t, m, err) != 0) {
				out = NULL;
				codec_to_json(t, m, &out);
				fail_msg("%s: generated message not valid: %s\n%s", what, err,
				    out ? out : "?");
			}
			codec_paths(t, m, &P);
			set_or(&union_paths, &union_paths, &P);

			/* JSON and protobuf round trips */
			out = to_json_ok(t, m);
			m2 = from_json_ok(t, out, strlen(out), what);
			out2 = to_json_ok(t, m2);
			if (strcmp(out, out2) != 0)
				fail_msg("%s: JSON round trip\n  first  %s\n  second %s", what, out, out2);
			b1 = pack(m, &n1);
			b2 = pack(m2, &n2);
			if (!same_bytes(b1, n1, b2, n2))
				fail_msg("%s: protobuf bytes differ after the JSON round trip: %s", what, out);
			free(b2);
			u = codec_unpack(t, b1, n1);
			assert_non_null(u);
			b2 = pack(u, &n2);
			assert_true(same_bytes(b1, n1, b2, n2));

			free(b1);
			free(b2);
			free(out);
			free(out2);
			codec_free(m2);
			codec_free(u);

			/* filter properties: random sets, everything, nothing */
			for (int k = 0; k < 4; k++) {
				random_set(t, &rng, &P, &S);
				check_filter(t, m, &S, what);
			}
			check_filter(t, m, &all, what);
			codec_pathset_clear(&S);
			check_filter(t, m, &S, what);
			check_filter(t, m, &P, what);
			codec_free(m);
		}
		/* the generator reached every path of the type, except the role of
		 * the "unspecified" partition: a role of 0 is the default, never present */
		for (size_t k = 0; k < codec_type_npaths(t); k++)
			if (strstr(codec_type_path(t, k), "[unspecified].role") != NULL &&
			    strstr(codec_type_path(t, k), "[unspecified].role")[18] == '\0')
				codec_pathset_set(&union_paths, k);
		if (!set_equal(&union_paths, &all)) {
			set_andnot(&union_paths, &all, &union_paths);
			fail_msg("%s: random messages never set [%s]", all_types[ti],
			    set_str(t, &union_paths));
		}
	}
}

/* The filter properties on the corpus, with random path sets. */
static void
test_corpus_filter(void **state)
{
	char **names;
	uint64_t rng = 0x5EED0F11CE5ull;

	setup_codec();
	names = list_dir(DATA_MESSAGES, ".json");
	for (size_t i = 0; names[i] != NULL; i++) {
		char path[512], *text, what[600];
		size_t len;
		const struct codec_type *t = type_for_file(names[i]);
		ProtobufCMessage *m;
		struct codec_pathset P, S;

		assert_non_null(t);
		snprintf(path, sizeof(path), "%s/%s", DATA_MESSAGES, names[i]);
		text = read_file(path, &len);
		m = from_json_ok(t, text, len, names[i]);
		free(text);
		codec_paths(t, m, &P);
		for (int k = 0; k < CORPUS_FILTER_ROUNDS; k++) {
			char *msg;
			snprintf(what, sizeof(what), "%s round %d", names[i], k);
			random_set(t, &rng, &P, &S);
			if ((msg = check_filter_msg(t, m, &S, what)) != NULL) {
				char buf[2048];
				snprintf(buf, sizeof(buf), "%s", msg);
				free(msg);
				codec_free(m);
				free_names(names);
				fail_msg("%s", buf);
			}
		}
		codec_free(m);
	}
	free_names(names);
}

/* A filter removes leaves and the messages it emptied, nothing else. */
static void
test_filter_examples(void **state)
{
	static const struct {
		const char *in, *allowed, *out, *removed;
	} cases[] = {
		{ "{\"reference\":\"R\",\"persons\":[{\"givenName\":\"A\",\"identityDocument\":"
		  "{\"number\":\"X1\"}},{\"givenName\":\"B\"}]}",
		  "reference,persons.given_name",
		  "{\"reference\":\"R\",\"persons\":[{\"givenName\":\"A\"},{\"givenName\":\"B\"}]}",
		  "persons.identity_document.number" },
		/* persons that held only removed leaves go, an empty one sent as such stays */
		{ "{\"persons\":[{\"phone\":\"+31 6 0000 0001\"},{},{\"role\":\"PERSON_ROLE_SUSPECT\","
		  "\"phone\":\"+31 6 0000 0002\"}]}",
		  "persons.role",
		  "{\"persons\":[{},{\"role\":\"PERSON_ROLE_SUSPECT\"}]}",
		  "persons.phone" },
		{ "{\"location\":{\"municipality\":\"Tiel\"},\"urgency\":\"URGENCY_ROUTINE\"}",
		  "urgency", "{\"urgency\":\"URGENCY_ROUTINE\"}", "location.municipality" },
		{ "{\"location\":{\"municipality\":\"Tiel\"},\"urgency\":\"URGENCY_ROUTINE\"}",
		  "", "{}", "location.municipality,urgency" },
		{ "{\"location\":{\"municipality\":\"Tiel\"},\"urgency\":\"URGENCY_ROUTINE\"}",
		  "location", "{\"location\":{\"municipality\":\"Tiel\"}}", "urgency" },
	};
	const struct codec_type *t;

	setup_codec();
	t = type_named("CaseSignal");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ProtobufCMessage *m = from_json_ok(t, cases[i].in, strlen(cases[i].in), cases[i].in);
		struct codec_pathset S, R;
		char list[256], *save = NULL, err[KETEN_ERRLEN], *out, *r;

		codec_pathset_clear(&S);
		snprintf(list, sizeof(list), "%s", cases[i].allowed);
		for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
			assert_int_equal(codec_pathset_add(t, &S, p, err), 0);
		codec_filter(t, m, &S, &R);
		out = to_json_ok(t, m);
		r = set_str_unq(t, &R);
		if (strcmp(out, cases[i].out) != 0 || strcmp(r, cases[i].removed) != 0)
			fail_msg("case %zu\n  want %s removed [%s]\n  got  %s removed [%s]", i,
			    cases[i].out, cases[i].removed, out, r);
		free(out);
		free(r);
		codec_free(m);
	}
}

/* codec_validate on messages that did not come from JSON (protobuf input). */
static void
test_validate_unpacked(void **state)
{
	static const struct {
		uint8_t bytes[16];
		size_t len;
		const char *err;
	} cases[] = {
		{ { 0x58, 0x09 }, 2, "urgency: undefined Urgency value 9" },
		{ { 0x1a, 0x02, 0x01, 0x09 }, 4, "exploitationForms[1]: undefined ExploitationForm value 9" },
		{ { 0x0a, 0x01, 0xff }, 3, "reference: invalid UTF-8" },
		{ { 0x42, 0x04, 0x1a, 0x02, 0xc0, 0xaf }, 6, "persons[0].givenName: invalid UTF-8" },
		{ { 0x42, 0x03, 0x30, 0xbc, 0x0e }, 5,
		  "persons[0].birthYear: expected a year between 1900 and ", },
	};
	const struct codec_type *t;

	setup_codec();
	t = type_named("CaseSignal");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ProtobufCMessage *m = codec_unpack(t, cases[i].bytes, cases[i].len);
		char err[KETEN_ERRLEN] = "";
		assert_non_null(m);
		assert_int_equal(codec_validate(t, m, err), KETEN_EINVAL);
		assert_prefix(err, cases[i].err);
		codec_free(m);
	}
	static const uint8_t garbage[] = { 0x0a, 0x05, 'a' };	/* length past the end */
	assert_null(codec_unpack(t, garbage, sizeof(garbage)));
}

/* ---- regression tests for codec bugs (see the report of 2026-11-29) ---- */

static int
repeated_string_child(void)
{
	static const struct {
		const char *type, *json, *err;
	} cases[] = {
		{ "CaseReferral",
		  "{\"referencedSignals\":[\"5b2d9c4e-1a3f-4b6c-8d7e-0f1a2b3c4d5e\",42]}",
		  "referencedSignals[1]: expected a string, got 42" },
		{ "CaseSignal", "{\"persons\":[{\"languages\":[\"nl\",{\"code\":\"en\"}]}]}",
		  "persons[0].languages[1]: expected a string, got {\"code\":\"en\"}" },
		{ "CaseSignal", "{\"persons\":[{\"languages\":[true]}]}",
		  "persons[0].languages[0]: expected a string, got true" },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ProtobufCMessage *m = NULL;
		char err[KETEN_ERRLEN] = "";
		int rc = codec_from_json(codec_type_find(cases[i].type), cases[i].json,
		    strlen(cases[i].json), &m, err);
		if (rc != KETEN_EINVAL || strcmp(err, cases[i].err) != 0) {
			fprintf(stderr, "  %s: rc %d, err \"%s\", want \"%s\"\n", cases[i].json, rc, err,
			    cases[i].err);
			bad = 1;
		}
	}
	return bad;
}

/*
 * A non-string element in a repeated string field: codec_from_json leaves
 * protobuf_c_empty_string in the array and codec_free (protobuf-c) frees
 * it: "free(): invalid pointer", the process aborts.
 */
static void
test_repeated_string_wrong_type(void **state)
{
	pid_t pid;
	int status;

	setup_codec();
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_begin();
		_exit(repeated_string_child() ? CHILD_MISMATCH : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("codec_from_json crashed (signal %d) on a non-string element of a repeated "
		    "string field", WTERMSIG(status));
	if (WEXITSTATUS(status) == CHILD_MISMATCH)
		fail_msg("codec_from_json: non-string element of a repeated string field: wrong error");
	if (WEXITSTATUS(status) != 0)
		fail_msg("codec_from_json crashed (exit status %d, a sanitizer report) on a non-string "
		    "element of a repeated string field", WEXITSTATUS(status));
}

/* The same field under its JSON name and its proto name is a duplicate key. */
static void
test_duplicate_field_alias(void **state)
{
	static const struct {
		const char *json, *path;
	} cases[] = {
		{ "{\"persons\":[{\"givenName\":\"Testa\",\"given_name\":\"Proba\"}]}",
		  "persons[0].given" },
		{ "{\"observedOn\":\"2026-11-01\",\"observed_on\":\"2026-11-02\"}", "observed" },
		{ "{\"indicators\":[\"INDICATOR_NO_ID_PAPERS\"],\"indicators\":[]}", "document" },
	};
	const struct codec_type *t;

	setup_codec();
	t = type_named("CaseSignal");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ProtobufCMessage *m = NULL;
		char err[KETEN_ERRLEN] = "", msg[600];
		int rc = codec_from_json(t, cases[i].json, strlen(cases[i].json), &m, err);
		if (rc == 0) {
			char *out = to_json_ok(t, m);
			snprintf(msg, sizeof(msg), "%s accepted as %s; one of the two values is "
			    "silently dropped", cases[i].json, out);
			free(out);
			codec_free(m);
			fail_msg("%s", msg);
		}
		assert_prefix(err, cases[i].path);
	}
}

/* Error messages are UTF-8 even when the shown value is cut. */
static void
test_error_message_utf8(void **state)
{
	const struct codec_type *t;
	char doc[256], err[KETEN_ERRLEN] = "";
	ProtobufCMessage *m = NULL;
	size_t n;

	setup_codec();
	t = type_named("CaseSignal");
	n = (size_t)snprintf(doc, sizeof(doc), "{\"reference\":[\"a");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\xc3\xa9");
	n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\"]}");
	assert_int_equal(codec_from_json(t, doc, n, &m, err), KETEN_EINVAL);
	assert_prefix(err, "reference: expected a string, got [\"a\xc3\xa9");
	if (!utf8_valid(err, strlen(err)))
		fail_msg("error message is not valid UTF-8 (a character cut in half): %s", err);
}

/*
 * Unknown fields of protobuf input (a newer schema, or a sender smuggling
 * data) have no path: codec_paths does not show them and codec_filter must
 * not pass them on.  Filtering with the empty set must leave nothing.
 */
static void
test_filter_drops_unknown_fields(void **state)
{
	static const uint8_t unknown[] = { 0x9a, 0x06, 0x06, 's', 'e', 'c', 'r', 'e', 't' };
	const struct codec_type *t;
	char *text;
	size_t len, n, n2;
	uint8_t *pb, *buf, *out;
	ProtobufCMessage *m, *u;
	struct codec_pathset P, P2, S, R;

	setup_codec();
	t = type_named("CaseSignal");
	text = read_file(DATA_MESSAGES "/signal_carwash.json", &len);
	m = from_json_ok(t, text, len, "signal_carwash.json");
	pb = pack(m, &n);
	buf = malloc(n + sizeof(unknown));
	assert_non_null(buf);
	memcpy(buf, pb, n);
	memcpy(buf + n, unknown, sizeof(unknown));	/* field 99, "secret" */
	u = codec_unpack(t, buf, n + sizeof(unknown));
	assert_non_null(u);
	codec_paths(t, m, &P);
	codec_paths(t, u, &P2);
	assert_true(set_equal(&P, &P2));

	codec_pathset_clear(&S);
	codec_filter(t, u, &S, &R);
	assert_true(set_equal(&R, &P));
	out = pack(u, &n2);
	free(out);
	free(buf);
	free(pb);
	codec_free(u);
	codec_free(m);
	free(text);
	if (n2 != 0)
		fail_msg("after filtering with the empty set, %zu bytes remain (unknown field 99 "
		    "passed the filter)", n2);
}

/*
 * A foreign postcode or licence plate is free form only beside its
 * country; filtering the country away leaves a message the codec itself
 * refuses (and that reads as a Dutch address or plate).
 */
static void
test_filter_keeps_country_with_foreign_address(void **state)
{
	static const struct {
		const char *type, *json, *allowed;
	} cases[] = {
		{ "CaseSignal", "{\"vehicles\":[{\"licencePlate\":\"CB 0000 XX\",\"country\":\"BG\"}]}",
		  "vehicles.licence_plate" },
		{ "CaseSignal", "{\"location\":{\"postcode\":\"2000\",\"municipality\":\"Antwerpen\","
		  "\"country\":\"BE\"}}", "location.postcode" },
	};

	setup_codec();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct codec_type *t = type_named(cases[i].type);
		ProtobufCMessage *m = from_json_ok(t, cases[i].json, strlen(cases[i].json), "input");
		struct codec_pathset S;
		char err[KETEN_ERRLEN] = "";

		codec_pathset_clear(&S);
		assert_int_equal(codec_pathset_add(t, &S, cases[i].allowed, err), 0);
		codec_filter(t, m, &S, NULL);
		if (codec_validate(t, m, err) != 0) {
			char *out = to_json_ok(t, m), msg[1200];
			snprintf(msg, sizeof(msg), "%s filtered to [%s] gives %s, which codec_validate "
			    "refuses: %s", cases[i].json, cases[i].allowed, out, err);
			free(out);
			codec_free(m);
			fail_msg("%s", msg);
		}
		codec_free(m);
	}
}

/*
 * Role partitions (a change in progress): filtering away a person's "role"
 * must not move the rest of that person into another role's paths.  With
 * only persons[suspect].given_name allowed, a suspect keeps the name; the
 * paths after filtering are within the set, and a second filter changes
 * nothing.
 */
static void
test_filter_keeps_role(void **state)
{
	static const char in[] =
	    "{\"persons\":[{\"role\":\"PERSON_ROLE_SUSPECT\",\"givenName\":\"Kees\"}]}";
	const struct codec_type *t;
	ProtobufCMessage *m;
	struct codec_pathset S, K, R;
	char err[KETEN_ERRLEN], *out, *k, msg[800];
	size_t n1, n2;
	uint8_t *b1, *b2;
	bool ok;

	setup_codec();
	t = type_named("CaseSignal");
	if (!role_partitioned(t))
		skip();
	m = from_json_ok(t, in, strlen(in), in);
	codec_pathset_clear(&S);
	assert_int_equal(codec_pathset_add(t, &S, "persons[suspect].given_name", err), 0);
	codec_filter(t, m, &S, &R);
	codec_pathset_close(t, &S);	/* the role travels with the name */
	codec_paths(t, m, &K);
	out = to_json_ok(t, m);
	k = set_str(t, &K);
	b1 = pack(m, &n1);
	codec_filter(t, m, &S, &R);
	b2 = pack(m, &n2);
	ok = codec_pathset_subset(&K, &S) && same_bytes(b1, n1, b2, n2);
	snprintf(msg, sizeof(msg), "%s filtered to [persons[suspect].given_name] gives %s with "
	    "paths [%s]%s", in, out, k, same_bytes(b1, n1, b2, n2) ? "" :
	    "; a second filter changes it again");
	free(out);
	free(k);
	free(b1);
	free(b2);
	codec_free(m);
	if (!ok)
		fail_msg("%s", msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_registry),
		cmocka_unit_test(test_corpus_roundtrip),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_repeated_limit),
		cmocka_unit_test(test_noncanonical_input),
		cmocka_unit_test(test_paths_carwash),
		cmocka_unit_test(test_pathset_add),
		cmocka_unit_test(test_random_messages),
		cmocka_unit_test(test_corpus_filter),
		cmocka_unit_test(test_filter_examples),
		cmocka_unit_test(test_validate_unpacked),
		cmocka_unit_test(test_repeated_string_wrong_type),
		cmocka_unit_test(test_duplicate_field_alias),
		cmocka_unit_test(test_error_message_utf8),
		cmocka_unit_test(test_filter_drops_unknown_fields),
		cmocka_unit_test(test_filter_keeps_country_with_foreign_address),
		cmocka_unit_test(test_filter_keeps_role),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
