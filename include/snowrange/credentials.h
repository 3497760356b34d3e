/*
 * Credentials of a snowrange process: the files that prove who it is to its
 * peers (TLS certificate and key, the cluster CA) and the role tokens it
 * sends or accepts. Paths only; the files are read at open. The walk-through
 * and the file formats are in docs/security.md.
 */
#ifndef SNOWRANGE_CREDENTIALS_H
#define SNOWRANGE_CREDENTIALS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_credentials {
	/* PEM certificate (chain) and unencrypted key presented to peers; a
	 * client needs them only when the server asks for a certificate. */
	const char *tls_cert;
	const char *tls_key;
	/* PEM CA bundle. A client verifies the server against it (required for
	 * tls+tcp:// URLs); a server that has one requires client certificates
	 * signed by it (mutual TLS). */
	const char *tls_ca;
	/* Role tokens, one "ROLE[:NODE] TOKEN" per line, readable by its owner
	 * only. A server accepts these tokens; a client sends the one whose role
	 * the request needs. */
	const char *token_file;
} sr_credentials;

#ifdef __cplusplus
}
#endif

#endif
