/*
 * test_ternary_gemm.c - the ternary kernels: packing round trip, every kernel path this machine
 * runs equals bn_ternary_gemm_ref bit for bit on awkward sizes (any N, K, M, row range), the
 * 16-bit accumulation bound of the AVX2 path holds at its extremes, the threaded dispatcher
 * covers every row, activation quantization pads and sums, bad input is refused, and the int8
 * ceiling probe measures a rate on every path this CPU runs.
 *
 * Paths the CPU or the build lacks are listed as skipped (x86 runs scalar, avx2 and, where the
 * CPU has it, avx512; aarch64 runs scalar and neon).
 */
#include "kernels/cpu/ternary_gemm.h"
#include "kernels/cpu/ternary_simd.h"

#include "base/threadpool.h"
#include "kernels/cpu/ceiling.h"
#include "quant/act_quant.h"
#include "test.h"
#include "test_rng.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* This program's seed for tests/test_rng.h. */
#define TEST_SEED 0x9e3779b97f4a7c15u

static void fill_ternary(int8_t *t, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        t[i] = (int8_t)rng_int(-1, 1);
}

/* Random int8 activations. Every fifth row is pinned to an extreme (-128 or 127 throughout) and
 * every row starts and ends on one, so the ends of the int8 range meet every code. */
static void fill_acts(int8_t *xq, int64_t m, int64_t k) {
    for (int64_t i = 0; i < m; i++) {
        int8_t *row = xq + i * k;
        for (int64_t j = 0; j < k; j++)
            row[j] = (int8_t)rng_int(-128, 127);
        if (i % 5 == 3)
            memset(row, i % 2 ? 127 : 0x80, (size_t)k);
        row[0] = -128;
        row[k - 1] = 127;
    }
}

/* What bn_ternary_quantize_acts gives besides the codes: row sums, and scales that are not
 * powers of two so that the final float expression rounds. */
static void act_sums(const int8_t *xq, int64_t m, int64_t k, int32_t *x_sum, float *x_scale) {
    for (int64_t i = 0; i < m; i++) {
        int32_t s = 0;
        for (int64_t j = 0; j < k; j++)
            s += xq[i * k + j];
        x_sum[i] = s;
        x_scale[i] = 127.0f / (0.013f + 0.37f * (float)i);
    }
}

/* Rows of k codes copied into rows of k_padded, zero-padded: the kernels' input layout. */
static int8_t *pad_acts(const int8_t *xq, int64_t m, int64_t k, int64_t k_padded) {
    int8_t *out = calloc((size_t)(m * k_padded), 1);
    for (int64_t i = 0; i < m; i++)
        memcpy(out + i * k_padded, xq + i * k, (size_t)k);
    return out;
}

static bool runnable_layout(bn_isa isa, bn_ternary_layout layout) {
    return bn_cpu_isa_supported(isa) && bn_ternary_kernel_for(isa, layout) != NULL;
}

static bool runnable(bn_isa isa) {
    return runnable_layout(isa, BN_TERNARY_I2V);
}

/* Every (path, layout) pair this build has a kernel for: i2v on every path, t5v64 on scalar and
 * avx512. v indexes BN_ISA_COUNT * 2 pairs; layout_of_variant / isa_of_variant split it. */
#define N_VARIANTS (2 * BN_ISA_COUNT)
static bn_isa isa_of_variant(int v) {
    return (bn_isa)(v % BN_ISA_COUNT);
}
static bn_ternary_layout layout_of_variant(int v) {
    return v < BN_ISA_COUNT ? BN_TERNARY_I2V : BN_TERNARY_T5V;
}
static bool variant_runs(int v) {
    return runnable_layout(isa_of_variant(v), layout_of_variant(v));
}
static const char *variant_name(int v) {
    static char names[N_VARIANTS][32];
    snprintf(names[v], sizeof names[v], "%s/%s", bn_isa_name(isa_of_variant(v)),
             bn_ternary_layout_name(layout_of_variant(v), isa_of_variant(v)));
    return names[v];
}
static bn_status pack_variant(bn_ternary_matrix *w, const int8_t *t, int64_t n, int64_t k,
                              float scale, int v) {
    return bn_ternary_matrix_pack_layout(w, t, n, k, scale, isa_of_variant(v),
                                         layout_of_variant(v));
}

