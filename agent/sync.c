/*
 * What the broker distributes, taken only as the partners approved it
 * (docs/trust.md): the policy and the directory, checked against the
 * approvals and the root this agent was given, never older than ours, kept
 * across restarts; the outbox refiltered when the policy changes; and the
 * witness of the broker's ledger, which cosigns only a checkpoint that
 * extends what it verified before.
 */
#include "agent/agent.h"
#include "schemas/ledger.pb-c.h"
#include "ledger/merkle.h"

/*
 * Filter outbox entry `ref` again under the current policy (DESIGN.md: an
 * envelope made under an older policy is refiltered and resent).  Keeps the
 * message id; a message the new policy lets nobody have is rejected.
 * Returns true when the entry changed.
 */
bool
sync_refilter(struct agent *a, MDB_txn *txn, uint64_t ref)
{
	Keten__Wire__V1__Command *sub = NULL;
	Keten__Local__V1__LocalSubmit *orig = NULL;
	void *ledger_arg[2] = { a, txn };
	struct policy_ledger ledger = control_policy_ledger(ledger_arg);
	struct outbound *ob = NULL;
	char err[KETEN_ERRLEN], hash[2 * POLICY_HASHBYTES + 1], ids[KETEN_UUIDSTRLEN];
	bool changed = false;
	int rc;

	if (store_outbox_get(a->store, txn, ref, &sub, &orig) != 0 || sub == NULL ||
	    sub->cmd_case != KETEN__WIRE__V1__COMMAND__CMD_SUBMIT || sub->submit->header == NULL ||
	    sub->submit->header->message_id.len != KETEN_UUIDBYTES)
		goto out;
	const Keten__Envelope__V1__Header *h = sub->submit->header;
	policy_hash_hex(a->policy, hash);
	if (strcmp(h->policy_version, hash) == 0)
		goto out;	/* already made under the current policy */
	uuid_format(ids, h->message_id.data);
	if (orig == NULL) {
		log_warnx("message %s: made under another policy and its original is gone; left as is",
		    ids);
		goto out;
	}
	rc = outbound_prepare(a->policy, a->cfg->agency, &ledger, &a->okeys, orig,
	    a->cfg->max_message_bytes, h->message_id.data, &ob, err);
	if (rc == KETEN_EPERM && ob != NULL && ob->ndec > 0) {
		/* the new policy lets no recipient have it: it goes to the ledger as
		 * a refusal at the source instead */
		Keten__Wire__V1__SourceRefusal sr;
		outbound_refusal(ob, ref, &sr);
		if (store_outbox_put_refusal(a->store, txn, &sr, false) == 0) {
			log_warnx("message %s not sent: under policy %s %s (the refusal goes into the "
			    "ledger)", ids, policy_version(a->policy), err);
			changed = true;
			goto out;
		}
	}
	if (rc != 0) {
		char reason[KETEN_ERRLEN + 64];
		snprintf(reason, sizeof(reason), "policy %s: %.400s", policy_version(a->policy), err);
		if (store_outbox_done(a->store, txn, ref, h->message_id.data, SENT_REJECTED, reason) == 0)
			a->rejected++;
		log_warnx("message %s not resent: under policy %s %s", ids, policy_version(a->policy), err);
		changed = true;
		goto out;
	}
	ob->submit.ref = ref;
	if (store_outbox_replace(a->store, txn, &ob->submit) == 0) {
		log_info("message %s refiltered under policy %s (%zu fields withheld)", ids,
		    policy_version(a->policy), ob->nwithheld);
		changed = true;
	}
out:
	outbound_free(&ob);
	if (sub)
		keten__wire__v1__command__free_unpacked(sub, NULL);
	if (orig)
		keten__local__v1__local_submit__free_unpacked(orig, NULL);
	return changed;
}

struct stale_scan {
	uint64_t *refs;
	size_t n, cap;
};

static int
collect_ref(void *arg, uint64_t ref, const void *frame, size_t len)
{
	struct stale_scan *sc = arg;

	(void)frame, (void)len;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 64;
		uint64_t *nr = realloc(sc->refs, cap * sizeof(*nr));
		if (nr == NULL)
			return 1;
		sc->refs = nr;
		sc->cap = cap;
	}
	sc->refs[sc->n++] = ref;
	return 0;
}

