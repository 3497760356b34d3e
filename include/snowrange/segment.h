/*
 * ID segments: a batch of sequence IDs as arithmetic progressions instead of
 * a list (issue 19, docs/design.md §2). The IDs of one chunk are
 * start + 1 + k + N*(i - 1), so any run of them is (first, step = N, count),
 * and a batch is at most one segment per chunk it touched. Used by the
 * library (sr_next_segments), the remote client (sr_client_next_segments)
 * and the wire protocol (NextIds with segments set).
 */
#ifndef SNOWRANGE_SEGMENT_H
#define SNOWRANGE_SEGMENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The IDs first, first + step, ..., first + step*(count - 1): ascending,
 * count >= 1, step >= 1. The segments of one call are ascending too: each
 * starts above the last ID of the one before. */
typedef struct sr_id_segment {
	uint64_t first;
	uint64_t step;
	uint64_t count;
} sr_id_segment;

/* Most IDs one segments call may ask for (2^20). A list call over the wire
 * stays at most 65,536 (the reply holds every ID). */
#define SR_SEGMENT_IDS_MAX 1048576u

/* Most segments one call returns: one per chunk touched, and a call swaps
 * in at most 256 chunks besides the current one (docs/decisions.md). A
 * buffer of this many never runs out. */
#define SR_SEGMENTS_MAX 257u

#ifdef __cplusplus
}
#endif
#endif