/* Index of the first float that differs in its bits, or -1. */
static int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return -1;
}

/* ---- packing ------------------------------------------------------------------------------- */

static void test_pack_round_trip(void) {
    const int64_t shapes[][2] = {{1, 1}, {3, 5}, {17, 127}, {4, 128}, {5, 257}, {2, 1000}};
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        int v = bn_ternary_vbytes((bn_isa)isa);
        CHECK(v == 16 || v == 32 || v == 64, "%s: V = %d", bn_isa_name((bn_isa)isa), v);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t n = shapes[s][0], k = shapes[s][1];
            int8_t *t = malloc((size_t)(n * k)), *back = malloc((size_t)(n * k));
            fill_ternary(t, n * k);
            bn_ternary_matrix w;
            CHECK_OK(bn_ternary_matrix_pack(&w, t, n, k, 0.5f, (bn_isa)isa));
            CHECK(w.rows == n && w.cols == k && w.vbytes == v && w.isa == (bn_isa)isa,
                  "%s [%lld, %lld]: header", bn_isa_name((bn_isa)isa), (long long)n, (long long)k);
            CHECK(w.cols_padded >= k && w.cols_padded % (4 * v) == 0 && w.cols_padded - k < 4 * v &&
                      w.cols_padded == bn_ternary_padded_cols(k, (bn_isa)isa),
                  "%s: K = %lld padded to %lld", bn_isa_name((bn_isa)isa), (long long)k,
                  (long long)w.cols_padded);
            CHECK(w.bytes == (size_t)(n * w.cols_padded / 4), "bytes %zu", w.bytes);
            CHECK(((uintptr_t)w.data & 63) == 0, "data not 64-byte aligned");
            bn_ternary_matrix_unpack(&w, back);
            CHECK(memcmp(t, back, (size_t)(n * k)) == 0, "%s [%lld, %lld]: unpack differs",
                  bn_isa_name((bn_isa)isa), (long long)n, (long long)k);
            bn_ternary_matrix_free(&w);
            CHECK(w.data == NULL, "free clears the matrix");
            free(t);
            free(back);
        }
    }
}

/* t5v64: blocks of 320 values in 64 bytes on the paths that run it, any shape. */
static void test_pack_round_trip_t5(void) {
    const int64_t shapes[][2] = {{1, 1}, {3, 5}, {17, 319}, {4, 320}, {5, 321}, {2, 1000}};
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        bool has = isa == BN_ISA_SCALAR || isa == BN_ISA_AVX512;
#if defined(__x86_64__)
        CHECK(bn_ternary_layout_runs_on(BN_TERNARY_T5V, (bn_isa)isa) == has,
              "%s: a t5v64 kernel in this build: %d", bn_isa_name((bn_isa)isa), !has);
#endif
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t n = shapes[s][0], k = shapes[s][1];
            int8_t *t = malloc((size_t)(n * k)), *back = malloc((size_t)(n * k));
            fill_ternary(t, n * k);
            bn_ternary_matrix w;
            bn_status st =
                bn_ternary_matrix_pack_layout(&w, t, n, k, 0.5f, (bn_isa)isa, BN_TERNARY_T5V);
            if (!has) {
                CHECK(st == BN_ERR_UNSUPPORTED && strstr(bn_last_error(), "t5v64") != NULL,
                      "%s: t5v64 refused by name: %s", bn_isa_name((bn_isa)isa), bn_last_error());
                free(t), free(back);
                continue;
            }
            CHECK_OK(st);
            CHECK(w.layout == BN_TERNARY_T5V && w.vbytes == 64 && w.cols_padded % 320 == 0 &&
                      w.cols_padded >= k && w.cols_padded - k < 320 &&
                      w.cols_padded ==
                          bn_ternary_layout_padded_cols(k, (bn_isa)isa, BN_TERNARY_T5V),
                  "t5v64 K = %lld padded to %lld", (long long)k, (long long)w.cols_padded);
            CHECK(w.bytes == (size_t)(n * w.cols_padded / 5), "t5v64 bytes %zu", w.bytes);
            bn_ternary_matrix_unpack(&w, back);
            CHECK(memcmp(t, back, (size_t)(n * k)) == 0, "t5v64 [%lld, %lld]: unpack differs",
                  (long long)n, (long long)k);
            bn_ternary_matrix_free(&w);
            free(t), free(back);
        }
    }
    bn_ternary_layout l;
    CHECK(bn_ternary_layout_parse("t5", &l) == BN_OK && l == BN_TERNARY_T5V, "parse t5");
    CHECK(bn_ternary_layout_parse("i2", &l) == BN_OK && l == BN_TERNARY_I2V, "parse i2");
    CHECK(bn_ternary_layout_parse("t4", &l) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "\"t4\"") != NULL,
          "parse names the bad word: %s", bn_last_error());
}

