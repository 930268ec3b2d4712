/*
 * ops_ref.h - scalar reference operations on float32 arrays.
 *
 * These are the specification that every fast kernel (SIMD, CUDA) is tested against: plain
 * loops, outputs first, sizes last, no cleverness. Arrays are row-major and contiguous; out may
 * alias an input where noted.
 */
#ifndef BN_TENSOR_OPS_REF_H
#define BN_TENSOR_OPS_REF_H

#include "tensor/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* out[i] = a[i] + b[i]; out may alias a or b. */
void bn_ref_add(float *out, const float *a, const float *b, size_t n);

/* out[i] = a[i] * b[i]; out may alias a or b. */
void bn_ref_mul(float *out, const float *a, const float *b, size_t n);

/* out[i] = s * x[i]; out may alias x. */
void bn_ref_scale(float *out, const float *x, float s, size_t n);

/* out[M,N] = x[M,K] . w[N,K]^T, the product of a PyTorch Linear (w is [out_features, in]).
 * Accumulates in float in k order. out must not alias x or w. */
void bn_ref_matmul(float *out, const float *x, const float *w, int64_t M, int64_t N, int64_t K);

/* In place: x = softmax(x), subtracting the max first so exp never overflows. n >= 1. */
void bn_ref_softmax(float *x, size_t n);

/* out = x / sqrt(mean(x^2) + eps) * w (w may be NULL for no weight); out may alias x. The one
 * RMSNorm of the engine: the forward pass calls it, so it is the specification and the code. The
 * mean of squares is summed in double, then rounded to float: inv = 1 / sqrtf(mean + eps),
 * out[i] = x[i] * inv * w[i]. */
void bn_ref_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps);

/* bn_ref_rmsnorm's inv for a row (training saves it for the backward). */
float bn_ref_rmsnorm_inv(const float *x, size_t n, float eps);

/* Whether every x[i] is finite (no NaN, no Inf). */
bool bn_all_finite(const float *x, size_t n);

/* Rotary position embedding in place on x[n_heads, head_dim] at position pos, rotating the
 * first n_rot (even, <= head_dim) dims of each head with inv_freq[i] = theta^(-2i/n_rot).
 * NEOX / rotate_half (HF LLaMA, BitNet): pairs (i, i + n_rot/2).
 * GPT-J / interleaved (Meta LLaMA): pairs (2i, 2i + 1). */
void bn_ref_rope_neox(float *x, int n_heads, int head_dim, int n_rot, int pos, float theta);

/* The same rotation in two steps, so a caller can compute a position's angles once for every
 * head and layer: cs[0..n_rot/2) = cos, cs[n_rot/2..n_rot) = sin of position pos's angles,
 * then the rotation with them; bn_ref_rope_neox (n_rot <= 1024) is exactly these two for
 * pos = (float)p. pos is a float so that linear RoPE scaling can pass p / factor (as
 * transformers divides its float positions). */
void bn_rope_table(float *cs, int n_rot, float pos, float theta);
void bn_rope_neox_apply(float *x, int n_heads, int head_dim, int n_rot, const float *cs);
void bn_ref_rope_gptj(float *x, int n_heads, int head_dim, int n_rot, int pos, float theta);

/* Activations, out may alias x. */
void bn_ref_relu(float *out, const float *x, size_t n);
void bn_ref_relu2(float *out, const float *x, size_t n); /* max(x,0)^2 (BitNet 2B4T's FFN) */
void bn_ref_silu(float *out, const float *x, size_t n);  /* x * sigmoid(x) */

typedef enum bn_act { BN_ACT_RELU = 0, BN_ACT_RELU2 = 1, BN_ACT_SILU = 2 } bn_act;

/* Gated FFN product: out[i] = act(gate[i]) * up[i]; out may alias gate or up. */
void bn_ref_gated(float *out, const float *gate, const float *up, size_t n, bn_act act);

/* Index of the largest value (the first one on ties; NaN never wins). n >= 1. */
size_t bn_ref_argmax(const float *x, size_t n);

/* out[i, :] = table[ids[i], :] decoded to float32. table is [vocab, dim] of any type with a
 * to_f32 row converter. BN_ERR_RANGE naming the id if one is outside [0, vocab). */
bn_status bn_ref_embedding(float *out, const bn_tensor *table, const int32_t *ids, size_t n_ids);

#endif /* BN_TENSOR_OPS_REF_H */
