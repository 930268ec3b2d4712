/*
 * q8_gemm.h - Q8_0 weight x Q8_0 activation products, for the layers that are not ternary
 * (the output head of bitnet-b1.58-2B-4T: 128256 x 2560, tied to the embeddings). Decode is a
 * GEMV (M = 1) that must run at the memory-bandwidth limit; prefill with logits is a GEMM.
 *
 * Weights: Q8_0 rows [N, K], K % 32 == 0, exactly as GGUF stores them (bn_block_q8_0: f16 d,
 * then 32 int8 q; K/32 blocks of 34 bytes per row). There is no repack: the kernels read the
 * mapped file directly (unaligned 32-byte loads cost nothing measurable against a stream from
 * memory), and the same bytes serve the embedding lookup of the tied head.
 *
 * Activations: each row of x[M, K] is cut into blocks of 32 and quantized as llama.cpp's
 * quantize_row_q8_0 does (d = absmax / 127, q = roundf(x / d) computed as x * (1/d)), except
 * that d is kept as a float instead of being rounded to f16: rounding d costs up to 2^-11
 * relative error per block for nothing, since activations are never stored. The codes are
 * those bn_q8_0_from_f32 writes, bit for bit. No per-block sums are needed: the kernels use
 * the sign trick below, not an unsigned offset that a sum would have to cancel.
 *
 * The product, and the float arithmetic every path follows exactly. For output y[m][n], with
 * nb = K/32 blocks, block b of W row n (scale wd_b = bn_f16_to_f32(d), codes w) and of x row m
 * (scale xd_b, codes x), and lanes l = 0..7 of 4 consecutive codes each:
 *
 *     p_{b,l} = sum_{j=0..3} w[32b + 4l + j] * x[32b + 4l + j]          (int32, exact)
 *     s_b     = wd_b * xd_b                                               (one float multiply)
 *     acc_l   = fmaf(s_b, (float)p_{b,l}, acc_l)   for b = 0, 1, ..., nb-1, from acc_l = 0
 *     y[m][n] = ((acc_0 + acc_4) + (acc_2 + acc_6)) + ((acc_1 + acc_5) + (acc_3 + acc_7))
 *
 * That is one 256-bit register of eight float accumulators per output, reduced at the end by
 * the cheapest horizontal sum of a __m256: eight lanes in parallel but blocks strictly in
 * order within a lane, so a SIMD path needs no reassociation and gives the scalar reference's
 * bits (|p| <= 4 * 128 * 127 < 2^24, so (float)p is exact, and FMA rounds once everywhere).
 *
 * Integer dot products use the sign trick: |w| is unsigned, the sign of w moves onto x, and
 * a u8 x s8 product (vpmaddubsw then vpmaddwd on AVX2, vpdpbusd on AVX-512 VNNI) gives w * x.
 * |w| = 128 for w = -128 is still a valid u8, so any weight byte works; x = -128 would not
 * negate, so activation codes must lie in [-127, 127], which bn_q8_quantize_acts guarantees.
 * With |w| <= 128 and |x| <= 127 the pair sums of vpmaddubsw (at most 32512) never saturate.
 */
#ifndef BN_KERNELS_CPU_Q8_GEMM_H
#define BN_KERNELS_CPU_Q8_GEMM_H

#include "base/cpu.h"
#include "base/threadpool.h"
#include "tensor/formats.h"

#include <stdint.h>

/* Values per block, of weights and activations alike (BN_QK8_0 in tensor/formats.h). */
#define BN_Q8_BLOCK 32

/* Quantize x[M, K] (K % 32 == 0) into xq[M, K] int8 codes in [-127, 127] and xd[M, K/32]
 * float scales, x ~= xd * xq block by block (layout above). A block of zeros gets d = 0 and
 * codes 0. x should be finite: a NaN gets code 0; an Inf makes its block's codes 0 and d
 * infinite, so the products that use the block come out NaN. */
void bn_q8_quantize_acts(const float *x, int64_t m, int64_t k, int8_t *xq, float *xd);

/* y[M, N] = W . x^T as specified above, row-major y[m * n + row]. w: N rows of K/32 Q8_0
 * blocks; xq, xd from bn_q8_quantize_acts. Threads over rows through pool (NULL: the caller
 * alone). The kernel is the one for bn_cpu_isa(); a path without a Q8_0 variant of its own
 * (neon, for now) runs the scalar kernel. BN_ERR_SHAPE unless n, k, m > 0 and k % 32 == 0. */
bn_status bn_q8_gemm(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                     int64_t m, float *y, bn_threadpool *pool);

/* The specification: the formula above with plain loops, one output at a time. Shapes as for
 * bn_q8_gemm, unchecked. */
void bn_q8_gemm_ref(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                    int64_t m, float *y);

/* ---- kernel variants (scalar here, one per ISA file), all with the same contract ---------
 * Compute rows [n0, n1) of y for all M tokens, y[mi * n + row]; n is the full row count (the
 * stride of y). Every variant gives the reference's bits. Declared here so that the
 * dispatcher and the tests can reach each one. */
typedef void (*bn_q8_kernel_fn)(const void *w, int64_t n, int64_t k, const int8_t *xq,
                                const float *xd, int64_t m, int64_t n0, int64_t n1, float *y);

void bn_q8_kernel_scalar(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                         int64_t m, int64_t n0, int64_t n1, float *y);
#if defined(__x86_64__)
/* q8_avx2.c: AVX2 + FMA + F16C. */
void bn_q8_kernel_avx2(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                       int64_t m, int64_t n0, int64_t n1, float *y);
/* q8_avx512.c: AVX-512 F/BW/DQ/VL + VNNI. */
void bn_q8_kernel_avx512(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                         int64_t m, int64_t n0, int64_t n1, float *y);
#endif

/* The variant for a path, or NULL when this build has none for it. */
bn_q8_kernel_fn bn_q8_kernel_for(bn_isa isa);

/* ---- the loop every SIMD variant shares --------------------------------------------------
 * A variant supplies two tile functions (compiled for its ISA): out[r * tokens + t] = row w[r]
 * (ahead[r] prefetched alongside) times token x[t] (scales xd[t]), for a fixed rows x tokens.
 * bn_q8_run_tiles walks rows [n0, n1) and all M tokens in those tiles (GEMV tiles when M = 1),
 * repeating the last row or token to fill a short tile and dropping those results. */
typedef void (*bn_q8_tile_fn)(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead,
                              const int8_t *const *x, const float *const *xd, int64_t nb,
                              float *out);

typedef struct bn_q8_tiles {
    bn_q8_tile_fn gemv, gemm;
    int gemv_rows, gemm_rows, gemm_tokens; /* each at most BN_Q8_MAX_TILE_SIDE, products 16 */
    int prefetch_rows;                     /* how many rows ahead `ahead` points */
} bn_q8_tiles;

#define BN_Q8_MAX_TILE_SIDE 16

void bn_q8_run_tiles(const bn_q8_tiles *tiles, const void *w, int64_t n, int64_t k,
                     const int8_t *xq, const float *xd, int64_t m, int64_t n0, int64_t n1,
                     float *y);

#endif /* BN_KERNELS_CPU_Q8_GEMM_H */
