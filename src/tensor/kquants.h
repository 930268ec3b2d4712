/*
 * kquants.h - llama.cpp's legacy and k-quant block types: Q4_0, Q4_1, Q5_0, Q5_1 (32 values per
 * block), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256 per "super-block") and IQ4_NL (32, non-linear).
 *
 * llama-quantize writes these for the tensors it does not make ternary: the output head and
 * the token embeddings of a TQ1_0/TQ2_0 file are Q6_K (tied) or Q4_K + Q6_K (untied), and rows
 * whose length is not a multiple of 256 fall back to Q4_0/Q5_0/Q5_1/IQ4_NL. The layouts are
 * ggml's (ggml-common.h), checked here by a static assertion on every block size.
 *
 * Decoders (to_f32) are the specification of each format's values and give the bits of
 * gguf-py's gguf.quants.dequantize: the same float32 operations in the same order, each
 * rounded once (written as separate statements, never fused into an FMA; the build's
 * -std=c11 keeps GCC from contracting). Blocks whose f16 scales are Inf or NaN decode to
 * Inf/NaN values like numpy does; no input byte pattern is undefined behaviour.
 *
 * Encoders (from_f32) follow ggml's reference quantizers (quantize_row_*_ref; for IQ4_NL the
 * quantize_iq4_nl path llama-quantize takes without an importance matrix), in float32 with
 * each operation rounded once. Q4_0, Q4_1, Q5_0 and Q5_1 are also gguf-py's quantize, bit for
 * bit, with one exception each, in blocks of zeros only: Q4_0/Q5_0 take the signed value of the
 * first largest |x| (gguf-py's argmax; ggml starts from +0.0, so a block of zeros that begins
 * with -0.0 gets d = +0.0 here and -0.0 in ggml), and Q4_1/Q5_1 take ggml's first minimum and
 * maximum (numpy's vectorized min/max return either zero of a block holding +0.0 and -0.0).
 * Inputs should be finite; a NaN or Inf gives unspecified codes and scales but no undefined
 * behaviour (every float-to-integer step goes through a bounded or bit-level conversion).
 */
#ifndef BN_TENSOR_KQUANTS_H
#define BN_TENSOR_KQUANTS_H

#include <assert.h>
#include <stdint.h>

/* Values per block of the legacy types and IQ4_NL, and per super-block of the k-quants. */
#define BN_QK4 32
#define BN_QKK 256

/* Q4_0 (ggml type 2): f16 d, then 16 bytes of 4-bit codes u: byte j holds value j in its low
 * nibble and value j + 16 in its high nibble; value = d * (u - 8). 4.5 bits per weight. */
typedef struct bn_block_q4_0 {
    uint16_t d;
    uint8_t qs[BN_QK4 / 2];
} bn_block_q4_0;
static_assert(sizeof(bn_block_q4_0) == 18, "q4_0 block is 18 bytes");

/* Q4_1 (type 3): f16 d and m, then nibbles as Q4_0; value = d * u + m. 5 bits per weight. */
typedef struct bn_block_q4_1 {
    uint16_t d, m;
    uint8_t qs[BN_QK4 / 2];
} bn_block_q4_1;
static_assert(sizeof(bn_block_q4_1) == 20, "q4_1 block is 20 bytes");

/* Q5_0 (type 6): f16 d, 4 bytes qh (a little-endian uint32 whose bit j is bit 4 of value j),
 * then nibbles as Q4_0; value = d * (u - 16) with u in [0, 31]. 5.5 bits per weight. */
typedef struct bn_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[BN_QK4 / 2];
} bn_block_q5_0;
static_assert(sizeof(bn_block_q5_0) == 22, "q5_0 block is 22 bytes");

/* Q5_1 (type 7): f16 d and m, then qh and nibbles as Q5_0; value = d * u + m. 6 bits/weight. */
typedef struct bn_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[BN_QK4 / 2];
} bn_block_q5_1;
static_assert(sizeof(bn_block_q5_1) == 24, "q5_1 block is 24 bytes");

/* Q2_K (type 10): 16 sub-blocks of 16. scales[j]: low nibble the scale, high nibble the min of
 * sub-block j (4 bits each); qs: 2-bit codes u, for value 128h + 32s + m (h = 0, 1; s = 0..3;
 * m = 0..31) at bits 2s of qs[32h + m]; then f16 d and dmin. value = d*sc_j * u - dmin*m_j.
 * 2.625 bits per weight. */
typedef struct bn_block_q2_k {
    uint8_t scales[BN_QKK / 16];
    uint8_t qs[BN_QKK / 4];
    uint16_t d, dmin;
} bn_block_q2_k;
static_assert(sizeof(bn_block_q2_k) == 84, "q2_k block is 84 bytes");

/* Q3_K (type 11): 16 sub-blocks of 16 with 6-bit scales. hmask: bit e / 32 of hmask[e % 32] is
 * the high bit of value e; qs: the low 2 bits, placed as in Q2_K; scales: 12 bytes, scale j
 * (0..15) has its low 4 bits in the low (j < 8) or high (j >= 8) nibble of scales[j % 8] and its
 * top 2 bits at bits 2 (j / 4) of scales[8 + j % 4]; then f16 d. value = d * (s_j - 32) * q
 * with q = low2 - (high bit ? 0 : 4) in [-4, 3]. 3.4375 bits per weight. */
