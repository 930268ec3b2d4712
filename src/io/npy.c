/*
 * npy.c - the .npy header: magic, version 1.0, a little-endian u16 header length, then a
 * Python dict literal padded with spaces and a newline so the data starts 64-byte aligned.
 */
#include "io/npy.h"

#include "io/outfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The header for shape, padded so the data starts 64-byte aligned: into header[256], *n its
 * bytes. */
static bn_status make_header(const int64_t *shape, int ndim, char *header, size_t *n) {
    if (ndim < 1 || ndim > 2)
        return BN_ERROR(BN_ERR_INVALID_ARG, "npy: %d dimensions (1 or 2)", ndim);
    char dict[128];
    int k = ndim == 1
                ? snprintf(dict, sizeof dict,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld,), }",
                           (long long)shape[0])
                : snprintf(dict, sizeof dict,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                           (long long)shape[0], (long long)shape[1]);
    size_t total = 10 + (size_t)k + 1, pad = (64 - total % 64) % 64;
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    uint16_t hlen = (uint16_t)(k + pad + 1);
    header[8] = (char)(hlen & 0xFF);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)k);
    memset(header + 10 + k, ' ', pad);
    header[10 + k + pad] = '\n';
    *n = total + pad;
    return BN_OK;
}

static size_t count_of(const int64_t *shape, int ndim) {
    return (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
}

bn_status bn_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim) {
    char header[256];
    size_t n = 0;
    BN_TRY(make_header(shape, ndim, header, &n));
    /* A temporary file renamed into place (io/outfile.h): a full disk or a second writer never
     * leaves a truncated or interleaved file where the old one was. */
    bn_outfile f;
    BN_TRY(bn_outfile_open(&f, path));
    bn_status st = bn_outfile_write(&f, header, n);
    if (st == BN_OK)
        st = bn_outfile_write(&f, data, count_of(shape, ndim) * sizeof(float));
    if (st != BN_OK) {
        bn_outfile_discard(&f);
        return st;
    }
    return bn_outfile_commit(&f);
}

bn_status bn_npy_write_f32_stream(FILE *out, const char *name, const float *data,
                                  const int64_t *shape, int ndim) {
    char header[256];
    size_t n = 0, count = count_of(shape, ndim);
    BN_TRY(make_header(shape, ndim, header, &n));
    if (fwrite(header, 1, n, out) != n || fwrite(data, sizeof(float), count, out) != count ||
        fflush(out) != 0)
        return BN_ERROR(BN_ERR_IO, "%s: write failed: %s", name, strerror(errno));
    return BN_OK;
}
