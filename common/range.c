/* Range math: validation and sizing of new ranges near max_value. */
#include "range.h"

#include "snowrange/error.h"

bool
range_chunk_valid(const struct range_chunk *ch, uint64_t max)
{
	if (ch->n == 0 || ch->k >= ch->n || ch->c == 0 || max > RANGE_ID_MAX)
		return false;
	if (ch->start >= max)
		return false;
	/* n*c must not overflow and the range must end at or below max. */
	if (ch->c > (max - ch->start) / ch->n)
		return false;
	return true;
}

int
range_plan(uint64_t hwm, uint32_t n, uint64_t c, uint64_t max_value, uint32_t *n_out,
    uint64_t *c_out)
{
	if (max_value > RANGE_ID_MAX)
		max_value = RANGE_ID_MAX;
	if (n == 0 || c == 0)
		return SR_EINVAL;
	if (hwm >= max_value)
		return SR_EEXHAUSTED;
	uint64_t room = max_value - hwm;
	if (room / n >= c) {
		*n_out = n;
		*c_out = c;
	} else if (room >= n) {
		/* Keep every chunk; shorten them all alike. */
		*n_out = n;
		*c_out = room / n;
	} else {
		/* Fewer IDs left than chunks: one ID per chunk. */
		*n_out = (uint32_t) room;
		*c_out = 1;
	}
	return SR_OK;
}
