/*
 * Tests of the 2PC log: the pure record codec (coordinator/txlog_codec.c)
 * and the log itself (coordinator/txlog.c). The codec is checked for round
 * trips, every truncation and every single-bit flip of a record; the log for
 * recovery from a torn tail cut at every byte of the last record, refusal of
 * middle corruption, the in-doubt list, group commit under four threads,
 * and injected write and fdatasync failures (the log must poison itself and
 * recovery must keep every record a wait acknowledged).
 *
 * Each test that touches disk gets a fresh directory under /tmp, removed
 * afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rm_rf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "metrics.h"
#include "snowrange/error.h"
#include "snowrange/txlog.h"
#include "txlog_codec.h"
#include "txlog_hooks.h"

struct fixture {
	char dir[64];
	char log[128];
	char copy[128];
};

/* ---- helpers ---- */

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/sr-txlog-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->log, sizeof f->log, "%s/tx.log", f->dir);
	snprintf(f->copy, sizeof f->copy, "%s/copy.log", f->dir);
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

/* Reads a whole file into a malloc'd buffer. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t) st.st_size;
	uint8_t *b = malloc(*len + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, *len), (ssize_t) *len);
	close(fd);
	return b;
}

static void
spit(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t) len);
	close(fd);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t) st.st_size;
}

/* A deterministic record per index i, with 0..2 participants and a payload
 * of 0..199 bytes, so records differ in size and content. */
struct gen {
	char names[3][32];
	const char *ptrs[3];
	uint8_t payload[256];
	sr_txrecord r;
};

static void
gen(int i, struct gen *g)
{
	size_t np = (size_t) (i % 3);
	size_t plen = (size_t) ((i * 37 + 11) % 200);

	for (size_t j = 0; j < np; j++) {
		snprintf(g->names[j], sizeof g->names[j], "node-%d-%zu", i, j);
		g->ptrs[j] = g->names[j];
	}
	for (size_t k = 0; k < plen; k++)
		g->payload[k] = (uint8_t) (i * 13 + k);
	g->r = (sr_txrecord) {(uint64_t) (1000 + i), (sr_tx_state) (1 + i % 4),
	    np > 0 ? g->ptrs : NULL, np, g->payload, plen};
}

static bool
same(const sr_txrecord *a, const sr_txrecord *b)
{
	if (a->txid != b->txid || a->state != b->state || a->nparticipants != b->nparticipants ||
	    a->payload_len != b->payload_len)
		return false;
	for (size_t j = 0; j < a->nparticipants; j++)
		if (strcmp(a->participants[j], b->participants[j]) != 0)
			return false;
	return a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0;
}

/* Scan visitor: checks record n against gen(expect[n]) and keeps offsets. */
struct expect {
	const int *idx;
	size_t n, max;
	size_t bad;
	uint64_t off[64];
};

static int
check_visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	struct expect *e = arg;
	struct gen g;

	if (e->n >= e->max) {
		e->bad++;
		return 0;
	}
	gen(e->idx[e->n], &g);
	if (!same(r, &g.r))
		e->bad++;
	if (e->n < 64)
		e->off[e->n] = offset;
	e->n++;
	return 0;
}

/* Scans path and asserts it holds exactly gen(idx[0..n)), in file order. */
static void
assert_log_holds(const char *path, const int *idx, size_t n, struct expect *out)
{
	struct expect e = {idx, 0, n, 0, {0}};
	sr_txlog_recovery rec;
	char err[256];

	assert_int_equal(sr_txlog_scan(path, 0, check_visit, &e, &rec, err, sizeof err), SR_OK);
	assert_int_equal(e.bad, 0);
	assert_int_equal(e.n, n);
	assert_int_equal(rec.records, n);
	if (out != NULL)
		*out = e;
}

static const int seq[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    21, 22, 23, 24, 25, 26, 27, 28, 29};

/* Writes gen(0..n) to a new log at path and closes it. */
static void
write_log(const char *path, int n)
{
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];

	assert_int_equal(sr_txlog_open(path, &log, &rec, err, sizeof err), SR_OK);
	for (int i = 0; i < n; i++) {
		struct gen g;
		gen(i, &g);
		assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
	}
	sr_txlog_close(log);
}

/* Converts a public record to the codec's form. */
static struct txlog_rec
to_codec(const sr_txrecord *r)
{
	return (struct txlog_rec) {.txid = r->txid,
	    .state = (int) r->state,
	    .nparticipants = r->nparticipants,
	    .participants = r->participants,
	    .payload = r->payload,
	    .payload_len = r->payload_len};
}

/* The salt and the place the codec tests put their records at: the first
 * record of a file, the first of its batch. */
#define SALT UINT64_C(0x0123456789abcdef)
#define OFF ((uint64_t) TXLOG_FILE_HDR)

static void
le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/* Recomputes both checksums after a test edited a record's body, so that
 * the decoder's field checks (not the CRCs) are what it meets. Written out
 * from the format in txlog_codec.h rather than through txlog_seal, so that
 * the test pins the format: head_crc covers salt, offset, then header bytes
 * 0..15. */
static void
reseal_at(uint8_t *rec, uint64_t salt, uint64_t off)
{
	uint8_t place[16];
	uint32_t body = (uint32_t) rec[0] | (uint32_t) rec[1] << 8 | (uint32_t) rec[2] << 16 |
	    (uint32_t) rec[3] << 24;
	uint32_t c = (uint32_t) crc32(0L, rec + TXLOG_REC_HDR, body);
	for (int i = 0; i < 4; i++)
		rec[4 + i] = (uint8_t) (c >> (8 * i));
	le64(place, salt);
	le64(place + 8, off);
	uLong h = crc32(0L, place, sizeof place);
	c = (uint32_t) crc32(h, rec, 16);
	for (int i = 0; i < 4; i++)
		rec[16 + i] = (uint8_t) (c >> (8 * i));
}

static void
reseal(uint8_t *rec)
{
	reseal_at(rec, SALT, OFF);
}

/* ---- codec ---- */

static void
roundtrip(const sr_txrecord *r)
{
	struct txlog_rec in = to_codec(r), out;
	size_t size = txlog_record_size(&in), used;

	assert_true(size > 0);
	uint8_t *buf = malloc(size + 7);
	assert_non_null(buf);
	assert_int_equal(txlog_encode(&in, buf, size - 1, &used), TXLOG_NOSPACE);
	assert_int_equal(txlog_encode(&in, buf, size, &used), TXLOG_OK);
	assert_int_equal(used, size);
	txlog_seal(buf, SALT, OFF, OFF);
	/* Trailing bytes after the record are not part of it. */
	memset(buf + size, 0xAB, 7);
	assert_int_equal(txlog_decode(buf, size + 7, SALT, OFF, &out, &used), TXLOG_OK);
	assert_int_equal(used, size);
	assert_int_equal(out.batch, OFF);
	assert_int_equal(out.txid, r->txid);
	assert_int_equal(out.state, (int) r->state);
	assert_null(out.participants);
	assert_int_equal(out.nparticipants, r->nparticipants);
	const uint8_t *cur = out.names;
	for (size_t j = 0; j < r->nparticipants; j++) {
		size_t len;
		const char *name = txlog_name_next(&cur, &len);
		assert_int_equal(len, strlen(r->participants[j]));
		assert_memory_equal(name, r->participants[j], len);
	}
	assert_int_equal(out.payload_len, r->payload_len);
	if (r->payload_len > 0)
		assert_memory_equal(out.payload, r->payload, r->payload_len);
	/* The same bytes anywhere else, or in another file, are no record. */
	assert_int_equal(txlog_decode(buf, size, SALT, OFF + 1, &out, &used), TXLOG_CORRUPT);
	assert_int_equal(txlog_decode(buf, size, SALT ^ 1, OFF, &out, &used), TXLOG_CORRUPT);
	free(buf);
}

