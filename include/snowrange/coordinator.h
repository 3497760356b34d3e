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

#include "snowrange/credentials.h"
#include "snowrange/error.h"
#include "snowrange/export.h"
#include "snowrange/layout.h"
#include "snowrange/log.h"
#include "snowrange/segment.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ---- */

/* Settings for sr_coordinator_open. Start from sr_coordinator_config_init. */
typedef struct sr_coordinator_config {
	const char *master_url; /* nng URL of the master, e.g. tcp://127.0.0.1:7400 */
	const char *node_name;  /* [a-z0-9_.-]{1,64}; same name = same node id */
	const char *listen_url; /* advertised to the master for status; may be NULL */
	int rpc_timeout_ms;     /* bound on every master round trip (default 2000) */
	int lease_timeout_ms;   /* how long a caller waits for a chunk (default 3000) */
	double prefetch_at;     /* fraction of a chunk used before prefetch (0.5) */
	int join_timeout_ms;    /* how long open keeps trying to join (default 10000) */
	int max_clock_back_ms;  /* clock step back a txid call waits out (5) */
	uint64_t txid_floor;    /* the last txid in the caller's 2PC log, 0 if
	                         * none: txids are issued only above its tick */
	sr_log_fn log_fn;       /* receives the coordinator's messages (see
	                         * snowrange/log.h); NULL: lines on stderr */
	void *log_arg;          /* passed to log_fn */
	/* TLS files and role tokens for the master link (NULL: none); read
	 * at open. A tls+tcp:// master_url needs tls_ca. docs/security.md. */
	const sr_credentials *credentials;
} sr_coordinator_config;

/* Fills cfg with the defaults; master_url and node_name stay NULL. */
SR_EXPORT void sr_coordinator_config_init(sr_coordinator_config *cfg);

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
SR_EXPORT int sr_coordinator_open(const sr_coordinator_config *cfg, sr_coordinator **out,
    char *errbuf, size_t errlen);

/*
 * Leaves the master now: stops leasing and heartbeats and ends the worker
 * lease (txids then fail with SR_ENOWORKER). Sequence IDs already leased may
 * still be handed out until close. Idempotent. Returns the master's answer
 * (the node has stopped either way).
 */
SR_EXPORT int sr_coordinator_leave(sr_coordinator *c);

/* Leaves the master if not yet done (best effort), stops the background
 * thread and frees everything. IDs not yet handed out are lost (a gap).
 * NULL is a no-op. */
SR_EXPORT void sr_coordinator_close(sr_coordinator *c);

/* ---- IDs ---- */

/*
 * Stores the next ID of sequence seq in *id.
 * Errors: SR_ENOTFOUND (no such sequence on the master), SR_EINVAL (bad name),
 * SR_EUNAVAILABLE (no chunk arrived within lease_timeout_ms), SR_EEXHAUSTED
 * (the sequence reached its max value), SR_ECLOSED.
 */
SR_EXPORT int sr_next_id(sr_coordinator *c, const char *seq, uint64_t *id);

/*
 * Stores n IDs of seq in out[0..n), ascending, using one atomic operation per
 * chunk touched. On failure returns the error and stores in *got how many IDs
 * were written before it (they are valid and will not be issued again).
 * n must be 1..1048576. Errors as sr_next_id, and SR_ETOOBIG when the call
 * would need more than 256 chunks (each a lease at the master): it stops
 * there, with the IDs it took in out and *got (docs/decisions.md).
 */
SR_EXPORT int sr_next_ids(sr_coordinator *c, const char *seq, size_t n, uint64_t *out, size_t *got);

/* A sequence handle skips the name lookup on every call. Handles stay valid
 * until sr_coordinator_close. Errors as sr_next_id. The first get of a
 * sequence leases a chunk to learn that it exists (SR_ENOTFOUND otherwise);
 * for a sequence with prefetch off (a ticket server) that chunk is let go,
 * so a handle holds no ticket before its first call. */
typedef struct sr_sequence sr_sequence;
SR_EXPORT int sr_sequence_get(sr_coordinator *c, const char *seq, sr_sequence **out);
SR_EXPORT int sr_seq_next_id(sr_sequence *s, uint64_t *id);
SR_EXPORT int sr_seq_next_ids(sr_sequence *s, size_t n, uint64_t *out, size_t *got);

