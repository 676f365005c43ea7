/*
 * What the `keten policy` subcommands share (cli/cmd_policy_*.c): option
 * parsing, loading a policy and its directory, the attribute combinations
 * (the universe) the tools evaluate a policy over, requests, path sets and
 * their printing.  Everything goes through policy/policy.h: the tools
 * compile with policy_load and learn what a rule does by evaluating it
 * (policy_eval over agency pairs, types, purposes and attribute
 * combinations), by policy_rule_covers and by policy_why_withheld.
 */
#ifndef KETEN_CLI_POLICY_COMMON_H
#define KETEN_CLI_POLICY_COMMON_H

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/directory.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "policy/policy.h"
#include "schemas/case_types.pb-c.h"
#include "schemas/codec.h"

#define DEFAULT_DIRECTORY "policy/directory.example.yaml"
#define MAX_ATTRS 32
#define MAX_FORMS 8
#define MAX_POS 4
#define NFORMS 5		/* ExploitationForm values 1..5 */
#define NHANDLING 6		/* HandlingLabel values 0..5 */

/* A growing string. */
struct buf {
	char *s;
	size_t len, cap;
};

struct join {
	struct buf *b;
	size_t max, n;		/* stop after max patterns (0 = all) */
	const char *sep;
};

enum {
	O_FORMAT = 1 << 0,
	O_STRICT = 1 << 1,
	O_POLICY = 1 << 2,
	O_REQUEST = 1 << 3,	/* --from --to --type --purpose --basis --attr --handling ... */
	O_LEDGER = 1 << 4,	/* --ledger BROKER_DATA_DIR */
};

struct opts {
	const char *directory, *policy, *ledger, *from, *to, *type, *purpose, *basis, *handling;
	const char *attrs[MAX_ATTRS];
	size_t nattrs;
	bool json, strict, reply_ok, limit_reached;
	const char *pos[MAX_POS];
	size_t npos;
};

struct named {
	char *id;
	unsigned line;
};

struct yinfo {
	char **regions;		/* every value under when: region:, for the attribute universe */
	size_t nregions;
	struct named *bases, *purposes;
	size_t nbases, npurposes;
};

struct attrs {
	int forms[MAX_FORMS];
	size_t nforms;
	bool minor;
	const char *region;
	int handling;
	bool reply_ok;		/* the reply_to callback says "holds" */
	bool limit_ok;		/* the limit callback says "holds" */
};

/* One attribute combination of the universe tools evaluate over. */
struct combo {
	struct attrs a;
	char label[160];
};

struct universe {
	struct combo *c;
	size_t n;
};

void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
void
buf_add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *buf_str(const struct buf *b);
const char *short_type(const struct codec_type *t);
const char *form_name(int v);
int form_parse(const char *s);
int handling_parse_any(const char *s);
int bool_parse(const char *s, bool *out);
size_t paths_compress_in(const struct codec_type *t, const struct codec_pathset *set,
    const struct codec_pathset *within, void (*fn)(void *, const char *, size_t), void *arg);
size_t paths_compress(const struct codec_type *t, const struct codec_pathset *set,
    void (*fn)(void *, const char *, size_t), void *arg);
void join_one(void *arg, const char *pattern, size_t count);
void paths_join(struct buf *b, const struct codec_type *t, const struct codec_pathset *set, size_t max);
void json_add_pattern(void *arg, const char *pattern, size_t count);
json_t *paths_json(const struct codec_type *t, const struct codec_pathset *set);
void pathset_all(const struct codec_type *t, struct codec_pathset *s);
bool pathset_intersects(const struct codec_pathset *a, const struct codec_pathset *b);
void pathset_or(struct codec_pathset *a, const struct codec_pathset *b);
void pathset_and(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b);
void pathset_andnot(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b);
bool pathset_equal(const struct codec_pathset *a, const struct codec_pathset *b);
void json_print(json_t *j);
int policy_usage(FILE *f);
int opt_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **out);
int parse_opts(const char *cmd, int argc, char **argv, unsigned allowed, struct opts *o);
struct directory *load_directory(const char *cmd, const char *path, const char *policy);
void yinfo_add_region(struct yinfo *yi, const char *s);
void yinfo_named(const struct ynode *m, struct named **out, size_t *n);
void yinfo_load(const char *path, struct yinfo *yi);
void yinfo_free(struct yinfo *yi);
int ledger_reply(void *arg, const struct policy_request *rq, const struct policy_rule_info *r);
int ledger_limit(void *arg, const struct policy_request *rq, const struct policy_rule_info *r);
void make_request(struct policy_request *rq, struct policy_ledger *lg, const char *from,
    const char *to, const struct codec_type *t, const char *purpose, const char *basis,
    const struct attrs *a);
void attrs_describe(struct buf *b, const struct attrs *a);
json_t *attrs_json(const struct attrs *a);
bool policy_has_agency(const struct policy *p, const char *id);
bool policy_has_purpose(const struct policy *p, const char *id);
int rule_by_id(const struct policy *p, const char *id);
void list_agencies(struct buf *b, const struct policy *p);
void list_purposes(struct buf *b, const struct policy *p);
void list_types(struct buf *b);
int check_names(const struct policy *p, const char *from, const char *to, const char *type,
    const char *purpose, const char *basis, const struct codec_type **t, struct buf *b);
struct codec_pathset *rule_fields(const struct policy *p);
int forbid_guard(const struct policy *p, const struct policy_request *rq,
    const struct policy_ledger *lg, size_t x);
bool permits_possible(const struct policy *p, const char *s, const char *r,
    const struct codec_type *t, const char *purpose);
struct codec_pathset *forbid_probes(const struct policy *p, const struct codec_pathset *rf);
void describe_reason(struct buf *b, const struct policy *p, const struct policy_request *rq,
    enum policy_reason why, int rule, bool field);
struct policy *load_policy(const char *cmd, const char *path, const struct directory *dir);
void combo_add(struct universe *u, const struct attrs *a);
void universe_standard(struct universe *u, const struct yinfo *y1, const struct yinfo *y2);
void paths_when(struct buf *b, const char *sign, const struct codec_type *t,
    const struct codec_pathset *set, const struct universe *u, const uint32_t *mask,
    size_t nall, json_t *jarr);
bool str_eq(const char *a, const char *b);
int cmd_policy_lint(int argc, char **argv);
int cmd_policy_shadow(int argc, char **argv);
int cmd_policy_explain(int argc, char **argv);
int cmd_policy_test(int argc, char **argv);
int cmd_policy_diff(int argc, char **argv);
int cmd_policy_matrix(int argc, char **argv);
int cmd_policy(int argc, char **argv);

#endif
