/*
 * The master's durable store, behind a small interface (docs/design.md §7) so that the
 * embedded default (SQLite, store_sqlite.c) and the distributed backend
 * (etcd, store_etcd.c) share the master logic in catalog.c.
 *
 * Two operations matter: acquire_and_load() starts a master, and commit()
 * applies a batch atomically and durably, but only while the caller's fencing
 * term is still the stored one (compare-and-swap). A commit that returns 0 is
 * on stable storage; any other return means nothing of the batch was applied
 * as far as the caller may assume (an fsync error is never retried into a
 * false success).
 *
 * The rule every backend keeps (docs/decisions.md): a master takes its new
 * term and reads the state in ONE write transaction, term first. Then each
 * commit of the previous master is either ordered before that transaction
 * (and is in the state the new master loads) or after it (and fails with
 * SR_ESTALE, since the stored term moved). Loading first and taking the term
 * in a second step leaves a window in which the old master can commit a new
 * range or a worker grant that the new master never sees: it would lease the
 * same IDs again or grant the same worker id twice. A distributed backend
 * (etcd) keeps the same order: write term+1 guarded by the term it read,
 * then read every key as of the revision of that write (or later), never
 * from before it; its commits compare the term in the same transaction as
 * their writes.
 */
#ifndef SR_STORE_H
#define SR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/layout.h"

#define STORE_NAME_MAX 64
#define STORE_URL_MAX 255

/* One sequence row. */
struct store_seq {
	char name[STORE_NAME_MAX + 1];
	uint64_t start;     /* first ID issued */
	uint64_t hwm;       /* end of the newest range ever created */
	uint64_t chunk;     /* current chunk size C */
	uint64_t min_chunk; /* bounds for the dynamic chunk size */
	uint64_t max_chunk;
	uint64_t max_value; /* no ID above it is issued */
	uint32_t spare;     /* extra chunks per range, for joiners */
	uint32_t mode;      /* STORE_MODE_* */
	uint32_t dropped;   /* 1 = a tombstone keeping the name's hwm */
	uint32_t prefetch;  /* 1 = coordinators lease ahead; 0 = only on demand */
};

#define STORE_MODE_INTERLEAVED 0
#define STORE_MODE_BLOCK 1

/* One node row. */
struct store_node {
	uint64_t id;
	char name[STORE_NAME_MAX + 1];
	char url[STORE_URL_MAX + 1];
	int64_t last_seen_ms; /* wall clock of the last join/heartbeat */
	uint32_t left;        /* 1 once the node said leave */
};

/* One Snowflake worker id grant. A row stays after its lease ends: its
 * last_tick is the floor for the next holder. */
struct store_worker {
	uint32_t id;
	uint64_t node_id;
	int64_t expires_ms; /* wall clock; the lease ends here */
	uint64_t last_tick; /* highest tick any holder reported */
};

/* One grant of a worker id to a new holder, for decode and txlog, which
 * name the node that held a txid's worker id when it was made
 * (docs/operating.md, "Worker history"). Written in the commit of the grant
 * it records, so no txid exists whose holder was not recorded; the oldest
 * are deleted once more than the master's --worker-history are stored. */
struct store_era {
	uint64_t seq; /* the order of grants, from 1: the row's key */
	uint32_t worker;
	uint64_t node_id;
	uint64_t floor_tick;           /* the holder issues above this tick, until the
	                                * next era of the same worker id */
	int64_t granted_ms;            /* wall clock of the grant */
	char name[STORE_NAME_MAX + 1]; /* the holder's node name then */
};

/* The cluster's Snowflake layout is an sr_flake_layout, fixed at the first
 * start; all zero (store_layout_set false) while none is stored. */
static inline int
store_layout_set(const sr_flake_layout *l)
{
	return l->time_bits + l->worker_bits + l->seq_bits != 0;
}

enum store_op_kind {
	STORE_PUT_SEQ,    /* insert or replace op.seq */
	STORE_DEL_SEQ,    /* delete the sequence named op.seq.name */
	STORE_PUT_NODE,   /* insert or replace op.node */
	STORE_PUT_WORKER, /* insert or replace op.worker */
	STORE_PUT_LAYOUT, /* store op.layout */
	STORE_DEL_NODE,   /* delete the node with id op.node.id (its worker
	                   * rows, and so their floors, stay) */
	STORE_PUT_ERA,    /* insert op.era (replacing one of the same seq) */
	STORE_TRIM_ERAS,  /* delete every era whose seq is below op.era.seq */
	STORE_SET_TERM,   /* raise the stored fencing term to op.term, which
	                   * must be above the commit's term (SR_EINVAL
	                   * otherwise): only `snowrange-master migrate` uses
	                   * it (master/migrate.h), so that a store's terms
	                   * continue above the source's */
};

struct store_op {
	enum store_op_kind kind;
	union {
		struct store_seq seq;
		struct store_node node;
		struct store_worker worker;
		sr_flake_layout layout;
		struct store_era era;
		uint64_t term;
	} u;
};

/* Everything acquire_and_load() and load() return; free with
 * store_state_free(). */
