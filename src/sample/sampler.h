/*
 * sampler.h - picking the next token from a row of logits.
 *
 * A bn_sampler owns its parameters, its random number generator and all of its scratch: every
 * buffer is allocated by bn_sampler_create, so bn_sampler_accept and bn_sampler_sample never
 * allocate. The same seed and the same sequence of accept/sample calls give the same tokens.
 *
 * bn_sampler_sample(s, logits) runs these steps, in the order of Hugging Face transformers'
 * logits processors (RepetitionPenalty, then Temperature, TopK, TopP, MinP warpers):
 *
 *   1. Penalties over the history window (the last repeat_last_n accepted tokens), written into
 *      logits in place. Each distinct token t in the window, seen count(t) times, once:
 *        repetition (CTRL / HF):       logit > 0 ? logit / repeat_penalty : logit * repeat_penalty
 *        frequency/presence (OpenAI):  logit -= count(t) * frequency_penalty
 *                                               + (count(t) > 0) * presence_penalty
 *      as llama.cpp's penalties sampler does, in that order.
 *   2. temperature == 0: return bn_argmax(logits) (lowest id on ties). No random number is used.
 *   3. Temperature: the distribution is softmax(logit / temperature), computed as
 *      exp((logit - max) / temperature) so that a tiny temperature cannot overflow. (The
 *      division is not written back into logits; on return logits holds the step-1 values.)
 *   4. Top-k (top_k > 0): keep exactly the k largest logits; among equal logits the lower id
 *      ranks first, so ties at the k-th value keep the lowest ids. Found by a k-sized heap over
 *      the vocabulary (O(V log k)); only the k survivors are sorted. With top_k = 0 (or >=
 *      n_vocab) every unmasked token survives and is sorted (O(V log V)), except that tokens
 *      min-p will drop in step 7 are left out of the sort beforehand (same result, see
 *      sampler.c).
 *   5. Softmax over the survivors.
 *   6. Top-p (top_p < 1): keep the smallest prefix of the survivors, in descending probability,
 *      whose cumulative probability is >= top_p; at least one token.
 *   7. Min-p (min_p > 0): drop tokens whose probability is < min_p * (the largest probability).
 *   8. Renormalise and draw: u = one uniform float in [0, 1) from the sampler's generator
 *      (xoshiro256**, seeded through splitmix64; u takes the top 24 bits of one output), then
 *      the first candidate, in descending-probability order, whose cumulative probability
 *      exceeds u * total. Every call with temperature > 0 draws exactly one number (even when
 *      one candidate is left, or none), so the generator's stream depends only on the calls.
 *
 * Masked tokens: a logit of -INFINITY (or NaN, treated the same) is never returned unless every
 * logit is masked, in which case the result is 0 (the lowest id, as bn_argmax does). +INFINITY
 * ranks above every finite logit.
 */
#ifndef BN_SAMPLE_SAMPLER_H
#define BN_SAMPLE_SAMPLER_H

#include "base/status.h"
#include "bitnet.h"

#include <stdint.h>

/* bn_sampler_params, bn_sampler_default_params, bn_sampler_params_check, bn_sampler_create,
 * bn_sampler_free, bn_sampler_reset, bn_sampler_accept and bn_sampler_sample are the public
 * API's (bitnet.h: the field ranges are documented there). */

/* The candidates of the last bn_sampler_sample call that drew at random (step 8): their ids and
 * renormalised probabilities, in descending probability; returns how many (0 before the first
 * such call, after reset, or when every logit was masked). The arrays stay valid until the next
 * sample or reset. Useful for log-probabilities and for tests. */
int32_t bn_sampler_candidates(const bn_sampler *s, const int32_t **ids, const float **probs);

/* The logits row length the sampler was made for. */
int32_t bn_sampler_n_vocab(const bn_sampler *s);

/* Index of the largest of x[0..n), the lowest index on ties; NaN never wins. Returns 0 when no
 * value is above -INFINITY, and -1 when n <= 0. */
int32_t bn_argmax(const float *x, int32_t n);

#endif /* BN_SAMPLE_SAMPLER_H */
