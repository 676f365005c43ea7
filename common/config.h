/*
 * Configuration files of keten-broker and keten-agent (YAML).  Relative paths
 * are resolved against the directory of the configuration file.  Every key is
 * documented in docs/operator.md; unknown keys are errors (a typo must not
 * silently fall back to a default).
 */
#ifndef KETEN_CONFIG_H
#define KETEN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/util.h"

struct broker_config {
	char *path;		/* the configuration file itself */
	char *listen;		/* ZeroMQ endpoint, e.g. tcp://127.0.0.1:7400 */
	char *data_dir;		/* LMDB environment (created 0700) */
	char *keys;		/* broker secret key file (0600) */
	char *directory;	/* agency directory file */
	char *policy;		/* sharing policy (YAML), reloaded on SIGHUP */
	char *root;		/* the network root of trust (common/trust.h) */
	char *shadow_policy;	/* optional candidate policy, evaluated but not enforced */
	uint64_t map_size_mb;	/* LMDB map size */
	uint64_t max_message_bytes;
	uint64_t heartbeat_ms;	/* transport heartbeat interval */
	uint64_t batch_max;	/* commands processed per commit at most */
	uint64_t window;	/* deliveries in flight per recipient */
	uint64_t redeliver_ms;	/* resend unacknowledged deliveries after this */
	uint64_t ack_defer_ms;	/* hold a batch of delivery acks only this long for company */
	uint64_t max_clock_skew_ms;	/* agents' clocks and created times within this */
	char *origin;		/* the ledger's name in its checkpoints */
	uint64_t max_submissions_per_s;	/* per agency; 0 = no limit */
	/* ledger budgets (docs/security.md): entries a peer can cause per period */
	uint64_t budget_period_s;	/* the period */
	uint64_t budget_refusals;	/* KEY_REFUSED entries, all unauthenticated peers together */
	uint64_t budget_reports;	/* VIOLATION_REPORTED entries per agency not about a copy it got */
	uint64_t verify_threads;	/* signature checks' threads; 0 = one fewer than the CPUs (1-4) */
	char *user;		/* started as root: the account to become (docs/security.md) */
	bool seccomp;		/* install the system call filter (default true) */
	char *metrics_listen;	/* "HOST:PORT" of the HTTP health/metrics endpoint, or NULL (off) */
	bool metrics_public;	/* allow metrics_listen on a non-loopback address */
	struct sockaddr_storage metrics_addr;	/* metrics_listen, parsed (numeric only) */
	socklen_t metrics_addrlen;
};

struct agent_config {
	char *path;
	char *agency;		/* own agency id */
	char *broker;		/* broker endpoint */
	char *broker_key;	/* broker CURVE public key, Z85 */
	char *keys;		/* own secret key file (0600) */
	char *data_dir;		/* LMDB environment and the API's Unix socket api.sock */
	char *policy;		/* sharing policy (YAML) the agent filters by */
	char *directory;	/* agency directory the policy compiles against */
	char *root;		/* the network root of trust, pinned (common/trust.h) */
	char *broker_signing_key;	/* broker's Ed25519 public key (base64): checks policy updates */
	bool policy_updates;	/* take the broker's policy (default); false pins `policy` */
	char *network_key;	/* file (0600) with the key for case pseudonyms, or NULL */
	char *previous_keys;	/* secret key file being rotated out (0600), or NULL */
	uint64_t map_size_mb;
	uint64_t max_message_bytes;
	uint64_t heartbeat_ms;
	uint64_t batch_max;
	uint64_t window;	/* submissions in flight to the broker */
	uint64_t resend_ms;	/* resend unacknowledged submissions after this */
	/* the REST API for partner systems (docs/integration.md); off without api_listen */
	char *api_listen;	/* "HOST:PORT" as configured, or NULL (no TCP API) */
	struct sockaddr_storage api_addr;	/* api_listen, parsed; loopback unless api_public */
	socklen_t api_addrlen;
	char *api_token;	/* file (0600, or 0640 for a partner system's group) with the bearer token */
	char *api_socket;	/* the local API's Unix socket, or NULL: DATA_DIR/api.sock (0600) */
	uint64_t api_max_connections;
	uint64_t api_max_body_bytes;
	char *user;		/* started as root: the account to become (docs/security.md) */
	bool seccomp;		/* install the system call filter (default true) */
};

/*
 * Parse "HOST:PORT" (IPv4 dotted quad, "[IPv6]" or "localhost"; port 1-65535)
 * into *addr.  0 or KETEN_EINVAL.  *loopback tells whether the address is
 * 127.0.0.0/8 or ::1 (or an IPv4-mapped loopback address).
 */
/* The agent's local API socket: api_socket, or DATA_DIR/api.sock; out (n bytes). */
const char *config_api_socket(const struct agent_config *c, char *out, size_t n);

int config_parse_hostport(const char *s, struct sockaddr_storage *addr, socklen_t *len,
    bool *loopback);
/*
 * An HTTP listener's setting `key` (api_listen, metrics_listen) parsed into
 * *addr, refusing a non-loopback address unless allow_public; errors name
 * file:line:col.  0 or an error.
 */
struct ydoc;
struct ynode;
int config_http_listen(const struct ydoc *doc, const struct ynode *root, const char *key,
    const char *value, bool allow_public, struct sockaddr_storage *addr, socklen_t *len,
    char err[static KETEN_ERRLEN]);

/*
 * Load and validate; errors name file:line:col.  A file others can read,
 * write or execute, or its group can write, is refused (KETEN_EPERM): mode
 * 0640 or 0600.  Free with *_config_free.
 */
int broker_config_load(const char *path, struct broker_config **out,
    char err[static KETEN_ERRLEN]);
void broker_config_free(struct broker_config **cfg);
int agent_config_load(const char *path, struct agent_config **out,
    char err[static KETEN_ERRLEN]);
void agent_config_free(struct agent_config **cfg);
/*
 * The same from memory (tests, fuzzing): `name` stands for the file in
 * messages and relative paths resolve against its directory.
 */
int broker_config_parse(const char *name, const void *buf, size_t len,
    struct broker_config **out, char err[static KETEN_ERRLEN]);
int agent_config_parse(const char *name, const void *buf, size_t len,
    struct agent_config **out, char err[static KETEN_ERRLEN]);

#endif
