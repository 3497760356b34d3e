/*
 * Master logic: the sequence catalog, the open ranges and the lease rules of
 * docs/design.md §3, node liveness and worker grants (§4). Every change that
 * must survive a crash goes through store_commit() first; memory changes
 * only after it succeeded, so a failed commit leaves the catalog exactly as
 * it was.
 */
#include "catalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flake.h"
#include "grants.h"
#include "snowrange/error.h"
#include "util.h"

#define MAX_CHUNK_LIMIT (1ull << 32)
#define MAX_N 65536u

/* What a node has drawn from one sequence, kept in memory only: after a
 * master restart every new range starts at the durable hwm anyway. */
struct seq_user {
	uint64_t node_id;
	uint64_t last_end; /* end of the newest range this node was given */
};

struct seq {
	struct store_seq row;
	/* The open range: (open_start, open_start + open_n*open_c]. */
	uint64_t open_start, open_c;
	uint32_t open_n, open_free;
	uint8_t *open_leased;  /* bitmap of open_n bits */
	int64_t last_range_ms; /* when the previous range was created */
	/* Group commit (catalog_lease_deferred): row.hwm may run ahead of what
	 * is on disk. durable_hwm is the highest hwm a commit stored; no chunk
	 * ending above it is returned. dirty: row.hwm awaits a flush; inflight:
	 * a flush holding this row is being committed; fails counts failed
	 * flushes of this row, fail_rv is the last one's error. */
	uint64_t durable_hwm;
	bool dirty, inflight;
	uint64_t fails;
	int fail_rv;
	struct seq_user *users;
	size_t nusers;
};

struct node {
	struct store_node row;
	/* The process that joined under this name (JoinRequest.instance), 0
	 * when unknown (after a master restart): kept in memory only. */
	uint64_t instance;
};

struct catalog {
	struct store *st;
	struct catalog_config cfg;
	uint64_t term;
	struct seq **seqs; /* sorted by name, tombstones included */
	size_t nseqs, capseqs;
	struct node *nodes; /* sorted by id */
	size_t nnodes;
	uint64_t next_node_id; /* never reused, also after a remove */
	struct grants grants;  /* Snowflake worker ids (grants.c) */
	char errmsg[256];
};

/* Records the catalog's last error and yields code (util.h's SR_ERRF). */
#define fail(cat, code, ...) SR_ERRF((cat)->errmsg, sizeof((cat)->errmsg), (code), __VA_ARGS__)

void
catalog_config_init(struct catalog_config *cfg)
{
	cfg->lease_ttl_ms = 10000;
	cfg->default_chunk = 1000;
	cfg->default_max_chunk = 1u << 26;
	cfg->target_range_ms = 10000;
	cfg->max_spare = 1024;
	cfg->worker_grace_ms = 2000;
	cfg->max_skew_ms = 2000;
	cfg->max_nodes = 4096;
	cfg->node_retention_ms = INT64_C(7) * 24 * 3600 * 1000;
	cfg->worker_history = GRANTS_HISTORY_DEFAULT;
	cfg->claim_wait_ms = CATALOG_CLAIM_WAIT_AUTO;
	cfg->layout = (sr_flake_layout) {
	    .time_bits = 41,
	    .worker_bits = 10,
	    .seq_bits = 12,
	    .unit_ms = 1,
	    .epoch_ms = INT64_C(1704067200000),
	};
}

const sr_flake_layout *
catalog_layout(const struct catalog *cat)
{
	return &cat->cfg.layout;
}

static bool
layout_equal(const sr_flake_layout *a, const sr_flake_layout *b)
{
	return a->time_bits == b->time_bits && a->worker_bits == b->worker_bits &&
	    a->seq_bits == b->seq_bits && a->unit_ms == b->unit_ms && a->epoch_ms == b->epoch_ms;
}

const char *
catalog_errmsg(const struct catalog *cat)
{
	return cat->errmsg;
}

uint64_t
catalog_term(const struct catalog *cat)
{
	return cat->term;
}

/* ---- lookups ---- */

static int
seq_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct seq *const *) elem)->row.name);
}

/* Index where name is or would be inserted. */
static size_t
seq_pos(const struct catalog *cat, const char *name)
{
	size_t lo = 0, hi = cat->nseqs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(cat->seqs[mid]->row.name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct seq *
seq_find(const struct catalog *cat, const char *name)
{
	if (cat->nseqs == 0)
		return NULL; /* bsearch must not see a NULL base */
	struct seq **p = bsearch(name, cat->seqs, cat->nseqs, sizeof(*p), seq_cmp);
	return p != NULL ? *p : NULL;
}

/* Index of the first node with an id >= id: nodes are kept sorted by id
 * (catalog_open sorts them, a new node gets the highest id), so heartbeats,
 * leases and pages find a node in O(log n) even with many thousands. */
static size_t
node_pos(const struct catalog *cat, uint64_t id)
{
	size_t lo = 0, hi = cat->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cat->nodes[mid].row.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct node *
node_find(const struct catalog *cat, uint64_t id)
{
	size_t i = node_pos(cat, id);
	return i < cat->nnodes && cat->nodes[i].row.id == id ? &cat->nodes[i] : NULL;
}

static int
node_id_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct node *) a)->row.id, y = ((const struct node *) b)->row.id;
	return (x > y) - (x < y);
}

static struct node *
node_find_name(const struct catalog *cat, const char *name)
{
	for (size_t i = 0; i < cat->nnodes; i++)
		if (strcmp(cat->nodes[i].row.name, name) == 0)
			return &cat->nodes[i];
	return NULL;
}

static int
node_alive(const struct catalog *cat, const struct node *n, int64_t now_ms)
{
	return !n->row.left && now_ms - n->row.last_seen_ms <= (int64_t) cat->cfg.lease_ttl_ms;
}

static void
seq_free(struct seq *s)
{
	if (s == NULL)
		return;
	free(s->open_leased);
	free(s->users);
	free(s);
}

/* Inserts s at its sorted place. */
static int
seq_insert(struct catalog *cat, struct seq *s)
{
	/* Grown by doubling: loading 48k sequences one realloc each took
	 * seconds under the sanitizers (issue 10). */
	struct seq **v = cat->seqs;
	if (cat->nseqs == cat->capseqs) {
		size_t cap = cat->capseqs ? cat->capseqs * 2 : 64;
		if ((v = realloc(cat->seqs, cap * sizeof(*v))) == NULL)
			return SR_ENOMEM;
		cat->seqs = v;
		cat->capseqs = cap;
	}
	size_t pos = seq_pos(cat, s->row.name);
	memmove(&v[pos + 1], &v[pos], (cat->nseqs - pos) * sizeof(*v));
	v[pos] = s;
	cat->nseqs++;
	return SR_OK;
}

/* ---- open/close ---- */

