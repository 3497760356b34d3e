/*
 * The embedded store (docs/design.md §7): the master's durable state in one SQLite
 * file, dir/snowrange.db, in WAL mode with synchronous=FULL so that a commit
 * that returned 0 is on stable storage.
 *
 * Tables: meta (the fencing term and the schema version), then one table per
 * kind of row: sequences, nodes, workers, layout and worker_history (one
 * row per grant of a worker id to a new holder, keyed by its seq). SQLite integers
 * are signed 64-bit, so uint64 values are stored as int64: every value we use
 * is below 2^63, and commit() refuses a larger one rather than let it wrap to
 * a negative number that would come back from load() as something else.
 *
 * All SQL is prepared once at open and values are bound, never formatted into
 * the text. One store is used by one thread at a time (the master serialises
 * its calls): the cached statements and the message buffer are per handle.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "snowrange/error.h"
#include "util.h"

/* Bump when the tables change, and add the step from the previous version to
 * migrations[]; open() upgrades an older file and refuses a newer one. */
#define SCHEMA_VERSION 3
#define STR(x) #x
#define XSTR(x) STR(x)

#define DB_FILE "snowrange.db"
#define LOCK_FILE "LOCK"
#define PATH_CAP 4096
/* Long enough that a competing writer (another master process opening the
 * same directory by mistake, or the CLI) delays us rather than fails us. */
#define BUSY_TIMEOUT_MS 5000

/* Every statement the store runs, prepared at open. */
enum stmt_id {
	ST_BEGIN_READ,
	ST_BEGIN_WRITE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_GET_TERM,
	ST_SET_TERM,
	ST_PUT_SEQ,
	ST_DEL_SEQ,
	ST_DEL_NODE,
	ST_PUT_NODE,
	ST_LOAD_SEQS,
	ST_LOAD_NODES,
	ST_PUT_WORKER,
	ST_LOAD_WORKERS,
	ST_PUT_LAYOUT,
	ST_LOAD_LAYOUT,
	ST_PUT_ERA,
	ST_TRIM_ERAS,
	ST_LOAD_ERAS,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    /* A deferred transaction gives load() one snapshot of all tables. */
    [ST_BEGIN_READ] = "BEGIN DEFERRED",
    /* IMMEDIATE takes the write lock before the term is read, so no other
     * writer can move the term between our check and our COMMIT. */
    [ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET_TERM] = "SELECT value FROM meta WHERE key = 'term'",
    [ST_SET_TERM] = "INSERT OR REPLACE INTO meta (key, value) "
                    "VALUES ('term', ?1)",
    /* An upsert, not INSERT OR REPLACE: REPLACE deletes the row and
     * inserts it under a new rowid, which rewrites the name index's page
     * too. Updated in place, a lease's commit (a new hwm) writes one page
     * to the WAL instead of two (docs/decisions.md, "One page per lease
     * commit"). */
    [ST_PUT_SEQ] = "INSERT INTO sequences (name, start, hwm, "
                   "chunk, min_chunk, max_chunk, max_value, spare, mode, dropped, "
                   "prefetch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                   "ON CONFLICT (name) DO UPDATE SET start = excluded.start, "
                   "hwm = excluded.hwm, chunk = excluded.chunk, "
                   "min_chunk = excluded.min_chunk, max_chunk = excluded.max_chunk, "
                   "max_value = excluded.max_value, spare = excluded.spare, "
                   "mode = excluded.mode, dropped = excluded.dropped, "
                   "prefetch = excluded.prefetch",
    [ST_DEL_SEQ] = "DELETE FROM sequences WHERE name = ?1",
    [ST_DEL_NODE] = "DELETE FROM nodes WHERE id = ?1",
    /* "left" is an SQL keyword (LEFT JOIN), hence the quotes throughout. */
    [ST_PUT_NODE] = "INSERT OR REPLACE INTO nodes (id, name, url, "
                    "last_seen_ms, \"left\") VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_LOAD_SEQS] = "SELECT name, start, hwm, chunk, min_chunk, "
                     "max_chunk, max_value, spare, mode, dropped, prefetch "
                     "FROM sequences ORDER BY name",
    [ST_LOAD_NODES] = "SELECT id, name, url, last_seen_ms, \"left\" "
                      "FROM nodes ORDER BY id",
    [ST_PUT_WORKER] = "INSERT OR REPLACE INTO workers (id, node_id, "
                      "expires_ms, last_tick) VALUES (?1, ?2, ?3, ?4)",
    [ST_LOAD_WORKERS] = "SELECT id, node_id, expires_ms, last_tick "
                        "FROM workers ORDER BY id",
    [ST_PUT_LAYOUT] = "INSERT OR REPLACE INTO layout (id, time_bits, "
                      "worker_bits, seq_bits, unit_ms, epoch_ms) "
                      "VALUES (1, ?1, ?2, ?3, ?4, ?5)",
    [ST_LOAD_LAYOUT] = "SELECT time_bits, worker_bits, seq_bits, unit_ms, "
                       "epoch_ms FROM layout WHERE id = 1",
    [ST_PUT_ERA] = "INSERT OR REPLACE INTO worker_history (seq, worker, "
                   "node_id, floor_tick, granted_ms, name) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_TRIM_ERAS] = "DELETE FROM worker_history WHERE seq < ?1",
    [ST_LOAD_ERAS] = "SELECT seq, worker, node_id, floor_tick, granted_ms, "
                     "name FROM worker_history ORDER BY seq",
};

