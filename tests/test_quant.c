/*
 * test_quant.c - the quantizers (ternary, activation int8, k-bit) and the error metrics against
 * hand-computed cases, ties included. tests/py/test_quant_reference.py checks the same code
 * against an independent numpy reference on random and crafted tensors.
 */
#include "base/status.h"
#include "quant/act_quant.h"
#include "quant/kbit.h"
#include "quant/metrics.h"
#include "quant/ternary.h"
#include "test.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static bool codes_equal(const int8_t *got, const int8_t *want, int n) {
    return memcmp(got, want, (size_t)n) == 0;
}

static const bn_ternary_params ABSMEAN_TENSOR = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_TENSOR, 0};
static const bn_ternary_params ABSMEAN_CHANNEL = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_CHANNEL, 0};

/* ---- ternary: absmean --------------------------------------------------------------------- */

static void test_absmean_ties(void) {
    /* gamma = 1: 1.5 rounds to 2 and clamps to 1; 0.5 rounds to 0 (even), not 1. */
    float w[4] = {0.5f, 1.5f, -0.5f, -1.5f};
    int8_t q[4];
    float s = 0.0f;
    CHECK_OK(bn_ternary_quantize(w, 2, 2, &ABSMEAN_TENSOR, q, &s));
    CHECK(codes_equal(q, (const int8_t[]){0, 1, 0, -1}, 4), "ties: %d %d %d %d", q[0], q[1], q[2],
          q[3]);
    CHECK(s == 1.0f, "ties: scale %g", s);
    float d[4];
    bn_ternary_dequantize(q, &s, 2, 2, &ABSMEAN_TENSOR, d);
    CHECK(d[0] == 0.0f && d[1] == 1.0f && d[2] == 0.0f && d[3] == -1.0f, "ties: dequantize");

    /* gamma = 0.25, inv = 4: 0.125 * 4 = 0.5 -> 0, 0.375 * 4 = 1.5 -> 1, 2.5 -> 1 after clamp. */
    float w2[4] = {0.125f, -0.375f, 0.125f, -0.375f};
    CHECK_OK(bn_ternary_quantize(w2, 1, 4, &ABSMEAN_TENSOR, q, &s));
    CHECK(s == 0.25f && codes_equal(q, (const int8_t[]){0, -1, 0, -1}, 4), "ties at 0.25");
}

/* The reciprocal is multiplied, as torch's `w * (1 / gamma)` does: with these two weights
 * gamma = 0x1.a47bd0p-2, w * inv is exactly 0.5 in float32 (-> 0) but w / gamma is 0.50000006
 * (-> 1). */
static void test_absmean_multiplies_reciprocal(void) {
    float w[2] = {0x1.a47bdp-3f, 0x1.3b5cdap-1f};
    int8_t q[2];
    float s;
    CHECK_OK(bn_ternary_quantize(w, 1, 2, &ABSMEAN_TENSOR, q, &s));
    float inv = 1.0f / s;
    CHECK(w[0] * inv == 0.5f && w[0] / s > 0.5f, "the crafted tie is not a tie: %a", s);
    CHECK(q[0] == 0 && q[1] == 1, "multiply-by-reciprocal tie: %d %d", q[0], q[1]);
}