int
catalog_open(struct store *st, const struct catalog_config *cfg, int64_t now_ms,
    struct catalog **out, char *errbuf, size_t errlen)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	struct store_state state = {0};
	if (cat == NULL)
		return SR_ENOMEM;
	cat->st = st;
	cat->cfg = *cfg;
	/* The term and the state in one transaction, term first (store.h):
	 * whatever an older master still commits is then either loaded here or
	 * refused with SR_ESTALE, never lost to a stale hwm or worker table. */
	int rv = store_acquire_and_load(st, &state);
	if (rv == SR_OK)
		cat->term = state.term;
	if (rv != SR_OK) {
		(void) fail(cat, rv, "%s", store_errmsg(st));
		goto out;
	}
	for (size_t i = 0; i < state.nseqs && rv == SR_OK; i++) {
		struct seq *s = calloc(1, sizeof(*s));
		if (s == NULL) {
			rv = SR_ENOMEM;
			break;
		}
		/* No open range: leasing restarts at the durable hwm. */
		s->row = state.seqs[i];
		s->durable_hwm = s->row.hwm;
		if ((rv = seq_insert(cat, s)) != SR_OK)
			free(s);
	}
	if (rv == SR_OK && state.nnodes > 0) {
		cat->nodes = calloc(state.nnodes, sizeof(*cat->nodes));
		if (cat->nodes == NULL)
			rv = SR_ENOMEM;
	}
	for (size_t i = 0; i < state.nnodes && rv == SR_OK; i++) {
		cat->nodes[i].row = state.nodes[i];
		/* A stored node counts as live for one TTL after a restart: it may
		 * still be serving from chunks it holds. */
		if (!cat->nodes[i].row.left)
			cat->nodes[i].row.last_seen_ms = now_ms;
		cat->nnodes++;
	}
	if (rv == SR_OK && cat->nnodes > 1)
		qsort(cat->nodes, cat->nnodes, sizeof(*cat->nodes), node_id_cmp);
	/* A new node's id is above every stored node's and every worker row's
	 * holder, so a forgotten node's id is not given to another one. */
	cat->next_node_id = 1;
	if (cat->nnodes > 0)
		cat->next_node_id = cat->nodes[cat->nnodes - 1].row.id + 1;
	for (size_t i = 0; i < state.nworkers; i++)
		if (state.workers[i].node_id >= cat->next_node_id)
			cat->next_node_id = state.workers[i].node_id + 1;
	for (size_t i = 0; i < state.neras; i++)
		if (state.eras[i].node_id >= cat->next_node_id)
			cat->next_node_id = state.eras[i].node_id + 1;
	/* Every stored grant's holder may still be issuing: live for one TTL
	 * from now (grants_init). */
	if (rv == SR_OK)
		rv = grants_init(&cat->grants, cfg->lease_ttl_ms, cfg->worker_grace_ms,
		    &cfg->layout, state.workers, state.nworkers, now_ms);
	/* A store without a single grant is new, or lost its state (a wiped
	 * data dir, an empty etcd prefix, a wrong one): coordinators still
	 * live from before may hold worker ids it does not know. Their next
	 * heartbeat (every TTL/3) claims them; no new id is granted before
	 * that (docs/snowflake.md, "Claims"). */
	if (rv == SR_OK && state.nworkers == 0) {
		int64_t wait = cfg->claim_wait_ms;
		if (wait == CATALOG_CLAIM_WAIT_AUTO)
			wait = cfg->lease_ttl_ms / 3 + (int64_t) cfg->worker_grace_ms;
		if (wait > 0)
			grants_hold(&cat->grants, now_ms + wait);
	}
	/* The worker history, for decode: who held a worker id when. */
	if (rv == SR_OK)
		rv =
		    grants_history_init(&cat->grants, cfg->worker_history, state.eras, state.neras);
	if (rv == SR_OK && store_layout_set(&state.layout) &&
	    !layout_equal(&state.layout, &cfg->layout)) {
		rv = fail(cat, SR_EINVAL,
		    "the store was created with Snowflake layout %u/%u/%u/%ums/epoch %lld; "
		    "refusing %u/%u/%u/%ums/epoch %lld (txids could repeat)",
		    state.layout.time_bits, state.layout.worker_bits, state.layout.seq_bits,
		    state.layout.unit_ms, (long long) state.layout.epoch_ms, cfg->layout.time_bits,
		    cfg->layout.worker_bits, cfg->layout.seq_bits, cfg->layout.unit_ms,
		    (long long) cfg->layout.epoch_ms);
	} else if (rv == SR_OK && !store_layout_set(&state.layout)) {
		struct store_op op = {.kind = STORE_PUT_LAYOUT};
		op.u.layout = cfg->layout;
		if ((rv = store_commit(st, cat->term, &op, 1)) != SR_OK)
			(void) fail(cat, rv, "cannot store the layout: %s", store_errmsg(st));
	}
out:
	store_state_free(&state);
	if (rv != SR_OK) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s",
			    cat->errmsg[0] ? cat->errmsg : sr_strerror(rv));
		catalog_close(cat);
		return rv;
	}
	*out = cat;
	return SR_OK;
}

void
catalog_close(struct catalog *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->nseqs; i++)
		seq_free(cat->seqs[i]);
	free(cat->seqs);
	free(cat->nodes);
	grants_free(&cat->grants);
	free(cat);
}

/* A sequence row reached the disk: no chunk below its hwm waits any more. */
static void
seq_stored(struct catalog *cat, const struct store_seq *row)
{
	struct seq *s = seq_find(cat, row->name);
	if (s != NULL && row->hwm > s->durable_hwm)
		s->durable_hwm = row->hwm;
}

/* Commits one row; on failure records the store's message. */
/* Commits one row; on failure records the store's message. */
static int
commit_one(struct catalog *cat, const struct store_op *op)
{
	int rv = store_commit(cat->st, cat->term, op, 1);
	if (rv != SR_OK)
		(void) fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	else if (op->kind == STORE_PUT_SEQ)
		seq_stored(cat, &op->u.seq);
	return rv;
}

/* ---- sequences ---- */

/* Which node ids are live now, as a bitmap indexed by node id, for counting
 * the live users of many sequences at once: one pass over the nodes, then
 * one bit test per user, where a lookup per user cost O(log nodes) (a page of
 * 100 sequences with 1,000 users each held the master's mutex for ms:
 * issue 10, docs/benchmarks.md). NULL when out of memory. */
static uint8_t *
live_bitmap(const struct catalog *cat, int64_t now_ms)
{
	uint8_t *live = calloc(cat->next_node_id / 8 + 1, 1);
	if (live == NULL)
		return NULL;
	for (size_t i = 0; i < cat->nnodes; i++) {
		uint64_t id = cat->nodes[i].row.id;
		if (id < cat->next_node_id && node_alive(cat, &cat->nodes[i], now_ms))
			live[id / 8] |= (uint8_t) (1u << (id % 8));
	}
	return live;
}

