/* The per-sequence chunk cache: lock-free fast path, mutex slow path. */
#include "cache.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "snowrange/error.h"
#include "util.h"

/* Outcome of one fast-path attempt. */
enum { TRY_OK, TRY_EMPTY, TRY_RACE };

static uint64_t
prefetch_point(uint64_t c, double at)
{
	uint64_t pf = (uint64_t) ((double) c * at + 0.999999);
	return pf < 1 ? 1 : pf > c ? c : pf;
}

int
cache_seq_init(struct cache_seq *s, const char *name, double prefetch_at, cache_notify_fn notify,
    void *arg)
{
	memset(s, 0, sizeof(*s));
	sr_strlcpy(s->name, name, sizeof(s->name));
	s->prefetch_at = prefetch_at;
	s->notify = notify;
	s->notify_arg = arg;
	/* Epoch 0 is the empty chunk (c = 0): every take goes to the slow path. */
	for (int i = 0; i < CACHE_RING; i++)
		atomic_init(&s->ring[i].epoch, i == 0 ? 0 : UINT64_MAX);
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return SR_ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rv = pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rv != 0) {
		pthread_mutex_destroy(&s->mu);
		return SR_ENOMEM;
	}
	return SR_OK;
}

void
cache_seq_destroy(struct cache_seq *s)
{
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

static void
want(struct cache_seq *s)
{
	if (!atomic_exchange_explicit(&s->want, true, memory_order_acq_rel))
		s->notify(s->notify_arg, s);
}

/* One fetch-add on the current chunk, unless the chunk is seen used up:
 * then nothing is added, which bounds the word (proof in cache.h). What was
 * taken is one segment of the chunk (common/segment.h): its IDs are never
 * written out here, so a call for a million IDs costs what a call for one
 * does. */
static int
try_take(struct cache_seq *s, size_t n, sr_id_segment *seg)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
	uint64_t i0 = w & CACHE_IDX_MASK;
	struct cache_desc *d = &s->ring[(w >> CACHE_IDX_BITS) % CACHE_RING];
	if (i0 >= CACHE_MAX_CHUNK || i0 >= atomic_load_explicit(&d->c, memory_order_relaxed))
		return TRY_EMPTY;
	w = atomic_fetch_add_explicit(&s->word, n, memory_order_acquire);
	uint64_t e = w >> CACHE_IDX_BITS;
	i0 = w & CACHE_IDX_MASK;
	d = &s->ring[e % CACHE_RING];
	struct range_chunk ch;
	ch.c = atomic_load_explicit(&d->c, memory_order_relaxed);
	if (i0 >= ch.c)
		return TRY_EMPTY;
	ch.start = atomic_load_explicit(&d->start, memory_order_relaxed);
	ch.n = atomic_load_explicit(&d->n, memory_order_relaxed);
	ch.k = atomic_load_explicit(&d->k, memory_order_relaxed);
	uint64_t pf = atomic_load_explicit(&d->pf, memory_order_relaxed);
	/* Seqlock check: the slot must still describe epoch e. */
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&d->epoch, memory_order_relaxed) != e)
		return TRY_RACE;
	uint64_t take = ch.c - i0 < n ? ch.c - i0 : n;
	*seg = seg_of_chunk(&ch, i0, take);
	/* Exactly one caller crosses the prefetch point of a chunk. */
	if (i0 < pf && i0 + take >= pf)
		want(s);
	return TRY_OK;
}

/* Swaps the prefetched chunk in as epoch e+1. Called with mu held. */
static void
install_next(struct cache_seq *s, uint64_t e)
{
	uint64_t ne = (e + 1) & (UINT64_MAX >> CACHE_IDX_BITS);
	/* Every ID of the chunk going out was taken: count them here, off
	 * the fast path (docs/http.md, metrics). */
	s->retired += atomic_load_explicit(&s->ring[e % CACHE_RING].c, memory_order_relaxed);
	struct cache_desc *d = &s->ring[ne % CACHE_RING];
	atomic_store_explicit(&d->epoch, UINT64_MAX, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&d->start, s->next.start, memory_order_relaxed);
	atomic_store_explicit(&d->n, s->next.n, memory_order_relaxed);
	atomic_store_explicit(&d->k, s->next.k, memory_order_relaxed);
	atomic_store_explicit(&d->c, s->next.c, memory_order_relaxed);
	/* No prefetch point at all when the sequence leases on demand. */
	atomic_store_explicit(&d->pf,
	    s->next_no_prefetch ? UINT64_MAX : prefetch_point(s->next.c, s->prefetch_at),
	    memory_order_relaxed);
	atomic_store_explicit(&d->epoch, ne, memory_order_release);
	/* A plain store is right: every index of epoch e was already taken
	 * (that is why we are here), so increments it overwrites were all
	 * past the chunk's end and their callers are on the slow path. */
	atomic_store_explicit(&s->word, ne << CACHE_IDX_BITS, memory_order_release);
	s->has_next = false;
}

