/*
 * The table-driven option parser shared by the three programs (the master,
 * the coordinator daemon and the snowrange CLI): one row per setting gives
 * the flag (long and short), the INI config key, the environment variable,
 * the --help line and the man page entry alike. Only programs link it
 * (sr_options, with inih); the library does not. docs/operating.md lists
 * the rules a user sees (precedence, sections, repeated flags).
 */
#ifndef SR_OPTIONS_H
#define SR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sr_opt_type {
	SR_OPT_STR,    /* const char * */
	SR_OPT_INT,    /* int64_t, within [min, max] */
	SR_OPT_DOUBLE, /* double, within [min, max] */
	SR_OPT_BOOL,   /* bool; a flag alone means true */
	SR_OPT_LIST,   /* struct sr_opt_list: every value given, in order */
	SR_OPT_ENUM,   /* const char *, one of the '|'-separated words of arg */
};

/* SR_OPT_LIST's target: the values in the order given. */
#define SR_OPT_LIST_MAX 64
struct sr_opt_list {
	const char *v[SR_OPT_LIST_MAX];
	size_t n;
};

/* Row flags. */
#define SR_OPTF_NOINI 1u  /* a command-line flag only, no config file key */
#define SR_OPTF_HIDDEN 2u /* in neither --help nor the man page */

/*
 * One setting. The first seven fields are what every row gives; the rest
 * are optional and zero when a row leaves them out (the option tables are
 * compiled with -Wno-missing-field-initializers for that, CMakeLists.txt).
 */
struct sr_opt {
	const char *name; /* flag --name and config key name */
	enum sr_opt_type type;
	void *target;
	const char *def; /* default, as text; NULL: none */
	double min, max; /* bounds for numbers */
	const char *help;
	const char *arg; /* value's name in help ("URL"); SR_OPT_ENUM: choices */
	char shrt;       /* short flag -x, or 0 */
	const char *env; /* environment variable giving a value, or NULL */
	unsigned flags;  /* SR_OPTF_* */
};

/* The daemons' log settings, one row each (common/log.h, sr_log_setup). */
#define SR_OPTS_LOG(level, format, file)                                                         \
	{"log-level", SR_OPT_ENUM, (level), "info", 0, 0, "the least important messages logged", \
	    .arg = "error|warn|info"},                                                           \
	    {"log-format", SR_OPT_ENUM, (format), "text", 0, 0,                                  \
	        "a line of text or a JSON object per message", .arg = "text|json"},              \
	{                                                                                        \
		"log-file", SR_OPT_STR, (file), NULL, 0, 0,                                      \
		    "append the log to FILE instead of stderr; SIGHUP reopens it "               \
		    "(after a rotation)",                                                        \
		    .arg = "FILE"                                                                \
	}

/* One program: its name, its INI section and what --help and the man page
 * say about it. */
struct sr_opts_prog {
	const char *name;        /* "snowrange-master" */
	const char *section;     /* INI section it reads ("master"); NULL: any */
	const char *usage;       /* synopsis lines, '\n'-separated, no "usage: " */
	const char *summary;     /* one line: what the program is */
	const char *description; /* man page DESCRIPTION, paragraphs '\n\n' */
	const struct sr_opt *opts;
	size_t nopts;
	void (*versions)(FILE *f); /* more library versions (SQLite), or NULL */
};

/* Strings read from a config file, owned by the caller of sr_opts_parse:
 * string settings point into them until sr_opts_mem_free. */
struct sr_opts_mem {
	char **v;
	size_t n;
};

void sr_opts_mem_free(struct sr_opts_mem *mem);

/*
 * The daemons' whole command line: defaults, then the INI file of --config
 * FILE (keys outside any section and in p->section; other programs'
 * sections are skipped), then environment variables, then flags (--name
 * value, --name=value, -x value, -xvalue; a bool flag alone means true; a
 * flag given twice is an error, except a list's). Positional arguments are
 * moved to the front of argv and counted in *npos.
 *
 * -h/--help prints help to stdout, --version the versions; both return 0.
 * A usage error prints one line and a hint to stderr and returns 2.
 * Otherwise returns -1: go on.
 */
int sr_opts_main(const struct sr_opts_prog *p, int argc, char **argv, int *npos,
    struct sr_opts_mem *mem);

/* As sr_opts_main without printing: SR_OK or SR_EINVAL (SR_ENOMEM) with a
 * message naming the option (and the config file's line) in errbuf. The
 * fuzzer drives this; section NULL reads keys of every section. */
int sr_opts_parse_prog(const struct sr_opts_prog *p, int argc, char **argv, int *npos,
    struct sr_opts_mem *mem, char *errbuf, size_t errlen);

/* sr_opts_parse_prog for a table without a program (any section). */
int sr_opts_parse(const struct sr_opt *opts, size_t nopts, int argc, char **argv, int *npos,
    struct sr_opts_mem *mem, char *errbuf, size_t errlen);

/* ---- the pieces, for the CLI's own command-line walk ---- */

/* Finds the row of flag arg ("--name", "--name=v", "-x", "-xv"); *inline_val
 * gets the value given in arg itself, or NULL. NULL when there is none. */
const struct sr_opt *sr_opt_find(const struct sr_opt *opts, size_t nopts, const char *arg,
    const char **inline_val);

/* Sets o's target from text; SR_EINVAL with a message naming --name. */
int sr_opt_set(const struct sr_opt *o, const char *val, char *errbuf, size_t errlen);

/* Sets every row's default (lists are emptied). */
int sr_opts_defaults(const struct sr_opt *opts, size_t nopts, char *errbuf, size_t errlen);

/* Applies the rows' environment variables that are set and not empty. */
int sr_opts_env(const struct sr_opt *opts, size_t nopts, char *errbuf, size_t errlen);

/* The candidate closest to word within an edit distance worth suggesting
 * ("did you mean"), or NULL. */
const char *sr_suggest(const char *word, const char *const *cands, size_t n);

/* The option name closest to name (without dashes), or NULL. */
const char *sr_opt_suggest(const struct sr_opt *opts, size_t nopts, const char *name, size_t len);

/* "  -x, --name VALUE   help (default: def; env VAR)" per visible row. */
void sr_opts_help(FILE *f, const struct sr_opt *opts, size_t nopts);

/* The program's whole --help: usage, summary, options. */
void sr_opts_prog_help(FILE *f, const struct sr_opts_prog *p);

/* "NAME VERSION (git DESCRIBE)" and the libraries' versions. */
void sr_opts_version(FILE *f, const char *name, void (*versions)(FILE *));

/* A man page (troff, section sect) of the program, from its table. */
void sr_opts_man(FILE *f, const struct sr_opts_prog *p, int sect, const char *extra);

/* A commented sample INI file of the program, every key at its default. */
void sr_opts_ini(FILE *f, const struct sr_opts_prog *p);

#endif
