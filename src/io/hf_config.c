/*
 * hf_config.c - a Hugging Face model folder's config.json (+ generation_config.json).
 *
 * Every key is looked up once, type-checked, then range-checked. A missing key takes the default
 * of the transformers config class behind the family, and each default applied is logged at info
 * level, because those defaults are not the released models' values (facts Trap 9: BitNetConfig
 * says max_position_embeddings 2048 and tie_word_embeddings False, 2B-4T has 4096 and true).
 *
 * Messages read "<file>: <key> ...", nested keys spelled "quantization_config.linear_class" and
 * list elements "eos_token_id[2]". The `name` given to bn_hf_config_parse is the model folder:
 * files are called "<name>/config.json" and "<name>/generation_config.json", or just
 * "config.json" and "generation_config.json" when name is NULL or "".
 */
#include "io/hf_config.h"

#include "base/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config is about 1 KiB; anything this big is not one, so refuse it before reading it. */
#define HF_MAX_JSON_BYTES ((size_t)16 << 20)
/* Largest size or token id accepted. No model comes near it, and it keeps products such as
 * vocab_size * hidden_size far from int64 overflow in the code that sizes buffers from them. */
#define HF_MAX_VALUE INT32_MAX
/* Doubles hold every integer up to 2^53 exactly; past that "an integer" is not checkable. */
#define HF_MAX_EXACT_INT 9007199254740992.0

/* The defaults of one transformers config class: what a missing key means for that family. */
typedef struct hf_defaults {
    const char *cls; /* the class, named in the log line for each default applied */
    int64_t vocab, hidden, intermediate, layers, heads;
    int64_t kv_heads; /* 0: the same as num_attention_heads */
    int64_t max_pos;
    double eps, theta;
    bn_hf_act act;
    bool tie;
    bool sub_norms; /* a graph property of the family, not a config key */
    int64_t bos, eos;
} hf_defaults;

static const hf_defaults k_defaults[] = {
    /* transformers' BitNetConfig (configuration_bitnet.py), facts §1.1. */
    [BN_HF_BITNET] = {.cls = "BitNetConfig",
                      .vocab = 128256,
                      .hidden = 2560,
                      .intermediate = 6912,
                      .layers = 30,
                      .heads = 20,
                      .kv_heads = 5,
                      .max_pos = 2048,
                      .eps = 1e-5,
                      .theta = 500000.0,
                      .act = BN_HF_ACT_RELU2,
                      .tie = false,
                      .sub_norms = true,
                      .bos = 128000,
                      .eos = 128001},
    /* transformers' LlamaConfig: the quantization_config only swaps the linear layers. */
    [BN_HF_LLAMA_BITNET] = {.cls = "LlamaConfig",
                            .vocab = 32000,
                            .hidden = 4096,
                            .intermediate = 11008,
                            .layers = 32,
                            .heads = 32,
                            .kv_heads = 0,
                            .max_pos = 2048,
                            .eps = 1e-6,
                            .theta = 10000.0,
                            .act = BN_HF_ACT_SILU,
                            .tie = false,
                            .sub_norms = false,
                            .bos = 1,
                            .eos = 2},
    /* 1bitLLM's remote-code BitnetConfig is LlamaConfig copied with weight_bits/input_bits added,
     * so its defaults are LlamaConfig's; its config.json even says model_type "llama". */
    [BN_HF_1BITLLM] = {.cls = "1bitLLM BitnetConfig (LlamaConfig defaults)",
                       .vocab = 32000,
                       .hidden = 4096,
                       .intermediate = 11008,
                       .layers = 32,
                       .heads = 32,
                       .kv_heads = 0,
                       .max_pos = 2048,
                       .eps = 1e-6,
                       .theta = 10000.0,
                       .act = BN_HF_ACT_SILU,
                       .tie = false,
                       .sub_norms = true,
                       .bos = 1,
                       .eos = 2},
};

/* Where keys are read from: one JSON object plus the names that messages need. */
typedef struct hf_obj {
    const cJSON *json;
    const char *file;   /* "config.json" or "<dir>/config.json" */
    const char *prefix; /* "" at top level, "quantization_config." inside that object */
} hf_obj;

/* ---- looking keys up and checking their types ------------------------------------------------ */

/* The value of key in o, NULL when absent. A repeated key is refused: Python's json keeps the
 * last copy and cJSON the first, so transformers and we would read different values. */
static bn_status hf_find(const hf_obj *o, const char *key, const cJSON **out) {
    *out = NULL;
    for (const cJSON *it = o->json->child; it != NULL; it = it->next) {
        if (it->string == NULL || strcmp(it->string, key) != 0)
            continue;
        if (*out != NULL)
            return BN_ERROR(BN_ERR_FORMAT, "%s: %s%s appears more than once", o->file, o->prefix,
                            key);
        *out = it;
    }
    return BN_OK;
}

