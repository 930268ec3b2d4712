/* info_gguf.c - fill a bn_info from a GGUF file: {arch}.* hyper-parameters, tokenizer.ggml.*,
 * and the tensor table. */
#include "info.h"

#include "io/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integer key "{arch}.suffix" or -1 when absent. Present with a bad type is an error. */
static bn_status arch_int(const bn_gguf *g, const char *suffix, int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", g->architecture, suffix);
    *out = -1;
    if (bn_gguf_find(g, key) == NULL)
        return BN_OK;
    uint64_t v;
    BN_TRY(bn_gguf_get_u64(g, key, &v));
    if (v > INT64_MAX)
        return BN_ERROR(BN_ERR_RANGE, "%s: %s = %llu is too large", g->file.path, key,
                        (unsigned long long)v);
    *out = (int64_t)v;
    return BN_OK;
}

static bn_status arch_float(const bn_gguf *g, const char *suffix, double *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", g->architecture, suffix);
    *out = 0;
    if (bn_gguf_find(g, key) == NULL)
        return BN_OK;
    float f;
    BN_TRY(bn_gguf_get_f32(g, key, &f));
    *out = f;
    return BN_OK;
}

static bn_status optional_id(const bn_gguf *g, const char *key, int64_t *out) {
    *out = -1;
    if (bn_gguf_find(g, key) == NULL)
        return BN_OK;
    uint32_t v;
    BN_TRY(bn_gguf_get_u32(g, key, &v));
    *out = v;
    return BN_OK;
}

static bn_status read_hparams(bn_info *info, const bn_gguf *g) {
    BN_TRY(arch_int(g, "embedding_length", &info->hidden_size));
    BN_TRY(arch_int(g, "feed_forward_length", &info->intermediate_size));
    BN_TRY(arch_int(g, "block_count", &info->num_layers));
    BN_TRY(arch_int(g, "attention.head_count", &info->num_heads));
    BN_TRY(arch_int(g, "attention.head_count_kv", &info->num_kv_heads));
    BN_TRY(arch_int(g, "rope.dimension_count", &info->head_dim));
    BN_TRY(arch_int(g, "vocab_size", &info->vocab_size));
    BN_TRY(arch_int(g, "context_length", &info->context_length));
    BN_TRY(arch_float(g, "rope.freq_base", &info->rope_theta));
    BN_TRY(arch_float(g, "attention.layer_norm_rms_epsilon", &info->rms_norm_eps));
    if (info->num_kv_heads < 0)
        info->num_kv_heads = info->num_heads;
    if (info->head_dim < 0 && info->num_heads > 0 && info->hidden_size > 0)
        info->head_dim = info->hidden_size / info->num_heads;

    char key[160];
    snprintf(key, sizeof key, "%s.hidden_activation", g->architecture);
    const char *act = NULL;
    if (bn_gguf_find(g, key) != NULL) {
        BN_TRY(bn_gguf_get_str(g, key, &act));
        snprintf(info->hidden_act, sizeof info->hidden_act, "%s", act);
    } else if (strcmp(g->architecture, "bitnet-b1.58") == 0 ||
               strcmp(g->architecture, "bitnet-25") == 0) {
        snprintf(info->hidden_act, sizeof info->hidden_act, "relu2");
        bn_info_note(info, "no %s: bitnet.cpp's %s graph uses relu2", key, g->architecture);
    } else {
        /* llama.cpp's bitnet graph defaults to SiLU when the key is absent (facts §3.3) */
        snprintf(info->hidden_act, sizeof info->hidden_act, "silu");
        bn_info_note(info, "no %s: defaulting to silu as llama.cpp does", key);
    }
    const char *name = NULL;
    if (bn_gguf_find(g, "general.name") != NULL &&
        bn_gguf_get_str(g, "general.name", &name) == BN_OK)
        snprintf(info->name, sizeof info->name, "%s", name);
    return BN_OK;
}

