/* Unit tests of common/config.c: broker and agent configuration files. */
#include "tests/unit/testutil.h"

#include <netinet/in.h>

#include "common/config.h"
#include "common/keys.h"

struct fixture {
	char dir[TU_DIRLEN];
	char broker_key[KETEN_Z85_KEYLEN + 1];	/* a real Z85 public key */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t pk[32];

	if (f == NULL || sodium_init() < 0)
		return -1;
	tu_tmpdir(f->dir);
	randombytes_buf(pk, sizeof(pk));
	key_z85_encode(f->broker_key, pk);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* Minimal broker file: six required keys on lines 1..6. */
static const char broker_min[] =
    "listen: tcp://127.0.0.1:7400\n"		/* 1 */
    "data_dir: data\n"				/* 2 */
    "keys: keys/broker.secret\n"		/* 3 */
    "directory: /etc/keten/directory.yaml\n"	/* 4 */
    "policy: policy/stm.yaml\n"			/* 5 */
    "root: /etc/keten/root.yaml\n";		/* 6 */

/* Minimal agent file: lines 1..7 (broker_key filled in from the fixture). */
static char *
agent_min(const struct fixture *f)
{
	return tu_printf(
	    "agency: politie\n"				/* 1 */
	    "broker: tcp://broker.example:7400\n"	/* 2 */
	    "broker_key: \"%s\"\n"			/* 3 */
	    "keys: politie.secret\n"			/* 4 */
	    "data_dir: state\n"				/* 5 */
	    "policy: stm.yaml\n"			/* 6 */
	    "directory: /etc/keten/directory.yaml\n"	/* 7 */
	    "root: /etc/keten/root.yaml\n",		/* 8 */
	    f->broker_key);
}

enum which { BROKER, AGENT };

/* Write `text` as DIR/NAME and expect the loader to refuse it. */
static void
load_fails(const struct fixture *f, enum which w, const char *text, const char *pos,
    const char *what)
{
	char *path = tu_write(f->dir, w == BROKER ? "broker.yaml" : "agent.yaml", text, 0640);
	char err[KETEN_ERRLEN] = "", *prefix = tu_printf("%s:%s", path, pos);
	struct broker_config *b = NULL;
	struct agent_config *a = NULL;

	if (w == BROKER) {
		assert_int_equal(broker_config_load(path, &b, err), KETEN_EINVAL);
		assert_null(b);
	} else {
		assert_int_equal(agent_config_load(path, &a, err), KETEN_EINVAL);
		assert_null(a);
	}
	assert_prefix(err, prefix);
	assert_contains(err, what);
	free(prefix);
	free(path);
}

static void
test_broker_minimal(void **state)
{
	struct fixture *f = *state;
	char *path = tu_write(f->dir, "broker.yaml", broker_min, 0640), err[KETEN_ERRLEN];
	char *want;
	struct broker_config *c = NULL;

	if (broker_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c->path, path);
	assert_string_equal(c->listen, "tcp://127.0.0.1:7400");
	/* relative paths are resolved against the configuration file's directory */
	want = tu_printf("%s/data", f->dir);
	assert_string_equal(c->data_dir, want);
	free(want);
	want = tu_printf("%s/keys/broker.secret", f->dir);
	assert_string_equal(c->keys, want);
	free(want);
	assert_string_equal(c->directory, "/etc/keten/directory.yaml");
	/* the policy path is resolved against the configuration's directory */
	assert_non_null(c->policy);
	assert_int_equal(c->policy[0], '/');
	assert_non_null(strstr(c->policy, "/policy/stm.yaml"));
	assert_null(c->shadow_policy);
	/* defaults */
	assert_int_equal(c->map_size_mb, 1024);
	assert_int_equal(c->max_message_bytes, 1 << 20);
	assert_int_equal(c->heartbeat_ms, 1000);
	assert_int_equal(c->batch_max, 1024);
	assert_int_equal(c->window, 1000);
	assert_int_equal(c->redeliver_ms, 10000);
	assert_int_equal(c->ack_defer_ms, 5);
	broker_config_free(&c);
	assert_null(c);
	broker_config_free(&c);
	free(path);
}

static void
test_broker_full(void **state)
{
	struct fixture *f = *state;
	char *text = tu_printf("%s"
	    "map_size_mb: 16777216\n"
	    "max_message_bytes: 1024\n"
	    "heartbeat_ms: 600000\n"
	    "batch_max: 1\n"
	    "window: 100000\n"
	    "redeliver_ms: 100\n"
	    "ack_defer_ms: 0\n", broker_min);
	char *path, err[KETEN_ERRLEN];
	struct broker_config *c = NULL;

	tu_replace(&text, "listen: tcp://127.0.0.1:7400", "listen: ipc:///run/keten.sock");
	path = tu_write(f->dir, "broker.yaml", text, 0640);
	if (broker_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c->listen, "ipc:///run/keten.sock");
	assert_int_equal(c->map_size_mb, 16777216);
	assert_int_equal(c->max_message_bytes, 1024);
	assert_int_equal(c->heartbeat_ms, 600000);
	assert_int_equal(c->batch_max, 1);
	assert_int_equal(c->window, 100000);
	assert_int_equal(c->redeliver_ms, 100);
	assert_int_equal(c->ack_defer_ms, 0);
	broker_config_free(&c);
	free(path);
	free(text);
}

static void
test_broker_errors(void **state)
{
	struct fixture *f = *state;
	char *text;

	/*
	 * a configuration others can read, write or execute, or its group can write, is
	 * refused with what, why and the fix; group read is allowed
	 */
	{
		char err[KETEN_ERRLEN], *p = tu_write(f->dir, "open.yaml", broker_min, 0644);
		char *want = tu_printf("%s: configuration file is readable by others (mode 0644): "
		    "it tells any account on this host where the keys and data are and which "
		    "endpoints and token files the daemon trusts; run: chmod o-rwx,g-w %s", p, p);
		struct broker_config *bc = NULL;
		struct agent_config *ac = NULL;
		assert_int_equal(broker_config_load(p, &bc, err), KETEN_EPERM);
		assert_null(bc);
		assert_string_equal(err, want);
		assert_int_equal(agent_config_load(p, &ac, err), KETEN_EPERM);
		assert_null(ac);
		assert_string_equal(err, want);
		free(want);

		assert_int_equal(chmod(p, 0660), 0);
		assert_int_equal(broker_config_load(p, &bc, err), KETEN_EPERM);
		want = tu_printf("%s: configuration file is writable by its group (mode 0660): "
		    "another account could change where the keys and data are and which "
		    "endpoints and token files the daemon trusts; run: chmod o-rwx,g-w %s", p, p);
		assert_string_equal(err, want);
		free(want);

		static const struct { mode_t mode; const char *what; } bad[] = {
			{ 0664, "readable by others and writable by its group (mode 0664): any "
			    "account on this host can read, and another could change, where" },
			{ 0602, "writable by others (mode 0602): another account could change" },
			{ 0646, "readable and writable by others (mode 0646)" },
			{ 0601, "executable by others (mode 0601)" },
			{ 0607, "readable, writable and executable by others (mode 0607)" },
			{ 0620, "writable by its group (mode 0620)" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(chmod(p, bad[i].mode), 0);
			assert_int_equal(agent_config_load(p, &ac, err), KETEN_EPERM);
			assert_null(ac);
			assert_contains(err, bad[i].what);
			assert_contains(err, "; run: chmod o-rwx,g-w ");
		}

		/* group read stays allowed (an operators' group), and owner-only of course */
		static const mode_t good[] = { 0640, 0600, 0440, 0400, 0750 };
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			assert_int_equal(chmod(p, good[i]), 0);
			if (broker_config_load(p, &bc, err) != 0)
				fail_msg("mode %04o refused: %s", (unsigned)good[i], err);
			broker_config_free(&bc);
		}
		free(p);
	}

	/* a misspelt key: named with its line */
	text = tu_printf("%sheartbeat: 500\n", broker_min);
	load_fails(f, BROKER, text, "7:1: ", "unknown key \"heartbeat\" in broker configuration");
	free(text);

	/* each required key missing in turn */
	static const char *const required[] = { "listen", "data_dir", "keys", "directory", "policy",
		"root" };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		char *line_start, *msg;
		text = strdup(broker_min);
		line_start = strstr(text, required[i]);
		memmove(line_start, strchr(line_start, '\n') + 1,
		    strlen(strchr(line_start, '\n') + 1) + 1);
		msg = tu_printf("missing required key \"%s\"", required[i]);
		load_fails(f, BROKER, text, "1:1: ", msg);
		free(msg);
		free(text);
	}

