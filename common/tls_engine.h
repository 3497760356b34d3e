/*
 * snowrange's own TLS engine for nng, on mbed TLS, and the identity a
 * client certificate carries.
 *
 * Why an engine of our own: with mutual TLS a peer's role and node name
 * come from its certificate (docs/security.md), but nng 1.5.2 (Debian's)
 * never shows a server its peer's certificate (NNG_OPT_TLS_PEER_CN came in
 * nng 1.6). nng does let a program register its own TLS engine
 * (nng/supplemental/tls/engine.h). Ours does what nng's mbed TLS engine
 * does and, when the server asks whether a connection is verified (the
 * engine's `verified` operation, which nng runs on the asking thread),
 * also reads the verified peer certificate's subject into a thread-local
 * slot. common/wire.c asks in its ADD_PRE pipe callback and takes the
 * identity from the slot right after (docs/decisions.md).
 *
 * The subject rule (pure, tls_identity_from_subject): CN is the name, OU
 * the role (node, admin, reader or client), exactly one of each, as
 * scripts/mkcerts makes them. The SAN URI snowrange:role:ROLE that mkcerts
 * also writes is not read.
 */
#ifndef SR_TLS_ENGINE_H
#define SR_TLS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "creds.h"

/* What a connection's client certificate says about its peer. */
struct tls_identity {
	bool cert;                     /* a client certificate was presented and verified */
	unsigned role;                 /* its one CREDS_ bit; 0 when it names none (see why) */
	char name[CREDS_NAME_MAX + 1]; /* its CN; for role node, a valid node name */
	char why[200];                 /* role 0: why the certificate grants nothing */
};

/* mbed TLS's parsed subject (mbedtls/x509.h); kept opaque here so that
 * callers need not include mbed TLS. */
struct mbedtls_asn1_named_data;

/*
 * The pure part: fills id from a certificate subject (the list mbed TLS
 * parses; NULL for none). id->cert is set; id->role is 0 with a message in
 * id->why when the subject has no OU, more than one, an OU that is not a
 * role, no CN, or (for node) a CN that is not a node name.
 */
void tls_identity_from_subject(const struct mbedtls_asn1_named_data *subject,
    struct tls_identity *id);

/*
 * Registers the engine with nng (once per process; later calls return the
 * first result). Every nng TLS configuration allocated afterwards, in this
 * process, uses it. Returns an nng error code (0 on success).
 */
int tls_engine_register(void);

/* The thread-local slot: cleared, then filled by the engine's `verified`
 * operation when it runs on this thread for a connection with a verified
 * client certificate, then taken (copied out and cleared). */
void tls_engine_peer_clear(void);
void tls_engine_peer_take(struct tls_identity *out);

#endif
