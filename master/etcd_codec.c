/*
 * Keys, values and gateway messages of the etcd store (etcd_codec.h). Pure:
 * jansson and libc only.
 */
#include "etcd_codec.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snowrange/error.h"
#include "util.h"

#define errf SR_ERRF
#define KEY_MAX (ETCD_PREFIX_MAX + 32 + STORE_NAME_MAX)
#define B64_CAP(n) (((n) + 2) / 3 * 4 + 1)

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
etcd_b64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const unsigned char *p = in;
	size_t o = 0;

	if (n > (SIZE_MAX - 1) / 4 || cap < B64_CAP(n))
		return SR_ETOOBIG;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t) p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t) p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return SR_OK;
}

static int
b64_val(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;
	return p != NULL ? (int) (p - b64) : -1;
}

int
etcd_b64_decode(const char *in, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(in), o = 0;

	if (n % 4 != 0)
		return SR_EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			/* '=' only at the end of the last group, and at most
			 * two of them. */
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_val(in[i + k])) < 0)
				return SR_EINVAL;
		}
		uint32_t w = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6 |
		    (uint32_t) v[3];
		size_t nb = 3 - (size_t) pad;
		if (o + nb > cap)
			return SR_ETOOBIG;
		out[o++] = (unsigned char) (w >> 16);
		if (nb > 1)
			out[o++] = (unsigned char) (w >> 8);
		if (nb > 2)
			out[o++] = (unsigned char) w;
	}
	*len = o;
	return SR_OK;
}

/* A JSON string holding s base64-encoded; NULL on OOM. */
static json_t *
b64_json(const char *s)
{
	size_t n = strlen(s);
	char *buf = malloc(B64_CAP(n));
	json_t *j = NULL;
	if (buf != NULL && etcd_b64_encode(s, n, buf, B64_CAP(n)) == SR_OK)
		j = json_string(buf);
	free(buf);
	return j;
}

/* ---- URLs ---- */

int
etcd_url_parse(const char *url, char *endpoints, size_t elen, char *prefix, size_t plen,
    char *errbuf, size_t errlen)
{
	static const char scheme[] = "etcd://";
	size_t o = 0;

	if (strncmp(url, scheme, sizeof scheme - 1) != 0)
		return errf(errbuf, errlen, SR_EINVAL, "store URL '%s' does not start with etcd://",
		    url);
	const char *p = url + sizeof scheme - 1;
	const char *slash = strchr(p, '/');
	size_t hostlen = slash != NULL ? (size_t) (slash - p) : strlen(p);
	if (hostlen == 0)
		return errf(errbuf, errlen, SR_EINVAL,
		    "store URL '%s' names no etcd endpoint (etcd://HOST:PORT,...)", url);
	endpoints[0] = '\0';
	while (hostlen > 0) {
		const char *comma = memchr(p, ',', hostlen);
		size_t n = comma != NULL ? (size_t) (comma - p) : hostlen;
		const char *colon = memchr(p, ':', n);
		if (n == 0 || colon == NULL || colon == p || colon + 1 == p + n)
			return errf(errbuf, errlen, SR_EINVAL,
			    "store URL '%s': endpoint '%.*s' is not HOST:PORT", url, (int) n, p);
		for (const char *c = colon + 1; c < p + n; c++)
			if (*c < '0' || *c > '9')
				return errf(errbuf, errlen, SR_EINVAL,
				    "store URL '%s': port of '%.*s' is not a number", url, (int) n,
				    p);
		int w = snprintf(endpoints + o, elen - o, "%shttp://%.*s", o > 0 ? "," : "",
		    (int) n, p);
		if (w < 0 || (size_t) w >= elen - o)
			return errf(errbuf, errlen, SR_EINVAL, "store URL '%s': too many endpoints",
			    url);
		o += (size_t) w;
		p += n;
		hostlen -= n;
		if (hostlen > 0) { /* the comma */
			p++;
			hostlen--;
			if (hostlen == 0)
				return errf(errbuf, errlen, SR_EINVAL,
				    "store URL '%s' ends with a comma", url);
		}
	}
	const char *pre = slash != NULL && slash[1] != '\0' ? slash : ETCD_DEFAULT_PREFIX;
	size_t n = strlen(pre);
	bool add = pre[n - 1] != '/';
	if (n + add + 1 > plen || n + add + 1 > ETCD_PREFIX_MAX)
		return errf(errbuf, errlen, SR_EINVAL,
		    "store URL '%s': prefix longer than %d bytes", url, ETCD_PREFIX_MAX - 2);
	snprintf(prefix, plen, "%s%s", pre, add ? "/" : "");
	return SR_OK;
}

