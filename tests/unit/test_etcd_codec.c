/*
 * Tests of the etcd store's pure half (master/etcd_codec.c): base64, the
 * etcd:// URL, the transactions a commit and an election send, and reading
 * state back from range replies, including values this code did not write.
 * No etcd is needed; test_store_etcd runs the same code against a real one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_codec.h"
#include "snowrange/error.h"

static void
test_b64_round_trip(void **state)
{
	(void) state;
	/* RFC 4648 §10's vectors. */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v",
	    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		char out[32];
		unsigned char back[32];
		size_t n;
		assert_int_equal(etcd_b64_encode(plain[i], strlen(plain[i]), out, sizeof out),
		    SR_OK);
		assert_string_equal(out, enc[i]);
		assert_int_equal(etcd_b64_decode(enc[i], back, sizeof back, &n), SR_OK);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(back, plain[i], n);
	}
	/* Every byte value survives. */
	unsigned char all[256], back[256];
	char out[400];
	size_t n;
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char) i;
	assert_int_equal(etcd_b64_encode(all, sizeof all, out, sizeof out), SR_OK);
	assert_int_equal(etcd_b64_decode(out, back, sizeof back, &n), SR_OK);
	assert_int_equal(n, 256);
	assert_memory_equal(all, back, 256);
}

static void
test_b64_refuses_junk(void **state)
{
	(void) state;
	unsigned char out[16];
	char small[4];
	size_t n;
	assert_int_equal(etcd_b64_decode("Zm9", out, sizeof out, &n), SR_EINVAL);
	assert_int_equal(etcd_b64_decode("Zm9*", out, sizeof out, &n), SR_EINVAL);
	assert_int_equal(etcd_b64_decode("Z===", out, sizeof out, &n), SR_EINVAL);
	assert_int_equal(etcd_b64_decode("Zg==Zg==", out, sizeof out, &n), SR_EINVAL);
	assert_int_equal(etcd_b64_decode("Zm9vYmFy", out, 3, &n), SR_ETOOBIG);
	assert_int_equal(etcd_b64_encode("foo", 3, small, sizeof small), SR_ETOOBIG);
}

static void
test_url_parse(void **state)
{
	(void) state;
	char ep[256], pre[ETCD_PREFIX_MAX], err[256];
	assert_int_equal(etcd_url_parse("etcd://127.0.0.1:2379", ep, sizeof ep, pre, sizeof pre,
	                     err, sizeof err),
	    SR_OK);
	assert_string_equal(ep, "http://127.0.0.1:2379");
	assert_string_equal(pre, "/snowrange/");
	assert_int_equal(etcd_url_parse("etcd://a:1,b:2,c:3/prod/ids", ep, sizeof ep, pre,
	                     sizeof pre, err, sizeof err),
	    SR_OK);
	assert_string_equal(ep, "http://a:1,http://b:2,http://c:3");
	assert_string_equal(pre, "/prod/ids/");
	static const char *const bad[] = {"http://a:1", "etcd://", "etcd://a",
	    "etcd://a:", "etcd://a:x1", "etcd://a:1,", "etcd://a:1,,b:2", "etcd://:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(etcd_url_parse(bad[i], ep, sizeof ep, pre, sizeof pre, err,
		                     sizeof err),
		    SR_EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
}

static void
test_prefix_end(void **state)
{
	(void) state;
	char end[32];
	assert_int_equal(etcd_prefix_end("/snowrange/", end, sizeof end), SR_OK);
	assert_string_equal(end, "/snowrange0");
}

/* The plain string a base64 JSON string holds. */
static const char *
unb64(const json_t *j)
{
	static char buf[1024];
	size_t n;
	assert_true(json_is_string(j));
	assert_int_equal(etcd_b64_decode(json_string_value(j), (unsigned char *) buf,
	                     sizeof buf - 1, &n),
	    SR_OK);
	buf[n] = '\0';
	return buf;
}

