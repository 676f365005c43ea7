/* Broker and agent configuration files. */
#include <arpa/inet.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/note.h"
#include "common/yamltree.h"

static const char *const broker_keys[] = {
	"listen", "data_dir", "keys", "directory", "policy", "shadow_policy", "root", "map_size_mb",
	"max_message_bytes",
	"heartbeat_ms", "batch_max", "window", "redeliver_ms", "max_clock_skew_ms", "origin",
	"user", "seccomp", "max_submissions_per_s", "metrics_listen", "metrics_public",
	"budget_period_s", "budget_refusals", "budget_reports",
	"verify_threads", "ack_defer_ms", NULL
};

static const char *const agent_keys[] = {
	"agency", "broker", "broker_key", "keys", "data_dir", "policy", "directory", "root",
	"broker_signing_key", "policy_updates", "network_key", "previous_keys",
	"map_size_mb",
	"max_message_bytes", "heartbeat_ms", "batch_max", "window", "resend_ms",
	"api_listen", "api_token", "api_socket", "api_public", "api_max_connections", "api_max_body_bytes",
	"user", "seccomp", NULL
};

/*
 * A configuration file names the secret key files, the data directory and
 * the endpoints and token files a daemon trusts.  Refuse one that others
 * can read, write or execute, or that its group can write; group read stays
 * allowed (an operators' group, or the users of the keten CLI, may read it).
 */
static int
check_config_mode(const struct stat *st, const char *path, char err[static KETEN_ERRLEN])
{
	/* indexed by the "others" bits: r 4, w 2, x 1 */
	static const char *const other[8] = { NULL, "executable", "writable",
		"writable and executable", "readable", "readable and executable",
		"readable and writable", "readable, writable and executable" };
	const char *o, *lead;
	bool gw;

	o = other[st->st_mode & S_IRWXO];
	gw = (st->st_mode & S_IWGRP) != 0;
	if (o == NULL && !gw)
		return 0;
	if ((st->st_mode & S_IROTH) && (st->st_mode & (S_IWOTH | S_IWGRP)))
		lead = "any account on this host can read, and another could change,";
	else if (st->st_mode & (S_IWOTH | S_IWGRP))
		lead = "another account could change";
	else if (st->st_mode & S_IROTH)
		lead = "it tells any account on this host";
	else
		lead = "others have no use for it: it says";
	return keten_seterr(err, KETEN_EPERM, "%s: configuration file is %s%s%s%s (mode %04o): "
	    "%s where the keys and data are and which endpoints and token files the daemon "
	    "trusts; run: chmod o-rwx,g-w %s", path, o ? o : "", o ? " by others" : "",
	    o && gw ? " and " : "", gw ? "writable by its group" : "",
	    (unsigned)(st->st_mode & 07777), lead, path);
}

/* Read and parse a configuration file whose mode check_config_mode accepts
 * (judged on the file that is read, not on the path before it is opened). */
static int
config_doc_load(const char *path, struct ydoc **doc, char err[static KETEN_ERRLEN])
{
	char *buf;
	size_t len;
	int rc;

	if ((rc = file_read_checked(path, YDOC_MAX_BYTES, check_config_mode, &buf, &len, err)) != 0)
		return rc;
	rc = ydoc_parse(path, buf, len, doc, err);
	free(buf);
	return rc;
}

