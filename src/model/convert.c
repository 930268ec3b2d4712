/*
 * convert.c - Hugging Face BitNet folder -> GGUF. See convert.h for the conventions.
 *
 * The work is planned first (every output tensor's name, type, shape and size, checked against
 * the config), so every error about missing or left-over tensors, wrong dtypes or impossible
 * shapes comes before a byte is written; then the tensors are converted and streamed one at a
 * time.
 */
#include "model/convert.h"

#include "base/alloc.h"
#include "base/log.h"
#include "io/gguf.h"
#include "io/hf_config.h"
#include "io/outfile.h"
#include "model/hparams.h"
#include "text/tokenizer.h"
#include "io/safetensors.h"
#include "quant/ternary.h"
#include "tensor/half.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum kind { KIND_EMBED, KIND_HEAD, KIND_NORM, KIND_LINEAR, KIND_SCALE } kind;

typedef struct planned {
    char name[96]; /* GGUF name */
    kind kind;
    const bn_st_tensor *src;       /* for KIND_SCALE: the weight it belongs to */
    const bn_st_tensor *src_scale; /* packed checkpoints: the HF weight_scale */
    bn_dtype type;
    int64_t rows, cols; /* logical [out, in] ([vocab, hidden] for embeddings) */
    size_t nbytes;
} planned;

typedef struct converter {
    const char *dir;
    const bn_convert_options *opt;
    bn_hf_config cfg;
    bn_safetensors *st;
    bn_tokenizer *tok; /* built, so a broken tokenizer.json fails before any tensor work */
    bool packed;       /* uint8 [out/4, in] weights + weight_scale */
    bool *used;        /* [st->n_tensors]: the tensors the plan reads */
    planned *plan;
    int64_t n_plan;
    float last_gamma; /* scale of the linear just written, for its .scale tensor */
    bn_convert_report *report;
} converter;

/* ---- planning -------------------------------------------------------------------------- */

bn_status bn_convert_check_linear_shape(bn_dtype type, int64_t rows, int64_t cols,
                                        const char *name) {
    bool tq_ok = cols % 256 == 0, i2s_ok = (rows * cols) % 128 == 0;
    bool ok = true;
    if (type == BN_DTYPE_TQ1_0 || type == BN_DTYPE_TQ2_0)
        ok = tq_ok;
    else if (type == BN_DTYPE_I2_S)
        ok = i2s_ok;
    if (ok)
        return BN_OK;
    return BN_ERROR(BN_ERR_SHAPE,
                    "%s [%lld, %lld] cannot be stored as %s (%s); types that fit this shape: %s%s"
                    "f16, bf16, f32",
                    name, (long long)rows, (long long)cols, bn_dtype_name(type),
                    type == BN_DTYPE_I2_S ? "needs rows*cols % 128 == 0"
                                          : "needs the input dimension % 256 == 0",
                    tq_ok ? "tq1_0, tq2_0, " : "", i2s_ok ? "i2_s, " : "");
}

static bn_status find_src(converter *c, const char *name, const bn_st_tensor **out) {
    *out = bn_st_find(c->st, name);
    if (*out == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND, "%s: tensor '%s' is missing", c->dir, name);
    c->used[*out - c->st->tensors] = true;
    return BN_OK;
}

static bool is_float(bn_st_dtype t) {
    return t == BN_ST_F32 || t == BN_ST_F16 || t == BN_ST_BF16;
}

/* what: the role, for the message ("a norm", "latent weights", ...). */
static bn_status expect_float(converter *c, const bn_st_tensor *t, const char *what) {
    if (is_float(t->dtype))
        return BN_OK;
    return BN_ERROR(BN_ERR_DTYPE, "%s: tensor '%s' is %s; %s must be F32, F16 or BF16", c->dir,
                    t->name, bn_st_dtype_name(t->dtype), what);
}

static bn_dtype dtype_of(bn_st_dtype t) {
    return t == BN_ST_F32 ? BN_DTYPE_F32 : t == BN_ST_F16 ? BN_DTYPE_F16 : BN_DTYPE_BF16;
}

