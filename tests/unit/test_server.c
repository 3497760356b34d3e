/*
 * Tests of the master's request handlers (master/server.c) served on a real
 * wire server over ipc://, with the catalog on an in-memory store behind a
 * gate: the test holds a commit open, lets leases gather behind it, and
 * makes chosen commits fail. What they check is the group commit of parked
 * leases (docs/decisions.md): the leases that arrive during one commit share
 * the next; a lease is answered only once the commit covering its range has
 * returned; a failed commit fails every lease of its group and none of their
 * IDs is ever handed out (later leases start above them); leases still
 * waiting when the flusher stops get an error, never a chunk; and under
 * rounds of leases back to back, still none before its commit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "mem_store.h"
#include "server.h"
#include "snowrange/error.h"
#include "util.h"
#include "wire.h"

#define NODES 6
#define TIMEOUT_MS 10000
/* Bounded waits for the server's threads: 100 s at worst, on a loaded
 * machine, never a timing assertion. */
#define POLL_MS 10
#define POLL_MAX 10000

/* ---- a store whose commits the test opens, counts and fails ---- */

struct gate_store {
	struct store base;
	struct mem_store mem;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool closed;  /* commits wait while closed */
	int entered;  /* commits begun */
	int fail_at;  /* the commit with this number fails with SR_EIO (0: none) */
	uint64_t hwm; /* the sequence's hwm as last committed */
};

static struct gate_store *
gate_of(struct store *st)
{
	return (struct gate_store *) st;
}

static int
gate_acquire(struct store *st, struct store_state *out)
{
	return store_acquire_and_load(&gate_of(st)->mem.base, out);
}

static int
gate_load(struct store *st, struct store_state *out)
{
	return store_load(&gate_of(st)->mem.base, out);
}

static int
gate_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	struct gate_store *g = gate_of(st);
	pthread_mutex_lock(&g->mu);
	int me = ++g->entered;
	pthread_cond_broadcast(&g->cv);
	while (g->closed)
		pthread_cond_wait(&g->cv, &g->mu);
	bool fail = me == g->fail_at;
	pthread_mutex_unlock(&g->mu);
	if (fail) {
		g->mem.err = "injected commit failure";
		return SR_EIO;
	}
	int rv = store_commit(&g->mem.base, term, ops, n);
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; rv == SR_OK && i < n; i++)
		if (ops[i].kind == STORE_PUT_SEQ && ops[i].u.seq.hwm > g->hwm)
			g->hwm = ops[i].u.seq.hwm;
	pthread_mutex_unlock(&g->mu);
	return rv;
}

static void
gate_close(struct store *st)
{
	/* The test owns it. */
	(void) st;
}

static const char *
gate_errmsg(struct store *st)
{
	return store_errmsg(&gate_of(st)->mem.base);
}

static const struct store_ops gate_ops = {
    .acquire_and_load = gate_acquire,
    .load = gate_load,
    .commit = gate_commit,
    .close = gate_close,
    .errmsg = gate_errmsg,
};