/* The t5v64 kernels read any byte the way bn_trit does, including the 13 values (243-255) the
 * packer never writes: the multiply-and-shift identity holds for every byte. */
static void test_t5_every_byte(void) {
    const int64_t n = 5, k = 4 * 320, m = 6;
    int8_t zeros[5 * 4 * 320] = {0};
    bn_ternary_matrix ref;
    CHECK_OK(
        bn_ternary_matrix_pack_layout(&ref, zeros, n, k, 1.25f, BN_ISA_SCALAR, BN_TERNARY_T5V));
    for (size_t i = 0; i < ref.bytes; i++)
        ref.data[i] = (uint8_t)(i * 7 + i / 256); /* every byte value, in many positions */
    int8_t *xq = malloc((size_t)(m * k));
    fill_acts(xq, m, k);
    float x_scale[6], want[30], y[30];
    int32_t x_sum[6];
    act_sums(xq, m, k, x_sum, x_scale);
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        if (isa == BN_ISA_SCALAR || !runnable_layout((bn_isa)isa, BN_TERNARY_T5V))
            continue;
        bn_ternary_matrix w = ref;
        w.isa = (bn_isa)isa;
        for (int64_t mm = 1; mm <= m; mm++) {
            bn_ternary_kernel_t5_scalar(&ref, xq, x_scale, x_sum, mm, 0, n, want);
            bn_ternary_kernel_for((bn_isa)isa, BN_TERNARY_T5V)(&w, xq, x_scale, x_sum, mm, 0, n, y);
            int64_t d = first_diff(y, want, mm * n);
            CHECK(d < 0, "%s t5v64 every byte M=%lld: y[%lld] = %.9g, want %.9g",
                  bn_isa_name((bn_isa)isa), (long long)mm, (long long)d, y[d < 0 ? 0 : d],
                  want[d < 0 ? 0 : d]);
        }
    }
    free(xq);
    bn_ternary_matrix_free(&ref);
}

/* The t5v64 decode kernel folds its accumulators every 1024 blocks (327680 values), before
 * 3A - B could leave int32 (from about 1640 blocks of extremes): rows of extremes of 1701
 * blocks, which a kernel folding too late or never gets wrong, for one token (the folding
 * path) and two (the panel path). */
