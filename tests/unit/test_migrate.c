/*
 * Tests of `snowrange-master migrate`'s copy (master/migrate.c) over
 * in-memory stores and real SQLite stores: every row (the worker history
 * included) and the layout arrive, the destination's term ends above the
 * source's, the source's term is taken (a master still on it is fenced
 * out), and each refusal (a
 * destination that is not empty, an empty source, a source taken during
 * the copy, a commit that fails half way) leaves what migrate.h promises.
 * tests/ha/migrate.sh runs the command itself from SQLite to etcd.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook_store.h"
#include "mem_store.h"
#include "migrate.h"
#include "rm_rf.h"
#include "snowrange/error.h"
#include "store.h"

static const sr_flake_layout LAYOUT = {41, 10, 12, 1, INT64_C(1704067200000)};

/* A source as a master leaves it: three sequences (one a dropped
 * tombstone), two nodes, two worker grants, two history entries, the
 * layout, term 5. */
static void
fill(struct mem_store *m)
{
	memset(m, 0, sizeof(*m));
	m->base.ops = &mem_ops;
	m->term = 5;
	const char *names[] = {"alpha", "beta", "gone"};
	for (size_t i = 0; i < 3; i++) {
		struct store_seq *q = &m->seqs[m->nseqs++];
		snprintf(q->name, sizeof q->name, "%s", names[i]);
		q->start = 1;
		q->hwm = 1000 * (i + 1) + 7;
		q->chunk = 100;
		q->min_chunk = 1;
		q->max_chunk = 1 << 20;
		q->max_value = INT64_MAX;
		q->spare = (uint32_t) i;
		q->mode = i == 1 ? STORE_MODE_BLOCK : STORE_MODE_INTERLEAVED;
		q->dropped = i == 2;
		q->prefetch = i != 1;
	}
	for (uint64_t id = 1; id <= 2; id++) {
		struct store_node *n = &m->nodes[m->nnodes++];
		n->id = id;
		snprintf(n->name, sizeof n->name, "c%llu", (unsigned long long) id);
		snprintf(n->url, sizeof n->url, "tcp://10.0.0.%llu:7401", (unsigned long long) id);
		n->last_seen_ms = INT64_C(1767225600000) + (int64_t) id;
		n->left = id == 2;
	}
	for (uint32_t w = 0; w < 2; w++) {
		struct store_worker *g = &m->workers[m->nworkers++];
		g->id = w;
		g->node_id = w + 1;
		g->expires_ms = INT64_C(1767225610000);
		g->last_tick = 123456789 + w;
	}
	/* The worker history (decode names a txid's holder from it). */
	for (uint64_t e = 1; e <= 2; e++) {
		struct store_era *h = &m->eras[m->neras++];
		h->seq = e;
		h->worker = (uint32_t) (e - 1);
		h->node_id = e;
		h->floor_tick = 1000 * e;
		h->granted_ms = INT64_C(1767225600000) + (int64_t) e;
		snprintf(h->name, sizeof h->name, "c%llu", (unsigned long long) e);
	}
	m->layout = LAYOUT;
}

static void
empty(struct mem_store *m)
{
	memset(m, 0, sizeof(*m));
	m->base.ops = &mem_ops;
}

/* dst holds exactly src's rows and layout. */
static void
assert_same(struct store *a, struct store *b)
{
	struct store_state x, y;
	char why[256] = "";
	assert_int_equal(store_load(a, &x), SR_OK);
	assert_int_equal(store_load(b, &y), SR_OK);
	if (!store_state_equal(&x, &y, why, sizeof why))
		fail_msg("states differ: %s", why);
	store_state_free(&x);
	store_state_free(&y);
}

static void
test_copies_everything(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct migrate_result r;
	char err[512];
	fill(&src);
	empty(&dst);
	/* 3 + 2 + 2 + 2 rows, the layout and the term: 11 ops, 3 commits of 4. */
	assert_int_equal(migrate_copy(&src.base, &dst.base, 4, &r, err, sizeof err), SR_OK);
	assert_same(&src.base, &dst.base);
	assert_int_equal(r.nseqs, 3);
	assert_int_equal(r.nnodes, 2);
	assert_int_equal(r.nworkers, 2);
	assert_int_equal(r.neras, 2);
	assert_int_equal(r.commits, 3);
	assert_int_equal(dst.commits, 3);
	assert_int_equal(r.partial, 0);
	assert_int_equal(r.layout.worker_bits, 10);
	/* The source's term was taken (5 -> 6); the destination's is above
	 * it, so its first master takes 8. */
	assert_int_equal(src.term, 6);
	assert_int_equal(r.src_term, 6);
	assert_int_equal(dst.term, 7);
	assert_int_equal(r.dst_term, 7);
	/* The tombstone came along: the dropped name's hwm stays reserved. */
	assert_true(dst.seqs[2].dropped);
	assert_int_equal(dst.seqs[2].hwm, 3007);
}

