/*
 * test_forward.c - the forward pass against PyTorch + transformers on the tiny BitNet model
 * (tests/fixtures/tiny-reference, made by scripts/make_tiny_reference.py in float32 on a CPU):
 * last-position logits of several prompts (same argmax always; relative L2 <= 1e-3 for all but
 * one), every position of a ~200-token prompt (same top-1 at >= 97 % of positions), the hidden
 * states after each layer (so a failure points at the layer), the bf16 master variant, and
 * greedy generation with the KV cache against recomputation.
 *
 * The thresholds are what the engine reaches today, kept as a regression guard; issue 7 asks
 * for 1e-3 on every prompt and 98 %: where we differ, the logits are bit-identical up to some
 * position and then an int8 code of an activation flips (a float rounding difference upstream
 * of the quantization), which moves this tiny random model's logits by about 1 %.
 */
#include "test.h"

#include "model/convert.h"
#include "model/forward.h"
#include "model/perplexity.h"
#include "tensor/ops_ref.h"
#include "tools/json_spec.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REF BN_SOURCE_DIR "/tests/fixtures/tiny-reference"
#define HF  BN_SOURCE_DIR "/tests/fixtures/tiny-bitnet-hf"

enum { MAX_PROMPTS = 16 };

/* Comparisons with transformers use its precision: an f32 KV cache. */
static const bn_context_params exact = {.n_ctx = 0, .n_threads = 2, .kv_type = BN_KV_F32};

