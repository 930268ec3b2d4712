/*
 * forward.h - running a bn_model: a context holds the KV cache and all scratch, allocated once,
 * so evaluating tokens allocates nothing.
 *
 * bn_context_decode(ctx, batch, ...) appends each token to its sequence: prompts go
 * through in batches of up to n_batch tokens (GEMM kernels), generation one token at a time
 * (GEMV). One BitNet layer, top to bottom (facts §1.2):
 *   h = RMSNorm(x) -> q, k, v (BitLinear) -> RoPE (NEOX) -> causal GQA attention over the cache
 *       -> attn_sub_norm -> o (BitLinear);                x += h
 *   h = RMSNorm(x) -> gate, up (BitLinear) -> relu2(gate) * up -> ffn_sub_norm -> down;  x += h
 * then the final RMSNorm and the head (tied to the embeddings or separate).
 */
#ifndef BN_MODEL_FORWARD_H
#define BN_MODEL_FORWARD_H

#include "base/threadpool.h"
#include "model/model.h"

typedef struct bn_context bn_context;

/* The context a model gets when none is asked for, if its own is longer: a GGUF may declare
 * any length (2B-4T: 4096; others 128k or 20 M), and a cache of the whole of it is gigabytes
 * that a short conversation never touches. */
#define BN_DEFAULT_CTX 4096

/* Whether a head of this type has an int8-activation kernel (q8_0, q6_k, q4_k): generation
 * keeps such a head as it is; any other type is better re-encoded as q8_0 first. */
bool bn_head_has_int8(bn_dtype type);

/* The public API (bitnet.h) has bn_context_params, bn_context_default_params,
 * bn_context_create / _free, bn_context_decode (batches of several sequences), bn_context_eval
 * (sequence 0), bn_context_seq_len / _seq_truncate, bn_context_reset, bn_context_n_ctx and
 * bn_context_n_seq_max. The engine keeps each sequence's cache apart ([seq][layer][pos][kv]),
 * so a token attends only to its own sequence. */

/* Sequence 0's shorthands (the CLI's single conversation). */
bn_status bn_context_truncate(bn_context *c, int n);
int bn_context_n_past(const bn_context *c);

size_t bn_context_kv_bytes(const bn_context *c); /* the KV cache, keys and values */

/* Record hidden states, for tests: trace is [n_layers + 1][trace_rows][dim]; slot 0 receives
 * the embeddings of each evaluated position, slot l + 1 the residual stream after layer l.
 * Positions at or beyond trace_rows are not recorded. NULL stops recording. */
void bn_context_trace(bn_context *c, float *trace, int trace_rows);

#endif /* BN_MODEL_FORWARD_H */
