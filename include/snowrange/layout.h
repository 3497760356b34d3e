/*
 * The Snowflake layout: how a 64-bit transaction ID is cut into time, worker
 * id and sequence (docs/design.md §5, docs/snowflake.md). One struct for the
 * idea everywhere: the public API, the generator, the master's catalog and
 * its store.
 */
#ifndef SNOWRANGE_LAYOUT_H
#define SNOWRANGE_LAYOUT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An ID is bit 63 = 0, then time_bits of ticks since epoch_ms, then
 * worker_bits of worker id, then seq_bits of sequence (lowest). A valid
 * layout's bits sum to 63; an all-zero one means "none" where a layout may
 * be absent (a store that has none yet). */
typedef struct sr_flake_layout {
	unsigned time_bits, worker_bits, seq_bits; /* sum to 63 */
	unsigned unit_ms;                          /* one tick, >= 1 */
	int64_t epoch_ms;                          /* Unix ms of tick 0 */
} sr_flake_layout;

#ifdef __cplusplus
}
#endif
#endif
