/*
 * What the parts of the policy module share (policy/policy.h is the
 * contract): the compiled form of a policy and its rules, and the index by
 * (sender class, recipient class, type) that evaluation looks rules up in.
 * Private to policy/compile.c, index.c and eval.c.
 */
#ifndef KETEN_POLICY_POLICY_INT_H
#define KETEN_POLICY_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/yamltree.h"
#include "policy/policy.h"

#define MAX_TYPES 64

struct rule {
	char *id;
	bool forbid;
	unsigned line, col;
	uint8_t *from, *to;		/* per agency: 1 if the rule applies */
	uint64_t types;			/* bit per codec type index */
	int purpose;			/* purpose index; -1 = any (forbid only) */
	int basis;			/* basis index; -1 = none (forbid) */
	bool whole;			/* forbid without fields: the whole message */
	struct codec_pathset *fields;	/* per codec type index */
	/* when */
	uint64_t forms;			/* bit per ExploitationForm value; 0 = no condition */
	int minor;			/* -1 no condition, else 0/1 */
	char **regions;
	size_t nregions;
	uint32_t handling;		/* bit per HandlingLabel value; 0 = no condition */
	uint32_t retention_days;
	char *needs_every_field;	/* why a wildcard grant is needed; NULL = not said */
	struct policy_rule_info info;
};

/* The index maps (sender class, recipient class, type) to the rules that may
 * apply, in rule order.  Agencies that every rule names alike (as senders, or
 * as recipients) share a class, so its size follows the number of distinct
 * roles in the policy rather than the square of the directory's size. */
struct bucket {
	uint64_t key;			/* (sc << 40 | rc << 16 | t) + 1; 0 = empty slot */
	uint32_t off, cnt;
};

struct policy {
	char *name, *version;
	uint8_t hash[POLICY_HASHBYTES];
	size_t nag;
	char **agencies;		/* directory order */
	uint32_t *by_name;		/* agency indices sorted by id */
	size_t npurposes, nbases;
	char **purposes, **purpose_desc, **bases, **citations;
	size_t nrules;
	struct rule *rules;
	size_t ntypes;
	uint32_t *sclass, *rclass;	/* per agency: its sender and recipient class */
	struct bucket *buckets;
	size_t nbuckets;		/* power of two */
	uint32_t *idx;
	/* agency ids the policy names that the directory does not list: their
	 * rules are inert for them (an agency not in the network) */
	char **absent;
	size_t *absent_line, nabsent;
};

int policy_agency_index(const struct policy *p, const char *id);
int policy_index_of(char **list, size_t n, const char *s);
uint64_t policy_bucket_key(size_t s, size_t r, size_t t);
size_t policy_bucket_slot(const struct policy *p, uint64_t key);
int policy_build_index(struct policy *p, char err[static KETEN_ERRLEN]);

#endif
