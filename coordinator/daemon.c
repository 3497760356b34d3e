/*
 * snowrange-coordinator: the coordinator library as a daemon that serves
 * remote clients (NextIds, Status) over nng, and Redis clients over RESP
 * when --resp-listen is given (coordinator/resp_server.c).
 *
 *   snowrange-coordinator join [MASTER_URL] --name NAME --listen URL [options]
 *   snowrange-coordinator leave --listen URL
 *
 * `join` is the operator's command to add a node: it binds its listen URL,
 * joins the master and serves until SIGINT/SIGTERM or a `leave`, then
 * leaves the master cleanly.
 */
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "options.h"
#include "snowrange/coordinator.h"
#include "snowrange/version.h"
#include "cache.h"
#include "creds.h"
#include "daemon_http.h"
#include "httpd.h"
#include "log.h"
#include "resp_server.h"
#include "util.h"
#include "wire.h"

#define MAX_HELD 8192

/* The daemon's one top-level state (Redis `server` style). */
static struct {
	const char *name;
	const char *listen;
	const char *http_listen;
	int64_t workers;
	int64_t rpc_timeout_ms;
	int64_t lease_timeout_ms;
	int64_t join_timeout_ms;
	int64_t max_clock_back_ms;
	int64_t max_connections;
	int64_t idle_timeout_ms;
	double prefetch_at;
	const char *resp_listen;
	int64_t resp_threads;
	int64_t resp_busy_poll_us;
	int64_t resp_max_connections;
	int64_t resp_idle_timeout_ms;
	const char *tls_cert, *tls_key, *tls_ca, *token_file;
	bool insecure;
	const char *master;
	const char *log_level, *log_format, *log_file;
	struct creds *creds;
	/* Set once joined; the server is bound before, so its handlers may
	 * run before it is (they answer SR_EUNAVAILABLE then). */
	_Atomic(sr_coordinator *) coord;
	char master_url[256];
} d;

static const struct sr_opt options[] = {
    {"master", SR_OPT_STR, &d.master, NULL, 0, 0,
        "the master's URL, or a comma-separated list of masters on etcd "
        "(docs/ha.md), when join is given none",
        .arg = "URL[,URL...]", .env = "SNOWRANGE_MASTER"},
    {"name", SR_OPT_STR, &d.name, NULL, 0, 0,
        "node name, [a-z0-9_.-]{1,64}; the same name gets the same node id", .arg = "NAME"},
    {"listen", SR_OPT_STR, &d.listen, "tcp://127.0.0.1:7401", 0, 0,
        "nng URL to serve clients on (tcp://, tls+tcp://, ipc://)", .arg = "URL"},
    {"http-listen", SR_OPT_STR, &d.http_listen, NULL, 0, 0,
        "http://HOST:PORT or https://HOST:PORT to serve the HTTP/JSON API on "
        "(docs/http.md); off when not set",
        .arg = "URL"},
    {"tls-cert", SR_OPT_STR, &d.tls_cert, NULL, 0, 0,
        "PEM certificate presented to clients and to the master (with tls-key)", .arg = "FILE"},
    {"tls-key", SR_OPT_STR, &d.tls_key, NULL, 0, 0, "PEM private key of tls-cert", .arg = "FILE"},
    {"tls-ca", SR_OPT_STR, &d.tls_ca, NULL, 0, 0,
        "PEM CA bundle: the master must prove a certificate signed by it, and so "
        "must clients (mutual TLS)",
        .arg = "FILE"},
    {"token-file", SR_OPT_STR, &d.token_file, NULL, 0, 0,
        "role tokens: the node token sent to the master, and the client/reader/admin "
        "tokens accepted (mode 600; docs/security.md)",
        .arg = "FILE"},
    {"insecure", SR_OPT_BOOL, &d.insecure, "false", 0, 0,
        "allow a non-loopback listen URL with no client credentials configured"},
    {"workers", SR_OPT_INT, &d.workers, "16", 1, 1024, "client requests served concurrently"},
    {"max-connections", SR_OPT_INT, &d.max_connections, "2048", 1, 1000000,
        "client connections at most; more are closed after their handshake"},
    {"idle-timeout-ms", SR_OPT_INT, &d.idle_timeout_ms, "60000", 1000, 86400000,
        "a client connection that sent no whole request this long is closed"},
    {"rpc-timeout-ms", SR_OPT_INT, &d.rpc_timeout_ms, "2000", 10, 600000,
        "bound on every round trip to the master"},
    {"lease-timeout-ms", SR_OPT_INT, &d.lease_timeout_ms, "3000", 0, 600000,
        "how long a request waits for a chunk before SR_EUNAVAILABLE"},
    {"join-timeout-ms", SR_OPT_INT, &d.join_timeout_ms, "10000", 0, 600000,
        "how long join keeps trying to reach the master"},
    {"max-clock-back-ms", SR_OPT_INT, &d.max_clock_back_ms, "5", 0, 1000,
        "a txid request waits out a clock step back up to this; more is SR_ECLOCK"},
    {"prefetch-at", SR_OPT_DOUBLE, &d.prefetch_at, "0.5", 0.001, 1,
        "fraction of a chunk used before the next one is leased"},
    SR_OPTS_LOG(&d.log_level, &d.log_format, &d.log_file),
    {"resp-listen", SR_OPT_STR, &d.resp_listen, NULL, 0, 0,
        "serve Redis clients (RESP: SR.NEXT, INCR, SR.TXID, ...) on tcp://HOST:PORT, "
        "or with TLS (tls-cert, tls-key; mutual with tls-ca) on tls+tcp://HOST:PORT; "
        "off unless given (docs/protocol.md)",
        .arg = "URL"},
    {"resp-threads", SR_OPT_INT, &d.resp_threads, "1", 1, 64,
        "event loop threads of the RESP port"},
    {"resp-busy-poll-us", SR_OPT_INT, &d.resp_busy_poll_us, "0", 0, 100000,
        "after serving, a RESP loop polls without sleeping this long (microseconds) "
        "before it sleeps: lower latency for a CPU core while clients are busy; "
        "0 sleeps at once (docs/operating.md)"},
    {"resp-max-connections", SR_OPT_INT, &d.resp_max_connections, "10000", 1, 1000000,
        "RESP connections at most; more are told so and closed"},
    {"resp-idle-timeout-ms", SR_OPT_INT, &d.resp_idle_timeout_ms, "300000", 1000, 86400000,
        "a RESP connection with no whole request and no reply progress this long "
        "is closed"},
};
#define NOPTS (sizeof(options) / sizeof(options[0]))