/* Copy a string setting; resolve it as a path when `is_path`. */
static int
dup_setting(const struct ydoc *doc, const struct ynode *root, const char *key, bool required,
    bool is_path, char **out, char err[static KETEN_ERRLEN])
{
	const char *s = NULL;
	int rc;

	if ((rc = ydoc_get_str(doc, root, key, required, &s, err)) != 0 || s == NULL)
		return rc;
	*out = is_path ? path_resolve(ydoc_name(doc), s) : strdup(s);
	if (*out == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	return 0;
}

static int
check_endpoint(const struct ydoc *doc, const struct ynode *root, const char *key,
    const char *ep, char err[static KETEN_ERRLEN])
{
	if (strncmp(ep, "tcp://", 6) != 0 && strncmp(ep, "ipc://", 6) != 0)
		return ydoc_err(doc, ynode_get(root, key), err, "\"%s\" must be a tcp:// or "
		    "ipc:// endpoint, found \"%s\"", key, ep);
	if (strlen(ep) > 200)
		return ydoc_err(doc, ynode_get(root, key), err, "\"%s\" is too long", key);
	return 0;
}

int
config_http_listen(const struct ydoc *doc, const struct ynode *root, const char *key,
    const char *value, bool allow_public, struct sockaddr_storage *addr, socklen_t *len,
    char err[static KETEN_ERRLEN])
{
	bool loopback = false;
	size_t plen = strcspn(key, "_");	/* "api" of api_listen, "metrics" of metrics_listen */

	if (config_parse_hostport(value, addr, len, &loopback) != 0)
		return ydoc_err(doc, ynode_get(root, key), err, "\"%s\" must be HOST:PORT with a "
		    "numeric address and a port 1-65535, e.g. 127.0.0.1:8470 or [::1]:8470; found \"%s\"",
		    key, value);
	if (!loopback && !allow_public)
		return ydoc_err(doc, ynode_get(root, key), err, "\"%s\" %s is not a loopback address: "
		    "other machines could reach it; listen on 127.0.0.1 or [::1], or set %.*s_public: true",
		    key, value, (int)plen, key);
	return 0;
}

void
broker_config_free(struct broker_config **cfg)
{
	struct broker_config *c;

	if (cfg == NULL || (c = *cfg) == NULL)
		return;
	free(c->path);
	free(c->listen);
	free(c->data_dir);
	free(c->keys);
	free(c->directory);
	free(c->policy);
	free(c->shadow_policy);
	free(c->root);
	free(c->origin);
	free(c->user);
	free(c->metrics_listen);
	free(c);
	*cfg = NULL;
}

int
config_parse_hostport(const char *s, struct sockaddr_storage *addr, socklen_t *len,
    bool *loopback)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;

	memset(addr, 0, sizeof(*addr));
	if (s[0] == '[') {	/* [IPv6]:port */
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return KETEN_EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return KETEN_EINVAL;	/* no port, or a bare IPv6 address */
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return KETEN_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	const char *p = colon + 1;
	unsigned long port = 0;
	if (*p == '\0' || strlen(p) > 5)
		return KETEN_EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return KETEN_EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return KETEN_EINVAL;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
	if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		*loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		*loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127);
		return 0;
	}
	return KETEN_EINVAL;
}

/* metrics_listen: numeric, and loopback unless metrics_public says otherwise */
static int
check_metrics_listen(const struct ydoc *doc, const struct ynode *root, struct broker_config *c,
    char err[static KETEN_ERRLEN])
{
	if (c->metrics_listen == NULL)
		return 0;
	return config_http_listen(doc, root, "metrics_listen", c->metrics_listen, c->metrics_public,
	    &c->metrics_addr, &c->metrics_addrlen, err);
}

