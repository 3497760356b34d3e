/*
 * The table-driven option parser of the three programs (options.h): the INI
 * config file through inih, the environment, then flags; and the renderings
 * of the same table (--help, man page, sample config). Kept out of util.c so
 * that the library, which reads no config file, does not depend on inih.
 */
#include "options.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snowrange/error.h"
#include "snowrange/version.h"
#include "sr_git.h"

/* The INI sections of the programs: a file shared by them (one
 * /etc/snowrange/snowrange.conf) holds each one's keys in its own section,
 * and a program skips the others' (docs/operating.md). */
static const char *const known_sections[] = {"master", "coordinator", "snowrange"};

static const struct sr_opt *
opt_by_name(const struct sr_opt *opts, size_t nopts, const char *name, size_t len)
{
	for (size_t i = 0; i < nopts; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

const struct sr_opt *
sr_opt_find(const struct sr_opt *opts, size_t nopts, const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	if (arg[0] != '-' || arg[1] == '\0')
		return NULL;
	if (arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t) (eq - name) : strlen(name);
		const struct sr_opt *o = opt_by_name(opts, nopts, name, len);
		if (o != NULL && eq != NULL)
			*inline_val = eq + 1;
		return o;
	}
	for (size_t i = 0; i < nopts; i++) {
		if (opts[i].shrt != 0 && opts[i].shrt == arg[1]) {
			/* "-n5" as well as "-n 5" */
			*inline_val = arg[2] != '\0' ? arg + 2 : NULL;
			return &opts[i];
		}
	}
	return NULL;
}

/* strtod accepts blanks, hex and "inf"; a setting is plain decimal. */
static bool
plain_decimal(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (strchr("0123456789.eE+-", *s) == NULL)
			return false;
	return true;
}

static bool
enum_has(const char *choices, const char *val)
{
	size_t len = strlen(val);
	for (const char *p = choices; p != NULL && *p != '\0';) {
		size_t wl = strcspn(p, "|");
		if (wl == len && strncmp(p, val, len) == 0)
			return true;
		p += wl;
		if (*p == '|')
			p++;
	}
	return false;
}

int
sr_opt_set(const struct sr_opt *o, const char *val, char *errbuf, size_t errlen)
{
	char *end;
	switch (o->type) {
	case SR_OPT_STR:
		if (val[0] == '\0') {
			snprintf(errbuf, errlen, "--%s needs a non-empty value", o->name);
			return SR_EINVAL;
		}
		*(const char **) o->target = val;
		return SR_OK;
	case SR_OPT_ENUM:
		if (!enum_has(o->arg, val)) {
			snprintf(errbuf, errlen, "--%s: expected %s, got '%.40s'", o->name, o->arg,
			    val);
			return SR_EINVAL;
		}
		*(const char **) o->target = val;
		return SR_OK;
	case SR_OPT_LIST: {
		struct sr_opt_list *l = o->target;
		if (val[0] == '\0') {
			snprintf(errbuf, errlen, "--%s needs a non-empty value", o->name);
			return SR_EINVAL;
		}
		if (l->n == SR_OPT_LIST_MAX) {
			snprintf(errbuf, errlen, "--%s: at most %d values", o->name,
			    SR_OPT_LIST_MAX);
			return SR_EINVAL;
		}
		l->v[l->n++] = val;
		return SR_OK;
	}
	case SR_OPT_BOOL:
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0) {
			*(bool *) o->target = true;
		} else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 ||
		    strcmp(val, "no") == 0) {
			*(bool *) o->target = false;
		} else {
			snprintf(errbuf, errlen, "--%s: expected true or false, got '%.40s'",
			    o->name, val);
			return SR_EINVAL;
		}
		return SR_OK;
	case SR_OPT_INT: {
		/* The bounds are doubles; 2^63-1 is not one, so the top is
		 * clamped in integers. */
		int64_t lo = o->min <= -0x1p63 ? INT64_MIN : (int64_t) o->min;
		int64_t hi = o->max >= 0x1p63 ? INT64_MAX : (int64_t) o->max;
		errno = 0;
		long long v = strtoll(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || val[0] == ' ' || val[0] == '+' ||
		    v < lo || v > hi) {
			snprintf(errbuf, errlen,
			    "--%s: expected a whole number in %lld..%lld, "
			    "got '%.40s'",
			    o->name, (long long) lo, (long long) hi, val);
			return SR_EINVAL;
		}
		*(int64_t *) o->target = v;
		return SR_OK;
	}
	case SR_OPT_DOUBLE: {
		errno = 0;
		double v = plain_decimal(val) ? strtod(val, &end) : NAN;
		if (isnan(v) || errno != 0 || *end != '\0' || v < o->min || v > o->max) {
			snprintf(errbuf, errlen, "--%s: expected a number in %g..%g, got '%.40s'",
			    o->name, o->min, o->max, val);
			return SR_EINVAL;
		}
		*(double *) o->target = v;
		return SR_OK;
	}
	}
	return SR_EINVAL;
}

