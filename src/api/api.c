/*
 * api.c - the public API's model-side functions (bitnet.h): model info, the vocabulary, chat
 * templates, model files. The engine's own functions (bn_model_load, bn_context_*,
 * bn_sampler_*) are public as they are; what is here translates between the public types and
 * the internal ones.
 */
#include "bitnet.h"

#include "model/convert.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/quantize.h"
#include "text/chat.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

void bn_free(void *p) {
    free(p);
}

static bn_status null_model(const char *what) {
    return BN_ERROR(BN_ERR_INVALID_ARG, "%s: NULL model", what);
}

static const char *act_name(bn_act a) {
    return a == BN_ACT_RELU2 ? "relu2" : a == BN_ACT_SILU ? "silu" : "relu";
}

static int64_t n_params(const bn_model *m) {
    int64_t n = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const bn_gguf_tensor *t = &m->gguf->tensors[i];
        int64_t e = 1;
        for (int d = 0; d < t->n_dims; d++)
            e *= (int64_t)t->ne[d];
        if (strstr(t->name, ".scale") == NULL) /* the TQ types' gamma beside a weight */
            n += e;
    }
    return n;
}

bn_status bn_model_get_info(const bn_model *m, bn_model_info *out) {
    if (m == NULL || out == NULL)
        return m == NULL ? null_model("model info")
                         : BN_ERROR(BN_ERR_INVALID_ARG, "model info: NULL out");
    const bn_model_config *c = &m->cfg;
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(m->tok);
    const bn_gguf_tensor *q = bn_gguf_find_tensor(m->gguf, "blk.0.attn_q.weight");
    bn_chat_format f = bn_chat_detect(spec->chat_template);
    *out = (bn_model_info){
        .name = m->name,
        .arch = "bitnet",
        .linear_type = q != NULL ? bn_dtype_name(q->dtype) : "",
        .embed_type = bn_dtype_name(m->embed_type),
        .head_type = bn_dtype_name(m->head_type),
        .activation = act_name(c->act),
        .chat_format = f == BN_CHAT_UNKNOWN ? "" : bn_chat_format_name(f),
        .n_vocab = c->n_vocab,
        .n_tokens = bn_tokenizer_n_vocab(m->tok),
        .dim = c->dim,
        .n_layers = c->n_layers,
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .head_dim = c->head_dim,
        .ffn_dim = c->ffn_dim,
        .n_ctx_train = c->ctx_max,
        .rope_theta = c->rope_theta,
        .norm_eps = c->eps,
        .tied_embeddings = m->head == m->embed,
        .bos = spec->bos_id,
        .eos = spec->eos_id,
        .eot = spec->eot_id,
        .n_params = n_params(m),
        .bytes_per_token = bn_model_bytes_per_token(m),
        .weight_layout = bn_ternary_layout_name(m->layout, m->isa),
        .device = m->device == BN_DEVICE_CUDA ? "cuda" : "cpu",
    };
    return BN_OK;
}

/* ---- vocabulary ---------------------------------------------------------------------------- */

/* The size protocol of bn_tokenize and bn_chat_tokenize: *n_tokens gets the count; the ids are
 * copied when they fit in cap, else BN_ERR_RANGE ("what is N tokens, the buffer holds C"). */
static bn_status hand_over(const bn_tokens *ids, const char *what, int32_t *tokens, int32_t cap,
                           int32_t *n_tokens) {
    *n_tokens = (int32_t)ids->n;
    if (ids->n > (size_t)cap)
        return BN_ERROR(BN_ERR_RANGE, "%s is %zu tokens, the buffer holds %d", what, ids->n, cap);
    if (ids->n > 0)
        memcpy(tokens, ids->ids, ids->n * sizeof *tokens);
    return BN_OK;
}

