/*
 * The coordinator's worker-id lease and txid policy (worker.h). The master
 * link feeds it grants; sr_next_txid takes txids from it.
 */
#include "worker.h"

#include <time.h>

#include "log.h"
#include "snowrange/error.h"
#include "util.h"
#include "wire.h" /* WIRE_MAX_COUNT */

/* Error messages: util.h's one helper (see SR_ERRF there). */
#define errf SR_ERRF

/* How long past a master's promised grant (worker_grant.wait_ms) a txid
 * call still waits for it: the heartbeat that fetches it goes a moment
 * after the promise (link.c) and needs a round trip. */
#define GRANT_SLACK_MS 1000

/* How often a txid call waiting for a promised grant looks again. */
#define GRANT_POLL_US 5000

void
worker_init(struct worker_lease *w, const char *name, int max_clock_back_ms, int lease_timeout_ms,
    uint64_t txid_floor, sr_log_fn log_fn, void *log_arg)
{
	w->has_layout = false;
	atomic_init(&w->has_worker, false);
	atomic_init(&w->lease_until_us, 0);
	atomic_init(&w->clock_offset_ms, 0);
	atomic_init(&w->wall_skew_ms, 0);
	atomic_init(&w->grant_floor, 0);
	atomic_init(&w->grant_due_us, 0);
	w->max_clock_back_ms = max_clock_back_ms;
	w->lease_timeout_ms = lease_timeout_ms;
	w->txid_floor = txid_floor;
	w->name = name;
	w->log_fn = log_fn;
	w->log_arg = log_arg;
}

/* The wall clock behind txids: CLOCK_REALTIME, shifted only by tests. */
static int64_t
wall_us(struct worker_lease *w)
{
	return sr_wall_us() + atomic_load(&w->wall_skew_ms) * 1000;
}

static int64_t
wall_ms(struct worker_lease *w)
{
	return wall_us(w) / 1000;
}

void
worker_debug_clock_offset(struct worker_lease *w, int64_t offset_ms)
{
	atomic_store(&w->wall_skew_ms, offset_ms);
}

/* How long our view of a worker lease granted or renewed under ttl_ms
 * lasts from the request's send time: the TTL less a fifth, a margin that
 * covers clock rate differences and scheduling delays. */
static int64_t
lease_view_us(uint32_t ttl_ms)
{
	return (int64_t) ttl_ms * 1000 - (int64_t) ttl_ms * 1000 / 5;
}

/*
 * The view is set, never kept from an earlier reply: a master restarted with
 * a shorter TTL shortens it at the first reply. A new worker id (or the
 * first) goes through flake_gen_reset with its floor, raised to the tick of
 * the caller's last logged txid; the lease is closed while that happens.
 */
