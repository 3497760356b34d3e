/*
 * Wire helpers: envelope checks, the RPC channel and the request loop.
 *
 * The server follows nng's demo/async/server.c: a fixed pool of work items,
 * each an nng_ctx plus an nng_aio driven by one state-machine callback. At
 * most one handler at a time runs inside that callback; while one does, the
 * callback hands further requests to their work item's own thread. nng runs
 * every callback of a process on a few task threads (2 per CPU in nng 1.5.2,
 * at least 2), and a handler that waits there for something nng itself must
 * deliver (a coordinator's NextIds waiting for the lease reply of its master
 * link) held them all once a few such requests waited at once, so the reply
 * could not arrive and every waiter failed after its timeout (tests/
 * integration/lease_wait.sh). With one handler inline at most, a task thread
 * is always left for nng; and a lone request is served without the thread
 * hand-off, which costs a wake-up (70-100 us at p50 on a loaded 2-vCPU VM).
 * A slow handler (a durable commit, a wait for a chunk) so occupies one work
 * item, not the whole server nor nng.
 */
#include "wire.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "snowrange/error.h"
#include "tls_engine.h"
#include "util.h"

/* Requests are small; anything over this is answered with SR_ETOOBIG. Larger
 * than WIRE_SERVER_RECV_MAX never reaches us: nng drops it at the transport. */
#define WIRE_REQ_MAX (64u << 10)
#define SERVER_SEND_TIMEOUT_MS 5000
#define SERVER_RECV_TIMEOUT_MS 1000

/* Error messages: util.h's one helper. */
#define fmt sr_errfmt

int
wire_nng_err(int rv)
{
	switch (rv) {
	case 0: return SR_OK;
	case NNG_ENOMEM: return SR_ENOMEM;
	case NNG_ETIMEDOUT: return SR_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED: return SR_ECLOSED;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP: return SR_EINVAL;
	case NNG_EMSGSIZE: return SR_ETOOBIG;
	case NNG_EPROTO: return SR_EPROTO;
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_EUNREACHABLE:
	case NNG_EADDRINUSE: return SR_ECONNECT;
	default: return SR_EINTERNAL;
	}
}

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct work;

struct wire_arena {
	struct arena_block *head;
	const struct wire_peer *peer;
	const char *leader; /* wire_set_leader: Error.leader of a failed reply */
	/* The work item serving the request, NULL without a socket
	 * (wire_serve_bytes): only a request that has one can be parked. */
	struct work *work;
	bool parked; /* wire_park handed its token out */
};

/* Every role and no bound name: the peer of a server that checks nothing
 * beyond its transport. */
static const struct wire_peer peer_open = {CREDS_ALL, ""};

const struct wire_peer *
wire_peer_of(const struct wire_arena *a)
{
	return a->peer != NULL ? a->peer : &peer_open;
}

void
wire_set_leader(struct wire_arena *a, const char *url)
{
	a->leader = wire_strdup(a, url);
}