static bn_status expect_shape(converter *c, const bn_st_tensor *t, int64_t d0, int64_t d1) {
    bool ok = d1 < 0 ? (t->n_dims == 1 && t->shape[0] == d0)
                     : (t->n_dims == 2 && t->shape[0] == d0 && t->shape[1] == d1);
    if (ok)
        return BN_OK;
    char got[64] = "";
    for (int i = 0, n = 0; i < t->n_dims && n < (int)sizeof got; i++)
        n += snprintf(got + n, sizeof got - (size_t)n, i ? ", %lld" : "%lld",
                      (long long)t->shape[i]);
    if (d1 < 0)
        return BN_ERROR(BN_ERR_SHAPE, "%s: tensor '%s' has shape [%s], want [%lld]", c->dir,
                        t->name, got, (long long)d0);
    return BN_ERROR(BN_ERR_SHAPE, "%s: tensor '%s' has shape [%s], want [%lld, %lld]", c->dir,
                    t->name, got, (long long)d0, (long long)d1);
}

static bn_status add(converter *c, const planned *p) {
    planned *grown = realloc(c->plan, (size_t)(c->n_plan + 1) * sizeof *grown);
    if (grown == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "convert: plan of %lld tensors",
                        (long long)c->n_plan);
    c->plan = grown;
    planned q = *p;
    if (q.kind == KIND_SCALE)
        q.nbytes = sizeof(float);
    else
        BN_TRY(bn_dtype_tensor_bytes(q.type, q.cols, q.rows * q.cols, &q.nbytes));
    c->plan[c->n_plan++] = q;
    return BN_OK;
}

static bn_status plan_float(converter *c, kind k, const char *hf, const char *gguf, int64_t rows,
                            int64_t cols, bn_dtype type) {
    planned p = {.kind = k, .type = type, .rows = rows, .cols = cols};
    snprintf(p.name, sizeof p.name, "%s", gguf);
    BN_TRY(find_src(c, hf, &p.src));
    BN_TRY(expect_float(c, p.src, k == KIND_NORM ? "a norm" : "an embedding or head"));
    BN_TRY(expect_shape(c, p.src, k == KIND_NORM ? cols : rows, k == KIND_NORM ? -1 : cols));
    if ((k == KIND_HEAD && c->opt->head_as_source) || (k == KIND_EMBED && c->opt->embed_as_source))
        p.type = type = dtype_of(p.src->dtype); /* the float table, as trained */
    if (type == BN_DTYPE_Q8_0 && cols % 32 != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s [%lld, %lld]: q8_0 needs rows of whole 32-value blocks; "
                        "use f16, bf16 or f32",
                        gguf, (long long)rows, (long long)cols);
    return add(c, &p);
}

static bn_status plan_linear(converter *c, int layer, const char *hf_mod, const char *gguf_mod,
                             int64_t rows, int64_t cols) {
    char hf[160];
    planned p = {.kind = KIND_LINEAR, .type = c->opt->type, .rows = rows, .cols = cols};
    snprintf(p.name, sizeof p.name, "blk.%d.%s.weight", layer, gguf_mod);
    snprintf(hf, sizeof hf, "model.layers.%d.%s.weight", layer, hf_mod);
    BN_TRY(find_src(c, hf, &p.src));
    if (c->packed) {
        if (p.src->dtype != BN_ST_U8)
            return BN_ERROR(
                BN_ERR_DTYPE, "%s: tensor '%s' is %s, but a %s checkpoint stores packed U8 weights",
                c->dir, hf, bn_st_dtype_name(p.src->dtype),
                c->cfg.linear_class == BN_HF_LINEAR_BITLINEAR ? "linear_class bitlinear"
                                                              : "quantization_mode offline");
        if (rows % 4 != 0)
            return BN_ERROR(BN_ERR_SHAPE, "%s: '%s' has %lld output rows, not a multiple of 4",
                            c->dir, hf, (long long)rows);
        BN_TRY(expect_shape(c, p.src, rows / 4, cols));
        snprintf(hf, sizeof hf, "model.layers.%d.%s.weight_scale", layer, hf_mod);
        BN_TRY(find_src(c, hf, &p.src_scale));
        BN_TRY(expect_float(c, p.src_scale, "a weight_scale"));
        int64_t numel = 1;
        for (int d = 0; d < p.src_scale->n_dims; d++)
            numel *= p.src_scale->shape[d];
        if (numel != 1)
            return BN_ERROR(BN_ERR_SHAPE,
                            "%s: '%s' has %lld values; a per-tensor weight_scale has 1", c->dir, hf,
                            (long long)numel);
    } else {
        BN_TRY(expect_float(c, p.src, "latent weights (no packed quantization_config)"));
        BN_TRY(expect_shape(c, p.src, rows, cols));
    }
    BN_TRY(bn_convert_check_linear_shape(c->opt->type, rows, cols, p.name));
    BN_TRY(add(c, &p));
    if (bn_convert_has_scale_tensor(c->opt->type)) {
        planned s = {.kind = KIND_SCALE, .type = BN_DTYPE_F32, .src = p.src, .rows = 1, .cols = 1};
        snprintf(s.name, sizeof s.name, "blk.%d.%s.scale", layer, gguf_mod);
        BN_TRY(add(c, &s));
    }
    return BN_OK;
}

