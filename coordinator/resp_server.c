/*
 * The RESP port of the coordinator daemon (coordinator/resp_server.h,
 * docs/protocol.md "RESP", docs/decisions.md).
 *
 * Each loop thread owns an epoll set, its own SO_REUSEPORT listening socket
 * (so the kernel spreads connections and no lock is shared), and its
 * connections. A readable connection is read once into the loop's scratch
 * buffer, every whole request in it is answered into the loop's scratch
 * output, and that is sent with one send(): one read and one write per batch
 * of pipelined requests, as Redis does. Only what is left over lives with
 * the connection: the unfinished request (at most RESP_MAX_FRAME bytes) and
 * the output the socket did not take. While a connection has unsent output
 * it is not read (a client that does not read its replies stops being
 * served, instead of growing our memory), and the output all connections of
 * a loop may hold is capped (LOOP_STASH_MAX): a connection that would pass
 * the cap is closed.
 *
 * On a tls+tcp:// port each connection also has a GnuTLS session
 * (resp_tls.h). Its handshake is driven by the same events, never waited
 * for, and must end within HANDSHAKE_MS; then reads and sends go through
 * the session instead of recv() and send(), with the same buffers, caps and
 * backpressure. A plain port takes the same path with one test of a NULL
 * pointer per read and per send.
 *
 * A request is served on the loop thread: the fast path (an ID from the
 * held chunk) is one atomic add and never blocks; the first request for a
 * sequence, and a request that finds its chunk used up before the next one
 * arrived, wait for the master up to lease-timeout-ms, and the loop's other
 * connections wait with it (docs/decisions.md).
 */
#define _GNU_SOURCE
#include "resp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "creds.h"
#include "flake.h"
#include "log.h"
#include "resp.h"
#include "resp_tls.h"
#include "snowrange/segment.h"
#include "util.h"

/* Most IDs or txids one SR.NEXT or SR.TXID returns: as many as one NextIds
 * (WIRE_MAX_COUNT), a reply of at most 1.4 MB. */
#define RESP_MAX_COUNT 65536u
/* Bytes read at once; also the most input a connection keeps between reads
 * when its replies are waiting for the socket. */
#define LOOP_READ (64u * 1024)
/* Stop answering a connection's batch once this much output is waiting, and
 * send it first. */
#define LOOP_OUT_SOFT (256u * 1024)
/* Unsent output all connections of one loop may hold. */
#define LOOP_STASH_MAX ((size_t) 64 << 20)
#define LOOP_EVENTS 256
/* How long a connection being closed may keep sending before it is cut. */
#define DRAIN_MS 1000
/* How long a TLS handshake may take (or the idle timeout, if shorter):
 * long enough for a client on a slow link, short enough that half-open
 * handshakes cannot pile up. */
#define HANDSHAKE_MS 10000
/* What conn_read and conn_write return besides a byte count. */
#define IO_AGAIN RESP_TLS_AGAIN
#define IO_ERROR RESP_TLS_ERROR

struct loop;

struct conn {
	int fd;
	struct resp_tls_session *tls; /* NULL on a plain port */
	bool handshake;               /* TLS: until the handshake is over */
	unsigned role;                /* roles its AUTH gave; all of them without tokens */
	bool want_out;                /* waiting until the socket takes output */
	bool closing;                 /* close once the output is sent */
	bool draining;                /* output sent and shut down: read and drop until EOF */
	char *in;                     /* unfinished (or not yet answered) input */
	size_t in_len;
	char *out; /* output the socket did not take */
	size_t out_len, out_off;
	int64_t last_ms; /* last whole request or output progress */
	uint64_t id;
	struct conn *prev, *next;
};

struct loop {
	struct resp_server *srv;
	pthread_t th;
	bool started;
	int ep, lfd, evfd, spare;
	struct conn head; /* circular list of connections */
	size_t stashed;   /* unsent output held by this loop's connections */
	int64_t now_ms, last_sweep_ms, last_emfile_log, last_tls_log;
	uint64_t tls_failed;    /* handshakes failed since the last message about them */
	_Atomic uint64_t polls; /* turns polled without sleeping (busy poll), for INFO */
	char *rbuf;             /* LOOP_READ + RESP_MAX_FRAME bytes */
	struct resp_buf wbuf;
	uint64_t *ids; /* RESP_MAX_COUNT */
	sr_id_segment segs[SR_SEGMENTS_MAX];
};

struct resp_server {
	struct resp_server_config cfg;
	sr_coordinator *coord;
	bool tokens;
	struct resp_tls *tls; /* a tls+tcp:// port; NULL for plain */
	int port;
	_Atomic size_t nconns;
	_Atomic uint64_t total_conns, total_cmds, rejected;
	_Atomic bool stop;
	int nloops;
	struct loop *loops;
	int64_t started_ms;
};

/* ---- the listen address ---- */

/* Splits tcp://HOST:PORT, tls+tcp://HOST:PORT (*tls set), [V6]:PORT or
 * HOST:PORT. */
static int
split_addr(const char *url, bool *tls, char *host, size_t hlen, char *port, size_t plen,
    char *errbuf, size_t errlen)
{
	const char *r = url;
	*tls = false;
	if (strncmp(r, "tcp://", 6) == 0)
		r += 6;
	else if (strncmp(r, "tls+tcp://", 10) == 0) {
		r += 10;
		*tls = true;
	} else if (strstr(r, "://") != NULL) {
		snprintf(errbuf, errlen,
		    "resp-listen '%s': want tcp://HOST:PORT, tls+tcp://HOST:PORT or "
		    "HOST:PORT (docs/protocol.md)",
		    url);
		return SR_EINVAL;
	}
	const char *colon;
	const char *h = r;
	size_t hn;
	if (r[0] == '[') {
		const char *e = strchr(r, ']');
		if (e == NULL || e[1] != ':')
			goto bad;
		h = r + 1;
		hn = (size_t) (e - h);
		colon = e + 1;
	} else {
		colon = strrchr(r, ':');
		if (colon == NULL)
			goto bad;
		hn = (size_t) (colon - r);
	}
	if (hn >= hlen || strlen(colon + 1) >= plen || colon[1] == '\0')
		goto bad;
	memcpy(host, h, hn);
	host[hn] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			goto bad;
	return SR_OK;
bad:
	snprintf(errbuf, errlen,
	    "resp-listen '%s': want tcp://HOST:PORT, tls+tcp://HOST:PORT or HOST:PORT", url);
	return SR_EINVAL;
}

