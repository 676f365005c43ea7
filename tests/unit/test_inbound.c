/*
 * The recipient's check (agent/inbound.c) of copies made by the sender's
 * outbound_prepare (agent/outbound.c, tests/unit/msgutil.h): the copy for us
 * opens and holds exactly what the policy allows us; a copy for someone
 * else, an altered ciphertext, an altered header and a manifest that does
 * not match the content are refused, each with its own reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/inbound.h"
#include "tests/unit/msgutil.h"

/* Copy i of ob as the broker delivers it. */
static void
deliver_of(const struct outbound *ob, size_t i, Keten__Wire__V1__Deliver *d,
    ProtobufCBinaryData digs[ENV_MAX_COPIES], uint8_t (*dig)[ENV_DIGESTBYTES])
{
	keten__wire__v1__deliver__init(d);
	for (size_t j = 0; j < ob->submit.n_copies; j++) {
		envelope_copy_digest(dig[j], ob->submit.copies[j]);
		digs[j] = (ProtobufCBinaryData){ ENV_DIGESTBYTES, dig[j] };
	}
	d->seq = 7;
	d->header = ob->submit.header;
	d->copy = ob->submit.copies[i];
	d->ephemeral_key = ob->submit.ephemeral_key;
	d->signature = ob->submit.signature;
	d->copy_digests = digs;
	d->n_copy_digests = ob->submit.n_copies;
	d->copy_index = (uint32_t)i;
}

/*
 * inbound_check, as agency `self`, of the copy of nla's signal made for
 * `to` (for victim-care to the municipality, for investigation to others).
 */
static int
check_as(const char *self, const char *to, void (*tamper)(Keten__Wire__V1__Deliver *),
    char err[static KETEN_ERRLEN], char **content)
{
	struct outbound *ob = mu_prepare("nla", to, NULL, "CaseSignal",
	    strcmp(to, "gemeente-amsterdam") == 0 ? "victim-care" : "investigation",
	    "demo/messages/nla_signal.json");
	size_t i = 0;
	static struct keten_keys k;
	Keten__Wire__V1__Deliver d;
	ProtobufCBinaryData digs[ENV_MAX_COPIES];
	uint8_t dig[ENV_MAX_COPIES][ENV_DIGESTBYTES];
	int rc;

	assert_non_null(ob);
	fuzzkeys(self, &k);
	struct outbound_keys ok = { mu_dir, &k, mu_netkey, NULL };
	deliver_of(ob, i, &d, digs, dig);
	if (tamper != NULL)
		tamper(&d);
	rc = inbound_check(mu_policy, self, &ok, &d, d.header->created_ms + 10, err);
	if (rc == 0 && content != NULL) {
		const struct codec_type *t = codec_type_find("CaseSignal");
		ProtobufCMessage *m = codec_unpack(t, d.copy->payload.data, d.copy->payload.len);
		assert_non_null(m);
		assert_int_equal(codec_to_json(t, m, content), 0);
		codec_free(m);
	}
	outbound_free(&ob);
	return rc;
}

static void
flip_payload(Keten__Wire__V1__Deliver *d)
{
	d->copy->payload.data[3] ^= 1;
}

static void
change_purpose(Keten__Wire__V1__Deliver *d)
{
	d->header->purpose = "investigation";
}

static void
drop_manifest_path(Keten__Wire__V1__Deliver *d)
{
	d->copy->n_manifest--;	/* the content holds more than the manifest says */
}

static void
test_inbound(void **state)
{
	char err[KETEN_ERRLEN], *json = NULL;

	(void)state;
	/* the municipality's copy: the victims, not the suspect */
	if (check_as("gemeente-amsterdam", "gemeente-amsterdam", NULL, err, &json) != 0)
		fail_msg("%s", err);
	assert_non_null(strstr(json, "Testescu"));
	assert_null(strstr(json, "Verzonnen"));
	free(json);
	/* the police's copy (for investigation): the suspect too */
	assert_int_equal(check_as("politie", "politie", NULL, err, &json), 0);
	assert_non_null(strstr(json, "Verzonnen"));
	free(json);
	/* the municipality's copy presented to the police */
	assert_int_equal(check_as("politie", "gemeente-amsterdam", NULL, err, NULL), KETEN_EINVAL);
	assert_non_null(strstr(err, "not to us"));
	/* the police's copy, re-addressed: it does not open with another key */
	assert_int_not_equal(check_as("gemeente-amsterdam", "politie", NULL, err, NULL), 0);
	/* an altered ciphertext, an altered header, a manifest that lies */
	assert_int_equal(check_as("gemeente-amsterdam", "gemeente-amsterdam", flip_payload, err, NULL), KETEN_ECRYPTO);
	assert_int_equal(check_as("gemeente-amsterdam", "gemeente-amsterdam", change_purpose, err, NULL), KETEN_ECRYPTO);
	assert_non_null(strstr(err, "signature of nla"));
	assert_int_equal(check_as("gemeente-amsterdam", "gemeente-amsterdam", drop_manifest_path, err, NULL),
	    KETEN_ECRYPTO);
}

static int
setup(void **state)
{
	(void)state;
	return mu_setup();
}

static int
teardown(void **state)
{
	(void)state;
	mu_teardown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inbound),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
