/*
 * Tests of the SQLite store (master/store_sqlite.c) against the store.h
 * contract: schema and pragmas at open, the fencing term across reopen,
 * durable batches, compare-and-swap on the term, and batches that fail
 * (bad values, an injected SQLite error) leaving nothing behind.
 *
 * Each test gets a fresh directory under /tmp, removed afterwards. A second
 * sqlite3 connection on the same file checks what the store wrote, and an
 * auto-extension hands the test the store's own connection, because
 * synchronous is a per-connection setting no other connection can see.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rm_rf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "snowrange/error.h"
#include "store.h"

struct fixture {
	char dir[64];
	char db[128];
};

/* Helpers */

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/snowrange-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof f->db, "%s/snowrange.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f);
	return 0;
}

static struct store *
open_ok(const char *dir)
{
	struct store *st = NULL;
	char err[256];
	int rc = store_sqlite_open(dir, &st, err, sizeof err);

	if (rc != SR_OK)
		print_error("store_sqlite_open: %s\n", err);
	assert_int_equal(rc, SR_OK);
	assert_non_null(st);
	assert_string_equal(store_errmsg(st), "");
	return st;
}

/* Takes the next term as a starting master does, dropping the state. */
static int
acquire(struct store *st, uint64_t *term)
{
	struct store_state ss;
	int rc = store_acquire_and_load(st, &ss);

	if (rc == SR_OK)
		*term = ss.term;
	store_state_free(&ss);
	return rc;
}

static struct store_op
put_seq(const char *name, uint64_t hwm)
{
	struct store_op op;

	memset(&op, 0, sizeof op);
	op.kind = STORE_PUT_SEQ;
	snprintf(op.u.seq.name, sizeof op.u.seq.name, "%s", name);
	op.u.seq.start = 1;
	op.u.seq.hwm = hwm;
	op.u.seq.chunk = 1000;
	op.u.seq.min_chunk = 10;
	op.u.seq.max_chunk = 1000000;
	op.u.seq.max_value = INT64_MAX;
	op.u.seq.spare = 2;
	op.u.seq.mode = STORE_MODE_BLOCK;
	op.u.seq.dropped = 1;
	op.u.seq.prefetch = hwm % 2; /* both settings round-trip */
	return op;
}

static struct store_op
del_seq(const char *name)
{
	struct store_op op;

	memset(&op, 0, sizeof op);
	op.kind = STORE_DEL_SEQ;
	snprintf(op.u.seq.name, sizeof op.u.seq.name, "%s", name);
	return op;
}

static struct store_op
put_node(uint64_t id, const char *name, int64_t seen)
{
	struct store_op op;

	memset(&op, 0, sizeof op);
	op.kind = STORE_PUT_NODE;
	op.u.node.id = id;
	snprintf(op.u.node.name, sizeof op.u.node.name, "%s", name);
	snprintf(op.u.node.url, sizeof op.u.node.url, "tcp://%s:7000", name);
	op.u.node.last_seen_ms = seen;
	op.u.node.left = id % 2 == 0;
	return op;
}

/* Field by field: struct copies need not preserve padding bytes. */
static void
assert_seq_equal(const struct store_seq *a, const struct store_seq *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->start, b->start);
	assert_int_equal(a->hwm, b->hwm);
	assert_int_equal(a->chunk, b->chunk);
	assert_int_equal(a->min_chunk, b->min_chunk);
	assert_int_equal(a->max_chunk, b->max_chunk);
	assert_int_equal(a->max_value, b->max_value);
	assert_int_equal(a->spare, b->spare);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->dropped, b->dropped);
	assert_int_equal(a->prefetch, b->prefetch);
}

static void
assert_node_equal(const struct store_node *a, const struct store_node *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->url, b->url);
	assert_int_equal(a->last_seen_ms, b->last_seen_ms);
	assert_int_equal(a->left, b->left);
}

