/* Small shared helpers: names, numbers, clocks, logging, options. */
#include "util.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "snowrange/error.h"

bool
sr_name_valid(const char *s)
{
	if (s == NULL)
		return false;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '.' || ch == '-';
		if (!ok || n >= SR_NAME_MAX)
			return false;
	}
	return n > 0;
}

bool
sr_parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (uint64_t) v;
	return true;
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
sr_wall_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

int64_t
sr_wall_us(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000;
}

int64_t
sr_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t
sr_mono_us(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000;
}

bool
sr_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t n = strlen(src);
	if (dstlen == 0)
		return false;
	size_t m = n < dstlen ? n : dstlen - 1;
	memcpy(dst, src, m);
	dst[m] = '\0';
	return n < dstlen;
}

void
sr_log(const char *who, const char *fmt, ...)
{
	char line[1024];
	int64_t ms = sr_wall_ms();
	time_t sec = (time_t) (ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int) (ms % 1000), who);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t) n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

/* ---- shutdown watchdog ---- */

struct watchdog {
	const char *who;
	int seconds;
};

static void *
watchdog_run(void *arg)
{
	struct watchdog w = *(struct watchdog *) arg;
	free(arg);
	struct timespec ts = {w.seconds, 0};
	while (nanosleep(&ts, &ts) != 0)
		;
	sr_log(w.who, "shutdown did not finish within %d s; exiting", w.seconds);
	_exit(0);
}

void
sr_exit_watchdog(const char *who, int seconds)
{
	struct watchdog *w = malloc(sizeof(*w));
	pthread_t t;
	if (w == NULL)
		return;
	*w = (struct watchdog){who, seconds};
	if (pthread_create(&t, NULL, watchdog_run, w) != 0) {
		free(w);
		return;
	}
	pthread_detach(t);
}

/* ---- options ---- */

static const struct sr_opt *
opt_find(const struct sr_opt *opts, size_t nopts, const char *name, size_t len)
{
	for (size_t i = 0; i < nopts; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int
opt_set(const struct sr_opt *o, const char *val, char *errbuf, size_t errlen)
{
	char *end;
	switch (o->type) {
	case SR_OPT_STR:
		*(const char **) o->target = val;
		return SR_OK;
	case SR_OPT_BOOL:
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 ||
		    strcmp(val, "yes") == 0) {
			*(bool *) o->target = true;
		} else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 ||
		    strcmp(val, "no") == 0) {
			*(bool *) o->target = false;
		} else {
			snprintf(errbuf, errlen, "--%s: expected true or false, got '%s'",
			    o->name, val);
			return SR_EINVAL;
		}
		return SR_OK;
	case SR_OPT_INT: {
		errno = 0;
		long long v = strtoll(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || v < o->min || v > o->max) {
			snprintf(errbuf, errlen, "--%s: expected an integer in [%.0f, %.0f], got '%s'",
			    o->name, o->min, o->max, val);
			return SR_EINVAL;
		}
		*(int64_t *) o->target = v;
		return SR_OK;
	}
	case SR_OPT_DOUBLE: {
		errno = 0;
		double v = strtod(val, &end);
		if (errno != 0 || end == val || *end != '\0' || isnan(v) || v < o->min ||
		    v > o->max) {
			snprintf(errbuf, errlen, "--%s: expected a number in [%g, %g], got '%s'",
			    o->name, o->min, o->max, val);
			return SR_EINVAL;
		}
		*(double *) o->target = v;
		return SR_OK;
	}
	}
	return SR_EINVAL;
}

struct ini_ctx {
	const struct sr_opt *opts;
	size_t nopts;
	char *errbuf;
	size_t errlen;
	int err;
	struct sr_opts_mem *mem; /* strings kept alive for SR_OPT_STR targets */
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

static int
ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *ctx = user;
	(void) section; /* sections are allowed for readability, keys are global */
	const struct sr_opt *o = opt_find(ctx->opts, ctx->nopts, name, strlen(name));
	if (o == NULL || strcmp(name, "config") == 0) {
		snprintf(ctx->errbuf, ctx->errlen, "config file: unknown key '%s'", name);
		ctx->err = SR_EINVAL;
		return 0;
	}
	char *v = strdup(value);
	char **k = realloc(ctx->mem->v, (ctx->mem->n + 1) * sizeof(char *));
	if (k != NULL)
		ctx->mem->v = k;
	if (v == NULL || k == NULL) {
		free(v);
		ctx->err = SR_ENOMEM;
		return 0;
	}
	ctx->mem->v[ctx->mem->n++] = v;
	if ((ctx->err = opt_set(o, v, ctx->errbuf, ctx->errlen)) != SR_OK)
		return 0;
	return 1;
}

int
sr_opts_parse(const struct sr_opt *opts, size_t nopts, int argc, char **argv,
    int *npos, struct sr_opts_mem *mem, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < nopts; i++) {
		if (opts[i].def == NULL) {
			if (opts[i].type == SR_OPT_STR)
				*(const char **) opts[i].target = NULL;
			continue;
		}
		int rv = opt_set(&opts[i], opts[i].def, errbuf, errlen);
		if (rv != SR_OK)
			return rv;
	}
	/* The config file comes before flags so that flags override it. */
	for (int i = 1; i < argc; i++) {
		const char *file = NULL;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
		if (file == NULL)
			continue;
		struct ini_ctx ctx = {opts, nopts, errbuf, errlen, 0, mem};
		int rv = ini_parse(file, ini_cb, &ctx);
		if (rv < 0) {
			snprintf(errbuf, errlen, "config file %s: cannot open", file);
			return SR_EINVAL;
		}
		if (ctx.err != 0)
			return ctx.err;
		if (rv > 0) {
			snprintf(errbuf, errlen, "config file %s: syntax error on line %d",
			    file, rv);
			return SR_EINVAL;
		}
	}
	int pos = 1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			argv[pos++] = a;
			continue;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t) (eq - name) : strlen(name);
		if (len == 6 && strncmp(name, "config", 6) == 0) {
			if (eq == NULL)
				i++;
			continue;
		}
		const struct sr_opt *o = opt_find(opts, nopts, name, len);
		if (o == NULL) {
			snprintf(errbuf, errlen, "unknown option --%.*s", (int) len, name);
			return SR_EINVAL;
		}
		const char *val;
		if (eq != NULL)
			val = eq + 1;
		else if (o->type == SR_OPT_BOOL)
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			snprintf(errbuf, errlen, "option --%s needs a value", o->name);
			return SR_EINVAL;
		}
		int rv = opt_set(o, val, errbuf, errlen);
		if (rv != SR_OK)
			return rv;
	}
	*npos = pos - 1;
	return SR_OK;
}

void
sr_opts_usage(const struct sr_opt *opts, size_t nopts)
{
	for (size_t i = 0; i < nopts; i++) {
		const struct sr_opt *o = &opts[i];
		const char *arg = o->type == SR_OPT_BOOL ? "" :
		    o->type == SR_OPT_STR ? " STR" : " N";
		fprintf(stderr, "  --%s%s\n      %s", o->name, arg, o->help);
		if (o->def != NULL)
			fprintf(stderr, " (default: %s)", o->def);
		fprintf(stderr, "\n");
	}
}