static const char *hf_type_name(const cJSON *v) {
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "a list";
    if (cJSON_IsObject(v))
        return "an object";
    return "invalid";
}

static bn_status hf_type_error(const hf_obj *o, const char *key, const cJSON *v, const char *want) {
    return BN_ERROR(BN_ERR_FORMAT, "%s: %s%s is %s, want %s", o->file, o->prefix, key,
                    hf_type_name(v), want);
}

static void hf_log_default(const hf_obj *o, const char *key, const char *cls, const char *value) {
    bn_log(BN_LOG_INFO, "%s: no %s%s, using the %s default %s", o->file, o->prefix, key, cls,
           value);
}

/* v as an integer: a JSON number with no fraction (1e3 is fine, 1.5 is not). Sign unchecked. */
static bn_status hf_int(const hf_obj *o, const char *key, const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v))
        return hf_type_error(o, key, v, "an integer");
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > HF_MAX_EXACT_INT)
        return BN_ERROR(BN_ERR_FORMAT, "%s: %s%s is %.17g, want an integer", o->file, o->prefix,
                        key, d);
    *out = (int64_t)d;
    return BN_OK;
}

static bn_status hf_check_size(const hf_obj *o, const char *key, int64_t v) {
    if (v <= 0 || v > HF_MAX_VALUE)
        return BN_ERROR(BN_ERR_RANGE, "%s: %s%s is %lld, want 1..%d", o->file, o->prefix, key,
                        (long long)v, HF_MAX_VALUE);
    return BN_OK;
}

/* A positive integer key, def when absent. */
static bn_status hf_size(const hf_obj *o, const char *key, int64_t def, const char *cls,
                         int64_t *out) {
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v == NULL) {
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)def);
        hf_log_default(o, key, cls, text);
        *out = def;
        return BN_OK;
    }
    BN_TRY(hf_int(o, key, v, out));
    return hf_check_size(o, key, *out);
}

static bn_status hf_positive_value(const hf_obj *o, const char *key, const cJSON *v, double *out) {
    if (!cJSON_IsNumber(v))
        return hf_type_error(o, key, v, "a number");
    if (!isfinite(v->valuedouble) || v->valuedouble <= 0)
        return BN_ERROR(BN_ERR_RANGE, "%s: %s%s is %.17g, want a finite number > 0", o->file,
                        o->prefix, key, v->valuedouble);
    *out = v->valuedouble;
    return BN_OK;
}

/* A positive finite number key, def when absent. */
static bn_status hf_positive(const hf_obj *o, const char *key, double def, const char *cls,
                             double *out) {
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v == NULL) {
        char text[32];
        snprintf(text, sizeof text, "%g", def);
        hf_log_default(o, key, cls, text);
        *out = def;
        return BN_OK;
    }
    return hf_positive_value(o, key, v, out);
}

static bn_status hf_bool(const hf_obj *o, const char *key, bool def, const char *cls, bool *out) {
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v == NULL) {
        hf_log_default(o, key, cls, def ? "true" : "false");
        *out = def;
        return BN_OK;
    }
    if (!cJSON_IsBool(v))
        return hf_type_error(o, key, v, "true or false");
    *out = cJSON_IsTrue(v);
    return BN_OK;
}

/* v's text (owned by the JSON tree). */
static bn_status hf_str(const hf_obj *o, const char *key, const cJSON *v, const char **out) {
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return hf_type_error(o, key, v, "a string");
    *out = v->valuestring;
    return BN_OK;
}

/* A string key's text, def when absent. */
static bn_status hf_str_or(const hf_obj *o, const char *key, const char *def, const char *cls,
                           const char **out) {
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v == NULL) {
        hf_log_default(o, key, cls, def);
        *out = def;
        return BN_OK;
    }
    return hf_str(o, key, v, out);
}

static bn_status hf_copy(const hf_obj *o, const char *key, const char *s, char *dst, size_t cap) {
    size_t n = strlen(s);
    if (n >= cap)
        return BN_ERROR(BN_ERR_RANGE, "%s: %s%s is %zu characters long, at most %zu fit", o->file,
                        o->prefix, key, n, cap - 1);
    memcpy(dst, s, n + 1);
    return BN_OK;
}

/* ---- token ids ---------------------------------------------------------------------------------
 */

