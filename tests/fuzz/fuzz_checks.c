/*
 * The checks behind the fuzz targets (see fuzz_checks.h): each one runs an
 * input through a decoder that reads untrusted bytes and judges the result
 * against the contract in the headers and docs/design.md, so that a wrong answer
 * is a finding just as a crash is.
 *
 * The master's handlers live as static functions in master/server.c behind
 * master_start(), which wants a SQLite directory and a listening socket.
 * Rather than edit that file, this one carries thin handlers that call the
 * catalog exactly as server.c does, over a real catalog on the in-memory
 * store of tests/unit/test_catalog.c and a fixed clock. The coordinator
 * daemon's handlers need a joined coordinator, so they are replicated the
 * same way: the daemon's validation, with a fake ID source behind it.
 */
#include "fuzz_checks.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "mem_store.h"
#include "options.h"
#include "server.h"
#include "flake.h"
#include "range.h"
#include "resp.h"
#include "snowrange/txlog.h"
#include "snowrange/error.h"
#include "txlog_codec.h"
#include "util.h"
#include "wire.h"

/* wire.c answers requests above this with SR_ETOOBIG; it is private there
 * (WIRE_REQ_MAX), so the value is repeated here and checked by the
 * regression test's oversized case. */
#define FUZZ_REQ_MAX (64u << 10)

/* The fixture's wall clock: 2026-01-01, after the layout epoch. */
#define FIXTURE_NOW_MS INT64_C(1767225600000)

static int failf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
failf(char *why, size_t whylen, const char *fmt, ...)
{
	if (why != NULL && whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *
fuzz_tmpdir(void)
{
	struct stat st;
	const char *d = getenv("FUZZ_TMPDIR");

	if (d != NULL && d[0] != '\0')
		return d;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	d = getenv("TMPDIR");
	return d != NULL && d[0] != '\0' ? d : "/tmp";
}

/* A per-process scratch path for one check: parallel fuzzing jobs and the
 * regression test never share a file. */
static void
tmp_path(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "%s/fuzz-%s-%ld", fuzz_tmpdir(), what, (long) getpid());
}

/* Writes a then b (either may be empty) to path, replacing what was there. */
static int
write_file(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	const void *part[2] = {a, b};
	size_t plen[2] = {alen, blen};
	for (int i = 0; i < 2; i++) {
		const uint8_t *p = part[i];
		size_t n = plen[i];
		while (n > 0) {
			ssize_t w = write(fd, p, n);
			if (w <= 0) {
				close(fd);
				return -1;
			}
			p += w;
			n -= (size_t) w;
		}
	}
	return close(fd);
}

static int64_t
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t) st.st_size : -1;
}

/* ==== the envelope: master and coordinator dispatch tables ==== */

/* ---- the master: its real handlers over the in-memory store ---- */

struct fake_master {
	struct mem_store st;
	struct master *m; /* owns st once opened */
	char err[256];
};

/*
 * Builds the state the seeds talk to: sequences "notes" (interleaved, one
 * spare chunk), "tasks" (block, chunk 1: a ticket server), "tiny" (ten IDs
 * in all, so leases exhaust it) and the tombstone of "gone"; nodes coord-1
 * (id 1, holding a chunk of notes) and coord-2 (id 2). The handlers are
 * master/server.c's own, reached through master_routes().
 */
static int
master_setup(struct fake_master *fm)
{
	struct catalog_config cfg;
	uint64_t id;
	struct catalog_grant g;
	struct range_chunk ch;
	int64_t now = FIXTURE_NOW_MS;
	static const struct catalog_seq_spec specs[] = {
	    {.name = "notes", .chunk = 100, .spare = 1},
	    {.name = "tasks", .chunk = 1, .mode = STORE_MODE_BLOCK},
	    {.name = "tiny", .start = 1, .chunk = 4, .max_value = 10},
	    {.name = "gone"},
	};

	memset(fm, 0, sizeof(*fm));
	fm->st.base.ops = &mem_ops;
	catalog_config_init(&cfg);
	cfg.claim_wait_ms = 0; /* grants at once, so inputs reach them */
	if (master_open(&fm->st.base, &cfg, &fm->m, fm->err, sizeof(fm->err)) != SR_OK)
		return -1;
	struct catalog *cat = master_catalog(fm->m);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (catalog_seq_create(cat, &specs[i], now, NULL) != SR_OK)
			goto fail;
	if (catalog_seq_drop(cat, "gone") != SR_OK ||
	    catalog_node_join(cat, "coord-1", "tcp://127.0.0.1:7401", now, &id, &g) != SR_OK ||
	    catalog_node_join(cat, "coord-2", "ipc:///tmp/coord-2", now, &id, &g) != SR_OK ||
	    catalog_lease(cat, 1, "notes", 0, now, &ch) != SR_OK)
		goto fail;
	return 0;
fail:
	snprintf(fm->err, sizeof(fm->err), "%s", catalog_errmsg(cat));
	return -1;
}

#define OOM(errbuf, errlen) (snprintf(errbuf, errlen, "out of memory"), SR_ENOMEM)

/* ---- the coordinator daemon: its validation over a fake ID source ---- */

struct fake_coord {
	struct flake_gen gen;
	int64_t now;
};

static void
coord_setup(struct fake_coord *fc)
{
	sr_flake_layout l;

	flake_layout_default(&l);
	fc->now = FIXTURE_NOW_MS;
	flake_gen_init(&fc->gen, &l, 7, 0, -1);
}

/* The sequences the fake coordinator holds chunks of. */
static bool
coord_has_seq(const char *name)
{
	return strcmp(name, "notes") == 0 || strcmp(name, "tasks") == 0;
}

