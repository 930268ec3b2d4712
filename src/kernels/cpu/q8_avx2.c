/*
 * q8_avx2.c - the AVX2 + FMA + F16C variant of the Q8_0 kernel (contract and float order in
 * q8_gemm.h).
 *
 * One __m256 of eight float accumulators per output, lane l holding the specification's acc_l.
 * Per block and output: vpsignb moves the sign of w onto x, vpmaddubsw multiplies |w| (u8)
 * by that (s8) and adds pairs, vpmaddwd by ones adds pairs again into p_{b,l}, then one
 * multiply makes s_b and one FMA accumulates. The block's f16 scale is converted by the F16C
 * instruction, which gives bn_f16_to_f32's value.
 *
 * Tiles: a GEMV (M = 1) takes 4 rows per pass over the activation row (four independent FMA
 * chains); a GEMM takes 2 rows x 4 tokens, so each block of W is loaded once per 4 tokens and
 * each block of x once per 2 rows, within 16 registers. The dispatcher hands 16 rows at a time
 * to a GEMM, which stay in cache while every token passes over them. Short tiles at the ends
 * repeat their last row or token and drop those results, so only the two full tile shapes
 * exist.
 *
 * Prefetch: a GEMV streams W from memory, and a core's hardware prefetchers alone left it at
 * about 70% of a plain read's bandwidth on Zen 3 (four streams 2720 bytes apart). So each
 * block's load is paired with a software prefetch of the same block PREFETCH_ROWS rows further
 * on (22 KB ahead for K = 2560), stopping at the last row of the caller's range; that brought
 * one thread to the plain read's speed. A GEMM pays one prefetch per block and row per 4
 * tokens, which costs nothing measurable.
 *
 * The build passes no -m flags: each function names its features with a target attribute,
 * and q8_gemm.c calls this file only when bn_cpu_isa() says the CPU has them.
 */
#if defined(__x86_64__)

#include "kernels/cpu/q8_gemm.h"
#include "tensor/formats.h"

#include <immintrin.h>

enum { GEMV_ROWS = 4, GEMM_ROWS = 2, GEMM_TOKENS = 4, MAX_TILE = 8, PREFETCH_ROWS = 8 };

/* The specification's final reduction: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)). */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline float hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* out[r * tokens + t] = the product of W row w[r] (nb blocks) and activation row x[t] (scales
 * xd[t]); ahead[r] is the row to prefetch alongside w[r]. rows and tokens are constants at each
 * call, so the loops unroll and acc lives in registers. */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline void
tile(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead, const int8_t *const *x,
     const float *const *xd, int64_t nb, int rows, int tokens, float *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[MAX_TILE];
#pragma GCC unroll 16
    for (int i = 0; i < rows * tokens; i++)
        acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 16
        for (int r = 0; r < rows; r++) {
            const bn_block_q8_0 *blk = w[r] + b;
            _mm_prefetch((const char *)(ahead[r] + b), _MM_HINT_T0);
            __m256i wq = _mm256_loadu_si256((const __m256i *)blk->qs);
            __m256i wabs = _mm256_abs_epi8(wq);
            __m256 wd = _mm256_set1_ps(_cvtsh_ss(blk->d));
#pragma GCC unroll 16
            for (int t = 0; t < tokens; t++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x[t] + b * BN_Q8_BLOCK));
                __m256i p16 = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv, wq));
                __m256i p32 = _mm256_madd_epi16(p16, ones);
                __m256 s = _mm256_mul_ps(wd, _mm256_broadcast_ss(xd[t] + b));
                acc[r * tokens + t] =
                    _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p32), acc[r * tokens + t]);
            }
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < rows * tokens; i++)
        out[i] = hsum(acc[i]);
}

/* The two tile shapes as functions of their own, so each gets its own register allocation. */
__attribute__((noinline, target("avx2,fma,f16c"))) static void
tile_gemv(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead, const int8_t *const *x,
          const float *const *xd, int64_t nb, float *out) {
    tile(w, ahead, x, xd, nb, GEMV_ROWS, 1, out);
}

__attribute__((noinline, target("avx2,fma,f16c"))) static void
tile_gemm(const bn_block_q8_0 *const *w, const bn_block_q8_0 *const *ahead, const int8_t *const *x,
          const float *const *xd, int64_t nb, float *out) {
    tile(w, ahead, x, xd, nb, GEMM_ROWS, GEMM_TOKENS, out);
}

void bn_q8_kernel_avx2(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                       int64_t m, int64_t n0, int64_t n1, float *y) {
    static const bn_q8_tiles tiles = {tile_gemv, tile_gemm,   GEMV_ROWS,
                                      GEMM_ROWS, GEMM_TOKENS, PREFETCH_ROWS};
    bn_q8_run_tiles(&tiles, w, n, k, xq, xd, m, n0, n1, y);
}

#endif /* __x86_64__ */
