/*
 * Unit tests for the master's lease rules (master/catalog.c), driven with an
 * in-memory store that can be told to fail and an explicit clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "grants.h"
#include "mem_store.h"
#include "snowrange/error.h"

static struct store_seq *
mem_seq(struct mem_store *m, const char *name)
{
	for (size_t j = 0; j < m->nseqs; j++)
		if (strcmp(m->seqs[j].name, name) == 0)
			return &m->seqs[j];
	return NULL;
}

/* ---- fixtures ---- */

struct fx {
	struct mem_store st;
	struct catalog_config cfg;
	struct catalog *cat;
	int64_t now;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->st.base.ops = &mem_ops;
	catalog_config_init(&f->cfg);
	/* These tests start on an empty store and want grants at once; the
	 * wait for claims has tests of its own (test_claim_*). */
	f->cfg.claim_wait_ms = 0;
	f->now = INT64_C(1767225600000); /* 2026-01-01, after the layout epoch */
	assert_int_equal(catalog_open(&f->st.base, &f->cfg, f->now, &f->cat, NULL, 0), SR_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	catalog_close(f->cat);
	free(f);
	return 0;
}

static void
reopen(struct fx *f)
{
	catalog_close(f->cat);
	assert_int_equal(catalog_open(&f->st.base, &f->cfg, f->now, &f->cat, NULL, 0), SR_OK);
}

static void
create(struct fx *f, const char *name, uint64_t chunk, uint32_t spare, uint32_t mode)
{
	struct catalog_seq_spec spec = {.name = name, .chunk = chunk, .spare = spare, .mode = mode};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_OK);
}

static uint64_t
join(struct fx *f, const char *name)
{
	uint64_t id;
	struct catalog_grant g;
	assert_int_equal(catalog_node_join(f->cat, name, "", f->now, &id, &g), SR_OK);
	return id;
}

/* A heartbeat without a worker lease of its own. */
static int
beat(struct fx *f, uint64_t node)
{
	struct catalog_grant g;
	return catalog_node_heartbeat(f->cat, node, f->now, 0, 0, 0, &g);
}

static struct range_chunk
lease(struct fx *f, uint64_t node, const char *seq, uint64_t after)
{
	struct range_chunk ch;
	assert_int_equal(catalog_lease(f->cat, node, seq, after, f->now, &ch), SR_OK);
	return ch;
}

/* ---- tests ---- */

static void
test_seq_create_validation(void **state)
{
	struct fx *f = *state;
	struct catalog_seq_spec spec = {0};
	const char *bad[] = {"", "Upper", "has space", "x/y",
	    "a2345678901234567890123456789012345678901234567890123456789012345"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec.name = bad[i];
		assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EINVAL);
		assert_non_null(strstr(catalog_errmsg(f->cat), "invalid sequence name"));
	}
	spec.name = NULL;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EINVAL);
	spec.name = "ok.name-1_x";
	struct catalog_seq_info info;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, &info), SR_OK);
	assert_int_equal(info.row.hwm, 0);
	assert_int_equal(info.row.start, 1);
	assert_int_equal(info.row.chunk, 1000);
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EEXISTS);
	spec.name = "sizes";
	spec.chunk = 10;
	spec.min_chunk = 20;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EINVAL);
	spec.min_chunk = 0;
	spec.max_value = (uint64_t) INT64_MAX + 1;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EINVAL);
	spec.max_value = 0;
	spec.mode = 7;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EINVAL);
	spec.mode = 0;
	spec.spare = 100000;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EINVAL);
	assert_int_equal(catalog_seq_count(f->cat), 1);
	assert_int_equal(catalog_seq_drop(f->cat, "nope"), SR_ENOTFOUND);
}

static void
test_first_id_is_start(void **state)
{
	struct fx *f = *state;
	struct catalog_seq_spec spec = {.name = "s", .start = 1000, .chunk = 10};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_OK);
	uint64_t a = join(f, "a");
	struct range_chunk ch = lease(f, a, "s", 0);
	assert_int_equal(range_id(&ch, 1), 1000);
	assert_int_equal(mem_seq(&f->st, "s")->hwm, 999 + 10);
}

/* N = live users of the sequence; chunks of the open range go to other
 * nodes; the after rule sends a node that already draws from the open range
 * to a new range. */
