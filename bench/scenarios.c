/*
 * snowrange bench: measures snowrange against the physical limit of each
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
 *
 * What runs where: the in-process scenarios use a master started in this
 * process (master_start, SQLite store in a temp dir, ipc URL) and coordinator
 * handles. The remote scenarios start the real snowrange-coordinator binary
 * from the same build directory as a child process, joined to that master,
 * listening on 127.0.0.1; the echo baseline is this same binary re-executed
 * as `snowrange bench --echo-server URL`, so both servers are separate
 * processes. The memory scenario runs the real snowrange-master and
 * snowrange-coordinator binaries and reads their /proc/PID/status.
 *
 * Latency is measured with the TSC (rdtsc after lfence, calibrated against
 * CLOCK_MONOTONIC) when the CPU says it is invariant, else clock_gettime.
 * Fast calls are sampled: only 1 in `every` calls is timed, so the timer
 * (about 20 ns here) does not distort the throughput it sits in; percentiles
 * and max are those of the timed calls. The timer's own cost is included.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "server.h"
#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"
#include "wire.h"

extern char **environ;

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
/* Targets of issue 5; MB are decimal (10^6 bytes), the stricter reading. */
#define TARGET_COORD_RSS_KB (10000000.0 / 1024)
#define TARGET_MASTER_RSS_KB (20000000.0 / 1024)
#define TARGET_REMOTE_BATCH_IDS 10000000.0

/* ---- the latency clock ---- */

/* Whether ticks() reads the TSC; set once by clock_init before any thread
 * starts, read-only afterwards. */
struct bench_clock {
	bool tsc;
	double ticks_per_ns;
	double overhead_ns; /* median cost of one ticks() pair */
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static inline __attribute__((always_inline)) uint64_t
ticks(const struct bench_clock *clk)
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
	return mono_ns();
}

/* The TSC is usable only when it runs at a constant rate in every power
 * state; the kernel says so in the CPU flags. */
static bool
tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return false;
	char line[4096];
	bool ok = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) == 0) {
			ok = strstr(line, " constant_tsc") != NULL &&
			    strstr(line, " nonstop_tsc") != NULL;
			break;
		}
	}
	fclose(f);
	return ok;
#else
	return false;
#endif
}

static void
sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec ts;
	ts.tv_sec = (time_t) s;
	ts.tv_nsec = (long) ((s - (double) ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

static void
clock_init(struct bench_clock *clk)
{
	clk->tsc = tsc_invariant();
	clk->ticks_per_ns = 1.0;
	if (clk->tsc) {
		uint64_t n0 = mono_ns(), t0 = ticks(clk);
		sleep_s(0.05);
		uint64_t n1 = mono_ns(), t1 = ticks(clk);
		clk->ticks_per_ns = (double) (t1 - t0) / (double) (n1 - n0);
		if (!(clk->ticks_per_ns > 0.01)) {
			clk->tsc = false;
			clk->ticks_per_ns = 1.0;
		}
	}
	enum { N = 1001 };
	uint64_t d[N];
	for (int i = 0; i < N; i++) {
		uint64_t a = ticks(clk);
		uint64_t b = ticks(clk);
		d[i] = b - a;
	}
	qsort(d, N, sizeof(d[0]), cmp_u64);
	clk->overhead_ns = (double) d[N / 2] / clk->ticks_per_ns;
}

/* ---- latency histogram ---- */

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

static uint64_t
hist_upper(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return i;
	unsigned j = i - 2 * HIST_SUB;
	unsigned e = j / HIST_SUB + HIST_SUB_BITS + 1;
	uint64_t m = j % HIST_SUB + HIST_SUB;
	unsigned shift = e - HIST_SUB_BITS;
	return ((m + 1) << shift) - 1;
}

static void
hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_N; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The value at quantile q (0..1], in ticks: the upper bound of the bucket
 * holding the ceil(q * count)-th smallest sample, capped by the max. */
static uint64_t
hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	double r = q * (double) h->count;
	uint64_t rank = (uint64_t) r;
	if ((double) rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t u = hist_upper(i);
			return u < h->max ? u : h->max;
		}
	}
	return h->max;
}

/* ---- results ---- */

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
	unsigned threads[MAX_LIST];
	size_t nthreads; /* 0: each scenario's default */
	bool json;
	bool progress;
	struct bench_clock clk;
	char self_dir[512]; /* where snowrange-master and -coordinator live */
	char self_exe[512];
	struct result results[MAX_RESULTS];
	size_t nresults;
	uint64_t t0_ns; /* start of the run, for progress lines */
	char loadavg[64]; /* at the start: other work skews every number */
};

static struct result *
result_new(struct bench *b, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct result *
result_new(struct bench *b, const char *group, const char *fmt, ...)
{
	static struct result overflow;
	struct result *r = b->nresults < MAX_RESULTS ? &b->results[b->nresults++] :
	    &overflow;
	memset(r, 0, sizeof(*r));
	r->group = group;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->scenario, sizeof(r->scenario), fmt, ap);
	va_end(ap);
	return r;
}

