/*
 * Unit tests for the worker-id grants (master/grants.c), without a store:
 * rows are prepared, then applied as the catalog does after its commit.
 * test_catalog covers the same rules through the catalog and a store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "grants.h"
#include "snowrange/error.h"

#define TTL 1000
#define GRACE 200

static void
init(struct grants *g, unsigned worker_bits)
{
	sr_flake_layout l = {.time_bits = 63 - worker_bits - 12,
	    .worker_bits = worker_bits,
	    .seq_bits = 12,
	    .unit_ms = 1,
	    .epoch_ms = 0};
	assert_int_equal(grants_init(g, TTL, GRACE, &l, NULL, 0, 0), SR_OK);
}

/* The eras committed, as a store would keep them (seq order). */
static struct store_era hist[64];
static size_t nhist;

/* Picks for node at now and applies the row with its history, as the
 * catalog does after the commit (the eras also go to hist[], trims
 * delete from it); returns the grant. */
static struct catalog_grant
pick(struct grants *g, uint64_t node, int64_t now)
{
	struct store_worker row;
	struct catalog_grant out;
	struct store_op ops[GRANTS_HISTORY_OPS];
	if (grants_pick(g, node, now, &row, &out)) {
		char name[32];
		snprintf(name, sizeof(name), "n%llu", (unsigned long long) node);
		size_t n = grants_history_ops(g, &row, &out, name, now, ops);
		assert_true(n <= GRANTS_HISTORY_OPS);
		for (size_t i = 0; i < n; i++) {
			if (ops[i].kind == STORE_PUT_ERA) {
				assert_true(nhist < 64);
				hist[nhist++] = ops[i].u.era;
				continue;
			}
			assert_int_equal(ops[i].kind, STORE_TRIM_ERAS);
			size_t k = 0;
			while (k < nhist && hist[k].seq < ops[i].u.era.seq)
				k++;
			memmove(hist, hist + k, (nhist - k) * sizeof(hist[0]));
			nhist -= k;
		}
		assert_int_equal(grants_apply(g, &row), SR_OK);
		grants_history_apply(g, ops, n);
	}
	return out;
}

/* Fresh ids first, one per node; none left when the layout's ids are all
 * held; a node gets nothing while its own id is in its lease. */
static void
test_fresh_ids_one_per_node(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 1); /* two ids */
	struct catalog_grant a = pick(&g, 1, 0), b = pick(&g, 2, 0), c = pick(&g, 3, 0);
	assert_true(a.has && b.has);
	assert_int_equal(a.worker_id, 0);
	assert_int_equal(b.worker_id, 1);
	assert_int_equal(a.floor_tick, 0);
	assert_false(c.has);
	assert_false(pick(&g, 1, 10).has); /* node 1's id is live */
	grants_free(&g);
}

/* An ended lease's id goes to another node only after the grace period,
 * with a floor above every tick its holder could have used. */
static void
test_reuse_after_grace_with_floor(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 0); /* one id */
	assert_true(pick(&g, 1, 0).has);
	/* Node 1 reports tick 500 and its lease ends at 1000. */
	struct store_worker row, durable;
	struct catalog_grant out;
	assert_int_equal(grants_beat(&g, 1, 0, 500, 100, &row, &durable, &out), GRANTS_BEAT_COMMIT);
	assert_true(out.has);
	assert_int_equal(row.last_tick, 500);
	assert_int_equal(row.expires_ms, 100 + TTL);
	grants_keep(&g, &row, &durable);
	assert_false(pick(&g, 2, 100 + TTL + GRACE - 1).has);
	struct catalog_grant b = pick(&g, 2, 100 + TTL + GRACE);
	assert_true(b.has);
	assert_int_equal(b.worker_id, 0);
	/* The later of last tick + TTL (1500) and the lease end (1100). */
	assert_int_equal(b.floor_tick, 500 + TTL);
	grants_free(&g);
}

/* The history decode asks: each holder of an id from the floor it was
 * granted above, the current one open-ended; older than the first grant
 * the master saw, nothing; ids granted before it started, uncertain. */
