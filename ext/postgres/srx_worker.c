/*
 * The snowrange background worker: this instance's coordinator.
 *
 * It opens a libsnowrange coordinator (joins the master under
 * snowrange.node_name), and in a loop on its latch answers the backends'
 * requests: the next chunk of a sequence (sr_seq_take_chunk, which the
 * library has usually leased ahead already) or a batch of txids
 * (sr_next_txids), published in the slot's `next`; and it publishes the
 * instance's status (node id, worker id, layout, the last error).
 *
 * PostgreSQL is not thread-safe; the library runs threads of its own (the
 * lease and heartbeat thread, nng's I/O threads). They never call into
 * PostgreSQL, because:
 *   - every library call is made from this process's main thread, with all
 *     signals blocked (block_signals), so each thread the library starts
 *     inherits a mask that blocks every signal: PostgreSQL's handlers
 *     (SIGTERM, SIGHUP, SIGUSR1 ...) run on the main thread only;
 *   - the library's messages go to its default sink, a line on stderr
 *     written by the thread itself (the server log), not to elog;
 *   - the library allocates with malloc, never palloc, and this file
 *     passes it no callback;
 *   - backends call one library function only, sr_chunk_id, which is pure.
 * Results cross back to PostgreSQL only here, on the main thread, after the
 * library call returned. docs/postgresql.md says the same to operators.
 */
#include "srx.h"

#include <signal.h>
#include <pthread.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

/* The longest one library call may make the worker wait for a chunk. */
#define WORKER_WAIT_MS 500

static sr_coordinator *coord;
static sr_sequence **handles; /* by slot index */
static bool retry_soon;       /* a transient failure wants another try */

static void
block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void
restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void set_error(const char *fmt, ...) pg_attribute_printf(1, 2);

static void
set_error(const char *fmt, ...)
{
	char msg[SRX_MSG_MAX] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srx_shared *st = srx_state();
	char before[SRX_MSG_MAX];
	SpinLockAcquire(&st->mu);
	memcpy(before, st->last_error, sizeof(before));
	memcpy(st->last_error, msg, sizeof(st->last_error));
	SpinLockRelease(&st->mu);
	bool changed = strcmp(before, msg) != 0;
	if (changed && msg[0] != '\0')
		ereport(LOG, (errmsg("snowrange: %s", msg)));
}

static const char *
opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* One attempt to join; open itself retries for a second. */
static void
try_join(void)
{
	if (opt(srx_master_url) == NULL || opt(srx_node_name) == NULL) {
		set_error("snowrange.master_url and snowrange.node_name must be set");
		return;
	}
	sr_credentials creds = {.tls_ca = opt(srx_tls_ca),
	    .tls_cert = opt(srx_tls_cert),
	    .tls_key = opt(srx_tls_key),
	    .token_file = opt(srx_token_file)};
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = srx_master_url;
	cfg.node_name = srx_node_name;
	cfg.rpc_timeout_ms = srx_rpc_timeout_ms;
	/* The worker waits for the library at most WORKER_WAIT_MS per
	 * request, so one sequence whose master is away does not hold up the
	 * others; backends keep their own snowrange.lease_timeout_ms. */
	cfg.lease_timeout_ms =
	    srx_lease_timeout_ms < WORKER_WAIT_MS ? srx_lease_timeout_ms : WORKER_WAIT_MS;
	cfg.join_timeout_ms = 1000;
	cfg.credentials = &creds;
	char err[SRX_MSG_MAX] = "";
	sigset_t old;
	block_signals(&old);
	int rv = sr_coordinator_open(&cfg, &coord, err, sizeof(err));
	restore_signals(&old);
	if (rv != SR_OK) {
		coord = NULL;
		set_error("joining %s as %s: %s: %s", srx_master_url, srx_node_name, sr_errname(rv),
		    err);
		return;
	}
	srx_shared *st = srx_state();
	sr_flake_layout layout;
	sr_coordinator_layout(coord, &layout);
	SpinLockAcquire(&st->mu);
	st->joined = true;
	st->node_id = sr_coordinator_node_id(coord);
	st->layout = layout;
	st->has_layout = layout.time_bits != 0;
	SpinLockRelease(&st->mu);
	set_error("%s", "");
	ereport(LOG,
	    (errmsg("snowrange: joined %s as node %s (id %llu)", srx_master_url, srx_node_name,
	        (unsigned long long) sr_coordinator_node_id(coord))));
}