static void
result_fail(struct result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
result_fail(struct result *r, const char *fmt, ...)
{
	if (r->failed)
		return; /* keep the first cause */
	r->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static void
note(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(struct result *r, const char *fmt, ...)
{
	size_t len = strlen(r->notes);
	if (len + 2 >= sizeof(r->notes))
		return;
	if (len > 0) {
		r->notes[len++] = ' ';
		r->notes[len] = '\0';
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->notes + len, sizeof(r->notes) - len, fmt, ap);
	va_end(ap);
}

static void
extra_int(struct result *r, const char *key, int64_t v)
{
	if (r->extra == NULL)
		r->extra = json_object();
	json_object_set_new(r->extra, key, json_integer(v));
}

static void
extra_real(struct result *r, const char *key, double v)
{
	if (r->extra == NULL)
		r->extra = json_object();
	json_object_set_new(r->extra, key, json_real(v));
}

static void
set_baseline(struct result *r, const char *name, double ids_per_sec)
{
	r->has_baseline = true;
	sr_strlcpy(r->baseline_name, name, sizeof(r->baseline_name));
	r->baseline = ids_per_sec;
	r->ratio = ids_per_sec > 0 ? r->ids_per_sec / ids_per_sec : 0;
}

static void
progress(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
progress(struct bench *b, const char *fmt, ...)
{
	if (!b->progress)
		return;
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: [%5.1fs] %s\n", (double) (mono_ns() - b->t0_ns) / 1e9, msg);
}

/* ---- the measuring harness ---- */

enum op_kind {
	OP_ATOMIC,  /* the bare baseline: one atomic_fetch_add */
	OP_SEQ,     /* sr_seq_next_id on a sequence handle */
	OP_NAME,    /* sr_next_id by name */
	OP_IDS,     /* sr_next_ids by name, batch IDs */
	OP_TXID,    /* sr_next_txid */
	OP_TXIDS,   /* sr_next_txids, batch txids */
	OP_REMOTE,  /* sr_client_next_ids, batch IDs */
	OP_ECHO,    /* one raw nng REQ/REP exchange */
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
	unsigned every;       /* time 1 of every `every` calls */
	size_t batch;
	sr_coordinator *coord;
	sr_sequence *seq;
	const char *seqname;
	sr_client *client;
	nng_socket sock;      /* OP_ECHO */
	size_t req_len, rep_len;
	uint64_t *buf;
	uint64_t last;        /* the last ID: keeps every call's result live */
	struct hist *h;
	pthread_t thread;
	/* results */
	uint64_t calls, t_begin, t_end;
	int err;
	char errmsg[160];
};

static int
echo_call(struct worker *w)
{
	nng_msg *m, *rep;
	int rv = nng_msg_alloc(&m, w->req_len);
	if (rv != 0)
		return rv;
	/* The first 4 bytes ask the server for a reply of rep_len bytes. */
	uint8_t *p = nng_msg_body(m);
	memset(p, 0, w->req_len);
	uint32_t n = (uint32_t) w->rep_len;
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (n >> (8 * i));
	if ((rv = nng_sendmsg(w->sock, m, 0)) != 0) {
		nng_msg_free(m);
		return rv;
	}
	if ((rv = nng_recvmsg(w->sock, &rep, 0)) != 0)
		return rv;
	rv = nng_msg_len(rep) == w->rep_len ? 0 : NNG_EPROTO;
	nng_msg_free(rep);
	return rv;
}

/* One call of the worker's kind. Inlined into a loop per kind, so the bare
 * baseline pays for no dispatch the measured calls do not pay for too. */
static inline __attribute__((always_inline)) int
op_once(struct worker *w, const enum op_kind k)
{
	size_t got;
	switch (k) {
	case OP_ATOMIC:
		w->last = atomic_fetch_add(&w->run->counter, 1) + 1;
		return SR_OK;
	case OP_SEQ:
		return sr_seq_next_id(w->seq, &w->last);
	case OP_NAME:
		return sr_next_id(w->coord, w->seqname, &w->last);
	case OP_IDS:
		return sr_next_ids(w->coord, w->seqname, w->batch, w->buf, &got);
	case OP_TXID:
		return sr_next_txid(w->coord, &w->last);
	case OP_TXIDS:
		return sr_next_txids(w->coord, w->batch, w->buf, &got);
	case OP_REMOTE:
		return sr_client_next_ids(w->client, w->seqname, (uint32_t) w->batch,
		    w->buf, NULL);
	case OP_ECHO:
		return echo_call(w) == 0 ? SR_OK : SR_ETIMEDOUT;
	}
	return SR_EINVAL;
}

static inline __attribute__((always_inline)) void
loop(struct worker *w, const enum op_kind k)
{
	struct run *r = w->run;
	const struct bench_clock *clk = r->clk;
	int ph = PHASE_WARM, rv = SR_OK;
	uint64_t calls = 0;
	for (;;) {
		int now = atomic_load_explicit(&r->phase, memory_order_relaxed);
		/* A worker's window opens when it first sees the warm-up end and
		 * closes at the stop, but only once it holds a completed call: a
		 * call slower than the whole phase (a loaded machine, a tiny
		 * --duration) stretches the window instead of measuring nothing.
		 * Each worker's rate uses its own window. */
		if (ph == PHASE_WARM && now != PHASE_WARM) {
			memset(w->h, 0, sizeof(*w->h));
			calls = 0;
			w->t_begin = mono_ns();
			ph = PHASE_MEASURE;
		}
		if (now == PHASE_STOP && calls > 0) {
			w->t_end = mono_ns();
			break;
		}
		for (unsigned i = 1; i < w->every; i++)
			if ((rv = op_once(w, k)) != SR_OK)
				goto failed;
		uint64_t t0 = ticks(clk);
		rv = op_once(w, k);
		uint64_t t1 = ticks(clk);
		if (rv != SR_OK)
			goto failed;
		hist_add(w->h, t1 - t0);
		calls += w->every;
	}
	w->calls = calls;
	return;
failed:
	w->err = rv;
	w->calls = 0;
	w->t_end = mono_ns();
	if (k == OP_REMOTE)
		snprintf(w->errmsg, sizeof(w->errmsg), "%s", sr_client_errmsg(w->client));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	/* One specialized loop per kind (see op_once). */
	switch (w->kind) {
	case OP_ATOMIC: loop(w, OP_ATOMIC); break;
	case OP_SEQ: loop(w, OP_SEQ); break;
	case OP_NAME: loop(w, OP_NAME); break;
	case OP_IDS: loop(w, OP_IDS); break;
	case OP_TXID: loop(w, OP_TXID); break;
	case OP_TXIDS: loop(w, OP_TXIDS); break;
	case OP_REMOTE: loop(w, OP_REMOTE); break;
	case OP_ECHO: loop(w, OP_ECHO); break;
	}
	return NULL;
}

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

static int
crew_init(struct crew *c, const struct bench *b, size_t n, enum op_kind kind,
    unsigned every, size_t batch)
{
	memset(c, 0, sizeof(*c));
	c->run = aligned_alloc(CACHELINE, sizeof(struct run));
	c->w = aligned_alloc(CACHELINE, n * sizeof(struct worker));
	if (c->run == NULL || c->w == NULL) {
		free(c->run);
		free(c->w);
		memset(c, 0, sizeof(*c));
		return SR_ENOMEM;
	}
	memset(c->run, 0, sizeof(*c->run));
	memset(c->w, 0, n * sizeof(struct worker));
	c->run->clk = &b->clk;
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &c->w[i];
		w->run = c->run;
		w->kind = kind;
		w->every = every;
		w->batch = batch;
		w->h = calloc(1, sizeof(*w->h));
		w->buf = calloc(batch, sizeof(uint64_t));
		if (w->h == NULL || w->buf == NULL)
			return SR_ENOMEM;
	}
	return SR_OK;
}

static void
crew_free(struct crew *c)
{
	for (size_t i = 0; c->w != NULL && i < c->n; i++) {
		free(c->w[i].h);
		free(c->w[i].buf);
	}
	free(c->w);
	free(c->run);
	memset(c, 0, sizeof(*c));
}

static double
warm_for(const struct bench *b)
{
	double w = b->duration / 4;
	return w > 0.25 ? 0.25 : w;
}

/*
 * Runs the crew: warm-up, then the measured phase, then stop, and fills r
 * with the rate and latency. The rate is the sum of each worker's calls over
 * its own measured window. Returns false (and fails r) when a worker failed
 * or nothing was measured.
 */
static bool
crew_run(struct bench *b, struct crew *c, double warm_s, struct result *r)
{
	size_t started = 0;
	atomic_store(&c->run->phase, PHASE_WARM);
	for (; started < c->n; started++)
		if (pthread_create(&c->w[started].thread, NULL, worker_main, &c->w[started]) != 0)
			break;
	if (started == c->n) {
		sleep_s(warm_s);
		atomic_store(&c->run->phase, PHASE_MEASURE);
		if (c->hook != NULL)
			c->hook(c->hook_arg, PHASE_MEASURE);
		sleep_s(b->duration);
	}
	atomic_store(&c->run->phase, PHASE_STOP);
	if (c->hook != NULL && started == c->n)
		c->hook(c->hook_arg, PHASE_STOP);
	for (size_t i = 0; i < started; i++)
		pthread_join(c->w[i].thread, NULL);
	if (started < c->n) {
		result_fail(r, "cannot start %zu threads", c->n);
		return false;
	}

	struct hist *all = calloc(1, sizeof(*all));
	if (all == NULL) {
		result_fail(r, "out of memory");
		return false;
	}
	double calls_per_sec = 0;
	uint64_t calls = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct worker *w = &c->w[i];
		if (w->err != SR_OK) {
			result_fail(r, "worker %zu: %s (%s)%s%s", i, sr_strerror(w->err),
			    sr_errname(w->err), w->errmsg[0] ? ": " : "", w->errmsg);
			continue;
		}
		if (w->t_end > w->t_begin && w->calls > 0)
			calls_per_sec += (double) w->calls * 1e9 / (double) (w->t_end - w->t_begin);
		calls += w->calls;
		hist_merge(all, w->h);
	}
	r->threads = (unsigned) c->n;
	r->batch = c->w[0].batch;
	r->every = c->w[0].every;
	r->calls = calls;
	r->samples = all->count;
	if (!r->failed && (calls == 0 || all->count == 0))
		result_fail(r, "no call completed in the measured phase");
	if (!r->failed) {
		double tpn = b->clk.ticks_per_ns;
		r->has_rate = true;
		r->calls_per_sec = calls_per_sec;
		r->ids_per_sec = calls_per_sec * (double) r->batch;
		r->has_lat = true;
		r->p50 = (double) hist_quantile(all, 0.50) / tpn;
		r->p99 = (double) hist_quantile(all, 0.99) / tpn;
		r->p999 = (double) hist_quantile(all, 0.999) / tpn;
		r->p9999 = (double) hist_quantile(all, 0.9999) / tpn;
		r->max = (double) all->max / tpn;
	}
	free(all);
	return !r->failed;
}

/* An error message into a fixed buffer; a long one is cut, which is fine
 * for a message (and keeps gcc's truncation check to real output). */
static void
errf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- processes and files ---- */

/* Children to kill if we are interrupted: a signal handler can only reach
 * them through a static. */
static volatile sig_atomic_t child_pids[MAX_CHILDREN];

static void
on_signal(int sig)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (child_pids[i] > 0)
			kill((pid_t) child_pids[i], SIGKILL);
	static const char msg[] = "bench: interrupted; children killed, temp dirs "
	                          "/tmp/sr-bench-* left behind\n";
	ssize_t ignored = write(2, msg, sizeof(msg) - 1);
	(void) ignored;
	_exit(128 + sig);
}

static void
child_track(pid_t pid, bool add)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (add && child_pids[i] == 0) {
			child_pids[i] = pid;
			return;
		}
		if (!add && child_pids[i] == pid) {
			child_pids[i] = 0;
			return;
		}
	}
}

