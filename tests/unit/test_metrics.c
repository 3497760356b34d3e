/*
 * The metrics module (common/metrics.c): the histogram's buckets, and the
 * Prometheus text of a coordinator's and a master's snapshot, line by line:
 * every sample line is well formed, every family has HELP and TYPE before
 * its samples, histograms are cumulative with +Inf equal to the count, and
 * label values are escaped.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "strbuf.h"

/* Checks the whole text's format; returns the number of sample lines. */
static size_t
check_format(const char *text)
{
	regex_t sample, help, type;
	assert_int_equal(regcomp(&sample,
	                     "^[a-zA-Z_:][a-zA-Z0-9_:]*"
	                     "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\"\\})? "
	                     "(-?[0-9]+(\\.[0-9]+)?(e[-+]?[0-9]+)?|\\+Inf|NaN)$",
	                     REG_EXTENDED | REG_NOSUB),
	    0);
	assert_int_equal(regcomp(&help, "^# HELP [a-z_]+ .+$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regcomp(&type, "^# TYPE [a-z_]+ (counter|gauge|histogram)$",
	                     REG_EXTENDED | REG_NOSUB),
	    0);
	char *copy = strdup(text);
	size_t n = 0;
	char family[128] = "";
	for (char *line = copy, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		assert_non_null(next); /* every line ends in \n */
		*next++ = '\0';
		if (strncmp(line, "# HELP ", 7) == 0) {
			if (regexec(&help, line, 0, NULL, 0) != 0)
				fail_msg("bad HELP line '%s'", line);
			sscanf(line + 7, "%127s", family);
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			if (regexec(&type, line, 0, NULL, 0) != 0)
				fail_msg("bad TYPE line '%s'", line);
		} else {
			if (regexec(&sample, line, 0, NULL, 0) != 0)
				fail_msg("bad sample line '%s'", line);
			if (strncmp(line, family, strlen(family)) != 0)
				fail_msg("sample '%s' outside its family %s", line, family);
			n++;
		}
	}
	free(copy);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
	return n;
}

static void
has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
}

static void
test_hist(void **state)
{
	(void) state;
	struct metrics_hist h;
	memset(&h, 0, sizeof(h));
	metrics_observe(&h, 50);       /* <= 100 us */
	metrics_observe(&h, 100);      /* <= 100 us: bounds are inclusive */
	metrics_observe(&h, 101);      /* <= 250 us */
	metrics_observe(&h, 3000);     /* <= 5 ms */
	metrics_observe(&h, 99000000); /* above every bound */
	struct metrics_hist_snap s;
	metrics_hist_read(&h, &s);
	assert_int_equal(s.count, 5);
	assert_int_equal(s.b[0], 2);
	assert_int_equal(s.b[1], 1);
	assert_int_equal(s.b[5], 1);
	assert_int_equal(s.b[METRICS_BUCKETS], 1);
	struct strbuf b;
	strbuf_init(&b);
	metrics_family(&b, "x_seconds", "histogram", "a test");
	metrics_hist_text(&b, "x_seconds", &s);
	assert_int_equal(check_format(b.p), METRICS_BUCKETS + 3);
	has(b.p, "x_seconds_bucket{le=\"0.0001\"} 2\n");
	has(b.p, "x_seconds_bucket{le=\"0.00025\"} 3\n");
	has(b.p, "x_seconds_bucket{le=\"0.005\"} 4\n");
	has(b.p, "x_seconds_bucket{le=\"10\"} 4\n");
	has(b.p, "x_seconds_bucket{le=\"+Inf\"} 5\n");
	has(b.p, "x_seconds_count 5\n");
	has(b.p, "x_seconds_sum 99.003251\n");
	strbuf_free(&b);
}

