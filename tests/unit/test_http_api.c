/*
 * The HTTP API without sockets (common/http_api.c, strbuf.c): routing,
 * count and parameter checks, role checks before argument checks, JSON
 * bodies with IDs as strings and escaped messages, the error-to-status
 * table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "creds.h"
#include "flake.h"
#include "http_api.h"
#include "snowrange/error.h"
#include "strbuf.h"

/* What the fake handler saw. */
static struct {
	int calls;
	struct httpapi_req req;
} seen;

static void
fake(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	(void) arg;
	seen.calls++;
	seen.req = *req;
	strbuf_puts(&resp->body, "{}");
}

static const struct httpapi_route routes[] = {
    {HTTPAPI_GET | HTTPAPI_POST, "/v1/sequences/{seq}/ids", CREDS_CLIENT | CREDS_ADMIN,
        HTTPAPI_MAX_COUNT, fake},
    {HTTPAPI_GET, "/v1/sequences/{seq}/segments", CREDS_CLIENT, 1048576, fake},
    {HTTPAPI_GET, "/v1/decode/{id}", CREDS_READER, 0, fake},
    {HTTPAPI_GET, "/healthz", HTTPAPI_OPEN, 0, fake},
    {HTTPAPI_GET, "/", HTTPAPI_OPEN, 0, fake},
};
#define NR (sizeof(routes) / sizeof(routes[0]))

/* Dispatches and returns the status; the body stays in resp (freed by
 * the caller through done()). */
static struct httpapi_resp resp;

static int
go(const char *method, const char *path, const char *count, unsigned roles)
{
	strbuf_free(&resp.body);
	memset(&resp, 0, sizeof(resp));
	memset(&seen, 0, sizeof(seen));
	httpapi_dispatch(routes, NR, NULL, method, path, count, roles, &resp);
	return resp.status;
}

static void
body_has(const char *s)
{
	if (resp.body.p == NULL || strstr(resp.body.p, s) == NULL)
		fail_msg("body '%s' lacks '%s'", resp.body.p ? resp.body.p : "", s);
}

static void
test_routes(void **state)
{
	(void) state;
	assert_int_equal(go("GET", "/v1/sequences/orders/ids", "5", CREDS_CLIENT), 200);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.req.seq, "orders");
	assert_int_equal(seen.req.count, 5);
	assert_int_equal(seen.req.method, HTTPAPI_GET);
	assert_int_equal(go("POST", "/v1/sequences/a.b-c_9/ids", NULL, CREDS_ADMIN), 200);
	assert_int_equal(seen.req.count, 1); /* no count: one */
	assert_int_equal(seen.req.method, HTTPAPI_POST);
	assert_int_equal(go("HEAD", "/healthz", NULL, 0), 200);
	assert_int_equal(go("GET", "/", NULL, 0), 200);
	assert_int_equal(go("GET", "/v1/decode/386640268780109825", NULL, CREDS_READER), 200);
	assert_true(seen.req.id == 386640268780109825ull);
	/* No such path: a trailing slash, an extra or missing segment,
	 * traversal left after percent-decoding, an empty segment. */
	const char *nf[] = {"/healthz/", "/v1/sequences/orders/ids/x", "/v1/sequences/ids",
	    "/v1/sequences/../../etc/ids", "/../../etc/passwd", "//healthz", "", "/HEALTHZ",
	    "/healthz\n"};
	for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
		if (go("GET", nf[i], NULL, CREDS_ALL) != 404)
			fail_msg("'%s' gave %d, not 404", nf[i], resp.status);
		assert_int_equal(seen.calls, 0);
		body_has("\"code\":\"ENOTFOUND\"");
	}
	/* An empty name is a bad name. */
	assert_int_equal(go("GET", "/v1/sequences//ids", NULL, CREDS_ALL), 400);
	assert_int_equal(go("DELETE", "/healthz", NULL, CREDS_ALL), 405);
	assert_int_equal(go("POST", "/healthz", NULL, CREDS_ALL), 405);
	assert_int_equal(go("PUT", "/v1/sequences/x/ids", NULL, CREDS_ALL), 405);
	assert_int_equal(seen.calls, 0);
}