static int
c_next_ids(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	(void) arg;
	const Sr__NextIdsRequest *q = req->next_ids;
	/* The checks of coordinator/daemon.c's h_next_ids, in its order. */
	if (q->count == 0 || q->count > WIRE_MAX_COUNT) {
		snprintf(errbuf, errlen, "count %u out of range 1..%u", q->count, WIRE_MAX_COUNT);
		return SR_EINVAL;
	}
	if (!sr_name_valid(q->sequence)) {
		snprintf(errbuf, errlen, "invalid sequence name '%.64s'", q->sequence);
		return SR_EINVAL;
	}
	Sr__NextIdsResponse *r = wire_alloc(a, sizeof(*r));
	uint64_t *ids = wire_alloc(a, q->count * sizeof(uint64_t));
	if (r == NULL || ids == NULL)
		return OOM(errbuf, errlen);
	sr__next_ids_response__init(r);
	if (!coord_has_seq(q->sequence)) {
		snprintf(errbuf, errlen, "%s: %s", q->sequence, sr_strerror(SR_ENOTFOUND));
		return SR_ENOTFOUND;
	}
	/* The fake source: chunk 1 of a 4-chunk range holding every count. */
	struct range_chunk ch = {.start = 1000, .n = 4, .k = 1, .c = WIRE_MAX_COUNT};
	for (uint32_t i = 0; i < q->count; i++)
		ids[i] = range_id(&ch, i + 1);
	r->ids = ids;
	r->n_ids = q->count;
	r->node_name = "coord-1";
	r->node_id = 1;
	resp->body_case = SR__RESPONSE__BODY_NEXT_IDS;
	resp->next_ids = r;
	return SR_OK;
}

static int
c_next_txids(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	struct fake_coord *fc = arg;
	uint32_t count = req->next_txids->count;
	if (count == 0 || count > WIRE_MAX_COUNT) {
		snprintf(errbuf, errlen, "count %u out of range 1..%u", count, WIRE_MAX_COUNT);
		return SR_EINVAL;
	}
	Sr__NextTxidsResponse *r = wire_alloc(a, sizeof(*r));
	uint64_t *ids = wire_alloc(a, count * sizeof(uint64_t));
	if (r == NULL || ids == NULL)
		return OOM(errbuf, errlen);
	sr__next_txids_response__init(r);
	/* The real generator on a clock that moves on whenever it says wait,
	 * as sr_next_txids does across ticks. */
	size_t got = 0;
	while (got < count) {
		size_t n = 0;
		int64_t wait = 0;
		int rv = flake_take(&fc->gen, fc->now, count - got, ids + got, &n, &wait, errbuf,
		    errlen);
		if (rv == FLAKE_WAIT) {
			fc->now += wait;
			continue;
		}
		if (rv != SR_OK) {
			snprintf(errbuf, errlen, "txids: %s", sr_strerror(rv));
			return rv;
		}
		got += n;
	}
	r->txids = ids;
	r->n_txids = got;
	r->node_name = "coord-1";
	r->node_id = 1;
	r->worker_id = 7;
	resp->body_case = SR__RESPONSE__BODY_NEXT_TXIDS;
	resp->next_txids = r;
	return SR_OK;
}

static int
c_status(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	(void) arg;
	(void) req;
	Sr__StatusResponse *r = wire_alloc(a, sizeof(*r));
	Sr__HeldChunk **held = wire_alloc(a, 2 * sizeof(*held));
	Sr__HeldChunk *h = wire_alloc(a, sizeof(*h));
	Sr__Chunk *c = wire_alloc(a, sizeof(*c));
	if (r == NULL || held == NULL || h == NULL || c == NULL)
		return OOM(errbuf, errlen);
	sr__status_response__init(r);
	sr__held_chunk__init(h);
	sr__chunk__init(c);
	r->role = "coordinator";
	r->name = "coord-1";
	r->node_id = 1;
	r->master_url = "tcp://127.0.0.1:7400";
	r->has_worker = 1;
	r->worker_id = 7;
	c->start = 1000;
	c->n = 4;
	c->k = 1;
	c->c = 100;
	h->sequence = "notes";
	h->chunk = c;
	h->used = 10;
	h->current = 1;
	held[0] = h;
	r->chunks = held;
	r->n_chunks = 1;
	resp->body_case = SR__RESPONSE__BODY_STATUS;
	resp->status = r;
	return SR_OK;
}

/* The daemon's Leave stops the process; the fake only answers. */
static int
c_leave(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	(void) arg;
	(void) req;
	Sr__LeaveResponse *l = wire_alloc(a, sizeof(*l));
	if (l == NULL)
		return OOM(errbuf, errlen);
	sr__leave_response__init(l);
	resp->body_case = SR__RESPONSE__BODY_LEAVE;
	resp->leave = l;
	return SR_OK;
}

/* coordinator/daemon.c's routes, row for row. */
static const struct wire_route coord_routes[] = {
    {SR__REQUEST__BODY_NEXT_IDS, c_next_ids, CREDS_CLIENT | CREDS_ADMIN},
    {SR__REQUEST__BODY_NEXT_TXIDS, c_next_txids, CREDS_CLIENT | CREDS_ADMIN},
    {SR__REQUEST__BODY_STATUS, c_status, CREDS_READER | CREDS_CLIENT | CREDS_ADMIN},
    {SR__REQUEST__BODY_LEAVE, c_leave, CREDS_ADMIN},
};

/* ---- judging a reply ---- */

/* True when s is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), as proto3 requires of strings. */
static bool
utf8_valid(const char *s)
{
	const uint8_t *p = (const uint8_t *) s;
	while (*p != 0) {
		uint32_t c = *p;
		int n = c < 0x80         ? 0
		    : (c & 0xe0) == 0xc0 ? 1
		    : (c & 0xf0) == 0xe0 ? 2
		    : (c & 0xf8) == 0xf0 ? 3
		                         : -1;
		if (n < 0)
			return false;
		c &= n == 0 ? 0x7f : 0x3f >> n;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i] & 0x3f);
		}
		static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
		if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