struct store_state {
	uint64_t term;
	struct store_seq *seqs;
	size_t nseqs;
	struct store_node *nodes;
	size_t nnodes;
	struct store_worker *workers;
	size_t nworkers;
	struct store_era *eras; /* the worker history, by seq, oldest first */
	size_t neras;
	sr_flake_layout layout;
};

struct store;

struct store_ops {
	/* In one write transaction: increments the stored fencing term, then
	 * fills *out with the stored state, out->term being the new term. The
	 * previous holder's commits fail from then on, and every commit of it
	 * that succeeded is in *out. *out is zeroed on failure. */
	int (*acquire_and_load)(struct store *st, struct store_state *out);
	/* Fills *out with a read-only snapshot of the stored state, term
	 * unchanged. For inspection (tests, tools): a master that will write
	 * must start with acquire_and_load(). */
	int (*load)(struct store *st, struct store_state *out);
	/* Applies ops[0..n) atomically and durably if the stored term equals
	 * term; SR_ESTALE if it does not, SR_EIO on any storage failure. The
	 * ops apply in order: a later op on the same row (the same sequence
	 * name, node id or worker id) supersedes an earlier one, and a
	 * STORE_TRIM_ERAS deletes the eras below its seq written before it
	 * but not those written after it, in every backend (etcd takes each
	 * key once per transaction and no put inside a delete range: the
	 * etcd store sends only the last op per key and cuts a trim's range
	 * around the eras written after it, master/etcd_codec.c). */
	int (*commit)(struct store *st, uint64_t term, const struct store_op *ops, size_t n);
	/* Releases everything; NULL-safe through store_close(). */
	void (*close)(struct store *st);
	/* A message about the last failure, for the operator. */
	const char *(*errmsg)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

static inline int
store_load(struct store *st, struct store_state *out)
{
	return st->ops->load(st, out);
}

static inline int
store_acquire_and_load(struct store *st, struct store_state *out)
{
	return st->ops->acquire_and_load(st, out);
}

static inline int
store_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	return st->ops->commit(st, term, ops, n);
}

static inline const char *
store_errmsg(struct store *st)
{
	return st->ops->errmsg(st);
}

static inline void
store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

void store_state_free(struct store_state *s);

/*
 * The state as data, for copying a whole store into another (`snowrange-master
 * migrate`, master/migrate.c). Every field of struct store_state is handled
 * in these three, in store.c; a field added to the state must be added there
 * too, and a static assertion in store.c fails the build until it is.
 */

/* Whether s holds nothing a master wrote: no row of any kind and no layout
 * (the term does not count). */
int store_state_empty(const struct store_state *s);

/* The ops that write every row of s into an empty store: sequences
 * (tombstones included), nodes, worker grants, and the layout last. *ops is
 * malloc'd (free() it), *n its length; SR_ENOMEM. */
int store_state_ops(const struct store_state *s, struct store_op **ops, size_t *n);

/* Whether a and b hold the same rows, in the order backends return them
 * (sequences by name, nodes and workers by id), and the same layout; the
 * term is not compared. On a difference, what differs goes to why. */
int store_state_equal(const struct store_state *a, const struct store_state *b, char *why,
    size_t whylen);

/* Opens (creating if needed) the SQLite store in dir/snowrange.db: WAL mode,
 * synchronous=FULL, files 0600 (made so if they were not). On failure
 * returns SR_EIO (SR_EINVAL for a group- or world-writable dir) and, if
 * errbuf is given, a message naming the path and the cause. */
int store_sqlite_open(const char *dir, struct store **out, char *errbuf, size_t errlen);

/*
 * Takes the data directory for this process: creates dir (0700) if missing,
 * refuses a group- or world-writable one (SR_EINVAL, naming the chmod), and
 * takes an exclusive flock on dir/LOCK, which the kernel drops when the
 * process dies. SR_EEXISTS, with the holder's pid in errbuf, when another
 * process holds it; SR_EIO otherwise. On success *fd is the lock: close it
 * to release. A master calls this before it opens the store (etcd and
 * PostgreSQL lock their data directories the same way).
 */
int store_sqlite_lock(const char *dir, int *fd, char *errbuf, size_t errlen);

/*
 * Opens the etcd store named by url, "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]"
 * (prefix default /snowrange/), through etcd's v3 JSON gateway
 * (store_etcd.c). Nothing is read or written yet: the first call is
 * acquire_and_load() or load(). timeout_ms bounds one request to one etcd
 * member; max_ops is the cluster's --max-txn-ops (0: etcd's default, 128).
 * SR_EINVAL naming what is wrong with the URL.
 */
int store_etcd_open(const char *url, int timeout_ms, size_t max_ops, struct store **out,
    char *errbuf, size_t errlen);

/* Reads P leader of an etcd store (master/leader.c writes it under the
 * leader's etcd lease): *found 1 and the leading master's URL in url while
 * one leads, 0 when none does. `snowrange-master migrate` refuses a store a
 * master serves. SR_EIO when etcd cannot be read. */
int store_etcd_leader(struct store *st, char *url, size_t len, int *found);

#endif
