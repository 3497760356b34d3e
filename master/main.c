/*
 * snowrange-master: leases chunked ID ranges to coordinators.
 *
 *   snowrange-master --data-dir DIR [--listen URL] [--config FILE] ...
 *   snowrange-master migrate --from STORE_URL --to STORE_URL
 *
 * Every setting is a row of the options table below, which drives the flags,
 * the config file keys and --help alike; the commands (only `migrate` so far)
 * are rows of their own table.
 */
/* realpath */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <sqlite3.h>

#include "creds.h"
#include "flake.h"
#include "httpd.h"
#include "master_http.h"
#include "migrate.h"
#include "options.h"
#include "server.h"
#include "snowrange/error.h"
#include "log.h"
#include "util.h"

/* The daemon's one top-level state (Redis `server` style). */
static struct {
	const char *listen;
	const char *data_dir;
	const char *store;
	const char *advertise;
	int64_t leader_ttl_ms;
	int64_t etcd_timeout_ms;
	int64_t etcd_max_txn_ops;
	int64_t workers;
	int64_t lease_ttl_ms;
	int64_t default_chunk;
	int64_t max_chunk;
	int64_t target_range_seconds;
	int64_t worker_grace_ms;
	int64_t max_clock_skew_ms;
	int64_t max_nodes;
	int64_t node_retention;
	int64_t worker_history;
	int64_t max_connections;
	int64_t idle_timeout_ms;
	const char *layout;
	const char *tls_cert, *tls_key, *tls_ca, *token_file;
	bool insecure;
	const char *log_level, *log_format, *log_file;
	const char *http_listen;
	const char *from, *to; /* migrate */
} opt;

