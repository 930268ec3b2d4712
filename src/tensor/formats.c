/*
 * formats.c - the layouts of formats.h: row decoders, ggml's reference row encoders, and
 * whole-tensor ternary pack/unpack for tq1_0, tq2_0, i2_s and hf2.
 *
 * Every layout goes through "codes": one byte per value, q = w + 1 in {0, 1, 2}. A block is read
 * into codes and written from codes by one pair of functions, which the row decoders, the row
 * encoders and the tensor pack/unpack all share, so a layout is spelled out exactly once.
 */
#include "tensor/formats.h"

#include "tensor/half.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Block layouts: codes <-> bytes
 * ------------------------------------------------------------------------------------------- */

static void tq2_0_read_codes(const bn_block_tq2_0 *b, uint8_t *codes) {
    for (int j = 0; j < 2; j++)          /* two chunks of 32 bytes, 128 values each */
        for (int l = 0; l < 4; l++)      /* bit pair */
            for (int m = 0; m < 32; m++) /* byte */
                codes[j * 128 + l * 32 + m] = (b->qs[j * 32 + m] >> (2 * l)) & 3;
}

static void tq2_0_write_codes(const uint8_t *codes, uint16_t d, bn_block_tq2_0 *b) {
    for (int j = 0; j < 2; j++)
        for (int m = 0; m < 32; m++) { /* one byte at a time, which vectorizes */
            const uint8_t *c = codes + j * 128 + m;
            b->qs[j * 32 + m] = (uint8_t)(c[0] | c[32] << 2 | c[64] << 4 | c[96] << 6);
        }
    b->d = d;
}

/* The first `count` digits of a byte into codes `stride` apart. */
static void tq1_0_read_byte(uint8_t byte, int count, uint8_t *codes, int stride) {
    for (int n = 0; n < count; n++)
        codes[n * stride] = (uint8_t)bn_trit(byte, n);
}

/* `count` codes `stride` apart as one byte: a base-3 number, first code most significant,
 * padded to 5 digits with zeros (qh bytes hold 4), scaled by 256/243 rounding up so that bn_trit()
 * reads the digits back with a multiply and a shift. */
static uint8_t tq1_0_write_byte(const uint8_t *codes, int count, int stride) {
    unsigned v = 0;
    for (int n = 0; n < 5; n++)
        v = v * 3 + (n < count ? codes[n * stride] : 0);
    return (uint8_t)((v * 256 + 242) / 243);
}

/* qs[0..31] hold values 32n + m (n = 0..4), qs[32..47] values 160 + 16n + m, qh[0..3] values
 * 240 + 4n + j (n = 0..3). */
static void tq1_0_read_codes(const bn_block_tq1_0 *b, uint8_t *codes) {
    for (int m = 0; m < 32; m++)
        tq1_0_read_byte(b->qs[m], 5, codes + m, 32);
    for (int m = 0; m < 16; m++)
        tq1_0_read_byte(b->qs[32 + m], 5, codes + 160 + m, 16);
    for (int j = 0; j < 4; j++)
        tq1_0_read_byte(b->qh[j], 4, codes + 240 + j, 4);
}

static void tq1_0_write_codes(const uint8_t *codes, uint16_t d, bn_block_tq1_0 *b) {
    for (int m = 0; m < 32; m++)
        b->qs[m] = tq1_0_write_byte(codes + m, 5, 32);
    for (int m = 0; m < 16; m++)
        b->qs[32 + m] = tq1_0_write_byte(codes + 160 + m, 5, 16);
    for (int j = 0; j < 4; j++)
        b->qh[j] = tq1_0_write_byte(codes + 240 + j, 4, 4);
    b->d = d;
}

/* ---------------------------------------------------------------------------------------------
 * Row decoders (the specification of each format's values)
 * ------------------------------------------------------------------------------------------- */