static bn_status plan_layer(converter *c, int i) {
    const bn_hf_config *g = &c->cfg;
    int64_t h = g->hidden_size, q = g->num_heads * g->head_dim, kv = g->num_kv_heads * g->head_dim;
    int64_t f = g->intermediate_size;
    char hf[160], name[96];
    static const char *const norm_hf[2] = {"input_layernorm", "post_attention_layernorm"};
    static const char *const norm_gguf[2] = {"attn_norm", "ffn_norm"};
    for (int n = 0; n < 2; n++) {
        snprintf(hf, sizeof hf, "model.layers.%d.%s.weight", i, norm_hf[n]);
        snprintf(name, sizeof name, "blk.%d.%s.weight", i, norm_gguf[n]);
        BN_TRY(plan_float(c, KIND_NORM, hf, name, 1, h, BN_DTYPE_F32));
    }
    if (g->has_sub_norms) { /* 2B-4T names, or 1bitLLM's inner_attn_ln / ffn_layernorm */
        bool onebit = g->family == BN_HF_1BITLLM;
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.%s.weight", i,
                 onebit ? "inner_attn_ln" : "attn_sub_norm");
        snprintf(name, sizeof name, "blk.%d.attn_sub_norm.weight", i);
        BN_TRY(plan_float(c, KIND_NORM, hf, name, 1, q, BN_DTYPE_F32));
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.%s.weight", i,
                 onebit ? "ffn_layernorm" : "ffn_sub_norm");
        snprintf(name, sizeof name, "blk.%d.ffn_sub_norm.weight", i);
        BN_TRY(plan_float(c, KIND_NORM, hf, name, 1, f, BN_DTYPE_F32));
    }
    BN_TRY(plan_linear(c, i, "self_attn.q_proj", "attn_q", q, h));
    BN_TRY(plan_linear(c, i, "self_attn.k_proj", "attn_k", kv, h));
    BN_TRY(plan_linear(c, i, "self_attn.v_proj", "attn_v", kv, h));
    BN_TRY(plan_linear(c, i, "self_attn.o_proj", "attn_output", h, q));
    BN_TRY(plan_linear(c, i, "mlp.gate_proj", "ffn_gate", f, h));
    BN_TRY(plan_linear(c, i, "mlp.up_proj", "ffn_up", f, h));
    BN_TRY(plan_linear(c, i, "mlp.down_proj", "ffn_down", h, f));
    return BN_OK;
}

static bn_status make_plan(converter *c) {
    const bn_hf_config *g = &c->cfg;
    BN_TRY(plan_float(c, KIND_EMBED, "model.embed_tokens.weight", "token_embd.weight",
                      g->vocab_size, g->hidden_size, c->opt->embed_type));
    for (int i = 0; i < g->num_layers; i++)
        BN_TRY(plan_layer(c, i));
    BN_TRY(plan_float(c, KIND_NORM, "model.norm.weight", "output_norm.weight", 1, g->hidden_size,
                      BN_DTYPE_F32));
    if (!g->tie_word_embeddings) /* never quantized: transformers keeps lm_head an nn.Linear */
        BN_TRY(plan_float(c, KIND_HEAD, "lm_head.weight", "output.weight", g->vocab_size,
                          g->hidden_size, c->opt->head_type));
    return BN_OK;
}

