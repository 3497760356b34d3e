/*
 * The backend-independent part of the store interface (store.h): releasing
 * what load() returned, and the state as data for copying one store into
 * another (`snowrange-master migrate`, master/migrate.c). Every backend fills
 * struct store_state with malloc'd arrays, so one function frees them all.
 */
#include "store.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snowrange/error.h"

/*
 * A field added to struct store_state must be freed, written and compared
 * below (store_state_free, store_state_ops, store_state_equal), or a
 * migration would silently leave it behind (docs/ha.md, "Moving a cluster
 * from SQLite to etcd"). The sum of the fields' sizes stops matching the
 * struct's size when one is added, and the build fails here until this list
 * and the three functions are brought up to date.
 */
_Static_assert(sizeof(struct store_state) ==
        sizeof(uint64_t) + 4 * (sizeof(void *) + sizeof(size_t)) + sizeof(sr_flake_layout),
    "struct store_state changed: update store_state_free, store_state_ops, "
    "store_state_equal (master/store.c) and this list");

void
store_state_free(struct store_state *s)
{
	if (s == NULL)
		return;
	free(s->seqs);
	free(s->nodes);
	free(s->workers);
	free(s->eras);
	/* Zeroed, a freed state is an empty one: freeing it again is harmless. */
	memset(s, 0, sizeof *s);
}

int
store_state_empty(const struct store_state *s)
{
	return s->nseqs == 0 && s->nnodes == 0 && s->nworkers == 0 && s->neras == 0 &&
	    !store_layout_set(&s->layout);
}

int
store_state_ops(const struct store_state *s, struct store_op **ops, size_t *n)
{
	size_t total = s->nseqs + s->nnodes + s->nworkers + s->neras + 1;
	struct store_op *v = calloc(total, sizeof(*v));
	size_t k = 0;
	*ops = NULL;
	*n = 0;
	if (v == NULL)
		return SR_ENOMEM;
	for (size_t i = 0; i < s->nseqs; i++)
		v[k++] = (struct store_op) {.kind = STORE_PUT_SEQ, .u.seq = s->seqs[i]};
	for (size_t i = 0; i < s->nnodes; i++)
		v[k++] = (struct store_op) {.kind = STORE_PUT_NODE, .u.node = s->nodes[i]};
	for (size_t i = 0; i < s->nworkers; i++)
		v[k++] = (struct store_op) {.kind = STORE_PUT_WORKER, .u.worker = s->workers[i]};
	/* The worker history, oldest first, keeping its seq numbers: decode
	 * names the same holders after the move. */
	for (size_t i = 0; i < s->neras; i++)
		v[k++] = (struct store_op) {.kind = STORE_PUT_ERA, .u.era = s->eras[i]};
	/* Last: a copy cut short has no layout, which store_state_empty and
	 * a reader of the destination can tell (docs/ha.md). */
	if (store_layout_set(&s->layout))
		v[k++] = (struct store_op) {.kind = STORE_PUT_LAYOUT, .u.layout = s->layout};
	*ops = v;
	*n = k;
	return SR_OK;
}

static int
seq_equal(const struct store_seq *a, const struct store_seq *b)
{
	return strcmp(a->name, b->name) == 0 && a->start == b->start && a->hwm == b->hwm &&
	    a->chunk == b->chunk && a->min_chunk == b->min_chunk && a->max_chunk == b->max_chunk &&
	    a->max_value == b->max_value && a->spare == b->spare && a->mode == b->mode &&
	    a->dropped == b->dropped && a->prefetch == b->prefetch;
}

static int
node_equal(const struct store_node *a, const struct store_node *b)
{
	return a->id == b->id && strcmp(a->name, b->name) == 0 && strcmp(a->url, b->url) == 0 &&
	    a->last_seen_ms == b->last_seen_ms && a->left == b->left;
}

static int
worker_equal(const struct store_worker *a, const struct store_worker *b)
{
	return a->id == b->id && a->node_id == b->node_id && a->expires_ms == b->expires_ms &&
	    a->last_tick == b->last_tick;
}

static int
era_equal(const struct store_era *a, const struct store_era *b)
{
	return a->seq == b->seq && a->worker == b->worker && a->node_id == b->node_id &&
	    a->floor_tick == b->floor_tick && a->granted_ms == b->granted_ms &&
	    strcmp(a->name, b->name) == 0;
}

static int
layout_equal(const sr_flake_layout *a, const sr_flake_layout *b)
{
	return a->time_bits == b->time_bits && a->worker_bits == b->worker_bits &&
	    a->seq_bits == b->seq_bits && a->unit_ms == b->unit_ms && a->epoch_ms == b->epoch_ms;
}

int
store_state_equal(const struct store_state *a, const struct store_state *b, char *why,
    size_t whylen)
{
	if (a->nseqs != b->nseqs || a->nnodes != b->nnodes || a->nworkers != b->nworkers ||
	    a->neras != b->neras) {
		snprintf(why, whylen,
		    "%zu sequences, %zu nodes, %zu worker grants, %zu history entries against "
		    "%zu, %zu, %zu, %zu",
		    a->nseqs, a->nnodes, a->nworkers, a->neras, b->nseqs, b->nnodes, b->nworkers,
		    b->neras);
		return 0;
	}
	for (size_t i = 0; i < a->nseqs; i++)
		if (!seq_equal(&a->seqs[i], &b->seqs[i])) {
			snprintf(why, whylen,
			    "sequence %s differs (hwm %" PRIu64 " against %" PRIu64 ")",
			    a->seqs[i].name, a->seqs[i].hwm, b->seqs[i].hwm);
			return 0;
		}
	for (size_t i = 0; i < a->nnodes; i++)
		if (!node_equal(&a->nodes[i], &b->nodes[i])) {
			snprintf(why, whylen, "node %" PRIu64 " differs", a->nodes[i].id);
			return 0;
		}
	for (size_t i = 0; i < a->nworkers; i++)
		if (!worker_equal(&a->workers[i], &b->workers[i])) {
			snprintf(why, whylen, "worker grant %" PRIu32 " differs", a->workers[i].id);
			return 0;
		}
	for (size_t i = 0; i < a->neras; i++)
		if (!era_equal(&a->eras[i], &b->eras[i])) {
			snprintf(why, whylen, "worker history entry %" PRIu64 " differs",
			    a->eras[i].seq);
			return 0;
		}
	if (!layout_equal(&a->layout, &b->layout)) {
		snprintf(why, whylen, "the Snowflake layout differs");
		return 0;
	}
	return 1;
}
