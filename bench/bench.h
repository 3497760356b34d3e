/*
 * snowrange-bench: measures snowrange against the physical limit of each
 * path, in one run, on this machine (issue 5; results in docs/benchmarks.md).
 *
 * Every scenario runs its worker threads through a warm-up, then a measured
 * phase of --duration seconds, and reports IDs per second, calls per second
 * and per-call latency percentiles. Where the issue names a baseline it is
 * measured right before the scenario with the same harness and thread count,
 * so that noise on this shared machine hits both alike:
 *
 *   inproc        sr_seq_next_id / sr_next_id vs a bare atomic_fetch_add loop
 *   batch         sr_next_ids of 16, 256, 4096
 *   txid          sr_next_txid(s) vs the layout's limit, 2^seq_bits per tick
 *   remote        NextIds of 1 ID from 1/16/64 clients vs an nng REQ/REP echo
 *   remote-batch  NextIds of 100 and 1000 IDs vs the same echo
 *   switches      calls that waited for a chunk at steady load, leases/s
 *   master        durable leases/s with chunk size 1 in block mode
 *   memory        RSS of the real daemon and master binaries
 *   scale         one real master, many simulated coordinators (scale.c);
 *                 run only when named
 *
 * What runs where: the in-process scenarios use a master started in this
 * process (master_start, SQLite store in a temp dir, ipc URL) and coordinator
 * handles. The remote scenarios start the real snowrange-coordinator binary
 * from the same build directory as a child process, joined to that master,
 * listening on 127.0.0.1; the echo baseline is this same binary re-executed
 * as `snowrange-bench --echo-server URL`, so both servers are separate
 * processes. The memory scenario runs the real snowrange-master and
 * snowrange-coordinator binaries and reads their /proc/PID/status.
 *
 * Latency is measured with the TSC (rdtsc after lfence, calibrated against
 * CLOCK_MONOTONIC) when the CPU says it is invariant, else clock_gettime.
 * Fast calls are sampled: only 1 in `every` calls is timed, so the timer
 * (about 20 ns here) does not distort the throughput it sits in; percentiles
 * and max are those of the timed calls. The timer's own cost is included.
 *
 * This header is private to bench/: the pieces of the program (clock.c,
 * hist.c, harness.c, proc.c, fixture.c, scenarios.c, remote.c, output.c,
 * main.c) and what they share. The operator CLI does not link any of it:
 * `snowrange bench` runs this binary.
 */
#ifndef SR_BENCH_H
#define SR_BENCH_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <nng/nng.h>

#include "server.h"
#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define MAX_THREADS 1024
#define MAX_LIST 16
#define MAX_CHILDREN 8
#define MAX_RESULTS 512
#define CACHELINE 64
/* Chunk size of the in-process sequences: large enough that a chunk lasts
 * seconds even at a billion IDs/s in batches, so steady state never waits
 * on the master (the switches scenario measures the dynamic default). */
#define BIG_CHUNK (UINT64_C(1) << 30)
/* Clients served at once by the daemon and the echo server: the largest
 * default concurrency, so that neither server queues requests. */
#define SERVER_WORKERS 64
#define REMOTE_TIMEOUT_MS 5000
#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000
#define MASTER_SEQS 10000
#define COORD_SEQS 100
/* The scale scenario's defaults (issue 10): 1,000 coordinators x 100
 * sequences, each pair leasing once per 100 s (docs/benchmarks.md says
 * why), the readers pausing 100 ms between calls. */
#define SCALE_COORDS 1000
#define SCALE_SEQS 100
#define SCALE_LEASE_S 100.0
#define SCALE_READ_PAUSE_MS 100
/* Targets of issue 5; MB are decimal (10^6 bytes), the stricter reading. */
#define TARGET_COORD_RSS_KB (10000000.0 / 1024)
#define TARGET_MASTER_RSS_KB (20000000.0 / 1024)
#define TARGET_REMOTE_BATCH_IDS 10000000.0

/* ---- the latency clock (clock.c) ---- */

/* Whether clock_ticks() reads the TSC; set once by clock_init before any thread
 * starts, read-only afterwards. */