static void
gate_set(struct gate_store *g, bool closed, int fail_at)
{
	pthread_mutex_lock(&g->mu);
	g->closed = closed;
	g->fail_at = fail_at;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static int
gate_entered(struct gate_store *g)
{
	pthread_mutex_lock(&g->mu);
	int n = g->entered;
	pthread_mutex_unlock(&g->mu);
	return n;
}

static uint64_t
gate_hwm(struct gate_store *g)
{
	pthread_mutex_lock(&g->mu);
	uint64_t h = g->hwm;
	pthread_mutex_unlock(&g->mu);
	return h;
}

/* ---- fixture: a master on the gate store, served on ipc:// ---- */

struct fx {
	struct gate_store g;
	struct master *m;
	struct wire_server *srv;
	struct wire_chan *ch;
	char url[128];
	uint64_t node[NODES];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->g.base.ops = &gate_ops;
	f->g.mem.base.ops = &mem_ops;
	pthread_mutex_init(&f->g.mu, NULL);
	pthread_cond_init(&f->g.cv, NULL);
	struct catalog_config cfg;
	catalog_config_init(&cfg);
	char err[256] = "";
	assert_int_equal(master_open(&f->g.base, &cfg, &f->m, err, sizeof(err)), SR_OK);
	/* Block mode, chunk size 1 that never grows: every lease is a new
	 * range, so every lease waits for a commit. */
	struct catalog *cat = master_catalog(f->m);
	struct catalog_seq_spec spec = {.name = "t",
	    .chunk = 1,
	    .min_chunk = 1,
	    .max_chunk = 1,
	    .mode = STORE_MODE_BLOCK};
	int64_t now = sr_wall_ms();
	assert_int_equal(catalog_seq_create(cat, &spec, now, NULL), SR_OK);
	for (int i = 0; i < NODES; i++) {
		char name[32];
		struct catalog_grant gr;
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(catalog_node_join(cat, name, "", now, &f->node[i], &gr), SR_OK);
	}
	f->g.hwm = 0;
	snprintf(f->url, sizeof(f->url), "ipc:///tmp/sr-test-server-%ld.ipc", (long) getpid());
	size_t nr;
	const struct wire_route *r = master_routes(&nr);
	assert_int_equal(wire_server_start(f->url, r, nr, f->m, 16, &f->srv, err, sizeof(err)),
	    SR_OK);
	assert_int_equal(wire_chan_open(f->url, TIMEOUT_MS, &f->ch, err, sizeof(err)), SR_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	gate_set(&f->g, false, 0);
	wire_chan_close(f->ch);
	/* The flusher answers what is parked while the server can still
	 * send; then the server, then the master (master_stop's order). */
	master_stop_flusher(f->m);
	wire_server_stop(f->srv);
	master_stop(f->m);
	unlink(f->url + strlen("ipc://"));
	pthread_cond_destroy(&f->g.cv);
	pthread_mutex_destroy(&f->g.mu);
	free(f);
	return 0;
}

/* One lease over the wire, on a thread of its own. */
struct call {
	struct fx *f;
	uint64_t node;
	pthread_t thr;
	int rv;
	struct range_chunk ch;
	char err[256];
};

static void *
call_main(void *arg)
{
	struct call *c = arg;
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaseRequest l = SR__LEASE_REQUEST__INIT;
	l.node_id = c->node;
	l.sequence = "t";
	req.body_case = SR__REQUEST__BODY_LEASE;
	req.lease = &l;
	Sr__Response *resp = NULL;
	c->rv = wire_call(c->f->ch, &req, &resp, c->err, sizeof(c->err));
	if (c->rv == SR_OK) {
		const Sr__Chunk *k = resp->lease->chunk;
		if (k == NULL)
			c->rv = SR_EPROTO;
		else
			c->ch = (struct range_chunk) {k->start, k->n, k->k, k->c};
	}
	wire_response_free(resp);
	return NULL;
}

static void
call_start(struct fx *f, struct call *c, uint64_t node)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	c->node = node;
	assert_int_equal(pthread_create(&c->thr, NULL, call_main, c), 0);
}

static void
call_join(struct call *c)
{
	pthread_join(c->thr, NULL);
}

static void
pause_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits (bounded) until the store has begun n commits. */
static void
wait_entered(struct fx *f, int n)
{
	for (int i = 0; i < POLL_MAX && gate_entered(&f->g) < n; i++)
		pause_ms(POLL_MS);
	assert_true(gate_entered(&f->g) >= n);
}

/* Waits (bounded) until n leases are parked at the master. */
static void
wait_parked(struct fx *f, size_t n)
{
	for (int i = 0; i < POLL_MAX && master_leases_parked(f->m, NULL) < n; i++)
		pause_ms(POLL_MS);
	assert_int_equal(master_leases_parked(f->m, NULL), n);
}

/*
 * Holds the first lease's commit open, lets the other NODES-1 leases arrive
 * and park behind it: they must share the second commit. Returns with the
 * first commit still held; calls[0] is the first lease.
 */
static void
gather(struct fx *f, struct call *calls, int fail_at)
{
	int before = gate_entered(&f->g);
	gate_set(&f->g, true, fail_at);
	call_start(f, &calls[0], f->node[0]);
	wait_entered(f, before + 1);
	for (int i = 1; i < NODES; i++)
		call_start(f, &calls[i], f->node[i]);
	/* The first lease is parked too: it waits for the commit held. */
	wait_parked(f, NODES);
	assert_int_equal(gate_entered(&f->g), before + 1);
}

static bool
overlap(const struct range_chunk *a, const struct range_chunk *b)
{
	/* With chunk size 1 a chunk is one ID. */
	return range_id(a, 1) == range_id(b, 1);
}

/* Leases that arrive during a commit share the next one; each is answered
 * only once its range is durable. */
static void
test_group(void **state)
{
	struct fx *f = *state;
	struct call calls[NODES];
	gather(f, calls, 0);
	int before = gate_entered(&f->g) - 1;
	gate_set(&f->g, false, 0);
	for (int i = 0; i < NODES; i++)
		call_join(&calls[i]);
	uint64_t hwm = gate_hwm(&f->g);
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(calls[i].rv, SR_OK);
		/* Answered only after the commit that covers it. */
		assert_true(range_end(&calls[i].ch) <= hwm);
		for (int j = 0; j < i; j++)
			assert_false(overlap(&calls[i].ch, &calls[j].ch));
	}
	/* Two commits for NODES leases: the first alone, the rest in one. */
	assert_int_equal(gate_entered(&f->g) - before, 2);
	assert_int_equal(master_leases_parked(f->m, NULL), 0);
}

