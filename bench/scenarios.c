/*
 * The in-process scenarios (inproc, batch, txid, switches, master) and the
 * memory scenario, which runs the real daemon and master binaries. Each
 * adds its rows to the results; the remote scenarios are in remote.c.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "server.h"
#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"
#include "wire.h"

/* ---- scenarios ---- */

const unsigned *
sc_threads(const struct bench *b, const unsigned *def, size_t ndef, size_t *n)
{
	if (b->nthreads > 0) {
		*n = b->nthreads;
		return b->threads;
	}
	*n = ndef;
	return def;
}

const char *
sc_failure(int rv, const char *err)
{
	return err[0] ? err : sr_strerror(rv);
}

/* One crew of n threads of kind on the shared coordinator. */
bool
sc_measure(struct ctx *x, struct result *r, size_t n, enum op_kind kind, unsigned every,
    size_t batch, sr_coordinator *c, const char *seq)
{
	struct crew crew;
	if (crew_init(&crew, x->b, n, kind, every, batch) != SR_OK) {
		crew_free(&crew);
		result_fail(r, "out of memory");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &crew.w[i];
		w->coord = c;
		w->seqname = seq;
		if (kind == OP_SEQ) {
			int rv = sr_sequence_get(c, seq, &w->seq);
			if (rv != SR_OK) {
				result_fail(r, "sr_sequence_get %s: %s", seq, sr_strerror(rv));
				crew_free(&crew);
				return false;
			}
		}
	}
	bool ok = crew_run(x->b, &crew, crew_warm_for(x->b), r);
	crew_free(&crew);
	return ok;
}

static void
waits_note(struct result *r, const sr_coordinator_stats *a, const sr_coordinator_stats *z)
{
	result_note(r, "waits=%llu", (unsigned long long) (z->waits - a->waits));
	result_extra_int(r, "waits", (int64_t) (z->waits - a->waits));
}

static void
inproc_target(struct result *r, unsigned threads)
{
	double want = threads == 1 ? 0.5 : 0.8;
	bool ok = r->ratio >= want && r->p9999 < 1000.0;
	r->target = threads == 1 ? ">=0.5x, p99.99<1us" : ">=0.8x, p99.99<1us";
	if (threads > 2)
		r->target = ">=0.8x, p99.99<1us (2-thread target)";
	r->verdict = ok ? V_MET : V_MISSED;
}

void
sc_inproc(struct ctx *x)
{
	static const unsigned def[] = {1, 2};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 2, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	sr_seq_spec spec = {.name = "inproc",
	    .chunk_size = BIG_CHUNK,
	    .min_chunk = BIG_CHUNK,
	    .max_chunk = BIG_CHUNK};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		unsigned t = ts[i];
		struct result *base =
		    result_new(x->b, "inproc", "baseline.atomic_fetch_add.t%u", t);
		struct result *seq = result_new(x->b, "inproc", "inproc.seq_next_id.t%u", t);
		struct result *name = result_new(x->b, "inproc", "inproc.next_id.t%u", t);
		if (rv != SR_OK) {
			result_fail(base, "%s", sc_failure(rv, err));
			result_fail(seq, "%s", sc_failure(rv, err));
			result_fail(name, "%s", sc_failure(rv, err));
			continue;
		}
		bench_progress(x->b,
		    "inproc: atomic_fetch_add, sr_seq_next_id, sr_next_id; %u thread(s)", t);
		sc_measure(x, base, t, OP_ATOMIC, 64, 1, NULL, NULL);
		result_note(base, "bare atomic_fetch_add loop, same harness");
		sr_coordinator_stats a, z;
		sr_coordinator_get_stats(x->fx.c, &a);
		sc_measure(x, seq, t, OP_SEQ, 64, 1, x->fx.c, "inproc");
		sr_coordinator_get_stats(x->fx.c, &z);
		waits_note(seq, &a, &z);
		sr_coordinator_get_stats(x->fx.c, &a);
		sc_measure(x, name, t, OP_NAME, 64, 1, x->fx.c, "inproc");
		sr_coordinator_get_stats(x->fx.c, &z);
		waits_note(name, &a, &z);
		if (base->has_rate) {
			struct result *rs[] = {seq, name};
			for (int j = 0; j < 2; j++) {
				if (!rs[j]->has_rate)
					continue;
				result_set_baseline(rs[j], base->scenario, base->ids_per_sec);
				inproc_target(rs[j], t);
			}
		}
	}
}

