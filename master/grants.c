/*
 * Snowflake worker-id grants (grants.h): which node mints txids under which
 * worker id, and above which tick. Pure; see grants.h for the rules and
 * docs/snowflake.md for why they keep two holders of an id apart.
 */
#include "grants.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "flake.h"
#include "snowrange/error.h"
#include "util.h"

int
grants_init(struct grants *g, uint32_t ttl_ms, uint32_t grace_ms, const sr_flake_layout *layout,
    const struct store_worker *rows, size_t n, int64_t now_ms)
{
	memset(g, 0, sizeof(*g));
	g->eras_max = GRANTS_HISTORY_DEFAULT;
	g->next_era = g->first_era = 1;
	g->ttl_ms = ttl_ms;
	g->grace_ms = grace_ms;
	g->layout = *layout;
	if (n == 0)
		return SR_OK;
	g->rows = calloc(n, sizeof(*g->rows));
	g->stored = calloc(n, sizeof(*g->stored));
	if (g->rows == NULL || g->stored == NULL) {
		grants_free(g);
		return SR_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		g->stored[g->n] = (struct grants_stored) {rows[i].expires_ms, rows[i].last_tick};
		struct store_worker *w = &g->rows[g->n++];
		*w = rows[i];
		/* Its holder may still be issuing: live for one TTL from now. */
		if (w->expires_ms < now_ms + (int64_t) ttl_ms)
			w->expires_ms = now_ms + (int64_t) ttl_ms;
	}
	return SR_OK;
}

void
grants_hold(struct grants *g, int64_t until_ms)
{
	g->open_ms = until_ms;
}

int64_t
grants_wait_left(const struct grants *g, int64_t now_ms)
{
	return g->open_ms > now_ms ? g->open_ms - now_ms : 0;
}

void
grants_free(struct grants *g)
{
	free(g->rows);
	free(g->stored);
	g->rows = NULL;
	g->stored = NULL;
	g->n = 0;
	free(g->eras);
	g->eras = NULL;
	g->era0 = g->neras = g->eras_cap = 0;
}

static uint64_t
ttl_ticks(const struct grants *g)
{
	uint32_t unit = g->layout.unit_ms ? g->layout.unit_ms : 1;
	return (g->ttl_ms + unit - 1) / unit;
}

struct store_worker *
grants_find(const struct grants *g, uint32_t id)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->rows[i].id == id)
			return &g->rows[i];
	return NULL;
}

const struct store_worker *
grants_newest(const struct grants *g, uint64_t node_id)
{
	const struct store_worker *best = NULL;
	for (size_t i = 0; i < g->n; i++) {
		const struct store_worker *w = &g->rows[i];
		if (w->node_id == node_id && (best == NULL || w->expires_ms > best->expires_ms))
			best = w;
	}
	return best;
}

static bool
is_free(const struct grants *g, const struct store_worker *w, int64_t now_ms)
{
	return w->expires_ms + (int64_t) g->grace_ms <= now_ms;
}

uint64_t
grants_free_count(const struct grants *g, int64_t now_ms)
{
	uint64_t total = (uint64_t) flake_max_worker(&g->layout) + 1, held = 0;
	if (now_ms < g->open_ms)
		return 0; /* none is granted before the wait for claims ends */
	for (size_t i = 0; i < g->n; i++)
		held += !is_free(g, &g->rows[i], now_ms);
	return held < total ? total - held : 0;
}

/*
 * A node holds at most one worker id: one that has a grant row gets that id
 * back, and nothing while that row's lease is live or in its grace period
 * (its old process may still issue with it; issue 10 found one node
 * collecting 806 ids by asking again). A node without a row gets an id never
 * granted, else the one free the longest. A row that exists gives the floor:
 * the highest tick its holders reported plus one TTL, and at least the tick
 * at which its last lease ended.
 */
