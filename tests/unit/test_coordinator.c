/*
 * The coordinator library against a real master in the same process (on an
 * ipc path, with a real SQLite store in a temp dir): first use of a sequence
 * created after open, many threads strictly increasing, serving through a
 * master outage until the chunks run out, txids from many threads, the txid
 * floor, the worker lease lapsing, a master restarted with a shorter lease
 * TTL, bad arguments and the log callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "calls.h"
#include "coordinator_hooks.h"
#include "rm_rf.h"
#include "flake.h"
#include "server.h"
#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"
#include "worker.h"

struct fx {
	char dir[64];
	char url[128];
	struct master_config mcfg;
	struct master *m;
	sr_coordinator *c;
};

static void
start_master(struct fx *f)
{
	char err[256];
	assert_int_equal(master_start(&f->mcfg, &f->m, err, sizeof(err)), SR_OK);
}

/* Restarts the master (empty store) without its wait for worker claims
 * (catalog.h, claim_wait_ms), for tests that need a worker id right after
 * the join and are about something else. */
static void
no_claim_wait(struct fx *f)
{
	master_stop(f->m);
	f->mcfg.catalog.claim_wait_ms = 0;
	start_master(f);
}

static void
create_seq(struct fx *f, const char *name, uint64_t chunk)
{
	sr_client *cl;
	assert_int_equal(sr_client_open(f->url, 3000, &cl), SR_OK);
	sr_seq_spec spec = {.name = name, .chunk_size = chunk, .max_chunk = chunk};
	assert_int_equal(sr_client_seq_create(cl, &spec, NULL), SR_OK);
	sr_client_close(cl);
}

static sr_coordinator *
open_coord(struct fx *f, const char *name, int lease_timeout_ms, uint64_t txid_floor)
{
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = f->url;
	cfg.node_name = name;
	cfg.lease_timeout_ms = lease_timeout_ms;
	cfg.rpc_timeout_ms = 500;
	cfg.txid_floor = txid_floor;
	sr_coordinator *c;
	char err[256];
	assert_int_equal(sr_coordinator_open(&cfg, &c, err, sizeof(err)), SR_OK);
	return c;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sr-coord-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "ipc://%s/master.ipc", f->dir);
	f->mcfg.listen_url = f->url;
	f->mcfg.data_dir = f->dir;
	f->mcfg.workers = 4;
	catalog_config_init(&f->mcfg.catalog);
	f->mcfg.catalog.lease_ttl_ms = 1200;
	f->mcfg.catalog.worker_grace_ms = 200;
	start_master(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	sr_coordinator_close(f->c);
	master_stop(f->m);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void
test_first_use_and_bad_args(void **state)
{
	struct fx *f = *state;
	f->c = open_coord(f, "c1", 1000, 0);
	uint64_t id, ids[4];
	size_t got;
	assert_int_equal(sr_next_id(f->c, "later", &id), SR_ENOTFOUND);
	create_seq(f, "later", 100); /* created after the coordinator opened */
	assert_int_equal(sr_next_id(f->c, "later", &id), SR_OK);
	assert_int_equal(id, 1);
	assert_int_equal(sr_next_ids(f->c, "later", 4, ids, &got), SR_OK);
	assert_int_equal(got, 4);
	assert_int_equal(ids[0], 2);
	assert_int_equal(sr_next_ids(f->c, "later", 0, ids, &got), SR_EINVAL);
	assert_int_equal(sr_next_id(f->c, "Bad Name", &id), SR_EINVAL);
	assert_int_equal(sr_next_id(f->c, NULL, &id), SR_EINVAL);
	sr_coordinator_close(NULL);
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	sr_coordinator *c;
	char err[256] = "";
	assert_int_equal(sr_coordinator_open(&cfg, &c, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "master_url"));
	cfg.master_url = f->url;
	cfg.node_name = "no/slash";
	assert_int_equal(sr_coordinator_open(&cfg, &c, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "node name"));
}

#define THREADS 4
#define PER_THREAD 50000

/* cmocka's assertions belong to the main thread: a drawing thread records
 * its first error and how many calls it completed, and main checks. */
struct worker {
	sr_coordinator *c;
	struct call *calls;
	_Atomic uint64_t *clock;
	int txids;
	int rv;
	int done;
};

static void *
draw_thread(void *arg)
{
	struct worker *w = arg;
	sr_sequence *s = NULL;
	if (!w->txids && (w->rv = sr_sequence_get(w->c, "s", &s)) != SR_OK)
		return NULL;
	for (w->done = 0; w->done < PER_THREAD; w->done++) {
		uint64_t t0 = atomic_fetch_add(w->clock, 1);
		uint64_t id;
		int rv = w->txids ? sr_next_txid(w->c, &id) : sr_seq_next_id(s, &id);
		if (rv != SR_OK) {
			w->rv = rv;
			break;
		}
		uint64_t t1 = atomic_fetch_add(w->clock, 1);
		w->calls[w->done] = (struct call) {t0, t1, id};
	}
	return NULL;
}

/* Unique, and a call that returned before another started has the smaller
 * ID (strictly increasing per coordinator, whichever thread asked). */
static void
check_calls(struct call *all, size_t total)
{
	size_t violations, dups;
	calls_check(all, total, &violations, &dups);
	assert_int_equal(violations, 0);
	assert_int_equal(dups, 0);
	assert_true(all[0].id > 0); /* sorted by id now */
}

static void
run_threads(sr_coordinator *c, int txids)
{
	_Atomic uint64_t clock = 0;
	size_t total = (size_t) THREADS * PER_THREAD;
	struct call *all = calloc(total, sizeof(*all));
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker) {c, all + (size_t) i * PER_THREAD, &clock, txids, SR_OK, 0};
		pthread_create(&t[i], NULL, draw_thread, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].rv, SR_OK);
		assert_int_equal(w[i].done, PER_THREAD);
	}
	check_calls(all, total);
	free(all);
}

