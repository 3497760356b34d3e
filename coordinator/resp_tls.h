/*
 * TLS for the coordinator's RESP port (docs/security.md, "The RESP port"):
 * GnuTLS sessions on the port's non-blocking sockets, so that
 * `redis-cli --tls`, `redis-benchmark --tls` and any Redis client with TLS
 * talk to a `--resp-listen tls+tcp://HOST:PORT`. GnuTLS is the library the
 * HTTP port already uses (through libmicrohttpd); nng's mbed TLS is
 * reachable only through nng sockets.
 *
 * The daemon's own files serve: tls-cert and tls-key are presented, and
 * with tls-ca a client must present a certificate that chains to it, or the
 * handshake fails before any of its bytes reach the RESP parser (mutual TLS,
 * as on the nng and HTTP ports). Roles still come from AUTH tokens.
 *
 * Every call here returns at once: a session that needs the socket to be
 * readable or writable says so, and the event loop (resp_server.c) waits for
 * it with epoll. One slow or hostile client thus never holds the loop.
 */
#ifndef SR_RESP_TLS_H
#define SR_RESP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct creds;
struct resp_tls;         /* the server's credentials and settings */
struct resp_tls_session; /* one connection's TLS state */

/* What a call on a session needs next. */
enum resp_tls_io {
	RESP_TLS_DONE = 0,  /* the handshake is over */
	RESP_TLS_WANT_READ, /* call again when the socket is readable */
	RESP_TLS_WANT_WRITE,
	RESP_TLS_FAIL, /* the session is dead: close the connection */
};

/*
 * Loads cr's tls-cert, tls-key and (optional) tls-ca. Errors name the file
 * and say what is wrong with it (SR_EINVAL). *out is freed with
 * resp_tls_close.
 */
int resp_tls_open(const struct creds *cr, struct resp_tls **out, char *errbuf, size_t errlen);

/* NULL-safe. Every session must be freed first. */
void resp_tls_close(struct resp_tls *t);

/* A server session on the connected non-blocking socket fd (which stays
 * the caller's to close). NULL when out of memory. */
struct resp_tls_session *resp_tls_accept(const struct resp_tls *t, int fd);

/* Frees s (NULL-safe); sends nothing. */
void resp_tls_session_free(struct resp_tls_session *s);

/*
 * Advances the handshake. RESP_TLS_FAIL: why (GnuTLS's words, never a
 * secret) goes into why, and the peer has been sent the alert that fits if
 * the socket took it; why is "" when the peer just closed or reset (a port
 * probe: not worth a log line).
 */
enum resp_tls_io resp_tls_handshake(struct resp_tls_session *s, char *why, size_t whylen);

/*
 * Reads decrypted bytes into buf: > 0 bytes read; 0 the peer closed (with
 * close_notify or not); RESP_TLS_AGAIN nothing to read now (also after a
 * record that carried no data); RESP_TLS_ERROR the session is dead.
 */
#define RESP_TLS_AGAIN (-1)
#define RESP_TLS_ERROR (-2)
ssize_t resp_tls_recv(struct resp_tls_session *s, char *buf, size_t len);

/* True when decrypted bytes wait inside the session: no socket event will
 * announce them, so the caller reads again without waiting. */
bool resp_tls_pending(const struct resp_tls_session *s);

/*
 * Sends up to one record of p[0..n): the bytes taken (> 0), RESP_TLS_AGAIN
 * (the socket is full: call again, when it is writable, with the same p and
 * n, because the record is already sealed), or RESP_TLS_ERROR.
 */
ssize_t resp_tls_send(struct resp_tls_session *s, const char *p, size_t n);

/* Sends close_notify if the socket takes it now; never waits. */
void resp_tls_bye(struct resp_tls_session *s);

#endif
