/*
 * npy.h - NumPy .npy files (format 1.0) of float32, written for tests and for anyone comparing
 * implementations (`bitnet logits --out FILE.npy`).
 */
#ifndef BN_IO_NPY_H
#define BN_IO_NPY_H

#include "base/status.h"

#include <stdint.h>
#include <stdio.h>

/* Write data[shape[0] * ... ] as little-endian float32 with 1 or 2 dimensions, to a temporary
 * file renamed onto path once complete (io/outfile.h). */
bn_status bn_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim);

/* The same bytes to a stream (stdout); name is used in messages. */
bn_status bn_npy_write_f32_stream(FILE *out, const char *name, const float *data,
                                  const int64_t *shape, int ndim);

#endif /* BN_IO_NPY_H */
