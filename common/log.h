/*
 * Logging, and the daemons' shutdown watchdog. The library logs through
 * sr_log_to, so that an embedding program's callback (snowrange/log.h)
 * receives its messages; the daemons use sr_log.
 */
#ifndef SR_LOG_H
#define SR_LOG_H

#include <stddef.h>

#include "snowrange/log.h"

/* Logs one line at SR_LOG_INFO to stderr (or --log-file):
 * "2026-11-21T23:59:01.123Z master: text". */
void sr_log(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs one line at level: below the threshold it is dropped; a warning or
 * error says so after the name ("c1: WARN: text"); in JSON format it is one
 * object per line: {"time":...,"level":"warn","who":"c1","msg":"text"}. */
void sr_logl(sr_log_level level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The daemons' log settings (docs/operating.md): level "error", "warn" or
 * "info"; format "text" or "json"; file NULL for stderr, else a file
 * appended to, which sr_log_reopen opens again (SIGHUP, after a rotation).
 * SR_EINVAL with a message on a bad value or a file that cannot be opened.
 */
int sr_log_setup(const char *level, const char *format, const char *file, char *errbuf,
    size_t errlen);
int sr_log_reopen(char *errbuf, size_t errlen);

/* Formats one message and hands it to fn with its level; with fn NULL it
 * goes to stderr as sr_log(who, ...) does. The library logs through this,
 * so that an embedding program decides where its messages go. */
void sr_log_to(sr_log_fn fn, void *arg, sr_log_level level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Starts a detached thread that ends the process with _exit(0) after
 * seconds, logging why: a daemon's shutdown must not hang (nng 1.5.2 can
 * block in nng_close, nng issue #1813). Call it once state is safe. */
void sr_exit_watchdog(const char *who, int seconds);

#endif
