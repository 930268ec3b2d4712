/*
 * ternary_gemm.h - ternary weight x int8 activation products (BitLinear), for decode (GEMV,
 * M = 1) and prefill / batched decode (GEMM, M > 1).
 *
 *     y[m][n] = (float)acc[m][n] * (w_scale / x_scale[m]),  acc[m][n] = sum_k W[n][k] * xq[m][k]
 *
 * W is ternary [N, K] with one per-tensor scale w_scale (gamma); xq is int8 [M, K] from
 * bn_act_quant_row (x ~= xq / x_scale). The integer accumulation is exact, and every path
 * computes the final float with the same expression, so fast paths equal the scalar reference
 * bit for bit.
 *
 * Runtime layout ("i2v<V>", V = 16, 32 or 64 bytes: the vector width of the ISA): each row of W
 * is cut into blocks of 4V values stored in V bytes; byte j of a block holds the codes c = w + 1
 * of values j, j+V, j+2V, j+3V at bits [1:0], [3:2], [5:4], [7:6]. Unpacking a V-byte vector
 * with one shift-and-mask per bit pair gives four vectors of codes for four runs of V
 * consecutive activations, so activations are read contiguously and the kernel needs no
 * shuffles. Codes are unsigned (0, 1, 2), which suits u8 x s8 dot products (vpmaddubsw,
 * vpdpbusd, udot after a sign fix): sum c*x = sum w*x + sum x, so the activation row sum is
 * subtracted once per row. K is padded to a whole block with code 1 (w = 0) and the activation
 * buffer with zeros, so padding adds nothing. 2 bits per weight.
 *
 * Runtime layout "t5v64" (BN_TERNARY_T5V, the avx512 and scalar paths): 1.6 bits per weight,
 * 20% fewer bytes for decode to stream. Blocks of 320 values in 64 bytes; byte j holds the
 * codes of values j, j+64, j+128, j+192, j+256 as five base-3 digits scaled by 256/243 (TQ1_0's
 * encoding, tensor/formats.h). Digit i of byte q is t_i = (3 q_i) >> 8 with q_0 = q and
 * q_(i+1) = 3 q_i mod 256, so 3 q_i - q_(i+1) = 256 t_i exactly: decode accumulates
 * A = sum q_i x_i and B = sum q_(i+1) x_i with two u8 x s8 dot products per digit and takes
 * (3A - B) / 256, with no per-digit extraction at all (ternary_t5_avx512.c). K is padded to
 * 320 with code 1.
 */
#ifndef BN_KERNELS_CPU_TERNARY_GEMM_H
#define BN_KERNELS_CPU_TERNARY_GEMM_H

#include "base/cpu.h"
#include "base/threadpool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which runtime layout a matrix is packed in (above). */
typedef enum bn_ternary_layout {
    BN_TERNARY_I2V = 0, /* i2v<V>: 2 bits a weight, every path */
    BN_TERNARY_T5V = 1, /* t5v64: 1.6 bits a weight, the avx512 and scalar paths */
} bn_ternary_layout;

typedef struct bn_ternary_matrix {
    int64_t rows, cols;       /* logical N, K */
    int64_t cols_padded;      /* K rounded up to a whole block (4V values; 320 for t5v64) */
    bn_ternary_layout layout; /* i2v<V> or t5v64 */
    int vbytes;               /* V: 16, 32 or 64 (64 for t5v64) */
    bn_isa isa;               /* the kernel path the layout was made for */
    float scale;              /* w_scale (gamma) */
    uint8_t *data;            /* rows * cols_padded / 4 bytes, 64-byte aligned, owned */
    size_t bytes;
} bn_ternary_matrix;

/* The layout's V for a kernel path: 64 for avx512, 32 for avx2 and scalar, 16 for neon. */
int bn_ternary_vbytes(bn_isa isa);

/* K rounded up to what the i2v layout of isa needs (the activation row length to allocate). */
int64_t bn_ternary_padded_cols(int64_t cols, bn_isa isa);

/* The same for any layout. */
int64_t bn_ternary_layout_padded_cols(int64_t cols, bn_isa isa, bn_ternary_layout layout);

/* Whether this build has a kernel for layout on path isa (t5v64: avx512 and scalar). */
bool bn_ternary_layout_runs_on(bn_ternary_layout layout, bn_isa isa);