static void
test_codec_roundtrip(void **state)
{
	(void) state;
	static const char *one[] = {"pg-1"};
	static char many_names[300][16];
	static const char *many[300];
	static uint8_t big[64 * 1024];

	for (int i = 0; i < 300; i++) {
		snprintf(many_names[i], sizeof many_names[i], "worker-%d", i);
		many[i] = many_names[i];
	}
	for (size_t k = 0; k < sizeof big; k++)
		big[k] = (uint8_t) (k * 7 + 3);
	sr_txrecord recs[] = {
	    {1, SR_TX_BEGIN, NULL, 0, NULL, 0},
	    {2, SR_TX_PREPARE, one, 1, "x", 1},
	    {3, SR_TX_COMMIT, many, 300, NULL, 0},
	    {UINT64_MAX, SR_TX_ABORT, many, 300, big, sizeof big},
	    {42, SR_TX_PREPARE, one, 1, big, sizeof big},
	};
	for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
		roundtrip(&recs[i]);
}

/* The largest record the limits allow encodes and decodes. */
static void
test_codec_max_record(void **state)
{
	(void) state;
	static char names[TXLOG_MAX_PARTICIPANTS][TXLOG_MAX_NAME + 1];
	static const char *ptrs[TXLOG_MAX_PARTICIPANTS];
	uint8_t *payload = calloc(1, TXLOG_MAX_PAYLOAD);

	assert_non_null(payload);
	for (int i = 0; i < TXLOG_MAX_PARTICIPANTS; i++) {
		memset(names[i], 'a' + i % 26, TXLOG_MAX_NAME);
		names[i][TXLOG_MAX_NAME] = '\0';
		ptrs[i] = names[i];
	}
	sr_txrecord r = {7, SR_TX_PREPARE, ptrs, TXLOG_MAX_PARTICIPANTS, payload,
	    TXLOG_MAX_PAYLOAD};
	struct txlog_rec in = to_codec(&r);
	assert_int_equal(txlog_record_size(&in),
	    TXLOG_REC_HDR + TXLOG_BODY_MIN + TXLOG_MAX_PARTICIPANTS * (2 + TXLOG_MAX_NAME) +
	        TXLOG_MAX_PAYLOAD);
	assert_true(txlog_record_size(&in) - TXLOG_REC_HDR <= TXLOG_MAX_BODY);
	roundtrip(&r);
	free(payload);
}

/* Every proper prefix of a record is TRUNCATED, and the byte count it asks
 * for never exceeds the record. */
static void
test_codec_truncations(void **state)
{
	(void) state;
	struct gen g;
	uint8_t buf[512];
	size_t size, used;
	struct txlog_rec out;

	gen(5, &g); /* two participants, a 196-byte payload */
	struct txlog_rec in = to_codec(&g.r);
	assert_int_equal(txlog_encode(&in, buf, sizeof buf, &size), TXLOG_OK);
	txlog_seal(buf, SALT, OFF, OFF);
	for (size_t n = 0; n < size; n++) {
		assert_int_equal(txlog_decode(buf, n, SALT, OFF, &out, &used), TXLOG_TRUNCATED);
		assert_true(used > n);
		assert_true(used <= size);
		assert_int_equal(used, n < TXLOG_REC_HDR ? TXLOG_REC_HDR : size);
	}
	assert_int_equal(txlog_decode(buf, size, SALT, OFF, &out, &used), TXLOG_OK);
}

/*
 * Every single-bit flip anywhere in a record is CORRUPT. A flip in
 * body_len could make the record claim more bytes than it has; because
 * head_crc covers body_len it is CORRUPT, not TRUNCATED, and that is what
 * keeps middle damage from passing for a torn tail. The record is followed
 * by a second valid one, so a longer claimed length finds real bytes, and
 * still nothing decodes as a (wrong) record.
 */
static void
test_codec_bit_flips(void **state)
{
	(void) state;
	struct gen g1, g2;
	uint8_t buf[1024];
	size_t s1, s2, used;
	struct txlog_rec out;

	gen(5, &g1);
	gen(7, &g2);
	struct txlog_rec a = to_codec(&g1.r), b = to_codec(&g2.r);
	assert_int_equal(txlog_encode(&a, buf, sizeof buf, &s1), TXLOG_OK);
	assert_int_equal(txlog_encode(&b, buf + s1, sizeof buf - s1, &s2), TXLOG_OK);
	txlog_seal(buf, SALT, OFF, OFF);
	txlog_seal(buf + s1, SALT, OFF, OFF + s1);
	size_t flips = 0;
	for (size_t bit = 0; bit < s1 * 8; bit++) {
		buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		int rv = txlog_decode(buf, s1 + s2, SALT, OFF, &out, &used);
		assert_int_equal(rv, TXLOG_CORRUPT);
		assert_non_null(out.why);
		assert_int_equal(used, 0);
		/* Alone (the record at the end of the data) it is CORRUPT as
		 * well: no flip looks like a torn tail. */
		assert_int_equal(txlog_decode(buf, s1, SALT, OFF, &out, &used), TXLOG_CORRUPT);
		buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		flips++;
	}
	assert_int_equal(flips, s1 * 8);
	assert_int_equal(txlog_decode(buf, s1 + s2, SALT, OFF, &out, &used), TXLOG_OK);
	assert_int_equal(out.txid, g1.r.txid);
	assert_int_equal(txlog_decode(buf + s1, s2, SALT, OFF + s1, &out, &used), TXLOG_OK);
	assert_int_equal(out.txid, g2.r.txid);
	assert_int_equal(out.batch, OFF);
}

/* Random bytes never decode as a record and never read out of bounds
 * (the sanitizer build checks the latter). */
static void
test_codec_garbage(void **state)
{
	(void) state;
	uint8_t buf[256];
	struct txlog_rec out;
	size_t used;
	unsigned seed = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t) (rand_r(&seed) % (int) sizeof buf);
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t) rand_r(&seed);
		int rv = txlog_decode(buf, n, SALT, OFF, &out, &used);
		assert_true(rv == TXLOG_TRUNCATED || rv == TXLOG_CORRUPT);
	}
}

/* Well-sealed bodies with impossible fields are CORRUPT, each for its
 * reason. Body layout: txid 0..7, state 8, reserved 9, nparticipants
 * 10..11, then names, then payload_len. */