typedef struct bn_block_q3_k {
    uint8_t hmask[BN_QKK / 8];
    uint8_t qs[BN_QKK / 4];
    uint8_t scales[12];
    uint16_t d;
} bn_block_q3_k;
static_assert(sizeof(bn_block_q3_k) == 110, "q3_k block is 110 bytes");

/* Q4_K (type 12): f16 d and dmin, 8 sub-blocks of 32 with a 6-bit scale sc_j and min m_j packed
 * in 12 bytes (bn_q4_k_scale_min), then qs: 4-bit codes u, value 64c + i (c = 0..3, i = 0..31)
 * in the low nibble of qs[32c + i] and value 64c + 32 + i in its high nibble.
 * value = d*sc_j * u - dmin*m_j, j = e / 32. 4.5 bits per weight. */
typedef struct bn_block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[BN_QKK / 2];
} bn_block_q4_k;
static_assert(sizeof(bn_block_q4_k) == 144, "q4_k block is 144 bytes");

/* Q5_K (type 13): Q4_K plus qh: bit j of qh[i] is bit 4 of value 32j + i, so u is in [0, 31].
 * 5.5 bits per weight. */
typedef struct bn_block_q5_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[BN_QKK / 8];
    uint8_t qs[BN_QKK / 2];
} bn_block_q5_k;
static_assert(sizeof(bn_block_q5_k) == 176, "q5_k block is 176 bytes");

/* Q6_K (type 14): 6-bit codes u in two halves of 128 values. Value 128h + r (r = 0..127) has its
 * low 4 bits in nibble r / 64 of ql[64h + r % 64] and its top 2 bits at bits 2 (r / 32) of
 * qh[32h + r % 32]; then 16 int8 scales (one per 16 values) and f16 d.
 * value = d*scales[e / 16] * (u - 32). 6.5625 bits per weight. */
typedef struct bn_block_q6_k {
    uint8_t ql[BN_QKK / 2];
    uint8_t qh[BN_QKK / 4];
    int8_t scales[BN_QKK / 16];
    uint16_t d;
} bn_block_q6_k;
static_assert(sizeof(bn_block_q6_k) == 210, "q6_k block is 210 bytes");

/* IQ4_NL (type 20): f16 d, then nibbles placed as Q4_0 that index a fixed table of 16 levels
 * (bn_iq4_nl_levels); value = d * level. 4.5 bits per weight. */
typedef struct bn_block_iq4_nl {
    uint16_t d;
    uint8_t qs[BN_QK4 / 2];
} bn_block_iq4_nl;
static_assert(sizeof(bn_block_iq4_nl) == 18, "iq4_nl block is 18 bytes");

/* ggml's kvalues_iq4nl: the 16 non-linear levels of IQ4_NL, ascending. */
extern const int8_t bn_iq4_nl_levels[16];

/* Row decoders and encoders: n values, a multiple of the block size (the dtype table's
 * to_f32/from_f32). */
void bn_q4_0_to_f32(const void *src, float *dst, int64_t n);
void bn_q4_1_to_f32(const void *src, float *dst, int64_t n);
void bn_q5_0_to_f32(const void *src, float *dst, int64_t n);
void bn_q5_1_to_f32(const void *src, float *dst, int64_t n);
void bn_q2_k_to_f32(const void *src, float *dst, int64_t n);
void bn_q3_k_to_f32(const void *src, float *dst, int64_t n);
void bn_q4_k_to_f32(const void *src, float *dst, int64_t n);
void bn_q5_k_to_f32(const void *src, float *dst, int64_t n);
void bn_q6_k_to_f32(const void *src, float *dst, int64_t n);
void bn_iq4_nl_to_f32(const void *src, float *dst, int64_t n);

void bn_q4_0_from_f32(const float *src, void *dst, int64_t n);
void bn_q4_1_from_f32(const float *src, void *dst, int64_t n);
void bn_q5_0_from_f32(const float *src, void *dst, int64_t n);
void bn_q5_1_from_f32(const float *src, void *dst, int64_t n);
void bn_q2_k_from_f32(const float *src, void *dst, int64_t n);
void bn_q3_k_from_f32(const float *src, void *dst, int64_t n);
void bn_q4_k_from_f32(const float *src, void *dst, int64_t n);
void bn_q5_k_from_f32(const float *src, void *dst, int64_t n);
void bn_q6_k_from_f32(const float *src, void *dst, int64_t n);
void bn_iq4_nl_from_f32(const float *src, void *dst, int64_t n);

/* Integer views of one block, shared by the decoders and the product kernels' references
 * (kernels/cpu/kq_gemm.h). */

/* Q4_K/Q5_K: sub-block j's 6-bit scale and min. Bytes 0-3 hold sc_0..3 and bytes 4-7 m_0..3 in
 * their low 6 bits; for j = 4..7, the low nibble of byte 4 + j is sc_j's low 4 bits, its high
 * nibble m_j's, and the top 2 bits of bytes j - 4 and j give sc_j's and m_j's top 2 bits. */
void bn_q4_k_scale_min(const uint8_t scales[12], uint8_t sc[8], uint8_t m[8]);

/* The 256 codes of a block: Q4_K u in [0, 15], Q6_K u in [0, 63] (the value's q is u - 32). */
void bn_q4_k_codes(const bn_block_q4_k *b, uint8_t u[BN_QKK]);
void bn_q6_k_codes(const bn_block_q6_k *b, uint8_t u[BN_QKK]);

#endif /* BN_TENSOR_KQUANTS_H */