int
worker_apply(struct worker_lease *w, const sr_flake_layout *layout, const struct worker_grant *g,
    int64_t sent_us, uint32_t ttl_ms, char *errbuf, size_t errlen)
{
	if (layout != NULL && !w->has_layout) {
		if (flake_layout_check(layout, errbuf, errlen) != SR_OK)
			return SR_EPROTO;
		/* No worker yet: lease_until_us = 0 blocks every take until a
		 * grant resets the generator (a reset only ever raises it). */
		flake_gen_init(&w->gen, layout, 0, 0, w->max_clock_back_ms);
		w->has_layout = true;
	}
	if (!w->has_layout)
		return errf(errbuf, errlen, SR_EPROTO, "master sent no Snowflake layout");
	if (g == NULL || !g->has) {
		/* A master that waits for claims names when it grants: txid
		 * calls wait for that rather than fail (worker_next_txids). */
		atomic_store(&w->grant_due_us,
		    g != NULL && g->wait_ms > 0
		        ? sr_mono_us() + ((int64_t) g->wait_ms + GRANT_SLACK_MS) * 1000
		        : 0);
		atomic_store(&w->lease_until_us, 0);
		if (atomic_exchange(&w->has_worker, false))
			sr_log_to(w->log_fn, w->log_arg, SR_LOG_WARN, w->name,
			    "worker id %u lost: the master granted none (no txids until "
			    "it grants one)",
			    atomic_load(&w->gen.worker));
		return SR_OK;
	}
	if (g->worker_id > flake_max_worker(&w->gen.layout))
		return errf(errbuf, errlen, SR_EPROTO, "worker id %u does not fit", g->worker_id);
	int64_t until = sent_us + lease_view_us(ttl_ms);
	bool same = atomic_load(&w->has_worker) && atomic_load(&w->gen.worker) == g->worker_id;
	/* A new worker id: no txid until the generator runs under it. */
	if (!same)
		atomic_store(&w->lease_until_us, 0);
	/* Every grant's floor is applied, a renewal's (0) included: the same id
	 * may come back after another node held it, and a reset only raises. */
	uint64_t floor = g->floor_tick, logged = 0;
	if (w->txid_floor != 0)
		flake_decode(&w->gen.layout, w->txid_floor, &logged, NULL, NULL);
	if (logged > floor)
		floor = logged;
	flake_gen_reset(&w->gen, g->worker_id, floor);
	if (!same || g->floor_tick != 0)
		atomic_store(&w->grant_floor, g->floor_tick);
	if (!same || g->floor_tick != 0)
		sr_log_to(w->log_fn, w->log_arg, SR_LOG_INFO, w->name,
		    "worker id %u, issuing above tick %llu", g->worker_id,
		    (unsigned long long) floor);
	atomic_store(&w->has_worker, true);
	atomic_store(&w->lease_until_us, until);
	atomic_store(&w->grant_due_us, 0);
	return SR_OK;
}

/*
 * The tick to report: the highest we issued or could issue right now. A
 * generator that issued nothing above its grant's floor holds the floor
 * encoding, which may lie up to a TTL ahead of the clock: that is no tick we
 * used, and the master refuses reports too far ahead of its clock
 * (docs/decisions.md), so only the clock counts then.
 */
uint64_t
worker_report_tick(struct worker_lease *w)
{
	if (!w->has_layout)
		return 0;
	uint64_t last = 0;
	flake_decode(&w->gen.layout, flake_last(&w->gen), &last, NULL, NULL);
	if (last <= atomic_load(&w->grant_floor))
		last = 0;
	int64_t now = flake_ms_to_tick(&w->gen.layout, wall_ms(w));
	if (now > 0 && (uint64_t) now > last && (uint64_t) now <= flake_max_tick(&w->gen.layout))
		last = (uint64_t) now;
	/* The floor encoding before any grant is not a tick anyone used. */
	return atomic_load(&w->has_worker) ? last : 0;
}

/*
 * A claim tells a master that lost its state which id we issue under, so
 * it gives that id to nobody else while we may. The time left is rounded
 * up (the master must not count our lease shorter than we do) and read
 * before the tick, so that no txid we issue under this view lies beyond
 * the tick plus what is left.
 */
bool
worker_claim(struct worker_lease *w, uint32_t *id, uint64_t *tick, int64_t *left_ms)
{
	if (!atomic_load(&w->has_worker))
		return false;
	int64_t left = atomic_load(&w->lease_until_us) - sr_mono_us();
	*left_ms = left > 0 ? (left + 999) / 1000 : 0;
	*id = atomic_load(&w->gen.worker);
	*tick = worker_report_tick(w);
	return true;
}

uint64_t
worker_end(struct worker_lease *w)
{
	atomic_store(&w->lease_until_us, 0);
	uint64_t tick = worker_report_tick(w); /* after the lease closed */
	atomic_store(&w->has_worker, false);
	return tick;
}

