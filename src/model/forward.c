/*
 * forward.c - the forward pass of forward.h, on the CPU kernels.
 */
#include "model/forward.h"
#include "model/context.h"
#include "model/forward_cuda.h"

#include "base/alloc.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dot.h"
#include "kernels/cpu/gated.h"
#include "kernels/cpu/kq_gemm.h"
#include "kernels/cpu/q8_gemm.h"
#include "tensor/half.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *scratch(size_t n_floats, bool *ok) {
    void *p = bn_aligned_alloc(n_floats * sizeof(float) + 64);
    if (p == NULL)
        *ok = false;
    else
        memset(p, 0, n_floats * sizeof(float));
    return p;
}

/* Big buffers come as pages from the OS: untouched pages cost no memory and no time, so a
 * context of many positions is cheap until its positions are used. */
static void *pages(size_t bytes, bool *ok) {
    void *p = *ok ? bn_pages_alloc(bytes) : NULL;
    if (p == NULL)
        *ok = false;
    return p;
}

bn_context_params bn_context_default_params(void) {
    return (bn_context_params){.n_ctx = 0, .n_seq_max = 1, .n_threads = 0, .kv_type = BN_KV_F16};
}

/* What a context of n_ctx positions takes: bytes per position (KV cache, RoPE table, attention
 * partials) and bytes that do not depend on it (activation scratch). */
typedef struct context_bytes {
    size_t kv_per_pos, rope_per_pos, partials_per_chunk, fixed;
} context_bytes;

static context_bytes sizes_of(const bn_model_config *c, int threads, bool f16, int max_in) {
    size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim, widest = (size_t)c->ffn_dim;
    widest = widest > (size_t)c->dim ? widest : (size_t)c->dim;
    size_t pf = bn_attn_partial_floats(c->head_dim) * sizeof(float);
    size_t blocks = (size_t)(c->n_heads / c->n_kv_heads + BN_ATTN_MAX_GROUP - 1) /
                    BN_ATTN_MAX_GROUP; /* query-head blocks per KV head */
    /* decode: one partial per (KV head, head block, chunk); prompts: a chunk row per thread */
    size_t items = (size_t)c->n_kv_heads * blocks + (size_t)threads;
    return (context_bytes){
        .kv_per_pos = 2 * (size_t)c->n_layers * kv_dim * (f16 ? 2 : 4),
        .rope_per_pos = (size_t)c->head_dim * sizeof(float),
        .partials_per_chunk = items * BN_ATTN_MAX_GROUP * pf,
        .fixed = sizeof(float) * BATCH *
                     (3 * (size_t)c->dim + widest + 2 * kv_dim + c->dim + 2 * (size_t)c->ffn_dim) +
                 (size_t)BATCH * max_in + (size_t)threads * BN_ATTN_MAX_GROUP * BN_ATTN_CHUNK * 4,
    };
}

static size_t total_bytes(const context_bytes *b, int n_ctx, int n_seq) {
    return b->fixed + (size_t)n_ctx * ((size_t)n_seq * b->kv_per_pos + b->rope_per_pos) +
           (size_t)bn_attn_chunks(n_ctx) * b->partials_per_chunk;
}

/* A context that cannot fit is refused up front with the sizes and the -c that would fit,
 * rather than killed by the OOM killer half-way through a long conversation. */
static bn_status check_fits(const context_bytes *b, int n_ctx, int n_seq, bool f16) {
    size_t need = total_bytes(b, n_ctx, n_seq), avail = bn_memory_available();
    if (need <= avail)
        return BN_OK;
    size_t per_pos =
        (size_t)n_seq * b->kv_per_pos + b->rope_per_pos + b->partials_per_chunk / BN_ATTN_CHUNK + 1;
    size_t fit = avail > b->fixed ? (avail - b->fixed) / per_pos : 0;
    return BN_ERROR(BN_ERR_OUT_OF_MEMORY,
                    "a context of %d positions%s needs %.2f GiB (KV cache %.2f GiB in %s) but "
                    "%.2f GiB of memory is available: a context of at most %zu positions fits "
                    "(-c)%s",
                    n_ctx, n_seq > 1 ? " per sequence" : "", (double)need / (1 << 30),
                    (double)b->kv_per_pos * n_ctx * n_seq / (1 << 30), f16 ? "f16" : "f32",
                    (double)avail / (1 << 30), fit, f16 ? "" : ", or half the cache with f16");
}

enum { MAX_SEQ = 4096 };

/* The CPU backend (defined with its functions below). */
static const bn_backend cpu_backend;

