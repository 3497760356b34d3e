/*
 * A test helper shared by the cache and coordinator tests: the check that IDs
 * handed to several threads are unique and strictly increasing in real-time
 * order. Each call records a logical clock value before (t0) and after (t1)
 * it ran; if call A ended before call B started (A.t1 < B.t0), A's ID must be
 * smaller. Header-only and static: it is test code, linked into tests only.
 */
#ifndef SR_TEST_CALLS_H
#define SR_TEST_CALLS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct call {
	uint64_t t0, t1, id;
};

static int
calls_by_t1(const void *x, const void *y)
{
	const struct call *a = x, *b = y;
	return a->t1 < b->t1 ? -1 : a->t1 > b->t1;
}

static int
calls_by_id(const void *x, const void *y)
{
	const struct call *a = x, *b = y;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Counts order violations and duplicates among calls[0..n) (reorders the
 * array). Every ID of a call that ended before a given call started must be
 * smaller than that call's: checked with a prefix maximum over end times. */
static void
calls_check(struct call *calls, size_t n, size_t *violations, size_t *dups)
{
	struct call *ends = malloc(n * sizeof(*ends));
	uint64_t *prefmax = malloc(n * sizeof(*prefmax));
	memcpy(ends, calls, n * sizeof(*ends));
	qsort(ends, n, sizeof(*ends), calls_by_t1);
	uint64_t mx = 0;
	for (size_t i = 0; i < n; i++) {
		if (ends[i].id > mx)
			mx = ends[i].id;
		prefmax[i] = mx;
	}
	*violations = 0;
	for (size_t i = 0; i < n; i++) {
		/* How many calls ended before calls[i] started. */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (ends[mid].t1 < calls[i].t0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && prefmax[lo - 1] >= calls[i].id)
			(*violations)++;
	}
	qsort(calls, n, sizeof(*calls), calls_by_id);
	*dups = 0;
	for (size_t i = 1; i < n; i++)
		*dups += calls[i].id == calls[i - 1].id;
	free(prefmax);
	free(ends);
}

#endif