static void test_t5_long_rows(void) {
    const int64_t n = 5, k = 1700 * 320 + 1, m = 2;
    int8_t *t = malloc((size_t)(n * k)), *xq = malloc((size_t)(m * k));
    for (int64_t r = 0; r < n; r++)
        memset(t + r * k, r % 2 ? 1 : 0xff, (size_t)k);
    for (int64_t i = 0; i < m; i++)
        memset(xq + i * k, i % 2 ? 127 : 0x80, (size_t)k);
    float x_scale[2], want[10], y[10];
    int32_t x_sum[2];
    act_sums(xq, m, k, x_sum, x_scale);
    bn_ternary_gemm_ref(t, 1.0f, n, k, xq, x_scale, m, want);
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        if (!runnable_layout((bn_isa)isa, BN_TERNARY_T5V))
            continue;
        bn_ternary_matrix w;
        CHECK_OK(bn_ternary_matrix_pack_layout(&w, t, n, k, 1.0f, (bn_isa)isa, BN_TERNARY_T5V));
        int8_t *xq_padded = pad_acts(xq, m, k, w.cols_padded);
        for (int64_t mm = 1; mm <= m; mm++) {
            bn_ternary_kernel_for((bn_isa)isa, BN_TERNARY_T5V)(&w, xq_padded, x_scale, x_sum, mm, 0,
                                                               n, y);
            int64_t d = first_diff(y, want, mm * n);
            CHECK(d < 0, "%s t5v64 K=%lld M=%lld: y[%lld] = %.9g, want %.9g",
                  bn_isa_name((bn_isa)isa), (long long)k, (long long)mm, (long long)d,
                  y[d < 0 ? 0 : d], want[d < 0 ? 0 : d]);
        }
        free(xq_padded);
        bn_ternary_matrix_free(&w);
    }
    free(t), free(xq);
}

static void test_errors(void) {
    int8_t t[6] = {1, 0, -1, 2, 0, 0};
    bn_ternary_matrix w;
    CHECK(bn_ternary_matrix_pack(&w, t, 2, 3, 1.0f, BN_ISA_SCALAR) == BN_ERR_RANGE, "value 2");
    CHECK(w.data == NULL, "no data after an error");
    CHECK(strstr(bn_last_error(), "[1, 0]") != NULL, "error names the index: %s", bn_last_error());
    t[3] = -2;
    CHECK(bn_ternary_matrix_pack(&w, t, 2, 3, 1.0f, BN_ISA_SCALAR) == BN_ERR_RANGE, "value -2");
    t[3] = 0;
    CHECK(bn_ternary_matrix_pack(&w, t, 0, 3, 1.0f, BN_ISA_SCALAR) == BN_ERR_SHAPE, "rows 0");
    CHECK(bn_ternary_matrix_pack(&w, t, 2, 0, 1.0f, BN_ISA_SCALAR) == BN_ERR_SHAPE, "cols 0");
    CHECK(bn_ternary_matrix_pack(&w, t, -1, 3, 1.0f, BN_ISA_SCALAR) == BN_ERR_SHAPE, "rows -1");
    bn_ternary_matrix_free(&w); /* safe on a matrix a failed pack left behind */

    /* A matrix for a path this machine or build cannot run is refused, not run elsewhere. */
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        if (runnable((bn_isa)isa))
            continue;
        CHECK_OK(bn_ternary_matrix_pack(&w, t, 2, 3, 1.0f, (bn_isa)isa));
        int8_t xq[256] = {0};
        float scale = 1.0f, y[2];
        int32_t sum = 0;
        CHECK(bn_ternary_gemm(&w, xq, &scale, &sum, 1, y, NULL) == BN_ERR_UNSUPPORTED,
              "%s matrix on a machine without it", bn_isa_name((bn_isa)isa));
        bn_ternary_matrix_free(&w);
    }
}