void
sc_batch(struct ctx *x)
{
	static const unsigned def[] = {1};
	static const size_t sizes[] = {16, 256, 4096};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 1, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	sr_seq_spec spec = {.name = "batch",
	    .chunk_size = BIG_CHUNK,
	    .min_chunk = BIG_CHUNK,
	    .max_chunk = BIG_CHUNK};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			size_t n = sizes[j];
			struct result *r =
			    result_new(x->b, "batch", "inproc.next_ids.b%zu.t%u", n, ts[i]);
			if (rv != SR_OK) {
				result_fail(r, "%s", sc_failure(rv, err));
				continue;
			}
			bench_progress(x->b, "batch: sr_next_ids of %zu, %u thread(s)", n, ts[i]);
			/* Time about one call per 1024 IDs: cheap for small batches,
			 * every call for big ones. */
			unsigned every = n >= 1024 ? 1 : (unsigned) (1024 / n);
			sr_coordinator_stats a, z;
			sr_coordinator_get_stats(x->fx.c, &a);
			sc_measure(x, r, ts[i], OP_IDS, every, n, x->fx.c, "batch");
			sr_coordinator_get_stats(x->fx.c, &z);
			waits_note(r, &a, &z);
		}
	}
}

void
sc_txid(struct ctx *x)
{
	static const unsigned def[] = {1};
	static const size_t sizes[] = {1, 4096};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 1, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	sr_flake_layout l = {0};
	double limit = 0;
	char lname[64] = "";
	if (rv == SR_OK) {
		sr_coordinator_layout(x->fx.c, &l);
		limit = (double) (UINT64_C(1) << l.seq_bits) * 1000.0 / (double) l.unit_ms;
		snprintf(lname, sizeof(lname), "layout %u/%u/%u @%ums: 2^%u per tick", l.time_bits,
		    l.worker_bits, l.seq_bits, l.unit_ms, l.seq_bits);
	}
	for (size_t i = 0; i < nt; i++) {
		for (size_t j = 0; j < 2; j++) {
			size_t n = sizes[j];
			struct result *r = n == 1
			    ? result_new(x->b, "txid", "txid.next_txid.t%u", ts[i])
			    : result_new(x->b, "txid", "txid.next_txids.b%zu.t%u", n, ts[i]);
			if (rv != SR_OK) {
				result_fail(r, "%s", sc_failure(rv, err));
				continue;
			}
			bench_progress(x->b, "txid: %s, %u thread(s)",
			    n == 1 ? "sr_next_txid" : "sr_next_txids of 4096", ts[i]);
			/* Every call is timed: the layout caps the rate far below
			 * what the timer would disturb. */
			if (!sc_measure(x, r, ts[i], n == 1 ? OP_TXID : OP_TXIDS, 1, n, x->fx.c,
			        NULL))
				continue;
			result_set_baseline(r, lname, limit);
			r->target = ">=0.97x";
			r->verdict = r->ratio >= 0.97 ? V_MET : V_MISSED;
		}
	}
}

/* ---- range switches ---- */

static uint64_t
current_chunk(sr_coordinator *c)
{
	sr_chunk_info ch[4];
	size_t n = sr_coordinator_chunks(c, ch, 4);
	for (size_t i = 0; i < n && i < 4; i++)
		if (ch[i].current)
			return ch[i].c;
	return 0;
}

