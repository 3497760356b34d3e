/*
 * The chunk cache of one sequence (docs/design.md §6), pure: no sockets, no clock
 * beyond the deadline of a waiting caller. It holds the current chunk and at
 * most one prefetched next chunk.
 *
 * Fast path: one atomic fetch-add on `word`, which packs the epoch of the
 * current chunk (high bits) with the count of its IDs handed out (low bits).
 * Because epoch and index come from one atomic operation, a thread can never
 * take an index of one chunk and apply it to another. Chunk descriptors live
 * in a small ring indexed by epoch; a descriptor is rewritten only CACHE_RING
 * swaps later, and a reader that raced with that (it would have to stall for
 * several whole chunks) sees the epoch change and retries, losing only the
 * indexes it took (a gap, never a duplicate).
 *
 * Slow path (chunk used up): under the mutex, swap the prefetched chunk in
 * with a new epoch, or ask for one and wait until the deadline.
 *
 * Why the index never reaches the epoch bits. Before its fetch-add a caller
 * loads the word and goes to the slow path without adding when the index it
 * sees is at or past the count of the chunk it describes, or at or past
 * CACHE_MAX_CHUNK. When the chunk has room that is a plain load: the fast
 * path stays one atomic read-modify-write. Within one epoch (from the store
 * that installs it to the next) the index only grows, and:
 *   - an add that starts below CACHE_MAX_CHUNK ends below
 *     CACHE_MAX_CHUNK + CACHE_MAX_BATCH;
 *   - an add that starts at or past CACHE_MAX_CHUNK was passed by a load
 *     that saw an index below it (an older value of the word); after such an
 *     add the same thread's next load sees that add or a later value
 *     (coherence of one atomic object), so it sees this epoch at or past the
 *     bound and does not add again, or a later epoch. Hence each thread makes
 *     at most one such add per epoch.
 * So the index stays below CACHE_MAX_CHUNK + (T + 1) * CACHE_MAX_BATCH for T
 * threads calling. Linux gives a process fewer than 2^22 threads (its pid
 * space), so that is below 2^40 + 2^42 + 2^20 < 2^44 = 1 << CACHE_IDX_BITS;
 * cache_offer refuses chunks above CACHE_MAX_CHUNK (the master caps chunks
 * at 2^32). The check against the chunk's count keeps the word exact in
 * practice: once a caller has seen the chunk used up, failed calls (a client
 * retrying large batches while the master is away) do not touch the word, so
 * it ends at most one batch per racing thread past the count. That part is
 * not needed for the bound: the descriptor it reads may be in the middle of
 * a rewrite, so it is only a hint; the epoch and index still come from the
 * fetch-add and the seqlock check decides.
 */
#ifndef SR_CACHE_H
#define SR_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "range.h"
#include "segment.h"

#define CACHE_RING 4
#define CACHE_IDX_BITS 44
#define CACHE_IDX_MASK ((UINT64_C(1) << CACHE_IDX_BITS) - 1)
/* Most IDs one call may take at once, and the largest chunk the cache
 * accepts: together they keep the index below the epoch bits (see above). */
#define CACHE_MAX_BATCH (1u << 20)
#define CACHE_MAX_CHUNK (UINT64_C(1) << 40)
/* Most chunks one call may swap in, so most leases (durable master commits)
 * one request can cause: 256 chunks of 256 IDs serve the largest NextIds
 * (65,536), and a call on a smaller chunk size stops with SR_ETOOBIG
 * instead of committing thousands of leases (docs/decisions.md). */
#define CACHE_MAX_SWAPS 256u

/* The public bounds of a segments call are these (snowrange/segment.h). */
_Static_assert(SR_SEGMENTS_MAX == CACHE_MAX_SWAPS + 1, "one segment per chunk a call may touch");
_Static_assert(SR_SEGMENT_IDS_MAX == CACHE_MAX_BATCH, "most IDs one call takes");

struct cache_desc {
	_Atomic uint64_t epoch; /* which epoch this slot describes */
	_Atomic uint64_t start, c, pf;
	_Atomic uint32_t n, k;
};

struct cache_seq;

/* Called (at most once per chunk, from a caller's thread) when the sequence
 * wants its next chunk leased. Must not block. */
typedef void (*cache_notify_fn)(void *arg, struct cache_seq *s);

/* Called, without the cache's mutex, by a caller that found no ID, no
 * prefetched chunk and the wanted lease not yet begun: the caller would only
 * sleep until the fetcher thread had leased, so it leases on its own thread
 * and saves two hand-offs (waking the fetcher, the fetcher waking it). It
 * returns without leasing when it could not finish by deadline_us (the
 * fetcher is then told, and the caller waits for it as before). What it
 * leased or failed to lease reaches the cache as the fetcher's would
 * (cache_offer_lease, cache_fail, cache_rewant). */
typedef void (*cache_fetch_fn)(void *arg, struct cache_seq *s, int64_t deadline_us);

struct cache_seq {
	char name[65];
	_Atomic uint64_t word; /* epoch << CACHE_IDX_BITS | used */
	struct cache_desc ring[CACHE_RING];
	_Atomic bool want; /* a lease is wanted / under way */
	double prefetch_at;
	cache_notify_fn notify;
	cache_fetch_fn fetch; /* NULL: callers always wait for the fetcher */
	void *notify_arg;