void *
wire_alloc(struct wire_arena *a, size_t size)
{
	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct arena_block *b = a->head;
	if (b == NULL || b->cap - b->used < size) {
		size_t cap = size > 4096 ? size : 4096;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *) b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *
wire_strdup(struct wire_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = wire_alloc(a, n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static void
arena_reset(struct wire_arena *a)
{
	while (a->head != NULL) {
		struct arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
}

/* ---- client ---- */

/* Live connections a channel tracks (a REQ dialer has one). */
#define MEMBER_PIPES 8
/* How long a close waits at most for a dial under way to end (chan_settle).
 * A live peer on loopback or a LAN connects in milliseconds; in an ASan
 * build on a loaded 2-core machine a handshake has taken over 300 ms. */
#define CLOSE_SETTLE_MS 1000
/* How long a channel without a connection may see its dialer end no dial
 * before it takes the dialer for stopped and makes a new one (chan_watch).
 * A live dialer ends one every RECONN_MAX_MS at most while its peer refuses,
 * and a handshake on loopback or a LAN takes milliseconds. */
#define RECONN_MAX_MS 500
#define DIAL_STALL_MS 1500
/* How often at most a call without a connection reads the dialer's
 * statistics for chan_watch. */
#define DIAL_CHECK_MS 250

struct wire_chan {
	nng_socket sock;
	int timeout_ms;
	const struct creds *cr;
	unsigned want;
	char node[CREDS_NAME_MAX + 1];
	/* TLS only: whether a connection ever completed its handshake, so
	 * that a timeout can say "no TLS session" instead of just "no reply"
	 * (nng 1.5.2 keeps a background dialer's errors to itself). */
	bool tls;
	_Atomic bool connected;
	char host[128];
	char url[256]; /* as dialed (list members: to match a leader's URL) */
	/* A channel over a list of masters ("URL,URL,...", docs/ha.md) has no
	 * socket of its own: alt holds one channel per master, cur the one
	 * that answered last. */
	struct wire_chan **alt;
	size_t nalt;
	_Atomic size_t cur;
	/* Every channel counts its live connections (chan_pipe). A member of
	 * such a list also gives up a call in flight when the last one closes
	 * (the master died): waiting out the timeout there would only delay
	 * asking the next master. */
	bool member;
	atomic_int pipes;
	uint32_t pipe_ids[MEMBER_PIPES]; /* under inflight_mu */
	size_t npipe;
	/* The channel's dialer, and how many dials it had finished
	 * (dial_outcomes) when it last started one that may still be under way:
	 * 0 at open, counted again whenever the connection is lost (a close
	 * waits for the next outcome: chan_settle). -1: unknown. */
	nng_dialer dialer; /* under inflight_mu once the channel is open */
	_Atomic int64_t dial_base;
	/* When (mono ms) a change of dial_base was first seen, or a stalled
	 * dialer replaced (chan_watch). */
	_Atomic int64_t dial_seen;
	_Atomic int64_t dial_checked; /* mono ms of chan_watch's last look */
	nng_tls_config *tls_cfg;      /* a new dialer's, or NULL */
	/* Until when (mono ms) a member that failed a call at the transport
	 * (a timeout: hung, or stopped with its connection up) is asked only
	 * when no other can be: standbys keep naming a hung leader until its
	 * etcd lease runs out, and following them there would cost every
	 * call its whole timeout. */
	_Atomic int64_t suspect_until;
	pthread_mutex_t inflight_mu;
	struct inflight *inflight;
};

/* A call in flight on a list member (exchange). */
struct inflight {
	nng_aio *aio;
	bool lost; /* its connection closed under it */
	struct inflight *next;
};

/*
 * How many dials nng's dialer d has ended, connected or failed: the sum of
 * its counters in nng's statistics (connections made, and refused, timed
 * out, reset and the other failures), or -1 when they cannot be read. The
 * tree is walked here: nng 1.5.2's nng_stat_find_dialer can return another
 * dialer's node.
 */
static int64_t
dial_outcomes(nng_dialer d)
{
	nng_stat *all;
	if (nng_dialer_id(d) < 0 || nng_stats_get(&all) != 0)
		return -1;
	int64_t n = -1;
	for (nng_stat *s = nng_stat_child(all); s != NULL && n < 0; s = nng_stat_next(s)) {
		/* A scope's value is its object's id. */
		if (nng_stat_type(s) != NNG_STAT_SCOPE || strcmp(nng_stat_name(s), "dialer") != 0 ||
		    (uint32_t) nng_stat_value(s) != (uint32_t) nng_dialer_id(d))
			continue;
		n = 0;
		for (nng_stat *c = nng_stat_child(s); c != NULL; c = nng_stat_next(c))
			if (nng_stat_type(c) == NNG_STAT_COUNTER)
				n += (int64_t) nng_stat_value(c);
	}
	nng_stats_free(all);
	return n;
}

/*
 * Counts a channel's live connections by pipe id: nng may report the removal
 * of a pipe whose addition it never reported (one that failed during its
 * handshake), and a plain counter then went below zero and showed a
 * reconnected master as unreachable for good (found by scripts/bench-failover:
 * callers stuck for the whole lease timeout after a failover).
 */
static void
chan_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct wire_chan *ch = arg;
	uint32_t id = nng_pipe_id(p);
	pthread_mutex_lock(&ch->inflight_mu);
	size_t i = 0;
	while (i < ch->npipe && ch->pipe_ids[i] != id)
		i++;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (i == ch->npipe && ch->npipe < MEMBER_PIPES)
			ch->pipe_ids[ch->npipe++] = id;
		atomic_store(&ch->pipes, (int) ch->npipe);
		atomic_store(&ch->connected, true);
		pthread_mutex_unlock(&ch->inflight_mu);
		return;
	}
	bool removed = i < ch->npipe;
	if (removed)
		ch->pipe_ids[i] = ch->pipe_ids[--ch->npipe];
	atomic_store(&ch->pipes, (int) ch->npipe);
	if (!removed || ch->npipe > 0) {
		pthread_mutex_unlock(&ch->inflight_mu);
		return;
	}
	/* The last connection closed: nng dials again within our 20 ms
	 * minimum reconnect time (it starts that dial after this callback),
	 * and a close meanwhile must let that dial end (chan_settle). */
	atomic_store(&ch->dial_base, dial_outcomes(ch->dialer));
	atomic_store(&ch->dial_seen, sr_mono_ms());
	/* Every call waiting on it is over. */
	for (struct inflight *f = ch->inflight; ch->member && f != NULL; f = f->next) {
		f->lost = true;
		nng_aio_cancel(f->aio);
	}
	pthread_mutex_unlock(&ch->inflight_mu);
}

/* ---- TLS ---- */

static bool
url_local_stream(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0 ||
	    strncmp(url, "abstract://", 11) == 0;
}

/*
 * The nng TLS configuration for one endpoint, or NULL in *out when the URL
 * is not tls+tcp://. A server presents cr's certificate and, when cr has a
 * CA, requires a client certificate signed by it. A client always verifies
 * the server: chain to the CA and the URL's host in the certificate.
 * Credentials next to a plain tcp:// URL are an error, not a silent
 * downgrade: a coordinator told to verify its master must never talk to an
 * unverified one.
 */
static int
tls_config(const struct creds *cr, bool server, const char *url, nng_tls_config **out, char *errbuf,
    size_t errlen)
{
	*out = NULL;
	if (!creds_url_tls(url)) {
		if (cr != NULL && !url_local_stream(url) &&
		    (server ? cr->tls_cert != NULL : cr->tls_ca != NULL)) {
			fmt(errbuf, errlen,
			    "%s: TLS is configured (%s) but the URL is "
			    "not tls+tcp://; use tls+tcp://",
			    url, server ? "tls-cert" : "tls-ca");
			return SR_EINVAL;
		}
		return SR_OK;
	}
	if (server && (cr == NULL || cr->tls_cert == NULL)) {
		fmt(errbuf, errlen, "%s needs tls-cert and tls-key", url);
		return SR_EINVAL;
	}
	if (!server && (cr == NULL || cr->tls_ca == NULL)) {
		fmt(errbuf, errlen, "%s needs tls-ca: the server is always verified", url);
		return SR_EINVAL;
	}
	nng_tls_config *cfg;
	/* Our engine, so that a server can learn its peers' certificates
	 * (common/tls_engine.h). */
	int rv = tls_engine_register();
	if (rv != 0) {
		fmt(errbuf, errlen, "cannot set up TLS: %s", nng_strerror(rv));
		return wire_nng_err(rv);
	}
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv != 0) {
		fmt(errbuf, errlen, "cannot set up TLS: %s", nng_strerror(rv));
		return wire_nng_err(rv);
	}
	int err = SR_OK;
	if (cr->tls_cert != NULL) {
		char *cert = NULL, *key = NULL;
		if ((err = creds_read_file(cr->tls_cert, &cert, errbuf, errlen)) == SR_OK &&
		    (err = creds_read_file(cr->tls_key, &key, errbuf, errlen)) == SR_OK &&
		    (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
			fmt(errbuf, errlen,
			    "tls-cert %s / tls-key %s: %s (PEM certificate "
			    "and unencrypted key that belong together?)",
			    cr->tls_cert, cr->tls_key, nng_strerror(rv));
			err = SR_EINVAL;
		}
		free(cert);
		if (key != NULL) {
			memset(key, 0, strlen(key));
			free(key);
		}
	}
	if (err == SR_OK && cr->tls_ca != NULL &&
	    (rv = nng_tls_config_ca_file(cfg, cr->tls_ca)) != 0) {
		fmt(errbuf, errlen, "tls-ca %s: %s (a PEM CA bundle?)", cr->tls_ca,
		    nng_strerror(rv));
		err = SR_EINVAL;
	}
	if (err == SR_OK &&
	    (rv = nng_tls_config_auth_mode(cfg,
	         cr->tls_ca != NULL ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE)) != 0) {
		fmt(errbuf, errlen, "cannot set the TLS auth mode: %s", nng_strerror(rv));
		err = wire_nng_err(rv);
	}
	if (err == SR_OK && !server) {
		char host[256];
		if (!creds_url_host(url, host, sizeof(host)) || host[0] == '\0') {
			fmt(errbuf, errlen, "%s: no host to verify the certificate against", url);
			err = SR_EINVAL;
		} else if ((rv = nng_tls_config_server_name(cfg, host)) != 0) {
			fmt(errbuf, errlen, "cannot set the TLS server name: %s", nng_strerror(rv));
			err = wire_nng_err(rv);
		}
	}
	if (err != SR_OK) {
		nng_tls_config_free(cfg);
		return err;
	}
	*out = cfg;
	return SR_OK;
}

int
wire_chan_open(const char *url, int timeout_ms, struct wire_chan **out, char *errbuf, size_t errlen)
{
	return wire_chan_open_creds(url, timeout_ms, NULL, 0, NULL, out, errbuf, errlen);
}

static void
chan_free_one(struct wire_chan *ch)
{
	nng_close(ch->sock);
	if (ch->tls_cfg != NULL)
		nng_tls_config_free(ch->tls_cfg);
	pthread_mutex_destroy(&ch->inflight_mu);
	free(ch);
}

/* A new dialer for ch's URL with ch's TLS configuration, not started. */
static int
dialer_new(struct wire_chan *ch, nng_dialer *d)
{
	int rv = nng_dialer_create(d, ch->sock, ch->url);
	if (rv == 0 && ch->tls_cfg != NULL &&
	    (rv = nng_dialer_set_ptr(*d, NNG_OPT_TLS_CONFIG, ch->tls_cfg)) != 0)
		nng_dialer_close(*d);
	return rv;
}

/*
 * Replaces a dialer that nng stopped. nng 1.5.2's dialer never dials again
 * once a dial fails with NNG_ECLOSED (dialer_connect_cb takes it for its
 * own close), and that is what an ipc dial reports when the peer's listener
 * closed with the connection still in its backlog: the SP header's write
 * gets EPIPE, which nng maps to NNG_ECLOSED. A master killed or stopping
 * while a coordinator redialled it left that coordinator without a master
 * for good: it served its held chunks, then failed every call until it was
 * restarted (found by tests/integration/partition.sh; test_wire's
 * test_redial_after_dropped_dial). docs/reliability.md, "A dialer nng
 * stopped".
 *
 * So a call made without a connection looks at the dialer, every
 * DIAL_CHECK_MS at most: when no dial of it has ended for DIAL_STALL_MS (a
 * live one ends one every RECONN_MAX_MS at most while the peer refuses), a
 * new dialer takes its place. Cheap in between: one clock read. A dial that
 * hangs that long
 * (a connect to a host that drops packets) is started afresh, which is
 * harmless.
 */
static void
chan_watch(struct wire_chan *ch)
{
	int64_t now = sr_mono_ms();
	if (atomic_load(&ch->pipes) > 0 || now - atomic_load(&ch->dial_checked) < DIAL_CHECK_MS)
		return;
	pthread_mutex_lock(&ch->inflight_mu);
	atomic_store(&ch->dial_checked, now);
	int64_t n = dial_outcomes(ch->dialer);
	bool stalled = false;
	if (n >= 0 && n != atomic_load(&ch->dial_base)) {
		atomic_store(&ch->dial_base, n); /* a dial ended: alive */
		atomic_store(&ch->dial_seen, now);
	} else if (n >= 0 && ch->npipe == 0 && now - atomic_load(&ch->dial_seen) >= DIAL_STALL_MS) {
		stalled = true;
		atomic_store(&ch->dial_seen, now); /* one replacement per stall */
	}
	pthread_mutex_unlock(&ch->inflight_mu);
	nng_dialer d;
	if (!stalled || dialer_new(ch, &d) != 0)
		return; /* alive, or tried again a stall later */
	pthread_mutex_lock(&ch->inflight_mu);
	nng_dialer old = ch->dialer;
	ch->dialer = d;
	atomic_store(&ch->dial_base, dial_outcomes(d));
	pthread_mutex_unlock(&ch->inflight_mu);
	nng_dialer_close(old);
	(void) nng_dialer_start(d, NNG_FLAG_NONBLOCK);
}

static int
chan_open_one(const char *url, int timeout_ms, const struct creds *cr, unsigned want,
    const char *node_name, bool member, struct wire_chan **out, char *errbuf, size_t errlen)
{
	nng_tls_config *tls;
	int err = tls_config(cr, false, url, &tls, errbuf, errlen);
	if (err != SR_OK)
		return err;
	struct wire_chan *ch = calloc(1, sizeof(*ch));
	if (ch == NULL) {
		if (tls != NULL)
			nng_tls_config_free(tls);
		return SR_ENOMEM;
	}
	ch->timeout_ms = timeout_ms;
	ch->cr = cr;
	ch->want = want;
	if (node_name != NULL)
		sr_strlcpy(ch->node, node_name, sizeof(ch->node));
	ch->tls = tls != NULL;
	atomic_init(&ch->connected, false);
	atomic_init(&ch->pipes, 0);
	atomic_init(&ch->suspect_until, 0);
	atomic_init(&ch->cur, 0);
	atomic_init(&ch->dial_base, 0);
	atomic_init(&ch->dial_seen, sr_mono_ms());
	atomic_init(&ch->dial_checked, 0);
	ch->member = member;
	pthread_mutex_init(&ch->inflight_mu, NULL);
	creds_url_host(url, ch->host, sizeof(ch->host));
	sr_strlcpy(ch->url, url, sizeof(ch->url));
	int rv = nng_req0_open(&ch->sock);
	if (rv != 0) {
		fmt(errbuf, errlen, "cannot open socket: %s", nng_strerror(rv));
		if (tls != NULL)
			nng_tls_config_free(tls);
		pthread_mutex_destroy(&ch->inflight_mu);
		free(ch);
		return wire_nng_err(rv);
	}
	nng_pipe_notify(ch->sock, NNG_PIPE_EV_ADD_POST, chan_pipe, ch);
	nng_pipe_notify(ch->sock, NNG_PIPE_EV_REM_POST, chan_pipe, ch);
	nng_socket_set_size(ch->sock, NNG_OPT_RECVMAXSZ, WIRE_RECV_MAX);
	nng_socket_set_ms(ch->sock, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(ch->sock, NNG_OPT_RECONNMAXT, RECONN_MAX_MS);
	/* Our own timeout bounds each call; nng's resend would only duplicate
	 * non-idempotent requests such as Lease. */
	nng_socket_set_ms(ch->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	/* The channel keeps the TLS configuration for the dialers it may
	 * make later (chan_watch). */
	ch->tls_cfg = tls;
	if ((rv = dialer_new(ch, &ch->dialer)) == 0)
		rv = nng_dialer_start(ch->dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		fmt(errbuf, errlen, "cannot dial %s: %s", url, nng_strerror(rv));
		chan_free_one(ch);
		return rv == NNG_ENOMEM ? SR_ENOMEM : SR_EINVAL;
	}
	*out = ch;
	return SR_OK;
}

int
wire_chan_open_creds(const char *url, int timeout_ms, const struct creds *cr, unsigned want,
    const char *node_name, struct wire_chan **out, char *errbuf, size_t errlen)
{
	if (strchr(url, ',') == NULL)
		return chan_open_one(url, timeout_ms, cr, want, node_name, false, out, errbuf,
		    errlen);
	/* A list of masters: one member channel per URL. */
	struct wire_chan *ch = calloc(1, sizeof(*ch));
	size_t n = 1;
	for (const char *p = url; *p != '\0'; p++)
		n += *p == ',';
	if (ch == NULL || (ch->alt = calloc(n, sizeof(*ch->alt))) == NULL) {
		free(ch);
		fmt(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	ch->timeout_ms = timeout_ms;
	atomic_init(&ch->cur, 0);
	const char *p = url;
	int rv = SR_OK;
	while (rv == SR_OK && ch->nalt < n) {
		size_t len = strcspn(p, ",");
		char one[512];
		if (len == 0 || len >= sizeof(one)) {
			fmt(errbuf, errlen, "master list '%s': an empty or overlong URL", url);
			rv = SR_EINVAL;
			break;
		}
		memcpy(one, p, len);
		one[len] = '\0';
		rv = chan_open_one(one, timeout_ms, cr, want, node_name, true, &ch->alt[ch->nalt],
		    errbuf, errlen);
		if (rv == SR_OK)
			ch->nalt++;
		p += len + (p[len] == ',');
	}
	if (rv != SR_OK) {
		wire_chan_close(ch);
		return rv;
	}
	*out = ch;
	return SR_OK;
}

/*
 * Lets a dial that may be in its SP handshake end before the channel closes.
 * nng 1.5.2 cannot close a dialer during that handshake: the connection is
 * then on the transport endpoint's negotiating or waiting list, where
 * ipc_ep_close (tcp and tls alike) shuts it down but nothing ever reaps it;
 * and as it holds a reference on the endpoint, the endpoint is never freed
 * either (src/sp/transport/ipc/ipc.c in 1.5.2: ipc_ep_close, ipc_pipe_neg_cb,
 * ipc_ep_fini). Each such close leaked the endpoint, the connection and its
 * descriptor, about 3 KB, and nng_fini cannot free them, as nothing in nng
 * points to them any more: test_server failed LeakSanitizer in 5 of 30 runs
 * (its fixture's channel, closed unused a few milliseconds after it
 * opened), and a CLI's list members still connecting at exit leak the same.
 *
 * So a close first waits, at most CLOSE_SETTLE_MS, until the channel has a
 * connection (a REQ dialer then dials no more until it loses it) or the
 * dial under way has ended some other way: nng's statistics count every
 * dial that ends, connected or failed (dial_outcomes), so a peer that is
 * down (refused) costs no wait. A dial that takes longer than that (a peer
 * that accepts but answers its handshake that slowly, or a connect that
 * hangs) is closed anyway. docs/reliability.md, "A channel closed while it
 * connects".
 */
static void
chan_settle(struct wire_chan *ch, int64_t until)
{
	pthread_mutex_lock(&ch->inflight_mu);
	nng_dialer d = ch->dialer;
	pthread_mutex_unlock(&ch->inflight_mu);
	int64_t base = atomic_load(&ch->dial_base);
	while (atomic_load(&ch->pipes) == 0 && sr_mono_ms() < until) {
		int64_t n = dial_outcomes(d);
		if (base >= 0 && n >= 0 && n != base)
			return;
		nanosleep(&(struct timespec) {0, 2 * 1000000L}, NULL);
	}
}

void
wire_chan_close(struct wire_chan *ch)
{
	if (ch == NULL)
		return;
	int64_t until = sr_mono_ms() + CLOSE_SETTLE_MS;
	if (ch->alt == NULL) {
		chan_settle(ch, until);
		chan_free_one(ch);
		return;
	}
	/* All members settle first, within one bound. */
	for (size_t i = 0; i < ch->nalt; i++)
		chan_settle(ch->alt[i], until);
	for (size_t i = 0; i < ch->nalt; i++)
		chan_free_one(ch->alt[i]);
	free(ch->alt);
	free(ch);
}

/* One request/reply exchange on a fresh context; *reply is the raw reply. */
static int
exchange_within(struct wire_chan *ch, nng_msg *msg, nng_msg **reply, int timeout_ms)
{
	nng_ctx ctx;
	nng_aio *aio = NULL;
	int rv = nng_ctx_open(&ctx, ch->sock);
	if (rv != 0) {
		nng_msg_free(msg);
		return rv;
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_msg_free(msg);
		nng_ctx_close(ctx);
		return rv;
	}
	/* A list member's call is given up when its connection closes
	 * (chan_pipe); one that started without a connection waits for one
	 * as any other call does. */
	if (atomic_load(&ch->pipes) == 0)
		chan_watch(ch);
	struct inflight self = {aio, false, NULL};
	bool watched = ch->member && atomic_load(&ch->pipes) > 0;
	if (watched) {
		pthread_mutex_lock(&ch->inflight_mu);
		self.next = ch->inflight;
		ch->inflight = &self;
		pthread_mutex_unlock(&ch->inflight_mu);
	}
	/* One deadline bounds the whole call: send and receive share it. */
	nng_time deadline = nng_clock() + (nng_time) timeout_ms;
	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		goto out;
	}
	nng_time now = nng_clock();
	nng_aio_set_timeout(aio, now < deadline ? (nng_duration) (deadline - now) : 1);
	if (watched && atomic_load(&ch->pipes) == 0) {
		rv = NNG_ECONNSHUT; /* lost between send and receive */
		goto out;
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0)
		*reply = nng_aio_get_msg(aio);
out:
	if (watched) {
		pthread_mutex_lock(&ch->inflight_mu);
		for (struct inflight **pp = &ch->inflight; *pp != NULL; pp = &(*pp)->next)
			if (*pp == &self) {
				*pp = self.next;
				break;
			}
		pthread_mutex_unlock(&ch->inflight_mu);
		if (self.lost && rv == NNG_ECANCELED)
			rv = NNG_ECONNSHUT;
	}
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return rv;
}

static int
exchange(struct wire_chan *ch, nng_msg *msg, nng_msg **reply)
{
	return exchange_within(ch->alt != NULL ? ch->alt[atomic_load(&ch->cur)] : ch, msg, reply,
	    ch->timeout_ms);
}

int
wire_call_raw(struct wire_chan *ch, const void *buf, size_t len, void **reply, size_t *replylen)
{
	nng_msg *msg, *rep = NULL;
	int rv = nng_msg_alloc(&msg, len);
	if (rv != 0)
		return wire_nng_err(rv);
	if (len > 0)
		memcpy(nng_msg_body(msg), buf, len);
	if ((rv = exchange(ch, msg, &rep)) != 0)
		return wire_nng_err(rv);
	*replylen = nng_msg_len(rep);
	*reply = malloc(*replylen + 1);
	if (*reply == NULL) {
		nng_msg_free(rep);
		return SR_ENOMEM;
	}
	memcpy(*reply, nng_msg_body(rep), *replylen);
	nng_msg_free(rep);
	return SR_OK;
}

static int call_one(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp, int timeout_ms,
    char *leader, size_t leaderlen, char *errbuf, size_t errlen);

/* ---- a list of masters (docs/ha.md) ---- */

/* The member whose URL is url, or -1. */
static int
member_of(const struct wire_chan *ch, const char *url)
{
	for (size_t i = 0; url[0] != '\0' && i < ch->nalt; i++)
		if (strcmp(ch->alt[i]->url, url) == 0)
			return (int) i;
	return -1;
}

/* Whether member m looks able to answer: connected, and not suspect. */
static bool
usable(const struct wire_chan *m)
{
	return atomic_load(&m->pipes) > 0 && atomic_load(&m->suspect_until) <= sr_mono_ms();
}

/* From i on, the first usable member; i itself if none is (they may be
 * connecting, or all suspect). */
static size_t
live_from(const struct wire_chan *ch, size_t i)
{
	for (size_t k = 0; k < ch->nalt; k++) {
		size_t j = (i + k) % ch->nalt;
		if (usable(ch->alt[j]))
			return j;
	}
	return i;
}

static bool
transport_err(int rv)
{
	return rv == SR_ETIMEDOUT || rv == SR_ECONNECT || rv == SR_ECLOSED;
}

/*
 * One call over a list of masters, within the channel's timeout: to the
 * member that answered last (or, when its connection is gone, the next
 * live one); a standby's SR_ENOTLEADER sends it to the leader the standby
 * names; an unreachable master or one that knows no leader yet sends it on
 * to the next, with a short pause once every member was asked. Other
 * errors are the leader's answer and are returned as they are.
 */
/* How long a call on a list waits for its first connection: a live master
 * on loopback or a LAN connects in milliseconds. */
#define LIST_CONNECT_WAIT_MS 500

/*
 * A channel just opened (a CLI run) has no connection yet, so live_from()
 * would pick the first member, and a dead one there (refused, retried
 * quietly by nng's dialer) would take the call's whole timeout while the
 * others were up. Wait, bounded, until any member is connected.
 */
static void
await_any(struct wire_chan *ch, int64_t deadline)
{
	int64_t until = sr_mono_ms() + LIST_CONNECT_WAIT_MS;
	if (until > deadline)
		until = deadline;
	for (;;) {
		for (size_t k = 0; k < ch->nalt; k++)
			if (usable(ch->alt[k]))
				return;
		if (sr_mono_ms() >= until)
			return;
		nanosleep(&(struct timespec) {0, 5 * 1000000L}, NULL);
	}
}

static int
call_list(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp, char *errbuf, size_t errlen)
{
	int64_t deadline = sr_mono_ms() + ch->timeout_ms;
	/* A member not asked for long may have a stopped dialer too. */
	for (size_t k = 0; k < ch->nalt; k++)
		chan_watch(ch->alt[k]);
	await_any(ch, deadline);
	size_t i = live_from(ch, atomic_load(&ch->cur));
	int rv = SR_ETIMEDOUT;
	fmt(errbuf, errlen, "no master answered within %d ms", ch->timeout_ms);
	for (size_t asked = 0;; asked++) {
		int64_t left = deadline - sr_mono_ms();
		if (left <= 0)
			return rv;
		char leader[256] = "";
		rv = call_one(ch->alt[i], req, resp, (int) left, leader, sizeof(leader), errbuf,
		    errlen);
		if (rv == SR_OK || rv == SR_ENOTLEADER)
			atomic_store(&ch->alt[i]->suspect_until, 0);
		if (rv == SR_OK) {
			atomic_store(&ch->cur, i);
			return rv;
		}
		if (rv != SR_ENOTLEADER && !transport_err(rv))
			return rv;
		if (transport_err(rv))
			atomic_store(&ch->alt[i]->suspect_until, sr_mono_ms() + ch->timeout_ms);
		int j = rv == SR_ENOTLEADER ? member_of(ch, leader) : -1;
		if (j >= 0 && (size_t) j != i && usable(ch->alt[j])) {
			i = (size_t) j;
			atomic_store(&ch->cur, i);
			continue;
		}
		/* No leader known, or one we cannot reach: ask the others, and
		 * pause after each round so that an election can finish. The
		 * next call starts there too: a master that hangs (stopped,
		 * not dead, so its connection stays up) must not cost every
		 * call its whole timeout. */
		i = live_from(ch, (i + 1) % ch->nalt);
		atomic_store(&ch->cur, i);
		if ((asked + 1) % ch->nalt == 0 || rv == SR_ENOTLEADER)
			nanosleep(&(struct timespec) {0, 50 * 1000000L}, NULL);
	}
}

int
wire_call(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp, char *errbuf, size_t errlen)
{
	*resp = NULL;
	if (ch->alt != NULL)
		return call_list(ch, req, resp, errbuf, errlen);
	return call_one(ch, req, resp, ch->timeout_ms, NULL, 0, errbuf, errlen);
}

/* One call to one master within timeout_ms; with SR_ENOTLEADER the leader
 * it names goes to leader (when given). */
static int
call_one(struct wire_chan *ch, Sr__Request *req, Sr__Response **resp, int timeout_ms, char *leader,
    size_t leaderlen, char *errbuf, size_t errlen)
{
	*resp = NULL;
	req->protocol_version = WIRE_PROTOCOL_VERSION;
	bool no_token = false;
	if (creds_has_tokens(ch->cr)) {
		const char *tok =
		    creds_pick(ch->cr, wire_body_roles(req->body_case), ch->want, ch->node);
		/* None that fits: send none; the server says which role it
		 * wanted, and the message below says why none was sent. */
		req->token = tok != NULL ? (char *) tok : "";
		no_token = tok == NULL;
	}
	size_t len = sr__request__get_packed_size(req);
	nng_msg *msg, *rep = NULL;
	int rv = nng_msg_alloc(&msg, len);
	if (rv != 0) {
		fmt(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	sr__request__pack(req, nng_msg_body(msg));
	if ((rv = exchange_within(ch, msg, &rep, timeout_ms)) != 0) {
		int err = wire_nng_err(rv);
		if (err == SR_ETIMEDOUT && ch->tls && !atomic_load(&ch->connected))
			fmt(errbuf, errlen,
			    "no reply within %d ms: no TLS session yet (is "
			    "the server up, does its certificate chain to tls-ca and name "
			    "%s, does it accept this process's certificate?)",
			    timeout_ms, ch->host);
		else if (err == SR_ETIMEDOUT)
			fmt(errbuf, errlen, "%s%sno reply within %d ms", ch->member ? ch->url : "",
			    ch->member ? ": " : "", timeout_ms);
		else
			fmt(errbuf, errlen, "%s%s%s", ch->member ? ch->url : "",
			    ch->member ? ": " : "", nng_strerror(rv));
		return err;
	}
	Sr__Response *r = sr__response__unpack(NULL, nng_msg_len(rep), nng_msg_body(rep));
	nng_msg_free(rep);
	if (r == NULL) {
		fmt(errbuf, errlen, "malformed reply");
		return SR_EPROTO;
	}
	if (r->error != NULL && r->error->code != 0) {
		int code = r->error->code;
		char roles[64];
		if (code == SR_EACCES && no_token)
			fmt(errbuf, errlen,
			    "%s; this process's token file has no %s "
			    "token",
			    r->error->message,
			    creds_roles_str(ch->want & wire_body_roles(req->body_case), roles,
			        sizeof(roles)));
		else
			fmt(errbuf, errlen, "%s", r->error->message);
		if (code == SR_ENOTLEADER && leader != NULL && r->error->leader != NULL)
			sr_strlcpy(leader, r->error->leader, leaderlen);
		sr__response__free_unpacked(r, NULL);
		return code > 0 && code < SR_ERR_MAX ? code : SR_EINTERNAL;
	}
	/* Request and response body cases share their field numbers. */
	if ((int) r->body_case != (int) req->body_case) {
		fmt(errbuf, errlen, "reply of the wrong kind (%d for %d)", (int) r->body_case,
		    (int) req->body_case);
		sr__response__free_unpacked(r, NULL);
		return SR_EPROTO;
	}
	*resp = r;
	return SR_OK;
}

void
wire_response_free(Sr__Response *resp)
{
	if (resp != NULL)
		sr__response__free_unpacked(resp, NULL);
}

/* ---- server ---- */

enum work_state { WORK_INIT, WORK_RECV, WORK_SEND };

struct work {
	enum work_state state;
	nng_aio *aio;
	nng_ctx ctx;
	struct wire_server *srv;
	/* The item's handler thread and the request the callback hands it
	 * (under srv->hmu; signalled on cv). */
	pthread_t thr;
	bool thr_on;
	pthread_cond_t cv;
	nng_msg *req;
	/* What req's connection's client certificate says (conn_touch),
	 * handed over with it. */
	struct tls_identity cert;
};

/* A TCP endpoint (IPv4 or IPv6 address and port), as nng and the kernel
 * give it; family 0 when unknown. Compared as bytes: built zeroed. */
struct tcp_ep {
	uint16_t family;
	uint16_t port; /* network order */
	uint8_t addr[16];
};

/* One connection (nng pipe) of a server, when it last delivered a whole
 * request, (mutual TLS) what its client certificate says, and (TCP) its
 * peer's address. */
struct conn {
	uint32_t pipe;
	int64_t last_ms;
	struct tls_identity id;
	struct tcp_ep rem;
};

struct wire_server {
	nng_socket sock;
	const struct creds *cr;
	bool mtls; /* tls+tcp with a CA: every peer has a verified certificate */
	const struct wire_route *routes;
	size_t nroutes;
	void *arg;
	int nworkers;
	struct work *works;
	/* Guards every work item's req and the stop flag of their threads. */
	pthread_mutex_t hmu;
	bool hmu_on, hstop;
	/* A handler is running inside an nng callback (at most one is). */
	atomic_bool inline_busy;
	/* Connection bookkeeping (docs/reliability.md, "Bounded transport"):
	 * nng 1.5.2 has no connection cap and no idle timeout of its own. */
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	struct conn *conns;
	size_t nconns, capconns;
	size_t max_conns;
	int64_t idle_ms;
	int64_t last_reject_log_ms;
	bool reaper_on, stopping;
	pthread_t reaper;
	/* The listener watchdog (docs/reliability.md, nng #1518): the URL and
	 * listener to restart, connections accepted so far (ADD_PRE, signalled
	 * on acv), and whether the last restart failed. */
	char *url;
	nng_listener lst;
	uint64_t adds;
	pthread_cond_t acv;
	bool lst_down;
	/* tls+tcp:// only: the listener's address, whose accepted connections
	 * the reaper ends when they are not pipes after handshake_ms
	 * (tls_strays). */
	struct tcp_ep tls_lst;
	int64_t handshake_ms;
};

/* ---- strings as sent ---- */

/*
 * protobuf-c hands a string field over as a NUL-terminated copy, so a name
 * sent as "s\0x" reaches a handler as "s": it would be served as sequence s,
 * created as s, joined as node s. The decoded message cannot show it, so the
 * raw bytes are walked with the message's own descriptors: every string
 * field known to this build, at any depth, is checked over its full wire
 * length. Fields this build does not know are skipped whatever they hold.
 * The bytes have already been decoded by protobuf-c, so a walk that does not
 * parse means a protobuf-c quirk, reported as SR_EPROTO.
 */
#define SCAN_DEPTH_MAX 16

static bool
scan_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64 && *off < len; shift += 7) {
		uint8_t b = p[(*off)++];
		*v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

static int
scan_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, const char *path,
    int depth, char *errbuf, size_t errlen)
{
	size_t off = 0;

	if (depth > SCAN_DEPTH_MAX) {
		fmt(errbuf, errlen, "%s: messages nested too deep", path);
		return SR_EPROTO;
	}
	while (off < len) {
		uint64_t tag, n;
		if (!scan_varint(p, len, &off, &tag))
			goto bad;
		switch (tag & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (!scan_varint(p, len, &off, &n))
				goto bad;
			continue;
		case PROTOBUF_C_WIRE_TYPE_64BIT: n = 8; break;
		case PROTOBUF_C_WIRE_TYPE_32BIT: n = 4; break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
			if (!scan_varint(p, len, &off, &n) || n > len - off)
				goto bad;
			const ProtobufCFieldDescriptor *f = tag >> 3 <= UINT32_MAX
			    ? protobuf_c_message_descriptor_get_field(d, (unsigned) (tag >> 3))
			    : NULL;
			char sub[128];
			if (f != NULL)
				snprintf(sub, sizeof(sub), "%s%s%s", path,
				    path[0] != '\0' ? "." : "", f->name);
			if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING) {
				const uint8_t *nul = memchr(p + off, 0, (size_t) n);
				if (nul != NULL) {
					fmt(errbuf, errlen,
					    "%s holds a NUL byte (at byte %zu of %zu); "
					    "a string on the wire may not contain NUL",
					    sub, (size_t) (nul - (p + off)), (size_t) n);
					return SR_EINVAL;
				}
			} else if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				int rv = scan_strings(f->descriptor, p + off, (size_t) n, sub,
				    depth + 1, errbuf, errlen);
				if (rv != SR_OK)
					return rv;
			}
			break;
		}
		default: goto bad;
		}
		if (n > len - off)
			goto bad;
		off += (size_t) n;
	}
	return SR_OK;
bad:
	fmt(errbuf, errlen, "%s%scannot walk the request's fields", path,
	    path[0] != '\0' ? ": " : "");
	return SR_EPROTO;
}

static const struct wire_route *
route_find(const struct wire_route *routes, size_t nroutes, Sr__Request__BodyCase body)
{
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].body == body)
			return &routes[i];
	return NULL;
}

unsigned
wire_body_roles(int body)
{
	switch (body) {
	case SR__REQUEST__BODY_JOIN:
	case SR__REQUEST__BODY_HEARTBEAT:
	case SR__REQUEST__BODY_LEASE: return CREDS_NODE;
	case SR__REQUEST__BODY_LEAVE: return CREDS_NODE | CREDS_ADMIN;
	case SR__REQUEST__BODY_SEQ_CREATE:
	case SR__REQUEST__BODY_SEQ_DROP:
	case SR__REQUEST__BODY_NODE_REMOVE: return CREDS_ADMIN;
	case SR__REQUEST__BODY_SEQ_LIST:
	case SR__REQUEST__BODY_STATUS:
	case SR__REQUEST__BODY_WORKER_HOLDER: return CREDS_READER | CREDS_CLIENT | CREDS_ADMIN;
	case SR__REQUEST__BODY_NEXT_IDS:
	case SR__REQUEST__BODY_NEXT_TXIDS: return CREDS_CLIENT | CREDS_ADMIN;
	default: return 0;
	}
}

/*
 * Who the peer is, checked against the route; fills peer. The rule
 * (docs/security.md, "Roles"):
 *  - a verified client certificate (mutual TLS) gives the role in its OU
 *    and, for node, the name in its CN; one that names no role is refused;
 *  - tokens, when the server has a token file, are required as before; with
 *    a certificate the token must agree with it: its role one the
 *    certificate's role includes (an admin certificate covers reader and
 *    client tokens), a bound node token naming the certificate's CN. The
 *    token's role then applies (it is the narrower);
 *  - with neither, every role (the transport is the only gate).
 */
static int
authorize(const struct creds *cr, const struct tls_identity *cert, const Sr__Request *req,
    const struct wire_route *route, struct wire_peer *peer, char *errbuf, size_t errlen)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&sr__request__descriptor,
	        (unsigned) req->body_case);
	const char *what = f != NULL ? f->name : "request";
	bool by_cert = cert != NULL && cert->cert;
	char need[64], have[64];
	peer->roles = CREDS_ALL;
	peer->node[0] = '\0';
	if (by_cert) {
		if (cert->role == 0) {
			fmt(errbuf, errlen, "%s refused: %s (docs/security.md)", what, cert->why);
			return SR_EACCES;
		}
		peer->roles = cert->role;
		if (cert->role == CREDS_NODE)
			sr_strlcpy(peer->node, cert->name, sizeof(peer->node));
	} else if (!creds_has_tokens(cr)) {
		return SR_OK;
	}
	creds_roles_str(route->roles, need, sizeof(need));
	if (creds_has_tokens(cr)) {
		size_t n = req->token != NULL ? strlen(req->token) : 0;
		char tnode[CREDS_NAME_MAX + 1];
		unsigned troles = creds_lookup(cr, req->token, n, tnode);
		/* The token itself is never quoted: not to the peer, not to a
		 * log. */
		if (n == 0) {
			fmt(errbuf, errlen,
			    "%s needs the %s role and the request has no "
			    "token (token-file, docs/security.md)",
			    what, need);
			return SR_EACCES;
		}
		if (troles == 0) {
			fmt(errbuf, errlen,
			    "%s needs the %s role and the request's token "
			    "is not known here",
			    what, need);
			return SR_EACCES;
		}
		if (by_cert && !creds_cert_allows(cert->role, troles)) {
			fmt(errbuf, errlen,
			    "%s refused: the request's token has the %s "
			    "role but the client certificate (CN=%s) the %s role; with "
			    "both, they must agree (docs/security.md)",
			    what, creds_roles_str(troles, have, sizeof(have)), cert->name,
			    creds_roles_str(cert->role, need, sizeof(need)));
			return SR_EACCES;
		}
		if (by_cert && tnode[0] != '\0' && strcmp(tnode, peer->node) != 0) {
			fmt(errbuf, errlen,
			    "%s refused: the request's token is node %s's "
			    "but the client certificate is node %s's",
			    what, tnode, peer->node);
			return SR_EACCES;
		}
		peer->roles = troles;
		if (!by_cert)
			sr_strlcpy(peer->node, tnode, sizeof(peer->node));
		if ((peer->roles & route->roles) == 0) {
			fmt(errbuf, errlen,
			    "%s needs the %s role; the request's token "
			    "has the %s role",
			    what, need, creds_roles_str(peer->roles, have, sizeof(have)));
			return SR_EACCES;
		}
		return SR_OK;
	}
	if ((peer->roles & route->roles) == 0) {
		fmt(errbuf, errlen,
		    "%s needs the %s role; the client certificate "
		    "(CN=%s) has the %s role",
		    what, need, cert->name, creds_roles_str(peer->roles, have, sizeof(have)));
		return SR_EACCES;
	}
	return SR_OK;
}

