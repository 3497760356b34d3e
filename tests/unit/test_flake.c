/*
 * Unit tests for Snowflake IDs (common/flake.c): the codec, layout strings,
 * and the generator driven by an injected clock (plain now_ms values), plus
 * one run of many threads against the real clock to catch duplicates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flake.h"
#include "snowrange/error.h"

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static sr_flake_layout
mk(uint8_t tb, uint8_t wb, uint8_t sb, uint32_t unit)
{
	sr_flake_layout l = {tb, wb, sb, unit, FLAKE_EPOCH_2024};
	return l;
}

/* ---- codec ---- */

static void
roundtrip(const sr_flake_layout *l, uint64_t t, uint32_t w, uint32_t q)
{
	uint64_t id = flake_encode(l, t, w, q), t2;
	uint32_t w2, q2;
	assert_int_equal(id >> 63, 0);
	flake_decode(l, id, &t2, &w2, &q2);
	assert_int_equal(t2, t);
	assert_int_equal(w2, w);
	assert_int_equal(q2, q);
}

static int
cmp3(uint64_t t1, uint32_t w1, uint32_t q1, uint64_t t2, uint32_t w2, uint32_t q2)
{
	if (t1 != t2)
		return t1 < t2 ? -1 : 1;
	if (w1 != w2)
		return w1 < w2 ? -1 : 1;
	if (q1 != q2)
		return q1 < q2 ? -1 : 1;
	return 0;
}

static void
test_codec(void **state)
{
	(void) state;
	sr_flake_layout ls[4];
	flake_layout_default(&ls[0]);
	ls[1] = mk(39, 16, 8, 10); /* Sonyflake */
	ls[2] = mk(31, 16, 16, 1000);
	ls[3] = mk(21, 20, 22, 1); /* widest worker and seq fields */
	uint64_t seed = 7;
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) {
		const sr_flake_layout *l = &ls[i];
		assert_int_equal(flake_layout_check(l, NULL, 0), SR_OK);
		uint64_t mt = flake_max_tick(l);
		uint32_t mw = flake_max_worker(l), mq = flake_max_seq(l);
		assert_int_equal(mt, (UINT64_C(1) << l->time_bits) - 1);
		roundtrip(l, 0, 0, 0);
		roundtrip(l, mt, mw, mq);
		roundtrip(l, mt, 0, 0);
		roundtrip(l, 0, mw, 0);
		roundtrip(l, 0, 0, mq);
		/* The largest ID is exactly 2^63 - 1: every bit but the sign. */
		assert_int_equal(flake_encode(l, mt, mw, mq), INT64_MAX);
		assert_int_equal(flake_encode(l, 0, 0, 0), 0);
		for (int k = 0; k < 2000; k++) {
			uint64_t t1 = rnd(&seed) & mt, t2 = rnd(&seed) & mt;
			uint32_t w1 = (uint32_t) rnd(&seed) & mw;
			uint32_t w2 = (uint32_t) rnd(&seed) & mw;
			uint32_t q1 = (uint32_t) rnd(&seed) & mq;
			uint32_t q2 = (uint32_t) rnd(&seed) & mq;
			/* Often share a prefix so ties on tick/worker are tested. */
			if (k % 3 == 0)
				t2 = t1;
			if (k % 6 == 0)
				w2 = w1;
			roundtrip(l, t1, w1, q1);
			uint64_t a = flake_encode(l, t1, w1, q1);
			uint64_t b = flake_encode(l, t2, w2, q2);
			int c = cmp3(t1, w1, q1, t2, w2, q2);
			assert_int_equal(c, a < b ? -1 : a > b ? 1 : 0);
		}
		/* Neighbours at field boundaries stay ordered. */
		assert_true(flake_encode(l, 5, 3, mq) < flake_encode(l, 5, 4, 0));
		assert_true(flake_encode(l, 5, mw, mq) < flake_encode(l, 6, 0, 0));
	}
}

