/*
 * perplexity.c - NLL of a token, running mean and standard error, one scored window
 * (see perplexity.h for the method).
 */
#include "model/perplexity.h"

#include <math.h>

double bn_nll_row(const float *logits, int32_t n_vocab, int32_t target) {
    double max = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - max);
    return max + log(sum) - (double)logits[target];
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
    bn_context_reset(c);
    /* The context half needs no logits: skipping the head there halves its cost and memory. */
    BN_TRY(bn_context_eval(c, tokens, first, NULL, false));
    BN_TRY(bn_context_eval(c, tokens + first, n - first, logits, true));
    /* Row j holds the logits at position first + j, which predict tokens[first + j + 1]. */
    for (int j = 0; first + j + 1 < n; j++)
        bn_nll_stats_add(
            s, bn_nll_row(logits + (size_t)j * (size_t)n_vocab, n_vocab, tokens[first + j + 1]));
    return BN_OK;
}
