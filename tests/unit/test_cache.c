/*
 * Unit tests for the coordinator's chunk cache (coordinator/cache.c): the
 * prefetch point, exhaustion and swap, the wait and its timeout, terminal
 * errors, the bound on the packed word while no chunk is at hand, strict
 * order with several threads, and a caller that leases on its own thread
 * when it would only wait for the fetcher. A test thread plays the master, handing out
 * chunks of increasing ranges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "calls.h"
#include "snowrange/error.h"
#include "util.h"

static _Atomic int notified;

static void
count_notify(void *arg, struct cache_seq *s)
{
	(void) arg;
	(void) s;
	atomic_fetch_add(&notified, 1);
}

/* A timeout for cache_next, in its unit. */
static int64_t
in_ms(int ms)
{
	return (int64_t) ms * 1000;
}

static void
test_prefetch_point_and_swap(void **state)
{
	(void) state;
	struct cache_seq s;
	atomic_store(&notified, 0);
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk c1 = {1000, 4, 0, 10};
	assert_int_equal(cache_offer(&s, &c1), SR_OK);
	assert_int_equal(cache_after(&s), 1040);
	uint64_t id;
	size_t got;
	for (int i = 1; i <= 10; i++) {
		assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
		assert_int_equal(got, 1);
		assert_int_equal(id, 1001 + 4 * (i - 1));
		/* Notified exactly once, when the 5th ID (half) was taken. */
		assert_int_equal(atomic_load(&notified), i >= 5 ? 1 : 0);
	}
	assert_true(cache_take_want(&s));
	/* A chunk not above what is held would break order: refused. */
	struct range_chunk low = {1000, 4, 1, 10};
	assert_int_equal(cache_offer(&s, &low), SR_EINVAL);
	struct range_chunk c2 = {1040, 2, 1, 10};
	assert_int_equal(cache_offer(&s, &c2), SR_OK);
	cache_lease_done(&s);
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
	assert_int_equal(id, 1042);
	struct cache_view v;
	cache_view(&s, &v);
	assert_true(v.has_cur);
	assert_false(v.has_next);
	assert_int_equal(v.cur.start, 1040);
	assert_int_equal(v.used, 1);
	cache_seq_destroy(&s);
}

/* A chunk of a sequence with prefetch off never asks for the next one while
 * IDs are left; only the caller who finds it used up does. */
static void
test_no_prefetch(void **state)
{
	(void) state;
	struct cache_seq s;
	atomic_store(&notified, 0);
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct cache_lease l = {.chunk = {0, 1, 0, 4}, .no_prefetch = true};
	assert_int_equal(cache_offer_lease(&s, &l), SR_OK);
	uint64_t id;
	size_t got;
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
		assert_int_equal(id, (uint64_t) i);
	}
	assert_int_equal(atomic_load(&notified), 0);
	assert_false(cache_take_want(&s));
	/* The next caller asks, and waits for it. */
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(20)), SR_EUNAVAILABLE);
	assert_int_equal(atomic_load(&notified), 1);
	assert_true(cache_take_want(&s));
	/* A chunk of a prefetching sequence asks at its prefetch point again. */
	struct cache_lease on = {.chunk = {4, 1, 0, 4}};
	assert_int_equal(cache_offer_lease(&s, &on), SR_OK);
	cache_lease_done(&s);
	for (int i = 5; i <= 6; i++) {
		assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
		assert_int_equal(id, (uint64_t) i);
	}
	assert_int_equal(atomic_load(&notified), 2);
	cache_seq_destroy(&s);
}

/* The master's word on the sequence: dropped (start 0) discards the held
 * chunks and fails callers at once; the same start again changes nothing; a
 * new start (re-created) clears the error, and a lease of it serves again.
 * A lease of a new incarnation discards the old current chunk by itself, and
 * so does a heartbeat that shows a new start. */