/* The live nodes drawing from s; live, when not NULL, is live_bitmap's. */
static uint32_t
seq_live_users_in(const struct catalog *cat, const struct seq *s, int64_t now_ms,
    const uint8_t *live)
{
	uint32_t n = 0;
	for (size_t i = 0; i < s->nusers; i++) {
		uint64_t id = s->users[i].node_id;
		if (live != NULL) {
			n += id < cat->next_node_id && (live[id / 8] & (1u << (id % 8))) != 0;
			continue;
		}
		const struct node *nd = node_find(cat, id);
		if (nd != NULL && node_alive(cat, nd, now_ms))
			n++;
	}
	return n;
}

static uint32_t
seq_live_users(const struct catalog *cat, const struct seq *s, int64_t now_ms)
{
	return seq_live_users_in(cat, s, now_ms, NULL);
}

static void
seq_info_in(const struct catalog *cat, const struct seq *s, int64_t now_ms, const uint8_t *live,
    struct catalog_seq_info *out)
{
	out->row = s->row;
	/* What is on disk: a range reserved for a flush under way is not yet
	 * the sequence's (docs/decisions.md, group commit). */
	out->row.hwm = s->durable_hwm;
	out->users = seq_live_users_in(cat, s, now_ms, live);
	out->open_n = s->open_n;
	out->open_free = s->open_free;
}

static void
seq_info(const struct catalog *cat, const struct seq *s, int64_t now_ms,
    struct catalog_seq_info *out)
{
	seq_info_in(cat, s, now_ms, NULL, out);
}

int
catalog_seq_create(struct catalog *cat, const struct catalog_seq_spec *spec, int64_t now_ms,
    struct catalog_seq_info *out)
{
	struct store_op op = {.kind = STORE_PUT_SEQ};
	struct store_seq *r = &op.u.seq;

	if (!sr_name_valid(spec->name))
		return fail(cat, SR_EINVAL,
		    "invalid sequence name '%.64s': use 1-64 of [a-z0-9_.-]",
		    spec->name ? spec->name : "");
	struct seq *old = seq_find(cat, spec->name);
	if (old != NULL && !old->row.dropped)
		return fail(cat, SR_EEXISTS, "sequence %s already exists", spec->name);

	sr_strlcpy(r->name, spec->name, sizeof(r->name));
	r->max_value = spec->max_value ? spec->max_value : RANGE_ID_MAX;
	r->start = spec->start ? spec->start : 1;
	r->chunk = spec->chunk ? spec->chunk : cat->cfg.default_chunk;
	r->min_chunk = spec->min_chunk ? spec->min_chunk : r->chunk;
	r->max_chunk = spec->max_chunk
	    ? spec->max_chunk
	    : (r->chunk > cat->cfg.default_max_chunk ? r->chunk : cat->cfg.default_max_chunk);
	/* Without prefetch a coordinator holds only what a caller asked for;
	 * a chunk grown by the dynamic sizing would be held ahead all the
	 * same, so the size stays fixed unless the bounds are given. */
	r->prefetch = !spec->no_prefetch;
	if (spec->no_prefetch && spec->max_chunk == 0 && r->max_chunk > r->chunk)
		r->max_chunk = r->chunk;
	r->spare = spec->spare;
	r->mode = spec->mode;
	if (r->max_value > RANGE_ID_MAX)
		return fail(cat, SR_EINVAL, "max value %llu is above 2^63-1",
		    (unsigned long long) r->max_value);
	if (r->start > r->max_value)
		return fail(cat, SR_EINVAL, "start %llu is above max value %llu",
		    (unsigned long long) r->start, (unsigned long long) r->max_value);
	if (r->max_chunk > MAX_CHUNK_LIMIT)
		return fail(cat, SR_EINVAL, "chunk sizes are limited to %llu",
		    (unsigned long long) MAX_CHUNK_LIMIT);
	if (r->min_chunk > r->chunk || r->chunk > r->max_chunk)
		return fail(cat, SR_EINVAL,
		    "chunk sizes must satisfy 1 <= min_chunk (%llu) <= chunk (%llu) <= max_chunk (%llu)",
		    (unsigned long long) r->min_chunk, (unsigned long long) r->chunk,
		    (unsigned long long) r->max_chunk);
	if (r->spare > cat->cfg.max_spare)
		return fail(cat, SR_EINVAL, "spare chunks %u above the limit %u", r->spare,
		    cat->cfg.max_spare);
	if (r->mode != STORE_MODE_INTERLEAVED && r->mode != STORE_MODE_BLOCK)
		return fail(cat, SR_EINVAL, "unknown mode %u", r->mode);
	r->hwm = r->start - 1;
	/* A dropped name's IDs are never issued again: the start is raised
	 * above them, so it stays what it says, the first ID this sequence
	 * issues. That also makes the start tell incarnations of a name apart
	 * (coordinators compare it, docs/decisions.md). */
	if (old != NULL && old->row.hwm > r->hwm) {
		r->hwm = old->row.hwm;
		r->start = r->hwm + 1;
	}
	if (r->hwm >= r->max_value)
		return fail(cat, SR_EINVAL,
		    "sequence %s would start above its max value (earlier IDs up to %llu were issued)",
		    r->name, (unsigned long long) r->hwm);

	struct seq *s = old;
	if (s == NULL && (s = calloc(1, sizeof(*s))) == NULL)
		return fail(cat, SR_ENOMEM, "out of memory");
	int rv = commit_one(cat, &op);
	if (rv != SR_OK) {
		if (s != old)
			free(s);
		return rv;
	}
	s->row = *r;
	if (s->durable_hwm < r->hwm)
		s->durable_hwm = r->hwm;
	if (s != old && seq_insert(cat, s) != SR_OK) {
		/* Durable but not in memory: the next restart will load it. */
		free(s);
		return fail(cat, SR_ENOMEM, "out of memory");
	}
	if (out != NULL)
		seq_info(cat, s, now_ms, out);
	return SR_OK;
}

static void
seq_close_range(struct seq *s)
{
	free(s->open_leased);
	s->open_leased = NULL;
	s->open_n = s->open_free = 0;
	s->open_start = s->open_c = 0;
}

int
catalog_seq_drop(struct catalog *cat, const char *name)
{
	struct seq *s = name ? seq_find(cat, name) : NULL;
	if (s == NULL || s->row.dropped)
		return fail(cat, SR_ENOTFOUND, "no sequence named '%.64s'", name ? name : "");
	struct store_op op = {.kind = STORE_PUT_SEQ};
	op.u.seq = s->row;
	op.u.seq.dropped = 1;
	int rv = commit_one(cat, &op);
	if (rv != SR_OK)
		return rv;
	s->row.dropped = 1;
	seq_close_range(s);
	free(s->users);
	s->users = NULL;
	s->nusers = 0;
	return SR_OK;
}

