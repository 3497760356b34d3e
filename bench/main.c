/*
 * snowrange-bench: options, the scenario table and the run. See bench.h for
 * what is measured and how, docs/benchmarks.md for results.
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
#include <signal.h>

#include <nng/nng.h>

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

enum {
	SC_INPROC = 1 << 0,
	SC_BATCH = 1 << 1,
	SC_TXID = 1 << 2,
	SC_REMOTE = 1 << 3,
	SC_REMOTE_BATCH = 1 << 4,
	SC_SWITCHES = 1 << 5,
	SC_MASTER = 1 << 6,
	SC_MEMORY = 1 << 7,
	SC_TLS = 1 << 8,
	SC_HTTP = 1 << 9,
	SC_SCALE = 1 << 10,
	SC_REMOTE_SEGMENTS = 1 << 11,
};

/* Scenarios run when none is named; scale (a minute of one master under a
 * simulated cluster) only runs when asked for. */
#define SC_DEFAULT                                                                                \
	(SC_INPROC | SC_BATCH | SC_TXID | SC_REMOTE | SC_REMOTE_BATCH | SC_SWITCHES | SC_MASTER | \
	    SC_MEMORY | SC_TLS | SC_HTTP | SC_REMOTE_SEGMENTS)

static const struct {
	const char *name;
	unsigned bit;
	int rows; /* measured runs, for the progress estimate */
	const char *help;
} scenarios[] = {
    {"inproc", SC_INPROC, 6,
        "sr_seq_next_id and sr_next_id, 1 and 2 threads, vs "
        "atomic_fetch_add"},
    {"batch", SC_BATCH, 3, "sr_next_ids of 16, 256, 4096 IDs, 1 thread"},
    {"txid", SC_TXID, 2,
        "sr_next_txid and sr_next_txids(4096), 1 thread, vs "
        "2^seq_bits per tick"},
    {"remote", SC_REMOTE, 6, "NextIds of 1 ID, 1/16/64 clients, vs nng echo"},
    {"remote-batch", SC_REMOTE_BATCH, 8,
        "NextIds of 100 and 1000 IDs, 1/16 "
        "clients, vs nng echo"},
    {"remote-segments", SC_REMOTE_SEGMENTS, 9,
        "NextIds of 1 vs segments of 1000 "
        "and 1000000 IDs, 1/8/50 clients (calls/s)"},
    {"switches", SC_SWITCHES, 2, "waits for the master at steady load, 2 threads"},
    {"master", SC_MASTER, 2, "durable leases/s, 1 and 8 coordinators"},
    {"memory", SC_MEMORY, 3, "RSS: daemon with 100 sequences, master with 10000"},
    {"tls", SC_TLS, 6,
        "durable leases/s and NextIds of 1 (1/16 clients) over tcp "
        "vs mutual TLS + tokens"},
    {"http", SC_HTTP, 12,
        "HTTP requests/s (1/16/64 clients): libmicrohttpd ids and "
        "healthz vs NextIds over nng vs nng's own HTTP server"},
    {"scale", SC_SCALE, 0,
        "one snowrange-master process, --coordinators simulated "
        "coordinators x --sequences, status and seq list in a loop (only when named)"},
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: snowrange-bench [--scenario NAME[,NAME...]] [--duration SECONDS]\n"
	    "                       [--threads N[,N...]] [--master-sequences N]\n"
	    "                       [--store etcd://HOST:PORT,...]\n"
	    "                       [--coordinators N] [--sequences N]\n"
	    "                       [--lease-interval SECONDS] [--read-pause MS]\n"
	    "                       [-o text|json]\n"
	    "\n"
	    "Starts its own master (in-process), coordinator daemon and nng echo server\n"
	    "(child processes, 127.0.0.1 and ipc paths in /tmp), measures, stops them.\n"
	    "`snowrange bench ARGS` runs this program with ARGS.\n"
	    "\n"
	    "options:\n"
	    "  --scenario, -s LIST  scenarios to run (default: all but scale)\n"
	    "  --duration SECONDS   measured time per run (default 2; warm-up is a\n"
	    "                       quarter of it, at most 0.25 s)\n"
	    "  --threads LIST       threads (clients, coordinators) instead of each\n"
	    "                       scenario's defaults\n"
	    "  --master-sequences N sequences the memory scenario creates on the master\n"
	    "                       (default 10000, the size the RSS target is for)\n"
	    "  --store URL          the in-process master keeps its state in etcd at URL\n"
	    "                       (etcd://HOST:PORT,.../PREFIX) instead of SQLite\n"
	    "  --coordinators N     scale: simulated coordinators (default 1000)\n"
	    "  --sequences N        scale: sequences, each served by every coordinator\n"
	    "                       (default 100)\n"
	    "  --lease-interval S   scale: seconds between two leases of one coordinator\n"
	    "                       for one sequence (default 100)\n"
	    "  --read-pause MS      scale: pause of the status and seq list loops between\n"
	    "                       calls (default 100; 0: back to back)\n"
	    "                       scale measures for --duration, at least 10 s, after a\n"
	    "                       5 s warm-up\n"
	    "  -o, --output FORMAT  text (one table) or json (an array, one object a line)\n"
	    "  -h, --help           this help\n"
	    "\n"
	    "scenarios:\n");
	for (size_t i = 0; i < NSCENARIOS; i++)
		fprintf(f, "  %-13s %s\n", scenarios[i].name, scenarios[i].help);
	fprintf(f,
	    "\nExit status: 0 when every selected scenario produced numbers, 1 when "
	    "one failed, 2 on a usage error.\n");
}