int
wire_serve_bytes(const struct wire_route *routes, size_t nroutes, void *arg, const void *body,
    size_t len, void **out, size_t *outlen)
{
	return wire_serve_bytes_creds(routes, nroutes, arg, NULL, body, len, out, outlen);
}

int
wire_serve_bytes_creds(const struct wire_route *routes, size_t nroutes, void *arg,
    const struct creds *cr, const void *body, size_t len, void **out, size_t *outlen)
{
	return wire_serve_bytes_cert(routes, nroutes, arg, cr, NULL, body, len, out, outlen);
}

/*
 * Packs resp, or an Error reply when code is not SR_OK, into a malloc'd
 * buffer (*out, *outlen). SR_ENOMEM when there is no memory for it.
 */
static int
pack_reply(Sr__Response *resp, int code, char *errbuf, const struct wire_arena *arena, void **out,
    size_t *outlen)
{
	Sr__Error error = SR__ERROR__INIT;
	if (code != SR_OK) {
		/* Messages quote what the peer sent; protobuf strings must be
		 * UTF-8 and strict peers reject a reply that is not, so every
		 * byte outside ASCII becomes '?'. */
		for (char *p = errbuf; *p != '\0'; p++)
			if ((unsigned char) *p >= 0x80 || (unsigned char) *p < 0x20)
				*p = '?';
		/* A failed handler's partial body is dropped. */
		resp->body_case = SR__RESPONSE__BODY__NOT_SET;
		error.code = code;
		error.message = errbuf[0] ? errbuf : (char *) sr_strerror(code);
		if (code == SR_ENOTLEADER && arena->leader != NULL)
			error.leader = (char *) arena->leader;
		resp->error = &error;
	}
	*outlen = sr__response__get_packed_size(resp);
	if ((*out = malloc(*outlen > 0 ? *outlen : 1)) == NULL)
		return SR_ENOMEM;
	sr__response__pack(resp, *out);
	return SR_OK;
}