int
catalog_seq_get(const struct catalog *cat, const char *name, struct store_seq *out)
{
	const struct seq *s = name ? seq_find(cat, name) : NULL;
	if (s == NULL || s->row.dropped)
		return SR_ENOTFOUND;
	*out = s->row;
	out->hwm = s->durable_hwm;
	return SR_OK;
}

size_t
catalog_seq_count(const struct catalog *cat)
{
	size_t n = 0;
	for (size_t i = 0; i < cat->nseqs; i++)
		n += !cat->seqs[i]->row.dropped;
	return n;
}

int
catalog_seq_at(const struct catalog *cat, size_t i, int64_t now_ms, struct catalog_seq_info *out)
{
	for (size_t j = 0; j < cat->nseqs; j++) {
		if (cat->seqs[j]->row.dropped)
			continue;
		if (i-- == 0) {
			seq_info(cat, cat->seqs[j], now_ms, out);
			return SR_OK;
		}
	}
	return SR_ENOTFOUND;
}

/*
 * The sorted array is walked directly from the cursor's place (a binary
 * search), so one page costs O(log n + page) under the master mutex: going
 * through catalog_seq_at item by item rescanned from the start each time and
 * held the mutex for over a second at 48k sequences, stalling heartbeats
 * (issue 10). Tombstones are skipped.
 */
int
catalog_seq_page(const struct catalog *cat, const char *after, size_t max, int64_t now_ms,
    struct catalog_seq_info *out, size_t *n)
{
	size_t i = 0;
	*n = 0;
	if (after != NULL && after[0] != '\0') {
		i = seq_pos(cat, after);
		if (i < cat->nseqs && strcmp(cat->seqs[i]->row.name, after) == 0)
			i++;
	}
	uint8_t *live = live_bitmap(cat, now_ms); /* NULL: looked up one by one */
	int more = 0;
	for (; i < cat->nseqs; i++) {
		if (cat->seqs[i]->row.dropped)
			continue;
		if (*n == max) {
			more = 1;
			break;
		}
		seq_info_in(cat, cat->seqs[i], now_ms, live, &out[(*n)++]);
	}
	free(live);
	return more;
}

/* ---- nodes ---- */

/* ---- worker ids (grants.c decides) ---- */

/* Applies a committed worker row to memory. */
static int
worker_apply(struct catalog *cat, const struct store_worker *row)
{
	if (grants_apply(&cat->grants, row) != SR_OK)
		return fail(cat, SR_ENOMEM, "out of memory");
	return SR_OK;
}

/* ---- nodes ---- */

/*
 * A reported tick is stored as the worker row's last_tick, and the next
 * holder of that worker id issues only above it plus one TTL: a tick from
 * the far future would stop that worker id for good (a tick of 2^63-1 did,
 * across restarts). A node issues no tick above its own clock, so an honest
 * report is at most our clock plus the skew between the two; anything further
 * ahead is refused before anything is changed (docs/decisions.md). Tick 0
 * means "none issued".
 */
static int
tick_check(struct catalog *cat, uint64_t id, uint64_t tick, int64_t now_ms)
{
	const sr_flake_layout *l = &cat->cfg.layout;
	int64_t limit_ms = now_ms + (int64_t) cat->cfg.max_skew_ms;
	if (tick == 0 ||
	    (limit_ms >= l->epoch_ms && tick <= (uint64_t) (limit_ms - l->epoch_ms) / l->unit_ms))
		return SR_OK;
	int64_t now_tick = now_ms >= l->epoch_ms ? (now_ms - l->epoch_ms) / l->unit_ms : -1;
	return fail(cat, SR_EINVAL,
	    "node %llu reported tick %llu, more than the tolerated clock skew of %u ms "
	    "ahead of the master's tick %lld: refused (check the node's clock)",
	    (unsigned long long) id, (unsigned long long) tick, cat->cfg.max_skew_ms,
	    (long long) now_tick);
}

/*
 * A claim comes from a peer like a heartbeat's tick, and is checked like
 * it before anything changes: a worker id the layout cannot hold is
 * refused, as is a tick too far ahead (tick_check). Its time left is
 * clamped: below 0 it has ended (0), and no lease this master grants
 * lasts longer than its TTL, so a claim reserves an id at most that long
 * past its last report (docs/snowflake.md, "Claims").
 */
static int
claim_check(struct catalog *cat, const char *who, struct catalog_claim *c, int64_t now_ms,
    struct grants_claim *out)
{
	c->outcome = CATALOG_CLAIM_NONE;
	c->holder = 0;
	uint32_t max = flake_max_worker(&cat->cfg.layout);
	if (c->worker_id > max)
		return fail(cat, SR_EINVAL,
		    "node %s claims worker id %u, outside the layout's 0..%u: refused", who,
		    c->worker_id, max);
	int rv = tick_check(cat, 0, c->tick, now_ms);
	if (rv != SR_OK)
		return fail(cat, rv,
		    "node %s claims worker id %u at tick %llu, more than the tolerated clock "
		    "skew of %u ms ahead of the master's clock: refused (check the node's clock)",
		    who, c->worker_id, (unsigned long long) c->tick, cat->cfg.max_skew_ms);
	int64_t left = c->remaining_ms;
	if (left < 0)
		left = 0;
	if (left > (int64_t) cat->cfg.lease_ttl_ms)
		left = cat->cfg.lease_ttl_ms;
	*out = (struct grants_claim) {c->worker_id, c->tick, left};
	return SR_OK;
}

/* What grants_claim said, for the caller's log. */
static void
claim_outcome(struct catalog_claim *c, int kind, bool known, const struct store_worker *row)
{
	if (kind == GRANTS_CLAIM_YIELD) {
		c->outcome = CATALOG_CLAIM_YIELDED;
		c->holder = row->node_id;
	} else {
		c->outcome = known ? CATALOG_CLAIM_NONE : CATALOG_CLAIM_ADOPTED;
	}
}

/*
 * A claim that gives node id a worker id it did not hold ends the node's
 * other grants (grants_end_others: one id per node, also for a node that
 * claims ids in turn). In a commit of its own, before the claim's: on its
 * own it only frees ids the node no longer issues under, with floors above
 * the claim's tick.
 */
static int
claim_moves(struct catalog *cat, uint64_t id, const struct grants_claim *gc, int64_t now_ms)
{
	size_t n = grants_others(&cat->grants, id, gc->worker_id, now_ms);
	if (n == 0)
		return SR_OK;
	struct store_op *ops = calloc(n, sizeof(*ops));
	if (ops == NULL)
		return fail(cat, SR_ENOMEM, "out of memory");
	grants_end_others(&cat->grants, id, gc->worker_id, gc->tick, now_ms, ops);
	int rv = store_commit(cat->st, cat->term, ops, n);
	if (rv != SR_OK)
		(void) fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	for (size_t i = 0; i < n && rv == SR_OK; i++)
		rv = worker_apply(cat, &ops[i].u.worker);
	free(ops);
	return rv;
}

