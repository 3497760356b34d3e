/*
 * The SQL functions of the snowrange extension (snowrange--0.1.sql declares
 * them): nextval, nextvals, txid, decode and the status rows. Each runs in
 * a backend and touches shared memory only (srx_shm.c); none calls the
 * library except the pure sr_chunk_id.
 */
#include "srx.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(snowrange_nextval);
PG_FUNCTION_INFO_V1(snowrange_nextvals);
PG_FUNCTION_INFO_V1(snowrange_txid);
PG_FUNCTION_INFO_V1(snowrange_decode);
PG_FUNCTION_INFO_V1(snowrange_status);

static void
need_preload(void)
{
	if (srx_state() == NULL)
		ereport(ERROR,
		    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		        errmsg("snowrange: the extension must be loaded at server start"),
		        errhint("Add snowrange to shared_preload_libraries and restart.")));
}

/* The slot of the sequence named by a text argument, which must be a valid
 * snowrange name: 1-64 of [a-z0-9_.-]. */
static srx_slot *
seq_arg(text *t)
{
	char name[SRX_NAME_MAX + 1];
	int len = VARSIZE_ANY_EXHDR(t);
	const char *p = VARDATA_ANY(t);
	bool ok = len >= 1 && len <= SRX_NAME_MAX;
	for (int i = 0; ok && i < len; i++)
		ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
		    p[i] == '.' || p[i] == '-';
	if (!ok)
		srx_raise(SR_EINVAL, "invalid sequence name \"%.*s\": use 1-64 of [a-z0-9_.-]",
		    len > 80 ? 80 : len, p);
	memcpy(name, p, len);
	name[len] = '\0';
	need_preload();
	return srx_seq_slot(name);
}

static Datum
id_datum(uint64 id)
{
	return Int64GetDatum((int64) id);
}

Datum
snowrange_nextval(PG_FUNCTION_ARGS)
{
	srx_slot *s = seq_arg(PG_GETARG_TEXT_PP(0));
	uint64 id;
	srx_take(s, 1, &id);
	PG_RETURN_DATUM(id_datum(id));
}

Datum
snowrange_nextvals(PG_FUNCTION_ARGS)
{
	srx_slot *s = seq_arg(PG_GETARG_TEXT_PP(0));
	int32 n = PG_GETARG_INT32(1);
	if (n < 1 || n > SRX_MAX_BATCH)
		srx_raise(SR_EINVAL, "n must be 1..%d, not %d", SRX_MAX_BATCH, n);
	uint64 *ids = palloc(sizeof(uint64) * (Size) n);
	srx_take(s, n, ids);
	Datum *d = palloc(sizeof(Datum) * (Size) n);
	for (int i = 0; i < n; i++)
		d[i] = id_datum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
snowrange_txid(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	need_preload();
	uint64 id;
	srx_take(srx_slot_at(0), 1, &id);
	PG_RETURN_DATUM(id_datum(id));
}

/* Unix ms to a timestamptz (microseconds since 2000-01-01). */
static TimestampTz
ts_of_unix_ms(int64 ms)
{
	return (TimestampTz) (ms -
	           (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000) *
	    1000;
}

/* (time, worker, node_id, sequence) of a txid, in the cluster's layout; the
 * node is this instance's when the worker id is the one it holds now, NULL
 * otherwise (the master's grant history knows the rest: snowrange decode). */
Datum
snowrange_decode(PG_FUNCTION_ARGS)
{
	int64 id = PG_GETARG_INT64(0);
	need_preload();
	srx_shared *st = srx_state();
	SpinLockAcquire(&st->mu);
	bool has = st->has_layout;
	sr_flake_layout l = st->layout;
	int64 wid = st->worker_id;
	uint64 node = st->node_id;
	SpinLockRelease(&st->mu);
	if (!has)
		srx_raise(SR_ENOTJOINED, "no layout yet: the worker has not joined the master");
	if (id <= 0)
		srx_raise(SR_EINVAL, "a txid is positive, not %lld", (long long) id);
	uint64 u = (uint64) id;
	uint64 seq = u & ((UINT64CONST(1) << l.seq_bits) - 1);
	uint64 worker = (u >> l.seq_bits) & ((UINT64CONST(1) << l.worker_bits) - 1);
	uint64 tick = u >> (l.seq_bits + l.worker_bits);

	TupleDesc td;
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "snowrange_decode must return a record");
	td = BlessTupleDesc(td);
	Datum v[4];
	bool nulls[4] = {false, false, false, false};
	v[0] = TimestampTzGetDatum(ts_of_unix_ms(l.epoch_ms + (int64) tick * l.unit_ms));
	v[1] = Int32GetDatum((int32) worker);
	v[2] = Int64GetDatum((int64) node);
	nulls[2] = wid < 0 || (uint64) wid != worker;
	v[3] = Int32GetDatum((int32) seq);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, v, nulls)));
}