/* Append v's id to ids unless it is there already (config first, then generation config). */
static bn_status hf_add_id(const hf_obj *o, const char *key, const cJSON *v, int64_t *ids, int *n) {
    int64_t id = 0;
    BN_TRY(hf_int(o, key, v, &id));
    if (id < 0 || id > HF_MAX_VALUE)
        return BN_ERROR(BN_ERR_RANGE, "%s: %s%s is %lld, want a token id 0..%d", o->file, o->prefix,
                        key, (long long)id, HF_MAX_VALUE);
    for (int i = 0; i < *n; i++)
        if (ids[i] == id)
            return BN_OK;
    if (*n == BN_HF_MAX_IDS)
        return BN_ERROR(BN_ERR_RANGE, "%s: %s%s: more than %d distinct token ids", o->file,
                        o->prefix, key, BN_HF_MAX_IDS);
    ids[(*n)++] = id;
    return BN_OK;
}

/* bos/eos: an integer, null (none) or a list of integers. */
static bn_status hf_ids(const hf_obj *o, const char *key, const cJSON *v, int64_t *ids, int *n) {
    if (cJSON_IsNull(v))
        return BN_OK;
    if (cJSON_IsNumber(v))
        return hf_add_id(o, key, v, ids, n);
    if (!cJSON_IsArray(v))
        return hf_type_error(o, key, v, "an integer, a list of integers or null");
    int i = 0;
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        char elem[64];
        snprintf(elem, sizeof elem, "%s[%d]", key, i++);
        BN_TRY(hf_add_id(o, elem, e, ids, n));
    }
    return BN_OK;
}

static bn_status hf_token_key(const hf_obj *o, const char *key, int64_t def, const char *cls,
                              int64_t *ids, int *n) {
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v != NULL)
        return hf_ids(o, key, v, ids, n);
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)def);
    hf_log_default(o, key, cls, text);
    ids[0] = def;
    *n = 1;
    return BN_OK;
}

/* pad_token_id: absent, null and -1 (older LLaMA conversions write -1) all mean none. */
static bn_status hf_pad_value(const hf_obj *o, const cJSON *v, int64_t *pad) {
    if (cJSON_IsNull(v)) {
        *pad = -1;
        return BN_OK;
    }
    BN_TRY(hf_int(o, "pad_token_id", v, pad));
    if (*pad < -1 || *pad > HF_MAX_VALUE)
        return BN_ERROR(BN_ERR_RANGE, "%s: %spad_token_id is %lld, want a token id, -1 or null",
                        o->file, o->prefix, (long long)*pad);
    return BN_OK;
}

static bn_status hf_tokens(const hf_obj *o, const hf_defaults *d, bn_hf_config *c) {
    BN_TRY(hf_token_key(o, "bos_token_id", d->bos, d->cls, c->bos_ids, &c->n_bos));
    BN_TRY(hf_token_key(o, "eos_token_id", d->eos, d->cls, c->eos_ids, &c->n_eos));
    const cJSON *v;
    BN_TRY(hf_find(o, "pad_token_id", &v));
    c->pad_id = -1;
    if (v == NULL) {
        hf_log_default(o, "pad_token_id", d->cls, "none");
        return BN_OK;
    }
    return hf_pad_value(o, v, &c->pad_id);
}

/* ---- identity: architectures, model_type, quantization_config, family -------------------------
 */

static bn_status hf_architecture(const hf_obj *o, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(o, "architectures", &v));
    if (v == NULL || cJSON_IsNull(v))
        return BN_OK;
    if (!cJSON_IsArray(v))
        return hf_type_error(o, "architectures", v, "a list of strings");
    int i = 0;
    for (const cJSON *e = v->child; e != NULL; e = e->next, i++) {
        char elem[32];
        snprintf(elem, sizeof elem, "architectures[%d]", i);
        const char *s = NULL;
        BN_TRY(hf_str(o, elem, e, &s));
        if (i == 0)
            BN_TRY(hf_copy(o, elem, s, c->architecture, sizeof c->architecture));
    }
    return BN_OK;
}

static bn_status hf_modules_not_convert(const hf_obj *q, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(q, "modules_to_not_convert", &v));
    if (v == NULL || cJSON_IsNull(v))
        return BN_OK;
    if (!cJSON_IsArray(v))
        return hf_type_error(q, "modules_to_not_convert", v, "a list of strings");
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        char elem[48];
        snprintf(elem, sizeof elem, "modules_to_not_convert[%d]", c->n_modules_not_convert);
        if (c->n_modules_not_convert == BN_HF_MAX_NOT_CONVERT)
            return BN_ERROR(BN_ERR_RANGE, "%s: %s%s: more than %d entries", q->file, q->prefix,
                            elem, BN_HF_MAX_NOT_CONVERT);
        const char *s = NULL;
        BN_TRY(hf_str(q, elem, e, &s));
        BN_TRY(hf_copy(q, elem, s, c->modules_not_convert[c->n_modules_not_convert],
                       sizeof c->modules_not_convert[0]));
        c->n_modules_not_convert++;
    }
    return BN_OK;
}