static void
test_holder_history(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 0); /* one id */
	nhist = 0;
	assert_true(pick(&g, 1, 0).has);
	struct store_worker row, durable;
	struct catalog_grant out;
	assert_int_equal(grants_beat(&g, 1, 0, 500, 100, &row, &durable, &out), GRANTS_BEAT_COMMIT);
	grants_keep(&g, &row, &durable);
	struct catalog_grant b = pick(&g, 2, 100 + TTL + GRACE);
	assert_true(b.has);
	uint64_t node, from, to;
	bool certain;
	const char *name;
	assert_true(grants_holder_at(&g, 0, 500, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 1);
	assert_true(certain);
	assert_string_equal(name, "n1");
	assert_int_equal(from, 0);
	assert_int_equal(to, b.floor_tick);
	assert_true(grants_holder_at(&g, 0, b.floor_tick, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 1); /* node 2 issues only above its floor */
	assert_true(grants_holder_at(&g, 0, b.floor_tick + 1, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 2);
	assert_string_equal(name, "n2");
	assert_int_equal(from, b.floor_tick);
	assert_int_equal(to, 0);
	assert_false(grants_holder_at(&g, 1, 5, &node, &certain, &from, &to, &name));
	/* A renewal of node 2's own grant, or its own id given back, is no
	 * new era. */
	assert_int_equal(nhist, 2);
	assert_true(pick(&g, 2, 100 + 2 * (TTL + GRACE)).has);
	assert_int_equal(nhist, 2);
	grants_free(&g);

	/* After a restart: the stored row's holder, not certain. */
	sr_flake_layout l = {.time_bits = 51,
	    .worker_bits = 0,
	    .seq_bits = 12,
	    .unit_ms = 1,
	    .epoch_ms = 0};
	struct store_worker row7 = {.id = 0, .node_id = 7, .expires_ms = 50, .last_tick = 40};
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, &row7, 1, 0), SR_OK);
	assert_true(grants_holder_at(&g, 0, 10, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 7);
	assert_false(certain);
	assert_string_equal(name, "");
	grants_free(&g);
}

/* Holders change every TTL + grace: node k takes the one id at k * that. */
static struct catalog_grant
take_turn(struct grants *g, uint64_t k)
{
	struct catalog_grant out = pick(g, k, (int64_t) k * (TTL + GRACE));
	assert_true(out.has);
	return out;
}

/*
 * The history is bounded (issue 14: joins of new names must not fill the
 * store): beyond max eras, a grant's ops delete the oldest with it; the
 * history a restarted master loads answers as before; a lower max keeps
 * the newest and trims the store at the next grant; max 0 keeps none.
 */
static void
test_history_bounded(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 0); /* one id */
	assert_int_equal(grants_history_init(&g, 3, NULL, 0), SR_OK);
	nhist = 0;
	struct catalog_grant turn[8];
	for (uint64_t k = 1; k <= 5; k++)
		turn[k] = take_turn(&g, k);
	assert_int_equal(nhist, 3);
	assert_int_equal(hist[0].seq, 3);
	assert_int_equal(hist[2].seq, 5);
	assert_int_equal(hist[2].node_id, 5);
	assert_int_equal(hist[2].floor_tick, turn[5].floor_tick);
	assert_int_equal(hist[2].granted_ms, 5 * (TTL + GRACE));
	uint64_t node, from, to;
	bool certain;
	const char *name;
	/* Node 2's era went with the trims: its ticks have no holder. */
	assert_false(
	    grants_holder_at(&g, 0, turn[2].floor_tick + 1, &node, &certain, &from, &to, &name));
	assert_true(
	    grants_holder_at(&g, 0, turn[3].floor_tick + 1, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 3);
	assert_true(certain);
	assert_int_equal(to, turn[4].floor_tick);

	/* A restart: the rows as stored, the same answers. */
	sr_flake_layout l = g.layout;
	struct store_worker row = *grants_find(&g, 0);
	grants_free(&g);
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, &row, 1, 5 * (TTL + GRACE)), SR_OK);
	assert_int_equal(grants_history_init(&g, 3, hist, nhist), SR_OK);
	assert_true(
	    grants_holder_at(&g, 0, turn[4].floor_tick + 1, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 4);
	assert_string_equal(name, "n4");
	assert_true(certain);
	grants_free(&g);

	/* Restarted with max 2: the newest two answer, and the next grant
	 * trims the store to two. */
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, &row, 1, 5 * (TTL + GRACE)), SR_OK);
	assert_int_equal(grants_history_init(&g, 2, hist, nhist), SR_OK);
	assert_false(
	    grants_holder_at(&g, 0, turn[3].floor_tick + 1, &node, &certain, &from, &to, &name));
	turn[6] = take_turn(&g, 7); /* after node 5's lease */
	assert_int_equal(nhist, 2);
	assert_int_equal(hist[0].seq, 5);
	assert_int_equal(hist[1].seq, 6);
	assert_int_equal(hist[1].node_id, 7);
	grants_free(&g);

	/* Max 0: nothing is written, and what is stored goes. */
	row = (struct store_worker) {.id = 0, .node_id = 7, .expires_ms = 0, .last_tick = 0};
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, &row, 1, 0), SR_OK);
	assert_int_equal(grants_history_init(&g, 0, hist, nhist), SR_OK);
	take_turn(&g, 8);
	assert_int_equal(nhist, 0);
	assert_true(grants_holder_at(&g, 0, 1, &node, &certain, &from, &to, &name));
	assert_int_equal(node, 8);
	assert_false(certain);
	grants_free(&g);
}

