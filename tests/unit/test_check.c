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
check(const char *const *files, size_t n, struct check_result *res,
    char *err, size_t errlen)
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
		put(t, "B c1 notes 100 110 1 3\n"
		       "B c1 notes 120 130 5 7 9\n"
		       "B c1 other 125 126 1\n"
		       "R 90 140\n"
		       "E 2 ETIMEDOUT=1 EUNAVAILABLE=1\n"),
		put(t, "B c2 notes 105 115 2 4\n"
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
	assert_string_equal(line, "verify: ids=10 batches=5 seqs=2 nodes=2 dup=0 "
	    "order=0 range=0 errors=2 EUNAVAILABLE=1 ETIMEDOUT=1");
}

static void
test_duplicate_across_files(void **state)
{
	struct tmp *t = *state;
	const char *files[] = {
		put(t, "B c1 notes 100 110 1 2 3\n"),
		put(t, "B c2 notes 100 110 3 4\n"
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
		put(t, "B c1 notes 100 110 10 20\n"
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
		"X c1 notes 1 2 3\n",            /* unknown kind */
		"B c1 notes 100\n",              /* no t1 */
		"B c1 notes 100 110\n",          /* no ids */
		"B c1 notes 100 110 1 x2\n",     /* junk id */
		"B c1 notes 100 110 -1\n",       /* sign */
		"B c1 notes 110 100 1\n",        /* reply before request */
		"B c1 notes 100 110 99999999999999999999\n", /* overflow */
		"E 2 ETIMEDOUT=1\n",             /* counts do not add up */
		"E 1 EBOGUS=1\n",                /* unknown error name */
		"E x\n",
		"R 100\n",                      /* no end */
		"R 200 100\n",                  /* ends before it begins */
		"R 100 200 300\n",              /* extra field */
		"R 1x 200\n",                   /* junk */
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
		cmocka_unit_test_setup_teardown(test_duplicate_across_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_order_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_is_not_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
