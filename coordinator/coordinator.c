/*
 * libsnowrange's coordinator: the handle, the sequence table, and the
 * background fetcher thread that leases chunks and sends heartbeats. The
 * per-sequence fast path lives in cache.c, the master round trips in link.c
 * and the worker-id lease and txid policy in worker.c; this file holds them
 * together.
 */
#include "snowrange/coordinator.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "coord_metrics.h"
#include "coordinator_hooks.h"
#include "creds.h"
#include "flake.h"
#include "link.h"
#include "log.h"
#include "util.h"
#include "wire.h"
#include "worker.h"

/* Open addressing, never shrinking, doubling when 3/4 full: lookups are
 * lock-free (see struct seq_table). */
#define SEQ_SLOTS_MIN 4096
/* Sequences named per heartbeat: 512 names of at most 64 bytes keep the
 * request well below the 64 KiB limit (docs/protocol.md). */
#define BEAT_SEQS_MAX 512
#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000
#define BEAT_RETRY_MS 200

struct sr_sequence {
	struct cache_seq cache; /* first: cache callbacks cast back */
	sr_coordinator *owner;
};

/*
 * The sequence table. Growing copies the entries into a table twice the
 * size and publishes it with one release store; the entries themselves are
 * never moved or freed before sr_coordinator_close, so handles stay valid
 * and a reader still probing an older table finds every entry that was in
 * it. Older tables are kept (linked by `older`, half the size each, so all
 * of them together take less than the current one) until close, because a
 * lock-free reader may still be in one. A reader that misses an entry added
 * after it loaded the table takes the slow path, which looks again under
 * the mutex (seq_get).
 */
struct seq_table {
	struct seq_table *older;
	size_t cap; /* a power of two */
	_Atomic(struct sr_sequence *) slots[];
};

struct sr_coordinator {
	uint64_t serial; /* unique per process, never 0: see last_seq */
	char master_url[256];
	char name[SR_NAME_MAX + 1];
	char listen_url[256];
	int rpc_timeout_ms, lease_timeout_ms, join_timeout_ms;
	double prefetch_at;

	struct creds *creds;        /* outlives link.chan */
	struct master_link link;    /* node id, joins, leases, heartbeats */
	struct worker_lease worker; /* the worker id and txids under it */
	sr_log_fn log_fn;           /* NULL: stderr (snowrange/log.h) */
	void *log_arg;

	struct metrics_hist wait_hist;     /* callers that waited for a chunk */
	_Atomic(struct seq_table *) table; /* grown under mu */
	size_t nseqs;                      /* guarded by mu */
	size_t beat_slot;                  /* where the next heartbeat's sequence list begins */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, kick;
};

void
sr_coordinator_config_init(sr_coordinator_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rpc_timeout_ms = 2000;
	cfg->lease_timeout_ms = 3000;
	cfg->prefetch_at = 0.5;
	cfg->join_timeout_ms = 10000;
	cfg->max_clock_back_ms = FLAKE_MAX_BACK_MS_DEFAULT;
}

/* Error messages: util.h's one helper (see SR_ERRF there). */
#define errf SR_ERRF

static uint64_t
name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t) *s) * 1099511628211ull;
	return h;
}

static struct seq_table *
table_new(size_t cap)
{
	struct seq_table *t = calloc(1, sizeof(*t) + cap * sizeof(t->slots[0]));
	if (t != NULL)
		t->cap = cap;
	return t;
}

static struct seq_table *
table_of(sr_coordinator *c)
{
	return atomic_load_explicit(&c->table, memory_order_acquire);
}

/* Puts s into t; t has a free slot. Called with mu held (or before t is
 * published). */
static void
table_put(struct seq_table *t, struct sr_sequence *s)
{
	uint64_t i = name_hash(s->cache.name);
	while (atomic_load_explicit(&t->slots[i % t->cap], memory_order_relaxed) != NULL)
		i++;
	atomic_store_explicit(&t->slots[i % t->cap], s, memory_order_release);
}

/* Makes room for one more entry, doubling the table at 3/4 full. Called
 * with mu held. */
