/*
 * ternary_avx512.c - the AVX-512 VNNI ternary kernels on the i2v64 layout and on the 1.6-bit
 * t5v64 layout (contract and layouts in ternary_gemm.h; t5v64 at the end of this file).
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

#include "base/alloc.h"
#include "tensor/formats.h"

#include <pthread.h>

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

/* y for rows [n, n + rows) and tokens [mi, mi + tokens) from the tile's int32 lanes
 * acc[r * tokens + t], whose sum is each output's sum of codes times activations. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"),
               always_inline)) static inline void
store_tile(const bn_ternary_matrix *w, const __m512i *acc, const float *x_scale,
           const int32_t *x_sum, int64_t n, int64_t mi, int rows, int tokens, float *y) {
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

/* Where a tile's packed rows come from: an i2v64 matrix (first = 0), or a panel that rows
 * [first, ...) of a t5v64 matrix were decoded into (t5_panel: per t5v64 block, 64 bytes of
 * digits 0-3 packed as i2v64 bit pairs, then 64 bytes of digit 4 as codes; see t5v64 below).
 * blocks: per row, of 256 values (i2v64) or 320 (panel). */
typedef struct tile_source {
    const uint8_t *data;
    int64_t first, row_bytes, blocks;
    bool t5_panel;
} tile_source;

/* Bit pairs [0, pairs) of one block of `rows` packed rows against `tokens` activation rows
 * (xoff: the block's first value); see tile. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"),
               always_inline)) static inline void
tile_block(__m512i *packed, const int8_t *const *xrow, int64_t xoff, int pairs, int rows,
           int tokens, __m512i *acc, __m512i *acc_odd) {
    const __m512i mask = _mm512_set1_epi8(3);
    /* Bit pair p of byte j is the code of value j + 64 p of the block. The 16-bit shift brings
     * bits of the neighbouring byte above bit 1; the AND drops them. */
    for (int p = 0; p < pairs; p++) {
        __m512i codes[MAX_TILE_ROWS];
        for (int r = 0; r < rows; r++) {
            codes[r] = _mm512_and_si512(packed[r], mask);
            packed[r] = _mm512_srli_epi16(packed[r], 2);
        }
        for (int t = 0; t < tokens; t++) {
            __m512i x = _mm512_loadu_si512((const void *)(xrow[t] + xoff + p * AVX512_V));
            for (int r = 0; r < rows; r++) {
                if (tokens == 1 && p % 2 == 1)
                    acc_odd[r] = _mm512_dpbusd_epi32(acc_odd[r], codes[r], x);
                else
                    acc[r * tokens + t] = _mm512_dpbusd_epi32(acc[r * tokens + t], codes[r], x);
            }
        }
    }
}

