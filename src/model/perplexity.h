/*
 * perplexity.h - how well a model predicts a text: the negative log-likelihood (NLL) of each
 * token given the tokens before it, and perplexity = exp(mean NLL).
 *
 * The method is that of llama.cpp's perplexity tool, so numbers can be compared with it: the
 * text is tokenized once (BOS first), cut into windows of n tokens that do not overlap, each
 * window is evaluated from an empty cache with BOS in its first place, and only its second half
 * is scored: the logits at positions first = n/2 .. n-2 predict the tokens at first+1 .. n-1,
 * so every scored token has at least n/2 tokens of context. (The first half is context only.)
 *
 * The uncertainty is the standard error of the mean NLL, sample standard deviation / sqrt(count),
 * carried through exp to first order: ppl * stderr. This is llama.cpp's
 * sqrt((<nll^2> - <nll>^2) / (count - 1)) * ppl written another way; we accumulate with Welford's
 * update in double, which does not cancel when the NLLs are large and close together.
 */
#ifndef BN_MODEL_PERPLEXITY_H
#define BN_MODEL_PERPLEXITY_H

#include "model/forward.h"

#include <stdint.h>

/* Running statistics of scored tokens. Zero-initialise ({0}) to start. */
typedef struct bn_nll_stats {
    int64_t n;   /* tokens scored */
    double mean; /* mean NLL in nats */
    double m2;   /* sum of squared deviations from the mean */
} bn_nll_stats;

/* log sum_i exp(x[i]) in double, the largest value subtracted before exp so that large values
 * cannot overflow; -INFINITY entries add nothing. */
double bn_log_sum_exp(const float *x, int32_t n);

/* -log softmax(logits)[target] in double: the largest logit is subtracted before exp, so large
 * logits cannot overflow. +INFINITY when the target's logit is -INFINITY (it cannot occur). */
double bn_nll_row(const float *logits, int32_t n_vocab, int32_t target);

void bn_nll_stats_add(bn_nll_stats *s, double nll);

/* Standard error of the mean NLL: sample standard deviation / sqrt(n); NaN when n < 2. */
double bn_nll_stats_stderr(const bn_nll_stats *s);

/* exp(mean NLL), and its uncertainty exp(mean) * stderr. */
double bn_nll_stats_ppl(const bn_nll_stats *s);
double bn_nll_stats_ppl_err(const bn_nll_stats *s);

/* Score one window: reset the cache, evaluate tokens[0..n) and add the NLL of tokens[n/2 + 1..n)
 * to s. The caller puts BOS in tokens[0]. The first half is evaluated without the head; logits
 * is scratch for the second half, (n - n/2) * n_vocab floats. BN_ERR_INVALID_ARG when n < 3
 * (nothing to score); otherwise what bn_context_eval returns. */
bn_status bn_perplexity_window(bn_context *c, int32_t n_vocab, const int32_t *tokens, int n,
                               float *logits, bn_nll_stats *s);

/* The token a window starts with: the tokenizer's BOS when it adds one, else -1. */
int32_t bn_perplexity_bos(const bn_tokenizer *t);

/* bn_perplexity (bitnet.h) scores a whole text with these windows. */

#endif /* BN_MODEL_PERPLEXITY_H */
