/*
 * formats.h - layouts of the quantized and ternary types: block structs, row decoders and
 * encoders, and whole-tensor ternary pack/unpack.
 *
 * Each block struct is followed by a static assertion of its exact size: the layouts are file
 * formats and must never drift. The decoders are the specification of each format's values.
 * The row encoders are the reference quantizers of ggml, bit for bit (gguf-py's numpy ports are
 * the oracle in tests/py/test_formats_reference.py). The ternary pack/unpack functions are the
 * table's pack_ternary/unpack_ternary (contract in dtype.h) and live here, not in src/quant,
 * because they are format definitions and src/tensor may not depend on src/quant.
 */
#ifndef BN_TENSOR_FORMATS_H
#define BN_TENSOR_FORMATS_H

#include "base/status.h"

#include <assert.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Q8_0 (ggml type 8): 32 values, f16 scale d then int8 q; value = d * q. 8.5 bits per weight. */
#define BN_QK8_0 32
typedef struct bn_block_q8_0 {
    uint16_t d;
    int8_t qs[BN_QK8_0];
} bn_block_q8_0;
static_assert(sizeof(bn_block_q8_0) == 34, "q8_0 block is 34 bytes");

/* TQ2_0 (ggml type 35): 256 values, 2-bit codes q = w + 1, then f16 scale d; value = (q-1)*d.
 * In each 32-byte chunk j (128 values), byte m holds values j*128 + 32n + m at bits 2n.
 * 2.0625 bits per weight. */
#define BN_QK_K 256
typedef struct bn_block_tq2_0 {
    uint8_t qs[BN_QK_K / 4];
    uint16_t d;
} bn_block_tq2_0;
static_assert(sizeof(bn_block_tq2_0) == 66, "tq2_0 block is 66 bytes");

/* TQ1_0 (ggml type 34): 256 values as base-3 digits, 5 per byte (3^5 = 243 < 256), stored as
 * ceil(q * 256 / 243) so digit n is ((uint8)(byte * 3^n) * 3) >> 8. qs[0..31] hold values
 * 32n + m (n = 0..4), qs[32..47] values 160 + 16n + m, qh[0..3] values 240 + 4n + j (n = 0..3).
 * Then the f16 scale d. 1.6875 bits per weight. */
typedef struct bn_block_tq1_0 {
    uint8_t qs[(BN_QK_K - 4 * BN_QK_K / 64) / 5];
    uint8_t qh[BN_QK_K / 64];
    uint16_t d;
} bn_block_tq1_0;
static_assert(sizeof(bn_block_tq1_0) == 54, "tq1_0 block is 54 bytes");

/* I2_S (bitnet.cpp, ggml type 36 in its fork): the tensor, flattened row-major, in groups of 128
 * values of 32 bytes; byte b of a group holds values b, b+32, b+64, b+96 in bits [7:6], [5:4],
 * [3:2], [1:0]; codes 0,1,2 mean -1,0,+1 (3 is never written). One float32 scale for the whole
 * tensor sits at byte offset n/4, the start of a 32-byte tail whose other 28 bytes are padding
 * (we write zeros; bitnet.cpp leaves them as they come). Decoding needs that tail, so it is done
 * per tensor (bn_i2_s_unpack_ternary), not per row. This is bitnet.cpp's original quantize_i2_s
 * layout; newer builds repack it per platform at load, which is not a file format. */
#define BN_QK_I2_S         128
#define BN_I2_S_TAIL_BYTES 32

/* hf2 (transformers' integrations/bitnet.py pack_weights; the microsoft/bitnet-b1.58-2B-4T
 * checkpoint): a [rows, cols] ternary weight as [rows/4, cols] uint8. With R = rows/4, packed
 * byte [p][c] holds rows p, R+p, 2R+p, 3R+p of column c in bits [1:0], [3:2], [5:4], [7:6] as
 * codes w+1 (code 3 unused). Four values share a byte, but they come from four rows, so no row
 * can be decoded alone: the table row has no to_f32/from_f32, and its block_size 4 / block_bytes
 * 1 only make whole-tensor byte counts right (rows*cols/4, and only for cols % 4 == 0 through
 * bn_dtype_tensor_bytes); element offsets into an hf2 tensor mean nothing. */
#define BN_HF2_ROWS_PER_BYTE 4

/* Row decoders and encoders: n values, a multiple of the block size. The encoders follow
 * ggml's quantize_row_*_ref in float32: d = absmax (q8_0: absmax / 127), id = 1/d (0 if d is
 * 0), q = roundf(x * id) rounding half away from zero, d stored as f16 rounded to nearest even.
 * Inputs must be finite; a NaN or Inf gives unspecified codes (but no undefined behaviour). */