/* Runs sql on db, which must yield one row, and returns its integer. */
static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Same, for a text result, copied into buf. */
static const char *
query_text(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, cap, "%s", (const char *) sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

static sqlite3 *
peek_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* The store's own connection, caught as it opens (see the file comment). */
static sqlite3 *caught_db;
static int catching;

static int
catch_db(sqlite3 *db, char **errmsg, const struct sqlite3_api_routines *api)
{
	(void) errmsg;
	(void) api;
	if (!catching)
		return SQLITE_OK;
	caught_db = db;
	/* Start from the weakest setting, so that the test sees FULL only if
	 * the store asked for it, whatever this SQLite build's default is. */
	return sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
}

/* Tests */

static void
test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	char dir[128], path[160];
	struct store *st;
	struct store_state ss;
	sqlite3 *db;

	/* A data directory that does not exist yet is created. */
	snprintf(dir, sizeof dir, "%s/data", f->dir);
	snprintf(path, sizeof path, "%s/snowrange.db", dir);
	st = open_ok(dir);

	db = peek_open(path);
	assert_int_equal(query_int(db,
	                     "SELECT count(*) FROM sqlite_master WHERE "
	                     "type = 'table' AND name IN "
	                     "('meta', 'sequences', 'nodes')"),
	    3);
	assert_int_equal(query_int(db,
	                     "SELECT value FROM meta "
	                     "WHERE key = 'schema_version'"),
	    3);
	sqlite3_close(db);

	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.term, 0);
	assert_int_equal(ss.nseqs, 0);
	assert_int_equal(ss.nnodes, 0);
	store_state_free(&ss);
	assert_null(ss.seqs);
	store_state_free(&ss); /* again: harmless */
	store_state_free(NULL);
	store_close(st);

	/* Reopening an existing store leaves it as it was. */
	st = open_ok(dir);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.term, 0);
	store_state_free(&ss);
	store_close(st);
	store_close(NULL);
}

static void
test_pragmas(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	sqlite3 *db;
	char buf[32];

	caught_db = NULL;
	catching = 1;
	assert_int_equal(sqlite3_auto_extension((void (*)(void)) catch_db), SQLITE_OK);
	st = open_ok(f->dir);
	catching = 0;
	sqlite3_reset_auto_extension();
	assert_non_null(caught_db);

	/* The store's connection: synchronous is per connection. */
	assert_int_equal(query_int(caught_db, "PRAGMA synchronous"), 2);
	assert_string_equal(query_text(caught_db, "PRAGMA journal_mode", buf, sizeof buf), "wal");

	/* WAL is a property of the file: another connection sees it. */
	db = peek_open(f->db);
	assert_string_equal(query_text(db, "PRAGMA journal_mode", buf, sizeof buf), "wal");
	sqlite3_close(db);
	store_close(st);
}

static void
test_acquire_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	assert_int_equal(term, 1);
	store_close(st);

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	assert_int_equal(term, 2);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.term, 2);
	store_state_free(&ss);
	store_close(st);
}

static void
test_commit_persists(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;
	struct store_op ops[4];

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	ops[0] = put_seq("orders", 5000);
	ops[1] = put_seq("invoices", 0);
	ops[1].u.seq.mode = STORE_MODE_INTERLEAVED;
	ops[1].u.seq.spare = UINT32_MAX;
	/* The largest storable values round-trip unchanged. */
	ops[1].u.seq.hwm = INT64_MAX;
	ops[2] = put_node(7, "coord-a", 1700000000123);
	ops[3] = put_node((uint64_t) INT64_MAX, "coord-b", -5);
	assert_int_equal(store_commit(st, term, ops, 4), SR_OK);
	/* INSERT OR REPLACE: a second put of a name updates it. */
	ops[0].u.seq.hwm = 9000;
	assert_int_equal(store_commit(st, term, ops, 1), SR_OK);
	store_close(st);

	st = open_ok(f->dir);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.term, term);
	assert_int_equal(ss.nseqs, 2);
	/* Rows come back ordered by name. */
	assert_seq_equal(&ss.seqs[0], &ops[1].u.seq);
	assert_seq_equal(&ss.seqs[1], &ops[0].u.seq);
	assert_int_equal(ss.seqs[1].hwm, 9000);
	assert_int_equal(ss.nnodes, 2);
	assert_node_equal(&ss.nodes[0], &ops[2].u.node);
	assert_node_equal(&ss.nodes[1], &ops[3].u.node);
	store_state_free(&ss);
	store_close(st);
}