/* ---- what the plan does not read, and what the config asks that the engine lacks -------- */

/* A tied checkpoint may still carry lm_head.weight; transformers ties it to the embeddings
 * after loading, so a copy that differs is not what runs there either. */
static void check_tied_head(converter *c, const bn_st_tensor *t) {
    const bn_st_tensor *e = bn_st_find(c->st, "model.embed_tokens.weight");
    bool same = e != NULL && e->dtype == t->dtype && e->size == t->size &&
                memcmp(e->data, t->data, t->size) == 0;
    if (!same)
        bn_log(BN_LOG_WARN,
               "%s: tie_word_embeddings is true, so the head is the embeddings, as in "
               "transformers; tensor 'lm_head.weight', which differs from them, is ignored",
               c->dir);
}

/* Every tensor must be read by the plan: a left-over one is a part of the model this graph
 * lacks (a bias, BitLinear's own RMSNorm weight, a layer beyond num_hidden_layers), and
 * running without it would be running another model. */
static bn_status check_unused(converter *c) {
    static const char inv_freq[] = ".rotary_emb.inv_freq";
    for (int64_t i = 0; i < c->st->n_tensors; i++) {
        const bn_st_tensor *t = &c->st->tensors[i];
        size_t n = strlen(t->name), k = sizeof inv_freq - 1;
        if (c->used[i] || (n > k && strcmp(t->name + n - k, inv_freq) == 0))
            continue; /* older checkpoints saved RoPE's buffer; rope_theta gives it */
        if (strcmp(t->name, "lm_head.weight") == 0 && c->cfg.tie_word_embeddings) {
            check_tied_head(c, t);
            continue;
        }
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: tensor '%s' is not part of a %s model as config.json describes "
                        "it; refusing to ignore it",
                        c->dir, t->name, bn_hf_family_name(c->cfg.family));
    }
    return BN_OK;
}

/* modules_to_not_convert may keep linear layers of the blocks in float, which the engine cannot
 * run; only the head (which stays float anyway) may be listed. transformers' matching changed
 * between versions (substring, then prefix/regex/suffix), so any other entry is refused. */
static bn_status check_not_converted(const converter *c) {
    for (int i = 0; i < c->cfg.n_modules_not_convert; i++) {
        const char *m = c->cfg.modules_not_convert[i];
        if (strcmp(m, "lm_head") == 0 || strcmp(m, "lm_head.weight") == 0)
            continue;
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s/config.json: quantization_config.modules_to_not_convert[%d] '%s' "
                        "could keep linear layers in float, which this engine does not run "
                        "(only lm_head may be listed)",
                        c->dir, i, m);
    }
    return BN_OK;
}

/* Graph features the config asks for that the engine does not implement: refused by name
 * rather than silently run without. */
static bn_status check_config(const converter *c) {
    const bn_hf_config *g = &c->cfg;
    const char *dir = c->dir;
    if (g->rope_scaling_type[0] != '\0' && strcmp(g->rope_scaling_type, "default") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s/config.json: rope_scaling type '%s' (factor %g) is not supported: "
                        "the engine has plain RoPE with rope_theta only",
                        dir, g->rope_scaling_type, g->rope_scaling_factor);
    if (g->use_rms_norm)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s/config.json: quantization_config.use_rms_norm is true: transformers "
                        "then runs an RMSNorm with its own weight inside every BitLinear, which "
                        "this engine does not have",
                        dir);
    if (g->attention_bias || g->mlp_bias)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s/config.json: %s is true: the engine's linear layers have no bias", dir,
                        g->attention_bias ? "attention_bias" : "mlp_bias");
    if (g->input_bits != 8)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s/config.json: input_bits is %lld: the engine quantizes activations to "
                        "8 bits only",
                        dir, (long long)g->input_bits);
    if (g->num_heads * g->head_dim != g->hidden_size)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s/config.json: num_attention_heads %lld x head_dim %lld != hidden_size "
                        "%lld: the engine needs the attention width to equal the hidden size",
                        dir, (long long)g->num_heads, (long long)g->head_dim,
                        (long long)g->hidden_size);
    return check_not_converted(c);
}

