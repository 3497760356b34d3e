/*
 * The measuring harness: a crew of worker threads runs one kind of call
 * through a warm-up and a measured phase, timing 1 in `every` calls into a
 * per-worker histogram, and crew_run turns that into a result row.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>

#include <nng/nng.h>

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"
#include "wire.h"

int
echo_call(struct worker *w)
{
	nng_msg *m, *rep;
	int rv = nng_msg_alloc(&m, w->req_len);
	if (rv != 0)
		return rv;
	/* The first 4 bytes ask the server for a reply of rep_len bytes. */
	uint8_t *p = nng_msg_body(m);
	memset(p, 0, w->req_len);
	uint32_t n = (uint32_t) w->rep_len;
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (n >> (8 * i));
	if ((rv = nng_sendmsg(w->sock, m, 0)) != 0) {
		nng_msg_free(m);
		return rv;
	}
	if ((rv = nng_recvmsg(w->sock, &rep, 0)) != 0)
		return rv;
	rv = nng_msg_len(rep) == w->rep_len ? 0 : NNG_EPROTO;
	nng_msg_free(rep);
	return rv;
}

/* One call of the worker's kind. Inlined into a loop per kind, so the bare
 * baseline pays for no dispatch the measured calls do not pay for too. */
static inline __attribute__((always_inline)) int
op_once(struct worker *w, const enum op_kind k)
{
	size_t got;
	switch (k) {
	case OP_ATOMIC: w->last = atomic_fetch_add(&w->run->counter, 1) + 1; return SR_OK;
	case OP_SEQ: return sr_seq_next_id(w->seq, &w->last);
	case OP_NAME: return sr_next_id(w->coord, w->seqname, &w->last);
	case OP_IDS: return sr_next_ids(w->coord, w->seqname, w->batch, w->buf, &got);
	case OP_TXID: return sr_next_txid(w->coord, &w->last);
	case OP_TXIDS: return sr_next_txids(w->coord, w->batch, w->buf, &got);
	case OP_REMOTE:
		return sr_client_next_ids(w->client, w->seqname, (uint32_t) w->batch, w->buf, NULL);
	case OP_SEGS:
		return sr_client_next_segments(w->client, w->seqname, (uint32_t) w->batch,
		    (sr_id_segment *) (void *) w->buf, SR_SEGMENTS_MAX, &got, NULL);
	case OP_ECHO: return echo_call(w) == 0 ? SR_OK : SR_ETIMEDOUT;
	case OP_HTTP: return http_call(w);
	}
	return SR_EINVAL;
}

static inline __attribute__((always_inline)) void
loop(struct worker *w, const enum op_kind k)
{
	struct run *r = w->run;
	const struct bench_clock *clk = r->clk;
	int ph = PHASE_WARM, rv = SR_OK;
	uint64_t calls = 0;
	for (;;) {
		int now = atomic_load_explicit(&r->phase, memory_order_relaxed);
		/* A worker's window opens when it first sees the warm-up end and
		 * closes at the stop, but only once it holds a completed call: a
		 * call slower than the whole phase (a loaded machine, a tiny
		 * --duration) stretches the window instead of measuring nothing.
		 * Each worker's rate uses its own window. */
		if (ph == PHASE_WARM && now != PHASE_WARM) {
			memset(w->h, 0, sizeof(*w->h));
			calls = 0;
			w->t_begin = clock_mono_ns();
			ph = PHASE_MEASURE;
		}
		if (now == PHASE_STOP && calls > 0) {
			w->t_end = clock_mono_ns();
			break;
		}
		for (unsigned i = 1; i < w->every; i++)
			if ((rv = op_once(w, k)) != SR_OK)
				goto failed;
		uint64_t t0 = clock_ticks(clk);
		rv = op_once(w, k);
		uint64_t t1 = clock_ticks(clk);
		if (rv != SR_OK)
			goto failed;
		hist_add(w->h, t1 - t0);
		calls += w->every;
	}
	w->calls = calls;
	return;
failed:
	w->err = rv;
	w->calls = 0;
	w->t_end = clock_mono_ns();
	if (k == OP_REMOTE || k == OP_SEGS)
		snprintf(w->errmsg, sizeof(w->errmsg), "%s", sr_client_errmsg(w->client));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	/* One specialized loop per kind (see op_once). */
	switch (w->kind) {
	case OP_ATOMIC: loop(w, OP_ATOMIC); break;
	case OP_SEQ: loop(w, OP_SEQ); break;
	case OP_NAME: loop(w, OP_NAME); break;
	case OP_IDS: loop(w, OP_IDS); break;
	case OP_TXID: loop(w, OP_TXID); break;
	case OP_TXIDS: loop(w, OP_TXIDS); break;
	case OP_REMOTE: loop(w, OP_REMOTE); break;
	case OP_SEGS: loop(w, OP_SEGS); break;
	case OP_ECHO: loop(w, OP_ECHO); break;
	case OP_HTTP: loop(w, OP_HTTP); break;
	}
	return NULL;
}

