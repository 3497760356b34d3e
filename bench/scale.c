/*
 * The scale scenario (issue 10): one real snowrange-master process (a
 * child, on tcp://127.0.0.1) and many simulated coordinators, while
 * `status` and `seq list` run in a loop.
 *
 * A simulated coordinator is what a real one looks like to the master and
 * nothing more: its own nng connection, a Join, a Heartbeat every TTL/3
 * (renewing its worker id, naming every sequence it serves with the start
 * it holds, and a full held-chunk summary of WIRE_HELD_SEQS_MAX sequences,
 * as coordinator.c does), and Leases with the `after` of the newest range
 * it holds. It hands out no IDs, so thousands of them fit
 * in a few threads: each thread owns a slice of the coordinators and sends
 * whichever request is due next, one at a time. The simulator must stay
 * cheap on a 2-core machine, or it would starve the master it measures;
 * its own CPU is reported next to the master's.
 *
 * Measured over the window: the master's CPU (utime + stime from
 * /proc/PID/stat), heartbeat and lease latency (send to reply), the
 * reads' latency, and every way a coordinator would have lost its worker
 * id: a Join or Heartbeat reply without a grant, or a lease view (send
 * time of the last granting request + TTL - TTL/5, docs/design.md §4) that
 * ran out before the next reply came, which is when a real coordinator
 * answers SR_ENOWORKER. docs/benchmarks.md has the runs.
 */
#include "bench.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snowrange/client.h"
#include "util.h"
#include "wire.h"

/* Threads that drive the simulated coordinators: enough that a slow reply
 * delays few others, few enough to stay cheap. */
#define SIM_THREADS 16
/* Warm-up after every coordinator joined: every heartbeat slot and lease
 * phase has come round once, and N of each range counts the joiners. */
#define SIM_WARM_S 5.0
/* The measured window is never shorter than three heartbeat rounds. */
#define SIM_MIN_S 10.0
#define SIM_TIMEOUT_MS 5000
#define SIM_RETRY_MS 200

struct sim_coord {
	struct wire_chan *ch;
	uint64_t node_id;
	uint64_t instance; /* JoinRequest.instance, sent in every heartbeat */
	bool joined;
	bool has_worker;
	uint32_t worker_id;
	int64_t view_end_ms; /* lease view end, monotonic; 0: none */
	bool lapsed;         /* counted once per lapse */
	int64_t next_beat_ms, next_lease_ms;
	int64_t grant_at_ms; /* a master waiting for claims grants then
	                      * (worker_wait_ms); 0: none promised */
	size_t next_seq;
	uint64_t *after; /* per sequence: end of the newest range held */
	uint64_t *start; /* per sequence: the start of its incarnation */
};

/* Counters of one thread, summed at the end. */
struct sim_counts {
	uint64_t beats, leases, beat_errs, lease_errs, join_errs;
	uint64_t no_grant;   /* Join/Heartbeat replies without a worker id,
	                      * other than a new master's wait for claims */
	uint64_t lapses;     /* lease views that ran out */
	uint64_t late_beats; /* heartbeats sent over a second after due */
	uint64_t errs_by_code[SR_ERR_MAX + 1];
	char first_err[160];
};

struct sim;

struct sim_thread {
	struct sim *sim;
	size_t lo, hi; /* coordinators [lo, hi) */
	pthread_t thread;
	struct hist beat_h, lease_h;
	struct sim_counts cnt;
};

struct sim_reader {
	struct sim *sim;
	bool seq_list; /* else status */
	pthread_t thread;
	struct hist h;
	uint64_t calls, errs;
	char first_err[160];
};

struct sim {
	const char *url;
	size_t ncoords, nseqs;
	char (*seqs)[32];
	uint32_t ttl_ms;
	sr_flake_layout layout;
	int64_t beat_ms;      /* heartbeat interval: TTL/3 */
	int64_t lease_gap_ms; /* between two leases of one coordinator */
	unsigned read_pause_ms;
	struct sim_coord *c;
	_Atomic int phase;    /* PHASE_WARM, PHASE_MEASURE, PHASE_STOP */
	_Atomic size_t joins; /* Join attempts finished, ok or not */
};

static void
count_err(struct sim_counts *k, int rv, const char *what, const char *msg)
{
	k->errs_by_code[rv > 0 && rv < SR_ERR_MAX ? rv : SR_EINTERNAL]++;
	if (k->first_err[0] == '\0')
		snprintf(k->first_err, sizeof(k->first_err), "%s: %s: %.120s", what, sr_errname(rv),
		    msg);
}

