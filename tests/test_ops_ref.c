/* test_ops_ref.c - the scalar reference ops against hand-computed and float64 results. */
#include "tensor/half.h"
#include "tensor/ops_ref.h"
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

static void test_elementwise(void) {
    float a[4] = {1.5f, -2.0f, 0.0f, 3.25f}, b[4] = {0.5f, 4.0f, -1.0f, -3.25f}, o[4];
    bn_ref_add(o, a, b, 4);
    CHECK(o[0] == 2.0f && o[1] == 2.0f && o[2] == -1.0f && o[3] == 0.0f, "add");
    bn_ref_mul(o, a, b, 4);
    CHECK(o[0] == 0.75f && o[1] == -8.0f && o[2] == 0.0f && o[3] == -10.5625f, "mul");
    bn_ref_scale(o, a, -2.0f, 4);
    CHECK(o[0] == -3.0f && o[1] == 4.0f && o[2] == 0.0f && o[3] == -6.5f, "scale");
    bn_ref_add(a, a, a, 4); /* aliasing allowed */
    CHECK(a[0] == 3.0f && a[3] == 6.5f, "add in place");
}

static void test_matmul(void) {
    /* Hand-computed: x[2,3] . w[2,3]^T */
    float x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, -1, 2, 1, 0}, o[4];
    bn_ref_matmul(o, x, w, 2, 2, 3);
    CHECK(o[0] == -2.0f && o[1] == 4.0f && o[2] == -2.0f && o[3] == 13.0f,
          "matmul 2x2x3: %g %g %g %g", o[0], o[1], o[2], o[3]);
    /* Random awkward sizes against float64. The tolerance is K * eps_f32 * sum|x w|, the bound on
     * float32 recursive summation error. */
    enum { M = 5, N = 7, K = 131 };
    static float X[M * K], W[N * K], O[M * N];
    for (int i = 0; i < M * K; i++)
        X[i] = frand();
    for (int i = 0; i < N * K; i++)
        W[i] = frand();
    bn_ref_matmul(O, X, W, M, N, K);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                acc += (double)X[m * K + k] * W[n * K + k];
                mag += fabs((double)X[m * K + k] * W[n * K + k]);
            }
            CHECK_NEAR(O[m * N + n], acc, K * 1.2e-7 * mag, "matmul random");
        }
    }
}

static void test_softmax(void) {
    float x[4] = {1000.0f, 1001.0f, 1002.0f, 1000.0f}; /* would overflow without the max shift */
    double e[4], sum = 0;
    for (int i = 0; i < 4; i++)
        sum += e[i] = exp((double)x[i] - 1002.0);
    bn_ref_softmax(x, 4);
    double total = 0;
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(x[i], e[i] / sum, 1e-6, "softmax large");
        total += x[i];
    }
    CHECK_NEAR(total, 1.0, 1e-6, "softmax sums to 1");
    float one = -5.0f;
    bn_ref_softmax(&one, 1);
    CHECK(one == 1.0f, "softmax of one value is 1, got %g", one);
    float y[3] = {-INFINITY, 0.0f, 0.0f};
    bn_ref_softmax(y, 3);
    CHECK(y[0] == 0.0f && y[1] == 0.5f && y[2] == 0.5f, "softmax with -inf (masked) entry");
}

static void test_rmsnorm(void) {
    /* x = [1,2,3,4]: mean(x^2) = 7.5, so out = x / sqrt(7.5) * w. */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 0.5f, 2, -1}, o[4];
    bn_ref_rmsnorm(o, x, w, 4, 0.0f);
    double r = 1.0 / sqrt(7.5);
    CHECK_NEAR(o[0], 1 * r * 1, 1e-6, "rmsnorm[0]");
    CHECK_NEAR(o[1], 2 * r * 0.5, 1e-6, "rmsnorm[1]");
    CHECK_NEAR(o[2], 3 * r * 2, 1e-6, "rmsnorm[2]");
    CHECK_NEAR(o[3], 4 * r * -1, 1e-6, "rmsnorm[3]");
    /* eps matters for tiny inputs: x = 1e-3 everywhere, eps = 1e-5 -> 1e-3 / sqrt(1e-6 + 1e-5) */
    float t[8], to[8];
    for (int i = 0; i < 8; i++)
        t[i] = 1e-3f;
    bn_ref_rmsnorm(to, t, NULL, 8, 1e-5f);
    CHECK_NEAR(to[0], 1e-3 / sqrt(1e-6 + 1e-5), 1e-6, "rmsnorm eps");
    /* random, against float64 */
    enum { N = 2560 };
    static float X[N], Wt[N], O[N];
    double ss = 0;
    for (int i = 0; i < N; i++) {
        X[i] = frand() * 3.0f;
        Wt[i] = frand();
        ss += (double)X[i] * X[i];
    }
    bn_ref_rmsnorm(O, X, Wt, N, 1e-5f);
    double inv = 1.0 / sqrt(ss / N + 1e-5);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(O[i], X[i] * inv * Wt[i], 2e-5 * (fabs(X[i] * inv * Wt[i]) + 1e-3),
                   "rmsnorm 2560");
}