/*
 * A sequence with the master's defaults (chunk 1000, dynamic up to its max
 * chunk) under full load. A first coordinator ramps the dynamic chunk size
 * up (those waits are reported as ramp waits); a second, fresh one is then
 * measured, so its counters hold only steady state.
 */
void
sc_switches(struct ctx *x)
{
	static const unsigned def[] = {2};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 1, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		unsigned t = ts[i];
		char seq[32], node[32];
		snprintf(seq, sizeof(seq), "switches-%u", t);
		struct result *r = result_new(x->b, "switches", "switches.t%u", t);
		sr_seq_spec spec = {.name = seq};
		sr_coordinator *ramp = NULL, *c = NULL;
		if (rv == SR_OK && (rv = fx_seq(&x->fx, &spec, err, sizeof(err))) == SR_OK) {
			snprintf(node, sizeof(node), "bench-ramp-%u", t);
			rv = fx_coord(&x->fx, node, &ramp, err, sizeof(err));
		}
		if (rv != SR_OK) {
			result_fail(r, "%s", sc_failure(rv, err));
			continue;
		}
		bench_progress(x->b, "switches: ramping the dynamic chunk size, %u thread(s)", t);
		struct result ramp_r;
		memset(&ramp_r, 0, sizeof(ramp_r));
		sr_coordinator_stats rs;
		double saved = x->b->duration;
		x->b->duration = 0.5; /* enough for ten doublings at any rate */
		sc_measure(x, &ramp_r, t, OP_SEQ, 64, 1, ramp, seq);
		x->b->duration = saved;
		sr_coordinator_get_stats(ramp, &rs);
		uint64_t ramp_chunk = current_chunk(ramp);
		sr_coordinator_close(ramp);
		if (ramp_r.failed) {
			result_fail(r, "ramp: %s", ramp_r.error);
			continue;
		}

		snprintf(node, sizeof(node), "bench-steady-%u", t);
		if ((rv = fx_coord(&x->fx, node, &c, err, sizeof(err))) != SR_OK) {
			result_fail(r, "%s", sc_failure(rv, err));
			continue;
		}
		bench_progress(x->b, "switches: steady load, %u thread(s)", t);
		sr_coordinator_stats a, z;
		/* Warm-up 0: every call of this coordinator counts. */
		struct crew crew;
		sr_coordinator_get_stats(c, &a);
		if (crew_init(&crew, x->b, t, OP_SEQ, 64, 1) != SR_OK) {
			result_fail(r, "out of memory");
		} else {
			for (size_t k = 0; k < t && rv == SR_OK; k++) {
				crew.w[k].coord = c;
				rv = sr_sequence_get(c, seq, &crew.w[k].seq);
			}
			if (rv == SR_OK)
				crew_run(x->b, &crew, 0, r);
			else
				result_fail(r, "sr_sequence_get: %s", sr_strerror(rv));
		}
		crew_free(&crew);
		sr_coordinator_get_stats(c, &z);
		uint64_t chunk = current_chunk(c);
		sr_coordinator_close(c);
		rv = SR_OK;
		uint64_t leases = z.leases - a.leases;
		double lps = (double) leases / x->b->duration;
		result_note(r,
		    "waits=%llu max_wait=%lluus leases/s=%.1f chunk=%llu ramp: waits=%llu "
		    "max_wait=%lluus",
		    (unsigned long long) (z.waits - a.waits), (unsigned long long) z.max_wait_us,
		    lps, (unsigned long long) chunk, (unsigned long long) rs.waits,
		    (unsigned long long) rs.max_wait_us);
		result_extra_int(r, "waits", (int64_t) (z.waits - a.waits));
		result_extra_int(r, "max_wait_us", (int64_t) z.max_wait_us);
		result_extra_int(r, "leases", (int64_t) leases);
		result_extra_real(r, "leases_per_sec", lps);
		result_extra_int(r, "chunk_size", (int64_t) chunk);
		result_extra_int(r, "ramp_waits", (int64_t) rs.waits);
		result_extra_int(r, "ramp_max_wait_us", (int64_t) rs.max_wait_us);
		result_extra_int(r, "ramp_chunk_size", (int64_t) ramp_chunk);
		if (r->has_rate) {
			r->target = "0 waits";
			r->verdict = z.waits == a.waits ? V_MET : V_MISSED;
		}
	}
}

