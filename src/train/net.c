/* net.c - the parameters and the forward graph of net.h. */
#include "train/net.h"

#include "base/alloc.h"
#include "base/rng.h"
#include "train/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parameters of one layer, in the order they are made (and saved). */
enum {
    P_IN_NORM,
    P_Q,
    P_K,
    P_V,
    P_O,
    P_ATTN_SUB_NORM,
    P_POST_NORM,
    P_GATE,
    P_UP,
    P_DOWN,
    P_FFN_SUB_NORM,
    P_PER_LAYER
};

static const char *const layer_names[P_PER_LAYER] = {
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.attn_sub_norm.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "mlp.ffn_sub_norm.weight",
};

static bn_status bad_field(const char *field, const char *why) {
    return BN_ERROR(BN_ERR_INVALID_ARG, "train: model.%s %s", field, why);
}

bn_status bn_net_config_check(const bn_net_config *c) {
    const struct {
        const char *name;
        int value, max;
    } sizes[] = {
        {"dim", c->dim, 65536},          {"layers", c->layers, 1024}, {"heads", c->heads, 1024},
        {"kv_heads", c->kv_heads, 1024}, {"ffn", c->ffn, 262144},     {"vocab", c->vocab, 1 << 24},
        {"context", c->context, 4096},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < 1 || sizes[i].value > sizes[i].max) {
            char why[64];
            snprintf(why, sizeof why, "is %d (1 to %d)", sizes[i].value, sizes[i].max);
            return bad_field(sizes[i].name, why);
        }
    if (c->dim % c->heads != 0 || (c->dim / c->heads) % 2 != 0)
        return bad_field("heads", "must divide dim into heads of an even size");
    if (c->heads % c->kv_heads != 0)
        return bad_field("kv_heads", "must divide heads");
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta))
        return bad_field("rope_theta", "must be a positive number");
    if (!(c->eps > 0.0f) || !(c->eps < 1.0f))
        return bad_field("norm_eps", "must be in (0, 1)");
    if (c->act != BN_ACT_RELU2 && c->act != BN_ACT_SILU)
        return bad_field("activation", "must be relu2 or silu");
    return BN_OK;
}

static const char *const act_names[] = {"relu2", "silu", NULL};
static const char *const linear_names[] = {"bitlinear", "float", NULL};

bn_status bn_net_config_read(const bn_jobj *m, bn_net_config *c) {
    static const char *const keys[] = {"dim",      "layers",     "heads",   "kv_heads",
                                       "ffn",      "vocab",      "context", "rope_theta",
                                       "norm_eps", "activation", "linear",  NULL};
    BN_TRY(bn_jobj_known(m, keys));
    *c = (bn_net_config){.context = 256, .act = BN_ACT_RELU2, .ternary = true};
    BN_TRY(bn_jobj_int32(m, "dim", true, 2, 65536, &c->dim));
    BN_TRY(bn_jobj_int32(m, "layers", true, 1, 1024, &c->layers));
    BN_TRY(bn_jobj_int32(m, "heads", true, 1, 1024, &c->heads));
    c->kv_heads = c->heads;
    BN_TRY(bn_jobj_int32(m, "kv_heads", false, 1, 1024, &c->kv_heads));
    BN_TRY(bn_jobj_int32(m, "ffn", true, 1, 262144, &c->ffn));
    BN_TRY(bn_jobj_int32(m, "vocab", false, 1, 1 << 24, &c->vocab));
    BN_TRY(bn_jobj_int32(m, "context", false, 1, 4096, &c->context));
    double theta = 10000.0, eps = 1e-5;
    BN_TRY(bn_jobj_num(m, "rope_theta", false, 1.0, 1e9, &theta));
    BN_TRY(bn_jobj_num(m, "norm_eps", false, 1e-12, 0.1, &eps));
    c->rope_theta = (float)theta;
    c->eps = (float)eps;
    int act = 0, linear = 0;
    BN_TRY(bn_jobj_choice(m, "activation", false, act_names, &act));
    BN_TRY(bn_jobj_choice(m, "linear", false, linear_names, &linear));
    c->act = act == 0 ? BN_ACT_RELU2 : BN_ACT_SILU;
    c->ternary = linear == 0;
    return BN_OK;
}

