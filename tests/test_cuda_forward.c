/*
 * test_cuda_forward.c - the CUDA forward pass held to the CPU's:
 *   - the ternary GEMV on the GPU equals bn_ternary_gemm_ref bit for bit, given the same int8
 *     activations (any N and K: K is padded to the 64 of i2v16), for 1 to 5 tokens;
 *   - BitLinear's input side (RMSNorm, int8 codes, scale, code sum) against the CPU's: the scale
 *     to 1e-6, codes equal but for rare ties of the differently ordered RMSNorm sum;
 *   - the whole model (the shipped one) on cuda:0 against the CPU (f32 KV caches on both):
 *     every position's logits of a 40-token prompt within relative L2 1e-3, and 32 greedy steps
 *     giving the same tokens with each step's logits as close (the RMSNorm and softmax sums run
 *     in another order, so not bit for bit);
 *   - out-of-range input is refused as on the CPU.
 * Skips with "skipped: no GPU" where there is none (or the build has no CUDA).
 */
#include "base/alloc.h"
#include "kernels/cpu/ternary_gemm.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/forward_kernels.h"
#include "model/forward.h"
#include "quant/act_quant.h"
#include "sample/sampler.h"
#include "test.h"
#include "tensor/half.h"
#include "tensor/ops_ref.h"
#include "test_rng.h"

#include <math.h>
#include <string.h>

#define TEST_SEED 0x51ed270b27e2a2d1u
#define MODEL     BN_SOURCE_DIR "/models/default.gguf"

static void *to_gpu(const void *src, size_t bytes) {
    void *d = NULL;
    CHECK_OK(bn_cuda_malloc(&d, bytes));
    if (d != NULL)
        CHECK_OK(bn_cuda_copy_to_device(d, src, bytes));
    return d;
}

static void test_gemv(void) {
    const int shapes[][2] = {{77, 321}, {64, 2560}, {5, 64}, {130, 1000}, {33, 8640}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], k = shapes[s][1], m = 5;
        int8_t *t = malloc((size_t)n * k), *xq = malloc((size_t)m * k);
        for (int i = 0; i < n * k; i++)
            t[i] = (int8_t)rng_int(-1, 1);
        for (int i = 0; i < m * k; i++)
            xq[i] = (int8_t)rng_int(-128, 127);
        float xs[5], want[5 * 8640], got[5 * 8640];
        int32_t xsum[5];
        for (int i = 0; i < m; i++) {
            xs[i] = 127.0f / (0.5f + (float)i);
            xsum[i] = 0;
            for (int j = 0; j < k; j++)
                xsum[i] += xq[i * k + j];
        }
        bn_ternary_matrix w;
        CHECK_OK(bn_ternary_matrix_pack(&w, t, n, k, 0.71f, BN_ISA_NEON)); /* i2v16 */
        int kp = (int)w.cols_padded;
        int8_t *xp = calloc((size_t)m * kp, 1);
        for (int i = 0; i < m; i++)
            memcpy(xp + (size_t)i * kp, xq + (size_t)i * k, (size_t)k);
        bn_ternary_gemm_ref(t, 0.71f, n, k, xq, xs, m, want);
        void *dw = to_gpu(w.data, w.bytes), *dx = to_gpu(xp, (size_t)m * kp);
        void *ds = to_gpu(xs, sizeof xs), *dsum = to_gpu(xsum, sizeof xsum), *dy = NULL;
        CHECK_OK(bn_cuda_malloc(&dy, (size_t)m * n * sizeof(float)));
        for (int mm = 1; mm <= m; mm++) {
            CHECK_OK(bn_cuda_ternary_gemv(dw, n, kp, 0.71f, dx, ds, dsum, mm, dy, NULL));
            CHECK_OK(bn_cuda_copy_to_host(got, dy, (size_t)mm * n * sizeof(float)));
            CHECK(memcmp(got, want, (size_t)mm * n * sizeof(float)) == 0,
                  "gemv N=%d K=%d M=%d differs from the reference", n, k, mm);
        }
        void *d[] = {dw, dx, ds, dsum, dy};
        for (size_t i = 0; i < 5; i++)
            bn_cuda_free(d[i]);
        bn_ternary_matrix_free(&w);
        free(t), free(xq), free(xp);
    }
}

