/*
 * Unit tests for the RESP port's TLS sessions (coordinator/resp_tls.c):
 * the files a server is given, non-blocking handshakes with and without
 * client certificates, garbage and closed peers, bytes left inside a
 * session, and a send the socket refused repeated with the same bytes.
 * Both ends run in this thread over a non-blocking socketpair; the
 * certificates are made here with GnuTLS (a CA, a server, a client, and a
 * client of another CA).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "creds.h"
#include "resp_tls.h"
#include "rm_rf.h"
#include "snowrange/error.h"

static char dir[64];

/* DIR/NAME.EXT */
static const char *
path(const char *name, const char *ext)
{
	static char p[8][128];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof(p[k]), "%s/%s.%s", dir, name, ext);
	return p[k];
}

static void
write_datum(const char *file, gnutls_datum_t *d)
{
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
	fclose(f);
	gnutls_free(d->data);
}

/* NAME.pem and NAME.key, signed by ca (self-signed, a CA, when ca is
 * NULL). The certificate and key are kept in *crt and *key for signing
 * others, or freed when those are NULL. */
static void
make_cert(const char *name, gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
    gnutls_x509_crt_t *crt_out, gnutls_x509_privkey_t *key_out)
{
	static unsigned char serial = 1;
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
	    0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	unsigned char sn[2] = {0x01, serial++};
	time_t now = time(NULL);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, sn, sizeof(sn)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 86400), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
	                     (unsigned) strlen(name)),
	    0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	if (ca == NULL) {
		assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, 1, -1), 0);
		assert_int_equal(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN), 0);
		assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	} else {
		assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), 0);
		assert_int_equal(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE),
		    0);
		assert_int_equal(gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0), 0);
	}
	gnutls_datum_t d;
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), 0);
	write_datum(path(name, "pem"), &d);
	assert_int_equal(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d), 0);
	write_datum(path(name, "key"), &d);
	if (crt_out != NULL) {
		*crt_out = crt;
		*key_out = key;
	} else {
		gnutls_x509_crt_deinit(crt);
		gnutls_x509_privkey_deinit(key);
	}
}

static int
setup(void **state)
{
	(void) state;
	snprintf(dir, sizeof(dir), "/tmp/sr-test-resp-tls.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	gnutls_x509_crt_t ca, other;
	gnutls_x509_privkey_t ca_key, other_key;
	make_cert("ca", NULL, NULL, &ca, &ca_key);
	make_cert("server", ca, ca_key, NULL, NULL);
	make_cert("client", ca, ca_key, NULL, NULL);
	make_cert("other-ca", NULL, NULL, &other, &other_key);
	make_cert("stranger", other, other_key, NULL, NULL);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(ca_key);
	gnutls_x509_crt_deinit(other);
	gnutls_x509_privkey_deinit(other_key);
	FILE *f = fopen(path("empty", "pem"), "w");
	if (f == NULL)
		return -1;
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	rm_rf(dir);
	return 0;
}

/* A server with server.pem/key and, when ca is not NULL, that CA. */
static struct resp_tls *
server(const char *ca)
{
	char cert[128], key[128], cabuf[128];
	snprintf(cert, sizeof(cert), "%s", path("server", "pem"));
	snprintf(key, sizeof(key), "%s", path("server", "key"));
	struct creds cr = {0};
	cr.tls_cert = cert;
	cr.tls_key = key;
	if (ca != NULL) {
		snprintf(cabuf, sizeof(cabuf), "%s", path(ca, "pem"));
		cr.tls_ca = cabuf;
	}
	struct resp_tls *t;
	char err[300];
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_OK);
	return t;
}

/* Both ends of one connection. */
struct pair {
	int fd[2]; /* [0] the server's, [1] the client's */
	struct resp_tls_session *srv;
	gnutls_session_t cli;
	gnutls_certificate_credentials_t cred;
};

/* A client trusting ca.pem, presenting NAME.pem (none when NULL). */
static void
pair_open(struct pair *p, const struct resp_tls *t, const char *name)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
	p->srv = resp_tls_accept(t, p->fd[0]);
	assert_non_null(p->srv);
	assert_int_equal(gnutls_certificate_allocate_credentials(&p->cred), 0);
	assert_true(gnutls_certificate_set_x509_trust_file(p->cred, path("ca", "pem"),
	                GNUTLS_X509_FMT_PEM) > 0);
	if (name != NULL)
		assert_int_equal(gnutls_certificate_set_x509_key_file(p->cred, path(name, "pem"),
		                     path(name, "key"), GNUTLS_X509_FMT_PEM),
		    0);
	assert_int_equal(gnutls_init(&p->cli, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL),
	    0);
	assert_int_equal(gnutls_set_default_priority(p->cli), 0);
	assert_int_equal(gnutls_credentials_set(p->cli, GNUTLS_CRD_CERTIFICATE, p->cred), 0);
	gnutls_session_set_verify_cert(p->cli, NULL, 0);
	gnutls_transport_set_int(p->cli, p->fd[1]);
}