static void
test_sync_drop_and_recreate(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct cache_lease l = {.chunk = {0, 1, 0, 100}, .seq_start = 1};
	assert_int_equal(cache_offer_lease(&s, &l), SR_OK);
	uint64_t id;
	size_t got;
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
	assert_int_equal(id, 1);
	assert_int_equal(cache_seq_start(&s), 1);
	assert_false(cache_sync(&s, 1));
	assert_true(cache_sync(&s, 0));
	assert_false(cache_sync(&s, 0));
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_ENOTFOUND);
	struct cache_view v;
	cache_view(&s, &v);
	assert_false(v.has_cur);
	assert_false(v.has_next);
	/* Created again above the old IDs. */
	assert_true(cache_sync(&s, 101));
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(10)), SR_EUNAVAILABLE);
	assert_true(cache_take_want(&s));
	assert_int_equal(cache_after(&s), 100);
	struct cache_lease l2 = {.chunk = {100, 1, 0, 100}, .seq_start = 101};
	assert_int_equal(cache_offer_lease(&s, &l2), SR_OK);
	cache_lease_done(&s);
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
	assert_int_equal(id, 101);
	/* Dropped and created again unseen: the lease shows a new start, and
	 * the 99 IDs left of the current chunk are not served. */
	struct cache_lease l3 = {.chunk = {300, 1, 0, 100}, .seq_start = 301};
	assert_int_equal(cache_offer_lease(&s, &l3), SR_OK);
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
	assert_int_equal(id, 301);
	/* Dropped and created again between two heartbeats: the next one
	 * shows a new start, and the 99 IDs left of the old incarnation's
	 * chunk are not served (the mutation recreate-keeps-chunk served
	 * 302). */
	assert_true(cache_sync(&s, 501));
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(10)), SR_EUNAVAILABLE);
	cache_view(&s, &v);
	assert_false(v.has_cur);
	assert_false(v.has_next);
	cache_seq_destroy(&s);
}

