/*
 * libsnowrange: the coordinator, embedded in a query layer.
 *
 * A coordinator joins a master, leases chunks of ID ranges and hands out IDs
 * from memory: the fast path of sr_next_id is one atomic fetch-add and the
 * range formula, with no lock, allocation or system call. When part of the
 * current chunk (prefetch_at) is used, the next chunk is leased in the
 * background; callers wait for the master only when both are used up.
 *
 * Guarantees (see docs/guarantees.md): every ID is unique cluster-wide, in
 * 1..2^63-1, and strictly greater than every ID this coordinator returned
 * earlier for the same sequence, whichever thread asked.
 *
 * Thread safety: every function may be called from any thread, except that
 * sr_coordinator_close must not race with other calls on the same handle.
 */
#ifndef SNOWRANGE_COORDINATOR_H
#define SNOWRANGE_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ---- */

/* Settings for sr_coordinator_open. Start from sr_coordinator_config_init. */
typedef struct sr_coordinator_config {
	const char *master_url;   /* nng URL of the master, e.g. tcp://127.0.0.1:7400 */
	const char *node_name;    /* [a-z0-9_.-]{1,64}; same name = same node id */
	const char *listen_url;   /* advertised to the master for status; may be NULL */
	int rpc_timeout_ms;       /* bound on every master round trip (default 2000) */
	int lease_timeout_ms;     /* how long a caller waits for a chunk (default 3000) */
	double prefetch_at;       /* fraction of a chunk used before prefetch (0.5) */
	int join_timeout_ms;      /* how long open keeps trying to join (default 10000) */
	int max_clock_back_ms;    /* clock step back a txid call waits out (5) */
	uint64_t txid_floor;      /* the last txid in the caller's 2PC log, 0 if
	                           * none: txids are issued only above its tick */
} sr_coordinator_config;

/* Fills cfg with the defaults; master_url and node_name stay NULL. */
void sr_coordinator_config_init(sr_coordinator_config *cfg);

/* ---- lifetime ---- */

typedef struct sr_coordinator sr_coordinator;

/*
 * Joins the master named in cfg and starts the background thread that leases
 * chunks and sends heartbeats. Strings in cfg are copied. On success *out is a
 * handle the caller owns and frees with sr_coordinator_close.
 * On failure errbuf (if given) receives a message naming what was wrong.
 * Errors: SR_EINVAL (bad config), SR_EUNAVAILABLE (the master did not answer
 * within join_timeout_ms), SR_ENOMEM, or the master's refusal of the join.
 */
int sr_coordinator_open(const sr_coordinator_config *cfg, sr_coordinator **out,
    char *errbuf, size_t errlen);

/*
 * Leaves the master now: stops leasing and heartbeats and ends the worker
 * lease (txids then fail with SR_ENOWORKER). Sequence IDs already leased may
 * still be handed out until close. Idempotent. Returns the master's answer
 * (the node has stopped either way).
 */
int sr_coordinator_leave(sr_coordinator *c);

/* Leaves the master if not yet done (best effort), stops the background
 * thread and frees everything. IDs not yet handed out are lost (a gap).
 * NULL is a no-op. */
void sr_coordinator_close(sr_coordinator *c);

/* ---- IDs ---- */

/*
 * Stores the next ID of sequence seq in *id.
 * Errors: SR_ENOTFOUND (no such sequence on the master), SR_EINVAL (bad name),
 * SR_EUNAVAILABLE (no chunk arrived within lease_timeout_ms), SR_EEXHAUSTED
 * (the sequence reached its max value), SR_ECLOSED.
 */
int sr_next_id(sr_coordinator *c, const char *seq, uint64_t *id);

/*
 * Stores n IDs of seq in out[0..n), ascending, using one atomic operation per
 * chunk touched. On failure returns the error and stores in *got how many IDs
 * were written before it (they are valid and will not be issued again).
 * n must be 1..1048576. Errors as sr_next_id.
 */
int sr_next_ids(sr_coordinator *c, const char *seq, size_t n, uint64_t *out,
    size_t *got);

/* A sequence handle skips the name lookup on every call. Handles stay valid
 * until sr_coordinator_close. Errors as sr_next_id. */
typedef struct sr_sequence sr_sequence;
int sr_sequence_get(sr_coordinator *c, const char *seq, sr_sequence **out);
int sr_seq_next_id(sr_sequence *s, uint64_t *id);
int sr_seq_next_ids(sr_sequence *s, size_t n, uint64_t *out, size_t *got);

/* ---- Snowflake transaction IDs ---- */

/*
 * Stores a new transaction ID in *txid: unique cluster-wide, greater than
 * every txid this coordinator returned before, and decodable into (time,
 * worker id, sequence) with the cluster's layout. Issued only under a live
 * worker id lease from the master, and only at ticks above the floor the
 * master gave with the worker id and above config.txid_floor.
 * Errors: SR_ENOWORKER (no live worker lease: the master is unreachable for
 * longer than the lease allows, or every worker id is taken), SR_ECLOCK (the
 * clock is behind the last issued tick by more than max_clock_back_ms; see
 * sr_coordinator_clock_offset_ms), SR_EEXHAUSTED (the layout's time bits
 * ran out).
 */
