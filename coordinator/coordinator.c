/*
 * libsnowrange's coordinator: the handle, the sequence table, and the
 * background fetcher thread that leases chunks and sends heartbeats. The
 * per-sequence fast path lives in cache.c; this file is the I/O around it.
 */
#include "snowrange/coordinator.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "coordinator_hooks.h"
#include "creds.h"
#include "flake.h"
#include "log.h"
#include "util.h"
#include "wire.h"

/* Open addressing, never shrinking: lookups are lock-free. */
#define SEQ_SLOTS 4096
#define SEQ_MAX (SEQ_SLOTS * 3 / 4)
/* Sequences named per heartbeat: 512 names of at most 64 bytes keep the
 * request well below the 64 KiB limit (docs/protocol.md). */
#define BEAT_SEQS_MAX 512
#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000

struct sr_sequence {
	struct cache_seq cache; /* first: cache callbacks cast back */
	sr_coordinator *owner;
};

struct sr_coordinator {
	char master_url[256];
	char name[SR_NAME_MAX + 1];
	char listen_url[256];
	int rpc_timeout_ms, lease_timeout_ms, join_timeout_ms;
	double prefetch_at;

	struct wire_chan *master;
	struct creds *creds;      /* outlives master */
	uint64_t instance;        /* random: this process in JoinRequest */
	_Atomic uint64_t node_id; /* rewritten by a re-join */
	/* The master's TTL as its latest join or heartbeat reply said; sets
	 * the heartbeat pace (TTL/3). A master restarted with another
	 * --lease-ttl-ms says so in its next reply. */
	_Atomic uint32_t lease_ttl_ms;

	/* Snowflake: the generator, and the worker lease it runs under. The
	 * lease ends at lease_until_us (sr_mono_us clock), computed from the
	 * time the request that granted or renewed it was *sent* and the TTL
	 * its reply carried, less a margin, so it ends before the master's
	 * (the argument is in docs/snowflake.md, "Why two holders never
	 * overlap"). */
	pthread_mutex_t join_mu; /* serializes joins and grant changes */
	struct flake_gen gen;
	bool has_layout;
	_Atomic bool has_worker;
	_Atomic int64_t lease_until_us;
	_Atomic int64_t clock_offset_ms;
	_Atomic int64_t wall_skew_ms; /* test hook: coordinator_hooks.h */
	_Atomic bool left;       /* sr_coordinator_leave ran: never re-join */
	_Atomic uint64_t grant_floor; /* the master's floor of the current grant */
	int max_clock_back_ms;
	uint64_t txid_floor;
	sr_log_fn log_fn; /* NULL: stderr (snowrange/log.h) */
	void *log_arg;