static void test_absmean_zero_and_equal(void) {
    /* An all-zero tensor: gamma clamps to 1e-5 and every code is 0. */
    float z[12] = {0};
    int8_t q[12];
    float s[3];
    CHECK_OK(bn_ternary_quantize(z, 3, 4, &ABSMEAN_TENSOR, q, s));
    int nonzero = 0;
    for (int i = 0; i < 12; i++)
        nonzero += q[i] != 0;
    CHECK(s[0] == 1e-5f && nonzero == 0, "zeros: scale %g, %d nonzero codes", s[0], nonzero);
    CHECK_OK(bn_ternary_quantize(z, 3, 4, &ABSMEAN_CHANNEL, q, s));
    CHECK(s[0] == 1e-5f && s[1] == 1e-5f && s[2] == 1e-5f, "zeros per channel");

    /* All-equal rows: per channel each row is its own gamma, so every code is the sign. */
    float w[8] = {0.25f, 0.25f, 0.25f, 0.25f, -3, -3, -3, -3};
    CHECK_OK(bn_ternary_quantize(w, 2, 4, &ABSMEAN_CHANNEL, q, s));
    CHECK(s[0] == 0.25f && s[1] == 3.0f, "equal rows: scales %g %g", s[0], s[1]);
    CHECK(codes_equal(q, (const int8_t[]){1, 1, 1, 1, -1, -1, -1, -1}, 8), "equal rows: codes");
    /* Per tensor, gamma = (4 * 0.25 + 4 * 3) / 8 = 1.625: 0.25 / 1.625 = 0.15 -> 0,
     * -3 / 1.625 = -1.85 -> -1. */
    CHECK_OK(bn_ternary_quantize(w, 2, 4, &ABSMEAN_TENSOR, q, s));
    CHECK(s[0] == 1.625f, "equal rows per tensor: scale %g", s[0]);
    CHECK(codes_equal(q, (const int8_t[]){0, 0, 0, 0, -1, -1, -1, -1}, 8), "equal rows per tensor");
}

static void test_absmean_per_channel(void) {
    /* Row 0: gamma = (1 + 2 + 0.5 + 0.5) / 4 = 1 -> [1, -2 -> -1, 0.5 -> 0, 0.5 -> 0].
     * Row 1: gamma = (0.1 + 0.2 + 0.3 + 0.4) / 4 = 0.25 (0.25000000559 in float64 from the float32
     * inputs, 0.25f after rounding), inv = 4 -> [0.4 -> 0, 0.8 -> 1, -1.2 -> -1, 1.6 -> 2 -> 1]. */
    float w[8] = {1, -2, 0.5f, 0.5f, 0.1f, 0.2f, -0.3f, 0.4f};
    int8_t q[8];
    float s[2];
    CHECK_OK(bn_ternary_quantize(w, 2, 4, &ABSMEAN_CHANNEL, q, s));
    CHECK(s[0] == 1.0f && s[1] == 0.25f, "per channel scales %.9g %.9g", s[0], s[1]);
    CHECK(codes_equal(q, (const int8_t[]){1, -1, 0, 0, 0, 1, -1, 1}, 8), "per channel codes");
    float d[8];
    bn_ternary_dequantize(q, s, 2, 4, &ABSMEAN_CHANNEL, d);
    CHECK(d[0] == 1.0f && d[1] == -1.0f && d[5] == 0.25f && d[6] == -0.25f, "per channel deq");
}

static void test_absmean_per_group(void) {
    /* Row r, group k (32 values) holds c * [0.5, 1.5, -0.5, -1.5] repeated, c = C[r][k], so each
     * group has gamma = c and codes [0, 1, 0, -1] (0.5 is a tie that rounds to 0). */
    enum { ROWS = 2, COLS = 64 };
    static const float C[ROWS][2] = {{1.0f, 2.0f}, {0.5f, 4.0f}};
    static const float P[4] = {0.5f, 1.5f, -0.5f, -1.5f};
    static float w[ROWS * COLS], d[ROWS * COLS];
    static int8_t q[ROWS * COLS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            w[r * COLS + c] = C[r][c / 32] * P[c % 4];

    bn_ternary_params p = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_GROUP, 32};
    int64_t ns = 0;
    CHECK_OK(bn_ternary_n_scales(ROWS, COLS, &p, &ns));
    CHECK(ns == 4, "n_scales per group 32: %lld", (long long)ns);
    float s[4];
    CHECK_OK(bn_ternary_quantize(w, ROWS, COLS, &p, q, s));
    CHECK(s[0] == 1.0f && s[1] == 2.0f && s[2] == 0.5f && s[3] == 4.0f, "group scales %g %g %g %g",
          s[0], s[1], s[2], s[3]);
    int bad = 0;
    for (int i = 0; i < ROWS * COLS; i++)
        bad += q[i] != (int8_t[]){0, 1, 0, -1}[i % 4];
    CHECK(bad == 0, "group codes: %d wrong", bad);
    bn_ternary_dequantize(q, s, ROWS, COLS, &p, d);
    CHECK(d[1] == 1.0f && d[33] == 2.0f && d[64 + 3] == -0.5f && d[64 + 35] == -4.0f,
          "group dequantize");

    /* Group 64 = per channel here. Row 0 has gamma 1.5: its c = 1 half maps 0.5/1.5 -> 0 and
     * 1.5/1.5 -> 1; its c = 2 half maps 1/1.5 -> 1 and 3/1.5 -> 2 -> 1. */
    p.group_size = 64;
    CHECK_OK(bn_ternary_quantize(w, ROWS, COLS, &p, q, s));
    CHECK(s[0] == 1.5f && s[1] == 2.25f, "group 64 scales %g %g", s[0], s[1]);
    CHECK(codes_equal(q, (const int8_t[]){0, 1, 0, -1}, 4) &&
              codes_equal(q + 32, (const int8_t[]){1, 1, -1, -1}, 4),
          "group 64 codes");
}