int sr_next_txid(sr_coordinator *c, uint64_t *txid);

/* Stores n (1..65536) txids in out, ascending; on failure *got says how many
 * were stored (valid ones). Errors as sr_next_txid. */
int sr_next_txids(sr_coordinator *c, size_t n, uint64_t *out, size_t *got);

/* The cluster's Snowflake layout, as the master handed it at join. */
typedef struct sr_flake_layout {
	unsigned time_bits, worker_bits, seq_bits; /* sum to 63 */
	unsigned unit_ms;                          /* one tick */
	int64_t epoch_ms;                          /* Unix ms of tick 0 */
} sr_flake_layout;

void sr_coordinator_layout(const sr_coordinator *c, sr_flake_layout *out);

/* Stores the worker id in *worker_id; SR_ENOWORKER when no lease is live. */
int sr_coordinator_worker(sr_coordinator *c, uint32_t *worker_id);

/* How far (ms) the clock was behind the last issued tick when a txid call
 * last failed with SR_ECLOCK. */
int64_t sr_coordinator_clock_offset_ms(sr_coordinator *c);

/* ---- introspection ---- */

/* The node id the master gave this coordinator, and its name. */
uint64_t sr_coordinator_node_id(const sr_coordinator *c);
const char *sr_coordinator_name(const sr_coordinator *c);

/* One held chunk, as reported by sr_coordinator_chunks. */
typedef struct sr_chunk_info {
	char sequence[65];
	uint64_t start;  /* range (start, start + n*c] */
	uint32_t n, k;   /* chunks in the range, this chunk */
	uint64_t c;      /* IDs in the chunk */
	uint64_t used;   /* IDs already handed out */
	int current;     /* 1 = being drawn from, 0 = prefetched */
} sr_chunk_info;

/* Copies up to max held chunks into out and returns how many are held in all
 * (which may exceed max). */
size_t sr_coordinator_chunks(sr_coordinator *c, sr_chunk_info *out, size_t max);

/* Counters for benchmarks and status. */
typedef struct sr_coordinator_stats {
	uint64_t leases;       /* chunks leased from the master */
	uint64_t lease_errors; /* lease round trips that failed */
	uint64_t waits;        /* calls that had to wait for a chunk */
	uint64_t max_wait_us;  /* longest such wait */
} sr_coordinator_stats;

void sr_coordinator_get_stats(sr_coordinator *c, sr_coordinator_stats *out);

/* ==== The two-phase-commit log ====
 *
 * The coordinator's 2PC log (DESIGN §4, Noah's "transaction replay log"): an
 * append-only file of records {txid, state, participants, payload}, each
 * framed with its length and CRCs, made durable by group commit (one
 * fdatasync covers every record appended while the previous one ran).
 *
 * On open the log recovers up to its last whole record. An incomplete or
 * checksum-failing record at the very end of the file is a torn write from a
 * crash: it is cut and reported. A bad record followed by a good one is not a
 * torn write but damage, and the log refuses to open rather than lose the
 * records after it.
 *
 * Thread safety: append, wait, write and last_txid may be called from any
 * thread; sr_txlog_close must not race with other calls on the same handle.
 * One process at a time may hold a log open (an exclusive flock; a second
 * open fails with SR_EIO). The read-only functions take no lock.
 */

/* ---- txlog records ---- */

/* The state a record moves its transaction to. */
typedef enum sr_tx_state {
	SR_TX_BEGIN = 1,
	SR_TX_PREPARE = 2,
	SR_TX_COMMIT = 3,
	SR_TX_ABORT = 4
} sr_tx_state;

/*
 * One log record. Limits (others get SR_EINVAL): txid not 0 (0 is never
 * issued); at most 1024 participants, each a NUL-terminated name of 1..255
 * bytes; payload at most 1 MiB (payload may be NULL when payload_len is 0).
 * The log copies everything it is given; records it hands to a visitor point
 * into its buffers and are valid only during the call.
 */
typedef struct sr_txrecord {
	uint64_t txid;
	sr_tx_state state;
	const char *const *participants;
	size_t nparticipants;
	const void *payload;
	size_t payload_len;
} sr_txrecord;

/* What recovery (or a scan) found in the file. */
typedef struct sr_txlog_recovery {
	uint64_t records;    /* whole records kept */
	uint64_t bytes_kept; /* file size up to the end of the last whole record */
	uint64_t bytes_cut;  /* torn tail after it: cut by open, only reported by scan */
	uint64_t last_txid;  /* highest txid in the log; 0 when it is empty */
} sr_txlog_recovery;

/* ---- writing ---- */

typedef struct sr_txlog sr_txlog;

