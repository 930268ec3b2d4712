/*
 * dtype.c - the traits table: one row per data type.
 *
 * Rows are keyed by the bn_dtype enum with designated initializers, so an id can never point at
 * the wrong row. GGUF ids are those of ggml (F32 0, F16 1, I8 24, I32 26, BF16 30, Q4_0 2, ...).
 */
#include "tensor/dtype.h"

#include "tensor/formats.h"
#include "tensor/half.h"
#include "tensor/kquants.h"

#include <limits.h>
#include <math.h>
#include <string.h>

static void f32_to_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f32_from_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_f32(const void *src, float *dst, int64_t n) {
    bn_f16_to_f32_row(src, dst, (size_t)n);
}

static void f16_from_f32(const float *src, void *dst, int64_t n) {
    bn_f32_to_f16_row(src, dst, (size_t)n);
}

static void bf16_to_f32(const void *src, float *dst, int64_t n) {
    bn_bf16_to_f32_row(src, dst, (size_t)n);
}

static void bf16_from_f32(const float *src, void *dst, int64_t n) {
    bn_f32_to_bf16_row(src, dst, (size_t)n);
}

static void i8_to_f32(const void *src, float *dst, int64_t n) {
    const int8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

/* Integer targets round half to even (the current FP rounding mode) and saturate; NaN gives 0. */
static double round_saturate(float x, double lo, double hi) {
    if (isnan(x))
        return 0.0;
    double r = nearbyint((double)x);
    return r < lo ? lo : (r > hi ? hi : r);
}

static void i8_from_f32(const float *src, void *dst, int64_t n) {
    int8_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = (int8_t)round_saturate(src[i], INT8_MIN, INT8_MAX);
}

static void i32_to_f32(const void *src, float *dst, int64_t n) {
    const int32_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static void i32_from_f32(const float *src, void *dst, int64_t n) {
    int32_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = (int32_t)round_saturate(src[i], INT32_MIN, INT32_MAX);
}

/* Designated fields, because a row has ten and most are zero or NULL. */
static const bn_dtype_traits traits[BN_DTYPE_COUNT] = {
    [BN_DTYPE_F32] = {.name = "f32",
                      .gguf_type = 0,
                      .block_size = 1,
                      .block_bytes = 4,
                      .to_f32 = f32_to_f32,
                      .from_f32 = f32_from_f32},
    [BN_DTYPE_F16] = {.name = "f16",
                      .gguf_type = 1,
                      .block_size = 1,
                      .block_bytes = 2,
                      .to_f32 = f16_to_f32,
                      .from_f32 = f16_from_f32},
    [BN_DTYPE_BF16] = {.name = "bf16",
                       .gguf_type = 30,
                       .block_size = 1,
                       .block_bytes = 2,
                       .to_f32 = bf16_to_f32,
                       .from_f32 = bf16_from_f32},
    [BN_DTYPE_I8] = {.name = "i8",
                     .gguf_type = 24,
                     .block_size = 1,
                     .block_bytes = 1,
                     .is_integer = true,
                     .to_f32 = i8_to_f32,
                     .from_f32 = i8_from_f32},
    [BN_DTYPE_I32] = {.name = "i32",
                      .gguf_type = 26,
                      .block_size = 1,
                      .block_bytes = 4,
                      .is_integer = true,
                      .to_f32 = i32_to_f32,
                      .from_f32 = i32_from_f32},
    [BN_DTYPE_Q8_0] = {.name = "q8_0",
                       .gguf_type = 8,
                       .block_size = BN_QK8_0,
                       .block_bytes = sizeof(bn_block_q8_0),
                       .is_quantized = true,
                       .to_f32 = bn_q8_0_to_f32,
                       .from_f32 = bn_q8_0_from_f32},
    [BN_DTYPE_TQ1_0] = {.name = "tq1_0",
                        .gguf_type = 34,
                        .block_size = BN_QK_K,
                        .block_bytes = sizeof(bn_block_tq1_0),
                        .is_quantized = true,
                        .to_f32 = bn_tq1_0_to_f32,
                        .from_f32 = bn_tq1_0_from_f32,
                        .ternary_bytes = bn_tq1_0_ternary_bytes,
                        .pack_ternary = bn_tq1_0_pack_ternary,
                        .unpack_ternary = bn_tq1_0_unpack_ternary},
    [BN_DTYPE_TQ2_0] = {.name = "tq2_0",
                        .gguf_type = 35,
                        .block_size = BN_QK_K,
                        .block_bytes = sizeof(bn_block_tq2_0),
                        .is_quantized = true,
                        .to_f32 = bn_tq2_0_to_f32,
                        .from_f32 = bn_tq2_0_from_f32,
                        .ternary_bytes = bn_tq2_0_ternary_bytes,
                        .pack_ternary = bn_tq2_0_pack_ternary,
                        .unpack_ternary = bn_tq2_0_unpack_ternary},
    /* The tail holds the float32 scale; decoding needs it, hence no row decoder. The groups of
     * 128 run over the flattened tensor, so a row may end inside one: block_size is the row
     * granule only where rows are whole groups; tensor sizes come from ternary_bytes. */
    [BN_DTYPE_I2_S] = {.name = "i2_s",
                       .gguf_type = 36,
                       .block_size = BN_QK_I2_S,
                       .block_bytes = BN_QK_I2_S / 4,
                       .is_quantized = true,
                       .tensor_tail_bytes = BN_I2_S_TAIL_BYTES,
                       .ternary_bytes = bn_i2_s_ternary_bytes,
                       .pack_ternary = bn_i2_s_pack_ternary,
                       .unpack_ternary = bn_i2_s_unpack_ternary},
    /* 4 values per byte, but from 4 rows (formats.h): the block is counted along the row only so
     * that row arithmetic comes out as rows*cols/4; whole-tensor sizes come from ternary_bytes
     * (bn_dtype_tensor_bytes asks it), which holds any width. */
    [BN_DTYPE_HF2] = {.name = "hf2",
                      .gguf_type = BN_GGUF_TYPE_NONE,
                      .block_size = BN_HF2_ROWS_PER_BYTE,
                      .block_bytes = 1,
                      .is_quantized = true,
                      .ternary_bytes = bn_hf2_ternary_bytes,
                      .pack_ternary = bn_hf2_pack_ternary,
                      .unpack_ternary = bn_hf2_unpack_ternary},
    [BN_DTYPE_I2V16] = {.name = "i2v16",
                        .gguf_type = BN_GGUF_TYPE_NONE,
                        .block_size = 64,
                        .block_bytes = 16,
                        .is_quantized = true,
                        .to_f32 = bn_i2v16_to_f32,
                        .ternary_bytes = bn_i2v16_ternary_bytes,
                        .pack_ternary = bn_i2v16_pack_ternary,
                        .unpack_ternary = bn_i2v16_unpack_ternary},
    [BN_DTYPE_I2V32] = {.name = "i2v32",
                        .gguf_type = BN_GGUF_TYPE_NONE,
                        .block_size = 128,
                        .block_bytes = 32,
                        .is_quantized = true,
                        .to_f32 = bn_i2v32_to_f32,
                        .ternary_bytes = bn_i2v32_ternary_bytes,
                        .pack_ternary = bn_i2v32_pack_ternary,
                        .unpack_ternary = bn_i2v32_unpack_ternary},
    [BN_DTYPE_I2V64] = {.name = "i2v64",
                        .gguf_type = BN_GGUF_TYPE_NONE,
                        .block_size = 256,
                        .block_bytes = 64,
                        .is_quantized = true,
                        .to_f32 = bn_i2v64_to_f32,
                        .ternary_bytes = bn_i2v64_ternary_bytes,
                        .pack_ternary = bn_i2v64_pack_ternary,
                        .unpack_ternary = bn_i2v64_unpack_ternary},
    [BN_DTYPE_T5V64] = {.name = "t5v64",
                        .gguf_type = BN_GGUF_TYPE_NONE,
                        .block_size = 320,
                        .block_bytes = 64,
                        .is_quantized = true,
                        .to_f32 = bn_t5v64_to_f32,
                        .ternary_bytes = bn_t5v64_ternary_bytes,
                        .pack_ternary = bn_t5v64_pack_ternary,
                        .unpack_ternary = bn_t5v64_unpack_ternary},
    /* llama.cpp's legacy and k-quant types: rows straight from GGUF files (kquants.h). */
    [BN_DTYPE_Q4_0] = {.name = "q4_0",
                       .gguf_type = 2,
                       .block_size = BN_QK4,
                       .block_bytes = sizeof(bn_block_q4_0),
                       .is_quantized = true,
                       .to_f32 = bn_q4_0_to_f32,
                       .from_f32 = bn_q4_0_from_f32},
    [BN_DTYPE_Q4_1] = {.name = "q4_1",
                       .gguf_type = 3,
                       .block_size = BN_QK4,
                       .block_bytes = sizeof(bn_block_q4_1),
                       .is_quantized = true,
                       .to_f32 = bn_q4_1_to_f32,
                       .from_f32 = bn_q4_1_from_f32},
    [BN_DTYPE_Q5_0] = {.name = "q5_0",
                       .gguf_type = 6,
                       .block_size = BN_QK4,
                       .block_bytes = sizeof(bn_block_q5_0),
                       .is_quantized = true,
                       .to_f32 = bn_q5_0_to_f32,
                       .from_f32 = bn_q5_0_from_f32},
    [BN_DTYPE_Q5_1] = {.name = "q5_1",
                       .gguf_type = 7,
                       .block_size = BN_QK4,
                       .block_bytes = sizeof(bn_block_q5_1),
                       .is_quantized = true,
                       .to_f32 = bn_q5_1_to_f32,
                       .from_f32 = bn_q5_1_from_f32},
    [BN_DTYPE_Q2_K] = {.name = "q2_k",
                       .gguf_type = 10,
                       .block_size = BN_QKK,
                       .block_bytes = sizeof(bn_block_q2_k),
                       .is_quantized = true,
                       .to_f32 = bn_q2_k_to_f32,
                       .from_f32 = bn_q2_k_from_f32},
    [BN_DTYPE_Q3_K] = {.name = "q3_k",
                       .gguf_type = 11,
                       .block_size = BN_QKK,
                       .block_bytes = sizeof(bn_block_q3_k),
                       .is_quantized = true,
                       .to_f32 = bn_q3_k_to_f32,
                       .from_f32 = bn_q3_k_from_f32},
    [BN_DTYPE_Q4_K] = {.name = "q4_k",
                       .gguf_type = 12,
                       .block_size = BN_QKK,
                       .block_bytes = sizeof(bn_block_q4_k),
                       .is_quantized = true,
                       .to_f32 = bn_q4_k_to_f32,
                       .from_f32 = bn_q4_k_from_f32},
    [BN_DTYPE_Q5_K] = {.name = "q5_k",
                       .gguf_type = 13,
                       .block_size = BN_QKK,
                       .block_bytes = sizeof(bn_block_q5_k),
                       .is_quantized = true,
                       .to_f32 = bn_q5_k_to_f32,
                       .from_f32 = bn_q5_k_from_f32},
    [BN_DTYPE_Q6_K] = {.name = "q6_k",
                       .gguf_type = 14,
                       .block_size = BN_QKK,
                       .block_bytes = sizeof(bn_block_q6_k),
                       .is_quantized = true,
                       .to_f32 = bn_q6_k_to_f32,
                       .from_f32 = bn_q6_k_from_f32},
    [BN_DTYPE_IQ4_NL] = {.name = "iq4_nl",
                         .gguf_type = 20,
                         .block_size = BN_QK4,
                         .block_bytes = sizeof(bn_block_iq4_nl),
                         .is_quantized = true,
                         .to_f32 = bn_iq4_nl_to_f32,
                         .from_f32 = bn_iq4_nl_from_f32},
};

bool bn_dtype_valid(bn_dtype dtype) {
    return (int)dtype >= 0 && dtype < BN_DTYPE_COUNT && traits[dtype].name != NULL;
}

const bn_dtype_traits *bn_dtype_get(bn_dtype dtype) {
    return bn_dtype_valid(dtype) ? &traits[dtype] : NULL;
}

const char *bn_dtype_name(bn_dtype dtype) {
    return bn_dtype_valid(dtype) ? traits[dtype].name : "?";
}

bn_status bn_dtype_from_name(const char *name, bn_dtype *out) {
    for (int i = 0; i < BN_DTYPE_COUNT; i++) {
        if (traits[i].name != NULL && strcmp(traits[i].name, name) == 0) {
            *out = (bn_dtype)i;
            return BN_OK;
        }
    }
    return BN_ERROR(BN_ERR_DTYPE, "unknown data type '%s'", name);
}

bn_status bn_dtype_from_gguf(int gguf_type, bn_dtype *out) {
    for (int i = 0; i < BN_DTYPE_COUNT; i++) {
        if (traits[i].name != NULL && traits[i].gguf_type == gguf_type &&
            gguf_type != BN_GGUF_TYPE_NONE) {
            *out = (bn_dtype)i;
            return BN_OK;
        }
    }
    return BN_ERROR(BN_ERR_DTYPE, "unknown GGUF tensor type id %d", gguf_type);
}

bn_status bn_dtype_row_bytes(bn_dtype dtype, int64_t n, size_t *out) {
    const bn_dtype_traits *t = bn_dtype_get(dtype);
    if (t == NULL)
        return BN_ERROR(BN_ERR_DTYPE, "invalid data type id %d", (int)dtype);
    if (n < 0)
        return BN_ERROR(BN_ERR_SHAPE, "negative row length %lld", (long long)n);
    if (n % t->block_size != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "row of %lld values is not a whole number of %s blocks (%lld)",
                        (long long)n, t->name, (long long)t->block_size);
    uint64_t blocks = (uint64_t)(n / t->block_size);
    if (blocks > SIZE_MAX / t->block_bytes)
        return BN_ERROR(BN_ERR_RANGE, "row of %lld %s values overflows size_t", (long long)n,
                        t->name);
    *out = (size_t)blocks * t->block_bytes;
    return BN_OK;
}

bn_status bn_dtype_tensor_bytes(bn_dtype dtype, int64_t row_len, int64_t numel, size_t *out) {
    const bn_dtype_traits *t = bn_dtype_get(dtype);
    if (t == NULL)
        return BN_ERROR(BN_ERR_DTYPE, "invalid data type id %d", (int)dtype);
    if (row_len <= 0 || numel < 0 || numel % row_len != 0)
        return BN_ERROR(BN_ERR_SHAPE, "%lld %s values do not form rows of %lld", (long long)numel,
                        t->name, (long long)row_len);
    /* The ternary packings say for themselves what a whole tensor takes: I2_S's groups run over
     * the flattened tensor (any row length, rows * cols a multiple of 128: 1bitLLM-3B's
     * 8640-wide down projections), and hf2's bytes pack 4 rows. */
    if (t->ternary_bytes != NULL)
        return t->ternary_bytes(numel / row_len, row_len, out);
    size_t row_bytes = 0;
    BN_TRY(bn_dtype_row_bytes(dtype, row_len, &row_bytes));
    uint64_t rows = (uint64_t)(numel / row_len);
    if (row_bytes != 0 && rows > (SIZE_MAX - t->tensor_tail_bytes) / row_bytes)
        return BN_ERROR(BN_ERR_RANGE, "%lld %s values overflow size_t", (long long)numel, t->name);
    *out = (size_t)rows * row_bytes + t->tensor_tail_bytes;
    return BN_OK;
}
