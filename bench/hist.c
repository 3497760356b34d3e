/*
 * The latency histogram (HdrHistogram's log-linear buckets; see bench.h):
 * merging the workers' histograms and reading quantiles from them.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

static uint64_t
hist_upper(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return i;
	unsigned j = i - 2 * HIST_SUB;
	unsigned e = j / HIST_SUB + HIST_SUB_BITS + 1;
	uint64_t m = j % HIST_SUB + HIST_SUB;
	unsigned shift = e - HIST_SUB_BITS;
	return ((m + 1) << shift) - 1;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_N; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The value at quantile q (0..1], in ticks: the upper bound of the bucket
 * holding the ceil(q * count)-th smallest sample, capped by the max. */
uint64_t
hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	double r = q * (double) h->count;
	uint64_t rank = (uint64_t) r;
	if ((double) rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t u = hist_upper(i);
			return u < h->max ? u : h->max;
		}
	}
	return h->max;
}