static void
test_batch_spans_chunks(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk c1 = {0, 1, 0, 10};
	assert_int_equal(cache_offer(&s, &c1), SR_OK);
	uint64_t ids[16];
	size_t got;
	assert_int_equal(cache_next(&s, 4, ids, &got, in_ms(100)), SR_OK);
	struct range_chunk c2 = {10, 1, 0, 10};
	assert_int_equal(cache_offer(&s, &c2), SR_OK);
	/* 6 left in the first chunk, 10 in the second. */
	assert_int_equal(cache_next(&s, 16, ids, &got, in_ms(100)), SR_OK);
	assert_int_equal(got, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(ids[i], 5 + (uint64_t) i);
	/* Nothing left and no chunk coming: the partial count is reported. */
	struct range_chunk c3 = {20, 1, 0, 3};
	assert_int_equal(cache_offer(&s, &c3), SR_OK);
	assert_int_equal(cache_next(&s, 5, ids, &got, in_ms(50)), SR_EUNAVAILABLE);
	assert_int_equal(got, 3);
	assert_int_equal(ids[2], 23);
	cache_seq_destroy(&s);
}

/* The single-ID path: the same IDs as cache_next, across a chunk boundary
 * (where it falls back to the batch path's swap), and the same error when
 * nothing is left. */
static void
test_next_one_spans_chunks(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk c1 = {100, 3, 2, 2}, c2 = {106, 3, 2, 2};
	assert_int_equal(cache_offer(&s, &c1), SR_OK);
	uint64_t id;
	const uint64_t want[] = {103, 106, 109, 112};
	for (size_t i = 0; i < 4; i++) {
		if (i == 1) {
			/* The first ID crossed the prefetch point. */
			assert_true(cache_take_want(&s));
			assert_int_equal(cache_offer(&s, &c2), SR_OK);
			cache_lease_done(&s);
		}
		assert_int_equal(cache_next_one(&s, &id, in_ms(100)), SR_OK);
		assert_int_equal(id, want[i]);
	}
	id = 0;
	assert_int_equal(cache_next_one(&s, &id, in_ms(50)), SR_EUNAVAILABLE);
	assert_int_equal(id, 0);
	cache_seq_destroy(&s);
}

/* Segments: one per chunk touched, each exactly the IDs the list call would
 * have returned (the first and last ID checked on both sides of a chunk
 * boundary), and list and segment calls share one counter. */
static void
test_segments_span_chunks(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk c1 = {1000, 4, 2, 10};
	assert_int_equal(cache_offer(&s, &c1), SR_OK);
	uint64_t ids[4];
	size_t got, nsegs;
	assert_int_equal(cache_next(&s, 3, ids, &got, in_ms(100)), SR_OK);
	assert_int_equal(ids[2], 1011);
	struct range_chunk c2 = {1040, 3, 1, 100};
	assert_int_equal(cache_offer(&s, &c2), SR_OK);
	/* 7 left in the first chunk (1015 .. 1039), then 13 of the second
	 * (1042, 1045, ..., 1078). */
	sr_id_segment segs[4];
	assert_int_equal(cache_next_segs(&s, 20, segs, 4, &nsegs, &got, in_ms(100)), SR_OK);
	assert_int_equal(got, 20);
	assert_int_equal(nsegs, 2);
	assert_int_equal(segs[0].first, 1015);
	assert_int_equal(segs[0].step, 4);
	assert_int_equal(segs[0].count, 7);
	assert_int_equal(seg_last(&segs[0]), 1039);
	assert_int_equal(segs[1].first, 1042);
	assert_int_equal(segs[1].step, 3);
	assert_int_equal(segs[1].count, 13);
	assert_int_equal(seg_last(&segs[1]), 1078);
	/* The list call goes on right after the segments. */
	assert_int_equal(cache_next(&s, 1, ids, &got, in_ms(100)), SR_OK);
	assert_int_equal(ids[0], 1081);
	/* A million IDs of a big chunk: one segment, no ID written. */
	struct range_chunk big = {5000, 1, 0, 2000000};
	assert_int_equal(cache_offer(&s, &big), SR_OK);
	assert_int_equal(cache_next_segs(&s, 1000000, segs, 4, &nsegs, &got, in_ms(100)), SR_OK);
	assert_int_equal(nsegs, 2);
	assert_int_equal(segs[0].first, 1084); /* the rest of c2 */
	assert_int_equal(segs[0].count, 86);
	assert_int_equal(segs[1].first, 5001);
	assert_int_equal(segs[1].step, 1);
	assert_int_equal(segs[1].count, 1000000 - 86);
	cache_seq_destroy(&s);
}

/* With room for fewer segments than the chunks a call needs, it stops at the
 * chunk boundary with SR_ETOOBIG and reports what it took; nothing past the
 * boundary is taken, so the next call starts at the next chunk's first ID. */
static void
test_segments_room(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk c1 = {0, 2, 1, 5};
	assert_int_equal(cache_offer(&s, &c1), SR_OK);
	sr_id_segment segs[2];
	size_t got, nsegs;
	assert_int_equal(cache_next_segs(&s, 3, segs, 1, &nsegs, &got, in_ms(100)), SR_OK);
	struct range_chunk c2 = {10, 1, 0, 10};
	assert_int_equal(cache_offer(&s, &c2), SR_OK);
	assert_int_equal(cache_next_segs(&s, 5, segs, 1, &nsegs, &got, in_ms(100)), SR_ETOOBIG);
	assert_int_equal(nsegs, 1);
	assert_int_equal(got, 2);
	assert_int_equal(segs[0].first, 8);
	assert_int_equal(segs[0].count, 2);
	assert_int_equal(cache_next_segs(&s, 4, segs, 2, &nsegs, &got, in_ms(100)), SR_OK);
	assert_int_equal(nsegs, 1);
	assert_int_equal(segs[0].first, 11);
	assert_int_equal(segs[0].count, 4);
	/* No chunk coming: the partial segments are reported with the error. */
	assert_int_equal(cache_next_segs(&s, 10, segs, 2, &nsegs, &got, in_ms(30)),
	    SR_EUNAVAILABLE);
	assert_int_equal(nsegs, 1);
	assert_int_equal(got, 6);
	assert_int_equal(segs[0].first, 15);
	assert_int_equal(seg_last(&segs[0]), 20);
	cache_seq_destroy(&s);
}

static void
test_wait_times_out(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	uint64_t id;
	size_t got;
	int64_t t0 = sr_mono_us();
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(200)), SR_EUNAVAILABLE);
	int64_t waited = sr_mono_us() - t0;
	assert_true(waited >= 200000);
	assert_true(waited < 5000000);
	assert_int_equal(got, 0);
	assert_int_equal(s.waits, 1);
	cache_seq_destroy(&s);
}

struct offer_later {
	struct cache_seq *s;
	int delay_ms;
	int err; /* 0: offer a chunk; else fail with it */
};

static void *
offer_thread(void *arg)
{
	struct offer_later *o = arg;
	struct timespec ts = {0, o->delay_ms * 1000000L};
	nanosleep(&ts, NULL);
	if (o->err != 0) {
		cache_fail(o->s, o->err);
	} else {
		struct range_chunk c = {500, 1, 0, 5};
		cache_offer(o->s, &c);
	}
	return NULL;
}

