/*
 * The master's logic (docs/design.md §2-4), apart from all I/O: sequences, the open
 * range of each with its bitmap of leased chunks, nodes and their liveness,
 * and the lease rules. It talks to storage only through struct store, and
 * takes the time as an argument, so unit tests drive it with a fake store
 * and a fake clock.
 *
 * Not thread-safe: the server serializes calls with one mutex.
 */
#ifndef SR_CATALOG_H
#define SR_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "range.h"
#include "store.h"

struct catalog_config {
	uint32_t lease_ttl_ms;      /* a node silent this long is dead */
	uint64_t default_chunk;     /* C when a sequence is created without one */
	uint64_t default_max_chunk; /* upper bound for the dynamic chunk size */
	uint32_t target_range_ms;   /* the dynamic chunk size aims at this */
	uint32_t max_spare;         /* cap on spare_chunks per sequence */
	uint32_t worker_grace_ms;   /* a worker id is re-granted this long after
	                             * its lease ended (>= tolerated clock skew) */
	uint32_t max_skew_ms;       /* a reported tick further ahead of our clock
	                             * than this is refused (docs/decisions.md) */
	uint32_t max_nodes;         /* live nodes at most; 0: no limit */
	int64_t node_retention_ms;  /* a node dead (silent or left) this long is
	                             * forgotten; 0: kept for ever */
	uint32_t worker_history;    /* grants of worker ids to new holders kept
	                             * for decode, the oldest deleted beyond it
	                             * (docs/operating.md); 0: none */
	sr_flake_layout layout;     /* the Snowflake layout; fixed at first start */
	int64_t claim_wait_ms;      /* a catalog that opens on a store with no
	                             * worker grant grants no new worker id for
	                             * this long, hearing the claims of live
	                             * coordinators first (docs/snowflake.md,
	                             * "Claims"); CATALOG_CLAIM_WAIT_AUTO: one
	                             * heartbeat interval (TTL/3) plus the grace */
};

#define CATALOG_CLAIM_WAIT_AUTO (-1)

/* Fills cfg with the defaults (10 s TTL, chunk 1000, max chunk 2^26,
 * target 10 s, max spare 1024, grace 2 s, max skew 2 s, 4096 live nodes, layout 41/10/12 at 1 ms
 * from 2024-01-01T00:00:00Z), node retention 7 days, worker history 10,000,
 * claim wait CATALOG_CLAIM_WAIT_AUTO. */
void catalog_config_init(struct catalog_config *cfg);

/* What an operator asks for when creating a sequence; 0 means default. */
struct catalog_seq_spec {
	const char *name;
	uint64_t start, chunk, max_value, min_chunk, max_chunk;
	uint32_t spare, mode;
	int no_prefetch; /* 1: coordinators lease only on demand; the chunk size
	                  * then stays fixed unless min/max_chunk are given */
};

/* A sequence as shown in status and seq list. */
struct catalog_seq_info {
	struct store_seq row;
	uint32_t users;             /* live nodes drawing from it */
	uint32_t open_n, open_free; /* the open range: chunks, of them free */
};

struct catalog_node_info {
	struct store_node row;
	int alive;
	int has_worker; /* its newest grant, live or not: */
	struct store_worker worker;
};

/*
 * The worker id a node says it holds (WorkerClaim in proto/snowrange.proto),
 * sent with its Join and Heartbeat; outcome says what the catalog made of
 * it, for the log: a claim the store did not know means its state was lost
 * or rolled back (docs/ha.md).
 */
enum {
	CATALOG_CLAIM_NONE,    /* no claim, or the store knew it as the node's */
	CATALOG_CLAIM_ADOPTED, /* the store did not know it: the node keeps it */
	CATALOG_CLAIM_YIELDED, /* the store gives it to holder, whose lease may
	                        * be live: the node keeps it no longer */
};
struct catalog_claim {
	uint32_t worker_id;
	uint64_t tick;        /* checked as a heartbeat's tick */
	int64_t remaining_ms; /* its lease's time left; capped to 0 .. the TTL */
	int outcome;          /* out: CATALOG_CLAIM_* */
	uint64_t holder;      /* out, with YIELDED: the node holding it */
};

/* A Snowflake worker id lease handed to a node. */
struct catalog_grant {
	int has; /* 0: no worker id free, issue no txid */
	uint32_t worker_id;
	uint64_t floor_tick; /* issue only ticks above this */
};

struct catalog;

/* Takes a new fencing term and loads the store under it, in one store
 * transaction (store_acquire_and_load), so that an older master still running
 * can commit nothing this catalog does not see. Counts every stored node and
 * worker grant as live for one TTL from now_ms. Stores the layout at the first
 * start; refuses (SR_EINVAL) a layout different from the stored one, since
 * txids of two layouts could collide. On failure errbuf (if given) says why.
 * The catalog does not own st. */
int catalog_open(struct store *st, const struct catalog_config *cfg, int64_t now_ms,
    struct catalog **out, char *errbuf, size_t errlen);
/* NULL-safe. */
void catalog_close(struct catalog *cat);