/* Serves one raw request; with a work item w its handler may park it
 * (wire_park), and then *out is NULL and *parked true. */
static int
serve_bytes(const struct wire_route *routes, size_t nroutes, void *arg, const struct creds *cr,
    const struct tls_identity *cert, struct work *w, const void *body, size_t len, void **out,
    size_t *outlen, bool *parked)
{
	struct wire_arena arena = {NULL, NULL, NULL, w, false};
	struct wire_peer peer;
	Sr__Response resp = SR__RESPONSE__INIT;
	char errbuf[WIRE_ERRMSG_MAX] = "";
	Sr__Request *req = NULL;
	int code;

	*parked = false;
	if (len > WIRE_REQ_MAX) {
		code = SR_ETOOBIG;
		fmt(errbuf, sizeof(errbuf), "request of %zu bytes exceeds the %u byte limit", len,
		    WIRE_REQ_MAX);
	} else if ((req = sr__request__unpack(NULL, len, body)) == NULL) {
		code = SR_EPROTO;
		fmt(errbuf, sizeof(errbuf), "cannot decode request (%zu bytes)", len);
	} else if (req->protocol_version != WIRE_PROTOCOL_VERSION) {
		code = SR_EVERSION;
		fmt(errbuf, sizeof(errbuf),
		    "protocol version %u not supported (this peer speaks %u)",
		    req->protocol_version, WIRE_PROTOCOL_VERSION);
	} else if (req->body_case == SR__REQUEST__BODY__NOT_SET) {
		code = SR_EPROTO;
		fmt(errbuf, sizeof(errbuf), "request has no body");
	} else if ((code = scan_strings(&sr__request__descriptor, body, len, "", 0, errbuf,
	                sizeof(errbuf))) != SR_OK) {
		/* errbuf names the field. */
	} else {
		const struct wire_route *route = route_find(routes, nroutes, req->body_case);
		if (route == NULL) {
			code = SR_EINVAL;
			fmt(errbuf, sizeof(errbuf), "request kind %d is not served here",
			    (int) req->body_case);
		} else if ((code = authorize(cr, cert, req, route, &peer, errbuf,
		                sizeof(errbuf))) == SR_OK) {
			arena.peer = &peer;
			code = route->fn(arg, req, &resp, &arena, errbuf, sizeof(errbuf));
		}
	}
	int rv = SR_OK;
	if (arena.parked) {
		/* Whoever holds the token answers (wire_finish); it may have
		 * done so already. */
		*parked = true;
		*out = NULL;
		*outlen = 0;
	} else {
		if (code == WIRE_PARKED) {
			code = SR_EINTERNAL;
			fmt(errbuf, sizeof(errbuf), "handler parked a request it could not park");
		}
		rv = pack_reply(&resp, code, errbuf, &arena, out, outlen);
	}
	if (req != NULL)
		sr__request__free_unpacked(req, NULL);
	arena_reset(&arena);
	return rv;
}

