/*
 * Bad input against real processes: sends garbage bytes, truncated protobuf,
 * a wrong protocol version, out-of-range counts, unknown sequences and bad
 * names to a running master and coordinator, and checks that each gets its
 * documented error reply and that both still serve afterwards.
 *
 *   badinput MASTER_URL COORDINATOR_URL    (started by bad_input.sh)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
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
	size_t big = 200 * 1024;
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
	/* The master does not serve NextIds. */
	n = pack_next_ids(buf, WIRE_PROTOCOL_VERSION, "notes", 1);
	assert_int_equal(raw_code(master_url, buf, n), SR_EINVAL);
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
	assert_int_equal(sr_client_next_ids(cl, "notes", WIRE_MAX_COUNT + 1, ids, node),
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
		cmocka_unit_test(test_catalog_errors),
		cmocka_unit_test(test_still_serving),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini();
	return rv;
}