struct child {
	pid_t pid;
	char name[32];
	char log[256];
};

/* Starts argv[0] with stdout and stderr appended to ch->log. */
static int
child_spawn(struct child *ch, const char *name, char *const argv[],
    const char *log, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	sr_strlcpy(ch->name, name, sizeof(ch->name));
	sr_strlcpy(ch->log, log, sizeof(ch->log));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int rv = posix_spawn(&ch->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rv != 0) {
		ch->pid = 0;
		errf(err, errlen, "cannot start %s: %s", argv[0], strerror(rv));
		return SR_EINTERNAL;
	}
	child_track(ch->pid, true);
	return SR_OK;
}

static bool
child_alive(struct child *ch)
{
	int st;
	if (ch->pid <= 0)
		return false;
	if (waitpid(ch->pid, &st, WNOHANG) == ch->pid) {
		child_track(ch->pid, false);
		ch->pid = 0;
		return false;
	}
	return true;
}

/*
 * SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS.
 * Returns false, with a message on stderr, unless it exited by itself with
 * status 0: a daemon that crashes or leaks (under the sanitizers) on the way
 * out is a bug the bench must not hide.
 */
static bool
child_stop(struct child *ch)
{
	if (ch->pid <= 0)
		return true;
	kill(ch->pid, SIGTERM);
	int st = 0;
	bool clean = false;
	for (int i = 0; i < STOP_TIMEOUT_MS / 20; i++) {
		if (waitpid(ch->pid, &st, WNOHANG) == ch->pid) {
			clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
			goto done;
		}
		sleep_s(0.02);
	}
	fprintf(stderr, "bench: %s did not stop within %d ms of SIGTERM; killing it\n",
	    ch->name, STOP_TIMEOUT_MS);
	kill(ch->pid, SIGKILL);
	waitpid(ch->pid, &st, 0);
done:
	if (!clean && ch->pid > 0 && (WIFEXITED(st) || WIFSIGNALED(st)))
		fprintf(stderr, "bench: %s ended uncleanly (%s %d); see %s\n", ch->name,
		    WIFEXITED(st) ? "exit status" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), ch->log);
	child_track(ch->pid, false);
	ch->pid = 0;
	return clean;
}

/* VmRSS (or VmHWM, the peak) of pid in KiB; 0 if unreadable. */
static uint64_t
proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long) pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t flen = strlen(field);
	uint64_t kb = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* CPU time (user + system, all threads) of this process, in seconds. */
static double
self_cpu_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* CPU time (utime + stime, all threads) of pid, in seconds, from
 * /proc/PID/stat; 0 if unreadable. Clock-tick resolution (10 ms). */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces; fields count from after it. */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	uint64_t ut = 0, st = 0;
	for (int field = 3; field <= 15 && *p != '\0'; field++) {
		char *end;
		while (*p == ' ')
			p++;
		uint64_t v = strtoull(p, &end, 10);
		if (field == 14)
			ut = v;
		if (field == 15)
			st = v;
		p = strchr(p, ' ');
		if (p == NULL)
			break;
	}
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? (double) (ut + st) / (double) hz : 0;
}

/* CPU used by this process and by one server over the measured phase. */
struct cpu_window {
	pid_t server;
	double self0, server0, self_s, server_s;
};

static void
cpu_hook(void *arg, int phase)
{
	struct cpu_window *cw = arg;
	double self = self_cpu_s(), server = proc_cpu_s(cw->server);
	if (phase == PHASE_MEASURE) {
		cw->self0 = self;
		cw->server0 = server;
	} else {
		cw->self_s = self - cw->self0;
		cw->server_s = server - cw->server0;
	}
}

static void
cpu_note(struct result *r, const struct cpu_window *cw)
{
	if (!r->has_rate || r->calls == 0)
		return;
	double c = cw->self_s * 1e6 / (double) r->calls;
	double s = cw->server_s * 1e6 / (double) r->calls;
	note(r, "cpu/call: client %.1fus server %.1fus", c, s);
	extra_real(r, "client_cpu_us_per_call", c);
	extra_real(r, "server_cpu_us_per_call", s);
}

/* A port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
static int
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t len = sizeof(a);
	int port = -1;
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Removes a temp dir this run made; it only ever holds plain files and
 * sockets, one level deep. */
static void
rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		struct stat st;
		char path[512];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				rm_dir(path);
			else
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* The first three fields of /proc/loadavg, or "unknown". */
static void
read_loadavg(char *buf, size_t len)
{
	sr_strlcpy(buf, "unknown", len);
	FILE *f = fopen("/proc/loadavg", "r");
	if (f == NULL)
		return;
	char line[128];
	if (fgets(line, sizeof(line), f) != NULL) {
		/* Cut after the third field. */
		char *p = line;
		for (int i = 0; i < 3 && p != NULL; i++) {
			p = strchr(p, ' ');
			if (p != NULL && i < 2)
				p++;
		}
		if (p != NULL)
			*p = '\0';
		sr_strlcpy(buf, line, len);
	}
	fclose(f);
}

/* The directory of this executable: the binaries of the same build. */
static int
find_self(struct bench *b)
{
	ssize_t n = readlink("/proc/self/exe", b->self_exe, sizeof(b->self_exe) - 1);
	if (n <= 0 || (size_t) n >= sizeof(b->self_exe) - 1)
		return SR_EINTERNAL;
	b->self_exe[n] = '\0';
	sr_strlcpy(b->self_dir, b->self_exe, sizeof(b->self_dir));
	char *slash = strrchr(b->self_dir, '/');
	if (slash == NULL)
		return SR_EINTERNAL;
	*slash = '\0';
	return SR_OK;
}

static int
sibling(const struct bench *b, const char *name, char *out, size_t len,
    char *err, size_t errlen)
{
	snprintf(out, len, "%s/%s", b->self_dir, name);
	if (access(out, X_OK) != 0) {
		errf(err, errlen, "%s not found next to %s (build it first)", name,
		    b->self_exe);
		return SR_ENOTFOUND;
	}
	return SR_OK;
}

/* Waits until url answers a Status request (a master or a coordinator). */
static int
wait_status(const char *url, struct child *ch, char *err, size_t errlen)
{
	sr_client *cl;
	int rv = sr_client_open(url, 200, &cl);
	if (rv != SR_OK) {
		errf(err, errlen, "client for %s: %s", url, sr_strerror(rv));
		return rv;
	}
	int64_t until = sr_mono_ms() + READY_TIMEOUT_MS;
	for (;;) {
		sr_status st;
		memset(&st, 0, sizeof(st));
		if ((rv = sr_client_status(cl, &st)) == SR_OK) {
			sr_status_free(&st);
			break;
		}
		if (ch != NULL && !child_alive(ch)) {
			errf(err, errlen, "%s exited at start (see %s)", ch->name, ch->log);
			break;
		}
		if (sr_mono_ms() >= until) {
			errf(err, errlen, "%s did not answer within %d ms", url,
			    READY_TIMEOUT_MS);
			break;
		}
		sleep_s(0.05);
	}
	sr_client_close(cl);
	return rv;
}

/* ---- the in-process cluster ---- */

struct fixture {
	char dir[64];
	char url[128];
	struct master_config mcfg;
	struct master *m;
	sr_client *admin;
	sr_coordinator *c; /* "bench-0", shared by inproc, batch and txid */
	bool keep;         /* a child failed: keep its log in dir */
};

