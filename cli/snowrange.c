/*
 * snowrange: the operator and client tool, in etcdctl's shape (noun, then
 * verb). It talks to the master for the catalog and cluster status, and to a
 * coordinator daemon for IDs; `draw` and `verify` are the load generator and
 * the checker the demo and the integration tests use to prove the
 * guarantees on what was really handed out.
 *
 * Commands and flags are tables: one row per command and one per flag drive
 * parsing, validation and --help alike. Output is text or, with -o json, one
 * compact JSON document; errors go to stderr. Exit codes: 0 success, 1 a
 * failed operation, 2 a usage error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "snowrange/txlog.h"
#include "flake.h"
#include "snowrange/client.h"
#include "options.h"
#include "probe.h"
#include "util.h"

#define DEFAULT_MASTER "tcp://127.0.0.1:7400"
#define DEFAULT_COORDINATOR "tcp://127.0.0.1:7401"
/* Above the coordinator's default lease-timeout-ms (3000) plus a round
 * trip: a coordinator that cannot lease answers SR_EUNAVAILABLE when its
 * wait ends, and the CLI must still be listening then (docs/operating.md). */
#define DEFAULT_TIMEOUT_MS_STR "5000"
/* IDs one request may ask for: a list holds every ID, segments (issue 19)
 * one (first, step, count) per chunk. */
#define MAX_COUNT 65536
#define MAX_SEG_COUNT SR_SEGMENT_IDS_MAX
#define ID_MAX UINT64_C(0x7fffffffffffffff)
#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* Pause after a failed draw request, so that a dead coordinator costs a
 * little time instead of a spinning CPU. */
#define DRAW_ERROR_PAUSE_US 20000

/* Everything one invocation needs: the global flags, the command's flags and
 * its positional arguments. The one top-level state of the tool; the option
 * table below points into it. */
struct cli {
	const char *master;
	struct sr_opt_list coordinators;
	const char *output;
	bool json;
	int64_t timeout_ms;
	/* command flags; 0 means "not given" where the wire has a default */
	int64_t start, chunk, max, spare, min_chunk, max_chunk;
	int64_t count, batch;
	double duration;
	bool block, no_prefetch, txids, in_doubt, segments;
	const char *out;
	const char *layout;
	const char *tls_cert, *tls_key, *tls_ca, *token_file;
	bool help, version;
	bool no_probe; /* draw: a coordinator may come up later */
	char **args;
	int nargs;
	const struct command *cmd;
};

static struct cli G;

#define COORDINATOR_FLAG global_flags[1] /* its row, below */

/* ---- flags ---- */

/*
 * The flags, as rows of the parser shared with the daemons (common/options.h):
 * the first group is global (allowed with every command), the second belongs
 * to the commands that list it.
 */
static const struct sr_opt global_flags[] = {
    {"master", SR_OPT_STR, &G.master, DEFAULT_MASTER, 0, 0,
        "master URL, or a comma-separated list of masters on etcd (the leader "
        "is found)",
        .arg = "URL[,URL...]", .shrt = 'm', .env = "SNOWRANGE_MASTER"},
    {"coordinator", SR_OPT_LIST, &G.coordinators, NULL, 0, 0,
        "coordinator URL (default " DEFAULT_COORDINATOR "); several are tried in "
        "order until one answers, draw uses them all",
        .arg = "URL", .shrt = 'c', .env = "SNOWRANGE_COORDINATOR"},
    {"output", SR_OPT_ENUM, &G.output, "text", 0, 0, "output format", .arg = "text|json",
        .shrt = 'o'},
    {"timeout", SR_OPT_INT, &G.timeout_ms, DEFAULT_TIMEOUT_MS_STR, 1, 3600000,
        "bound on every request, ms; above the coordinator's lease-timeout-ms "
        "(3000) so that its SR_EUNAVAILABLE arrives",
        .arg = "MS"},
    {"tls-cert", SR_OPT_STR, &G.tls_cert, NULL, 0, 0, "PEM certificate to present (mutual TLS)",
        .arg = "FILE", .env = "SNOWRANGE_TLS_CERT"},
    {"tls-key", SR_OPT_STR, &G.tls_key, NULL, 0, 0, "PEM key of --tls-cert", .arg = "FILE",
        .env = "SNOWRANGE_TLS_KEY"},
    {"tls-ca", SR_OPT_STR, &G.tls_ca, NULL, 0, 0, "PEM CA verifying tls+tcp:// servers",
        .arg = "FILE", .env = "SNOWRANGE_TLS_CA"},
    {"token-file", SR_OPT_STR, &G.token_file, NULL, 0, 0,
        "role tokens, mode 600 (docs/security.md)", .arg = "FILE", .env = "SNOWRANGE_TOKEN_FILE"},
    {"help", SR_OPT_BOOL, &G.help, NULL, 0, 0, "show help", .shrt = 'h'},
    {"version", SR_OPT_BOOL, &G.version, NULL, 0, 0,
        "show the versions of the tool and its libraries"},
};

static const struct sr_opt cmd_flags[] = {
    {"start", SR_OPT_INT, &G.start, NULL, 1, 0x1p63, "first ID (default 1)", .arg = "N"},
    {"chunk", SR_OPT_INT, &G.chunk, NULL, 1, 0x1p63, "initial chunk size (default: the master's)",
        .arg = "N"},
    {"max", SR_OPT_INT, &G.max, NULL, 1, 0x1p63, "largest ID (default 2^63-1)", .arg = "N"},
    {"spare", SR_OPT_INT, &G.spare, NULL, 0, UINT32_MAX,
        "spare chunks per range, for joining nodes (default 0)", .arg = "N"},
    {"min-chunk", SR_OPT_INT, &G.min_chunk, NULL, 1, 0x1p63, "smallest dynamic chunk size",
        .arg = "N"},
    {"max-chunk", SR_OPT_INT, &G.max_chunk, NULL, 1, 0x1p63, "largest dynamic chunk size",
        .arg = "N"},
    {"block", SR_OPT_BOOL, &G.block, NULL, 0, 0,
        "contiguous blocks per node instead of interleaved chunks"},
    {"no-prefetch", SR_OPT_BOOL, &G.no_prefetch, NULL, 0, 0,
        "lease only when a caller asks, never ahead (with --block and --chunk 1: "
        "a strict global ticket server, one master round trip per ID)"},
    {"count", SR_OPT_INT, &G.count, "1", 1, MAX_SEG_COUNT,
        "IDs to fetch (at most 65536, or 1048576 with --segments)", .arg = "COUNT", .shrt = 'n'},
    {"duration", SR_OPT_DOUBLE, &G.duration, NULL, 0.000001, 1e9, "how long to draw",
        .arg = "SECONDS"},
    {"batch", SR_OPT_INT, &G.batch, "1", 1, MAX_SEG_COUNT,
        "IDs per request (at most 65536, or 1048576 with --segments)", .arg = "N"},
    {"segments", SR_OPT_BOOL, &G.segments, NULL, 0, 0,
        "ask for segments (first, step, count), one per chunk, instead of every ID"},
    {"out", SR_OPT_STR, &G.out, NULL, 0, 0, "where draw writes its records (default stdout)",
        .arg = "FILE"},
    {"txids", SR_OPT_BOOL, &G.txids, NULL, 0, 0, "draw Snowflake txids instead of sequence IDs"},
    {"layout", SR_OPT_STR, &G.layout, NULL, 0, 0,
        "Snowflake layout (default: the master's; without a master answering, "
        "decode refuses unless this is given)",
        .arg = "T/W/S[/UNIT[/EPOCH]]"},
    {"in-doubt", SR_OPT_BOOL, &G.in_doubt, NULL, 0, 0,
        "only the in-doubt transactions (PREPARE without COMMIT/ABORT)"},
};

/* ---- commands ---- */

struct command {
	const char *noun, *verb;
	int (*fn)(struct cli *);
	int minargs, maxargs; /* positional arguments; maxargs -1 = any */
	const char *flags;    /* the command's own flags, space-separated */
	const char *usage;
	const char *help;
};

static int cmd_status(struct cli *);
static int cmd_seq_create(struct cli *);
static int cmd_seq_list(struct cli *);
static int cmd_seq_drop(struct cli *);
static int cmd_node_list(struct cli *);
static int cmd_node_remove(struct cli *);
static int cmd_next(struct cli *);
static int cmd_draw(struct cli *);
static int cmd_verify(struct cli *);
static int cmd_txid(struct cli *);
static int cmd_decode(struct cli *);
static int cmd_txlog(struct cli *);
static int cmd_help(struct cli *);

