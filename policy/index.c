/* The policy index: agencies grouped into classes that no rule tells apart, rules by (sender class, recipient class, type). */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yamltree.h"
#include "policy/policy.h"
#include "schemas/case.pb-c.h"
#include "schemas/envelope.pb-c.h"
#include "policy/policy_int.h"

uint64_t
policy_bucket_key(size_t s, size_t r, size_t t)
{
	return ((uint64_t)s << 40 | (uint64_t)r << 16 | t) + 1;
}

size_t
policy_bucket_slot(const struct policy *p, uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 32) & (p->nbuckets - 1);
}

struct entry {
	uint64_t key;
	uint32_t rule;
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

struct classer {
	const struct policy *p;
	const uint64_t *h;
	bool to;
};

static bool
named(const struct rule *r, size_t a, bool to)
{
	return (to ? r->to : r->from)[a] != 0;
}

static bool
same_class(const struct classer *k, uint32_t a, uint32_t b)
{
	if (k->h[a] != k->h[b])
		return false;
	for (size_t ri = 0; ri < k->p->nrules; ri++)
		if (named(&k->p->rules[ri], a, k->to) != named(&k->p->rules[ri], b, k->to))
			return false;
	return true;
}

/* Order agencies by the rules that name them (hash first, then every rule). */
static int
class_cmp(const void *x, const void *y, void *arg)
{
	const struct classer *k = arg;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	if (k->h[a] != k->h[b])
		return k->h[a] < k->h[b] ? -1 : 1;
	for (size_t ri = 0; ri < k->p->nrules; ri++) {
		bool na = named(&k->p->rules[ri], a, k->to), nb = named(&k->p->rules[ri], b, k->to);
		if (na != nb)
			return na ? 1 : -1;
	}
	return a < b ? -1 : a > b;
}

/* Class of each agency as sender (to false) or recipient (to true): agencies
 * named by exactly the same rules share one.  Writes the class per agency to
 * cls (nag entries) and one member of each class to rep; returns the number
 * of classes, or -1 when out of memory. */
static long
agency_classes(const struct policy *p, bool to, uint32_t *cls, uint32_t *rep)
{
	uint64_t *h = malloc((p->nag ? p->nag : 1) * sizeof(*h));
	uint32_t *order = malloc((p->nag ? p->nag : 1) * sizeof(*order));
	struct classer k = { p, h, to };
	long n = 0;

	if (h == NULL || order == NULL) {
		free(h);
		free(order);
		return -1;
	}
	for (size_t a = 0; a < p->nag; a++) {
		uint64_t x = 0xcbf29ce484222325ull;
		for (size_t ri = 0; ri < p->nrules; ri++)
			if (named(&p->rules[ri], a, to))
				x = (x ^ ri) * 0x100000001b3ull;
		h[a] = x;
		order[a] = (uint32_t)a;
	}
	qsort_r(order, p->nag, sizeof(*order), class_cmp, &k);
	for (size_t i = 0; i < p->nag; i++) {
		if (i == 0 || !same_class(&k, order[i - 1], order[i]))
			rep[n++] = order[i];
		cls[order[i]] = (uint32_t)(n - 1);
	}
	free(h);
	free(order);
	return n;
}

int
policy_build_index(struct policy *p, char err[static KETEN_ERRLEN])
{
	struct entry *e = NULL;
	size_t n = 0, cap = 0, m = p->nag ? p->nag : 1;
	uint32_t *srep = malloc(m * sizeof(*srep)), *rrep = malloc(m * sizeof(*rrep));
	long nsc = -1, nrc = -1;

	p->sclass = malloc(m * sizeof(*p->sclass));
	p->rclass = malloc(m * sizeof(*p->rclass));
	if (srep != NULL && rrep != NULL && p->sclass != NULL && p->rclass != NULL &&
	    (nsc = agency_classes(p, false, p->sclass, srep)) >= 0)
		nrc = agency_classes(p, true, p->rclass, rrep);
	if (nrc < 0)
		goto nomem;
	for (size_t ri = 0; ri < p->nrules; ri++) {
		const struct rule *r = &p->rules[ri];
		for (size_t sc = 0; sc < (size_t)nsc; sc++) {
			if (!r->from[srep[sc]])
				continue;
			for (size_t rc = 0; rc < (size_t)nrc; rc++) {
				if (!r->to[rrep[rc]])
					continue;
				for (size_t t = 0; t < p->ntypes; t++) {
					if (!(r->types >> t & 1))
						continue;
					if (n == cap) {
						cap = cap ? 2 * cap : 1024;
						struct entry *ne = realloc(e, cap * sizeof(*e));
						if (ne == NULL)
							goto nomem;
						e = ne;
					}
					e[n++] = (struct entry){ policy_bucket_key(sc, rc, t), (uint32_t)ri };
				}
			}
		}
	}
	free(srep);
	free(rrep);
	srep = rrep = NULL;
	if (n > 0)	/* none: every rule names only agencies absent from the directory */
		qsort(e, n, sizeof(*e), entry_cmp);
	size_t groups = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || e[i].key != e[i - 1].key)
			groups++;
	p->nbuckets = 16;
	while (p->nbuckets < 2 * groups)
		p->nbuckets *= 2;
	if ((p->buckets = calloc(p->nbuckets, sizeof(*p->buckets))) == NULL ||
	    (p->idx = malloc((n ? n : 1) * sizeof(*p->idx))) == NULL)
		goto nomem;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && e[j].key == e[i].key) {
			p->idx[j] = e[j].rule;
			j++;
		}
		size_t slot = policy_bucket_slot(p, e[i].key);
		while (p->buckets[slot].key != 0)
			slot = (slot + 1) & (p->nbuckets - 1);
		p->buckets[slot] = (struct bucket){ e[i].key, (uint32_t)i, (uint32_t)(j - i) };
		i = j;
	}
	free(e);
	return 0;
nomem:
	free(e);
	free(srep);
	free(rrep);
	return keten_seterr(err, KETEN_ENOMEM, "out of memory");
}