int
wire_serve_bytes_cert(const struct wire_route *routes, size_t nroutes, void *arg,
    const struct creds *cr, const struct tls_identity *cert, const void *body, size_t len,
    void **out, size_t *outlen)
{
	bool parked;
	return serve_bytes(routes, nroutes, arg, cr, cert, NULL, body, len, out, outlen, &parked);
}

/* The nng message holding out[0..n), which is freed; NULL without memory. */
static nng_msg *
reply_msg(void *out, size_t n)
{
	nng_msg *msg = NULL;
	if (nng_msg_alloc(&msg, n) == 0)
		memcpy(nng_msg_body(msg), out, n);
	else
		msg = NULL;
	free(out);
	return msg;
}

/* Builds the nng reply for one raw request; NULL when the handler parked it
 * (*parked) or when memory runs out (then the client times out). */
static nng_msg *
serve_one(struct work *w, const struct tls_identity *cert, const void *body, size_t len,
    bool *parked)
{
	void *out;
	size_t n;
	if (serve_bytes(w->srv->routes, w->srv->nroutes, w->srv->arg, w->srv->cr, cert, w, body,
	        len, &out, &n, parked) != SR_OK ||
	    *parked)
		return NULL;
	return reply_msg(out, n);
}

/* Sends rep on w's context, or (rep NULL) listens for the next request. */
static void
send_or_listen(struct work *w, nng_msg *rep)
{
	if (rep == NULL) {
		w->state = WORK_RECV;
		nng_aio_set_timeout(w->aio, SERVER_RECV_TIMEOUT_MS);
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	w->state = WORK_SEND;
	nng_aio_set_msg(w->aio, rep);
	nng_aio_set_timeout(w->aio, SERVER_SEND_TIMEOUT_MS);
	nng_ctx_send(w->ctx, w->aio);
}

/* ---- parked requests ---- */

bool
wire_parkable(const struct wire_arena *a)
{
	return a->work != NULL && !a->parked;
}

struct wire_parked *
wire_park(struct wire_arena *a)
{
	if (a->work == NULL || a->parked)
		return NULL;
	a->parked = true;
	return (struct wire_parked *) a->work;
}

void
wire_finish(struct wire_parked *p, wire_reply_fn fn, void *arg)
{
	struct work *w = (struct work *) p;
	struct wire_arena arena = {NULL, NULL, NULL, NULL, false};
	Sr__Response resp = SR__RESPONSE__INIT;
	char errbuf[WIRE_ERRMSG_MAX] = "";
	void *out;
	size_t n;
	int code = fn(arg, &resp, &arena, errbuf, sizeof(errbuf));
	nng_msg *rep = NULL;
	if (pack_reply(&resp, code, errbuf, &arena, &out, &n) == SR_OK)
		rep = reply_msg(out, n);
	arena_reset(&arena);
	/* The item has no operation pending while parked: nothing else
	 * touches its aio until this submits one. */
	send_or_listen(w, rep);
}

/* ---- connections: a cap and an idle timeout ---- */

/* Index of pipe in srv->conns, or nconns; call with cmu held. */
static size_t
conn_find(const struct wire_server *srv, uint32_t pipe)
{
	size_t i = 0;
	while (i < srv->nconns && srv->conns[i].pipe != pipe)
		i++;
	return i;
}

/* Doubles the table; returns it, or NULL (the old one is kept). */
static struct conn *
realloc_conns(struct wire_server *srv)
{
	size_t cap = srv->capconns ? srv->capconns * 2 : 64;
	struct conn *v = realloc(srv->conns, cap * sizeof(*v));
	if (v == NULL)
		return NULL;
	srv->capconns = cap;
	return v;
}

/* nsa as a tcp_ep (zeroed, family 0, unless IPv4 or IPv6). */
static void
tcp_ep_from_nng(const nng_sockaddr *nsa, struct tcp_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (nsa->s_family == NNG_AF_INET) {
		ep->family = AF_INET;
		ep->port = nsa->s_in.sa_port;
		memcpy(ep->addr, &nsa->s_in.sa_addr, sizeof(nsa->s_in.sa_addr));
	} else if (nsa->s_family == NNG_AF_INET6) {
		ep->family = AF_INET6;
		ep->port = nsa->s_in6.sa_port;
		memcpy(ep->addr, nsa->s_in6.sa_addr, sizeof(nsa->s_in6.sa_addr));
	}
}

/* The kernel's sa as a tcp_ep, as tcp_ep_from_nng. */
static void
tcp_ep_from_sys(const struct sockaddr_storage *sa, struct tcp_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
		ep->family = AF_INET;
		ep->port = in->sin_port;
		memcpy(ep->addr, &in->sin_addr, sizeof(in->sin_addr));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
		ep->family = AF_INET6;
		ep->port = in6->sin6_port;
		memcpy(ep->addr, &in6->sin6_addr, sizeof(in6->sin6_addr));
	}
}