/* A renewal never moves a lease's end earlier (a master restarted with a
 * shorter TTL), and a beat for an id the node does not hold changes
 * nothing. */
static void
test_beat_never_shortens(void **state)
{
	(void) state;
	sr_flake_layout l = {.time_bits = 41,
	    .worker_bits = 10,
	    .seq_bits = 12,
	    .unit_ms = 1,
	    .epoch_ms = 0};
	struct store_worker stored = {.id = 7, .node_id = 1, .expires_ms = 5000};
	struct grants g;
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, &stored, 1, 0), SR_OK);
	struct store_worker row, durable;
	struct catalog_grant out;
	/* The stored end covers the renewal: nothing to commit. */
	assert_int_equal(grants_beat(&g, 1, 7, 0, 100, &row, &durable, &out), GRANTS_BEAT_KEEP);
	assert_int_equal(row.expires_ms, 5000);
	assert_int_equal(grants_beat(&g, 2, 7, 0, 100, &row, &durable, &out), GRANTS_BEAT_NONE);
	assert_false(out.has);
	grants_free(&g);
}

/*
 * Renewals are stored ahead (issue 10: one fsync per heartbeat under the
 * master's mutex made 1,000 coordinators' heartbeats wait): a live holder
 * beating every TTL/3 commits its row once per GRANTS_AHEAD_TTLS TTLs, not
 * at every beat, and what is stored always covers memory: an end no earlier
 * than the one the holder was given, a tick no lower than the one it
 * reported. Before, every beat returned a row to commit.
 */
static void
test_renewals_stored_ahead(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 0); /* one id */
	assert_true(pick(&g, 1, 0).has);
	int commits = 0, beats = 0;
	int64_t now = 0;
	for (; now <= 20 * TTL; now += TTL / 3, beats++) {
		struct store_worker mem, durable;
		struct catalog_grant out;
		int b = grants_beat(&g, 1, 0, (uint64_t) now + 7, now, &mem, &durable, &out);
		assert_true(out.has);
		assert_int_equal(mem.expires_ms, now + TTL);
		assert_int_equal(mem.last_tick, now + 7);
		if (b == GRANTS_BEAT_COMMIT) {
			commits++;
			assert_true(durable.expires_ms >= mem.expires_ms + TTL);
			assert_true(durable.last_tick >= mem.last_tick + TTL);
			grants_keep(&g, &mem, &durable);
		} else {
			assert_int_equal(b, GRANTS_BEAT_KEEP);
			grants_keep(&g, &mem, NULL);
		}
		/* What a restarted master would load covers memory. */
		assert_true(g.stored[0].expires_ms >= g.rows[0].expires_ms);
		assert_true(g.stored[0].last_tick >= g.rows[0].last_tick);
	}
	assert_true(beats >= 60);
	assert_true(commits * 5 <= beats);
	assert_true(commits >= beats / (3 * GRANTS_AHEAD_TTLS + 3));
	/* Memory keeps the true values: the next holder's floor comes from
	 * the last reported tick, not from the stored bound. */
	struct store_worker last = g.rows[0];
	int64_t free_at = last.expires_ms + GRACE;
	struct catalog_grant n = pick(&g, 2, free_at);
	assert_true(n.has);
	assert_int_equal(n.worker_id, 0);
	assert_int_equal(n.floor_tick, last.last_tick + TTL);
	grants_free(&g);
}

/* A master restarted from rows stored ahead keeps the id from another node
 * until every end it answered (plus grace) and puts the next holder above
 * every tick the old holder reported plus one TTL, though the last beats
 * were never committed. */