bn_status bn_context_create(bn_context **out, const bn_model *m, const bn_context_params *params) {
    if (out != NULL)
        *out = NULL;
    if (out == NULL || m == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "context create: NULL %s", out ? "model" : "out");
    bn_context_params dp = bn_context_default_params();
    const bn_context_params *p = params != NULL ? params : &dp;
    const bn_model_config *c = &m->cfg;
    int n_ctx = p->n_ctx, n_seq = p->n_seq_max == 0 ? 1 : p->n_seq_max;
    if (p->kv_type != BN_KV_F16 && p->kv_type != BN_KV_F32)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "context: KV cache type %d: want BN_KV_F16 or "
                        "BN_KV_F32",
                        (int)p->kv_type);
    if (n_ctx < 0 || n_seq < 1 || n_seq > MAX_SEQ || p->n_threads < 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "context: n_ctx %d, n_seq_max %d (1..%d), n_threads %d",
                        n_ctx, p->n_seq_max, MAX_SEQ, p->n_threads);
    if (n_ctx <= 0)
        n_ctx = c->ctx_max < BN_DEFAULT_CTX ? c->ctx_max : BN_DEFAULT_CTX;
    if (n_ctx > c->ctx_max)
        return BN_ERROR(BN_ERR_RANGE, "context %d is larger than the model's %d", n_ctx,
                        c->ctx_max);
    bn_context *x = calloc(1, sizeof *x);
    if (x == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "context");
    x->m = m;
    bn_model_retain(m); /* dropped by bn_context_free, on every path below too */
    atomic_flag_clear(&x->busy);
    x->n_ctx = n_ctx;
    x->n_seq = n_seq;
    x->kv_dim = c->n_kv_heads * c->head_dim;
    x->kv_f16 = p->kv_type == BN_KV_F16;
    x->seq_len = calloc((size_t)n_seq, sizeof *x->seq_len);
    x->seq_next = calloc((size_t)n_seq, sizeof *x->seq_next);
    if (x->seq_len == NULL || x->seq_next == NULL) {
        bn_context_free(x);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "context");
    }
    x->float_head = p->float_head;
    /* the backend first: it says what does not fit, with the sizes */
    x->backend = m->device == BN_DEVICE_CUDA ? &bn_cuda_backend : &cpu_backend;
    bn_status st = x->backend->create(x, p);
    bool ok = true;
    x->rope_bytes = (size_t)n_ctx * c->head_dim * sizeof(float);
    if (st == BN_OK && (x->rope = pages(x->rope_bytes, &ok)) == NULL)
        st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "context: the RoPE table of %d positions", n_ctx);
    if (st != BN_OK) {
        bn_context_free(x);
        return st;
    }
    *out = x;
    return BN_OK;
}

/* The CPU backend's part of a context: threads, the KV cache in host pages, the scratch of a
 * batch. */
static bn_status cpu_create(bn_context *x, const bn_context_params *p) {
    const bn_model *m = x->m;
    const bn_model_config *c = &m->cfg;
    int n_ctx = x->n_ctx, n_seq = x->n_seq;
    x->attend_chunk = bn_attn_chunk_for(bn_cpu_isa());
    x->gated = bn_gated_for(bn_cpu_isa());
    int widest = c->ffn_dim > c->dim ? c->ffn_dim : c->dim;
    x->max_in =
        (int)bn_ternary_layout_padded_cols(widest, m->layers[0].wq.isa, m->layers[0].wq.layout);
    BN_TRY(bn_threadpool_create(p->n_threads, &x->pool));
    x->n_threads = bn_threadpool_n_threads(x->pool);
    context_bytes b = sizes_of(c, x->n_threads, x->kv_f16, x->max_in);
    BN_TRY(check_fits(&b, n_ctx, n_seq, x->kv_f16));
    bool ok = true;
    x->cache_bytes = (size_t)n_seq * n_ctx * b.kv_per_pos / 2;
    x->k_cache = pages(x->cache_bytes, &ok);
    x->v_cache = pages(x->cache_bytes, &ok);
    x->partials_bytes = (size_t)bn_attn_chunks(n_ctx) * b.partials_per_chunk;
    x->partials = pages(x->partials_bytes, &ok);
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
    x->head_q = scratch((size_t)BATCH * c->dim / 4 + 16, &ok);
    x->head_d = scratch((size_t)BATCH * c->dim / 32 + 1, &ok);
    x->scores = scratch((size_t)x->n_threads * BN_ATTN_MAX_GROUP * BN_ATTN_CHUNK, &ok);
    size_t kq_bytes;
    if (bn_kq_acts_bytes(BATCH, c->dim, &kq_bytes) == BN_OK)
        x->head_kq = scratch(kq_bytes / sizeof(float), &ok);
    if (!ok)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "context of %d positions (%.2f GiB)", n_ctx,
                        (double)total_bytes(&b, n_ctx, n_seq) / (1 << 30));
    return BN_OK;
}