static void
test_threads_sequence(void **state)
{
	struct fx *f = *state;
	create_seq(f, "s", 997); /* small chunks: many swaps and prefetches */
	f->c = open_coord(f, "c1", 5000, 0);
	run_threads(f->c, 0);
	sr_coordinator_stats st;
	sr_coordinator_get_stats(f->c, &st);
	assert_true(st.leases >= THREADS * PER_THREAD / 997);
}

static void
test_threads_txids(void **state)
{
	struct fx *f = *state;
	f->c = open_coord(f, "c1", 5000, 0);
	run_threads(f->c, 1);
	uint32_t worker;
	assert_int_equal(sr_coordinator_worker(f->c, &worker), SR_OK);
	uint64_t txid, tick;
	uint32_t w, seq;
	assert_int_equal(sr_next_txid(f->c, &txid), SR_OK);
	sr_flake_layout l;
	sr_coordinator_layout(f->c, &l);
	sr_flake_layout fl = {(uint8_t) l.time_bits, (uint8_t) l.worker_bits, (uint8_t) l.seq_bits,
	    l.unit_ms, l.epoch_ms};
	flake_decode(&fl, txid, &tick, &w, &seq);
	assert_int_equal(w, worker);
	int64_t ms = flake_tick_to_ms(&fl, tick);
	assert_true(llabs(ms - sr_wall_ms()) < 5000);
}

/* The last txid of the caller's 2PC log is a floor. */
static void
test_txid_floor(void **state)
{
	struct fx *f = *state;
	sr_flake_layout l;
	flake_layout_default(&l);
	uint64_t ahead = (uint64_t) flake_ms_to_tick(&l, sr_wall_ms()) + 3;
	uint64_t floor = flake_encode(&l, ahead, 1023, 4095);
	f->c = open_coord(f, "c1", 1000, floor);
	uint64_t txid;
	assert_int_equal(sr_next_txid(f->c, &txid), SR_OK);
	assert_true(txid > floor);
	sr_coordinator_close(f->c);
	/* A floor 10 s ahead is a clock 10 s behind: refused, not waited. */
	floor = flake_encode(&l, ahead + 10000, 0, 0);
	f->c = open_coord(f, "c2", 1000, floor);
	assert_int_equal(sr_next_txid(f->c, &txid), SR_ECLOCK);
	assert_true(sr_coordinator_clock_offset_ms(f->c) > 5000);
}

/* Draws one txid, waiting out SR_ENOWORKER for up to 10 s: a grant whose
 * floor lies more than the lease timeout ahead of the caller's clock is
 * refused until the clock gets there. */
