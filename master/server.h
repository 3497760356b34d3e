/*
 * The master process minus main(): opens the store, loads the catalog and
 * serves the protocol on one URL. All catalog calls are serialized by one
 * mutex; a durable commit holds it, which is what keeps leases ordered.
 */
#ifndef SR_MASTER_SERVER_H
#define SR_MASTER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"

struct master_config {
	const char *listen_url;
	const char *data_dir;
	/* "etcd://HOST:PORT,.../PREFIX": the etcd store (docs/ha.md); NULL or
	 * "" for SQLite in data_dir. */
	const char *store_url;
	int etcd_timeout_ms;  /* one etcd request at one member (0: 1000) */
	int etcd_max_txn_ops; /* the cluster's --max-txn-ops (0: 128) */
	/* etcd only: the URL coordinators reach this master at, given to them
	 * by standbys (NULL or "": listen_url), and the TTL of the election's
	 * lease (0: 2000 ms; etcd counts whole seconds). */
	const char *advertise;
	int leader_ttl_ms;
	int workers;               /* concurrent requests in flight */
	const struct creds *creds; /* NULL: none; must outlive the master */
	bool insecure;             /* listen beyond loopback without credentials */
	struct catalog_config catalog;
	/* Called once, from a request thread, when a commit finds the fencing
	 * term taken by another master; the master then serves nothing and
	 * its process should exit non-zero. May be NULL. */
	size_t max_conns; /* connections at most (0: WIRE_MAX_CONNS) */
	int64_t idle_ms;  /* drop a connection idle this long (0: WIRE_IDLE_MS) */
	void (*on_fenced)(void *arg);
	void *on_fenced_arg;
};

struct master;
struct wire_route;
struct creds;

/* Locks the data dir (store_sqlite_lock), binds the URL, opens the store
 * and takes a new fencing term, then serves. With an etcd store: binds,
 * serves as a standby (SR_ENOTLEADER and the leader's URL) and campaigns;
 * once elected it takes a new term, loads, and leads (leader.h). */
int master_start(const struct master_config *cfg, struct master **out, char *errbuf, size_t errlen);
/* Stops serving and closes the store. NULL-safe. */
void master_stop(struct master *m);

/*
 * A master over an already open store, with no socket: fuzzers and tests
 * drive its real handlers through wire_serve_bytes(master_routes(...), m,
 * ...). The master owns st from here on (master_stop closes it).
 */
int master_open(struct store *st, const struct catalog_config *cfg, struct master **out,
    char *errbuf, size_t errlen);
/* The master's dispatch table; *n gets its length. */
const struct wire_route *master_routes(size_t *n);
/* The master's numbers for /metrics: *seqs is malloc'd (out->seqs points
 * to it), the caller frees it. SR_ENOMEM. */
struct metrics_master;
struct metrics_seq;
struct strbuf;
int master_metrics(struct master *m, struct metrics_master *out, struct metrics_seq **seqs);
/* The status page's data as JSON (IDs as strings): nodes, sequences (at
 * most 500 of each) and recent events. SR_ENOMEM. */
int master_status_json(struct master *m, struct strbuf *b);
/* True once another master took the fencing term. */
bool master_fenced(struct master *m);

/* For tests: the leases waiting for a flush with their requests parked,
 * and (stopping, may be NULL) whether the flusher was told to stop. */
size_t master_leases_parked(struct master *m, bool *stopping);
/* Stops the flusher thread of parked leases, answering those still parked
 * with SR_ECLOSED; later leases wait for their flush on their own thread.
 * master_stop does this before it stops the server; a test that serves m
 * on its own wire server calls it before wire_server_stop. NULL-safe. */
void master_stop_flusher(struct master *m);

/* Whether m serves leases now: not fenced and, on etcd, leading. When it
 * does not, the leader it sees goes to leader ("" when none is known). */
bool master_serving(struct master *m, char *leader, size_t len);

/* The catalog behind m, for setting up state in tests. */
struct catalog *master_catalog(struct master *m);

#endif