static int
fx_open(struct fixture *f, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sr-bench-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		errf(err, errlen, "mkdtemp: %s", strerror(errno));
		f->dir[0] = '\0';
		return SR_EIO;
	}
	snprintf(f->url, sizeof(f->url), "ipc://%s/master.ipc", f->dir);
	f->mcfg.listen_url = f->url;
	f->mcfg.data_dir = f->dir;
	f->mcfg.workers = 16;
	catalog_config_init(&f->mcfg.catalog);
	int rv = master_start(&f->mcfg, &f->m, err, errlen);
	if (rv == SR_OK && (rv = sr_client_open(f->url, REMOTE_TIMEOUT_MS, &f->admin)) != SR_OK)
		errf(err, errlen, "client: %s", sr_strerror(rv));
	return rv;
}

static int
fx_coord(struct fixture *f, const char *name, sr_coordinator **out, char *err,
    size_t errlen)
{
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = f->url;
	cfg.node_name = name;
	return sr_coordinator_open(&cfg, out, err, errlen);
}

static int
fx_seq(struct fixture *f, const sr_seq_spec *spec, char *err, size_t errlen)
{
	int rv = sr_client_seq_create(f->admin, spec, NULL);
	if (rv != SR_OK)
		errf(err, errlen, "seq create %s: %s: %s", spec->name, sr_strerror(rv),
		    sr_client_errmsg(f->admin));
	return rv;
}

/* Opens the shared cluster on first use. */
static int
fx_get(struct fixture *f, char *err, size_t errlen)
{
	if (f->m != NULL)
		return SR_OK;
	int rv = fx_open(f, err, errlen);
	if (rv == SR_OK)
		rv = fx_coord(f, "bench-0", &f->c, err, errlen);
	return rv;
}

static void
fx_close(struct fixture *f)
{
	sr_coordinator_close(f->c);
	sr_client_close(f->admin);
	master_stop(f->m);
	if (f->dir[0] != '\0' && f->keep)
		fprintf(stderr, "bench: logs kept in %s\n", f->dir);
	else if (f->dir[0] != '\0')
		rm_dir(f->dir);
	memset(f, 0, sizeof(*f));
}

/* ---- scenarios ---- */

struct ctx {
	struct bench *b;
	struct fixture fx;
	bool children_failed; /* a child process did not exit cleanly */
};

static const unsigned *
thread_list(const struct bench *b, const unsigned *def, size_t ndef, size_t *n)
{
	if (b->nthreads > 0) {
		*n = b->nthreads;
		return b->threads;
	}
	*n = ndef;
	return def;
}

static const char *
sr_failure(int rv, const char *err)
{
	return err[0] ? err : sr_strerror(rv);
}

/* One crew of n threads of kind on the shared coordinator. */
static bool
measure(struct ctx *x, struct result *r, size_t n, enum op_kind kind,
    unsigned every, size_t batch, sr_coordinator *c, const char *seq)
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
	bool ok = crew_run(x->b, &crew, warm_for(x->b), r);
	crew_free(&crew);
	return ok;
}

static void
waits_note(struct result *r, const sr_coordinator_stats *a, const sr_coordinator_stats *z)
{
	note(r, "waits=%llu", (unsigned long long) (z->waits - a->waits));
	extra_int(r, "waits", (int64_t) (z->waits - a->waits));
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

static void
sc_inproc(struct ctx *x)
{
	static const unsigned def[] = {1, 2};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 2, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	sr_seq_spec spec = {.name = "inproc", .chunk_size = BIG_CHUNK,
	    .min_chunk = BIG_CHUNK, .max_chunk = BIG_CHUNK};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		unsigned t = ts[i];
		struct result *base = result_new(x->b, "inproc", "baseline.atomic_fetch_add.t%u", t);
		struct result *seq = result_new(x->b, "inproc", "inproc.seq_next_id.t%u", t);
		struct result *name = result_new(x->b, "inproc", "inproc.next_id.t%u", t);
		if (rv != SR_OK) {
			result_fail(base, "%s", sr_failure(rv, err));
			result_fail(seq, "%s", sr_failure(rv, err));
			result_fail(name, "%s", sr_failure(rv, err));
			continue;
		}
		progress(x->b, "inproc: atomic_fetch_add, sr_seq_next_id, sr_next_id; %u thread(s)", t);
		measure(x, base, t, OP_ATOMIC, 64, 1, NULL, NULL);
		note(base, "bare atomic_fetch_add loop, same harness");
		sr_coordinator_stats a, z;
		sr_coordinator_get_stats(x->fx.c, &a);
		measure(x, seq, t, OP_SEQ, 64, 1, x->fx.c, "inproc");
		sr_coordinator_get_stats(x->fx.c, &z);
		waits_note(seq, &a, &z);
		sr_coordinator_get_stats(x->fx.c, &a);
		measure(x, name, t, OP_NAME, 64, 1, x->fx.c, "inproc");
		sr_coordinator_get_stats(x->fx.c, &z);
		waits_note(name, &a, &z);
		if (base->has_rate) {
			struct result *rs[] = {seq, name};
			for (int j = 0; j < 2; j++) {
				if (!rs[j]->has_rate)
					continue;
				set_baseline(rs[j], base->scenario, base->ids_per_sec);
				inproc_target(rs[j], t);
			}
		}
	}
}

static void
sc_batch(struct ctx *x)
{
	static const unsigned def[] = {1};
	static const size_t sizes[] = {16, 256, 4096};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 1, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	sr_seq_spec spec = {.name = "batch", .chunk_size = BIG_CHUNK,
	    .min_chunk = BIG_CHUNK, .max_chunk = BIG_CHUNK};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			size_t n = sizes[j];
			struct result *r = result_new(x->b, "batch", "inproc.next_ids.b%zu.t%u",
			    n, ts[i]);
			if (rv != SR_OK) {
				result_fail(r, "%s", sr_failure(rv, err));
				continue;
			}
			progress(x->b, "batch: sr_next_ids of %zu, %u thread(s)", n, ts[i]);
			/* Time about one call per 1024 IDs: cheap for small batches,
			 * every call for big ones. */
			unsigned every = n >= 1024 ? 1 : (unsigned) (1024 / n);
			sr_coordinator_stats a, z;
			sr_coordinator_get_stats(x->fx.c, &a);
			measure(x, r, ts[i], OP_IDS, every, n, x->fx.c, "batch");
			sr_coordinator_get_stats(x->fx.c, &z);
			waits_note(r, &a, &z);
		}
	}
}

static void
sc_txid(struct ctx *x)
{
	static const unsigned def[] = {1};
	static const size_t sizes[] = {1, 4096};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 1, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	sr_flake_layout l = {0};
	double limit = 0;
	char lname[64] = "";
	if (rv == SR_OK) {
		sr_coordinator_layout(x->fx.c, &l);
		limit = (double) (UINT64_C(1) << l.seq_bits) * 1000.0 / (double) l.unit_ms;
		snprintf(lname, sizeof(lname), "layout %u/%u/%u @%ums: 2^%u per tick",
		    l.time_bits, l.worker_bits, l.seq_bits, l.unit_ms, l.seq_bits);
	}
	for (size_t i = 0; i < nt; i++) {
		for (size_t j = 0; j < 2; j++) {
			size_t n = sizes[j];
			struct result *r = n == 1 ?
			    result_new(x->b, "txid", "txid.next_txid.t%u", ts[i]) :
			    result_new(x->b, "txid", "txid.next_txids.b%zu.t%u", n, ts[i]);
			if (rv != SR_OK) {
				result_fail(r, "%s", sr_failure(rv, err));
				continue;
			}
			progress(x->b, "txid: %s, %u thread(s)",
			    n == 1 ? "sr_next_txid" : "sr_next_txids of 4096", ts[i]);
			/* Every call is timed: the layout caps the rate far below
			 * what the timer would disturb. */
			if (!measure(x, r, ts[i], n == 1 ? OP_TXID : OP_TXIDS, 1, n, x->fx.c, NULL))
				continue;
			set_baseline(r, lname, limit);
			r->target = ">=0.97x";
			r->verdict = r->ratio >= 0.97 ? V_MET : V_MISSED;
		}
	}
}

/* ---- remote: the daemon and the echo server ---- */

struct remote {
	bool up;
	int rv;
	char err[256];
	struct child daemon, echo;
	char daemon_url[64], echo_url[64];
	uint64_t node_id;
	char node[65];
};