/* The worker history (schema version 3): created with the schema of a new
 * file and by the upgrade of an older one. */
#define HISTORY_TABLE_SQL                             \
	"CREATE TABLE IF NOT EXISTS worker_history (" \
	" seq INTEGER PRIMARY KEY,"                   \
	" worker INTEGER NOT NULL,"                   \
	" node_id INTEGER NOT NULL,"                  \
	" floor_tick INTEGER NOT NULL,"               \
	" granted_ms INTEGER NOT NULL,"               \
	" name TEXT NOT NULL);"

/* Run once at open, in the same transaction as the version check. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT PRIMARY KEY,"
    " value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sequences ("
    " name TEXT PRIMARY KEY,"
    " start INTEGER NOT NULL,"
    " hwm INTEGER NOT NULL,"
    " chunk INTEGER NOT NULL,"
    " min_chunk INTEGER NOT NULL,"
    " max_chunk INTEGER NOT NULL,"
    " max_value INTEGER NOT NULL,"
    " spare INTEGER NOT NULL,"
    " mode INTEGER NOT NULL,"
    " dropped INTEGER NOT NULL,"
    " prefetch INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS nodes ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT UNIQUE NOT NULL,"
    " url TEXT NOT NULL,"
    " last_seen_ms INTEGER NOT NULL,"
    " \"left\" INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS workers ("
    " id INTEGER PRIMARY KEY,"
    " node_id INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " last_tick INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS layout ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " time_bits INTEGER NOT NULL,"
    " worker_bits INTEGER NOT NULL,"
    " seq_bits INTEGER NOT NULL,"
    " unit_ms INTEGER NOT NULL,"
    " epoch_ms INTEGER NOT NULL);" HISTORY_TABLE_SQL "INSERT OR IGNORE INTO meta (key, value)"
    " VALUES ('schema_version', " XSTR(
        SCHEMA_VERSION) ");"
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('term', 0);";

/*
 * migrations[v] takes a file of schema version v to v + 1. They run at open,
 * in the transaction that checked the version, so a crash leaves the file at
 * its old version or the new one, never between.
 */
static const char *const migrations[SCHEMA_VERSION] = {
    [0] = NULL, /* version 0 never existed */
    /* 1 -> 2: the per-sequence prefetch setting. Sequences created before
     * it kept prefetching, so they keep it on. */
    [1] = "ALTER TABLE sequences ADD COLUMN prefetch INTEGER NOT NULL DEFAULT 1;",
    /* 2 -> 3: the worker history, which was kept in memory before. The
     * schema above has created it already (IF NOT EXISTS): the step
     * repeats it so that it stands on its own. Grants made before it
     * have no history: decode says so. */
    [2] = HISTORY_TABLE_SQL,
};

struct sqlite_store {
	struct store base; /* first, so a struct store * converts to this */
	sqlite3 *db;
	char path[PATH_CAP];
	char errmsg[512];
	sqlite3_stmt *stmt[ST_COUNT];
};

static struct sqlite_store *
from_base(struct store *st)
{
	/* base is the first member (C11 6.7.2.1p15). */
	return (struct sqlite_store *) st;
}

/* Error reporting */

/* Records the store's last error and yields err. util.h's SR_ERRF, a
 * macro: gcc -O3 then sees the constant code at every use, and does not
 * assume a failing read_term() might return SR_OK. */
#define errorf(s, err, ...) SR_ERRF((s)->errmsg, sizeof((s)->errmsg), (err), __VA_ARGS__)

/* Records SQLite's message for the failure of what; always SR_EIO. Call it
 * before any further statement, which would replace sqlite3_errmsg(). */