/* linear_class and quantization_mode, with BitNetQuantConfig's defaults (bitlinear, offline). */
static bn_status hf_bitnet_linear(const hf_obj *q, bn_hf_config *c) {
    const char *cls = "BitNetQuantConfig";
    const char *s = NULL;
    BN_TRY(hf_str_or(q, "linear_class", "bitlinear", cls, &s));
    if (strcmp(s, "bitlinear") == 0)
        c->linear_class = BN_HF_LINEAR_BITLINEAR;
    else if (strcmp(s, "autobitlinear") == 0)
        c->linear_class = BN_HF_LINEAR_AUTOBITLINEAR;
    else
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: quantization_config.linear_class '%s' is not supported (want "
                        "bitlinear or autobitlinear)",
                        q->file, s);
    BN_TRY(hf_str_or(q, "quantization_mode", "offline", cls, &s));
    if (strcmp(s, "offline") == 0)
        c->quant_mode = BN_HF_QUANT_OFFLINE;
    else if (strcmp(s, "online") == 0)
        c->quant_mode = BN_HF_QUANT_ONLINE;
    else
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: quantization_config.quantization_mode '%s' is not supported (want "
                        "offline or online)",
                        q->file, s);
    return BN_OK;
}

/* quantization_config; absent or null leaves linear_class/quant_mode NONE (latent weights). */
static bn_status hf_quantization(const hf_obj *o, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(o, "quantization_config", &v));
    if (v == NULL || cJSON_IsNull(v))
        return BN_OK;
    if (!cJSON_IsObject(v))
        return hf_type_error(o, "quantization_config", v, "an object");
    hf_obj q = {.json = v, .file = o->file, .prefix = "quantization_config."};
    const cJSON *m;
    BN_TRY(hf_find(&q, "quant_method", &m));
    if (m == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: quantization_config has no quant_method", o->file);
    const char *method = NULL;
    BN_TRY(hf_str(&q, "quant_method", m, &method));
    if (strcmp(method, "bitnet") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: quantization_config.quant_method '%s' is not supported (only "
                        "\"bitnet\" is ternary)",
                        o->file, method);
    c->quantized = true;
    BN_TRY(hf_bitnet_linear(&q, c));
    BN_TRY(hf_bool(&q, "use_rms_norm", false, "BitNetQuantConfig", &c->use_rms_norm));
    return hf_modules_not_convert(&q, c);
}

/* model_type, or when absent the one that architectures[0] implies. */
static bn_status hf_model_type(const hf_obj *o, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(o, "model_type", &v));
    if (v != NULL) {
        const char *s = NULL;
        BN_TRY(hf_str(o, "model_type", v, &s));
        return hf_copy(o, "model_type", s, c->model_type, sizeof c->model_type);
    }
    /* 1bitLLM's BitnetForCausalLM files say "llama" when they say anything. */
    const char *implied = strcmp(c->architecture, "BitNetForCausalLM") == 0   ? "bitnet"
                          : strcmp(c->architecture, "LlamaForCausalLM") == 0  ? "llama"
                          : strcmp(c->architecture, "BitnetForCausalLM") == 0 ? "llama"
                                                                              : NULL;
    if (implied == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND,
                        "%s: no model_type, and architectures[0] '%s' does not imply one", o->file,
                        c->architecture);
    bn_log(BN_LOG_INFO, "%s: no model_type, using '%s' from architectures[0] %s", o->file, implied,
           c->architecture);
    snprintf(c->model_type, sizeof c->model_type, "%s", implied);
    return BN_OK;
}

/* architectures[0], when given, must be the causal-LM class of the family: another class (a
 * sequence classifier, a different architecture under the same model_type) would put another
 * graph or head on the same weights. */
static bn_status hf_check_architecture(const hf_obj *o, const bn_hf_config *c) {
    static const char *const want[] = {[BN_HF_BITNET] = "BitNetForCausalLM",
                                       [BN_HF_LLAMA_BITNET] = "LlamaForCausalLM",
                                       [BN_HF_1BITLLM] = "BitnetForCausalLM"};
    if (c->architecture[0] == '\0' || strcmp(c->architecture, want[c->family]) == 0)
        return BN_OK;
    return BN_ERROR(BN_ERR_UNSUPPORTED,
                    "%s: architectures[0] '%s' is not supported with model_type '%s' (want %s; "
                    "the ternary classes are BitNetForCausalLM, LlamaForCausalLM with "
                    "quant_method bitnet, and 1bitLLM's BitnetForCausalLM)",
                    o->file, c->architecture, c->model_type, want[c->family]);
}