int
sr_opts_defaults(const struct sr_opt *opts, size_t nopts, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < nopts; i++) {
		const struct sr_opt *o = &opts[i];
		if (o->type == SR_OPT_LIST) {
			((struct sr_opt_list *) o->target)->n = 0;
			continue;
		}
		if (o->def == NULL) {
			if (o->type == SR_OPT_STR || o->type == SR_OPT_ENUM)
				*(const char **) o->target = NULL;
			continue;
		}
		int rv = sr_opt_set(o, o->def, errbuf, errlen);
		if (rv != SR_OK)
			return rv;
	}
	return SR_OK;
}

int
sr_opts_env(const struct sr_opt *opts, size_t nopts, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < nopts; i++) {
		const char *v = opts[i].env != NULL ? getenv(opts[i].env) : NULL;
		if (v == NULL || v[0] == '\0')
			continue;
		char msg[256];
		int rv = sr_opt_set(&opts[i], v, msg, sizeof(msg));
		if (rv != SR_OK) {
			snprintf(errbuf, errlen, "%s (from %s)", msg, opts[i].env);
			return rv;
		}
	}
	return SR_OK;
}

/* ---- did you mean ---- */

/* Edit distance with transpositions (optimal string alignment), bounded:
 * names are short. "jion" is one edit from "join". */
static size_t
edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	if (la > 63 || lb > 63)
		return 64;
	size_t d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

static const char *
suggest_len(const char *word, size_t wl, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t bestd = 3;
	for (size_t i = 0; i < n; i++) {
		size_t cl = strlen(cands[i]);
		size_t d = edit_distance(word, wl, cands[i], cl);
		/* A prefix of a long name ("--lease" for "--lease-ttl-ms") is
		 * a likely typo too. */
		if (d >= bestd && wl >= 3 && cl > wl && strncmp(cands[i], word, wl) == 0)
			d = 2;
		/* Short words are within 2 edits of anything short. */
		if (d < bestd && d * 3 <= (wl > cl ? wl : cl)) {
			best = cands[i];
			bestd = d;
		}
	}
	return best;
}

const char *
sr_suggest(const char *word, const char *const *cands, size_t n)
{
	return suggest_len(word, strlen(word), cands, n);
}

const char *
sr_opt_suggest(const struct sr_opt *opts, size_t nopts, const char *name, size_t len)
{
	const char *cands[256];
	size_t n = 0;
	for (size_t i = 0; i < nopts && n < 256; i++)
		if (!(opts[i].flags & SR_OPTF_HIDDEN))
			cands[n++] = opts[i].name;
	return suggest_len(name, len, cands, n);
}

/* ---- the config file ---- */

struct ini_ctx {
	const struct sr_opts_prog *p;
	const char *file;
	char *errbuf;
	size_t errlen;
	int err;
	int line;    /* of the line inih is on: one reader call per line */
	bool at_bol; /* the last read ended a line */
	int *seen;   /* per option: the line that set it, 0 for none */
	FILE *fp;
	struct sr_opts_mem *mem; /* strings kept alive for string targets */
};

void
sr_opts_mem_free(struct sr_opts_mem *mem)
{
	for (size_t i = 0; i < mem->n; i++)
		free(mem->v[i]);
	free(mem->v);
	mem->v = NULL;
	mem->n = 0;
}