static int
tcp_ep_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tcp_ep));
}

/* Marks the connection busy now and copies its certificate's identity to
 * id. A connection not in the table (refused, or already gone) has none:
 * with mutual TLS its requests are then refused, never served unchecked. */
static void
conn_touch(struct wire_server *srv, uint32_t pipe, struct tls_identity *id)
{
	pthread_mutex_lock(&srv->cmu);
	size_t i = conn_find(srv, pipe);
	if (i < srv->nconns) {
		srv->conns[i].last_ms = sr_mono_ms();
		*id = srv->conns[i].id;
	} else {
		memset(id, 0, sizeof(*id));
		id->cert = srv->mtls;
		snprintf(id->why, sizeof(id->why), "the connection is not known");
	}
	pthread_mutex_unlock(&srv->cmu);
}

/*
 * With mutual TLS, what the connection's client certificate says. nng
 * 1.5.2 cannot tell (docs/decisions.md), but asking it whether the
 * connection is verified runs our engine's `verified` operation on this
 * thread, which leaves the identity in a thread-local slot
 * (common/tls_engine.h). Anything unexpected fails closed: a certificate
 * that grants no role.
 */
static void
conn_identity(nng_pipe p, struct tls_identity *id)
{
	bool verified = false;
	tls_engine_peer_clear();
	int rv = nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified);
	tls_engine_peer_take(id);
	if (rv != 0 || !verified || !id->cert) {
		memset(id, 0, sizeof(*id));
		id->cert = true;
		snprintf(id->why, sizeof(id->why),
		    "the connection's client certificate "
		    "could not be read (%s)",
		    rv != 0 ? nng_strerror(rv) : "not verified");
	}
}

/*
 * nng calls this after a connection's handshake (ADD_PRE: closing the pipe
 * here refuses it) and after it is gone (REM_POST). Over the cap a new
 * connection is closed at once, so that memory stays bounded by max_conns
 * times the receive cap whatever peers do.
 */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct wire_server *srv = arg;
	bool refuse = false;
	struct tls_identity id = {0};
	/* Before the lock: it takes the connection's own lock in nng. */
	if (ev == NNG_PIPE_EV_ADD_PRE && srv->mtls)
		conn_identity(p, &id);
	/* The peer's address tells the reaper which of a tls+tcp listener's
	 * sockets are pipes (tls_strays); ipc has none (family 0). */
	struct tcp_ep rem;
	nng_sockaddr nsa = {.s_family = NNG_AF_UNSPEC};
	if (ev == NNG_PIPE_EV_ADD_PRE && nng_pipe_get_addr(p, NNG_OPT_REMADDR, &nsa) != 0)
		nsa.s_family = NNG_AF_UNSPEC;
	tcp_ep_from_nng(&nsa, &rem);
	int64_t now = sr_mono_ms();
	pthread_mutex_lock(&srv->cmu);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		struct conn *v = srv->conns;
		srv->adds++;
		pthread_cond_broadcast(&srv->acv);
		if (srv->nconns >= srv->max_conns)
			refuse = true;
		else if (srv->nconns == srv->capconns && (v = realloc_conns(srv)) == NULL)
			refuse = true; /* out of memory: better refused than untracked */
		else
			(srv->conns = v)[srv->nconns++] = (struct conn) {p.id, now, id, rem};
		if (refuse && now - srv->last_reject_log_ms >= 1000) {
			srv->last_reject_log_ms = now;
			sr_log("wire", "connection refused: %zu connections open, the limit is %zu",
			    srv->nconns, srv->max_conns);
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		size_t i = conn_find(srv, p.id);
		if (i < srv->nconns)
			srv->conns[i] = srv->conns[--srv->nconns];
	}
	pthread_mutex_unlock(&srv->cmu);
	if (refuse)
		nng_pipe_close(p);
}

/* ---- the listener watchdog (nng 1.5.2, issue #1518) ---- */

/* The probe's SP header exchange waits longer than nng's own 10 s
 * handshake timeout: a probe that gave up first, while a loaded server had
 * not yet written its header, would drop a handshake itself and stop the
 * listener it watches. After 10 s the server drops the connection, an error
 * its listener survives. */
#define PROBE_IO_MS 12000 /* connect and SP header exchange */
#define PROBE_ADD_MS 3000 /* from the exchange to the server's ADD_PRE */

/*
 * Connects to the ipc listener at path and completes the SP handshake as a
 * REQ0 peer: sends the 8-byte header and reads the server's. The exchange
 * is always completed before the caller closes the descriptor, so the
 * probe itself never drops a connection mid-handshake (which is the bug it
 * watches for). Returns the connected descriptor, or -1.
 */
static int
ipc_probe_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {PROBE_IO_MS / 1000, (PROBE_IO_MS % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* The SP header: 0, 'S', 'P', 0, the sender's protocol (REQ0 is 48)
	 * big-endian, two reserved zero bytes. */
	const uint8_t hdr[8] = {0, 'S', 'P', 0, 0, 48, 0, 0};
	uint8_t got[8];
	size_t n = 0;
	if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) != 0 ||
	    send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t) sizeof(hdr))
		goto fail;
	while (n < sizeof(got)) {
		ssize_t r = recv(fd, got + n, sizeof(got) - n, 0);
		if (r <= 0)
			goto fail;
		n += (size_t) r;
	}
	if (got[0] != 0 || got[1] != 'S' || got[2] != 'P' || got[3] != 0)
		goto fail;
	return fd;
fail:
	/* The server did not answer within PROBE_IO_MS, so it has dropped
	 * the connection itself (nng's 10 s handshake timeout), which the
	 * listener survives. */
	close(fd);
	return -1;
}

/* Closes the listener and listens again on the same URL. Closing the
 * listener closes the connections it accepted; their clients reconnect.
 * Call without cmu, from the reaper only. */
static void
listener_restart(struct wire_server *srv)
{
	if (!srv->lst_down)
		nng_listener_close(srv->lst);
	nng_listener l;
	int rv = nng_listener_create(&l, srv->sock, srv->url);
	if (rv == 0 && (rv = nng_listener_start(l, 0)) != 0)
		nng_listener_close(l);
	if (rv != 0) {
		if (!srv->lst_down)
			sr_log("wire",
			    "listener on %s stopped accepting (nng 1.5.2 bug "
			    "#1518); restarting it failed: %s (retrying)",
			    srv->url, nng_strerror(rv));
		srv->lst_down = true;
		return;
	}
	srv->lst = l;
	srv->lst_down = false;
	sr_log("wire",
	    "listener on %s stopped accepting (nng 1.5.2 bug #1518); "
	    "restarted",
	    srv->url);
}

/*
 * With nng 1.5.2 a peer that drops its connection during the SP handshake
 * on an ipc listener ends the listener's accept loop for good (nng #1519
 * fixed it in 1.6.0): the transport still completes handshakes, but no
 * connection reaches the socket any more. So when no connection arrived in
 * the last second, the reaper makes one itself and waits for the socket to
 * see it (ADD_PRE); a completed handshake that never arrives means the
 * listener is dead, and it is restarted (docs/reliability.md). Call with
 * cmu held; it is released meanwhile.
 */
