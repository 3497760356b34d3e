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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "snowrange.pb-c.h"

#define WIRE_PROTOCOL_VERSION 1
/* Largest reply a client accepts; bigger ones are dropped by nng. Replies
 * (a status, a list, 65536 IDs) are far larger than requests. */
#define WIRE_RECV_MAX (4u << 20)
/* Largest request a server's transport accepts: twice the 64 KiB request
 * cap, so that a request a little too large still gets its SR_ETOOBIG
 * reply, while a connection announcing more is dropped before nng
 * allocates for it (a slow sender used to pin 4 MiB each). */
#define WIRE_SERVER_RECV_MAX (128u << 10)
/* Default connection cap and idle timeout of a server (wire_server_limits). */
#define WIRE_MAX_CONNS 2048
#define WIRE_IDLE_MS 60000
/* How long a tls+tcp:// server lets an accepted connection go without
 * becoming a pipe (TLS and SP handshakes done) before it shuts it down:
 * the SP handshake timeout nng 1.5.2 means to apply and cannot over TLS
 * (docs/reliability.md, "A TLS peer that leaves right after connecting"). */
#define WIRE_HANDSHAKE_MS 10000
/* Most IDs one NextIds request may ask for. */
#define WIRE_MAX_COUNT 65536u
#define WIRE_ERRMSG_MAX 256
/* Sequences a HeartbeatRequest's HeldSummary names at most: coordinators
 * send no more, masters refuse more (proto/snowrange.proto). */
#define WIRE_HELD_SEQS_MAX 8

/* ---- per-request arena for building replies ---- */

/* A bump allocator: everything a handler puts into a Response comes from it
 * and is released at once after the reply is packed. */
struct wire_arena;

void *wire_alloc(struct wire_arena *a, size_t size);    /* zeroed; NULL on OOM */
char *wire_strdup(struct wire_arena *a, const char *s); /* NULL on OOM */

/* Who sent the request being served: the roles its client certificate
 * and token (or, without either, the server's configuration) grant, and
 * the node name they bind it to ("" when none). docs/security.md. */
struct wire_peer {
	unsigned roles; /* CREDS_ bits */
	char node[CREDS_NAME_MAX + 1];
};

/* The peer of the request whose reply a is building. */
const struct wire_peer *wire_peer_of(const struct wire_arena *a);

/* A handler that returns SR_ENOTLEADER names the leading master's URL
 * ("" when none is known) here; the reply's Error.leader carries it. */
void wire_set_leader(struct wire_arena *a, const char *url);

/* ---- client side ---- */

/* An RPC channel to one URL. Thread-safe: every call uses its own nng
 * context, so many threads may call concurrently. */
struct wire_chan;

/* Opens a REQ socket and starts dialing url in the background (the peer may
 * come up later). timeout_ms bounds every call. */
int wire_chan_open(const char *url, int timeout_ms, struct wire_chan **out, char *errbuf,
    size_t errlen);
/*
 * The same with credentials (NULL: none). A tls+tcp:// URL needs the CA to
 * verify the server; cr's certificate is presented when it has one. A
 * request carries the token of the least powerful role in want that the
 * request needs (the node line bound to node_name first). cr must outlive
 * the channel.
 */
int wire_chan_open_creds(const char *url, int timeout_ms, const struct creds *cr, unsigned want,
    const char *node_name, struct wire_chan **out, char *errbuf, size_t errlen);
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
int wire_call(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp, char *errbuf,
    size_t errlen);
void wire_response_free(Sr__Response *resp);

/* Sends raw bytes and returns the raw reply (for tests that send garbage).
 * *reply is malloc'd. */
int wire_call_raw(struct wire_chan *ch, const void *buf, size_t len, void **reply,
    size_t *replylen);

/* ---- server side ---- */

/*
 * A handler fills resp's body (allocating from a) and returns 0, or returns an
 * sr_err and writes a message naming what was wrong into errbuf. It runs on an
 * nng worker thread; several handlers may run at once.
 */
typedef int (*wire_handler)(void *arg, const Sr__Request *req, Sr__Response *resp,
    struct wire_arena *a, char *errbuf, size_t errlen);

/*
 * Answering later. A handler that must wait for another thread (the master's
 * lease waits for the group commit that makes its range durable) can park
 * its request instead of holding a thread: wire_park() hands out a token
 * and the handler returns WIRE_PARKED at once. The request's work item then
 * takes no other request until wire_finish() builds the reply on the calling
 * thread and sends it; the owner must finish every token exactly once, and
 * before wire_server_stop. wire_park returns NULL when the request cannot be
 * parked (wire_serve_bytes has no socket to answer on later): the handler
 * then answers before it returns, as any other. Nothing a handler got with
 * the request (req, the arena) outlives its return: copy what the reply
 * needs.
 */