static bool
routed(const struct wire_route *routes, size_t n, Sr__Request__BodyCase body)
{
	for (size_t i = 0; i < n; i++)
		if (routes[i].body == body)
			return true;
	return false;
}

/* Checks the body of a successful reply to req. */
static int
check_body(const char *who, const Sr__Request *req, const Sr__Response *r, char *why, size_t whylen)
{
	switch (r->body_case) {
	case SR__RESPONSE__BODY_LEASE: {
		const Sr__Chunk *c = r->lease->chunk;
		if (c == NULL)
			return failf(why, whylen, "%s: Lease reply without a chunk", who);
		struct range_chunk ch = {c->start, c->n, c->k, c->c};
		if (!range_chunk_valid(&ch, RANGE_ID_MAX))
			return failf(why, whylen,
			    "%s: leased chunk start %" PRIu64 " n %u k %u c %" PRIu64
			    " is not a valid chunk below 2^63",
			    who, c->start, c->n, c->k, c->c);
		break;
	}
	case SR__RESPONSE__BODY_JOIN: {
		const Sr__Layout *l = r->join->layout;
		if (l == NULL)
			return failf(why, whylen, "%s: Join reply without a layout", who);
		sr_flake_layout fl = {l->time_bits, l->worker_bits, l->seq_bits, l->unit_ms,
		    l->epoch_ms};
		if (flake_layout_check(&fl, NULL, 0) != SR_OK)
			return failf(why, whylen, "%s: Join reply with a bad layout", who);
		if (r->join->node_id == 0)
			return failf(why, whylen, "%s: Join reply with node id 0", who);
		break;
	}
	case SR__RESPONSE__BODY_SEQ_CREATE:
		if (r->seq_create->seq == NULL ||
		    strcmp(r->seq_create->seq->name, req->seq_create->name) != 0)
			return failf(why, whylen, "%s: SeqCreate reply does not name the sequence",
			    who);
		break;
	case SR__RESPONSE__BODY_NEXT_IDS: {
		const Sr__NextIdsResponse *n = r->next_ids;
		if (n->n_ids != req->next_ids->count)
			return failf(why, whylen, "%s: %zu IDs for a request of %u", who, n->n_ids,
			    req->next_ids->count);
		for (size_t i = 0; i < n->n_ids; i++)
			if (n->ids[i] == 0 || n->ids[i] > RANGE_ID_MAX ||
			    (i > 0 && n->ids[i] <= n->ids[i - 1]))
				return failf(why, whylen,
				    "%s: ID %zu (%" PRIu64 ") is not positive, below 2^63 "
				    "and above the one before",
				    who, i, n->ids[i]);
		break;
	}
	case SR__RESPONSE__BODY_NEXT_TXIDS: {
		const Sr__NextTxidsResponse *n = r->next_txids;
		if (n->n_txids != req->next_txids->count)
			return failf(why, whylen, "%s: %zu txids for a request of %u", who,
			    n->n_txids, req->next_txids->count);
		for (size_t i = 0; i < n->n_txids; i++)
			if (n->txids[i] > RANGE_ID_MAX || (i > 0 && n->txids[i] <= n->txids[i - 1]))
				return failf(why, whylen,
				    "%s: txid %zu (%" PRIu64 ") is not below 2^63 and "
				    "above the one before",
				    who, i, n->txids[i]);
		break;
	}
	default: break;
	}
	return 0;
}

/*
 * Serves data through routes and judges the reply against what the envelope
 * promises. req is data decoded by us (NULL when it does not decode), so the
 * expected outcome is known before the server answers.
 */
static int
serve_and_check(const char *who, const struct wire_route *routes, size_t nroutes, void *arg,
    const uint8_t *data, size_t len, const Sr__Request *req, char *why, size_t whylen)
{
	void *out = NULL;
	size_t outlen = 0;
	int rv = wire_serve_bytes(routes, nroutes, arg, data, len, &out, &outlen);
	if (rv != SR_OK) {
		free(out);
		return failf(why, whylen, "%s: wire_serve_bytes returned %d", who, rv);
	}
	if (outlen > WIRE_RECV_MAX) {
		free(out);
		return failf(why, whylen,
		    "%s: a reply of %zu bytes, above the clients' receive limit", who, outlen);
	}
	Sr__Response *r = sr__response__unpack(NULL, outlen, out);
	free(out);
	if (r == NULL)
		return failf(why, whylen, "%s: the reply does not decode as a Response", who);

	/* What the envelope rules say the answer must be; 0 = up to the
	 * handler. */
	int want = 0;
	if (len > FUZZ_REQ_MAX)
		want = SR_ETOOBIG;
	else if (req == NULL)
		want = SR_EPROTO;
	else if (req->protocol_version != WIRE_PROTOCOL_VERSION)
		want = SR_EVERSION;
	else if (req->body_case == SR__REQUEST__BODY__NOT_SET)
		want = SR_EPROTO;
	else if (!routed(routes, nroutes, req->body_case))
		want = SR_EINVAL;

	int code = r->error != NULL ? r->error->code : 0;
	int ret = 0;
	/* FUZZ_DEBUG=1 shows each reply when replaying inputs by hand. */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "%s: kind %d -> code %d (%s), body %d\n", who,
		    req != NULL ? (int) req->body_case : -1, code,
		    code != 0 && r->error->message ? r->error->message : "", (int) r->body_case);
	if (code != 0) {
		const char *msg = r->error->message;
		if (code < 1 || code >= SR_ERR_MAX)
			ret = failf(why, whylen, "%s: error code %d outside 1..%d", who, code,
			    SR_ERR_MAX - 1);
		else if (msg == NULL || msg[0] == '\0')
			ret = failf(why, whylen, "%s: error %d without a message", who, code);
		/* The servers quote request strings, which protobuf-c does not
		 * validate; wire_serve_bytes makes every message ASCII. */
		else if (!utf8_valid(msg))
			ret = failf(why, whylen, "%s: error %d message is not UTF-8", who, code);
		else if (r->body_case != SR__RESPONSE__BODY__NOT_SET)
			ret = failf(why, whylen, "%s: error %d with a body (%d)", who, code,
			    (int) r->body_case);
		else if (want != 0 && code != want)
			ret = failf(why, whylen, "%s: error %d (%s) where %d was due", who, code,
			    msg, want);
	} else if (want != 0) {
		ret = failf(why, whylen, "%s: success where error %d was due", who, want);
	} else if ((int) r->body_case != (int) req->body_case) {
		/* Request and response body cases share their field numbers. */
		ret = failf(why, whylen, "%s: a reply of kind %d to a request of kind %d", who,
		    (int) r->body_case, (int) req->body_case);
	} else {
		ret = check_body(who, req, r, why, whylen);
	}
	sr__response__free_unpacked(r, NULL);
	return ret;
}

