/*
 * The etcd store (master/store_etcd.c) against a real etcd member that the
 * test starts on loopback (tests/etcd_proc.h) and stops at the end: the
 * store.h contract, the fencing term across two masters, a catalog running
 * over it, an etcd that stops answering, and values this code did not write.
 * Label ha; skipped when etcd is not installed (scripts/deps test).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "etcd_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "etcd_codec.h"
#include "etcd_http.h"
#include "snowrange/error.h"
#include "store.h"
#include "util.h"

static struct etcd_proc etcd;

static int
group_setup(void **state)
{
	(void) state;
	if (!etcd_proc_available())
		return 0;
	return etcd_proc_start(&etcd) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void) state;
	etcd_proc_stop(&etcd);
	return 0;
}

/* A store under its own prefix, so tests do not see each other's keys. */
static struct store *
open_store(const char *prefix)
{
	char url[192], err[512];
	struct store *st = NULL;
	if (!etcd_proc_available())
		skip();
	snprintf(url, sizeof url, "etcd://127.0.0.1:%d/%s", etcd.client_port, prefix);
	int rv = store_etcd_open(url, 1000, 0, &st, err, sizeof err);
	if (rv != SR_OK)
		fail_msg("store_etcd_open(%s): %s", url, err);
	return st;
}

static struct store_op
seq_op(const char *name, uint64_t hwm)
{
	struct store_op op;
	memset(&op, 0, sizeof op);
	op.kind = STORE_PUT_SEQ;
	snprintf(op.u.seq.name, sizeof op.u.seq.name, "%s", name);
	op.u.seq.start = 1;
	op.u.seq.hwm = hwm;
	op.u.seq.chunk = 10;
	op.u.seq.min_chunk = 1;
	op.u.seq.max_chunk = 100;
	op.u.seq.max_value = INT64_MAX;
	op.u.seq.prefetch = 1;
	return op;
}

static void
test_empty_then_rows(void **state)
{
	(void) state;
	struct store *st = open_store("t1");
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_OK);
	assert_int_equal(s.term, 1);
	assert_int_equal(s.nseqs, 0);
	store_state_free(&s);

	struct store_op ops[3] = {seq_op("b", 100), seq_op("a", 200)};
	ops[2].kind = STORE_PUT_WORKER;
	ops[2].u.worker =
	    (struct store_worker) {.id = 3, .node_id = 1, .expires_ms = 5, .last_tick = 77};
	assert_int_equal(store_commit(st, 1, ops, 3), SR_OK);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.term, 1);
	assert_int_equal(s.nseqs, 2);
	assert_string_equal(s.seqs[0].name, "a"); /* sorted by name */
	assert_int_equal(s.seqs[0].hwm, 200);
	assert_int_equal(s.seqs[1].hwm, 100);
	assert_int_equal(s.nworkers, 1);
	assert_int_equal(s.workers[0].last_tick, 77);
	store_state_free(&s);

	struct store_op del;
	memset(&del, 0, sizeof del);
	del.kind = STORE_DEL_SEQ;
	snprintf(del.u.seq.name, sizeof del.u.seq.name, "b");
	assert_int_equal(store_commit(st, 1, &del, 1), SR_OK);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.nseqs, 1);
	store_state_free(&s);
	store_close(st);
}

/* Two masters on one prefix: the second takes term 2 and loads the first's
 * rows; from then on every commit of the first fails with SR_ESTALE and
 * leaves nothing behind. */
static void
test_second_master_fences_first(void **state)
{
	(void) state;
	struct store *a = open_store("t2"), *b = open_store("t2");
	struct store_state s;
	assert_int_equal(store_acquire_and_load(a, &s), SR_OK);
	uint64_t ta = s.term;
	store_state_free(&s);
	struct store_op op = seq_op("ids", 1000);
	assert_int_equal(store_commit(a, ta, &op, 1), SR_OK);

	assert_int_equal(store_acquire_and_load(b, &s), SR_OK);
	assert_int_equal(s.term, ta + 1);
	assert_int_equal(s.nseqs, 1);
	assert_int_equal(s.seqs[0].hwm, 1000);
	store_state_free(&s);

	op = seq_op("ids", 2000);
	assert_int_equal(store_commit(a, ta, &op, 1), SR_ESTALE);
	assert_non_null(strstr(store_errmsg(a), "stale"));
	assert_int_equal(store_load(b, &s), SR_OK);
	assert_int_equal(s.seqs[0].hwm, 1000);
	store_state_free(&s);
	op = seq_op("ids", 3000);
	assert_int_equal(store_commit(b, ta + 1, &op, 1), SR_OK);
	/* The first master cannot take the term back with its old view. */
	assert_int_equal(store_acquire_and_load(a, &s), SR_OK);
	assert_int_equal(s.term, ta + 2);
	assert_int_equal(s.seqs[0].hwm, 3000);
	store_state_free(&s);
	assert_int_equal(store_commit(b, ta + 1, &op, 1), SR_ESTALE);
	store_close(a);
	store_close(b);
}