static void test_bitlinear_input(void) {
    const int m = 4, n = 2560, kp = 2560;
    float *x = malloc((size_t)m * n * sizeof(float)), norm[2560];
    for (int i = 0; i < m * n; i++)
        x[i] = (float)rng_int(-100000, 100000) * 1e-4f * (float)(1 + i / n);
    for (int i = 0; i < n; i++)
        norm[i] = 0.5f + (float)rng_int(0, 1000) * 1e-3f;
    float *dx = to_gpu(x, (size_t)m * n * sizeof(float)), *dn = to_gpu(norm, sizeof norm);
    void *dq = NULL, *ds = NULL, *dsum = NULL;
    CHECK_OK(bn_cuda_malloc(&dq, (size_t)m * kp));
    CHECK_OK(bn_cuda_malloc(&ds, (size_t)m * sizeof(float)));
    CHECK_OK(bn_cuda_malloc(&dsum, (size_t)m * sizeof(int32_t)));
    CHECK_OK(bn_cuda_bitlinear_input(dx, NULL, NULL, 0, dn, 1e-5f, m, n, kp, dq, ds, dsum, NULL));
    int8_t *q = malloc((size_t)m * kp), *want = malloc((size_t)n);
    float s[4];
    int32_t sum[4];
    CHECK_OK(bn_cuda_copy_to_host(q, dq, (size_t)m * kp));
    CHECK_OK(bn_cuda_copy_to_host(s, ds, sizeof s));
    CHECK_OK(bn_cuda_copy_to_host(sum, dsum, sizeof sum));
    float *row = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < m; r++) {
        bn_ref_rmsnorm(row, x + (size_t)r * n, norm, (size_t)n, 1e-5f);
        int32_t want_sum = 0;
        float want_s = bn_act_quant_row(row, n, want, &want_sum);
        int differ = 0, codes_sum = 0;
        for (int i = 0; i < n; i++) {
            differ += q[(size_t)r * kp + i] != want[i];
            codes_sum += q[(size_t)r * kp + i];
        }
        CHECK(fabsf(s[r] - want_s) <= 1e-6f * want_s, "row %d scale %g, CPU %g", r, s[r], want_s);
        CHECK(differ <= 2, "row %d: %d of %d codes differ from the CPU's", r, differ, n);
        CHECK(codes_sum == sum[r], "row %d: code sum %d, codes add to %d", r, sum[r], codes_sum);
    }
    void *d[] = {dx, dn, dq, ds, dsum};
    for (size_t i = 0; i < 5; i++)
        bn_cuda_free(d[i]);
    free(x), free(q), free(want), free(row);
}

/* Largest |a - b| against the largest |b|. */
static double rel_max(const float *a, const double *b, size_t n) {
    double d = 0.0, top = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        top = fmax(top, fabs(b[i]));
    }
    return top > 0 ? d / top : d;
}

/* Embedding rows (exact), the KV store (f16: the CPU's rounding exactly), RoPE (to 2 ulps-ish:
 * the GPU may fuse x0 c - x1 s), causal GQA attention of a batch over a cache (against double),
 * the f16 head (against double), on awkward sizes: head size 100, 6 query heads on 2 KV heads,
 * 3 sequences, rows at scattered positions. */