static void
test_time(void **state)
{
	(void) state;
	sr_flake_layout d, s = mk(39, 16, 8, 10);
	flake_layout_default(&d);
	assert_int_equal(flake_ms_to_tick(&d, FLAKE_EPOCH_2024), 0);
	assert_int_equal(flake_ms_to_tick(&d, FLAKE_EPOCH_2024 + 1234), 1234);
	assert_int_equal(flake_ms_to_tick(&d, FLAKE_EPOCH_2024 - 1), -1);
	assert_int_equal(flake_tick_to_ms(&d, 1234), FLAKE_EPOCH_2024 + 1234);
	/* Sonyflake's 10 ms ticks round down, also before the epoch. */
	assert_int_equal(flake_ms_to_tick(&s, FLAKE_EPOCH_2024 + 19), 1);
	assert_int_equal(flake_ms_to_tick(&s, FLAKE_EPOCH_2024 + 20), 2);
	assert_int_equal(flake_ms_to_tick(&s, FLAKE_EPOCH_2024 - 1), -1);
	assert_int_equal(flake_ms_to_tick(&s, FLAKE_EPOCH_2024 - 10), -1);
	assert_int_equal(flake_ms_to_tick(&s, FLAKE_EPOCH_2024 - 11), -2);
	assert_int_equal(flake_tick_to_ms(&s, 2), FLAKE_EPOCH_2024 + 20);
	/* Huge ticks saturate instead of overflowing. */
	sr_flake_layout h = mk(61, 1, 1, 3600000);
	assert_int_equal(flake_tick_to_ms(&h, flake_max_tick(&h)), INT64_MAX);

	char buf[32];
	flake_format_time(FLAKE_EPOCH_2024, buf);
	assert_string_equal(buf, "2024-01-01T00:00:00.000Z");
	flake_format_time(INT64_C(1795305541123), buf);
	assert_string_equal(buf, "2026-11-21T23:59:01.123Z");
	flake_format_time(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

/* ---- layout ---- */

static void
expect_check_fails(sr_flake_layout l, const char *needle)
{
	char err[256] = "";
	assert_int_equal(flake_layout_check(&l, err, sizeof(err)), SR_EINVAL);
	if (strstr(err, needle) == NULL)
		fail_msg("message '%s' does not mention '%s'", err, needle);
}

static void
test_layout_check(void **state)
{
	(void) state;
	sr_flake_layout d;
	flake_layout_default(&d);
	assert_int_equal(d.time_bits, 41);
	assert_int_equal(d.worker_bits, 10);
	assert_int_equal(d.seq_bits, 12);
	assert_int_equal(d.unit_ms, 1);
	assert_int_equal(d.epoch_ms, FLAKE_EPOCH_2024);
	assert_int_equal(flake_layout_check(&d, NULL, 0), SR_OK);
	assert_int_equal(flake_layout_check(&(sr_flake_layout) {20, 20, 23, 1, 0}, NULL, 0),
	    SR_EINVAL);
	expect_check_fails(mk(41, 10, 13, 1), "sum to 64");
	expect_check_fails(mk(62, 0, 1, 1), ">= 1");
	expect_check_fails(mk(19, 20, 22, 1), "time bits 19");
	expect_check_fails(mk(22, 21, 20, 1), "worker bits 21");
	expect_check_fails(mk(21, 19, 23, 1), "sequence bits 23");
	expect_check_fails(mk(41, 10, 12, 0), "unit_ms 0");
	expect_check_fails(mk(41, 10, 12, 3600001), "unit_ms 3600001");
	assert_int_equal(flake_layout_check(&(sr_flake_layout) {41, 10, 12, 3600000, -5}, NULL, 0),
	    SR_OK); /* the epoch is not judged here */
}

/* Field by field: the struct has padding, so memcmp would compare junk. */
static void
assert_layout_equal(const sr_flake_layout *a, const sr_flake_layout *b)
{
	assert_int_equal(a->time_bits, b->time_bits);
	assert_int_equal(a->worker_bits, b->worker_bits);
	assert_int_equal(a->seq_bits, b->seq_bits);
	assert_int_equal(a->unit_ms, b->unit_ms);
	assert_int_equal(a->epoch_ms, b->epoch_ms);
}

static void
expect_parse(const char *s, sr_flake_layout want)
{
	sr_flake_layout got;
	char err[256] = "";
	int rv = flake_layout_parse(s, &got, err, sizeof(err));
	if (rv != SR_OK)
		fail_msg("'%s': %s", s, err);
	assert_layout_equal(&got, &want);
	/* parse(format(l)) == l */
	char buf[FLAKE_LAYOUT_STRLEN];
	assert_int_equal(flake_layout_format(&got, buf, sizeof(buf)), SR_OK);
	sr_flake_layout again;
	assert_int_equal(flake_layout_parse(buf, &again, NULL, 0), SR_OK);
	assert_layout_equal(&again, &got);
}

static void
test_layout_parse_good(void **state)
{
	(void) state;
	sr_flake_layout d;
	flake_layout_default(&d);
	expect_parse("41/10/12", d);
	expect_parse("41/10/12/1/2024-01-01T00:00:00Z", d);
	expect_parse("41/10/12/1/1704067200000", d);
	expect_parse("39/16/8/10", mk(39, 16, 8, 10));
	expect_parse("31/16/16/1000", mk(31, 16, 16, 1000));
	sr_flake_layout l = mk(41, 10, 12, 1);
	l.epoch_ms = INT64_C(1709210096000);
	expect_parse("41/10/12/1/2024-02-29T12:34:56Z", l);
	l.epoch_ms = 0;
	expect_parse("41/10/12/1/1970-01-01T00:00:00Z", l);
	l.epoch_ms = 1;
	expect_parse("41/10/12/1/1", l);
	l.epoch_ms = -1000;
	expect_parse("41/10/12/1/1969-12-31T23:59:59Z", l);
	l.epoch_ms = -1;
	expect_parse("41/10/12/1/-1", l);

	/* format(parse(x)) == x for the canonical five-part form. */
	static const char *const canon[] = {
	    "41/10/12/1/2024-01-01T00:00:00Z", "39/16/8/10/2014-09-01T00:00:00Z",
	    "31/16/16/1000/2000-02-29T23:59:59Z",
	    "41/10/12/1/1704067200123", /* not a whole second: stays ms */
	};
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char buf[FLAKE_LAYOUT_STRLEN];
		assert_int_equal(flake_layout_parse(canon[i], &l, NULL, 0), SR_OK);
		assert_int_equal(flake_layout_format(&l, buf, sizeof(buf)), SR_OK);
		assert_string_equal(buf, canon[i]);
	}
	/* A short buffer is refused, not silently cut. */
	char small[10];
	assert_int_equal(flake_layout_format(&d, small, sizeof(small)), SR_EINVAL);
}

static void
test_layout_parse_bad(void **state)
{
	(void) state;
	static const struct {
		const char *s, *needle;
	} bad[] = {
	    {"41/10/13", "sum to 64"},
	    {"41/10", "sequence bits is missing"},
	    {"41", "worker bits is missing"},
	    {"", "time bits is missing"},
	    {"41/x/12", "worker bits 'x'"},
	    {"41/10/12/0", "unit_ms 0"},
	    {"99999999999999999999/1/1", "time bits '99999999999999999999'"},
	    {"41/10/12/1/2024-13-01T00:00:00Z", "month out of range"},
	    {"41/10/12/1/2023-02-29T00:00:00Z", "day out of range"},
	    {"41/10/12/1/2024-01-01T24:00:00Z", "hour out of range"},
	    {"41/10/12/1/2024-01-01T00:00:60Z", "second out of range"},
	    {"41/10/12/1/2024-01-01 00:00:00Z", "neither"},
	    {"41/10/12/1/2024-01-01T00:00:00", "neither"},
	    {"41/10/12/1/99999999999999999999", "neither"},
	    {"41/10/12x", "sequence bits '12x'"},
	    {"41/10/12 ", "sequence bits '12 '"},
	    {" 41/10/12", "time bits ' 41'"},
	    {"+41/10/12", "time bits '+41'"},
	    {"-41/10/12", "time bits '-41'"},
	    {"41/10/12/", "unit_ms is missing"},
	    {"41//12", "worker bits is missing"},
	    {"41/10/12/1/2024-01-01T00:00:00Z/7", "junk after the epoch"},
	    {"41/10/12/1/2024-01-01T00:00:00Zjunk", "neither"},
	    {"41/10/12/4294967296", "unit_ms '4294967296'"},
	    {"256/10/12", "time bits '256'"},
	    {"41/10/12/3600001", "unit_ms 3600001"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sr_flake_layout out = mk(1, 2, 3, 4), orig = out;
		char err[256] = "";
		int rv = flake_layout_parse(bad[i].s, &out, err, sizeof(err));
		if (rv != SR_EINVAL)
			fail_msg("'%s' gave %d, want SR_EINVAL", bad[i].s, rv);
		if (strstr(err, bad[i].needle) == NULL)
			fail_msg("'%s': message '%s' does not mention '%s'", bad[i].s, err,
			    bad[i].needle);
		assert_layout_equal(&out, &orig); /* untouched */
	}
	/* NULL errbuf is fine. */
	sr_flake_layout out;
	assert_int_equal(flake_layout_parse("41/10", &out, NULL, 0), SR_EINVAL);
	assert_int_equal(flake_layout_parse(NULL, &out, NULL, 0), SR_EINVAL);
}

/* ---- generator, injected clock ---- */

#define T0 (FLAKE_EPOCH_2024 + 5000000) /* some ms well past the epoch */

static int
take1(struct flake_gen *g, int64_t now, uint64_t *id, int64_t *wait)
{
	size_t got = 99;
	*id = 0;
	*wait = -1;
	int rv = flake_take(g, now, 1, id, &got, wait, NULL, 0);
	assert_int_equal(got, rv == SR_OK ? 1 : 0);
	return rv;
}

static void
test_gen_increasing(void **state)
{
	(void) state;
	sr_flake_layout l;
	flake_layout_default(&l);
	struct flake_gen g;
	flake_gen_init(&g, &l, 42, 0, -1);
	assert_int_equal(g.max_back_ms, FLAKE_MAX_BACK_MS_DEFAULT);
	uint64_t prev = flake_last(&g), id;
	int64_t wait;
	for (int i = 0; i < 20000; i++) {
		int64_t now = T0 + i / 3; /* several IDs per tick, ticks advance */
		assert_int_equal(take1(&g, now, &id, &wait), SR_OK);
		assert_true(id > prev);
		assert_int_equal(flake_last(&g), id);
		uint64_t t;
		uint32_t w, q;
		flake_decode(&l, id, &t, &w, &q);
		assert_int_equal(w, 42);
		assert_int_equal(t, (uint64_t) flake_ms_to_tick(&l, now));
		assert_int_equal(q, (uint32_t) (i % 3));
		prev = id;
	}
	/* n == 0 is a caller bug. */
	size_t got;
	assert_int_equal(flake_take(&g, T0 + 99999, 0, &id, &got, NULL, NULL, 0), SR_EINVAL);
}

static void
test_gen_seq_overflow(void **state)
{
	(void) state;
	/* Sonyflake: 256 sequences per 10 ms tick. */
	sr_flake_layout l = mk(39, 16, 8, 10);
	struct flake_gen g;
	flake_gen_init(&g, &l, 3, 0, 5);
	int64_t now = T0 + 3; /* 3 ms into a tick */
	uint64_t id, prev = 0;
	int64_t wait;
	for (int i = 0; i < 256; i++) {
		assert_int_equal(take1(&g, now, &id, &wait), SR_OK);
		assert_true(id > prev);
		prev = id;
	}
	uint64_t last = flake_last(&g);
	assert_int_equal(take1(&g, now, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 7); /* until the next tick */
	assert_int_equal(flake_last(&g), last);
	assert_int_equal(take1(&g, now + 6, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 1);
	now += 7;
	assert_int_equal(take1(&g, now, &id, &wait), SR_OK);
	assert_true(id > last);
	uint64_t t;
	uint32_t q;
	flake_decode(&l, id, &t, NULL, &q);
	assert_int_equal(t, (uint64_t) flake_ms_to_tick(&l, T0) + 1);
	assert_int_equal(q, 0);

	/* Default layout: 1 ms ticks wait 1 ms. */
	flake_layout_default(&l);
	flake_gen_init(&g, &l, 3, 0, 5);
	uint64_t out[4096];
	size_t got;
	assert_int_equal(flake_take(&g, T0, 4096, out, &got, &wait, NULL, 0), SR_OK);
	assert_int_equal(got, 4096);
	assert_int_equal(take1(&g, T0, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(take1(&g, T0 + 1, &id, &wait), SR_OK);
	assert_true(id > out[4095]);
}

static void
test_gen_clock_back(void **state)
{
	(void) state;
	sr_flake_layout l;
	flake_layout_default(&l);
	struct flake_gen g;
	flake_gen_init(&g, &l, 9, 0, 5);
	uint64_t id, last;
	int64_t wait;
	assert_int_equal(take1(&g, T0, &id, &wait), SR_OK);
	last = flake_last(&g);
	assert_int_equal(last, id);

	/* 3 ms back: within tolerance, wait it out. */
	assert_int_equal(take1(&g, T0 - 3, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 3);
	assert_int_equal(id, 0);
	assert_int_equal(flake_last(&g), last);
	/* 5 ms back is still tolerated, 6 is not. */
	assert_int_equal(take1(&g, T0 - 5, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 5);
	assert_int_equal(take1(&g, T0 - 6, &id, &wait), SR_ECLOCK);
	assert_int_equal(wait, 6);

	/* 2000 ms back: an error that says how far. */
	char err[256] = "";
	size_t got = 99;
	int rv = flake_take(&g, T0 - 2000, 1, &id, &got, &wait, err, sizeof(err));
	assert_int_equal(rv, SR_ECLOCK);
	assert_int_equal(got, 0);
	assert_int_equal(wait, 2000);
	assert_string_equal(err, "clock is 2000 ms behind the last issued txid (tolerance 5 ms)");
	assert_int_equal(flake_last(&g), last);

	/* Caught up: issuing resumes above the last ID, in the same tick too. */
	assert_int_equal(take1(&g, T0, &id, &wait), SR_OK);
	assert_true(id > last);
	last = id;
	assert_int_equal(take1(&g, T0 + 1, &id, &wait), SR_OK);
	assert_true(id > last);

	/* Before the epoch, and past the end of the time range. */
	err[0] = '\0';
	rv = flake_take(&g, FLAKE_EPOCH_2024 - 1, 1, &id, &got, &wait, err, sizeof(err));
	assert_int_equal(rv, SR_ECLOCK);
	assert_non_null(strstr(err, "before the layout epoch"));
	sr_flake_layout small = mk(21, 20, 22, 1);
	flake_gen_init(&g, &small, 1, 0, 5);
	int64_t end = flake_tick_to_ms(&small, flake_max_tick(&small));
	assert_int_equal(take1(&g, end, &id, &wait), SR_OK);
	rv = flake_take(&g, end + 1, 1, &id, &got, &wait, err, sizeof(err));
	assert_int_equal(rv, SR_EEXHAUSTED);
	assert_non_null(strstr(err, "does not fit 21 time bits"));
}

static void
test_gen_floor(void **state)
{
	(void) state;
	sr_flake_layout l;
	flake_layout_default(&l);
	struct flake_gen g;
	uint64_t id, t;
	int64_t wait, now = T0;
	uint64_t now_tick = (uint64_t) flake_ms_to_tick(&l, now);

	/* A floor far ahead of the clock: refuse, do not issue. */
	flake_gen_init(&g, &l, 1, now_tick + 100, 5);
	assert_int_equal(take1(&g, now, &id, &wait), SR_ECLOCK);
	assert_int_equal(wait, 100);
	assert_int_equal(flake_last(&g),
	    flake_encode(&l, now_tick + 100, flake_max_worker(&l), flake_max_seq(&l)));

	/* A floor slightly ahead: wait, then issue above the floor. */
	uint64_t floor = now_tick + 3;
	flake_gen_init(&g, &l, 1, floor, 5);
	int waits = 0, rv;
	while ((rv = take1(&g, now, &id, &wait)) == FLAKE_WAIT) {
		assert_true(wait >= 1 && wait <= 5);
		now += wait;
		waits++;
		assert_true(waits < 10);
	}
	assert_int_equal(rv, SR_OK);
	assert_true(waits >= 1);
	flake_decode(&l, id, &t, NULL, NULL);
	assert_true(t > floor);
	assert_int_equal(t, floor + 1);
	assert_true(now <= T0 + 4); /* no longer than needed */

	/* Floor at the current tick: that tick is used up, the next is not. */
	flake_gen_init(&g, &l, 1, now_tick, 5);
	assert_int_equal(take1(&g, T0, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(take1(&g, T0 + 1, &id, &wait), SR_OK);
}

static void
test_gen_reset(void **state)
{
	(void) state;
	sr_flake_layout l;
	flake_layout_default(&l);
	struct flake_gen g;
	uint64_t id, t;
	uint32_t w;
	int64_t wait;
	uint64_t tick = (uint64_t) flake_ms_to_tick(&l, T0);
	flake_gen_init(&g, &l, 5, 0, 5);
	assert_int_equal(take1(&g, T0, &id, &wait), SR_OK);
	uint64_t before = flake_last(&g);

	/* New worker with a floor ahead: the state rises to the floor. */
	flake_gen_reset(&g, 6, tick + 2);
	uint64_t raised = flake_encode(&l, tick + 2, flake_max_worker(&l), flake_max_seq(&l));
	assert_int_equal(flake_last(&g), raised);
	assert_true(raised > before);
	assert_int_equal(take1(&g, T0 + 2, &id, &wait), FLAKE_WAIT);

	/* A lower floor never lowers the state, but the worker still changes. */
	flake_gen_reset(&g, 7, 0);
	assert_int_equal(flake_last(&g), raised);
	assert_int_equal(take1(&g, T0 + 3, &id, &wait), SR_OK);
	flake_decode(&l, id, &t, &w, NULL);
	assert_int_equal(t, tick + 3);
	assert_int_equal(w, 7);

	/* Switching to a lower worker id inside the same tick would issue IDs
	 * below the last one: wait for the next tick instead. */
	flake_gen_reset(&g, 2, 0);
	assert_int_equal(take1(&g, T0 + 3, &id, &wait), FLAKE_WAIT);
	assert_int_equal(wait, 1);
	uint64_t last = flake_last(&g);
	assert_int_equal(take1(&g, T0 + 4, &id, &wait), SR_OK);
	assert_true(id > last);
	flake_decode(&l, id, NULL, &w, NULL);
	assert_int_equal(w, 2);
	/* A higher one may go on in the same tick. */
	flake_gen_reset(&g, 3, 0);
	assert_int_equal(take1(&g, T0 + 4, &id, &wait), SR_OK);
	assert_true(id > last);

	/* A worker id too wide for the layout is refused, not truncated. */
	flake_gen_reset(&g, 1024, 0);
	assert_int_equal(take1(&g, T0 + 5, &id, &wait), SR_EINVAL);
}

static void
test_gen_batch(void **state)
{
	(void) state;
	sr_flake_layout l;
	flake_layout_default(&l);
	struct flake_gen g;
	flake_gen_init(&g, &l, 1, 0, 5);
	uint64_t *out = calloc(10000, sizeof(*out));
	assert_non_null(out);
	size_t got;
	int64_t wait;
	assert_int_equal(flake_take(&g, T0, 10000, out, &got, &wait, NULL, 0), SR_OK);
	assert_int_equal(got, 4096);
	for (size_t i = 1; i < got; i++)
		assert_int_equal(out[i], out[i - 1] + 1);
	assert_int_equal(flake_last(&g), out[got - 1]);
	assert_int_equal(flake_take(&g, T0, 10000, out, &got, &wait, NULL, 0), FLAKE_WAIT);
	assert_int_equal(got, 0);

	/* A batch starting mid-tick gets what is left of it. */
	uint64_t id;
	assert_int_equal(take1(&g, T0 + 1, &id, &wait), SR_OK);
	assert_int_equal(flake_take(&g, T0 + 1, 10000, out, &got, &wait, NULL, 0), SR_OK);
	assert_int_equal(got, 4095);
	assert_true(out[0] > id);
	/* A small batch is served whole. */
	assert_int_equal(flake_take(&g, T0 + 2, 10, out, &got, &wait, NULL, 0), SR_OK);
	assert_int_equal(got, 10);
	free(out);
}

/* ---- many threads, real clock ---- */

#define NTHREADS 8
#define PER_THREAD 100000

struct worker_arg {
	struct flake_gen *g;
	size_t batch;
	uint64_t *ids;
	int rv;          /* first unexpected result, SR_OK if none */
	bool increasing; /* every ID above the previous one of this thread */
	size_t stale;    /* SR_ECLOCK results cured by a fresh clock reading */
	char err[128];
};

static int64_t
real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cmocka's asserts are not for other threads: record and let main check. */
static void *
worker_main(void *p)
{
	struct worker_arg *a = p;
	size_t have = 0;
	int stale = 0;
	a->rv = SR_OK;
	a->increasing = true;
	while (have < PER_THREAD) {
		size_t n = PER_THREAD - have, got;
		int64_t wait;
		if (n > a->batch)
			n = a->batch;
		int rv = flake_take(a->g, real_ms(), n, a->ids + have, &got, &wait, a->err,
		    sizeof(a->err));
		if (rv == FLAKE_WAIT) {
			struct timespec ts = {wait / 1000, (wait % 1000) * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		/*
		 * A thread preempted after reading the clock looks to the
		 * generator like a clock step back, because other threads
		 * went on issuing later ticks meanwhile. A real step back
		 * persists; a stale reading does not.
		 */
		if (rv == SR_ECLOCK && ++stale < 5) {
			a->stale++;
			continue;
		}
		if (rv != SR_OK) {
			a->rv = rv;
			break;
		}
		stale = 0;
		for (size_t i = 0; i < got; i++)
			if (have + i > 0 && a->ids[have + i] <= a->ids[have + i - 1])
				a->increasing = false;
		have += got;
	}
	return NULL;
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;
	return a < b ? -1 : a > b;
}

static void
test_gen_parallel(void **state)
{
	(void) state;
	static const size_t batches[NTHREADS] = {1, 1, 1, 1, 3, 16, 100, 5000};
	sr_flake_layout l;
	flake_layout_default(&l);
	struct flake_gen g;
	flake_gen_init(&g, &l, 77, 0, 5);
	uint64_t *all = malloc(sizeof(uint64_t) * NTHREADS * PER_THREAD);
	assert_non_null(all);
	struct worker_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	int64_t t_start = real_ms();
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct worker_arg) {.g = &g,
		    .batch = batches[i],
		    .ids = all + (size_t) i * PER_THREAD};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	int64_t took = real_ms() - t_start;
	size_t stale = 0;
	for (int i = 0; i < NTHREADS; i++) {
		if (args[i].rv != SR_OK)
			fail_msg("thread %d: %s: %s", i, sr_errname(args[i].rv), args[i].err);
		assert_true(args[i].increasing);
		stale += args[i].stale;
	}
	size_t total = (size_t) NTHREADS * PER_THREAD;
	qsort(all, total, sizeof(all[0]), cmp_u64);
	for (size_t i = 0; i < total; i++) {
		if (i > 0 && all[i] == all[i - 1])
			fail_msg("duplicate txid %" PRIu64, all[i]);
		uint32_t w;
		flake_decode(&l, all[i], NULL, &w, NULL);
		assert_int_equal(w, 77);
	}
	assert_int_equal(flake_last(&g), all[total - 1]);
	print_message("%zu unique txids from %d threads in %" PRId64
	              " ms (%zu stale clock readings retried)\n",
	    total, NTHREADS, took, stale);
	free(all);
}

/* Layouts that cannot work are refused with the reason (issue 10): an epoch
 * ahead of the clock, a range already over, or one ending within the
 * minimum life. */
static void
test_layout_check_time(void **state)
{
	(void) state;
	const int64_t now = INT64_C(1796256000000); /* 2026-12-01 */
	const int64_t life = FLAKE_MIN_LIFE_YEARS * FLAKE_YEAR_MS;
	sr_flake_layout l;
	char err[256];
	flake_layout_default(&l);
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, err, sizeof(err)), SR_OK);
	/* Epoch ahead: by the skew allowed, fine; beyond, or far out, refused. */
	l.epoch_ms = now + 2000;
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, err, sizeof(err)), SR_OK);
	int64_t ahead[] = {now + 2001, now + 86400000, INT64_MAX / 2, INT64_MAX};
	for (size_t i = 0; i < sizeof(ahead) / sizeof(ahead[0]); i++) {
		l.epoch_ms = ahead[i];
		assert_int_equal(flake_layout_check_time(&l, now, 2000, life, err, sizeof(err)),
		    SR_EINVAL);
		assert_non_null(strstr(err, "in the future"));
	}
	/* Over: 41 bits of 1 ms from 1950 ended in 2019. */
	assert_int_equal(flake_layout_parse("41/10/12/1/1950-01-01T00:00:00Z", &l, NULL, 0), SR_OK);
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "already over"));
	/* Too short: 38 bits of 1 ms from 2024 end in 2032. */
	assert_int_equal(flake_layout_parse("38/13/12", &l, NULL, 0), SR_OK);
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "too soon"));
	assert_non_null(strstr(err, "10 years"));
	/* 39 bits of 10 ms (Sonyflake's) last 174 years; a huge unit saturates. */
	assert_int_equal(flake_layout_parse("39/16/8/10", &l, NULL, 0), SR_OK);
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, NULL, 0), SR_OK);
	assert_int_equal(flake_layout_parse("41/10/12/3600000", &l, NULL, 0), SR_OK);
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, NULL, 0), SR_OK);
	/* A very negative epoch: far in the past, its range long over. */
	l.epoch_ms = INT64_MIN;
	l.unit_ms = 1;
	assert_int_equal(flake_layout_check_time(&l, now, 2000, life, NULL, 0), SR_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codec),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_layout_check),
	    cmocka_unit_test(test_layout_parse_good),
	    cmocka_unit_test(test_layout_parse_bad),
	    cmocka_unit_test(test_gen_increasing),
	    cmocka_unit_test(test_gen_seq_overflow),
	    cmocka_unit_test(test_gen_clock_back),
	    cmocka_unit_test(test_gen_floor),
	    cmocka_unit_test(test_gen_reset),
	    cmocka_unit_test(test_gen_batch),
	    cmocka_unit_test(test_gen_parallel),
	    cmocka_unit_test(test_layout_check_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