void bn_q8_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / BN_QK8_0; i++) {
        float d = bn_f16_to_f32(b[i].d);
        for (int j = 0; j < BN_QK8_0; j++)
            dst[i * BN_QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

/* value = (q - 1) * d; a tq2_0 code 3 decodes to 2d, as in ggml (no encoder writes it). */
static void codes_to_f32(const uint8_t *codes, float d, float *y) {
    for (int j = 0; j < BN_QK_K; j++)
        y[j] = (float)(codes[j] - 1) * d;
}

void bn_tq2_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_tq2_0 *b = src;
    uint8_t codes[BN_QK_K];
    for (int64_t i = 0; i < n / BN_QK_K; i++) {
        tq2_0_read_codes(&b[i], codes);
        codes_to_f32(codes, bn_f16_to_f32(b[i].d), dst + i * BN_QK_K);
    }
}

void bn_tq1_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_tq1_0 *b = src;
    uint8_t codes[BN_QK_K];
    for (int64_t i = 0; i < n / BN_QK_K; i++) {
        tq1_0_read_codes(&b[i], codes);
        codes_to_f32(codes, bn_f16_to_f32(b[i].d), dst + i * BN_QK_K);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Row encoders: ggml's quantize_row_{q8_0,tq1_0,tq2_0}_ref, operation for operation in float32.
 * Each step is one float32 multiply or divide (nothing a compiler could fuse into an FMA, no
 * excess precision on x86-64), so it rounds exactly as gguf-py's float32 numpy arrays do.
 * ------------------------------------------------------------------------------------------- */

/* roundf rounds half away from zero, like ggml's roundf/lroundf and gguf-py's np_roundf. For
 * finite input the result is already within [lo, hi]; the clamp and the NaN test are there
 * because converting an out-of-range float to an integer would be undefined behaviour. */
static int round_away(float v, int lo, int hi) {
    if (isnan(v))
        return 0;
    float r = roundf(v);
    return r < (float)lo ? lo : (r > (float)hi ? hi : (int)r);
}

/* Largest |x| of a block (a NaN is skipped; it is outside the encoders' contract anyway). */
static float block_absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax)
            amax = a;
    }
    return amax;
}

static float inverse_or_zero(float d) {
    return d != 0.0f ? 1.0f / d : 0.0f;
}

void bn_q8_0_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / BN_QK8_0; i++) {
        const float *x = src + i * BN_QK8_0;
        float d = block_absmax(x, BN_QK8_0) / 127.0f;
        float id = inverse_or_zero(d);
        b[i].d = bn_f32_to_f16(d);
        for (int j = 0; j < BN_QK8_0; j++)
            b[i].qs[j] = (int8_t)round_away(x[j] * id, -127, 127);
    }
}

/* Codes of one 256-value block quantized to ternary with d = absmax; returns d as f16. */
static uint16_t tq_codes_from_f32(const float *x, uint8_t *codes) {
    float d = block_absmax(x, BN_QK_K);
    float id = inverse_or_zero(d);
    for (int j = 0; j < BN_QK_K; j++)
        codes[j] = (uint8_t)(round_away(x[j] * id, -1, 1) + 1);
    return bn_f32_to_f16(d);
}

void bn_tq2_0_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_tq2_0 *b = dst;
    uint8_t codes[BN_QK_K];
    for (int64_t i = 0; i < n / BN_QK_K; i++) {
        uint16_t d = tq_codes_from_f32(src + i * BN_QK_K, codes);
        tq2_0_write_codes(codes, d, &b[i]);
    }
}

