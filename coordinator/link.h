/*
 * The coordinator's link to its master: Join, Heartbeat, Lease and Leave
 * over one wire channel, with its own state (node id, the master's TTL, the
 * process instance). What the master says about the worker id goes to the
 * worker lease (worker.h); chunks go back to the caller, which offers them
 * to its cache. Joins and grant changes are serialized by join_mu.
 */
#ifndef SR_LINK_H
#define SR_LINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "metrics.h"
#include "worker.h"

struct wire_chan;

struct master_link {
	const char *name;         /* the node name (the coordinator's) */
	const char *listen_url;   /* advertised; may be "" */
	struct wire_chan *chan;   /* the caller opens and closes it */
	uint64_t instance;        /* random: this process in JoinRequest */
	_Atomic uint64_t node_id; /* rewritten by a re-join */
	/* The master's TTL as its latest join or heartbeat reply said; sets
	 * the heartbeat pace (TTL/3). A master restarted with another
	 * --lease-ttl-ms says so in its next reply. */
	_Atomic uint32_t lease_ttl_ms;
	/* The master's word, with no worker id for us, on when it grants
	 * again (JoinResponse.worker_wait_ms): the next heartbeat goes then. */
	_Atomic uint32_t worker_wait_ms;
	_Atomic bool left;       /* link_leave ran: never join again */
	pthread_mutex_t join_mu; /* serializes joins and grant changes */
	struct worker_lease *worker;
	_Atomic uint64_t leases, lease_errors;
	struct metrics_hist lease_hist; /* lease round trips, answered or not */
	_Atomic bool reachable;         /* the last round trip got an answer */
};

/* Sets l up (a random instance, no node id); chan may be set later. */
void link_init(struct master_link *l, const char *name, const char *listen_url,
    struct worker_lease *worker);
void link_destroy(struct master_link *l);

/* Joins (again) under l->name; applies the reply's layout and worker grant.
 * Errors: the call's (SR_ETIMEDOUT, SR_ECONNECT, the master's refusal),
 * SR_EPROTO for a bad reply, SR_ECLOSED after link_leave. */
int link_join(struct master_link *l, char *errbuf, size_t errlen);

/* What the node holds, sent with each heartbeat for the master's status
 * page (HeldSummary in proto/snowrange.proto): counts over every sequence,
 * and the n (at most LINK_HELD_SEQS) with the least headroom. */
#define LINK_HELD_SEQS 8
struct link_held {
	uint32_t sequences, chunks;
	size_t n;
	struct {
		const char *name; /* valid during link_heartbeat */
		uint32_t chunks;
		uint64_t headroom;
	} seqs[LINK_HELD_SEQS];
};

/* Called for each sequence the master reported on in a heartbeat reply:
 * start 0 means dropped. */
typedef void (*link_seq_fn)(void *arg, const char *seq, uint64_t start);

/*
 * One heartbeat: reports the worker id held and its tick, names the
 * sequences in names/starts (n of them, the incarnation start of each),
 * reports held (may be NULL), applies the reply's grant and passes its
 * word on those sequences to fn. A master that forgot this node is joined
 * again.
 */
int link_heartbeat(struct master_link *l, const char *const *names, const uint64_t *starts,
    size_t n, const struct link_held *held, link_seq_fn fn, void *arg);

/* Leases a chunk of seq above after; when the master no longer knows this
 * node, joins and tries once more. */
int link_lease(struct master_link *l, const char *seq, uint64_t after, struct cache_lease *out,
    char *errbuf, size_t errlen);
/* One lease call, without joining again: SR_ENOTJOINED when the master no
 * longer knows this node. */
int link_lease_once(struct master_link *l, const char *seq, uint64_t after, struct cache_lease *out,
    char *errbuf, size_t errlen);

/* Ends the worker lease here, then tells the master we leave; the caller
 * has set l->left first, so nothing joins again. Returns the master's
 * answer. */
int link_leave(struct master_link *l);

/* The heartbeat pace: TTL/3 of the master's latest TTL, or sooner when the
 * master said it grants worker ids sooner; at least min_ms. */
int64_t link_beat_ms(struct master_link *l, int64_t min_ms);

#endif
