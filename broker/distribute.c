/*
 * The directory and the policy at the broker: read and compiled at start and
 * on SIGHUP, activated only with the partners' approvals (common/trust.h,
 * docs/trust.md), logged in the ledger when they change, and pushed to the
 * agents with those approvals (on Hello and to every session when they
 * change).  The agents check the approvals themselves: the broker's own
 * check spares them a refusal, it is not what they rely on.
 */
#include "broker/broker.h"
#include "common/policysig.h"
#include "common/yamltree.h"

void
distribute_log_policy(const struct policy *p, const char *what)
{
	char hash[2 * POLICY_HASHBYTES + 1];

	policy_hash_hex(p, hash);
	log_info("%s policy %s version %s (sha256 %.16s...), %zu rules", what, policy_name(p),
	    policy_version(p), hash, policy_nrules(p));
}

/* FILE.approvals, or NULL when there is none. */
static char *
read_approvals(const char *file, size_t *len)
{
	char path[4096], err[KETEN_ERRLEN], *buf = NULL;

	*len = 0;
	snprintf(path, sizeof(path), "%s.approvals", file);
	if (file_read(path, NOTE_MAX_BYTES, &buf, len, err) != 0)
		return NULL;
	return buf;
}

/*
 * The policy p (from path, src) approved by the policy threshold of the
 * root and not older than the active one; its approvals in *approvals.
 */
static int
check_policy(struct broker *b, const char *path, const struct policy *p, const char *src,
    size_t len, char **approvals, char err[static KETEN_ERRLEN])
{
	size_t alen;
	int rc;

	if (b->policy != NULL && trust_version_cmp(policy_version(p), policy_version(b->policy)) < 0)
		return keten_seterr(err, KETEN_EPERM, "%s: version %s is older than the active %s",
		    path, policy_version(p), policy_version(b->policy));
	*approvals = read_approvals(path, &alen);
	if ((rc = trust_check_policy(b->root, policy_name(p), policy_version(p), src, len,
	    *approvals, alen, err)) == 0) {
		struct trust_subject s = { "policy", policy_name(p), policy_version(p), { 0 } };
		char hex[65], who[300];
		trust_subject_hash(&s, src, len);
		trust_describe(b->root, TRUST_POLICY, &s, NULL, *approvals, alen, who, sizeof(who));
		sodium_bin2hex(hex, sizeof(hex), s.sha256, 32);
		snprintf(b->policy_record, sizeof(b->policy_record), "(file sha256 %.16s..., %s)",
		    hex, who);
	}
	if (rc != 0) {
		char why[KETEN_ERRLEN];
		snprintf(why, sizeof(why), "%s", err);
		keten_seterr(err, rc, "%s: %s", path, why);
		free(*approvals);
		*approvals = NULL;
	}
	return rc;
}

/*
 * Load and compile a policy file, keeping its source for distribution and
 * its approvals.  0, or an error in err.
 */
static int
load_policy(struct broker *b, const char *path, struct policy **out, char **src, size_t *len,
    char **approvals, char err[static KETEN_ERRLEN])
{
	int rc;

	if ((rc = file_read(path, YDOC_MAX_BYTES, src, len, err)) != 0)
		return rc;
	if ((rc = policy_parse(path, *src, *len, b->dir, out, err)) == 0 &&
	    (rc = check_policy(b, path, *out, *src, *len, approvals, err)) != 0)
		policy_free(out);
	if (rc != 0) {
		free(*src);
		*src = NULL;
		return rc;
	}
	if (policy_nabsent(*out) > 0) {	/* said once, all of them */
		char list[512] = "";
		size_t off = 0;
		for (size_t i = 0; i < policy_nabsent(*out) && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
			    policy_absent(*out, i, NULL));
		log_info("%s names %zu agencies the directory does not list (%s): rules about them "
		    "are inert until it does", path, policy_nabsent(*out), list);
	}
	return 0;
}

/*
 * The receipt of ledger entry seq (an activation) into *r: the proof agents
 * ask for before they adopt what it activated (key transparency).
 */
