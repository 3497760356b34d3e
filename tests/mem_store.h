/*
 * An in-memory struct store for tests and fuzzers (header-only, static):
 * the master's catalog runs over it without SQLite. It can be told to fail
 * the next commits (fail_commits), checks the fencing term like the real
 * store, and refuses a batch that would overflow its tables (SR_EIO) before
 * applying any of it, so a batch is all or nothing as store.h demands.
 */
#ifndef SR_TEST_MEM_STORE_H
#define SR_TEST_MEM_STORE_H

#include <stdlib.h>
#include <string.h>

#include "snowrange/error.h"
#include "store.h"

#define MEM_ROWS 64
#define MEM_ERAS 1024 /* worker history rows */

struct mem_store {
	struct store base;
	uint64_t term;
	struct store_seq seqs[MEM_ROWS];
	size_t nseqs;
	struct store_node nodes[MEM_ROWS];
	size_t nnodes;
	struct store_worker workers[MEM_ROWS];
	size_t nworkers;
	struct store_era eras[MEM_ERAS]; /* by seq */
	size_t neras;
	sr_flake_layout layout;
	int fail_commits; /* the next this many commits fail with SR_EIO */
	int commits;      /* successful commits */
	const char *err;  /* why the last commit failed */
};

static int
mem_load(struct store *st, struct store_state *out)
{
	struct mem_store *m = (struct mem_store *) st;
	memset(out, 0, sizeof(*out));
	out->term = m->term;
	out->seqs = calloc(m->nseqs + 1, sizeof(*out->seqs));
	out->nodes = calloc(m->nnodes + 1, sizeof(*out->nodes));
	out->workers = calloc(m->nworkers + 1, sizeof(*out->workers));
	out->eras = calloc(m->neras + 1, sizeof(*out->eras));
	if (out->seqs == NULL || out->nodes == NULL || out->workers == NULL || out->eras == NULL) {
		store_state_free(out);
		return SR_ENOMEM;
	}
	memcpy(out->seqs, m->seqs, m->nseqs * sizeof(*out->seqs));
	memcpy(out->nodes, m->nodes, m->nnodes * sizeof(*out->nodes));
	memcpy(out->workers, m->workers, m->nworkers * sizeof(*out->workers));
	memcpy(out->eras, m->eras, m->neras * sizeof(*out->eras));
	out->neras = m->neras;
	out->nseqs = m->nseqs;
	out->nnodes = m->nnodes;
	out->nworkers = m->nworkers;
	out->layout = m->layout;
	return SR_OK;
}

/* The term first, then the copy: with nothing between them, as the real
 * store's single transaction (store.h). */
static int
mem_acquire_and_load(struct store *st, struct store_state *out)
{
	struct mem_store *m = (struct mem_store *) st;
	m->term++;
	return mem_load(st, out);
}

/* Where op's row is or would go; MEM_ROWS when the table is full. */
static size_t
mem_slot(const struct mem_store *m, const struct store_op *op)
{
	size_t j = 0;
	switch (op->kind) {
	case STORE_PUT_SEQ:
	case STORE_DEL_SEQ:
		while (j < m->nseqs && strcmp(m->seqs[j].name, op->u.seq.name) != 0)
			j++;
		break;
	case STORE_PUT_NODE:
	case STORE_DEL_NODE:
		while (j < m->nnodes && m->nodes[j].id != op->u.node.id)
			j++;
		break;
	case STORE_PUT_WORKER:
		while (j < m->nworkers && m->workers[j].id != op->u.worker.id)
			j++;
		break;
	case STORE_PUT_ERA:
		while (j < m->neras && m->eras[j].seq < op->u.era.seq)
			j++;
		break;
	case STORE_PUT_LAYOUT:
	case STORE_TRIM_ERAS:
	case STORE_SET_TERM: break;
	}
	return j;
}

static int
mem_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	struct mem_store *m = (struct mem_store *) st;
	if (m->fail_commits > 0) {
		m->fail_commits--;
		m->err = "injected failure";
		return SR_EIO;
	}
	if (term != m->term) {
		m->err = "stale term";
		return SR_ESTALE;
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == STORE_SET_TERM && ops[i].u.term <= term) {
			m->err = "a term is only ever raised";
			return SR_EINVAL;
		}
	/* A batch adds at most n rows to any table: refuse it whole when they
	 * might not fit, so nothing is half applied. */
	if (m->nseqs + n > MEM_ROWS || m->nnodes + n > MEM_ROWS || m->nworkers + n > MEM_ROWS ||
	    m->neras + n > MEM_ERAS) {
		m->err = "in-memory store full";
		return SR_EIO;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j = mem_slot(m, &ops[i]);
		switch (ops[i].kind) {
		case STORE_PUT_SEQ:
			m->seqs[j] = ops[i].u.seq;
			m->nseqs += j == m->nseqs;
			break;
		case STORE_DEL_SEQ:
			if (j < m->nseqs)
				m->seqs[j] = m->seqs[--m->nseqs];
			break;
		case STORE_PUT_NODE:
			m->nodes[j] = ops[i].u.node;
			m->nnodes += j == m->nnodes;
			break;
		case STORE_DEL_NODE:
			if (j < m->nnodes) {
				memmove(&m->nodes[j], &m->nodes[j + 1],
				    (m->nnodes - j - 1) * sizeof(m->nodes[0]));
				m->nnodes--;
			}
			break;
		case STORE_PUT_WORKER:
			m->workers[j] = ops[i].u.worker;
			m->nworkers += j == m->nworkers;
			break;
		case STORE_PUT_LAYOUT: m->layout = ops[i].u.layout; break;
		case STORE_PUT_ERA:
			/* Kept in seq order: an equal seq is replaced. */
			if (j == m->neras || m->eras[j].seq != ops[i].u.era.seq) {
				memmove(&m->eras[j + 1], &m->eras[j],
				    (m->neras - j) * sizeof(m->eras[0]));
				m->neras++;
			}
			m->eras[j] = ops[i].u.era;
			break;
		case STORE_TRIM_ERAS: {
			size_t k = 0;
			while (k < m->neras && m->eras[k].seq < ops[i].u.era.seq)
				k++;
			memmove(&m->eras[0], &m->eras[k], (m->neras - k) * sizeof(m->eras[0]));
			m->neras -= k;
			break;
		}
		case STORE_SET_TERM: break; /* applied below, once the batch is in */
		}
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == STORE_SET_TERM)
			m->term = ops[i].u.term;
	m->commits++;
	return SR_OK;
}

static void
mem_close(struct store *st)
{
	(void) st;
}

static const char *
mem_errmsg(struct store *st)
{
	const struct mem_store *m = (const struct mem_store *) st;
	return m->err != NULL ? m->err : "";
}

static const struct store_ops mem_ops = {
    .acquire_and_load = mem_acquire_and_load,
    .load = mem_load,
    .commit = mem_commit,
    .close = mem_close,
    .errmsg = mem_errmsg,
};

#endif