/* Validate a parsed broker configuration; takes ownership of doc. */
static int
broker_config_doc(struct ydoc *doc, struct broker_config **out, char err[static KETEN_ERRLEN])
{
	struct broker_config *c;
	const struct ynode *root;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(ydoc_name(doc))) == NULL) {
		free(c);
		ydoc_free(&doc);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	c->map_size_mb = 1024;
	c->max_message_bytes = 1 << 20;
	c->heartbeat_ms = 1000;
	c->batch_max = 1024;
	c->window = 1000;
	c->redeliver_ms = 10000;
	c->ack_defer_ms = 5;
	c->max_clock_skew_ms = 300000;
	c->max_submissions_per_s = 20000;
	c->budget_period_s = 60;
	c->budget_refusals = 10;
	c->budget_reports = 60;
	c->seccomp = true;
	root = ydoc_root(doc);
	if ((rc = ydoc_expect_map(doc, root, "broker configuration", err)) ||
	    (rc = ydoc_check_keys(doc, root, "broker configuration", broker_keys, err)) ||
	    (rc = dup_setting(doc, root, "listen", true, false, &c->listen, err)) ||
	    (rc = check_endpoint(doc, root, "listen", c->listen, err)) ||
	    (rc = dup_setting(doc, root, "data_dir", true, true, &c->data_dir, err)) ||
	    (rc = dup_setting(doc, root, "keys", true, true, &c->keys, err)) ||
	    (rc = dup_setting(doc, root, "directory", true, true, &c->directory, err)) ||
	    (rc = dup_setting(doc, root, "policy", true, true, &c->policy, err)) ||
	    (rc = dup_setting(doc, root, "shadow_policy", false, true, &c->shadow_policy, err)) ||
	    (rc = dup_setting(doc, root, "root", true, true, &c->root, err)) ||
	    (rc = ydoc_get_u64(doc, root, "map_size_mb", false, 1, 1 << 24, &c->map_size_mb, err)) ||
	    (rc = ydoc_get_u64(doc, root, "max_message_bytes", false, 1024, 64 << 20,
	    &c->max_message_bytes, err)) ||
	    (rc = ydoc_get_u64(doc, root, "heartbeat_ms", false, 100, 600000, &c->heartbeat_ms, err)) ||
	    (rc = ydoc_get_u64(doc, root, "batch_max", false, 1, 100000, &c->batch_max, err)) ||
	    (rc = ydoc_get_u64(doc, root, "window", false, 1, 100000, &c->window, err)) ||
	    (rc = ydoc_get_u64(doc, root, "redeliver_ms", false, 100, 3600000, &c->redeliver_ms, err)) ||
	    (rc = ydoc_get_u64(doc, root, "max_clock_skew_ms", false, 1000, 86400000,
	    &c->max_clock_skew_ms, err)) ||
	    (rc = dup_setting(doc, root, "origin", false, false, &c->origin, err)) ||
	    (rc = ydoc_get_u64(doc, root, "max_submissions_per_s", false, 0, 10000000,
	    &c->max_submissions_per_s, err)) ||
	    (rc = ydoc_get_u64(doc, root, "budget_period_s", false, 1, 86400, &c->budget_period_s,
	    err)) ||
	    (rc = ydoc_get_u64(doc, root, "budget_refusals", false, 1, 100000, &c->budget_refusals,
	    err)) ||
	    (rc = ydoc_get_u64(doc, root, "budget_reports", false, 1, 100000, &c->budget_reports,
	    err)) ||
	    (rc = ydoc_get_u64(doc, root, "verify_threads", false, 0, 16, &c->verify_threads, err)) ||
	    (rc = ydoc_get_u64(doc, root, "ack_defer_ms", false, 0, 1000, &c->ack_defer_ms, err)) ||
	    (rc = dup_setting(doc, root, "user", false, false, &c->user, err)) ||
	    (rc = ydoc_get_bool(doc, root, "seccomp", false, &c->seccomp, err)) ||

	    (rc = dup_setting(doc, root, "metrics_listen", false, false, &c->metrics_listen, err)) ||
	    (rc = ydoc_get_bool(doc, root, "metrics_public", false, &c->metrics_public, err)) ||
	    (rc = check_metrics_listen(doc, root, c, err)))
		goto fail;
	if (c->origin == NULL && (c->origin = strdup("keten.local/ledger")) == NULL) {
		rc = keten_seterr(err, KETEN_ENOMEM, "out of memory");
		goto fail;
	}
	/* the checkpoints' origin is also the key name of their signature: the
	 * signed-note rules (no spaces of any kind, no '+', printable) */
	if (!note_name_valid(c->origin)) {
		rc = ydoc_err(doc, ynode_get(root, "origin"), err, "origin must be a signed-note key "
		    "name: one word of printable characters without spaces or '+', e.g. "
		    "keten.example.nl/ledger");
		goto fail;
	}
	ydoc_free(&doc);
	*out = c;
	return 0;
fail:
	ydoc_free(&doc);
	broker_config_free(&c);
	return rc;
}

