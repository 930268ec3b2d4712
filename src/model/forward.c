/*
 * forward.c - the forward pass of forward.h, on the CPU kernels.
 */
#include "model/forward.h"

#include "base/alloc.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dot.h"
#include "kernels/cpu/q8_gemm.h"
#include "tensor/half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 64 /* tokens per GEMM pass of a prompt */

struct bn_context {
    const bn_model *m;
    bn_threadpool *pool;
    int n_ctx, n_past, kv_dim, max_in;
    bool kv_f16;
    void *k_cache, *v_cache; /* [layers][n_ctx][kv_dim], f16 or f32 */
    bn_attn_fn attend_head;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *xn;
    int8_t *xq;
    float *xs;
    int32_t *xsum;
    float *scores;  /* [threads][BN_ATTN_MAX_GROUP][n_ctx]: attention scores, per thread */
    float *rope;    /* [n_ctx][head_dim]: cos and sin of each position's angles */
    int8_t *head_q; /* the q8_0 head's activation codes [BATCH, dim] and scales */
    float *head_d;
    float *trace;
    int trace_rows;
};

static void *scratch(size_t n_floats, bool *ok) {
    void *p = bn_aligned_alloc(n_floats * sizeof(float) + 64);
    if (p == NULL)
        *ok = false;
    else
        memset(p, 0, n_floats * sizeof(float));
    return p;
}

bn_context_params bn_context_default_params(void) {
    return (bn_context_params){.n_ctx = 0, .n_threads = 0, .kv_type = BN_DTYPE_F16};
}

bn_status bn_context_create(bn_context **out, const bn_model *m, const bn_context_params *p) {
    *out = NULL;
    const bn_model_config *c = &m->cfg;
    int n_ctx = p->n_ctx, n_threads = p->n_threads;
    if (p->kv_type != BN_DTYPE_F16 && p->kv_type != BN_DTYPE_F32)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "KV cache type %s: want f16 or f32",
                        bn_dtype_name(p->kv_type));
    if (c->head_dim % 8 != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "head size %d is not a multiple of 8", c->head_dim);
    if (n_ctx <= 0)
        n_ctx = c->ctx_max;
    if (n_ctx > c->ctx_max)
        return BN_ERROR(BN_ERR_RANGE, "context %d is larger than the model's %d", n_ctx,
                        c->ctx_max);
    bn_context *x = calloc(1, sizeof *x);
    if (x == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "context");
    x->m = m;
    x->n_ctx = n_ctx;
    x->kv_dim = c->n_kv_heads * c->head_dim;
    x->kv_f16 = p->kv_type == BN_DTYPE_F16;
    x->attend_head = bn_attn_head_for(bn_cpu_isa());
    int widest = c->ffn_dim > c->dim ? c->ffn_dim : c->dim;
    x->max_in = (int)bn_ternary_padded_cols(widest, m->layers[0].wq.isa);
    size_t cache = (size_t)c->n_layers * (size_t)n_ctx * (size_t)x->kv_dim;
    bool ok = true;
    size_t cache_floats = x->kv_f16 ? (cache + 1) / 2 : cache;
    x->k_cache = scratch(cache_floats, &ok);
    x->v_cache = scratch(cache_floats, &ok);
    x->x = scratch((size_t)BATCH * c->dim, &ok);
    x->xb = scratch((size_t)BATCH * widest, &ok);
    x->xn = scratch((size_t)BATCH * c->dim, &ok);
    x->q = scratch((size_t)BATCH * c->dim, &ok);
    x->k = scratch((size_t)BATCH * x->kv_dim, &ok);
    x->v = scratch((size_t)BATCH * x->kv_dim, &ok);
    x->att = scratch((size_t)BATCH * c->dim, &ok);
    x->hb = scratch((size_t)BATCH * c->ffn_dim, &ok);
    x->hb2 = scratch((size_t)BATCH * c->ffn_dim, &ok);
    x->xq = scratch((size_t)BATCH * x->max_in / 4 + 16, &ok);
    x->xs = scratch(BATCH, &ok);
    x->xsum = scratch(BATCH, &ok);
    x->rope = scratch((size_t)n_ctx * c->head_dim, &ok);
    for (int pos = 0; ok && pos < n_ctx; pos++)
        bn_rope_table(x->rope + (size_t)pos * c->head_dim, c->head_dim, pos, c->rope_theta);
    x->head_q = scratch((size_t)BATCH * c->dim / 4 + 16, &ok);
    x->head_d = scratch((size_t)BATCH * c->dim / 32 + 1, &ok);
    bn_status st = ok ? bn_threadpool_create(n_threads, &x->pool)
                      : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "context of %d positions", n_ctx);
    if (st == BN_OK) {
        x->scores =
            scratch((size_t)bn_threadpool_n_threads(x->pool) * BN_ATTN_MAX_GROUP * n_ctx, &ok);
        if (!ok)
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "attention scores");
    }
    if (st != BN_OK) {
        bn_context_free(x);
        return st;
    }
    *out = x;
    return BN_OK;
}

