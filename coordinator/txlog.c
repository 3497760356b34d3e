/*
 * The coordinator's 2PC log (API in snowrange/txlog.h, format in
 * txlog_codec.h, test hooks in txlog_hooks.h).
 *
 * Writing: appends encode a record outside the lock; under the mutex they
 * seal it for its place (offset and batch) and memcpy it into an in-memory
 * buffer, so they are fast and never touch the disk. Durability is
 * leader/follower group commit, without a thread of its own: the first
 * caller of sr_txlog_wait that finds its record neither durable nor being
 * flushed becomes the flusher. It closes the buffered records with a commit
 * marker, swaps the buffer for the empty spare, drops the mutex, pwrite()s
 * everything and fdatasync()s once, then publishes the new durable offset
 * and wakes every waiter. Records appended meanwhile accumulate in the
 * other buffer, and the next waiter to find no flush under way writes them
 * all with one more sync. One flush at a time, and none after a failed one:
 * so a batch is written only once every batch before it is durable, which
 * is what lets recovery tell damage from a torn write (see walk).
 *
 * One writer: open takes an exclusive flock, so no other handle or process
 * appends to the file, and the log writes with pwrite at offsets it tracks
 * itself. O_APPEND would add nothing but hide a lost race.
 *
 * A failed write or fdatasync poisons the handle for good (see
 * sr_txlog_wait in snowrange/txlog.h for why it is never retried). Recovery at
 * the next open sorts out what reached the disk: every batch closed by its
 * marker is kept, whatever follows the last one was never acknowledged and
 * is cut, and the kept part is synced before open returns.
 *
 * Reading (open's recovery, scan, in-doubt) goes through a pread window
 * that holds at most a few records, so a long log is never read into memory
 * whole.
 */
#include "snowrange/txlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "txlog_codec.h"
#include "txlog_hooks.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "util.h"

/* The public histogram is metrics.h's: the same buckets, checked in
 * tests/unit/test_txlog.c bound by bound. */
_Static_assert(SR_TXLOG_FSYNC_BUCKETS == METRICS_BUCKETS, "one set of latency buckets");

/* A returned flush buffer larger than this is freed rather than kept, so one
 * burst does not pin its memory for the life of the handle. */
#define SPARE_KEEP (4u << 20)
#define READ_WINDOW (256u << 10)

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct sr_txlog {
	int fd;
	char *path;
	pthread_mutex_t mu; /* guards every field below */
	pthread_cond_t cv;  /* a flush ended */
	struct buf cur;     /* records appended and not yet taken by a flusher */
	struct buf spare;   /* the other buffer, empty; held by the flusher */
	uint64_t salt;      /* from the file header; seals every record */
	uint64_t nrec;      /* records in cur: the count its marker carries */
	uint64_t end;       /* file offset past everything appended, markers too */
	uint64_t last_lsn;  /* file offset past the last appended record */
	uint64_t durable;   /* everything before this offset is synced */
	bool flushing;      /* a flusher is writing and syncing */
	int err;            /* SR_EIO once poisoned; never cleared */
	uint64_t last_txid;
	uint64_t syncs;
	/* For monitoring (sr_txlog_get_stats): the histogram is relaxed
	 * atomics, the counts are under mu. */
	struct metrics_hist fsync_hist;
	uint64_t records, fsync_errors, write_errors;
	struct txlog_hooks hooks;
	sr_log_fn log_fn; /* NULL: stderr; set before the handle is shared */
	void *log_arg;
};

/* Error messages: util.h's one helper (see SR_ERRF there). */
#define errorf SR_ERRF
#define errfmt sr_errfmt

/* ---- reading ---- */

/* A window onto a file read with pread. */
struct reader {
	int fd;
	const char *path;
	uint64_t size;       /* file size when reading began; nothing past it is read */
	uint64_t salt;       /* from the file header, once walk has read it */
	uint64_t last_batch; /* walk: where the last kept batch starts; 0: none */
	uint8_t *buf;
	size_t cap;
	uint64_t base; /* file offset of buf[0] */
	size_t len;    /* bytes of buf that hold file data */
	char *errbuf;
	size_t errlen;
};

/* Makes the file bytes [off, off + want) available (fewer at the end of the
 * file), reading as much more as the window holds. *p points at off and
 * *avail counts the bytes there, which may be more than want. */
