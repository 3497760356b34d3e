/*
 * The draw-file checker behind `snowrange verify`: reads the files written by
 * `snowrange draw` and checks the two sequence guarantees on what was really
 * handed out, uniqueness and per-coordinator order.
 *
 * Draw file lines (one per successful batch, and two trailer lines per draw
 * run: its span and its errors):
 *   B <node> <seq> <t0_us> <t1_us> <id> <id> ...
 *   S <node> <seq> <t0_us> <t1_us> <first>:<step>:<count> ...
 *   R <begin_us> <end_us>
 *   E <errors_total> <ERRNAME>=<count> ...
 * An S line is a batch drawn as segments (draw --segments): each segment
 * is the IDs first, first+step, ..., count of them; steps are at most 2^32
 * (a range's chunk count). IDs counts S IDs as if expanded.
 * t0/t1 are CLOCK_MONOTONIC microseconds taken just before the request and
 * just after the reply, and begin/end on the same clock when the run began
 * and ended, so files written on one machine share a time line.
 */
#ifndef SR_CHECK_H
#define SR_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "snowrange/error.h"

/* What the checker found. */
struct check_result {
	uint64_t ids;     /* IDs read */
	uint64_t batches; /* B and S lines read */
	size_t seqs;      /* distinct sequences */
	size_t nodes;     /* distinct coordinators */
	uint64_t dup;     /* per sequence, IDs issued again (a pair of segments
	                   * sharing k IDs counts k) */
	uint64_t order;   /* per (node, seq), IDs not above earlier ones */
	uint64_t range;   /* IDs outside 1..2^63-1 */
	uint64_t errors;  /* sum of the E lines' totals */
	/* Per sr_err code from the E lines; slot SR_ERR_MAX counts EUNKNOWN. */
	uint64_t errcount[SR_ERR_MAX + 1];
};

/*
 * Reads the draw files ("-" is stdin) and fills *res. Up to a few examples of
 * each kind of violation are written to diag when it is not NULL.
 * Returns 0, SR_EINVAL for a malformed line or SR_EIO for an unreadable file
 * (errbuf names the file and line), or SR_ENOMEM.
 */
int check_files(const char *const *files, size_t nfiles, struct check_result *res, FILE *diag,
    char *errbuf, size_t errlen);

/* True when the data shows no violation and holds at least one ID. */
bool check_ok(const struct check_result *res);

/* Formats the summary line, "verify: ids=N batches=B ... errors=E [NAME=n]...",
 * without a newline. */
void check_summary(const struct check_result *res, char *buf, size_t len);

/* `snowrange verify FILE...`: checks, prints the summary (text or JSON) to
 * stdout and returns the process exit code (0 clean, 1 otherwise). */
int check_main(int nfiles, char **files, bool json);

#endif
