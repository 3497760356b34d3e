/*
 * The snowrange remote client: talks to a coordinator daemon (NextIds,
 * Status) or to the master (Status, sequence catalog). Used by the CLI and by
 * applications that do not embed libsnowrange. No nng or protobuf types.
 *
 * A client handle is thread-safe; each call is one round trip bounded by the
 * timeout given at open.
 */
#ifndef SNOWRANGE_CLIENT_H
#define SNOWRANGE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/coordinator.h" /* sr_chunk_info */
#include "snowrange/credentials.h"
#include "snowrange/error.h"
#include "snowrange/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_client sr_client;

/* Opens a client for the nng URL url (tcp://, ipc://). The peer may come up
 * later; calls fail with SR_ETIMEDOUT until it does. Errors: SR_EINVAL (bad
 * URL), SR_ENOMEM. */
SR_EXPORT int sr_client_open(const char *url, int timeout_ms, sr_client **out);

/* The same with credentials (NULL: none; docs/security.md): a tls+tcp://
 * URL needs cred->tls_ca, and every request carries the token of the least
 * powerful role it needs from cred->token_file. Files are read here;
 * errbuf (if given) says what was wrong with them. */
SR_EXPORT int sr_client_open_with(const char *url, int timeout_ms, const sr_credentials *cred,
    sr_client **out, char *errbuf, size_t errlen);

/* NULL-safe. */
SR_EXPORT void sr_client_close(sr_client *cl);

/* The message of the last failed call on this handle: the peer's
 * explanation or the transport's. Concurrent failing calls on one handle may
 * overwrite each other's message. Valid until the next failing call. */
SR_EXPORT const char *sr_client_errmsg(sr_client *cl);

/* ---- coordinator ---- */

/*
 * Asks the coordinator for count (1..65536) IDs of seq; stores them in out,
 * ascending, and the issuing node's name (up to 64 chars + NUL) in node if
 * non-NULL. Errors: the coordinator's (SR_ENOTFOUND, SR_EUNAVAILABLE,
 * SR_EEXHAUSTED, SR_EINVAL) or the transport's (SR_ETIMEDOUT, SR_ECONNECT).
 */
SR_EXPORT int sr_client_next_ids(sr_client *cl, const char *seq, uint32_t count, uint64_t *out,
    char node[65]);

/*
 * Asks the coordinator for count (1..SR_SEGMENT_IDS_MAX = 1,048,576) IDs of
 * seq as segments (snowrange/segment.h) instead of a list: the reply holds
 * one (first, step, count) per chunk touched, so a million IDs cost about
 * one single-ID round trip. Stores at most max_segs segments in segs (room
 * for SR_SEGMENTS_MAX always suffices), their number in *nsegs and the
 * issuing node's name in node if non-NULL. A coordinator from before
 * segments answers with the list (count <= 65536), which is turned into
 * segments here. Errors: as sr_client_next_ids; SR_ETOOBIG when the reply
 * needs more than max_segs segments; SR_EPROTO when the reply's segments
 * are malformed, not ascending, or do not hold exactly count IDs.
 */
SR_EXPORT int sr_client_next_segments(sr_client *cl, const char *seq, uint32_t count,
    sr_id_segment *segs, size_t max_segs, size_t *nsegs, char node[65]);

/*
 * Asks the coordinator for count (1..65536) Snowflake txids; stores them in
 * out, ascending, the issuing node's name in node and its worker id in
 * *worker (each if non-NULL). Errors: SR_ENOWORKER, SR_ECLOCK (the message
 * gives the offset), SR_EINVAL, or the transport's.
 */
SR_EXPORT int sr_client_next_txids(sr_client *cl, uint32_t count, uint64_t *out, char node[65],
    uint32_t *worker);

/* ---- master catalog ---- */

typedef struct sr_seq_spec {
	const char *name;
	uint64_t start;      /* first ID; 0 = 1 */
	uint64_t chunk_size; /* 0 = master default */
	uint64_t max_value;  /* 0 = 2^63-1 */
	uint32_t spare_chunks;
	int block;          /* 1 = contiguous blocks per node (N = 1) */
	uint64_t min_chunk; /* 0 = master default */
	uint64_t max_chunk; /* 0 = master default */
	int no_prefetch;    /* 1 = coordinators lease only when a caller finds
	                     * no chunk, never ahead (a strict ticket server
	                     * with chunk 1 in block mode); the chunk size then
	                     * stays fixed unless min/max_chunk are given */
} sr_seq_spec;

typedef struct sr_seq_info {
	char name[65];
	uint64_t start, hwm, chunk_size, max_value, min_chunk, max_chunk;
	uint32_t spare_chunks, users;
	int block;
	int no_prefetch;
} sr_seq_info;

