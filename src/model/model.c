/*
 * model.c - GGUF -> bn_model: hyper-parameters, tensor checks, one repack per ternary layer.
 */
#include "model/model.h"

#include "model/forward.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "kernels/cuda/cuda.h"
#include "model/convert.h"
#include "model/forward_cuda.h"
#include "quant/ternary.h"
#include "tensor/formats.h"

#include <sys/stat.h>
#include <unistd.h>

#include <math.h>
#include <stdio.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

static bn_status arch_u32(const bn_gguf *g, const char *suffix, int *out, bool required) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", g->architecture, suffix);
    if (!required && bn_gguf_find(g, key) == NULL)
        return BN_OK;
    uint32_t v;
    BN_TRY(bn_gguf_get_u32(g, key, &v));
    if (v == 0 || v > (1u << 30))
        return BN_ERROR(BN_ERR_RANGE, "%s = %u is out of range", key, v);
    *out = (int)v;
    return BN_OK;
}

static bn_status arch_f32(const bn_gguf *g, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", g->architecture, suffix);
    if (bn_gguf_find(g, key) == NULL)
        return BN_OK;
    BN_TRY(bn_gguf_get_f32(g, key, out));
    if (!isfinite(*out) || !(*out > 0.0f))
        return BN_ERROR(BN_ERR_RANGE, "%s = %g: must be finite and > 0", key, (double)*out);
    return BN_OK;
}

static bool arch_has(const bn_gguf *g, const char *suffix) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", g->architecture, suffix);
    return bn_gguf_find(g, key) != NULL;
}

/* Keys that change the math: each is honoured, or the file is refused naming it, so that a
 * model never runs with a computation its file says is different. */
static bn_status read_rope(const bn_gguf *g, bn_model_config *c) {
    const char *arch = g->architecture;
    c->n_rot = c->head_dim;
    BN_TRY(arch_u32(g, "rope.dimension_count", &c->n_rot, false));
    if (c->n_rot % 2 != 0 || c->n_rot > c->head_dim)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s.rope.dimension_count = %d: must be even and at most the head size %d",
                        arch, c->n_rot, c->head_dim);
    /* As llama.cpp reads them: the type defaults to linear; the factor is rope.scaling.factor,
     * else the older rope.scale_linear, and 0 (or no key) means no scaling; type none ignores
     * any factor. (Its converter writes linear with factor 1 for BitNet.) */
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *type = "linear";
    if (bn_gguf_find(g, key) != NULL)
        BN_TRY(bn_gguf_get_str(g, key, &type));
    if (strcmp(type, "linear") != 0 && strcmp(type, "none") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s = '%s': only linear RoPE scaling (or none) is supported", key, type);
    float factor = 0.0f;
    const char *name =
        arch_has(g, "rope.scaling.factor") ? "rope.scaling.factor" : "rope.scale_linear";
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (bn_gguf_find(g, key) != NULL)
        BN_TRY(bn_gguf_get_f32(g, key, &factor));
    if (!isfinite(factor) || factor < 0.0f)
        return BN_ERROR(BN_ERR_RANGE, "%s = %g: must be finite and >= 0 (0: no scaling)", key,
                        (double)factor);
    c->rope_scale = factor == 0.0f || strcmp(type, "none") == 0 ? 1.0f : factor;
    float attn_factor = 1.0f;
    BN_TRY(arch_f32(g, "rope.scaling.attn_factor", &attn_factor));
    if (attn_factor != 1.0f)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s.rope.scaling.attn_factor = %g is not supported",
                        arch, (double)attn_factor);
    return BN_OK;
}

/* The rest of llama.cpp's keys that would change the computation of this graph. */
static bn_status refuse_other_math(const bn_gguf *g, const bn_model_config *c) {
    const char *arch = g->architecture;
    int key_len = c->head_dim, value_len = c->head_dim;
    BN_TRY(arch_u32(g, "attention.key_length", &key_len, false));
    BN_TRY(arch_u32(g, "attention.value_length", &value_len, false));
    if (key_len != c->head_dim || value_len != c->head_dim)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s.attention.key_length / value_length = %d / %d: only heads of "
                        "embedding_length / head_count = %d are supported",
                        arch, key_len, value_len, c->head_dim);
    static const char *const unsupported[] = {
        "attention.layer_norm_epsilon", /* LayerNorm, where BitNet has RMSNorm */
        "attention.clamp_kqv",
        "attention.logit_softcapping",
        "final_logit_softcapping",
        "attention.scale",
        "embedding_scale",
        "residual_scale",
        "expert_count",
        "attention.sliding_window",
        "rope.dimension_sections", /* multimodal RoPE */
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (arch_has(g, unsupported[i]))
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "%s.%s: the file asks for a computation this engine does not "
                            "support",
                            arch, unsupported[i]);
    char key[128];
    snprintf(key, sizeof key, "%s.attention.causal", arch);
    bool causal = true;
    if (bn_gguf_find(g, key) != NULL)
        BN_TRY(bn_gguf_get_bool(g, key, &causal));
    if (!causal)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s = false: only causal attention is supported", key);
    float logit_scale = 1.0f;
    BN_TRY(arch_f32(g, "logit_scale", &logit_scale));
    if (logit_scale != 1.0f)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s.logit_scale = %g is not supported", arch,
                        (double)logit_scale);
    return BN_OK;
}