static int
table_reserve(sr_coordinator *c)
{
	struct seq_table *t = table_of(c);
	if (c->nseqs + 1 <= t->cap / 4 * 3)
		return SR_OK;
	if (t->cap > SIZE_MAX / 2 / sizeof(t->slots[0]))
		return SR_ENOMEM;
	struct seq_table *nt = table_new(t->cap * 2);
	if (nt == NULL)
		return SR_ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		struct sr_sequence *s = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
		if (s != NULL)
			table_put(nt, s);
	}
	nt->older = t;
	atomic_store_explicit(&c->table, nt, memory_order_release);
	return SR_OK;
}

/*
 * The sequence this thread last named in sr_next_id(s): an application
 * that asks by name, mostly for one sequence, pays one strcmp instead of
 * validating the name, hashing it and probing the table (half the cost of
 * a call; docs/benchmarks.md, "Lookup by name"). A handle stays valid until
 * its coordinator is closed, so the entry is keyed by the coordinator's
 * serial, unique in the process, and not by its address: a coordinator
 * opened where a closed one was never matches the old entry. A name equal
 * to a table entry's is valid, so the check it skips is not needed.
 */
static _Atomic uint64_t coord_serials;
static _Thread_local struct {
	uint64_t serial;
	struct sr_sequence *s;
} last_seq;

static struct sr_sequence *
seq_lookup(sr_coordinator *c, const char *name)
{
	struct seq_table *t = table_of(c);
	for (uint64_t i = name_hash(name), n = 0; n < t->cap; i++, n++) {
		struct sr_sequence *s =
		    atomic_load_explicit(&t->slots[i % t->cap], memory_order_acquire);
		if (s == NULL)
			return NULL;
		if (strcmp(s->cache.name, name) == 0)
			return s;
	}
	return NULL;
}

/* ---- the master link and the worker lease (link.c, worker.c) ---- */

void
coordinator_debug_clock_offset(sr_coordinator *c, int64_t offset_ms)
{
	worker_debug_clock_offset(&c->worker, offset_ms);
}

static int
rpc_join(sr_coordinator *c, char *errbuf, size_t errlen)
{
	return link_join(&c->link, errbuf, errlen);
}

/* Applies the master's word on a sequence we named in a heartbeat: a
 * dropped one stops being served, a re-created one is leased again
 * (cache_sync). */
static void
seq_state(void *arg, const char *name, uint64_t start)
{
	sr_coordinator *c = arg;
	struct sr_sequence *s = seq_lookup(c, name);
	if (s != NULL && cache_sync(&s->cache, start))
		sr_log_to(c->log_fn, c->log_arg, start == 0 ? SR_LOG_WARN : SR_LOG_INFO, c->name,
		    start == 0 ? "%s: dropped at the master"
		               : "%s: created again at the master (start %llu)",
		    s->cache.name, (unsigned long long) start);
}

/* Puts (name, chunks, headroom) into h->seqs if it is among the
 * LINK_HELD_SEQS with the least headroom so far (ties in name order),
 * keeping them sorted that way. */
static void
held_offer(struct link_held *h, const char *name, uint32_t chunks, uint64_t headroom)
{
	size_t i = h->n;
	while (i > 0 &&
	    (h->seqs[i - 1].headroom > headroom ||
	        (h->seqs[i - 1].headroom == headroom && strcmp(h->seqs[i - 1].name, name) > 0)))
		i--;
	if (i >= LINK_HELD_SEQS)
		return;
	size_t last = h->n < LINK_HELD_SEQS ? h->n : LINK_HELD_SEQS - 1;
	memmove(&h->seqs[i + 1], &h->seqs[i], (last - i) * sizeof(h->seqs[0]));
	h->seqs[i].name = name;
	h->seqs[i].chunks = chunks;
	h->seqs[i].headroom = headroom;
	if (h->n < LINK_HELD_SEQS)
		h->n++;
}

/*
 * What we hold, for the master's status page: chunks over every sequence,
 * and the sequences closest to running out (link_held). One pass over the
 * table with each sequence's mutex taken briefly (cache_view), on the
 * fetcher thread once per heartbeat; the ID fast path is not touched.
 */