static bn_status read_tokenizer(bn_info *info, const bn_gguf *g) {
    info->tok_vocab = -1;
    if (bn_gguf_find(g, "tokenizer.ggml.model") == NULL)
        return BN_OK;
    const char *model;
    BN_TRY(bn_gguf_get_str(g, "tokenizer.ggml.model", &model));
    snprintf(info->tok_model, sizeof info->tok_model, "%s", model);
    const bn_gguf_array *tokens;
    BN_TRY(bn_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens));
    if (tokens->type != BN_GGUF_STRING)
        return BN_ERROR(BN_ERR_FORMAT, "%s: tokenizer.ggml.tokens is an array of %s, want strings",
                        g->file.path, bn_gguf_type_name(tokens->type));
    info->tok_vocab = (int64_t)tokens->count;
    if (bn_gguf_find(g, "tokenizer.ggml.pre") != NULL) {
        const char *pre;
        BN_TRY(bn_gguf_get_str(g, "tokenizer.ggml.pre", &pre));
        snprintf(info->tok_pre, sizeof info->tok_pre, "%s", pre);
    } else if (strcmp(model, "gpt2") == 0) {
        /* bitnet.cpp's converters omit it; a 128256-token BPE is LLaMA-3's (facts §2.2, Trap 6) */
        bool llama3 = tokens->count == 128256;
        snprintf(info->tok_pre, sizeof info->tok_pre, "%s", llama3 ? "llama-bpe" : "default");
        bn_info_note(info, "no tokenizer.ggml.pre: %s",
                     llama3 ? "LLaMA-3-shaped vocabulary, "
                              "using the llama-bpe rules"
                            : "using the GPT-2 default rules");
    }
    int64_t eos;
    BN_TRY(optional_id(g, "tokenizer.ggml.bos_token_id", &info->bos_id));
    BN_TRY(optional_id(g, "tokenizer.ggml.eos_token_id", &eos));
    BN_TRY(optional_id(g, "tokenizer.ggml.eot_token_id", &info->eot_id));
    BN_TRY(optional_id(g, "tokenizer.ggml.padding_token_id", &info->pad_id));
    if (eos >= 0)
        info->eos_ids[info->n_eos++] = eos;
    return BN_OK;
}

static bn_status read_tensors(bn_info *info, const bn_gguf *g) {
    info->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *info->tensors);
    if (info->tensors == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "info: %llu tensors",
                        (unsigned long long)g->n_tensors);
    info->n_tensors = (int64_t)g->n_tensors;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        bn_info_tensor *o = &info->tensors[i];
        snprintf(o->name, sizeof o->name, "%s", t->name);
        snprintf(o->dtype, sizeof o->dtype, "%s", bn_dtype_name(t->dtype));
        o->n_dims = t->n_dims;
        o->params = 1;
        for (int d = 0; d < t->n_dims; d++) {
            o->shape[d] = (int64_t)t->ne[t->n_dims - 1 - d]; /* to outermost first */
            o->params *= t->ne[d];
        }
        o->bytes = t->size;
        o->is_linear = bn_info_is_linear_name(t->name);
    }
    return BN_OK;
}

bn_status bn_info_from_gguf(bn_info *info, const char *path) {
    bn_gguf *g = NULL;
    BN_TRY(bn_gguf_open(&g, path));
    snprintf(info->format, sizeof info->format, "gguf");
    snprintf(info->architecture, sizeof info->architecture, "%s", g->architecture);
    if (g->type_note[0])
        bn_info_note(info, "%s", g->type_note);
    bn_status st = read_hparams(info, g);
    if (st == BN_OK)
        st = read_tokenizer(info, g);
    if (st == BN_OK)
        st = read_tensors(info, g);
    if (st == BN_OK) {
        /* llama.cpp ties the head to token_embd when there is no output tensor */
        info->tie_word_embeddings = bn_gguf_find_tensor(g, "output.weight") == NULL;
        for (int64_t i = 0; i < info->n_tensors; i++)
            if (strcmp(info->tensors[i].dtype, "tq1_0") == 0 ||
                strcmp(info->tensors[i].dtype, "tq2_0") == 0 ||
                strcmp(info->tensors[i].dtype, "i2_s") == 0) {
                snprintf(info->quantization, sizeof info->quantization, "ternary (%s)",
                         info->tensors[i].dtype);
                break;
            }
    }
    bn_gguf_close(g);
    return st;
}