static char *
line_reader(char *str, int num, void *stream)
{
	struct ini_ctx *ctx = stream;
	char *s = fgets(str, num, ctx->fp);
	if (s == NULL)
		return NULL;
	if (ctx->at_bol)
		ctx->line++;
	size_t n = strlen(s);
	ctx->at_bol = n > 0 && s[n - 1] == '\n';
	return s;
}

static bool
section_skipped(const struct ini_ctx *ctx, const char *section, bool *known)
{
	*known = true;
	if (section[0] == '\0' || ctx->p->section == NULL)
		return false;
	if (strcmp(section, ctx->p->section) == 0)
		return false;
	for (size_t i = 0; i < sizeof(known_sections) / sizeof(known_sections[0]); i++)
		if (strcmp(section, known_sections[i]) == 0)
			return true;
	*known = false;
	return true;
}

static int
ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *ctx = user;
	bool known;
	if (section_skipped(ctx, section, &known)) {
		if (known)
			return 1;
		snprintf(ctx->errbuf, ctx->errlen,
		    "config file %s line %d: unknown "
		    "section [%.40s] (expected [%s])",
		    ctx->file, ctx->line, section, ctx->p->section);
		ctx->err = SR_EINVAL;
		return 0;
	}
	const struct sr_opt *opts = ctx->p->opts;
	const struct sr_opt *o = opt_by_name(opts, ctx->p->nopts, name, strlen(name));
	if (o == NULL || (o->flags & SR_OPTF_NOINI) || strcmp(name, "config") == 0) {
		const char *s = sr_opt_suggest(opts, ctx->p->nopts, name, strlen(name));
		snprintf(ctx->errbuf, ctx->errlen,
		    "config file %s line %d: unknown key "
		    "'%.60s'%s%s%s",
		    ctx->file, ctx->line, name, s ? " (did you mean '" : "", s ? s : "",
		    s ? "'?)" : "");
		ctx->err = SR_EINVAL;
		return 0;
	}
	size_t idx = (size_t) (o - opts);
	if (ctx->seen[idx] != 0 && o->type != SR_OPT_LIST) {
		snprintf(ctx->errbuf, ctx->errlen,
		    "config file %s line %d: '%s' is set "
		    "twice (first on line %d)",
		    ctx->file, ctx->line, name, ctx->seen[idx]);
		ctx->err = SR_EINVAL;
		return 0;
	}
	ctx->seen[idx] = ctx->line;
	char *v = strdup(value);
	char **k = realloc(ctx->mem->v, (ctx->mem->n + 1) * sizeof(char *));
	if (k != NULL)
		ctx->mem->v = k;
	if (v == NULL || k == NULL) {
		free(v);
		snprintf(ctx->errbuf, ctx->errlen, "out of memory");
		ctx->err = SR_ENOMEM;
		return 0;
	}
	ctx->mem->v[ctx->mem->n++] = v;
	char msg[256];
	if ((ctx->err = sr_opt_set(o, v, msg, sizeof(msg))) != SR_OK) {
		/* "--name: ..." reads as "key name: ..." in a file. */
		snprintf(ctx->errbuf, ctx->errlen, "config file %s line %d: %s", ctx->file,
		    ctx->line, msg[0] == '-' && msg[1] == '-' ? msg + 2 : msg);
		return 0;
	}
	return 1;
}

static int
read_config(const struct sr_opts_prog *p, const char *file, struct sr_opts_mem *mem, char *errbuf,
    size_t errlen)
{
	FILE *fp = fopen(file, "r");
	if (fp == NULL) {
		snprintf(errbuf, errlen, "config file %s: cannot open: %s", file, strerror(errno));
		return SR_EINVAL;
	}
	/* A directory opens and reads as empty: it would start the program on
	 * its defaults without a word. */
	struct stat sb;
	if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fclose(fp);
		snprintf(errbuf, errlen, "config file %s: not a regular file", file);
		return SR_EINVAL;
	}
	int *seen = calloc(p->nopts + 1, sizeof(int));
	if (seen == NULL) {
		fclose(fp);
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	struct ini_ctx ctx = {p, file, errbuf, errlen, 0, 0, true, seen, fp, mem};
	int rv = ini_parse_stream(line_reader, &ctx, ini_cb, &ctx);
	fclose(fp);
	free(seen);
	if (ctx.err != 0)
		return ctx.err;
	if (rv != 0) {
		snprintf(errbuf, errlen,
		    "config file %s line %d: syntax error (expected "
		    "'key = value' or '[section]')",
		    file, rv);
		return SR_EINVAL;
	}
	return SR_OK;
}

