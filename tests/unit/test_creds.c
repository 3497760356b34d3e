/*
 * Credentials (issue 9): the token file, the server's role lookup and the
 * client's token choice, the safe-default URL rule, and role checks in
 * request handling, by token and by client certificate
 * (wire_serve_bytes_cert, no sockets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "creds.h"
#include "snowrange/error.h"
#include "tls_engine.h"
#include "wire.h"

#define T_ADMIN "aaaaaaaaaaaaaaaaaaaaaaaa"
#define T_READER "rrrrrrrrrrrrrrrrrrrrrrrr"
#define T_NODE1 "n1n1n1n1n1n1n1n1n1n1"
#define T_NODE "nnnnnnnnnnnnnnnnnnnn"
#define T_CLIENT "cccccccccccccccccccc"

static const char tokens_text[] = "# a comment\n"
                                  "admin " T_ADMIN "\n"
                                  "  reader\t" T_READER "   # trailing comment\n"
                                  "\n"
                                  "node:c1 " T_NODE1 "\r\n"
                                  "node " T_NODE "\n"
                                  "client " T_CLIENT;

static struct creds *
parsed(void)
{
	struct creds *c = calloc(1, sizeof(*c));
	char err[256] = "";
	assert_non_null(c);
	assert_int_equal(creds_parse_tokens(c, tokens_text, "t", err, sizeof(err)), SR_OK);
	return c;
}

static void
test_parse_and_lookup(void **state)
{
	(void) state;
	struct creds *c = parsed();
	char node[CREDS_NAME_MAX + 1];
	assert_int_equal(c->ntokens, 5);
	assert_int_equal(creds_lookup(c, T_ADMIN, strlen(T_ADMIN), node), CREDS_ADMIN);
	assert_string_equal(node, "");
	assert_int_equal(creds_lookup(c, T_NODE1, strlen(T_NODE1), node), CREDS_NODE);
	assert_string_equal(node, "c1");
	assert_int_equal(creds_lookup(c, T_CLIENT, strlen(T_CLIENT), node), CREDS_CLIENT);
	/* A prefix, an extension, a one-byte change, nothing: no role. */
	assert_int_equal(creds_lookup(c, T_ADMIN, strlen(T_ADMIN) - 1, node), 0);
	assert_int_equal(creds_lookup(c, T_ADMIN "a", strlen(T_ADMIN) + 1, node), 0);
	assert_int_equal(creds_lookup(c, "aaaaaaaaaaaaaaaaaaaaaaab", 24, node), 0);
	assert_int_equal(creds_lookup(c, "", 0, node), 0);
	assert_int_equal(creds_lookup(c, NULL, 0, node), 0);
	creds_free(c);
}

static void
test_parse_errors(void **state)
{
	(void) state;
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"root " T_ADMIN "\n", "unknown role"},
	    {"admin short\n", "16 to 256"},
	    {"admin " T_ADMIN " extra\n", "expected"},
	    {"admin:x " T_ADMIN "\n", "only node:NAME"},
	    {"node:Bad! " T_ADMIN "\n", "only node:NAME"},
	    {"admin " T_ADMIN "\nreader " T_ADMIN "\n", "earlier line"},
	    {"admin aaaaaaaaaaaaaaaaaaaaa\"aa\n", "16 to 256"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct creds *c = calloc(1, sizeof(*c));
		char err[256] = "";
		assert_int_equal(creds_parse_tokens(c, bad[i].text, "f", err, sizeof(err)),
		    SR_EINVAL);
		assert_non_null(strstr(err, bad[i].want));
		/* A message never quotes a token. */
		assert_null(strstr(err, "aaaaaaaaaaaaaaaa"));
		creds_free(c);
	}
}

static void
test_load_file_mode(void **state)
{
	(void) state;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/sr-test-creds-%ld", (long) getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(tokens_text, f);
	fclose(f);
	sr_credentials in = {.token_file = path};
	struct creds *c;
	char err[256] = "";
	chmod(path, 0644);
	assert_int_equal(creds_load(&in, &c, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "chmod 600"));
	chmod(path, 0600);
	assert_int_equal(creds_load(&in, &c, err, sizeof(err)), SR_OK);
	assert_true(creds_has_tokens(c));
	assert_true(creds_authenticates(c));
	creds_free(c);
	unlink(path);
	assert_int_equal(creds_load(&in, &c, err, sizeof(err)), SR_EINVAL);
	/* A certificate without its key is a mistake, not a half setup. */
	sr_credentials half = {.tls_cert = "x.pem"};
	assert_int_equal(creds_load(&half, &c, err, sizeof(err)), SR_EINVAL);
	assert_non_null(strstr(err, "tls-key"));
	assert_int_equal(creds_load(NULL, &c, err, sizeof(err)), SR_OK);
	assert_false(creds_any(c));
	assert_false(creds_authenticates(c));
	creds_free(c);
}