static int64_t
tick_now(const sr_flake_layout *l)
{
	int64_t ms = sr_wall_ms();
	return ms > l->epoch_ms ? (ms - l->epoch_ms) / (int64_t) l->unit_ms : 0;
}

/* A grant in a reply to a request sent at sent_ms: the lease view a real
 * coordinator takes from it. No grant with wait_ms set is a master on a new
 * store waiting for claims (docs/snowflake.md, "Claims"): no worker id was
 * lost, and the next heartbeat goes just after the wait, as coordinator/
 * link.c sends it. */
static void
take_grant(struct sim *s, struct sim_coord *co, const Sr__WorkerGrant *g, uint32_t ttl_ms,
    uint32_t wait_ms, int64_t sent_ms, struct sim_counts *k)
{
	co->grant_at_ms = 0;
	if (g == NULL) {
		co->has_worker = false;
		co->view_end_ms = 0;
		if (wait_ms > 0)
			co->grant_at_ms = sent_ms + wait_ms + 20;
		else
			k->no_grant++;
		return;
	}
	if (ttl_ms == 0)
		ttl_ms = s->ttl_ms;
	co->has_worker = true;
	co->worker_id = g->worker_id;
	co->view_end_ms = sent_ms + ttl_ms - ttl_ms / 5;
	co->lapsed = false;
}

static int
sim_join(struct sim *s, size_t i, struct sim_counts *k)
{
	struct sim_coord *co = &s->c[i];
	char name[32], err[WIRE_ERRMSG_MAX];
	snprintf(name, sizeof(name), "sim-%05zu", i);
	int rv = wire_chan_open(s->url, SIM_TIMEOUT_MS, &co->ch, err, sizeof(err));
	if (rv != SR_OK) {
		count_err(k, rv, "open", err);
		return rv;
	}
	Sr__Request req = SR__REQUEST__INIT;
	Sr__JoinRequest j = SR__JOIN_REQUEST__INIT;
	j.name = name;
	j.listen_url = "";
	co->instance = ((uint64_t) getpid() << 32) ^ (uint64_t) i ^ 0x5a5a0000u;
	j.instance = co->instance;
	req.body_case = SR__REQUEST__BODY_JOIN;
	req.join = &j;
	Sr__Response *resp;
	int64_t sent = sr_mono_ms();
	if ((rv = wire_call(co->ch, &req, &resp, err, sizeof(err))) != SR_OK) {
		k->join_errs++;
		count_err(k, rv, "join", err);
		return rv;
	}
	co->node_id = resp->join->node_id;
	co->joined = true;
	if (resp->join->lease_ttl_ms != 0)
		s->ttl_ms = resp->join->lease_ttl_ms;
	take_grant(s, co, resp->join->worker, resp->join->lease_ttl_ms, resp->join->worker_wait_ms,
	    sent, k);
	wire_response_free(resp);
	return SR_OK;
}

