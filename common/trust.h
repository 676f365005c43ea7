/*
 * The network's root of trust (DESIGN.md, "Agency directory and the root of
 * trust"; docs/trust.md): a file every agent and the broker are provisioned
 * with that names the governance keys and, per role, how many distinct
 * agencies must approve.  The broker holds none of these keys: what it
 * alone can produce is never adopted.
 *
 * Root file (YAML):
 *   network: stm.keten.example     # names the network in every approval
 *   version: 1                     # a new root is version + 1
 *   thresholds:                    # distinct agencies, each with a key of the role
 *     policy: 2                    # a sharing policy
 *     directory: 2                 # a directory change (membership, names, windows)
 *     recovery: 3                  # an agency's keys changed without that agency
 *     root: 2                      # a new root: this many of the old root AND the new
 *   keys:
 *     - vkey: "fg-politie+1a2b3c4d+AQ..."   # C2SP verifier key (common/note.h)
 *       agency: politie                     # whose key it is
 *       roles: [policy]                     # policy, directory, root
 *
 * An approval is a C2SP signed note (common/note.h) whose text is the
 * statement of what is approved (trust_statement):
 *   keten approval v1
 *   network <network>
 *   kind <policy|directory|root>
 *   name <policy name | directory | network>
 *   version <version>
 *   sha256 <hex SHA-256 of the exact file>
 * Approvals of the same statement merge into one note of several lines.
 *
 * An agency's own key change (rotation) is approved by that agency's
 * signing key as the directory before the change lists it (key name: the
 * agency id); anyone else's change of its keys needs the recovery threshold.
 */
#ifndef KETEN_TRUST_H
#define KETEN_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/directory.h"
#include "common/err.h"
#include "common/note.h"

#define TRUST_MAX_KEYS 64
#define TRUST_MAX_BYTES (256u << 10)

enum trust_role {
	TRUST_POLICY = 1 << 0,
	TRUST_DIRECTORY = 1 << 1,
	TRUST_ROOT = 1 << 2,
};

struct trust_key {
	struct note_key key;
	char agency[KETEN_IDMAX];
	unsigned roles;		/* enum trust_role bits */
};

struct trust_root {
	char network[NOTE_NAMEMAX];
	uint64_t version;
	unsigned policy, directory, recovery, root;	/* thresholds */
	size_t nkeys;
	struct trust_key keys[TRUST_MAX_KEYS];
	uint8_t sha256[32];	/* of the file as read */
};

/* What an approval is of. */
struct trust_subject {
	const char *kind;	/* "policy", "directory", "root" */
	const char *name;	/* policy name, "directory", or the network */
	const char *version;
	uint8_t sha256[32];	/* of the exact file approved */
};

/* Who approved a subject with a role, by distinct agency. */
struct trust_tally {
	size_t napproved, nmissing;
	char approved[TRUST_MAX_KEYS][KETEN_IDMAX];	/* agencies whose key signed */
	char missing[TRUST_MAX_KEYS][KETEN_IDMAX];	/* agencies with the role that did not */
};

/*
 * Parse a root file (name is used in messages: file:line:col).  Thresholds
 * must be reachable by the keys listed.  *out is the caller's
 * (trust_root_free).  0, or KETEN_EINVAL / KETEN_ENOMEM with err.
 */
int trust_root_parse(const char *name, const void *buf, size_t len, struct trust_root **out,
    char err[static KETEN_ERRLEN]);
/* Read and parse the root file at path. */
int trust_root_load(const char *path, struct trust_root **out, char err[static KETEN_ERRLEN]);
void trust_root_free(struct trust_root **r);

/* The subject's statement: the text approvals sign (malloc'd; NULL: out of memory). */
char *trust_statement(const char *network, const struct trust_subject *s);
/* s's sha256 from buf. */
void trust_subject_hash(struct trust_subject *s, const void *buf, size_t len);

/*
 * Count the approvals in note (a signed note of s's statement) by root's
 * keys with `role`, one per agency.  A signature by one of those keys that
 * fails refuses the note.  0 with *t, or KETEN_EINVAL (not an approval of
 * s) / KETEN_ECRYPTO with err.
 */
int trust_tally(const struct trust_root *r, unsigned role, const struct trust_subject *s,
    const char *note, size_t len, struct trust_tally *t, char err[static KETEN_ERRLEN]);

/*
 * Who approved s in note, for the record: "approved by politie and nla"
 * (agencies with a key of `role`), and, for a directory with od (the one
 * before it), the agencies whose own key in od signed ("; own key: politie").
 * Into buf; "no valid approvals" when none.
 */
void trust_describe(const struct trust_root *r, unsigned role, const struct trust_subject *s,
    const struct directory *od, const char *note, size_t len, char *buf, size_t buflen);

/*
 * Whether note approves policy `name` version `version` (the file src) by
 * the policy threshold of r.  0, or KETEN_EPERM with err naming who
 * approved and whose approval is missing, or another KETEN_E*.
 */
int trust_check_policy(const struct trust_root *r, const char *name, const char *version,
    const void *src, size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN]);

/*
 * Whether note approves the directory nd (the file src) as a successor of
 * od (NULL: the first, provisioned directory, approved by the directory
 * threshold).  Membership and anything but an agency's keys: the directory
 * threshold; an agency's keys: that agency's own signing key in od, or the
 * recovery threshold.  A version not above od's is refused.  0, or
 * KETEN_EPERM with err saying what is missing.
 */
int trust_check_directory(const struct trust_root *r, const struct directory *od,
    const struct directory *nd, const void *src, size_t len, const char *note, size_t nlen,
    char err[static KETEN_ERRLEN]);

/*
 * Whether note approves nr (the file src) as the successor of r: same
 * network, version r->version + 1, the root threshold of r's root keys and
 * of nr's.  0, or KETEN_EPERM with err.
 */
int trust_check_root(const struct trust_root *r, const struct trust_root *nr, const void *src,
    size_t len, const char *note, size_t nlen, char err[static KETEN_ERRLEN]);

/*
 * A key that approves: a privacy officer's, a board member's (an approver
 * key file, `keten trust keygen`), or an agency's own signing key (its
 * .secret file, for its own key rotation; key name: the agency id).  The
 * secret is in sodium_malloc'd memory; free with trust_signer_free.
 */
struct trust_signer {
	char name[NOTE_NAMEMAX];
	uint8_t pk[32];
	uint8_t sk[64];
};

/*
 * Approver key file (YAML, mode 0600; keep it offline):
 *   name: fg-politie
 *   signing_secret: "<base64 32-byte Ed25519 seed>"
 * trust_signer_load also takes an agency's .secret file (common/keys.h).
 */
int trust_signer_load(const char *path, struct trust_signer **out, char err[static KETEN_ERRLEN]);
/* A fresh approver key named name, written to path (0600, never over a file). */
int trust_signer_create(const char *name, const char *path, struct trust_signer **out,
    char err[static KETEN_ERRLEN]);
void trust_signer_free(struct trust_signer **s);

/*
 * Order of policy versions: dot-separated numbers compared as numbers
 * ("2026.11.10" > "2026.11.9"), anything else as text.  <0, 0, >0.
 */
int trust_version_cmp(const char *a, const char *b);

#endif
