/*
 * libFuzzer target for the request envelope and every handler's input: the
 * bytes as an nng request body through wire_serve_bytes(), with the master's
 * dispatch table over a real catalog and with the coordinator daemon's over
 * a fake ID source.
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

	if (fuzz_check_envelope(data, size, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz_envelope: invariant broken: %s\n", why);
		abort();
	}
	return 0;
}