void bn_tq1_0_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_tq1_0 *b = dst;
    uint8_t codes[BN_QK_K];
    for (int64_t i = 0; i < n / BN_QK_K; i++) {
        uint16_t d = tq_codes_from_f32(src + i * BN_QK_K, codes);
        tq1_0_write_codes(codes, d, &b[i]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Ternary tensors: checks shared by every layout
 * ------------------------------------------------------------------------------------------- */

static bool tq_holds(int64_t rows, int64_t cols) {
    (void)rows;
    return cols % BN_QK_K == 0;
}

static bool i2_s_holds(int64_t rows, int64_t cols) {
    return rows * cols % BN_QK_I2_S == 0;
}

static bool hf2_holds(int64_t rows, int64_t cols) {
    (void)cols;
    return rows % BN_HF2_ROWS_PER_BYTE == 0;
}

/* The shape rule of each ternary layout, all in one list so that refusing a shape can name the
 * layouts that would hold it. */
enum { RULE_TQ1_0, RULE_TQ2_0, RULE_I2_S, RULE_HF2, RULE_COUNT };
static const struct shape_rule {
    const char *name;
    const char *rule;
    bool (*holds)(int64_t rows, int64_t cols);
} shape_rules[RULE_COUNT] = {
    [RULE_TQ1_0] = {"tq1_0", "cols must be a multiple of 256 (its blocks run along rows)",
                    tq_holds},
    [RULE_TQ2_0] = {"tq2_0", "cols must be a multiple of 256 (its blocks run along rows)",
                    tq_holds},
    [RULE_I2_S] = {"i2_s",
                   "rows * cols must be a multiple of 128 (its groups run over the "
                   "flattened tensor)",
                   i2_s_holds},
    [RULE_HF2] = {"hf2", "rows must be a multiple of 4 (each byte packs 4 rows)", hf2_holds},
};

static bn_status check_shape(int rule, int64_t rows, int64_t cols) {
    const struct shape_rule *r = &shape_rules[rule];
    if (rows <= 0 || cols <= 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s: a ternary tensor needs positive dimensions, not [%lld, %lld]", r->name,
                        (long long)rows, (long long)cols);
    if (rows > INT64_MAX / cols)
        return BN_ERROR(BN_ERR_RANGE, "%s: a [%lld, %lld] tensor has more values than int64 holds",
                        r->name, (long long)rows, (long long)cols);
    if (r->holds(rows, cols))
        return BN_OK;
    char others[64] = "";
    for (int k = 0; k < RULE_COUNT; k++) {
        if (k != rule && shape_rules[k].holds(rows, cols)) {
            size_t len = strlen(others);
            snprintf(others + len, sizeof others - len, "%s%s", len ? ", " : "",
                     shape_rules[k].name);
        }
    }
    return BN_ERROR(BN_ERR_SHAPE, "%s cannot hold a [%lld, %lld] ternary tensor: %s; %s%s", r->name,
                    (long long)rows, (long long)cols, r->rule,
                    others[0] ? "types that can: " : "no ternary type can", others);
}

static bn_status size_out(const char *name, uint64_t bytes, size_t *out) {
    if (bytes > SIZE_MAX)
        return BN_ERROR(BN_ERR_RANGE, "%s: %llu bytes overflow size_t", name,
                        (unsigned long long)bytes);
    *out = (size_t)bytes;
    return BN_OK;
}

/* `which` is "destination" or "source". Exact sizes only: a buffer of another size means the
 * caller computed the shape or the type differently, which is a bug worth stopping at. */
static bn_status check_bytes(const char *name, const char *which, int64_t rows, int64_t cols,
                             size_t got, size_t want) {
    if (got != want)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s: a [%lld, %lld] ternary tensor takes %zu bytes, the %s has %zu", name,
                        (long long)rows, (long long)cols, want, which, got);
    return BN_OK;
}

static bn_status check_values(const char *name, const int8_t *t, int64_t rows, int64_t cols) {
    unsigned bad = 0; /* a branch-free pass first: this runs over billions of values */
    for (int64_t i = 0; i < rows * cols; i++)
        bad |= (uint8_t)(t[i] + 1) > 2;
    for (int64_t i = 0; bad && i < rows * cols; i++)
        if (t[i] < -1 || t[i] > 1)
            return BN_ERROR(BN_ERR_RANGE,
                            "%s: value %d at index %lld ([%lld, %lld]) is not ternary (-1, 0, 1)",
                            name, t[i], (long long)i, (long long)(i / cols), (long long)(i % cols));
    return BN_OK;
}

static bn_status check_scale(const char *name, float scale) {
    if (!isfinite(scale))
        return BN_ERROR(BN_ERR_RANGE, "%s: scale %g is not finite", name, (double)scale);
    return BN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * tq1_0 / tq2_0: rows of cols/256 blocks, every block's d = the tensor's scale
 * ------------------------------------------------------------------------------------------- */

/* Codes and d of one block. BN_ERR_FORMAT, naming the block, for bytes no encoder writes. */
typedef bn_status (*tq_read_fn)(const void *block, int64_t index, int64_t blocks_per_row,
                                uint8_t *codes, uint16_t *d);
typedef void (*tq_write_fn)(const uint8_t *codes, uint16_t d, void *block);

typedef struct tq_layout {
    int rule;
    size_t block_bytes;
    tq_read_fn read;
    tq_write_fn write;
} tq_layout;

static bn_status tq2_0_read(const void *block, int64_t index, int64_t blocks_per_row,
                            uint8_t *codes, uint16_t *d) {
    const bn_block_tq2_0 *b = block;
    tq2_0_read_codes(b, codes);
    for (int j = 0; j < BN_QK_K; j++)
        if (codes[j] == 3)
            return BN_ERROR(BN_ERR_FORMAT,
                            "tq2_0: block %lld (row %lld) value %d has code 3, which no encoder "
                            "writes (codes 0, 1, 2 are -1, 0, +1)",
                            (long long)index, (long long)(index / blocks_per_row), j);
    *d = b->d;
    return BN_OK;
}

static void tq2_0_write(const uint8_t *codes, uint16_t d, void *block) {
    tq2_0_write_codes(codes, d, block);
}

/* Each byte yields 5 digits of 0..2 whatever its value, but only 243 of the 256 byte values (81
 * for qh, whose fifth digit is 0) are what the encoder writes for some digits. Accepting only
 * those makes pack(unpack(x)) == x, so a block is valid iff re-encoding its digits gives it back.
 */
static bn_status tq1_0_read(const void *block, int64_t index, int64_t blocks_per_row,
                            uint8_t *codes, uint16_t *d) {
    const bn_block_tq1_0 *b = block;
    tq1_0_read_codes(b, codes);
    bn_block_tq1_0 again;
    tq1_0_write_codes(codes, b->d, &again);
    const uint8_t *got = (const uint8_t *)b, *want = (const uint8_t *)&again;
    for (size_t k = 0; k < sizeof b->qs + sizeof b->qh; k++)
        if (got[k] != want[k])
            return BN_ERROR(BN_ERR_FORMAT,
                            "tq1_0: block %lld (row %lld) byte %zu is 0x%02x, which is not a "
                            "base-3 digit byte the encoder writes (its digits encode as 0x%02x)",
                            (long long)index, (long long)(index / blocks_per_row), k, got[k],
                            want[k]);
    *d = b->d;
    return BN_OK;
}

static void tq1_0_write(const uint8_t *codes, uint16_t d, void *block) {
    tq1_0_write_codes(codes, d, block);
}

static const tq_layout tq1_0_layout = {RULE_TQ1_0, sizeof(bn_block_tq1_0), tq1_0_read, tq1_0_write};
static const tq_layout tq2_0_layout = {RULE_TQ2_0, sizeof(bn_block_tq2_0), tq2_0_read, tq2_0_write};

static bn_status tq_bytes(const tq_layout *l, int64_t rows, int64_t cols, size_t *out) {
    BN_TRY(check_shape(l->rule, rows, cols));
    /* rows * cols / 256 * 66 < 2^63 / 256 * 66: no uint64 overflow */
    return size_out(shape_rules[l->rule].name, (uint64_t)(rows * cols / BN_QK_K) * l->block_bytes,
                    out);
}

static bn_status tq_pack(const tq_layout *l, const int8_t *t, int64_t rows, int64_t cols,
                         float scale, void *dst, size_t dst_bytes) {
    const char *name = shape_rules[l->rule].name;
    size_t want;
    BN_TRY(tq_bytes(l, rows, cols, &want));
    BN_TRY(check_bytes(name, "destination", rows, cols, dst_bytes, want));
    BN_TRY(check_values(name, t, rows, cols));
    BN_TRY(check_scale(name, scale));
    uint16_t d = bn_f32_to_f16(scale);
    if (isinf(bn_f16_to_f32(d)))
        return BN_ERROR(BN_ERR_RANGE, "%s: scale %g overflows the f16 its blocks store (max 65504)",
                        name, (double)scale);
    /* cols is a multiple of 256, so block b holds values 256b.. of the flattened tensor */
    uint8_t codes[BN_QK_K];
    for (int64_t b = 0; b < rows * cols / BN_QK_K; b++) {
        for (int j = 0; j < BN_QK_K; j++)
            codes[j] = (uint8_t)(t[b * BN_QK_K + j] + 1);
        l->write(codes, d, (uint8_t *)dst + b * (int64_t)l->block_bytes);
    }
    return BN_OK;
}

/* Blocks holding only zeros say nothing about the scale (ggml's quantizer gives them d = 0), so
 * the scale is the d shared by the others; compared as f16 bits, so that packing the result
 * again reproduces every one of them. */
static bn_status tq_unpack(const tq_layout *l, const void *src, size_t src_bytes, int64_t rows,
                           int64_t cols, int8_t *t, float *scale) {
    const char *name = shape_rules[l->rule].name;
    size_t want;
    BN_TRY(tq_bytes(l, rows, cols, &want));
    BN_TRY(check_bytes(name, "source", rows, cols, src_bytes, want));
    int64_t per_row = cols / BN_QK_K;
    int64_t first = -1; /* the first block holding a nonzero value */
    uint16_t first_d = 0;
    uint8_t codes[BN_QK_K];
    for (int64_t b = 0; b < rows * per_row; b++) {
        uint16_t d;
        BN_TRY(l->read((const uint8_t *)src + b * (int64_t)l->block_bytes, b, per_row, codes, &d));
        if (!isfinite(bn_f16_to_f32(d)))
            return BN_ERROR(BN_ERR_FORMAT, "%s: block %lld (row %lld) has scale %g", name,
                            (long long)b, (long long)(b / per_row), (double)bn_f16_to_f32(d));
        bool nonzero = false;
        for (int j = 0; j < BN_QK_K; j++) {
            t[b * BN_QK_K + j] = (int8_t)(codes[j] - 1);
            nonzero |= codes[j] != 1;
        }
        if (!nonzero)
            continue;
        if (first < 0) {
            first = b;
            first_d = d;
        } else if (d != first_d) {
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "%s: the per-block scales differ (block %lld has %g, block %lld has "
                            "%g): not a per-tensor ternary tensor",
                            name, (long long)first, (double)bn_f16_to_f32(first_d), (long long)b,
                            (double)bn_f16_to_f32(d));
        }
    }
    *scale = first < 0 ? 0.0f : bn_f16_to_f32(first_d);
    return BN_OK;
}

bn_status bn_tq2_0_to_i2v32(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                            uint8_t *dst, float *scale) {
    size_t want;
    BN_TRY(tq_bytes(&tq2_0_layout, rows, cols, &want));
    BN_TRY(check_bytes("tq2_0", "source", rows, cols, src_bytes, want));
    const bn_block_tq2_0 *b = src;
    int64_t n_blocks = rows * cols / BN_QK_K, per_row = cols / BN_QK_K, first = -1;
    uint16_t first_d = 0;
    for (int64_t i = 0; i < n_blocks; i++) {
        uint8_t three = 0, nonzero = 0; /* a pair 11 anywhere; a pair other than 01 */
        for (size_t k = 0; k < sizeof b[i].qs; k++) {
            uint8_t q = b[i].qs[k];
            three |= q & (uint8_t)(q >> 1) & 0x55;
            nonzero |= q ^ 0x55;
        }
        if (three) { /* the slow reader names the value */
            uint8_t codes[BN_QK_K];
            uint16_t d;
            return tq2_0_read(&b[i], i, per_row, codes, &d);
        }
        memcpy(dst + i * (int64_t)sizeof b[i].qs, b[i].qs, sizeof b[i].qs);
        if (!isfinite(bn_f16_to_f32(b[i].d)))
            return BN_ERROR(BN_ERR_FORMAT, "tq2_0: block %lld (row %lld) has scale %g",
                            (long long)i, (long long)(i / per_row), (double)bn_f16_to_f32(b[i].d));
        if (!nonzero)
            continue;
        if (first < 0) {
            first = i;
            first_d = b[i].d;
        } else if (b[i].d != first_d) {
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "tq2_0: the per-block scales differ (block %lld has %g, block %lld has "
                            "%g): not a per-tensor ternary tensor",
                            (long long)first, (double)bn_f16_to_f32(first_d), (long long)i,
                            (double)bn_f16_to_f32(b[i].d));
        }
    }
    *scale = first < 0 ? 0.0f : bn_f16_to_f32(first_d);
    return BN_OK;
}

