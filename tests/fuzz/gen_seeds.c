/*
 * Writes the fuzz targets' seed corpora: valid packed Requests of every body
 * kind (named after the fixture in fuzz_checks.c, so that they reach past the
 * handlers' lookups), valid 2PC log records and record sequences, and
 * sample INI files and layout strings. The outputs are committed under
 * tests/fuzz/corpus/; run it again only when the protocol or a format
 * changes:
 *
 *   build-fuzz/tests/fuzz/gen_seeds tests/fuzz/corpus
 *
 * Seeds are small on purpose: libFuzzer mutates them, and a valid start
 * gets it past the checksums and the protobuf decoder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_checks.h"
#include "txlog_codec.h"
#include "wire.h"

static const char *root;

static void
put(const char *target, const char *name, const void *data, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void
put_str(const char *target, const char *name, const char *s)
{
	put(target, name, s, strlen(s));
}

/* ---- envelope ---- */

static void
put_req(const char *name, Sr__Request *req)
{
	uint8_t buf[4096];
	size_t n = sr__request__get_packed_size(req);
	if (n > sizeof(buf)) {
		fprintf(stderr, "%s: request too large\n", name);
		exit(1);
	}
	sr__request__pack(req, buf);
	put("envelope", name, buf, n);
}

static void
envelope(void)
{
	Sr__Request req;

#define REQ(kind, field, init, var)                   \
	sr__request__init(&req);                      \
	req.protocol_version = WIRE_PROTOCOL_VERSION; \
	req.body_case = SR__REQUEST__BODY_##kind;     \
	init(&var);                                   \
	req.field = &var

	Sr__JoinRequest join;
	REQ(JOIN, join, sr__join_request__init, join);
	join.name = "coord-3";
	join.listen_url = "tcp://127.0.0.1:7403";
	put_req("join_new", &req);
	join.name = "coord-1";
	join.listen_url = "tcp://127.0.0.1:7401";
	put_req("join_again", &req);

	Sr__HeartbeatRequest hb;
	Sr__SeqUse use = SR__SEQ_USE__INIT, *uses[] = {&use};
	use.sequence = "notes";
	use.consumed = 50;
	REQ(HEARTBEAT, heartbeat, sr__heartbeat_request__init, hb);
	hb.node_id = 1;
	hb.usage = uses;
	hb.n_usage = 1;
	hb.holds_worker = 1;
	hb.worker_id = 0;
	hb.tick = 12345;
	put_req("heartbeat", &req);
	/* With what the node holds (HeldSummary): the master checks it. */
	Sr__HeldSummary held = SR__HELD_SUMMARY__INIT;
	Sr__HeldSeq hs = SR__HELD_SEQ__INIT, *hsp[] = {&hs};
	hs.sequence = "notes";
	hs.chunks = 2;
	hs.headroom = 150;
	held.sequences = 1;
	held.chunks = 2;
	held.seqs = hsp;
	held.n_seqs = 1;
	hb.held = &held;
	put_req("heartbeat_held", &req);
	hb.held = NULL;
	hb.node_id = 2;
	hb.n_usage = 0;
	hb.holds_worker = 0;
	put_req("heartbeat_no_worker", &req);

	Sr__LeaveRequest leave;
	REQ(LEAVE, leave, sr__leave_request__init, leave);
	leave.node_id = 2;
	leave.tick = 99999;
	put_req("leave", &req);

	Sr__LeaseRequest lease;
	REQ(LEASE, lease, sr__lease_request__init, lease);
	lease.node_id = 2;
	lease.sequence = "notes";
	put_req("lease_notes", &req);
	lease.node_id = 1;
	lease.after = 200;
	put_req("lease_notes_after", &req);
	lease.sequence = "tasks";
	lease.after = 0;
	put_req("lease_tasks", &req);
	lease.sequence = "tiny";
	put_req("lease_tiny", &req);

	Sr__SeqCreateRequest sc;
	REQ(SEQ_CREATE, seq_create, sr__seq_create_request__init, sc);
	sc.name = "orders";
	sc.start = 1000;
	sc.chunk_size = 500;
	sc.max_value = 1000000;
	sc.spare_chunks = 2;
	sc.min_chunk = 10;
	sc.max_chunk = 5000;
	put_req("seq_create", &req);
	sc.name = "gone";
	sc.start = 0;
	sc.chunk_size = 1;
	sc.max_value = 0;
	sc.spare_chunks = 0;
	sc.mode = 1;
	sc.min_chunk = 0;
	sc.max_chunk = 0;
	put_req("seq_create_block_tombstone", &req);

	Sr__SeqListRequest sl;
	REQ(SEQ_LIST, seq_list, sr__seq_list_request__init, sl);
	put_req("seq_list", &req);

	Sr__SeqDropRequest sd;
	REQ(SEQ_DROP, seq_drop, sr__seq_drop_request__init, sd);
	sd.name = "tasks";
	put_req("seq_drop", &req);

	Sr__StatusRequest st;
	REQ(STATUS, status, sr__status_request__init, st);
	put_req("status", &req);

	Sr__NextIdsRequest ni;
	REQ(NEXT_IDS, next_ids, sr__next_ids_request__init, ni);
	ni.sequence = "notes";
	ni.count = 10;
	put_req("next_ids", &req);
	ni.sequence = "tasks";
	ni.count = WIRE_MAX_COUNT;
	put_req("next_ids_max", &req);

	Sr__NextTxidsRequest nt;
	REQ(NEXT_TXIDS, next_txids, sr__next_txids_request__init, nt);
	nt.count = 5;
	put_req("next_txids", &req);
	nt.count = 5000;
	put_req("next_txids_two_ticks", &req);
#undef REQ

	/* The envelope's own refusals. */
	sr__request__init(&req);
	req.protocol_version = 2;
	req.body_case = SR__REQUEST__BODY_STATUS;
	req.status = &st;
	put_req("bad_version", &req);
	sr__request__init(&req);
	req.protocol_version = WIRE_PROTOCOL_VERSION;
	put_req("no_body", &req);
}