static void
test_commit_txn_shape(void **state)
{
	(void) state;
	struct store_op ops[3];
	char err[256];
	int rv;
	memset(ops, 0, sizeof ops);
	ops[0].kind = STORE_PUT_SEQ;
	snprintf(ops[0].u.seq.name, sizeof ops[0].u.seq.name, "orders");
	ops[0].u.seq.hwm = 4000;
	ops[0].u.seq.start = 1;
	ops[1].kind = STORE_PUT_NODE;
	ops[1].u.node.id = 7;
	snprintf(ops[1].u.node.name, sizeof ops[1].u.node.name, "c1");
	ops[2].kind = STORE_DEL_SEQ;
	snprintf(ops[2].u.seq.name, sizeof ops[2].u.seq.name, "old");
	json_t *t = etcd_txn_commit("/p/", 42, ops, 3, 128, &rv, err, sizeof err);
	assert_non_null(t);
	assert_int_equal(rv, SR_OK);
	/* One compare: the term's value equals ours. */
	const json_t *cmp = json_array_get(json_object_get(t, "compare"), 0);
	assert_string_equal(json_string_value(json_object_get(cmp, "target")), "VALUE");
	assert_string_equal(json_string_value(json_object_get(cmp, "result")), "EQUAL");
	assert_string_equal(unb64(json_object_get(cmp, "key")), "/p/term");
	assert_string_equal(unb64(json_object_get(cmp, "value")), "42");
	assert_int_equal(json_array_size(json_object_get(t, "compare")), 1);
	/* The rows, in order. */
	const json_t *succ = json_object_get(t, "success");
	assert_int_equal(json_array_size(succ), 3);
	const json_t *p0 = json_object_get(json_array_get(succ, 0), "request_put");
	assert_string_equal(unb64(json_object_get(p0, "key")), "/p/seq/orders");
	json_t *row = json_loads(unb64(json_object_get(p0, "value")), 0, NULL);
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "hwm")), 4000);
	json_decref(row);
	const json_t *p1 = json_object_get(json_array_get(succ, 1), "request_put");
	assert_string_equal(unb64(json_object_get(p1, "key")), "/p/node/00000000000000000007");
	const json_t *d = json_object_get(json_array_get(succ, 2), "request_delete_range");
	assert_string_equal(unb64(json_object_get(d, "key")), "/p/seq/old");
	/* On failure it reads the term, to say which one is stored. */
	const json_t *f =
	    json_object_get(json_array_get(json_object_get(t, "failure"), 0), "request_range");
	assert_string_equal(unb64(json_object_get(f, "key")), "/p/term");
	json_decref(t);
}

static void
test_commit_txn_refusals(void **state)
{
	(void) state;
	struct store_op op;
	char err[256];
	int rv;
	memset(&op, 0, sizeof op);
	op.kind = STORE_PUT_SEQ;
	snprintf(op.u.seq.name, sizeof op.u.seq.name, "s");
	op.u.seq.hwm = (uint64_t) INT64_MAX + 1;
	assert_null(etcd_txn_commit("/p/", 1, &op, 1, 128, &rv, err, sizeof err));
	assert_int_equal(rv, SR_EINVAL);
	assert_non_null(strstr(err, "2^63"));
	/* A name that would escape its key ("../term"). */
	op.u.seq.hwm = 1;
	snprintf(op.u.seq.name, sizeof op.u.seq.name, "../term");
	assert_null(etcd_txn_commit("/p/", 1, &op, 1, 128, &rv, err, sizeof err));
	assert_int_equal(rv, SR_EINVAL);
	/* More rows than etcd takes in one transaction. */
	struct store_op many[3];
	memset(many, 0, sizeof many);
	for (int i = 0; i < 3; i++)
		many[i].kind = STORE_PUT_LAYOUT;
	assert_null(etcd_txn_commit("/p/", 1, many, 3, 2, &rv, err, sizeof err));
	assert_int_equal(rv, SR_ETOOBIG);
	assert_non_null(strstr(err, "max-txn-ops"));
}

/* A later op on the same row supersedes an earlier one (store.h: the ops
 * apply in order), and etcd refuses a transaction naming a key twice: only
 * the last op per key is sent, the others keep their order. */
