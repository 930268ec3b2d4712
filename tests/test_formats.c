/*
 * test_formats.c - the quantized and ternary layouts (src/tensor/formats.c).
 *
 * Ternary pack/unpack is exercised through the dtype table, one loop over every row that has
 * pack_ternary, so a new ternary type is tested by adding its row. Bit-exactness against the
 * reference implementations (gguf-py, transformers' pack_weights, bitnet.cpp's quantize_i2_s)
 * is tests/py/test_formats_reference.py's job; this file checks the properties that need no
 * oracle: round trips, conversions between layouts, error bounds of the encoders, and that
 * every malformed input is refused with a message that says where.
 */
#include "base/status.h"
#include "tensor/dtype.h"
#include "tensor/formats.h"
#include "tensor/half.h"
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* splitmix64: a reproducible stream, so a failure can be rerun. */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(rng *r) { /* [0, 1) */
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

static float rng_normal(rng *r) {
    double u = rng_uniform(r), v = rng_uniform(r);
    return (float)(sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v));
}

/* Ternary values with the given fraction of zeros. */
static void random_ternary(rng *r, int8_t *t, int64_t n, double p_zero) {
    for (int64_t i = 0; i < n; i++)
        t[i] = rng_uniform(r) < p_zero ? 0 : (rng_next(r) & 1 ? 1 : -1);
}

/* A positive scale that f16 holds exactly (11 significant bits, exponent within f16 normals). */
static float random_f16_scale(rng *r) {
    int mant = 1024 + (int)(rng_next(r) % 1024);
    int e = (int)(rng_next(r) % 20) - 20;
    return ldexpf((float)mant, e);
}

static size_t tensor_bytes(const bn_dtype_traits *tr, int64_t rows, int64_t cols) {
    size_t n = 0;
    return tr->ternary_bytes(rows, cols, &n) == BN_OK ? n : 0;
}

/* Layouts that hold no scale (their unpack gives NAN): HF's packing and our runtime i2v, t5v64. */
static bool scaleless(int id) {
    return id == BN_DTYPE_HF2 || id == BN_DTYPE_I2V16 || id == BN_DTYPE_I2V32 ||
           id == BN_DTYPE_I2V64 || id == BN_DTYPE_T5V64;
}