static void
test_interleave_and_after_rule(void **state)
{
	struct fx *f = *state;
	create(f, "s", 100, 0, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a"), b = join(f, "b"), c = join(f, "c");
	struct range_chunk ca = lease(f, a, "s", 0);
	assert_int_equal(ca.n, 1); /* only a uses it so far */
	struct range_chunk cb = lease(f, b, "s", 0);
	assert_int_equal(cb.n, 2);
	assert_int_equal(cb.start, range_end(&ca));
	struct range_chunk cc = lease(f, c, "s", 0);
	assert_int_equal(cc.start, cb.start); /* the free chunk of b's range */
	assert_int_not_equal(cc.k, cb.k);
	/* b asks again with after = its range end: never its own range. */
	struct range_chunk cb2 = lease(f, b, "s", range_end(&cb));
	assert_true(cb2.start >= range_end(&cb));
	assert_int_equal(cb2.n, 3);
	/* a gets a chunk of that new range: it starts above all a holds. */
	struct range_chunk ca2 = lease(f, a, "s", range_end(&ca));
	assert_int_equal(ca2.start, cb2.start);
	assert_true(range_id(&ca2, 1) > range_id(&ca, ca.c));
}

/* The master remembers what it gave a node: a restarted coordinator that
 * says after = 0 still gets a chunk above everything it had. */
static void
test_restarted_node_stays_increasing(void **state)
{
	struct fx *f = *state;
	create(f, "s", 100, 2, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a");
	struct range_chunk c1 = lease(f, a, "s", 0);
	assert_int_equal(c1.n, 3);         /* 1 user + 2 spare */
	assert_int_equal(join(f, "a"), a); /* same name, same id */
	struct range_chunk c2 = lease(f, a, "s", 0);
	assert_true(c2.start >= range_end(&c1));
}

static void
test_restart_forgets_open_range(void **state)
{
	struct fx *f = *state;
	create(f, "s", 100, 3, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a"), b = join(f, "b");
	struct range_chunk ca = lease(f, a, "s", 0);
	assert_int_equal(ca.n, 4);
	uint64_t hwm = mem_seq(&f->st, "s")->hwm;
	assert_int_equal(hwm, range_end(&ca));
	reopen(f);
	/* b never had a chunk; the open range had 3 free ones, all forgotten. */
	struct range_chunk cb = lease(f, b, "s", 0);
	assert_int_equal(cb.start, hwm);
}

/* A failing commit returns the error and hands out nothing; the next
 * lease, once the store works, starts at the durable hwm. */
static void
test_failed_commit_returns_no_chunk(void **state)
{
	struct fx *f = *state;
	create(f, "s", 100, 0, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a");
	struct range_chunk c1 = lease(f, a, "s", 0);
	f->st.fail_commits = 1;
	struct range_chunk ch = {0};
	assert_int_equal(catalog_lease(f->cat, a, "s", range_end(&c1), f->now, &ch), SR_EIO);
	assert_int_equal(ch.c, 0);
	assert_non_null(strstr(catalog_errmsg(f->cat), "injected failure"));
	assert_int_equal(mem_seq(&f->st, "s")->hwm, range_end(&c1));
	struct range_chunk c2 = lease(f, a, "s", range_end(&c1));
	assert_int_equal(c2.start, range_end(&c1));
	/* Sequence creation and joins fail the same way. */
	f->st.fail_commits = 1;
	struct catalog_seq_spec spec = {.name = "t"};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_EIO);
	assert_int_equal(catalog_seq_count(f->cat), 1);
	f->st.fail_commits = 1;
	uint64_t id;
	struct catalog_grant g;
	assert_int_equal(catalog_node_join(f->cat, "z", "", f->now, &id, &g), SR_EIO);
	assert_int_equal(catalog_node_count(f->cat), 1);
}

/* Group commit (catalog_lease_deferred): leases of several nodes reserve
 * ranges in memory, one flush stores them all with one commit, and no
 * chunk counts as handed out before its range's hwm is on disk. */
static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	/* A ticket sequence: block mode, chunk 1 fixed, a lease per ID. */
	struct catalog_seq_spec spec = {.name = "t",
	    .chunk = 1,
	    .max_chunk = 1,
	    .mode = STORE_MODE_BLOCK};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_OK);
	uint64_t node[4];
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "n%d", i);
		node[i] = join(f, name);
	}
	struct range_chunk ch[4];
	struct catalog_pending pend[4];
	for (int i = 0; i < 4; i++) {
		assert_int_equal(catalog_lease_deferred(f->cat, node[i], "t", 0, f->now, &ch[i],
		                     &pend[i]),
		    SR_OK);
		assert_int_equal(ch[i].start, (uint64_t) i); /* four ranges of one ID */
		assert_int_equal(catalog_durable(f->cat, "t", &pend[i]), CATALOG_PENDING);
	}
	/* Nothing on disk yet. */
	assert_int_equal(mem_seq(&f->st, "t")->hwm, 0);
	int commits = f->st.commits;
	struct store_op *ops;
	size_t n;
	assert_int_equal(catalog_flush_take(f->cat, &ops, &n), SR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ops[0].u.seq.hwm, 4);
	/* In flight: a lease now reserves for the next flush, not this one. */
	struct range_chunk c5;
	struct catalog_pending p5;
	assert_int_equal(catalog_lease_deferred(f->cat, node[0], "t", 1, f->now, &c5, &p5), SR_OK);
	assert_int_equal(c5.start, 4);
	struct store_op *ops2;
	size_t n2;
	assert_int_equal(catalog_flush_take(f->cat, &ops2, &n2), SR_OK);
	assert_int_equal(n2, 0);
	int rv = store_commit(&f->st.base, catalog_term(f->cat), ops, n);
	assert_int_equal(rv, SR_OK);
	catalog_flush_done(f->cat, ops, n, rv);
	assert_int_equal(f->st.commits, commits + 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(catalog_durable(f->cat, "t", &pend[i]), SR_OK);
	assert_int_equal(catalog_durable(f->cat, "t", &p5), CATALOG_PENDING);

	/* A failed flush: its waiters get the error and never their chunk;
	 * the next lease starts above the failed range (a gap), and so does
	 * a restarted master, since nothing of the failed range went out. */
	assert_int_equal(catalog_flush_take(f->cat, &ops, &n), SR_OK);
	assert_int_equal(n, 1);
	f->st.fail_commits = 1;
	rv = store_commit(&f->st.base, catalog_term(f->cat), ops, n);
	assert_int_equal(rv, SR_EIO);
	catalog_flush_done(f->cat, ops, n, rv);
	assert_int_equal(catalog_durable(f->cat, "t", &p5), SR_EIO);
	assert_non_null(strstr(catalog_errmsg(f->cat), "failed"));
	assert_int_equal(mem_seq(&f->st, "t")->hwm, 4);
	struct range_chunk c6;
	struct catalog_pending p6;
	assert_int_equal(catalog_lease_deferred(f->cat, node[1], "t", 0, f->now, &c6, &p6), SR_OK);
	assert_true(c6.start >= 5);
	assert_int_equal(catalog_flush_take(f->cat, &ops, &n), SR_OK);
	rv = store_commit(&f->st.base, catalog_term(f->cat), ops, n);
	catalog_flush_done(f->cat, ops, n, rv);
	assert_int_equal(catalog_durable(f->cat, "t", &p6), SR_OK);
	reopen(f);
	struct range_chunk c7 = lease(f, node[2], "t", 0);
	assert_true(c7.start >= range_end(&c6));
}

/* Another master took a newer term: this one's commits are refused. */
static void
test_stale_term(void **state)
{
	struct fx *f = *state;
	create(f, "s", 100, 0, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a");
	f->st.term++;
	struct range_chunk ch;
	assert_int_equal(catalog_lease(f->cat, a, "s", 0, f->now, &ch), SR_ESTALE);
}

static void
test_dead_node_not_counted(void **state)
{
	struct fx *f = *state;
	create(f, "s", 10, 0, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a"), b = join(f, "b");
	struct range_chunk ca = lease(f, a, "s", 0);
	struct range_chunk cb = lease(f, b, "s", 0);
	assert_int_equal(cb.n, 2);
	struct catalog_node_info ni;
	assert_int_equal(catalog_node_at(f->cat, 1, f->now, &ni), SR_OK);
	assert_true(ni.alive);
	/* b goes silent past its lease; a keeps beating. */
	f->now += f->cfg.lease_ttl_ms + 1;
	assert_int_equal(beat(f, a), SR_OK);
	assert_int_equal(catalog_node_at(f->cat, 1, f->now, &ni), SR_OK);
	assert_false(ni.alive);
	(void) ca;
	lease(f, a, "s", range_end(&cb)); /* takes the free chunk of b's range */
	struct range_chunk ca3 = lease(f, a, "s", range_end(&cb));
	assert_int_equal(ca3.n, 1);
	/* Leave is durable and refuses later heartbeats. */
	assert_int_equal(catalog_node_leave(f->cat, b, 0, f->now), SR_OK);
	assert_int_equal(beat(f, b), SR_ENOTJOINED);
	assert_int_equal(beat(f, 999), SR_ENOTJOINED);
	struct range_chunk ch;
	assert_int_equal(catalog_lease(f->cat, 999, "s", 0, f->now, &ch), SR_ENOTJOINED);
	assert_int_equal(catalog_lease(f->cat, a, "nope", 0, f->now, &ch), SR_ENOTFOUND);
}

static void
test_block_mode(void **state)
{
	struct fx *f = *state;
	create(f, "b", 5, 4, STORE_MODE_BLOCK);
	uint64_t a = join(f, "a"), b = join(f, "b");
	struct range_chunk ca = lease(f, a, "b", 0), cb = lease(f, b, "b", 0);
	assert_int_equal(ca.n, 1);
	assert_int_equal(cb.n, 1);
	assert_int_equal(range_id(&ca, 1), 1);
	assert_int_equal(range_id(&ca, 5), 5);
	assert_int_equal(range_id(&cb, 1), 6);
}

static void
test_exhaustion(void **state)
{
	struct fx *f = *state;
	struct catalog_seq_spec spec = {.name = "small", .chunk = 4, .max_value = 10};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_OK);
	uint64_t a = join(f, "a");
	uint64_t total = 0, after = 0;
	struct range_chunk ch;
	int rv;
	while ((rv = catalog_lease(f->cat, a, "small", after, f->now, &ch)) == SR_OK) {
		assert_true(range_end(&ch) <= 10);
		total += ch.c;
		after = range_end(&ch);
	}
	assert_int_equal(rv, SR_EEXHAUSTED);
	assert_int_equal(total, 10);
}

static void
test_dynamic_chunk(void **state)
{
	struct fx *f = *state;
	struct catalog_seq_spec spec = {.name = "d",
	    .chunk = 100,
	    .min_chunk = 50,
	    .max_chunk = 400};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_OK);
	uint64_t a = join(f, "a");
	uint64_t after = 0;
	uint64_t sizes[6];
	/* Ranges consumed fast: C doubles up to max_chunk. */
	for (int i = 0; i < 4; i++) {
		struct range_chunk ch = lease(f, a, "d", after);
		after = range_end(&ch);
		sizes[i] = ch.c;
		f->now += 100;
	}
	assert_int_equal(sizes[0], 100);
	assert_int_equal(sizes[1], 200);
	assert_int_equal(sizes[2], 400);
	assert_int_equal(sizes[3], 400);
	/* Slow: halves down to min_chunk. */
	for (int i = 0; i < 4; i++) {
		f->now += 3 * (int64_t) f->cfg.target_range_ms;
		assert_int_equal(beat(f, a), SR_OK);
		struct range_chunk ch = lease(f, a, "d", after);
		after = range_end(&ch);
		if (i < 2)
			sizes[4 + i] = ch.c;
		else
			assert_int_equal(ch.c, 50);
	}
	assert_int_equal(sizes[4], 200);
	assert_int_equal(sizes[5], 100);
}