	text = tu_printf("%swindow: ten\n", broker_min);
	load_fails(f, BROKER, text, "7:9: ", "\"window\" must be a whole number, found \"ten\"");
	free(text);
	text = tu_printf("%swindow: -1\n", broker_min);
	load_fails(f, BROKER, text, "7:9: ", "\"window\" must be a whole number");
	free(text);
	text = tu_printf("%swindow: 100001\n", broker_min);
	load_fails(f, BROKER, text, "7:9: ", "\"window\" must be between 1 and 100000");
	free(text);
	/* origins the signed-note rules forbid (the checkpoints' key name) */
	text = tu_printf("%sorigin: \"keten.example+nl/ledger\"\n", broker_min);
	load_fails(f, BROKER, text, "7:9: ", "origin must be a signed-note key name");
	free(text);
	text = tu_printf("%sorigin: \"keten.example\tnl\"\n", broker_min);
	load_fails(f, BROKER, text, "7:9: ", "without spaces or '+'");
	free(text);
	text = tu_printf("%sheartbeat_ms: 99\n", broker_min);
	load_fails(f, BROKER, text, "7:15: ", "must be between 100 and 600000, found 99");
	free(text);
	text = tu_printf("%smax_message_bytes: 1023\n", broker_min);
	load_fails(f, BROKER, text, "7:20: ", "\"max_message_bytes\" must be between");
	free(text);
	text = tu_printf("%smap_size_mb: 0\n", broker_min);
	load_fails(f, BROKER, text, "7:14: ", "\"map_size_mb\" must be between");
	free(text);
	text = tu_printf("%sack_defer_ms: 1001\n", broker_min);
	load_fails(f, BROKER, text, "7:15: ", "\"ack_defer_ms\" must be between 0 and 1000");
	free(text);