static void
pair_close(struct pair *p)
{
	resp_tls_session_free(p->srv);
	gnutls_deinit(p->cli);
	gnutls_certificate_free_credentials(p->cred);
	close(p->fd[0]);
	if (p->fd[1] >= 0)
		close(p->fd[1]);
}

/* Drives both handshakes in turn, never blocking: the server's result. */
static enum resp_tls_io
handshake(struct pair *p, char *why, size_t whylen)
{
	enum resp_tls_io s = RESP_TLS_WANT_READ;
	int c = GNUTLS_E_AGAIN;
	for (int i = 0; i < 1000; i++) {
		if (c != 0 && (c == GNUTLS_E_AGAIN || !gnutls_error_is_fatal(c)))
			c = gnutls_handshake(p->cli);
		if (s == RESP_TLS_WANT_READ || s == RESP_TLS_WANT_WRITE)
			s = resp_tls_handshake(p->srv, why, whylen);
		if (s == RESP_TLS_FAIL || (s == RESP_TLS_DONE && c == 0))
			break;
	}
	return s;
}

static void
test_open_errors(void **state)
{
	(void) state;
	char cert[128], key[128], ca[128], err[300];
	struct resp_tls *t;
	struct creds cr = {0};
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "needs --tls-cert and --tls-key"));
	assert_null(t);
	snprintf(cert, sizeof(cert), "%s", path("server", "pem"));
	snprintf(key, sizeof(key), "%s", path("client", "key"));
	cr.tls_cert = cert;
	cr.tls_key = key;
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "cannot use tls-cert"));
	assert_non_null(strstr(err, "client.key"));
	snprintf(key, sizeof(key), "%s", path("nosuch", "key"));
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "nosuch.key"));
	snprintf(key, sizeof(key), "%s", path("server", "key"));
	cr.tls_ca = ca;
	snprintf(ca, sizeof(ca), "%s", path("empty", "pem"));
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "holds no PEM certificate"));
	snprintf(ca, sizeof(ca), "%s", path("nosuch", "pem"));
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "cannot read tls-ca"));
	snprintf(ca, sizeof(ca), "%s", path("ca", "pem"));
	assert_int_equal(resp_tls_open(&cr, &t, err, sizeof(err)), SR_OK);
	resp_tls_close(t);
	resp_tls_close(NULL);
}

/* Mutual TLS: a client certificate of the CA gets through, and bytes flow
 * both ways; none, or one of another CA, fails the handshake with a
 * reason. */