static void
test_codec_bad_fields(void **state)
{
	(void) state;
	static const char *one[] = {"ab"};
	sr_txrecord r = {9, SR_TX_COMMIT, one, 1, "xyz", 3};
	struct txlog_rec in = to_codec(&r), out;
	uint8_t good[128], buf[128];
	size_t size, used;
	uint8_t *body = buf + TXLOG_REC_HDR;

	assert_int_equal(txlog_encode(&in, good, sizeof good, &size), TXLOG_OK);
	struct {
		size_t at;
		uint8_t val;
		const char *why;
	} cases[] = {
	    {8, 0, "unknown state"},
	    {8, 5, "unknown state"},
	    {9, 1, "reserved byte not 0"},
	    {11, 0x04, "too many participants"}, /* 1025 */
	    {10, 2, "participants run past the body"},
	    {12, 0, "bad participant name length"},
	    {14, 0, "NUL in a participant name"},
	    {16, 4, "payload length does not match the body length"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(buf, good, size);
		body[cases[i].at] = cases[i].val;
		if (cases[i].at == 11)
			body[10] = 0x01;
		reseal(buf);
		assert_int_equal(txlog_decode(buf, size, SALT, OFF, &out, &used), TXLOG_CORRUPT);
		assert_string_equal(out.why, cases[i].why);
	}
	/* txid 0 is never issued, so it never decodes either. */
	memcpy(buf, good, size);
	memset(body, 0, 8);
	reseal(buf);
	assert_int_equal(txlog_decode(buf, size, SALT, OFF, &out, &used), TXLOG_CORRUPT);
	assert_string_equal(out.why, "txid 0");
	/* A body length below the minimum, however well sealed. */
	memcpy(buf, good, size);
	buf[0] = 15;
	buf[1] = buf[2] = buf[3] = 0;
	reseal(buf);
	assert_int_equal(txlog_decode(buf, size, SALT, OFF, &out, &used), TXLOG_CORRUPT);
	assert_string_equal(out.why, "impossible body length");
	/* A record claiming a batch that starts after it. */
	memcpy(buf, good, size);
	le64(buf + 8, OFF + 1);
	reseal(buf);
	assert_int_equal(txlog_decode(buf, size, SALT, OFF, &out, &used), TXLOG_CORRUPT);
	assert_string_equal(out.why, "batch starts after the record");
}

/* A commit marker round-trips at its place, and well-sealed markers with
 * impossible fields are CORRUPT. Marker body: count 0..7, 0x80 at 8, zeros
 * 9..15. */
static void
test_codec_marks(void **state)
{
	(void) state;
	uint8_t good[TXLOG_MARK_SIZE], buf[TXLOG_MARK_SIZE];
	struct txlog_rec out;
	size_t used;
	const uint64_t at = OFF + 100;

	txlog_encode_mark(good, 3);
	txlog_seal(good, SALT, OFF, at);
	assert_int_equal(txlog_decode(good, sizeof good, SALT, at, &out, &used), TXLOG_OK);
	assert_int_equal(used, TXLOG_MARK_SIZE);
	assert_int_equal(out.state, TXLOG_MARK);
	assert_int_equal(out.nrecords, 3);
	assert_int_equal(out.batch, OFF);
	assert_int_equal(out.txid, 0);
	assert_int_equal(txlog_decode(good, sizeof good, SALT, at - 1, &out, &used), TXLOG_CORRUPT);
	for (size_t n = 0; n < sizeof good; n++)
		assert_int_equal(txlog_decode(good, n, SALT, at, &out, &used), TXLOG_TRUNCATED);
	for (size_t bit = 0; bit < sizeof good * 8; bit++) {
		memcpy(buf, good, sizeof buf);
		buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		assert_int_equal(txlog_decode(buf, sizeof buf, SALT, at, &out, &used),
		    TXLOG_CORRUPT);
	}
	uint8_t *body = buf + TXLOG_REC_HDR;
	memcpy(buf, good, sizeof buf);
	memset(body, 0, 8);
	reseal_at(buf, SALT, at);
	assert_int_equal(txlog_decode(buf, sizeof buf, SALT, at, &out, &used), TXLOG_CORRUPT);
	assert_string_equal(out.why, "commit marker of an empty batch");
	memcpy(buf, good, sizeof buf);
	body[15] = 1;
	reseal_at(buf, SALT, at);
	assert_int_equal(txlog_decode(buf, sizeof buf, SALT, at, &out, &used), TXLOG_CORRUPT);
	assert_string_equal(out.why, "reserved bytes of a commit marker not 0");
	/* A marker closes at least one record before it. */
	memcpy(buf, good, sizeof buf);
	le64(buf + 8, at);
	reseal_at(buf, SALT, at);
	assert_int_equal(txlog_decode(buf, sizeof buf, SALT, at, &out, &used), TXLOG_CORRUPT);
	assert_string_equal(out.why, "commit marker closing no record before it");
}

static void
test_codec_limits(void **state)
{
	(void) state;
	static const char *ptrs[TXLOG_MAX_PARTICIPANTS + 1];
	char long_name[TXLOG_MAX_NAME + 2];
	const char *with_null[] = {"a", NULL};
	const char *empty[] = {""};
	const char *too_long[] = {long_name};
	uint8_t buf[64];
	size_t used;

	memset(long_name, 'n', TXLOG_MAX_NAME + 1);
	long_name[TXLOG_MAX_NAME + 1] = '\0';
	for (int i = 0; i <= TXLOG_MAX_PARTICIPANTS; i++)
		ptrs[i] = "p";
	sr_txrecord bad[] = {
	    {0, SR_TX_BEGIN, NULL, 0, NULL, 0},     /* txid 0 */
	    {1, (sr_tx_state) 0, NULL, 0, NULL, 0}, /* state */
	    {1, (sr_tx_state) 5, NULL, 0, NULL, 0},
	    {1, SR_TX_BEGIN, ptrs, TXLOG_MAX_PARTICIPANTS + 1, NULL, 0},
	    {1, SR_TX_BEGIN, NULL, 1, NULL, 0}, /* NULL list */
	    {1, SR_TX_BEGIN, with_null, 2, NULL, 0},
	    {1, SR_TX_BEGIN, empty, 1, NULL, 0},
	    {1, SR_TX_BEGIN, too_long, 1, NULL, 0},
	    {1, SR_TX_BEGIN, NULL, 0, NULL, 1}, /* NULL payload */
	    {1, SR_TX_BEGIN, NULL, 0, buf, TXLOG_MAX_PAYLOAD + 1},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct txlog_rec in = to_codec(&bad[i]);
		assert_int_equal(txlog_record_size(&in), 0);
		assert_int_equal(txlog_encode(&in, buf, sizeof buf, &used), TXLOG_INVALID);
	}
	/* One name of exactly 255 bytes is fine. */
	long_name[TXLOG_MAX_NAME] = '\0';
	sr_txrecord ok = {1, SR_TX_BEGIN, too_long, 1, NULL, 0};
	struct txlog_rec in = to_codec(&ok);
	assert_int_equal(txlog_record_size(&in),
	    TXLOG_REC_HDR + TXLOG_BODY_MIN + 2 + TXLOG_MAX_NAME);
}

static void
test_codec_file_header(void **state)
{
	(void) state;
	uint8_t h[TXLOG_FILE_HDR], want[TXLOG_FILE_HDR];
	uint64_t salt;
	uint32_t version;

	txlog_file_header(h, SALT);
	memcpy(want, "SRTXLOG1\x02\x00\x00\x00", 12);
	le64(want + 12, SALT);
	uint32_t c = (uint32_t) crc32(0L, want, 20);
	for (int i = 0; i < 4; i++)
		want[20 + i] = (uint8_t) (c >> (8 * i));
	assert_memory_equal(h, want, TXLOG_FILE_HDR);
	assert_int_equal(txlog_file_check(h, sizeof h, &salt, &version), TXLOG_OK);
	assert_true(salt == SALT);
	for (size_t n = 0; n < sizeof h; n++)
		assert_int_equal(txlog_file_check(h, n, &salt, &version), TXLOG_TRUNCATED);
	assert_int_equal(txlog_file_check((const uint8_t *) "SRX", 3, &salt, &version),
	    TXLOG_CORRUPT);
	/* Every bit of the salt and of the checksum is checked. */
	for (size_t bit = 12 * 8; bit < sizeof h * 8; bit++) {
		h[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		assert_int_equal(txlog_file_check(h, sizeof h, &salt, &version), TXLOG_CORRUPT);
		h[bit / 8] ^= (uint8_t) (1u << (bit % 8));
	}
	/* The format of older builds, a 12-byte header: its version named. */
	assert_int_equal(txlog_file_check((const uint8_t *) "SRTXLOG1\x01\x00\x00\x00", 12, &salt,
	                     &version),
	    TXLOG_BADVERSION);
	assert_int_equal(version, 1);
	assert_int_equal(txlog_file_check((const uint8_t *) "SRTXLOG1\x01", 9, &salt, &version),
	    TXLOG_BADVERSION);
	assert_int_equal(version, 0);
	h[8] = 3;
	assert_int_equal(txlog_file_check(h, sizeof h, &salt, &version), TXLOG_BADVERSION);
	assert_int_equal(version, 3);
	h[0] = 's';
	assert_int_equal(txlog_file_check(h, sizeof h, &salt, &version), TXLOG_CORRUPT);
}

/* ---- the log ---- */

static void
test_write_reopen_scan(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];

	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 0);
	assert_int_equal(rec.bytes_kept, TXLOG_FILE_HDR);
	assert_int_equal(sr_txlog_last_txid(log), 0);
	assert_int_equal(file_size(f->log), TXLOG_FILE_HDR);
	uint64_t prev = 0;
	for (int i = 0; i < 20; i++) {
		struct gen g;
		uint64_t lsn;
		gen(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, &lsn), SR_OK);
		assert_true(lsn > prev);
		prev = lsn;
		if (i % 5 == 4)
			assert_int_equal(sr_txlog_wait(log, lsn), SR_OK);
	}
	/* An LSN this handle never handed out. */
	assert_int_equal(sr_txlog_wait(log, prev + 1), SR_EINVAL);
	assert_int_equal(sr_txlog_last_txid(log), 1019);
	sr_txlog_close(log);
	sr_txlog_close(NULL);
	/* The last batch ends with its commit marker. */
	assert_int_equal(file_size(f->log), prev + TXLOG_MARK_SIZE);

	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 20);
	assert_int_equal(rec.bytes_kept, prev + TXLOG_MARK_SIZE);
	assert_int_equal(rec.bytes_cut, 0);
	assert_int_equal(rec.last_txid, 1019);
	assert_int_equal(sr_txlog_last_txid(log), 1019);
	sr_txlog_close(log);
	assert_log_holds(f->log, seq, 20, NULL);
}