static void cpu_destroy(bn_context *c) {
    bn_threadpool_destroy(c->pool);
    bn_pages_free(c->k_cache, c->cache_bytes);
    bn_pages_free(c->v_cache, c->cache_bytes);
    bn_pages_free(c->partials, c->partials_bytes);
    void *bufs[] = {c->x,   c->xb, c->xn, c->q,    c->k,      c->v,      c->att,    c->hb,
                    c->hb2, c->xq, c->xs, c->xsum, c->scores, c->head_q, c->head_d, c->head_kq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        bn_aligned_free(bufs[i]);
}

static bn_status eval_batch(bn_context *c, const int32_t *tokens, int m, const int *rows, int k,
                            float *logits);
static const bn_backend cpu_backend = {"cpu", cpu_create, eval_batch, cpu_destroy};

void bn_context_free(bn_context *c) {
    if (c == NULL)
        return;
    if (c->backend != NULL)
        c->backend->destroy(c);
    bn_pages_free(c->rope, c->rope_bytes);
    free(c->seq_len);
    free(c->seq_next);
    bn_model_release(c->m);
    free(c);
}

void bn_context_reset(bn_context *c) {
    if (c != NULL)
        memset(c->seq_len, 0, (size_t)c->n_seq * sizeof *c->seq_len);
}

bn_status bn_context_seq_truncate(bn_context *c, int seq, int n) {
    if (c == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "truncate: NULL context");
    if (seq < 0 || seq >= c->n_seq)
        return BN_ERROR(BN_ERR_RANGE, "truncate: sequence %d of a context of %d", seq, c->n_seq);
    if (atomic_flag_test_and_set(&c->busy))
        return BN_ERROR(BN_ERR_INVALID_ARG, "truncate: the context is in use by another thread");
    int held = c->seq_len[seq];
    if (n >= 0 && n <= held)
        c->seq_len[seq] = n; /* positions from n on are written again before a query reads them */
    atomic_flag_clear(&c->busy);
    if (n < 0 || n > held)
        return BN_ERROR(BN_ERR_RANGE, "truncate sequence %d to %d positions: it holds %d", seq, n,
                        held);
    return BN_OK;
}

bn_status bn_context_truncate(bn_context *c, int n) {
    return bn_context_seq_truncate(c, 0, n);
}

int bn_context_seq_len(const bn_context *c, int seq) {
    return c != NULL && seq >= 0 && seq < c->n_seq ? c->seq_len[seq] : -1;
}

int bn_context_n_past(const bn_context *c) {
    return bn_context_seq_len(c, 0);
}

int bn_context_n_ctx(const bn_context *c) {
    return c != NULL ? c->n_ctx : 0;
}

int bn_context_n_seq_max(const bn_context *c) {
    return c != NULL ? c->n_seq : 0;
}

const bn_model *bn_context_model(const bn_context *c) {
    return c != NULL ? c->m : NULL;
}

size_t bn_context_kv_bytes(const bn_context *c) {
    return 2 * c->cache_bytes;
}

void bn_context_trace(bn_context *c, float *trace, int trace_rows) {
    c->trace = trace;
    c->trace_rows = trace_rows;
}

/* ---- pieces of a layer ------------------------------------------------------------------- */

/* RMSNorm of m rows (bn_ref_rmsnorm, the engine's one RMSNorm). */
static void rmsnorm_rows(float *out, const float *x, const float *w, int m, int n, float eps) {
    for (int r = 0; r < m; r++)
        bn_ref_rmsnorm(out + (size_t)r * n, x + (size_t)r * n, w, (size_t)n, eps);
}

/* Non-finite values must stop the pass, not flow on: the int8 quantization would turn a NaN
 * into 0 and an Inf row into zeros, and the logits into plausible nonsense. Each check names
 * where the values first appeared. */
/* " of sequence s" after a position, when the context has several. */
static const char *of_seq(const bn_context *c, int row, char *buf, size_t size) {
    buf[0] = '\0';
    if (c->n_seq > 1)
        snprintf(buf, size, " of sequence %d", c->row_seq[row]);
    return buf;
}

static bn_status check_rows(const bn_context *c, const float *x, const int *rows, int m, int n,
                            const char *where, int layer) {
    char of_layer[32] = "", seq[32];
    if (layer >= 0)
        snprintf(of_layer, sizeof of_layer, " of layer %d", layer);
    for (int i = 0; i < m; i++)
        if (!bn_all_finite(x + (size_t)i * n, (size_t)n)) {
            int r = rows != NULL ? rows[i] : i;
            return BN_ERROR(BN_ERR_RANGE,
                            "non-finite activations (NaN or Inf) %s%s at position %d%s: the "
                            "model's weights or the input are out of range",
                            where, of_layer, c->row_pos[r], of_seq(c, r, seq, sizeof seq));
        }
    return BN_OK;
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
    const char *name;           /* the product's name, for the non-finite message */
    const bn_ternary_matrix *w; /* the layout to quantize for */
    float *x;                   /* [m, n] rows: written by the steps, then quantized */
    const float *src;           /* the input rows (x itself when NULL) */
    const float *norm;          /* RMSNorm weight, or NULL for no norm */
    const float *up;            /* gated: x = act(x) * up first, or NULL */
    int n;
    atomic_int bad_row; /* 1 + the first row seen with non-finite values, 0 when none */
} input_job;

static void input_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    input_job *j = ctx;
    const bn_model_config *cfg = &j->c->m->cfg;
    const int64_t kp = j->w->cols_padded;
    for (size_t r = begin; r < end; r++) {
        float *x = j->x + r * (size_t)j->n;
        if (j->up != NULL)
            j->c->gated(x, j->up + r * (size_t)j->n, (size_t)j->n, cfg->act);
        if (j->norm != NULL)
            rmsnorm_rows(x, j->src != NULL ? j->src + r * (size_t)j->n : x, j->norm, 1, j->n,
                         cfg->eps);
        else if (j->src != NULL)
            memcpy(x, j->src + r * (size_t)j->n, (size_t)j->n * sizeof *x);
        /* the quantization would turn NaN into 0: report the row instead (the lowest, whichever
         * thread sees it first, so the message does not depend on the scheduling) */
        if (!bn_all_finite(x, (size_t)j->n)) {
            int seen = atomic_load(&j->bad_row);
            while ((seen == 0 || (int)r + 1 < seen) &&
                   !atomic_compare_exchange_weak(&j->bad_row, &seen, (int)r + 1))
                ;
        }
        bn_ternary_quantize_acts(j->w, x, 1, j->c->xq + (int64_t)r * kp, j->c->xs + r,
                                 j->c->xsum + r);
    }
}