/* The catalog runs over the etcd store as over SQLite: a lease commits the
 * new hwm, and a restarted catalog starts above it. */
static void
test_catalog_over_etcd(void **state)
{
	(void) state;
	struct store *st = open_store("t3");
	struct catalog_config cfg;
	struct catalog *cat;
	char err[256];
	catalog_config_init(&cfg);
	int64_t now = sr_wall_ms();
	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	struct catalog_seq_spec spec = {.name = "orders", .chunk = 100};
	struct catalog_seq_info info;
	assert_int_equal(catalog_seq_create(cat, &spec, now, &info), SR_OK);
	uint64_t node;
	struct catalog_grant g;
	assert_int_equal(catalog_node_join_as(cat, "c1", "", 1, now, &node, &g), SR_OK);
	assert_true(g.has);
	struct range_chunk ch;
	assert_int_equal(catalog_lease(cat, node, "orders", 0, now, &ch), SR_OK);
	uint64_t end = ch.start + ch.n * ch.c;
	catalog_close(cat);

	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	assert_int_equal(catalog_lease(cat, node, "orders", 0, now, &ch), SR_OK);
	assert_true(ch.start >= end);
	catalog_close(cat);
	store_close(st);
}

/* Ops apply in order, and a later op on a row supersedes an earlier one in
 * the same commit, as in SQLite: etcd refuses a transaction that names a
 * key twice, so the store must send only the last. */
static void
test_same_row_twice_in_one_commit(void **state)
{
	(void) state;
	struct store *st = open_store("t7");
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_OK);
	uint64_t term = s.term;
	store_state_free(&s);
	struct store_op ops[4] = {seq_op("a", 100), seq_op("a", 200)};
	ops[2].kind = ops[3].kind = STORE_PUT_WORKER;
	ops[2].u.worker = (struct store_worker) {.id = 3, .node_id = 1, .expires_ms = 5};
	ops[3].u.worker = (struct store_worker) {.id = 3, .node_id = 2, .expires_ms = 9};
	assert_int_equal(store_commit(st, term, ops, 4), SR_OK);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.nseqs, 1);
	assert_int_equal(s.seqs[0].hwm, 200);
	assert_int_equal(s.nworkers, 1);
	assert_int_equal(s.workers[0].node_id, 2);
	store_state_free(&s);
	/* A put, then a delete of the same sequence: gone. */
	struct store_op del[2] = {seq_op("a", 300)};
	del[1].kind = STORE_DEL_SEQ;
	snprintf(del[1].u.seq.name, sizeof del[1].u.seq.name, "a");
	assert_int_equal(store_commit(st, term, del, 2), SR_OK);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.nseqs, 0);
	store_state_free(&s);
	store_close(st);
}

/* The churn finding (docs/reliability.md): a coordinator whose worker lease
 * lapsed while the leader could not commit (an etcd member killed) stays
 * alive and heartbeats on. The beat stores the lapsed row and grants the
 * same worker id again, two writes of one key in one commit; etcd refused
 * it on every beat (SR_EIO, "duplicate key given in txn request") and the
 * coordinator got no txids until another master led. */
static void
test_heartbeat_after_lapse_over_etcd(void **state)
{
	(void) state;
	struct store *st = open_store("t8");
	struct catalog_config cfg;
	struct catalog *cat;
	char err[256];
	catalog_config_init(&cfg);
	int64_t now = sr_wall_ms();
	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	uint64_t node;
	struct catalog_grant g, g2;
	assert_int_equal(catalog_node_join_as(cat, "c1", "", 1, now, &node, &g), SR_OK);
	assert_true(g.has);
	/* No beat reaches the master for longer than the lease and the grace. */
	now += cfg.lease_ttl_ms + cfg.worker_grace_ms + 1000;
	uint64_t tick = (uint64_t) (now - cfg.layout.epoch_ms);
	int rv = catalog_node_heartbeat(cat, node, now, 1, g.worker_id, tick, &g2);
	if (rv != SR_OK)
		fail_msg("heartbeat after a lapse: %s (%s)", catalog_errmsg(cat), sr_errname(rv));
	assert_true(g2.has);
	assert_int_equal(g2.worker_id, g.worker_id);
	catalog_close(cat);
	store_close(st);
}