static const struct sr_opts_prog prog = {
    .name = "snowrange-coordinator",
    .section = "coordinator",
    .usage = "snowrange-coordinator join [MASTER_URL] --name NAME --listen URL [options]\n"
             "snowrange-coordinator leave --listen URL",
    .summary = "a snowrange coordinator node: hands out IDs and txids from leased chunks",
    .description = "join binds --listen, joins the master (MASTER_URL, else --master) "
                   "as node --name and serves the IDs and Snowflake txids of its leased "
                   "chunks to clients until SIGINT, SIGTERM or a leave; then it leaves the "
                   "master cleanly. SIGHUP reopens --log-file and never stops it.\n\n"
                   "leave asks the coordinator serving --listen to leave and exit.",
    .opts = options,
    .nopts = NOPTS,
};

/* The coordinator, or NULL (with the reply's error set) before the join.
 * A joining node has no chunk yet, as one whose master is away: the same
 * SR_EUNAVAILABLE, which every client already retries. */
static sr_coordinator *
joined(char *errbuf, size_t errlen, int *rv)
{
	sr_coordinator *co = atomic_load(&d.coord);
	if (co == NULL) {
		snprintf(errbuf, errlen, "not joined to the master yet (joining)");
		*rv = SR_EUNAVAILABLE;
	}
	return co;
}

/* ---- handlers ---- */

/* Checks a requested count and allocates the reply's ID array for it: the
 * part NextIds and NextTxids share. */