/*
 * Takes n IDs of seq as segments (snowrange/segment.h) instead of a list:
 * one atomic add and one segment per chunk touched, and no ID is written
 * out, so taking 1,000,000 IDs costs about what taking one does. The
 * segments are ascending and the IDs in them obey the same rules as those
 * of sr_next_ids (unique, above every ID returned before).
 * n must be 1..SR_SEGMENT_IDS_MAX; segs has room for max_segs segments
 * (SR_SEGMENTS_MAX never runs out). *nsegs receives how many were stored,
 * also on failure: those segments are valid and will not be issued again.
 * Errors as sr_next_ids (SR_EINVAL for n out of range or no buffer), and
 * SR_ETOOBIG when the IDs would need more than max_segs segments (it stops
 * there, with what it took in segs).
 */
SR_EXPORT int sr_next_segments(sr_coordinator *c, const char *seq, size_t n, sr_id_segment *segs,
    size_t max_segs, size_t *nsegs);
SR_EXPORT int sr_seq_next_segments(sr_sequence *s, size_t n, sr_id_segment *segs, size_t max_segs,
    size_t *nsegs);

/* ---- chunks handed over whole ---- */

/*
 * A chunk of a sequence handed over to the caller, who hands its IDs out
 * itself: from shared memory to several processes, say (the PostgreSQL
 * extension, docs/postgresql.md). The chunk is the range (start, start + n*c]
 * cut into n strides; this one is stride k (docs/design.md §2) and its i-th
 * ID, i = 1..c, is sr_chunk_id(chunk, i). The IDs ascend with i.
 */
typedef struct sr_chunk {
	uint64_t start;
	uint32_t n, k;
	uint64_t c;
} sr_chunk;

/*
 * Moves the next leased chunk of s out of the coordinator into *out, and
 * has the background thread lease the one after it (unless the sequence has
 * prefetch off). Each chunk is handed over once; every ID in it lies above
 * every ID of the chunks taken before from this coordinator, so a caller that
 * hands out a chunk's IDs in order, and the next chunk's only after it, is
 * strictly increasing. Do not mix it with sr_seq_next_id on one sequence:
 * IDs stay unique, but the two streams interleave out of order. Waits up to
 * lease_timeout_ms for a chunk. The caller may stop using a chunk at any
 * time (the rest is a gap). Errors as sr_next_id.
 */
SR_EXPORT int sr_seq_take_chunk(sr_sequence *s, sr_chunk *out);

/* The i-th ID (1..chunk->c) of a chunk: start + 1 + k + n*(i - 1). Pure. */
SR_EXPORT uint64_t sr_chunk_id(const sr_chunk *chunk, uint64_t i);

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
SR_EXPORT int sr_next_txid(sr_coordinator *c, uint64_t *txid);

/* Stores n (1..65536) txids in out, ascending; on failure *got says how many
 * were stored (valid ones). Errors as sr_next_txid. */
SR_EXPORT int sr_next_txids(sr_coordinator *c, size_t n, uint64_t *out, size_t *got);

/* The cluster's Snowflake layout (snowrange/layout.h), as the master handed
 * it at join. */
SR_EXPORT void sr_coordinator_layout(const sr_coordinator *c, sr_flake_layout *out);

/* Stores the worker id in *worker_id; SR_ENOWORKER when no lease is live. */
SR_EXPORT int sr_coordinator_worker(sr_coordinator *c, uint32_t *worker_id);

/* How far (ms) the clock was behind the last issued tick when a txid call
 * last failed with SR_ECLOCK. */
SR_EXPORT int64_t sr_coordinator_clock_offset_ms(sr_coordinator *c);

/* ---- introspection ---- */

/* The node id the master gave this coordinator, and its name. */
SR_EXPORT uint64_t sr_coordinator_node_id(const sr_coordinator *c);
SR_EXPORT const char *sr_coordinator_name(const sr_coordinator *c);

/* One held chunk, as reported by sr_coordinator_chunks. */
typedef struct sr_chunk_info {
	char sequence[65];
	uint64_t start; /* range (start, start + n*c] */
	uint32_t n, k;  /* chunks in the range, this chunk */
	uint64_t c;     /* IDs in the chunk */
	uint64_t used;  /* IDs already handed out */
	int current;    /* 1 = being drawn from, 0 = prefetched */
} sr_chunk_info;

/* Copies up to max held chunks into out and returns how many are held in all
 * (which may exceed max). */
SR_EXPORT size_t sr_coordinator_chunks(sr_coordinator *c, sr_chunk_info *out, size_t max);

/* Counters for benchmarks and status. */
typedef struct sr_coordinator_stats {
	uint64_t leases;       /* chunks leased from the master */
	uint64_t lease_errors; /* lease round trips that failed */
	uint64_t waits;        /* calls that had to wait for a chunk */
	uint64_t max_wait_us;  /* longest such wait */
} sr_coordinator_stats;

SR_EXPORT void sr_coordinator_get_stats(sr_coordinator *c, sr_coordinator_stats *out);

#ifdef __cplusplus
}
#endif
#endif