/* ---- txlog ---- */

/*
 * A log being built in memory, as the log writes it: records sealed for
 * their place (file offset TXLOG_FILE_HDR + n, since the checks put a file
 * header before the data) under the checks' salt, and a commit marker
 * closing each batch. The seeds are the data after the header.
 */
struct seedlog {
	uint8_t buf[4096];
	size_t n;     /* bytes in buf */
	size_t batch; /* where the open batch starts, in buf */
	uint64_t nrec;
};

static uint64_t
place(size_t n)
{
	return TXLOG_FILE_HDR + (uint64_t) n;
}

static void
rec_bytes(struct seedlog *l, uint64_t txid, int state, size_t np, const char *const *parts,
    const void *payload, size_t plen)
{
	struct txlog_rec r = {
	    .txid = txid,
	    .state = state,
	    .nparticipants = np,
	    .participants = parts,
	    .payload = payload,
	    .payload_len = plen,
	};
	size_t used;
	if (txlog_encode(&r, l->buf + l->n, sizeof(l->buf) - l->n, &used) != TXLOG_OK) {
		fprintf(stderr, "txlog seed does not encode\n");
		exit(1);
	}
	txlog_seal(l->buf + l->n, FUZZ_TXLOG_SALT, place(l->batch), place(l->n));
	l->n += used;
	l->nrec++;
}

static void
rec(struct seedlog *l, uint64_t txid, int state, size_t np, const char *const *parts,
    const char *payload)
{
	rec_bytes(l, txid, state, np, parts, payload, payload != NULL ? strlen(payload) : 0);
}

/* Closes the open batch with its commit marker, as a flush does. */
static void
mark(struct seedlog *l)
{
	if (sizeof(l->buf) - l->n < TXLOG_MARK_SIZE || l->nrec == 0) {
		fprintf(stderr, "txlog seed: no room for a marker\n");
		exit(1);
	}
	txlog_encode_mark(l->buf + l->n, l->nrec);
	txlog_seal(l->buf + l->n, FUZZ_TXLOG_SALT, place(l->batch), place(l->n));
	l->n += TXLOG_MARK_SIZE;
	l->batch = l->n;
	l->nrec = 0;
}