bn_status bn_tq1_0_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    return tq_bytes(&tq1_0_layout, rows, cols, out);
}

bn_status bn_tq1_0_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes) {
    return tq_pack(&tq1_0_layout, t, rows, cols, scale, dst, dst_bytes);
}

bn_status bn_tq1_0_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale) {
    return tq_unpack(&tq1_0_layout, src, src_bytes, rows, cols, t, scale);
}

bn_status bn_tq2_0_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    return tq_bytes(&tq2_0_layout, rows, cols, out);
}

bn_status bn_tq2_0_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes) {
    return tq_pack(&tq2_0_layout, t, rows, cols, scale, dst, dst_bytes);
}

bn_status bn_tq2_0_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale) {
    return tq_unpack(&tq2_0_layout, src, src_bytes, rows, cols, t, scale);
}

/* ---------------------------------------------------------------------------------------------
 * i2_s: groups of 128 values of the flattened tensor, then the float32 scale
 * ------------------------------------------------------------------------------------------- */

/* Value i of the flattened tensor: byte (i/128)*32 + i%32, bits [7:6] for the group's first 32
 * values down to [1:0] for its last 32. */
static int64_t i2_s_byte(int64_t i) {
    return i / BN_QK_I2_S * (BN_QK_I2_S / 4) + i % 32;
}