cJSON *bn_net_config_json(const bn_net_config *c) {
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddNumberToObject(o, "dim", c->dim) &&
              cJSON_AddNumberToObject(o, "layers", c->layers) &&
              cJSON_AddNumberToObject(o, "heads", c->heads) &&
              cJSON_AddNumberToObject(o, "kv_heads", c->kv_heads) &&
              cJSON_AddNumberToObject(o, "ffn", c->ffn) &&
              cJSON_AddNumberToObject(o, "vocab", c->vocab) &&
              cJSON_AddNumberToObject(o, "context", c->context) &&
              cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta) &&
              cJSON_AddNumberToObject(o, "norm_eps", c->eps) &&
              cJSON_AddStringToObject(o, "activation", c->act == BN_ACT_SILU ? "silu" : "relu2") &&
              cJSON_AddStringToObject(o, "linear", c->ternary ? "bitlinear" : "float");
    if (!ok)
        cJSON_Delete(o);
    return ok ? o : NULL;
}

static int head_dim(const bn_net_config *c) {
    return c->dim / c->heads;
}

/* The [rows, cols] of each layer parameter. */
static void layer_shape(const bn_net_config *c, int which, int64_t *rows, int64_t *cols) {
    int64_t d = c->dim, kv = (int64_t)c->kv_heads * head_dim(c), f = c->ffn;
    const int64_t shapes[P_PER_LAYER][2] = {
        [P_IN_NORM] = {1, d},
        [P_Q] = {d, d},
        [P_K] = {kv, d},
        [P_V] = {kv, d},
        [P_O] = {d, d},
        [P_ATTN_SUB_NORM] = {1, d},
        [P_POST_NORM] = {1, d},
        [P_GATE] = {f, d},
        [P_UP] = {f, d},
        [P_DOWN] = {d, f},
        [P_FFN_SUB_NORM] = {1, f},
    };
    *rows = shapes[which][0];
    *cols = shapes[which][1];
}

static void set_param(bn_param *p, const char *name, int64_t rows, int64_t cols) {
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rows = rows;
    p->cols = cols;
    p->numel = rows * cols;
    p->decay = rows > 1; /* matrices decay; norm scales do not */
}

/* Names and shapes: the embeddings, each layer's, the final norm (HF's order). */
static void describe(bn_net *n) {
    const bn_net_config *c = &n->cfg;
    int k = 0;
    set_param(&n->params[k++], "model.embed_tokens.weight", c->vocab, c->dim);
    for (int l = 0; l < c->layers; l++)
        for (int w = 0; w < P_PER_LAYER; w++) {
            char name[64];
            int64_t rows, cols;
            snprintf(name, sizeof name, "model.layers.%d.%s", l, layer_names[w]);
            layer_shape(c, w, &rows, &cols);
            set_param(&n->params[k++], name, rows, cols);
        }
    set_param(&n->params[k++], "model.norm.weight", 1, c->dim);
    n->n_params = k;
}

/* The whole parameter set lives in two buffers (values, gradients) so that the optimizer and
 * checkpoints see one flat array; each tensor starts 64-byte aligned. */
static size_t padded(int64_t numel) {
    return bn_align_up((size_t)numel, 16);
}