/* The tokenizer comes from tokenizer.json only. 1bitLLM's repos use a SentencePiece
 * tokenizer.model (their tokenization_bitnet.py is LLaMA's slow tokenizer); HF1BitLLM's ship
 * no tokenizer (their model card loads meta-llama/Meta-Llama-3-8B-Instruct's). */
static bn_status check_tokenizer_file(const converter *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", c->dir);
    if (access(path, F_OK) == 0)
        return BN_OK;
    snprintf(path, sizeof path, "%s/tokenizer.model", c->dir);
    if (access(path, F_OK) == 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: there is a tokenizer.model (SentencePiece) but no tokenizer.json, and "
                        "only tokenizer.json is read; write one with transformers: "
                        "AutoTokenizer.from_pretrained(dir).save_pretrained(dir)",
                        c->dir);
    return BN_ERROR(BN_ERR_NOT_FOUND,
                    "%s: no tokenizer.json (checkpoints that use their base model's tokenizer, "
                    "such as HF1BitLLM's, need that tokenizer.json copied in)",
                    c->dir);
}

/* ---- metadata -------------------------------------------------------------------------- */

static bn_status write_hparams(converter *c, bn_gguf_writer *w) {
    const bn_hf_config *g = &c->cfg;
    const char *base = strrchr(c->dir, '/');
    bn_hparams h = {
        .name = base && base[1] ? base + 1 : c->dir,
        .linear_type = c->opt->type,
        .vocab_size = g->vocab_size,
        .context_length = g->max_position_embeddings,
        .embedding_length = g->hidden_size,
        .block_count = g->num_layers,
        .feed_forward_length = g->intermediate_size,
        .head_dim = g->head_dim,
        .head_count = g->num_heads,
        .head_count_kv = g->num_kv_heads,
        .rms_eps = (float)g->rms_norm_eps,
        .rope_theta = (float)g->rope_theta,
        .activation = bn_hf_act_name(g->hidden_act),
    };
    return bn_hparams_write_gguf(&h, w);
}

/* The model's config.json has the last word on bos/eos (generation_config adds eos ids). */
static bn_status write_tokenizer(converter *c, bn_gguf_writer *w) {
    bn_tokenizer_spec *t = (bn_tokenizer_spec *)bn_tokenizer_spec_of(c->tok);
    const bn_hf_config *g = &c->cfg;
    if (g->n_bos > 0 && g->bos_ids[0] >= 0 && g->bos_ids[0] < t->n_tokens)
        t->bos_id = (int32_t)g->bos_ids[0];
    if (g->n_eos > 0 && g->eos_ids[0] >= 0 && g->eos_ids[0] < t->n_tokens)
        t->eos_id = (int32_t)g->eos_ids[0];
    if (g->pad_id >= 0 && g->pad_id < t->n_tokens)
        t->pad_id = (int32_t)g->pad_id;
    return bn_tokenizer_spec_write_gguf(t, w);
}

/* ---- converting one tensor ------------------------------------------------------------- */

/* Decode a float source tensor (F32/F16/BF16) into dst[numel]. */
static bn_status decode_float(const bn_st_tensor *t, float *dst, int64_t numel) {
    switch (t->dtype) {
    case BN_ST_F32:
        memcpy(dst, t->data, (size_t)numel * sizeof(float));
        return BN_OK;
    case BN_ST_F16:
        bn_f16_to_f32_row((const uint16_t *)t->data, dst, (size_t)numel);
        return BN_OK;
    case BN_ST_BF16:
        bn_bf16_to_f32_row((const uint16_t *)t->data, dst, (size_t)numel);
        return BN_OK;
    default:
        return BN_ERROR(BN_ERR_DTYPE, "tensor '%s' is %s; want F32, F16 or BF16", t->name,
                        bn_st_dtype_name(t->dtype));
    }
}