static void
test_pick(void **state)
{
	(void) state;
	struct creds *c = parsed();
	unsigned all = CREDS_ALL;
	/* The least powerful role that fits. */
	assert_string_equal(creds_pick(c, CREDS_READER | CREDS_ADMIN, all, NULL), T_READER);
	assert_string_equal(creds_pick(c, CREDS_ADMIN, all, NULL), T_ADMIN);
	assert_string_equal(creds_pick(c, CREDS_CLIENT | CREDS_ADMIN, all, NULL), T_CLIENT);
	/* Node: the line bound to this name, else the unbound one. */
	assert_string_equal(creds_pick(c, CREDS_NODE, all, "c1"), T_NODE1);
	assert_string_equal(creds_pick(c, CREDS_NODE, all, "c2"), T_NODE);
	/* Only the roles this process may use. */
	assert_null(creds_pick(c, CREDS_NODE, CREDS_ADMIN | CREDS_READER, "c1"));
	assert_string_equal(creds_pick(c, CREDS_NODE | CREDS_ADMIN, CREDS_ADMIN, "c1"), T_ADMIN);
	creds_free(c);
}

static void
test_url_local(void **state)
{
	(void) state;
	const char *local[] = {"ipc:///tmp/x", "inproc://x", "tcp://127.0.0.1:7400",
	    "tcp://127.1.2.3:1", "tls+tcp://127.0.0.1:7400", "tcp://localhost:7400",
	    "tcp://[::1]:7400"};
	const char *remote[] = {"tcp://0.0.0.0:7400", "tcp://*:7400", "tcp://:7400",
	    "tcp://10.0.0.1:7400", "tls+tcp://db1.example:7400", "tcp://127.0.0.1.evil:1",
	    "tcp://[::]:7400", "ws://127.0.0.1:1", "tcp://1127.0.0.1:1"};
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		assert_true(creds_url_local(local[i]));
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		assert_false(creds_url_local(remote[i]));
	char host[64];
	assert_true(creds_url_host("tls+tcp://db1.example:7400", host, sizeof(host)));
	assert_string_equal(host, "db1.example");
	assert_true(creds_url_host("tcp://[::1]:7400", host, sizeof(host)));
	assert_string_equal(host, "::1");
}

/* ---- role checks in request handling ---- */

static int
h_ok(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	(void) req;
	(void) errbuf;
	(void) errlen;
	const struct wire_peer **seen = arg;
	*seen = wire_peer_of(a);
	Sr__StatusResponse *r = wire_alloc(a, sizeof(*r));
	sr__status_response__init(r);
	/* The peer as the handler saw it: roles and bound name. */
	r->role = wire_strdup(a, (*seen)->node);
	r->node_id = (*seen)->roles;
	resp->body_case = SR__RESPONSE__BODY_STATUS;
	resp->status = r;
	return SR_OK;
}

static const struct wire_route routes[] = {
    {SR__REQUEST__BODY_STATUS, h_ok, CREDS_READER | CREDS_ADMIN},
    {SR__REQUEST__BODY_SEQ_DROP, h_ok, CREDS_ADMIN},
    {SR__REQUEST__BODY_HEARTBEAT, h_ok, CREDS_NODE},
    {SR__REQUEST__BODY_SEQ_LIST, h_ok, 0},
};

/* Serves one request with token tok over a connection whose client
 * certificate says cert (NULL: none); returns the reply (caller frees). */
static Sr__Response *
serve_cert(const struct creds *c, const struct tls_identity *cert, Sr__Request__BodyCase body,
    const char *tok)
{
	Sr__Request req = SR__REQUEST__INIT;
	Sr__StatusRequest st = SR__STATUS_REQUEST__INIT;
	Sr__SeqDropRequest drop = SR__SEQ_DROP_REQUEST__INIT;
	Sr__HeartbeatRequest hb = SR__HEARTBEAT_REQUEST__INIT;
	Sr__SeqListRequest sl = SR__SEQ_LIST_REQUEST__INIT;
	req.protocol_version = WIRE_PROTOCOL_VERSION;
	req.body_case = body;
	req.status = &st;
	if (body == SR__REQUEST__BODY_SEQ_DROP) {
		drop.name = "s";
		req.seq_drop = &drop;
	} else if (body == SR__REQUEST__BODY_HEARTBEAT) {
		req.heartbeat = &hb;
	} else if (body == SR__REQUEST__BODY_SEQ_LIST) {
		req.seq_list = &sl;
	}
	if (tok != NULL)
		req.token = (char *) tok;
	uint8_t buf[512];
	size_t n = sr__request__pack(&req, buf);
	const struct wire_peer *seen = NULL;
	void *out;
	size_t outlen;
	assert_int_equal(wire_serve_bytes_cert(routes, sizeof(routes) / sizeof(routes[0]), &seen, c,
	                     cert, buf, n, &out, &outlen),
	    SR_OK);
	Sr__Response *r = sr__response__unpack(NULL, outlen, out);
	free(out);
	assert_non_null(r);
	return r;
}

