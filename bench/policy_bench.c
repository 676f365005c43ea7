/*
 * Policy benchmark: compile a generated 1,000-rule policy over 50 agencies
 * and measure evaluations per second on one core (target: >= 1,000,000).
 * Requests are a mix that hits rule buckets (most) and misses them (some),
 * with attributes that make `when` conditions pass and fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/directory.h"
#include "common/keys.h"
#include "policy/policy.h"

#define NAG 50
#define NRULES 1000
#define NREQ 4096
#define ROUNDS 5

int
main(void)
{
	static const char *const kinds[] = { "police", "prosecution", "labour-inspectorate",
		"municipality", "care" };
	static const char *const forms[] = { "SEXUAL", "LABOUR", "CRIMINAL" };
	char dirpath[] = "/tmp/keten-bench-XXXXXX", path[4200], err[KETEN_ERRLEN];
	char ids[NAG][16];
	struct directory *dir;
	struct policy *p;
	FILE *f;

	if (mkdtemp(dirpath) == NULL || codec_init() != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/directory.yaml", dirpath);
	f = fopen(path, "w");
	fprintf(f, "version: 1\nagencies:\n");
	for (int i = 0; i < NAG; i++) {
		struct keten_keys *k;
		snprintf(ids[i], sizeof(ids[i]), "agency-%02d", i);
		keys_generate(ids[i], &k, err);
		char *pub = keys_public_yaml(k);
		fprintf(f, "%s    kind: %s\n", pub, kinds[i % 5]);
		free(pub);
		keys_free(&k);
	}
	fclose(f);
	if (directory_load(path, &dir, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/policy.yaml", dirpath);
	f = fopen(path, "w");
	fprintf(f, "policy: bench\nversion: \"1\"\npurposes:\n");
	for (int i = 0; i < 10; i++)
		fprintf(f, "  purpose-%d: {description: purpose %d}\n", i, i);
	fprintf(f, "bases:\n  basis-0: {citation: illustrative}\nrules:\n");
	for (int i = 0; i < NRULES; i++) {
		const struct codec_type *t = codec_type_at((size_t)i % codec_type_count());
		const char *tn = strrchr(codec_type_name(t), '.') + 1;
		if (i % 20 == 19) {
			fprintf(f, "  - forbid: f%d\n    from: \"*\"\n    to: %s\n    type: %s\n"
			    "    fields: [\"%s\"]\n", i, ids[(i * 7 + 3) % NAG], tn,
			    codec_type_path(t, (size_t)i % codec_type_npaths(t)));
			continue;
		}
		fprintf(f, "  - permit: r%d\n    from: %s\n    to: %s\n    type: %s\n"
		    "    purpose: purpose-%d\n    basis: basis-0\n    fields: [", i, ids[i % NAG],
		    ids[(i * 7 + 3) % NAG], tn, i % 10);
		for (size_t k = 0; k < 6; k++)
			fprintf(f, "%s\"%s\"", k ? ", " : "",
			    codec_type_path(t, ((size_t)i * 13 + k * 5) % codec_type_npaths(t)));
		fprintf(f, "]\n");
		if (i % 3 == 0)
			fprintf(f, "    when: {exploitation_form: [%s], handling: [GREEN, AMBER]}\n",
			    forms[i % 3]);
		else if (i % 5 == 0)
			fprintf(f, "    when: {minor: false}\n");
	}
	fclose(f);
	double t0 = now();
	if (policy_load(path, dir, &p, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double compile_ms = (now() - t0) * 1000;

	static struct policy_request rq[NREQ];
	static int fv[3] = { 1, 2, 3 };
	static char purposes[10][16];
	for (int i = 0; i < 10; i++)
		snprintf(purposes[i], sizeof(purposes[i]), "purpose-%d", i);
	unsigned x = 12345;
	for (int i = 0; i < NREQ; i++) {
		x = x * 1103515245 + 12345;
		int ri = (int)(x >> 8) % NRULES;
		bool miss = (x >> 4) % 10 == 0;
		rq[i].sender = ids[miss ? (ri + 1) % NAG : ri % NAG];
		rq[i].recipient = ids[(ri * 7 + 3) % NAG];
		rq[i].type = codec_type_at((size_t)ri % codec_type_count());
		rq[i].purpose = purposes[(x >> 12) % 4 == 0 ? (ri + 1) % 10 : ri % 10];
		rq[i].forms = &fv[(x >> 16) % 3];
		rq[i].nforms = 1;
		rq[i].minor = (x >> 20) % 4 == 0;
		rq[i].handling = 3;
	}
	long n = 1000000, permitted = 0;
	double r[ROUNDS];
	for (int k = 0; k < ROUNDS; k++) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			struct policy_decision d;
			policy_eval(p, &rq[i % NREQ], NULL, &d);
			permitted += d.permitted;
		}
		r[k] = (double)n / (now() - t0);
	}
	qsort(r, ROUNDS, sizeof(r[0]), cmp);
	printf("policy: %d rules (%d forbid) over %d agencies, compiled in %.1f ms\n", NRULES,
	    NRULES / 20, NAG, compile_ms);
	printf("evaluations              %10.0f /s on one core (median of %d x %ld; %.0f%% permitted)\n",
	    r[ROUNDS / 2], ROUNDS, n, 100.0 * (double)permitted / (double)(n * ROUNDS));
	printf("  = %.2f us per evaluation; target >= 1,000,000/s: %s\n", 1e6 / r[ROUNDS / 2],
	    r[ROUNDS / 2] >= 1e6 ? "met" : "NOT met");
	policy_free(&p);
	directory_free(&dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/directory.yaml", dirpath);
	unlink(path);
	rmdir(dirpath);
	return 0;
}