/* Records appended but never waited for are written by close. */
static void
test_close_flushes(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	char err[256];

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	for (int i = 0; i < 7; i++) {
		struct gen g;
		gen(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, NULL), SR_OK);
	}
	assert_int_equal(txlog_debug_syncs(log), 0);
	sr_txlog_close(log);
	assert_log_holds(f->log, seq, 7, NULL);
}

static int
stop_at_three(void *arg, const sr_txrecord *r, uint64_t offset)
{
	(void) r;
	(void) offset;
	int *n = arg;
	return ++*n == 3 ? 42 : 0;
}

static void
test_scan_stops(void **state)
{
	struct fixture *f = *state;
	int n = 0;

	write_log(f->log, 10);
	assert_int_equal(sr_txlog_scan(f->log, 0, stop_at_three, &n, NULL, NULL, 0), 42);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(sr_txlog_scan(f->log, 1, stop_at_three, &n, NULL, NULL, 0), 42);
	assert_int_equal(n, 3);
}

/*
 * A crash can tear the last record at any byte. For every cut point inside
 * it: open keeps the N-1 records before it, reports and cuts the rest, and
 * the log goes on from there.
 */
static void
test_torn_tail_every_offset(void **state)
{
	struct fixture *f = *state;
	const int n = 5;
	struct expect e;
	size_t len;
	char err[256];

	write_log(f->log, n);
	assert_log_holds(f->log, seq, (size_t) n, &e);
	uint8_t *full = slurp(f->log, &len);
	uint64_t start = e.off[n - 1];
	assert_true(len - start > 100);
	int idx[] = {0, 1, 2, 3, 100};
	for (uint64_t cut = start; cut < len; cut++) {
		sr_txlog *log;
		sr_txlog_recovery rec;
		struct gen g;

		spit(f->copy, full, (size_t) cut);
		assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_OK);
		assert_int_equal(rec.records, n - 1);
		assert_int_equal(rec.bytes_kept, start);
		assert_int_equal(rec.bytes_cut, cut - start);
		assert_int_equal(rec.last_txid, 1000 + n - 2);
		assert_int_equal(file_size(f->copy), start);
		gen(100, &g);
		assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
		sr_txlog_close(log);
		assert_log_holds(f->copy, idx, (size_t) n, NULL);
	}
	free(full);
}

/* A last record that is whole in length but fails its checksum, a last
 * commit marker that fails its checksum, and a tail of zeros (what some
 * file systems show after a crash), are torn tails too: nothing valid
 * follows them. */
static void
test_torn_tail_bad_crc_and_zeros(void **state)
{
	struct fixture *f = *state;
	struct expect e;
	sr_txlog *log;
	sr_txlog_recovery rec;
	size_t len;
	char err[256];

	write_log(f->log, 5);
	assert_log_holds(f->log, seq, 5, &e);
	uint8_t *full = slurp(f->log, &len);
	const size_t flip[] = {len - TXLOG_MARK_SIZE - 3, len - 3};
	for (size_t i = 0; i < 2; i++) {
		full[flip[i]] ^= 0x40;
		spit(f->copy, full, len);
		assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_OK);
		assert_int_equal(rec.records, 4);
		assert_int_equal(rec.bytes_cut, len - e.off[4]);
		sr_txlog_close(log);
		assert_log_holds(f->copy, seq, 4, NULL);
		full[flip[i]] ^= 0x40;
	}

	uint8_t *z = calloc(1, len + 4096);
	assert_non_null(z);
	memcpy(z, full, len);
	spit(f->copy, z, len + 4096);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 5);
	assert_int_equal(rec.bytes_cut, 4096);
	sr_txlog_close(log);
	assert_int_equal(file_size(f->copy), len);
	assert_log_holds(f->copy, seq, 5, NULL);
	free(z);
	free(full);
}

static int
count_visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	(void) r;
	(void) offset;
	(*(size_t *) arg)++;
	return 0;
}

/* Damage before the last record is refused, by open, scan and in-doubt
 * alike, with the offset named and the file left as it was. */
static void
expect_refused(const char *path, uint64_t bad_off)
{
	sr_txlog *log = NULL;
	sr_txlog_recovery rec;
	char err[512], want[64];
	size_t before_len, after_len, n = 0;
	uint64_t *ids;
	uint8_t *before = slurp(path, &before_len);

	snprintf(want, sizeof want, "offset %llu", (unsigned long long) bad_off);
	assert_int_equal(sr_txlog_open(path, &log, &rec, err, sizeof err), SR_EIO);
	assert_null(log);
	assert_non_null(strstr(err, want));
	uint8_t *after = slurp(path, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	err[0] = '\0';
	assert_int_equal(sr_txlog_scan(path, 0, count_visit, &n, &rec, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, want));
	/* The whole file is checked before the first visit: no record of a
	 * refused log is visited, in either order. */
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(sr_txlog_scan(path, 1, count_visit, &n, &rec, err, sizeof err), SR_EIO);
	assert_int_equal(n, 0);
	assert_int_equal(sr_txlog_in_doubt(path, &ids, &n, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, want));
	free(after);
	free(before);
}

static void
test_middle_corruption(void **state)
{
	struct fixture *f = *state;
	struct expect e;
	size_t len;

	write_log(f->log, 5);
	assert_log_holds(f->log, seq, 5, &e);
	uint8_t *full = slurp(f->log, &len);
	/* A byte of record 2's body, then of its body_len. */
	full[e.off[1] + TXLOG_REC_HDR + 3] ^= 0x01;
	spit(f->copy, full, len);
	expect_refused(f->copy, e.off[1]);
	full[e.off[1] + TXLOG_REC_HDR + 3] ^= 0x01;
	full[e.off[1] + 2] ^= 0x10; /* claims ~1 MiB more than the file has */
	spit(f->copy, full, len);
	expect_refused(f->copy, e.off[1]);
	free(full);
}

/*
 * Regression (issue 8, item 4): the last record's write was cut short, and
 * its payload holds the bytes of encoded records (here a copy of the
 * records before it, as an application that logs log excerpts could). The
 * copies are whole and pass their checksums as bytes; they must not pass
 * for records where they lie, or the torn tail looks like damage in the
 * middle and the log refuses to open. Expected: opens, cuts the torn
 * record, reports it, keeps both acknowledged records intact.
 */
static void
test_torn_tail_payload_holds_records(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	struct expect e;
	char err[256];
	size_t len;
	uint64_t lsn;

	write_log(f->log, 2);
	assert_log_holds(f->log, seq, 2, &e);
	uint8_t *full = slurp(f->log, &len);
	const uint64_t acked = len;

	/* Payload: 16 bytes, the two records exactly as on disk, 200 more. */
	size_t copy = len - (size_t) e.off[0];
	size_t plen = 16 + copy + 200;
	uint8_t *payload = calloc(1, plen);
	assert_non_null(payload);
	memset(payload, 0x5a, plen);
	memcpy(payload + 16, full + e.off[0], copy);
	static const char *parts[] = {"pg-1"};
	sr_txrecord big = {4242, SR_TX_PREPARE, parts, 1, payload, plen};
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	assert_int_equal(sr_txlog_append(log, &big, &lsn), SR_OK);
	assert_int_equal(sr_txlog_wait(log, lsn), SR_OK);
	sr_txlog_close(log);
	free(full);

	/* The crash: the write stopped 100 bytes before the record's end,
	 * inside the trailing filler, so the copies in the payload are whole. */
	full = slurp(f->log, &len);
	uint64_t cut = lsn - 100;
	assert_true(cut > acked + 16 + copy);
	spit(f->copy, full, (size_t) cut);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 2);
	assert_int_equal(rec.bytes_kept, acked);
	assert_int_equal(rec.bytes_cut, cut - acked);
	assert_int_equal(rec.last_txid, 1001);
	sr_txlog_close(log);
	assert_int_equal(file_size(f->copy), acked);
	assert_log_holds(f->copy, seq, 2, NULL);
	free(payload);
	free(full);
}