/*
 * One row for the instance (sequence NULL) and one per sequence served:
 * sequence, chunk_start, chunk_n, chunk_k, chunk_size, used, next_held,
 * headroom, chunks_taken, waits, node_name, node_id, worker_id,
 * master_reachable, leases, lease_errors, last_error.
 */
Datum
snowrange_status(PG_FUNCTION_ARGS)
{
	need_preload();
	InitMaterializedSRF(fcinfo, 0);
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	srx_shared *st = srx_state();
	SpinLockAcquire(&st->mu);
	bool joined = st->joined, ok = st->master_ok;
	uint64 node = st->node_id, leases = st->leases, lerr = st->lease_errors;
	int64 wid = st->worker_id;
	char last[SRX_MSG_MAX];
	memcpy(last, st->last_error, sizeof(last));
	SpinLockRelease(&st->mu);

	for (int i = 0; i < st->nslots; i++) {
		srx_slot *s = srx_slot_at(i);
		if (i > 0 && pg_atomic_read_u32(&s->in_use) == 0)
			continue;
		pg_read_barrier();
		Datum v[17];
		bool nulls[17];
		memset(nulls, 0, sizeof(nulls));
		memset(v, 0, sizeof(v));
		if (i == 0) {
			for (int j = 0; j <= 9; j++)
				nulls[j] = true;
		} else {
			SpinLockAcquire(&s->mu);
			uint64 w = pg_atomic_read_u64(&s->word);
			srx_desc *d = srx_slot_desc(s, (int) ((w >> SRX_IDX_BITS) % SRX_RING));
			uint64 c = pg_atomic_read_u64(&d->c), used = w & SRX_IDX_MASK;
			bool has_next = s->has_next;
			uint64 next_c = s->next.c, taken = s->chunks_taken, waits = s->waits;
			v[1] = Int64GetDatum((int64) pg_atomic_read_u64(&d->start));
			v[2] = Int32GetDatum((int32) pg_atomic_read_u32(&d->n));
			v[3] = Int32GetDatum((int32) pg_atomic_read_u32(&d->k));
			SpinLockRelease(&s->mu);
			if (used > c)
				used = c;
			v[0] = CStringGetTextDatum(s->name);
			nulls[1] = nulls[2] = nulls[3] = c == 0;
			v[4] = Int64GetDatum((int64) c);
			v[5] = Int64GetDatum((int64) used);
			v[6] = BoolGetDatum(has_next);
			v[7] = Int64GetDatum((int64) (c - used + (has_next ? next_c : 0)));
			v[8] = Int64GetDatum((int64) taken);
			v[9] = Int64GetDatum((int64) waits);
		}
		v[10] = CStringGetTextDatum(srx_node_name != NULL ? srx_node_name : "");
		v[11] = Int64GetDatum((int64) node);
		nulls[11] = !joined;
		v[12] = Int32GetDatum((int32) wid);
		nulls[12] = wid < 0;
		v[13] = BoolGetDatum(ok);
		v[14] = Int64GetDatum((int64) leases);
		v[15] = Int64GetDatum((int64) lerr);
		v[16] = CStringGetTextDatum(last);
		nulls[16] = last[0] == '\0';
		tuplestore_putvalues(rsi->setResult, rsi->setDesc, v, nulls);
	}
	return (Datum) 0;
}
