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
#include <time.h>

#include "cache.h"
#include "util.h"
#include "wire.h"

/* Open addressing, never shrinking: lookups are lock-free. */
#define SEQ_SLOTS 4096
#define SEQ_MAX (SEQ_SLOTS * 3 / 4)
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
	_Atomic uint64_t node_id; /* rewritten by a re-join */
	_Atomic uint32_t lease_ttl_ms;

	_Atomic(struct sr_sequence *) slots[SEQ_SLOTS];
	size_t nseqs; /* guarded by mu */

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
}

static int
errf(char *buf, size_t len, int code, const char *fmt, ...)
{
	if (buf != NULL && len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf, len, fmt, ap);
		va_end(ap);
	}
	return code;
}

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

/* ---- master round trips (background thread and first use) ---- */

static int
rpc_join(sr_coordinator *c, char *errbuf, size_t errlen)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__JoinRequest j = SR__JOIN_REQUEST__INIT;
	Sr__Response *resp;
	j.name = c->name;
	j.listen_url = c->listen_url;
	req.body_case = SR__REQUEST__BODY_JOIN;
	req.join = &j;
	int rv = wire_call(c->master, &req, &resp, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	c->node_id = resp->join->node_id;
	c->lease_ttl_ms = resp->join->lease_ttl_ms ? resp->join->lease_ttl_ms : 10000;
	wire_response_free(resp);
	return SR_OK;
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
	int rv = wire_call(c->master, &req, &resp, err, sizeof(err));
	/* The master forgot us (a left node, or its store was replaced):
	 * join again under the same name. */
	if (rv == SR_ENOTJOINED)
		rv = rpc_join(c, err, sizeof(err));
	else
		wire_response_free(resp);
	return rv;
}

static int
lease_once(sr_coordinator *c, const char *seq, uint64_t after,
    struct range_chunk *out, char *errbuf, size_t errlen)
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
	*out = (struct range_chunk){ch->start, ch->n, ch->k, ch->c};
	wire_response_free(resp);
	atomic_fetch_add(&c->leases, 1);
	return SR_OK;
}

/* A lease; when the master no longer knows this node, join and retry once. */
static int
rpc_lease(sr_coordinator *c, const char *seq, uint64_t after,
    struct range_chunk *out, char *errbuf, size_t errlen)
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
	struct range_chunk ch;
	char err[WIRE_ERRMSG_MAX];
	int rv = rpc_lease(c, s->cache.name, cache_after(&s->cache), &ch, err, sizeof(err));
	switch (rv) {
	case SR_OK:
		if (cache_offer(&s->cache, &ch) != SR_OK) {
			/* Below what we hold: never use it (it would break order). */
			sr_log(c->name, "%s: refused out-of-order chunk at %llu",
			    s->cache.name, (unsigned long long) ch.start);
			cache_rewant(&s->cache);
			return SR_EPROTO;
		}
		return SR_OK;
	case SR_ENOTFOUND:
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

static void *
fetcher(void *arg)
{
	sr_coordinator *c = arg;
	int64_t next_beat = sr_mono_ms() + c->lease_ttl_ms / 3;
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
				next_beat = sr_mono_ms() + c->lease_ttl_ms / 3;
			else
				next_beat = sr_mono_ms() + BACKOFF_MAX_MS;
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
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);

	int rv = wire_chan_open(c->master_url, c->rpc_timeout_ms, &c->master, errbuf, errlen);
	if (rv == SR_OK) {
		/* The master may still be starting: keep trying until the join
		 * timeout, so scripts can start everything at once. */
		int64_t until = sr_mono_ms() + c->join_timeout_ms;
		while ((rv = rpc_join(c, errbuf, errlen)) == SR_ETIMEDOUT ||
		    rv == SR_ECONNECT) {
			if (sr_mono_ms() >= until) {
				errf(errbuf, errlen, SR_EUNAVAILABLE,
				    "master %s did not answer within %d ms", c->master_url,
				    c->join_timeout_ms);
				rv = SR_EUNAVAILABLE;
				break;
			}
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (rv == SR_OK && pthread_create(&c->thread, NULL, fetcher, c) != 0)
		rv = errf(errbuf, errlen, SR_ENOMEM, "cannot start the fetcher thread");
	if (rv != SR_OK) {
		wire_chan_close(c->master);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return rv;
	}
	*out = c;
	return SR_OK;
}

void
sr_coordinator_close(sr_coordinator *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);

	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaveRequest l = SR__LEAVE_REQUEST__INIT;
	Sr__Response *resp;
	char err[WIRE_ERRMSG_MAX];
	l.node_id = c->node_id;
	req.body_case = SR__REQUEST__BODY_LEAVE;
	req.leave = &l;
	if (wire_call(c->master, &req, &resp, err, sizeof(err)) == SR_OK)
		wire_response_free(resp);
	wire_chan_close(c->master);

	for (size_t i = 0; i < SEQ_SLOTS; i++) {
		struct sr_sequence *s = atomic_load(&c->slots[i]);
		if (s != NULL) {
			cache_seq_destroy(&s->cache);
			free(s);
		}
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* ---- IDs ---- */

int
sr_sequence_get(sr_coordinator *c, const char *name, sr_sequence **out)
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
	struct range_chunk ch;
	char err[WIRE_ERRMSG_MAX];
	int rv = rpc_lease(c, name, 0, &ch, err, sizeof(err));
	if (rv == SR_ETIMEDOUT || rv == SR_ECONNECT)
		rv = SR_EUNAVAILABLE;
	if (rv == SR_OK)
		rv = cache_offer(&s->cache, &ch);
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
sr_seq_next_ids(sr_sequence *s, size_t n, uint64_t *out, size_t *got)
{
	size_t dummy;
	if (got == NULL)
		got = &dummy;
	*got = 0;
	if (s == NULL || out == NULL || n == 0 || n > CACHE_MAX_BATCH)
		return SR_EINVAL;
	int64_t deadline = sr_mono_us() + (int64_t) s->owner->lease_timeout_ms * 1000;
	return cache_next(&s->cache, n, out, got, deadline);
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
	int rv = sr_sequence_get(c, seq, &s);
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
