/*
 * formats.h - block layouts of the quantized GGUF types, and their decoders.
 *
 * Each block struct is followed by a static assertion of its exact size: the layouts are file
 * formats and must never drift. The decoders are the specification of each format's values;
 * encoders come with the quantizers (src/quant).
 */
#ifndef BN_TENSOR_FORMATS_H
#define BN_TENSOR_FORMATS_H

#include <assert.h>
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
 * [3:2], [1:0]; codes 0,1,2 mean -1,0,+1. One float32 scale for the whole tensor sits in a
 * 32-byte tail after the codes. Decoding needs that tail, so it is done per tensor by the
 * quantization layer, not per row. */
#define BN_QK_I2_S 128
#define BN_I2_S_TAIL_BYTES 32

void bn_q8_0_to_f32(const void *src, float *dst, int64_t n);
void bn_tq2_0_to_f32(const void *src, float *dst, int64_t n);
void bn_tq1_0_to_f32(const void *src, float *dst, int64_t n);

#endif /* BN_TENSOR_FORMATS_H */