static bn_status hf_family_of(const hf_obj *o, bn_hf_config *c) {
    /* 1bitLLM's class is recognised by name alone: its config.json says model_type "llama". */
    if (strcmp(c->architecture, "BitnetForCausalLM") == 0) {
        c->family = BN_HF_1BITLLM;
        return BN_OK;
    }
    if (strcmp(c->model_type, "bitnet") == 0) {
        c->family = BN_HF_BITNET;
        if (!c->quantized)
            bn_log(BN_LOG_WARN,
                   "%s: model_type bitnet without quantization_config: transformers would run "
                   "these linears unquantized; recording linear_class none (latent weights)",
                   o->file);
        return BN_OK;
    }
    if (strcmp(c->model_type, "llama") == 0) {
        if (!c->quantized)
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "%s: not a ternary checkpoint: model_type llama without "
                            "quantization_config.quant_method \"bitnet\"",
                            o->file);
        c->family = BN_HF_LLAMA_BITNET;
        return BN_OK;
    }
    return BN_ERROR(BN_ERR_UNSUPPORTED,
                    "%s: model_type '%s' is not supported (want bitnet, llama with "
                    "quant_method bitnet, or architectures BitnetForCausalLM)",
                    o->file, c->model_type);
}

static bn_status hf_family(const hf_obj *o, bn_hf_config *c) {
    BN_TRY(hf_family_of(o, c));
    return hf_check_architecture(o, c);
}

/* ---- shapes, activation, RoPE, the rest ---------------------------------------------------------
 */

/* num_key_value_heads: absent takes the class default, null means num_attention_heads. */
static bn_status hf_kv_heads(const hf_obj *o, const hf_defaults *d, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(o, "num_key_value_heads", &v));
    if (v != NULL && !cJSON_IsNull(v)) {
        BN_TRY(hf_int(o, "num_key_value_heads", v, &c->num_kv_heads));
        return hf_check_size(o, "num_key_value_heads", c->num_kv_heads);
    }
    if (v == NULL && d->kv_heads > 0)
        return hf_size(o, "num_key_value_heads", d->kv_heads, d->cls, &c->num_kv_heads);
    if (v == NULL)
        hf_log_default(o, "num_key_value_heads", d->cls, "num_attention_heads");
    c->num_kv_heads = c->num_heads;
    return BN_OK;
}

/* head_dim: the key when present, else hidden_size / num_attention_heads, which must divide. */
static bn_status hf_head_dim(const hf_obj *o, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(o, "head_dim", &v));
    if (v != NULL && !cJSON_IsNull(v)) {
        BN_TRY(hf_int(o, "head_dim", v, &c->head_dim));
        return hf_check_size(o, "head_dim", c->head_dim);
    }
    if (c->hidden_size % c->num_heads != 0)
        return BN_ERROR(BN_ERR_RANGE,
                        "%s: num_attention_heads %lld does not divide hidden_size %lld (and "
                        "there is no head_dim)",
                        o->file, (long long)c->num_heads, (long long)c->hidden_size);
    c->head_dim = c->hidden_size / c->num_heads;
    return BN_OK;
}

static bn_status hf_shape(const hf_obj *o, const hf_defaults *d, bn_hf_config *c) {
    BN_TRY(hf_size(o, "vocab_size", d->vocab, d->cls, &c->vocab_size));
    BN_TRY(hf_size(o, "hidden_size", d->hidden, d->cls, &c->hidden_size));
    BN_TRY(hf_size(o, "intermediate_size", d->intermediate, d->cls, &c->intermediate_size));
    BN_TRY(hf_size(o, "num_hidden_layers", d->layers, d->cls, &c->num_layers));
    BN_TRY(hf_size(o, "num_attention_heads", d->heads, d->cls, &c->num_heads));
    BN_TRY(hf_size(o, "max_position_embeddings", d->max_pos, d->cls, &c->max_position_embeddings));
    BN_TRY(hf_kv_heads(o, d, c));
    /* Checked for a defaulted count too: BitNetConfig's 5 does not divide, say, 16 heads. */
    if (c->num_heads % c->num_kv_heads != 0)
        return BN_ERROR(BN_ERR_RANGE,
                        "%s: num_key_value_heads %lld does not divide num_attention_heads %lld",
                        o->file, (long long)c->num_kv_heads, (long long)c->num_heads);
    return hf_head_dim(o, c);
}

/* hidden_act (Gemma-style configs call it hidden_activation). */
static bn_status hf_activation(const hf_obj *o, const hf_defaults *d, bn_hf_config *c) {
    const char *key = "hidden_act";
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v == NULL) {
        key = "hidden_activation";
        BN_TRY(hf_find(o, key, &v));
    }
    if (v == NULL) {
        hf_log_default(o, "hidden_act", d->cls, bn_hf_act_name(d->act));
        c->hidden_act = d->act;
        return BN_OK;
    }
    const char *s = NULL;
    BN_TRY(hf_str(o, key, v, &s));
    if (strcmp(s, "relu2") == 0)
        c->hidden_act = BN_HF_ACT_RELU2;
    else if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0)
        c->hidden_act = BN_HF_ACT_SILU;
    else
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: %s '%s' is not supported (want relu2, silu or swish)", o->file, key,
                        s);
    return BN_OK;
}

