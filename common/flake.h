/*
 * Snowflake transaction IDs (docs/design.md §4-5), pure: no I/O, no clock, no
 * sleeping. The caller reads the clock and passes it in, so tests can move
 * time freely.
 *
 * An ID is bit 63 = 0, then time_bits of ticks since the layout's epoch, then
 * worker_bits of worker id, then seq_bits of sequence (lowest). IDs therefore
 * sort by tick, then worker, then sequence, and always fit a Postgres bigint.
 *
 * The generator keeps one atomic word: the last ID it issued. A new ID must
 * be greater than that word and is published with one compare-and-swap, which
 * gives strict increase per generator whichever thread asks. A floor (the
 * ticks a previous holder of the worker id may have used) is the same word
 * set to encode(floor, max_worker, max_seq): every tick at or below the floor
 * then looks "already used" and the ordinary clock rules apply to it.
 */
#ifndef SR_FLAKE_H
#define SR_FLAKE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "snowrange/error.h"
#include "snowrange/layout.h"

/* 2024-01-01T00:00:00Z in Unix ms: the default epoch. */
#define FLAKE_EPOCH_2024 INT64_C(1704067200000)

/* Tolerated step back of the clock when the caller has no setting. */
#define FLAKE_MAX_BACK_MS_DEFAULT 5

/* Longest layout string flake_layout_format writes, with its NUL. */
#define FLAKE_LAYOUT_STRLEN 64

/*
 * flake_take's "try again later" result. It is positive and far above the
 * sr_err codes so that it can never be mistaken for one.
 */
#define FLAKE_WAIT 1000
_Static_assert(FLAKE_WAIT > SR_ERR_MAX, "FLAKE_WAIT collides with sr_err");

/* ---- layout ---- */

/* The layout is the public sr_flake_layout (snowrange/layout.h). */

/* Largest tick, worker id and sequence a layout can hold. */
static inline uint64_t
flake_max_tick(const sr_flake_layout *l)
{
	return (UINT64_C(1) << l->time_bits) - 1;
}

static inline uint32_t
flake_max_worker(const sr_flake_layout *l)
{
	return (uint32_t) ((UINT64_C(1) << l->worker_bits) - 1);
}

static inline uint32_t
flake_max_seq(const sr_flake_layout *l)
{
	return (uint32_t) ((UINT64_C(1) << l->seq_bits) - 1);
}

/* The default layout: 41/10/12, 1 ms ticks, epoch 2024-01-01T00:00:00Z. */
void flake_layout_default(sr_flake_layout *l);

/*
 * Returns SR_OK when l is usable, else SR_EINVAL with a message naming the
 * problem in errbuf (which may be NULL): each part at least 1 bit, time_bits
 * >= 20, worker_bits <= 20, seq_bits <= 22, the three summing to 63, unit_ms
 * in 1..3600000. The epoch is not checked: judging it needs a clock.
 */
int flake_layout_check(const sr_flake_layout *l, char *errbuf, size_t errlen);

/* The least time a layout must have left when a master starts with it: a
 * cluster outlives its first few years, and a layout's range cannot be
 * changed later without a new data dir (docs/snowflake.md). */
#define FLAKE_MIN_LIFE_YEARS 10
#define FLAKE_YEAR_MS (INT64_C(31556952000)) /* 365.2425 days */

/*
 * Judges l's time range against the clock: SR_EINVAL, naming the dates, when
 * its epoch lies more than max_ahead_ms after now_ms (until then every txid
 * request fails; far ahead, it used to hang), or when its last tick ends less
 * than min_life_ms after now_ms (already over: every request fails with
 * SR_EEXHAUSTED). l must pass flake_layout_check. errbuf may be NULL.
 */
int flake_layout_check_time(const sr_flake_layout *l, int64_t now_ms, int64_t max_ahead_ms,
    int64_t min_life_ms, char *errbuf, size_t errlen);

/*
 * Parses "TIME/WORKER/SEQ[/UNIT_MS[/EPOCH]]" ("41/10/12", "39/16/8/10",
 * "41/10/12/1/2024-01-01T00:00:00Z"). UNIT_MS defaults to 1 and EPOCH to
 * 2024-01-01; EPOCH is "YYYY-MM-DDTHH:MM:SSZ" (UTC) or integer Unix ms. The
 * whole string must parse, and the result must pass flake_layout_check;
 * otherwise SR_EINVAL with a message naming the bad part, and *out is left
 * untouched.
 */