#define WIRE_PARKED (-1)
struct wire_parked;
struct wire_parked *wire_park(struct wire_arena *a);
/* Whether wire_park would hand out a token for this request. */
bool wire_parkable(const struct wire_arena *a);
/* Fills resp from arg like a handler (allocating from a), or returns an
 * sr_err with a message in errbuf. */
typedef int (*wire_reply_fn)(void *arg, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen);
void wire_finish(struct wire_parked *p, wire_reply_fn fn, void *arg);

/* One row of a dispatch table. roles: who may call it when the server
 * checks roles (a row with 0 is refused to everyone then). */
struct wire_route {
	Sr__Request__BodyCase body;
	wire_handler fn;
	unsigned roles;
};

struct wire_server;

/* Binds url and starts accepting connections, but serves nothing yet:
 * requests wait in the socket until wire_server_serve. A daemon binds first
 * so that a second instance on the same URL fails before it touches any
 * state (the master: before it takes a fencing term). */
int wire_server_listen(const char *url, struct wire_server **out, char *errbuf, size_t errlen);
/* The same with credentials (see wire_server_start_creds). */
int wire_server_listen_creds(const char *url, const struct creds *cr, bool insecure,
    struct wire_server **out, char *errbuf, size_t errlen);
/* Starts serving a listening server with nworkers concurrent contexts;
 * routes must outlive the server. Once only. */
int wire_server_serve(struct wire_server *srv, const struct wire_route *routes, size_t nroutes,
    void *arg, int nworkers, char *errbuf, size_t errlen);
/* Both of the above. */
int wire_server_start(const char *url, const struct wire_route *routes, size_t nroutes, void *arg,
    int nworkers, struct wire_server **out, char *errbuf, size_t errlen);
/*
 * The same with credentials: a certificate makes url a tls+tcp:// listener
 * (a CA then requires client certificates signed by it), tokens make every
 * request show one whose role the route accepts. Without any credential,
 * a url other machines can reach is refused unless insecure is true (the
 * safe default, docs/security.md). cr must outlive the server.
 */
int wire_server_start_creds(const char *url, const struct wire_route *routes, size_t nroutes,
    void *arg, int nworkers, const struct creds *cr, bool insecure, struct wire_server **out,
    char *errbuf, size_t errlen);
/* What wire_server_start_creds checks before listening (the safe default,
 * the TLS files), without listening: a daemon asks before it joins. */
int wire_listen_check(const char *url, const struct creds *cr, bool insecure, char *errbuf,
    size_t errlen);
/* Stops accepting, waits for running handlers, frees. NULL-safe. */
void wire_server_stop(struct wire_server *srv);
/*
 * Bounds a server's connections (nng 1.5.2 has no such limits): beyond
 * max_conns a new connection is closed after its handshake, and one that
 * delivered no whole request for idle_ms (a slow sender included) is
 * closed; REQ clients reconnect by themselves. 0 keeps the current value
 * (defaults WIRE_MAX_CONNS, WIRE_IDLE_MS).
 */
void wire_server_limits(struct wire_server *srv, size_t max_conns, int64_t idle_ms);

/*
 * The whole of request handling without sockets: decodes body (len bytes),
 * checks size, version and body, dispatches through routes, and returns the
 * packed Response in *out (malloc'd, *outlen bytes). Every input gives a
 * reply; only SR_ENOMEM fails. The server calls it; fuzzers call it directly.
 */
int wire_serve_bytes(const struct wire_route *routes, size_t nroutes, void *arg, const void *body,
    size_t len, void **out, size_t *outlen);
/* The same checking roles against cr's tokens (cr NULL or without tokens:
 * every role, the server's transport being the only gate). */
int wire_serve_bytes_creds(const struct wire_route *routes, size_t nroutes, void *arg,
    const struct creds *cr, const void *body, size_t len, void **out, size_t *outlen);

/* The same for a request that came over a connection whose client
 * certificate says cert (NULL or cert->cert false: none): the role rule of
 * docs/security.md, certificate and token together. */
struct tls_identity;
int wire_serve_bytes_cert(const struct wire_route *routes, size_t nroutes, void *arg,
    const struct creds *cr, const struct tls_identity *cert, const void *body, size_t len,
    void **out, size_t *outlen);

/* The roles a request of this body case may be sent with, on any server:
 * the client's side of the route tables (docs/security.md). */
unsigned wire_body_roles(int body);

/* Maps an nng error to an sr_err. */
int wire_nng_err(int nng_rv);

#endif