/*
 * Regression (issue 8, item 4): a group-commit batch that was never synced
 * reached the disk with a page missing in its middle (zeros where 4 KiB of
 * it should be; write-back order is up to the kernel and the drive). The
 * whole records after the hole belong to the same unsynced batch and prove
 * nothing. Expected: opens and cuts at the end of the last acknowledged
 * batch.
 */
static void
test_unsynced_batch_missing_page(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	size_t len;
	uint64_t lsn = 0;
	enum { ACKED = 3, BATCH = 100 };

	write_log(f->log, ACKED);
	const uint64_t acked = file_size(f->log);
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	for (int i = ACKED; i < ACKED + BATCH; i++) {
		struct gen g;
		gen(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, &lsn), SR_OK);
	}
	assert_int_equal(sr_txlog_wait(log, lsn), SR_OK); /* one batch */
	sr_txlog_close(log);
	uint8_t *full = slurp(f->log, &len);
	/* The page [4096, 8192) lies inside the batch with more after it. */
	assert_true(acked < 4096 && len > 8192 + 1024);
	memset(full + 4096, 0, 4096);
	spit(f->copy, full, len);

	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, ACKED);
	assert_int_equal(rec.bytes_kept, acked);
	assert_int_equal(rec.bytes_cut, len - acked);
	assert_int_equal(rec.last_txid, 1000 + ACKED - 1);
	struct gen g;
	gen(100, &g);
	assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
	sr_txlog_close(log);
	const int idx[] = {0, 1, 2, 100};
	assert_log_holds(f->copy, idx, 4, NULL);
	free(full);
}

/*
 * Damage inside a synced batch is refused with its offset, and so is
 * damage to a synced batch's commit marker, whenever a later batch shows
 * that the damaged one was synced: a later batch that is whole, and one
 * that is itself torn but has a whole record. The counterpart of the two
 * tests above: cutting more must not turn damage into a silent loss.
 */
static void
test_damage_in_synced_batch(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	char err[256];
	size_t len;
	uint64_t lsn[15];

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	for (int b = 0; b < 3; b++) {
		for (int i = 5 * b; i < 5 * b + 5; i++) {
			struct gen g;
			gen(i, &g);
			assert_int_equal(sr_txlog_append(log, &g.r, &lsn[i]), SR_OK);
		}
		assert_int_equal(sr_txlog_wait(log, lsn[5 * b + 4]), SR_OK);
	}
	sr_txlog_close(log);
	uint8_t *full = slurp(f->log, &len);

	/* A byte of record 7, in the middle of the second batch (record 7
	 * starts where record 6 ends). */
	full[lsn[6] + 30] ^= 0x01;
	spit(f->copy, full, len);
	expect_refused(f->copy, lsn[6]);
	/* The third batch torn after its first record: still proof. */
	spit(f->copy, full, (size_t) lsn[10] + 5);
	expect_refused(f->copy, lsn[6]);
	full[lsn[6] + 30] ^= 0x01;

	/* The second batch's commit marker, right after record 9. */
	full[lsn[9] + TXLOG_REC_HDR + 8] ^= 0x01;
	spit(f->copy, full, len);
	expect_refused(f->copy, lsn[9]);
	free(full);
}

static void
test_not_a_txlog(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	size_t len;
	const char text[] = "this is somebody's config file, not a log\n";

	spit(f->copy, text, sizeof text - 1);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, "not a snowrange txlog"));
	uint8_t *b = slurp(f->copy, &len);
	assert_int_equal(len, sizeof text - 1);
	assert_memory_equal(b, text, len);
	free(b);
	/* Too short for a header and not a prefix of one: refused too. */
	spit(f->copy, "abc", 3);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_EIO);
	assert_int_equal(file_size(f->copy), 3);
	/* The right magic with a version from the future. */
	spit(f->copy, "SRTXLOG1\x03\x00\x00\x00", 12);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, "version 3"));
	assert_int_equal(file_size(f->copy), 12);
	/* A log in the first format (older builds: a 12-byte header, then
	 * records): refused with a message that says what it is, and left as
	 * it was. */
	static const uint8_t v1[] = "SRTXLOG1\x01\x00\x00\x00"
	                            "\x10\x00\x00\x00\x4a\x1d\xe8\xb6\x55\x8e\x64\x2a"
	                            "\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"
	                            "\x00\x00\x00\x00";
	spit(f->copy, v1, sizeof v1 - 1);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, "format version 1, written by an older snowrange"));
	assert_int_equal(file_size(f->copy), sizeof v1 - 1);
	assert_int_equal(sr_txlog_scan(f->copy, 0, count_visit, &len, &rec, err, sizeof err),
	    SR_EIO);
	assert_non_null(strstr(err, "version 1"));
	/* A damaged file header (here its salt) would make every record
	 * fail its checksum: refused, never taken for a log of torn records. */
	write_log(f->log, 3);
	b = slurp(f->log, &len);
	b[15] ^= 0x01;
	spit(f->copy, b, len);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, "damaged txlog file header"));
	assert_int_equal(file_size(f->copy), len);
	free(b);
	/* A header torn at creation is only the start of one: rewritten. */
	spit(f->copy, "SRTXL", 5);
	assert_int_equal(sr_txlog_open(f->copy, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 0);
	assert_int_equal(rec.bytes_cut, 5);
	assert_int_equal(rec.bytes_kept, TXLOG_FILE_HDR);
	sr_txlog_close(log);
	assert_int_equal(file_size(f->copy), TXLOG_FILE_HDR);
	/* A directory is no log. */
	assert_int_equal(sr_txlog_open(f->dir, &log, &rec, err, sizeof err), SR_EIO);
	assert_int_equal(sr_txlog_open(NULL, &log, &rec, err, sizeof err), SR_EINVAL);
}