int flake_layout_parse(const char *s, sr_flake_layout *out, char *errbuf, size_t errlen);

/*
 * Writes l in the form flake_layout_parse reads, all five parts, the epoch
 * as ISO-8601 when it is a whole second in years 0000..9999 and as integer
 * ms otherwise (so that parsing gives back exactly l). SR_EINVAL when buf is
 * too small (FLAKE_LAYOUT_STRLEN always suffices).
 */
int flake_layout_format(const sr_flake_layout *l, char *buf, size_t len);

/* ---- codec ---- */

/*
 * Packs (tick, worker, seq) into an ID. Each value is cut to its field, so a
 * caller that passes too large a value gets a wrong ID, never a corrupted
 * neighbouring field; callers check ranges first.
 */
uint64_t flake_encode(const sr_flake_layout *l, uint64_t tick, uint32_t worker, uint32_t seq);

/* Unpacks an ID; any of the outputs may be NULL. */
void flake_decode(const sr_flake_layout *l, uint64_t id, uint64_t *tick, uint32_t *worker,
    uint32_t *seq);

/* Unix ms at which tick starts: epoch + tick*unit, saturated at INT64_MAX. */
int64_t flake_tick_to_ms(const sr_flake_layout *l, uint64_t tick);

/* The tick holding unix_ms: floor((unix_ms - epoch) / unit), negative before
 * the epoch. */
int64_t flake_ms_to_tick(const sr_flake_layout *l, int64_t unix_ms);

/* Writes unix_ms as "2026-11-21T23:59:01.123Z" (UTC). */
void flake_format_time(int64_t unix_ms, char buf[32]);

/* ---- generator ---- */

struct flake_gen {
	sr_flake_layout layout;
	_Atomic uint32_t worker;
	_Atomic uint64_t state; /* last id issued, or encode(floor, max, max) */
	int64_t max_back_ms;    /* tolerated clock step back */
};

/*
 * Sets up g to issue IDs for worker (< 2^worker_bits) at ticks above
 * floor_tick only; l must pass flake_layout_check. A negative max_back_ms
 * means FLAKE_MAX_BACK_MS_DEFAULT.
 * Not thread-safe: call it before sharing g.
 */
void flake_gen_init(struct flake_gen *g, const sr_flake_layout *l, uint32_t worker,
    uint64_t floor_tick, int64_t max_back_ms);

/*
 * Switches g to a new worker id with a new floor: raises the state to at
 * least encode(floor_tick, max_worker, max_seq), never lowering it, then sets
 * the worker. Thread-safe against flake_take. Every ID a take returns after
 * reading the new worker lies above the new floor; a take that raced with the
 * reset may still return one ID of the old worker, as if it had finished just
 * before the reset (stopping txids before the old lease ends is the lease
 * holder's job, not the generator's).
 */
void flake_gen_reset(struct flake_gen *g, uint32_t worker, uint64_t floor_tick);

/*
 * One attempt to take up to n (>= 1) IDs at wall-clock time now_ms (Unix ms,
 * read by the caller). Returns:
 *
 * SR_OK: out[0..*got) holds 1..n ascending IDs, each greater than every ID g
 *   issued before. They are consecutive sequences of one tick, so a batch
 *   stops early when the tick's sequences run out.
 * FLAKE_WAIT: nothing issued; try again in *wait_ms (>= 1) ms. Either this
 *   tick's sequences are used up, or the clock is behind the last issued tick
 *   (or the floor) by at most max_back_ms.
 * SR_ECLOCK: nothing issued; the clock is behind the last issued tick (or the
 *   floor) by more than max_back_ms, or before the epoch. *wait_ms is the
 *   offset in ms and errbuf says which.
 * SR_EEXHAUSTED: the current tick no longer fits time_bits.
 * SR_EINVAL: n is 0, or the worker id does not fit worker_bits.
 *
 * wait_ms and errbuf may be NULL.
 *
 * Read now_ms right before the call. A thread preempted between reading the
 * clock and this call brings a stale time, which the generator cannot tell
 * from a clock step back once other threads have issued later ticks: on
 * SR_ECLOCK (and on FLAKE_WAIT) read the clock again and retry, and report
 * SR_ECLOCK only if fresh readings keep giving it.
 */
int flake_take(struct flake_gen *g, int64_t now_ms, size_t n, uint64_t *out, size_t *got,
    int64_t *wait_ms, char *errbuf, size_t errlen);

/* The state word: the last ID issued (or the floor encoding). */
uint64_t flake_last(struct flake_gen *g);

#endif
