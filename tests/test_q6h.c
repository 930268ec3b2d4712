/*
 * test_q6h.c - the Q6H head encoding and its products: the block layout against a hand
 * example; encode/decode round trips within half a step; every kernel variant this machine
 * runs, and the threaded dispatcher on each path, bit for bit against the reference; and a
 * q6h head on the tiny model against the exact float head.
 */
#include "kernels/cpu/q6h_gemm.h"

#include "model/forward.h"
#include "tensor/dtype.h"
#include "tensor/formats.h"
#include "tensor/half.h"
#include "test.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static float rng_sym(void) {
    return (float)rng_u32() / 2147483648.0f - 1.0f;
}

/* Magnitudes that change from block to block, outliers, and now and then a block of zeros, so
 * scales and codes cover their ranges (codes -31 and 31 included). */
static void fill_values(float *x, int64_t count) {
    for (int64_t b = 0; b < count / BN_QK_Q6H; b++) {
        float mag = ldexpf(1.0f, (int)(rng_u32() % 13) - 8);
        bool zero = rng_u32() % 16 == 0;
        for (int j = 0; j < BN_QK_Q6H; j++) {
            float v = zero ? 0.0f : mag * rng_sym();
            if (!zero && rng_u32() % 64 == 0)
                v *= 8.0f;
            x[b * BN_QK_Q6H + j] = v;
        }
    }
}

/* The layout of formats.h written out by hand: absmax 31 makes d = 1 and 1/d = 1, so the
 * codes are roundf(x), and every bit of lo and hi can be checked against its definition. */
static void test_layout(void) {
    float x[BN_QK_Q6H];
    int want[BN_QK_Q6H];
    for (int j = 0; j < BN_QK_Q6H; j++) {
        want[j] = (j * 7) % 63 - 31; /* covers -31, 31 and many patterns of bits 4-5 */
        x[j] = (float)want[j];
    }
    x[0] = -31.0f;
    want[0] = -31;
    x[1] = 30.5f; /* a tie: away from zero, as q8_0 */
    want[1] = 31;
    bn_block_q6h b;
    bn_q6h_from_f32(x, &b, BN_QK_Q6H);
    CHECK(b.d == bn_f32_to_f16(1.0f), "d = %g", (double)bn_f16_to_f32(b.d));
    for (int m = 0; m < 16; m++) {
        int lo = ((want[m] + 32) & 15) | ((want[m + 16] + 32) & 15) << 4;
        CHECK(b.lo[m] == lo, "lo[%d] = %#x, want %#x", m, b.lo[m], lo);
    }
    for (int m = 0; m < 8; m++) {
        int hi = 0;
        for (int k = 0; k < 4; k++)
            hi |= ((want[m + 8 * k] + 32) >> 4 & 3) << (2 * k);
        CHECK(b.hi[m] == hi, "hi[%d] = %#x, want %#x", m, b.hi[m], hi);
    }
    int8_t q[BN_QK_Q6H];
    bn_q6h_codes(&b, q);
    for (int j = 0; j < BN_QK_Q6H; j++)
        CHECK(q[j] == want[j], "code %d = %d, want %d", j, q[j], want[j]);
    const bn_dtype_traits *t = bn_dtype_get(BN_DTYPE_Q6H);
    CHECK(t != NULL && strcmp(t->name, "q6h") == 0 && t->block_bytes == 26 && t->block_size == 32 &&
              t->gguf_type == BN_GGUF_TYPE_NONE && t->is_quantized && t->to_f32 == bn_q6h_to_f32 &&
              t->from_f32 == bn_q6h_from_f32,
          "q6h row of the table");
}

/* Codes in [-31, 31] and |x - d q| within half a step. The codes are chosen with the float32
 * d = absmax / 31 and stored with d rounded to f16 (as q8_0), so the bound is half of the
 * stored step plus 31 times the f16 rounding of d (at most 2^-11 of it), plus a float32 ulp. */
