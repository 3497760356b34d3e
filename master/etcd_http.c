/*
 * etcd's JSON gateway over libcurl (etcd_http.h).
 */
#include "etcd_http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "etcd_codec.h"
#include "snowrange/error.h"
#include "util.h"

#define errf SR_ERRF
#define MAX_ENDPOINTS 16
/* etcd's replies to us are small, except the state read at election, which
 * holds every row: cap it well above any catalog we allow (issue 10). */
#define REPLY_MAX (256u << 20)

struct etcd_client {
	pthread_mutex_t mu;
	CURL *curl;
	struct curl_slist *headers;
	char *ep[MAX_ENDPOINTS];
	size_t nep;
	size_t cur; /* the endpoint that answered last */
	int timeout_ms;
	char *buf; /* the reply being received */
	size_t len, cap;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

/* curl_global_init is not thread-safe: once per process, before any
 * client exists. */
static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct etcd_client *c = arg;
	size_t add = size * n;
	if (c->len + add + 1 > REPLY_MAX)
		return 0; /* curl reports CURLE_WRITE_ERROR */
	if (c->len + add + 1 > c->cap) {
		size_t nc = c->cap ? c->cap : 4096;
		while (nc < c->len + add + 1)
			nc *= 2;
		char *b = realloc(c->buf, nc);
		if (b == NULL)
			return 0;
		c->buf = b;
		c->cap = nc;
	}
	memcpy(c->buf + c->len, p, add);
	c->len += add;
	c->buf[c->len] = '\0';
	return add;
}

int
etcd_client_open(const char *endpoints, int timeout_ms, struct etcd_client **out, char *errbuf,
    size_t errlen)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return errf(errbuf, errlen, SR_EIO, "libcurl: %s", curl_easy_strerror(global_rc));
	struct etcd_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return errf(errbuf, errlen, SR_ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	c->timeout_ms = timeout_ms;
	const char *p = endpoints;
	while (*p != '\0' && c->nep < MAX_ENDPOINTS) {
		size_t n = strcspn(p, ",");
		if ((c->ep[c->nep] = strndup(p, n)) == NULL)
			goto oom;
		c->nep++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (c->nep == 0 || *p != '\0') {
		etcd_client_close(c);
		return errf(errbuf, errlen, SR_EINVAL,
		    "etcd endpoints '%s': none, or more "
		    "than %d",
		    endpoints, MAX_ENDPOINTS);
	}
	c->curl = curl_easy_init();
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->curl == NULL || c->headers == NULL)
		goto oom;
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout_ms);
	/* No signals from a resolver on timeout: we are multi-threaded. */
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	*out = c;
	return SR_OK;
oom:
	etcd_client_close(c);
	return errf(errbuf, errlen, SR_ENOMEM, "out of memory");
}

void
etcd_client_close(struct etcd_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	for (size_t i = 0; i < c->nep; i++)
		free(c->ep[i]);
	free(c->buf);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/*
 * One attempt at endpoint ep. Returns SR_OK with *reply set when etcd gave
 * an answer this call should stand on (a success or an error of the
 * request itself), SR_EUNAVAILABLE when another endpoint may do better (no
 * connection, a timeout, a member without quorum), with why in errbuf.
 */
static int
attempt(struct etcd_client *c, const char *ep, const char *path, const char *body, json_t **reply,
    char *errbuf, size_t errlen)
{
	char url[512];
	long status = 0;
	snprintf(url, sizeof url, "%s%s", ep, path);
	c->len = 0;
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK)
		return errf(errbuf, errlen, SR_EUNAVAILABLE, "%s: %s", ep, curl_easy_strerror(rc));
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	json_error_t je;
	json_t *r = c->len > 0 ? json_loadb(c->buf, c->len, 0, &je) : NULL;
	if (r == NULL)
		return errf(errbuf, errlen, status >= 500 ? SR_EUNAVAILABLE : SR_EPROTO,
		    "%s%s: HTTP %ld, reply is not JSON", ep, path, status);
	/* gRPC code 14 (UNAVAILABLE) and 4 (DEADLINE_EXCEEDED): this member
	 * cannot serve now (no leader, no quorum); another one may. */
	json_int_t code = json_integer_value(json_object_get(r, "code"));
	if (json_object_get(r, "error") != NULL && (code == 14 || code == 4)) {
		etcd_reply_error(r, errbuf, errlen);
		json_decref(r);
		return SR_EUNAVAILABLE;
	}
	*reply = r;
	return SR_OK;
}

int
etcd_call(struct etcd_client *c, const char *path, const json_t *req, json_t **reply, char *errbuf,
    size_t errlen)
{
	char *body = json_dumps(req, JSON_COMPACT);
	*reply = NULL;
	if (body == NULL)
		return errf(errbuf, errlen, SR_ENOMEM, "out of memory");
	char last[256] = "";
	int rv = SR_EIO;
	pthread_mutex_lock(&c->mu);
	for (size_t k = 0; k < c->nep; k++) {
		size_t i = (c->cur + k) % c->nep;
		rv = attempt(c, c->ep[i], path, body, reply, last, sizeof last);
		if (rv != SR_EUNAVAILABLE) {
			c->cur = i;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	free(body);
	if (rv == SR_EUNAVAILABLE)
		return errf(errbuf, errlen, SR_EIO, "no etcd endpoint answered (last: %s)", last);
	if (rv != SR_OK)
		return errf(errbuf, errlen, rv, "%s", last);
	if ((rv = etcd_reply_error(*reply, errbuf, errlen)) != SR_OK) {
		json_decref(*reply);
		*reply = NULL;
	}
	return rv;
}
