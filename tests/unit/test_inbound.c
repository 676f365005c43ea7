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
	struct outbound_keys ok = { mu_dir, &k, mu_netkey, NULL, NULL };
	mu_deliver_of(ob, i, &d, digs, dig);
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
ancient(Keten__Wire__V1__Deliver *d)
{
	d->header->created_ms = 5;
}

static void
v4_id(Keten__Wire__V1__Deliver *d)
{
	d->header->message_id.data[6] = 0x41;
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
	/* values out of range are refused for what they are, whatever signed them */
	assert_int_equal(check_as("gemeente-amsterdam", "gemeente-amsterdam", ancient, err, NULL), KETEN_EINVAL);
	assert_non_null(strstr(err, "before 2020-01-01"));
	assert_int_equal(check_as("gemeente-amsterdam", "gemeente-amsterdam", v4_id, err, NULL), KETEN_EINVAL);
	assert_non_null(strstr(err, "not a UUIDv7"));
}

static Keten__Envelope__V1__View
view(uint64_t dv, uint8_t dsha, const char *policy, uint64_t size, uint8_t root)
{
	static uint8_t shas[8][32], roots[8][32];
	static int n;
	Keten__Envelope__V1__View v = KETEN__ENVELOPE__V1__VIEW__INIT;
	int i = n++ % 8;

	memset(shas[i], dsha, 32);
	memset(roots[i], root, 32);
	v.directory_version = dv;
	v.directory_sha256 = (ProtobufCBinaryData){ 32, shas[i] };
	v.policy = (char *)policy;
	v.witnessed_size = size;
	v.witnessed_root = (ProtobufCBinaryData){ size ? 32 : 0, roots[i] };
	return v;
}

/* The sender's view against ours: forks, a sender ahead, and agreement. */
static void
test_view(void **state)
{
	Keten__Envelope__V1__View ours = view(3, 0xaa, "stm 2026.11.2", 40, 0x11), theirs;
	char why[KETEN_ERRLEN];

	(void)state;
	theirs = view(3, 0xaa, "stm 2026.11.2", 40, 0x11);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h1", "nla", why), 0);
	assert_int_equal(inbound_view_check(&ours, "h1", NULL, "h1", "nla", why), 0);
	/* different sizes witnessed: not comparable here, no verdict */
	theirs = view(3, 0xaa, "stm 2026.11.2", 41, 0x22);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h1", "nla", why), 0);
	/* the same directory version with other content */
	theirs = view(3, 0xbb, "stm 2026.11.2", 40, 0x11);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h1", "nla", why), 1);
	assert_non_null(strstr(why, "SPLIT VIEW: nla works from another directory version 3"));
	/* the same policy version under another hash */
	theirs = view(3, 0xaa, "stm 2026.11.2", 40, 0x11);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h2", "nla", why), 1);
	assert_non_null(strstr(why, "policy stm 2026.11.2 with other content"));
	/* the same ledger size, another root */
	theirs = view(3, 0xaa, "stm 2026.11.2", 40, 0x33);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h1", "nla", why), 1);
	assert_non_null(strstr(why, "forked its ledger"));
	/* the sender ahead: a newer directory, a newer policy */
	theirs = view(4, 0xcc, "stm 2026.11.2", 40, 0x11);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h1", "nla", why), 2);
	assert_non_null(strstr(why, "directory version 4, we from 3"));
	theirs = view(3, 0xaa, "stm 2026.11.10", 40, 0x11);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h9", "nla", why), 2);
	/* the sender behind us: nothing to say (we are ahead) */
	theirs = view(2, 0xdd, "stm 2026.11.1", 12, 0x44);
	assert_int_equal(inbound_view_check(&ours, "h1", &theirs, "h0", "nla", why), 0);
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
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