	/* endpoints other than tcp:// and ipc:// */
	static const char *const bad_eps[] = { "http://127.0.0.1:7400", "udp://x:1",
		"127.0.0.1:7400", "TCP://127.0.0.1:7400", "inproc://broker" };
	for (size_t i = 0; i < sizeof(bad_eps) / sizeof(bad_eps[0]); i++) {
		text = strdup(broker_min);
		char *line = tu_printf("listen: %s", bad_eps[i]);
		tu_replace(&text, "listen: tcp://127.0.0.1:7400", line);
		load_fails(f, BROKER, text, "1:9: ", "must be a tcp:// or ipc:// endpoint");
		free(line);
		free(text);
	}

	/* a list where a value belongs, and not a mapping at all */
	text = strdup(broker_min);
	tu_replace(&text, "data_dir: data", "data_dir: [data]");
	load_fails(f, BROKER, text, "2:11: ", "\"data_dir\" must be a single value");
	free(text);
	load_fails(f, BROKER, "- listen\n", "1:1: ", "expected a mapping");
	load_fails(f, BROKER, "", " ", "empty file");
}

static void
test_broker_missing_file(void **state)
{
	struct fixture *f = *state;
	char *path = tu_printf("%s/none.yaml", f->dir), err[KETEN_ERRLEN];
	struct broker_config *c = NULL;
	struct agent_config *a = NULL;

	assert_int_equal(broker_config_load(path, &c, err), KETEN_ENOTFOUND);
	assert_null(c);
	assert_contains(err, path);
	assert_int_equal(agent_config_load(path, &a, err), KETEN_ENOTFOUND);
	assert_null(a);
	free(path);
}

