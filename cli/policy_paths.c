/* Field path sets for the keten policy tools: set algebra, and printing a set compressed to patterns. */
#include "cli/policy_common.h"

size_t
paths_compress_in(const struct codec_type *t, const struct codec_pathset *set,
    const struct codec_pathset *within, void (*fn)(void *, const char *, size_t), void *arg)
{
	return codec_paths_compress(t, set, within, fn, arg);
}

size_t
paths_compress(const struct codec_type *t, const struct codec_pathset *set,
    void (*fn)(void *, const char *, size_t), void *arg)
{
	return codec_paths_compress(t, set, NULL, fn, arg);
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