static bn_status read_config(bn_model *m) {
    const bn_gguf *g = m->gguf;
    bn_model_config *c = &m->cfg;
    const char *arch = g->architecture;
    if (strcmp(arch, "bitnet") != 0 && strcmp(arch, "bitnet-b1.58") != 0 &&
        strcmp(arch, "bitnet-25") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "architecture '%s' is not a BitNet model (bitnet, "
                        "bitnet-b1.58, bitnet-25)",
                        arch);
    BN_TRY(arch_u32(g, "embedding_length", &c->dim, true));
    BN_TRY(arch_u32(g, "block_count", &c->n_layers, true));
    BN_TRY(arch_u32(g, "feed_forward_length", &c->ffn_dim, true));
    BN_TRY(arch_u32(g, "attention.head_count", &c->n_heads, true));
    c->n_kv_heads = c->n_heads;
    BN_TRY(arch_u32(g, "attention.head_count_kv", &c->n_kv_heads, false));
    c->ctx_max = 4096;
    BN_TRY(arch_u32(g, "context_length", &c->ctx_max, false));
    c->eps = 1e-5f;
    c->rope_theta = 10000.0f;
    BN_TRY(arch_f32(g, "attention.layer_norm_rms_epsilon", &c->eps));
    BN_TRY(arch_f32(g, "rope.freq_base", &c->rope_theta));
    if (c->dim % c->n_heads != 0 || c->n_heads % c->n_kv_heads != 0)
        return BN_ERROR(BN_ERR_SHAPE, "embedding_length %d, heads %d, kv heads %d do not divide",
                        c->dim, c->n_heads, c->n_kv_heads);
    c->head_dim = c->dim / c->n_heads;
    if (c->dim > BN_MAX_DIM)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s.embedding_length = %d: at most %d is supported",
                        arch, c->dim, BN_MAX_DIM);
    if (c->head_dim % 2 != 0) /* RoPE rotates pairs */
        return BN_ERROR(BN_ERR_UNSUPPORTED, "head size %d is odd: RoPE needs pairs", c->head_dim);
    BN_TRY(read_rope(g, c));
    BN_TRY(refuse_other_math(g, c));
    /* Without the key: llama.cpp's `bitnet` defaults to SiLU (1bitLLM-style models); the two
     * bitnet.cpp names exist only for the 2B-4T GGUFs (bitnet2b_2501, bitnet2b), which are
     * ReLU^2 and carry no key. */
    c->act = strcmp(arch, "bitnet") == 0 ? BN_ACT_SILU : BN_ACT_RELU2;
    char key[128];
    snprintf(key, sizeof key, "%s.hidden_activation", arch);
    if (bn_gguf_find(g, key) != NULL) {
        const char *act;
        BN_TRY(bn_gguf_get_str(g, key, &act));
        if (strcmp(act, "relu2") == 0 || strcmp(act, "relu_squared") == 0)
            c->act = BN_ACT_RELU2;
        else if (strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
            return BN_ERROR(BN_ERR_UNSUPPORTED, "%s '%s' (relu2 or silu)", key, act);
    }
    if (bn_gguf_find(g, "general.name") != NULL) {
        const char *name;
        BN_TRY(bn_gguf_get_str(g, "general.name", &name));
        snprintf(m->name, sizeof m->name, "%s", name);
    }
    return BN_OK;
}

/* A tensor that must exist with shape [cols (innermost), rows]. */
static bn_status need(const bn_model *m, const char *name, int64_t cols, int64_t rows,
                      const bn_gguf_tensor **out) {
    const bn_gguf_tensor *t = bn_gguf_find_tensor(m->gguf, name);
    if (t == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND, "tensor '%s' is missing", name);
    int64_t r = t->n_dims > 1 ? (int64_t)t->ne[1] : 1;
    if ((int64_t)t->ne[0] != cols || r != rows || t->n_dims > 2)
        return BN_ERROR(BN_ERR_SHAPE, "tensor '%s' is [%llu, %llu], want [%lld, %lld]", name,
                        (unsigned long long)t->ne[0], (unsigned long long)r, (long long)cols,
                        (long long)rows);
    *out = t;
    return BN_OK;
}

