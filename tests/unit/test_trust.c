/*
 * The network root and approvals by threshold (common/trust.c): the root
 * file's checks, policy approvals by distinct agencies' officers, directory
 * changes (members by threshold, an agency's own key change by its own
 * key, anyone else's by the recovery threshold), chained roots, and the
 * broker's own signature, which never counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "common/keys.h"
#include "common/trust.h"

#define NOFFICERS 5
/* officers: politie and nla (policy), om (policy, directory, root), two board members */
static const char *const names[NOFFICERS] = { "fg-politie", "fg-nla", "fg-om", "board-a", "board-b" };
static const char *const agencies[NOFFICERS] = { "politie", "nla", "om", "stuurgroep", "minjenv" };
static const char *const roles[NOFFICERS] = { "[policy]", "[policy]", "[policy, directory, root]",
	"[directory, root]", "[directory, root]" };
static uint8_t pk[NOFFICERS][32], sk[NOFFICERS][64];
static uint8_t broker_pk[32], broker_sk[64];

/* three agencies' keys in a directory: [agency][0: old, 1: new] */
static const char *const dir_ids[3] = { "politie", "nla", "om" };
static uint8_t a_sign_pk[3][2][32], a_sign_sk[3][2][64], a_enc[3][2][32], a_tx[3][2][32];

static char *
root_text(unsigned version, unsigned policy, unsigned directory, unsigned recovery, unsigned root,
    size_t nkeys)
{
	char *buf = malloc(8192), vk[NOTE_VKEYMAX];
	size_t off = (size_t)sprintf(buf, "network: stm.keten.example\nversion: %u\nthresholds:\n"
	    "  policy: %u\n  directory: %u\n  recovery: %u\n  root: %u\nkeys:\n", version, policy,
	    directory, recovery, root);
	for (size_t i = 0; i < nkeys; i++) {
		struct note_key k;
		note_key_init(&k, names[i], pk[i]);
		note_vkey_format(&k, vk);
		off += (size_t)sprintf(buf + off, "  - vkey: \"%s\"\n    agency: %s\n    roles: %s\n",
		    vk, agencies[i], roles[i]);
	}
	return buf;
}

static struct trust_root *
root_of(const char *text)
{
	struct trust_root *r = NULL;
	char err[KETEN_ERRLEN];

	if (trust_root_parse("root.yaml", text, strlen(text), &r, err) != 0)
		fail_msg("%s", err);
	return r;
}

/* A signed note of text with the lines of the signers (indexes; -1: the broker). */
static char *
approve(const char *text, const int *who, size_t n)
{
	char *note = NULL;
	size_t len = strlen(text);

	note = malloc(len + 2 + n * 200);
	memcpy(note, text, len);
	note[len++] = '\n';
	note[len] = '\0';
	for (size_t i = 0; i < n; i++) {
		char *line = who[i] < 0 ? note_sign_line(text, strlen(text), "broker", broker_sk,
		    broker_pk) : note_sign_line(text, strlen(text), names[who[i]], sk[who[i]],
		    pk[who[i]]);
		strcat(note, line);
		free(line);
	}
	return note;
}

static char *
policy_statement(const char *src, const char *version)
{
	struct trust_subject s = { "policy", "stm", version, { 0 } };

	trust_subject_hash(&s, src, strlen(src));
	return trust_statement("stm.keten.example", &s);
}