static int
db_fail(struct sqlite_store *s, const char *what)
{
	return errorf(s, SR_EIO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* Statements */

/* Steps a statement that returns no rows, then makes it reusable. */
static int
run(struct sqlite_store *s, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st = s->stmt[id];
	int err = SR_OK;

	if (sqlite3_step(st) != SQLITE_DONE)
		err = db_fail(s, what);
	sqlite3_reset(st);
	/* Text is bound SQLITE_STATIC; drop the pointers into the caller's
	 * structs before they go away. */
	sqlite3_clear_bindings(st);
	return err;
}

/* Ends a failed transaction. Its own error is ignored: the caller already
 * reports the failure that led here, and SQLite may have rolled back by
 * itself (then there is nothing to end). */
static void
rollback(struct sqlite_store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return;
	sqlite3_step(s->stmt[ST_ROLLBACK]);
	sqlite3_reset(s->stmt[ST_ROLLBACK]);
}

static int
read_term(struct sqlite_store *s, uint64_t *term)
{
	sqlite3_stmt *st = s->stmt[ST_GET_TERM];
	int err = SR_OK;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || v < 0)
			err = errorf(s, SR_EIO, "%s: corrupt term in meta", s->path);
		else
			*term = (uint64_t) v;
	} else if (rc == SQLITE_DONE) {
		/* A file whose meta row was never written has term 0. */
		*term = 0;
	} else {
		err = db_fail(s, "read term");
	}
	sqlite3_reset(st);
	return err;
}

/* Loading */

static bool
col_u64(sqlite3_stmt *st, int i, uint64_t max, uint64_t *v)
{
	sqlite3_int64 x;

	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return false;
	x = sqlite3_column_int64(st, i);
	if (x < 0 || (uint64_t) x > max)
		return false;
	*v = (uint64_t) x;
	return true;
}

static bool
col_u32(sqlite3_stmt *st, int i, uint32_t *v)
{
	uint64_t x;

	if (!col_u64(st, i, UINT32_MAX, &x))
		return false;
	*v = (uint32_t) x;
	return true;
}

/* Copies a text column into buf[cap]; false if it is not text or too long. */
static bool
col_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
	const unsigned char *t;
	int len;

	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return false;
	t = sqlite3_column_text(st, i);
	len = sqlite3_column_bytes(st, i);
	if (t == NULL || len < 0 || (size_t) len >= cap)
		return false;
	memcpy(buf, t, (size_t) len);
	buf[len] = '\0';
	return true;
}

static bool
parse_seq(sqlite3_stmt *st, void *row)
{
	struct store_seq *q = row;

	return col_text(st, 0, q->name, sizeof q->name) && col_u64(st, 1, INT64_MAX, &q->start) &&
	    col_u64(st, 2, INT64_MAX, &q->hwm) && col_u64(st, 3, INT64_MAX, &q->chunk) &&
	    col_u64(st, 4, INT64_MAX, &q->min_chunk) && col_u64(st, 5, INT64_MAX, &q->max_chunk) &&
	    col_u64(st, 6, INT64_MAX, &q->max_value) && col_u32(st, 7, &q->spare) &&
	    col_u32(st, 8, &q->mode) && col_u32(st, 9, &q->dropped) &&
	    col_u32(st, 10, &q->prefetch);
}

static bool
parse_node(sqlite3_stmt *st, void *row)
{
	struct store_node *nd = row;

	if (sqlite3_column_type(st, 3) != SQLITE_INTEGER)
		return false;
	nd->last_seen_ms = sqlite3_column_int64(st, 3);
	return col_u64(st, 0, INT64_MAX, &nd->id) && col_text(st, 1, nd->name, sizeof nd->name) &&
	    col_text(st, 2, nd->url, sizeof nd->url) && col_u32(st, 4, &nd->left);
}

static bool
parse_worker(sqlite3_stmt *st, void *row)
{
	struct store_worker *w = row;

	if (sqlite3_column_type(st, 2) != SQLITE_INTEGER)
		return false;
	w->expires_ms = sqlite3_column_int64(st, 2);
	return col_u32(st, 0, &w->id) && col_u64(st, 1, INT64_MAX, &w->node_id) &&
	    col_u64(st, 3, INT64_MAX, &w->last_tick);
}

static bool
parse_era(sqlite3_stmt *st, void *row)
{
	struct store_era *e = row;

	if (sqlite3_column_type(st, 4) != SQLITE_INTEGER)
		return false;
	e->granted_ms = sqlite3_column_int64(st, 4);
	return col_u64(st, 0, INT64_MAX, &e->seq) && col_u32(st, 1, &e->worker) &&
	    col_u64(st, 2, INT64_MAX, &e->node_id) && col_u64(st, 3, INT64_MAX, &e->floor_tick) &&
	    col_text(st, 5, e->name, sizeof e->name);
}

static bool
parse_layout(sqlite3_stmt *st, void *row)
{
	sr_flake_layout *l = row;

	if (sqlite3_column_type(st, 4) != SQLITE_INTEGER)
		return false;
	l->epoch_ms = sqlite3_column_int64(st, 4);
	return col_u32(st, 0, &l->time_bits) && col_u32(st, 1, &l->worker_bits) &&
	    col_u32(st, 2, &l->seq_bits) && col_u32(st, 3, &l->unit_ms);
}

/* Reads every row of a SELECT into a malloc'd array of elem-sized rows. A
 * row that does not fit its struct means the file was written by something
 * other than this code: SR_EIO rather than a silently different value. */