static Sr__Response *
serve(const struct creds *c, Sr__Request__BodyCase body, const char *tok)
{
	return serve_cert(c, NULL, body, tok);
}

static int
code(Sr__Response *r)
{
	int c = r->error != NULL ? r->error->code : 0;
	return c;
}

static void
test_roles_enforced(void **state)
{
	(void) state;
	struct creds *c = parsed();
	Sr__Response *r;

	r = serve(c, SR__REQUEST__BODY_SEQ_DROP, NULL);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message, "seq_drop needs the admin role"));
	assert_non_null(strstr(r->error->message, "no token"));
	sr__response__free_unpacked(r, NULL);

	r = serve(c, SR__REQUEST__BODY_SEQ_DROP, T_READER);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message, "has the reader role"));
	assert_null(strstr(r->error->message, T_READER));
	sr__response__free_unpacked(r, NULL);

	r = serve(c, SR__REQUEST__BODY_SEQ_DROP, "zzzzzzzzzzzzzzzzzzzzzzzzz");
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message, "not known here"));
	sr__response__free_unpacked(r, NULL);

	r = serve(c, SR__REQUEST__BODY_SEQ_DROP, T_ADMIN);
	assert_int_equal(code(r), SR_OK);
	assert_int_equal(r->status->node_id, CREDS_ADMIN);
	sr__response__free_unpacked(r, NULL);

	r = serve(c, SR__REQUEST__BODY_STATUS, T_READER);
	assert_int_equal(code(r), SR_OK);
	sr__response__free_unpacked(r, NULL);

	/* A node's bound name reaches the handler. */
	r = serve(c, SR__REQUEST__BODY_HEARTBEAT, T_NODE1);
	assert_int_equal(code(r), SR_OK);
	assert_string_equal(r->status->role, "c1");
	sr__response__free_unpacked(r, NULL);
	r = serve(c, SR__REQUEST__BODY_HEARTBEAT, T_ADMIN);
	assert_int_equal(code(r), SR_EACCES);
	sr__response__free_unpacked(r, NULL);

	/* A route without roles is nobody's when roles are checked... */
	r = serve(c, SR__REQUEST__BODY_SEQ_LIST, T_ADMIN);
	assert_int_equal(code(r), SR_EACCES);
	sr__response__free_unpacked(r, NULL);

	/* ...and without tokens every request has every role. */
	r = serve(NULL, SR__REQUEST__BODY_SEQ_DROP, NULL);
	assert_int_equal(code(r), SR_OK);
	assert_int_equal(r->status->node_id, CREDS_ALL);
	sr__response__free_unpacked(r, NULL);
	creds_free(c);
}

static struct tls_identity
cert_of(unsigned role, const char *name)
{
	struct tls_identity id = {.cert = true, .role = role};
	snprintf(id.name, sizeof(id.name), "%s", name);
	if (role == 0)
		snprintf(id.why, sizeof(id.why),
		    "the client certificate of CN=%s has "
		    "no OU",
		    name);
	return id;
}

/* With mutual TLS the certificate gives the role and a node's name; a
 * token, when the server has tokens, must agree with it (docs/security.md). */