/*
 * y for rows [n, n + rows) and tokens [mi, mi + tokens) from src. rows and tokens are constants
 * at every call site, so after inlining the loops over them unroll and the accumulator arrays
 * live in registers. Bytes of src before offset prefetch_end are prefetched PREFETCH_BYTES
 * ahead (0: none).
 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"),
               always_inline)) static inline void
tile(const bn_ternary_matrix *w, const tile_source *src, const int8_t *xq, const float *x_scale,
     const int32_t *x_sum, int64_t n, int64_t mi, int rows, int tokens, int64_t prefetch_end,
     float *y) {
    const int64_t row_bytes = src->row_bytes, blocks = src->blocks;
    const uint8_t *wrow[MAX_TILE_ROWS];
    const int8_t *xrow[MAX_TILE_TOKENS];
    for (int r = 0; r < rows; r++)
        wrow[r] = src->data + (n - src->first + r) * row_bytes;
    for (int t = 0; t < tokens; t++)
        xrow[t] = xq + (mi + t) * w->cols_padded;
    /* The tile's rows are adjacent, so it reads one contiguous range, rows * 64 bytes per
     * block; prefetching as much per block keeps a constant distance ahead. */
    const int64_t ahead = (n - src->first) * row_bytes + PREFETCH_BYTES;

    /* [r * tokens + t]; with one token, odd bit pairs go to acc_odd[r] (see the top). */
    __m512i acc[MAX_TILE_ROWS * MAX_TILE_TOKENS], acc_odd[MAX_TILE_ROWS];
    for (int i = 0; i < rows * tokens; i++)
        acc[i] = _mm512_setzero_si512();
    for (int r = 0; r < rows; r++)
        acc_odd[r] = _mm512_setzero_si512();

    __m512i packed[MAX_TILE_ROWS];
    for (int64_t b = 0; b < blocks; b++) {
        if (src->t5_panel) { /* 320 values: four bit pairs, then a vector of codes */
            for (int r = 0; r < rows; r++)
                packed[r] = _mm512_loadu_si512((const void *)(wrow[r] + b * 2 * AVX512_V));
            tile_block(packed, xrow, b * 5 * AVX512_V, 4, rows, tokens, acc, acc_odd);
            for (int r = 0; r < rows; r++)
                packed[r] =
                    _mm512_loadu_si512((const void *)(wrow[r] + b * 2 * AVX512_V + AVX512_V));
            tile_block(packed, xrow, b * 5 * AVX512_V + 4 * AVX512_V, 1, rows, tokens, acc,
                       acc_odd);
            continue;
        }
        if (prefetch_end > 0 && ahead + (b + 1) * rows * AVX512_V <= prefetch_end)
            for (int off = 0; off < rows * AVX512_V; off += 64)
                _mm_prefetch((const char *)(src->data + ahead + b * rows * AVX512_V + off),
                             _MM_HINT_T0);
        for (int r = 0; r < rows; r++)
            packed[r] = _mm512_loadu_si512((const void *)(wrow[r] + b * AVX512_V));
        tile_block(packed, xrow, b * AVX512_BLOCK_VALUES, 4, rows, tokens, acc, acc_odd);
    }
    if (tokens == 1)
        for (int r = 0; r < rows; r++)
            acc[r] = _mm512_add_epi32(acc[r], acc_odd[r]);

    store_tile(w, acc, x_scale, x_sum, n, mi, rows, tokens, y);
}

/* Rows [n0, n1) of y for all m tokens from src: 4 x 4 tiles, then the leftover tokens one at a
 * time. stream: the rows come from memory (the first one-token pass prefetches them). Inlined
 * into each caller, whose src is a constant, so each gets the tile loop of its layout. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"),
               always_inline)) static inline void
tiles(const bn_ternary_matrix *w, const tile_source *src, const int8_t *xq, const float *x_scale,
      const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, bool stream, float *y) {
    const int64_t row_bytes = src->row_bytes, start = (n0 - src->first) * row_bytes;
    int64_t mi = 0;
    for (; mi + 4 <= m; mi += 4) {
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4)
            tile(w, src, xq, x_scale, x_sum, n, mi, 4, 4, 0, y);
        for (; n < n1; n++)
            tile(w, src, xq, x_scale, x_sum, n, mi, 1, 4, 0, y);
    }
    for (; mi < m; mi++) {
        /* The first pass over the rows reads them from memory: prefetch the start of the
         * range, which no tile prefetches, and let the tiles run ahead up to its end (rows
         * past it are another call's). Later passes find the rows in the cache. */
        const int64_t prefetch_end = stream && mi == 0 ? (n1 - src->first) * row_bytes : 0;
        for (int64_t off = start; off < start + PREFETCH_BYTES && off < prefetch_end; off += 64)
            _mm_prefetch((const char *)(src->data + off), _MM_HINT_T0);
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4)
            tile(w, src, xq, x_scale, x_sum, n, mi, 4, 1, prefetch_end, y);
        for (; n < n1; n++)
            tile(w, src, xq, x_scale, x_sum, n, mi, 1, 1, prefetch_end, y);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) void
bn_ternary_kernel_avx512(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                         const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    const tile_source src = {w->data, 0, w->cols_padded / 4, w->cols_padded / AVX512_BLOCK_VALUES,
                             false};
    tiles(w, &src, xq, x_scale, x_sum, m, n0, n1, true, y);
}