static int
txid_patient(sr_coordinator *c, uint64_t *txid)
{
	int64_t until = sr_mono_ms() + 10000;
	int rv;
	while ((rv = sr_next_txid(c, txid)) == SR_ENOWORKER && sr_mono_ms() < until)
		nanosleep(&(struct timespec) {0, 20 * 1000000L}, NULL);
	return rv;
}

/* A second run under the same name is refused while the first is live
 * (issue 9). Once the first has left, the second gets the same worker id
 * back after its grace period (a node holds one at most, issue 10), and its
 * txids are still above every txid of the first run although its clock is
 * 1 s behind the first run's (docs/reliability.md, Finding 1): its grant's
 * floor is the first run's last reported tick plus one TTL
 * (master/grants.c), and the new run issues only above it (worker_apply,
 * coordinator/worker.c), waiting for its clock to get there. */
static void
test_rejoin_txids_increase(void **state)
{
	struct fx *f = *state;
	f->c = open_coord(f, "a", 3000, 0);
	uint64_t ids[4096], last = 0;
	size_t got;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(sr_next_txids(f->c, 4096, ids, &got), SR_OK);
		last = ids[got - 1];
	}
	/* Let a heartbeat report the first run's tick, then draw again: the
	 * last txid lies after the last report (heartbeats come every 400 ms),
	 * above the report itself. */
	struct timespec ts = {0, 500 * 1000000L};
	nanosleep(&ts, NULL);
	assert_int_equal(sr_next_txids(f->c, 1, ids, &got), SR_OK);
	last = ids[0];
	uint32_t w1, w2;
	assert_int_equal(sr_coordinator_worker(f->c, &w1), SR_OK);
	/* A second process under the live name is refused (issue 9)... */
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = f->url;
	cfg.node_name = "a";
	cfg.rpc_timeout_ms = 500;
	cfg.join_timeout_ms = 200;
	sr_coordinator *again;
	char err[256];
	assert_int_equal(sr_coordinator_open(&cfg, &again, err, sizeof(err)), SR_EEXISTS);
	/* ...until the holder leaves; the next one continues above it. */
	assert_int_equal(sr_coordinator_leave(f->c), SR_OK);
	again = open_coord(f, "a", 3000, 0);
	coordinator_debug_clock_offset(again, -1000);
	uint64_t first;
	int rv = txid_patient(again, &first);
	int rv_worker = sr_coordinator_worker(again, &w2);
	sr_coordinator_close(again);
	assert_int_equal(rv, SR_OK);
	assert_int_equal(rv_worker, SR_OK);
	assert_int_equal(w1, w2);
	assert_true(first > last);
}

/* A layout whose epoch lies far ahead (a master that skipped its start-up
 * check, or an old one): a txid request fails within the lease timeout
 * instead of sleeping for ever (issue 10: wait * 1000 overflowed). */
static void
test_far_epoch_bounded(void **state)
{
	struct fx *f = *state;
	master_stop(f->m);
	f->m = NULL;
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/far", f->dir);
	f->mcfg.data_dir = dir;
	int64_t epochs[] = {INT64_MAX / 2, INT64_MAX - 1000, sr_wall_ms() + 86400000};
	for (size_t i = 0; i < sizeof(epochs) / sizeof(epochs[0]); i++) {
		rm_rf(dir);
		f->mcfg.catalog.layout.epoch_ms = epochs[i];
		start_master(f);
		f->c = open_coord(f, "c1", 500, 0);
		int64_t t0 = sr_mono_ms();
		uint64_t txid;
		int rv = sr_next_txid(f->c, &txid);
		assert_true(rv == SR_ENOWORKER || rv == SR_ECLOCK);
		assert_true(sr_mono_ms() - t0 < 5000);
		sr_coordinator_close(f->c);
		f->c = NULL;
		master_stop(f->m);
		f->m = NULL;
	}
	rm_rf(dir);
}

/* With the master gone, the coordinator serves from the chunks it holds,
 * then fails with SR_EUNAVAILABLE after the lease timeout; txids stop when
 * the worker lease lapses; both resume when the master is back. */