/* ---- keys ---- */

int
etcd_key(const char *prefix, const char *suffix, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s%s", prefix, suffix);
	return n < 0 || (size_t) n >= cap ? SR_ETOOBIG : SR_OK;
}

int
etcd_prefix_end(const char *prefix, char *buf, size_t cap)
{
	size_t n = strlen(prefix);
	if (n == 0 || n >= cap)
		return SR_ETOOBIG;
	memcpy(buf, prefix, n + 1);
	/* Our prefixes end with '/', never 0xff: one increment is enough. */
	buf[n - 1] = (char) (buf[n - 1] + 1);
	return SR_OK;
}

/* The key of the worker history's era seq under prefix. */
static int
history_key(const char *prefix, uint64_t seq, char *buf, size_t cap)
{
	char sfx[32];
	snprintf(sfx, sizeof sfx, "history/%020" PRIu64, seq);
	return etcd_key(prefix, sfx, buf, cap);
}

/* The key of op's row under prefix. */
static int
op_key(const char *prefix, const struct store_op *op, char *buf, size_t cap)
{
	char sfx[STORE_NAME_MAX + 32];
	switch (op->kind) {
	case STORE_PUT_SEQ:
	case STORE_DEL_SEQ: snprintf(sfx, sizeof sfx, "seq/%s", op->u.seq.name); break;
	case STORE_PUT_NODE:
	case STORE_DEL_NODE: snprintf(sfx, sizeof sfx, "node/%020" PRIu64, op->u.node.id); break;
	case STORE_PUT_WORKER:
		snprintf(sfx, sizeof sfx, "worker/%010" PRIu32, op->u.worker.id);
		break;
	case STORE_PUT_LAYOUT: snprintf(sfx, sizeof sfx, "layout"); break;
	case STORE_PUT_ERA:
	case STORE_TRIM_ERAS: /* a trim deletes the eras below this key */
		return history_key(prefix, op->u.era.seq, buf, cap);
	case STORE_SET_TERM: snprintf(sfx, sizeof sfx, "term"); break;
	default: return SR_EINVAL;
	}
	return etcd_key(prefix, sfx, buf, cap);
}

/* True when a and b write the same key (op_key), compared without
 * formatting either key. A trim of the history is a range, not a row:
 * supersedes() handles it. */
static bool
same_row(const struct store_op *a, const struct store_op *b)
{
	bool aseq = a->kind == STORE_PUT_SEQ || a->kind == STORE_DEL_SEQ;
	bool anode = a->kind == STORE_PUT_NODE || a->kind == STORE_DEL_NODE;
	if (aseq)
		return (b->kind == STORE_PUT_SEQ || b->kind == STORE_DEL_SEQ) &&
		    strcmp(a->u.seq.name, b->u.seq.name) == 0;
	if (anode)
		return (b->kind == STORE_PUT_NODE || b->kind == STORE_DEL_NODE) &&
		    a->u.node.id == b->u.node.id;
	if (a->kind == STORE_PUT_WORKER)
		return b->kind == STORE_PUT_WORKER && a->u.worker.id == b->u.worker.id;
	if (a->kind == STORE_PUT_ERA)
		return b->kind == STORE_PUT_ERA && a->u.era.seq == b->u.era.seq;
	if (a->kind == STORE_SET_TERM)
		return b->kind == STORE_SET_TERM;
	return a->kind == STORE_PUT_LAYOUT && b->kind == STORE_PUT_LAYOUT;
}

/* True when later, an op after earlier in one commit, leaves nothing of
 * what earlier writes: it writes the same key, or it is a trim of the
 * history whose range covers earlier's era. */
static bool
supersedes(const struct store_op *later, const struct store_op *earlier)
{
	if (earlier->kind == STORE_PUT_ERA && later->kind == STORE_TRIM_ERAS)
		return earlier->u.era.seq < later->u.era.seq;
	return same_row(earlier, later);
}

/* ---- row values ---- */

static bool
terminated(const char *buf, size_t cap)
{
	return memchr(buf, '\0', cap) != NULL;
}

/* What store_sqlite.c's check_op refuses, refused here too: a row that
 * could not be read back unchanged. */
