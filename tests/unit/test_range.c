/* Unit tests for the range math (common/range.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "range.h"
#include "snowrange/error.h"

/* Noah's example: start 1000, N 4, C 250. */
static void
test_noah_example(void **state)
{
	(void) state;
	struct range_chunk c0 = {1000, 4, 0, 250}, c3 = {1000, 4, 3, 250};
	assert_int_equal(range_id(&c0, 1), 1001);
	assert_int_equal(range_id(&c3, 1), 1004);
	assert_int_equal(range_id(&c0, 2), 1005);
	assert_int_equal(range_id(&c3, 250), 2000);
	assert_int_equal(range_end(&c3), 2000);
	/* Noah's own formula gives the same IDs. */
	for (uint64_t i = 1; i <= 250; i++)
		assert_int_equal(range_id(&c3, i), 1000 + 3 + 4 * i - (4 - 1));
}

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Chunks of a range never overlap and cover exactly (start, start+N*C]. */
static void
test_chunks_partition_range(void **state)
{
	(void) state;
	uint64_t seed = 42;
	for (int iter = 0; iter < 500; iter++) {
		uint64_t start = rnd(&seed) % 1000000000000ull;
		uint32_t n = 1 + (uint32_t) (rnd(&seed) % 64);
		uint64_t c = 1 + rnd(&seed) % 200;
		size_t total = (size_t) n * c;
		uint8_t *seen = calloc(total, 1);
		assert_non_null(seen);
		for (uint32_t k = 0; k < n; k++) {
			struct range_chunk ch = {start, n, k, c};
			assert_true(range_chunk_valid(&ch, RANGE_ID_MAX));
			uint64_t prev = 0;
			for (uint64_t i = 1; i <= c; i++) {
				uint64_t id = range_id(&ch, i);
				assert_true(id > start && id <= start + total);
				assert_true(id > prev); /* ascending within a chunk */
				prev = id;
				assert_int_equal(seen[id - start - 1], 0);
				seen[id - start - 1] = 1;
			}
		}
		for (size_t j = 0; j < total; j++)
			assert_int_equal(seen[j], 1);
		free(seen);
	}
}

static void
test_chunk_valid(void **state)
{
	(void) state;
	struct range_chunk ok = {0, 4, 3, 10};
	assert_true(range_chunk_valid(&ok, RANGE_ID_MAX));
	struct range_chunk bad_k = {0, 4, 4, 10};
	assert_false(range_chunk_valid(&bad_k, RANGE_ID_MAX));
	struct range_chunk zero_n = {0, 0, 0, 10};
	assert_false(range_chunk_valid(&zero_n, RANGE_ID_MAX));
	struct range_chunk zero_c = {0, 1, 0, 0};
	assert_false(range_chunk_valid(&zero_c, RANGE_ID_MAX));
	/* Overflow past 2^63-1 is refused, not wrapped. */
	struct range_chunk over = {RANGE_ID_MAX - 10, 4, 0, 3};
	assert_false(range_chunk_valid(&over, RANGE_ID_MAX));
	struct range_chunk fits = {RANGE_ID_MAX - 12, 4, 0, 3};
	assert_true(range_chunk_valid(&fits, RANGE_ID_MAX));
	struct range_chunk huge = {0, 65536, 0, UINT64_MAX / 2};
	assert_false(range_chunk_valid(&huge, RANGE_ID_MAX));
}

static void
test_plan_cuts_at_max(void **state)
{
	(void) state;
	uint32_t n;
	uint64_t c;
	assert_int_equal(range_plan(0, 4, 250, 100000, &n, &c), SR_OK);
	assert_int_equal(n, 4);
	assert_int_equal(c, 250);
	/* 100 left, 4 chunks of 250 wanted: 4 chunks of 25. */
	assert_int_equal(range_plan(900, 4, 250, 1000, &n, &c), SR_OK);
	assert_int_equal(n, 4);
	assert_int_equal(c, 25);
	/* 3 left, 4 chunks wanted: 3 chunks of 1, ending exactly at max. */
	assert_int_equal(range_plan(997, 4, 250, 1000, &n, &c), SR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(c, 1);
	assert_int_equal(range_plan(1000, 4, 250, 1000, &n, &c), SR_EEXHAUSTED);
	assert_int_equal(range_plan(RANGE_ID_MAX, 1, 1, UINT64_MAX, &n, &c), SR_EEXHAUSTED);
	assert_int_equal(range_plan(RANGE_ID_MAX - 1, 1, 5, UINT64_MAX, &n, &c), SR_OK);
	assert_int_equal(c, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_noah_example),
	    cmocka_unit_test(test_chunks_partition_range),
	    cmocka_unit_test(test_chunk_valid),
	    cmocka_unit_test(test_plan_cuts_at_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
