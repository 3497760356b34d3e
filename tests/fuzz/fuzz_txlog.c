/*
 * libFuzzer target for the 2PC log record reader: txlog_decode() on the
 * bytes, and the bytes as a log file (after a valid file header, and without
 * one) through sr_txlog_scan(), sr_txlog_in_doubt() and the recovery in
 * sr_txlog_open().
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

	if (fuzz_check_txlog(data, size, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz_txlog: invariant broken: %s\n", why);
		abort();
	}
	return 0;
}
