/*
 * Bad input against real processes: sends garbage bytes, truncated protobuf,
 * a wrong protocol version, out-of-range counts, unknown sequences, bad
 * names and names with a NUL byte to a running master and coordinator, and checks that each gets
 * its documented error reply and that both still serve afterwards.
 *
 *   badinput MASTER_URL COORDINATOR_URL    (started by bad_input.sh)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "snowrange/client.h"
#include "snowrange/error.h"
#include "wire.h"

static const char *master_url, *coord_url;

/* Sends raw bytes and returns the error code of the Response received. */
static int
raw_code(const char *url, const void *buf, size_t len)
{
	struct wire_chan *ch;
	char err[256];
	assert_int_equal(wire_chan_open(url, 3000, &ch, err, sizeof(err)), SR_OK);
	void *reply = NULL;
	size_t rlen = 0;
	assert_int_equal(wire_call_raw(ch, buf, len, &reply, &rlen), SR_OK);
	Sr__Response *r = sr__response__unpack(NULL, rlen, reply);
	assert_non_null(r);
	assert_non_null(r->error);
	assert_non_null(r->error->message);
	assert_true(strlen(r->error->message) > 0);
	int code = r->error->code;
	sr__response__free_unpacked(r, NULL);
	free(reply);
	wire_chan_close(ch);
	return code;
}

static size_t
pack_next_ids(uint8_t *buf, uint32_t version, const char *seq, uint32_t count)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__NextIdsRequest n = SR__NEXT_IDS_REQUEST__INIT;
	n.sequence = (char *) seq;
	n.count = count;
	req.protocol_version = version;
	req.body_case = SR__REQUEST__BODY_NEXT_IDS;
	req.next_ids = &n;
	return sr__request__pack(&req, buf);
}

/* A NextIds asking for segments (issue 19). */
static size_t
pack_next_segs(uint8_t *buf, const char *seq, uint32_t count)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__NextIdsRequest n = SR__NEXT_IDS_REQUEST__INIT;
	n.sequence = (char *) seq;
	n.count = count;
	n.segments = 1;
	req.protocol_version = WIRE_PROTOCOL_VERSION;
	req.body_case = SR__REQUEST__BODY_NEXT_IDS;
	req.next_ids = &n;
	return sr__request__pack(&req, buf);
}

static void
test_garbage(void **state)
{
	(void) state;
	const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x13, 0x37};
	assert_int_equal(raw_code(master_url, junk, sizeof(junk)), SR_EPROTO);
	assert_int_equal(raw_code(coord_url, junk, sizeof(junk)), SR_EPROTO);
	/* An empty message decodes as version 0. */
	assert_int_equal(raw_code(master_url, "", 0), SR_EVERSION);
}

static void
test_truncated(void **state)
{
	(void) state;
	uint8_t buf[256];
	size_t n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "notes", 5);
	assert_true(n > 4);
	assert_int_equal(raw_code(coord_url, buf, n - 3), SR_EPROTO);
	assert_int_equal(raw_code(master_url, buf, n - 3), SR_EPROTO);
}

static void
test_wrong_version(void **state)
{
	(void) state;
	uint8_t buf[256];
	size_t n = pack_next_ids(buf, 99, "notes", 5);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EVERSION);
	assert_int_equal(raw_code(master_url, buf, n), SR_EVERSION);
}

static void
test_oversized(void **state)
{
	(void) state;
	/* Over the 64 KiB request cap, under the transport's 128 KiB: answered. */
	size_t big = 100 * 1024;
	char *name = malloc(big + 1);
	memset(name, 'a', big);
	name[big] = 0;
	uint8_t *buf = malloc(big + 64);
	size_t n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, name, 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_ETOOBIG);
	assert_int_equal(raw_code(master_url, buf, n), SR_ETOOBIG);
	free(buf);
	free(name);
}

/* Counts and names checked by the coordinator itself (raw, so the client
 * library's own checks do not hide them). */