struct bench_clock {
	bool tsc;
	double ticks_per_ns;
	double overhead_ns; /* median cost of one clock_ticks() pair */
};

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t
clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* A timestamp in ticks (TSC or ns); inline, since it sits in the timed
 * loop. */
static inline __attribute__((always_inline)) uint64_t
clock_ticks(const struct bench_clock *clk)
{
#if defined(__x86_64__) || defined(__i386__)
	if (clk->tsc) {
		/* lfence keeps rdtsc from running ahead of the timed call. */
		__builtin_ia32_lfence();
		return __builtin_ia32_rdtsc();
	}
#else
	(void) clk;
#endif
	return clock_mono_ns();
}

/* Detects the TSC, calibrates it and measures the timer's own cost. */
void clock_init(struct bench_clock *clk);

/* Sleeps s seconds (nothing for s <= 0), resuming after signals. */
void clock_sleep(double s);

/* ---- the latency histogram (hist.c) ---- */

/*
 * Log-linear buckets (HdrHistogram's idea): values below 256 ticks are
 * exact, above that each power of two is split in 128, so a reported value
 * is at most 0.8% above the true one (we report bucket upper bounds: never
 * in our favour). Constant memory, whatever the duration.
 */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_N (2 * HIST_SUB + (64 - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
	uint64_t count, max;
	uint64_t b[HIST_N];
};

/* Counts one sample; inline for the timed loop. */
static inline __attribute__((always_inline)) void
hist_add(struct hist *h, uint64_t v)
{
	unsigned i;
	if (v < 2 * HIST_SUB) {
		i = (unsigned) v;
	} else {
		unsigned e = 63u - (unsigned) __builtin_clzll(v);
		unsigned shift = e - HIST_SUB_BITS;
		i = 2 * HIST_SUB + (e - HIST_SUB_BITS - 1) * HIST_SUB +
		    (unsigned) ((v >> shift) - HIST_SUB);
	}
	h->b[i]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

/* Adds src's samples to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at quantile q (0..1], in ticks: a bucket's upper bound, capped
 * by the max. */
uint64_t hist_quantile(const struct hist *h, double q);

/* ---- result rows and output (output.c) ---- */

enum verdict { V_NONE, V_MET, V_MISSED };

struct result {
	char scenario[64];
	const char *group;
	unsigned threads;
	size_t batch;
	bool has_rate;
	double calls_per_sec, ids_per_sec;
	uint64_t calls, samples;
	unsigned every;
	bool has_lat;
	double p50, p99, p999, p9999, max; /* ns */
	bool has_baseline;
	char baseline_name[64];
	double baseline; /* IDs/s of the baseline */
	double ratio;
	const char *target;
	enum verdict verdict;
	char notes[200];
	json_t *extra; /* more fields for -o json, may be NULL */
	bool failed;
	char error[200];
};

struct bench {
	double duration;
	uint64_t master_seqs; /* sequences the memory scenario creates */
	/* The scale scenario: simulated coordinators, the sequences each
	 * serves, seconds between two leases of one (coordinator, sequence),
	 * pause of the status and seq list loops between calls. */
	uint64_t scale_coords, scale_seqs;
	double scale_lease_s;
	uint64_t scale_read_pause_ms;
	unsigned threads[MAX_LIST];
	size_t nthreads; /* 0: each scenario's default */
	bool json;
	bool progress;
	struct bench_clock clk;
	char self_dir[512]; /* where snowrange-master and -coordinator live */
	char self_exe[512];
	struct result results[MAX_RESULTS];
	size_t nresults;
	uint64_t t0_ns;   /* start of the run, for progress lines */
	char loadavg[64]; /* at the start: other work skews every number */
};

/* A new row named by fmt; past MAX_RESULTS rows a scratch row is returned
 * (and not printed). */
struct result *result_new(struct bench *b, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Marks r failed with a message; the first cause is kept. */
void result_fail(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a note to r's notes column. */
void result_note(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Extra fields for -o json. */
void result_extra_int(struct result *r, const char *key, int64_t v);
void result_extra_real(struct result *r, const char *key, double v);

/* Records the baseline (IDs/s) and r's ratio to it. */
void result_set_baseline(struct result *r, const char *name, double ids_per_sec);

/* A progress line on stderr, when the run is long enough to want them. */
void bench_progress(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error message into buf (cut when too long): util.h's one helper. */
#define bench_errf sr_errfmt

/* Prints every row: one text table, or a JSON array one object a line. */
void output_text(const struct bench *b);
void output_json(const struct bench *b);

/* ---- the measuring harness (harness.c) ---- */

enum op_kind {
	OP_ATOMIC, /* the bare baseline: one atomic_fetch_add */
	OP_SEQ,    /* sr_seq_next_id on a sequence handle */
	OP_NAME,   /* sr_next_id by name */
	OP_IDS,    /* sr_next_ids by name, batch IDs */
	OP_TXID,   /* sr_next_txid */
	OP_TXIDS,  /* sr_next_txids, batch txids */
	OP_REMOTE, /* sr_client_next_ids, batch IDs */
	OP_SEGS,   /* sr_client_next_segments, batch IDs as segments */
	OP_ECHO,   /* one raw nng REQ/REP exchange */
	OP_HTTP,   /* one HTTP/1.1 request on a keep-alive connection */
};

enum { PHASE_WARM, PHASE_MEASURE, PHASE_STOP };

/* What the workers of one run share. The counter the atomic baseline
 * hammers and the phase flag every worker polls sit on their own lines. */
struct run {
	_Alignas(CACHELINE) _Atomic uint64_t counter;
	_Alignas(CACHELINE) _Atomic int phase;
	const struct bench_clock *clk;
};

struct worker {
	_Alignas(CACHELINE) struct run *run;
	enum op_kind kind;
	unsigned every; /* time 1 of every `every` calls */
	size_t batch;
	sr_coordinator *coord;
	sr_sequence *seq;
	const char *seqname;
	sr_client *client;
	nng_socket sock; /* OP_ECHO */
	size_t req_len, rep_len;
	int fd;               /* OP_HTTP: the connection */
	const char *http_req; /* OP_HTTP: the request's bytes */
	size_t http_req_len;
	char *rbuf; /* OP_HTTP: the reply, HTTP_RBUF bytes */
	uint64_t *buf;
	uint64_t last; /* the last ID: keeps every call's result live */
	struct hist *h;
	pthread_t thread;
	/* results */
	uint64_t calls, t_begin, t_end;
	int err;
	char errmsg[160];
};

/* Called by crew_run as the measured phase starts (PHASE_MEASURE) and ends
 * (PHASE_STOP), e.g. to read CPU times over exactly that window. */
typedef void (*crew_hook)(void *arg, int phase);

/* A set of workers for one measurement. */
struct crew {
	struct run *run;
	struct worker *w;
	size_t n;
	crew_hook hook;
	void *hook_arg;
};

/* Allocates n workers of kind (their histograms and batch buffers); the
 * caller fills in what the kind calls (coordinator, client, socket). */
int crew_init(struct crew *c, const struct bench *b, size_t n, enum op_kind kind, unsigned every,
    size_t batch);
void crew_free(struct crew *c);

/* One exchange with the echo server on w->sock: w->req_len bytes out, whose
 * first 4 ask for w->rep_len bytes back. 0 or an nng error. */
int echo_call(struct worker *w);
/* One HTTP request and its 200 reply on w->fd (http.c). SR_OK or an sr_err. */
int http_call(struct worker *w);

/* The warm-up before each measured phase. */
double crew_warm_for(const struct bench *b);

/* Warm-up, measured phase, stop; fills r. False (r failed) when a worker
 * failed or nothing was measured. */
bool crew_run(struct bench *b, struct crew *c, double warm_s, struct result *r);

/* ---- process control (proc.c) ---- */

struct child {
	pid_t pid;
	char name[32];
	char log[256];
};

/* CPU used by this process and by one server over the measured phase. */
struct cpu_window {
	pid_t server;
	double self0, server0, self_s, server_s;
};

/* Kills the children on SIGINT, SIGTERM and SIGHUP before exiting. */
void proc_trap_signals(void);

/* Starts argv[0] with stdout and stderr appended to log. */
int child_spawn(struct child *ch, const char *name, char *const argv[], const char *log, char *err,
    size_t errlen);
bool child_alive(struct child *ch);
/* SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; true only for a clean exit
 * with status 0. */
bool child_stop(struct child *ch);

/* A field of /proc/PID/status in KiB (VmRSS, VmHWM); 0 if unreadable. */
uint64_t proc_kb(pid_t pid, const char *field);

/* A crew hook (PHASE_MEASURE/PHASE_STOP) reading CPU time of this process
 * and cw->server, and the note it leads to. */
void proc_cpu_hook(void *arg, int phase);
void proc_cpu_note(struct result *r, const struct cpu_window *cw);

/* A port on 127.0.0.1 that was free a moment ago; -1 if none. */
int proc_free_port(void);

/* Removes a temp dir of this run (plain files and sockets). */
void proc_rm_dir(const char *dir);

/* The first three fields of /proc/loadavg, or "unknown". */
void proc_loadavg(char *buf, size_t len);

/* Fills b->self_exe and b->self_dir from /proc/self/exe. */
int proc_find_self(struct bench *b);

/* The path of the binary name next to this one; SR_ENOTFOUND if missing. */
int proc_sibling(const struct bench *b, const char *name, char *out, size_t len, char *err,
    size_t errlen);

/* Waits until url answers Status (ch, if given, must stay alive). */
int proc_wait_status(const char *url, struct child *ch, char *err, size_t errlen);
/* The same for a server that wants credentials (NULL: none). */
int proc_wait_status_with(const char *url, const sr_credentials *cred, struct child *ch, char *err,
    size_t errlen);

/* ---- the in-process cluster (fixture.c) ---- */

struct fixture {
	char dir[64];
	char url[128];
	struct master_config mcfg;
	struct master *m;
	sr_client *admin;
	sr_coordinator *c;     /* "bench-0", shared by inproc, batch and txid */
	bool keep;             /* a child failed: keep its log in dir */
	const char *store_url; /* --store: the master on etcd instead of SQLite */
};

/* Opens the shared cluster on first use. */
int fx_get(struct fixture *f, char *err, size_t errlen);
/* Opens another coordinator on f's master. */
int fx_coord(struct fixture *f, const char *name, sr_coordinator **out, char *err, size_t errlen);
/* Creates a sequence through the admin client. */
int fx_seq(struct fixture *f, const sr_seq_spec *spec, char *err, size_t errlen);
/* Stops everything and removes the temp dir (kept if f->keep). */
void fx_close(struct fixture *f);

/* ---- scenarios (scenarios.c, remote.c) ---- */

struct ctx {
	struct bench *b;
	struct fixture fx;
	bool children_failed; /* a child process did not exit cleanly */
};

struct remote {
	bool up;
	int rv;
	char err[256];
	struct child daemon, echo;
	char daemon_url[64], echo_url[64];
	int http_port; /* the daemon's --http-listen port */
	uint64_t node_id;
	char node[65];
};

/* The thread counts to run: --threads, else the scenario's defaults. */
const unsigned *sc_threads(const struct bench *b, const unsigned *def, size_t ndef, size_t *n);
/* err when set, else the error's description. */
const char *sc_failure(int rv, const char *err);
/* One crew of n threads of kind on coordinator c. */
bool sc_measure(struct ctx *x, struct result *r, size_t n, enum op_kind kind, unsigned every,
    size_t batch, sr_coordinator *c, const char *seq);

void sc_inproc(struct ctx *x);
void sc_batch(struct ctx *x);
void sc_txid(struct ctx *x);
void sc_switches(struct ctx *x);
void sc_master(struct ctx *x);
void sc_memory(struct ctx *x);
void sc_remote(struct ctx *x, struct remote *rm);
void sc_remote_batch(struct ctx *x, struct remote *rm);
void sc_remote_segments(struct ctx *x, struct remote *rm);
void sc_tls(struct ctx *x);
void sc_http(struct ctx *x, struct remote *rm);
/* Starts the daemon (with its HTTP port) and the echo server, once. */
int remote_up(struct ctx *x, struct remote *rm);
void sc_scale(struct ctx *x);

/* Stops the daemon and the echo server; false when one did not exit
 * cleanly. */
bool remote_down(struct remote *rm);

/* The echo server's process (--echo-server URL): serves until SIGTERM. */
int echo_server(const char *url, int workers);
/* nng's HTTP server for the http scenario (--nng-http-server PORT). */
int nng_http_serve(int port);

#endif