static int
rd_get(struct reader *rd, uint64_t off, size_t want, const uint8_t **p, size_t *avail)
{
	if (want > rd->size - off)
		want = (size_t) (rd->size - off);
	if (off < rd->base || off + want > rd->base + rd->len) {
		size_t keep = 0;
		if (off >= rd->base && off < rd->base + rd->len) {
			keep = (size_t) (rd->base + rd->len - off);
			memmove(rd->buf, rd->buf + (off - rd->base), keep);
		}
		rd->base = off;
		rd->len = keep;
		if (want > rd->cap) {
			size_t cap = want > 2 * rd->cap ? want : 2 * rd->cap;
			uint8_t *nb = realloc(rd->buf, cap);
			if (nb == NULL)
				return errorf(rd->errbuf, rd->errlen, SR_ENOMEM,
				    "%s: out of memory reading the log", rd->path);
			rd->buf = nb;
			rd->cap = cap;
		}
		while (rd->len < want) {
			uint64_t at = rd->base + rd->len;
			size_t n = rd->cap - rd->len;
			if (n > rd->size - at)
				n = (size_t) (rd->size - at);
			ssize_t got = pread(rd->fd, rd->buf + rd->len, n, (off_t) at);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return errorf(rd->errbuf, rd->errlen, SR_EIO,
				    "%s: read at offset %" PRIu64 ": %s", rd->path, at,
				    strerror(errno));
			if (got == 0)
				return errorf(rd->errbuf, rd->errlen, SR_EIO,
				    "%s: file shrank to %" PRIu64 " bytes while being read",
				    rd->path, at);
			rd->len += (size_t) got;
		}
	}
	*p = rd->buf + (off - rd->base);
	*avail = (size_t) (rd->base + rd->len - off);
	return SR_OK;
}

/* Decodes the record at off into *r (pointing into the window), reading
 * more when the header says the record is longer than what is at hand.
 * *res is the codec's outcome; TRUNCATED means the file ends inside it. */
static int
decode_at(struct reader *rd, uint64_t off, struct txlog_rec *r, size_t *used, int *res)
{
	size_t need = TXLOG_REC_HDR;

	for (;;) {
		const uint8_t *p;
		size_t avail;
		int rv = rd_get(rd, off, need, &p, &avail);
		if (rv != SR_OK)
			return rv;
		*res = txlog_decode(p, avail, rd->salt, off, r, used);
		if (*res != TXLOG_TRUNCATED || *used > rd->size - off)
			return SR_OK;
		need = *used;
	}
}

/*
 * Looks for evidence that the bad spot at `bad`, inside the batch that
 * starts at `batch`, lies in data that was once durable: a valid record (or
 * marker) anywhere after it that belongs to a later batch. The log writes a
 * batch only after every batch before it was synced, so such a record
 * proves that the bad spot's batch was synced, and the bad spot is damage.
 * Records of the same batch prove nothing: a batch that never finished its
 * sync can reach the disk with any of its pages missing. *at = the
 * evidence's offset and *later = its batch, or *at = 0 when there is none.
 * Every offset is tried (records bind their offset into head_crc, so a copy
 * inside a payload is no evidence); only a 36-byte checksum is computed at
 * most of them, so this is cheap even over a long tail.
 */
static int
find_later_batch(struct reader *rd, uint64_t bad, uint64_t batch, uint64_t *at, uint64_t *later)
{
	*at = 0;
	*later = 0;
	for (uint64_t pos = bad + 1; pos + TXLOG_REC_HDR + TXLOG_BODY_MIN <= rd->size; pos++) {
		struct txlog_rec r;
		size_t used;
		int res;
		int rv = decode_at(rd, pos, &r, &used, &res);
		if (rv != SR_OK)
			return rv;
		if (res == TXLOG_OK && r.batch > batch) {
			*at = pos;
			*later = r.batch;
			break;
		}
	}
	return SR_OK;
}

/* Called by walk for each kept record; non-zero stops the walk. */
typedef int (*rec_fn)(void *arg, const struct txlog_rec *r, uint64_t off);

/* Reads and checks the file header: SR_OK with rd->salt set, SR_OK with
 * *torn set for a header cut short at creation, or SR_EIO. */
static int
read_header(struct reader *rd, bool *torn)
{
	const uint8_t *p;
	size_t avail;
	uint32_t version;

	*torn = false;
	int rv = rd_get(rd, 0, TXLOG_FILE_HDR, &p, &avail);
	if (rv != SR_OK)
		return rv;
	switch (txlog_file_check(p, avail, &rd->salt, &version)) {
	case TXLOG_OK: return SR_OK;
	case TXLOG_TRUNCATED: *torn = true; return SR_OK;
	case TXLOG_BADVERSION:
		if (version == 1)
			return errorf(rd->errbuf, rd->errlen, SR_EIO,
			    "%s: txlog format version 1, written by an older "
			    "snowrange; this build reads version %d only (see "
			    "docs/txlog.md: resolve its transactions with the "
			    "old build, then move the file away)",
			    rd->path, TXLOG_FORMAT_VERSION);
		return errorf(rd->errbuf, rd->errlen, SR_EIO,
		    "%s: unsupported txlog format version %" PRIu32 " (this "
		    "build reads version %d)",
		    rd->path, version, TXLOG_FORMAT_VERSION);
	default:
		if (avail >= TXLOG_FILE_HDR && memcmp(p, TXLOG_MAGIC, 8) == 0)
			return errorf(rd->errbuf, rd->errlen, SR_EIO,
			    "%s: damaged txlog file header (checksum mismatch "
			    "at offset 0); refusing to guess its salt",
			    rd->path);
		return errorf(rd->errbuf, rd->errlen, SR_EIO,
		    "%s: not a snowrange txlog (no \"%s\" header at offset 0)", rd->path,
		    TXLOG_MAGIC);
	}
}