static int
check_op(size_t i, const struct store_op *op, char *errbuf, size_t errlen)
{
	const struct store_seq *q = &op->u.seq;
	const struct store_node *nd = &op->u.node;

	switch (op->kind) {
	case STORE_PUT_SEQ:
	case STORE_DEL_SEQ:
		if (!terminated(q->name, sizeof q->name) || !sr_name_valid(q->name))
			return errf(errbuf, errlen, SR_EINVAL, "op %zu: bad sequence name", i);
		if (op->kind == STORE_PUT_SEQ &&
		    (q->start > INT64_MAX || q->hwm > INT64_MAX || q->chunk > INT64_MAX ||
		        q->min_chunk > INT64_MAX || q->max_chunk > INT64_MAX ||
		        q->max_value > INT64_MAX))
			return errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: sequence %s: a value is 2^63 or more", i, q->name);
		return SR_OK;
	case STORE_PUT_NODE:
		if (!terminated(nd->name, sizeof nd->name) || !terminated(nd->url, sizeof nd->url))
			return errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: node name or url not terminated", i);
		/* fallthrough */
	case STORE_DEL_NODE:
		if (nd->id > INT64_MAX)
			return errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: node id %" PRIu64 " is 2^63 or more", i, nd->id);
		return SR_OK;
	case STORE_PUT_WORKER:
		if (op->u.worker.node_id > INT64_MAX || op->u.worker.last_tick > INT64_MAX)
			return errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: worker %u: value is 2^63 or more", i, op->u.worker.id);
		return SR_OK;
	case STORE_PUT_LAYOUT: return SR_OK;
	case STORE_PUT_ERA:
		if (!terminated(op->u.era.name, sizeof op->u.era.name))
			return errf(errbuf, errlen, SR_EINVAL, "op %zu: era name not terminated",
			    i);
		/* fallthrough */
	case STORE_TRIM_ERAS:
		if (op->u.era.seq > INT64_MAX || op->u.era.node_id > INT64_MAX ||
		    op->u.era.floor_tick > INT64_MAX)
			return errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: era %" PRIu64 ": value is 2^63 or more", i, op->u.era.seq);
		return SR_OK;
	case STORE_SET_TERM:
		if (op->u.term > INT64_MAX)
			return errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: term %" PRIu64 " is 2^63 or more", i, op->u.term);
		return SR_OK;
	}
	return errf(errbuf, errlen, SR_EINVAL, "op %zu: unknown kind %d", i, (int) op->kind);
}

static json_t *
row_json(const struct store_op *op)
{
	const struct store_seq *q = &op->u.seq;
	const struct store_node *nd = &op->u.node;
	const struct store_worker *w = &op->u.worker;
	const sr_flake_layout *l = &op->u.layout;
	const struct store_era *e = &op->u.era;

	switch (op->kind) {
	case STORE_PUT_SEQ:
		return json_pack("{sIsIsIsIsIsIsIsIsIsI}", "start", (json_int_t) q->start, "hwm",
		    (json_int_t) q->hwm, "chunk", (json_int_t) q->chunk, "min_chunk",
		    (json_int_t) q->min_chunk, "max_chunk", (json_int_t) q->max_chunk, "max_value",
		    (json_int_t) q->max_value, "spare", (json_int_t) q->spare, "mode",
		    (json_int_t) q->mode, "dropped", (json_int_t) q->dropped, "prefetch",
		    (json_int_t) q->prefetch);
	case STORE_PUT_NODE:
		return json_pack("{sssssIsI}", "name", nd->name, "url", nd->url, "last_seen_ms",
		    (json_int_t) nd->last_seen_ms, "left", (json_int_t) nd->left);
	case STORE_PUT_WORKER:
		return json_pack("{sIsIsI}", "node_id", (json_int_t) w->node_id, "expires_ms",
		    (json_int_t) w->expires_ms, "last_tick", (json_int_t) w->last_tick);
	case STORE_PUT_LAYOUT:
		return json_pack("{sIsIsIsIsI}", "time_bits", (json_int_t) l->time_bits,
		    "worker_bits", (json_int_t) l->worker_bits, "seq_bits",
		    (json_int_t) l->seq_bits, "unit_ms", (json_int_t) l->unit_ms, "epoch_ms",
		    (json_int_t) l->epoch_ms);
	case STORE_PUT_ERA:
		return json_pack("{sIsIsIsIss}", "worker", (json_int_t) e->worker, "node_id",
		    (json_int_t) e->node_id, "floor_tick", (json_int_t) e->floor_tick, "granted_ms",
		    (json_int_t) e->granted_ms, "name", e->name);
	default: return NULL;
	}
}

