/*
 * q6h_gemm.h - Q6H weight x Q8_0 activation products, for the output head re-encoded as Q6H
 * (tensor/formats.h: 26 bytes per 32 weights instead of Q8_0's 34). Generation reads the whole
 * head for every token and is bound by memory bandwidth, so fewer bytes is a faster token.
 *
 * The contract is Q8_0's (q8_gemm.h) with the weight codes taken from a Q6H block: each block
 * is decoded to its f16 scale d and 32 int8 codes in [-31, 31] (bn_q6h_codes), and from there
 * the activations (bn_q8_quantize_acts), the integer lane products p_{b,l}, the scale
 * s_b = wd_b * xd_b, the in-order FMA chains acc_l = fmaf(s_b, (float)p_{b,l}, acc_l) and the
 * final reduction are exactly Q8_0's. So every variant gives the reference's bits, and a Q6H
 * head equals a Q8_0 head whose codes happen to be the Q6H ones.
 */
#ifndef BN_KERNELS_CPU_Q6H_GEMM_H
#define BN_KERNELS_CPU_Q6H_GEMM_H

#include "kernels/cpu/q8_gemm.h"

/* y[M, N] = W . x^T, row-major y[m * n + row]. w: N rows of K/32 Q6H blocks; xq, xd from
 * bn_q8_quantize_acts. Threads over rows through pool (NULL: the caller alone). BN_ERR_SHAPE
 * unless n, k, m > 0 and k % 32 == 0. */
bn_status bn_q6h_gemm(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                      int64_t m, float *y, bn_threadpool *pool);

/* The specification, with plain loops; shapes as for bn_q6h_gemm, unchecked. */
void bn_q6h_gemm_ref(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                     int64_t m, float *y);

/* Kernel variants: rows [n0, n1) of y for all M tokens; n is the stride of y. Same signature
 * as bn_q8_kernel_fn. */
void bn_q6h_kernel_scalar(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                          int64_t m, int64_t n0, int64_t n1, float *y);
#if defined(__x86_64__)
/* q6h_avx2.c: AVX2 + FMA + F16C (also what the AVX-512 path runs: the decode, not the integer
 * product, is the work per byte, and VNNI would not shorten it). */
void bn_q6h_kernel_avx2(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                        int64_t m, int64_t n0, int64_t n1, float *y);
#endif

/* The variant for a path, or NULL when this build has none for it (neon: the scalar kernel
 * runs). */
bn_q8_kernel_fn bn_q6h_kernel_for(bn_isa isa);

#endif /* BN_KERNELS_CPU_Q6H_GEMM_H */