int64_t
catalog_worker_wait(const struct catalog *cat, int64_t now_ms)
{
	return grants_wait_left(&cat->grants, now_ms);
}

int
catalog_node_join(struct catalog *cat, const char *name, const char *url, int64_t now_ms,
    uint64_t *id, struct catalog_grant *grant)
{
	return catalog_node_join_as(cat, name, url, 0, now_ms, id, grant);
}

int
catalog_node_name(const struct catalog *cat, uint64_t id, const char **name)
{
	const struct node *n = node_find(cat, id);
	if (n == NULL)
		return SR_ENOTJOINED;
	*name = n->row.name;
	return SR_OK;
}

int
catalog_node_join_as(struct catalog *cat, const char *name, const char *url, uint64_t instance,
    int64_t now_ms, uint64_t *id, struct catalog_grant *grant)
{
	return catalog_node_join_claim(cat, name, url, instance, NULL, now_ms, id, grant);
}

int
catalog_node_join_claim(struct catalog *cat, const char *name, const char *url, uint64_t instance,
    struct catalog_claim *claim, int64_t now_ms, uint64_t *id, struct catalog_grant *grant)
{
	if (!sr_name_valid(name))
		return fail(cat, SR_EINVAL, "invalid node name '%.64s': use 1-64 of [a-z0-9_.-]",
		    name ? name : "");
	if (url == NULL)
		url = "";
	if (strlen(url) > STORE_URL_MAX)
		return fail(cat, SR_EINVAL, "listen url longer than %d bytes", STORE_URL_MAX);
	struct grants_claim gc;
	if (claim != NULL && claim_check(cat, name, claim, now_ms, &gc) != SR_OK)
		return SR_EINVAL;
	struct node *n = node_find_name(cat, name);
	/* A second process under a live node's name would share its chunks'
	 * bookkeeping and its worker id: refused until the holder leaves or
	 * its lease runs out. The holder itself (same instance) may re-join,
	 * e.g. when a Join's reply was lost and it asks again. */
	if (n != NULL && n->instance != 0 && n->instance != instance && node_alive(cat, n, now_ms))
		return fail(cat, SR_EEXISTS,
		    "node name %s is held by a live process (last heard %lld ms ago); "
		    "it frees when that process leaves or %lld ms after it was last "
		    "heard",
		    name, (long long) (now_ms - n->row.last_seen_ms),
		    (long long) cat->cfg.lease_ttl_ms);
	if (n == NULL && cat->cfg.max_nodes > 0) {
		/* Every live node costs memory, status space and possibly a
		 * worker id: a new name beyond the cap is refused. Who may join
		 * at all is the credentials' business (docs/decisions.md). */
		size_t live = 0;
		for (size_t i = 0; i < cat->nnodes; i++)
			live += node_alive(cat, &cat->nodes[i], now_ms) != 0;
		if (live >= cat->cfg.max_nodes)
			return fail(cat, SR_EUNAVAILABLE,
			    "node %s refused: %zu nodes are live, the limit is %u (--max-nodes)",
			    name, live, cat->cfg.max_nodes);
	}
	/* The node, its claim, its grant and the grant's history, in one
	 * commit. */
	struct store_op ops[3 + GRANTS_HISTORY_OPS] = {{.kind = STORE_PUT_NODE},
	    {.kind = STORE_PUT_WORKER}, {.kind = STORE_PUT_WORKER}};
	struct store_node *row = &ops[0].u.node;
	if (n != NULL) {
		*row = n->row;
	} else {
		/* Above every id given so far: keeps the array sorted by id. */
		row->id = cat->next_node_id;
		sr_strlcpy(row->name, name, sizeof(row->name));
		struct node *v = realloc(cat->nodes, (cat->nnodes + 1) * sizeof(*v));
		if (v == NULL)
			return fail(cat, SR_ENOMEM, "out of memory");
		cat->nodes = v;
	}
	sr_strlcpy(row->url, url, sizeof(row->url));
	row->last_seen_ms = now_ms;
	row->left = 0;
	/* A claim first: a node that holds a worker id keeps it (its grant
	 * renewed) unless another node's live grant has it, and a new id is
	 * chosen only without one. */
	struct catalog_grant g = {0};
	size_t nw = 0, nhist = 0;
	bool known = false;
	int kind = claim != NULL
	    ? grants_claim(&cat->grants, row->id, &gc, now_ms, &ops[1].u.worker, &g, &known)
	    : 0;
	if (kind != 0)
		nw++;
	if (kind == GRANTS_CLAIM_OWN && !known) {
		int rv = claim_moves(cat, row->id, &gc, now_ms);
		if (rv != SR_OK)
			return rv;
		nhist = grants_history_ops(&cat->grants, &ops[1].u.worker, &g, row->name, now_ms,
		    ops + 3);
	}
	if (!g.has && grants_pick(&cat->grants, row->id, now_ms, &ops[1 + nw].u.worker, &g)) {
		nw++;
		nhist = grants_history_ops(&cat->grants, &ops[nw].u.worker, &g, row->name, now_ms,
		    ops + 3);
	}
	/* The ops end to end: node, worker rows, history. */
	if (nw < 2)
		memmove(&ops[1 + nw], &ops[3], nhist * sizeof(*ops));
	int rv = store_commit(cat->st, cat->term, ops, 1 + nw + nhist);
	if (rv != SR_OK)
		return fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	grants_history_apply(&cat->grants, ops + 1 + nw, nhist);
	for (size_t i = 1; i <= nw; i++)
		if ((rv = worker_apply(cat, &ops[i].u.worker)) != SR_OK)
			return rv;
	if (claim != NULL)
		claim_outcome(claim, kind, known, &ops[1].u.worker);
	if (n == NULL) {
		n = &cat->nodes[cat->nnodes++];
		cat->next_node_id = row->id + 1;
	}
	n->row = *row;
	n->instance = instance;
	*id = n->row.id;
	*grant = g;
	return SR_OK;
}

int
catalog_node_instance(struct catalog *cat, uint64_t id, uint64_t instance)
{
	struct node *n = node_find(cat, id);
	if (n == NULL || instance == 0)
		return SR_OK; /* the heartbeat or leave says what is wrong */
	if (n->instance == 0)
		n->instance = instance;
	else if (n->instance != instance)
		return fail(cat, SR_ENOTJOINED,
		    "node id %llu is now %s, joined by another "
		    "process: join again",
		    (unsigned long long) id, n->row.name);
	return SR_OK;
}