/* Bytes in the WAL file of dir's database (0 when there is none). */
static off_t
wal_size(const struct fixture *f)
{
	char path[160];
	struct stat sb;

	snprintf(path, sizeof path, "%s-wal", f->db);
	return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* A lease's commit (a sequence's new hwm) writes one page to the WAL: the
 * row is updated in place, not deleted and inserted again (which rewrote
 * the name index's page as well, two pages and more bytes to fdatasync per
 * lease). */
static void
test_put_seq_one_page(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	uint64_t term = 0;
	struct store_op op = put_seq("orders", 1000);

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	assert_int_equal(store_commit(st, term, &op, 1), SR_OK);
	for (uint64_t hwm = 2000; hwm <= 5000; hwm += 1000) {
		off_t before = wal_size(f);
		op.u.seq.hwm = hwm;
		assert_int_equal(store_commit(st, term, &op, 1), SR_OK);
		/* One frame: a 24-byte header and one page (4096 bytes, the
		 * default page size). */
		assert_int_equal(wal_size(f) - before, 24 + 4096);
	}
	store_close(st);
}

static void
test_commit_stale_term(void **state)
{
	struct fixture *f = *state;
	struct store *a, *b;
	struct store_state ss;
	uint64_t ta = 0, tb = 0;
	struct store_op ops[2];

	a = open_ok(f->dir);
	assert_int_equal(acquire(a, &ta), SR_OK);
	assert_int_equal(ta, 1);

	/* A second master takes over: a's term is now stale. */
	b = open_ok(f->dir);
	assert_int_equal(acquire(b, &tb), SR_OK);
	assert_int_equal(tb, 2);

	ops[0] = put_seq("orders", 100);
	ops[1] = put_node(1, "coord-a", 1);
	assert_int_equal(store_commit(a, ta, ops, 2), SR_ESTALE);
	assert_string_not_equal(store_errmsg(a), "");
	assert_int_equal(store_commit(a, ta, NULL, 0), SR_ESTALE);

	assert_int_equal(store_load(b, &ss), SR_OK);
	assert_int_equal(ss.term, 2);
	assert_int_equal(ss.nseqs, 0);
	assert_int_equal(ss.nnodes, 0);
	store_state_free(&ss);

	/* The failed commit left a usable handle (no open transaction). */
	assert_int_equal(store_commit(b, tb, ops, 2), SR_OK);
	assert_int_equal(acquire(a, &ta), SR_OK);
	assert_int_equal(ta, 3);
	assert_int_equal(store_commit(b, tb, ops, 1), SR_ESTALE);
	assert_int_equal(store_load(a, &ss), SR_OK);
	assert_int_equal(ss.nseqs, 1);
	assert_int_equal(ss.nnodes, 1);
	store_state_free(&ss);

	store_close(a);
	store_close(b);
}

static void
test_del_seq(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;
	struct store_op ops[3];

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	ops[0] = put_seq("a", 1);
	ops[1] = put_seq("b", 2);
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);

	ops[0] = del_seq("a");
	ops[1] = del_seq("missing"); /* deleting nothing is not an error */
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	store_close(st);

	st = open_ok(f->dir);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nseqs, 1);
	assert_string_equal(ss.seqs[0].name, "b");
	assert_int_equal(ss.seqs[0].hwm, 2);
	store_state_free(&ss);

	/* Put then delete in one batch: applied in order. */
	ops[0] = put_seq("c", 3);
	ops[1] = del_seq("c");
	ops[2] = del_seq("b");
	assert_int_equal(store_commit(st, term, ops, 3), SR_OK);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nseqs, 0);
	assert_null(ss.seqs);
	store_state_free(&ss);
	store_close(st);
}

