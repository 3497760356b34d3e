/*
 * The snowrange extension for PostgreSQL: what its files share.
 *
 * One background worker (srx_worker.c) holds the libsnowrange coordinator:
 * it joins the master as this instance's node, takes leased chunks out of
 * the library whole (sr_seq_take_chunk) and publishes them in shared memory.
 * Backends (srx_shm.c, called by the SQL functions of srx_sql.c) take IDs
 * from shared memory with one atomic fetch-add, the algorithm of the
 * library's chunk cache (coordinator/cache.h), and wait on their latch only
 * when both the current and the next chunk are used up, at most
 * snowrange.lease_timeout_ms. docs/postgresql.md is the operator's view and
 * says why the library's threads never call into PostgreSQL.
 */
#ifndef SRX_H
#define SRX_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include <snowrange/coordinator.h>

/* The word: epoch << SRX_IDX_BITS | IDs taken of the current chunk, as in
 * coordinator/cache.h, whose comment proves the index never reaches the
 * epoch bits (a backend adds at most SRX_MAX_BATCH past the chunk's end,
 * once per epoch, and chunks are at most SRX_MAX_CHUNK IDs). */
#define SRX_RING 4
#define SRX_IDX_BITS 44
#define SRX_IDX_MASK ((UINT64CONST(1) << SRX_IDX_BITS) - 1)
#define SRX_MAX_CHUNK (UINT64CONST(1) << 40)
#define SRX_MAX_BATCH 100000 /* snowrange.nextvals' largest n */
/* txids come in batches minted by the worker (srx_worker.c). */
#define SRX_TXID_BATCH 128
#define SRX_NAME_MAX 64
#define SRX_MSG_MAX 256

/* One chunk (or txid batch) in the ring, valid while epoch says so. */
typedef struct srx_desc {
	pg_atomic_uint64 epoch;
	pg_atomic_uint64 start, c;
	pg_atomic_uint32 n, k;
	pg_atomic_uint64 minted_us;        /* txid batches: when minted (monotonic) */
	uint64 ids[FLEXIBLE_ARRAY_MEMBER]; /* txid batches only */
} srx_desc;

/*
 * One sequence (or the txid slot). The fast path touches word and ring only;
 * the rest is guarded by mu. Backends raise `want` and set the worker's
 * latch; the worker answers request number `req` with a chunk in `next` or
 * an error, and broadcasts cv.
 */
typedef struct srx_slot {
	char name[SRX_NAME_MAX + 1]; /* written once, before in_use */
	pg_atomic_uint32 in_use;
	bool is_txid;
	pg_atomic_uint64 word;
	pg_atomic_uint32 want;
	slock_t mu;
	bool has_next;
	sr_chunk next;
	uint64 next_minted_us;
	uint64 req, ans; /* requests made, requests answered */
	int err;         /* sr_err of the last answer */
	char errmsg[SRX_MSG_MAX];
	uint64 chunks_taken, waits; /* for snowrange.status */
	ConditionVariable cv;
	/* The ring's descriptors follow (srx_slot_desc), then for the txid
	 * slot the next batch's IDs. */
} srx_slot;

/* What the worker tells everyone, guarded by the shared spinlock `mu`. */
typedef struct srx_shared {
	LWLock *lock; /* allocating slots */
	slock_t mu;
	Latch *worker_latch;
	int worker_pid;
	bool joined;
	uint64 node_id;
	int64 worker_id; /* -1: no live worker lease */
	bool master_ok;  /* the last master round trip succeeded */
	uint64 leases, lease_errors;
	bool has_layout;
	sr_flake_layout layout;
	char last_error[SRX_MSG_MAX];
	int nslots; /* snowrange.max_sequences + 1 (slot 0: txids) */
	char slots[FLEXIBLE_ARRAY_MEMBER];
} srx_shared;

/* ---- settings (srx_module.c) ---- */
extern char *srx_node_name, *srx_master_url;
extern char *srx_tls_ca, *srx_tls_cert, *srx_tls_key, *srx_token_file;
extern int srx_max_sequences, srx_lease_timeout_ms, srx_rpc_timeout_ms;
extern int srx_txid_max_age_ms;

/* ---- shared memory (srx_shm.c) ---- */
Size srx_shmem_size(void);
void srx_shmem_init(void);
srx_shared *srx_state(void);
srx_slot *srx_slot_at(int i);
srx_desc *srx_slot_desc(srx_slot *s, int i);
uint64 *srx_slot_next_ids(srx_slot *s);
uint64 srx_now_us(void);
/* Finds or creates the slot of sequence name (validated by the caller). */
srx_slot *srx_seq_slot(const char *name);
/* Takes n IDs of slot s into out, ascending; ereports on failure. */
void srx_take(srx_slot *s, int n, uint64 *out);
/* Reports an sr_err as an ERROR with its SQLSTATE. */
void srx_raise(int err, const char *fmt, ...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/* ---- the background worker (srx_worker.c) ---- */
void srx_worker_register(void);
PGDLLEXPORT void srx_worker_main(Datum arg);

#endif
