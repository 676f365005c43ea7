/*
 * Unit tests of broker/verify.c: a job gives what the gate would compute
 * itself (envelope check, copy digests, ciphertext hashes), for good and
 * tampered submissions and for a rotating sender's previous key; the
 * verifier's threads and the loop's own thread together do every queued job
 * once, in any interleaving, and verifier_need() always returns a done job.
 */
#include "tests/unit/testutil.h"

#include <sodium.h>

#include "broker/verify.h"
#include "common/envelope.h"
#include "common/util.h"

#define NR 3
#define NJOBS 400

/* A signed submission for NR recipients, with storage for every field. */
struct sub {
	uint8_t sign_pk[32], sign_sk[64], eph_pk[32], eph_sk[32];
	uint8_t msgid[16], pseud[32], hd[32], cd[NR][32], ed[32], sig[64];
	char rcpt[NR][24], *rp[NR];
	char *man[1];
	Keten__Envelope__V1__Header h;
	Keten__Wire__V1__Copy c[NR], *cp[NR];
	Keten__Wire__V1__Submit s;
};

static void
sub_make(struct sub *x, int variant)
{
	static const char content[] = "synthetic case content for the verifier's tests";

	memset(x, 0, sizeof(*x));
	crypto_sign_ed25519_keypair(x->sign_pk, x->sign_sk);
	crypto_box_keypair(x->eph_pk, x->eph_sk);
	randombytes_buf(x->msgid, sizeof(x->msgid));
	randombytes_buf(x->pseud, sizeof(x->pseud));
	keten__envelope__v1__header__init(&x->h);
	x->h.message_id = (ProtobufCBinaryData){ 16, x->msgid };
	x->h.case_pseudonym = (ProtobufCBinaryData){ 32, x->pseud };
	x->h.sender = (char *)"politie";
	x->h.message_type = (char *)"keten.case.v1.CaseSignal";
	x->h.purpose = (char *)"victim-care";
	x->h.legal_basis = (char *)"wpg-art-19";
	x->h.policy_version = (char *)"test";
	x->h.created_ms = 1764547200000 + variant;
	x->man[0] = (char *)"reference";
	for (int i = 0; i < NR; i++) {
		snprintf(x->rcpt[i], sizeof(x->rcpt[i]), "gemeente-%d", i);
		x->rp[i] = x->rcpt[i];
		keten__wire__v1__copy__init(&x->c[i]);
		x->c[i].recipient = x->rcpt[i];
		x->c[i].manifest = x->man;
		x->c[i].n_manifest = 1;
		x->cp[i] = &x->c[i];
	}
	x->h.recipients = x->rp;
	x->h.n_recipients = NR;
	envelope_header_digest(x->hd, &x->h);
	for (int i = 0; i < NR; i++) {
		uint8_t rpk[32], rsk[32], nonce[ENV_NONCEBYTES];
		crypto_box_keypair(rpk, rsk);
		randombytes_buf(nonce, sizeof(nonce));
		assert_int_equal(envelope_seal(&x->c[i], x->hd, x->eph_sk, x->eph_pk, rpk, nonce,
		    (const uint8_t *)content, sizeof(content)), 0);
		envelope_copy_digest(x->cd[i], &x->c[i]);
	}
	envelope_digest(x->ed, x->hd, x->eph_pk, (const uint8_t (*)[32])x->cd, NR);
	envelope_sign(x->sig, x->ed, x->sign_sk);
	keten__wire__v1__submit__init(&x->s);
	x->s.header = &x->h;
	x->s.copies = x->cp;
	x->s.n_copies = NR;
	x->s.ephemeral_key = (ProtobufCBinaryData){ 32, x->eph_pk };
	x->s.signature = (ProtobufCBinaryData){ 64, x->sig };
}

static void
sub_free(struct sub *x)
{
	for (int i = 0; i < NR; i++) {
		free(x->c[i].payload.data);
		free(x->c[i].nonce.data);
	}
}

static void
job_for(struct verify_job *j, const struct sub *x, const uint8_t *pk)
{
	memset(j, 0, sizeof(*j));
	j->s = &x->s;
	memcpy(j->pk, pk, 32);
}

/* What the gate would compute itself, against a job's results. */
static void
assert_job_matches(const struct verify_job *j, const struct sub *x, int erc)
{
	assert_true(j->done);
	assert_int_equal(j->erc, erc);
	for (int i = 0; i < NR; i++) {
		uint8_t cth[32];
		assert_memory_equal(j->digests[i], x->cd[i], 32);
		crypto_hash_sha256(cth, x->c[i].payload.data, x->c[i].payload.len);
		assert_memory_equal(j->cth[i], cth, 32);
	}
}

