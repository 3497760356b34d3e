/*
 * libsnowrange: the coordinator's two-phase-commit log.
 *
 * The 2PC log (docs/design.md §8, Noah's "transaction replay log"): an
 * append-only file of records {txid, state, participants, payload}, each
 * framed with its length and CRCs, made durable by group commit (one
 * fdatasync covers every record appended while the previous one ran).
 *
 * Each group commit writes its records and a commit marker with one write
 * and one fdatasync. On open the log keeps every batch up to the last one
 * closed by its marker, and syncs it before anything is reported durable.
 * What follows the last marker was never acknowledged (a torn record, whole
 * records of a batch whose sync never finished, a batch with pages
 * missing): it is cut and reported. A bad record in a batch that was synced
 * (one followed by records of a later batch: a batch is written only after
 * the one before it was synced) is damage, and the log refuses to open
 * rather than lose the records after it. docs/txlog.md has the format and
 * the details.
 *
 * Thread safety: append, wait, write and last_txid may be called from any
 * thread; sr_txlog_close must not race with other calls on the same handle.
 * One process at a time may hold a log open (an exclusive flock; a second
 * open fails with SR_EIO). The read-only functions take no lock.
 */
#ifndef SNOWRANGE_TXLOG_H
#define SNOWRANGE_TXLOG_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/error.h"
#include "snowrange/export.h"
#include "snowrange/log.h"

#ifdef __cplusplus
extern "C" {
#endif

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
	uint64_t records;    /* records kept: those of batches closed by a marker */
	uint64_t bytes_kept; /* file size up to the end of the last commit marker */
	uint64_t bytes_cut;  /* the never-acknowledged tail after it: cut by
	                        open, only reported by scan */
	uint64_t last_txid;  /* highest txid in the log; 0 when it is empty */
} sr_txlog_recovery;

/* ---- writing ---- */

typedef struct sr_txlog sr_txlog;

/*
 * Opens the log at path for appending, creating it if missing. Recovery
 * keeps every batch closed by its commit marker; the tail after the last one
 * (never acknowledged) is cut with ftruncate and counted in rec->bytes_cut.
 * Then the file and its directory are fsynced, whatever was cut or not:
 * records a crashed process wrote but never synced are durable before open
 * returns, or open fails. rec may be NULL.
 * On success *out is a handle the caller owns and frees with sr_txlog_close.
 * On failure errbuf (if given) receives a message naming the file and, for
 * damage, the offset. Errors: SR_EINVAL (NULL path or out), SR_ENOMEM,
 * SR_EIO: the file cannot be opened or synced, is not a txlog of this
 * format (wrong magic, a damaged file header, or another version, the
 * version 1 of older builds included; the file is left untouched), is held
 * open by another handle, or has damage in a synced batch (refused, nothing
 * is cut or skipped; the file is left untouched).
 */
SR_EXPORT int sr_txlog_open(const char *path, sr_txlog **out, sr_txlog_recovery *rec, char *errbuf,
    size_t errlen);

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
SR_EXPORT int sr_txlog_append(sr_txlog *log, const sr_txrecord *r, uint64_t *lsn);

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
 * keeps every batch closed by its marker, which includes every record a wait
 * acknowledged.
 */
SR_EXPORT int sr_txlog_wait(sr_txlog *log, uint64_t lsn);

/* sr_txlog_append followed by sr_txlog_wait: returns once r is durable.
 * Errors as those two. */
SR_EXPORT int sr_txlog_write(sr_txlog *log, const sr_txrecord *r);

/* The highest txid among the records recovered at open and those appended
 * through this handle since (durable or not); 0 for an empty log. It is the
 * floor below which a restarted coordinator must not mint txids. */
SR_EXPORT uint64_t sr_txlog_last_txid(sr_txlog *log);

/* Sends this handle's messages (a poisoned log) to fn with arg instead of
 * stderr (see snowrange/log.h); fn NULL restores stderr. Call it right after
 * open, before other threads use the handle. NULL log is a no-op. */
SR_EXPORT void sr_txlog_set_log(sr_txlog *log, sr_log_fn fn, void *arg);

/* Writes and fsyncs what is still buffered, closes the file and frees the
 * handle. It cannot report a failure: callers that need to know wait on
 * their last LSN first. A poisoned log is closed without writing. NULL is a
 * no-op. */