void
sync_alarm(struct agent *a, const char *fmt, ...)
{
	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	char what[KETEN_ERRLEN + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	a->trust_alarms++;
	log_warnx("ALARM %s", what);
	e.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_NOT_ALLOWED;
	e.reason = what;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	loop_defer(a, true, NULL, 0, &c.base);
}

/* Keep what was adopted across restarts: a restart must not roll it back. */
static void
keep_adopted(struct agent *a, MDB_txn *txn, const char *what, const void *src, size_t len,
    const char *approvals)
{
	char name[32];

	snprintf(name, sizeof(name), "%s_src", what);
	if (store_meta_put(a->store, txn, name, src, len) != 0)
		log_warnx("cannot keep the adopted %s: a restart starts from the configured file", what);
	snprintf(name, sizeof(name), "%s_approvals", what);
	store_meta_put(a->store, txn, name, approvals, strlen(approvals));
}

/*
 * Key transparency: what an update activates is in the broker's ledger.
 * The receipt proves the entry in a signed checkpoint; a checkpoint of the
 * size we witnessed with another root is a forked ledger.
 */
static int
activation_proven(struct agent *a, const Keten__Wire__V1__Receipt *r, int kind, const char *what,
    const char *hash, char err[static KETEN_ERRLEN])
{
	uint64_t size;
	uint8_t root[32];
	int rc;

	if (!a->have_broker_sign_pk)
		return keten_seterr(err, KETEN_EINVAL, "no broker_signing_key to check that its "
		    "activation is in the ledger");
	if ((rc = receipt_verify_activation(r, a->broker_sign_pk, kind, what, hash, &size, root,
	    err)) != 0)
		return rc;
	if (size == a->witness_size && size > 0 && sodium_memcmp(root, a->witness_root, 32) != 0)
		return keten_seterr(err, KETEN_EINVAL, "its proof is in a ledger of %llu entries "
		    "other than the one we witnessed: the broker forked its ledger",
		    (unsigned long long)size);
	return 0;
}

/*
 * The broker's policy u, compiled in *out, is what the partners approved:
 * not older than ours, the version and name it says, approved by the policy
 * threshold of our root.  0, or -1 after an alarm.
 */
static int
policy_approved(struct agent *a, const Keten__Wire__V1__PolicyUpdate *u, struct policy **out)
{
	char err[KETEN_ERRLEN], name[128];
	int cmp = trust_version_cmp(u->version, policy_version(a->policy));

	if (cmp < 0) {
		sync_alarm(a, "policy update %.64s refused: older than ours (%s): a rollback",
		    u->version, policy_version(a->policy));
		return -1;
	}
	if (trust_check_policy(a->root, u->name, u->version, u->source.data, u->source.len,
	    u->approvals, strlen(u->approvals), err) != 0) {
		sync_alarm(a, "policy update %.64s refused, keeping %s: %s", u->version,
		    policy_version(a->policy), err);
		return -1;
	}
	snprintf(name, sizeof(name), "broker policy %.64s", u->version);
	if (policy_parse(name, u->source.data, u->source.len, a->dir, out, err) != 0) {
		log_warnx("policy update %.64s refused, keeping %s: %s", u->version,
		    policy_version(a->policy), err);
		return -1;
	}
	if (strcmp(policy_name(*out), u->name) != 0 || strcmp(policy_version(*out), u->version) != 0 ||
	    (cmp == 0 && memcmp(policy_hash(*out), policy_hash(a->policy), POLICY_HASHBYTES) != 0)) {
		sync_alarm(a, "policy update %.64s refused: %s", u->version, cmp == 0 ?
		    "the same version as ours with other content" :
		    "the file names another policy or version than the update");
		policy_free(out);
		return -1;
	}
	if (memcmp(policy_hash(*out), u->hash.data, POLICY_HASHBYTES) != 0) {
		log_warnx("policy update %.64s refused: it compiles differently here (is our directory "
		    "%s the broker's?)", u->version, a->cfg->directory);
		policy_free(out);
		return -1;
	}
	char hex[2 * POLICY_HASHBYTES + 1], what[160];
	policy_hash_hex(*out, hex);
	snprintf(what, sizeof(what), "policy %s version %s", u->name, u->version);
	if (activation_proven(a, u->activation, KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, what,
	    hex, err) != 0) {
		sync_alarm(a, "policy update %.64s refused: %s", u->version, err);
		policy_free(out);
		return -1;
	}
	return 0;
}

/* The broker's policy: check its approvals, compile, adopt, and refilter what waits. */
void
sync_policy_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__PolicyUpdate *u)
{
	struct policy *p = NULL;

	if (!a->cfg->policy_updates) {
		log_debug("policy update %.64s ignored (policy_updates: false)", u->version);
		return;
	}
	a->policy_synced = true;	/* even if we keep ours: we know the broker's */
	if (u->hash.len != POLICY_HASHBYTES) {
		log_warnx("malformed policy update ignored");
		return;
	}
	if (memcmp(u->hash.data, policy_hash(a->policy), POLICY_HASHBYTES) == 0)
		return;		/* the one we have */
	if (policy_approved(a, u, &p) != 0) {
		a->update_refused = true;
		return;
	}
	char *copy = malloc(u->source.len + 1);
	if (copy == NULL) {
		policy_free(&p);
		return;
	}
	memcpy(copy, u->source.data, u->source.len);
	copy[u->source.len] = '\0';
	free(a->policy_src);
	a->policy_src = copy;
	a->policy_src_len = u->source.len;
	policy_free(&a->policy);
	a->policy = p;
	a->update_refused = false;
	keep_adopted(a, txn, "policy", u->source.data, u->source.len, u->approvals);
	sync_view(a);
	log_info("policy %s version %s activated from the broker, approved by the partners",
	    policy_name(p), policy_version(p));

	/* what waits in the outbox was filtered by the old policy */
	struct stale_scan sc = { 0 };
	bool exhausted, any = false;
	store_outbox_scan(a->store, txn, 0, collect_ref, &sc, &exhausted);
	for (size_t i = 0; i < sc.n; i++)
		any |= sync_refilter(a, txn, sc.refs[i]);
	free(sc.refs);
	if (any) {
		a->cursor = 0;	/* send the refiltered entries again, in order */
		a->inflight = 0;
	}
}

