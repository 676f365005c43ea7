/*
 * keten-agent's start and end: options, configuration, keys and the root,
 * the directory and policy, the store, seccomp, the sockets and the REST
 * API; signals; one teardown for every way out (agent/agent.h lists the
 * roles).
 */
#include <getopt.h>
#include <malloc.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/harden.h"
#include "common/version.h"
#include "common/yamltree.h"

volatile sig_atomic_t agent_stopping;

static void
on_signal(int sig)
{
	(void)sig;
	agent_stopping = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: keten-agent --config FILE [-n] [--verbose]\n"
	    "  -c, --config FILE  the configuration (keten.yaml(5), docs/operator.md)\n"
	    "  -n, --check     check the configuration and keys, then exit\n"
	    "  -v, --verbose   log debug lines\n"
	    "  -V, --version   print the version\n"
	    "  -h, --help      this text\n");
	exit(f == stdout ? 0 : 2);
}

/* Our keys (and those being rotated out), the root, the broker's keys. */
static int
load_keys(struct agent *a)
{
	char err[KETEN_ERRLEN];

	if (keys_load(a->cfg->keys, &a->keys, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (strcmp(a->keys->id, a->cfg->agency) != 0) {
		log_warnx("%s: keys belong to \"%s\", but the configuration says agency \"%s\"",
		    a->cfg->keys, a->keys->id, a->cfg->agency);
		return -1;
	}
	if (a->cfg->previous_keys != NULL) {
		if (keys_load(a->cfg->previous_keys, &a->prev_keys, err) != 0) {
			log_warnx("%s", err);
			return -1;
		}
		if (strcmp(a->prev_keys->id, a->cfg->agency) != 0) {
			log_warnx("%s: previous keys belong to \"%s\", not to %s", a->cfg->previous_keys,
			    a->prev_keys->id, a->cfg->agency);
			return -1;
		}
	}
	if (trust_root_load(a->cfg->root, &a->root, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	key_z85_decode(a->broker_pk, a->cfg->broker_key);
	if (a->cfg->broker_signing_key != NULL) {
		key_b64_decode(a->broker_sign_pk, sizeof(a->broker_sign_pk), a->cfg->broker_signing_key);
		a->have_broker_sign_pk = true;
	}
	return 0;
}

/* The key for case pseudonyms (network_key), read through the secret-file check. */
static int
load_network_key(struct agent *a)
{
	struct ydoc *doc = NULL;
	const char *b64 = NULL;
	char err[KETEN_ERRLEN], *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if (a->cfg->network_key == NULL)
		return 0;
	if (secret_file_read(a->cfg->network_key, 4096, &buf, &len, err) != 0 ||
	    ydoc_parse(a->cfg->network_key, buf, len, &doc, err) != 0 ||
	    ydoc_expect_map(doc, ydoc_root(doc), "network key file", err) != 0 ||
	    ydoc_get_str(doc, ydoc_root(doc), "network_key", true, &b64, err) != 0)
		goto out;
	if ((a->network_key = sodium_malloc(32)) == NULL || key_b64_decode(a->network_key, 32, b64) != 0) {
		snprintf(err, sizeof(err), "%s: network_key must be the base64 of 32 bytes",
		    a->cfg->network_key);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		log_warnx("%s", err);
	ydoc_free(&doc);
	secret_file_free(&buf, len);
	return rc;
}

/* The directory and policy files of the configuration, compiled. */
static int
load_rules(struct agent *a)
{
	char err[KETEN_ERRLEN];

	char *dsrc = NULL;
	size_t dlen = 0;
	int rc = file_read(a->cfg->directory, YDOC_MAX_BYTES, &dsrc, &dlen, err);
	if (rc == 0 && (rc = directory_parse(a->cfg->directory, dsrc, dlen, &a->dir, err)) == 0)
		crypto_hash_sha256(a->view_dir_sha, (const uint8_t *)dsrc, dlen);
	free(dsrc);
	if (rc != 0 ||
	    file_read(a->cfg->policy, YDOC_MAX_BYTES, &a->policy_src, &a->policy_src_len, err) != 0 ||
	    policy_parse(a->cfg->policy, a->policy_src, a->policy_src_len, a->dir, &a->policy,
	    err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

/* The store, what it kept across a restart, and the seccomp filter. */
static int
open_store(struct agent *a)
{
	char err[KETEN_ERRLEN];

	if (db_env_open(a->cfg->data_dir, a->cfg->map_size_mb, 12, &a->env, err) != 0 ||
	    store_open(a->env, &a->store, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	randombytes_buf(a->instance, sizeof(a->instance));
	if (sync_restore(a) != 0)
		return -1;
	{	/* the newest checkpoint we witnessed survives restarts */
		MDB_txn *rt;
		if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) == 0) {
			char *note = store_meta_get(a->store, rt, "witness_note");
			char origin[256];
			if (note != NULL && a->have_broker_sign_pk) {
				snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(note, "\n"), note);
				if (checkpoint_verify(note, origin, a->broker_sign_pk, &a->witness_size,
				    a->witness_root, err) != 0)
					a->witness_size = 0;
			}
			free(note);
			mdb_txn_abort(rt);
		}
	}
	if (sync_restore(a) != 0)
		return -1;
	/* before ZeroMQ and libmicrohttpd start their threads, which inherit the filter */
	int frc = a->cfg->seccomp ? harden_seccomp(err) : 0;
	if (frc < 0) {
		log_warnx("%s", err);
		return -1;
	}
	log_info("seccomp: %s", !a->cfg->seccomp ? "off (seccomp: false)" : frc == 0 ?
	    "system call filter installed" : "not installed in this sanitizer build");
	return 0;
}

/* The DEALER socket to the broker, the control socket and the REST API. */
static int
open_sockets(struct agent *a)
{
	char err[KETEN_ERRLEN];

	a->zctx = zmq_ctx_new();
	a->dealer = zmq_socket(a->zctx, ZMQ_DEALER);
	a->control = zmq_socket(a->zctx, ZMQ_ROUTER);
	int one = 1, zero = 0, hb = (int)a->cfg->heartbeat_ms, hbt = 3 * hb;
	int rc_ivl = 100, rc_max = 5000;
	int64_t maxmsg = (int64_t)a->cfg->max_message_bytes * 2 + 65536;
	int64_t ctlmax = CONTROL_MAX_FRAME;
	if (zmq_setsockopt(a->dealer, ZMQ_CURVE_SERVERKEY, a->broker_pk, 32) ||
	    zmq_setsockopt(a->dealer, ZMQ_CURVE_PUBLICKEY, a->keys->tx_pk, 32) ||
	    zmq_setsockopt(a->dealer, ZMQ_CURVE_SECRETKEY, a->keys->tx_sk, 32) ||
	    zmq_setsockopt(a->dealer, ZMQ_IMMEDIATE, &one, sizeof(one)) ||
	    zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL, &rc_ivl, sizeof(rc_ivl)) ||
	    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL_MAX, &rc_max, sizeof(rc_max)) ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(a->dealer, ZMQ_HEARTBEAT_TTL, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(a->dealer, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(a->control, ZMQ_MAXMSGSIZE, &ctlmax, sizeof(ctlmax)) ||
	    zmq_setsockopt(a->control, ZMQ_LINGER, &zero, sizeof(zero))) {
		log_warnx("socket options: %s", zmq_strerror(errno));
		return -1;
	}
	if (zmq_bind(a->control, REST_CONTROL) != 0) {
		log_warnx("cannot bind the control socket %s: %s", REST_CONTROL, zmq_strerror(errno));
		return -1;
	}
	if (rest_start(a->cfg, a->zctx, a->api_token_hash, &a->rest, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	char sock[4096];
	if (a->cfg->api_listen != NULL)
		log_info("REST API on http://%s/v1/ and %s", a->cfg->api_listen,
		    config_api_socket(a->cfg, sock, sizeof(sock)));
	if (zmq_connect(a->dealer, a->cfg->broker) != 0) {
		log_warnx("cannot connect to %s: %s", a->cfg->broker, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

/* Everything the agent needs to serve; with check_only, only what -n checks. */
static int
setup(struct agent *a, bool check_only)
{
	char err[KETEN_ERRLEN];

	if (load_keys(a) != 0 || load_network_key(a) != 0 || load_rules(a) != 0)
		return -1;
	a->okeys = (struct outbound_keys){ a->dir, a->keys, a->network_key, a->prev_keys, NULL };
	sync_view(a);
	/* -n says what the start would refuse: the account, the data directory */
	if (check_only && harden_check_user(a->cfg->user, "user", a->cfg->data_dir, err) != 0) {
		log_warnx("%s: %s", a->cfg->path, err);
		return -1;
	}
	if (check_only)
		return 0;
	if (a->cfg->api_listen != NULL && rest_read_token(a->cfg->api_token, a->api_token_hash, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	/* every secret file is read: root is no longer needed */
	if (harden_drop_user(a->cfg->user, "user", err) != 0) {
		log_warnx("%s: %s", a->cfg->path, err);
		return -1;
	}
	if (open_store(a) != 0)
		return -1;
	sync_view(a);	/* what the store kept: adopted versions, the witnessed checkpoint */
	return open_sockets(a);
}

/*
 * The one way out, whatever setup reached: -n, a failed start, a stop.
 * The API threads waiting on the agent are woken (ETERM) before the API
 * stops.
 */
static void
teardown(struct agent *a)
{
	if (a->zctx != NULL)
		zmq_ctx_shutdown(a->zctx);
	rest_stop(&a->rest);
	if (a->dealer != NULL)
		zmq_close(a->dealer);
	if (a->control != NULL)
		zmq_close(a->control);
	if (a->zctx != NULL)
		zmq_ctx_term(a->zctx);
	store_free(&a->store);
	if (a->env != NULL)
		mdb_env_close(a->env);
	for (size_t i = 0; i < a->npend; i++)
		free(a->pend[i].frame);
	free(a->pend);
	keys_free(&a->keys);
	keys_free(&a->prev_keys);
	if (a->network_key != NULL)
		sodium_free(a->network_key);
	trust_root_free(&a->root);
	policy_free(&a->policy);
	checkpoint_memo_clear(&a->checkpoint_memo);
	free(a->policy_src);
	directory_free(&a->dir);
	agent_config_free(&a->cfg);
}

static void
print_check(const struct agent *a, const char *config)
{
	char hex[65];

	sodium_bin2hex(hex, sizeof(hex), a->root->sha256, 32);
	printf("%s: configuration OK (agency %s, broker %s, policy %s version %s)\n", config,
	    a->cfg->agency, a->cfg->broker, policy_name(a->policy), policy_version(a->policy));
	printf("root of trust: %s, network %s version %llu (sha256 %s), %zu keys; approvals "
	    "needed: policy %u, directory %u, recovery %u, root %u agencies\n", a->cfg->root,
	    a->root->network, (unsigned long long)a->root->version, hex, a->root->nkeys,
	    a->root->policy, a->root->directory, a->root->recovery, a->root->root);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* static: the zeroed pages of its tables (sent_at, dq) stay untouched,
	 * and so out of the resident set, until they are used */
	static struct agent a;
	const char *config = NULL;
	bool check = false, verbose = false;
	char err[KETEN_ERRLEN];
	int ch;

	while ((ch = getopt_long(argc, argv, "c:nvhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'n': check = true; break;
		case 'v': verbose = true; break;
		case 'V':
			printf("keten-agent %s\n", KETEN_VERSION);
			return 0;
		case 'h': usage(stdout); break;
		default: usage(stderr);
		}
	}
	if (config == NULL || optind != argc)
		usage(stderr);
	log_init("agent", verbose);
	if (sodium_init() < 0)
		fatal("libsodium initialisation failed");
	if (codec_init() != 0)
		fatal("case message schema tables could not be built");
	if (agent_config_load(config, &a.cfg, err) != 0)
		fatal("%s", err);
	char comp[KETEN_IDMAX + 8];
	snprintf(comp, sizeof(comp), "agent %s", a.cfg->agency);
	log_init(comp, verbose);
	if (setup(&a, check) != 0) {
		teardown(&a);
		fatal("%s: configuration not usable", config);
	}
	if (check) {
		print_check(&a, config);
		teardown(&a);
		return 0;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the parse trees and tables of start-up are freed: give their pages back */
	malloc_trim(0);
	char sock[4096];
	log_info("started; broker %s, API %s, policy %s version %s", a.cfg->broker,
	    config_api_socket(a.cfg, sock, sizeof(sock)), policy_name(a.policy), policy_version(a.policy));
	loop_run(&a);
	log_info("stopping: commits=%llu commands=%llu submitted=%llu acked=%llu rejected=%llu "
	    "received=%llu duplicates=%llu refused=%llu; seconds in poll=%.2f apply=%.2f "
	    "commit=%.2f send=%.2f; acknowledgements committed with the next batch=%llu",
	    (unsigned long long)a.commits,
	    (unsigned long long)a.committed, (unsigned long long)a.submitted,
	    (unsigned long long)a.acked, (unsigned long long)a.rejected,
	    (unsigned long long)a.received, (unsigned long long)a.dups,
	    (unsigned long long)a.refused, a.t_poll, a.t_apply, a.t_commit, a.t_send,
	    (unsigned long long)a.acks_waited);
	teardown(&a);
	return 0;
}