/* float64 RoPE for one head, pairs (i, i+half) for NEOX or (2i, 2i+1) for GPT-J. */
static void rope_f64(double *out, const float *x, int head_dim, int n_rot, int pos, double theta,
                     int neox) {
    for (int i = 0; i < head_dim; i++)
        out[i] = x[i];
    for (int i = 0; i < n_rot / 2; i++) {
        double a = pos * pow(theta, -2.0 * i / n_rot);
        int i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
        out[i0] = x[i0] * cos(a) - x[i1] * sin(a);
        out[i1] = x[i1] * cos(a) + x[i0] * sin(a);
    }
}

static void test_rope(void) {
    /* Hand-computed: head_dim 4, theta 10000, pos 1 -> inv_freq = [1, 0.01].
     * NEOX pairs (0,2) with angle 1 and (1,3) with angle 0.01. */
    float v[4] = {1, 0, 0, 0};
    bn_ref_rope_neox(v, 1, 4, 4, 1, 10000.0f);
    CHECK_NEAR(v[0], cos(1.0), 1e-6, "neox v0");
    CHECK_NEAR(v[2], sin(1.0), 1e-6, "neox v2");
    CHECK(v[1] == 0.0f && v[3] == 0.0f, "neox untouched pair");
    float g[4] = {1, 0, 0, 0};
    bn_ref_rope_gptj(g, 1, 4, 4, 1, 10000.0f); /* GPT-J pairs (0,1) with angle 1 */
    CHECK_NEAR(g[0], cos(1.0), 1e-6, "gptj g0");
    CHECK_NEAR(g[1], sin(1.0), 1e-6, "gptj g1");
    CHECK(g[2] == 0.0f && g[3] == 0.0f, "gptj untouched pair");
    /* pos 0 is the identity */
    float id[4] = {0.5f, -1, 2, 3};
    bn_ref_rope_neox(id, 1, 4, 4, 0, 500000.0f);
    CHECK(id[0] == 0.5f && id[1] == -1 && id[2] == 2 && id[3] == 3, "rope at pos 0 is identity");

    /* Random heads at large positions against float64, both variants, and partial rotation. */
    enum { H = 3, D = 128 };
    static float x[H * D], xn[H * D], xg[H * D];
    for (int i = 0; i < H * D; i++)
        x[i] = frand();
    int positions[3] = {1, 17, 4000};
    int rots[2] = {D, 64};
    for (int p = 0; p < 3; p++) {
        for (int r = 0; r < 2; r++) {
            memcpy(xn, x, sizeof x);
            memcpy(xg, x, sizeof x);
            bn_ref_rope_neox(xn, H, D, rots[r], positions[p], 500000.0f);
            bn_ref_rope_gptj(xg, H, D, rots[r], positions[p], 500000.0f);
            for (int h = 0; h < H; h++) {
                double en[D], eg[D];
                rope_f64(en, x + h * D, D, rots[r], positions[p], 500000.0, 1);
                rope_f64(eg, x + h * D, D, rots[r], positions[p], 500000.0, 0);
                /* float32 angles at pos 4000 carry ~4000 * 6e-8 rad of error */
                double tol = 2e-6 * positions[p] + 1e-6;
                for (int i = 0; i < D; i++) {
                    CHECK_NEAR(xn[h * D + i], en[i], tol, "rope neox random");
                    CHECK_NEAR(xg[h * D + i], eg[i], tol, "rope gptj random");
                }
            }
        }
    }
    /* The two variants are the same rotation on permuted dims: NEOX index i <-> GPT-J 2i,
     * i + half <-> 2i + 1. */
    float a[D], b[D];
    for (int i = 0; i < D; i++)
        a[i] = frand();
    for (int i = 0; i < D / 2; i++) {
        b[2 * i] = a[i];
        b[2 * i + 1] = a[i + D / 2];
    }
    bn_ref_rope_neox(a, 1, D, D, 33, 10000.0f);
    bn_ref_rope_gptj(b, 1, D, D, 33, 10000.0f);
    for (int i = 0; i < D / 2; i++) {
        CHECK(a[i] == b[2 * i] && a[i + D / 2] == b[2 * i + 1], "neox/gptj permutation at %d", i);
    }
}

