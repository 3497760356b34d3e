/*
 * The cost of trust (issue 9): the same two measurements over plain tcp://
 * and over tls+tcp:// with mutual TLS and role tokens, in one run.
 *
 *   tls.master.lease.{tcp,tls}      durable leases/s: a master in this
 *       process, one coordinator leasing a chunk-1 block sequence (every
 *       ID one lease: one round trip and one SQLite commit).
 *   tls.remote.next_ids.b1.cN.{tcp,tls}  NextIds of 1 ID through a
 *       snowrange-coordinator daemon (a child process), N clients.
 *
 * The credentials come from scripts/mkcerts (run into the bench's temp dir;
 * SNOWRANGE_MKCERTS names another copy of the script).
 */
#include "bench.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "creds.h"
#include "server.h"
#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

#ifndef SR_SOURCE_DIR
#define SR_SOURCE_DIR "."
#endif

/* One cluster: a master in this process and a daemon child. */
struct side {
	const char *tag; /* "tcp" or "tls" */
	bool tls;
	char dir[160], murl[64], curl[64];
	sr_credentials cred;  /* the admin's (clients), all NULL for tcp */
	sr_credentials ccred; /* the daemon's (coord-1) */
	sr_credentials lcred; /* the leasing coordinator's (coord-2) */
	struct creds *mcreds;
	struct master_config mcfg;
	struct master *m;
	struct child daemon;
	char err[256];
	int rv;
};

static char creds_dir[160];
static char paths[20][200];

static const char *
path_of(int i, const char *name)
{
	snprintf(paths[i], sizeof(paths[i]), "%s/%s", creds_dir, name);
	return paths[i];
}

/* Runs scripts/mkcerts DIR 2. */
static int
make_creds(const char *base, char *err, size_t errlen)
{
	const char *script = getenv("SNOWRANGE_MKCERTS");
	char def[600];
	snprintf(def, sizeof(def), "%s/scripts/mkcerts", SR_SOURCE_DIR);
	if (script == NULL || script[0] == '\0')
		script = def;
	snprintf(creds_dir, sizeof(creds_dir), "%s/creds", base);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' '%s' 2 >/dev/null", script, creds_dir);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		bench_errf(err, errlen, "%s failed (openssl installed? scripts/deps)", script);
		return SR_EINVAL;
	}
	return SR_OK;
}