/* A waiting caller is woken by the chunk, or by a terminal error. */
static void
test_waiter_woken(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	pthread_t t;
	struct offer_later o = {&s, 50, 0};
	pthread_create(&t, NULL, offer_thread, &o);
	uint64_t id;
	size_t got;
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(10000)), SR_OK);
	assert_int_equal(id, 501);
	pthread_join(t, NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(100)), SR_OK);
	o.err = SR_ENOTFOUND;
	pthread_create(&t, NULL, offer_thread, &o);
	int64_t t0 = sr_mono_us();
	assert_int_equal(cache_next(&s, 1, &id, &got, in_ms(10000)), SR_ENOTFOUND);
	assert_true(sr_mono_us() - t0 < 5000000);
	pthread_join(t, NULL);
	cache_seq_destroy(&s);
}

/* The index a cache's word holds for its current chunk. */
static uint64_t
word_index(struct cache_seq *s)
{
	return atomic_load(&s->word) & CACHE_IDX_MASK;
}

static uint64_t
word_epoch(struct cache_seq *s)
{
	return atomic_load(&s->word) >> CACHE_IDX_BITS;
}

#define FAIL_THREADS 4
#define FAIL_CALLS 256

struct failer {
	struct cache_seq *s;
	uint64_t *buf; /* CACHE_MAX_BATCH slots */
	int unavailable;
};

static void *
fail_thread(void *arg)
{
	struct failer *f = arg;
	for (int i = 0; i < FAIL_CALLS; i++) {
		size_t got = 1;
		if (cache_next(f->s, CACHE_MAX_BATCH, f->buf, &got, 0) == SR_EUNAVAILABLE &&
		    got == 0)
			f->unavailable++;
	}
	return NULL;
}

/*
 * Calls that fail because the chunk is used up and the next one has not
 * arrived must not grow the word (issue 8): on the old code every failed call
 * added its n, so 2^24 calls of CACHE_MAX_BATCH carried the index into the
 * epoch bits. The bound proved in cache.h is one batch per thread past the
 * chunk's count; then the next chunk starts at its index 0.
 */
static void
test_failed_calls_bounded(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk c1 = {0, 1, 0, 10};
	assert_int_equal(cache_offer(&s, &c1), SR_OK);
	uint64_t *buf = calloc(CACHE_MAX_BATCH, sizeof(*buf));
	assert_non_null(buf);
	size_t got;
	assert_int_equal(cache_next(&s, 10, buf, &got, 0), SR_OK);
	assert_int_equal(got, 10);
	uint64_t epoch = word_epoch(&s);

	/* One thread, many large failed calls. */
	for (int i = 0; i < FAIL_CALLS; i++) {
		got = 1;
		assert_int_equal(cache_next(&s, CACHE_MAX_BATCH, buf, &got, 0), SR_EUNAVAILABLE);
		assert_int_equal(got, 0);
	}
	assert_int_equal(word_epoch(&s), epoch);
	assert_true(word_index(&s) <= c1.c + CACHE_MAX_BATCH);

	/* Several threads at once: at most one batch each past the end. */
	pthread_t t[FAIL_THREADS];
	struct failer f[FAIL_THREADS];
	for (int i = 0; i < FAIL_THREADS; i++) {
		f[i] = (struct failer) {&s, calloc(CACHE_MAX_BATCH, sizeof(uint64_t)), 0};
		assert_non_null(f[i].buf);
		assert_int_equal(pthread_create(&t[i], NULL, fail_thread, &f[i]), 0);
	}
	for (int i = 0; i < FAIL_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(f[i].unavailable, FAIL_CALLS);
		free(f[i].buf);
	}
	assert_int_equal(word_epoch(&s), epoch);
	assert_true(word_index(&s) <= c1.c + (FAIL_THREADS + 1) * (uint64_t) CACHE_MAX_BATCH);

	/* The next chunk is drawn from its index 0, ascending, no gaps. */
	struct range_chunk c2 = {10, 1, 0, 100};
	assert_int_equal(cache_offer(&s, &c2), SR_OK);
	assert_int_equal(cache_next(&s, 100, buf, &got, 0), SR_OK);
	assert_int_equal(got, 100);
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(buf[i], 11 + i);
	assert_int_equal(word_epoch(&s), epoch + 1);
	assert_int_equal(word_index(&s), 100);
	free(buf);
	cache_seq_destroy(&s);
}

/* A chunk larger than the word's index can carry is refused. */
static void
test_huge_chunk_refused(void **state)
{
	(void) state;
	struct cache_seq s;
	assert_int_equal(cache_seq_init(&s, "s", 0.5, count_notify, NULL), SR_OK);
	struct range_chunk huge = {0, 1, 0, CACHE_MAX_CHUNK + 1};
	assert_int_equal(cache_offer(&s, &huge), SR_EINVAL);
	struct range_chunk big = {0, 1, 0, CACHE_MAX_CHUNK};
	assert_int_equal(cache_offer(&s, &big), SR_OK);
	cache_seq_destroy(&s);
}

