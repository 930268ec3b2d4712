/*
 * forward_cuda.c - the CUDA backend of forward_cuda.h: the forward pass of forward.h, each step
 * a kernel of kernels/cuda/forward_kernels.h, in the CPU pass's order and with its numbers.
 *
 * A batch of m rows (one per token):
 *   x = embed(tokens)
 *   per layer: xb = RMSNorm(x) -> int8 -> q, k, v (ternary GEMV per row) -> RoPE -> KV cache
 *              att = attention(q, cache) -> [attn_sub_norm] -> int8 -> o;     x += o
 *              xb = RMSNorm(x) -> int8 -> gate, up -> act(gate) * up -> [ffn_sub_norm]
 *              -> int8 -> down;                                              x += down
 *   the rows that want logits: RMSNorm(x) -> head (f16 x float32) -> logits to the host
 * All of it is queued on the context's stream; the host waits once, for the logits.
 */
#include "model/forward_cuda.h"

#include "base/alloc.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/forward_kernels.h"
#include "tensor/half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the weights -------------------------------------------------------------------------- */

typedef struct cuda_linear {
    uint8_t *w; /* i2v16 rows of kp / 4 bytes */
    int rows, kp;
    float scale;
} cuda_linear;

struct cuda_layer {
    float *attn_norm, *attn_sub_norm, *ffn_norm, *ffn_sub_norm; /* sub norms may be NULL */
    cuda_linear wq, wk, wv, wo, wgate, wup, wdown;
};

struct bn_cuda_model {
    struct cuda_layer *layers;
    float *output_norm;
    uint16_t *embed, *head; /* f16 [n_vocab][dim]; head == embed when tied */
    size_t bytes;           /* on the GPU, for messages */
};

/* A GPU without room says which weights and how much: bn_cuda_malloc's own words go. */
static bn_status gpu_alloc(void **p, size_t bytes, struct bn_cuda_model *g, const char *what) {
    if (bn_cuda_malloc(p, bytes) != BN_OK)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY,
                        "GPU out of memory: %s needs %.1f MiB after %.1f MiB of the model "
                        "were placed",
                        what, (double)bytes / (1 << 20), (double)g->bytes / (1 << 20));
    g->bytes += bytes;
    return BN_OK;
}

static bn_status upload(void **dst, const void *src, size_t bytes, struct bn_cuda_model *g,
                        const char *what) {
    BN_TRY(gpu_alloc(dst, bytes, g, what));
    return bn_cuda_copy_to_device(*dst, src, bytes);
}

static bn_status upload_norm(float **dst, const float *src, int n, struct bn_cuda_model *g) {
    if (src == NULL) {
        *dst = NULL;
        return BN_OK;
    }
    return upload((void **)dst, src, (size_t)n * sizeof(float), g, "a norm");
}

/* The layer's i2v16 bytes to the GPU; the host copy goes (the CPU does not run i2v16 here). */
static bn_status upload_linear(cuda_linear *d, bn_ternary_matrix *w, struct bn_cuda_model *g) {
    if (w->layout != BN_TERNARY_I2V || w->vbytes != 16)
        return BN_ERROR(BN_ERR_INVALID_ARG, "cuda upload: a layer not packed as i2v16");
    d->rows = (int)w->rows;
    d->kp = (int)w->cols_padded;
    d->scale = w->scale;
    BN_TRY(upload((void **)&d->w, w->data, w->bytes, g, "a ternary layer"));
    bn_aligned_free(w->data);
    w->data = NULL;
    return BN_OK;
}

/* A float table of the file's type ([n_vocab][dim] rows) as f16 on the GPU, a slice of rows at
 * a time so the host never holds the whole f16 copy. */
static bn_status upload_table_f16(uint16_t **dst, const void *rows, bn_dtype type, size_t row_bytes,
                                  int n_vocab, int dim, struct bn_cuda_model *g) {
    const bn_dtype_traits *tr = bn_dtype_get(type);
    if (tr == NULL || tr->to_f32 == NULL)
        return BN_ERROR(BN_ERR_DTYPE, "cuda upload: a %s table has no float decoding",
                        bn_dtype_name(type));
    BN_TRY(gpu_alloc((void **)dst, (size_t)n_vocab * dim * sizeof(uint16_t), g,
                     "the embeddings or the head"));
    enum { SLICE = 1024 };
    float *f = malloc((size_t)dim * sizeof(float));
    uint16_t *h = malloc((size_t)SLICE * dim * sizeof(uint16_t));
    bn_status st = f != NULL && h != NULL ? BN_OK : BN_ERR_OUT_OF_MEMORY;
    for (int v0 = 0; st == BN_OK && v0 < n_vocab; v0 += SLICE) {
        int n = n_vocab - v0 < SLICE ? n_vocab - v0 : SLICE;
        for (int v = 0; v < n; v++) {
            tr->to_f32((const uint8_t *)rows + (size_t)(v0 + v) * row_bytes, f, dim);
            bn_f32_to_f16_row(f, h + (size_t)v * dim, (size_t)dim);
        }
        st = bn_cuda_copy_to_device(*dst + (size_t)v0 * dim, h, (size_t)n * dim * sizeof *h);
    }
    free(f);
    free(h);
    return st;
}