void bn_context_free(bn_context *c) {
    if (c == NULL)
        return;
    bn_threadpool_destroy(c->pool);
    void *bufs[] = {c->k_cache, c->v_cache, c->x,      c->xb,     c->xn,     c->q,
                    c->k,       c->v,       c->att,    c->hb,     c->hb2,    c->xq,
                    c->xs,      c->xsum,    c->scores, c->head_q, c->head_d, c->rope};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        bn_aligned_free(bufs[i]);
    free(c);
}

void bn_context_reset(bn_context *c) {
    c->n_past = 0;
}

bn_status bn_context_truncate(bn_context *c, int n) {
    if (n < 0 || n > c->n_past)
        return BN_ERROR(BN_ERR_RANGE, "truncate to %d positions: the cache holds %d", n, c->n_past);
    c->n_past = n; /* positions from n on are written again before any query reads them */
    return BN_OK;
}

int bn_context_n_past(const bn_context *c) {
    return c->n_past;
}

int bn_context_n_ctx(const bn_context *c) {
    return c->n_ctx;
}

size_t bn_context_kv_bytes(const bn_context *c) {
    size_t esize = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    return 2 * (size_t)c->m->cfg.n_layers * (size_t)c->n_ctx * (size_t)c->kv_dim * esize;
}

void bn_context_trace(bn_context *c, float *trace, int trace_rows) {
    c->trace = trace;
    c->trace_rows = trace_rows;
}

/* ---- pieces of a layer ------------------------------------------------------------------- */

/* RMSNorm with the mean of squares summed in double: torch sums in a tree, so a plain float
 * running sum drifts from it by more than the double sum does, and every drift can flip the
 * int8 rounding of the activation quantization that follows. */
static void rmsnorm_rows(float *out, const float *x, const float *w, int m, int n, float eps) {
    for (int r = 0; r < m; r++) {
        const float *xr = x + (size_t)r * n;
        float *o = out + (size_t)r * n;
        double ss = 0.0;
        for (int i = 0; i < n; i++)
            ss += (double)xr[i] * xr[i];
        float inv = 1.0f / sqrtf((float)(ss / n) + eps);
        for (int i = 0; i < n; i++)
            o[i] = w[i] * (xr[i] * inv);
    }
}

/*
 * BitLinear's input side, one token row at a time: [gated activation] → [RMSNorm] → int8
 * activations for w. Layers that read the same input (q, k, v; gate, up) have the same K and so
 * the same padded layout: quantize once, then run each matrix on the shared xq.
 *
 * Rows are independent, so a batch's rows go to the pool's threads as the GEMM's weight rows do:
 * done on the calling thread alone, these steps took about a sixth of a prompt's time on two
 * threads while the other one waited. Each row's arithmetic is the same either way.
 */
typedef struct input_job {
    bn_context *c;
    const bn_ternary_matrix *w; /* the layout to quantize for */
    float *x;                   /* [m, n] rows: written by the steps, then quantized */
    const float *src;           /* the input rows (x itself when NULL) */
    const float *norm;          /* RMSNorm weight, or NULL for no norm */
    const float *up;            /* gated: x = act(x) * up first, or NULL */
    int n;
} input_job;

