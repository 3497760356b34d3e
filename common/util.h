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

/* Copies src into dst (size dstlen), always NUL-terminated; returns false
 * when src did not fit. */
bool sr_strlcpy(char *dst, const char *src, size_t dstlen);

#endif
