/*
 * kq_gemm.h - Q6_K and Q4_K weight x int8 activation products, for the output head that
 * llama-quantize writes as a k-quant (Q6_K for a tied token_embd / the output tensor, Q4_K for
 * an untied token_embd; 128256 x 2560 in bitnet-b1.58-2B-4T). Decode is a GEMV (M = 1) that must
 * run at the memory-bandwidth limit; prefill with logits is a GEMM. Same design as q8_gemm.h.
 *
 * Weights: rows [N, K] of Q6_K or Q4_K blocks (tensor/kquants.h), K % 256 == 0, exactly as GGUF
 * stores them: K/256 blocks of 210 (Q6_K) or 144 (Q4_K) bytes per row, read in place (no
 * repack), so the same mapped bytes also serve the embedding lookup of a tied head.
 *
 * Activations: each row of x[M, K] is cut into blocks of 256 and quantized like
 * bn_q8_quantize_acts does with 32 (d = absmax / 127 kept as a float, q = roundf(x * (1/d)),
 * codes in [-127, 127]), into a bn_kq_act_block per block, which also carries the integer sums
 * the kernels need (layout below). bn_kq_acts_bytes gives the buffer size.
 *
 * The product, and the float arithmetic every path follows exactly. For output y[m][n], with
 * nb = K/256 blocks, block b of W row n and of x row m (scale xd_b, codes x_e, e = 0..255), and
 * lanes l = 0..7 where code e belongs to lane (e >> 2) & 7 (4 consecutive codes out of every
 * 32, the lanes of one 256-bit register of int32 sums):
 *
 *   Q6_K (codes u_e in [0, 63], q_e = u_e - 32, int8 scales sc_j of the 16 codes 16j..16j+15,
 *   f16 scale d_b):
 *     P_{b,l} = sum_{e in lane l} sc_{e>>4} * q_e * x_e                      (int32, exact)
 *     acc_l   = fmaf(d_b * xd_b, (float)P_{b,l}, acc_l)   for b = 0, 1, ..., nb-1, from 0
 *     y[m][n] = H(acc)
 *
 *   Q4_K (codes u_e in [0, 15], 6-bit scale sc_j and min m_j of the 32 codes 32j..32j+31, f16
 *   scales d_b and dmin_b; the weight is d_b sc_j u_e - dmin_b m_j):
 *     P_{b,l} = sum_{e in lane l} sc_{e>>5} * u_e * x_e                      (int32, exact)
 *     N_{b,j} = m_j * S_{b,j},  S_{b,j} = sum_{e = 32j}^{32j+31} x_e          (int32, exact)
 *     acc_l   = fmaf(d_b * xd_b, (float)P_{b,l}, acc_l)
 *     mac_j   = fmaf(dmin_b * xd_b, (float)N_{b,j}, mac_j)   both for b in order, from 0
 *     y[m][n] = H(acc) - H(mac)
 *
 *   with H(a) = ((a_0 + a_4) + (a_2 + a_6)) + ((a_1 + a_5) + (a_3 + a_7)), the horizontal sum
 *   of q8_gemm.h, and each d_b * xd_b (dmin_b * xd_b) one float multiply of the f16 scale as
 *   bn_f16_to_f32 gives it and the activation scale.
 *
 * Bounds: |P| <= 32 codes * 128 * 32 * 127 = 16,646,144 < 2^24 for Q6_K (scales are int8, so
 * |sc| <= 128) and 32 * 63 * 15 * 127 = 3,840,480 for Q4_K; |N| <= 63 * 32 * 127 = 256,032. So
 * every int32 is exact, every (float) conversion is exact, and FMA rounds once per block in
 * every path: SIMD variants keep eight lanes side by side, never reassociate a lane's blocks,
 * and give the scalar reference's bits. (NaN payloads from non-finite scales may differ.)
 *
 * How the kernels get P: codes are unsigned (u), so u8 x s8 products (vpmaddubsw) take them
 * directly: pair sums u_{2i} x_{2i} + u_{2i+1} x_{2i+1} (|.| <= 63 * 127 * 2 < 2^15); for Q6_K
 * the activation block's pair32 = 32 (x_{2i} + x_{2i+1}) is subtracted, leaving q_e x_e pairs
 * (|.| <= 8128); vpmaddwd / vpdpwssd by the sub-block scales then adds two pairs into each int32
 * lane: 4 consecutive codes, lane (e >> 2) & 7 of each 32, summed over the block. No sign
 * trick is needed, so no int16 step can saturate even for an activation code of -128 (which
 * bn_kq_quantize_acts never writes).
 */
#ifndef BN_KERNELS_CPU_KQ_GEMM_H
#define BN_KERNELS_CPU_KQ_GEMM_H

#include "base/cpu.h"
#include "base/threadpool.h"
#include "tensor/dtype.h"
#include "tensor/kquants.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* Values per activation block (BN_QKK in tensor/kquants.h: one per weight super-block). */
#define BN_KQ_BLOCK 256

/* One block of 256 quantized activations. 576 bytes, so that in a 64-byte aligned buffer
 * (bn_aligned_alloc) every block's codes start on a cache line; the struct itself needs only
 * 4-byte alignment. Blocks of a row are consecutive, rows follow each other: block b of token m
 * is acts[m * (K/256) + b]. */