bn_status bn_net_create(bn_net **out, const bn_net_config *cfg) {
    *out = NULL;
    BN_TRY(bn_net_config_check(cfg));
    bn_net *n = calloc(1, sizeof *n);
    if (n == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: the model");
    n->cfg = *cfg;
    n->params = calloc((size_t)cfg->layers * P_PER_LAYER + 2, sizeof *n->params);
    int hd = head_dim(cfg);
    n->rope = malloc((size_t)cfg->context * (size_t)hd * sizeof(float));
    if (n->params == NULL || n->rope == NULL) {
        bn_net_free(n);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: the model's tables");
    }
    describe(n);
    size_t total = 0;
    for (int i = 0; i < n->n_params; i++) {
        total += padded(n->params[i].numel);
        n->n_values += n->params[i].numel;
    }
    n->values = bn_pages_alloc(total * sizeof(float));
    n->grads = bn_pages_alloc(total * sizeof(float));
    n->values_padded = (int64_t)total;
    if (n->values == NULL || n->grads == NULL) {
        bn_net_free(n);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: %zu MB of parameters and gradients",
                        2 * total * sizeof(float) >> 20);
    }
    memset(n->values, 0, total * sizeof(float));
    memset(n->grads, 0, total * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < n->n_params; i++) {
        n->params[i].data = n->values + off;
        n->params[i].grad = n->grads + off;
        off += padded(n->params[i].numel);
    }
    for (int p = 0; p < cfg->context; p++)
        bn_rope_table(n->rope + (size_t)p * (size_t)hd, hd, (float)p, cfg->rope_theta);
    *out = n;
    return BN_OK;
}

void bn_net_free(bn_net *n) {
    if (n == NULL)
        return;
    size_t bytes = (size_t)n->values_padded * sizeof(float);
    if (n->values != NULL)
        bn_pages_free(n->values, bytes);
    if (n->grads != NULL)
        bn_pages_free(n->grads, bytes);
    free(n->params);
    free(n->rope);
    free(n);
}

/* A standard normal by Box-Muller (the second value is dropped: initialization is not hot). */
static float normal(bn_rng *r) {
    float u1 = bn_rng_uniform(r), u2 = bn_rng_uniform(r);
    return sqrtf(-2.0f * logf(1.0f - u1)) * cosf(6.28318530718f * u2);
}

void bn_net_init(bn_net *n, uint64_t seed) {
    bn_rng r;
    bn_rng_seed(&r, seed);
    for (int i = 0; i < n->n_params; i++) {
        bn_param *p = &n->params[i];
        for (int64_t j = 0; j < p->numel; j++)
            p->data[j] = p->rows > 1 ? 0.02f * normal(&r) : 1.0f;
    }
}

bn_param *bn_net_find(bn_net *n, const char *name) {
    for (int i = 0; i < n->n_params; i++)
        if (strcmp(n->params[i].name, name) == 0)
            return &n->params[i];
    return NULL;
}

void bn_net_zero_grad(bn_net *n) {
    memset(n->grads, 0, (size_t)n->values_padded * sizeof(float));
}

/* ---- the forward graph -------------------------------------------------------------------- */

static bn_var *param_var(bn_tape *t, bn_param *p) {
    int64_t shape[2] = {p->rows, p->cols};
    return bn_tape_param(t, p->data, p->grad, p->rows > 1 ? 2 : 1, p->rows > 1 ? shape : shape + 1);
}

/* Linear layers sharing one input: BitLinear, or float for the baseline. */
static bn_status project(const bn_net *n, bn_tape *t, bn_var *x, bn_var *const *w, int n_w,
                         bn_var **out) {
    return n->cfg.ternary ? bn_op_bitlinear(t, x, w, n_w, out) : bn_op_linear(t, x, w, n_w, out);
}