static bn_status prepare_input(bn_context *c, int m, int layer, input_job *job) {
    if (m == 1) /* decode: less work than waking the pool */
        input_rows(job, 0, 1, 0);
    else
        bn_parallel_for(c->pool, (size_t)m, 0, input_rows, job);
    int bad = atomic_load(&job->bad_row);
    if (bad == 0)
        return BN_OK;
    char seq[32];
    return BN_ERROR(BN_ERR_RANGE,
                    "non-finite activations (NaN or Inf) at the input of %s of layer %d at "
                    "position %d%s: the model's weights or the input are out of range",
                    job->name, layer, c->row_pos[bad - 1], of_seq(c, bad - 1, seq, sizeof seq));
}

static bn_status product(bn_context *c, const bn_ternary_matrix *w, int m, float *y) {
    return bn_ternary_gemm(w, c->xq, c->xs, c->xsum, m, y, c->pool);
}

typedef struct attn_job {
    bn_context *c;
    int layer, m;
    int blocks, chunks; /* query-head blocks per KV head; chunks of the row (decode) */
} attn_job;

/* Where the cache rows of (sequence, layer) start, in elements. */
static size_t cache_base(const bn_context *c, int seq, int layer) {
    return ((size_t)seq * c->m->cfg.n_layers + (size_t)layer) * c->n_ctx * c->kv_dim;
}

/* The kernel's arguments for token i, KV head kvh and its query-head block hb. */
static bn_attn_args attn_args(const attn_job *j, int i, int kvh, int hb, int thread_id) {
    bn_context *c = j->c;
    const bn_model_config *cfg = &c->m->cfg;
    int hd = cfg->head_dim, group = cfg->n_heads / cfg->n_kv_heads, h0 = hb * BN_ATTN_MAX_GROUP;
    size_t esize = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    size_t off = (cache_base(c, c->row_seq[i], j->layer) + (size_t)kvh * hd) * esize;
    return (bn_attn_args){
        .q = c->q + (size_t)i * cfg->dim + (size_t)(kvh * group + h0) * hd,
        .keys = (const uint8_t *)c->k_cache + off,
        .values = (const uint8_t *)c->v_cache + off,
        .stride = c->kv_dim,
        .f16 = c->kv_f16,
        .n = c->row_pos[i] + 1,
        .d = hd,
        .n_q = group - h0 < BN_ATTN_MAX_GROUP ? group - h0 : BN_ATTN_MAX_GROUP,
        .scale = 1.0f / sqrtf((float)hd),
        .scores = c->scores + (size_t)thread_id * BN_ATTN_MAX_GROUP * BN_ATTN_CHUNK,
    };
}

static float *attn_out(const attn_job *j, const bn_attn_args *a) {
    return j->c->att + (a->q - j->c->q);
}