static void record(converter *c, const planned *p, const char *source, const float *ref,
                   const float *approx, int64_t n) {
    size_t extra =
        p->kind == KIND_LINEAR && bn_convert_has_scale_tensor(p->type) ? sizeof(float) : 0;
    bn_convert_report_add(c->report, p->name, p->type, source, ref, approx, n, p->nbytes + extra);
}

/* The ternary values and scale of a linear layer, from whatever the checkpoint holds. master
 * receives the float reference (the master weights, or t * gamma for packed checkpoints). */
static bn_status linear_source(converter *c, const planned *p, int8_t *t, float *master,
                               float *gamma) {
    int64_t n = p->rows * p->cols;
    if (c->packed) {
        float unused, ws;
        BN_TRY(bn_dtype_get(BN_DTYPE_HF2)
                   ->unpack_ternary(p->src->data, p->src->size, p->rows, p->cols, t, &unused));
        BN_TRY(decode_float(p->src_scale, &ws, 1));
        if (!(ws > 0.0f) || !isfinite(ws))
            return BN_ERROR(BN_ERR_RANGE,
                            "%s: weight_scale of '%s' is %g; it must be a positive "
                            "finite number",
                            c->dir, p->src->name, (double)ws);
        /* Trap 1: autobitlinear stores gamma (multiply), bitlinear stores 1/gamma (divide). */
        *gamma = c->cfg.linear_class == BN_HF_LINEAR_BITLINEAR ? 1.0f / ws : ws;
        for (int64_t i = 0; i < n; i++)
            master[i] = (float)t[i] * *gamma;
        return BN_OK;
    }
    BN_TRY(decode_float(p->src, master, n));
    bn_ternary_params tp = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_TENSOR, 0};
    return bn_ternary_quantize(master, p->rows, p->cols, &tp, t, gamma);
}

static bn_status convert_linear(converter *c, const planned *p, uint8_t *out) {
    int64_t n = p->rows * p->cols;
    int8_t *t = bn_aligned_alloc((size_t)n);
    float *master = bn_aligned_alloc((size_t)n * sizeof(float));
    float *approx = bn_aligned_alloc((size_t)n * sizeof(float));
    bn_status st = (t && master && approx) ? BN_OK : BN_ERR_OUT_OF_MEMORY;
    float gamma = 0.0f;
    if (st == BN_OK)
        st = linear_source(c, p, t, master, &gamma);
    const bn_dtype_traits *tr = bn_dtype_get(p->type);
    if (st == BN_OK) {
        for (int64_t i = 0; i < n; i++)
            approx[i] = (float)t[i] * gamma;
        if (tr->pack_ternary != NULL) { /* TQ keeps gamma in its .scale tensor, I2_S in its tail */
            float stored = p->type == BN_DTYPE_I2_S ? gamma : 1.0f;
            st = tr->pack_ternary(t, p->rows, p->cols, stored, out, p->nbytes);
        } else {
            tr->from_f32(approx, out, n);
            tr->to_f32(out, approx, n); /* what a reader gets back (f16/bf16 round gamma) */
        }
    }
    if (st == BN_OK) {
        c->last_gamma = gamma;
        record(c, p, c->packed ? "hf2" : bn_st_dtype_name(p->src->dtype), master, approx, n);
    }
    bn_aligned_free(t);
    bn_aligned_free(master);
    bn_aligned_free(approx);
    return st;
}

static bn_status convert_float(converter *c, const planned *p, uint8_t *out) {
    int64_t n = p->rows * p->cols;
    float *src = bn_aligned_alloc((size_t)n * sizeof(float));
    float *back = c->opt->report ? bn_aligned_alloc((size_t)n * sizeof(float)) : NULL;
    bn_status st = src && (back || !c->opt->report) ? BN_OK : BN_ERR_OUT_OF_MEMORY;
    if (st == BN_OK)
        st = decode_float(p->src, src, n);
    if (st == BN_OK) {
        const bn_dtype_traits *tr = bn_dtype_get(p->type);
        tr->from_f32(src, out, n);
        if (back != NULL) {
            tr->to_f32(out, back, n);
            record(c, p, bn_st_dtype_name(p->src->dtype), src, back, n);
        }
    }
    bn_aligned_free(src);
    bn_aligned_free(back);
    return st;
}

