/*
 * The remote client (snowrange/client.h): one wire_chan per handle, one
 * wire_call per function. Every function builds a Request with the right
 * body, lets wire_call check the envelope, then copies the reply into the
 * public structs, so no protobuf-c or nng type leaves this file.
 *
 * Arguments the peer would reject anyway (a bad name, a count out of range)
 * are rejected here first with SR_EINVAL: it saves a round trip and gives the
 * caller a message even when the peer is down.
 */
#include "snowrange/client.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "segment.h"
#include "util.h"
#include "wire.h"

struct sr_client {
	struct wire_chan *ch;
	struct creds *creds; /* outlives ch */
	/* The last failure's message belongs to the handle, not to a thread:
	 * when two calls on one handle fail at the same time, the later one
	 * overwrites the earlier one's message. The mutex only keeps the two
	 * writes from interleaving; a caller that needs the message of its own
	 * failure must not share the handle with threads that may fail too.
	 * Successful calls leave the message alone, so the fast path takes no
	 * lock. */
	pthread_mutex_t mu;
	char errmsg[WIRE_ERRMSG_MAX];
};

/* Records msg as the handle's last error and returns err, so that failure
 * paths read "return fail(cl, SR_EINVAL, ...)". */
static int
fail(sr_client *cl, int err, const char *f, ...)
{
	char buf[WIRE_ERRMSG_MAX];
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	pthread_mutex_lock(&cl->mu);
	sr_strlcpy(cl->errmsg, buf, sizeof(cl->errmsg));
	pthread_mutex_unlock(&cl->mu);
	return err;
}

/* One round trip: on failure the transport's or the peer's message becomes
 * the handle's last error. */
static int
call(sr_client *cl, Sr__Request *req, Sr__Response **resp)
{
	char errbuf[WIRE_ERRMSG_MAX] = "";
	int rv = wire_call(cl->ch, req, resp, errbuf, sizeof(errbuf));
	if (rv != SR_OK)
		return fail(cl, rv, "%s", errbuf[0] ? errbuf : sr_strerror(rv));
	return SR_OK;
}

/* Copies a string from the wire; protobuf-c gives NULL for nothing only in
 * hand-built messages, but a missing string must never crash us. */
static void
copy_str(char *dst, const char *src, size_t dstlen)
{
	sr_strlcpy(dst, src != NULL ? src : "", dstlen);
}

static void
seq_info_copy(sr_seq_info *dst, const Sr__SeqInfo *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src == NULL)
		return;
	copy_str(dst->name, src->name, sizeof(dst->name));
	dst->start = src->start;
	dst->hwm = src->hwm;
	dst->chunk_size = src->chunk_size;
	dst->max_value = src->max_value;
	dst->min_chunk = src->min_chunk;
	dst->max_chunk = src->max_chunk;
	dst->spare_chunks = src->spare_chunks;
	dst->users = src->users;
	dst->block = src->mode == 1;
	dst->no_prefetch = src->no_prefetch;
}

/* ---- lifetime ---- */

int
sr_client_open(const char *url, int timeout_ms, sr_client **out)
{
	return sr_client_open_with(url, timeout_ms, NULL, out, NULL, 0);
}

int
sr_client_open_with(const char *url, int timeout_ms, const sr_credentials *cred, sr_client **out,
    char *errbuf, size_t errlen)
{
	if (out == NULL)
		return SR_EINVAL;
	*out = NULL;
	if (url == NULL || url[0] == '\0' || timeout_ms <= 0) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "a URL and a positive timeout are required");
		return SR_EINVAL;
	}
	sr_client *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return SR_ENOMEM;
	if (pthread_mutex_init(&cl->mu, NULL) != 0) {
		free(cl);
		return SR_ENOMEM;
	}
	/* A client is an operator or an application: every role but a
	 * node's, which only a coordinator uses for itself. */
	int rv = creds_load(cred, &cl->creds, errbuf, errlen);
	if (rv == SR_OK)
		rv = wire_chan_open_creds(url, timeout_ms, cl->creds,
		    CREDS_ADMIN | CREDS_READER | CREDS_CLIENT, NULL, &cl->ch, errbuf, errlen);
	if (rv != SR_OK) {
		creds_free(cl->creds);
		pthread_mutex_destroy(&cl->mu);
		free(cl);
		return rv;
	}
	*out = cl;
	return SR_OK;
}