/* A rope_scaling-style object: rope_type (older files: type) and factor, recorded as given. */
static bn_status hf_rope_scaling(const hf_obj *r, bn_hf_config *c) {
    const cJSON *v;
    const char *key = "rope_type";
    BN_TRY(hf_find(r, key, &v));
    if (v == NULL) {
        key = "type";
        BN_TRY(hf_find(r, key, &v));
    }
    if (v == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: %srope_type is missing", r->file, r->prefix);
    const char *type = NULL;
    BN_TRY(hf_str(r, key, v, &type));
    static const char *const known[] = {"default", "linear", "llama3", "dynamic", "yarn"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok = ok || strcmp(type, known[i]) == 0;
    if (!ok)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: %s%s '%s' is not supported (want default, linear, llama3, dynamic "
                        "or yarn)",
                        r->file, r->prefix, key, type);
    BN_TRY(hf_copy(r, key, type, c->rope_scaling_type, sizeof c->rope_scaling_type));
    BN_TRY(hf_find(r, "factor", &v));
    c->rope_scaling_factor = 1.0;
    if (v != NULL)
        return hf_positive_value(r, "factor", v, &c->rope_scaling_factor);
    if (strcmp(type, "default") != 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: %sfactor is missing for rope_type '%s'", r->file,
                        r->prefix, type);
    return BN_OK;
}

/* rope_theta and rope_scaling; transformers 5 moves both into one rope_parameters object. */
static bn_status hf_rope(const hf_obj *o, const hf_defaults *d, bn_hf_config *c) {
    const cJSON *scaling, *params, *theta;
    BN_TRY(hf_find(o, "rope_scaling", &scaling));
    BN_TRY(hf_find(o, "rope_parameters", &params));
    BN_TRY(hf_find(o, "rope_theta", &theta));
    if (params != NULL && !cJSON_IsNull(params) && !cJSON_IsObject(params))
        return hf_type_error(o, "rope_parameters", params, "an object or null");
    if (scaling != NULL && !cJSON_IsNull(scaling) && !cJSON_IsObject(scaling))
        return hf_type_error(o, "rope_scaling", scaling, "an object or null");
    hf_obj p = {.json = params, .file = o->file, .prefix = "rope_parameters."};
    bool have_params = params != NULL && cJSON_IsObject(params);
    if (theta == NULL && have_params)
        BN_TRY(hf_positive(&p, "rope_theta", d->theta, d->cls, &c->rope_theta));
    else
        BN_TRY(hf_positive(o, "rope_theta", d->theta, d->cls, &c->rope_theta));
    c->rope_scaling_type[0] = '\0';
    c->rope_scaling_factor = 1.0;
    if (scaling != NULL && cJSON_IsObject(scaling)) {
        hf_obj s = {.json = scaling, .file = o->file, .prefix = "rope_scaling."};
        return hf_rope_scaling(&s, c);
    }
    return have_params ? hf_rope_scaling(&p, c) : BN_OK;
}

/* A boolean key that only some config classes have: false when absent, without a log line. */
static bn_status hf_flag(const hf_obj *o, const char *key, bool *out) {
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    *out = false;
    if (v == NULL || cJSON_IsNull(v))
        return BN_OK;
    if (!cJSON_IsBool(v))
        return hf_type_error(o, key, v, "true or false");
    *out = cJSON_IsTrue(v);
    return BN_OK;
}

/* Biases, and 1bitLLM's input_bits (its activation_quant takes the int range from it). */
static bn_status hf_extras(const hf_obj *o, bn_hf_config *c) {
    BN_TRY(hf_flag(o, "attention_bias", &c->attention_bias));
    BN_TRY(hf_flag(o, "mlp_bias", &c->mlp_bias));
    const cJSON *v;
    BN_TRY(hf_find(o, "input_bits", &v));
    c->input_bits = 8;
    if (v == NULL)
        return BN_OK;
    BN_TRY(hf_int(o, "input_bits", v, &c->input_bits));
    return hf_check_size(o, "input_bits", c->input_bits);
}

/* torch_dtype (newer transformers write it as dtype); "" when absent or null. */
static bn_status hf_dtype(const hf_obj *o, bn_hf_config *c) {
    const char *key = "torch_dtype";
    const cJSON *v;
    BN_TRY(hf_find(o, key, &v));
    if (v == NULL) {
        key = "dtype";
        BN_TRY(hf_find(o, key, &v));
    }
    c->torch_dtype[0] = '\0';
    if (v == NULL || cJSON_IsNull(v))
        return BN_OK;
    const char *s = NULL;
    BN_TRY(hf_str(o, key, v, &s));
    return hf_copy(o, key, s, c->torch_dtype, sizeof c->torch_dtype);
}

static bn_status hf_config_object(const hf_obj *o, bn_hf_config *c) {
    BN_TRY(hf_architecture(o, c));
    BN_TRY(hf_model_type(o, c));
    BN_TRY(hf_quantization(o, c));
    BN_TRY(hf_family(o, c));
    const hf_defaults *d = &k_defaults[c->family];
    c->has_sub_norms = d->sub_norms;
    BN_TRY(hf_shape(o, d, c));
    BN_TRY(hf_activation(o, d, c));
    BN_TRY(hf_rope(o, d, c));
    BN_TRY(hf_positive(o, "rms_norm_eps", d->eps, d->cls, &c->rms_norm_eps));
    BN_TRY(hf_bool(o, "tie_word_embeddings", d->tie, d->cls, &c->tie_word_embeddings));
    BN_TRY(hf_tokens(o, d, c));
    BN_TRY(hf_extras(o, c));
    return hf_dtype(o, c);
}

/* generation_config.json: its bos/eos ids join the config's (deduplicated, config's first);
 * its pad_token_id fills in only when the config has none. */
static bn_status hf_generation_object(const hf_obj *g, bn_hf_config *c) {
    const cJSON *v;
    BN_TRY(hf_find(g, "bos_token_id", &v));
    if (v != NULL)
        BN_TRY(hf_ids(g, "bos_token_id", v, c->bos_ids, &c->n_bos));
    BN_TRY(hf_find(g, "eos_token_id", &v));
    if (v != NULL)
        BN_TRY(hf_ids(g, "eos_token_id", v, c->eos_ids, &c->n_eos));
    BN_TRY(hf_find(g, "pad_token_id", &v));
    if (v != NULL && c->pad_id < 0)
        BN_TRY(hf_pad_value(g, v, &c->pad_id));
    return BN_OK;
}

/* Token ids past the vocabulary would index outside the embedding; real configs have them
 * (special tokens added later), so this warns and leaves the decision to the model loader. */
static void hf_warn_ids(const char *file, const bn_hf_config *c) {
    for (int i = 0; i < c->n_bos; i++)
        if (c->bos_ids[i] >= c->vocab_size)
            bn_log(BN_LOG_WARN, "%s: bos token id %lld is outside vocab_size %lld", file,
                   (long long)c->bos_ids[i], (long long)c->vocab_size);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] >= c->vocab_size)
            bn_log(BN_LOG_WARN, "%s: eos token id %lld is outside vocab_size %lld", file,
                   (long long)c->eos_ids[i], (long long)c->vocab_size);
    if (c->pad_id >= c->vocab_size)
        bn_log(BN_LOG_WARN, "%s: pad token id %lld is outside vocab_size %lld", file,
               (long long)c->pad_id, (long long)c->vocab_size);
}

