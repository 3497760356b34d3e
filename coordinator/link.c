/*
 * The coordinator's link to its master (link.h): the Join, Heartbeat, Lease
 * and Leave round trips, and turning their replies into plain values for the
 * worker lease and the caches. The only part of the coordinator that sees
 * protobuf types.
 */
#include "link.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "snowrange/error.h"
#include "util.h"
#include "wire.h"

/* How long after the master's worker_wait_ms the next heartbeat goes. */
#define LINK_WAIT_MARGIN_MS 20

_Static_assert(LINK_HELD_SEQS == WIRE_HELD_SEQS_MAX, "the master refuses longer summaries");

/* Whether the master answered: any reply counts, a refusal included. */
static void
note_reach(struct master_link *l, int rv)
{
	atomic_store_explicit(&l->reachable,
	    rv != SR_ETIMEDOUT && rv != SR_ECONNECT && rv != SR_ECLOSED, memory_order_relaxed);
}

/* Error messages: util.h's one helper (see SR_ERRF there). */
#define errf SR_ERRF

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

void
link_init(struct master_link *l, const char *name, const char *listen_url,
    struct worker_lease *worker)
{
	l->name = name;
	l->listen_url = listen_url;
	l->chan = NULL;
	l->instance = random_instance();
	atomic_init(&l->node_id, 0);
	atomic_init(&l->lease_ttl_ms, 0);
	atomic_init(&l->worker_wait_ms, 0);
	atomic_init(&l->left, false);
	atomic_init(&l->leases, 0);
	atomic_init(&l->lease_errors, 0);
	pthread_mutex_init(&l->join_mu, NULL);
	l->worker = worker;
}

void
link_destroy(struct master_link *l)
{
	pthread_mutex_destroy(&l->join_mu);
}

/*
 * Applies what the master said about our worker lease; sent_us is when the
 * request was sent and ttl_ms the TTL the same reply carried: the one the
 * master gave this grant or renewal. Called with join_mu held.
 */
static int
apply_grant(struct master_link *l, const Sr__Layout *layout, const Sr__WorkerGrant *g,
    uint32_t wait_ms, int64_t sent_us, uint32_t ttl_ms, char *errbuf, size_t errlen)
{
	atomic_store(&l->worker_wait_ms, g == NULL ? wait_ms : 0);
	if (ttl_ms == 0)
		return errf(errbuf, errlen, SR_EPROTO, "master sent no lease_ttl_ms");
	atomic_store(&l->lease_ttl_ms, ttl_ms);
	sr_flake_layout fl, *lp = NULL;
	if (layout != NULL) {
		if (layout->time_bits > 63 || layout->worker_bits > 63 || layout->seq_bits > 63)
			return errf(errbuf, errlen, SR_EPROTO, "bad Snowflake layout %u/%u/%u",
			    layout->time_bits, layout->worker_bits, layout->seq_bits);
		fl = (sr_flake_layout) {
		    .time_bits = layout->time_bits,
		    .worker_bits = layout->worker_bits,
		    .seq_bits = layout->seq_bits,
		    .unit_ms = layout->unit_ms,
		    .epoch_ms = layout->epoch_ms,
		};
		lp = &fl;
	}
	struct worker_grant wg = {.wait_ms = wait_ms};
	if (g != NULL)
		wg = (struct worker_grant) {true, g->worker_id, g->floor_tick, 0};
	return worker_apply(l->worker, lp, &wg, sent_us, ttl_ms, errbuf, errlen);
}

/* Our worker claim for a Join or Heartbeat (docs/snowflake.md, "Claims"),
 * NULL when we hold no worker id. Called with join_mu held. */
static Sr__WorkerClaim *
claim_out(struct master_link *l, Sr__WorkerClaim *c)
{
	uint32_t id;
	uint64_t tick;
	int64_t left;
	if (!worker_claim(l->worker, &id, &tick, &left))
		return NULL;
	sr__worker_claim__init(c);
	c->worker_id = id;
	c->tick = tick;
	c->remaining_ms = left;
	return c;
}

