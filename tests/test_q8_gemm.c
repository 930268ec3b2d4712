/*
 * test_q8_gemm.c - the Q8_0 products: the activation quantizer against a hand example and
 * against the Q8_0 encoder; every kernel variant this machine runs against the reference, bit
 * for bit, on awkward shapes, sub-ranges of rows and weight bytes of -128; the threaded
 * dispatcher likewise under each path; the reference against float64 within a derived bound;
 * and the shape errors.
 */
#include "kernels/cpu/q8_gemm.h"

#include "base/alloc.h"
#include "tensor/formats.h"
#include "tensor/half.h"
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- deterministic inputs -------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static float rng_sym(void) {
    return (float)rng_u32() / 2147483648.0f - 1.0f;
}

/* Values with a magnitude that changes from block to block (2^-8 .. 2^4), an occasional
 * outlier, and now and then a block of zeros, so scales and codes cover their ranges. */
static void fill_values(float *x, int64_t count) {
    for (int64_t b = 0; b < count / BN_Q8_BLOCK; b++) {
        float mag = ldexpf(1.0f, (int)(rng_u32() % 13) - 8);
        bool zero = rng_u32() % 16 == 0;
        for (int j = 0; j < BN_Q8_BLOCK; j++) {
            float v = zero ? 0.0f : mag * rng_sym();
            if (!zero && rng_u32() % 64 == 0)
                v *= 8.0f;
            x[b * BN_Q8_BLOCK + j] = v;
        }
    }
}

/* Q8_0 weights [n, k] from random floats through the reference encoder. With weights_m128 a
 * few codes become -128, which no encoder writes but a file may hold and the kernels accept. */
static bn_block_q8_0 *make_weights(int64_t n, int64_t k, bool weights_m128) {
    float *f = malloc((size_t)(n * k) * sizeof *f);
    bn_block_q8_0 *w = malloc((size_t)(n * k / BN_Q8_BLOCK) * sizeof *w);
    fill_values(f, n * k);
    bn_q8_0_from_f32(f, w, n * k);
    if (weights_m128)
        for (int64_t b = 0; b < n * k / BN_Q8_BLOCK; b++)
            if (rng_u32() % 4 == 0)
                w[b].qs[rng_u32() % BN_Q8_BLOCK] = -128;
    free(f);
    return w;
}

/* ---- the activation quantizer ---------------------------------------------------------------- */

static void test_quantize_hand(void) {
    /* absmax 127 gives d = 1 and 1/d = 1 exactly, so the codes are roundf(x): halves round
     * away from zero. A second block of zeros gets d = 0 and codes 0. */
    float x[2 * BN_Q8_BLOCK] = {127.0f, 2.5f, -2.5f, 0.49f, -126.5f, 0.5f, -0.5f, 63.7f};
    int8_t want[BN_Q8_BLOCK] = {127, 3, -3, 0, -127, 1, -1, 64};
    int8_t q[2 * BN_Q8_BLOCK];
    float d[2];
    bn_q8_quantize_acts(x, 1, 2 * BN_Q8_BLOCK, q, d);
    CHECK(d[0] == 1.0f, "hand block d = %.9g, want 1", (double)d[0]);
    CHECK(d[1] == 0.0f, "zero block d = %.9g, want 0", (double)d[1]);
    for (int j = 0; j < BN_Q8_BLOCK; j++) {
        CHECK(q[j] == want[j], "hand block q[%d] = %d, want %d", j, q[j], want[j]);
        CHECK(q[BN_Q8_BLOCK + j] == 0, "zero block q[%d] = %d", j, q[BN_Q8_BLOCK + j]);
    }

    /* absmax 2: d = 2/127 rounds to 0.0157480314 and 1/d to exactly 63.5 in float, so 1.0
     * and -1.0 sit on a tie and go away from zero; 0.01 * 63.5 = 0.635 rounds to 1. */
    float y[BN_Q8_BLOCK] = {-2.0f, 1.0f, -1.0f, 0.01f};
    bn_q8_quantize_acts(y, 1, BN_Q8_BLOCK, q, d);
    CHECK(d[0] == 2.0f / 127.0f, "d = %.9g", (double)d[0]);
    CHECK(q[0] == -127 && q[1] == 64 && q[2] == -64 && q[3] == 1, "codes %d %d %d %d", q[0], q[1],
          q[2], q[3]);
}

