/*
 * net.h - the BitNet b1.58 transformer being trained: its shape, its parameters (latent float32
 * weights with their gradients) and the forward pass that records a step on the tape.
 *
 * The graph is microsoft/bitnet-b1.58-2B-4T's (facts §1.2), which the inference engine runs:
 *   h = embed[tokens]
 *   per layer: h += o_proj(attn_sub_norm(attention(rope(q), rope(k), v))), q, k, v =
 *              BitLinear(input_layernorm(h));
 *              h += down_proj(ffn_sub_norm(act(gate) * up)), gate, up = BitLinear(
 *              post_attention_layernorm(h))
 *   loss = cross_entropy(norm(h) embed^T, targets)        (tied head, mean over tokens)
 * With linear = float, the same graph with plain float linear layers (the float baseline).
 *
 * Parameters are named as Hugging Face's BitNet checkpoints name them, which makes checkpoints
 * (train/checkpoint.h) and exported folders (train/export.h) plain: see bn_net_param_name.
 */
#ifndef BN_TRAIN_NET_H
#define BN_TRAIN_NET_H

#include "tensor/ops_ref.h"
#include "train/json_fields.h"
#include "train/tape.h"

typedef struct bn_net_config {
    int dim, layers, heads, kv_heads, ffn, vocab, context;
    float rope_theta, eps;
    bn_act act;   /* BN_ACT_RELU2 or BN_ACT_SILU */
    bool ternary; /* BitLinear (true) or float linear layers (the baseline) */
} bn_net_config;

/* The checks every config passes: positive sizes, heads dividing dim into even head sizes,
 * kv_heads dividing heads, context up to 4096. BN_ERR_INVALID_ARG naming the field. */
bn_status bn_net_config_check(const bn_net_config *c);

/* One parameter tensor: data and gradient, numel floats each, [rows, cols] ([1, n] vectors). */
typedef struct bn_param {
    char name[64];
    float *data, *grad;
    int64_t rows, cols, numel;
    bool decay; /* weight decay applies (matrices: linear layers and the embeddings) */
} bn_param;

typedef struct bn_net {
    bn_net_config cfg;
    bn_param *params; /* in a fixed order: embeddings, then each layer's, then the final norm */
    int n_params;
    int64_t n_values;      /* total floats in all parameters */
    float *values, *grads; /* every parameter's data and gradient: one buffer each, each tensor
                            * 64-byte aligned inside it (values_padded floats in all) */
    int64_t values_padded;
    float *rope; /* [context][head_dim] cos/sin table (bn_rope_table) */
} bn_net;

/* The "model" object of a training config or checkpoint:
 *   {"dim": 256, "layers": 4, "heads": 8, "kv_heads": 4, "ffn": 768, "vocab": 4096,
 *    "context": 256, "rope_theta": 10000, "norm_eps": 1e-5, "activation": "relu2",
 *    "linear": "bitlinear"}
 * dim, layers, heads and ffn are required; kv_heads defaults to heads, vocab to 0 (the trainer
 * takes the tokenizer's), context to 256, rope_theta to 10000, norm_eps to 1e-5, activation to
 * relu2 (or silu), linear to bitlinear (or float). Unknown keys are refused. The result is not
 * yet checked (vocab may still be 0): bn_net_config_check does that. */
bn_status bn_net_config_read(const bn_jobj *model, bn_net_config *out);

/* The same object (a new cJSON the caller deletes), for checkpoints: reading it back gives the
 * same config. NULL when out of memory. */
cJSON *bn_net_config_json(const bn_net_config *c);

/* Allocate the parameters of a config (zeroed) and the RoPE table. */
bn_status bn_net_create(bn_net **out, const bn_net_config *cfg);
void bn_net_free(bn_net *n);

/* The initial values (seeded): linear layers and embeddings N(0, 0.02^2) (GPT-2's scale), norms 1.
 */
void bn_net_init(bn_net *n, uint64_t seed);

/* The parameter of a name, or NULL. */
bn_param *bn_net_find(bn_net *n, const char *name);

/* Zero every parameter's gradient (the start of a step). */
void bn_net_zero_grad(bn_net *n);

/* One forward pass over tokens/targets [batch, context] (row-major, each row a sequence from
 * position 0): the mean cross-entropy as a scalar variable on the tape. With gradients enabled
 * on the tape, bn_tape_backward(t, *loss) then fills the parameters' gradients. */
bn_status bn_net_forward(bn_net *n, bn_tape *t, const int32_t *tokens, const int32_t *targets,
                         int batch, bn_var **loss);

/* Evaluation: the logits [T, vocab] of one sequence of T <= context tokens from position 0,
 * with gradients off (the tape is reset before and after). */
bn_status bn_net_logits(bn_net *n, bn_tape *t, const int32_t *tokens, int T, float *logits);

/* Linear-layer operations of a forward pass per token (2 per multiply-add), and of forward and
 * backward together (3x), for reporting throughput. */
double bn_net_train_flops_per_token(const bn_net *n);

#endif /* BN_TRAIN_NET_H */