/* ---------------------------------------------------------------------------------------------
 * t5v64 (1.6 bits a weight; layout in ternary_gemm.h)
 *
 * Decode (one token) reads each weight byte once from memory, so it must cost no more than the
 * bytes take to arrive. Digit i of byte q is t_i = (3 q_i) >> 8 with q_0 = q, q_(i+1) = 3 q_i
 * mod 256 (two byte adds), and since 3 q_i - q_(i+1) = 256 t_i for every byte, the kernel never
 * extracts a digit: two VPDPBUSD per digit accumulate A = sum q_i x_i and B = sum q_(i+1) x_i
 * (q unsigned, x signed, as VPDPBUSD wants), and each 32-bit lane of 3A - B is exactly 256
 * times that lane's sum of codes times activations, which an arithmetic shift recovers. Per
 * block a lane of A or B grows by at most 5 * 4 * 255 * 128 = 652800, so spans of T5_SPAN
 * blocks (327680 values) keep A, B and 3A - B inside int32; the shifted sums are then added
 * into a total (at most 2560 * 1024 per lane and span), exact for any K. Measured on Zen 5
 * (bench/RESULTS.md): this streams at the machine's read bandwidth, as the i2v64 kernel does,
 * so 20% fewer bytes is 15-20% less time per GEMV.
 *
 * Prefill and batches (M >= 2) would pay the doubled VPDPBUSD count per token, so they decode
 * 16 rows at a time into a small panel that the i2v64 tiles read (tile_source) and run them
 * over all M tokens: the decoding costs a few operations per 64 weights once, against M / 4
 * tile passes. With VBMI (Ice Lake, Sapphire Rapids, Zen 4 and later) the decoder is two table
 * lookups per 64 bytes; without it, compares.
 * ------------------------------------------------------------------------------------------- */

#define T5_V            64
#define T5_BLOCK_VALUES (5 * T5_V)
#define T5_SPAN         1024

/* Rows [n, n + rows) for one token xrow: their sums of codes times activations into sums. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"),
               always_inline)) static inline void
t5_decode_tile(const bn_ternary_matrix *w, const int8_t *xrow, int64_t n, int rows,
               int64_t prefetch_end, __m512i *sums) {
    const int64_t row_bytes = w->cols_padded / 5, blocks = w->cols_padded / T5_BLOCK_VALUES;
    const uint8_t *wrow[MAX_TILE_ROWS];
    for (int r = 0; r < rows; r++) {
        wrow[r] = w->data + (n + r) * row_bytes;
        sums[r] = _mm512_setzero_si512();
    }
    for (int64_t b0 = 0; b0 < blocks; b0 += T5_SPAN) {
        int64_t b1 = b0 + T5_SPAN < blocks ? b0 + T5_SPAN : blocks;
        __m512i a[MAX_TILE_ROWS], bsum[MAX_TILE_ROWS];
        for (int r = 0; r < rows; r++)
            a[r] = bsum[r] = _mm512_setzero_si512();
        for (int64_t b = b0; b < b1; b++) {
            /* As in tile: the tile's rows are adjacent, so prefetching rows * 64 bytes per block
             * through their contiguous range keeps a constant distance ahead. (A prefetch per
             * row, 2 KiB ahead of each, ran as fast in `bench kernels` but 25% slower in the
             * model's decode, whose GEMVs are short and interleaved with other work.) */
            {
                const int64_t at = n * row_bytes + PREFETCH_BYTES + b * rows * T5_V;
                if (at + rows * T5_V <= prefetch_end)
                    for (int off = 0; off < rows * T5_V; off += 64)
                        _mm_prefetch((const char *)(w->data + at + off), _MM_HINT_T0);
            }
            __m512i q[MAX_TILE_ROWS];
            for (int r = 0; r < rows; r++)
                q[r] = _mm512_loadu_si512((const void *)(wrow[r] + b * T5_V));
            for (int i = 0; i < 5; i++) {
                __m512i x =
                    _mm512_loadu_si512((const void *)(xrow + b * T5_BLOCK_VALUES + i * T5_V));
                for (int r = 0; r < rows; r++) {
                    __m512i next = _mm512_add_epi8(_mm512_add_epi8(q[r], q[r]), q[r]);
                    a[r] = _mm512_dpbusd_epi32(a[r], q[r], x);
                    bsum[r] = _mm512_dpbusd_epi32(bsum[r], next, x);
                    q[r] = next;
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            __m512i a3 = _mm512_add_epi32(_mm512_add_epi32(a[r], a[r]), a[r]);
            sums[r] =
                _mm512_add_epi32(sums[r], _mm512_srai_epi32(_mm512_sub_epi32(a3, bsum[r]), 8));
        }
    }
}