/* ---- ternary: TWN ------------------------------------------------------------------------- */

static void test_twn(void) {
    /* mean|w| = 3.9 / 8 = 0.4875, delta = 0.34125: kept are -0.9, 0.5, 1.3, -0.6, so
     * alpha = (0.9 + 0.5 + 1.3 + 0.6) / 4 = 0.825. */
    float w[16] = {0.1f, -0.9f, 0.5f, -0.2f, 1.3f, 0.0f, -0.6f, 0.3f, /* row 1: all equal */
                   2,    2,     2,    2,     2,    2,    2,     2};
    int8_t q[16];
    float s[2];
    bn_ternary_params p = {BN_TERNARY_TWN, BN_TERNARY_PER_CHANNEL, 0};
    CHECK_OK(bn_ternary_quantize(w, 2, 8, &p, q, s));
    CHECK(codes_equal(q, (const int8_t[]){0, -1, 1, 0, 1, 0, -1, 0}, 8), "twn codes");
    double alpha = ((double)0.9f + 0.5f + 1.3f + 0.6f) / 4;
    CHECK(s[0] == (float)alpha, "twn alpha %.9g want %.9g", s[0], alpha);
    /* All equal: every |w| = 2 > 0.7 * 2, so all codes are 1 and alpha = 2. */
    CHECK(s[1] == 2.0f && codes_equal(q + 8, (const int8_t[]){1, 1, 1, 1, 1, 1, 1, 1}, 8),
          "twn equal row");

    /* All zero: nothing passes the threshold; scale is the 1e-5 clamp, codes 0. */
    float z[8] = {0};
    p.granularity = BN_TERNARY_PER_TENSOR;
    CHECK_OK(bn_ternary_quantize(z, 1, 8, &p, q, s));
    CHECK(s[0] == 1e-5f && codes_equal(q, (const int8_t[]){0, 0, 0, 0, 0, 0, 0, 0}, 8),
          "twn zeros");
}

/* ---- ternary: errors ---------------------------------------------------------------------- */