static int
load_rows(struct sqlite_store *s, enum stmt_id id, const char *table, size_t elem,
    bool (*parse)(sqlite3_stmt *, void *), void **rows, size_t *count)
{
	sqlite3_stmt *st = s->stmt[id];
	unsigned char *arr = NULL;
	size_t n = 0, cap = 0;
	int err = SR_OK;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 16;
			void *p = NULL;
			if (ncap <= SIZE_MAX / elem)
				p = realloc(arr, ncap * elem);
			if (p == NULL) {
				err = errorf(s, SR_ENOMEM, "%s: loading %s: %s", s->path, table,
				    sr_strerror(SR_ENOMEM));
				break;
			}
			arr = p;
			cap = ncap;
		}
		memset(arr + n * elem, 0, elem);
		if (!parse(st, arr + n * elem)) {
			err = errorf(s, SR_EIO, "%s: corrupt row in %s", s->path, table);
			break;
		}
		n++;
	}
	if (err == SR_OK && rc != SQLITE_DONE)
		err = db_fail(s, table);
	sqlite3_reset(st);
	if (err != SR_OK) {
		free(arr);
		return err;
	}
	*rows = arr;
	*count = n;
	return SR_OK;
}

/* Reads every table into *tmp inside the caller's transaction; tmp->term is
 * left to the caller. On failure what was read stays in *tmp, to be freed. */
static int
read_all(struct sqlite_store *s, struct store_state *tmp)
{
	void *rows = NULL;
	size_t nlayout = 0;
	int err;

	err = load_rows(s, ST_LOAD_SEQS, "sequences", sizeof(struct store_seq), parse_seq, &rows,
	    &tmp->nseqs);
	if (err != SR_OK)
		return err;
	tmp->seqs = rows;
	rows = NULL;
	err = load_rows(s, ST_LOAD_NODES, "nodes", sizeof(struct store_node), parse_node, &rows,
	    &tmp->nnodes);
	if (err != SR_OK)
		return err;
	tmp->nodes = rows;
	rows = NULL;
	err = load_rows(s, ST_LOAD_WORKERS, "workers", sizeof(struct store_worker), parse_worker,
	    &rows, &tmp->nworkers);
	if (err != SR_OK)
		return err;
	tmp->workers = rows;
	rows = NULL;
	err = load_rows(s, ST_LOAD_ERAS, "worker_history", sizeof(struct store_era), parse_era,
	    &rows, &tmp->neras);
	if (err != SR_OK)
		return err;
	tmp->eras = rows;
	rows = NULL;
	err = load_rows(s, ST_LOAD_LAYOUT, "layout", sizeof(sr_flake_layout), parse_layout, &rows,
	    &nlayout);
	if (err != SR_OK)
		return err;
	if (nlayout == 1)
		tmp->layout = *(sr_flake_layout *) rows;
	free(rows);
	return SR_OK;
}

static int
sq_load(struct store *st, struct store_state *out)
{
	struct sqlite_store *s = from_base(st);
	struct store_state tmp;
	int err;

	memset(&tmp, 0, sizeof tmp);
	/* Zeroed on failure too, so the caller may always free it. */
	memset(out, 0, sizeof *out);
	if ((err = run(s, ST_BEGIN_READ, "begin")) != SR_OK)
		return err;
	if ((err = read_term(s, &tmp.term)) != SR_OK)
		goto fail;
	if ((err = read_all(s, &tmp)) != SR_OK)
		goto fail;
	if ((err = run(s, ST_COMMIT, "end read")) != SR_OK)
		goto fail;
	*out = tmp;
	return SR_OK;
fail:
	rollback(s);
	store_state_free(&tmp);
	return err;
}

/* Writing */

/*
 * Takes the next term and reads the state in one IMMEDIATE transaction
 * (store.h says why): the write lock is held from before the term is read
 * until the COMMIT, so an old master's commit either finished before (and
 * its rows are read here) or runs after (and finds the term moved). The
 * rows are read after the term write, within the same lock.
 */
static int
sq_acquire_and_load(struct store *st, struct store_state *out)
{
	struct sqlite_store *s = from_base(st);
	struct store_state tmp;
	uint64_t cur;
	int err;

	memset(&tmp, 0, sizeof tmp);
	memset(out, 0, sizeof *out);
	if ((err = run(s, ST_BEGIN_WRITE, "begin")) != SR_OK)
		return err;
	if ((err = read_term(s, &cur)) != SR_OK)
		goto fail;
	if (cur >= INT64_MAX) {
		err = errorf(s, SR_EIO, "%s: fencing term exhausted", s->path);
		goto fail;
	}
	if (sqlite3_bind_int64(s->stmt[ST_SET_TERM], 1, (sqlite3_int64) (cur + 1)) != SQLITE_OK) {
		err = db_fail(s, "write term");
		goto fail;
	}
	if ((err = run(s, ST_SET_TERM, "write term")) != SR_OK)
		goto fail;
	tmp.term = cur + 1;
	if ((err = read_all(s, &tmp)) != SR_OK)
		goto fail;
	/* Only a durable term fences: nothing is returned before COMMIT. */
	if ((err = run(s, ST_COMMIT, "commit")) != SR_OK)
		goto fail;
	*out = tmp;
	return SR_OK;
fail:
	rollback(s);
	store_state_free(&tmp);
	return err;
}

