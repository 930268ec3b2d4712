/*
 * kq_avx512.c - the AVX-512 (F/BW/DQ/VL + VNNI) variants of the Q6_K and Q4_K kernels
 * (contract and float order in kq_gemm.h). They mirror kq_avx2.c with 64 codes per register.
 *
 * Per 64 codes of a block: unpack the codes u to bytes, vpmaddubsw by the activation codes
 * (u8 x s8 pair sums), for Q6_K minus the block's pair32 (u - 32), then vpdpwssd by the
 * sub-block scales (int16, one per 128-bit lane: 16 codes) adds two pairs into each of 16 int32
 * lanes. Lane t of the register holds codes 4t..4t+3 of the 64, so lanes t and t + 8 are the
 * specification's lane t & 7; one add of the two 256-bit halves after the block's four
 * registers gives P_{b,l} (integers: the order of the adds is free). Then, per output, one
 * float multiply makes the block's scale and one FMA accumulates, lane by lane, in order.
 *
 * Q6_K: the 64 ql bytes of a half hold codes 0-63 (low nibbles) and 64-127 (high nibbles) of
 * it; its 32 qh bytes, loaded into both 256-bit halves of a register, give each code's top 2
 * bits: codes r and 32 + r at bits 0-1 and 2-3, codes 64 + r and 96 + r at bits 4-5 and 6-7 of
 * qh[r]. A variable 64-bit shift by 4 (low half) and 2 (high half), or by 0 and -2, brings them
 * to bits 4-5, which the 0x30 mask keeps; vpternlogd merges them with the low nibbles. The
 * scale of each 128-bit lane comes from the 16 int8 scales, widened to int16, by vpermw.
 *
 * Q4_K: 32 qs bytes hold 64 consecutive codes (low nibbles, then high nibbles); loaded into
 * both halves and shifted by 0 and 4, one mask gives the 64 codes in order. Scales and mins
 * are unpacked as in kq_avx2.c; the mins term takes one 256-bit vpmaddwd.
 *
 * Tiles: one row at a time for a GEMV, with every cache line of a block prefetched
 * PREFETCH_ROWS rows on (kq_avx2.c says why: one stream per thread measured 10-20% faster than
 * four); 1 row x 8 tokens for a GEMM, so a block's codes are unpacked once per 8 tokens (the
 * int32 sums of 8 outputs and their float accumulators fit the 32 registers). In L1/L2 that
 * measured 130 G multiply-adds/s per thread at M = 8..128, against 110-120 for 2 x 4 and 2 x 8.
 * Short tiles at the ends repeat their last row or token and drop those results.
 * Compiled with target attributes; kq_gemm.c calls it only when bn_cpu_isa() says the CPU and
 * OS support AVX-512 with VNNI.
 */
#if defined(__x86_64__)

#include "kernels/cpu/kq_gemm.h"

#include <immintrin.h>
#include <string.h>

/* The features bn_cpu_isa() checks for BN_ISA_AVX512, plus F16C for the scale conversion. */
#define AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,f16c"

enum { GEMV_ROWS = 1, GEMM_ROWS = 1, GEMM_TOKENS = 8, MAX_TILE = 8, PREFETCH_ROWS = 8 };

/* vpternlog truth table of (a & c) | b. */
#define TERN_A_AND_C_OR_B 0xEC

/* H(a) of kq_gemm.h, as in kq_avx2.c. */
__attribute__((always_inline, target(AVX512_TARGET))) static inline float hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* The eight lane sums P_{b,l} of a block from its 16 int32 partial lanes. */
__attribute__((always_inline, target(AVX512_TARGET))) static inline __m256 fold_lanes(__m512i p) {
    return _mm256_cvtepi32_ps(
        _mm256_add_epi32(_mm512_castsi512_si256(p), _mm512_extracti64x4_epi64(p, 1)));
}