/* One block: h + attention(...), then + FFN(...). */
static bn_status block(bn_net *n, bn_tape *t, int layer, bn_var **h, int batch, int T) {
    const bn_net_config *c = &n->cfg;
    bn_var *w[P_PER_LAYER];
    for (int i = 0; i < P_PER_LAYER; i++)
        if ((w[i] = param_var(t, &n->params[1 + layer * P_PER_LAYER + i])) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: layer %d", layer);
    int hd = head_dim(c);
    bn_var *x, *qkv[3], *q, *k, *a, *o, *gu[2], *g;
    BN_TRY(bn_op_rmsnorm(t, *h, w[P_IN_NORM], c->eps, &x));
    BN_TRY(project(n, t, x, &w[P_Q], 3, qkv));
    BN_TRY(bn_op_rope(t, qkv[0], T, c->heads, hd, n->rope, &q));
    BN_TRY(bn_op_rope(t, qkv[1], T, c->kv_heads, hd, n->rope, &k));
    BN_TRY(bn_op_attention(t, q, k, qkv[2], batch, T, c->heads, c->kv_heads, hd, &a));
    BN_TRY(bn_op_rmsnorm(t, a, w[P_ATTN_SUB_NORM], c->eps, &a));
    BN_TRY(project(n, t, a, &w[P_O], 1, &o));
    BN_TRY(bn_op_add(t, *h, o, h));
    BN_TRY(bn_op_rmsnorm(t, *h, w[P_POST_NORM], c->eps, &x));
    BN_TRY(project(n, t, x, &w[P_GATE], 2, gu));
    BN_TRY(bn_op_gate(t, gu[0], gu[1], c->act, &g));
    BN_TRY(bn_op_rmsnorm(t, g, w[P_FFN_SUB_NORM], c->eps, &g));
    BN_TRY(project(n, t, g, &w[P_DOWN], 1, &o));
    return bn_op_add(t, *h, o, h);
}

/* The final hidden states (normed) of batch rows of T tokens, and the embeddings (the head). */
static bn_status hidden(bn_net *n, bn_tape *t, const int32_t *tokens, int batch, int T, bn_var **h,
                        bn_var **embed) {
    const bn_net_config *c = &n->cfg;
    if (batch < 1 || T < 1 || T > c->context)
        return BN_ERROR(BN_ERR_INVALID_ARG, "train: %d sequences of %d tokens (context %d)", batch,
                        T, c->context);
    *embed = param_var(t, &n->params[0]);
    bn_var *norm = param_var(t, &n->params[n->n_params - 1]);
    if (*embed == NULL || norm == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: the embeddings");
    BN_TRY(bn_op_embedding(t, *embed, tokens, (int64_t)batch * T, h));
    for (int l = 0; l < c->layers; l++)
        BN_TRY(block(n, t, l, h, batch, T));
    return bn_op_rmsnorm(t, *h, norm, c->eps, h);
}

bn_status bn_net_forward(bn_net *n, bn_tape *t, const int32_t *tokens, const int32_t *targets,
                         int batch, bn_var **loss) {
    bn_var *h, *embed;
    BN_TRY(hidden(n, t, tokens, batch, n->cfg.context, &h, &embed));
    return bn_op_cross_entropy(t, h, embed, targets, (int64_t)batch * n->cfg.context,
                               loss); /* the head is tied */
}

bn_status bn_net_logits(bn_net *n, bn_tape *t, const int32_t *tokens, int T, float *logits) {
    bool grad = bn_tape_grad_enabled(t);
    bn_tape_set_grad(t, false);
    bn_tape_reset(t);
    bn_var *h, *embed;
    bn_status s = hidden(n, t, tokens, 1, T, &h, &embed);
    if (s == BN_OK)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n->cfg.vocab, n->cfg.dim, 1.0f,
                    h->data, n->cfg.dim, embed->data, n->cfg.dim, 0.0f, logits, n->cfg.vocab);
    bn_tape_reset(t);
    bn_tape_set_grad(t, grad);
    return s;
}

double bn_net_train_flops_per_token(const bn_net *n) {
    const bn_net_config *c = &n->cfg;
    double linear = 0.0;
    for (int i = 1; i < n->n_params; i++)
        if (n->params[i].rows > 1)
            linear += (double)n->params[i].numel;
    linear += (double)c->vocab * c->dim; /* the head */
    /* Attention's q k^T and p v: 2 x context/2 keys on average x dim, 2 flops each. */
    double attention = 2.0 * c->layers * (double)c->context * c->dim;
    return 3.0 * (2.0 * linear + attention);
}