/* ---- the command line ---- */

enum action { ACT_RUN, ACT_HELP, ACT_VERSION, ACT_MAN, ACT_INI };

static enum action
find_action(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return ACT_HELP;
		if (strcmp(a, "--version") == 0)
			return ACT_VERSION;
		if (strcmp(a, "--help-man") == 0)
			return ACT_MAN;
		if (strcmp(a, "--help-ini") == 0)
			return ACT_INI;
	}
	return ACT_RUN;
}

int
sr_opts_parse_prog(const struct sr_opts_prog *p, int argc, char **argv, int *npos,
    struct sr_opts_mem *mem, char *errbuf, size_t errlen)
{
	const struct sr_opt *opts = p->opts;
	size_t nopts = p->nopts;
	int rv = sr_opts_defaults(opts, nopts, errbuf, errlen);
	if (rv != SR_OK)
		return rv;
	/* The config file comes first so that the environment and flags
	 * override it; one --config only. */
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *f = NULL;
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				snprintf(errbuf, errlen, "--config needs a value");
				return SR_EINVAL;
			}
			f = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			f = argv[i] + 9;
		}
		if (f == NULL)
			continue;
		if (file != NULL) {
			snprintf(errbuf, errlen, "--config given twice");
			return SR_EINVAL;
		}
		if (f[0] == '\0') {
			snprintf(errbuf, errlen, "--config needs a non-empty value");
			return SR_EINVAL;
		}
		file = f;
	}
	if (file != NULL && (rv = read_config(p, file, mem, errbuf, errlen)) != SR_OK)
		return rv;
	if ((rv = sr_opts_env(opts, nopts, errbuf, errlen)) != SR_OK)
		return rv;

	bool *given = calloc(nopts + 1, sizeof(bool));
	if (given == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return SR_ENOMEM;
	}
	/* A list named on the command line replaces the config file's. */
	int pos = 1;
	bool flags_done = false;
	rv = SR_OK;
	for (int i = 1; i < argc && rv == SR_OK; i++) {
		char *a = argv[i];
		if (flags_done || a[0] != '-' || a[1] == '\0') {
			argv[pos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			flags_done = true;
			continue;
		}
		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		const char *val;
		const struct sr_opt *o = sr_opt_find(opts, nopts, a, &val);
		if (o == NULL) {
			const char *name = a + (a[1] == '-' ? 2 : 1);
			size_t len = strcspn(name, "=");
			const char *s = sr_opt_suggest(opts, nopts, name, len);
			snprintf(errbuf, errlen, "unknown option '%.*s'%s%s%s",
			    (int) (len + (size_t) (name - a) > 60 ? 60 : len + (size_t) (name - a)),
			    a, s ? " (did you mean --" : "", s ? s : "", s ? "?)" : "");
			rv = SR_EINVAL;
			break;
		}
		size_t idx = (size_t) (o - opts);
		if (o->type == SR_OPT_LIST && !given[idx])
			((struct sr_opt_list *) o->target)->n = 0;
		else if (given[idx] && o->type != SR_OPT_LIST) {
			snprintf(errbuf, errlen, "--%s given twice", o->name);
			rv = SR_EINVAL;
			break;
		}
		given[idx] = true;
		if (val == NULL) {
			if (o->type == SR_OPT_BOOL)
				val = "true";
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				snprintf(errbuf, errlen, "--%s needs a value", o->name);
				rv = SR_EINVAL;
				break;
			}
		}
		rv = sr_opt_set(o, val, errbuf, errlen);
	}
	free(given);
	if (rv != SR_OK)
		return rv;
	*npos = pos - 1;
	return SR_OK;
}