static int
check(const struct resp_server_config *cfg, bool warn, char *errbuf, size_t errlen)
{
	char host[256], port[16], url[300];
	bool tls;
	int rv =
	    split_addr(cfg->listen, &tls, host, sizeof(host), port, sizeof(port), errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	const struct creds *cr = cfg->creds;
	if (tls && (cr == NULL || cr->tls_cert == NULL || cr->tls_key == NULL)) {
		snprintf(errbuf, errlen,
		    "resp-listen %s needs --tls-cert and --tls-key (docs/security.md)",
		    cfg->listen);
		return SR_EINVAL;
	}
	snprintf(url, sizeof(url), "tcp://%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
	    strchr(host, ':') ? "]" : "", port);
	if (creds_url_local(url))
		return SR_OK;
	if (tls) {
		/* Over TLS the tokens are safe on the wire; the clients must
		 * still be known, by AUTH or by a certificate (tls-ca). */
		if (creds_authenticates(cr))
			return SR_OK;
		if (cfg->insecure) {
			if (warn)
				sr_log("resp",
				    "WARNING: --insecure: serving RESP on %s beyond loopback "
				    "without AUTH or client certificates: anyone who can reach it "
				    "can take IDs (docs/security.md)",
				    cfg->listen);
			return SR_OK;
		}
		snprintf(errbuf, errlen,
		    "refusing to serve RESP on %s, beyond loopback, with neither a token "
		    "file (AUTH) nor a tls-ca (client certificates): give --token-file or "
		    "--tls-ca, or --insecure to serve anyone (docs/security.md)",
		    cfg->listen);
		return SR_EACCES;
	}
	/* The daemon has TLS files: its operator wants TLS, as the nng and
	 * HTTP listeners read them (never a silent downgrade). */
	bool tls_files = cr != NULL && (cr->tls_cert != NULL || cr->tls_ca != NULL);
	if (cfg->insecure) {
		if (warn && (!creds_has_tokens(cr) || tls_files))
			sr_log("resp",
			    "WARNING: --insecure: serving RESP on %s beyond "
			    "loopback %s (docs/security.md)",
			    cfg->listen,
			    creds_has_tokens(cr)
			        ? "with tokens in the clear"
			        : "without AUTH: anyone who can reach it can take IDs");
		return SR_OK;
	}
	if (!creds_has_tokens(cr)) {
		snprintf(errbuf, errlen,
		    "refusing to serve RESP on %s, beyond loopback, "
		    "without a token file for AUTH (give --token-file, or --insecure to "
		    "serve anyone; docs/security.md)",
		    cfg->listen);
		return SR_EACCES;
	}
	if (tls_files) {
		snprintf(errbuf, errlen,
		    "refusing to serve RESP on %s, beyond loopback, in the clear: TLS is "
		    "configured (tls-cert or tls-ca), so tokens must not cross the network "
		    "unencrypted (use --resp-listen tls+tcp://%s%s%s:%s, serve plain RESP "
		    "on loopback, or give --insecure; docs/security.md)",
		    cfg->listen, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		    port);
		return SR_EACCES;
	}
	return SR_OK;
}

int
resp_server_check(const struct resp_server_config *cfg, char *errbuf, size_t errlen)
{
	int rv = check(cfg, false, errbuf, errlen);
	if (rv != SR_OK || strncmp(cfg->listen, "tls+tcp://", 10) != 0)
		return rv;
	/* Load the TLS files once now, so that a bad one stops the daemon
	 * before it joins. */
	struct resp_tls *t;
	rv = resp_tls_open(cfg->creds, &t, errbuf, errlen);
	resp_tls_close(t);
	return rv;
}

static int
bind_one(const char *host, const char *port, char *errbuf, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (g != 0) {
		snprintf(errbuf, errlen, "resp-listen %s:%s: %s", host, port, gai_strerror(g));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
		snprintf(errbuf, errlen, "resp-listen %s:%s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *) &ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
	return ntohs(((struct sockaddr_in *) &ss)->sin_port);
}

/* ---- connections ---- */

/* One read into buf: > 0 bytes, 0 when the peer closed, IO_AGAIN when
 * there is nothing to read now, IO_ERROR. On TLS, the records of one
 * socket read (resp_tls.c reads ahead, up to two whole records) and what
 * GnuTLS already decrypted: one socket read per wake-up on either kind of
 * port, which keeps the loop fair between connections. */
static ssize_t
conn_read(struct conn *c, char *buf, size_t len)
{
	if (c->tls == NULL) {
		ssize_t n;
		do
			n = recv(c->fd, buf, len, 0);
		while (n < 0 && errno == EINTR);
		if (n >= 0)
			return n;
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERROR;
	}
	ssize_t n = resp_tls_recv(c->tls, buf, len);
	size_t got = n > 0 ? (size_t) n : 0;
	while (n > 0 && got < len && resp_tls_pending(c->tls)) {
		n = resp_tls_recv(c->tls, buf + got, len - got);
		if (n > 0)
			got += (size_t) n;
	}
	/* A close or failure right after some bytes: serve the bytes; the
	 * next read sees the end again. */
	return got > 0 ? (ssize_t) got : n;
}

/* One send of p[0..n): the bytes taken (> 0), IO_AGAIN when the socket is
 * full, IO_ERROR. On TLS at most one record, and after IO_AGAIN the next
 * call must pass the same bytes again (resp_tls_send), which the callers
 * do: what was not taken stays at the head of what they send next. */
static ssize_t
conn_write(struct conn *c, const char *p, size_t n)
{
	if (c->tls == NULL) {
		ssize_t w;
		do
			w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w > 0)
			return w;
		return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_AGAIN : IO_ERROR;
	}
	return resp_tls_send(c->tls, p, n);
}

static void
conn_close(struct loop *lp, struct conn *c)
{
	resp_tls_session_free(c->tls);
	close(c->fd); /* also leaves the epoll set: nothing dup()s it */
	lp->stashed -= c->out_len - c->out_off;
	free(c->in);
	free(c->out);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	atomic_fetch_sub(&lp->srv->nconns, 1);
	free(c);
}

static bool
conn_events(struct loop *lp, struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	return epoll_ctl(lp->ep, EPOLL_CTL_MOD, c->fd, &e) == 0;
}

/* The last reply (a protocol error, QUIT's OK) is sent: shut the sending
 * side and drop what the client still sends until it closes (at most
 * DRAIN_MS). Closing at once would make the kernel answer bytes still
 * unread with a reset, and a client could lose the reply that says what was
 * wrong. */
static void
conn_finish(struct loop *lp, struct conn *c)
{
	if (c->tls != NULL)
		resp_tls_bye(c->tls);
	if (shutdown(c->fd, SHUT_WR) != 0 || !conn_events(lp, c, EPOLLIN)) {
		conn_close(lp, c);
		return;
	}
	c->draining = true;
	c->want_out = false;
	c->last_ms = lp->now_ms;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
}

/* Sends what the batch produced; keeps what the socket did not take and
 * stops reading the connection until it did. False when c was closed. */
static bool
conn_send(struct loop *lp, struct conn *c, const char *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = conn_write(c, p + off, n - off);
		if (w > 0) {
			off += (size_t) w;
			continue;
		}
		if (w == IO_AGAIN)
			break;
		conn_close(lp, c);
		return false;
	}
	if (off == n) {
		if (c->closing) {
			conn_finish(lp, c);
			return false;
		}
		return true;
	}
	if (off > 0)
		c->last_ms = lp->now_ms;
	size_t rest = n - off;
	if (lp->stashed + rest > LOOP_STASH_MAX || (c->out = malloc(rest)) == NULL) {
		sr_log("resp",
		    "closing connection %llu: its unread replies would pass "
		    "the %zu MB output cap",
		    (unsigned long long) c->id, LOOP_STASH_MAX >> 20);
		conn_close(lp, c);
		return false;
	}
	memcpy(c->out, p + off, rest);
	c->out_len = rest;
	c->out_off = 0;
	lp->stashed += rest;
	c->want_out = true;
	if (!conn_events(lp, c, EPOLLOUT)) {
		conn_close(lp, c);
		return false;
	}
	return true;
}

static void exec_cmd(struct loop *lp, struct conn *c, const struct resp_cmd *cmd);

/*
 * Answers the whole requests in lp->rbuf[0..len) and sends the replies;
 * keeps the rest with c. Repeats while it stopped early for the output cap
 * and the socket took everything. False when c was closed.
 */
static bool
conn_serve(struct loop *lp, struct conn *c, size_t len)
{
	for (;;) {
		struct resp_cmd cmd;
		char err[160];
		size_t pos = 0, used = 0;
		bool capped = false;
		lp->wbuf.len = 0;
		while (pos < len && !c->closing) {
			if (lp->wbuf.len >= LOOP_OUT_SOFT) {
				capped = true;
				break;
			}
			enum resp_status r =
			    resp_parse(lp->rbuf + pos, len - pos, &cmd, &used, err, sizeof(err));
			if (r == RESP_MORE)
				break;
			if (r == RESP_BAD) {
				/* As Redis does: say what was wrong, then close, since
				 * where the next request starts is unknown. */
				char msg[200];
				snprintf(msg, sizeof(msg), "ERR %s", err);
				resp_put_error(&lp->wbuf, msg);
				c->closing = true;
				pos = len;
				break;
			}
			pos += used;
			c->last_ms = lp->now_ms;
			if (cmd.argc > 0)
				exec_cmd(lp, c, &cmd);
		}
		if (lp->wbuf.oom) {
			sr_log("resp", "closing connection %llu: out of memory for its replies",
			    (unsigned long long) c->id);
			conn_close(lp, c);
			return false;
		}
		if (pos < len && !c->closing) {
			if ((c->in = malloc(len - pos)) == NULL) {
				conn_close(lp, c);
				return false;
			}
			memcpy(c->in, lp->rbuf + pos, len - pos);
			c->in_len = len - pos;
		}
		if (!conn_send(lp, c, lp->wbuf.p, lp->wbuf.len))
			return false;
		if (!capped || c->want_out)
			return true;
		/* The socket took it all: go on with what is left. */
		memcpy(lp->rbuf, c->in, c->in_len);
		len = c->in_len;
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
	}
}

static void
conn_readable(struct loop *lp, struct conn *c)
{
	if (c->draining) {
		ssize_t n = recv(c->fd, lp->rbuf, LOOP_READ, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			conn_close(lp, c);
		return;
	}
	do {
		size_t len = c->in_len;
		if (len > 0)
			memcpy(lp->rbuf, c->in, len);
		ssize_t n = conn_read(c, lp->rbuf + len, LOOP_READ + RESP_MAX_FRAME - len);
		if (n == IO_AGAIN)
			return;
		if (n <= 0) {
			/* Closed by the peer (with or without half a request),
			 * or reset. */
			conn_close(lp, c);
			return;
		}
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
		if (!conn_serve(lp, c, len + (size_t) n))
			return;
		/* Bytes GnuTLS decrypted but the buffer had no room for: no
		 * socket event will come for them. */
	} while (c->tls != NULL && !c->want_out && resp_tls_pending(c->tls));
}

static void
conn_writable(struct loop *lp, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = conn_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (w > 0) {
			c->out_off += (size_t) w;
			lp->stashed -= (size_t) w;
			c->last_ms = lp->now_ms;
			continue;
		}
		if (w == IO_AGAIN)
			return;
		conn_close(lp, c);
		return;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->want_out = false;
	if (c->closing) {
		conn_finish(lp, c);
		return;
	}
	if (!conn_events(lp, c, EPOLLIN)) {
		conn_close(lp, c);
		return;
	}
	/* Requests that arrived while we waited are answered now: no new
	 * bytes may come to wake us for them. */
	if (c->in_len > 0) {
		size_t len = c->in_len;
		memcpy(lp->rbuf, c->in, len);
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
		if (!conn_serve(lp, c, len))
			return;
	}
	if (c->tls != NULL && !c->want_out && resp_tls_pending(c->tls))
		conn_readable(lp, c);
}

/* A failed handshake is logged with the peer's address, at most once per
 * 10 s per loop (with how many failed in between), so that a flood of
 * garbage cannot flood the log. */
static void
log_tls_failure(struct loop *lp, struct conn *c, const char *why)
{
	lp->tls_failed++;
	if (lp->now_ms - lp->last_tls_log < 10000)
		return;
	char addr[INET6_ADDRSTRLEN + 8] = "?";
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(c->fd, (struct sockaddr *) &ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, addr,
			    sizeof(addr));
		else if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, addr,
			    sizeof(addr));
	}
	sr_log("resp",
	    "TLS handshake with %s (connection %llu) failed: %s (%llu failed handshakes in "
	    "this loop since the last such message)",
	    addr, (unsigned long long) c->id, why, (unsigned long long) lp->tls_failed);
	lp->last_tls_log = lp->now_ms;
	lp->tls_failed = 0;
}