/*
 * The broker's directory: newer than ours, approved by the root's rules
 * against ours (an agency's keys by that agency), our policy compiling
 * against it; then adopted.
 */
void
sync_directory_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__DirectoryUpdate *u)
{
	struct directory *nd = NULL;
	struct policy *p = NULL;
	char err[KETEN_ERRLEN], name[64];

	if (u->version == a->dir->version)
		return;		/* the one we have */
	if (u->version < a->dir->version) {
		sync_alarm(a, "directory version %llu from the broker refused: older than ours "
		    "(%llu): a rollback", (unsigned long long)u->version,
		    (unsigned long long)a->dir->version);
		return;
	}
	snprintf(name, sizeof(name), "broker directory v%llu", (unsigned long long)u->version);
	if (directory_parse(name, u->source.data, u->source.len, &nd, err) != 0 ||
	    nd->version != u->version) {
		log_warnx("directory version %llu refused: %s", (unsigned long long)u->version,
		    nd ? "its version field differs" : err);
		directory_free(&nd);
		return;
	}
	if (trust_check_directory(a->root, a->dir, nd, u->source.data, u->source.len, u->approvals,
	    strlen(u->approvals), err) != 0) {
		sync_alarm(a, "directory version %llu from the broker refused, keeping %llu: %s",
		    (unsigned long long)u->version, (unsigned long long)a->dir->version, err);
		directory_free(&nd);
		return;
	}
	char what[64];
	snprintf(what, sizeof(what), "directory version %llu", (unsigned long long)u->version);
	if (activation_proven(a, u->activation, KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED, what,
	    NULL, err) != 0) {
		sync_alarm(a, "directory version %llu from the broker refused: %s",
		    (unsigned long long)u->version, err);
		directory_free(&nd);
		return;
	}
	if (policy_parse(a->cfg->policy, a->policy_src, a->policy_src_len, nd, &p, err) != 0) {
		log_warnx("directory version %llu refused: our policy does not compile against it: %s",
		    (unsigned long long)u->version, err);
		directory_free(&nd);
		return;
	}
	policy_free(&a->policy);
	a->policy = p;
	directory_free(&a->dir);
	a->dir = nd;
	a->okeys.dir = nd;
	keep_adopted(a, txn, "directory", u->source.data, u->source.len, u->approvals);
	crypto_hash_sha256(a->view_dir_sha, u->source.data, u->source.len);
	sync_view(a);
	log_info("directory version %llu activated from the broker (%zu agencies), approved by "
	    "the partners", (unsigned long long)nd->version, nd->n);
}