	_Atomic(struct sr_sequence *) slots[SEQ_SLOTS];
	size_t nseqs; /* guarded by mu */
	size_t beat_slot; /* where the next heartbeat's sequence list begins */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, kick;
	_Atomic uint64_t leases, lease_errors;
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

static struct sr_sequence *
seq_lookup(sr_coordinator *c, const char *name)
{
	for (uint64_t i = name_hash(name), n = 0; n < SEQ_SLOTS; i++, n++) {
		struct sr_sequence *s = atomic_load_explicit(&c->slots[i % SEQ_SLOTS],
		    memory_order_acquire);
		if (s == NULL)
			return NULL;
		if (strcmp(s->cache.name, name) == 0)
			return s;
	}
	return NULL;
}

/* ---- worker lease ---- */

/* The wall clock behind txids: CLOCK_REALTIME, shifted only by tests. */
static int64_t
wall_us(sr_coordinator *c)
{
	return sr_wall_us() + atomic_load(&c->wall_skew_ms) * 1000;
}

static int64_t
wall_ms(sr_coordinator *c)
{
	return wall_us(c) / 1000;
}

void
coordinator_debug_clock_offset(sr_coordinator *c, int64_t offset_ms)
{
	atomic_store(&c->wall_skew_ms, offset_ms);
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
 * Applies what the master said about our worker lease; sent_us is when the
 * request was sent and ttl_ms the TTL the same reply carried: the one the
 * master gave this grant or renewal. Called with join_mu held. The view is
 * set, never kept from an earlier reply: a master restarted with a shorter
 * TTL shortens it at the first reply. A new worker id (or the first) goes
 * through flake_gen_reset with its floor, raised to the tick of the caller's
 * last logged txid; the lease is closed while that happens.
 */
static int
apply_grant(sr_coordinator *c, const Sr__Layout *layout, const Sr__WorkerGrant *g,
    int64_t sent_us, uint32_t ttl_ms, char *errbuf, size_t errlen)
{
	if (ttl_ms == 0)
		return errf(errbuf, errlen, SR_EPROTO, "master sent no lease_ttl_ms");
	atomic_store(&c->lease_ttl_ms, ttl_ms);
	if (layout != NULL && !c->has_layout) {
		struct flake_layout l = {
			.time_bits = (uint8_t) layout->time_bits,
			.worker_bits = (uint8_t) layout->worker_bits,
			.seq_bits = (uint8_t) layout->seq_bits,
			.unit_ms = layout->unit_ms,
			.epoch_ms = layout->epoch_ms,
		};
		if (layout->time_bits > 63 || layout->worker_bits > 63 ||
		    layout->seq_bits > 63 || flake_layout_check(&l, errbuf, errlen) != SR_OK)
			return SR_EPROTO;
		/* No worker yet: lease_until_us = 0 blocks every take until a
		 * grant resets the generator (a reset only ever raises it). */
		flake_gen_init(&c->gen, &l, 0, 0, c->max_clock_back_ms);
		c->has_layout = true;
	}
	if (!c->has_layout)
		return errf(errbuf, errlen, SR_EPROTO, "master sent no Snowflake layout");
	if (g == NULL) {
		atomic_store(&c->lease_until_us, 0);
		atomic_store(&c->has_worker, false);
		return SR_OK;
	}
	if (g->worker_id > flake_max_worker(&c->gen.layout))
		return errf(errbuf, errlen, SR_EPROTO, "worker id %u does not fit", g->worker_id);
	int64_t until = sent_us + lease_view_us(ttl_ms);
	bool same = atomic_load(&c->has_worker) && atomic_load(&c->gen.worker) == g->worker_id;
	/* A new worker id: no txid until the generator runs under it. */
	if (!same)
		atomic_store(&c->lease_until_us, 0);
	/* Every grant's floor is applied, a renewal's (0) included: the same id
	 * may come back after another node held it, and a reset only raises. */
	uint64_t floor = g->floor_tick, logged = 0;
	if (c->txid_floor != 0)
		flake_decode(&c->gen.layout, c->txid_floor, &logged, NULL, NULL);
	if (logged > floor)
		floor = logged;
	flake_gen_reset(&c->gen, g->worker_id, floor);
	if (!same || g->floor_tick != 0)
		atomic_store(&c->grant_floor, g->floor_tick);
	if (!same || g->floor_tick != 0)
		sr_log_to(c->log_fn, c->log_arg, SR_LOG_INFO, c->name,
		    "worker id %u, issuing above tick %llu", g->worker_id,
		    (unsigned long long) floor);
	atomic_store(&c->has_worker, true);
	atomic_store(&c->lease_until_us, until);
	return SR_OK;
}

/* ---- master round trips (background thread and first use) ---- */

/* A random non-zero id for this process: the master tells two processes
 * under one node name apart by it. */
static uint64_t
random_instance(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t) sizeof(v))
		v = (uint64_t) sr_wall_us() ^ ((uint64_t) getpid() << 40);
	return v != 0 ? v : 1;
}

