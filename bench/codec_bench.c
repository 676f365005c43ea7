/*
 * Codec benchmark: JSON -> protobuf, protobuf -> JSON, paths and filter on a
 * CaseSignal, against jansson's own parse of the same document measured in
 * the same run.  Prints ops/s and ns/op (median of 5 rounds).
 * usage: codec_bench FILE.json [TYPE]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "schemas/codec.h"

#define ROUNDS 5

static const struct codec_type *T;
static char *json;
static size_t json_len;
static uint8_t *pb;
static size_t pb_len;
static struct codec_pathset allowed;
static volatile size_t sink;

static void
op_jansson(void)
{
	json_error_t e;
	json_t *j = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &e);
	sink += j != NULL;
	json_decref(j);
}

static void
op_from_json(void)
{
	char err[KETEN_ERRLEN];
	ProtobufCMessage *m;
	if (codec_from_json(T, json, json_len, &m, err) != 0)
		abort();
	codec_free(m);
}

static ProtobufCMessage *shared;

static void
op_to_json(void)
{
	char *s;
	if (codec_to_json(T, shared, &s) != 0)
		abort();
	sink += strlen(s);
	free(s);
}

static void
op_unpack(void)
{
	ProtobufCMessage *m = codec_unpack(T, pb, pb_len);
	codec_free(m);
}

static void
op_unpack_paths_filter(void)
{
	struct codec_pathset p, removed;
	ProtobufCMessage *m = codec_unpack(T, pb, pb_len);
	codec_paths(T, m, &p);
	codec_filter(T, m, &allowed, &removed);
	sink += p.w[0] + removed.w[0];
	codec_free(m);
}

static void
op_paths(void)
{
	struct codec_pathset p;
	codec_paths(T, shared, &p);
	sink += p.w[0];
}

/* ns per op, median of ROUNDS rounds of n ops */
static double
measure(void (*op)(void), long n)
{
	double r[ROUNDS];

	for (long i = 0; i < n / 10; i++)
		op();
	for (int k = 0; k < ROUNDS; k++) {
		double t0 = now();
		for (long i = 0; i < n; i++)
			op();
		r[k] = (now() - t0) / (double)n * 1e9;
	}
	qsort(r, ROUNDS, sizeof(r[0]), cmp);
	return r[ROUNDS / 2];
}

static void
row(const char *what, double ns)
{
	printf("%-34s %10.0f ops/s %9.2f us/op\n", what, 1e9 / ns, ns / 1000);
}

int
main(int argc, char **argv)
{
	char err[KETEN_ERRLEN];
	FILE *f;

	if (argc < 2 || codec_init() != 0)
		return 2;
	T = codec_type_find(argc > 2 ? argv[2] : "CaseSignal");
	if ((f = fopen(argv[1], "rb")) == NULL)
		return 2;
	json = malloc(1 << 20);
	json_len = fread(json, 1, 1 << 20, f);
	fclose(f);
	if (codec_from_json(T, json, json_len, &shared, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pb_len = protobuf_c_message_get_packed_size(shared);
	pb = malloc(pb_len);
	protobuf_c_message_pack(shared, pb);
	/* what a municipality's care coordinator might be allowed: no suspects' ids, no vehicles */
	const char *grant[] = { "reference", "exploitation_forms", "sector", "indicators",
		"location.municipality", "persons.role", "persons.given_name", "persons.family_name",
		"persons.birth_year", "persons.nationality", "persons.languages", "companies.name",
		"companies.kvk_number" };
	for (size_t i = 0; i < sizeof(grant) / sizeof(grant[0]); i++)
		codec_pathset_add(T, &allowed, grant[i], err);

	printf("document: %s, %zu bytes JSON, %zu bytes protobuf, type %s\n", argv[1], json_len,
	    pb_len, codec_type_name(T));
	double jn = measure(op_jansson, 20000);
	double fj = measure(op_from_json, 20000);
	double tj = measure(op_to_json, 20000);
	double up = measure(op_unpack, 100000);
	double upf = measure(op_unpack_paths_filter, 100000);
	double pa = measure(op_paths, 1000000);
	row("jansson parse (baseline)", jn);
	row("JSON -> protobuf (parse+validate)", fj);
	printf("  = %.2fx the JSON library's own parse (target <= 2x)\n", fj / jn);
	row("protobuf -> JSON", tj);
	row("protobuf unpack", up);
	row("paths", pa);
	row("paths + filter (excl. unpack)", upf - up);
	printf("  target: paths + filter under 2 us per message: %s\n",
	    upf - up < 2000 ? "met" : "NOT met");
	codec_free(shared);
	free(pb);
	free(json);
	return sink == 0xdeadbeef;
}
