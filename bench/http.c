/*
 * The http scenario (issue 13): requests/s of the coordinator daemon's
 * HTTP API (libmicrohttpd) against NextIds over its nng port, and against
 * nng's built-in HTTP server, the alternative we did not take
 * (docs/decisions.md). Every client keeps one connection open (keep-alive)
 * and sends one request at a time, as the nng clients do.
 *
 * The nng HTTP server runs in a child process, this binary re-executed as
 * `snowrange-bench --nng-http-server PORT`; it answers the same JSON shape
 * from a counter with no coordinator behind it, so its row is an upper
 * bound for what nng's server could do, set against libmicrohttpd's
 * /healthz (no coordinator either) and its real /v1/sequences/.../ids.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "http_api.h"

#define HTTP_RBUF 4096

/* ---- the client side: one keep-alive connection per worker ---- */

static int
http_dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {REMOTE_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The value of the Content-Length header among the headers before end, or
 * NULL. */
static const char *
content_length(const char *buf, const char *end)
{
	for (const char *p = strstr(buf, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
			return p + 17;
	return NULL;
}

int
http_call(struct worker *w)
{
	size_t off = 0;
	while (off < w->http_req_len) {
		ssize_t n = send(w->fd, w->http_req + off, w->http_req_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return SR_ECONNECT;
		off += (size_t) n;
	}
	/* Headers, then Content-Length bytes of body. */
	size_t have = 0, need = 0;
	char *end = NULL;
	for (;;) {
		ssize_t n = recv(w->fd, w->rbuf + have, HTTP_RBUF - 1 - have, 0);
		if (n <= 0)
			return SR_ECONNECT;
		have += (size_t) n;
		w->rbuf[have] = '\0';
		if (end == NULL && (end = strstr(w->rbuf, "\r\n\r\n")) != NULL) {
			if (strncmp(w->rbuf, "HTTP/1.1 200", 12) != 0)
				return SR_EPROTO;
			const char *cl = content_length(w->rbuf, end);
			if (cl == NULL)
				return SR_EPROTO;
			need = (size_t) (end + 4 - w->rbuf) + strtoul(cl, NULL, 10);
			if (need >= HTTP_RBUF)
				return SR_ETOOBIG;
		}
		if (end != NULL && have >= need)
			return have == need ? SR_OK : SR_EPROTO;
		if (have >= HTTP_RBUF - 1)
			return SR_ETOOBIG;
	}
}

/* ---- nng's HTTP server, the alternative (child mode) ---- */

static _Atomic uint64_t nng_http_counter;

static void
nng_http_ids(nng_aio *aio)
{
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	uint64_t id = atomic_fetch_add(&nng_http_counter, 1) + 1;
	struct strbuf b;
	strbuf_init(&b);
	httpapi_ids_json(&b, "remote", "bench-nng-http", 1, &id, 1);
	nng_http_res_copy_data(res, b.p, b.len);
	nng_http_res_set_header(res, "Content-Type", "application/json");
	strbuf_free(&b);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int
nng_http_serve(int port)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	char u[64];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
	nng_url *url;
	nng_http_server *s;
	nng_http_handler *h;
	int rv;
	if ((rv = nng_url_parse(&url, u)) != 0 || (rv = nng_http_server_hold(&s, url)) != 0) {
		fprintf(stderr, "bench: nng http: %s\n", nng_strerror(rv));
		return EXIT_FAIL;
	}
	if ((rv = nng_http_handler_alloc(&h, "/v1/sequences/remote/ids", nng_http_ids)) != 0 ||
	    (rv = nng_http_server_add_handler(s, h)) != 0 || (rv = nng_http_server_start(s)) != 0) {
		fprintf(stderr, "bench: nng http: cannot serve %s: %s\n", u, nng_strerror(rv));
	} else {
		int sig;
		sigwait(&sigs, &sig);
		nng_http_server_stop(s);
	}
	nng_http_server_release(s);
	nng_url_free(url);
	nng_fini();
	return rv == 0 ? 0 : EXIT_FAIL;
}

/* ---- the scenario ---- */

/* One HTTP row: clients keep-alive connections to port asking path. */
static void
http_row(struct ctx *x, struct result *r, int port, const char *path, unsigned clients,
    pid_t server)
{
	char req[256];
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	struct crew crew;
	struct cpu_window cw = {.server = server};
	bool ok = crew_init(&crew, x->b, clients, OP_HTTP, 1, 1) == SR_OK;
	crew.hook = proc_cpu_hook;
	crew.hook_arg = &cw;
	size_t opened = 0;
	for (; ok && opened < clients; opened++) {
		struct worker *w = &crew.w[opened];
		w->http_req = req;
		w->http_req_len = (size_t) len;
		w->rbuf = malloc(HTTP_RBUF);
		if (w->rbuf == NULL || (w->fd = http_dial(port)) < 0) {
			free(w->rbuf);
			w->rbuf = NULL;
			break;
		}
	}
	if (ok && opened == clients)
		crew_run(x->b, &crew, crew_warm_for(x->b), r);
	else
		result_fail(r, "cannot open %u HTTP connections to port %d", clients, port);
	for (size_t i = 0; i < opened; i++) {
		close(crew.w[i].fd);
		free(crew.w[i].rbuf);
	}
	if (ok)
		crew_free(&crew);
	result_note(r, "keep-alive, 1 request in flight per client");
	proc_cpu_note(r, &cw);
}

/* Waits until port answers path with 200. */
static int
http_ready(int port, const char *path, struct child *ch)
{
	int64_t until = sr_mono_ms() + READY_TIMEOUT_MS;
	char req[256], buf[HTTP_RBUF];
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.http_req = req;
	w.http_req_len = (size_t) len;
	w.rbuf = buf;
	while (sr_mono_ms() < until && child_alive(ch)) {
		if ((w.fd = http_dial(port)) >= 0) {
			int rv = http_call(&w);
			close(w.fd);
			if (rv == SR_OK)
				return SR_OK;
		}
		clock_sleep(0.05);
	}
	return SR_ETIMEDOUT;
}

void
sc_http(struct ctx *x, struct remote *rm)
{
	static const unsigned def[] = {1, 16, 64};
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 3, &nt);
	int rv = remote_up(x, rm);
	struct child nh = {0};
	int nport = proc_free_port();
	char err[256] = "";
	char log[256], port[16];
	if (rv == SR_OK && http_ready(rm->http_port, "/healthz", &rm->daemon) != SR_OK) {
		bench_errf(err, sizeof(err), "the daemon's HTTP port %d does not answer",
		    rm->http_port);
		rv = SR_ECONNECT;
	}
	if (rv == SR_OK) {
		snprintf(port, sizeof(port), "%d", nport);
		char *argv[] = {x->b->self_exe, "--nng-http-server", port, NULL};
		snprintf(log, sizeof(log), "%s/nng-http.log", x->fx.dir);
		rv = child_spawn(&nh, "nng http server", argv, log, err, sizeof(err));
	}
	if (rv == SR_OK && http_ready(nport, "/v1/sequences/remote/ids", &nh) != SR_OK) {
		bench_errf(err, sizeof(err), "nng's HTTP server on %d does not answer (%s)", nport,
		    log);
		rv = SR_ECONNECT;
	}
	for (size_t i = 0; i < nt; i++) {
		unsigned c = ts[i];
		struct result *nr = result_new(x->b, "http", "http.nng_http_static.c%u", c);
		struct result *hz = result_new(x->b, "http", "http.healthz.c%u", c);
		struct result *ids = result_new(x->b, "http", "http.ids.b1.c%u", c);
		struct result *nn = result_new(x->b, "http", "http.nng_next_ids.b1.c%u", c);
		if (rv != SR_OK) {
			const char *why = rm->rv != SR_OK ? rm->err : err;
			result_fail(nr, "%s", sc_failure(rv, why));
			result_fail(hz, "%s", sc_failure(rv, why));
			result_fail(ids, "%s", sc_failure(rv, why));
			result_fail(nn, "%s", sc_failure(rv, why));
			continue;
		}
		bench_progress(x->b,
		    "http: nng's HTTP server, libmicrohttpd, nng NextIds, "
		    "%u client(s)",
		    c);
		http_row(x, nr, nport, "/v1/sequences/remote/ids", c, nh.pid);
		result_note(nr, "nng 1.5.2 HTTP server, a counter, no coordinator");
		http_row(x, hz, rm->http_port, "/healthz", c, rm->daemon.pid);
		result_note(hz, "libmicrohttpd, no coordinator call");
		http_row(x, ids, rm->http_port, "/v1/sequences/remote/ids?count=1", c,
		    rm->daemon.pid);
		/* The nng API on the same daemon, for the ratio. */
		struct crew crew;
		struct cpu_window cw = {.server = rm->daemon.pid};
		bool ok = crew_init(&crew, x->b, c, OP_REMOTE, 1, 1) == SR_OK;
		crew.hook = proc_cpu_hook;
		crew.hook_arg = &cw;
		for (size_t k = 0; ok && k < c; k++) {
			crew.w[k].seqname = "remote";
			ok = sr_client_open(rm->daemon_url, REMOTE_TIMEOUT_MS, &crew.w[k].client) ==
			    SR_OK;
		}
		if (ok)
			crew_run(x->b, &crew, crew_warm_for(x->b), nn);
		else
			result_fail(nn, "cannot open %u clients", c);
		for (size_t k = 0; k < crew.n; k++)
			sr_client_close(crew.w[k].client);
		crew_free(&crew);
		proc_cpu_note(nn, &cw);
		if (ids->has_rate && nn->has_rate)
			result_set_baseline(ids, nn->scenario, nn->ids_per_sec);
		if (nr->has_rate && hz->has_rate)
			result_set_baseline(hz, nr->scenario, nr->ids_per_sec);
	}
	if (nh.pid > 0 && !child_stop(&nh))
		x->children_failed = true;
}