static bool
terminated(const char *buf, size_t cap)
{
	return memchr(buf, '\0', cap) != NULL;
}

static int
check_seq(struct sqlite_store *s, size_t i, const struct store_seq *q)
{
	const struct {
		const char *field;
		uint64_t v;
	} f[] = {
	    {"start", q->start},
	    {"hwm", q->hwm},
	    {"chunk", q->chunk},
	    {"min_chunk", q->min_chunk},
	    {"max_chunk", q->max_chunk},
	    {"max_value", q->max_value},
	};

	for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
		if (f[k].v > INT64_MAX)
			return errorf(s, SR_EINVAL,
			    "op %zu: sequence %s: %s %" PRIu64 " is 2^63 or more", i, q->name,
			    f[k].field, f[k].v);
	return SR_OK;
}

/* Checks that op can be stored and read back unchanged, before anything is
 * written, so that a bad batch leaves no trace. */
static int
check_op(struct sqlite_store *s, size_t i, const struct store_op *op)
{
	const struct store_seq *q = &op->u.seq;
	const struct store_node *nd = &op->u.node;

	switch (op->kind) {
	case STORE_PUT_SEQ:
	case STORE_DEL_SEQ:
		if (!terminated(q->name, sizeof q->name))
			return errorf(s, SR_EINVAL, "op %zu: sequence name not terminated", i);
		return op->kind == STORE_PUT_SEQ ? check_seq(s, i, q) : SR_OK;
	case STORE_PUT_NODE:
		if (!terminated(nd->name, sizeof nd->name) || !terminated(nd->url, sizeof nd->url))
			return errorf(s, SR_EINVAL, "op %zu: node name or url not terminated", i);
		if (nd->id > INT64_MAX)
			return errorf(s, SR_EINVAL,
			    "op %zu: node %s: id %" PRIu64 " is 2^63 or more", i, nd->name, nd->id);
		return SR_OK;
	case STORE_PUT_WORKER:
		if (op->u.worker.node_id > INT64_MAX || op->u.worker.last_tick > INT64_MAX)
			return errorf(s, SR_EINVAL, "op %zu: worker %u: value is 2^63 or more", i,
			    op->u.worker.id);
		return SR_OK;
	case STORE_PUT_LAYOUT: return SR_OK;
	case STORE_SET_TERM:
		if (op->u.term > INT64_MAX)
			return errorf(s, SR_EINVAL, "op %zu: term %" PRIu64 " is 2^63 or more", i,
			    op->u.term);
		return SR_OK;
	case STORE_DEL_NODE:
		if (nd->id > INT64_MAX)
			return errorf(s, SR_EINVAL, "op %zu: node id %" PRIu64 " is 2^63 or more",
			    i, nd->id);
		return SR_OK;
	case STORE_PUT_ERA:
		if (!terminated(op->u.era.name, sizeof op->u.era.name))
			return errorf(s, SR_EINVAL, "op %zu: era name not terminated", i);
		/* fallthrough */
	case STORE_TRIM_ERAS:
		if (op->u.era.seq > INT64_MAX || op->u.era.node_id > INT64_MAX ||
		    op->u.era.floor_tick > INT64_MAX)
			return errorf(s, SR_EINVAL,
			    "op %zu: era %" PRIu64 ": value is 2^63 or more", i, op->u.era.seq);
		return SR_OK;
	}
	return errorf(s, SR_EINVAL, "op %zu: unknown kind %d", i, (int) op->kind);
}

