/*
 * test_ternary_lut.c - the lookup-table ternary kernels: the scalar model and the AVX2 kernel
 * equal bn_ternary_gemm_ref bit for bit on awkward sizes, directly and through the thread pool
 * with 1..3 threads; both table builders write the same bytes; the int16 accumulation bound
 * holds at its extremes; bad input is refused. The AVX2 part is skipped (with a message) on a
 * CPU without AVX2.
 */
#include "kernels/cpu/ternary_lut.h"

#include "base/alloc.h"
#include "base/threadpool.h"
#include "kernels/cpu/ternary_gemm.h"
#include "test.h"
#include "test_rng.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* This program's seed for tests/test_rng.h. */
#define TEST_SEED 0x2545f4914f6cdd1du

/* Random int8 rows; every row starts on -128 and ends on 127, and every third row is pinned to
 * one extreme throughout, so the ends of the int8 range meet every code. */
static void fill_acts(int8_t *xq, int64_t m, int64_t k, int64_t stride) {
    for (int64_t i = 0; i < m; i++) {
        int8_t *row = xq + i * stride;
        for (int64_t j = 0; j < k; j++)
            row[j] = (int8_t)rng_int(-128, 127);
        if (i % 3 == 1)
            memset(row, i % 2 ? 0x80 : 127, (size_t)k);
        row[0] = -128;
        row[k - 1] = 127;
        for (int64_t j = k; j < stride; j++)
            row[j] = (int8_t)rng_int(-128, 127); /* beyond cols: must be ignored */
    }
}

static int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return -1;
}

/* The kernels of one path against the reference on t[n, k], m tokens: directly over the whole
 * range and over 32-row pieces, and through bn_ternary_lut_gemm with pools of 1..3 threads. */
static void check_case(const int8_t *t, int64_t n, int64_t k, int64_t m, bn_isa isa,
                       bn_threadpool **pools) {
    const int64_t stride = k + 3; /* rows longer than cols, as bn_ternary_quantize_acts gives */
    int8_t *xs = malloc((size_t)(m * stride)), *xr = malloc((size_t)(m * k));
    float *scale = malloc((size_t)m * sizeof(float));
    float *want = malloc((size_t)(m * n) * sizeof(float));
    float *got = malloc((size_t)(m * n) * sizeof(float));
    fill_acts(xs, m, k, stride);
    for (int64_t i = 0; i < m; i++) {
        memcpy(xr + i * k, xs + i * stride, (size_t)k);
        scale[i] = 127.0f / (0.013f + 0.37f * (float)i);
    }
    bn_ternary_gemm_ref(t, 0.731f, n, k, xr, scale, m, want);

    bn_ternary_lut_matrix w;
    CHECK_OK(bn_ternary_lut_pack(&w, t, n, k, 0.731f));
    size_t tb = bn_ternary_lut_tables_bytes(&w, m);
    uint8_t *tables = bn_aligned_alloc(tb), *tables2 = bn_aligned_alloc(tb);
    bool avx2 = isa == BN_ISA_AVX2;
    bn_ternary_lut_build_tables_scalar(&w, xs, stride, m, tables);
    bn_ternary_lut_kernel_fn kernel = bn_ternary_lut_kernel_scalar;
#if defined(__x86_64__)
    if (avx2) {
        bn_ternary_lut_build_tables_avx2(&w, xs, stride, m, tables2);
        CHECK(memcmp(tables, tables2, tb) == 0, "avx2 tables differ, n=%lld k=%lld m=%lld",
              (long long)n, (long long)k, (long long)m);
        kernel = bn_ternary_lut_kernel_avx2;
    }
#endif
    const char *name = bn_isa_name(isa);

    memset(got, 0xff, (size_t)(m * n) * sizeof(float));
    kernel(&w, tables, scale, m, 0, n, got);
    int64_t d = first_diff(got, want, m * n);
    CHECK(d < 0, "%s kernel n=%lld k=%lld m=%lld: y[%lld] = %.9g want %.9g", name, (long long)n,
          (long long)k, (long long)m, (long long)d, d < 0 ? 0.0 : got[d], d < 0 ? 0.0 : want[d]);

    memset(got, 0xff, (size_t)(m * n) * sizeof(float));
    for (int64_t n0 = 0; n0 < n; n0 += BN_LUT_CHUNK_ROWS)
        kernel(&w, tables, scale, m, n0, n0 + BN_LUT_CHUNK_ROWS < n ? n0 + BN_LUT_CHUNK_ROWS : n,
               got);
    d = first_diff(got, want, m * n);
    CHECK(d < 0, "%s kernel by chunks n=%lld k=%lld m=%lld: first diff %lld", name, (long long)n,
          (long long)k, (long long)m, (long long)d);

    for (int th = 0; th < 3; th++) {
        memset(got, 0xff, (size_t)(m * n) * sizeof(float));
        memset(tables2, 0xaa, tb);
        CHECK_OK(bn_ternary_lut_gemm(&w, xs, stride, scale, m, tables2, got, pools[th], isa));
        d = first_diff(got, want, m * n);
        CHECK(d < 0, "%s gemm %d threads n=%lld k=%lld m=%lld: first diff %lld", name, th + 1,
              (long long)n, (long long)k, (long long)m, (long long)d);
    }
    bn_aligned_free(tables);
    bn_aligned_free(tables2);
    bn_ternary_lut_free(&w);
    free(xs);
    free(xr);
    free(scale);
    free(want);
    free(got);
}