static void test_quantize_acts(void) {
    const int64_t m = 3, k = 300;
    float x[3 * 300];
    for (int64_t i = 0; i < m * k; i++)
        x[i] = (float)rng_int(-1000, 1000) * 0.01f * (float)(1 + i / k);
    int8_t t[300] = {0};
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        bn_ternary_matrix w;
        CHECK_OK(bn_ternary_matrix_pack(&w, t, 1, k, 1.0f, (bn_isa)isa));
        int64_t kp = w.cols_padded;
        int8_t *xq = malloc((size_t)(m * kp)), want[300];
        memset(xq, 0x5a, (size_t)(m * kp)); /* garbage the padding must overwrite */
        float scales[3];
        int32_t sums[3];
        bn_ternary_quantize_acts(&w, x, m, xq, scales, sums);
        for (int64_t i = 0; i < m; i++) {
            int32_t want_sum;
            float want_scale = bn_act_quant_row(x + i * k, k, want, &want_sum);
            CHECK(memcmp(&scales[i], &want_scale, sizeof(float)) == 0, "row %lld scale",
                  (long long)i);
            CHECK(memcmp(xq + i * kp, want, (size_t)k) == 0, "row %lld codes", (long long)i);
            int32_t s = 0, pad_nonzero = 0;
            for (int64_t j = 0; j < k; j++)
                s += xq[i * kp + j];
            for (int64_t j = k; j < kp; j++)
                pad_nonzero += xq[i * kp + j] != 0;
            CHECK(sums[i] == s && sums[i] == want_sum, "row %lld sum %d, codes add to %d",
                  (long long)i, sums[i], s);
            CHECK(pad_nonzero == 0, "%s row %lld: %d padding bytes not zero",
                  bn_isa_name((bn_isa)isa), (long long)i, pad_nonzero);
        }
        free(xq);
        bn_ternary_matrix_free(&w);
    }
}

/* ---- every kernel path against the reference ----------------------------------------------- */

#define MAX_M 17

/* One kernel on one packed matrix, for tokens 1..MAX_M, over all rows and over a split of the
 * rows into two calls whose boundary is not a multiple of 4 (the kernels' row tiles); outputs
 * outside the range a call was given must keep their sentinel. */
static void check_kernel(bn_ternary_kernel_fn kernel, const bn_ternary_matrix *w,
                         const int8_t *xq_padded, const float *x_scale, const int32_t *x_sum,
                         const float *want, const char *what) {
    int64_t n = w->rows;
    float *y = malloc((size_t)(MAX_M * n) * sizeof(float));
    for (int64_t m = 1; m <= MAX_M; m++) {
        for (int64_t i = 0; i < m * n; i++)
            y[i] = -7.0f;
        kernel(w, xq_padded, x_scale, x_sum, m, 0, n, y);
        int64_t d = first_diff(y, want, m * n);
        CHECK(d < 0, "%s M=%lld: y[%lld][%lld] = %.9g, want %.9g", what, (long long)m,
              (long long)(d / n), (long long)(d % n), y[d < 0 ? 0 : d], want[d < 0 ? 0 : d]);

        int64_t split = n / 3 + (n > 2); /* 0, 2, 6, 22, 34 for the sizes used */
        for (int64_t i = 0; i < m * n; i++)
            y[i] = -7.0f;
        kernel(w, xq_padded, x_scale, x_sum, m, split, n, y);
        int touched = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < split; j++)
                touched += y[i * n + j] != -7.0f;
        CHECK(touched == 0, "%s M=%lld rows [%lld, %lld): %d outputs outside written", what,
              (long long)m, (long long)split, (long long)n, touched);
        kernel(w, xq_padded, x_scale, x_sum, m, 0, split, y);
        d = first_diff(y, want, m * n);
        CHECK(d < 0, "%s M=%lld split at %lld: y[%lld][%lld] differs", what, (long long)m,
              (long long)split, (long long)(d / n), (long long)(d % n));
    }
    free(y);
}

static int paths_run[N_VARIANTS];

