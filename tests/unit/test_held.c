/*
 * Unit tests for the coordinators' held-chunk reports (master/held.c): the
 * check of what a peer sends (too many sequences, bad names, absurd
 * numbers), the table of the latest per node, and the master's real
 * heartbeat and status handlers around them (master/server.c, through
 * wire_serve_bytes over the in-memory store): a bad report costs the node
 * its summary, never its heartbeat, and a heartbeat without one (an older
 * coordinator) is served as before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "held.h"
#include "mem_store.h"
#include "server.h"
#include "snowrange/error.h"
#include "strbuf.h"
#include "wire.h"

/* A summary of n sequences s0, s1, ... each with 2 chunks and 100 IDs. */
struct summary {
	Sr__HeldSummary s;
	Sr__HeldSeq seqs[16];
	Sr__HeldSeq *p[16];
	char names[16][24]; /* "s" and any size_t: -O2 format-truncation */
};

static void
summary(struct summary *m, size_t n)
{
	sr__held_summary__init(&m->s);
	for (size_t i = 0; i < n; i++) {
		sr__held_seq__init(&m->seqs[i]);
		snprintf(m->names[i], sizeof(m->names[i]), "s%zu", i);
		m->seqs[i].sequence = m->names[i];
		m->seqs[i].chunks = 2;
		m->seqs[i].headroom = 100;
		m->p[i] = &m->seqs[i];
	}
	m->s.seqs = m->p;
	m->s.n_seqs = n;
	m->s.sequences = (uint32_t) n + 5;
	m->s.chunks = 2 * (uint32_t) n;
}

/* Refused, with a reason that contains want. */
static void
refused(const struct summary *m, const char *want)
{
	struct held_report r;
	assert_int_equal(held_check(&m->s, &r), SR_EINVAL);
	assert_false(r.ok);
	if (strstr(r.error, want) == NULL)
		fail_msg("reason '%s' does not say '%s'", r.error, want);
	assert_int_equal(r.nseqs, 0);
}

static void
test_check_accepts(void **state)
{
	(void) state;
	struct summary m;
	struct held_report r;
	summary(&m, HELD_SEQS_MAX);
	m.seqs[0].chunks = 0; /* a sequence with nothing held: headroom 0 */
	m.seqs[0].headroom = 0;
	m.seqs[1].chunks = 2; /* two of the largest chunks */
	m.seqs[1].headroom = 2 * HELD_CHUNK_IDS_MAX;
	assert_int_equal(held_check(&m.s, &r), SR_OK);
	assert_true(r.ok);
	assert_string_equal(r.error, "");
	assert_int_equal(r.nseqs, HELD_SEQS_MAX);
	assert_int_equal(r.sequences, HELD_SEQS_MAX + 5);
	assert_int_equal(r.chunks, 2 * HELD_SEQS_MAX);
	assert_string_equal(r.seqs[1].name, "s1");
	assert_true(r.seqs[1].headroom == 2 * HELD_CHUNK_IDS_MAX);
	/* Nothing held at all, nothing named. */
	summary(&m, 0);
	m.s.sequences = 0;
	assert_int_equal(held_check(&m.s, &r), SR_OK);
	assert_int_equal(r.nseqs, 0);
}

static void
test_check_oversized(void **state)
{
	(void) state;
	struct summary m;
	summary(&m, HELD_SEQS_MAX + 1);
	refused(&m, "names 9 sequences; at most 8");
	summary(&m, 16);
	refused(&m, "at most 8");
}

static void
test_check_bad_names(void **state)
{
	(void) state;
	static const char *const bad[] = {"", "Orders", "a/b", "a b", "../x", "x\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */};
	struct summary m;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		summary(&m, 3);
		m.seqs[2].sequence = (char *) bad[i];
		refused(&m, "is not [a-z0-9_.-]{1,64}");
	}
	summary(&m, 3);
	m.seqs[2].sequence = NULL;
	refused(&m, "sequence name");
	summary(&m, 3);
	m.seqs[2].sequence = m.names[0];
	refused(&m, "names sequence s0 twice");
}

static void
test_check_absurd_numbers(void **state)
{
	(void) state;
	struct summary m;
	summary(&m, 3);
	m.seqs[1].chunks = 3;
	refused(&m, "3 chunks of s1; at most 2");
	summary(&m, 3);
	m.seqs[1].chunks = UINT32_MAX;
	refused(&m, "at most 2");
	summary(&m, 3);
	m.seqs[1].headroom = UINT64_MAX;
	refused(&m, "headroom 18446744073709551615 of s1");
	summary(&m, 3);
	m.seqs[1].headroom = 2 * HELD_CHUNK_IDS_MAX + 1;
	refused(&m, "more than 2 chunks can hold");
	summary(&m, 3);
	m.seqs[1].chunks = 0;
	m.seqs[1].headroom = 1; /* IDs left in no chunk */
	refused(&m, "more than 0 chunks can hold");
	summary(&m, 3);
	m.s.chunks = UINT32_MAX;
	refused(&m, "at most 2 per sequence");
	summary(&m, 3);
	m.s.sequences = 2; /* fewer served than named */
	refused(&m, "names 3 sequences but says 2 are served");
	summary(&m, 3);
	m.s.chunks = 5; /* the named ones hold 6 */
	refused(&m, "hold 6 chunks, more than the 5");
}

