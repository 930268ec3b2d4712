/*
 * test_kq_gemm.c - the Q6_K / Q4_K products: the activation quantizer (hand example, sums,
 * non-finite input, sizes); every kernel variant this machine runs against the reference, bit
 * for bit, on awkward shapes (N off every tile, M = 1..17, K = 256..2816), sub-ranges of rows,
 * encoder-made and random-byte weights and the extreme codes that reach the int32 bounds; the
 * threaded dispatcher under each path; the reference against float64 (exact weights and
 * dequantized activations: a tight bound; unquantized activations: a looser one); the errors.
 */
#include "kernels/cpu/kq_gemm.h"

#include "base/alloc.h"
#include "tensor/half.h"
#include "tensor/kquants.h"
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

/* Values whose magnitude changes every 32 (2^-8 .. 2^4), an occasional outlier, and now and
 * then 32 zeros, so scales, sub-block scales and codes cover their ranges. */
static void fill_values(float *x, int64_t count) {
    for (int64_t g = 0; g < count / 32; g++) {
        float mag = ldexpf(1.0f, (int)(rng_u32() % 13) - 8);
        bool zero = rng_u32() % 16 == 0;
        for (int j = 0; j < 32; j++) {
            float v = zero ? 0.0f : mag * rng_sym();
            if (!zero && rng_u32() % 64 == 0)
                v *= 8.0f;
            x[g * 32 + j] = v;
        }
    }
}

static const bn_dtype kq_types[] = {BN_DTYPE_Q6_K, BN_DTYPE_Q4_K};

static size_t block_bytes(bn_dtype type) {
    return bn_dtype_get(type)->block_bytes;
}

/* How weights [n, k] are made. */
typedef enum weights_kind {
    WEIGHTS_ENCODED, /* random floats through the reference encoder */
    WEIGHTS_RANDOM,  /* random bytes, with finite f16 scales of 2^-12 .. 2^-5 */
    WEIGHTS_EXTREME, /* the codes and scales of largest |P| (see make_weights) */
} weights_kind;

static uint16_t random_scale(void) {
    float v = ldexpf(1.0f + rng_sym() * 0.5f, -(int)(rng_u32() % 8) - 5);
    return bn_f32_to_f16(rng_u32() % 2 ? v : -v);
}

/* Extreme: Q6_K codes u = 0 (q = -32) with scales -128, Q4_K codes 15 with scales and mins 63,
 * which with activation codes of +-127 give |P| = 16,646,144 and 3,840,480 (kq_gemm.h). */
static uint8_t *make_weights(bn_dtype type, int64_t n, int64_t k, weights_kind kind) {
    int64_t nblocks = n * k / BN_QKK;
    size_t bytes = (size_t)nblocks * block_bytes(type);
    uint8_t *w = malloc(bytes);
    if (kind == WEIGHTS_ENCODED) {
        float *f = malloc((size_t)(n * k) * sizeof *f);
        fill_values(f, n * k);
        bn_dtype_get(type)->from_f32(f, w, n * k);
        free(f);
        return w;
    }
    for (size_t i = 0; i < bytes; i++)
        w[i] = (uint8_t)rng_u32();
    for (int64_t b = 0; b < nblocks; b++) {
        if (type == BN_DTYPE_Q6_K) {
            bn_block_q6_k *blk = (bn_block_q6_k *)w + b;
            blk->d = random_scale();
            if (kind == WEIGHTS_EXTREME) {
                memset(blk->ql, 0, sizeof blk->ql);
                memset(blk->qh, 0, sizeof blk->qh);
                memset(blk->scales, 0x80, sizeof blk->scales);
            }
        } else {
            bn_block_q4_k *blk = (bn_block_q4_k *)w + b;
            blk->d = random_scale();
            blk->dmin = random_scale();
            if (kind == WEIGHTS_EXTREME) {
                memset(blk->qs, 0xFF, sizeof blk->qs);
                memset(blk->scales, 0xFF, sizeof blk->scales);
            }
        }
    }
    return w;
}

