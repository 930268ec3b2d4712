/*
 * ternary_avx512.c - the AVX-512 VNNI ternary kernel on the i2v64 layout (contract in
 * ternary_gemm.h).
 *
 * One block of a row is 64 bytes holding 256 codes. Unpacking it takes one AND and one shift
 * per bit pair and gives four vectors of 64 codes in 0..2 that line up with four runs of 64
 * consecutive activations, so the activations are plain contiguous loads. VPDPBUSD multiplies
 * the unsigned codes by the signed activations and adds each group of four products straight
 * into a 32-bit lane: a lane grows by at most 4 * 2 * 128 = 1024 per instruction, so there is
 * no narrow intermediate to overflow (unlike the AVX2 kernel's 16-bit sums) and the 32-bit sums
 * are exact for any K the activation quantizer accepts. The code offset (c = w + 1) is removed
 * once per output: acc - x_sum = sum w * x.
 *
 * Tiling. An output is a dot product of one weight row and one token. A tile computes `rows`
 * adjacent rows for `tokens` tokens; each activation vector is loaded once per tile and serves
 * every row, each unpacked code vector serves every token, and the horizontal reductions of
 * four outputs share one tree. Prefill (M >= 4 tokens) uses 4 x 4 tiles: 16 accumulators, 4
 * code vectors, the activations and the mask fit the 32 ZMM registers (on a Xeon, 2 x 8 tiles
 * measured the same and 8 x 2 tiles 25% slower). Decode and leftover tokens use 4 x 1 tiles
 * with two accumulators per output (even and odd bit pairs), since one would chain the block's
 * four VPDPBUSD (latency 4-5 cycles each) while the tile issues only 16 per block; with the
 * weights streamed from memory, one or two accumulators and 4 or 8 rows measured the same on a
 * Xeon, so this only counts when they come from cache. Leftover rows take 1-row tiles. The
 * final float expression is the reference's, evaluated in scalar code, so the result equals
 * bn_ternary_gemm_ref bit for bit.
 *
 * Decode streams the weights from memory once, and four rows read at once look to the hardware
 * prefetcher like four short streams, so the kernel prefetches PREFETCH_BYTES ahead itself (as
 * the AVX2 kernel does; see there).
 */
#if defined(__x86_64__)

#include "kernels/cpu/ternary_simd.h"

#include <immintrin.h>

/* Bytes per block (V of the i2v<V> layout) and values per block. */
#define AVX512_V            64
#define AVX512_BLOCK_VALUES (4 * AVX512_V)

/* Decode prefetch distance: about two memory latencies' worth of one thread's bandwidth. */
#define PREFETCH_BYTES 4096

/* Largest tile: rows x tokens. */
#define MAX_TILE_ROWS   4
#define MAX_TILE_TOKENS 4

