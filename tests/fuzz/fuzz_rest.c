/*
 * libFuzzer target: the JSON body of the agent's POST /v1/messages
 * (agent/rest_api.c rest_post_message and build_submit), through to what the agent
 * does with each submission it is handed (agent/outbound.c outbound_prepare:
 * the case message decoded and filtered under the shipped policy, sealed
 * and signed with the fixed fuzz keys of "nla").  rest.c is included, not
 * linked: its request parsing is static to it.  Run from the repository
 * root (the policy and directory files).
 */
#include "agent/rest.c"
#include "agent/rest_api.c"
#include "agent/rest_guard.c"

#include "agent/outbound.h"
#include "tests/fuzz/fuzzkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct directory *fdir;
static struct policy *fpol;
static struct keten_keys nla;

static int
yes(void *arg, const struct policy_request *rq, const struct policy_rule_info *r)
{
	(void)arg, (void)rq, (void)r;
	return 1;
}

/* As the agent takes a LocalRequest off its control socket. */
static void
agent_submit(const Keten__Local__V1__LocalSubmit *ls0)
{
	static const uint8_t netkey[32] = { 1, 2, 3 };
	Keten__Local__V1__LocalRequest lr = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT, *req;
	struct outbound_keys k = { fdir, &nla, netkey, NULL, NULL };
	struct policy_ledger pl = { yes, yes, NULL };
	struct outbound *ob = NULL;
	char err[KETEN_ERRLEN];
	size_t n;
	uint8_t *buf;

	lr.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_SUBMIT;
	lr.submit = (Keten__Local__V1__LocalSubmit *)ls0;
	n = keten__local__v1__local_request__get_packed_size(&lr);
	if ((buf = malloc(n ? n : 1)) == NULL)
		return;
	keten__local__v1__local_request__pack(&lr, buf);
	if ((req = keten__local__v1__local_request__unpack(NULL, n, buf)) == NULL)
		abort();	/* what the API packs, the agent must read */
	free(buf);
	const Keten__Local__V1__LocalSubmit *ls = req->submit;
	bool valid = ls->n_recipients > 0 && ls->n_recipients <= 64 && ls->message_type[0] != '\0' &&
	    strlen(ls->message_type) <= 128;	/* agent.c local_submit_valid */
	for (size_t i = 0; valid && i < ls->n_recipients; i++)
		valid = agency_id_valid(ls->recipients[i]);
	if (valid)
		outbound_prepare(fpol, "nla", &pl, &k, ls, 1 << 20, NULL, &ob, err);
	outbound_free(&ob);	/* also a refusal's header and decisions */
	keten__local__v1__local_request__free_unpacked(req, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[KETEN_ERRLEN];
	json_error_t je;
	json_t *j;

	if (fdir == NULL) {
		if (sodium_init() < 0 || codec_init() != 0 || (fdir = fuzz_directory()) == NULL ||
		    policy_load("policy/stm.yaml", fdir, &fpol, err) != 0)
			abort();	/* run from the repository root */
		fuzzkeys("nla", &nla);
	}
	/* post_message: one submission or a batch, each checked before any is sent */
	if ((j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return 0;
	bool batch = json_is_array(j);
	size_t n = batch ? json_array_size(j) : 1;
	struct submit_buf *sb;
	if ((batch && (n == 0 || n > BATCH_MAX)) || (sb = calloc(n, sizeof(*sb))) == NULL) {
		json_decref(j);
		return 0;
	}
	size_t ok = 0;
	for (; ok < n; ok++) {
		const char *why, *bad = build_submit(batch ? json_array_get(j, ok) : j, &sb[ok], &why);
		if (bad != NULL) {
			if (bad[0] != '$' || why == NULL)
				abort();
			free(sb[ok].payload);
			break;
		}
	}
	for (size_t i = 0; i < ok; i++) {
		if (ok == n)
			agent_submit(&sb[i].ls);
		free(sb[i].payload);
	}
	free(sb);
	json_decref(j);
	return 0;
}
