/*
 * Credentials, pure part: roles, the token file, the constant-time token
 * lookup a server does and the token choice a client makes, and the
 * "is this listen address local" rule of the safe default. No nng here;
 * common/wire.c turns the TLS paths into nng TLS configurations.
 *
 * The model (docs/security.md): with mutual TLS the role (and a node's
 * name) comes from the peer's certificate (common/tls_engine.h reads it);
 * without TLS, from the token the request carries; with both, the two
 * must agree.
 */
#ifndef SR_CREDS_H
#define SR_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "snowrange/credentials.h"

/* Roles, as bits: a route accepts a set of them. */
#define CREDS_NODE 1u   /* join, lease, heartbeat, leave: for its own name */
#define CREDS_ADMIN 2u  /* create, drop, node removal, making a coordinator leave */
#define CREDS_READER 4u /* status, lists */
#define CREDS_CLIENT 8u /* IDs and txids from a coordinator */
#define CREDS_ALL 15u

#define CREDS_TOKEN_MIN 16
#define CREDS_TOKEN_MAX 256
#define CREDS_NAME_MAX 64
#define CREDS_FILE_MAX (1u << 20)

struct creds_token {
	unsigned role;                 /* one CREDS_ bit */
	char node[CREDS_NAME_MAX + 1]; /* "node:NAME" lines; "" = any name */
	char token[CREDS_TOKEN_MAX + 1];
	size_t len;
};

struct creds {
	char *tls_cert, *tls_key, *tls_ca; /* NULL when not given */
	struct creds_token *tokens;
	size_t ntokens;
};

/*
 * Copies the paths of in (NULL: none) and reads its token file. The token
 * file must be readable by its owner only. Messages name the file and the
 * line, never a token. *out is freed with creds_free.
 */
int creds_load(const sr_credentials *in, struct creds **out, char *errbuf, size_t errlen);
/* Parses token file text (the part of creds_load without the file). */
int creds_parse_tokens(struct creds *c, const char *text, const char *what, char *errbuf,
    size_t errlen);
void creds_free(struct creds *c); /* NULL-safe */

/* True when c has any credential (a certificate, a CA or tokens). */
bool creds_any(const struct creds *c);
bool creds_has_tokens(const struct creds *c);
/* True when a server with c knows who its clients are: mutual TLS (a
 * certificate and a CA) or tokens. The safe default asks for it. */
bool creds_authenticates(const struct creds *c);

/*
 * Server side: the role the token (len bytes, not NUL-terminated) grants, 0
 * when it matches no line. Every line is compared in full, in time that does
 * not depend on where the token differs. The bound node name (or "") goes
 * into node (CREDS_NAME_MAX + 1 bytes).
 */
unsigned creds_lookup(const struct creds *c, const char *token, size_t len, char *node);

/* True when a token with token_roles may be sent over a connection whose
 * client certificate has cert_role: the same role, or, under an admin
 * certificate, admin, reader or client (docs/security.md). */
bool creds_cert_allows(unsigned cert_role, unsigned token_roles);

/*
 * Client side: the token to send with a request that accepts the roles in
 * accept, among the roles this process may use (want), least powerful
 * first; for the node role the line bound to node_name wins over an unbound
 * one. NULL when c has none that fits.
 */
const char *creds_pick(const struct creds *c, unsigned accept, unsigned want,
    const char *node_name);

/* The bit of a role's name ("node", "admin", "reader", "client"); 0 for
 * any other string. */
unsigned creds_role_of(const char *name);

/* "node", "admin", ...; roles joined by '|' into buf. */
const char *creds_roles_str(unsigned roles, char *buf, size_t len);

/* True for URLs only this machine can reach: ipc://, inproc://, and
 * tcp/tls+tcp on 127.0.0.0/8, ::1 or localhost. */
bool creds_url_local(const char *url);

/* True for tls+tcp:// (and tls+tcp4/6) URLs. */
bool creds_url_tls(const char *url);

/* The host part of a tcp-like URL into buf ("" if none); false if it does
 * not fit. */
bool creds_url_host(const char *url, char *buf, size_t len);

/* Reads a whole file (at most CREDS_FILE_MAX bytes) into a NUL-terminated
 * malloc'd buffer. */
int creds_read_file(const char *path, char **out, char *errbuf, size_t errlen);

#endif