/* Binds op to its statement and runs it; check_op() has passed. */
static int
apply_op(struct sqlite_store *s, const struct store_op *op)
{
	const struct store_seq *q = &op->u.seq;
	const struct store_node *nd = &op->u.node;
	sqlite3_stmt *st;
	enum stmt_id id;
	int rc = SQLITE_OK;

	switch (op->kind) {
	case STORE_PUT_SEQ: {
		/* Columns 2..11 in statement order; check_seq() has made
		 * sure each fits an int64. */
		const uint64_t v[] = {q->start, q->hwm, q->chunk, q->min_chunk, q->max_chunk,
		    q->max_value, q->spare, q->mode, q->dropped, q->prefetch};
		id = ST_PUT_SEQ;
		st = s->stmt[id];
		rc = sqlite3_bind_text(st, 1, q->name, -1, SQLITE_STATIC);
		for (int k = 0; rc == SQLITE_OK && k < 10; k++)
			rc = sqlite3_bind_int64(st, k + 2, (sqlite3_int64) v[k]);
		break;
	}
	case STORE_DEL_SEQ:
		id = ST_DEL_SEQ;
		st = s->stmt[id];
		rc = sqlite3_bind_text(st, 1, q->name, -1, SQLITE_STATIC);
		break;
	case STORE_DEL_NODE:
		id = ST_DEL_NODE;
		st = s->stmt[id];
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) nd->id);
		break;
	case STORE_PUT_NODE:
		id = ST_PUT_NODE;
		st = s->stmt[id];
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) nd->id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, 2, nd->name, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, 3, nd->url, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 4, nd->last_seen_ms);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 5, nd->left);
		break;
	case STORE_PUT_WORKER: {
		const int64_t v[] = {op->u.worker.id, (int64_t) op->u.worker.node_id,
		    op->u.worker.expires_ms, (int64_t) op->u.worker.last_tick};
		id = ST_PUT_WORKER;
		st = s->stmt[id];
		for (int k = 0; rc == SQLITE_OK && k < 4; k++)
			rc = sqlite3_bind_int64(st, k + 1, v[k]);
		break;
	}
	case STORE_SET_TERM:
		id = ST_SET_TERM;
		st = s->stmt[id];
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) op->u.term);
		break;
	case STORE_PUT_LAYOUT: {
		const sr_flake_layout *l = &op->u.layout;
		const int64_t v[] = {l->time_bits, l->worker_bits, l->seq_bits, l->unit_ms,
		    l->epoch_ms};
		id = ST_PUT_LAYOUT;
		st = s->stmt[id];
		for (int k = 0; rc == SQLITE_OK && k < 5; k++)
			rc = sqlite3_bind_int64(st, k + 1, v[k]);
		break;
	}
	case STORE_PUT_ERA: {
		const struct store_era *e = &op->u.era;
		const int64_t v[] = {(int64_t) e->seq, e->worker, (int64_t) e->node_id,
		    (int64_t) e->floor_tick, e->granted_ms};
		id = ST_PUT_ERA;
		st = s->stmt[id];
		for (int k = 0; rc == SQLITE_OK && k < 5; k++)
			rc = sqlite3_bind_int64(st, k + 1, v[k]);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, 6, e->name, -1, SQLITE_STATIC);
		break;
	}
	case STORE_TRIM_ERAS:
		id = ST_TRIM_ERAS;
		st = s->stmt[id];
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64) op->u.era.seq);
		break;
	default: return errorf(s, SR_EINVAL, "unknown op kind %d", (int) op->kind);
	}
	if (rc != SQLITE_OK) {
		int err = db_fail(s, "bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	return run(s, id,
	    id == ST_DEL_SEQ          ? "delete sequence"
	        : id == ST_DEL_NODE   ? "delete node"
	        : id == ST_PUT_SEQ    ? "write sequence"
	        : id == ST_PUT_WORKER ? "write worker"
	        : id == ST_PUT_LAYOUT ? "write layout"
	        : id == ST_PUT_ERA    ? "write worker history"
	        : id == ST_TRIM_ERAS  ? "trim worker history"
	        : id == ST_SET_TERM   ? "write term"
	                              : "write node");
}

static int
sq_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	struct sqlite_store *s = from_base(st);
	uint64_t stored;
	int err;

	if (n > 0 && ops == NULL)
		return errorf(s, SR_EINVAL, "commit: no ops");
	for (size_t i = 0; i < n; i++)
		if ((err = check_op(s, i, &ops[i])) != SR_OK)
			return err;

	if ((err = run(s, ST_BEGIN_WRITE, "begin")) != SR_OK)
		return err;
	if ((err = read_term(s, &stored)) != SR_OK)
		goto fail;
	if (stored != term) {
		err = errorf(s, SR_ESTALE,
		    "%s: term %" PRIu64 " is stale, the stored term is %" PRIu64, s->path, term,
		    stored);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		/* A term is only ever raised: a lower one would let a master
		 * fenced out before commit again. */
		if (ops[i].kind == STORE_SET_TERM && ops[i].u.term <= term) {
			err = errorf(s, SR_EINVAL, "op %zu: term %" PRIu64 " is not above %" PRIu64,
			    i, ops[i].u.term, term);
			goto fail;
		}
		if ((err = apply_op(s, &ops[i])) != SR_OK)
			goto fail;
	}
	/* A failed COMMIT (say, fsync returned EIO) is reported as such and
	 * never retried: after a failed fsync the kernel may have dropped the
	 * dirty pages, so a second COMMIT that "succeeds" proves nothing. */
	if ((err = run(s, ST_COMMIT, "commit")) != SR_OK)
		goto fail;
	return SR_OK;