static void
test_counts_and_names(void **state)
{
	(void) state;
	uint8_t buf[256];
	size_t n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "notes", 0);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EINVAL);
	n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "notes", WIRE_MAX_COUNT + 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EINVAL);
	n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "Bad Name!", 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EINVAL);
	n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "no-such-seq", 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_ENOTFOUND);
	/* Segments: 1..SR_SEGMENT_IDS_MAX, checked by the coordinator too. */
	n = pack_next_segs(buf, "notes", 0);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EINVAL);
	n = pack_next_segs(buf, "notes", SR_SEGMENT_IDS_MAX + 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EINVAL);
	n = pack_next_segs(buf, "Bad Name!", 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_EINVAL);
	n = pack_next_segs(buf, "no-such-seq", 1);
	assert_int_equal(raw_code(coord_url, buf, n), SR_ENOTFOUND);
	/* The master does not serve NextIds. */
	n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "notes", 1);
	assert_int_equal(raw_code(master_url, buf, n), SR_EINVAL);
}

/* Packs req, then turns the '#' of marker (which must occur once in the
 * packed bytes) into a NUL byte: protobuf-c packs C strings, so this is how
 * a peer's "notes\0x" is made. Returns the length; buf holds 256 bytes. */
static size_t
pack_nul(const Sr__Request *req, const char *marker, uint8_t *buf)
{
	size_t len = sr__request__get_packed_size(req);
	assert_true(len <= 256);
	sr__request__pack(req, buf);
	size_t m = strlen(marker);
	size_t hash = (size_t) (strchr(marker, '#') - marker);
	for (size_t i = 0; i + m <= len; i++) {
		if (memcmp(buf + i, marker, m) == 0) {
			buf[i + hash] = '\0';
			return len;
		}
	}
	fail_msg("marker %s not in the packed request", marker);
	return 0;
}

/* Sends raw bytes; returns the reply's error code (0: none) and copies its
 * message to msg. */
static int
raw_reply(const char *url, const void *buf, size_t len, char *msg, size_t cap)
{
	struct wire_chan *ch;
	char err[256];
	assert_int_equal(wire_chan_open(url, 3000, &ch, err, sizeof(err)), SR_OK);
	void *reply = NULL;
	size_t rlen = 0;
	assert_int_equal(wire_call_raw(ch, buf, len, &reply, &rlen), SR_OK);
	Sr__Response *r = sr__response__unpack(NULL, rlen, reply);
	assert_non_null(r);
	int code = r->error != NULL ? r->error->code : 0;
	snprintf(msg, cap, "%s", r->error != NULL ? r->error->message : "");
	sr__response__free_unpacked(r, NULL);
	free(reply);
	wire_chan_close(ch);
	return code;
}

/* A name is its whole wire string: "notes\0x" is not "notes", and is refused
 * (SR_EINVAL naming the field) by both daemons before any handler runs. */
static void
test_nul_in_names(void **state)
{
	(void) state;
	Sr__Request req = SR__REQUEST__INIT;
	Sr__NextIdsRequest ids = SR__NEXT_IDS_REQUEST__INIT;
	Sr__SeqCreateRequest create = SR__SEQ_CREATE_REQUEST__INIT;
	Sr__SeqDropRequest drop = SR__SEQ_DROP_REQUEST__INIT;
	Sr__JoinRequest join = SR__JOIN_REQUEST__INIT;
	Sr__LeaseRequest lease = SR__LEASE_REQUEST__INIT;
	uint8_t buf[256];
	char msg[256];
	size_t n;

	req.protocol_version = WIRE_PROTOCOL_VERSION;
	req.body_case = SR__REQUEST__BODY_NEXT_IDS;
	req.next_ids = &ids;
	ids.sequence = "notes#x";
	ids.count = 3;
	n = pack_nul(&req, "notes#x", buf);
	assert_int_equal(raw_reply(coord_url, buf, n, msg, sizeof msg), SR_EINVAL);
	assert_non_null(strstr(msg, "next_ids.sequence"));

	req.body_case = SR__REQUEST__BODY_SEQ_CREATE;
	req.seq_create = &create;
	create.name = "notes#x";
	n = pack_nul(&req, "notes#x", buf);
	assert_int_equal(raw_reply(master_url, buf, n, msg, sizeof msg), SR_EINVAL);
	assert_non_null(strstr(msg, "seq_create.name"));

	/* Not a way to drop "notes" either (test_still_serving uses it). */
	req.body_case = SR__REQUEST__BODY_SEQ_DROP;
	req.seq_drop = &drop;
	drop.name = "notes#x";
	n = pack_nul(&req, "notes#x", buf);
	assert_int_equal(raw_reply(master_url, buf, n, msg, sizeof msg), SR_EINVAL);
	assert_non_null(strstr(msg, "seq_drop.name"));

	/* Nor a way to join as the running coordinator c1. */
	req.body_case = SR__REQUEST__BODY_JOIN;
	req.join = &join;
	join.name = "c1#x";
	join.listen_url = "tcp://127.0.0.1:1";
	n = pack_nul(&req, "c1#x", buf);
	assert_int_equal(raw_reply(master_url, buf, n, msg, sizeof msg), SR_EINVAL);
	assert_non_null(strstr(msg, "join.name"));
	join.name = "ghost";
	join.listen_url = "ipc:///tmp/x#y";
	n = pack_nul(&req, "x#y", buf);
	assert_int_equal(raw_reply(master_url, buf, n, msg, sizeof msg), SR_EINVAL);
	assert_non_null(strstr(msg, "join.listen_url"));

	req.body_case = SR__REQUEST__BODY_LEASE;
	req.lease = &lease;
	lease.node_id = 1;
	lease.sequence = "notes#x";
	n = pack_nul(&req, "notes#x", buf);
	assert_int_equal(raw_reply(master_url, buf, n, msg, sizeof msg), SR_EINVAL);
	assert_non_null(strstr(msg, "lease.sequence"));
}