bn_status bn_cuda_model_upload(bn_model *m, int device_index) {
    int count = 0;
    const char *why = NULL;
    BN_TRY(bn_cuda_device_count(&count, &why));
    if (device_index < 0 || device_index >= count)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "cuda:%d: %s%s", device_index,
                        count == 0 ? "no usable GPU: " : "no such GPU: ",
                        count == 0 ? (why ? why : "none found") : "index past the last one");
    BN_TRY(bn_cuda_set_device(device_index));
    struct bn_cuda_model *g = calloc(1, sizeof *g);
    if (g == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    m->gpu = g;
    const bn_model_config *c = &m->cfg;
    g->layers = calloc((size_t)c->n_layers, sizeof *g->layers);
    if (g->layers == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < c->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        struct cuda_layer *d = &g->layers[i];
        BN_TRY(upload_norm(&d->attn_norm, l->attn_norm, c->dim, g));
        BN_TRY(upload_norm(&d->attn_sub_norm, l->attn_sub_norm, c->dim, g));
        BN_TRY(upload_norm(&d->ffn_norm, l->ffn_norm, c->dim, g));
        BN_TRY(upload_norm(&d->ffn_sub_norm, l->ffn_sub_norm, c->ffn_dim, g));
        cuda_linear *dst[] = {&d->wq, &d->wk, &d->wv, &d->wo, &d->wgate, &d->wup, &d->wdown};
        bn_ternary_matrix *src[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->wgate, &l->wup, &l->wdown};
        for (int j = 0; j < 7; j++)
            BN_TRY(upload_linear(dst[j], src[j], g));
    }
    BN_TRY(upload_norm(&g->output_norm, m->output_norm, c->dim, g));
    BN_TRY(upload_table_f16(&g->embed, m->embed, m->embed_type, m->embed_row_bytes, c->n_vocab,
                            c->dim, g));
    if (m->head == m->embed)
        g->head = g->embed;
    else
        BN_TRY(upload_table_f16(&g->head, m->head, m->head_type, m->head_row_bytes, c->n_vocab,
                                c->dim, g));
    return BN_OK;
}

void bn_cuda_model_free(bn_model *m) {
    struct bn_cuda_model *g = m->gpu;
    if (g == NULL)
        return;
    for (int i = 0; g->layers != NULL && i < m->cfg.n_layers; i++) {
        struct cuda_layer *d = &g->layers[i];
        void *p[] = {d->attn_norm, d->attn_sub_norm, d->ffn_norm, d->ffn_sub_norm,
                     d->wq.w,      d->wk.w,          d->wv.w,     d->wo.w,
                     d->wgate.w,   d->wup.w,         d->wdown.w};
        for (size_t j = 0; j < sizeof p / sizeof p[0]; j++)
            bn_cuda_free(p[j]);
    }
    free(g->layers);
    bn_cuda_free(g->output_norm);
    if (g->head != g->embed)
        bn_cuda_free(g->head);
    bn_cuda_free(g->embed);
    free(g);
    m->gpu = NULL;
}

/* ---- a context ----------------------------------------------------------------------------- */

typedef struct cuda_context {
    void *stream;
    void *k_cache, *v_cache;
    size_t cache_bytes;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *xn, *scores, *logits, *rope;
    int8_t *xq;
    float *xs;
    int32_t *xsum, *tokens, *seq, *pos, *rows;
    int rope_on_gpu; /* positions of the RoPE table uploaded */
    int kp_max;
} cuda_context;