/* ---- several threads against a simulated master ---- */

#define THREADS 3
#define PER_THREAD 200000

struct sim {
	struct cache_seq s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, want;
	uint64_t hwm;
	_Atomic uint64_t clock; /* logical time for the order check */
	int offer_rv;           /* the first failed cache_offer, set by sim_master */
};

static void
sim_notify(void *arg, struct cache_seq *s)
{
	struct sim *m = arg;
	(void) s;
	pthread_mutex_lock(&m->mu);
	m->want = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static void *
sim_master(void *arg)
{
	struct sim *m = arg;
	unsigned n = 1;
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		if (!m->want) {
			pthread_cond_wait(&m->cv, &m->mu);
			continue;
		}
		m->want = false;
		pthread_mutex_unlock(&m->mu);
		if (cache_take_want(&m->s)) {
			/* Small chunks of varying stride force many swaps. */
			n = n % 3 + 1;
			struct range_chunk c = {m->hwm, n, n - 1, 7 + n};
			m->hwm = range_end(&c);
			int rv = cache_offer(&m->s, &c);
			cache_lease_done(&m->s);
			if (rv != SR_OK && m->offer_rv == SR_OK)
				m->offer_rv = rv; /* the main thread asserts */
		}
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* cmocka's assertions belong to the main thread: workers record what went
 * wrong (the first error, how many calls they completed) and main checks. */
struct worker {
	struct sim *m;
	struct call *calls;
	int batch;
	bool segments; /* cache_next_segs instead of cache_next */
	int rv;
	int done;
};

static void *
worker(void *arg)
{
	struct worker *w = arg;
	uint64_t buf[8];
	sr_id_segment segs[8];
	for (w->done = 0; w->done < PER_THREAD;) {
		size_t got = 0, nsegs = 0;
		uint64_t t0 = atomic_fetch_add(&w->m->clock, 1);
		int rv;
		if (w->segments) {
			/* Batches of 5 on chunks of 8 to 10 IDs: most calls
			 * span a boundary and return two segments. */
			rv = cache_next_segs(&w->m->s, (size_t) w->batch, segs, 8, &nsegs, &got,
			    in_ms(10000));
			if (seg_expand(segs, nsegs, buf, 8) != got)
				rv = SR_EINTERNAL;
		} else if (w->batch == 1) {
			/* The single-ID path of sr_seq_next_id. */
			rv = cache_next_one(&w->m->s, buf, in_ms(10000));
			got = rv == SR_OK;
		} else {
			rv = cache_next(&w->m->s, (size_t) w->batch, buf, &got, in_ms(10000));
		}
		uint64_t t1 = atomic_fetch_add(&w->m->clock, 1);
		if (rv != SR_OK) {
			w->rv = rv;
			break;
		}
		for (size_t j = 0; j < got && w->done < PER_THREAD; j++, w->done++)
			w->calls[w->done] = (struct call) {t0, t1, buf[j]};
	}
	return NULL;
}

/* Every ID unique; if call A returned before call B started, A's ID is
 * smaller (strictly increasing per coordinator, whichever thread asked). */
static void
test_threads_strictly_increasing(void **state)
{
	(void) state;
	struct sim *m = calloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	assert_int_equal(cache_seq_init(&m->s, "s", 0.5, sim_notify, m), SR_OK);
	pthread_t master, t[THREADS];
	pthread_create(&master, NULL, sim_master, m);
	struct worker w[THREADS];
	size_t total = (size_t) THREADS * PER_THREAD;
	struct call *all = calloc(total, sizeof(*all));
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker) {m, all + (size_t) i * PER_THREAD,
		    i == 0       ? 1
		        : i == 1 ? 3
		                 : 5,
		    i == 2, SR_OK, 0};
		pthread_create(&t[i], NULL, worker, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(master, NULL);
	assert_int_equal(m->offer_rv, SR_OK);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].rv, SR_OK);
		assert_int_equal(w[i].done, PER_THREAD);
	}

	size_t violations, dups;
	calls_check(all, total, &violations, &dups);
	assert_int_equal(violations, 0);
	assert_int_equal(dups, 0);
	free(all);
	cache_seq_destroy(&m->s);
	free(m);
}

/* ---- a caller that would wait leases itself (cache_fetch_fn) ---- */