/* Prefetch off is stored with the sequence and survives a restart; the chunk
 * size then stays fixed (a grown chunk would be held ahead of callers)
 * unless the operator gave the bounds. Prefetch stays on by default. */
static void
test_no_prefetch(void **state)
{
	struct fx *f = *state;
	struct catalog_seq_spec t = {.name = "t",
	    .chunk = 1,
	    .mode = STORE_MODE_BLOCK,
	    .no_prefetch = 1};
	struct catalog_seq_spec g = {.name = "g", .chunk = 1, .max_chunk = 8, .no_prefetch = 1};
	struct catalog_seq_info info;
	assert_int_equal(catalog_seq_create(f->cat, &t, f->now, &info), SR_OK);
	assert_int_equal(info.row.prefetch, 0);
	assert_int_equal(info.row.max_chunk, 1);
	assert_int_equal(catalog_seq_create(f->cat, &g, f->now, &info), SR_OK);
	assert_int_equal(info.row.max_chunk, 8);
	create(f, "on", 1, 0, STORE_MODE_BLOCK);
	reopen(f);
	struct store_seq row;
	assert_int_equal(catalog_seq_get(f->cat, "t", &row), SR_OK);
	assert_int_equal(row.prefetch, 0);
	assert_int_equal(catalog_seq_get(f->cat, "on", &row), SR_OK);
	assert_int_equal(row.prefetch, 1);
	assert_true(row.max_chunk > 1);
	assert_int_equal(catalog_seq_get(f->cat, "nope", &row), SR_ENOTFOUND);
	/* Ranges taken in quick succession: "t" stays at one ID per lease. */
	uint64_t a = join(f, "a"), after = 0;
	for (uint64_t i = 1; i <= 5; i++) {
		struct range_chunk ch = lease(f, a, "t", after);
		assert_int_equal(ch.c, 1);
		assert_int_equal(range_id(&ch, 1), i);
		after = range_end(&ch);
		f->now += 10;
	}
}

static void
test_after_above_hwm_refused(void **state)
{
	struct fx *f = *state;
	create(f, "s", 10, 0, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a");
	struct range_chunk ch;
	assert_int_equal(catalog_lease(f->cat, a, "s", 5000, f->now, &ch), SR_EINVAL);
	assert_non_null(strstr(catalog_errmsg(f->cat), "state was lost"));
}

/* A dropped name's IDs are never issued again. */
static void
test_drop_and_recreate(void **state)
{
	struct fx *f = *state;
	create(f, "s", 10, 0, STORE_MODE_INTERLEAVED);
	uint64_t a = join(f, "a");
	struct range_chunk c1 = lease(f, a, "s", 0);
	assert_int_equal(catalog_seq_drop(f->cat, "s"), SR_OK);
	assert_int_equal(catalog_seq_count(f->cat), 0);
	struct range_chunk ch;
	assert_int_equal(catalog_lease(f->cat, a, "s", 0, f->now, &ch), SR_ENOTFOUND);
	reopen(f); /* the tombstone is durable */
	assert_int_equal(catalog_seq_count(f->cat), 0);
	/* The start is raised above the dropped sequence's IDs and says so:
	 * it is the first ID the new one issues. */
	struct catalog_seq_spec spec = {.name = "s", .chunk = 10};
	struct catalog_seq_info info;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, &info), SR_OK);
	assert_int_equal(info.row.start, range_end(&c1) + 1);
	struct store_seq row;
	assert_int_equal(catalog_seq_get(f->cat, "s", &row), SR_OK);
	assert_int_equal(row.start, range_end(&c1) + 1);
	struct range_chunk c2 = lease(f, a, "s", 0);
	assert_true(range_id(&c2, 1) > range_id(&c1, c1.c));
	assert_int_equal(range_id(&c2, 1), info.row.start);
	/* A start above the old IDs is kept as given. */
	assert_int_equal(catalog_seq_drop(f->cat, "s"), SR_OK);
	spec.start = 5000;
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, &info), SR_OK);
	assert_int_equal(info.row.start, 5000);
}

static int
cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;
	return a < b ? -1 : a > b;
}

/* Random leases from several nodes with restarts and injected failures:
 * every ID of every chunk handed out is unique, and each node's chunks
 * are increasing. */
static void
test_random_leases_unique(void **state)
{
	struct fx *f = *state;
	struct catalog_seq_spec spec = {.name = "s", .chunk = 7, .max_chunk = 28, .spare = 1};
	assert_int_equal(catalog_seq_create(f->cat, &spec, f->now, NULL), SR_OK);
	enum { NODES = 5, STEPS = 3000 };
	uint64_t ids[NODES], after[NODES] = {0}, last[NODES] = {0};
	char name[8];
	for (int i = 0; i < NODES; i++) {
		name[0] = (char) ('a' + i);
		name[1] = 0;
		ids[i] = join(f, name);
	}
	uint64_t *seen = calloc(400000, sizeof(uint64_t));
	size_t nseen = 0;
	uint64_t seed = 7;
	for (int step = 0; step < STEPS; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int who = (int) ((seed >> 33) % NODES);
		int event = (int) ((seed >> 40) % 100);
		f->now += 10;
		if (event < 2) {
			reopen(f);
			continue;
		}
		if (event < 4)
			f->st.fail_commits = 1;
		if (event < 6)
			after[who] = 0; /* the coordinator restarted */
		struct range_chunk ch;
		int rv = catalog_lease(f->cat, ids[who], "s", after[who], f->now, &ch);
		if (rv != SR_OK) {
			assert_int_equal(rv, SR_EIO);
			f->st.fail_commits = 0;
			continue;
		}
		assert_true(range_id(&ch, 1) > last[who]);
		last[who] = range_id(&ch, ch.c);
		after[who] = range_end(&ch);
		for (uint64_t i = 1; i <= ch.c; i++) {
			assert_true(nseen < 400000);
			seen[nseen++] = range_id(&ch, i);
		}
	}
	qsort(seen, nseen, sizeof(uint64_t), cmp);
	for (size_t i = 1; i < nseen; i++)
		assert_true(seen[i] != seen[i - 1]);
	assert_true(nseen > 1000);
	free(seen);
}

/* ---- worker ids ---- */

static struct catalog_grant
join_grant(struct fx *f, const char *name, uint64_t *id)
{
	struct catalog_grant g;
	assert_int_equal(catalog_node_join(f->cat, name, "", f->now, id, &g), SR_OK);
	return g;
}

static struct catalog_grant
renew(struct fx *f, uint64_t node, const struct catalog_grant *held, uint64_t tick)
{
	struct catalog_grant g;
	assert_int_equal(catalog_node_heartbeat(f->cat, node, f->now, held->has, held->worker_id,
	                     tick, &g),
	    SR_OK);
	return g;
}

/* The master's tick at f->now plus skew_ms: what a node whose clock is
 * skew_ms ahead of the master's reports. */
static uint64_t
tick_at(const struct fx *f, int64_t skew_ms)
{
	return (uint64_t) (f->now + skew_ms - f->cfg.layout.epoch_ms) / f->cfg.layout.unit_ms;
}