static void
test_bad_records(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	char err[256];
	static const char *ptrs[TXLOG_MAX_PARTICIPANTS + 1];
	const char *long_name[] = {
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"};
	uint8_t *payload = calloc(1, TXLOG_MAX_PAYLOAD + 1);

	assert_non_null(payload);
	for (int i = 0; i <= TXLOG_MAX_PARTICIPANTS; i++)
		ptrs[i] = "p";
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	sr_txrecord bad[] = {
	    {1, (sr_tx_state) 0, NULL, 0, NULL, 0},
	    {1, (sr_tx_state) 9, NULL, 0, NULL, 0},
	    {0, SR_TX_BEGIN, NULL, 0, NULL, 0},
	    {1, SR_TX_BEGIN, ptrs, TXLOG_MAX_PARTICIPANTS + 1, NULL, 0},
	    {1, SR_TX_BEGIN, long_name, 1, NULL, 0},
	    {1, SR_TX_BEGIN, NULL, 0, payload, TXLOG_MAX_PAYLOAD + 1},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t lsn = 77;
		assert_int_equal(sr_txlog_append(log, &bad[i], &lsn), SR_EINVAL);
		assert_int_equal(lsn, 77);
		assert_int_equal(sr_txlog_write(log, &bad[i]), SR_EINVAL);
	}
	assert_int_equal(sr_txlog_append(log, NULL, NULL), SR_EINVAL);
	/* Refusals leave the log healthy: limits exactly met are fine. */
	sr_txrecord edge = {1, SR_TX_BEGIN, ptrs, TXLOG_MAX_PARTICIPANTS, payload,
	    TXLOG_MAX_PAYLOAD};
	assert_int_equal(sr_txlog_write(log, &edge), SR_OK);
	sr_txlog_close(log);
	sr_txlog_recovery rec;
	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 1);
	sr_txlog_close(log);
	free(payload);
}

/* One handle per file: a second open fails, a scan does not. */
static void
test_single_writer(void **state)
{
	struct fixture *f = *state;
	sr_txlog *a, *b = NULL;
	char err[256];
	size_t n = 0;

	write_log(f->log, 3);
	assert_int_equal(sr_txlog_open(f->log, &a, NULL, err, sizeof err), SR_OK);
	assert_int_equal(sr_txlog_open(f->log, &b, NULL, err, sizeof err), SR_EIO);
	assert_null(b);
	assert_non_null(strstr(err, "held open"));
	assert_int_equal(sr_txlog_scan(f->log, 0, count_visit, &n, NULL, NULL, 0), SR_OK);
	assert_int_equal(n, 3);
	/* The scan's descriptor closing did not drop the writer's lock. */
	assert_int_equal(sr_txlog_open(f->log, &b, NULL, err, sizeof err), SR_EIO);
	sr_txlog_close(a);
	assert_int_equal(sr_txlog_open(f->log, &b, NULL, err, sizeof err), SR_OK);
	sr_txlog_close(b);
}

static void
put(sr_txlog *log, uint64_t txid, sr_tx_state st)
{
	static const char *parts[] = {"pg-a", "pg-b"};
	sr_txrecord r = {txid, st, parts, 2, &txid, sizeof txid};
	assert_int_equal(sr_txlog_write(log, &r), SR_OK);
}

struct order {
	uint64_t txid[16];
	int state[16];
	uint64_t off[16];
	size_t n;
};

static int
order_visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	struct order *o = arg;

	if (o->n < 16) {
		o->txid[o->n] = r->txid;
		o->state[o->n] = r->state;
		o->off[o->n] = offset;
	}
	o->n++;
	return 0;
}

static void
test_in_doubt_and_txid_order(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	uint64_t *ids;
	size_t n;

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	put(log, 5, SR_TX_PREPARE);
	put(log, 1, SR_TX_BEGIN);
	put(log, 2, SR_TX_BEGIN);
	put(log, 3, SR_TX_PREPARE);
	put(log, 1, SR_TX_PREPARE);
	put(log, 2, SR_TX_PREPARE);
	put(log, 3, SR_TX_ABORT);
	put(log, 1, SR_TX_COMMIT);
	sr_txlog_close(log);

	assert_int_equal(sr_txlog_in_doubt(f->log, &ids, &n, err, sizeof err), SR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 5);
	free(ids);

	struct order o = {0};
	assert_int_equal(sr_txlog_scan(f->log, 1, order_visit, &o, &rec, err, sizeof err), SR_OK);
	assert_int_equal(o.n, 8);
	assert_int_equal(rec.last_txid, 5);
	const uint64_t want_tx[] = {1, 1, 1, 2, 2, 3, 3, 5};
	const int want_st[] = {SR_TX_BEGIN, SR_TX_PREPARE, SR_TX_COMMIT, SR_TX_BEGIN, SR_TX_PREPARE,
	    SR_TX_PREPARE, SR_TX_ABORT, SR_TX_PREPARE};
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(o.txid[i], want_tx[i]);
		assert_int_equal(o.state[i], want_st[i]);
		if (i > 0 && o.txid[i] == o.txid[i - 1])
			assert_true(o.off[i] > o.off[i - 1]); /* stable */
	}
	/* File order is the order of writing. */
	memset(&o, 0, sizeof o);
	assert_int_equal(sr_txlog_scan(f->log, 0, order_visit, &o, NULL, NULL, 0), SR_OK);
	assert_int_equal(o.txid[0], 5);
	assert_int_equal(o.txid[7], 1);

	/* A BEGIN after a PREPARE does not resolve it; resolving 2 does. */
	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(sr_txlog_last_txid(log), 5);
	put(log, 7, SR_TX_PREPARE);
	put(log, 7, SR_TX_BEGIN);
	put(log, 2, SR_TX_COMMIT);
	sr_txlog_close(log);
	assert_int_equal(sr_txlog_in_doubt(f->log, &ids, &n, err, sizeof err), SR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[1], 7);
	free(ids);

	/* Nothing in doubt: NULL and 0. */
	assert_int_equal(sr_txlog_open(f->copy, &log, NULL, err, sizeof err), SR_OK);
	put(log, 9, SR_TX_PREPARE);
	put(log, 9, SR_TX_COMMIT);
	sr_txlog_close(log);
	assert_int_equal(sr_txlog_in_doubt(f->copy, &ids, &n, err, sizeof err), SR_OK);
	assert_int_equal(n, 0);
	assert_null(ids);
}

/* ---- group commit ---- */

#define GC_THREADS 4
#define GC_EACH 2000

struct gc_arg {
	sr_txlog *log;
	uint32_t t;
	int fails;
};

static void *
gc_writer(void *p)
{
	struct gc_arg *a = p;

	for (uint32_t i = 0; i < GC_EACH; i++) {
		uint32_t body[2] = {a->t, i};
		static const char *parts[] = {"pg-1"};
		sr_txrecord r = {(uint64_t) a->t * 1000000 + i + 1, SR_TX_PREPARE, parts, 1, body,
		    sizeof body};
		if (sr_txlog_write(a->log, &r) != SR_OK)
			a->fails++;
	}
	return NULL;
}

struct gc_seen {
	uint8_t seen[GC_THREADS][GC_EACH];
	int64_t last[GC_THREADS];
	size_t bad;
};