/* Answers one slot's request: a chunk, a txid batch, or the error. */
static void
serve_slot(int i)
{
	srx_slot *s = srx_slot_at(i);
	if (pg_atomic_read_u32(&s->in_use) == 0 || pg_atomic_exchange_u32(&s->want, 0) == 0)
		return;
	pg_read_barrier();
	SpinLockAcquire(&s->mu);
	uint64 req = s->req;
	bool held = s->has_next;
	if (held)
		s->ans = req;
	SpinLockRelease(&s->mu);
	if (held) {
		ConditionVariableBroadcast(&s->cv);
		return;
	}

	sr_chunk ch = {0};
	uint64 ids[SRX_TXID_BATCH];
	uint64 minted = srx_now_us();
	size_t got = 0;
	int rv;
	sigset_t old;
	block_signals(&old);
	if (s->is_txid) {
		rv = sr_next_txids(coord, SRX_TXID_BATCH, ids, &got);
		if (got > 0)
			rv = SR_OK; /* a short batch is still a batch */
	} else {
		rv = SR_OK;
		if (handles[i] == NULL)
			rv = sr_sequence_get(coord, s->name, &handles[i]);
		if (rv == SR_OK)
			rv = sr_seq_take_chunk(handles[i], &ch);
		if (rv == SR_OK && ch.c > SRX_MAX_CHUNK)
			rv = SR_ETOOBIG;
	}
	restore_signals(&old);

	/* The master is away or slow: not an answer. Try again soon; the
	 * backends wait until their own deadline and then report this as the
	 * worker's last error. */
	if (rv == SR_EUNAVAILABLE || rv == SR_ETIMEDOUT || rv == SR_ECONNECT) {
		set_error("%s %s: %s", s->is_txid ? "minting txids" : "leasing", s->name,
		    sr_strerror(rv));
		pg_atomic_write_u32(&s->want, 1);
		retry_soon = true;
		return;
	}

	char errmsg[SRX_MSG_MAX] = "";
	if (rv == SR_ENOTFOUND)
		snprintf(errmsg, sizeof(errmsg),
		    "no sequence \"%s\" at the master "
		    "(snowrange seq create %s)",
		    s->name, s->name);
	else if (rv != SR_OK)
		snprintf(errmsg, sizeof(errmsg), "%s: %s", s->name, sr_strerror(rv));
	SpinLockAcquire(&s->mu);
	if (rv == SR_OK) {
		if (s->is_txid) {
			memcpy(srx_slot_next_ids(s), ids, got * sizeof(uint64));
			s->next = (sr_chunk) {.start = 0, .n = 1, .k = 0, .c = got};
			s->next_minted_us = minted;
		} else {
			s->next = ch;
		}
		s->has_next = true;
		s->err = SR_OK;
		s->chunks_taken++;
	} else {
		s->err = rv;
		memcpy(s->errmsg, errmsg, sizeof(s->errmsg));
	}
	s->ans = req;
	SpinLockRelease(&s->mu);
	ConditionVariableBroadcast(&s->cv);
	if (rv == SR_OK)
		set_error("%s", ""); /* the master answers again */
}

static void
publish_status(void)
{
	srx_shared *st = srx_state();
	uint32_t wid = 0;
	int wrv = SR_ENOTJOINED;
	sr_coordinator_stats stats = {0};
	if (coord != NULL) {
		sigset_t old;
		block_signals(&old);
		wrv = sr_coordinator_worker(coord, &wid);
		sr_coordinator_get_stats(coord, &stats);
		restore_signals(&old);
	}
	SpinLockAcquire(&st->mu);
	st->worker_id = wrv == SR_OK ? (int64) wid : -1;
	/* A live worker lease means the heartbeats get through. */
	st->master_ok = wrv == SR_OK;
	st->leases = stats.leases;
	st->lease_errors = stats.lease_errors;
	SpinLockRelease(&st->mu);
}

static void
worker_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	srx_shared *st = srx_state();
	SpinLockAcquire(&st->mu);
	st->worker_latch = NULL;
	st->joined = false;
	st->worker_id = -1;
	st->master_ok = false;
	SpinLockRelease(&st->mu);
	if (coord != NULL) {
		/* Leave the master, so that a restart joins at once. */
		sigset_t old;
		block_signals(&old);
		sr_coordinator_close(coord);
		restore_signals(&old);
		coord = NULL;
	}
}

void
srx_worker_main(Datum arg)
{
	(void) arg;
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	srx_shared *st = srx_state();
	handles = MemoryContextAllocZero(TopMemoryContext, sizeof(*handles) * (Size) st->nslots);
	SpinLockAcquire(&st->mu);
	st->worker_latch = MyLatch;
	st->worker_pid = MyProcPid;
	SpinLockRelease(&st->mu);
	before_shmem_exit(worker_exit, 0);

	while (!ShutdownRequestPending) {
		ResetLatch(MyLatch);
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (coord == NULL)
			try_join();
		retry_soon = false;
		if (coord != NULL)
			for (int i = 0; i < st->nslots && !ShutdownRequestPending; i++)
				serve_slot(i);
		publish_status();
		/* Backends set the latch when they want something; the timeout
		 * refreshes the status (and paces join attempts). */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
		    retry_soon          ? 100
		        : coord != NULL ? 1000
		                        : 500,
		    PG_WAIT_EXTENSION);
	}
	proc_exit(0);
}

void
srx_worker_register(void)
{
	BackgroundWorker w;
	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS;
	w.bgw_start_time = BgWorkerStart_PostmasterStart;
	w.bgw_restart_time = 1;
	strlcpy(w.bgw_library_name, "snowrange", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "srx_worker_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "snowrange coordinator", BGW_MAXLEN);
	strlcpy(w.bgw_type, "snowrange coordinator", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}