static void
test_master_outage(void **state)
{
	struct fx *f = *state;
	/* A lease timeout shorter than a new master's wait for claims: this
	 * test wants its first txid at once (no_claim_wait). */
	no_claim_wait(f);
	create_seq(f, "s", 100);
	f->c = open_coord(f, "c1", 300, 0);
	uint64_t id, last = 0, txid;
	assert_int_equal(sr_next_id(f->c, "s", &id), SR_OK);
	assert_int_equal(sr_next_txid(f->c, &txid), SR_OK);
	/* Let the prefetch land: current + next chunk = up to 200 IDs. */
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	master_stop(f->m);
	f->m = NULL;
	int served = 0, rv;
	int64_t t0 = sr_mono_ms();
	while ((rv = sr_next_id(f->c, "s", &id)) == SR_OK) {
		assert_true(id > last);
		last = id;
		served++;
	}
	assert_int_equal(rv, SR_EUNAVAILABLE);
	assert_true(served >= 99);
	assert_true(sr_mono_ms() - t0 >= 300);
	/* The worker lease (1.2 s, less the margin) runs out. */
	ts.tv_sec = 1;
	ts.tv_nsec = 200 * 1000000L;
	nanosleep(&ts, NULL);
	assert_int_equal(sr_next_txid(f->c, &txid), SR_ENOWORKER);
	uint64_t before = txid;
	start_master(f);
	int64_t until = sr_mono_ms() + 10000;
	while ((rv = sr_next_id(f->c, "s", &id)) != SR_OK && sr_mono_ms() < until)
		;
	assert_int_equal(rv, SR_OK);
	assert_true(id > last);
	while ((rv = sr_next_txid(f->c, &txid)) != SR_OK && sr_mono_ms() < until)
		nanosleep(&(struct timespec) {0, 20 * 1000000L}, NULL);
	assert_int_equal(rv, SR_OK);
	assert_true(txid > before);
}

/* ---- a master restarted with a shorter --lease-ttl-ms (issue 8) ---- */

/*
 * The coordinator's view of its worker lease follows the TTL of the latest
 * reply, not the one it joined under: it joins a master with a 10 s TTL,
 * the master restarts with 600 ms, and once a heartbeat reply carried the
 * new TTL the view lasts at most 600 ms less the margin from its renewal.
 * With the master then gone, txids stop within about a second; a view kept
 * at the join's 10 s would issue for 8 s more, while the restarted master
 * hands the id to another node 600 ms + grace after its last renewal (two
 * holders, duplicate txids, once the old grant's end has passed: the master
 * never cuts a live grant short, test_restart_with_shorter_ttl, which is why
 * that test alone does not notice a coordinator ignoring the new TTL).
 */
static void
test_lease_view_follows_reply_ttl(void **state)
{
	struct fx *f = *state;
	master_stop(f->m);
	f->mcfg.catalog.lease_ttl_ms = 10000;
	f->mcfg.catalog.claim_wait_ms = 0; /* see no_claim_wait */
	start_master(f);
	f->c = open_coord(f, "a", 100, 0);
	uint64_t txid;
	assert_int_equal(sr_next_txid(f->c, &txid), SR_OK);
	master_stop(f->m);
	f->mcfg.catalog.lease_ttl_ms = 600;
	start_master(f);
	/* Past a heartbeat under the old pace (3.3 s): that reply carried
	 * 600 ms, and so did every one since (now every 200 ms). */
	int64_t t0 = sr_mono_ms();
	while (sr_mono_ms() - t0 < 4500) {
		(void) sr_next_txid(f->c, &txid);
		nanosleep(&(struct timespec) {0, 50 * 1000000L}, NULL);
	}
	/* A txid just before the master goes: on a loaded machine a heartbeat
	 * may come later than the 480 ms view, so wait for a renewed one. */
	int rv;
	int64_t until = sr_mono_ms() + 3000;
	while ((rv = sr_next_txid(f->c, &txid)) != SR_OK && sr_mono_ms() < until)
		nanosleep(&(struct timespec) {0, 5 * 1000000L}, NULL);
	master_stop(f->m);
	f->m = NULL;
	int64_t stopped = sr_mono_ms();
	assert_int_equal(rv, SR_OK); /* renewed under the new TTL */
	while (sr_next_txid(f->c, &txid) == SR_OK && sr_mono_ms() - stopped < 10000)
		nanosleep(&(struct timespec) {0, 10 * 1000000L}, NULL);
	int64_t issued_for = sr_mono_ms() - stopped;
	print_message("txids for %lld ms after the master stopped (TTL 600 ms)\n",
	    (long long) issued_for);
	assert_true(issued_for < 1500);
}