static int
bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "snowrange-bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}

/* Splits a comma list in place into items (no strtok: it is not reentrant
 * and skips empty items silently). */
static int
split(char *s, char **items, int max)
{
	int n = 0;
	for (char *p = s;;) {
		if (n == max)
			return -1;
		items[n++] = p;
		char *comma = strchr(p, ',');
		if (comma == NULL)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return n;
}

static bool
parse_duration(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 3600)
		return false;
	*out = v;
	return true;
}

/* The value of --name VALUE or --name=VALUE; NULL if argv[*i] is not it. */
static const char *
opt_value(int argc, char **argv, int *i, const char *lng, const char *shrt, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);
	*missing = false;
	if (strncmp(a, lng, n) == 0 && a[n] == '=')
		return a + n + 1;
	if (strcmp(a, lng) == 0 || (shrt != NULL && strcmp(a, shrt) == 0)) {
		if (*i + 1 >= argc) {
			*missing = true;
			return NULL;
		}
		return argv[++*i];
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static struct bench b; /* big (results) and one per process */
	char listbuf[512];
	unsigned selected = 0;
	const char *echo_url = NULL;
	const char *store_url = NULL; /* --store */
	uint64_t echo_workers = SERVER_WORKERS;
	b.duration = 2.0;
	b.master_seqs = MASTER_SEQS;
	b.scale_coords = SCALE_COORDS;
	b.scale_seqs = SCALE_SEQS;
	b.scale_lease_s = SCALE_LEASE_S;
	b.scale_read_pause_ms = SCALE_READ_PAUSE_MS;

	for (int i = 1; i < argc; i++) {
		const char *v;
		bool missing;
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if ((v = opt_value(argc, argv, &i, "--duration", NULL, &missing))) {
			if (!parse_duration(v, &b.duration))
				return bad_usage(
				    "--duration wants seconds in (0, 3600], not '%.40s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--threads", NULL, &missing))) {
			char *items[MAX_LIST];
			sr_strlcpy(listbuf, v, sizeof(listbuf));
			int n = split(listbuf, items, MAX_LIST);
			if (n < 0)
				return bad_usage("--threads takes at most 16 values: '%.40s'", v);
			for (int j = 0; j < n; j++) {
				uint64_t t;
				if (!sr_parse_u64(items[j], &t) || t < 1 || t > MAX_THREADS)
					return bad_usage(
					    "--threads wants numbers in 1..1024, not '%.40s'",
					    items[j]);
				b.threads[j] = (unsigned) t;
			}
			b.nthreads = (size_t) n;
		} else if ((v = opt_value(argc, argv, &i, "--scenario", "-s", &missing))) {
			char *items[NSCENARIOS * 2];
			sr_strlcpy(listbuf, v, sizeof(listbuf));
			int n = split(listbuf, items, (int) (NSCENARIOS * 2));
			if (n < 0)
				return bad_usage("too many scenarios: '%.40s'", v);
			for (int j = 0; j < n; j++) {
				size_t k = 0;
				while (k < NSCENARIOS && strcmp(items[j], scenarios[k].name) != 0)
					k++;
				if (k == NSCENARIOS)
					return bad_usage("unknown scenario '%.40s'", items[j]);
				selected |= scenarios[k].bit;
			}
		} else if ((v = opt_value(argc, argv, &i, "--output", "-o", &missing))) {
			if (strcmp(v, "json") == 0)
				b.json = true;
			else if (strcmp(v, "text") != 0)
				return bad_usage("-o wants text or json, not '%.40s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--store", NULL, &missing))) {
			if (strncmp(v, "etcd://", 7) != 0)
				return bad_usage("--store wants etcd://HOST:PORT,..., not '%.40s'",
				    v);
			store_url = v;
		} else if ((v = opt_value(argc, argv, &i, "--master-sequences", NULL, &missing))) {
			if (!sr_parse_u64(v, &b.master_seqs) || b.master_seqs < 1 ||
			    b.master_seqs > 99999)
				return bad_usage("--master-sequences wants 1..99999, not '%.40s'",
				    v);
		} else if ((v = opt_value(argc, argv, &i, "--nng-http-server", NULL, &missing))) {
			uint64_t port;
			if (!sr_parse_u64(v, &port) || port < 1 || port > 65535)
				return bad_usage("--nng-http-server wants a port, not '%.40s'", v);
			return nng_http_serve((int) port); /* internal: the http scenario's */
		} else if ((v = opt_value(argc, argv, &i, "--coordinators", NULL, &missing))) {
			if (!sr_parse_u64(v, &b.scale_coords) || b.scale_coords < 1 ||
			    b.scale_coords > 4000)
				return bad_usage("--coordinators wants 1..4000, not '%.40s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--sequences", NULL, &missing))) {
			if (!sr_parse_u64(v, &b.scale_seqs) || b.scale_seqs < 1 ||
			    b.scale_seqs > 512)
				return bad_usage("--sequences wants 1..512, not '%.40s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--lease-interval", NULL, &missing))) {
			if (!parse_duration(v, &b.scale_lease_s))
				return bad_usage("--lease-interval wants seconds in (0, 3600], not "
				                 "'%.40s'",
				    v);
		} else if ((v = opt_value(argc, argv, &i, "--read-pause", NULL, &missing))) {
			if (!sr_parse_u64(v, &b.scale_read_pause_ms) ||
			    b.scale_read_pause_ms > 60000)
				return bad_usage("--read-pause wants 0..60000 ms, not '%.40s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--echo-server", NULL, &missing))) {
			echo_url = v; /* internal: the echo baseline's server process */
		} else if ((v = opt_value(argc, argv, &i, "--workers", NULL, &missing))) {
			if (!sr_parse_u64(v, &echo_workers) || echo_workers < 1 ||
			    echo_workers > MAX_THREADS)
				return bad_usage("--workers wants 1..1024, not '%.40s'", v);
		} else if (missing) {
			return bad_usage("%s needs a value", a);
		} else {
			return bad_usage("unknown argument '%.40s'", a);
		}
	}
	if (echo_url != NULL)
		return echo_server(echo_url, (int) echo_workers);
	if (selected == 0)
		selected = SC_DEFAULT;

	if (proc_find_self(&b) != SR_OK) {
		fprintf(stderr, "snowrange-bench: cannot read /proc/self/exe\n");
		return EXIT_FAIL;
	}
	proc_trap_signals();
	clock_init(&b.clk);
	proc_loadavg(b.loadavg, sizeof(b.loadavg));

	/* Progress only when the run is long enough to wonder about. */
	double est = 0;
	for (size_t k = 0; k < NSCENARIOS; k++) {
		if (selected & scenarios[k].bit) {
			int rows = scenarios[k].rows;
			if (b.nthreads > 0 && scenarios[k].bit != SC_MEMORY &&
			    scenarios[k].bit != SC_SWITCHES)
				rows = rows * (int) b.nthreads / 2 + 1;
			est += rows * (b.duration + crew_warm_for(&b));
		}
	}
	if (selected & SC_MEMORY)
		est += 1 + (double) b.master_seqs / 2000;
	if (selected & SC_SCALE)
		est += 15;
	b.progress = est > 3.0;
	b.t0_ns = clock_mono_ns();

	struct ctx x;
	memset(&x, 0, sizeof(x));
	x.b = &b;
	x.fx.store_url = store_url;
	struct remote rm;
	memset(&rm, 0, sizeof(rm));
	if (selected & SC_INPROC)
		sc_inproc(&x);
	if (selected & SC_BATCH)
		sc_batch(&x);
	if (selected & SC_TXID)
		sc_txid(&x);
	if (selected & SC_REMOTE)
		sc_remote(&x, &rm);
	if (selected & SC_REMOTE_BATCH)
		sc_remote_batch(&x, &rm);
	if (selected & SC_HTTP)
		sc_http(&x, &rm);
	if (selected & SC_REMOTE_SEGMENTS)
		sc_remote_segments(&x, &rm);
	if (!remote_down(&rm)) {
		x.children_failed = true;
		x.fx.keep = true;
	}
	if (selected & SC_SWITCHES)
		sc_switches(&x);
	if (selected & SC_MASTER)
		sc_master(&x);
	if (selected & SC_TLS)
		sc_tls(&x);
	fx_close(&x.fx);
	if (selected & SC_MEMORY)
		sc_memory(&x);
	if (selected & SC_SCALE)
		sc_scale(&x);

	if (b.json)
		output_json(&b);
	else
		output_text(&b);
	int rc = 0;
	for (size_t i = 0; i < b.nresults; i++) {
		struct result *r = &b.results[i];
		bool numbers = r->has_rate || r->extra != NULL;
		if (r->failed || !numbers) {
			if (!r->failed)
				result_fail(r, "produced no numbers");
			fprintf(stderr, "snowrange-bench: %s: %s\n", r->scenario, r->error);
			rc = EXIT_FAIL;
		}
		json_decref(r->extra);
	}
	if (x.children_failed) {
		fprintf(stderr, "snowrange-bench: a server it started did not exit cleanly\n");
		rc = EXIT_FAIL;
	}
	/* Every socket, master and coordinator is closed by now. */
	nng_fini();
	return rc;
}