/*
 * Checks the file header, then finds what recovery keeps and fills rec:
 * every batch up to the last one closed by its commit marker. What follows
 * the last marker was never acknowledged (a batch is acknowledged only
 * after the fdatasync of a write that ends with its marker) and is counted
 * in rec->bytes_cut: whole records of an unfinished batch, a torn record,
 * or a batch with pages missing. A bad spot before the last marker, or one
 * after it with a record of a later batch somewhere behind it (see
 * find_later_batch), is damage to acknowledged data: SR_EIO naming its
 * offset. A header shorter than 24 bytes that can be the start of a valid
 * one (an interrupted creation) gives rec->bytes_kept = 0 and the whole
 * file in bytes_cut.
 *
 * Then, when fn is given, calls it for every kept record in file order
 * (markers are not records to the caller). Nothing is visited when the log
 * is refused, so a visitor never sees records of a log that fails.
 */
static int
walk(struct reader *rd, rec_fn fn, void *arg, sr_txlog_recovery *rec)
{
	bool torn;

	memset(rec, 0, sizeof(*rec));
	int rv = read_header(rd, &torn);
	if (rv != SR_OK)
		return rv;
	if (torn) {
		rec->bytes_cut = rd->size;
		return SR_OK;
	}
	uint64_t off = TXLOG_FILE_HDR, batch = off, kept = off;
	uint64_t nrec = 0, batch_max = 0;
	while (off < rd->size) {
		struct txlog_rec r;
		size_t used;
		int res;
		if ((rv = decode_at(rd, off, &r, &used, &res)) != SR_OK)
			return rv;
		const char *why = res == TXLOG_TRUNCATED ? "runs past the end of the file" : r.why;
		if (res == TXLOG_OK && r.batch != batch) {
			res = TXLOG_CORRUPT;
			why = "belongs to another batch";
		} else if (res == TXLOG_OK && r.state == TXLOG_MARK && r.nrecords != nrec) {
			res = TXLOG_CORRUPT;
			why = "commit marker counts other records than its "
			      "batch";
		}
		if (res == TXLOG_OK && r.state == TXLOG_MARK) {
			rec->records += nrec;
			if (batch_max > rec->last_txid)
				rec->last_txid = batch_max;
			off += used;
			rd->last_batch = batch;
			batch = kept = off;
			nrec = batch_max = 0;
			continue;
		}
		if (res == TXLOG_OK) {
			nrec++;
			if (r.txid > batch_max)
				batch_max = r.txid;
			off += used;
			continue;
		}
		uint64_t at, later;
		rv = find_later_batch(rd, off, batch, &at, &later);
		if (rv != SR_OK)
			return rv;
		if (at == 0)
			break;
		return errorf(rd->errbuf, rd->errlen, SR_EIO,
		    "%s: corrupt record at offset %" PRIu64 " (%s) in "
		    "acknowledged data: a later batch (from offset %" PRIu64
		    ", a valid record at offset %" PRIu64 ") was written after "
		    "it was synced; damage, not a torn write; refusing to cut "
		    "or skip records",
		    rd->path, off, why, later, at);
	}
	rec->bytes_kept = kept;
	rec->bytes_cut = rd->size - kept;
	if (fn == NULL)
		return SR_OK;
	for (off = TXLOG_FILE_HDR; off < kept;) {
		struct txlog_rec r;
		size_t used;
		int res;
		if ((rv = decode_at(rd, off, &r, &used, &res)) != SR_OK)
			return rv;
		if (res != TXLOG_OK)
			return errorf(rd->errbuf, rd->errlen, SR_EIO,
			    "%s: record at offset %" PRIu64 " changed during "
			    "the scan",
			    rd->path, off);
		if (r.state != TXLOG_MARK && (rv = fn(arg, &r, off)) != 0)
			return rv;
		off += used;
	}
	return SR_OK;
}

/* Sets up a reader on fd, whose file is size bytes long. */
static int
rd_init(struct reader *rd, int fd, const char *path, uint64_t size, char *errbuf, size_t errlen)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	rd->path = path;
	rd->size = size;
	rd->errbuf = errbuf;
	rd->errlen = errlen;
	rd->cap = READ_WINDOW;
	rd->buf = malloc(rd->cap);
	if (rd->buf == NULL)
		return errorf(errbuf, errlen, SR_ENOMEM, "%s: out of memory", path);
	return SR_OK;
}

/* Opens path read-only into a reader. */
static int
rd_open(struct reader *rd, const char *path, char *errbuf, size_t errlen)
{
	struct stat st;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errorf(errbuf, errlen, SR_EIO, "%s: open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errorf(errbuf, errlen, SR_EIO, "%s: not a regular file", path);
	}
	int rv = rd_init(rd, fd, path, (uint64_t) st.st_size, errbuf, errlen);
	if (rv != SR_OK)
		close(fd);
	return rv;
}

