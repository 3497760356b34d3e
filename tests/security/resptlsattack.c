/*
 * A hostile TLS client for tests/security/resp_tls_attacks.sh, against a
 * coordinator's RESP port on tls+tcp:// (docs/security.md). GnuTLS on the
 * client side, so that a handshake can be started for real and then left.
 *
 *   resptlsattack PORT stall N SECONDS    N connections each send a real
 *       ClientHello and never answer the server's reply; waits until the
 *       server has closed them all, for at most SECONDS; prints "OK HELD
 *       OPEN ELAPSED": how many the server held once all had sent their
 *       hello, how many it still kept open at the end, and the seconds
 *       until the last was closed.
 *   resptlsattack PORT partial N SECONDS  the same with half a ClientHello
 *       record (a header announcing 512 bytes and 12 of them).
 *   resptlsattack PORT garbage N SECONDS  N connections each send bytes that
 *       are no ClientHello (a RESP PING in the clear, an HTTP request, a
 *       record header with an impossible length, random bytes after a
 *       handshake header, a TLS alert); prints "OK CLOSED OPEN ANSWERED"
 *       after all are closed or SECONDS passed: ANSWERED counts connections
 *       that got a readable RESP reply (+PONG, -NOAUTH, ...), which a TLS
 *       port must never send.
 *   resptlsattack PORT noread SECONDS     one TLS connection (client
 *       certificate, CA and token from RESPATTACK_CERT, RESPATTACK_KEY,
 *       RESPATTACK_CA, RESPATTACK_TOKEN) sends AUTH, then pipelines
 *       SR.NEXT bench 65536 as fast as the server takes them without ever
 *       reading a reply, for SECONDS; prints "OK SENT_BYTES".
 *
 * Exit status 0 when the attack ran, 1 when it could not connect or
 * handshake at all, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "attack_net.h"

#include <gnutls/gnutls.h>

static int port;

static int
dial(void)
{
	return dial_port(port);
}

/* Reads and drops what the server sent; true when it closed fd. */
static int
closed(int fd)
{
	char b[4096];
	for (;;) {
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n > 0)
			continue;
		return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
	}
}

/* Prints how many connections the server holds now, how many are left
 * once it closed them all or secs passed, and when the last was closed. */
static void
hold(int *fd, int n, double secs)
{
	int held = 0;
	for (int i = 0; i < n; i++)
		held += fd[i] >= 0 && !closed(fd[i]);
	double start = now(), end = start + secs, last = start;
	int open = held;
	while (open > 0 && now() < end) {
		/* Keep reading, so that the server's sends never block on us
		 * and only its own deadline can close the connections. */
		open = 0;
		for (int i = 0; i < n; i++) {
			if (fd[i] < 0)
				continue;
			if (closed(fd[i])) {
				close(fd[i]);
				fd[i] = -1;
				last = now();
			} else {
				open++;
			}
		}
		if (open > 0)
			usleep(100 * 1000);
	}
	for (int i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	printf("OK %d %d %.1f\n", held, open, last - start);
}

static int
stall(int n, double secs)
{
	int *fd = calloc((size_t) n, sizeof(int));
	gnutls_certificate_credentials_t cred;
	if (fd == NULL || gnutls_certificate_allocate_credentials(&cred) < 0)
		return 2;
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fd[i] = dial();
		if (fd[i] < 0)
			continue;
		ok++;
		/* One step of a non-blocking handshake sends the ClientHello and
		 * stops at the server's reply; the session is then dropped
		 * without a word, the socket kept open. */
		gnutls_session_t s;
		if (gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0)
			return 2;
		gnutls_set_default_priority(s);
		gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
		gnutls_transport_set_int(s, fd[i]);
		int fl = fcntl(fd[i], F_GETFL);
		fcntl(fd[i], F_SETFL, fl | O_NONBLOCK);
		int g = gnutls_handshake(s);
		(void) g;
		gnutls_deinit(s);
	}
	if (ok == 0)
		return 1;
	hold(fd, n, secs);
	free(fd);
	gnutls_certificate_free_credentials(cred);
	return 0;
}

static int
partial(int n, double secs)
{
	int *fd = calloc((size_t) n, sizeof(int));
	if (fd == NULL)
		return 2;
	/* A handshake record announcing 512 bytes, a ClientHello header, and
	 * 12 bytes of it. */
	static const unsigned char half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
	    0x03, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fd[i] = dial();
		if (fd[i] < 0)
			continue;
		ok++;
		ssize_t w = send(fd[i], half, sizeof(half), MSG_NOSIGNAL);
		(void) w;
	}
	if (ok == 0)
		return 1;
	hold(fd, n, secs);
	free(fd);
	return 0;
}

