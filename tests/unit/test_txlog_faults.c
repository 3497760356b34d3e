/*
 * Disk faults under the 2PC log's real system calls. test_txlog injects
 * write and fdatasync failures through the log's test hooks, which replace
 * the calls; this file leaves the hooks alone and interposes pwrite,
 * pwrite64, fdatasync, fsync and ftruncate themselves (this executable
 * defines them, so the static library's calls bind here; the real ones are
 * found with dlsym(RTLD_NEXT)). That covers what the hooks cannot reach:
 * the production branch of every write and sync, and the fsyncs and the
 * truncation that sr_txlog_open does while it creates a log or cuts a torn
 * tail.
 *
 * What is checked: a write cut short at every byte offset of a group commit
 * (then ENOSPC or EIO, or a write that makes no progress) and a failing
 * fdatasync give every waiter SR_EIO, never a success after a failure, and
 * reopening keeps exactly the acknowledged records, never a record of the
 * batch that failed (its commit marker never reached the file); failures
 * inside open are reported as SR_EIO and leave a file the next open
 * recovers; and open syncs what it keeps before calling it durable.
 */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "snowrange/txlog.h"
#include "snowrange/error.h"

/* ---- the interposed system calls ---- */

/*
 * The faults in force. A test process-wide switchboard is unavoidable here:
 * the calls it steers have no handle to hang it on. Only descriptors of
 * files under the running test's directory are affected.
 */
static struct {
	char dir[64];                      /* affect only paths under this */
	char file[128];                    /* the test's log: its syncs are counted */
	_Atomic int file_syncs, dir_syncs; /* sync calls on the log, its dir */
	_Atomic long written;              /* bytes pwritten to the test's files */
	_Atomic long written_lo;           /* the lowest offset written; -1 none */
	_Atomic bool sync_fail;            /* fsync and fdatasync: EIO */
	_Atomic long write_budget;         /* bytes pwrite may still write; < 0 unlimited */
	int write_errno;                   /* once spent: fail with it; 0 = return 0 */
	_Atomic bool trunc_fail;           /* ftruncate: EIO */
	_Atomic int syncs_failed, writes_failed;
} fx = {.write_budget = -1};

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*sync_fn)(int);
typedef int (*trunc_fn)(int, off_t);

static void *
next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p == NULL)
		abort();
	return p;
}

/* Whether fd is a file of the current test. */
static bool
ours(int fd)
{
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 0 || fx.dir[0] == '\0')
		return false;
	path[n] = '\0';
	return strncmp(path, fx.dir, strlen(fx.dir)) == 0;
}

