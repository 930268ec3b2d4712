/*
 * dtype.c - the traits table: one row per data type.
 *
 * Rows are keyed by the bn_dtype enum with designated initializers, so an id can never point at
 * the wrong row. GGUF ids are those of ggml (F32 0, F16 1, I8 24, I32 26, BF16 30).
 */
#include "tensor/dtype.h"

#include "tensor/formats.h"
#include "tensor/half.h"

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

/* name, GGUF id, block size, block bytes, quantized, tail bytes, to_f32, from_f32 */
static const bn_dtype_traits traits[BN_DTYPE_COUNT] = {
    [BN_DTYPE_F32] = {"f32", 0, 1, 4, false, 0, f32_to_f32, f32_from_f32},
    [BN_DTYPE_F16] = {"f16", 1, 1, 2, false, 0, f16_to_f32, f16_from_f32},
    [BN_DTYPE_BF16] = {"bf16", 30, 1, 2, false, 0, bf16_to_f32, bf16_from_f32},
    [BN_DTYPE_I8] = {"i8", 24, 1, 1, false, 0, i8_to_f32, i8_from_f32},
    [BN_DTYPE_I32] = {"i32", 26, 1, 4, false, 0, i32_to_f32, i32_from_f32},
    [BN_DTYPE_Q8_0] = {"q8_0", 8, BN_QK8_0, sizeof(bn_block_q8_0), true, 0, bn_q8_0_to_f32, NULL},
    [BN_DTYPE_TQ1_0] = {"tq1_0", 34, BN_QK_K, sizeof(bn_block_tq1_0), true, 0, bn_tq1_0_to_f32,
                        NULL},
    [BN_DTYPE_TQ2_0] = {"tq2_0", 35, BN_QK_K, sizeof(bn_block_tq2_0), true, 0, bn_tq2_0_to_f32,
                        NULL},
    [BN_DTYPE_I2_S] = {"i2_s", 36, BN_QK_I2_S, BN_QK_I2_S / 4, true, BN_I2_S_TAIL_BYTES, NULL, NULL},
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
        return BN_ERROR(BN_ERR_SHAPE, "row of %lld values is not a whole number of %s blocks (%lld)",
                        (long long)n, t->name, (long long)t->block_size);
    uint64_t blocks = (uint64_t)(n / t->block_size);
    if (blocks > SIZE_MAX / t->block_bytes)
        return BN_ERROR(BN_ERR_RANGE, "row of %lld %s values overflows size_t", (long long)n,
                        t->name);
    *out = (size_t)blocks * t->block_bytes;
    return BN_OK;
}

bn_status bn_dtype_tensor_bytes(bn_dtype dtype, int64_t row_len, int64_t numel, size_t *out) {
    size_t row_bytes;
    BN_TRY(bn_dtype_row_bytes(dtype, row_len, &row_bytes));
    const bn_dtype_traits *t = bn_dtype_get(dtype);
    if (row_len <= 0 || numel < 0 || numel % row_len != 0)
        return BN_ERROR(BN_ERR_SHAPE, "%lld %s values do not form rows of %lld", (long long)numel,
                        t->name, (long long)row_len);
    uint64_t rows = (uint64_t)(numel / row_len);
    if (row_bytes != 0 && rows > (SIZE_MAX - t->tensor_tail_bytes) / row_bytes)
        return BN_ERROR(BN_ERR_RANGE, "%lld %s values overflow size_t", (long long)numel, t->name);
    *out = (size_t)rows * row_bytes + t->tensor_tail_bytes;
    return BN_OK;
}
