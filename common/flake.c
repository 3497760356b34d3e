/*
 * Snowflake layout, codec and lock-free generator. Pure: the clock is an
 * argument, nothing here sleeps, reads the time or does I/O. See flake.h for
 * the contract and docs/design.md §4-5 for why the floor and clock rules exist.
 */
#include "flake.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define UNIT_MS_MAX 3600000u

/* Error messages: util.h's one helper. */
#define seterr sr_errfmt

/* ---- time helpers ---- */

/* Floor division and its remainder, so that times before 1970 (or before the
 * epoch) round towards the past like the clock does, not towards zero. */
static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Breaks unix_ms into UTC calendar fields; false when gmtime_r cannot. */
static bool
utc_fields(int64_t unix_ms, struct tm *tm, int *msec)
{
	/* Quotient and remainder, never sec * 1000: that overflows for the
	 * 808 values nearest INT64_MIN (found by fuzz_config). */
	int64_t sec = unix_ms / 1000, rem = unix_ms % 1000;
	if (rem < 0) {
		sec--;
		rem += 1000;
	}
	*msec = (int) rem;
	time_t t = (time_t) sec;
	if ((int64_t) t != sec)
		return false;
	return gmtime_r(&t, tm) != NULL;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard
 * Hinnant's days_from_civil). timegm is not POSIX, so we do the sum. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned) (y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads n digits at s into *v; false if any is not a digit. */
static bool
digits(const char *s, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (unsigned) (s[i] - '0');
	}
	return true;
}

/* Parses exactly "YYYY-MM-DDTHH:MM:SSZ". No leap second: Unix time has none. */
static int
parse_iso(const char *s, int64_t *ms, char *errbuf, size_t errlen)
{
	unsigned y, mo, d, h, mi, se;
	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &se)) {
		seterr(errbuf, errlen,
		    "epoch '%s' is neither YYYY-MM-DDTHH:MM:SSZ nor integer Unix ms", s);
		return SR_EINVAL;
	}
	const char *bad = NULL;
	if (mo < 1 || mo > 12)
		bad = "month";
	else if (d < 1 || d > days_in_month(y, mo))
		bad = "day";
	else if (h > 23)
		bad = "hour";
	else if (mi > 59)
		bad = "minute";
	else if (se > 59)
		bad = "second";
	if (bad != NULL) {
		seterr(errbuf, errlen, "epoch '%s': %s out of range", s, bad);
		return SR_EINVAL;
	}
	int64_t days = days_from_civil(y, mo, d);
	*ms = ((days * 24 + h) * 60 + mi) * INT64_C(60000) + se * INT64_C(1000);
	return SR_OK;
}

/* Integer Unix ms, optionally negative; strict like sr_parse_u64. */
static bool
parse_ms(const char *s, int64_t *ms)
{
	bool neg = s[0] == '-';
	uint64_t v;
	if (!sr_parse_u64(s + neg, &v) || v > (uint64_t) INT64_MAX)
		return false;
	*ms = neg ? -(int64_t) v : (int64_t) v;
	return true;
}

/* ---- layout ---- */

void
flake_layout_default(sr_flake_layout *l)
{
	l->time_bits = 41;
	l->worker_bits = 10;
	l->seq_bits = 12;
	l->unit_ms = 1;
	l->epoch_ms = FLAKE_EPOCH_2024;
}

int
flake_layout_check(const sr_flake_layout *l, char *errbuf, size_t errlen)
{
	unsigned tb = l->time_bits, wb = l->worker_bits, sb = l->seq_bits;
	if (tb < 1 || wb < 1 || sb < 1) {
		seterr(errbuf, errlen,
		    "layout %u/%u/%u: time, worker and sequence bits must each be >= 1", tb, wb,
		    sb);
		return SR_EINVAL;
	}
	/* Fewer than 20 time bits is under 12 days at 1 ms ticks: a typo. */
	if (tb < 20) {
		seterr(errbuf, errlen, "layout %u/%u/%u: time bits %u < 20", tb, wb, sb, tb);
		return SR_EINVAL;
	}
	/* The limits below keep worker and seq inside uint32_t with room, and
	 * stop a layout from trading all its time range away. */
	if (wb > 20) {
		seterr(errbuf, errlen, "layout %u/%u/%u: worker bits %u > 20", tb, wb, sb, wb);
		return SR_EINVAL;
	}
	if (sb > 22) {
		seterr(errbuf, errlen, "layout %u/%u/%u: sequence bits %u > 22", tb, wb, sb, sb);
		return SR_EINVAL;
	}
	if (tb + wb + sb != 63) {
		seterr(errbuf, errlen,
		    "layout %u/%u/%u: bits sum to %u, must sum to 63 (bit 63 stays 0)", tb, wb, sb,
		    tb + wb + sb);
		return SR_EINVAL;
	}
	if (l->unit_ms < 1 || l->unit_ms > UNIT_MS_MAX) {
		seterr(errbuf, errlen, "unit_ms %" PRIu32 " not in 1..%u", l->unit_ms, UNIT_MS_MAX);
		return SR_EINVAL;
	}
	return SR_OK;
}

