/*
 * status.h - raising errors inside the library.
 *
 * BN_ERROR(code, fmt, ...) formats a message into the thread-local last-error buffer, records the
 * source location for debugging (shown at BITNET_LOG=debug) and returns the code, so a failing
 * path reads `return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s' ...", path, name);`.
 */
#ifndef BN_BASE_STATUS_H
#define BN_BASE_STATUS_H

#include "bitnet.h"

#if defined(__GNUC__)
#define BN_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define BN_PRINTF(fmt_idx, arg_idx)
#endif

/* Longest message kept; longer ones are cut with "...". */
#define BN_ERROR_MAX 1024

#ifdef __cplusplus
extern "C" {
#endif

bn_status bn_error_at(const char *file, int line, bn_status code, const char *fmt, ...)
    BN_PRINTF(4, 5);

/* The location (file:line) of the last error on this thread, "" when none. */
const char *bn_last_error_location(void);

#ifdef __cplusplus
}
#endif

#define BN_ERROR(code, ...) bn_error_at(__FILE__, __LINE__, (code), __VA_ARGS__)

/* Propagate a failing status unchanged (the message is already set). */
#define BN_TRY(expr)                                                                               \
    do {                                                                                           \
        bn_status bn_try_status_ = (expr);                                                         \
        if (bn_try_status_ != BN_OK)                                                               \
            return bn_try_status_;                                                                 \
    } while (0)

#endif /* BN_BASE_STATUS_H */