fail:
	rollback(s);
	return err;
}

static const char *
sq_errmsg(struct store *st)
{
	return from_base(st)->errmsg;
}

static void
sq_close(struct store *st)
{
	struct sqlite_store *s = from_base(st);

	/* Every statement is finalised first, so sqlite3_close() cannot fail
	 * with SQLITE_BUSY; finalising NULL is a no-op. */
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	free(s);
}

static const struct store_ops sqlite_ops = {
    .acquire_and_load = sq_acquire_and_load,
    .load = sq_load,
    .commit = sq_commit,
    .close = sq_close,
    .errmsg = sq_errmsg,
};

/* Opening */

/* fsyncs a directory so that an entry just created in it survives a crash.
 * EINVAL means the file system cannot sync directories; nothing to do. */
static int
sync_dir(struct sqlite_store *s, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return errorf(s, SR_EIO, "%s: open: %s", dir, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return errorf(s, SR_EIO, "%s: fsync: %s", dir, strerror(e));
	}
	close(fd);
	return SR_OK;
}

/* Creates dir if missing. A new directory's own entry lives in its parent,
 * which is synced too: otherwise a crash could lose the whole store, fencing
 * term included, after commits that had returned 0. */
static int
make_dir(struct sqlite_store *s, const char *dir)
{
	char parent[PATH_CAP];
	size_t len;
	char *slash;

	if (mkdir(dir, 0700) != 0) {
		if (errno == EEXIST)
			return SR_OK;
		return errorf(s, SR_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
	}
	/* dir fits: the longer path built from it did. */
	snprintf(parent, sizeof parent, "%s", dir);
	len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	slash = strrchr(parent, '/');
	if (slash == NULL)
		snprintf(parent, sizeof parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	return sync_dir(s, parent);
}

/*
 * The data dir holds the fencing term and every hwm: whoever can write to it
 * can make the master hand out IDs twice. A group- or world-writable one is
 * refused, naming the fix.
 */
static int
dir_check(const char *dir, char *msg, size_t len)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		snprintf(msg, len, "%s: %s", dir, strerror(errno));
		return SR_EIO;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(msg, len, "%s: not a directory", dir);
		return SR_EINVAL;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(msg, len,
		    "data dir %s is group- or world-writable (mode %04o): others could "
		    "change the store; run chmod 700 %s",
		    dir, (unsigned) (st.st_mode & 07777), dir);
		return SR_EINVAL;
	}
	return SR_OK;
}

/*
 * The database and its WAL and shared-memory files are created 0600, not
 * SQLite's 0644: SQLite gives the -wal and -shm files the mode of the main
 * file, so creating that one first is enough for a new store. Files of an
 * older store that others could read are made 0600 too.
 */
static int
secure_files(struct sqlite_store *s)
{
	int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errorf(s, SR_EIO, "%s: open: %s", s->path, strerror(errno));
	close(fd);
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char p[PATH_CAP + 8];
		struct stat st;
		snprintf(p, sizeof p, "%s%s", s->path, suffix[i]);
		if (stat(p, &st) != 0 || (st.st_mode & 077) == 0)
			continue;
		if (chmod(p, 0600) != 0)
			return errorf(s, SR_EIO, "%s is mode %04o and cannot be made 0600: %s", p,
			    (unsigned) (st.st_mode & 07777), strerror(errno));
	}
	return SR_OK;
}

/* Makes the file durable and current: WAL, full fsync, schema present. */
static int
setup(struct sqlite_store *s)
{
	sqlite3_stmt *st = NULL;
	uint64_t version = 0;
	int rc, err;

	if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return db_fail(s, "busy timeout");

	/* journal_mode answers with the mode in force, which stays the old
	 * one if WAL is impossible (say, on a file system without shared
	 * memory): check it, since our durability argument assumes WAL. */
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "journal_mode");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = db_fail(s, "journal_mode");
		sqlite3_finalize(st);
		return err;
	}
	const char *mode = (const char *) sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		err = errorf(s, SR_EIO, "%s: cannot enable WAL (mode is %s)", s->path,
		    mode != NULL ? mode : "unknown");
		sqlite3_finalize(st);
		return err;
	}
	sqlite3_finalize(st);

	/* Per connection, not stored in the file: set on every open. In WAL
	 * mode NORMAL would skip the fsync at commit; FULL does not. */
	if (sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, "synchronous");

	/* IMMEDIATE: two processes opening a new directory at once must not
	 * both see no tables. */
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, "begin");
	if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		err = db_fail(s, "create schema");
		goto fail;
	}
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
	        &st, NULL) != SQLITE_OK) {
		err = db_fail(s, "schema version");
		goto fail;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? errorf(s, SR_EIO, "%s: no schema version", s->path)
		                        : db_fail(s, "schema version");
		sqlite3_finalize(st);
		goto fail;
	}
	if (!col_u64(st, 0, INT64_MAX, &version)) {
		err = errorf(s, SR_EIO, "%s: corrupt schema version", s->path);
		sqlite3_finalize(st);
		goto fail;
	}
	sqlite3_finalize(st);
	if (version < 1 || version > SCHEMA_VERSION) {
		err = errorf(s, SR_EIO, "%s: schema version %" PRIu64 ", this build reads 1 to %d",
		    s->path, version, SCHEMA_VERSION);
		goto fail;
	}
	for (; version < SCHEMA_VERSION; version++) {
		if (sqlite3_exec(s->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK) {
			err = db_fail(s, "upgrade schema");
			goto fail;
		}
		if (sqlite3_exec(s->db,
		        "UPDATE meta SET value = value + 1 "
		        "WHERE key = 'schema_version'",
		        NULL, NULL, NULL) != SQLITE_OK) {
			err = db_fail(s, "upgrade schema version");
			goto fail;
		}
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		err = db_fail(s, "commit schema");
		goto fail;
	}

	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		        &s->stmt[i], NULL) != SQLITE_OK)
			return db_fail(s, "prepare");
	return SR_OK;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