/* A float32 .npy file: data and element count (shape checked by the caller's counts). */
static float *read_npy(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char head[10];
    float *data = NULL;
    if (fread(head, 1, 10, f) == 10 && memcmp(head, "\x93NUMPY", 6) == 0) {
        long hlen = head[8] | head[9] << 8;
        fseek(f, 0, SEEK_END);
        long size = ftell(f) - 10 - hlen;
        fseek(f, 10 + hlen, SEEK_SET);
        *count = (size_t)size / sizeof(float);
        data = malloc((size_t)size);
        if (data != NULL && fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

static cJSON *read_json(const char *path) {
    size_t n = 0;
    char *text = spec_read_file(path, &n);
    cJSON *root = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    return root;
}

static int json_ids(const cJSON *arr, int32_t *ids, int cap) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (n < cap) ids[n++] = (int32_t)e->valuedouble;
    return n;
}

/* Two kinds of reference (scripts/make_tiny_reference.py, make_tiny_reference_f64.py):
 * transformers in float32, and the same model computed in float64, the exact answer of the
 * quantized network. An int8 activation code whose value lands within float32 rounding of a .5
 * boundary can flip in one float32 implementation and not in another, and each flip moves the
 * logits of its position and every later one. Transformers' float32 run flips on prompt 4
 * (1.2e-2 from exact) and at 5 of the 213 long-prompt positions; ours agrees with the exact
 * logits to ~3e-7 and at all 213. So we are held tightly to the exact answer, and to
 * transformers no farther than transformers itself is from exact (plus 1e-3). */

/* Last-position logits of each prompt, from a fresh context, against want[prompt][vocab],
 * each within tol[prompt] relative L2 and with the same argmax. */
static void check_prompts(const bn_model *m, const cJSON *prompts, const float *want, size_t count,
                          const double *tol, const char *what) {
    int vocab = m->cfg.n_vocab, i = 0;
    float *logits = malloc((size_t)vocab * sizeof(float));
    bn_context *c = NULL;
    CHECK_OK(bn_context_create(&c, m, &exact));
    const cJSON *p;
    cJSON_ArrayForEach(p, prompts) {
        int32_t ids[512];
        int n = json_ids(cJSON_GetObjectItem(p, "ids"), ids, 512);
        CHECK((size_t)(i + 1) * vocab <= count, "%s: reference has prompt %d", what, i);
        if ((size_t)(i + 1) * vocab > count || i >= MAX_PROMPTS)
            break;
        bn_context_reset(c);
        CHECK_OK(bn_context_eval(c, ids, n, logits, false));
        const float *w = want + (size_t)i * vocab;
        double err = bn_test_rel_l2(logits, w, (size_t)vocab);
        CHECK(err <= tol[i], "%s prompt %d (%d tokens): relative L2 %.3g > %.3g", what, i, n, err,
              tol[i]);
        printf("%s prompt %d (%d tokens): relative L2 %.3g\n", what, i, n, err);
        CHECK(bn_ref_argmax(logits, (size_t)vocab) == bn_ref_argmax(w, (size_t)vocab),
              "%s prompt %d: argmax", what, i);
        i++;
    }
    bn_context_free(c);
    free(logits);
}

static int top1_agree(const float *a, const float *b, int n, int vocab) {
    int same = 0;
    for (int t = 0; t < n; t++)
        same += bn_ref_argmax(a + (size_t)t * vocab, vocab) ==
                bn_ref_argmax(b + (size_t)t * vocab, vocab);
    return same;
}

/* Every position of the ~200-token prompt: top-1 against the exact logits at >= 98% (the
 * issue's bar; we reach 100%), and against transformers' at least as often as transformers
 * agrees with the exact ones. */
static void check_long(const bn_model *m, const cJSON *ref) {
    const cJSON *lng = cJSON_GetObjectItem(ref, "long");
    int32_t ids[1024];
    int n = json_ids(cJSON_GetObjectItem(lng, "ids"), ids, 1024), vocab = m->cfg.n_vocab;
    size_t count = 0, count64 = 0;
    float *tf = read_npy(REF "/all_logits.npy", &count);
    float *exact64 = read_npy(REF "/all_logits_f64.npy", &count64);
    bool ok = tf != NULL && exact64 != NULL && count == (size_t)n * vocab && count64 == count;
    CHECK(ok, "all_logits.npy and all_logits_f64.npy are [%d, %d]", n, vocab);
    float *got = ok ? malloc(count * sizeof(float)) : NULL;
    bn_context *c = NULL;
    if (ok)
        CHECK_OK(bn_context_create(&c, m, &exact));
    if (c != NULL && got != NULL) {
        CHECK_OK(bn_context_eval(c, ids, n, got, true));
        int vs_exact = top1_agree(got, exact64, n, vocab), vs_tf = top1_agree(got, tf, n, vocab);
        int tf_exact = top1_agree(tf, exact64, n, vocab);
        CHECK(vs_exact >= 0.98 * n, "long prompt: top-1 agrees with exact at %d of %d", vs_exact,
              n);
        CHECK(vs_tf >= tf_exact,
              "long prompt: top-1 agrees with transformers at %d of %d, "
              "transformers with exact at %d",
              vs_tf, n, tf_exact);
        printf("long prompt: %d tokens, top-1 agrees with exact at %d (relative L2 %.3g), with "
               "transformers at %d (%.3g); transformers with exact at %d\n",
               n, vs_exact, bn_test_rel_l2(got, exact64, count), vs_tf,
               bn_test_rel_l2(got, tf, count), tf_exact);
    }
    bn_context_free(c);
    free(got);
    free(tf);
    free(exact64);
}

/* transformers' greedy continuations (greedy.json: generate with its cache, and each step
 * recomputed from scratch; they agree): ours, one argmax and one decode step at a time through
 * the cache, must be the same tokens. The reference's smallest top-1 margin is 0.13 logits,
 * thousands of times our distance from it, so an exact match is the right bar. */
static void check_greedy(const bn_model *m) {
    cJSON *g = read_json(REF "/greedy.json");
    CHECK(g != NULL, "greedy.json");
    const cJSON *run;
    int runs = 0, vocab = m->cfg.n_vocab;
    float *logits = malloc((size_t)vocab * sizeof(float));
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(g, "runs")) {
        int32_t prompt[512], want[64];
        int n = json_ids(cJSON_GetObjectItem(run, "prompt_ids"), prompt, 512);
        int k = json_ids(cJSON_GetObjectItem(run, "recomputed"), want, 64);
        bn_context *c = NULL;
        CHECK_OK(bn_context_create(&c, m, &exact));
        if (c == NULL)
            break;
        CHECK_OK(bn_context_eval(c, prompt, n, logits, false));
        int same = 0;
        for (int i = 0; i < k; i++) {
            int32_t tok = (int32_t)bn_ref_argmax(logits, (size_t)vocab);
            same += tok == want[i];
            if (tok != want[i] || bn_context_eval(c, &tok, 1, logits, false) != BN_OK)
                break;
        }
        CHECK(same == k && k > 0, "greedy run %d: %d of %d tokens as transformers", runs, same, k);
        bn_context_free(c);
        runs++;
    }
    CHECK(runs >= 2, "greedy.json holds %d runs", runs);
    free(logits);
    cJSON_Delete(g);
}

/* Perplexity against an independent reference: the NLLs of the long prompt's second half
 * computed here from the exact logits (all_logits_f64.npy, the float64 model), against
 * bn_perplexity_window on the same tokens. The tolerance is the one the CLI test explains
 * (0.01 nats on a mean NLL of ~47, which exp() magnifies). */
static void check_perplexity(const bn_model *m, const cJSON *ref) {
    int32_t ids[1024];
    int n = json_ids(cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "long"), "ids"), ids, 1024);
    int vocab = m->cfg.n_vocab;
    size_t count = 0;
    float *exact64 = read_npy(REF "/all_logits_f64.npy", &count);
    bn_context *c = NULL;
    CHECK_OK(bn_context_create(&c, m, &exact));
    float *half = malloc((size_t)n * vocab * sizeof(float));
    if (exact64 == NULL || c == NULL || count != (size_t)n * vocab) {
        CHECK(false, "perplexity reference");
    } else {
        bn_nll_stats want = {0}, got = {0};
        for (int j = n / 2; j < n - 1; j++) { /* logsumexp(row) - row[next], in double */
            const float *row = exact64 + (size_t)j * vocab;
            double mx = row[0], sum = 0;
            for (int v = 1; v < vocab; v++)
                mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < vocab; v++)
                sum += exp(row[v] - mx);
            bn_nll_stats_add(&want, mx + log(sum) - row[ids[j + 1]]);
        }
        CHECK_OK(bn_perplexity_window(c, vocab, ids, n, half, &got));
        CHECK(got.n == want.n && fabs(got.mean - want.mean) < 0.01,
              "window of %d: mean NLL %.6f, exact %.6f (%lld and %lld tokens)", n, got.mean,
              want.mean, (long long)got.n, (long long)want.n);
    }
    free(half);
    free(exact64);
    bn_context_free(c);
}

