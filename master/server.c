/*
 * The master's request handlers: one row per RPC in a dispatch table, each
 * turning a Request into catalog calls under the master mutex and the result
 * into a Response.
 */
#include "server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flake.h"
#include "held.h"
#include "leader.h"
#include "metrics.h"
#include "snowrange/error.h"
#include "log.h"
#include "strbuf.h"
#include "util.h"
#include "wire.h"

/* Recent events for the status page (joins, leaves, failed commits). */
#define EVENTS_MAX 64
#define EVENT_LEN 160

/*
 * A store that times the commits of the store it wraps and counts their
 * failures (for /metrics), and otherwise passes every call through: the
 * catalog and the backends stay as they are.
 */
struct timed_store {
	struct store base;
	struct store *inner;
	struct metrics_hist hist;
	_Atomic uint64_t errors;
};

static int
ts_acquire(struct store *st, struct store_state *out)
{
	return store_acquire_and_load(((struct timed_store *) st)->inner, out);
}

static int
ts_load(struct store *st, struct store_state *out)
{
	return store_load(((struct timed_store *) st)->inner, out);
}

static int
ts_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	struct timed_store *t = (struct timed_store *) st;
	int64_t t0 = sr_mono_us();
	int rv = store_commit(t->inner, term, ops, n);
	metrics_observe(&t->hist, (uint64_t) (sr_mono_us() - t0));
	if (rv != SR_OK)
		atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
	return rv;
}

static void
ts_close(struct store *st)
{
	struct timed_store *t = (struct timed_store *) st;
	store_close(t->inner);
	free(t);
}

static const char *
ts_errmsg(struct store *st)
{
	return store_errmsg(((struct timed_store *) st)->inner);
}

static const struct store_ops timed_ops = {ts_acquire, ts_load, ts_commit, ts_close, ts_errmsg};

/*
 * A lease waiting for the flush that makes its range durable, with its
 * request parked (wire_park): it holds no thread while it waits, and the
 * flusher thread answers it once the flush is done. What the reply needs is
 * kept here, since the request is gone once the handler returns.
 */
struct parked_lease {
	struct parked_lease *next;
	struct master *m;
	struct wire_parked *token;
	uint64_t gen; /* m->cat_gen when leased: pend belongs to that catalog */
	char seq[STORE_NAME_MAX + 1];
	struct catalog_pending pend;
	struct range_chunk ch;
	/* The answer, once the flush decided it. */
	int rv;
	char err[WIRE_ERRMSG_MAX];
	uint64_t term, seq_start;
	bool no_prefetch;
};

struct master {
	pthread_mutex_t mu;
	/* Group commit of leases (docs/decisions.md): one flush at a time
	 * commits every range reserved since the last one, outside mu; the
	 * other handlers that commit wait until it is done (the store is not
	 * reentrant), and waiting leases sleep on flushed. */
	pthread_cond_t flushed;
	bool flushing;
	/* Leases waiting for a flush with their requests parked, in arrival
	 * order, and the thread that flushes for them and answers them
	 * (started at the first one; docs/decisions.md). */
	struct parked_lease *parked, **parked_tail;
	size_t nparked;
	pthread_cond_t parked_cv; /* signalled when a lease parks, or to stop */
	pthread_t flusher;
	bool flusher_on, stopping;
	struct store *st;
	struct catalog *cat; /* NULL while this master stands by (etcd) */
	uint64_t cat_gen;    /* bumped whenever cat is swapped (under mu) */
	struct leader *ld;   /* the election (etcd); NULL with SQLite */
	struct catalog_config catcfg;
	const char *where; /* the store, for the log */
	const char *listen;
	struct wire_server *srv;
	uint32_t lease_ttl_ms;
	int lock_fd;        /* flock on the data dir, -1 when none */
	atomic_bool fenced; /* another master took the term: serve nothing */
	int64_t swept_ms;   /* when nodes past their retention were last forgotten */
	int64_t lost_ms;    /* when a "state was lost" refusal was last logged */
	int64_t claim_ms;   /* when a worker claim the store lacked was last logged */
	void (*on_fenced)(void *arg);
	void *on_fenced_arg;
	struct timed_store *timed; /* m->st, seen as what it is */
	_Atomic uint64_t leases;   /* chunks leased (metrics) */
	/* What each node holds, as its heartbeats say (held.h): status only,
	 * with a mutex of its own, never taken under mu. */
	struct held_table *held;
	/* The status page's recent events: a ring under ev_mu. */
	pthread_mutex_t ev_mu;
	struct {
		int64_t ms;
		char text[EVENT_LEN];
	} events[EVENTS_MAX];
	size_t nevents; /* ever added; the ring holds the last EVENTS_MAX */
};

/* Adds a line to the status page's recent events. */
static void event(struct master *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
event(struct master *m, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&m->ev_mu);
	size_t i = m->nevents++ % EVENTS_MAX;
	m->events[i].ms = sr_wall_ms();
	va_start(ap, fmt);
	vsnprintf(m->events[i].text, EVENT_LEN, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&m->ev_mu);
}

/* Copies the catalog's message for a failed call. */
static int
cat_fail(struct master *m, int rv, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "%s", catalog_errmsg(m->cat));
	/* Client mistakes are the client's to report; a failing disk or a
	 * lost fencing term is the operator's. */
	if (rv == SR_EIO || rv == SR_ESTALE || rv == SR_ENOMEM) {
		sr_log("master", "%s: %s", sr_errname(rv), catalog_errmsg(m->cat));
		event(m, "failed commit: %s: %s", sr_errname(rv), catalog_errmsg(m->cat));
	}
	/* Under an election (etcd) a stale term means a successor leads:
	 * this master stops serving at once and stands by (docs/ha.md). */
	if (rv == SR_ESTALE && m->ld != NULL) {
		leader_step_down(m->ld);
		snprintf(errbuf, errlen,
		    "this master lost the leadership (another "
		    "master took the fencing term); ask the leader");
		return SR_ENOTLEADER;
	}
	/* A stale term means another master took over the store: nothing
	 * this one says is true any more (status included), so it stops
	 * serving and asks its process to exit (docs/reliability.md). */
	if (rv == SR_ESTALE && !atomic_exchange(&m->fenced, true)) {
		sr_log("master",
		    "FENCED: another master took the fencing term of this "
		    "data dir (ours was %llu); this master stops serving and exits",
		    (unsigned long long) catalog_term(m->cat));
		if (m->on_fenced != NULL)
			m->on_fenced(m->on_fenced_arg);
	}
	return rv;
}

/* The redirect a standby (or a leader whose lease ran out) answers with:
 * SR_ENOTLEADER and the leader's URL, in the message and in Error.leader. */
static int
not_leading(struct master *m, struct wire_arena *a, char *errbuf, size_t errlen)
{
	char url[256] = "";
	if (m->ld != NULL)
		leader_url(m->ld, url, sizeof(url));
	wire_set_leader(a, url);
	if (url[0] != '\0')
		snprintf(errbuf, errlen,
		    "this master (%s) is not the leader; the leader "
		    "is %s",
		    m->listen, url);
	else
		snprintf(errbuf, errlen,
		    "this master (%s) is not the leader and none is "
		    "elected yet",
		    m->listen);
	return SR_ENOTLEADER;
}

/* Every handler's first check: a fenced master answers nothing but
 * SR_ESTALE, a master that does not lead nothing but a redirect. */
static int
refuse(struct master *m, struct wire_arena *a, char *errbuf, size_t errlen)
{
	if (atomic_load(&m->fenced)) {
		snprintf(errbuf, errlen,
		    "this master was fenced by another one and is "
		    "stopping");
		return SR_ESTALE;
	}
	if (m->ld != NULL && !leader_serving(m->ld))
		return not_leading(m, a, errbuf, errlen);
	return SR_OK;
}