/* ---- requests ---- */

/* {"request_put": {"key": K, "value": V}} with K, V plain strings. */
static json_t *
put_op(const char *key, const char *value)
{
	json_t *k = b64_json(key), *v = b64_json(value);
	if (k == NULL || v == NULL) {
		json_decref(k);
		json_decref(v);
		return NULL;
	}
	return json_pack("{s{soso}}", "request_put", "key", k, "value", v);
}

static json_t *
del_op(const char *key)
{
	json_t *k = b64_json(key);
	return k != NULL ? json_pack("{s{so}}", "request_delete_range", "key", k) : NULL;
}

/* Deletes every key in [from, to). */
static json_t *
del_range_op(const char *from, const char *to)
{
	json_t *k = b64_json(from), *e = b64_json(to);
	if (k == NULL || e == NULL) {
		json_decref(k);
		json_decref(e);
		return NULL;
	}
	return json_pack("{s{soso}}", "request_delete_range", "key", k, "range_end", e);
}

json_t *
etcd_range_req(const char *key, int prefix_range)
{
	json_t *k = b64_json(key);
	if (k == NULL)
		return NULL;
	json_t *r = json_pack("{so}", "key", k);
	if (r != NULL && prefix_range) {
		char end[KEY_MAX];
		json_t *e = etcd_prefix_end(key, end, sizeof end) == SR_OK ? b64_json(end) : NULL;
		if (e == NULL || json_object_set_new(r, "range_end", e) != 0) {
			json_decref(r);
			return NULL;
		}
	}
	return r;
}

/* A compare of key's value with value. */
static json_t *
value_cmp(const char *key, const char *value)
{
	json_t *k = b64_json(key), *v = b64_json(value);
	if (k == NULL || v == NULL) {
		json_decref(k);
		json_decref(v);
		return NULL;
	}
	return json_pack("{sssssoso}", "result", "EQUAL", "target", "VALUE", "key", k, "value", v);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return (x > y) - (x < y);
}

/*
 * Appends to succ the delete ranges of the trim ops[i], which deletes every
 * era below its seq: one range from P history/ to the era at that seq, or,
 * when ops after it write eras below that seq, the ranges around them. Those
 * eras must stay (the ops apply in order), and etcd refuses a transaction
 * with a put inside one of its delete ranges, whichever comes first
 * ("duplicate key given in txn request"). The eras written before the trim
 * and covered by it are not sent at all (supersedes). SR_EINVAL for a key
 * too long, SR_ENOMEM.
 */
static int
trim_ops(const char *prefix, const struct store_op *ops, size_t i, size_t n, json_t *succ)
{
	char from[KEY_MAX], to[KEY_MAX];
	uint64_t cut = ops[i].u.era.seq;
	uint64_t *keep = malloc((n - i) * sizeof(*keep));
	size_t nk = 0;
	int rv = SR_OK;
	if (keep == NULL)
		return SR_ENOMEM;
	for (size_t j = i + 1; j < n; j++)
		if (ops[j].kind == STORE_PUT_ERA && ops[j].u.era.seq < cut)
			keep[nk++] = ops[j].u.era.seq;
	qsort(keep, nk, sizeof(*keep), cmp_u64);
	if (etcd_key(prefix, "history/", from, sizeof from) != SR_OK)
		rv = SR_EINVAL;
	/* [P history/, keep[0]), [keep[0] + 1, keep[1]), ..., [.., cut). */
	for (size_t k = 0; k <= nk && rv == SR_OK; k++) {
		uint64_t hi = k < nk ? keep[k] : cut;
		if (k > 0 && keep[k - 1] == hi)
			continue; /* the same era twice: from is past it already */
		/* Two kept eras next to each other leave no range between. */
		if (k == 0 || keep[k - 1] + 1 < hi) {
			json_t *o = NULL;
			if (history_key(prefix, hi, to, sizeof to) != SR_OK)
				rv = SR_EINVAL;
			else if ((o = del_range_op(from, to)) == NULL ||
			    json_array_append_new(succ, o) != 0)
				rv = SR_ENOMEM;
		}
		if (rv == SR_OK && k < nk &&
		    history_key(prefix, hi + 1, from, sizeof from) != SR_OK)
			rv = SR_EINVAL;
	}
	free(keep);
	return rv;
}