/* Moves a TLS handshake on as far as the socket allows without waiting. */
static void
conn_handshake(struct loop *lp, struct conn *c)
{
	char why[160];
	switch (resp_tls_handshake(c->tls, why, sizeof(why))) {
	case RESP_TLS_WANT_READ:
		if (!conn_events(lp, c, EPOLLIN))
			conn_close(lp, c);
		return;
	case RESP_TLS_WANT_WRITE:
		if (!conn_events(lp, c, EPOLLOUT))
			conn_close(lp, c);
		return;
	case RESP_TLS_FAIL:
		if (why[0] != '\0')
			log_tls_failure(lp, c, why);
		conn_close(lp, c);
		return;
	case RESP_TLS_DONE: break;
	}
	c->handshake = false;
	c->last_ms = lp->now_ms;
	if (!conn_events(lp, c, EPOLLIN)) {
		conn_close(lp, c);
		return;
	}
	if (resp_tls_pending(c->tls))
		conn_readable(lp, c);
}

static void
accept_all(struct loop *lp)
{
	struct resp_server *srv = lp->srv;
	for (;;) {
		int fd = accept4(lp->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && lp->spare >= 0) {
				/* Out of descriptors: take the connection with the
				 * spare one and close it, so that the listening socket
				 * does not stay readable and spin the loop. */
				close(lp->spare);
				fd = accept4(lp->lfd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				lp->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (lp->now_ms - lp->last_emfile_log >= 10000) {
					lp->last_emfile_log = lp->now_ms;
					sr_log("resp",
					    "out of file descriptors: closing new "
					    "connections (raise ulimit -n or lower "
					    "resp-max-connections)");
				}
				atomic_fetch_add(&srv->rejected, 1);
				continue;
			}
			return;
		}
		if (atomic_fetch_add(&srv->nconns, 1) >= srv->cfg.max_connections) {
			atomic_fetch_sub(&srv->nconns, 1);
			atomic_fetch_add(&srv->rejected, 1);
			/* A TLS client would read the words as a broken record:
			 * it is only closed. */
			static const char full[] = "-ERR max number of clients reached\r\n";
			if (srv->tls == NULL) {
				ssize_t w =
				    send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
				(void) w;
			}
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		if (c != NULL && srv->tls != NULL) {
			/* The client speaks first (ClientHello): wait to read. */
			c->handshake = true;
			if ((c->tls = resp_tls_accept(srv->tls, fd)) == NULL) {
				free(c);
				c = NULL;
			}
		}
		if (c == NULL || epoll_ctl(lp->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
			if (c != NULL)
				resp_tls_session_free(c->tls);
			free(c);
			close(fd);
			atomic_fetch_sub(&srv->nconns, 1);
			continue;
		}
		c->fd = fd;
		c->role = srv->tokens ? 0 : CREDS_ALL;
		c->last_ms = lp->now_ms;
		c->id = atomic_fetch_add(&srv->total_conns, 1) + 1;
		c->next = &lp->head;
		c->prev = lp->head.prev;
		lp->head.prev->next = c;
		lp->head.prev = c;
	}
}

/* Closes connections with no whole request and no output progress for the
 * idle timeout: slow senders, half requests, clients gone silent. */
static void
sweep(struct loop *lp)
{
	int64_t idle = lp->srv->cfg.idle_timeout_ms;
	int64_t hs = idle < HANDSHAKE_MS ? idle : HANDSHAKE_MS;
	for (struct conn *c = lp->head.next, *nx; c != &lp->head; c = nx) {
		nx = c->next;
		/* A handshake's clock starts at the accept and is not reset by
		 * the bytes it gets: a client that sends its hello a byte at a
		 * time is cut all the same. */
		if (lp->now_ms - c->last_ms > (c->draining ? DRAIN_MS : c->handshake ? hs : idle))
			conn_close(lp, c);
	}
}

static void *
loop_main(void *arg)
{
	struct loop *lp = arg;
	struct epoll_event ev[LOOP_EVENTS];
	const int64_t busy_us = lp->srv->cfg.busy_poll_us;
	int64_t busy_until = 0; /* look again without sleeping until then */
	while (!atomic_load(&lp->srv->stop)) {
		int timeout = 1000;
		if (busy_us > 0 && sr_mono_us() < busy_until) {
			/* Polling: let any other runnable thread of this CPU (a
			 * client on a shared core) go first, so that polling
			 * only uses time nobody else wants. */
			sched_yield();
			timeout = 0;
			atomic_fetch_add_explicit(&lp->polls, 1, memory_order_relaxed);
		}
		int n = epoll_wait(lp->ep, ev, LOOP_EVENTS, timeout);
		lp->now_ms = sr_mono_ms();
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			if (p == &lp->lfd) {
				accept_all(lp);
				continue;
			}
			if (p == &lp->evfd)
				continue;
			struct conn *c = p;
			if (c->handshake) {
				conn_handshake(lp, c);
			} else if (c->want_out) {
				if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					conn_writable(lp, c);
			} else if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				conn_readable(lp, c);
			}
		}
		/* Busy poll (docs/decisions.md): the next request of a client
		 * that just got its reply usually comes within a round trip,
		 * and finding it awake saves the wake-up of this thread (on a
		 * virtual machine, of a halted vCPU). Only events extend it: an
		 * idle loop sleeps busy_us after its last one. */
		if (n > 0 && busy_us > 0)
			busy_until = sr_mono_us() + busy_us;
		if (lp->now_ms - lp->last_sweep_ms >= 500) {
			lp->last_sweep_ms = lp->now_ms;
			sweep(lp);
		}
	}
	while (lp->head.next != &lp->head)
		conn_close(lp, lp->head.next);
	return NULL;
}

