/*
 * q8_avx512.c - the AVX-512 (F/BW/DQ/VL + VNNI) variant of the Q8_0 kernel (contract and float
 * order in q8_gemm.h). It mirrors q8_avx2.c with two rows per register.
 *
 * A __m512 holds the eight accumulators of two outputs: row r in the low 256 bits, row r + 1
 * in the high ones, for the same token. Lane l of each half is the specification's acc_l, and
 * blocks go through it in order, so the arithmetic per output is the AVX2 variant's. Per
 * block, row pair and token: AVX-512 has no vpsignb, so the sign of w moves onto x with a
 * masked subtraction (0 - x where w < 0; where w = 0, |w| = 0 makes the lane irrelevant), then
 * vpdpbusd multiplies |w| (u8) by it (s8) and adds groups of 4 into p_{b,l} without the
 * intermediate 16-bit step; then one multiply makes s_b and one FMA accumulates.
 *
 * Tiles: 2 row pairs (4 rows) x 1 token for a GEMV, 4 rows x 4 tokens for a GEMM (8 of the 32
 * registers as accumulators). Short tiles at the ends repeat their last row or token and drop
 * those results. Each block's load is paired with a prefetch of the same block PREFETCH_ROWS
 * rows on, as in q8_avx2.c (which says why). Compiled with target attributes; q8_gemm.c calls
 * it only when bn_cpu_isa() says the CPU and OS support AVX-512 with VNNI.
 */
#if defined(__x86_64__)

#include "kernels/cpu/q8_gemm.h"
#include "tensor/formats.h"

#include <immintrin.h>

/* The features bn_cpu_isa() checks for BN_ISA_AVX512, plus F16C for the scale conversion. */
#define AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,f16c"

enum {
    TILE_PAIRS = 2,
    TILE_ROWS = 2 * TILE_PAIRS,
    GEMM_TOKENS = 4,
    MAX_TILE = 16,
    PREFETCH_ROWS = 8
};

/* The specification's final reduction of one output's eight lanes, as in q8_avx2.c. */
__attribute__((always_inline, target(AVX512_TARGET))) static inline float hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* out[r * tokens + t] = the product of W row w[r] (TILE_ROWS rows of nb blocks) and activation
 * row x[t] (scales xd[t]); ahead[r] is the row to prefetch alongside w[r]; tokens is a constant
 * at each call. */
__attribute__((always_inline, target(AVX512_TARGET))) static inline void
tile(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead, const int8_t *const *x,
     const float *const *xd, int64_t nb, int tokens, float *out) {
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[MAX_TILE / 2];
#pragma GCC unroll 16
    for (int i = 0; i < TILE_PAIRS * tokens; i++)
        acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 16
        for (int p = 0; p < TILE_PAIRS; p++) {
            const bn_block_q8_0 *lo = w[2 * p] + b, *hi = w[2 * p + 1] + b;
            _mm_prefetch((const char *)(ahead[2 * p] + b), _MM_HINT_T0);
            _mm_prefetch((const char *)(ahead[2 * p + 1] + b), _MM_HINT_T0);
            __m512i wq =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const void *)lo->qs)),
                                   _mm256_loadu_si256((const void *)hi->qs), 1);
            __m512i wabs = _mm512_abs_epi8(wq);
            __mmask64 wneg = _mm512_movepi8_mask(wq);
            __m512 wd = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(_cvtsh_ss(lo->d))),
                                           _mm256_set1_ps(_cvtsh_ss(hi->d)), 1);
#pragma GCC unroll 16
            for (int t = 0; t < tokens; t++) {
                __m512i xv = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const void *)(x[t] + b * BN_Q8_BLOCK)));
                __m512i xs = _mm512_mask_sub_epi8(xv, wneg, zero, xv);
                __m512i p32 = _mm512_dpbusd_epi32(zero, wabs, xs);
                __m512 s = _mm512_mul_ps(wd, _mm512_set1_ps(xd[t][b]));
                acc[p * tokens + t] =
                    _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(p32), acc[p * tokens + t]);
            }
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < TILE_PAIRS; p++)
#pragma GCC unroll 16
        for (int t = 0; t < tokens; t++) {
            out[(2 * p) * tokens + t] = hsum(_mm512_castps512_ps256(acc[p * tokens + t]));
            out[(2 * p + 1) * tokens + t] = hsum(_mm512_extractf32x8_ps(acc[p * tokens + t], 1));
        }
}

/* The two tile shapes as functions of their own, so each gets its own register allocation. */
__attribute__((noinline, target(AVX512_TARGET))) static void
tile_gemv(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead, const int8_t *const *x,
          const float *const *xd, int64_t nb, float *out) {
    tile(w, ahead, x, xd, nb, 1, out);
}

__attribute__((noinline, target(AVX512_TARGET))) static void
tile_gemm(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead, const int8_t *const *x,
          const float *const *xd, int64_t nb, float *out) {
    tile(w, ahead, x, xd, nb, GEMM_TOKENS, out);
}

void bn_q8_kernel_avx512(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                         int64_t m, int64_t n0, int64_t n1, float *y) {
    static const bn_q8_tiles tiles = {tile_gemv, tile_gemm,   TILE_ROWS,
                                      TILE_ROWS, GEMM_TOKENS, PREFETCH_ROWS};
    bn_q8_run_tiles(&tiles, w, n, k, xq, xd, m, n0, n1, y);
}

#endif /* __x86_64__ */