static void test_ops(void) {
    enum {
        DIM = 300,
        V = 37,
        M = 5,
        HD = 100,
        NH = 6,
        NKV = 2,
        NROT = 100,
        CTX = 64,
        SEQ = 3,
        LAYERS = 2
    };
    const int kv_dim = NKV * HD, layer = 1;
    /* embed */
    uint16_t table[V * DIM];
    float tf[V * DIM];
    for (int i = 0; i < V * DIM; i++)
        tf[i] = (float)rng_int(-30000, 30000) * 1e-4f;
    bn_f32_to_f16_row(tf, table, V * DIM);
    bn_f16_to_f32_row(table, tf, V * DIM);
    int32_t tokens[M] = {3, 0, 36, 3, 17};
    void *dt = to_gpu(table, sizeof table), *dtok = to_gpu(tokens, sizeof tokens), *dout = NULL;
    CHECK_OK(bn_cuda_malloc(&dout, (size_t)M * DIM * 4));
    CHECK_OK(bn_cuda_embed_f16(dt, dtok, M, DIM, dout, NULL));
    static float got[M * NH * HD * 4];
    CHECK_OK(bn_cuda_copy_to_host(got, dout, (size_t)M * DIM * 4));
    int bad = 0;
    for (int i = 0; i < M; i++)
        bad += memcmp(got + i * DIM, tf + tokens[i] * DIM, DIM * 4) != 0;
    CHECK(bad == 0, "embedding rows: %d differ", bad);

    /* head: logits of M rows against the f16 table */
    static double want[M * NH * HD];
    float xn[M * DIM];
    for (int i = 0; i < M * DIM; i++)
        xn[i] = (float)rng_int(-1000, 1000) * 1e-3f;
    void *dxn = to_gpu(xn, sizeof xn), *dlog = NULL;
    CHECK_OK(bn_cuda_malloc(&dlog, (size_t)M * V * 4));
    CHECK_OK(bn_cuda_head_f16(dt, V, DIM, dxn, M, dlog, NULL));
    CHECK_OK(bn_cuda_copy_to_host(got, dlog, (size_t)M * V * 4));
    for (int j = 0; j < M; j++)
        for (int v = 0; v < V; v++) {
            double acc = 0.0;
            for (int d = 0; d < DIM; d++)
                acc += (double)tf[v * DIM + d] * xn[j * DIM + d];
            want[j * V + v] = acc;
        }
    CHECK(rel_max(got, want, (size_t)M * V) < 1e-5, "head: %g", rel_max(got, want, M * V));

    /* a cache of SEQ sequences with random contents, then a batch of M rows stored into it */
    size_t cache_n = (size_t)SEQ * LAYERS * CTX * kv_dim;
    float *kc = malloc(cache_n * 4), *vc = malloc(cache_n * 4);
    for (size_t i = 0; i < cache_n; i++) {
        kc[i] = (float)rng_int(-1000, 1000) * 1e-3f;
        vc[i] = (float)rng_int(-1000, 1000) * 1e-3f;
    }
    int32_t seq[M] = {0, 2, 2, 1, 0}, pos[M] = {0, 7, 8, 63, 40};
    float q[M * NH * HD], k[M * NKV * HD], v[M * NKV * HD];
    for (int i = 0; i < M * NH * HD; i++)
        q[i] = (float)rng_int(-1000, 1000) * 1e-3f;
    for (int i = 0; i < M * kv_dim; i++) {
        k[i] = (float)rng_int(-1000, 1000) * 1e-3f;
        v[i] = (float)rng_int(-1000, 1000) * 1e-3f;
    }
    /* RoPE on the host reference and the GPU */
    float *rope = malloc((size_t)CTX * NROT * 4);
    for (int p = 0; p < CTX; p++)
        bn_rope_table(rope + p * NROT, NROT, (float)p, 10000.0f);
    float qr[M * NH * HD], kr[M * NKV * HD];
    memcpy(qr, q, sizeof q);
    memcpy(kr, k, sizeof k);
    for (int i = 0; i < M; i++) {
        bn_rope_neox_apply(qr + i * NH * HD, NH, HD, NROT, rope + pos[i] * NROT);
        bn_rope_neox_apply(kr + i * NKV * HD, NKV, HD, NROT, rope + pos[i] * NROT);
    }
    float *dq = to_gpu(q, sizeof q), *dk = to_gpu(k, sizeof k), *dv = to_gpu(v, sizeof v);
    void *drope = to_gpu(rope, (size_t)CTX * NROT * 4), *dseq = to_gpu(seq, sizeof seq);
    void *dpos = to_gpu(pos, sizeof pos);
    CHECK_OK(bn_cuda_rope_neox(dq, dk, drope, dpos, M, NH, NKV, HD, NROT, NULL));
    float qg[M * NH * HD], kg[M * NKV * HD];
    CHECK_OK(bn_cuda_copy_to_host(qg, dq, sizeof qg));
    CHECK_OK(bn_cuda_copy_to_host(kg, dk, sizeof kg));
    double qd[M * NH * HD], kd[M * NKV * HD];
    for (int i = 0; i < M * NH * HD; i++)
        qd[i] = qr[i];
    for (int i = 0; i < M * kv_dim; i++)
        kd[i] = kr[i];
    CHECK(rel_max(qg, qd, M * NH * HD) < 1e-6 && rel_max(kg, kd, M * kv_dim) < 1e-6,
          "rope: q %g, k %g", rel_max(qg, qd, M * NH * HD), rel_max(kg, kd, M * kv_dim));

    for (int f16 = 0; f16 <= 1; f16++) {
        /* the cache as the GPU holds it (f16: the CPU's rounding), the batch's rows stored */
        size_t elt = f16 ? 2 : 4;
        void *host = malloc(cache_n * elt), *hostv = malloc(cache_n * elt);
        if (f16) {
            bn_f32_to_f16_row(kc, host, cache_n);
            bn_f32_to_f16_row(vc, hostv, cache_n);
        } else {
            memcpy(host, kc, cache_n * 4);
            memcpy(hostv, vc, cache_n * 4);
        }
        void *dkc = to_gpu(host, cache_n * elt), *dvc = to_gpu(hostv, cache_n * elt);
        CHECK_OK(bn_cuda_kv_store(dk, dv, dkc, dvc, f16, dseq, dpos, M, layer, LAYERS, CTX, kv_dim,
                                  NULL));
        /* the host's copy of the same store */
        float *kh = malloc(cache_n * 4), *vh = malloc(cache_n * 4);
        memcpy(kh, kc, cache_n * 4);
        memcpy(vh, vc, cache_n * 4);
        for (int i = 0; i < M; i++) {
            size_t at = (((size_t)seq[i] * LAYERS + layer) * CTX + pos[i]) * kv_dim;
            memcpy(kh + at, kr + i * kv_dim, kv_dim * 4);
            memcpy(vh + at, v + i * kv_dim, kv_dim * 4);
        }
        void *back = malloc(cache_n * elt), *want_bytes = malloc(cache_n * elt);
        CHECK_OK(bn_cuda_copy_to_host(back, dkc, cache_n * elt));
        if (f16)
            bn_f32_to_f16_row(kh, want_bytes, cache_n);
        else
            memcpy(want_bytes, kh, cache_n * 4);
        /* rope's last bits may differ, so compare the stored rows to the GPU's own k */
        if (f16) {
            bn_f16_to_f32_row(back, kh, cache_n);
            bn_f16_to_f32_row(want_bytes, vh, cache_n); /* reuse vh as scratch */
        }
        int differ = 0;
        for (size_t i = 0; i < cache_n; i++) {
            float a = f16 ? kh[i] : ((float *)back)[i], b = f16 ? vh[i] : ((float *)want_bytes)[i];
            differ += fabsf(a - b) > 1e-3f * (fabsf(b) + 1e-3f);
        }
        CHECK(differ == 0, "kv store (%s): %d values differ", f16 ? "f16" : "f32", differ);
        /* attention against double, from the cache the GPU holds: every row over its own
         * sequence's positions 0..pos */
        float *scores = NULL, *dout2 = NULL;
        CHECK_OK(bn_cuda_malloc((void **)&scores, (size_t)M * NH * CTX * 4));
        CHECK_OK(bn_cuda_malloc((void **)&dout2, (size_t)M * NH * HD * 4));
        float scale = 1.0f / sqrtf((float)HD);
        CHECK_OK(bn_cuda_attention(dq, dkc, dvc, f16, dseq, dpos, M, layer, LAYERS, CTX, NH, NKV,
                                   HD, scale, scores, dout2, NULL));
        CHECK_OK(bn_cuda_copy_to_host(got, dout2, (size_t)M * NH * HD * 4));
        float *kf = malloc(cache_n * 4), *vf = malloc(cache_n * 4);
        CHECK_OK(bn_cuda_copy_to_host(back, dkc, cache_n * elt));
        if (f16)
            bn_f16_to_f32_row(back, kf, cache_n);
        else
            memcpy(kf, back, cache_n * 4);
        CHECK_OK(bn_cuda_copy_to_host(back, dvc, cache_n * elt));
        if (f16)
            bn_f16_to_f32_row(back, vf, cache_n);
        else
            memcpy(vf, back, cache_n * 4);
        for (int i = 0; i < M; i++)
            for (int h = 0; h < NH; h++) {
                int g = h / (NH / NKV);
                size_t base = ((size_t)seq[i] * LAYERS + layer) * CTX * kv_dim + (size_t)g * HD;
                double sc[CTX], top = -1e300, sum = 0.0;
                for (int t = 0; t <= pos[i]; t++) {
                    double dot = 0.0;
                    for (int d = 0; d < HD; d++)
                        dot +=
                            (double)qg[(i * NH + h) * HD + d] * kf[base + (size_t)t * kv_dim + d];
                    sc[t] = dot * scale;
                    top = fmax(top, sc[t]);
                }
                for (int t = 0; t <= pos[i]; t++)
                    sum += sc[t] = exp(sc[t] - top);
                for (int d = 0; d < HD; d++) {
                    double acc = 0.0;
                    for (int t = 0; t <= pos[i]; t++)
                        acc += sc[t] * vf[base + (size_t)t * kv_dim + d];
                    want[(i * NH + h) * HD + d] = acc / sum;
                }
            }
        double e = rel_max(got, want, (size_t)M * NH * HD);
        CHECK(e < 1e-5, "attention (%s cache): %g against double", f16 ? "f16" : "f32", e);
        void *d[] = {dkc, dvc, scores, dout2};
        for (size_t i = 0; i < 4; i++)
            bn_cuda_free(d[i]);
        free(host), free(hostv), free(kh), free(vh), free(back), free(want_bytes), free(kf),
            free(vf);
    }
    void *d[] = {dt, dtok, dout, dxn, dlog, dq, dk, dv, drope, dseq, dpos};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        bn_cuda_free(d[i]);
    free(kc), free(vc), free(rope);
}