/* Prompts: one (token, KV head, head block) at a time, every chunk of its row on this thread,
 * its partials in the thread's own row of the partials buffer. */
static void attend_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    const attn_job *j = ctx;
    size_t per_thread = (size_t)bn_attn_chunks(j->c->n_ctx) * BN_ATTN_MAX_GROUP *
                        bn_attn_partial_floats(j->c->m->cfg.head_dim);
    float *partials = j->c->partials + (size_t)thread_id * per_thread;
    for (size_t item = begin; item < end; item++) {
        int hb = (int)(item % (size_t)j->blocks);
        size_t rest = item / (size_t)j->blocks;
        int kvh = (int)(rest % (size_t)j->c->m->cfg.n_kv_heads);
        int i = (int)(rest / (size_t)j->c->m->cfg.n_kv_heads);
        bn_attn_args a = attn_args(j, i, kvh, hb, thread_id);
        bn_attn_heads(j->c->attend_chunk, &a, partials, attn_out(j, &a));
    }
}

/* Decode: a single token has only n_kv_heads * blocks rows, fewer than the threads at times
 * (2B-4T: 5), so each row's chunks are work items too; the partials of the (row, chunk) items
 * sit after the per-thread rows, and each row is combined once they are all in. The chunks
 * and their order are the prompt path's, so the bits are the same. */
static float *decode_partials(const attn_job *j, size_t row) {
    const bn_context *c = j->c;
    size_t per_row = (size_t)bn_attn_chunks(c->n_ctx) * BN_ATTN_MAX_GROUP *
                     bn_attn_partial_floats(c->m->cfg.head_dim);
    return c->partials + ((size_t)c->n_threads + row) * per_row;
}

static void attend_chunks(void *ctx, size_t begin, size_t end, int thread_id) {
    const attn_job *j = ctx;
    for (size_t item = begin; item < end; item++) {
        size_t row = item / (size_t)j->chunks;
        int chunk = (int)(item % (size_t)j->chunks);
        bn_attn_args a = attn_args(j, 0, (int)(row / (size_t)j->blocks),
                                   (int)(row % (size_t)j->blocks), thread_id);
        j->c->attend_chunk(&a, chunk,
                           decode_partials(j, row) +
                               (size_t)chunk * a.n_q * bn_attn_partial_floats(a.d));
    }
}

static void combine_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    const attn_job *j = ctx;
    for (size_t row = begin; row < end; row++) {
        bn_attn_args a = attn_args(j, 0, (int)(row / (size_t)j->blocks),
                                   (int)(row % (size_t)j->blocks), thread_id);
        bn_attn_combine(decode_partials(j, row), j->chunks, a.n_q, a.d, attn_out(j, &a));
    }
}

static void attention(bn_context *c, int layer, int m) {
    const bn_model_config *cfg = &c->m->cfg;
    int group = cfg->n_heads / cfg->n_kv_heads;
    attn_job job = {c, layer, m, (group + BN_ATTN_MAX_GROUP - 1) / BN_ATTN_MAX_GROUP,
                    bn_attn_chunks(c->row_pos[0] + 1)};
    size_t rows = (size_t)cfg->n_kv_heads * job.blocks;
    if (m > 1 || job.chunks == 1) {
        bn_parallel_for(c->pool, (size_t)m * rows, 0, attend_rows, &job);
        return;
    }
    bn_parallel_for(c->pool, rows * job.chunks, 1, attend_chunks, &job);
    bn_parallel_for(c->pool, rows, 1, combine_rows, &job);
}

/* Position pos's key and value rows into the cache of a sequence's layer, in the cache's type. */
static void cache_store(bn_context *c, int seq, int layer, int pos, const float *k,
                        const float *v) {
    size_t at = cache_base(c, seq, layer) + (size_t)pos * c->kv_dim;
    if (c->kv_f16) {
        bn_f32_to_f16_row(k, (uint16_t *)c->k_cache + at, (size_t)c->kv_dim);
        bn_f32_to_f16_row(v, (uint16_t *)c->v_cache + at, (size_t)c->kv_dim);
    } else {
        memcpy((float *)c->k_cache + at, k, (size_t)c->kv_dim * sizeof(float));
        memcpy((float *)c->v_cache + at, v, (size_t)c->kv_dim * sizeof(float));
    }
}