/*
 * Opens the log at path for appending, creating it if missing (the new file
 * and its directory entry are fsynced before open returns). Recovery keeps
 * every whole record; a torn tail (an incomplete last record, or a last
 * record whose checksum fails and after which no valid record follows) is
 * cut with ftruncate + fsync and counted in rec->bytes_cut. rec may be NULL.
 * On success *out is a handle the caller owns and frees with sr_txlog_close.
 * On failure errbuf (if given) receives a message naming the file and, for
 * damage, the offset. Errors: SR_EINVAL (NULL path or out), SR_ENOMEM,
 * SR_EIO: the file cannot be opened or synced, is not a txlog (wrong magic
 * or version; the file is left untouched), is held open by another handle,
 * or has a bad record followed by a valid one (middle corruption: refused,
 * nothing is cut or skipped; the file is left untouched).
 */
int sr_txlog_open(const char *path, sr_txlog **out, sr_txlog_recovery *rec,
    char *errbuf, size_t errlen);

/*
 * Copies r into the log's memory buffer and stores its log sequence number
 * in *lsn (lsn may be NULL). It does not write or wait: the record is
 * durable only after sr_txlog_wait(lsn) returns 0. LSNs increase with every
 * append (an LSN is the file offset just past the record).
 * Records buffered but never waited for are written by the next wait on any
 * later LSN or by sr_txlog_close; a caller that appends much without waiting
 * holds it all in memory.
 * Errors: SR_EINVAL (a limit in sr_txrecord broken; the log is unaffected),
 * SR_ENOMEM, SR_EIO (the log is poisoned, see sr_txlog_wait).
 */
int sr_txlog_append(sr_txlog *log, const sr_txrecord *r, uint64_t *lsn);

/*
 * Waits until the record with this LSN is durable: written and covered by a
 * successful fdatasync. Group commit: the first waiter writes and syncs
 * everything buffered; waiters arriving meanwhile sleep, and the next of
 * them flushes every record appended during that sync in one go.
 * Returns 0 for an LSN that became durable, SR_EINVAL for an LSN beyond the
 * last one appended, SR_EIO when the write or fdatasync covering it failed.
 * A failed write or fdatasync poisons the log: it is never retried (after a
 * failed fsync Linux may have dropped the dirty pages and marked them
 * clean, so a retry could "succeed" without the data on disk: PostgreSQL's
 * fsyncgate), and every later append and every wait for a record not
 * durable before the failure returns SR_EIO. Close and reopen: recovery
 * keeps every whole record on disk, which includes every record a wait
 * acknowledged.
 */
int sr_txlog_wait(sr_txlog *log, uint64_t lsn);

/* sr_txlog_append followed by sr_txlog_wait: returns once r is durable.
 * Errors as those two. */
int sr_txlog_write(sr_txlog *log, const sr_txrecord *r);

/* The highest txid among the records recovered at open and those appended
 * through this handle since (durable or not); 0 for an empty log. It is the
 * floor below which a restarted coordinator must not mint txids. */
uint64_t sr_txlog_last_txid(sr_txlog *log);

/* Writes and fsyncs what is still buffered, closes the file and frees the
 * handle. It cannot report a failure: callers that need to know wait on
 * their last LSN first. A poisoned log is closed without writing. NULL is a
 * no-op. */
void sr_txlog_close(sr_txlog *log);

/* ---- reading (no handle, read-only, cuts nothing) ---- */

/* Called for each record with the file offset of its first byte. r and
 * everything it points to are valid only during the call. A non-zero return
 * stops the scan, which then returns that value. */
typedef int (*sr_txlog_visit)(void *arg, const sr_txrecord *r, uint64_t offset);

/*
 * Calls fn for every whole record of the log at path: in file order, or,
 * when txid_order is non-zero, sorted by txid (stable: records of one txid
 * keep their file order). A torn tail is reported in rec (rec->bytes_cut)
 * but not cut; rec may be NULL. The file may be held open by a writer:
 * records appended after the scan began are not visited, and one being
 * written at that moment may be reported as a torn tail.
 * Errors: SR_EINVAL, SR_ENOMEM, SR_EIO (unreadable, not a txlog, or middle
 * corruption; errbuf names the offset). In file order, records before the
 * corruption have already been visited when SR_EIO is returned (each of them
 * passed its checksum); in txid order none is visited.
 */
int sr_txlog_scan(const char *path, int txid_order, sr_txlog_visit fn,
    void *arg, sr_txlog_recovery *rec, char *errbuf, size_t errlen);

/*
 * Stores in *txids (malloc'd, the caller frees it; NULL when *n is 0) the
 * in-doubt transactions of the log at path, ascending: those whose last
 * PREPARE, COMMIT or ABORT record is a PREPARE (a BEGIN after a PREPARE
 * does not resolve it). A torn tail is ignored, as recovery would cut it.
 * Errors as sr_txlog_scan.
 */
int sr_txlog_in_doubt(const char *path, uint64_t **txids, size_t *n,
    char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
