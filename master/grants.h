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
 * Claims (docs/snowflake.md, "Claims"): every Join and Heartbeat of a
 * coordinator that holds a worker id says which, its tick and how long its
 * lease has left. A master whose store does not know that grant (it lost
 * its state, or was rolled back) adopts it: the id stays the claimant's,
 * so no other node gets it while the claimant may issue, and the next
 * holder's floor covers the claimant's ticks. A master that starts with no
 * grant at all in its store grants no new id until live coordinators had a
 * heartbeat interval to claim theirs (grants_hold).
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

/* The worker history kept by default (--worker-history): grants of a worker
 * id to a new holder, each a store_era row, the oldest deleted beyond it. */
#define GRANTS_HISTORY_DEFAULT 10000

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
	/* The worker history as stored: eras[era0 .. neras) by seq, oldest
	 * first; the slots before era0 were trimmed (reused when the array
	 * is full, so trimming one era costs no memmove of all of them). */
	struct store_era *eras;
	size_t era0, neras, eras_cap;
	uint32_t eras_max;  /* --worker-history: eras kept at most */
	uint64_t next_era;  /* seq of the next era */
	uint64_t first_era; /* no era below this seq is stored */
	int64_t open_ms;    /* no new grant before this (grants_hold) */
	uint32_t ttl_ms;    /* the lease TTL */
	uint32_t grace_ms;  /* an ended lease's id is reused after this */
	sr_flake_layout layout;
};

/* Takes the stored rows (copied) under the catalog's settings; every grant
 * counts as live until now_ms + ttl_ms at least. The history starts empty,
 * keeping GRANTS_HISTORY_DEFAULT eras. SR_ENOMEM on failure, with g left
 * empty. */
int grants_init(struct grants *g, uint32_t ttl_ms, uint32_t grace_ms, const sr_flake_layout *layout,
    const struct store_worker *rows, size_t n, int64_t now_ms);
void grants_free(struct grants *g);

/* Grants no new worker id before until_ms: a master that found no grant in
 * its store waits so long for the claims of coordinators still live from
 * before (grants_claim). Claims are adopted meanwhile. */
void grants_hold(struct grants *g, int64_t until_ms);

/* Ms until grants_hold's wait ends at now_ms; 0 once it has. */
int64_t grants_wait_left(const struct grants *g, int64_t now_ms);

/* Takes the stored worker history (eras by seq, copied: the newest max of
 * them) and keeps at most max eras from now on (0: none; older rows are
 * deleted with the next grant). SR_ENOMEM on failure. */
int grants_history_init(struct grants *g, uint32_t max, const struct store_era *eras, size_t n);

/* Worker ids that could be granted at now_ms: never granted, or ended
 * longer than the grace period ago; none before grants_hold's wait ends
 * (for /metrics). */
uint64_t grants_free_count(const struct grants *g, int64_t now_ms);

/* Who held worker id `worker` when it issued at `tick`: the era of the
 * newest grant below that tick. *certain is false when no era of that id
 * is kept (every grant came before the history was, or its eras were
 * trimmed) and names the holder of its stored row. *from and *to bound the
 * era's ticks (*to 0: open). *name is the holder's name recorded with the
 * era ("" when uncertain). False when the holder is older than what is
 * kept. */
bool grants_holder_at(const struct grants *g, uint32_t worker, uint64_t tick, uint64_t *node_id,
    bool *certain, uint64_t *from, uint64_t *to, const char **name);

/* The row of worker id, NULL if it was never granted. */
struct store_worker *grants_find(const struct grants *g, uint32_t id);

/* The newest row held by node_id (by lease end), NULL if none. */
const struct store_worker *grants_newest(const struct grants *g, uint64_t node_id);

/*
 * Chooses a worker id for node_id: fills *row with its new grant (to be
 * committed) and *out with what the node is told; changes nothing. False
 * when no id can be given now (grants_hold's wait is not over, the node's
 * own id is still in its lease or grace period, or every id is taken).
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

/* A worker id a node reports holding (a WorkerClaim), checked by the
 * caller: worker_id within the layout, tick not ahead of the clock,
 * left_ms within 0 .. the TTL. */
struct grants_claim {
	uint32_t worker_id;
	uint64_t tick;   /* the claimant's tick, as a heartbeat reports it */
	int64_t left_ms; /* its lease view's time left, by its own clock */
};

/*
 * What a claim of node_id changes; fills *row (to be committed, then
 * applied with grants_apply) and *out. Changes nothing itself. Returns
 *   GRANTS_CLAIM_OWN    the id was the node's already in the store, or
 *                       unknown, or its holder's lease ended longer than
 *                       the grace period ago: *row gives it to the node,
 *                       renewed (its end never earlier, its tick raised),
 *                       and *out is its grant (the node keeps the id);
 *   GRANTS_CLAIM_YIELD  the store gives the id to another node whose lease
 *                       may still be live: *row is that node's row, kept
 *                       at least until the claim's end and its tick raised
 *                       to the claim's; *out has no grant (the claimant
 *                       must stop issuing under it).
 * With OWN, *known says whether the store held the id as this node's.
 */
enum { GRANTS_CLAIM_OWN = 1, GRANTS_CLAIM_YIELD };
int grants_claim(const struct grants *g, uint64_t node_id, const struct grants_claim *c,
    int64_t now_ms, struct store_worker *row, struct catalog_grant *out, bool *known);

/*
 * A node holds at most one worker id, claims included (issue 10: one node
 * collected 806 ids). When grants_claim gives a node an id it did not
 * hold, grants_others counts its other rows that are not free at now_ms,
 * and grants_end_others fills ops[0 .. that count) with them ended and
 * free at once (STORE_PUT_WORKER), their tick raised to the claim's: the
 * node issues under the claimed id now, and whoever gets one of those ids
 * next issues above that tick plus one TTL. Commit them with the claim.
 */
size_t grants_others(const struct grants *g, uint64_t node_id, uint32_t worker_id, int64_t now_ms);
void grants_end_others(const struct grants *g, uint64_t node_id, uint32_t worker_id, uint64_t tick,
    int64_t now_ms, struct store_op *ops);

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

/*
 * The worker history of a grant grants_pick prepared (*row, *out) for the
 * node called name, to be committed WITH the grant, so that no txid exists
 * whose holder was not recorded: a grant to a new holder fills ops[0] with
 * its era (STORE_PUT_ERA), and when more than the kept number would be
 * stored, the next op deletes the oldest (STORE_TRIM_ERAS). Returns how
 * many ops it filled, at most GRANTS_HISTORY_OPS: 0 when the node held the
 * id already. Call it before grants_apply(row). Changes nothing.
 */
#define GRANTS_HISTORY_OPS 2
size_t grants_history_ops(const struct grants *g, const struct store_worker *row,
    const struct catalog_grant *out, const char *name, int64_t now_ms, struct store_op *ops);

/* Applies committed history ops (grants_history_ops) to memory. An era
 * that cannot be kept for want of memory takes its worker id's older eras
 * out of memory with it (decode then knows less, never names a wrong
 * holder) until a restart loads them. */
void grants_history_apply(struct grants *g, const struct store_op *ops, size_t n);

#endif