/*
 * Takes the mutex for a catalog call; false (mutex released) when this
 * master has no catalog or no valid leadership. A handler that may commit
 * (for_commit) also waits until no lease flush is committing (the store is
 * not reentrant). unlock_leading() checks the leadership again before a
 * reply leaves: a leader stopped (SIGSTOP, a long pause) past its lease in
 * between must not hand out what a successor may hand out too (leader.h).
 */
static bool
lock_leading(struct master *m, bool for_commit)
{
	pthread_mutex_lock(&m->mu);
	while (for_commit && m->flushing)
		pthread_cond_wait(&m->flushed, &m->mu);
	if (m->cat != NULL && (m->ld == NULL || leader_serving(m->ld)))
		return true;
	pthread_mutex_unlock(&m->mu);
	return false;
}

static int
unlock_leading(struct master *m, struct wire_arena *a, int rv, char *errbuf, size_t errlen)
{
	bool ok = m->ld == NULL || leader_serving(m->ld);
	pthread_mutex_unlock(&m->mu);
	if (!ok && rv == SR_OK)
		return not_leading(m, a, errbuf, errlen);
	return rv;
}

static Sr__SeqInfo *
seq_info_msg(struct wire_arena *a, const struct catalog_seq_info *in)
{
	Sr__SeqInfo *s = wire_alloc(a, sizeof(*s));
	if (s == NULL)
		return NULL;
	sr__seq_info__init(s);
	s->name = wire_strdup(a, in->row.name);
	s->start = in->row.start;
	s->hwm = in->row.hwm;
	s->chunk_size = in->row.chunk;
	s->max_value = in->row.max_value;
	s->spare_chunks = in->row.spare;
	s->mode = in->row.mode;
	s->min_chunk = in->row.min_chunk;
	s->max_chunk = in->row.max_chunk;
	s->users = in->users;
	s->no_prefetch = !in->row.prefetch;
	return s->name != NULL ? s : NULL;
}

/* The layout never changes while the master runs: no lock needed. It is
 * the configured one (catalog_open refuses a store holding another), so it
 * is there on a standby too, which has no catalog. */
static Sr__Layout *
layout_msg(struct master *m, struct wire_arena *a)
{
	const sr_flake_layout *l = &m->catcfg.layout;
	Sr__Layout *o = wire_alloc(a, sizeof(*o));
	if (o == NULL)
		return NULL;
	sr__layout__init(o);
	o->time_bits = l->time_bits;
	o->worker_bits = l->worker_bits;
	o->seq_bits = l->seq_bits;
	o->unit_ms = l->unit_ms;
	o->epoch_ms = l->epoch_ms;
	return o;
}

static Sr__WorkerGrant *
grant_msg(struct wire_arena *a, const struct catalog_grant *g)
{
	Sr__WorkerGrant *o = wire_alloc(a, sizeof(*o));
	if (o == NULL)
		return NULL;
	sr__worker_grant__init(o);
	o->worker_id = g->worker_id;
	o->floor_tick = g->floor_tick;
	return o;
}

#define OOM(errbuf, errlen) (snprintf(errbuf, errlen, "out of memory"), SR_ENOMEM)

/*
 * A node bound to a name (its certificate's CN with mutual TLS, or a
 * "node:NAME" token line; docs/security.md) acts only for that name: a Lease, Heartbeat or Leave
 * for another node's id is refused, so one stolen coordinator credential cannot evict or
 * impersonate the others. Unknown ids are left to the catalog (SR_ENOTJOINED). Call with mu held.
 */
static int
acts_for(struct master *m, const struct wire_peer *p, const char *what, uint64_t id, char *errbuf,
    size_t errlen)
{
	const char *name;
	if (p->node[0] == '\0' || (p->roles & CREDS_ADMIN) != 0 ||
	    catalog_node_name(m->cat, id, &name) != SR_OK || strcmp(name, p->node) == 0)
		return SR_OK;
	snprintf(errbuf, errlen, "%s for node %llu (%s) refused: this peer is node %s", what,
	    (unsigned long long) id, name, p->node);
	sr_log("master", "%s", errbuf);
	return SR_EACCES;
}

/*
 * Forgets the nodes dead for longer than --node-retention, at most once a
 * minute, from the heartbeat path (heartbeats arrive as long as any node
 * lives; with none, nothing grows). One commit; call with mu held.
 */
static void
sweep_nodes(struct master *m)
{
	int64_t now = sr_wall_ms();
	if (now - m->swept_ms < 60000)
		return;
	m->swept_ms = now;
	size_t n;
	int rv = catalog_node_expire(m->cat, now, &n);
	if (rv != SR_OK) {
		char why[256];
		(void) cat_fail(m, rv, why, sizeof(why));
	} else if (n > 0) {
		sr_log("master", "forgot %zu nodes dead longer than --node-retention", n);
	}
}

/* A WorkerClaim off the wire, NULL when the peer sent none. */
static struct catalog_claim *
claim_in(const Sr__WorkerClaim *w, struct catalog_claim *c)
{
	if (w == NULL)
		return NULL;
	*c = (struct catalog_claim) {w->worker_id, w->tick, w->remaining_ms, 0, 0};
	return c;
}

/*
 * A node claimed a worker id the store did not give it (catalog.h): the
 * store lost its state, or is not the one the cluster ran on, as with the
 * "state was lost" lease refusal. The claim is kept (no other node gets
 * that id while the claimant may issue), but the operator must hear it, at
 * most every 10 s however many coordinators claim (docs/ha.md,
 * "Recovering"). Call with mu held.
 */
static void
claim_note(struct master *m, const char *name, const struct catalog_claim *c)
{
	if (c == NULL || c->outcome == CATALOG_CLAIM_NONE)
		return;
	int64_t now = sr_mono_ms();
	if (m->claim_ms != 0 && now - m->claim_ms < 10000)
		return;
	m->claim_ms = now;
	if (c->outcome == CATALOG_CLAIM_ADOPTED) {
		sr_logl(SR_LOG_ERROR, "master",
		    "node %s holds worker id %u (tick %llu, %lld ms left) that the store does "
		    "not give it: master state was lost. Adopted: it keeps that id and no other "
		    "node gets it while it may issue. %s is not the store this cluster ran on, "
		    "or it was rolled back: stop this master and restore the store (docs/ha.md)",
		    name, c->worker_id, (unsigned long long) c->tick, (long long) c->remaining_ms,
		    m->where);
		event(m, "worker id %u of node %s adopted, master state was lost", c->worker_id,
		    name);
	} else {
		sr_logl(SR_LOG_ERROR, "master",
		    "node %s claims worker id %u (tick %llu, %lld ms left), which the store gives "
		    "to node %llu whose lease may be live: two holders, master state was lost or "
		    "rolled back. %s keeps it no longer; no third node gets it before both "
		    "leases end (docs/ha.md)",
		    name, c->worker_id, (unsigned long long) c->tick, (long long) c->remaining_ms,
		    (unsigned long long) c->holder, name);
		event(m, "worker id %u claimed by node %s and held by node %llu", c->worker_id,
		    name, (unsigned long long) c->holder);
	}
}

