/*
 * Small pure helpers shared by every room: name checks, number parsing,
 * clocks, logging and the table-driven option parser used by the daemons.
 */
#ifndef SR_UTIL_H
#define SR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_NAME_MAX 64

/* True when s matches [a-z0-9_.-]{1,64}: sequence and node names. */
bool sr_name_valid(const char *s);

/* Parses a whole decimal string into *out; false on junk, sign or overflow
 * (no silent truncation). */
bool sr_parse_u64(const char *s, uint64_t *out);

/* Wall clock in ms since the Unix epoch, and a monotonic clock in ms/us. */
int64_t sr_wall_ms(void);
int64_t sr_wall_us(void);
int64_t sr_mono_ms(void);
int64_t sr_mono_us(void);

/* Copies src into dst (size dstlen), always NUL-terminated; returns false
 * when src did not fit. */
bool sr_strlcpy(char *dst, const char *src, size_t dstlen);

/* Logs one line to stderr: "2026-11-21T23:59:01.123Z master: text". */
void sr_log(const char *who, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Starts a detached thread that ends the process with _exit(0) after
 * seconds, logging why: a daemon's shutdown must not hang (nng 1.5.2 can
 * block in nng_close, nng issue #1813). Call it once state is safe. */
void sr_exit_watchdog(const char *who, int seconds);

/* ---- table-driven options (Redis standardConfig style) ---- */

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