int
catalog_node_heartbeat(struct catalog *cat, uint64_t id, int64_t now_ms, int holds,
    uint32_t worker_id, uint64_t tick, struct catalog_grant *grant)
{
	return catalog_node_heartbeat_claim(cat, id, now_ms, holds, worker_id, tick, NULL, grant);
}

int
catalog_node_heartbeat_claim(struct catalog *cat, uint64_t id, int64_t now_ms, int holds,
    uint32_t worker_id, uint64_t tick, struct catalog_claim *claim, struct catalog_grant *grant)
{
	struct node *n = node_find(cat, id);
	if (n == NULL || n->row.left)
		return fail(cat, SR_ENOTJOINED, "node %llu is not joined; join again",
		    (unsigned long long) id);
	int rv = tick_check(cat, id, tick, now_ms);
	if (rv != SR_OK)
		return rv;
	struct grants_claim gc;
	if (claim != NULL && claim_check(cat, n->row.name, claim, now_ms, &gc) != SR_OK)
		return SR_EINVAL;
	if (claim != NULL && holds && worker_id != claim->worker_id)
		return fail(cat, SR_EINVAL, "node %s holds worker id %u but claims %u: refused",
		    n->row.name, worker_id, claim->worker_id);
	/* Liveness is kept in memory: after a restart every stored node counts
	 * as live for one TTL anyway, so persisting each beat buys nothing. */
	n->row.last_seen_ms = now_ms;
	memset(grant, 0, sizeof(*grant));

	/* The grant it holds: the tick raised in, renewed while live; when
	 * it has none live, a new one if an id can be given. */
	/* The renewal, a new grant and the new grant's history (which must
	 * be stored with it), in one commit. */
	struct store_op ops[2 + GRANTS_HISTORY_OPS] = {{.kind = STORE_PUT_WORKER},
	    {.kind = STORE_PUT_WORKER}};
	struct store_worker mem;
	size_t nops = 0, nhist = 0;
	bool picked = false;
	/* A live renewal is committed only when the stored row no longer
	 * covers it (grants.h): most heartbeats change memory alone. */
	int beat = holds
	    ? grants_beat(&cat->grants, id, worker_id, tick, now_ms, &mem, &ops[0].u.worker, grant)
	    : GRANTS_BEAT_NONE;
	if (beat == GRANTS_BEAT_COMMIT)
		nops++;
	/* A claim on an id the store does not give this node (grants_beat
	 * found none): adopted, or it yields to the live holder and this node
	 * gets another id if one is free. */
	bool known = false;
	int kind = 0;
	if (claim != NULL && beat == GRANTS_BEAT_NONE) {
		kind = grants_claim(&cat->grants, id, &gc, now_ms, &ops[0].u.worker, grant, &known);
		nops++;
		if (kind == GRANTS_CLAIM_OWN && !known) {
			if ((rv = claim_moves(cat, id, &gc, now_ms)) != SR_OK) {
				memset(grant, 0, sizeof(*grant));
				return rv;
			}
			nhist = grants_history_ops(&cat->grants, &ops[0].u.worker, grant,
			    n->row.name, now_ms, ops + 1); /* no pick follows: it has one */
		}
	}
	if (!grant->has && grants_pick(&cat->grants, id, now_ms, &ops[nops].u.worker, grant)) {
		picked = true;
		nops++;
		nhist = grants_history_ops(&cat->grants, &ops[nops - 1].u.worker, grant,
		    n->row.name, now_ms, ops + nops);
	}
	if (nops > 0 && (rv = store_commit(cat->st, cat->term, ops, nops + nhist)) != SR_OK) {
		memset(grant, 0, sizeof(*grant));
		return fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	}
	if (beat != GRANTS_BEAT_NONE)
		grants_keep(&cat->grants, &mem,
		    beat == GRANTS_BEAT_COMMIT ? &ops[0].u.worker : NULL);
	grants_history_apply(&cat->grants, ops + nops, nhist);
	if (kind != 0 && (rv = worker_apply(cat, &ops[0].u.worker)) != SR_OK)
		return rv;
	if (picked && (rv = worker_apply(cat, &ops[nops - 1].u.worker)) != SR_OK)
		return rv;
	if (claim != NULL)
		claim_outcome(claim, kind, kind == 0 || known, &ops[0].u.worker);
	return SR_OK;
}

int
catalog_node_leave(struct catalog *cat, uint64_t id, uint64_t tick, int64_t now_ms)
{
	struct node *n = node_find(cat, id);
	if (n == NULL || n->row.left)
		return fail(cat, SR_ENOTJOINED, "node %llu is not joined", (unsigned long long) id);
	int rv = tick_check(cat, id, tick, now_ms);
	if (rv != SR_OK)
		return rv;
	/* The node's row marked left, and its live grants ended now. */
	size_t nops = 1 + grants_live(&cat->grants, id, now_ms);
	struct store_op *ops = calloc(nops, sizeof(*ops));
	if (ops == NULL)
		return fail(cat, SR_ENOMEM, "out of memory");
	ops[0].kind = STORE_PUT_NODE;
	ops[0].u.node = n->row;
	ops[0].u.node.left = 1;
	grants_end(&cat->grants, id, tick, now_ms, ops + 1);
	rv = store_commit(cat->st, cat->term, ops, nops);
	if (rv == SR_OK) {
		n->row.left = 1;
		for (size_t j = 1; j < nops && rv == SR_OK; j++)
			rv = worker_apply(cat, &ops[j].u.worker);
	} else {
		(void) fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	}
	free(ops);
	return rv;
}

int
catalog_node_id(const struct catalog *cat, const char *name, uint64_t *id)
{
	const struct node *n = name != NULL ? node_find_name(cat, name) : NULL;
	if (n == NULL)
		return SR_ENOTJOINED;
	*id = n->row.id;
	return SR_OK;
}

/* Drops the nodes flagged in gone (an array parallel to cat->nodes). */
static void
nodes_compact(struct catalog *cat, const bool *gone)
{
	size_t w = 0;
	for (size_t i = 0; i < cat->nnodes; i++)
		if (!gone[i])
			cat->nodes[w++] = cat->nodes[i];
	cat->nnodes = w;
}

int
catalog_node_remove(struct catalog *cat, uint64_t id, int64_t now_ms)
{
	struct node *n = node_find(cat, id);
	if (n == NULL)
		return fail(cat, SR_ENOTJOINED, "no node with id %llu", (unsigned long long) id);
	if (node_alive(cat, n, now_ms))
		return fail(cat, SR_EEXISTS,
		    "node %s (id %llu) is live (heard %lld ms ago): stop it (leave) or "
		    "wait until it is dead (%u ms silent) before removing it",
		    n->row.name, (unsigned long long) id,
		    (long long) (now_ms - n->row.last_seen_ms), cat->cfg.lease_ttl_ms);
	/* Only the node's row: its worker rows keep the ticks the next holder
	 * of each worker id must stay above. */
	struct store_op op = {.kind = STORE_DEL_NODE};
	op.u.node = n->row;
	int rv = commit_one(cat, &op);
	if (rv != SR_OK)
		return rv;
	size_t i = (size_t) (n - cat->nodes);
	memmove(&cat->nodes[i], &cat->nodes[i + 1], (cat->nnodes - i - 1) * sizeof(*cat->nodes));
	cat->nnodes--;
	return SR_OK;
}