static void
rd_close(struct reader *rd)
{
	free(rd->buf);
	close(rd->fd);
}

/* Scratch space that turns a decoded record into an sr_txrecord: names on
 * disk are not NUL-terminated, so they are copied. */
struct conv {
	char *names;
	size_t ncap;
	const char **ptrs;
	size_t pcap;
};

static int
conv_record(struct conv *c, const struct txlog_rec *r, sr_txrecord *out)
{
	const uint8_t *cur = r->names;
	size_t total = 0, len;

	for (size_t i = 0; i < r->nparticipants; i++) {
		txlog_name_next(&cur, &len);
		total += len + 1;
	}
	if (total > c->ncap) {
		char *nb = realloc(c->names, total);
		if (nb == NULL)
			return SR_ENOMEM;
		c->names = nb;
		c->ncap = total;
	}
	if (r->nparticipants > c->pcap) {
		const char **np = realloc(c->ptrs, r->nparticipants * sizeof(*np));
		if (np == NULL)
			return SR_ENOMEM;
		c->ptrs = np;
		c->pcap = r->nparticipants;
	}
	cur = r->names;
	char *dst = c->names;
	for (size_t i = 0; i < r->nparticipants; i++) {
		const char *name = txlog_name_next(&cur, &len);
		memcpy(dst, name, len);
		dst[len] = '\0';
		c->ptrs[i] = dst;
		dst += len + 1;
	}
	out->txid = r->txid;
	out->state = (sr_tx_state) r->state;
	out->participants = r->nparticipants > 0 ? c->ptrs : NULL;
	out->nparticipants = r->nparticipants;
	out->payload = r->payload;
	out->payload_len = r->payload_len;
	return SR_OK;
}

static void
conv_free(struct conv *c)
{
	free(c->names);
	free(c->ptrs);
}

/* ---- writing ---- */

/* fsyncs the directory holding path, so that a file just created in it
 * survives a crash. EINVAL means the file system cannot sync directories. */
static int
sync_parent(const char *path, char *errbuf, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t) (slash - path));
	if (dir == NULL)
		return errorf(errbuf, errlen, SR_ENOMEM, "%s: out of memory", path);
	int rv = SR_OK;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rv = errorf(errbuf, errlen, SR_EIO, "%s: open: %s", dir, strerror(errno));
	} else {
		if (fsync(fd) != 0 && errno != EINVAL)
			rv = errorf(errbuf, errlen, SR_EIO, "%s: fsync: %s", dir, strerror(errno));
		close(fd);
	}
	free(dir);
	return rv;
}