static void
test_restart_covers_uncommitted_beats(void **state)
{
	(void) state;
	sr_flake_layout l = {.time_bits = 51,
	    .worker_bits = 0,
	    .seq_bits = 12,
	    .unit_ms = 1,
	    .epoch_ms = 0}; /* one id */
	struct grants g;
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, NULL, 0, 0), SR_OK);
	assert_true(pick(&g, 1, 0).has);
	struct store_worker mem, durable, stored = {0};
	struct catalog_grant out;
	int64_t now = 0;
	for (int i = 0; i < 5; i++, now += TTL / 3) {
		int b = grants_beat(&g, 1, 0, (uint64_t) now + 50, now, &mem, &durable, &out);
		if (b == GRANTS_BEAT_COMMIT)
			stored = durable; /* what the store holds */
		grants_keep(&g, &mem, b == GRANTS_BEAT_COMMIT ? &durable : NULL);
	}
	assert_int_equal(stored.id, 0);
	uint64_t reported = g.rows[0].last_tick;
	int64_t end = g.rows[0].expires_ms;
	grants_free(&g);
	/* The restart, right away: only the stored row survives. */
	assert_int_equal(grants_init(&g, TTL, GRACE, &l, &stored, 1, now), SR_OK);
	assert_false(pick(&g, 2, end + GRACE - 1).has);
	struct catalog_grant n = pick(&g, 2, stored.expires_ms + GRACE);
	assert_true(n.has);
	assert_true(n.floor_tick >= reported + TTL);
	grants_free(&g);
}

/* A leave ends the node's live grants at once, its tick raised in. */
static void
test_end_on_leave(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 2);
	assert_true(pick(&g, 1, 0).has);
	assert_true(pick(&g, 2, 0).has);
	assert_int_equal(grants_live(&g, 1, 10), 1);
	struct store_op ops[1];
	grants_end(&g, 1, 42, 10, ops);
	assert_int_equal(ops[0].kind, STORE_PUT_WORKER);
	assert_int_equal(ops[0].u.worker.node_id, 1);
	assert_int_equal(ops[0].u.worker.expires_ms, 10);
	assert_int_equal(ops[0].u.worker.last_tick, 42);
	assert_int_equal(grants_apply(&g, &ops[0].u.worker), SR_OK);
	assert_int_equal(grants_live(&g, 1, 10), 0);
	const struct store_worker *w = grants_newest(&g, 1);
	assert_non_null(w);
	assert_int_equal(w->expires_ms, 10);
	grants_free(&g);
}

/* ---- claims (docs/snowflake.md, "Claims") ---- */

/* Applies node's claim at now as the catalog does after its commit and
 * returns what the node is told; *kind is grants_claim's answer. */
static struct catalog_grant
claim(struct grants *g, uint64_t node, uint32_t id, uint64_t tick, int64_t left, int64_t now,
    int *kind, bool *known)
{
	struct grants_claim c = {id, tick, left};
	struct store_worker row;
	struct catalog_grant out;
	*kind = grants_claim(g, node, &c, now, &row, &out, known);
	assert_int_equal(grants_apply(g, &row), SR_OK);
	return out;
}

/*
 * A master on an empty store (it lost its state) holds new grants back,
 * adopts the claim of a coordinator still live from before, and never
 * gives the claimed id to another node: node 2, asking after the wait,
 * gets the other id, node 3 none. The claimant keeps its id (renewed for a
 * TTL) with no floor to wait for.
 */
static void
test_claim_adopted(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 1); /* two ids */
	grants_hold(&g, 500);
	assert_int_equal(grants_wait_left(&g, 100), 400);
	assert_int_equal(grants_free_count(&g, 100), 0); /* /metrics: none grantable yet */
	assert_int_equal(grants_free_count(&g, 500), 2);
	/* During the wait nothing is granted, not even a never-granted id. */
	assert_false(pick(&g, 2, 100).has);
	int kind;
	bool known;
	struct catalog_grant a = claim(&g, 1, 1, 90, 700, 200, &kind, &known);
	assert_int_equal(kind, GRANTS_CLAIM_OWN);
	assert_false(known);
	assert_true(a.has);
	assert_int_equal(a.worker_id, 1);
	assert_int_equal(a.floor_tick, 0);
	const struct store_worker *w = grants_find(&g, 1);
	assert_non_null(w);
	assert_int_equal(w->node_id, 1);
	assert_int_equal(w->expires_ms, 200 + TTL); /* renewed: the TTL beats 700 */
	assert_int_equal(w->last_tick, 90);
	assert_false(pick(&g, 2, 499).has);
	assert_int_equal(grants_wait_left(&g, 500), 0);
	struct catalog_grant b = pick(&g, 2, 500);
	assert_true(b.has);
	assert_int_equal(b.worker_id, 0);
	assert_false(pick(&g, 3, 500).has);
	/* A claim again (a heartbeat) of the same node: known, kept. */
	a = claim(&g, 1, 1, 95, 700, 600, &kind, &known);
	assert_int_equal(kind, GRANTS_CLAIM_OWN);
	assert_true(known);
	assert_true(a.has);
	grants_free(&g);
}

