/*
 * npy.c - the .npy header: magic, version 1.0, a little-endian u16 header length, then a
 * Python dict literal padded with spaces and a newline so the data starts 64-byte aligned.
 */
#include "io/npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

bn_status bn_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim) {
    if (ndim < 1 || ndim > 2)
        return BN_ERROR(BN_ERR_INVALID_ARG, "npy: %d dimensions (1 or 2)", ndim);
    char dict[128];
    int n = ndim == 1
                ? snprintf(dict, sizeof dict,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld,), }",
                           (long long)shape[0])
                : snprintf(dict, sizeof dict,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                           (long long)shape[0], (long long)shape[1]);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    char header[256];
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    uint16_t hlen = (uint16_t)(n + pad + 1);
    header[8] = (char)(hlen & 0xFF);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)n);
    memset(header + 10 + n, ' ', pad);
    header[10 + n + pad] = '\n';
    size_t count = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return BN_ERROR(BN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    bool ok = fwrite(header, 1, total + pad, f) == total + pad &&
              fwrite(data, sizeof(float), count, f) == count;
    if (fclose(f) != 0 || !ok)
        return BN_ERROR(BN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return BN_OK;
}