/* The message explaining the last failure; valid until the next call. */
const char *catalog_errmsg(const struct catalog *cat);
uint64_t catalog_term(const struct catalog *cat);

/* ---- sequences ---- */

/* SR_EINVAL (bad name or sizes), SR_EEXISTS, SR_EIO/SR_ESTALE (store). */
int catalog_seq_create(struct catalog *cat, const struct catalog_seq_spec *spec, int64_t now_ms,
    struct catalog_seq_info *out);
/* SR_ENOTFOUND, SR_EIO/SR_ESTALE. The name's hwm is kept as a tombstone, so a
 * later sequence of the same name continues above it. */
int catalog_seq_drop(struct catalog *cat, const char *name);
/* The live sequence called name; SR_ENOTFOUND if none (or dropped). */
int catalog_seq_get(const struct catalog *cat, const char *name, struct store_seq *out);
size_t catalog_seq_count(const struct catalog *cat);
/* i-th live sequence in name order; 0 on success, SR_ENOTFOUND past the end. */
int catalog_seq_at(const struct catalog *cat, size_t i, int64_t now_ms,
    struct catalog_seq_info *out);
/* One page of the live sequences in name order: up to max of those whose
 * name sorts after after ("" or NULL: from the first) into out, their count
 * in *n. Returns 1 when more follow (continue after the last name), else 0.
 * Costs O(log n + max): use this, not catalog_seq_at, to list. */
int catalog_seq_page(const struct catalog *cat, const char *after, size_t max, int64_t now_ms,
    struct catalog_seq_info *out, size_t *n);

/* ---- nodes ---- */

/* Joins (or re-joins) the node called name; *id is stable per name. Also
 * grants a worker id when one is free (grant->has = 0 otherwise). A node
 * holds at most one worker id: a node that has one gets that one back, and
 * none while its lease is live or in its grace period (the node's old
 * process may still issue with it). SR_EUNAVAILABLE for a new name when
 * max_nodes nodes are live; SR_EINVAL, SR_EIO/SR_ESTALE. */
int catalog_node_join(struct catalog *cat, const char *name, const char *url, int64_t now_ms,
    uint64_t *id, struct catalog_grant *grant);
/* The same for one process, instance (random per process, 0 if unknown):
 * while the node is live and was joined by another non-zero instance, the
 * join is refused with SR_EEXISTS (two processes never act as one node). */
int catalog_node_join_as(struct catalog *cat, const char *name, const char *url, uint64_t instance,
    int64_t now_ms, uint64_t *id, struct catalog_grant *grant);
/* catalog_node_join_as with the node's worker claim (NULL: none), adopted
 * before a worker id is chosen (docs/snowflake.md, "Claims"). A claim
 * naming a worker id outside the layout, or with a tick more than
 * max_skew_ms ahead of now_ms, is refused with SR_EINVAL and nothing
 * changes. */
int catalog_node_join_claim(struct catalog *cat, const char *name, const char *url,
    uint64_t instance, struct catalog_claim *claim, int64_t now_ms, uint64_t *id,
    struct catalog_grant *grant);
/* Ms until a catalog opened on a store with no worker grant grants worker
 * ids (cfg.claim_wait_ms after it opened); 0 once it does. */
int64_t catalog_worker_wait(const struct catalog *cat, int64_t now_ms);
/* The name of node id (joined or left): SR_ENOTJOINED if unknown. Valid until
 * the next join. */
int catalog_node_name(const struct catalog *cat, uint64_t id, const char **name);
/*
 * Renews the node's liveness, and its worker lease when holds is set and
 * the grant is still its own and live; tick (the node's last tick) raises
 * the floor of the next holder. A node without a live grant gets a new one
 * if a worker id is free. The grant is durable before this returns 0.
 * Errors: SR_ENOTJOINED (unknown or left: join again), SR_EINVAL (tick is
 * more than max_skew_ms ahead of now_ms: nothing changes, not even the
 * node's liveness), SR_EIO/SR_ESTALE.
 */
/* Whether the process `instance` (JoinRequest.instance, 0 if unknown) may
 * act as node id: SR_ENOTJOINED when another process joined under that id
 * (a master that lost its nodes gave the id to another name); an id whose
 * process is not known yet (after a restart) is taken by the first one
 * that shows up. Called before heartbeats and leaves. */
int catalog_node_instance(struct catalog *cat, uint64_t id, uint64_t instance);
int catalog_node_heartbeat(struct catalog *cat, uint64_t id, int64_t now_ms, int holds,
    uint32_t worker_id, uint64_t tick, struct catalog_grant *grant);
/* The same with the node's worker claim (NULL: none), checked as in
 * catalog_node_join_claim; with holds set its worker_id must be the
 * claim's (SR_EINVAL otherwise). */
int catalog_node_heartbeat_claim(struct catalog *cat, uint64_t id, int64_t now_ms, int holds,
    uint32_t worker_id, uint64_t tick, struct catalog_claim *claim, struct catalog_grant *grant);
/* Marks the node left and ends its worker leases now (reusable after the
 * grace period). SR_EINVAL, and nothing changes, for a tick more than
 * max_skew_ms ahead of now_ms; SR_ENOTJOINED, SR_EIO/SR_ESTALE. */
