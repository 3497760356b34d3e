/*
 * Test hooks of the 2PC log, private to txlog.c and its tests: they are not
 * part of the installed API (include/snowrange/txlog.h).
 */
#ifndef SR_TXLOG_HOOKS_H
#define SR_TXLOG_HOOKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snowrange/txlog.h"

/*
 * Fault injection for tests (SQLite style). The hooks hang off one handle,
 * so there is no global state; NULL members mean the real system call.
 * write_fn behaves as pwrite(2) and sync_fn as fdatasync(2), errno included.
 */
struct txlog_hooks {
	ssize_t (*write_fn)(void *arg, int fd, const void *buf, size_t n, off_t off);
	int (*sync_fn)(void *arg, int fd);
	void *arg;
};

/* Installs h (copied; NULL removes the hooks) on log; flushes that begin
 * later use it. */
void txlog_debug_hooks(sr_txlog *log, const struct txlog_hooks *h);

/* How many fdatasync calls the log has made since open (failed ones too). */
uint64_t txlog_debug_syncs(sr_txlog *log);

#endif
