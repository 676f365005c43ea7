/*
 * Envelope benchmark: what sealing, signing, verifying and opening a keten
 * envelope (common/envelope.c) cost per message, next to libsodium's raw
 * primitive rates measured in the same run.  Content is 1 KiB; each figure
 * is the median of 5 rounds on one core.
 *
 *   seal N      what a sending agent does per message for N recipients: a
 *               fresh ephemeral X25519 key pair, the header digest, per
 *               recipient X25519 + BLAKE2b KDF + XChaCha20-Poly1305 of 1 KiB
 *               and the copy digest, the envelope digest and the Ed25519
 *               signature
 *   sign        the signing step alone for 3 copies: copy digests, envelope
 *               digest, Ed25519
 *   verify N    envelope_verify_submit for N copies: the broker's check
 *   deliver     envelope_verify_deliver for one copy of 3: a recipient's check
 *   open        header digest + envelope_open of one 1 KiB copy
 *
 * usage: envelope_bench [seconds per round, default 0.25]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "common/envelope.h"

#define ROUNDS 5
#define CONTENT_LEN 1024
#define NR 3

static double round_s = 0.25;
static volatile uint8_t sink;

/* Median over ROUNDS of operations per second; each round runs >= round_s. */
static double
measure(void (*op)(void))
{
	double rate[ROUNDS];

	for (int i = 0; i < 16; i++)	/* warm up */
		op();
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now(), t;
		long n = 0;
		do {
			for (int i = 0; i < 16; i++)
				op();
			n += 16;
		} while ((t = now() - t0) < round_s);
		rate[r] = (double)n / t;
	}
	qsort(rate, ROUNDS, sizeof(rate[0]), cmp);
	return rate[ROUNDS / 2];
}

/* ---- the message ---------------------------------------------------------- */

static uint8_t content[CONTENT_LEN];
static uint8_t sign_pk[32], sign_sk[64], rpk[NR][32], rsk[NR][32];
static char *rcpt[NR] = { "gemeente-amsterdam", "om", "inspectie-szw" };
static char *man[] = { "reference", "observed_on", "persons[possible_victim].given_name" };
static Keten__Case__V1__ExploitationForm forms[] = {
	KETEN__CASE__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR,
};
static uint8_t msgid[16], pseud[32];
static Keten__Envelope__V1__Attributes attrs = KETEN__ENVELOPE__V1__ATTRIBUTES__INIT;
static Keten__Envelope__V1__Header hdr = KETEN__ENVELOPE__V1__HEADER__INIT;

/* A sealed, signed message kept for the verify and open benchmarks. */
static uint8_t m_eph_pk[32], m_hd[32], m_sig[64], m_cd[NR][32];
static Keten__Wire__V1__Copy m_c[NR], *m_cp[NR];
static Keten__Wire__V1__Submit m_s1 = KETEN__WIRE__V1__SUBMIT__INIT;
static Keten__Wire__V1__Submit m_s3 = KETEN__WIRE__V1__SUBMIT__INIT;
static uint8_t m1_sig[64];
static ProtobufCBinaryData m_list[NR];
static Keten__Wire__V1__Deliver m_d = KETEN__WIRE__V1__DELIVER__INIT;

