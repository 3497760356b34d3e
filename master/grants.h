/*
 * Snowflake worker-id grants (docs/design.md §4), the part of the master's
 * catalog that decides who may mint txids under which worker id and above
 * which tick. Pure: the caller passes the time in and commits the rows these
 * functions prepare before it applies them (grants_apply), as the rest of
 * the catalog does, so a failed commit changes nothing.
 *
 * The rules: a node holds at most one worker id; an id whose lease ended is
 * given to another node only after the grace period; its new holder issues
 * only above a floor (the highest tick any holder reported plus one TTL, and
 * at least the tick at which the last lease ended); after a master restart
 * every stored grant counts as live for one TTL.
 *
 * A renewal is not committed every heartbeat (docs/decisions.md, "Renewals
 * are stored ahead"): when one must be, the stored row is written ahead of
 * memory, its end GRANTS_AHEAD_TTLS TTLs later and its tick as many TTLs
 * higher, so that the following renewals, which stay below both, need no
 * commit. What a restarted master loads then covers every renewal it
 * answered: the stored end is never before the end the holder relies on,
 * and the stored tick is never below a tick the holder reported.
 */
#ifndef SR_GRANTS_H
#define SR_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct catalog_grant; /* catalog.h: what a node is told */

/* One holder's time with a worker id: from its grant it issues above
 * floor_tick, until the next era of the same id. Kept in memory only, since
 * the master started (docs/operating.md, decode). */
struct grant_era {
	uint32_t worker;
	uint64_t node_id;
	uint64_t floor_tick;
};

/* The eras kept at most; the oldest half goes when they are full. */
#define GRANTS_ERAS_MAX 65536

/* How far ahead of memory a committed renewal is stored, in TTLs: a live
 * holder's renewal is committed about once per this many TTLs instead of at
 * every heartbeat (three per TTL). */
#define GRANTS_AHEAD_TTLS 2

/* What the store holds of a row, where memory has moved on since. */
struct grants_stored {
	int64_t expires_ms;
	uint64_t last_tick;
};

struct grants {
	struct store_worker *rows;    /* one row per worker id ever granted, as
	                               * memory has it */
	struct grants_stored *stored; /* the same rows as stored, same index */
	size_t n;
	struct grant_era *eras; /* grants to a new holder, oldest first */
	size_t neras, eras_cap;
	uint32_t ttl_ms;   /* the lease TTL */
	uint32_t grace_ms; /* an ended lease's id is reused after this */
	sr_flake_layout layout;
};

/* Takes the stored rows (copied) under the catalog's settings; every grant
 * counts as live until now_ms + ttl_ms at least. SR_ENOMEM on failure, with
 * g left empty. */
int grants_init(struct grants *g, uint32_t ttl_ms, uint32_t grace_ms, const sr_flake_layout *layout,
    const struct store_worker *rows, size_t n, int64_t now_ms);
void grants_free(struct grants *g);

/* Worker ids that could be granted at now_ms: never granted, or ended
 * longer than the grace period ago (for /metrics). */
uint64_t grants_free_count(const struct grants *g, int64_t now_ms);

/* Who held worker id `worker` when it issued at `tick`: the era of the
 * newest grant below that tick. *certain is false when the master has no
 * era of that id (every grant came before it started) and names the holder
 * of its stored row. *from and *to bound the era's ticks (*to 0: open).
 * False when the holder is older than what is kept. */
bool grants_holder_at(const struct grants *g, uint32_t worker, uint64_t tick, uint64_t *node_id,
    bool *certain, uint64_t *from, uint64_t *to);

/* The row of worker id, NULL if it was never granted. */
struct store_worker *grants_find(const struct grants *g, uint32_t id);

/* The newest row held by node_id (by lease end), NULL if none. */
const struct store_worker *grants_newest(const struct grants *g, uint64_t node_id);

/*
 * Chooses a worker id for node_id: fills *row with its new grant (to be
 * committed) and *out with what the node is told; changes nothing. False
 * when no id can be given now (the node's own id is still in its lease or
 * grace period, or every id is taken).
 */
bool grants_pick(const struct grants *g, uint64_t node_id, int64_t now_ms, struct store_worker *row,
    struct catalog_grant *out);

/*
 * A heartbeat of node_id that says it holds worker_id. When that id's row is
 * the node's, fills *mem with it as memory will keep it: the reported tick
 * raised into it, and renewed (never to an earlier end) while its lease is
 * live, in which case *out says so. Changes nothing. Returns
 *   GRANTS_BEAT_NONE    the node holds no such row: nothing to do;
 *   GRANTS_BEAT_KEEP    the stored row already covers *mem: no commit, call
 *                       grants_keep(g, mem, NULL);
 *   GRANTS_BEAT_COMMIT  commit *durable first (a live renewal's is ahead of
 *                       *mem, see above), then grants_keep(g, mem, durable).
 */
enum { GRANTS_BEAT_NONE, GRANTS_BEAT_KEEP, GRANTS_BEAT_COMMIT };
int grants_beat(const struct grants *g, uint64_t node_id, uint32_t worker_id, uint64_t tick,
    int64_t now_ms, struct store_worker *mem, struct store_worker *durable,
    struct catalog_grant *out);

/* Applies a heartbeat's row (grants_beat) to memory, and durable (NULL: the
 * stored row did not change) as what the store now holds. */
void grants_keep(struct grants *g, const struct store_worker *mem,
    const struct store_worker *durable);

/* How many live grants node_id holds, and their rows ended at now_ms with
 * the node's last tick raised in: the rows a Leave commits. grants_end
 * fills ops[0 .. grants_live(...)) with STORE_PUT_WORKER operations. */
size_t grants_live(const struct grants *g, uint64_t node_id, int64_t now_ms);
void grants_end(const struct grants *g, uint64_t node_id, uint64_t tick, int64_t now_ms,
    struct store_op *ops);

/* Applies a committed row to memory (as stored, too). SR_ENOMEM when a new
 * row cannot be added. */
int grants_apply(struct grants *g, const struct store_worker *row);

#endif