static int
rpc_join(sr_coordinator *c, char *errbuf, size_t errlen)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__JoinRequest j = SR__JOIN_REQUEST__INIT;
	Sr__Response *resp;
	j.name = c->name;
	j.listen_url = c->listen_url;
	j.instance = c->instance;
	req.body_case = SR__REQUEST__BODY_JOIN;
	req.join = &j;
	if (atomic_load(&c->left))
		return errf(errbuf, errlen, SR_ECLOSED, "this coordinator has left");
	pthread_mutex_lock(&c->join_mu);
	int64_t sent = sr_mono_us();
	int rv = wire_call(c->master, &req, &resp, errbuf, errlen);
	if (rv == SR_OK) {
		c->node_id = resp->join->node_id;
		rv = apply_grant(c, resp->join->layout, resp->join->worker, sent,
		    resp->join->lease_ttl_ms, errbuf, errlen);
		wire_response_free(resp);
	}
	pthread_mutex_unlock(&c->join_mu);
	return rv;
}

/*
 * The tick to report: the highest we issued or could issue right now. A
 * generator that issued nothing above its grant's floor holds the floor
 * encoding, which may lie up to a TTL ahead of the clock: that is no tick we
 * used, and the master refuses reports too far ahead of its clock
 * (docs/decisions.md), so only the clock counts then.
 */
static uint64_t
report_tick(sr_coordinator *c)
{
	uint64_t last = 0;
	flake_decode(&c->gen.layout, flake_last(&c->gen), &last, NULL, NULL);
	if (last <= atomic_load(&c->grant_floor))
		last = 0;
	int64_t now = flake_ms_to_tick(&c->gen.layout, wall_ms(c));
	if (now > 0 && (uint64_t) now > last && (uint64_t) now <= flake_max_tick(&c->gen.layout))
		last = (uint64_t) now;
	/* The floor encoding before any grant is not a tick anyone used. */
	return atomic_load(&c->has_worker) ? last : 0;
}

/*
 * Names up to BEAT_SEQS_MAX of our sequences in the heartbeat, each with the
 * start of the incarnation held, going round the table from where the last
 * heartbeat stopped. Fetcher thread only. Returns the array to free.
 */
static Sr__SeqUse *
beat_usage(sr_coordinator *c, Sr__HeartbeatRequest *h)
{
	Sr__SeqUse *u = calloc(BEAT_SEQS_MAX, sizeof(*u));
	h->usage = calloc(BEAT_SEQS_MAX, sizeof(*h->usage));
	if (u == NULL || h->usage == NULL) {
		free(u);
		free(h->usage);
		h->usage = NULL;
		return NULL; /* this heartbeat goes without the list */
	}
	size_t i = c->beat_slot;
	for (size_t seen = 0; seen < SEQ_SLOTS && h->n_usage < BEAT_SEQS_MAX; seen++) {
		struct sr_sequence *s = atomic_load(&c->slots[i]);
		i = (i + 1) % SEQ_SLOTS;
		if (s == NULL)
			continue;
		Sr__SeqUse *e = &u[h->n_usage];
		sr__seq_use__init(e);
		e->sequence = s->cache.name;
		e->start = cache_seq_start(&s->cache);
		h->usage[h->n_usage++] = e;
	}
	c->beat_slot = i;
	return u;
}

/* Applies the master's word on the sequences we named: dropped ones stop
 * being served, re-created ones are leased again (cache_sync). */
static void
apply_seq_states(sr_coordinator *c, const Sr__HeartbeatResponse *r)
{
	for (size_t i = 0; i < r->n_seqs; i++) {
		const Sr__SeqState *st = r->seqs[i];
		struct sr_sequence *s = st->sequence != NULL ? seq_lookup(c, st->sequence) : NULL;
		if (s != NULL && cache_sync(&s->cache, st->start))
			sr_log_to(c->log_fn, c->log_arg, st->start == 0 ? SR_LOG_WARN : SR_LOG_INFO,
			    c->name, st->start == 0 ? "%s: dropped at the master" :
			    "%s: created again at the master (start %llu)", s->cache.name,
			    (unsigned long long) st->start);
	}
}

