/*
 * RESP request parser and reply encoders, pure (coordinator/resp.h says what
 * is accepted and why the limits are checked on the headers).
 */
#include "resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A header line ("*3", "$512") is at most this long, its CRLF included. */
#define HDR_MAX 24

/* Finds "\r\n" in p[0..n) within the first max bytes. Returns its offset,
 * -1 when the bytes end first (more may come), -2 when max bytes hold none. */
static long
find_crlf(const char *p, size_t n, size_t max)
{
	size_t lim = n < max ? n : max;
	for (size_t i = 0; i + 1 < lim; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return (long) i;
	return n < max ? -1 : -2;
}

/* A header's number: an optional '-' and 1..18 digits, nothing else. */
static bool
parse_num(const char *p, size_t n, long long *out)
{
	bool neg = false;
	if (n > 0 && p[0] == '-') {
		neg = true;
		p++;
		n--;
	}
	if (n == 0 || n > 18)
		return false;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

static enum resp_status
bad(char *errbuf, size_t errlen, const char *msg, int c)
{
	if (c < 0)
		snprintf(errbuf, errlen, "Protocol error: %s", msg);
	else if (c >= 0x21 && c < 0x7f)
		snprintf(errbuf, errlen, "Protocol error: %s, got '%c'", msg, c);
	else
		snprintf(errbuf, errlen, "Protocol error: %s, got byte 0x%02x", msg, c);
	return RESP_BAD;
}

static enum resp_status
parse_inline(const char *buf, size_t len, struct resp_cmd *cmd, size_t *used, char *errbuf,
    size_t errlen)
{
	const char *nl = memchr(buf, '\n', len < RESP_MAX_INLINE ? len : RESP_MAX_INLINE);
	if (nl == NULL) {
		if (len < RESP_MAX_INLINE)
			return RESP_MORE;
		snprintf(errbuf, errlen, "Protocol error: inline command longer than %d bytes",
		    RESP_MAX_INLINE);
		return RESP_BAD;
	}
	size_t end = (size_t) (nl - buf);
	*used = end + 1;
	if (end > 0 && buf[end - 1] == '\r')
		end--;
	cmd->argc = 0;
	size_t i = 0;
	while (i < end) {
		while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		if (i == end)
			break;
		size_t start = i;
		while (i < end && buf[i] != ' ' && buf[i] != '\t')
			i++;
		if (cmd->argc == RESP_MAX_ARGS) {
			snprintf(errbuf, errlen, "Protocol error: more than %d arguments",
			    RESP_MAX_ARGS);
			return RESP_BAD;
		}
		if (i - start > RESP_MAX_ARG) {
			snprintf(errbuf, errlen, "Protocol error: argument longer than %d bytes",
			    RESP_MAX_ARG);
			return RESP_BAD;
		}
		cmd->argv[cmd->argc].p = buf + start;
		cmd->argv[cmd->argc].len = i - start;
		cmd->argc++;
	}
	return RESP_OK;
}

enum resp_status
resp_parse(const char *buf, size_t len, struct resp_cmd *cmd, size_t *used, char *errbuf,
    size_t errlen)
{
	if (len == 0)
		return RESP_MORE;
	if (buf[0] != '*')
		return parse_inline(buf, len, cmd, used, errbuf, errlen);
	long e = find_crlf(buf, len, HDR_MAX);
	if (e == -1)
		return RESP_MORE;
	long long n;
	if (e == -2 || !parse_num(buf + 1, (size_t) e - 1, &n))
		return bad(errbuf, errlen, "invalid multibulk length", -1);
	size_t pos = (size_t) e + 2;
	cmd->argc = 0;
	if (n <= 0) {
		/* Redis ignores empty and null arrays; so do we. */
		*used = pos;
		return RESP_OK;
	}
	if (n > RESP_MAX_ARGS) {
		snprintf(errbuf, errlen, "Protocol error: %lld arguments, at most %d", n,
		    RESP_MAX_ARGS);
		return RESP_BAD;
	}
	for (long long i = 0; i < n; i++) {
		if (pos == len)
			return RESP_MORE;
		if (buf[pos] != '$')
			return bad(errbuf, errlen, "expected '$'", (unsigned char) buf[pos]);
		e = find_crlf(buf + pos, len - pos, HDR_MAX);
		if (e == -1)
			return RESP_MORE;
		long long blen;
		if (e == -2 || !parse_num(buf + pos + 1, (size_t) e - 1, &blen) || blen < 0)
			return bad(errbuf, errlen, "invalid bulk length", -1);
		if (blen > RESP_MAX_ARG) {
			snprintf(errbuf, errlen,
			    "Protocol error: bulk string of %lld bytes, at most %d", blen,
			    RESP_MAX_ARG);
			return RESP_BAD;
		}
		pos += (size_t) e + 2;
		if (len - pos < (size_t) blen + 2) {
			/* Check what already arrived of the terminator. */
			if (len - pos > (size_t) blen && buf[pos + blen] != '\r')
				return bad(errbuf, errlen, "bulk string not followed by CRLF", -1);
			return RESP_MORE;
		}
		if (buf[pos + blen] != '\r' || buf[pos + blen + 1] != '\n')
			return bad(errbuf, errlen, "bulk string not followed by CRLF", -1);
		cmd->argv[cmd->argc].p = buf + pos;
		cmd->argv[cmd->argc].len = (size_t) blen;
		cmd->argc++;
		pos += (size_t) blen + 2;
	}
	*used = pos;
	return RESP_OK;
}

bool
resp_arg_is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);
	if (a->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = a->p[i];
		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		char d = s[i];
		if (d >= 'a' && d <= 'z')
			d = (char) (d - 'a' + 'A');
		if (c != d)
			return false;
	}
	return true;
}

