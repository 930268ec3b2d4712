/*
 * model.h - a BitNet b1.58 model in memory, ready for the forward pass (forward.c).
 *
 * Loading reads the GGUF header, checks every tensor the architecture needs (name, shape,
 * type) and repacks each ternary linear layer once into the kernels' runtime layout (i2v<V>,
 * src/kernels/cpu/ternary_gemm.h), whatever its file type (TQ1_0, TQ2_0, I2_S). Embeddings and
 * the head stay in the file's mapping in their file type; norms are decoded to float32.
 */
#ifndef BN_MODEL_MODEL_H
#define BN_MODEL_MODEL_H

#include "base/status.h"
#include "io/gguf.h"
#include "kernels/cpu/ternary_gemm.h"
#include "tensor/dtype.h"
#include "tensor/ops_ref.h"
#include "text/tokenizer.h"

#include <stdatomic.h>

typedef struct bn_layer {
    float *attn_norm, *attn_sub_norm, *ffn_norm, *ffn_sub_norm; /* sub norms may be NULL */
    bn_ternary_matrix wq, wk, wv, wo, wgate, wup, wdown;
} bn_layer;

/* The largest hidden size (and head size) a model may have: the forward pass and the head
 * re-encoding keep one row of the head in a stack buffer of this many floats. Checked at load. */
#define BN_MAX_DIM 8192

typedef struct bn_model_config {
    int n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, ctx_max;
    int n_rot;        /* RoPE rotates the first n_rot dims of each head (rope.dimension_count) */
    float eps;        /* RMSNorm epsilon, finite and > 0 */
    float rope_theta; /* RoPE base, finite and > 0 */
    float rope_scale; /* linear RoPE scaling: position p turns as p / rope_scale (1: none) */
    bn_act act;
} bn_model_config;

typedef struct bn_model {
    bn_model_config cfg;
    bn_gguf *gguf; /* keeps the mapping the embeddings and head point into */
    bn_dtype embed_type, head_type;
    const void *embed, *head; /* [n_vocab, dim] rows in their file type; head == embed if tied */
    size_t embed_row_bytes, head_row_bytes;
    void *head_owned; /* the head when re-encoded at load (bn_model_set_head_type) */
    float *output_norm;
    bn_layer *layers;
    bn_tokenizer *tok;
    char name[128];
    bn_device device;          /* where the forward pass runs: BN_DEVICE_CPU or BN_DEVICE_CUDA */
    struct bn_cuda_model *gpu; /* the weights on the GPU (forward_cuda.h), NULL on the CPU */
    bn_isa isa;                /* the kernel path the layers were repacked for */
    bn_ternary_layout layout;  /* ... and the runtime layout (i2v or t5v64) */
    /* References beyond the caller's own: one per live context. bn_model_free drops the
     * caller's and the last context freed frees the model, so a context never outlives the
     * weights it reads even when a program frees in the wrong order (SQLite's close_v2). */
    atomic_int extra_refs;
} bn_model;

/* A context takes a reference to its model at create and drops it at free. */
void bn_model_retain(const bn_model *m);
void bn_model_release(const bn_model *m);

/* bn_model_params, bn_model_default_params, bn_model_load and bn_model_free are the public
 * API's (bitnet.h): load a GGUF model (arch bitnet / bitnet-b1.58 / bitnet-25) or a Hugging Face
 * BitNet folder (converted on the fly, in memory), repacked for params->cpu_kernels. */

/* Re-encode the output head once, in memory: q8_0 halves the bytes every generated token reads
 * from an f16 head (a quarter of an f32 one) at about 0.5% relative error in the logits, so
 * generation wants it and comparisons with a float reference do not. The embeddings (the same
 * tensor when tied) stay as they are in the file. Q8_0 is the only target for now; asking for
 * the current type is a no-op. */
bn_status bn_model_set_head_type(bn_model *m, bn_dtype type, int n_threads);

/* Weight bytes one generated token reads: every linear layer and the whole head (the KV cache
 * and the norms come on top). */
size_t bn_model_bytes_per_token(const bn_model *m);

/* Operations (two per multiply-add) of the linear layers for one token: a prompt token's work,
 * since a prompt runs the head only for its last position. */
double bn_model_linear_ops_per_token(const bn_model *m);

#endif /* BN_MODEL_MODEL_H */