/* a + b for b >= 0, saturated at INT64_MAX. */
static int64_t
add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int
flake_layout_check_time(const sr_flake_layout *l, int64_t now_ms, int64_t max_ahead_ms,
    int64_t min_life_ms, char *errbuf, size_t errlen)
{
	char a[32], b[32];
	if (l->epoch_ms > add_sat(now_ms, max_ahead_ms)) {
		flake_format_time(l->epoch_ms, a);
		flake_format_time(now_ms, b);
		seterr(errbuf, errlen,
		    "layout epoch %s is in the future (the clock says %s): no txid could "
		    "be issued before it; use a past epoch",
		    a, b);
		return SR_EINVAL;
	}
	/* The first instant after the last tick (saturated far out). */
	int64_t end = flake_tick_to_ms(l, flake_max_tick(l));
	end = add_sat(end, l->unit_ms);
	if (end < add_sat(now_ms, min_life_ms)) {
		char e[32];
		flake_format_time(l->epoch_ms, e);
		flake_format_time(end, a);
		bool years = min_life_ms >= FLAKE_YEAR_MS;
		seterr(errbuf, errlen,
		    "layout %u/%u/%u/%" PRIu32 " with epoch %s ends at %s, %s: a layout must "
		    "leave at least %" PRId64 " %s from now; give it more time bits, a longer "
		    "unit or a later epoch",
		    l->time_bits, l->worker_bits, l->seq_bits, l->unit_ms, e, a,
		    end <= now_ms ? "already over" : "too soon",
		    years ? min_life_ms / FLAKE_YEAR_MS : min_life_ms / (24 * INT64_C(3600000)),
		    years ? "years" : "days");
		return SR_EINVAL;
	}
	return SR_OK;
}