static int
ids_buffer(uint32_t count, struct wire_arena *a, uint64_t **ids, char *errbuf, size_t errlen)
{
	if (count == 0 || count > WIRE_MAX_COUNT) {
		snprintf(errbuf, errlen, "count %u out of range 1..%u", count, WIRE_MAX_COUNT);
		return SR_EINVAL;
	}
	if ((*ids = wire_alloc(a, count * sizeof(uint64_t))) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	return SR_OK;
}

/* The message of a failed NextIds. IDs taken before the failure are
 * dropped: a gap, never reused (for SR_ETOOBIG at most CACHE_MAX_SWAPS
 * chunks). */
static void
next_ids_error(int rv, const Sr__NextIdsRequest *q, uint64_t dropped, char *errbuf, size_t errlen)
{
	if (rv == SR_ETOOBIG)
		snprintf(errbuf, errlen,
		    "%s: count %u needs more than %u chunks "
		    "of this sequence, each a lease at the master: ask for "
		    "fewer IDs per call or use a larger chunk size "
		    "(%llu IDs taken were dropped)",
		    q->sequence, q->count, CACHE_MAX_SWAPS, (unsigned long long) dropped);
	else
		snprintf(errbuf, errlen, "%s: %s", q->sequence, sr_strerror(rv));
}

/* NextIds answered with segments (issue 19): at most SR_SEGMENTS_MAX of
 * them, whatever the count, so the reply stays small and no ID is written
 * out one by one. */
static int
next_segments(sr_coordinator *co, const Sr__NextIdsRequest *q, Sr__NextIdsResponse *r,
    struct wire_arena *a, char *errbuf, size_t errlen)
{
	if (q->count == 0 || q->count > SR_SEGMENT_IDS_MAX) {
		snprintf(errbuf, errlen, "count %u out of range 1..%u", q->count,
		    SR_SEGMENT_IDS_MAX);
		return SR_EINVAL;
	}
	sr_id_segment *segs = wire_alloc(a, SR_SEGMENTS_MAX * sizeof(*segs));
	Sr__IdSegment *items = wire_alloc(a, SR_SEGMENTS_MAX * sizeof(*items));
	Sr__IdSegment **ptrs = wire_alloc(a, SR_SEGMENTS_MAX * sizeof(*ptrs));
	if (segs == NULL || items == NULL || ptrs == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	size_t n = 0;
	int rv = sr_next_segments(co, q->sequence, q->count, segs, SR_SEGMENTS_MAX, &n);
	if (rv != SR_OK) {
		uint64_t dropped = 0;
		for (size_t i = 0; i < n; i++)
			dropped += segs[i].count;
		next_ids_error(rv, q, dropped, errbuf, errlen);
		return rv;
	}
	for (size_t i = 0; i < n; i++) {
		sr__id_segment__init(&items[i]);
		items[i].first = segs[i].first;
		items[i].step = segs[i].step;
		items[i].count = segs[i].count;
		ptrs[i] = &items[i];
	}
	r->segments = ptrs;
	r->n_segments = n;
	return SR_OK;
}

static int
h_next_ids(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	(void) arg;
	const Sr__NextIdsRequest *q = req->next_ids;
	uint64_t *ids = NULL;
	int rv;
	if (!q->segments && (rv = ids_buffer(q->count, a, &ids, errbuf, errlen)) != SR_OK)
		return rv;
	if (!sr_name_valid(q->sequence)) {
		snprintf(errbuf, errlen, "invalid sequence name '%.64s'", q->sequence);
		return SR_EINVAL;
	}
	Sr__NextIdsResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	sr__next_ids_response__init(r);
	sr_coordinator *co = joined(errbuf, errlen, &rv);
	if (co == NULL)
		return rv;
	if (q->segments) {
		if ((rv = next_segments(co, q, r, a, errbuf, errlen)) != SR_OK)
			return rv;
	} else {
		size_t got = 0;
		rv = sr_next_ids(co, q->sequence, q->count, ids, &got);
		if (rv != SR_OK) {
			next_ids_error(rv, q, got, errbuf, errlen);
			return rv;
		}
		r->ids = ids;
		r->n_ids = got;
	}
	r->node_name = (char *) sr_coordinator_name(co);
	r->node_id = sr_coordinator_node_id(co);
	resp->body_case = SR__RESPONSE__BODY_NEXT_IDS;
	resp->next_ids = r;
	return SR_OK;
}

static int
h_status(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	(void) arg;
	(void) req;
	int rv;
	sr_coordinator *co = joined(errbuf, errlen, &rv);
	if (co == NULL)
		return rv;
	Sr__StatusResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL)
		goto oom;
	sr__status_response__init(r);
	r->role = "coordinator";
	r->name = (char *) sr_coordinator_name(co);
	r->node_id = sr_coordinator_node_id(co);
	r->master_url = d.master_url;
	uint32_t worker;
	if (sr_coordinator_worker(co, &worker) == SR_OK) {
		r->has_worker = 1;
		r->worker_id = worker;
	}
	/* Two calls: the first counts, the second copies (chunks may come and
	 * go in between; the cap keeps the copy within the buffer). */
	size_t n = sr_coordinator_chunks(co, NULL, 0);
	if (n > MAX_HELD)
		n = MAX_HELD;
	sr_chunk_info *held = wire_alloc(a, (n + 2) * sizeof(*held));
	if (held == NULL)
		goto oom;
	size_t got = sr_coordinator_chunks(co, held, n + 2);
	if (got < n)
		n = got;
	r->chunks = wire_alloc(a, (n + 1) * sizeof(*r->chunks));
	for (size_t i = 0; r->chunks != NULL && i < n; i++) {
		Sr__HeldChunk *h = wire_alloc(a, sizeof(*h));
		Sr__Chunk *c = wire_alloc(a, sizeof(*c));
		char *seq = wire_strdup(a, held[i].sequence);
		if (h == NULL || c == NULL || seq == NULL) {
			r->chunks = NULL;
			break;
		}
		sr__held_chunk__init(h);
		sr__chunk__init(c);
		c->start = held[i].start;
		c->n = held[i].n;
		c->k = held[i].k;
		c->c = held[i].c;
		h->sequence = seq;
		h->chunk = c;
		h->used = held[i].used;
		h->current = held[i].current;
		r->chunks[r->n_chunks++] = h;
	}
	if (r->chunks == NULL)
		goto oom;
	resp->body_case = SR__RESPONSE__BODY_STATUS;
	resp->status = r;
	return SR_OK;
oom:
	snprintf(errbuf, errlen, "out of memory");
	return SR_ENOMEM;
}

static int
h_next_txids(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a,
    char *errbuf, size_t errlen)
{
	(void) arg;
	uint32_t count = req->next_txids->count;
	uint64_t *ids;
	int rv = ids_buffer(count, a, &ids, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	Sr__NextTxidsResponse *r = wire_alloc(a, sizeof(*r));
	if (r == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	sr__next_txids_response__init(r);
	size_t got = 0;
	sr_coordinator *co = joined(errbuf, errlen, &rv);
	if (co == NULL)
		return rv;
	rv = sr_next_txids(co, count, ids, &got);
	if (rv == SR_ECLOCK) {
		snprintf(errbuf, errlen,
		    "clock is %lld ms behind the last issued txid (tolerance %lld ms)",
		    (long long) sr_coordinator_clock_offset_ms(co),
		    (long long) d.max_clock_back_ms);
		return rv;
	}
	if (rv != SR_OK) {
		/* txids taken before the failure are dropped: never reused. */
		snprintf(errbuf, errlen, "txids: %s", sr_strerror(rv));
		return rv;
	}
	uint32_t worker = 0;
	sr_coordinator_worker(co, &worker);
	r->txids = ids;
	r->n_txids = got;
	r->node_name = (char *) sr_coordinator_name(co);
	r->node_id = sr_coordinator_node_id(co);
	r->worker_id = worker;
	resp->body_case = SR__RESPONSE__BODY_NEXT_TXIDS;
	resp->next_txids = r;
	return SR_OK;
}

/* `snowrange-coordinator leave` asks the daemon itself to leave and exit. */
static int
h_leave(void *arg, const Sr__Request *req, Sr__Response *resp, struct wire_arena *a, char *errbuf,
    size_t errlen)
{
	(void) arg;
	(void) req;
	Sr__LeaveResponse *l = wire_alloc(a, sizeof(*l));
	if (l == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	sr__leave_response__init(l);
	resp->body_case = SR__RESPONSE__BODY_LEAVE;
	resp->leave = l;
	kill(getpid(), SIGTERM);
	return SR_OK;
}

/* Who may call what, with tokens (docs/security.md): making the daemon
 * leave is an admin's, IDs are a client's. */
static const struct wire_route routes[] = {
    {SR__REQUEST__BODY_NEXT_IDS, h_next_ids, CREDS_CLIENT | CREDS_ADMIN},
    {SR__REQUEST__BODY_NEXT_TXIDS, h_next_txids, CREDS_CLIENT | CREDS_ADMIN},
    {SR__REQUEST__BODY_STATUS, h_status, CREDS_READER | CREDS_CLIENT | CREDS_ADMIN},
    {SR__REQUEST__BODY_LEAVE, h_leave, CREDS_ADMIN},
};

/* ---- commands ---- */

static int
cmd_leave(void)
{
	struct wire_chan *ch;
	char err[WIRE_ERRMSG_MAX];
	int rv = wire_chan_open_creds(d.listen, (int) d.rpc_timeout_ms, d.creds, CREDS_ADMIN, NULL,
	    &ch, err, sizeof(err));
	if (rv == SR_OK) {
		Sr__Request req = SR__REQUEST__INIT;
		Sr__LeaveRequest l = SR__LEAVE_REQUEST__INIT;
		Sr__Response *resp;
		req.body_case = SR__REQUEST__BODY_LEAVE;
		req.leave = &l;
		rv = wire_call(ch, &req, &resp, err, sizeof(err));
		wire_response_free(resp);
		wire_chan_close(ch);
	}
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange-coordinator: leave %s: %s (%s): %s\n", d.listen,
		    sr_strerror(rv), sr_errname(rv), err);
		return 1;
	}
	printf("coordinator at %s is leaving\n", d.listen);
	return 0;
}

static int
cmd_join(const char *master_url)
{
	char err[512] = "";
	sr_strlcpy(d.master_url, master_url, sizeof(d.master_url));

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP); /* reopen the log */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (sr_log_setup(d.log_level, d.log_format, d.log_file, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-coordinator: %s\n", err);
		return 2;
	}

	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = master_url;
	cfg.node_name = d.name;
	cfg.listen_url = d.listen;
	cfg.rpc_timeout_ms = (int) d.rpc_timeout_ms;
	cfg.lease_timeout_ms = (int) d.lease_timeout_ms;
	cfg.join_timeout_ms = (int) d.join_timeout_ms;
	cfg.prefetch_at = d.prefetch_at;
	cfg.max_clock_back_ms = (int) d.max_clock_back_ms;
	sr_credentials cred = {d.tls_cert, d.tls_key, d.tls_ca, d.token_file};
	cfg.credentials = &cred;
	/* Refuse an unsafe listen URL or broken TLS files before joining: a
	 * node that joined and then failed to serve would hold its name for a
	 * lease. */
	int rv = wire_listen_check(d.listen, d.creds, d.insecure, err, sizeof(err));
	if (rv == SR_OK && d.http_listen != NULL)
		rv = httpd_check(d.http_listen, d.creds, d.insecure, err, sizeof(err));
	struct resp_server_config rcfg = {
	    .listen = d.resp_listen,
	    .threads = (int) d.resp_threads,
	    .max_connections = (size_t) d.resp_max_connections,
	    .idle_timeout_ms = d.resp_idle_timeout_ms,
	    .creds = d.creds,
	    .insecure = d.insecure,
	    .version = sr_version(),
	    .busy_poll_us = d.resp_busy_poll_us,
	};
	if (rv == SR_OK && d.resp_listen != NULL)
		rv = resp_server_check(&rcfg, err, sizeof(err));
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange-coordinator: %s (%s)\n", err, sr_errname(rv));
		return 1;
	}
	if (!creds_authenticates(d.creds) && !creds_url_local(d.listen))
		sr_log(d.name,
		    "WARNING: --insecure: serving %s without client "
		    "credentials; anyone who can reach it can do anything "
		    "(docs/security.md)",
		    d.listen);
	/* Bind first: a listen URL in use fails here, before the master has
	 * heard of this node, rather than leaving a joined node that cannot
	 * serve holding its name and worker id for a lease. */
	struct wire_server *srv;
	rv = wire_server_start_creds(d.listen, routes, sizeof(routes) / sizeof(routes[0]), NULL,
	    (int) d.workers, d.creds, d.insecure, &srv, err, sizeof(err));
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange-coordinator: %s (%s)\n", err, sr_errname(rv));
		return 1;
	}
	wire_server_limits(srv, (size_t) d.max_connections, d.idle_timeout_ms);
	sr_coordinator *co;
	rv = sr_coordinator_open(&cfg, &co, err, sizeof(err));
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange-coordinator: join %s: %s (%s): %s\n", master_url,
		    sr_strerror(rv), sr_errname(rv), err);
		wire_server_stop(srv);
		return 1;
	}
	atomic_store(&d.coord, co);
	struct httpd *http = NULL;
	struct daemon_http hctx = {co, d.max_clock_back_ms, NULL};
	if (d.http_listen != NULL) {
		/* The nng listener's bounds hold for HTTP too: one setting each
		 * (docs/http.md). */
		struct httpd_config hc = {d.http_listen, d.creds, d.insecure, (int) d.workers,
		    (int) d.max_connections, 0, (int) (d.idle_timeout_ms / 1000)};
		size_t nr;
		const struct httpapi_route *hr = daemon_http_routes(&nr);
		rv = httpd_start(&hc, hr, nr, &hctx, &http, err, sizeof(err));
		if (rv != SR_OK) {
			fprintf(stderr, "snowrange-coordinator: %s (%s)\n", err, sr_errname(rv));
			wire_server_stop(srv);
			sr_coordinator_close(co);
			return 1;
		}
		hctx.srv = http;
		sr_log(d.name, "serving HTTP on %s", d.http_listen);
	}
	struct resp_server *resp = NULL;
	if (d.resp_listen != NULL) {
		rv = resp_server_start(&rcfg, co, &resp, err, sizeof(err));
		if (rv != SR_OK) {
			fprintf(stderr, "snowrange-coordinator: %s (%s)\n", err, sr_errname(rv));
			sr_coordinator_leave(co);
			httpd_stop(http);
			wire_server_stop(srv);
			sr_coordinator_close(co);
			return 1;
		}
		sr_log(d.name, "serving RESP on port %d (%s)", resp_server_port(resp),
		    d.resp_listen);
		if (d.resp_busy_poll_us > 0)
			sr_log(d.name,
			    "RESP loops poll without sleeping for %lld us after each event",
			    (long long) d.resp_busy_poll_us);
	}
	sr_log(d.name, "joined %s as node %llu, serving %s", master_url,
	    (unsigned long long) sr_coordinator_node_id(co), d.listen);
	int sig;
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
		if (sr_log_reopen(err, sizeof(err)) != SR_OK)
			sr_logl(SR_LOG_ERROR, d.name, "SIGHUP: %s", err);
		else
			sr_log(d.name, "SIGHUP: log reopened");
	}
	sr_log(d.name, "signal %d: leaving", sig);
	/* Leave first: once the master knows, nothing is lost if the rest of
	 * the shutdown hangs in nng_close and the watchdog ends the process. */
	sr_coordinator_leave(co);
	sr_exit_watchdog(d.name, 5);
	/* Let a `leave` reply go out before the sockets close. */
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	resp_server_stop(resp);
	httpd_stop(http);
	wire_server_stop(srv);
	sr_coordinator_close(co);
	return 0;
}