/* A master still running on the source (term 5) is fenced out the moment
 * the migration reads: its next commit fails. */
static void
test_fences_the_old_master(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct migrate_result r;
	char err[512];
	fill(&src);
	empty(&dst);
	assert_int_equal(migrate_copy(&src.base, &dst.base, 128, &r, err, sizeof err), SR_OK);
	struct store_op op = {.kind = STORE_PUT_SEQ};
	op.u.seq = src.seqs[0];
	op.u.seq.hwm += 100;
	assert_int_equal(store_commit(&src.base, 5, &op, 1), SR_ESTALE);
	assert_int_equal(src.seqs[0].hwm, 1007);
}

/* A destination term already above the source's (a copy tried before and
 * cleared) still ends above both. */
static void
test_term_above_both(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct migrate_result r;
	char err[512];
	fill(&src);
	empty(&dst);
	dst.term = 40;
	assert_int_equal(migrate_copy(&src.base, &dst.base, 128, &r, err, sizeof err), SR_OK);
	assert_int_equal(dst.term, 42);
	assert_int_equal(r.commits, 1);
}

static void
test_refuses_nonempty_destination(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct migrate_result r;
	char err[512];
	fill(&src);
	empty(&dst);
	dst.layout = LAYOUT; /* a master started on it once */
	dst.term = 1;
	assert_int_equal(migrate_copy(&src.base, &dst.base, 128, &r, err, sizeof err), SR_EEXISTS);
	assert_non_null(strstr(err, "not empty"));
	/* Neither store was written, not even a term. */
	assert_int_equal(src.term, 5);
	assert_int_equal(dst.term, 1);
	assert_int_equal(dst.commits, 0);
	assert_int_equal(r.partial, 0);
	/* One row of any kind is enough. */
	empty(&dst);
	dst.workers[dst.nworkers++] = src.workers[0];
	assert_int_equal(migrate_copy(&src.base, &dst.base, 128, &r, err, sizeof err), SR_EEXISTS);
	assert_non_null(strstr(err, "1 worker grants"));
	/* A worker history alone too. */
	empty(&dst);
	dst.eras[dst.neras++] = src.eras[0];
	assert_int_equal(migrate_copy(&src.base, &dst.base, 128, &r, err, sizeof err), SR_EEXISTS);
}

static void
test_refuses_empty_source(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct migrate_result r;
	char err[512];
	empty(&src);
	empty(&dst);
	assert_int_equal(migrate_copy(&src.base, &dst.base, 128, &r, err, sizeof err),
	    SR_ENOTFOUND);
	assert_non_null(strstr(err, "nothing to migrate"));
	assert_int_equal(dst.commits, 0);
	assert_int_equal(dst.term, 0);
}

static void
fail_next_commit(void *arg)
{
	((struct mem_store *) arg)->fail_commits = 1;
}

/* The second of three commits fails: the destination holds part of the
 * copy, without the layout, and the message says to clear it. */
static void
test_partial_copy_is_reported(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct hook_store h;
	struct migrate_result r;
	char err[512];
	fill(&src);
	empty(&dst);
	/* Moments on dst: load 0-1, acquire 2-3, commit 1 4-5, commit 2 6. */
	hook_store_init(&h, &dst.base, 6, fail_next_commit, &dst);
	assert_int_equal(migrate_copy(&src.base, &h.base, 4, &r, err, sizeof err), SR_EIO);
	assert_int_equal(r.partial, 1);
	assert_non_null(strstr(err, "part of the copy"));
	assert_int_equal(dst.commits, 1);
	assert_false(store_layout_set(&dst.layout));
	/* And a second attempt refuses it as not empty. */
	assert_int_equal(migrate_copy(&src.base, &dst.base, 4, &r, err, sizeof err), SR_EEXISTS);
	/* A failure at the first commit wrote nothing. */
	empty(&dst);
	dst.fail_commits = 1;
	assert_int_equal(migrate_copy(&src.base, &dst.base, 4, &r, err, sizeof err), SR_EIO);
	assert_int_equal(r.partial, 0);
	assert_non_null(strstr(err, "nothing was written"));
}

static void
take_term(void *arg)
{
	((struct mem_store *) arg)->term++;
}

/* A master takes the source while the rows are copied: what was copied may
 * miss its commits, so the migration fails. */