int
flake_layout_parse(const char *s, sr_flake_layout *out, char *errbuf, size_t errlen)
{
	static const char *const name[5] = {"time bits", "worker bits", "sequence bits", "unit_ms",
	    "epoch"};
	char part[5][48];
	size_t np = 0;

	if (s == NULL)
		s = "";
	for (const char *p = s;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash != NULL ? (size_t) (slash - p) : strlen(p);
		if (np == 5) {
			seterr(errbuf, errlen, "layout '%s': junk after the epoch: '/%s'", s, p);
			return SR_EINVAL;
		}
		if (len == 0) {
			seterr(errbuf, errlen, "layout '%s': %s is missing", s, name[np]);
			return SR_EINVAL;
		}
		if (len >= sizeof(part[0])) {
			seterr(errbuf, errlen, "layout '%s': %s is too long", s, name[np]);
			return SR_EINVAL;
		}
		memcpy(part[np], p, len);
		part[np][len] = '\0';
		np++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (np < 3) {
		seterr(errbuf, errlen,
		    "layout '%s': %s is missing (want TIME/WORKER/SEQ[/UNIT_MS[/EPOCH]])", s,
		    name[np]);
		return SR_EINVAL;
	}

	sr_flake_layout l;
	flake_layout_default(&l);
	uint64_t v[4] = {0, 0, 0, 1};
	static const uint64_t max[4] = {UINT8_MAX, UINT8_MAX, UINT8_MAX, UINT32_MAX};
	for (size_t i = 0; i < np && i < 4; i++) {
		if (!sr_parse_u64(part[i], &v[i]) || v[i] > max[i]) {
			seterr(errbuf, errlen,
			    "layout '%s': %s '%s' is not a whole number in 0..%" PRIu64, s, name[i],
			    part[i], max[i]);
			return SR_EINVAL;
		}
	}
	l.time_bits = (unsigned) v[0];
	l.worker_bits = (unsigned) v[1];
	l.seq_bits = (unsigned) v[2];
	l.unit_ms = (uint32_t) v[3];
	if (np == 5 && !parse_ms(part[4], &l.epoch_ms)) {
		int rv = parse_iso(part[4], &l.epoch_ms, errbuf, errlen);
		if (rv != SR_OK)
			return rv;
	}
	int rv = flake_layout_check(&l, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	*out = l;
	return SR_OK;
}

int
flake_layout_format(const sr_flake_layout *l, char *buf, size_t len)
{
	struct tm tm;
	int msec, n;
	/* ISO only when it says exactly the same instant and parses back. */
	if (utc_fields(l->epoch_ms, &tm, &msec) && msec == 0 && tm.tm_year >= -1900 &&
	    tm.tm_year <= 9999 - 1900)
		n = snprintf(buf, len, "%u/%u/%u/%" PRIu32 "/%04d-%02d-%02dT%02d:%02d:%02dZ",
		    l->time_bits, l->worker_bits, l->seq_bits, l->unit_ms, tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf(buf, len, "%u/%u/%u/%" PRIu32 "/%" PRId64, l->time_bits,
		    l->worker_bits, l->seq_bits, l->unit_ms, l->epoch_ms);
	if (n < 0 || (size_t) n >= len)
		return SR_EINVAL;
	return SR_OK;
}

/* ---- codec ---- */

uint64_t
flake_encode(const sr_flake_layout *l, uint64_t tick, uint32_t worker, uint32_t seq)
{
	unsigned sb = l->seq_bits, wb = l->worker_bits;
	return (tick & flake_max_tick(l)) << (wb + sb) |
	    (uint64_t) (worker & flake_max_worker(l)) << sb | (seq & flake_max_seq(l));
}

void
flake_decode(const sr_flake_layout *l, uint64_t id, uint64_t *tick, uint32_t *worker, uint32_t *seq)
{
	unsigned sb = l->seq_bits, wb = l->worker_bits;
	if (tick != NULL)
		*tick = (id >> (wb + sb)) & flake_max_tick(l);
	if (worker != NULL)
		*worker = (uint32_t) (id >> sb) & flake_max_worker(l);
	if (seq != NULL)
		*seq = (uint32_t) id & flake_max_seq(l);
}

int64_t
flake_tick_to_ms(const sr_flake_layout *l, uint64_t tick)
{
	/* A 61-bit tick of an hour does not fit int64 ms: saturate rather
	 * than overflow, the result is only compared with the clock. */
	int64_t room = l->epoch_ms >= 0 ? INT64_MAX - l->epoch_ms : INT64_MAX;
	if (tick > (uint64_t) room / l->unit_ms)
		return INT64_MAX;
	return l->epoch_ms + (int64_t) tick * l->unit_ms;
}

int64_t
flake_ms_to_tick(const sr_flake_layout *l, int64_t unix_ms)
{
	int64_t e = l->epoch_ms;
	if (e > 0 && unix_ms < INT64_MIN + e)
		return INT64_MIN / l->unit_ms;
	if (e < 0 && unix_ms > INT64_MAX + e)
		return INT64_MAX / l->unit_ms;
	return floordiv(unix_ms - e, l->unit_ms);
}

void
flake_format_time(int64_t unix_ms, char buf[32])
{
	struct tm tm;
	int msec;
	if (!utc_fields(unix_ms, &tm, &msec)) {
		snprintf(buf, 32, "%" PRId64 "ms", unix_ms);
		return;
	}
	/* Every int64 ms fits 32 bytes (years have at most 9 digits), but the
	 * compiler cannot know what gmtime_r returns: format wide, then copy. */
	char wide[96];
	snprintf(wide, sizeof(wide), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
	sr_strlcpy(buf, wide, 32);
}

/* ---- generator ---- */

/* The state word that stands for "every tick up to floor is used". */
static uint64_t
floor_word(const sr_flake_layout *l, uint64_t floor_tick)
{
	/* A floor past the time range leaves nothing to issue: clamp so the
	 * encoding does not wrap around to a low tick. */
	if (floor_tick > flake_max_tick(l))
		floor_tick = flake_max_tick(l);
	return flake_encode(l, floor_tick, flake_max_worker(l), flake_max_seq(l));
}

void
flake_gen_init(struct flake_gen *g, const sr_flake_layout *l, uint32_t worker, uint64_t floor_tick,
    int64_t max_back_ms)
{
	g->layout = *l;
	atomic_init(&g->worker, worker);
	atomic_init(&g->state, floor_word(l, floor_tick));
	g->max_back_ms = max_back_ms < 0 ? FLAKE_MAX_BACK_MS_DEFAULT : max_back_ms;
}

void
flake_gen_reset(struct flake_gen *g, uint32_t worker, uint64_t floor_tick)
{
	uint64_t f = floor_word(&g->layout, floor_tick);
	uint64_t s = atomic_load(&g->state);
	while (s < f && !atomic_compare_exchange_weak(&g->state, &s, f))
		;
	/*
	 * The floor goes in before the worker (both seq_cst), and flake_take
	 * reads the worker before the state: a take that sees the new worker
	 * is bound to see the raised state too, so it cannot issue the new
	 * worker id at or below the new floor.
	 */
	atomic_store(&g->worker, worker);
}

uint64_t
flake_last(struct flake_gen *g)
{
	return atomic_load(&g->state);
}

int
flake_take(struct flake_gen *g, int64_t now_ms, size_t n, uint64_t *out, size_t *got,
    int64_t *wait_ms, char *errbuf, size_t errlen)
{
	const sr_flake_layout *l = &g->layout;
	uint32_t max_seq = flake_max_seq(l);
	int64_t dummy;
	char a[32], b[32];

	if (wait_ms == NULL)
		wait_ms = &dummy;
	*wait_ms = 0;
	*got = 0;
	if (n == 0) {
		seterr(errbuf, errlen, "asked for 0 txids");
		return SR_EINVAL;
	}
	if (now_ms < l->epoch_ms) {
		*wait_ms = l->epoch_ms - now_ms;
		flake_format_time(now_ms, a);
		flake_format_time(l->epoch_ms, b);
		seterr(errbuf, errlen, "clock (%s) is before the layout epoch (%s)", a, b);
		return SR_ECLOCK;
	}
	uint64_t t = (uint64_t) flake_ms_to_tick(l, now_ms);
	if (t > flake_max_tick(l)) {
		flake_format_time(flake_tick_to_ms(l, flake_max_tick(l)), a);
		seterr(errbuf, errlen,
		    "tick %" PRIu64 " does not fit %u time bits (the layout ended at %s)", t,
		    l->time_bits, a);
		return SR_EEXHAUSTED;
	}

	for (;;) {
		/* Worker before state: see flake_gen_reset. */
		uint32_t w = atomic_load(&g->worker);
		uint64_t s = atomic_load(&g->state);
		if (w > flake_max_worker(l)) {
			seterr(errbuf, errlen, "worker id %" PRIu32 " does not fit %u bits", w,
			    l->worker_bits);
			return SR_EINVAL;
		}
		uint64_t t0;
		uint32_t w0, q0, q;
		flake_decode(l, s, &t0, &w0, &q0);

		if (t > t0) {
			q = 0;
		} else if (t == t0) {
			/* Same tick: only IDs above s are new. */
			if (w > w0) {
				q = 0;
			} else if (w == w0 && q0 < max_seq) {
				q = q0 + 1;
			} else {
				int64_t next = flake_tick_to_ms(l, t0 + 1) - now_ms;
				*wait_ms = next < 1 ? 1 : next;
				return FLAKE_WAIT;
			}
		} else {
			/*
			 * Behind the last tick (or the floor). The last ID was made
			 * no earlier than the start of t0, so that start is the
			 * smallest honest measure of how far the clock went back.
			 */
			int64_t behind = flake_tick_to_ms(l, t0) - now_ms;
			if (behind < 1)
				behind = 1;
			*wait_ms = behind;
			if (behind <= g->max_back_ms)
				return FLAKE_WAIT;
			seterr(errbuf, errlen,
			    "clock is %" PRId64
			    " ms behind the last issued txid (tolerance %" PRId64 " ms)",
			    behind, g->max_back_ms);
			return SR_ECLOCK;
		}

		size_t k = max_seq - q + (size_t) 1;
		if (k > n)
			k = n;
		uint64_t last = flake_encode(l, t, w, q + (uint32_t) (k - 1));
		if (!atomic_compare_exchange_weak(&g->state, &s, last))
			continue; /* another thread moved the state: decide again */
		for (size_t i = 0; i < k; i++)
			out[i] = flake_encode(l, t, w, q + (uint32_t) i);
		*got = k;
		return SR_OK;
	}
}