static void
sim_beat(struct sim_thread *t, struct sim_coord *co, bool measure)
{
	struct sim *s = t->sim;
	struct sim_counts *k = &t->cnt;
	Sr__SeqUse *use = calloc(s->nseqs, sizeof(*use));
	Sr__SeqUse **usep = calloc(s->nseqs, sizeof(*usep));
	char err[WIRE_ERRMSG_MAX];
	if (use == NULL || usep == NULL) {
		free(use);
		free(usep);
		count_err(k, SR_ENOMEM, "heartbeat", "out of memory");
		return;
	}
	for (size_t j = 0; j < s->nseqs; j++) {
		sr__seq_use__init(&use[j]);
		use[j].sequence = s->seqs[j];
		use[j].start = co->start[j];
		usep[j] = &use[j];
	}
	Sr__Request req = SR__REQUEST__INIT;
	Sr__HeartbeatRequest h = SR__HEARTBEAT_REQUEST__INIT;
	h.node_id = co->node_id;
	h.holds_worker = co->has_worker;
	h.worker_id = co->worker_id;
	h.tick = (uint64_t) tick_now(&s->layout);
	h.instance = co->instance;
	h.usage = usep;
	h.n_usage = s->nseqs;
	/* The summary the status page shows: as large as a real one can be,
	 * so the master's cost of keeping it is measured. */
	Sr__HeldSummary held = SR__HELD_SUMMARY__INIT;
	Sr__HeldSeq hs[WIRE_HELD_SEQS_MAX];
	Sr__HeldSeq *hp[WIRE_HELD_SEQS_MAX];
	for (size_t j = 0; j < s->nseqs && j < WIRE_HELD_SEQS_MAX; j++) {
		sr__held_seq__init(&hs[j]);
		hs[j].sequence = s->seqs[j];
		hs[j].chunks = 2;
		hs[j].headroom = 1000 + j;
		hp[held.n_seqs++] = &hs[j];
	}
	held.seqs = hp;
	held.sequences = (uint32_t) s->nseqs;
	held.chunks = 2 * (uint32_t) s->nseqs;
	h.held = &held;
	req.body_case = SR__REQUEST__BODY_HEARTBEAT;
	req.heartbeat = &h;
	Sr__Response *resp;
	int64_t sent = sr_mono_ms();
	uint64_t t0 = clock_mono_ns();
	int rv = wire_call(co->ch, &req, &resp, err, sizeof(err));
	uint64_t t1 = clock_mono_ns();
	free(use);
	free(usep);
	int64_t now = sr_mono_ms();
	/* A real coordinator whose view ran out before this reply came
	 * answered SR_ENOWORKER meanwhile. */
	if (co->has_worker && !co->lapsed && now > co->view_end_ms) {
		co->lapsed = true;
		if (measure)
			k->lapses++;
	}
	if (rv != SR_OK) {
		if (measure) {
			k->beat_errs++;
			count_err(k, rv, "heartbeat", err);
		}
		co->next_beat_ms = now + SIM_RETRY_MS;
		return;
	}
	if (measure) {
		hist_add(&t->beat_h, t1 - t0);
		k->beats++;
	}
	struct sim_counts scratch = {0};
	take_grant(s, co, resp->heartbeat->worker, resp->heartbeat->lease_ttl_ms,
	    resp->heartbeat->worker_wait_ms, sent, measure ? k : &scratch);
	wire_response_free(resp);
	co->next_beat_ms = sent + s->beat_ms;
	if (co->grant_at_ms != 0 && co->grant_at_ms < co->next_beat_ms)
		co->next_beat_ms = co->grant_at_ms;
}

static void
sim_lease(struct sim_thread *t, struct sim_coord *co, bool measure)
{
	struct sim *s = t->sim;
	struct sim_counts *k = &t->cnt;
	size_t j = co->next_seq;
	co->next_seq = (j + 1) % s->nseqs;
	char err[WIRE_ERRMSG_MAX];
	Sr__Request req = SR__REQUEST__INIT;
	Sr__LeaseRequest l = SR__LEASE_REQUEST__INIT;
	l.node_id = co->node_id;
	l.sequence = s->seqs[j];
	l.after = co->after[j];
	req.body_case = SR__REQUEST__BODY_LEASE;
	req.lease = &l;
	Sr__Response *resp;
	int64_t sent = sr_mono_ms();
	uint64_t t0 = clock_mono_ns();
	int rv = wire_call(co->ch, &req, &resp, err, sizeof(err));
	uint64_t t1 = clock_mono_ns();
	co->next_lease_ms = sent + s->lease_gap_ms;
	if (rv != SR_OK) {
		if (measure) {
			k->lease_errs++;
			count_err(k, rv, "lease", err);
		}
		return;
	}
	if (measure) {
		hist_add(&t->lease_h, t1 - t0);
		k->leases++;
	}
	const Sr__Chunk *c = resp->lease->chunk;
	if (c != NULL)
		co->after[j] = c->start + (uint64_t) c->n * c->c;
	if (resp->lease->seq_start != 0)
		co->start[j] = resp->lease->seq_start;
	wire_response_free(resp);
}

/* Sleeps until mono ms `until`, at most 50 ms at a time so a stop is seen. */
static void
sleep_until(int64_t until)
{
	int64_t now = sr_mono_ms();
	if (until <= now)
		return;
	int64_t d = until - now > 50 ? 50 : until - now;
	struct timespec ts = {0, (long) d * 1000000L};
	nanosleep(&ts, NULL);
}

