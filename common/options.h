/*
 * The table-driven option parser (Redis standardConfig style) shared by the
 * daemons: one row per setting drives the flag, the INI config key and
 * --help alike. Only programs link it (sr_options, with inih); the library
 * does not.
 */
#ifndef SR_OPTIONS_H
#define SR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sr_opt_type { SR_OPT_STR, SR_OPT_INT, SR_OPT_DOUBLE, SR_OPT_BOOL };

/* One setting: drives the flag, the config file key and --help alike. */
struct sr_opt {
	const char *name; /* flag --name and config key name */
	enum sr_opt_type type;
	void *target;     /* const char **, int64_t *, double *, bool * */
	const char *def;  /* default, as text */
	double min, max;  /* bounds for numbers */
	const char *help;
};

/* Strings read from a config file, owned by the caller of sr_opts_parse:
 * string settings point into them until sr_opts_mem_free. */
struct sr_opts_mem {
	char **v;
	size_t n;
};

void sr_opts_mem_free(struct sr_opts_mem *mem);

/*
 * Sets defaults, then reads an INI file when --config FILE is among argv,
 * then flags (--name value or --name=value; a bool flag alone means true).
 * Positional arguments are moved to the front of argv and counted in *npos.
 * On error returns SR_EINVAL with a message naming the option in errbuf.
 */
int sr_opts_parse(const struct sr_opt *opts, size_t nopts, int argc,
    char **argv, int *npos, struct sr_opts_mem *mem, char *errbuf,
    size_t errlen);

/* Prints "  --name VALUE   help (default: def)" for every option. */
void sr_opts_usage(const struct sr_opt *opts, size_t nopts);

#endif