/* A value under the prefix that this code did not write stops the load
 * with its key named, rather than being read as something else. */
static void
test_foreign_value_refused(void **state)
{
	(void) state;
	struct store *st = open_store("t4");
	struct etcd_client *cl;
	char ep[64], err[512], k[64], v[64];
	json_t *reply;
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", etcd.client_port);
	assert_int_equal(etcd_client_open(ep, 1000, &cl, err, sizeof err), SR_OK);
	assert_int_equal(etcd_b64_encode("/t4/seq/x", 9, k, sizeof k), SR_OK);
	assert_int_equal(etcd_b64_encode("{}", 2, v, sizeof v), SR_OK);
	json_t *put = json_pack("{ssss}", "key", k, "value", v);
	assert_int_equal(etcd_call(cl, "/v3/kv/put", put, &reply, err, sizeof err), SR_OK);
	json_decref(put);
	json_decref(reply);
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_EIO);
	assert_non_null(strstr(store_errmsg(st), "/t4/seq/x"));
	etcd_client_close(cl);
	store_close(st);
}

/* An etcd that stops answering (SIGSTOP) makes a commit fail with SR_EIO
 * within the request timeout, never hang; it works again once resumed. */
static void
test_stopped_etcd_fails_fast(void **state)
{
	(void) state;
	struct store *st = open_store("t5");
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_OK);
	uint64_t term = s.term;
	store_state_free(&s);
	struct store_op op = seq_op("q", 10);
	/* Stopped for sure before the commit is sent (etcd_proc_signal): a
	 * stop still pending let etcd commit it under load. */
	assert_int_equal(etcd_proc_signal(&etcd, SIGSTOP), 0);
	int64_t t0 = sr_mono_ms();
	int rv = store_commit(st, term, &op, 1);
	int64_t took = sr_mono_ms() - t0;
	assert_int_equal(etcd_proc_signal(&etcd, SIGCONT), 0);
	assert_int_equal(rv, SR_EIO);
	assert_non_null(strstr(store_errmsg(st), "no etcd endpoint answered"));
	assert_true(took < 10000);
	/* Bounded: etcd may take a moment to serve again after SIGCONT. */
	for (int i = 0; i < 50 && (rv = store_commit(st, term, &op, 1)) != SR_OK; i++)
		nanosleep(&(struct timespec) {0, 100 * 1000000L}, NULL);
	assert_int_equal(rv, SR_OK);
	store_close(st);
}

/* An era of the worker history as the catalog writes it. */
static struct store_op
era_op(uint64_t seq, uint32_t worker, uint64_t node, uint64_t floor, const char *name)
{
	struct store_op op;
	memset(&op, 0, sizeof op);
	op.kind = STORE_PUT_ERA;
	op.u.era.seq = seq;
	op.u.era.worker = worker;
	op.u.era.node_id = node;
	op.u.era.floor_tick = floor;
	op.u.era.granted_ms = 1767225600000;
	snprintf(op.u.era.name, sizeof op.u.era.name, "%s", name);
	return op;
}

/*
 * The worker history in etcd (issue 14): an era is written in the fenced
 * transaction of its grant (a stale master writes neither), read back in
 * seq order (seq 10 after 9: the keys are zero-padded), and a trim deletes
 * every era below a seq in the same transaction as the next era. A catalog
 * restarted over the store names the holder of an old txid.
 */