static void
prove_activation(struct broker *b, uint64_t seq, Keten__Wire__V1__Receipt *r, bool *has)
{
	MDB_txn *txn;

	if (*has)
		ledger_receipt_clear(r);
	*has = false;
	if (mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	if (ledger_receipt(b->ledger, txn, seq, r) == 0)
		*has = true;
	else
		log_warnx("no receipt for ledger entry %llu: agents will not adopt what it "
		    "activated", (unsigned long long)seq);
	mdb_txn_abort(txn);
}

/* Log an activation in the ledger and keep the proof that it is there. */
static void
log_activation(struct broker *b, Keten__Ledger__V1__Kind kind, const char *what,
    Keten__Wire__V1__Receipt *r, bool *has)
{
	uint64_t seq;

	if (events_broker(b, kind, what, &seq) == 0)
		prove_activation(b, seq, r, has);
}

/* The signed PolicyUpdate agents receive on connect and on change. */
static void
make_policy_frame(struct broker *b, const char *src, size_t len)
{
	Keten__Wire__V1__PolicyUpdate u = KETEN__WIRE__V1__POLICY_UPDATE__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t sig[64];

	u.name = (char *)policy_name(b->policy);
	u.version = (char *)policy_version(b->policy);
	u.hash = (ProtobufCBinaryData){ POLICY_HASHBYTES, (uint8_t *)policy_hash(b->policy) };
	u.source = (ProtobufCBinaryData){ len, (uint8_t *)src };
	u.activated_ms = now_ms();
	policysig_sign(sig, policy_hash(b->policy), (const uint8_t *)src, len, u.version,
	    u.activated_ms, b->keys->sign_sk);
	u.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	u.approvals = b->policy_approvals ? b->policy_approvals : "";
	u.activation = b->has_policy_act ? &b->policy_act : NULL;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_POLICY_UPDATE;
	c.policy_update = &u;
	free(b->policy_frame);
	b->policy_frame = wire_pack(&c.base, &b->policy_frame_len);
}

/* The signed DirectoryUpdate agents receive on connect and on change. */
static void
make_dir_frame(struct broker *b, const char *src, size_t len)
{
	Keten__Wire__V1__DirectoryUpdate u = KETEN__WIRE__V1__DIRECTORY_UPDATE__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;
	uint8_t sig[64];

	u.version = b->dir->version;
	u.source = (ProtobufCBinaryData){ len, (uint8_t *)src };
	dirsig_sign(sig, (const uint8_t *)src, len, u.version, b->keys->sign_sk);
	u.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	u.approvals = b->dir_approvals ? b->dir_approvals : "";
	u.activation = b->has_dir_act ? &b->dir_act : NULL;
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_DIRECTORY_UPDATE;
	c.directory_update = &u;
	free(b->dir_frame);
	b->dir_frame = wire_pack(&c.base, &b->dir_frame_len);
}

/*
 * Adopt a new directory: peers keep their connection state by agency id;
 * agencies no longer active lose it (their commands are refused, nothing is
 * delivered to them).
 */
static int
swap_directory(struct broker *b, struct directory *nd)
{
	struct peer *np = calloc(nd->n ? nd->n : 1, sizeof(*np));
	int64_t now = now_ms();

	if (np == NULL)
		return -1;
	for (size_t i = 0; i < nd->n; i++) {
		const struct dir_agency *old = directory_find(b->dir, nd->agencies[i].id);
		if (old != NULL)
			np[i] = b->peers[old - b->dir->agencies];
		np[i].agency = &nd->agencies[i];
		if (np[i].connected && !dir_agency_active(&nd->agencies[i], now)) {
			log_warnx("agency %s is %s: its session is cut off", nd->agencies[i].id,
			    nd->agencies[i].revoked ? "revoked" : "outside its validity window");
			np[i].connected = false;
		}
	}
	free(b->peers);
	b->peers = np;
	directory_free(&b->dir);
	b->dir = nd;
	if (session_count_queued(b) != 0)
		log_warnx("cannot count the delivery queue of new agencies; their queue_depth is low");
	return 0;
}

/* For the ledger: the directory's hash and who approved it. */
static void
record_directory(struct broker *b, const struct directory *od, const struct directory *nd,
    const char *src, size_t len, const char *approvals)
{
	char version[24], hex[65], who[300];
	struct trust_subject s = { "directory", "directory", version, { 0 } };

	snprintf(version, sizeof(version), "%llu", (unsigned long long)nd->version);
	trust_subject_hash(&s, src, len);
	trust_describe(b->root, TRUST_DIRECTORY, &s, od, approvals,
	    approvals ? strlen(approvals) : 0, who, sizeof(who));
	sodium_bin2hex(hex, sizeof(hex), s.sha256, 32);
	snprintf(b->dir_record, sizeof(b->dir_record), "(file sha256 %.16s..., %s)", hex, who);
}

/*
 * nd (from src) approved as the successor of od (NULL: the first one) by
 * the root's rules; its approvals in *approvals.
 */
static int
check_directory(struct broker *b, const struct directory *od, const struct directory *nd,
    const char *src, size_t len, char **approvals, char err[static KETEN_ERRLEN])
{
	size_t alen;
	int rc;

	*approvals = read_approvals(b->cfg->directory, &alen);
	if ((rc = trust_check_directory(b->root, od, nd, src, len, *approvals, alen, err)) == 0)
		record_directory(b, od, nd, src, len, *approvals);
	if (rc != 0) {
		free(*approvals);
		*approvals = NULL;
	}
	return rc;
}

/* Where the broker keeps the directory it last activated, to judge the next by. */
static void
active_path(struct broker *b, char *path, size_t len, const char *suffix)
{
	snprintf(path, len, "%s/directory.active.yaml%s", b->cfg->data_dir, suffix);
}

/* The directory last activated here (NULL: none yet). */
static struct directory *
load_active(struct broker *b, char **src, size_t *len)
{
	char path[4096], err[KETEN_ERRLEN];
	struct directory *d = NULL;

	active_path(b, path, sizeof(path), "");
	if (file_read(path, YDOC_MAX_BYTES, src, len, err) != 0)
		return NULL;
	if (directory_parse(path, *src, *len, &d, err) != 0) {
		log_warnx("%s (ignored: the directory is judged as the first one)", err);
		free(*src);
		*src = NULL;
	}
	return d;
}

/* Keep the active directory and its approvals for the next start. */
static void
save_active(struct broker *b, const char *src, size_t len)
{
	char path[4096], err[KETEN_ERRLEN];

	active_path(b, path, sizeof(path), ".approvals");
	if (b->dir_approvals != NULL &&
	    file_write_atomic(path, b->dir_approvals, strlen(b->dir_approvals), 0600, err) != 0)
		log_warnx("%s", err);
	active_path(b, path, sizeof(path), "");
	if (file_write_atomic(path, src, len, 0600, err) != 0)
		log_warnx("%s", err);
}

/*
 * The directory file for a reload: in *out when it holds a newer version
 * than the active one, NULL when the same.  -1 (logged) when it cannot be
 * read or is older: the active one stays.
 */
static int
reload_directory(struct broker *b, struct directory **out, char **src, size_t *len,
    char **approvals)
{
	char err[KETEN_ERRLEN];

	*out = NULL;
	if (file_read(b->cfg->directory, YDOC_MAX_BYTES, src, len, err) != 0 ||
	    directory_parse(b->cfg->directory, *src, *len, out, err) != 0) {
		log_warnx("directory reload refused, keeping version %llu: %s",
		    (unsigned long long)b->dir->version, err);
		return -1;
	}
	if ((*out)->version < b->dir->version) {
		log_warnx("directory reload refused: version %llu is older than the active %llu",
		    (unsigned long long)(*out)->version, (unsigned long long)b->dir->version);
		directory_free(out);
		return -1;
	}
	if ((*out)->version == b->dir->version) {
		directory_free(out);	/* same version: keep what we have */
		return 0;
	}
	if (check_directory(b, b->dir, *out, *src, *len, approvals, err) != 0) {
		log_warnx("directory reload refused, keeping version %llu: %s",
		    (unsigned long long)b->dir->version, err);
		directory_free(out);
		return -1;
	}
	return 0;
}

/* Adopt the new directory nd (made from src; its approvals taken over) and log it. 0, or -1 (logged). */
static int
activate_directory(struct broker *b, struct directory *nd, const char *src, size_t len,
    char *approvals)
{
	char what[512];

	if (swap_directory(b, nd) != 0) {
		log_warnx("directory reload failed: out of memory");
		return -1;
	}
	free(b->dir_approvals);
	b->dir_approvals = approvals;
	save_active(b, src, len);
	log_info("activated directory version %llu (%zu agencies)",
	    (unsigned long long)b->dir->version, b->dir->n);
	snprintf(what, sizeof(what), "directory version %llu %s", (unsigned long long)b->dir->version,
	    b->dir_record);
	log_activation(b, KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED, what, &b->dir_act,
	    &b->has_dir_act);
	make_dir_frame(b, src, len);
	return 0;
}

/* SIGHUP's shadow policy: a bad one leaves the old one. */
static void
reload_shadow(struct broker *b)
{
	struct policy *sh = NULL;
	char err[KETEN_ERRLEN];

	if (b->cfg->shadow_policy == NULL)
		return;
	if (policy_load(b->cfg->shadow_policy, b->dir, &sh, err) != 0) {
		log_warnx("shadow policy reload refused, keeping the old one: %s", err);
		return;
	}
	policy_free(&b->shadow);
	b->shadow = sh;
	distribute_log_policy(b->shadow, "shadow");
}

/* Where the broker keeps a root it activated after version 1: data_dir/root.N.yaml[.approvals]. */
static void
root_path(struct broker *b, uint64_t version, const char *suffix, char *path, size_t len)
{
	snprintf(path, len, "%s/root.%llu.yaml%s", b->cfg->data_dir, (unsigned long long)version,
	    suffix);
}

/* A RootUpdate of src and its approvals, appended to the chain sent on Hello. */
static int
add_root_frame(struct broker *b, const char *src, size_t len, const char *approvals)
{
	Keten__Wire__V1__RootUpdate u = KETEN__WIRE__V1__ROOT_UPDATE__INIT;
	Keten__Wire__V1__Command c = KETEN__WIRE__V1__COMMAND__INIT;

	if (b->nroots == sizeof(b->roots) / sizeof(b->roots[0]))
		return -1;
	u.source = (ProtobufCBinaryData){ len, (uint8_t *)src };
	u.approvals = (char *)(approvals ? approvals : "");
	c.cmd_case = KETEN__WIRE__V1__COMMAND__CMD_ROOT_UPDATE;
	c.root_update = &u;
	if ((b->roots[b->nroots].frame = wire_pack(&c.base, &b->roots[b->nroots].len)) == NULL)
		return -1;
	b->nroots++;
	return 0;
}

/* At start: the roots after version 1 the broker activated before, up to its own. */
static void
load_root_chain(struct broker *b)
{
	char path[4096], err[KETEN_ERRLEN], *src = NULL, *app = NULL;
	size_t len, alen;

	for (uint64_t v = 2; v <= b->root->version; v++) {
		root_path(b, v, "", path, sizeof(path));
		if (file_read(path, TRUST_MAX_BYTES, &src, &len, err) != 0) {
			log_warnx("%s: not kept here, so agents given an older root cannot follow this "
			    "broker's to version %llu; give them the new root file", path,
			    (unsigned long long)b->root->version);
			return;
		}
		root_path(b, v, ".approvals", path, sizeof(path));
		if (file_read(path, NOTE_MAX_BYTES, &app, &alen, err) != 0)
			app = NULL;
		add_root_frame(b, src, len, app);
		free(src);
		free(app);
		src = app = NULL;
	}
}

/*
 * SIGHUP's root: the next version, approved by the root threshold of the
 * active root and of its own, kept in data_dir, logged, and sent to the
 * agents (each checks the same itself).  0, or -1 (logged): the active
 * root stays.
 */
static void
reload_root(struct broker *b)
{
	char err[KETEN_ERRLEN], path[4096], what[512], hex[65], who[300], *src = NULL, *app = NULL;
	struct trust_root *nr = NULL;
	size_t len = 0, alen = 0;

	if (file_read(b->cfg->root, TRUST_MAX_BYTES, &src, &len, err) != 0 ||
	    trust_root_parse(b->cfg->root, src, len, &nr, err) != 0) {
		log_warnx("root reload refused, keeping version %llu: %s",
		    (unsigned long long)b->root->version, err);
		goto out;
	}
	if (nr->version == b->root->version) {
		if (memcmp(nr->sha256, b->root->sha256, 32) != 0)
			log_warnx("root reload refused: version %llu with other content than the "
			    "active one", (unsigned long long)nr->version);
		goto out;	/* the one we have */
	}
	app = read_approvals(b->cfg->root, &alen);
	if (trust_check_root(b->root, nr, src, len, app, alen, err) != 0) {
		log_warnx("root reload refused, keeping version %llu: %s",
		    (unsigned long long)b->root->version, err);
		goto out;
	}
	root_path(b, nr->version, "", path, sizeof(path));
	if (file_write_atomic(path, src, len, 0600, err) != 0)
		log_warnx("%s", err);
	root_path(b, nr->version, ".approvals", path, sizeof(path));
	if (app != NULL && file_write_atomic(path, app, alen, 0600, err) != 0)
		log_warnx("%s", err);
	char version[24];
	struct trust_subject s = { "root", b->root->network, version, { 0 } };
	snprintf(version, sizeof(version), "%llu", (unsigned long long)nr->version);
	trust_subject_hash(&s, src, len);
	trust_describe(b->root, TRUST_ROOT, &s, NULL, app, alen, who, sizeof(who));
	sodium_bin2hex(hex, sizeof(hex), s.sha256, 32);
	snprintf(what, sizeof(what), "root %s version %llu (file sha256 %.16s..., %s)", nr->network,
	    (unsigned long long)nr->version, hex, who);
	events_broker(b, KETEN__LEDGER__V1__KIND__KIND_ROOT_CHANGED, what, NULL);
	log_info("activated %s", what);
	if (add_root_frame(b, src, len, app) == 0)
		for (size_t i = 0; i < b->dir->n; i++)
			if (b->peers[i].connected)
				session_reply_frame(b, b->peers[i].rid, b->peers[i].rid_len,
				    b->roots[b->nroots - 1].frame, b->roots[b->nroots - 1].len);
	session_flush(b);
	trust_root_free(&b->root);
	b->root = nr;
	nr = NULL;
out:
	trust_root_free(&nr);
	free(src);
	free(app);
}

/* Every connected agent works from the new directory and policy from now on. */
static void
push_updates(struct broker *b, bool dir_changed)
{
	for (size_t i = 0; i < b->dir->n; i++) {
		struct peer *pe = &b->peers[i];
		if (!pe->connected)
			continue;
		if (dir_changed && b->dir_frame != NULL)
			session_reply_frame(b, pe->rid, pe->rid_len, b->dir_frame, b->dir_frame_len);
		session_reply_frame(b, pe->rid, pe->rid_len, b->policy_frame, b->policy_frame_len);
	}
	session_flush(b);
}

void
distribute_reload(struct broker *b)
{
	struct policy *p = NULL;
	struct directory *nd = NULL, *olddir = b->dir;
	char err[KETEN_ERRLEN], *src = NULL, *dsrc = NULL, *papp = NULL, *dapp = NULL;
	size_t len = 0, dlen = 0;

	/* the root first: it judges the rest; then the directory: the policy compiles against it */
	reload_root(b);
	if (reload_directory(b, &nd, &dsrc, &dlen, &dapp) != 0) {
		free(dsrc);
		return;
	}
	bool dir_changed = nd != NULL;
	if (dir_changed)
		b->dir = nd;		/* compile the policy against it; undone below */
	int rc = load_policy(b, b->cfg->policy, &p, &src, &len, &papp, err);
	b->dir = olddir;
	if (rc != 0) {
		directory_free(&nd);
		free(dsrc);
		free(dapp);
		log_warnx("policy reload refused, keeping version %s%s: %s", policy_version(b->policy),
		    dir_changed ? " and the old directory" : "", err);
		return;
	}
	if (dir_changed && activate_directory(b, nd, dsrc, dlen, dapp) != 0) {
		directory_free(&nd);
		policy_free(&p);
		free(src);
		free(dsrc);
		free(dapp);
		free(papp);
		return;
	}
	if (dir_changed) {	/* the active file, kept for the frames */
		free(b->dir_src);
		b->dir_src = dsrc;
		b->dir_src_len = dlen;
	} else {
		free(dsrc);
	}
	reload_shadow(b);
	bool changed = memcmp(policy_hash(p), policy_hash(b->policy), POLICY_HASHBYTES) != 0;
	policy_free(&b->policy);
	b->policy = p;
	free(b->policy_approvals);
	b->policy_approvals = papp;
	distribute_log_policy(b->policy, "activated");
	if (changed) {
		char what[512];
		snprintf(what, sizeof(what), "policy %s version %s %s", policy_name(p),
		    policy_version(p), b->policy_record);
		log_activation(b, KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, what,
		    &b->policy_act, &b->has_policy_act);
	}
	make_policy_frame(b, src, len);
	free(b->policy_src);
	b->policy_src = src;
	b->policy_src_len = len;
	if ((changed || dir_changed) && b->policy_frame != NULL)
		push_updates(b, dir_changed);
}

int
distribute_load(struct broker *b)
{
	char err[KETEN_ERRLEN], *src = NULL, *dsrc = NULL, *asrc = NULL;
	size_t len = 0, dlen = 0, alen = 0;
	struct directory *od = NULL;
	int rc = -1;

	if (trust_root_load(b->cfg->root, &b->root, err) != 0 ||
	    file_read(b->cfg->directory, YDOC_MAX_BYTES, &dsrc, &dlen, err) != 0 ||
	    directory_parse(b->cfg->directory, dsrc, dlen, &b->dir, err) != 0)
		goto out;
	/* judged against the directory active before, as on SIGHUP */
	od = load_active(b, &asrc, &alen);
	if (od != NULL && od->version == b->dir->version && alen == dlen &&
	    memcmp(asrc, dsrc, dlen) == 0) {
		directory_free(&od);	/* what was active: judged when it was activated */
		b->dir_approvals = read_approvals(b->cfg->directory, &alen);
		record_directory(b, NULL, b->dir, dsrc, dlen, b->dir_approvals);
	} else if (check_directory(b, od, b->dir, dsrc, dlen, &b->dir_approvals, err) != 0) {
		char why[KETEN_ERRLEN];
		snprintf(why, sizeof(why), "%s", err);
		keten_seterr(err, KETEN_EPERM, "%s: directory version %llu not activated: %s",
		    b->cfg->directory, (unsigned long long)b->dir->version, why);
		goto out;
	}
	if (load_policy(b, b->cfg->policy, &b->policy, &src, &len, &b->policy_approvals, err) != 0 ||
	    (b->cfg->shadow_policy != NULL &&
	    policy_load(b->cfg->shadow_policy, b->dir, &b->shadow, err) != 0))
		goto out;
	make_policy_frame(b, src, len);
	make_dir_frame(b, dsrc, dlen);
	rc = 0;
out:
	if (rc != 0)
		log_warnx("%s", err);
	directory_free(&od);
	free(asrc);
	b->policy_src = src;	/* the active files, kept for the frames */
	b->policy_src_len = len;
	b->dir_src = dsrc;	/* saved as the active one once the store is open */
	b->dir_src_len = dlen;
	return rc;
}

void
distribute_announce(struct broker *b)
{
	char what[512];

	load_root_chain(b);
	save_active(b, b->dir_src, b->dir_src_len);

	distribute_log_policy(b->policy, "active");
	if (b->shadow != NULL)
		distribute_log_policy(b->shadow, "shadow");
	snprintf(what, sizeof(what), "policy %s version %s at start %s", policy_name(b->policy),
	    policy_version(b->policy), b->policy_record);
	log_activation(b, KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED, what, &b->policy_act,
	    &b->has_policy_act);
	snprintf(what, sizeof(what), "directory version %llu at start %s",
	    (unsigned long long)b->dir->version, b->dir_record);
	log_activation(b, KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED, what, &b->dir_act,
	    &b->has_dir_act);
	/* the frames agents receive, now with the proofs */
	make_policy_frame(b, b->policy_src, b->policy_src_len);
	make_dir_frame(b, b->dir_src, b->dir_src_len);
}
