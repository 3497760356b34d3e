/*
 * How libsnowrange reports what callers do not see in a return code (a new
 * worker id, a chunk refused, a poisoned 2PC log): by default one line on
 * stderr, "2026-01-01T00:00:00.000Z NAME: message"; with a callback in the
 * coordinator's config (or on a 2PC log handle) the message goes there
 * instead, with its level, and nothing is written to stderr.
 */
#ifndef SNOWRANGE_LOG_H
#define SNOWRANGE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/* How much a message matters. Values are stable; a caller that filters
 * compares with <=. */
typedef enum sr_log_level {
	SR_LOG_ERROR = 1, /* something failed that the caller must act on */
	SR_LOG_WARN = 2,  /* something unexpected, handled */
	SR_LOG_INFO = 3   /* a change worth recording (a new worker id) */
} sr_log_level;

/*
 * Receives one message: a NUL-terminated line without a newline, valid only
 * during the call. It is called from the library's background threads as
 * well as the caller's, possibly at the same time, so it must be
 * thread-safe, must return quickly and must not call back into the handle
 * that logged.
 */
typedef void (*sr_log_fn)(void *arg, sr_log_level level, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