static void input_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const input_job *j = ctx;
    const bn_model_config *cfg = &j->c->m->cfg;
    const int64_t kp = j->w->cols_padded;
    for (size_t r = begin; r < end; r++) {
        float *x = j->x + r * (size_t)j->n;
        if (j->up != NULL)
            bn_ref_gated(x, x, j->up + r * (size_t)j->n, (size_t)j->n, cfg->act);
        if (j->norm != NULL)
            rmsnorm_rows(x, j->src != NULL ? j->src + r * (size_t)j->n : x, j->norm, 1, j->n,
                         cfg->eps);
        else if (j->src != NULL)
            memcpy(x, j->src + r * (size_t)j->n, (size_t)j->n * sizeof *x);
        bn_ternary_quantize_acts(j->w, x, 1, j->c->xq + (int64_t)r * kp, j->c->xs + r,
                                 j->c->xsum + r);
    }
}

static void prepare_input(bn_context *c, int m, const input_job *job) {
    if (m == 1) /* decode: less work than waking the pool */
        input_rows((void *)job, 0, 1, 0);
    else
        bn_parallel_for(c->pool, (size_t)m, 0, input_rows, (void *)job);
}

static bn_status product(bn_context *c, const bn_ternary_matrix *w, int m, float *y) {
    return bn_ternary_gemm(w, c->xq, c->xs, c->xsum, m, y, c->pool);
}

typedef struct attn_job {
    bn_context *c;
    int layer, m, pos0;
} attn_job;

/* One (token, KV head) pair at a time: attention.h's kernel over positions 0..pos of the
 * cache, for the query heads that share the KV head (up to BN_ATTN_MAX_GROUP per call). */
static void attend(void *ctx, size_t begin, size_t end, int thread_id) {
    const attn_job *j = ctx;
    bn_context *c = j->c;
    const bn_model_config *cfg = &c->m->cfg;
    int hd = cfg->head_dim, group = cfg->n_heads / cfg->n_kv_heads;
    size_t esize = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    size_t layer_off = (size_t)j->layer * c->n_ctx * c->kv_dim;
    for (size_t item = begin; item < end; item++) {
        int i = (int)(item / (size_t)cfg->n_kv_heads), kvh = (int)(item % (size_t)cfg->n_kv_heads);
        size_t off = (layer_off + (size_t)kvh * hd) * esize;
        for (int h0 = 0; h0 < group; h0 += BN_ATTN_MAX_GROUP) {
            size_t q_off = (size_t)i * cfg->dim + (size_t)(kvh * group + h0) * hd;
            bn_attn_args a = {
                .q = c->q + q_off,
                .keys = (const uint8_t *)c->k_cache + off,
                .values = (const uint8_t *)c->v_cache + off,
                .stride = c->kv_dim,
                .f16 = c->kv_f16,
                .n = j->pos0 + i + 1,
                .d = hd,
                .n_q = group - h0 < BN_ATTN_MAX_GROUP ? group - h0 : BN_ATTN_MAX_GROUP,
                .scale = 1.0f / sqrtf((float)hd),
                .scores = c->scores + (size_t)thread_id * BN_ATTN_MAX_GROUP * c->n_ctx,
                .out = c->att + q_off,
            };
            c->attend_head(&a);
        }
    }
}

/* Position pos's key and value rows into the cache of a layer, in the cache's type. */
static void cache_store(bn_context *c, int layer, int pos, const float *k, const float *v) {
    size_t at = ((size_t)layer * c->n_ctx + (size_t)pos) * c->kv_dim;
    if (c->kv_f16) {
        bn_f32_to_f16_row(k, (uint16_t *)c->k_cache + at, (size_t)c->kv_dim);
        bn_f32_to_f16_row(v, (uint16_t *)c->v_cache + at, (size_t)c->kv_dim);
    } else {
        memcpy((float *)c->k_cache + at, k, (size_t)c->kv_dim * sizeof(float));
        memcpy((float *)c->v_cache + at, v, (size_t)c->kv_dim * sizeof(float));
    }
}

