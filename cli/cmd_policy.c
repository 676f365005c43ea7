/*
 * keten policy: the privacy officer's tools (docs/policy.md).
 *
 *   lint     compile a policy and warn about rules that are shadowed or can
 *            never match, fields nobody receives, unused bases and
 *            purposes, wildcard grants
 *   explain  one decision, field by field: granted by which rule, or
 *            withheld and why
 *   test     run expectation files (policy/tests/NAME.yaml) and report rule
 *            coverage
 *   diff     what each sender -> recipient pair gains or loses between two
 *            policy versions, and which rules changed
 *   matrix   who may send what to whom: per pair, type and purpose the
 *            fields, the permit rules with their bases, the forbid rules
 *
 * Everything here goes through policy/policy.h: the tools compile with
 * policy_load and learn what a rule does by evaluating it (policy_eval over
 * agency pairs, types, purposes and attribute combinations), by
 * policy_rule_covers and by policy_why_withheld.
 */
#include "cli/policy_common.h"

int
cmd_policy(int argc, char **argv)
{
	if (codec_init() != 0) {
		fprintf(stderr, "keten policy: schema tables could not be built\n");
		return EXIT_FAIL;
	}
	if (argc < 2)
		return policy_usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return policy_usage(stdout);
	if (cli_wants_help(argc, argv, 2))
		return cli_usage_verb("policy", policy_usage, argv[1], "each also takes --directory "
		    "FILE and --format text|json; docs/policy.md");
	if (strcmp(argv[1], "lint") == 0)
		return cmd_policy_lint(argc, argv);
	if (strcmp(argv[1], "explain") == 0)
		return cmd_policy_explain(argc, argv);
	if (strcmp(argv[1], "test") == 0)
		return cmd_policy_test(argc, argv);
	if (strcmp(argv[1], "diff") == 0)
		return cmd_policy_diff(argc, argv);
	if (strcmp(argv[1], "matrix") == 0)
		return cmd_policy_matrix(argc, argv);
	if (strcmp(argv[1], "shadow") == 0)
		return cmd_policy_shadow(argc, argv);
	if (strcmp(argv[1], "approve") == 0 || strcmp(argv[1], "approvals") == 0)
		return cli_trust_kind("policy", argc - 1, argv + 1);
	fprintf(stderr, "keten policy: unknown subcommand \"%s\"\n", argv[1]);
	return policy_usage(stderr);
}
