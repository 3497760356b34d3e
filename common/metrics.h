/*
 * Metrics for /metrics (docs/http.md): a latency histogram cheap enough for
 * the paths it sits on (relaxed atomic adds, no lock), and the Prometheus
 * text format, rendered from plain snapshots by pure functions that unit
 * tests check line by line (tests/unit/test_metrics.c).
 *
 * The ID fast path carries no metric at all: IDs issued are counted when a
 * chunk is retired, under the sequence's mutex, plus what the current
 * chunk's counter says (cache_issued).
 */
#ifndef SR_METRICS_H
#define SR_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Bucket upper bounds in microseconds, 100 us to 10 s (Prometheus' le). */
#define METRICS_BUCKETS 12
extern const uint64_t metrics_bounds_us[METRICS_BUCKETS];

/* A histogram of durations. Zeroed memory is an empty one. */
struct metrics_hist {
	_Atomic uint64_t b[METRICS_BUCKETS + 1]; /* the last: above every bound */
	_Atomic uint64_t count, sum_us;
};

/* Counts one duration: three relaxed atomic adds. */
void metrics_observe(struct metrics_hist *h, uint64_t us);

/* A plain copy, for snapshots. */
struct metrics_hist_snap {
	uint64_t b[METRICS_BUCKETS + 1];
	uint64_t count, sum_us;
};
void metrics_hist_read(const struct metrics_hist *h, struct metrics_hist_snap *out);

/* ---- the text format ---- */

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void metrics_family(struct strbuf *b, const char *name, const char *type, const char *help);
/* One sample: name{label="value"} v, the label left out when label is
 * NULL. Label values are escaped (\\, \", \n). */
void metrics_u64(struct strbuf *b, const char *name, const char *label, const char *value,
    uint64_t v);
void metrics_f64(struct strbuf *b, const char *name, const char *label, const char *value,
    double v);
/* A histogram in seconds: name_bucket{le=...} (cumulative), name_sum,
 * name_count. */
void metrics_hist_text(struct strbuf *b, const char *name, const struct metrics_hist_snap *h);

/* ---- the 2PC log's metrics ---- */

struct metrics_txlog {
	uint64_t records; /* appended */
	struct metrics_hist_snap fsync;
	uint64_t fsync_errors, write_errors;
	bool poisoned;
};

/* The snowrange_txlog_* families into b (docs/txlog.md). */
void metrics_txlog_text(struct strbuf *b, const struct metrics_txlog *t);

/* ---- the coordinator's and the master's metrics ---- */

/* One sequence's values, all uint64_t: metrics.c reads them by offset. */
struct metrics_seq {
	char name[65];
	uint64_t issued;   /* IDs handed out since start */
	uint64_t headroom; /* IDs left in the current and prefetched chunks */
	uint64_t hwm;      /* master only */
	uint64_t chunk;    /* master only: the current chunk size */
	uint64_t users;    /* master only: live nodes drawing from it */
};

struct metrics_coord {
	const char *node;
	uint64_t txids; /* issued since start */
	uint64_t leases, lease_errors;
	struct metrics_hist_snap lease_latency;
	struct metrics_hist_snap waits; /* callers that waited for a chunk */
	bool has_worker;
	double worker_lease_seconds; /* left on the worker lease; 0 without one */
	bool master_reachable;       /* the last round trip to the master worked */
	uint64_t clock_backs;        /* txid calls refused for a clock step back */
	uint64_t http_requests[3];   /* answered 2xx, 4xx, 5xx */
	uint64_t http_slow_closed;   /* closed for no whole request in time */
	const struct metrics_seq *seqs;
	size_t nseqs;
	/* The 2PC log the coordinator writes, if one is attached; NULL leaves
	 * the snowrange_txlog_* families out (the daemon keeps no 2PC log). */
	const struct metrics_txlog *txlog;
};

struct metrics_master {
	uint64_t term;
	uint64_t nodes_live, nodes_known;
	uint64_t workers_free, workers_total;
	struct metrics_hist_snap commit_latency;
	uint64_t commit_errors;
	uint64_t leases;
	uint64_t http_requests[3];
	uint64_t http_slow_closed;
	const struct metrics_seq *seqs;
	size_t nseqs;
};

/* The whole /metrics page of a coordinator or a master into b. */
void metrics_coord_text(struct strbuf *b, const struct metrics_coord *m);
void metrics_master_text(struct strbuf *b, const struct metrics_master *m);

#endif