static int i2_s_shift(int64_t i) {
    return 6 - 2 * (int)(i % BN_QK_I2_S / 32);
}

bn_status bn_i2_s_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    BN_TRY(check_shape(RULE_I2_S, rows, cols));
    return size_out("i2_s", (uint64_t)(rows * cols / 4) + BN_I2_S_TAIL_BYTES, out);
}

/* The scale is copied in host byte order: GGUF is little-endian, and so is every host we build
 * for. */
bn_status bn_i2_s_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                               size_t dst_bytes) {
    size_t want;
    BN_TRY(bn_i2_s_ternary_bytes(rows, cols, &want));
    BN_TRY(check_bytes("i2_s", "destination", rows, cols, dst_bytes, want));
    BN_TRY(check_values("i2_s", t, rows, cols));
    BN_TRY(check_scale("i2_s", scale));
    uint8_t *q = dst;
    /* byte b of a group holds its values b, b+32, b+64, b+96: whole bytes, which vectorizes */
    int64_t n = rows * cols;
    for (int64_t g = 0; g < n / BN_QK_I2_S; g++)
        for (int b = 0; b < 32; b++) {
            const int8_t *v = t + g * BN_QK_I2_S + b;
            q[g * 32 + b] =
                (uint8_t)((v[0] + 1) << 6 | (v[32] + 1) << 4 | (v[64] + 1) << 2 | (v[96] + 1));
        }
    memset(q + n / 4, 0, BN_I2_S_TAIL_BYTES); /* the padding is written as zeros */
    memcpy(q + n / 4, &scale, sizeof scale);
    return BN_OK;
}