void
agent_config_free(struct agent_config **cfg)
{
	struct agent_config *c;

	if (cfg == NULL || (c = *cfg) == NULL)
		return;
	free(c->path);
	free(c->agency);
	free(c->broker);
	free(c->broker_key);
	free(c->keys);
	free(c->data_dir);
	free(c->policy);
	free(c->directory);
	free(c->broker_signing_key);
	free(c->root);
	free(c->network_key);
	free(c->previous_keys);
	free(c->api_listen);
	free(c->api_token);
	free(c->api_socket);
	free(c->user);
	free(c);
	*cfg = NULL;
}

/* Validate a parsed agent configuration; takes ownership of doc. */
static int
agent_config_doc(struct ydoc *doc, struct agent_config **out, char err[static KETEN_ERRLEN])
{
	struct agent_config *c;
	const struct ynode *root;
	uint8_t key[KETEN_CURVE_KEYBYTES];
	const char *api = NULL;
	bool api_public = false;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(ydoc_name(doc))) == NULL) {
		free(c);
		ydoc_free(&doc);
		return keten_seterr(err, KETEN_ENOMEM, "out of memory");
	}
	c->map_size_mb = 1024;
	c->max_message_bytes = 1 << 20;
	c->heartbeat_ms = 1000;
	c->batch_max = 1024;
	c->window = 1000;
	c->resend_ms = 10000;
	c->policy_updates = true;
	c->seccomp = true;
	c->api_max_connections = 64;
	root = ydoc_root(doc);
	c->api_max_body_bytes = 0;
	if ((rc = ydoc_expect_map(doc, root, "agent configuration", err)) ||
	    (rc = ydoc_check_keys(doc, root, "agent configuration", agent_keys, err)) ||
	    (rc = dup_setting(doc, root, "agency", true, false, &c->agency, err)) ||
	    (rc = dup_setting(doc, root, "broker", true, false, &c->broker, err)) ||
	    (rc = check_endpoint(doc, root, "broker", c->broker, err)) ||
	    (rc = dup_setting(doc, root, "broker_key", true, false, &c->broker_key, err)) ||
	    (rc = dup_setting(doc, root, "keys", true, true, &c->keys, err)) ||
	    (rc = dup_setting(doc, root, "data_dir", true, true, &c->data_dir, err)) ||
	    (rc = dup_setting(doc, root, "policy", true, true, &c->policy, err)) ||
	    (rc = dup_setting(doc, root, "directory", true, true, &c->directory, err)) ||
	    (rc = dup_setting(doc, root, "root", true, true, &c->root, err)) ||
	    (rc = dup_setting(doc, root, "broker_signing_key", false, false, &c->broker_signing_key,
	    err)) ||
	    (rc = ydoc_get_bool(doc, root, "policy_updates", false, &c->policy_updates, err)) ||
	    (rc = dup_setting(doc, root, "network_key", false, true, &c->network_key, err)) ||
	    (rc = dup_setting(doc, root, "previous_keys", false, true, &c->previous_keys, err)) ||
	    (rc = ydoc_get_u64(doc, root, "map_size_mb", false, 1, 1 << 24, &c->map_size_mb, err)) ||
	    (rc = ydoc_get_u64(doc, root, "max_message_bytes", false, 1024, 64 << 20,
	    &c->max_message_bytes, err)) ||
	    (rc = ydoc_get_u64(doc, root, "heartbeat_ms", false, 100, 600000, &c->heartbeat_ms, err)) ||
	    (rc = ydoc_get_u64(doc, root, "batch_max", false, 1, 100000, &c->batch_max, err)) ||
	    (rc = ydoc_get_u64(doc, root, "window", false, 1, 100000, &c->window, err)) ||
	    (rc = ydoc_get_u64(doc, root, "resend_ms", false, 100, 3600000, &c->resend_ms, err)) ||
	    (rc = ydoc_get_str(doc, root, "api_listen", false, &api, err)) ||
	    (rc = dup_setting(doc, root, "api_token", false, true, &c->api_token, err)) ||
	    (rc = dup_setting(doc, root, "api_socket", false, true, &c->api_socket, err)) ||
	    (rc = ydoc_get_bool(doc, root, "api_public", false, &api_public, err)) ||
	    (rc = ydoc_get_u64(doc, root, "api_max_connections", false, 1, 1024,
	    &c->api_max_connections, err)) ||
	    (rc = ydoc_get_u64(doc, root, "api_max_body_bytes", false, 1024, 128 << 20,
	    &c->api_max_body_bytes, err)) ||
	    (rc = dup_setting(doc, root, "user", false, false, &c->user, err)) ||
	    (rc = ydoc_get_bool(doc, root, "seccomp", false, &c->seccomp, err)))
		goto fail;
	if (c->api_max_body_bytes == 0)
		c->api_max_body_bytes = 2 * c->max_message_bytes + 65536;
	if (api != NULL) {
		if ((rc = config_http_listen(doc, root, "api_listen", api, api_public, &c->api_addr,
		    &c->api_addrlen, err)) != 0 || (c->api_listen = strdup(api)) == NULL)
			goto fail;
		if (c->api_token == NULL) {
			rc = ydoc_err(doc, ynode_get(root, "api_listen"), err, "api_listen needs api_token: "
			    "a file (0600) holding the bearer token partner systems present");
			goto fail;
		}
	}
	if (!agency_id_valid(c->agency)) {
		rc = ydoc_err(doc, ynode_get(root, "agency"), err, "invalid agency id \"%s\"",
		    c->agency);
		goto fail;
	}
	if (key_z85_decode(key, c->broker_key) != 0) {
		rc = ydoc_err(doc, ynode_get(root, "broker_key"), err, "broker_key must be the "
		    "broker's %d-character Z85 transport public key", KETEN_Z85_KEYLEN);
		goto fail;
	}
	uint8_t spk[32];
	if (c->broker_signing_key != NULL && key_b64_decode(spk, sizeof(spk), c->broker_signing_key) != 0) {
		rc = ydoc_err(doc, ynode_get(root, "broker_signing_key"), err, "broker_signing_key must "
		    "be the base64 of the broker's 32-byte Ed25519 public key (its signing_key)");
		goto fail;
	}
	ydoc_free(&doc);
	*out = c;
	return 0;