static void
test_root_parse(void **state)
{
	struct trust_root *r = NULL;
	char err[KETEN_ERRLEN], *t;

	(void)state;
	t = root_text(1, 2, 2, 2, 2, NOFFICERS);
	r = root_of(t);
	assert_int_equal(r->nkeys, NOFFICERS);
	assert_int_equal(r->policy, 2);
	assert_true(r->keys[2].roles & TRUST_ROOT);
	trust_root_free(&r);
	assert_null(r);
	free(t);
	/* three policy agencies, four asked: unreachable, said where */
	t = root_text(1, 4, 2, 2, 2, NOFFICERS);
	assert_int_equal(trust_root_parse("root.yaml", t, strlen(t), &r, err), KETEN_EINVAL);
	if (strstr(err, "root.yaml:4:") == NULL)
		fail_msg("%s", err);
	assert_non_null(strstr(err, "only 3 have a key with role policy"));
	free(t);
	/* recovery below the directory threshold */
	t = root_text(1, 2, 3, 2, 2, NOFFICERS);
	assert_int_equal(trust_root_parse("root.yaml", t, strlen(t), &r, err), KETEN_EINVAL);
	assert_non_null(strstr(err, "recovery"));
	free(t);
	/* an unknown role, a key twice */
	t = root_text(1, 1, 1, 1, 1, 1);
	char *bad = malloc(strlen(t) + 400);
	sprintf(bad, "%s", t);
	char *rl = strstr(bad, "[policy]");
	memcpy(rl, "[polic_]", 8);
	assert_int_equal(trust_root_parse("root.yaml", bad, strlen(bad), &r, err), KETEN_EINVAL);
	assert_non_null(strstr(err, "unknown role"));
	memcpy(rl, "[policy]", 8);
	strcat(bad, strstr(t, "  - vkey"));
	assert_int_equal(trust_root_parse("root.yaml", bad, strlen(bad), &r, err), KETEN_EINVAL);
	assert_non_null(strstr(err, "listed twice"));
	free(bad);
	free(t);
}

static void
test_policy_threshold(void **state)
{
	static const char src[] = "name: stm\nversion: 2026.12.1\n";
	char *t = root_text(1, 2, 2, 3, 2, NOFFICERS), *st = policy_statement(src, "2026.12.1");
	struct trust_root *r = root_of(t);
	char err[KETEN_ERRLEN], *note;

	(void)state;
	/* one officer: refused, naming who approved and who has not */
	note = approve(st, (int[]){ 0 }, 1);
	assert_int_equal(trust_check_policy(r, "stm", "2026.12.1", src, strlen(src), note,
	    strlen(note), err), KETEN_EPERM);
	assert_non_null(strstr(err, "approved: politie"));
	assert_non_null(strstr(err, "not yet: nla and om"));
	free(note);
	/* the broker's signature and a board member's (no policy role) do not count */
	note = approve(st, (int[]){ 0, -1, 3 }, 3);
	assert_int_equal(trust_check_policy(r, "stm", "2026.12.1", src, strlen(src), note,
	    strlen(note), err), KETEN_EPERM);
	free(note);
	/* two agencies' officers: approved */
	note = approve(st, (int[]){ 0, 2 }, 2);
	assert_int_equal(trust_check_policy(r, "stm", "2026.12.1", src, strlen(src), note,
	    strlen(note), err), 0);
	/* ... but not another file under the same name and version */
	static const char wider[] = "name: stm\nversion: 2026.12.1\n# wider\n";
	assert_int_equal(trust_check_policy(r, "stm", "2026.12.1", wider, strlen(wider), note,
	    strlen(note), err), KETEN_EINVAL);
	/* ... nor another version */
	assert_int_equal(trust_check_policy(r, "stm", "2026.12.2", src, strlen(src), note,
	    strlen(note), err), KETEN_EINVAL);
	free(note);
	/* no approvals at all */
	assert_int_equal(trust_check_policy(r, "stm", "2026.12.1", src, strlen(src), NULL, 0, err),
	    KETEN_EPERM);
	free(st);
	free(t);
	trust_root_free(&r);
}