static int
remote_up(struct ctx *x, struct remote *rm)
{
	char bin[600], log[256], workers[16];
	char *err = rm->err;
	size_t errlen = sizeof(rm->err);
	if (rm->up)
		return rm->rv;
	rm->up = true;
	int rv = fx_get(&x->fx, err, errlen);
	sr_seq_spec spec = {.name = "remote", .chunk_size = BIG_CHUNK,
	    .min_chunk = BIG_CHUNK, .max_chunk = BIG_CHUNK};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, errlen);
	if (rv == SR_OK)
		rv = sibling(x->b, "snowrange-coordinator", bin, sizeof(bin), err, errlen);
	int p1 = free_port(), p2 = free_port();
	if (rv == SR_OK && (p1 < 0 || p2 < 0 || p1 == p2)) {
		errf(err, errlen, "cannot find free ports on 127.0.0.1");
		rv = SR_ECONNECT;
	}
	snprintf(workers, sizeof(workers), "%d", SERVER_WORKERS);
	snprintf(rm->daemon_url, sizeof(rm->daemon_url), "tcp://127.0.0.1:%d", p1);
	snprintf(rm->echo_url, sizeof(rm->echo_url), "tcp://127.0.0.1:%d", p2);
	if (rv == SR_OK) {
		progress(x->b, "remote: starting snowrange-coordinator on %s", rm->daemon_url);
		char *argv[] = {bin, "join", x->fx.url, "--name", "bench-daemon", "--listen",
		    rm->daemon_url, "--workers", workers, NULL};
		snprintf(log, sizeof(log), "%s/coordinator.log", x->fx.dir);
		rv = child_spawn(&rm->daemon, "snowrange-coordinator", argv, log, err, errlen);
	}
	if (rv == SR_OK)
		rv = wait_status(rm->daemon_url, &rm->daemon, err, errlen);
	if (rv == SR_OK) {
		char *argv[] = {x->b->self_exe, "bench", "--echo-server", rm->echo_url,
		    "--workers", workers, NULL};
		snprintf(log, sizeof(log), "%s/echo.log", x->fx.dir);
		rv = child_spawn(&rm->echo, "echo server", argv, log, err, errlen);
	}
	if (rv == SR_OK) {
		sr_client *cl;
		sr_status st;
		memset(&st, 0, sizeof(st));
		if ((rv = sr_client_open(rm->daemon_url, REMOTE_TIMEOUT_MS, &cl)) == SR_OK &&
		    (rv = sr_client_status(cl, &st)) == SR_OK) {
			rm->node_id = st.node_id;
			sr_strlcpy(rm->node, st.name, sizeof(rm->node));
			sr_status_free(&st);
		}
		sr_client_close(cl);
		if (rv != SR_OK)
			errf(err, errlen, "daemon status: %s", sr_strerror(rv));
	}
	rm->rv = rv;
	return rv;
}

/* Stops both servers; false when one of them did not exit cleanly. */
static bool
remote_down(struct remote *rm)
{
	bool a = child_stop(&rm->echo);
	bool b = child_stop(&rm->daemon);
	return a && b;
}

/* The packed sizes of a NextIds request for n IDs and of its reply, with
 * IDs of the size the daemon hands out now (varints grow with the value). */
static int
wire_sizes(struct remote *rm, size_t n, size_t *req_len, size_t *rep_len)
{
	sr_client *cl;
	uint64_t *ids = calloc(n, sizeof(uint64_t));
	char node[65];
	int rv = ids == NULL ? SR_ENOMEM : sr_client_open(rm->daemon_url, REMOTE_TIMEOUT_MS, &cl);
	if (rv != SR_OK) {
		free(ids);
		return rv;
	}
	rv = sr_client_next_ids(cl, "remote", (uint32_t) n, ids, node);
	sr_client_close(cl);
	if (rv == SR_OK) {
		Sr__Request req = SR__REQUEST__INIT;
		Sr__NextIdsRequest q = SR__NEXT_IDS_REQUEST__INIT;
		q.sequence = "remote";
		q.count = (uint32_t) n;
		req.protocol_version = WIRE_PROTOCOL_VERSION;
		req.body_case = SR__REQUEST__BODY_NEXT_IDS;
		req.next_ids = &q;
		*req_len = sr__request__get_packed_size(&req);
		Sr__Response resp = SR__RESPONSE__INIT;
		Sr__NextIdsResponse a = SR__NEXT_IDS_RESPONSE__INIT;
		a.ids = ids;
		a.n_ids = n;
		a.node_name = node;
		a.node_id = rm->node_id;
		resp.body_case = SR__RESPONSE__BODY_NEXT_IDS;
		resp.next_ids = &a;
		*rep_len = sr__response__get_packed_size(&resp);
		/* The echo protocol needs 4 bytes in the request. */
		if (*req_len < 4)
			*req_len = 4;
	}
	free(ids);
	return rv;
}