static const struct command commands[] = {
    {"status", NULL, cmd_status, 0, 0, "", "status [-c URL]",
        "each master's role and the cluster's nodes and sequences as the leader "
        "tells them (a standby names its leader), or with -c a coordinator's chunks"},
    {"seq", "create", cmd_seq_create, 1, 1,
        "start chunk max spare min-chunk max-chunk block no-prefetch",
        "seq create NAME [--start N] [--chunk N] [--max N] [--spare N] "
        "[--min-chunk N] [--max-chunk N] [--block] [--no-prefetch]",
        "create a sequence"},
    {"seq", "list", cmd_seq_list, 0, 0, "", "seq list", "list sequences"},
    {"seq", "drop", cmd_seq_drop, 1, 1, "", "seq drop NAME", "drop a sequence"},
    {"node", "list", cmd_node_list, 0, 0, "", "node list", "list coordinators known to the master"},
    {"node", "remove", cmd_node_remove, 1, 1, "", "node remove NAME|ID",
        "forget a dead node (admin; a live one is refused)"},
    {"next", NULL, cmd_next, 1, 1, "count segments", "next SEQ [-n COUNT] [--segments]",
        "fetch IDs from a coordinator (with --segments: one line FIRST STEP COUNT "
        "per chunk touched)"},
    {"draw", NULL, cmd_draw, 0, 1, "duration batch out txids segments",
        "draw (SEQ | --txids) --duration SECONDS [--batch N] [--segments] [--out FILE] "
        "[-c URL]...",
        "draw IDs or txids for a while and record every batch (load generator)"},
    {"txid", NULL, cmd_txid, 0, 0, "count", "txid [-n COUNT]",
        "fetch Snowflake transaction IDs from a coordinator"},
    {"decode", NULL, cmd_decode, 1, -1, "layout", "decode TXID... [--layout L]",
        "show a txid's time (UTC), worker id (and the node that held it then) and "
        "sequence"},
    {"txlog", NULL, cmd_txlog, 1, 1, "in-doubt layout", "txlog FILE [--in-doubt] [--layout L]",
        "print a 2PC log's records in txid order, txids decoded (read-only)"},
    {"verify", NULL, cmd_verify, 1, -1, "", "verify FILE...",
        "check draw files for duplicates and order violations"},
    {"bench", NULL, NULL, 0, -1, "", "bench [SCENARIO] [bench flags]",
        "run the benchmark (the program snowrange-bench; 'snowrange bench --help')"},
    {"help", NULL, cmd_help, 0, 2, "", "help [COMMAND]", "show this help, or a command's"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- usage and errors ---- */

/* True when the command accepts the command flag fl (global flags are
 * always accepted). */
static bool
flag_allowed(const struct command *cmd, const struct sr_opt *fl)
{
	if (fl >= global_flags && fl < global_flags + NELEM(global_flags))
		return true;
	if (cmd == NULL)
		return false;
	size_t len = strlen(fl->name);
	for (const char *p = cmd->flags; (p = strstr(p, fl->name)) != NULL; p += len) {
		bool starts = p == cmd->flags || p[-1] == ' ';
		bool ends = p[len] == '\0' || p[len] == ' ';
		if (starts && ends)
			return true;
	}
	return false;
}

static void
command_name(const struct command *cmd, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

static void
print_help(FILE *f, const struct command *only)
{
	if (only != NULL) {
		fprintf(f, "usage: snowrange [global flags] %s\n\n%s\n", only->usage, only->help);
		bool any = false;
		for (size_t i = 0; i < NELEM(cmd_flags); i++) {
			if (!flag_allowed(only, &cmd_flags[i]))
				continue;
			if (!any)
				fprintf(f, "\nflags:\n");
			any = true;
			sr_opts_help(f, &cmd_flags[i], 1);
		}
	} else {
		fprintf(f,
		    "usage: snowrange [global flags] COMMAND [args]\n\n"
		    "the snowrange operator and client tool\n\ncommands:\n");
		for (size_t i = 0; i < NELEM(commands); i++)
			fprintf(f, "  %s\n      %s\n", commands[i].usage, commands[i].help);
		fprintf(f,
		    "\n'snowrange help COMMAND' or 'snowrange COMMAND --help' shows "
		    "a command's flags.\n");
	}
	fprintf(f, "\nglobal flags:\n");
	sr_opts_help(f, global_flags, NELEM(global_flags));
}

/* The last error reported, for -o json: main prints it as a JSON object on
 * stdout when the command fails (docs/http.md), besides the line on
 * stderr. */
static struct {
	bool set;
	int code;
	char msg[512];
} last_err;

static void
note_err(int code, const char *fmt, va_list ap)
{
	last_err.set = true;
	last_err.code = code;
	vsnprintf(last_err.msg, sizeof(last_err.msg), fmt, ap);
}

/*
 * Closes a client, bounded. nng 1.5.2's close can hang for good after a
 * peer reset a connection (seen in the TLS churn run: a draw printed its
 * summary and never exited, so its client loop stopped; docs/reliability.md).
 * The close runs on a thread of its own; when it takes longer than
 * CLOSE_HANG_MS the command goes on without it (the client's memory and
 * socket go with the process), says so on stderr, and keeps its output
 * and exit status.
 */
#define CLOSE_HANG_MS 3000

struct closer {
	sr_client *cl;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	atomic_int refs; /* the caller and the closing thread */
};

static void
closer_release(struct closer *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
}

static void *
closer_main(void *arg)
{
	struct closer *c = arg;
	sr_client_close(c->cl);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	closer_release(c);
	return NULL;
}

static void
client_close(sr_client *cl)
{
	if (cl == NULL)
		return;
	struct closer *c = calloc(1, sizeof(*c));
	pthread_t t;
	if (c == NULL) {
		sr_client_close(cl);
		return;
	}
	c->cl = cl;
	atomic_init(&c->refs, 2);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&t, NULL, closer_main, c) != 0) {
		free(c);
		sr_client_close(cl);
		return;
	}
	pthread_detach(t);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CLOSE_HANG_MS / 1000;
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
		;
	bool hung = !c->done;
	pthread_mutex_unlock(&c->mu);
	if (hung)
		fprintf(stderr,
		    "snowrange: closing the connection hung (nng 1.5.2); "
		    "going on without it\n");
	closer_release(c);
}

/* Reports an error: "snowrange: MESSAGE" on stderr, kept for -o json. */
static void errorf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
errorf(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	note_err(code, fmt, ap);
	va_end(ap);
	fprintf(stderr, "snowrange: %s\n", last_err.msg);
}

/* Reports a usage error in one line, with a hint to the help, and returns
 * EXIT_USAGE. */
static int usage(const struct command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;
	char name[64] = "";
	if (cmd != NULL)
		command_name(cmd, name, sizeof(name));
	fprintf(stderr, "snowrange: %s%s", name, name[0] ? ": " : "");
	va_start(ap, fmt);
	note_err(SR_EINVAL, fmt, ap);
	va_end(ap);
	fputs(last_err.msg, stderr);
	if (cmd != NULL)
		fprintf(stderr,
		    "\nusage: snowrange [global flags] %s (see 'snowrange help "
		    "%s')\n",
		    cmd->usage, name);
	else
		fprintf(stderr, "\nrun 'snowrange --help' for the commands\n");
	return EXIT_USAGE;
}

/* Reports a failed operation and returns EXIT_FAIL. */
static int failed(sr_client *cl, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
failed(sr_client *cl, int rv, const char *fmt, ...)
{
	va_list ap;
	char what[256];
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *msg = cl != NULL ? sr_client_errmsg(cl) : "";
	errorf(rv, "%s: %s (%s)%s%s", what, sr_strerror(rv), sr_errname(rv), msg[0] ? ": " : "",
	    msg);
	return EXIT_FAIL;
}

/* wire_probe for a URL or a list of masters ("URL,URL,...", docs/ha.md):
 * a list is reachable when any of its members is; the channel finds which
 * one leads. */
static int
probe_any(const char *url, int timeout_ms, char *err, size_t errlen)
{
	if (strchr(url, ',') == NULL)
		return wire_probe(url, timeout_ms, err, errlen);
	char one[512];
	int rv = SR_ECONNECT;
	for (const char *p = url; *p != '\0' && rv != SR_OK;) {
		size_t n = strcspn(p, ",");
		snprintf(one, sizeof(one), "%.*s", (int) n, p);
		rv = wire_probe(one, timeout_ms, err, errlen);
		p += n + (p[n] == ',');
	}
	if (rv != SR_OK)
		snprintf(err, errlen, "no master of the list %s is listening", url);
	return rv;
}

/* Opens a client; an SR_ error code with the reason in err. */
static int
open_client(struct cli *c, const char *url, sr_client **cl, char *err, size_t errlen)
{
	/* nng's dialer retries a refused connection quietly and a request then
	 * only times out: a quick look first reports a stopped server at once,
	 * as SR_ECONNECT (common/probe.h). */
	int rv = c->no_probe ? SR_OK : probe_any(url, (int) c->timeout_ms, err, errlen);
	if (rv != SR_OK)
		return rv;
	sr_credentials cred = {c->tls_cert, c->tls_key, c->tls_ca, c->token_file};
	return sr_client_open_with(url, (int) c->timeout_ms, &cred, cl, err, errlen);
}

/* Opens a client; on failure reports it and returns the exit code. */
static int
connect_to(struct cli *c, const char *url, sr_client **cl)
{
	char err[256] = "";
	int rv = open_client(c, url, cl, err, sizeof(err));
	if (rv == SR_EINVAL)
		return usage(NULL, "%s", err[0] ? err : "bad URL");
	if (rv != SR_OK) {
		errorf(rv, "%s: %s (%s)%s%s", url, sr_strerror(rv), sr_errname(rv),
		    err[0] ? ": " : "", err);
		return EXIT_FAIL;
	}
	return 0;
}

/* The coordinators to try, in order: every -c, else the default. */
static size_t
coordinator_urls(const struct cli *c, const char **urls)
{
	if (c->coordinators.n == 0) {
		urls[0] = DEFAULT_COORDINATOR;
		return 1;
	}
	for (size_t i = 0; i < c->coordinators.n; i++)
		urls[i] = c->coordinators.v[i];
	return c->coordinators.n;
}

/* Errors after which the next coordinator of -c is worth a try: this one is
 * unreachable or cannot serve, which another may not share. */
static bool
try_next(int rv)
{
	return rv == SR_ECONNECT || rv == SR_ETIMEDOUT || rv == SR_ECLOSED || rv == SR_ENOTJOINED ||
	    rv == SR_EUNAVAILABLE || rv == SR_ENOWORKER;
}

/*
 * Runs call against the coordinators of -c in order until one answers
 * with anything but an error of try_next; the failures before are reported
 * as one line each. Returns the last call's SR_ code; *cl_out is its client
 * (for the error message), *url_out its URL.
 */
static int
each_coordinator(struct cli *c, int (*call)(sr_client *, void *), void *arg, sr_client **cl_out,
    const char **url_out, int *exitcode)
{
	const char *urls[SR_OPT_LIST_MAX];
	size_t n = coordinator_urls(c, urls);
	int rv = SR_ECONNECT;
	*cl_out = NULL;
	*exitcode = 0;
	for (size_t i = 0; i < n; i++) {
		char err[256] = "";
		sr_client *cl = NULL;
		*url_out = urls[i];
		rv = open_client(c, urls[i], &cl, err, sizeof(err));
		if (rv == SR_EINVAL) {
			*exitcode = usage(c->cmd, "%s", err[0] ? err : "bad URL");
			return rv;
		}
		if (rv == SR_OK)
			rv = call(cl, arg);
		bool last = i + 1 == n;
		if (rv == SR_OK || !try_next(rv) || last) {
			if (rv != SR_OK && cl == NULL) {
				errorf(rv, "%s: %s (%s)%s%s", urls[i], sr_strerror(rv),
				    sr_errname(rv), err[0] ? ": " : "", err);
				*exitcode = EXIT_FAIL;
			}
			*cl_out = cl;
			return rv;
		}
		const char *msg = cl != NULL ? sr_client_errmsg(cl) : err;
		fprintf(stderr, "snowrange: %s: %s (%s)%s%s; trying %s\n", urls[i], sr_strerror(rv),
		    sr_errname(rv), msg[0] ? ": " : "", msg, urls[i + 1]);
		client_close(cl);
	}
	return rv;
}

static bool
check_name(const struct command *cmd, const char *what, const char *name, int *exitcode)
{
	if (sr_name_valid(name))
		return true;
	*exitcode = usage(cmd, "invalid %s name '%.80s' (expected [a-z0-9_.-]{1,64})", what, name);
	return false;
}

/* ---- JSON helpers ---- */

/* jansson integers are signed; a value above INT64_MAX becomes a string
 * rather than a negative number. */
static json_t *
ju64(uint64_t v)
{
	if (v <= (uint64_t) INT64_MAX)
		return json_integer((json_int_t) v);
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long) v);
	return json_string(buf);
}