/* ---- master: durable leases ---- */

/* The in-process master's store commits (each one fsync with SQLite) and
 * leases so far, to tell how many leases one commit carried. */
struct commit_count {
	uint64_t commits, commit_us, leases;
};

static void
commit_count(struct ctx *x, struct commit_count *out)
{
	struct metrics_master mm;
	struct metrics_seq *seqs = NULL;
	memset(out, 0, sizeof(*out));
	if (x->fx.m == NULL || master_metrics(x->fx.m, &mm, &seqs) != SR_OK)
		return;
	free(seqs);
	out->commits = mm.commit_latency.count;
	out->commit_us = mm.commit_latency.sum_us;
	out->leases = mm.leases;
}

void
sc_master(struct ctx *x)
{
	static const unsigned def[] = {1, 8};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 2, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	/* Block mode, chunk size 1 and no room to grow it: every ID is one
	 * durable lease (a new range, its hwm committed before the reply). */
	sr_seq_spec spec = {.name = "lease1",
	    .chunk_size = 1,
	    .min_chunk = 1,
	    .max_chunk = 1,
	    .block = 1};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		unsigned t = ts[i];
		struct result *r = result_new(x->b, "master", "master.lease.c%u", t);
		if (rv != SR_OK) {
			result_fail(r, "%s", sc_failure(rv, err));
			continue;
		}
		bench_progress(x->b, "master: %u coordinator(s), chunk 1, block mode", t);
		struct crew crew;
		memset(&crew, 0, sizeof(crew));
		sr_coordinator **cs = calloc(t, sizeof(*cs));
		sr_coordinator_stats *a = calloc(t, sizeof(*a)), *z = calloc(t, sizeof(*z));
		int crv = cs && a && z ? crew_init(&crew, x->b, t, OP_SEQ, 1, 1) : SR_ENOMEM;
		for (unsigned k = 0; crv == SR_OK && k < t; k++) {
			char node[32];
			snprintf(node, sizeof(node), "bench-lease-%u", k);
			if ((crv = fx_coord(&x->fx, node, &cs[k], err, sizeof(err))) == SR_OK)
				crv = sr_sequence_get(cs[k], "lease1", &crew.w[k].seq);
			crew.w[k].coord = cs[k];
		}
		for (unsigned k = 0; crv == SR_OK && k < t; k++)
			sr_coordinator_get_stats(cs[k], &a[k]);
		struct commit_count ca, cz;
		commit_count(x, &ca);
		if (crv == SR_OK)
			crew_run(x->b, &crew, crew_warm_for(x->b), r);
		else
			result_fail(r, "%s", sc_failure(crv, err));
		commit_count(x, &cz);
		uint64_t leases = 0, waits = 0;
		for (unsigned k = 0; crv == SR_OK && k < t; k++) {
			sr_coordinator_get_stats(cs[k], &z[k]);
			leases += z[k].leases - a[k].leases;
			waits += z[k].waits - a[k].waits;
		}
		crew_free(&crew);
		for (unsigned k = 0; cs != NULL && k < t; k++)
			sr_coordinator_close(cs[k]);
		free(cs);
		free(a);
		free(z);
		if (r->has_rate) {
			/* With chunk size 1 every ID is one durable lease, so the
			 * measured IDs/s is the master's leases/s. The counters also
			 * cover the warm-up and each coordinator's one prefetch. */
			uint64_t commits = cz.commits - ca.commits;
			uint64_t granted = cz.leases - ca.leases;
			double per = commits > 0 ? (double) granted / (double) commits : 0.0;
			double us = commits > 0
			    ? (double) (cz.commit_us - ca.commit_us) / (double) commits
			    : 0.0;
			/* The commits also count the heartbeats and joins of the
			 * run (a few per second): leases/commit is a lower bound. */
			result_note(r,
			    "IDs/s = durable leases/s; latency = one sr_next_id = "
			    "~one lease round trip; leases=%llu waits=%llu commits=%llu "
			    "leases/commit=%.2f commit=%.0fus (all phases)",
			    (unsigned long long) leases, (unsigned long long) waits,
			    (unsigned long long) commits, per, us);
			result_extra_real(r, "leases_per_sec", r->ids_per_sec);
			result_extra_int(r, "leases", (int64_t) leases);
			result_extra_int(r, "waits", (int64_t) waits);
			result_extra_int(r, "commits", (int64_t) commits);
			result_extra_real(r, "leases_per_commit", per);
			result_extra_real(r, "commit_us", us);
		}
	}
}