/* A master with one worker bit (two worker ids) and a 10 s lease TTL. */
static int
setup_two_workers(void **state)
{
	setup(state);
	struct fx *f = *state;
	master_stop(f->m);
	rm_rf(f->dir);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sr-coord-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "ipc://%s/master.ipc", f->dir);
	f->mcfg.catalog.layout.time_bits = 41;
	f->mcfg.catalog.layout.worker_bits = 1;
	f->mcfg.catalog.layout.seq_bits = 21;
	f->mcfg.catalog.lease_ttl_ms = 10000;
	start_master(f);
	return 0;
}

struct drawn {
	int node;
	uint64_t txid;
};

static int
drawn_by_txid(const void *x, const void *y)
{
	const struct drawn *a = x, *b = y;
	return a->txid < b->txid ? -1 : a->txid > b->txid;
}

#define DRAWN_MAX 40000

/* One txid from node i, recorded in call order. */
static void
draw_one(sr_coordinator *c, int i, struct drawn *d, size_t *n)
{
	uint64_t txid;
	if (*n < DRAWN_MAX && sr_next_txid(c, &txid) == SR_OK)
		d[(*n)++] = (struct drawn) {i, txid};
}

/*
 * Nodes a and b join a master with a 10 s TTL and take both worker ids. The
 * master restarts with a 600 ms TTL and c joins (no id is free). One thread
 * draws txids from a, b and c in turn, so the record is in real-time order.
 * Then a leaves and c takes its id. A worker id must never go back to a node
 * after another node issued under it (two holders at overlapping times), and
 * no txid may repeat. The old coordinator kept the 10 s TTL it got at join,
 * so it renewed every 3.3 s and believed in its lease for 8 s, while the
 * new master let the grant lapse 600 ms after each renewal and gave the id
 * to c: both issued under it.
 */
static void
test_restart_with_shorter_ttl(void **state)
{
	struct fx *f = *state;
	struct timespec ms1 = {0, 1000 * 1000};
	struct drawn *d = calloc(DRAWN_MAX, sizeof(*d));
	size_t n = 0;
	sr_coordinator *node[3] = {NULL, NULL, NULL};
	no_claim_wait(f);
	int64_t t0 = sr_mono_ms();
	node[0] = open_coord(f, "a", 100, 0);
	node[1] = open_coord(f, "b", 100, 0);
	uint32_t w[2];
	assert_int_equal(sr_coordinator_worker(node[0], &w[0]), SR_OK);
	assert_int_equal(sr_coordinator_worker(node[1], &w[1]), SR_OK);
	assert_int_not_equal(w[0], w[1]);
	master_stop(f->m);
	f->mcfg.catalog.lease_ttl_ms = 600;
	start_master(f);
	node[2] = open_coord(f, "c", 100, 0);
	/* Past the second heartbeat of a and b under the old pace (6.7 s). */
	while (sr_mono_ms() - t0 < 7500) {
		for (int i = 0; i < 3; i++)
			draw_one(node[i], i, d, &n);
		nanosleep(&ms1, NULL);
	}
	size_t a_drawn = 0;
	for (size_t i = 0; i < n; i++)
		a_drawn += d[i].node == 0;
	assert_true(a_drawn > 0);
	sr_coordinator_close(node[0]);
	node[0] = NULL;
	/* c gets a's id within a few heartbeats; draw 300 ms more after that. */
	int64_t until = sr_mono_ms() + 10000;
	while (sr_mono_ms() < until) {
		draw_one(node[1], 1, d, &n);
		size_t had = n;
		draw_one(node[2], 2, d, &n);
		if (n > had && until > sr_mono_ms() + 300)
			until = sr_mono_ms() + 300;
		nanosleep(&ms1, NULL);
	}

	/* A worker id passes from node to node and never comes back while
	 * another node issued under it in between. */
	sr_flake_layout l;
	sr_coordinator_layout(node[1], &l);
	sr_flake_layout fl = {(uint8_t) l.time_bits, (uint8_t) l.worker_bits, (uint8_t) l.seq_bits,
	    l.unit_ms, l.epoch_ms};
	int holder[2] = {-1, -1};
	bool done[2][3] = {{false}};
	size_t overlaps = 0, c_drawn = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t tick;
		uint32_t wid, seq;
		flake_decode(&fl, d[i].txid, &tick, &wid, &seq);
		assert_true(wid < 2);
		if (holder[wid] != d[i].node) {
			if (holder[wid] >= 0)
				done[wid][holder[wid]] = true;
			overlaps += done[wid][d[i].node];
			holder[wid] = d[i].node;
		}
		c_drawn += d[i].node == 2;
	}
	assert_int_equal(overlaps, 0);
	assert_true(c_drawn > 0);
	qsort(d, n, sizeof(*d), drawn_by_txid);
	size_t dups = 0;
	for (size_t i = 1; i < n; i++)
		dups += d[i].txid == d[i - 1].txid;
	assert_int_equal(dups, 0);
	for (int i = 1; i < 3; i++)
		sr_coordinator_close(node[i]);
	free(d);
}