static void
test_worker_history(void **state)
{
	(void) state;
	struct store *st = open_store("t6");
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_OK);
	uint64_t term = s.term;
	assert_int_equal(s.neras, 0);
	store_state_free(&s);
	struct store_op ops[3];
	memset(ops, 0, sizeof ops);
	ops[0].kind = STORE_PUT_WORKER;
	ops[0].u.worker = (struct store_worker) {.id = 0, .node_id = 1, .expires_ms = 5};
	ops[1] = era_op(9, 0, 1, 0, "c1");
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	ops[0].u.worker.node_id = 2;
	ops[1] = era_op(10, 0, 2, 500, "c2");
	assert_int_equal(store_commit(st, term + 1, ops, 2), SR_ESTALE);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.neras, 1);
	assert_int_equal(s.workers[0].node_id, 1);
	store_state_free(&s);
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.neras, 2);
	assert_int_equal(s.eras[0].seq, 9);
	assert_string_equal(s.eras[0].name, "c1");
	assert_int_equal(s.eras[1].seq, 10);
	assert_int_equal(s.eras[1].floor_tick, 500);
	assert_int_equal(s.eras[1].node_id, 2);
	assert_int_equal(s.eras[1].granted_ms, 1767225600000);
	store_state_free(&s);
	/* Era 11 and the trim of everything below 10, together. */
	ops[0].u.worker.node_id = 3;
	ops[1] = era_op(11, 0, 3, 900, "c3");
	memset(&ops[2], 0, sizeof ops[2]);
	ops[2].kind = STORE_TRIM_ERAS;
	ops[2].u.era.seq = 10;
	assert_int_equal(store_commit(st, term, ops, 3), SR_OK);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.neras, 2);
	assert_int_equal(s.eras[0].seq, 10);
	assert_int_equal(s.eras[1].seq, 11);
	assert_string_equal(s.eras[1].name, "c3");
	store_state_free(&s);
	store_close(st);

	/* Through the catalog: one worker id handed from a to b, then a
	 * restart (a new catalog, as after kill -9) still names a. */
	st = open_store("t7");
	struct catalog_config cfg;
	struct catalog *cat;
	char err[256];
	catalog_config_init(&cfg);
	cfg.layout.time_bits = 51;
	cfg.layout.worker_bits = 0;
	int64_t now = sr_wall_ms();
	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	uint64_t a, b;
	struct catalog_grant ga, gb;
	assert_int_equal(catalog_node_join_as(cat, "a", "", 1, now, &a, &ga), SR_OK);
	assert_true(ga.has);
	uint64_t a_tick = (uint64_t) (now - cfg.layout.epoch_ms);
	assert_int_equal(catalog_node_leave(cat, a, a_tick, now), SR_OK);
	now += cfg.worker_grace_ms;
	assert_int_equal(catalog_node_join_as(cat, "b", "", 2, now, &b, &gb), SR_OK);
	assert_true(gb.has);
	catalog_close(cat);
	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	struct catalog_holder h;
	assert_int_equal(catalog_worker_holder(cat, 0, a_tick, &h), SR_OK);
	assert_true(h.certain);
	assert_string_equal(h.name, "a");
	assert_int_equal(catalog_worker_holder(cat, 0, gb.floor_tick + 1, &h), SR_OK);
	assert_string_equal(h.name, "b");
	catalog_close(cat);
	store_close(st);
}

/*
 * The worker history at its bound (--worker-history 1, the tightest): each
 * grant to a new holder writes its era and, in the same transaction, trims
 * every era below it, so the trim's range ends exactly at the key being
 * written. etcd refuses a transaction whose put lies inside one of its
 * delete ranges ("duplicate key given in txn request"); the range end is
 * exclusive, so this one must commit and keep the new era, and only it.
 */
static void
test_history_trim_at_bound(void **state)
{
	(void) state;
	struct store *st = open_store("t9");
	struct catalog_config cfg;
	struct catalog *cat;
	char err[256];
	catalog_config_init(&cfg);
	cfg.worker_history = 1;
	int64_t now = sr_wall_ms();
	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	static const char *const names[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		uint64_t node;
		struct catalog_grant g;
		int rv = catalog_node_join_as(cat, names[i], "", (uint64_t) i + 1, now, &node, &g);
		if (rv != SR_OK)
			fail_msg("join %s at the history bound: %s (%s)", names[i],
			    catalog_errmsg(cat), sr_errname(rv));
		assert_true(g.has);
		struct store_state s;
		assert_int_equal(store_load(st, &s), SR_OK);
		assert_int_equal(s.neras, 1);
		assert_int_equal(s.eras[0].seq, (uint64_t) i + 1);
		assert_string_equal(s.eras[0].name, names[i]);
		assert_int_equal(s.eras[0].worker, g.worker_id);
		store_state_free(&s);
	}
	catalog_close(cat);
	/* A restarted master keeps the bound: the next grant trims the
	 * stored era and keeps its own. */
	assert_int_equal(catalog_open(st, &cfg, now, &cat, err, sizeof err), SR_OK);
	uint64_t node;
	struct catalog_grant g;
	assert_int_equal(catalog_node_join_as(cat, "d", "", 4, now, &node, &g), SR_OK);
	catalog_close(cat);
	struct store_state s;
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.neras, 1);
	assert_int_equal(s.eras[0].seq, 4);
	assert_string_equal(s.eras[0].name, "d");
	store_state_free(&s);
	store_close(st);
}