static void test_model(void) {
    bn_model *cpu = NULL, *gpu = NULL;
    bn_model_params p = bn_model_default_params();
    p.n_threads = 2;
    CHECK_OK(bn_model_load(&cpu, MODEL, &p));
    p.device = BN_DEVICE_CUDA;
    CHECK_OK(bn_model_load(&gpu, MODEL, &p));
    if (cpu == NULL || gpu == NULL)
        return;
    bn_model_info info;
    CHECK_OK(bn_model_get_info(gpu, &info));
    CHECK(strcmp(info.device, "cuda") == 0, "the model runs on %s", info.device);
    int V = info.n_vocab;
    bn_context_params cp = bn_context_default_params();
    cp.kv_type = BN_KV_F32;
    cp.n_ctx = 256;
    bn_context *cc = NULL, *gc = NULL;
    CHECK_OK(bn_context_create(&cc, cpu, &cp));
    CHECK_OK(bn_context_create(&gc, gpu, &cp));
    int32_t prompt[40];
    for (int i = 0; i < 40; i++)
        prompt[i] = 1 + (int32_t)rng_int(0, V - 2);
    float *lc = malloc((size_t)40 * V * sizeof(float)),
          *lg = malloc((size_t)40 * V * sizeof(float));
    CHECK_OK(bn_context_eval(cc, prompt, 40, lc, true));
    CHECK_OK(bn_context_eval(gc, prompt, 40, lg, true));
    double worst = bn_test_rel_l2(lg, lc, (size_t)40 * V);
    printf("prompt of 40 tokens, every position's logits: relative L2 %.3g against the CPU\n",
           worst);
    CHECK(worst <= 1e-3, "prompt logits: relative L2 %g (at most 1e-3)", worst);
    /* 32 greedy steps, each side on its own tokens: the same tokens throughout */
    int32_t tc = bn_argmax(lc + (size_t)39 * V, V), tg = bn_argmax(lg + (size_t)39 * V, V);
    double step_worst = 0.0;
    for (int step = 0; step < 32 && tc == tg; step++) {
        CHECK_OK(bn_context_eval(cc, &tc, 1, lc, false));
        CHECK_OK(bn_context_eval(gc, &tg, 1, lg, false));
        double d = bn_test_rel_l2(lg, lc, (size_t)V);
        step_worst = d > step_worst ? d : step_worst;
        CHECK(d <= 1e-3, "step %d: relative L2 %g", step, d);
        tc = bn_argmax(lc, V);
        tg = bn_argmax(lg, V);
        CHECK(tc == tg, "step %d: greedy token %d on the GPU, %d on the CPU", step, tg, tc);
    }
    printf("32 greedy steps: the same tokens; worst relative L2 of a step %.3g\n", step_worst);
    int32_t bad = V;
    CHECK(bn_context_eval(gc, &bad, 1, lg, false) == BN_ERR_RANGE, "token outside the vocabulary");
    bn_context_free(cc);
    bn_context_free(gc);
    bn_model_free(cpu);
    bn_model_free(gpu);
    free(lc), free(lg);
}

