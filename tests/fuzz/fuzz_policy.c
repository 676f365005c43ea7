/*
 * libFuzzer target: the policy compiler on arbitrary YAML, against the
 * example directory (policy/directory.example.yaml, run from the repository
 * root).  A policy that compiles is evaluated for every agency pair and type.
 */
#include <stdint.h>
#include <stdlib.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct directory *dir;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[KETEN_ERRLEN];
	struct policy *p = NULL;

	if (dir == NULL && directory_load("policy/directory.example.yaml", &dir, err) != 0)
		abort();	/* run from the repository root */
	if (policy_parse("fuzz.yaml", data, size, dir, &p, err) != 0)
		return 0;
	for (size_t s = 0; s < policy_nagencies(p); s++)
		for (size_t r = 0; r < policy_nagencies(p); r++)
			for (size_t t = 0; t < codec_type_count(); t++) {
				struct policy_decision d;
				struct policy_request rq = {
					.sender = policy_agency(p, s), .recipient = policy_agency(p, r),
					.type = codec_type_at(t),
					.purpose = policy_npurposes(p) ? policy_purpose(p, 0) : "x",
				};
				policy_eval(p, &rq, NULL, &d);
				if (d.permitted && codec_pathset_empty(&d.allowed))
					abort();
			}
	policy_free(&p);
	return 0;
}
