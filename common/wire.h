/*
 * Wire helpers shared by the master, the coordinator daemon and the clients:
 * the Request/Response envelope, an RPC channel with timeouts, and an nng
 * request loop driven by a dispatch table (nng demo/async/server.c style).
 *
 * nng and protobuf-c types stop here and in the daemons; the public headers
 * under include/ never see them. nng errors are mapped to sr_err at
 * this boundary.
 */
#ifndef SR_WIRE_H
#define SR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange.pb-c.h"

#define WIRE_PROTOCOL_VERSION 1
/* Largest message either side accepts; bigger ones are dropped by nng. */
#define WIRE_RECV_MAX (4u << 20)
/* Most IDs one NextIds request may ask for. */
#define WIRE_MAX_COUNT 65536u
#define WIRE_ERRMSG_MAX 256

/* ---- per-request arena for building replies ---- */

/* A bump allocator: everything a handler puts into a Response comes from it
 * and is released at once after the reply is packed. */
struct wire_arena;

void *wire_alloc(struct wire_arena *a, size_t size);  /* zeroed; NULL on OOM */
char *wire_strdup(struct wire_arena *a, const char *s); /* NULL on OOM */

/* ---- client side ---- */

/* An RPC channel to one URL. Thread-safe: every call uses its own nng
 * context, so many threads may call concurrently. */
struct wire_chan;

/* Opens a REQ socket and starts dialing url in the background (the peer may
 * come up later). timeout_ms bounds every call. */
int wire_chan_open(const char *url, int timeout_ms, struct wire_chan **out,
    char *errbuf, size_t errlen);
/* NULL-safe. */
void wire_chan_close(struct wire_chan *ch);

/*
 * Sends req (its protocol_version is set here) and waits for the reply.
 * On 0, *resp holds the reply with its body case checked to match the
 * request's; free it with wire_response_free(). On failure *resp is NULL and
 * the return is a transport error (SR_ETIMEDOUT, SR_ECONNECT, SR_ECLOSED),
 * SR_EPROTO for a malformed reply, or the peer's error code; errbuf gets a
 * message in every failure case.
 */
int wire_call(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp,
    char *errbuf, size_t errlen);
void wire_response_free(Sr__Response *resp);

/* Sends raw bytes and returns the raw reply (for tests that send garbage).
 * *reply is malloc'd. */
int wire_call_raw(struct wire_chan *ch, const void *buf, size_t len,
    void **reply, size_t *replylen);

/* ---- server side ---- */

/*
 * A handler fills resp's body (allocating from a) and returns 0, or returns an
 * sr_err and writes a message naming what was wrong into errbuf. It runs on an
 * nng worker thread; several handlers may run at once.
 */
typedef int (*wire_handler)(void *arg, const Sr__Request *req,
    Sr__Response *resp, struct wire_arena *a, char *errbuf, size_t errlen);

/* One row of a dispatch table. */
struct wire_route {
	Sr__Request__BodyCase body;
	wire_handler fn;
};

struct wire_server;

/* Listens on url and serves requests with nworkers concurrent contexts.
 * routes must outlive the server. */
int wire_server_start(const char *url, const struct wire_route *routes,
    size_t nroutes, void *arg, int nworkers, struct wire_server **out,
    char *errbuf, size_t errlen);
/* Stops accepting, waits for running handlers, frees. NULL-safe. */
void wire_server_stop(struct wire_server *srv);

/*
 * The whole of request handling without sockets: decodes body (len bytes),
 * checks size, version and body, dispatches through routes, and returns the
 * packed Response in *out (malloc'd, *outlen bytes). Every input gives a
 * reply; only SR_ENOMEM fails. The server calls it; fuzzers call it directly.
 */
int wire_serve_bytes(const struct wire_route *routes, size_t nroutes, void *arg,
    const void *body, size_t len, void **out, size_t *outlen);

/* Maps an nng error to an sr_err. */
int wire_nng_err(int nng_rv);

#endif
