/*
 * A hostile peer for the security tests (the scripts in tests/security): it speaks the
 * master's protocol like a coordinator would, but sends what an attacker or
 * a broken node could send, and prints what came back so that the scripts
 * can check the master's answer.
 *
 *   attack URL join NAME [WORKER TICK LEFT_MS] -> "OK NODE_ID WORKER|- FLOOR"
 *       with a worker claim (WorkerClaim) when WORKER TICK LEFT_MS are given.
 *   attack URL beat NODE HOLDS WORKER TICK    -> "OK WORKER|- FLOOR"
 *   attack URL leave NODE TICK                -> "OK"
 *   attack URL beatloop NODE N                -> "OK P50_MS MAX_MS"
 *       N heartbeats (no worker id) one after the other, timed.
 *   attack URL slow N BYTES SECONDS [FILL]    (tcp:// only) opens N
 *       connections, each announcing a BYTES-long message and sending only
 *       its first FILL bytes (default 64), then one byte a second; after
 *       SECONDS prints "OK N" (how many were still open at the end).
 *   attack URL churn N KIND                   -> "OK DONE"
 *       N connections one after the other, each closed at once: KIND
 *       status (a whole Status exchange through nng, credentials as below),
 *       drop (a raw connect, then close), rst (the same, closed with a
 *       reset), header (the SP header sent, then close), partial (the SP
 *       header and part of a message, then close), junk (64 bytes that are
 *       neither SP nor TLS, then close). Two kinds take tls+tcp:// only
 *       and the client certificate below: hsdrop (a whole TLS handshake,
 *       the server's SP header read, ours sent, then close: a client that
 *       goes away as soon as it is connected), hsrst (the same without
 *       reading the server's header, so that the close sends a reset).
 *       Raw kinds take tcp://, tls+tcp:// (IPv4) and ipc:// URLs. DONE
 *       counts the connections made.
 *   attack URL hold N KIND SECONDS             -> "OK OPEN"
 *       opens N raw connections (tcp://, tls+tcp:// or ipc://) and holds
 *       them for SECONDS: KIND silent (connect, send nothing) or halfhello
 *       (the first 64 bytes of a TLS ClientHello announcing 512, then
 *       nothing: a TLS handshake that never ends). OPEN counts those the
 *       server had not closed at the end (docs/reliability.md, "A TLS peer
 *       that leaves right after connecting").
 *   attack COORD_URL seqs MASTER_URL|- N PREFIX
 *       asks the coordinator for one ID of each of the N sequences
 *       PREFIX0..PREFIX(N-1), creating each at the master first (without
 *       prefetch) unless MASTER_URL is "-"; prints "OK SERVED NOTFOUND", or
 *       "ERRNAME I message" at the first other refusal.
 *
 * Credentials, when the attacker has some (a stolen coordinator's files),
 * come from the environment: ATTACK_TLS_CERT, ATTACK_TLS_KEY, ATTACK_TLS_CA,
 * ATTACK_TOKEN_FILE, and ATTACK_NODE (the name whose node token to send).
 *
 * A refused request prints "ERRNAME message" instead; the exit status is 0
 * whenever a reply came, 1 when none did, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "snowrange/client.h"
#include "snowrange/error.h"
#include "creds.h"
#include "util.h"
#include "wire.h"

static int
usage(void)
{
	fprintf(stderr,
	    "usage: attack URL join NAME [WORKER TICK LEFT_MS] | beat NODE HOLDS WORKER TICK | "
	    "leave NODE TICK | beatloop NODE N | slow N BYTES SECONDS [FILL] | "
	    "churn N status|drop|rst|header|partial|junk|hsdrop|hsrst | "
	    "hold N silent|halfhello SECONDS | seqs MASTER_URL|- N PREFIX\n");
	return 2;
}

static uint64_t
num(const char *s)
{
	uint64_t v;
	if (!sr_parse_u64(s, &v)) {
		fprintf(stderr, "attack: '%s' is not a number\n", s);
		exit(2);
	}
	return v;
}

/* One call; prints the error and returns non-zero when refused. */
static int
call(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp)
{
	char err[WIRE_ERRMSG_MAX];
	int rv = wire_call(ch, req, resp, err, sizeof(err));
	if (rv != SR_OK)
		printf("%s %s\n", sr_errname(rv), err);
	return rv;
}

static void
print_grant(const Sr__WorkerGrant *g)
{
	if (g != NULL)
		printf(" %u %llu\n", g->worker_id, (unsigned long long) g->floor_tick);
	else
		printf(" - 0\n");
}