static ssize_t
fault_pwrite(const char *name, int fd, const void *buf, size_t n, off_t off)
{
	pwrite_fn real;
	void *p = next_sym(name);
	memcpy(&real, &p, sizeof(p));

	if (!ours(fd))
		return real(fd, buf, n, off);
	long lo = atomic_load(&fx.written_lo);
	while (
	    (lo < 0 || off < lo) && !atomic_compare_exchange_weak(&fx.written_lo, &lo, (long) off))
		;
	long budget = atomic_load(&fx.write_budget);
	if (budget < 0) {
		ssize_t w = real(fd, buf, n, off);
		if (w > 0)
			atomic_fetch_add(&fx.written, w);
		return w;
	}
	if (budget == 0) {
		atomic_fetch_add(&fx.writes_failed, 1);
		if (fx.write_errno == 0)
			return 0;
		errno = fx.write_errno;
		return -1;
	}
	/* A short write: what fits the budget reaches the file. */
	if ((size_t) budget < n)
		n = (size_t) budget;
	ssize_t w = real(fd, buf, n, off);
	if (w > 0) {
		atomic_fetch_sub(&fx.write_budget, w);
		atomic_fetch_add(&fx.written, w);
	}
	return w;
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return fault_pwrite("pwrite", fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return fault_pwrite("pwrite64", fd, buf, n, off);
}

/* A sync of the test's files that is not failed returns at once without
 * reaching the disk: what is tested is how the log handles each result, and
 * reopening reads the page cache either way. Hundreds of logs stay fast. */
static int
fault_sync(const char *name, int fd)
{
	sync_fn real;
	void *p = next_sym(name);
	memcpy(&real, &p, sizeof(p));

	if (!ours(fd))
		return real(fd);
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	if (strcmp(path, fx.file) == 0)
		atomic_fetch_add(&fx.file_syncs, 1);
	else if (strcmp(path, fx.dir) == 0)
		atomic_fetch_add(&fx.dir_syncs, 1);
	if (atomic_load(&fx.sync_fail)) {
		atomic_fetch_add(&fx.syncs_failed, 1);
		errno = EIO;
		return -1;
	}
	return 0;
}

int
fdatasync(int fd)
{
	return fault_sync("fdatasync", fd);
}

int
fsync(int fd)
{
	return fault_sync("fsync", fd);
}

int
ftruncate(int fd, off_t len)
{
	trunc_fn real;
	void *p = next_sym("ftruncate");
	memcpy(&real, &p, sizeof(p));

	if (atomic_load(&fx.trunc_fail) && ours(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, len);
}

static void
faults_off(void)
{
	atomic_store(&fx.sync_fail, false);
	atomic_store(&fx.write_budget, -1);
	atomic_store(&fx.trunc_fail, false);
	fx.write_errno = 0;
}

/* ---- fixture and helpers ---- */

struct fixture {
	char log[128];
};

static void
rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char sub[512];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		unlink(sub);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/sr-txfault-XXXXXX");
	if (mkdtemp(fx.dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->log, sizeof(f->log), "%s/tx.log", fx.dir);
	snprintf(fx.file, sizeof(fx.file), "%s", f->log);
	faults_off();
	atomic_store(&fx.syncs_failed, 0);
	atomic_store(&fx.writes_failed, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	faults_off();
	rm_dir(fx.dir);
	fx.dir[0] = '\0';
	fx.file[0] = '\0';
	free(*state);
	return 0;
}

/* Record i (txid i + 1): its payload length varies, so records differ in
 * size and a cut lands at many different places inside them. */
struct rec {
	sr_txrecord r;
	const char *parts[2];
	uint8_t payload[64];
};

static void
make(int i, struct rec *g)
{
	memset(g, 0, sizeof(*g));
	g->parts[0] = "node-a";
	g->parts[1] = "node-b";
	size_t len = (size_t) (i * 7) % sizeof(g->payload);
	for (size_t k = 0; k < len; k++)
		g->payload[k] = (uint8_t) (i + k);
	g->r.txid = (uint64_t) i + 1;
	g->r.state = (sr_tx_state) (1 + i % 4);
	g->r.participants = g->parts;
	g->r.nparticipants = 1 + (size_t) (i % 2);
	g->r.payload = len > 0 ? g->payload : NULL;
	g->r.payload_len = len;
}

/* Checks that the log holds exactly records 0..n-1, each intact. */
struct seen {
	int n;
	int bad;
};

static int
visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	struct seen *s = arg;
	struct rec g;

	(void) offset;
	make(s->n, &g);
	if (r->txid != g.r.txid || r->state != g.r.state || r->nparticipants != g.r.nparticipants ||
	    r->payload_len != g.r.payload_len ||
	    (g.r.payload_len > 0 && memcmp(r->payload, g.r.payload, g.r.payload_len) != 0))
		s->bad++;
	for (size_t k = 0; k < r->nparticipants && k < 2; k++)
		if (strcmp(r->participants[k], g.parts[k]) != 0)
			s->bad++;
	s->n++;
	return 0;
}

static void
assert_holds(const char *path, int n)
{
	struct seen s = {0, 0};
	sr_txlog_recovery rec;
	char err[256];

	assert_int_equal(sr_txlog_scan(path, 0, visit, &s, &rec, err, sizeof(err)), SR_OK);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.n, n);
	assert_int_equal(rec.bytes_cut, 0);
}

/* Appends records [from, to) to log, storing their LSNs in lsn[]. */
static void
append_range(sr_txlog *log, int from, int to, uint64_t *lsn)
{
	for (int i = from; i < to; i++) {
		struct rec g;
		make(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, &lsn[i]), SR_OK);
	}
}

/* ---- tests ---- */

#define ACKED 5
#define BATCH 4

