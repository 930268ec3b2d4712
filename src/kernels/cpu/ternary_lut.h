/*
 * ternary_lut.h - an experimental lookup-table ternary GEMV/GEMM (in the manner of T-MAC and
 * bitnet.cpp's TL1), with the contract of ternary_gemm.h:
 *
 *     y[m][n] = (float)acc[m][n] * (w_scale / x_scale[m]),  acc[m][n] = sum_k W[n][k] * xq[m][k]
 *
 * exact, so every path equals bn_ternary_gemm_ref bit for bit.
 *
 * Activations are taken in pairs (groups) g = (x[2g], x[2g+1]). For each group and token a
 * 16-entry table holds T[c0 | c1 << 2] = (c0 - 1) x[2g] + (c1 - 1) x[2g+1] for the codes
 * c = w + 1 in {0, 1, 2} (entries with a code 3 are 0 and never looked up). Entries lie in
 * [-256, 256] (256 = two products (-1)(-128)), so they are int16, stored as two 16-byte tables
 * for VPSHUFB: the low bytes and the high bytes.
 *
 * Weight layout ("lut2x32"): rows are cut into chunks of 32 rows (the last one padded with
 * w = 0), K into steps of two groups (4 values, padded with w = 0; x is padded with 0 when the
 * tables are built). A chunk is stored contiguously, one 32-byte record per step:
 *     byte i      (i < 16): low nibble = index of row i, group 2s; high nibble = row i + 16
 *     byte 16 + i (i < 16): the same for group 2s + 1.
 * So one 32-byte load serves both 128-bit lanes of a VPSHUFB whose lane 0 holds the table of
 * group 2s and lane 1 that of group 2s + 1. 2 bits per weight, as in i2v.
 *
 * Tables of one token ("lut tables"): one 64-byte record per step: the low bytes of group 2s,
 * of group 2s + 1, then their high bytes (two 32-byte vectors, lane order as the weights).
 */
#ifndef BN_KERNELS_CPU_TERNARY_LUT_H
#define BN_KERNELS_CPU_TERNARY_LUT_H

#include "base/cpu.h"
#include "base/threadpool.h"

#include <stddef.h>
#include <stdint.h>

/* Rows per chunk, values per step, table bytes per step. */
#define BN_LUT_CHUNK_ROWS  32
#define BN_LUT_STEP_VALUES 4
#define BN_LUT_STEP_BYTES  32
#define BN_LUT_TABLE_BYTES 64

typedef struct bn_ternary_lut_matrix {
    int64_t rows, cols; /* logical N, K */
    int64_t chunks;     /* ceil(N / 32) */
    int64_t steps;      /* ceil(K / 4) */
    float scale;        /* w_scale (gamma) */
    uint8_t *data;      /* chunks * steps * 32 bytes, 64-byte aligned, owned */
    size_t bytes;
} bn_ternary_lut_matrix;

/* Repack ternary t[rows, cols] in {-1, 0, 1} (row-major). BN_ERR_RANGE naming the index of a
 * value outside {-1, 0, 1}; BN_ERR_INVALID_ARG for rows or cols < 1; BN_ERR_OUT_OF_MEMORY. */
bn_status bn_ternary_lut_pack(bn_ternary_lut_matrix *m, const int8_t *t, int64_t rows, int64_t cols,
                              float scale);

void bn_ternary_lut_free(bn_ternary_lut_matrix *m);

/* Bytes of the tables of `tokens` tokens (the scratch bn_ternary_lut_gemm needs). */
size_t bn_ternary_lut_tables_bytes(const bn_ternary_lut_matrix *w, int64_t tokens);

/* Build the tables of m tokens: xq[m rows of x_stride, first w->cols used] -> tables[m][steps]
 * records. The scalar builder is the specification; the AVX2 one writes the same bytes. */
void bn_ternary_lut_build_tables_scalar(const bn_ternary_lut_matrix *w, const int8_t *xq,
                                        int64_t x_stride, int64_t m, uint8_t *tables);
void bn_ternary_lut_build_tables_avx2(const bn_ternary_lut_matrix *w, const int8_t *xq,
                                      int64_t x_stride, int64_t m, uint8_t *tables);

/* Rows [n0, n1) of y[m][w->rows] from built tables; n0 is a multiple of 32, n1 a multiple of
 * 32 or w->rows. */
typedef void (*bn_ternary_lut_kernel_fn)(const bn_ternary_lut_matrix *w, const uint8_t *tables,
                                         const float *x_scale, int64_t m, int64_t n0, int64_t n1,
                                         float *y);
void bn_ternary_lut_kernel_scalar(const bn_ternary_lut_matrix *w, const uint8_t *tables,
                                  const float *x_scale, int64_t m, int64_t n0, int64_t n1,
                                  float *y);
void bn_ternary_lut_kernel_avx2(const bn_ternary_lut_matrix *w, const uint8_t *tables,
                                const float *x_scale, int64_t m, int64_t n0, int64_t n1, float *y);

/* y[m][w->rows] = W . xq. xq rows are x_stride >= w->cols long (bn_act_quant_row rows, or
 * bn_ternary_quantize_acts rows of cols_padded). tables is caller-owned scratch of
 * bn_ternary_lut_tables_bytes(w, m) bytes, 32-byte aligned. The tables are built on the
 * calling thread, then rows are spread over pool (may be NULL). isa: BN_ISA_SCALAR or
 * BN_ISA_AVX2 (BN_ERR_UNSUPPORTED for any other, or when the CPU lacks it). */
bn_status bn_ternary_lut_gemm(const bn_ternary_lut_matrix *w, const int8_t *xq, int64_t x_stride,
                              const float *x_scale, int64_t m, uint8_t *tables, float *y,
                              bn_threadpool *pool, bn_isa isa);

#endif /* BN_KERNELS_CPU_TERNARY_LUT_H */