int catalog_node_leave(struct catalog *cat, uint64_t id, uint64_t tick, int64_t now_ms);
/*
 * Forgets node id: its row goes, its worker rows stay (their ticks are the
 * floors that keep txids unique, docs/decisions.md). A name that joins again
 * later gets a new node id. SR_EEXISTS for a node that is live (joined and
 * heard within the TTL): it must leave or go silent first. SR_ENOTJOINED
 * for an unknown id, SR_EIO/SR_ESTALE.
 */
int catalog_node_remove(struct catalog *cat, uint64_t id, int64_t now_ms);
/* The id of the node called name, SR_ENOTJOINED if none. */
int catalog_node_id(const struct catalog *cat, const char *name, uint64_t *id);
/* Forgets every node dead for longer than cfg.node_retention_ms (none when
 * it is 0), in one commit; *n says how many. SR_EIO/SR_ESTALE. */
int catalog_node_expire(struct catalog *cat, int64_t now_ms, size_t *n);
const sr_flake_layout *catalog_layout(const struct catalog *cat);
/* Worker ids a joining node could be granted at now_ms, and how many the
 * layout has (for /metrics). */
void catalog_worker_ids(const struct catalog *cat, int64_t now_ms, uint64_t *free_ids,
    uint64_t *total);
/* Nodes live at now_ms. O(nodes). */
size_t catalog_nodes_live(const struct catalog *cat, int64_t now_ms);
size_t catalog_node_count(const struct catalog *cat);
int catalog_node_at(const struct catalog *cat, size_t i, int64_t now_ms,
    struct catalog_node_info *out);
/* One page of the nodes in id order: up to max with an id above after (0:
 * from the first), like catalog_seq_page. O(log n + max). */
int catalog_node_page(const struct catalog *cat, uint64_t after, size_t max, int64_t now_ms,
    struct catalog_node_info *out, size_t *n);

/* ---- leases ---- */

/*
 * Leases one chunk of sequence name to node id (docs/design.md §3). after is the end
 * of the newest range the node already holds for the sequence (0 if none);
 * the chunk returned lies wholly above every range the node was given. A
 * chunk of a new range is returned only after the new hwm is durably
 * committed; if the commit fails nothing changes and the store's error is
 * returned. Errors: SR_ENOTJOINED (node), SR_ENOTFOUND (sequence), SR_EINVAL (after is
 * above the sequence's hwm: the store lost state), SR_EEXHAUSTED, SR_EIO,
 * SR_ESTALE, SR_ENOMEM.
 */
int catalog_lease(struct catalog *cat, uint64_t node_id, const char *name, uint64_t after,
    int64_t now_ms, struct range_chunk *out);

/* ---- group commit (docs/decisions.md) ---- */

/* What a deferred lease waits for: its range's end on disk, unless a flush
 * of its sequence fails first. */
struct catalog_pending {
	uint64_t end;   /* the chunk's range end: durable once the hwm is */
	uint64_t fails; /* the sequence's failed flushes when it was leased */
};

/* catalog_durable's "not yet": the chunk's range awaits a flush. */
#define CATALOG_PENDING (-1)

/*
 * catalog_lease without the commit: a new range's hwm is set in memory only
 * and its sequence marked for the next flush. The chunk must not be handed
 * out until catalog_durable() says SR_OK for *pend; leases of many callers
 * then share one commit (catalog_flush_take, store_commit, then
 * catalog_flush_done). Same errors as catalog_lease, without the store's.
 */
int catalog_lease_deferred(struct catalog *cat, uint64_t node_id, const char *name, uint64_t after,
    int64_t now_ms, struct range_chunk *out, struct catalog_pending *pend);

/* SR_OK when the range of a deferred lease is durable, CATALOG_PENDING
 * while it awaits a flush, or the error of a failed flush of its sequence
 * (the chunk is then never handed out: a gap). */
int catalog_durable(struct catalog *cat, const char *name, const struct catalog_pending *pend);

/* The rows waiting for a flush, as PUT_SEQ ops in *ops (malloc'd; *n 0 and
 * *ops NULL when none), marked in flight. Commit them with the catalog's
 * term (catalog_term), outside the caller's lock if it likes, then call
 * catalog_flush_done with the result, which frees *ops. Only one flush may
 * be in flight, and no other commit may run during it (the store is not
 * reentrant). */
int catalog_flush_take(struct catalog *cat, struct store_op **ops, size_t *n);
void catalog_flush_done(struct catalog *cat, struct store_op *ops, size_t n, int rv);

/* Who held worker id `worker` when it issued at `tick` (grants_holder_at):
 * the node's id and its name, as recorded with the grant (the worker
 * history is stored, so it outlives restarts and the node's removal), or
 * as the node is called now when the holder is not certain ("" for a node
 * since forgotten). SR_ENOTFOUND when the master keeps no record that old. */
struct catalog_holder {
	uint64_t node_id;
	char name[65];
	bool certain;
	uint64_t from_tick, to_tick;
};
int catalog_worker_holder(const struct catalog *cat, uint32_t worker, uint64_t tick,
    struct catalog_holder *out);

#endif