int
fuzz_check_envelope(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	struct fake_master fm;
	struct fake_coord fc;
	Sr__Request *req = NULL;
	int ret;

	if (len <= FUZZ_REQ_MAX)
		req = sr__request__unpack(NULL, len, data);
	if (master_setup(&fm) != 0) {
		ret = failf(why, whylen, "master fixture: %s", fm.err);
	} else {
		size_t n;
		const struct wire_route *routes = master_routes(&n);
		ret = serve_and_check("master", routes, n, fm.m, data, len, req, why, whylen);
	}
	master_stop(fm.m);
	if (ret == 0) {
		coord_setup(&fc);
		ret = serve_and_check("coordinator", coord_routes,
		    sizeof(coord_routes) / sizeof(coord_routes[0]), &fc, data, len, req, why,
		    whylen);
	}
	if (req != NULL)
		sr__request__free_unpacked(req, NULL);
	return ret;
}

/* ==== the 2PC log ==== */

/* Re-encodes a decoded record: names are copied out NUL-terminated, as an
 * encoder wants them. */
static int
reencode(const uint8_t *data, const struct txlog_rec *r, size_t used, char *why, size_t whylen)
{
	char *names = malloc(used + r->nparticipants + 1);
	const char **ptrs = calloc(r->nparticipants + 1, sizeof(*ptrs));
	uint8_t *buf = malloc(used);
	int ret = 0;

	if (names == NULL || ptrs == NULL || buf == NULL) {
		ret = failf(why, whylen, "txlog: out of memory");
		goto out;
	}
	if (r->state == TXLOG_MARK) {
		if (used != TXLOG_MARK_SIZE) {
			ret = failf(why, whylen, "txlog: a commit marker of %zu bytes", used);
			goto out;
		}
		txlog_encode_mark(buf, r->nrecords);
		txlog_seal(buf, FUZZ_TXLOG_SALT, r->batch, TXLOG_FILE_HDR);
		if (memcmp(buf, data, used) != 0)
			ret = failf(why, whylen,
			    "txlog: a decoded commit "
			    "marker re-encodes to different bytes");
		goto out;
	}
	const uint8_t *cur = r->names;
	char *dst = names;
	for (size_t i = 0; i < r->nparticipants; i++) {
		size_t n;
		const char *name = txlog_name_next(&cur, &n);
		if ((const uint8_t *) name < data || (const uint8_t *) name + n > data + used) {
			ret =
			    failf(why, whylen, "txlog: participant %zu lies outside the record", i);
			goto out;
		}
		memcpy(dst, name, n);
		dst[n] = '\0';
		ptrs[i] = dst;
		dst += n + 1;
	}
	struct txlog_rec enc = {
	    .txid = r->txid,
	    .state = r->state,
	    .nparticipants = r->nparticipants,
	    .participants = ptrs,
	    .payload = r->payload,
	    .payload_len = r->payload_len,
	};
	size_t size = txlog_record_size(&enc), wrote = 0;
	int res = txlog_encode(&enc, buf, used, &wrote);
	if (res == TXLOG_OK)
		txlog_seal(buf, FUZZ_TXLOG_SALT, r->batch, TXLOG_FILE_HDR);
	if (size != used || res != TXLOG_OK || wrote != used)
		ret = failf(why, whylen,
		    "txlog: a decoded record of %zu bytes re-encodes to %zu (%d)", used, size, res);
	else if (memcmp(buf, data, used) != 0)
		ret = failf(why, whylen, "txlog: a decoded record re-encodes to different bytes");
out:
	free(names);
	free(ptrs);
	free(buf);
	return ret;
}

/* Decodes data[0..n) from an exactly sized copy, so that AddressSanitizer
 * sees any read past n. */
static int
decode_prefix(const uint8_t *data, size_t n, size_t *used)
{
	struct txlog_rec r;
	uint8_t *copy = malloc(n > 0 ? n : 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, data, n);
	int res = txlog_decode(copy, n, FUZZ_TXLOG_SALT, TXLOG_FILE_HDR, &r, used);
	free(copy);
	return res;
}