void bn_q8_0_to_f32(const void *src, float *dst, int64_t n);
void bn_tq2_0_to_f32(const void *src, float *dst, int64_t n);
void bn_tq1_0_to_f32(const void *src, float *dst, int64_t n);
void bn_q8_0_from_f32(const float *src, void *dst, int64_t n);
void bn_tq2_0_from_f32(const float *src, void *dst, int64_t n);
void bn_tq1_0_from_f32(const float *src, void *dst, int64_t n);

/* Whole-tensor ternary packing, one set per ternary type (contract: bn_ternary_pack_fn in
 * dtype.h). Shapes each layout holds: tq1_0/tq2_0 cols % 256 == 0 (blocks run along rows);
 * i2_s rows*cols % 128 == 0 (groups run over the flattened tensor, across row ends); hf2
 * rows % 4 == 0. Every scale but hf2's must be finite (tq: also within f16 range). */
bn_status bn_tq1_0_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_tq1_0_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes);
bn_status bn_tq1_0_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale);
bn_status bn_tq2_0_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_tq2_0_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes);
bn_status bn_tq2_0_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale);

/* TQ2_0 straight into the i2v32 runtime layout, which is the same bits: within each 32-byte
 * half of a block, bit pair l of byte m is value 32 l + m, as in an i2v32 block. So the rows
 * are the blocks' qs bytes end to end (cols / 4 bytes), with no unpacking; the checks are
 * bn_tq2_0_unpack_ternary's (no code 3, one d over the blocks that hold a nonzero value), and
 * *scale is that d (0 when every value is 0). dst holds rows * cols / 4 bytes. */
bn_status bn_tq2_0_to_i2v32(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                            uint8_t *dst, float *scale);
bn_status bn_i2_s_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_i2_s_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                               size_t dst_bytes);
bn_status bn_i2_s_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                 int8_t *t, float *scale);
/* bitnet.cpp's quantize_i2_s writes its scale right after the codes it was given, and
 * llama-quantize hands each thread a chunk of whole rows (as many as make 16384 values, or one
 * row when a row is longer), so with several threads a chunk's scale can land on the first 4
 * bytes of the next chunk during or after that chunk's own writes: 16 weights are lost there,
 * and bitnet.cpp runs the file with wrong values. Every chunk of a ternary tensor has the
 * tail's scale, so the damage shows at a chunk's first row as a code 3 (the float's bits ORed
 * with codes: *certain) or as exactly the tail's 4 bytes (a true row could begin with the 16
 * codes those bits spell, about once in 3^16 chunks, so not certain). Returns the first such
 * row, or -1. src holds a whole i2_s tensor (bn_i2_s_ternary_bytes). */
int64_t bn_i2_s_chunk_damage(const void *src, int64_t rows, int64_t cols, bool *certain);
bn_status bn_hf2_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_hf2_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                              size_t dst_bytes);
bn_status bn_hf2_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                int8_t *t, float *scale);

/* i2v16 / i2v32 / i2v64: the ternary kernels' runtime layout (kernels/cpu/ternary_gemm.h),
 * V = 16, 32, 64 bytes per block of 4V values, any shape (rows padded to whole blocks with
 * w = 0), no scale (unpack gives NAN, like hf2). to_f32 decodes a row of whole blocks to -1/0/1. */
bn_status bn_i2v16_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_i2v16_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes);
bn_status bn_i2v16_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale);
void bn_i2v16_to_f32(const void *src, float *dst, int64_t n);
bn_status bn_i2v32_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_i2v32_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes);
bn_status bn_i2v32_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale);
void bn_i2v32_to_f32(const void *src, float *dst, int64_t n);
bn_status bn_i2v64_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_i2v64_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes);
bn_status bn_i2v64_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale);
void bn_i2v64_to_f32(const void *src, float *dst, int64_t n);

/* t5v64: the 1.6-bit runtime layout (kernels/cpu/ternary_gemm.h): rows of ceil(cols / 320)
 * blocks of 64 bytes; byte j of a block holds the codes c = w + 1 of values j, j+64, j+128,
 * j+192, j+256 as TQ1_0 does: q = ceil(v * 256 / 243), v = sum c_i 3^(4-i) (digit 0 most
 * significant), read back by bn_trit; the tail of the last block holds code 1 (w = 0). No
 * scale. */
bn_status bn_t5v64_ternary_bytes(int64_t rows, int64_t cols, size_t *out);
bn_status bn_t5v64_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes);
bn_status bn_t5v64_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale);
void bn_t5v64_to_f32(const void *src, float *dst, int64_t n);

/* Digit n (0 = most significant) of a byte holding 5 base-3 digits scaled by 256/243 (TQ1_0,
 * t5v64): the byte times 3^n wraps mod 256 to put digit n on top, and 3 * that / 256 reads it,
 * a multiply and a shift instead of divisions. */
static inline int bn_trit(uint8_t byte, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t shifted = (uint8_t)(byte * pow3[n]); /* wraps mod 256 on purpose */
    return ((uint16_t)shifted * 3) >> 8;
}

#endif /* BN_TENSOR_FORMATS_H */
