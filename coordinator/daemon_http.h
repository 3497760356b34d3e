/*
 * The coordinator daemon's HTTP/JSON API (docs/http.md): IDs, txids and
 * decoding through the same library calls as the nng handlers, health and
 * readiness probes. The routes call into the daemon's sr_coordinator only.
 */
#ifndef SR_DAEMON_HTTP_H
#define SR_DAEMON_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "http_api.h"
#include "snowrange/coordinator.h"

/* What the handlers need: the routes' arg. */
struct daemon_http {
	sr_coordinator *coord;
	int64_t max_clock_back_ms; /* quoted in SR_ECLOCK messages */
	const struct httpd *srv;   /* for its request counts in /metrics; may be NULL */
};

/* The route table; *n gets its length. */
const struct httpapi_route *daemon_http_routes(size_t *n);

#endif