/*
 * One group commit of BATCH records is cut short at every byte offset:
 * pwrite writes `cut` bytes (over as many calls as the log makes, since it
 * loops over short writes), then fails with ENOSPC, EIO, or returns 0 (no
 * progress and no error). The waiter gets SR_EIO, the log stays poisoned,
 * and reopening keeps exactly the ACKED records acknowledged before: the
 * failed batch's commit marker is its last bytes, so no cut leaves it
 * whole, and none of its records (whole ones included) comes back.
 *
 * Each poisoned log says so on stderr, hundreds of lines here, so stderr
 * goes to a file during the loop and the checks only record the first
 * failure, reported once stderr is back.
 */
#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond) && bad[0] == '\0') {                                      \
			snprintf(bad, sizeof(bad), "errno %d, cut %llu: %s", errs[e], \
			    (unsigned long long) cut, #cond);                         \
			goto done;                                                    \
		}                                                                     \
	} while (0)

static void
test_short_write_every_offset(void **state)
{
	struct fixture *f = *state;
	static const int errs[] = {ENOSPC, EIO, 0};
	char err[256], bad[512] = "", quiet[128];
	size_t e = 0;
	uint64_t cut = 0;
	int cuts = 0;

	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	snprintf(quiet, sizeof(quiet), "%s/stderr", fx.dir);
	int q = open(quiet, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && q >= 0);
	dup2(q, STDERR_FILENO);
	close(q);

	for (e = 0; e < sizeof(errs) / sizeof(errs[0]); e++) {
		uint64_t lsn[ACKED + BATCH];
		sr_txlog *log;

		/* Where the batch starts and how long it is, from a clean run:
		 * the file's size after each of the two group commits. */
		unlink(f->log);
		CHECK(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)) == SR_OK);
		struct stat st;
		uint64_t base = 0, len = 0;
		for (int i = 0; i < ACKED + BATCH; i++) {
			struct rec g;
			make(i, &g);
			CHECK(sr_txlog_append(log, &g.r, &lsn[i]) == SR_OK);
			if (i == ACKED - 1 || i == ACKED + BATCH - 1) {
				CHECK(sr_txlog_wait(log, lsn[i]) == SR_OK);
				CHECK(stat(f->log, &st) == 0);
				if (i == ACKED - 1)
					base = (uint64_t) st.st_size;
				else
					len = (uint64_t) st.st_size - base;
			}
		}
		sr_txlog_close(log);

		for (cut = 0; cut < len; cut++) {
			struct rec g;
			cuts++;
			unlink(f->log);
			CHECK(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)) == SR_OK);
			for (int i = 0; i < ACKED + BATCH; i++) {
				make(i, &g);
				CHECK(sr_txlog_append(log, &g.r, &lsn[i]) == SR_OK);
				if (i == ACKED - 1)
					CHECK(sr_txlog_wait(log, lsn[i]) == SR_OK);
			}
			fx.write_errno = errs[e];
			atomic_store(&fx.write_budget, (long) cut);
			CHECK(sr_txlog_wait(log, lsn[ACKED + BATCH - 1]) == SR_EIO);
			/* Every waiter the failure covers gets the error, and
			 * what was durable before stays acknowledged. */
			for (int i = ACKED; i < ACKED + BATCH; i++)
				CHECK(sr_txlog_wait(log, lsn[i]) == SR_EIO);
			CHECK(sr_txlog_wait(log, lsn[ACKED - 1]) == SR_OK);
			faults_off();
			/* Poisoned: no retry turns the failure into success. */
			CHECK(sr_txlog_wait(log, lsn[ACKED]) == SR_EIO);
			make(ACKED + BATCH, &g);
			CHECK(sr_txlog_append(log, &g.r, NULL) == SR_EIO);
			sr_txlog_close(log);

			const int whole = ACKED;
			sr_txlog_recovery rec;
			CHECK(sr_txlog_open(f->log, &log, &rec, err, sizeof(err)) == SR_OK);
			CHECK(rec.records == (uint64_t) whole);
			CHECK(rec.bytes_kept == base);
			CHECK(rec.bytes_cut == cut);
			/* The recovered log takes new records after the kept ones. */
			make(whole, &g);
			CHECK(sr_txlog_write(log, &g.r) == SR_OK);
			sr_txlog_close(log);
			struct seen sn = {0, 0};
			CHECK(
			    sr_txlog_scan(f->log, 0, visit, &sn, &rec, err, sizeof(err)) == SR_OK);
			CHECK(sn.bad == 0 && sn.n == whole + 1 && rec.bytes_cut == 0);
		}
	}
