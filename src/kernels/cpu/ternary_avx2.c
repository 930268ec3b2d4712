/*
 * ternary_avx2.c - the AVX2 ternary kernel on the i2v32 layout (contract in ternary_gemm.h).
 *
 * One block of a row is 32 bytes holding 128 codes. Unpacking it takes one shift and one AND
 * per bit pair and gives four vectors of 32 codes in 0..2 that line up with four runs of 32
 * consecutive activations, so the activations are plain contiguous loads. VPMADDUBSW multiplies
 * the unsigned codes by the signed activations and adds neighbouring pairs into 16-bit lanes;
 * the 16-bit sums are widened to 32 bits (VPMADDWD by ones) only every WIDEN_BLOCKS blocks.
 * The code offset (c = w + 1) is removed once per output: acc - x_sum = sum w * x.
 *
 * Overflow bound. One VPMADDUBSW lane is c0*x0 + c1*x1 with c in 0..2 and x in -128..127, so
 * it lies in [-512, 508] and never saturates. A block adds four of them (one per bit pair) to
 * each 16-bit lane, so after b blocks a lane lies in [-2048 b, 2032 b]; int16 holds that for
 * b <= 16 (-32768 and 32512 at b = 16), hence WIDEN_BLOCKS = 16. The 32-bit sums are exact for
 * any K the activation quantizer accepts.
 *
 * Tiling. An output is a dot product of one weight row and one token. Decode (one token) runs
 * 4 rows at a time: each activation load serves 4 rows and the horizontal reductions of the 4
 * rows share one VPHADDD tree. Prefill (M >= 4 tokens) runs tiles of 2 rows x 4 tokens: each
 * unpacked code vector serves 4 tokens and each activation vector 2 rows, which keeps the 8
 * 16-bit accumulators, the codes, the activations and the mask in the 16 YMM registers. Leftover
 * rows and tokens take the 1-row and 1-token tiles. The final float expression is the
 * reference's, evaluated in scalar code, so the result equals bn_ternary_gemm_ref bit for bit.
 */
#if defined(__x86_64__)

#include "kernels/cpu/ternary_simd.h"

#include <immintrin.h>

/* Bytes per block (V of the i2v<V> layout) and values per block. */
#define AVX2_V            32
#define AVX2_BLOCK_VALUES (4 * AVX2_V)

/* Blocks whose 16-bit sums may be added before widening (the overflow bound above). */
#define WIDEN_BLOCKS 16

#ifndef PREFETCH_BYTES
#define PREFETCH_BYTES 8192
#endif

/* Largest tile: rows x tokens. */
#define MAX_TILE_ROWS   4
#define MAX_TILE_TOKENS 4