static void
test_agent_minimal(void **state)
{
	struct fixture *f = *state;
	char *text = agent_min(f), err[KETEN_ERRLEN], *want;
	char *path = tu_write(f->dir, "agent.yaml", text, 0640);
	struct agent_config *c = NULL;

	if (agent_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c->path, path);
	assert_string_equal(c->agency, "politie");
	assert_string_equal(c->broker, "tcp://broker.example:7400");
	assert_string_equal(c->broker_key, f->broker_key);
	want = tu_printf("%s/politie.secret", f->dir);
	assert_string_equal(c->keys, want);
	free(want);
	want = tu_printf("%s/state", f->dir);
	assert_string_equal(c->data_dir, want);
	free(want);
	/* no TCP API unless asked for */
	assert_null(c->api_listen);
	assert_int_equal(c->api_max_connections, 64);
	assert_int_equal(c->api_max_body_bytes, 2 * (1 << 20) + 65536);
	assert_int_equal(c->map_size_mb, 1024);
	assert_int_equal(c->max_message_bytes, 1 << 20);
	assert_int_equal(c->heartbeat_ms, 1000);
	assert_int_equal(c->batch_max, 1024);
	assert_int_equal(c->window, 1000);
	assert_int_equal(c->resend_ms, 10000);
	agent_config_free(&c);
	assert_null(c);
	agent_config_free(&c);
	free(path);
	free(text);
}

static void
test_agent_full(void **state)
{
	struct fixture *f = *state;
	char *min = agent_min(f), err[KETEN_ERRLEN], *want;
	char *text = tu_printf("%s"
	    "api_listen: 127.0.0.1:7500\n"
	    "map_size_mb: 64\n"
	    "max_message_bytes: 67108864\n"
	    "heartbeat_ms: 100\n"
	    "batch_max: 100000\n"
	    "window: 1\n"
	    "resend_ms: 3600000\n"
	    "api_token: api.token\n", min);
	char *path;
	struct agent_config *c = NULL;

	/* absolute paths stay as they are */
	tu_replace(&text, "data_dir: state", "data_dir: /var/lib/keten-agent");
	path = tu_write(f->dir, "agent.yaml", text, 0640);
	if (agent_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c->data_dir, "/var/lib/keten-agent");
	assert_string_equal(c->api_listen, "127.0.0.1:7500");
	assert_int_equal(c->api_addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->api_addr)->sin_port), 7500);
	want = tu_printf("%s/api.token", f->dir);
	assert_string_equal(c->api_token, want);
	free(want);
	assert_int_equal(c->map_size_mb, 64);
	assert_int_equal(c->max_message_bytes, 64 << 20);
	assert_int_equal(c->heartbeat_ms, 100);
	assert_int_equal(c->batch_max, 100000);
	assert_int_equal(c->window, 1);
	assert_int_equal(c->resend_ms, 3600000);
	agent_config_free(&c);
	free(path);
	free(text);
	free(min);
}