bool
grants_pick(const struct grants *g, uint64_t node_id, int64_t now_ms, struct store_worker *row,
    struct catalog_grant *out)
{
	uint64_t limit = UINT64_C(1) << g->layout.worker_bits;
	const struct store_worker *best = NULL, *own = NULL;
	bool fresh = false;
	uint32_t fresh_id = 0;

	memset(out, 0, sizeof(*out));
	/* A master that found no grant in its store hears the claims of live
	 * coordinators first: an id that looks free here may be in use. */
	if (now_ms < g->open_ms)
		return false;
	/* The node's own row, the newest if an older master left several. */
	for (size_t i = 0; i < g->n; i++) {
		const struct store_worker *w = &g->rows[i];
		if (w->id < limit && w->node_id == node_id &&
		    (own == NULL || w->expires_ms > own->expires_ms))
			own = w;
	}
	if (own != NULL && !is_free(g, own, now_ms))
		return false;
	best = own;
	for (size_t i = 0; i < g->n && own == NULL; i++) {
		const struct store_worker *w = &g->rows[i];
		if (w->id >= limit || !is_free(g, w, now_ms))
			continue;
		if (best == NULL || w->expires_ms < best->expires_ms)
			best = w;
	}
	if (own == NULL) {
		/* The smallest id never granted, if any. */
		for (uint64_t id = 0; id < limit && id <= g->n; id++) {
			if (grants_find(g, (uint32_t) id) == NULL) {
				fresh = true;
				fresh_id = (uint32_t) id;
				break;
			}
		}
	}
	if (fresh) {
		*row = (struct store_worker) {fresh_id, node_id, 0, 0};
	} else if (best != NULL) {
		*row = *best;
		const sr_flake_layout *l = &g->layout;
		uint64_t floor = row->last_tick + ttl_ticks(g);
		if (row->expires_ms > l->epoch_ms) {
			uint64_t end = (uint64_t) (row->expires_ms - l->epoch_ms) / l->unit_ms;
			if (end > floor)
				floor = end;
		}
		out->floor_tick = floor;
		row->node_id = node_id;
	} else {
		return false;
	}
	/* The node's own earlier grants bound it too: a node whose old id went
	 * to another node meanwhile, or one that collected several before
	 * this rule, gets another id, and its txids must still be above those
	 * of its previous run. A grant that may still be in use
	 * (its lease not ended) could have been issuing up to one TTL past its
	 * last report, and up to its end, which lies further out when the
	 * grant was made under a longer TTL before a restart; an ended one up
	 * to its end. */
	for (size_t i = 0; i < g->n; i++) {
		const struct store_worker *w = &g->rows[i];
		if (w->node_id != node_id || w->id == row->id)
			continue;
		uint64_t f = w->last_tick;
		if (w->expires_ms > now_ms)
			f += ttl_ticks(g);
		if (w->expires_ms > g->layout.epoch_ms) {
			uint64_t end =
			    (uint64_t) (w->expires_ms - g->layout.epoch_ms) / g->layout.unit_ms;
			if (end > f)
				f = end;
		}
		if (f > out->floor_tick)
			out->floor_tick = f;
	}
	row->expires_ms = now_ms + (int64_t) g->ttl_ms;
	out->has = 1;
	out->worker_id = row->id;
	return true;
}