	pthread_mutex_t mu; /* guards the fields below */
	pthread_cond_t cv;
	bool has_next;
	bool leasing; /* a lease is under way (fetcher or caller): none other */
	struct range_chunk next;
	bool next_no_prefetch; /* the next chunk's sequence leases on demand */
	uint64_t seq_start;    /* start of the incarnation held; 0 unknown */
	uint64_t newest_end;   /* end of the newest range held */
	int err;               /* terminal lease error (ENOTFOUND, EEXHAUSTED) */
	uint64_t waits, max_wait_us;
	uint64_t retired;               /* IDs handed out of chunks no longer current */
	struct metrics_hist *wait_hist; /* callers' waits; NULL: not kept */
};

/* Statistics and chunk views for status. */
struct cache_view {
	struct range_chunk cur, next;
	uint64_t used;   /* of cur */
	uint64_t issued; /* IDs handed out in all: of retired chunks, and used */
	bool has_cur, has_next;
};

int cache_seq_init(struct cache_seq *s, const char *name, double prefetch_at,
    cache_notify_fn notify, void *arg);
void cache_seq_destroy(struct cache_seq *s);

/*
 * Takes up to n IDs (n <= CACHE_MAX_BATCH) into out, ascending and above
 * every ID this cache returned before. Waits up to timeout_us for a chunk
 * when none is at hand. Returns 0 with *got = n, or an error with *got IDs
 * already stored (valid ones): SR_EUNAVAILABLE after the timeout, the
 * terminal lease error, or SR_ETOOBIG when the call would swap in more than
 * CACHE_MAX_SWAPS chunks.
 */
int cache_next(struct cache_seq *s, size_t n, uint64_t *out, size_t *got, int64_t timeout_us);

/*
 * One ID: cache_next(s, 1, out, ...) without its batch bookkeeping, for the
 * single-ID calls (the path the in-process target measures). The same
 * rules and errors.
 */
int cache_next_one(struct cache_seq *s, uint64_t *out, int64_t timeout_us);

/*
 * Moves the prefetched chunk out into *out instead of making it current
 * (sr_seq_take_chunk), waiting up to timeout_us for one, and raises the want
 * flag for the one after it (unless its sequence leases on demand). The
 * chunk counts as held for the `after` rule: later chunks lie above it.
 * Errors: SR_EUNAVAILABLE after the timeout, or the terminal lease error.
 */
int cache_take_chunk(struct cache_seq *s, struct range_chunk *out, int64_t timeout_us);

/*
 * The same IDs as segments (common/segment.h), without writing each ID: one
 * fetch-add and one segment per chunk touched, so the cost does not grow
 * with n. Stores at most max_segs segments in segs and their number in
 * *nsegs, and the IDs they hold in *got, also on failure (those are valid).
 * max_segs >= CACHE_MAX_SWAPS + 1 never runs out; with fewer the call stops
 * with SR_ETOOBIG when the next chunk would need one more. Errors as
 * cache_next.
 */
int cache_next_segs(struct cache_seq *s, size_t n, sr_id_segment *segs, size_t max_segs,
    size_t *nsegs, size_t *got, int64_t timeout_us);

/* ---- called by the fetcher ---- */

/* Takes the want flag: true when a lease should be made now, false when
 * nobody asked, a chunk is already waiting or a caller is leasing itself.
 * After true, the lease is the taker's: it calls cache_lease_done once the
 * result is in the cache. */
bool cache_take_want(struct cache_seq *s);
/* Ends the lease begun by cache_take_want (whatever its outcome). */
void cache_lease_done(struct cache_seq *s);
/* Lets callers that would wait lease themselves through fn (its arg is the
 * notify arg); set before the sequence is used. */
void cache_seq_set_fetch(struct cache_seq *s, cache_fetch_fn fn);
/* Puts the want flag back after a failed lease so it will be retried. */
void cache_rewant(struct cache_seq *s);
/* The `after` to send with the lease: end of the newest range held. */
uint64_t cache_after(struct cache_seq *s);
/* What the master said with a leased chunk. */
struct cache_lease {
	struct range_chunk chunk;
	/* The sequence's prefetch setting is off: nothing is leased ahead
	 * while this chunk is current (the want flag is raised only when a
	 * caller finds no ID left). */
	bool no_prefetch;
	/* The sequence's start, which tells incarnations of a name apart (a
	 * re-created sequence starts above all IDs of the dropped one); 0 when
	 * the master did not say. */
	uint64_t seq_start;
};

/* Installs a leased chunk as the next one and wakes waiters. A chunk that is
 * not above everything held (it would break order) or holds more than
 * CACHE_MAX_CHUNK IDs is refused (SR_EINVAL). A chunk of another incarnation
 * than the one held (the sequence was dropped and created again) first
 * discards the current chunk: the new sequence's IDs start above it. */
int cache_offer_lease(struct cache_seq *s, const struct cache_lease *l);
/* The same for a chunk of a sequence with prefetch on. */
int cache_offer(struct cache_seq *s, const struct range_chunk *ch);
/* Lets the next chunk go unused (a gap): for a handle taken before any
 * caller asked, on a sequence without prefetch. */
void cache_forget_next(struct cache_seq *s);
/* Records a terminal lease error and wakes waiters with it. */
void cache_fail(struct cache_seq *s, int err);
/*
 * Applies what the master says of the sequence (its heartbeat reply, or a
 * lease refused with SR_ENOTFOUND): start 0 means it no longer exists, so
 * every held chunk is discarded and callers get SR_ENOTFOUND; a start
 * other than the one held means it was dropped and created again, so held
 * chunks are discarded and the terminal error cleared, and the next caller
 * leases from the new sequence. Returns true when anything changed.
 */
bool cache_sync(struct cache_seq *s, uint64_t start);
/* The start of the incarnation held (0 if unknown), for the heartbeat. */
uint64_t cache_seq_start(struct cache_seq *s);

void cache_view(struct cache_seq *s, struct cache_view *v);

#endif
