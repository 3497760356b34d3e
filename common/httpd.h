/*
 * The daemons' HTTP server (docs/http.md): libmicrohttpd under the route
 * tables of http_api.h, with the cluster's credentials (docs/security.md):
 * https:// with the daemon's certificate, client certificates required
 * when a CA is configured, role tokens as "Authorization: Bearer TOKEN",
 * and the safe default (no credentials: loopback only unless --insecure).
 * Why libmicrohttpd and not nng's HTTP server: docs/decisions.md.
 */
#ifndef SR_HTTPD_H
#define SR_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "http_api.h"

/* Defaults of the limits (docs/http.md). */
#define HTTPD_MAX_CONNS 1024
#define HTTPD_PER_IP 256
#define HTTPD_TIMEOUT_S 10
/* A connection must deliver each whole request (headers and body) within
 * this many seconds of opening, or of the response before it, or the idle
 * timeout if that is shorter; else it is closed (docs/http.md). The idle
 * timeout alone would not do: every byte restarts it, so a client sending
 * one byte a second would hold its connection for ever. */
#define HTTPD_REQUEST_S 10
/* Request line and headers must fit in this (else 431 or 414). */
#define HTTPD_HEADER_MAX (16u << 10)
/* A request body (ignored: arguments come in the URL) beyond this is 413. */
#define HTTPD_BODY_MAX (64u << 10)

struct httpd_config {
	const char *url;        /* http://HOST:PORT or https://HOST:PORT */
	const struct creds *cr; /* NULL: none; must outlive the server */
	bool insecure;          /* serve beyond loopback without credentials */
	int threads;            /* request threads (0: 4) */
	int max_conns;          /* connections at most (0: HTTPD_MAX_CONNS) */
	int per_ip;             /* connections from one address (0: HTTPD_PER_IP) */
	int timeout_s;          /* idle connection closed after (0: HTTPD_TIMEOUT_S) */
	int request_s;          /* whole request within (0: HTTPD_REQUEST_S; <= timeout_s) */
};

struct httpd;

/* What httpd_start checks before it listens: the URL's form, https with a
 * certificate and key (and plain http without one: never a silent
 * downgrade), the safe default. */
int httpd_check(const char *url, const struct creds *cr, bool insecure, char *errbuf,
    size_t errlen);

/* Listens on cfg->url and serves routes (which must outlive the server)
 * with arg passed to their handlers. */
int httpd_start(const struct httpd_config *cfg, const struct httpapi_route *routes, size_t nroutes,
    void *arg, struct httpd **out, char *errbuf, size_t errlen);

/* Stops listening, waits for running handlers, frees. NULL-safe. */
void httpd_stop(struct httpd *h);

/* Requests answered so far, by class (2xx, 4xx, 5xx), for /metrics. */
void httpd_counts(const struct httpd *h, uint64_t *ok, uint64_t *client_err, uint64_t *server_err);

/* Connections closed because no whole request came within the request
 * bound (HTTPD_REQUEST_S), for /metrics. */
uint64_t httpd_slow_closed(const struct httpd *h);

#endif