static void
txlog(void)
{
	static const char *const parts[] = {"node-a", "node-b", "tcp://10.0.0.3:5432"};
	static struct seedlog l;

	/* Single records, each the first of a log, with and without its
	 * marker. */
	l = (struct seedlog) {.n = 0};
	rec(&l, 1, SR_TX_BEGIN, 0, NULL, NULL);
	put("txlog", "begin", l.buf, l.n);
	mark(&l);
	put("txlog", "begin_marked", l.buf, l.n);
	l = (struct seedlog) {.n = 0};
	rec(&l, 0x0123456789abcdefULL, SR_TX_PREPARE, 3, parts, "INSERT INTO notes VALUES (1)");
	put("txlog", "prepare_3_participants", l.buf, l.n);
	l = (struct seedlog) {.n = 0};
	rec(&l, 2, SR_TX_COMMIT, 1, parts, NULL);
	put("txlog", "commit", l.buf, l.n);
	l = (struct seedlog) {.n = 0};
	rec(&l, UINT64_MAX, SR_TX_ABORT, 2, parts, "why");
	put("txlog", "abort_max_txid", l.buf, l.n);

	/* A whole history in three batches: tx 5 commits, tx 6 is left in
	 * doubt, tx 7 aborts. */
	l = (struct seedlog) {.n = 0};
	rec(&l, 5, SR_TX_BEGIN, 2, parts, NULL);
	rec(&l, 5, SR_TX_PREPARE, 2, parts, "p");
	rec(&l, 6, SR_TX_BEGIN, 1, parts, NULL);
	mark(&l);
	rec(&l, 5, SR_TX_COMMIT, 2, parts, NULL);
	rec(&l, 6, SR_TX_PREPARE, 1, parts, "q");
	mark(&l);
	rec(&l, 7, SR_TX_PREPARE, 0, NULL, NULL);
	rec(&l, 7, SR_TX_ABORT, 0, NULL, NULL);
	mark(&l);
	put("txlog", "history", l.buf, l.n);

	/* A torn tail: the last batch lost its end in a crash. */
	size_t whole = l.n;
	rec(&l, 8, SR_TX_BEGIN, 1, parts, "torn");
	mark(&l);
	put("txlog", "torn_tail", l.buf, whole + (l.n - whole) / 2);
	/* An unfinished batch: whole records, no marker. */
	put("txlog", "unmarked_tail", l.buf, l.n - TXLOG_MARK_SIZE);

	/* A record whose payload holds a copy of the records before it,
	 * torn inside its payload: the copies are not records where they
	 * lie, so this is a torn tail, not damage. */
	l = (struct seedlog) {.n = 0};
	rec(&l, 11, SR_TX_BEGIN, 0, NULL, NULL);
	mark(&l);
	uint8_t copy[256];
	size_t clen = l.n < sizeof(copy) - 16 ? l.n : sizeof(copy) - 16;
	memcpy(copy, l.buf, clen);
	memset(copy + clen, 'z', 16); /* where the tear lands */
	rec_bytes(&l, 12, SR_TX_PREPARE, 1, parts, copy, clen + 16);
	put("txlog", "torn_payload_copy", l.buf, l.n - 8);

	/* Damage in a synced batch: one flipped bit in a record of the first
	 * batch, with a second batch after it. */
	l = (struct seedlog) {.n = 0};
	rec(&l, 9, SR_TX_BEGIN, 0, NULL, NULL);
	size_t mid = l.n;
	rec(&l, 9, SR_TX_PREPARE, 1, parts, "x");
	mark(&l);
	rec(&l, 9, SR_TX_COMMIT, 0, NULL, NULL);
	mark(&l);
	l.buf[mid + TXLOG_REC_HDR + 3] ^= 0x10;
	put("txlog", "middle_damage", l.buf, l.n);

	/* A whole file, header included: the headerless scan reads it. */
	l = (struct seedlog) {.n = 0};
	rec(&l, 10, SR_TX_PREPARE, 1, parts, NULL);
	mark(&l);
	uint8_t file[4096];
	txlog_file_header(file, FUZZ_TXLOG_SALT);
	memcpy(file + TXLOG_FILE_HDR, l.buf, l.n);
	put("txlog", "file_with_header", file, TXLOG_FILE_HDR + l.n);
	put("txlog", "header_prefix", file, 5);
}

/* ---- config ---- */

static void
config(void)
{
	put_str("config", "full.ini",
	    "; a coordinator's settings\n"
	    "[coordinator]\n"
	    "name = coord-1\n"
	    "listen = tcp://127.0.0.1:7401\n"
	    "workers = 32\n"
	    "skew-ms = -5\n"
	    "prefetch-at = 0.75\n"
	    "help = false\n");
	put_str("config", "bools.ini", "help = yes\nhelp = 0\nhelp = true\n");
	put_str("config", "bounds.ini", "workers = 1024\nskew-ms = -1000\nprefetch-at = 1e-3\n");
	put_str("config", "no_section.ini", "name=a.b_c-1\n# comment\n\nworkers=1\n");
	put_str("config", "multiline.ini", "[a]\nname = one\n  two\n[b]\nlisten=ipc:///tmp/x\n");
	put_str("config", "unknown_key.ini", "[x]\ncolour = blue\n");
	put_str("config", "config_key.ini", "config = other.ini\n");
	put_str("config", "bad_int.ini", "workers = 12abc\n");
	put_str("config", "out_of_range.ini", "workers = 99999999999999999999\n");
	put_str("config", "bad_double.ini", "prefetch-at = nan\n");
	put_str("config", "bad_syntax.ini", "[unclosed\nname\n");
	put_str("config", "layout_default", "41/10/12");
	put_str("config", "layout_unit", "39/16/8/10");
	put_str("config", "layout_iso", "41/10/12/1/2024-01-01T00:00:00Z");
	put_str("config", "layout_ms", "41/10/12/1/-5");
	put_str("config", "layout_leap_day", "40/11/12/1000/2000-02-29T23:59:59Z");
	put_str("config", "layout_bad_sum", "41/10/13");
	put_str("config", "layout_junk", "41/10/12/1/0/extra");
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		perror(root);
		return 1;
	}
	envelope();
	txlog();
	config();
	return 0;
}