static bn_status attention_block(bn_context *c, const bn_layer *l, int layer, int m) {
    const bn_model_config *cfg = &c->m->cfg;
    input_job in = {.c = c,
                    .name = "attn_q/k/v",
                    .w = &l->wq,
                    .x = c->xb,
                    .src = c->x,
                    .norm = l->attn_norm,
                    .n = cfg->dim};
    BN_TRY(prepare_input(c, m, layer, &in));
    BN_TRY(product(c, &l->wq, m, c->q));
    BN_TRY(product(c, &l->wk, m, c->k));
    BN_TRY(product(c, &l->wv, m, c->v));
    for (int i = 0; i < m; i++) {
        float *q = c->q + (size_t)i * cfg->dim, *k = c->k + (size_t)i * c->kv_dim;
        const float *cs = c->rope + (size_t)c->row_pos[i] * cfg->n_rot;
        bn_rope_neox_apply(q, cfg->n_heads, cfg->head_dim, cfg->n_rot, cs);
        bn_rope_neox_apply(k, cfg->n_kv_heads, cfg->head_dim, cfg->n_rot, cs);
        cache_store(c, c->row_seq[i], layer, c->row_pos[i], k, c->v + (size_t)i * c->kv_dim);
    }
    attention(c, layer, m);
    input_job out = {.c = c,
                     .name = "attn_output",
                     .w = &l->wo,
                     .x = c->att,
                     .norm = l->attn_sub_norm,
                     .n = cfg->dim};
    BN_TRY(prepare_input(c, m, layer, &out));
    BN_TRY(product(c, &l->wo, m, c->xb));
    for (size_t i = 0; i < (size_t)m * cfg->dim; i++)
        c->x[i] += c->xb[i];
    return check_rows(c, c->x, NULL, m, cfg->dim, "after the attention", layer);
}

static bn_status ffn_block(bn_context *c, const bn_layer *l, int layer, int m) {
    const bn_model_config *cfg = &c->m->cfg;
    input_job in = {.c = c,
                    .name = "ffn_gate/up",
                    .w = &l->wgate,
                    .x = c->xb,
                    .src = c->x,
                    .norm = l->ffn_norm,
                    .n = cfg->dim};
    BN_TRY(prepare_input(c, m, layer, &in));
    BN_TRY(product(c, &l->wgate, m, c->hb));
    BN_TRY(product(c, &l->wup, m, c->hb2));
    input_job down = {.c = c,
                      .name = "ffn_down",
                      .w = &l->wdown,
                      .x = c->hb,
                      .norm = l->ffn_sub_norm,
                      .up = c->hb2,
                      .n = cfg->ffn_dim};
    BN_TRY(prepare_input(c, m, layer, &down));
    BN_TRY(product(c, &l->wdown, m, c->xb));
    for (size_t i = 0; i < (size_t)m * cfg->dim; i++)
        c->x[i] += c->xb[i];
    return check_rows(c, c->x, NULL, m, cfg->dim, "after the feed-forward", layer);
}

/* ---- embeddings and head ----------------------------------------------------------------- */