static void *
sim_main(void *arg)
{
	struct sim_thread *t = arg;
	struct sim *s = t->sim;
	int phase;
	while ((phase = atomic_load(&s->phase)) != PHASE_STOP) {
		/* The coordinator whose request is due first. */
		struct sim_coord *due = NULL;
		bool beat = false;
		int64_t when = INT64_MAX;
		for (size_t i = t->lo; i < t->hi; i++) {
			struct sim_coord *co = &s->c[i];
			if (!co->joined)
				continue;
			if (co->next_beat_ms < when) {
				when = co->next_beat_ms;
				due = co;
				beat = true;
			}
			if (co->next_lease_ms < when) {
				when = co->next_lease_ms;
				due = co;
				beat = false;
			}
		}
		if (due == NULL)
			break;
		int64_t now = sr_mono_ms();
		if (when > now) {
			sleep_until(when);
			continue;
		}
		bool measure = phase == PHASE_MEASURE;
		if (beat) {
			if (measure && now - when > 1000)
				t->cnt.late_beats++;
			sim_beat(t, due, measure);
		} else {
			sim_lease(t, due, measure);
		}
	}
	return NULL;
}

/* Joins this thread's coordinators, then runs them (sim_main). */
static void *
sim_start(void *arg)
{
	struct sim_thread *t = arg;
	struct sim *s = t->sim;
	for (size_t i = t->lo; i < t->hi && atomic_load(&s->phase) != PHASE_STOP; i++) {
		int rv = sim_join(s, i, &t->cnt);
		atomic_fetch_add(&s->joins, 1);
		if (rv != SR_OK)
			continue;
		struct sim_coord *co = &s->c[i];
		/* Spread the first heartbeats over one interval and the leases
		 * over one gap, as coordinators that joined at random times. */
		int64_t now = sr_mono_ms();
		co->next_beat_ms = now + (int64_t) ((uint64_t) i * 7919u % (uint64_t) s->beat_ms);
		if (co->grant_at_ms != 0 && co->grant_at_ms < co->next_beat_ms)
			co->next_beat_ms = co->grant_at_ms;
		co->next_lease_ms = now +
		    (int64_t) ((uint64_t) i * 104729u %
		        (uint64_t) (s->lease_gap_ms > 0 ? s->lease_gap_ms : 1));
		co->next_seq = i % s->nseqs;
	}
	return sim_main(t);
}

static void *
reader_main(void *arg)
{
	struct sim_reader *r = arg;
	struct sim *s = r->sim;
	sr_client *cl;
	char err[256] = "";
	int rv = sr_client_open_with(s->url, SIM_TIMEOUT_MS, NULL, &cl, err, sizeof(err));
	if (rv != SR_OK) {
		r->errs++;
		snprintf(r->first_err, sizeof(r->first_err), "client: %s", sr_strerror(rv));
		return NULL;
	}
	int phase;
	while ((phase = atomic_load(&s->phase)) != PHASE_STOP) {
		uint64_t t0 = clock_mono_ns();
		if (r->seq_list) {
			sr_seq_info *v = NULL;
			size_t n = 0;
			rv = sr_client_seq_list(cl, &v, &n);
			free(v);
			if (rv == SR_OK && n != s->nseqs)
				rv = SR_EINTERNAL;
		} else {
			sr_status st;
			memset(&st, 0, sizeof(st));
			rv = sr_client_status(cl, &st);
			if (rv == SR_OK && (st.nseqs != s->nseqs || st.nnodes < s->ncoords))
				rv = SR_EINTERNAL;
			sr_status_free(&st);
		}
		uint64_t t1 = clock_mono_ns();
		if (phase == PHASE_MEASURE && atomic_load(&s->phase) == PHASE_MEASURE) {
			if (rv == SR_OK) {
				hist_add(&r->h, t1 - t0);
				r->calls++;
			} else {
				r->errs++;
				if (r->first_err[0] == '\0')
					snprintf(r->first_err, sizeof(r->first_err), "%s: %s%s",
					    r->seq_list ? "seq list" : "status", sr_errname(rv),
					    rv == SR_EINTERNAL ? " (wrong count)"
					                       : sr_client_errmsg(cl));
			}
		}
		int64_t until = sr_mono_ms() + s->read_pause_ms;
		while (sr_mono_ms() < until && atomic_load(&s->phase) != PHASE_STOP)
			sleep_until(until);
	}
	sr_client_close(cl);
	return NULL;
}