static void
test_source_taken_during_copy(void **state)
{
	(void) state;
	struct mem_store src, dst;
	struct hook_store h;
	struct migrate_result r;
	char err[512];
	fill(&src);
	empty(&dst);
	/* Moments on src: acquire 0-1, the read-back load 2. */
	hook_store_init(&h, &src.base, 2, take_term, &src);
	assert_int_equal(migrate_copy(&h.base, &dst.base, 128, &r, err, sizeof err), SR_ESTALE);
	assert_non_null(strstr(err, "took the source's term"));
	assert_int_equal(r.partial, 1);
}

/* The same copy between two real SQLite stores, and back: the rows survive
 * the SQL, the term is raised by a commit (STORE_SET_TERM). */
static void
test_sqlite_to_sqlite(void **state)
{
	(void) state;
	char a[64], b[64], err[512];
	struct store *sa, *sb;
	struct mem_store src, back;
	struct migrate_result r;
	snprintf(a, sizeof a, "/tmp/snowrange-migrate-XXXXXX");
	snprintf(b, sizeof b, "/tmp/snowrange-migrate-XXXXXX");
	assert_non_null(mkdtemp(a));
	assert_non_null(mkdtemp(b));
	assert_int_equal(store_sqlite_open(a, &sa, err, sizeof err), SR_OK);
	assert_int_equal(store_sqlite_open(b, &sb, err, sizeof err), SR_OK);
	fill(&src);
	assert_int_equal(migrate_copy(&src.base, sa, 4, &r, err, sizeof err), SR_OK);
	assert_int_equal(r.dst_term, 7);
	assert_int_equal(migrate_copy(sa, sb, SIZE_MAX, &r, err, sizeof err), SR_OK);
	assert_int_equal(r.src_term, 8);
	assert_int_equal(r.dst_term, 9);
	assert_int_equal(r.commits, 1);
	assert_same(&src.base, sb);
	struct store_state s;
	assert_int_equal(store_load(sb, &s), SR_OK);
	assert_int_equal(s.term, 9);
	store_state_free(&s);
	/* A term is never lowered or kept by a commit. */
	struct store_op op = {.kind = STORE_SET_TERM, .u.term = 9};
	assert_int_equal(store_commit(sb, 9, &op, 1), SR_EINVAL);
	assert_non_null(strstr(store_errmsg(sb), "not above"));
	/* And back into memory: the store's rows, in the store's order. */
	empty(&back);
	assert_int_equal(migrate_copy(sb, &back.base, 128, &r, err, sizeof err), SR_OK);
	assert_same(&src.base, &back.base);
	assert_int_equal(back.term, 11);
	store_close(sa);
	store_close(sb);
	rm_rf(a);
	rm_rf(b);
}

static void
test_parse_url(void **state)
{
	(void) state;
	enum migrate_kind k;
	const char *dir;
	char err[256];
	assert_int_equal(migrate_parse_url("sqlite:/var/lib/sr", &k, &dir, err, sizeof err), SR_OK);
	assert_int_equal(k, MIGRATE_SQLITE);
	assert_string_equal(dir, "/var/lib/sr");
	assert_int_equal(migrate_parse_url("sqlite:///var/lib/sr", &k, &dir, err, sizeof err),
	    SR_OK);
	assert_string_equal(dir, "/var/lib/sr");
	assert_int_equal(migrate_parse_url("sqlite:data", &k, &dir, err, sizeof err), SR_OK);
	assert_string_equal(dir, "data");
	assert_int_equal(migrate_parse_url("etcd://127.0.0.1:2379/x/", &k, &dir, err, sizeof err),
	    SR_OK);
	assert_int_equal(k, MIGRATE_ETCD);
	/* A bare path, a missing directory, an unknown scheme. */
	assert_int_equal(migrate_parse_url("/var/lib/sr", &k, &dir, err, sizeof err), SR_EINVAL);
	assert_non_null(strstr(err, "sqlite:DIR"));
	assert_int_equal(migrate_parse_url("sqlite:", &k, &dir, err, sizeof err), SR_EINVAL);
	assert_int_equal(migrate_parse_url("sqlite://", &k, &dir, err, sizeof err), SR_EINVAL);
	assert_int_equal(migrate_parse_url("etdc://h:1", &k, &dir, err, sizeof err), SR_EINVAL);
	assert_int_equal(migrate_parse_url("etcd://", &k, &dir, err, sizeof err), SR_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_copies_everything),
	    cmocka_unit_test(test_fences_the_old_master),
	    cmocka_unit_test(test_term_above_both),
	    cmocka_unit_test(test_refuses_nonempty_destination),
	    cmocka_unit_test(test_refuses_empty_source),
	    cmocka_unit_test(test_partial_copy_is_reported),
	    cmocka_unit_test(test_source_taken_during_copy),
	    cmocka_unit_test(test_sqlite_to_sqlite),
	    cmocka_unit_test(test_parse_url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