static void
test_reject_big_values(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;
	struct store_op ops[2];

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);

	/* The bad op comes second: the good first one must not land. */
	ops[0] = put_seq("good", 10);
	ops[1] = put_seq("bad", 10);
	ops[1].u.seq.max_value = (uint64_t) 1 << 63;
	assert_int_equal(store_commit(st, term, ops, 2), SR_EINVAL);
	assert_non_null(strstr(store_errmsg(st), "max_value"));

	ops[1] = put_node(UINT64_MAX, "huge", 0);
	assert_int_equal(store_commit(st, term, ops, 2), SR_EINVAL);

	/* An unterminated name is refused too, not read past. */
	ops[1] = put_seq("x", 1);
	memset(ops[1].u.seq.name, 'x', sizeof ops[1].u.seq.name);
	assert_int_equal(store_commit(st, term, ops, 2), SR_EINVAL);

	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nseqs, 0);
	assert_int_equal(ss.nnodes, 0);
	store_state_free(&ss);
	store_close(st);
}

static void
test_injected_failure_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;
	struct store_op ops[2];
	sqlite3 *db;

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);

	/* Make the second op of the batch fail inside SQLite. */
	db = peek_open(f->db);
	exec_ok(db,
	    "CREATE TRIGGER inject BEFORE INSERT ON sequences "
	    "BEGIN SELECT RAISE(ABORT, 'injected'); END");
	ops[0] = put_node(1, "coord-a", 1);
	ops[1] = put_seq("orders", 100);
	assert_int_equal(store_commit(st, term, ops, 2), SR_EIO);
	assert_non_null(strstr(store_errmsg(st), "injected"));
	assert_non_null(strstr(store_errmsg(st), f->db));

	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nnodes, 0);
	assert_int_equal(ss.nseqs, 0);
	store_state_free(&ss);

	/* Once the fault is gone the same handle commits normally. */
	exec_ok(db, "DROP TRIGGER inject");
	sqlite3_close(db);
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nnodes, 1);
	assert_int_equal(ss.nseqs, 1);
	store_state_free(&ss);
	store_close(st);
}

static void
test_corrupt_row_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	sqlite3 *db;

	st = open_ok(f->dir);
	/* A negative hwm cannot be a uint64 we wrote: load must not wrap it. */
	db = peek_open(f->db);
	exec_ok(db,
	    "INSERT INTO sequences VALUES "
	    "('bad', 1, -1, 1, 1, 1, 1, 0, 0, 0, 1)");
	sqlite3_close(db);
	assert_int_equal(store_load(st, &ss), SR_EIO);
	assert_null(ss.seqs);
	assert_int_equal(ss.nseqs, 0);
	assert_non_null(strstr(store_errmsg(st), "sequences"));
	store_close(st);
}

/* Two master processes on one file: the new one's term and load are one
 * transaction, so what the old one committed before is loaded, and what it
 * commits after is refused (the catalog-level interleavings are in
 * test_fence.c). */
static void
test_acquire_sees_or_fences(void **state)
{
	struct fixture *f = *state;
	struct store *a, *b;
	struct store_state ss;
	uint64_t ta = 0;
	struct store_op ops[2];

	a = open_ok(f->dir);
	b = open_ok(f->dir);
	assert_int_equal(acquire(a, &ta), SR_OK);
	ops[0] = put_seq("orders", 100);
	ops[1].kind = STORE_PUT_WORKER;
	ops[1].u.worker = (struct store_worker) {0, 7, 5000, 42};
	assert_int_equal(store_commit(a, ta, ops, 2), SR_OK);

	assert_int_equal(store_acquire_and_load(b, &ss), SR_OK);
	assert_int_equal(ss.term, ta + 1);
	assert_int_equal(ss.nseqs, 1);
	assert_int_equal(ss.seqs[0].hwm, 100);
	assert_int_equal(ss.nworkers, 1);
	assert_int_equal(ss.workers[0].node_id, 7);
	store_state_free(&ss);

	/* The old master's next range and grant are refused. */
	ops[0].u.seq.hwm = 200;
	ops[1].u.worker.id = 1;
	assert_int_equal(store_commit(a, ta, ops, 2), SR_ESTALE);
	assert_int_equal(store_load(b, &ss), SR_OK);
	assert_int_equal(ss.seqs[0].hwm, 100);
	assert_int_equal(ss.nworkers, 1);
	store_state_free(&ss);
	store_close(a);
	store_close(b);
}