static int
check_decode(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	struct txlog_rec r;
	size_t used = 0;
	int res = txlog_decode(data, len, FUZZ_TXLOG_SALT, TXLOG_FILE_HDR, &r, &used);

	switch (res) {
	case TXLOG_OK: {
		if (used < TXLOG_REC_HDR + TXLOG_BODY_MIN || used > len)
			return failf(why, whylen, "txlog: OK with used %zu of %zu", used, len);
		bool mark_bad = r.txid != 0 || r.nparticipants != 0 || r.payload_len != 0 ||
		    r.nrecords == 0 || r.batch >= TXLOG_FILE_HDR;
		bool rec_bad = r.txid == 0 || r.state < SR_TX_BEGIN || r.state > SR_TX_ABORT ||
		    r.nparticipants > TXLOG_MAX_PARTICIPANTS || r.payload_len > TXLOG_MAX_PAYLOAD ||
		    r.batch > TXLOG_FILE_HDR;
		if (r.state == TXLOG_MARK ? mark_bad : rec_bad)
			return failf(why, whylen, "txlog: decoded a record breaking a limit");
		if (reencode(data, &r, used, why, whylen) != 0)
			return -1;
		/* Every shorter prefix is an incomplete record that says how
		 * much it needs: the header, then the whole record. */
		size_t cuts[] = {0, TXLOG_REC_HDR - 1, TXLOG_REC_HDR, used - 1};
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			size_t need = 0;
			size_t expect = cuts[i] < TXLOG_REC_HDR ? TXLOG_REC_HDR : used;
			res = decode_prefix(data, cuts[i], &need);
			if (res != TXLOG_TRUNCATED || need != expect)
				return failf(why, whylen,
				    "txlog: prefix of %zu bytes of a %zu-byte record gave "
				    "%d needing %zu (want TRUNCATED needing %zu)",
				    cuts[i], used, res, need, expect);
		}
		break;
	}
	case TXLOG_TRUNCATED:
		if (len < TXLOG_REC_HDR ? used != TXLOG_REC_HDR
		                        : used <= len || used > TXLOG_REC_HDR + TXLOG_MAX_BODY)
			return failf(why, whylen, "txlog: TRUNCATED at %zu bytes asks for %zu", len,
			    used);
		break;
	case TXLOG_CORRUPT:
		if (used != 0 || r.why == NULL)
			return failf(why, whylen, "txlog: CORRUPT with used %zu, why %s", used,
			    r.why ? r.why : "(none)");
		break;
	default: return failf(why, whylen, "txlog: decode returned %d", res);
	}
	return 0;
}

/* What a scan saw, record by record. */
struct seen {
	uint64_t *txid;
	uint64_t *off;
	int *state;
	size_t n, cap;
	uint64_t size;   /* the file's size */
	const char *bad; /* first broken promise about a visited record */
};

static int
see(void *arg, const sr_txrecord *r, uint64_t off)
{
	struct seen *s = arg;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		uint64_t *t = realloc(s->txid, cap * sizeof(*t));
		if (t != NULL)
			s->txid = t;
		uint64_t *o = realloc(s->off, cap * sizeof(*o));
		if (o != NULL)
			s->off = o;
		int *st = realloc(s->state, cap * sizeof(*st));
		if (st != NULL)
			s->state = st;
		if (t == NULL || o == NULL || st == NULL)
			return SR_ENOMEM;
		s->cap = cap;
	}
	if (s->bad == NULL) {
		if (r->txid == 0 || r->state < SR_TX_BEGIN || r->state > SR_TX_ABORT)
			s->bad = "a visited record has txid 0 or an unknown state";
		else if (off < TXLOG_FILE_HDR || off >= s->size)
			s->bad = "a visited record's offset lies outside the records";
		else if (r->nparticipants > TXLOG_MAX_PARTICIPANTS ||
		    r->payload_len > TXLOG_MAX_PAYLOAD ||
		    (r->payload_len > 0 && r->payload == NULL))
			s->bad = "a visited record breaks a limit";
		for (size_t i = 0; s->bad == NULL && i < r->nparticipants; i++) {
			size_t n = r->participants[i] == NULL
			    ? 0
			    : strnlen(r->participants[i], TXLOG_MAX_NAME + 1);
			if (n == 0 || n > TXLOG_MAX_NAME)
				s->bad = "a visited participant name is empty or too long";
		}
	}
	s->txid[s->n] = r->txid;
	s->off[s->n] = off;
	s->state[s->n] = r->state;
	s->n++;
	return 0;
}

static void
seen_free(struct seen *s)
{
	free(s->txid);
	free(s->off);
	free(s->state);
	memset(s, 0, sizeof(*s));
}

static bool
rec_equal(const sr_txlog_recovery *a, const sr_txlog_recovery *b)
{
	return a->records == b->records && a->bytes_kept == b->bytes_kept &&
	    a->bytes_cut == b->bytes_cut && a->last_txid == b->last_txid;
}

/* The general promises of a scan's result over a file of size bytes. */
static int
check_scan(const char *what, int rv, const sr_txlog_recovery *rec, const struct seen *s,
    uint64_t size, const char *errbuf, char *why, size_t whylen)
{
	if (rv != SR_OK && rv != SR_EIO)
		return failf(why, whylen, "txlog %s: scan returned %d (%s)", what, rv, errbuf);
	if (rv == SR_EIO && errbuf[0] == '\0')
		return failf(why, whylen, "txlog %s: SR_EIO without a message", what);
	if (rec->bytes_kept > size || rec->bytes_cut > size - rec->bytes_kept)
		return failf(why, whylen,
		    "txlog %s: kept %" PRIu64 " + cut %" PRIu64 " > file size %" PRIu64, what,
		    rec->bytes_kept, rec->bytes_cut, size);
	if (s->bad != NULL)
		return failf(why, whylen, "txlog %s: %s", what, s->bad);
	if (rv != SR_OK)
		return 0;
	if (rec->bytes_kept + rec->bytes_cut != size)
		return failf(why, whylen,
		    "txlog %s: kept %" PRIu64 " + cut %" PRIu64 " != file size %" PRIu64, what,
		    rec->bytes_kept, rec->bytes_cut, size);
	if (rec->records != s->n)
		return failf(why, whylen, "txlog %s: %" PRIu64 " records, %zu visits", what,
		    rec->records, s->n);
	uint64_t max = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->txid[i] > max)
			max = s->txid[i];
	if (rec->last_txid != max)
		return failf(why, whylen, "txlog %s: last_txid %" PRIu64 ", highest seen %" PRIu64,
		    what, rec->last_txid, max);
	return 0;
}