/* The hidden states of prompt `index` (hidden.npy): embeddings, the residual stream after layer
 * 0, and the final RMSNorm of the output of the last layer, so a failure points at a layer. */
static void check_hidden(const bn_model *m, const cJSON *ref) {
    const cJSON *h = cJSON_GetObjectItem(ref, "hidden");
    int index = (int)cJSON_GetObjectItem(h, "prompt_index")->valuedouble, dim = m->cfg.dim;
    int32_t ids[512];
    int n = json_ids(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "prompts"), index), "ids"),
        ids, 512);
    int slots = m->cfg.n_layers + 1;
    size_t count = 0, per = (size_t)n * dim;
    float *want = read_npy(REF "/hidden.npy", &count);
    CHECK(want != NULL && count == (size_t)slots * per, "hidden.npy is [%d, %d, %d]", slots, n,
          dim);
    if (want == NULL || count != (size_t)slots * per) {
        free(want);
        return;
    }
    float *trace = calloc(count, sizeof(float));
    bn_context *c = NULL;
    CHECK_OK(bn_context_create(&c, m, &exact));
    bn_context_trace(c, trace, n);
    CHECK_OK(bn_context_eval(c, ids, n, NULL, false));
    float *last = trace + (size_t)(slots - 1) * per; /* transformers' last slice is normed */
    for (int t = 0; t < n; t++)
        bn_ref_rmsnorm(last + (size_t)t * dim, last + (size_t)t * dim, m->output_norm, (size_t)dim,
                       m->cfg.eps);
    for (int s = 0; s < slots; s++) { /* per position: an int8 flip stays at its position */
        int close = 0;
        for (int t = 0; t < n; t++) {
            size_t at = (size_t)s * per + (size_t)t * dim;
            double err = bn_test_rel_l2(trace + at, want + at, (size_t)dim);
            close += err <= 1e-5;
            CHECK(err <= 1e-2, "hidden slot %d position %d: relative L2 %.3g", s, t, err);
        }
        CHECK(close >= n - 1, "hidden slot %d (%s): %d of %d positions within 1e-5", s,
              s == 0          ? "embeddings"
              : s + 1 < slots ? "after a layer"
                              : "final norm",
              close, n);
        printf("hidden slot %d: %d of %d positions within 1e-5\n", s, close, n);
    }
    bn_context_free(c);
    free(trace);
    free(want);
}

/* Greedy decoding with the cache equals recomputing the whole sequence each step, to the bit:
 * the batched prefill and the one-token decode run the same arithmetic. */
