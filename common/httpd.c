/*
 * The daemons' HTTP server (httpd.h): libmicrohttpd's thread pool, the
 * cluster's credentials, and bounds on what a client may hold (connections
 * in all and per address, an idle timeout, a bound on the time a whole
 * request may take to arrive, header and body sizes). Every request goes
 * through httpapi_dispatch; this file only moves bytes and credentials.
 */
#include "httpd.h"

#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "log.h"
#include "snowrange/error.h"
#include "util.h"

/* How often the watchdog looks for connections past the request bound:
 * a slow sender is closed at most this long after its bound. */
#define WATCH_MS 200
/* The watchdog logs what it closed at most this often. */
#define WATCH_LOG_MS 60000

/*
 * One open connection, for the request bound (HTTPD_REQUEST_S). The idle
 * timeout of libmicrohttpd restarts with every byte received, so a client
 * sending a byte a second never reaches it; this deadline does not move
 * until the request is in. It is set when the connection opens and again
 * when a response has gone out (keep-alive: the next request), and cleared
 * when the request is in (its handler may take its time). The watchdog
 * shuts down the socket of a connection past its deadline; libmicrohttpd
 * then sees the end of the stream and closes and frees the connection
 * itself. libmicrohttpd announces a connection's end (on_conn) before it
 * closes the socket, and both sides hold conns_mu, so the watchdog never
 * shuts down a descriptor that was closed and reused.
 */
struct conn {
	struct conn *prev, *next; /* under conns_mu */
	int fd;
	_Atomic int64_t deadline_ms; /* monotonic; 0: the request is in */
	bool shut;                   /* under conns_mu */
};

struct httpd {
	struct MHD_Daemon *mhd;
	const struct httpapi_route *routes;
	size_t nroutes;
	void *arg;
	const struct creds *cr;
	bool verify_client;    /* a CA is configured: client certificates must chain to it */
	char *cert, *key, *ca; /* PEM text; libmicrohttpd keeps pointers to them */
	_Atomic uint64_t n2xx, n4xx, n5xx;
	int64_t request_ms; /* the request bound */
	pthread_mutex_t conns_mu;
	struct conn *conns; /* every open connection, under conns_mu */
	pthread_t watchdog;
	bool watching;                /* the watchdog thread runs */
	atomic_bool stopping;         /* tells it to end */
	_Atomic uint64_t slow_closed; /* connections it closed */
};

/* Per request: the body bytes seen so far (the body is read and dropped). */
struct req_ctx {
	size_t body;
};

/* Splits http[s]://HOST:PORT into host and port; *tls for https. */
static int
parse_url(const char *url, bool *tls, char *host, size_t hostlen, char *port, size_t portlen,
    char *errbuf, size_t errlen)
{
	const char *rest;
	if (url != NULL && strncmp(url, "http://", 7) == 0) {
		*tls = false;
		rest = url + 7;
	} else if (url != NULL && strncmp(url, "https://", 8) == 0) {
		*tls = true;
		rest = url + 8;
	} else {
		snprintf(errbuf, errlen,
		    "HTTP listen URL '%.200s': expected http://HOST:PORT "
		    "or https://HOST:PORT",
		    url != NULL ? url : "");
		return SR_EINVAL;
	}
	const char *h = rest, *colon;
	size_t hn;
	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		h++;
		hn = (size_t) (close - h);
		colon = close + 1;
	} else {
		colon = strrchr(h, ':');
		if (colon == NULL)
			goto bad;
		hn = (size_t) (colon - h);
	}
	const char *p = colon + 1;
	size_t pn = strlen(p);
	if (hn == 0 || hn >= hostlen || pn == 0 || pn >= portlen || strspn(p, "0123456789") != pn ||
	    strtol(p, NULL, 10) > 65535)
		goto bad;
	memcpy(host, h, hn);
	host[hn] = '\0';
	memcpy(port, p, pn + 1);
	return SR_OK;
bad:
	snprintf(errbuf, errlen,
	    "HTTP listen URL '%.200s': expected http://HOST:PORT or "
	    "https://HOST:PORT ([::1] for IPv6, port 0..65535)",
	    url);
	return SR_EINVAL;
}