static void
test_commit_same_key_last_wins(void **state)
{
	(void) state;
	struct store_op ops[5];
	char err[256];
	int rv;
	memset(ops, 0, sizeof ops);
	ops[0].kind = ops[2].kind = STORE_PUT_WORKER;
	ops[0].u.worker = (struct store_worker) {.id = 3, .node_id = 1, .expires_ms = 5};
	ops[2].u.worker = (struct store_worker) {.id = 3, .node_id = 1, .expires_ms = 9};
	ops[1].kind = STORE_PUT_WORKER;
	ops[1].u.worker = (struct store_worker) {.id = 4, .node_id = 2, .expires_ms = 7};
	ops[3].kind = STORE_PUT_NODE;
	ops[3].u.node.id = 7;
	snprintf(ops[3].u.node.name, sizeof ops[3].u.node.name, "c1");
	ops[4].kind = STORE_DEL_NODE;
	ops[4].u.node.id = 7;
	json_t *t = etcd_txn_commit("/p/", 1, ops, 5, 128, &rv, err, sizeof err);
	assert_non_null(t);
	assert_int_equal(rv, SR_OK);
	const json_t *succ = json_object_get(t, "success");
	assert_int_equal(json_array_size(succ), 3);
	const json_t *p0 = json_object_get(json_array_get(succ, 0), "request_put");
	assert_string_equal(unb64(json_object_get(p0, "key")), "/p/worker/0000000004");
	const json_t *p1 = json_object_get(json_array_get(succ, 1), "request_put");
	assert_string_equal(unb64(json_object_get(p1, "key")), "/p/worker/0000000003");
	json_t *row = json_loads(unb64(json_object_get(p1, "value")), 0, NULL);
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "expires_ms")), 9);
	json_decref(row);
	const json_t *d = json_object_get(json_array_get(succ, 2), "request_delete_range");
	assert_string_equal(unb64(json_object_get(d, "key")), "/p/node/00000000000000000007");
	json_decref(t);
	/* Two eras of one seq: the last is sent. */
	memset(ops, 0, sizeof ops);
	ops[0].kind = ops[1].kind = STORE_PUT_ERA;
	ops[0].u.era.seq = ops[1].u.era.seq = 5;
	ops[0].u.era.worker = 1;
	ops[1].u.era.worker = 2;
	t = etcd_txn_commit("/p/", 1, ops, 2, 128, &rv, err, sizeof err);
	assert_non_null(t);
	succ = json_object_get(t, "success");
	assert_int_equal(json_array_size(succ), 1);
	p0 = json_object_get(json_array_get(succ, 0), "request_put");
	row = json_loads(unb64(json_object_get(p0, "value")), 0, NULL);
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "worker")), 2);
	json_decref(row);
	json_decref(t);
}

/* migrate's last commit raises the term (store.h STORE_SET_TERM): a bare
 * decimal under P term, as acquire writes it; never lowered or kept. */
/* succ[i] is a delete of the range [key, end). */
static void
assert_del_range(const json_t *succ, size_t i, const char *key, const char *end)
{
	const json_t *d = json_object_get(json_array_get(succ, i), "request_delete_range");
	assert_non_null(d);
	assert_string_equal(unb64(json_object_get(d, "key")), key);
	assert_string_equal(unb64(json_object_get(d, "range_end")), end);
}

/*
 * A trim of the history and eras below its seq in one commit: the ops apply
 * in order (store.h), so an era written before the trim is deleted by it and
 * one written after it stays. etcd refuses a put inside a delete range of
 * the same transaction, in either order: an era before the trim is not
 * sent, and the trim's range is cut around the eras written after it.
 */
static void
test_commit_trim_and_eras_in_order(void **state)
{
	(void) state;
	struct store_op ops[6];
	char err[256];
	int rv;
	memset(ops, 0, sizeof ops);
	ops[0].kind = ops[2].kind = ops[3].kind = ops[4].kind = ops[5].kind = STORE_PUT_ERA;
	ops[1].kind = STORE_TRIM_ERAS;
	ops[0].u.era.seq = 5; /* deleted by the trim after it */
	ops[1].u.era.seq = 9; /* the trim: every era below 9 */
	ops[2].u.era.seq = 3;
	ops[3].u.era.seq = 6;
	ops[4].u.era.seq = 3; /* supersedes ops[2] */
	ops[5].u.era.seq = 7;
	json_t *t = etcd_txn_commit("/p/", 1, ops, 6, 128, &rv, err, sizeof err);
	assert_non_null(t);
	const json_t *succ = json_object_get(t, "success");
	assert_int_equal(json_array_size(succ), 6);
	assert_del_range(succ, 0, "/p/history/", "/p/history/00000000000000000003");
	assert_del_range(succ, 1, "/p/history/00000000000000000004",
	    "/p/history/00000000000000000006");
	/* 6 and 7 are next to each other: no range between them. */
	assert_del_range(succ, 2, "/p/history/00000000000000000008",
	    "/p/history/00000000000000000009");
	static const char *const puts[] = {"/p/history/00000000000000000006",
	    "/p/history/00000000000000000003", "/p/history/00000000000000000007"};
	for (size_t i = 0; i < 3; i++) {
		const json_t *p = json_object_get(json_array_get(succ, 3 + i), "request_put");
		assert_non_null(p);
		assert_string_equal(unb64(json_object_get(p, "key")), puts[i]);
	}
	json_decref(t);
	/* Three ops within a limit of four, but the trim split around two
	 * eras makes five operations: refused here, not by etcd. */
	t = etcd_txn_commit("/p/", 1, ops + 1, 3, 4, &rv, err, sizeof err);
	assert_null(t);
	assert_int_equal(rv, SR_ETOOBIG);
	assert_non_null(strstr(err, "makes 5 etcd operations"));
}