/* The claimed id frees when the claim's lease has ended plus the grace
 * period, no earlier, and its next holder issues above the claimant's
 * reported tick plus one TTL (the usual floor rule). */
static void
test_claim_expires_with_floor(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 1);
	grants_hold(&g, 500);
	int kind;
	bool known;
	/* The claimant reports a tick 900 ahead of the master's clock (skew
	 * within the tolerance): the floor must come from it, not the end. */
	(void) claim(&g, 1, 0, 1100, 300, 200, &kind, &known);
	assert_int_equal(kind, GRANTS_CLAIM_OWN);
	assert_true(pick(&g, 2, 500).has); /* id 1 */
	int64_t end = 200 + TTL;
	assert_false(pick(&g, 3, end + GRACE - 1).has);
	struct catalog_grant c = pick(&g, 3, end + GRACE);
	assert_true(c.has);
	assert_int_equal(c.worker_id, 0);
	assert_int_equal(c.floor_tick, 1100 + TTL);
	grants_free(&g);
}

/*
 * The store gives the id to another node whose lease is live (a store
 * rolled back, or two holders already): the claimant yields (no grant),
 * the holder keeps it, and the row now reaches as far as the claim and as
 * high as its tick, so a third node gets the id only after both, above
 * both. Once the holder's lease is over, a claim takes the id over.
 */
static void
test_claim_yields_to_live_holder(void **state)
{
	(void) state;
	struct grants g;
	init(&g, 1);
	struct catalog_grant a = pick(&g, 1, 0); /* id 0, to 1000 */
	assert_true(a.has);
	assert_int_equal(a.worker_id, 0);
	int kind;
	bool known;
	struct catalog_grant b = claim(&g, 2, 0, 2000, 900, 600, &kind, &known);
	assert_int_equal(kind, GRANTS_CLAIM_YIELD);
	assert_false(b.has);
	const struct store_worker *w = grants_find(&g, 0);
	assert_int_equal(w->node_id, 1);
	assert_int_equal(w->expires_ms, 1500);
	assert_int_equal(w->last_tick, 2000);
	assert_true(pick(&g, 3, 600).has); /* id 1 */
	assert_false(pick(&g, 4, 1500 + GRACE - 1).has);
	struct catalog_grant d = pick(&g, 4, 1500 + GRACE);
	assert_true(d.has);
	assert_int_equal(d.floor_tick, 2000 + TTL);
	/* Node 4's grant of id 0 ends at 2700; past its grace node 2 claims
	 * it (rolled back: it got the id later) and takes it over, above
	 * node 4's last tick. */
	struct catalog_grant e = claim(&g, 2, 0, 3100, 500, 2700 + GRACE, &kind, &known);
	assert_int_equal(kind, GRANTS_CLAIM_OWN);
	assert_false(known);
	assert_true(e.has);
	assert_int_equal(e.floor_tick, 2000);
	assert_int_equal(grants_find(&g, 0)->node_id, 2);
	grants_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_ids_one_per_node),
	    cmocka_unit_test(test_reuse_after_grace_with_floor),
	    cmocka_unit_test(test_beat_never_shortens),
	    cmocka_unit_test(test_renewals_stored_ahead),
	    cmocka_unit_test(test_restart_covers_uncommitted_beats),
	    cmocka_unit_test(test_end_on_leave),
	    cmocka_unit_test(test_holder_history),
	    cmocka_unit_test(test_history_bounded),
	    cmocka_unit_test(test_claim_adopted),
	    cmocka_unit_test(test_claim_expires_with_floor),
	    cmocka_unit_test(test_claim_yields_to_live_holder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
