/*
 * Range math (docs/design.md §2), pure. A range is (start, start + n*c]: n chunks of c
 * IDs each, and chunk k yields start + 1 + k + n*(i - 1) for i = 1..c (Noah's
 * formula start + k + n*i - (n - 1)). n is fixed when the range is created.
 */
#ifndef SR_RANGE_H
#define SR_RANGE_H

#include <stdbool.h>
#include <stdint.h>

/* The largest ID snowrange ever issues: IDs fit a Postgres bigint. */
#define RANGE_ID_MAX INT64_MAX

struct range_chunk {
	uint64_t start; /* range start (exclusive) */
	uint32_t n;     /* chunks in the range */
	uint32_t k;     /* this chunk */
	uint64_t c;     /* IDs per chunk */
};

/* The i-th ID (1-based) of chunk ch. The caller guarantees 1 <= i <= ch->c. */
static inline uint64_t
range_id(const struct range_chunk *ch, uint64_t i)
{
	return ch->start + 1 + ch->k + (uint64_t) ch->n * (i - 1);
}

/* End of the whole range the chunk belongs to: start + n*c. */
static inline uint64_t
range_end(const struct range_chunk *ch)
{
	return ch->start + (uint64_t) ch->n * ch->c;
}

/* True when the chunk is well formed: n >= 1, k < n, c >= 1, and its range
 * ends at or below max (no overflow). */
bool range_chunk_valid(const struct range_chunk *ch, uint64_t max);

/*
 * Sizes a new range that starts at hwm and would hold n chunks of c IDs, cut
 * so that it ends at or below max_value. On success *n_out and *c_out hold the
 * sizes (n_out <= n, c_out <= c, n_out * c_out >= 1) and 0 is returned; when
 * not even one ID fits, SR_EEXHAUSTED.
 */
int range_plan(uint64_t hwm, uint32_t n, uint64_t c, uint64_t max_value, uint32_t *n_out,
    uint64_t *c_out);

#endif
