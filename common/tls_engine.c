/*
 * snowrange's TLS engine for nng on mbed TLS 2.28: the operations of
 * nng/supplemental/tls/engine.h, written for this project after nng 1.5.2's
 * own mbed TLS engine (same defaults: TLS 1.2, the peer verified as the
 * configuration says), plus the peer identity that engine cannot give
 * (tls_engine.h, docs/security.md, docs/decisions.md).
 */
#include "tls_engine.h"

#include <mbedtls/asn1.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/engine.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

/* ---- the identity in a subject (pure) ---- */

/* Copies an attribute value as printable ASCII (anything else becomes '?',
 * so a name can go into a log or an error message); false when it does not
 * fit or held a byte that had to be replaced. */
static bool
copy_value(const mbedtls_asn1_buf *v, char *out, size_t len)
{
	bool clean = v->len < len;
	size_t n = v->len < len ? v->len : len - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = v->p[i];
		if (ch < 0x20 || ch >= 0x7f) {
			ch = '?';
			clean = false;
		}
		out[i] = (char) ch;
	}
	out[n] = '\0';
	return clean;
}

void
tls_identity_from_subject(const struct mbedtls_asn1_named_data *subject, struct tls_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->cert = true;
	const mbedtls_asn1_buf *cn = NULL, *ou = NULL;
	int ncn = 0, nou = 0;
	for (const mbedtls_asn1_named_data *a = subject; a != NULL; a = a->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &a->oid) == 0) {
			cn = &a->val;
			ncn++;
		} else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &a->oid) == 0) {
			ou = &a->val;
			nou++;
		}
	}
	bool cn_clean = cn != NULL && copy_value(cn, id->name, sizeof(id->name));
	char ous[CREDS_NAME_MAX + 1] = "";
	bool ou_clean = ou != NULL && copy_value(ou, ous, sizeof(ous));
	const char *who = id->name[0] != '\0' ? id->name : "(none)";
	if (ncn != 1) {
		snprintf(id->why, sizeof(id->why),
		    "the client certificate has %s CN "
		    "(it must have exactly one: the peer's name, docs/security.md)",
		    ncn == 0 ? "no" : "more than one");
		return;
	}
	if (nou != 1) {
		snprintf(id->why, sizeof(id->why),
		    "the client certificate of CN=%.64s "
		    "has %s OU (it must have exactly one naming its role: node, admin, "
		    "reader or client)",
		    who, nou == 0 ? "no" : "more than one");
		return;
	}
	unsigned role = ou_clean ? creds_role_of(ous) : 0;
	if (role == 0) {
		snprintf(id->why, sizeof(id->why),
		    "the client certificate of CN=%.64s "
		    "has OU=%.32s, which is not a role (node, admin, reader or client)",
		    who, ous);
		return;
	}
	if (role == CREDS_NODE && (!cn_clean || !sr_name_valid(id->name))) {
		snprintf(id->why, sizeof(id->why),
		    "the node certificate's CN=%.64s is "
		    "not a node name ([a-z0-9_.-]{1,64})",
		    who);
		return;
	}
	id->role = role;
}

/* ---- the thread-local slot ---- */

static _Thread_local struct tls_identity peer_slot;

void
tls_engine_peer_clear(void)
{
	memset(&peer_slot, 0, sizeof(peer_slot));
}

void
tls_engine_peer_take(struct tls_identity *out)
{
	*out = peer_slot;
	memset(&peer_slot, 0, sizeof(peer_slot));
}

/* ---- the engine ---- */

/* A certificate and key given to own_cert; a configuration may have
 * several (nng allows one per key type). */
struct own_pair {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	struct own_pair *next;
};

struct nng_tls_engine_config {
	mbedtls_ssl_config ssl;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	char *server_name;
	struct own_pair *pairs;
};

struct nng_tls_engine_conn {
	mbedtls_ssl_context ssl;
};

/* The kernel's generator: no state to seed or lock. */
static int
rng(void *arg, unsigned char *buf, size_t len)
{
	(void) arg;
	while (len > 0) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
		}
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

/* An mbed TLS error as nng's: authentication failures as NNG_EPEERAUTH,
 * like nng's engine, so that nng reports them the same way. */
static int
nng_err(int rv)
{
	switch (rv) {
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
	case MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED:
	case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
	case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED: return NNG_EPEERAUTH;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY: return NNG_ECONNREFUSED;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
	case MBEDTLS_ERR_X509_ALLOC_FAILED:
	case MBEDTLS_ERR_PK_ALLOC_FAILED: return NNG_ENOMEM;
	case MBEDTLS_ERR_SSL_TIMEOUT: return NNG_ETIMEDOUT;
	case MBEDTLS_ERR_SSL_CONN_EOF: return NNG_ECLOSED;
	default: return NNG_ECRYPTO;
	}
}