json_t *
etcd_txn_commit(const char *prefix, uint64_t term, const struct store_op *ops, size_t n,
    size_t max_ops, int *err, char *errbuf, size_t errlen)
{
	char key[KEY_MAX], tv[32];
	json_t *succ = NULL, *txn = NULL;

	*err = SR_ENOMEM;
	if (n > 0 && ops == NULL) {
		*err = errf(errbuf, errlen, SR_EINVAL, "commit: no ops");
		return NULL;
	}
	if (n > max_ops) {
		*err = errf(errbuf, errlen, SR_ETOOBIG,
		    "commit of %zu rows: etcd takes at most %zu operations per "
		    "transaction (raise etcd's --max-txn-ops and --etcd-max-txn-ops)",
		    n, max_ops);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((*err = check_op(i, &ops[i], errbuf, errlen)) != SR_OK)
			return NULL;
		/* A term is only ever raised (store.h). */
		if (ops[i].kind == STORE_SET_TERM && ops[i].u.term <= term) {
			*err = errf(errbuf, errlen, SR_EINVAL,
			    "op %zu: term %" PRIu64 " is not above %" PRIu64, i, ops[i].u.term,
			    term);
			return NULL;
		}
	}
	snprintf(tv, sizeof tv, "%" PRIu64, term);
	if (etcd_key(prefix, "term", key, sizeof key) != SR_OK) {
		*err = errf(errbuf, errlen, SR_EINVAL, "prefix too long");
		return NULL;
	}
	json_t *cmp = value_cmp(key, tv);
	json_t *fail = json_array();
	json_t *rr = etcd_range_req(key, 0);
	if (cmp == NULL || fail == NULL || rr == NULL ||
	    json_array_append_new(fail, json_pack("{so}", "request_range", rr)) != 0) {
		json_decref(cmp);
		json_decref(fail);
		(void) errf(errbuf, errlen, SR_ENOMEM, "out of memory");
		return NULL;
	}
	succ = json_array();
	txn = json_pack("{s[o]soso}", "compare", cmp, "success", succ, "failure", fail);
	if (txn == NULL) {
		(void) errf(errbuf, errlen, SR_ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = NULL;
		/* The ops apply in order (store.h), so a later op on the same
		 * key supersedes this one, as in SQLite. etcd refuses a
		 * transaction naming a key twice ("duplicate key given in txn
		 * request"): the heartbeat that stores a lapsed grant and
		 * grants the same worker id again failed that way on every
		 * beat, and its coordinator never got txids back
		 * (docs/reliability.md). */
		bool superseded = false;
		for (size_t j = i + 1; j < n && !superseded; j++)
			superseded = supersedes(&ops[j], &ops[i]);
		if (superseded)
			continue;
		if (op_key(prefix, &ops[i], key, sizeof key) != SR_OK) {
			*err = errf(errbuf, errlen, SR_EINVAL, "op %zu: key too long", i);
			json_decref(txn);
			return NULL;
		}
		if (ops[i].kind == STORE_DEL_SEQ || ops[i].kind == STORE_DEL_NODE) {
			o = del_op(key);
		} else if (ops[i].kind == STORE_TRIM_ERAS) {
			int trv = trim_ops(prefix, ops, i, n, succ);
			if (trv != SR_OK) {
				*err = trv == SR_ENOMEM
				    ? errf(errbuf, errlen, SR_ENOMEM, "out of memory")
				    : errf(errbuf, errlen, SR_EINVAL, "op %zu: key too long", i);
				json_decref(txn);
				return NULL;
			}
			continue;
		} else if (ops[i].kind == STORE_SET_TERM) {
			/* The term is a bare decimal, as etcd_txn_acquire writes it. */
			char nv[32];
			snprintf(nv, sizeof nv, "%" PRIu64, ops[i].u.term);
			o = put_op(key, nv);
		} else {
			json_t *row = row_json(&ops[i]);
			char *v = row != NULL ? json_dumps(row, JSON_COMPACT) : NULL;
			json_decref(row);
			o = v != NULL ? put_op(key, v) : NULL;
			free(v);
		}
		if (o == NULL || json_array_append_new(succ, o) != 0) {
			(void) errf(errbuf, errlen, SR_ENOMEM, "out of memory");
			json_decref(txn);
			return NULL;
		}
	}
	/* A trim split around the eras written after it can make more
	 * operations than ops. */
	if (json_array_size(succ) > max_ops) {
		*err = errf(errbuf, errlen, SR_ETOOBIG,
		    "commit of %zu rows makes %zu etcd operations: etcd takes at most %zu per "
		    "transaction (raise etcd's --max-txn-ops and --etcd-max-txn-ops)",
		    n, json_array_size(succ), max_ops);
		json_decref(txn);
		return NULL;
	}
	*err = SR_OK;
	return txn;
}

json_t *
etcd_txn_campaign(const char *prefix, const char *url, int64_t lease)
{
	char key[KEY_MAX], ls[32];
	if (etcd_key(prefix, "leader", key, sizeof key) != SR_OK)
		return NULL;
	snprintf(ls, sizeof ls, "%" PRId64, lease);
	json_t *k = b64_json(key);
	json_t *put = put_op(key, url);
	json_t *rr = etcd_range_req(key, 0);
	if (k == NULL || put == NULL || rr == NULL ||
	    json_object_set_new(json_object_get(put, "request_put"), "lease", json_string(ls)) !=
	        0) {
		json_decref(k);
		json_decref(put);
		json_decref(rr);
		return NULL;
	}
	/* A key that does not exist has create_revision 0. */
	return json_pack("{s[{sssssoss}]s[o]s[{so}]}", "compare", "result", "EQUAL", "target",
	    "CREATE", "key", k, "create_revision", "0", "success", put, "failure", "request_range",
	    rr);
}

json_t *
etcd_txn_acquire(const char *prefix, int has_cur, uint64_t cur)
{
	char key[KEY_MAX], tv[32], next[32];
	json_t *cmp, *k;

	if (etcd_key(prefix, "term", key, sizeof key) != SR_OK)
		return NULL;
	snprintf(tv, sizeof tv, "%" PRIu64, cur);
	snprintf(next, sizeof next, "%" PRIu64, cur + 1);
	if (has_cur)
		cmp = value_cmp(key, tv);
	else if ((k = b64_json(key)) != NULL)
		/* A key that never existed has create_revision 0. */
		cmp = json_pack("{sssssoss}", "result", "EQUAL", "target", "CREATE", "key", k,
		    "create_revision", "0");
	else
		cmp = NULL;
	json_t *put = put_op(key, next);
	json_t *all = etcd_range_req(prefix, 1);
	if (cmp == NULL || put == NULL || all == NULL) {
		json_decref(cmp);
		json_decref(put);
		json_decref(all);
		return NULL;
	}
	return json_pack("{s[o]s[o{so}]}", "compare", cmp, "success", put, "request_range", all);
}

/* ---- replies ---- */

int
etcd_reply_error(const json_t *reply, char *errbuf, size_t errlen)
{
	const json_t *e = json_object_get(reply, "error");
	if (e == NULL)
		return SR_OK;
	const char *msg = json_string_value(json_object_get(reply, "message"));
	if (msg == NULL)
		msg = json_is_string(e) ? json_string_value(e) : "unknown error";
	return errf(errbuf, errlen, SR_EIO, "etcd: %s", msg);
}

int
etcd_get_i64(const json_t *obj, const char *field, int64_t *out)
{
	const json_t *v = json_object_get(obj, field);
	*out = 0;
	if (v == NULL)
		return SR_OK;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return SR_OK;
	}
	const char *s = json_string_value(v);
	if (s == NULL || s[0] == '\0')
		return SR_EPROTO;
	uint64_t u;
	if (s[0] == '-') {
		if (!sr_parse_u64(s + 1, &u) || u > (uint64_t) INT64_MAX + 1)
			return SR_EPROTO;
		*out = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
		return SR_OK;
	}
	if (!sr_parse_u64(s, &u) || u > INT64_MAX)
		return SR_EPROTO;
	*out = (int64_t) u;
	return SR_OK;
}