static int
side_up(struct bench *b, struct side *s, const char *base)
{
	char *err = s->err;
	size_t errlen = sizeof(s->err);
	int pm = proc_free_port(), pc = proc_free_port();
	if (pm < 0 || pc < 0 || pm == pc) {
		bench_errf(err, errlen, "cannot find free ports on 127.0.0.1");
		return SR_ECONNECT;
	}
	const char *scheme = s->tls ? "tls+tcp" : "tcp";
	snprintf(s->dir, sizeof(s->dir), "%s/%s", base, s->tag);
	mkdir(s->dir, 0700);
	snprintf(s->murl, sizeof(s->murl), "%s://127.0.0.1:%d", scheme, pm);
	snprintf(s->curl, sizeof(s->curl), "%s://127.0.0.1:%d", scheme, pc);
	if (s->tls) {
		s->cred = (sr_credentials) {path_of(0, "admin.pem"), path_of(1, "admin.key"),
		    path_of(2, "ca.pem"), path_of(3, "admin.tokens")};
		s->ccred = (sr_credentials) {path_of(4, "coord-1.pem"), path_of(5, "coord-1.key"),
		    path_of(6, "ca.pem"), path_of(7, "coord-1.tokens")};
		s->lcred = (sr_credentials) {path_of(12, "coord-2.pem"), path_of(13, "coord-2.key"),
		    path_of(14, "ca.pem"), path_of(15, "coord-2.tokens")};
		sr_credentials mc = {path_of(8, "master.pem"), path_of(9, "master.key"),
		    path_of(10, "ca.pem"), path_of(11, "master.tokens")};
		int rv = creds_load(&mc, &s->mcreds, err, errlen);
		if (rv != SR_OK)
			return rv;
	}
	s->mcfg.listen_url = s->murl;
	s->mcfg.data_dir = s->dir;
	s->mcfg.workers = 16;
	s->mcfg.creds = s->mcreds;
	catalog_config_init(&s->mcfg.catalog);
	s->mcfg.catalog.claim_wait_ms = 0; /* a new store, as in fixture.c */
	int rv = master_start(&s->mcfg, &s->m, err, errlen);
	sr_client *admin = NULL;
	if (rv == SR_OK)
		rv = sr_client_open_with(s->murl, REMOTE_TIMEOUT_MS, &s->cred, &admin, err, errlen);
	sr_seq_spec lease = {.name = "lease1",
	    .chunk_size = 1,
	    .min_chunk = 1,
	    .max_chunk = 1,
	    .block = 1};
	sr_seq_spec remote = {.name = "remote",
	    .chunk_size = BIG_CHUNK,
	    .min_chunk = BIG_CHUNK,
	    .max_chunk = BIG_CHUNK};
	if (rv == SR_OK &&
	    ((rv = sr_client_seq_create(admin, &lease, NULL)) != SR_OK ||
	        (rv = sr_client_seq_create(admin, &remote, NULL)) != SR_OK))
		bench_errf(err, errlen, "seq create: %s", sr_client_errmsg(admin));
	sr_client_close(admin);
	char bin[600], log[256], workers[16];
	if (rv == SR_OK)
		rv = proc_sibling(b, "snowrange-coordinator", bin, sizeof(bin), err, errlen);
	if (rv == SR_OK) {
		snprintf(workers, sizeof(workers), "%d", SERVER_WORKERS);
		snprintf(log, sizeof(log), "%s/coordinator.log", s->dir);
		char *plain[] = {bin, "join", s->murl, "--name", "coord-1", "--listen", s->curl,
		    "--workers", workers, NULL};
		char *tls[] = {bin, "join", s->murl, "--name", "coord-1", "--listen", s->curl,
		    "--workers", workers, "--tls-cert", (char *) s->ccred.tls_cert, "--tls-key",
		    (char *) s->ccred.tls_key, "--tls-ca", (char *) s->ccred.tls_ca, "--token-file",
		    (char *) s->ccred.token_file, NULL};
		rv = child_spawn(&s->daemon, "snowrange-coordinator", s->tls ? tls : plain, log,
		    err, errlen);
	}
	if (rv == SR_OK)
		rv = proc_wait_status_with(s->curl, &s->cred, &s->daemon, err, errlen);
	return rv;
}

static bool
side_down(struct side *s)
{
	bool ok = s->daemon.pid > 0 ? child_stop(&s->daemon) : true;
	master_stop(s->m);
	creds_free(s->mcreds);
	s->m = NULL;
	s->mcreds = NULL;
	return ok;
}

/* Durable leases/s through one in-process coordinator. */
static void
lease_row(struct ctx *x, struct side *s)
{
	struct result *r = result_new(x->b, "tls", "tls.master.lease.%s", s->tag);
	if (s->rv != SR_OK) {
		result_fail(r, "%s", sc_failure(s->rv, s->err));
		return;
	}
	bench_progress(x->b, "tls: durable leases over %s", s->tag);
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = s->murl;
	cfg.node_name = "coord-2";
	cfg.credentials = &s->lcred;
	sr_coordinator *c = NULL;
	struct crew crew;
	memset(&crew, 0, sizeof(crew));
	char err[256] = "";
	int rv = sr_coordinator_open(&cfg, &c, err, sizeof(err));
	if (rv == SR_OK && (rv = crew_init(&crew, x->b, 1, OP_SEQ, 1, 1)) == SR_OK) {
		crew.w[0].coord = c;
		rv = sr_sequence_get(c, "lease1", &crew.w[0].seq);
	}
	if (rv == SR_OK)
		crew_run(x->b, &crew, crew_warm_for(x->b), r);
	else
		result_fail(r, "%s", sc_failure(rv, err));
	crew_free(&crew);
	sr_coordinator_close(c);
	result_note(r,
	    "IDs/s = durable leases/s (chunk 1, block mode), 1 coordinator, "
	    "master on %s",
	    s->tls ? "tls+tcp with mutual TLS and tokens" : "tcp");
	if (r->has_rate)
		result_extra_real(r, "leases_per_sec", r->ids_per_sec);
}