static void check_cache(const bn_model *m, const int32_t *prompt, int n,
                        const bn_context_params *p) {
    int vocab = m->cfg.n_vocab, steps = 16;
    float *logits = malloc((size_t)vocab * sizeof(float));
    int32_t seq[600];
    memcpy(seq, prompt, (size_t)n * sizeof *seq);
    bn_context *cached = NULL, *fresh = NULL;
    CHECK_OK(bn_context_create(&cached, m, p));
    CHECK_OK(bn_context_create(&fresh, m, p));
    CHECK_OK(bn_context_eval(cached, seq, n, logits, false));
    for (int s = 0; s < steps; s++) {
        int32_t next = (int32_t)bn_ref_argmax(logits, (size_t)vocab);
        bn_context_reset(fresh);
        float *again = malloc((size_t)vocab * sizeof(float));
        CHECK_OK(bn_context_eval(fresh, seq, n + s, again, false));
        CHECK(memcmp(again, logits, (size_t)vocab * sizeof(float)) == 0,
              "step %d (kv %s): cached logits differ from recomputed ones", s,
              p->kv_type == BN_KV_F16 ? "f16" : "f32");
        free(again);
        seq[n + s] = next;
        CHECK_OK(bn_context_eval(cached, &next, 1, logits, false));
    }
    bn_context_free(cached);
    bn_context_free(fresh);
    free(logits);
}

static void last_logits(const bn_model *m, const bn_context_params *p, const int32_t *ids, int n,
                        float *out) {
    bn_context *c = NULL;
    CHECK_OK(bn_context_create(&c, m, p));
    if (c != NULL)
        CHECK_OK(bn_context_eval(c, ids, n, out, false));
    bn_context_free(c);
}

/* The generation settings (f16 cache, q8_0 head) stay close to the exact ones: f16 keys and
 * values and 8-bit head rows each cost a fraction of a percent. */
static void check_q8_head(bn_model *m, const int32_t *ids, int n) {
    size_t vocab = (size_t)m->cfg.n_vocab;
    float *want = calloc(vocab, sizeof(float)), *got = calloc(vocab, sizeof(float));
    last_logits(m, &exact, ids, n, want);
    bn_context_params fast = exact;
    fast.kv_type = BN_KV_F16;
    CHECK_OK(bn_model_set_head_type(m, BN_DTYPE_Q8_0, 0));
    CHECK(m->head_type == BN_DTYPE_Q8_0 && m->embed_type == BN_DTYPE_BF16, "head q8_0, embed bf16");
    last_logits(m, &fast, ids, n, got);
    double e = bn_test_rel_l2(got, want, vocab);
    CHECK(e < 2e-2 && e > 0.0, "q8_0 head + f16 cache: relative L2 %.3g", e);
    CHECK(bn_ref_argmax(got, vocab) == bn_ref_argmax(want, vocab), "q8_0 head: argmax");
    CHECK(bn_model_set_head_type(m, BN_DTYPE_F16, 0) == BN_ERR_UNSUPPORTED, "q8_0 -> f16 refused");
    CHECK(bn_model_set_head_type(m, BN_DTYPE_Q5_K, 0) == BN_ERR_UNSUPPORTED, "q5_k refused");
    printf("q8_0 head + f16 KV cache vs exact: relative L2 %.3g\n", e);
    free(want);
    free(got);
}

/* Leaner heads asked at load (head_type "q6_k", "q4_k": the hidden size, 256, holds their
 * blocks) run the k-quant kernels, a little further from the exact logits than q8_0 and
 * ordered by their bits; a hidden size they do not divide would get q8_0 instead. */
static void check_kq_heads(const bn_model *exact_model, const int32_t *ids, int n) {
    size_t vocab = (size_t)exact_model->cfg.n_vocab;
    float *want = calloc(vocab, sizeof(float)), *got = calloc(vocab, sizeof(float));
    last_logits(exact_model, &exact, ids, n, want);
    const char *names[] = {"q8_0", "q6_k", "q4_k"};
    const bn_dtype types[] = {BN_DTYPE_Q8_0, BN_DTYPE_Q6_K, BN_DTYPE_Q4_K};
    double err[3] = {0};
    for (int i = 0; i < 3; i++) {
        bn_model_params mp = bn_model_default_params();
        mp.head_type = names[i];
        bn_model *m = NULL;
        CHECK_OK(bn_model_load(&m, HF, &mp));
        if (m == NULL)
            continue;
        CHECK(m->head_type == types[i], "head_type %s: the head runs as %s", names[i],
              bn_dtype_name(m->head_type));
        bn_context_params p = exact;
        p.float_head = false;
        last_logits(m, &p, ids, n, got);
        err[i] = bn_test_rel_l2(got, want, vocab);
        CHECK(bn_ref_argmax(got, vocab) == bn_ref_argmax(want, vocab), "%s head: argmax", names[i]);
        bn_model_free(m);
    }
    CHECK(err[0] > 0 && err[0] < err[1] && err[1] < err[2] && err[2] < 0.1,
          "head errors by bits: q8_0 %.3g < q6_k %.3g < q4_k %.3g", err[0], err[1], err[2]);
    printf("heads vs exact (relative L2 of the logits): q8_0 %.3g, q6_k %.3g, q4_k %.3g\n", err[0],
           err[1], err[2]);
    free(want);
    free(got);
}

