/*
 * Small helpers shared by every room, needing nothing but libc: name
 * checks, number parsing, clocks and a bounded string copy. Logging is in
 * log.h, the option parser in options.h.
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

/*
 * Formats an error message into buf (len bytes), cut if too long; nothing
 * when buf is NULL or len is 0. Every module reports errors this way, so
 * callers read "return SR_ERRF(buf, len, SR_EINVAL, "bad %s", x)".
 */
void sr_errfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* sr_errfmt, then yields code. A macro, not a function, so that the
 * compiler sees the constant code at every `return SR_ERRF(...)`: a
 * variadic function is never inlined, and gcc -O3 would otherwise assume
 * such a return might be SR_OK and warn that the caller reads out-parameters
 * the failing path never set. */
#define SR_ERRF(buf, len, code, ...) (sr_errfmt((buf), (len), __VA_ARGS__), (code))

/* Copies src into dst (size dstlen), always NUL-terminated; returns false
 * when src did not fit. */
bool sr_strlcpy(char *dst, const char *src, size_t dstlen);

#endif