static void test_kernels_random(void) {
    const int64_t ns[] = {1, 3, 17, 64, 100, 321};
    /* ... and the row lengths of real checkpoints that are no whole number of blocks:
     * 1bitLLM-3B's hidden 3200 and FFN 8640, bitnet_b1_58-xl's FFN 5460 */
    const int64_t ks[] = {1, 5, 127, 128, 129, 255, 256, 257, 300, 321, 1000, 3200, 5460, 8640};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
            int64_t n = ns[a], k = ks[b];
            if (n * k > 321 * 1000) /* the largest rows only with a few outputs: time */
                continue;
            int8_t *t = malloc((size_t)(n * k)), *xq = malloc((size_t)(MAX_M * k));
            float *want = malloc((size_t)(MAX_M * n) * sizeof(float));
            fill_ternary(t, n * k);
            fill_acts(xq, MAX_M, k);
            float w_scale = 0.8125f + 0.001f * (float)k;
            float x_scale[MAX_M];
            int32_t x_sum[MAX_M];
            act_sums(xq, MAX_M, k, x_sum, x_scale);
            /* Row mi of the reference for MAX_M tokens is row mi for any M > mi. */
            bn_ternary_gemm_ref(t, w_scale, n, k, xq, x_scale, MAX_M, want);
            for (int v = 0; v < N_VARIANTS; v++) {
                if (!variant_runs(v))
                    continue;
                bn_ternary_matrix w;
                CHECK_OK(pack_variant(&w, t, n, k, w_scale, v));
                int8_t *xq_padded = pad_acts(xq, MAX_M, k, w.cols_padded);
                char what[96];
                snprintf(what, sizeof what, "%.31s N=%lld K=%lld", variant_name(v), (long long)n,
                         (long long)k);
                check_kernel(bn_ternary_kernel_for(isa_of_variant(v), layout_of_variant(v)), &w,
                             xq_padded, x_scale, x_sum, want, what);
#if defined(__x86_64__)
                /* the prefill decoder of AVX-512 CPUs without VBMI, on any AVX-512 CPU */
                if (isa_of_variant(v) == BN_ISA_AVX512 && layout_of_variant(v) == BN_TERNARY_T5V) {
                    snprintf(what, sizeof what, "avx512/t5v64 (compare decoder) N=%lld K=%lld",
                             (long long)n, (long long)k);
                    check_kernel(bn_ternary_kernel_t5_avx512_cmp, &w, xq_padded, x_scale, x_sum,
                                 want, what);
                }
#endif
                paths_run[v]++;
                free(xq_padded);
                bn_ternary_matrix_free(&w);
            }
            free(t);
            free(xq);
            free(want);
        }
    }
}

/* The largest sums an accumulator lane can see: every weight +1 (code 2) against activations
 * all -128 or all 127, over more than one AVX2 widening interval (16 blocks of 128 values), and
 * the code-0 extreme (every weight -1). */
static void test_kernels_extremes(void) {
    const int64_t n = 6, k = 16 * 128 * 2 + 256 + 3, m = 6;
    int8_t *t = malloc((size_t)(n * k)), *xq = malloc((size_t)(m * k));
    for (int64_t r = 0; r < n; r++)
        memset(t + r * k, r < 3 ? 1 : 0xff, (size_t)k); /* rows 0-2: +1, rows 3-5: -1 */
    t[1 * k + 5] = 0;
    for (int64_t i = 0; i < m; i++)
        memset(xq + i * k, i % 2 ? 127 : 0x80, (size_t)k);
    float x_scale[6];
    int32_t x_sum[6];
    float *want = malloc((size_t)(m * n) * sizeof(float));
    act_sums(xq, m, k, x_sum, x_scale);
    bn_ternary_gemm_ref(t, 1.0f, n, k, xq, x_scale, m, want);
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!variant_runs(v))
            continue;
        bn_ternary_matrix w;
        CHECK_OK(pack_variant(&w, t, n, k, 1.0f, v));
        int8_t *xq_padded = pad_acts(xq, m, k, w.cols_padded);
        float y[36];
        for (int64_t mm = 1; mm <= m; mm++) {
            bn_ternary_kernel_for(isa_of_variant(v), layout_of_variant(v))(&w, xq_padded, x_scale,
                                                                           x_sum, mm, 0, n, y);
            int64_t d = first_diff(y, want, mm * n);
            CHECK(d < 0, "%s extremes M=%lld: y[%lld][%lld] = %.9g, want %.9g", variant_name(v),
                  (long long)mm, (long long)(d / n), (long long)(d % n), y[d < 0 ? 0 : d],
                  want[d < 0 ? 0 : d]);
        }
        free(xq_padded);
        bn_ternary_matrix_free(&w);
    }
    free(t);
    free(xq);
    free(want);
}