/* Two worker ids (worker_bits 1): a third node gets none until one lease
 * has expired plus the grace period, and then a floor above every tick the
 * previous holder reported plus one TTL. The previous holders' clocks run
 * 1.5 s ahead of the master's (within the tolerated skew), so the floor
 * rule "last reported tick + TTL" is what the assertions test: the lease's
 * end (in the master's clock) lies below it, and a floor of only the reported tick would let the
 * new holder reissue what the old one issued after its last report (docs/guarantees.md, txids). */
static void
test_worker_reuse_after_expiry(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	f->cfg.layout.seq_bits = 12;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	f->st.term = 0;
	reopen(f);
	uint64_t a, b, c;
	struct catalog_grant ga = join_grant(f, "a", &a), gb = join_grant(f, "b", &b);
	assert_true(ga.has && gb.has);
	assert_int_not_equal(ga.worker_id, gb.worker_id);
	assert_int_equal(ga.floor_tick, 0);
	struct catalog_grant gc = join_grant(f, "c", &c);
	assert_false(gc.has);
	/* a, 1.5 s ahead, reports its tick and then dies; b keeps renewing. */
	uint64_t a_tick = tick_at(f, 1500);
	struct catalog_grant r = renew(f, a, &ga, a_tick);
	assert_true(r.has);
	assert_int_equal(r.worker_id, ga.worker_id);
	int64_t a_last = f->now;
	for (int i = 0; i < 4; i++) {
		f->now += f->cfg.lease_ttl_ms / 3;
		assert_true(renew(f, b, &gb, 0).has);
		/* Not before expiry plus grace. */
		if (f->now < a_last + (int64_t) (f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms))
			assert_false(renew(f, c, &gc, 0).has);
	}
	f->now = a_last + f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	assert_true(renew(f, b, &gb, 0).has);
	gc = renew(f, c, &gc, 0);
	assert_true(gc.has);
	assert_int_equal(gc.worker_id, ga.worker_id);
	uint64_t ttl_ticks = f->cfg.lease_ttl_ms / f->cfg.layout.unit_ms;
	/* a may have issued up to one TTL past its last report, in its clock. */
	uint64_t end_tick = (uint64_t) (a_last + f->cfg.lease_ttl_ms - f->cfg.layout.epoch_ms) /
	    f->cfg.layout.unit_ms;
	assert_true(a_tick > end_tick - ttl_ticks); /* the report decides */
	assert_int_equal(gc.floor_tick, a_tick + ttl_ticks);
	/* With a clock in sync (or behind), the expiry tick bounds it: a
	 * holder may issue up to its lease's end. */
	uint64_t d;
	struct catalog_grant gd_none = join_grant(f, "d", &d);
	assert_false(gd_none.has);
	assert_true(renew(f, c, &gc, tick_at(f, -3000)).has);
	int64_t c_last = f->now;
	f->now = c_last + f->cfg.lease_ttl_ms / 2; /* b stays live throughout */
	assert_true(renew(f, b, &gb, 0).has);
	f->now = c_last + f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	assert_int_equal(renew(f, b, &gb, 0).worker_id, gb.worker_id);
	struct catalog_grant gd = renew(f, d, &gd_none, 0);
	assert_true(gd.has);
	assert_int_equal(gd.worker_id, gc.worker_id);
	assert_int_equal(gd.floor_tick,
	    (uint64_t) (c_last + f->cfg.lease_ttl_ms - f->cfg.layout.epoch_ms) /
	        f->cfg.layout.unit_ms);
	/* a comes back: its old grant is gone, and no id is free. */
	struct catalog_grant lost = renew(f, a, &ga, tick_at(f, 1500));
	assert_false(lost.has);
	/* b, 1.5 s ahead, leaves: its id is free after the grace period only,
	 * with a floor one TTL above the tick b reported when it left. */
	uint64_t b_tick = tick_at(f, 1500);
	assert_int_equal(catalog_node_leave(f->cat, b, b_tick, f->now), SR_OK);
	assert_false(renew(f, a, &lost, 0).has);
	f->now += f->cfg.worker_grace_ms;
	struct catalog_grant ga2 = renew(f, a, &lost, 0);
	assert_true(ga2.has);
	assert_int_equal(ga2.worker_id, gb.worker_id);
	assert_int_equal(ga2.floor_tick, b_tick + ttl_ticks);
}

/* A node holds at most one worker id: asking again, by Join or by a
 * Heartbeat that claims none, gets no second one (issue 10: one node took
 * 806 ids that way); once its lease ended plus grace it gets the same id
 * back, above everything its earlier run may have issued. */
static void
test_one_worker_per_node(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	reopen(f);
	uint64_t a, a2, b;
	struct catalog_grant g1 = join_grant(f, "a", &a), none = {0};
	assert_true(g1.has);
	for (int i = 0; i < 100; i++) {
		assert_false(join_grant(f, "a", &a2).has);
		assert_int_equal(a, a2);
		assert_false(renew(f, a, &none, 0).has);
	}
	struct catalog_grant gb = join_grant(f, "b", &b);
	assert_true(gb.has);
	assert_int_not_equal(gb.worker_id, g1.worker_id);
	/* Its own renewal still works (its clock 1.5 s ahead of ours). */
	uint64_t tick = tick_at(f, 1500);
	struct catalog_grant r = renew(f, a, &g1, tick);
	assert_true(r.has);
	assert_int_equal(r.worker_id, g1.worker_id);
	/* After its lease and the grace period, the same id comes back with a
	 * floor above its reported tick plus one TTL. */
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	assert_true(renew(f, b, &gb, 0).has);
	struct catalog_grant g3 = join_grant(f, "a", &a2);
	assert_true(g3.has);
	assert_int_equal(g3.worker_id, g1.worker_id);
	assert_true(g3.floor_tick >= tick + f->cfg.lease_ttl_ms / f->cfg.layout.unit_ms);
}

/* New names beyond max_nodes live nodes are refused; known names re-join,
 * and dead nodes make room. */
static void
test_live_node_cap(void **state)
{
	struct fx *f = *state;
	f->cfg.max_nodes = 3;
	reopen(f);
	uint64_t id;
	struct catalog_grant g;
	join(f, "a");
	join(f, "b");
	join(f, "c");
	assert_int_equal(catalog_node_join(f->cat, "d", "", f->now, &id, &g), SR_EUNAVAILABLE);
	assert_non_null(strstr(catalog_errmsg(f->cat), "max-nodes"));
	join(f, "a");
	f->now += f->cfg.lease_ttl_ms + 1;
	join(f, "d");
}

/* After a master restart stored grants count as live for one TTL. */
static void
test_restart_keeps_grants_live(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	reopen(f);
	uint64_t a, b, c;
	struct catalog_grant ga = join_grant(f, "a", &a);
	join_grant(f, "b", &b);
	(void) ga;
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms; /* both expired */
	reopen(f);
	assert_false(join_grant(f, "c", &c).has);
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	assert_true(join_grant(f, "c", &c).has);
}

/*
 * A master restarted with a shorter TTL keeps every stored grant to its
 * stored end, and a renewal never moves a grant's end earlier (issue 8): the
 * holder learns the new TTL only from the renewal's reply, and while that
 * reply is in flight (or lost) it relies on the end the old TTL gave it.
 * Node a renews once under the new TTL and then goes silent: its id stays
 * taken until the old end plus the grace period.
 */