static void
held_summary(sr_coordinator *c, struct link_held *h)
{
	memset(h, 0, sizeof(*h));
	struct seq_table *t = table_of(c);
	for (size_t i = 0; i < t->cap; i++) {
		struct sr_sequence *s = atomic_load(&t->slots[i]);
		if (s == NULL)
			continue;
		struct cache_view cv;
		cache_view(&s->cache, &cv);
		bool cur = cv.has_cur && cv.used < cv.cur.c;
		uint32_t chunks = (uint32_t) cur + (uint32_t) cv.has_next;
		uint64_t headroom = (cur ? cv.cur.c - cv.used : 0) + (cv.has_next ? cv.next.c : 0);
		if (h->sequences < UINT32_MAX)
			h->sequences++;
		h->chunks += chunks;
		held_offer(h, s->cache.name, chunks, headroom);
	}
}

/*
 * One heartbeat, naming up to BEAT_SEQS_MAX of our sequences, each with the
 * start of the incarnation held, going round the table from where the last
 * heartbeat stopped, with what we hold (held_summary). Fetcher thread only.
 */
static int
rpc_heartbeat(sr_coordinator *c)
{
	const char *names[BEAT_SEQS_MAX];
	uint64_t starts[BEAT_SEQS_MAX];
	struct seq_table *t = table_of(c);
	size_t n = 0, i = c->beat_slot % t->cap;
	for (size_t seen = 0; seen < t->cap && n < BEAT_SEQS_MAX; seen++) {
		struct sr_sequence *s = atomic_load(&t->slots[i]);
		i = (i + 1) % t->cap;
		if (s == NULL)
			continue;
		names[n] = s->cache.name;
		starts[n++] = cache_seq_start(&s->cache);
	}
	c->beat_slot = i;
	struct link_held held;
	held_summary(c, &held);
	return link_heartbeat(&c->link, names, starts, n, &held, seq_state, c);
}

/* Leases for one sequence and hands the result to its cache. Terminal
 * errors reach waiting callers at once; transient ones are retried. */
static int
fetch_one(sr_coordinator *c, struct sr_sequence *s, bool may_join)
{
	struct cache_lease l;
	char err[WIRE_ERRMSG_MAX];
	uint64_t after = cache_after(&s->cache);
	int rv = may_join ? link_lease(&c->link, s->cache.name, after, &l, err, sizeof(err))
	                  : link_lease_once(&c->link, s->cache.name, after, &l, err, sizeof(err));
	switch (rv) {
	case SR_OK:
		if (cache_offer_lease(&s->cache, &l) != SR_OK) {
			/* Below what we hold: never use it (it would break order). */
			sr_log_to(c->log_fn, c->log_arg, SR_LOG_WARN, c->name,
			    "%s: refused out-of-order chunk at %llu", s->cache.name,
			    (unsigned long long) l.chunk.start);
			cache_rewant(&s->cache);
			return SR_EPROTO;
		}
		return SR_OK;
	case SR_ENOTFOUND:
		/* Dropped: stop serving what we hold too, until a heartbeat
		 * says it exists again. */
		if (cache_sync(&s->cache, 0))
			sr_log_to(c->log_fn, c->log_arg, SR_LOG_WARN, c->name,
			    "%s: dropped at the master", s->cache.name);
		return rv;
	case SR_EEXHAUSTED:
	case SR_EINVAL: cache_fail(&s->cache, rv); return rv;
	default: cache_rewant(&s->cache); return rv;
	}
}

/*
 * A caller with nothing left to take and no lease under way leases on its
 * own thread (cache_fetch_fn): it would only sleep until the fetcher had.
 * Only when the call fits in what is left of its wait: every master it
 * may try (a list) for a whole RPC timeout each. A master that forgot this
 * node is the fetcher's to join again (a join may take longer).
 */
