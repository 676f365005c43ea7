/*
 * The broker's gate (broker/gate.c) on real submissions from the agent's
 * outbound_prepare (tests/unit/msgutil.h), with a real LMDB store: a good
 * one is accepted with the fields the policy allows; each way a sender or a
 * forger can get it wrong is refused with its own code and a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/gate.h"
#include "broker/queue.h"
#include "common/db.h"
#include "ledger/ledger.h"
#include "tests/unit/msgutil.h"

static MDB_env *env;
static struct queue *queue;
static struct ledger *ledger;
static char dir[] = "/tmp/keten-test-gate-XXXXXX";
static const int64_t SKEW = 300000;

static int
setup(void **state)
{
	char err[KETEN_ERRLEN];

	(void)state;
	if (mu_setup() != 0 || mkdtemp(dir) == NULL || db_env_open(dir, 16, 16, &env, err) != 0 ||
	    queue_open(env, &queue, err) != 0 || ledger_open(env, "test/ledger", &ledger, err) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[64];

	(void)state;
	ledger_free(&ledger);
	queue_free(&queue);
	mdb_env_close(env);
	mu_teardown();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* The gate's verdict on s as sent by agency `from`, at the submission's own
 * time (or at judge_now, when a test sets created_ms to something else). */
static int64_t judge_now;

static int
judge(const Keten__Wire__V1__Submit *s, const char *from, struct gate_verdict *v)
{
	MDB_txn *txn;
	int rc;

	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	rc = gate_check(mu_dir, mu_policy, queue, ledger, txn, directory_find(mu_dir, from), s, NULL,
	    judge_now ? judge_now : s->header->created_ms + 10, SKEW, v);
	mdb_txn_abort(txn);
	return rc;
}

static struct outbound *
signal_to_municipality(void)
{
	struct outbound *ob = mu_prepare("nla", "gemeente-amsterdam", NULL, "CaseSignal",
	    "victim-care", "demo/messages/nla_signal.json");
	assert_non_null(ob);
	return ob;
}

static void
test_accepted(void **state)
{
	static struct gate_verdict v;
	struct outbound *ob = signal_to_municipality();
	const struct codec_type *t = codec_type_find("CaseSignal");

	(void)state;
	assert_int_equal(judge(&ob->submit, "nla", &v), 0);
	assert_true(v.dec[0].permitted);
	/* the possible victims' names are allowed, the suspect's are not */
	assert_true(codec_pathset_has(&v.dec[0].allowed,
	    (size_t)codec_type_path_index(t, "persons[possible_victim].given_name")));
	assert_false(codec_pathset_has(&v.dec[0].allowed,
	    (size_t)codec_type_path_index(t, "persons[suspect].given_name")));
	outbound_free(&ob);
}

static void
test_refused(void **state)
{
	static struct gate_verdict v;
	struct outbound *ob = signal_to_municipality();
	Keten__Wire__V1__Submit *s = &ob->submit;
	Keten__Wire__V1__Copy *c = s->copies[0];

	(void)state;
	/* sent over politie's connection, though the header says nla */
	assert_int_equal(judge(s, "politie", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED);
	assert_non_null(strstr(v.reason, "authenticated as politie"));
	/* a signature byte flipped */
	s->signature.data[5] ^= 1;
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_SIGNATURE);
	s->signature.data[5] ^= 1;
	assert_int_equal(judge(s, "nla", &v), 0);
	/* the manifest widened to the suspect: the signature covers it */
	char **old = c->manifest, *wider[CODEC_MAX_PATHS];
	size_t n = c->n_manifest;
	memcpy(wider, old, n * sizeof(*old));
	wider[n] = "persons[suspect].given_name";
	c->manifest = wider;
	c->n_manifest = n + 1;
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_SIGNATURE);
	/* a manifest naming one path many times, signed by its sender: a ledger
	 * entry as big as the sender likes, were it let through */
	char *dup[64];
	for (size_t k = 0; k < 64; k++)
		dup[k] = old[0];
	c->manifest = dup;
	c->n_manifest = 64;
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	assert_non_null(strstr(v.reason, "twice"));
	c->manifest = old;
	c->n_manifest = n;
	mu_resign(ob, "nla");
	/* created an hour ahead of the broker's clock */
	struct gate_verdict *vp = &v;
	MDB_txn *txn;
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(gate_check(mu_dir, mu_policy, queue, ledger, txn, directory_find(mu_dir, "nla"),
	    s, NULL, s->header->created_ms - 3600000, SKEW, vp),
	    KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK);
	mdb_txn_abort(txn);
	/* extreme values in a signed header: refused for what they are, before
	 * the signature (a negative enum has no agreed digest) */
	int64_t created = s->header->created_ms;
	judge_now = created + 10;
	int64_t bad_times[] = { 0, -1, INT64_MIN, 1000 };
	for (size_t k = 0; k < sizeof(bad_times) / sizeof(bad_times[0]); k++) {
		s->header->created_ms = bad_times[k];
		mu_resign(ob, "nla");
		assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
		assert_non_null(strstr(v.reason, "before 2020-01-01"));
	}
	s->header->created_ms = INT64_MAX;
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_CLOCK);
	s->header->created_ms = created;
	judge_now = 0;
	s->header->handling = (Keten__Envelope__V1__HandlingLabel)-1;
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	assert_non_null(strstr(v.reason, "handling label -1"));
	s->header->handling = KETEN__ENVELOPE__V1__HANDLING_LABEL__HANDLING_LABEL_TLP_AMBER;
	uint8_t id[16], *idp = s->header->message_id.data;
	memcpy(id, idp, sizeof(id));
	memset(idp, 0, 16);	/* the nil UUID */
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	assert_non_null(strstr(v.reason, "UUIDv7"));
	idp[6] = 0x40, idp[8] = 0x80;	/* a v4 UUID */
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	memcpy(idp, id, sizeof(id));
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), 0);
	/* strings the ledger would keep, longer than any a header needs */
	char longp[ENV_NAMEMAX + 2], *purpose = s->header->purpose;
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	s->header->purpose = longp;
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	assert_non_null(strstr(v.reason, "longer than 128 bytes"));
	s->header->purpose = purpose;
	mu_resign(ob, "nla");
	assert_int_equal(judge(s, "nla", &v), 0);
	/* no copies */
	s->n_copies = 0;
	assert_int_equal(judge(s, "nla", &v), KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED);
	s->n_copies = 1;
	outbound_free(&ob);
}

/* A sender whose policy allows more than the broker's (a forged copy) is refused by policy. */
static void
test_policy_refusal(void **state)
{
	static struct gate_verdict v;
	struct outbound *ob = mu_prepare("politie", "om", NULL, "CaseReferral", "prosecution",
	    "demo/messages/politie_referral.json");

	(void)state;
	assert_non_null(ob);
	assert_int_equal(judge(&ob->submit, "politie", &v), 0);
	/* the same envelope for another purpose is not what it was signed for */
	char *purpose = ob->submit.header->purpose;
	ob->submit.header->purpose = "victim-care";
	assert_int_not_equal(judge(&ob->submit, "politie", &v), 0);
	ob->submit.header->purpose = purpose;
	outbound_free(&ob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_policy_refusal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
