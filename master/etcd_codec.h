/*
 * The pure half of the etcd store (store_etcd.c): how the master's rows
 * become etcd keys and values, and how etcd v3's JSON gateway requests and
 * replies are built and read. No sockets here (libcurl lives in etcd_http.c),
 * so the unit tests cover every encoding without an etcd.
 *
 * The JSON gateway (docs/decisions.md says why we use it) maps etcd's
 * protobuf messages to JSON: bytes fields (keys, values) are base64, int64
 * fields are decimal strings, fields at their zero value are left out
 * ("succeeded" is absent when a transaction's compare failed).
 *
 * Key layout under the prefix P (which ends with '/', default /snowrange/):
 *
 *   P term           the fencing term, decimal
 *   P layout         the Snowflake layout, a JSON object
 *   P seq/NAME       one sequence row, a JSON object
 *   P node/ID        one node row; ID zero-padded to 20 digits so that
 *                    etcd's byte order is numeric order
 *   P worker/ID      one worker grant; ID padded to 10 digits
 *   P history/SEQ    one era of the worker history (store.h's store_era);
 *                    SEQ padded to 20 digits, so the oldest come first and
 *                    a trim is one delete of the range below a SEQ
 *   P leader         the leading master's URL, under the leader's etcd
 *                    lease (master/leader.c); not part of the state
 *
 * Values are JSON objects with one member per column, the numbers as JSON
 * integers (every stored number is below 2^63, checked before a commit).
 */
#ifndef SR_ETCD_CODEC_H
#define SR_ETCD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

#define ETCD_PREFIX_MAX 128
#define ETCD_ENDPOINTS_MAX 1024
#define ETCD_DEFAULT_PREFIX "/snowrange/"
/* What etcd accepts in one transaction by default (--max-txn-ops). */
#define ETCD_DEFAULT_MAX_TXN_OPS 128

/* ---- base64 (RFC 4648, padded) ---- */

/* Encodes n bytes into out (NUL-terminated); SR_ETOOBIG if cap is short. */
int etcd_b64_encode(const void *in, size_t n, char *out, size_t cap);
/* Decodes a padded base64 string into out[cap]; *len gets the byte count.
 * SR_EINVAL on a character outside the alphabet or a bad length,
 * SR_ETOOBIG if cap is short. */
int etcd_b64_decode(const char *in, unsigned char *out, size_t cap, size_t *len);

/* ---- URLs ---- */

/*
 * Parses "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" into a comma-separated
 * list of http:// endpoints and the key prefix (default /snowrange/; a
 * prefix given is made to start and end with '/'). SR_EINVAL, naming what
 * was wrong, on anything else.
 */
int etcd_url_parse(const char *url, char *endpoints, size_t elen, char *prefix, size_t plen,
    char *errbuf, size_t errlen);

/* ---- keys ---- */

/* P + suffix into buf; SR_ETOOBIG if it does not fit. */
int etcd_key(const char *prefix, const char *suffix, char *buf, size_t cap);
/* The key just past every key starting with prefix (etcd's range_end for
 * a prefix): the prefix with its last byte incremented. */
int etcd_prefix_end(const char *prefix, char *buf, size_t cap);

/* ---- requests ---- */

/*
 * The transaction of one commit: compares P term with term; on success
 * applies ops in order (puts and deletes: the last op per key, a trim of the
 * history as ranges around the eras written after it); on failure reads
 * P term back so that the caller can say which term is stored. max_ops is
 * the cluster's transaction limit (ETCD_DEFAULT_MAX_TXN_OPS): a longer batch
 * is refused here (SR_ETOOBIG) rather than by etcd. NULL and a message on a row that
 * cannot be stored unchanged (SR_EINVAL in *err).
 */
json_t *etcd_txn_commit(const char *prefix, uint64_t term, const struct store_op *ops, size_t n,
    size_t max_ops, int *err, char *errbuf, size_t errlen);

/*
 * The transaction that takes the next term (store.h's acquire_and_load):
 * compares P term with cur (has_cur 0: P term must not exist yet), puts
 * cur + 1 and, in the same transaction and after the put, reads every key
 * under the prefix. etcd applies a transaction's operations in order at one
 * revision, so the state read is exactly the state as of the new term.
 */
json_t *etcd_txn_acquire(const char *prefix, int has_cur, uint64_t cur);

/*
 * The election's transaction (master/leader.c): creates P leader = url
 * under lease if the key does not exist; otherwise reads it, so that the
 * reply names the leader (its value) and its lease.
 */
json_t *etcd_txn_campaign(const char *prefix, const char *url, int64_t lease);

/* A range request for one key, or (prefix_range) every key under it. */
json_t *etcd_range_req(const char *key, int prefix_range);

/* ---- replies ---- */

/* An error reply of the gateway ({"error": ..., "code": N}): SR_EIO with its
 * message; SR_OK when the reply is not one. */
int etcd_reply_error(const json_t *reply, char *errbuf, size_t errlen);

/* A JSON int64 of the gateway: a decimal string (or, leniently, a JSON
 * integer); an absent field is 0. SR_EPROTO on anything else. */
int etcd_get_i64(const json_t *obj, const char *field, int64_t *out);

/* Whether a transaction reply says its compares held. */
int etcd_txn_succeeded(const json_t *reply);

/*
 * The kvs of the range reply at position idx of a transaction reply
 * (responses[idx].response_range.kvs), or of a plain range reply
 * (idx < 0). Never NULL: an empty array when there is none.
 */
const json_t *etcd_reply_kvs(const json_t *reply, int idx);

/* The value of the first kv in kvs, decoded into buf[cap] (NUL-terminated);
 * *found 0 when kvs is empty. SR_EPROTO on bad base64. */
int etcd_kv_value(const json_t *kvs, char *buf, size_t cap, int *found);

/* A stored term value (decimal) into *term; SR_EPROTO naming it if bad. */
int etcd_parse_term(const char *v, uint64_t *term, char *errbuf, size_t errlen);

/*
 * Turns the kvs of a range over the whole prefix into *out, P term into
 * out->term (0 when absent); P leader is skipped. Rows come sorted by key, as
 * etcd returns them. SR_EIO naming the key for a key or value this code did
 * not write; SR_ENOMEM. On failure what was read stays in *out, to be freed.
 */
int etcd_decode_state(const char *prefix, const json_t *kvs, struct store_state *out, char *errbuf,
    size_t errlen);

#endif