int
catalog_node_expire(struct catalog *cat, int64_t now_ms, size_t *count)
{
	*count = 0;
	int64_t keep = cat->cfg.node_retention_ms;
	if (keep <= 0 || cat->nnodes == 0)
		return SR_OK;
	/* Dead for longer than the retention: last heard that long plus one TTL
	 * ago (a left node was last heard when it left). */
	size_t k = 0;
	for (size_t i = 0; i < cat->nnodes; i++)
		k += !node_alive(cat, &cat->nodes[i], now_ms) &&
		    now_ms - cat->nodes[i].row.last_seen_ms >
		        keep + (int64_t) cat->cfg.lease_ttl_ms;
	if (k == 0)
		return SR_OK;
	struct store_op *ops = calloc(k, sizeof(*ops));
	bool *gone = calloc(cat->nnodes, sizeof(*gone));
	if (ops == NULL || gone == NULL) {
		free(ops);
		free(gone);
		return fail(cat, SR_ENOMEM, "out of memory");
	}
	k = 0;
	for (size_t i = 0; i < cat->nnodes; i++)
		if (!node_alive(cat, &cat->nodes[i], now_ms) &&
		    now_ms - cat->nodes[i].row.last_seen_ms >
		        keep + (int64_t) cat->cfg.lease_ttl_ms) {
			gone[i] = true;
			ops[k].kind = STORE_DEL_NODE;
			ops[k++].u.node = cat->nodes[i].row;
		}
	int rv = store_commit(cat->st, cat->term, ops, k);
	if (rv == SR_OK) {
		nodes_compact(cat, gone);
		*count = k;
	} else {
		(void) fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	}
	free(ops);
	free(gone);
	return rv;
}

size_t
catalog_node_count(const struct catalog *cat)
{
	return cat->nnodes;
}

size_t
catalog_nodes_live(const struct catalog *cat, int64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < cat->nnodes; i++)
		n += node_alive(cat, &cat->nodes[i], now_ms);
	return n;
}

void
catalog_worker_ids(const struct catalog *cat, int64_t now_ms, uint64_t *free_ids, uint64_t *total)
{
	*free_ids = grants_free_count(&cat->grants, now_ms);
	*total = (uint64_t) flake_max_worker(&cat->cfg.layout) + 1;
}

int
catalog_node_at(const struct catalog *cat, size_t i, int64_t now_ms, struct catalog_node_info *out)
{
	if (i >= cat->nnodes)
		return SR_ENOTFOUND;
	memset(out, 0, sizeof(*out));
	out->row = cat->nodes[i].row;
	out->alive = node_alive(cat, &cat->nodes[i], now_ms);
	const struct store_worker *w = grants_newest(&cat->grants, out->row.id);
	if (w != NULL) {
		out->has_worker = 1;
		out->worker = *w;
	}
	return SR_OK;
}

static int
node_info_cmp(const void *key, const void *elem)
{
	uint64_t id = *(const uint64_t *) key;
	uint64_t e = ((const struct catalog_node_info *) elem)->row.id;
	return (id > e) - (id < e);
}

/*
 * The page's nodes first, then each node's newest grant in one pass over the
 * grants (a binary search in the page, which is sorted by id, per grant row):
 * asking grants_newest per node walked every grant for every node, a million
 * steps under the master's mutex for a page of 1,000 nodes (issue 10).
 */
int
catalog_node_page(const struct catalog *cat, uint64_t after, size_t max, int64_t now_ms,
    struct catalog_node_info *out, size_t *n)
{
	int more = 0;
	*n = 0;
	for (size_t i = after == UINT64_MAX ? cat->nnodes : node_pos(cat, after + 1);
	     i < cat->nnodes; i++) {
		if (*n == max) {
			more = 1;
			break;
		}
		struct catalog_node_info *o = &out[(*n)++];
		memset(o, 0, sizeof(*o));
		o->row = cat->nodes[i].row;
		o->alive = node_alive(cat, &cat->nodes[i], now_ms);
	}
	for (size_t j = 0; j<cat->grants.n && * n> 0; j++) {
		const struct store_worker *w = &cat->grants.rows[j];
		struct catalog_node_info *o =
		    bsearch(&w->node_id, out, *n, sizeof(*out), node_info_cmp);
		if (o != NULL && (!o->has_worker || w->expires_ms > o->worker.expires_ms)) {
			o->has_worker = 1;
			o->worker = *w;
		}
	}
	return more;
}

/* ---- leases ---- */

