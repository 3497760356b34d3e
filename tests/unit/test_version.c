/* Unit tests for the version (include/snowrange/version.h, common/version.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "snowrange/version.h"

/* The library reports the version its headers were generated with, and the
 * string spells the three numbers. */
static void
test_version_matches_macros(void **state)
{
	(void) state;
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d", SNOWRANGE_VERSION_MAJOR, SNOWRANGE_VERSION_MINOR,
	    SNOWRANGE_VERSION_PATCH);
	assert_string_equal(SNOWRANGE_VERSION_STRING, want);
	assert_non_null(sr_version());
	assert_string_equal(sr_version(), want);
	assert_int_equal(SNOWRANGE_VERSION_NUMBER,
	    SNOWRANGE_VERSION_MAJOR * 10000 + SNOWRANGE_VERSION_MINOR * 100 +
	        SNOWRANGE_VERSION_PATCH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_matches_macros),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
