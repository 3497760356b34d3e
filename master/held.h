/*
 * What each coordinator holds, as its heartbeats report it (HeldSummary in
 * proto/snowrange.proto, docs/protocol.md): the chunks it holds and the
 * headroom (IDs left) of the sequences closest to running out, for the
 * status page and `snowrange status`. Nothing here decides anything: the
 * master only shows it.
 *
 * A report comes from a peer, so it is checked (held_check) before it is
 * kept, and what is kept is bounded: a fixed-size record per node, only for
 * nodes whose heartbeat the catalog accepted, and dropped when the node
 * leaves, is removed, or has not reported for a while. The table lives in
 * memory only (a master restart forgets it until the next heartbeats) and
 * has a mutex of its own, so a heartbeat adds a copy of one record to the
 * master's lease and heartbeat path and nothing under the master's mutex.
 */
#ifndef SR_HELD_H
#define SR_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "wire.h"

/* Sequences one report names at most (the proto's "at most 8"). */
#define HELD_SEQS_MAX WIRE_HELD_SEQS_MAX
/* A coordinator holds its current chunk and at most one prefetched. */
#define HELD_CHUNKS_PER_SEQ 2
/* The largest chunk a master hands out (MAX_CHUNK_LIMIT in catalog.c):
 * no chunk held holds more IDs than this. */
#define HELD_CHUNK_IDS_MAX (UINT64_C(1) << 32)
#define HELD_ERROR_LEN 200
/* A report is forgotten this long after it came at the least (the master
 * uses 3 lease TTLs when that is longer): a dead node's last report stays
 * on the status page a while, then goes. */
#define HELD_KEEP_MIN_MS 600000

struct held_seq {
	char name[SR_NAME_MAX + 1];
	uint32_t chunks;
	uint64_t headroom;
};

/* One report as checked: accepted, or refused with the reason. */
struct held_report {
	bool ok;                    /* false: refused, error says why */
	char error[HELD_ERROR_LEN]; /* "" when ok */
	uint32_t sequences, chunks; /* in all, as the node said */
	size_t nseqs;
	struct held_seq seqs[HELD_SEQS_MAX];
};

/* A node's latest report and when it came. */
struct held_entry {
	uint64_t node_id;
	int64_t at_ms; /* wall clock */
	struct held_report r;
};

/*
 * Checks a heartbeat's summary into *out. Refused (SR_EINVAL, out->ok false,
 * out->error naming what was wrong): more than HELD_SEQS_MAX sequences, a
 * name that is not a valid sequence name or appears twice, more than
 * HELD_CHUNKS_PER_SEQ chunks or more headroom than its chunks can hold for
 * one sequence, more chunks in all than the sequences served can hold, or
 * fewer sequences served than named.
 */
int held_check(const Sr__HeldSummary *in, struct held_report *out);

struct held_table;

/* A table that forgets a node's report keep_ms after it came. SR_ENOMEM. */
int held_table_new(int64_t keep_ms, struct held_table **out);
/* NULL-safe. */
void held_table_free(struct held_table *t);

/*
 * Keeps r as node's latest report, received at now_ms (wall clock), and, at
 * most once a minute, forgets the reports older than keep_ms. Returns true
 * when r is refused and the node's previous report was not refused for the
 * same reason: the caller logs once per change, not once per heartbeat.
 * Without memory for a new node the report is not kept.
 */
bool held_put(struct held_table *t, uint64_t node_id, const struct held_report *r, int64_t now_ms);

/* Forgets node's report (it left or was removed). */
void held_forget(struct held_table *t, uint64_t node_id);

/* Copies node's latest report into *out; false when there is none. */
bool held_get(struct held_table *t, uint64_t node_id, struct held_entry *out);

/* Reports kept. */
size_t held_count(struct held_table *t);

#endif