static bn_status attention_block(bn_context *c, const bn_layer *l, int layer, int m, int pos0) {
    const bn_model_config *cfg = &c->m->cfg;
    prepare_input(c, m, &(input_job){c, &l->wq, c->xb, c->x, l->attn_norm, NULL, cfg->dim});
    BN_TRY(product(c, &l->wq, m, c->q));
    BN_TRY(product(c, &l->wk, m, c->k));
    BN_TRY(product(c, &l->wv, m, c->v));
    for (int i = 0; i < m; i++) {
        float *q = c->q + (size_t)i * cfg->dim, *k = c->k + (size_t)i * c->kv_dim;
        const float *cs = c->rope + (size_t)(pos0 + i) * cfg->head_dim;
        bn_rope_neox_apply(q, cfg->n_heads, cfg->head_dim, cfg->head_dim, cs);
        bn_rope_neox_apply(k, cfg->n_kv_heads, cfg->head_dim, cfg->head_dim, cs);
        cache_store(c, layer, pos0 + i, k, c->v + (size_t)i * c->kv_dim);
    }
    attn_job job = {c, layer, m, pos0};
    bn_parallel_for(c->pool, (size_t)m * cfg->n_kv_heads, 0, attend, &job);
    prepare_input(c, m, &(input_job){c, &l->wo, c->att, NULL, l->attn_sub_norm, NULL, cfg->dim});
    BN_TRY(product(c, &l->wo, m, c->xb));
    for (size_t i = 0; i < (size_t)m * cfg->dim; i++)
        c->x[i] += c->xb[i];
    return BN_OK;
}

static bn_status ffn_block(bn_context *c, const bn_layer *l, int m) {
    const bn_model_config *cfg = &c->m->cfg;
    prepare_input(c, m, &(input_job){c, &l->wgate, c->xb, c->x, l->ffn_norm, NULL, cfg->dim});
    BN_TRY(product(c, &l->wgate, m, c->hb));
    BN_TRY(product(c, &l->wup, m, c->hb2));
    prepare_input(c, m,
                  &(input_job){c, &l->wdown, c->hb, NULL, l->ffn_sub_norm, c->hb2, cfg->ffn_dim});
    BN_TRY(product(c, &l->wdown, m, c->xb));
    for (size_t i = 0; i < (size_t)m * cfg->dim; i++)
        c->x[i] += c->xb[i];
    return BN_OK;
}

/* ---- embeddings and head ----------------------------------------------------------------- */

static size_t row_bytes(bn_dtype t, int dim) {
    const bn_dtype_traits *d = bn_dtype_get(t);
    return (size_t)(dim / d->block_size) * d->block_bytes;
}

static bn_status embed(bn_context *c, const int32_t *tokens, int m) {
    const bn_model *md = c->m;
    const bn_dtype_traits *d = bn_dtype_get(md->embed_type);
    size_t rb = row_bytes(md->embed_type, md->cfg.dim);
    for (int i = 0; i < m; i++) {
        if (tokens[i] < 0 || tokens[i] >= md->cfg.n_vocab)
            return BN_ERROR(BN_ERR_RANGE, "token id %d is outside the vocabulary (0..%d)",
                            tokens[i], md->cfg.n_vocab - 1);
        d->to_f32((const uint8_t *)md->embed + (size_t)tokens[i] * rb,
                  c->x + (size_t)i * md->cfg.dim, md->cfg.dim);
    }
    return BN_OK;
}

typedef struct head_job {
    const bn_model *m;
    const float *xn; /* [rows, dim] */
    int rows;
    float *logits; /* [rows, n_vocab] */
} head_job;

/* One vocabulary row at a time. Few tokens (generation): an f16/bf16 row is dotted straight
 * from the file, the rows a few ahead prefetched (the head is a stream from memory). Many
 * tokens (all logits of a prompt): each row is widened once and dotted with every token. The
 * widening is exact, so both give the same bits. */
enum { HEAD_DIRECT_ROWS = 4, HEAD_PREFETCH_ROWS = 4 };

