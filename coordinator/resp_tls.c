/*
 * GnuTLS sessions for the RESP port (resp_tls.h, docs/security.md).
 *
 * Sessions are non-blocking (GNUTLS_NONBLOCK). GnuTLS reads a record in
 * two pieces, its 5-byte header and then exactly its body; on a socket
 * that would be two recv() per request where the plain port needs one. So
 * the session reads ahead: its pull function takes what the socket holds
 * (up to READ_AHEAD bytes) with one recv() into the session's buffer and
 * feeds GnuTLS from there. The buffer is allocated for that read and freed
 * as soon as GnuTLS has taken every byte of it, which after a call that
 * read the connection dry is always (the caller reads while
 * resp_tls_pending says bytes wait; resp_server.c), so an idle connection
 * holds none. Bytes that wait in it, or decrypted in GnuTLS, are what
 * resp_tls_pending reports: no socket event would announce them.
 * Sends use MSG_NOSIGNAL, as the loop's own sends do: a client that
 * vanished is a failed send, not a SIGPIPE.
 */
#include "resp_tls.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

#include "creds.h"
#include "snowrange/error.h"

/* Most plaintext one record carries (TLS's limit, 2^14). Sends are cut to
 * it so that a send repeated after RESP_TLS_AGAIN asks for the same length
 * GnuTLS sealed, as it requires. */
#define RECORD_MAX 16384u
/* One read from the socket: two whole records with their headers and
 * padding, so that a pipelined batch is usually one recv(). */
#define READ_AHEAD (2 * (RECORD_MAX + 2048 + 5))

/* TLS 1.2 and 1.3 only, GnuTLS's default ciphers otherwise. TLS 1.2 is what
 * nng's mbed TLS speaks and what older clients need. */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct resp_tls {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	bool mutual;
};

struct resp_tls_session {
	gnutls_session_t s;
	int fd;
	char *ra; /* read ahead, NULL when empty */
	size_t ra_off, ra_len;
};

/* GnuTLS's pull function: from the read-ahead buffer, refilled with one
 * recv() when empty. */
static ssize_t
pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct resp_tls_session *ts = p;
	if (ts->ra == NULL) {
		if ((ts->ra = malloc(READ_AHEAD)) == NULL) {
			gnutls_transport_set_errno(ts->s, ENOMEM);
			return -1;
		}
		ssize_t n;
		do
			n = recv(ts->fd, ts->ra, READ_AHEAD, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			int e = errno;
			free(ts->ra);
			ts->ra = NULL;
			if (n == 0)
				return 0;
			gnutls_transport_set_errno(ts->s, e);
			return -1;
		}
		ts->ra_off = 0;
		ts->ra_len = (size_t) n;
	}
	size_t n = ts->ra_len - ts->ra_off;
	if (n > len)
		n = len;
	memcpy(buf, ts->ra + ts->ra_off, n);
	ts->ra_off += n;
	if (ts->ra_off == ts->ra_len) {
		free(ts->ra);
		ts->ra = NULL;
	}
	return (ssize_t) n;
}

/* GnuTLS asks it only to wait with a timeout, which a non-blocking session
 * with no handshake timeout never does; answered anyway. */
static int
pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct resp_tls_session *ts = p;
	if (ts->ra != NULL)
		return 1;
	struct pollfd pf = {.fd = ts->fd, .events = POLLIN};
	return poll(&pf, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int) ms);
}

static ssize_t
push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct resp_tls_session *ts = p;
	ssize_t n;
	do
		n = send(ts->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		gnutls_transport_set_errno(ts->s, errno);
	return n;
}

static int
fail(int rv, char *errbuf, size_t errlen, const char *what, const char *path, int gerr)
{
	snprintf(errbuf, errlen, "resp-listen: %s %s: %s", what, path, gnutls_strerror(gerr));
	return rv;
}

