/*
 * log.h - leveled logging to stderr.
 *
 * The level comes from BITNET_LOG=error|warn|info|debug (default warn), read once. Library code
 * logs; it never prints to stdout, which belongs to the CLI's output.
 */
#ifndef BN_BASE_LOG_H
#define BN_BASE_LOG_H

#include "base/status.h"

typedef enum bn_log_level {
    BN_LOG_ERROR = 0,
    BN_LOG_WARN = 1,
    BN_LOG_INFO = 2,
    BN_LOG_DEBUG = 3,
} bn_log_level;

/* Current threshold: messages at a level above it are dropped. */
bn_log_level bn_log_get_level(void);

/* Override the level from code (tests, --verbose). */
void bn_log_set_level(bn_log_level level);

/* Parse "error"/"warn"/"info"/"debug" (any case; "warning" too); BN_ERR_INVALID_ARG on anything
 * else. BITNET_LOG is read with the same names; an unknown value is warned about once. */
bn_status bn_log_parse_level(const char *name, bn_log_level *out);

void bn_log(bn_log_level level, const char *fmt, ...) BN_PRINTF(2, 3);

#endif /* BN_BASE_LOG_H */