static void
fetch_now(void *arg, struct cache_seq *cs, int64_t deadline_us)
{
	sr_coordinator *c = arg;
	int64_t urls = 1;
	for (const char *p = c->master_url; *p != '\0'; p++)
		urls += *p == ',';
	if (deadline_us - sr_mono_us() < urls * c->rpc_timeout_ms * 1000)
		return;
	/* The cache is the first member of its sequence. */
	fetch_one(c, (struct sr_sequence *) cs, false);
}

/* ---- background thread ---- */

static void
notify(void *arg, struct cache_seq *s)
{
	sr_coordinator *c = arg;
	(void) s;
	pthread_mutex_lock(&c->mu);
	c->kick = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void
deadline_in(struct timespec *ts, int64_t ms)
{
	int64_t t = sr_mono_us() + ms * 1000;
	ts->tv_sec = (time_t) (t / 1000000);
	ts->tv_nsec = (long) (t % 1000000) * 1000;
}

/* The heartbeat pace: TTL/3 of the master's latest TTL, so a beat may fail
 * and the next still renew before the lease view ends (never a busy loop). */
static int64_t
beat_ms(sr_coordinator *c)
{
	return link_beat_ms(&c->link, BACKOFF_MIN_MS);
}

/*
 * One heartbeat; returns when the next is due. A failed one is retried
 * soon (BEAT_RETRY_MS), not a beat later: the call itself already waited
 * out its timeout, and every retry before the worker lease view ends is a
 * chance to keep issuing txids across a master failover.
 */
static int64_t
beat_once(sr_coordinator *c, bool *master_ok)
{
	int rv = rpc_heartbeat(c);
	/* Losing and regaining the master are logged once each, not every
	 * failed beat. */
	if (rv != SR_OK && *master_ok)
		sr_log_to(c->log_fn, c->log_arg, SR_LOG_WARN, c->name,
		    "lost the master %s (%s): serving from held chunks, retrying", c->master_url,
		    sr_errname(rv));
	else if (rv == SR_OK && !*master_ok)
		sr_log_to(c->log_fn, c->log_arg, SR_LOG_INFO, c->name,
		    "the master %s answers again", c->master_url);
	*master_ok = rv == SR_OK;
	if (rv == SR_OK)
		return sr_mono_ms() + beat_ms(c);
	return sr_mono_ms() + (beat_ms(c) < BEAT_RETRY_MS ? beat_ms(c) : BEAT_RETRY_MS);
}

static void *
fetcher(void *arg)
{
	sr_coordinator *c = arg;
	int64_t next_beat = sr_mono_ms() + beat_ms(c);
	int backoff = 0;       /* ms to wait before retrying failed leases */
	bool master_ok = true; /* the last heartbeat's outcome, for the log */

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		c->kick = false;
		pthread_mutex_unlock(&c->mu);

		/* A heartbeat that is due goes first: it renews the worker
		 * lease, and a lease call ahead of it may wait a whole RPC
		 * timeout while the masters fail over (docs/ha.md). */
		if (sr_mono_ms() >= next_beat)
			next_beat = beat_once(c, &master_ok);
		bool failed = false;
		struct seq_table *t = table_of(c);
		for (size_t i = 0; i < t->cap && !failed; i++) {
			struct sr_sequence *s = atomic_load(&t->slots[i]);
			if (s != NULL && cache_take_want(&s->cache)) {
				int rv = fetch_one(c, s, true);
				cache_lease_done(&s->cache);
				failed = rv != SR_OK && rv != SR_ENOTFOUND && rv != SR_EEXHAUSTED &&
				    rv != SR_EINVAL;
			}
		}
		if (sr_mono_ms() >= next_beat)
			next_beat = beat_once(c, &master_ok);
		backoff = !failed                  ? 0
		    : backoff == 0                 ? BACKOFF_MIN_MS
		    : backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
		                                   : backoff * 2;

		pthread_mutex_lock(&c->mu);
		if (c->stop)
			break;
		int64_t wait = next_beat - sr_mono_ms();
		if (failed && backoff < wait)
			wait = backoff;
		if ((!c->kick || failed) && wait > 0) {
			struct timespec ts;
			deadline_in(&ts, wait);
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- lifetime ---- */

int
sr_coordinator_open(const sr_coordinator_config *cfg, sr_coordinator **out, char *errbuf,
    size_t errlen)
{
	if (cfg == NULL || out == NULL)
		return errf(errbuf, errlen, SR_EINVAL, "config and out are required");
	if (cfg->master_url == NULL || cfg->master_url[0] == '\0')
		return errf(errbuf, errlen, SR_EINVAL, "master_url is required");
	if (!sr_name_valid(cfg->node_name))
		return errf(errbuf, errlen, SR_EINVAL,
		    "invalid node name '%.64s': use 1-64 of [a-z0-9_.-]",
		    cfg->node_name ? cfg->node_name : "");
	if (cfg->rpc_timeout_ms <= 0 || cfg->lease_timeout_ms < 0 || cfg->join_timeout_ms < 0)
		return errf(errbuf, errlen, SR_EINVAL, "timeouts must be positive");
	if (!(cfg->prefetch_at > 0.0 && cfg->prefetch_at <= 1.0))
		return errf(errbuf, errlen, SR_EINVAL, "prefetch_at must be in (0, 1]");

	sr_coordinator *c = calloc(1, sizeof(*c));
	struct seq_table *t0 = table_new(SEQ_SLOTS_MIN);
	if (c == NULL || t0 == NULL) {
		free(c);
		free(t0);
		return errf(errbuf, errlen, SR_ENOMEM, "out of memory");
	}
	c->serial = atomic_fetch_add(&coord_serials, 1) + 1;
	atomic_init(&c->table, t0);
	if (!sr_strlcpy(c->master_url, cfg->master_url, sizeof(c->master_url)) ||
	    !sr_strlcpy(c->listen_url, cfg->listen_url ? cfg->listen_url : "",
	        sizeof(c->listen_url))) {
		free(t0);
		free(c);
		return errf(errbuf, errlen, SR_EINVAL, "URL longer than 255 bytes");
	}
	sr_strlcpy(c->name, cfg->node_name, sizeof(c->name));
	c->rpc_timeout_ms = cfg->rpc_timeout_ms;
	c->lease_timeout_ms = cfg->lease_timeout_ms;
	c->join_timeout_ms = cfg->join_timeout_ms;
	c->prefetch_at = cfg->prefetch_at;
	c->log_fn = cfg->log_fn;
	c->log_arg = cfg->log_arg;
	worker_init(&c->worker, c->name, cfg->max_clock_back_ms, c->lease_timeout_ms,
	    cfg->txid_floor, c->log_fn, c->log_arg);
	link_init(&c->link, c->name, c->listen_url, &c->worker);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);

	int rv = creds_load(cfg->credentials, &c->creds, errbuf, errlen);
	if (rv == SR_OK)
		rv = wire_chan_open_creds(c->master_url, c->rpc_timeout_ms, c->creds, CREDS_NODE,
		    c->name, &c->link.chan, errbuf, errlen);
	if (rv == SR_OK) {
		/* The master may still be starting: keep trying until the join
		 * timeout, so scripts can start everything at once. A name
		 * still held by this node's previous process (killed without
		 * leaving) frees when its lease runs out: wait for that too. */
		int64_t until = sr_mono_ms() + c->join_timeout_ms;
		while ((rv = rpc_join(c, errbuf, errlen)) == SR_ETIMEDOUT || rv == SR_ECONNECT ||
		    rv == SR_EEXISTS) {
			if (rv == SR_EEXISTS && sr_mono_ms() >= until)
				break;
			if (sr_mono_ms() >= until) {
				/* The last call's own message says why (a TLS
				 * session that never came up, say). */
				char last[WIRE_ERRMSG_MAX];
				snprintf(last, sizeof(last), "%s",
				    errbuf != NULL && errlen > 0 ? errbuf : "");
				(void) errf(errbuf, errlen, SR_EUNAVAILABLE,
				    "master %s did not answer within %d ms%s%s", c->master_url,
				    c->join_timeout_ms, last[0] != '\0' ? ": " : "", last);
				rv = SR_EUNAVAILABLE;
				break;
			}
			/* A held name frees in seconds: ask less often (each
			 * refusal is a line in the master's log). */
			struct timespec ts = {0, (rv == SR_EEXISTS ? 500 : 50) * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (rv == SR_OK && pthread_create(&c->thread, NULL, fetcher, c) != 0)
		rv = errf(errbuf, errlen, SR_ENOMEM, "cannot start the fetcher thread");
	if (rv != SR_OK) {
		wire_chan_close(c->link.chan);
		creds_free(c->creds);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		link_destroy(&c->link);
		free(t0);
		free(c);
		return rv;
	}
	*out = c;
	return SR_OK;
}

int
sr_coordinator_leave(sr_coordinator *c)
{
	if (c == NULL)
		return SR_EINVAL;
	if (atomic_exchange(&c->link.left, true))
		return SR_OK;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	return link_leave(&c->link);
}

void
sr_coordinator_close(sr_coordinator *c)
{
	if (c == NULL)
		return;
	sr_coordinator_leave(c); /* best effort: the master may be gone */
	wire_chan_close(c->link.chan);
	creds_free(c->creds);

	struct seq_table *t = table_of(c);
	for (size_t i = 0; i < t->cap; i++) {
		struct sr_sequence *s = atomic_load(&t->slots[i]);
		if (s != NULL) {
			cache_seq_destroy(&s->cache);
			free(s);
		}
	}
	while (t != NULL) {
		struct seq_table *older = t->older;
		free(t);
		t = older;
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	link_destroy(&c->link);
	free(c);
}

/* ---- IDs ---- */

/* The handle of sequence name, leasing its first chunk at first use. A
 * caller who only wants the handle (not for_call) must not hold a ticket of
 * a sequence without prefetch: that chunk is let go (a gap), and the first
 * ID is leased when it is asked for, so the ticket order holds. */
static int
seq_get(sr_coordinator *c, const char *name, bool for_call, sr_sequence **out)
{
	if (c == NULL || out == NULL || !sr_name_valid(name))
		return SR_EINVAL;
	struct sr_sequence *s = seq_lookup(c, name);
	if (s != NULL) {
		*out = s;
		return SR_OK;
	}
	/* First use: lease a chunk before the sequence enters the table, so a
	 * name the master does not know costs nothing here. */
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SR_ENOMEM;
	s->owner = c;
	if (cache_seq_init(&s->cache, name, c->prefetch_at, notify, c) != SR_OK) {
		free(s);
		return SR_ENOMEM;
	}
	cache_seq_set_fetch(&s->cache, fetch_now);
	s->cache.wait_hist = &c->wait_hist;
	struct cache_lease l;
	char err[WIRE_ERRMSG_MAX];
	int rv = link_lease(&c->link, name, 0, &l, err, sizeof(err));
	if (rv == SR_ETIMEDOUT || rv == SR_ECONNECT)
		rv = SR_EUNAVAILABLE;
	if (rv == SR_OK)
		rv = cache_offer_lease(&s->cache, &l);
	if (rv == SR_OK && !for_call && l.no_prefetch)
		cache_forget_next(&s->cache);
	pthread_mutex_lock(&c->mu);
	struct sr_sequence *other = seq_lookup(c, name);
	if (rv == SR_OK && other == NULL)
		rv = table_reserve(c);
	if (rv == SR_OK && other == NULL) {
		table_put(table_of(c), s);
		c->nseqs++;
	}
	pthread_mutex_unlock(&c->mu);
	if (rv != SR_OK || other != NULL) {
		/* A concurrent first use won; our chunk is a gap. */
		cache_seq_destroy(&s->cache);
		free(s);
		s = other;
	}
	if (s == NULL)
		return rv;
	*out = s;
	return SR_OK;
}

int
sr_sequence_get(sr_coordinator *c, const char *name, sr_sequence **out)
{
	return seq_get(c, name, false, out);
}

int
sr_seq_next_ids(sr_sequence *s, size_t n, uint64_t *out, size_t *got)
{
	size_t dummy;
	if (got == NULL)
		got = &dummy;
	*got = 0;
	if (s == NULL || out == NULL || n == 0 || n > CACHE_MAX_BATCH)
		return SR_EINVAL;
	return cache_next(&s->cache, n, out, got, (int64_t) s->owner->lease_timeout_ms * 1000);
}

int
sr_seq_take_chunk(sr_sequence *s, sr_chunk *out)
{
	if (s == NULL || out == NULL)
		return SR_EINVAL;
	struct range_chunk ch;
	int rv = cache_take_chunk(&s->cache, &ch, (int64_t) s->owner->lease_timeout_ms * 1000);
	if (rv == SR_OK)
		*out = (sr_chunk) {.start = ch.start, .n = ch.n, .k = ch.k, .c = ch.c};
	return rv;
}

uint64_t
sr_chunk_id(const sr_chunk *chunk, uint64_t i)
{
	struct range_chunk ch = {.start = chunk->start,
	    .n = chunk->n,
	    .k = chunk->k,
	    .c = chunk->c};
	return range_id(&ch, i);
}

int
sr_seq_next_id(sr_sequence *s, uint64_t *id)
{
	if (s == NULL || id == NULL)
		return SR_EINVAL;
	return cache_next_one(&s->cache, id, (int64_t) s->owner->lease_timeout_ms * 1000);
}

int
sr_next_ids(sr_coordinator *c, const char *seq, size_t n, uint64_t *out, size_t *got)
{
	sr_sequence *s;
	if (got != NULL)
		*got = 0;
	if (c != NULL && seq != NULL && last_seq.serial == c->serial &&
	    strcmp(last_seq.s->cache.name, seq) == 0) {
		s = last_seq.s;
	} else {
		int rv = seq_get(c, seq, true, &s);
		if (rv != SR_OK)
			return rv;
		last_seq.serial = c->serial;
		last_seq.s = s;
	}
	return sr_seq_next_ids(s, n, out, got);
}

int
sr_next_id(sr_coordinator *c, const char *seq, uint64_t *id)
{
	if (c != NULL && seq != NULL && id != NULL && last_seq.serial == c->serial &&
	    strcmp(last_seq.s->cache.name, seq) == 0)
		return sr_seq_next_id(last_seq.s, id);
	size_t got;
	return sr_next_ids(c, seq, 1, id, &got);
}

int
sr_seq_next_segments(sr_sequence *s, size_t n, sr_id_segment *segs, size_t max_segs, size_t *nsegs)
{
	size_t dummy, got;
	if (nsegs == NULL)
		nsegs = &dummy;
	*nsegs = 0;
	if (s == NULL || segs == NULL || max_segs == 0 || n == 0 || n > SR_SEGMENT_IDS_MAX)
		return SR_EINVAL;
	return cache_next_segs(&s->cache, n, segs, max_segs, nsegs, &got,
	    (int64_t) s->owner->lease_timeout_ms * 1000);
}

int
sr_next_segments(sr_coordinator *c, const char *seq, size_t n, sr_id_segment *segs, size_t max_segs,
    size_t *nsegs)
{
	sr_sequence *s;
	if (nsegs != NULL)
		*nsegs = 0;
	int rv = seq_get(c, seq, true, &s);
	if (rv != SR_OK)
		return rv;
	return sr_seq_next_segments(s, n, segs, max_segs, nsegs);
}

/* ---- Snowflake (worker.c) ---- */

int
sr_next_txids(sr_coordinator *c, size_t n, uint64_t *out, size_t *got)
{
	if (got != NULL)
		*got = 0;
	if (c == NULL)
		return SR_EINVAL;
	return worker_next_txids(&c->worker, n, out, got);
}

int
sr_next_txid(sr_coordinator *c, uint64_t *txid)
{
	size_t got;
	return sr_next_txids(c, 1, txid, &got);
}

void
sr_coordinator_layout(const sr_coordinator *c, sr_flake_layout *out)
{
	worker_layout(&c->worker, out);
}

int
sr_coordinator_worker(sr_coordinator *c, uint32_t *worker_id)
{
	return worker_current_id(&c->worker, worker_id);
}

int64_t
sr_coordinator_clock_offset_ms(sr_coordinator *c)
{
	return worker_clock_offset_ms(&c->worker);
}

/* ---- introspection ---- */

uint64_t
sr_coordinator_node_id(const sr_coordinator *c)
{
	return c->link.node_id;
}

const char *
sr_coordinator_name(const sr_coordinator *c)
{
	return c->name;
}

static void
chunk_info(sr_chunk_info *o, const char *seq, const struct range_chunk *ch, uint64_t used,
    int current)
{
	sr_strlcpy(o->sequence, seq, sizeof(o->sequence));
	o->start = ch->start;
	o->n = ch->n;
	o->k = ch->k;
	o->c = ch->c;
	o->used = used;
	o->current = current;
}

size_t
sr_coordinator_chunks(sr_coordinator *c, sr_chunk_info *out, size_t max)
{
	size_t n = 0;
	struct seq_table *t = table_of(c);
	for (size_t i = 0; i < t->cap; i++) {
		struct sr_sequence *s = atomic_load(&t->slots[i]);
		if (s == NULL)
			continue;
		struct cache_view v;
		cache_view(&s->cache, &v);
		if (v.has_cur && n < max)
			chunk_info(&out[n], s->cache.name, &v.cur, v.used, 1);
		n += v.has_cur;
		if (v.has_next && n < max)
			chunk_info(&out[n], s->cache.name, &v.next, 0, 0);
		n += v.has_next;
	}
	return n;
}

void
sr_coordinator_get_stats(sr_coordinator *c, sr_coordinator_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->leases = atomic_load(&c->link.leases);
	out->lease_errors = atomic_load(&c->link.lease_errors);
	struct seq_table *t = table_of(c);
	for (size_t i = 0; i < t->cap; i++) {
		struct sr_sequence *s = atomic_load(&t->slots[i]);
		if (s == NULL)
			continue;
		pthread_mutex_lock(&s->cache.mu);
		out->waits += s->cache.waits;
		if (s->cache.max_wait_us > out->max_wait_us)
			out->max_wait_us = s->cache.max_wait_us;
		pthread_mutex_unlock(&s->cache.mu);
	}
}

int
coord_metrics_read(sr_coordinator *c, struct metrics_coord *out, struct metrics_seq **seqs)
{
	memset(out, 0, sizeof(*out));
	*seqs = NULL;
	out->txids = atomic_load_explicit(&c->worker.issued, memory_order_relaxed);
	out->clock_backs = atomic_load_explicit(&c->worker.clock_backs, memory_order_relaxed);
	out->leases = atomic_load(&c->link.leases);
	out->lease_errors = atomic_load(&c->link.lease_errors);
	metrics_hist_read(&c->link.lease_hist, &out->lease_latency);
	metrics_hist_read(&c->wait_hist, &out->waits);
	out->master_reachable = atomic_load(&c->link.reachable);
	int64_t left = atomic_load(&c->worker.lease_until_us) - sr_mono_us();
	out->has_worker = left > 0;
	out->worker_lease_seconds = left > 0 ? (double) left / 1e6 : 0;
	/* The table only grows; a sequence added while we copy is left for
	 * the next scrape. */
	struct seq_table *t = table_of(c);
	size_t n = 0;
	for (size_t i = 0; i < t->cap; i++)
		n += atomic_load(&t->slots[i]) != NULL;
	struct metrics_seq *v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return SR_ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < t->cap && k < n; i++) {
		struct sr_sequence *s = atomic_load(&t->slots[i]);
		if (s == NULL)
			continue;
		struct cache_view cv;
		cache_view(&s->cache, &cv);
		sr_strlcpy(v[k].name, s->cache.name, sizeof(v[k].name));
		v[k].issued = cv.issued;
		v[k].headroom =
		    (cv.has_cur ? cv.cur.c - cv.used : 0) + (cv.has_next ? cv.next.c : 0);
		k++;
	}
	out->seqs = v;
	out->nseqs = k;
	*seqs = v;
	return SR_OK;
}
