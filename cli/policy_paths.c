/* Field path sets for the keten policy tools: set algebra, and printing a set compressed to patterns. */
#include "cli/policy_common.h"

/* Try pattern as a cover of path i; keep it in best when it covers more. */
void
try_pattern(const struct codec_type *t, const char *pattern, const struct codec_pathset *set,
    const struct codec_pathset *within, size_t i, char *best, size_t bestlen, size_t *bestn,
    struct codec_pathset *bestm)
{
	struct codec_pathset m;
	char err[KETEN_ERRLEN];

	codec_pathset_clear(&m);
	if (codec_pathset_add(t, &m, pattern, err) != 0)
		return;
	pathset_and(&m, &m, within);
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
paths_compress_in(const struct codec_type *t, const struct codec_pathset *set,
    const struct codec_pathset *within, void (*fn)(void *, const char *, size_t), void *arg)
{
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
		pathset_or(&done, &bestm);
		if (fn)
			fn(arg, best, bestn);
		out++;
	}
	return out;
}

size_t
paths_compress(const struct codec_type *t, const struct codec_pathset *set,
    void (*fn)(void *, const char *, size_t), void *arg)
{
	struct codec_pathset all;

	pathset_all(t, &all);
	return paths_compress_in(t, set, &all, fn, arg);
}

void
join_one(void *arg, const char *pattern, size_t count)
{
	struct join *j = arg;

	if (j->max && j->n >= j->max) {
		j->n++;
		return;
	}
	buf_add(j->b, "%s%s", j->n ? j->sep : "", pattern);
	j->n++;
}

/* Compressed patterns of set, joined by ", ", at most max (then "and N more"). */
void
paths_join(struct buf *b, const struct codec_type *t, const struct codec_pathset *set, size_t max)
{
	struct join j = { b, max, 0, ", " };

	paths_compress(t, set, join_one, &j);
	if (max && j.n > max)
		buf_add(b, " and %zu more", j.n - max);
}

void
json_add_pattern(void *arg, const char *pattern, size_t count)
{
	json_array_append_new(arg, json_string(pattern));
}

json_t *
paths_json(const struct codec_type *t, const struct codec_pathset *set)
{
	json_t *a = json_array();

	paths_compress(t, set, json_add_pattern, a);
	return a;
}

void
pathset_all(const struct codec_type *t, struct codec_pathset *s)
{
	codec_pathset_clear(s);
	for (size_t i = 0; i < codec_type_npaths(t); i++)
		codec_pathset_set(s, i);
}

bool
pathset_intersects(const struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		if (a->w[w] & b->w[w])
			return true;
	return false;
}

void
pathset_or(struct codec_pathset *a, const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		a->w[w] |= b->w[w];
}

void
pathset_and(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		out->w[w] = a->w[w] & b->w[w];
}

void
pathset_andnot(struct codec_pathset *out, const struct codec_pathset *a,
    const struct codec_pathset *b)
{
	for (size_t w = 0; w < CODEC_MAX_PATHS / 64; w++)
		out->w[w] = a->w[w] & ~b->w[w];
}

bool
pathset_equal(const struct codec_pathset *a, const struct codec_pathset *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}