/* Creates a sequence. Errors: SR_EINVAL (bad name or sizes), SR_EEXISTS,
 * SR_EIO. On success fills *info if non-NULL. */
SR_EXPORT int sr_client_seq_create(sr_client *cl, const sr_seq_spec *spec, sr_seq_info *info);

/* Drops a sequence. Errors: SR_ENOTFOUND, SR_EIO. */
SR_EXPORT int sr_client_seq_drop(sr_client *cl, const char *name);

/* Lists sequences: *out is malloc'd (free with free()), *n its length. */
SR_EXPORT int sr_client_seq_list(sr_client *cl, sr_seq_info **out, size_t *n);

/* ---- status (master or coordinator) ---- */

/* Sequences a node's held summary names at most. */
#define SR_HELD_SEQS_MAX 8

/* One sequence of a node's held summary. */
typedef struct sr_held_seq {
	char sequence[65];
	uint32_t chunks;   /* held: 0, 1 (current or prefetched) or 2 */
	uint64_t headroom; /* IDs left in them */
} sr_held_seq;

typedef struct sr_node_info {
	uint64_t node_id;
	char name[65];
	char listen_url[256];
	int alive;
	uint64_t last_seen_ms;
	int has_worker; /* its newest worker id grant: */
	uint32_t worker_id;
	int64_t worker_expires_ms; /* wall clock */
	/*
	 * What the node reported holding in its latest heartbeat (the master
	 * keeps it in memory; docs/protocol.md, HeldSummary). has_held 0: no
	 * report (an older node or master, or none since the master started).
	 * held_error non-empty: the master refused the report and says why
	 * (the counts are then 0). Otherwise the sequences served and chunks
	 * held in all, and the nheld (at most SR_HELD_SEQS_MAX) sequences with
	 * the least headroom, least first.
	 */
	int has_held;
	int64_t held_at_ms; /* when the report came (wall clock) */
	char held_error[200];
	uint32_t held_sequences, held_chunks;
	size_t nheld;
	sr_held_seq held[SR_HELD_SEQS_MAX];
} sr_node_info;

typedef struct sr_status {
	char role[16];        /* "master", "standby" or "coordinator" */
	char name[65];        /* coordinator: its node name */
	char master_url[256]; /* coordinator: its master; master on etcd: the leader */
	uint64_t node_id, term;
	int has_layout; /* master: the Snowflake layout */
	sr_flake_layout layout;
	int has_worker; /* coordinator: a live worker lease */
	uint32_t worker_id;
	sr_node_info *nodes;
	size_t nnodes; /* master */
	sr_seq_info *seqs;
	size_t nseqs; /* master */
	sr_chunk_info *chunks;
	size_t nchunks; /* coordinator: held chunks */
} sr_status;

/* Who held a Snowflake worker id when it issued at a tick. */
typedef struct sr_worker_holder {
	uint64_t node_id;
	char name[65];      /* "" for a node the master has since forgotten */
	int certain;        /* 0: the master knows no grant of the id since it
	                       started and names the holder of its stored grant,
	                       which may be later than the tick's */
	uint64_t from_tick; /* that holder issues above this tick ... */
	uint64_t to_tick;   /* ... up to this one (0: it still holds it) */
} sr_worker_holder;

/* What `snowrange decode` names: reader role. SR_ENOTFOUND when the master
 * keeps no record that old (it keeps the grants made since it started). */
SR_EXPORT int sr_client_worker_holder(sr_client *cl, uint32_t worker_id, uint64_t tick,
    sr_worker_holder *out);

/* Forgets a dead node by name (or by id when name is NULL): admin only.
 * Errors: SR_ENOTJOINED (unknown), SR_EEXISTS (the node is live),
 * SR_EACCES. *id (if non-NULL) gets the removed node's id. */
SR_EXPORT int sr_client_node_remove(sr_client *cl, const char *name, uint64_t node_id,
    uint64_t *id);

/* Fills *st; release with sr_status_free. A master that stands by (etcd,
 * docs/ha.md) answers SR_ENOTLEADER: a client opened on a list of masters
 * asks the leader instead. */
SR_EXPORT int sr_client_status(sr_client *cl, sr_status *st);

/* The status of the one master cl was opened on, as that master sees it:
 * a standby answers too, with role "standby", the leader it sees in
 * master_url ("" while none is elected) and no nodes or sequences; the
 * leader answers as to sr_client_status, its own URL in master_url. What
 * `snowrange status` asks each master of its list. A master built before
 * this call answers a standby's SR_ENOTLEADER. */
SR_EXPORT int sr_client_master_status(sr_client *cl, sr_status *st);
SR_EXPORT void sr_status_free(sr_status *st);

#ifdef __cplusplus
}
#endif
#endif