static void
test_catalog_errors(void **state)
{
	(void) state;
	sr_client *cl;
	assert_int_equal(sr_client_open(master_url, 3000, &cl), SR_OK);
	sr_seq_spec spec = {.name = "Bad/Name"};
	assert_int_equal(sr_client_seq_create(cl, &spec, NULL), SR_EINVAL);
	assert_non_null(strstr(sr_client_errmsg(cl), "invalid sequence name"));
	spec.name = "notes";
	assert_int_equal(sr_client_seq_create(cl, &spec, NULL), SR_EEXISTS);
	assert_int_equal(sr_client_seq_drop(cl, "no-such-seq"), SR_ENOTFOUND);
	spec.name = "badsizes";
	spec.chunk_size = 10;
	spec.min_chunk = 100;
	assert_int_equal(sr_client_seq_create(cl, &spec, NULL), SR_EINVAL);
	sr_client_close(cl);
}

/* After all that, both still serve. */
static void
test_still_serving(void **state)
{
	(void) state;
	sr_client *cl;
	uint64_t ids[10];
	char node[65];
	assert_int_equal(sr_client_open(coord_url, 5000, &cl), SR_OK);
	assert_int_equal(sr_client_next_ids(cl, "notes", 10, ids, node), SR_OK);
	for (int i = 1; i < 10; i++)
		assert_true(ids[i] > ids[i - 1]);
	assert_int_equal(sr_client_next_ids(cl, "notes", 0, ids, node), SR_EINVAL);
	assert_int_equal(sr_client_next_ids(cl, "notes", WIRE_MAX_COUNT + 1, ids, node), SR_EINVAL);
	/* Segments past the list's bound: they add up to the count and start
	 * above the list taken before. */
	sr_id_segment segs[SR_SEGMENTS_MAX];
	size_t nsegs = 0;
	uint64_t total = 0;
	assert_int_equal(sr_client_next_segments(cl, "notes", WIRE_MAX_COUNT + 1, segs,
	                     SR_SEGMENTS_MAX, &nsegs, node),
	    SR_OK);
	assert_true(nsegs >= 1);
	assert_true(segs[0].first > ids[9]);
	for (size_t i = 0; i < nsegs; i++)
		total += segs[i].count;
	assert_int_equal(total, WIRE_MAX_COUNT + 1);
	assert_int_equal(sr_client_next_segments(cl, "notes", 0, segs, SR_SEGMENTS_MAX, &nsegs,
	                     node),
	    SR_EINVAL);
	assert_int_equal(sr_client_next_segments(cl, "notes", SR_SEGMENT_IDS_MAX + 1, segs,
	                     SR_SEGMENTS_MAX, &nsegs, node),
	    SR_EINVAL);
	sr_client_close(cl);
	sr_status st;
	assert_int_equal(sr_client_open(master_url, 5000, &cl), SR_OK);
	assert_int_equal(sr_client_status(cl, &st), SR_OK);
	assert_string_equal(st.role, "master");
	sr_status_free(&st);
	sr_client_close(cl);
}

int
main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	master_url = argv[1];
	coord_url = argv[2];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_wrong_version),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_counts_and_names),
	    cmocka_unit_test(test_nul_in_names),
	    cmocka_unit_test(test_catalog_errors),
	    cmocka_unit_test(test_still_serving),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini();
	return rv;
}