static bn_status convert_one(converter *c, const planned *p, uint8_t *out) {
    switch (p->kind) {
    case KIND_LINEAR:
        return convert_linear(c, p, out);
    case KIND_SCALE:
        memcpy(out, &c->last_gamma, sizeof(float));
        return BN_OK;
    default:
        return convert_float(c, p, out);
    }
}

static bn_status write_all(converter *c, bn_gguf_writer *w) {
    BN_TRY(write_hparams(c, w));
    BN_TRY(write_tokenizer(c, w));
    for (int64_t i = 0; i < c->n_plan; i++) {
        const planned *p = &c->plan[i];
        uint64_t ne[2] = {(uint64_t)p->cols, (uint64_t)p->rows};
        int nd = p->kind == KIND_NORM || p->kind == KIND_SCALE ? 1 : 2;
        BN_TRY(bn_gguf_writer_add_tensor(w, p->name, (uint32_t)bn_dtype_get(p->type)->gguf_type, nd,
                                         ne, p->nbytes));
    }
    BN_TRY(bn_gguf_writer_begin_data(w));
    for (int64_t i = 0; i < c->n_plan; i++) {
        const planned *p = &c->plan[i];
        if (c->opt->progress)
            c->opt->progress(c->opt->progress_ctx, i, c->n_plan, p->name);
        uint8_t *out = bn_aligned_alloc(p->nbytes);
        if (out == NULL)
            return BN_ERR_OUT_OF_MEMORY;
        memset(out, 0, p->nbytes);
        bn_status st = convert_one(c, p, out);
        if (st == BN_OK)
            st = bn_gguf_writer_write(w, out, p->nbytes);
        bn_aligned_free(out);
        BN_TRY(st);
    }
    if (c->opt->progress)
        c->opt->progress(c->opt->progress_ctx, c->n_plan, c->n_plan, "");
    return BN_OK;
}

bool bn_convert_is_table_type(bn_dtype t) {
    const bn_dtype_traits *d = bn_dtype_get(t);
    return d != NULL && d->to_f32 != NULL && d->from_f32 != NULL && d->unpack_ternary == NULL &&
           !d->is_integer && d->gguf_type != BN_GGUF_TYPE_NONE;
}

bn_status bn_convert_check_options(const bn_convert_options *opt) {
    BN_TRY(bn_convert_check_linear_type(opt->type));
    if (!opt->embed_as_source && !bn_convert_is_table_type(opt->embed_type))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "--embed-type %s: embeddings can be q8_0, f16, bf16, f32 or one of "
                        "llama.cpp's k-quants (q6_k, q5_k, q4_k, q3_k, q2_k, q5_0, q4_0, ...)",
                        bn_dtype_name(opt->embed_type));
    if (!opt->head_as_source && !bn_convert_is_table_type(opt->head_type))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "--head-type %s: the head can be source, q8_0, f16, bf16, f32 or one of "
                        "llama.cpp's k-quants (q6_k, q5_k, q4_k, ...)",
                        bn_dtype_name(opt->head_type));
    return BN_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The checkpoint's files are inputs: an output that is one of them would replace it (the rename
 * succeeds under the mapping), so `convert DIR DIR/model.safetensors` is refused. */
bn_status bn_convert_check_not_input(const char *hf_dir, const char *out_path) {
    DIR *d = opendir(hf_dir);
    if (d == NULL)
        return BN_OK; /* reading the folder failed earlier if it could not be read */
    bn_status st = BN_OK;
    for (struct dirent *e; st == BN_OK && (e = readdir(d)) != NULL;) {
        if (!ends_with(e->d_name, ".json") && !ends_with(e->d_name, ".safetensors") &&
            !ends_with(e->d_name, ".model"))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", hf_dir, e->d_name) < (int)sizeof path)
            st = bn_outfile_check_not_input(out_path, path, "a file of the checkpoint");
    }
    closedir(d);
    return st;
}

