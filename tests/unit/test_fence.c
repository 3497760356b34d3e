/*
 * Fencing at a master's start-up (docs/guarantees.md, docs/decisions.md):
 * an old master that is still running must never commit something the new
 * master does not see. The new master takes its fencing term and loads the
 * state in one write transaction, so whatever the old master commits is
 * either in the loaded state or refused with SR_ESTALE.
 *
 * The interleaving is injected: the new master's store is wrapped in a hook
 * store (tests/hook_store.h) that lets the old master lease a new range and
 * join a node (which grants a worker id) at each moment of catalog_open in
 * turn, then after it. The same scenario runs over the in-memory store
 * (both masters share it) and over SQLite (two handles on one file, as two
 * master processes would have).
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
#include "hook_store.h"
#include "mem_store.h"
#include "rm_rf.h"
#include "snowrange/error.h"

#define NOW INT64_C(1767225600000) /* 2026-01-01, after the layout epoch */

/* What the old master did when the hook ran. */
struct old_master {
	struct catalog *cat;
	uint64_t node;  /* its coordinator "a" */
	uint64_t after; /* end of the newest range "a" holds */
	int fired;
	int lease_rc; /* a lease that needs a new range */
	struct range_chunk lease;
	int join_rc; /* a new node "x", granted a worker id */
	uint64_t x_id;
	struct catalog_grant x_grant;
};

static void
old_master_commits(void *arg)
{
	struct old_master *o = arg;

	o->fired = 1;
	o->lease_rc = catalog_lease(o->cat, o->node, "s", o->after, NOW, &o->lease);
	o->join_rc = catalog_node_join(o->cat, "x", "", NOW, &o->x_id, &o->x_grant);
}

/*
 * Runs one interleaving: the old master opens on old_st, makes a block
 * sequence and hands out one range; the new master opens on new_st with the
 * old master's commits injected at moment fire_at (or right after the open
 * when catalog_open has fewer moments). Returns whether the hook ran inside
 * catalog_open.
 */
static int
race(struct store *old_st, struct store *new_st, int fire_at)
{
	struct catalog_config cfg;
	struct old_master o = {0};
	struct hook_store h;
	struct catalog *cat = NULL;
	struct catalog_seq_spec spec = {.name = "s",
	    .chunk = 10,
	    .max_chunk = 10,
	    .mode = STORE_MODE_BLOCK};
	struct catalog_grant g;
	struct range_chunk ch;
	uint64_t id;
	char err[256];

	catalog_config_init(&cfg);
	cfg.claim_wait_ms = 0; /* an empty store; grants at once */
	assert_int_equal(catalog_open(old_st, &cfg, NOW, &o.cat, err, sizeof err), SR_OK);
	assert_int_equal(catalog_seq_create(o.cat, &spec, NOW, NULL), SR_OK);
	assert_int_equal(catalog_node_join(o.cat, "a", "", NOW, &o.node, &g), SR_OK);
	assert_int_equal(catalog_lease(o.cat, o.node, "s", 0, NOW, &ch), SR_OK);
	o.after = range_end(&ch);

	hook_store_init(&h, new_st, fire_at, old_master_commits, &o);
	assert_int_equal(catalog_open(&h.base, &cfg, NOW, &cat, err, sizeof err), SR_OK);
	int inside = o.fired;
	if (!inside) {
		/* After the new master opened, the old one is fenced. */
		old_master_commits(&o);
		assert_int_equal(o.lease_rc, SR_ESTALE);
		assert_int_equal(o.join_rc, SR_ESTALE);
	}
	/* Either the old master's commit happened before the new term (and the
	 * new master saw it) or it was refused; nothing else. */
	if (o.lease_rc != SR_OK)
		assert_int_equal(o.lease_rc, SR_ESTALE);
	if (o.join_rc != SR_OK)
		assert_int_equal(o.join_rc, SR_ESTALE);

	/* The new master's first range lies above every range the old master
	 * committed. */
	assert_int_equal(catalog_node_join(cat, "b", "", NOW, &id, &g), SR_OK);
	assert_int_equal(catalog_lease(cat, id, "s", 0, NOW, &ch), SR_OK);
	assert_true(ch.start >= o.after);
	if (o.lease_rc == SR_OK)
		assert_true(ch.start >= range_end(&o.lease));

	/* A node the old master joined keeps its id, and its worker id is not
	 * granted to anyone else while its lease lasts. */
	if (o.join_rc == SR_OK) {
		assert_int_not_equal(id, o.x_id);
		assert_true(o.x_grant.has);
		if (g.has)
			assert_int_not_equal(g.worker_id, o.x_grant.worker_id);
	}

	/* The old master stays fenced. */
	assert_int_equal(catalog_lease(o.cat, o.node, "s", o.after, NOW, &ch), SR_ESTALE);

	catalog_close(cat);
	catalog_close(o.cat);
	return inside;
}

static void
test_fence_mem(void **state)
{
	(void) state;
	int fire_at = 0;

	for (;; fire_at++) {
		struct mem_store *m = calloc(1, sizeof(*m));
		assert_non_null(m);
		m->base.ops = &mem_ops;
		int inside = race(&m->base, &m->base, fire_at);
		free(m);
		if (!inside)
			break;
	}
	/* catalog_open made at least one store call (two moments). */
	assert_true(fire_at >= 2);
}

static void
test_fence_sqlite(void **state)
{
	(void) state;
	int fire_at = 0;

	for (;; fire_at++) {
		char dir[64];
		struct store *a = NULL, *b = NULL;
		char err[256];

		snprintf(dir, sizeof dir, "/tmp/snowrange-fence-XXXXXX");
		assert_non_null(mkdtemp(dir));
		assert_int_equal(store_sqlite_open(dir, &a, err, sizeof err), SR_OK);
		assert_int_equal(store_sqlite_open(dir, &b, err, sizeof err), SR_OK);
		int inside = race(a, b, fire_at);

		/* What survives on disk agrees: the new master's term, and an hwm
		 * above every range either master committed. */
		struct store_state ss;
		assert_int_equal(store_load(b, &ss), SR_OK);
		assert_int_equal(ss.term, 2);
		store_state_free(&ss);
		store_close(a);
		store_close(b);
		rm_rf(dir);
		if (!inside)
			break;
	}
	assert_true(fire_at >= 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fence_mem),
	    cmocka_unit_test(test_fence_sqlite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
