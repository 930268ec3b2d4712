/*
 * synth.c - synthetic models: the shapes, the tensor plan, random values, streaming them out.
 * See synth.h for what the file holds and why the values are drawn as they are.
 */
#include "model/synth.h"

#include "base/alloc.h"
#include "base/rng.h"
#include "io/gguf.h"
#include "model/hparams.h"
#include "tensor/half.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 2B-4T shape has LLaMA-3's 256 special tokens, so its ids are the real model's; the others
 * get 16, enough for the named five (the chat template's included) and a few reserved ones. */
static const bn_synth_shape shapes[] = {
    {.name = "bitnet-2b4t",
     .model = "microsoft/bitnet-b1.58-2B-4T",
     .n_vocab = 128256,
     .n_special = 256,
     .dim = 2560,
     .n_layers = 30,
     .n_heads = 20,
     .n_kv_heads = 5,
     .ffn_dim = 6912,
     .ctx_max = 4096,
     .eps = 1e-5f,
     .rope_theta = 500000.0f,
     .act = BN_ACT_RELU2,
     .sub_norms = true,
     .tied = true},
    {.name = "bitnet-700m",
     .model = "1bitLLM/bitnet_b1_58-large",
     .n_vocab = 32002,
     .n_special = 16,
     .dim = 1536,
     .n_layers = 24,
     .n_heads = 16,
     .n_kv_heads = 16,
     .ffn_dim = 4096,
     .ctx_max = 2048,
     .eps = 1e-5f,
     .rope_theta = 10000.0f,
     .act = BN_ACT_SILU,
     .sub_norms = true,
     .tied = false},
    /* Shapes whose rows are no whole number of 256 (or 128) weights: I2_S holds them (its
     * groups run over the flattened tensor), the TQ types do not. */
    {.name = "bitnet-3b",
     .model = "1bitLLM/bitnet_b1_58-3B",
     .n_vocab = 32002,
     .n_special = 16,
     .dim = 3200,
     .n_layers = 26,
     .n_heads = 32,
     .n_kv_heads = 32,
     .ffn_dim = 8640,
     .ctx_max = 2048,
     .eps = 1e-5f,
     .rope_theta = 10000.0f,
     .act = BN_ACT_SILU,
     .sub_norms = true,
     .tied = false},
    {.name = "bitnet-xl",
     .model = "1bitLLM/bitnet_b1_58-xl",
     .n_vocab = 32002,
     .n_special = 16,
     .dim = 2048,
     .n_layers = 24,
     .n_heads = 32,
     .n_kv_heads = 32,
     .ffn_dim = 5460,
     .ctx_max = 2048,
     .eps = 1e-5f,
     .rope_theta = 10000.0f,
     .act = BN_ACT_SILU,
     .sub_norms = true,
     .tied = false},
    {.name = "llama3-8b-1.58",
     .model = "HF1BitLLM/Llama3-8B-1.58-100B-tokens",
     .n_vocab = 128256,
     .n_special = 256,
     .dim = 4096,
     .n_layers = 32,
     .n_heads = 32,
     .n_kv_heads = 8,
     .ffn_dim = 14336,
     .ctx_max = 8192,
     .eps = 1e-5f,
     .rope_theta = 500000.0f,
     .act = BN_ACT_SILU,
     .sub_norms = false,
     .tied = false},
    {.name = "falcon3-1b-1.58",
     .model = "tiiuae/Falcon3-1B-Instruct-1.58bit",
     .n_vocab = 131072,
     .n_special = 16,
     .dim = 2048,
     .n_layers = 18,
     .n_heads = 8,
     .n_kv_heads = 4,
     .ffn_dim = 8192,
     .ctx_max = 8192,
     .eps = 1e-6f,
     .rope_theta = 1000042.0f,
     .act = BN_ACT_SILU,
     .sub_norms = false,
     .tied = false},
    {.name = "tiny",
     .model = "no real model: a small shape for tests",
     .n_vocab = 512,
     .n_special = 16,
     .dim = 256,
     .n_layers = 2,
     .n_heads = 4,
     .n_kv_heads = 2,
     .ffn_dim = 512,
     .ctx_max = 512,
     .eps = 1e-5f,
     .rope_theta = 500000.0f,
     .act = BN_ACT_RELU2,
     .sub_norms = true,
     .tied = true},
};

#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

const bn_synth_shape *bn_synth_shape_at(int i) {
    return i >= 0 && i < N_SHAPES ? &shapes[i] : NULL;
}

bn_status bn_synth_shape_find(const char *name, const bn_synth_shape **out) {
    for (int i = 0; i < N_SHAPES; i++)
        if (strcmp(name, shapes[i].name) == 0) {
            *out = &shapes[i];
            return BN_OK;
        }
    char known[256] = "";
    for (int i = 0, n = 0; i < N_SHAPES && n < (int)sizeof known; i++)
        n += snprintf(known + n, sizeof known - (size_t)n, i ? ", %s" : "%s", shapes[i].name);
    return BN_ERROR(BN_ERR_INVALID_ARG, "unknown shape '%s' (known shapes: %s)", name, known);
}

/* ---- the plan ---------------------------------------------------------------------------- */

typedef enum kind { KIND_EMBED, KIND_NORM, KIND_LINEAR, KIND_SCALE } kind;

typedef struct planned {
    char name[64]; /* GGUF name */
    kind kind;
    bn_dtype type;
    int64_t rows, cols; /* [out, in] ([vocab, dim] for embeddings, [1, n] for vectors) */
    size_t nbytes;
} planned;

typedef struct synth {
    const bn_synth_shape *shape;
    bn_dtype type, embed_type;
    uint64_t seed;
    planned *plan;
    int n_plan;
    int8_t *codes;    /* the largest linear layer's ternary values */
    uint8_t *packed;  /* and its bytes */
    float *chunk;     /* rows of embeddings or a norm, as float */
    uint8_t *encoded; /* and in the embeddings' type */
    float last_gamma; /* scale of the linear just written, for its .scale tensor */
} synth;

#define CHUNK_VALUES (1 << 16)

static bn_status plan_add(synth *y, kind k, bn_dtype type, int64_t rows, int64_t cols,
                          const char *name) {
    planned *p = &y->plan[y->n_plan++];
    *p = (planned){.kind = k, .type = type, .rows = rows, .cols = cols};
    snprintf(p->name, sizeof p->name, "%s", name);
    if (k == KIND_LINEAR)
        BN_TRY(bn_convert_check_linear_shape(type, rows, cols, name));
    return bn_dtype_tensor_bytes(type, cols, rows * cols, &p->nbytes);
}

static bn_status plan_linear(synth *y, int layer, const char *what, int64_t rows, int64_t cols) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, what);
    BN_TRY(plan_add(y, KIND_LINEAR, y->type, rows, cols, name));
    if (!bn_convert_has_scale_tensor(y->type))
        return BN_OK;
    snprintf(name, sizeof name, "blk.%d.%s.scale", layer, what);
    return plan_add(y, KIND_SCALE, BN_DTYPE_F32, 1, 1, name);
}