/* Calls sr_next_id every 20 ms, for at most 5 s, until it returns want;
 * returns the calls that did not, checking they are increasing above
 * *last (which follows them). */
static int
poll_until(struct fx *f, const char *seq, int want, uint64_t *last)
{
	int other = 0, rv;
	uint64_t id;
	int64_t until = sr_mono_ms() + 5000;
	while ((rv = sr_next_id(f->c, seq, &id)) != want && sr_mono_ms() < until) {
		if (rv == SR_OK) {
			assert_true(id > *last);
			*last = id;
		}
		other++;
		nanosleep(&(struct timespec) {0, 20 * 1000000L}, NULL);
	}
	assert_int_equal(rv, want);
	if (rv == SR_OK) {
		assert_true(id > *last);
		*last = id;
	}
	return other;
}

/*
 * A dropped sequence stops being served within a heartbeat (400 ms here),
 * though the coordinator holds most of a 1000-ID chunk of it; created again,
 * it is leased and served again without a restart, above every ID issued
 * under the name before. Both were broken: the held chunk kept being served,
 * and SR_ENOTFOUND stuck until the coordinator restarted.
 */
static void
test_drop_and_recreate(void **state)
{
	struct fx *f = *state;
	create_seq(f, "d", 1000);
	f->c = open_coord(f, "c1", 1000, 0);
	uint64_t last = 0;
	assert_int_equal(poll_until(f, "d", SR_OK, &last), 0);
	assert_int_equal(last, 1);
	sr_client *cl;
	assert_int_equal(sr_client_open(f->url, 3000, &cl), SR_OK);
	assert_int_equal(sr_client_seq_drop(cl, "d"), SR_OK);
	/* 250 polls at most: far fewer than the 999 IDs held. */
	poll_until(f, "d", SR_ENOTFOUND, &last);
	uint64_t id;
	assert_int_equal(sr_next_id(f->c, "d", &id), SR_ENOTFOUND);
	sr_seq_info info;
	sr_seq_spec spec = {.name = "d", .chunk_size = 1000, .max_chunk = 1000};
	assert_int_equal(sr_client_seq_create(cl, &spec, &info), SR_OK);
	assert_true(info.start > last);
	sr_client_close(cl);
	uint64_t before = last;
	poll_until(f, "d", SR_OK, &last);
	assert_true(last > before);
	assert_true(last >= info.start);
}

/* What the log callback received; written by the library's threads. */
struct logged {
	pthread_mutex_t mu;
	int n, info;
	char last[256];
};

static void
log_cb(void *arg, sr_log_level level, const char *msg)
{
	struct logged *l = arg;
	pthread_mutex_lock(&l->mu);
	l->n++;
	if (level == SR_LOG_INFO)
		l->info++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
	pthread_mutex_unlock(&l->mu);
}

/* With a log callback in the config, the coordinator's messages (here the
 * worker id granted at join) reach it with their level, not stderr. */
static void
test_log_callback(void **state)
{
	struct fx *f = *state;
	struct logged l = {.mu = PTHREAD_MUTEX_INITIALIZER};
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	assert_null(cfg.log_fn); /* stderr by default */
	cfg.master_url = f->url;
	cfg.node_name = "logged";
	cfg.log_fn = log_cb;
	cfg.log_arg = &l;
	char err[256];
	assert_int_equal(sr_coordinator_open(&cfg, &f->c, err, sizeof(err)), SR_OK);
	uint64_t txid;
	assert_int_equal(sr_next_txid(f->c, &txid), SR_OK);
	sr_coordinator_close(f->c);
	f->c = NULL;
	pthread_mutex_lock(&l.mu);
	int n = l.n, info = l.info;
	char last[256];
	snprintf(last, sizeof(last), "%s", l.last);
	pthread_mutex_unlock(&l.mu);
	assert_true(n >= 1);
	assert_true(info >= 1);
	assert_non_null(strstr(last, "worker id"));
}

