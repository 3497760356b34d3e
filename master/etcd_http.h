/*
 * A small client of etcd v3's JSON gateway (HTTP POST of JSON bodies, one
 * reply each) over libcurl, for the etcd store and the leader election
 * (docs/decisions.md: why the gateway and libcurl rather than gRPC).
 *
 * A client holds one keep-alive connection and a list of endpoints. A call
 * goes to the endpoint that answered last; when that one cannot be reached,
 * times out or answers that it has no quorum, the call moves on to the next,
 * each endpoint at most once per call. Every request we send is safe to send
 * twice (a commit compares the fencing term, so replaying it after a lost
 * reply writes the same rows again), which is what makes that retry sound.
 *
 * One thread at a time per client (a mutex enforces it); the store and the
 * election each own one.
 */
#ifndef SR_ETCD_HTTP_H
#define SR_ETCD_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct etcd_client;

/* endpoints: "http://h:p,http://h:p" (etcd_url_parse makes it). timeout_ms
 * bounds one attempt at one endpoint. */
int etcd_client_open(const char *endpoints, int timeout_ms, struct etcd_client **out, char *errbuf,
    size_t errlen);
/* NULL-safe. */
void etcd_client_close(struct etcd_client *c);

/*
 * POSTs req to path (say "/v3/kv/txn") and parses the reply into *reply
 * (json_decref it). SR_EIO with a message naming the endpoints when none
 * answered, or when etcd answered with an error; SR_EPROTO for a reply that
 * is not JSON. req is not consumed.
 */
int etcd_call(struct etcd_client *c, const char *path, const json_t *req, json_t **reply,
    char *errbuf, size_t errlen);

#endif
