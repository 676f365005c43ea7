/*
 * keten queue: what waits in the broker's delivery queue, for whom, since
 * when and why, read from its data directory (while it runs, or a copy).
 * Why a copy waits is what the disk can tell: the recipient revoked, outside
 * its validity window or not in the broker's active directory (held until
 * its retention ends), or else its agent has not taken it yet (offline, or
 * not acknowledged: the broker redelivers).  Whether an agent is connected
 * now is the broker's /healthz and /metrics.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/db.h"
#include "common/directory.h"
#include "common/queuedb.h"
#include "common/util.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten queue --data BROKER_DATA_DIR [--recipient ID] [--all] [--json]\n"
	    "  What waits in the broker's delivery queue: per recipient, how many copies,\n"
	    "  since when (the oldest accepted), and why: the recipient revoked, outside its\n"
	    "  validity window or not in the broker's active directory (the copies are held\n"
	    "  until their retention ends), or its agent has not taken them yet (offline, or\n"
	    "  not acknowledged; the broker redelivers).  --all lists every copy (sequence,\n"
	    "  message id, sender, type, purpose, accepted, retention end).  Reads the\n"
	    "  broker's data directory read-only, while it runs or from a copy.  --json:\n"
	    "  one JSON object.  Exit 0.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

struct waiting {
	char recipient[KETEN_IDMAX];
	uint64_t n, bytes;
	int64_t oldest_ms, newest_ms, first_expiry_ms;
};

struct walk {
	struct waiting *w;
	size_t nw;
	bool all, json;
	json_t *copies;
	int64_t now;
};

static const char *
short_name(const char *type)
{
	const char *dot = type ? strrchr(type, '.') : NULL;

	return dot ? dot + 1 : type ? type : "?";
}

/* "3 min", "2 h", "4 days": how long ago, for people. */
static void
age(char *out, size_t n, int64_t ms)
{
	int64_t s = ms / 1000;

	if (s < 120)
		snprintf(out, n, "%lld s", (long long)(s < 0 ? 0 : s));
	else if (s < 7200)
		snprintf(out, n, "%lld min", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, n, "%lld h", (long long)(s / 3600));
	else
		snprintf(out, n, "%lld days", (long long)(s / 86400));
}

static int
one_copy(void *arg, const struct queuedb_copy *c)
{
	struct walk *wk = arg;
	struct waiting *w = wk->nw ? &wk->w[wk->nw - 1] : NULL;
	const Keten__Wire__V1__Deliver *d = c->deliver;
	int64_t accepted = d ? d->accepted_ms : 0;

	if (w == NULL || strcmp(w->recipient, c->recipient) != 0) {
		struct waiting *nw = realloc(wk->w, (wk->nw + 1) * sizeof(*nw));
		if (nw == NULL)
			return 1;
		wk->w = nw;
		w = &wk->w[wk->nw++];
		memset(w, 0, sizeof(*w));
		snprintf(w->recipient, sizeof(w->recipient), "%s", c->recipient);
	}
	w->n++;
	w->bytes += c->bytes;
	if (accepted && (w->oldest_ms == 0 || accepted < w->oldest_ms))
		w->oldest_ms = accepted;
	if (accepted > w->newest_ms)
		w->newest_ms = accepted;
	if (c->expires_ms && (w->first_expiry_ms == 0 || c->expires_ms < w->first_expiry_ms))
		w->first_expiry_ms = c->expires_ms;
	if (!wk->all)
		return 0;
	const Keten__Envelope__V1__Header *h = d ? d->header : NULL;
	char id[KETEN_UUIDSTRLEN], t1[KETEN_TIMESTRLEN], t2[KETEN_TIMESTRLEN];
	uuid_format(id, c->message_id);
	if (wk->json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "recipient",
		    c->recipient, "seq", (json_int_t)c->seq, "messageId", id, "sender",
		    h ? h->sender : "", "type", h ? short_name(h->message_type) : "",
		    "purpose", h ? h->purpose : "", "acceptedMs", (json_int_t)accepted,
		    "expiresMs", (json_int_t)c->expires_ms);
		json_array_append_new(wk->copies, o);
	} else {
		printf("  %-20s #%-6llu %s  from %s  %s  purpose %s  accepted %s  %s%s\n",
		    c->recipient, (unsigned long long)c->seq, id, h ? h->sender : "?",
		    h ? short_name(h->message_type) : "?", h ? h->purpose : "?",
		    accepted ? time_iso(accepted, t1) : "?",
		    c->expires_ms ? "kept until " : "kept until delivered",
		    c->expires_ms ? time_iso(c->expires_ms, t2) : "");
	}
	return 0;
}