static bn_status load_vector(const bn_model *m, const char *name, int64_t n, bool optional,
                             float **out) {
    *out = NULL;
    if (optional && bn_gguf_find_tensor(m->gguf, name) == NULL)
        return BN_OK;
    const bn_gguf_tensor *t = NULL;
    BN_TRY(need(m, name, n, 1, &t));
    const bn_dtype_traits *d = bn_dtype_get(t->dtype);
    if (d == NULL || d->to_f32 == NULL || d->is_quantized || d->is_integer)
        return BN_ERROR(BN_ERR_DTYPE, "tensor '%s' is %s; want f32, f16 or bf16", name,
                        bn_dtype_name(t->dtype));
    if ((*out = malloc((size_t)n * sizeof(float))) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s", name);
    d->to_f32(t->data, *out, n);
    if (!bn_all_finite(*out, (size_t)n))
        return BN_ERROR(BN_ERR_RANGE, "tensor '%s' holds non-finite values", name);
    return BN_OK;
}

/* A linear layer stored as floats (f32/f16/bf16, or q8_0): llama.cpp's converter writes the
 * ternary values times their scale, which are read back exactly (every nonzero |w| the same s:
 * codes sign(w), scale s); anything else is a float master, quantized as transformers' online
 * mode does (absmean, per tensor). */
static bn_status ternary_from_floats(const bn_dtype_traits *d, const bn_gguf_tensor *t,
                                     int64_t rows, int64_t cols, int8_t *codes, float *scale) {
    size_t n = (size_t)(rows * cols);
    float *w = bn_pages_alloc(n * sizeof(float));
    if (w == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tensor '%s' as float32", t->name);
    d->to_f32(t->data, w, (int64_t)n);
    float s = 0.0f;
    bool exact = true;
    for (size_t i = 0; i < n; i++)
        s = fabsf(w[i]) > s ? fabsf(w[i]) : s;
    for (size_t i = 0; i < n && exact; i++)
        exact = w[i] == 0.0f || fabsf(w[i]) == s;
    bn_status st = BN_OK;
    if (exact && s > 0.0f && isfinite(s)) {
        for (size_t i = 0; i < n; i++)
            codes[i] = (int8_t)(w[i] > 0.0f) - (int8_t)(w[i] < 0.0f);
        *scale = s;
    } else {
        bn_ternary_params p = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_TENSOR, 0};
        st = bn_ternary_quantize(w, rows, cols, &p, codes, scale);
    }
    bn_pages_free(w, n * sizeof(float));
    return st;
}

/* An I2_S tensor that bitnet.cpp's multithreaded llama-quantize damaged (formats.h,
 * bn_i2_s_chunk_damage): refused when certain, loaded with a warning when the row only looks
 * damaged. Either way the message names the row and how to make a good file. */
#define I2_S_CURE                                                                                  \
    "bitnet.cpp's llama-quantize run with several threads writes a chunk's scale over the next "   \
    "chunk, losing 16 weights; quantize again with one thread (llama-quantize IN OUT I2_S 1, "     \
    "as BitNet's setup_env.py does)"
static bn_status check_i2_s_chunks(const bn_gguf_tensor *t, int64_t rows, int64_t cols) {
    bool certain = false;
    int64_t row = bn_i2_s_chunk_damage(t->data, rows, cols, &certain);
    if (row >= 0 && certain)
        return BN_ERROR(
            BN_ERR_FORMAT,
            "i2_s: row %lld begins with bits of the tensor's scale, not codes: " I2_S_CURE,
            (long long)row);
    if (row >= 0)
        bn_log(BN_LOG_WARN,
               "tensor '%s': i2_s row %lld begins with exactly the bytes of the tensor's scale, "
               "which is most likely damage, loaded as stored: " I2_S_CURE,
               t->name, (long long)row);
    return BN_OK;
}

/* Ternary values and scale from any ternary file type, then the runtime layout. Our converter
 * writes TQ types with d = 1 and the scale as a separate "<name>.scale" tensor; llama.cpp keeps
 * the scale in d; I2_S keeps it in the tensor's tail. Float types: ternary_from_floats. */
static bn_status load_linear(const bn_model *m, const char *base, int64_t rows, int64_t cols,
                             bn_isa isa, bn_ternary_matrix *out) {
    char name[96];
    snprintf(name, sizeof name, "%s.weight", base);
    const bn_gguf_tensor *t = NULL;
    BN_TRY(need(m, name, cols, rows, &t));
    const bn_dtype_traits *d = bn_dtype_get(t->dtype);
    /* what is not a ternary layout but decodes to real numbers is read as floats */
    bool floats = d != NULL && d->unpack_ternary == NULL && d->to_f32 != NULL && !d->is_integer;
    if (d == NULL || (d->unpack_ternary == NULL && !floats))
        return BN_ERROR(BN_ERR_DTYPE,
                        "tensor '%s' is %s; want a ternary type (tq1_0, tq2_0, i2_s) or one "
                        "that decodes to floats (f32, f16, bf16, q8_0, ...)",
                        name, bn_dtype_name(t->dtype));
    /* TQ2_0 is already the AVX2 layout: copied, not unpacked and packed again */
    bool direct =
        t->dtype == BN_DTYPE_TQ2_0 && bn_ternary_vbytes(isa) == 32 && m->layout == BN_TERNARY_I2V;
    size_t n_codes = direct ? 0 : (size_t)(rows * cols);
    int8_t *codes = direct ? NULL : bn_pages_alloc(n_codes);
    if (!direct && codes == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s", name);
    float scale = 1.0f;
    /* I2_S from bitnet.cpp's quantizer first: its damage also makes the codes invalid */
    bn_status st = t->dtype == BN_DTYPE_I2_S ? check_i2_s_chunks(t, rows, cols) : BN_OK;
    if (st == BN_OK)
        st = direct   ? bn_ternary_matrix_from_tq2_0(out, t->data, t->size, rows, cols, isa, &scale)
             : floats ? ternary_from_floats(d, t, rows, cols, codes, &scale)
                      : d->unpack_ternary(t->data, t->size, rows, cols, codes, &scale);
    if (st != BN_OK) { /* the format's message says what; this says where */
        char why[BN_ERROR_MAX];
        snprintf(why, sizeof why, "%s", bn_last_error());
        st = BN_ERROR(st, "tensor '%s': %s", name, why);
    }
    snprintf(name, sizeof name, "%s.scale", base);
    float *extra = NULL; /* the optional "<name>.scale": one float, checked like the norms */
    if (st == BN_OK)
        st = load_vector(m, name, 1, true, &extra);
    if (st == BN_OK && extra != NULL)
        scale *= *extra;
    free(extra);
    if (st == BN_OK && !(scale > 0.0f && isfinite(scale)))
        st = BN_ERROR(BN_ERR_RANGE, "layer '%s' has weight scale %g (must be finite and > 0)", base,
                      (double)scale);
    if (st == BN_OK && direct)
        out->scale = scale;
    else if (st == BN_OK)
        st = bn_ternary_matrix_pack_layout(out, codes, rows, cols, scale, isa, m->layout);
    if (st != BN_OK && direct)
        bn_ternary_matrix_free(out);
    bn_pages_free(codes, n_codes);
    /* The runtime copy is all the forward pass reads: the file's pages would otherwise stay in
     * the resident set beside it, doubling the weights' footprint. */
    bn_mapped_file_discard(&m->gguf->file, t->data, t->size);
    return st;
}

static bn_status load_layer(bn_model *m, int i, bn_isa isa) {
    const bn_model_config *c = &m->cfg;
    bn_layer *l = &m->layers[i];
    char b[64], n[96];
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%d.%s", i, suffix), n)
    BN_TRY(load_vector(m, NAME("attn_norm.weight"), c->dim, false, &l->attn_norm));
    BN_TRY(load_vector(m, NAME("ffn_norm.weight"), c->dim, false, &l->ffn_norm));
    BN_TRY(load_vector(m, NAME("attn_sub_norm.weight"), c->dim, true, &l->attn_sub_norm));
    BN_TRY(load_vector(m, NAME("ffn_sub_norm.weight"), c->ffn_dim, true, &l->ffn_sub_norm));
#undef NAME
#define LIN(suffix, rows, cols, dst)                                                               \
    (snprintf(b, sizeof b, "blk.%d.%s", i, suffix), load_linear(m, b, rows, cols, isa, dst))
    BN_TRY(LIN("attn_q", c->dim, c->dim, &l->wq));
    BN_TRY(LIN("attn_k", kv, c->dim, &l->wk));
    BN_TRY(LIN("attn_v", kv, c->dim, &l->wv));
    BN_TRY(LIN("attn_output", c->dim, c->dim, &l->wo));
    BN_TRY(LIN("ffn_gate", c->ffn_dim, c->dim, &l->wgate));
    BN_TRY(LIN("ffn_up", c->ffn_dim, c->dim, &l->wup));
    BN_TRY(LIN("ffn_down", c->dim, c->ffn_dim, &l->wdown));
#undef LIN
    return BN_OK;
}

/* Layers are independent: each thread repacks whole layers. A worker's error message lives in
 * its own thread, so it is copied out, and the lowest failing layer's error is raised again
 * here, whatever the scheduling. */
typedef struct layers_job {
    bn_model *m;
    bn_isa isa;
    bn_status *status;             /* [n_layers] */
    char (*message)[BN_ERROR_MAX]; /* [n_layers] */
} layers_job;

static void load_layer_range(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    layers_job *j = ctx;
    for (size_t i = begin; i < end; i++)
        if ((j->status[i] = load_layer(j->m, (int)i, j->isa)) != BN_OK)
            snprintf(j->message[i], BN_ERROR_MAX, "%s", bn_last_error());
}

static bn_status load_layers(bn_model *m, bn_isa isa, int n_threads) {
    int n = m->cfg.n_layers;
    layers_job j = {m, isa, calloc((size_t)n, sizeof *j.status),
                    calloc((size_t)n, sizeof *j.message)};
    bn_threadpool *pool = NULL;
    bn_status st = j.status && j.message ? bn_threadpool_create(n_threads, &pool)
                                         : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "layer loading");
    if (st == BN_OK)
        bn_parallel_for(pool, (size_t)n, 1, load_layer_range, &j);
    for (int i = 0; st == BN_OK && i < n; i++)
        if (j.status[i] != BN_OK)
            st = BN_ERROR(j.status[i], "%s", j.message[i]);
    bn_threadpool_destroy(pool);
    free(j.status);
    free(j.message);
    return st;
}

/* The embeddings or the head: [n_vocab, dim] rows of any type with a row decoder. */
static bn_status float_table(const bn_model *m, const char *name, const void **data, bn_dtype *type,
                             size_t *row_bytes) {
    const bn_gguf_tensor *t = NULL;
    BN_TRY(need(m, name, m->cfg.dim, m->cfg.n_vocab, &t));
    const bn_dtype_traits *d = bn_dtype_get(t->dtype);
    if (d == NULL || d->to_f32 == NULL || d->is_integer ||
        bn_dtype_row_bytes(t->dtype, m->cfg.dim, row_bytes))
        return BN_ERROR(BN_ERR_DTYPE,
                        "tensor '%s' is %s; want a type whose rows of %d decode to floats "
                        "(f32, f16, bf16, q8_0, the k-quants, ...)",
                        name, bn_dtype_name(t->dtype), m->cfg.dim);
    *data = t->data;
    *type = t->dtype;
    return BN_OK;
}

/* Whether a tensor name is one a BitNet model of n_layers layers reads. */
static bool known_tensor(const char *name, int n_layers) {
    static const char *const top[] = {"token_embd.weight", "output.weight", "output_norm.weight"};
    static const char *const per_layer[] = {
        "attn_norm.weight", "ffn_norm.weight", "attn_sub_norm.weight", "ffn_sub_norm.weight",
        "attn_q.weight",    "attn_k.weight",   "attn_v.weight",        "attn_output.weight",
        "ffn_gate.weight",  "ffn_up.weight",   "ffn_down.weight",      "attn_q.scale",
        "attn_k.scale",     "attn_v.scale",    "attn_output.scale",    "ffn_gate.scale",
        "ffn_up.scale",     "ffn_down.scale"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (strcmp(name, top[i]) == 0)
            return true;
    int layer, used = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &used) != 1 || used == 0 || layer < 0 ||
        layer >= n_layers)
        return false;
    for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
        if (strcmp(name + used, per_layer[i]) == 0)
            return true;
    return false;
}

