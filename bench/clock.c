/*
 * The latency clock: the TSC (lfence + rdtsc) calibrated against
 * CLOCK_MONOTONIC when the CPU says it runs at a constant rate, else
 * clock_gettime. clock_ticks() itself is inline in bench.h, in the timed
 * loop.
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
#include <time.h>

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

/* The TSC is usable only when it runs at a constant rate in every power
 * state; the kernel says so in the CPU flags. */
static bool
tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return false;
	char line[4096];
	bool ok = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) == 0) {
			ok = strstr(line, " constant_tsc") != NULL &&
			    strstr(line, " nonstop_tsc") != NULL;
			break;
		}
	}
	fclose(f);
	return ok;
#else
	return false;
#endif
}

void
clock_sleep(double s)
{
	if (s <= 0)
		return;
	struct timespec ts;
	ts.tv_sec = (time_t) s;
	ts.tv_nsec = (long) ((s - (double) ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

void
clock_init(struct bench_clock *clk)
{
	clk->tsc = tsc_invariant();
	clk->ticks_per_ns = 1.0;
	if (clk->tsc) {
		uint64_t n0 = clock_mono_ns(), t0 = clock_ticks(clk);
		clock_sleep(0.05);
		uint64_t n1 = clock_mono_ns(), t1 = clock_ticks(clk);
		clk->ticks_per_ns = (double) (t1 - t0) / (double) (n1 - n0);
		if (!(clk->ticks_per_ns > 0.01)) {
			clk->tsc = false;
			clk->ticks_per_ns = 1.0;
		}
	}
	enum { N = 1001 };
	uint64_t d[N];
	for (int i = 0; i < N; i++) {
		uint64_t a = clock_ticks(clk);
		uint64_t b = clock_ticks(clk);
		d[i] = b - a;
	}
	qsort(d, N, sizeof(d[0]), cmp_u64);
	clk->overhead_ns = (double) d[N / 2] / clk->ticks_per_ns;
}