int
httpd_check(const char *url, const struct creds *cr, bool insecure, char *errbuf, size_t errlen)
{
	bool tls;
	char host[256], port[8];
	int rv = parse_url(url, &tls, host, sizeof(host), port, sizeof(port), errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	bool have_cert = cr != NULL && cr->tls_cert != NULL && cr->tls_key != NULL;
	if (tls && !have_cert) {
		snprintf(errbuf, errlen, "HTTP listen URL %s needs --tls-cert and --tls-key", url);
		return SR_EINVAL;
	}
	if (!tls && cr != NULL && cr->tls_cert != NULL) {
		snprintf(errbuf, errlen,
		    "HTTP listen URL %s is plain http while TLS "
		    "credentials are configured: use https:// (never a silent downgrade)",
		    url);
		return SR_EINVAL;
	}
	/* The safe default of docs/security.md, on the same rule as the nng
	 * listener: creds_url_local reads tcp-style URLs. */
	char tcp[300];
	snprintf(tcp, sizeof(tcp), "tcp://%s", url + (tls ? 8 : 7));
	if (!insecure && !creds_authenticates(cr) && !creds_url_local(tcp)) {
		snprintf(errbuf, errlen,
		    "refusing to serve HTTP on %s without client "
		    "credentials: configure --token-file (or --tls-ca with https), listen "
		    "on 127.0.0.1, or pass --insecure (docs/security.md)",
		    url);
		return SR_EACCES;
	}
	return SR_OK;
}

static void
mhd_log(void *arg, const char *fmt, va_list ap)
{
	(void) arg;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	sr_log("http", "%s", line);
}

/* libmicrohttpd's unescaper for the path and the arguments. */
static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void) cls;
	(void) conn;
	return httpapi_unescape(s);
}

/* The connection's entry for the request bound (NULL when untracked). */
static struct conn *
conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* The request on conn arrived whole: no bound while it is served. */
static void
request_in(struct MHD_Connection *conn)
{
	struct conn *c = conn_of(conn);
	if (c != NULL)
		atomic_store_explicit(&c->deadline_ms, 0, memory_order_relaxed);
}

/* A connection opens or closes (MHD_OPTION_NOTIFY_CONNECTION). */
static void
on_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode why)
{
	struct httpd *h = cls;
	struct conn *c = *socket_ctx;
	if (why == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			/* Untracked, it would escape the bound: refuse it. */
			shutdown(ci->connect_fd, SHUT_RDWR);
			return;
		}
		c->fd = ci->connect_fd;
		atomic_init(&c->deadline_ms, sr_mono_ms() + h->request_ms);
		pthread_mutex_lock(&h->conns_mu);
		c->next = h->conns;
		if (h->conns != NULL)
			h->conns->prev = c;
		h->conns = c;
		pthread_mutex_unlock(&h->conns_mu);
		*socket_ctx = c;
		return;
	}
	if (c == NULL)
		return;
	pthread_mutex_lock(&h->conns_mu);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&h->conns_mu);
	free(c);
	*socket_ctx = NULL;
}