__attribute__((always_inline, target(AVX512_TARGET))) static inline void
prefetch_block(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/* Both 256-bit halves of a register from 32 bytes. */
__attribute__((always_inline, target(AVX512_TARGET))) static inline __m512i
load_twice(const uint8_t *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* ---- Q6_K ---------------------------------------------------------------------------------- */

__attribute__((always_inline, target(AVX512_TARGET))) static inline void
q6_k_tile(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, int rows, int tokens, float *out) {
    const __m512i m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4); /* codes 0-31 | 32-63 */
    const __m512i shr = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0); /* codes 64-95 | 96-127 */
    __m512i idx[4]; /* int16 lane i of chunk c takes scale 4c + i / 8 */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
        idx[c] =
            _mm512_set_epi64(0x0001000100010001ll * (4 * c + 3), 0x0001000100010001ll * (4 * c + 3),
                             0x0001000100010001ll * (4 * c + 2), 0x0001000100010001ll * (4 * c + 2),
                             0x0001000100010001ll * (4 * c + 1), 0x0001000100010001ll * (4 * c + 1),
                             0x0001000100010001ll * (4 * c), 0x0001000100010001ll * (4 * c));
    __m256 acc[MAX_TILE];
#pragma GCC unroll 8
    for (int i = 0; i < rows * tokens; i++)
        acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const bn_block_q6_k *blk = (const bn_block_q6_k *)w[r] + b;
            prefetch_block((const uint8_t *)((const bn_block_q6_k *)ahead[r] + b), sizeof *blk);
            __m512i sc16 = _mm512_castsi256_si512(
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales)));
            __m512i p[MAX_TILE];
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++)
                p[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                int h = c / 2;
                __m512i ql = _mm512_loadu_si512((const void *)(blk->ql + 64 * h));
                __m512i qh = load_twice(blk->qh + 32 * h);
                __m512i lo, hi;
                if (c % 2 == 0) {
                    lo = ql;
                    hi = _mm512_sllv_epi64(qh, shl);
                } else {
                    lo = _mm512_srli_epi16(ql, 4);
                    hi = _mm512_srlv_epi64(qh, shr);
                }
                __m512i u = _mm512_ternarylogic_epi64(lo, _mm512_and_si512(hi, m30), m0f,
                                                      TERN_A_AND_C_OR_B);
                __m512i s = _mm512_permutexvar_epi16(idx[c], sc16);
#pragma GCC unroll 8
                for (int t = 0; t < tokens; t++) {
                    const bn_kq_act_block *xb = x[t] + b;
                    __m512i xv = _mm512_loadu_si512((const void *)(xb->q + 64 * c));
                    __m512i off = _mm512_loadu_si512((const void *)(xb->pair32 + 32 * c));
                    __m512i p16 = _mm512_sub_epi16(_mm512_maddubs_epi16(u, xv), off);
                    p[t] = _mm512_dpwssd_epi32(p[t], p16, s);
                }
            }
            float wd = _cvtsh_ss(blk->d);
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++) {
                __m256 s = _mm256_set1_ps(wd * x[t][b].d);
                acc[r * tokens + t] = _mm256_fmadd_ps(s, fold_lanes(p[t]), acc[r * tokens + t]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < rows * tokens; i++)
        out[i] = hsum(acc[i]);
}

/* ---- Q4_K ---------------------------------------------------------------------------------- */

/* As in kq_avx2.c: the 8 scales and 8 mins of a block, one byte each. */
static inline void q4_k_scales(const uint8_t s[12], uint64_t *sc, uint64_t *mn) {
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    uint32_t sc_lo = a & 0x3F3F3F3Fu, sc_hi = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    uint32_t m_lo = b & 0x3F3F3F3Fu, m_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
    *sc = (uint64_t)sc_lo | (uint64_t)sc_hi << 32;
    *mn = (uint64_t)m_lo | (uint64_t)m_hi << 32;
}