/* ---- commands ---- */

/* Copies a sequence name argument, NUL-terminated, if it is one. */
static bool
arg_name(const struct resp_arg *a, char name[65])
{
	if (a->len == 0 || a->len > 64)
		return false;
	memcpy(name, a->p, a->len);
	name[a->len] = '\0';
	return strlen(name) == a->len && sr_name_valid(name);
}

/* An argument for a message: printable ASCII, at most 64 bytes. */
static const char *
arg_show(const struct resp_arg *a, char buf[72])
{
	size_t n = a->len > 64 ? 64 : a->len;
	for (size_t i = 0; i < n; i++)
		buf[i] = a->p[i] >= 0x20 && a->p[i] < 0x7f ? a->p[i] : '?';
	if (a->len > 64) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static void err_reply(struct loop *lp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
err_reply(struct loop *lp, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp_put_error(&lp->wbuf, msg);
}

/* A library error, its code first as Redis errors do ("EUNAVAILABLE ..."). */
static void
sr_err_reply(struct loop *lp, int rv, const char *what)
{
	err_reply(lp, "%s %s: %s", sr_errname(rv), what, sr_strerror(rv));
}

/* The optional count argument at index i: 0 when absent. */
static bool
arg_count(struct loop *lp, const struct resp_cmd *cmd, size_t i, uint32_t *count)
{
	*count = 0;
	if (cmd->argc <= i)
		return true;
	int64_t v;
	if (!resp_arg_i64(&cmd->argv[i], &v) || v < 1 || v > RESP_MAX_COUNT) {
		char show[72];
		err_reply(lp, "ERR count '%s' is not an integer in 1..%u",
		    arg_show(&cmd->argv[i], show), RESP_MAX_COUNT);
		return false;
	}
	*count = (uint32_t) v;
	return true;
}

static void
put_ids(struct loop *lp, const uint64_t *ids, size_t n)
{
	resp_put_array(&lp->wbuf, n);
	if (!resp_buf_reserve(&lp->wbuf, n * 22))
		return;
	for (size_t i = 0; i < n; i++)
		resp_put_uint(&lp->wbuf, ids[i]);
}

/* SR.NEXT seq count SEGMENTS: the IDs as (first, step, count) segments,
 * one per chunk touched (snowrange/segment.h), so that a million IDs cost
 * one reply of a few integers. */
static void
next_segments(struct loop *lp, const struct resp_cmd *cmd, const char *name)
{
	char show[72];
	int64_t v;
	if (!resp_arg_is(&cmd->argv[3], "SEGMENTS")) {
		err_reply(lp, "ERR syntax error: '%s' (SR.NEXT seq count [SEGMENTS])",
		    arg_show(&cmd->argv[3], show));
		return;
	}
	if (!resp_arg_i64(&cmd->argv[2], &v) || v < 1 || v > SR_SEGMENT_IDS_MAX) {
		err_reply(lp, "ERR count '%s' is not an integer in 1..%u",
		    arg_show(&cmd->argv[2], show), SR_SEGMENT_IDS_MAX);
		return;
	}
	size_t n = 0;
	int rv = sr_next_segments(lp->srv->coord, name, (size_t) v, lp->segs, SR_SEGMENTS_MAX, &n);
	if (rv == SR_ENOTFOUND) {
		err_reply(lp,
		    "ENOTFOUND no sequence '%s' (create it with: snowrange seq "
		    "create %s)",
		    name, name);
		return;
	}
	if (rv != SR_OK) {
		sr_err_reply(lp, rv, name);
		return;
	}
	resp_put_array(&lp->wbuf, n);
	for (size_t i = 0; i < n; i++) {
		resp_put_array(&lp->wbuf, 3);
		resp_put_uint(&lp->wbuf, lp->segs[i].first);
		resp_put_uint(&lp->wbuf, lp->segs[i].step);
		resp_put_uint(&lp->wbuf, lp->segs[i].count);
	}
}

/* SR.NEXT seq [count [SEGMENTS]], INCR seq. */
static void
c_next(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	char name[65], show[72];
	uint32_t count;
	if (!arg_name(&cmd->argv[1], name)) {
		err_reply(lp, "ERR invalid sequence name '%s': want [a-z0-9_.-]{1,64}",
		    arg_show(&cmd->argv[1], show));
		return;
	}
	if (cmd->argc == 4) {
		next_segments(lp, cmd, name);
		return;
	}
	if (!arg_count(lp, cmd, 2, &count))
		return;
	sr_coordinator *coord = lp->srv->coord;
	if (count == 0) {
		uint64_t id;
		int rv = sr_next_id(coord, name, &id);
		if (rv == SR_OK)
			resp_put_uint(&lp->wbuf, id);
		else if (rv == SR_ENOTFOUND)
			err_reply(lp,
			    "ENOTFOUND no sequence '%s' (create it with: snowrange "
			    "seq create %s)",
			    name, name);
		else
			sr_err_reply(lp, rv, name);
		return;
	}
	size_t got = 0;
	int rv = sr_next_ids(coord, name, count, lp->ids, &got);
	if (rv == SR_OK)
		put_ids(lp, lp->ids, got);
	else if (rv == SR_ETOOBIG)
		err_reply(lp,
		    "ETOOBIG %s: count %u needs more than %u chunks of this "
		    "sequence, each a lease at the master: ask for fewer IDs per call or "
		    "use a larger chunk size (%zu IDs taken were dropped)",
		    name, count, 256u, got);
	else if (rv == SR_ENOTFOUND)
		err_reply(lp,
		    "ENOTFOUND no sequence '%s' (create it with: snowrange seq "
		    "create %s)",
		    name, name);
	else
		sr_err_reply(lp, rv, name);
}

/* SR.TXID [count]. */
static void
c_txid(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	uint32_t count;
	if (!arg_count(lp, cmd, 1, &count))
		return;
	size_t got = 0;
	int rv = sr_next_txids(lp->srv->coord, count ? count : 1, lp->ids, &got);
	if (rv == SR_ECLOCK)
		err_reply(lp, "ECLOCK clock is %lld ms behind the last issued txid",
		    (long long) sr_coordinator_clock_offset_ms(lp->srv->coord));
	else if (rv != SR_OK)
		sr_err_reply(lp, rv, "txids");
	else if (count == 0)
		resp_put_uint(&lp->wbuf, lp->ids[0]);
	else
		put_ids(lp, lp->ids, got);
}

/* SR.DECODE txid: its parts as field-value pairs, as HGETALL replies. */
static void
c_decode(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	uint64_t id;
	char show[72];
	if (!resp_arg_u64(&cmd->argv[1], &id) || id == 0 || id > (uint64_t) INT64_MAX) {
		err_reply(lp, "ERR txid '%s' is not an integer in 1..2^63-1",
		    arg_show(&cmd->argv[1], show));
		return;
	}
	sr_flake_layout l;
	sr_coordinator_layout(lp->srv->coord, &l);
	uint64_t tick;
	uint32_t worker, seq;
	flake_decode(&l, id, &tick, &worker, &seq);
	int64_t ms = flake_tick_to_ms(&l, tick);
	char when[32];
	flake_format_time(ms, when);
	resp_put_array(&lp->wbuf, 10);
	resp_put_bulk(&lp->wbuf, "unix_ms", 7);
	resp_put_int(&lp->wbuf, ms);
	resp_put_bulk(&lp->wbuf, "time", 4);
	resp_put_bulk(&lp->wbuf, when, strlen(when));
	resp_put_bulk(&lp->wbuf, "tick", 4);
	resp_put_uint(&lp->wbuf, tick);
	resp_put_bulk(&lp->wbuf, "worker", 6);
	resp_put_uint(&lp->wbuf, worker);
	resp_put_bulk(&lp->wbuf, "sequence", 8);
	resp_put_uint(&lp->wbuf, seq);
}

static void
c_ping(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	if (cmd->argc == 2)
		resp_put_bulk(&lp->wbuf, cmd->argv[1].p, cmd->argv[1].len);
	else
		resp_put_simple(&lp->wbuf, "PONG");
}

static void
c_echo(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	resp_put_bulk(&lp->wbuf, cmd->argv[1].p, cmd->argv[1].len);
}

/* Checks a token; sets the connection's role. False (and the error reply)
 * when it matches no line. */
static bool
auth(struct loop *lp, struct conn *c, const struct resp_arg *tok)
{
	if (!lp->srv->tokens) {
		err_reply(lp,
		    "ERR AUTH called without any token file configured "
		    "(docs/security.md)");
		return false;
	}
	char node[CREDS_NAME_MAX + 1];
	unsigned role = creds_lookup(lp->srv->cfg.creds, tok->p, tok->len, node);
	if (role == 0) {
		/* Never quote the token (docs/security.md). */
		err_reply(lp, "WRONGPASS invalid token");
		return false;
	}
	c->role = role;
	return true;
}

/* AUTH token, or AUTH username token (the username is ignored: the token
 * alone says the role). */
static void
c_auth(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	if (auth(lp, c, &cmd->argv[cmd->argc - 1]))
		resp_put_simple(&lp->wbuf, "OK");
}

/* HELLO [protover [AUTH username token] [SETNAME name]]: RESP2 only. */
static void
c_hello(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	size_t i = 1;
	if (cmd->argc > 1) {
		int64_t ver;
		if (!resp_arg_i64(&cmd->argv[1], &ver)) {
			err_reply(lp, "ERR Protocol version is not an integer or out of range");
			return;
		}
		if (ver != 2) {
			err_reply(lp, "NOPROTO this server speaks RESP2 only (HELLO 2)");
			return;
		}
		i = 2;
	}
	for (; i < cmd->argc; i++) {
		if (resp_arg_is(&cmd->argv[i], "AUTH") && i + 2 < cmd->argc) {
			if (!auth(lp, c, &cmd->argv[i + 2]))
				return;
			i += 2;
		} else if (resp_arg_is(&cmd->argv[i], "SETNAME") && i + 1 < cmd->argc) {
			i++;
		} else {
			char show[72];
			err_reply(lp, "ERR syntax error in HELLO option '%s'",
			    arg_show(&cmd->argv[i], show));
			return;
		}
	}
	if (c->role == 0) {
		err_reply(lp,
		    "NOAUTH HELLO must be called with the client already "
		    "authenticated, or with HELLO 2 AUTH <username> <token>");
		return;
	}
	const char *ver = lp->srv->cfg.version ? lp->srv->cfg.version : "";
	resp_put_array(&lp->wbuf, 14);
	resp_put_bulk(&lp->wbuf, "server", 6);
	resp_put_bulk(&lp->wbuf, "snowrange", 9);
	resp_put_bulk(&lp->wbuf, "version", 7);
	resp_put_bulk(&lp->wbuf, ver, strlen(ver));
	resp_put_bulk(&lp->wbuf, "proto", 5);
	resp_put_int(&lp->wbuf, 2);
	resp_put_bulk(&lp->wbuf, "id", 2);
	resp_put_uint(&lp->wbuf, c->id);
	resp_put_bulk(&lp->wbuf, "mode", 4);
	resp_put_bulk(&lp->wbuf, "standalone", 10);
	resp_put_bulk(&lp->wbuf, "role", 4);
	resp_put_bulk(&lp->wbuf, "master", 6);
	resp_put_bulk(&lp->wbuf, "modules", 7);
	resp_put_array(&lp->wbuf, 0);
}

static void
c_info(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	(void) cmd;
	struct resp_server *srv = lp->srv;
	uint32_t worker = 0;
	bool has_worker = sr_coordinator_worker(srv->coord, &worker) == SR_OK;
	uint64_t polls = 0;
	for (int i = 0; i < srv->nloops; i++)
		polls += atomic_load_explicit(&srv->loops[i].polls, memory_order_relaxed);
	char text[1024];
	int n = snprintf(text, sizeof(text),
	    "# Server\r\n"
	    "server:snowrange\r\n"
	    "snowrange_version:%s\r\n"
	    "node_name:%s\r\n"
	    "node_id:%llu\r\n"
	    "worker_id:%s%u\r\n"
	    "uptime_in_seconds:%lld\r\n"
	    "resp_threads:%d\r\n"
	    "resp_busy_poll_us:%lld\r\n"
	    "\r\n# Clients\r\n"
	    "connected_clients:%zu\r\n"
	    "maxclients:%zu\r\n"
	    "rejected_connections:%llu\r\n"
	    "\r\n# Stats\r\n"
	    "total_connections_received:%llu\r\n"
	    "total_commands_processed:%llu\r\n"
	    "busy_poll_turns:%llu\r\n",
	    srv->cfg.version ? srv->cfg.version : "", sr_coordinator_name(srv->coord),
	    (unsigned long long) sr_coordinator_node_id(srv->coord), has_worker ? "" : "none ",
	    worker, (long long) ((lp->now_ms - srv->started_ms) / 1000), srv->nloops,
	    (long long) srv->cfg.busy_poll_us, atomic_load(&srv->nconns), srv->cfg.max_connections,
	    (unsigned long long) atomic_load(&srv->rejected),
	    (unsigned long long) atomic_load(&srv->total_conns),
	    (unsigned long long) atomic_load(&srv->total_cmds), (unsigned long long) polls);
	if (n < 0 || (size_t) n >= sizeof(text))
		n = (int) strlen(text);
	resp_put_bulk(&lp->wbuf, text, (size_t) n);
}

static void
c_quit(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) cmd;
	resp_put_simple(&lp->wbuf, "OK");
	c->closing = true;
}

/* SELECT 0: clients that select a database get the only one there is. */
static void
c_select(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	if (resp_arg_is(&cmd->argv[1], "0"))
		resp_put_simple(&lp->wbuf, "OK");
	else
		err_reply(lp, "ERR DB index is out of range (only 0)");
}

/* COMMAND and CONFIG GET: what redis-cli and redis-benchmark ask at start;
 * an empty list says "nothing to tell". */
static void
c_empty(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	(void) c;
	(void) cmd;
	resp_put_array(&lp->wbuf, 0);
}

/* CLIENT SETNAME/SETINFO (client libraries send them on connect) and ID. */
static void
c_client(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	char show[72];
	if (resp_arg_is(&cmd->argv[1], "SETNAME") || resp_arg_is(&cmd->argv[1], "SETINFO"))
		resp_put_simple(&lp->wbuf, "OK");
	else if (resp_arg_is(&cmd->argv[1], "ID"))
		resp_put_uint(&lp->wbuf, c->id);
	else
		err_reply(lp, "ERR unknown CLIENT subcommand '%s' (SETNAME, SETINFO, ID)",
		    arg_show(&cmd->argv[1], show));
}

typedef void (*cmd_fn)(struct loop *lp, struct conn *c, const struct resp_cmd *cmd);

/* The dispatch table: one row per command (docs/protocol.md). argc counts
 * the command name; roles 0 means allowed before AUTH. The ID commands come
 * first: the table is searched in order. */
static const struct cmd_row {
	const char *name;
	size_t min_argc, max_argc;
	unsigned roles;
	cmd_fn fn;
} commands[] = {
    {"SR.NEXT", 2, 4, CREDS_CLIENT | CREDS_ADMIN, c_next},
    {"INCR", 2, 2, CREDS_CLIENT | CREDS_ADMIN, c_next},
    {"SR.TXID", 1, 2, CREDS_CLIENT | CREDS_ADMIN, c_txid},
    {"SR.DECODE", 2, 2, CREDS_READER | CREDS_CLIENT | CREDS_ADMIN, c_decode},
    {"PING", 1, 2, CREDS_ALL, c_ping},
    {"ECHO", 2, 2, CREDS_ALL, c_echo},
    {"AUTH", 2, 3, 0, c_auth},
    {"HELLO", 1, 7, 0, c_hello},
    {"INFO", 1, 2, CREDS_READER | CREDS_CLIENT | CREDS_ADMIN, c_info},
    {"QUIT", 1, 1, 0, c_quit},
    {"SELECT", 2, 2, CREDS_ALL, c_select},
    {"COMMAND", 1, RESP_MAX_ARGS, CREDS_ALL, c_empty},
    {"CONFIG", 2, RESP_MAX_ARGS, CREDS_ALL, c_empty},
    {"CLIENT", 2, RESP_MAX_ARGS, CREDS_ALL, c_client},
};

static void
exec_cmd(struct loop *lp, struct conn *c, const struct resp_cmd *cmd)
{
	char show[72], roles[64];
	atomic_fetch_add_explicit(&lp->srv->total_cmds, 1, memory_order_relaxed);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct cmd_row *r = &commands[i];
		if (!resp_arg_is(&cmd->argv[0], r->name))
			continue;
		if (r->roles != 0 && (c->role & r->roles) == 0) {
			if (c->role == 0)
				err_reply(lp, "NOAUTH Authentication required.");
			else
				err_reply(lp,
				    "NOPERM this token's role may not run '%s' "
				    "(it needs %s)",
				    r->name, creds_roles_str(r->roles, roles, sizeof(roles)));
			return;
		}
		if (cmd->argc < r->min_argc || cmd->argc > r->max_argc) {
			err_reply(lp, "ERR wrong number of arguments for '%s' command", r->name);
			return;
		}
		r->fn(lp, c, cmd);
		return;
	}
	if (c->role == 0)
		err_reply(lp, "NOAUTH Authentication required.");
	else
		err_reply(lp,
		    "ERR unknown command '%s' (SR.NEXT, INCR, SR.TXID, "
		    "SR.DECODE, PING, ...; docs/protocol.md)",
		    arg_show(&cmd->argv[0], show));
}