static bn_status plan_norm(synth *y, int layer, const char *what, int64_t n) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, what);
    return plan_add(y, KIND_NORM, BN_DTYPE_F32, 1, n, name);
}

/* convert.c's order and names: the embeddings, each layer, the final norm, the head. */
static bn_status make_plan(synth *y) {
    const bn_synth_shape *s = y->shape;
    int64_t h = s->dim, hd = s->dim / s->n_heads, q = s->n_heads * hd, kv = s->n_kv_heads * hd;
    int64_t f = s->ffn_dim;
    if ((y->plan = calloc(3 + (size_t)s->n_layers * 18, sizeof *y->plan)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "synth: plan");
    int64_t rows = (int64_t)s->n_vocab + s->n_pad;
    BN_TRY(plan_add(y, KIND_EMBED, y->embed_type, rows, h, "token_embd.weight"));
    for (int i = 0; i < s->n_layers; i++) {
        BN_TRY(plan_norm(y, i, "attn_norm", h));
        BN_TRY(plan_norm(y, i, "ffn_norm", h));
        if (s->sub_norms) {
            BN_TRY(plan_norm(y, i, "attn_sub_norm", q));
            BN_TRY(plan_norm(y, i, "ffn_sub_norm", f));
        }
        BN_TRY(plan_linear(y, i, "attn_q", q, h));
        BN_TRY(plan_linear(y, i, "attn_k", kv, h));
        BN_TRY(plan_linear(y, i, "attn_v", kv, h));
        BN_TRY(plan_linear(y, i, "attn_output", h, q));
        BN_TRY(plan_linear(y, i, "ffn_gate", f, h));
        BN_TRY(plan_linear(y, i, "ffn_up", f, h));
        BN_TRY(plan_linear(y, i, "ffn_down", h, f));
    }
    BN_TRY(plan_add(y, KIND_NORM, BN_DTYPE_F32, 1, h, "output_norm.weight"));
    if (!s->tied)
        BN_TRY(plan_add(y, KIND_EMBED, y->embed_type, rows, h, "output.weight"));
    return BN_OK;
}

static bn_status alloc_buffers(synth *y) {
    size_t values = 0, bytes = 0;
    for (int i = 0; i < y->n_plan; i++)
        if (y->plan[i].kind == KIND_LINEAR) {
            size_t n = (size_t)(y->plan[i].rows * y->plan[i].cols);
            values = n > values ? n : values;
            bytes = y->plan[i].nbytes > bytes ? y->plan[i].nbytes : bytes;
        }
    size_t chunk = CHUNK_VALUES; /* and at least one row of a table, and the longest norm */
    if ((size_t)y->shape->dim > chunk)
        chunk = (size_t)y->shape->dim;
    if ((size_t)y->shape->ffn_dim > chunk)
        chunk = (size_t)y->shape->ffn_dim;
    y->codes = bn_aligned_alloc(values);
    y->packed = bn_aligned_alloc(bytes);
    y->chunk = bn_aligned_alloc(chunk * sizeof *y->chunk);
    y->encoded = bn_aligned_alloc(chunk * sizeof(float)); /* no row type is wider than f32 */
    if (!y->codes || !y->packed || !y->chunk || !y->encoded)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "synth: %zu-value buffers", values);
    return BN_OK;
}

