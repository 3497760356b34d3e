/* Unit tests for the segment math (common/segment.c). Each boundary is tested
 * on both sides, so that a segment off by one ID fails here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A chunk's run of IDs is one segment: first, step N, and its last ID is the
 * chunk's ID number i0 + count (Noah's example: start 1000, N 4, C 250). */
static void
test_chunk_segment(void **state)
{
	(void) state;
	struct range_chunk ch = {1000, 4, 3, 250};
	sr_id_segment s = seg_of_chunk(&ch, 0, 250);
	assert_int_equal(s.first, 1004);
	assert_int_equal(s.step, 4);
	assert_int_equal(s.count, 250);
	assert_int_equal(seg_last(&s), 2000);
	/* Every sub-run matches range_id exactly, first and last. */
	for (uint64_t i0 = 0; i0 < 250; i0 += 7) {
		for (uint64_t cnt = 1; i0 + cnt <= 250; cnt += 13) {
			sr_id_segment t = seg_of_chunk(&ch, i0, cnt);
			assert_int_equal(t.first, range_id(&ch, i0 + 1));
			assert_int_equal(seg_last(&t), range_id(&ch, i0 + cnt));
			uint64_t ids[250];
			assert_int_equal(seg_expand(&t, 1, ids, 250), cnt);
			for (uint64_t j = 0; j < cnt; j++)
				assert_int_equal(ids[j], range_id(&ch, i0 + 1 + j));
		}
	}
}

static void
test_check_faults(void **state)
{
	(void) state;
	uint64_t total = 0;
	size_t at = 99;
	sr_id_segment ok[] = {{1, 4, 3}, {10, 1, 1}, {11, 2, 5}};
	assert_int_equal(seg_check(ok, 3, RANGE_ID_MAX, &total, &at), SEG_OK);
	assert_int_equal(total, 9);
	assert_int_equal(seg_check(ok, 0, RANGE_ID_MAX, &total, NULL), SEG_OK);
	assert_int_equal(total, 0);

	/* The next segment must start above the last ID (9) of the first:
	 * 10 is fine, 9 is not. */
	sr_id_segment touch[] = {{1, 4, 3}, {9, 1, 1}};
	assert_int_equal(seg_check(touch, 2, RANGE_ID_MAX, NULL, &at), SEG_NOT_ABOVE);
	assert_int_equal(at, 1);
	sr_id_segment next[] = {{1, 4, 3}, {10, 1, 1}};
	assert_int_equal(seg_check(next, 2, RANGE_ID_MAX, NULL, NULL), SEG_OK);

	sr_id_segment zc[] = {{1, 1, 1}, {5, 1, 0}};
	assert_int_equal(seg_check(zc, 2, RANGE_ID_MAX, NULL, &at), SEG_EMPTY_SEG);
	assert_int_equal(at, 1);
	sr_id_segment zs[] = {{5, 0, 2}};
	assert_int_equal(seg_check(zs, 1, RANGE_ID_MAX, NULL, NULL), SEG_ZERO_STEP);
	sr_id_segment z0[] = {{0, 1, 2}};
	assert_int_equal(seg_check(z0, 1, RANGE_ID_MAX, NULL, NULL), SEG_ZERO_ID);

	/* Ending exactly at max is fine, one more ID is not; so is a step
	 * that overflows 64 bits. */
	sr_id_segment top[] = {{RANGE_ID_MAX - 20, 10, 3}};
	assert_int_equal(seg_check(top, 1, RANGE_ID_MAX, NULL, NULL), SEG_OK);
	top[0].count = 4;
	assert_int_equal(seg_check(top, 1, RANGE_ID_MAX, NULL, NULL), SEG_TOO_HIGH);
	sr_id_segment wrap[] = {{2, UINT64_MAX / 2, 3}};
	assert_int_equal(seg_check(wrap, 1, RANGE_ID_MAX, NULL, NULL), SEG_TOO_HIGH);
	sr_id_segment hi[] = {{(uint64_t) RANGE_ID_MAX + 1, 1, 1}};
	assert_int_equal(seg_check(hi, 1, RANGE_ID_MAX, NULL, NULL), SEG_TOO_HIGH);
	assert_string_equal(seg_fault_str(SEG_NOT_ABOVE), "a segment not above the one before it");
}

static void
test_expand_bounded(void **state)
{
	(void) state;
	sr_id_segment s[] = {{5, 3, 3}, {100, 1, 2}};
	uint64_t out[8] = {0};
	assert_int_equal(seg_expand(s, 2, out, 8), 5);
	uint64_t want[] = {5, 8, 11, 100, 101};
	assert_memory_equal(out, want, sizeof(want));
	memset(out, 0, sizeof(out));
	assert_int_equal(seg_expand(s, 2, out, 4), 4);
	assert_int_equal(out[3], 100);
	assert_int_equal(out[4], 0); /* nothing past max */
}

/* Lists compress into segments that expand back to the same list; the IDs of
 * one chunk, or of two chunks in turn, take one segment per chunk. */