int
store_sqlite_open(const char *dir, struct store **out, char *errbuf, size_t errlen)
{
	struct sqlite_store *s;
	int n, err;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "store_sqlite_open: out is NULL");
		return SR_EINVAL;
	}
	*out = NULL;
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s", sr_strerror(SR_ENOMEM));
		return SR_ENOMEM;
	}
	s->base.ops = &sqlite_ops;

	if (dir == NULL || dir[0] == '\0') {
		err = errorf(s, SR_EINVAL, "no data directory given");
		goto fail;
	}
	n = snprintf(s->path, sizeof s->path, "%s/%s", dir, DB_FILE);
	if (n < 0 || (size_t) n >= sizeof s->path) {
		err = errorf(s, SR_EINVAL, "%s: data directory path too long", dir);
		goto fail;
	}
	if ((err = make_dir(s, dir)) != SR_OK)
		goto fail;
	if ((err = dir_check(dir, s->errmsg, sizeof s->errmsg)) != SR_OK)
		goto fail;
	if ((err = secure_files(s)) != SR_OK)
		goto fail;

	/* FULLMUTEX: the handle stays safe if a future caller does share
	 * it across threads by mistake; the cost is one uncontended lock. */
	if (sqlite3_open_v2(s->path, &s->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	        NULL) != SQLITE_OK) {
		err = s->db != NULL
		    ? db_fail(s, "open")
		    : errorf(s, SR_ENOMEM, "%s: open: %s", s->path, sr_strerror(SR_ENOMEM));
		goto fail;
	}
	if ((err = setup(s)) != SR_OK)
		goto fail;
	/* The file may have just been created: make its entry durable. */
	if ((err = sync_dir(s, dir)) != SR_OK)
		goto fail;

	*out = &s->base;
	return SR_OK;
fail:
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", s->errmsg);
	sq_close(&s->base);
	return err;
}

int
store_sqlite_lock(const char *dir, int *fd, char *errbuf, size_t errlen)
{
	char path[PATH_CAP];
	struct sqlite_store tmp = {0}; /* for make_dir's messages */
	int n = snprintf(path, sizeof path, "%s/%s", dir, LOCK_FILE);
	*fd = -1;
	if (dir[0] == '\0' || n < 0 || (size_t) n >= sizeof path) {
		snprintf(errbuf, errlen, "%s: data directory path too long or empty", dir);
		return SR_EINVAL;
	}
	int err = make_dir(&tmp, dir);
	if (err != SR_OK) {
		snprintf(errbuf, errlen, "%s", tmp.errmsg);
		return err;
	}
	if ((err = dir_check(dir, errbuf, errlen)) != SR_OK)
		return err;
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0) {
		snprintf(errbuf, errlen, "%s: open: %s", path, strerror(errno));
		return SR_EIO;
	}
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char pid[32] = "";
		ssize_t r = pread(f, pid, sizeof pid - 1, 0);
		pid[r > 0 ? r : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(f);
		if (e == EWOULDBLOCK) {
			snprintf(errbuf, errlen,
			    "data dir %s is in use by another master (pid %s holds %s); "
			    "refusing to start",
			    dir, pid[0] ? pid : "unknown", path);
			return SR_EEXISTS;
		}
		snprintf(errbuf, errlen, "%s: flock: %s", path, strerror(e));
		return SR_EIO;
	}
	/* The holder's pid, for the message above; the lock is the flock, so
	 * a stale file left by a crash means nothing. */
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
	if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t) len, 0) != len) {
		snprintf(errbuf, errlen, "%s: write: %s", path, strerror(errno));
		close(f);
		return SR_EIO;
	}
	*fd = f;
	return SR_OK;
}