void
sr_client_close(sr_client *cl)
{
	if (cl == NULL)
		return;
	wire_chan_close(cl->ch);
	creds_free(cl->creds);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

const char *
sr_client_errmsg(sr_client *cl)
{
	if (cl == NULL)
		return "no client handle";
	return cl->errmsg;
}

/* ---- coordinator ---- */

/* The checks NextIds and NextTxids share. */
static int
check_count(sr_client *cl, const uint64_t *out, uint32_t count)
{
	if (out == NULL)
		return fail(cl, SR_EINVAL, "no output buffer");
	if (count < 1 || count > WIRE_MAX_COUNT)
		return fail(cl, SR_EINVAL, "count %u out of range 1..%u", count, WIRE_MAX_COUNT);
	return SR_OK;
}

/* Copies a reply's ids into out and frees the reply. A short or long reply
 * would leave the caller's buffer half filled or overrun it: the peer is
 * broken, say so. */
static int
take_ids(sr_client *cl, Sr__Response *resp, const uint64_t *ids, size_t n, uint32_t count,
    uint64_t *out, const char *node_name, char node[65])
{
	int rv = SR_OK;
	if (n != count) {
		rv = fail(cl, SR_EPROTO, "asked for %u ids, got %zu", count, n);
	} else {
		memcpy(out, ids, (size_t) count * sizeof(uint64_t));
		if (node != NULL)
			copy_str(node, node_name, 65);
	}
	wire_response_free(resp);
	return rv;
}

int
sr_client_next_ids(sr_client *cl, const char *seq, uint32_t count, uint64_t *out, char node[65])
{
	if (cl == NULL)
		return SR_EINVAL;
	int rv = check_count(cl, out, count);
	if (rv != SR_OK)
		return rv;
	if (!sr_name_valid(seq))
		return fail(cl, SR_EINVAL, "invalid sequence name (expected [a-z0-9_.-]{1,64})");

	Sr__Request req = SR__REQUEST__INIT;
	Sr__NextIdsRequest body = SR__NEXT_IDS_REQUEST__INIT;
	body.sequence = (char *) seq;
	body.count = count;
	req.body_case = SR__REQUEST__BODY_NEXT_IDS;
	req.next_ids = &body;
	Sr__Response *resp;
	if ((rv = call(cl, &req, &resp)) != SR_OK)
		return rv;
	const Sr__NextIdsResponse *r = resp->next_ids;
	return take_ids(cl, resp, r ? r->ids : NULL, r ? r->n_ids : 0, count, out,
	    r ? r->node_name : NULL, node);
}

/* Checks a segments reply and copies it into segs. The peer is trusted with
 * nothing: the segments must be well formed, ascending and add up to count,
 * or the caller would hand out IDs nobody issued. */
static int
take_segments(sr_client *cl, const Sr__NextIdsResponse *r, uint32_t count, sr_id_segment *segs,
    size_t max_segs, size_t *nsegs)
{
	size_t n = r->n_segments;
	if (n > max_segs)
		return fail(cl, SR_ETOOBIG, "the reply has %zu segments, room for %zu", n,
		    max_segs);
	for (size_t i = 0; i < n; i++) {
		const Sr__IdSegment *g = r->segments[i];
		if (g == NULL)
			return fail(cl, SR_EPROTO, "segment %zu missing from the reply", i);
		segs[i] = (sr_id_segment) {g->first, g->step, g->count};
	}
	uint64_t total = 0;
	size_t at = 0;
	enum seg_fault f = seg_check(segs, n, RANGE_ID_MAX, &total, &at);
	if (f != SEG_OK)
		return fail(cl, SR_EPROTO, "segment %zu of the reply: %s", at, seg_fault_str(f));
	if (total != count)
		return fail(cl, SR_EPROTO, "asked for %u ids, the segments hold %llu", count,
		    (unsigned long long) total);
	*nsegs = n;
	return SR_OK;
}

/* A daemon from before segments ignores the flag and sends the list: it is
 * described as segments here, so the caller sees one kind of reply. */
static int
ids_as_segments(sr_client *cl, const Sr__NextIdsResponse *r, uint32_t count, sr_id_segment *segs,
    size_t max_segs, size_t *nsegs)
{
	if (r->n_ids != count)
		return fail(cl, SR_EPROTO, "asked for %u ids, got %zu", count, r->n_ids);
	size_t n = seg_from_ids(r->ids, r->n_ids, segs, max_segs);
	if (n > max_segs)
		return fail(cl, SR_ETOOBIG, "the reply's ids need %zu segments, room for %zu", n,
		    max_segs);
	size_t at = 0;
	enum seg_fault f = seg_check(segs, n, RANGE_ID_MAX, NULL, &at);
	if (f != SEG_OK)
		return fail(cl, SR_EPROTO, "the reply's ids are not ascending from 1 (%s)",
		    seg_fault_str(f));
	*nsegs = n;
	return SR_OK;
}

int
sr_client_next_segments(sr_client *cl, const char *seq, uint32_t count, sr_id_segment *segs,
    size_t max_segs, size_t *nsegs, char node[65])
{
	if (cl == NULL)
		return SR_EINVAL;
	if (nsegs != NULL)
		*nsegs = 0;
	if (segs == NULL || max_segs == 0 || nsegs == NULL)
		return fail(cl, SR_EINVAL, "no segment buffer");
	if (count < 1 || count > SR_SEGMENT_IDS_MAX)
		return fail(cl, SR_EINVAL, "count %u out of range 1..%u", count,
		    SR_SEGMENT_IDS_MAX);
	if (!sr_name_valid(seq))
		return fail(cl, SR_EINVAL, "invalid sequence name (expected [a-z0-9_.-]{1,64})");

	Sr__Request req = SR__REQUEST__INIT;
	Sr__NextIdsRequest body = SR__NEXT_IDS_REQUEST__INIT;
	body.sequence = (char *) seq;
	body.count = count;
	body.segments = 1;
	req.body_case = SR__REQUEST__BODY_NEXT_IDS;
	req.next_ids = &body;
	Sr__Response *resp;
	int rv = call(cl, &req, &resp);
	if (rv != SR_OK)
		return rv;
	const Sr__NextIdsResponse *r = resp->next_ids;
	if (r == NULL)
		rv = fail(cl, SR_EPROTO, "NextIds reply without a body");
	else if (r->n_segments > 0 || r->n_ids == 0)
		rv = take_segments(cl, r, count, segs, max_segs, nsegs);
	else
		rv = ids_as_segments(cl, r, count, segs, max_segs, nsegs);
	if (rv == SR_OK && node != NULL)
		copy_str(node, r->node_name, 65);
	wire_response_free(resp);
	return rv;
}

int
sr_client_next_txids(sr_client *cl, uint32_t count, uint64_t *out, char node[65], uint32_t *worker)
{
	if (cl == NULL)
		return SR_EINVAL;
	int rv = check_count(cl, out, count);
	if (rv != SR_OK)
		return rv;
	Sr__Request req = SR__REQUEST__INIT;
	Sr__NextTxidsRequest body = SR__NEXT_TXIDS_REQUEST__INIT;
	body.count = count;
	req.body_case = SR__REQUEST__BODY_NEXT_TXIDS;
	req.next_txids = &body;
	Sr__Response *resp;
	if ((rv = call(cl, &req, &resp)) != SR_OK)
		return rv;
	const Sr__NextTxidsResponse *r = resp->next_txids;
	if (worker != NULL && r != NULL)
		*worker = r->worker_id;
	return take_ids(cl, resp, r ? r->txids : NULL, r ? r->n_txids : 0, count, out,
	    r ? r->node_name : NULL, node);
}

/* ---- master catalog ---- */

int
sr_client_seq_create(sr_client *cl, const sr_seq_spec *spec, sr_seq_info *info)
{
	if (cl == NULL)
		return SR_EINVAL;
	if (spec == NULL)
		return fail(cl, SR_EINVAL, "no sequence spec");
	if (!sr_name_valid(spec->name))
		return fail(cl, SR_EINVAL, "invalid sequence name (expected [a-z0-9_.-]{1,64})");

	Sr__Request req = SR__REQUEST__INIT;
	Sr__SeqCreateRequest body = SR__SEQ_CREATE_REQUEST__INIT;
	body.name = (char *) spec->name;
	body.start = spec->start;
	body.chunk_size = spec->chunk_size;
	body.max_value = spec->max_value;
	body.spare_chunks = spec->spare_chunks;
	body.mode = spec->block ? 1 : 0;
	body.min_chunk = spec->min_chunk;
	body.max_chunk = spec->max_chunk;
	body.no_prefetch = spec->no_prefetch != 0;
	req.body_case = SR__REQUEST__BODY_SEQ_CREATE;
	req.seq_create = &body;

	Sr__Response *resp;
	int rv = call(cl, &req, &resp);
	if (rv != SR_OK)
		return rv;
	if (info != NULL)
		seq_info_copy(info, resp->seq_create != NULL ? resp->seq_create->seq : NULL);
	wire_response_free(resp);
	return SR_OK;
}

int
sr_client_seq_drop(sr_client *cl, const char *name)
{
	if (cl == NULL)
		return SR_EINVAL;
	if (!sr_name_valid(name))
		return fail(cl, SR_EINVAL, "invalid sequence name (expected [a-z0-9_.-]{1,64})");

	Sr__Request req = SR__REQUEST__INIT;
	Sr__SeqDropRequest body = SR__SEQ_DROP_REQUEST__INIT;
	body.name = (char *) name;
	req.body_case = SR__REQUEST__BODY_SEQ_DROP;
	req.seq_drop = &body;

	Sr__Response *resp;
	int rv = call(cl, &req, &resp);
	if (rv != SR_OK)
		return rv;
	wire_response_free(resp);
	return SR_OK;
}

/* Appends cnt items of size sz to *v (length *n): lists arrive in pages. */
static int
append(void **v, size_t *n, size_t cnt, size_t sz)
{
	if (cnt == 0)
		return SR_OK;
	if (cnt > SIZE_MAX / sz - *n)
		return SR_ENOMEM;
	void *w = realloc(*v, (*n + cnt) * sz);
	if (w == NULL)
		return SR_ENOMEM;
	memset((char *) w + *n * sz, 0, cnt * sz);
	*v = w;
	return SR_OK;
}

/*
 * The master pages its lists (docs/protocol.md): this follows the pages until
 * the last, so callers still get everything. A cursor that does not move
 * forward would loop for ever: refused as a protocol error.
 */
int
sr_client_seq_list(sr_client *cl, sr_seq_info **out, size_t *n)
{
	if (cl == NULL)
		return SR_EINVAL;
	if (out == NULL || n == NULL)
		return fail(cl, SR_EINVAL, "no output pointers");
	*out = NULL;
	*n = 0;

	sr_seq_info *v = NULL;
	size_t cnt = 0;
	char after[65] = "";
	for (;;) {
		Sr__Request req = SR__REQUEST__INIT;
		Sr__SeqListRequest body = SR__SEQ_LIST_REQUEST__INIT;
		body.after = after;
		req.body_case = SR__REQUEST__BODY_SEQ_LIST;
		req.seq_list = &body;

		Sr__Response *resp;
		int rv = call(cl, &req, &resp);
		if (rv != SR_OK) {
			free(v);
			return rv;
		}
		const Sr__SeqListResponse *r = resp->seq_list;
		size_t k = r != NULL ? r->n_seqs : 0;
		if (append((void **) &v, &cnt, k, sizeof(*v)) != SR_OK) {
			wire_response_free(resp);
			free(v);
			return fail(cl, SR_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < k; i++)
			seq_info_copy(&v[cnt + i], r->seqs[i]);
		cnt += k;
		const char *next = r != NULL && r->next != NULL ? r->next : "";
		if (next[0] != '\0' &&
		    (strlen(next) >= sizeof(after) || strcmp(next, after) <= 0)) {
			wire_response_free(resp);
			free(v);
			return fail(cl, SR_EPROTO,
			    "sequence list: the next-page cursor does not advance");
		}
		copy_str(after, next, sizeof(after));
		wire_response_free(resp);
		if (after[0] == '\0')
			break;
	}
	*out = v;
	*n = cnt;
	return SR_OK;
}

int
sr_client_node_remove(sr_client *cl, const char *name, uint64_t node_id, uint64_t *id)
{
	if (cl == NULL)
		return SR_EINVAL;
	if (name != NULL && !sr_name_valid(name))
		return fail(cl, SR_EINVAL, "invalid node name (expected [a-z0-9_.-]{1,64})");
	if (name == NULL && node_id == 0)
		return fail(cl, SR_EINVAL, "no node name or id");
	Sr__Request req = SR__REQUEST__INIT;
	Sr__NodeRemoveRequest body = SR__NODE_REMOVE_REQUEST__INIT;
	body.name = name != NULL ? (char *) name : "";
	body.node_id = name != NULL ? 0 : node_id;
	req.body_case = SR__REQUEST__BODY_NODE_REMOVE;
	req.node_remove = &body;
	Sr__Response *resp;
	int rv = call(cl, &req, &resp);
	if (rv != SR_OK)
		return rv;
	if (id != NULL)
		*id = resp->node_remove != NULL ? resp->node_remove->node_id : 0;
	wire_response_free(resp);
	return SR_OK;
}

int
sr_client_worker_holder(sr_client *cl, uint32_t worker_id, uint64_t tick, sr_worker_holder *out)
{
	if (cl == NULL || out == NULL)
		return SR_EINVAL;
	memset(out, 0, sizeof(*out));
	Sr__Request req = SR__REQUEST__INIT;
	Sr__WorkerHolderRequest body = SR__WORKER_HOLDER_REQUEST__INIT;
	body.worker_id = worker_id;
	body.tick = tick;
	req.body_case = SR__REQUEST__BODY_WORKER_HOLDER;
	req.worker_holder = &body;
	Sr__Response *resp;
	int rv = call(cl, &req, &resp);
	if (rv != SR_OK)
		return rv;
	const Sr__WorkerHolderResponse *r = resp->worker_holder;
	if (r != NULL) {
		out->node_id = r->node_id;
		copy_str(out->name, r->name, sizeof(out->name));
		out->certain = r->certain;
		out->from_tick = r->from_tick;
		out->to_tick = r->to_tick;
	}
	wire_response_free(resp);
	return SR_OK;
}

/* ---- status ---- */

static int status_lists(sr_status *st, const Sr__StatusResponse *r);

/* A node's held summary as the master sent it; d's held fields are zero. A
 * master sending more than SR_HELD_SEQS_MAX entries has the rest left
 * out. */
static void
held_copy(sr_node_info *d, const Sr__NodeHeld *h)
{
	if (h == NULL)
		return;
	d->has_held = 1;
	d->held_at_ms = h->at_ms;
	copy_str(d->held_error, h->error, sizeof(d->held_error));
	if (h->summary == NULL) {
		if (d->held_error[0] == '\0')
			copy_str(d->held_error, "no summary", sizeof(d->held_error));
		return;
	}
	d->held_sequences = h->summary->sequences;
	d->held_chunks = h->summary->chunks;
	for (size_t i = 0; i < h->summary->n_seqs && d->nheld < SR_HELD_SEQS_MAX; i++) {
		const Sr__HeldSeq *s = h->summary->seqs[i];
		if (s == NULL)
			continue;
		sr_held_seq *o = &d->held[d->nheld++];
		copy_str(o->sequence, s->sequence, sizeof(o->sequence));
		o->chunks = s->chunks;
		o->headroom = s->headroom;
	}
}

/* Fills st's arrays from r; on ENOMEM the caller frees what was made. */
static int
status_copy(sr_status *st, const Sr__StatusResponse *r)
{
	copy_str(st->role, r->role, sizeof(st->role));
	copy_str(st->name, r->name, sizeof(st->name));
	copy_str(st->master_url, r->master_url, sizeof(st->master_url));
	st->node_id = r->node_id;
	st->term = r->term;
	if (r->layout != NULL) {
		st->has_layout = 1;
		st->layout.time_bits = r->layout->time_bits;
		st->layout.worker_bits = r->layout->worker_bits;
		st->layout.seq_bits = r->layout->seq_bits;
		st->layout.unit_ms = r->layout->unit_ms;
		st->layout.epoch_ms = r->layout->epoch_ms;
	}
	st->has_worker = r->has_worker ? 1 : 0;
	st->worker_id = r->worker_id;
	return status_lists(st, r);
}

/* Appends one page of r's lists to st's. */
static int
status_lists(sr_status *st, const Sr__StatusResponse *r)
{
	if (r->n_nodes > 0) {
		size_t base = st->nnodes;
		if (append((void **) &st->nodes, &st->nnodes, r->n_nodes, sizeof(*st->nodes)) !=
		    SR_OK)
			return SR_ENOMEM;
		st->nnodes += r->n_nodes;
		for (size_t i = 0; i < r->n_nodes; i++) {
			const Sr__NodeInfo *s = r->nodes[i];
			sr_node_info *d = &st->nodes[base + i];
			if (s == NULL)
				continue;
			d->node_id = s->node_id;
			copy_str(d->name, s->name, sizeof(d->name));
			copy_str(d->listen_url, s->listen_url, sizeof(d->listen_url));
			d->alive = s->alive ? 1 : 0;
			d->last_seen_ms = s->last_seen_ms;
			d->has_worker = s->has_worker ? 1 : 0;
			d->worker_id = s->worker_id;
			d->worker_expires_ms = s->worker_expires_ms;
			held_copy(d, s->held);
		}
	}
	if (r->n_seqs > 0) {
		size_t base = st->nseqs;
		if (append((void **) &st->seqs, &st->nseqs, r->n_seqs, sizeof(*st->seqs)) != SR_OK)
			return SR_ENOMEM;
		st->nseqs += r->n_seqs;
		for (size_t i = 0; i < r->n_seqs; i++)
			seq_info_copy(&st->seqs[base + i], r->seqs[i]);
	}
	if (r->n_chunks > 0) {
		if ((st->chunks = calloc(r->n_chunks, sizeof(*st->chunks))) == NULL)
			return SR_ENOMEM;
		st->nchunks = r->n_chunks;
		for (size_t i = 0; i < r->n_chunks; i++) {
			const Sr__HeldChunk *s = r->chunks[i];
			sr_chunk_info *d = &st->chunks[i];
			if (s == NULL)
				continue;
			copy_str(d->sequence, s->sequence, sizeof(d->sequence));
			if (s->chunk != NULL) {
				d->start = s->chunk->start;
				d->n = s->chunk->n;
				d->k = s->chunk->k;
				d->c = s->chunk->c;
			}
			d->used = s->used;
			d->current = s->current ? 1 : 0;
		}
	}
	return SR_OK;
}

/* Status, all pages; own_view asks a standby master for its own view. */
static int
status_call(sr_client *cl, sr_status *st, int own_view)
{
	if (cl == NULL)
		return SR_EINVAL;
	if (st == NULL)
		return fail(cl, SR_EINVAL, "no status struct");
	/* Zeroed first, so sr_status_free is safe after any failure. */
	memset(st, 0, sizeof(*st));

	/* The master pages its node and sequence lists (docs/protocol.md):
	 * asked again with both cursors until neither continues. The first
	 * reply's other fields are kept; a coordinator sends no cursors. */
	uint64_t nodes_after = 0;
	char seqs_after[65] = "";
	int nodes_done = 0, seqs_done = 0;
	for (int first = 1; !nodes_done || !seqs_done; first = 0) {
		Sr__Request req = SR__REQUEST__INIT;
		Sr__StatusRequest body = SR__STATUS_REQUEST__INIT;
		body.nodes_after = nodes_after;
		body.seqs_after = seqs_after;
		body.nodes_done = nodes_done;
		body.seqs_done = seqs_done;
		body.own_view = own_view;
		req.body_case = SR__REQUEST__BODY_STATUS;
		req.status = &body;

		Sr__Response *resp;
		int rv = call(cl, &req, &resp);
		if (rv != SR_OK) {
			sr_status_free(st);
			return rv;
		}
		const Sr__StatusResponse *r = resp->status;
		if (r == NULL) {
			wire_response_free(resp);
			sr_status_free(st);
			return fail(cl, SR_EPROTO, "status reply without a body");
		}
		if (first)
			rv = status_copy(st, r);
		else
			rv = status_lists(st, r);
		const char *snext = r->seqs_next != NULL ? r->seqs_next : "";
		if (rv == SR_OK &&
		    ((r->nodes_next != 0 && r->nodes_next <= nodes_after) ||
		        (snext[0] != '\0' &&
		            (strlen(snext) >= sizeof(seqs_after) ||
		                strcmp(snext, seqs_after) <= 0))))
			rv = SR_EPROTO;
		if (rv == SR_OK) {
			nodes_done = nodes_done || r->nodes_next == 0;
			seqs_done = seqs_done || snext[0] == '\0';
			nodes_after = r->nodes_next;
			copy_str(seqs_after, snext, sizeof(seqs_after));
		}
		wire_response_free(resp);
		if (rv != SR_OK) {
			sr_status_free(st);
			return fail(cl, rv,
			    rv == SR_EPROTO ? "status: a next-page cursor does not advance"
			                    : "out of memory");
		}
	}
	return SR_OK;
}

int
sr_client_status(sr_client *cl, sr_status *st)
{
	return status_call(cl, st, 0);
}

int
sr_client_master_status(sr_client *cl, sr_status *st)
{
	return status_call(cl, st, 1);
}

void
sr_status_free(sr_status *st)
{
	if (st == NULL)
		return;
	free(st->nodes);
	free(st->seqs);
	free(st->chunks);
	st->nodes = NULL;
	st->seqs = NULL;
	st->chunks = NULL;
	st->nnodes = st->nseqs = st->nchunks = 0;
}
