/* What every benchmark needs: a monotonic clock and a median's sort order. */
#ifndef KETEN_BENCH_H
#define KETEN_BENCH_H

#include <time.h>

/* Seconds on the monotonic clock. */
static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort order for doubles (for medians over rounds). */
static inline int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif
