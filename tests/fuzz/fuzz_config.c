/*
 * libFuzzer target for the config parser: the bytes as the INI file of
 * sr_opts_parse() --config, with one option of each type, and as the layout
 * string of flake_layout_parse().
 *
 * The invariants live in fuzz_checks.c, shared with the regression test
 * (tests/unit/test_fuzz_regress.c); a broken one aborts, which libFuzzer
 * records as a crash with the input that caused it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[FUZZ_WHY_MAX];

	if (fuzz_check_config(data, size, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz_config: invariant broken: %s\n", why);
		abort();
	}
	return 0;
}