/* The chunking is llama-quantize's (whole rows, at least 16384 values a chunk); see formats.h. */
int64_t bn_i2_s_chunk_damage(const void *src, int64_t rows, int64_t cols, bool *certain) {
    const uint8_t *q = src;
    const int64_t chunk_rows = cols >= 16384 ? 1 : (16384 + cols - 1) / cols;
    const uint8_t *tail = q + rows * cols / 4;
    for (int64_t r = chunk_rows; r < rows; r += chunk_rows) {
        /* bitnet.cpp quantizes each chunk as a tensor of its own, so only where a chunk begins
         * on a group of the whole tensor (any row of a width that is a multiple of 128, only
         * some rows of other widths) are the bytes there what a damaged chunk start would be */
        if (r * cols % BN_QK_I2_S != 0)
            continue;
        const uint8_t *w = q + r * cols / 4;
        bool code_3 = false;
        for (int b = 0; b < 4; b++)
            for (int f = 0; f < 8; f += 2)
                code_3 |= ((w[b] >> f) & 3) == 3;
        if (code_3 || memcmp(w, tail, 4) == 0) {
            *certain = code_3;
            return r;
        }
    }
    *certain = false;
    return -1;
}

/* The 28 padding bytes after the scale are not read: bitnet.cpp never writes them. */
bn_status bn_i2_s_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                 int8_t *t, float *scale) {
    size_t want;
    BN_TRY(bn_i2_s_ternary_bytes(rows, cols, &want));
    BN_TRY(check_bytes("i2_s", "source", rows, cols, src_bytes, want));
    const uint8_t *q = src;
    int64_t n = rows * cols;
    for (int64_t i = 0; i < n; i++) {
        int code = (q[i2_s_byte(i)] >> i2_s_shift(i)) & 3;
        if (code == 3)
            return BN_ERROR(BN_ERR_FORMAT,
                            "i2_s: byte %lld holds code 3 for value %lld ([%lld, %lld]); codes "
                            "0, 1, 2 are -1, 0, +1",
                            (long long)i2_s_byte(i), (long long)i, (long long)(i / cols),
                            (long long)(i % cols));
        t[i] = (int8_t)(code - 1);
    }
    float s;
    memcpy(&s, q + n / 4, sizeof s);
    if (!isfinite(s))
        return BN_ERROR(BN_ERR_FORMAT, "i2_s: the tensor scale (float32 at byte %lld) is %g",
                        (long long)(n / 4), (double)s);
    *scale = s;
    return BN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * hf2: [rows/4, cols] bytes; row r = i*R + p is in bits 2i of packed row p (R = rows/4)
 * ------------------------------------------------------------------------------------------- */

bn_status bn_hf2_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    BN_TRY(check_shape(RULE_HF2, rows, cols));
    return size_out("hf2", (uint64_t)(rows / BN_HF2_ROWS_PER_BYTE * cols), out);
}

/* The scale is not part of the layout: the checkpoint stores weight_scale as its own tensor. */
bn_status bn_hf2_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                              size_t dst_bytes) {
    (void)scale;
    size_t want;
    BN_TRY(bn_hf2_ternary_bytes(rows, cols, &want));
    BN_TRY(check_bytes("hf2", "destination", rows, cols, dst_bytes, want));
    BN_TRY(check_values("hf2", t, rows, cols));
    uint8_t *packed = dst;
    int64_t R = rows / BN_HF2_ROWS_PER_BYTE;
    for (int64_t p = 0; p < R; p++)
        for (int64_t c = 0; c < cols; c++) {
            unsigned byte = 0;
            for (int i = 0; i < BN_HF2_ROWS_PER_BYTE; i++)
                byte |= (unsigned)(t[(i * R + p) * cols + c] + 1) << (2 * i);
            packed[p * cols + c] = (uint8_t)byte;
        }
    return BN_OK;
}