/* ---- the threaded dispatcher --------------------------------------------------------------- */

static void test_gemm_threads(void) {
    /* 77 rows: chunks of 32 (M <= 8) and 8 (M > 8) both end in a partial chunk. */
    const int64_t n = 77, k = 300;
    const int64_t ms[] = {1, 4, 9, 17};
    int8_t *t = malloc((size_t)(n * k)), *xq = malloc((size_t)(MAX_M * k));
    float *want = malloc((size_t)(MAX_M * n) * sizeof(float));
    float *y = malloc((size_t)(MAX_M * n) * sizeof(float));
    fill_ternary(t, n * k);
    fill_acts(xq, MAX_M, k);
    float x_scale[MAX_M];
    int32_t x_sum[MAX_M];
    act_sums(xq, MAX_M, k, x_sum, x_scale);
    bn_ternary_gemm_ref(t, 1.5f, n, k, xq, x_scale, MAX_M, want);
    for (int threads = 0; threads <= 3; threads++) { /* 0: no pool */
        bn_threadpool *pool = NULL;
        if (threads > 0)
            CHECK_OK(bn_threadpool_create(threads, &pool));
        for (int v = 0; v < N_VARIANTS; v++) {
            if (!variant_runs(v))
                continue;
            bn_ternary_matrix w;
            CHECK_OK(pack_variant(&w, t, n, k, 1.5f, v));
            int8_t *xq_padded = pad_acts(xq, MAX_M, k, w.cols_padded);
            for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
                for (int64_t j = 0; j < ms[i] * n; j++)
                    y[j] = -7.0f;
                CHECK_OK(bn_ternary_gemm(&w, xq_padded, x_scale, x_sum, ms[i], y, pool));
                int64_t d = first_diff(y, want, ms[i] * n);
                CHECK(d < 0, "%s, %d threads, M=%lld: y[%lld][%lld] differs", variant_name(v),
                      threads, (long long)ms[i], (long long)(d / n), (long long)(d % n));
            }
            free(xq_padded);
            bn_ternary_matrix_free(&w);
        }
        bn_threadpool_destroy(pool);
    }
    free(t);
    free(xq);
    free(want);
    free(y);
}

/* The int8 ceiling that `bitnet bench` judges GEMMs against: a positive, finite rate on each
 * path this CPU runs (real cores do hundreds of GOP/s; the floor of 0.05 leaves room for qemu,
 * which runs the NEON build at about 1.4), 0 for the scalar path and for paths it lacks. */
/* The prefill GEMM through the threaded dispatcher at the token counts a prompt chunk has
 * (16 to 100: whole 4-token tiles and leftovers), row counts that end inside a tile, row
 * lengths of real checkpoints that are no whole number of blocks; then the extremes (every
 * weight +1 or -1 against activations all -128 or 127) over K = 8640. */