static void test_ternary_errors(void) {
    float w[64] = {0};
    int8_t q[64];
    float s[64];
    int64_t ns;
    bn_ternary_params p = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_GROUP, 32};
    CHECK(bn_ternary_n_scales(2, 48, &p, &ns) == BN_ERR_SHAPE, "cols 48 with group 32");
    CHECK(strstr(bn_last_error(), "48") && strstr(bn_last_error(), "32"), "message: %s",
          bn_last_error());
    CHECK(bn_ternary_quantize(w, 1, 48, &p, q, s) == BN_ERR_SHAPE, "quantize cols 48");
    p.group_size = 16;
    CHECK(bn_ternary_n_scales(2, 64, &p, &ns) == BN_ERR_INVALID_ARG, "group 16");
    p.group_size = 0;
    CHECK(bn_ternary_n_scales(2, 64, &p, &ns) == BN_ERR_INVALID_ARG, "group 0");
    p.granularity = (bn_ternary_granularity)7;
    CHECK(bn_ternary_n_scales(2, 64, &p, &ns) == BN_ERR_INVALID_ARG, "granularity 7");
    p = (bn_ternary_params){(bn_ternary_method)3, BN_TERNARY_PER_TENSOR, 0};
    CHECK(bn_ternary_quantize(w, 1, 4, &p, q, s) == BN_ERR_INVALID_ARG, "method 3");
    CHECK(bn_ternary_n_scales(2, 64, NULL, &ns) == BN_ERR_INVALID_ARG, "NULL params");
    CHECK(bn_ternary_n_scales(-1, 64, &ABSMEAN_TENSOR, &ns) == BN_ERR_SHAPE, "negative rows");
    CHECK(bn_ternary_n_scales(INT64_MAX, 2, &ABSMEAN_TENSOR, &ns) == BN_ERR_SHAPE, "overflow");

    CHECK_OK(bn_ternary_n_scales(3, 64, &ABSMEAN_TENSOR, &ns));
    CHECK(ns == 1, "per tensor n_scales %lld", (long long)ns);
    CHECK_OK(bn_ternary_n_scales(3, 64, &ABSMEAN_CHANNEL, &ns));
    CHECK(ns == 3, "per channel n_scales %lld", (long long)ns);
    p = (bn_ternary_params){BN_TERNARY_TWN, BN_TERNARY_PER_GROUP, 64};
    CHECK_OK(bn_ternary_n_scales(3, 256, &p, &ns));
    CHECK(ns == 12, "per group n_scales %lld", (long long)ns);

    /* NaN and Inf are refused with their index; nothing is written. */
    w[37] = NAN;
    q[0] = 42;
    s[0] = 42.0f;
    CHECK(bn_ternary_quantize(w, 2, 32, &ABSMEAN_TENSOR, q, s) == BN_ERR_RANGE, "NaN");
    CHECK(strstr(bn_last_error(), "w[37]") && strstr(bn_last_error(), "row 1, col 5"),
          "NaN message: %s", bn_last_error());
    CHECK(q[0] == 42 && s[0] == 42.0f, "nothing written on error");
    w[37] = -INFINITY;
    p.group_size = 32;
    CHECK(bn_ternary_quantize(w, 2, 32, &p, q, s) == BN_ERR_RANGE, "-Inf (TWN)");
    CHECK(strstr(bn_last_error(), "Inf"), "Inf message: %s", bn_last_error());
}

/* Random weights: every code is in {-1, 0, 1} and, for absmean, agrees with the formula. */
static void test_ternary_random(void) {
    enum { ROWS = 7, COLS = 256 };
    static float w[ROWS * COLS], d[ROWS * COLS];
    static int8_t q[ROWS * COLS];
    float s[ROWS * COLS / 32];
    for (int i = 0; i < ROWS * COLS; i++)
        w[i] = frand() * 0.02f;
    bn_ternary_params p = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_GROUP, 128};
    CHECK_OK(bn_ternary_quantize(w, ROWS, COLS, &p, q, s));
    bn_ternary_dequantize(q, s, ROWS, COLS, &p, d);
    int bad = 0;
    for (int i = 0; i < ROWS * COLS; i++) {
        float g = s[i / 128];
        float r = nearbyintf(w[i] * (1.0f / g));
        int want = r > 1 ? 1 : r < -1 ? -1 : (int)r;
        bad += q[i] != want || d[i] != (float)want * g;
    }
    CHECK(bad == 0, "random absmean per group: %d wrong", bad);
}

/* ---- activations -------------------------------------------------------------------------- */

