/*
 * keten-broker's start and end: options, configuration, keys, the directory
 * and policy, LMDB, the metrics endpoint, seccomp, the verifier and the
 * CURVE socket; signals; one teardown for every way out (broker/broker.h
 * lists the roles).
 */
#include <getopt.h>
#include <malloc.h>

#include "broker/broker.h"
#include "common/harden.h"
#include "common/version.h"

volatile sig_atomic_t broker_stopping, broker_reload;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		broker_reload = 1;
	else
		broker_stopping = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: keten-broker --config FILE [-n | --reindex] [--verbose]\n"
	    "  -c, --config FILE  the configuration (keten.yaml(5), docs/operator.md)\n"
	    "  -n, --check     check the configuration, keys and directory, then exit\n"
	    "      --reindex   rebuild the ledger's indexes from its entries (broker\n"
	    "                  stopped), then exit\n"
	    "  -v, --verbose   log debug lines\n"
	    "  -V, --version   print the version\n"
	    "  -h, --help      this text\n");
	exit(f == stdout ? 0 : 2);
}

/* LMDB, the queue, the ledger, the audit spool and, if configured, /metrics. */
static int
open_store(struct broker *b)
{
	char err[KETEN_ERRLEN];
	int rc;

	if ((b->peers = calloc(b->dir->n ? b->dir->n : 1, sizeof(*b->peers))) == NULL)
		return -1;
	for (size_t i = 0; i < b->dir->n; i++)
		b->peers[i].agency = &b->dir->agencies[i];
	if ((rc = db_env_open(b->cfg->data_dir, b->cfg->map_size_mb, 16, &b->env, err)) != 0 ||
	    (rc = queue_open(b->env, &b->queue, err)) != 0 ||
	    (rc = ledger_open(b->env, b->cfg->origin, &b->ledger, err)) != 0 ||
	    (rc = spool_open(b->cfg->data_dir, &b->spool, err)) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	if (metrics_new(&b->metrics) != 0)
		return -1;
	if (b->cfg->metrics_listen == NULL)
		return 0;
	if ((rc = session_count_queued(b)) != 0) {
		log_warnx("cannot count the delivery queue: %s", keten_strerror(rc));
		return -1;
	}
	loop_check_storage(b);
	if ((rc = metrics_listen(b->metrics, (const struct sockaddr *)&b->cfg->metrics_addr,
	    b->cfg->metrics_addrlen, session_fill_metrics, b, err)) != 0) {
		log_warnx("metrics_listen %s: %s", b->cfg->metrics_listen, err);
		return -1;
	}
	log_info("serving /metrics and /healthz on http://%s%s", b->cfg->metrics_listen,
	    b->cfg->metrics_public ? " (metrics_public: not only this host)" : "");
	return 0;
}

/* The seccomp filter, the verifier's threads and the frame ring. */
static int
start_workers(struct broker *b)
{
	char err[KETEN_ERRLEN];
	int rc = 0;

	randombytes_buf(b->instance, sizeof(b->instance));
	/* before ZeroMQ starts its threads, which inherit the filter */
	if (b->cfg->seccomp && (rc = harden_seccomp(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	log_info("seccomp: %s", !b->cfg->seccomp ? "off (seccomp: false)" : rc == 0 ?
	    "system call filter installed" : "not installed in this sanitizer build");
	if ((rc = verifier_new((unsigned)b->cfg->verify_threads, &b->verifier)) != 0) {
		log_warnx("cannot start the verifier's threads: %s", keten_strerror(rc));
		return -1;
	}
	if ((rc = syncer_new(b->env, &b->syncer)) != 0) {
		log_warnx("cannot start the sync thread: %s", keten_strerror(rc));
		return -1;
	}
	b->ring.cap = b->cfg->batch_max * 2 < 64 ? 64 : b->cfg->batch_max * 2 > 8192 ? 8192 :
	    b->cfg->batch_max * 2;
	if ((b->ring.f = calloc(b->ring.cap, sizeof(*b->ring.f))) == NULL)
		return -1;
	log_info("signatures checked on %u thread%s beside the commit",
	    verifier_threads(b->verifier), verifier_threads(b->verifier) == 1 ? "" : "s");
	return 0;
}

/* The ZAP handler and the ROUTER socket, a CURVE server, bound to listen. */
static int
open_socket(struct broker *b)
{
	b->zctx = zmq_ctx_new();
	if ((b->zap = zap_open(b->zctx)) == NULL) {
		log_warnx("cannot start the ZAP handler: %s", zmq_strerror(errno));
		return -1;
	}
	b->router = zmq_socket(b->zctx, ZMQ_ROUTER);
	int one = 1, zero = 0, hb = (int)b->cfg->heartbeat_ms, hbt = 3 * hb;
	int hwm = (int)(b->cfg->window * 2 + 1000);
	int64_t maxmsg = (int64_t)b->cfg->max_message_bytes * 2 + 65536;
	if (b->router == NULL ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, b->keys->tx_sk, 32) ||
	    zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, "keten", 5) ||
	    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
	    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(b->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) ||
	    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TTL, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof(zero))) {
		log_warnx("socket options: %s", zmq_strerror(errno));
		return -1;
	}
	if (zmq_bind(b->router, b->cfg->listen) != 0) {
		log_warnx("cannot listen on %s: %s", b->cfg->listen, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * --reindex: the ledger's indexes are derived data; rebuild them all from
 * the entries, in transactions of INDEX_REBUILD_CHUNK entries.  The broker
 * must be stopped (db_env_open takes the data directory's lock).
 */
#define INDEX_REBUILD_CHUNK 20000

static int
reindex(struct broker *b)
{
	char err[KETEN_ERRLEN];
	uint64_t entries = 0, done = 0, total = 0;
	MDB_txn *txn = NULL;
	int rc;
	struct timespec t0, t1;

	if (harden_drop_user(b->cfg->user, "user", err) != 0) {
		log_warnx("%s: %s", b->cfg->path, err);
		return -1;
	}
	if ((rc = db_env_open(b->cfg->data_dir, b->cfg->map_size_mb, 16, &b->env, err)) != 0 ||
	    (rc = ledger_open(b->env, b->cfg->origin, &b->ledger, err)) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0 ||
	    (rc = ledger_index_reset(b->ledger, txn, &entries)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		log_warnx("reindex: %s", rc > 0 ? mdb_strerror(rc) : keten_strerror(rc));
		return -1;
	}
	do {
		txn = NULL;
		if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0 ||
		    (rc = ledger_index_catchup(b->ledger, txn, INDEX_REBUILD_CHUNK, &done)) != 0 ||
		    (rc = mdb_txn_commit(txn)) != 0) {
			if (txn != NULL)
				mdb_txn_abort(txn);
			log_warnx("reindex: %s (%llu of %llu entries indexed; run it again)",
			    rc > 0 ? mdb_strerror(rc) : keten_strerror(rc),
			    (unsigned long long)total, (unsigned long long)entries);
			return -1;
		}
		total += done;
	} while (done == INDEX_REBUILD_CHUNK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: the ledger's indexes rebuilt from its %llu entries in %.1f s\n",
	    b->cfg->data_dir, (unsigned long long)entries,
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

/* Everything the broker needs to serve; with check_only, only what -n checks. */
static int
setup(struct broker *b, bool check_only)
{
	char err[KETEN_ERRLEN];

	if (keys_load(b->cfg->keys, &b->keys, err) != 0) {
		log_warnx("%s", err);
		return -1;
	}
	/* the secret key is read: root is no longer needed */
	if (!check_only && harden_drop_user(b->cfg->user, "user", err) != 0) {
		log_warnx("%s: %s", b->cfg->path, err);
		return -1;
	}
	/* -n says what the start would refuse: the account, the data directory */
	if (check_only && harden_check_user(b->cfg->user, "user", b->cfg->data_dir, err) != 0) {
		log_warnx("%s: %s", b->cfg->path, err);
		return -1;
	}
	if (distribute_load(b) != 0)
		return -1;
	if (check_only)
		return 0;
	if (open_store(b) != 0 || start_workers(b) != 0 || open_socket(b) != 0)
		return -1;
	return 0;
}

/*
 * The one way out, whatever setup reached: -n, a normal stop, a failed
 * start.  The verifier goes before the ring, whose frames its jobs point into.
 */
static void
teardown(struct broker *b)
{
	verifier_free(&b->verifier);
	syncer_free(&b->syncer);
	loop_ring_free(&b->ring);
	if (b->router != NULL)
		zmq_close(b->router);
	if (b->zap != NULL)
		zmq_close(b->zap);
	if (b->zctx != NULL)
		zmq_ctx_term(b->zctx);
	queue_free(&b->queue);
	ledger_free(&b->ledger);
	spool_free(&b->spool);
	metrics_free(&b->metrics);
	if (b->env != NULL)
		mdb_env_close(b->env);
	for (size_t i = 0; i < b->nreplies; i++)
		free(b->replies[i].frame);
	free(b->replies);
	for (size_t i = 0; i < b->held.nreplies; i++)
		free(b->held.replies[i].frame);
	free(b->held.replies);
	free(b->held.acks);
	free(b->peers);
	free(b->policy_frame);
	free(b->dir_frame);
	free(b->acks);
	keys_free(&b->keys);
	trust_root_free(&b->root);
	for (size_t i = 0; i < b->nroots; i++)
		free(b->roots[i].frame);
	free(b->policy_approvals);
	free(b->dir_approvals);
	free(b->dir_src);
	free(b->policy_src);
	if (b->has_policy_act)
		ledger_receipt_clear(&b->policy_act);
	if (b->has_dir_act)
		ledger_receipt_clear(&b->dir_act);
	policy_free(&b->policy);
	policy_free(&b->shadow);
	directory_free(&b->dir);
	broker_config_free(&b->cfg);
	memset(b, 0, sizeof(*b));
}

static void
log_stats(const struct broker *b)
{
	log_info("stopping: commits=%llu commands=%llu avg_batch=%.1f max_batch=%llu "
	    "submits=%llu duplicates=%llu delivered=%llu errors=%llu policy_rejects=%llu "
	    "shadow_diffs=%llu pages_written=%llu (%.1f per submission); seconds in poll=%.2f "
	    "take=%.2f apply=%.2f commit=%.2f send=%.2f (waiting for syncs %.2f of apply); "
	    "commits synced beside the next batch=%llu",
	    (unsigned long long)b->commits, (unsigned long long)b->committed_cmds,
	    b->commits ? (double)b->committed_cmds / (double)b->commits : 0.0,
	    (unsigned long long)b->max_batch, (unsigned long long)b->submits,
	    (unsigned long long)b->dups, (unsigned long long)b->delivered,
	    (unsigned long long)b->errors, (unsigned long long)b->policy_rejects,
	    (unsigned long long)b->shadow_diffs, (unsigned long long)b->pages_written,
	    b->submits ? (double)b->pages_written / (double)b->submits : 0.0, b->t_poll, b->t_take,
	    b->t_apply, b->t_commit, b->t_send, b->t_sync, (unsigned long long)b->overlapped);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "reindex", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct broker b;
	const char *config = NULL;
	bool check = false, verbose = false, rebuild = false;
	char err[KETEN_ERRLEN];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:nvhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'n': check = true; break;
		case 'R': rebuild = true; break;
		case 'v': verbose = true; break;
		case 'V':
			printf("keten-broker %s\n", KETEN_VERSION);
			return 0;
		case 'h': usage(stdout); break;
		default: usage(stderr);
		}
	}
	if (config == NULL || optind != argc || (check && rebuild))
		usage(stderr);
	log_init("broker", verbose);
	/* Each nested LMDB transaction (one per ledger entry and submission)
	 * allocates and frees a 2 MiB dirty list, and the ring frees up to
	 * 2 x batch_max unpacked commands at once.  With glibc's defaults that
	 * was an mmap/munmap, or a heap trim and regrowth, per entry: half the
	 * loop's time in page faults at 1,000 in flight.  Keep such blocks on
	 * the heap and the heap's free memory for the next batch. */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	if (sodium_init() < 0)
		fatal("libsodium initialisation failed");
	if (codec_init() != 0)
		fatal("case message schema tables could not be built");
	if (broker_config_load(config, &b.cfg, err) != 0)
		fatal("%s", err);
	if (rebuild) {
		rc = reindex(&b);
		teardown(&b);
		return rc == 0 ? 0 : 1;
	}
	if (setup(&b, check) != 0) {
		teardown(&b);
		fatal("%s: configuration not usable", config);
	}
	if (check) {
		printf("%s: configuration OK (%zu agencies in %s, policy %s version %s)\n", config,
		    b.dir->n, b.cfg->directory, policy_name(b.policy), policy_version(b.policy));
		teardown(&b);
		return 0;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("listening on %s with %zu agencies in the directory (version %llu)",
	    b.cfg->listen, b.dir->n, (unsigned long long)b.dir->version);
	distribute_announce(&b);
	loop_run(&b);
	log_stats(&b);
	bool failed = b.sync_failed;
	teardown(&b);
	return failed ? 1 : 0;
}