/* Convert into out_path, or into memory (*mem, *mem_size) when out_path is NULL. */
static bn_status run(converter *c, const char *out_path, void **mem, size_t *mem_size) {
    BN_TRY(bn_convert_check_options(c->opt));
    BN_TRY(bn_hf_config_load(&c->cfg, c->dir));
    BN_TRY(check_config(c));
    /* transformers builds the packed BitLinear for linear_class bitlinear whatever
     * quantization_mode says; only autobitlinear reads the mode. */
    c->packed = c->cfg.quantized && (c->cfg.linear_class == BN_HF_LINEAR_BITLINEAR ||
                                     c->cfg.quant_mode == BN_HF_QUANT_OFFLINE);
    BN_TRY(check_tokenizer_file(c));
    BN_TRY(bn_tokenizer_load(&c->tok, c->dir));
    BN_TRY(bn_st_open_dir(&c->st, c->dir));
    if ((c->used = calloc((size_t)c->st->n_tensors + 1, sizeof *c->used)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "convert: %lld tensors", (long long)c->st->n_tensors);
    BN_TRY(make_plan(c));
    BN_TRY(check_unused(c));
    if (c->report != NULL) {
        c->report->n = 0;
        c->report->tensors = calloc((size_t)c->n_plan, sizeof *c->report->tensors);
        if (c->report->tensors == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "convert: report");
    }
    bn_gguf_writer *w = NULL;
    if (out_path != NULL) {
        BN_TRY(bn_convert_check_not_input(c->dir, out_path));
        BN_TRY(bn_gguf_writer_create(&w, out_path, 0));
    } else {
        BN_TRY(bn_gguf_writer_create_memory(&w, c->dir, 0));
    }
    bn_status st = write_all(c, w);
    if (st != BN_OK) {
        bn_gguf_writer_abort(w);
        return st;
    }
    return out_path != NULL ? bn_gguf_writer_finish(w)
                            : bn_gguf_writer_finish_memory(w, mem, mem_size);
}

static bn_status convert(const char *hf_dir, const char *out_path, const bn_convert_options *opt,
                         bn_convert_report *report, void **mem, size_t *mem_size) {
    converter c = {.dir = hf_dir, .opt = opt, .report = opt->report ? report : NULL};
    bn_status st = run(&c, out_path, mem, mem_size);
    bn_st_close(c.st);
    bn_tokenizer_free(c.tok);
    free(c.used);
    free(c.plan);
    if (st != BN_OK && report != NULL)
        bn_convert_report_free(report);
    return st;
}

bn_status bn_convert_hf_to_gguf(const char *hf_dir, const char *out_path,
                                const bn_convert_options *opt, bn_convert_report *report) {
    return convert(hf_dir, out_path, opt, report, NULL, NULL);
}

bn_status bn_convert_hf_to_memory(const char *hf_dir, const bn_convert_options *opt, void **data,
                                  size_t *size) {
    return convert(hf_dir, NULL, opt, NULL, data, size);
}

bool bn_convert_has_scale_tensor(bn_dtype t) {
    return t == BN_DTYPE_TQ1_0 || t == BN_DTYPE_TQ2_0;
}

bn_status bn_convert_check_linear_type(bn_dtype t) {
    if (bn_convert_has_scale_tensor(t) || t == BN_DTYPE_I2_S || t == BN_DTYPE_F16 ||
        t == BN_DTYPE_BF16 || t == BN_DTYPE_F32)
        return BN_OK;
    return BN_ERROR(BN_ERR_INVALID_ARG,
                    "--type %s: the linear layers can be tq2_0, tq1_0, i2_s, f16, bf16 or f32",
                    bn_dtype_name(t));
}

void bn_convert_report_add(bn_convert_report *r, const char *name, bn_dtype type,
                           const char *source, const float *ref, const float *approx, int64_t n,
                           size_t stored_bytes) {
    if (r == NULL)
        return;
    bn_tensor_report *t = &r->tensors[r->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->type, sizeof t->type, "%s", bn_dtype_name(type));
    snprintf(t->source, sizeof t->source, "%s", source);
    bn_quant_metrics_compute(ref, approx, n, 8.0 * (double)stored_bytes / (double)n, &t->m);
}

void bn_convert_report_free(bn_convert_report *r) {
    if (r == NULL)
        return;
    free(r->tensors);
    r->tensors = NULL;
    r->n = 0;
}