static int
echo_dial(nng_socket *s, const char *url)
{
	int rv = nng_req0_open(s);
	if (rv != 0)
		return rv;
	nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 200);
	nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, REMOTE_TIMEOUT_MS);
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, REMOTE_TIMEOUT_MS);
	nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, WIRE_RECV_MAX);
	if ((rv = nng_dial(*s, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		nng_close(*s);
	return rv;
}

/* Waits until the echo server answers one exchange. */
static int
echo_ready(struct remote *rm)
{
	int64_t until = sr_mono_ms() + READY_TIMEOUT_MS;
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.req_len = 8;
	w.rep_len = 8;
	int rv;
	if ((rv = echo_dial(&w.sock, rm->echo_url)) != 0)
		return rv;
	nng_socket_set_ms(w.sock, NNG_OPT_RECVTIMEO, 200);
	while ((rv = echo_call(&w)) != 0 && sr_mono_ms() < until && child_alive(&rm->echo))
		;
	nng_close(w.sock);
	return rv;
}

/* One remote row and its echo baseline: clients threads, batch IDs. */
static void
remote_row(struct ctx *x, struct remote *rm, const char *group, unsigned clients,
    size_t batch)
{
	struct result *base = result_new(x->b, group, "baseline.nng_echo.b%zu.c%u",
	    batch, clients);
	struct result *r = result_new(x->b, group, "remote.next_ids.b%zu.c%u", batch,
	    clients);
	size_t req_len = 0, rep_len = 0;
	int rv = remote_up(x, rm);
	if (rv == SR_OK && (rv = wire_sizes(rm, batch, &req_len, &rep_len)) != SR_OK)
		errf(rm->err, sizeof(rm->err), "NextIds: %s", sr_strerror(rv));
	if (rv == SR_OK && (rv = echo_ready(rm)) != 0) {
		errf(rm->err, sizeof(rm->err), "echo server at %s: %s (see %s)",
		    rm->echo_url, nng_strerror(rv), rm->echo.log);
		rv = SR_ECONNECT;
	}
	if (rv != SR_OK) {
		result_fail(base, "%s", sr_failure(rv, rm->err));
		result_fail(r, "%s", sr_failure(rv, rm->err));
		return;
	}
	progress(x->b, "%s: nng echo and NextIds of %zu, %u client(s)", group, batch, clients);

	struct crew crew;
	struct cpu_window cw = {.server = rm->echo.pid};
	size_t opened = 0;
	bool ok = crew_init(&crew, x->b, clients, OP_ECHO, 1, batch) == SR_OK;
	crew.hook = cpu_hook;
	crew.hook_arg = &cw;
	for (; ok && opened < clients; opened++) {
		crew.w[opened].req_len = req_len;
		crew.w[opened].rep_len = rep_len;
		if (echo_dial(&crew.w[opened].sock, rm->echo_url) != 0)
			break;
	}
	if (ok && opened == clients)
		crew_run(x->b, &crew, warm_for(x->b), base);
	else
		result_fail(base, "cannot open %u echo clients", clients);
	for (size_t i = 0; i < opened; i++)
		nng_close(crew.w[i].sock);
	crew_free(&crew);
	note(base, "req %zuB reply %zuB, %u contexts", req_len, rep_len, SERVER_WORKERS);
	cpu_note(base, &cw);

	memset(&cw, 0, sizeof(cw));
	cw.server = rm->daemon.pid;
	ok = crew_init(&crew, x->b, clients, OP_REMOTE, 1, batch) == SR_OK;
	crew.hook = cpu_hook;
	crew.hook_arg = &cw;
	for (size_t i = 0; ok && i < clients; i++) {
		crew.w[i].seqname = "remote";
		ok = sr_client_open(rm->daemon_url, REMOTE_TIMEOUT_MS, &crew.w[i].client) == SR_OK;
	}
	if (ok)
		crew_run(x->b, &crew, warm_for(x->b), r);
	else
		result_fail(r, "cannot open %u clients", clients);
	for (size_t i = 0; i < crew.n; i++)
		sr_client_close(crew.w[i].client);
	crew_free(&crew);
	note(r, "tcp loopback, daemon --workers %d", SERVER_WORKERS);
	cpu_note(r, &cw);
	if (r->has_rate && base->has_rate) {
		set_baseline(r, base->scenario, base->ids_per_sec);
		if (batch == 1) {
			r->target = ">=0.8x echo";
			r->verdict = r->ratio >= 0.8 ? V_MET : V_MISSED;
		}
	}
	if (r->has_rate && batch > 1) {
		r->target = ">=10M IDs/s";
		r->verdict = r->ids_per_sec >= TARGET_REMOTE_BATCH_IDS ? V_MET : V_MISSED;
	}
}

static void
sc_remote(struct ctx *x, struct remote *rm)
{
	static const unsigned def[] = {1, 16, 64};
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 3, &nt);
	for (size_t i = 0; i < nt; i++)
		remote_row(x, rm, "remote", ts[i], 1);
}

static void
sc_remote_batch(struct ctx *x, struct remote *rm)
{
	static const unsigned def[] = {1, 16};
	static const size_t sizes[] = {100, 1000};
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 2, &nt);
	for (size_t j = 0; j < 2; j++)
		for (size_t i = 0; i < nt; i++)
			remote_row(x, rm, "remote-batch", ts[i], sizes[j]);
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
static void
sc_switches(struct ctx *x)
{
	static const unsigned def[] = {2};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 1, &nt);
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
			result_fail(r, "%s", sr_failure(rv, err));
			continue;
		}
		progress(x->b, "switches: ramping the dynamic chunk size, %u thread(s)", t);
		struct result ramp_r;
		memset(&ramp_r, 0, sizeof(ramp_r));
		sr_coordinator_stats rs;
		double saved = x->b->duration;
		x->b->duration = 0.5; /* enough for ten doublings at any rate */
		measure(x, &ramp_r, t, OP_SEQ, 64, 1, ramp, seq);
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
			result_fail(r, "%s", sr_failure(rv, err));
			continue;
		}
		progress(x->b, "switches: steady load, %u thread(s)", t);
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
		note(r, "waits=%llu max_wait=%lluus leases/s=%.1f chunk=%llu ramp: waits=%llu "
		    "max_wait=%lluus", (unsigned long long) (z.waits - a.waits),
		    (unsigned long long) z.max_wait_us, lps, (unsigned long long) chunk,
		    (unsigned long long) rs.waits, (unsigned long long) rs.max_wait_us);
		extra_int(r, "waits", (int64_t) (z.waits - a.waits));
		extra_int(r, "max_wait_us", (int64_t) z.max_wait_us);
		extra_int(r, "leases", (int64_t) leases);
		extra_real(r, "leases_per_sec", lps);
		extra_int(r, "chunk_size", (int64_t) chunk);
		extra_int(r, "ramp_waits", (int64_t) rs.waits);
		extra_int(r, "ramp_max_wait_us", (int64_t) rs.max_wait_us);
		extra_int(r, "ramp_chunk_size", (int64_t) ramp_chunk);
		if (r->has_rate) {
			r->target = "0 waits";
			r->verdict = z.waits == a.waits ? V_MET : V_MISSED;
		}
	}
}

/* ---- master: durable leases ---- */

static void
sc_master(struct ctx *x)
{
	static const unsigned def[] = {1, 8};
	char err[256] = "";
	size_t nt;
	const unsigned *ts = thread_list(x->b, def, 2, &nt);
	int rv = fx_get(&x->fx, err, sizeof(err));
	/* Block mode, chunk size 1 and no room to grow it: every ID is one
	 * durable lease (a new range, its hwm committed before the reply). */
	sr_seq_spec spec = {.name = "lease1", .chunk_size = 1, .min_chunk = 1,
	    .max_chunk = 1, .block = 1};
	if (rv == SR_OK)
		rv = fx_seq(&x->fx, &spec, err, sizeof(err));
	for (size_t i = 0; i < nt; i++) {
		unsigned t = ts[i];
		struct result *r = result_new(x->b, "master", "master.lease.c%u", t);
		if (rv != SR_OK) {
			result_fail(r, "%s", sr_failure(rv, err));
			continue;
		}
		progress(x->b, "master: %u coordinator(s), chunk 1, block mode", t);
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
		if (crv == SR_OK)
			crew_run(x->b, &crew, warm_for(x->b), r);
		else
			result_fail(r, "%s", sr_failure(crv, err));
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
			note(r, "IDs/s = durable leases/s; latency = one sr_next_id = "
			    "~one lease round trip; leases=%llu waits=%llu (all phases)",
			    (unsigned long long) leases, (unsigned long long) waits);
			extra_real(r, "leases_per_sec", r->ids_per_sec);
			extra_int(r, "leases", (int64_t) leases);
			extra_int(r, "waits", (int64_t) waits);
		}
	}
}

/* ---- memory ---- */

static void
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
	int rv = sibling(x->b, "snowrange-master", mbin, sizeof(mbin), err, sizeof(err));
	if (rv == SR_OK)
		rv = sibling(x->b, "snowrange-coordinator", cbin, sizeof(cbin), err, sizeof(err));
	snprintf(dir, sizeof(dir), "/tmp/sr-bench-XXXXXX");
	if (rv == SR_OK && mkdtemp(dir) == NULL) {
		errf(err, sizeof(err), "mkdtemp: %s", strerror(errno));
		dir[0] = '\0';
		rv = SR_EIO;
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(murl, sizeof(murl), "ipc://%s/master.ipc", dir);
	snprintf(curl, sizeof(curl), "ipc://%s/coord.ipc", dir);
	if (rv == SR_OK) {
		progress(x->b, "memory: starting snowrange-master and snowrange-coordinator");
		char *argv[] = {mbin, "--data-dir", data, "--listen", murl, NULL};
		snprintf(log, sizeof(log), "%s/master.log", dir);
		rv = child_spawn(&master, "snowrange-master", argv, log, err, sizeof(err));
	}
	if (rv == SR_OK)
		rv = wait_status(murl, &master, err, sizeof(err));
	if (rv == SR_OK) {
		m_idle = proc_kb(master.pid, "VmRSS");
		char *argv[] = {cbin, "join", murl, "--name", "bench-mem", "--listen", curl, NULL};
		snprintf(log, sizeof(log), "%s/coordinator.log", dir);
		rv = child_spawn(&coord, "snowrange-coordinator", argv, log, err, sizeof(err));
	}
	if (rv == SR_OK)
		rv = wait_status(curl, &coord, err, sizeof(err));
	if (rv == SR_OK) {
		c_idle = proc_kb(coord.pid, "VmRSS");
		rv = sr_client_open(murl, REMOTE_TIMEOUT_MS, &madmin);
		if (rv == SR_OK)
			rv = sr_client_open(curl, REMOTE_TIMEOUT_MS, &cl);
	}
	if (rv == SR_OK)
		progress(x->b, "memory: creating %llu sequences (each a durable commit)",
		    (unsigned long long) x->b->master_seqs);
	int64_t t0 = sr_mono_ms();
	for (uint64_t i = 0; rv == SR_OK && i < x->b->master_seqs; i++) {
		char name[32];
		snprintf(name, sizeof(name), "mem%05llu", (unsigned long long) i);
		sr_seq_spec spec = {.name = name};
		if ((rv = sr_client_seq_create(madmin, &spec, NULL)) != SR_OK)
			errf(err, sizeof(err), "seq create %s: %s: %s", name, sr_strerror(rv),
			    sr_client_errmsg(madmin));
	}
	double create_s = (double) (sr_mono_ms() - t0) / 1000.0;
	for (int i = 0; rv == SR_OK && i < ncoord; i++) {
		char name[32];
		uint64_t id;
		snprintf(name, sizeof(name), "mem%05d", i);
		if ((rv = sr_client_next_ids(cl, name, 1, &id, NULL)) != SR_OK)
			errf(err, sizeof(err), "next %s: %s: %s", name, sr_strerror(rv),
			    sr_client_errmsg(cl));
	}
	if (rv == SR_OK) {
		/* Let the background prefetches the draws triggered land. */
		sleep_s(0.3);
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
			note(r, "rss=%.2fMB peak=%.2fMB idle=%.2fMB", rows[i].rss * 1024 / 1e6,
			    rows[i].hwm * 1024 / 1e6, rows[i].idle * 1024 / 1e6);
			extra_int(r, "rss_kb", (int64_t) rows[i].rss);
			extra_int(r, "peak_rss_kb", (int64_t) rows[i].hwm);
			extra_int(r, "idle_rss_kb", (int64_t) rows[i].idle);
			r->target = rows[i].target;
			if (r->target != NULL)
				r->verdict = (double) rows[i].rss <= rows[i].target_kb ? V_MET :
				    V_MISSED;
		}
		note(rmr, "create=%.1fs", create_s);
		extra_real(rmr, "create_seconds", create_s);
	} else {
		result_fail(rc, "%s", sr_failure(rv, err));
		result_fail(rmr, "%s", sr_failure(rv, err));
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
		rm_dir(dir);
	else if (dir[0] != '\0')
		fprintf(stderr, "bench: memory: logs kept in %s\n", dir);
}