static void
test_count(void **state)
{
	(void) state;
	const char *bad[] = {"0", "-1", "+1", " 1", "1 ", "1e3", "0x10", "", "65537",
	    "99999999999999999999999", "18446744073709551617", "abc", "1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (go("GET", "/v1/sequences/orders/ids", bad[i], CREDS_CLIENT) != 400)
			fail_msg("count '%s' gave %d, not 400", bad[i], resp.status);
		assert_int_equal(seen.calls, 0);
		body_has("\"code\":\"EINVAL\"");
		body_has("1..65536");
	}
	assert_int_equal(go("GET", "/v1/sequences/orders/ids", "65536", CREDS_CLIENT), 200);
	assert_int_equal(seen.req.count, 65536);
	assert_int_equal(go("GET", "/v1/sequences/orders/ids", "007", CREDS_CLIENT), 200);
	assert_int_equal(seen.req.count, 7);
	/* Each route has its own cap: segments take up to 2^20. */
	assert_int_equal(go("GET", "/v1/sequences/o/segments", "1048576", CREDS_CLIENT), 200);
	assert_int_equal(seen.req.count, 1048576);
	assert_int_equal(go("GET", "/v1/sequences/o/segments", "1048577", CREDS_CLIENT), 400);
	body_has("1..1048576");
}

static void
test_params(void **state)
{
	(void) state;
	char longname[200];
	memset(longname, 'a', sizeof(longname));
	longname[199] = '\0';
	char path[300];
	snprintf(path, sizeof(path), "/v1/sequences/%s/ids", longname);
	assert_int_equal(go("GET", path, NULL, CREDS_CLIENT), 400);
	body_has("too long");
	assert_int_equal(go("GET", "/v1/sequences/Orders/ids", NULL, CREDS_CLIENT), 400);
	body_has("invalid sequence name");
	/* A name with a quote or a control byte is echoed escaped, so the
	 * body stays one valid JSON object. */
	assert_int_equal(go("GET", "/v1/sequences/a\"b\x01/ids", NULL, CREDS_CLIENT), 400);
	body_has("a\\\"b\\u0001");
	const char *ids[] = {"0", "-1", "x", "9223372036854775808", "18446744073709551615", "1e5"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(path, sizeof(path), "/v1/decode/%s", ids[i]);
		if (go("GET", path, NULL, CREDS_READER) != 400)
			fail_msg("decode '%s' gave %d, not 400", ids[i], resp.status);
	}
	assert_int_equal(go("GET", "/v1/decode/9223372036854775807", NULL, CREDS_READER), 200);
}

static void
test_roles(void **state)
{
	(void) state;
	/* No token: 401 with a challenge, before any argument check. */
	assert_int_equal(go("GET", "/v1/sequences/BAD/ids", "0", 0), 401);
	assert_int_equal(resp.auth_challenge, 1);
	body_has("\"code\":\"EACCES\"");
	assert_int_equal(seen.calls, 0);
	/* A token of another role: 403, naming the roles, not the token. */
	assert_int_equal(go("GET", "/v1/sequences/orders/ids", NULL, CREDS_READER), 403);
	body_has("client or admin");
	assert_int_equal(go("GET", "/v1/sequences/orders/ids", NULL, CREDS_NODE), 403);
	assert_int_equal(go("GET", "/v1/decode/5", NULL, CREDS_CLIENT), 403);
	assert_int_equal(seen.calls, 0);
	/* Open routes need nothing. */
	assert_int_equal(go("GET", "/healthz", NULL, 0), 200);
}

static void
test_status_table(void **state)
{
	(void) state;
	assert_int_equal(httpapi_status_of(SR_OK), 200);
	assert_int_equal(httpapi_status_of(SR_EINVAL), 400);
	assert_int_equal(httpapi_status_of(SR_ENOTFOUND), 404);
	assert_int_equal(httpapi_status_of(SR_EEXHAUSTED), 410);
	assert_int_equal(httpapi_status_of(SR_ETOOBIG), 413);
	assert_int_equal(httpapi_status_of(SR_EUNAVAILABLE), 503);
	assert_int_equal(httpapi_status_of(SR_ENOWORKER), 503);
	assert_int_equal(httpapi_status_of(SR_ECLOCK), 503);
	assert_int_equal(httpapi_status_of(SR_ETIMEDOUT), 504);
	assert_int_equal(httpapi_status_of(SR_EIO), 500);
	assert_int_equal(httpapi_status_of(12345), 500);
	struct httpapi_resp r = {0};
	httpapi_error(&r, 0, SR_EUNAVAILABLE, "orders: %s", "down");
	assert_int_equal(r.status, 503);
	assert_int_equal(r.retry_after_s, 1);
	assert_string_equal(r.body.p,
	    "{\"error\":{\"code\":\"EUNAVAILABLE\",\"errno\":7,"
	    "\"message\":\"orders: down\"}}\n");
	strbuf_free(&r.body);
}