static bn_status cuda_create(bn_context *x, const bn_context_params *p) {
    (void)p;
    const bn_model_config *c = &x->m->cfg;
    cuda_context *g = calloc(1, sizeof *g);
    if (g == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    x->gpu = g;
    x->kv_dim = c->n_kv_heads * c->head_dim;
    int widest = c->ffn_dim > c->dim ? c->ffn_dim : c->dim;
    g->kp_max = (widest + 63) / 64 * 64;
    size_t elt = x->kv_f16 ? 2 : 4;
    g->cache_bytes = (size_t)x->n_seq * c->n_layers * x->n_ctx * x->kv_dim * elt;
    x->cache_bytes = g->cache_bytes;
    struct bn_cuda_model *w = x->m->gpu;
    size_t before = w != NULL ? w->bytes : 0;
    struct {
        void **p;
        size_t bytes;
    } bufs[] = {
        {&g->k_cache, g->cache_bytes},
        {&g->v_cache, g->cache_bytes},
        {(void **)&g->x, (size_t)BATCH * c->dim * 4},
        {(void **)&g->xb, (size_t)BATCH * widest * 4},
        {(void **)&g->q, (size_t)BATCH * c->dim * 4},
        {(void **)&g->k, (size_t)BATCH * x->kv_dim * 4},
        {(void **)&g->v, (size_t)BATCH * x->kv_dim * 4},
        {(void **)&g->att, (size_t)BATCH * c->dim * 4},
        {(void **)&g->hb, (size_t)BATCH * c->ffn_dim * 4},
        {(void **)&g->hb2, (size_t)BATCH * c->ffn_dim * 4},
        {(void **)&g->xn, (size_t)BATCH * c->dim * 4},
        {(void **)&g->scores, (size_t)BATCH * c->n_heads * x->n_ctx * 4},
        {(void **)&g->logits, (size_t)BATCH * c->n_vocab * 4},
        {(void **)&g->rope, (size_t)x->n_ctx * c->n_rot * 4},
        {(void **)&g->xq, (size_t)BATCH * g->kp_max},
        {(void **)&g->xs, (size_t)BATCH * 4},
        {(void **)&g->xsum, (size_t)BATCH * 4},
        {(void **)&g->tokens, (size_t)BATCH * 4},
        {(void **)&g->seq, (size_t)BATCH * 4},
        {(void **)&g->pos, (size_t)BATCH * 4},
        {(void **)&g->rows, (size_t)BATCH * 4},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        total += bufs[i].bytes;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bn_cuda_malloc(bufs[i].p, bufs[i].bytes) != BN_OK)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY,
                            "GPU out of memory: a context of %d positions x %d sequences needs "
                            "%.1f MiB (KV cache %.1f MiB) beside the model's %.1f MiB",
                            x->n_ctx, x->n_seq, (double)total / (1 << 20),
                            2.0 * (double)g->cache_bytes / (1 << 20), (double)before / (1 << 20));
    return bn_cuda_stream_create(&g->stream);
}

static void cuda_destroy(bn_context *x) {
    cuda_context *g = x->gpu;
    if (g == NULL)
        return;
    void *p[] = {g->k_cache, g->v_cache, g->x,    g->xb,     g->q,      g->k,      g->v,
                 g->att,     g->hb,      g->hb2,  g->xn,     g->scores, g->logits, g->rope,
                 g->xq,      g->xs,      g->xsum, g->tokens, g->seq,    g->pos,    g->rows};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        bn_cuda_free(p[i]);
    bn_cuda_stream_destroy(g->stream);
    free(g);
    x->gpu = NULL;
}

/* xb/att/hb -> int8 (bn_cuda_bitlinear_input) -> y = W . xq. */
static bn_status linear(cuda_context *g, const cuda_linear *w, int m, float *y) {
    return bn_cuda_ternary_gemv(w->w, w->rows, w->kp, w->scale, g->xq, g->xs, g->xsum, m, y,
                                g->stream);
}

static bn_status quantize(cuda_context *g, float *x, const float *src, const float *up, int act,
                          const float *norm, float eps, int m, int n, int kp) {
    return bn_cuda_bitlinear_input(x, src, up, act, norm, eps, m, n, kp, g->xq, g->xs, g->xsum,
                                   g->stream);
}

