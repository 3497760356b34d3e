/*
 * The HTTP/JSON API's logic, without sockets (docs/http.md): matching a
 * method and path against a route table, checking the count argument and
 * the caller's role, and the JSON bodies, IDs always as strings. The
 * server (httpd.c) turns a libmicrohttpd request into httpapi_dispatch and
 * its result into a response; unit tests call httpapi_dispatch directly,
 * as wire_serve_bytes makes the nng side testable.
 */
#ifndef SR_HTTP_API_H
#define SR_HTTP_API_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/layout.h"
#include "snowrange/segment.h"
#include "strbuf.h"
#include "util.h"

/* Methods a route accepts; HEAD is served wherever GET is. */
#define HTTPAPI_GET 1u
#define HTTPAPI_POST 2u
/* A route's roles: HTTPAPI_OPEN is served without a token (probes and the
 * status page's HTML, which holds no data); otherwise CREDS_ bits. */
#define HTTPAPI_OPEN 0x100u

/* Most IDs or txids one request may ask for (the nng API's cap). */
#define HTTPAPI_MAX_COUNT 65536u

/* A parsed request: the route's parameters. */
struct httpapi_req {
	unsigned method;           /* HTTPAPI_GET or HTTPAPI_POST */
	char seq[SR_NAME_MAX + 1]; /* {seq} */
	uint64_t id;               /* {id} */
	uint32_t count;            /* ?count=, 1 when absent */
};

/* What a handler answers: a status, a content type and a body. */
struct httpapi_resp {
	int status;
	const char *type; /* a static string */
	struct strbuf body;
	unsigned retry_after_s; /* > 0: sent as Retry-After */
	int auth_challenge;     /* 1: sent with WWW-Authenticate: Bearer */
};

typedef void (*httpapi_fn)(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp);

/* One row of a route table. In pattern, a segment "{seq}" matches a
 * sequence name ([a-z0-9_.-]{1,64}) and "{id}" a decimal 64-bit number. */
struct httpapi_route {
	unsigned methods;
	const char *pattern;
	unsigned roles;
	uint32_t max_count; /* > 0: ?count=N is read, 1..max_count */
	httpapi_fn fn;
};

/*
 * Serves one request: matches method and path (already percent-decoded)
 * against routes, checks count (the raw ?count= value, NULL when absent)
 * and that roles (the caller's CREDS_ bits, 0 when it showed no valid
 * token) include one the route accepts, then calls the route's handler.
 * Every failure becomes a JSON error in resp: 404 no such path, 405 wrong
 * method, 400 bad count or argument, 401 no valid token, 403 wrong role.
 * resp->body is the caller's to free.
 */
void httpapi_dispatch(const struct httpapi_route *routes, size_t nroutes, void *arg,
    const char *method, const char *path, const char *count, unsigned roles,
    struct httpapi_resp *resp);

/*
 * Percent-decodes s in place and returns its new length, for the server's
 * URL path and query arguments. "%00" stays as it is, undecoded: a decoded
 * NUL would end the C string early, so that "count=1%00x" read as 1 and
 * "/healthz%00junk" as /healthz; left literal, it makes the argument or
 * path invalid. A '%' not followed by two hex digits stays too.
 */
size_t httpapi_unescape(char *s);

/* The HTTP status for an sr_err code (400 for EINVAL, 503 when IDs are
 * not available now, ...; the table is in docs/http.md). */
int httpapi_status_of(int err);

/* Makes resp an error: the status for err (or status, when non-zero) and
 * {"error":{"code":"EINVAL","errno":1,"message":"..."}}. */
void httpapi_error(struct httpapi_resp *resp, int status, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Bodies, IDs as strings. */
void httpapi_ids_json(struct strbuf *b, const char *seq, const char *node, uint64_t node_id,
    const uint64_t *ids, size_t n);
/* Segments (first, step, count) of snowrange/segment.h: first and step as
 * strings, count a number (at most 2^20). */
void httpapi_segments_json(struct strbuf *b, const char *seq, const char *node, uint64_t node_id,
    const sr_id_segment *segs, size_t n);
void httpapi_txids_json(struct strbuf *b, const char *node, uint64_t node_id, uint32_t worker,
    const uint64_t *ids, size_t n);
/* A txid taken apart with layout l: time, tick, worker, sequence. */
void httpapi_decode_json(struct strbuf *b, const sr_flake_layout *l, uint64_t id);

/* GET /healthz of the master and the coordinator: the process is up and
 * serving; nothing else is checked. */
void httpapi_healthz(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp);

#endif
