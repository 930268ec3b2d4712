/*
 * ternary_avx2.c - the AVX2 ternary kernel on the i2v32 layout (contract in ternary_gemm.h).
 *
 * One block of a row is 32 bytes holding 128 codes. Unpacking it takes one AND and one shift
 * per bit pair and gives four vectors of 32 codes in 0..2 that line up with four runs of 32
 * consecutive activations, so the activations are plain contiguous loads. VPMADDUBSW multiplies
 * the unsigned codes by the signed activations and adds neighbouring pairs into 16-bit lanes;
 * the 16-bit sums are widened to 32 bits (VPMADDWD by ones) only every WIDEN_BLOCKS blocks.
 * The code offset (c = w + 1) is removed once per output: acc - x_sum = sum w * x.
 *
 * Overflow bound. One VPMADDUBSW lane is c0*x0 + c1*x1 with c in 0..2 and x in -128..127, so
 * it lies in [-512, 508] and never saturates. A block adds four of them (one per bit pair) to
 * each 16-bit lane, so after b blocks a lane lies in [-2048 b, 2032 b] and so does every partial
 * sum on the way; int16 holds that for b <= 16 (-32768 and 32512 at b = 16), hence
 * WIDEN_BLOCKS = 16. The 32-bit sums are exact for any K the activation quantizer accepts.
 *
 * Tiling. An output is a dot product of one weight row and one token. A tile computes `rows`
 * adjacent rows for `tokens` tokens, and the horizontal reductions of four outputs share one
 * VPHADDD tree. Prefill (M >= 4 tokens) uses 1 x 4 tiles: each unpacked code vector serves 4
 * tokens, so a block costs 7 unpacking instructions beside 32 for the products (16 VPMADDUBSW
 * and 16 VPADDW, 512 multiply-adds), and 4 accumulators, 4 code vectors and two constants let
 * GCC keep everything in the 16 YMM registers (2 x 4 and 4 x 2 tiles measured slower: GCC
 * spills their accumulators). Decode and leftover tokens use 4 x 1 tiles, whose four rows
 * share the activations, and 1 x 1 tiles for leftover rows. The final float expression is the
 * reference's, evaluated in scalar code, so the result equals bn_ternary_gemm_ref bit for bit.
 *
 * Decode streams the weights from memory once, and four rows read at once look to the hardware
 * prefetcher like four short streams, so the kernel prefetches PREFETCH_BYTES ahead itself
 * (measured on Zen 3: without it one thread streamed 5 GB/s, with it 12-15 of its 20).
 */
#if defined(__x86_64__)

#include "kernels/cpu/ternary_simd.h"

#include <immintrin.h>

/* Bytes per block (V of the i2v<V> layout) and values per block. */
#define AVX2_V            32
#define AVX2_BLOCK_VALUES (4 * AVX2_V)

/* Blocks whose 16-bit sums may be added before widening (the overflow bound above). */
#define WIDEN_BLOCKS 16

