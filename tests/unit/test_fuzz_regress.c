/*
 * Replays the fuzz targets' inputs in the ordinary build: every file of
 * tests/fuzz/regress/<target>/ (inputs that once broke something, kept so
 * the bug stays fixed) and of tests/fuzz/corpus/<target>/ (the seeds, which
 * cover every request kind, record shape and option type) goes through the
 * same check the libFuzzer target runs (tests/fuzz/fuzz_checks.c). So the
 * gcc build and the sanitizer build judge these inputs too, without clang.
 *
 * The directories are found from this file's path; SNOWRANGE_FUZZ_DIR
 * overrides that (a build moved away from its source tree).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_checks.h"

typedef int (*check_fn)(const uint8_t *data, size_t len, char *why, size_t whylen);

/* tests/fuzz, from $SNOWRANGE_FUZZ_DIR or from __FILE__ (tests/unit/...). */
static void
fuzz_dir(char *buf, size_t len)
{
	const char *env = getenv("SNOWRANGE_FUZZ_DIR");
	if (env != NULL && env[0] != '\0') {
		snprintf(buf, len, "%s", env);
		return;
	}
	snprintf(buf, len, "%s", __FILE__);
	char *slash = strrchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		snprintf(buf, len, ".");
	/* buf is now tests/unit; its sibling holds the corpora. */
	size_t n = strlen(buf);
	snprintf(buf + n, len - n, "/../fuzz");
}

/* Runs check on an exactly sized copy of data, so that AddressSanitizer in
 * the sanitizer build sees a read past its end, as libFuzzer's would. */
static void
run_one(check_fn check, const char *name, const uint8_t *data, size_t len)
{
	char why[FUZZ_WHY_MAX] = "";
	uint8_t *copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, data, len);
	int rv = check(copy, len, why, sizeof(why));
	free(copy);
	if (rv != 0)
		fail_msg("%s: %s", name, why);
}

static size_t
read_all(const char *path, uint8_t **out)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (len < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		assert_non_null(buf);
	}
	assert_int_equal(ferror(f), 0);
	fclose(f);
	*out = buf;
	return len;
}

/* Replays every file of tests/fuzz/<kind>/<target>; returns how many. A
 * missing or unreadable directory fails the test: a build moved away from
 * its sources (or a wrong SNOWRANGE_FUZZ_DIR) must not pass by replaying
 * nothing. */
static size_t
replay_dir(check_fn check, const char *kind, const char *target)
{
	char dir[4096], path[8192];
	struct dirent **ents;

	fuzz_dir(dir, sizeof(dir));
	size_t n = strlen(dir);
	snprintf(dir + n, sizeof(dir) - n, "/%s/%s", kind, target);
	int count = scandir(dir, &ents, NULL, alphasort);
	if (count < 0)
		fail_msg("cannot read %s: %s (set SNOWRANGE_FUZZ_DIR to the source "
		         "tree's tests/fuzz)",
		    dir, strerror(errno));
	size_t files = 0;
	for (int i = 0; i < count; i++) {
		if (ents[i]->d_name[0] != '.') {
			uint8_t *data;
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			size_t len = read_all(path, &data);
			run_one(check, path, data, len);
			free(data);
			files++;
		}
		free(ents[i]);
	}
	free(ents);
	return files;
}

/* Every committed input of a target passes, and there are some: an empty
 * or misplaced corpus must not pass silently, and neither may a regression
 * input that went missing (the minimums are the counts committed; adding
 * inputs needs no change here, removing one does). */
static void
replay(check_fn check, const char *target, size_t min_seeds, size_t min_regress)
{
	size_t seeds = replay_dir(check, "corpus", target);
	size_t regress = replay_dir(check, "regress", target);
	print_message("%s: %zu seeds, %zu regression inputs\n", target, seeds, regress);
	if (seeds < min_seeds || regress < min_regress)
		fail_msg("%s: %zu seeds and %zu regression inputs, want at least %zu "
		         "and %zu",
		    target, seeds, regress, min_seeds, min_regress);
}

static void
test_envelope_inputs(void **state)
{
	(void) state;
	replay(fuzz_check_envelope, "envelope", 10, 2);
}

static void
test_txlog_inputs(void **state)
{
	(void) state;
	replay(fuzz_check_txlog, "txlog", 5, 4);
}

static void
test_config_inputs(void **state)
{
	(void) state;
	replay(fuzz_check_config, "config", 10, 8);
}

static void
test_resp_inputs(void **state)
{
	(void) state;
	replay(fuzz_check_resp, "resp", 12, 2);
}

/* Inputs the corpus cannot hold well: nothing at all, and a request over
 * the server's size limit, which must be refused with SR_ETOOBIG before it
 * is decoded (this also pins fuzz_checks.c's copy of that limit). */
static void
test_edges(void **state)
{
	(void) state;
	static const uint8_t none[1];
	run_one(fuzz_check_envelope, "empty request", none, 0);
	run_one(fuzz_check_txlog, "empty txlog", none, 0);
	run_one(fuzz_check_config, "empty config", none, 0);
	run_one(fuzz_check_resp, "empty RESP stream", none, 0);

	size_t big = (64u << 10) + 1;
	uint8_t *zeros = calloc(big, 1);
	assert_non_null(zeros);
	run_one(fuzz_check_envelope, "oversized request", zeros, big);
	run_one(fuzz_check_envelope, "request at the limit", zeros, big - 1);
	free(zeros);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_envelope_inputs),
	    cmocka_unit_test(test_txlog_inputs),
	    cmocka_unit_test(test_config_inputs),
	    cmocka_unit_test(test_resp_inputs),
	    cmocka_unit_test(test_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