static void head_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const head_job *j = ctx;
    const bn_model *m = j->m;
    int dim = m->cfg.dim;
    const bn_dtype_traits *d = bn_dtype_get(m->head_type);
    size_t rb = row_bytes(m->head_type, dim);
    const uint8_t *head = m->head;
    bn_dot_fn dot = bn_dot_f32_for(bn_cpu_isa());
    bn_dot_half_fn half = m->head_type == BN_DTYPE_F16    ? bn_dot_f16_for(bn_cpu_isa())
                          : m->head_type == BN_DTYPE_BF16 ? bn_dot_bf16_for(bn_cpu_isa())
                                                          : NULL;
    bool direct = j->rows <= HEAD_DIRECT_ROWS && (half != NULL || m->head_type == BN_DTYPE_F32);
    float w[8192];
    for (size_t v = begin; v < end; v++) {
        const uint8_t *row = head + v * rb;
        if (v + HEAD_PREFETCH_ROWS < end)
            for (size_t off = 0; off < rb; off += 64)
                __builtin_prefetch(row + HEAD_PREFETCH_ROWS * rb + off);
        const float *wf = (const float *)row;
        if (!direct) {
            d->to_f32(row, w, dim);
            wf = w;
        }
        for (int r = 0; r < j->rows; r++) {
            const float *x = j->xn + (size_t)r * dim;
            j->logits[(size_t)r * m->cfg.n_vocab + v] =
                direct && half != NULL ? half((const uint16_t *)row, x, dim) : dot(wf, x, dim);
        }
    }
}

/* A q8_0 head runs the Q8_0 kernels (the activations quantized per block of 32); a float head
 * is dotted in float32, exactly. */
static bn_status head(bn_context *c, int first, int rows, float *logits) {
    const bn_model_config *cfg = &c->m->cfg;
    rmsnorm_rows(c->xn, c->x + (size_t)first * cfg->dim, c->m->output_norm, rows, cfg->dim,
                 cfg->eps);
    if (c->m->head_type == BN_DTYPE_Q8_0) {
        bn_q8_quantize_acts(c->xn, rows, cfg->dim, c->head_q, c->head_d);
        return bn_q8_gemm(c->m->head, cfg->n_vocab, cfg->dim, c->head_q, c->head_d, rows, logits,
                          c->pool);
    }
    head_job job = {c->m, c->xn, rows, logits};
    bn_parallel_for(c->pool, (size_t)cfg->n_vocab, 256, head_rows, &job);
    return BN_OK;
}

/* ---- one batch, then the whole call ------------------------------------------------------ */

static void trace_rows(bn_context *c, int slot, int m) {
    if (c->trace == NULL || c->n_past + m > c->trace_rows)
        return;
    int dim = c->m->cfg.dim;
    memcpy(c->trace + ((size_t)slot * c->trace_rows + c->n_past) * dim, c->x,
           (size_t)m * dim * sizeof(float));
}

static bn_status eval_batch(bn_context *c, const int32_t *tokens, int m, float *logits, bool all) {
    const bn_model *md = c->m;
    BN_TRY(embed(c, tokens, m));
    trace_rows(c, 0, m);
    for (int l = 0; l < md->cfg.n_layers; l++) {
        BN_TRY(attention_block(c, &md->layers[l], l, m, c->n_past));
        BN_TRY(ffn_block(c, &md->layers[l], m));
        trace_rows(c, l + 1, m);
    }
    if (logits != NULL)
        BN_TRY(all ? head(c, 0, m, logits) : head(c, m - 1, 1, logits));
    c->n_past += m;
    return BN_OK;
}

bn_status bn_context_eval(bn_context *c, const int32_t *tokens, int n, float *logits, bool all) {
    if (n <= 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "eval: no tokens");
    if (c->n_past + n > c->n_ctx)
        return BN_ERROR(BN_ERR_RANGE, "%d tokens after %d do not fit the context of %d", n,
                        c->n_past, c->n_ctx);
    if (c->m->cfg.dim > 8192 || c->m->cfg.head_dim > 1024)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "hidden size %d / head size %d above 8192 / 1024",
                        c->m->cfg.dim, c->m->cfg.head_dim);
    for (int done = 0; done < n;) {
        int m = n - done < BATCH ? n - done : BATCH;
        bool last = done + m == n;
        float *out = logits == NULL ? NULL
                     : all          ? logits + (size_t)done * c->m->cfg.n_vocab
                     : last         ? logits
                                    : NULL;
        BN_TRY(eval_batch(c, tokens + done, m, out, all));
        done += m;
    }
    return BN_OK;
}