static const struct sr_opt options[] = {
    {"listen", SR_OPT_STR, &opt.listen, "tcp://127.0.0.1:7400", 0, 0,
        "nng URL to serve on (tcp://, tls+tcp://, ipc://)", .arg = "URL"},
    {"http-listen", SR_OPT_STR, &opt.http_listen, NULL, 0, 0,
        "http://HOST:PORT or https://HOST:PORT for the status page, /metrics and the "
        "probes (docs/http.md); off when not set",
        .arg = "URL"},
    {"tls-cert", SR_OPT_STR, &opt.tls_cert, NULL, 0, 0,
        "PEM certificate this master presents (with tls-key; needs a tls+tcp:// listen URL)",
        .arg = "FILE"},
    {"tls-key", SR_OPT_STR, &opt.tls_key, NULL, 0, 0, "PEM private key of tls-cert", .arg = "FILE"},
    {"tls-ca", SR_OPT_STR, &opt.tls_ca, NULL, 0, 0,
        "PEM CA bundle: clients must present a certificate signed by it (mutual TLS)",
        .arg = "FILE"},
    {"token-file", SR_OPT_STR, &opt.token_file, NULL, 0, 0,
        "role tokens accepted (\"ROLE[:NODE] TOKEN\" lines, mode 600; docs/security.md)",
        .arg = "FILE"},
    {"insecure", SR_OPT_BOOL, &opt.insecure, "false", 0, 0,
        "allow a non-loopback listen URL with no client credentials configured"},
    {"data-dir", SR_OPT_STR, &opt.data_dir, NULL, 0, 0,
        "directory of the SQLite store (created if missing); required without --store",
        .arg = "DIR"},
    {"store", SR_OPT_STR, &opt.store, NULL, 0, 0,
        "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]: keep the state in etcd v3 "
        "instead of SQLite (docs/ha.md)"},
    {"advertise", SR_OPT_STR, &opt.advertise, NULL, 0, 0,
        "with --store etcd: the URL coordinators and the CLI reach this master at "
        "(default: --listen); standbys redirect to it"},
    {"leader-ttl-ms", SR_OPT_INT, &opt.leader_ttl_ms, "2000", 1000, 600000,
        "with --store etcd: the leader's etcd lease; a dead leader is replaced "
        "within about this long (etcd counts whole seconds)"},
    {"etcd-timeout-ms", SR_OPT_INT, &opt.etcd_timeout_ms, "1000", 50, 60000,
        "one request to one etcd member; the next member is tried after it"},
    {"etcd-max-txn-ops", SR_OPT_INT, &opt.etcd_max_txn_ops, "128", 8, 1000000,
        "the etcd cluster's --max-txn-ops: the most rows one commit may write"},
    {"workers", SR_OPT_INT, &opt.workers, "16", 1, 1024, "requests served concurrently"},
    {"lease-ttl-ms", SR_OPT_INT, &opt.lease_ttl_ms, "10000", 300, 3600000,
        "a node silent this long is dead; heartbeats come every third of it"},
    {"default-chunk", SR_OPT_INT, &opt.default_chunk, "1000", 1, 1 << 30,
        "chunk size of sequences created without one"},
    {"max-chunk", SR_OPT_INT, &opt.max_chunk, "67108864", 1, 1ll << 32,
        "default upper bound of the dynamic chunk size"},
    {"target-range-seconds", SR_OPT_INT, &opt.target_range_seconds, "10", 1, 86400,
        "the dynamic chunk size aims for ranges lasting this long"},
    {"worker-grace-ms", SR_OPT_INT, &opt.worker_grace_ms, "2000", 0, 600000,
        "a worker id is re-granted this long after its lease ended; at least the "
        "clock skew tolerated between nodes"},
    {"max-clock-skew-ms", SR_OPT_INT, &opt.max_clock_skew_ms, "2000", 0, 600000,
        "a node reporting a Snowflake tick further ahead of the master's clock is "
        "refused (it loses its worker id); keep it at most worker-grace-ms"},
    {"max-connections", SR_OPT_INT, &opt.max_connections, "2048", 1, 1000000,
        "client connections at most; more are closed after their handshake (keep "
        "below the open-file limit)"},
    {"idle-timeout-ms", SR_OPT_INT, &opt.idle_timeout_ms, "60000", 1000, 86400000,
        "a connection that sent no whole request this long is closed (clients "
        "reconnect by themselves)"},
    {"max-nodes", SR_OPT_INT, &opt.max_nodes, "4096", 1, 1000000,
        "live coordinators at most; a new node name beyond it is refused"},
    {"node-retention", SR_OPT_INT, &opt.node_retention, "604800", 0, INT64_C(3153600000),
        "seconds a dead node (left or silent) is kept in the catalog before it is "
        "forgotten (its worker ids' floors stay); 0 keeps them for ever"},
    {"worker-history", SR_OPT_INT, &opt.worker_history, "10000", 0, 1000000,
        "grants of worker ids to new holders kept for decode and txlog (who held a "
        "worker id when); the oldest are deleted beyond it; 0 keeps none"},
    {"layout", SR_OPT_STR, &opt.layout, "41/10/12/1/2024-01-01T00:00:00Z", 0, 0,
        "Snowflake layout TIME/WORKER/SEQ/UNIT_MS/EPOCH bits (sum 63); fixed at the "
        "first start of a data dir"},
    {"from", SR_OPT_STR, &opt.from, NULL, 0, 0,
        "migrate: the store to copy, sqlite:DIR (a --data-dir) or etcd://HOST:PORT,.../PREFIX; "
        "no master may serve it (docs/ha.md)",
        .arg = "URL", .flags = SR_OPTF_NOINI},
    {"to", SR_OPT_STR, &opt.to, NULL, 0, 0,
        "migrate: the empty store to copy into (sqlite:DIR or etcd://...)", .arg = "URL",
        .flags = SR_OPTF_NOINI},
    SR_OPTS_LOG(&opt.log_level, &opt.log_format, &opt.log_file),
};
#define NOPTS (sizeof(options) / sizeof(options[0]))

static void
versions(FILE *f)
{
	fprintf(f, ", SQLite %s", sqlite3_libversion());
}

static const struct sr_opts_prog prog = {
    .name = "snowrange-master",
    .section = "master",
    .usage = "snowrange-master --data-dir DIR [options]\n"
             "snowrange-master --store etcd://HOST:PORT,... [options]\n"
             "snowrange-master migrate --from STORE_URL --to STORE_URL",
    .summary = "the snowrange master: leases chunks of ID ranges and worker ids",
    .description = "The master owns the durable state of a snowrange cluster in a SQLite "
                   "store under --data-dir: the sequences, their range leases and the "
                   "worker-id leases of the coordinators. Coordinators join it and lease "
                   "chunks of ID ranges from it; the snowrange tool administers it.\n\n"
                   "SIGINT and SIGTERM stop it; SIGHUP reopens --log-file (nothing else is "
                   "reloaded) and never stops it. It exits with status 1 when another master "
                   "fenced it (docs/reliability.md).\n\n"
                   "migrate copies a stopped cluster's whole state (sequences and their hwm, "
                   "nodes, worker grants, the Snowflake layout) from one store into an empty "
                   "one, for instance from SQLite to etcd, and leaves the destination's "
                   "fencing term above the source's (docs/ha.md).",
    .opts = options,
    .nopts = NOPTS,
    .versions = versions,
};