/* A tensor the model does not read means the file is not what its header says (another
 * architecture, more layers than block_count): refused rather than silently ignored. */
static bn_status check_no_extra(const bn_model *m) {
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
        if (!known_tensor(m->gguf->tensors[i].name, m->cfg.n_layers))
            return BN_ERROR(BN_ERR_FORMAT,
                            "tensor '%s' is not part of a %d-layer BitNet model (%s)",
                            m->gguf->tensors[i].name, m->cfg.n_layers, m->gguf->architecture);
    return BN_OK;
}

static bn_status load_gguf(bn_model *m, int n_threads) {
    BN_TRY(read_config(m));
    BN_TRY(check_no_extra(m));
    const bn_gguf_tensor *e = bn_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (e == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND, "tensor 'token_embd.weight' is missing");
    m->cfg.n_vocab = e->n_dims > 1 ? (int)e->ne[1] : 0;
    int declared = m->cfg.n_vocab;
    BN_TRY(arch_u32(m->gguf, "vocab_size", &declared, false));
    if (declared != m->cfg.n_vocab)
        return BN_ERROR(BN_ERR_SHAPE, "%s.vocab_size = %d, but token_embd.weight has %d rows",
                        m->gguf->architecture, declared, m->cfg.n_vocab);
    BN_TRY(float_table(m, "token_embd.weight", &m->embed, &m->embed_type, &m->embed_row_bytes));
    if (bn_gguf_find_tensor(m->gguf, "output.weight") != NULL) {
        BN_TRY(float_table(m, "output.weight", &m->head, &m->head_type, &m->head_row_bytes));
    } else {
        m->head = m->embed;
        m->head_type = m->embed_type;
        m->head_row_bytes = m->embed_row_bytes;
    }
    BN_TRY(load_vector(m, "output_norm.weight", m->cfg.dim, false, &m->output_norm));
    if ((m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "layers");
    BN_TRY(load_layers(m, m->isa, n_threads));
    bn_tokenizer_spec *spec;
    BN_TRY(bn_tokenizer_spec_load_gguf(&spec, m->gguf));
    BN_TRY(bn_tokenizer_create(&m->tok, spec));
    /* The tokenizer copied what it needs from the header (a 128k vocabulary is megabytes). */
    bn_mapped_file_release(&m->gguf->file, m->gguf->file.data, m->gguf->data_offset);
    if (bn_tokenizer_n_vocab(m->tok) > m->cfg.n_vocab)
        return BN_ERROR(BN_ERR_SHAPE, "the tokenizer has %d tokens, the embeddings %d rows",
                        bn_tokenizer_n_vocab(m->tok), m->cfg.n_vocab);
    return BN_OK;
}

static bn_status load_file(bn_model *m, const char *path, int n_threads) {
    BN_TRY(bn_gguf_open(&m->gguf, path));
    return load_gguf(m, n_threads);
}

/* A Hugging Face folder is converted in memory into a GGUF (ternary layers exactly, in TQ2_0
 * with their float scale; float tables in their own type) and loaded from there: one loader for
 * every source, and nothing written to disk (no temporary file to leave behind on an interrupt,
 * no gigabyte rewritten at every load). The repacked layers' pages are released as for a file,
 * so what stays is the embeddings and head. */
static bn_status load_hf(bn_model *m, const char *dir, int n_threads) {
    bn_convert_options opt = {.type = BN_DTYPE_TQ2_0,
                              .embed_type = BN_DTYPE_F32,
                              .head_type = BN_DTYPE_F32,
                              .head_as_source = true,
                              .embed_as_source = true};
    void *data = NULL;
    size_t size = 0;
    bn_status st = bn_convert_hf_to_memory(dir, &opt, &data, &size);
    /* TQ2_0 needs rows of 256; I2_S takes any row length when rows * cols is a multiple of 128
     * (every real checkpoint); float32 holds the rest exactly (odd shapes of small models). */
    const bn_dtype fallback[] = {BN_DTYPE_I2_S, BN_DTYPE_F32};
    for (size_t i = 0; st == BN_ERR_SHAPE && i < sizeof fallback / sizeof fallback[0]; i++) {
        opt.type = fallback[i];
        st = bn_convert_hf_to_memory(dir, &opt, &data, &size);
    }
    if (st == BN_OK)
        st = bn_gguf_open_pages(&m->gguf, data, size, dir);
    return st == BN_OK ? load_gguf(m, n_threads) : st;
}

bn_model_params bn_model_default_params(void) {
    return (bn_model_params){.device = BN_DEVICE_CPU, .n_threads = 0};
}

/* The kernel path: the best this CPU runs, or the one asked for if the CPU has it. */
static bn_status kernel_path(const bn_model_params *p, bn_isa *isa) {
    *isa = bn_cpu_isa();
    if (p->cpu_kernels == NULL || p->cpu_kernels[0] == '\0')
        return BN_OK;
    BN_TRY(bn_isa_parse(p->cpu_kernels, isa));
    if (!bn_cpu_isa_supported(*isa))
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "cpu_kernels \"%s\": this CPU cannot run them (the "
                        "best it runs: %s)",
                        p->cpu_kernels, bn_isa_name(bn_cpu_best_isa()));
    return BN_OK;
}

