/*
 * The coordinator daemon's RESP port (docs/protocol.md, "RESP"): Redis
 * clients, redis-cli and redis-benchmark get IDs with SR.NEXT, INCR,
 * SR.TXID and SR.DECODE. An epoll loop per thread, each thread with its own
 * SO_REUSEPORT listening socket; a request is parsed by coordinator/resp.c
 * and answered from the coordinator library's fast path on the loop thread
 * (docs/decisions.md says why no worker pool). On a tls+tcp:// address the
 * same loops run TLS (coordinator/resp_tls.h) with non-blocking handshakes.
 */
#ifndef SR_RESP_SERVER_H
#define SR_RESP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snowrange/coordinator.h"

struct creds;
struct resp_server;

struct resp_server_config {
	const char *listen;        /* tcp://HOST:PORT, tls+tcp://HOST:PORT or HOST:PORT */
	int threads;               /* event loops, >= 1 */
	size_t max_connections;    /* more are told so and closed */
	int64_t idle_timeout_ms;   /* no whole request or output progress: close */
	const struct creds *creds; /* tokens: AUTH is required; TLS files for tls+tcp:// */
	bool insecure;             /* allow beyond loopback without tokens */
	const char *version;       /* for HELLO and INFO */
	int64_t busy_poll_us;      /* after an event, poll without sleeping this long; 0: never */
};

/*
 * Checks the listen address against the safe default (docs/security.md)
 * and, for tls+tcp://, loads the TLS files. Beyond loopback a plain port
 * needs a token file (AUTH) unless insecure, and is refused when the daemon
 * has a CA configured (its operator wants TLS: use tls+tcp://) unless
 * insecure; a TLS port needs a token file or a CA (client certificates)
 * unless insecure. tls+tcp:// needs tls-cert and tls-key.
 */
int resp_server_check(const struct resp_server_config *cfg, char *errbuf, size_t errlen);

/* Binds, listens and starts the loops. The coordinator must outlive the
 * server. */
int resp_server_start(const struct resp_server_config *cfg, sr_coordinator *coord,
    struct resp_server **out, char *errbuf, size_t errlen);

/* The port bound (useful with port 0). */
int resp_server_port(const struct resp_server *s);

/* Stops the loops, closes every connection, frees. NULL-safe. */
void resp_server_stop(struct resp_server *s);

#endif