static void
test_mutual(void **state)
{
	(void) state;
	struct resp_tls *t = server("ca");
	struct pair p;
	char why[160] = "";
	pair_open(&p, t, "client");
	assert_int_equal(handshake(&p, why, sizeof(why)), RESP_TLS_DONE);
	assert_int_equal(gnutls_record_send(p.cli, "PING\r\n", 6), 6);
	char buf[64];
	assert_int_equal(resp_tls_recv(p.srv, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "PING\r\n", 6);
	assert_false(resp_tls_pending(p.srv));
	assert_int_equal(resp_tls_recv(p.srv, buf, sizeof(buf)), RESP_TLS_AGAIN);
	assert_int_equal(resp_tls_send(p.srv, "+PONG\r\n", 7), 7);
	assert_int_equal(gnutls_record_recv(p.cli, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "+PONG\r\n", 7);
	/* close_notify reads as a close. */
	assert_int_equal(gnutls_bye(p.cli, GNUTLS_SHUT_WR), 0);
	assert_int_equal(resp_tls_recv(p.srv, buf, sizeof(buf)), 0);
	pair_close(&p);

	pair_open(&p, t, NULL);
	assert_int_equal(handshake(&p, why, sizeof(why)), RESP_TLS_FAIL);
	assert_true(why[0] != '\0');
	pair_close(&p);

	why[0] = '\0';
	pair_open(&p, t, "stranger");
	assert_int_equal(handshake(&p, why, sizeof(why)), RESP_TLS_FAIL);
	assert_true(why[0] != '\0');
	pair_close(&p);
	resp_tls_close(t);
}

/* Without a CA any client that trusts the server gets through. */
static void
test_server_only(void **state)
{
	(void) state;
	struct resp_tls *t = server(NULL);
	struct pair p;
	char why[160];
	pair_open(&p, t, NULL);
	assert_int_equal(handshake(&p, why, sizeof(why)), RESP_TLS_DONE);
	pair_close(&p);
	resp_tls_close(t);
}

/* Nothing sent yet: wait to read. Garbage: a failure that says why. Half a
 * record: wait for the rest; then closed: a failure. A peer that closed
 * before a byte (a port probe): a failure not worth a log line (why is
 * ""). */
static void
test_bad_peers(void **state)
{
	(void) state;
	struct resp_tls *t = server("ca");
	struct pair p;
	char why[160];
	pair_open(&p, t, NULL);
	assert_int_equal(resp_tls_handshake(p.srv, why, sizeof(why)), RESP_TLS_WANT_READ);
	assert_int_equal(send(p.fd[1], "*1\r\n$4\r\nPING\r\n", 14, 0), 14);
	assert_int_equal(resp_tls_handshake(p.srv, why, sizeof(why)), RESP_TLS_FAIL);
	assert_true(why[0] != '\0');
	pair_close(&p);

	pair_open(&p, t, NULL);
	/* Half a ClientHello record: still waiting. */
	static const unsigned char half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
	assert_int_equal(send(p.fd[1], half, sizeof(half), 0), (ssize_t) sizeof(half));
	assert_int_equal(resp_tls_handshake(p.srv, why, sizeof(why)), RESP_TLS_WANT_READ);
	close(p.fd[1]);
	p.fd[1] = -1;
	assert_int_equal(resp_tls_handshake(p.srv, why, sizeof(why)), RESP_TLS_FAIL);
	pair_close(&p);

	pair_open(&p, t, NULL);
	close(p.fd[1]);
	p.fd[1] = -1;
	assert_int_equal(resp_tls_handshake(p.srv, why, sizeof(why)), RESP_TLS_FAIL);
	assert_string_equal(why, "");
	pair_close(&p);
	resp_tls_close(t);
}

/* A small read leaves the rest of a record inside the session: pending
 * says so, since no socket event will. */
static void
test_pending(void **state)
{
	(void) state;
	struct resp_tls *t = server(NULL);
	struct pair p;
	char why[160], buf[1024];
	pair_open(&p, t, NULL);
	assert_int_equal(handshake(&p, why, sizeof(why)), RESP_TLS_DONE);
	char rec[100];
	memset(rec, 'x', sizeof(rec));
	for (int i = 0; i < 3; i++)
		assert_int_equal(gnutls_record_send(p.cli, rec, sizeof(rec)),
		    (ssize_t) sizeof(rec));
	assert_int_equal(resp_tls_recv(p.srv, buf, 40), 40);
	assert_true(resp_tls_pending(p.srv));
	size_t got = 40;
	for (int i = 0; i < 10 && got < 300; i++) {
		ssize_t n = resp_tls_recv(p.srv, buf, sizeof(buf));
		assert_true(n > 0);
		got += (size_t) n;
	}
	assert_int_equal(got, 300);
	assert_false(resp_tls_pending(p.srv));
	assert_int_equal(resp_tls_recv(p.srv, buf, sizeof(buf)), RESP_TLS_AGAIN);
	pair_close(&p);
	resp_tls_close(t);
}

/* 1 MB through a socket that fills: each refused send is repeated with
 * the same bytes, as resp_server.c does, and every byte arrives once, in
 * order. */
static void
test_send_again(void **state)
{
	(void) state;
	struct resp_tls *t = server(NULL);
	struct pair p;
	char why[160];
	pair_open(&p, t, NULL);
	assert_int_equal(handshake(&p, why, sizeof(why)), RESP_TLS_DONE);
	size_t len = 1u << 20, off = 0, got = 0;
	char *data = malloc(len), *in = malloc(len);
	assert_non_null(data);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		data[i] = (char) (i * 7 + i / 4096);
	int agains = 0;
	while (got < len) {
		if (off < len) {
			ssize_t w = resp_tls_send(p.srv, data + off, len - off);
			if (w > 0) {
				assert_true((size_t) w <= 16384);
				off += (size_t) w;
				continue;
			}
			assert_int_equal(w, RESP_TLS_AGAIN);
			agains++;
		}
		ssize_t r = 0;
		while (got < len && (r = gnutls_record_recv(p.cli, in + got, len - got)) > 0)
			got += (size_t) r;
		if (got < len)
			assert_int_equal(r, GNUTLS_E_AGAIN);
	}
	assert_true(agains > 0);
	assert_memory_equal(in, data, len);
	free(data);
	free(in);
	pair_close(&p);
	resp_tls_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_mutual),
	    cmocka_unit_test(test_server_only),
	    cmocka_unit_test(test_bad_peers),
	    cmocka_unit_test(test_pending),
	    cmocka_unit_test(test_send_again),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