static void test_act_quant(void) {
    /* max|x| = 127 gives s = 1 exactly, so the ties stay ties: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2. */
    float x[8] = {127, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, -127, 3.49f};
    int8_t q[8];
    int32_t sum = 0;
    float s = bn_act_quant_row(x, 8, q, &sum);
    CHECK(s == 1.0f, "s %g", s);
    CHECK(codes_equal(q, (const int8_t[]){127, 0, 2, 2, 0, -2, -127, 3}, 8), "act ties");
    CHECK(sum == 5, "row sum %d", sum);

    /* The most negative value maps to -127, never -128: s is 127 / max|x|. 1 * 63.5 is a tie
     * that rounds to 64 (even). */
    float x2[2] = {-2, 1};
    s = bn_act_quant_row(x2, 2, q, NULL);
    CHECK(s == 63.5f && q[0] == -127 && q[1] == 64, "negative max: s %g q %d %d", s, q[0], q[1]);

    /* A zero row: the absmax clamps to 1e-5, s = 127 / 1e-5 in float32, codes 0. */
    float z[5] = {0};
    s = bn_act_quant_row(z, 5, q, &sum);
    CHECK(s == 127.0f / 1e-5f && sum == 0 && codes_equal(q, (const int8_t[]){0, 0, 0, 0, 0}, 5),
          "zero row: s %g", s);
    /* Below the clamp the scale stays 1.27e7: 1e-6 -> 12.7 -> 13, -3e-6 -> -38.1 -> -38. */
    float tiny[2] = {1e-6f, -3e-6f};
    s = bn_act_quant_row(tiny, 2, q, &sum);
    CHECK(s == 127.0f / 1e-5f && q[0] == 13 && q[1] == -38 && sum == -25, "tiny: %d %d", q[0],
          q[1]);

    /* Documented handling of non-finite values: NaN is ignored by the max and coded 0; Inf makes
     * s = 0 and every code 0. */
    float xn[3] = {NAN, 2, -1};
    s = bn_act_quant_row(xn, 3, q, &sum);
    CHECK(s == 63.5f && q[0] == 0 && q[1] == 127 && q[2] == -64 && sum == 63, "NaN row");
    float xi[3] = {INFINITY, 2, -1};
    s = bn_act_quant_row(xi, 3, q, &sum);
    CHECK(s == 0.0f && q[0] == 0 && q[1] == 0 && q[2] == 0 && sum == 0, "Inf row");

    /* Rows: each row matches the single-row call; random codes never reach -128. */
    enum { M = 3, N = 100 };
    static float xr[M * N];
    static int8_t qr[M * N], q1[N];
    float sr[M];
    int32_t sums[M];
    for (int i = 0; i < M * N; i++)
        xr[i] = frand() * (float)(1 + i / N * 10);
    bn_act_quant_rows(xr, M, N, qr, sr, sums);
    int bad = 0;
    for (int r = 0; r < M; r++) {
        int32_t s1;
        float one = bn_act_quant_row(xr + r * N, N, q1, &s1);
        bad += one != sr[r] || s1 != sums[r] || memcmp(q1, qr + r * N, N) != 0;
        for (int i = 0; i < N; i++)
            bad += qr[r * N + i] == -128;
    }
    CHECK(bad == 0, "rows vs row: %d mismatches", bad);
    bn_act_quant_rows(xr, M, N, qr, sr, NULL); /* row sums are optional */
}

/* ---- k-bit -------------------------------------------------------------------------------- */

static int8_t sym(uint8_t c) {
    return (int8_t)c;
}

