/*
 * context.h - what a bn_context holds, for the backends that evaluate it (engine-internal).
 *
 * The context's common part (the model, sequences and their lengths, the current batch's rows,
 * the RoPE table, the busy flag) is shared; a backend is a small table of functions (create
 * its state, evaluate a batch, free) that writes its own forward pass in its own files, the
 * llm.c way: the CPU's in forward.c, CUDA's in forward_cuda.c. forward.c's bn_context_decode
 * checks and splits every batch the same way for both and hands each piece to the backend.
 */
#ifndef BN_MODEL_CONTEXT_H
#define BN_MODEL_CONTEXT_H

#include "kernels/cpu/attention.h"
#include "kernels/cpu/gated.h"
#include "kernels/cpu/kq_gemm.h"
#include "model/forward.h"

#include <stdatomic.h>

#define BATCH 64 /* tokens per pass of a prompt (a GEMM on the CPU) */

typedef struct bn_backend {
    const char *name;
    /* Make the backend's part of c, whose common fields are set; on failure c is freed. */
    bn_status (*create)(bn_context *c, const bn_context_params *p);
    /* Rows [0, m) of a batch: tokens, at c->row_seq / c->row_pos; logits (n_vocab floats a
     * row) of the rows listed in rows[0..k). The RoPE table covers every position asked. */
    bn_status (*eval)(bn_context *c, const int32_t *tokens, int m, const int *rows, int k,
                      float *logits);
    void (*destroy)(bn_context *c); /* the backend's part; NULL-safe for a partial create */
} bn_backend;

struct bn_context {
    const bn_model *m;
    bn_threadpool *pool;
    int n_ctx, n_seq, kv_dim, max_in, n_threads;
    int *seq_len;  /* [n_seq]: positions each sequence holds */
    int *seq_next; /* [n_seq]: scratch of a decode call (evaluating allocates nothing) */
    bool kv_f16, float_head;
    void *k_cache, *v_cache; /* [seq][layers][n_ctx][kv_dim], f16 or f32 (pages: resident as
                                used, so unused sequences and positions cost nothing) */
    size_t cache_bytes;      /* of each */
    int row_pos[BATCH], row_seq[BATCH]; /* the current batch's rows: position and sequence */
    bn_attn_chunk_fn attend_chunk;
    bn_gated_fn gated;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *xn;
    int8_t *xq;
    float *xs;
    int32_t *xsum;
    float *scores;   /* [threads][BN_ATTN_MAX_GROUP][BN_ATTN_CHUNK]: a chunk's scores */
    float *partials; /* attention partials (attention.h): per thread for prompts, per work item
                        for decode (context_bytes says how many) */
    size_t partials_bytes;
    float *rope; /* [n_ctx][head_dim]: cos and sin of each position's angles, the first
                    rope_ready positions computed (on first use, not up front) */
    int rope_ready;
    size_t rope_bytes;
    int8_t *head_q; /* the q8_0 head's activation codes [BATCH, dim] and scales */
    float *head_d;
    bn_kq_act_block *head_kq; /* the k-quant head's activations [BATCH, dim]; NULL when the
                                 hidden size is not a whole number of 256-value blocks */
    float *trace;
    int trace_rows;
    atomic_flag busy; /* set while a call changes the context: two threads at once are refused */
    const bn_backend *backend; /* what evaluates a batch: the CPU (this file) or CUDA */
    void *gpu;                 /* the CUDA backend's state, NULL on the CPU */
};

#endif /* BN_MODEL_CONTEXT_H */