int
etcd_txn_succeeded(const json_t *reply)
{
	return json_is_true(json_object_get(reply, "succeeded"));
}

const json_t *
etcd_reply_kvs(const json_t *reply, int idx)
{
	static json_t *empty; /* never freed: one per process */
	const json_t *r = reply;
	if (idx >= 0) {
		const json_t *rs = json_object_get(reply, "responses");
		r = json_object_get(json_array_get(rs, (size_t) idx), "response_range");
	}
	const json_t *kvs = json_object_get(r, "kvs");
	if (json_is_array(kvs))
		return kvs;
	if (empty == NULL)
		empty = json_array();
	return empty;
}

/* Decodes kv's field (base64) into buf[cap] as a NUL-terminated string. */
static int
kv_field(const json_t *kv, const char *field, char *buf, size_t cap)
{
	const char *s = json_string_value(json_object_get(kv, field));
	size_t n;
	if (s == NULL) { /* an empty value is left out */
		buf[0] = '\0';
		return SR_OK;
	}
	if (cap == 0 || etcd_b64_decode(s, (unsigned char *) buf, cap - 1, &n) != SR_OK ||
	    memchr(buf, '\0', n) != NULL)
		return SR_EPROTO;
	buf[n] = '\0';
	return SR_OK;
}

int
etcd_kv_value(const json_t *kvs, char *buf, size_t cap, int *found)
{
	const json_t *kv = json_array_get(kvs, 0);
	*found = kv != NULL;
	buf[0] = '\0';
	return kv != NULL ? kv_field(kv, "value", buf, cap) : SR_OK;
}