static void test_kbit_symmetric(void) {
    /* 4 bits, qmax 7. Group 0: absmax 7 -> s = 1; 0.5 -> 0, 1.5 -> 2, -2.5 -> -2 (ties to even).
     * Group 1: all zero -> s = 0, codes 0. */
    float x[8] = {7, 0.5f, 1.5f, -2.5f, 0, 0, 0, 0};
    uint8_t c[8];
    float s[2], d[8];
    bn_kbit_params p = {4, false, 4};
    CHECK_OK(bn_kbit_quantize(x, 8, &p, c, s, NULL));
    CHECK(s[0] == 1.0f && s[1] == 0.0f, "sym4 scales %g %g", s[0], s[1]);
    CHECK(sym(c[0]) == 7 && sym(c[1]) == 0 && sym(c[2]) == 2 && sym(c[3]) == -2, "sym4 codes");
    CHECK(c[4] == 0 && c[5] == 0 && c[6] == 0 && c[7] == 0, "sym4 zero group");
    bn_kbit_dequantize(c, s, NULL, 8, &p, d);
    CHECK(d[0] == 7 && d[1] == 0 && d[2] == 2 && d[3] == -2 && d[4] == 0, "sym4 dequantize");

    /* 2 bits, qmax 1: s = 3; x / s = [1, -0.5 -> 0, 0.47 -> 0, -1]. */
    float x2[4] = {3, -1.5f, 1.4f, -3};
    p = (bn_kbit_params){2, false, 4};
    CHECK_OK(bn_kbit_quantize(x2, 4, &p, c, s, NULL));
    CHECK(s[0] == 3.0f && sym(c[0]) == 1 && sym(c[1]) == 0 && sym(c[2]) == 0 && sym(c[3]) == -1,
          "sym2: s %g codes %d %d %d %d", s[0], sym(c[0]), sym(c[1]), sym(c[2]), sym(c[3]));

    /* 8 bits, qmax 127: s = 1; -63.5 -> -64, 0.5 -> 0, 1.5 -> 2. */
    float x3[4] = {127, -63.5f, 0.5f, 1.5f};
    p = (bn_kbit_params){8, false, 2};
    CHECK_OK(bn_kbit_quantize(x3, 4, &p, c, s, NULL));
    CHECK(s[0] == 1.0f && s[1] == 1.5f / 127.0f, "sym8 scales %g %g", s[0], s[1]);
    CHECK(sym(c[0]) == 127 && sym(c[1]) == -64 && sym(c[2]) == 42 && sym(c[3]) == 127,
          "sym8 codes %d %d %d %d", sym(c[0]), sym(c[1]), sym(c[2]), sym(c[3]));
}

static void test_kbit_asymmetric(void) {
    /* 2 bits, levels 3. [-1.5, 1.5, 0.5, -0.5]: s = 1, z = round(1.5) = 2;
     * q = [-2 + 2, 2 + 2 -> 3, 0 + 2, -0 + 2] = [0, 3, 2, 2], back to [-2, 1, 0, 0]. */
    float x[4] = {-1.5f, 1.5f, 0.5f, -0.5f};
    uint8_t c[4];
    float s[1], z[1], d[4];
    bn_kbit_params p = {2, true, 4};
    CHECK_OK(bn_kbit_quantize(x, 4, &p, c, s, z));
    CHECK(s[0] == 1.0f && z[0] == 2.0f, "asym2 s %g z %g", s[0], z[0]);
    CHECK(c[0] == 0 && c[1] == 3 && c[2] == 2 && c[3] == 2, "asym2 codes %d %d %d %d", c[0], c[1],
          c[2], c[3]);
    bn_kbit_dequantize(c, s, z, 4, &p, d);
    CHECK(d[0] == -2 && d[1] == 1 && d[2] == 0 && d[3] == 0, "asym2 dequantize");

    /* All negative: the range widens to [-3, 0], s = 1, z = 3; -1.5 -> -2 + 3 = 1 and
     * -0.5 -> 0 + 3 = 3 (ties to even), back to [-3, -2, 0, 0]. */
    float xn[4] = {-3, -1.5f, -0.5f, 0};
    CHECK_OK(bn_kbit_quantize(xn, 4, &p, c, s, z));
    CHECK(s[0] == 1.0f && z[0] == 3.0f && c[0] == 0 && c[1] == 1 && c[2] == 3 && c[3] == 3,
          "asym2 negative: s %g z %g codes %d %d %d %d", s[0], z[0], c[0], c[1], c[2], c[3]);

    /* All positive, 4 bits: the range widens to [0, 12], s = 0.8, z = 0; values come back within
     * s / 2 (the unwidened range would clamp the zero point and lose them). */
    float xp[4] = {10, 11, 10.5f, 12};
    p = (bn_kbit_params){4, true, 4};
    CHECK_OK(bn_kbit_quantize(xp, 4, &p, c, s, z));
    CHECK(s[0] == 0.8f && z[0] == 0.0f, "asym4 positive: s %g z %g", s[0], z[0]);
    CHECK(c[0] == 12 && c[1] == 14 && c[2] == 13 && c[3] == 15, "asym4 positive codes");
    bn_kbit_dequantize(c, s, z, 4, &p, d);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(d[i], xp[i], 0.4 + 1e-6, "asym4 positive round trip");

    /* All equal and all zero. */
    float xe[4] = {5, 5, 5, 5}, x0[4] = {0, 0, 0, 0};
    p = (bn_kbit_params){2, true, 4};
    CHECK_OK(bn_kbit_quantize(xe, 4, &p, c, s, z));
    bn_kbit_dequantize(c, s, z, 4, &p, d);
    CHECK(z[0] == 0 && c[0] == 3 && c[3] == 3, "asym equal codes");
    CHECK_NEAR(d[0], 5, 1e-6, "asym equal round trip");
    CHECK_OK(bn_kbit_quantize(x0, 4, &p, c, s, z));
    CHECK(s[0] == 0 && z[0] == 0 && c[0] == 0 && c[3] == 0, "asym zeros");
}