int
worker_next_txids(struct worker_lease *w, size_t n, uint64_t *out, size_t *got)
{
	size_t have = 0, dummy;
	if (got == NULL)
		got = &dummy;
	*got = 0;
	if (out == NULL || n == 0 || n > WIRE_MAX_COUNT)
		return SR_EINVAL;
	int rv = SR_OK, stale = 0;
	int64_t deadline = 0; /* read only when a wait comes up */
	while (have < n) {
		/* Clock first, lease second: a tick read while the lease was
		 * still live lies below the next holder's floor, however long
		 * this thread is delayed before the compare-and-swap. */
		int64_t now = wall_ms(w);
		int64_t mono = sr_mono_us();
		if (mono >= atomic_load(&w->lease_until_us)) {
			/* No worker id yet, but the master promised one (it
			 * waits for claims, docs/snowflake.md): wait for it up
			 * to the lease timeout, as a sequence call waits for a
			 * chunk, instead of failing a brand-new cluster's first
			 * calls. */
			int64_t due = atomic_load(&w->grant_due_us);
			if (due != 0 && deadline == 0)
				deadline = mono + (int64_t) w->lease_timeout_ms * 1000;
			if (due != 0 && mono < due && mono < deadline) {
				struct timespec ts = {0, GRANT_POLL_US * 1000};
				nanosleep(&ts, NULL);
				continue;
			}
			rv = SR_ENOWORKER;
			break;
		}
		size_t k = 0;
		int64_t wait = 0;
		rv = flake_take(&w->gen, now, n - have, out + have, &k, &wait, NULL, 0);
		if (rv == SR_OK) {
			have += k;
			stale = 0;
			continue;
		}
		/* A thread delayed between reading the clock and taking sees
		 * ticks other threads issued meanwhile, which looks like a clock
		 * step back: only a step that persists over fresh readings is. */
		if (rv == SR_ECLOCK && ++stale < 3)
			continue;
		/* Behind the floor of a fresh grant (a quick restart), with
		 * nothing issued above it yet: that is no clock fault, the grant
		 * becomes usable when the clock passes the floor. Wait up to the
		 * lease timeout for it. Once txids were issued above the floor, a
		 * clock behind them is a clock fault again. */
		uint64_t floor = atomic_load(&w->grant_floor), last_tick;
		flake_decode(&w->gen.layout, flake_last(&w->gen), &last_tick, NULL, NULL);
		if (rv == SR_ECLOCK && last_tick <= floor &&
		    flake_ms_to_tick(&w->gen.layout, now) <= (int64_t) floor) {
			if (deadline == 0)
				deadline = sr_mono_us() + (int64_t) w->lease_timeout_ms * 1000;
			/* Compared as a quotient: wait may be anything up to
			 * the distance to a far-off epoch, and wait * 1000
			 * overflowed (issue 10). */
			if (wait > (deadline - sr_mono_us()) / 1000) {
				rv = SR_ENOWORKER;
				break;
			}
			rv = FLAKE_WAIT;
		}
		if (rv != FLAKE_WAIT) {
			if (rv == SR_ECLOCK) {
				atomic_store(&w->clock_offset_ms, wait);
				atomic_fetch_add_explicit(&w->clock_backs, 1, memory_order_relaxed);
			}
			break;
		}
		stale = 0;
		rv = SR_OK;
		/* Sleep until the moment flake_take named (now + wait, a tick
		 * boundary when a tick's sequences ran out), not wait ms from
		 * here: the time since now was read would be lost every tick.
		 * At most a second per sleep, whatever the layout says: the loop
		 * then reads the clock and the lease again, so no request sleeps
		 * without bound (issue 10: an epoch far ahead overflowed this). */
		int64_t left_us = wait > 1000 ? INT64_C(1000000) : (now + wait) * 1000 - wall_us(w);
		if (left_us > 1000000)
			left_us = 1000000;
		if (left_us > 0) {
			struct timespec ts = {(time_t) (left_us / 1000000),
			    (long) (left_us % 1000000) * 1000};
			nanosleep(&ts, NULL);
		}
	}
	*got = have;
	/* One relaxed add per call, not per txid: the call did a CAS per
	 * batch already. */
	if (have > 0)
		atomic_fetch_add_explicit(&w->issued, have, memory_order_relaxed);
	return rv;
}

void
worker_layout(const struct worker_lease *w, sr_flake_layout *out)
{
	*out = w->gen.layout;
}

int
worker_current_id(struct worker_lease *w, uint32_t *id)
{
	if (sr_mono_us() >= atomic_load(&w->lease_until_us))
		return SR_ENOWORKER;
	*id = atomic_load(&w->gen.worker);
	return SR_OK;
}

int64_t
worker_clock_offset_ms(struct worker_lease *w)
{
	return atomic_load(&w->clock_offset_ms);
}