/* ---- the echo server (child mode) ---- */

enum { ECHO_RECV, ECHO_SEND };

struct echo_work {
	int state;
	nng_aio *aio;
	nng_ctx ctx;
};

/* nng demo/async/server.c's shape: one callback drives each context. The
 * reply is the request resized to the length its first 4 bytes ask for. */
static void
echo_cb(void *arg)
{
	struct echo_work *w = arg;
	int rv = nng_aio_result(w->aio);
	if (w->state == ECHO_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(w->aio));
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		w->state = ECHO_RECV;
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	nng_msg *m = nng_aio_get_msg(w->aio);
	size_t want = 0;
	if (nng_msg_len(m) >= 4) {
		const uint8_t *p = nng_msg_body(m);
		want = (size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16 |
		    (size_t) p[3] << 24;
	}
	if (want > WIRE_RECV_MAX || nng_msg_realloc(m, want) != 0) {
		nng_msg_free(m);
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	w->state = ECHO_SEND;
	nng_aio_set_msg(w->aio, m);
	nng_ctx_send(w->ctx, w->aio);
}

static int
echo_server(const char *url, int workers)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	nng_socket s;
	int rv = nng_rep0_open(&s);
	if (rv != 0) {
		fprintf(stderr, "bench: echo: %s\n", nng_strerror(rv));
		return EXIT_FAIL;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, WIRE_RECV_MAX);
	struct echo_work *w = calloc((size_t) workers, sizeof(*w));
	int n = 0;
	for (; w != NULL && n < workers; n++) {
		if ((rv = nng_aio_alloc(&w[n].aio, echo_cb, &w[n])) != 0)
			break;
		if ((rv = nng_ctx_open(&w[n].ctx, s)) != 0) {
			nng_aio_free(w[n].aio);
			break;
		}
	}
	if (w == NULL)
		rv = NNG_ENOMEM;
	if (w == NULL || n < workers || (rv = nng_listen(s, url, NULL, 0)) != 0) {
		fprintf(stderr, "bench: echo: cannot serve %s: %s\n", url,
		    w == NULL ? "out of memory" : nng_strerror(rv));
	} else {
		for (int i = 0; i < n; i++) {
			w[i].state = ECHO_RECV;
			nng_ctx_recv(w[i].ctx, w[i].aio);
		}
		int sig;
		sigwait(&sigs, &sig);
	}
	for (int i = 0; i < n; i++)
		nng_aio_stop(w[i].aio);
	nng_close(s);
	for (int i = 0; i < n; i++)
		nng_aio_free(w[i].aio);
	free(w);
	nng_fini(); /* so that leak checkers see nng's globals released */
	return rv == 0 ? 0 : EXIT_FAIL;
}

/* ---- output ---- */

static void
fmt_rate(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.3gG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.4gM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.4gk", v / 1e3);
	else
		snprintf(buf, len, "%.4g", v);
}

static void
fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
}

static const char *
verdict_text(enum verdict v)
{
	return v == V_MET ? "met" : v == V_MISSED ? "MISSED" : "";
}

static void
print_text(const struct bench *b)
{
	printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %7s  %-26s %s\n", "scenario", "IDs/s",
	    "calls/s", "p50", "p99", "p99.9", "p99.99", "max", "baseline", "ratio",
	    "target", "notes");
	for (size_t i = 0; i < b->nresults; i++) {
		const struct result *r = &b->results[i];
		char ids[16] = "-", calls[16] = "-", p[5][16], base[16] = "-", ratio[16] = "-";
		char target[64] = "";
		for (int j = 0; j < 5; j++)
			sr_strlcpy(p[j], "-", sizeof(p[j]));
		if (r->failed) {
			printf("%-32s FAILED: %s\n", r->scenario, r->error);
			continue;
		}
		if (r->has_rate) {
			fmt_rate(ids, sizeof(ids), r->ids_per_sec);
			fmt_rate(calls, sizeof(calls), r->calls_per_sec);
		}
		if (r->has_lat) {
			double v[5] = {r->p50, r->p99, r->p999, r->p9999, r->max};
			for (int j = 0; j < 5; j++)
				fmt_ns(p[j], sizeof(p[j]), v[j]);
		}
		if (r->has_baseline) {
			fmt_rate(base, sizeof(base), r->baseline);
			snprintf(ratio, sizeof(ratio), "%.3fx", r->ratio);
		}
		if (r->target != NULL)
			snprintf(target, sizeof(target), "%s %s", r->target,
			    verdict_text(r->verdict));
		printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %7s  %-26s %s\n", r->scenario, ids,
		    calls, p[0], p[1], p[2], p[3], p[4], base, ratio, target, r->notes);
	}
	printf("\nLatency is per call (a batch is one call). %s; 1 in 64 calls timed for "
	    "inproc/switches, 1 in 1024/batch for batch, every call elsewhere; the "
	    "timer's own ~%.0f ns is included. Percentiles are bucket upper bounds "
	    "(<=0.8%% high). Baseline is in IDs/s (echo: messages/s x batch). "
	    "Load average at start: %s.\n",
	    b->clk.tsc ? "Clock: TSC (lfence+rdtsc), calibrated" : "Clock: CLOCK_MONOTONIC",
	    b->clk.overhead_ns, b->loadavg);
}

static json_t *
num_or_null(bool has, double v)
{
	return has ? json_real(v) : json_null();
}

static json_t *
ns_or_null(bool has, double v)
{
	if (!has)
		return json_null();
	/* Round up: never in our favour. */
	int64_t n = (int64_t) v;
	if ((double) n < v)
		n++;
	return json_integer(n);
}