static void
listener_watch(struct wire_server *srv, uint64_t *seen)
{
	if (srv->url == NULL || (!srv->lst_down && srv->adds != *seen)) {
		*seen = srv->adds;
		return;
	}
	uint64_t before = srv->adds;
	bool dead = srv->lst_down;
	if (!dead) {
		pthread_mutex_unlock(&srv->cmu);
		int fd = ipc_probe_connect(srv->url + strlen("ipc://"));
		pthread_mutex_lock(&srv->cmu);
		if (fd < 0) {
			/* Not listening at all (the path was removed?) or
			 * too loaded to answer: nothing to tell. */
			*seen = srv->adds;
			return;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += PROBE_ADD_MS / 1000;
		while (srv->adds == before && !srv->stopping &&
		    pthread_cond_timedwait(&srv->acv, &srv->cmu, &ts) == 0)
			;
		dead = srv->adds == before && !srv->stopping;
		close(fd);
	}
	if (dead) {
		pthread_mutex_unlock(&srv->cmu);
		listener_restart(srv);
		pthread_mutex_lock(&srv->cmu);
	}
	*seen = srv->adds;
}

/*
 * Whether the kernel has closed the connection under pipe p: its TCP
 * socket is in state CLOSE, where getpeername fails with ENOTCONN.
 *
 * nng 1.5.2's TLS layer can lose track of such a connection for good
 * (docs/reliability.md, "A TLS peer that leaves right after connecting"):
 * when the peer's EOF arrives while
 * no receive is queued on the pipe (between the SP handshake and the
 * protocol's first receive, or while a received request waits for a work
 * item), tls_tcp_error closes the TCP receive aio and tells nobody; the
 * pipe's next receive starts a TCP read on that closed aio, which nng
 * drops without a callback, and waits forever. The pipe, its descriptor
 * and its place under max_conns stay until someone closes it. A live
 * connection, or one with data still to read, is never in state CLOSE;
 * ipc and other errors (ENOENT: the pipe has just gone) are not this.
 */
static bool
peer_gone(nng_pipe p)
{
	nng_sockaddr sa;
	return nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == NNG_ESYSERR + ENOTCONN;
}

/* A socket of the process accepted by a tls+tcp:// listener that is not
 * (yet) a pipe: its descriptor and peer, and since when it is so. */
struct stray {
	int fd;
	struct tcp_ep peer;
	int64_t first_ms;
	bool seen; /* in the current scan */
};

/* Whether local (a socket's own address) is one the listener at lst
 * accepts on: the same port, and lst's address or lst bound to any. */
static bool
tcp_ep_accepted_by(const struct tcp_ep *local, const struct tcp_ep *lst)
{
	static const uint8_t any[16];
	return local->family == lst->family && local->port == lst->port &&
	    (memcmp(local->addr, lst->addr, sizeof(any)) == 0 ||
	        memcmp(lst->addr, any, sizeof(any)) == 0);
}

/*
 * With nng 1.5.2 a client that connects to a tls+tcp:// listener and then
 * sends nothing, or part of a TLS handshake, stays connected for as long as
 * it likes: the SP handshake's 10 s timeout goes through tls_cancel, which
 * aborts nothing while the TLS handshake waits (docs/reliability.md, "A
 * TLS peer that leaves right after connecting"). Such a connection is not a
 * pipe, so neither max_conns nor idle_ms sees it, and enough of them take
 * every descriptor of the process. nng offers no handle on it; the kernel
 * does. So once a second the reaper lists the process's sockets
 * (/proc/self/fd), keeps those whose local address is the listener's and
 * that have a peer, and leaves out the pipes (rems: the peers of this
 * server's pipes, sorted). One that stays so, same descriptor and same
 * peer, for handshake_ms is shut down (shutdown(2), never close: the
 * descriptor is nng's). Its pending TCP read then fails (POLLHUP), the TLS
 * layer fails the handshake's send, and nng's negotiation error path
 * closes and frees the connection itself. strays (*nstrays of *cap) is the
 * reaper's table from one scan to the next. Returns how many were shut
 * down.
 */
static size_t
tls_strays(const struct wire_server *srv, const struct tcp_ep *rems, size_t nrems,
    struct stray **strays, size_t *nstrays, size_t *cap, int64_t now)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return 0;
	size_t shut = 0;
	int dfd = dirfd(d);
	for (size_t i = 0; i < *nstrays; i++)
		(*strays)[i].seen = false;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (end == e->d_name || *end != '\0' || fd < 0 || fd == dfd || fd > INT32_MAX)
			continue;
		struct stat st;
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		struct tcp_ep local, peer;
		if (fstat((int) fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
		    getsockname((int) fd, (struct sockaddr *) &sa, &len) != 0)
			continue;
		tcp_ep_from_sys(&sa, &local);
		len = sizeof(sa);
		if (!tcp_ep_accepted_by(&local, &srv->tls_lst) ||
		    getpeername((int) fd, (struct sockaddr *) &sa, &len) != 0)
			continue;
		tcp_ep_from_sys(&sa, &peer);
		if (peer.family == 0 ||
		    (nrems > 0 && bsearch(&peer, rems, nrems, sizeof(*rems), tcp_ep_cmp) != NULL))
			continue;
		size_t k = 0;
		while (k < *nstrays && (*strays)[k].fd != (int) fd)
			k++;
		if (k == *nstrays) {
			if (*nstrays == *cap) {
				size_t ncap = *cap ? *cap * 2 : 64;
				struct stray *v = realloc(*strays, ncap * sizeof(*v));
				if (v == NULL)
					continue;
				*strays = v;
				*cap = ncap;
			}
			(*strays)[(*nstrays)++] = (struct stray) {(int) fd, peer, now, true};
			continue;
		}
		struct stray *s = &(*strays)[k];
		s->seen = true;
		if (tcp_ep_cmp(&s->peer, &peer) != 0) {
			/* nng closed the old one and the number came back. */
			s->peer = peer;
			s->first_ms = now;
		} else if (now - s->first_ms >= srv->handshake_ms) {
			/* Checked just above, same descriptor and peer: a new
			 * connection under this number would need the same
			 * peer port within microseconds. */
			if (shutdown((int) fd, SHUT_RDWR) == 0)
				shut++;
		}
	}
	closedir(d);
	/* Gone since (freed by nng, or a pipe now). */
	size_t n = 0;
	for (size_t i = 0; i < *nstrays; i++)
		if ((*strays)[i].seen)
			(*strays)[n++] = (*strays)[i];
	*nstrays = n;
	return shut;
}

/* Once a second: closes every connection that delivered no whole request
 * for idle_ms (a slow sender trickling a message counts as idle) or whose
 * peer is gone (peer_gone), shuts down tls+tcp connections stuck before
 * becoming pipes (tls_strays), and watches the listener (listener_watch). */
static void *
reaper(void *arg)
{
	struct wire_server *srv = arg;
	uint32_t *pipes = NULL;
	struct tcp_ep *rems = NULL;
	struct stray *strays = NULL;
	size_t cap = 0, nstrays = 0, capstrays = 0;
	int64_t last_stray_log_ms = 0;
	pthread_mutex_lock(&srv->cmu);
	uint64_t seen = srv->adds;
	while (!srv->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&srv->ccv, &srv->cmu, &ts);
		if (srv->stopping)
			break;
		listener_watch(srv, &seen);
		if (srv->stopping)
			break;
		int64_t now = sr_mono_ms();
		if (cap < srv->nconns) {
			uint32_t *v = realloc(pipes, srv->nconns * sizeof(*v));
			if (v == NULL)
				continue;
			pipes = v;
			struct tcp_ep *r = realloc(rems, srv->nconns * sizeof(*r));
			if (r == NULL)
				continue;
			rems = r;
			cap = srv->nconns;
		}
		/* The idle ones first (pipes[0, nidle)), then the others. */
		size_t n = srv->nconns, nidle = 0, rest = n;
		for (size_t i = 0; i < n; i++) {
			bool idle = now - srv->conns[i].last_ms > srv->idle_ms;
			pipes[idle ? nidle++ : --rest] = srv->conns[i].pipe;
			rems[i] = srv->conns[i].rem;
		}
		pthread_mutex_unlock(&srv->cmu);
		if (srv->tls_lst.family != 0) {
			if (n > 0) /* rems may still be NULL */
				qsort(rems, n, sizeof(*rems), tcp_ep_cmp);
			size_t shut = tls_strays(srv, rems, n, &strays, &nstrays, &capstrays, now);
			if (shut > 0 && now - last_stray_log_ms >= 10000) {
				last_stray_log_ms = now;
				sr_log("wire",
				    "shut down %zu connection(s) still in the TLS "
				    "handshake after %lld ms (docs/reliability.md)",
				    shut, (long long) srv->handshake_ms);
			}
		}
		/* Outside the lock: closing runs pipe_cb (REM_POST), and nng
		 * takes its own locks to answer peer_gone. */
		for (size_t i = 0; i < n; i++) {
			nng_pipe p = NNG_PIPE_INITIALIZER;
			p.id = pipes[i];
			if (i < nidle || peer_gone(p))
				nng_pipe_close(p);
		}
		pthread_mutex_lock(&srv->cmu);
	}
	pthread_mutex_unlock(&srv->cmu);
	free(pipes);
	free(rems);
	free(strays);
	return NULL;
}

/* A work item's handler thread: serves each request the callback hands
 * over, then sends the reply (or listens again) from here. */
static void *
work_thread(void *arg)
{
	struct work *w = arg;
	struct wire_server *srv = w->srv;
	pthread_mutex_lock(&srv->hmu);
	for (;;) {
		while (w->req == NULL && !srv->hstop)
			pthread_cond_wait(&w->cv, &srv->hmu);
		if (srv->hstop)
			break;
		nng_msg *req = w->req;
		w->req = NULL;
		pthread_mutex_unlock(&srv->hmu);
		bool parked;
		nng_msg *rep = serve_one(w, &w->cert, nng_msg_body(req), nng_msg_len(req), &parked);
		nng_msg_free(req);
		/* A parked request is answered by wire_finish, perhaps already:
		 * the item is not ours to touch any more. */
		if (!parked)
			send_or_listen(w, rep);
		pthread_mutex_lock(&srv->hmu);
	}
	pthread_mutex_unlock(&srv->hmu);
	return NULL;
}

static void
work_cb(void *arg)
{
	struct work *w = arg;
	int rv;

	switch (w->state) {
	case WORK_INIT:
		w->state = WORK_RECV;
		nng_aio_set_timeout(w->aio, SERVER_RECV_TIMEOUT_MS);
		nng_ctx_recv(w->ctx, w->aio);
		break;
	case WORK_RECV:
		if ((rv = nng_aio_result(w->aio)) != 0) {
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
				return;
			/* Idle timeout or a transient error: listen again. */
			nng_ctx_recv(w->ctx, w->aio);
			return;
		}
		nng_msg *req = nng_aio_get_msg(w->aio);
		conn_touch(w->srv, nng_msg_get_pipe(req).id, &w->cert);
		/* Inline when no other handler is (see the top of this file). */
		if (!atomic_exchange_explicit(&w->srv->inline_busy, true, memory_order_acquire)) {
			bool parked;
			nng_msg *rep =
			    serve_one(w, &w->cert, nng_msg_body(req), nng_msg_len(req), &parked);
			atomic_store_explicit(&w->srv->inline_busy, false, memory_order_release);
			nng_msg_free(req);
			if (!parked)
				send_or_listen(w, rep);
			break;
		}
		/* To the item's thread; once the server stops, nobody serves
		 * it. */
		pthread_mutex_lock(&w->srv->hmu);
		if (w->srv->hstop) {
			pthread_mutex_unlock(&w->srv->hmu);
			nng_msg_free(req);
			return;
		}
		w->req = req;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->srv->hmu);
		break;
	case WORK_SEND:
		if ((rv = nng_aio_result(w->aio)) != 0) {
			/* A failed send leaves the reply ours; cleared so that
			 * wire_server_stop does not free it again. */
			nng_msg_free(nng_aio_get_msg(w->aio));
			nng_aio_set_msg(w->aio, NULL);
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
				return;
		}
		w->state = WORK_RECV;
		nng_aio_set_timeout(w->aio, SERVER_RECV_TIMEOUT_MS);
		nng_ctx_recv(w->ctx, w->aio);
		break;
	}
}

