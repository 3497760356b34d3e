/*
 * The coordinator's Snowflake side (docs/design.md §4-5): the worker-id
 * lease it holds from the master and the txid policy under it. Its own
 * state, apart from the sequence table and the master link: the link
 * applies what the master says (worker_apply), the callers of sr_next_txid
 * take txids (worker_next_txids).
 *
 * The lease view: it ends at the *send* time of the request that granted or
 * renewed it, plus the TTL its reply carried, less a fifth, so it always
 * ends before the master's (docs/snowflake.md, "Why two holders never
 * overlap"). No txid is taken outside it, nor at a tick at or below the
 * grant's floor or the caller's logged txid.
 */
#ifndef SR_WORKER_H
#define SR_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flake.h"
#include "snowrange/coordinator.h"

struct worker_lease {
	struct flake_gen gen;
	bool has_layout; /* gen is set up: the master sent a layout */
	_Atomic bool has_worker;
	_Atomic int64_t lease_until_us;  /* sr_mono_us clock; 0: no lease */
	_Atomic int64_t clock_offset_ms; /* of the last SR_ECLOCK */
	_Atomic int64_t wall_skew_ms;    /* test hook (coordinator_hooks.h) */
	_Atomic uint64_t grant_floor;    /* the master's floor of this grant */
	_Atomic int64_t grant_due_us;    /* sr_mono_us when a master that waits
	                                  * for claims said it grants; 0: none */
	_Atomic uint64_t issued;         /* txids handed out (metrics) */
	_Atomic uint64_t clock_backs;    /* calls refused with SR_ECLOCK (metrics) */
	int max_clock_back_ms;
	int lease_timeout_ms; /* how long a txid call waits for a fresh grant */
	uint64_t txid_floor;  /* the caller's last logged txid */
	const char *name;     /* for messages */
	sr_log_fn log_fn;
	void *log_arg;
};

/* What a Join or Heartbeat reply said about our worker id. */
struct worker_grant {
	bool has; /* false: no worker id for us now */
	uint32_t worker_id;
	uint64_t floor_tick;
	uint32_t wait_ms; /* with has false: the master grants in this many ms
	                   * (it waits for claims); 0: no grant promised */
};

/* Sets w up with no lease; name must outlive w. */
void worker_init(struct worker_lease *w, const char *name, int max_clock_back_ms,
    int lease_timeout_ms, uint64_t txid_floor, sr_log_fn log_fn, void *log_arg);

/*
 * Applies a reply: layout (the first one sets the generator up; NULL or
 * later ones are ignored) and the grant, sent_us being when the request was
 * sent and ttl_ms the TTL the reply carried. The caller serializes calls
 * (the link's join_mu). Errors: SR_EPROTO (a bad layout or worker id), with
 * errbuf saying which.
 */
int worker_apply(struct worker_lease *w, const sr_flake_layout *layout,
    const struct worker_grant *g, int64_t sent_us, uint32_t ttl_ms, char *errbuf, size_t errlen);

/* The tick to report to the master: the highest we issued or could issue
 * now (0 when we hold no worker id). */
uint64_t worker_report_tick(struct worker_lease *w);

/* The worker id we hold, for a claim (WorkerClaim: docs/snowflake.md,
 * "Claims"): false when we hold none. *tick as worker_report_tick, *left_ms
 * what our lease view has left (rounded up; 0 once it ended). */
bool worker_claim(struct worker_lease *w, uint32_t *id, uint64_t *tick, int64_t *left_ms);

/* Ends the lease at once (a Leave): no txid from now on. Returns the tick to
 * report, read after the lease closed. */
uint64_t worker_end(struct worker_lease *w);

/* Stores n (1..65536) txids in out; errors as sr_next_txids. With no
 * worker id yet but one promised (worker_grant.wait_ms), waits for it up
 * to the lease timeout. */
int worker_next_txids(struct worker_lease *w, size_t n, uint64_t *out, size_t *got);

/* For sr_coordinator_layout, _worker and _clock_offset_ms. */
void worker_layout(const struct worker_lease *w, sr_flake_layout *out);
int worker_current_id(struct worker_lease *w, uint32_t *id);
int64_t worker_clock_offset_ms(struct worker_lease *w);

/* Shifts the wall clock txids are made from (tests only). */
void worker_debug_clock_offset(struct worker_lease *w, int64_t offset_ms);

#endif
