/*
 * The pure part of our TLS engine (common/tls_engine.h): what a client
 * certificate's subject says about its peer. CN = name, OU = role, exactly
 * one of each; anything else grants nothing and says why. Subjects are
 * built by hand, and one comes from a real certificate made by
 * scripts/mkcerts and parsed by mbed TLS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "creds.h"
#include "tls_engine.h"

/* A subject of up to 4 attributes, each "CN=value" or "OU=value" (O for
 * anything else). */
struct subject {
	mbedtls_asn1_named_data a[4];
};

static mbedtls_asn1_named_data *
build(struct subject *s, const char *const *attrs, size_t n)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		mbedtls_asn1_named_data *d = &s->a[i];
		const char *oid = strncmp(attrs[i], "CN=", 3) == 0 ? MBEDTLS_OID_AT_CN
		    : strncmp(attrs[i], "OU=", 3) == 0             ? MBEDTLS_OID_AT_ORG_UNIT
		                                                   : MBEDTLS_OID_AT_ORGANIZATION;
		d->oid.p = (unsigned char *) oid;
		d->oid.len = strlen(oid);
		d->val.p = (unsigned char *) attrs[i] + 3;
		d->val.len = strlen(attrs[i] + 3);
		d->next = i + 1 < n ? &s->a[i + 1] : NULL;
	}
	return n > 0 ? &s->a[0] : NULL;
}

static struct tls_identity
identity(const char *const *attrs, size_t n)
{
	struct subject s;
	struct tls_identity id;
	memset(&id, 0x55, sizeof(id)); /* everything must be set */
	tls_identity_from_subject(build(&s, attrs, n), &id);
	assert_true(id.cert);
	return id;
}

#define ID(...)                                       \
	identity((const char *const[]) {__VA_ARGS__}, \
	    sizeof((const char *const[]) {__VA_ARGS__}) / sizeof(const char *))

static void
test_roles(void **state)
{
	(void) state;
	struct tls_identity id = ID("O=snowrange", "OU=node", "CN=coord-1");
	assert_int_equal(id.role, CREDS_NODE);
	assert_string_equal(id.name, "coord-1");
	assert_string_equal(id.why, "");
	id = ID("OU=admin", "CN=Alice Ops");
	assert_int_equal(id.role, CREDS_ADMIN);
	assert_string_equal(id.name, "Alice Ops"); /* only a node's CN is a name */
	assert_int_equal(ID("CN=r", "OU=reader").role, CREDS_READER);
	assert_int_equal(ID("OU=client", "CN=app").role, CREDS_CLIENT);
}

static void
test_refusals(void **state)
{
	(void) state;
	struct tls_identity id = ID("O=snowrange", "CN=nobody");
	assert_int_equal(id.role, 0);
	assert_non_null(strstr(id.why, "CN=nobody has no OU"));
	id = ID("OU=wizard", "CN=merlin");
	assert_int_equal(id.role, 0);
	assert_non_null(strstr(id.why,
	    "OU=wizard, which is not a role (node, admin, "
	    "reader or client)"));
	/* The master's own certificate is no client role. */
	assert_int_equal(ID("OU=master", "CN=master").role, 0);
	/* Case matters, as in token files. */
	assert_int_equal(ID("OU=Admin", "CN=a").role, 0);
	id = ID("OU=admin", "OU=reader", "CN=greedy");
	assert_int_equal(id.role, 0);
	assert_non_null(strstr(id.why, "more than one OU"));
	id = ID("OU=node");
	assert_int_equal(id.role, 0);
	assert_non_null(strstr(id.why, "no CN"));
	id = ID("OU=node", "CN=a", "CN=b");
	assert_int_equal(id.role, 0);
	assert_non_null(strstr(id.why, "more than one CN"));
	id = ID("OU=node", "CN=Not A Name");
	assert_int_equal(id.role, 0);
	assert_non_null(strstr(id.why, "is not a node name"));
	id = identity(NULL, 0);
	assert_int_equal(id.role, 0);
}

/* Bytes a log must not carry become '?', and such a node name is refused:
 * "c1\0evil" must not act as c1. */