static int
h_join(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	uint64_t id;
	Sr__JoinResponse *j = wire_alloc(a, sizeof(*j));
	if (j == NULL)
		return OOM(errbuf, errlen);
	sr__join_response__init(j);
	struct catalog_grant g;
	const struct wire_peer *p = wire_peer_of(a);
	if (p->node[0] != '\0' && strcmp(p->node, req->join->name) != 0) {
		snprintf(errbuf, errlen, "join as %.64s refused: this peer is node %s",
		    req->join->name, p->node);
		sr_log("master", "%s", errbuf);
		return SR_EACCES;
	}
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	struct catalog_claim cb, *claim = claim_in(req->join->claim, &cb);
	int64_t now = sr_wall_ms();
	int rv = catalog_node_join_claim(m->cat, req->join->name, req->join->listen_url,
	    req->join->instance, claim, now, &id, &g);
	if (rv != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	else
		claim_note(m, req->join->name, claim);
	int64_t wait = rv == SR_OK && !g.has ? catalog_worker_wait(m->cat, now) : 0;
	j->term = catalog_term(m->cat);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv == SR_EEXISTS || rv == SR_EINVAL)
		sr_log("master", "join refused: %s", errbuf);
	if (rv != SR_OK)
		return rv;
	event(m, "node %s joined as id %llu", req->join->name, (unsigned long long) id);
	if (g.has)
		sr_log("master", "node %s joined as id %llu (%s), worker %u above tick %llu",
		    req->join->name, (unsigned long long) id, req->join->listen_url, g.worker_id,
		    (unsigned long long) g.floor_tick);
	else if (wait > 0)
		sr_log("master",
		    "node %s joined as id %llu (%s), worker id in %lld ms: this master found "
		    "no worker grant in its store and first hears the claims of live "
		    "coordinators (docs/snowflake.md)",
		    req->join->name, (unsigned long long) id, req->join->listen_url,
		    (long long) wait);
	else
		sr_log("master", "node %s joined as id %llu (%s), no worker id free",
		    req->join->name, (unsigned long long) id, req->join->listen_url);
	j->worker_wait_ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t) wait;
	if ((j->layout = layout_msg(m, a)) == NULL ||
	    (g.has && (j->worker = grant_msg(a, &g)) == NULL))
		return OOM(errbuf, errlen);
	j->node_id = id;
	j->lease_ttl_ms = m->lease_ttl_ms;
	resp->body_case = SR__RESPONSE__BODY_JOIN;
	resp->join = j;
	return SR_OK;
}

static int
h_heartbeat(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	Sr__HeartbeatResponse *h = wire_alloc(a, sizeof(*h));
	if (h == NULL)
		return OOM(errbuf, errlen);
	sr__heartbeat_response__init(h);
	const Sr__HeartbeatRequest *q = req->heartbeat;
	struct catalog_grant g;
	/* The node's held-chunk summary is checked before the mutex and kept
	 * after it (held.h): a bad one costs the node its summary on the
	 * status page, never its heartbeat. */
	struct held_report held = {0};
	if (q->held != NULL)
		(void) held_check(q->held, &held);
	/* Which of the node's sequences still exist, and from which start:
	 * how a drop and a re-create reach coordinators (docs/decisions.md). */
	size_t nseqs = q->n_usage;
	Sr__SeqState *states = wire_alloc(a, (nseqs + 1) * sizeof(*states));
	h->seqs = wire_alloc(a, (nseqs + 1) * sizeof(*h->seqs));
	if (states == NULL || h->seqs == NULL)
		return OOM(errbuf, errlen);
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	sweep_nodes(m);
	int rv = acts_for(m, wire_peer_of(a), "heartbeat", q->node_id, errbuf, errlen);
	if (rv == SR_OK && (rv = catalog_node_instance(m->cat, q->node_id, q->instance)) != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	struct catalog_claim cb, *claim = claim_in(q->claim, &cb);
	int64_t now = sr_wall_ms(), wait = 0;
	if (rv == SR_OK &&
	    (rv = catalog_node_heartbeat_claim(m->cat, q->node_id, now, q->holds_worker,
	         q->worker_id, q->tick, claim, &g)) != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	if (rv == SR_OK) {
		const char *name = "?";
		(void) catalog_node_name(m->cat, q->node_id, &name);
		claim_note(m, name, claim);
		if (!g.has)
			wait = catalog_worker_wait(m->cat, now);
	}
	for (size_t i = 0; i < nseqs && rv == SR_OK; i++) {
		struct store_seq row;
		sr__seq_state__init(&states[i]);
		states[i].sequence = wire_strdup(a, q->usage[i]->sequence);
		if (states[i].sequence == NULL)
			rv = SR_ENOMEM;
		else if (catalog_seq_get(m->cat, q->usage[i]->sequence, &row) == SR_OK)
			states[i].start = row.start;
		h->seqs[h->n_seqs++] = &states[i];
	}
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv == SR_ENOMEM)
		return OOM(errbuf, errlen);
	/* A refused tick is a node's clock (or a peer) the operator must know
	 * about: the node loses its worker lease over it. */
	if (rv == SR_EINVAL)
		sr_log("master", "heartbeat refused: %s", errbuf);
	if (rv != SR_OK)
		return rv;
	if (q->held != NULL && held_put(m->held, q->node_id, &held, sr_wall_ms()))
		sr_log("master", "heartbeat of node %llu: %s (served; its summary is not kept)",
		    (unsigned long long) q->node_id, held.error);
	if (g.has && (h->worker = grant_msg(a, &g)) == NULL)
		return OOM(errbuf, errlen);
	h->worker_wait_ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t) wait;
	h->lease_ttl_ms = m->lease_ttl_ms;
	resp->body_case = SR__RESPONSE__BODY_HEARTBEAT;
	resp->heartbeat = h;
	return SR_OK;
}

