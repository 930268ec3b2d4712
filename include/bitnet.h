/*
 * bitnet.h - public API of libbitnet, a C library for 1.58-bit (ternary) neural networks.
 *
 * Every function that can fail returns a bn_status; on failure bn_last_error() gives a message
 * (thread-local) naming the file, tensor or field at fault. Handles are opaque.
 */
#ifndef BITNET_H
#define BITNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BN_VERSION_MAJOR 0
#define BN_VERSION_MINOR 1
#define BN_VERSION_PATCH 0

/* Status codes. Values are part of the ABI and never change; new codes are appended. */
typedef enum bn_status {
    BN_OK = 0,
    BN_ERR_INVALID_ARG = 1,   /* a caller passed a bad argument */
    BN_ERR_OUT_OF_MEMORY = 2, /* an allocation failed */
    BN_ERR_IO = 3,            /* open/read/write/mmap failed (errno kept in the message) */
    BN_ERR_FORMAT = 4,        /* a file or request is malformed */
    BN_ERR_UNSUPPORTED = 5,   /* valid, but not supported by this build or machine */
    BN_ERR_SHAPE = 6,         /* tensor shapes do not fit together */
    BN_ERR_DTYPE = 7,         /* unknown or wrong data type */
    BN_ERR_NOT_FOUND = 8,     /* a named key, tensor or file is missing */
    BN_ERR_RANGE = 9,         /* a value is outside its allowed range */
    BN_ERR_CUDA = 10,         /* a CUDA runtime call failed */
    BN_ERR_THREAD = 11,       /* creating or joining a thread failed */
    BN_ERR_INTERNAL = 12,     /* an invariant of the library broke: a bug */
    BN_STATUS_COUNT
} bn_status;

/* Fixed English text of a status code ("out of memory"); never NULL. */
const char *bn_status_str(bn_status status);

/* Message of the last error raised on this thread, or "" when none. */
const char *bn_last_error(void);

/* Forget the last error of this thread. */
void bn_clear_error(void);

/* Version string, e.g. "0.1.0". */
const char *bn_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_H */