static void gemm_case(int64_t n, int64_t k, int64_t m, bool extreme, bn_threadpool *pool) {
    int8_t *t = malloc((size_t)(n * k)), *xq = malloc((size_t)(m * k));
    float *want = malloc((size_t)(m * n) * sizeof(float)), *y = malloc((size_t)(m * n) * 4);
    fill_ternary(t, n * k);
    fill_acts(xq, m, k);
    if (extreme) {
        for (int64_t r = 0; r < n; r++)
            memset(t + r * k, r % 2 ? 1 : 0xff, (size_t)k);
        for (int64_t i = 0; i < m; i++)
            memset(xq + i * k, i % 2 ? 127 : 0x80, (size_t)k);
    }
    float x_scale[128];
    int32_t x_sum[128];
    act_sums(xq, m, k, x_sum, x_scale);
    bn_ternary_gemm_ref(t, 0.6875f, n, k, xq, x_scale, m, want);
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!variant_runs(v))
            continue;
        bn_ternary_matrix w;
        CHECK_OK(pack_variant(&w, t, n, k, 0.6875f, v));
        int8_t *xq_padded = pad_acts(xq, m, k, w.cols_padded);
        for (int64_t j = 0; j < m * n; j++)
            y[j] = -7.0f;
        CHECK_OK(bn_ternary_gemm(&w, xq_padded, x_scale, x_sum, m, y, pool));
        int64_t d = first_diff(y, want, m * n);
        CHECK(d < 0, "%s N=%lld K=%lld M=%lld%s: y[%lld][%lld] = %.9g, want %.9g", variant_name(v),
              (long long)n, (long long)k, (long long)m, extreme ? " (extremes)" : "",
              (long long)(d / n), (long long)(d % n), y[d < 0 ? 0 : d], want[d < 0 ? 0 : d]);
        free(xq_padded);
        bn_ternary_matrix_free(&w);
    }
    free(t), free(xq), free(want), free(y);
}

static void test_prefill_gemm(void) {
    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(2, &pool));
    const int64_t shapes[][2] = {{77, 300}, {25, 3200}, {13, 8640}, {1, 1}, {12, 256}, {50, 5460}};
    const int64_t ms[] = {16, 17, 31, 32, 33, 64, 100};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            gemm_case(shapes[s][0], shapes[s][1], ms[i], false, pool);
    gemm_case(26, 8640, 33, true, pool);
    gemm_case(26, 8640, 33, true, NULL);
    bn_threadpool_destroy(pool);
}

static void test_int8_ceiling(void) {
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        double gops = bn_measure_int8_ceiling((bn_isa)isa, 0.01, 2, NULL);
        if (isa == BN_ISA_SCALAR || !runnable((bn_isa)isa))
            CHECK(gops == 0.0, "%s: ceiling %g, want 0", bn_isa_name((bn_isa)isa), gops);
        else
            CHECK(gops > 0.05 && isfinite(gops), "%s: ceiling %g GOP/s", bn_isa_name((bn_isa)isa),
                  gops);
    }
    bn_threadpool *pool = NULL;
    CHECK(bn_threadpool_create(2, &pool) == BN_OK, "pool");
    double one = bn_measure_int8_ceiling(bn_cpu_isa(), 0.01, 2, NULL);
    double two = bn_measure_int8_ceiling(bn_cpu_isa(), 0.01, 2, pool);
    CHECK(bn_cpu_isa() == BN_ISA_SCALAR || (two > 0.0 && isfinite(two)), "2 threads: %g", two);
    printf("int8 ceiling (%s): %.1f GOP/s on 1 thread, %.1f on 2\n", bn_isa_name(bn_cpu_isa()), one,
           two);
    bn_threadpool_destroy(pool);
}

int main(void) {
    bn_test_rng_state = TEST_SEED;
    test_int8_ceiling();
    test_pack_round_trip();
    test_pack_round_trip_t5();
    test_t5_every_byte();
    test_t5_long_rows();
    test_errors();
    test_quantize_acts();
    test_kernels_random();
    test_kernels_extremes();
    test_gemm_threads();
    test_prefill_gemm();

    printf("kernel paths:");
    for (int v = 0; v < N_VARIANTS; v++) {
        bn_isa isa = isa_of_variant(v);
        if (variant_runs(v))
            printf(" %s (ran on %d shapes)", variant_name(v), paths_run[v]);
        else if (bn_ternary_kernel_for(isa, layout_of_variant(v)) != NULL ||
                 layout_of_variant(v) == BN_TERNARY_I2V)
            printf(" %s (skipped: %s)", variant_name(v),
                   bn_ternary_kernel_for(isa, layout_of_variant(v)) == NULL ? "not in this build"
                                                                            : "this CPU lacks it");
    }
    printf("\n");
    return bn_test_finish("test_ternary_gemm");
}