/* ---- start and stop ---- */

/* Lets the process hold max connections plus what nng and the rest need,
 * as far as the hard limit allows (Redis does the same for maxclients). */
static void
raise_nofile(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rlim_t cur = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		sr_log("resp",
		    "open files limited to %llu (was %llu), below the %zu that "
		    "resp-max-connections wants: connections beyond it are closed",
		    (unsigned long long) rl.rlim_cur, (unsigned long long) cur, want);
}

static int
loop_init(struct loop *lp, struct resp_server *srv, int lfd, char *errbuf, size_t errlen)
{
	lp->srv = srv;
	lp->lfd = lfd;
	lp->head.next = lp->head.prev = &lp->head;
	lp->ep = epoll_create1(EPOLL_CLOEXEC);
	lp->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	lp->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	lp->rbuf = malloc(LOOP_READ + RESP_MAX_FRAME);
	lp->ids = malloc(RESP_MAX_COUNT * sizeof(uint64_t));
	lp->now_ms = lp->last_sweep_ms = sr_mono_ms();
	struct epoll_event el = {.events = EPOLLIN, .data.ptr = &lp->lfd};
	struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &lp->evfd};
	if (lp->ep < 0 || lp->evfd < 0 || lp->rbuf == NULL || lp->ids == NULL ||
	    epoll_ctl(lp->ep, EPOLL_CTL_ADD, lfd, &el) != 0 ||
	    epoll_ctl(lp->ep, EPOLL_CTL_ADD, lp->evfd, &ee) != 0) {
		snprintf(errbuf, errlen, "resp: event loop: %s", strerror(errno));
		return SR_ENOMEM;
	}
	return SR_OK;
}