static void check_path(bn_isa isa, bn_threadpool **pools) {
    static const int64_t ns[] = {1, 31, 33, 100};
    static const int64_t ks[] = {1, 2, 3, 255, 256, 1000, 3200, 8640};
    static const int64_t ms[] = {1, 2, 5};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
            int64_t n = ns[a], k = ks[b];
            int8_t *t = malloc((size_t)(n * k));
            for (int64_t i = 0; i < n * k; i++)
                t[i] = (int8_t)rng_int(-1, 1);
            for (size_t c = 0; c < sizeof ms / sizeof ms[0]; c++)
                check_case(t, n, k, ms[c], isa, pools);
            free(t);
        }
}

/* The int16 bound: every product at its extreme (w = -1 on x = -128 gives +256 per group and
 * w = 1 gives -256; w = 1 on 127 gives +254), for K just inside and past one widening block
 * of the AVX2 kernel (126 steps = 504 values; int16 would hold 127) and several blocks. */
static void check_extremes(bn_isa isa, bn_threadpool **pools) {
    static const int64_t ks[] = {503, 504, 505, 508, 509, 1008, 2100};
    for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
        int64_t n = 64, k = ks[b];
        int8_t *t = malloc((size_t)(n * k));
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < k; j++)
                t[r * k + j] = (int8_t)(r % 3 == 0 ? -1 : (r % 3 == 1 ? 1 : (j % 2 ? 1 : -1)));
        int64_t m = 2;
        int8_t *x = malloc((size_t)(m * k));
        memset(x, 0x80, (size_t)k);
        memset(x + k, 127, (size_t)k);
        float scale[2] = {1.0f, 3.0f}, want[128], got[128];
        bn_ternary_gemm_ref(t, 1.0f, n, k, x, scale, m, want);
        CHECK(want[0] == 128.0f * (float)k, "reference extreme %g", want[0]);
        bn_ternary_lut_matrix w;
        CHECK_OK(bn_ternary_lut_pack(&w, t, n, k, 1.0f));
        uint8_t *tables = bn_aligned_alloc(bn_ternary_lut_tables_bytes(&w, m));
        CHECK_OK(bn_ternary_lut_gemm(&w, x, k, scale, m, tables, got, pools[1], isa));
        int64_t d = first_diff(got, want, m * n);
        CHECK(d < 0, "%s extremes k=%lld: y[%lld] = %.9g want %.9g", bn_isa_name(isa), (long long)k,
              (long long)d, d < 0 ? 0.0 : got[d], d < 0 ? 0.0 : want[d]);
        bn_aligned_free(tables);
        bn_ternary_lut_free(&w);
        free(t);
        free(x);
    }
}

int main(void) {
    bn_test_rng_state = TEST_SEED;
    bn_threadpool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        CHECK_OK(bn_threadpool_create(i + 1, &pools[i]));

    /* Refused input. */
    int8_t bad[6] = {0, 1, -1, 2, 0, 0};
    bn_ternary_lut_matrix w;
    CHECK(bn_ternary_lut_pack(&w, bad, 2, 3, 1.0f) == BN_ERR_RANGE, "value 2 accepted");
    CHECK(w.data == NULL, "refused pack left data");
    CHECK(bn_ternary_lut_pack(&w, bad, 0, 3, 1.0f) == BN_ERR_INVALID_ARG, "0 rows accepted");
    CHECK(bn_ternary_lut_gemm(&w, NULL, 0, NULL, 0, NULL, NULL, NULL, BN_ISA_NEON) ==
              BN_ERR_UNSUPPORTED,
          "neon path accepted");

    check_path(BN_ISA_SCALAR, pools);
    check_extremes(BN_ISA_SCALAR, pools);
    if (bn_cpu_isa_supported(BN_ISA_AVX2)) {
        check_path(BN_ISA_AVX2, pools);
        check_extremes(BN_ISA_AVX2, pools);
    } else {
        printf("test_ternary_lut: avx2 part skipped: this CPU has no AVX2\n");
    }

    for (int i = 0; i < 3; i++)
        bn_threadpool_destroy(pools[i]);
    return bn_test_finish("test_ternary_lut");
}