bool
resp_arg_u64(const struct resp_arg *a, uint64_t *out)
{
	if (a->len == 0 || a->len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < a->len; i++) {
		char c = a->p[i];
		if (c < '0' || c > '9')
			return false;
		unsigned dgt = (unsigned) (c - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*out = v;
	return true;
}

bool
resp_arg_i64(const struct resp_arg *a, int64_t *out)
{
	struct resp_arg digits = *a;
	bool neg = false;
	if (digits.len > 0 && digits.p[0] == '-') {
		neg = true;
		digits.p++;
		digits.len--;
	}
	uint64_t v;
	if (!resp_arg_u64(&digits, &v))
		return false;
	if (neg) {
		if (v > (uint64_t) INT64_MAX + 1)
			return false;
		*out = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
	} else {
		if (v > (uint64_t) INT64_MAX)
			return false;
		*out = (int64_t) v;
	}
	return true;
}

/* ---- replies ---- */

void
resp_buf_free(struct resp_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

bool
resp_buf_reserve(struct resp_buf *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->cap - b->len >= n)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void
resp_put_raw(struct resp_buf *b, const char *s, size_t n)
{
	if (!resp_buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Writes c, the decimal v and CRLF: the shape of integer, array and bulk
 * headers. */
static void
put_num(struct resp_buf *b, char c, uint64_t v, bool neg)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char) ('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (neg)
		tmp[--i] = '-';
	tmp[--i] = c;
	if (!resp_buf_reserve(b, sizeof(tmp) - i + 2))
		return;
	memcpy(b->p + b->len, tmp + i, sizeof(tmp) - i);
	b->len += sizeof(tmp) - i;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
}

void
resp_put_simple(struct resp_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (!resp_buf_reserve(b, n + 3))
		return;
	b->p[b->len++] = '+';
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
}

void
resp_put_error(struct resp_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (!resp_buf_reserve(b, n + 3))
		return;
	b->p[b->len++] = '-';
	for (size_t i = 0; i < n; i++)
		b->p[b->len++] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
}

void
resp_put_int(struct resp_buf *b, int64_t v)
{
	if (v < 0)
		put_num(b, ':', v == INT64_MIN ? (uint64_t) INT64_MAX + 1 : (uint64_t) -v, true);
	else
		put_num(b, ':', (uint64_t) v, false);
}

void
resp_put_uint(struct resp_buf *b, uint64_t v)
{
	put_num(b, ':', v, false);
}

void
resp_put_bulk(struct resp_buf *b, const char *s, size_t n)
{
	put_num(b, '$', n, false);
	resp_put_raw(b, s, n);
	resp_put_raw(b, "\r\n", 2);
}

void
resp_put_array(struct resp_buf *b, size_t n)
{
	put_num(b, '*', n, false);
}