static int
rpc_heartbeat(sr_coordinator *c)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__HeartbeatRequest h = SR__HEARTBEAT_REQUEST__INIT;
	Sr__Response *resp;
	char err[WIRE_ERRMSG_MAX];
	h.node_id = c->node_id;
	req.body_case = SR__REQUEST__BODY_HEARTBEAT;
	req.heartbeat = &h;
	pthread_mutex_lock(&c->join_mu);
	h.holds_worker = atomic_load(&c->has_worker);
	h.worker_id = atomic_load(&c->gen.worker);
	h.tick = report_tick(c);
	Sr__SeqUse *usage = beat_usage(c, &h);
	int64_t sent = sr_mono_us();
	int rv = wire_call(c->master, &req, &resp, err, sizeof(err));
	if (rv == SR_OK) {
		rv = apply_grant(c, NULL, resp->heartbeat->worker, sent,
		    resp->heartbeat->lease_ttl_ms, err, sizeof(err));
		apply_seq_states(c, resp->heartbeat);
		wire_response_free(resp);
	}
	pthread_mutex_unlock(&c->join_mu);
	free(h.usage);
	free(usage);
	/* The master forgot us (a left node, or its store was replaced):
	 * join again under the same name. */
	if (rv == SR_ENOTJOINED)
		rv = rpc_join(c, err, sizeof(err));
	return rv;
}

static int
lease_once(sr_coordinator *c, const char *seq, uint64_t after,
    struct cache_lease *out, char *errbuf, size_t errlen)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaseRequest l = SR__LEASE_REQUEST__INIT;
	Sr__Response *resp;
	l.node_id = c->node_id;
	l.sequence = (char *) seq;
	l.after = after;
	req.body_case = SR__REQUEST__BODY_LEASE;
	req.lease = &l;
	int rv = wire_call(c->master, &req, &resp, errbuf, errlen);
	if (rv != SR_OK) {
		atomic_fetch_add(&c->lease_errors, 1);
		return rv;
	}
	const Sr__Chunk *ch = resp->lease->chunk;
	if (ch == NULL || ch->n == 0 || ch->k >= ch->n || ch->c == 0) {
		wire_response_free(resp);
		atomic_fetch_add(&c->lease_errors, 1);
		return errf(errbuf, errlen, SR_EPROTO, "lease reply without a valid chunk");
	}
	out->chunk = (struct range_chunk){ch->start, ch->n, ch->k, ch->c};
	out->no_prefetch = resp->lease->no_prefetch;
	out->seq_start = resp->lease->seq_start;
	wire_response_free(resp);
	atomic_fetch_add(&c->leases, 1);
	return SR_OK;
}

/* A lease; when the master no longer knows this node, join and retry once. */
static int
rpc_lease(sr_coordinator *c, const char *seq, uint64_t after,
    struct cache_lease *out, char *errbuf, size_t errlen)
{
	int rv = lease_once(c, seq, after, out, errbuf, errlen);
	if (rv == SR_ENOTJOINED && rpc_join(c, errbuf, errlen) == SR_OK)
		rv = lease_once(c, seq, after, out, errbuf, errlen);
	return rv;
}

/* Leases for one sequence and hands the result to its cache. Terminal
 * errors reach waiting callers at once; transient ones are retried. */