static void
test_agent_errors(void **state)
{
	struct fixture *f = *state;
	char *min = agent_min(f), *text, *bad, err[KETEN_ERRLEN];

	text = tu_printf("%sbrokerkey: x\n", min);
	load_fails(f, AGENT, text, "9:1: ", "unknown key \"brokerkey\" in agent configuration");
	free(text);

	text = strdup(min);
	tu_replace(&text, "agency: politie\n", "");
	load_fails(f, AGENT, text, "1:1: ", "missing required key \"agency\"");
	free(text);

	text = strdup(min);
	tu_replace(&text, "data_dir: state\n", "");
	load_fails(f, AGENT, text, "1:1: ", "missing required key \"data_dir\"");
	free(text);

	text = tu_printf("%sresend_ms: soon\n", min);
	load_fails(f, AGENT, text, "9:12: ", "\"resend_ms\" must be a whole number");
	free(text);
	text = tu_printf("%sresend_ms: 3600001\n", min);
	load_fails(f, AGENT, text, "9:12: ", "must be between 100 and 3600000");
	free(text);
	text = tu_printf("%sbatch_max: 99999999999999999999999\n", min);
	load_fails(f, AGENT, text, "9:12: ", "\"batch_max\" must be a whole number");
	free(text);

	text = strdup(min);
	tu_replace(&text, "broker: tcp://", "broker: ws://");
	load_fails(f, AGENT, text, "2:9: ", "\"broker\" must be a tcp:// or ipc:// endpoint");
	free(text);
	/* the REST API: ADDRESS:PORT, loopback unless api_public, a token file */
	text = tu_printf("%sapi_listen: localhost\n", min);
	load_fails(f, AGENT, text, "9:13: ", "\"api_listen\" must be HOST:PORT with a numeric address");
	free(text);
	text = tu_printf("%sapi_listen: 127.0.0.1:99999\napi_token: t\n", min);
	load_fails(f, AGENT, text, "9:13: ", "a port 1-65535");
	free(text);
	text = tu_printf("%sapi_listen: 127.0.0.1:8470\n", min);
	load_fails(f, AGENT, text, "9:13: ", "api_listen needs api_token");
	free(text);
	text = tu_printf("%sapi_listen: 192.0.2.10:8470\napi_token: t\n", min);
	load_fails(f, AGENT, text, "9:13: ", "192.0.2.10:8470 is not a loopback address: other "
	    "machines could reach it; listen on 127.0.0.1 or [::1], or set api_public: true");
	free(text);
	text = tu_printf("%sapi_listen: 192.0.2.10:8470\napi_token: t\napi_public: true\n", min);
	{
		char *p = tu_write(f->dir, "public.yaml", text, 0640);
		struct agent_config *pc = NULL;
		if (agent_config_load(p, &pc, err) != 0)
			fail_msg("api_public refused: %s", err);
		assert_string_equal(pc->api_listen, "192.0.2.10:8470");
		agent_config_free(&pc);
		free(p);
	}
	free(text);

	/* broker_key: one character short, not Z85, empty */
	text = strdup(min);
	bad = tu_printf("%.*s", KETEN_Z85_KEYLEN - 1, f->broker_key);
	tu_replace(&text, f->broker_key, bad);
	load_fails(f, AGENT, text, "3:13: ", "broker_key must be the broker's 40-character Z85");
	free(bad);
	free(text);
	text = strdup(min);
	bad = tu_printf("%.*s~", KETEN_Z85_KEYLEN - 1, f->broker_key);
	tu_replace(&text, f->broker_key, bad);
	load_fails(f, AGENT, text, "3:13: ", "broker_key must be");
	free(bad);
	free(text);
	text = strdup(min);
	tu_replace(&text, f->broker_key, "");
	load_fails(f, AGENT, text, "3:13: ", "broker_key must be");
	free(text);

	/* an agency id that is not one */
	text = strdup(min);
	tu_replace(&text, "agency: politie", "agency: Politie_NL");
	load_fails(f, AGENT, text, "1:9: ", "invalid agency id \"Politie_NL\"");
	free(text);
	free(min);
}