done:
	faults_off();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	if (bad[0] != '\0')
		fail_msg("%s", bad);
	assert_true(atomic_load(&fx.writes_failed) >= cuts);
	print_message("cut a group commit at %d offsets, 3 ways\n", cuts);
}

#undef CHECK

/*
 * fdatasync fails with EIO in the real call while four threads wait on
 * records of their own: each thread sees successes, then only SR_EIO
 * (never a success after a failure), and reopening finds every record any
 * wait acknowledged, each whole.
 */
#define THREADS 4
#define EACH 40

struct writer {
	sr_txlog *log;
	int t;
	_Atomic int *done;
	int rv[EACH];
};

/* The fault goes on when all threads together have written an eighth of
 * their records: however unfairly they are scheduled, each then still
 * has writes to make, and they must all fail. */
static void *
writer_main(void *p)
{
	struct writer *w = p;

	for (int i = 0; i < EACH; i++) {
		struct rec g;
		make(w->t * EACH + i, &g);
		w->rv[i] = sr_txlog_write(w->log, &g.r);
		if (atomic_fetch_add(w->done, 1) + 1 == THREADS * EACH / 8)
			atomic_store(&fx.sync_fail, true);
	}
	return NULL;
}

static int
mark(void *arg, const sr_txrecord *r, uint64_t offset)
{
	uint8_t *found = arg;

	(void) offset;
	if (r->txid >= 1 && r->txid <= THREADS * EACH)
		found[r->txid - 1]++;
	return 0;
}

static void
test_fdatasync_eio_waiters(void **state)
{
	struct fixture *f = *state;
	struct writer w[THREADS];
	pthread_t th[THREADS];
	_Atomic int done = 0;
	sr_txlog *log;
	char err[256];

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)), SR_OK);
	for (int t = 0; t < THREADS; t++) {
		w[t].log = log;
		w[t].t = t;
		w[t].done = &done;
		assert_int_equal(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	faults_off();
	sr_txlog_close(log);
	assert_true(atomic_load(&fx.syncs_failed) >= 1);

	uint8_t found[THREADS * EACH] = {0};
	sr_txlog_recovery rec;
	assert_int_equal(sr_txlog_scan(f->log, 0, mark, found, &rec, err, sizeof(err)), SR_OK);
	int ok = 0, eio = 0;
	for (int t = 0; t < THREADS; t++) {
		bool failed = false;
		for (int i = 0; i < EACH; i++) {
			int rv = w[t].rv[i];
			assert_true(rv == SR_OK || rv == SR_EIO);
			if (rv == SR_EIO) {
				failed = true;
				eio++;
				continue;
			}
			assert_false(failed);
			assert_int_equal(found[t * EACH + i], 1);
			ok++;
		}
		assert_true(failed);
	}
	assert_true(ok > 0 && eio > 0);
	/* Records the failed sync covered were written, so the page cache may
	 * hold them; whatever is there is whole (rec.bytes_cut counts no torn
	 * record) and appears once. */
	assert_int_equal(rec.bytes_cut, 0);
	for (int i = 0; i < THREADS * EACH; i++)
		assert_true(found[i] <= 1);
	print_message("fdatasync EIO: %d writes acknowledged, %d got SR_EIO\n", ok, eio);
}

/* Creating a log whose fsync fails: open reports SR_EIO, and a later open
 * without the fault succeeds and keeps what is written then. */
static void
test_open_create_fsync_eio(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log = NULL;
	char err[256];

	atomic_store(&fx.sync_fail, true);
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)), SR_EIO);
	assert_null(log);
	assert_non_null(strstr(err, "fsync"));
	faults_off();
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)), SR_OK);
	struct rec g;
	make(0, &g);
	assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
	sr_txlog_close(log);
	assert_holds(f->log, 1);
}

/* A log with a torn tail, reopened while ftruncate or fsync fails: open
 * reports SR_EIO and loses nothing; the next open cuts the tail and keeps
 * every whole record. */