static void
test_commit_set_term(void **state)
{
	(void) state;
	struct store_op op;
	char err[256];
	int rv;
	memset(&op, 0, sizeof op);
	op.kind = STORE_SET_TERM;
	op.u.term = 9;
	json_t *t = etcd_txn_commit("/p/", 4, &op, 1, 128, &rv, err, sizeof err);
	assert_non_null(t);
	const json_t *put =
	    json_object_get(json_array_get(json_object_get(t, "success"), 0), "request_put");
	assert_string_equal(unb64(json_object_get(put, "key")), "/p/term");
	assert_string_equal(unb64(json_object_get(put, "value")), "9");
	json_decref(t);
	op.u.term = 4;
	assert_null(etcd_txn_commit("/p/", 4, &op, 1, 128, &rv, err, sizeof err));
	assert_int_equal(rv, SR_EINVAL);
	assert_non_null(strstr(err, "not above"));
	op.u.term = (uint64_t) INT64_MAX + 1;
	assert_null(etcd_txn_commit("/p/", 4, &op, 1, 128, &rv, err, sizeof err));
	assert_int_equal(rv, SR_EINVAL);
}

static void
test_acquire_txn_shape(void **state)
{
	(void) state;
	json_t *t = etcd_txn_acquire("/p/", 0, 0);
	const json_t *cmp = json_array_get(json_object_get(t, "compare"), 0);
	assert_string_equal(json_string_value(json_object_get(cmp, "target")), "CREATE");
	assert_string_equal(json_string_value(json_object_get(cmp, "create_revision")), "0");
	const json_t *succ = json_object_get(t, "success");
	/* Term first, then the read: the order store.h demands. */
	const json_t *put = json_object_get(json_array_get(succ, 0), "request_put");
	assert_string_equal(unb64(json_object_get(put, "value")), "1");
	const json_t *rr = json_object_get(json_array_get(succ, 1), "request_range");
	assert_string_equal(unb64(json_object_get(rr, "key")), "/p/");
	assert_string_equal(unb64(json_object_get(rr, "range_end")), "/p0");
	json_decref(t);
	t = etcd_txn_acquire("/p/", 1, 9);
	cmp = json_array_get(json_object_get(t, "compare"), 0);
	assert_string_equal(unb64(json_object_get(cmp, "value")), "9");
	put = json_object_get(json_array_get(json_object_get(t, "success"), 0), "request_put");
	assert_string_equal(unb64(json_object_get(put, "value")), "10");
	json_decref(t);
}

static void
test_campaign_txn_shape(void **state)
{
	(void) state;
	json_t *t = etcd_txn_campaign("/p/", "tcp://m1:7400", 7587862345);
	const json_t *cmp = json_array_get(json_object_get(t, "compare"), 0);
	/* Only when no one holds the key. */
	assert_string_equal(json_string_value(json_object_get(cmp, "target")), "CREATE");
	assert_string_equal(unb64(json_object_get(cmp, "key")), "/p/leader");
	const json_t *put =
	    json_object_get(json_array_get(json_object_get(t, "success"), 0), "request_put");
	assert_string_equal(unb64(json_object_get(put, "value")), "tcp://m1:7400");
	/* Under our lease, so that etcd deletes it when the lease ends. */
	assert_string_equal(json_string_value(json_object_get(put, "lease")), "7587862345");
	const json_t *rr =
	    json_object_get(json_array_get(json_object_get(t, "failure"), 0), "request_range");
	assert_string_equal(unb64(json_object_get(rr, "key")), "/p/leader");
	json_decref(t);
}