int
sr_opts_parse(const struct sr_opt *opts, size_t nopts, int argc, char **argv, int *npos,
    struct sr_opts_mem *mem, char *errbuf, size_t errlen)
{
	struct sr_opts_prog p = {.name = "", .opts = opts, .nopts = nopts};
	return sr_opts_parse_prog(&p, argc, argv, npos, mem, errbuf, errlen);
}

int
sr_opts_main(const struct sr_opts_prog *p, int argc, char **argv, int *npos,
    struct sr_opts_mem *mem)
{
	switch (find_action(argc, argv)) {
	case ACT_HELP: sr_opts_prog_help(stdout, p); return 0;
	case ACT_VERSION: sr_opts_version(stdout, p->name, p->versions); return 0;
	case ACT_MAN: sr_opts_man(stdout, p, 8, NULL); return 0;
	case ACT_INI: sr_opts_ini(stdout, p); return 0;
	case ACT_RUN: break;
	}
	char err[512] = "";
	if (sr_opts_parse_prog(p, argc, argv, npos, mem, err, sizeof(err)) != SR_OK) {
		fprintf(stderr, "%s: %s\nrun '%s --help' for the options\n", p->name, err, p->name);
		return 2;
	}
	return -1;
}

/* ---- renderings ---- */

static void
opt_head(char *buf, size_t len, const struct sr_opt *o)
{
	const char *arg = o->arg;
	if (arg == NULL)
		arg = o->type == SR_OPT_BOOL                            ? NULL
		    : o->type == SR_OPT_INT || o->type == SR_OPT_DOUBLE ? "N"
		                                                        : "STR";
	if (o->shrt != 0)
		snprintf(buf, len, "-%c, --%s%s%s", o->shrt, o->name, arg ? " " : "",
		    arg ? arg : "");
	else
		snprintf(buf, len, "    --%s%s%s", o->name, arg ? " " : "", arg ? arg : "");
}

void
sr_opts_help(FILE *f, const struct sr_opt *opts, size_t nopts)
{
	for (size_t i = 0; i < nopts; i++) {
		const struct sr_opt *o = &opts[i];
		if (o->flags & SR_OPTF_HIDDEN)
			continue;
		char head[96];
		opt_head(head, sizeof(head), o);
		fprintf(f, "  %-30s %s", head, o->help);
		if (o->def != NULL || o->env != NULL)
			fprintf(f, " (%s%s%s%s%s)", o->def ? "default " : "", o->def ? o->def : "",
			    o->def && o->env ? "; " : "", o->env ? "env " : "",
			    o->env ? o->env : "");
		fprintf(f, "\n");
	}
}

void
sr_opts_prog_help(FILE *f, const struct sr_opts_prog *p)
{
	const char *u = p->usage;
	for (int first = 1; *u != '\0'; first = 0) {
		size_t l = strcspn(u, "\n");
		fprintf(f, "%s%.*s\n", first ? "usage: " : "       ", (int) l, u);
		u += l;
		if (*u == '\n')
			u++;
	}
	fprintf(f, "\n%s\n\noptions (also keys of --config FILE, an INI file", p->summary);
	if (p->section != NULL)
		fprintf(f, ", section [%s]", p->section);
	fprintf(f, "):\n");
	sr_opts_help(f, p->opts, p->nopts);
	fprintf(f, "  %-30s %s\n  %-30s %s\n  %-30s %s\n", "    --config FILE",
	    "read settings from an INI file; the environment and flags override it", "-h, --help",
	    "show this help", "    --version",
	    "show the versions of the program and its libraries");
}

void
sr_opts_version(FILE *f, const char *name, void (*versions)(FILE *))
{
	fprintf(f, "%s %s (git %s)\n", name, SNOWRANGE_VERSION_STRING, SR_GIT_DESCRIBE);
	fprintf(f, "nng %s, protobuf-c %s", nng_version(), protobuf_c_version());
	if (versions != NULL)
		versions(f);
	fprintf(f, "\n");
}

/* troff text: backslashes and hyphens escaped, no line starting a request. */
static void
man_text(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i] != '\0'; i++) {
		if ((i == 0 || s[i - 1] == '\n') && (s[i] == '.' || s[i] == '\''))
			fputs("\\&", f);
		if (s[i] == '\\')
			fputs("\\e", f);
		else if (s[i] == '-')
			fputs("\\-", f);
		else
			fputc(s[i], f);
	}
}