static void
test_shorter_ttl_never_cuts_a_grant(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	f->cfg.lease_ttl_ms = 10000;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	reopen(f);
	uint64_t a, b, c;
	struct catalog_grant ga = join_grant(f, "a", &a), gb = join_grant(f, "b", &b);
	assert_true(ga.has && gb.has);
	int64_t a_end = f->now + 10000;
	f->now += 1000;
	f->cfg.lease_ttl_ms = 600;
	reopen(f);
	f->now += 1000;
	struct catalog_grant r = renew(f, a, &ga, 0);
	assert_true(r.has);
	assert_int_equal(r.worker_id, ga.worker_id);
	struct catalog_grant none = {0}, gc = {0};
	assert_false(join_grant(f, "c", &c).has);
	int64_t free_at = a_end + (int64_t) f->cfg.worker_grace_ms;
	for (; f->now < free_at; f->now += 200) {
		assert_true(renew(f, b, &gb, 0).has);
		gc = renew(f, c, &none, 0);
		assert_false(gc.has);
	}
	f->now = free_at;
	assert_true(renew(f, b, &gb, 0).has);
	gc = renew(f, c, &none, 0);
	assert_true(gc.has);
	assert_int_equal(gc.worker_id, ga.worker_id);
	/* Above every tick a could have issued: at least its lease's end. */
	assert_true(gc.floor_tick >= (uint64_t) (a_end - f->cfg.layout.epoch_ms));
}

/* A node restarted under its name right after a master restart with a
 * shorter TTL: its old run may issue until the end its grant got under the
 * old TTL, so it gets its id back only after that end plus grace, and the
 * new run's floor is at least that end (its txids stay increasing), not its
 * last report plus the new TTL. */
static void
test_rejoin_after_shorter_ttl(void **state)
{
	struct fx *f = *state;
	f->cfg.lease_ttl_ms = 10000;
	reopen(f);
	uint64_t a, a2;
	struct catalog_grant g1 = join_grant(f, "a", &a);
	assert_true(g1.has);
	int64_t end = f->now + 10000;
	f->now += 100;
	f->cfg.lease_ttl_ms = 600;
	reopen(f);
	/* One worker id per node: none while the old run may hold it. */
	struct catalog_grant g2 = join_grant(f, "a", &a2);
	assert_false(g2.has);
	f->now = end + f->cfg.worker_grace_ms;
	g2 = join_grant(f, "a", &a2);
	assert_true(g2.has);
	assert_int_equal(g1.worker_id, g2.worker_id);
	assert_true(g2.floor_tick >= (uint64_t) (end - f->cfg.layout.epoch_ms));
}

static void
test_layout_fixed(void **state)
{
	struct fx *f = *state;
	assert_true(store_layout_set(&f->st.layout));
	assert_int_equal(f->st.layout.worker_bits, 10);
	catalog_close(f->cat);
	f->cfg.layout.seq_bits = 11;
	f->cfg.layout.time_bits = 42;
	assert_int_equal(catalog_open(&f->st.base, &f->cfg, f->now, &f->cat, NULL, 0), SR_EINVAL);
	f->cat = NULL;
}

/* A tick from the far future is refused, not stored: the next holder of the
 * worker id gets a floor near the clock, not above 2^63-1 (issue 10). */
static void
test_future_tick_refused(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	reopen(f);
	uint64_t a, b, c, g;
	struct catalog_grant ga = join_grant(f, "a", &a), gr;
	join_grant(f, "b", &b);
	uint64_t now_tick = (uint64_t) (f->now - f->cfg.layout.epoch_ms);
	/* Within the skew: taken. */
	assert_true(renew(f, a, &ga, now_tick + f->cfg.max_skew_ms).has);
	uint64_t bad[] = {UINT64_MAX, (uint64_t) INT64_MAX, now_tick + f->cfg.max_skew_ms + 1};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(catalog_node_heartbeat(f->cat, a, f->now, 1, ga.worker_id, bad[i],
		                     &gr),
		    SR_EINVAL);
		assert_non_null(strstr(catalog_errmsg(f->cat), "skew"));
		assert_int_equal(catalog_node_leave(f->cat, a, bad[i], f->now), SR_EINVAL);
	}
	/* Nothing was stored, across a restart too: once a's lease ended, the
	 * next holder's floor is its last honest tick plus one TTL. */
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	reopen(f);
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	assert_int_equal(catalog_node_leave(f->cat, b, 0, f->now), SR_OK);
	struct catalog_grant gc = join_grant(f, "c", &c);
	assert_true(gc.has);
	uint64_t ttl_ticks = f->cfg.lease_ttl_ms / f->cfg.layout.unit_ms;
	uint64_t cur_tick = (uint64_t) (f->now - f->cfg.layout.epoch_ms);
	assert_true(gc.floor_tick <= cur_tick + ttl_ticks);
	/* a's last renewal was stored GRANTS_AHEAD_TTLS TTLs ahead (grants.h):
	 * after the restart its id stays taken until that end plus grace. */
	f->now += (int64_t) f->cfg.lease_ttl_ms * GRANTS_AHEAD_TTLS + f->cfg.worker_grace_ms;
	cur_tick = (uint64_t) (f->now - f->cfg.layout.epoch_ms);
	struct catalog_grant gg = join_grant(f, "g", &g);
	assert_true(gg.has);
	assert_true(gg.floor_tick <= cur_tick + ttl_ticks);
}

/*
 * Heartbeats of a live holder commit rarely (issue 10: at one fsync per
 * heartbeat under the master's mutex, 1,000 coordinators pushed heartbeat
 * p99 to 100 ms): its renewal is stored GRANTS_AHEAD_TTLS TTLs ahead and
 * later beats within that change memory only. On the code before, every
 * beat was a commit. And a master restarted from what was stored (the last
 * beats never committed) still keeps the id from another node until the
 * holder's end plus grace, and puts the next holder above the holder's last
 * reported tick plus one TTL, here with the holder's clock 1.9 s ahead.
 */
static void
test_heartbeats_rarely_commit(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	reopen(f);
	uint64_t a, b, c;
	struct catalog_grant ga = join_grant(f, "a", &a), gb = join_grant(f, "b", &b);
	assert_true(ga.has && gb.has);
	int before = f->st.commits, beats = 0;
	int64_t step = f->cfg.lease_ttl_ms / 3, end = f->now;
	uint64_t last = 0;
	for (int i = 0; i < 40; i++, beats++) {
		f->now += step;
		last = tick_at(f, 1900);
		assert_true(renew(f, a, &ga, last).has);
		end = f->now + f->cfg.lease_ttl_ms;
	}
	int commits = f->st.commits - before;
	assert_true(commits >= 1);
	assert_true(commits * 5 <= beats);
	/* The crash: a's last beats live only in memory; a goes silent. */
	reopen(f);
	f->now = end + f->cfg.worker_grace_ms;
	assert_int_equal(catalog_node_leave(f->cat, b, 0, f->now), SR_OK);
	struct catalog_grant none = {0}, gc;
	/* b's id first (its lease ended at the leave); then a's, only after
	 * a's stored end and the grace period. */
	f->now += f->cfg.worker_grace_ms;
	gc = join_grant(f, "c", &c);
	assert_true(gc.has);
	assert_int_equal(gc.worker_id, gb.worker_id);
	uint64_t d;
	struct catalog_grant gd;
	assert_int_equal(catalog_node_join(f->cat, "d", "", f->now, &d, &gd), SR_OK);
	for (int i = 0; i < 100 && !gd.has; i++) {
		f->now += step;
		gc = renew(f, c, &gc, 0);
		assert_true(gc.has);
		gd = renew(f, d, &none, 0);
	}
	if (gd.has) {
		assert_int_equal(gd.worker_id, ga.worker_id);
		assert_true(f->now >= end + (int64_t) f->cfg.worker_grace_ms);
		assert_true(gd.floor_tick >= last + f->cfg.lease_ttl_ms);
		return;
	}
	fail_msg("a's worker id was never free again");
}