/* A commit that fails in the middle of the run fails every lease of its
 * group, and none of their IDs is handed out later. */
static void
test_group_commit_fails(void **state)
{
	struct fx *f = *state;
	struct call calls[NODES];
	/* The first lease's commit succeeds, the group's (the next) fails. */
	int fail_at = gate_entered(&f->g) + 2;
	gather(f, calls, fail_at);
	gate_set(&f->g, false, fail_at);
	for (int i = 0; i < NODES; i++)
		call_join(&calls[i]);
	assert_int_equal(calls[0].rv, SR_OK);
	uint64_t first_end = range_end(&calls[0].ch);
	assert_true(first_end <= gate_hwm(&f->g));
	for (int i = 1; i < NODES; i++) {
		assert_int_equal(calls[i].rv, SR_EIO);
		assert_non_null(strstr(calls[i].err, "injected commit failure"));
	}
	assert_int_equal(gate_hwm(&f->g), first_end);
	assert_int_equal(master_leases_parked(f->m, NULL), 0);

	/* Every node leases again: all succeed, above every range the failed
	 * group reserved, and no ID twice. */
	gate_set(&f->g, false, 0);
	struct call again[NODES];
	for (int i = 0; i < NODES; i++)
		call_start(f, &again[i], f->node[i]);
	for (int i = 0; i < NODES; i++)
		call_join(&again[i]);
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(again[i].rv, SR_OK);
		assert_true(range_id(&again[i].ch, 1) > first_end + (NODES - 1));
		assert_true(range_end(&again[i].ch) <= gate_hwm(&f->g));
		assert_false(overlap(&again[i].ch, &calls[0].ch));
		for (int j = 0; j < i; j++)
			assert_false(overlap(&again[i].ch, &again[j].ch));
	}
}

static void *
stop_main(void *arg)
{
	master_stop_flusher(arg);
	return NULL;
}

/* Leases still waiting when the flusher stops get SR_ECLOSED, not a chunk;
 * the one whose commit completed gets its chunk; later leases wait for their
 * commit on their own thread and still work. */