/* What the fetch hook saw and does: it runs on the caller's thread, sees
 * the lease marked under way (the fetcher's take_want says no), and then
 * offers a chunk, fails, or declines, as told. */
enum hook_do { HOOK_OFFER, HOOK_REWANT, HOOK_DECLINE };
static struct {
	enum hook_do what;
	int calls;
	pthread_t thread;
	bool fetcher_could_take; /* cache_take_want during the hook */
	uint64_t hwm;
} hook;

static void
hook_fetch(void *arg, struct cache_seq *s, int64_t deadline_us)
{
	(void) arg;
	(void) deadline_us;
	hook.calls++;
	hook.thread = pthread_self();
	hook.fetcher_could_take = cache_take_want(s);
	if (hook.what == HOOK_OFFER) {
		struct range_chunk c = {hook.hwm, 1, 0, 1};
		hook.hwm = range_end(&c);
		(void) cache_offer(s, &c);
	} else if (hook.what == HOOK_REWANT) {
		cache_rewant(s);
	}
}

static void
hook_init(struct cache_seq *s, enum hook_do what)
{
	memset(&hook, 0, sizeof(hook));
	hook.what = what;
	hook.hwm = 100;
	atomic_store(&notified, 0);
	assert_int_equal(cache_seq_init(s, "s", 0.5, count_notify, NULL), SR_OK);
	cache_seq_set_fetch(s, hook_fetch);
}

/* Chunks of one ID: each call finds nothing left, and leases on its own
 * thread, one lease at a time, without waking the fetcher. */
static void
test_caller_leases_itself(void **state)
{
	(void) state;
	struct cache_seq s;
	hook_init(&s, HOOK_OFFER);
	uint64_t id;
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(cache_next_one(&s, &id, in_ms(1000)), SR_OK);
		assert_int_equal(id, (uint64_t) (100 + i));
		assert_int_equal(hook.calls, i);
		assert_true(pthread_equal(hook.thread, pthread_self()));
		assert_false(hook.fetcher_could_take);
	}
	/* Each ID, once taken, wants the next (prefetch point 1 of 1): a
	 * real fetcher is told, and a lease it has begun is never doubled
	 * by a caller, which waits for it instead. */
	assert_int_equal(atomic_load(&notified), 5);
	assert_true(cache_take_want(&s));
	int calls = hook.calls;
	assert_int_equal(cache_next_one(&s, &id, in_ms(20)), SR_EUNAVAILABLE);
	assert_int_equal(hook.calls, calls);
	cache_lease_done(&s);
	cache_seq_destroy(&s);
}

/* A caller whose own lease ends in mode (HOOK_REWANT: it failed;
 * HOOK_DECLINE: not enough time left for its RPC) leaves it to the fetcher,
 * which is told at once, and does not try again in the same call, which
 * waits its timeout: a master that is down is retried at the fetcher's
 * pace. */
static void
check_left_to_fetcher(enum hook_do mode)
{
	struct cache_seq s;
	hook_init(&s, mode);
	uint64_t id;
	assert_int_equal(cache_next_one(&s, &id, in_ms(30)), SR_EUNAVAILABLE);
	assert_int_equal(hook.calls, 1);
	assert_true(atomic_load(&notified) >= 1);
	/* The fetcher takes the lease over. */
	assert_true(cache_take_want(&s));
	cache_lease_done(&s);
	cache_seq_destroy(&s);
}

static void
test_caller_lease_fails(void **state)
{
	(void) state;
	check_left_to_fetcher(HOOK_REWANT);
}

static void
test_caller_lease_declined(void **state)
{
	(void) state;
	check_left_to_fetcher(HOOK_DECLINE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefetch_point_and_swap),
	    cmocka_unit_test(test_no_prefetch),
	    cmocka_unit_test(test_sync_drop_and_recreate),
	    cmocka_unit_test(test_batch_spans_chunks),
	    cmocka_unit_test(test_next_one_spans_chunks),
	    cmocka_unit_test(test_segments_span_chunks),
	    cmocka_unit_test(test_segments_room),
	    cmocka_unit_test(test_wait_times_out),
	    cmocka_unit_test(test_waiter_woken),
	    cmocka_unit_test(test_failed_calls_bounded),
	    cmocka_unit_test(test_huge_chunk_refused),
	    cmocka_unit_test(test_threads_strictly_increasing),
	    cmocka_unit_test(test_caller_leases_itself),
	    cmocka_unit_test(test_caller_lease_fails),
	    cmocka_unit_test(test_caller_lease_declined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