static void
test_job_good_and_tampered(void **state)
{
	struct sub x;
	struct verify_job j;
	(void)state;

	sub_make(&x, 0);
	job_for(&j, &x, x.sign_pk);
	verify_job_run(&j);
	assert_job_matches(&j, &x, 0);
	assert_int_equal(envelope_verify_submit(&x.s, x.sign_pk, (uint8_t (*)[32])j.digests), 0);
	verify_job_clear(&j);
	assert_null(j.digests);

	x.sig[10] ^= 1;	/* a flipped signature bit */
	job_for(&j, &x, x.sign_pk);
	verify_job_run(&j);
	assert_job_matches(&j, &x, ENV_BAD_SIGNATURE);
	assert_int_equal(j.erc_prev, ENV_BAD_LENGTH);	/* no previous key: not tried */
	verify_job_clear(&j);
	x.sig[10] ^= 1;

	x.c[1].payload.data[5] ^= 1;	/* a changed ciphertext: its digest changes */
	job_for(&j, &x, x.sign_pk);
	verify_job_run(&j);
	assert_true(j.done);
	assert_int_equal(j.erc, ENV_BAD_SIGNATURE);
	assert_memory_not_equal(j.digests[1], x.cd[1], 32);
	verify_job_clear(&j);
	x.c[1].payload.data[5] ^= 1;

	x.s.ephemeral_key.len = 31;	/* malformed: no digests, the gate refuses it */
	job_for(&j, &x, x.sign_pk);
	verify_job_run(&j);
	assert_false(j.done);
	assert_int_equal(j.erc, ENV_BAD_LENGTH);
	assert_null(j.digests);
	x.s.ephemeral_key.len = 32;
	sub_free(&x);
}

/* A sender rotating its key: signed with the previous one, still in the directory. */
static void
test_job_previous_key(void **state)
{
	struct sub x;
	struct verify_job j;
	uint8_t new_pk[32], new_sk[64];
	(void)state;

	sub_make(&x, 1);
	crypto_sign_ed25519_keypair(new_pk, new_sk);
	job_for(&j, &x, new_pk);
	j.has_prev = true;
	memcpy(j.prev_pk, x.sign_pk, 32);
	verify_job_run(&j);
	assert_job_matches(&j, &x, ENV_BAD_SIGNATURE);
	assert_int_equal(j.erc_prev, 0);
	verify_job_clear(&j);
	sub_free(&x);
}

/* Many jobs through the threads: each done once, results as inline. */
static void
test_verifier_threads(void **state)
{
	static struct sub x[NJOBS];
	static struct verify_job j[NJOBS];
	struct verifier *v;
	(void)state;

	for (int n = 1; n <= 3; n++) {
		assert_int_equal(verifier_new((unsigned)n, &v), 0);
		assert_int_equal(verifier_threads(v), (unsigned)n);
		for (int i = 0; i < NJOBS; i++) {
			sub_make(&x[i], i);
			if (i % 7 == 3)
				x[i].sig[0] ^= 0x80;	/* some do not verify */
			job_for(&j[i], &x[i], x[i].sign_pk);
			if (i % 11 != 5)	/* some are never queued: the loop does them */
				verifier_push(v, &j[i]);
		}
		for (int i = 0; i < NJOBS; i++) {	/* the loop's order */
			verifier_need(v, &j[i]);
			assert_job_matches(&j[i], &x[i], i % 7 == 3 ? ENV_BAD_SIGNATURE : 0);
		}
		verifier_free(&v);
		for (int i = 0; i < NJOBS; i++) {
			verify_job_clear(&j[i]);
			sub_free(&x[i]);
		}
	}
	/* 0 threads asks for one fewer than the CPUs, at least one */
	assert_int_equal(verifier_new(0, &v), 0);
	assert_true(verifier_threads(v) >= 1 && verifier_threads(v) <= 4);
	verifier_free(&v);
}

/* Stopping with jobs queued and not begun: they are left undone, nothing breaks. */
static void
test_verifier_free_with_queue(void **state)
{
	static struct sub x[64];
	static struct verify_job j[64];
	struct verifier *v;
	(void)state;

	assert_int_equal(verifier_new(1, &v), 0);
	for (int i = 0; i < 64; i++) {
		sub_make(&x[i], i);
		job_for(&j[i], &x[i], x[i].sign_pk);
		verifier_push(v, &j[i]);
	}
	verifier_free(&v);
	assert_null(v);
	/* each job was either done whole (right results) or left untouched */
	int undone = 0;
	for (int i = 0; i < 64; i++) {
		if (j[i].done) {
			assert_job_matches(&j[i], &x[i], 0);
		} else {
			assert_null(j[i].digests);
			assert_null(j[i].cth);
			undone++;
		}
	}
	/* the loop does the undone ones itself, as it would after a stop */
	for (int i = 0; i < 64; i++) {
		if (!j[i].done)
			verify_job_run(&j[i]);
		assert_job_matches(&j[i], &x[i], 0);
		verify_job_clear(&j[i]);
		sub_free(&x[i]);
	}
	print_message("# %d of 64 queued jobs were left undone at the stop\n", undone);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_good_and_tampered),
		cmocka_unit_test(test_job_previous_key),
		cmocka_unit_test(test_verifier_threads),
		cmocka_unit_test(test_verifier_free_with_queue),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