/* A 64-bit ID (IDs, txids, hwm, start, max_value, node ids, terms) as a
 * JSON string of decimal digits: JavaScript numbers are doubles, and txid
 * 386640268780109825 would read as ...824, 2^63-1 as 2^63 (docs/http.md). */
static json_t *
jid(uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long) v);
	return json_string(buf);
}

static int
emit(json_t *o)
{
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL) {
		fprintf(stderr, "snowrange: cannot format JSON: out of memory\n");
		return EXIT_FAIL;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

static json_t *
seq_json(const sr_seq_info *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "start", jid(s->start));
	json_object_set_new(o, "hwm", jid(s->hwm));
	json_object_set_new(o, "chunk_size", ju64(s->chunk_size));
	json_object_set_new(o, "max_value", jid(s->max_value));
	json_object_set_new(o, "spare_chunks", ju64(s->spare_chunks));
	json_object_set_new(o, "mode", json_string(s->block ? "block" : "interleaved"));
	json_object_set_new(o, "min_chunk", ju64(s->min_chunk));
	json_object_set_new(o, "max_chunk", ju64(s->max_chunk));
	json_object_set_new(o, "prefetch", json_boolean(!s->no_prefetch));
	json_object_set_new(o, "users", ju64(s->users));
	return o;
}

/* What the node reported holding (docs/http.md has the same shape in the
 * master's /v1/status): null when the master has no report. */
static json_t *
held_json(const sr_node_info *n)
{
	if (!n->has_held)
		return json_null();
	json_t *o = json_object();
	json_object_set_new(o, "at_ms", json_integer(n->held_at_ms));
	if (n->held_error[0] != '\0') {
		json_object_set_new(o, "error", json_string(n->held_error));
		return o;
	}
	json_object_set_new(o, "sequences", ju64(n->held_sequences));
	json_object_set_new(o, "chunks", ju64(n->held_chunks));
	json_t *seqs = json_array();
	for (size_t i = 0; i < n->nheld; i++) {
		json_t *s = json_object();
		json_object_set_new(s, "name", json_string(n->held[i].sequence));
		json_object_set_new(s, "chunks", ju64(n->held[i].chunks));
		json_object_set_new(s, "headroom", jid(n->held[i].headroom));
		json_array_append_new(seqs, s);
	}
	json_object_set_new(o, "seqs", seqs);
	return o;
}

static json_t *
node_json(const sr_node_info *n, int64_t now_ms)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", jid(n->node_id));
	json_object_set_new(o, "name", json_string(n->name));
	json_object_set_new(o, "url", json_string(n->listen_url));
	json_object_set_new(o, "alive", json_boolean(n->alive));
	json_object_set_new(o, "last_seen_ms", ju64(n->last_seen_ms));
	if (n->last_seen_ms > 0) {
		int64_t age = now_ms - (int64_t) n->last_seen_ms;
		json_object_set_new(o, "age_ms", json_integer(age > 0 ? age : 0));
	}
	if (n->has_worker) {
		json_object_set_new(o, "worker_id", ju64(n->worker_id));
		json_object_set_new(o, "worker_expires_ms", json_integer(n->worker_expires_ms));
	}
	json_object_set_new(o, "held", held_json(n));
	return o;
}

/* ---- text helpers ---- */

static void
age_text(char *buf, size_t len, uint64_t last_seen_ms, int64_t now_ms)
{
	if (last_seen_ms == 0) {
		snprintf(buf, len, "never");
		return;
	}
	int64_t age = now_ms - (int64_t) last_seen_ms;
	if (age < 0)
		age = 0; /* the master's clock is ahead of ours */
	if (age < 60000)
		snprintf(buf, len, "%.1fs ago", (double) age / 1000.0);
	else
		snprintf(buf, len, "%llds ago", (long long) (age / 1000));
}

static void
nodes_text(const sr_status *st)
{
	int64_t now = sr_wall_ms();
	printf("%-6s %-20s %-28s %-6s %-7s %-12s %-7s %s\n", "ID", "NAME", "URL", "STATE", "WORKER",
	    "LAST SEEN", "CHUNKS", "LEAST HEADROOM");
	for (size_t i = 0; i < st->nnodes; i++) {
		const sr_node_info *n = &st->nodes[i];
		char age[32], worker[16] = "-";
		age_text(age, sizeof(age), n->last_seen_ms, now);
		/* A worker lease that ended is history, not a holding. */
		if (n->has_worker && n->worker_expires_ms > now)
			snprintf(worker, sizeof(worker), "%u", n->worker_id);
		/* Chunks held and the sequence closest to running out, as the
		 * node's latest heartbeat said ("-": no report, "refused": see
		 * -o json for why). */
		char chunks[16] = "-", least[96] = "-";
		if (n->has_held && n->held_error[0] != '\0') {
			snprintf(chunks, sizeof(chunks), "refused");
		} else if (n->has_held) {
			snprintf(chunks, sizeof(chunks), "%u", n->held_chunks);
			if (n->nheld > 0)
				snprintf(least, sizeof(least), "%s %llu", n->held[0].sequence,
				    (unsigned long long) n->held[0].headroom);
		}
		printf("%-6llu %-20s %-28s %-6s %-7s %-12s %-7s %s\n",
		    (unsigned long long) n->node_id, n->name,
		    n->listen_url[0] ? n->listen_url : "-", n->alive ? "alive" : "dead", worker,
		    age, chunks, least);
	}
}

static void
seqs_text(const sr_seq_info *s, size_t n)
{
	printf("%-20s %-20s %-10s %-11s %-8s %s\n", "NAME", "HWM", "CHUNK", "MODE", "PREFETCH",
	    "USERS");
	for (size_t i = 0; i < n; i++)
		printf("%-20s %-20llu %-10llu %-11s %-8s %u\n", s[i].name,
		    (unsigned long long) s[i].hwm, (unsigned long long) s[i].chunk_size,
		    s[i].block ? "block" : "interleaved", s[i].no_prefetch ? "off" : "on",
		    s[i].users);
}

/* ---- status, node list ---- */

static int
call_status(sr_client *cl, void *st)
{
	return sr_client_status(cl, st);
}

static int
status_coordinator(struct cli *c)
{
	sr_client *cl;
	const char *url;
	sr_status st;
	int code;
	int rv = each_coordinator(c, call_status, &st, &cl, &url, &code);
	if (code != 0)
		return code;
	if (rv != SR_OK) {
		rv = failed(cl, rv, "status of coordinator %s", url);
		client_close(cl);
		return rv;
	}
	if (c->json) {
		json_t *chunks = json_array();
		for (size_t i = 0; i < st.nchunks; i++) {
			const sr_chunk_info *h = &st.chunks[i];
			json_t *o = json_object();
			json_object_set_new(o, "sequence", json_string(h->sequence));
			json_object_set_new(o, "start", jid(h->start));
			json_object_set_new(o, "n", ju64(h->n));
			json_object_set_new(o, "k", ju64(h->k));
			json_object_set_new(o, "c", ju64(h->c));
			json_object_set_new(o, "used", ju64(h->used));
			json_object_set_new(o, "current", json_boolean(h->current));
			json_array_append_new(chunks, o);
		}
		json_t *o = json_object();
		json_object_set_new(o, "role", json_string(st.role));
		json_object_set_new(o, "name", json_string(st.name));
		json_object_set_new(o, "node_id", jid(st.node_id));
		json_object_set_new(o, "master_url", json_string(st.master_url));
		json_object_set_new(o, "worker_id",
		    st.has_worker ? ju64(st.worker_id) : json_null());
		json_object_set_new(o, "chunks", chunks);
		rv = emit(o);
	} else {
		char worker[16] = "none";
		if (st.has_worker)
			snprintf(worker, sizeof(worker), "%u", st.worker_id);
		printf("%s %s  node %llu  worker %s  master %s\n", st.role, st.name,
		    (unsigned long long) st.node_id, worker,
		    st.master_url[0] ? st.master_url : "-");
		printf("%-20s %-20s %-6s %-6s %-10s %-10s %s\n", "SEQUENCE", "START", "N", "K", "C",
		    "USED", "CHUNK");
		for (size_t i = 0; i < st.nchunks; i++) {
			const sr_chunk_info *h = &st.chunks[i];
			printf("%-20s %-20llu %-6u %-6u %-10llu %-10llu %s\n", h->sequence,
			    (unsigned long long) h->start, h->n, h->k, (unsigned long long) h->c,
			    (unsigned long long) h->used, h->current ? "current" : "prefetched");
		}
		rv = 0;
	}
	sr_status_free(&st);
	client_close(cl);
	return rv;
}

/*
 * The masters of -m, each asked for its own view (sr_client_master_status),
 * as `etcdctl endpoint status` asks every member: on etcd a standby answers
 * with the leader it sees instead of a redirect, so `status` shows every
 * master's role and then the cluster as the leader tells it, whichever
 * master -m names (docs/ha.md). A leader a standby names that -m does not
 * list is asked too. All are asked at once: a hung master costs one
 * timeout, not one per master.
 */
#define MASTERS_MAX 16

struct master_view {
	struct cli *c;
	char url[256];
	int rv;        /* SR_OK: st holds its answer */
	char err[256]; /* else why not */
	bool bad_url;  /* open_client refused the URL itself */
	sr_status st;
};

struct masters {
	struct master_view v[MASTERS_MAX + 1];
	size_t n;
	int lead; /* the one that serves, or -1 */
};

static void *
view_main(void *arg)
{
	struct master_view *v = arg;
	sr_client *cl = NULL;
	v->rv = open_client(v->c, v->url, &cl, v->err, sizeof(v->err));
	v->bad_url = v->rv == SR_EINVAL;
	if (v->rv == SR_OK && (v->rv = sr_client_master_status(cl, &v->st)) != SR_OK)
		snprintf(v->err, sizeof(v->err), "%s", sr_client_errmsg(cl));
	client_close(cl);
	return NULL;
}

/* Asks ms->v[from..ms->n) at once. */
static void
views_ask(struct masters *ms, size_t from)
{
	pthread_t t[MASTERS_MAX + 1];
	bool started[MASTERS_MAX + 1] = {false};
	for (size_t i = from; i < ms->n; i++)
		started[i] = pthread_create(&t[i], NULL, view_main, &ms->v[i]) == 0;
	for (size_t i = from; i < ms->n; i++) {
		if (started[i])
			pthread_join(t[i], NULL);
		else
			view_main(&ms->v[i]);
	}
}