/* The transport below, as mbed TLS's send and receive callbacks. */
static int
bio_send(void *tls, const unsigned char *buf, size_t len)
{
	size_t n = len;
	int rv = nng_tls_engine_send(tls, buf, &n);
	if (rv == 0)
		return (int) n;
	return rv == NNG_EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
bio_recv(void *tls, unsigned char *buf, size_t len)
{
	size_t n = len;
	int rv = nng_tls_engine_recv(tls, buf, &n);
	if (rv == 0)
		return (int) n;
	return rv == NNG_EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int
conn_init(nng_tls_engine_conn *c, void *tls, nng_tls_engine_config *cfg)
{
	mbedtls_ssl_init(&c->ssl);
	mbedtls_ssl_set_bio(&c->ssl, tls, bio_send, bio_recv, NULL);
	int rv = mbedtls_ssl_setup(&c->ssl, &cfg->ssl);
	if (rv == 0 && cfg->server_name != NULL)
		rv = mbedtls_ssl_set_hostname(&c->ssl, cfg->server_name);
	/* On failure nng still calls fini, which frees what setup made. */
	return rv == 0 ? 0 : nng_err(rv);
}

static void
conn_fini(nng_tls_engine_conn *c)
{
	mbedtls_ssl_free(&c->ssl);
}

static void
conn_close(nng_tls_engine_conn *c)
{
	/* A courtesy: nothing relies on close-notify, and the transport
	 * closes the TCP connection itself. */
	(void) mbedtls_ssl_close_notify(&c->ssl);
}

/* Want-read and want-write both mean "more I/O first" to nng. */
static int
io_result(int rv, size_t *n)
{
	if (rv >= 0) {
		*n = (size_t) rv;
		return 0;
	}
	if (rv == MBEDTLS_ERR_SSL_WANT_READ || rv == MBEDTLS_ERR_SSL_WANT_WRITE)
		return NNG_EAGAIN;
	return nng_err(rv);
}

static int
conn_recv(nng_tls_engine_conn *c, uint8_t *buf, size_t *n)
{
	return io_result(mbedtls_ssl_read(&c->ssl, buf, *n), n);
}

static int
conn_send(nng_tls_engine_conn *c, const uint8_t *buf, size_t *n)
{
	return io_result(mbedtls_ssl_write(&c->ssl, buf, *n), n);
}

static int
conn_handshake(nng_tls_engine_conn *c)
{
	size_t unused;
	return io_result(mbedtls_ssl_handshake(&c->ssl), &unused);
}

/*
 * nng asks this for NNG_OPT_TLS_VERIFIED, on the thread that asked (the
 * transport's getopt calls it directly, under the connection's lock). That
 * thread is our pipe callback (common/wire.c), so the identity goes into
 * its thread-local slot on the way.
 */
static bool
conn_verified(nng_tls_engine_conn *c)
{
	bool ok = mbedtls_ssl_get_verify_result(&c->ssl) == 0;
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
	if (ok && peer != NULL)
		tls_identity_from_subject(&peer->subject, &peer_slot);
	return ok;
}

static void
config_fini(nng_tls_engine_config *cfg)
{
	mbedtls_ssl_config_free(&cfg->ssl);
	mbedtls_x509_crt_free(&cfg->ca);
	mbedtls_x509_crl_free(&cfg->crl);
	free(cfg->server_name);
	while (cfg->pairs != NULL) {
		struct own_pair *p = cfg->pairs;
		cfg->pairs = p->next;
		mbedtls_x509_crt_free(&p->crt);
		mbedtls_pk_free(&p->key);
		free(p);
	}
}

/* TLS 1.2 only, as nng's engine: mbed TLS 2.28 has no usable 1.3. */
static void
set_versions(nng_tls_engine_config *cfg, int lo, int hi)
{
	mbedtls_ssl_conf_min_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, lo);
	mbedtls_ssl_conf_max_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, hi);
}

static int
config_init(nng_tls_engine_config *cfg, nng_tls_mode mode)
{
	bool server = mode == NNG_TLS_MODE_SERVER;
	mbedtls_ssl_config_init(&cfg->ssl);
	mbedtls_x509_crt_init(&cfg->ca);
	mbedtls_x509_crl_init(&cfg->crl);
	int rv = mbedtls_ssl_config_defaults(&cfg->ssl,
	    server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	    MBEDTLS_SSL_PRESET_DEFAULT);
	if (rv != 0) {
		config_fini(cfg);
		return nng_err(rv);
	}
	/* A client verifies its server unless told otherwise; a server asks
	 * for nothing until auth says so (nng's defaults). */
	mbedtls_ssl_conf_authmode(&cfg->ssl,
	    server ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
	set_versions(cfg, MBEDTLS_SSL_MINOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_rng(&cfg->ssl, rng, NULL);
	return 0;
}

static int
config_server(nng_tls_engine_config *cfg, const char *name)
{
	char *dup = strdup(name);
	if (dup == NULL)
		return NNG_ENOMEM;
	free(cfg->server_name);
	cfg->server_name = dup;
	return 0;
}

static int
config_auth(nng_tls_engine_config *cfg, nng_tls_auth_mode mode)
{
	switch (mode) {
	case NNG_TLS_AUTH_MODE_NONE:
		mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_NONE);
		return 0;
	case NNG_TLS_AUTH_MODE_OPTIONAL:
		mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_OPTIONAL);
		return 0;
	case NNG_TLS_AUTH_MODE_REQUIRED:
		mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
		return 0;
	}
	return NNG_EINVAL;
}