/* A renewal that cannot be made durable is not a renewal. */
static void
test_worker_commit_failure(void **state)
{
	struct fx *f = *state;
	uint64_t a;
	struct catalog_grant ga = join_grant(f, "a", &a), g;
	f->st.fail_commits = 1;
	assert_int_equal(catalog_node_heartbeat(f->cat, a, f->now, 1, ga.worker_id, 10, &g),
	    SR_EIO);
	assert_false(g.has);
}

/* Two processes never act as one node (issue 9): while a node's lease is
 * live, a join under its name from another instance is refused; the holder
 * itself may join again (a lost reply); the name frees when the holder
 * leaves or its lease runs out. Instance 0 (unknown) is never trusted as the
 * holder of a live name. */
static void
test_held_name_refused(void **state)
{
	struct fx *f = *state;
	uint64_t id, id2;
	struct catalog_grant g;
	assert_int_equal(catalog_node_join_as(f->cat, "a", "", 11, f->now, &id, &g), SR_OK);
	f->now += 10;
	assert_int_equal(catalog_node_join_as(f->cat, "a", "", 22, f->now, &id2, &g), SR_EEXISTS);
	assert_non_null(strstr(catalog_errmsg(f->cat), "held by a live process"));
	assert_int_equal(catalog_node_join_as(f->cat, "a", "", 0, f->now, &id2, &g), SR_EEXISTS);
	assert_int_equal(catalog_node_join_as(f->cat, "a", "", 11, f->now, &id2, &g), SR_OK);
	assert_int_equal(id2, id);
	const char *name;
	assert_int_equal(catalog_node_name(f->cat, id, &name), SR_OK);
	assert_string_equal(name, "a");
	assert_int_equal(catalog_node_name(f->cat, 999, &name), SR_ENOTJOINED);

	/* Expired: another instance may take the name (same node id). */
	f->now += f->cfg.lease_ttl_ms + 1;
	assert_int_equal(catalog_node_join_as(f->cat, "a", "", 22, f->now, &id2, &g), SR_OK);
	assert_int_equal(id2, id);
	/* Left: free at once. */
	assert_int_equal(catalog_node_leave(f->cat, id, 0, f->now), SR_OK);
	assert_int_equal(catalog_node_join_as(f->cat, "a", "", 33, f->now, &id2, &g), SR_OK);
}

/* Paging (issue 10): every live sequence exactly once, in name order, in
 * pages of any size, tombstones skipped; the same for nodes in id order,
 * also after a reopen (the catalog sorts what the store loads). */
static void
test_paging(void **state)
{
	struct fx *f = *state;
	char name[32];
	/* Created out of order, every third one dropped. */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%02d", (i * 7) % 40);
		create(f, name, 10, 0, 0);
	}
	for (int i = 0; i < 40; i += 3) {
		snprintf(name, sizeof(name), "s%02d", i);
		assert_int_equal(catalog_seq_drop(f->cat, name), SR_OK);
	}
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		join(f, name);
	}
	for (int round = 0; round < 2; round++) {
		for (size_t lim = 1; lim <= 30; lim += 4) {
			struct catalog_seq_info page[30];
			char after[STORE_NAME_MAX + 1] = "";
			int seen = 0, more = 1;
			size_t n;
			while (more) {
				more = catalog_seq_page(f->cat, after, lim, f->now, page, &n);
				assert_true(n <= lim);
				assert_true(n > 0 || !more);
				for (size_t i = 0; i < n; i++) {
					while (seen % 3 == 0)
						seen++;
					snprintf(name, sizeof(name), "s%02d", seen++);
					assert_string_equal(page[i].row.name, name);
				}
				if (n > 0)
					snprintf(after, sizeof(after), "%s", page[n - 1].row.name);
			}
			while (seen % 3 == 0)
				seen++;
			assert_int_equal(seen, 40);

			struct catalog_node_info np[30];
			uint64_t last = 0;
			size_t total = 0;
			more = 1;
			while (more) {
				more = catalog_node_page(f->cat, last, lim, f->now, np, &n);
				assert_true(n <= lim);
				for (size_t i = 0; i < n; i++) {
					assert_true(np[i].row.id > last);
					last = np[i].row.id;
					snprintf(name, sizeof(name), "n%02zu", total++);
					assert_string_equal(np[i].row.name, name);
				}
			}
			assert_int_equal(total, 12);
		}
		/* A cursor that names no sequence starts after where it sorts. */
		struct catalog_seq_info one;
		size_t n;
		assert_int_equal(catalog_seq_page(f->cat, "s10x", 1, f->now, &one, &n), 1);
		assert_string_equal(one.row.name, "s11");
		assert_int_equal(catalog_seq_page(f->cat, "zz", 1, f->now, &one, &n), 0);
		assert_int_equal(n, 0);
		reopen(f);
	}
}

/* node remove and retention (issue 10): a live node is refused, a dead one
 * forgotten with its worker rows (the floors) kept; its name joins again as
 * a new node id, above the old grant's tick; nodes dead longer than the
 * retention go by themselves. */
static void
test_node_remove(void **state)
{
	struct fx *f = *state;
	uint64_t id, id2, other;
	struct catalog_grant g, g2;
	assert_int_equal(catalog_node_join(f->cat, "gone", "", f->now, &id, &g), SR_OK);
	assert_true(g.has);
	other = join(f, "other");
	uint64_t tick = (uint64_t) (f->now - f->cfg.layout.epoch_ms) + 5;
	assert_int_equal(catalog_node_heartbeat(f->cat, id, f->now, 1, g.worker_id, tick, &g2),
	    SR_OK);
	assert_int_equal(catalog_node_remove(f->cat, id, f->now), SR_EEXISTS);
	assert_non_null(strstr(catalog_errmsg(f->cat), "live"));
	assert_int_equal(catalog_node_remove(f->cat, 999, f->now), SR_ENOTJOINED);
	/* The node with the highest id, so a reused id would show. */
	assert_int_equal(catalog_node_leave(f->cat, other, 0, f->now), SR_OK);
	f->now += f->cfg.lease_ttl_ms + 1;
	assert_int_equal(catalog_node_leave(f->cat, id, 0, f->now), SR_OK);
	assert_int_equal(catalog_node_remove(f->cat, other, f->now), SR_OK);
	assert_int_equal(catalog_node_remove(f->cat, id, f->now), SR_OK);
	assert_int_equal(catalog_node_count(f->cat), 0);
	assert_int_equal(f->st.nnodes, 0);
	assert_true(f->st.nworkers >= 1);
	reopen(f);
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms + 1;
	assert_int_equal(catalog_node_join(f->cat, "gone", "", f->now, &id2, &g2), SR_OK);
	assert_true(id2 > other);
	assert_true(g2.has);
	if (g2.worker_id == g.worker_id)
		assert_true(g2.floor_tick >= tick);

	/* Retention: a node dead for longer is forgotten, a live one stays. */
	size_t n;
	f->cfg.node_retention_ms = 60000;
	reopen(f);
	uint64_t old = join(f, "old");
	f->now += 60000 + f->cfg.lease_ttl_ms + 1;
	uint64_t fresh = join(f, "fresh");
	assert_int_equal(catalog_node_expire(f->cat, f->now, &n), SR_OK);
	assert_int_equal(n, 2); /* old and gone */
	const char *name;
	assert_int_equal(catalog_node_name(f->cat, old, &name), SR_ENOTJOINED);
	assert_int_equal(catalog_node_name(f->cat, fresh, &name), SR_OK);
	f->cfg.node_retention_ms = 0;
	reopen(f);
	f->now += INT64_C(365) * 24 * 3600 * 1000;
	assert_int_equal(catalog_node_expire(f->cat, f->now, &n), SR_OK);
	assert_int_equal(n, 0);
}