/* The documented behaviour outside the contract: a NaN gets code 0 and leaves the block's
 * scale to the finite values; an Inf gives codes 0 and an infinite d. */
static void test_quantize_nonfinite(void) {
    float x[2 * BN_Q8_BLOCK] = {NAN, 127.0f, -3.0f};
    x[BN_Q8_BLOCK] = INFINITY;
    x[BN_Q8_BLOCK + 1] = 5.0f;
    int8_t q[2 * BN_Q8_BLOCK];
    float d[2];
    bn_q8_quantize_acts(x, 1, 2 * BN_Q8_BLOCK, q, d);
    CHECK(d[0] == 1.0f && q[0] == 0 && q[1] == 127 && q[2] == -3, "NaN block: d %g q %d %d %d",
          (double)d[0], q[0], q[1], q[2]);
    int nonzero = 0;
    for (int j = 0; j < BN_Q8_BLOCK; j++)
        nonzero += q[BN_Q8_BLOCK + j] != 0;
    CHECK(isinf(d[1]) && nonzero == 0, "Inf block: d %g, %d nonzero codes", (double)d[1], nonzero);
}

/* Same codes as the Q8_0 encoder, and the same d up to the encoder's rounding to f16. */
static void test_quantize_vs_encoder(void) {
    enum { M = 3, K = 2560, NB = K / BN_Q8_BLOCK };
    static float x[M * K];
    static int8_t q[M * K];
    static float d[M * NB];
    static bn_block_q8_0 enc[M * NB];
    fill_values(x, M * K);
    bn_q8_quantize_acts(x, M, K, q, d);
    bn_q8_0_from_f32(x, enc, M * K);
    int bad_q = 0, bad_d = 0;
    for (int b = 0; b < M * NB; b++) {
        bad_d += bn_f32_to_f16(d[b]) != enc[b].d;
        bad_q += memcmp(q + b * BN_Q8_BLOCK, enc[b].qs, BN_Q8_BLOCK) != 0;
        for (int j = 0; j < BN_Q8_BLOCK; j++)
            bad_q += q[b * BN_Q8_BLOCK + j] == -128;
    }
    CHECK(bad_q == 0, "%d blocks whose codes differ from bn_q8_0_from_f32 (or hold -128)", bad_q);
    CHECK(bad_d == 0, "%d blocks whose d, rounded to f16, differs from the encoder's", bad_d);
}

/* ---- every path against the reference ------------------------------------------------------- */

static const int64_t test_n[] = {1, 3, 17, 33};
static const int64_t test_k[] = {32, 64, 96, 2560};
enum { MAX_M = 9 };

/* y[m, n] (all rows) from one kernel, compared bit for bit with y_ref; returns mismatches. */
static int compare_bits(const float *y, const float *y_ref, int64_t count) {
    int bad = 0;
    for (int64_t i = 0; i < count; i++)
        bad += memcmp(&y[i], &y_ref[i], sizeof(float)) != 0;
    return bad;
}

