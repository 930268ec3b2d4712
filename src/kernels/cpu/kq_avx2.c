/*
 * kq_avx2.c - the AVX2 + FMA + F16C variants of the Q6_K and Q4_K kernels (contract and float
 * order in kq_gemm.h).
 *
 * One __m256i of eight int32 lane sums P_{b,l} per output and block, then one __m256 of eight
 * float accumulators per output (two for Q4_K: acc and mac), lane l holding the
 * specification's acc_l: blocks go through each lane in order, so the arithmetic is the
 * reference's. Per 32 codes: unpack the codes u to bytes (a few and/shift/or), vpmaddubsw by
 * the activation codes (u8 x s8 pair sums), for Q6_K minus the block's pair32 (u - 32), then
 * vpmaddwd by the sub-block's scale (int16, broadcast within each 128-bit lane by vpshufb),
 * which adds two pairs into each int32 lane: codes 4l..4l+3 of the 32.
 *
 * Q6_K, per half of 128 codes: ql bytes 0-31 give codes 0-31 (low nibbles) and 64-95 (high),
 * bytes 32-63 codes 32-63 and 96-127; the 32 qh bytes give each code's top 2 bits at bits 0-1,
 * 2-3, 4-5, 6-7 for codes r, 32 + r, 64 + r, 96 + r, which 16-bit shifts move to bits 4-5 (the
 * 0x30 mask drops what the shift carried over from the neighbouring byte). A 32-code chunk holds
 * two sub-blocks of 16: the low 128-bit lane the first, the high lane the second, so the scale
 * vector has sc_{2i} in its low lane and sc_{2i+1} in its high one.
 *
 * Q4_K: 32 qs bytes hold codes 64c..64c+31 (low nibbles) and 64c+32..64c+63 (high), one
 * sub-block each. The 6-bit scales and mins are unpacked with 32-bit scalar masks. The mins term
 * N_{b,j} = m_j S_{b,j} takes one vpmaddwd: m_j zero-extended and S_j sign-extended to 32 bits
 * are int16 pairs (m_j, 0) and (S_j, sign), whose pair sum is m_j S_j.
 *
 * Tiles: a GEMV takes one row at a time, so each thread reads one sequential stream, with a
 * software prefetch of every cache line of the block PREFETCH_ROWS rows on (17 KB ahead for a
 * Q6_K row of 2560). On the 2-core Zen 5 CI machine that beat 4 rows per pass (four streams a
 * row apart, as q8_avx2.c does) by 6-15% at 2 threads, and without the prefetch the hardware
 * prefetchers alone left Q6_K at half the speed; 4 to 16 rows ahead measured alike. A GEMM
 * takes 1 row x 4 tokens, so each block's codes are unpacked once per 4 tokens (in L1/L2, 69
 * and 81 G multiply-adds/s per thread for Q6_K and Q4_K, against 55-65 for 2 x 4 and less for
 * 1 x 2 and 2 x 2, whose accumulators no longer fit 16 registers or amortize less).
 *
 * Compiled with target attributes, no -m flags; kq_gemm.c calls this file only when
 * bn_cpu_isa() says the CPU has AVX2, FMA and F16C.
 */
#if defined(__x86_64__)

#include "kernels/cpu/kq_gemm.h"

#include <immintrin.h>
#include <string.h>

#define AVX2_TARGET "avx2,fma,f16c"

enum { GEMV_ROWS = 1, GEMM_ROWS = 1, GEMM_TOKENS = 4, MAX_TILE = 4, PREFETCH_ROWS = 8 };

/* H(a) of kq_gemm.h: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)). */
__attribute__((always_inline, target(AVX2_TARGET))) static inline float hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* One prefetch per cache line of a block. */
__attribute__((always_inline, target(AVX2_TARGET))) static inline void
prefetch_block(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/* A vpshufb control that puts int16 element `lo` of the source's low lane in every int16 of
 * the low lane, and element `hi` of its high lane in every int16 of the high lane. */
__attribute__((always_inline, target(AVX2_TARGET))) static inline __m256i broadcast16(int lo,
                                                                                      int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)((2 * hi + 1) << 8 | 2 * hi)),
                            _mm_set1_epi16((short)((2 * lo + 1) << 8 | 2 * lo)));
}

/* ---- Q6_K ---------------------------------------------------------------------------------- */

/* out[r * tokens + t] = W row w[r] . token x[t], nb blocks; rows and tokens are constants at
 * each call, so the loops unroll and the accumulators live in registers. */