static void
report_ledger(struct agent *a, const char *what)
{
	Keten__Wire__V1__Error e = KETEN__WIRE__V1__ERROR__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	log_warnx("LEDGER %s", what);
	e.code = KETEN__WIRE__V1__ERROR_CODE__ERROR_CODE_MALFORMED;
	e.reason = (char *)what;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ERROR;
	c.error = &e;
	loop_defer(a, true, NULL, 0, &c.base);
}

/*
 * We are a witness: the broker's newest checkpoint must extend the one we
 * verified before (consistency proof); then we cosign it.  A broker that
 * rewrote or rolled back its ledger is caught here.
 */
void
sync_witness_challenge(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__WitnessChallenge *w)
{
	char origin[256], err[KETEN_ERRLEN], what[KETEN_ERRLEN + 128];
	uint64_t size;
	uint8_t root[32];
	merkle_hash proof[MERKLE_MAX_PROOF];

	if (!a->have_broker_sign_pk || w->checkpoint == NULL)
		return;
	snprintf(origin, sizeof(origin), "%.*s", (int)strcspn(w->checkpoint, "\n"), w->checkpoint);
	if (checkpoint_verify(w->checkpoint, origin, a->broker_sign_pk, &size, root, err) != 0) {
		snprintf(what, sizeof(what), "checkpoint from the broker does not verify: %s", err);
		report_ledger(a, what);
		return;
	}
	if (size < a->witness_size) {
		snprintf(what, sizeof(what), "ROLLED BACK: the broker shows %llu entries, we saw %llu",
		    (unsigned long long)size, (unsigned long long)a->witness_size);
		report_ledger(a, what);
		return;
	}
	if (size == a->witness_size && a->witness_size > 0) {
		if (sodium_memcmp(root, a->witness_root, 32) != 0)
			report_ledger(a, "FORKED: the same size with another root");
		return;
	}
	if (a->witness_size > 0) {
		if (w->old_size != a->witness_size || w->n_consistency_proof > MERKLE_MAX_PROOF) {
			report_ledger(a, "INCONSISTENT: no consistency proof from the size we saw");
			return;
		}
		for (size_t i = 0; i < w->n_consistency_proof; i++) {
			if (w->consistency_proof[i].len != 32) {
				report_ledger(a, "INCONSISTENT: malformed consistency proof");
				return;
			}
			memcpy(proof[i], w->consistency_proof[i].data, 32);
		}
		if (merkle_verify_consistency(a->witness_size, size, a->witness_root, root,
		    (const merkle_hash *)proof, w->n_consistency_proof) != 0) {
			snprintf(what, sizeof(what), "INCONSISTENT: checkpoint %llu does not extend "
			    "checkpoint %llu: the broker rewrote its history", (unsigned long long)size,
			    (unsigned long long)a->witness_size);
			report_ledger(a, what);
			return;
		}
	}
	if (store_meta_put(a->store, txn, "witness_note", w->checkpoint, strlen(w->checkpoint)) != 0)
		return;
	a->witness_size = size;
	memcpy(a->witness_root, root, 32);
	sync_view(a);
	char *line = checkpoint_cosign(w->checkpoint, a->cfg->agency, (uint64_t)(now_ms() / 1000),
	    a->keys->sign_sk, a->keys->sign_pk);
	if (line != NULL) {
		Keten__Wire__V1__Cosignature cs = KETEN__WIRE__V1__COSIGNATURE__INIT;
		Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
		cs.size = size;
		cs.signature_line = line;
		c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_COSIGNATURE;
		c.cosignature = &cs;
		loop_defer(a, true, NULL, 0, &c.base);
		free(line);
	}
	log_debug("witnessed checkpoint %llu", (unsigned long long)size);
}

/*
 * What was adopted from the broker before a restart, when newer than the
 * configured files: a restart does not roll the agent back to versions a
 * broker could then serve again.  (They were checked when adopted; the
 * store is this agency's own.)
 */