/* A load that fails takes no term: nothing half done stays behind. */
static void
test_acquire_failure_keeps_term(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;
	sqlite3 *db;

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	db = peek_open(f->db);
	exec_ok(db,
	    "INSERT INTO sequences VALUES "
	    "('bad', 1, -1, 1, 1, 1, 1, 0, 0, 0, 1)");
	sqlite3_close(db);
	assert_int_equal(store_acquire_and_load(st, &ss), SR_EIO);
	assert_null(ss.seqs);
	assert_int_equal(ss.term, 0);
	assert_non_null(strstr(store_errmsg(st), "sequences"));
	db = peek_open(f->db);
	assert_int_equal(query_int(db, "SELECT value FROM meta WHERE key = 'term'"),
	    (int64_t) term);
	sqlite3_close(db);
	/* The handle is usable: the failed transaction was rolled back. */
	assert_int_equal(store_commit(st, term, NULL, 0), SR_OK);
	store_close(st);
}

/* A data directory written by the first release (schema version 1, no
 * prefetch column) opens, is upgraded in place, and its sequences keep
 * prefetching as they did; a file from a newer build is refused. */
static void
test_upgrade_from_v1(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	exec_ok(db,
	    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	    "CREATE TABLE sequences (name TEXT PRIMARY KEY, start INTEGER NOT NULL,"
	    " hwm INTEGER NOT NULL, chunk INTEGER NOT NULL, min_chunk INTEGER NOT NULL,"
	    " max_chunk INTEGER NOT NULL, max_value INTEGER NOT NULL,"
	    " spare INTEGER NOT NULL, mode INTEGER NOT NULL, dropped INTEGER NOT NULL);"
	    "INSERT INTO meta VALUES ('schema_version', 1), ('term', 7);"
	    "INSERT INTO sequences VALUES ('old', 1, 5000, 1000, 1000, 67108864,"
	    " 9223372036854775807, 0, 0, 0);");
	sqlite3_close(db);

	st = open_ok(f->dir);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.term, 7);
	assert_int_equal(ss.nseqs, 1);
	assert_string_equal(ss.seqs[0].name, "old");
	assert_int_equal(ss.seqs[0].hwm, 5000);
	assert_int_equal(ss.seqs[0].prefetch, 1);
	store_state_free(&ss);
	store_close(st);

	db = peek_open(f->db);
	assert_int_equal(query_int(db, "SELECT value FROM meta WHERE key = 'schema_version'"), 3);
	exec_ok(db, "UPDATE meta SET value = 99 WHERE key = 'schema_version'");
	sqlite3_close(db);
	char err[256];
	st = NULL;
	assert_int_equal(store_sqlite_open(f->dir, &st, err, sizeof err), SR_EIO);
	assert_null(st);
	assert_non_null(strstr(err, "schema version 99"));
}

static struct store_op
put_era(uint64_t seq, uint32_t worker, uint64_t node, uint64_t floor, const char *name)
{
	struct store_op op;

	memset(&op, 0, sizeof op);
	op.kind = STORE_PUT_ERA;
	op.u.era.seq = seq;
	op.u.era.worker = worker;
	op.u.era.node_id = node;
	op.u.era.floor_tick = floor;
	op.u.era.granted_ms = -7; /* signed: any wall clock round-trips */
	snprintf(op.u.era.name, sizeof op.u.era.name, "%s", name);
	return op;
}

