/*
 * Shared memory of the snowrange extension: the slot table and the path a
 * backend takes to an ID.
 *
 * Fast path: one atomic fetch-add on the slot's word and the chunk formula
 * (sr_chunk_id), with no lock and no system call; the algorithm and its
 * proof are the library's (coordinator/cache.h), here over PostgreSQL's
 * pg_atomic_uint64 in shared memory instead of C11 atomics in one process.
 * Slow path (the chunk is used up): under the slot's spinlock, swap the
 * next chunk in and ask the worker for the one after it; if there is none,
 * ask the worker and sleep on the slot's condition variable (the backend's
 * latch) until it answers or snowrange.lease_timeout_ms passes.
 */
#include "srx.h"

#include <time.h>

#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

enum { TRY_OK, TRY_EMPTY, TRY_RACE, TRY_STALE };

static srx_shared *shared;

static Size
desc_size(void)
{
	return MAXALIGN(offsetof(srx_desc, ids) + SRX_TXID_BATCH * sizeof(uint64));
}

static Size
slot_size(void)
{
	return MAXALIGN(sizeof(srx_slot)) + SRX_RING * desc_size() +
	    MAXALIGN(SRX_TXID_BATCH * sizeof(uint64));
}

Size
srx_shmem_size(void)
{
	return add_size(MAXALIGN(offsetof(srx_shared, slots)),
	    mul_size(slot_size(), (Size) srx_max_sequences + 1));
}

srx_shared *
srx_state(void)
{
	return shared;
}

srx_slot *
srx_slot_at(int i)
{
	return (srx_slot *) (shared->slots + (Size) i * slot_size());
}

srx_desc *
srx_slot_desc(srx_slot *s, int i)
{
	return (srx_desc *) ((char *) s + MAXALIGN(sizeof(srx_slot)) + (Size) i * desc_size());
}

uint64 *
srx_slot_next_ids(srx_slot *s)
{
	return (uint64 *) ((char *) s + MAXALIGN(sizeof(srx_slot)) + SRX_RING * desc_size());
}

uint64
srx_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64) ts.tv_sec * 1000000 + (uint64) ts.tv_nsec / 1000;
}

