/*
 * RESP (the Redis protocol, version 2), pure: the request parser and the
 * reply encoders of the coordinator daemon's RESP port
 * (coordinator/resp_server.c, docs/protocol.md). No sockets, no allocation
 * in the parser; the fuzz target tests/fuzz/fuzz_resp.c and
 * tests/unit/test_resp.c drive it with bytes.
 *
 * A request is an array of bulk strings (`*2\r\n$4\r\nINCR\r\n$3\r\nfoo\r\n`,
 * what every client library and redis-cli send), or an inline command (one
 * line of words separated by spaces, for telnet). Everything else (a nested
 * array, an integer, a simple string as an argument) is a protocol error.
 * Limits are checked on the headers, before the bytes they announce arrive,
 * so that a client announcing a huge bulk string is refused at once instead
 * of being buffered for: no command of this port needs more than a few
 * hundred bytes (a sequence name is 64, a token 256).
 */
#ifndef SR_RESP_H
#define SR_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most arguments of one request, the command name included. */
#define RESP_MAX_ARGS 8
/* Most bytes of one argument. */
#define RESP_MAX_ARG 512
/* Most bytes of one inline command line, the line end included. */
#define RESP_MAX_INLINE 1024
/* Most bytes one whole request can take (array and bulk headers of at most
 * 24 bytes each, plus the arguments and their line ends): a connection never
 * needs to buffer more than this of an unfinished request. */
#define RESP_MAX_FRAME (24 + RESP_MAX_ARGS * (24 + RESP_MAX_ARG + 2))

struct resp_arg {
	const char *p; /* into the parsed buffer, not NUL-terminated */
	size_t len;
};

struct resp_cmd {
	size_t argc; /* 0: an empty request (`*0`, a blank line): nothing to do */
	struct resp_arg argv[RESP_MAX_ARGS];
};

enum resp_status {
	RESP_OK = 0,   /* one request parsed, *used bytes of it */
	RESP_MORE = 1, /* a valid but unfinished request: read more bytes */
	RESP_BAD = -1  /* a protocol error: reply it, then close */
};

/*
 * Parses the first request in buf[0..len). On RESP_OK fills cmd (pointing
 * into buf) and *used. On RESP_BAD writes a message for the client (without
 * the "ERR " prefix) to errbuf. RESP_MORE is returned only while the bytes
 * seen are a prefix of a request within the limits above, so a caller that
 * keeps at most RESP_MAX_FRAME unfinished bytes never has to refuse a valid
 * request.
 */
enum resp_status resp_parse(const char *buf, size_t len, struct resp_cmd *cmd, size_t *used,
    char *errbuf, size_t errlen);

/* True when a equals the NUL-terminated s, ignoring ASCII case (command
 * names are case-insensitive in Redis). */
bool resp_arg_is(const struct resp_arg *a, const char *s);

/* Reads a as a decimal integer: an optional '-' then 1..19 digits, nothing
 * else, in int64 range. False otherwise. */
bool resp_arg_i64(const struct resp_arg *a, int64_t *out);

/* Reads a as a decimal unsigned integer (1..20 digits, in uint64 range). */
bool resp_arg_u64(const struct resp_arg *a, uint64_t *out);

/* ---- replies ---- */

/* A growing output buffer. A failed allocation sets oom and drops what was
 * being added; the caller closes the connection. */
struct resp_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void resp_buf_free(struct resp_buf *b);
/* Makes room for n more bytes; false (and oom) when it cannot. */
bool resp_buf_reserve(struct resp_buf *b, size_t n);
void resp_put_raw(struct resp_buf *b, const char *s, size_t n);
/* +s\r\n; s must not hold CR or LF. */
void resp_put_simple(struct resp_buf *b, const char *s);
/* -s\r\n: s starts with the error code ("ERR ...", "NOAUTH ..."); CR and LF
 * in it are replaced by spaces. */
void resp_put_error(struct resp_buf *b, const char *s);
void resp_put_int(struct resp_buf *b, int64_t v);
/* An unsigned value as an integer reply (IDs are below 2^63). */
void resp_put_uint(struct resp_buf *b, uint64_t v);
void resp_put_bulk(struct resp_buf *b, const char *s, size_t n);
void resp_put_array(struct resp_buf *b, size_t n);

#endif