/* Appends {key, value} (plain strings) to kvs as etcd would return it. */
static void
add_kv(json_t *kvs, const char *key, const char *value)
{
	char k[512], v[1024];
	assert_int_equal(etcd_b64_encode(key, strlen(key), k, sizeof k), SR_OK);
	assert_int_equal(etcd_b64_encode(value, strlen(value), v, sizeof v), SR_OK);
	json_array_append_new(kvs,
	    json_pack("{ssssss}", "key", k, "value", v, "mod_revision", "5"));
}

/* A commit's rows, read back through etcd_decode_state, are the rows. */
static void
test_rows_round_trip(void **state)
{
	(void) state;
	struct store_op ops[6];
	char err[256];
	int rv;
	memset(ops, 0, sizeof ops);
	ops[0].kind = STORE_PUT_SEQ;
	struct store_seq *q = &ops[0].u.seq;
	snprintf(q->name, sizeof q->name, "a.b-c_9");
	*q = (struct store_seq) {.start = 5,
	    .hwm = INT64_MAX,
	    .chunk = 3,
	    .min_chunk = 1,
	    .max_chunk = 1 << 20,
	    .max_value = INT64_MAX,
	    .spare = 2,
	    .mode = STORE_MODE_BLOCK,
	    .dropped = 1,
	    .prefetch = 0};
	snprintf(q->name, sizeof q->name, "a.b-c_9");
	ops[1].kind = STORE_PUT_NODE;
	ops[1].u.node = (struct store_node) {.id = 12, .last_seen_ms = -3, .left = 1};
	snprintf(ops[1].u.node.name, sizeof ops[1].u.node.name, "n\"1");
	snprintf(ops[1].u.node.url, sizeof ops[1].u.node.url, "tcp://h:1");
	ops[2].kind = STORE_PUT_WORKER;
	ops[2].u.worker = (struct store_worker) {.id = 1023,
	    .node_id = 12,
	    .expires_ms = 1700000000000,
	    .last_tick = 99};
	ops[3].kind = STORE_PUT_LAYOUT;
	ops[3].u.layout = (sr_flake_layout) {41, 10, 12, 1, 1704067200000};
	ops[4].kind = STORE_PUT_ERA;
	ops[4].u.era = (struct store_era) {.seq = 8,
	    .worker = 1023,
	    .node_id = 12,
	    .floor_tick = INT64_MAX,
	    .granted_ms = -5,
	    .name = "n\"1"};
	ops[5].kind = STORE_TRIM_ERAS;
	ops[5].u.era.seq = 7;
	json_t *t = etcd_txn_commit("/p/", 3, ops, 6, 128, &rv, err, sizeof err);
	assert_non_null(t);
	json_t *kvs = json_array();
	add_kv(kvs, "/p/leader", "tcp://x");
	add_kv(kvs, "/p/term", "3");
	const json_t *succ = json_object_get(t, "success");
	for (size_t i = 0; i < 5; i++) {
		const json_t *p = json_object_get(json_array_get(succ, i), "request_put");
		char k[1024];
		snprintf(k, sizeof k, "%s", unb64(json_object_get(p, "key")));
		add_kv(kvs, k, unb64(json_object_get(p, "value")));
	}
	struct store_state st;
	memset(&st, 0, sizeof st);
	assert_int_equal(etcd_decode_state("/p/", kvs, &st, err, sizeof err), SR_OK);
	assert_int_equal(st.term, 3);
	assert_int_equal(st.nseqs, 1);
	assert_memory_equal(&st.seqs[0], q, sizeof *q);
	assert_int_equal(st.nnodes, 1);
	assert_memory_equal(&st.nodes[0], &ops[1].u.node, sizeof ops[1].u.node);
	assert_int_equal(st.nworkers, 1);
	assert_memory_equal(&st.workers[0], &ops[2].u.worker, sizeof ops[2].u.worker);
	assert_memory_equal(&st.layout, &ops[3].u.layout, sizeof st.layout);
	assert_int_equal(st.neras, 1);
	assert_int_equal(st.eras[0].seq, 8);
	assert_int_equal(st.eras[0].worker, 1023);
	assert_int_equal(st.eras[0].node_id, 12);
	assert_int_equal(st.eras[0].floor_tick, INT64_MAX);
	assert_int_equal(st.eras[0].granted_ms, -5);
	assert_string_equal(st.eras[0].name, "n\"1");
	/* The era's key sorts by seq; a trim deletes the range of keys below
	 * the first era kept. */
	const json_t *p4 = json_object_get(json_array_get(succ, 4), "request_put");
	assert_string_equal(unb64(json_object_get(p4, "key")), "/p/history/00000000000000000008");
	const json_t *d5 = json_object_get(json_array_get(succ, 5), "request_delete_range");
	assert_non_null(d5);
	assert_string_equal(unb64(json_object_get(d5, "key")), "/p/history/");
	assert_string_equal(unb64(json_object_get(d5, "range_end")),
	    "/p/history/00000000000000000007");
	store_state_free(&st);
	json_decref(kvs);
	json_decref(t);
}

