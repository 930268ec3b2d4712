/* status.c - status code names and the thread-local last-error message. */
#include "base/status.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BN_STR_(x) #x
#define BN_STR(x)  BN_STR_(x)

static const char *const status_names[BN_STATUS_COUNT] = {
    [BN_OK] = "ok",
    [BN_ERR_INVALID_ARG] = "invalid argument",
    [BN_ERR_OUT_OF_MEMORY] = "out of memory",
    [BN_ERR_IO] = "I/O error",
    [BN_ERR_FORMAT] = "malformed input",
    [BN_ERR_UNSUPPORTED] = "unsupported",
    [BN_ERR_SHAPE] = "shape mismatch",
    [BN_ERR_DTYPE] = "bad data type",
    [BN_ERR_NOT_FOUND] = "not found",
    [BN_ERR_RANGE] = "value out of range",
    [BN_ERR_CUDA] = "CUDA error",
    [BN_ERR_THREAD] = "thread error",
    [BN_ERR_INTERNAL] = "internal error",
};

static _Thread_local char last_message[BN_ERROR_MAX];
static _Thread_local char last_location[128];

const char *bn_status_str(bn_status status) {
    if ((int)status < 0 || status >= BN_STATUS_COUNT)
        return "unknown status";
    return status_names[status];
}

const char *bn_last_error(void) {
    return last_message;
}

const char *bn_last_error_location(void) {
    return last_location;
}

void bn_clear_error(void) {
    last_message[0] = '\0';
    last_location[0] = '\0';
}

const char *bn_version(void) {
    return BN_STR(BN_VERSION_MAJOR) "." BN_STR(BN_VERSION_MINOR) "." BN_STR(BN_VERSION_PATCH);
}

bn_status bn_error_at(const char *file, int line, bn_status code, const char *fmt, ...) {
    char message[BN_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof message)
        memcpy(message + sizeof message - 4, "...", 4);
    /* Format into a local first: fmt's arguments may point into last_message itself. */
    memcpy(last_message, message, sizeof message);
    const char *base = strrchr(file, '/');
    snprintf(last_location, sizeof last_location, "%s:%d", base ? base + 1 : file, line);
    bn_log(BN_LOG_DEBUG, "error raised at %s: %s (%s)", last_location, last_message,
           bn_status_str(code));
    return code;
}
