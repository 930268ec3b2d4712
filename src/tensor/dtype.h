/*
 * dtype.h - the data-type traits table.
 *
 * One row per type: name, GGUF type id, block size, bytes per block and row converters. Generic
 * code asks the table and never switches on the type, so adding a packed format is adding a row
 * (and its kernels). Enum values are stable: a removed type keeps its number.
 */
#ifndef BN_TENSOR_DTYPE_H
#define BN_TENSOR_DTYPE_H

#include "base/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum bn_dtype {
    BN_DTYPE_F32 = 0,
    BN_DTYPE_F16 = 1,
    BN_DTYPE_BF16 = 2,
    BN_DTYPE_I8 = 3,
    BN_DTYPE_I32 = 4,
    BN_DTYPE_Q8_0 = 5,
    BN_DTYPE_TQ1_0 = 6,
    BN_DTYPE_TQ2_0 = 7,
    BN_DTYPE_I2_S = 8,
    BN_DTYPE_HF2 = 9,    /* transformers' packed ternary checkpoint layout (no GGUF id) */
    BN_DTYPE_I2V16 = 10, /* the ternary kernels' runtime layouts (NEON, AVX2, AVX-512) */
    BN_DTYPE_I2V32 = 11,
    BN_DTYPE_I2V64 = 12,
    BN_DTYPE_Q4_0 = 13, /* llama.cpp's legacy and k-quant types (tensor/kquants.h) */
    BN_DTYPE_Q4_1 = 14,
    BN_DTYPE_Q5_0 = 15,
    BN_DTYPE_Q5_1 = 16,
    BN_DTYPE_Q2_K = 17,
    BN_DTYPE_Q3_K = 18,
    BN_DTYPE_Q4_K = 19,
    BN_DTYPE_Q5_K = 20,
    BN_DTYPE_Q6_K = 21,
    BN_DTYPE_IQ4_NL = 22,
    BN_DTYPE_T5V64 = 23, /* the 1.6-bit runtime layout of the AVX-512 kernels (5 trits a byte) */
    BN_DTYPE_COUNT
} bn_dtype;

/* GGUF has no id for a type: */
#define BN_GGUF_TYPE_NONE (-1)

/* Convert n values (a multiple of block_size) of a row. */
typedef void (*bn_to_f32_fn)(const void *src, float *dst, int64_t n);
typedef void (*bn_from_f32_fn)(const float *src, void *dst, int64_t n);

/*
 * Whole-tensor ternary packing, for the types that store W = t * scale with t in {-1, 0, +1}.
 * t is a PyTorch-order weight [rows = out, cols = in], row-major, one int8 per value.
 *
 * ternary_bytes: the exact byte size of a [rows, cols] tensor, or BN_ERR_SHAPE when the layout
 *   cannot hold that shape (the message lists the ternary types that can).
 * pack_ternary: writes t and scale. A value of t outside {-1, 0, 1} is BN_ERR_RANGE naming its
 *   index; dst_bytes must be exactly ternary_bytes (BN_ERR_SHAPE otherwise). What the scale
 *   becomes is the type's: tq1_0/tq2_0 store it as every block's f16 d (rounded to nearest
 *   even, so a scale that is not an f16 value comes back changed), i2_s as its float32 tail,
 *   and hf2 ignores it (the checkpoint keeps weight_scale as its own tensor).
 * unpack_ternary: the inverse; t and scale are unspecified on failure. tq1_0/tq2_0 give the
 *   one d shared by every block that holds a nonzero value (0 if none does) and refuse tensors
 *   whose blocks have different scales with BN_ERR_UNSUPPORTED; hf2 gives NAN (it has no scale).
 *   Codes a type never writes are BN_ERR_FORMAT naming where they are.
 * pack(unpack(x)) == x for every x that pack wrote, but for a tq tensor of zeros (scale 0). For
 * data written elsewhere, tq's d in blocks of zeros (ggml writes 0 there) and i2_s's tail
 * padding are not kept.
 */
typedef bn_status (*bn_ternary_bytes_fn)(int64_t rows, int64_t cols, size_t *out);
typedef bn_status (*bn_ternary_pack_fn)(const int8_t *t, int64_t rows, int64_t cols, float scale,
                                        void *dst, size_t dst_bytes);
typedef bn_status (*bn_ternary_unpack_fn)(const void *src, size_t src_bytes, int64_t rows,
                                          int64_t cols, int8_t *t, float *scale);

typedef struct bn_dtype_traits {
    const char *name;         /* "f32", "bf16", "tq2_0", ... (also the CLI's --type names) */
    int gguf_type;            /* ggml_type id in GGUF files, or BN_GGUF_TYPE_NONE */
    int64_t block_size;       /* values per block (1 for plain types) */
    size_t block_bytes;       /* bytes per block */
    bool is_quantized;        /* packed/quantized: rows are opaque byte runs */
    bool is_integer;          /* i8, i32: whole numbers, never a weight's or an activation's type */
    size_t tensor_tail_bytes; /* extra bytes after a whole tensor (I2_S keeps its scale there) */
    bn_to_f32_fn to_f32;      /* decode a row to float32 (NULL: needs the whole tensor) */
    bn_from_f32_fn from_f32;  /* encode a row from float32 (NULL: encoded by a quantizer) */
    /* Ternary types only (NULL for the others): see bn_ternary_pack_fn above. */
    bn_ternary_bytes_fn ternary_bytes;
    bn_ternary_pack_fn pack_ternary;
    bn_ternary_unpack_fn unpack_ternary;
} bn_dtype_traits;

/* The row of a type; NULL for an id outside the table. */
const bn_dtype_traits *bn_dtype_get(bn_dtype dtype);

/* Whether an id names a row of the table. */
bool bn_dtype_valid(bn_dtype dtype);

/* Name of a type, "?" for an invalid id. */
const char *bn_dtype_name(bn_dtype dtype);

/* Look a type up by name (BN_ERR_DTYPE naming it if unknown). */
bn_status bn_dtype_from_name(const char *name, bn_dtype *out);

/* Look a type up by GGUF id (BN_ERR_DTYPE if unknown). The ids 36-39 mean different things in
 * bitnet.cpp's ggml fork and upstream ggml: this lookup uses the fork's meaning of 36 (I2_S,
 * retired upstream); callers that know the architecture resolve 37-39 themselves. */
bn_status bn_dtype_from_gguf(int gguf_type, bn_dtype *out);

/* Bytes of a whole tensor of numel values whose rows have row_len values: rows * row bytes plus
 * the type's tail. BN_ERR_SHAPE / BN_ERR_RANGE as for bn_dtype_row_bytes. */
bn_status bn_dtype_tensor_bytes(bn_dtype dtype, int64_t row_len, int64_t numel, size_t *out);

/* Bytes taken by a row of n values: BN_ERR_SHAPE if n is not a multiple of the block size,
 * BN_ERR_RANGE on overflow. */
bn_status bn_dtype_row_bytes(bn_dtype dtype, int64_t n, size_t *out);

#endif /* BN_TENSOR_DTYPE_H */