static bn_kq_act_block *make_acts(int64_t m, int64_t k, bool extreme) {
    size_t bytes = 0;
    CHECK_OK(bn_kq_acts_bytes(m, k, &bytes));
    bn_kq_act_block *a = bn_aligned_alloc(bytes);
    float *x = malloc((size_t)(m * k) * sizeof *x);
    if (extreme) /* codes +-127: all -127, all +127 or random signs, token by token */
        for (int64_t t = 0; t < m; t++)
            for (int64_t i = 0; i < k; i++)
                x[t * k + i] = t % 3 == 0 ? -1.0f : (t % 3 == 1 || rng_u32() % 2 ? 1.0f : -1.0f);
    else
        fill_values(x, m * k);
    CHECK_OK(bn_kq_quantize_acts(x, m, k, a));
    free(x);
    return a;
}

/* ---- the activation quantizer ---------------------------------------------------------------- */

static void test_quantize_hand(void) {
    /* absmax 127: d = 1 and 1/d = 1, so the codes are roundf(x), halves away from zero. A
     * second block of zeros gets d = 0 and codes and sums 0. */
    static float x[2 * BN_KQ_BLOCK];
    memset(x, 0, sizeof x);
    const float in[] = {127.0f, 2.5f, -2.5f, 0.49f, -126.5f, 0.5f, -0.5f, 63.7f};
    const int8_t want[] = {127, 3, -3, 0, -127, 1, -1, 64};
    memcpy(x, in, sizeof in);
    x[40] = -100.0f; /* sub-block 1 */
    bn_kq_act_block a[2];
    CHECK_OK(bn_kq_quantize_acts(x, 1, 2 * BN_KQ_BLOCK, a));
    CHECK(a[0].d == 1.0f && a[1].d == 0.0f, "d %g %g", (double)a[0].d, (double)a[1].d);
    for (int j = 0; j < 8; j++)
        CHECK(a[0].q[j] == want[j], "q[%d] = %d, want %d", j, a[0].q[j], want[j]);
    CHECK(a[0].q[40] == -100 && a[0].q[8] == 0 && a[0].q[255] == 0, "other codes");
    CHECK(a[0].pair32[0] == 32 * (127 + 3) && a[0].pair32[1] == 32 * (-3 + 0) &&
              a[0].pair32[2] == 32 * (-127 + 1) && a[0].pair32[3] == 32 * (-1 + 64),
          "pair32 %d %d %d %d", a[0].pair32[0], a[0].pair32[1], a[0].pair32[2], a[0].pair32[3]);
    CHECK(a[0].sum32[0] == 127 + 3 - 3 + 0 - 127 + 1 - 1 + 64 && a[0].sum32[1] == -100 &&
              a[0].sum32[7] == 0,
          "sum32 %d %d %d", a[0].sum32[0], a[0].sum32[1], a[0].sum32[7]);
    int nonzero = 0;
    for (int j = 0; j < BN_KQ_BLOCK; j++)
        nonzero += a[1].q[j] != 0 || (j < 128 && a[1].pair32[j] != 0) || (j < 8 && a[1].sum32[j]);
    CHECK(nonzero == 0, "zero block has %d nonzero codes or sums", nonzero);

    /* absmax 2: d = 2/127 and 1/d = 63.5 exactly in float, so +-1 sit on a tie. */
    memset(x, 0, sizeof x);
    x[0] = -2.0f, x[1] = 1.0f, x[2] = -1.0f, x[3] = 0.01f;
    CHECK_OK(bn_kq_quantize_acts(x, 1, BN_KQ_BLOCK, a));
    CHECK(a[0].d == 2.0f / 127.0f && a[0].q[0] == -127 && a[0].q[1] == 64 && a[0].q[2] == -64 &&
              a[0].q[3] == 1,
          "d %.9g codes %d %d %d %d", (double)a[0].d, a[0].q[0], a[0].q[1], a[0].q[2], a[0].q[3]);
}

/* A NaN gets code 0 and leaves d to the finite values; an Inf gives codes 0 and d Inf. Every
 * stored sum matches the codes, for random data too. */