static void
test_cert_roles(void **state)
{
	(void) state;
	Sr__Response *r;
	struct tls_identity reader = cert_of(CREDS_READER, "alice");
	struct tls_identity admin = cert_of(CREDS_ADMIN, "ops");
	struct tls_identity c1 = cert_of(CREDS_NODE, "c1");
	struct tls_identity c2 = cert_of(CREDS_NODE, "c2");
	struct tls_identity none = cert_of(0, "nobody");

	/* Certificates alone (no token file). */
	r = serve_cert(NULL, &reader, SR__REQUEST__BODY_SEQ_DROP, NULL);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message,
	    "needs the admin role; the client "
	    "certificate (CN=alice) has the reader role"));
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(NULL, &reader, SR__REQUEST__BODY_STATUS, NULL);
	assert_int_equal(code(r), SR_OK);
	assert_int_equal(r->status->node_id, CREDS_READER);
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(NULL, &admin, SR__REQUEST__BODY_SEQ_DROP, NULL);
	assert_int_equal(code(r), SR_OK);
	assert_string_equal(r->status->role, "");
	sr__response__free_unpacked(r, NULL);
	/* A node certificate binds its CN, with no token at all. */
	r = serve_cert(NULL, &c1, SR__REQUEST__BODY_HEARTBEAT, NULL);
	assert_int_equal(code(r), SR_OK);
	assert_string_equal(r->status->role, "c1");
	assert_int_equal(r->status->node_id, CREDS_NODE);
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(NULL, &c1, SR__REQUEST__BODY_STATUS, NULL);
	assert_int_equal(code(r), SR_EACCES);
	sr__response__free_unpacked(r, NULL);
	/* A certificate that names no role: refused, saying why. */
	r = serve_cert(NULL, &none, SR__REQUEST__BODY_STATUS, NULL);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message,
	    "status refused: the client "
	    "certificate of CN=nobody has no OU"));
	sr__response__free_unpacked(r, NULL);

	/* With tokens too: both are needed and must agree. */
	struct creds *c = parsed();
	r = serve_cert(c, &admin, SR__REQUEST__BODY_SEQ_DROP, NULL);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message, "no token"));
	sr__response__free_unpacked(r, NULL);
	/* An admin certificate may send the narrower reader token, which
	 * then applies. */
	r = serve_cert(c, &admin, SR__REQUEST__BODY_STATUS, T_READER);
	assert_int_equal(code(r), SR_OK);
	assert_int_equal(r->status->node_id, CREDS_READER);
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(c, &admin, SR__REQUEST__BODY_SEQ_DROP, T_READER);
	assert_int_equal(code(r), SR_EACCES);
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(c, &reader, SR__REQUEST__BODY_SEQ_DROP, T_ADMIN);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message,
	    "token has the admin role but the "
	    "client certificate (CN=alice) the reader role"));
	assert_null(strstr(r->error->message, T_ADMIN));
	sr__response__free_unpacked(r, NULL);
	/* Node: the certificate's name wins over an unbound token, and a
	 * bound token must name the same node. */
	r = serve_cert(c, &c2, SR__REQUEST__BODY_HEARTBEAT, T_NODE);
	assert_int_equal(code(r), SR_OK);
	assert_string_equal(r->status->role, "c2");
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(c, &c1, SR__REQUEST__BODY_HEARTBEAT, T_NODE1);
	assert_int_equal(code(r), SR_OK);
	assert_string_equal(r->status->role, "c1");
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(c, &c2, SR__REQUEST__BODY_HEARTBEAT, T_NODE1);
	assert_int_equal(code(r), SR_EACCES);
	assert_non_null(strstr(r->error->message,
	    "token is node c1's but the client "
	    "certificate is node c2's"));
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(c, &c1, SR__REQUEST__BODY_HEARTBEAT, T_ADMIN);
	assert_int_equal(code(r), SR_EACCES);
	sr__response__free_unpacked(r, NULL);
	r = serve_cert(c, &none, SR__REQUEST__BODY_STATUS, T_ADMIN);
	assert_int_equal(code(r), SR_EACCES);
	sr__response__free_unpacked(r, NULL);
	creds_free(c);

	assert_true(creds_cert_allows(CREDS_ADMIN, CREDS_CLIENT));
	assert_true(creds_cert_allows(CREDS_NODE, CREDS_NODE));
	assert_false(creds_cert_allows(CREDS_ADMIN, CREDS_NODE));
	assert_false(creds_cert_allows(CREDS_CLIENT, CREDS_READER));
	assert_false(creds_cert_allows(CREDS_READER, 0));
	assert_int_equal(creds_role_of("reader"), CREDS_READER);
	assert_int_equal(creds_role_of("master"), 0);
	assert_int_equal(creds_role_of(""), 0);
}

/* The safe default refuses a reachable URL without client credentials and
 * names what to configure; --insecure, loopback or credentials pass. */
static void
test_listen_check(void **state)
{
	(void) state;
	char err[512] = "";
	assert_int_equal(wire_listen_check("tcp://0.0.0.0:7400", NULL, false, err, sizeof(err)),
	    SR_EINVAL);
	assert_non_null(strstr(err, "--insecure"));
	assert_non_null(strstr(err, "token-file"));
	assert_int_equal(wire_listen_check("tcp://0.0.0.0:7400", NULL, true, err, sizeof(err)),
	    SR_OK);
	assert_int_equal(wire_listen_check("tcp://127.0.0.1:7400", NULL, false, err, sizeof(err)),
	    SR_OK);
	struct creds *c = parsed();
	assert_int_equal(wire_listen_check("tcp://0.0.0.0:7400", c, false, err, sizeof(err)),
	    SR_OK);
	/* TLS without its files. */
	assert_int_equal(wire_listen_check("tls+tcp://127.0.0.1:7400", c, false, err, sizeof(err)),
	    SR_EINVAL);
	assert_non_null(strstr(err, "tls-cert"));
	creds_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_lookup),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_load_file_mode),
	    cmocka_unit_test(test_pick),
	    cmocka_unit_test(test_url_local),
	    cmocka_unit_test(test_roles_enforced),
	    cmocka_unit_test(test_cert_roles),
	    cmocka_unit_test(test_listen_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