/* A random salt for a new file (see txlog_codec.h for what it is for). */
static int
new_salt(uint64_t *salt, const char *path, char *errbuf, size_t errlen)
{
	uint8_t b[8];
	size_t done = 0;

	while (done < sizeof(b)) {
		ssize_t n = getrandom(b + done, sizeof(b) - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return errorf(errbuf, errlen, SR_EIO, "%s: getrandom: %s", path,
			    n < 0 ? strerror(errno) : "no bytes");
		done += (size_t) n;
	}
	memcpy(salt, b, sizeof(*salt));
	return SR_OK;
}

/* Writes a fresh file header over an empty or torn-at-creation file and
 * syncs it and its directory entry. */
static int
init_header(int fd, const char *path, uint64_t *salt, char *errbuf, size_t errlen)
{
	uint8_t hdr[TXLOG_FILE_HDR];
	size_t done = 0;

	int rv = new_salt(salt, path, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	txlog_file_header(hdr, *salt);
	if (ftruncate(fd, 0) != 0)
		return errorf(errbuf, errlen, SR_EIO, "%s: ftruncate: %s", path, strerror(errno));
	while (done < sizeof(hdr)) {
		ssize_t w = pwrite(fd, hdr + done, sizeof(hdr) - done, (off_t) done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return errorf(errbuf, errlen, SR_EIO, "%s: write: %s", path,
			    w < 0 ? strerror(errno) : "no progress");
		done += (size_t) w;
	}
	if (fsync(fd) != 0)
		return errorf(errbuf, errlen, SR_EIO, "%s: fsync: %s", path, strerror(errno));
	return sync_parent(path, errbuf, errlen);
}

static int write_all(int fd, const struct txlog_hooks *h, const uint8_t *p, size_t n, uint64_t off);

/*
 * Writes the bytes [from, to) of the file back where they are, as read,
 * so that the fsync after it writes them to the disk. Recovery does this to
 * the last kept batch: it may be one whose fdatasync failed in this boot
 * (the log that wrote it was poisoned and acknowledged none of it), and
 * after such a failure Linux can keep the pages in the page cache marked
 * clean although they never reached the disk; an fsync would then succeed
 * without writing them, and a power cut would lose records this open called
 * durable, under batches appended later (PostgreSQL's "fsyncgate"). Pages
 * rewritten are dirty again. Every batch before the last one was synced
 * before the next one was written, so they need nothing. Rewriting equal
 * bytes is harmless if it is interrupted.
 */
static int
rewrite(struct reader *rd, uint64_t from, uint64_t to)
{
	static const struct txlog_hooks none;

	while (from < to) {
		const uint8_t *p;
		size_t avail;
		size_t n = to - from < READ_WINDOW ? (size_t) (to - from) : READ_WINDOW;
		int rv = rd_get(rd, from, n, &p, &avail);
		if (rv != SR_OK)
			return rv;
		int e = write_all(rd->fd, &none, p, n, from);
		if (e != 0)
			return errorf(rd->errbuf, rd->errlen, SR_EIO,
			    "%s: rewriting the last batch at offset %" PRIu64 ": %s", rd->path,
			    from, strerror(e));
		from += n;
	}
	return SR_OK;
}

/*
 * Recovers the file open on fd: header written if missing, the tail after
 * the last commit marker cut, and what is kept made durable before the
 * handle calls it durable. The sync is not optional: a process that crashed
 * between its write and its fdatasync leaves records in the page cache that
 * read back whole but may never reach the disk, and a log that reported
 * them durable would lose them in a power cut after having acknowledged
 * them (records appended later get acknowledged on top). The last batch is
 * written again first (see rewrite). fsync, not fdatasync, because a cut
 * changes the file's size; the directory is synced too, since the process
 * that created the file may have crashed before it synced the directory
 * entry.
 */
static int
recover(int fd, const char *path, sr_txlog_recovery *rec, uint64_t *salt, char *errbuf,
    size_t errlen)
{
	struct stat st;
	struct reader rd;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return errorf(errbuf, errlen, SR_EIO, "%s: not a regular file", path);
	int rv = rd_init(&rd, fd, path, (uint64_t) st.st_size, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	rv = walk(&rd, NULL, NULL, rec);
	*salt = rd.salt;
	if (rv == SR_OK && rd.last_batch != 0 && rec->bytes_kept >= TXLOG_FILE_HDR)
		rv = rewrite(&rd, rd.last_batch, rec->bytes_kept);
	free(rd.buf);
	if (rv != SR_OK)
		return rv;
	if (rec->bytes_kept < TXLOG_FILE_HDR) {
		rec->bytes_kept = TXLOG_FILE_HDR;
		return init_header(fd, path, salt, errbuf, errlen);
	}
	if (rec->bytes_cut > 0 && ftruncate(fd, (off_t) rec->bytes_kept) != 0)
		return errorf(errbuf, errlen, SR_EIO, "%s: ftruncate: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		return errorf(errbuf, errlen, SR_EIO, "%s: fsync: %s", path, strerror(errno));
	return sync_parent(path, errbuf, errlen);
}

int
sr_txlog_open(const char *path, sr_txlog **out, sr_txlog_recovery *rec, char *errbuf, size_t errlen)
{
	sr_txlog_recovery r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (rec != NULL)
		memset(rec, 0, sizeof(*rec));
	if (path == NULL || out == NULL)
		return errorf(errbuf, errlen, SR_EINVAL,
		    "txlog: a path and an out handle are required");
	*out = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errorf(errbuf, errlen, SR_EIO, "%s: open: %s", path, strerror(errno));
	/* flock, not fcntl locks: those belong to the process and are dropped
	 * when any descriptor of the file closes, a read-only scan's too. */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return errorf(errbuf, errlen, SR_EIO, "%s: %s", path,
		    e == EWOULDBLOCK ? "held open by another txlog handle" : strerror(e));
	}
	uint64_t salt = 0;
	int rv = recover(fd, path, &r, &salt, errbuf, errlen);
	if (rv != SR_OK) {
		close(fd);
		return rv;
	}
	sr_txlog *log = calloc(1, sizeof(*log));
	if (log == NULL || (log->path = strdup(path)) == NULL) {
		free(log);
		close(fd);
		return errorf(errbuf, errlen, SR_ENOMEM, "%s: out of memory", path);
	}
	if (pthread_mutex_init(&log->mu, NULL) != 0) {
		free(log->path);
		free(log);
		close(fd);
		return errorf(errbuf, errlen, SR_ENOMEM, "%s: mutex", path);
	}
	if (pthread_cond_init(&log->cv, NULL) != 0) {
		pthread_mutex_destroy(&log->mu);
		free(log->path);
		free(log);
		close(fd);
		return errorf(errbuf, errlen, SR_ENOMEM, "%s: condvar", path);
	}
	log->fd = fd;
	log->salt = salt;
	log->end = r.bytes_kept;
	log->last_lsn = r.bytes_kept;
	log->durable = r.bytes_kept;
	log->last_txid = r.last_txid;
	if (rec != NULL)
		*rec = r;
	*out = log;
	return SR_OK;
}

static int
reserve(struct buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return SR_OK;
	size_t cap = b->cap < 65536 ? 65536 : b->cap;
	while (cap - b->len < more)
		cap *= 2;
	uint8_t *np = realloc(b->p, cap);
	if (np == NULL)
		return SR_ENOMEM;
	b->p = np;
	b->cap = cap;
	return SR_OK;
}

int
sr_txlog_append(sr_txlog *log, const sr_txrecord *r, uint64_t *lsn)
{
	if (log == NULL || r == NULL)
		return SR_EINVAL;
	struct txlog_rec tr = {
	    .txid = r->txid,
	    .state = (int) r->state,
	    .nparticipants = r->nparticipants,
	    .participants = r->participants,
	    .payload = r->payload,
	    .payload_len = r->payload_len,
	};
	size_t size = txlog_record_size(&tr);
	if (size == 0)
		return SR_EINVAL;
	/* Encoding (and its CRC) happens before the lock, so appenders hold
	 * the mutex only for the memcpy. */
	uint8_t small[1024];
	uint8_t *enc = size <= sizeof(small) ? small : malloc(size);
	if (enc == NULL)
		return SR_ENOMEM;
	size_t used;
	txlog_encode(&tr, enc, size, &used);

	pthread_mutex_lock(&log->mu);
	int rv = log->err;
	/* Room for the commit marker too, so that flush never allocates. */
	if (rv == SR_OK)
		rv = reserve(&log->cur, size + TXLOG_MARK_SIZE);
	if (rv == SR_OK) {
		/* The record goes into the batch cur will become: it starts
		 * where cur starts. */
		txlog_seal(enc, log->salt, log->end - log->cur.len, log->end);
		memcpy(log->cur.p + log->cur.len, enc, size);
		log->cur.len += size;
		log->nrec++;
		log->records++;
		log->end += size;
		log->last_lsn = log->end;
		if (lsn != NULL)
			*lsn = log->end;
		if (r->txid > log->last_txid)
			log->last_txid = r->txid;
	}
	pthread_mutex_unlock(&log->mu);
	if (enc != small)
		free(enc);
	return rv;
}

/* pwrite(2) through the test hook, looping over short writes and EINTR.
 * Returns 0 or an errno value. */
static int
write_all(int fd, const struct txlog_hooks *h, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = h->write_fn != NULL ? h->write_fn(h->arg, fd, p, n, (off_t) off)
		                                : pwrite(fd, p, n, (off_t) off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO; /* no progress and no error: do not spin */
		p += w;
		n -= (size_t) w;
		off += (uint64_t) w;
	}
	return 0;
}

/* fdatasync(2) through the test hook. EINTR is retried: it reports that
 * the call was interrupted, not that writeback failed, so the kernel still
 * owes this descriptor any error and the retry returns it. */
static int
sync_data(int fd, const struct txlog_hooks *h)
{
	for (;;) {
		int rv = h->sync_fn != NULL ? h->sync_fn(h->arg, fd) : fdatasync(fd);
		if (rv == 0)
			return 0;
		if (errno != EINTR)
			return errno;
	}
}

/*
 * Writes and syncs everything buffered, as the one flusher, closed by a
 * commit marker: one batch. Called with mu held, no flush under way and cur
 * not empty; drops mu for the I/O, so that appends go on into the spare
 * buffer, and returns with it held.
 */
static void
flush(sr_txlog *log)
{
	uint8_t *mark = log->cur.p + log->cur.len; /* reserved by append */
	txlog_encode_mark(mark, log->nrec);
	txlog_seal(mark, log->salt, log->end - log->cur.len, log->end);
	log->cur.len += TXLOG_MARK_SIZE;
	log->end += TXLOG_MARK_SIZE;
	log->nrec = 0;

	struct buf b = log->cur;
	uint64_t upto = log->end;
	uint64_t from = upto - b.len;
	struct txlog_hooks h = log->hooks;

	log->cur = log->spare;
	memset(&log->spare, 0, sizeof(log->spare));
	log->flushing = true;
	pthread_mutex_unlock(&log->mu);

	int e = write_all(log->fd, &h, b.p, b.len, from);
	bool synced = e == 0;
	if (synced) {
		/* Timed whether it fails or not: a disk that takes seconds to
		 * report an error is what an operator needs to see. */
		int64_t t0 = sr_mono_us();
		e = sync_data(log->fd, &h);
		metrics_observe(&log->fsync_hist, (uint64_t) (sr_mono_us() - t0));
	}

	pthread_mutex_lock(&log->mu);
	if (synced)
		log->syncs++;
	if (e != 0 && synced)
		log->fsync_errors++;
	else if (e != 0)
		log->write_errors++;
	b.len = 0;
	if (b.cap > SPARE_KEEP) {
		free(b.p);
		memset(&b, 0, sizeof(b));
	}
	log->spare = b;
	if (e == 0) {
		log->durable = upto;
	} else if (log->err == SR_OK) {
		log->err = SR_EIO;
		sr_log_to(log->log_fn, log->log_arg, SR_LOG_ERROR, "txlog",
		    "%s: %s failed: %s; the log is poisoned, close and "
		    "reopen it to recover",
		    log->path, synced ? "fdatasync" : "write", strerror(e));
	}
	log->flushing = false;
	pthread_cond_broadcast(&log->cv);
}

int
sr_txlog_wait(sr_txlog *log, uint64_t lsn)
{
	int rv;

	if (log == NULL)
		return SR_EINVAL;
	pthread_mutex_lock(&log->mu);
	for (;;) {
		/* First, since a commit marker can put the durable offset
		 * past the last record. */
		if (lsn > log->last_lsn) {
			rv = SR_EINVAL;
			break;
		}
		/* Checked before the poison: a record synced before a later
		 * failure is durable, and saying so is no false success. */
		if (lsn <= log->durable) {
			rv = SR_OK;
			break;
		}
		if (log->err != SR_OK) {
			rv = log->err;
			break;
		}
		if (log->flushing)
			pthread_cond_wait(&log->cv, &log->mu);
		else
			flush(log);
	}
	pthread_mutex_unlock(&log->mu);
	return rv;
}

int
sr_txlog_write(sr_txlog *log, const sr_txrecord *r)
{
	uint64_t lsn;
	int rv = sr_txlog_append(log, r, &lsn);

	return rv != SR_OK ? rv : sr_txlog_wait(log, lsn);
}

uint64_t
sr_txlog_last_txid(sr_txlog *log)
{
	if (log == NULL)
		return 0;
	pthread_mutex_lock(&log->mu);
	uint64_t t = log->last_txid;
	pthread_mutex_unlock(&log->mu);
	return t;
}

void
sr_txlog_close(sr_txlog *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->mu);
	while (log->flushing)
		pthread_cond_wait(&log->cv, &log->mu);
	if (log->err == SR_OK && log->cur.len > 0)
		flush(log);
	pthread_mutex_unlock(&log->mu);
	close(log->fd); /* also releases the flock */
	pthread_cond_destroy(&log->cv);
	pthread_mutex_destroy(&log->mu);
	free(log->cur.p);
	free(log->spare.p);
	free(log->path);
	free(log);
}

void
sr_txlog_set_log(sr_txlog *log, sr_log_fn fn, void *arg)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->mu);
	log->log_fn = fn;
	log->log_arg = arg;
	pthread_mutex_unlock(&log->mu);
}

/* What the handle did, for monitoring: the histogram first (relaxed
 * atomics), then the counts under the mutex. */
static void
snapshot(sr_txlog *log, struct metrics_txlog *t)
{
	memset(t, 0, sizeof(*t));
	metrics_hist_read(&log->fsync_hist, &t->fsync);
	pthread_mutex_lock(&log->mu);
	t->records = log->records;
	t->fsync_errors = log->fsync_errors;
	t->write_errors = log->write_errors;
	t->poisoned = log->err != SR_OK;
	pthread_mutex_unlock(&log->mu);
}

void
sr_txlog_get_stats(sr_txlog *log, sr_txlog_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (log == NULL)
		return;
	struct metrics_txlog t;
	snapshot(log, &t);
	for (size_t i = 0; i <= SR_TXLOG_FSYNC_BUCKETS; i++)
		out->fsync_buckets[i] = t.fsync.b[i];
	out->fsyncs = t.fsync.count;
	out->fsync_us_sum = t.fsync.sum_us;
	out->records = t.records;
	out->fsync_errors = t.fsync_errors;
	out->write_errors = t.write_errors;
	out->poisoned = t.poisoned;
}

int
sr_txlog_metrics_text(sr_txlog *log, char *buf, size_t len, size_t *needed)
{
	if (needed != NULL)
		*needed = 0;
	if (log == NULL || (buf == NULL && len > 0))
		return SR_EINVAL;
	struct metrics_txlog t;
	snapshot(log, &t);
	struct strbuf b;
	strbuf_init(&b);
	metrics_txlog_text(&b, &t);
	size_t n;
	char *text = strbuf_take(&b, &n);
	if (text == NULL)
		return SR_ENOMEM;
	if (needed != NULL)
		*needed = n + 1;
	int rv = SR_ETOOBIG;
	if (n < len) {
		memcpy(buf, text, n + 1);
		rv = SR_OK;
	}
	free(text);
	return rv;
}

void
txlog_debug_hooks(sr_txlog *log, const struct txlog_hooks *h)
{
	pthread_mutex_lock(&log->mu);
	if (h != NULL)
		log->hooks = *h;
	else
		memset(&log->hooks, 0, sizeof(log->hooks));
	pthread_mutex_unlock(&log->mu);
}

uint64_t
txlog_debug_syncs(sr_txlog *log)
{
	pthread_mutex_lock(&log->mu);
	uint64_t n = log->syncs;
	pthread_mutex_unlock(&log->mu);
	return n;
}

/* ---- scanning ---- */

struct visit {
	sr_txlog_visit fn;
	void *arg;
	struct conv conv;
};

static int
visit_one(void *arg, const struct txlog_rec *r, uint64_t off)
{
	struct visit *v = arg;
	sr_txrecord pub;
	int rv = conv_record(&v->conv, r, &pub);

	return rv != SR_OK ? rv : v->fn(v->arg, &pub, off);
}

/* One record's place, for sorting by txid and for the in-doubt list. */
struct entry {
	uint64_t txid;
	uint64_t off;
	int state;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

/* The walk callback that collects entries. SR_ENOMEM stops the walk. */
static int
collect(void *arg, const struct txlog_rec *r, uint64_t off)
{
	struct entries *e = arg;

	if (e->n == e->cap) {
		size_t cap = e->cap == 0 ? 1024 : 2 * e->cap;
		struct entry *nv = realloc(e->v, cap * sizeof(*nv));
		if (nv == NULL)
			return SR_ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = (struct entry) {r->txid, off, r->state};
	return SR_OK;
}

/* By txid, then by offset: offsets are unique, so the order is total and
 * qsort's lack of stability does not matter. */
static int
by_txid(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->txid != y->txid)
		return x->txid < y->txid ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Collects the entries of every whole record, sorted by txid. */
static int
collect_sorted(struct reader *rd, struct entries *e, sr_txlog_recovery *rec)
{
	memset(e, 0, sizeof(*e));
	int rv = walk(rd, collect, e, rec);
	if (rv == SR_ENOMEM)
		errfmt(rd->errbuf, rd->errlen, "%s: out of memory", rd->path);
	if (rv == SR_OK && e->n > 1)
		qsort(e->v, e->n, sizeof(*e->v), by_txid);
	return rv;
}

/* Visits the sorted entries, reading each record again from its offset. */
static int
visit_sorted(struct reader *rd, const struct entries *e, struct visit *v)
{
	for (size_t i = 0; i < e->n; i++) {
		struct txlog_rec r;
		size_t used;
		int res;
		int rv = decode_at(rd, e->v[i].off, &r, &used, &res);
		if (rv != SR_OK)
			return rv;
		if (res != TXLOG_OK)
			return errorf(rd->errbuf, rd->errlen, SR_EIO,
			    "%s: record at offset %" PRIu64 " changed during the scan", rd->path,
			    e->v[i].off);
		if ((rv = visit_one(v, &r, e->v[i].off)) != 0)
			return rv;
	}
	return SR_OK;
}

int
sr_txlog_scan(const char *path, int txid_order, sr_txlog_visit fn, void *arg,
    sr_txlog_recovery *rec, char *errbuf, size_t errlen)
{
	struct reader rd;
	sr_txlog_recovery r;
	struct visit v = {fn, arg, {0}};

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (rec != NULL)
		memset(rec, 0, sizeof(*rec));
	if (path == NULL || fn == NULL)
		return errorf(errbuf, errlen, SR_EINVAL,
		    "txlog: a path and a visitor are required");
	int rv = rd_open(&rd, path, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	if (!txid_order) {
		rv = walk(&rd, visit_one, &v, &r);
	} else {
		struct entries e;
		rv = collect_sorted(&rd, &e, &r);
		if (rv == SR_OK)
			rv = visit_sorted(&rd, &e, &v);
		free(e.v);
	}
	conv_free(&v.conv);
	rd_close(&rd);
	if (rec != NULL)
		*rec = r;
	return rv;
}

int
sr_txlog_in_doubt(const char *path, uint64_t **txids, size_t *n, char *errbuf, size_t errlen)
{
	struct reader rd;
	struct entries e;
	sr_txlog_recovery r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (path == NULL || txids == NULL || n == NULL)
		return errorf(errbuf, errlen, SR_EINVAL, "txlog: path, txids and n are required");
	*txids = NULL;
	*n = 0;
	int rv = rd_open(&rd, path, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	rv = collect_sorted(&rd, &e, &r);
	rd_close(&rd);
	if (rv != SR_OK) {
		free(e.v);
		return rv;
	}
	/* Compacts the in-doubt txids into the front of e.v, reusing it. */
	size_t out = 0;
	for (size_t i = 0; i < e.n;) {
		uint64_t txid = e.v[i].txid;
		int last = 0;
		for (; i < e.n && e.v[i].txid == txid; i++)
			if (e.v[i].state != SR_TX_BEGIN)
				last = e.v[i].state;
		if (last == SR_TX_PREPARE)
			e.v[out++].txid = txid;
	}
	if (out == 0) {
		free(e.v);
		return SR_OK;
	}
	uint64_t *ids = malloc(out * sizeof(*ids));
	if (ids == NULL) {
		free(e.v);
		return errorf(errbuf, errlen, SR_ENOMEM, "%s: out of memory", path);
	}
	for (size_t i = 0; i < out; i++)
		ids[i] = e.v[i].txid;
	free(e.v);
	*txids = ids;
	*n = out;
	return SR_OK;
}