static void
test_table(void **state)
{
	(void) state;
	struct held_table *t;
	struct held_entry e;
	struct held_report ok, bad, bad2;
	struct summary m;
	summary(&m, 2);
	assert_int_equal(held_check(&m.s, &ok), SR_OK);
	summary(&m, 9);
	assert_int_equal(held_check(&m.s, &bad), SR_EINVAL);
	summary(&m, 2);
	m.seqs[0].chunks = 7;
	assert_int_equal(held_check(&m.s, &bad2), SR_EINVAL);

	assert_int_equal(held_table_new(1000, &t), SR_OK);
	assert_false(held_get(t, 7, &e));
	/* Out of order ids: the array stays sorted. */
	assert_false(held_put(t, 7, &ok, 100));
	assert_false(held_put(t, 3, &ok, 100));
	assert_false(held_put(t, 5, &ok, 100));
	assert_int_equal(held_count(t), 3);
	assert_true(held_get(t, 5, &e));
	assert_int_equal(e.node_id, 5);
	assert_int_equal(e.at_ms, 100);
	assert_true(e.r.ok);
	assert_int_equal(e.r.nseqs, 2);
	/* A refusal is news once per reason, not once per heartbeat. */
	assert_true(held_put(t, 5, &bad, 200));
	assert_false(held_put(t, 5, &bad, 300));
	assert_true(held_put(t, 5, &bad2, 400));
	assert_false(held_put(t, 5, &ok, 500));
	assert_true(held_put(t, 5, &bad, 600));
	assert_true(held_put(t, 9, &bad, 600)); /* a new node's first report */
	assert_true(held_get(t, 5, &e));
	assert_false(e.r.ok);
	assert_int_equal(e.r.nseqs, 0);
	assert_non_null(strstr(e.r.error, "at most 8"));
	/* Re-reporting never grows the table. */
	for (int i = 0; i < 1000; i++)
		(void) held_put(t, 3, i % 2 ? &ok : &bad, 600);
	assert_int_equal(held_count(t), 4);
	held_forget(t, 3);
	held_forget(t, 3);
	assert_false(held_get(t, 3, &e));
	assert_int_equal(held_count(t), 3);
	/* A minute on, the reports older than keep_ms (1 s) go: node 7's of
	 * t = 100; node 5's of t = 60,000 stays. */
	assert_false(held_put(t, 5, &ok, 60000));
	assert_false(held_put(t, 11, &ok, 60700));
	assert_int_equal(held_count(t), 2);
	assert_false(held_get(t, 7, &e));
	assert_false(held_get(t, 9, &e));
	assert_true(held_get(t, 5, &e));
	assert_true(held_get(t, 11, &e));
	held_table_free(t);
	held_table_free(NULL);
}

/* ---- through the master's handlers ---- */

struct fixture {
	struct mem_store st;
	struct master *m;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct catalog_config cfg;
	char err[256];
	f->st.base.ops = &mem_ops;
	catalog_config_init(&cfg);
	assert_int_equal(master_open(&f->st.base, &cfg, &f->m, err, sizeof(err)), SR_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	master_stop(f->m);
	free(f);
	return 0;
}

/* Serves req through the master's route table; the caller frees the reply
 * with sr__response__free_unpacked. */
static Sr__Response *
serve(struct fixture *f, Sr__Request *req)
{
	req->protocol_version = WIRE_PROTOCOL_VERSION;
	size_t len = sr__request__get_packed_size(req);
	uint8_t *buf = malloc(len + 1);
	assert_non_null(buf);
	sr__request__pack(req, buf);
	size_t n;
	const struct wire_route *routes = master_routes(&n);
	void *out = NULL;
	size_t outlen = 0;
	assert_int_equal(wire_serve_bytes(routes, n, f->m, buf, len, &out, &outlen), SR_OK);
	free(buf);
	Sr__Response *r = sr__response__unpack(NULL, outlen, out);
	free(out);
	assert_non_null(r);
	return r;
}

static int
err_of(const Sr__Response *r)
{
	return r->error != NULL ? r->error->code : SR_OK;
}

static uint64_t
join(struct fixture *f, const char *name, uint64_t instance)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__JoinRequest j = SR__JOIN_REQUEST__INIT;
	j.name = (char *) name;
	j.listen_url = "";
	j.instance = instance;
	req.body_case = SR__REQUEST__BODY_JOIN;
	req.join = &j;
	Sr__Response *r = serve(f, &req);
	assert_int_equal(err_of(r), SR_OK);
	uint64_t id = r->join->node_id;
	sr__response__free_unpacked(r, NULL);
	return id;
}

/* A heartbeat of node id with held (NULL: none, as an older coordinator
 * sends); returns the reply's error code. */