static int
gc_visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	struct gc_seen *s = arg;
	uint32_t body[2];

	(void) offset;
	if (r->payload_len != sizeof body) {
		s->bad++;
		return 0;
	}
	memcpy(body, r->payload, sizeof body);
	if (body[0] >= GC_THREADS || body[1] >= GC_EACH) {
		s->bad++;
		return 0;
	}
	if (r->txid != (uint64_t) body[0] * 1000000 + body[1] + 1 ||
	    s->seen[body[0]][body[1]]++ != 0 ||
	    (int64_t) body[1] <= s->last[body[0]]) /* each thread's own order */
		s->bad++;
	s->last[body[0]] = body[1];
	return 0;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	pthread_t th[GC_THREADS];
	struct gc_arg args[GC_THREADS];

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	for (uint32_t t = 0; t < GC_THREADS; t++) {
		args[t] = (struct gc_arg) {log, t, 0};
		assert_int_equal(pthread_create(&th[t], NULL, gc_writer, &args[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(args[t].fails, 0);
	}
	uint64_t syncs = txlog_debug_syncs(log);
	print_message("group commit: %d writes, %llu fdatasync calls\n", GC_THREADS * GC_EACH,
	    (unsigned long long) syncs);
	assert_true(syncs > 0);
	assert_true(syncs < GC_THREADS * GC_EACH);
	sr_txlog_close(log);

	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, GC_THREADS * GC_EACH);
	assert_int_equal(rec.bytes_cut, 0);
	sr_txlog_close(log);
	struct gc_seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	for (int t = 0; t < GC_THREADS; t++)
		s->last[t] = -1;
	assert_int_equal(sr_txlog_scan(f->log, 0, gc_visit, s, NULL, NULL, 0), SR_OK);
	assert_int_equal(s->bad, 0);
	for (int t = 0; t < GC_THREADS; t++)
		assert_int_equal(s->last[t], GC_EACH - 1);
	free(s);
}

/* ---- injected faults ---- */

struct fault {
	_Atomic int syncs;  /* sync calls seen */
	int fail_sync_from; /* calls from this one on fail; -1 never */
	int sync_eintr;     /* every other sync call is interrupted first */
	int max_write;      /* write at most this many bytes per call; 0 all */
	int write_eintr;    /* every third write call is interrupted */
	int writes;
	int tear_write;     /* write half, then fail with ENOSPC */
	long sync_delay_ns; /* sleep in each sync, like a slow disk */
};

static ssize_t
fault_write(void *arg, int fd, const void *buf, size_t n, off_t off)
{
	struct fault *x = arg;

	x->writes++;
	if (x->write_eintr && x->writes % 3 == 0) {
		errno = EINTR;
		return -1;
	}
	if (x->tear_write == 1) {
		x->tear_write = 2;
		return pwrite(fd, buf, n / 2, off);
	}
	if (x->tear_write == 2) {
		errno = ENOSPC;
		return -1;
	}
	if (x->max_write > 0 && n > (size_t) x->max_write)
		n = (size_t) x->max_write;
	return pwrite(fd, buf, n, off);
}

static int
fault_sync(void *arg, int fd)
{
	struct fault *x = arg;
	int k = atomic_fetch_add(&x->syncs, 1);

	if (x->sync_delay_ns > 0) {
		struct timespec ts = {0, x->sync_delay_ns};
		nanosleep(&ts, NULL);
	}
	if (x->sync_eintr && k % 2 == 0) {
		errno = EINTR;
		return -1;
	}
	if (x->fail_sync_from >= 0 && k >= x->fail_sync_from) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

/* Short writes and EINTR are looped over, not mistaken for failures. */
static void
test_short_writes_and_eintr(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	char err[256];
	struct fault x = {.fail_sync_from = -1, .sync_eintr = 1, .max_write = 7, .write_eintr = 1};
	struct txlog_hooks h = {fault_write, fault_sync, &x};

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	txlog_debug_hooks(log, &h);
	for (int i = 0; i < 20; i++) {
		struct gen g;
		gen(i, &g);
		assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
	}
	assert_true(x.writes > 100);
	assert_int_equal(atomic_load(&x.syncs), 40);
	sr_txlog_close(log);
	assert_log_holds(f->log, seq, 20, NULL);
}

/*
 * fdatasync fails: the waiter gets SR_EIO, and from then on the log is
 * poisoned (never retried into a false success). Records durable before
 * the failure stay acknowledged, and reopening keeps all of them.
 */
static void
test_sync_failure_poisons(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	struct fault x = {.fail_sync_from = 0};
	struct txlog_hooks h = {NULL, fault_sync, &x};
	uint64_t lsn[13];

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	for (int i = 0; i < 10; i++) {
		struct gen g;
		gen(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, &lsn[i]), SR_OK);
		assert_int_equal(sr_txlog_wait(log, lsn[i]), SR_OK);
	}
	txlog_debug_hooks(log, &h);
	for (int i = 10; i < 13; i++) {
		struct gen g;
		gen(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, &lsn[i]), SR_OK);
	}
	assert_int_equal(sr_txlog_wait(log, lsn[12]), SR_EIO);
	assert_int_equal(sr_txlog_wait(log, lsn[10]), SR_EIO);
	/* Healthy again, the hook would let a retry succeed: none happens. */
	txlog_debug_hooks(log, NULL);
	assert_int_equal(sr_txlog_wait(log, lsn[12]), SR_EIO);
	struct gen g;
	gen(13, &g);
	assert_int_equal(sr_txlog_append(log, &g.r, NULL), SR_EIO);
	assert_int_equal(sr_txlog_write(log, &g.r), SR_EIO);
	assert_int_equal(atomic_load(&x.syncs), 1);
	/* What was durable before the failure still is. */
	assert_int_equal(sr_txlog_wait(log, lsn[9]), SR_OK);
	sr_txlog_close(log);

	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	/* The failed batch was written, so the page cache still has it; only
	 * the 10 acknowledged records are promised. */
	assert_true(rec.records >= 10 && rec.records <= 13);
	sr_txlog_close(log);
	struct expect e = {seq, 0, 13, 0, {0}};
	assert_int_equal(sr_txlog_scan(f->log, 0, check_visit, &e, NULL, NULL, 0), SR_OK);
	assert_int_equal(e.bad, 0);
	assert_true(e.n >= 10);
}

/* A write that fails halfway leaves a torn batch; recovery cuts it and
 * keeps everything acknowledged. */
static void
test_write_failure_tears(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	struct fault x = {.fail_sync_from = -1, .tear_write = 1};
	struct txlog_hooks h = {fault_write, NULL, &x};
	uint64_t lsn, durable;
	struct gen g;

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	for (int i = 0; i < 10; i++) {
		gen(i, &g);
		assert_int_equal(sr_txlog_append(log, &g.r, &durable), SR_OK);
	}
	assert_int_equal(sr_txlog_wait(log, durable), SR_OK);
	durable += TXLOG_MARK_SIZE; /* the batch's commit marker */
	assert_int_equal(file_size(f->log), durable);
	txlog_debug_hooks(log, &h);
	gen(10, &g);
	assert_int_equal(sr_txlog_append(log, &g.r, &lsn), SR_OK);
	assert_int_equal(sr_txlog_wait(log, lsn), SR_EIO);
	assert_int_equal(sr_txlog_append(log, &g.r, NULL), SR_EIO);
	assert_int_equal(txlog_debug_syncs(log), 1); /* the failed write was not synced */
	sr_txlog_close(log);
	uint64_t half = (lsn + TXLOG_MARK_SIZE - durable) / 2;
	assert_int_equal(file_size(f->log), durable + half);

	assert_int_equal(sr_txlog_open(f->log, &log, &rec, err, sizeof err), SR_OK);
	assert_int_equal(rec.records, 10);
	assert_int_equal(rec.bytes_kept, durable);
	assert_int_equal(rec.bytes_cut, half);
	gen(11, &g);
	assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
	sr_txlog_close(log);
	const int idx[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11};
	assert_log_holds(f->log, idx, 11, NULL);
}

/* Concurrent writers meet a failing fdatasync: every waiter the failure
 * covers gets SR_EIO, no write succeeds after it, and every write that did
 * succeed is found after reopening. */
#define FW_THREADS 4
#define FW_EACH 60

struct fw_arg {
	sr_txlog *log;
	uint32_t t;
	int rv[FW_EACH];
};

static void *
fw_writer(void *p)
{
	struct fw_arg *a = p;

	for (uint32_t i = 0; i < FW_EACH; i++) {
		sr_txrecord r = {(uint64_t) a->t * 1000 + i + 1, SR_TX_PREPARE, NULL, 0, NULL, 0};
		a->rv[i] = sr_txlog_write(a->log, &r);
	}
	return NULL;
}

static int
fw_visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	uint8_t *found = arg;

	(void) offset;
	if (r->txid >= 1 && r->txid <= FW_THREADS * 1000)
		found[r->txid] = 1;
	return 0;
}

