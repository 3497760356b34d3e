/*
 * The election thread (leader.h): an etcd lease, a lease-backed leader key,
 * keep-alives, and the local deadline every request checks.
 */
#include "leader.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd_codec.h"
#include "etcd_http.h"
#include "log.h"
#include "snowrange/error.h"
#include "util.h"

/* How often a standby looks at the leader key: the part of a failover
 * that is ours, beside the TTL (docs/ha.md). */
#define POLL_MS 100
/* Retry pace after an etcd request failed. */
#define RETRY_MS 100

struct leader {
	struct leader_config cfg;
	char prefix[ETCD_PREFIX_MAX];
	char endpoints[ETCD_ENDPOINTS_MAX];
	char advertise[256];
	struct etcd_client *cl;
	pthread_t thread;
	bool started;

	pthread_mutex_t mu; /* guards url, stop, step_down; cv wakes the thread */
	pthread_cond_t cv;
	bool stop, step_down;
	char url[256]; /* the leader's URL as last seen */

	/* The thread's own state. */
	int64_t lease;   /* etcd lease id; 0 when none */
	int64_t next_ka; /* mono ms of the next keep-alive */
	int ttl_s;

	bool leading; /* on_elected succeeded, on_lost not called since */

	/* Read by request threads. */
	atomic_bool won;             /* leading, and not told to step down */
	_Atomic int64_t deadline_us; /* mono us the lease is valid until */
};

bool
leader_serving(struct leader *ld)
{
	return atomic_load(&ld->won) && sr_mono_us() < atomic_load(&ld->deadline_us);
}

void
leader_url(struct leader *ld, char *buf, size_t len)
{
	pthread_mutex_lock(&ld->mu);
	snprintf(buf, len, "%s", ld->url);
	pthread_mutex_unlock(&ld->mu);
}

static void
set_url(struct leader *ld, const char *url)
{
	pthread_mutex_lock(&ld->mu);
	snprintf(ld->url, sizeof ld->url, "%s", url);
	pthread_mutex_unlock(&ld->mu);
}