SR_EXPORT void sr_txlog_close(sr_txlog *log);

/* ---- monitoring ---- */

/* The fdatasync latency histogram's bucket bounds, in microseconds (kept
 * on one line: clang-format would spread the braces over three). */
#define SR_TXLOG_FSYNC_BUCKETS 12
/* clang-format off */
#define SR_TXLOG_FSYNC_BOUNDS_US \
	{100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 500000, 2000000, 10000000}
/* clang-format on */

/*
 * What a handle did since it was opened (docs/txlog.md, "Monitoring"): the
 * fdatasync of every group commit timed, and the failures. fsync_buckets[i]
 * counts the fdatasync calls that took at most the i-th bound of
 * SR_TXLOG_FSYNC_BOUNDS_US and more than the one before (not cumulative);
 * the last entry those above every bound. A failure poisons the log (see
 * sr_txlog_wait), so each error count is 0 or 1 per handle: monitor them
 * across handles and processes, and alert on any.
 */
typedef struct sr_txlog_stats {
	uint64_t records;      /* records appended */
	uint64_t fsyncs;       /* group commits' fdatasync calls, failed ones too */
	uint64_t fsync_us_sum; /* their total duration, microseconds */
	uint64_t fsync_buckets[SR_TXLOG_FSYNC_BUCKETS + 1];
	uint64_t fsync_errors; /* fdatasync calls that failed */
	uint64_t write_errors; /* group commit writes that failed */
	int poisoned;          /* 1 once a write or fdatasync failed */
} sr_txlog_stats;

/* Fills *out; zeros for a NULL log. Takes the handle's mutex briefly. */
SR_EXPORT void sr_txlog_get_stats(sr_txlog *log, sr_txlog_stats *out);

/*
 * The same in the Prometheus text format, for an embedder's /metrics:
 * snowrange_txlog_records_total, snowrange_txlog_fsync_duration_seconds (a
 * histogram), snowrange_txlog_fsync_errors_total,
 * snowrange_txlog_write_errors_total and snowrange_txlog_poisoned, each
 * with its HELP and TYPE lines (docs/txlog.md). The text goes into buf (len
 * bytes, NUL-terminated) and *needed (may be NULL) receives its size with
 * the NUL. Errors: SR_EINVAL (NULL log, or NULL buf with len > 0),
 * SR_ETOOBIG (len is less than *needed: nothing is written; call again
 * with a larger buffer; 4 KiB always suffices), SR_ENOMEM.
 */
SR_EXPORT int sr_txlog_metrics_text(sr_txlog *log, char *buf, size_t len, size_t *needed);

/* ---- reading (no handle, read-only, cuts nothing) ---- */

/* Called for each record with the file offset of its first byte. r and
 * everything it points to are valid only during the call. A non-zero return
 * stops the scan, which then returns that value. */
typedef int (*sr_txlog_visit)(void *arg, const sr_txrecord *r, uint64_t offset);

/*
 * Calls fn for every record recovery would keep in the log at path: in file
 * order, or, when txid_order is non-zero, sorted by txid (stable: records
 * of one txid keep their file order). The tail recovery would cut is
 * reported in rec (rec->bytes_cut) but not cut; rec may be NULL. The file
 * may be held open by a writer: records appended after the scan began are
 * not visited, and a batch being written at that moment may be reported as
 * a tail to cut.
 * Errors: SR_EINVAL, SR_ENOMEM, SR_EIO (unreadable, not a txlog of this
 * format, or damage in a synced batch; errbuf names the offset). The whole
 * file is checked before the first visit, so a log that fails has no record
 * visited, in either order.
 */
SR_EXPORT int sr_txlog_scan(const char *path, int txid_order, sr_txlog_visit fn, void *arg,
    sr_txlog_recovery *rec, char *errbuf, size_t errlen);

/*
 * Stores in *txids (malloc'd, the caller frees it; NULL when *n is 0) the
 * in-doubt transactions of the log at path, ascending: those whose last
 * PREPARE, COMMIT or ABORT record is a PREPARE (a BEGIN after a PREPARE
 * does not resolve it). The tail recovery would cut is ignored.
 * Errors as sr_txlog_scan.
 */
SR_EXPORT int sr_txlog_in_doubt(const char *path, uint64_t **txids, size_t *n, char *errbuf,
    size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