/* *scale is NAN: hf2 has no scale, and NAN cannot be mistaken for one. */
bn_status bn_hf2_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                int8_t *t, float *scale) {
    size_t want;
    BN_TRY(bn_hf2_ternary_bytes(rows, cols, &want));
    BN_TRY(check_bytes("hf2", "source", rows, cols, src_bytes, want));
    const uint8_t *packed = src;
    int64_t R = rows / BN_HF2_ROWS_PER_BYTE;
    for (int64_t p = 0; p < R; p++)
        for (int64_t c = 0; c < cols; c++)
            for (int i = 0; i < BN_HF2_ROWS_PER_BYTE; i++) {
                int code = (packed[p * cols + c] >> (2 * i)) & 3;
                if (code == 3)
                    return BN_ERROR(BN_ERR_FORMAT,
                                    "hf2: packed byte [%lld, %lld] holds code 3 for row %lld; "
                                    "codes 0, 1, 2 are -1, 0, +1",
                                    (long long)p, (long long)c, (long long)(i * R + p));
                t[(i * R + p) * cols + c] = (int8_t)(code - 1);
            }
    *scale = NAN;
    return BN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * i2v<V>: the runtime layout of the ternary kernels (kernels/cpu/ternary_gemm.h). Rows of
 * ceil(cols / 4V) blocks of V bytes; byte j of a block holds the codes w + 1 of values j, j+V,
 * j+2V, j+3V at bits [1:0], [3:2], [5:4], [7:6]; the tail of the last block holds code 1
 * (w = 0). No scale: the kernels keep it beside the matrix, as HF keeps weight_scale.
 * ------------------------------------------------------------------------------------------- */

static int64_t i2v_row_bytes(int v, int64_t cols) {
    return (cols + 4 * v - 1) / (4 * v) * v;
}

/* The bytes of a runtime layout's [rows, cols] tensor whose rows take row_bytes each (the
 * layout's padding of cols), checked: positive dimensions, no overflow. */
static bn_status layout_bytes(const char *name, int64_t rows, int64_t cols, int64_t row_bytes,
                              size_t *out) {
    if (rows <= 0 || cols <= 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s: a ternary tensor needs positive dimensions, not [%lld, %lld]", name,
                        (long long)rows, (long long)cols);
    if (rows > INT64_MAX / row_bytes)
        return BN_ERROR(BN_ERR_RANGE, "%s: a [%lld, %lld] tensor has more bytes than int64 holds",
                        name, (long long)rows, (long long)cols);
    return size_out(name, (uint64_t)(rows * row_bytes), out);
}

static bn_status i2v_bytes(int v, const char *name, int64_t rows, int64_t cols, size_t *out) {
    return layout_bytes(name, rows, cols, i2v_row_bytes(v, cols), out);
}

/* Byte (within its row) and bit shift of value k. */
static void i2v_locate(int v, int64_t k, int64_t *byte, int *shift) {
    int64_t r = k % (4 * v);
    *byte = k / (4 * v) * v + r % v;
    *shift = 2 * (int)(r / v);
}

static bn_status i2v_pack(int v, const char *name, const int8_t *t, int64_t rows, int64_t cols,
                          void *dst, size_t dst_bytes) {
    size_t want = 0;
    BN_TRY(i2v_bytes(v, name, rows, cols, &want));
    BN_TRY(check_bytes(name, "destination", rows, cols, dst_bytes, want));
    BN_TRY(check_values(name, t, rows, cols));
    uint8_t *out = dst;
    memset(out, 0x55, want); /* every code 1: the padding multiplies to nothing */
    int64_t row_bytes = i2v_row_bytes(v, cols), whole = cols / (4 * v);
    for (int64_t r = 0; r < rows; r++) {
        const int8_t *in = t + r * cols;
        uint8_t *o = out + r * row_bytes;
        /* whole blocks: value i * v + j of a block sits in bits 2i of its byte j */
        for (int64_t b = 0; b < whole; b++, in += 4 * v, o += v)
            for (int j = 0; j < v; j++)
                o[j] = (uint8_t)((in[j] + 1) | (in[v + j] + 1) << 2 | (in[2 * v + j] + 1) << 4 |
                                 (in[3 * v + j] + 1) << 6);
        for (int64_t k = whole * 4 * v; k < cols; k++) { /* the padded tail */
            int64_t byte;
            int shift;
            i2v_locate(v, k, &byte, &shift);
            uint8_t *p = out + r * row_bytes + byte;
            *p = (uint8_t)((*p & ~(3u << shift)) | ((unsigned)(t[r * cols + k] + 1) << shift));
        }
    }
    return BN_OK;
}

static bn_status i2v_unpack(int v, const char *name, const void *src, size_t src_bytes,
                            int64_t rows, int64_t cols, int8_t *t, float *scale) {
    size_t want = 0;
    BN_TRY(i2v_bytes(v, name, rows, cols, &want));
    BN_TRY(check_bytes(name, "source", rows, cols, src_bytes, want));
    const uint8_t *in = src;
    int64_t row_bytes = i2v_row_bytes(v, cols);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = in + r * row_bytes;
        int8_t *o = t + r * cols;
        uint8_t bad = 0; /* a pair of set bits somewhere: code 3 */
        for (int64_t k = 0; k < cols; k++) {
            int64_t blk = k / (4 * v), rem = k % (4 * v);
            uint8_t byte = row[blk * v + rem % v];
            int code = (byte >> (2 * (rem / v))) & 3;
            bad |= code == 3;
            o[k] = (int8_t)(code - 1);
        }
        for (int64_t k = 0; bad && k < cols; k++)
            if (o[k] == 2)
                return BN_ERROR(BN_ERR_FORMAT,
                                "%s: code 3 at [%lld, %lld]; codes 0, 1, 2 are "
                                "-1, 0, +1",
                                name, (long long)r, (long long)k);
    }
    *scale = NAN;
    return BN_OK;
}

/* A row of whole blocks (n % 4V == 0) to its ternary values, without a scale. */
static void i2v_to_f32(int v, const void *src, float *dst, int64_t n) {
    const uint8_t *in = src;
    for (int64_t k = 0; k < n; k++) {
        int64_t byte;
        int shift;
        i2v_locate(v, k, &byte, &shift);
        dst[k] = (float)(((in[byte] >> shift) & 3) - 1);
    }
}