/* ---- random values ----------------------------------------------------------------------- */

/* Each tensor has its own stream, from the seed and its name: values do not depend on which
 * other tensors the file has (the TQ types' .scale tensors), nor on the order of writing. */
static void tensor_rng(bn_rng *r, uint64_t seed, const char *name) {
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (const char *c = name; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211u;
    bn_rng_seed(r, bn_splitmix64(&seed) ^ h);
}

/* One byte of a random word per value: byte % 3 is 0, 1, 2 with probabilities 86, 85, 85 in
 * 256, so about a third of the values are zero. Through a table, eight values at a time: this
 * loop draws the 2B-4T shape's two billion values. */
static void draw_ternary(bn_rng *r, int8_t *t, int64_t n) {
    int8_t table[256];
    for (int b = 0; b < 256; b++)
        table[b] = (int8_t)(b % 3 - 1);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = bn_rng_next(r);
        int8_t v[8];
        for (int k = 0; k < 8; k++)
            v[k] = table[(x >> (8 * k)) & 0xFF];
        memcpy(t + i, v, 8);
    }
    for (uint64_t x = bn_rng_next(r); i < n; i++, x >>= 8)
        t[i] = table[x & 0xFF];
}

/* About N(mean, sd^2): four 16-bit uniforms summed (Irwin-Hall), centred and scaled to unit
 * variance. One random word per value and no log or cos, which matters for the 2B-4T shape's
 * 328 million embedding values; the tails stop at 3.46 sd, which weights never miss. */