static void test_quantize_nonfinite_and_sums(void) {
    static float x[3 * BN_KQ_BLOCK];
    fill_values(x, 3 * BN_KQ_BLOCK);
    x[5] = NAN;
    x[BN_KQ_BLOCK + 9] = INFINITY;
    float amax = 0.0f;
    for (int j = 0; j < BN_KQ_BLOCK; j++)
        if (j != 5 && fabsf(x[j]) > amax)
            amax = fabsf(x[j]);
    bn_kq_act_block a[3];
    CHECK_OK(bn_kq_quantize_acts(x, 3, BN_KQ_BLOCK, a));
    CHECK(a[0].d == amax / 127.0f && a[0].q[5] == 0, "NaN block: d %g, code %d", (double)a[0].d,
          a[0].q[5]);
    int nonzero = 0;
    for (int j = 0; j < BN_KQ_BLOCK; j++)
        nonzero += a[1].q[j] != 0;
    CHECK(isinf(a[1].d) && nonzero == 0, "Inf block: d %g, %d nonzero codes", (double)a[1].d,
          nonzero);
    int bad = 0;
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 128; i++)
            bad += a[b].pair32[i] != 32 * (a[b].q[2 * i] + a[b].q[2 * i + 1]);
        for (int j = 0; j < 8; j++) {
            int s = 0;
            for (int e = 32 * j; e < 32 * j + 32; e++)
                s += a[b].q[e];
            bad += a[b].sum32[j] != s;
        }
        for (int j = 0; j < BN_KQ_BLOCK; j++)
            bad += a[b].q[j] < -127;
    }
    CHECK(bad == 0, "%d sums that do not match their codes (or codes of -128)", bad);
}

static void test_acts_bytes(void) {
    size_t bytes = 0;
    CHECK_OK(bn_kq_acts_bytes(3, 2560, &bytes));
    CHECK(bytes == 3 * 10 * 576, "3 x 2560 takes %zu bytes", bytes);
    CHECK(bn_kq_acts_bytes(1, 32, &bytes) == BN_ERR_SHAPE, "K 32 accepted");
    CHECK(bn_kq_acts_bytes(0, 256, &bytes) == BN_ERR_SHAPE, "M 0 accepted");
    CHECK(bn_kq_acts_bytes(1, -256, &bytes) == BN_ERR_SHAPE, "K -256 accepted");
    CHECK(bn_kq_acts_bytes(INT64_MAX / 4, 1 << 20, &bytes) == BN_ERR_RANGE, "overflow");
    float x[256] = {0};
    bn_kq_act_block a;
    CHECK(bn_kq_quantize_acts(x, 1, 128, &a) == BN_ERR_SHAPE, "quantize K 128 accepted");
}

/* ---- every path against the reference ------------------------------------------------------- */

static const int64_t test_n[] = {1, 3, 5, 17, 33};
static const int64_t test_k[] = {256, 512, 768, 2816};
enum { MAX_M = 17 };

static int compare_bits(const float *y, const float *y_ref, int64_t count) {
    int bad = 0;
    for (int64_t i = 0; i < count; i++)
        bad += memcmp(&y[i], &y_ref[i], sizeof(float)) != 0;
    return bad;
}

static void test_kernel_exact(bn_dtype type, bn_isa isa, bn_kq_kernel_fn kernel) {
    int cases = 0;
    for (size_t ni = 0; ni < sizeof test_n / sizeof *test_n; ni++)
        for (size_t ki = 0; ki < sizeof test_k / sizeof *test_k; ki++) {
            int64_t n = test_n[ni], k = test_k[ki];
            weights_kind kind = (weights_kind)((ni + ki) % 3);
            uint8_t *w = make_weights(type, n, k, kind);
            bn_kq_act_block *a = make_acts(MAX_M, k, kind == WEIGHTS_EXTREME);
            float *y = malloc((size_t)(MAX_M * n) * sizeof *y);
            float *y_ref = malloc((size_t)(MAX_M * n) * sizeof *y_ref);
            for (int64_t m = 1; m <= MAX_M; m++) {
                bn_kq_gemm_ref(type, w, n, k, a, m, y_ref);
                memset(y, 0xFF, (size_t)(m * n) * sizeof *y);
                kernel(w, n, k, a, m, 0, n, y);
                int bad = compare_bits(y, y_ref, m * n);
                CHECK(bad == 0, "%s %s: N %lld K %lld M %lld (weights %d): %d outputs differ",
                      bn_dtype_name(type), bn_isa_name(isa), (long long)n, (long long)k,
                      (long long)m, (int)kind, bad);
                /* Rows that start and end off every tile boundary: exactly those rows are
                 * written (the rest keep their 0xFF NaN pattern). */
                int64_t n0 = n / 3, n1 = n - n / 5;
                memset(y, 0xFF, (size_t)(m * n) * sizeof *y);
                kernel(w, n, k, a, m, n0, n1, y);
                int bad_range = 0;
                for (int64_t mi = 0; mi < m; mi++)
                    for (int64_t r = 0; r < n; r++) {
                        uint32_t bits;
                        memcpy(&bits, &y[mi * n + r], sizeof bits);
                        bool inside = r >= n0 && r < n1;
                        bad_range += inside ? compare_bits(&y[mi * n + r], &y_ref[mi * n + r], 1)
                                            : bits != 0xFFFFFFFFu;
                    }
                CHECK(bad_range == 0, "%s %s: N %lld K %lld M %lld rows [%lld, %lld): %d wrong",
                      bn_dtype_name(type), bn_isa_name(isa), (long long)n, (long long)k,
                      (long long)m, (long long)n0, (long long)n1, bad_range);
                cases++;
            }
            free(w);
            bn_aligned_free(a);
            free(y);
            free(y_ref);
        }
    printf("  %s %s: %d cases equal to the reference\n", bn_dtype_name(type), bn_isa_name(isa),
           cases);
}