/* Where the model runs. Auto takes the GPU when this build has CUDA and the GPU is there and
 * usable, and otherwise says in one line why the CPU runs it. */
static bn_device choose_device(const bn_model_params *p) {
    if (p->device != BN_DEVICE_AUTO)
        return p->device;
    int count = 0;
    const char *why = NULL;
    bn_status st = bn_cuda_device_count(&count, &why);
    if (st == BN_OK && count > p->device_index)
        return BN_DEVICE_CUDA;
    /* at warn, the default level: one line the user of auto sees */
    bn_log(BN_LOG_WARN, "device auto: running on the CPU (%s)",
           st != BN_OK ? "this build has no CUDA"
                       : (count == 0 ? (why ? why : "no usable GPU") : "no GPU of that index"));
    return BN_DEVICE_CPU;
}

/* The runtime layout of the ternary layers. Auto is t5v64 on the avx512 path, where its decode
 * kernel streams at the read bandwidth like i2v64 and so gains what its 20% fewer bytes are
 * worth (bench/RESULTS.md, 2026-12-08; `bitnet bench kernels` measures both on any machine);
 * elsewhere i2v, as t5v64 has no AVX2 or NEON kernel (AVX2's 16-bit products cannot take the
 * unsigned bytes the multiply trick multiplies). The scalar path runs either; auto keeps i2v. */