/* A grant withdrawn by the master (a reply without one) is logged as a
 * warning naming the id; a renewal of the same id is not logged again. */
static void
test_worker_lost_logged(void **state)
{
	(void) state;
	struct logged l = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct worker_lease w;
	worker_init(&w, "wl", 5, 1000, 0, log_cb, &l);
	sr_flake_layout lay;
	flake_layout_default(&lay);
	struct worker_grant g = {true, 7, 0, 0}, none = {false, 0, 0, 0};
	char err[128];
	assert_int_equal(worker_apply(&w, &lay, &g, sr_mono_us(), 1000, err, sizeof(err)), SR_OK);
	int granted = l.n;
	assert_int_equal(granted, 1); /* "worker id 7, issuing above ..." */
	assert_int_equal(worker_apply(&w, NULL, &g, sr_mono_us(), 1000, err, sizeof(err)), SR_OK);
	assert_int_equal(l.n, granted);
	assert_int_equal(worker_apply(&w, NULL, &none, sr_mono_us(), 1000, err, sizeof(err)),
	    SR_OK);
	assert_int_equal(l.n, granted + 1);
	assert_int_equal(l.info, 1); /* the loss is a warning */
	assert_non_null(strstr(l.last, "worker id 7 lost"));
	/* Losing nothing is not logged. */
	assert_int_equal(worker_apply(&w, NULL, &none, sr_mono_us(), 1000, err, sizeof(err)),
	    SR_OK);
	assert_int_equal(l.n, granted + 1);
}

/*
 * A handle taken before any call holds no ticket of a sequence without
 * prefetch: an ID another coordinator hands out after the handle was taken
 * is below the handle's first ID.
 */
static void
test_ticket_handle(void **state)
{
	struct fx *f = *state;
	sr_client *cl;
	assert_int_equal(sr_client_open(f->url, 3000, &cl), SR_OK);
	sr_seq_spec spec = {.name = "t", .chunk_size = 1, .block = 1, .no_prefetch = 1};
	assert_int_equal(sr_client_seq_create(cl, &spec, NULL), SR_OK);
	sr_client_close(cl);
	f->c = open_coord(f, "c1", 1000, 0);
	sr_coordinator *c2 = open_coord(f, "c2", 1000, 0);
	sr_sequence *h;
	uint64_t early, later;
	assert_int_equal(sr_sequence_get(f->c, "t", &h), SR_OK);
	assert_int_equal(sr_next_id(c2, "t", &early), SR_OK);
	assert_int_equal(sr_seq_next_id(h, &later), SR_OK);
	assert_true(later > early);
	assert_int_equal(sr_next_id(c2, "t", &early), SR_OK);
	assert_true(early > later);
	sr_coordinator_close(c2);
}

/*
 * Chunks handed over whole (sr_seq_take_chunk, for the PostgreSQL
 * extension's shared memory): each is taken once, lies above every chunk
 * taken before, and sr_chunk_id walks it; the next is leased in the
 * background, and with the master gone a take fails with SR_EUNAVAILABLE
 * after the lease timeout, then succeeds again once the master is back.
 */
/* sr_next_id by name keeps the thread's last sequence (coordinator.c,
 * last_seq): alternating names must still reach each its own sequence,
 * two coordinators asked in turn by one thread are each served from their
 * own sequence, and a handle of a closed coordinator is never used again
 * (ASan sees that use after free). */