/* Through bn_kq_gemm on a pool, forced onto each path: what a model sees. Enough rows for
 * many chunks of both chunk sizes. */
static void test_threaded(bn_threadpool *pool) {
    enum { N = 1037, K = 512, M = 5 };
    bn_kq_act_block *a = make_acts(M, K, false);
    static float y[M * N], y_ref[M * N];
    bn_isa saved = bn_cpu_isa();
    for (size_t ti = 0; ti < sizeof kq_types / sizeof *kq_types; ti++) {
        bn_dtype type = kq_types[ti];
        uint8_t *w = make_weights(type, N, K, WEIGHTS_ENCODED);
        for (int i = 0; i < BN_ISA_COUNT; i++) {
            bn_isa isa = (bn_isa)i;
            if (!bn_cpu_isa_supported(isa))
                continue;
            CHECK_OK(bn_cpu_set_isa(isa));
            for (int64_t m = 1; m <= M; m += M - 1) {
                bn_kq_gemm_ref(type, w, N, K, a, m, y_ref);
                memset(y, 0xFF, sizeof y);
                CHECK_OK(bn_kq_gemm(type, w, N, K, a, m, y, pool));
                int bad = compare_bits(y, y_ref, m * N);
                CHECK(bad == 0, "%s %s, %d threads, M %lld: %d outputs differ", bn_dtype_name(type),
                      bn_isa_name(isa), pool ? bn_threadpool_n_threads(pool) : 1, (long long)m,
                      bad);
            }
        }
        free(w);
    }
    CHECK_OK(bn_cpu_set_isa(saved));
    bn_aligned_free(a);
}

/* ---- the reference against float64 --------------------------------------------------------- */

/* The exact value of weight e of a block (f16 scales and integer codes, in double). */
static double exact_weight(bn_dtype type, const uint8_t *blk, int e) {
    uint8_t u[BN_QKK];
    if (type == BN_DTYPE_Q6_K) {
        const bn_block_q6_k *b = (const bn_block_q6_k *)blk;
        bn_q6_k_codes(b, u);
        return (double)bn_f16_to_f32(b->d) * b->scales[e / 16] * (u[e] - 32);
    }
    const bn_block_q4_k *b = (const bn_block_q4_k *)blk;
    uint8_t sc[8], mn[8];
    bn_q4_k_codes(b, u);
    bn_q4_k_scale_min(b->scales, sc, mn);
    return (double)bn_f16_to_f32(b->d) * sc[e / 32] * u[e] -
           (double)bn_f16_to_f32(b->dmin) * mn[e / 32];
}

/* The reference against float64, per output, with two bounds:
 *  - tight, against sum_e w_e * xd_b q_e (exact weights, dequantized activations): only the
 *    float arithmetic differs. Every term T = s_b * P (or t_b * N) carries the rounding of
 *    s_b = fl(d_b * xd_b) (2^-24 relative); each lane adds its nb terms with one rounding per
 *    FMA and H adds 3 levels, so a chain errs by at most (nb + 4) 2^-24 sum |T| to first
 *    order; Q4_K's final subtraction adds 2^-24 |y|. With one more term to spare:
 *    (nb + 5) 2^-24 (sum |T_acc| + sum |T_mac|) + 2^-24 |y|.
 *  - loose, against sum_e w_e * x_e with the float activations: add the activation rounding.
 *    Codes are roundf(x * id) with id = 1/d in float, so |x - d q| <= d (1/2 + 127 * 2^-22) <
 *    0.501 d per element, at most 0.501 * xd_b * sum_e |w_e| per block.
 * The test reports how much of each bound the worst output used. */