static int
h_leave(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	Sr__LeaveResponse *l = wire_alloc(a, sizeof(*l));
	if (l == NULL)
		return OOM(errbuf, errlen);
	sr__leave_response__init(l);
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	int rv = acts_for(m, wire_peer_of(a), "leave", req->leave->node_id, errbuf, errlen);
	if (rv == SR_OK &&
	    (rv = catalog_node_instance(m->cat, req->leave->node_id, req->leave->instance)) !=
	        SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	if (rv == SR_OK &&
	    (rv = catalog_node_leave(m->cat, req->leave->node_id, req->leave->tick,
	         sr_wall_ms())) != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv == SR_EINVAL)
		sr_log("master", "leave refused: %s", errbuf);
	if (rv != SR_OK)
		return rv;
	held_forget(m->held, req->leave->node_id);
	sr_log("master", "node %llu left", (unsigned long long) req->leave->node_id);
	event(m, "node %llu left", (unsigned long long) req->leave->node_id);
	resp->body_case = SR__RESPONSE__BODY_LEAVE;
	resp->leave = l;
	return SR_OK;
}

/*
 * Commits every range reserved by deferred leases since the last flush in
 * one store commit (one fsync), with the mutex released during the commit
 * so that leases arriving meanwhile gather for the next one. Called with
 * mu held and no flush under way; returns with mu held.
 */
static void
flush(struct master *m)
{
	struct store_op *ops;
	size_t n;
	if (catalog_flush_take(m->cat, &ops, &n) != SR_OK || n == 0)
		return;
	m->flushing = true;
	uint64_t term = catalog_term(m->cat);
	pthread_mutex_unlock(&m->mu);
	int rv = store_commit(m->st, term, ops, n);
	pthread_mutex_lock(&m->mu);
	catalog_flush_done(m->cat, ops, n, rv);
	m->flushing = false;
	pthread_cond_broadcast(&m->flushed);
	if (rv != SR_OK) {
		char err[256];
		(void) cat_fail(m, rv, err, sizeof(err));
	}
}

/* Fills resp with a granted chunk (allocating from a). */
static int
lease_msg(struct wire_arena *a, Sr__Response *resp, const struct range_chunk *ch, uint64_t term,
    uint64_t seq_start, bool no_prefetch, char *errbuf, size_t errlen)
{
	Sr__LeaseResponse *l = wire_alloc(a, sizeof(*l));
	Sr__Chunk *c = wire_alloc(a, sizeof(*c));
	if (l == NULL || c == NULL)
		return OOM(errbuf, errlen);
	sr__lease_response__init(l);
	sr__chunk__init(c);
	l->term = term;
	l->seq_start = seq_start;
	l->no_prefetch = no_prefetch;
	c->start = ch->start;
	c->n = ch->n;
	c->k = ch->k;
	c->c = ch->c;
	l->chunk = c;
	resp->body_case = SR__RESPONSE__BODY_LEASE;
	resp->lease = l;
	return SR_OK;
}

/* The reply of a parked lease (wire_finish), from what the flusher decided. */
static int
parked_reply(void *arg, Sr__Response *resp, struct wire_arena *a, char *errbuf, size_t errlen)
{
	const struct parked_lease *p = arg;
	if (p->rv == SR_ENOTLEADER)
		return not_leading(p->m, a, errbuf, errlen);
	if (p->rv != SR_OK) {
		snprintf(errbuf, errlen, "%s", p->err);
		return p->rv;
	}
	return lease_msg(a, resp, &p->ch, p->term, p->seq_start, p->no_prefetch, errbuf, errlen);
}

/*
 * Takes off the parked list every lease whose flush is decided (its range
 * durable, its flush failed, or its catalog gone) and settles its answer,
 * as the synchronous path of h_lease would; returns them as a list. The
 * leadership is checked here, as unlock_leading does before a reply leaves.
 * Call with mu held.
 */
static struct parked_lease *
take_decided(struct master *m)
{
	struct parked_lease *done = NULL, **done_tail = &done;
	struct parked_lease **pp = &m->parked;
	bool leading = m->ld == NULL || leader_serving(m->ld);
	while (*pp != NULL) {
		struct parked_lease *p = *pp;
		int rv;
		if (p->gen != m->cat_gen || m->cat == NULL) {
			rv = SR_ENOTLEADER;
		} else if ((rv = catalog_durable(m->cat, p->seq, &p->pend)) == CATALOG_PENDING) {
			if (!m->stopping) {
				pp = &p->next;
				continue;
			}
			/* Never handed out: a gap, as after a failed flush. */
			rv = SR_ECLOSED;
		}
		*pp = p->next;
		m->nparked--;
		p->next = NULL;
		*done_tail = p;
		done_tail = &p->next;
		if (rv == SR_ECLOSED) {
			snprintf(p->err, sizeof(p->err), "the master is stopping");
		} else if (rv != SR_OK && rv != SR_ENOTLEADER) {
			rv = cat_fail(m, rv, p->err, sizeof(p->err));
		} else if (rv == SR_OK) {
			struct store_seq row;
			if (catalog_seq_get(m->cat, p->seq, &row) == SR_OK) {
				p->no_prefetch = !row.prefetch;
				p->seq_start = row.start;
			}
			p->term = catalog_term(m->cat);
			if (!leading)
				rv = SR_ENOTLEADER;
		}
		p->rv = rv;
	}
	m->parked_tail = pp;
	return done;
}

/* Answers the leases of list (take_decided) and frees them; without mu. */
static void
answer_parked(struct master *m, struct parked_lease *list)
{
	while (list != NULL) {
		struct parked_lease *p = list;
		list = p->next;
		if (p->rv == SR_OK)
			atomic_fetch_add_explicit(&m->leases, 1, memory_order_relaxed);
		wire_finish(p->token, parked_reply, p);
		free(p);
	}
}

/*
 * The flusher: while leases are parked, commits what they wait for (one
 * flush at a time, each taking every range reserved since the previous one,
 * so leases that arrive during a commit gather for the next) and answers
 * each lease once its flush is decided. A flush under way in a synchronous
 * handler (wire_serve_bytes) is waited for, not duplicated. On stop, leases
 * still parked are answered SR_ECLOSED.
 */
static void *
flusher_main(void *arg)
{
	struct master *m = arg;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		struct parked_lease *done = take_decided(m);
		if (done != NULL) {
			pthread_mutex_unlock(&m->mu);
			answer_parked(m, done);
			pthread_mutex_lock(&m->mu);
			continue;
		}
		if (m->stopping)
			break;
		if (m->parked == NULL || m->cat == NULL) {
			pthread_cond_wait(&m->parked_cv, &m->mu);
		} else if (m->flushing) {
			pthread_cond_wait(&m->flushed, &m->mu);
		} else {
			size_t before = m->nparked;
			uint64_t commits = atomic_load(&m->timed->hist.count);
			flush(m);
			/* Nothing to commit while leases still wait means the flush
			 * could not take its rows (out of memory): try again a
			 * little later instead of spinning. */
			if (m->nparked == before && atomic_load(&m->timed->hist.count) == commits) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += 10 * 1000 * 1000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&m->parked_cv, &m->mu, &ts);
			}
		}
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/*
 * Parks a deferred lease for the flusher (started here the first time);
 * false when it cannot be parked (no socket to answer on later, the master
 * stopping, no memory or thread), and the caller waits for its flush
 * itself. Call with mu held.
 */
static bool
park_lease(struct master *m, struct wire_arena *a, const char *seq, uint64_t gen,
    const struct catalog_pending *pend, const struct range_chunk *ch)
{
	if (m->stopping || !wire_parkable(a))
		return false;
	if (!m->flusher_on) {
		if (pthread_create(&m->flusher, NULL, flusher_main, m) != 0)
			return false;
		m->flusher_on = true;
	}
	struct parked_lease *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return false;
	if ((p->token = wire_park(a)) == NULL) {
		free(p);
		return false;
	}
	p->m = m;
	p->gen = gen;
	sr_strlcpy(p->seq, seq, sizeof(p->seq));
	p->pend = *pend;
	p->ch = *ch;
	*m->parked_tail = p;
	m->parked_tail = &p->next;
	m->nparked++;
	pthread_cond_signal(&m->parked_cv);
	return true;
}

/*
 * A lease refused because the node holds IDs above the sequence's hwm
 * (catalog.c: "master state was lost"): this store is not the one the
 * cluster ran on (an empty etcd prefix, a wrong --data-dir) or it was
 * rolled back. The operator must hear it, at most every 10 s however many
 * coordinators ask (docs/ha.md, "Recovering"). Call with mu held.
 */
static void
state_lost(struct master *m, const char *why)
{
	int64_t now = sr_mono_ms();
	if (m->lost_ms != 0 && now - m->lost_ms < 10000)
		return;
	m->lost_ms = now;
	sr_logl(SR_LOG_ERROR, "master",
	    "lease refused: %s. %s is not the store this cluster ran on, or it was rolled "
	    "back: stop this master and restore the store (docs/ha.md); never let it start "
	    "empty",
	    why, m->where);
	event(m, "lease refused, master state was lost: %s", why);
}

static int
h_lease(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	struct range_chunk ch;
	if (!lock_leading(m, false))
		return not_leading(m, a, errbuf, errlen);
	/* A wait for a flush releases the mutex: the election may swap the
	 * catalog meanwhile (lost, elected), and pend belongs to this one. */
	uint64_t gen = m->cat_gen;
	struct store_seq row;
	struct catalog_pending pend;
	uint64_t seq_start = 0;
	bool no_prefetch = false;
	int rv = acts_for(m, wire_peer_of(a), "lease", req->lease->node_id, errbuf, errlen);
	if (rv == SR_OK)
		rv = catalog_lease_deferred(m->cat, req->lease->node_id, req->lease->sequence,
		    req->lease->after, sr_wall_ms(), &ch, &pend);
	/* The chunk goes out only once its range's hwm is on disk. Served
	 * over a socket, the request waits parked and the flusher answers it
	 * (no thread held, no wake-up per lease); otherwise this thread
	 * flushes, or waits for the flush under way and then sees
	 * (docs/decisions.md). */
	if (rv == SR_OK &&
	    catalog_durable(m->cat, req->lease->sequence, &pend) == CATALOG_PENDING &&
	    park_lease(m, a, req->lease->sequence, gen, &pend, &ch)) {
		pthread_mutex_unlock(&m->mu);
		return WIRE_PARKED;
	}
	while (rv == SR_OK) {
		rv = catalog_durable(m->cat, req->lease->sequence, &pend);
		if (rv != CATALOG_PENDING)
			break;
		rv = SR_OK;
		if (m->flushing)
			pthread_cond_wait(&m->flushed, &m->mu);
		else
			flush(m);
		if (m->cat_gen != gen) {
			pthread_mutex_unlock(&m->mu);
			return not_leading(m, a, errbuf, errlen);
		}
	}
	if (rv == SR_EACCES) {
		/* acts_for said why. */
	} else if (rv != SR_OK) {
		rv = cat_fail(m, rv, errbuf, errlen);
		/* catalog.c's lease() says so in these words; a failed
		 * commit's SR_EINVAL (a value the store refused) is not it. */
		if (rv == SR_EINVAL && strstr(errbuf, "master state was lost") != NULL)
			state_lost(m, errbuf);
	} else if (catalog_seq_get(m->cat, req->lease->sequence, &row) == SR_OK) {
		no_prefetch = !row.prefetch;
		seq_start = row.start;
	}
	uint64_t term = catalog_term(m->cat);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	atomic_fetch_add_explicit(&m->leases, 1, memory_order_relaxed);
	return lease_msg(a, resp, &ch, term, seq_start, no_prefetch, errbuf, errlen);
}