/* PEM text includes its NUL in the length mbed TLS wants. */
static int
config_ca_chain(nng_tls_engine_config *cfg, const char *certs, const char *crl)
{
	int rv = mbedtls_x509_crt_parse(&cfg->ca, (const unsigned char *) certs, strlen(certs) + 1);
	if (rv != 0)
		return rv < 0 ? nng_err(rv) : NNG_ECRYPTO;
	if (crl != NULL &&
	    (rv = mbedtls_x509_crl_parse(&cfg->crl, (const unsigned char *) crl,
	         strlen(crl) + 1)) != 0)
		return nng_err(rv);
	mbedtls_ssl_conf_ca_chain(&cfg->ssl, &cfg->ca, crl != NULL ? &cfg->crl : NULL);
	return 0;
}

static int
config_own_cert(nng_tls_engine_config *cfg, const char *cert, const char *key, const char *pass)
{
	struct own_pair *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NNG_ENOMEM;
	mbedtls_x509_crt_init(&p->crt);
	mbedtls_pk_init(&p->key);
	int rv = mbedtls_x509_crt_parse(&p->crt, (const unsigned char *) cert, strlen(cert) + 1);
	if (rv == 0)
		rv = mbedtls_pk_parse_key(&p->key, (const unsigned char *) key, strlen(key) + 1,
		    (const unsigned char *) pass, pass != NULL ? strlen(pass) : 0);
	if (rv == 0)
		rv = mbedtls_ssl_conf_own_cert(&cfg->ssl, &p->crt, &p->key);
	if (rv != 0) {
		mbedtls_x509_crt_free(&p->crt);
		mbedtls_pk_free(&p->key);
		free(p);
		return rv < 0 ? nng_err(rv) : NNG_ECRYPTO;
	}
	/* mbed TLS keeps pointers to both: they live as long as cfg. */
	p->next = cfg->pairs;
	cfg->pairs = p;
	return 0;
}

static int
minor_of(nng_tls_version v, int *out)
{
	switch (v) {
	case NNG_TLS_1_2: *out = MBEDTLS_SSL_MINOR_VERSION_3; return 0;
	case NNG_TLS_1_3: /* not in mbed TLS 2.28: the best it has */
		*out = MBEDTLS_SSL_MINOR_VERSION_3;
		return 0;
	default: /* 1.0 and 1.1 are not offered */ return NNG_ENOTSUP;
	}
}

static int
config_version(nng_tls_engine_config *cfg, nng_tls_version lo, nng_tls_version hi)
{
	int a, b;
	if (lo > hi || minor_of(lo, &a) != 0 || minor_of(hi, &b) != 0)
		return NNG_ENOTSUP;
	set_versions(cfg, a, b);
	return 0;
}

static nng_tls_engine_config_ops config_ops = {
    .size = sizeof(nng_tls_engine_config),
    .init = config_init,
    .fini = config_fini,
    .server = config_server,
    .auth = config_auth,
    .ca_chain = config_ca_chain,
    .own_cert = config_own_cert,
    .version = config_version,
};

static nng_tls_engine_conn_ops conn_ops = {
    .size = sizeof(nng_tls_engine_conn),
    .init = conn_init,
    .fini = conn_fini,
    .close = conn_close,
    .handshake = conn_handshake,
    .recv = conn_recv,
    .send = conn_send,
    .verified = conn_verified,
};

static const nng_tls_engine engine = {
    .version = NNG_TLS_ENGINE_VERSION,
    .config_ops = &config_ops,
    .conn_ops = &conn_ops,
    .name = "snowrange-mbed",
    .description = "snowrange's engine on " MBEDTLS_VERSION_STRING_FULL,
    .fips_mode = false,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered;

static void
register_once(void)
{
	/* nng sets up its own engine when it initializes, which any nng call
	 * does the first time: do that first, or nng's start-up would put its
	 * engine back over ours. */
	(void) nng_tls_engine_name();
	registered = nng_tls_engine_register(&engine);
}

int
tls_engine_register(void)
{
	pthread_once(&once, register_once);
	return registered;
}