bn_status bn_tokenize(const bn_model *m, const char *text, size_t len, unsigned flags,
                      int32_t *tokens, int32_t cap, int32_t *n_tokens) {
    if (m == NULL)
        return null_model("tokenize");
    if ((text == NULL && len > 0) || n_tokens == NULL || cap < 0 || (tokens == NULL && cap > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "tokenize: NULL text, tokens or n_tokens, or cap %d",
                        cap);
    if (flags & ~(unsigned)(BN_TOKENIZE_ADD_SPECIAL | BN_TOKENIZE_PARSE_SPECIAL))
        return BN_ERROR(BN_ERR_INVALID_ARG, "tokenize: unknown flags 0x%x", flags);
    unsigned f = ((flags & BN_TOKENIZE_ADD_SPECIAL) ? BN_TOK_ADD_SPECIAL : 0) |
                 ((flags & BN_TOKENIZE_PARSE_SPECIAL) ? BN_TOK_PARSE_SPECIAL : 0);
    bn_tokens ids = {0};
    bn_status st = bn_tokenizer_encode(m->tok, text != NULL ? text : "", len, f, &ids);
    if (st == BN_OK)
        st = hand_over(&ids, "tokenize: the text", tokens, cap, n_tokens);
    bn_tokens_free(&ids);
    return st;
}

bn_status bn_detokenize(const bn_model *m, const int32_t *tokens, int32_t n, unsigned flags,
                        char *text, size_t cap, size_t *len) {
    if (m == NULL)
        return null_model("detokenize");
    if ((tokens == NULL && n > 0) || n < 0 || len == NULL || (text == NULL && cap > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "detokenize: NULL tokens, text or len, or n %d", n);
    bn_bytes out = {0};
    bn_status st = bn_tokenizer_decode(m->tok, tokens, (size_t)n,
                                       (flags & BN_DETOKENIZE_SKIP_SPECIAL) != 0, &out);
    if (st == BN_OK) {
        *len = out.n;
        if (out.n > cap)
            st = BN_ERROR(BN_ERR_RANGE, "detokenize: the text is %zu bytes, the buffer holds %zu",
                          out.n, cap);
        else {
            if (out.n > 0)
                memcpy(text, out.data, out.n);
            if (out.n < cap)
                text[out.n] = '\0';
        }
    }
    bn_bytes_free(&out);
    return st;
}

const char *bn_token_piece(const bn_model *m, int32_t id, size_t *len) {
    size_t n = 0;
    const char *p = m != NULL ? bn_tokenizer_piece(m->tok, id, &n) : NULL;
    if (len != NULL)
        *len = n;
    return p;
}

bool bn_token_is_eog(const bn_model *m, int32_t id) {
    return m != NULL && bn_tokenizer_is_eog(m->tok, id);
}

bool bn_token_is_special(const bn_model *m, int32_t id) {
    return m != NULL && bn_tokenizer_is_special(m->tok, id);
}

/* The format: the one named, else the model's own. */
static bn_status chat_format(const bn_model *m, const char *format, bn_chat_format *f) {
    if (format != NULL)
        return bn_chat_format_from_name(format, f);
    const char *jinja = bn_tokenizer_spec_of(m->tok)->chat_template;
    if (jinja == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND, "chat: the model has no chat template: name its format "
                                          "(bitnet, llama3 or chatml)");
    if ((*f = bn_chat_detect(jinja)) == BN_CHAT_UNKNOWN)
        return BN_ERROR(BN_ERR_NOT_FOUND, "chat: the model's chat template is none of the known "
                                          "formats: name its format (bitnet, llama3 or chatml)");
    return BN_OK;
}

/* The conversation rendered into text, with where each message's content landed (spans may be
 * NULL). */
/* The copies render() made of messages with invalid UTF-8, and their array. */
static void free_sanitized(bn_chat_message *clean, const bn_chat_message *messages, size_t n) {
    for (size_t i = 0; clean != NULL && i < n; i++)
        if (clean[i].content != messages[i].content)
            free((char *)clean[i].content);
    free(clean);
}

static bn_status render(const bn_model *m, const char *format, const bn_chat_message *messages,
                        size_t n, bool add_assistant, bn_bytes *text, bn_span *spans) {
    if (m == NULL)
        return null_model("chat");
    if (messages == NULL && n > 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "chat: NULL messages");
    for (size_t i = 0; i < n; i++)
        if (messages[i].role == NULL || messages[i].content == NULL)
            return BN_ERROR(BN_ERR_INVALID_ARG, "chat: message %zu has a NULL %s", i,
                            messages[i].role == NULL ? "role" : "content");
    bn_chat_format f;
    BN_TRY(chat_format(m, format, &f));
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(m->tok);
    const char *bos = spec->bos_id >= 0 ? spec->tokens[spec->bos_id] : "";
    /* Invalid UTF-8 in a message becomes U+FFFD, as bn_tokenize treats text (a sanitized copy
     * of just the messages that need it). */
    bn_chat_message *clean = NULL;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = (const uint8_t *)messages[i].content;
        size_t len = strlen(messages[i].content);
        if (bn_utf8_is_valid(c, len))
            continue;
        if (clean == NULL && (clean = calloc(n, sizeof *clean)) != NULL)
            memcpy(clean, messages, n * sizeof *clean);
        char *copy = clean != NULL ? malloc(3 * len + 1) : NULL;
        if (copy == NULL) {
            free_sanitized(clean, messages, n);
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "chat: message %zu", i);
        }
        copy[bn_utf8_sanitize(c, len, (uint8_t *)copy)] = '\0';
        clean[i].content = copy;
    }
    bn_status st =
        bn_chat_render(f, clean != NULL ? clean : messages, n, add_assistant, bos, text, spans);
    free_sanitized(clean, messages, n);
    return st;
}