int main(void) {
    bn_test_rng_state = TEST_SEED;
    int count = 0;
    if (!bn_cuda_compiled() || bn_cuda_device_count(&count, NULL) != BN_OK || count == 0) {
        /* without a GPU the CUDA device is refused by name, never run elsewhere */
        bn_model *m = NULL;
        bn_model_params p = bn_model_default_params();
        p.device = BN_DEVICE_CUDA;
        CHECK(bn_model_load(&m, MODEL, &p) != BN_OK && m == NULL &&
                  (strstr(bn_last_error(), "cuda") || strstr(bn_last_error(), "CUDA")),
              "cuda without a GPU refused: %s", bn_last_error());
        p.device = BN_DEVICE_AUTO;
        CHECK_OK(bn_model_load(&m, MODEL, &p));
        bn_model_info info;
        if (m != NULL) {
            CHECK_OK(bn_model_get_info(m, &info));
            CHECK(strcmp(info.device, "cpu") == 0, "auto falls back to the CPU: %s", info.device);
        }
        bn_model_free(m);
        if (bn_test_failures)
            return bn_test_finish("test_cuda_forward");
        return bn_test_skip("test_cuda_forward", "no GPU");
    }
    test_gemv();
    test_bitlinear_input();
    test_ops();
    test_model();
    return bn_test_finish("test_cuda_forward");
}