static bool contains(const char *msg, const char *part) {
    return strstr(msg, part) != NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

static void test_table(void) {
    const bn_dtype ternary[] = {BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0, BN_DTYPE_I2_S,  BN_DTYPE_HF2,
                                BN_DTYPE_I2V16, BN_DTYPE_I2V32, BN_DTYPE_I2V64, BN_DTYPE_T5V64};
    int n_ternary = 0;
    for (int id = 0; id < BN_DTYPE_COUNT; id++) {
        const bn_dtype_traits *tr = bn_dtype_get((bn_dtype)id);
        bool is_ternary = false;
        for (size_t k = 0; k < sizeof ternary / sizeof ternary[0]; k++)
            is_ternary |= ternary[k] == (bn_dtype)id;
        bool has =
            tr->ternary_bytes != NULL && tr->pack_ternary != NULL && tr->unpack_ternary != NULL;
        bool none =
            tr->ternary_bytes == NULL && tr->pack_ternary == NULL && tr->unpack_ternary == NULL;
        CHECK(is_ternary ? has : none, "%s: ternary functions %s", tr->name,
              is_ternary ? "missing" : "set on a non-ternary type");
        n_ternary += has;
    }
    CHECK(n_ternary == 8, "%d ternary rows", n_ternary);

    const bn_dtype encoded[] = {BN_DTYPE_Q8_0, BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0};
    for (size_t k = 0; k < sizeof encoded / sizeof encoded[0]; k++) {
        const bn_dtype_traits *tr = bn_dtype_get(encoded[k]);
        CHECK(tr->from_f32 != NULL && tr->to_f32 != NULL, "%s has an encoder and a decoder",
              tr->name);
    }

    const bn_dtype_traits *hf2 = bn_dtype_get(BN_DTYPE_HF2);
    CHECK(hf2 != NULL && strcmp(hf2->name, "hf2") == 0 && hf2->gguf_type == BN_GGUF_TYPE_NONE &&
              hf2->to_f32 == NULL && hf2->from_f32 == NULL && hf2->is_quantized,
          "hf2 row");
    bn_dtype d;
    CHECK(bn_dtype_from_name("hf2", &d) == BN_OK && d == BN_DTYPE_HF2, "hf2 by name");
    CHECK(bn_dtype_from_gguf(BN_GGUF_TYPE_NONE, &d) == BN_ERR_DTYPE, "no GGUF id");
    /* Whole-tensor bytes: 2B-4T's k_proj [640, 2560] is [160, 2560] bytes. */
    size_t bytes = 0;
    CHECK_OK(bn_dtype_tensor_bytes(BN_DTYPE_HF2, 2560, 640 * 2560, &bytes));
    CHECK(bytes == 640 * 2560 / 4, "hf2 tensor bytes %zu", bytes);
    CHECK_OK(hf2->ternary_bytes(640, 2560, &bytes));
    CHECK(bytes == 640 * 2560 / 4, "hf2 ternary bytes %zu", bytes);
    /* The generic helper asks the packing itself: any width for hf2 (4 rows a byte), any row
     * length for i2_s as long as the flattened tensor is whole groups of 128. */
    CHECK_OK(bn_dtype_tensor_bytes(BN_DTYPE_HF2, 3, 8 * 3, &bytes));
    CHECK(bytes == 6, "hf2 [8, 3] takes %zu bytes", bytes);
    CHECK_OK(hf2->ternary_bytes(8, 3, &bytes));
    CHECK(bytes == 6, "hf2 [8, 3] takes %zu bytes", bytes);
    CHECK_OK(bn_dtype_tensor_bytes(BN_DTYPE_I2_S, 8640, 3200 * 8640, &bytes));
    CHECK(bytes == 3200 * 8640 / 4 + 32, "i2_s [3200, 8640] takes %zu bytes", bytes);
    CHECK(bn_dtype_tensor_bytes(BN_DTYPE_I2_S, 96, 5 * 96, &bytes) == BN_ERR_SHAPE,
          "i2_s [5, 96]: 480 values are no whole group");
    /* The other ternary types agree with the generic helper wherever both apply. */
    const struct {
        bn_dtype id;
        int64_t rows, cols;
    } agree[] = {{BN_DTYPE_TQ1_0, 12, 768}, {BN_DTYPE_TQ2_0, 12, 768}, {BN_DTYPE_I2_S, 12, 768}};
    for (size_t k = 0; k < sizeof agree / sizeof agree[0]; k++) {
        const bn_dtype_traits *tr = bn_dtype_get(agree[k].id);
        size_t a = 0, b = 0;
        CHECK_OK(tr->ternary_bytes(agree[k].rows, agree[k].cols, &a));
        CHECK_OK(
            bn_dtype_tensor_bytes(agree[k].id, agree[k].cols, agree[k].rows * agree[k].cols, &b));
        CHECK(a == b, "%s: ternary_bytes %zu, tensor_bytes %zu", tr->name, a, b);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Round trips through every ternary layout
 * ------------------------------------------------------------------------------------------- */

static const struct {
    int64_t rows, cols;
} shapes[] = {
    /* every ternary layout holds these */
    {4, 256},
    {8, 256},
    {12, 256},
    {100, 256},
    {4, 512},
    {8, 512},
    {12, 512},
    {100, 512},
    {4, 768},
    {8, 768},
    {12, 768},
    {100, 768},
    /* i2_s: groups of 128 cross row ends */
    {1, 128},
    {2, 64},
    {3, 128},
    {6, 320},
    {1, 1152},
    {5, 384},
    /* hf2: any width */
    {4, 1},
    {8, 3},
    {12, 33},
    {100, 1},
    {100, 3},
    {4, 33},
};

/* pack -> unpack gives t and scale back, and packing those again gives identical bytes. The
 * scale comes back as stored (f16-exact here, so tq keeps it too), except that hf2 has none
 * (NAN) and a tq tensor of zeros has none either (0, so its blocks' d cannot be reproduced). */
static void round_trip(bn_dtype id, rng *r, int64_t rows, int64_t cols, double p_zero) {
    const bn_dtype_traits *tr = bn_dtype_get(id);
    int64_t n = rows * cols;
    size_t nb = tensor_bytes(tr, rows, cols);
    int8_t *t = malloc((size_t)n), *t2 = malloc((size_t)n);
    uint8_t *a = malloc(nb), *b = malloc(nb);
    float *y = malloc((size_t)n * sizeof(float));
    random_ternary(r, t, n, p_zero);
    bool any_nonzero = false;
    for (int64_t i = 0; i < n; i++)
        any_nonzero |= t[i] != 0;
    bool is_tq = id == BN_DTYPE_TQ1_0 || id == BN_DTYPE_TQ2_0;
    float scale = random_f16_scale(r), got = 0.0f;
    CHECK_OK(tr->pack_ternary(t, rows, cols, scale, a, nb));
    CHECK_OK(tr->unpack_ternary(a, nb, rows, cols, t2, &got));
    CHECK(memcmp(t, t2, (size_t)n) == 0, "%s [%lld, %lld]: unpack changed t", tr->name,
          (long long)rows, (long long)cols);
    if (scaleless(id))
        CHECK(isnan(got), "%s: unpack gives NAN for the scale it lacks, got %g", tr->name, got);
    else
        CHECK(got == (is_tq && !any_nonzero ? 0.0f : scale),
              "%s [%lld, %lld]: scale %.9g back as %.9g", tr->name, (long long)rows,
              (long long)cols, scale, got);
    if (!is_tq || any_nonzero) {
        CHECK_OK(tr->pack_ternary(t2, rows, cols, scaleless(id) ? scale : got, b, nb));
        CHECK(memcmp(a, b, nb) == 0, "%s [%lld, %lld]: pack(unpack(x)) != x", tr->name,
              (long long)rows, (long long)cols);
    }
    if (tr->to_f32 != NULL && cols % tr->block_size == 0) { /* rows of whole blocks decode alone:
                                                             * to_f32 agrees with t * scale */
        tr->to_f32(a, y, n);
        float s = scaleless(id) ? 1.0f : scale;
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += y[i] != (float)t[i] * s;
        CHECK(bad == 0, "%s [%lld, %lld]: to_f32 differs from t*scale at %lld values", tr->name,
              (long long)rows, (long long)cols, (long long)bad);
    }
    free(t);
    free(t2);
    free(a);
    free(b);
    free(y);
}

static void test_round_trips(void) {
    rng r = {1};
    int per_type[BN_DTYPE_COUNT] = {0};
    const double p_zero[] = {0.0, 0.4, 1.0};
    for (int id = 0; id < BN_DTYPE_COUNT; id++) {
        const bn_dtype_traits *tr = bn_dtype_get((bn_dtype)id);
        if (tr->pack_ternary == NULL)
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            if (tensor_bytes(tr, shapes[s].rows, shapes[s].cols) == 0)
                continue; /* a shape for another layout */
            for (size_t z = 0; z < sizeof p_zero / sizeof p_zero[0]; z++)
                round_trip((bn_dtype)id, &r, shapes[s].rows, shapes[s].cols, p_zero[z]);
            per_type[id]++;
        }
    }
    CHECK(per_type[BN_DTYPE_TQ1_0] == 12 && per_type[BN_DTYPE_TQ2_0] == 12, "tq shapes %d %d",
          per_type[BN_DTYPE_TQ1_0], per_type[BN_DTYPE_TQ2_0]);
    CHECK(per_type[BN_DTYPE_I2_S] == 18, "i2_s shapes %d", per_type[BN_DTYPE_I2_S]);
    CHECK(per_type[BN_DTYPE_HF2] == 18, "hf2 shapes %d", per_type[BN_DTYPE_HF2]);

    /* A block of zeros among nonzero ones keeps the tensor's scale: it is not consulted. */
    const bn_dtype tq[] = {BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0};
    for (size_t k = 0; k < 2; k++) {
        const bn_dtype_traits *tr = bn_dtype_get(tq[k]);
        int8_t t[4 * 512], t2[4 * 512];
        random_ternary(&r, t, 4 * 512, 0.3);
        memset(t + 256, 0, 512); /* blocks 1 and 2 */
        uint8_t buf[8 * 66];
        size_t nb = tensor_bytes(tr, 4, 512);
        float got;
        CHECK_OK(tr->pack_ternary(t, 4, 512, 0.375f, buf, nb));
        CHECK_OK(tr->unpack_ternary(buf, nb, 4, 512, t2, &got));
        CHECK(got == 0.375f && memcmp(t, t2, sizeof t) == 0, "%s with zero blocks: scale %g",
              tr->name, got);
    }
}

/* A -> (t, scale) -> B -> (t, scale) for every pair of layouts: nothing is lost. hf2 carries no
 * scale, so after hf2 the scale comes from outside (the checkpoint's weight_scale tensor). */
static void test_conversions(void) {
    rng r = {2};
    const int64_t dims[][2] = {{8, 256}, {12, 512}, {100, 768}};
    for (size_t s = 0; s < sizeof dims / sizeof dims[0]; s++) {
        int64_t rows = dims[s][0], cols = dims[s][1], n = rows * cols;
        int8_t *t = malloc((size_t)n), *ta = malloc((size_t)n), *tb = malloc((size_t)n);
        random_ternary(&r, t, n, 0.35);
        float scale = random_f16_scale(&r);
        for (int ia = 0; ia < BN_DTYPE_COUNT; ia++) {
            const bn_dtype_traits *A = bn_dtype_get((bn_dtype)ia);
            if (A->pack_ternary == NULL)
                continue;
            size_t na = tensor_bytes(A, rows, cols);
            uint8_t *pa = malloc(na);
            float sa;
            CHECK_OK(A->pack_ternary(t, rows, cols, scale, pa, na));
            CHECK_OK(A->unpack_ternary(pa, na, rows, cols, ta, &sa));
            if (isnan(sa))
                sa = scale;
            for (int ib = 0; ib < BN_DTYPE_COUNT; ib++) {
                const bn_dtype_traits *B = bn_dtype_get((bn_dtype)ib);
                if (B->pack_ternary == NULL)
                    continue;
                size_t nb = tensor_bytes(B, rows, cols);
                uint8_t *pb = malloc(nb);
                float sb = -1.0f;
                CHECK_OK(B->pack_ternary(ta, rows, cols, sa, pb, nb));
                CHECK_OK(B->unpack_ternary(pb, nb, rows, cols, tb, &sb));
                CHECK(memcmp(t, tb, (size_t)n) == 0, "%s -> %s [%lld, %lld] changed t", A->name,
                      B->name, (long long)rows, (long long)cols);
                CHECK(sb == scale || (isnan(sb) && scaleless(ib)), "%s -> %s: scale %g came out %g",
                      A->name, B->name, scale, sb);
                free(pb);
            }
            free(pa);
        }
        free(t);
        free(ta);
        free(tb);
    }
}

/* What becomes of the scale: tq keeps an f16 (rounded to nearest even), i2_s the float32. */
static void test_scale_policy(void) {
    int8_t t[4 * 256], t2[4 * 256];
    for (int i = 0; i < 4 * 256; i++)
        t[i] = (int8_t)(i % 3 - 1);
    uint8_t buf[4 * 256];
    float got;
    const bn_dtype_traits *tq1 = bn_dtype_get(BN_DTYPE_TQ1_0), *tq2 = bn_dtype_get(BN_DTYPE_TQ2_0);
    const bn_dtype_traits *i2s = bn_dtype_get(BN_DTYPE_I2_S), *hf2 = bn_dtype_get(BN_DTYPE_HF2);
    const bn_dtype_traits *tqs[] = {tq1, tq2};
    const float f16_of_0_1 = bn_f16_to_f32(bn_f32_to_f16(0.1f));
    CHECK(f16_of_0_1 != 0.1f && f16_of_0_1 == 0.0999755859375f, "0.1 in f16 is %.9g", f16_of_0_1);
    for (int k = 0; k < 2; k++) {
        const bn_dtype_traits *tr = tqs[k];
        size_t nb = tensor_bytes(tr, 4, 256);
        CHECK_OK(tr->pack_ternary(t, 4, 256, 0.1f, buf, nb));
        CHECK_OK(tr->unpack_ternary(buf, nb, 4, 256, t2, &got));
        CHECK(got == f16_of_0_1 && memcmp(t, t2, sizeof t) == 0, "%s: 0.1 comes back as %.9g",
              tr->name, got);
        /* negative, f16-subnormal and zero scales are stored like any other */
        const float other[] = {-0.75f, 0x1p-20f, 0.0f};
        for (int j = 0; j < 3; j++) {
            CHECK_OK(tr->pack_ternary(t, 4, 256, other[j], buf, nb));
            CHECK_OK(tr->unpack_ternary(buf, nb, 4, 256, t2, &got));
            CHECK(got == other[j], "%s: scale %g back as %g", tr->name, other[j], got);
        }
        CHECK(tr->pack_ternary(t, 4, 256, 70000.0f, buf, nb) == BN_ERR_RANGE &&
                  contains(bn_last_error(), "f16"),
              "%s: scale beyond f16: %s", tr->name, bn_last_error());
        CHECK(tr->pack_ternary(t, 4, 256, NAN, buf, nb) == BN_ERR_RANGE &&
                  contains(bn_last_error(), "not finite"),
              "%s: NaN scale: %s", tr->name, bn_last_error());
    }
    size_t nb = tensor_bytes(i2s, 4, 256);
    CHECK_OK(i2s->pack_ternary(t, 4, 256, 0.1f, buf, nb));
    CHECK_OK(i2s->unpack_ternary(buf, nb, 4, 256, t2, &got));
    CHECK(got == 0.1f, "i2_s keeps float32 0.1, got %.9g", got);
    bool zero_padding = true;
    for (size_t k = 256 + 4; k < nb; k++)
        zero_padding &= buf[k] == 0;
    CHECK(zero_padding, "i2_s padding is zeros");
    CHECK(i2s->pack_ternary(t, 4, 256, INFINITY, buf, nb) == BN_ERR_RANGE, "i2_s Inf scale");
    nb = tensor_bytes(hf2, 4, 256);
    CHECK_OK(hf2->pack_ternary(t, 4, 256, NAN, buf, nb)); /* hf2 ignores the scale */
}

/* ---------------------------------------------------------------------------------------------
 * Refusals, each with a message that says where
 * ------------------------------------------------------------------------------------------- */

static void test_shape_errors(void) {
    const bn_dtype_traits *tq1 = bn_dtype_get(BN_DTYPE_TQ1_0), *tq2 = bn_dtype_get(BN_DTYPE_TQ2_0);
    const bn_dtype_traits *i2s = bn_dtype_get(BN_DTYPE_I2_S), *hf2 = bn_dtype_get(BN_DTYPE_HF2);
    size_t n;
    CHECK(tq2->ternary_bytes(8, 48, &n) == BN_ERR_SHAPE &&
              contains(bn_last_error(), "tq2_0 cannot hold a [8, 48]") &&
              contains(bn_last_error(), "multiple of 256") &&
              contains(bn_last_error(), "types that can: i2_s, hf2"),
          "tq2_0 [8, 48]: %s", bn_last_error());
    CHECK(tq1->ternary_bytes(6, 100, &n) == BN_ERR_SHAPE &&
              contains(bn_last_error(), "no ternary type can"),
          "tq1_0 [6, 100]: %s", bn_last_error());
    CHECK(i2s->ternary_bytes(3, 5, &n) == BN_ERR_SHAPE &&
              contains(bn_last_error(), "multiple of 128") &&
              contains(bn_last_error(), "no ternary type can"),
          "i2_s [3, 5]: %s", bn_last_error());
    CHECK(i2s->ternary_bytes(4, 33, &n) == BN_ERR_SHAPE &&
              contains(bn_last_error(), "types that can: hf2"),
          "i2_s [4, 33]: %s", bn_last_error());
    CHECK(hf2->ternary_bytes(6, 256, &n) == BN_ERR_SHAPE &&
              contains(bn_last_error(), "multiple of 4") &&
              contains(bn_last_error(), "types that can: tq1_0, tq2_0, i2_s"),
          "hf2 [6, 256]: %s", bn_last_error());
    CHECK(hf2->ternary_bytes(0, 4, &n) == BN_ERR_SHAPE && contains(bn_last_error(), "positive"),
          "hf2 [0, 4]: %s", bn_last_error());
    CHECK(tq2->ternary_bytes(-4, 256, &n) == BN_ERR_SHAPE, "negative rows");
    CHECK(i2s->ternary_bytes(INT64_MAX / 2, 4, &n) == BN_ERR_RANGE, "overflow: %s",
          bn_last_error());

    /* pack and unpack refuse the shape before touching any buffer */
    int8_t t[8 * 48] = {0};
    float s;
    CHECK(tq1->pack_ternary(t, 8, 48, 1.0f, t, sizeof t) == BN_ERR_SHAPE, "tq1_0 pack shape");
    CHECK(tq1->unpack_ternary(t, sizeof t, 8, 48, t, &s) == BN_ERR_SHAPE, "tq1_0 unpack shape");
}

static void test_size_errors(void) {
    int8_t t[8 * 256] = {0}, t2[8 * 256];
    uint8_t buf[8 * 256 / 4 * 2];
    float s;
    for (int id = 0; id < BN_DTYPE_COUNT; id++) {
        const bn_dtype_traits *tr = bn_dtype_get((bn_dtype)id);
        if (tr->pack_ternary == NULL)
            continue;
        size_t nb = tensor_bytes(tr, 8, 256);
        char want[32], got[32];
        snprintf(want, sizeof want, "takes %zu bytes", nb);
        snprintf(got, sizeof got, "has %zu", nb + 1);
        CHECK(tr->pack_ternary(t, 8, 256, 1.0f, buf, nb + 1) == BN_ERR_SHAPE &&
                  contains(bn_last_error(), want) && contains(bn_last_error(), got) &&
                  contains(bn_last_error(), "destination"),
              "%s pack into %zu bytes: %s", tr->name, nb + 1, bn_last_error());
        snprintf(got, sizeof got, "has %zu", nb - 1);
        CHECK(tr->unpack_ternary(buf, nb - 1, 8, 256, t2, &s) == BN_ERR_SHAPE &&
                  contains(bn_last_error(), want) && contains(bn_last_error(), got) &&
                  contains(bn_last_error(), "source"),
              "%s unpack of %zu bytes: %s", tr->name, nb - 1, bn_last_error());
    }
}

static void test_value_errors(void) {
    int8_t t[8 * 256] = {0};
    uint8_t buf[8 * 256];
    for (int id = 0; id < BN_DTYPE_COUNT; id++) {
        const bn_dtype_traits *tr = bn_dtype_get((bn_dtype)id);
        if (tr->pack_ternary == NULL)
            continue;
        size_t nb = tensor_bytes(tr, 8, 256);
        t[5 * 256 + 7] = 2;
        CHECK(tr->pack_ternary(t, 8, 256, 1.0f, buf, nb) == BN_ERR_RANGE &&
                  contains(bn_last_error(), "value 2 at index 1287 ([5, 7])"),
              "%s: value 2: %s", tr->name, bn_last_error());
        t[5 * 256 + 7] = 0;
        t[8 * 256 - 1] = -128;
        CHECK(tr->pack_ternary(t, 8, 256, 1.0f, buf, nb) == BN_ERR_RANGE &&
                  contains(bn_last_error(), "value -128 at index 2047 ([7, 255])"),
              "%s: value -128: %s", tr->name, bn_last_error());
        t[8 * 256 - 1] = 0;
    }
}

/* Packs 8 x 512 ones (16 blocks of 256), so every block holds nonzero values. */
static size_t pack_ones(const bn_dtype_traits *tr, float scale, uint8_t *buf, int8_t *t) {
    for (int i = 0; i < 8 * 512; i++)
        t[i] = (int8_t)((i % 5) == 0 ? 0 : 1);
    size_t nb = tensor_bytes(tr, 8, 512);
    CHECK_OK(tr->pack_ternary(t, 8, 512, scale, buf, nb));
    return nb;
}

static void test_tq_errors(void) {
    static int8_t t[8 * 512];
    static uint8_t buf[16 * 66];
    float s;

    /* tq2_0: code 3 in block 3 (row 1), value 130 (chunk 1, bit pair 0, byte 2) */
    const bn_dtype_traits *tq2 = bn_dtype_get(BN_DTYPE_TQ2_0);
    size_t nb = pack_ones(tq2, 0.25f, buf, t);
    bn_block_tq2_0 *b2 = (bn_block_tq2_0 *)buf;
    b2[3].qs[32 + 2] |= 3;
    CHECK(tq2->unpack_ternary(buf, nb, 8, 512, t, &s) == BN_ERR_FORMAT &&
              contains(bn_last_error(), "block 3 (row 1) value 130 has code 3"),
          "tq2_0 code 3: %s", bn_last_error());
    b2[3].qs[32 + 2] &= (uint8_t)~3;

    /* blocks 0 and 5 with different d: a per-block tensor, not a per-tensor ternary one */
    pack_ones(tq2, 0.25f, buf, t);
    b2[5].d = bn_f32_to_f16(0.5f);
    CHECK(tq2->unpack_ternary(buf, nb, 8, 512, t, &s) == BN_ERR_UNSUPPORTED &&
              contains(bn_last_error(), "per-block scales differ") &&
              contains(bn_last_error(), "block 0 has 0.25") &&
              contains(bn_last_error(), "block 5 has 0.5"),
          "tq2_0 two scales: %s", bn_last_error());
    b2[5].d = bn_f32_to_f16(INFINITY);
    CHECK(tq2->unpack_ternary(buf, nb, 8, 512, t, &s) == BN_ERR_FORMAT &&
              contains(bn_last_error(), "block 5 (row 2) has scale inf"),
          "tq2_0 Inf scale: %s", bn_last_error());

    /* ggml's quantizer gives blocks of zeros d = 0; they do not count as a second scale */
    pack_ones(tq2, 0.25f, buf, t);
    memset(t + 2 * 256, 0, 256);
    CHECK_OK(tq2->pack_ternary(t, 8, 512, 0.25f, buf, nb));
    b2[2].d = 0;
    CHECK(tq2->unpack_ternary(buf, nb, 8, 512, t, &s) == BN_OK && s == 0.25f,
          "tq2_0 zero block with d = 0: %s, scale %g", bn_last_error(), s);
    /* and an all-zero tensor has scale 0 whatever its blocks say */
    memset(t, 0, sizeof t);
    CHECK_OK(tq2->pack_ternary(t, 8, 512, 0.25f, buf, nb));
    b2[7].d = bn_f32_to_f16(3.0f);
    CHECK(tq2->unpack_ternary(buf, nb, 8, 512, t, &s) == BN_OK && s == 0.0f,
          "all-zero tensor scale %g", s);

    /* tq1_0: every byte value in one qs byte and one qh byte of block 2 (row 1). Exactly 243
     * (qs) and 81 (qh, whose fifth digit is 0) are what the encoder writes; the rest must be
     * refused, and the accepted ones must come back unchanged through unpack -> pack. */
    const bn_dtype_traits *tq1 = bn_dtype_get(BN_DTYPE_TQ1_0);
    nb = pack_ones(tq1, 0.25f, buf, t);
    static uint8_t again[16 * 54];
    static int8_t t2[8 * 512];
    const struct {
        size_t offset;
        int want_ok;
    } where[] = {{2 * 54 + 5, 243}, {2 * 54 + 48 + 1, 81}};
    for (int w = 0; w < 2; w++) {
        int ok = 0, refused_well = 0;
        uint8_t keep = buf[where[w].offset];
        for (int v = 0; v < 256; v++) {
            buf[where[w].offset] = (uint8_t)v;
            bn_status st = tq1->unpack_ternary(buf, nb, 8, 512, t2, &s);
            if (st == BN_OK) {
                ok++;
                CHECK_OK(tq1->pack_ternary(t2, 8, 512, s, again, nb));
                CHECK(memcmp(again, buf, nb) == 0, "tq1_0 byte 0x%02x not reproduced", v);
            } else {
                char msg[64];
                snprintf(msg, sizeof msg, "block 2 (row 1) byte %d is 0x%02x",
                         (int)(where[w].offset - 2 * 54), v);
                refused_well += st == BN_ERR_FORMAT && contains(bn_last_error(), msg);
            }
        }
        buf[where[w].offset] = keep;
        CHECK(ok == where[w].want_ok && ok + refused_well == 256,
              "tq1_0 %s byte: %d accepted (want %d), %d refused with the block named",
              w == 0 ? "qs" : "qh", ok, where[w].want_ok, refused_well);
    }
}

static void test_i2_s_hf2_errors(void) {
    int8_t t[8 * 256];
    uint8_t buf[8 * 256 / 4 + 32];
    float s;
    const bn_dtype_traits *i2s = bn_dtype_get(BN_DTYPE_I2_S), *hf2 = bn_dtype_get(BN_DTYPE_HF2);
    memset(t, 0, sizeof t);
    size_t nb = tensor_bytes(i2s, 8, 256);
    CHECK_OK(i2s->pack_ternary(t, 8, 256, 1.5f, buf, nb));
    buf[32 * 3 + 4] |= 0x30; /* group 3, byte 4, bits [5:4]: value 3*128 + 32 + 4 = 420 */
    CHECK(i2s->unpack_ternary(buf, nb, 8, 256, t, &s) == BN_ERR_FORMAT &&
              contains(bn_last_error(), "byte 100 holds code 3 for value 420 ([1, 164])"),
          "i2_s code 3: %s", bn_last_error());
    buf[32 * 3 + 4] = 0x55;
    float nan = NAN;
    memcpy(buf + 8 * 256 / 4, &nan, sizeof nan);
    CHECK(i2s->unpack_ternary(buf, nb, 8, 256, t, &s) == BN_ERR_FORMAT &&
              contains(bn_last_error(), "scale (float32 at byte 512) is nan"),
          "i2_s NaN scale: %s", bn_last_error());

    nb = tensor_bytes(hf2, 8, 3);
    memset(t, 0, sizeof t);
    CHECK_OK(hf2->pack_ternary(t, 8, 3, 1.0f, buf, nb));
    buf[1 * 3 + 2] |= 0xC0; /* packed row 1, col 2, bits [7:6]: row 3*2 + 1 = 7 */
    CHECK(hf2->unpack_ternary(buf, nb, 8, 3, t, &s) == BN_ERR_FORMAT &&
              contains(bn_last_error(), "packed byte [1, 2] holds code 3 for row 7"),
          "hf2 code 3: %s", bn_last_error());
}

/* bitnet.cpp's multithreaded llama-quantize can write a chunk's scale over the first 4 bytes of
 * the next chunk (7 rows of 2560 here). bn_i2_s_chunk_damage finds both ways that shows: the
 * scale's exact bytes (2.0f, whose bits hold no code 3: not certain) and the scale ORed into
 * codes (1.0f: certain, and the unpacker refuses the code 3); an undamaged tensor has none. */
static void test_i2_s_chunk_scale(void) {
    enum { ROWS = 16, COLS = 2560 };
    int8_t *t = malloc(ROWS * COLS);
    const bn_dtype_traits *i2s = bn_dtype_get(BN_DTYPE_I2_S);
    size_t nb = tensor_bytes(i2s, ROWS, COLS);
    uint8_t *buf = malloc(nb);
    bool certain = true;
    float s;
    for (int i = 0; i < ROWS * COLS; i++)
        t[i] = (int8_t)((i * 7 + i / 5) % 3 - 1);
    CHECK_OK(i2s->pack_ternary(t, ROWS, COLS, 2.0f, buf, nb));
    CHECK(bn_i2_s_chunk_damage(buf, ROWS, COLS, &certain) == -1 && !certain, "clean tensor");
    memcpy(buf + 7 * COLS / 4, buf + ROWS * COLS / 4, 4);
    CHECK(bn_i2_s_chunk_damage(buf, ROWS, COLS, &certain) == 7 && !certain, "scale over row 7");
    CHECK_OK(i2s->pack_ternary(t, ROWS, COLS, 1.0f, buf, nb));
    for (int b = 0; b < 4; b++)
        buf[14 * COLS / 4 + b] |= buf[ROWS * COLS / 4 + b];
    CHECK(bn_i2_s_chunk_damage(buf, ROWS, COLS, &certain) == 14 && certain,
          "scale ORed into row 14");
    CHECK(i2s->unpack_ternary(buf, nb, ROWS, COLS, t, &s) == BN_ERR_FORMAT &&
              contains(bn_last_error(), "code 3"),
          "code 3 refused: %s", bn_last_error());
    free(t);
    free(buf);
    /* A width that is not a multiple of 128: bitnet.cpp's chunks of 171 rows of 96 begin
     * part-way through a group of the whole tensor, where no scale can land on a chunk's start
     * in our layout; the bytes there are codes like any others (here made equal to the scale's,
     * which a check at r * cols / 4 would have called damage). */
    enum { ROWS2 = 512, COLS2 = 96 };
    t = calloc(ROWS2 * COLS2, 1);
    nb = tensor_bytes(i2s, ROWS2, COLS2);
    buf = malloc(nb);
    CHECK_OK(i2s->pack_ternary(t, ROWS2, COLS2, 2.0f, buf, nb));
    memcpy(buf + 171 * COLS2 / 4, buf + ROWS2 * COLS2 / 4, 4);
    CHECK(bn_i2_s_chunk_damage(buf, ROWS2, COLS2, &certain) == -1 && !certain,
          "rows off the groups are not chunk starts");
    free(t);
    free(buf);
}

/* The hf2 bit order on a hand-worked case (facts 1.4): rows 0, R, 2R, 3R of a column share a
 * byte, row iR + p at bits 2i. */
static void test_hf2_layout(void) {
    /* [8, 1]: R = 2; rows 0..7 = -1, 0, 1, 1, 0, -1, 1, -1 -> codes 0, 1, 2, 2, 1, 0, 2, 0
     * packed row 0 = rows 0, 2, 4, 6 = codes 0, 2, 1, 2 -> 0b10011000 = 0x98
     * packed row 1 = rows 1, 3, 5, 7 = codes 1, 2, 0, 0 -> 0b00001001 = 0x09 */
    const int8_t t[8] = {-1, 0, 1, 1, 0, -1, 1, -1};
    uint8_t p[2];
    CHECK_OK(bn_dtype_get(BN_DTYPE_HF2)->pack_ternary(t, 8, 1, 1.0f, p, 2));
    CHECK(p[0] == 0x98 && p[1] == 0x09, "hf2 [8, 1] packed as %02x %02x", p[0], p[1]);
    /* i2_s: value 0 at bits [7:6] of byte 0, value 32 at [5:4], 64 at [3:2], 96 at [1:0] */
    int8_t u[128] = {0};
    u[0] = 1, u[32] = -1, u[96] = 1, u[31] = -1;
    uint8_t q[32 + 32];
    CHECK_OK(bn_dtype_get(BN_DTYPE_I2_S)->pack_ternary(u, 1, 128, 2.0f, q, sizeof q));
    float tail;
    memcpy(&tail, q + 32, sizeof tail);
    CHECK(q[0] == (2 << 6 | 0 << 4 | 1 << 2 | 2) && q[31] == (0 << 6 | 1 << 4 | 1 << 2 | 1) &&
              q[1] == 0x55 && tail == 2.0f,
          "i2_s group: %02x %02x %02x, scale %g", q[0], q[1], q[31], tail);
}

/* ---------------------------------------------------------------------------------------------
 * Row encoders
 * ------------------------------------------------------------------------------------------- */

static void test_encoders(void) {
    rng r = {3};
    enum { N = 256 * 32 };
    static float x[N], y[N];
    static uint8_t buf[N * 2];
    const bn_dtype ids[] = {BN_DTYPE_Q8_0, BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0};
    for (size_t k = 0; k < 3; k++) {
        const bn_dtype_traits *tr = bn_dtype_get(ids[k]);
        int qmax = ids[k] == BN_DTYPE_Q8_0 ? 127 : 1;
        for (int i = 0; i < N; i++)
            x[i] = rng_normal(&r) * ldexpf(1.0f, (i / (int)tr->block_size) % 24 - 12);
        for (int i = 0; i < (int)tr->block_size; i++)
            x[5 * tr->block_size + i] = 0.0f; /* block 5 is all zero */
        tr->from_f32(x, buf, N);
        tr->to_f32(buf, y, N);
        int64_t bad = 0;
        double worst = 0.0;
        for (int64_t b = 0; b < N / tr->block_size; b++) {
            const float *xb = x + b * tr->block_size, *yb = y + b * tr->block_size;
            double amax = 0.0;
            for (int i = 0; i < (int)tr->block_size; i++)
                amax = fmax(amax, fabs((double)xb[i]));
            /* d is rounded to f16 after the codes are chosen: each value is off by at most half
             * a step of the float32 d, plus |code| times the f16 rounding of d */
            double d = amax / qmax;
            double d16 = bn_f16_to_f32(bn_f32_to_f16((float)d));
            double tol = 0.5 * d * (1 + 1e-6) + qmax * fabs(d - d16);
            for (int i = 0; i < (int)tr->block_size; i++) {
                double err = fabs((double)xb[i] - (double)yb[i]);
                bad += err > tol;
                worst = fmax(worst, d > 0 ? err / d : err);
            }
        }
        CHECK(bad == 0, "%s: %lld values beyond the error bound (worst %.4g steps)", tr->name,
              (long long)bad, worst);
        /* the all-zero block: d = 0 and codes for zero */
        const uint8_t *blk = buf + 5 * tr->block_bytes;
        uint16_t d;
        if (ids[k] == BN_DTYPE_Q8_0) {
            const bn_block_q8_0 *q = (const bn_block_q8_0 *)blk;
            bool zeros = true;
            for (int i = 0; i < BN_QK8_0; i++)
                zeros &= q->qs[i] == 0;
            d = q->d;
            CHECK(zeros, "q8_0 zero block codes");
        } else {
            memcpy(&d, blk + tr->block_bytes - 2, sizeof d);
        }
        CHECK(d == 0, "%s: zero block has d bits 0x%04x", tr->name, d);
        for (int i = 0; i < (int)tr->block_size; i++)
            CHECK(y[5 * tr->block_size + i] == 0.0f, "%s zero block decodes to 0", tr->name);
    }

    /* Ternary values times an f16 scale are encoded losslessly, and as pack writes them. */
    const bn_dtype tq[] = {BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0};
    static int8_t t[N];
    static uint8_t packed[N];
    for (size_t k = 0; k < 2; k++) {
        const bn_dtype_traits *tr = bn_dtype_get(tq[k]);
        random_ternary(&r, t, N, 0.4);
        for (int b = 0; b < N / 256; b++)
            t[b * 256 + 17] = 1; /* every block nonzero, so absmax = scale */
        float scale = random_f16_scale(&r);
        for (int i = 0; i < N; i++)
            x[i] = (float)t[i] * scale;
        tr->from_f32(x, buf, N);
        tr->to_f32(buf, y, N);
        CHECK(memcmp(x, y, sizeof x) == 0, "%s: ternary input not reproduced", tr->name);
        size_t nb = tensor_bytes(tr, 4, N / 4);
        CHECK_OK(tr->pack_ternary(t, 4, N / 4, scale, packed, nb));
        CHECK(memcmp(buf, packed, nb) == 0, "%s: from_f32 and pack_ternary differ", tr->name);
    }

    /* Ties round away from zero (roundf), not to even. q8_0 with absmax 127 has d = 1, so
     * 2.5 -> 3 and -0.5 -> -1; tq with absmax 2 has id = 0.5, so +-1 -> +-1 (decoded +-2). */
    float qx[32] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 126.5f};
    bn_block_q8_0 qb;
    bn_q8_0_from_f32(qx, &qb, 32);
    CHECK(qb.qs[0] == 127 && qb.qs[1] == 3 && qb.qs[2] == -3 && qb.qs[3] == 1 && qb.qs[4] == -1 &&
              qb.qs[5] == 127 && qb.d == bn_f32_to_f16(1.0f),
          "q8_0 ties: %d %d %d %d %d %d", qb.qs[0], qb.qs[1], qb.qs[2], qb.qs[3], qb.qs[4],
          qb.qs[5]);
    static float tx[256];
    tx[0] = 2.0f, tx[1] = 1.0f, tx[2] = -1.0f, tx[3] = 0.99f;
    bn_block_tq2_0 tb;
    bn_tq2_0_from_f32(tx, &tb, 256);
    bn_tq2_0_to_f32(&tb, y, 256);
    CHECK(y[0] == 2.0f && y[1] == 2.0f && y[2] == -2.0f && y[3] == 0.0f && y[4] == 0.0f,
          "tq2_0 ties: %g %g %g %g", y[0], y[1], y[2], y[3]);

    /* Non-finite input is outside the contract but must not be undefined behaviour. */
    qx[7] = NAN;
    qx[8] = INFINITY;
    bn_q8_0_from_f32(qx, &qb, 32);
    tx[9] = -INFINITY;
    bn_tq1_0_from_f32(tx, buf, 256);
}

/* TQ2_0 -> i2v32 by copying equals unpacking and packing again; bad bytes are refused as the
 * unpacker refuses them. */
static void test_tq2_0_direct(void) {
    rng r = {0x7e2};
    enum { ROWS = 6, COLS = 512 };
    static int8_t t[ROWS * COLS];
    static uint8_t tq[ROWS * COLS / 256 * 66], direct[ROWS * COLS / 4], packed[ROWS * COLS / 4];
    random_ternary(&r, t, ROWS * COLS, 0.4);
    float s = random_f16_scale(&r), got = 0.0f;
    CHECK_OK(bn_tq2_0_pack_ternary(t, ROWS, COLS, s, tq, sizeof tq));
    CHECK_OK(bn_tq2_0_to_i2v32(tq, sizeof tq, ROWS, COLS, direct, &got));
    CHECK_OK(bn_i2v32_pack_ternary(t, ROWS, COLS, s, packed, sizeof packed));
    CHECK(memcmp(direct, packed, sizeof packed) == 0 && got == s, "direct copy == repack");
    bn_block_tq2_0 *b = (bn_block_tq2_0 *)tq;
    uint8_t keep = b[3].qs[7];
    b[3].qs[7] |= 0xC0; /* a code 3 */
    CHECK(bn_tq2_0_to_i2v32(tq, sizeof tq, ROWS, COLS, direct, &got) == BN_ERR_FORMAT,
          "code 3 refused");
    b[3].qs[7] = keep;
    b[5].d = bn_f32_to_f16(2.0f * s); /* a second scale */
    CHECK(bn_tq2_0_to_i2v32(tq, sizeof tq, ROWS, COLS, direct, &got) == BN_ERR_UNSUPPORTED,
          "two scales refused");
    CHECK(bn_tq2_0_to_i2v32(tq, sizeof tq - 1, ROWS, COLS, direct, &got) != BN_OK,
          "short source refused");
}

int main(void) {
    test_tq2_0_direct();
    test_table();
    test_round_trips();
    test_conversions();
    test_scale_policy();
    test_shape_errors();
    test_size_errors();
    test_value_errors();
    test_tq_errors();
    test_i2_s_hf2_errors();
    test_i2_s_chunk_scale();
    test_hf2_layout();
    test_encoders();
    return bn_test_finish("test_formats");
}