static void test_kernel_exact(bn_isa isa, bn_q8_kernel_fn kernel) {
    int cases = 0;
    for (size_t ni = 0; ni < sizeof test_n / sizeof *test_n; ni++)
        for (size_t ki = 0; ki < sizeof test_k / sizeof *test_k; ki++) {
            int64_t n = test_n[ni], k = test_k[ki], nb = k / BN_Q8_BLOCK;
            bn_block_q8_0 *w = make_weights(n, k, ni % 2 == 1);
            float *x = malloc((size_t)(MAX_M * k) * sizeof *x);
            int8_t *xq = malloc((size_t)(MAX_M * k));
            float *xd = malloc((size_t)(MAX_M * nb) * sizeof *xd);
            float *y = malloc((size_t)(MAX_M * n) * sizeof *y);
            float *y_ref = malloc((size_t)(MAX_M * n) * sizeof *y_ref);
            fill_values(x, MAX_M * k);
            bn_q8_quantize_acts(x, MAX_M, k, xq, xd);
            for (int64_t m = 1; m <= MAX_M; m++) {
                bn_q8_gemm_ref(w, n, k, xq, xd, m, y_ref);
                memset(y, 0xFF, (size_t)(m * n) * sizeof *y);
                kernel(w, n, k, xq, xd, m, 0, n, y);
                int bad = compare_bits(y, y_ref, m * n);
                CHECK(bad == 0, "%s: N %lld K %lld M %lld: %d outputs differ from the reference",
                      bn_isa_name(isa), (long long)n, (long long)k, (long long)m, bad);
                /* A range of rows that starts and ends off every tile boundary: exactly those
                 * rows are written (the rest keep their 0xFF NaN pattern). */
                int64_t n0 = n / 3, n1 = n - n / 5;
                memset(y, 0xFF, (size_t)(m * n) * sizeof *y);
                kernel(w, n, k, xq, xd, m, n0, n1, y);
                int bad_range = 0;
                for (int64_t mi = 0; mi < m; mi++)
                    for (int64_t r = 0; r < n; r++) {
                        uint32_t bits;
                        memcpy(&bits, &y[mi * n + r], sizeof bits);
                        bool inside = r >= n0 && r < n1;
                        bad_range += inside ? compare_bits(&y[mi * n + r], &y_ref[mi * n + r], 1)
                                            : bits != 0xFFFFFFFFu;
                    }
                CHECK(bad_range == 0, "%s: N %lld K %lld M %lld rows [%lld, %lld): %d wrong",
                      bn_isa_name(isa), (long long)n, (long long)k, (long long)m, (long long)n0,
                      (long long)n1, bad_range);
                cases++;
            }
            free(w);
            free(x);
            free(xq);
            free(xd);
            free(y);
            free(y_ref);
        }
    printf("  %s: %d cases equal to the reference\n", bn_isa_name(isa), cases);
}

/* Through bn_q8_gemm on a pool, forced onto each path: what a model sees. Enough rows for
 * many chunks, and M = 1 and 5 (the GEMV and GEMM chunk sizes). */
static void test_threaded(bn_threadpool *pool) {
    enum { N = 1037, K = 320, NB = K / BN_Q8_BLOCK, M = 5 };
    bn_block_q8_0 *w = make_weights(N, K, true);
    static float x[M * K], xd[M * NB], y[M * N], y_ref[M * N];
    static int8_t xq[M * K];
    fill_values(x, M * K);
    bn_q8_quantize_acts(x, M, K, xq, xd);
    bn_isa saved = bn_cpu_isa();
    for (int i = 0; i < BN_ISA_COUNT; i++) {
        bn_isa isa = (bn_isa)i;
        if (!bn_cpu_isa_supported(isa))
            continue;
        CHECK_OK(bn_cpu_set_isa(isa));
        for (int64_t m = 1; m <= M; m += M - 1) {
            bn_q8_gemm_ref(w, N, K, xq, xd, m, y_ref);
            memset(y, 0xFF, sizeof y);
            CHECK_OK(bn_q8_gemm(w, N, K, xq, xd, m, y, pool));
            int bad = compare_bits(y, y_ref, m * N);
            CHECK(bad == 0, "%s, %d threads, M %lld: %d outputs differ", bn_isa_name(isa),
                  bn_threadpool_n_threads(pool), (long long)m, bad);
        }
    }
    CHECK_OK(bn_cpu_set_isa(saved));
    free(w);
}

/* ---- the reference against float64 --------------------------------------------------------- */

/* y_ref is compared with sum_k w_k * x_k in float64, where w_k = wd * q is W's exact value and
 * x_k the unquantized activation. Per output the difference is bounded by two terms:
 *  - Activation rounding. Codes are roundf(x * id) with id = 1/d in float, so
 *    |x - d q| <= d (1/2 + |x/d| * 2^-22) <= d (1/2 + 127 * 2^-22) < 0.501 d per element, and
 *    the sum over a block is at most 0.501 * xd_b * sum |w_k|.
 *  - Float arithmetic. Each term s_b * p_{b,l} carries the rounding of s_b (2^-24 relative);
 *    each lane adds its nb terms with one rounding per FMA, and the final tree adds 3 more
 *    levels: a sequential sum of T terms errs by at most (T + 3) * 2^-24 * sum |terms| (to
 *    first order), and sum |terms| <= sum_b |s_b| * sum_k |q_w q_x| =: S. So (nb + 5) 2^-24 S
 *    with one rounding of s_b to spare.
 * The bound is computed per output; the test also reports how much of it was used. */