/* Wakes the sigwait below from a request thread: the signal is blocked in
 * every thread, so only sigwait takes it. */
static void
fenced(void *arg)
{
	(void) arg;
	kill(getpid(), SIGUSR1);
}

/* ---- migrate (master/migrate.h) ---- */

/* One side of a migration: the store opened, and the data dir's lock held
 * for a SQLite one, so that no master starts on it meanwhile. */
struct side {
	const char *url;
	const char *role; /* "source" or "destination" */
	enum migrate_kind kind;
	const char *dir;
	int lock_fd;
	struct store *st;
};

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: one line and the hint, exit status 2. */
static int
usage_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "snowrange-master: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun 'snowrange-master --help' for the commands and options\n");
	return 2;
}

/*
 * Opens one side and makes sure no master serves it: a SQLite data dir's
 * lock is taken here (store_sqlite_lock, the same one a master takes), and
 * an etcd prefix must have no leader. A source must exist already: opening
 * a missing data dir would create an empty store.
 */
static int
side_open(struct side *sd, bool source, char *err, size_t errlen)
{
	int rv;
	sd->lock_fd = -1;
	sd->st = NULL;
	if (sd->kind == MIGRATE_SQLITE) {
		char db[4200];
		struct stat sb;
		snprintf(db, sizeof db, "%s/snowrange.db", sd->dir);
		if (source && stat(db, &sb) != 0)
			return SR_ERRF(err, errlen, SR_ENOTFOUND,
			    "source %s: no SQLite store there (no %s)", sd->url, db);
		if ((rv = store_sqlite_lock(sd->dir, &sd->lock_fd, err, errlen)) != SR_OK) {
			if (rv == SR_EEXISTS) {
				char why[512];
				snprintf(why, sizeof why, "%s", err);
				snprintf(err, errlen,
				    "%s %s is in use (%s): stop the master serving it first",
				    sd->role, sd->url, why);
			}
			return rv;
		}
		rv = store_sqlite_open(sd->dir, &sd->st, err, errlen);
	} else {
		rv = store_etcd_open(sd->url, (int) opt.etcd_timeout_ms,
		    (size_t) opt.etcd_max_txn_ops, &sd->st, err, errlen);
	}
	if (rv != SR_OK)
		return rv;
	if (sd->kind == MIGRATE_ETCD) {
		char leader[256];
		int found;
		if ((rv = store_etcd_leader(sd->st, leader, sizeof leader, &found)) != SR_OK)
			return SR_ERRF(err, errlen, rv, "%s %s: %s", sd->role, sd->url,
			    store_errmsg(sd->st));
		if (found)
			return SR_ERRF(err, errlen, SR_EEXISTS,
			    "%s %s is in use: the master at %s leads on it; stop every master on it "
			    "first",
			    sd->role, sd->url, leader);
	}
	return SR_OK;
}

static void
side_close(struct side *sd)
{
	store_close(sd->st);
	sd->st = NULL;
	if (sd->lock_fd >= 0)
		close(sd->lock_fd);
	sd->lock_fd = -1;
}

/* Whether two SQLite sides are one directory (the lock would say "in use"
 * by ourselves, which explains nothing). */