static void
setup(void)
{
	uint8_t eph_sk[32], nonce[24], ed[32];

	randombytes_buf(content, sizeof(content));
	crypto_sign_ed25519_keypair(sign_pk, sign_sk);
	for (int k = 0; k < NR; k++)
		crypto_box_keypair(rpk[k], rsk[k]);
	randombytes_buf(msgid, sizeof(msgid));
	randombytes_buf(pseud, sizeof(pseud));
	attrs.n_exploitation_forms = 1;
	attrs.exploitation_forms = forms;
	attrs.region = "amsterdam-amstelland";
	attrs.urgency = KETEN__CASE__V1__URGENCY__URGENCY_PRIORITY;
	hdr.message_id = (ProtobufCBinaryData){ 16, msgid };
	hdr.case_pseudonym = (ProtobufCBinaryData){ 32, pseud };
	hdr.sender = "politie";
	hdr.n_recipients = NR;
	hdr.recipients = rcpt;
	hdr.message_type = "keten.case.v1.CaseSignal";
	hdr.purpose = "victim-care";
	hdr.legal_basis = "wpg-art-19";
	hdr.attributes = &attrs;
	hdr.handling = KETEN__ENVELOPE__V1__HANDLING_LABEL__HANDLING_LABEL_TLP_AMBER;
	hdr.policy_version = "2026.11-3";
	hdr.created_ms = INT64_C(1798761600000);

	crypto_box_keypair(m_eph_pk, eph_sk);
	envelope_header_digest(m_hd, &hdr);
	for (int k = 0; k < NR; k++) {
		keten__wire__v1__copy__init(&m_c[k]);
		m_c[k].recipient = rcpt[k];
		m_c[k].n_manifest = 3;
		m_c[k].manifest = man;
		randombytes_buf(nonce, sizeof(nonce));
		if (envelope_seal(&m_c[k], m_hd, eph_sk, m_eph_pk, rpk[k], nonce, content,
		    sizeof(content)) != 0)
			abort();
		envelope_copy_digest(m_cd[k], &m_c[k]);
		m_cp[k] = &m_c[k];
		m_list[k] = (ProtobufCBinaryData){ 32, m_cd[k] };
	}
	envelope_digest(ed, m_hd, m_eph_pk, (const uint8_t (*)[32])m_cd, NR);
	envelope_sign(m_sig, ed, sign_sk);
	m_s3.header = &hdr;
	m_s3.n_copies = NR;
	m_s3.copies = m_cp;
	m_s3.ephemeral_key = (ProtobufCBinaryData){ 32, m_eph_pk };
	m_s3.signature = (ProtobufCBinaryData){ 64, m_sig };
	/* the same with only the first copy (signed as such) */
	envelope_digest(ed, m_hd, m_eph_pk, (const uint8_t (*)[32])m_cd, 1);
	envelope_sign(m1_sig, ed, sign_sk);
	m_s1 = m_s3;
	m_s1.n_copies = 1;
	m_s1.signature = (ProtobufCBinaryData){ 64, m1_sig };
	m_d.header = &hdr;
	m_d.copy = &m_c[1];
	m_d.ephemeral_key = m_s3.ephemeral_key;
	m_d.signature = m_s3.signature;
	m_d.n_copy_digests = NR;
	m_d.copy_digests = m_list;
	m_d.copy_index = 1;
	sodium_memzero(eph_sk, sizeof(eph_sk));
}

/* ---- envelope operations -------------------------------------------------- */

static void
seal_n(size_t n)
{
	uint8_t eph_pk[32], eph_sk[32], hd[32], nonce[24], cd[NR][32], ed[32], sig[64];
	Keten__Wire__V1__Copy c[NR];

	crypto_box_keypair(eph_pk, eph_sk);
	envelope_header_digest(hd, &hdr);
	for (size_t k = 0; k < n; k++) {
		keten__wire__v1__copy__init(&c[k]);
		c[k].recipient = rcpt[k];
		c[k].n_manifest = 3;
		c[k].manifest = man;
		randombytes_buf(nonce, sizeof(nonce));
		if (envelope_seal(&c[k], hd, eph_sk, eph_pk, rpk[k], nonce, content, sizeof(content)) != 0)
			abort();
		envelope_copy_digest(cd[k], &c[k]);
	}
	envelope_digest(ed, hd, eph_pk, (const uint8_t (*)[32])cd, n);
	envelope_sign(sig, ed, sign_sk);
	sodium_memzero(eph_sk, sizeof(eph_sk));
	for (size_t k = 0; k < n; k++) {
		sink ^= c[k].payload.data[0];
		free(c[k].payload.data);
		free(c[k].nonce.data);
	}
	sink ^= sig[0];
}

static void op_seal1(void) { seal_n(1); }
static void op_seal3(void) { seal_n(3); }

static void
op_sign3(void)
{
	uint8_t cd[NR][32], ed[32], sig[64];

	for (int k = 0; k < NR; k++)
		envelope_copy_digest(cd[k], &m_c[k]);
	envelope_digest(ed, m_hd, m_eph_pk, (const uint8_t (*)[32])cd, NR);
	envelope_sign(sig, ed, sign_sk);
	sink ^= sig[0];
}