static struct store_op
trim_eras(uint64_t below)
{
	struct store_op op;

	memset(&op, 0, sizeof op);
	op.kind = STORE_TRIM_ERAS;
	op.u.era.seq = below;
	return op;
}

/*
 * The worker history (issue 14): an era is stored in the transaction of
 * its grant, so a failure of either leaves neither; eras load in seq
 * order; a trim deletes those below a seq; values that would not read
 * back unchanged are refused before anything is written.
 */
static void
test_worker_history_rows(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	uint64_t term = 0;
	struct store_op ops[3];
	sqlite3 *db;

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	memset(ops, 0, sizeof ops);
	ops[0].kind = STORE_PUT_WORKER;
	ops[0].u.worker = (struct store_worker) {.id = 5, .node_id = 2, .expires_ms = 9};
	ops[1] = put_era(10, 5, 2, 1234, "c2");

	/* The era's insert fails: the grant is not stored either. */
	db = peek_open(f->db);
	exec_ok(db,
	    "CREATE TRIGGER inject BEFORE INSERT ON worker_history "
	    "BEGIN SELECT RAISE(ABORT, 'injected'); END");
	assert_int_equal(store_commit(st, term, ops, 2), SR_EIO);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nworkers, 0);
	assert_int_equal(ss.neras, 0);
	store_state_free(&ss);
	exec_ok(db, "DROP TRIGGER inject");
	sqlite3_close(db);

	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	ops[0] = put_era(9, 5, 1, 0, "c1");
	ops[1] = put_era(11, 5, 3, 2000, "");
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	store_close(st);
	st = open_ok(f->dir);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nworkers, 1);
	assert_int_equal(ss.neras, 3);
	assert_int_equal(ss.eras[0].seq, 9);
	assert_string_equal(ss.eras[0].name, "c1");
	assert_int_equal(ss.eras[1].seq, 10);
	assert_int_equal(ss.eras[1].worker, 5);
	assert_int_equal(ss.eras[1].node_id, 2);
	assert_int_equal(ss.eras[1].floor_tick, 1234);
	assert_int_equal(ss.eras[1].granted_ms, -7);
	assert_string_equal(ss.eras[1].name, "c2");
	assert_string_equal(ss.eras[2].name, "");
	store_state_free(&ss);

	/* A trim below 11, with the next era. */
	ops[0] = put_era(12, 5, 4, 3000, "c4");
	ops[1] = trim_eras(11);
	assert_int_equal(store_commit(st, term, ops, 2), SR_OK);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.neras, 2);
	assert_int_equal(ss.eras[0].seq, 11);
	assert_int_equal(ss.eras[1].seq, 12);
	store_state_free(&ss);

	/* The ops apply in order: an era written before a trim that covers
	 * it is deleted, one written after it stays. The etcd store keeps the
	 * same order (test_store_etcd, test_history_trim_and_put_overlap). */
	ops[0] = put_era(13, 5, 4, 3000, "c4");
	ops[1] = trim_eras(14);
	ops[2] = put_era(12, 5, 5, 4000, "c5");
	assert_int_equal(store_commit(st, term, ops, 3), SR_OK);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.neras, 1);
	assert_int_equal(ss.eras[0].seq, 12);
	assert_string_equal(ss.eras[0].name, "c5");
	store_state_free(&ss);

	/* Refused whole: a seq of 2^63, an unterminated name. */
	ops[0] = put_era(13, 5, 4, 3000, "c4");
	ops[1] = put_era((uint64_t) 1 << 63, 5, 4, 3000, "c4");
	assert_int_equal(store_commit(st, term, ops, 2), SR_EINVAL);
	assert_non_null(strstr(store_errmsg(st), "2^63"));
	ops[1] = put_era(14, 5, 4, 3000, "c4");
	memset(ops[1].u.era.name, 'x', sizeof ops[1].u.era.name);
	assert_int_equal(store_commit(st, term, ops, 2), SR_EINVAL);
	ops[1] = trim_eras((uint64_t) 1 << 63);
	assert_int_equal(store_commit(st, term, ops, 2), SR_EINVAL);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.neras, 1);
	store_state_free(&ss);
	store_close(st);
}

