/*
 * A struct store that forwards every call to another store and runs a hook
 * at one chosen moment (header-only, static). The moments are numbered in
 * the order they happen: before and after each call made through it. Tests
 * use it to let an "old master" commit at every point of a new master's
 * start-up, on the in-memory store and on SQLite alike.
 */
#ifndef SR_TEST_HOOK_STORE_H
#define SR_TEST_HOOK_STORE_H

#include "store.h"

struct hook_store {
	struct store base;
	struct store *inner;
	int fire_at; /* the moment the hook runs at */
	int moments; /* moments so far */
	void (*hook)(void *arg);
	void *arg;
};

static void
hook_moment(struct hook_store *h)
{
	if (h->moments++ == h->fire_at && h->hook != NULL)
		h->hook(h->arg);
}

static int
hook_load(struct store *st, struct store_state *out)
{
	struct hook_store *h = (struct hook_store *) st;
	hook_moment(h);
	int rv = store_load(h->inner, out);
	hook_moment(h);
	return rv;
}

static int
hook_acquire_and_load(struct store *st, struct store_state *out)
{
	struct hook_store *h = (struct hook_store *) st;
	hook_moment(h);
	int rv = store_acquire_and_load(h->inner, out);
	hook_moment(h);
	return rv;
}

static int
hook_commit(struct store *st, uint64_t term, const struct store_op *ops, size_t n)
{
	struct hook_store *h = (struct hook_store *) st;
	hook_moment(h);
	int rv = store_commit(h->inner, term, ops, n);
	hook_moment(h);
	return rv;
}

static void
hook_close(struct store *st)
{
	/* The inner store belongs to the test. */
	(void) st;
}

static const char *
hook_errmsg(struct store *st)
{
	return store_errmsg(((struct hook_store *) st)->inner);
}

static const struct store_ops hook_ops = {
    .acquire_and_load = hook_acquire_and_load,
    .load = hook_load,
    .commit = hook_commit,
    .close = hook_close,
    .errmsg = hook_errmsg,
};

/* Wraps inner; hook(arg) runs at moment fire_at (0 = before the first call). */
static void
hook_store_init(struct hook_store *h, struct store *inner, int fire_at, void (*hook)(void *),
    void *arg)
{
	*h = (struct hook_store) {.base = {.ops = &hook_ops},
	    .inner = inner,
	    .fire_at = fire_at,
	    .hook = hook,
	    .arg = arg};
}

#endif