static void
op_verify1(void)
{
	uint8_t d[1][32];

	if (envelope_verify_submit(&m_s1, sign_pk, d) != 0)
		abort();
}

static void
op_verify3(void)
{
	uint8_t d[NR][32];

	if (envelope_verify_submit(&m_s3, sign_pk, d) != 0)
		abort();
}

static void
op_deliver(void)
{
	if (envelope_verify_deliver(&m_d, sign_pk) != 0)
		abort();
}

static void
op_open(void)
{
	uint8_t hd[32], out[CONTENT_LEN];

	envelope_header_digest(hd, &hdr);
	if (envelope_open(out, &m_c[1], hd, m_eph_pk, rsk[1], rpk[1]) != 0)
		abort();
	sink ^= out[0];
}

/* ---- libsodium primitives -------------------------------------------------- */

static uint8_t raw_key[32], raw_nonce[24], raw_ct[CONTENT_LEN + 16], raw_sig[64], raw_msg[32];

static void
op_x25519(void)
{
	uint8_t shared[32];

	if (crypto_scalarmult(shared, rsk[0], m_eph_pk) != 0)
		abort();
	sink ^= shared[0];
}

static void
op_aead(void)
{
	unsigned long long len;

	crypto_aead_xchacha20poly1305_ietf_encrypt(raw_ct, &len, content, sizeof(content), NULL, 0,
	    NULL, raw_nonce, raw_key);
	sink ^= raw_ct[0];
}

static void
op_ed_sign(void)
{
	crypto_sign_ed25519_detached(raw_sig, NULL, raw_msg, sizeof(raw_msg), sign_sk);
	sink ^= raw_sig[0];
}

static void
op_ed_verify(void)
{
	if (crypto_sign_ed25519_verify_detached(raw_sig, raw_msg, sizeof(raw_msg), sign_pk) != 0)
		abort();
}

static void
op_sha256(void)
{
	uint8_t h[32];

	crypto_hash_sha256(h, content, sizeof(content));
	sink ^= h[0];
}

static void
row(const char *name, double rate)
{
	printf("  %-58s %10.0f /s %9.1f us\n", name, rate, 1e6 / rate);
}

int
main(int argc, char **argv)
{
	double verify3;

	if (argc > 1 && (round_s = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: %s [seconds per round]\n", argv[0]);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	setup();
	randombytes_buf(raw_key, sizeof(raw_key));
	randombytes_buf(raw_nonce, sizeof(raw_nonce));
	randombytes_buf(raw_msg, sizeof(raw_msg));
	op_ed_sign();

	printf("envelope benchmark: 1 KiB content, median of %d rounds of %.2f s, one core\n\n",
	    ROUNDS, round_s);
	printf("  %-58s %13s %12s\n", "operation", "rate", "per op");
	printf("  envelope (common/envelope.c)\n");
	row("seal, 1 recipient (eph key, X25519+KDF+AEAD, sign)", measure(op_seal1));
	row("seal, 3 recipients", measure(op_seal3));
	row("sign, 3 copies (copy digests, envelope digest, Ed25519)", measure(op_sign3));
	row("verify_submit, 1 copy", measure(op_verify1));
	row("verify_submit, 3 copies", verify3 = measure(op_verify3));
	row("verify_deliver, copy 2 of 3", measure(op_deliver));
	row("open, 1 recipient (header digest + envelope_open)", measure(op_open));
	printf("  libsodium primitives\n");
	row("crypto_scalarmult (X25519)", measure(op_x25519));
	row("crypto_aead_xchacha20poly1305_ietf_encrypt, 1 KiB", measure(op_aead));
	row("crypto_sign_ed25519_detached (32-byte digest)", measure(op_ed_sign));
	row("crypto_sign_ed25519_verify_detached (32-byte digest)", measure(op_ed_verify));
	row("crypto_hash_sha256, 1 KiB", measure(op_sha256));
	printf("\nbroker crypto cost per message (envelope_verify_submit, 3 copies): %.1f us "
	    "(%.0f messages/s per core)\n", 1e6 / verify3, verify3);
	for (int k = 0; k < NR; k++) {
		free(m_c[k].payload.data);
		free(m_c[k].nonce.data);
	}
	return 0;
}
