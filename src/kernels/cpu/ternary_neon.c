/*
 * ternary_neon.c - the ternary kernel for AArch64 NEON with the dot-product extension (layout
 * i2v16; contract in ternary_gemm.h).
 *
 * A 16-byte block of a weight row holds 64 codes: bits [2i+1:2i] of byte j are the code of
 * value j + 16i. Shifting the block right by 2i and masking with 3 gives the 16 codes of
 * sub-block i, which line up with 16 consecutive activations, so one sdot per sub-block adds
 * code x activation products into four int32 lanes. sdot is s8 x s8; the codes 0, 1, 2 are
 * valid s8 values, so they go in unchanged and, as in the scalar kernel, the row's activation
 * sum is subtracted at the end (sum c*x = sum w*x + sum x).
 *
 * Work is cut into tiles of up to 4 rows x 4 tokens. Per sub-block a tile unpacks the codes of
 * its rows once and loads the activations of its tokens once, then does rows x tokens sdots;
 * the 16 accumulators, 4 code vectors, 4 packed rows and 4 activation vectors of the largest
 * tile fit the 32 NEON registers. With one token (decode) the 4 rows are 4 independent
 * accumulation chains.
 *
 * The integer sums are exact whatever order the lanes add in, and the final float is the
 * scalar kernel's expression, so y equals the scalar path bit for bit.
 */
#if defined(__aarch64__)

#include "kernels/cpu/ternary_simd.h"

#include <arm_neon.h>
#include <assert.h>

enum {
    TILE_ROWS = 4,   /* weight rows per tile */
    TILE_TOKENS = 4, /* activation rows (tokens) per tile, at most */
    BLOCK_BYTES = 16 /* V: bytes per packed block, 64 values */
};

/* Everything below is compiled for Armv8.2-A with dotprod, and the dispatcher runs it only where
 * AT_HWCAP has ASIMDDP; the base build needs no -march flag. The architecture is named, not
 * only "+dotprod": GCC 12's arm_neon.h declares vdotq_s32 under "arch=armv8.2-a+dotprod", and a
 * caller whose target is not a superset of that cannot inline it. The code generated uses
 * nothing of Armv8.1/8.2 but sdot (no atomics, no CRC): base A64 and NEON otherwise. */
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")

/* Rows [n, n + rows) of y for tokens [mi, mi + tokens). Called only with constant rows and
 * tokens, so after inlining the loops over them unroll and the arrays live in registers. */
static inline __attribute__((always_inline)) void tile(const bn_ternary_matrix *w, const int8_t *xq,
                                                       const float *x_scale, const int32_t *x_sum,
                                                       int64_t n, int64_t mi, int rows, int tokens,
                                                       float *y) {
    int64_t row_bytes = w->cols_padded / 4, blocks = w->cols_padded / (4 * BLOCK_BYTES);
    const uint8x16_t low2 = vdupq_n_u8(3);
    const uint8_t *wrow[TILE_ROWS];
    const int8_t *xrow[TILE_TOKENS];
    int32x4_t acc[TILE_ROWS][TILE_TOKENS];
#pragma GCC unroll 4
    for (int r = 0; r < rows; r++)
        wrow[r] = w->data + (n + r) * row_bytes;
#pragma GCC unroll 4
    for (int t = 0; t < tokens; t++)
        xrow[t] = xq + (mi + t) * w->cols_padded;
#pragma GCC unroll 4
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int t = 0; t < tokens; t++)
            acc[r][t] = vdupq_n_s32(0);

    for (int64_t b = 0; b < blocks; b++) {
        uint8x16_t packed[TILE_ROWS];
#pragma GCC unroll 4
        for (int r = 0; r < rows; r++)
            packed[r] = vld1q_u8(wrow[r] + b * BLOCK_BYTES);
#pragma GCC unroll 1
        for (int i = 0; i < 4; i++) {
            /* Sub-block i: values 16i .. 16i+15 of the block. Kept a loop: unrolled, GCC hoists
             * the unpacking of all four sub-blocks ahead of the sdots and the 4 x 4 tile spills
             * accumulators to the stack. Take the low bit pair, then move the next one down. */
            int8x16_t codes[TILE_ROWS];
#pragma GCC unroll 4
            for (int r = 0; r < rows; r++) {
                codes[r] = vreinterpretq_s8_u8(vandq_u8(packed[r], low2));
                packed[r] = vshrq_n_u8(packed[r], 2);
            }
#pragma GCC unroll 4
            for (int t = 0; t < tokens; t++) {
                int8x16_t x = vld1q_s8(xrow[t] + (b * 4 + i) * BLOCK_BYTES);
#pragma GCC unroll 4
                for (int r = 0; r < rows; r++)
                    acc[r][t] = vdotq_s32(acc[r][t], codes[r], x);
            }
        }
    }

#pragma GCC unroll 4
    for (int t = 0; t < tokens; t++) {
        float factor = w->scale / x_scale[mi + t];
#pragma GCC unroll 4
        for (int r = 0; r < rows; r++) {
            int32_t sum = vaddvq_s32(acc[r][t]) - x_sum[mi + t];
            y[(mi + t) * w->rows + n + r] = (float)sum * factor;
        }
    }
}

/* Rows [n0, n1) for tokens [mi, mi + tokens): whole tiles of TILE_ROWS, then single rows. */
static inline __attribute__((always_inline)) void
row_range(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale, const int32_t *x_sum,
          int64_t mi, int tokens, int64_t n0, int64_t n1, float *y) {
    int64_t n = n0;
    for (; n + TILE_ROWS <= n1; n += TILE_ROWS)
        tile(w, xq, x_scale, x_sum, n, mi, TILE_ROWS, tokens, y);
    for (; n < n1; n++)
        tile(w, xq, x_scale, x_sum, n, mi, 1, tokens, y);
}

void bn_ternary_kernel_neon(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                            const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    assert(w->vbytes == BLOCK_BYTES);
    /* Tokens outer: the activations of a group of tokens stay in L1 while the caller's chunk of
     * rows (a few KiB of packed weights) is swept once per group. */
    int64_t mi = 0;
    for (; mi + TILE_TOKENS <= m; mi += TILE_TOKENS)
        row_range(w, xq, x_scale, x_sum, mi, TILE_TOKENS, n0, n1, y);
    if (mi + 2 <= m) {
        row_range(w, xq, x_scale, x_sum, mi, 2, n0, n1, y);
        mi += 2;
    }
    if (mi < m)
        row_range(w, xq, x_scale, x_sum, mi, 1, n0, n1, y);
}

#pragma GCC pop_options

#endif /* __aarch64__ */
