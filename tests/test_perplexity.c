/*
 * test_perplexity.c - the perplexity math (src/model/perplexity.h): the NLL of a row against
 * values worked out by hand, stability with large logits, the running mean and standard error
 * against a two-pass computation, and one scored window on the tiny model against the NLLs of
 * a plain all-logits evaluation. The CLI test (tests/cli/perplexity.sh) checks the whole
 * command against Python over our and transformers' logits.
 */
#include "test.h"

#include "base/cpu.h"
#include "model/perplexity.h"

#include <math.h>
#include <stdlib.h>

#define HF BN_SOURCE_DIR "/tests/fixtures/tiny-bitnet-hf"

static void test_nll_row(void) {
    /* Equal logits: p = 1/4 for every token. */
    float flat[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    CHECK_NEAR(bn_nll_row(flat, 4, 2), log(4.0), 1e-12, "uniform over 4");
    /* logits (0, ln 3): p = (1/4, 3/4). */
    float two[2] = {0.0f, (float)log(3.0)};
    CHECK_NEAR(bn_nll_row(two, 2, 0), log(4.0), 1e-7, "p = 1/4");
    CHECK_NEAR(bn_nll_row(two, 2, 1), log(4.0 / 3.0), 1e-7, "p = 3/4");
    /* exp(1000) overflows a double: the maximum must come out first. */
    float big[3] = {1000.0f, 1000.0f, -1000.0f};
    CHECK_NEAR(bn_nll_row(big, 3, 0), log(2.0), 1e-12, "large logits");
    CHECK_NEAR(bn_nll_row(big, 3, 2), 2000.0 + log(2.0), 1e-9, "a token 2000 nats down");
    /* A masked token costs nothing in the sum and cannot be the answer. */
    float masked[3] = {0.0f, -INFINITY, 0.0f};
    CHECK_NEAR(bn_nll_row(masked, 3, 0), log(2.0), 1e-12, "masked token left out");
    CHECK(isinf(bn_nll_row(masked, 3, 1)), "the masked token's NLL is infinite");
}

static void test_stats(void) {
    bn_nll_stats s = {0};
    CHECK(isnan(bn_nll_stats_stderr(&s)), "no tokens: no standard error");
    bn_nll_stats_add(&s, 2.0);
    CHECK(s.n == 1 && s.mean == 2.0 && isnan(bn_nll_stats_stderr(&s)), "one token");
    /* Large, close values: sum-of-squares would lose the variance to cancellation. */
    double x[6] = {46.1, 46.3, 45.9, 46.0, 46.4, 46.2}, sum = 0, dev = 0;
    bn_nll_stats t = {0};
    for (int i = 0; i < 6; i++) {
        bn_nll_stats_add(&t, x[i]);
        sum += x[i];
    }
    double mean = sum / 6;
    for (int i = 0; i < 6; i++)
        dev += (x[i] - mean) * (x[i] - mean);
    double se = sqrt(dev / 5 / 6);
    CHECK(t.n == 6, "count");
    CHECK_NEAR(t.mean, mean, 1e-12, "mean");
    CHECK_NEAR(bn_nll_stats_stderr(&t), se, 1e-12, "standard error = sample sd / sqrt(n)");
    CHECK_NEAR(bn_nll_stats_ppl(&t) / exp(mean), 1.0, 1e-12, "ppl = exp(mean)");
    CHECK_NEAR(bn_nll_stats_ppl_err(&t) / (exp(mean) * se), 1.0, 1e-12, "ppl error");
}

/* A window scored by bn_perplexity_window equals the NLLs of one all-logits evaluation. */
static void test_window(void) {
    bn_model *m = NULL;
    bn_context *c = NULL;
    CHECK_OK(bn_model_load(&m, HF, NULL));
    if (m == NULL)
        return;
    bn_context_params cp = {.n_ctx = 64, .n_threads = 2, .kv_type = BN_KV_F32};
    CHECK_OK(bn_context_create(&c, m, &cp));
    int n = 41, v = m->cfg.n_vocab;
    int32_t tokens[41];
    for (int i = 0; i < n; i++)
        tokens[i] = (int32_t)((i * 37 + 11) % v);
    float *all = malloc((size_t)n * (size_t)v * sizeof(float));
    float *half = malloc((size_t)(n - n / 2) * (size_t)v * sizeof(float));
    CHECK_OK(bn_context_eval(c, tokens, n, all, true));
    bn_nll_stats want = {0}, got = {0};
    for (int j = n / 2; j < n - 1; j++)
        bn_nll_stats_add(&want, bn_nll_row(all + (size_t)j * (size_t)v, v, tokens[j + 1]));
    CHECK_OK(bn_perplexity_window(c, v, tokens, n, half, &got)); /* resets the cache itself */
    CHECK(got.n == n - 1 - n / 2, "scored %lld tokens, want %d", (long long)got.n, n - 1 - n / 2);
    CHECK_NEAR(got.mean, want.mean, 1e-9, "window mean NLL");
    CHECK_NEAR(got.m2, want.m2, 1e-6, "window spread");
    CHECK(bn_perplexity_window(c, v, tokens, 2, half, &got) == BN_ERR_INVALID_ARG,
          "a window of 2 scores nothing");
    free(all);
    free(half);
    bn_context_free(c);
    bn_model_free(m);
}

int main(void) {
    test_nll_row();
    test_stats();
    test_window();
    return bn_test_finish("test_perplexity");
}