void
srx_shmem_init(void)
{
	bool found;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("snowrange", srx_shmem_size(), &found);
	if (!found) {
		memset(shared, 0, srx_shmem_size());
		shared->lock = &(GetNamedLWLockTranche("snowrange"))->lock;
		SpinLockInit(&shared->mu);
		shared->worker_id = -1;
		shared->nslots = srx_max_sequences + 1;
		for (int i = 0; i < shared->nslots; i++) {
			srx_slot *s = srx_slot_at(i);
			pg_atomic_init_u32(&s->in_use, 0);
			pg_atomic_init_u64(&s->word, 0);
			pg_atomic_init_u32(&s->want, 0);
			SpinLockInit(&s->mu);
			ConditionVariableInit(&s->cv);
			/* Epoch 0 is the empty chunk: every take goes to the slow
			 * path, as in the library's cache. */
			for (int j = 0; j < SRX_RING; j++) {
				srx_desc *d = srx_slot_desc(s, j);
				pg_atomic_init_u64(&d->epoch, j == 0 ? 0 : PG_UINT64_MAX);
				pg_atomic_init_u64(&d->start, 0);
				pg_atomic_init_u64(&d->c, 0);
				pg_atomic_init_u32(&d->n, 1);
				pg_atomic_init_u32(&d->k, 0);
				pg_atomic_init_u64(&d->minted_us, 0);
			}
		}
		/* Slot 0 serves txids, in batches the worker mints. */
		srx_slot_at(0)->is_txid = true;
		strlcpy(srx_slot_at(0)->name, "(txid)", sizeof(srx_slot_at(0)->name));
		pg_atomic_write_u32(&srx_slot_at(0)->in_use, 1);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ---- errors ---- */

static int
sqlstate_of(int err)
{
	switch (err) {
	case SR_EINVAL: return ERRCODE_INVALID_PARAMETER_VALUE;
	case SR_ENOMEM: return ERRCODE_OUT_OF_MEMORY;
	case SR_ENOTFOUND: return ERRCODE_UNDEFINED_OBJECT;
	case SR_EEXHAUSTED: return ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED;
	case SR_EUNAVAILABLE:
	case SR_ETIMEDOUT:
	case SR_ECONNECT:
	case SR_ENOTJOINED: return ERRCODE_CONNECTION_FAILURE;
	case SR_ETOOBIG: return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
	case SR_ECLOCK:
	case SR_ENOWORKER:
	case SR_ECLOSED: return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	case SR_EACCES: return ERRCODE_INSUFFICIENT_PRIVILEGE;
	default: return ERRCODE_INTERNAL_ERROR;
	}
}

void
srx_raise(int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ereport(ERROR,
	    (errcode(sqlstate_of(err)), errmsg("snowrange: %s: %s", sr_errname(err), msg),
	        errdetail("%s.", sr_strerror(err))));
	pg_unreachable();
}

/* ---- slots ---- */

typedef struct local_entry {
	char name[SRX_NAME_MAX + 1];
	int slot;
} local_entry;

/* This backend's map from sequence name to slot: slots never move or get
 * another name while the postmaster runs. */
static HTAB *local_map;

srx_slot *
srx_seq_slot(const char *name)
{
	if (local_map == NULL) {
		HASHCTL ctl = {.keysize = SRX_NAME_MAX + 1,
		    .entrysize = sizeof(local_entry),
		    .hcxt = TopMemoryContext};
		local_map = hash_create("snowrange slots", 64, &ctl,
		    HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	bool found;
	local_entry *e = hash_search(local_map, name, HASH_FIND, &found);
	if (found)
		return srx_slot_at(e->slot);

	int idx = -1, free_idx = -1;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 1; i < shared->nslots && idx < 0; i++) {
		srx_slot *s = srx_slot_at(i);
		if (pg_atomic_read_u32(&s->in_use) == 0) {
			if (free_idx < 0)
				free_idx = i;
		} else if (strcmp(s->name, name) == 0) {
			idx = i;
		}
	}
	if (idx < 0 && free_idx >= 0) {
		srx_slot *s = srx_slot_at(free_idx);
		strlcpy(s->name, name, sizeof(s->name));
		pg_write_barrier();
		pg_atomic_write_u32(&s->in_use, 1);
		idx = free_idx;
	}
	LWLockRelease(shared->lock);
	if (idx < 0)
		srx_raise(SR_ETOOBIG,
		    "no room for sequence \"%s\": snowrange.max_sequences "
		    "(%d) are in use",
		    name, shared->nslots - 1);
	e = hash_search(local_map, name, HASH_ENTER, &found);
	e->slot = idx;
	return srx_slot_at(idx);
}

/* ---- the fast path ---- */

static int
try_take(srx_slot *s, int n, uint64 *out, int *got)
{
	uint64 w = pg_atomic_read_u64(&s->word);
	uint64 i0 = w & SRX_IDX_MASK;
	srx_desc *d = srx_slot_desc(s, (int) ((w >> SRX_IDX_BITS) % SRX_RING));
	if (i0 >= SRX_MAX_CHUNK || i0 >= pg_atomic_read_u64(&d->c))
		return TRY_EMPTY;
	w = pg_atomic_fetch_add_u64(&s->word, n);
	uint64 e = w >> SRX_IDX_BITS;
	i0 = w & SRX_IDX_MASK;
	d = srx_slot_desc(s, (int) (e % SRX_RING));
	sr_chunk ch;
	ch.c = pg_atomic_read_u64(&d->c);
	if (i0 >= ch.c)
		return TRY_EMPTY;
	ch.start = pg_atomic_read_u64(&d->start);
	ch.n = pg_atomic_read_u32(&d->n);
	ch.k = pg_atomic_read_u32(&d->k);
	uint64 take = ch.c - i0 < (uint64) n ? ch.c - i0 : (uint64) n;
	uint64 minted = 0;
	if (s->is_txid) {
		minted = pg_atomic_read_u64(&d->minted_us);
		for (uint64 j = 0; j < take; j++)
			out[j] = d->ids[i0 + j];
	}
	/* Seqlock check: the slot must still describe epoch e. */
	pg_read_barrier();
	if (pg_atomic_read_u64(&d->epoch) != e)
		return TRY_RACE;
	/* A txid batch minted too long ago would carry a stale time: its
	 * rest is let go (a gap) and a fresh one asked for. */
	if (s->is_txid && srx_now_us() - minted > (uint64) srx_txid_max_age_ms * 1000)
		return TRY_STALE;
	if (!s->is_txid)
		for (uint64 j = 0; j < take; j++)
			out[j] = sr_chunk_id(&ch, i0 + 1 + j);
	*got = (int) take;
	return TRY_OK;
}

/* Makes the next chunk current as epoch e+1. Called with s->mu held. A
 * plain store of the word is right: every index of epoch e was taken (or
 * the txid batch is stale), so the increments it overwrites belong to
 * callers who are on the slow path (coordinator/cache.c, install_next). */
static void
install_next(srx_slot *s, uint64 e)
{
	uint64 ne = (e + 1) & (PG_UINT64_MAX >> SRX_IDX_BITS);
	srx_desc *d = srx_slot_desc(s, (int) (ne % SRX_RING));
	pg_atomic_write_u64(&d->epoch, PG_UINT64_MAX);
	pg_write_barrier();
	pg_atomic_write_u64(&d->start, s->next.start);
	pg_atomic_write_u32(&d->n, s->next.n);
	pg_atomic_write_u32(&d->k, s->next.k);
	pg_atomic_write_u64(&d->c, s->next.c);
	if (s->is_txid) {
		memcpy(d->ids, srx_slot_next_ids(s), s->next.c * sizeof(uint64));
		pg_atomic_write_u64(&d->minted_us, s->next_minted_us);
	}
	pg_write_barrier();
	pg_atomic_write_u64(&d->epoch, ne);
	pg_write_barrier();
	pg_atomic_write_u64(&s->word, ne << SRX_IDX_BITS);
	s->has_next = false;
}

/* Asks the worker for the slot's next chunk (or txid batch). */
static void
ask_worker(srx_slot *s)
{
	pg_atomic_write_u32(&s->want, 1);
	SpinLockAcquire(&shared->mu);
	Latch *l = shared->worker_latch;
	SpinLockRelease(&shared->mu);
	if (l != NULL)
		SetLatch(l);
}

static bool
next_fresh(srx_slot *s)
{
	return !s->is_txid ||
	    srx_now_us() - s->next_minted_us <= (uint64) srx_txid_max_age_ms * 1000;
}

/*
 * Makes a chunk with free IDs current, waiting for the worker until the
 * deadline (monotonic µs). stale_epoch is the epoch of a txid batch found
 * too old (PG_UINT64_MAX: none), which must not stay current.
 */
static void
refill(srx_slot *s, uint64 stale_epoch, uint64 deadline)
{
	bool requested = false;
	uint64 myreq = 0;
	int err = SR_OK;
	char msg[SRX_MSG_MAX];

	ConditionVariablePrepareToSleep(&s->cv);
	for (;;) {
		bool prefetch = false;
		SpinLockAcquire(&s->mu);
		uint64 w = pg_atomic_read_u64(&s->word);
		uint64 e = w >> SRX_IDX_BITS;
		srx_desc *d = srx_slot_desc(s, (int) (e % SRX_RING));
		if ((w & SRX_IDX_MASK) < pg_atomic_read_u64(&d->c) && e != stale_epoch) {
			SpinLockRelease(&s->mu);
			break; /* another backend swapped already */
		}
		if (s->has_next && next_fresh(s)) {
			install_next(s, e);
			SpinLockRelease(&s->mu);
			/* Sequences keep one chunk ahead; txid batches are minted
			 * on demand, so their time is fresh. */
			if (!s->is_txid)
				ask_worker(s);
			break;
		}
		s->has_next = false; /* a stale txid batch, if any */
		if (requested && s->ans >= myreq) {
			if (s->err != SR_OK) {
				err = s->err;
				memcpy(msg, s->errmsg, sizeof(msg));
				SpinLockRelease(&s->mu);
				break;
			}
			requested = false; /* answered, and taken by others */
		}
		if (!requested) {
			myreq = ++s->req;
			requested = true;
			s->waits++;
			prefetch = true;
		}
		SpinLockRelease(&s->mu);
		if (prefetch)
			ask_worker(s);
		uint64 now = srx_now_us();
		if (now >= deadline) {
			char last[SRX_MSG_MAX];
			SpinLockAcquire(&shared->mu);
			memcpy(last, shared->last_error, sizeof(last));
			SpinLockRelease(&shared->mu);
			err = SR_EUNAVAILABLE;
			snprintf(msg, sizeof(msg),
			    "%s: no %s within snowrange.lease_timeout_ms "
			    "(%d ms)%s%s",
			    s->name, s->is_txid ? "txid batch" : "chunk", srx_lease_timeout_ms,
			    last[0] != '\0' ? "; the worker's last error: " : "", last);
			break;
		}
		long ms = (long) ((deadline - now + 999) / 1000);
		ConditionVariableTimedSleep(&s->cv, ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	if (err != SR_OK)
		srx_raise(err, "%s", msg);
}

void
srx_take(srx_slot *s, int n, uint64 *out)
{
	int have = 0;
	/* One deadline for the whole call, read only when a wait may follow:
	 * however many chunks a call needs, it ends within
	 * snowrange.lease_timeout_ms of its first wait. */
	uint64 deadline = 0;
	while (have < n) {
		int got = 0;
		uint64 e = pg_atomic_read_u64(&s->word) >> SRX_IDX_BITS;
		int r = try_take(s, n - have, out + have, &got);
		if (r == TRY_OK)
			have += got;
		if (r == TRY_OK || r == TRY_RACE)
			continue;
		CHECK_FOR_INTERRUPTS();
		uint64 now = srx_now_us();
		if (deadline == 0)
			deadline = now + (uint64) srx_lease_timeout_ms * 1000;
		else if (now >= deadline)
			srx_raise(SR_EUNAVAILABLE,
			    "%s: %d of %d IDs within snowrange.lease_timeout_ms "
			    "(%d ms)",
			    s->name, have, n, srx_lease_timeout_ms);
		refill(s, r == TRY_STALE ? e : PG_UINT64_MAX, deadline);
	}
}