/* NextIds of 1 ID through the daemon, clients threads. */
static void
remote_tls_row(struct ctx *x, struct side *s, unsigned clients, struct result *base)
{
	struct result *r =
	    result_new(x->b, "tls", "tls.remote.next_ids.b1.c%u.%s", clients, s->tag);
	if (s->rv != SR_OK) {
		result_fail(r, "%s", sc_failure(s->rv, s->err));
		return;
	}
	bench_progress(x->b, "tls: NextIds of 1 over %s, %u client(s)", s->tag, clients);
	struct crew crew;
	struct cpu_window cw = {.server = s->daemon.pid};
	bool ok = crew_init(&crew, x->b, clients, OP_REMOTE, 1, 1) == SR_OK;
	crew.hook = proc_cpu_hook;
	crew.hook_arg = &cw;
	for (size_t i = 0; ok && i < clients; i++) {
		crew.w[i].seqname = "remote";
		ok = sr_client_open_with(s->curl, REMOTE_TIMEOUT_MS, &s->cred, &crew.w[i].client,
		         NULL, 0) == SR_OK;
	}
	if (ok)
		crew_run(x->b, &crew, crew_warm_for(x->b), r);
	else
		result_fail(r, "cannot open %u clients", clients);
	for (size_t i = 0; i < crew.n; i++)
		sr_client_close(crew.w[i].client);
	crew_free(&crew);
	result_note(r, "%s loopback, daemon --workers %d",
	    s->tls ? "tls+tcp (mutual TLS, tokens)" : "tcp", SERVER_WORKERS);
	proc_cpu_note(r, &cw);
	if (base != NULL && r->has_rate && base->has_rate)
		result_set_baseline(r, base->scenario, base->ids_per_sec);
}

void
sc_tls(struct ctx *x)
{
	static const unsigned def[] = {1, 16};
	size_t nt;
	const unsigned *ts = sc_threads(x->b, def, 2, &nt);
	char base[64] = "/tmp/sr-bench-tls-XXXXXX", err[256] = "";
	struct side sides[2] = {{.tag = "tcp"}, {.tag = "tls", .tls = true}};
	int rv = mkdtemp(base) != NULL ? SR_OK : SR_EIO;
	if (rv == SR_OK)
		rv = make_creds(base, err, sizeof(err));
	for (int i = 0; i < 2; i++) {
		sides[i].rv = rv;
		if (rv != SR_OK)
			snprintf(sides[i].err, sizeof(sides[i].err), "%s",
			    err[0] ? err : "mkdtemp failed");
		else
			sides[i].rv = side_up(x->b, &sides[i], base);
	}
	/* The same measurements back to back, plain first: the TLS row's
	 * baseline is the tcp row of the same run. */
	struct result *lease_tcp = NULL;
	for (int i = 0; i < 2; i++) {
		lease_row(x, &sides[i]);
		struct result *r = &x->b->results[x->b->nresults - 1];
		if (i == 0)
			lease_tcp = r;
		else if (lease_tcp->has_rate && r->has_rate)
			result_set_baseline(r, lease_tcp->scenario, lease_tcp->ids_per_sec);
	}
	for (size_t t = 0; t < nt; t++) {
		remote_tls_row(x, &sides[0], ts[t], NULL);
		struct result *tcp = &x->b->results[x->b->nresults - 1];
		remote_tls_row(x, &sides[1], ts[t], tcp);
	}
	bool ok = true;
	for (int i = 0; i < 2; i++)
		ok = side_down(&sides[i]) && ok;
	if (!ok)
		x->children_failed = true;
	if (rv == SR_OK && ok)
		proc_rm_dir(base);
	else if (base[0] != '\0')
		fprintf(stderr, "bench: tls: logs kept in %s\n", base);
}