static bn_status weight_layout(const bn_model_params *p, bn_isa isa, bn_ternary_layout *out) {
    const char *w = p->weight_layout;
    if (w == NULL || w[0] == '\0' || strcmp(w, "auto") == 0) {
        *out = isa == BN_ISA_AVX512 ? BN_TERNARY_T5V : BN_TERNARY_I2V;
        return BN_OK;
    }
    if (bn_ternary_layout_parse(w, out) != BN_OK)
        return BN_ERROR(BN_ERR_INVALID_ARG, "model load: weight_layout \"%s\": want auto, i2 or t5",
                        w);
    if (!bn_ternary_layout_runs_on(*out, isa))
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "model load: weight_layout \"%s\" has no kernel on the %s path (t5 runs "
                        "on avx512 and scalar)",
                        w, bn_isa_name(isa));
    return BN_OK;
}

static bn_status check_params(const char *path, const bn_model_params *p) {
    if (path == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "model load: NULL path");
    if (p->device != BN_DEVICE_CPU && p->device != BN_DEVICE_CUDA && p->device != BN_DEVICE_AUTO)
        return BN_ERROR(BN_ERR_INVALID_ARG, "model load: unknown device %d", (int)p->device);
    if (p->device_index < 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "model load: device_index %d", p->device_index);
    if (p->n_threads < 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "model load: n_threads %d", p->n_threads);
    return BN_OK;
}