static void
test_from_ids_round_trip(void **state)
{
	(void) state;
	struct range_chunk a = {1000, 7, 2, 100}, b = {1700, 3, 0, 100};
	uint64_t ids[200];
	for (uint64_t i = 0; i < 100; i++) {
		ids[i] = range_id(&a, i + 1);
		ids[100 + i] = range_id(&b, i + 1);
	}
	sr_id_segment segs[4];
	assert_int_equal(seg_from_ids(ids, 200, segs, 4), 2);
	assert_int_equal(segs[0].first, 1003);
	assert_int_equal(segs[0].step, 7);
	assert_int_equal(segs[0].count, 100);
	assert_int_equal(segs[1].first, 1701);
	assert_int_equal(segs[1].step, 3);
	/* Too little room: says how many were needed. */
	assert_int_equal(seg_from_ids(ids, 200, segs, 1), 2);
	uint64_t one = 42;
	assert_int_equal(seg_from_ids(&one, 1, segs, 4), 1);
	assert_int_equal(segs[0].first, 42);
	assert_int_equal(segs[0].step, 1);
	assert_int_equal(segs[0].count, 1);

	uint64_t seed = 7;
	for (int iter = 0; iter < 300; iter++) {
		size_t n = 1 + rnd(&seed) % 60;
		uint64_t v[60], back[60];
		uint64_t x = 1 + rnd(&seed) % 50;
		for (size_t i = 0; i < n; i++) {
			v[i] = x;
			x += 1 + (rnd(&seed) % 4 == 0 ? rnd(&seed) % 9 : 2);
		}
		sr_id_segment sg[60];
		size_t k = seg_from_ids(v, n, sg, 60);
		assert_true(k >= 1 && k <= n);
		uint64_t total;
		assert_int_equal(seg_check(sg, k, RANGE_ID_MAX, &total, NULL), SEG_OK);
		assert_int_equal(total, n);
		assert_int_equal(seg_expand(sg, k, back, 60), n);
		assert_memory_equal(back, v, n * sizeof(*v));
	}
}

static uint64_t
brute_common(const sr_id_segment *a, const sr_id_segment *b)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < a->count; i++) {
		uint64_t x = a->first + a->step * i;
		if (x >= b->first && (x - b->first) % b->step == 0 &&
		    (x - b->first) / b->step < b->count)
			n++;
	}
	return n;
}

/* The intersection matches a brute-force count on many small segments, in
 * both argument orders. */
static void
test_common_matches_brute_force(void **state)
{
	(void) state;
	uint64_t seed = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		sr_id_segment a = {1 + rnd(&seed) % 200, 1 + rnd(&seed) % 12, 1 + rnd(&seed) % 40};
		sr_id_segment b = {1 + rnd(&seed) % 200, 1 + rnd(&seed) % 12, 1 + rnd(&seed) % 40};
		uint64_t want = brute_common(&a, &b);
		assert_int_equal(seg_common(&a, &b), want);
		assert_int_equal(seg_common(&b, &a), want);
	}
}

/* Near the top of the ID space and with steps of 2^32 the arithmetic must not
 * overflow; the chunks of one range never share an ID, and two runs of one
 * chunk share exactly the IDs they overlap in. */
static void
test_common_edges(void **state)
{
	(void) state;
	uint64_t big = UINT64_C(1) << 32;
	sr_id_segment a = {RANGE_ID_MAX - 3 * big, big, 4};
	sr_id_segment b = {RANGE_ID_MAX - big, big - 1, 2};
	assert_int_equal(seg_common(&a, &b), 1); /* RANGE_ID_MAX - big */
	sr_id_segment c = {RANGE_ID_MAX - 3 * big + 1, big, 4};
	assert_int_equal(seg_common(&a, &c), 0);
	/* d is 1 + big*i for i < 1000; e starts at d's last ID. */
	sr_id_segment d = {1, big, 1000}, e = {1 + big * 999, big - 1, 3};
	assert_int_equal(seg_common(&d, &e), 1);
	assert_int_equal(seg_common(&e, &d), 1);
	e.first += big;
	assert_int_equal(seg_common(&d, &e), 0);
	sr_id_segment f = {1 + big * 500, 1, 1};
	assert_int_equal(seg_common(&d, &f), 1);

	struct range_chunk k0 = {5000, 50, 0, 1000}, k1 = {5000, 50, 1, 1000};
	sr_id_segment s0 = seg_of_chunk(&k0, 0, 1000), s1 = seg_of_chunk(&k1, 0, 1000);
	assert_int_equal(seg_common(&s0, &s1), 0);
	assert_int_equal(seg_common(&s0, &s0), 1000);
	sr_id_segment r1 = seg_of_chunk(&k0, 0, 100), r2 = seg_of_chunk(&k0, 100, 100);
	assert_int_equal(seg_common(&r1, &r2), 0);
	/* A second run that starts one ID early (off by one) overlaps once. */
	sr_id_segment r3 = seg_of_chunk(&k0, 99, 100);
	assert_int_equal(seg_common(&r1, &r3), 1);
	/* A run of a chunk whose first ID is one too high is not in the
	 * chunk at all: it is another chunk's. */
	sr_id_segment r4 = {r1.first + 1, r1.step, r1.count};
	assert_int_equal(seg_common(&r1, &r4), 0);
	assert_int_equal(seg_common(&s1, &r4), 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chunk_segment),
	    cmocka_unit_test(test_check_faults),
	    cmocka_unit_test(test_expand_bounded),
	    cmocka_unit_test(test_from_ids_round_trip),
	    cmocka_unit_test(test_common_matches_brute_force),
	    cmocka_unit_test(test_common_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