static bn_status embed(bn_context *c, const int32_t *tokens, int m) {
    const bn_model *md = c->m;
    const bn_dtype_traits *d = bn_dtype_get(md->embed_type);
    for (int i = 0; i < m; i++) {
        float *x = c->x + (size_t)i * md->cfg.dim;
        d->to_f32((const uint8_t *)md->embed + (size_t)tokens[i] * md->embed_row_bytes, x,
                  md->cfg.dim);
        char seq[32];
        if (!bn_all_finite(x, (size_t)md->cfg.dim))
            return BN_ERROR(BN_ERR_RANGE,
                            "token %d at position %d%s: its row of token_embd.weight holds "
                            "non-finite values",
                            tokens[i], c->row_pos[i], of_seq(c, i, seq, sizeof seq));
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
 * tokens (all logits of a prompt), or a type without a direct dot: each row is decoded to
 * float32 once and dotted with every token. The widening of f16/bf16 is exact, so both give the
 * same bits. */
enum { HEAD_DIRECT_ROWS = 4, HEAD_PREFETCH_ROWS = 4 };

static void head_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const head_job *j = ctx;
    const bn_model *m = j->m;
    int dim = m->cfg.dim;
    const bn_dtype_traits *d = bn_dtype_get(m->head_type);
    size_t rb = m->head_row_bytes;
    const uint8_t *head = m->head;
    bn_dot_fn dot = bn_dot_f32_for(bn_cpu_isa());
    bn_dot_half_fn half = bn_dot_half_for(m->head_type, bn_cpu_isa());
    bool direct = j->rows <= HEAD_DIRECT_ROWS && (half != NULL || m->head_type == BN_DTYPE_F32);
    float w[BN_MAX_DIM];
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

bool bn_head_has_int8(bn_dtype type) {
    return type == BN_DTYPE_Q8_0 || bn_kq_gemm_supports(type);
}

/* A q8_0 head runs the Q8_0 kernels (the activations quantized per block of 32), a q6_k or
 * q4_k head the k-quant kernels (blocks of 256); a float head, and any head of a float_head
 * context, is dotted in float32 from rows decoded exactly. */
static bn_status head_product(bn_context *c, int rows, float *logits) {
    const bn_model_config *cfg = &c->m->cfg;
    const bn_model *m = c->m;
    if (!c->float_head && m->head_type == BN_DTYPE_Q8_0) {
        bn_q8_quantize_acts(c->xn, rows, cfg->dim, c->head_q, c->head_d);
        return bn_q8_gemm(m->head, cfg->n_vocab, cfg->dim, c->head_q, c->head_d, rows, logits,
                          c->pool);
    }
    if (!c->float_head && bn_kq_gemm_supports(m->head_type) && c->head_kq != NULL) {
        BN_TRY(bn_kq_quantize_acts(c->xn, rows, cfg->dim, c->head_kq));
        return bn_kq_gemm(m->head_type, m->head, cfg->n_vocab, cfg->dim, c->head_kq, rows, logits,
                          c->pool);
    }
    head_job job = {m, c->xn, rows, logits};
    bn_parallel_for(c->pool, (size_t)cfg->n_vocab, 256, head_rows, &job);
    return BN_OK;
}

/* The logits of the rows listed in rows[0..k): the final norm of each into xn, then the head. */
static bn_status head(bn_context *c, const int *rows, int k, float *logits) {
    const bn_model_config *cfg = &c->m->cfg;
    for (int i = 0; i < k; i++)
        rmsnorm_rows(c->xn + (size_t)i * cfg->dim, c->x + (size_t)rows[i] * cfg->dim,
                     c->m->output_norm, 1, cfg->dim, cfg->eps);
    BN_TRY(check_rows(c, c->xn, rows, k, cfg->dim, "after the final norm", -1));
    BN_TRY(head_product(c, k, logits));
    /* Finite activations give non-finite logits only through the head's own rows (a NaN, an
     * Inf or a block scale that is one): name the first such row rather than sample from it.
     * A scan of the logits costs nothing beside the product that wrote them. */
    for (int r = 0; r < k; r++) {
        const float *row = logits + (size_t)r * cfg->n_vocab;
        if (bn_all_finite(row, (size_t)cfg->n_vocab))
            continue;
        int v = 0;
        while (v < cfg->n_vocab && isfinite(row[v]))
            v++;
        char seq[32];
        return BN_ERROR(BN_ERR_RANGE,
                        "non-finite logit for token %d at position %d%s: row %d of the head (%s) "
                        "holds non-finite values",
                        v, c->row_pos[rows[r]], of_seq(c, rows[r], seq, sizeof seq), v,
                        bn_gguf_find_tensor(c->m->gguf, "output.weight") ? "output.weight"
                                                                         : "token_embd.weight");
    }
    return BN_OK;
}

/* ---- one batch, then the whole call ------------------------------------------------------ */

static void trace_rows(bn_context *c, int slot, int m) {
    if (c->trace == NULL)
        return;
    int dim = c->m->cfg.dim;
    for (int i = 0; i < m; i++)
        if (c->row_seq[i] == 0 && c->row_pos[i] < c->trace_rows)
            memcpy(c->trace + ((size_t)slot * c->trace_rows + c->row_pos[i]) * dim,
                   c->x + (size_t)i * dim, (size_t)dim * sizeof(float));
}

/* m rows (row_pos and row_seq set): every layer, then the head for the rows listed in
 * rows[0..k) into logits. */
static bn_status eval_batch(bn_context *c, const int32_t *tokens, int m, const int *rows, int k,
                            float *logits) {
    const bn_model *md = c->m;
    BN_TRY(embed(c, tokens, m));
    trace_rows(c, 0, m);
    for (int l = 0; l < md->cfg.n_layers; l++) {
        BN_TRY(attention_block(c, &md->layers[l], l, m));
        BN_TRY(ffn_block(c, &md->layers[l], l, m));
        trace_rows(c, l + 1, m);
    }
    return k > 0 ? head(c, rows, k, logits) : BN_OK;
}

/* The cos/sin rows of positions up to n, computed on first use. */
static void ensure_rope(bn_context *c, int n) {
    const bn_model_config *cfg = &c->m->cfg;
    for (; c->rope_ready < n; c->rope_ready++)
        bn_rope_table(c->rope + (size_t)c->rope_ready * cfg->n_rot, cfg->n_rot,
                      (float)c->rope_ready / cfg->rope_scale, cfg->rope_theta);
}

/* Which rows want logits: the batch's flags, else every row (all) or the last one. */
static bool wants_logits(const bn_batch *b, bool all, int i) {
    return b->logits != NULL ? b->logits[i] != 0 : all || i == b->n - 1;
}

/* Everything a batch asks is checked before anything changes. next[s] walks each sequence's
 * positions: it starts at what the sequence holds and must be where the batch puts its token. */
static bn_status check_batch(const bn_context *c, const bn_batch *b, int *next) {
    if (b->n <= 0 || b->tokens == NULL)
        return b->n <= 0 ? BN_ERROR(BN_ERR_INVALID_ARG, "decode: a batch of %d tokens", (int)b->n)
                         : BN_ERROR(BN_ERR_INVALID_ARG, "decode: NULL tokens");
    memcpy(next, c->seq_len, (size_t)c->n_seq * sizeof *next);
    for (int i = 0; i < b->n; i++) {
        int s = b->seq != NULL ? b->seq[i] : 0, t = b->tokens[i];
        if (t < 0 || t >= c->m->cfg.n_vocab)
            return BN_ERROR(BN_ERR_RANGE,
                            "token id %d (at index %d of the %d tokens) is outside the "
                            "vocabulary (0..%d): nothing was evaluated",
                            t, i, b->n, c->m->cfg.n_vocab - 1);
        if (s < 0 || s >= c->n_seq)
            return BN_ERROR(BN_ERR_RANGE,
                            "token %d of the batch is for sequence %d: the context holds "
                            "sequences 0..%d (n_seq_max): nothing was evaluated",
                            i, s, c->n_seq - 1);
        if (b->pos != NULL && b->pos[i] != next[s])
            return BN_ERROR(BN_ERR_RANGE,
                            "token %d of the batch is at position %d of sequence %d, which "
                            "holds %d positions before it: a sequence's tokens continue it in "
                            "order: nothing was evaluated",
                            i, b->pos[i], s, next[s]);
        if (next[s] >= c->n_ctx) {
            int wanted = c->seq_len[s]; /* this sequence's tokens in the whole batch */
            for (int j = 0; j < b->n; j++)
                wanted += (b->seq != NULL ? b->seq[j] : 0) == s;
            return BN_ERROR(BN_ERR_RANGE,
                            "%d tokens after %d do not fit the context of %d%s: nothing was "
                            "evaluated",
                            wanted - c->seq_len[s], c->seq_len[s], c->n_ctx,
                            c->n_seq > 1 ? " (of a sequence)" : "");
        }
        next[s]++;
    }
    return BN_OK;
}

/* A call fully succeeds or leaves every sequence's length where it was, so the next call sees
 * no trace of it (the cache rows it wrote lie past the lengths, to be written again). */
static bn_status decode(bn_context *c, const bn_batch *b, bool all, float *logits) {
    int *next = c->seq_next;
    bn_status st = check_batch(c, b, next);
    int top = 0;
    for (int s = 0; st == BN_OK && s < c->n_seq; s++)
        top = next[s] > top ? next[s] : top;
    if (st == BN_OK)
        ensure_rope(c, top);
    memcpy(next, c->seq_len, (size_t)c->n_seq * sizeof *next);
    size_t vocab = (size_t)c->m->cfg.n_vocab;
    for (int done = 0; st == BN_OK && done < b->n;) {
        int m = b->n - done < BATCH ? b->n - done : BATCH, rows[BATCH], k = 0;
        for (int i = 0; i < m; i++) {
            int s = b->seq != NULL ? b->seq[done + i] : 0;
            c->row_seq[i] = s;
            c->row_pos[i] = next[s]++;
            if (logits != NULL && wants_logits(b, all, done + i))
                rows[k++] = i;
        }
        st = c->backend->eval(c, b->tokens + done, m, rows, k, logits);
        if (logits != NULL)
            logits += (size_t)k * vocab;
        done += m;
    }
    if (st == BN_OK)
        memcpy(c->seq_len, next, (size_t)c->n_seq * sizeof *next);
    return st;
}

/* One thread at a time per context (bitnet.h): a second caller is told so instead of racing
 * on the cache and the scratch buffers. It costs one atomic operation a call. */
static bn_status decode_exclusive(bn_context *c, const bn_batch *b, bool all, float *logits) {
    if (atomic_flag_test_and_set(&c->busy))
        return BN_ERROR(BN_ERR_INVALID_ARG, "decode: the context is in use by another thread (a "
                                            "context takes one call at a time)");
    bn_status st = decode(c, b, all, logits);
    atomic_flag_clear(&c->busy);
    return st;
}

bn_status bn_context_decode(bn_context *c, const bn_batch *b, float *logits) {
    if (c == NULL || b == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "decode: NULL %s", c == NULL ? "context" : "batch");
    return decode_exclusive(c, b, false, logits);
}

bn_status bn_context_eval(bn_context *c, const int32_t *tokens, int n, float *logits, bool all) {
    if (c == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "eval: NULL context");
    bn_batch b = {.n = n, .tokens = tokens};
    return decode_exclusive(c, &b, all, logits);
}
