/*
 * A real submission for unit tests of the message path (test_gate.c,
 * test_inbound.c): made by the agent's own outbound_prepare from a case
 * message of demo/messages, with the fixed fuzz keys and the example
 * directory (tests/fuzz/fuzzkeys.h), under the shipped policy.  Run from the
 * repository root.
 */
#ifndef KETEN_TESTS_MSGUTIL_H
#define KETEN_TESTS_MSGUTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "agent/outbound.h"
#include "policy/policy.h"
#include "schemas/codec.h"
#include "tests/fuzz/fuzzkeys.h"

static struct directory *mu_dir;
static struct policy *mu_policy;
static uint8_t mu_netkey[32] = { 1, 2, 3 };

static int __attribute__((unused))
mu_yes(void *arg, const struct policy_request *r, const struct policy_rule_info *i)
{
	(void)arg, (void)r, (void)i;
	return 1;
}

/* The example directory with the fuzz keys, and policy/stm.yaml compiled against it. */
static int __attribute__((unused))
mu_setup(void)
{
	char err[KETEN_ERRLEN];

	if (sodium_init() < 0 || codec_init() != 0 || (mu_dir = fuzz_directory()) == NULL ||
	    policy_load("policy/stm.yaml", mu_dir, &mu_policy, err) != 0) {
		fprintf(stderr, "run from the repository root: %s\n", err);
		return -1;
	}
	return 0;
}

static void __attribute__((unused))
mu_teardown(void)
{
	policy_free(&mu_policy);
	directory_free(&mu_dir);
}

/*
 * from -> to (and to2, or NULL): the file (JSON) of `type` for `purpose`,
 * filtered under mu_policy and sealed to the keys of mu_dir.  NULL (said
 * why) when the policy lets no recipient have it.
 */
static struct outbound * __attribute__((unused))
mu_prepare(const char *from, const char *to, const char *to2, const char *type,
    const char *purpose, const char *file)
{
	static struct keten_keys k;
	Keten__Local__V1__LocalSubmit ls = KETEN__LOCAL__V1__LOCAL_SUBMIT__INIT;
	struct policy_ledger pl = { mu_yes, mu_yes, NULL };
	struct outbound_keys ok = { mu_dir, &k, mu_netkey, NULL, NULL };
	char *rc[2] = { (char *)to, (char *)to2 }, err[KETEN_ERRLEN], *json = malloc(1 << 20);
	struct outbound *ob = NULL;
	FILE *f = fopen(file, "rb");
	size_t len;

	if (f == NULL || json == NULL)
		return NULL;
	len = fread(json, 1, (1 << 20) - 1, f);
	fclose(f);
	fuzzkeys(from, &k);
	ls.recipients = rc;
	ls.n_recipients = to2 ? 2 : 1;
	ls.message_type = (char *)type;
	ls.payload = (ProtobufCBinaryData){ len, (uint8_t *)json };
	ls.purpose = (char *)purpose;
	ls.case_reference = "ZAAK-2026-0042";
	if (outbound_prepare(mu_policy, from, &pl, &ok, &ls, 1 << 20, NULL, &ob, err) != 0) {
		fprintf(stderr, "outbound_prepare: %s\n", err);
		outbound_free(&ob);	/* a refusal's header and decisions */
	}
	free(json);
	return ob;
}

/* Sign ob's submission again as `from` would, after a test changed it. */
static void __attribute__((unused))
mu_resign(struct outbound *ob, const char *from)
{
	static struct keten_keys k;
	Keten__Wire__V1__Submit *s = &ob->submit;
	uint8_t hd[ENV_DIGESTBYTES], dig[ENV_MAX_COPIES][ENV_DIGESTBYTES], d[ENV_DIGESTBYTES];

	fuzzkeys(from, &k);
	envelope_header_digest(hd, s->header);
	for (size_t j = 0; j < s->n_copies; j++)
		envelope_copy_digest(dig[j], s->copies[j]);
	envelope_digest(d, hd, s->ephemeral_key.data, (const uint8_t (*)[ENV_DIGESTBYTES])dig,
	    s->n_copies);
	envelope_sign(s->signature.data, d, k.sign_sk);
}

/* Copy i of ob as the broker delivers it; digs and dig are the caller's storage. */
static void __attribute__((unused))
mu_deliver_of(const struct outbound *ob, size_t i, Keten__Wire__V1__Deliver *d,
    ProtobufCBinaryData digs[ENV_MAX_COPIES], uint8_t (*dig)[ENV_DIGESTBYTES])
{
	keten__wire__v1__deliver__init(d);
	for (size_t j = 0; j < ob->submit.n_copies; j++) {
		envelope_copy_digest(dig[j], ob->submit.copies[j]);
		digs[j] = (ProtobufCBinaryData){ ENV_DIGESTBYTES, dig[j] };
	}
	d->seq = 7 + i;
	d->header = ob->submit.header;
	d->copy = ob->submit.copies[i];
	d->accepted_ms = ob->submit.header->created_ms + 5;
	d->ephemeral_key = ob->submit.ephemeral_key;
	d->signature = ob->submit.signature;
	d->copy_digests = digs;
	d->n_copy_digests = ob->submit.n_copies;
	d->copy_index = (uint32_t)i;
}

#endif
