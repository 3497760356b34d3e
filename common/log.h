/*
 * Logging, and the daemons' shutdown watchdog. The library logs through
 * sr_log_to, so that an embedding program's callback (snowrange/log.h)
 * receives its messages; the daemons use sr_log.
 */
#ifndef SR_LOG_H
#define SR_LOG_H

#include "snowrange/log.h"

/* Logs one line to stderr: "2026-11-21T23:59:01.123Z master: text". */
void sr_log(const char *who, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats one message and hands it to fn with its level; with fn NULL it
 * goes to stderr as sr_log(who, ...) does. The library logs through this,
 * so that an embedding program decides where its messages go. */
void sr_log_to(sr_log_fn fn, void *arg, sr_log_level level, const char *who,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Starts a detached thread that ends the process with _exit(0) after
 * seconds, logging why: a daemon's shutdown must not hang (nng 1.5.2 can
 * block in nng_close, nng issue #1813). Call it once state is safe. */
void sr_exit_watchdog(const char *who, int seconds);

#endif