int
etcd_parse_term(const char *v, uint64_t *term, char *errbuf, size_t errlen)
{
	if (!sr_parse_u64(v, term) || *term >= INT64_MAX)
		return errf(errbuf, errlen, SR_EPROTO, "stored term '%.40s' is not a term", v);
	return SR_OK;
}

/* Reads a non-negative member of at most max; false if absent or bad. */
static bool
get_u(const json_t *o, const char *f, uint64_t max, uint64_t *v)
{
	const json_t *j = json_object_get(o, f);
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    (uint64_t) json_integer_value(j) > max)
		return false;
	*v = (uint64_t) json_integer_value(j);
	return true;
}

static bool
get_u32(const json_t *o, const char *f, uint32_t *v)
{
	uint64_t x;
	if (!get_u(o, f, UINT32_MAX, &x))
		return false;
	*v = (uint32_t) x;
	return true;
}

static bool
get_i(const json_t *o, const char *f, int64_t *v)
{
	const json_t *j = json_object_get(o, f);
	if (!json_is_integer(j))
		return false;
	*v = json_integer_value(j);
	return true;
}

static bool
get_str(const json_t *o, const char *f, char *buf, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, f));
	size_t n = s != NULL ? strlen(s) : cap;
	if (n >= cap)
		return false;
	memcpy(buf, s, n + 1);
	return true;
}

/* Appends one zeroed elem-sized row to *arr (n rows, cap of them). */
static void *
grow(void **arr, size_t *n, size_t *cap, size_t elem)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *p = nc <= SIZE_MAX / elem ? realloc(*arr, nc * elem) : NULL;
		if (p == NULL)
			return NULL;
		*arr = p;
		*cap = nc;
	}
	void *row = (unsigned char *) *arr + (*n)++ * elem;
	memset(row, 0, elem);
	return row;
}

static bool
parse_id(const char *s, size_t digits, uint64_t max, uint64_t *v)
{
	return strlen(s) == digits && sr_parse_u64(s, v) && *v <= max;
}