/* Loads st and checks that its eras are exactly seqs[0..n). */
static void
assert_eras(struct store *st, const uint64_t *seqs, size_t n)
{
	struct store_state s;
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_int_equal(s.neras, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s.eras[i].seq, seqs[i]);
	store_state_free(&s);
}

/*
 * A trim and eras inside its range in one commit, in either order (the
 * catalog never sends that, but store.h's contract covers it): the ops
 * apply in order, as in SQLite, so an era written before a trim that
 * covers it is gone, and one written after it stays. etcd refuses a put
 * inside a delete range of the same transaction, whatever the order.
 */
static void
test_history_trim_and_put_overlap(void **state)
{
	(void) state;
	struct store *st = open_store("t10");
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_OK);
	uint64_t term = s.term;
	store_state_free(&s);
	struct store_op ops[6];
	for (uint64_t i = 0; i < 6; i++)
		ops[i] = era_op(i + 1, 0, 1, i, "a");
	assert_int_equal(store_commit(st, term, ops, 6), SR_OK);

	/* Era 7, then a trim below 8: nothing is left. */
	ops[0] = era_op(7, 0, 2, 100, "b");
	memset(&ops[1], 0, sizeof ops[1]);
	ops[1].kind = STORE_TRIM_ERAS;
	ops[1].u.era.seq = 8;
	int rv = store_commit(st, term, ops, 2);
	if (rv != SR_OK)
		fail_msg("era 7, then trim below 8: %s", store_errmsg(st));
	assert_eras(st, NULL, 0);

	/* Eras 9 to 12, then a trim below 13, then eras 10 and 12 again (and
	 * an era above the trim): 10, 12 and 14 stay. */
	for (uint64_t i = 0; i < 4; i++)
		ops[i] = era_op(9 + i, 0, 3, 200 + i, "c");
	assert_int_equal(store_commit(st, term, ops, 4), SR_OK);
	memset(&ops[0], 0, sizeof ops[0]);
	ops[0].kind = STORE_TRIM_ERAS;
	ops[0].u.era.seq = 13;
	ops[1] = era_op(12, 0, 4, 300, "d");
	ops[2] = era_op(10, 0, 4, 301, "d");
	ops[3] = era_op(14, 0, 4, 302, "d");
	rv = store_commit(st, term, ops, 4);
	if (rv != SR_OK)
		fail_msg("trim below 13, then eras 12, 10, 14: %s", store_errmsg(st));
	assert_eras(st, (const uint64_t[]) {10, 12, 14}, 3);
	assert_int_equal(store_load(st, &s), SR_OK);
	assert_string_equal(s.eras[0].name, "d"); /* the era written last */
	assert_int_equal(s.eras[0].floor_tick, 301);
	store_state_free(&s);
	store_close(st);
}

static void
test_bad_urls(void **state)
{
	(void) state;
	struct store *st;
	char err[256];
	assert_int_equal(store_etcd_open("etcd://nohostport", 1000, 0, &st, err, sizeof err),
	    SR_EINVAL);
	assert_null(st);
	assert_non_null(strstr(err, "HOST:PORT"));
	/* Nobody listens: opening works (nothing is read yet), loading says so. */
	int port = etcd_free_port();
	char url[64];
	snprintf(url, sizeof url, "etcd://127.0.0.1:%d", port);
	assert_int_equal(store_etcd_open(url, 500, 0, &st, err, sizeof err), SR_OK);
	struct store_state s;
	assert_int_equal(store_acquire_and_load(st, &s), SR_EIO);
	assert_non_null(strstr(store_errmsg(st), "127.0.0.1"));
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_then_rows),
	    cmocka_unit_test(test_second_master_fences_first),
	    cmocka_unit_test(test_catalog_over_etcd),
	    cmocka_unit_test(test_same_row_twice_in_one_commit),
	    cmocka_unit_test(test_heartbeat_after_lapse_over_etcd),
	    cmocka_unit_test(test_foreign_value_refused),
	    cmocka_unit_test(test_stopped_etcd_fails_fast),
	    cmocka_unit_test(test_bad_urls),
	    cmocka_unit_test(test_worker_history),
	    cmocka_unit_test(test_history_trim_at_bound),
	    cmocka_unit_test(test_history_trim_and_put_overlap),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
