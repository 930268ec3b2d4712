/* log.c - leveled logging to stderr, level from BITNET_LOG. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static atomic_int current_level = BN_LOG_WARN;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

bn_status bn_log_parse_level(const char *name, bn_log_level *out) {
    for (int i = 0; i <= BN_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (bn_log_level)i;
            return BN_OK;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = BN_LOG_WARN;
        return BN_OK;
    }
    return BN_ERROR(BN_ERR_INVALID_ARG, "unknown log level '%s' (want error, warn, info or debug)",
                    name);
}

static void read_env_level(void) {
    const char *env = getenv("BITNET_LOG");
    if (env == NULL || env[0] == '\0')
        return;
    bn_log_level level;
    if (bn_log_parse_level(env, &level) == BN_OK)
        atomic_store(&current_level, level);
    else
        fprintf(stderr, "bitnet: warn: BITNET_LOG='%s' is not error|warn|info|debug; using warn\n",
                env);
}

bn_log_level bn_log_get_level(void) {
    pthread_once(&level_once, read_env_level);
    return (bn_log_level)atomic_load(&current_level);
}

void bn_log_set_level(bn_log_level level) {
    pthread_once(&level_once, read_env_level);
    atomic_store(&current_level, level);
}

void bn_log(bn_log_level level, const char *fmt, ...) {
    if (level > bn_log_get_level())
        return;
    /* One fprintf per message so lines from different threads do not interleave. */
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bitnet: %s: %s\n", level_names[level], line);
}