static void
lat_row(struct result *r, const struct hist *h, double secs, double target_ms)
{
	if (h->count == 0) {
		result_fail(r, "no reply in the measured window");
		return;
	}
	r->has_rate = true;
	r->has_lat = true;
	r->calls = h->count;
	r->samples = h->count;
	r->calls_per_sec = (double) h->count / secs;
	r->ids_per_sec = 0;
	r->p50 = (double) hist_quantile(h, 0.50);
	r->p99 = (double) hist_quantile(h, 0.99);
	r->p999 = (double) hist_quantile(h, 0.999);
	r->p9999 = (double) hist_quantile(h, 0.9999);
	r->max = (double) h->max;
	if (target_ms > 0) {
		r->target = "p99<10ms";
		r->verdict = r->p99 < target_ms * 1e6 ? V_MET : V_MISSED;
	}
}

/* Creates the sequences through an admin client on url. */
static int
make_seqs(struct sim *s, char *err, size_t errlen)
{
	sr_client *cl;
	int rv = sr_client_open_with(s->url, SIM_TIMEOUT_MS, NULL, &cl, err, errlen);
	for (size_t j = 0; rv == SR_OK && j < s->nseqs; j++) {
		sr_seq_spec spec = {.name = s->seqs[j]};
		if ((rv = sr_client_seq_create(cl, &spec, NULL)) != SR_OK)
			bench_errf(err, errlen, "seq create %s: %s: %s", s->seqs[j],
			    sr_strerror(rv), sr_client_errmsg(cl));
	}
	if (cl != NULL)
		sr_client_close(cl);
	return rv;
}

