/*
 * q6h_avx2.c - the AVX2 + FMA + F16C variant of the Q6H kernel (contract in q6h_gemm.h), which
 * is q8_avx2.c with a decode in front: the tiles, the prefetch and the arithmetic are the same,
 * so the results are the reference's bits.
 *
 * Decode of one block into 32 int8 codes: the 16 lo bytes are loaded once and their low and
 * high nibbles masked into the two 128-bit halves (u_0..15 and u_16..31: lo[m] holds u_m and
 * u_{m+16}). The 8 hi bytes are broadcast to the four 64-bit lanes and lane k shifted right by
 * 2k, so byte m of lane k has bits 4-5 of u_{m+8k} at bits 0-1 (a shift of at most 6 leaves
 * each byte's low two bits its own); & 3 and << 4 put them in place. Then q = (lo | hi) - 32.
 * That is about ten cheap instructions per 32 weights, against 26 bytes from memory.
 *
 * The build passes no -m flags: each function names its features with a target attribute, and
 * q6h_gemm.c calls this file only when bn_cpu_isa() says the CPU has them.
 */
#if defined(__x86_64__)

#include "kernels/cpu/q6h_gemm.h"
#include "tensor/formats.h"

#include <immintrin.h>
#include <string.h>

enum { GEMV_ROWS = 4, GEMM_ROWS = 2, GEMM_TOKENS = 4, MAX_TILE = 8, PREFETCH_ROWS = 8 };

/* The specification's final reduction: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)). */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline float hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* The 32 codes of a block, as bn_q6h_codes gives them. */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline __m256i
decode(const bn_block_q6h *blk) {
    const __m128i nib = _mm_set1_epi8(15);
    __m128i lo = _mm_loadu_si128((const __m128i *)blk->lo);
    __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(lo, 4), nib), _mm_and_si128(lo, nib));
    int64_t hi8;
    memcpy(&hi8, blk->hi, sizeof hi8);
    __m256i hi = _mm256_srlv_epi64(_mm256_set1_epi64x(hi8), _mm256_set_epi64x(6, 4, 2, 0));
    hi = _mm256_slli_epi16(_mm256_and_si256(hi, _mm256_set1_epi8(3)), 4);
    return _mm256_sub_epi8(_mm256_or_si256(u, hi), _mm256_set1_epi8(32));
}

/* out[r * tokens + t] = the product of W row w[r] (nb blocks) and activation row x[t] (scales
 * xd[t]); ahead[r] is the row to prefetch alongside w[r]. */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline void
tile(const bn_block_q6h *const *w, const bn_block_q6h *const *ahead, const int8_t *const *x,
     const float *const *xd, int64_t nb, int rows, int tokens, float *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[MAX_TILE];
#pragma GCC unroll 16
    for (int i = 0; i < rows * tokens; i++)
        acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 16
        for (int r = 0; r < rows; r++) {
            const bn_block_q6h *blk = w[r] + b;
            _mm_prefetch((const char *)(ahead[r] + b), _MM_HINT_T0);
            __m256i wq = decode(blk);
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
tile_gemv(const bn_block_q6h *const *w, const bn_block_q6h *const *ahead, const int8_t *const *x,
          const float *const *xd, int64_t nb, float *out) {
    tile(w, ahead, x, xd, nb, GEMV_ROWS, 1, out);
}

__attribute__((noinline, target("avx2,fma,f16c"))) static void
tile_gemm(const bn_block_q6h *const *w, const bn_block_q6h *const *ahead, const int8_t *const *x,
          const float *const *xd, int64_t nb, float *out) {
    tile(w, ahead, x, xd, nb, GEMM_ROWS, GEMM_TOKENS, out);
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

void bn_q6h_kernel_avx2(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                        int64_t m, int64_t n0, int64_t n1, float *y) {
    const bn_block_q6h *blocks = w;
    int64_t nb = k / BN_Q8_BLOCK;
    int rows = m == 1 ? GEMV_ROWS : GEMM_ROWS, tokens = m == 1 ? 1 : GEMM_TOKENS;
    for (int64_t row0 = n0; row0 < n1; row0 += rows) {
        const bn_block_q6h *wr[MAX_TILE], *ahead[MAX_TILE];
        for (int r = 0; r < rows; r++) {
            wr[r] = blocks + min64(row0 + r, n1 - 1) * nb;
            ahead[r] = blocks + min64(row0 + r + PREFETCH_ROWS, n1 - 1) * nb;
        }
        for (int64_t t0 = 0; t0 < m; t0 += tokens) {
            const int8_t *xr[MAX_TILE];
            const float *dr[MAX_TILE];
            for (int t = 0; t < tokens; t++) {
                int64_t ti = min64(t0 + t, m - 1);
                xr[t] = xq + ti * k;
                dr[t] = xd + ti * nb;
            }
            float out[MAX_TILE];
            if (m == 1)
                tile_gemv(wr, ahead, xr, dr, nb, out);
            else
                tile_gemm(wr, ahead, xr, dr, nb, out);
            for (int r = 0; r < rows && row0 + r < n1; r++)
                for (int t = 0; t < tokens && t0 + t < m; t++)
                    y[(t0 + t) * n + row0 + r] = out[r * tokens + t];
        }
    }
}

#endif /* __x86_64__ */