static void draw_normal(bn_rng *r, float *x, int64_t n, float mean, float sd) {
    const float unit = 1.0f / 37837.227f; /* sqrt(4 * (65536^2 - 1) / 12) */
    for (int64_t i = 0; i < n; i++) {
        uint64_t w = bn_rng_next(r);
        uint32_t s = (uint32_t)(w & 0xFFFF) + (uint32_t)(w >> 16 & 0xFFFF) +
                     (uint32_t)(w >> 32 & 0xFFFF) + (uint32_t)(w >> 48);
        x[i] = mean + sd * ((float)s - 131070.0f) * unit;
    }
}

/* ---- writing ----------------------------------------------------------------------------- */

static bn_status write_linear(synth *y, const planned *p, bn_rng *r, bn_gguf_writer *w) {
    float gamma = 0.5f + 1.5f * bn_rng_uniform(r);
    draw_ternary(r, y->codes, p->rows * p->cols);
    /* as convert writes them: TQ blocks hold d = 1 (the scale goes in .scale), i2_s the scale */
    float stored = bn_convert_has_scale_tensor(p->type) ? 1.0f : gamma;
    BN_TRY(bn_dtype_get(p->type)->pack_ternary(y->codes, p->rows, p->cols, stored, y->packed,
                                               p->nbytes));
    y->last_gamma = gamma;
    return bn_gguf_writer_write(w, y->packed, p->nbytes);
}

/* Embeddings and the head, a chunk of rows at a time, each row encoded in the table's type. */
static bn_status write_table(synth *y, const planned *p, bn_rng *r, bn_gguf_writer *w) {
    const bn_dtype_traits *d = bn_dtype_get(p->type);
    size_t row_bytes = p->nbytes / (size_t)p->rows;
    int64_t rows_per_chunk = CHUNK_VALUES / p->cols > 0 ? CHUNK_VALUES / p->cols : 1;
    for (int64_t row = 0; row < p->rows; row += rows_per_chunk) {
        int64_t rows = p->rows - row < rows_per_chunk ? p->rows - row : rows_per_chunk;
        draw_normal(r, y->chunk, rows * p->cols, 0.0f, 0.02f);
        for (int64_t i = 0; i < rows; i++)
            d->from_f32(y->chunk + i * p->cols, y->encoded + (size_t)i * row_bytes, p->cols);
        BN_TRY(bn_gguf_writer_write(w, y->encoded, (size_t)rows * row_bytes));
    }
    return BN_OK;
}

static bn_status write_tensor(synth *y, const planned *p, bn_gguf_writer *w) {
    bn_rng r;
    tensor_rng(&r, y->seed, p->name);
    switch (p->kind) {
    case KIND_LINEAR:
        return write_linear(y, p, &r, w);
    case KIND_SCALE:
        return bn_gguf_writer_write(w, &y->last_gamma, sizeof y->last_gamma);
    case KIND_NORM:
        draw_normal(&r, y->chunk, p->cols, 1.0f, 0.05f);
        return bn_gguf_writer_write(w, y->chunk, p->nbytes);
    case KIND_EMBED:
        return write_table(y, p, &r, w);
    }
    return BN_ERROR(BN_ERR_INTERNAL, "synth: tensor kind %d", (int)p->kind);
}

static bn_status write_metadata(synth *y, bn_gguf_writer *w) {
    const bn_synth_shape *s = y->shape;
    char name[64];
    snprintf(name, sizeof name, "random-%s", s->name);
    bn_hparams h = {
        .name = name,
        .linear_type = y->type,
        .vocab_size = s->n_vocab + s->n_pad,
        .context_length = s->ctx_max,
        .embedding_length = s->dim,
        .block_count = s->n_layers,
        .feed_forward_length = s->ffn_dim,
        .head_dim = s->dim / s->n_heads,
        .head_count = s->n_heads,
        .head_count_kv = s->n_kv_heads,
        .rms_eps = s->eps,
        .rope_theta = s->rope_theta,
        .activation = s->act == BN_ACT_RELU2 ? "relu2" : "silu",
    };
    BN_TRY(bn_hparams_write_gguf(&h, w));
    char about[256];
    snprintf(about, sizeof about,
             "random weights in the shape '%s' (%s), for benchmarks; not a trained model", s->name,
             s->model);
    BN_TRY(bn_gguf_writer_set_str(w, "general.description", about));
    bn_tokenizer *tok = NULL;
    BN_TRY(bn_synth_tokenizer(&tok, s->n_vocab, s->n_special));
    bn_status st = bn_tokenizer_spec_write_gguf(bn_tokenizer_spec_of(tok), w);
    bn_tokenizer_free(tok);
    return st;
}