/* Shuts down the connections past the request bound, every WATCH_MS. */
static void *
watchdog(void *arg)
{
	struct httpd *h = arg;
	uint64_t unlogged = 0;
	int64_t logged_ms = 0;
	const struct timespec pause = {0, WATCH_MS * 1000000L};
	while (!atomic_load(&h->stopping)) {
		int64_t now = sr_mono_ms();
		pthread_mutex_lock(&h->conns_mu);
		for (struct conn *c = h->conns; c != NULL; c = c->next) {
			int64_t d = atomic_load_explicit(&c->deadline_ms, memory_order_relaxed);
			if (d == 0 || now < d || c->shut)
				continue;
			c->shut = true;
			shutdown(c->fd, SHUT_RDWR);
			unlogged++;
			atomic_fetch_add_explicit(&h->slow_closed, 1, memory_order_relaxed);
		}
		pthread_mutex_unlock(&h->conns_mu);
		/* Told once a minute, not per connection: a slow sender
		 * opening hundreds of connections does not flood the log. */
		if (unlogged > 0 && (logged_ms == 0 || now - logged_ms >= WATCH_LOG_MS)) {
			sr_log("http",
			    "closed %llu connections that sent no whole request "
			    "within %lld ms (slow senders; docs/http.md)",
			    (unsigned long long) unlogged, (long long) h->request_ms);
			unlogged = 0;
			logged_ms = now;
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* A request ended (its response went out, or the connection closed): the
 * next one on this connection has the whole bound again. */
static void
on_done(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode why)
{
	struct httpd *h = cls;
	(void) why;
	struct conn *c = conn_of(conn);
	if (c != NULL)
		atomic_store_explicit(&c->deadline_ms, sr_mono_ms() + h->request_ms,
		    memory_order_relaxed);
	free(*req_cls);
	*req_cls = NULL;
}

/* The client's certificate chains to our CA (only asked when one is set). */
static bool
client_verified(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return false;
	unsigned status = 1;
	gnutls_session_t s = (gnutls_session_t) ci->tls_session;
	return gnutls_certificate_verify_peers2(s, &status) == GNUTLS_E_SUCCESS && status == 0;
}

/* The roles the request's bearer token grants; every role when the server
 * has no tokens (the transport is then the only gate, as on nng). */
static unsigned
peer_roles(const struct httpd *h, struct MHD_Connection *conn)
{
	if (!creds_has_tokens(h->cr))
		return CREDS_ALL;
	const char *a =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return 0;
	a += 7;
	while (*a == ' ')
		a++;
	size_t n = strlen(a);
	while (n > 0 && a[n - 1] == ' ')
		n--;
	if (n < CREDS_TOKEN_MIN || n > CREDS_TOKEN_MAX)
		return 0;
	char node[CREDS_NAME_MAX + 1];
	return creds_lookup(h->cr, a, n, node);
}

static enum MHD_Result
send_resp(struct httpd *h, struct MHD_Connection *conn, struct httpapi_resp *r)
{
	/* An early refusal (413, 403) ends the request too. */
	request_in(conn);
	size_t len;
	char *body = strbuf_take(&r->body, &len);
	if (body == NULL) {
		r->status = 503;
		body = strdup("{\"error\":{\"code\":\"ENOMEM\",\"errno\":2,\"message\":\"out "
		              "of memory\"}}\n");
		if (body == NULL)
			return MHD_NO;
		len = strlen(body);
		r->type = "application/json";
	}
	struct MHD_Response *m = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (m == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
	MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
	if (r->retry_after_s > 0) {
		char s[16];
		snprintf(s, sizeof(s), "%u", r->retry_after_s);
		MHD_add_response_header(m, MHD_HTTP_HEADER_RETRY_AFTER, s);
	}
	if (r->auth_challenge)
		MHD_add_response_header(m, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result ok = MHD_queue_response(conn, (unsigned) r->status, m);
	MHD_destroy_response(m);
	if (r->status >= 500)
		atomic_fetch_add_explicit(&h->n5xx, 1, memory_order_relaxed);
	else if (r->status >= 400)
		atomic_fetch_add_explicit(&h->n4xx, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&h->n2xx, 1, memory_order_relaxed);
	return ok;
}

static enum MHD_Result
refuse(struct httpd *h, struct MHD_Connection *conn, int status, int err, const char *msg)
{
	struct httpapi_resp r = {0};
	httpapi_error(&r, status, err, "%s", msg);
	return send_resp(h, conn, &r);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct httpd *h = cls;
	(void) version;
	(void) upload_data;
	struct req_ctx *ctx = *req_cls;
	if (ctx == NULL) {
		/* First call: the headers are in, the body (if any) is not. */
		if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
			return MHD_NO;
		*req_cls = ctx;
		if (h->verify_client && !client_verified(conn))
			return refuse(h, conn, 403, SR_EACCES,
			    "a client certificate signed "
			    "by the cluster CA is required");
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (strlen(cl) > 12 || strtoull(cl, NULL, 10) > HTTPD_BODY_MAX))
			return refuse(h, conn, 413, SR_ETOOBIG,
			    "request body too large "
			    "(arguments go in the URL)");
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		ctx->body += *upload_data_size;
		*upload_data_size = 0;
		if (ctx->body > HTTPD_BODY_MAX)
			return refuse(h, conn, 413, SR_ETOOBIG,
			    "request body too large "
			    "(arguments go in the URL)");
		return MHD_YES;
	}
	/* Whole: the request bound stops here, before a handler that may wait
	 * (a lease) for a while. */
	request_in(conn);
	const char *count = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "count");
	struct httpapi_resp r = {0};
	httpapi_dispatch(h->routes, h->nroutes, h->arg, method, url, count, peer_roles(h, conn),
	    &r);
	return send_resp(h, conn, &r);
}

int
httpd_start(const struct httpd_config *cfg, const struct httpapi_route *routes, size_t nroutes,
    void *arg, struct httpd **out, char *errbuf, size_t errlen)
{
	bool tls = false;
	char host[256], port[8];
	int rv = httpd_check(cfg->url, cfg->cr, cfg->insecure, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	/* httpd_check parsed it already; checked again so that no path
	 * reads host, port or tls unset. */
	rv = parse_url(cfg->url, &tls, host, sizeof(host), port, sizeof(port), errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0 || ai == NULL) {
		snprintf(errbuf, errlen, "HTTP listen URL %s: cannot resolve '%s': %s", cfg->url,
		    host, gai_strerror(gai));
		return SR_EINVAL;
	}
	struct httpd *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		freeaddrinfo(ai);
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	h->routes = routes;
	h->nroutes = nroutes;
	h->arg = arg;
	h->cr = cfg->cr;
	int timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : HTTPD_TIMEOUT_S;
	int request_s = cfg->request_s > 0 ? cfg->request_s : HTTPD_REQUEST_S;
	h->request_ms = 1000 * (int64_t) (request_s < timeout_s ? request_s : timeout_s);
	pthread_mutex_init(&h->conns_mu, NULL);
	atomic_init(&h->stopping, false);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	struct MHD_OptionItem opts[20];
	size_t k = 0;
	/* First, so that libmicrohttpd's own messages go through sr_log too. */
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) mhd_log, NULL};
	if (tls) {
		flags |= MHD_USE_TLS;
		if ((rv = creds_read_file(cfg->cr->tls_cert, &h->cert, errbuf, errlen)) != SR_OK ||
		    (rv = creds_read_file(cfg->cr->tls_key, &h->key, errbuf, errlen)) != SR_OK ||
		    (cfg->cr->tls_ca != NULL &&
		        (rv = creds_read_file(cfg->cr->tls_ca, &h->ca, errbuf, errlen)) != SR_OK)) {
			freeaddrinfo(ai);
			httpd_stop(h);
			return rv;
		}
		opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert};
		opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_KEY, 0, h->key};
		if (h->ca != NULL) {
			opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_TRUST, 0, h->ca};
			h->verify_client = true;
		}
	}
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_THREAD_POOL_SIZE,
	    cfg->threads > 0 ? cfg->threads : 4, NULL};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_LIMIT,
	    cfg->max_conns > 0 ? cfg->max_conns : HTTPD_MAX_CONNS, NULL};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    cfg->per_ip > 0 ? cfg->per_ip : HTTPD_PER_IP, NULL};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, NULL};
	opts[k++] =
	    (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTPD_HEADER_MAX, NULL};
	/* Strict parsing: an HTTP/1.1 request without Host, or with spaces
	 * where none belong, is a 400 rather than a guess. */
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
	opts[k++] =
	    (struct MHD_OptionItem) {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t) unescape, NULL};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_done, h};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) on_conn, h};
	opts[k++] = (struct MHD_OptionItem) {MHD_OPTION_END, 0, NULL};
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (h->mhd == NULL) {
		snprintf(errbuf, errlen,
		    "cannot serve HTTP on %s (address in use, or bad "
		    "TLS files)",
		    cfg->url);
		httpd_stop(h);
		return SR_ECONNECT;
	}
	if (pthread_create(&h->watchdog, NULL, watchdog, h) != 0) {
		snprintf(errbuf, errlen, "cannot start the HTTP request watchdog thread");
		httpd_stop(h);
		return SR_ENOMEM;
	}
	h->watching = true;
	*out = h;
	return SR_OK;
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->watching) {
		atomic_store(&h->stopping, true);
		pthread_join(h->watchdog, NULL);
	}
	/* Closes every connection: on_conn unlinks and frees each entry. */
	if (h->mhd != NULL)
		MHD_stop_daemon(h->mhd);
	pthread_mutex_destroy(&h->conns_mu);
	free(h->cert);
	if (h->key != NULL) {
		/* The key does not linger in freed memory. */
		memset(h->key, 0, strlen(h->key));
		free(h->key);
	}
	free(h->ca);
	free(h);
}

void
httpd_counts(const struct httpd *h, uint64_t *ok, uint64_t *client_err, uint64_t *server_err)
{
	*ok = h != NULL ? atomic_load_explicit(&h->n2xx, memory_order_relaxed) : 0;
	*client_err = h != NULL ? atomic_load_explicit(&h->n4xx, memory_order_relaxed) : 0;
	*server_err = h != NULL ? atomic_load_explicit(&h->n5xx, memory_order_relaxed) : 0;
}

uint64_t
httpd_slow_closed(const struct httpd *h)
{
	return h != NULL ? atomic_load_explicit(&h->slow_closed, memory_order_relaxed) : 0;
}