/* The same ternary values and scales give the same logits, bit for bit, whatever file they come
 * from: the HF folder or our GGUF in each ternary type. (The bf16 master folder quantizes to
 * the same codes but its scales are its own float means, not the packed folder's bf16 ones:
 * it is held to transformers' run of it instead, below.) */
static void check_same_logits(const bn_model *a, const char *path, const int32_t *ids, int n,
                              const char *what) {
    bn_model *b = NULL;
    CHECK_OK(bn_model_load(&b, path, NULL));
    if (b == NULL)
        return;
    size_t vocab = (size_t)a->cfg.n_vocab;
    float *la = calloc(vocab, sizeof(float)), *lb = calloc(vocab, sizeof(float));
    last_logits(a, &exact, ids, n, la);
    last_logits(b, &exact, ids, n, lb);
    CHECK(memcmp(la, lb, vocab * sizeof(float)) == 0, "%s: logits differ from the HF folder's",
          what);
    free(la);
    free(lb);
    bn_model_free(b);
}

static void check_sources(const bn_model *m, const int32_t *ids, int n) {
    const bn_dtype types[] = {BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0, BN_DTYPE_I2_S};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char path[] = "/tmp/bitnet-test-forward-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0, "temporary file");
        if (fd < 0)
            return;
        close(fd);
        bn_convert_options opt = {.type = types[i], .embed_type = BN_DTYPE_F32};
        CHECK_OK(bn_convert_hf_to_gguf(HF, path, &opt, NULL));
        check_same_logits(m, path, ids, n, bn_dtype_name(types[i]));
        unlink(path);
    }
}

int main(void) {
    cJSON *ref = read_json(REF "/prompts.json");
    if (ref == NULL)
        return bn_test_skip("test_forward", "no " REF "/prompts.json");
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, HF, NULL));
    if (m == NULL)
        return bn_test_finish("test_forward");
    const cJSON *prompts = cJSON_GetObjectItem(ref, "prompts");
    size_t count = 0, count64 = 0;
    float *want = read_npy(REF "/last_logits.npy", &count);
    float *want64 = read_npy(REF "/last_logits_f64.npy", &count64);
    CHECK(want != NULL && want64 != NULL && count == count64, "last_logits(_f64).npy");
    double tol_exact[MAX_PROMPTS], tol_tf[MAX_PROMPTS];
    for (int i = 0; want != NULL && want64 != NULL && i < MAX_PROMPTS; i++) {
        size_t at = (size_t)i * m->cfg.n_vocab;
        tol_exact[i] = 1e-5;
        tol_tf[i] =
            at < count ? bn_test_rel_l2(want + at, want64 + at, (size_t)m->cfg.n_vocab) + 1e-3 : 0;
    }
    if (want != NULL && want64 != NULL) {
        check_prompts(m, prompts, want64, count64, tol_exact, "packed HF folder vs exact");
        check_prompts(m, prompts, want, count, tol_tf, "packed HF folder vs transformers");
    }
    free(want);
    free(want64);
    check_long(m, ref);
    check_hidden(m, ref);
    check_greedy(m);
    check_perplexity(m, ref);
    int32_t ids[512];
    int n = json_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(prompts, 2), "ids"), ids, 512);
    check_cache(m, ids, n, &exact);
    bn_context_params half = exact;
    half.kv_type = BN_KV_F16;
    check_cache(m, ids, n, &half);
    check_sources(m, ids, n);
    check_kq_heads(m, ids, n);
    check_q8_head(m, ids, n);
    bn_model_free(m);

    CHECK_OK(bn_model_load(&m, BN_SOURCE_DIR "/tests/fixtures/tiny-bitnet-hf-bf16", NULL));
    want = read_npy(REF "/bf16_last_logits.npy", &count);
    if (m != NULL && want != NULL)
        check_prompts(m, prompts, want, count, tol_tf, "bf16 master folder vs transformers");
    free(want);
    bn_model_free(m);
    cJSON_Delete(ref);
    return bn_test_finish("test_forward");
}
