/*
 * Small helpers shared by every room: name checks, number parsing, clocks,
 * logging and the daemons' shutdown watchdog. The option parser is in
 * options.h.
 */
#ifndef SR_UTIL_H
#define SR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snowrange/log.h"

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