/* Decode prefetch distance: about two memory latencies' worth of one thread's bandwidth. */
#define PREFETCH_BYTES 4096

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
 * registers. Weight bytes before offset prefetch_end of w->data are prefetched PREFETCH_BYTES
 * ahead (0: none).
 */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale, const int32_t *x_sum,
     int64_t n, int64_t mi, int rows, int tokens, int64_t prefetch_end, float *y) {
    const int64_t row_bytes = w->cols_padded / 4, blocks = w->cols_padded / AVX2_BLOCK_VALUES;
    const __m256i mask = _mm256_set1_epi8(3);
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *wrow[MAX_TILE_ROWS];
    const int8_t *xrow[MAX_TILE_TOKENS];
    for (int r = 0; r < rows; r++)
        wrow[r] = w->data + (n + r) * row_bytes;
    for (int t = 0; t < tokens; t++)
        xrow[t] = xq + (mi + t) * w->cols_padded;
    /* The tile's rows are adjacent, so it reads one contiguous range, rows * 32 bytes per
     * block; prefetching as much per block keeps a constant distance ahead. */
    const int64_t ahead = n * row_bytes + PREFETCH_BYTES;

    /* 32-bit sums, added to from the 16-bit ones every WIDEN_BLOCKS blocks; plain integers, so
     * that the inner loop has all 16 YMM registers. [r * tokens + t] */
    int32_t acc[MAX_TILE_ROWS * MAX_TILE_TOKENS] = {0};

    for (int64_t b0 = 0; b0 < blocks; b0 += WIDEN_BLOCKS) {
        int64_t b1 = b0 + WIDEN_BLOCKS < blocks ? b0 + WIDEN_BLOCKS : blocks;
        __m256i acc16[MAX_TILE_ROWS * MAX_TILE_TOKENS];
        for (int i = 0; i < rows * tokens; i++)
            acc16[i] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            if (prefetch_end > 0 && ahead + (b + 1) * rows * AVX2_V <= prefetch_end)
                for (int off = 0; off < rows * AVX2_V; off += 64)
                    _mm_prefetch((const char *)(w->data + ahead + b * rows * AVX2_V + off),
                                 _MM_HINT_T0);
            for (int r = 0; r < rows; r++) {
                /* Bit pair p of byte j is the code of value j + 32 p of the block. The 16-bit
                 * shift brings bits of the neighbouring byte above bit 1; the AND drops them. */
                __m256i packed = _mm256_loadu_si256((const __m256i *)(wrow[r] + b * AVX2_V));
                __m256i codes[4];
                for (int p = 0; p < 4; p++) {
                    codes[p] = _mm256_and_si256(packed, mask);
                    packed = _mm256_srli_epi16(packed, 2);
                }
                /* An accumulator's four products come one after another: GCC regroups the
                 * additions into one accumulator (integer adds associate), and in this order
                 * that keeps only a few products live. */
                for (int t = 0; t < tokens; t++)
                    for (int p = 0; p < 4; p++) {
                        __m256i x = _mm256_loadu_si256(
                            (const __m256i *)(xrow[t] + b * AVX2_BLOCK_VALUES + p * AVX2_V));
                        acc16[r * tokens + t] = _mm256_add_epi16(acc16[r * tokens + t],
                                                                 _mm256_maddubs_epi16(codes[p], x));
                    }
            }
        }
        int i = 0;
        for (; i + 4 <= rows * tokens; i += 4) {
            __m128i sums =
                hsum4(_mm256_madd_epi16(acc16[i], ones), _mm256_madd_epi16(acc16[i + 1], ones),
                      _mm256_madd_epi16(acc16[i + 2], ones), _mm256_madd_epi16(acc16[i + 3], ones));
            __m128i prev = _mm_loadu_si128((const __m128i *)(acc + i));
            _mm_storeu_si128((__m128i *)(acc + i), _mm_add_epi32(prev, sums));
        }
        for (; i < rows * tokens; i++)
            acc[i] += hsum1(_mm256_madd_epi16(acc16[i], ones));
    }

    /* The reference's expression, so the floats match it bit for bit. */
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < tokens; t++)
            y[(mi + t) * w->rows + n + r] =
                (float)(acc[r * tokens + t] - x_sum[mi + t]) * (w->scale / x_scale[mi + t]);
}

__attribute__((target("avx2,fma,f16c"))) void
bn_ternary_kernel_avx2(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                       const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    const int64_t row_bytes = w->cols_padded / 4;
    int64_t mi = 0;
    for (; mi + 4 <= m; mi += 4)
        for (int64_t n = n0; n < n1; n++)
            tile(w, xq, x_scale, x_sum, n, mi, 1, 4, 0, y);
    for (; mi < m; mi++) {
        /* The first pass over the rows reads them from memory: prefetch the start of the
         * range, which no tile prefetches, and let the tiles run ahead up to its end (rows
         * past it are another call's). Later passes find the rows in the cache. */
        const int64_t prefetch_end = mi == 0 ? n1 * row_bytes : 0;
        for (int64_t off = n0 * row_bytes;
             off < n0 * row_bytes + PREFETCH_BYTES && off < prefetch_end; off += 64)
            _mm_prefetch((const char *)(w->data + off), _MM_HINT_T0);
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4)
            tile(w, xq, x_scale, x_sum, n, mi, 4, 1, prefetch_end, y);
        for (; n < n1; n++)
            tile(w, xq, x_scale, x_sum, n, mi, 1, 1, prefetch_end, y);
    }
}

#endif /* __x86_64__ */
