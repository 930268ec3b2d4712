/*
 * forward.h - running a bn_model: a context holds the KV cache and all scratch, allocated once,
 * so evaluating tokens allocates nothing.
 *
 * bn_context_eval(ctx, tokens, n, ...) appends n tokens at position ctx->n_past: prompts go
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

typedef struct bn_context_params {
    int n_ctx;        /* positions the KV cache holds, <= the model's context; 0 = the model's,
                         at most BN_DEFAULT_CTX. A context that cannot fit in the memory there
                         is is refused (BN_ERR_OUT_OF_MEMORY) naming the size that would. */
    int n_threads;    /* 0 = one per CPU */
    bn_dtype kv_type; /* BN_DTYPE_F16 (default: half the bytes) or BN_DTYPE_F32 (exact) */
    bool float_head;  /* the head's rows decoded to float32 and dotted in float32, whatever
                         their type (exact: for comparisons with float references); otherwise
                         q8_0, q6_k and q4_k heads run their int8 kernels (bn_head_has_int8) */
} bn_context_params;

/* Whether a head of this type has an int8-activation kernel (q8_0, q6_k, q4_k): generation
 * keeps such a head as it is; any other type is better re-encoded as q8_0 first. */
bool bn_head_has_int8(bn_dtype type);

bn_context_params bn_context_default_params(void);

bn_status bn_context_create(bn_context **out, const bn_model *m, const bn_context_params *p);
void bn_context_free(bn_context *c);

/* Forget the cache (a new sequence). */
void bn_context_reset(bn_context *c);

/* Keep only the first n positions (n <= n_past): the next eval continues from position n, as
 * when a conversation is re-tokenized and differs from what was cached after its prefix. */
bn_status bn_context_truncate(bn_context *c, int n);
int bn_context_n_past(const bn_context *c);
int bn_context_n_ctx(const bn_context *c);
size_t bn_context_kv_bytes(const bn_context *c); /* the KV cache, keys and values */

/* Evaluate tokens[0..n) after what the cache holds. logits receives [n_vocab] for the last
 * token, or [n, n_vocab] with all = true; NULL skips the head. BN_ERR_RANGE when the tokens
 * would not fit the context or an id is outside the vocabulary (nothing is evaluated), and when
 * a non-finite value (NaN, Inf) appears: in an embedding row, in a layer (named, with the
 * product and the position), after the final norm, or in the logits (the head's row named).
 * A call fully succeeds or leaves n_past where it was, so the next call sees no trace of it;
 * what it wrote into logits (and a trace) before failing is unspecified. */
bn_status bn_context_eval(bn_context *c, const int32_t *tokens, int n, float *logits, bool all);

/* Record hidden states, for tests: trace is [n_layers + 1][trace_rows][dim]; slot 0 receives
 * the embeddings of each evaluated position, slot l + 1 the residual stream after layer l.
 * Positions at or beyond trace_rows are not recorded. NULL stops recording. */
void bn_context_trace(bn_context *c, float *trace, int trace_rows);

#endif /* BN_MODEL_FORWARD_H */