bn_status bn_chat_apply(const bn_model *m, const char *format, const bn_chat_message *messages,
                        size_t n, bool add_assistant, char **out, size_t *len) {
    if (out == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "chat: NULL out");
    *out = NULL;
    bn_bytes text = {0};
    bn_status st = render(m, format, messages, n, add_assistant, &text, NULL);
    if (st == BN_OK)
        st = bn_bytes_append(&text, "", 1); /* the NUL */
    if (st != BN_OK) {
        bn_bytes_free(&text);
        return st;
    }
    *out = text.data;
    if (len != NULL)
        *len = text.n - 1;
    return BN_OK;
}

bn_status bn_chat_tokenize(const bn_model *m, const char *format, const bn_chat_message *messages,
                           size_t n, bool add_assistant, unsigned flags, int32_t *tokens,
                           int32_t cap, int32_t *n_tokens) {
    if (n_tokens == NULL || cap < 0 || (tokens == NULL && cap > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "chat tokenize: NULL tokens or n_tokens, or cap %d",
                        cap);
    if (flags & ~(unsigned)BN_TOKENIZE_PARSE_SPECIAL)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "chat tokenize: flags 0x%x (only "
                        "BN_TOKENIZE_PARSE_SPECIAL applies)",
                        flags);
    bn_bytes text = {0};
    bn_span *spans = calloc(n + 1, sizeof *spans);
    bn_tokens ids = {0};
    bn_status st = spans != NULL ? render(m, format, messages, n, add_assistant, &text, spans)
                                 : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "chat");
    /* The template's markers are special tokens; the contents are text unless asked. */
    if (st == BN_OK)
        st = bn_tokenizer_encode_plain(m->tok, text.data ? text.data : "", text.n,
                                       BN_TOK_PARSE_SPECIAL, spans,
                                       (flags & BN_TOKENIZE_PARSE_SPECIAL) ? 0 : n, &ids);
    if (st == BN_OK)
        st = hand_over(&ids, "chat tokenize: the conversation", tokens, cap, n_tokens);
    bn_tokens_free(&ids);
    bn_bytes_free(&text);
    free(spans);
    return st;
}

/* ---- model files --------------------------------------------------------------------------- */

/* A type name, or the default when NULL. */
static bn_status type_of(const char *name, bn_dtype def, const char *what, bn_dtype *out) {
    if (name == NULL || name[0] == '\0') {
        *out = def;
        return BN_OK;
    }
    if (bn_dtype_from_name(name, out) != BN_OK)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: unknown type \"%s\"", what, name);
    return BN_OK;
}

static bn_status options_of(const bn_convert_params *p, bn_dtype type, bn_dtype embed,
                            bool keep_embed, bn_convert_options *o) {
    bn_convert_params d = {0};
    if (p == NULL)
        p = &d;
    *o = (bn_convert_options){.progress = p->progress, .progress_ctx = p->user};
    BN_TRY(type_of(p->type, type, "type", &o->type));
    BN_TRY(type_of(p->embed_type, embed, "embed_type", &o->embed_type));
    o->embed_as_source = keep_embed && (p->embed_type == NULL || p->embed_type[0] == '\0');
    o->head_as_source = p->head_type == NULL || p->head_type[0] == '\0';
    if (!o->head_as_source)
        BN_TRY(type_of(p->head_type, BN_DTYPE_F16, "head_type", &o->head_type));
    return bn_convert_check_options(o);
}

bn_status bn_convert(const char *hf_dir, const char *out_gguf, const bn_convert_params *p) {
    if (hf_dir == NULL || out_gguf == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "convert: NULL path");
    bn_convert_options o;
    BN_TRY(options_of(p, BN_DTYPE_TQ2_0, BN_DTYPE_F16, false, &o));
    return bn_convert_hf_to_gguf(hf_dir, out_gguf, &o, NULL);
}

bn_status bn_quantize(const char *in_gguf, const char *out_gguf, const bn_convert_params *p) {
    if (in_gguf == NULL || out_gguf == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "quantize: NULL path");
    if (p == NULL || p->type == NULL || p->type[0] == '\0')
        return BN_ERROR(BN_ERR_INVALID_ARG, "quantize: the linear layers' type is required "
                                            "(tq2_0, tq1_0, i2_s, f16, bf16, f32)");
    bn_convert_options o;
    BN_TRY(options_of(p, BN_DTYPE_TQ2_0, BN_DTYPE_F16, true, &o));
    return bn_quantize_gguf(in_gguf, out_gguf, &o, NULL);
}