/* Who held worker id 0 at tick: the holder's name, or "" with rv. */
static int
holder(struct fx *f, uint64_t tick, struct catalog_holder *h)
{
	return catalog_worker_holder(f->cat, 0, tick, h);
}

/* Node `from` leaves and, after the grace period, `to` joins and gets its
 * worker id (the only one): the new holder's grant. */
static struct catalog_grant
hand_over(struct fx *f, uint64_t from, const char *to, uint64_t *id)
{
	assert_int_equal(catalog_node_leave(f->cat, from, tick_at(f, 0), f->now), SR_OK);
	f->now += f->cfg.worker_grace_ms;
	struct catalog_grant g = join_grant(f, to, id);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 0);
	return g;
}

/*
 * The worker history is stored in the commit of the grant it records
 * (issue 14): decode names a txid's holder after a master restart, and
 * after the node was removed; a grant whose commit fails leaves no era;
 * the store keeps at most worker_history eras, the oldest deleted in the
 * commit of the grant that passes the bound; 0 keeps none. Before, the
 * history lived in memory only and a restart lost it.
 */
static void
test_worker_history_stored(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 51;
	f->cfg.layout.worker_bits = 0; /* one worker id: every grant hands it over */
	f->cfg.worker_history = 3;
	memset(&f->st.layout, 0, sizeof(f->st.layout)); /* none stored */
	reopen(f);
	uint64_t a, b, c, d, e;
	struct catalog_holder h;
	int commits = f->st.commits;
	struct catalog_grant ga = join_grant(f, "a", &a);
	assert_true(ga.has);
	assert_int_equal(f->st.commits, commits + 1); /* node, grant and era together */
	assert_int_equal(f->st.neras, 1);
	assert_int_equal(f->st.eras[0].seq, 1);
	assert_int_equal(f->st.eras[0].node_id, a);
	assert_string_equal(f->st.eras[0].name, "a");
	assert_int_equal(f->st.eras[0].floor_tick, 0);
	assert_int_equal(f->st.eras[0].granted_ms, f->now);
	uint64_t a_tick = tick_at(f, 0);

	struct catalog_grant gb = hand_over(f, a, "b", &b);
	assert_true(gb.floor_tick >= a_tick);
	assert_int_equal(f->st.neras, 2);
	assert_int_equal(f->st.eras[1].floor_tick, gb.floor_tick);

	/* A grant that is not stored has no era either. */
	assert_int_equal(catalog_node_leave(f->cat, b, tick_at(f, 0), f->now), SR_OK);
	f->now += f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	f->st.fail_commits = 1;
	struct catalog_grant g;
	assert_int_equal(catalog_node_join(f->cat, "c", "", f->now, &c, &g), SR_EIO);
	assert_int_equal(f->st.neras, 2);
	assert_int_equal(holder(f, gb.floor_tick + 5, &h), SR_OK);
	assert_string_equal(h.name, "b");
	struct catalog_grant gc = join_grant(f, "c", &c);
	assert_true(gc.has);
	assert_int_equal(f->st.neras, 3);

	/* A restart loads the history: every holder named, certain, also a
	 * after its removal from the catalog. */
	reopen(f);
	assert_int_equal(catalog_node_remove(f->cat, a, f->now), SR_OK);
	assert_int_equal(holder(f, a_tick, &h), SR_OK);
	assert_true(h.certain);
	assert_int_equal(h.node_id, a);
	assert_string_equal(h.name, "a");
	assert_int_equal(h.to_tick, gb.floor_tick);
	assert_int_equal(holder(f, gb.floor_tick + 1, &h), SR_OK);
	assert_true(h.certain);
	assert_string_equal(h.name, "b");
	assert_int_equal(holder(f, gc.floor_tick + 1, &h), SR_OK);
	assert_string_equal(h.name, "c");
	assert_int_equal(h.to_tick, 0);

	/* A fourth era passes the bound of 3: a's goes, in the same commit. */
	commits = f->st.commits;
	struct catalog_grant gd = hand_over(f, c, "d", &d);
	assert_int_equal(f->st.commits, commits + 2); /* the leave, the join */
	assert_int_equal(f->st.neras, 3);
	assert_int_equal(f->st.eras[0].seq, 2);
	assert_int_equal(f->st.eras[2].seq, 4);
	assert_int_equal(holder(f, a_tick, &h), SR_ENOTFOUND);
	assert_int_equal(holder(f, gd.floor_tick + 1, &h), SR_OK);
	assert_string_equal(h.name, "d");
	reopen(f);
	assert_int_equal(holder(f, a_tick, &h), SR_ENOTFOUND);
	assert_int_equal(holder(f, gb.floor_tick + 1, &h), SR_OK);
	assert_string_equal(h.name, "b");

	/* worker_history 0: the next grant deletes what is stored, and the
	 * holder shown is the current one, not certain. */
	f->cfg.worker_history = 0;
	reopen(f);
	struct catalog_grant ge = hand_over(f, d, "e", &e);
	assert_int_equal(f->st.neras, 0);
	assert_int_equal(holder(f, ge.floor_tick + 1, &h), SR_OK);
	assert_false(h.certain);
	assert_string_equal(h.name, "e");
}

/* ---- worker claims (docs/snowflake.md, "Claims") ---- */

/* Wipes the store (a deleted data dir, an empty etcd prefix) and opens a
 * master on it with the wait for claims of the defaults. */
static void
lose_store(struct fx *f)
{
	catalog_close(f->cat);
	f->cat = NULL;
	struct store base = f->st.base;
	memset(&f->st, 0, sizeof(f->st));
	f->st.base = base;
	f->cfg.claim_wait_ms = CATALOG_CLAIM_WAIT_AUTO;
	assert_int_equal(catalog_open(&f->st.base, &f->cfg, f->now, &f->cat, NULL, 0), SR_OK);
}

/*
 * The case of the gap: a holds worker id 0 and issues; the master loses
 * its store. On the new one nothing is granted for a heartbeat interval
 * plus the grace (b joins and gets no id, told how long to wait), a's next
 * heartbeat is not known there, a joins again with its claim and keeps id
 * 0, and b, once the wait is over, gets the other id, never a's: two ids,
 * and c gets none while a's claim is live.
 */
static void
test_claim_after_lost_store(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout));
	f->st.term = 0;
	reopen(f);
	uint64_t a, b, c;
	struct catalog_grant ga = join_grant(f, "a", &a);
	assert_true(ga.has);
	assert_int_equal(ga.worker_id, 0);
	f->now += 1000;
	lose_store(f);
	int64_t wait = f->cfg.lease_ttl_ms / 3 + f->cfg.worker_grace_ms;
	assert_int_equal(catalog_worker_wait(f->cat, f->now), wait);
	struct catalog_grant gb = join_grant(f, "b", &b);
	assert_false(gb.has);
	f->now += 100;
	struct catalog_grant g;
	/* a's heartbeat: its node id is b's now, or unknown; it joins again. */
	struct catalog_claim cl = {ga.worker_id, tick_at(f, 0), 7000, 0, 0};
	uint64_t a2;
	assert_int_equal(catalog_node_join_claim(f->cat, "a", "", 0, &cl, f->now, &a2, &g), SR_OK);
	assert_int_equal(cl.outcome, CATALOG_CLAIM_ADOPTED);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 0);
	assert_int_equal(g.floor_tick, 0);
	/* Still waiting for other claims: b gets nothing yet. */
	assert_false(renew(f, b, &gb, 0).has);
	f->now += wait;
	gb = renew(f, b, &gb, 0);
	assert_true(gb.has);
	assert_int_equal(gb.worker_id, 1);
	assert_false(join_grant(f, "c", &c).has);
	/* a's later heartbeats renew as usual; a claim with them changes
	 * nothing more (the store knows the grant now). */
	struct catalog_claim again = {0, tick_at(f, 0), 7000, 0, 0};
	assert_int_equal(catalog_node_heartbeat_claim(f->cat, a2, f->now, 1, 0, tick_at(f, 0),
	                     &again, &g),
	    SR_OK);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 0);
	assert_int_equal(again.outcome, CATALOG_CLAIM_NONE);
	/* The adoption was stored: a master restarted from this store keeps
	 * id 0 as a's, and waits for nothing (it has grants). */
	reopen(f);
	assert_int_equal(catalog_worker_wait(f->cat, f->now), 0);
	assert_false(join_grant(f, "d", &c).has);
}