static void
test_concurrent_waiters_poisoned(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	char err[256];
	struct fault x = {.fail_sync_from = 15, .sync_delay_ns = 2000000};
	struct txlog_hooks h = {NULL, fault_sync, &x};
	pthread_t th[FW_THREADS];
	static struct fw_arg args[FW_THREADS];

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	txlog_debug_hooks(log, &h);
	for (uint32_t t = 0; t < FW_THREADS; t++) {
		args[t].log = log;
		args[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, fw_writer, &args[t]), 0);
	}
	for (int t = 0; t < FW_THREADS; t++)
		pthread_join(th[t], NULL);
	/* The sync after the 15th failed and nothing synced after it. */
	assert_int_equal(atomic_load(&x.syncs), 16);
	sr_txlog_close(log);

	uint8_t *found = calloc(1, FW_THREADS * 1000 + 1);
	assert_non_null(found);
	assert_int_equal(sr_txlog_scan(f->log, 0, fw_visit, found, NULL, NULL, 0), SR_OK);
	int ok = 0, eio = 0;
	for (int t = 0; t < FW_THREADS; t++) {
		bool failed = false;
		for (int i = 0; i < FW_EACH; i++) {
			int rv = args[t].rv[i];
			assert_true(rv == SR_OK || rv == SR_EIO);
			if (rv == SR_EIO) {
				failed = true;
				eio++;
			} else {
				assert_false(failed); /* no success after a failure */
				assert_true(found[(uint64_t) t * 1000 + i + 1]);
				ok++;
			}
		}
		assert_true(failed);
	}
	print_message("poisoned: %d writes acknowledged, %d got SR_EIO\n", ok, eio);
	assert_true(ok > 0);
	free(found);
}

/* ---- monitoring ---- */

static void
has(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("'%s' not in:\n%s", want, text);
}

/* The metrics text of log, checked for size handling on the way. */
static void
metrics_text(sr_txlog *log, char *buf, size_t len)
{
	size_t needed;
	char tiny[8] = "x";
	assert_int_equal(sr_txlog_metrics_text(log, tiny, sizeof tiny, &needed), SR_ETOOBIG);
	assert_string_equal(tiny, "x"); /* nothing written */
	assert_true(needed > sizeof tiny && needed <= len);
	assert_int_equal(sr_txlog_metrics_text(log, buf, len, NULL), SR_OK);
	assert_int_equal(strlen(buf) + 1, needed);
}

/*
 * sr_txlog_get_stats and sr_txlog_metrics_text move with the log's work:
 * records appended, one timed fdatasync per group commit (a slow disk, 3 ms
 * per sync here, lands above the 1 ms buckets), and the fdatasync and write
 * failures (through the test hooks), each poisoning the log.
 */
static void
test_stats_fsync_latency_and_errors(void **state)
{
	struct fixture *f = *state;
	sr_txlog *log;
	sr_txlog_stats st;
	char err[256], text[4096];
	struct fault x = {.fail_sync_from = -1, .sync_delay_ns = 3000000};
	struct txlog_hooks h = {NULL, fault_sync, &x};
	struct gen g;

	/* The public buckets are the metrics module's, bound by bound. */
	static const uint64_t bounds[] = SR_TXLOG_FSYNC_BOUNDS_US;
	assert_int_equal(sizeof bounds / sizeof bounds[0], METRICS_BUCKETS);
	for (size_t i = 0; i < METRICS_BUCKETS; i++)
		assert_int_equal(bounds[i], metrics_bounds_us[i]);
	sr_txlog_get_stats(NULL, &st);
	assert_int_equal(st.records + st.fsyncs + st.fsync_errors + st.write_errors, 0);
	assert_int_equal(sr_txlog_metrics_text(NULL, text, sizeof text, NULL), SR_EINVAL);

	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	sr_txlog_get_stats(log, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.fsyncs, 0); /* open's own syncs are no group commits */
	txlog_debug_hooks(log, &h);
	for (int i = 0; i < 5; i++) {
		gen(i, &g);
		assert_int_equal(sr_txlog_write(log, &g.r), SR_OK);
	}
	sr_txlog_get_stats(log, &st);
	assert_int_equal(st.records, 5);
	assert_int_equal(st.fsyncs, 5);
	assert_int_equal(st.fsyncs, txlog_debug_syncs(log));
	assert_true(st.fsync_us_sum >= 5 * 3000);
	uint64_t in_buckets = 0;
	for (size_t i = 0; i <= SR_TXLOG_FSYNC_BUCKETS; i++)
		in_buckets += st.fsync_buckets[i];
	assert_int_equal(in_buckets, 5);
	for (size_t i = 0; i < SR_TXLOG_FSYNC_BUCKETS && bounds[i] <= 2500; i++)
		assert_int_equal(st.fsync_buckets[i], 0);
	assert_int_equal(st.fsync_errors, 0);
	assert_int_equal(st.write_errors, 0);
	assert_int_equal(st.poisoned, 0);
	metrics_text(log, text, sizeof text);
	has(text, "# TYPE snowrange_txlog_records_total counter\n");
	has(text, "snowrange_txlog_records_total 5\n");
	has(text, "# TYPE snowrange_txlog_fsync_duration_seconds histogram\n");
	has(text, "snowrange_txlog_fsync_duration_seconds_bucket{le=\"0.001\"} 0\n");
	has(text, "snowrange_txlog_fsync_duration_seconds_bucket{le=\"+Inf\"} 5\n");
	has(text, "snowrange_txlog_fsync_duration_seconds_count 5\n");
	has(text, "snowrange_txlog_fsync_errors_total 0\n");
	has(text, "snowrange_txlog_poisoned 0\n");

	/* The next fdatasync fails: counted (and timed), the log poisoned. */
	x.fail_sync_from = atomic_load(&x.syncs);
	gen(5, &g);
	assert_int_equal(sr_txlog_write(log, &g.r), SR_EIO);
	sr_txlog_get_stats(log, &st);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.fsyncs, 6);
	assert_int_equal(st.fsync_errors, 1);
	assert_int_equal(st.write_errors, 0);
	assert_int_equal(st.poisoned, 1);
	metrics_text(log, text, sizeof text);
	has(text, "snowrange_txlog_fsync_errors_total 1\n");
	has(text, "snowrange_txlog_fsync_duration_seconds_count 6\n");
	has(text, "snowrange_txlog_poisoned 1\n");
	sr_txlog_close(log);

	/* A new handle counts from zero; a write torn halfway is a write
	 * error, and no fdatasync follows it. */
	struct fault y = {.fail_sync_from = -1, .tear_write = 1};
	struct txlog_hooks hw = {fault_write, NULL, &y};
	assert_int_equal(sr_txlog_open(f->log, &log, NULL, err, sizeof err), SR_OK);
	txlog_debug_hooks(log, &hw);
	gen(6, &g);
	assert_int_equal(sr_txlog_write(log, &g.r), SR_EIO);
	sr_txlog_get_stats(log, &st);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.fsyncs, 0);
	assert_int_equal(st.fsync_errors, 0);
	assert_int_equal(st.write_errors, 1);
	assert_int_equal(st.poisoned, 1);
	metrics_text(log, text, sizeof text);
	has(text, "snowrange_txlog_write_errors_total 1\n");
	sr_txlog_close(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codec_roundtrip),
	    cmocka_unit_test(test_codec_max_record),
	    cmocka_unit_test(test_codec_truncations),
	    cmocka_unit_test(test_codec_bit_flips),
	    cmocka_unit_test(test_codec_garbage),
	    cmocka_unit_test(test_codec_bad_fields),
	    cmocka_unit_test(test_codec_limits),
	    cmocka_unit_test(test_codec_marks),
	    cmocka_unit_test(test_codec_file_header),
	    cmocka_unit_test_setup_teardown(test_write_reopen_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail_bad_crc_and_zeros, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_middle_corruption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail_payload_holds_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsynced_batch_missing_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_in_synced_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_txlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_writer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_doubt_and_txid_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_writes_and_eintr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_failure_poisons, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure_tears, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_waiters_poisoned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_fsync_latency_and_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