static void
loop_free(struct loop *lp)
{
	if (lp->ep >= 0)
		close(lp->ep);
	if (lp->evfd >= 0)
		close(lp->evfd);
	if (lp->spare >= 0)
		close(lp->spare);
	if (lp->lfd >= 0)
		close(lp->lfd);
	free(lp->rbuf);
	free(lp->ids);
	resp_buf_free(&lp->wbuf);
}

int
resp_server_start(const struct resp_server_config *cfg, sr_coordinator *coord,
    struct resp_server **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	int rv = check(cfg, true, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	if (cfg->threads < 1 || cfg->max_connections < 1 || cfg->idle_timeout_ms < 1) {
		snprintf(errbuf, errlen,
		    "resp: threads, max connections and idle "
		    "timeout must be positive");
		return SR_EINVAL;
	}
	char host[256], port[16];
	bool tls;
	rv = split_addr(cfg->listen, &tls, host, sizeof(host), port, sizeof(port), errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	struct resp_tls *t = NULL;
	if (tls && (rv = resp_tls_open(cfg->creds, &t, errbuf, errlen)) != SR_OK)
		return rv;
	struct resp_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL ||
	    (srv->loops = calloc((size_t) cfg->threads, sizeof(*srv->loops))) == NULL) {
		free(srv);
		resp_tls_close(t);
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	srv->tls = t;
	srv->cfg = *cfg;
	srv->cfg.listen = NULL; /* not kept */
	srv->coord = coord;
	srv->tokens = creds_has_tokens(cfg->creds);
	srv->started_ms = sr_mono_ms();
	for (int i = 0; i < cfg->threads; i++) {
		struct loop *lp = &srv->loops[i];
		lp->ep = lp->evfd = lp->spare = lp->lfd = -1;
	}
	raise_nofile(cfg->max_connections + 1024);
	for (int i = 0; i < cfg->threads && rv == SR_OK; i++) {
		/* Every loop listens on the port the first one got (port 0). */
		if (i == 1)
			snprintf(port, sizeof(port), "%d", srv->port);
		int lfd = bind_one(host, port, errbuf, errlen);
		if (lfd < 0) {
			rv = SR_ECONNECT;
			break;
		}
		if (i == 0)
			srv->port = bound_port(lfd);
		rv = loop_init(&srv->loops[i], srv, lfd, errbuf, errlen);
		srv->nloops = i + 1;
	}
	for (int i = 0; i < srv->nloops && rv == SR_OK; i++) {
		if (pthread_create(&srv->loops[i].th, NULL, loop_main, &srv->loops[i]) != 0) {
			snprintf(errbuf, errlen, "resp: cannot start a thread");
			rv = SR_ENOMEM;
			break;
		}
		srv->loops[i].started = true;
	}
	if (rv != SR_OK) {
		resp_server_stop(srv);
		return rv;
	}
	*out = srv;
	return SR_OK;
}

int
resp_server_port(const struct resp_server *s)
{
	return s->port;
}

void
resp_server_stop(struct resp_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, true);
	for (int i = 0; i < s->nloops; i++) {
		uint64_t one = 1;
		if (s->loops[i].evfd >= 0) {
			ssize_t w = write(s->loops[i].evfd, &one, sizeof(one));
			(void) w;
		}
	}
	for (int i = 0; i < s->nloops; i++) {
		if (s->loops[i].started)
			pthread_join(s->loops[i].th, NULL);
		loop_free(&s->loops[i]);
	}
	/* The loops closed their connections, and with them every session. */
	resp_tls_close(s->tls);
	free(s->loops);
	free(s);
}