/* A directory of the three agencies, each with key set k[i] (0 old, 1 new). */
static char *
dir_text(unsigned version, const int k[3], bool revoke_om)
{
	char *buf = malloc(8192);
	size_t off = (size_t)sprintf(buf, "version: %u\nagencies:\n", version);
	static const char *const kinds[3] = { "police", "labour-inspectorate", "prosecution" };

	for (int i = 0; i < 3; i++) {
		char s64[64], e64[64], z85[41];
		key_b64_encode(s64, sizeof(s64), a_sign_pk[i][k[i]], 32);
		key_b64_encode(e64, sizeof(e64), a_enc[i][k[i]], 32);
		zmq_z85_encode(z85, a_tx[i][k[i]], 32);
		off += (size_t)sprintf(buf + off, "  - id: %s\n    kind: %s\n    name: Agency %d\n"
		    "    transport_key: \"%s\"\n    signing_key: \"%s\"\n    encryption_key: \"%s\"\n%s",
		    dir_ids[i], kinds[i], i, z85, s64, e64, i == 2 && revoke_om ?
		    "    revoked: true\n" : "");
	}
	return buf;
}

static struct directory *
dir_of(const char *text)
{
	struct directory *d = NULL;
	char err[KETEN_ERRLEN];

	if (directory_parse("directory.yaml", text, strlen(text), &d, err) != 0)
		fail_msg("%s", err);
	return d;
}

static char *
dir_statement(const char *src, unsigned version)
{
	char v[16];
	struct trust_subject s = { "directory", "directory", v, { 0 } };

	snprintf(v, sizeof(v), "%u", version);
	trust_subject_hash(&s, src, strlen(src));
	return trust_statement("stm.keten.example", &s);
}

/* note with the signature of agency i's old signing key added */
static char *
add_agency_sig(char *note, const char *st, int i)
{
	char *line = note_sign_line(st, strlen(st), dir_ids[i], a_sign_sk[i][0], a_sign_pk[i][0]);
	note = realloc(note, strlen(note) + strlen(line) + 1);
	strcat(note, line);
	free(line);
	return note;
}

static int
check_dir(const struct trust_root *r, const char *old, const char *new, const char *note,
    char err[static KETEN_ERRLEN])
{
	struct directory *od = old ? dir_of(old) : NULL, *nd = dir_of(new);
	int rc = trust_check_directory(r, od, nd, new, strlen(new), note, note ? strlen(note) : 0, err);

	directory_free(&od);
	directory_free(&nd);
	return rc;
}

static void
test_directory_changes(void **state)
{
	char *t = root_text(1, 2, 2, 3, 2, NOFFICERS), err[KETEN_ERRLEN];
	struct trust_root *r = root_of(t);
	char *d1 = dir_text(1, (int[]){ 0, 0, 0 }, false);
	char *st, *note, *d2;

	(void)state;
	/* the first directory: by the directory threshold */
	st = dir_statement(d1, 1);
	note = approve(st, (int[]){ 2 }, 1);
	assert_int_equal(check_dir(r, NULL, d1, note, err), KETEN_EPERM);
	free(note);
	note = approve(st, (int[]){ 2, 3 }, 2);
	assert_int_equal(check_dir(r, NULL, d1, note, err), 0);
	free(note);
	free(st);

	/* politie rotates its own keys, signed by its current key: nobody else needed */
	d2 = dir_text(2, (int[]){ 1, 0, 0 }, false);
	st = dir_statement(d2, 2);
	note = add_agency_sig(approve(st, NULL, 0), st, 0);
	assert_int_equal(check_dir(r, d1, d2, note, err), 0);
	free(note);
	/* the same change signed by the broker (the attack): refused */
	note = approve(st, (int[]){ -1 }, 1);
	assert_int_equal(check_dir(r, d1, d2, note, err), KETEN_EPERM);
	free(note);
	/* by nla's key instead of politie's: refused, and the directory threshold
	 * is not enough either: it takes the recovery threshold (3) */
	note = add_agency_sig(approve(st, (int[]){ 2, 3 }, 2), st, 1);
	assert_int_equal(check_dir(r, d1, d2, note, err), KETEN_EPERM);
	assert_non_null(strstr(err, "politie's keys"));
	free(note);
	note = approve(st, (int[]){ 2, 3, 4 }, 3);
	assert_int_equal(check_dir(r, d1, d2, note, err), 0);
	free(note);
	free(st);
	/* the same directory as version 1 again (a rollback): refused */
	st = dir_statement(d1, 1);
	note = approve(st, (int[]){ 2, 3, 4 }, 3);
	assert_int_equal(check_dir(r, d2, d1, note, err), KETEN_EPERM);
	assert_non_null(strstr(err, "not newer"));
	free(note);
	free(st);
	free(d2);

	/* revoking om (membership): the directory threshold; om's own key is not enough */
	d2 = dir_text(2, (int[]){ 0, 0, 0 }, true);
	st = dir_statement(d2, 2);
	note = add_agency_sig(approve(st, NULL, 0), st, 2);
	assert_int_equal(check_dir(r, d1, d2, note, err), KETEN_EPERM);
	free(note);
	note = approve(st, (int[]){ 2, 4 }, 2);
	assert_int_equal(check_dir(r, d1, d2, note, err), 0);
	free(note);
	free(st);
	free(d2);
	/* a bare new version, nothing changed: the directory threshold too */
	d2 = dir_text(2, (int[]){ 0, 0, 0 }, false);
	st = dir_statement(d2, 2);
	note = add_agency_sig(approve(st, NULL, 0), st, 0);
	assert_int_equal(check_dir(r, d1, d2, note, err), KETEN_EPERM);
	free(note);
	free(st);
	free(d2);
	free(d1);
	free(t);
	trust_root_free(&r);
}