static void
test_name_lookup_cache(void **state)
{
	struct fx *f = *state;
	create_seq(f, "la", 10);
	create_seq(f, "lb", 1000);
	f->c = open_coord(f, "c1", 300, 0);
	uint64_t a = 0, b = 0, id;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sr_next_id(f->c, "la", &id), SR_OK);
		assert_true(id > a);
		a = id;
		assert_int_equal(sr_next_id(f->c, "lb", &id), SR_OK);
		assert_true(id > b);
		b = id;
		assert_int_equal(sr_next_id(f->c, "lb", &id), SR_OK);
		assert_true(id > b);
		b = id;
	}
	/* 50 IDs of "la" took 5 chunks of 10; 100 of "lb" one chunk of 1000. */
	assert_true(a >= 50);
	assert_true(b <= 1000);
	assert_int_equal(sr_next_id(f->c, "nosuch", &id), SR_ENOTFOUND);
	assert_int_equal(sr_next_id(f->c, "bad name", &id), SR_EINVAL);
	assert_int_equal(sr_next_id(f->c, NULL, &id), SR_EINVAL);
	/* The cache still holds "lb" after the failed calls. */
	assert_int_equal(sr_next_id(f->c, "lb", &id), SR_OK);
	assert_true(id > b);
	/* Two live coordinators asked in turn by one thread: each call is
	 * served by its own coordinator's chunk (c1 holds 1..1000, c2 a
	 * later one). */
	sr_coordinator *c2 = open_coord(f, "c2", 300, 0);
	uint64_t b2 = 0;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(sr_next_id(c2, "lb", &id), SR_OK);
		assert_true(id > 1000 && id > b2);
		b2 = id;
		assert_int_equal(sr_next_id(f->c, "lb", &id), SR_OK);
		assert_true(id <= 1000 && id > b);
		b = id;
	}
	sr_coordinator_close(f->c);
	f->c = c2;
	/* The cache holds c1's closed handle now: c2 must not use it. */
	assert_int_equal(sr_next_id(f->c, "lb", &id), SR_OK);
	assert_true(id > b2);
}

static void
test_take_chunk(void **state)
{
	struct fx *f = *state;
	create_seq(f, "tc", 100);
	f->c = open_coord(f, "c1", 300, 0);
	sr_sequence *s;
	sr_chunk ch;
	assert_int_equal(sr_sequence_get(f->c, "tc", &s), SR_OK);
	assert_int_equal(sr_seq_take_chunk(NULL, &ch), SR_EINVAL);
	assert_int_equal(sr_seq_take_chunk(s, NULL), SR_EINVAL);
	uint64_t last = 0;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(sr_seq_take_chunk(s, &ch), SR_OK);
		assert_int_equal(ch.c, 100);
		for (uint64_t j = 1; j <= ch.c; j++) {
			uint64_t id = sr_chunk_id(&ch, j);
			assert_true(id > last);
			last = id;
		}
	}
	/* The first chunk of the first range is the sequence's start. */
	sr_chunk first = {.start = 0, .n = 1, .k = 0, .c = 100};
	assert_int_equal(sr_chunk_id(&first, 1), 1);
	/* Let the background lease of the next chunk land, then stop the
	 * master: that chunk is still handed over, the one after is not. */
	struct timespec ts = {0, 200 * 1000000L};
	nanosleep(&ts, NULL);
	master_stop(f->m);
	f->m = NULL;
	assert_int_equal(sr_seq_take_chunk(s, &ch), SR_OK);
	assert_true(sr_chunk_id(&ch, 1) > last);
	last = sr_chunk_id(&ch, ch.c);
	int64_t t0 = sr_mono_ms();
	assert_int_equal(sr_seq_take_chunk(s, &ch), SR_EUNAVAILABLE);
	assert_true(sr_mono_ms() - t0 >= 300);
	start_master(f);
	int rv;
	int64_t until = sr_mono_ms() + 10000;
	while ((rv = sr_seq_take_chunk(s, &ch)) != SR_OK && sr_mono_ms() < until)
		;
	assert_int_equal(rv, SR_OK);
	assert_true(sr_chunk_id(&ch, 1) > last);
	/* The coordinator's own IDs of the sequence come from later chunks. */
	uint64_t id;
	assert_int_equal(sr_seq_next_id(s, &id), SR_OK);
	assert_true(id > sr_chunk_id(&ch, ch.c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_first_use_and_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads_txids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txid_floor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_master_outage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejoin_txids_increase, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_far_epoch_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_with_shorter_ttl, setup_two_workers,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_lease_view_follows_reply_ttl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_and_recreate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_callback, setup, teardown),
	    cmocka_unit_test(test_worker_lost_logged),
	    cmocka_unit_test_setup_teardown(test_ticket_handle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_take_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_lookup_cache, setup, teardown),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini();
	return rv;
}