/* Panel bytes per t5v64 block: digits 0-3 packed, then digit 4 (tile_source). */
#define T5_PANEL_BLOCK (2 * T5_V)

/* Rows [n0, n1) of t5v64 matrix w decoded into panel rows of blocks * T5_PANEL_BLOCK bytes:
 * digits 0-3 of a byte become the bit pairs of an i2v64 byte (its 4 x 64 values are the
 * block's first 256, in the same order), digit 4 a code byte. This decoder uses compares:
 * digit (3 q) >> 8 is 1 from q = 86 and 2 from q = 171, then q = 3 q mod 256 for the next,
 * about 8 operations per digit vector. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static void
t5_decode_panel_cmp(const bn_ternary_matrix *w, int64_t n0, int64_t n1, uint8_t *panel) {
    const int64_t row_bytes = w->cols_padded / 5, blocks = w->cols_padded / T5_BLOCK_VALUES;
    const __m512i one = _mm512_set1_epi8(1), first = _mm512_set1_epi8((char)86),
                  second = _mm512_set1_epi8((char)171);
    for (int64_t n = n0; n < n1; n++)
        for (int64_t b = 0; b < blocks; b++) {
            __m512i q = _mm512_loadu_si512((const void *)(w->data + n * row_bytes + b * T5_V));
            __m512i packed = _mm512_setzero_si512(), c = packed;
            for (int i = 0; i < 5; i++) {
                c = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(q, first), one);
                c = _mm512_mask_add_epi8(c, _mm512_cmpge_epu8_mask(q, second), c, one);
                q = _mm512_add_epi8(_mm512_add_epi8(q, q), q);
                if (i < 4) /* two-bit codes: the 16-bit shift moves none across a byte */
                    packed = _mm512_or_si512(packed, _mm512_sll_epi16(c, _mm_cvtsi32_si128(2 * i)));
            }
            uint8_t *out = panel + (n - n0) * blocks * T5_PANEL_BLOCK + b * T5_PANEL_BLOCK;
            _mm512_storeu_si512((void *)out, packed);
            _mm512_storeu_si512((void *)(out + T5_V), c);
        }
}

/* The byte-to-digits tables of the VBMI decoder: digits 0-3 as bit pairs, and digit 4. */
static uint8_t t5_four[256], t5_fifth[256];
static pthread_once_t t5_tables_once = PTHREAD_ONCE_INIT;

static void t5_make_tables(void) {
    for (int q = 0; q < 256; q++) {
        t5_four[q] = (uint8_t)(bn_trit((uint8_t)q, 0) | bn_trit((uint8_t)q, 1) << 2 |
                               bn_trit((uint8_t)q, 2) << 4 | bn_trit((uint8_t)q, 3) << 6);
        t5_fifth[q] = (uint8_t)bn_trit((uint8_t)q, 4);
    }
}