static void
test_root_chain(void **state)
{
	char *t1 = root_text(1, 2, 2, 3, 2, NOFFICERS), *t2 = root_text(2, 2, 2, 3, 2, NOFFICERS);
	char *t3 = root_text(3, 2, 2, 3, 2, NOFFICERS), err[KETEN_ERRLEN], v[8];
	struct trust_root *r1 = root_of(t1), *r2 = root_of(t2), *r3 = root_of(t3);
	struct trust_subject s = { "root", "stm.keten.example", v, { 0 } };
	char *st, *note;

	(void)state;
	snprintf(v, sizeof(v), "2");
	trust_subject_hash(&s, t2, strlen(t2));
	st = trust_statement("stm.keten.example", &s);
	note = approve(st, (int[]){ 2 }, 1);
	assert_int_equal(trust_check_root(r1, r2, t2, strlen(t2), note, strlen(note), err), KETEN_EPERM);
	free(note);
	note = approve(st, (int[]){ 2, 3 }, 2);
	assert_int_equal(trust_check_root(r1, r2, t2, strlen(t2), note, strlen(note), err), 0);
	/* version 3 straight after 1: not chained */
	assert_int_equal(trust_check_root(r1, r3, t3, strlen(t3), note, strlen(note), err), KETEN_EPERM);
	free(note);
	free(st);
	free(t1);
	free(t2);
	free(t3);
	trust_root_free(&r1);
	trust_root_free(&r2);
	trust_root_free(&r3);
}

static void
test_version_order(void **state)
{
	(void)state;
	assert_true(trust_version_cmp("2026.11.10", "2026.11.9") > 0);
	assert_true(trust_version_cmp("2026.11.3", "2026.11.3") == 0);
	assert_true(trust_version_cmp("2026.11", "2026.11.1") < 0);
	assert_true(trust_version_cmp("2027.1.1", "2026.12.31") > 0);
	assert_true(trust_version_cmp("beta", "alpha") > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_parse),
		cmocka_unit_test(test_policy_threshold),
		cmocka_unit_test(test_directory_changes),
		cmocka_unit_test(test_root_chain),
		cmocka_unit_test(test_version_order),
	};

	if (sodium_init() < 0)
		return 1;
	for (int i = 0; i < NOFFICERS; i++)
		crypto_sign_ed25519_keypair(pk[i], sk[i]);
	crypto_sign_ed25519_keypair(broker_pk, broker_sk);
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++) {
			crypto_sign_ed25519_keypair(a_sign_pk[i][k], a_sign_sk[i][k]);
			randombytes_buf(a_enc[i][k], 32);
			randombytes_buf(a_tx[i][k], 32);
		}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