static void test_round_trip(void) {
    enum { N = 64 * 2560 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    bn_block_q6h *b = malloc(N / BN_QK_Q6H * sizeof *b);
    fill_values(x, N);
    bn_q6h_from_f32(x, b, N);
    bn_q6h_to_f32(b, y, N);
    int bad_code = 0, bad_err = 0;
    double worst = 0.0;
    for (int i = 0; i < N / BN_QK_Q6H; i++) {
        int8_t q[BN_QK_Q6H];
        bn_q6h_codes(&b[i], q);
        double d = bn_f16_to_f32(b[i].d);
        for (int j = 0; j < BN_QK_Q6H; j++) {
            int at = i * BN_QK_Q6H + j;
            bad_code += q[j] < -31 || q[j] > 31;
            double err = fabs((double)x[at] - y[at]);
            double tol = d * (0.5 + 31.0 * ldexp(1.0, -11)) + ldexp(fabs(x[at]), -23);
            bad_err += err > tol;
            if (d > 0 && err / d > worst)
                worst = err / d;
        }
    }
    CHECK(bad_code == 0, "%d codes outside [-31, 31]", bad_code);
    CHECK(bad_err == 0, "%d values farther than half a step from their input", bad_err);
    printf("  round trip: worst error %.4f of the block's step d\n", worst);
    free(x);
    free(y);
    free(b);
}

/* ---- every path against the reference ------------------------------------------------------ */

static bn_block_q6h *make_weights(int64_t n, int64_t k) {
    float *f = malloc((size_t)(n * k) * sizeof *f);
    bn_block_q6h *w = malloc((size_t)(n * k / BN_QK_Q6H) * sizeof *w);
    fill_values(f, n * k);
    bn_q6h_from_f32(f, w, n * k);
    free(f);
    return w;
}

static int compare_bits(const float *y, const float *y_ref, int64_t count) {
    int bad = 0;
    for (int64_t i = 0; i < count; i++)
        bad += memcmp(&y[i], &y_ref[i], sizeof(float)) != 0;
    return bad;
}

static const int64_t test_n[] = {1, 3, 17, 33, 258};
static const int64_t test_k[] = {32, 96, 2560};
static const int64_t test_m[] = {1, 3, 8};

static void test_kernel_exact(bn_isa isa, bn_q8_kernel_fn kernel) {
    int cases = 0;
    for (size_t ni = 0; ni < sizeof test_n / sizeof *test_n; ni++)
        for (size_t ki = 0; ki < sizeof test_k / sizeof *test_k; ki++) {
            int64_t n = test_n[ni], k = test_k[ki], nb = k / BN_Q8_BLOCK, mmax = 8;
            bn_block_q6h *w = make_weights(n, k);
            float *x = malloc((size_t)(mmax * k) * sizeof *x);
            int8_t *xq = malloc((size_t)(mmax * k));
            float *xd = malloc((size_t)(mmax * nb) * sizeof *xd);
            float *y = malloc((size_t)(mmax * n) * sizeof *y);
            float *y_ref = malloc((size_t)(mmax * n) * sizeof *y_ref);
            fill_values(x, mmax * k);
            bn_q8_quantize_acts(x, mmax, k, xq, xd);
            for (size_t mi = 0; mi < sizeof test_m / sizeof *test_m; mi++) {
                int64_t m = test_m[mi];
                bn_q6h_gemm_ref(w, n, k, xq, xd, m, y_ref);
                memset(y, 0xFF, (size_t)(m * n) * sizeof *y);
                kernel(w, n, k, xq, xd, m, 0, n, y);
                int bad = compare_bits(y, y_ref, m * n);
                CHECK(bad == 0, "%s: N %lld K %lld M %lld: %d outputs differ from the reference",
                      bn_isa_name(isa), (long long)n, (long long)k, (long long)m, bad);
                /* A range of rows off every tile boundary: exactly those rows are written. */
                int64_t n0 = n / 3, n1 = n - n / 5;
                memset(y, 0xFF, (size_t)(m * n) * sizeof *y);
                kernel(w, n, k, xq, xd, m, n0, n1, y);
                int bad_range = 0;
                for (int64_t t = 0; t < m; t++)
                    for (int64_t r = 0; r < n; r++) {
                        uint32_t bits;
                        memcpy(&bits, &y[t * n + r], sizeof bits);
                        bad_range += r >= n0 && r < n1
                                         ? compare_bits(&y[t * n + r], &y_ref[t * n + r], 1)
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

/* The reference is the Q8_0 reference on the decoded codes: Q6H changes the bytes, not the
 * arithmetic. */
static void test_reference_is_q8(void) {
    enum { N = 7, K = 320, NB = K / 32, M = 3 };
    bn_block_q6h *w = make_weights(N, K);
    static bn_block_q8_0 w8[N * NB];
    for (int i = 0; i < N * NB; i++) {
        w8[i].d = w[i].d;
        bn_q6h_codes(&w[i], w8[i].qs);
    }
    static float x[M * K], xd[M * NB], y[M * N], y8[M * N];
    static int8_t xq[M * K];
    fill_values(x, M * K);
    bn_q8_quantize_acts(x, M, K, xq, xd);
    bn_q6h_gemm_ref(w, N, K, xq, xd, M, y);
    bn_q8_gemm_ref(w8, N, K, xq, xd, M, y8);
    CHECK(compare_bits(y, y8, M * N) == 0, "q6h reference differs from q8_0's on the same codes");
    free(w);
}

static void test_threaded(bn_threadpool *pool) {
    enum { N = 1037, K = 320, NB = K / BN_Q8_BLOCK, M = 8 };
    bn_block_q6h *w = make_weights(N, K);
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
        for (size_t mi = 0; mi < sizeof test_m / sizeof *test_m; mi++) {
            int64_t m = test_m[mi];
            bn_q6h_gemm_ref(w, N, K, xq, xd, m, y_ref);
            memset(y, 0xFF, sizeof y);
            CHECK_OK(bn_q6h_gemm(w, N, K, xq, xd, m, y, pool));
            int bad = compare_bits(y, y_ref, m * N);
            CHECK(bad == 0, "%s, threaded, M %lld: %d outputs differ", bn_isa_name(isa),
                  (long long)m, bad);
        }
    }
    CHECK_OK(bn_cpu_set_isa(saved));
    bn_block_q6h zero[2] = {0};
    CHECK(bn_q6h_gemm(zero, 1, 48, xq, xd, 1, y, NULL) == BN_ERR_SHAPE, "K 48 accepted");
    CHECK(bn_q6h_gemm(zero, 0, 32, xq, xd, 1, y, NULL) == BN_ERR_SHAPE, "N 0 accepted");
    free(w);
}

/* ---- the tiny model ------------------------------------------------------------------------ */

static const bn_context_params exact = {.n_ctx = 0, .n_threads = 2, .kv_type = BN_DTYPE_F32};

static void last_logits(const bn_model *m, const int32_t *ids, int n, float *out) {
    bn_context *c = NULL;
    CHECK_OK(bn_context_create(&c, m, &exact));
    if (c != NULL)
        CHECK_OK(bn_context_eval(c, ids, n, out, false));
    bn_context_free(c);
}

static double rel_l2(const float *got, const float *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static size_t argmax(const float *x, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* A q6h head, re-encoded from the file's float head or from a q8_0 head, against the exact
 * float head (f32 cache both times, so only the head differs). */
static void test_model(bool via_q8) {
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, BN_SOURCE_DIR "/tests/fixtures/tiny-bitnet-hf", bn_cpu_isa()));
    if (m == NULL)
        return;
    /* The prompt test_forward checks the q8_0 head on (tiny-reference/prompts.json, prompt 2). */
    const int32_t ids[] = {268, 84, 257, 32, 99, 266, 263, 266, 32, 262, 258, 32, 109, 266, 46};
    const int n = (int)(sizeof ids / sizeof ids[0]);
    size_t vocab = (size_t)m->cfg.n_vocab;
    float *want = calloc(vocab, sizeof(float)), *got = calloc(vocab, sizeof(float));
    last_logits(m, ids, n, want);
    if (via_q8)
        CHECK_OK(bn_model_set_head_type(m, BN_DTYPE_Q8_0));
    CHECK_OK(bn_model_set_head_type(m, BN_DTYPE_Q6H));
    CHECK(m->head_type == BN_DTYPE_Q6H, "head is %s", bn_dtype_name(m->head_type));
    last_logits(m, ids, n, got);
    double e = rel_l2(got, want, vocab);
    CHECK(e < 3e-2 && e > 0.0, "q6h head%s: relative L2 %.3g", via_q8 ? " (from q8_0)" : "", e);
    CHECK(argmax(got, vocab) == argmax(want, vocab), "q6h head: argmax");
    printf("  q6h head%s vs exact float head: relative L2 %.3g\n", via_q8 ? " from q8_0" : "", e);
    free(want);
    free(got);
    bn_model_free(m);
}

int main(void) {
    test_layout();
    test_round_trip();
    test_reference_is_q8();
    printf("kernel paths:\n");
    for (int i = 0; i < BN_ISA_COUNT; i++) {
        bn_isa isa = (bn_isa)i;
        bn_q8_kernel_fn kernel = bn_q6h_kernel_for(isa);
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
    test_model(false);
    test_model(true);
    return bn_test_finish("test_q6h");
}
