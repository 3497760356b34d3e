/*
 * The histogram and the Prometheus text format (metrics.h). Names follow
 * the Prometheus conventions: a snowrange_ prefix, base units (seconds),
 * _total on counters.
 */
#include "metrics.h"

#include <string.h>

const uint64_t metrics_bounds_us[METRICS_BUCKETS] = {100, 250, 500, 1000, 2500, 5000, 10000, 25000,
    100000, 500000, 2000000, 10000000};

void
metrics_observe(struct metrics_hist *h, uint64_t us)
{
	size_t i = 0;
	while (i < METRICS_BUCKETS && us > metrics_bounds_us[i])
		i++;
	atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void
metrics_hist_read(const struct metrics_hist *h, struct metrics_hist_snap *out)
{
	/* Buckets first, count last: a scrape racing an observation sees a
	 * count at most as large as the buckets' sum, never a bucket above
	 * the count (Prometheus wants +Inf == count; it is set from the sum
	 * of the buckets below). */
	out->count = 0;
	for (size_t i = 0; i <= METRICS_BUCKETS; i++) {
		out->b[i] = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		out->count += out->b[i];
	}
	out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

void
metrics_family(struct strbuf *b, const char *name, const char *type, const char *help)
{
	strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
label(struct strbuf *b, const char *name, const char *key, const char *value)
{
	strbuf_puts(b, name);
	if (key == NULL)
		return;
	strbuf_printf(b, "{%s=\"", key);
	for (const char *c = value; *c != '\0'; c++) {
		if (*c == '\\' || *c == '"')
			strbuf_printf(b, "\\%c", *c);
		else if (*c == '\n')
			strbuf_puts(b, "\\n");
		else
			strbuf_put(b, c, 1);
	}
	strbuf_puts(b, "\"}");
}

void
metrics_u64(struct strbuf *b, const char *name, const char *key, const char *value, uint64_t v)
{
	label(b, name, key, value);
	strbuf_printf(b, " %llu\n", (unsigned long long) v);
}

/* A family with one unlabelled sample: its HELP and TYPE lines and the
 * value, the name written once. */
static void
metrics_one(struct strbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	metrics_family(b, name, type, help);
	metrics_u64(b, name, NULL, NULL, v);
}

/* A family with one sample per sequence, labelled with its name. field is
 * the offsetof() of the value in struct metrics_seq, whose values are all
 * uint64_t (metrics.h), so that the coordinator's and the master's families
 * share this one loop. */
static void
per_seq(struct strbuf *b, const char *name, const char *type, const char *help,
    const struct metrics_seq *seqs, size_t n, size_t field)
{
	metrics_family(b, name, type, help);
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, (const char *) &seqs[i] + field, sizeof(v));
		metrics_u64(b, name, "sequence", seqs[i].name, v);
	}
}

void
metrics_f64(struct strbuf *b, const char *name, const char *key, const char *value, double v)
{
	label(b, name, key, value);
	strbuf_printf(b, " %.6g\n", v);
}

void
metrics_hist_text(struct strbuf *b, const char *name, const struct metrics_hist_snap *h)
{
	uint64_t cum = 0;
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->b[i];
		strbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    (double) metrics_bounds_us[i] / 1e6, (unsigned long long) cum);
	}
	strbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long) h->count);
	strbuf_printf(b, "%s_sum %.6f\n", name, (double) h->sum_us / 1e6);
	strbuf_printf(b, "%s_count %llu\n", name, (unsigned long long) h->count);
}

static void
http_counts(struct strbuf *b, const uint64_t n[3], uint64_t slow_closed)
{
	metrics_family(b, "snowrange_http_responses_total", "counter",
	    "HTTP responses sent, by status class");
	metrics_u64(b, "snowrange_http_responses_total", "code", "2xx", n[0]);
	metrics_u64(b, "snowrange_http_responses_total", "code", "4xx", n[1]);
	metrics_u64(b, "snowrange_http_responses_total", "code", "5xx", n[2]);
	metrics_one(b, "snowrange_http_slow_closed_total", "counter",
	    "HTTP connections closed because no whole request arrived in time", slow_closed);
}