static int
garbage(int n, double secs)
{
	static const char *const kinds[] = {
	    "*1\r\n$4\r\nPING\r\n",
	    "PING\r\n",
	    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    "\x16\x03\x01\xff\xff",
	    "\x16\x03\x01\x00\x10\x01\x00\x00\x0c\xde\xad\xbe\xef\xde\xad\xbe\xef\xde\xad\xbe\xef",
	    "\x15\x03\x03\x00\x02\x02\x28",
	    "\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10",
	};
	static const size_t lens[] = {14, 6, 27, 5, 21, 7, 11};
	size_t nk = sizeof(kinds) / sizeof(kinds[0]);
	int *fd = calloc((size_t) n, sizeof(int));
	int *answered = calloc((size_t) n, sizeof(int));
	if (fd == NULL || answered == NULL)
		return 2;
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fd[i] = dial();
		if (fd[i] < 0)
			continue;
		ok++;
		ssize_t w =
		    send(fd[i], kinds[(size_t) i % nk], lens[(size_t) i % nk], MSG_NOSIGNAL);
		(void) w;
	}
	if (ok == 0)
		return 1;
	int done = 0, answers = 0;
	double end = now() + secs;
	while (done < ok && now() < end) {
		for (int i = 0; i < n; i++) {
			if (fd[i] < 0)
				continue;
			char b[512];
			ssize_t r = recv(fd[i], b, sizeof(b) - 1, MSG_DONTWAIT);
			if (r > 0) {
				/* A TLS alert starts with 0x15; a RESP reply with
				 * '+', '-', ':', '$' or '*'. */
				if (b[0] != '\0' && strchr("+-:$*", b[0]) != NULL)
					answered[i] = 1;
				continue;
			}
			if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				close(fd[i]);
				fd[i] = -1;
				done++;
			}
		}
		usleep(50 * 1000);
	}
	for (int i = 0; i < n; i++) {
		answers += answered[i];
		if (fd[i] >= 0)
			close(fd[i]);
	}
	printf("OK %d %d %d\n", done, ok - done, answers);
	free(fd);
	free(answered);
	return 0;
}

/* A whole handshake with the files from the environment, blocking with a
 * 10 s bound. */
static gnutls_session_t
tls_connect(int fd, gnutls_certificate_credentials_t *cred)
{
	const char *ca = getenv("RESPATTACK_CA"), *cert = getenv("RESPATTACK_CERT"),
	           *key = getenv("RESPATTACK_KEY");
	if (ca == NULL || cert == NULL || key == NULL) {
		fprintf(stderr, "resptlsattack: set RESPATTACK_CA, _CERT and _KEY\n");
		exit(2);
	}
	gnutls_session_t s;
	if (gnutls_certificate_allocate_credentials(cred) < 0 ||
	    gnutls_certificate_set_x509_trust_file(*cred, ca, GNUTLS_X509_FMT_PEM) <= 0 ||
	    gnutls_certificate_set_x509_key_file(*cred, cert, key, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0) {
		fprintf(stderr, "resptlsattack: cannot load %s, %s, %s\n", ca, cert, key);
		exit(2);
	}
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, *cred);
	gnutls_session_set_verify_cert(s, NULL, 0);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 10000);
	int g;
	do
		g = gnutls_handshake(s);
	while (g < 0 && !gnutls_error_is_fatal(g));
	if (g < 0) {
		fprintf(stderr, "resptlsattack: handshake: %s\n", gnutls_strerror(g));
		gnutls_deinit(s);
		return NULL;
	}
	return s;
}

static int
noread(double secs)
{
	int fd = dial();
	if (fd < 0)
		return 1;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s = tls_connect(fd, &cred);
	if (s == NULL)
		return 1;
	const char *tok = getenv("RESPATTACK_TOKEN");
	if (tok != NULL) {
		char auth[300];
		int an = snprintf(auth, sizeof(auth), "AUTH %s\r\n", tok);
		if (an > 0 && (size_t) an < sizeof(auth) &&
		    gnutls_record_send(s, auth, (size_t) an) < 0)
			return 1;
	}
	const char *req = "*3\r\n$7\r\nSR.NEXT\r\n$5\r\nbench\r\n$5\r\n65536\r\n";
	size_t rl = strlen(req);
	char buf[4096];
	size_t n = 0;
	while (n + rl <= sizeof(buf)) {
		memcpy(buf + n, req, rl);
		n += rl;
	}
	/* Non-blocking from here: a send that would block is repeated (with
	 * the same bytes, as GnuTLS wants) when the socket takes more. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	long long sent = 0;
	double end = now() + secs;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	while (now() < end) {
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t w = gnutls_record_send(s, buf, n);
		if (w < 0 && w != GNUTLS_E_AGAIN && w != GNUTLS_E_INTERRUPTED)
			break;
		if (w > 0)
			sent += w;
	}
	printf("OK %lld\n", sent);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	close(fd);
	return 0;
}

/* A whole positive number, else the usage error. */
static long
num(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1) {
		fprintf(stderr, "resptlsattack: '%s' is not a positive number\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	if (argc < 4)
		goto usage;
	port = (int) num(argv[1]);
	if (strcmp(argv[2], "stall") == 0 && argc == 5)
		return stall((int) num(argv[3]), (double) num(argv[4]));
	if (strcmp(argv[2], "partial") == 0 && argc == 5)
		return partial((int) num(argv[3]), (double) num(argv[4]));
	if (strcmp(argv[2], "garbage") == 0 && argc == 5)
		return garbage((int) num(argv[3]), (double) num(argv[4]));
	if (strcmp(argv[2], "noread") == 0 && argc == 4)
		return noread((double) num(argv[3]));
usage:
	fprintf(stderr,
	    "usage: resptlsattack PORT stall N SECONDS | partial N SECONDS | "
	    "garbage N SECONDS | noread SECONDS\n");
	return 2;
}