static void
test_json(void **state)
{
	(void) state;
	struct strbuf b;
	strbuf_init(&b);
	/* The two values of the issue that JavaScript numbers get wrong. */
	uint64_t ids[] = {386640268780109825ull, 9223372036854775807ull};
	httpapi_ids_json(&b, "orders", "c1", 7, ids, 2);
	assert_string_equal(b.p,
	    "{\"sequence\":\"orders\",\"node\":\"c1\",\"node_id\":\"7\","
	    "\"ids\":[\"386640268780109825\",\"9223372036854775807\"]}\n");
	strbuf_reset(&b);
	httpapi_txids_json(&b, "c1", 7, 3, ids, 1);
	assert_string_equal(b.p,
	    "{\"node\":\"c1\",\"node_id\":\"7\",\"worker\":3,"
	    "\"txids\":[\"386640268780109825\"]}\n");
	strbuf_reset(&b);
	sr_id_segment segs[2] = {{1001, 4, 250}, {9223372036854775000ull, 1, 7}};
	httpapi_segments_json(&b, "orders", "c1", 7, segs, 2);
	assert_string_equal(b.p,
	    "{\"sequence\":\"orders\",\"node\":\"c1\",\"node_id\":\"7\","
	    "\"segments\":[{\"first\":\"1001\",\"step\":\"4\",\"count\":250},"
	    "{\"first\":\"9223372036854775000\",\"step\":\"1\",\"count\":7}]}\n");
	strbuf_reset(&b);
	sr_flake_layout l;
	flake_layout_default(&l);
	uint64_t id = flake_encode(&l, 1000, 5, 9);
	httpapi_decode_json(&b, &l, id);
	assert_non_null(strstr(b.p, "\"tick\":\"1000\",\"worker\":5,\"seq\":9"));
	assert_non_null(strstr(b.p, "\"time\":\"2024-01-01T00:00:01.000Z\""));
	strbuf_reset(&b);
	strbuf_json_str(&b, "q\"b\\s\n\x7f\xc3\xa9");
	assert_string_equal(b.p, "\"q\\\"b\\\\s\\u000a\\u007f\xc3\xa9\"");
	/* Growth past the first allocation, and take. */
	strbuf_reset(&b);
	for (int i = 0; i < 10000; i++)
		strbuf_printf(&b, "%d,", i);
	size_t len;
	char *p = strbuf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, strlen(p));
	assert_true(len > 40000);
	free(p);
	assert_null(b.p);
	strbuf_free(&b);
}

/* %00 stays literal, so a NUL cannot cut an argument or a path short
 * (count=1%00 was read as 1 before). */
static void
test_unescape(void **state)
{
	(void) state;
	char a[] = "/v1/sequences/..%2F..%2Fetc/ids";
	assert_int_equal(httpapi_unescape(a), strlen("/v1/sequences/../../etc/ids"));
	assert_string_equal(a, "/v1/sequences/../../etc/ids");
	char b[] = "1%00";
	assert_int_equal(httpapi_unescape(b), 4);
	assert_string_equal(b, "1%00");
	assert_int_equal(go("GET", "/v1/sequences/orders/ids", b, CREDS_CLIENT), 400);
	char c[] = "/healthz%00junk";
	httpapi_unescape(c);
	assert_int_equal(go("GET", c, NULL, 0), 404);
	char d[] = "%4%zz%%41%4a%";
	httpapi_unescape(d);
	assert_string_equal(d, "%4%zz%AJ%");
}

static int
teardown(void **state)
{
	(void) state;
	strbuf_free(&resp.body);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_routes, teardown),
	    cmocka_unit_test_teardown(test_count, teardown),
	    cmocka_unit_test_teardown(test_params, teardown),
	    cmocka_unit_test_teardown(test_roles, teardown),
	    cmocka_unit_test_teardown(test_unescape, teardown),
	    cmocka_unit_test(test_status_table),
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