/* Sends the SP header of a REQ peer, then a message header announcing
 * bytes and the first fill bytes of its body; returns the socket, or -1 when
 * the connection failed or the peer closed it meanwhile. */
static int
slow_conn(const struct sockaddr_in *sa, uint64_t bytes, uint64_t fill)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) != 0) {
		close(fd);
		return -1;
	}
	/* "\0SP\0", protocol 0x30 (req0), two reserved bytes; then the
	 * 64-bit big-endian length. */
	uint8_t head[16] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	for (int i = 0; i < 8; i++)
		head[8 + i] = (uint8_t) (bytes >> (56 - 8 * i));
	if (send(fd, head, sizeof(head), MSG_NOSIGNAL) != (ssize_t) sizeof(head)) {
		close(fd);
		return -1;
	}
	static uint8_t body[65536];
	memset(body, 0x80, sizeof(body));
	while (fill > 0) {
		size_t k = fill < sizeof(body) ? (size_t) fill : sizeof(body);
		ssize_t w = send(fd, body, k, MSG_NOSIGNAL);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		fill -= (uint64_t) w;
	}
	return fd;
}

static int
slow(const char *url, int n, uint64_t bytes, uint64_t fill, int seconds)
{
	unsigned a, b, c, d, port;
	if (sscanf(url, "tcp://%u.%u.%u.%u:%u", &a, &b, &c, &d, &port) != 5) {
		fprintf(stderr, "attack: slow needs a tcp://A.B.C.D:PORT url\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
	sa.sin_addr.s_addr = htonl(a << 24 | b << 16 | c << 8 | d);
	int *fds = calloc((size_t) n, sizeof(int));
	if (fds == NULL)
		return 1;
	int opened = 0;
	for (int i = 0; i < n; i++)
		if ((fds[i] = slow_conn(&sa, bytes, fill)) >= 0)
			opened++;
	fprintf(stderr, "attack: %d of %d slow connections opened\n", opened, n);
	/* Trickle one byte per second on each, as a slow sender would. */
	for (int s = 0; s < seconds; s++) {
		sleep(1);
		for (int i = 0; i < n; i++) {
			uint8_t x = 0x80;
			if (fds[i] >= 0 && send(fds[i], &x, 1, MSG_NOSIGNAL) != 1) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
	}
	int open = 0;
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			open++;
			close(fds[i]);
		}
	}
	free(fds);
	printf("OK %d\n", open);
	return 0;
}

/* A raw stream connection to url (tcp://, tls+tcp:// or ipc://), or -1. */
static int
raw_connect(const char *url)
{
	unsigned a, b, c, d, port;
	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un su = {.sun_family = AF_UNIX};
		if (strlen(url + 6) >= sizeof(su.sun_path))
			return -1;
		memcpy(su.sun_path, url + 6, strlen(url + 6) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (const struct sockaddr *) &su, sizeof(su)) != 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	const char *hp = strstr(url, "://");
	if (hp == NULL || sscanf(hp + 3, "%u.%u.%u.%u:%u", &a, &b, &c, &d, &port) != 5)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
	sa.sin_addr.s_addr = htonl(a << 24 | b << 16 | c << 8 | d);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One raw connection of kind (see the top), closed at once; 0 or -1. */
static int
raw_churn(const char *url, const char *kind)
{
	static const uint8_t sp[16] = {0, 'S', 'P', 0, 0, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40};
	uint8_t junk[64];
	memset(junk, 'x', sizeof(junk));
	int fd = raw_connect(url);
	if (fd < 0)
		return -1;
	if (strcmp(kind, "rst") == 0) {
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (strcmp(kind, "header") == 0) {
		(void) !send(fd, sp, 8, MSG_NOSIGNAL);
	} else if (strcmp(kind, "partial") == 0) {
		(void) !send(fd, sp, sizeof(sp), MSG_NOSIGNAL);
		(void) !send(fd, junk, 10, MSG_NOSIGNAL);
	} else if (strcmp(kind, "junk") == 0) {
		(void) !send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
	}
	close(fd);
	return 0;
}

/* The hsdrop kind's client: mbed TLS on a blocking socket, so that the
 * connection is closed right after the SP header went out (nng's dialer
 * cannot be stopped at that point on purpose). */
struct hs_client {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca, crt;
	mbedtls_pk_context key;
};

static int
hs_rng(void *arg, unsigned char *buf, size_t len)
{
	(void) arg;
	while (len > 0) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

static void
hs_free(struct hs_client *c)
{
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crt_free(&c->crt);
	mbedtls_pk_free(&c->key);
}

/* The client configuration from the credentials; 0 or -1 (printed). */
static int
hs_init(struct hs_client *c, const struct creds *cr)
{
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_init(&c->crt);
	mbedtls_pk_init(&c->key);
	if (cr == NULL || cr->tls_cert == NULL || cr->tls_key == NULL || cr->tls_ca == NULL) {
		fprintf(stderr, "attack: hsdrop needs ATTACK_TLS_CERT, _KEY and _CA\n");
		return -1;
	}
	if (mbedtls_x509_crt_parse_file(&c->ca, cr->tls_ca) != 0 ||
	    mbedtls_x509_crt_parse_file(&c->crt, cr->tls_cert) != 0 ||
	    mbedtls_pk_parse_keyfile(&c->key, cr->tls_key, NULL) != 0 ||
	    mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
	    mbedtls_ssl_conf_own_cert(&c->conf, &c->crt, &c->key) != 0) {
		fprintf(stderr, "attack: hsdrop: cannot load the TLS credentials\n");
		return -1;
	}
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_rng(&c->conf, hs_rng, NULL);
	return 0;
}

/* One hsdrop or hsrst connection (see the top); 0 when the header went
 * out. */
static int
hs_drop(const struct hs_client *c, const char *url, bool rst)
{
	/* The SP header of a REQ0 peer (48), which the master's REP0 socket
	 * accepts as a connection. */
	static const uint8_t sp[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	mbedtls_net_context net = {raw_connect(url)};
	if (net.fd < 0)
		return -1;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_init(&ssl);
	int rv = mbedtls_ssl_setup(&ssl, &c->conf);
	/* The server is verified by the address in the URL, as nng does. */
	char host[64] = "";
	const char *hp = strstr(url, "://");
	if (hp != NULL)
		sscanf(hp + 3, "%63[0-9.]", host);
	if (rv == 0)
		rv = mbedtls_ssl_set_hostname(&ssl, host);
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	if (rv == 0)
		rv = mbedtls_ssl_handshake(&ssl);
	/* The server's header, so that nothing is left unread at the close
	 * (which would make it a reset). */
	uint8_t got[8];
	for (size_t n = 0; rv == 0 && !rst && n < sizeof(got);) {
		int r = mbedtls_ssl_read(&ssl, got + n, sizeof(got) - n);
		if (r <= 0)
			rv = -1;
		else
			n += (size_t) r;
	}
	if (rv == 0)
		rv = mbedtls_ssl_write(&ssl, sp, sizeof(sp)) == (int) sizeof(sp) ? 0 : -1;
	/* No close-notify: the peer just goes away. */
	close(net.fd);
	mbedtls_ssl_free(&ssl);
	return rv == 0 ? 0 : -1;
}

static int
churn(const char *url, uint64_t n, const char *kind, const struct creds *cr)
{
	static const char *const kinds[] = {"status", "drop", "rst", "header", "partial", "junk",
	    "hsdrop", "hsrst"};
	enum { NRAW = 6 }; /* kinds[1, NRAW) are raw, the rest TLS */
	size_t k = 0;
	while (k < sizeof(kinds) / sizeof(kinds[0]) && strcmp(kinds[k], kind) != 0)
		k++;
	if (k == sizeof(kinds) / sizeof(kinds[0])) {
		fprintf(stderr, "attack: unknown churn kind '%s'\n", kind);
		return 2;
	}
	struct hs_client hs;
	bool tls = k >= NRAW;
	if (tls && hs_init(&hs, cr) != 0) {
		hs_free(&hs);
		return 2;
	}
	uint64_t done = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (tls) {
			done += hs_drop(&hs, url, strcmp(kind, "hsrst") == 0) == 0;
			continue;
		}
		if (k > 0) {
			done += raw_churn(url, kind) == 0;
			continue;
		}
		struct wire_chan *ch;
		char err[WIRE_ERRMSG_MAX];
		if (wire_chan_open_creds(url, 5000, cr, CREDS_ALL, NULL, &ch, err, sizeof(err)) !=
		    SR_OK)
			continue;
		Sr__Request req = SR__REQUEST__INIT;
		Sr__StatusRequest q = SR__STATUS_REQUEST__INIT;
		Sr__Response *resp = NULL;
		req.body_case = SR__REQUEST__BODY_STATUS;
		req.status = &q;
		if (wire_call(ch, &req, &resp, err, sizeof(err)) == SR_OK)
			done++;
		wire_response_free(resp);
		wire_chan_close(ch);
	}
	if (tls)
		hs_free(&hs);
	printf("OK %llu\n", (unsigned long long) done);
	return done == n ? 0 : 1;
}

/* Whether the server has closed fd's connection: end of file or an error
 * on a read that does not wait (a silent server leaves it at EAGAIN). */
static bool
peer_closed(int fd)
{
	uint8_t b[256];
	for (;;) {
		ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r > 0)
			continue;
		return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
	}
}

/* n connections of kind (see the top) held for seconds; prints how many
 * the server had not closed by then. */
static int
hold(const char *url, int n, const char *kind, int seconds)
{
	/* A TLS 1.2 handshake record announcing 512 bytes, holding a
	 * ClientHello of 508 of which only the start is sent: version, then
	 * random bytes. */
	uint8_t hello[64] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
	bool half = strcmp(kind, "halfhello") == 0;
	if (!half && strcmp(kind, "silent") != 0) {
		fprintf(stderr, "attack: unknown hold kind '%s'\n", kind);
		return 2;
	}
	if (n <= 0)
		return usage();
	for (size_t i = 11; i < sizeof(hello); i++)
		hello[i] = (uint8_t) (i * 37);
	int *fds = calloc((size_t) n, sizeof(*fds));
	if (fds == NULL)
		return 1;
	int opened = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = raw_connect(url);
		if (fds[i] >= 0 && half &&
		    send(fds[i], hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t) sizeof(hello)) {
			close(fds[i]);
			fds[i] = -1;
		}
		opened += fds[i] >= 0;
	}
	fprintf(stderr, "attack: %d of %d %s connections opened\n", opened, n, kind);
	sleep((unsigned) seconds);
	int open = 0;
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			open += !peer_closed(fds[i]);
			close(fds[i]);
		}
	}
	free(fds);
	printf("OK %d\n", open);
	return opened == n ? 0 : 1;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x > y) - (x < y);
}

