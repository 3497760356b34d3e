/*
 * The coordinators' held-chunk reports (held.h): the check of a report and
 * the table of the latest per node, an array sorted by node id under its
 * own mutex.
 */
#include "held.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snowrange/error.h"

/* Old reports are forgotten at most this often. */
#define SWEEP_MS 60000

struct held_table {
	pthread_mutex_t mu;
	struct held_entry *v; /* sorted by node_id */
	size_t n, cap;
	int64_t keep_ms;
	int64_t swept_ms;
};

/* Refuses the report: out->ok false, the reason in out->error. */
static int refuse(struct held_report *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
refuse(struct held_report *out, const char *fmt, ...)
{
	va_list ap;
	memset(out, 0, sizeof(*out));
	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
	return SR_EINVAL;
}

int
held_check(const Sr__HeldSummary *in, struct held_report *out)
{
	memset(out, 0, sizeof(*out));
	if (in->n_seqs > HELD_SEQS_MAX)
		return refuse(out, "held summary names %zu sequences; at most %d", in->n_seqs,
		    HELD_SEQS_MAX);
	if (in->sequences < in->n_seqs)
		return refuse(out, "held summary names %zu sequences but says %u are served",
		    in->n_seqs, in->sequences);
	if ((uint64_t) in->chunks > (uint64_t) in->sequences * HELD_CHUNKS_PER_SEQ)
		return refuse(out,
		    "held summary says %u chunks are held for %u sequences; at most %d "
		    "per sequence",
		    in->chunks, in->sequences, HELD_CHUNKS_PER_SEQ);
	uint64_t named_chunks = 0;
	for (size_t i = 0; i < in->n_seqs; i++) {
		const Sr__HeldSeq *s = in->seqs[i];
		if (s == NULL || s->sequence == NULL || !sr_name_valid(s->sequence))
			return refuse(out,
			    "held summary: sequence name '%.64s' is not [a-z0-9_.-]{1,64}",
			    s != NULL && s->sequence != NULL ? s->sequence : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(out->seqs[j].name, s->sequence) == 0)
				return refuse(out, "held summary names sequence %s twice",
				    s->sequence);
		if (s->chunks > HELD_CHUNKS_PER_SEQ)
			return refuse(out, "held summary: %u chunks of %s; at most %d", s->chunks,
			    s->sequence, HELD_CHUNKS_PER_SEQ);
		if (s->headroom > s->chunks * HELD_CHUNK_IDS_MAX)
			return refuse(out,
			    "held summary: headroom %llu of %s is more than %u chunks can "
			    "hold",
			    (unsigned long long) s->headroom, s->sequence, s->chunks);
		named_chunks += s->chunks;
		sr_strlcpy(out->seqs[i].name, s->sequence, sizeof(out->seqs[i].name));
		out->seqs[i].chunks = s->chunks;
		out->seqs[i].headroom = s->headroom;
	}
	if (named_chunks > in->chunks)
		return refuse(out,
		    "held summary: its sequences hold %llu chunks, more than the %u "
		    "it says are held",
		    (unsigned long long) named_chunks, in->chunks);
	out->ok = true;
	out->sequences = in->sequences;
	out->chunks = in->chunks;
	out->nseqs = in->n_seqs;
	return SR_OK;
}

int
held_table_new(int64_t keep_ms, struct held_table **out)
{
	struct held_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SR_ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	t->keep_ms = keep_ms;
	*out = t;
	return SR_OK;
}

void
held_table_free(struct held_table *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->v);
	free(t);
}

/* Where node_id is, or would go, in the sorted array. Call with mu held. */
static size_t
find(const struct held_table *t, uint64_t node_id)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->v[mid].node_id < node_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Forgets the reports older than keep_ms. Call with mu held. */
static void
sweep(struct held_table *t, int64_t now_ms)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++)
		if (now_ms - t->v[i].at_ms <= t->keep_ms) {
			if (k != i)
				t->v[k] = t->v[i];
			k++;
		}
	t->n = k;
	t->swept_ms = now_ms;
}

bool
held_put(struct held_table *t, uint64_t node_id, const struct held_report *r, int64_t now_ms)
{
	bool news = false;
	pthread_mutex_lock(&t->mu);
	if (now_ms - t->swept_ms >= SWEEP_MS)
		sweep(t, now_ms);
	size_t i = find(t, node_id);
	if (i < t->n && t->v[i].node_id == node_id) {
		const struct held_report *old = &t->v[i].r;
		news = !r->ok && (old->ok || strcmp(old->error, r->error) != 0);
	} else {
		news = !r->ok;
		if (t->n == t->cap) {
			size_t cap = t->cap > 0 ? 2 * t->cap : 64;
			struct held_entry *v = realloc(t->v, cap * sizeof(*v));
			if (v == NULL) {
				pthread_mutex_unlock(&t->mu);
				return news;
			}
			t->v = v;
			t->cap = cap;
		}
		memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
		t->n++;
		t->v[i].node_id = node_id;
	}
	t->v[i].at_ms = now_ms;
	t->v[i].r = *r;
	pthread_mutex_unlock(&t->mu);
	return news;
}

void
held_forget(struct held_table *t, uint64_t node_id)
{
	pthread_mutex_lock(&t->mu);
	size_t i = find(t, node_id);
	if (i < t->n && t->v[i].node_id == node_id) {
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
	}
	pthread_mutex_unlock(&t->mu);
}

bool
held_get(struct held_table *t, uint64_t node_id, struct held_entry *out)
{
	pthread_mutex_lock(&t->mu);
	size_t i = find(t, node_id);
	bool found = i < t->n && t->v[i].node_id == node_id;
	if (found)
		*out = t->v[i];
	pthread_mutex_unlock(&t->mu);
	return found;
}

size_t
held_count(struct held_table *t)
{
	pthread_mutex_lock(&t->mu);
	size_t n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}