static struct seq_user *
seq_user(struct seq *s, uint64_t node_id)
{
	for (size_t i = 0; i < s->nusers; i++)
		if (s->users[i].node_id == node_id)
			return &s->users[i];
	struct seq_user *v = realloc(s->users, (s->nusers + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	s->users = v;
	v[s->nusers] = (struct seq_user) {.node_id = node_id};
	return &v[s->nusers++];
}

/* Leases the first free chunk of the open range. */
static void
lease_open_chunk(struct seq *s, struct seq_user *u, struct range_chunk *out)
{
	uint32_t k = 0;
	while (s->open_leased[k / 8] & (1u << (k % 8)))
		k++;
	s->open_leased[k / 8] |= (uint8_t) (1u << (k % 8));
	s->open_free--;
	*out = (struct range_chunk) {s->open_start, s->open_n, k, s->open_c};
	u->last_end = range_end(out);
}

/* The chunk size for the next range: doubled when the previous range went
 * by in under half the target time, halved when it lasted over twice it. */
static uint64_t
next_chunk_size(const struct catalog *cat, const struct seq *s, int64_t now_ms)
{
	uint64_t c = s->row.chunk;
	if (s->last_range_ms == 0)
		return c;
	int64_t took = now_ms - s->last_range_ms;
	int64_t target = cat->cfg.target_range_ms;
	if (took < target / 2 && c <= s->row.max_chunk / 2)
		c *= 2;
	else if (took > target * 2 && c / 2 >= s->row.min_chunk)
		c /= 2;
	return c;
}

static int
lease(struct catalog *cat, uint64_t node_id, const char *name, uint64_t after, int64_t now_ms,
    struct range_chunk *out, struct catalog_pending *pend)
{
	struct node *nd = node_find(cat, node_id);
	if (nd == NULL || nd->row.left)
		return fail(cat, SR_ENOTJOINED, "node %llu is not joined; join first",
		    (unsigned long long) node_id);
	struct seq *s = name ? seq_find(cat, name) : NULL;
	if (s == NULL || s->row.dropped)
		return fail(cat, SR_ENOTFOUND, "no sequence named '%.64s'", name ? name : "");
	/* A lease is a sign of life. */
	nd->row.last_seen_ms = now_ms;
	struct seq_user *u = seq_user(s, node_id);
	if (u == NULL)
		return fail(cat, SR_ENOMEM, "out of memory");
	/* The master also remembers what it gave the node: a coordinator that
	 * restarted under the same name (after = 0) stays increasing. */
	if (after < u->last_end)
		after = u->last_end;
	if (after > s->row.hwm)
		return fail(cat, SR_EINVAL,
		    "node holds IDs up to %llu but sequence %s ends at %llu: master state was lost",
		    (unsigned long long) after, s->row.name, (unsigned long long) s->row.hwm);

	if (s->open_free > 0 && s->open_start >= after) {
		lease_open_chunk(s, u, out);
		if (pend != NULL) {
			pend->end = range_end(out);
			pend->fails = s->fails;
		}
		return SR_OK;
	}

	/* A new range. N counts the live nodes drawing from the sequence (this
	 * one included) plus the spares; it is fixed for the range's life. */
	uint64_t want_n = s->row.mode == STORE_MODE_BLOCK
	    ? 1
	    : (uint64_t) seq_live_users(cat, s, now_ms) + s->row.spare;
	if (want_n > MAX_N)
		want_n = MAX_N;
	uint64_t c = next_chunk_size(cat, s, now_ms);
	uint32_t n;
	uint64_t cc;
	if (range_plan(s->row.hwm, (uint32_t) want_n, c, s->row.max_value, &n, &cc) != SR_OK)
		return fail(cat, SR_EEXHAUSTED, "sequence %s reached its max value %llu",
		    s->row.name, (unsigned long long) s->row.max_value);
	uint8_t *bits = calloc((n + 7) / 8, 1);
	if (bits == NULL)
		return fail(cat, SR_ENOMEM, "out of memory");

	struct store_op op = {.kind = STORE_PUT_SEQ};
	op.u.seq = s->row;
	op.u.seq.hwm = s->row.hwm + (uint64_t) n * cc;
	op.u.seq.chunk = c;
	if (pend == NULL) {
		int rv = commit_one(cat, &op);
		if (rv != SR_OK) {
			free(bits);
			return rv;
		}
		/* Durable: now the range may be handed out. */
	} else {
		/* Deferred: the caller hands the chunk out only once a flush
		 * stored this hwm (catalog_durable). */
		s->dirty = true;
	}
	seq_close_range(s);
	s->open_start = s->row.hwm;
	s->open_n = n;
	s->open_c = cc;
	s->open_free = n;
	s->open_leased = bits;
	s->row = op.u.seq;
	s->last_range_ms = now_ms;
	lease_open_chunk(s, u, out);
	if (pend != NULL) {
		pend->end = range_end(out);
		pend->fails = s->fails;
	}
	return SR_OK;
}

int
catalog_lease(struct catalog *cat, uint64_t node_id, const char *name, uint64_t after,
    int64_t now_ms, struct range_chunk *out)
{
	return lease(cat, node_id, name, after, now_ms, out, NULL);
}

int
catalog_lease_deferred(struct catalog *cat, uint64_t node_id, const char *name, uint64_t after,
    int64_t now_ms, struct range_chunk *out, struct catalog_pending *pend)
{
	return lease(cat, node_id, name, after, now_ms, out, pend);
}

int
catalog_durable(struct catalog *cat, const char *name, const struct catalog_pending *pend)
{
	struct seq *s = name ? seq_find(cat, name) : NULL;
	if (s == NULL)
		return fail(cat, SR_ENOTFOUND, "no sequence named '%.64s'", name ? name : "");
	if (s->durable_hwm >= pend->end)
		return SR_OK;
	if (s->fails != pend->fails)
		return fail(cat, s->fail_rv,
		    "the commit of the range of sequence %s "
		    "failed; its chunks are not handed out: %s",
		    s->row.name, store_errmsg(cat->st));
	return CATALOG_PENDING;
}

int
catalog_flush_take(struct catalog *cat, struct store_op **ops, size_t *n)
{
	size_t k = 0;
	*ops = NULL;
	*n = 0;
	for (size_t i = 0; i < cat->nseqs; i++)
		k += cat->seqs[i]->dirty && !cat->seqs[i]->inflight;
	if (k == 0)
		return SR_OK;
	struct store_op *v = calloc(k, sizeof(*v));
	if (v == NULL)
		return fail(cat, SR_ENOMEM, "out of memory");
	k = 0;
	for (size_t i = 0; i < cat->nseqs; i++) {
		struct seq *s = cat->seqs[i];
		if (!s->dirty || s->inflight)
			continue;
		v[k].kind = STORE_PUT_SEQ;
		v[k++].u.seq = s->row;
		s->dirty = false;
		s->inflight = true;
	}
	*ops = v;
	*n = k;
	return SR_OK;
}

void
catalog_flush_done(struct catalog *cat, struct store_op *ops, size_t n, int rv)
{
	if (rv != SR_OK)
		(void) fail(cat, rv, "store commit failed: %s", store_errmsg(cat->st));
	for (size_t i = 0; i < n; i++) {
		struct seq *s = seq_find(cat, ops[i].u.seq.name);
		if (s == NULL)
			continue;
		s->inflight = false;
		if (rv == SR_OK) {
			seq_stored(cat, &ops[i].u.seq);
			continue;
		}
		/* Nothing of the batch may be assumed stored (docs/design.md
		 * §7): the waiting leases fail, and the open range is given up
		 * if it is not durable, so none of its chunks is handed out
		 * later. row.hwm stays where it is, above every range made in
		 * memory: the next range starts there, a gap, never an ID
		 * issued twice. */
		s->fails++;
		s->fail_rv = rv;
		if (s->open_n > 0 &&
		    s->open_start + (uint64_t) s->open_n * s->open_c > s->durable_hwm)
			seq_close_range(s);
	}
	free(ops);
}

int
catalog_worker_holder(const struct catalog *cat, uint32_t worker, uint64_t tick,
    struct catalog_holder *out)
{
	memset(out, 0, sizeof(*out));
	const char *name = "";
	if (!grants_holder_at(&cat->grants, worker, tick, &out->node_id, &out->certain,
	        &out->from_tick, &out->to_tick, &name))
		return SR_ENOTFOUND;
	/* The name recorded with the grant; for an uncertain holder (or an
	 * era written without one), the node's name now. */
	const struct node *n = node_find(cat, out->node_id);
	if (name[0] == '\0' && n != NULL)
		name = n->row.name;
	sr_strlcpy(out->name, name, sizeof(out->name));
	return SR_OK;
}