void
leader_step_down(struct leader *ld)
{
	atomic_store(&ld->won, false);
	pthread_mutex_lock(&ld->mu);
	ld->step_down = true;
	pthread_cond_signal(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
}

/* One etcd request; *reply to be json_decref'd. Logs nothing. */
static int
call(struct leader *ld, const char *path, json_t *req, json_t **reply, char *err, size_t errlen)
{
	if (req == NULL)
		return SR_ERRF(err, errlen, SR_ENOMEM, "out of memory");
	int rv = etcd_call(ld->cl, path, req, reply, err, errlen);
	json_decref(req);
	return rv;
}

/* The lease's validity, from a grant or keep-alive sent at t0_us that
 * etcd answered with ttl seconds. A tenth of the TTL is kept back for
 * the clocks of etcd and this host running at slightly different rates. */
static void
extend(struct leader *ld, int64_t t0_us, int64_t ttl)
{
	int64_t ms = ttl * 1000;
	atomic_store(&ld->deadline_us, t0_us + (ms - ms / 10) * 1000);
	ld->next_ka = t0_us / 1000 + ms / 4;
}

static void
lose(struct leader *ld, const char *why)
{
	atomic_store(&ld->won, false);
	set_url(ld, "");
	/* leading, not won: leader_step_down clears won from a request thread,
	 * and the catalog must still be dropped and the loss logged. */
	if (!ld->leading)
		return;
	ld->leading = false;
	sr_log("master", "LEADERSHIP LOST (%s): serving stopped; standing by", why);
	if (ld->cfg.on_lost != NULL)
		ld->cfg.on_lost(ld->cfg.arg);
}

static void
revoke(struct leader *ld)
{
	char err[256];
	json_t *reply;
	char id[32];
	if (ld->lease == 0)
		return;
	snprintf(id, sizeof id, "%" PRId64, ld->lease);
	if (call(ld, "/v3/lease/revoke", json_pack("{ss}", "ID", id), &reply, err, sizeof err) ==
	    SR_OK)
		json_decref(reply);
	ld->lease = 0;
	atomic_store(&ld->deadline_us, 0);
}

static int
grant(struct leader *ld)
{
	char err[256], ttl[16];
	json_t *reply;
	int64_t id, got;
	snprintf(ttl, sizeof ttl, "%d", ld->ttl_s);
	int64_t t0 = sr_mono_us();
	int rv =
	    call(ld, "/v3/lease/grant", json_pack("{ss}", "TTL", ttl), &reply, err, sizeof err);
	if (rv != SR_OK)
		return rv;
	if (etcd_get_i64(reply, "ID", &id) != SR_OK || etcd_get_i64(reply, "TTL", &got) != SR_OK ||
	    id == 0 || got <= 0)
		rv = SR_EPROTO;
	json_decref(reply);
	if (rv == SR_OK) {
		ld->lease = id;
		extend(ld, t0, got);
	}
	return rv;
}

/* Renews the lease; a lease etcd no longer knows (TTL 0) is gone, and with
 * it our key: lose leadership at once. */
static void
keepalive(struct leader *ld)
{
	char err[256], id[32];
	json_t *reply;
	int64_t ttl;
	snprintf(id, sizeof id, "%" PRId64, ld->lease);
	int64_t t0 = sr_mono_us();
	int rv =
	    call(ld, "/v3/lease/keepalive", json_pack("{ss}", "ID", id), &reply, err, sizeof err);
	if (rv != SR_OK) {
		/* The deadline stays: if etcd stays away, serving ends there. */
		ld->next_ka = sr_mono_ms() + RETRY_MS;
		return;
	}
	rv = etcd_get_i64(json_object_get(reply, "result"), "TTL", &ttl);
	json_decref(reply);
	if (rv != SR_OK || ttl <= 0) {
		ld->lease = 0;
		atomic_store(&ld->deadline_us, 0);
		lose(ld, "etcd ended our lease");
		return;
	}
	extend(ld, t0, ttl);
}

/* One attempt to create the leader key; takes the term on success. */
static void
campaign(struct leader *ld)
{
	char err[512], url[256];
	json_t *reply;
	int found = 0;
	int64_t holder = 0;
	int rv = call(ld, "/v3/kv/txn", etcd_txn_campaign(ld->prefix, ld->advertise, ld->lease),
	    &reply, err, sizeof err);
	if (rv != SR_OK)
		return;
	bool mine = etcd_txn_succeeded(reply);
	if (!mine) {
		const json_t *kvs = etcd_reply_kvs(reply, 0);
		if (etcd_kv_value(kvs, url, sizeof url, &found) == SR_OK && found) {
			(void) etcd_get_i64(json_array_get(kvs, 0), "lease", &holder);
			set_url(ld, url);
		}
		/* Our own key from an attempt whose reply was lost. */
		mine = found && holder == ld->lease;
	}
	json_decref(reply);
	if (!mine)
		return;
	set_url(ld, ld->advertise);
	sr_log("master", "elected leader under etcd lease %" PRIx64 "; taking the term",
	    (uint64_t) ld->lease);
	rv = ld->cfg.on_elected(ld->cfg.arg, err, sizeof err);
	if (rv != SR_OK) {
		/* Give the key up so that another master can try. */
		sr_log("master", "cannot lead: %s (%s); resigning", err, sr_errname(rv));
		revoke(ld);
		set_url(ld, "");
		return;
	}
	ld->leading = true;
	atomic_store(&ld->won, true);
}

static void *
run(void *arg)
{
	struct leader *ld = arg;
	pthread_mutex_lock(&ld->mu);
	while (!ld->stop) {
		bool down = ld->step_down;
		ld->step_down = false;
		pthread_mutex_unlock(&ld->mu);

		if (down) {
			lose(ld, "another master took the fencing term");
			revoke(ld);
		}
		int64_t now = sr_mono_ms();
		if (ld->lease == 0) {
			if (grant(ld) != SR_OK)
				ld->next_ka = now + RETRY_MS;
		} else if (now >= ld->next_ka) {
			keepalive(ld);
		}
		if (ld->leading && sr_mono_us() >= atomic_load(&ld->deadline_us))
			lose(ld, "our etcd lease ran out before etcd renewed it");
		/* A standby campaigns only with a lease valid for a while yet:
		 * winning with one about to end would serve for nothing. */
		if (!ld->leading && ld->lease != 0 &&
		    atomic_load(&ld->deadline_us) - sr_mono_us() > 500000)
			campaign(ld);

		int64_t wake = ld->next_ka;
		if (!ld->leading && wake > sr_mono_ms() + POLL_MS)
			wake = sr_mono_ms() + POLL_MS;
		int64_t dl = atomic_load(&ld->deadline_us) / 1000;
		if (ld->leading && dl < wake)
			wake = dl;
		pthread_mutex_lock(&ld->mu);
		int64_t wait = wake - sr_mono_ms();
		if (!ld->stop && !ld->step_down && wait > 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ld->cv, &ld->mu, &ts);
		}
	}
	pthread_mutex_unlock(&ld->mu);
	/* Resigning on a clean stop hands over without waiting for the TTL. */
	atomic_store(&ld->won, false);
	if (ld->leading) {
		ld->leading = false;
		sr_log("master", "resigning the leadership");
		if (ld->cfg.on_lost != NULL)
			ld->cfg.on_lost(ld->cfg.arg);
	}
	revoke(ld);
	return NULL;
}