/* metrics_listen: numeric HOST:PORT, loopback unless metrics_public: true */
static void
test_broker_metrics(void **state)
{
	struct fixture *f = *state;
	char err[KETEN_ERRLEN], *path, *text;
	struct broker_config *c = NULL;

	path = tu_write(f->dir, "broker.yaml", broker_min, 0640);
	if (broker_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_null(c->metrics_listen);	/* off by default */
	assert_false(c->metrics_public);
	broker_config_free(&c);
	free(path);

	text = tu_printf("%smetrics_listen: 127.0.0.1:9464\n", broker_min);
	path = tu_write(f->dir, "broker.yaml", text, 0640);
	if (broker_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c->metrics_listen, "127.0.0.1:9464");
	assert_int_equal(c->metrics_addr.ss_family, AF_INET);
	broker_config_free(&c);
	free(path);
	free(text);

	text = tu_printf("%smetrics_listen: \"[::1]:9464\"\n", broker_min);
	path = tu_write(f->dir, "broker.yaml", text, 0640);
	if (broker_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(c->metrics_addr.ss_family, AF_INET6);
	broker_config_free(&c);
	free(path);
	free(text);

	text = tu_printf("%smetrics_listen: 0.0.0.0:9464\n", broker_min);
	load_fails(f, BROKER, text, "7:17: ", "0.0.0.0:9464 is not a loopback address");
	free(text);
	text = tu_printf("%smetrics_listen: 192.0.2.7:9464\nmetrics_public: true\n", broker_min);
	path = tu_write(f->dir, "broker.yaml", text, 0640);
	if (broker_config_load(path, &c, err) != 0)
		fail_msg("refused: %s", err);
	assert_true(c->metrics_public);
	broker_config_free(&c);
	free(path);
	free(text);
	text = tu_printf("%smetrics_listen: 9464\n", broker_min);
	load_fails(f, BROKER, text, "7:17: ", "must be HOST:PORT with a numeric address");
	free(text);
	text = tu_printf("%smetrics_listen: 127.0.0.1:65536\n", broker_min);
	load_fails(f, BROKER, text, "7:17: ", "must be HOST:PORT");
	free(text);
	text = tu_printf("%smetrics_listen: 127.0.0.1:9464\nmetrics_public: yes\n", broker_min);
	load_fails(f, BROKER, text, "8:17: ", "must be true or false");
	free(text);
}

/* config_parse_hostport on its own */
static void
test_hostport(void **state)
{
	struct sockaddr_storage a;
	socklen_t len;
	bool lo;

	(void)state;
	assert_int_equal(config_parse_hostport("127.0.0.1:1", &a, &len, &lo), 0);
	assert_true(lo);
	assert_int_equal(config_parse_hostport("127.1.2.3:65535", &a, &len, &lo), 0);
	assert_true(lo);
	assert_int_equal(config_parse_hostport("localhost:9464", &a, &len, &lo), 0);
	assert_true(lo);
	assert_int_equal(config_parse_hostport("10.0.0.1:80", &a, &len, &lo), 0);
	assert_false(lo);
	assert_int_equal(config_parse_hostport("[::1]:80", &a, &len, &lo), 0);
	assert_true(lo);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(config_parse_hostport("[::ffff:127.0.0.1]:80", &a, &len, &lo), 0);
	assert_true(lo);
	assert_int_equal(config_parse_hostport("[::]:80", &a, &len, &lo), 0);
	assert_false(lo);
	static const char *const bad[] = {
		"", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:-1", "127.0.0.1:1x",
		"127.0.0.1:000080", "::1:80", "[::1]80", "[::1]", "[127.0.0.1]:80", "host.example:80",
		"256.0.0.1:80", "[fe80::1%eth0]:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_hostport(bad[i], &a, &len, &lo) != KETEN_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_broker_minimal),
		T(test_broker_full),
		T(test_broker_errors),
		T(test_broker_missing_file),
		T(test_broker_metrics),
		T(test_hostport),
		T(test_agent_minimal),
		T(test_agent_full),
		T(test_agent_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
