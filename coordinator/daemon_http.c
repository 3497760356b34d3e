/*
 * The coordinator daemon's HTTP routes (daemon_http.h). Each handler does
 * what the nng handler of the same request does in daemon.c, through the
 * same library calls, and answers JSON with IDs as strings.
 */
#include "daemon_http.h"

#include <stdio.h>
#include <stdlib.h>

#include "cache.h"
#include "coord_metrics.h"
#include "creds.h"
#include "httpd.h"
#include "snowrange/error.h"

static void
h_ids(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	struct daemon_http *d = arg;
	uint64_t *ids = malloc(req->count * sizeof(*ids));
	if (ids == NULL) {
		httpapi_error(resp, 0, SR_ENOMEM, "out of memory");
		return;
	}
	size_t got = 0;
	int rv = sr_next_ids(d->coord, req->seq, req->count, ids, &got);
	if (rv == SR_ETOOBIG)
		/* IDs taken before the failure are dropped: a gap, never reused. */
		httpapi_error(resp, 0, rv,
		    "%s: count %u needs more than %u chunks of this "
		    "sequence, each a lease at the master: ask for fewer IDs per call or use "
		    "a larger chunk size (%zu IDs taken were dropped)",
		    req->seq, req->count, CACHE_MAX_SWAPS, got);
	else if (rv != SR_OK)
		httpapi_error(resp, 0, rv, "%s: %s", req->seq, sr_strerror(rv));
	else
		httpapi_ids_json(&resp->body, req->seq, sr_coordinator_name(d->coord),
		    sr_coordinator_node_id(d->coord), ids, got);
	free(ids);
}

/* The same IDs as ranges (issue 19): one (first, step, count) per chunk
 * touched, however many IDs, so up to 2^20 per request. */
static void
h_segments(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	struct daemon_http *d = arg;
	sr_id_segment *segs = malloc(SR_SEGMENTS_MAX * sizeof(*segs));
	if (segs == NULL) {
		httpapi_error(resp, 0, SR_ENOMEM, "out of memory");
		return;
	}
	size_t n = 0;
	int rv = sr_next_segments(d->coord, req->seq, req->count, segs, SR_SEGMENTS_MAX, &n);
	if (rv != SR_OK) {
		uint64_t dropped = 0;
		for (size_t i = 0; i < n; i++)
			dropped += segs[i].count;
		if (rv == SR_ETOOBIG)
			httpapi_error(resp, 0, rv,
			    "%s: count %u needs more than %u chunks of "
			    "this sequence: ask for fewer IDs per call or use a larger chunk "
			    "size (%llu IDs taken were dropped)",
			    req->seq, req->count, SR_SEGMENTS_MAX, (unsigned long long) dropped);
		else
			httpapi_error(resp, 0, rv, "%s: %s", req->seq, sr_strerror(rv));
	} else {
		httpapi_segments_json(&resp->body, req->seq, sr_coordinator_name(d->coord),
		    sr_coordinator_node_id(d->coord), segs, n);
	}
	free(segs);
}

static void
h_txids(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	struct daemon_http *d = arg;
	uint64_t *ids = malloc(req->count * sizeof(*ids));
	if (ids == NULL) {
		httpapi_error(resp, 0, SR_ENOMEM, "out of memory");
		return;
	}
	size_t got = 0;
	int rv = sr_next_txids(d->coord, req->count, ids, &got);
	uint32_t worker = 0;
	if (rv == SR_ECLOCK)
		httpapi_error(resp, 0, rv,
		    "clock is %lld ms behind the last issued txid "
		    "(tolerance %lld ms)",
		    (long long) sr_coordinator_clock_offset_ms(d->coord),
		    (long long) d->max_clock_back_ms);
	else if (rv != SR_OK)
		/* txids taken before the failure are dropped: never reused. */
		httpapi_error(resp, 0, rv, "txids: %s", sr_strerror(rv));
	else {
		sr_coordinator_worker(d->coord, &worker);
		httpapi_txids_json(&resp->body, sr_coordinator_name(d->coord),
		    sr_coordinator_node_id(d->coord), worker, ids, got);
	}
	free(ids);
}

static void
h_decode(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	struct daemon_http *d = arg;
	sr_flake_layout l;
	sr_coordinator_layout(d->coord, &l);
	httpapi_decode_json(&resp->body, &l, req->id);
}

/*
 * Ready to serve IDs and txids: joined, with a live worker lease (which a
 * coordinator keeps only while heartbeats reach the master, so it also
 * says the master is reachable or was within the lease). 503 otherwise,
 * naming what is missing.
 */
static void
h_readyz(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	struct daemon_http *d = arg;
	(void) req;
	uint32_t worker;
	if (sr_coordinator_worker(d->coord, &worker) != SR_OK) {
		httpapi_error(resp, 503, SR_ENOWORKER,
		    "not ready: no live worker id lease "
		    "(the master is unreachable, or every worker id is taken)");
		return;
	}
	strbuf_printf(&resp->body, "{\"status\":\"ready\",\"node\":");
	strbuf_json_str(&resp->body, sr_coordinator_name(d->coord));
	strbuf_printf(&resp->body, ",\"worker\":%u}\n", worker);
}

/* Prometheus text format (metrics.h renders it; docs/http.md lists it). */
static void
h_metrics(void *arg, const struct httpapi_req *req, struct httpapi_resp *resp)
{
	struct daemon_http *d = arg;
	(void) req;
	struct metrics_coord m;
	struct metrics_seq *seqs;
	if (coord_metrics_read(d->coord, &m, &seqs) != SR_OK) {
		httpapi_error(resp, 0, SR_ENOMEM, "out of memory");
		return;
	}
	m.node = sr_coordinator_name(d->coord);
	httpd_counts(d->srv, &m.http_requests[0], &m.http_requests[1], &m.http_requests[2]);
	m.http_slow_closed = httpd_slow_closed(d->srv);
	resp->type = "text/plain; version=0.0.4; charset=utf-8";
	metrics_coord_text(&resp->body, &m);
	free(seqs);
}

/* Who may call what, with tokens (docs/security.md): the same roles as the
 * nng routes of daemon.c. */
static const struct httpapi_route routes[] = {
    {HTTPAPI_GET | HTTPAPI_POST, "/v1/sequences/{seq}/ids", CREDS_CLIENT | CREDS_ADMIN,
        HTTPAPI_MAX_COUNT, h_ids},
    {HTTPAPI_GET | HTTPAPI_POST, "/v1/sequences/{seq}/segments", CREDS_CLIENT | CREDS_ADMIN,
        SR_SEGMENT_IDS_MAX, h_segments},
    {HTTPAPI_GET | HTTPAPI_POST, "/v1/txids", CREDS_CLIENT | CREDS_ADMIN, HTTPAPI_MAX_COUNT,
        h_txids},
    {HTTPAPI_GET, "/v1/decode/{id}", CREDS_READER | CREDS_CLIENT | CREDS_ADMIN, 0, h_decode},
    {HTTPAPI_GET, "/metrics", CREDS_READER | CREDS_CLIENT | CREDS_ADMIN, 0, h_metrics},
    {HTTPAPI_GET, "/healthz", HTTPAPI_OPEN, 0, httpapi_healthz},
    {HTTPAPI_GET, "/readyz", HTTPAPI_OPEN, 0, h_readyz},
};

const struct httpapi_route *
daemon_http_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