/* The same panel from table lookups: VPERMI2B looks up 64 bytes in a 128-byte table by their
 * low 7 bits, so two lookups and a blend on the top bit map every byte through a 256-byte
 * table: 7 operations per t5v64 block instead of about 40 (measured: the compare decoder was
 * a fifth of prefill's GEMM time, this one a few percent). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi"))) static void
t5_decode_panel_vbmi(const bn_ternary_matrix *w, int64_t n0, int64_t n1, uint8_t *panel) {
    pthread_once(&t5_tables_once, t5_make_tables);
    const int64_t row_bytes = w->cols_padded / 5, blocks = w->cols_padded / T5_BLOCK_VALUES;
    __m512i four[4], fifth[4];
    for (int i = 0; i < 4; i++) {
        four[i] = _mm512_loadu_si512((const void *)(t5_four + 64 * i));
        fifth[i] = _mm512_loadu_si512((const void *)(t5_fifth + 64 * i));
    }
    for (int64_t n = n0; n < n1; n++)
        for (int64_t b = 0; b < blocks; b++) {
            __m512i q = _mm512_loadu_si512((const void *)(w->data + n * row_bytes + b * T5_V));
            __mmask64 high = _mm512_movepi8_mask(q);
            __m512i packed =
                _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(four[0], q, four[1]),
                                       _mm512_permutex2var_epi8(four[2], q, four[3]));
            __m512i c =
                _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(fifth[0], q, fifth[1]),
                                       _mm512_permutex2var_epi8(fifth[2], q, fifth[3]));
            uint8_t *out = panel + (n - n0) * blocks * T5_PANEL_BLOCK + b * T5_PANEL_BLOCK;
            _mm512_storeu_si512((void *)out, packed);
            _mm512_storeu_si512((void *)(out + T5_V), c);
        }
}

/* One token over rows [n0, n1), the weights streamed from memory (prefetch_end as tile's). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static void
t5_decode_rows(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
               const int32_t *x_sum, int64_t mi, int64_t n0, int64_t n1, int64_t prefetch_end,
               float *y) {
    const int64_t row_bytes = w->cols_padded / 5;
    for (int64_t off = n0 * row_bytes; off < n0 * row_bytes + PREFETCH_BYTES && off < prefetch_end;
         off += 64)
        _mm_prefetch((const char *)(w->data + off), _MM_HINT_T0);
    const int8_t *xrow = xq + mi * w->cols_padded;
    __m512i sums[MAX_TILE_ROWS];
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        t5_decode_tile(w, xrow, n, 4, prefetch_end, sums);
        store_tile(w, sums, x_scale, x_sum, n, mi, 4, 1, y);
    }
    for (; n < n1; n++) {
        t5_decode_tile(w, xrow, n, 1, prefetch_end, sums);
        store_tile(w, sums, x_scale, x_sum, n, mi, 1, 1, y);
    }
}

/* Rows decoded into one panel at a time for M >= 2: 16 of them are 16-45 KB for the 2B-4T
 * shapes, which stay in L1/L2 while every token's tiles read them. */
#define T5_PANEL_ROWS 16

typedef void (*t5_decoder_fn)(const bn_ternary_matrix *w, int64_t n0, int64_t n1, uint8_t *panel);

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static void
t5_kernel(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale, const int32_t *x_sum,
          int64_t m, int64_t n0, int64_t n1, t5_decoder_fn decode, float *y) {
    const int64_t blocks = w->cols_padded / T5_BLOCK_VALUES, panel_row = blocks * T5_PANEL_BLOCK;
    uint8_t *panel = m >= 2 ? bn_aligned_alloc((size_t)(T5_PANEL_ROWS * panel_row)) : NULL;
    if (panel == NULL) { /* one token, or no memory for a panel: token by token, same sums */
        for (int64_t mi = 0; mi < m; mi++)
            t5_decode_rows(w, xq, x_scale, x_sum, mi, n0, n1,
                           mi == 0 ? n1 * (w->cols_padded / 5) : 0, y);
        return;
    }
    for (int64_t a = n0; a < n1; a += T5_PANEL_ROWS) {
        int64_t b = a + T5_PANEL_ROWS < n1 ? a + T5_PANEL_ROWS : n1;
        const tile_source src = {panel, a, panel_row, blocks, true};
        decode(w, a, b, panel);
        tiles(w, &src, xq, x_scale, x_sum, m, a, b, false, y);
    }
    bn_aligned_free(panel);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) void
bn_ternary_kernel_t5_avx512(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                            const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    t5_kernel(w, xq, x_scale, x_sum, m, n0, n1,
              bn_cpu_features_get()->avx512vbmi ? t5_decode_panel_vbmi : t5_decode_panel_cmp, y);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) void
bn_ternary_kernel_t5_avx512_cmp(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                                const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    t5_kernel(w, xq, x_scale, x_sum, m, n0, n1, t5_decode_panel_cmp, y);
}

#endif /* __x86_64__ */
