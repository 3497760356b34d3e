/*
 * The HTTP/JSON API's logic (http_api.h): routing, argument checks, role
 * checks and JSON bodies, with no I/O.
 */
#include "http_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "flake.h"
#include "snowrange/error.h"

int
httpapi_status_of(int err)
{
	switch (err) {
	case SR_OK: return 200;
	case SR_EINVAL:
	case SR_EPROTO:
	case SR_EVERSION: return 400;
	case SR_EACCES: return 403;
	case SR_ENOTFOUND: return 404;
	case SR_EEXISTS: return 409;
	/* Nothing is left to hand out, and nothing will be: not a retry. */
	case SR_EEXHAUSTED: return 410;
	case SR_ETOOBIG: return 413;
	/* Now, not for ever: the caller may retry (with Retry-After). */
	case SR_EUNAVAILABLE:
	case SR_ENOWORKER:
	case SR_ECLOCK:
	case SR_ENOMEM:
	case SR_ECLOSED:
	case SR_ENOTJOINED:
	case SR_ECONNECT:
	case SR_ESTALE: return 503;
	case SR_ETIMEDOUT: return 504;
	default: return 500;
	}
}

void
httpapi_error(struct httpapi_resp *resp, int status, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp->status = status != 0 ? status : httpapi_status_of(err);
	resp->type = "application/json";
	if (resp->status == 503)
		resp->retry_after_s = 1;
	strbuf_reset(&resp->body);
	strbuf_printf(&resp->body,
	    "{\"error\":{\"code\":\"%s\",\"errno\":%d,\"message\":", sr_errname(err), err);
	strbuf_json_str(&resp->body, msg);
	strbuf_puts(&resp->body, "}}\n");
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
httpapi_unescape(char *s)
{
	char *r = s, *w = s;
	while (*r != '\0') {
		int hi, lo;
		if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char) (hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t) (w - s);
}

/* A whole decimal number in [min, max]: digits only (no sign, space,
 * exponent or hex), which strtoull alone would let through. */
static bool
parse_dec(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 20)
		return false;
	for (const char *c = s; *c != '\0'; c++)
		if (*c < '0' || *c > '9')
			return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* The next '/'-separated segment of *p into seg (cap bytes); false when
 * there is none or it does not fit. */
static bool
next_seg(const char **p, char *seg, size_t cap)
{
	if (**p != '/')
		return false;
	const char *s = *p + 1;
	size_t n = strcspn(s, "/");
	if (n >= cap)
		return false;
	memcpy(seg, s, n);
	seg[n] = '\0';
	*p = s + n;
	return true;
}

/*
 * Matches path against pattern, filling {seq} and {id} into req. Returns 1
 * on a match, 0 when the path is another route's, and -1 when the shape
 * matches but a parameter is bad (message in errbuf): a 400, not a 404.
 */
static int
match(const char *pattern, const char *path, struct httpapi_req *req, char *errbuf, size_t errlen)
{
	const char *p = pattern, *q = path;
	char want[64], got[SR_NAME_MAX + 2];
	int bad = 0;
	if (strcmp(pattern, "/") == 0)
		return strcmp(path, "/") == 0;
	while (*p != '\0') {
		if (!next_seg(&p, want, sizeof(want)))
			return 0;
		if (!next_seg(&q, got, sizeof(got))) {
			/* A segment longer than any name: a bad {seq} or {id}
			 * if that is what stands here, else no route. */
			if (want[0] != '{' || *q != '/')
				return 0;
			if (bad == 0)
				snprintf(errbuf, errlen, "%s is too long", want);
			bad = 1;
			q += 1 + strcspn(q + 1, "/");
			continue;
		}
		if (strcmp(want, "{seq}") == 0) {
			if (!sr_name_valid(got) && bad == 0) {
				snprintf(errbuf, errlen,
				    "invalid sequence name '%s': expected [a-z0-9_.-]{1,64}", got);
				bad = 1;
			}
			size_t n = strlen(got);
			if (n < sizeof(req->seq))
				memcpy(req->seq, got, n + 1);
		} else if (strcmp(want, "{id}") == 0) {
			if (!parse_dec(got, 1, INT64_MAX, &req->id) && bad == 0) {
				snprintf(errbuf, errlen,
				    "invalid id '%s': expected a decimal number in 1..%llu", got,
				    (unsigned long long) INT64_MAX);
				bad = 1;
			}
		} else if (strcmp(want, got) != 0) {
			return 0;
		}
	}
	if (*q != '\0')
		return 0; /* longer than the pattern (a trailing '/' included) */
	return bad ? -1 : 1;
}

void
httpapi_dispatch(const struct httpapi_route *routes, size_t nroutes, void *arg, const char *method,
    const char *path, const char *count, unsigned roles, struct httpapi_resp *resp)
{
	struct httpapi_req req;
	char why[256] = "";
	unsigned m = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? HTTPAPI_GET
	    : strcmp(method, "POST") == 0                                      ? HTTPAPI_POST
	                                                                       : 0;
	const struct httpapi_route *r = NULL;
	bool other_method = false;
	int bad = 0;
	resp->status = 200;
	resp->type = "application/json";
	for (size_t i = 0; i < nroutes && r == NULL; i++) {
		memset(&req, 0, sizeof(req));
		int k = match(routes[i].pattern, path, &req, why, sizeof(why));
		if (k == 0)
			continue;
		if ((routes[i].methods & m) == 0) {
			other_method = true;
			continue;
		}
		r = &routes[i];
		bad = k < 0;
	}
	if (r == NULL) {
		if (other_method)
			httpapi_error(resp, 405, SR_EINVAL, "method %.16s not allowed on %.200s",
			    method, path);
		else
			httpapi_error(resp, 404, SR_ENOTFOUND, "no such path: %.200s", path);
		return;
	}
	/* Who asks comes before what is asked: a caller without the role
	 * learns nothing from the argument checks. */
	if ((r->roles & HTTPAPI_OPEN) == 0) {
		if (roles == 0) {
			httpapi_error(resp, 401, SR_EACCES,
			    "this path needs a token: send Authorization: Bearer TOKEN");
			resp->auth_challenge = 1;
			return;
		}
		if ((roles & r->roles) == 0) {
			char need[64], have[64];
			httpapi_error(resp, 403, SR_EACCES,
			    "%.200s needs the role %s; the token "
			    "has %s",
			    path, creds_roles_str(r->roles, need, sizeof(need)),
			    creds_roles_str(roles, have, sizeof(have)));
			return;
		}
	}
	if (bad) {
		httpapi_error(resp, 400, SR_EINVAL, "%s", why);
		return;
	}
	req.method = m;
	req.count = 1;
	if (r->max_count > 0 && count != NULL) {
		uint64_t v;
		if (!parse_dec(count, 1, r->max_count, &v)) {
			httpapi_error(resp, 400, SR_EINVAL,
			    "count '%.40s' out of range: expected a decimal number in 1..%u", count,
			    r->max_count);
			return;
		}
		req.count = (uint32_t) v;
	}
	r->fn(arg, &req, resp);
}

static void
ids_array(struct strbuf *b, const uint64_t *ids, size_t n)
{
	strbuf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_put(b, ",", 1);
		strbuf_json_u64(b, ids[i]);
	}
	strbuf_put(b, "]", 1);
}