static bool
same_dir(const struct side *a, const struct side *b)
{
	if (a->kind != MIGRATE_SQLITE || b->kind != MIGRATE_SQLITE)
		return false;
	char *ra = realpath(a->dir, NULL), *rb = realpath(b->dir, NULL);
	bool same = ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

static int
cmd_migrate(void)
{
	char err[1024] = "";
	struct side src = {opt.from, "source", 0, NULL, -1, NULL};
	struct side dst = {opt.to, "destination", 0, NULL, -1, NULL};
	if (opt.from == NULL || opt.to == NULL)
		return usage_err("migrate needs --from URL and --to URL");
	if (migrate_parse_url(opt.from, &src.kind, &src.dir, err, sizeof err) != SR_OK ||
	    migrate_parse_url(opt.to, &dst.kind, &dst.dir, err, sizeof err) != SR_OK)
		return usage_err("migrate: %s", err);
	if (same_dir(&src, &dst))
		return usage_err("migrate: --from and --to are the same data dir (%s)", src.dir);
	int rv = side_open(&src, true, err, sizeof err);
	if (rv == SR_OK)
		rv = side_open(&dst, false, err, sizeof err);
	struct migrate_result res = {0};
	if (rv == SR_OK) {
		size_t batch = dst.kind == MIGRATE_ETCD ? (size_t) opt.etcd_max_txn_ops : SIZE_MAX;
		rv = migrate_copy(src.st, dst.st, batch, &res, err, sizeof err);
	}
	side_close(&dst);
	side_close(&src);
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange-master: migrate: %s (%s)\n", err, sr_errname(rv));
		return 1;
	}
	char layout[FLAKE_LAYOUT_STRLEN] = "none";
	if (store_layout_set(&res.layout))
		flake_layout_format(&res.layout, layout, sizeof layout);
	printf("migrated %s to %s: %zu sequences, %zu nodes, %zu worker grants, %zu worker "
	       "history entries, layout %s; source term %llu, destination term %llu\n",
	    opt.from, opt.to, res.nseqs, res.nnodes, res.nworkers, res.neras, layout,
	    (unsigned long long) res.src_term, (unsigned long long) res.dst_term);
	printf("start the masters on %s with the same --layout, and never again on %s "
	       "(docs/ha.md)\n",
	    opt.to, opt.from);
	return 0;
}