/* In-doubt txids by the definition in txlog.h, from a file-order scan. */
static int
check_in_doubt(const char *path, const struct seen *s, char *why, size_t whylen)
{
	uint64_t *ids = NULL;
	size_t n = 0, want = 0;
	char errbuf[256] = "";
	int ret = 0;

	if (sr_txlog_in_doubt(path, &ids, &n, errbuf, sizeof(errbuf)) != SR_OK)
		return failf(why, whylen, "txlog: in_doubt failed on a clean log: %s", errbuf);
	for (size_t i = 0; i < s->n && ret == 0; i++) {
		bool first = true;
		int last = 0;
		for (size_t j = 0; j < s->n; j++) {
			if (s->txid[j] != s->txid[i])
				continue;
			if (j < i)
				first = false;
			if (s->state[j] != SR_TX_BEGIN)
				last = s->state[j];
		}
		if (!first || last != SR_TX_PREPARE)
			continue;
		bool found = false;
		for (size_t k = 0; k < n; k++)
			found |= ids[k] == s->txid[i];
		if (!found)
			ret = failf(why, whylen,
			    "txlog: txid %" PRIu64 " is in doubt but not listed", s->txid[i]);
		want++;
	}
	for (size_t k = 1; k < n && ret == 0; k++)
		if (ids[k] <= ids[k - 1])
			ret = failf(why, whylen, "txlog: in-doubt list not ascending");
	if (ret == 0 && n != want)
		ret = failf(why, whylen, "txlog: %zu in doubt listed, %zu due", n, want);
	free(ids);
	return ret;
}

/* The txid-order scan visits the same records, sorted by txid and, within
 * one txid, in file order. */
static int
check_sorted(const struct seen *file, const struct seen *sorted, char *why, size_t whylen)
{
	if (sorted->n != file->n)
		return failf(why, whylen, "txlog: txid order visited %zu, file order %zu",
		    sorted->n, file->n);
	for (size_t i = 1; i < sorted->n; i++)
		if (sorted->txid[i] < sorted->txid[i - 1] ||
		    (sorted->txid[i] == sorted->txid[i - 1] &&
		        sorted->off[i] <= sorted->off[i - 1]))
			return failf(why, whylen, "txlog: txid order broken at visit %zu", i);
	for (size_t i = 0; i < sorted->n; i++) {
		bool found = false;
		for (size_t j = 0; j < file->n && !found; j++)
			found = file->off[j] == sorted->off[i] && file->txid[j] == sorted->txid[i];
		if (!found)
			return failf(why, whylen,
			    "txlog: txid order visited a record file order did not");
	}
	return 0;
}

/* Recovery in sr_txlog_open agrees with the scan, and what it leaves is a
 * clean log that takes one more record. */
static int
check_open(const char *path, int scan_rv, const sr_txlog_recovery *scanned, uint64_t size,
    char *why, size_t whylen)
{
	sr_txlog *log = NULL;
	sr_txlog_recovery rec;
	char errbuf[256] = "";

	int rv = sr_txlog_open(path, &log, &rec, errbuf, sizeof(errbuf));
	if (scan_rv != SR_OK) {
		sr_txlog_close(log);
		if (rv != SR_EIO)
			return failf(why, whylen, "txlog: open gave %d where the scan found damage",
			    rv);
		if (file_size(path) != (int64_t) size)
			return failf(why, whylen, "txlog: a refused open changed the file");
		return 0;
	}
	if (rv != SR_OK)
		return failf(why, whylen, "txlog: open failed on a log the scan read: %s", errbuf);
	if (!rec_equal(&rec, scanned) || sr_txlog_last_txid(log) != rec.last_txid) {
		sr_txlog_close(log);
		return failf(why, whylen,
		    "txlog: recovery (%" PRIu64 " records, kept %" PRIu64 ", cut %" PRIu64
		    ") disagrees with the scan (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
		    rec.records, rec.bytes_kept, rec.bytes_cut, scanned->records,
		    scanned->bytes_kept, scanned->bytes_cut);
	}
	static const char *const parts[] = {"fuzz-peer"};
	sr_txrecord more = {
	    .txid = rec.last_txid < UINT64_MAX ? rec.last_txid + 1 : rec.last_txid,
	    .state = SR_TX_COMMIT,
	    .participants = parts,
	    .nparticipants = 1,
	    .payload = "x",
	    .payload_len = 1,
	};
	rv = sr_txlog_write(log, &more);
	sr_txlog_close(log);
	if (rv != SR_OK)
		return failf(why, whylen, "txlog: append after recovery failed: %d", rv);

	struct seen s = {.size = (uint64_t) file_size(path)};
	sr_txlog_recovery again;
	errbuf[0] = '\0';
	rv = sr_txlog_scan(path, 0, see, &s, &again, errbuf, sizeof(errbuf));
	int ret = 0;
	if (rv != SR_OK || again.bytes_cut != 0 || again.records != rec.records + 1 ||
	    again.last_txid != more.txid || again.bytes_kept != s.size)
		ret = failf(why, whylen,
		    "txlog: the recovered log plus one record scans as %d, %" PRIu64
		    " records, cut %" PRIu64 " (%s)",
		    rv, again.records, again.bytes_cut, errbuf);
	seen_free(&s);
	return ret;
}