bn_status bn_model_load(bn_model **out, const char *path, const bn_model_params *params) {
    if (out == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "model load: NULL out");
    *out = NULL;
    bn_model_params p = params != NULL ? *params : bn_model_default_params();
    BN_TRY(check_params(path, &p));
    bn_dtype head = BN_DTYPE_COUNT;
    if (p.head_type != NULL && p.head_type[0] != '\0') {
        BN_TRY(bn_dtype_from_name(p.head_type, &head));
        if (!bn_head_has_int8(head))
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "model load: head_type \"%s\": the head is re-encoded only as "
                            "q8_0, q6_k or q4_k (or kept: NULL)",
                            p.head_type);
    }
    bn_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "model");
    m->device = choose_device(&p);
    bn_status st = BN_OK;
    if (m->device == BN_DEVICE_CUDA) { /* i2v16 is the GPU's layout (forward_cuda.h) */
        m->isa = BN_ISA_NEON;
        m->layout = BN_TERNARY_I2V;
    } else {
        st = kernel_path(&p, &m->isa);
        if (st == BN_OK)
            st = weight_layout(&p, m->isa, &m->layout);
    }
    struct stat sb;
    if (st == BN_OK)
        st = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? load_hf(m, path, p.n_threads)
                                                         : load_file(m, path, p.n_threads);
    /* A head type means "a head the int8 kernels run, this one where it fits": q8_0, q6_k and
     * q4_k heads stay as they are (no second rounding), a k-quant asked of a hidden size that
     * 256-value blocks do not divide becomes q8_0, and one that q8_0's 32 do not divide keeps
     * its float head. */
    if (st == BN_OK && head != BN_DTYPE_COUNT && head != BN_DTYPE_Q8_0 && m->cfg.dim % 256 != 0)
        head = BN_DTYPE_Q8_0;
    if (st == BN_OK && m->device == BN_DEVICE_CUDA) /* the GPU widens any head to f16 */
        st = bn_cuda_model_upload(m, p.device_index);
    else if (st == BN_OK && head != BN_DTYPE_COUNT && !bn_head_has_int8(m->head_type) &&
             m->cfg.dim % 32 == 0)
        st = bn_model_set_head_type(m, head, p.n_threads);
    if (st != BN_OK) {
        bn_model_free(m);
        return st;
    }
#if defined(__GLIBC__)
    /* The repacking's big temporaries were freed into per-thread arenas, which glibc keeps
     * mapped: give them back, so the resident set is the model, not its loading. */
    malloc_trim(0);
#endif
    *out = m;
    return BN_OK;
}

typedef struct encode_job {
    const void *from;
    uint8_t *to;
    const bn_dtype_traits *type, *to_type;
    int dim;
    size_t in_row, out_row;
} encode_job;

