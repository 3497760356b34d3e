/* Unit tests for the RESP parser and reply encoders (coordinator/resp.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

static enum resp_status
parse(const char *s, size_t len, struct resp_cmd *cmd, size_t *used, char *err)
{
	return resp_parse(s, len, cmd, used, err, 160);
}

static void
assert_arg(const struct resp_cmd *cmd, size_t i, const char *want)
{
	assert_true(i < cmd->argc);
	assert_int_equal(cmd->argv[i].len, strlen(want));
	assert_memory_equal(cmd->argv[i].p, want, strlen(want));
}

/* What redis-cli and every client library send. */
static void
test_multibulk(void **state)
{
	(void) state;
	struct resp_cmd cmd;
	size_t used;
	char err[160];
	const char *s = "*3\r\n$7\r\nSR.NEXT\r\n$6\r\norders\r\n$2\r\n10\r\n";
	assert_int_equal(parse(s, strlen(s), &cmd, &used, err), RESP_OK);
	assert_int_equal(used, strlen(s));
	assert_int_equal(cmd.argc, 3);
	assert_arg(&cmd, 0, "SR.NEXT");
	assert_arg(&cmd, 1, "orders");
	assert_arg(&cmd, 2, "10");
	/* Binary-safe: a bulk string may hold CR, LF and NUL. */
	const char b[] = "*1\r\n$3\r\na\r\0\r\n";
	assert_int_equal(parse(b, sizeof(b) - 1, &cmd, &used, err), RESP_OK);
	assert_int_equal(cmd.argv[0].len, 3);
	assert_memory_equal(cmd.argv[0].p, "a\r\0", 3);
	/* Empty and null arrays are nothing to do, as in Redis. */
	assert_int_equal(parse("*0\r\n", 4, &cmd, &used, err), RESP_OK);
	assert_int_equal(cmd.argc, 0);
	assert_int_equal(used, 4);
	assert_int_equal(parse("*-1\r\n", 5, &cmd, &used, err), RESP_OK);
	assert_int_equal(cmd.argc, 0);
}

/* Pipelining: requests back to back, each parsed in turn. */
static void
test_pipeline(void **state)
{
	(void) state;
	struct resp_cmd cmd;
	size_t used, pos = 0, n = 0;
	char err[160];
	const char *s = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nPING\r\n";
	size_t len = strlen(s);
	while (pos < len) {
		assert_int_equal(parse(s + pos, len - pos, &cmd, &used, err), RESP_OK);
		pos += used;
		n++;
	}
	assert_int_equal(n, 3);
	assert_arg(&cmd, 0, "PING");
}

/* Every prefix of a whole request asks for more: a request split anywhere
 * across reads (a slow sender, a small socket buffer) is parsed whole. */