/* ---- memory ---- */

void
sc_memory(struct ctx *x)
{
	struct result *rc = result_new(x->b, "memory", "memory.coordinator.seq%d", COORD_SEQS);
	struct result *rmr = result_new(x->b, "memory", "memory.master.seq%llu",
	    (unsigned long long) x->b->master_seqs);
	int ncoord = x->b->master_seqs < COORD_SEQS ? (int) x->b->master_seqs : COORD_SEQS;
	char err[256] = "", mbin[600], cbin[600], dir[64], data[128], murl[128], curl[128];
	char log[256];
	struct child master, coord;
	memset(&master, 0, sizeof(master));
	memset(&coord, 0, sizeof(coord));
	sr_client *madmin = NULL, *cl = NULL;
	uint64_t m_idle = 0, c_idle = 0;
	int rv = proc_sibling(x->b, "snowrange-master", mbin, sizeof(mbin), err, sizeof(err));
	if (rv == SR_OK)
		rv = proc_sibling(x->b, "snowrange-coordinator", cbin, sizeof(cbin), err,
		    sizeof(err));
	snprintf(dir, sizeof(dir), "/tmp/sr-bench-XXXXXX");
	if (rv == SR_OK && mkdtemp(dir) == NULL) {
		bench_errf(err, sizeof(err), "mkdtemp: %s", strerror(errno));
		dir[0] = '\0';
		rv = SR_EIO;
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(murl, sizeof(murl), "ipc://%s/master.ipc", dir);
	snprintf(curl, sizeof(curl), "ipc://%s/coord.ipc", dir);
	if (rv == SR_OK) {
		bench_progress(x->b, "memory: starting snowrange-master and snowrange-coordinator");
		char *argv[] = {mbin, "--data-dir", data, "--listen", murl, NULL};
		snprintf(log, sizeof(log), "%s/master.log", dir);
		rv = child_spawn(&master, "snowrange-master", argv, log, err, sizeof(err));
	}
	if (rv == SR_OK)
		rv = proc_wait_status(murl, &master, err, sizeof(err));
	if (rv == SR_OK) {
		m_idle = proc_kb(master.pid, "VmRSS");
		char *argv[] = {cbin, "join", murl, "--name", "bench-mem", "--listen", curl, NULL};
		snprintf(log, sizeof(log), "%s/coordinator.log", dir);
		rv = child_spawn(&coord, "snowrange-coordinator", argv, log, err, sizeof(err));
	}
	if (rv == SR_OK)
		rv = proc_wait_status(curl, &coord, err, sizeof(err));
	if (rv == SR_OK) {
		c_idle = proc_kb(coord.pid, "VmRSS");
		rv = sr_client_open(murl, REMOTE_TIMEOUT_MS, &madmin);
		if (rv == SR_OK)
			rv = sr_client_open(curl, REMOTE_TIMEOUT_MS, &cl);
	}
	if (rv == SR_OK)
		bench_progress(x->b, "memory: creating %llu sequences (each a durable commit)",
		    (unsigned long long) x->b->master_seqs);
	int64_t t0 = sr_mono_ms();
	for (uint64_t i = 0; rv == SR_OK && i < x->b->master_seqs; i++) {
		char name[32];
		snprintf(name, sizeof(name), "mem%05llu", (unsigned long long) i);
		sr_seq_spec spec = {.name = name};
		if ((rv = sr_client_seq_create(madmin, &spec, NULL)) != SR_OK)
			bench_errf(err, sizeof(err), "seq create %s: %s: %s", name, sr_strerror(rv),
			    sr_client_errmsg(madmin));
	}
	double create_s = (double) (sr_mono_ms() - t0) / 1000.0;
	for (int i = 0; rv == SR_OK && i < ncoord; i++) {
		char name[32];
		uint64_t id;
		snprintf(name, sizeof(name), "mem%05d", i);
		if ((rv = sr_client_next_ids(cl, name, 1, &id, NULL)) != SR_OK)
			bench_errf(err, sizeof(err), "next %s: %s: %s", name, sr_strerror(rv),
			    sr_client_errmsg(cl));
	}
	if (rv == SR_OK) {
		/* Let the background prefetches the draws triggered land. */
		clock_sleep(0.3);
		uint64_t c_rss = proc_kb(coord.pid, "VmRSS"), m_rss = proc_kb(master.pid, "VmRSS");
		uint64_t c_hwm = proc_kb(coord.pid, "VmHWM"), m_hwm = proc_kb(master.pid, "VmHWM");
		struct {
			struct result *r;
			uint64_t rss, hwm, idle;
			double target_kb;
			const char *target;
		} rows[] = {
		    {rc, c_rss, c_hwm, c_idle, TARGET_COORD_RSS_KB, "<=10MB"},
		    {rmr, m_rss, m_hwm, m_idle, TARGET_MASTER_RSS_KB, "<=20MB"},
		};
		/* The master's target is for 10,000 sequences; a smaller count
		 * (a smoke run) is reported but not judged. */
		if (x->b->master_seqs != MASTER_SEQS)
			rows[1].target = NULL;
		for (int i = 0; i < 2; i++) {
			struct result *r = rows[i].r;
			if (rows[i].rss == 0) {
				result_fail(r, "cannot read /proc/PID/status");
				continue;
			}
			result_note(r, "rss=%.2fMB peak=%.2fMB idle=%.2fMB",
			    rows[i].rss * 1024 / 1e6, rows[i].hwm * 1024 / 1e6,
			    rows[i].idle * 1024 / 1e6);
			result_extra_int(r, "rss_kb", (int64_t) rows[i].rss);
			result_extra_int(r, "peak_rss_kb", (int64_t) rows[i].hwm);
			result_extra_int(r, "idle_rss_kb", (int64_t) rows[i].idle);
			r->target = rows[i].target;
			if (r->target != NULL)
				r->verdict =
				    (double) rows[i].rss <= rows[i].target_kb ? V_MET : V_MISSED;
		}
		result_note(rmr, "create=%.1fs", create_s);
		result_extra_real(rmr, "create_seconds", create_s);
	} else {
		result_fail(rc, "%s", sc_failure(rv, err));
		result_fail(rmr, "%s", sc_failure(rv, err));
	}
	sr_client_close(cl);
	sr_client_close(madmin);
	bool clean = child_stop(&coord);
	clean = child_stop(&master) && clean;
	if (!clean) {
		x->children_failed = true;
		rv = SR_EINTERNAL;
	}
	if (dir[0] != '\0' && rv == SR_OK)
		proc_rm_dir(dir);
	else if (dir[0] != '\0')
		fprintf(stderr, "bench: memory: logs kept in %s\n", dir);
}