static void
masters_free(struct masters *ms)
{
	for (size_t i = 0; ms != NULL && i < ms->n; i++)
		sr_status_free(&ms->v[i].st);
	free(ms);
}

static int
find_lead(struct masters *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->v[i].rv == SR_OK && strcmp(ms->v[i].st.role, "master") == 0)
			return (int) i;
	return -1;
}

/* Asks every master of -m; *out is NULL with the exit code on a usage
 * error (a bad URL) or no memory. */
static int
masters_ask(struct cli *c, struct masters **out)
{
	struct masters *ms = calloc(1, sizeof(*ms));
	*out = NULL;
	if (ms == NULL) {
		errorf(SR_ENOMEM, "out of memory");
		return EXIT_FAIL;
	}
	for (const char *p = c->master; *p != '\0' && ms->n < MASTERS_MAX;) {
		size_t len = strcspn(p, ",");
		struct master_view *v = &ms->v[ms->n++];
		v->c = c;
		snprintf(v->url, sizeof(v->url), "%.*s", (int) len, p);
		p += len + (p[len] == ',');
	}
	views_ask(ms, 0);
	for (size_t i = 0; i < ms->n; i++)
		if (ms->v[i].bad_url) {
			int rv = usage(NULL, "%s", ms->v[i].err[0] ? ms->v[i].err : "bad URL");
			masters_free(ms);
			return rv;
		}
	ms->lead = find_lead(ms);
	/* The leader the standbys name, when -m does not list it. */
	char named[sizeof(ms->v[0].url)] = "";
	for (size_t i = 0; ms->lead < 0 && named[0] == '\0' && i < ms->n; i++)
		if (ms->v[i].rv == SR_OK)
			snprintf(named, sizeof(named), "%s", ms->v[i].st.master_url);
	bool listed = false;
	for (size_t i = 0; named[0] != '\0' && i < ms->n; i++)
		listed = listed || strcmp(ms->v[i].url, named) == 0;
	if (named[0] != '\0' && !listed) {
		struct master_view *v = &ms->v[ms->n++];
		v->c = c;
		memcpy(v->url, named, sizeof(v->url));
		views_ask(ms, ms->n - 1);
		v->bad_url = false;
		ms->lead = find_lead(ms);
	}
	*out = ms;
	return 0;
}

/* Why no master of ms serves, on stderr; the exit code. */
static int
no_lead(const struct masters *ms)
{
	if (ms->n == 1 && ms->v[0].rv != SR_OK) {
		const struct master_view *v = &ms->v[0];
		errorf(v->rv, "status of master %s: %s (%s)%s%s", v->url, sr_strerror(v->rv),
		    sr_errname(v->rv), v->err[0] ? ": " : "", v->err);
		return EXIT_FAIL;
	}
	char why[1024] = "";
	size_t o = 0;
	for (size_t i = 0; i < ms->n && o < sizeof(why); i++) {
		const struct master_view *v = &ms->v[i];
		int w = v->rv == SR_OK
		    ? snprintf(why + o, sizeof(why) - o, "%s%s %s, leader %s", i ? "; " : "",
		          v->url, v->st.role, v->st.master_url[0] ? v->st.master_url : "unknown")
		    : snprintf(why + o, sizeof(why) - o, "%s%s %s", i ? "; " : "", v->url,
		          sr_errname(v->rv));
		o += w > 0 ? (size_t) w : 0;
	}
	errorf(SR_ENOTLEADER,
	    "no master serves (none elected yet, or the leader is unreachable): %s", why);
	return EXIT_FAIL;
}

/* Fetches the cluster's status from whichever master serves; on failure
 * reports it and returns the exit code. The masters' own views go to *msp
 * when it is given (free with masters_free). */
static int
master_status(struct cli *c, sr_status *st, struct masters **msp)
{
	struct masters *ms;
	int rv = masters_ask(c, &ms);
	memset(st, 0, sizeof(*st));
	if (msp != NULL)
		*msp = NULL;
	if (ms == NULL)
		return rv;
	if (ms->lead < 0) {
		rv = no_lead(ms);
		masters_free(ms);
		return rv;
	}
	/* The leader's answer moves to *st; its view keeps the small fields. */
	*st = ms->v[ms->lead].st;
	sr_status *lv = &ms->v[ms->lead].st;
	lv->nodes = NULL;
	lv->nnodes = 0;
	lv->seqs = NULL;
	lv->nseqs = 0;
	lv->chunks = NULL;
	lv->nchunks = 0;
	if (msp != NULL)
		*msp = ms;
	else
		masters_free(ms);
	return 0;
}

/* Whether the masters table says anything: masters on etcd (a leader
 * names itself, a standby its leader), or more than one. */
static bool
masters_worth_showing(const struct masters *ms)
{
	if (ms->n > 1)
		return true;
	return ms->v[0].rv == SR_OK && ms->v[0].st.master_url[0] != '\0';
}

static void
masters_text(const struct masters *ms)
{
	printf("%-32s %-8s %-32s %s\n", "MASTER", "ROLE", "LEADER", "TERM");
	for (size_t i = 0; i < ms->n; i++) {
		const struct master_view *v = &ms->v[i];
		if (v->rv != SR_OK) {
			printf("%-32s %-8s %-32s %s: %s\n", v->url, "-", "-", sr_errname(v->rv),
			    v->err[0] ? v->err : sr_strerror(v->rv));
			continue;
		}
		char term[24] = "-";
		if (strcmp(v->st.role, "master") == 0)
			snprintf(term, sizeof(term), "%llu", (unsigned long long) v->st.term);
		printf("%-32s %-8s %-32s %s\n", v->url, v->st.role,
		    v->st.master_url[0] ? v->st.master_url : "-", term);
	}
	printf("\n");
}