int
grants_beat(const struct grants *g, uint64_t node_id, uint32_t worker_id, uint64_t tick,
    int64_t now_ms, struct store_worker *mem, struct store_worker *durable,
    struct catalog_grant *out)
{
	memset(out, 0, sizeof(*out));
	const struct store_worker *w = grants_find(g, worker_id);
	if (w == NULL || w->node_id != node_id)
		return GRANTS_BEAT_NONE;
	struct store_worker *row = mem;
	*row = *w;
	if (tick > row->last_tick)
		row->last_tick = tick;
	if (w->expires_ms >= now_ms) {
		/* Still ours and live: renew, never to an earlier end. A master
		 * restarted with a shorter TTL must not cut a grant short: its
		 * holder learns the new TTL only from this reply, and until then
		 * relies on the old end (see docs/snowflake.md, "Why two holders
		 * never overlap"). */
		int64_t end = now_ms + (int64_t) g->ttl_ms;
		if (end > row->expires_ms)
			row->expires_ms = end;
		out->has = 1;
		out->worker_id = row->id;
	}
	/*
	 * The stored row must never be behind what a holder may rely on or
	 * may have issued, or a master restarted from it could hand the id
	 * to another node too early or under too low a floor. While the
	 * renewed end and the reported tick stay within it, memory alone
	 * moves: the heartbeat needs no commit (and no fsync under the
	 * master's mutex, which made heartbeats of 1,000 coordinators wait:
	 * issue 10, docs/benchmarks.md). When one of them passes it, the row
	 * is stored GRANTS_AHEAD_TTLS TTLs ahead of memory; an ended lease's
	 * row is stored as it is, its holder renews nothing.
	 */
	const struct grants_stored *st = &g->stored[w - g->rows];
	if (row->expires_ms <= st->expires_ms && row->last_tick <= st->last_tick)
		return GRANTS_BEAT_KEEP;
	*durable = *row;
	if (out->has) {
		uint64_t ahead = (uint64_t) g->ttl_ms * GRANTS_AHEAD_TTLS;
		durable->expires_ms += (int64_t) ahead;
		durable->last_tick += ahead / (g->layout.unit_ms ? g->layout.unit_ms : 1);
	}
	return GRANTS_BEAT_COMMIT;
}

/*
 * A claim the store does not cover is adopted as a grant to the claimant
 * (docs/snowflake.md, "Claims"): an id the store never saw, the node's own
 * (its end and tick raised if the claim reaches further), or another
 * node's whose lease ended longer than the grace period ago (a store
 * rolled back to before the claimant got it). The claimant keeps the id,
 * renewed for one TTL as a heartbeat would, so a coordinator that lived
 * through the loss of the master's state issues on without a pause. An id
 * the store gives to a node whose lease may still be live is not taken
 * from it; the claim only makes that row reach at least as far as the
 * claimant's lease and tick, so that no third node gets the id while
 * either may issue, nor below either's ticks.
 */
int
grants_claim(const struct grants *g, uint64_t node_id, const struct grants_claim *c, int64_t now_ms,
    struct store_worker *row, struct catalog_grant *out, bool *known)
{
	memset(out, 0, sizeof(*out));
	*known = false;
	const struct store_worker *w = grants_find(g, c->worker_id);
	int64_t end = now_ms + c->left_ms;
	if (w != NULL && w->node_id != node_id && !is_free(g, w, now_ms)) {
		*row = *w;
		if (end > row->expires_ms)
			row->expires_ms = end;
		if (c->tick > row->last_tick)
			row->last_tick = c->tick;
		return GRANTS_CLAIM_YIELD;
	}
	if (w == NULL) {
		*row = (struct store_worker) {c->worker_id, node_id, now_ms, 0};
	} else {
		*row = *w;
		*known = w->node_id == node_id;
		/* Taken over from a holder whose lease is over: the claimant's
		 * txids lie above that holder's last report (the lost grant
		 * had that floor), which the history records as its start. */
		if (!*known)
			out->floor_tick = w->last_tick;
		row->node_id = node_id;
	}
	if (end > row->expires_ms)
		row->expires_ms = end;
	if (now_ms + (int64_t) g->ttl_ms > row->expires_ms)
		row->expires_ms = now_ms + (int64_t) g->ttl_ms;
	if (c->tick > row->last_tick)
		row->last_tick = c->tick;
	out->has = 1;
	out->worker_id = row->id;
	return GRANTS_CLAIM_OWN;
}

size_t
grants_others(const struct grants *g, uint64_t node_id, uint32_t worker_id, int64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++)
		n += g->rows[i].node_id == node_id && g->rows[i].id != worker_id &&
		    !is_free(g, &g->rows[i], now_ms);
	return n;
}