static bn_status write_all(synth *y, bn_gguf_writer *w, bn_progress_fn progress, void *ctx) {
    BN_TRY(write_metadata(y, w));
    for (int i = 0; i < y->n_plan; i++) {
        const planned *p = &y->plan[i];
        uint64_t ne[2] = {(uint64_t)p->cols, (uint64_t)p->rows};
        int nd = p->kind == KIND_NORM || p->kind == KIND_SCALE ? 1 : 2;
        BN_TRY(bn_gguf_writer_add_tensor(w, p->name, (uint32_t)bn_dtype_get(p->type)->gguf_type, nd,
                                         ne, p->nbytes));
    }
    BN_TRY(bn_gguf_writer_begin_data(w));
    for (int i = 0; i < y->n_plan; i++) {
        if (progress)
            progress(ctx, i, y->n_plan, y->plan[i].name);
        BN_TRY(write_tensor(y, &y->plan[i], w));
    }
    if (progress)
        progress(ctx, y->n_plan, y->n_plan, "");
    return BN_OK;
}

static bn_status check_types(const bn_synth_options *o, int dim) {
    bn_dtype t = o->type;
    if (t != BN_DTYPE_TQ1_0 && t != BN_DTYPE_TQ2_0 && t != BN_DTYPE_I2_S)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "synth: type '%s' is not a ternary GGUF type (tq1_0, tq2_0, i2_s)",
                        bn_dtype_name(t));
    size_t row;
    if (!bn_convert_is_table_type(o->embed_type) ||
        bn_dtype_row_bytes(o->embed_type, dim, &row) != BN_OK)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "synth: embeddings cannot be '%s' (a GGUF type with a row encoder whose "
                        "blocks divide the hidden size %d: f32, f16, bf16, q8_0, q6_k, ...)",
                        bn_dtype_name(o->embed_type), dim);
    return BN_OK;
}

static bn_status run(synth *y, const char *path, bn_progress_fn progress, void *ctx) {
    BN_TRY(make_plan(y));
    BN_TRY(alloc_buffers(y));
    bn_gguf_writer *w = NULL;
    BN_TRY(bn_gguf_writer_create(&w, path, 0));
    bn_status st = write_all(y, w, progress, ctx);
    if (st != BN_OK) {
        bn_gguf_writer_abort(w);
        return st;
    }
    return bn_gguf_writer_finish(w);
}

bn_status bn_synth_write_shape(const char *path, const bn_synth_shape *shape,
                               const bn_synth_options *opt) {
    BN_TRY(check_types(opt, shape->dim));
    synth y = {.shape = shape, .type = opt->type, .embed_type = opt->embed_type, .seed = opt->seed};
    bn_status st = run(&y, path, opt->progress, opt->progress_ctx);
    free(y.plan);
    bn_aligned_free(y.codes);
    bn_aligned_free(y.packed);
    bn_aligned_free(y.chunk);
    bn_aligned_free(y.encoded);
    return st;
}

bn_status bn_synth_write_progress(const char *path, const char *shape, bn_dtype ternary_type,
                                  uint64_t seed, bn_progress_fn progress, void *progress_ctx) {
    const bn_synth_shape *s = NULL;
    BN_TRY(bn_synth_shape_find(shape, &s));
    bn_synth_options o = {.type = ternary_type,
                          .embed_type = BN_DTYPE_F16,
                          .seed = seed,
                          .progress = progress,
                          .progress_ctx = progress_ctx};
    return bn_synth_write_shape(path, s, &o);
}

bn_status bn_synth_write(const char *path, const char *shape, bn_dtype ternary_type,
                         uint64_t seed) {
    return bn_synth_write_progress(path, shape, ternary_type, seed, NULL, NULL);
}