/* The layout's name as the dtype table has it: "i2v16", "i2v32", "i2v64" or "t5v64". */
const char *bn_ternary_layout_name(bn_ternary_layout layout, bn_isa isa);

/* "i2" or "t5" (the user's words) to a layout; BN_ERR_INVALID_ARG naming the word otherwise. */
bn_status bn_ternary_layout_parse(const char *word, bn_ternary_layout *out);

/* Repack ternary values t[rows, cols] in {-1,0,1} (row-major) for isa in the i2v layout.
 * BN_ERR_RANGE naming the index for a value outside {-1,0,1}; BN_ERR_OUT_OF_MEMORY. */
bn_status bn_ternary_matrix_pack(bn_ternary_matrix *m, const int8_t *t, int64_t rows, int64_t cols,
                                 float scale, bn_isa isa);

/* The same in any layout; BN_ERR_UNSUPPORTED when isa has no kernel for it. */
bn_status bn_ternary_matrix_pack_layout(bn_ternary_matrix *m, const int8_t *t, int64_t rows,
                                        int64_t cols, float scale, bn_isa isa,
                                        bn_ternary_layout layout);

/* The same for a TQ2_0 tensor on a path whose layout is i2v32 (avx2, scalar): its bytes are
 * already that layout (bn_tq2_0_to_i2v32), so this copies instead of unpacking and packing.
 * *scale and m->scale get the file's scale; BN_ERR_UNSUPPORTED on other paths. */
bn_status bn_ternary_matrix_from_tq2_0(bn_ternary_matrix *m, const void *src, size_t src_bytes,
                                       int64_t rows, int64_t cols, bn_isa isa, float *scale);

/* The ternary values back (for tests and tools). */
void bn_ternary_matrix_unpack(const bn_ternary_matrix *m, int8_t *t);

void bn_ternary_matrix_free(bn_ternary_matrix *m);

/* Quantize M activation rows x[M, K] for W: xq[M, cols_padded] (zero-padded), scales[M],
 * sums[M] = sum of each xq row. */
void bn_ternary_quantize_acts(const bn_ternary_matrix *w, const float *x, int64_t m, int8_t *xq,
                              float *x_scale, int32_t *x_sum);

#if defined(__x86_64__)
/* bn_act_quant_row with AVX2 (act_quant_avx2.c), the same bits; bn_ternary_quantize_acts uses
 * it on the avx2 and avx512 paths. */
float bn_act_quant_row_avx2(const float *x, int64_t n, int8_t *q, int32_t *row_sum);
#endif

/* y[M, N] = W . xq (see above). xq rows are cols_padded long. pool may be NULL. The path is
 * the one the matrix was packed for (a matrix packed for another path than bn_cpu_isa() still
 * runs with its own path if the CPU has it, else BN_ERR_UNSUPPORTED). */
bn_status bn_ternary_gemm(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                          const int32_t *x_sum, int64_t m, float *y, bn_threadpool *pool);

/* The specification: plain loops over ternary t[N, K] and xq[M, K] (rows of length K,
 * unpadded), with the same final float expression. */
void bn_ternary_gemm_ref(const int8_t *t, float w_scale, int64_t n, int64_t k, const int8_t *xq,
                         const float *x_scale, int64_t m, float *y);

/* ---- kernel variants (one per ISA file), all with the same contract ----------------------
 * Compute rows [n0, n1) of y for all M tokens: y[mi * w->rows + n]. xq rows are
 * w->cols_padded long. Declared here so the dispatcher and tests can reach each variant. */
typedef void (*bn_ternary_kernel_fn)(const bn_ternary_matrix *w, const int8_t *xq,
                                     const float *x_scale, const int32_t *x_sum, int64_t m,
                                     int64_t n0, int64_t n1, float *y);

void bn_ternary_kernel_scalar(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                              const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y);
void bn_ternary_kernel_t5_scalar(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                                 const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y);

/* The variant for a path and layout, or NULL when this build has none. */
bn_ternary_kernel_fn bn_ternary_kernel_for(bn_isa isa, bn_ternary_layout layout);

#endif /* BN_KERNELS_CPU_TERNARY_GEMM_H */
