/* The codec's field paths: the paths a message holds, path sets from patterns, and the filter. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "schemas/codec.h"
#include "schemas/codec_int.h"
#include "schemas/validate.h"

static void
paths_walk(const struct cnode *n, const ProtobufCMessage *m, struct codec_pathset *out)
{
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &n->d->fields[i];
		if (n->child[i] == NULL) {
			if (codec_field_present(m, f))
				codec_pathset_set(out, (size_t)n->leaf[i]);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *codec_fcount(m, f);
			ProtobufCMessage *const *arr = *(ProtobufCMessage **const *)codec_fptr(m, f);
			for (size_t k = 0; k < cnt; k++)
				if (arr[k] != NULL)
					paths_walk(codec_elem_node(n, i, arr[k]), arr[k], out);
		} else {
			const ProtobufCMessage *sub = *(ProtobufCMessage *const *)codec_fptr(m, f);
			if (sub != NULL)
				paths_walk(n->child[i], sub, out);
		}
	}
}

void
codec_paths(const struct codec_type *t, const ProtobufCMessage *m, struct codec_pathset *out)
{
	codec_pathset_clear(out);
	paths_walk(t->root, m, out);
}

/*
 * Filter m in place.  Returns whether m still holds anything; *changed is
 * set when something was cleared, so only messages this filter emptied are
 * removed (an empty message the sender sent stays as it was).
 */
static bool
filter_walk(const struct cnode *n, ProtobufCMessage *m, const struct codec_pathset *allowed,
    struct codec_pathset *removed, bool *changed)
{
	bool any = false;

	if (m->n_unknown_fields > 0) {	/* no path names them, so no policy allows them */
		for (unsigned i = 0; i < m->n_unknown_fields; i++)
			free(m->unknown_fields[i].data);
		free(m->unknown_fields);
		m->unknown_fields = NULL;
		m->n_unknown_fields = 0;
		*changed = true;
	}
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &n->d->fields[i];
		if (n->child[i] == NULL) {
			if (!codec_field_present(m, f))
				continue;
			if (codec_pathset_has(allowed, (size_t)n->leaf[i])) {
				any = true;
			} else {
				codec_clear_field(m, f);
				*changed = true;
				if (removed)
					codec_pathset_set(removed, (size_t)n->leaf[i]);
			}
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t *cnt = codec_fcount(m, f), kept = 0;
			ProtobufCMessage **arr = *(ProtobufCMessage ***)codec_fptr(m, f);
			for (size_t k = 0; k < *cnt; k++) {
				bool ch = false;
				if (arr[k] != NULL && !filter_walk(codec_elem_node(n, i, arr[k]), arr[k], allowed, removed,
				    &ch) && ch) {
					codec_free(arr[k]);
					*changed = true;
				} else {
					arr[kept++] = arr[k];
				}
			}
			*cnt = kept;
			if (kept == 0) {
				free(arr);
				*(void **)codec_fptr(m, f) = NULL;
			} else {
				any = true;
			}
		} else {
			ProtobufCMessage **sub = (ProtobufCMessage **)codec_fptr(m, f);
			bool ch = false;
			if (*sub == NULL)
				continue;
			if (!filter_walk(n->child[i], *sub, allowed, removed, &ch) && ch) {
				codec_free(*sub);
				*sub = NULL;
				*changed = true;
			} else {
				any = true;
			}
		}
	}
	return any;
}

void
codec_pathset_close(const struct codec_type *t, struct codec_pathset *s)
{
	for (size_t i = 0; i < t->nclosures; i++) {
		const struct closure *c = &t->closures[i];
		for (int k = c->first; k < c->last; k++)
			if (codec_pathset_has(s, (size_t)k)) {
				codec_pathset_set(s, (size_t)c->companion);
				break;
			}
	}
}

void
codec_filter(const struct codec_type *t, ProtobufCMessage *m, const struct codec_pathset *allowed,
    struct codec_pathset *removed)
{
	struct codec_pathset a = *allowed;
	bool changed = false;

	codec_pathset_close(t, &a);
	if (removed)
		codec_pathset_clear(removed);
	filter_walk(t->root, m, &a, removed, &changed);
}

