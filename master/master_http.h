/*
 * The master's HTTP side (docs/http.md): the live status page at /, its
 * data at /v1/status, Prometheus /metrics and the probes. Served only when
 * --http-listen is set.
 */
#ifndef SR_MASTER_HTTP_H
#define SR_MASTER_HTTP_H

#include <stddef.h>

#include "http_api.h"

struct master;
struct httpd;

/* The routes' arg. */
struct master_http {
	struct master *m;
	const struct httpd *srv; /* for its request counts; may be NULL */
};

const struct httpapi_route *master_http_routes(size_t *n);

#endif