void
httpapi_ids_json(struct strbuf *b, const char *seq, const char *node, uint64_t node_id,
    const uint64_t *ids, size_t n)
{
	strbuf_puts(b, "{\"sequence\":");
	strbuf_json_str(b, seq);
	strbuf_puts(b, ",\"node\":");
	strbuf_json_str(b, node);
	strbuf_puts(b, ",\"node_id\":");
	strbuf_json_u64(b, node_id);
	strbuf_puts(b, ",\"ids\":");
	ids_array(b, ids, n);
	strbuf_puts(b, "}\n");
}

void
httpapi_segments_json(struct strbuf *b, const char *seq, const char *node, uint64_t node_id,
    const sr_id_segment *segs, size_t n)
{
	strbuf_puts(b, "{\"sequence\":");
	strbuf_json_str(b, seq);
	strbuf_puts(b, ",\"node\":");
	strbuf_json_str(b, node);
	strbuf_puts(b, ",\"node_id\":");
	strbuf_json_u64(b, node_id);
	strbuf_puts(b, ",\"segments\":[");
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(b, i > 0 ? ",{\"first\":" : "{\"first\":");
		strbuf_json_u64(b, segs[i].first);
		strbuf_puts(b, ",\"step\":");
		strbuf_json_u64(b, segs[i].step);
		strbuf_printf(b, ",\"count\":%llu}", (unsigned long long) segs[i].count);
	}
	strbuf_puts(b, "]}\n");
}

void
httpapi_txids_json(struct strbuf *b, const char *node, uint64_t node_id, uint32_t worker,
    const uint64_t *ids, size_t n)
{
	strbuf_puts(b, "{\"node\":");
	strbuf_json_str(b, node);
	strbuf_puts(b, ",\"node_id\":");
	strbuf_json_u64(b, node_id);
	strbuf_printf(b, ",\"worker\":%u,\"txids\":", worker);
	ids_array(b, ids, n);
	strbuf_puts(b, "}\n");
}

void
httpapi_decode_json(struct strbuf *b, const sr_flake_layout *l, uint64_t id)
{
	uint64_t tick;
	uint32_t worker, seq;
	flake_decode(l, id, &tick, &worker, &seq);
	int64_t ms = flake_tick_to_ms(l, tick);
	char when[32];
	flake_format_time(ms, when);
	char lbuf[64] = "";
	flake_layout_format(l, lbuf, sizeof(lbuf));
	strbuf_puts(b, "{\"txid\":");
	strbuf_json_u64(b, id);
	strbuf_puts(b, ",\"time\":");
	strbuf_json_str(b, when);
	strbuf_printf(b, ",\"unix_ms\":%lld,\"tick\":", (long long) ms);
	strbuf_json_u64(b, tick);
	strbuf_printf(b, ",\"worker\":%u,\"seq\":%u,\"layout\":", worker, seq);
	strbuf_json_str(b, lbuf);
	strbuf_puts(b, "}\n");
}

void
httpapi_healthz(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	(void) arg;
	(void) req;
	strbuf_puts(&resp->body, "{\"status\":\"ok\"}\n");
}