/* Round trips of random data at every width: each value comes back within s/2 plus the float32
 * rounding of the dequantized product (|x| * 2^-23 covers both that and the float64 quotient). */
static void test_kbit_round_trip(void) {
    enum { N = 1024 };
    static float x[N], d[N], s[N], z[N];
    static uint8_t c[N];
    static const int bits[3] = {2, 4, 8};
    static const int64_t groups[3] = {1, 32, 256};
    for (int i = 0; i < N; i++)
        x[i] = frand() * 3.0f + (i % 512 < 256 ? 0.0f : 5.0f); /* half the groups all positive */
    for (int b = 0; b < 3; b++) {
        for (int g = 0; g < 3; g++) {
            for (int asym = 0; asym <= 1; asym++) {
                bn_kbit_params p = {bits[b], asym, groups[g]};
                CHECK_OK(bn_kbit_quantize(x, N, &p, c, s, asym ? z : NULL));
                bn_kbit_dequantize(c, s, asym ? z : NULL, N, &p, d);
                int bad = 0;
                for (int i = 0; i < N; i++) {
                    double tol = 0.5 * s[i / groups[g]] + fabs(x[i]) * 0x1p-23;
                    int code = asym ? c[i] : sym(c[i]);
                    int lo = asym ? 0 : -(1 << (bits[b] - 1));
                    int hi = asym ? (1 << bits[b]) - 1 : (1 << (bits[b] - 1)) - 1;
                    bad += fabs((double)x[i] - d[i]) > tol || code < lo || code > hi;
                }
                CHECK(bad == 0, "round trip bits %d group %lld %s: %d out of bound", bits[b],
                      (long long)groups[g], asym ? "asym" : "sym", bad);
            }
        }
    }
}

