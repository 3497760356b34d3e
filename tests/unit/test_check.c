/*
 * Tests of the draw-file checker (cli/check.c) on small hand-written files in
 * a temporary directory: clean data passes, a duplicate across files and an
 * order violation across batches are counted, overlapping batches are not
 * compared, and malformed lines are rejected with their file and line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct tmp {
	char dir[64];
	char files[8][128];
	int n;
};

static int
setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/sr-test-check-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tmp *t = *state;
	for (int i = 0; i < t->n; i++)
		unlink(t->files[i]);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Writes text to a new file in the temp dir and returns its path. */
static const char *
put(struct tmp *t, const char *text)
{
	assert_true(t->n < 8);
	char *path = t->files[t->n];
	/* Formatted aside: t->dir and the path live in the same struct. */
	char buf[sizeof(t->files[0])];
	snprintf(buf, sizeof(buf), "%s/%d.draw", t->dir, t->n);
	memcpy(path, buf, sizeof(buf));
	t->n++;
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static int
check(const char *const *files, size_t n, struct check_result *res, char *err, size_t errlen)
{
	err[0] = '\0';
	return check_files(files, n, res, NULL, err, errlen);
}

static void
test_clean(void **state)
{
	struct tmp *t = *state;
	/* Two coordinators interleaving in one range (N = 2), a second
	 * sequence, and the E trailers of both runs. */
	const char *files[] = {
	    put(t,
	        "B c1 notes 100 110 1 3\n"
	        "B c1 notes 120 130 5 7 9\n"
	        "B c1 other 125 126 1\n"
	        "R 90 140\n"
	        "E 2 ETIMEDOUT=1 EUNAVAILABLE=1\n"),
	    put(t,
	        "B c2 notes 105 115 2 4\n"
	        "\n"
	        "B c2 notes 121 129 6 8\n"
	        "E 0\n"),
	};
	struct check_result res;
	char err[256];
	assert_int_equal(check(files, 2, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.ids, 10);
	assert_int_equal(res.batches, 5);
	assert_int_equal(res.seqs, 2);
	assert_int_equal(res.nodes, 2);
	assert_int_equal(res.dup, 0);
	assert_int_equal(res.order, 0);
	assert_int_equal(res.range, 0);
	assert_int_equal(res.errors, 2);
	assert_int_equal(res.errcount[SR_ETIMEDOUT], 1);
	assert_int_equal(res.errcount[SR_EUNAVAILABLE], 1);
	assert_true(check_ok(&res));

	char line[256];
	check_summary(&res, line, sizeof(line));
	assert_string_equal(line,
	    "verify: ids=10 batches=5 seqs=2 nodes=2 dup=0 "
	    "order=0 range=0 errors=2 EUNAVAILABLE=1 ETIMEDOUT=1");
}

static void
test_duplicate_across_files(void **state)
{
	struct tmp *t = *state;
	const char *files[] = {
	    put(t, "B c1 notes 100 110 1 2 3\n"),
	    put(t,
	        "B c2 notes 100 110 3 4\n"
	        "B c2 other 120 130 3\n"), /* another sequence: no dup */
	};
	struct check_result res;
	char err[256];
	assert_int_equal(check(files, 2, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.dup, 1);
	assert_int_equal(res.order, 0);
	assert_false(check_ok(&res));
}

static void
test_order_violation(void **state)
{
	struct tmp *t = *state;
	/* Batch A (t1 = 110) ended before B (t0 = 200) began, yet B starts
	 * below A's largest ID. */
	const char *bad_order[] = {
	    put(t, "B c1 notes 100 110 10 20\n"),
	    put(t, "B c1 notes 200 210 15 30\n"),
	};
	struct check_result res;
	char err[256];
	assert_int_equal(check(bad_order, 2, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.order, 1);
	assert_int_equal(res.dup, 0);
	assert_false(check_ok(&res));

	/* The same IDs from overlapping requests prove nothing: either could
	 * have been served first. */
	const char *overlap[] = {
	    put(t, "B c1 notes 100 250 10 20\n"),
	    put(t, "B c1 notes 200 210 15 30\n"),
	};
	assert_int_equal(check(overlap, 2, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.order, 0);
	assert_true(check_ok(&res));

	/* Other coordinators are not bound by c1's order. */
	const char *two_nodes[] = {
	    put(t,
	        "B c1 notes 100 110 10 20\n"
	        "B c2 notes 200 210 15 30\n"),
	};
	assert_int_equal(check(two_nodes, 1, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.order, 0);

	/* Inside one batch the IDs must ascend; out of range IDs count too. */
	const char *inside[] = {
	    put(t, "B c1 notes 100 110 5 4 9223372036854775808 0\n"),
	};
	assert_int_equal(check(inside, 1, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.order, 2);
	assert_int_equal(res.range, 2);
	assert_false(check_ok(&res));
}

static void
test_empty_is_not_ok(void **state)
{
	struct tmp *t = *state;
	const char *files[] = {put(t, "E 3 ETIMEDOUT=3\n")};
	struct check_result res;
	char err[256];
	assert_int_equal(check(files, 1, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.ids, 0);
	assert_int_equal(res.errors, 3);
	assert_false(check_ok(&res));
}

static void
test_malformed(void **state)
{
	struct tmp *t = *state;
	static const char *const bad[] = {
	    "X c1 notes 1 2 3\n",                        /* unknown kind */
	    "B c1 notes 100\n",                          /* no t1 */
	    "B c1 notes 100 110\n",                      /* no ids */
	    "B c1 notes 100 110 1 x2\n",                 /* junk id */
	    "B c1 notes 100 110 -1\n",                   /* sign */
	    "B c1 notes 110 100 1\n",                    /* reply before request */
	    "B c1 notes 100 110 99999999999999999999\n", /* overflow */
	    "E 2 ETIMEDOUT=1\n",                         /* counts do not add up */
	    "E 1 EBOGUS=1\n",                            /* unknown error name */
	    "E x\n", "R 100\n",                          /* no end */
	    "R 200 100\n",                               /* ends before it begins */
	    "R 100 200 300\n",                           /* extra field */
	    "R 1x 200\n",                                /* junk */
	};
	char err[256];
	struct check_result res;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* The bad line comes second, so the message must say line 2. */
		char text[256];
		snprintf(text, sizeof(text), "B c1 notes 1 2 1\n%s", bad[i]);
		const char *files[] = {put(t, text)};
		assert_int_equal(check(files, 1, &res, err, sizeof(err)), SR_EINVAL);
		char want[160];
		snprintf(want, sizeof(want), "%s:2:", files[0]);
		assert_non_null(strstr(err, want));
		/* Recycle the slot for the next case. */
		unlink(files[0]);
		t->n--;
	}
	const char *missing[] = {"/nonexistent/sr-check.draw"};
	assert_int_equal(check(missing, 1, &res, err, sizeof(err)), SR_EIO);
	assert_non_null(strstr(err, "/nonexistent/sr-check.draw"));
}

/* S lines (issue 19): two coordinators drawing 1,000,000 IDs each from
 * interleaved chunks of one range (N = 2), and single IDs in B lines between
 * them, check clean without expanding anything. */
static void
test_segments_clean(void **state)
{
	struct tmp *t = *state;
	const char *files[] = {
	    put(t,
	        "S c1 notes 100 110 1:2:1000000\n"
	        "S c1 notes 120 130 2000001:2:5 3000001:1:3\n"
	        "B c1 notes 140 150 3000004\n"
	        "E 0\n"),
	    put(t,
	        "S c2 notes 100 110 2:2:999999\n"
	        "B c2 notes 111 112 2000000\n"
	        "S c2 notes 120 130 2000002:2:5 3000005:7:1\n"),
	};
	struct check_result res;
	char err[256];
	assert_int_equal(check(files, 2, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.ids, (1000000 + 5 + 3 + 1) + (999999 + 1 + 5 + 1));
	assert_int_equal(res.batches, 6);
	assert_int_equal(res.dup, 0);
	assert_int_equal(res.order, 0);
	assert_int_equal(res.range, 0);
	assert_true(check_ok(&res));
}

/* A segment off by one ID, at either end or by one step, shares IDs with its
 * neighbour: each case must count exactly the shared IDs. */
static void
test_segments_off_by_one(void **state)
{
	struct tmp *t = *state;
	static const struct {
		const char *a, *b;
		uint64_t dup, order;
	} cases[] = {
	    /* The second run of a chunk starts one step early (also an
	     * order violation: it came later). */
	    {"S c1 s 1 2 1:4:100\n", "S c1 s 3 4 397:4:100\n", 1, 1},
	    /* ... or right after the last ID: clean. */
	    {"S c1 s 1 2 1:4:100\n", "S c1 s 3 4 401:4:100\n", 0, 0},
	    /* Chunk 1's segment starts on chunk 0's residue. */
	    {"S c1 s 1 2 1:4:100\n", "S c2 s 1 2 5:4:100\n", 99, 0},
	    /* Chunk 1 proper: disjoint. */
	    {"S c1 s 1 2 1:4:100\n", "S c2 s 1 2 2:4:100\n", 0, 0},
	    /* A count one too high reaches the next range's first ID. */
	    {"S c1 s 1 2 1:1:101\n", "S c2 s 3 4 101:1:10\n", 1, 0},
	    /* Different steps: 1 + 4i and 7 + 6j share 13, 25, 37, 49, 61. */
	    {"S c1 s 1 2 1:4:30\n", "S c2 s 1 2 7:6:10\n", 5, 0},
	    /* A single ID in a B line inside another's segment. */
	    {"S c1 s 1 2 1:4:100\n", "B c2 s 1 2 201\n", 1, 0},
	    {"S c1 s 1 2 1:4:100\n", "B c2 s 1 2 202\n", 0, 0},
	    /* A single-ID segment against a B line. */
	    {"S c1 s 1 2 50:9:1\n", "B c2 s 1 2 50\n", 1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *files[] = {put(t, cases[i].a), put(t, cases[i].b)};
		struct check_result res;
		char err[256];
		assert_int_equal(check(files, 2, &res, err, sizeof(err)), SR_OK);
		if (res.dup != cases[i].dup)
			fail_msg("case %zu: dup %llu, want %llu", i, (unsigned long long) res.dup,
			    (unsigned long long) cases[i].dup);
		assert_int_equal(res.order, cases[i].order);
		for (int k = 0; k < 2; k++)
			unlink(files[k]);
		t->n -= 2;
	}
}

/* Order rules are those of B lines: segments ascend within a batch, and a
 * batch requested after another's reply starts above its last ID. */
static void
test_segments_order_and_range(void **state)
{
	struct tmp *t = *state;
	const char *files[] = {
	    put(t,
	        "S c1 s 100 110 1:1:10 10:1:5\n"             /* 10 not above 10 */
	        "S c1 s 120 130 20:2:5\n"                    /* ok: above 14 */
	        "S c1 s 140 150 28:1:2\n"                    /* 28 <= 28, the last of 20:2:5 */
	        "S c1 s 160 170 9223372036854775806:1:4\n"), /* 2 above 2^63-1 */
	};
	struct check_result res;
	char err[256];
	assert_int_equal(check(files, 1, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.order, 2);
	assert_int_equal(res.range, 2);
	assert_int_equal(res.ids, 10 + 5 + 5 + 2 + 4);
	/* 10 is in both segments of the first batch. */
	assert_int_equal(res.dup, 1 + 1);
	assert_false(check_ok(&res));

	static const char *const bad[] = {
	    "S c1 s 1 2\n",                /* no segments */
	    "S c1 s 1 2 5:1\n",            /* two fields */
	    "S c1 s 1 2 5:0:3\n",          /* step 0 */
	    "S c1 s 1 2 5:1:0\n",          /* count 0 */
	    "S c1 s 1 2 5:4294967297:2\n", /* step above 2^32 */
	    "S c1 s 1 2 x:1:2\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *f[] = {put(t, bad[i])};
		assert_int_equal(check(f, 1, &res, err, sizeof(err)), SR_EINVAL);
		unlink(f[0]);
		t->n--;
	}
}

/* Many IDs through the sort and sweep, to catch anything quadratic. */
static void
test_many(void **state)
{
	struct tmp *t = *state;
	char *path = t->files[t->n++];
	char buf[sizeof(t->files[0])];
	snprintf(buf, sizeof(buf), "%s/many.draw", t->dir);
	memcpy(path, buf, sizeof(buf));
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t id = 1;
	for (int b = 0; b < 20000; b++) {
		fprintf(f, "B c%d s %d %d", b % 3, b * 10, b * 10 + 5);
		for (int i = 0; i < 10; i++)
			fprintf(f, " %llu", (unsigned long long) id++);
		fputc('\n', f);
	}
	assert_int_equal(fclose(f), 0);
	const char *files[] = {path};
	struct check_result res;
	char err[256];
	assert_int_equal(check(files, 1, &res, err, sizeof(err)), SR_OK);
	assert_int_equal(res.ids, 200000);
	assert_int_equal(res.nodes, 3);
	assert_int_equal(res.dup, 0);
	assert_int_equal(res.order, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_across_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_violation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_is_not_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segments_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segments_off_by_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segments_order_and_range, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