static void
print_json(const struct bench *b)
{
	/* One object per line, so shell scripts can read it with grep. */
	printf("[\n");
	for (size_t i = 0; i < b->nresults; i++) {
		const struct result *r = &b->results[i];
		json_t *o = json_object();
		json_object_set_new(o, "scenario", json_string(r->scenario));
		json_object_set_new(o, "group", json_string(r->group));
		json_object_set_new(o, "ok", json_boolean(!r->failed));
		json_object_set_new(o, "threads", json_integer(r->threads));
		json_object_set_new(o, "batch", json_integer((json_int_t) r->batch));
		json_object_set_new(o, "ops_per_sec", num_or_null(r->has_rate, r->ids_per_sec));
		json_object_set_new(o, "ids_per_sec", num_or_null(r->has_rate, r->ids_per_sec));
		json_object_set_new(o, "calls_per_sec", num_or_null(r->has_rate, r->calls_per_sec));
		json_object_set_new(o, "calls", json_integer((json_int_t) r->calls));
		json_object_set_new(o, "samples", json_integer((json_int_t) r->samples));
		json_object_set_new(o, "timed_every", json_integer(r->every));
		json_object_set_new(o, "p50_ns", ns_or_null(r->has_lat, r->p50));
		json_object_set_new(o, "p99_ns", ns_or_null(r->has_lat, r->p99));
		json_object_set_new(o, "p999_ns", ns_or_null(r->has_lat, r->p999));
		json_object_set_new(o, "p9999_ns", ns_or_null(r->has_lat, r->p9999));
		json_object_set_new(o, "max_ns", ns_or_null(r->has_lat, r->max));
		json_object_set_new(o, "baseline", num_or_null(r->has_baseline, r->baseline));
		json_object_set_new(o, "baseline_name", r->has_baseline ?
		    json_string(r->baseline_name) : json_null());
		json_object_set_new(o, "ratio", num_or_null(r->has_baseline, r->ratio));
		json_object_set_new(o, "target", r->target ? json_string(r->target) : json_null());
		json_object_set_new(o, "met", r->verdict == V_NONE ? json_null() :
		    json_boolean(r->verdict == V_MET));
		if (r->extra != NULL)
			json_object_update(o, r->extra);
		if (r->failed)
			json_object_set_new(o, "error", json_string(r->error));
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s%s\n", s ? s : "{}", i + 1 < b->nresults ? "," : "");
		free(s);
		json_decref(o);
	}
	printf("]\n");
}

/* ---- options ---- */

enum {
	SC_INPROC = 1 << 0,
	SC_BATCH = 1 << 1,
	SC_TXID = 1 << 2,
	SC_REMOTE = 1 << 3,
	SC_REMOTE_BATCH = 1 << 4,
	SC_SWITCHES = 1 << 5,
	SC_MASTER = 1 << 6,
	SC_MEMORY = 1 << 7,
};

static const struct {
	const char *name;
	unsigned bit;
	int rows;       /* measured runs, for the progress estimate */
	const char *help;
} scenarios[] = {
	{"inproc", SC_INPROC, 6, "sr_seq_next_id and sr_next_id, 1 and 2 threads, vs "
	    "atomic_fetch_add"},
	{"batch", SC_BATCH, 3, "sr_next_ids of 16, 256, 4096 IDs, 1 thread"},
	{"txid", SC_TXID, 2, "sr_next_txid and sr_next_txids(4096), 1 thread, vs "
	    "2^seq_bits per tick"},
	{"remote", SC_REMOTE, 6, "NextIds of 1 ID, 1/16/64 clients, vs nng echo"},
	{"remote-batch", SC_REMOTE_BATCH, 8, "NextIds of 100 and 1000 IDs, 1/16 "
	    "clients, vs nng echo"},
	{"switches", SC_SWITCHES, 2, "waits for the master at steady load, 2 threads"},
	{"master", SC_MASTER, 2, "durable leases/s, 1 and 8 coordinators"},
	{"memory", SC_MEMORY, 3, "RSS: daemon with 100 sequences, master with 10000"},
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: snowrange bench [--scenario NAME[,NAME...]] [--duration SECONDS]\n"
	    "                       [--threads N[,N...]] [--master-sequences N]\n"
	    "                       [-o text|json]\n"
	    "\n"
	    "Starts its own master (in-process), coordinator daemon and nng echo server\n"
	    "(child processes, 127.0.0.1 and ipc paths in /tmp), measures, stops them.\n"
	    "\n"
	    "options:\n"
	    "  --scenario, -s LIST  scenarios to run (default: all)\n"
	    "  --duration SECONDS   measured time per run (default 2; warm-up is a\n"
	    "                       quarter of it, at most 0.25 s)\n"
	    "  --threads LIST       threads (clients, coordinators) instead of each\n"
	    "                       scenario's defaults\n"
	    "  --master-sequences N sequences the memory scenario creates on the master\n"
	    "                       (default 10000, the size the RSS target is for)\n"
	    "  -o, --output FORMAT  text (one table) or json (an array, one object a line)\n"
	    "  -h, --help           this help\n"
	    "\n"
	    "scenarios:\n");
	for (size_t i = 0; i < NSCENARIOS; i++)
		fprintf(f, "  %-13s %s\n", scenarios[i].name, scenarios[i].help);
	fprintf(f, "\nExit status: 0 when every selected scenario produced numbers, 1 when "
	           "one failed, 2 on a usage error.\n");
}

static int
bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "snowrange bench: ");
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
	for (char *p = s;; ) {
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
opt_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
    bool *missing)
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
bench_main(int argc, char **argv)
{
	static struct bench b; /* big (results) and one per process */
	char listbuf[512];
	unsigned selected = 0;
	const char *echo_url = NULL;
	uint64_t echo_workers = SERVER_WORKERS;
	b.duration = 2.0;
	b.master_seqs = MASTER_SEQS;

	for (int i = 1; i < argc; i++) {
		const char *v;
		bool missing;
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if ((v = opt_value(argc, argv, &i, "--duration", NULL, &missing))) {
			if (!parse_duration(v, &b.duration))
				return bad_usage("--duration wants seconds in (0, 3600], not '%.40s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--threads", NULL, &missing))) {
			char *items[MAX_LIST];
			sr_strlcpy(listbuf, v, sizeof(listbuf));
			int n = split(listbuf, items, MAX_LIST);
			if (n < 0)
				return bad_usage("--threads takes at most 16 values: '%.40s'", v);
			for (int j = 0; j < n; j++) {
				uint64_t t;
				if (!sr_parse_u64(items[j], &t) || t < 1 || t > MAX_THREADS)
					return bad_usage("--threads wants numbers in 1..1024, not '%.40s'",
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
		} else if ((v = opt_value(argc, argv, &i, "--master-sequences", NULL, &missing))) {
			if (!sr_parse_u64(v, &b.master_seqs) || b.master_seqs < 1 ||
			    b.master_seqs > 99999)
				return bad_usage("--master-sequences wants 1..99999, not '%.40s'", v);
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
		for (size_t k = 0; k < NSCENARIOS; k++)
			selected |= scenarios[k].bit;

	if (find_self(&b) != SR_OK) {
		fprintf(stderr, "snowrange bench: cannot read /proc/self/exe\n");
		return EXIT_FAIL;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	clock_init(&b.clk);
	read_loadavg(b.loadavg, sizeof(b.loadavg));

	/* Progress only when the run is long enough to wonder about. */
	double est = 0;
	for (size_t k = 0; k < NSCENARIOS; k++) {
		if (selected & scenarios[k].bit) {
			int rows = scenarios[k].rows;
			if (b.nthreads > 0 && scenarios[k].bit != SC_MEMORY &&
			    scenarios[k].bit != SC_SWITCHES)
				rows = rows * (int) b.nthreads / 2 + 1;
			est += rows * (b.duration + warm_for(&b));
		}
	}
	if (selected & SC_MEMORY)
		est += 1 + (double) b.master_seqs / 2000;
	b.progress = est > 3.0;
	b.t0_ns = mono_ns();

	struct ctx x;
	memset(&x, 0, sizeof(x));
	x.b = &b;
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
	if (!remote_down(&rm)) {
		x.children_failed = true;
		x.fx.keep = true;
	}
	if (selected & SC_SWITCHES)
		sc_switches(&x);
	if (selected & SC_MASTER)
		sc_master(&x);
	fx_close(&x.fx);
	if (selected & SC_MEMORY)
		sc_memory(&x);

	if (b.json)
		print_json(&b);
	else
		print_text(&b);
	int rc = 0;
	for (size_t i = 0; i < b.nresults; i++) {
		struct result *r = &b.results[i];
		bool numbers = r->has_rate || r->extra != NULL;
		if (r->failed || !numbers) {
			if (!r->failed)
				result_fail(r, "produced no numbers");
			fprintf(stderr, "snowrange bench: %s: %s\n", r->scenario, r->error);
			rc = EXIT_FAIL;
		}
		json_decref(r->extra);
	}
	if (x.children_failed) {
		fprintf(stderr, "snowrange bench: a server it started did not exit cleanly\n");
		rc = EXIT_FAIL;
	}
	/* Every socket, master and coordinator is closed by now. */
	nng_fini();
	return rc;
}