/*
 * Free at once, not after the grace: the grace is for a holder that may
 * still issue, and this node issues under the id it claimed. Anyone else
 * who might still issue under one of these ids (a node that yielded it a
 * moment ago) reported a tick at most as high as the row's, and issues at
 * most until its view ends, within a TTL: the next holder's floor, that
 * tick or the claim's plus one TTL, lies above all of it. A node cycling
 * claims through the ids thus holds one at a time, not all of them.
 */
void
grants_end_others(const struct grants *g, uint64_t node_id, uint32_t worker_id, uint64_t tick,
    int64_t now_ms, struct store_op *ops)
{
	for (size_t i = 0, j = 0; i < g->n; i++) {
		const struct store_worker *w = &g->rows[i];
		if (w->node_id != node_id || w->id == worker_id || is_free(g, w, now_ms))
			continue;
		ops[j].kind = STORE_PUT_WORKER;
		ops[j].u.worker = *w;
		ops[j].u.worker.expires_ms = now_ms - (int64_t) g->grace_ms;
		if (tick > w->last_tick)
			ops[j].u.worker.last_tick = tick;
		j++;
	}
}

void
grants_keep(struct grants *g, const struct store_worker *mem, const struct store_worker *durable)
{
	struct store_worker *w = grants_find(g, mem->id);
	if (w == NULL)
		return; /* grants_beat found it; rows are never removed */
	*w = *mem;
	if (durable != NULL)
		g->stored[w - g->rows] =
		    (struct grants_stored) {durable->expires_ms, durable->last_tick};
}

size_t
grants_live(const struct grants *g, uint64_t node_id, int64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++)
		n += g->rows[i].node_id == node_id && g->rows[i].expires_ms > now_ms;
	return n;
}

void
grants_end(const struct grants *g, uint64_t node_id, uint64_t tick, int64_t now_ms,
    struct store_op *ops)
{
	for (size_t i = 0, j = 0; i < g->n; i++) {
		const struct store_worker *w = &g->rows[i];
		if (w->node_id != node_id || w->expires_ms <= now_ms)
			continue;
		ops[j].kind = STORE_PUT_WORKER;
		ops[j].u.worker = *w;
		ops[j].u.worker.expires_ms = now_ms;
		if (tick > w->last_tick)
			ops[j].u.worker.last_tick = tick;
		j++;
	}
}

/*
 * Keeps a committed era in memory. The eras live in eras[era0 .. neras):
 * trimming moves era0 up, and the trimmed slots are reclaimed with one
 * memmove when the array is full, so a full history costs no copy of all
 * of it at every grant (an attacker joining new names makes a grant per
 * freed id). An era that cannot be kept takes the older eras of its
 * worker id with it: decode then says it does not know who held the id
 * before, where a gap would have named the holder before the missing one.
 */
static void
era_push(struct grants *g, const struct store_era *e)
{
	if (g->neras == g->eras_cap && g->era0 > 0) {
		memmove(g->eras, g->eras + g->era0, (g->neras - g->era0) * sizeof(*g->eras));
		g->neras -= g->era0;
		g->era0 = 0;
	}
	if (g->neras == g->eras_cap) {
		size_t cap = g->eras_cap ? g->eras_cap * 2 : 64;
		struct store_era *v = realloc(g->eras, cap * sizeof(*v));
		if (v == NULL) {
			size_t k = g->era0;
			for (size_t i = g->era0; i < g->neras; i++)
				if (g->eras[i].worker != e->worker)
					g->eras[k++] = g->eras[i];
			g->neras = k;
			return;
		}
		g->eras = v;
		g->eras_cap = cap;
	}
	g->eras[g->neras++] = *e;
}

/* Forgets the eras below seq cut, as a committed trim deleted them. */
static void
era_trim(struct grants *g, uint64_t cut)
{
	while (g->era0 < g->neras && g->eras[g->era0].seq < cut)
		g->era0++;
	if (g->era0 == g->neras)
		g->era0 = g->neras = 0;
	if (cut > g->first_era)
		g->first_era = cut;
}

