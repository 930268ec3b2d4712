/*
 * perplexity.c - NLL of a token, running mean and standard error, one scored window
 * (see perplexity.h for the method).
 */
#include "model/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double bn_log_sum_exp(const float *x, int32_t n) {
    double max = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    return max + log(sum);
}

double bn_nll_row(const float *logits, int32_t n_vocab, int32_t target) {
    return bn_log_sum_exp(logits, n_vocab) - (double)logits[target];
}

void bn_nll_stats_add(bn_nll_stats *s, double nll) {
    s->n++;
    double delta = nll - s->mean;
    s->mean += delta / (double)s->n;
    s->m2 += delta * (nll - s->mean);
}

double bn_nll_stats_stderr(const bn_nll_stats *s) {
    if (s->n < 2)
        return NAN;
    double variance = s->m2 / (double)(s->n - 1);
    return sqrt(variance / (double)s->n);
}

double bn_nll_stats_ppl(const bn_nll_stats *s) {
    return exp(s->mean);
}

double bn_nll_stats_ppl_err(const bn_nll_stats *s) {
    return bn_nll_stats_ppl(s) * bn_nll_stats_stderr(s);
}

bn_status bn_perplexity_window(bn_context *c, int32_t n_vocab, const int32_t *tokens, int n,
                               float *logits, bn_nll_stats *s) {
    if (n < 3)
        return BN_ERROR(BN_ERR_INVALID_ARG, "perplexity: a window of %d tokens scores none", n);
    int first = n / 2;
    BN_TRY(bn_context_seq_truncate(c, 0, 0));
    /* The context half needs no logits: skipping the head there halves its cost and memory. */
    BN_TRY(bn_context_eval(c, tokens, first, NULL, false));
    BN_TRY(bn_context_eval(c, tokens + first, n - first, logits, true));
    /* Row j holds the logits at position first + j, which predict tokens[first + j + 1]. */
    for (int j = 0; first + j + 1 < n; j++)
        bn_nll_stats_add(
            s, bn_nll_row(logits + (size_t)j * (size_t)n_vocab, n_vocab, tokens[first + j + 1]));
    return BN_OK;
}

/* The token each window starts with, as llama.cpp puts it there: BOS when the tokenizer adds
 * BOS to a text, else -1 (the window keeps its own first token). */
int32_t bn_perplexity_bos(const bn_tokenizer *t) {
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(t);
    return spec->bos_id >= 0 && spec->n_prefix > 0 && spec->prefix[0] == spec->bos_id ? spec->bos_id
                                                                                      : -1;
}

static void result_of(const bn_nll_stats *s, int64_t n_tokens, int windows, int total,
                      bn_perplexity_result *r) {
    *r = (bn_perplexity_result){.ppl = bn_nll_stats_ppl(s),
                                .ppl_err = bn_nll_stats_ppl_err(s),
                                .mean_nll = s->mean,
                                .nll_err = bn_nll_stats_stderr(s),
                                .n_tokens = n_tokens,
                                .n_scored = s->n,
                                .n_windows = windows,
                                .n_windows_total = total};
}

/* Score n_windows windows of the tokens, calling on_window after each. */
static bn_status score(bn_context *c, const bn_tokens *ids, int32_t bos, int window, int n_windows,
                       bn_perplexity_fn on_window, void *user, bn_perplexity_result *out) {
    int32_t n_vocab = bn_context_model(c)->cfg.n_vocab;
    int32_t *w = malloc((size_t)window * sizeof *w);
    float *logits = malloc((size_t)(window - window / 2) * (size_t)n_vocab * sizeof *logits);
    bn_status st = w && logits ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "perplexity logits");
    bn_nll_stats s = {0};
    for (int k = 0; st == BN_OK && k < n_windows; k++) {
        memcpy(w, ids->ids + (size_t)k * (size_t)window, (size_t)window * sizeof *w);
        if (bos >= 0)
            w[0] = bos;
        st = bn_perplexity_window(c, n_vocab, w, window, logits, &s);
        if (st != BN_OK)
            break;
        result_of(&s, (int64_t)ids->n, k + 1, n_windows, out);
        if (on_window != NULL && !on_window(user, out))
            break;
    }
    free(w);
    free(logits);
    return st;
}

bn_status bn_perplexity(bn_context *c, const char *text, size_t len, int window, int max_windows,
                        bn_perplexity_fn on_window, void *user, bn_perplexity_result *out) {
    if (c == NULL || out == NULL || (text == NULL && len > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "perplexity: NULL %s",
                        c == NULL     ? "context"
                        : out == NULL ? "out"
                                      : "text");
    if (window < 4 || window > bn_context_n_ctx(c) || max_windows < 0)
        return BN_ERROR(BN_ERR_RANGE,
                        "perplexity: windows of %d tokens in a context of %d (4 "
                        "or more, at most the context), max_windows %d",
                        window, bn_context_n_ctx(c), max_windows);
    const bn_tokenizer *t = bn_context_model(c)->tok;
    int32_t bos = bn_perplexity_bos(t);
    bn_tokens ids = {0};
    bn_status st = bos >= 0 ? bn_tokens_push(&ids, bos) : BN_OK;
    /* Special tokens written in the text are text, and no EOS is added, as in llama.cpp. */
    if (st == BN_OK)
        st = bn_tokenizer_encode(t, text != NULL ? text : "", len, 0, &ids);
    if (st == BN_OK && ids.n < 2 * (size_t)window)
        st = BN_ERROR(BN_ERR_RANGE,
                      "the text has %zu tokens; perplexity with windows of %d tokens needs at "
                      "least %d (2 x %d): give a longer text or smaller windows",
                      ids.n, window, 2 * window, window);
    int n_windows = st == BN_OK ? (int)(ids.n / (size_t)window) : 0;
    if (max_windows > 0 && max_windows < n_windows)
        n_windows = max_windows;
    memset(out, 0, sizeof *out);
    if (st == BN_OK)
        st = score(c, &ids, bos, window, n_windows, on_window, user, out);
    bn_tokens_free(&ids);
    return st;
}