/* Scans (and, with a header, recovers) the log file made of head + data. */
static int
check_file(const char *path, const uint8_t *head, size_t hlen, const uint8_t *data, size_t len,
    char *why, size_t whylen)
{
	uint64_t size = hlen + len;
	struct seen file = {.size = size}, sorted = {.size = size};
	sr_txlog_recovery rec, rec2;
	char errbuf[256] = "", errbuf2[256] = "";
	int ret;

	if (write_file(path, head, hlen, data, len) != 0)
		return failf(why, whylen, "txlog: cannot write %s", path);
	int rv = sr_txlog_scan(path, 0, see, &file, &rec, errbuf, sizeof(errbuf));
	if ((ret = check_scan("file order", rv, &rec, &file, size, errbuf, why, whylen)) != 0)
		goto out;
	int rv2 = sr_txlog_scan(path, 1, see, &sorted, &rec2, errbuf2, sizeof(errbuf2));
	if ((ret = check_scan("txid order", rv2, &rec2, &sorted, size, errbuf2, why, whylen)) != 0)
		goto out;
	if (rv2 != rv || (rv == SR_OK && !rec_equal(&rec, &rec2))) {
		ret = failf(why, whylen, "txlog: the two scan orders disagree (%d, %d)", rv, rv2);
		goto out;
	}
	if (rv == SR_OK &&
	    ((ret = check_sorted(&file, &sorted, why, whylen)) != 0 ||
	        (ret = check_in_doubt(path, &file, why, whylen)) != 0))
		goto out;
	/* Recovery writes a header into a file that has none yet, so only a
	 * file that starts with one is opened. */
	if (hlen > 0)
		ret = check_open(path, rv, &rec, size, why, whylen);
out:
	seen_free(&file);
	seen_free(&sorted);
	unlink(path);
	return ret;
}

int
fuzz_check_txlog(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	char path[512];
	uint8_t head[TXLOG_FILE_HDR];

	if (check_decode(data, len, why, whylen) != 0)
		return -1;
	tmp_path(path, sizeof(path), "txlog");
	txlog_file_header(head, FUZZ_TXLOG_SALT);
	if (check_file(path, head, sizeof(head), data, len, why, whylen) != 0)
		return -1;
	return check_file(path, NULL, 0, data, len, why, whylen);
}

/* ==== the config parser ==== */

/* One option of each type, with bounds that matter (a negative minimum, a
 * fractional range) and a string with and without a default. */
struct cfg_vals {
	const char *name;
	const char *listen;
	int64_t workers;
	int64_t skew_ms;
	double prefetch_at;
	bool help;
};

static bool
owned(const struct sr_opts_mem *mem, const char *s)
{
	for (size_t i = 0; i < mem->n; i++)
		if (mem->v[i] == s)
			return true;
	return false;
}

static int
check_opts(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	struct cfg_vals v;
	const struct sr_opt opts[] = {
	    {"name", SR_OPT_STR, &v.name, NULL, 0, 0, "node name", .flags = 0},
	    {"listen", SR_OPT_STR, &v.listen, "tcp://127.0.0.1:7401", 0, 0, "url", .flags = 0},
	    {"workers", SR_OPT_INT, &v.workers, "16", 1, 1024, "workers", .flags = 0},
	    {"skew-ms", SR_OPT_INT, &v.skew_ms, "0", -1000, 1000, "skew", .flags = 0},
	    {"prefetch-at", SR_OPT_DOUBLE, &v.prefetch_at, "0.5", 0.001, 1, "at", .flags = 0},
	    {"help", SR_OPT_BOOL, &v.help, "false", 0, 0, "help", .flags = 0},
	};
	const size_t nopts = sizeof(opts) / sizeof(opts[0]);
	char path[512], prog[] = "fuzz", flag[] = "--config", pos[] = "pos";
	char errbuf[256] = "";
	struct sr_opts_mem mem = {NULL, 0};
	int npos = -1, ret = 0;

	tmp_path(path, sizeof(path), "config.ini");
	if (write_file(path, data, len, NULL, 0) != 0)
		return failf(why, whylen, "config: cannot write %s", path);
	char *argv[] = {prog, flag, path, pos, NULL};
	memset(&v, 0xa5, sizeof(v));
	int rv = sr_opts_parse(opts, nopts, 4, argv, &npos, &mem, errbuf, sizeof(errbuf));
	if (rv == SR_OK) {
		if (npos != 1 || argv[1] != pos)
			ret = failf(why, whylen, "config: %d positionals, want 1", npos);
		else if (v.name != NULL && !owned(&mem, v.name))
			ret = failf(why, whylen, "config: name points outside the mem");
		else if (v.listen != opts[1].def && !owned(&mem, v.listen))
			ret = failf(why, whylen, "config: listen points outside the mem");
		else if (v.workers < 1 || v.workers > 1024)
			ret = failf(why, whylen, "config: workers %" PRId64 " outside [1, 1024]",
			    v.workers);
		else if (v.skew_ms < -1000 || v.skew_ms > 1000)
			ret = failf(why, whylen,
			    "config: skew-ms %" PRId64 " outside [-1000, 1000]", v.skew_ms);
		else if (!(v.prefetch_at >= 0.001 && v.prefetch_at <= 1))
			ret = failf(why, whylen, "config: prefetch-at %g outside [0.001, 1]",
			    v.prefetch_at);
		/* Reading the strings lets AddressSanitizer vouch for them. */
		else if ((v.name != NULL && strlen(v.name) > len) ||
		    (v.listen != opts[1].def && strlen(v.listen) > len))
			ret = failf(why, whylen, "config: a string longer than the file");
	} else if (rv != SR_EINVAL && rv != SR_ENOMEM) {
		ret = failf(why, whylen, "config: sr_opts_parse returned %d", rv);
	} else if (errbuf[0] == '\0') {
		ret = failf(why, whylen, "config: error %d without a message", rv);
	}
	sr_opts_mem_free(&mem);
	unlink(path);
	return ret;
}

static bool
layout_equal(const sr_flake_layout *a, const sr_flake_layout *b)
{
	return a->time_bits == b->time_bits && a->worker_bits == b->worker_bits &&
	    a->seq_bits == b->seq_bits && a->unit_ms == b->unit_ms && a->epoch_ms == b->epoch_ms;
}

