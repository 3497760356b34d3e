/* Segment math: checks, expansion, compression and intersection. */
#include "segment.h"

/* 128-bit integers keep the intersection arithmetic free of overflow: the
 * values are below 2^64 and the steps at most 2^32 (SEG_STEP_MAX), so every
 * intermediate fits easily. */
__extension__ typedef unsigned __int128 u128;

enum seg_fault
seg_check(const sr_id_segment *segs, size_t n, uint64_t max, uint64_t *total, size_t *at)
{
	uint64_t sum = 0, prev_last = 0;
	for (size_t i = 0; i < n; i++) {
		const sr_id_segment *s = &segs[i];
		enum seg_fault f = SEG_OK;
		if (s->count == 0)
			f = SEG_EMPTY_SEG;
		else if (s->step == 0)
			f = SEG_ZERO_STEP;
		else if (s->first == 0)
			f = SEG_ZERO_ID;
		else if (s->first > max || s->count - 1 > (max - s->first) / s->step)
			f = SEG_TOO_HIGH;
		else if (i > 0 && s->first <= prev_last)
			f = SEG_NOT_ABOVE;
		if (f != SEG_OK) {
			if (at != NULL)
				*at = i;
			return f;
		}
		prev_last = seg_last(s);
		/* The total cannot overflow: the segments are disjoint and
		 * below max. */
		sum += s->count;
	}
	if (total != NULL)
		*total = sum;
	return SEG_OK;
}

const char *
seg_fault_str(enum seg_fault f)
{
	switch (f) {
	case SEG_OK: return "well formed";
	case SEG_EMPTY_SEG: return "a segment with count 0";
	case SEG_ZERO_STEP: return "a segment with step 0";
	case SEG_ZERO_ID: return "a segment starting at 0";
	case SEG_TOO_HIGH: return "a segment ending above the largest ID";
	case SEG_NOT_ABOVE: return "a segment not above the one before it";
	}
	return "unknown fault";
}

size_t
seg_expand(const sr_id_segment *segs, size_t n, uint64_t *out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < max; i++) {
		uint64_t id = segs[i].first;
		for (uint64_t j = 0; j < segs[i].count && k < max; j++, id += segs[i].step)
			out[k++] = id;
	}
	return k;
}

size_t
seg_from_ids(const uint64_t *ids, size_t n, sr_id_segment *segs, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		sr_id_segment s = {ids[i], 1, 1};
		if (i + 1 < n && ids[i + 1] > ids[i]) {
			s.step = ids[i + 1] - ids[i];
			s.count = 2;
			for (size_t j = i + 2;
			     j < n && ids[j] > ids[j - 1] && ids[j] - ids[j - 1] == s.step; j++)
				s.count++;
		}
		if (k < max)
			segs[k] = s;
		k++;
		i += (size_t) s.count;
	}
	return k;
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* The inverse of a modulo m (gcd(a, m) = 1, m <= 2^32), in [0, m). */
static uint64_t
inverse(uint64_t a, uint64_t m)
{
	int64_t t = 0, nt = 1, r = (int64_t) m, nr = (int64_t) (a % m);
	while (nr != 0) {
		int64_t q = r / nr, x;
		x = t - q * nt;
		t = nt;
		nt = x;
		x = r - q * nr;
		r = nr;
		nr = x;
	}
	return (uint64_t) (t < 0 ? t + (int64_t) m : t);
}

uint64_t
seg_common(const sr_id_segment *a, const sr_id_segment *b)
{
	uint64_t lo = a->first > b->first ? a->first : b->first;
	uint64_t la = seg_last(a), lb = seg_last(b);
	uint64_t hi = la < lb ? la : lb;
	if (lo > hi)
		return 0;
	/* x = a.first + a.step*t is in b's progression when
	 * a.step*t = b.first - a.first (mod b.step). */
	uint64_t g = gcd(a->step, b->step);
	uint64_t sb = b->step / g;
	/* diff mod b.step, taken as a non-negative residue. */
	uint64_t diff = b->first >= a->first
	    ? (b->first - a->first) % b->step
	    : (b->step - (a->first - b->first) % b->step) % b->step;
	if (diff % g != 0)
		return 0;
	uint64_t t = 0;
	if (sb > 1)
		t = (uint64_t) ((u128) ((diff / g) % sb) * inverse((a->step / g) % sb, sb) % sb);
	/* The smallest common ID at or above a.first, and the common step. */
	u128 x = (u128) a->first + (u128) a->step * t;
	u128 l = (u128) a->step * sb;
	if (x < lo)
		x += ((lo - x) + l - 1) / l * l;
	if (x > hi)
		return 0;
	return (uint64_t) ((hi - x) / l) + 1;
}