__attribute__((always_inline, target(AVX512_TARGET))) static inline void
q4_k_tile(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, int rows, int tokens, float *out) {
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    const __m512i shr = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0); /* low | high nibbles */
    __m512i ctrl[4]; /* vpshufb: 128-bit lanes 0-1 take int16 scale 2c, lanes 2-3 scale 2c+1 */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        long long lo = 0x0100010001000100ll + 0x0202020202020202ll * (2 * c);
        long long hi = 0x0100010001000100ll + 0x0202020202020202ll * (2 * c + 1);
        ctrl[c] = _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo);
    }
    __m256 acc[MAX_TILE], mac[MAX_TILE];
#pragma GCC unroll 8
    for (int i = 0; i < rows * tokens; i++) {
        acc[i] = _mm256_setzero_ps();
        mac[i] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const bn_block_q4_k *blk = (const bn_block_q4_k *)w[r] + b;
            prefetch_block((const uint8_t *)((const bn_block_q4_k *)ahead[r] + b), sizeof *blk);
            uint64_t sc8, m8;
            q4_k_scales(blk->scales, &sc8, &m8);
            __m512i scv =
                _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
            __m256i mv = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8));
            __m512i p[MAX_TILE];
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++)
                p[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m512i u =
                    _mm512_and_si512(_mm512_srlv_epi64(load_twice(blk->qs + 32 * c), shr), m0f);
                __m512i s = _mm512_shuffle_epi8(scv, ctrl[c]);
#pragma GCC unroll 8
                for (int t = 0; t < tokens; t++) {
                    __m512i xv = _mm512_loadu_si512((const void *)(x[t][b].q + 64 * c));
                    p[t] = _mm512_dpwssd_epi32(p[t], _mm512_maddubs_epi16(u, xv), s);
                }
            }
            float wd = _cvtsh_ss(blk->d), wm = _cvtsh_ss(blk->dmin);
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++) {
                const bn_kq_act_block *xb = x[t] + b;
                __m256i sums = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)xb->sum32));
                __m256i nj = _mm256_madd_epi16(mv, sums);
                int i = r * tokens + t;
                acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(wd * xb->d), fold_lanes(p[t]), acc[i]);
                mac[i] =
                    _mm256_fmadd_ps(_mm256_set1_ps(wm * xb->d), _mm256_cvtepi32_ps(nj), mac[i]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < rows * tokens; i++)
        out[i] = hsum(acc[i]) - hsum(mac[i]);
}

/* ---- the tile shapes as functions of their own, so each gets its own register allocation -- */

__attribute__((noinline, target(AVX512_TARGET))) static void
q6_k_gemv(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q6_k_tile(w, ahead, x, nb, GEMV_ROWS, 1, out);
}

__attribute__((noinline, target(AVX512_TARGET))) static void
q6_k_gemm(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q6_k_tile(w, ahead, x, nb, GEMM_ROWS, GEMM_TOKENS, out);
}

__attribute__((noinline, target(AVX512_TARGET))) static void
q4_k_gemv(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q4_k_tile(w, ahead, x, nb, GEMV_ROWS, 1, out);
}

__attribute__((noinline, target(AVX512_TARGET))) static void
q4_k_gemm(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q4_k_tile(w, ahead, x, nb, GEMM_ROWS, GEMM_TOKENS, out);
}

void bn_q6_k_kernel_avx512(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y) {
    static const bn_kq_tiles tiles = {q6_k_gemv,
                                      q6_k_gemm,
                                      GEMV_ROWS,
                                      GEMM_ROWS,
                                      GEMM_TOKENS,
                                      PREFETCH_ROWS,
                                      sizeof(bn_block_q6_k)};
    bn_kq_run_tiles(&tiles, w, n, k, acts, m, n0, n1, y);
}

void bn_q4_k_kernel_avx512(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y) {
    static const bn_kq_tiles tiles = {q4_k_gemv,
                                      q4_k_gemm,
                                      GEMV_ROWS,
                                      GEMM_ROWS,
                                      GEMM_TOKENS,
                                      PREFETCH_ROWS,
                                      sizeof(bn_block_q4_k)};
    bn_kq_run_tiles(&tiles, w, n, k, acts, m, n0, n1, y);
}

#endif /* __x86_64__ */
