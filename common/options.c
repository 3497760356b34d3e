/*
 * The table-driven option parser of the daemons and the CLI (options.h): the
 * INI config file through inih, then flags. Kept out of util.c so that the
 * library, which reads no config file, does not depend on inih.
 */
#include "options.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snowrange/error.h"

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