/* ---- JSON text and files -----------------------------------------------------------------------
 */

static void hf_line_col(const char *text, size_t pos, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Parse one whole JSON object from text[0..len). The caller deletes *out. */
static bn_status hf_parse_json(const char *text, size_t len, const char *file, cJSON **out) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    size_t pos = (end != NULL && end >= text && end <= text + len) ? (size_t)(end - text) : len;
    int line, col;
    hf_line_col(text, pos, &line, &col);
    if (root == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: not valid JSON (line %d, column %d)", file, line, col);
    size_t rest = pos;
    while (rest < len && text[rest] != '\0' && strchr(" \t\r\n", text[rest]) != NULL)
        rest++;
    if (rest < len) {
        cJSON_Delete(root);
        hf_line_col(text, rest, &line, &col);
        return BN_ERROR(BN_ERR_FORMAT, "%s: text after the JSON value (line %d, column %d)", file,
                        line, col);
    }
    if (!cJSON_IsObject(root)) {
        bn_status st = BN_ERROR(BN_ERR_FORMAT, "%s: the top level is %s, want an object", file,
                                hf_type_name(root));
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return BN_OK;
}

static bn_status hf_parse_into(bn_hf_config *c, const char *config_json, size_t config_len,
                               const char *config_file, const char *generation_json,
                               size_t generation_len, const char *generation_file) {
    cJSON *root;
    BN_TRY(hf_parse_json(config_json, config_len, config_file, &root));
    hf_obj o = {.json = root, .file = config_file, .prefix = ""};
    bn_status st = hf_config_object(&o, c);
    cJSON_Delete(root);
    if (st != BN_OK || generation_json == NULL)
        return st;
    BN_TRY(hf_parse_json(generation_json, generation_len, generation_file, &root));
    hf_obj g = {.json = root, .file = generation_file, .prefix = ""};
    st = hf_generation_object(&g, c);
    cJSON_Delete(root);
    return st;
}

bn_status bn_hf_config_parse(bn_hf_config *cfg, const char *config_json, size_t config_len,
                             const char *generation_json, size_t generation_len, const char *name) {
    if (cfg == NULL || config_json == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_hf_config_parse: cfg and config_json are required");
    char config_file[1100], generation_file[1100];
    bool bare = name == NULL || name[0] == '\0';
    snprintf(config_file, sizeof config_file, "%.1000s%sconfig.json", bare ? "" : name,
             bare ? "" : "/");
    snprintf(generation_file, sizeof generation_file, "%.1000s%sgeneration_config.json",
             bare ? "" : name, bare ? "" : "/");
    /* Built aside so that a failed parse leaves *cfg as it was. */
    bn_hf_config c;
    memset(&c, 0, sizeof c);
    BN_TRY(hf_parse_into(&c, config_json, config_len, config_file, generation_json, generation_len,
                         generation_file));
    hf_warn_ids(config_file, &c);
    *cfg = c;
    return BN_OK;
}

/* Open path for reading and check it is a regular file of at most max_bytes. A missing
 * optional file gives BN_OK with *fd -1. */
static bn_status hf_open(const char *path, bool required, size_t max_bytes, int *fd, size_t *size) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0 && errno == ENOENT)
        return required ? BN_ERROR(BN_ERR_NOT_FOUND, "%s: not found", path) : BN_OK;
    if (*fd < 0)
        return BN_ERROR(BN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    bn_status status = BN_OK;
    if (fstat(*fd, &st) != 0)
        status = BN_ERROR(BN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        status = BN_ERROR(BN_ERR_IO, "%s: not a regular file", path);
    else if ((uint64_t)st.st_size > max_bytes)
        status = BN_ERROR(BN_ERR_RANGE, "%s: %lld bytes, more than the %zu allowed", path,
                          (long long)st.st_size, max_bytes);
    if (status != BN_OK) {
        close(*fd);
        *fd = -1;
        return status;
    }
    *size = (size_t)st.st_size;
    return BN_OK;
}

/* Read up to size bytes of fd into a new buffer; a file that shrank since fstat gives less. */
static bn_status hf_read_all(const char *path, int fd, size_t size, char **out, size_t *len) {
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return BN_ERROR(BN_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return BN_OK;
}

bn_status bn_hf_read_file(const char *path, bool required, size_t max_bytes, char **out,
                          size_t *len) {
    *out = NULL;
    *len = 0;
    int fd;
    size_t size = 0;
    BN_TRY(hf_open(path, required, max_bytes, &fd, &size));
    if (fd < 0)
        return BN_OK;
    bn_status st = hf_read_all(path, fd, size, out, len);
    close(fd);
    return st;
}

bn_status bn_hf_config_load(bn_hf_config *cfg, const char *dir) {
    if (cfg == NULL || dir == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_hf_config_load: cfg and dir are required");
    char config_path[4096], generation_path[4096];
    snprintf(config_path, sizeof config_path, "%s/config.json", dir);
    if (snprintf(generation_path, sizeof generation_path, "%s/generation_config.json", dir) >=
        (int)sizeof generation_path)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%.200s...: folder path too long", dir);
    char *config = NULL, *generation = NULL;
    size_t config_len = 0, generation_len = 0;
    bn_status st = bn_hf_read_file(config_path, true, HF_MAX_JSON_BYTES, &config, &config_len);
    if (st == BN_OK)
        st = bn_hf_read_file(generation_path, false, HF_MAX_JSON_BYTES, &generation,
                             &generation_len);
    if (st == BN_OK)
        st = bn_hf_config_parse(cfg, config, config_len, generation, generation_len, dir);
    free(config);
    free(generation);
    return st;
}

const char *bn_hf_family_name(bn_hf_family f) {
    switch (f) {
    case BN_HF_BITNET:
        return "bitnet";
    case BN_HF_LLAMA_BITNET:
        return "llama-bitnet";
    case BN_HF_1BITLLM:
        return "1bitllm";
    }
    return "unknown";
}

const char *bn_hf_act_name(bn_hf_act a) {
    switch (a) {
    case BN_HF_ACT_RELU2:
        return "relu2";
    case BN_HF_ACT_SILU:
        return "silu";
    }
    return "unknown";
}

const char *bn_hf_linear_class_name(bn_hf_linear_class c) {
    switch (c) {
    case BN_HF_LINEAR_NONE:
        return "none";
    case BN_HF_LINEAR_BITLINEAR:
        return "bitlinear";
    case BN_HF_LINEAR_AUTOBITLINEAR:
        return "autobitlinear";
    }
    return "unknown";
}
