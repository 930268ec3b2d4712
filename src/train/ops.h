/*
 * ops.h - the ops of a BitNet transformer, each a forward that records its backward on the tape
 * (train/tape.h). Activations are rows: a [N, D] variable holds N = batch x context tokens.
 *
 * Every op computes its output in float32 exactly as inference does where inference has the op
 * (RMSNorm is bn_ref_rmsnorm, BitLinear runs the int8 ternary kernels), so a trained model's
 * evaluation loss is what `bitnet perplexity` measures on the exported file. Backwards add (+=)
 * into the inputs' gradients. The float GEMMs go through CBLAS (OpenBLAS).
 *
 * Straight-through estimator (BitNet b1.58): BitLinear's forward uses the ternary weights
 * W~ = RoundClip(W / gamma) * gamma, gamma = mean|W| (per tensor, clamped to 1e-5), and int8
 * per-token activations x~ = RoundClip(x * s, -128, 127) / s, s = 127 / max|x|; its backward
 * treats both quantizers as the identity: dx += dy W~, dW += dy^T x~. That is the gradient of
 * the surrogate y = a B^T at a = x~, B = W~, passed straight to x and W.
 */
#ifndef BN_TRAIN_OPS_H
#define BN_TRAIN_OPS_H

#include "tensor/ops_ref.h"
#include "train/tape.h"

/* out[i] = table[ids[i]] for i < n: [n, D] from table [V, D]; ids are checked against V. */
bn_status bn_op_embedding(bn_tape *t, bn_var *table, const int32_t *ids, int64_t n, bn_var **out);

/* Each row of x [N, D] RMS-normalized and scaled by w [D]. */
bn_status bn_op_rmsnorm(bn_tape *t, bn_var *x, bn_var *w, float eps, bn_var **out);

/* BitLinear of n_w weights sharing one input (q, k, v; gate, up): out[i] = x W_i~^T, with x
 * [N, K] quantized once and each W_i [M_i, K] a latent float weight. */
bn_status bn_op_bitlinear(bn_tape *t, bn_var *x, bn_var *const *w, int n_w, bn_var **out);

/* Float linear layers (the float baseline), n_w weights sharing one input: out[i] = x W_i^T. */
bn_status bn_op_linear(bn_tape *t, bn_var *x, bn_var *const *w, int n_w, bn_var **out);

/* out = a b: a [N, K], b [K, M] (both may carry gradients). */
bn_status bn_op_matmul(bn_tape *t, bn_var *a, bn_var *b, bn_var **out);

/* Rotary position embedding (NEOX / rotate_half) on x [B*T, heads*head_dim]: row r is position
 * r % T; cs is the [T][head_dim] table of bn_rope_table (cos then sin of each position). */
bn_status bn_op_rope(bn_tape *t, bn_var *x, int64_t T, int heads, int head_dim, const float *cs,
                     bn_var **out);

/* Causal grouped-query attention: q [B*T, H*hd], k and v [B*T, KV*hd], query head j reading KV
 * head j / (H / KV); out [B*T, H*hd] = softmax(q k^T / sqrt(hd), causal) v per sequence. */
bn_status bn_op_attention(bn_tape *t, bn_var *q, bn_var *k, bn_var *v, int64_t B, int64_t T, int H,
                          int KV, int hd, bn_var **out);

/* out = act(gate) * up, element-wise (relu2 or silu). */
bn_status bn_op_gate(bn_tape *t, bn_var *gate, bn_var *up, bn_act act, bn_var **out);

/* out = a + b (same shapes): the residual stream. */
bn_status bn_op_add(bn_tape *t, bn_var *a, bn_var *b, bn_var **out);

/* The mean over the n rows of h [n, D] of cross_entropy(h_i table^T, targets[i]), table [V, D]
 * the (tied) head. The logits are made chunk by chunk and their gradient folded into h's and
 * table's at once, so [n, V] never exists; the gradients are kept until backward scales them by
 * the loss's gradient. loss is a scalar variable. Targets are checked against V. */
bn_status bn_op_cross_entropy(bn_tape *t, bn_var *h, bn_var *table, const int32_t *targets,
                              int64_t n, bn_var **loss);

#endif /* BN_TRAIN_OPS_H */