int
etcd_decode_state(const char *prefix, const json_t *kvs, struct store_state *out, char *errbuf,
    size_t errlen)
{
	size_t plen = strlen(prefix);
	size_t capq = 0, capn = 0, capw = 0, cape = 0;
	size_t i;
	const json_t *kv;

	json_array_foreach(kvs, i, kv)
	{
		char key[KEY_MAX];
		char *val = NULL;
		const char *vs = json_string_value(json_object_get(kv, "value"));
		size_t vcap = vs != NULL ? strlen(vs) : 1;
		int rv = SR_OK;
		if (kv_field(kv, "key", key, sizeof key) != SR_OK ||
		    strncmp(key, prefix, plen) != 0)
			return errf(errbuf, errlen, SR_EIO, "etcd: a key under %s is not ours",
			    prefix);
		const char *k = key + plen;
		if (strcmp(k, "leader") == 0)
			continue;
		if (strcmp(k, "term") == 0) {
			char v[64];
			if (kv_field(kv, "value", v, sizeof v) != SR_OK ||
			    etcd_parse_term(v, &out->term, errbuf, errlen) != SR_OK)
				return errf(errbuf, errlen, SR_EIO, "etcd: %s holds no term", key);
			continue;
		}
		if ((val = malloc(vcap + 1)) == NULL)
			return errf(errbuf, errlen, SR_ENOMEM, "out of memory");
		json_t *o = NULL;
		if (kv_field(kv, "value", val, vcap + 1) == SR_OK)
			o = json_loads(val, 0, NULL);
		free(val);
		bool ok = json_is_object(o);
		uint64_t id = 0;
		if (ok && strncmp(k, "seq/", 4) == 0) {
			struct store_seq *q =
			    grow((void **) &out->seqs, &out->nseqs, &capq, sizeof *q);
			if (q == NULL)
				rv = SR_ENOMEM;
			else
				ok = strlen(k + 4) <= STORE_NAME_MAX && sr_name_valid(k + 4) &&
				    get_u(o, "start", INT64_MAX, &q->start) &&
				    get_u(o, "hwm", INT64_MAX, &q->hwm) &&
				    get_u(o, "chunk", INT64_MAX, &q->chunk) &&
				    get_u(o, "min_chunk", INT64_MAX, &q->min_chunk) &&
				    get_u(o, "max_chunk", INT64_MAX, &q->max_chunk) &&
				    get_u(o, "max_value", INT64_MAX, &q->max_value) &&
				    get_u32(o, "spare", &q->spare) &&
				    get_u32(o, "mode", &q->mode) &&
				    get_u32(o, "dropped", &q->dropped) &&
				    get_u32(o, "prefetch", &q->prefetch);
			if (q != NULL && ok)
				snprintf(q->name, sizeof q->name, "%s", k + 4);
		} else if (ok && strncmp(k, "node/", 5) == 0) {
			struct store_node *nd =
			    grow((void **) &out->nodes, &out->nnodes, &capn, sizeof *nd);
			if (nd == NULL)
				rv = SR_ENOMEM;
			else
				ok = parse_id(k + 5, 20, INT64_MAX, &id) &&
				    get_str(o, "name", nd->name, sizeof nd->name) &&
				    get_str(o, "url", nd->url, sizeof nd->url) &&
				    get_i(o, "last_seen_ms", &nd->last_seen_ms) &&
				    get_u32(o, "left", &nd->left);
			if (nd != NULL)
				nd->id = id;
		} else if (ok && strncmp(k, "worker/", 7) == 0) {
			struct store_worker *w =
			    grow((void **) &out->workers, &out->nworkers, &capw, sizeof *w);
			if (w == NULL)
				rv = SR_ENOMEM;
			else
				ok = parse_id(k + 7, 10, UINT32_MAX, &id) &&
				    get_u(o, "node_id", INT64_MAX, &w->node_id) &&
				    get_i(o, "expires_ms", &w->expires_ms) &&
				    get_u(o, "last_tick", INT64_MAX, &w->last_tick);
			if (w != NULL)
				w->id = (uint32_t) id;
		} else if (ok && strncmp(k, "history/", 8) == 0) {
			struct store_era *e =
			    grow((void **) &out->eras, &out->neras, &cape, sizeof *e);
			if (e == NULL)
				rv = SR_ENOMEM;
			else
				ok = parse_id(k + 8, 20, INT64_MAX, &e->seq) &&
				    get_u32(o, "worker", &e->worker) &&
				    get_u(o, "node_id", INT64_MAX, &e->node_id) &&
				    get_u(o, "floor_tick", INT64_MAX, &e->floor_tick) &&
				    get_i(o, "granted_ms", &e->granted_ms) &&
				    get_str(o, "name", e->name, sizeof e->name);
		} else if (ok && strcmp(k, "layout") == 0) {
			sr_flake_layout *l = &out->layout;
			ok = get_u32(o, "time_bits", &l->time_bits) &&
			    get_u32(o, "worker_bits", &l->worker_bits) &&
			    get_u32(o, "seq_bits", &l->seq_bits) &&
			    get_u32(o, "unit_ms", &l->unit_ms) &&
			    get_i(o, "epoch_ms", &l->epoch_ms);
		} else {
			ok = false;
		}
		json_decref(o);
		if (rv != SR_OK)
			return errf(errbuf, errlen, rv, "out of memory");
		if (!ok)
			return errf(errbuf, errlen, SR_EIO,
			    "etcd: key %.200s holds a value this master did not write", key);
	}
	return SR_OK;
}