__attribute__((always_inline, target(AVX2_TARGET))) static inline void
q6_k_tile(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, int rows, int tokens, float *out) {
    const __m256i m0f = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256i ctrl[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        ctrl[i] = broadcast16(2 * i, 2 * i + 1);
    __m256 acc[MAX_TILE];
#pragma GCC unroll 8
    for (int i = 0; i < rows * tokens; i++)
        acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const bn_block_q6_k *blk = (const bn_block_q6_k *)w[r] + b;
            prefetch_block((const uint8_t *)((const bn_block_q6_k *)ahead[r] + b), sizeof *blk);
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales));
            __m256i p[MAX_TILE];
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++)
                p[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256i sch = h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00)
                                     : _mm256_permute2x128_si256(sc16, sc16, 0x11);
                __m256i qla = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h));
                __m256i qlb = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h + 32));
                __m256i qhv = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
                __m256i u[4];
                u[0] = _mm256_or_si256(_mm256_and_si256(qla, m0f),
                                       _mm256_and_si256(_mm256_slli_epi16(qhv, 4), m30));
                u[1] = _mm256_or_si256(_mm256_and_si256(qlb, m0f),
                                       _mm256_and_si256(_mm256_slli_epi16(qhv, 2), m30));
                u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qla, 4), m0f),
                                       _mm256_and_si256(qhv, m30));
                u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qlb, 4), m0f),
                                       _mm256_and_si256(_mm256_srli_epi16(qhv, 2), m30));
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    __m256i s = _mm256_shuffle_epi8(sch, ctrl[i]);
#pragma GCC unroll 8
                    for (int t = 0; t < tokens; t++) {
                        const bn_kq_act_block *xb = x[t] + b;
                        __m256i xv =
                            _mm256_loadu_si256((const __m256i *)(xb->q + 128 * h + 32 * i));
                        __m256i off =
                            _mm256_loadu_si256((const __m256i *)(xb->pair32 + 64 * h + 16 * i));
                        __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(u[i], xv), off);
                        p[t] = _mm256_add_epi32(p[t], _mm256_madd_epi16(p16, s));
                    }
                }
            }
            float wd = _cvtsh_ss(blk->d);
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++) {
                __m256 s = _mm256_set1_ps(wd * x[t][b].d);
                acc[r * tokens + t] =
                    _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p[t]), acc[r * tokens + t]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < rows * tokens; i++)
        out[i] = hsum(acc[i]);
}

/* ---- Q4_K ---------------------------------------------------------------------------------- */

/* The 6-bit scales and mins of a block (bn_q4_k_scale_min's layout) as 8 bytes each, from the
 * three little-endian words of the 12 bytes: sc_0..3 = a & 63, sc_4..7 = low nibbles of c with
 * a's top 2 bits above them; the mins likewise from b and c's high nibbles. */
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

__attribute__((always_inline, target(AVX2_TARGET))) static inline void
q4_k_tile(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, int rows, int tokens, float *out) {
    const __m256i m0f = _mm256_set1_epi8(0x0F);
    __m256i ctrl[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        ctrl[j] = broadcast16(j, j);
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
            __m256i scv =
                _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
            __m256i mv = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8));
            __m256i p[MAX_TILE];
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++)
                p[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m256i qv = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * c));
                __m256i lo = _mm256_and_si256(qv, m0f);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m0f);
                __m256i s_lo = _mm256_shuffle_epi8(scv, ctrl[2 * c]);
                __m256i s_hi = _mm256_shuffle_epi8(scv, ctrl[2 * c + 1]);
#pragma GCC unroll 8
                for (int t = 0; t < tokens; t++) {
                    const int8_t *xq = x[t][b].q + 64 * c;
                    __m256i p_lo =
                        _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xq));
                    __m256i p_hi =
                        _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xq + 32)));
                    p[t] = _mm256_add_epi32(p[t], _mm256_add_epi32(_mm256_madd_epi16(p_lo, s_lo),
                                                                   _mm256_madd_epi16(p_hi, s_hi)));
                }
            }
            float wd = _cvtsh_ss(blk->d), wm = _cvtsh_ss(blk->dmin);
#pragma GCC unroll 8
            for (int t = 0; t < tokens; t++) {
                const bn_kq_act_block *xb = x[t] + b;
                __m256i sums = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)xb->sum32));
                __m256i nj = _mm256_madd_epi16(mv, sums);
                int i = r * tokens + t;
                acc[i] =
                    _mm256_fmadd_ps(_mm256_set1_ps(wd * xb->d), _mm256_cvtepi32_ps(p[t]), acc[i]);
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

__attribute__((noinline, target(AVX2_TARGET))) static void
q6_k_gemv(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q6_k_tile(w, ahead, x, nb, GEMV_ROWS, 1, out);
}

__attribute__((noinline, target(AVX2_TARGET))) static void
q6_k_gemm(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q6_k_tile(w, ahead, x, nb, GEMM_ROWS, GEMM_TOKENS, out);
}

__attribute__((noinline, target(AVX2_TARGET))) static void
q4_k_gemv(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q4_k_tile(w, ahead, x, nb, GEMV_ROWS, 1, out);
}

__attribute__((noinline, target(AVX2_TARGET))) static void
q4_k_gemm(const uint8_t *const *w, const uint8_t *const *ahead, const bn_kq_act_block *const *x,
          int64_t nb, float *out) {
    q4_k_tile(w, ahead, x, nb, GEMM_ROWS, GEMM_TOKENS, out);
}

void bn_q6_k_kernel_avx2(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
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

void bn_q4_k_kernel_avx2(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
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