static int
check_layout(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	sr_flake_layout l, back, untouched;
	char errbuf[256] = "", text[FLAKE_LAYOUT_STRLEN];
	char *s = malloc(len + 1);
	int ret = 0;

	if (s == NULL)
		return failf(why, whylen, "layout: out of memory");
	memcpy(s, data, len);
	s[len] = '\0';
	/* A pattern no parse produces; memcpy, since struct assignment need
	 * not copy padding. */
	memset(&l, 0x5a, sizeof(l));
	memcpy(&untouched, &l, sizeof(l));
	int rv = flake_layout_parse(s, &l, errbuf, sizeof(errbuf));
	if (rv == SR_OK) {
		if (flake_layout_check(&l, NULL, 0) != SR_OK)
			ret = failf(why, whylen, "layout: '%.64s' parsed but fails the check", s);
		else if (flake_layout_format(&l, text, sizeof(text)) != SR_OK)
			ret = failf(why, whylen,
			    "layout: '%.64s' parsed but cannot be "
			    "formatted",
			    s);
		else if (flake_layout_parse(text, &back, errbuf, sizeof(errbuf)) != SR_OK)
			ret = failf(why, whylen,
			    "layout: '%.64s' formats as '%s', which "
			    "does not parse: %s",
			    s, text, errbuf);
		else if (!layout_equal(&l, &back))
			ret = failf(why, whylen,
			    "layout: '%.64s' formats as '%s', which "
			    "parses to another layout",
			    s, text);
	} else if (rv != SR_EINVAL || errbuf[0] == '\0') {
		ret = failf(why, whylen, "layout: error %d with message '%s'", rv, errbuf);
	} else if (memcmp(&l, &untouched, sizeof(l)) != 0) {
		ret = failf(why, whylen, "layout: a failed parse changed *out");
	}
	free(s);
	return ret;
}

int
fuzz_check_config(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	if (check_opts(data, len, why, whylen) != 0)
		return -1;
	return check_layout(data, len, why, whylen);
}

/* ---- RESP ---- */

/* Encodes cmd as an array of bulk strings into buf; the length, or 0 when it
 * does not fit. */
static size_t
resp_encode_cmd(const struct resp_cmd *cmd, char *buf, size_t cap)
{
	size_t n = (size_t) snprintf(buf, cap, "*%zu\r\n", cmd->argc);
	for (size_t i = 0; i < cmd->argc && n < cap; i++) {
		n += (size_t) snprintf(buf + n, cap - n, "$%zu\r\n", cmd->argv[i].len);
		if (n + cmd->argv[i].len + 2 > cap)
			return 0;
		memcpy(buf + n, cmd->argv[i].p, cmd->argv[i].len);
		n += cmd->argv[i].len;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	return n < cap ? n : 0;
}

int
fuzz_check_resp(const uint8_t *data, size_t len, char *why, size_t whylen)
{
	const char *buf = (const char *) data;
	size_t pos = 0;
	char err[256];
	static char enc[RESP_MAX_FRAME + 64];
	for (int frames = 0; pos < len && frames < 256; frames++) {
		struct resp_cmd cmd, again;
		size_t used = 0, used2 = 0;
		err[0] = '\0';
		enum resp_status r =
		    resp_parse(buf + pos, len - pos, &cmd, &used, err, sizeof(err));
		if (r == RESP_MORE) {
			/* A server keeping RESP_MAX_FRAME unfinished bytes is never
			 * stuck waiting for a request it could not hold. */
			if (len - pos >= RESP_MAX_FRAME)
				return failf(why, whylen, "RESP_MORE on %zu bytes (limit %d)",
				    len - pos, RESP_MAX_FRAME);
			return 0;
		}
		if (r == RESP_BAD) {
			if (err[0] == '\0' || strchr(err, '\r') != NULL ||
			    strchr(err, '\n') != NULL)
				return failf(why, whylen, "RESP_BAD without a one-line message");
			return 0;
		}
		if (r != RESP_OK)
			return failf(why, whylen, "resp_parse returned %d", (int) r);
		if (used == 0 || used > len - pos || used > RESP_MAX_FRAME)
			return failf(why, whylen, "frame of %zu bytes out of 1..%zu", used,
			    len - pos);
		if (cmd.argc > RESP_MAX_ARGS)
			return failf(why, whylen, "%zu arguments", cmd.argc);
		for (size_t i = 0; i < cmd.argc; i++) {
			const char *p = cmd.argv[i].p;
			if (p < buf + pos || p + cmd.argv[i].len > buf + pos + used ||
			    cmd.argv[i].len > RESP_MAX_ARG)
				return failf(why, whylen, "argument %zu outside its frame", i);
		}
		/* Every shorter prefix of a whole request asks for more. */
		for (size_t k = 0; k<used; k += used> 512 ? 37 : 1) {
			if (resp_parse(buf + pos, k, &again, &used2, err, sizeof(err)) != RESP_MORE)
				return failf(why, whylen,
				    "prefix of %zu of a %zu-byte request "
				    "is not RESP_MORE",
				    k, used);
		}
		/* The arguments, encoded as an array of bulk strings, parse back
		 * to themselves. */
		size_t n = resp_encode_cmd(&cmd, enc, sizeof(enc));
		if (n == 0)
			return failf(why, whylen, "a parsed request does not re-encode");
		if (resp_parse(enc, n, &again, &used2, err, sizeof(err)) != RESP_OK || used2 != n ||
		    again.argc != cmd.argc)
			return failf(why, whylen, "re-encoded request does not parse back");
		for (size_t i = 0; i < cmd.argc; i++)
			if (again.argv[i].len != cmd.argv[i].len ||
			    memcmp(again.argv[i].p, cmd.argv[i].p, cmd.argv[i].len) != 0)
				return failf(why, whylen, "argument %zu changed on re-parse", i);
		pos += used;
	}
	return 0;
}