int
crew_init(struct crew *c, const struct bench *b, size_t n, enum op_kind kind, unsigned every,
    size_t batch)
{
	memset(c, 0, sizeof(*c));
	c->run = aligned_alloc(CACHELINE, sizeof(struct run));
	c->w = aligned_alloc(CACHELINE, n * sizeof(struct worker));
	if (c->run == NULL || c->w == NULL) {
		free(c->run);
		free(c->w);
		memset(c, 0, sizeof(*c));
		return SR_ENOMEM;
	}
	memset(c->run, 0, sizeof(*c->run));
	memset(c->w, 0, n * sizeof(struct worker));
	c->run->clk = &b->clk;
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &c->w[i];
		w->run = c->run;
		w->kind = kind;
		w->every = every;
		w->batch = batch;
		w->h = calloc(1, sizeof(*w->h));
		/* Segments need room for SR_SEGMENTS_MAX of them, not for
		 * every ID. */
		w->buf = kind == OP_SEGS ? calloc(SR_SEGMENTS_MAX, sizeof(sr_id_segment))
		                         : calloc(batch, sizeof(uint64_t));
		if (w->h == NULL || w->buf == NULL)
			return SR_ENOMEM;
	}
	return SR_OK;
}

void
crew_free(struct crew *c)
{
	for (size_t i = 0; c->w != NULL && i < c->n; i++) {
		free(c->w[i].h);
		free(c->w[i].buf);
	}
	free(c->w);
	free(c->run);
	memset(c, 0, sizeof(*c));
}

double
crew_warm_for(const struct bench *b)
{
	double w = b->duration / 4;
	return w > 0.25 ? 0.25 : w;
}

/*
 * Runs the crew: warm-up, then the measured phase, then stop, and fills r
 * with the rate and latency. The rate is the sum of each worker's calls over
 * its own measured window. Returns false (and fails r) when a worker failed
 * or nothing was measured.
 */
bool
crew_run(struct bench *b, struct crew *c, double warm_s, struct result *r)
{
	size_t started = 0;
	atomic_store(&c->run->phase, PHASE_WARM);
	for (; started < c->n; started++)
		if (pthread_create(&c->w[started].thread, NULL, worker_main, &c->w[started]) != 0)
			break;
	if (started == c->n) {
		clock_sleep(warm_s);
		atomic_store(&c->run->phase, PHASE_MEASURE);
		if (c->hook != NULL)
			c->hook(c->hook_arg, PHASE_MEASURE);
		clock_sleep(b->duration);
	}
	atomic_store(&c->run->phase, PHASE_STOP);
	if (c->hook != NULL && started == c->n)
		c->hook(c->hook_arg, PHASE_STOP);
	for (size_t i = 0; i < started; i++)
		pthread_join(c->w[i].thread, NULL);
	if (started < c->n) {
		result_fail(r, "cannot start %zu threads", c->n);
		return false;
	}

	struct hist *all = calloc(1, sizeof(*all));
	if (all == NULL) {
		result_fail(r, "out of memory");
		return false;
	}
	double calls_per_sec = 0;
	uint64_t calls = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct worker *w = &c->w[i];
		if (w->err != SR_OK) {
			result_fail(r, "worker %zu: %s (%s)%s%s", i, sr_strerror(w->err),
			    sr_errname(w->err), w->errmsg[0] ? ": " : "", w->errmsg);
			continue;
		}
		if (w->t_end > w->t_begin && w->calls > 0)
			calls_per_sec += (double) w->calls * 1e9 / (double) (w->t_end - w->t_begin);
		calls += w->calls;
		hist_merge(all, w->h);
	}
	r->threads = (unsigned) c->n;
	r->batch = c->w[0].batch;
	r->every = c->w[0].every;
	r->calls = calls;
	r->samples = all->count;
	if (!r->failed && (calls == 0 || all->count == 0))
		result_fail(r, "no call completed in the measured phase");
	if (!r->failed) {
		double tpn = b->clk.ticks_per_ns;
		r->has_rate = true;
		r->calls_per_sec = calls_per_sec;
		r->ids_per_sec = calls_per_sec * (double) r->batch;
		r->has_lat = true;
		r->p50 = (double) hist_quantile(all, 0.50) / tpn;
		r->p99 = (double) hist_quantile(all, 0.99) / tpn;
		r->p999 = (double) hist_quantile(all, 0.999) / tpn;
		r->p9999 = (double) hist_quantile(all, 0.9999) / tpn;
		r->max = (double) all->max / tpn;
	}
	free(all);
	return !r->failed;
}
