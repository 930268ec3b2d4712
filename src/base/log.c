/* log.c - leveled logging to stderr, level from BITNET_LOG. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static atomic_int current_level = BN_LOG_WARN;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

/* The level a name means, in any case ("DEBUG", "Warn"), or -1. Raises nothing: it runs
 * inside the pthread_once that reads BITNET_LOG, where raising (which logs, which asks for the
 * level, which waits for that same once) would deadlock. */
static int level_of(const char *name) {
    for (int i = 0; i <= BN_LOG_DEBUG; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return strcasecmp(name, "warning") == 0 ? BN_LOG_WARN : -1;
}

bn_status bn_log_parse_level(const char *name, bn_log_level *out) {
    int level = level_of(name);
    if (level < 0)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "unknown log level '%s' (want error, warn, info or debug)", name);
    *out = (bn_log_level)level;
    return BN_OK;
}

/* Runs once per process. An unknown value is reported once, straight to stderr (not through
 * bn_log, which would wait for this very once), and the default stays. */
static void read_env_level(void) {
    const char *env = getenv("BITNET_LOG");
    if (env == NULL || env[0] == '\0')
        return;
    int level = level_of(env);
    if (level >= 0)
        atomic_store(&current_level, level);
    else
        fprintf(stderr,
                "bitnet: warn: BITNET_LOG='%.64s' is not error, warn, info or debug; using warn\n",
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
    char line[2048], shown[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Messages quote files (tensor names, keys): their control characters are shown as \xNN,
     * so that a file cannot move the cursor or reprogram the terminal through a warning. */
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)line; *p && k + 5 < sizeof shown; p++) {
        if (*p < 0x20 || *p == 0x7F)
            k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", *p);
        else
            shown[k++] = (char)*p;
    }
    shown[k] = '\0';
    fprintf(stderr, "bitnet: %s: %s\n", level_names[level], shown);
}