static int
h_seq_create(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	const Sr__SeqCreateRequest *q = req->seq_create;
	struct catalog_seq_spec spec = {
	    .name = q->name,
	    .start = q->start,
	    .chunk = q->chunk_size,
	    .max_value = q->max_value,
	    .min_chunk = q->min_chunk,
	    .max_chunk = q->max_chunk,
	    .spare = q->spare_chunks,
	    .mode = q->mode,
	    .no_prefetch = q->no_prefetch,
	};
	struct catalog_seq_info info;
	Sr__SeqCreateResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__seq_create_response__init(r);
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	int rv = catalog_seq_create(m->cat, &spec, sr_wall_ms(), &info);
	if (rv != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	event(m, "sequence %s created", info.row.name);
	sr_log("master", "sequence %s created (start %llu, chunk %llu)", info.row.name,
	    (unsigned long long) info.row.start, (unsigned long long) info.row.chunk);
	if ((r->seq = seq_info_msg(a, &info)) == NULL)
		return OOM(errbuf, errlen);
	resp->body_case = SR__RESPONSE__BODY_SEQ_CREATE;
	resp->seq_create = r;
	return SR_OK;
}

static int
h_seq_drop(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	Sr__SeqDropResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__seq_drop_response__init(r);
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	int rv = catalog_seq_drop(m->cat, req->seq_drop->name);
	if (rv != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	sr_log("master", "sequence %s dropped", req->seq_drop->name);
	event(m, "sequence %s dropped", req->seq_drop->name);
	resp->body_case = SR__RESPONSE__BODY_SEQ_DROP;
	resp->seq_drop = r;
	return SR_OK;
}

/* Page sizes of every list (docs/protocol.md): a page must fit well within
 * the 4 MiB reply cap, and building it holds the mutex only briefly. */
#define PAGE_DEFAULT 1000u
#define PAGE_MAX 5000u
/* A node in a Status reply carries its held summary too (up to ~1 KB), so
 * the node list pages at most this many: 2000 nodes and 5000 sequences stay
 * below 3 MB. */
#define NODES_PAGE_MAX 2000u

static size_t
page_limit(uint32_t limit)
{
	return limit == 0 ? PAGE_DEFAULT : limit > PAGE_MAX ? PAGE_MAX : limit;
}

/*
 * One page of the sequence list shared by SeqList and Status: up to limit
 * sequences after the cursor, *next set to the last one's name when more
 * follow. O(log n + page) under the mutex (catalog_seq_page), so readers do
 * not stall heartbeats and leases (issue 10). Call with mu held.
 */
static int
seqs_msg(struct master *m, struct wire_arena *a, const char *after, size_t limit,
    Sr__SeqInfo ***out, size_t *n, char **next)
{
	int64_t now = sr_wall_ms();
	struct catalog_seq_info *page = malloc(limit * sizeof(*page));
	Sr__SeqInfo **v = wire_alloc(a, (limit + 1) * sizeof(*v));
	if (page == NULL || v == NULL) {
		free(page);
		return SR_ENOMEM;
	}
	size_t k;
	int more = catalog_seq_page(m->cat, after, limit, now, page, &k);
	for (size_t i = 0; i < k; i++)
		if ((v[i] = seq_info_msg(a, &page[i])) == NULL) {
			free(page);
			return SR_ENOMEM;
		}
	free(page);
	*out = v;
	*n = k;
	*next = more && k > 0 ? v[k - 1]->name : "";
	return SR_OK;
}

/* One page of the node list for Status, like seqs_msg. Call with mu held. */
static int
nodes_msg(struct master *m, struct wire_arena *a, uint64_t after, size_t limit, Sr__NodeInfo ***out,
    size_t *n, uint64_t *next)
{
	int64_t now = sr_wall_ms();
	struct catalog_node_info *page = malloc(limit * sizeof(*page));
	Sr__NodeInfo **v = wire_alloc(a, (limit + 1) * sizeof(*v));
	Sr__NodeInfo *msgs = wire_alloc(a, (limit + 1) * sizeof(*msgs));
	if (page == NULL || v == NULL || msgs == NULL) {
		free(page);
		return SR_ENOMEM;
	}
	size_t k;
	int more = catalog_node_page(m->cat, after, limit, now, page, &k);
	int rv = SR_OK;
	for (size_t i = 0; i < k && rv == SR_OK; i++) {
		const struct catalog_node_info *info = &page[i];
		Sr__NodeInfo *o = &msgs[i];
		sr__node_info__init(o);
		o->node_id = info->row.id;
		o->name = wire_strdup(a, info->row.name);
		o->listen_url = wire_strdup(a, info->row.url);
		o->alive = info->alive;
		o->last_seen_ms = (uint64_t) info->row.last_seen_ms;
		o->has_worker = info->has_worker;
		o->worker_id = info->worker.id;
		o->worker_expires_ms = info->worker.expires_ms;
		if (o->name == NULL || o->listen_url == NULL)
			rv = SR_ENOMEM;
		v[i] = o;
	}
	free(page);
	*out = v;
	*n = k;
	*next = more && k > 0 ? v[k - 1]->node_id : 0;
	return rv;
}

/* A node's kept summary as a NodeHeld. */
static Sr__NodeHeld *
node_held_msg(struct wire_arena *a, const struct held_entry *e)
{
	Sr__NodeHeld *o = wire_alloc(a, sizeof(*o));
	if (o == NULL)
		return NULL;
	sr__node_held__init(o);
	o->at_ms = e->at_ms;
	if (!e->r.ok)
		return (o->error = wire_strdup(a, e->r.error)) != NULL ? o : NULL;
	Sr__HeldSummary *s = wire_alloc(a, sizeof(*s));
	Sr__HeldSeq *v = wire_alloc(a, (e->r.nseqs + 1) * sizeof(*v));
	Sr__HeldSeq **p = wire_alloc(a, (e->r.nseqs + 1) * sizeof(*p));
	if (s == NULL || v == NULL || p == NULL)
		return NULL;
	sr__held_summary__init(s);
	s->sequences = e->r.sequences;
	s->chunks = e->r.chunks;
	for (size_t i = 0; i < e->r.nseqs; i++) {
		sr__held_seq__init(&v[i]);
		if ((v[i].sequence = wire_strdup(a, e->r.seqs[i].name)) == NULL)
			return NULL;
		v[i].chunks = e->r.seqs[i].chunks;
		v[i].headroom = e->r.seqs[i].headroom;
		p[i] = &v[i];
	}
	s->seqs = p;
	s->n_seqs = e->r.nseqs;
	o->summary = s;
	return o;
}

static int
h_seq_list(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	const Sr__SeqListRequest *q = req->seq_list;
	Sr__SeqListResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__seq_list_response__init(r);
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	int rv = seqs_msg(m, a, q->after, page_limit(q->limit), &r->seqs, &r->n_seqs, &r->next);
	if (rv == SR_ENOMEM)
		(void) OOM(errbuf, errlen);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	resp->body_case = SR__RESPONSE__BODY_SEQ_LIST;
	resp->seq_list = r;
	return SR_OK;
}

/*
 * A standby's own view, for a Status that asks for it (own_view: `snowrange
 * status` asks every master of its list, as `etcdctl endpoint status` asks
 * every member; docs/ha.md): its role, the leader it sees, the layout. The
 * cluster's nodes and sequences are the leader's to tell.
 */
static int
standby_status(struct master *m, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	char url[256] = "";
	Sr__StatusResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__status_response__init(r);
	r->role = "standby";
	r->seqs_next = "";
	leader_url(m->ld, url, sizeof(url));
	if ((r->master_url = wire_strdup(a, url)) == NULL || (r->layout = layout_msg(m, a)) == NULL)
		return OOM(errbuf, errlen);
	resp->body_case = SR__RESPONSE__BODY_STATUS;
	resp->status = r;
	return SR_OK;
}

static int
h_status(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	struct master *m = arg;
	const Sr__StatusRequest *q = req->status;
	if (q->own_view && !atomic_load(&m->fenced) && m->ld != NULL && !leader_serving(m->ld))
		return standby_status(m, resp, a, errbuf, errlen);
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	Sr__StatusResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__status_response__init(r);
	r->role = "master";
	/* On etcd, the leader's URL as the standbys name it: this master's. */
	if (m->ld != NULL) {
		char url[256] = "";
		leader_url(m->ld, url, sizeof(url));
		if ((r->master_url = wire_strdup(a, url)) == NULL)
			return OOM(errbuf, errlen);
	}
	size_t limit = page_limit(q->limit);
	int rv = SR_OK;
	r->seqs_next = "";
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	r->term = catalog_term(m->cat);
	if ((r->layout = layout_msg(m, a)) == NULL)
		rv = SR_ENOMEM;
	if (rv == SR_OK && !q->seqs_done)
		rv = seqs_msg(m, a, q->seqs_after, limit, &r->seqs, &r->n_seqs, &r->seqs_next);
	if (rv == SR_OK && !q->nodes_done)
		rv =
		    nodes_msg(m, a, q->nodes_after, limit < NODES_PAGE_MAX ? limit : NODES_PAGE_MAX,
		        &r->nodes, &r->n_nodes, &r->nodes_next);
	if (rv == SR_ENOMEM)
		(void) OOM(errbuf, errlen);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	/* The summaries after the master's mutex: held_get takes only the
	 * table's own. */
	for (size_t i = 0; i < r->n_nodes; i++) {
		struct held_entry e;
		if (held_get(m->held, r->nodes[i]->node_id, &e) &&
		    (r->nodes[i]->held = node_held_msg(a, &e)) == NULL)
			return OOM(errbuf, errlen);
	}
	resp->body_case = SR__RESPONSE__BODY_STATUS;
	resp->status = r;
	return SR_OK;
}

static int
h_node_remove(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct master *m = arg;
	int refused = refuse(m, a, errbuf, errlen);
	if (refused != SR_OK)
		return refused;
	const Sr__NodeRemoveRequest *q = req->node_remove;
	Sr__NodeRemoveResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__node_remove_response__init(r);
	uint64_t id = q->node_id;
	if (!lock_leading(m, true))
		return not_leading(m, a, errbuf, errlen);
	int rv = SR_OK;
	if (id == 0 && catalog_node_id(m->cat, q->name, &id) != SR_OK) {
		snprintf(errbuf, errlen, "no node named '%.64s'", q->name);
		rv = SR_ENOTJOINED;
	}
	if (rv == SR_OK && (rv = catalog_node_remove(m->cat, id, sr_wall_ms())) != SR_OK)
		rv = cat_fail(m, rv, errbuf, errlen);
	rv = unlock_leading(m, a, rv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	held_forget(m->held, id);
	sr_log("master", "node %llu removed (its worker ids' floors are kept)",
	    (unsigned long long) id);
	r->node_id = id;
	resp->body_case = SR__RESPONSE__BODY_NODE_REMOVE;
	resp->node_remove = r;
	return SR_OK;
}

/* decode's question: who held a worker id at a tick (catalog.h). */
static int
h_worker_holder(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct master *m = arg;
	const Sr__WorkerHolderRequest *q = req->worker_holder;
	Sr__WorkerHolderResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		return OOM(errbuf, errlen);
	sr__worker_holder_response__init(r);
	struct catalog_holder h;
	if (!lock_leading(m, false))
		return not_leading(m, a, errbuf, errlen);
	int rv = catalog_worker_holder(m->cat, q->worker_id, q->tick, &h);
	pthread_mutex_unlock(&m->mu);
	if (rv != SR_OK) {
		snprintf(errbuf, errlen,
		    "no record of who held worker id %u at tick %llu "
		    "(the master keeps the last %u grants of worker ids, --worker-history)",
		    q->worker_id, (unsigned long long) q->tick, m->catcfg.worker_history);
		return rv;
	}
	if ((r->name = wire_strdup(a, h.name)) == NULL)
		return OOM(errbuf, errlen);
	r->node_id = h.node_id;
	r->certain = h.certain;
	r->from_tick = h.from_tick;
	r->to_tick = h.to_tick;
	resp->body_case = SR__RESPONSE__BODY_WORKER_HOLDER;
	resp->worker_holder = r;
	return SR_OK;
}

/* Who may call what, with tokens (docs/security.md): a node for its own
 * name, an admin for the catalog and for removing any node, a reader (or an
 * admin) to look. */
static const struct wire_route routes[] = {
    {SR__REQUEST__BODY_JOIN, h_join, CREDS_NODE},
    {SR__REQUEST__BODY_HEARTBEAT, h_heartbeat, CREDS_NODE},
    {SR__REQUEST__BODY_LEAVE, h_leave, CREDS_NODE | CREDS_ADMIN},
    {SR__REQUEST__BODY_LEASE, h_lease, CREDS_NODE},
    {SR__REQUEST__BODY_SEQ_CREATE, h_seq_create, CREDS_ADMIN},
    {SR__REQUEST__BODY_SEQ_LIST, h_seq_list, CREDS_READER | CREDS_ADMIN},
    {SR__REQUEST__BODY_SEQ_DROP, h_seq_drop, CREDS_ADMIN},
    {SR__REQUEST__BODY_STATUS, h_status, CREDS_READER | CREDS_ADMIN},
    {SR__REQUEST__BODY_NODE_REMOVE, h_node_remove, CREDS_ADMIN},
    {SR__REQUEST__BODY_WORKER_HOLDER, h_worker_holder, CREDS_READER | CREDS_ADMIN},
};

const struct wire_route *
master_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

struct catalog *
master_catalog(struct master *m)
{
	return m->cat;
}

/* A master over st with no catalog yet; owns st from here on. */
static struct master *
master_new(struct store *st, const struct catalog_config *cfg)
{
	struct master *m = calloc(1, sizeof(*m));
	struct timed_store *t = calloc(1, sizeof(*t));
	if (m == NULL || t == NULL) {
		free(m);
		free(t);
		store_close(st);
		return NULL;
	}
	int64_t keep_ms = 3 * (int64_t) cfg->lease_ttl_ms;
	if (held_table_new(keep_ms > HELD_KEEP_MIN_MS ? keep_ms : HELD_KEEP_MIN_MS, &m->held) !=
	    SR_OK) {
		free(m);
		free(t);
		store_close(st);
		return NULL;
	}
	t->base.ops = &timed_ops;
	t->inner = st;
	st = &t->base;
	m->timed = t;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->ev_mu, NULL);
	pthread_cond_init(&m->flushed, NULL);
	pthread_cond_init(&m->parked_cv, NULL);
	m->parked_tail = &m->parked;
	m->lock_fd = -1;
	atomic_init(&m->fenced, false);
	m->lease_ttl_ms = cfg->lease_ttl_ms;
	m->catcfg = *cfg;
	m->st = st;
	m->where = "";
	m->listen = "";
	return m;
}

int
master_open(struct store *st, const struct catalog_config *cfg, struct master **out, char *errbuf,
    size_t errlen)
{
	struct master *m = master_new(st, cfg);
	if (m == NULL)
		return SR_ENOMEM;
	int rv = catalog_open(m->st, cfg, sr_wall_ms(), &m->cat, errbuf, errlen);
	if (rv != SR_OK) {
		master_stop(m);
		return rv;
	}
	*out = m;
	return SR_OK;
}

/* A catalog that found no worker grant in its store says, once, why the
 * first joins get no worker id for a moment (catalog.h, claim_wait_ms). */
static void
note_claim_wait(const struct catalog *cat)
{
	int64_t wait = catalog_worker_wait(cat, sr_wall_ms());
	if (wait > 0)
		sr_log("master",
		    "no worker grant in the store (new, or its state was lost): worker ids are "
		    "granted in %lld ms, once coordinators still live from before had the time "
		    "to claim theirs (docs/snowflake.md)",
		    (long long) wait);
}

/*
 * The election's callbacks (leader.h), on its thread. Elected: take the
 * term and load (catalog_open) before serving anything. No request uses
 * the store meanwhile: with no catalog every one is refused, so the store
 * stays single-threaded as store.h asks.
 */
static int
elected(void *arg, char *errbuf, size_t errlen)
{
	struct master *m = arg;
	struct catalog *cat;
	int rv = catalog_open(m->st, &m->catcfg, sr_wall_ms(), &cat, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	pthread_mutex_lock(&m->mu);
	m->cat = cat;
	m->cat_gen++;
	pthread_mutex_unlock(&m->mu);
	sr_log("master", "leading: serving %s from %s (term %llu)", m->listen, m->where,
	    (unsigned long long) catalog_term(cat));
	note_claim_wait(cat);
	return SR_OK;
}

/* Lost: serving has stopped already (leader_serving is false); drop the
 * catalog, since a successor's term makes everything in it stale. */
static void
lost(void *arg)
{
	struct master *m = arg;
	pthread_mutex_lock(&m->mu);
	/* A flush under way uses the catalog with the mutex released. */
	while (m->flushing)
		pthread_cond_wait(&m->flushed, &m->mu);
	catalog_close(m->cat);
	m->cat = NULL;
	m->cat_gen++;
	/* Parked leases of that catalog are answered with a redirect. */
	pthread_cond_signal(&m->parked_cv);
	pthread_mutex_unlock(&m->mu);
}

/*
 * The order matters (issue 10): the data dir's lock first, so a second master
 * on the same dir refuses before it touches anything; then the socket, so a
 * second master on the same URL fails before it takes a fencing term (which
 * would fence the first one); then the store and its term; then serving.
 * With etcd, the master serves at once as a standby (redirecting) and takes
 * the term only once elected (docs/ha.md).
 */
int
master_start(const struct master_config *cfg, struct master **out, char *errbuf, size_t errlen)
{
	struct store *st;
	struct master *m;
	struct wire_server *srv;
	char why[256];
	int lock_fd = -1;
	bool etcd = cfg->store_url != NULL && cfg->store_url[0] != '\0';
	const char *where = etcd ? cfg->store_url : cfg->data_dir;
	/* etcd needs no local lock: the election and the fencing term in etcd
	 * keep two masters from both committing. */
	int rv = etcd ? SR_OK : store_sqlite_lock(cfg->data_dir, &lock_fd, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	if ((rv = wire_server_listen_creds(cfg->listen_url, cfg->creds, cfg->insecure, &srv, errbuf,
	         errlen)) != SR_OK) {
		if (lock_fd >= 0)
			close(lock_fd);
		return rv;
	}
	wire_server_limits(srv, cfg->max_conns, cfg->idle_ms);
	rv = etcd ? store_etcd_open(cfg->store_url,
	                cfg->etcd_timeout_ms > 0 ? cfg->etcd_timeout_ms : 1000,
	                (size_t) cfg->etcd_max_txn_ops, &st, errbuf, errlen)
	          : store_sqlite_open(cfg->data_dir, &st, errbuf, errlen);
	if (rv != SR_OK) {
		wire_server_stop(srv);
		if (lock_fd >= 0)
			close(lock_fd);
		return rv;
	}
	if (etcd) {
		if ((m = master_new(st, &cfg->catalog)) == NULL) {
			wire_server_stop(srv);
			return SR_ERRF(errbuf, errlen, SR_ENOMEM, "out of memory");
		}
	} else if ((rv = master_open(st, &cfg->catalog, &m, why, sizeof(why))) != SR_OK) {
		snprintf(errbuf, errlen, "cannot load %s: %s", where, why);
		wire_server_stop(srv);
		if (lock_fd >= 0)
			close(lock_fd);
		return rv;
	}
	m->srv = srv;
	m->lock_fd = lock_fd;
	m->where = where;
	m->listen = cfg->listen_url;
	m->on_fenced = cfg->on_fenced;
	m->on_fenced_arg = cfg->on_fenced_arg;
	size_t n;
	const struct wire_route *r = master_routes(&n);
	rv = wire_server_serve(srv, r, n, m, cfg->workers, errbuf, errlen);
	if (rv != SR_OK) {
		master_stop(m);
		return rv;
	}
	if (etcd) {
		struct leader_config lc = {
		    .store_url = cfg->store_url,
		    .advertise = cfg->advertise != NULL && cfg->advertise[0] != '\0'
		        ? cfg->advertise
		        : cfg->listen_url,
		    .ttl_ms = cfg->leader_ttl_ms > 0 ? cfg->leader_ttl_ms : 2000,
		    .timeout_ms = cfg->etcd_timeout_ms > 0 ? cfg->etcd_timeout_ms : 1000,
		    .on_elected = elected,
		    .on_lost = lost,
		    .arg = m,
		};
		if ((rv = leader_start(&lc, &m->ld, errbuf, errlen)) != SR_OK) {
			master_stop(m);
			return rv;
		}
		sr_log("master", "standing by on %s for the leadership of %s (advertising %s)",
		    cfg->listen_url, where, lc.advertise);
	} else {
		sr_log("master", "serving %s from %s (term %llu)", cfg->listen_url, where,
		    (unsigned long long) catalog_term(m->cat));
		note_claim_wait(m->cat);
	}
	*out = m;
	return SR_OK;
}

void
master_stop_flusher(struct master *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	bool on = m->flusher_on;
	m->flusher_on = false;
	pthread_cond_signal(&m->parked_cv);
	pthread_cond_broadcast(&m->flushed);
	pthread_mutex_unlock(&m->mu);
	/* It answers what is still parked (SR_ECLOSED) before it ends, while
	 * the server can still send. */
	if (on)
		pthread_join(m->flusher, NULL);
}

size_t
master_leases_parked(struct master *m, bool *stopping)
{
	pthread_mutex_lock(&m->mu);
	size_t n = m->nparked;
	if (stopping != NULL)
		*stopping = m->stopping;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void
master_stop(struct master *m)
{
	if (m == NULL)
		return;
	/* Resign first, so that a standby takes over while we shut down; a
	 * request in flight finishes before lost() takes the mutex. The
	 * election is freed only once the flusher and the request threads,
	 * which ask leader_serving, are gone (freed first, they read freed
	 * memory: ASan in tests/ha/state_lost.sh). */
	leader_resign(m->ld);
	master_stop_flusher(m);
	wire_server_stop(m->srv);
	leader_stop(m->ld);
	catalog_close(m->cat);
	store_close(m->st);
	/* Last: the store is closed before another master may open it. */
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->ev_mu);
	pthread_cond_destroy(&m->flushed);
	pthread_cond_destroy(&m->parked_cv);
	held_table_free(m->held);
	free(m);
}

/* ---- for the HTTP side (master/master_http.c) ---- */

int
master_metrics(struct master *m, struct metrics_master *out, struct metrics_seq **seqs)
{
	memset(out, 0, sizeof(*out));
	*seqs = NULL;
	int64_t now = sr_wall_ms();
	metrics_hist_read(&m->timed->hist, &out->commit_latency);
	out->commit_errors = atomic_load_explicit(&m->timed->errors, memory_order_relaxed);
	out->leases = atomic_load_explicit(&m->leases, memory_order_relaxed);
	pthread_mutex_lock(&m->mu);
	if (m->cat == NULL) {
		/* A standby (etcd, docs/ha.md) has no catalog: counters only. */
		pthread_mutex_unlock(&m->mu);
		return SR_OK;
	}
	out->term = catalog_term(m->cat);
	out->nodes_known = catalog_node_count(m->cat);
	out->nodes_live = catalog_nodes_live(m->cat, now);
	catalog_worker_ids(m->cat, now, &out->workers_free, &out->workers_total);
	size_t n = catalog_seq_count(m->cat);
	struct metrics_seq *v = calloc(n + 1, sizeof(*v));
	struct catalog_seq_info *page = malloc((n + 1) * sizeof(*page));
	size_t k = 0;
	if (v != NULL && page != NULL)
		catalog_seq_page(m->cat, NULL, n, now, page, &k);
	pthread_mutex_unlock(&m->mu);
	if (v == NULL || page == NULL) {
		free(v);
		free(page);
		return SR_ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		sr_strlcpy(v[i].name, page[i].row.name, sizeof(v[i].name));
		v[i].hwm = page[i].row.hwm;
		v[i].chunk = page[i].row.chunk;
		v[i].users = page[i].users;
	}
	free(page);
	out->seqs = v;
	out->nseqs = k;
	*seqs = v;
	return SR_OK;
}

/* ,"held":{...} of a node (docs/http.md): its latest summary, the reason
 * it was refused, or null when the master has none. */
static void
held_json(struct master *m, struct strbuf *b, uint64_t node_id)
{
	struct held_entry e;
	if (!held_get(m->held, node_id, &e)) {
		strbuf_puts(b, ",\"held\":null");
		return;
	}
	strbuf_printf(b, ",\"held\":{\"at_ms\":%lld", (long long) e.at_ms);
	if (!e.r.ok) {
		strbuf_puts(b, ",\"error\":");
		strbuf_json_str(b, e.r.error);
		strbuf_puts(b, "}");
		return;
	}
	strbuf_printf(b, ",\"sequences\":%u,\"chunks\":%u,\"seqs\":[", e.r.sequences, e.r.chunks);
	for (size_t i = 0; i < e.r.nseqs; i++) {
		strbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		strbuf_json_str(b, e.r.seqs[i].name);
		strbuf_printf(b, ",\"chunks\":%u,\"headroom\":", e.r.seqs[i].chunks);
		strbuf_json_u64(b, e.r.seqs[i].headroom);
		strbuf_puts(b, "}");
	}
	strbuf_puts(b, "]}");
}

/* At most this many nodes and sequences on the status page: it is for
 * eyes, `snowrange status` pages through any number. */
#define STATUS_PAGE_MAX 500

int
master_status_json(struct master *m, struct strbuf *b)
{
	int64_t now = sr_wall_ms();
	struct catalog_seq_info *seqs = malloc(STATUS_PAGE_MAX * sizeof(*seqs));
	struct catalog_node_info *nodes = malloc(STATUS_PAGE_MAX * sizeof(*nodes));
	if (seqs == NULL || nodes == NULL) {
		free(seqs);
		free(nodes);
		return SR_ENOMEM;
	}
	size_t ns, nn;
	pthread_mutex_lock(&m->mu);
	if (m->cat == NULL) {
		/* A standby (etcd, docs/ha.md): who leads, nothing else. */
		pthread_mutex_unlock(&m->mu);
		free(seqs);
		free(nodes);
		char url[256] = "";
		if (m->ld != NULL)
			leader_url(m->ld, url, sizeof(url));
		strbuf_puts(b, "{\"role\":\"standby\",\"leader\":");
		strbuf_json_str(b, url);
		strbuf_puts(b, "}");
		return SR_OK;
	}
	uint64_t term = catalog_term(m->cat);
	size_t total_seqs = catalog_seq_count(m->cat), total_nodes = catalog_node_count(m->cat);
	catalog_seq_page(m->cat, NULL, STATUS_PAGE_MAX, now, seqs, &ns);
	catalog_node_page(m->cat, 0, STATUS_PAGE_MAX, now, nodes, &nn);
	char layout[FLAKE_LAYOUT_STRLEN];
	flake_layout_format(&m->catcfg.layout, layout, sizeof(layout));
	pthread_mutex_unlock(&m->mu);
	strbuf_puts(b, "{\"role\":\"master\",\"term\":");
	strbuf_json_u64(b, term);
	strbuf_printf(b, ",\"now_ms\":%lld,\"layout\":", (long long) now);
	strbuf_json_str(b, layout);
	strbuf_printf(b,
	    ",\"lease_ttl_ms\":%u,\"sequences_total\":%zu,\"nodes_total\":%zu,"
	    "\"sequences\":[",
	    m->lease_ttl_ms, total_seqs, total_nodes);
	for (size_t i = 0; i < ns; i++) {
		const struct store_seq *r = &seqs[i].row;
		strbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		strbuf_json_str(b, r->name);
		strbuf_puts(b, ",\"start\":");
		strbuf_json_u64(b, r->start);
		strbuf_puts(b, ",\"hwm\":");
		strbuf_json_u64(b, r->hwm);
		strbuf_puts(b, ",\"max_value\":");
		strbuf_json_u64(b, r->max_value);
		strbuf_puts(b, ",\"chunk_size\":");
		strbuf_json_u64(b, r->chunk);
		strbuf_printf(b, ",\"mode\":\"%s\",\"prefetch\":%s,\"users\":%u}",
		    r->mode == STORE_MODE_BLOCK ? "block" : "interleaved",
		    r->prefetch ? "true" : "false", seqs[i].users);
	}
	strbuf_puts(b, "],\"nodes\":[");
	for (size_t i = 0; i < nn; i++) {
		const struct catalog_node_info *n = &nodes[i];
		strbuf_puts(b, i ? ",{\"id\":" : "{\"id\":");
		strbuf_json_u64(b, n->row.id);
		strbuf_puts(b, ",\"name\":");
		strbuf_json_str(b, n->row.name);
		strbuf_puts(b, ",\"url\":");
		strbuf_json_str(b, n->row.url);
		strbuf_printf(b, ",\"alive\":%s,\"last_seen_ms\":%lld", n->alive ? "true" : "false",
		    (long long) n->row.last_seen_ms);
		if (n->has_worker)
			strbuf_printf(b, ",\"worker\":%u,\"worker_expires_ms\":%lld", n->worker.id,
			    (long long) n->worker.expires_ms);
		else
			strbuf_puts(b, ",\"worker\":null");
		held_json(m, b, n->row.id);
		strbuf_puts(b, "}");
	}
	free(seqs);
	free(nodes);
	strbuf_puts(b, "],\"events\":[");
	pthread_mutex_lock(&m->ev_mu);
	size_t first = m->nevents > EVENTS_MAX ? m->nevents - EVENTS_MAX : 0;
	for (size_t e = m->nevents; e > first; e--) {
		size_t i = (e - 1) % EVENTS_MAX;
		strbuf_printf(b, "%s{\"ms\":%lld,\"text\":", e < m->nevents ? "," : "",
		    (long long) m->events[i].ms);
		strbuf_json_str(b, m->events[i].text);
		strbuf_puts(b, "}");
	}
	pthread_mutex_unlock(&m->ev_mu);
	strbuf_puts(b, "]}\n");
	return SR_OK;
}

bool
master_fenced(struct master *m)
{
	return atomic_load(&m->fenced);
}

bool
master_serving(struct master *m, char *leader, size_t len)
{
	leader[0] = '\0';
	if (atomic_load(&m->fenced))
		return false;
	if (m->ld == NULL || leader_serving(m->ld))
		return true;
	leader_url(m->ld, leader, len);
	return false;
}