/* Makes an empty chunk current as epoch e+1 and forgets the next one, so
 * every caller goes to the slow path. Called with mu held. A caller whose
 * fetch-add came before the store still returns its ID of the old chunk
 * (that call happened before the discard); one after it sees the empty
 * chunk. The new epoch starts at index 0 like any other (cache.h). */
static void
discard_held(struct cache_seq *s)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
	uint64_t ne = ((w >> CACHE_IDX_BITS) + 1) & (UINT64_MAX >> CACHE_IDX_BITS);
	uint64_t oc = atomic_load_explicit(&s->ring[(w >> CACHE_IDX_BITS) % CACHE_RING].c,
	    memory_order_relaxed);
	s->retired += (w & CACHE_IDX_MASK) < oc ? (w & CACHE_IDX_MASK) : oc;
	struct cache_desc *d = &s->ring[ne % CACHE_RING];
	atomic_store_explicit(&d->epoch, UINT64_MAX, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&d->start, 0, memory_order_relaxed);
	atomic_store_explicit(&d->n, 1, memory_order_relaxed);
	atomic_store_explicit(&d->k, 0, memory_order_relaxed);
	atomic_store_explicit(&d->c, 0, memory_order_relaxed);
	atomic_store_explicit(&d->pf, UINT64_MAX, memory_order_relaxed);
	atomic_store_explicit(&d->epoch, ne, memory_order_release);
	atomic_store_explicit(&s->word, ne << CACHE_IDX_BITS, memory_order_release);
	s->has_next = false;
}

static void
add_ms_deadline(struct timespec *ts, int64_t deadline_us)
{
	ts->tv_sec = (time_t) (deadline_us / 1000000);
	ts->tv_nsec = (long) (deadline_us % 1000000) * 1000;
}

/*
 * One round of waiting for the fetcher, under s->mu: asks for a lease and
 * sleeps until signalled or until deadline_us. *waited_from is set to when
 * the first round began. Returns SR_EUNAVAILABLE once the deadline has
 * passed, SR_OK to look again.
 */
static int
wait_for_fetch(struct cache_seq *s, int64_t deadline_us, int64_t *waited_from, bool *tried)
{
	int64_t now = sr_mono_us();
	if (*waited_from == 0)
		*waited_from = now;
	if (now >= deadline_us) {
		want(s);
		return SR_EUNAVAILABLE;
	}
	/* Nobody has begun the lease this caller waits for: lease here
	 * (cache_fetch_fn) instead of waking the fetcher, once per call, so
	 * that a master that fails is retried at the fetcher's pace and not
	 * in a loop of callers. */
	if (s->fetch != NULL && !*tried && !s->leasing && !s->has_next) {
		*tried = true;
		s->leasing = true;
		atomic_store_explicit(&s->want, true, memory_order_release);
		pthread_mutex_unlock(&s->mu);
		s->fetch(s->notify_arg, s, deadline_us);
		pthread_mutex_lock(&s->mu);
		s->leasing = false;
		/* Declined, or failed and wanted again: the fetcher may have
		 * looked while this lease was under way, so tell it again. */
		if (!s->has_next && atomic_load_explicit(&s->want, memory_order_acquire))
			s->notify(s->notify_arg, s);
		return SR_OK;
	}
	want(s);
	struct timespec ts;
	add_ms_deadline(&ts, deadline_us);
	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	return SR_OK;
}

/* Counts a caller's wait that began at waited_from (0: it did not wait),
 * under s->mu. */