typedef struct bn_kq_act_block {
    int8_t q[BN_KQ_BLOCK];           /* codes in [-127, 127], x ~= d * q */
    int16_t pair32[BN_KQ_BLOCK / 2]; /* 32 * (q[2i] + q[2i+1]): the Q6_K offset (u - 32) */
    int16_t sum32[BN_KQ_BLOCK / 32]; /* q[32j] + ... + q[32j + 31]: the Q4_K mins */
    float d;                         /* absmax / 127 (0 for a block of zeros) */
    uint8_t pad[44];                 /* to 576 bytes (zeros) */
} bn_kq_act_block;
static_assert(sizeof(bn_kq_act_block) == 576, "an activation block is 9 cache lines");

/* Bytes of the activations of x[m, k]: m * (k / 256) * 576. BN_ERR_SHAPE unless m > 0, k > 0
 * and k % 256 == 0; BN_ERR_RANGE if the size overflows. */
bn_status bn_kq_acts_bytes(int64_t m, int64_t k, size_t *out);

/* Quantize x[m, k] into m * (k/256) blocks at acts (bn_kq_acts_bytes of them). A block of zeros
 * gets d = 0 and codes 0. x should be finite: a NaN gets code 0; an Inf makes its block's codes
 * 0 and d infinite, so the products that use the block are NaN. BN_ERR_SHAPE as for
 * bn_kq_acts_bytes. The codes are those bn_q8_quantize_acts would give with blocks of 256. */
bn_status bn_kq_quantize_acts(const float *x, int64_t m, int64_t k, bn_kq_act_block *acts);

/* Whether bn_kq_gemm takes weights of this type (Q6_K and Q4_K). */
bool bn_kq_gemm_supports(bn_dtype type);

/* y[M, N] = W . x^T as specified above, row-major y[mi * n + row]. w: N rows of K/256 blocks of
 * `type`; acts from bn_kq_quantize_acts of x[M, K]. Threads over rows through pool (NULL: the
 * caller alone); the kernel is the one for bn_cpu_isa(), and a path without one of its own
 * (neon, for now) runs the scalar kernel. BN_ERR_DTYPE unless type is Q6_K or Q4_K;
 * BN_ERR_SHAPE unless n, k, m > 0 and k % 256 == 0. */
bn_status bn_kq_gemm(bn_dtype type, const void *w, int64_t n, int64_t k,
                     const bn_kq_act_block *acts, int64_t m, float *y, bn_threadpool *pool);

/* The specification: the formulas above with plain loops, one output at a time. Arguments as
 * for bn_kq_gemm, unchecked (type must be Q6_K or Q4_K). */
void bn_kq_gemm_ref(bn_dtype type, const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                    int64_t m, float *y);

/* ---- kernel variants (scalar in kq_gemm.c, one per ISA file), all with the same contract ----
 * Compute rows [n0, n1) of y for all M tokens, y[mi * n + row]; n is the full row count (the
 * stride of y). Every variant gives the reference's bits. Declared here so that the dispatcher
 * and the tests can reach each one. */
typedef void (*bn_kq_kernel_fn)(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                                int64_t m, int64_t n0, int64_t n1, float *y);

void bn_q6_k_kernel_scalar(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y);
void bn_q4_k_kernel_scalar(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y);
#if defined(__x86_64__)
/* kq_avx2.c: AVX2 + FMA + F16C. */
void bn_q6_k_kernel_avx2(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                         int64_t m, int64_t n0, int64_t n1, float *y);
void bn_q4_k_kernel_avx2(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                         int64_t m, int64_t n0, int64_t n1, float *y);
/* kq_avx512.c: AVX-512 F/BW/DQ/VL + VNNI. */
void bn_q6_k_kernel_avx512(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y);
void bn_q4_k_kernel_avx512(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y);
#endif

/* The variant of a type for a path, or NULL when this build has none (or the type is not a
 * kq_gemm type). */
bn_kq_kernel_fn bn_kq_kernel_for(bn_dtype type, bn_isa isa);

/* ---- the loop every SIMD variant shares ---------------------------------------------------
 * A variant supplies two tile functions (compiled for its ISA): out[r * tokens + t] = row w[r]
 * (ahead[r] prefetched alongside) times token x[t], over nb blocks, for a fixed rows x tokens.
 * bn_kq_run_tiles walks rows [n0, n1) and all M tokens in those tiles (GEMV tiles when M = 1;
 * a GEMM in groups of 16 rows, each group's rows for every token tile before the next group),
 * repeating the last row or token to fill a short tile and dropping those results. */
typedef void (*bn_kq_tile_fn)(const uint8_t *const *w, const uint8_t *const *ahead,
                              const bn_kq_act_block *const *x, int64_t nb, float *out);

typedef struct bn_kq_tiles {
    bn_kq_tile_fn gemv, gemm;
    int gemv_rows, gemm_rows, gemm_tokens; /* each at most BN_KQ_MAX_TILE_SIDE */
    int prefetch_rows;                     /* how many rows ahead `ahead` points */
    size_t block_bytes;                    /* of one weight block */
} bn_kq_tiles;

#define BN_KQ_MAX_TILE_SIDE 8

void bn_kq_run_tiles(const bn_kq_tiles *tiles, const void *w, int64_t n, int64_t k,
                     const bn_kq_act_block *acts, int64_t m, int64_t n0, int64_t n1, float *y);

#endif /* BN_KERNELS_CPU_KQ_GEMM_H */
