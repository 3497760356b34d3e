/*
 * The distributed store (docs/design.md, docs/ha.md): the master's state in
 * etcd v3, under a key prefix, reached through etcd's JSON gateway
 * (etcd_http.c). etcd_codec.h lists the keys.
 *
 * Every write is one etcd transaction guarded by the fencing term:
 *   acquire_and_load  if term == cur: put term = cur + 1, then read every key
 *                     (one transaction, so the state read is the state at
 *                     the new term: store.h's "term first, then load")
 *   commit            if term == ours: put/delete the rows, all or none
 * so a deposed master's commit fails with SR_ESTALE however late it
 * arrives. etcd's quorum makes a commit that returned 0 durable on a
 * majority of members.
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_codec.h"
#include "etcd_http.h"
#include "snowrange/error.h"
#include "util.h"

#define errorf(s, err, ...) SR_ERRF((s)->errmsg, sizeof((s)->errmsg), (err), __VA_ARGS__)

struct etcd_store {
	struct store base; /* first, so a struct store * converts to this */
	struct etcd_client *cl;
	char prefix[ETCD_PREFIX_MAX];
	char endpoints[ETCD_ENDPOINTS_MAX];
	size_t max_ops;
	char errmsg[512];
};

static struct etcd_store *
from_base(struct store *st)
{
	return (struct etcd_store *) st;
}

/* Reads P term: *has 0 when it was never written. */
/* Reads the value of the one key prefix + name into buf (*found 0 when
 * the key does not exist). */
static int
read_one(struct etcd_store *s, const char *name, char *buf, size_t len, int *found)
{
	char key[ETCD_PREFIX_MAX + 8];
	json_t *reply;
	*found = 0;
	etcd_key(s->prefix, name, key, sizeof key);
	json_t *req = etcd_range_req(key, 0);
	if (req == NULL)
		return errorf(s, SR_ENOMEM, "out of memory");
	int rv = etcd_call(s->cl, "/v3/kv/range", req, &reply, s->errmsg, sizeof s->errmsg);
	json_decref(req);
	if (rv != SR_OK)
		return rv;
	rv = etcd_kv_value(etcd_reply_kvs(reply, -1), buf, len, found);
	json_decref(reply);
	if (rv != SR_OK)
		return errorf(s, SR_EIO, "etcd: %s%s is not base64", s->prefix, name);
	return SR_OK;
}

static int
read_term(struct etcd_store *s, int *has, uint64_t *term)
{
	char v[64];
	*term = 0;
	int rv = read_one(s, "term", v, sizeof v, has);
	if (rv != SR_OK)
		return rv;
	if (*has && etcd_parse_term(v, term, s->errmsg, sizeof s->errmsg) != SR_OK)
		return SR_EIO;
	return SR_OK;
}

static int
et_load(struct store *st, struct store_state *out)
{
	struct etcd_store *s = from_base(st);
	json_t *reply;
	memset(out, 0, sizeof *out);
	/* One range over the prefix reads the term and the rows at one
	 * revision: a consistent snapshot. */
	json_t *req = etcd_range_req(s->prefix, 1);
	if (req == NULL)
		return errorf(s, SR_ENOMEM, "out of memory");
	int rv = etcd_call(s->cl, "/v3/kv/range", req, &reply, s->errmsg, sizeof s->errmsg);
	json_decref(req);
	if (rv != SR_OK)
		return rv;
	rv = etcd_decode_state(s->prefix, etcd_reply_kvs(reply, -1), out, s->errmsg,
	    sizeof s->errmsg);
	json_decref(reply);
	if (rv != SR_OK)
		store_state_free(out);
	return rv;
}

static int
et_acquire_and_load(struct store *st, struct store_state *out)
{
	struct etcd_store *s = from_base(st);
	int has, rv;
	uint64_t cur;
	json_t *reply;

	memset(out, 0, sizeof *out);
	if ((rv = read_term(s, &has, &cur)) != SR_OK)
		return rv;
	json_t *txn = etcd_txn_acquire(s->prefix, has, cur);
	if (txn == NULL)
		return errorf(s, SR_ENOMEM, "out of memory");
	rv = etcd_call(s->cl, "/v3/kv/txn", txn, &reply, s->errmsg, sizeof s->errmsg);
	json_decref(txn);
	if (rv != SR_OK)
		return rv;
	if (!etcd_txn_succeeded(reply)) {
		json_decref(reply);
		return errorf(s, SR_ESTALE,
		    "etcd: the term under %s moved past %" PRIu64
		    " while this master took it: another master took over",
		    s->prefix, cur);
	}
	rv = etcd_decode_state(s->prefix, etcd_reply_kvs(reply, 1), out, s->errmsg,
	    sizeof s->errmsg);
	json_decref(reply);
	/* The range ran after the put in the same transaction: it must show
	 * our term, or the reply is not what we asked for. */
	if (rv == SR_OK && out->term != cur + 1)
		rv = errorf(s, SR_EIO,
		    "etcd: the state read with term %" PRIu64 " shows term %" PRIu64, cur + 1,
		    out->term);
	if (rv != SR_OK)
		store_state_free(out);
	return rv;
}

static int
et_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	struct etcd_store *s = from_base(st);
	json_t *reply;
	int rv;
	json_t *txn =
	    etcd_txn_commit(s->prefix, term, ops, n, s->max_ops, &rv, s->errmsg, sizeof s->errmsg);
	if (txn == NULL)
		return rv;
	rv = etcd_call(s->cl, "/v3/kv/txn", txn, &reply, s->errmsg, sizeof s->errmsg);
	json_decref(txn);
	if (rv != SR_OK)
		return rv;
	if (!etcd_txn_succeeded(reply)) {
		char v[64];
		int has = 0;
		if (etcd_kv_value(etcd_reply_kvs(reply, 0), v, sizeof v, &has) != SR_OK)
			has = 0;
		rv = errorf(s, SR_ESTALE,
		    "etcd %sterm: term %" PRIu64 " is stale, the stored term is %s", s->prefix,
		    term, has ? v : "absent");
	}
	json_decref(reply);
	return rv;
}

static const char *
et_errmsg(struct store *st)
{
	return from_base(st)->errmsg;
}

static void
et_close(struct store *st)
{
	struct etcd_store *s = from_base(st);
	etcd_client_close(s->cl);
	free(s);
}

int
store_etcd_leader(struct store *st, char *url, size_t len, int *found)
{
	return read_one(from_base(st), "leader", url, len, found);
}

static const struct store_ops etcd_ops = {
    .acquire_and_load = et_acquire_and_load,
    .load = et_load,
    .commit = et_commit,
    .close = et_close,
    .errmsg = et_errmsg,
};

int
store_etcd_open(const char *url, int timeout_ms, size_t max_ops, struct store **out, char *errbuf,
    size_t errlen)
{
	*out = NULL;
	struct etcd_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SR_ERRF(errbuf, errlen, SR_ENOMEM, "out of memory");
	s->base.ops = &etcd_ops;
	s->max_ops = max_ops != 0 ? max_ops : ETCD_DEFAULT_MAX_TXN_OPS;
	int rv = etcd_url_parse(url, s->endpoints, sizeof s->endpoints, s->prefix, sizeof s->prefix,
	    errbuf, errlen);
	if (rv == SR_OK)
		rv = etcd_client_open(s->endpoints, timeout_ms, &s->cl, errbuf, errlen);
	if (rv != SR_OK) {
		et_close(&s->base);
		return rv;
	}
	*out = &s->base;
	return SR_OK;
}
