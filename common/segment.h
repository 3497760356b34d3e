/*
 * Segment math (docs/design.md §2, issue 19), pure: a segment is the IDs
 * first + step*j for j = 0..count-1 (sr_id_segment in snowrange/segment.h).
 * A chunk's IDs form one segment with step N (the range's chunk count), so a
 * batch taken with one atomic add per chunk is described by one segment per
 * chunk, whatever its size. These functions build, check, expand and
 * compare segments; the coordinator, the client and the draw-file checker
 * share them.
 */
#ifndef SR_SEGMENT_H
#define SR_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "range.h"
#include "snowrange/segment.h"

/* The segment of chunk ch holding its IDs number i0+1 .. i0+count (1-based,
 * as range_id). The caller guarantees count >= 1 and i0 + count <= ch->c. */
static inline sr_id_segment
seg_of_chunk(const struct range_chunk *ch, uint64_t i0, uint64_t count)
{
	sr_id_segment s = {range_id(ch, i0 + 1), ch->n, count};
	return s;
}

/* The last ID of s. The caller guarantees count >= 1 and no overflow (a
 * segment that passed seg_check). */
static inline uint64_t
seg_last(const sr_id_segment *s)
{
	return s->first + s->step * (s->count - 1);
}

/* Why seg_check refused a list of segments. */
enum seg_fault {
	SEG_OK,
	SEG_EMPTY_SEG, /* a segment with count 0 */
	SEG_ZERO_STEP, /* step 0 */
	SEG_ZERO_ID,   /* first is 0 */
	SEG_TOO_HIGH,  /* its last ID is above max (or overflows) */
	SEG_NOT_ABOVE, /* it does not start above the previous one's last ID */
};

/*
 * Checks that segs[0..n) are well formed and ascending: every count >= 1,
 * step >= 1, first >= 1, last ID <= max, and each segment's first ID above
 * the previous one's last. On success stores the total count in *total (if
 * non-NULL) and returns SEG_OK; otherwise the fault, and the index of the
 * offending segment in *at (if non-NULL).
 */
enum seg_fault seg_check(const sr_id_segment *segs, size_t n, uint64_t max, uint64_t *total,
    size_t *at);

/* A short English description of a fault, for error messages. */
const char *seg_fault_str(enum seg_fault f);

/* Writes the IDs of segs[0..n) into out, at most max of them, and returns
 * how many were written. */
size_t seg_expand(const sr_id_segment *segs, size_t n, uint64_t *out, size_t max);

/*
 * Describes the ascending list ids[0..n) with as few segments as a left to
 * right scan finds (a run continues while the difference stays the same; a
 * single ID gets step 1). Writes at most max segments; returns how many
 * were needed, which is more than max when they did not fit.
 */
size_t seg_from_ids(const uint64_t *ids, size_t n, sr_id_segment *segs, size_t max);

/*
 * How many IDs segments a and b have in common (the size of the
 * intersection of two arithmetic progressions, solved with the Chinese
 * remainder theorem, without expanding either). Both must be well formed,
 * with steps of at most SEG_STEP_MAX.
 */
uint64_t seg_common(const sr_id_segment *a, const sr_id_segment *b);

/* The largest step seg_common handles: a range's chunk count is 32 bits. */
#define SEG_STEP_MAX (UINT64_C(1) << 32)

#endif