void
metrics_txlog_text(struct strbuf *b, const struct metrics_txlog *t)
{
	metrics_one(b, "snowrange_txlog_records_total", "counter",
	    "records appended to the 2PC log", t->records);
	metrics_family(b, "snowrange_txlog_fsync_duration_seconds", "histogram",
	    "fdatasync of each 2PC log group commit, failed ones included");
	metrics_hist_text(b, "snowrange_txlog_fsync_duration_seconds", &t->fsync);
	metrics_one(b, "snowrange_txlog_fsync_errors_total", "counter",
	    "2PC log fdatasync calls that failed (the log is then poisoned)", t->fsync_errors);
	metrics_one(b, "snowrange_txlog_write_errors_total", "counter",
	    "2PC log group commit writes that failed (the log is then poisoned)", t->write_errors);
	metrics_one(b, "snowrange_txlog_poisoned", "gauge",
	    "1 once a write or fdatasync failed: the log refuses everything until reopened",
	    t->poisoned);
}

void
metrics_coord_text(struct strbuf *b, const struct metrics_coord *m)
{
	per_seq(b, "snowrange_ids_issued_total", "counter",
	    "sequence IDs handed out by this coordinator since it started", m->seqs, m->nseqs,
	    offsetof(struct metrics_seq, issued));
	per_seq(b, "snowrange_chunk_headroom_ids", "gauge",
	    "IDs left in the current and the prefetched chunk", m->seqs, m->nseqs,
	    offsetof(struct metrics_seq, headroom));
	metrics_one(b, "snowrange_txids_issued_total", "counter",
	    "transaction IDs handed out since start", m->txids);
	metrics_one(b, "snowrange_leases_total", "counter", "chunks leased from the master",
	    m->leases);
	metrics_one(b, "snowrange_lease_errors_total", "counter",
	    "lease round trips to the master that failed", m->lease_errors);
	metrics_family(b, "snowrange_lease_duration_seconds", "histogram",
	    "lease round trips to the master");
	metrics_hist_text(b, "snowrange_lease_duration_seconds", &m->lease_latency);
	metrics_family(b, "snowrange_chunk_wait_seconds", "histogram",
	    "callers that found no ID at hand and waited for a chunk, and how long");
	metrics_hist_text(b, "snowrange_chunk_wait_seconds", &m->waits);
	metrics_family(b, "snowrange_worker_lease_remaining_seconds", "gauge",
	    "time left on the worker id lease (0: none; txids are refused)");
	metrics_f64(b, "snowrange_worker_lease_remaining_seconds", NULL, NULL,
	    m->has_worker ? m->worker_lease_seconds : 0);
	metrics_one(b, "snowrange_master_reachable", "gauge",
	    "1 when the last round trip to the master worked", m->master_reachable);
	metrics_one(b, "snowrange_clock_step_backs_total", "counter",
	    "txid calls refused because the clock stepped back past the tolerance", m->clock_backs);
	if (m->txlog != NULL)
		metrics_txlog_text(b, m->txlog);
	http_counts(b, m->http_requests, m->http_slow_closed);
}

void
metrics_master_text(struct strbuf *b, const struct metrics_master *m)
{
	per_seq(b, "snowrange_sequence_hwm", "gauge",
	    "the end of the newest range created: every ID ever leased is at or below it", m->seqs,
	    m->nseqs, offsetof(struct metrics_seq, hwm));
	per_seq(b, "snowrange_sequence_chunk_size", "gauge", "the current chunk size (dynamic)",
	    m->seqs, m->nseqs, offsetof(struct metrics_seq, chunk));
	per_seq(b, "snowrange_sequence_users", "gauge",
	    "live coordinators drawing from the sequence", m->seqs, m->nseqs,
	    offsetof(struct metrics_seq, users));
	metrics_one(b, "snowrange_nodes_live", "gauge", "coordinators heard within the TTL",
	    m->nodes_live);
	metrics_one(b, "snowrange_nodes_known", "gauge", "coordinators in the catalog",
	    m->nodes_known);
	metrics_one(b, "snowrange_worker_ids_free", "gauge",
	    "worker ids a joining node could be granted now", m->workers_free);
	metrics_one(b, "snowrange_worker_ids", "gauge", "worker ids the layout has",
	    m->workers_total);
	metrics_family(b, "snowrange_store_commit_duration_seconds", "histogram",
	    "durable store commits");
	metrics_hist_text(b, "snowrange_store_commit_duration_seconds", &m->commit_latency);
	metrics_one(b, "snowrange_store_commit_errors_total", "counter",
	    "store commits that failed (I/O or a lost fencing term)", m->commit_errors);
	metrics_one(b, "snowrange_fencing_term", "gauge", "the fencing term this master holds",
	    m->term);
	metrics_one(b, "snowrange_master_leases_total", "counter",
	    "chunks leased to coordinators since start", m->leases);
	http_counts(b, m->http_requests, m->http_slow_closed);
}
