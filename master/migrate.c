/*
 * `snowrange-master migrate`: one store's whole state copied into another
 * (migrate.h gives the rules and why). Only the store interface is used, so
 * every backend pair works and every field of the state comes along: what
 * is copied is what store_state_ops() turns the loaded state into.
 */
#include "migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_codec.h"
#include "snowrange/error.h"
#include "util.h"

#define errf SR_ERRF

/* "3 sequences, 2 nodes, 2 worker grants, 2 history entries and a
 * Snowflake layout", for messages. */
static void
describe(const struct store_state *s, char *buf, size_t len)
{
	snprintf(buf, len, "%zu sequences, %zu nodes, %zu worker grants, %zu history entries%s",
	    s->nseqs, s->nnodes, s->nworkers, s->neras,
	    store_layout_set(&s->layout) ? " and a Snowflake layout" : "");
}

static int
dst_not_empty(const struct store_state *d, char *errbuf, size_t errlen)
{
	char what[160];
	describe(d, what, sizeof what);
	return errf(errbuf, errlen, SR_EEXISTS,
	    "the destination is not empty (it holds %s): migrate writes only into an empty "
	    "store; clear it first if it holds nothing you need (docs/ha.md)",
	    what);
}

/* Writes ops[0..n) and then the term in commits of at most batch ops, the
 * last one full so that it holds the layout and the term together. */
static int
write_all(struct store *dst, uint64_t term, struct store_op *ops, size_t n, size_t batch,
    struct migrate_result *res, char *errbuf, size_t errlen)
{
	size_t ncommits = n / batch + (n % batch != 0); /* batch may be SIZE_MAX */
	size_t first = n - (ncommits - 1) * batch;
	for (size_t at = 0, len = first; at < n; at += len, len = batch) {
		int rv = store_commit(dst, term, ops + at, len);
		if (rv != SR_OK) {
			res->partial = res->commits > 0;
			return errf(errbuf, errlen, rv,
			    "destination: commit %zu of %zu failed: %s%s", res->commits + 1,
			    ncommits, store_errmsg(dst),
			    res->partial ? "; the destination holds part of the copy: clear it "
			                   "before trying again, and start no master on it"
			                 : "; nothing was written");
		}
		res->commits++;
	}
	return SR_OK;
}

int
migrate_copy(struct store *src, struct store *dst, size_t batch, struct migrate_result *res,
    char *errbuf, size_t errlen)
{
	struct store_state s = {0}, d = {0}, check = {0};
	struct store_op *ops = NULL;
	size_t n = 0;
	char why[256];
	int rv;

	memset(res, 0, sizeof(*res));
	if (batch < 2)
		return errf(errbuf, errlen, SR_EINVAL,
		    "a batch of %zu ops cannot hold the layout and the term", batch);
	/* 1. A read only, so that a refused destination is left untouched. */
	if ((rv = store_load(dst, &d)) != SR_OK)
		return errf(errbuf, errlen, rv, "destination: %s", store_errmsg(dst));
	if (!store_state_empty(&d)) {
		rv = dst_not_empty(&d, errbuf, errlen);
		goto out;
	}
	store_state_free(&d);

	/* 2. The source's term first, then its rows (store.h). */
	if ((rv = store_acquire_and_load(src, &s)) != SR_OK) {
		rv = errf(errbuf, errlen, rv, "source: %s", store_errmsg(src));
		goto out;
	}
	res->src_term = s.term;
	if (store_state_empty(&s)) {
		rv = errf(errbuf, errlen, SR_ENOTFOUND,
		    "the source holds no state (no sequence, node, worker grant or layout): "
		    "nothing to migrate; is it the store the master ran on?");
		goto out;
	}

	/* 3. The destination's term, empty still (a master may have started
	 * on it since the check), then the rows, then the term. */
	if ((rv = store_acquire_and_load(dst, &d)) != SR_OK) {
		rv = errf(errbuf, errlen, rv, "destination: %s", store_errmsg(dst));
		goto out;
	}
	if (!store_state_empty(&d)) {
		rv = dst_not_empty(&d, errbuf, errlen);
		goto out;
	}
	uint64_t term = (s.term > d.term ? s.term : d.term) + 1;
	if ((rv = store_state_ops(&s, &ops, &n)) != SR_OK) {
		rv = errf(errbuf, errlen, rv, "out of memory");
		goto out;
	}
	struct store_op *grown = realloc(ops, (n + 1) * sizeof(*ops));
	if (grown == NULL) {
		rv = errf(errbuf, errlen, SR_ENOMEM, "out of memory");
		goto out;
	}
	ops = grown;
	ops[n++] = (struct store_op) {.kind = STORE_SET_TERM, .u.term = term};
	if ((rv = write_all(dst, d.term, ops, n, batch, res, errbuf, errlen)) != SR_OK)
		goto out;
	res->partial = 1; /* until it reads back whole */

	/* 4. Nobody took the source meanwhile, and the copy reads back. */
	if ((rv = store_load(src, &check)) != SR_OK) {
		rv = errf(errbuf, errlen, rv, "source, read again: %s", store_errmsg(src));
		goto out;
	}
	if (check.term != s.term) {
		rv = errf(errbuf, errlen, SR_ESTALE,
		    "a master took the source's term during the migration (%" PRIu64
		    " became %" PRIu64 ") and may have committed after the copy: stop every "
		    "master on the source, clear the destination and migrate again",
		    s.term, check.term);
		goto out;
	}
	store_state_free(&check);
	if ((rv = store_load(dst, &check)) != SR_OK) {
		rv = errf(errbuf, errlen, rv, "destination, read back: %s", store_errmsg(dst));
		goto out;
	}
	if (!store_state_equal(&s, &check, why, sizeof why) || check.term != term) {
		rv = errf(errbuf, errlen, SR_EIO,
		    "the destination reads back differently from the source (%s, term %" PRIu64
		    " against %" PRIu64 "): clear it and start no master on it",
		    check.term != term ? "the term differs" : why, check.term, term);
		goto out;
	}
	res->partial = 0;
	res->dst_term = term;
	res->nseqs = s.nseqs;
	res->nnodes = s.nnodes;
	res->nworkers = s.nworkers;
	res->neras = s.neras;
	res->layout = s.layout;
	rv = SR_OK;
out:
	free(ops);
	store_state_free(&s);
	store_state_free(&d);
	store_state_free(&check);
	return rv;
}

int
migrate_parse_url(const char *url, enum migrate_kind *kind, const char **dir, char *errbuf,
    size_t errlen)
{
	*dir = NULL;
	if (strncmp(url, "etcd://", 7) == 0) {
		char eps[ETCD_ENDPOINTS_MAX], prefix[ETCD_PREFIX_MAX], why[256];
		if (etcd_url_parse(url, eps, sizeof eps, prefix, sizeof prefix, why, sizeof why) !=
		    SR_OK)
			return errf(errbuf, errlen, SR_EINVAL, "%s", why);
		*kind = MIGRATE_ETCD;
		return SR_OK;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		const char *p = url + 7;
		/* sqlite:///var/lib/snowrange reads as the path /var/lib/snowrange */
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (p[0] == '\0')
			return errf(errbuf, errlen, SR_EINVAL,
			    "'%.100s': no directory after sqlite: (sqlite:DIR, the master's "
			    "--data-dir)",
			    url);
		*kind = MIGRATE_SQLITE;
		*dir = p;
		return SR_OK;
	}
	return errf(errbuf, errlen, SR_EINVAL,
	    "'%.100s' is not a store URL: expected sqlite:DIR (a --data-dir) or "
	    "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
	    url);
}