/* The sum of the 16 lanes of each of a, b, c, d, as lanes 0..3. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static inline __m128i
hsum4(__m512i a, __m512i b, __m512i c, __m512i d) {
    /* Fold each vector to 256 bits, then two rounds of pairwise adds leave in each 128-bit half
     * the four partial sums of its half of a, b, c, d; adding the halves finishes them. */
    __m256i a8 = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
    __m256i b8 = _mm256_add_epi32(_mm512_castsi512_si256(b), _mm512_extracti64x4_epi64(b, 1));
    __m256i c8 = _mm256_add_epi32(_mm512_castsi512_si256(c), _mm512_extracti64x4_epi64(c, 1));
    __m256i d8 = _mm256_add_epi32(_mm512_castsi512_si256(d), _mm512_extracti64x4_epi64(d, 1));
    __m256i ab = _mm256_hadd_epi32(a8, b8);
    __m256i cd = _mm256_hadd_epi32(c8, d8);
    __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/*
 * y for rows [n, n + rows) and tokens [mi, mi + tokens). rows and tokens are constants at every
 * call site, so after inlining the loops over them unroll and the accumulator arrays live in
 * registers. Weight bytes before offset prefetch_end of w->data are prefetched PREFETCH_BYTES
 * ahead (0: none).
 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"),
               always_inline)) static inline void
tile(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale, const int32_t *x_sum,
     int64_t n, int64_t mi, int rows, int tokens, int64_t prefetch_end, float *y) {
    const int64_t row_bytes = w->cols_padded / 4, blocks = w->cols_padded / AVX512_BLOCK_VALUES;
    const __m512i mask = _mm512_set1_epi8(3);
    const uint8_t *wrow[MAX_TILE_ROWS];
    const int8_t *xrow[MAX_TILE_TOKENS];
    for (int r = 0; r < rows; r++)
        wrow[r] = w->data + (n + r) * row_bytes;
    for (int t = 0; t < tokens; t++)
        xrow[t] = xq + (mi + t) * w->cols_padded;
    /* The tile's rows are adjacent, so it reads one contiguous range, rows * 64 bytes per
     * block; prefetching as much per block keeps a constant distance ahead. */
    const int64_t ahead = n * row_bytes + PREFETCH_BYTES;

    /* [r * tokens + t]; with one token, odd bit pairs go to acc_odd[r] (see the top). */
    __m512i acc[MAX_TILE_ROWS * MAX_TILE_TOKENS], acc_odd[MAX_TILE_ROWS];
    for (int i = 0; i < rows * tokens; i++)
        acc[i] = _mm512_setzero_si512();
    for (int r = 0; r < rows; r++)
        acc_odd[r] = _mm512_setzero_si512();

    for (int64_t b = 0; b < blocks; b++) {
        if (prefetch_end > 0 && ahead + (b + 1) * rows * AVX512_V <= prefetch_end)
            for (int off = 0; off < rows * AVX512_V; off += 64)
                _mm_prefetch((const char *)(w->data + ahead + b * rows * AVX512_V + off),
                             _MM_HINT_T0);
        __m512i packed[MAX_TILE_ROWS];
        for (int r = 0; r < rows; r++)
            packed[r] = _mm512_loadu_si512((const void *)(wrow[r] + b * AVX512_V));
        /* Bit pair p of byte j is the code of value j + 64 p of the block. The 16-bit shift
         * brings bits of the neighbouring byte above bit 1; the AND drops them. */
        for (int p = 0; p < 4; p++) {
            __m512i codes[MAX_TILE_ROWS];
            for (int r = 0; r < rows; r++) {
                codes[r] = _mm512_and_si512(packed[r], mask);
                packed[r] = _mm512_srli_epi16(packed[r], 2);
            }
            for (int t = 0; t < tokens; t++) {
                __m512i x = _mm512_loadu_si512(
                    (const void *)(xrow[t] + b * AVX512_BLOCK_VALUES + p * AVX512_V));
                for (int r = 0; r < rows; r++) {
                    if (tokens == 1 && p % 2 == 1)
                        acc_odd[r] = _mm512_dpbusd_epi32(acc_odd[r], codes[r], x);
                    else
                        acc[r * tokens + t] = _mm512_dpbusd_epi32(acc[r * tokens + t], codes[r], x);
                }
            }
        }
    }
    if (tokens == 1)
        for (int r = 0; r < rows; r++)
            acc[r] = _mm512_add_epi32(acc[r], acc_odd[r]);

    int32_t sums[MAX_TILE_ROWS * MAX_TILE_TOKENS];
    int i = 0;
    for (; i + 4 <= rows * tokens; i += 4)
        _mm_storeu_si128((__m128i *)(sums + i), hsum4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]));
    for (; i < rows * tokens; i++)
        sums[i] = _mm512_reduce_add_epi32(acc[i]);

    /* The reference's expression, so the floats match it bit for bit. */
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < tokens; t++)
            y[(mi + t) * w->rows + n + r] =
                (float)(sums[r * tokens + t] - x_sum[mi + t]) * (w->scale / x_scale[mi + t]);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) void
bn_ternary_kernel_avx512(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                         const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    const int64_t row_bytes = w->cols_padded / 4;
    int64_t mi = 0;
    for (; mi + 4 <= m; mi += 4) {
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4)
            tile(w, xq, x_scale, x_sum, n, mi, 4, 4, 0, y);
        for (; n < n1; n++)
            tile(w, xq, x_scale, x_sum, n, mi, 1, 4, 0, y);
    }
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