static void
test_open_cut_tail_failures(void **state)
{
	struct fixture *f = *state;
	uint64_t lsn[ACKED + 1];
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];

	for (int which = 0; which < 2; which++) {
		struct stat st;
		unlink(f->log);
		assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)), SR_OK);
		append_range(log, 0, ACKED, lsn);
		assert_int_equal(sr_txlog_wait(log, lsn[ACKED - 1]), SR_OK);
		assert_int_equal(stat(f->log, &st), 0);
		const uint64_t acked = (uint64_t) st.st_size;
		append_range(log, ACKED, ACKED + 1, lsn);
		assert_int_equal(sr_txlog_wait(log, lsn[ACKED]), SR_OK);
		sr_txlog_close(log);
		/* Tear the last batch: keep 3 bytes of its record. */
		int fd = open(f->log, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t) acked + 3), 0);
		close(fd);

		if (which == 0)
			atomic_store(&fx.trunc_fail, true);
		else
			atomic_store(&fx.sync_fail, true);
		assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof(err)), SR_EIO);
		assert_non_null(strstr(err, which == 0 ? "ftruncate" : "fsync"));
		faults_off();

		assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof(err)), SR_OK);
		assert_int_equal(rec.records, ACKED);
		assert_int_equal(rec.bytes_kept, acked);
		/* After a failed ftruncate the tail is still there to cut;
		 * after a failed fsync it was cut in the page cache already. */
		assert_int_equal(rec.bytes_cut, which == 0 ? 3 : 0);
		sr_txlog_close(log);
		assert_holds(f->log, ACKED);
	}
}

/*
 * Regression (issue 8, item 5): recovery must not trust the page cache. A
 * process that crashed between its write and its fdatasync leaves records
 * that read back whole (here: a log written with every sync faked, so
 * nothing of it is known to be on disk) and open reported them durable
 * without a sync. Now open syncs the file and its directory before it
 * returns: when that sync fails, open fails and hands out no handle, so
 * nothing unsynced is ever called durable; when it works, it was counted.
 * And before the sync it writes the last batch again, as read, so that the
 * sync cannot pass over pages a failed fdatasync left clean in the cache
 * (docs/txlog.md): exactly that batch's bytes, at its offset.
 */
static void
test_open_syncs_what_it_keeps(void **state)
{
	struct fixture *f = *state;
	uint64_t lsn[ACKED];
	sr_txlog *log = NULL;
	sr_txlog_recovery rec;
	char err[256];

	struct stat st;
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof(err)), SR_OK);
	append_range(log, 0, ACKED - 1, lsn);
	assert_int_equal(sr_txlog_wait(log, lsn[ACKED - 2]), SR_OK);
	assert_int_equal(stat(f->log, &st), 0);
	const long last_batch = (long) st.st_size;
	append_range(log, ACKED - 1, ACKED, lsn);
	assert_int_equal(sr_txlog_wait(log, lsn[ACKED - 1]), SR_OK);
	sr_txlog_close(log);
	log = NULL;
	assert_int_equal(stat(f->log, &st), 0);

	/* A clean log, nothing to cut: the sync still happens, and its
	 * failure is open's failure. */
	atomic_store(&fx.sync_fail, true);
	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof(err)), SR_EIO);
	assert_null(log);
	assert_non_null(strstr(err, "fsync"));
	faults_off();

	int file0 = atomic_load(&fx.file_syncs), dir0 = atomic_load(&fx.dir_syncs);
	atomic_store(&fx.written, 0);
	atomic_store(&fx.written_lo, -1);
	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof(err)), SR_OK);
	assert_true(atomic_load(&fx.file_syncs) > file0);
	assert_true(atomic_load(&fx.dir_syncs) > dir0);
	assert_int_equal(atomic_load(&fx.written), (long) st.st_size - last_batch);
	assert_int_equal(atomic_load(&fx.written_lo), last_batch);
	assert_int_equal(rec.records, ACKED);
	assert_int_equal(rec.bytes_cut, 0);
	/* Everything kept is durable: waiting on it needs no flush. */
	int file1 = atomic_load(&fx.file_syncs);
	assert_int_equal(sr_txlog_wait(log, rec.bytes_kept), SR_OK);
	assert_int_equal(atomic_load(&fx.file_syncs), file1);
	sr_txlog_close(log);
	assert_holds(f->log, ACKED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_short_write_every_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fdatasync_eio_waiters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_create_fsync_eio, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_cut_tail_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_syncs_what_it_keeps, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