static int
fetch_one(sr_coordinator *c, struct sr_sequence *s)
{
	struct cache_lease l;
	char err[WIRE_ERRMSG_MAX];
	int rv = rpc_lease(c, s->cache.name, cache_after(&s->cache), &l, err, sizeof(err));
	switch (rv) {
	case SR_OK:
		if (cache_offer_lease(&s->cache, &l) != SR_OK) {
			/* Below what we hold: never use it (it would break order). */
			sr_log_to(c->log_fn, c->log_arg, SR_LOG_WARN, c->name,
			    "%s: refused out-of-order chunk at %llu",
			    s->cache.name, (unsigned long long) l.chunk.start);
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
	case SR_EINVAL:
		cache_fail(&s->cache, rv);
		return rv;
	default:
		cache_rewant(&s->cache);
		return rv;
	}
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
	int64_t ms = atomic_load(&c->lease_ttl_ms) / 3;
	return ms < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : ms;
}

static void *
fetcher(void *arg)
{
	sr_coordinator *c = arg;
	int64_t next_beat = sr_mono_ms() + beat_ms(c);
	int backoff = 0; /* ms to wait before retrying failed leases */

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		c->kick = false;
		pthread_mutex_unlock(&c->mu);

		bool failed = false;
		for (size_t i = 0; i < SEQ_SLOTS && !failed; i++) {
			struct sr_sequence *s = atomic_load(&c->slots[i]);
			if (s != NULL && cache_take_want(&s->cache)) {
				int rv = fetch_one(c, s);
				failed = rv != SR_OK && rv != SR_ENOTFOUND &&
				    rv != SR_EEXHAUSTED && rv != SR_EINVAL;
			}
		}
		if (sr_mono_ms() >= next_beat) {
			if (rpc_heartbeat(c) == SR_OK)
				next_beat = sr_mono_ms() + beat_ms(c);
			else
				next_beat = sr_mono_ms() +
				    (beat_ms(c) < BACKOFF_MAX_MS ? beat_ms(c) : BACKOFF_MAX_MS);
		}
		backoff = !failed ? 0 : backoff == 0 ? BACKOFF_MIN_MS :
		    backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;

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
sr_coordinator_open(const sr_coordinator_config *cfg, sr_coordinator **out,
    char *errbuf, size_t errlen)
{
	if (cfg == NULL || out == NULL)
		return errf(errbuf, errlen, SR_EINVAL, "config and out are required");
	if (cfg->master_url == NULL || cfg->master_url[0] == '\0')
		return errf(errbuf, errlen, SR_EINVAL, "master_url is required");
	if (!sr_name_valid(cfg->node_name))
		return errf(errbuf, errlen, SR_EINVAL,
		    "invalid node name '%.64s': use 1-64 of [a-z0-9_.-]",
		    cfg->node_name ? cfg->node_name : "");
	if (cfg->rpc_timeout_ms <= 0 || cfg->lease_timeout_ms < 0 ||
	    cfg->join_timeout_ms < 0)
		return errf(errbuf, errlen, SR_EINVAL, "timeouts must be positive");
	if (!(cfg->prefetch_at > 0.0 && cfg->prefetch_at <= 1.0))
		return errf(errbuf, errlen, SR_EINVAL, "prefetch_at must be in (0, 1]");

	sr_coordinator *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return errf(errbuf, errlen, SR_ENOMEM, "out of memory");
	if (!sr_strlcpy(c->master_url, cfg->master_url, sizeof(c->master_url)) ||
	    !sr_strlcpy(c->listen_url, cfg->listen_url ? cfg->listen_url : "",
		sizeof(c->listen_url))) {
		free(c);
		return errf(errbuf, errlen, SR_EINVAL, "URL longer than 255 bytes");
	}
	sr_strlcpy(c->name, cfg->node_name, sizeof(c->name));
	c->rpc_timeout_ms = cfg->rpc_timeout_ms;
	c->lease_timeout_ms = cfg->lease_timeout_ms;
	c->join_timeout_ms = cfg->join_timeout_ms;
	c->prefetch_at = cfg->prefetch_at;
	c->max_clock_back_ms = cfg->max_clock_back_ms;
	c->txid_floor = cfg->txid_floor;
	c->log_fn = cfg->log_fn;
	c->log_arg = cfg->log_arg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->join_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);

	c->instance = random_instance();
	int rv = creds_load(cfg->credentials, &c->creds, errbuf, errlen);
	if (rv == SR_OK)
		rv = wire_chan_open_creds(c->master_url, c->rpc_timeout_ms, c->creds,
		    CREDS_NODE, c->name, &c->master, errbuf, errlen);
	if (rv == SR_OK) {
		/* The master may still be starting: keep trying until the join
		 * timeout, so scripts can start everything at once. A name
		 * still held by this node's previous process (killed without
		 * leaving) frees when its lease runs out: wait for that too. */
		int64_t until = sr_mono_ms() + c->join_timeout_ms;
		while ((rv = rpc_join(c, errbuf, errlen)) == SR_ETIMEDOUT ||
		    rv == SR_ECONNECT || rv == SR_EEXISTS) {
			if (rv == SR_EEXISTS && sr_mono_ms() >= until)
				break;
			if (sr_mono_ms() >= until) {
				/* The last call's own message says why (a TLS
				 * session that never came up, say). */
				char last[WIRE_ERRMSG_MAX];
				snprintf(last, sizeof(last), "%s",
				    errbuf != NULL && errlen > 0 ? errbuf : "");
				(void) errf(errbuf, errlen, SR_EUNAVAILABLE,
				    "master %s did not answer within %d ms%s%s",
				    c->master_url, c->join_timeout_ms,
				    last[0] != '\0' ? ": " : "", last);
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
		wire_chan_close(c->master);
		creds_free(c->creds);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->join_mu);
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
	if (atomic_exchange(&c->left, true))
		return SR_OK;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	/* The master ends the worker lease at once: so do we, before telling
	 * it (join_mu orders this after any grant being applied). */
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaveRequest l = SR__LEAVE_REQUEST__INIT;
	Sr__Response *resp;
	char err[WIRE_ERRMSG_MAX];
	pthread_mutex_lock(&c->join_mu);
	atomic_store(&c->lease_until_us, 0);
	l.tick = report_tick(c); /* after the lease closed: no txid above it */
	atomic_store(&c->has_worker, false);
	pthread_mutex_unlock(&c->join_mu);
	l.node_id = c->node_id;
	req.body_case = SR__REQUEST__BODY_LEAVE;
	req.leave = &l;
	int rv = wire_call(c->master, &req, &resp, err, sizeof(err));
	if (rv == SR_OK)
		wire_response_free(resp);
	return rv;
}

void
sr_coordinator_close(sr_coordinator *c)
{
	if (c == NULL)
		return;
	sr_coordinator_leave(c); /* best effort: the master may be gone */
	wire_chan_close(c->master);
	creds_free(c->creds);

	for (size_t i = 0; i < SEQ_SLOTS; i++) {
		struct sr_sequence *s = atomic_load(&c->slots[i]);
		if (s != NULL) {
			cache_seq_destroy(&s->cache);
			free(s);
		}
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->join_mu);
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
	struct cache_lease l;
	char err[WIRE_ERRMSG_MAX];
	int rv = rpc_lease(c, name, 0, &l, err, sizeof(err));
	if (rv == SR_ETIMEDOUT || rv == SR_ECONNECT)
		rv = SR_EUNAVAILABLE;
	if (rv == SR_OK)
		rv = cache_offer_lease(&s->cache, &l);
	if (rv == SR_OK && !for_call && l.no_prefetch)
		cache_forget_next(&s->cache);
	pthread_mutex_lock(&c->mu);
	struct sr_sequence *other = seq_lookup(c, name);
	if (rv == SR_OK && other == NULL && c->nseqs >= SEQ_MAX)
		rv = SR_ENOMEM;
	if (rv == SR_OK && other == NULL) {
		uint64_t i = name_hash(name);
		while (atomic_load(&c->slots[i % SEQ_SLOTS]) != NULL)
			i++;
		atomic_store_explicit(&c->slots[i % SEQ_SLOTS], s, memory_order_release);
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
sr_seq_next_id(sr_sequence *s, uint64_t *id)
{
	size_t got;
	return sr_seq_next_ids(s, 1, id, &got);
}

int
sr_next_ids(sr_coordinator *c, const char *seq, size_t n, uint64_t *out, size_t *got)
{
	sr_sequence *s;
	if (got != NULL)
		*got = 0;
	int rv = seq_get(c, seq, true, &s);
	if (rv != SR_OK)
		return rv;
	return sr_seq_next_ids(s, n, out, got);
}

int
sr_next_id(sr_coordinator *c, const char *seq, uint64_t *id)
{
	size_t got;
	return sr_next_ids(c, seq, 1, id, &got);
}

/* ---- Snowflake ---- */

int
sr_next_txids(sr_coordinator *c, size_t n, uint64_t *out, size_t *got)
{
	size_t have = 0, dummy;
	if (got == NULL)
		got = &dummy;
	*got = 0;
	if (c == NULL || out == NULL || n == 0 || n > WIRE_MAX_COUNT)
		return SR_EINVAL;
	int rv = SR_OK, stale = 0;
	int64_t deadline = 0; /* read only when a wait comes up */
	while (have < n) {
		/* Clock first, lease second: a tick read while the lease was
		 * still live lies below the next holder's floor, however long
		 * this thread is delayed before the compare-and-swap. */
		int64_t now = wall_ms(c);
		if (sr_mono_us() >= atomic_load(&c->lease_until_us)) {
			rv = SR_ENOWORKER;
			break;
		}
		size_t k = 0;
		int64_t wait = 0;
		rv = flake_take(&c->gen, now, n - have, out + have, &k, &wait, NULL, 0);
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
		uint64_t floor = atomic_load(&c->grant_floor), last_tick;
		flake_decode(&c->gen.layout, flake_last(&c->gen), &last_tick, NULL, NULL);
		if (rv == SR_ECLOCK && last_tick <= floor &&
		    flake_ms_to_tick(&c->gen.layout, now) <= (int64_t) floor) {
			if (deadline == 0)
				deadline = sr_mono_us() + (int64_t) c->lease_timeout_ms * 1000;
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
			if (rv == SR_ECLOCK)
				atomic_store(&c->clock_offset_ms, wait);
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
		int64_t left_us = wait > 1000 ? INT64_C(1000000) :
		    (now + wait) * 1000 - wall_us(c);
		if (left_us > 1000000)
			left_us = 1000000;
		if (left_us > 0) {
			struct timespec ts = {(time_t) (left_us / 1000000),
			    (long) (left_us % 1000000) * 1000};
			nanosleep(&ts, NULL);
		}
	}
	*got = have;
	return rv;
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
	out->time_bits = c->gen.layout.time_bits;
	out->worker_bits = c->gen.layout.worker_bits;
	out->seq_bits = c->gen.layout.seq_bits;
	out->unit_ms = c->gen.layout.unit_ms;
	out->epoch_ms = c->gen.layout.epoch_ms;
}

int
sr_coordinator_worker(sr_coordinator *c, uint32_t *worker_id)
{
	if (sr_mono_us() >= atomic_load(&c->lease_until_us))
		return SR_ENOWORKER;
	*worker_id = atomic_load(&c->gen.worker);
	return SR_OK;
}

int64_t
sr_coordinator_clock_offset_ms(sr_coordinator *c)
{
	return atomic_load(&c->clock_offset_ms);
}

/* ---- introspection ---- */

uint64_t
sr_coordinator_node_id(const sr_coordinator *c)
{
	return c->node_id;
}

const char *
sr_coordinator_name(const sr_coordinator *c)
{
	return c->name;
}

static void
chunk_info(sr_chunk_info *o, const char *seq, const struct range_chunk *ch,
    uint64_t used, int current)
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
	for (size_t i = 0; i < SEQ_SLOTS; i++) {
		struct sr_sequence *s = atomic_load(&c->slots[i]);
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
	out->leases = atomic_load(&c->leases);
	out->lease_errors = atomic_load(&c->lease_errors);
	for (size_t i = 0; i < SEQ_SLOTS; i++) {
		struct sr_sequence *s = atomic_load(&c->slots[i]);
		if (s == NULL)
			continue;
		pthread_mutex_lock(&s->cache.mu);
		out->waits += s->cache.waits;
		if (s->cache.max_wait_us > out->max_wait_us)
			out->max_wait_us = s->cache.max_wait_us;
		pthread_mutex_unlock(&s->cache.mu);
	}
}