static json_t *
masters_json(const struct masters *ms)
{
	json_t *a = json_array();
	for (size_t i = 0; i < ms->n; i++) {
		const struct master_view *v = &ms->v[i];
		json_t *o = json_object();
		json_object_set_new(o, "url", json_string(v->url));
		if (v->rv == SR_OK) {
			json_object_set_new(o, "role", json_string(v->st.role));
			json_object_set_new(o, "leader",
			    v->st.master_url[0] ? json_string(v->st.master_url) : json_null());
			if (strcmp(v->st.role, "master") == 0)
				json_object_set_new(o, "term", jid(v->st.term));
		} else {
			json_object_set_new(o, "role", json_null());
			json_object_set_new(o, "error", json_string(sr_errname(v->rv)));
			json_object_set_new(o, "message", json_string(v->err));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static int
cmd_status(struct cli *c)
{
	/* An explicit -c asks about that coordinator; the environment default
	 * alone does not, so plain `status` always means the cluster. */
	if (c->coordinators.n > 0)
		return status_coordinator(c);
	struct masters *ms;
	int rv = masters_ask(c, &ms);
	if (ms == NULL)
		return rv;
	if (ms->lead < 0) {
		/* Each master's view is the answer an operator needs then (with
		 * -o json the one document is the error, which names them). */
		if (!c->json && (ms->n > 1 || ms->v[0].rv == SR_OK))
			masters_text(ms);
		rv = no_lead(ms);
		masters_free(ms);
		return rv;
	}
	const struct master_view *lead = &ms->v[ms->lead];
	const sr_status *st = &lead->st;
	if (c->json) {
		int64_t now = sr_wall_ms();
		json_t *nodes = json_array(), *seqs = json_array();
		for (size_t i = 0; i < st->nnodes; i++)
			json_array_append_new(nodes, node_json(&st->nodes[i], now));
		for (size_t i = 0; i < st->nseqs; i++)
			json_array_append_new(seqs, seq_json(&st->seqs[i]));
		json_t *o = json_object();
		json_object_set_new(o, "role", json_string(st->role));
		json_object_set_new(o, "url", json_string(lead->url));
		json_object_set_new(o, "term", jid(st->term));
		json_object_set_new(o, "nodes", nodes);
		json_object_set_new(o, "sequences", seqs);
		json_object_set_new(o, "masters", masters_json(ms));
		rv = emit(o);
	} else {
		if (masters_worth_showing(ms))
			masters_text(ms);
		printf("%s %s  term %llu\n\n", st->role[0] ? st->role : "master", lead->url,
		    (unsigned long long) st->term);
		nodes_text(st);
		printf("\n");
		seqs_text(st->seqs, st->nseqs);
	}
	masters_free(ms);
	return rv;
}

static int
cmd_node_list(struct cli *c)
{
	sr_status st;
	int rv = master_status(c, &st, NULL);
	if (rv != 0)
		return rv;
	if (c->json) {
		int64_t now = sr_wall_ms();
		json_t *nodes = json_array();
		for (size_t i = 0; i < st.nnodes; i++)
			json_array_append_new(nodes, node_json(&st.nodes[i], now));
		rv = emit(json_pack("{s:o}", "nodes", nodes));
	} else {
		nodes_text(&st);
	}
	sr_status_free(&st);
	return rv;
}

/* ---- seq ---- */

static int
cmd_seq_create(struct cli *c)
{
	const char *name = c->args[0];
	int rv;
	if (!check_name(c->cmd, "sequence", name, &rv))
		return rv;
	if (c->min_chunk > 0 && c->max_chunk > 0 && c->min_chunk > c->max_chunk)
		return usage(c->cmd, "--min-chunk %llu is above --max-chunk %llu",
		    (unsigned long long) c->min_chunk, (unsigned long long) c->max_chunk);
	sr_seq_spec spec = {
	    .name = name,
	    .start = c->start,
	    .chunk_size = c->chunk,
	    .max_value = c->max,
	    .spare_chunks = (uint32_t) c->spare,
	    .block = c->block,
	    .min_chunk = c->min_chunk,
	    .max_chunk = c->max_chunk,
	    .no_prefetch = c->no_prefetch,
	};
	sr_client *cl;
	if ((rv = connect_to(c, c->master, &cl)) != 0)
		return rv;
	sr_seq_info info;
	rv = sr_client_seq_create(cl, &spec, &info);
	if (rv != SR_OK) {
		rv = failed(cl, rv, "seq create %s", name);
		client_close(cl);
		return rv;
	}
	client_close(cl);
	if (info.name[0] == '\0')
		sr_strlcpy(info.name, name, sizeof(info.name));
	if (c->json)
		return emit(seq_json(&info));
	printf("created sequence %s (start %llu, chunk %llu, %s%s)\n", info.name,
	    (unsigned long long) info.start, (unsigned long long) info.chunk_size,
	    info.block ? "block" : "interleaved", info.no_prefetch ? ", no prefetch" : "");
	/* A dropped sequence of the same name issued IDs up to its hwm: the
	 * master raised the start above them (they are never issued again). */
	uint64_t asked = c->start ? c->start : 1;
	if (info.start > asked)
		printf(
		    "start raised from %llu: IDs up to %llu were issued under this name before\n",
		    (unsigned long long) asked, (unsigned long long) (info.start - 1));
	return 0;
}

static int
cmd_seq_list(struct cli *c)
{
	sr_client *cl;
	int rv = connect_to(c, c->master, &cl);
	if (rv != 0)
		return rv;
	sr_seq_info *seqs;
	size_t n;
	if ((rv = sr_client_seq_list(cl, &seqs, &n)) != SR_OK) {
		rv = failed(cl, rv, "seq list");
		client_close(cl);
		return rv;
	}
	client_close(cl);
	if (c->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, seq_json(&seqs[i]));
		rv = emit(json_pack("{s:o}", "sequences", a));
	} else {
		seqs_text(seqs, n);
	}
	free(seqs);
	return rv;
}

static int
cmd_seq_drop(struct cli *c)
{
	const char *name = c->args[0];
	int rv;
	if (!check_name(c->cmd, "sequence", name, &rv))
		return rv;
	sr_client *cl;
	if ((rv = connect_to(c, c->master, &cl)) != 0)
		return rv;
	if ((rv = sr_client_seq_drop(cl, name)) != SR_OK) {
		rv = failed(cl, rv, "seq drop %s", name);
		client_close(cl);
		return rv;
	}
	client_close(cl);
	if (c->json)
		return emit(json_pack("{s:s}", "dropped", name));
	printf("dropped sequence %s\n", name);
	return 0;
}

static int
cmd_node_remove(struct cli *c)
{
	const char *arg = c->args[0];
	uint64_t num = 0, id = 0;
	int rv;
	/* All digits is an id; node names may hold digits but are checked
	 * as names otherwise. */
	bool by_id = sr_parse_u64(arg, &num) && num > 0;
	if (!by_id && !check_name(c->cmd, "node", arg, &rv))
		return rv;
	sr_client *cl;
	if ((rv = connect_to(c, c->master, &cl)) != 0)
		return rv;
	if ((rv = sr_client_node_remove(cl, by_id ? NULL : arg, num, &id)) != SR_OK) {
		rv = failed(cl, rv, "node remove %s", arg);
		client_close(cl);
		return rv;
	}
	client_close(cl);
	if (c->json)
		return emit(json_pack("{s:o}", "removed", jid(id)));
	printf("removed node %llu\n", (unsigned long long) id);
	return 0;
}

/* ---- next ---- */

struct next_call {
	const char *seq;
	uint32_t count;
	uint64_t *ids;
	char node[65];
	uint32_t worker;
};

static int
call_next(sr_client *cl, void *arg)
{
	struct next_call *n = arg;
	return sr_client_next_ids(cl, n->seq, n->count, n->ids, n->node);
}

static int
call_txids(sr_client *cl, void *arg)
{
	struct next_call *n = arg;
	return sr_client_next_txids(cl, n->count, n->ids, n->node, &n->worker);
}

struct seg_call {
	const char *seq;
	uint32_t count;
	sr_id_segment *segs;
	size_t n;
	char node[65];
};

static int
call_segments(sr_client *cl, void *arg)
{
	struct seg_call *n = arg;
	return sr_client_next_segments(cl, n->seq, n->count, n->segs, SR_SEGMENTS_MAX, &n->n,
	    n->node);
}

/* `next --segments`: one line "FIRST STEP COUNT" per segment, or JSON. */
static int
next_segments(struct cli *c, const char *seq)
{
	static sr_id_segment segs[SR_SEGMENTS_MAX];
	struct seg_call n = {seq, (uint32_t) c->count, segs, 0, ""};
	const char *url;
	sr_client *cl;
	int code;
	int rv = each_coordinator(c, call_segments, &n, &cl, &url, &code);
	if (code != 0)
		return code;
	if (rv != SR_OK) {
		rv = failed(cl, rv, "next %s from %s", seq, url);
		client_close(cl);
		return rv;
	}
	client_close(cl);
	if (c->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n.n; i++)
			json_array_append_new(a,
			    json_pack("{s:o, s:o, s:o}", "first", ju64(segs[i].first), "step",
			        ju64(segs[i].step), "count", ju64(segs[i].count)));
		return emit(
		    json_pack("{s:s, s:s, s:o}", "sequence", seq, "node", n.node, "segments", a));
	}
	for (size_t i = 0; i < n.n; i++)
		printf("%llu %llu %llu\n", (unsigned long long) segs[i].first,
		    (unsigned long long) segs[i].step, (unsigned long long) segs[i].count);
	return 0;
}

static int
cmd_next(struct cli *c)
{
	const char *seq = c->args[0];
	int rv;
	if (!check_name(c->cmd, "sequence", seq, &rv))
		return rv;
	if (c->segments)
		return next_segments(c, seq);
	if (c->count > MAX_COUNT)
		return usage(c->cmd, "-n above %d needs --segments", MAX_COUNT);
	uint32_t count = (uint32_t) c->count;
	uint64_t *ids = malloc((size_t) count * sizeof(*ids));
	if (ids == NULL)
		return failed(NULL, SR_ENOMEM, "next %s", seq);
	struct next_call n = {seq, count, ids, "", 0};
	const char *url;
	sr_client *cl;
	int code;
	rv = each_coordinator(c, call_next, &n, &cl, &url, &code);
	if (code != 0) {
		free(ids);
		return code;
	}
	char *node = n.node;
	if (rv != SR_OK) {
		rv = failed(cl, rv, "next %s from %s", seq, url);
		client_close(cl);
		free(ids);
		return rv;
	}
	client_close(cl);
	if (c->json) {
		json_t *a = json_array();
		for (uint32_t i = 0; i < count; i++)
			json_array_append_new(a, jid(ids[i]));
		rv = emit(json_pack("{s:s, s:s, s:o}", "sequence", seq, "node", node, "ids", a));
	} else {
		for (uint32_t i = 0; i < count; i++)
			printf("%llu\n", (unsigned long long) ids[i]);
		rv = 0;
	}
	free(ids);
	return rv;
}

/* ---- draw ---- */

/* Writes v in decimal at p and returns the end; the hot loop of draw, so no
 * printf per ID. */
static char *
put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do {
		tmp[n++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static char *
put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static void
sleep_us(int64_t us)
{
	if (us <= 0)
		return;
	struct timespec ts = {(time_t) (us / 1000000), (long) (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static int
cmd_draw(struct cli *c)
{
	/* txids are recorded under a token no sequence name can take. */
	const char *seq = c->txids ? "@txid" : c->nargs > 0 ? c->args[0] : NULL;
	int rv;
	if (c->txids && c->nargs > 0)
		return usage(c->cmd, "draw takes a SEQ or --txids, not both");
	if (seq == NULL)
		return usage(c->cmd, "draw needs a SEQ or --txids");
	if (!c->txids && !check_name(c->cmd, "sequence", seq, &rv))
		return rv;
	if (c->duration <= 0)
		return usage(c->cmd, "draw needs --duration SECONDS");
	if (c->segments && c->txids)
		return usage(c->cmd, "--segments is for sequence IDs, not --txids");
	if (!c->segments && c->batch > MAX_COUNT)
		return usage(c->cmd, "--batch above %d needs --segments", MAX_COUNT);
	uint32_t batch = (uint32_t) c->batch;

	const char *urls[SR_OPT_LIST_MAX];
	sr_client *cls[SR_OPT_LIST_MAX] = {NULL};
	size_t ncl = coordinator_urls(c, urls);

	/* A big buffer: the records must not slow the drawing down. The
	 * buffer outlives the stream, whose last flush happens at fclose or
	 * at exit for stdout. */
	static char outbuf[1 << 20];
	FILE *out = stdout;
	/* With --segments the IDs are never expanded: S lines carry the
	 * segments (cli/check.h). */
	uint64_t *ids = malloc((c->segments ? 1 : (size_t) batch) * sizeof(*ids));
	sr_id_segment *segs = malloc(SR_SEGMENTS_MAX * sizeof(*segs));
	/* "B node seq t0 t1" plus at most 21 bytes per ID and the newline; an
	 * S line at most 3 * 21 bytes per segment. */
	size_t per = c->segments ? (size_t) SR_SEGMENTS_MAX * 63 : (size_t) batch * 21;
	char *line = malloc(3 * 80 + per + 2);
	int exitcode = 0;
	if (ids == NULL || segs == NULL || line == NULL) {
		exitcode = failed(NULL, SR_ENOMEM, "draw %s", seq);
		goto out;
	}
	/* A coordinator of -c that is not up yet may come up during the draw
	 * (nng dials again in the background): no refusal at the start. */
	c->no_probe = true;
	for (size_t i = 0; i < ncl; i++)
		if ((exitcode = connect_to(c, urls[i], &cls[i])) != 0)
			goto out;
	if (c->out != NULL && strcmp(c->out, "-") != 0) {
		FILE *f = fopen(c->out, "w");
		if (f == NULL) {
			errorf(SR_EIO, "draw: cannot open %s: %s", c->out, strerror(errno));
			exitcode = EXIT_FAIL;
			goto out;
		}
		out = f;
	}
	setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));

	uint64_t errs[SR_ERR_MAX + 1] = {0}, nerrs = 0, total = 0;
	bool reported[SR_ERR_MAX + 1] = {false};
	int64_t begin = sr_mono_us(), deadline = begin + (int64_t) (c->duration * 1e6);
	for (size_t turn = 0; sr_mono_us() < deadline; turn++) {
		size_t k = turn % ncl;
		char node[65];
		int64_t t0 = sr_mono_us();
		size_t nsegs = 0;
		rv = c->txids     ? sr_client_next_txids(cls[k], batch, ids, node, NULL)
		    : c->segments ? sr_client_next_segments(cls[k], seq, batch, segs,
		                        SR_SEGMENTS_MAX, &nsegs, node)
		                  : sr_client_next_ids(cls[k], seq, batch, ids, node);
		int64_t t1 = sr_mono_us();
		if (rv == SR_OK) {
			char *p = put_str(line, c->segments ? "S " : "B ");
			/* The node name is a token of the record; a peer sending
			 * anything else must not break the file. */
			p = put_str(p, sr_name_valid(node) ? node : "-");
			*p++ = ' ';
			p = put_str(p, seq);
			*p++ = ' ';
			p = put_u64(p, (uint64_t) t0);
			*p++ = ' ';
			p = put_u64(p, (uint64_t) t1);
			for (uint32_t i = 0; !c->segments && i < batch; i++) {
				*p++ = ' ';
				p = put_u64(p, ids[i]);
			}
			for (size_t i = 0; i < nsegs; i++) {
				*p++ = ' ';
				p = put_u64(p, segs[i].first);
				*p++ = ':';
				p = put_u64(p, segs[i].step);
				*p++ = ':';
				p = put_u64(p, segs[i].count);
			}
			*p++ = '\n';
			fwrite(line, 1, (size_t) (p - line), out);
			total += batch;
			continue;
		}
		int slot = rv > 0 && rv < SR_ERR_MAX ? rv : SR_ERR_MAX;
		errs[slot]++;
		nerrs++;
		/* The first error of each kind is worth seeing; the rest are
		 * counted. */
		if (!reported[slot]) {
			reported[slot] = true;
			failed(cls[k], rv, "draw: %s from %s", seq, urls[k]);
		}
		int64_t left = deadline - sr_mono_us();
		sleep_us(left < DRAW_ERROR_PAUSE_US ? left : DRAW_ERROR_PAUSE_US);
	}
	int64_t end = sr_mono_us();
	double secs = (double) (end - begin) / 1e6;

	/* The run's span on the same clock as the batches: a reader can tell
	 * that nothing was served from the last batch to the end of the run
	 * (an outage that lasted to the end, which batches alone cannot show). */
	fprintf(out, "R %llu %llu\n", (unsigned long long) begin, (unsigned long long) end);
	char codes[512] = "";
	size_t clen = 0;
	fprintf(out, "E %llu", (unsigned long long) nerrs);
	for (int e = 0; e <= SR_ERR_MAX; e++) {
		if (errs[e] == 0)
			continue;
		fprintf(out, " %s=%llu", sr_errname(e), (unsigned long long) errs[e]);
		int n = snprintf(codes + clen, sizeof(codes) - clen, "%s%s=%llu", clen ? ", " : "",
		    sr_errname(e), (unsigned long long) errs[e]);
		if (n > 0 && clen + (size_t) n < sizeof(codes))
			clen += (size_t) n;
	}
	fputc('\n', out);
	bool werr = fflush(out) != 0 || ferror(out);
	if (out != stdout && fclose(out) != 0)
		werr = true;
	out = stdout;
	if (werr) {
		errorf(SR_EIO, "draw: writing %s failed", c->out != NULL ? c->out : "stdout");
		exitcode = EXIT_FAIL;
	}
	fprintf(stderr, "draw: %s %llu ids in %.1f s (%.0f/s), %llu errors%s%s%s\n", seq,
	    (unsigned long long) total, secs, secs > 0 ? (double) total / secs : 0.0,
	    (unsigned long long) nerrs, nerrs ? " (" : "", codes, nerrs ? ")" : "");
	if (c->json) {
		/* The summary as one JSON object on stdout (the records stay in
		 * the draw file format). */
		json_t *ej = json_object();
		for (int e = 0; e <= SR_ERR_MAX; e++)
			if (errs[e] != 0)
				json_object_set_new(ej, sr_errname(e),
				    json_integer((json_int_t) errs[e]));
		if (emit(json_pack("{s:s, s:I, s:f, s:f, s:I, s:o}", "sequence", seq, "ids",
		        (json_int_t) total, "seconds", secs, "per_second",
		        secs > 0 ? (double) total / secs : 0.0, "errors_total", (json_int_t) nerrs,
		        "errors", ej)) != 0)
			exitcode = EXIT_FAIL;
	}
	if (total == 0) {
		if (!last_err.set)
			errorf(SR_EUNAVAILABLE, "draw: no ID drawn");
		exitcode = EXIT_FAIL;
	}
out:
	if (out != stdout)
		fclose(out);
	for (size_t i = 0; i < ncl; i++)
		client_close(cls[i]);
	free(ids);
	free(segs);
	free(line);
	return exitcode;
}

/* ---- txids ---- */

static int
cmd_txid(struct cli *c)
{
	if (c->count > MAX_COUNT)
		return usage(c->cmd, "-n above %d: ask in several calls", MAX_COUNT);
	uint32_t count = (uint32_t) c->count;
	uint64_t *ids = malloc((size_t) count * sizeof(*ids));
	if (ids == NULL)
		return failed(NULL, SR_ENOMEM, "txid");
	struct next_call n = {NULL, count, ids, "", 0};
	const char *url;
	sr_client *cl;
	int code;
	int rv = each_coordinator(c, call_txids, &n, &cl, &url, &code);
	if (code != 0) {
		free(ids);
		return code;
	}
	char *node = n.node;
	uint32_t worker = n.worker;
	if (rv != SR_OK) {
		rv = failed(cl, rv, "txid from %s", url);
		client_close(cl);
		free(ids);
		return rv;
	}
	client_close(cl);
	if (c->json) {
		json_t *a = json_array();
		for (uint32_t i = 0; i < count; i++)
			json_array_append_new(a, jid(ids[i]));
		rv = emit(json_pack("{s:s, s:I, s:o}", "node", node, "worker", (json_int_t) worker,
		    "txids", a));
	} else {
		for (uint32_t i = 0; i < count; i++)
			printf("%llu\n", (unsigned long long) ids[i]);
		rv = 0;
	}
	free(ids);
	return rv;
}

/*
 * The layout to decode with: --layout, else the master's (with its nodes, to
 * name a worker id's holder), else the default. *st is filled when the
 * master answered; *source says which.
 */
static int
decode_layout(struct cli *c, sr_flake_layout *l, sr_status *st, bool *have_st, const char **source)
{
	char err[256];
	*have_st = false;
	if (c->layout != NULL) {
		if (flake_layout_parse(c->layout, l, err, sizeof(err)) != SR_OK)
			return usage(c->cmd, "--layout: %s", err);
		*source = "--layout";
		return 0;
	}
	sr_client *cl;
	int rv = open_client(c, c->master, &cl, err, sizeof(err));
	if (rv == SR_OK) {
		if ((rv = sr_client_status(cl, st)) == SR_OK && st->has_layout) {
			*have_st = true;
			*l = st->layout;
			*source = "master";
		} else if (rv != SR_OK) {
			snprintf(err, sizeof(err), "%s", sr_client_errmsg(cl));
		}
		client_close(cl);
	}
	if (!*have_st) {
		/* Never silently: txids of a cluster with another layout would
		 * decode to nonsense. */
		flake_layout_default(l);
		*source = "default (master unreachable)";
		char lbuf[FLAKE_LAYOUT_STRLEN];
		flake_layout_format(l, lbuf, sizeof(lbuf));
		fprintf(stderr,
		    "snowrange: %s: no layout from the master %s (%s%s%s): "
		    "decoding with the default layout %s; give --layout to choose\n",
		    c->cmd->noun, c->master, rv != SR_OK ? sr_errname(rv) : "no layout",
		    rv != SR_OK && err[0] ? ": " : "", rv != SR_OK ? err : "", lbuf);
	}
	if (flake_layout_check(l, err, sizeof(err)) != SR_OK) {
		errorf(SR_EINVAL, "decode: layout from %s: %s", *source, err);
		return EXIT_FAIL;
	}
	return 0;
}

/*
 * Who held a worker id when a txid was made, asked of the master
 * (sr_client_worker_holder) and remembered per worker id for the span of
 * ticks the answer covers, so that a long 2PC log costs a few calls.
 */
#define HOLDER_SLOTS 1024
struct holders {
	sr_client *cl; /* NULL: the master did not answer for the layout */
	struct holder_slot {
		bool valid, found;
		uint32_t worker;
		sr_worker_holder h;
	} slot[HOLDER_SLOTS];
};

/* The node to show for worker at tick, or NULL; *certain says whether it is
 * known to have held it then (docs/operating.md, decode). */
static const char *
holder_at(struct holders *hs, uint32_t worker, uint64_t tick, bool *certain)
{
	*certain = false;
	if (hs->cl == NULL)
		return NULL;
	struct holder_slot *sl = &hs->slot[worker % HOLDER_SLOTS];
	bool hit = sl->valid && sl->worker == worker &&
	    (!sl->found ||
	        (sl->h.from_tick < tick && (sl->h.to_tick == 0 || tick <= sl->h.to_tick)));
	if (!hit || (!sl->found && sl->h.to_tick != tick)) {
		sl->valid = true;
		sl->worker = worker;
		int rv = sr_client_worker_holder(hs->cl, worker, tick, &sl->h);
		sl->found = rv == SR_OK;
		if (!sl->found)
			sl->h.to_tick = tick; /* the tick this miss is for */
	}
	if (!sl->found)
		return NULL;
	*certain = sl->h.certain;
	if (sl->h.name[0] == '\0')
		snprintf(sl->h.name, sizeof(sl->h.name), "node %llu",
		    (unsigned long long) sl->h.node_id);
	return sl->h.name;
}

static void
holders_open(struct cli *c, struct holders *hs, bool have_st)
{
	char err[256];
	memset(hs, 0, sizeof(*hs));
	if (have_st && open_client(c, c->master, &hs->cl, err, sizeof(err)) != SR_OK)
		hs->cl = NULL;
}

/* "c1", "c1 (now; who held it then is not recorded)" or NULL. */
static const char *
holder_text(const char *node, bool certain, char *buf, size_t len)
{
	if (node == NULL || certain)
		return node;
	snprintf(buf, len, "%s now; earlier holders are not recorded", node);
	return buf;
}

static int
cmd_decode(struct cli *c)
{
	sr_flake_layout l;
	sr_status st;
	bool have_st;
	const char *source = "";
	memset(&st, 0, sizeof(st));
	int rv = decode_layout(c, &l, &st, &have_st, &source);
	if (rv != 0)
		return rv;
	struct holders *hs = malloc(sizeof(*hs));
	if (hs == NULL) {
		sr_status_free(&st);
		return failed(NULL, SR_ENOMEM, "decode");
	}
	holders_open(c, hs, have_st);
	json_t *arr = c->json ? json_array() : NULL;
	for (int i = 0; i < c->nargs && rv == 0; i++) {
		uint64_t id, tick;
		uint32_t worker, seq;
		if (!sr_parse_u64(c->args[i], &id) || id > ID_MAX) {
			rv = usage(c->cmd, "not a txid: '%s'", c->args[i]);
			break;
		}
		flake_decode(&l, id, &tick, &worker, &seq);
		int64_t ms = flake_tick_to_ms(&l, tick);
		char when[32];
		flake_format_time(ms, when);
		bool certain;
		const char *node = holder_at(hs, worker, tick, &certain);
		if (c->json) {
			json_t *o = json_pack("{s:o, s:s, s:I, s:o, s:I, s:I}", "txid", jid(id),
			    "time", when, "unix_ms", (json_int_t) ms, "tick", jid(tick), "worker",
			    (json_int_t) worker, "seq", (json_int_t) seq);
			json_object_set_new(o, "node", node ? json_string(node) : json_null());
			json_object_set_new(o, "node_certain", json_boolean(certain));
			json_array_append_new(arr, o);
		} else {
			char buf[160];
			const char *text = holder_text(node, certain, buf, sizeof(buf));
			printf("%llu  time %s (%lld ms)  worker %u%s%s%s  seq %u\n",
			    (unsigned long long) id, when, (long long) ms, worker, text ? " (" : "",
			    text ? text : "", text ? ")" : "", seq);
		}
	}
	if (c->json && rv == 0) {
		char lbuf[FLAKE_LAYOUT_STRLEN];
		flake_layout_format(&l, lbuf, sizeof(lbuf));
		rv = emit(json_pack("{s:s, s:s, s:o}", "layout", lbuf, "layout_source", source,
		    "txids", arr));
	} else {
		json_decref(arr);
	}
	client_close(hs->cl);
	free(hs);
	sr_status_free(&st);
	return rv;
}

/* ---- txlog ---- */

static const char *
tx_state_name(sr_tx_state st)
{
	switch (st) {
	case SR_TX_BEGIN: return "BEGIN";
	case SR_TX_PREPARE: return "PREPARE";
	case SR_TX_COMMIT: return "COMMIT";
	case SR_TX_ABORT: return "ABORT";
	}
	return "?";
}

struct txlog_print {
	sr_flake_layout l;
	struct holders *hs; /* who held a worker id when */
	json_t *arr;        /* -o json */
	bool header;        /* text header printed */
};

static int
txlog_visit(void *arg, const sr_txrecord *r, uint64_t offset)
{
	struct txlog_print *p = arg;
	uint64_t tick;
	uint32_t worker, seq;
	flake_decode(&p->l, r->txid, &tick, &worker, &seq);
	char when[32];
	flake_format_time(flake_tick_to_ms(&p->l, tick), when);
	bool certain;
	const char *node = holder_at(p->hs, worker, tick, &certain);
	if (p->arr != NULL) {
		json_t *parts = json_array();
		for (size_t i = 0; i < r->nparticipants; i++)
			json_array_append_new(parts, json_string(r->participants[i]));
		json_t *o = json_pack("{s:o, s:s, s:s, s:I, s:I, s:o, s:I, s:I}", "txid",
		    jid(r->txid), "state", tx_state_name(r->state), "time", when, "worker",
		    (json_int_t) worker, "seq", (json_int_t) seq, "participants", parts,
		    "payload_bytes", (json_int_t) r->payload_len, "offset", (json_int_t) offset);
		json_object_set_new(o, "node", node ? json_string(node) : json_null());
		json_object_set_new(o, "node_certain", json_boolean(certain));
		json_array_append_new(p->arr, o);
		return 0;
	}
	/* The header comes with the first record: a file that cannot be read
	 * prints only its error. */
	if (!p->header) {
		printf("%-20s %-8s %-24s %-6s %-12s %5s  %s\n", "TXID", "STATE", "TIME", "WORKER",
		    "NODE", "BYTES", "PARTICIPANTS");
		p->header = true;
	}
	char nbuf[80];
	snprintf(nbuf, sizeof(nbuf), "%s%s", node ? node : "-", node && !certain ? "?" : "");
	printf("%-20llu %-8s %-24s %-6u %-12s %5zu  ", (unsigned long long) r->txid,
	    tx_state_name(r->state), when, worker, nbuf, r->payload_len);
	for (size_t i = 0; i < r->nparticipants; i++)
		printf("%s%s", i ? "," : "", r->participants[i]);
	printf("\n");
	return 0;
}

static int
cmd_txlog(struct cli *c)
{
	const char *path = c->args[0];
	struct txlog_print p = {.arr = NULL};
	sr_status st;
	bool have_st;
	const char *source = "";
	memset(&st, 0, sizeof(st));
	char err[256] = "";
	int rv;
	if (c->in_doubt) {
		uint64_t *txids = NULL;
		size_t n = 0;
		if ((rv = sr_txlog_in_doubt(path, &txids, &n, err, sizeof(err))) != SR_OK) {
			errorf(rv, "txlog %s: %s (%s): %s", path, sr_strerror(rv), sr_errname(rv),
			    err);
			return EXIT_FAIL;
		}
		if (c->json) {
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, jid(txids[i]));
			rv = emit(json_pack("{s:s, s:o}", "file", path, "in_doubt", a));
		} else {
			for (size_t i = 0; i < n; i++)
				printf("%llu\n", (unsigned long long) txids[i]);
			fprintf(stderr, "txlog: %zu in-doubt transaction%s\n", n,
			    n == 1 ? "" : "s");
		}
		free(txids);
		return rv;
	}
	/* Only printing records decodes txids: ask the master for the layout
	 * and the node names now. */
	if ((rv = decode_layout(c, &p.l, &st, &have_st, &source)) != 0)
		return rv;
	if ((p.hs = malloc(sizeof(*p.hs))) == NULL) {
		sr_status_free(&st);
		return failed(NULL, SR_ENOMEM, "txlog");
	}
	holders_open(c, p.hs, have_st);
	if (c->json)
		p.arr = json_array();
	sr_txlog_recovery rec;
	memset(&rec, 0, sizeof(rec));
	rv = sr_txlog_scan(path, 1, txlog_visit, &p, &rec, err, sizeof(err));
	client_close(p.hs->cl);
	free(p.hs);
	sr_status_free(&st);
	if (rv != SR_OK) {
		json_decref(p.arr);
		errorf(rv, "txlog %s: %s (%s): %s", path, sr_strerror(rv), sr_errname(rv), err);
		return EXIT_FAIL;
	}
	if (c->json)
		return emit(json_pack("{s:s, s:I, s:I, s:o}", "file", path, "records",
		    (json_int_t) rec.records, "torn_tail_bytes", (json_int_t) rec.bytes_cut,
		    "records_list", p.arr));
	fprintf(stderr, "txlog: %llu records%s", (unsigned long long) rec.records,
	    rec.bytes_cut ? "" : "\n");
	if (rec.bytes_cut)
		fprintf(stderr,
		    ", a torn tail of %llu bytes after them (cut when the "
		    "log is next opened for writing)\n",
		    (unsigned long long) rec.bytes_cut);
	return 0;
}

/* ---- verify, help ---- */

static int
cmd_verify(struct cli *c)
{
	return check_main(c->nargs, c->args, c->json);
}

static const struct command *lookup(const char *noun, const char *verb, bool *noun_known);
static void noun_help(FILE *f, const char *noun);
static int unknown_command(const char *noun, const char *verb);

/* `help [COMMAND]`: the whole help, a noun's commands or one command's. */
static int
cmd_help(struct cli *c)
{
	if (c->nargs == 0) {
		print_help(stdout, NULL);
		return 0;
	}
	bool known;
	const struct command *cmd = lookup(c->args[0], c->nargs > 1 ? c->args[1] : NULL, &known);
	if (cmd != NULL) {
		print_help(stdout, cmd);
		return 0;
	}
	if (known && c->nargs == 1) {
		noun_help(stdout, c->args[0]);
		return 0;
	}
	return unknown_command(c->args[0], c->nargs > 1 ? c->args[1] : NULL);
}

/* ---- argument parsing ---- */

/* Which flags were given on the command line: a second one is an error,
 * except -c, whose values are tried in order. */
static bool given_global[NELEM(global_flags)], given_cmd[NELEM(cmd_flags)];

/*
 * Handles the flag at argv[*i] (advancing *i past its value); before the
 * command (c->cmd NULL) only global flags are allowed.
 */
static int
parse_flag(struct cli *c, int argc, char **argv, int *i)
{
	const char *arg = argv[*i], *val;
	bool *given;
	const struct sr_opt *fl = sr_opt_find(global_flags, NELEM(global_flags), arg, &val);
	if (fl != NULL) {
		given = &given_global[fl - global_flags];
	} else if ((fl = sr_opt_find(cmd_flags, NELEM(cmd_flags), arg, &val)) != NULL) {
		given = &given_cmd[fl - cmd_flags];
	} else {
		const char *name = arg + (arg[1] == '-' ? 2 : 1);
		size_t len = strcspn(name, "=");
		const char *s = sr_opt_suggest(global_flags, NELEM(global_flags), name, len);
		if (s == NULL && c->cmd != NULL) {
			/* Only the command's own flags are worth suggesting. */
			struct sr_opt mine[NELEM(cmd_flags)];
			size_t n = 0;
			for (size_t k = 0; k < NELEM(cmd_flags); k++)
				if (flag_allowed(c->cmd, &cmd_flags[k]))
					mine[n++] = cmd_flags[k];
			s = sr_opt_suggest(mine, n, name, len);
		}
		return usage(c->cmd, "unknown flag '%.40s'%s%s%s", arg,
		    s ? " (did you mean --" : "", s ? s : "", s ? "?)" : "");
	}
	if (!flag_allowed(c->cmd, fl))
		return usage(c->cmd,
		    c->cmd != NULL ? "--%s is not a flag of this command"
		                   : "--%s must follow the command",
		    fl->name);
	if (*given && fl->type != SR_OPT_LIST)
		return usage(c->cmd, "--%s given twice", fl->name);
	if (fl->type == SR_OPT_LIST && !*given)
		((struct sr_opt_list *) fl->target)->n = 0; /* not the environment's */
	*given = true;
	if (fl->type == SR_OPT_BOOL && val == NULL)
		val = "true";
	if (val == NULL) {
		if (*i + 1 >= argc)
			return usage(c->cmd, "--%s needs a value", fl->name);
		val = argv[++*i];
	}
	char err[256];
	if (sr_opt_set(fl, val, err, sizeof(err)) != SR_OK)
		return usage(c->cmd, "%s", err);
	return 0;
}

/* The name of positional argument n as the usage line spells it ("NAME"). */
static void
arg_name(const struct command *cmd, int n, char *buf, size_t len)
{
	const char *p = cmd->usage;
	int skip = cmd->verb != NULL ? 2 : 1;
	for (int w = 0; *p != '\0'; w++) {
		while (*p == ' ')
			p++;
		size_t wl = strcspn(p, " ");
		if (w >= skip + n) {
			size_t dots = wl > 3 && strncmp(p + wl - 3, "...", 3) == 0 ? 3 : 0;
			snprintf(buf, len, "%.*s", (int) (wl - dots), p);
			return;
		}
		p += wl;
	}
	snprintf(buf, len, "argument");
}

static bool
is_flag(const char *a)
{
	return a[0] == '-' && a[1] != '\0';
}

/* The command noun [verb]; NULL if there is none (*noun_known says whether
 * the noun exists, as the first word of commands with verbs). */
static const struct command *
lookup(const char *noun, const char *verb, bool *noun_known)
{
	*noun_known = false;
	for (size_t k = 0; k < NELEM(commands); k++) {
		if (strcmp(commands[k].noun, noun) != 0)
			continue;
		*noun_known = true;
		if (commands[k].verb == NULL)
			return &commands[k];
		if (verb != NULL && strcmp(commands[k].verb, verb) == 0)
			return &commands[k];
	}
	return NULL;
}

static void
noun_help(FILE *f, const char *noun)
{
	fprintf(f, "commands of '%s':\n", noun);
	for (size_t k = 0; k < NELEM(commands); k++)
		if (strcmp(commands[k].noun, noun) == 0)
			fprintf(f, "  snowrange %s\n      %s\n", commands[k].usage,
			    commands[k].help);
	fprintf(f, "\n'snowrange help %s VERB' shows a command's flags.\n", noun);
}

/* The usage error for an unknown noun or verb, with the closest name. */
static int
unknown_command(const char *noun, const char *verb)
{
	const char *names[NELEM(commands)];
	size_t n = 0;
	bool known = false;
	for (size_t k = 0; k < NELEM(commands); k++) {
		if (strcmp(commands[k].noun, noun) == 0)
			known = true;
		/* Nouns, each once. */
		if (k == 0 || strcmp(commands[k].noun, commands[k - 1].noun) != 0)
			names[n++] = commands[k].noun;
	}
	if (!known) {
		const char *s = sr_suggest(noun, names, n);
		return usage(NULL, "unknown command '%.40s'%s%s%s", noun,
		    s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
	}
	char verbs[128] = "";
	size_t vl = 0;
	n = 0;
	for (size_t k = 0; k < NELEM(commands); k++) {
		if (strcmp(commands[k].noun, noun) != 0)
			continue;
		names[n++] = commands[k].verb;
		int w = snprintf(verbs + vl, sizeof(verbs) - vl, "%s%s", vl ? ", " : "",
		    commands[k].verb);
		if (w > 0 && vl + (size_t) w < sizeof(verbs))
			vl += (size_t) w;
	}
	if (verb == NULL)
		return usage(NULL, "%s: missing command (expected %s)", noun, verbs);
	const char *s = sr_suggest(verb, names, n);
	return usage(NULL, "%s: unknown command '%.40s' (%s%s%sexpected %s)", noun, verb,
	    s ? "did you mean " : "", s ? s : "", s ? "? " : "", verbs);
}

/* Finds the command named at argv[*i] (and the verb after it). Returns 0,
 * an exit code, or -1 when it printed a noun's help (`seq --help`). */
static int
find_command(struct cli *c, int argc, char **argv, int *i)
{
	const char *noun = argv[(*i)++];
	const char *verb = *i < argc && !is_flag(argv[*i]) ? argv[*i] : NULL;
	bool known;
	const struct command *cmd = lookup(noun, verb, &known);
	if (cmd != NULL) {
		c->cmd = cmd;
		if (cmd->verb != NULL)
			(*i)++;
		return 0;
	}
	/* `seq --help` and `seq -h`: the noun's commands. */
	if (known && verb == NULL) {
		for (int k = *i; k < argc; k++) {
			if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
				noun_help(stdout, noun);
				return -1;
			}
		}
	}
	return unknown_command(noun, verb);
}

/*
 * `snowrange bench ARGS` runs `snowrange-bench ARGS`. The benchmark is a
 * program of its own (bench/) because it starts a master in-process, and the
 * operator tool links no master code. It is looked for next to this
 * executable first (the build or install directory), then in PATH. argv is
 * the CLI's argv from "bench" on. Returns only when it could not be run.
 */
static int
run_bench(char **argv)
{
	char dir[4096], path[4200];
	argv[0] = "snowrange-bench";
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n > 0) {
		dir[n] = '\0';
		char *slash = strrchr(dir, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/snowrange-bench", dir);
			if (access(path, X_OK) == 0) {
				execv(path, argv);
				fprintf(stderr, "snowrange: bench: cannot run %s: %s\n", path,
				    strerror(errno));
				return 1;
			}
		}
	}
	execvp("snowrange-bench", argv);
	fprintf(stderr,
	    "snowrange: bench: the benchmark is the program snowrange-bench, "
	    "found neither next to this one nor in PATH (%s)\n",
	    strerror(errno));
	return 1;
}

/* `snowrange --help-man`: the man page, from the tables (CMakeLists.txt
 * builds share/man/man1/snowrange.1 with it). */
static int
print_man(void)
{
	static const struct sr_opts_prog prog = {
	    .name = "snowrange",
	    .usage = "snowrange [global flags] COMMAND [args] [flags]",
	    .summary = "the snowrange operator and client tool",
	    .description = "snowrange talks to the master for the catalog (sequences, nodes, "
	                   "status) and to a coordinator for IDs and Snowflake txids. Output is "
	                   "text or, with -o json, one JSON document on stdout; errors go to "
	                   "stderr. Exit status: 0 success, 1 a failed operation, 2 a usage "
	                   "error.\n\n"
	                   "The global flags below go with every command; COMMANDS lists each "
	                   "command's own flags.",
	    .opts = global_flags,
	    .nopts = NELEM(global_flags),
	};
	sr_opts_man(stdout, &prog, 1, NULL);
	printf(".SH COMMANDS\n");
	for (size_t i = 0; i < NELEM(commands); i++) {
		const struct command *cmd = &commands[i];
		printf(".TP\n.B snowrange ");
		for (const char *p = cmd->usage; *p != '\0'; p++)
			printf(*p == '-' ? "\\-" : "%c", *p);
		printf("\n%s.\n", cmd->help);
		for (size_t k = 0; k < NELEM(cmd_flags); k++) {
			if (!flag_allowed(cmd, &cmd_flags[k]))
				continue;
			printf(".RS\n.TP\n.B \\-\\-%s%s%s\n%s.\n.RE\n", cmd_flags[k].name,
			    cmd_flags[k].arg ? " " : "", cmd_flags[k].arg ? cmd_flags[k].arg : "",
			    cmd_flags[k].help);
		}
	}
	printf(".SH SEE ALSO\n.BR snowrange-master (8),\n.BR snowrange-coordinator (8)\n");
	return 0;
}

static int
run(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return run_bench(argv + 1);
	if (argc == 2 && strcmp(argv[1], "--help-man") == 0)
		return print_man();
	struct cli *c = &G;
	char err[256];
	/* Defaults, then the environment (SNOWRANGE_MASTER, credentials:
	 * paths only, never a token, docs/security.md), then flags. */
	if (sr_opts_defaults(global_flags, NELEM(global_flags), err, sizeof(err)) != SR_OK ||
	    sr_opts_defaults(cmd_flags, NELEM(cmd_flags), err, sizeof(err)) != SR_OK)
		return failed(NULL, SR_EINTERNAL, "defaults: %s", err);
	if (sr_opts_env(global_flags, NELEM(global_flags), err, sizeof(err)) != SR_OK)
		return usage(NULL, "%s", err);
	int rv, i = 1;

	/* Global flags before the command; "--" ends them. */
	for (; i < argc && is_flag(argv[i]); i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if ((rv = parse_flag(c, argc, argv, &i)) != 0)
			return rv;
	}
	if (c->version) {
		sr_opts_version(stdout, "snowrange", NULL);
		return 0;
	}
	if (c->help) {
		print_help(stdout, NULL);
		return 0;
	}
	if (i >= argc)
		return usage(NULL, "missing command");
	if (strcmp(argv[i], "bench") == 0)
		return run_bench(argv + i);
	if ((rv = find_command(c, argc, argv, &i)) != 0)
		return rv < 0 ? 0 : rv;

	/* The rest: the command's flags, global flags and positionals, in any
	 * order; "--" ends the flags. */
	char **pos = calloc((size_t) argc, sizeof(*pos));
	if (pos == NULL)
		return failed(NULL, SR_ENOMEM, "parse arguments");
	int npos = 0;
	bool flags_done = false;
	for (; i < argc; i++) {
		if (!flags_done && strcmp(argv[i], "--") == 0) {
			flags_done = true;
		} else if (!flags_done && is_flag(argv[i])) {
			/* -h/--help after the command: its help, whatever else is
			 * wrong on the line. */
			if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
				c->help = true;
				continue;
			}
			if ((rv = parse_flag(c, argc, argv, &i)) != 0) {
				free(pos);
				return rv;
			}
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (c->help) {
		print_help(stdout, c->cmd);
		free(pos);
		return 0;
	}
	if (c->version) {
		sr_opts_version(stdout, "snowrange", NULL);
		free(pos);
		return 0;
	}
	c->json = strcmp(c->output, "json") == 0;
	/* The environment's coordinator is a default, not a choice: plain
	 * `status` means the cluster unless -c names a coordinator. */
	if (c->cmd->fn == cmd_status && !given_global[&COORDINATOR_FLAG - global_flags])
		c->coordinators.n = 0;
	if (npos < c->cmd->minargs) {
		char what[32];
		arg_name(c->cmd, npos, what, sizeof(what));
		rv = usage(c->cmd, "missing %s", what);
	} else if (c->cmd->maxargs >= 0 && npos > c->cmd->maxargs) {
		rv = usage(c->cmd, "unexpected argument '%.40s'", pos[c->cmd->maxargs]);
	} else {
		c->args = pos;
		c->nargs = npos;
		rv = c->cmd->fn(c);
	}
	free(pos);
	return rv;
}

/*
 * With -o json a failing command also prints its error as a JSON object on
 * stdout, {"error":{"code":"ENOTFOUND","errno":4,"message":...,"exit":1}},
 * so that a script reading stdout sees a failure as JSON too (the message
 * stays on stderr).
 */
int
main(int argc, char **argv)
{
	int rc = run(argc, argv);
	if (rc != 0 && G.json) {
		if (!last_err.set)
			last_err.code = SR_EINTERNAL;
		if (!last_err.set)
			snprintf(last_err.msg, sizeof(last_err.msg), "failed (see stderr)");
		/* jansson takes only UTF-8: a message quoting bad input may not
		 * be; its other bytes become '?'. */
		json_t *msg = json_string(last_err.msg);
		if (msg == NULL) {
			for (char *p = last_err.msg; *p != '\0'; p++)
				if ((unsigned char) *p >= 0x80)
					*p = '?';
			msg = json_string(last_err.msg);
		}
		json_t *e = json_pack("{s:s, s:i, s:o, s:i}", "code", sr_errname(last_err.code),
		    "errno", last_err.code, "message", msg, "exit", rc);
		(void) emit(json_pack("{s:o}", "error", e));
	}
	return rc;
}