/* The sum of the 8 lanes of each of a, b, c, d, as lanes 0..3. */
__attribute__((target("avx2,fma,f16c"))) static inline __m128i hsum4(__m256i a, __m256i b,
                                                                     __m256i c, __m256i d) {
    /* After two rounds of pairwise adds each 128-bit half holds the four partial sums of its
     * half of a, b, c, d; adding the halves finishes them. */
    __m256i ab = _mm256_hadd_epi32(a, b);
    __m256i cd = _mm256_hadd_epi32(c, d);
    __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/* The sum of the 8 lanes of a. */
__attribute__((target("avx2,fma,f16c"))) static inline int32_t hsum1(__m256i a) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/*
 * y for rows [n, n + rows) and tokens [mi, mi + tokens). rows and tokens are constants at every
 * call site, so after inlining the loops over them unroll and the accumulator arrays live in
 * registers.
 */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale, const int32_t *x_sum,
     int64_t n, int64_t mi, int rows, int tokens, const uint8_t *stream_end, float *y) {
    const int64_t row_bytes = w->cols_padded / 4, blocks = w->cols_padded / AVX2_BLOCK_VALUES;
    const __m256i mask = _mm256_set1_epi8(3);
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *wrow[MAX_TILE_ROWS];
    const int8_t *xrow[MAX_TILE_TOKENS];
    for (int r = 0; r < rows; r++)
        wrow[r] = w->data + (n + r) * row_bytes;
    for (int t = 0; t < tokens; t++)
        xrow[t] = xq + (mi + t) * w->cols_padded;

    /* 32-bit sums, added to from the 16-bit ones every WIDEN_BLOCKS blocks; kept as plain
     * integers so that the inner loop has all 16 YMM registers. [r * tokens + t] */
    int32_t acc[MAX_TILE_ROWS * MAX_TILE_TOKENS] = {0};

    for (int64_t b0 = 0; b0 < blocks; b0 += WIDEN_BLOCKS) {
        int64_t b1 = b0 + WIDEN_BLOCKS < blocks ? b0 + WIDEN_BLOCKS : blocks;
        __m256i acc16[MAX_TILE_ROWS * MAX_TILE_TOKENS];
        for (int i = 0; i < rows * tokens; i++)
            acc16[i] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            if (stream_end != NULL)
                for (int64_t off = b * rows * AVX2_V; off < (b + 1) * rows * AVX2_V; off += 64)
                    if (wrow[0] + PREFETCH_BYTES + off < stream_end)
                        _mm_prefetch((const char *)(wrow[0] + PREFETCH_BYTES + off), _MM_HINT_T0);
            __m256i packed[MAX_TILE_ROWS];
            for (int r = 0; r < rows; r++)
                packed[r] = _mm256_loadu_si256((const __m256i *)(wrow[r] + b * AVX2_V));
            /* Bit pair p of byte j is the code of value j + 32 p of the block. */
            for (int p = 0; p < 4; p++) {
                __m256i codes[MAX_TILE_ROWS];
                for (int r = 0; r < rows; r++) {
                    codes[r] = _mm256_and_si256(packed[r], mask);
                    /* 16-bit shift: bits from the neighbouring byte land above bit 1 and the
                     * next pair's AND drops them. */
                    packed[r] = _mm256_srli_epi16(packed[r], 2);
                }
                for (int t = 0; t < tokens; t++) {
                    __m256i x = _mm256_loadu_si256(
                        (const __m256i *)(xrow[t] + b * AVX2_BLOCK_VALUES + p * AVX2_V));
                    /* The saturating add never saturates (the bound above), so it equals the
                     * wrapping one; unlike that one it is opaque to the compiler, which
                     * otherwise regroups the sums across bit pairs, keeps every product of a
                     * block live at once and spills them. */
                    for (int r = 0; r < rows; r++)
                        acc16[r * tokens + t] = _mm256_adds_epi16(
                            acc16[r * tokens + t], _mm256_maddubs_epi16(codes[r], x));
                }
            }
        }
        int i = 0;
        for (; i + 4 <= rows * tokens; i += 4) {
            __m128i sums = hsum4(_mm256_madd_epi16(acc16[i], ones),
                                 _mm256_madd_epi16(acc16[i + 1], ones),
                                 _mm256_madd_epi16(acc16[i + 2], ones),
                                 _mm256_madd_epi16(acc16[i + 3], ones));
            __m128i prev = _mm_loadu_si128((const __m128i *)(acc + i));
            _mm_storeu_si128((__m128i *)(acc + i), _mm_add_epi32(prev, sums));
        }
        for (; i < rows * tokens; i++)
            acc[i] += hsum1(_mm256_madd_epi16(acc16[i], ones));
    }

    /* The reference's expression, so the floats match it bit for bit. */
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < tokens; t++)
            y[(mi + t) * w->rows + n + r] = (float)(acc[r * tokens + t] - x_sum[mi + t]) *
                                            (w->scale / x_scale[mi + t]);
}

__attribute__((target("avx2,fma,f16c"))) void
bn_ternary_kernel_avx2(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                       const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    int64_t mi = 0;
    for (; mi + 4 <= m; mi += 4) {
        int64_t n = n0;
        for (; n + 2 <= n1; n += 2)
            tile(w, xq, x_scale, x_sum, n, mi, 2, 4, NULL, y);
        for (; n < n1; n++)
            tile(w, xq, x_scale, x_sum, n, mi, 1, 4, NULL, y);
    }
    for (; mi < m; mi++) {
        const uint8_t *end = NULL;
        if (mi == 0) {
            const int64_t row_bytes = w->cols_padded / 4;
            const uint8_t *begin = w->data + n0 * row_bytes;
            end = w->data + n1 * row_bytes;
            for (const uint8_t *p = begin; p < begin + PREFETCH_BYTES && p < end; p += 64)
                _mm_prefetch((const char *)p, _MM_HINT_T0);
        }
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4)
            tile(w, xq, x_scale, x_sum, n, mi, 4, 1, end, y);
        for (; n < n1; n++)
            tile(w, xq, x_scale, x_sum, n, mi, 1, 1, end, y);
    }
}

#endif /* __x86_64__ */