int
resp_tls_open(const struct creds *cr, struct resp_tls **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	if (cr == NULL || cr->tls_cert == NULL || cr->tls_key == NULL) {
		snprintf(errbuf, errlen,
		    "resp-listen: a tls+tcp:// RESP port needs --tls-cert and --tls-key "
		    "(docs/security.md)");
		return SR_EINVAL;
	}
	struct resp_tls *t = calloc(1, sizeof(*t));
	if (t == NULL || gnutls_certificate_allocate_credentials(&t->cred) != GNUTLS_E_SUCCESS) {
		free(t);
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	int g = gnutls_certificate_set_x509_key_file2(t->cred, cr->tls_cert, cr->tls_key,
	    GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g < 0) {
		resp_tls_close(t);
		snprintf(errbuf, errlen,
		    "resp-listen: cannot use tls-cert %s with tls-key %s: %s "
		    "(PEM, an unencrypted key that matches the certificate)",
		    cr->tls_cert, cr->tls_key, gnutls_strerror(g));
		return SR_EINVAL;
	}
	if (cr->tls_ca != NULL) {
		g = gnutls_certificate_set_x509_trust_file(t->cred, cr->tls_ca,
		    GNUTLS_X509_FMT_PEM);
		if (g < 0) {
			resp_tls_close(t);
			return fail(SR_EINVAL, errbuf, errlen, "cannot read tls-ca", cr->tls_ca, g);
		}
		if (g == 0) {
			resp_tls_close(t);
			snprintf(errbuf, errlen, "resp-listen: tls-ca %s holds no PEM certificate",
			    cr->tls_ca);
			return SR_EINVAL;
		}
		t->mutual = true;
	}
	const char *at = NULL;
	g = gnutls_priority_init(&t->prio, PRIORITIES, &at);
	if (g < 0) {
		resp_tls_close(t);
		snprintf(errbuf, errlen, "resp-listen: GnuTLS priorities at '%s': %s",
		    at != NULL ? at : "", gnutls_strerror(g));
		return SR_EINVAL;
	}
	*out = t;
	return SR_OK;
}

void
resp_tls_close(struct resp_tls *t)
{
	if (t == NULL)
		return;
	if (t->prio != NULL)
		gnutls_priority_deinit(t->prio);
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}

struct resp_tls_session *
resp_tls_accept(const struct resp_tls *t, int fd)
{
	struct resp_tls_session *ts = calloc(1, sizeof(*ts));
	if (ts == NULL)
		return NULL;
	/* No session tickets: resumption would need a ticket key shared by
	 * the loops and rotated; a Redis client keeps its connection open. */
	if (gnutls_init(&ts->s,
	        GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS) !=
	    GNUTLS_E_SUCCESS) {
		free(ts);
		return NULL;
	}
	if (gnutls_priority_set(ts->s, t->prio) != GNUTLS_E_SUCCESS ||
	    gnutls_credentials_set(ts->s, GNUTLS_CRD_CERTIFICATE, t->cred) != GNUTLS_E_SUCCESS) {
		resp_tls_session_free(ts);
		return NULL;
	}
	if (t->mutual) {
		/* The handshake fails unless the client presents a certificate
		 * that chains to tls-ca: GnuTLS checks it during the handshake,
		 * so no byte of an unverified client reaches the parser. */
		gnutls_certificate_server_set_request(ts->s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(ts->s, NULL, 0);
	}
	/* The loop's sweep bounds the handshake (resp_server.c); GnuTLS's own
	 * timer would only be looked at when the peer sends something. */
	gnutls_handshake_set_timeout(ts->s, 0);
	ts->fd = fd;
	gnutls_transport_set_ptr(ts->s, ts);
	gnutls_transport_set_pull_function(ts->s, pull);
	gnutls_transport_set_pull_timeout_function(ts->s, pull_timeout);
	gnutls_transport_set_push_function(ts->s, push);
	return ts;
}

void
resp_tls_session_free(struct resp_tls_session *ts)
{
	if (ts == NULL)
		return;
	gnutls_deinit(ts->s);
	free(ts->ra);
	free(ts);
}

enum resp_tls_io
resp_tls_handshake(struct resp_tls_session *ts, char *why, size_t whylen)
{
	int g;
	do
		g = gnutls_handshake(ts->s);
	while (g == GNUTLS_E_INTERRUPTED);
	if (g == GNUTLS_E_SUCCESS)
		return RESP_TLS_DONE;
	if (g == GNUTLS_E_AGAIN || !gnutls_error_is_fatal(g))
		/* A warning alert is not the end; wait for what comes next. */
		return gnutls_record_get_direction(ts->s) ? RESP_TLS_WANT_WRITE
		                                          : RESP_TLS_WANT_READ;
	if (g == GNUTLS_E_PREMATURE_TERMINATION || g == GNUTLS_E_PULL_ERROR ||
	    g == GNUTLS_E_PUSH_ERROR) {
		/* The peer closed or reset: a port probe, or a client that gave
		 * up. Nothing to tell it, nothing worth a log line. */
		why[0] = '\0';
		return RESP_TLS_FAIL;
	}
	snprintf(why, whylen, "%s", gnutls_strerror(g));
	/* Tell the client why (e.g. "unknown CA"), if the socket takes it
	 * now; never wait for it. */
	gnutls_alert_send_appropriate(ts->s, g);
	return RESP_TLS_FAIL;
}

ssize_t
resp_tls_recv(struct resp_tls_session *ts, char *buf, size_t len)
{
	ssize_t n;
	do
		n = gnutls_record_recv(ts->s, buf, len);
	while (n == GNUTLS_E_INTERRUPTED);
	if (n >= 0)
		return n;
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0; /* closed without close_notify: a close all the same */
	if (n == GNUTLS_E_AGAIN)
		return RESP_TLS_AGAIN;
	/* A renegotiation request costs the server a handshake each time the
	 * client asks: refused by closing, as it is rare in practice. */
	if (n == GNUTLS_E_REHANDSHAKE || gnutls_error_is_fatal((int) n))
		return RESP_TLS_ERROR;
	return RESP_TLS_AGAIN; /* a warning alert, or a record with no data */
}

bool
resp_tls_pending(const struct resp_tls_session *ts)
{
	return ts->ra != NULL || gnutls_record_check_pending(ts->s) > 0;
}

ssize_t
resp_tls_send(struct resp_tls_session *ts, const char *p, size_t n)
{
	ssize_t w;
	do
		w = gnutls_record_send(ts->s, p, n > RECORD_MAX ? RECORD_MAX : n);
	while (w == GNUTLS_E_INTERRUPTED);
	if (w > 0)
		return w;
	if (w == GNUTLS_E_AGAIN)
		return RESP_TLS_AGAIN;
	return RESP_TLS_ERROR;
}

void
resp_tls_bye(struct resp_tls_session *ts)
{
	gnutls_bye(ts->s, GNUTLS_SHUT_WR);
}