static void
add_range(struct codec_pathset *set, const struct cnode *n)
{
	for (int i = n->first; i < n->last; i++)
		codec_pathset_set(set, (size_t)i);
}

/*
 * Add what parts[k..] names beneath node n.  A part may carry a role
 * qualifier, "persons[suspect]"; without one a partitioned field fans out to
 * every role.  Returns 0, or KETEN_ENOTFOUND with the message in err.
 */
static int
add_parts(const struct cnode *n, char **parts, size_t nparts, size_t k, bool subtree,
    struct codec_pathset *set, const char *pattern, char err[static KETEN_ERRLEN])
{
	char name[128], *q;
	int fi = -1;

	if (k == nparts) {
		add_range(set, n);
		return 0;
	}
	snprintf(name, sizeof(name), "%s", parts[k]);
	if ((q = strchr(name, '[')) != NULL) {
		size_t ql = strlen(q);
		if (ql < 3 || q[ql - 1] != ']')
			return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (a role "
			    "qualifier is written [role])", pattern);
		q[ql - 1] = '\0';
		*q++ = '\0';
	}
	for (unsigned i = 0; i < n->d->n_fields && fi < 0; i++)
		if (strcmp(n->d->fields[i].name, name) == 0)
			fi = (int)i;
	if (fi < 0)
		return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (%s has no field %s)",
		    pattern, n->d->short_name, name);
	if (n->child[fi] == NULL) {
		if (k + 1 != nparts || subtree || q != NULL)
			return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (%s.%s is "
			    "not a message)", pattern, n->d->short_name, name);
		codec_pathset_set(set, (size_t)n->leaf[fi]);
		return 0;
	}
	if (q != NULL) {
		if (n->part[fi] == NULL)
			return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (%s.%s has "
			    "no roles)", pattern, n->d->short_name, name);
		for (size_t r = 0; r < n->nparts[fi]; r++) {
			const ProtobufCFieldDescriptor *rf = &n->child[fi]->d->fields[n->role_field[fi]];
			char rn[128];
			if (strcmp(codec_role_name(rf->descriptor, (unsigned)r, rn), q) == 0)
				return add_parts(n->part[fi][r], parts, nparts, k + 1, subtree, set, pattern,
				    err);
		}
		return keten_seterr(err, KETEN_ENOTFOUND, "unknown field path \"%s\" (no role \"%s\")",
		    pattern, q);
	}
	if (n->part[fi] == NULL)
		return add_parts(n->child[fi], parts, nparts, k + 1, subtree, set, pattern, err);
	for (size_t r = 0; r < n->nparts[fi]; r++) {
		int rc = add_parts(n->part[fi][r], parts, nparts, k + 1, subtree, set, pattern, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
codec_pathset_add(const struct codec_type *t, struct codec_pathset *set, const char *pattern,
    char err[static KETEN_ERRLEN])
{
	char buf[256], *parts[CODEC_MAX_DEPTH + 1], *save = NULL;
	size_t len = strlen(pattern), n = 0;
	bool subtree = false;

	if (strcmp(pattern, "*") == 0) {
		add_range(set, t->root);
		return 0;
	}
	if (len == 0 || len >= sizeof(buf))
		return keten_seterr(err, KETEN_ENOTFOUND, "empty or overlong field path");
	memcpy(buf, pattern, len + 1);
	if (len > 2 && strcmp(buf + len - 2, ".*") == 0) {
		buf[len - 2] = '\0';
		subtree = true;
	}
	for (char *part = strtok_r(buf, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save)) {
		if (n == CODEC_MAX_DEPTH)
			return keten_seterr(err, KETEN_ENOTFOUND, "field path \"%s\" too deep", pattern);
		parts[n++] = part;
	}
	if (n == 0)
		return keten_seterr(err, KETEN_ENOTFOUND, "empty field path");
	/* validate against a scratch set first so a failing pattern adds nothing */
	struct codec_pathset tmp = { 0 };
	int rc = add_parts(t->root, parts, n, 0, subtree, &tmp, pattern, err);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		set->w[i] |= tmp.w[i];
	return 0;
}

bool
codec_pathset_subset(const struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		if (a->w[i] & ~b->w[i])
			return false;
	return true;
}

bool
codec_pathset_empty(const struct codec_pathset *s)
{
	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		if (s->w[i])
			return false;
	return true;
}

size_t
codec_pathset_count(const struct codec_pathset *s)
{
	size_t n = 0;

	for (size_t i = 0; i < CODEC_MAX_PATHS / 64; i++)
		n += (size_t)__builtin_popcountll(s->w[i]);
	return n;
}

/* Try pattern as a cover of path i; keep it in best when it covers more. */
static void
try_pattern(const struct codec_type *t, const char *pattern, const struct codec_pathset *set,
    const struct codec_pathset *within, size_t i, char *best, size_t bestlen, size_t *bestn,
    struct codec_pathset *bestm)
{
	struct codec_pathset m;
	char err[KETEN_ERRLEN];

	codec_pathset_clear(&m);
	if (codec_pathset_add(t, &m, pattern, err) != 0)
		return;
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		m.w[w] &= within->w[w];
	if (!codec_pathset_has(&m, i) || !codec_pathset_subset(&m, set))
		return;
	size_t n = codec_pathset_count(&m);
	if (n > *bestn) {
		*bestn = n;
		*bestm = m;
		snprintf(best, bestlen, "%s", pattern);
	}
}

/*
 * The shortest readable list of patterns for a set of paths of t, relative
 * to the paths in `within` (all paths of the type, or those present in a
 * message): a subtree whose every leaf is in the set becomes "prefix.*"
 * ("location.*", "persons[suspect].*"), the same field of every role
 * "persons.phone", everything "*".  Patterns are valid policy field paths.
 * Calls fn for each pattern with the number of paths it stands for.
 */
size_t
codec_paths_compress(const struct codec_type *t, const struct codec_pathset *set,
    const struct codec_pathset *within, void (*fn)(void *, const char *, size_t), void *arg)
{
	struct codec_pathset all;

	if (within == NULL) {
		codec_pathset_clear(&all);
		for (size_t i = 0; i < codec_type_npaths(t); i++)
			codec_pathset_set(&all, i);
		within = &all;
	}
	size_t n = codec_type_npaths(t), out = 0;
	struct codec_pathset done;

	codec_pathset_clear(&done);
	if (n > 0 && !codec_pathset_empty(set) && codec_pathset_subset(within, set)) {
		if (fn)
			fn(arg, "*", n);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!codec_pathset_has(set, i) || codec_pathset_has(&done, i))
			continue;
		const char *path = codec_type_path(t, i);
		char best[256], cand[256], gen[256];
		size_t bestn = 0, plen = strlen(path);
		struct codec_pathset bestm;
		codec_pathset_clear(&bestm);
		snprintf(best, sizeof(best), "%s", path);
		/* the path itself, its subtrees, and the same without the role */
		try_pattern(t, path, set, within, i, best, sizeof(best), &bestn, &bestm);
		for (size_t k = 1; k < plen; k++)
			if (path[k] == '.' || path[k] == '[') {
				snprintf(cand, sizeof(cand), "%.*s.*", (int)k, path);
				try_pattern(t, cand, set, within, i, best, sizeof(best), &bestn, &bestm);
			}
		const char *lb = strchr(path, '['), *rb = lb ? strchr(lb, ']') : NULL;
		if (lb && rb) {
			snprintf(gen, sizeof(gen), "%.*s%s", (int)(lb - path), path, rb + 1);
			try_pattern(t, gen, set, within, i, best, sizeof(best), &bestn, &bestm);
			for (size_t k = 1, gl = strlen(gen); k < gl; k++)
				if (gen[k] == '.') {
					snprintf(cand, sizeof(cand), "%.*s.*", (int)k, gen);
					try_pattern(t, cand, set, within, i, best, sizeof(best), &bestn,
					    &bestm);
				}
		}
		if (bestn == 0) {
			codec_pathset_set(&bestm, i);
			bestn = 1;
		}
		for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
			done.w[w] |= bestm.w[w];
		if (fn)
			fn(arg, best, bestn);
		out++;
	}
	return out;
}