static void
test_stop_with_parked(void **state)
{
	struct fx *f = *state;
	struct call calls[NODES];
	gather(f, calls, 0);
	pthread_t stopper;
	assert_int_equal(pthread_create(&stopper, NULL, stop_main, f->m), 0);
	/* The flusher is inside the held commit; it stops once that returns. */
	bool stopping = false;
	for (int i = 0; i < POLL_MAX && !stopping; i++) {
		(void) master_leases_parked(f->m, &stopping);
		if (!stopping)
			pause_ms(POLL_MS);
	}
	assert_true(stopping);
	gate_set(&f->g, false, 0);
	pthread_join(stopper, NULL);
	for (int i = 0; i < NODES; i++)
		call_join(&calls[i]);
	assert_int_equal(calls[0].rv, SR_OK);
	for (int i = 1; i < NODES; i++)
		assert_int_equal(calls[i].rv, SR_ECLOSED);
	uint64_t reserved = range_end(&calls[0].ch) + (NODES - 1);
	struct call late;
	call_start(f, &late, f->node[1]);
	call_join(&late);
	assert_int_equal(late.rv, SR_OK);
	assert_true(range_id(&late.ch, 1) > reserved);
	assert_true(range_end(&late.ch) <= gate_hwm(&f->g));
}

/* Rounds of leases from every node at once, back to back, with the gate
 * open (as a coordinator leases with chunk size 1): groups form and change
 * from commit to commit, and still every reply comes after the commit that
 * covers it (the store's hwm, read once the reply is in, is at or above its
 * end), no ID twice, nothing left parked. */
#define ROUNDS 50

struct rounds {
	struct fx *f;
	uint64_t node;
	pthread_t thr;
	int bad; /* replies that were errors or came before their commit */
	uint64_t ids[ROUNDS];
};

static void *
rounds_main(void *arg)
{
	struct rounds *r = arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct call c;
		memset(&c, 0, sizeof(c));
		c.f = r->f;
		c.node = r->node;
		call_main(&c);
		if (c.rv != SR_OK || range_end(&c.ch) > gate_hwm(&r->f->g))
			r->bad++;
		r->ids[i] = c.rv == SR_OK ? range_id(&c.ch, 1) : 0;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

static void
test_rounds_answered_after_commit(void **state)
{
	struct fx *f = *state;
	struct rounds r[NODES];
	static uint64_t all[NODES * ROUNDS];
	int before = gate_entered(&f->g);
	for (int i = 0; i < NODES; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].f = f;
		r[i].node = f->node[i];
		assert_int_equal(pthread_create(&r[i].thr, NULL, rounds_main, &r[i]), 0);
	}
	for (int i = 0; i < NODES; i++)
		pthread_join(r[i].thr, NULL);
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(r[i].bad, 0);
		memcpy(all + i * ROUNDS, r[i].ids, sizeof(r[i].ids));
	}
	qsort(all, NODES * ROUNDS, sizeof(all[0]), cmp_u64);
	for (int i = 1; i < NODES * ROUNDS; i++)
		assert_true(all[i] > all[i - 1]);
	/* At most one commit per lease (fewer when they were grouped). */
	assert_true(gate_entered(&f->g) - before <= NODES * ROUNDS);
	assert_int_equal(master_leases_parked(f->m, NULL), 0);
}

/* Without a socket (wire_serve_bytes: fuzzers, tests) nothing can be
 * parked: the handler waits for its commit and answers itself. */
static void
test_serve_bytes_unparked(void **state)
{
	struct fx *f = *state;
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaseRequest l = SR__LEASE_REQUEST__INIT;
	l.node_id = f->node[2];
	l.sequence = "t";
	req.protocol_version = WIRE_PROTOCOL_VERSION;
	req.body_case = SR__REQUEST__BODY_LEASE;
	req.lease = &l;
	size_t len = sr__request__get_packed_size(&req);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	sr__request__pack(&req, buf);
	size_t nr, outlen;
	void *out;
	const struct wire_route *r = master_routes(&nr);
	assert_int_equal(wire_serve_bytes(r, nr, f->m, buf, len, &out, &outlen), SR_OK);
	Sr__Response *resp = sr__response__unpack(NULL, outlen, out);
	assert_non_null(resp);
	assert_null(resp->error);
	assert_int_equal(resp->body_case, SR__RESPONSE__BODY_LEASE);
	assert_true(resp->lease->chunk->start + resp->lease->chunk->c <= gate_hwm(&f->g));
	assert_int_equal(master_leases_parked(f->m, NULL), 0);
	sr__response__free_unpacked(resp, NULL);
	free(out);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_with_parked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_serve_bytes_unparked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rounds_answered_after_commit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