int
sync_restore(struct agent *a)
{
	char err[KETEN_ERRLEN], *dsrc = NULL, *psrc = NULL;
	struct directory *nd = NULL;
	struct policy *np = NULL;
	MDB_txn *rt;
	int rc = 0;

	if (mdb_txn_begin(a->env, NULL, MDB_RDONLY, &rt) != 0)
		return 0;
	char *rsrc = store_meta_get(a->store, rt, "root_src");
	dsrc = store_meta_get(a->store, rt, "directory_src");
	psrc = a->cfg->policy_updates ? store_meta_get(a->store, rt, "policy_src") : NULL;
	mdb_txn_abort(rt);
	struct trust_root *nroot = NULL;
	if (rsrc != NULL && trust_root_parse("adopted root", rsrc, strlen(rsrc), &nroot, err) == 0 &&
	    nroot->version > a->root->version) {
		log_info("root version %llu, adopted before the restart, is newer than %s (version "
		    "%llu): kept", (unsigned long long)nroot->version, a->cfg->root,
		    (unsigned long long)a->root->version);
		trust_root_free(&a->root);
		a->root = nroot;
		nroot = NULL;
	}
	trust_root_free(&nroot);
	free(rsrc);
	if (dsrc != NULL && directory_parse("adopted directory", dsrc, strlen(dsrc), &nd, err) == 0 &&
	    nd->version > a->dir->version) {
		log_info("directory version %llu, adopted before the restart, is newer than %s "
		    "(version %llu): kept", (unsigned long long)nd->version, a->cfg->directory,
		    (unsigned long long)a->dir->version);
		directory_free(&a->dir);
		a->dir = nd;
		nd = NULL;
		crypto_hash_sha256(a->view_dir_sha, (const uint8_t *)dsrc, strlen(dsrc));
	}
	const char *src = a->policy_src;
	size_t len = a->policy_src_len;
	if (psrc != NULL && policy_parse("adopted policy", psrc, strlen(psrc), a->dir, &np, err) == 0 &&
	    trust_version_cmp(policy_version(np), policy_version(a->policy)) > 0) {
		log_info("policy version %s, adopted before the restart, is newer than %s (%s): kept",
		    policy_version(np), a->cfg->policy, policy_version(a->policy));
		src = psrc;
		len = strlen(psrc);
	}
	policy_free(&np);
	/* the policy compiles against the directory now active */
	if (policy_parse(src == psrc ? "adopted policy" : a->cfg->policy, src, len, a->dir, &np,
	    err) != 0) {
		log_warnx("%s", err);
		rc = -1;
	} else {
		policy_free(&a->policy);
		a->policy = np;
		if (src == psrc) {
			free(a->policy_src);
			a->policy_src = psrc;
			a->policy_src_len = len;
			psrc = NULL;
		}
	}
	a->okeys.dir = a->dir;
	directory_free(&nd);
	free(dsrc);
	free(psrc);
	return rc;
}

void
sync_view(struct agent *a)
{
	Keten__Envelope__V1__View *v = &a->view;

	keten__envelope__v1__view__init(v);
	v->directory_version = a->dir->version;
	v->directory_sha256 = (ProtobufCBinaryData){ 32, a->view_dir_sha };
	snprintf(a->view_policy, sizeof(a->view_policy), "%s %s", policy_name(a->policy),
	    policy_version(a->policy));
	v->policy = a->view_policy;
	v->witnessed_size = a->witness_size;
	memcpy(a->view_root, a->witness_root, 32);
	v->witnessed_root = (ProtobufCBinaryData){ a->witness_size ? 32 : 0, a->view_root };
	a->okeys.view = v;
}

void
sync_root_update(struct agent *a, MDB_txn *txn, const Keten__Wire__V1__RootUpdate *u)
{
	struct trust_root *nr = NULL;
	char err[KETEN_ERRLEN];

	if (trust_root_parse("broker root", u->source.data, u->source.len, &nr, err) != 0) {
		log_warnx("root update refused: %s", err);
		return;
	}
	if (nr->version == a->root->version && memcmp(nr->sha256, a->root->sha256, 32) != 0)
		sync_alarm(a, "root version %llu from the broker differs from ours: the broker "
		    "shows agencies different roots", (unsigned long long)nr->version);
	if (nr->version != a->root->version + 1) {
		trust_root_free(&nr);	/* the chain up to ours, or one after the next */
		return;
	}
	if (trust_check_root(a->root, nr, u->source.data, u->source.len, u->approvals,
	    strlen(u->approvals), err) != 0) {
		sync_alarm(a, "root version %llu from the broker refused, keeping version %llu: %s",
		    (unsigned long long)nr->version, (unsigned long long)a->root->version, err);
		trust_root_free(&nr);
		return;
	}
	keep_adopted(a, txn, "root", u->source.data, u->source.len, u->approvals);
	log_info("root %s version %llu activated from the broker, approved by the old root's "
	    "keys and its own", nr->network, (unsigned long long)nr->version);
	trust_root_free(&a->root);
	a->root = nr;
}