static void
test_partial(void **state)
{
	(void) state;
	struct resp_cmd cmd;
	size_t used;
	char err[160];
	const char *reqs[] = {"*3\r\n$7\r\nSR.NEXT\r\n$6\r\norders\r\n$2\r\n10\r\n",
	    "INCR bench\r\n", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"};
	for (size_t r = 0; r < 3; r++) {
		size_t len = strlen(reqs[r]);
		for (size_t k = 0; k < len; k++)
			assert_int_equal(parse(reqs[r], k, &cmd, &used, err), RESP_MORE);
		assert_int_equal(parse(reqs[r], len, &cmd, &used, err), RESP_OK);
		assert_int_equal(used, len);
	}
}

/* Inline commands (telnet): words split on blanks, CRLF or LF. */
static void
test_inline(void **state)
{
	(void) state;
	struct resp_cmd cmd;
	size_t used;
	char err[160];
	const char *s = "  SR.NEXT\torders  5 \n";
	assert_int_equal(parse(s, strlen(s), &cmd, &used, err), RESP_OK);
	assert_int_equal(used, strlen(s));
	assert_int_equal(cmd.argc, 3);
	assert_arg(&cmd, 2, "5");
	assert_int_equal(parse("\r\n", 2, &cmd, &used, err), RESP_OK);
	assert_int_equal(cmd.argc, 0);
	assert_int_equal(parse("a b c d e f g h i\r\n", 19, &cmd, &used, err), RESP_BAD);
	assert_non_null(strstr(err, "more than 8 arguments"));
	/* A line that never ends is refused at the inline limit. */
	char *line = malloc(RESP_MAX_INLINE + 1);
	assert_non_null(line);
	memset(line, 'a', RESP_MAX_INLINE + 1);
	assert_int_equal(parse(line, RESP_MAX_INLINE - 1, &cmd, &used, err), RESP_MORE);
	assert_int_equal(parse(line, RESP_MAX_INLINE, &cmd, &used, err), RESP_BAD);
	assert_non_null(strstr(err, "inline command longer"));
	/* A word longer than an argument may be. */
	line[RESP_MAX_INLINE - 1] = '\n';
	assert_int_equal(parse(line, RESP_MAX_INLINE, &cmd, &used, err), RESP_BAD);
	assert_non_null(strstr(err, "argument longer"));
	free(line);
}

/* The attacks of docs/security.md, refused on their headers, before the
 * bytes they announce arrive. */
static void
test_refused(void **state)
{
	(void) state;
	struct resp_cmd cmd;
	size_t used;
	char err[160];
	static const struct {
		const char *in, *msg;
	} cases[] = {
	    {"*2\r\n$4\r\nINCR\r\n$99999999999\r\n", "bulk string of 99999999999 bytes"},
	    {"*2\r\n$4\r\nINCR\r\n$99999999999999999999999\r\n", "invalid bulk length"},
	    {"*2\r\n$4\r\nINCR\r\n$513\r\n", "bulk string of 513 bytes"},
	    {"*2\r\n$4\r\nINCR\r\n$-1\r\n", "invalid bulk length"},
	    {"*2\r\n$4\r\nINCR\r\n$x\r\n", "invalid bulk length"},
	    {"*2\r\n$4\r\nINCR\r\n$\r\n", "invalid bulk length"},
	    {"*1000000\r\n", "1000000 arguments, at most 8"},
	    {"*9\r\n", "9 arguments, at most 8"},
	    {"*abc\r\n", "invalid multibulk length"},
	    {"*\r\n", "invalid multibulk length"},
	    {"*2\r\n*1\r\n$4\r\nPING\r\n", "expected '$', got '*'"},
	    {"*2\r\n$4\r\nINCR\r\n:5\r\n", "expected '$', got ':'"},
	    {"*1\r\n$4\r\nPINGxx", "not followed by CRLF"},
	    {"*1\r\n$4\r\nPING\rx", "not followed by CRLF"},
	    {"*1\r\n$4\r\nPINGx", "not followed by CRLF"},
	    {"*1111111111111111111111111111", "invalid multibulk length"},
	    {"*1\r\n$11111111111111111111111111", "invalid bulk length"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		enum resp_status r = parse(cases[i].in, strlen(cases[i].in), &cmd, &used, err);
		if (r != RESP_BAD || strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: status %d, message '%s', want '%s'", i, (int) r, err,
			    cases[i].msg);
	}
	/* A request at every limit is accepted. */
	char *big = malloc(RESP_MAX_FRAME);
	assert_non_null(big);
	size_t n = (size_t) snprintf(big, RESP_MAX_FRAME, "*%d\r\n", RESP_MAX_ARGS);
	for (int i = 0; i < RESP_MAX_ARGS; i++) {
		n += (size_t) snprintf(big + n, RESP_MAX_FRAME - n, "$%d\r\n", RESP_MAX_ARG);
		memset(big + n, 'x', RESP_MAX_ARG);
		n += RESP_MAX_ARG;
		memcpy(big + n, "\r\n", 2);
		n += 2;
	}
	assert_true(n <= RESP_MAX_FRAME);
	assert_int_equal(parse(big, n, &cmd, &used, err), RESP_OK);
	assert_int_equal(used, n);
	assert_int_equal(cmd.argc, RESP_MAX_ARGS);
	free(big);
}

static void
test_numbers(void **state)
{
	(void) state;
	int64_t v;
	uint64_t u;
	struct resp_arg a;
#define ARG(s) (a.p = (s), a.len = strlen(s), &a)
	assert_true(resp_arg_i64(ARG("42"), &v));
	assert_int_equal(v, 42);
	assert_true(resp_arg_i64(ARG("-1"), &v));
	assert_int_equal(v, -1);
	assert_true(resp_arg_i64(ARG("-9223372036854775808"), &v));
	assert_true(v == INT64_MIN);
	assert_true(resp_arg_i64(ARG("9223372036854775807"), &v));
	assert_false(resp_arg_i64(ARG("9223372036854775808"), &v));
	assert_false(resp_arg_i64(ARG("-9223372036854775809"), &v));
	assert_false(resp_arg_i64(ARG(""), &v));
	assert_false(resp_arg_i64(ARG("-"), &v));
	assert_false(resp_arg_i64(ARG("1x"), &v));
	assert_false(resp_arg_i64(ARG(" 1"), &v));
	assert_false(resp_arg_i64(ARG("+1"), &v));
	assert_true(resp_arg_u64(ARG("18446744073709551615"), &u));
	assert_true(u == UINT64_MAX);
	assert_false(resp_arg_u64(ARG("18446744073709551616"), &u));
	assert_false(resp_arg_u64(ARG("-1"), &u));
	assert_true(resp_arg_is(ARG("incr"), "INCR"));
	assert_true(resp_arg_is(ARG("Sr.Next"), "SR.NEXT"));
	assert_false(resp_arg_is(ARG("INCRBY"), "INCR"));
#undef ARG
}

static void
test_replies(void **state)
{
	(void) state;
	struct resp_buf b = {0};
	resp_put_simple(&b, "OK");
	resp_put_error(&b, "ERR two\r\nlines");
	resp_put_int(&b, -5);
	resp_put_int(&b, INT64_MIN);
	resp_put_uint(&b, UINT64_MAX);
	resp_put_bulk(&b, "hi", 2);
	resp_put_bulk(&b, "", 0);
	resp_put_array(&b, 2);
	resp_put_uint(&b, 0);
	const char *want = "+OK\r\n-ERR two  lines\r\n:-5\r\n:-9223372036854775808\r\n"
	                   ":18446744073709551615\r\n$2\r\nhi\r\n$0\r\n\r\n*2\r\n:0\r\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.p, want, b.len);
	assert_false(b.oom);
	/* Growing past the first allocation keeps what was written. */
	for (int i = 0; i < 10000; i++)
		resp_put_uint(&b, (uint64_t) i);
	assert_memory_equal(b.p, want, strlen(want));
	resp_buf_free(&b);
	resp_buf_free(&b); /* twice is harmless */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multibulk),
	    cmocka_unit_test(test_pipeline),
	    cmocka_unit_test(test_partial),
	    cmocka_unit_test(test_inline),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