int
grants_history_init(struct grants *g, uint32_t max, const struct store_era *eras, size_t n)
{
	g->eras_max = max;
	g->era0 = g->neras = 0;
	g->next_era = g->first_era = 1;
	if (n == 0)
		return SR_OK;
	/* The store holds eras[0].seq and up; the next era follows the
	 * newest. Only the newest max are kept in memory: a history larger
	 * than --worker-history (lowered since) is trimmed in the store at
	 * the next grant. */
	g->first_era = eras[0].seq;
	g->next_era = eras[n - 1].seq + 1;
	size_t keep = n < max ? n : max;
	if (keep == 0)
		return SR_OK;
	g->eras = malloc(keep * sizeof(*g->eras));
	if (g->eras == NULL)
		return SR_ENOMEM;
	memcpy(g->eras, eras + (n - keep), keep * sizeof(*g->eras));
	g->neras = g->eras_cap = keep;
	return SR_OK;
}

size_t
grants_history_ops(const struct grants *g, const struct store_worker *row,
    const struct catalog_grant *out, const char *name, int64_t now_ms, struct store_op *ops)
{
	const struct store_worker *w = grants_find(g, row->id);
	if (w != NULL && w->node_id == row->node_id)
		return 0; /* the same holder: no new era */
	size_t n = 0;
	uint64_t seq = g->next_era;
	/* Keep seq - max + 1 .. seq: at most max eras, this one included. */
	uint64_t cut = seq;
	if (g->eras_max > 0) {
		struct store_era *e = &ops[n].u.era;
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n++].kind = STORE_PUT_ERA;
		e->seq = seq;
		e->worker = row->id;
		e->node_id = row->node_id;
		e->floor_tick = out->floor_tick;
		e->granted_ms = now_ms;
		sr_strlcpy(e->name, name != NULL ? name : "", sizeof(e->name));
		cut = seq + 1 > g->eras_max ? seq + 1 - g->eras_max : 0;
	}
	if (cut > g->first_era) {
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].kind = STORE_TRIM_ERAS;
		ops[n++].u.era.seq = cut;
	}
	return n;
}

void
grants_history_apply(struct grants *g, const struct store_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind == STORE_PUT_ERA) {
			era_push(g, &ops[i].u.era);
			if (ops[i].u.era.seq >= g->next_era)
				g->next_era = ops[i].u.era.seq + 1;
		} else if (ops[i].kind == STORE_TRIM_ERAS) {
			era_trim(g, ops[i].u.era.seq);
		}
	}
}

bool
grants_holder_at(const struct grants *g, uint32_t worker, uint64_t tick, uint64_t *node_id,
    bool *certain, uint64_t *from, uint64_t *to, const char **name)
{
	bool any = false;
	uint64_t next = 0;
	for (size_t i = g->neras; i-- > g->era0;) {
		const struct store_era *e = &g->eras[i];
		if (e->worker != worker)
			continue;
		any = true;
		if (e->floor_tick < tick) {
			*node_id = e->node_id;
			*certain = true;
			*from = e->floor_tick;
			*to = next;
			*name = e->name;
			return true;
		}
		next = e->floor_tick;
	}
	const struct store_worker *w = grants_find(g, worker);
	if (any || w == NULL)
		return false;
	*node_id = w->node_id;
	*certain = false;
	*from = 0;
	*to = 0;
	*name = "";
	return true;
}

int
grants_apply(struct grants *g, const struct store_worker *row)
{
	struct store_worker *w = grants_find(g, row->id);
	if (w == NULL) {
		struct grants_stored *st = realloc(g->stored, (g->n + 1) * sizeof(*st));
		if (st == NULL)
			return SR_ENOMEM;
		g->stored = st;
		w = realloc(g->rows, (g->n + 1) * sizeof(*w));
		if (w == NULL)
			return SR_ENOMEM;
		g->rows = w;
		w = &g->rows[g->n++];
	}
	*w = *row;
	g->stored[w - g->rows] = (struct grants_stored) {row->expires_ms, row->last_tick};
	return SR_OK;
}