/* The commands; a bare snowrange-master (no command) runs the master. */
static const struct {
	const char *name;
	int (*fn)(void);
} commands[] = {
    {"migrate", cmd_migrate},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int
run_command(int npos, char **argv)
{
	const char *names[NCOMMANDS];
	for (size_t i = 0; i < NCOMMANDS; i++) {
		names[i] = commands[i].name;
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (npos > 1)
			return usage_err("unexpected argument '%.60s'", argv[2]);
		return commands[i].fn();
	}
	const char *s = sr_suggest(argv[1], names, NCOMMANDS);
	fprintf(stderr,
	    "snowrange-master: unknown command '%.60s'%s%s%s\n"
	    "run 'snowrange-master --help' for the commands and options\n",
	    argv[1], s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
	return 2;
}

static int
run(int argc, char **argv, struct sr_opts_mem *mem)
{
	char err[512] = "";
	int npos;
	int rc = sr_opts_main(&prog, argc, argv, &npos, mem);
	if (rc >= 0)
		return rc;
	if (npos > 0)
		return run_command(npos, argv);
	if (opt.from != NULL || opt.to != NULL)
		return usage_err("--from and --to belong to 'snowrange-master migrate'");
	bool etcd = opt.store != NULL && opt.store[0] != '\0';
	if (etcd && strncmp(opt.store, "etcd://", 7) != 0) {
		fprintf(stderr,
		    "snowrange-master: --store '%.60s': only etcd:// is known "
		    "(SQLite is the default, with --data-dir)\n"
		    "run 'snowrange-master --help' for the options\n",
		    opt.store);
		return 2;
	}
	if (!etcd && (opt.data_dir == NULL || opt.data_dir[0] == '\0')) {
		fprintf(stderr,
		    "snowrange-master: --data-dir is required (or --store "
		    "etcd://...)\n"
		    "run 'snowrange-master --help' for the options\n");
		return 2;
	}

	/* Signals are taken synchronously by sigwait below; block them before
	 * nng starts its threads so that none of those receives them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1); /* our own: the master was fenced */
	sigaddset(&sigs, SIGHUP);  /* reopen the log */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (sr_log_setup(opt.log_level, opt.log_format, opt.log_file, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-master: %s\n", err);
		return 2;
	}

	sr_credentials in = {opt.tls_cert, opt.tls_key, opt.tls_ca, opt.token_file};
	struct creds *cr;
	if (creds_load(&in, &cr, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-master: %s\n", err);
		return 2;
	}
	struct master_config cfg = {
	    .listen_url = opt.listen,
	    .data_dir = opt.data_dir,
	    .store_url = opt.store,
	    .etcd_timeout_ms = (int) opt.etcd_timeout_ms,
	    .etcd_max_txn_ops = (int) opt.etcd_max_txn_ops,
	    .advertise = opt.advertise,
	    .leader_ttl_ms = (int) opt.leader_ttl_ms,
	    .workers = (int) opt.workers,
	    .creds = cr,
	    .insecure = opt.insecure,
	    .on_fenced = fenced,
	    .max_conns = (size_t) opt.max_connections,
	    .idle_ms = opt.idle_timeout_ms,
	};
	catalog_config_init(&cfg.catalog);
	cfg.catalog.lease_ttl_ms = (uint32_t) opt.lease_ttl_ms;
	cfg.catalog.default_chunk = (uint64_t) opt.default_chunk;
	cfg.catalog.default_max_chunk = (uint64_t) opt.max_chunk;
	cfg.catalog.target_range_ms = (uint32_t) (opt.target_range_seconds * 1000);
	cfg.catalog.worker_grace_ms = (uint32_t) opt.worker_grace_ms;
	cfg.catalog.max_skew_ms = (uint32_t) opt.max_clock_skew_ms;
	cfg.catalog.max_nodes = (uint32_t) opt.max_nodes;
	cfg.catalog.node_retention_ms = opt.node_retention * 1000;
	cfg.catalog.worker_history = (uint32_t) opt.worker_history;
	sr_flake_layout l;
	if (flake_layout_parse(opt.layout, &l, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-master: --layout: %s\n", err);
		creds_free(cr);
		return 2;
	}
	/* A layout that cannot work is refused now, with the reason, rather
	 * than served (docs/snowflake.md): an epoch ahead of our clock by more
	 * than the skew tolerated between nodes, or under FLAKE_MIN_LIFE_YEARS
	 * of range left. */
	if (flake_layout_check_time(&l, sr_wall_ms(), opt.max_clock_skew_ms,
	        FLAKE_MIN_LIFE_YEARS * FLAKE_YEAR_MS, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-master: --layout: %s\n", err);
		creds_free(cr);
		return 2;
	}
	cfg.catalog.layout = l;

	/* A bad HTTP URL is refused before the master takes a fencing term. */
	if (opt.http_listen != NULL &&
	    httpd_check(opt.http_listen, cr, opt.insecure, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "snowrange-master: %s\n", err);
		creds_free(cr);
		return 2;
	}
	struct master *m;
	int rv = master_start(&cfg, &m, err, sizeof(err));
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange-master: %s (%s)\n", err, sr_errname(rv));
		creds_free(cr);
		return 1;
	}
	if (!creds_authenticates(cr) && !creds_url_local(opt.listen))
		sr_log("master",
		    "WARNING: --insecure: serving %s without client "
		    "credentials; anyone who can reach it can do anything "
		    "(docs/security.md)",
		    opt.listen);
	struct httpd *http = NULL;
	struct master_http hctx = {m, NULL};
	if (opt.http_listen != NULL) {
		/* The nng listener's bounds hold for HTTP too (docs/http.md). */
		struct httpd_config hc = {opt.http_listen, cr, opt.insecure, 4,
		    (int) opt.max_connections, 0, (int) (opt.idle_timeout_ms / 1000)};
		size_t nr;
		const struct httpapi_route *hr = master_http_routes(&nr);
		if ((rv = httpd_start(&hc, hr, nr, &hctx, &http, err, sizeof(err))) != SR_OK) {
			fprintf(stderr, "snowrange-master: %s (%s)\n", err, sr_errname(rv));
			master_stop(m);
			creds_free(cr);
			return 1;
		}
		hctx.srv = http;
		sr_log("master", "serving HTTP on %s (status page, /metrics)", opt.http_listen);
	}
	int sig;
	/* SIGHUP never stops the master: it reopens the log file (after a
	 * rotation); settings need a restart (docs/operating.md). */
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
		if (sr_log_reopen(err, sizeof(err)) != SR_OK)
			sr_logl(SR_LOG_ERROR, "master", "SIGHUP: %s", err);
		else
			sr_log("master", "SIGHUP: log reopened");
	}
	if (sig == SIGUSR1) {
		sr_log("master", "fenced by another master on %s: exiting with status 1",
		    etcd ? opt.store : opt.data_dir);
		/* Let the replies in flight (SR_ESTALE, naming the cause) reach
		 * their callers before the socket closes. */
		nanosleep(&(struct timespec) {0, 300 * 1000000L}, NULL);
	} else
		sr_log("master", "signal %d: stopping", sig);
	/* Every commit is durable already; if nng_close hangs, just exit. */
	sr_exit_watchdog("master", 5);
	httpd_stop(http);
	master_stop(m);
	creds_free(cr);
	return sig == SIGUSR1 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct sr_opts_mem mem = {0};
	int rc = run(argc, argv, &mem);
	sr_opts_mem_free(&mem);
	nng_fini(); /* so that leak checkers see nng's globals released */
	return rc;
}