bn_status bn_i2v16_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    return i2v_bytes(16, "i2v16", rows, cols, out);
}
bn_status bn_i2v32_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    return i2v_bytes(32, "i2v32", rows, cols, out);
}
bn_status bn_i2v64_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    return i2v_bytes(64, "i2v64", rows, cols, out);
}
bn_status bn_i2v16_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes) {
    (void)scale;
    return i2v_pack(16, "i2v16", t, rows, cols, dst, dst_bytes);
}
bn_status bn_i2v32_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes) {
    (void)scale;
    return i2v_pack(32, "i2v32", t, rows, cols, dst, dst_bytes);
}
bn_status bn_i2v64_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes) {
    (void)scale;
    return i2v_pack(64, "i2v64", t, rows, cols, dst, dst_bytes);
}
bn_status bn_i2v16_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale) {
    return i2v_unpack(16, "i2v16", src, src_bytes, rows, cols, t, scale);
}
bn_status bn_i2v32_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale) {
    return i2v_unpack(32, "i2v32", src, src_bytes, rows, cols, t, scale);
}
bn_status bn_i2v64_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale) {
    return i2v_unpack(64, "i2v64", src, src_bytes, rows, cols, t, scale);
}
void bn_i2v16_to_f32(const void *src, float *dst, int64_t n) {
    i2v_to_f32(16, src, dst, n);
}
void bn_i2v32_to_f32(const void *src, float *dst, int64_t n) {
    i2v_to_f32(32, src, dst, n);
}
void bn_i2v64_to_f32(const void *src, float *dst, int64_t n) {
    i2v_to_f32(64, src, dst, n);
}

/* ---------------------------------------------------------------------------------------------
 * t5v64: the 1.6-bit runtime layout (formats.h). A block is 320 values in 64 bytes; value
 * 64 i + j of a block is digit i of byte j.
 * ------------------------------------------------------------------------------------------- */

#define T5_V      64
#define T5_VALUES (5 * T5_V)

static int64_t t5_row_bytes(int64_t cols) {
    return (cols + T5_VALUES - 1) / T5_VALUES * T5_V;
}

bn_status bn_t5v64_ternary_bytes(int64_t rows, int64_t cols, size_t *out) {
    return layout_bytes("t5v64", rows, cols, t5_row_bytes(cols), out);
}

bn_status bn_t5v64_pack_ternary(const int8_t *t, int64_t rows, int64_t cols, float scale, void *dst,
                                size_t dst_bytes) {
    (void)scale;
    size_t want = 0;
    BN_TRY(bn_t5v64_ternary_bytes(rows, cols, &want));
    BN_TRY(check_bytes("t5v64", "destination", rows, cols, dst_bytes, want));
    BN_TRY(check_values("t5v64", t, rows, cols));
    int64_t row_bytes = t5_row_bytes(cols), padded = row_bytes / T5_V * T5_VALUES;
    uint8_t block[T5_VALUES];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < padded / T5_VALUES; b++) {
            for (int i = 0; i < T5_VALUES; i++) { /* codes, the tail padded with w = 0 */
                int64_t k = b * T5_VALUES + i;
                block[i] = (uint8_t)(k < cols ? t[r * cols + k] + 1 : 1);
            }
            uint8_t *o = (uint8_t *)dst + r * row_bytes + b * T5_V;
            for (int j = 0; j < T5_V; j++)
                o[j] = tq1_0_write_byte(block + j, 5, T5_V);
        }
    return BN_OK;
}

bn_status bn_t5v64_unpack_ternary(const void *src, size_t src_bytes, int64_t rows, int64_t cols,
                                  int8_t *t, float *scale) {
    size_t want = 0;
    BN_TRY(bn_t5v64_ternary_bytes(rows, cols, &want));
    BN_TRY(check_bytes("t5v64", "source", rows, cols, src_bytes, want));
    int64_t row_bytes = t5_row_bytes(cols);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = (const uint8_t *)src + r * row_bytes;
        for (int64_t k = 0; k < cols; k++) { /* every byte reads as five digits 0..2 */
            uint8_t byte = row[k / T5_VALUES * T5_V + k % T5_V];
            t[r * cols + k] = (int8_t)(bn_trit(byte, (int)(k % T5_VALUES / T5_V)) - 1);
        }
    }
    *scale = NAN;
    return BN_OK;
}

/* A row of whole blocks (n % 320 == 0) to its ternary values, without a scale. */
void bn_t5v64_to_f32(const void *src, float *dst, int64_t n) {
    const uint8_t *in = src;
    for (int64_t k = 0; k < n; k++)
        dst[k] =
            (float)(bn_trit(in[k / T5_VALUES * T5_V + k % T5_V], (int)(k % T5_VALUES / T5_V)) - 1);
}