/* A data directory of schema version 2 (before the worker history was
 * stored) opens, gains the table, keeps its rows, and stores eras. */
static void
test_upgrade_from_v2(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_state ss;
	sqlite3 *db = NULL;
	uint64_t term = 0;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	exec_ok(db,
	    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	    "CREATE TABLE sequences (name TEXT PRIMARY KEY, start INTEGER NOT NULL,"
	    " hwm INTEGER NOT NULL, chunk INTEGER NOT NULL, min_chunk INTEGER NOT NULL,"
	    " max_chunk INTEGER NOT NULL, max_value INTEGER NOT NULL,"
	    " spare INTEGER NOT NULL, mode INTEGER NOT NULL, dropped INTEGER NOT NULL,"
	    " prefetch INTEGER NOT NULL DEFAULT 1);"
	    "CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	    " url TEXT NOT NULL, last_seen_ms INTEGER NOT NULL, \"left\" INTEGER NOT NULL);"
	    "CREATE TABLE workers (id INTEGER PRIMARY KEY, node_id INTEGER NOT NULL,"
	    " expires_ms INTEGER NOT NULL, last_tick INTEGER NOT NULL);"
	    "CREATE TABLE layout (id INTEGER PRIMARY KEY CHECK (id = 1),"
	    " time_bits INTEGER NOT NULL, worker_bits INTEGER NOT NULL,"
	    " seq_bits INTEGER NOT NULL, unit_ms INTEGER NOT NULL, epoch_ms INTEGER NOT NULL);"
	    "INSERT INTO meta VALUES ('schema_version', 2), ('term', 4);"
	    "INSERT INTO nodes VALUES (1, 'c1', '', 5, 0);"
	    "INSERT INTO workers VALUES (0, 1, 100, 50);");
	sqlite3_close(db);

	st = open_ok(f->dir);
	assert_int_equal(acquire(st, &term), SR_OK);
	assert_int_equal(term, 5);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.nnodes, 1);
	assert_int_equal(ss.nworkers, 1);
	assert_int_equal(ss.workers[0].last_tick, 50);
	assert_int_equal(ss.neras, 0);
	store_state_free(&ss);
	struct store_op op = put_era(1, 0, 1, 0, "c1");
	assert_int_equal(store_commit(st, term, &op, 1), SR_OK);
	store_close(st);

	db = peek_open(f->db);
	assert_int_equal(query_int(db, "SELECT value FROM meta WHERE key = 'schema_version'"), 3);
	assert_int_equal(query_int(db, "SELECT count(*) FROM worker_history"), 1);
	sqlite3_close(db);
	st = open_ok(f->dir);
	assert_int_equal(store_load(st, &ss), SR_OK);
	assert_int_equal(ss.neras, 1);
	assert_string_equal(ss.eras[0].name, "c1");
	store_state_free(&ss);
	store_close(st);
}

static void
test_open_fails(void **state)
{
	static struct store dummy;
	struct store *st = &dummy; /* must come back NULL */
	char err[256];

	(void) state;
	err[0] = '\0';
	assert_int_equal(store_sqlite_open("/proc/nonexistent/x", &st, err, sizeof err), SR_EIO);
	assert_null(st);
	assert_true(strlen(err) > 0);
	assert_non_null(strstr(err, "/proc/nonexistent/x"));

	/* Without an error buffer it fails the same way. */
	assert_int_equal(store_sqlite_open("/proc/nonexistent/x", &st, NULL, 0), SR_EIO);
	assert_int_equal(store_sqlite_open("", &st, err, sizeof err), SR_EINVAL);
	assert_true(strlen(err) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire_across_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_persists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_stale_term, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_del_seq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_big_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_injected_failure_rolls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_row_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire_sees_or_fences, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire_failure_keeps_term, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_history_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_seq_one_page, setup, teardown),
	    cmocka_unit_test(test_open_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