static void
note_wait(struct cache_seq *s, int64_t waited_from)
{
	if (waited_from == 0)
		return;
	uint64_t us = (uint64_t) (sr_mono_us() - waited_from);
	s->waits++;
	if (us > s->max_wait_us)
		s->max_wait_us = us;
	if (s->wait_hist != NULL)
		metrics_observe(s->wait_hist, us);
}

/* Makes a chunk with free IDs current, waiting until the deadline. */
static int
refill(struct cache_seq *s, int64_t deadline_us)
{
	int64_t waited_from = 0;
	bool tried = false;
	int rv = SR_OK;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
		uint64_t e = w >> CACHE_IDX_BITS;
		const struct cache_desc *d = &s->ring[e % CACHE_RING];
		if ((w & CACHE_IDX_MASK) < atomic_load_explicit(&d->c, memory_order_relaxed))
			break; /* another caller swapped already */
		if (s->has_next) {
			install_next(s, e);
			break;
		}
		if (s->err != SR_OK) {
			rv = s->err;
			break;
		}
		if ((rv = wait_for_fetch(s, deadline_us, &waited_from, &tried)) != SR_OK)
			break;
	}
	note_wait(s, waited_from);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

int
cache_next_segs(struct cache_seq *s, size_t n, sr_id_segment *segs, size_t max_segs, size_t *nsegs,
    size_t *got, int64_t timeout_us)
{
	size_t have = 0, k = 0;
	int rv = SR_OK;
	/* The clock is read only when a wait may follow: the fast path makes
	 * no system call (a clock read was most of its cost). */
	int64_t deadline_us = 0;
	unsigned swaps = 0;
	if (n > CACHE_MAX_BATCH)
		n = CACHE_MAX_BATCH;
	while (have < n) {
		/* At most one segment per epoch (a take short of n used the
		 * chunk up), so CACHE_MAX_SWAPS + 1 segments never run out. */
		if (k == max_segs) {
			rv = SR_ETOOBIG;
			break;
		}
		switch (try_take(s, n - have, &segs[k])) {
		case TRY_OK: have += (size_t) segs[k++].count; continue;
		case TRY_RACE: continue;
		case TRY_EMPTY: break;
		}
		/* Each chunk swapped in is a lease at the master: bound them
		 * per call, so one request on a tiny chunk size cannot make
		 * thousands of commits (docs/decisions.md). */
		if (swaps++ >= CACHE_MAX_SWAPS) {
			rv = SR_ETOOBIG;
			break;
		}
		if (deadline_us == 0)
			deadline_us = sr_mono_us() + timeout_us;
		if ((rv = refill(s, deadline_us)) != SR_OK)
			break;
	}
	*nsegs = k;
	*got = have;
	return rv;
}

int
cache_take_chunk(struct cache_seq *s, struct range_chunk *out, int64_t timeout_us)
{
	int64_t deadline_us = sr_mono_us() + timeout_us;
	int64_t waited_from = 0;
	bool tried = false;
	int rv = SR_OK;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->has_next) {
			*out = s->next;
			s->has_next = false;
			/* The caller holds it now; lease the next one ahead, as
			 * install_next's prefetch point would. */
			if (!s->next_no_prefetch)
				want(s);
			break;
		}
		if (s->err != SR_OK) {
			rv = s->err;
			break;
		}
		if ((rv = wait_for_fetch(s, deadline_us, &waited_from, &tried)) != SR_OK)
			break;
	}
	note_wait(s, waited_from);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

int
cache_next(struct cache_seq *s, size_t n, uint64_t *out, size_t *got, int64_t timeout_us)
{
	sr_id_segment segs[CACHE_MAX_SWAPS + 1];
	size_t nsegs, have;
	int rv = cache_next_segs(s, n, segs, CACHE_MAX_SWAPS + 1, &nsegs, &have, timeout_us);
	*got = seg_expand(segs, nsegs, out, have);
	return rv;
}

int
cache_next_one(struct cache_seq *s, uint64_t *out, int64_t timeout_us)
{
	sr_id_segment seg;
	if (try_take(s, 1, &seg) == TRY_OK) {
		*out = seg.first;
		return SR_OK;
	}
	size_t got;
	return cache_next(s, 1, out, &got, timeout_us);
}