static void test_reference_accuracy(bn_dtype type) {
    enum { N = 13, K = 2560, NB = K / BN_QKK, M = 3 };
    uint8_t *w = make_weights(type, N, K, WEIGHTS_ENCODED);
    static float x[M * K], y[M * N];
    fill_values(x, M * K);
    size_t bytes = 0;
    CHECK_OK(bn_kq_acts_bytes(M, K, &bytes));
    bn_kq_act_block *a = bn_aligned_alloc(bytes);
    CHECK_OK(bn_kq_quantize_acts(x, M, K, a));
    bn_kq_gemm_ref(type, w, N, K, a, M, y);
    double worst_tight = 0.0, worst_loose = 0.0;
    size_t bb = block_bytes(type);
    for (int mi = 0; mi < M; mi++)
        for (int r = 0; r < N; r++) {
            double exact_q = 0.0, exact_x = 0.0, terms = 0.0, act_bound = 0.0;
            for (int b = 0; b < NB; b++) {
                const uint8_t *blk = w + ((size_t)r * NB + (size_t)b) * bb;
                const bn_kq_act_block *xb = &a[mi * NB + b];
                double abs_w = 0.0;
                for (int e = 0; e < BN_QKK; e++) {
                    double we = exact_weight(type, blk, e);
                    exact_q += we * ((double)xb->d * xb->q[e]);
                    exact_x += we * (double)x[mi * K + b * BN_QKK + e];
                    abs_w += fabs(we);
                }
                act_bound += 0.501 * xb->d * abs_w;
                /* sum_l |P| and sum_j |N|, from the exact weights in integer form */
                uint8_t u[BN_QKK];
                double p_abs = 0.0, n_abs = 0.0, s, t = 0.0;
                if (type == BN_DTYPE_Q6_K) {
                    const bn_block_q6_k *q6 = (const bn_block_q6_k *)blk;
                    bn_q6_k_codes(q6, u);
                    for (int e = 0; e < BN_QKK; e++)
                        p_abs += fabs((double)q6->scales[e / 16] * (u[e] - 32) * xb->q[e]);
                    s = fabs((double)bn_f16_to_f32(q6->d) * xb->d);
                } else {
                    const bn_block_q4_k *q4 = (const bn_block_q4_k *)blk;
                    uint8_t sc[8], mn[8];
                    bn_q4_k_codes(q4, u);
                    bn_q4_k_scale_min(q4->scales, sc, mn);
                    for (int e = 0; e < BN_QKK; e++) {
                        p_abs += fabs((double)sc[e / 32] * u[e] * xb->q[e]);
                        n_abs += fabs((double)mn[e / 32] * xb->q[e]);
                    }
                    s = fabs((double)bn_f16_to_f32(q4->d) * xb->d);
                    t = fabs((double)bn_f16_to_f32(q4->dmin) * xb->d);
                }
                terms += s * p_abs + t * n_abs;
            }
            double got = y[mi * N + r];
            double tight = ((NB + 5) * terms + fabs(got)) * ldexp(1.0, -24) * (1.0 + 1e-6);
            double loose = tight + act_bound;
            double err_q = fabs(got - exact_q), err_x = fabs(got - exact_x);
            CHECK(err_q <= tight, "%s token %d row %d: ref %.9g, float64 %.9g: |diff| %.3g > %.3g",
                  bn_dtype_name(type), mi, r, got, exact_q, err_q, tight);
            CHECK(err_x <= loose,
                  "%s token %d row %d: ref %.9g, float64 of float x %.9g: |diff| %.3g > %.3g",
                  bn_dtype_name(type), mi, r, got, exact_x, err_x, loose);
            if (tight > 0 && err_q / tight > worst_tight)
                worst_tight = err_q / tight;
            if (loose > 0 && err_x / loose > worst_loose)
                worst_loose = err_x / loose;
        }
    printf("  %s reference vs float64: worst %.3f of the tight bound, %.3f of the loose one\n",
           bn_dtype_name(type), worst_tight, worst_loose);
    free(w);
    bn_aligned_free(a);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_errors(void) {
    static bn_block_q6_k w[2];
    memset(w, 0, sizeof w);
    bn_kq_act_block a[2];
    float x[512] = {0}, y[4];
    CHECK_OK(bn_kq_quantize_acts(x, 1, 512, a));
    CHECK(bn_kq_gemm(BN_DTYPE_Q8_0, w, 1, 256, a, 1, y, NULL) == BN_ERR_DTYPE &&
              strstr(bn_last_error(), "q8_0") != NULL,
          "q8_0 accepted: %s", bn_last_error());
    CHECK(bn_kq_gemm(BN_DTYPE_Q5_K, w, 1, 256, a, 1, y, NULL) == BN_ERR_DTYPE, "q5_k accepted");
    CHECK(bn_kq_gemm((bn_dtype)99, w, 1, 256, a, 1, y, NULL) == BN_ERR_DTYPE, "id 99 accepted");
    CHECK(bn_kq_gemm(BN_DTYPE_Q6_K, w, 1, 128, a, 1, y, NULL) == BN_ERR_SHAPE, "K 128 accepted");
    CHECK(bn_kq_gemm(BN_DTYPE_Q6_K, w, 1, 0, a, 1, y, NULL) == BN_ERR_SHAPE, "K 0 accepted");
    CHECK(bn_kq_gemm(BN_DTYPE_Q6_K, w, 0, 256, a, 1, y, NULL) == BN_ERR_SHAPE, "N 0 accepted");
    CHECK(bn_kq_gemm(BN_DTYPE_Q4_K, w, 1, 256, a, 0, y, NULL) == BN_ERR_SHAPE, "M 0 accepted");
    CHECK(bn_kq_gemm(BN_DTYPE_Q4_K, w, -1, 256, a, 1, y, NULL) == BN_ERR_SHAPE, "N -1 accepted");
    CHECK(bn_kq_gemm(BN_DTYPE_Q6_K, w, 2, 256, a, 1, y, NULL) == BN_OK, "valid call fails: %s",
          bn_last_error());
    CHECK(y[0] == 0.0f && y[1] == 0.0f, "zero weights give %g %g", (double)y[0], (double)y[1]);
    CHECK(bn_kq_gemm_supports(BN_DTYPE_Q6_K) && bn_kq_gemm_supports(BN_DTYPE_Q4_K) &&
              !bn_kq_gemm_supports(BN_DTYPE_Q8_0) && !bn_kq_gemm_supports(BN_DTYPE_Q5_K),
          "supported types");
    CHECK(bn_kq_kernel_for(BN_DTYPE_Q8_0, BN_ISA_SCALAR) == NULL &&
              bn_kq_kernel_for(BN_DTYPE_Q6_K, BN_ISA_SCALAR) == bn_q6_k_kernel_scalar,
          "kernel table");
}

int main(void) {
    test_quantize_hand();
    test_quantize_nonfinite_and_sums();
    test_acts_bytes();

    printf("kernel paths:\n");
    for (size_t ti = 0; ti < sizeof kq_types / sizeof *kq_types; ti++)
        for (int i = 0; i < BN_ISA_COUNT; i++) {
            bn_isa isa = (bn_isa)i;
            bn_kq_kernel_fn kernel = bn_kq_kernel_for(kq_types[ti], isa);
            if (kernel == NULL)
                printf("  %s %s: skipped (no variant in this build)\n", bn_dtype_name(kq_types[ti]),
                       bn_isa_name(isa));
            else if (!bn_cpu_isa_supported(isa))
                printf("  %s %s: skipped (this CPU cannot run it)\n", bn_dtype_name(kq_types[ti]),
                       bn_isa_name(isa));
            else
                test_kernel_exact(kq_types[ti], isa, kernel);
        }

    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(3, &pool));
    if (pool != NULL) {
        test_threaded(pool);
        bn_threadpool_destroy(pool);
    }
    test_threaded(NULL);

    test_reference_accuracy(BN_DTYPE_Q6_K);
    test_reference_accuracy(BN_DTYPE_Q4_K);
    test_errors();
    return bn_test_finish("test_kq_gemm");
}