/* Many distinct sequences through one coordinator (see the top). */
static int
seqs(const char *coord_url, const char *master_url, uint64_t n, const char *prefix)
{
	sr_client *co = NULL, *ma = NULL;
	int rv = sr_client_open(coord_url, 5000, &co);
	if (rv == SR_OK && strcmp(master_url, "-") != 0)
		rv = sr_client_open(master_url, 5000, &ma);
	if (rv != SR_OK) {
		fprintf(stderr, "attack: cannot open a client: %s\n", sr_strerror(rv));
		sr_client_close(co);
		return 1;
	}
	uint64_t served = 0, notfound = 0;
	for (uint64_t i = 0; i < n && rv == SR_OK; i++) {
		char name[65], node[65];
		uint64_t id;
		snprintf(name, sizeof(name), "%.40s%llu", prefix, (unsigned long long) i);
		if (ma != NULL) {
			sr_seq_spec spec = {.name = name, .no_prefetch = 1};
			if ((rv = sr_client_seq_create(ma, &spec, NULL)) != SR_OK) {
				printf("%s %llu create: %s\n", sr_errname(rv),
				    (unsigned long long) i, sr_client_errmsg(ma));
				break;
			}
		}
		rv = sr_client_next_ids(co, name, 1, &id, node);
		if (rv == SR_OK)
			served++;
		else if (rv == SR_ENOTFOUND)
			notfound++, rv = SR_OK;
		else
			printf("%s %llu %s\n", sr_errname(rv), (unsigned long long) i,
			    sr_client_errmsg(co));
	}
	if (rv == SR_OK)
		printf("OK %llu %llu\n", (unsigned long long) served,
		    (unsigned long long) notfound);
	sr_client_close(ma);
	sr_client_close(co);
	return rv == SR_ETIMEDOUT || rv == SR_ECONNECT ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *url = argv[1], *cmd = argv[2];
	if (strcmp(cmd, "slow") == 0) {
		if (argc != 6 && argc != 7)
			return usage();
		return slow(url, (int) num(argv[3]), num(argv[4]), argc == 7 ? num(argv[6]) : 64,
		    (int) num(argv[5]));
	}
	if (strcmp(cmd, "hold") == 0) {
		if (argc != 6)
			return usage();
		return hold(url, (int) num(argv[3]), argv[4], (int) num(argv[5]));
	}
	if (strcmp(cmd, "seqs") == 0) {
		if (argc != 6)
			return usage();
		return seqs(url, argv[3], num(argv[4]), argv[5]);
	}
	struct wire_chan *ch;
	char err[WIRE_ERRMSG_MAX];
	int rv0;
	sr_credentials in = {getenv("ATTACK_TLS_CERT"), getenv("ATTACK_TLS_KEY"),
	    getenv("ATTACK_TLS_CA"), getenv("ATTACK_TOKEN_FILE")};
	struct creds *cr;
	if (creds_load(&in, &cr, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "attack: %s\n", err);
		return 2;
	}
	/* churn makes only the connections it counts: a channel opened and
	 * closed here first would be one more, dropped at any point of its
	 * handshake, and tests/security/fd_churn.sh would count what it left
	 * (docs/reliability.md, "Descriptors"). */
	if (strcmp(cmd, "churn") == 0) {
		rv0 = argc == 5 ? churn(url, num(argv[3]), argv[4], cr) : usage();
		creds_free(cr);
		return rv0;
	}
	if (wire_chan_open_creds(url, 5000, cr, CREDS_ALL, getenv("ATTACK_NODE"), &ch, err,
	        sizeof(err)) != SR_OK) {
		fprintf(stderr, "attack: %s\n", err);
		creds_free(cr);
		return 1;
	}
	Sr__Request req = SR__REQUEST__INIT;
	Sr__Response *resp = NULL;
	int rv;
	if (strcmp(cmd, "join") == 0 && (argc == 4 || argc == 7)) {
		Sr__JoinRequest j = SR__JOIN_REQUEST__INIT;
		Sr__WorkerClaim claim = SR__WORKER_CLAIM__INIT;
		j.name = argv[3];
		j.listen_url = "";
		if (argc == 7) {
			claim.worker_id = (uint32_t) num(argv[4]);
			claim.tick = num(argv[5]);
			claim.remaining_ms = (int64_t) num(argv[6]);
			j.claim = &claim;
		}
		req.body_case = SR__REQUEST__BODY_JOIN;
		req.join = &j;
		if ((rv = call(ch, &req, &resp)) == SR_OK) {
			printf("OK %llu", (unsigned long long) resp->join->node_id);
			print_grant(resp->join->worker);
		}
	} else if (strcmp(cmd, "beat") == 0 && argc == 7) {
		Sr__HeartbeatRequest h = SR__HEARTBEAT_REQUEST__INIT;
		h.node_id = num(argv[3]);
		h.holds_worker = num(argv[4]) != 0;
		h.worker_id = (uint32_t) num(argv[5]);
		h.tick = num(argv[6]);
		req.body_case = SR__REQUEST__BODY_HEARTBEAT;
		req.heartbeat = &h;
		if ((rv = call(ch, &req, &resp)) == SR_OK) {
			printf("OK");
			print_grant(resp->heartbeat->worker);
		}
	} else if (strcmp(cmd, "beatloop") == 0 && argc == 5) {
		size_t n = (size_t) num(argv[4]);
		int64_t *us = calloc(n + 1, sizeof(*us));
		Sr__HeartbeatRequest h = SR__HEARTBEAT_REQUEST__INIT;
		h.node_id = num(argv[3]);
		req.body_case = SR__REQUEST__BODY_HEARTBEAT;
		req.heartbeat = &h;
		rv = us == NULL ? SR_ENOMEM : SR_OK;
		for (size_t i = 0; i < n && rv == SR_OK; i++) {
			int64_t t0 = sr_mono_us();
			if ((rv = call(ch, &req, &resp)) == SR_OK)
				wire_response_free(resp);
			resp = NULL;
			us[i] = sr_mono_us() - t0;
		}
		if (rv == SR_OK && n > 0) {
			qsort(us, n, sizeof(*us), cmp_i64);
			printf("OK %.1f %.1f\n", us[n / 2] / 1000.0, us[n - 1] / 1000.0);
		}
		free(us);
	} else if (strcmp(cmd, "leave") == 0 && argc == 5) {
		Sr__LeaveRequest l = SR__LEAVE_REQUEST__INIT;
		l.node_id = num(argv[3]);
		l.tick = num(argv[4]);
		req.body_case = SR__REQUEST__BODY_LEAVE;
		req.leave = &l;
		if ((rv = call(ch, &req, &resp)) == SR_OK)
			printf("OK\n");
	} else {
		wire_chan_close(ch);
		creds_free(cr);
		return usage();
	}
	wire_response_free(resp);
	wire_chan_close(ch);
	creds_free(cr);
	/* A refusal is an answer; only a transport failure is not. */
	return rv == SR_ETIMEDOUT || rv == SR_ECONNECT || rv == SR_ECLOSED ? 1 : 0;
}