static void
man_str(FILE *f, const char *s)
{
	man_text(f, s, strlen(s));
}

void
sr_opts_man(FILE *f, const struct sr_opts_prog *p, int sect, const char *extra)
{
	fprintf(f, ".TH %s %d \"\" \"snowrange %s\" \"snowrange\"\n.SH NAME\n", p->name, sect,
	    SNOWRANGE_VERSION_STRING);
	man_str(f, p->name);
	fputs(" \\- ", f);
	man_str(f, p->summary);
	fputs("\n.SH SYNOPSIS\n", f);
	for (const char *u = p->usage; *u != '\0';) {
		size_t l = strcspn(u, "\n");
		fputs(".B ", f);
		man_text(f, u, l);
		fputs("\n.br\n", f);
		u += l;
		if (*u == '\n')
			u++;
	}
	if (p->description != NULL) {
		fputs(".SH DESCRIPTION\n", f);
		for (const char *d = p->description; *d != '\0';) {
			const char *e = strstr(d, "\n\n");
			size_t l = e != NULL ? (size_t) (e - d) : strlen(d);
			fputs(".PP\n", f);
			man_text(f, d, l);
			fputs("\n", f);
			d += l;
			while (*d == '\n')
				d++;
		}
	}
	fputs(".SH OPTIONS\n", f);
	if (p->section != NULL)
		fprintf(f,
		    "Every option is also a key of the INI file given with "
		    "\\fB\\-\\-config\\fR, outside any section or in section "
		    "\\fB[%s]\\fR. The environment overrides the file, flags override "
		    "both.\n",
		    p->section);
	for (size_t i = 0; i < p->nopts; i++) {
		const struct sr_opt *o = &p->opts[i];
		if (o->flags & SR_OPTF_HIDDEN)
			continue;
		char head[96];
		opt_head(head, sizeof(head), o);
		const char *h = head;
		while (*h == ' ')
			h++;
		fputs(".TP\n.B ", f);
		man_str(f, h);
		fputs("\n", f);
		man_str(f, o->help);
		size_t hl = strlen(o->help);
		if (hl > 0 && o->help[hl - 1] != '.')
			fputs(".", f);
		if (o->def != NULL) {
			fputs(" Default: ", f);
			man_str(f, o->def);
			fputs(".", f);
		}
		if (o->env != NULL)
			fprintf(f, " Environment: \\fB%s\\fR.", o->env);
		fputs("\n", f);
	}
	/* The daemons' built-in flags; the CLI has them as rows. */
	if (p->section != NULL)
		fputs(".TP\n.B \\-\\-config FILE\nRead settings from an INI file.\n"
		      ".TP\n.B \\-h, \\-\\-help\nShow the options and exit.\n"
		      ".TP\n.B \\-\\-version\nShow the versions of the program and its "
		      "libraries and exit.\n",
		    f);
	if (extra != NULL)
		fputs(extra, f);
}

void
sr_opts_ini(FILE *f, const struct sr_opts_prog *p)
{
	fprintf(f,
	    "# %s: %s.\n# Read with --config FILE. Keys outside a section and in [%s] "
	    "apply;\n# the environment and flags override them. Every key below is at its\n"
	    "# default (commented out); `%s --help` lists the same.\n\n[%s]\n",
	    p->name, p->summary, p->section ? p->section : "", p->name,
	    p->section ? p->section : "");
	for (size_t i = 0; i < p->nopts; i++) {
		const struct sr_opt *o = &p->opts[i];
		if (o->flags & (SR_OPTF_HIDDEN | SR_OPTF_NOINI))
			continue;
		/* Wrap the help at about 76 columns. */
		fprintf(f, "\n");
		const char *h = o->help;
		while (*h != '\0') {
			size_t l = strlen(h);
			if (l > 74) {
				l = 74;
				while (l > 20 && h[l] != ' ')
					l--;
			}
			fprintf(f, "# %.*s\n", (int) l, h);
			h += l;
			while (*h == ' ')
				h++;
		}
		fprintf(f, "#%s =%s%s\n", o->name, o->def ? " " : "", o->def ? o->def : "");
	}
}