/* Why copies wait for `id`, from the broker's active directory. */
static void
why(char *out, size_t n, const struct directory *dir, const char *id, int64_t now)
{
	const struct dir_agency *a = dir ? directory_find(dir, id) : NULL;

	if (dir == NULL)
		snprintf(out, n, "its agent has not taken them (the broker's directory could not "
		    "be read)");
	else if (a == NULL)
		snprintf(out, n, "%s is not in the broker's directory (version %llu): held until "
		    "their retention ends", id, (unsigned long long)dir->version);
	else if (a->revoked)
		snprintf(out, n, "%s is revoked in the directory (version %llu): held until their "
		    "retention ends", id, (unsigned long long)dir->version);
	else if ((a->valid_from_ms && now < a->valid_from_ms) ||
	    (a->valid_until_ms && now >= a->valid_until_ms))
		snprintf(out, n, "%s is outside its validity window in the directory (version %llu)",
		    id, (unsigned long long)dir->version);
	else
		snprintf(out, n, "%s's agent has not taken them yet: offline, or not acknowledged "
		    "(the broker redelivers)", id);
}

int
cmd_queue(int argc, char **argv)
{
	const char *data = NULL, *recipient = NULL;
	struct walk wk = { .now = now_ms() };
	struct directory *dir = NULL;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	char err[KETEN_ERRLEN], path[4096];
	int rc;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--ledger") == 0) &&
		    i + 1 < argc)
			data = argv[++i];
		else if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc)
			recipient = argv[++i];
		else if (strcmp(argv[i], "--all") == 0)
			wk.all = true;
		else if (strcmp(argv[i], "--json") == 0)
			wk.json = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout);
		else {
			fprintf(stderr, "keten queue: unknown argument \"%s\"\n", argv[i]);
			return usage(stderr);
		}
	}
	if (data == NULL)
		return usage(stderr);
	if (db_env_open_readonly(data, &env, err) != 0) {
		fprintf(stderr, "keten queue: %s\n", err);
		return EXIT_FAIL;
	}
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, QUEUEDB_NAME, 0, &dbi)) != 0) {
		fprintf(stderr, "keten queue: %s holds no broker queue: %s\n", data, mdb_strerror(rc));
		if (txn != NULL)
			mdb_txn_abort(txn);
		mdb_env_close(env);
		return EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s/directory.active.yaml", data);
	if (directory_load(path, &dir, err) != 0)
		dir = NULL;
	wk.copies = json_array();
	if (wk.all && !wk.json)
		printf("every copy (recipient, sequence, message, sender, type, purpose, accepted, "
		    "kept until):\n");
	rc = queuedb_walk(txn, dbi, recipient, one_copy, &wk);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	if (rc != 0) {
		fprintf(stderr, "keten queue: the queue in %s cannot be read\n", data);
		free(wk.w);
		json_decref(wk.copies);
		directory_free(&dir);
		return EXIT_FAIL;
	}
	json_t *out = json_object(), *per = json_array();
	if (!wk.json) {
		if (wk.all)
			printf("\n");
		if (wk.nw == 0)
			printf("nothing waits%s%s in the broker's queue\n", recipient ? " for " : "",
			    recipient ? recipient : "");
		else
			printf("%-20s %7s  %-24s %-9s %s\n", "RECIPIENT", "WAITING", "OLDEST", "AGE",
			    "WHY");
	}
	for (size_t i = 0; i < wk.nw; i++) {
		const struct waiting *w = &wk.w[i];
		char reason[256], t[KETEN_TIMESTRLEN], a[32] = "?";
		why(reason, sizeof(reason), dir, w->recipient, wk.now);
		if (w->oldest_ms)
			age(a, sizeof(a), wk.now - w->oldest_ms);
		if (wk.json) {
			json_array_append_new(per, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s}",
			    "recipient", w->recipient, "waiting", (json_int_t)w->n, "bytes",
			    (json_int_t)w->bytes, "oldestMs", (json_int_t)w->oldest_ms, "newestMs",
			    (json_int_t)w->newest_ms, "firstExpiryMs", (json_int_t)w->first_expiry_ms,
			    "why", reason));
		} else {
			printf("%-20s %7llu  %-24s %-9s %s\n", w->recipient, (unsigned long long)w->n,
			    w->oldest_ms ? time_iso(w->oldest_ms, t) : "?", a, reason);
		}
	}
	if (wk.json) {
		json_object_set_new(out, "recipients", per);
		if (wk.all)
			json_object_set_new(out, "copies", wk.copies);
		else
			json_decref(wk.copies);
		cli_print_json(out);
	} else {
		json_decref(per);
		json_decref(wk.copies);
	}
	json_decref(out);
	free(wk.w);
	directory_free(&dir);
	return EXIT_OK;
}