/* The safe default: without a way to tell who a client is, serve only
 * what this machine alone can reach. */
static int
listen_check(const char *url, const struct creds *cr, bool insecure, char *errbuf, size_t errlen)
{
	if (insecure || creds_authenticates(cr) || creds_url_local(url))
		return SR_OK;
	fmt(errbuf, errlen,
	    "refusing to listen on %s without client credentials "
	    "(anyone reaching it could do anything): configure tls-cert+tls-key+"
	    "tls-ca or token-file (docs/security.md), listen on 127.0.0.1 or "
	    "ipc://, or pass --insecure",
	    url);
	return SR_EINVAL;
}

int
wire_listen_check(const char *url, const struct creds *cr, bool insecure, char *errbuf,
    size_t errlen)
{
	nng_tls_config *tls;
	int err = listen_check(url, cr, insecure, errbuf, errlen);
	if (err == SR_OK && (err = tls_config(cr, true, url, &tls, errbuf, errlen)) == SR_OK &&
	    tls != NULL)
		nng_tls_config_free(tls);
	return err;
}

/* An nng failure (rv != 0) as an sr_err that is never SR_OK, so that the
 * compiler sees a failing listen return non-zero and never leaves the
 * caller's *out unset on a "success" (gcc -O3, -Wmaybe-uninitialized). */
static int
nng_failure(int rv)
{
	int e = wire_nng_err(rv);
	return e != SR_OK ? e : SR_EINTERNAL;
}

int
wire_server_listen_creds(const char *url, const struct creds *cr, bool insecure,
    struct wire_server **out, char *errbuf, size_t errlen)
{
	nng_tls_config *tls;
	int err = listen_check(url, cr, insecure, errbuf, errlen);
	if (err == SR_OK)
		err = tls_config(cr, true, url, &tls, errbuf, errlen);
	if (err != SR_OK)
		return err;
	struct wire_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		if (tls != NULL)
			nng_tls_config_free(tls);
		return SR_ENOMEM;
	}
	srv->cr = cr;
	srv->mtls = tls != NULL && cr->tls_ca != NULL;
	srv->max_conns = WIRE_MAX_CONNS;
	srv->idle_ms = WIRE_IDLE_MS;
	srv->handshake_ms = WIRE_HANDSHAKE_MS;
	pthread_mutex_init(&srv->cmu, NULL);
	pthread_cond_init(&srv->ccv, NULL);
	pthread_cond_init(&srv->acv, NULL);
	int rv = nng_rep0_open(&srv->sock);
	if (rv != 0) {
		fmt(errbuf, errlen, "cannot open socket: %s", nng_strerror(rv));
		if (tls != NULL)
			nng_tls_config_free(tls);
		pthread_mutex_destroy(&srv->cmu);
		pthread_cond_destroy(&srv->ccv);
		pthread_cond_destroy(&srv->acv);
		free(srv);
		return nng_failure(rv);
	}
	/* A request over WIRE_REQ_MAX is answered SR_ETOOBIG; one over this
	 * is dropped by nng with its connection before it is read, so a slow
	 * sender pins at most this much (docs/reliability.md). */
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, WIRE_SERVER_RECV_MAX);
	nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, srv);
	nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, pipe_cb, srv);
	if ((rv = nng_listener_create(&srv->lst, srv->sock, url)) == 0 && tls != NULL)
		rv = nng_listener_set_ptr(srv->lst, NNG_OPT_TLS_CONFIG, tls);
	if (rv == 0)
		rv = nng_listener_start(srv->lst, 0);
	/* The listener holds its own reference. */
	if (tls != NULL)
		nng_tls_config_free(tls);
	if (rv != 0) {
		fmt(errbuf, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
		wire_server_stop(srv);
		return rv == NNG_EADDRINUSE ? SR_ECONNECT : nng_failure(rv);
	}
	/* Only ipc:// is watched: over tcp and tls nng 1.5.2 reports a peer
	 * dropped mid-handshake as a reset or a shutdown, which the listener
	 * survives (docs/reliability.md). Without memory the server simply
	 * runs unwatched. */
	if (strncmp(url, "ipc://", 6) == 0)
		srv->url = strdup(url);
	/* Over TLS the reaper ends connections stuck in their handshake
	 * (tls_strays), by the listener's bound address (port 0 resolved). */
	nng_sockaddr lsa;
	if (tls != NULL) {
		if ((rv = nng_listener_get_addr(srv->lst, NNG_OPT_LOCADDR, &lsa)) == 0)
			tcp_ep_from_nng(&lsa, &srv->tls_lst);
		if (srv->tls_lst.family == 0)
			sr_log("wire",
			    "%s: cannot tell the listener's address (%s): connections "
			    "stuck in the TLS handshake will not be ended",
			    url, rv != 0 ? nng_strerror(rv) : "not IPv4 or IPv6");
	}
	/* Started after the listener: the watchdog reads lst and url. */
	if (pthread_create(&srv->reaper, NULL, reaper, srv) == 0)
		srv->reaper_on = true;
	*out = srv;
	return SR_OK;
}

int
wire_server_listen(const char *url, struct wire_server **out, char *errbuf, size_t errlen)
{
	return wire_server_listen_creds(url, NULL, true, out, errbuf, errlen);
}

int
wire_server_serve(struct wire_server *srv, const struct wire_route *routes, size_t nroutes,
    void *arg, int nworkers, char *errbuf, size_t errlen)
{
	int rv;
	if (srv->works != NULL)
		return SR_EINVAL;
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->arg = arg;
	int n = nworkers > 0 ? nworkers : 1;
	srv->works = calloc((size_t) n, sizeof(struct work));
	if (srv->works == NULL)
		return SR_ENOMEM;
	if (pthread_mutex_init(&srv->hmu, NULL) != 0)
		return SR_ENOMEM;
	srv->hmu_on = true;
	for (int i = 0; i < n; i++) {
		struct work *w = &srv->works[i];
		w->srv = srv;
		srv->nworkers = i + 1;
		if ((rv = nng_aio_alloc(&w->aio, work_cb, w)) != 0 ||
		    (rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
			fmt(errbuf, errlen, "cannot set up workers: %s", nng_strerror(rv));
			return wire_nng_err(rv);
		}
		if (pthread_cond_init(&w->cv, NULL) != 0 ||
		    pthread_create(&w->thr, NULL, work_thread, w) != 0) {
			fmt(errbuf, errlen, "cannot start worker threads");
			return SR_ENOMEM;
		}
		w->thr_on = true;
	}
	for (int i = 0; i < srv->nworkers; i++)
		work_cb(&srv->works[i]);
	return SR_OK;
}

int
wire_server_start(const char *url, const struct wire_route *routes, size_t nroutes, void *arg,
    int nworkers, struct wire_server **out, char *errbuf, size_t errlen)
{
	/* Tests and embedders that ask for no credentials: their URL is
	 * their business. */
	return wire_server_start_creds(url, routes, nroutes, arg, nworkers, NULL, true, out, errbuf,
	    errlen);
}

int
wire_server_start_creds(const char *url, const struct wire_route *routes, size_t nroutes, void *arg,
    int nworkers, const struct creds *cr, bool insecure, struct wire_server **out, char *errbuf,
    size_t errlen)
{
	struct wire_server *srv = NULL;
	int rv = wire_server_listen_creds(url, cr, insecure, &srv, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	if ((rv = wire_server_serve(srv, routes, nroutes, arg, nworkers, errbuf, errlen)) !=
	    SR_OK) {
		wire_server_stop(srv);
		return rv;
	}
	*out = srv;
	return SR_OK;
}

void
wire_server_stop(struct wire_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->reaper_on) {
		pthread_mutex_lock(&srv->cmu);
		srv->stopping = true;
		pthread_cond_signal(&srv->ccv);
		pthread_cond_signal(&srv->acv);
		pthread_mutex_unlock(&srv->cmu);
		pthread_join(srv->reaper, NULL);
	}
	/* The handler threads first: each finishes the request it is serving
	 * (and submits its reply); requests that arrive later are dropped by
	 * the callback. */
	if (srv->hmu_on) {
		pthread_mutex_lock(&srv->hmu);
		srv->hstop = true;
		for (int i = 0; i < srv->nworkers; i++)
			if (srv->works[i].thr_on)
				pthread_cond_signal(&srv->works[i].cv);
		pthread_mutex_unlock(&srv->hmu);
		for (int i = 0; i < srv->nworkers; i++)
			if (srv->works[i].thr_on)
				pthread_join(srv->works[i].thr, NULL);
	}
	/* Then the aios: stop waits for a running callback and makes any
	 * further submission fail, so nothing re-arms. */
	for (int i = 0; i < srv->nworkers; i++)
		if (srv->works[i].aio != NULL)
			nng_aio_stop(srv->works[i].aio);
	/* A request handed over but never taken by its stopped thread. */
	for (int i = 0; i < srv->nworkers; i++) {
		struct work *w = &srv->works[i];
		if (w->req != NULL)
			nng_msg_free(w->req);
		w->req = NULL;
		if (w->thr_on)
			pthread_cond_destroy(&w->cv);
	}
	/* A handler that was running when its aio was stopped then started a
	 * send that nng refused without calling back: its reply is still on
	 * the aio, and ours to free (found by ASan in churn_tls). */
	for (int i = 0; i < srv->nworkers; i++) {
		struct work *w = &srv->works[i];
		if (w->aio != NULL && w->state == WORK_SEND) {
			nng_msg *m = nng_aio_get_msg(w->aio);
			if (m != NULL)
				nng_msg_free(m);
			nng_aio_set_msg(w->aio, NULL);
		}
	}
	nng_close(srv->sock);
	for (int i = 0; i < srv->nworkers; i++) {
		if (srv->works[i].aio != NULL)
			nng_aio_free(srv->works[i].aio);
	}
	free(srv->works);
	if (srv->hmu_on)
		pthread_mutex_destroy(&srv->hmu);
	/* nng_close ran every connection's REM_POST callback before it
	 * returned: nothing uses the table any more. */
	free(srv->conns);
	free(srv->url);
	pthread_mutex_destroy(&srv->cmu);
	pthread_cond_destroy(&srv->ccv);
	pthread_cond_destroy(&srv->acv);
	free(srv);
}

void
wire_server_limits(struct wire_server *srv, size_t max_conns, int64_t idle_ms)
{
	pthread_mutex_lock(&srv->cmu);
	if (max_conns > 0)
		srv->max_conns = max_conns;
	if (idle_ms > 0)
		srv->idle_ms = idle_ms;
	pthread_mutex_unlock(&srv->cmu);
}