fail:
	ydoc_free(&doc);
	agent_config_free(&c);
	return rc;
}

int
broker_config_load(const char *path, struct broker_config **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = config_doc_load(path, &doc, err)) != 0)
		return rc;
	return broker_config_doc(doc, out, err);
}

int
broker_config_parse(const char *name, const void *buf, size_t len, struct broker_config **out,
    char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = ydoc_parse(name, buf, len, &doc, err)) != 0)
		return rc;
	return broker_config_doc(doc, out, err);
}

int
agent_config_load(const char *path, struct agent_config **out, char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = config_doc_load(path, &doc, err)) != 0)
		return rc;
	return agent_config_doc(doc, out, err);
}

int
agent_config_parse(const char *name, const void *buf, size_t len, struct agent_config **out,
    char err[static KETEN_ERRLEN])
{
	struct ydoc *doc = NULL;
	int rc;

	if ((rc = ydoc_parse(name, buf, len, &doc, err)) != 0)
		return rc;
	return agent_config_doc(doc, out, err);
}

const char *
config_api_socket(const struct agent_config *c, char *out, size_t n)
{
	if (c->api_socket != NULL)
		snprintf(out, n, "%s", c->api_socket);
	else
		snprintf(out, n, "%s/api.sock", c->data_dir);
	return out;
}