static void
test_odd_bytes(void **state)
{
	(void) state;
	struct subject s;
	const char *attrs[] = {"OU=node", "CN=c1"};
	mbedtls_asn1_named_data *d = build(&s, attrs, 2);
	static const unsigned char nul[] = {'c', '1', 0, 'x'};
	s.a[1].val.p = (unsigned char *) nul;
	s.a[1].val.len = sizeof(nul);
	struct tls_identity id;
	tls_identity_from_subject(d, &id);
	assert_int_equal(id.role, 0);
	assert_string_equal(id.name, "c1?x");
	/* An OU with a NUL is no role either. */
	static const unsigned char ou[] = {'a', 'd', 'm', 'i', 'n', 0};
	const char *attrs2[] = {"OU=admin", "CN=a"};
	d = build(&s, attrs2, 2);
	s.a[0].val.p = (unsigned char *) ou;
	s.a[0].val.len = sizeof(ou);
	tls_identity_from_subject(d, &id);
	assert_int_equal(id.role, 0);
	/* A CN longer than a name: cut in the copy, refused for a node. */
	char longcn[300];
	memset(longcn, 'a', sizeof(longcn));
	const char *attrs3[] = {"OU=node", "CN=x"};
	d = build(&s, attrs3, 2);
	s.a[1].val.p = (unsigned char *) longcn;
	s.a[1].val.len = sizeof(longcn);
	tls_identity_from_subject(d, &id);
	assert_int_equal(id.role, 0);
	assert_int_equal(strlen(id.name), CREDS_NAME_MAX);
}

/* A certificate as scripts/mkcerts makes them (coord-1: O=snowrange,
 * OU=node, CN=coord-1), parsed by mbed TLS. */
static const char coord1_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICHDCCAcOgAwIBAgIUSdxCswvPcIcCrs692FqIqW0Jzs8wCgYIKoZIzj0EAwIw\n"
    "LzESMBAGA1UECgwJc25vd3JhbmdlMRkwFwYDVQQDDBBzbm93cmFuZ2UgZGV2IENB\n"
    "MB4XDTI2MTIwMzA2MjIzMFoXDTI3MDEwMjA2MjIzMFowNTESMBAGA1UECgwJc25v\n"
    "d3JhbmdlMQ0wCwYDVQQLDARub2RlMRAwDgYDVQQDDAdjb29yZC0xMFkwEwYHKoZI\n"
    "zj0CAQYIKoZIzj0DAQcDQgAETmWXm++eTWlua0ND/y93TEmqkJv/UvgGsdiSE1Ts\n"
    "8mZxBXBqdWRD4kc2c9TqTGxdbIhyKbNrUIGWgc5EFrx2xqOBtjCBszAJBgNVHRME\n"
    "AjAAMAsGA1UdDwQEAwIHgDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIw\n"
    "OgYDVR0RBDMwMYIJbG9jYWxob3N0ggkxMjcuMC4wLjGHBH8AAAGGE3Nub3dyYW5n\n"
    "ZTpyb2xlOm5vZGUwHQYDVR0OBBYEFMDrKGpCTvOKRQEld0weEWD0Lc4yMB8GA1Ud\n"
    "IwQYMBaAFKHx1AdeQZmdyf8RbhpPPSNh35fYMAoGCCqGSM49BAMCA0cAMEQCIF5w\n"
    "/eAJK9I0uQkz0kN5RUHbbwLej76cNNArgcy0p+DoAiBWUbxpCGwN0w83XRv4lQAc\n"
    "nvmeJf6miP59quBhABHd0A==\n"
    "-----END CERTIFICATE-----\n";

static void
test_real_certificate(void **state)
{
	(void) state;
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *) coord1_pem,
	                     sizeof(coord1_pem)),
	    0);
	struct tls_identity id;
	tls_identity_from_subject(&crt.subject, &id);
	assert_true(id.cert);
	assert_int_equal(id.role, CREDS_NODE);
	assert_string_equal(id.name, "coord-1");
	mbedtls_x509_crt_free(&crt);
}

/* The thread-local slot is taken once. */
static void
test_slot(void **state)
{
	(void) state;
	struct tls_identity id;
	tls_engine_peer_clear();
	tls_engine_peer_take(&id);
	assert_false(id.cert);
	assert_int_equal(tls_engine_register(), 0);
	assert_int_equal(tls_engine_register(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_odd_bytes),
	    cmocka_unit_test(test_real_certificate),
	    cmocka_unit_test(test_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