bool
cache_take_want(struct cache_seq *s)
{
	if (!atomic_load_explicit(&s->want, memory_order_acquire))
		return false;
	pthread_mutex_lock(&s->mu);
	bool fetch = !s->has_next && !s->leasing;
	if (fetch)
		s->leasing = true;
	/* The flag stays set while a lease is under way, so callers do not
	 * notify again; cache_offer and cache_fail clear it. */
	else if (s->has_next)
		atomic_store_explicit(&s->want, false, memory_order_release);
	pthread_mutex_unlock(&s->mu);
	return fetch;
}

void
cache_lease_done(struct cache_seq *s)
{
	pthread_mutex_lock(&s->mu);
	s->leasing = false;
	pthread_mutex_unlock(&s->mu);
}

void
cache_seq_set_fetch(struct cache_seq *s, cache_fetch_fn fn)
{
	s->fetch = fn;
}

void
cache_rewant(struct cache_seq *s)
{
	atomic_store_explicit(&s->want, true, memory_order_release);
}

uint64_t
cache_after(struct cache_seq *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t a = s->newest_end;
	pthread_mutex_unlock(&s->mu);
	return a;
}

int
cache_offer(struct cache_seq *s, const struct range_chunk *ch)
{
	struct cache_lease l = {.chunk = *ch};
	return cache_offer_lease(s, &l);
}

int
cache_offer_lease(struct cache_seq *s, const struct cache_lease *l)
{
	const struct range_chunk *ch = &l->chunk;
	int rv = SR_OK;
	pthread_mutex_lock(&s->mu);
	if (s->has_next || ch->start < s->newest_end || !range_chunk_valid(ch, RANGE_ID_MAX) ||
	    ch->c > CACHE_MAX_CHUNK) {
		rv = SR_EINVAL;
	} else {
		if (l->seq_start != 0) {
			if (s->seq_start != 0 && s->seq_start != l->seq_start)
				discard_held(s);
			s->seq_start = l->seq_start;
		}
		s->next = *ch;
		s->next_no_prefetch = l->no_prefetch;
		s->has_next = true;
		s->newest_end = range_end(ch);
		s->err = SR_OK;
		pthread_cond_broadcast(&s->cv);
	}
	atomic_store_explicit(&s->want, false, memory_order_release);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

void
cache_fail(struct cache_seq *s, int err)
{
	pthread_mutex_lock(&s->mu);
	s->err = err;
	atomic_store_explicit(&s->want, false, memory_order_release);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void
cache_forget_next(struct cache_seq *s)
{
	pthread_mutex_lock(&s->mu);
	s->has_next = false;
	pthread_mutex_unlock(&s->mu);
}

bool
cache_sync(struct cache_seq *s, uint64_t start)
{
	bool changed = false;
	pthread_mutex_lock(&s->mu);
	if (start == 0) {
		if (s->err != SR_ENOTFOUND) {
			discard_held(s);
			s->err = SR_ENOTFOUND;
			atomic_store_explicit(&s->want, false, memory_order_release);
			changed = true;
		}
	} else {
		bool other = s->seq_start != 0 && s->seq_start != start;
		if (other)
			discard_held(s);
		/* Exhausted or not found were said of the old sequence. */
		if (other || s->err == SR_ENOTFOUND) {
			s->err = SR_OK;
			changed = true;
		}
		s->seq_start = start;
	}
	if (changed)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return changed;
}

uint64_t
cache_seq_start(struct cache_seq *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t v = s->seq_start;
	pthread_mutex_unlock(&s->mu);
	return v;
}

void
cache_view(struct cache_seq *s, struct cache_view *v)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&s->mu);
	uint64_t w = atomic_load(&s->word);
	uint64_t e = w >> CACHE_IDX_BITS;
	const struct cache_desc *d = &s->ring[e % CACHE_RING];
	v->cur.c = atomic_load(&d->c);
	if (v->cur.c > 0 && e != 0) {
		v->has_cur = true;
		v->cur.start = atomic_load(&d->start);
		v->cur.n = atomic_load(&d->n);
		v->cur.k = atomic_load(&d->k);
		uint64_t used = w & CACHE_IDX_MASK;
		v->used = used < v->cur.c ? used : v->cur.c;
	}
	v->has_next = s->has_next;
	v->next = s->next;
	v->issued = s->retired + v->used;
	pthread_mutex_unlock(&s->mu);
}