static int
beat(struct fixture *f, uint64_t id, uint64_t instance, Sr__HeldSummary *held)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__HeartbeatRequest h = SR__HEARTBEAT_REQUEST__INIT;
	h.node_id = id;
	h.instance = instance;
	h.held = held;
	req.body_case = SR__REQUEST__BODY_HEARTBEAT;
	req.heartbeat = &h;
	Sr__Response *r = serve(f, &req);
	int rv = err_of(r);
	if (rv == SR_OK)
		assert_non_null(r->heartbeat);
	sr__response__free_unpacked(r, NULL);
	return rv;
}

static char *
status_json(struct fixture *f)
{
	struct strbuf b;
	strbuf_init(&b);
	assert_int_equal(master_status_json(f->m, &b), SR_OK);
	size_t len;
	char *s = strbuf_take(&b, &len);
	assert_non_null(s);
	return s;
}

static void
has(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("'%s' not in %s", want, text);
}

static void
test_master_keeps_latest(void **state)
{
	struct fixture *f = *state;
	uint64_t a = join(f, "c1", 11), b = join(f, "c2", 22), c = join(f, "c3", 33);
	struct summary m;
	summary(&m, 2);
	m.seqs[0].sequence = "orders";
	m.seqs[0].chunks = 1;
	m.seqs[0].headroom = 497;
	m.seqs[1].headroom = 1500;
	assert_int_equal(beat(f, a, 11, &m.s), SR_OK);
	/* An older coordinator: served, and nothing is shown. */
	assert_int_equal(beat(f, b, 22, NULL), SR_OK);
	/* A hostile or broken one: served all the same, its report refused. */
	struct summary big;
	summary(&big, 9);
	assert_int_equal(beat(f, c, 33, &big.s), SR_OK);

	char *js = status_json(f);
	has(js, "\"name\":\"c1\"");
	has(js, "\"held\":{\"at_ms\":");
	has(js,
	    "\"sequences\":7,\"chunks\":4,\"seqs\":[{\"name\":\"orders\",\"chunks\":1,"
	    "\"headroom\":\"497\"},{\"name\":\"s1\",\"chunks\":2,\"headroom\":\"1500\"}]}");
	has(js, "\"name\":\"c2\"");
	has(js, "\"held\":null");
	has(js, "\"error\":\"held summary names 9 sequences; at most 8\"");
	free(js);

	/* The latest report replaces the one before. */
	m.seqs[0].headroom = 3;
	assert_int_equal(beat(f, a, 11, &m.s), SR_OK);
	js = status_json(f);
	has(js, "\"headroom\":\"3\"");
	assert_null(strstr(js, "\"headroom\":\"497\""));
	free(js);

	/* The nng Status: NodeHeld per node, as `snowrange status` reads it. */
	Sr__Request req = SR__REQUEST__INIT;
	Sr__StatusRequest sq = SR__STATUS_REQUEST__INIT;
	req.body_case = SR__REQUEST__BODY_STATUS;
	req.status = &sq;
	Sr__Response *r = serve(f, &req);
	assert_int_equal(err_of(r), SR_OK);
	assert_int_equal(r->status->n_nodes, 3);
	for (size_t i = 0; i < r->status->n_nodes; i++) {
		const Sr__NodeInfo *n = r->status->nodes[i];
		if (n->node_id == a) {
			assert_non_null(n->held);
			assert_non_null(n->held->summary);
			assert_int_equal(n->held->summary->n_seqs, 2);
			assert_string_equal(n->held->summary->seqs[0]->sequence, "orders");
			assert_int_equal(n->held->summary->seqs[0]->headroom, 3);
			assert_string_equal(n->held->error, "");
		} else if (n->node_id == b) {
			assert_null(n->held);
		} else {
			assert_non_null(n->held);
			assert_null(n->held->summary);
			assert_non_null(strstr(n->held->error, "at most 8"));
		}
	}
	sr__response__free_unpacked(r, NULL);

	/* A heartbeat the catalog refuses (another instance) keeps nothing. */
	m.seqs[0].headroom = 12345;
	assert_int_equal(beat(f, a, 99, &m.s), SR_ENOTJOINED);
	js = status_json(f);
	assert_null(strstr(js, "\"headroom\":\"12345\""));
	free(js);

	/* A node that leaves takes its report with it. */
	Sr__Request lreq = SR__REQUEST__INIT;
	Sr__LeaveRequest lv = SR__LEAVE_REQUEST__INIT;
	lv.node_id = a;
	lv.instance = 11;
	lreq.body_case = SR__REQUEST__BODY_LEAVE;
	lreq.leave = &lv;
	r = serve(f, &lreq);
	assert_int_equal(err_of(r), SR_OK);
	sr__response__free_unpacked(r, NULL);
	js = status_json(f);
	assert_null(strstr(js, "\"name\":\"orders\""));
	free(js);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_accepts),
	    cmocka_unit_test(test_check_oversized),
	    cmocka_unit_test(test_check_bad_names),
	    cmocka_unit_test(test_check_absurd_numbers),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test_setup_teardown(test_master_keeps_latest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