/* A key or value this code did not write is refused with its name, never
 * read as something else. */
static void
test_decode_refuses_foreign(void **state)
{
	(void) state;
	static const char *const bad[][2] = {
	    {"/p/seq/x", "{\"hwm\": 1}"}, /* missing fields */
	    {"/p/seq/x", "not json"},
	    {"/p/seq/X!", "{}"}, /* bad name */
	    {"/p/node/12", "{\"name\":\"a\",\"url\":\"\",\"last_seen_ms\":0,\"left\":0}"},
	    {"/p/worker/0000000001", "{\"node_id\":-1,\"expires_ms\":0,\"last_tick\":0}"},
	    {"/p/history/12",
	        "{\"worker\":0,\"node_id\":1,\"floor_tick\":0,"
	        "\"granted_ms\":0,\"name\":\"a\"}"}, /* short seq */
	    {"/p/history/00000000000000000001", "{\"worker\":0,\"node_id\":1}"},
	    {"/p/other", "{}"},
	    {"/p/term", "-1"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *kvs = json_array();
		struct store_state st;
		char err[256] = "";
		memset(&st, 0, sizeof st);
		add_kv(kvs, bad[i][0], bad[i][1]);
		assert_int_equal(etcd_decode_state("/p/", kvs, &st, err, sizeof err), SR_EIO);
		assert_non_null(strstr(err, bad[i][0]));
		store_state_free(&st);
		json_decref(kvs);
	}
}

static void
test_reply_helpers(void **state)
{
	(void) state;
	char err[256];
	int64_t v;
	json_t *r =
	    json_loads("{\"error\":\"etcdserver: too many operations in txn "
	               "request\",\"message\":\"etcdserver: too many operations in txn request\","
	               "\"code\":3}",
	        0, NULL);
	assert_int_equal(etcd_reply_error(r, err, sizeof err), SR_EIO);
	assert_non_null(strstr(err, "too many operations"));
	json_decref(r);
	r = json_loads("{\"header\":{\"revision\":\"12\"},\"ID\":\"-5\",\"TTL\":7,"
	               "\"bad\":\"1x\",\"responses\":[{\"response_put\":{}}]}",
	    0, NULL);
	assert_int_equal(etcd_reply_error(r, err, sizeof err), SR_OK);
	assert_int_equal(etcd_get_i64(json_object_get(r, "header"), "revision", &v), SR_OK);
	assert_int_equal(v, 12);
	assert_int_equal(etcd_get_i64(r, "ID", &v), SR_OK);
	assert_int_equal(v, -5);
	assert_int_equal(etcd_get_i64(r, "TTL", &v), SR_OK);
	assert_int_equal(v, 7);
	assert_int_equal(etcd_get_i64(r, "absent", &v), SR_OK);
	assert_int_equal(v, 0);
	assert_int_equal(etcd_get_i64(r, "bad", &v), SR_EPROTO);
	/* "succeeded" is left out when false; kvs of a put is empty. */
	assert_false(etcd_txn_succeeded(r));
	assert_int_equal(json_array_size(etcd_reply_kvs(r, 0)), 0);
	assert_int_equal(json_array_size(etcd_reply_kvs(r, 5)), 0);
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64_round_trip),
	    cmocka_unit_test(test_b64_refuses_junk),
	    cmocka_unit_test(test_url_parse),
	    cmocka_unit_test(test_prefix_end),
	    cmocka_unit_test(test_commit_txn_shape),
	    cmocka_unit_test(test_commit_txn_refusals),
	    cmocka_unit_test(test_commit_same_key_last_wins),
	    cmocka_unit_test(test_commit_trim_and_eras_in_order),
	    cmocka_unit_test(test_commit_set_term),
	    cmocka_unit_test(test_acquire_txn_shape),
	    cmocka_unit_test(test_campaign_txn_shape),
	    cmocka_unit_test(test_rows_round_trip),
	    cmocka_unit_test(test_decode_refuses_foreign),
	    cmocka_unit_test(test_reply_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
