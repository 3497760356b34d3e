/*
 * snowrange error codes, shared by every public header.
 *
 * One enum, 0 = success, generated from one X-macro table together with
 * sr_strerror() and sr_errname() (the libuv UV_ERRNO_MAP pattern). Codes are
 * stable on the wire and in scripts: new ones are added at the end only.
 */
#ifndef SNOWRANGE_ERROR_H
#define SNOWRANGE_ERROR_H

#include "snowrange/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description) */
#define SR_ERRNO_MAP(X)                                                  \
	X(OK, 0, "success")                                              \
	X(EINVAL, 1, "invalid argument")                                 \
	X(ENOMEM, 2, "out of memory")                                    \
	X(EIO, 3, "storage I/O error")                                   \
	X(ENOTFOUND, 4, "not found")                                     \
	X(EEXISTS, 5, "already exists")                                  \
	X(EEXHAUSTED, 6, "sequence exhausted (max value reached)")       \
	X(EUNAVAILABLE, 7, "no IDs available (master unreachable)")      \
	X(ETIMEDOUT, 8, "timed out")                                     \
	X(EPROTO, 9, "malformed message")                                \
	X(EVERSION, 10, "unsupported protocol version")                  \
	X(ETOOBIG, 11, "request too large")                              \
	X(ECLOCK, 12, "clock moved backwards")                           \
	X(ENOWORKER, 13, "no live worker id lease")                      \
	X(ESTALE, 14, "stale fencing term")                              \
	X(ECLOSED, 15, "closed")                                         \
	X(ECONNECT, 16, "cannot reach peer")                             \
	X(EINTERNAL, 17, "internal error")                               \
	X(ENOTJOINED, 18, "node is not joined to the master")            \
	X(EACCES, 19, "permission denied (missing credentials or role)") \
	X(ENOTLEADER, 20, "not the leading master (ask the leader)")

/* The expansion ends in a comma clang-format cannot see. */
/* clang-format off */
typedef enum sr_err {
#define SR_ERR_ENUM(name, value, desc) SR_##name = value,
	SR_ERRNO_MAP(SR_ERR_ENUM)
#undef SR_ERR_ENUM
	SR_ERR_MAX
} sr_err;
/* clang-format on */

/* Returns a static, human-readable description of err ("unknown error" for
 * values outside the table). Never NULL. */
SR_EXPORT const char *sr_strerror(int err);

/* Returns the symbolic name of err without the prefix ("EEXHAUSTED"), for
 * machine-readable output. Never NULL. */
SR_EXPORT const char *sr_errname(int err);

#ifdef __cplusplus
}
#endif
#endif