static void test_activations(void) {
    float x[5] = {-2.0f, -1.0f, 0.0f, 1.0f, 3.0f}, o[5];
    bn_ref_relu(o, x, 5);
    CHECK(o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 1 && o[4] == 3, "relu");
    bn_ref_relu2(o, x, 5);
    CHECK(o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 1 && o[4] == 9, "relu2");
    bn_ref_silu(o, x, 5);
    const double want[5] = {-0.23840584404423515, -0.2689414213699951, 0.0, 0.7310585786300049,
                            2.857722737605741};
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(o[i], want[i], 1e-6, "silu");
    float big = -100.0f, sbig;
    bn_ref_silu(&sbig, &big, 1); /* expf(100) overflows to inf: -100/inf is -0, not NaN */
    CHECK(sbig == 0.0f && !isnan(sbig), "silu(-100) = 0, got %g", sbig);
    float gate[3] = {-1.0f, 2.0f, 0.5f}, up[3] = {5.0f, 3.0f, -4.0f};
    bn_ref_gated(o, gate, up, 3, BN_ACT_RELU2);
    CHECK(o[0] == 0 && o[1] == 12 && o[2] == -1, "gated relu2: %g %g %g", o[0], o[1], o[2]);
    bn_ref_gated(o, gate, up, 3, BN_ACT_SILU);
    CHECK_NEAR(o[1], 2.0 / (1 + exp(-2.0)) * 3.0, 1e-6, "gated silu");
    bn_ref_gated(o, gate, up, 3, BN_ACT_RELU);
    CHECK(o[0] == 0 && o[1] == 6 && o[2] == -2, "gated relu");
}

static void test_argmax(void) {
    float x[6] = {1, 5, -2, 5, 4, 0};
    CHECK(bn_ref_argmax(x, 6) == 1, "argmax first of ties");
    float y[4] = {NAN, -3, NAN, -1};
    CHECK(bn_ref_argmax(y, 4) == 3, "argmax skips NaN, got %zu", bn_ref_argmax(y, 4));
    float z[3] = {-INFINITY, -INFINITY, -1e30f};
    CHECK(bn_ref_argmax(z, 3) == 2, "argmax with -inf");
}

static void test_embedding(void) {
    enum { V = 5, D = 3 };
    float table[V * D];
    for (int i = 0; i < V * D; i++)
        table[i] = (float)i * 0.5f - 2.0f;
    bn_tensor t;
    int64_t shape[2] = {V, D};
    CHECK_OK(bn_tensor_wrap(&t, BN_DTYPE_F32, 2, shape, table));
    int32_t ids[3] = {4, 0, 4};
    float out[3 * D];
    CHECK_OK(bn_ref_embedding(out, &t, ids, 3));
    for (int i = 0; i < 3; i++)
        for (int d = 0; d < D; d++)
            CHECK(out[i * D + d] == table[ids[i] * D + d], "embedding f32 row %d", i);
    /* bf16 and f16 tables decode through the dtype table */
    uint16_t h[V * D], b[V * D];
    for (int i = 0; i < V * D; i++) {
        h[i] = bn_f32_to_f16(table[i]);
        b[i] = bn_f32_to_bf16(table[i]);
    }
    bn_tensor th, tb;
    CHECK_OK(bn_tensor_wrap(&th, BN_DTYPE_F16, 2, shape, h));
    CHECK_OK(bn_tensor_wrap(&tb, BN_DTYPE_BF16, 2, shape, b));
    CHECK_OK(bn_ref_embedding(out, &th, ids, 3));
    CHECK(out[0] == table[12] && out[5] == table[2], "embedding f16");
    CHECK_OK(bn_ref_embedding(out, &tb, ids, 3));
    CHECK(out[0] == table[12] && out[5] == table[2], "embedding bf16");
    int32_t bad[2] = {1, 5};
    bn_status st = bn_ref_embedding(out, &t, bad, 2);
    CHECK(st == BN_ERR_RANGE && strstr(bn_last_error(), "token id 5") != NULL,
          "out-of-range id is named: %s", bn_last_error());
    int32_t neg = -1;
    CHECK(bn_ref_embedding(out, &t, &neg, 1) == BN_ERR_RANGE, "negative id");
}

int main(void) {
    test_elementwise();
    test_matmul();
    test_softmax();
    test_rmsnorm();
    test_rope();
    test_activations();
    test_argmax();
    test_embedding();
    return bn_test_finish("test_ops_ref");
}