static bn_status layer_pass(bn_context *x, cuda_context *g, const struct cuda_layer *l, int layer,
                            int m) {
    const bn_model_config *c = &x->m->cfg;
    int kv_dim = x->kv_dim;
    BN_TRY(quantize(g, g->xb, g->x, NULL, 0, l->attn_norm, c->eps, m, c->dim, l->wq.kp));
    BN_TRY(linear(g, &l->wq, m, g->q));
    BN_TRY(linear(g, &l->wk, m, g->k));
    BN_TRY(linear(g, &l->wv, m, g->v));
    BN_TRY(bn_cuda_rope_neox(g->q, g->k, g->rope, g->pos, m, c->n_heads, c->n_kv_heads, c->head_dim,
                             c->n_rot, g->stream));
    BN_TRY(bn_cuda_kv_store(g->k, g->v, g->k_cache, g->v_cache, x->kv_f16, g->seq, g->pos, m, layer,
                            c->n_layers, x->n_ctx, kv_dim, g->stream));
    BN_TRY(bn_cuda_attention(g->q, g->k_cache, g->v_cache, x->kv_f16, g->seq, g->pos, m, layer,
                             c->n_layers, x->n_ctx, c->n_heads, c->n_kv_heads, c->head_dim,
                             1.0f / sqrtf((float)c->head_dim), g->scores, g->att, g->stream));
    BN_TRY(quantize(g, g->att, NULL, NULL, 0, l->attn_sub_norm, c->eps, m, c->dim, l->wo.kp));
    BN_TRY(linear(g, &l->wo, m, g->xb));
    BN_TRY(bn_cuda_add(g->x, g->xb, (size_t)m * c->dim, g->stream));
    BN_TRY(quantize(g, g->xb, g->x, NULL, 0, l->ffn_norm, c->eps, m, c->dim, l->wgate.kp));
    BN_TRY(linear(g, &l->wgate, m, g->hb));
    BN_TRY(linear(g, &l->wup, m, g->hb2));
    BN_TRY(quantize(g, g->hb, NULL, g->hb2,
                    (int)c->act /* forward_kernels.h's codes are bn_act's */, l->ffn_sub_norm,
                    c->eps, m, c->ffn_dim, l->wdown.kp));
    BN_TRY(linear(g, &l->wdown, m, g->xb));
    return bn_cuda_add(g->x, g->xb, (size_t)m * c->dim, g->stream);
}

/* RoPE rows the host has computed (forward.c's table) up to the batch's last position. */
static bn_status rope_rows(bn_context *x, cuda_context *g, int m) {
    int top = 0;
    for (int i = 0; i < m; i++)
        top = x->row_pos[i] + 1 > top ? x->row_pos[i] + 1 : top;
    if (top <= g->rope_on_gpu)
        return BN_OK;
    int n_rot = x->m->cfg.n_rot;
    BN_TRY(bn_cuda_copy_to_device_async(
        g->rope + (size_t)g->rope_on_gpu * n_rot, x->rope + (size_t)g->rope_on_gpu * n_rot,
        (size_t)(top - g->rope_on_gpu) * n_rot * sizeof(float), g->stream));
    g->rope_on_gpu = top;
    return BN_OK;
}

static bn_status cuda_eval(bn_context *x, const int32_t *tokens, int m, const int *rows, int k,
                           float *logits) {
    cuda_context *g = x->gpu;
    const struct bn_cuda_model *w = x->m->gpu;
    const bn_model_config *c = &x->m->cfg;
    int32_t seq[BATCH], pos[BATCH], want[BATCH];
    for (int i = 0; i < m; i++) {
        seq[i] = x->row_seq[i];
        pos[i] = x->row_pos[i];
    }
    for (int j = 0; j < k; j++)
        want[j] = rows[j];
    BN_TRY(rope_rows(x, g, m));
    BN_TRY(bn_cuda_copy_to_device_async(g->tokens, tokens, (size_t)m * 4, g->stream));
    BN_TRY(bn_cuda_copy_to_device_async(g->seq, seq, (size_t)m * 4, g->stream));
    BN_TRY(bn_cuda_copy_to_device_async(g->pos, pos, (size_t)m * 4, g->stream));
    if (k > 0)
        BN_TRY(bn_cuda_copy_to_device_async(g->rows, want, (size_t)k * 4, g->stream));
    BN_TRY(bn_cuda_embed_f16(w->embed, g->tokens, m, c->dim, g->x, g->stream));
    for (int l = 0; l < c->n_layers; l++)
        BN_TRY(layer_pass(x, g, &w->layers[l], l, m));
    if (k > 0) {
        BN_TRY(bn_cuda_rmsnorm_rows(g->x, g->rows, k, c->dim, w->output_norm, c->eps, g->xn,
                                    g->stream));
        BN_TRY(bn_cuda_head_f16(w->head, c->n_vocab, c->dim, g->xn, k, g->logits, g->stream));
        BN_TRY(
            bn_cuda_copy_to_host_async(logits, g->logits, (size_t)k * c->n_vocab * 4, g->stream));
    }
    BN_TRY(bn_cuda_stream_sync(g->stream));
    /* NaN or Inf anywhere in the pass reaches the logits: refuse them rather than pass them on
     * (the CPU pass names the layer; here the logits say only that it happened). */
    for (int j = 0; j < k; j++)
        if (!bn_all_finite(logits + (size_t)j * c->n_vocab, (size_t)c->n_vocab))
            return BN_ERROR(BN_ERR_RANGE,
                            "non-finite logits (NaN or Inf) at position %d on the GPU: the "
                            "model's weights or the input are out of range",
                            x->row_pos[rows[j]]);
    return BN_OK;
}

const bn_backend bn_cuda_backend = {"cuda", cuda_create, cuda_eval, cuda_destroy};
