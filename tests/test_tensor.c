/* test_tensor.c - the dtype table, tensor shapes, views (slice, reshape, permute, transpose)
 * and copies read the right elements. */
#include "tensor/half.h"
#include "tensor/tensor.h"
#include "test.h"

#include <string.h>

static void test_dtype_table(void) {
    struct {
        bn_dtype id;
        const char *name;
        int gguf;
        size_t bytes;
    } want[] = {{BN_DTYPE_F32, "f32", 0, 4},
                {BN_DTYPE_F16, "f16", 1, 2},
                {BN_DTYPE_BF16, "bf16", 30, 2},
                {BN_DTYPE_I8, "i8", 24, 1},
                {BN_DTYPE_I32, "i32", 26, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const bn_dtype_traits *t = bn_dtype_get(want[i].id);
        CHECK(t != NULL && strcmp(t->name, want[i].name) == 0, "row %zu name", i);
        CHECK(t->gguf_type == want[i].gguf && t->block_bytes == want[i].bytes && t->block_size == 1,
              "row %s traits", want[i].name);
        bn_dtype d;
        CHECK_OK(bn_dtype_from_name(want[i].name, &d));
        CHECK(d == want[i].id, "from_name %s", want[i].name);
        CHECK_OK(bn_dtype_from_gguf(want[i].gguf, &d));
        CHECK(d == want[i].id, "from_gguf %d", want[i].gguf);
    }
    /* every plain row converts a row of values to float and back */
    for (int id = 0; id < BN_DTYPE_COUNT; id++) {
        const bn_dtype_traits *t = bn_dtype_get((bn_dtype)id);
        CHECK(t != NULL && t->block_bytes > 0 && t->block_size > 0, "row %d is filled", id);
        if (t->is_quantized)
            continue; /* quantized rows are tested against their reference encoders */
        float in[4] = {-3.0f, 0.0f, 1.0f, 100.0f}, out[4];
        uint8_t buf[64];
        t->from_f32(in, buf, 4);
        t->to_f32(buf, out, 4);
        for (int i = 0; i < 4; i++)
            CHECK(out[i] == in[i], "%s round trip of %g gave %g", t->name, in[i], out[i]);
    }
    bn_dtype d;
    CHECK(bn_dtype_from_name("q9_9", &d) == BN_ERR_DTYPE && strstr(bn_last_error(), "q9_9"),
          "unknown name is named: %s", bn_last_error());
    CHECK(bn_dtype_from_gguf(12345, &d) == BN_ERR_DTYPE, "unknown gguf id");
    CHECK(bn_dtype_get((bn_dtype)99) == NULL && bn_dtype_get((bn_dtype)-1) == NULL, "bad ids");
    size_t rb;
    CHECK_OK(bn_dtype_row_bytes(BN_DTYPE_BF16, 2560, &rb));
    CHECK(rb == 5120, "bf16 row bytes %zu", rb);
    CHECK(bn_dtype_row_bytes(BN_DTYPE_F32, (int64_t)1 << 62, &rb) == BN_ERR_RANGE, "overflow");
    /* integer targets round half to even and saturate */
    float r[6] = {0.5f, 1.5f, -2.5f, 300.0f, -300.0f, NAN};
    int8_t q[6];
    bn_dtype_get(BN_DTYPE_I8)->from_f32(r, q, 6);
    CHECK(q[0] == 0 && q[1] == 2 && q[2] == -2 && q[3] == 127 && q[4] == -128 && q[5] == 0,
          "i8 rounding: %d %d %d %d %d %d", q[0], q[1], q[2], q[3], q[4], q[5]);
}

/* value of element (a,b,c,d) in the test tensor */
static float code(int64_t a, int64_t b, int64_t c, int64_t d) {
    return (float)(a * 1000 + b * 100 + c * 10 + d);
}

static void fill4(bn_tensor *t) {
    float *p = t->data;
    for (int64_t a = 0; a < t->shape[0]; a++)
        for (int64_t b = 0; b < t->shape[1]; b++)
            for (int64_t c = 0; c < t->shape[2]; c++)
                for (int64_t d = 0; d < t->shape[3]; d++)
                    *p++ = code(a, b, c, d);
}

static void test_shapes_and_views(void) {
    bn_tensor t;
    int64_t shape[4] = {2, 3, 4, 5};
    CHECK_OK(bn_tensor_alloc(&t, BN_DTYPE_F32, 4, shape, NULL));
    CHECK(t.stride[0] == 60 && t.stride[1] == 20 && t.stride[2] == 5 && t.stride[3] == 1,
          "contiguous strides");
    CHECK(bn_tensor_numel(&t) == 120 && bn_tensor_nbytes(&t) == 480, "numel/nbytes");
    CHECK(((uintptr_t)t.data & 63) == 0, "alloc is 64-byte aligned");
    fill4(&t);

    /* slice dim 1 [1,3) and dim 3 [2,5) */
    bn_tensor s1, s2;
    CHECK_OK(bn_tensor_slice(&t, 1, 1, 2, &s1));
    CHECK_OK(bn_tensor_slice(&s1, 3, 2, 3, &s2));
    CHECK(s2.shape[1] == 2 && s2.shape[3] == 3 && !bn_tensor_is_contiguous(&s2), "slice shape");
    int bad = 0;
    for (int64_t a = 0; a < 2; a++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t c = 0; c < 4; c++)
                for (int64_t d = 0; d < 3; d++) {
                    int64_t idx[4] = {a, b, c, d};
                    bad += bn_tensor_get_f32(&s2, idx) != code(a, b + 1, c, d + 2);
                }
    CHECK(bad == 0, "slice reads %d wrong elements", bad);

    /* transpose dims 1 and 3, then permute back partially */
    bn_tensor tr;
    CHECK_OK(bn_tensor_transpose(&t, 1, 3, &tr));
    CHECK(tr.shape[1] == 5 && tr.shape[3] == 3 && tr.stride[1] == 1 && tr.stride[3] == 20,
          "transpose shape/strides");
    bad = 0;
    for (int64_t a = 0; a < 2; a++)
        for (int64_t d = 0; d < 5; d++)
            for (int64_t c = 0; c < 4; c++)
                for (int64_t b = 0; b < 3; b++) {
                    int64_t idx[4] = {a, d, c, b};
                    bad += bn_tensor_get_f32(&tr, idx) != code(a, b, c, d);
                }
    CHECK(bad == 0, "transpose reads %d wrong elements", bad);

    int perm[4] = {3, 0, 2, 1}; /* out[i] = src dim perm[i] */
    bn_tensor pm, pc;
    CHECK_OK(bn_tensor_permute(&t, perm, &pm));
    CHECK(pm.shape[0] == 5 && pm.shape[1] == 2 && pm.shape[2] == 4 && pm.shape[3] == 3,
          "permute shape");
    CHECK_OK(bn_tensor_contiguous(&pm, &pc, NULL));
    CHECK(bn_tensor_is_contiguous(&pc), "contiguous copy is contiguous");
    const float *pcv = pc.data;
    bad = 0;
    size_t i = 0;
    for (int64_t d = 0; d < 5; d++)
        for (int64_t a = 0; a < 2; a++)
            for (int64_t c = 0; c < 4; c++)
                for (int64_t b = 0; b < 3; b++)
                    bad += pcv[i++] != code(a, b, c, d);
    CHECK(bad == 0, "contiguous(permute) has %d wrong elements", bad);

    /* reshape: contiguous only, same element count */
    bn_tensor rs;
    int64_t flat[2] = {6, 20};
    CHECK_OK(bn_tensor_reshape(&t, 2, flat, &rs));
    int64_t ix[2] = {4, 7}; /* row 4 = (a=1, b=1), col 7 = (c=1, d=2) */
    CHECK(bn_tensor_get_f32(&rs, ix) == code(1, 1, 1, 2), "reshape reads");
    CHECK(bn_tensor_reshape(&tr, 2, flat, &rs) == BN_ERR_INVALID_ARG, "reshape of a transpose");
    int64_t wrong[2] = {7, 20};
    CHECK(bn_tensor_reshape(&t, 2, wrong, &rs) == BN_ERR_SHAPE, "reshape count mismatch");

    /* to_f32 of a strided f16 view decodes in logical order */
    bn_tensor h;
    CHECK_OK(bn_tensor_alloc(&h, BN_DTYPE_F16, 4, shape, NULL));
    bn_dtype_get(BN_DTYPE_F16)->from_f32(t.data, h.data, 120);
    bn_tensor htr;
    CHECK_OK(bn_tensor_transpose(&h, 0, 3, &htr));
    static float dec[120];
    CHECK_OK(bn_tensor_to_f32(&htr, dec));
    /* htr[d][b][c][a] = t[a][b][c][d]: a varies fastest, then c, then b */
    CHECK(dec[0] == code(0, 0, 0, 0) && dec[1] == code(1, 0, 0, 0) && dec[12] == code(0, 1, 2, 0),
          "to_f32 of transposed f16: %g %g %g", dec[0], dec[1], dec[12]);
    char desc[64];
    CHECK(strcmp(bn_tensor_describe(&htr, desc, sizeof desc), "f16[5,3,4,2]") == 0, "describe %s",
          desc);

    bn_tensor_free(&h);
    bn_tensor_free(&pc);
    bn_tensor_free(&t);
}

static void test_errors(void) {
    bn_tensor t;
    int64_t zero[2] = {3, 0};
    CHECK(bn_tensor_wrap(&t, BN_DTYPE_F32, 2, zero, NULL) == BN_ERR_SHAPE &&
              strstr(bn_last_error(), "dimension 1") != NULL,
          "zero dim named: %s", bn_last_error());
    int64_t five[5] = {1, 1, 1, 1, 1};
    CHECK(bn_tensor_wrap(&t, BN_DTYPE_F32, 5, five, NULL) == BN_ERR_SHAPE, "5 dims");
    int64_t huge[3] = {(int64_t)1 << 40, (int64_t)1 << 30, 4};
    CHECK(bn_tensor_wrap(&t, BN_DTYPE_F32, 3, huge, NULL) == BN_ERR_RANGE, "overflow");
    CHECK(bn_tensor_wrap(&t, (bn_dtype)42, 1, five, NULL) == BN_ERR_DTYPE, "bad dtype");
    int64_t ok[2] = {4, 4};
    float buf[16] = {0};
    CHECK_OK(bn_tensor_wrap(&t, BN_DTYPE_F32, 2, ok, buf));
    bn_tensor v;
    CHECK(bn_tensor_slice(&t, 0, 3, 2, &v) == BN_ERR_RANGE, "slice past the end");
    CHECK(bn_tensor_slice(&t, 2, 0, 1, &v) == BN_ERR_INVALID_ARG, "slice of a missing dim");
    int dup[2] = {0, 0};
    CHECK(bn_tensor_permute(&t, dup, &v) == BN_ERR_INVALID_ARG, "permute with a repeat");
    /* scalar tensor */
    float one = 7.0f;
    CHECK_OK(bn_tensor_wrap(&t, BN_DTYPE_F32, 0, NULL, &one));
    CHECK(bn_tensor_numel(&t) == 1 && bn_tensor_get_f32(&t, NULL) == 7.0f, "0-d tensor");
}

static void test_pool_tensor(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "pool");
    bn_tensor t;
    int64_t shape[2] = {33, 65};
    CHECK_OK(bn_tensor_alloc(&t, BN_DTYPE_BF16, 2, shape, pool));
    CHECK(t.ownership == BN_OWN_POOL, "pool ownership");
    bn_pool_stats st;
    bn_pool_stats_get(pool, &st);
    CHECK(st.live_blocks == 1 && st.bytes_in_use == 33 * 65 * 2, "pool sees the tensor: %zu",
          st.bytes_in_use);
    bn_tensor_free(&t);
    bn_pool_stats_get(pool, &st);
    CHECK(st.live_blocks == 0, "freed to the pool");
    CHECK(bn_pool_destroy(pool) == 0, "no leaks");
}

int main(void) {
    test_dtype_table();
    test_shapes_and_views();
    test_errors();
    test_pool_tensor();
    return bn_test_finish("test_tensor");
}