static void
test_coord(void **state)
{
	(void) state;
	struct metrics_seq seqs[2] = {{.name = "orders",
	                                  .issued = 386640268780109825ull,
	                                  .headroom = 997},
	    {.name = "a\"b\\c", .issued = 0, .headroom = 0}};
	struct metrics_coord m = {.node = "c1",
	    .txids = 42,
	    .leases = 3,
	    .lease_errors = 1,
	    .has_worker = true,
	    .worker_lease_seconds = 6.5,
	    .master_reachable = true,
	    .clock_backs = 2,
	    .http_requests = {10, 2, 1},
	    .http_slow_closed = 4,
	    .seqs = seqs,
	    .nseqs = 2};
	struct strbuf b;
	strbuf_init(&b);
	metrics_coord_text(&b, &m);
	check_format(b.p);
	/* Counters print exactly, whatever their size (no float rounding). */
	has(b.p, "snowrange_ids_issued_total{sequence=\"orders\"} 386640268780109825\n");
	has(b.p, "snowrange_ids_issued_total{sequence=\"a\\\"b\\\\c\"} 0\n");
	has(b.p, "snowrange_chunk_headroom_ids{sequence=\"orders\"} 997\n");
	has(b.p, "# TYPE snowrange_txids_issued_total counter\n");
	has(b.p, "snowrange_txids_issued_total 42\n");
	has(b.p, "snowrange_leases_total 3\n");
	has(b.p, "snowrange_lease_errors_total 1\n");
	has(b.p, "# TYPE snowrange_lease_duration_seconds histogram\n");
	has(b.p, "snowrange_chunk_wait_seconds_count 0\n");
	has(b.p, "snowrange_worker_lease_remaining_seconds 6.5\n");
	has(b.p, "snowrange_master_reachable 1\n");
	has(b.p, "snowrange_clock_step_backs_total 2\n");
	has(b.p, "snowrange_http_responses_total{code=\"4xx\"} 2\n");
	has(b.p, "snowrange_http_slow_closed_total 4\n");
	/* No 2PC log attached (the daemon's case): its families are left out. */
	assert_null(strstr(b.p, "snowrange_txlog_"));
	m.has_worker = false;
	strbuf_reset(&b);
	metrics_coord_text(&b, &m);
	has(b.p, "snowrange_worker_lease_remaining_seconds 0\n");
	strbuf_free(&b);
}

static void
test_master(void **state)
{
	(void) state;
	struct metrics_seq seqs[1] = {
	    {.name = "orders", .hwm = 9223372036854775807ull, .chunk = 1000, .users = 2}};
	struct metrics_master m = {.term = 7,
	    .nodes_live = 2,
	    .nodes_known = 3,
	    .workers_free = 1022,
	    .workers_total = 1024,
	    .commit_errors = 1,
	    .leases = 9,
	    .seqs = seqs,
	    .nseqs = 1};
	m.commit_latency.b[3] = 4;
	m.commit_latency.count = 4;
	m.commit_latency.sum_us = 2000;
	struct strbuf b;
	strbuf_init(&b);
	metrics_master_text(&b, &m);
	check_format(b.p);
	has(b.p, "snowrange_sequence_hwm{sequence=\"orders\"} 9223372036854775807\n");
	has(b.p, "snowrange_sequence_chunk_size{sequence=\"orders\"} 1000\n");
	has(b.p, "snowrange_sequence_users{sequence=\"orders\"} 2\n");
	has(b.p, "snowrange_nodes_live 2\n");
	has(b.p, "snowrange_worker_ids_free 1022\n");
	has(b.p, "snowrange_store_commit_duration_seconds_bucket{le=\"0.001\"} 4\n");
	has(b.p, "snowrange_store_commit_duration_seconds_sum 0.002000\n");
	has(b.p, "snowrange_store_commit_errors_total 1\n");
	has(b.p, "snowrange_fencing_term 7\n");
	has(b.p, "snowrange_master_leases_total 9\n");
	strbuf_free(&b);
}

/* A coordinator with a 2PC log attached shows its fsync latency and
 * errors; the same renderer serves sr_txlog_metrics_text. */
static void
test_coord_txlog(void **state)
{
	(void) state;
	struct metrics_txlog t = {.records = 12,
	    .fsync_errors = 1,
	    .write_errors = 0,
	    .poisoned = true};
	t.fsync.b[4] = 3;               /* three syncs of 1..2.5 ms */
	t.fsync.b[METRICS_BUCKETS] = 1; /* one above 10 s */
	t.fsync.count = 4;
	t.fsync.sum_us = 12006000;
	struct metrics_coord m = {.node = "c1", .txlog = &t};
	struct strbuf b;
	strbuf_init(&b);
	metrics_coord_text(&b, &m);
	check_format(b.p);
	has(b.p, "snowrange_txlog_records_total 12\n");
	has(b.p, "snowrange_txlog_fsync_duration_seconds_bucket{le=\"0.001\"} 0\n");
	has(b.p, "snowrange_txlog_fsync_duration_seconds_bucket{le=\"0.0025\"} 3\n");
	has(b.p, "snowrange_txlog_fsync_duration_seconds_bucket{le=\"10\"} 3\n");
	has(b.p, "snowrange_txlog_fsync_duration_seconds_bucket{le=\"+Inf\"} 4\n");
	has(b.p, "snowrange_txlog_fsync_duration_seconds_sum 12.006000\n");
	has(b.p, "snowrange_txlog_fsync_errors_total 1\n");
	has(b.p, "snowrange_txlog_write_errors_total 0\n");
	has(b.p, "snowrange_txlog_poisoned 1\n");
	strbuf_reset(&b);
	metrics_txlog_text(&b, &t);
	/* records, the histogram (buckets, +Inf, sum, count) and three more. */
	assert_int_equal(check_format(b.p), 1 + METRICS_BUCKETS + 3 + 3);
	strbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist),
	    cmocka_unit_test(test_coord),
	    cmocka_unit_test(test_coord_txlog),
	    cmocka_unit_test(test_master),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