static void test_kbit_errors(void) {
    float x[8] = {0};
    uint8_t c[8];
    float s[8], z[8];
    bn_kbit_params p = {3, false, 4};
    CHECK(bn_kbit_quantize(x, 8, &p, c, s, NULL) == BN_ERR_INVALID_ARG, "bits 3");
    CHECK(strstr(bn_last_error(), "bits 3"), "message: %s", bn_last_error());
    p = (bn_kbit_params){4, false, 3};
    CHECK(bn_kbit_quantize(x, 8, &p, c, s, NULL) == BN_ERR_SHAPE, "8 %% 3");
    CHECK(strstr(bn_last_error(), "8") && strstr(bn_last_error(), "3"), "message: %s",
          bn_last_error());
    p = (bn_kbit_params){4, false, 0};
    CHECK(bn_kbit_quantize(x, 8, &p, c, s, NULL) == BN_ERR_INVALID_ARG, "group 0");
    p = (bn_kbit_params){4, true, 4};
    CHECK(bn_kbit_quantize(x, 8, &p, c, s, NULL) == BN_ERR_INVALID_ARG, "asym without zeros");
    CHECK(bn_kbit_quantize(x, 8, NULL, c, s, z) == BN_ERR_INVALID_ARG, "NULL params");
    x[6] = NAN;
    CHECK(bn_kbit_quantize(x, 8, &p, c, s, z) == BN_ERR_RANGE, "NaN");
    CHECK(strstr(bn_last_error(), "x[6]"), "message: %s", bn_last_error());
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void test_metrics(void) {
    bn_quant_metrics m;
    float a[4] = {1, -2, 0, 3};
    bn_quant_metrics_compute(a, a, 4, 1.58, &m);
    CHECK(m.n == 4 && m.mse == 0 && m.rmse == 0 && m.max_abs_err == 0, "identical: errors");
    CHECK(isinf(m.sqnr_db) && m.sqnr_db > 0, "identical: sqnr %g", m.sqnr_db);
    CHECK(m.cosine == 1.0, "identical: cosine %.17g", m.cosine);
    CHECK(m.n_neg == 1 && m.n_zero == 1 && m.n_pos == 2 && m.frac_zero == 0.25, "identical: signs");
    CHECK(m.bits_per_weight == 1.58, "bits per weight passed through");

    /* err = [0, 0, 0, 2]: mse 1, sum ref^2 = 30 -> sqnr 10 log10(30/4), dot 22 over
     * sqrt(30) sqrt(18). */
    float r[4] = {1, 2, 3, 4}, p[4] = {1, 2, 3, 2};
    bn_quant_metrics_compute(r, p, 4, 2.0, &m);
    CHECK_NEAR(m.mse, 1.0, 1e-15, "mse");
    CHECK_NEAR(m.rmse, 1.0, 1e-15, "rmse");
    CHECK_NEAR(m.sqnr_db, 10.0 * log10(7.5), 1e-12, "sqnr");
    CHECK_NEAR(m.cosine, 22.0 / sqrt(540.0), 1e-15, "cosine");
    CHECK_NEAR(m.max_abs_err, 2.0, 0, "max abs err");
    CHECK(m.n_pos == 4 && m.frac_zero == 0, "signs");

    /* No signal: sqnr -inf, cosine 0 (only one side is zero); both zero: +inf and 1. */
    float zero[2] = {0, 0}, one[2] = {1, 0};
    bn_quant_metrics_compute(zero, one, 2, 0, &m);
    CHECK(isinf(m.sqnr_db) && m.sqnr_db < 0 && m.cosine == 0 && m.mse == 0.5, "zero signal");
    bn_quant_metrics_compute(zero, zero, 2, 0, &m);
    CHECK(isinf(m.sqnr_db) && m.sqnr_db > 0 && m.cosine == 1 && m.frac_zero == 1, "both zero");
    bn_quant_metrics_compute(NULL, NULL, 0, 0, &m);
    CHECK(m.n == 0 && m.mse == 0 && m.cosine == 1 && m.frac_zero == 0, "empty");

    /* Ternary quantization of the hand example in the metrics. */
    float w[4] = {0.5f, 1.5f, -0.5f, -1.5f}, d[4], sc;
    int8_t q[4];
    CHECK_OK(bn_ternary_quantize(w, 1, 4, &ABSMEAN_TENSOR, q, &sc));
    bn_ternary_dequantize(q, &sc, 1, 4, &ABSMEAN_TENSOR, d);
    bn_quant_metrics_compute(w, d, 4, 1.58, &m);
    CHECK_NEAR(m.mse, (0.25 * 4) / 4, 1e-15, "ternary mse"); /* every error is 0.5 */
    CHECK(m.n_zero == 2 && m.n_neg == 1 && m.n_pos == 1, "ternary signs");
}

int main(void) {
    test_absmean_ties();
    test_absmean_multiplies_reciprocal();
    test_absmean_zero_and_equal();
    test_absmean_per_channel();
    test_absmean_per_group();
    test_twn();
    test_ternary_errors();
    test_ternary_random();
    test_act_quant();
    test_kbit_symmetric();
    test_kbit_asymmetric();
    test_kbit_round_trip();
    test_kbit_errors();
    test_metrics();
    return bn_test_finish("test_quant");
}