/* A re-join is a lifecycle event the operator sees in the log. */
static void
rejoined(struct master_link *l)
{
	sr_log_to(l->worker->log_fn, l->worker->log_arg, SR_LOG_WARN, l->name,
	    "the master had forgotten this node: joined again as node %llu",
	    (unsigned long long) l->node_id);
}

int
link_join(struct master_link *l, char *errbuf, size_t errlen)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__JoinRequest j = SR__JOIN_REQUEST__INIT;
	Sr__Response *resp;
	j.name = (char *) l->name;
	j.listen_url = (char *) l->listen_url;
	j.instance = l->instance;
	req.body_case = SR__REQUEST__BODY_JOIN;
	req.join = &j;
	if (atomic_load(&l->left))
		return errf(errbuf, errlen, SR_ECLOSED, "this coordinator has left");
	Sr__WorkerClaim claim;
	pthread_mutex_lock(&l->join_mu);
	/* A re-join (the master forgot us: its store may be new) says which
	 * worker id we issue under, before the master picks one for anybody. */
	j.claim = claim_out(l, &claim);
	int64_t sent = sr_mono_us();
	int rv = wire_call(l->chan, &req, &resp, errbuf, errlen);
	note_reach(l, rv);
	if (rv == SR_OK) {
		l->node_id = resp->join->node_id;
		rv = apply_grant(l, resp->join->layout, resp->join->worker,
		    resp->join->worker_wait_ms, sent, resp->join->lease_ttl_ms, errbuf, errlen);
		wire_response_free(resp);
	}
	pthread_mutex_unlock(&l->join_mu);
	return rv;
}

int
link_heartbeat(struct master_link *l, const char *const *names, const uint64_t *starts, size_t n,
    const struct link_held *held, link_seq_fn fn, void *arg)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__HeartbeatRequest h = SR__HEARTBEAT_REQUEST__INIT;
	Sr__Response *resp;
	char err[WIRE_ERRMSG_MAX];
	h.node_id = l->node_id;
	h.instance = l->instance;
	req.body_case = SR__REQUEST__BODY_HEARTBEAT;
	req.heartbeat = &h;
	/* The sequences we serve, each with the start of the incarnation held;
	 * without memory for the list this heartbeat goes without it. */
	Sr__SeqUse *u = n > 0 ? calloc(n, sizeof(*u)) : NULL;
	h.usage = n > 0 ? calloc(n, sizeof(*h.usage)) : NULL;
	if (u == NULL || h.usage == NULL) {
		free(u);
		free(h.usage);
		u = NULL;
		h.usage = NULL;
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		sr__seq_use__init(&u[i]);
		u[i].sequence = (char *) names[i];
		u[i].start = starts[i];
		h.usage[h.n_usage++] = &u[i];
	}
	Sr__HeldSummary hs = SR__HELD_SUMMARY__INIT;
	Sr__HeldSeq hseq[LINK_HELD_SEQS];
	Sr__HeldSeq *hp[LINK_HELD_SEQS];
	if (held != NULL) {
		hs.sequences = held->sequences;
		hs.chunks = held->chunks;
		for (size_t i = 0; i < held->n && i < LINK_HELD_SEQS; i++) {
			sr__held_seq__init(&hseq[i]);
			hseq[i].sequence = (char *) held->seqs[i].name;
			hseq[i].chunks = held->seqs[i].chunks;
			hseq[i].headroom = held->seqs[i].headroom;
			hp[hs.n_seqs++] = &hseq[i];
		}
		hs.seqs = hp;
		h.held = &hs;
	}
	Sr__WorkerClaim claim;
	pthread_mutex_lock(&l->join_mu);
	h.holds_worker = atomic_load(&l->worker->has_worker);
	h.worker_id = atomic_load(&l->worker->gen.worker);
	h.tick = worker_report_tick(l->worker);
	h.claim = claim_out(l, &claim);
	int64_t sent = sr_mono_us();
	int rv = wire_call(l->chan, &req, &resp, err, sizeof(err));
	note_reach(l, rv);
	if (rv == SR_OK) {
		rv = apply_grant(l, NULL, resp->heartbeat->worker, resp->heartbeat->worker_wait_ms,
		    sent, resp->heartbeat->lease_ttl_ms, err, sizeof(err));
		for (size_t i = 0; fn != NULL && i < resp->heartbeat->n_seqs; i++) {
			const Sr__SeqState *st = resp->heartbeat->seqs[i];
			if (st->sequence != NULL)
				fn(arg, st->sequence, st->start);
		}
		wire_response_free(resp);
	}
	pthread_mutex_unlock(&l->join_mu);
	free(h.usage);
	free(u);
	/* The master forgot us (a left node, or its store was replaced):
	 * join again under the same name. */
	if (rv == SR_ENOTJOINED && (rv = link_join(l, err, sizeof(err))) == SR_OK)
		rejoined(l);
	return rv;
}