static int
run(int argc, char **argv, struct sr_opts_mem *mem)
{
	char err[512] = "";
	int npos;
	int rc = sr_opts_main(&prog, argc, argv, &npos, mem);
	if (rc >= 0)
		return rc;
	const char *cmds[] = {"join", "leave"};
	bool is_join = npos >= 1 && strcmp(argv[1], "join") == 0;
	bool is_leave = npos >= 1 && strcmp(argv[1], "leave") == 0;
	const char *master_url = is_join && npos >= 2 ? argv[2] : d.master;
	const char *why = NULL, *word = NULL;
	if (npos == 0)
		why = "missing command (join or leave)";
	else if (!is_join && !is_leave)
		why = "unknown command", word = argv[1];
	else if (is_join && npos > 2)
		why = "unexpected argument", word = argv[3];
	else if (is_leave && npos > 1)
		why = "unexpected argument", word = argv[2];
	else if (is_join && (master_url == NULL || master_url[0] == '\0'))
		why = "join needs the master's URL (MASTER_URL, --master or the config key master)";
	else if (is_join && d.name == NULL)
		why = "join needs --name NAME";
	if (why != NULL) {
		const char *s =
		    word != NULL && !is_join && !is_leave ? sr_suggest(word, cmds, 2) : NULL;
		fprintf(stderr,
		    "snowrange-coordinator: %s%s%.60s%s%s%s%s\n"
		    "run 'snowrange-coordinator --help' for the commands and options\n",
		    why, word ? " '" : "", word ? word : "", word ? "'" : "",
		    s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
		return 2;
	}
	sr_credentials cred = {d.tls_cert, d.tls_key, d.tls_ca, d.token_file};
	if (creds_load(&cred, &d.creds, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-coordinator: %s\n", err);
		return 2;
	}
	rc = is_join ? cmd_join(master_url) : cmd_leave();
	creds_free(d.creds);
	return rc;
}

int
main(int argc, char **argv)
{
	struct sr_opts_mem mem = {0};
	int rc = run(argc, argv, &mem);
	sr_opts_mem_free(&mem);
	nng_fini(); /* so that leak checkers see nng's globals released */
	return rc;
}