static void encode_head_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const encode_job *j = ctx;
    float row[BN_MAX_DIM];
    for (size_t v = begin; v < end; v++) {
        j->type->to_f32((const uint8_t *)j->from + v * j->in_row, row, j->dim);
        j->to_type->from_f32(row, j->to + v * j->out_row, j->dim);
    }
}

bn_status bn_model_set_head_type(bn_model *m, bn_dtype type, int n_threads) {
    if (type == m->head_type)
        return BN_OK;
    if (type != BN_DTYPE_Q8_0 && type != BN_DTYPE_Q6_K && type != BN_DTYPE_Q4_K)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "head type %s: the head can be re-encoded as q8_0, q6_k or q4_k",
                        bn_dtype_name(type));
    int dim = m->cfg.dim;
    size_t in_row = m->head_row_bytes, out_row;
    if (bn_dtype_row_bytes(type, dim, &out_row) != BN_OK)
        return BN_ERROR(BN_ERR_SHAPE, "a %s head needs a hidden size divisible by %lld, not %d",
                        bn_dtype_name(type), (long long)bn_dtype_get(type)->block_size, dim);
    const bn_dtype_traits *from = bn_dtype_get(m->head_type);
    uint8_t *q = bn_aligned_alloc((size_t)m->cfg.n_vocab * out_row);
    if (q == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s head of %d rows", bn_dtype_name(type),
                        m->cfg.n_vocab);
    encode_job j = {m->head, q, from, bn_dtype_get(type), dim, in_row, out_row};
    bn_threadpool *pool = NULL;
    bn_status st = bn_threadpool_create(n_threads, &pool);
    if (st != BN_OK) {
        bn_aligned_free(q);
        return st;
    }
    bn_parallel_for(pool, (size_t)m->cfg.n_vocab, 1024, encode_head_rows, &j);
    bn_threadpool_destroy(pool);
    /* The float rows were read once; a tied table is still the embeddings, but those fault back
     * in a row at a time, so neither needs to stay resident. */
    bn_mapped_file_release(&m->gguf->file, m->head, (size_t)m->cfg.n_vocab * in_row);
    bn_aligned_free(m->head_owned);
    m->head = m->head_owned = q;
    m->head_type = type;
    m->head_row_bytes = out_row;
    return BN_OK;
}

/* Matrix j (0..LAYER_MATRICES-1) of layer l, in the order of the forward pass. */
#define LAYER_MATRICES 7
static const bn_ternary_matrix *layer_matrix(const bn_layer *l, int j) {
    const bn_ternary_matrix *w[LAYER_MATRICES] = {&l->wq,    &l->wk,  &l->wv,   &l->wo,
                                                  &l->wgate, &l->wup, &l->wdown};
    return w[j];
}

size_t bn_model_bytes_per_token(const bn_model *m) {
    const bn_model_config *c = &m->cfg;
    size_t bytes = (size_t)c->n_vocab * m->head_row_bytes;
    for (int i = 0; i < c->n_layers; i++)
        for (int j = 0; j < LAYER_MATRICES; j++)
            bytes += layer_matrix(&m->layers[i], j)->bytes;
    return bytes;
}

double bn_model_linear_ops_per_token(const bn_model *m) {
    double ops = 0.0;
    for (int i = 0; i < m->cfg.n_layers; i++)
        for (int j = 0; j < LAYER_MATRICES; j++) {
            const bn_ternary_matrix *w = layer_matrix(&m->layers[i], j);
            ops += 2.0 * (double)w->rows * (double)w->cols;
        }
    return ops;
}

void bn_model_retain(const bn_model *m) {
    atomic_fetch_add(&((bn_model *)m)->extra_refs, 1);
}

static void model_destroy(bn_model *m);

void bn_model_release(const bn_model *m) {
    /* extra_refs counts references beyond one: it was 0 when this was the last one. */
    if (atomic_fetch_sub(&((bn_model *)m)->extra_refs, 1) == 0)
        model_destroy((bn_model *)m);
}

void bn_model_free(bn_model *m) {
    if (m != NULL)
        bn_model_release(m);
}

static void model_destroy(bn_model *m) {
    bn_cuda_model_free(m);
    for (int i = 0; m->layers != NULL && i < m->cfg.n_layers; i++) {
        bn_layer *l = &m->layers[i];
        free(l->attn_norm);
        free(l->attn_sub_norm);
        free(l->ffn_norm);
        free(l->ffn_sub_norm);
        bn_ternary_matrix *w[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->wgate, &l->wup, &l->wdown};
        for (size_t j = 0; j < sizeof w / sizeof w[0]; j++)
            bn_ternary_matrix_free(w[j]);
    }
    free(m->layers);
    free(m->output_norm);
    bn_aligned_free(m->head_owned);
    bn_tokenizer_free(m->tok);
    bn_gguf_close(m->gguf);
    free(m);
}