static void test_reference_accuracy(void) {
    enum { N = 17, K = 2560, NB = K / BN_Q8_BLOCK, M = 3 };
    bn_block_q8_0 *w = make_weights(N, K, false);
    static float x[M * K], xd[M * NB], y[M * N];
    static int8_t xq[M * K];
    fill_values(x, M * K);
    bn_q8_quantize_acts(x, M, K, xq, xd);
    bn_q8_gemm_ref(w, N, K, xq, xd, M, y);
    double worst = 0.0;
    for (int mi = 0; mi < M; mi++)
        for (int r = 0; r < N; r++) {
            double exact = 0.0, act_bound = 0.0, s_sum = 0.0;
            for (int b = 0; b < NB; b++) {
                const bn_block_q8_0 *blk = &w[r * NB + b];
                double wd = bn_f16_to_f32(blk->d), abs_w = 0.0, abs_q = 0.0;
                for (int j = 0; j < BN_Q8_BLOCK; j++) {
                    int kk = b * BN_Q8_BLOCK + j;
                    exact += wd * blk->qs[j] * (double)x[mi * K + kk];
                    abs_w += fabs(wd * blk->qs[j]);
                    abs_q += fabs((double)blk->qs[j] * xq[mi * K + kk]);
                }
                act_bound += 0.501 * xd[mi * NB + b] * abs_w;
                s_sum += fabs(wd * xd[mi * NB + b]) * abs_q;
            }
            double tol = act_bound + (NB + 5) * ldexp(1.0, -24) * s_sum * (1.0 + 1e-6);
            double err = fabs((double)y[mi * N + r] - exact);
            CHECK(err <= tol, "token %d row %d: ref %.9g, float64 %.9g, |diff| %.3g > bound %.3g",
                  mi, r, (double)y[mi * N + r], exact, err, tol);
            if (tol > 0 && err / tol > worst)
                worst = err / tol;
        }
    printf("  reference vs float64: worst error %.3f of the derived bound\n", worst);
    free(w);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_errors(void) {
    bn_block_q8_0 w[2] = {0};
    int8_t xq[64] = {0};
    float xd[2] = {0}, y[4];
    CHECK(bn_q8_gemm(w, 1, 48, xq, xd, 1, y, NULL) == BN_ERR_SHAPE, "K 48 accepted");
    CHECK(bn_q8_gemm(w, 1, 0, xq, xd, 1, y, NULL) == BN_ERR_SHAPE, "K 0 accepted");
    CHECK(bn_q8_gemm(w, 0, 32, xq, xd, 1, y, NULL) == BN_ERR_SHAPE, "N 0 accepted");
    CHECK(bn_q8_gemm(w, 1, 32, xq, xd, 0, y, NULL) == BN_ERR_SHAPE, "M 0 accepted");
    CHECK(bn_q8_gemm(w, -1, 32, xq, xd, 1, y, NULL) == BN_ERR_SHAPE, "N -1 accepted");
    CHECK(bn_q8_gemm(w, 2, 32, xq, xd, 1, y, NULL) == BN_OK, "a valid call fails: %s",
          bn_last_error());
    CHECK(y[0] == 0.0f && y[1] == 0.0f, "zero weights give %g %g", (double)y[0], (double)y[1]);
}

int main(void) {
    test_quantize_hand();
    test_quantize_nonfinite();
    test_quantize_vs_encoder();

    printf("kernel paths:\n");
    for (int i = 0; i < BN_ISA_COUNT; i++) {
        bn_isa isa = (bn_isa)i;
        bn_q8_kernel_fn kernel = bn_q8_kernel_for(isa);
        if (kernel == NULL)
            printf("  %s: skipped (no variant in this build)\n", bn_isa_name(isa));
        else if (!bn_cpu_isa_supported(isa))
            printf("  %s: skipped (this CPU cannot run it)\n", bn_isa_name(isa));
        else
            test_kernel_exact(isa, kernel);
    }

    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(3, &pool));
    if (pool != NULL) {
        test_threaded(pool);
        bn_threadpool_destroy(pool);
    }
    test_threaded(NULL);

    test_reference_accuracy();
    test_errors();
    return bn_test_finish("test_q8_gemm");
}