int
leader_start(const struct leader_config *cfg, struct leader **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	if (cfg->ttl_ms < 1000 || cfg->advertise == NULL || cfg->advertise[0] == '\0' ||
	    strlen(cfg->advertise) >= 256 || cfg->on_elected == NULL)
		return SR_ERRF(errbuf, errlen, SR_EINVAL,
		    "leader election needs a TTL of at least 1000 ms and a URL to "
		    "advertise (under 256 bytes)");
	struct leader *ld = calloc(1, sizeof(*ld));
	if (ld == NULL)
		return SR_ERRF(errbuf, errlen, SR_ENOMEM, "out of memory");
	ld->cfg = *cfg;
	snprintf(ld->advertise, sizeof ld->advertise, "%s", cfg->advertise);
	ld->cfg.advertise = ld->advertise;
	ld->ttl_s = (cfg->ttl_ms + 999) / 1000;
	pthread_mutex_init(&ld->mu, NULL);
	pthread_cond_init(&ld->cv, NULL);
	atomic_init(&ld->won, false);
	atomic_init(&ld->deadline_us, 0);
	int rv = etcd_url_parse(cfg->store_url, ld->endpoints, sizeof ld->endpoints, ld->prefix,
	    sizeof ld->prefix, errbuf, errlen);
	if (rv == SR_OK)
		rv = etcd_client_open(ld->endpoints, cfg->timeout_ms, &ld->cl, errbuf, errlen);
	if (rv == SR_OK && pthread_create(&ld->thread, NULL, run, ld) != 0)
		rv = SR_ERRF(errbuf, errlen, SR_ENOMEM, "cannot start the election thread");
	if (rv != SR_OK) {
		leader_stop(ld);
		return rv;
	}
	ld->started = true;
	*out = ld;
	return SR_OK;
}

void
leader_resign(struct leader *ld)
{
	if (ld == NULL || !ld->started)
		return;
	pthread_mutex_lock(&ld->mu);
	ld->stop = true;
	pthread_cond_signal(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
	pthread_join(ld->thread, NULL);
	ld->started = false;
	/* Whatever the thread left, nothing is served from here on. */
	atomic_store(&ld->won, false);
}

void
leader_stop(struct leader *ld)
{
	if (ld == NULL)
		return;
	leader_resign(ld);
	etcd_client_close(ld->cl);
	pthread_cond_destroy(&ld->cv);
	pthread_mutex_destroy(&ld->mu);
	free(ld);
}