/* A store that holds grants starts granting at once; an empty one waits
 * cfg.claim_wait_ms (0: not at all). */
static void
test_claim_wait_only_when_empty(void **state)
{
	struct fx *f = *state;
	uint64_t a;
	f->cfg.claim_wait_ms = 1234;
	reopen(f); /* the fixture's store: empty */
	assert_int_equal(catalog_worker_wait(f->cat, f->now), 1234);
	assert_false(join_grant(f, "a", &a).has);
	f->now += 1234;
	assert_int_equal(catalog_worker_wait(f->cat, f->now), 0);
	assert_true(join_grant(f, "b", &a).has);
	reopen(f);
	assert_int_equal(catalog_worker_wait(f->cat, f->now), 0);
	assert_true(join_grant(f, "c", &a).has);
}

/*
 * A claim is checked like every input: a worker id outside the layout and
 * a tick beyond the tolerated skew are refused (nothing joins, nothing is
 * stored); a time left below 0 or absurdly long is clamped to 0 .. the TTL
 * (the id frees a TTL plus the grace after the claim, not in 292 million
 * years, and nothing overflows); a heartbeat whose claim names another id
 * than the one it renews is refused.
 */
static void
test_claim_checked(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout));
	f->st.term = 0;
	reopen(f);
	uint64_t id;
	struct catalog_grant g;
	int commits = f->st.commits;
	struct catalog_claim bad_id = {2, tick_at(f, 0), 100, 0, 0};
	assert_int_equal(catalog_node_join_claim(f->cat, "a", "", 0, &bad_id, f->now, &id, &g),
	    SR_EINVAL);
	assert_non_null(strstr(catalog_errmsg(f->cat), "worker id 2"));
	struct catalog_claim far = {0, tick_at(f, 60000), 100, 0, 0};
	assert_int_equal(catalog_node_join_claim(f->cat, "a", "", 0, &far, f->now, &id, &g),
	    SR_EINVAL);
	assert_non_null(strstr(catalog_errmsg(f->cat), "clock skew"));
	struct catalog_claim huge = {0, UINT64_MAX, 100, 0, 0};
	assert_int_equal(catalog_node_join_claim(f->cat, "a", "", 0, &huge, f->now, &id, &g),
	    SR_EINVAL);
	assert_int_equal(f->st.commits, commits);
	assert_int_equal(catalog_node_id(f->cat, "a", &id), SR_ENOTJOINED);

	/* An absurd time left: kept a TTL, then free. */
	struct catalog_claim forever = {0, tick_at(f, 0), INT64_MAX, 0, 0};
	uint64_t a;
	assert_int_equal(catalog_node_join_claim(f->cat, "a", "", 0, &forever, f->now, &a, &g),
	    SR_OK);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 0);
	/* A negative one: ended, adopted as held until now (then renewed). */
	struct catalog_claim past = {1, tick_at(f, 0), INT64_MIN, 0, 0};
	uint64_t b;
	assert_int_equal(catalog_node_join_claim(f->cat, "b", "", 0, &past, f->now, &b, &g), SR_OK);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 1);
	/* a heartbeats once more, then dies; c gets its id a TTL plus the
	 * grace later. */
	assert_int_equal(catalog_node_heartbeat_claim(f->cat, a, f->now, 1, 1, tick_at(f, 0),
	                     &forever, &g),
	    SR_EINVAL);
	assert_non_null(strstr(catalog_errmsg(f->cat), "claims 0"));
	int64_t last = f->now;
	f->now = last + f->cfg.lease_ttl_ms / 2; /* b renews meanwhile */
	assert_true(renew(f, b, &(struct catalog_grant) {1, 1, 0}, 0).has);
	f->now = last + f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms - 1;
	assert_true(renew(f, b, &(struct catalog_grant) {1, 1, 0}, 0).has);
	uint64_t c;
	assert_false(join_grant(f, "c", &c).has);
	f->now = last + f->cfg.lease_ttl_ms + f->cfg.worker_grace_ms;
	assert_true(renew(f, b, &(struct catalog_grant) {1, 1, 0}, 0).has);
	g = renew(f, c, &(struct catalog_grant) {0, 0, 0}, 0);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 0);
}

/*
 * A node holds at most one worker id, claims included (issue 10): a node
 * that claims the ids in turn holds one at a time. Each claim that moves it
 * ends its other grant at once, with the claim's tick in it, so another
 * node gets that id right away, above that tick plus one TTL; a claim on an
 * id another node holds live is not adopted.
 */
static void
test_claim_one_per_node(void **state)
{
	struct fx *f = *state;
	f->cfg.layout.time_bits = 50;
	f->cfg.layout.worker_bits = 1;
	memset(&f->st.layout, 0, sizeof(f->st.layout));
	f->st.term = 0;
	reopen(f);
	uint64_t evil, c;
	struct catalog_grant g;
	uint64_t tick = tick_at(f, 0);
	struct catalog_claim c0 = {0, tick, 5000, 0, 0}, c1 = {1, tick, 5000, 0, 0};
	assert_int_equal(catalog_node_join_claim(f->cat, "evil", "", 0, &c0, f->now, &evil, &g),
	    SR_OK);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 0);
	assert_int_equal(catalog_node_join_claim(f->cat, "evil", "", 0, &c1, f->now, &evil, &g),
	    SR_OK);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 1);
	struct catalog_grant gc = join_grant(f, "c", &c);
	assert_true(gc.has);
	assert_int_equal(gc.worker_id, 0);
	assert_true(gc.floor_tick >= tick + f->cfg.lease_ttl_ms / f->cfg.layout.unit_ms);
	/* Back to id 0: c holds it live, so evil yields and keeps none. */
	assert_int_equal(catalog_node_join_claim(f->cat, "evil", "", 0, &c0, f->now, &evil, &g),
	    SR_OK);
	assert_int_equal(c0.outcome, CATALOG_CLAIM_YIELDED);
	assert_int_equal(c0.holder, c);
	assert_false(g.has);
	/* The same through heartbeats. */
	struct catalog_claim h1 = {1, tick, 5000, 0, 0};
	assert_int_equal(catalog_node_heartbeat_claim(f->cat, evil, f->now, 1, 1, tick, &h1, &g),
	    SR_OK);
	assert_true(g.has);
	assert_int_equal(g.worker_id, 1);
	size_t held = 0;
	for (size_t i = 0; i < f->st.nworkers; i++)
		held += f->st.workers[i].node_id == evil &&
		    f->st.workers[i].expires_ms + (int64_t) f->cfg.worker_grace_ms > f->now;
	assert_int_equal(held, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_seq_create_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_id_is_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interleave_and_after_rule, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restarted_node_stays_increasing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_forgets_open_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_commit_returns_no_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_term, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_node_not_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dynamic_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_after_above_hwm_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_and_recreate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_prefetch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_leases_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_reuse_after_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_worker_per_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_node_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_keeps_grants_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shorter_ttl_never_cuts_a_grant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejoin_after_shorter_ttl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_layout_fixed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_commit_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_future_tick_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_heartbeats_rarely_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_name_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_history_stored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_after_lost_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_wait_only_when_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_one_per_node, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