int
link_lease_once(struct master_link *l, const char *seq, uint64_t after, struct cache_lease *out,
    char *errbuf, size_t errlen)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaseRequest lr = SR__LEASE_REQUEST__INIT;
	Sr__Response *resp;
	lr.node_id = l->node_id;
	lr.sequence = (char *) seq;
	lr.after = after;
	req.body_case = SR__REQUEST__BODY_LEASE;
	req.lease = &lr;
	int64_t t0 = sr_mono_us();
	int rv = wire_call(l->chan, &req, &resp, errbuf, errlen);
	metrics_observe(&l->lease_hist, (uint64_t) (sr_mono_us() - t0));
	note_reach(l, rv);
	if (rv != SR_OK) {
		atomic_fetch_add(&l->lease_errors, 1);
		return rv;
	}
	const Sr__Chunk *ch = resp->lease->chunk;
	if (ch == NULL || ch->n == 0 || ch->k >= ch->n || ch->c == 0) {
		wire_response_free(resp);
		atomic_fetch_add(&l->lease_errors, 1);
		return errf(errbuf, errlen, SR_EPROTO, "lease reply without a valid chunk");
	}
	out->chunk = (struct range_chunk) {ch->start, ch->n, ch->k, ch->c};
	out->no_prefetch = resp->lease->no_prefetch;
	out->seq_start = resp->lease->seq_start;
	wire_response_free(resp);
	atomic_fetch_add(&l->leases, 1);
	return SR_OK;
}

int
link_lease(struct master_link *l, const char *seq, uint64_t after, struct cache_lease *out,
    char *errbuf, size_t errlen)
{
	int rv = link_lease_once(l, seq, after, out, errbuf, errlen);
	if (rv == SR_ENOTJOINED && link_join(l, errbuf, errlen) == SR_OK) {
		rejoined(l);
		rv = link_lease_once(l, seq, after, out, errbuf, errlen);
	}
	return rv;
}

int
link_leave(struct master_link *l)
{
	/* The master ends the worker lease at once: so do we, before telling
	 * it (join_mu orders this after any grant being applied). */
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaveRequest lv = SR__LEAVE_REQUEST__INIT;
	Sr__Response *resp;
	char err[WIRE_ERRMSG_MAX];
	pthread_mutex_lock(&l->join_mu);
	lv.tick = worker_end(l->worker); /* after the lease closed: no txid above it */
	pthread_mutex_unlock(&l->join_mu);
	lv.node_id = l->node_id;
	lv.instance = l->instance;
	req.body_case = SR__REQUEST__BODY_LEAVE;
	req.leave = &lv;
	int rv = wire_call(l->chan, &req, &resp, err, sizeof(err));
	if (rv == SR_OK)
		wire_response_free(resp);
	return rv;
}

int64_t
link_beat_ms(struct master_link *l, int64_t min_ms)
{
	int64_t ms = atomic_load(&l->lease_ttl_ms) / 3;
	/* Just after the wait the master named: a heartbeat that arrives a
	 * moment early gets nothing and waits a whole beat more. */
	int64_t wait = atomic_load(&l->worker_wait_ms);
	if (wait > 0 && wait + LINK_WAIT_MARGIN_MS < ms)
		ms = wait + LINK_WAIT_MARGIN_MS;
	return ms < min_ms ? min_ms : ms;
}