void
sc_scale(struct ctx *x)
{
	struct bench *b = x->b;
	size_t nc = b->scale_coords, ns = b->scale_seqs;
	struct result *rb = result_new(b, "scale", "scale.heartbeat.c%zu.s%zu", nc, ns);
	struct result *rl = result_new(b, "scale", "scale.lease.c%zu.s%zu", nc, ns);
	struct result *rs = result_new(b, "scale", "scale.status.c%zu.s%zu", nc, ns);
	struct result *rq = result_new(b, "scale", "scale.seq_list.c%zu.s%zu", nc, ns);
	struct result *rm = result_new(b, "scale", "scale.master.c%zu.s%zu", nc, ns);
	struct result *all[] = {rb, rl, rs, rq, rm};
	char err[256] = "", mbin[600], dir[64], data[128], url[64], log[256];
	struct child master;
	memset(&master, 0, sizeof(master));
	struct sim s;
	memset(&s, 0, sizeof(s));
	struct sim_thread *th = NULL;
	struct sim_reader rd[2];
	memset(rd, 0, sizeof(rd));
	size_t nth = nc < SIM_THREADS ? nc : SIM_THREADS, started = 0, rstarted = 0;
	double secs = b->duration < SIM_MIN_S ? SIM_MIN_S : b->duration;

	int rv = proc_sibling(b, "snowrange-master", mbin, sizeof(mbin), err, sizeof(err));
	snprintf(dir, sizeof(dir), "/tmp/sr-bench-XXXXXX");
	if (rv == SR_OK && mkdtemp(dir) == NULL) {
		bench_errf(err, sizeof(err), "mkdtemp: %s", strerror(errno));
		dir[0] = '\0';
		rv = SR_EIO;
	}
	int port = proc_free_port();
	if (rv == SR_OK && port < 0) {
		bench_errf(err, sizeof(err), "cannot find a free port on 127.0.0.1");
		rv = SR_ECONNECT;
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	s.url = url;
	s.ncoords = nc;
	s.nseqs = ns;
	s.read_pause_ms = b->scale_read_pause_ms;
	atomic_init(&s.phase, PHASE_WARM);
	atomic_init(&s.joins, 0);
	s.seqs = calloc(ns, sizeof(*s.seqs));
	s.c = calloc(nc, sizeof(*s.c));
	th = calloc(nth, sizeof(*th));
	if (rv == SR_OK && (s.seqs == NULL || s.c == NULL || th == NULL)) {
		bench_errf(err, sizeof(err), "out of memory");
		rv = SR_ENOMEM;
	}
	for (size_t i = 0; rv == SR_OK && i < nc; i++) {
		s.c[i].after = calloc(ns, sizeof(uint64_t));
		s.c[i].start = calloc(ns, sizeof(uint64_t));
		if (s.c[i].after == NULL || s.c[i].start == NULL) {
			bench_errf(err, sizeof(err), "out of memory");
			rv = SR_ENOMEM;
		}
	}
	for (size_t j = 0; s.seqs != NULL && j < ns; j++)
		snprintf(s.seqs[j], sizeof(s.seqs[j]), "scale%04zu", j);
	if (rv == SR_OK) {
		bench_progress(b, "scale: starting snowrange-master on %s", url);
		char *argv[] = {mbin, "--data-dir", data, "--listen", url, NULL};
		snprintf(log, sizeof(log), "%s/master.log", dir);
		rv = child_spawn(&master, "snowrange-master", argv, log, err, sizeof(err));
	}
	if (rv == SR_OK)
		rv = proc_wait_status(url, &master, err, sizeof(err));
	if (rv == SR_OK)
		rv = make_seqs(&s, err, sizeof(err));
	/* The default TTL and layout until a Join says otherwise. */
	struct catalog_config defaults;
	catalog_config_init(&defaults);
	s.ttl_ms = defaults.lease_ttl_ms;
	s.layout = defaults.layout;
	s.beat_ms = s.ttl_ms / 3;
	s.lease_gap_ms = (int64_t) (b->scale_lease_s * 1000.0 / (double) ns);
	if (s.lease_gap_ms < 1)
		s.lease_gap_ms = 1;

	if (rv == SR_OK) {
		bench_progress(b, "scale: %zu coordinators join, each serving %zu sequences", nc,
		    ns);
		for (; started < nth; started++) {
			th[started].sim = &s;
			th[started].lo = nc * started / nth;
			th[started].hi = nc * (started + 1) / nth;
			if (pthread_create(&th[started].thread, NULL, sim_start, &th[started]) != 0)
				break;
		}
		if (started < nth) {
			bench_errf(err, sizeof(err), "cannot start %zu threads", nth);
			rv = SR_EINTERNAL;
		}
	}
	if (rv == SR_OK) {
		/* Until every coordinator joined (or failed to), then the
		 * warm-up. */
		int64_t until = sr_mono_ms() + 120000;
		size_t done = 0;
		while ((done = atomic_load(&s.joins)) < nc && sr_mono_ms() < until)
			clock_sleep(0.1);
		if (done < nc) {
			bench_errf(err, sizeof(err), "%zu of %zu coordinators joined in 120 s",
			    done, nc);
			rv = SR_ETIMEDOUT;
		}
	}
	struct cpu_window cw = {.server = master.pid};
	if (rv == SR_OK) {
		for (; rstarted < 2; rstarted++) {
			rd[rstarted].sim = &s;
			rd[rstarted].seq_list = rstarted == 1;
			if (pthread_create(&rd[rstarted].thread, NULL, reader_main,
			        &rd[rstarted]) != 0)
				break;
		}
		bench_progress(b, "scale: warm-up %.0f s, then %.0f s measured", SIM_WARM_S, secs);
		clock_sleep(SIM_WARM_S);
		atomic_store(&s.phase, PHASE_MEASURE);
		proc_cpu_hook(&cw, PHASE_MEASURE);
		clock_sleep(secs);
		proc_cpu_hook(&cw, PHASE_STOP);
	}
	atomic_store(&s.phase, PHASE_STOP);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i].thread, NULL);
	for (size_t i = 0; i < rstarted; i++)
		pthread_join(rd[i].thread, NULL);

	/* The sums. */
	struct hist *bh = calloc(1, sizeof(*bh)), *lh = calloc(1, sizeof(*lh));
	struct sim_counts k;
	memset(&k, 0, sizeof(k));
	size_t joined = 0, granted = 0;
	for (size_t i = 0; i < started && bh != NULL && lh != NULL; i++) {
		const struct sim_counts *c = &th[i].cnt;
		hist_merge(bh, &th[i].beat_h);
		hist_merge(lh, &th[i].lease_h);
		k.beats += c->beats;
		k.leases += c->leases;
		k.beat_errs += c->beat_errs;
		k.lease_errs += c->lease_errs;
		k.join_errs += c->join_errs;
		k.no_grant += c->no_grant;
		k.lapses += c->lapses;
		k.late_beats += c->late_beats;
		for (int e = 0; e <= SR_ERR_MAX; e++)
			k.errs_by_code[e] += c->errs_by_code[e];
		if (k.first_err[0] == '\0')
			sr_strlcpy(k.first_err, c->first_err, sizeof(k.first_err));
	}
	for (size_t i = 0; i < nc && s.c != NULL; i++) {
		joined += s.c[i].joined;
		granted += s.c[i].has_worker;
	}
	if (rv == SR_OK && (bh == NULL || lh == NULL)) {
		bench_errf(err, sizeof(err), "out of memory");
		rv = SR_ENOMEM;
	}
	if (rv == SR_OK) {
		uint64_t enoworker = k.no_grant + k.lapses;
		uint64_t errors =
		    k.beat_errs + k.lease_errs + k.join_errs + rd[0].errs + rd[1].errs;
		double cpu = cw.server_s / secs * 100.0, self = cw.self_s / secs * 100.0;
		lat_row(rb, bh, secs, 10);
		lat_row(rl, lh, secs, 10);
		lat_row(rs, &rd[0].h, secs, 0);
		lat_row(rq, &rd[1].h, secs, 0);
		result_note(rb, "%llu late by >1s", (unsigned long long) k.late_beats);
		result_note(rs, "pause %ums between calls, all pages", s.read_pause_ms);
		result_note(rq, "pause %ums between calls, all pages", s.read_pause_ms);
		rm->has_rate = true;
		rm->calls = k.beats + k.leases + rd[0].calls + rd[1].calls;
		rm->calls_per_sec = (double) rm->calls / secs;
		rm->target = "cpu<50%, 0 ENOWORKER";
		rm->verdict = cpu < 50.0 && enoworker == 0 ? V_MET : V_MISSED;
		result_note(rm,
		    "master cpu=%.1f%% of a core, simulator cpu=%.1f%%, "
		    "ENOWORKER=%llu, errors=%llu, %.0fs",
		    cpu, self, (unsigned long long) enoworker, (unsigned long long) errors, secs);
		result_extra_real(rm, "master_cpu_pct", cpu);
		result_extra_real(rm, "simulator_cpu_pct", self);
		result_extra_int(rm, "coordinators", (int64_t) nc);
		result_extra_int(rm, "sequences", (int64_t) ns);
		result_extra_int(rm, "joined", (int64_t) joined);
		result_extra_int(rm, "with_worker", (int64_t) granted);
		result_extra_int(rm, "enoworker", (int64_t) enoworker);
		result_extra_int(rm, "no_grant", (int64_t) k.no_grant);
		result_extra_int(rm, "lease_view_lapses", (int64_t) k.lapses);
		result_extra_int(rm, "errors", (int64_t) errors);
		result_extra_int(rm, "heartbeats", (int64_t) k.beats);
		result_extra_int(rm, "leases", (int64_t) k.leases);
		result_extra_int(rm, "status_calls", (int64_t) rd[0].calls);
		result_extra_int(rm, "seq_list_calls", (int64_t) rd[1].calls);
		result_extra_int(rm, "late_heartbeats", (int64_t) k.late_beats);
		result_extra_real(rm, "seconds", secs);
		result_extra_real(rm, "lease_interval_s", b->scale_lease_s);
		result_extra_int(rm, "master_rss_kb", (int64_t) proc_kb(master.pid, "VmRSS"));
		for (int e = 1; e < SR_ERR_MAX; e++)
			if (k.errs_by_code[e] > 0)
				result_note(rm, "%s=%llu", sr_errname(e),
				    (unsigned long long) k.errs_by_code[e]);
		if (k.first_err[0] != '\0')
			result_note(rm, "first: %s", k.first_err);
		for (int i = 0; i < 2; i++)
			if (rd[i].first_err[0] != '\0')
				result_note(rm, "reader: %s", rd[i].first_err);
		if (joined < nc)
			result_fail(rm, "%zu of %zu coordinators joined", joined, nc);
	} else {
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			result_fail(all[i], "%s", sc_failure(rv, err));
	}
	free(bh);
	free(lh);
	for (size_t i = 0; i < nc && s.c != NULL; i++) {
		wire_chan_close(s.c[i].ch);
		free(s.c[i].after);
		free(s.c[i].start);
	}
	free(s.c);
	free(s.seqs);
	free(th);
	bool clean = child_stop(&master);
	if (!clean) {
		x->children_failed = true;
		rv = SR_EINTERNAL;
	}
	if (dir[0] != '\0' && rv == SR_OK)
		proc_rm_dir(dir);
	else if (dir[0] != '\0')
		fprintf(stderr, "bench: scale: logs kept in %s\n", dir);
}
