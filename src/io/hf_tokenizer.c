/*
 * hf_tokenizer.c - Hugging Face tokenizer.json (+ tokenizer_config.json) -> bn_tokenizer_spec.
 *
 * tokenizer.json describes a pipeline: normalizer -> pre_tokenizer -> model -> post_processor,
 * and a decoder. We read the pieces BPE tokenizers of LLaMA-2/-3 and GPT-2 families use and
 * refuse, by name, any other piece: a tokenizer that silently skipped a normalizer would give
 * wrong ids with no sign of it.
 */
#include "io/hf_config.h"
#include "io/tokenizer_spec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS (1 << 24) /* far above any real vocabulary (LLaMA-3: 128256) */
#define MAX_JSON   ((size_t)512 << 20)

static const char METASPACE[] = "\xe2\x96\x81"; /* U+2581 "▁" */

typedef struct hf_reader {
    bn_tokenizer_spec *s;
    const char *path; /* for messages */
} hf_reader;

static const cJSON *item(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str_item(const cJSON *o, const char *key) {
    return cJSON_GetStringValue(item(o, key));
}

static bool is_id(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < MAX_TOKENS &&
           v->valuedouble == floor(v->valuedouble);
}

/* ---- vocabulary ------------------------------------------------------------------------- */

static bn_status count_tokens(hf_reader *r, const cJSON *vocab, const cJSON *added, int32_t *n) {
    int64_t top = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!is_id(it))
            return BN_ERROR(BN_ERR_FORMAT, "%s: model.vocab['%s'] is not a token id", r->path,
                            it->string);
        if ((int64_t)it->valuedouble + 1 > top)
            top = (int64_t)it->valuedouble + 1;
    }
    cJSON_ArrayForEach(it, added) {
        if (!is_id(item(it, "id")) || !cJSON_IsString(item(it, "content")))
            return BN_ERROR(BN_ERR_FORMAT, "%s: an added_tokens entry lacks a valid id or content",
                            r->path);
        if ((int64_t)item(it, "id")->valuedouble + 1 > top)
            top = (int64_t)item(it, "id")->valuedouble + 1;
    }
    if (top == 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: model.vocab is empty", r->path);
    int64_t entries = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
    if (top > 2 * entries + 1024) /* each missing id becomes a [PAD] token: bound the holes */
        return BN_ERROR(BN_ERR_FORMAT, "%s: model.vocab has %lld entries but ids up to %lld",
                        r->path, (long long)entries, (long long)top - 1);
    *n = (int32_t)top;
    return BN_OK;
}

static bn_status set_token(hf_reader *r, int32_t id, const char *text, int32_t type) {
    bn_tokenizer_spec *s = r->s;
    if ((s->tokens[id] = strdup(text)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: token strings", r->path);
    s->types[id] = type;
    return BN_OK;
}

static bn_status read_added(hf_reader *r, const cJSON *added) {
    bn_tokenizer_spec *s = r->s;
    int n = cJSON_GetArraySize(added);
    if (n > 0 && (s->added = calloc((size_t)n, sizeof *s->added)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: added tokens", r->path);
    const cJSON *it;
    cJSON_ArrayForEach(it, added) {
        int32_t id = (int32_t)item(it, "id")->valuedouble;
        const char *content = str_item(it, "content");
        bool special = cJSON_IsTrue(item(it, "special"));
        if (content[0] == '\0')
            return BN_ERROR(BN_ERR_FORMAT, "%s: added token %d has empty content", r->path, id);
        if (s->tokens[id] != NULL && strcmp(s->tokens[id], content) != 0 &&
            s->types[id] == BN_TOKEN_NORMAL)
            return BN_ERROR(BN_ERR_FORMAT, "%s: added token %d '%s' collides with vocab '%s'",
                            r->path, id, content, s->tokens[id]);
        for (int32_t i = 0; i < s->n_added; i++)
            if (s->added[i].id == id)
                return BN_ERROR(BN_ERR_FORMAT, "%s: added token id %d appears twice", r->path, id);
        free(s->tokens[id]);
        BN_TRY(set_token(r, id, content, special ? BN_TOKEN_CONTROL : BN_TOKEN_USER_DEFINED));
        s->added[s->n_added++] = (bn_tok_added){
            .id = id,
            .special = special,
            .lstrip = cJSON_IsTrue(item(it, "lstrip")),
            .rstrip = cJSON_IsTrue(item(it, "rstrip")),
            .single_word = cJSON_IsTrue(item(it, "single_word")),
        };
    }
    return BN_OK;
}

static bn_status read_vocab(hf_reader *r, const cJSON *vocab, const cJSON *added) {
    bn_tokenizer_spec *s = r->s;
    int32_t n = 0;
    BN_TRY(count_tokens(r, vocab, added, &n));
    BN_TRY(bn_tokenizer_spec_alloc(s, n, r->path));
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        if (s->tokens[id] != NULL)
            return BN_ERROR(BN_ERR_FORMAT, "%s: token id %d is used by both '%s' and '%s'", r->path,
                            id, s->tokens[id], it->string);
        BN_TRY(set_token(r, id, it->string, BN_TOKEN_NORMAL));
    }
    BN_TRY(read_added(r, added));
    for (int32_t id = 0; id < n; id++) { /* holes: llama.cpp's converter writes [PAD<id>] */
        if (s->tokens[id] != NULL)
            continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%d]", id);
        BN_TRY(set_token(r, id, pad, BN_TOKEN_UNUSED));
    }
    return BN_OK;
}

/* Merges come as "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20). Either
 * way we keep "a b", GGUF's form, so neither piece may contain a space. */
static bn_status read_merges(hf_reader *r, const cJSON *merges) {
    bn_tokenizer_spec *s = r->s;
    int n = cJSON_GetArraySize(merges);
    if ((s->merges = calloc((size_t)n + 1, sizeof *s->merges)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: %d merges", r->path, n);
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a = NULL, *b = NULL, *sp = NULL;
        if (cJSON_IsString(m)) {
            sp = strchr(m->valuestring, ' ');
            if (sp == NULL || sp == m->valuestring || sp[1] == '\0' || strchr(sp + 1, ' '))
                return BN_ERROR(BN_ERR_FORMAT,
                                "%s: merge %d '%s' is not two pieces split by one "
                                "space",
                                r->path, i, m->valuestring);
            s->merges[i] = strdup(m->valuestring);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring;
            b = cJSON_GetArrayItem(m, 1)->valuestring;
            if (*a == '\0' || *b == '\0' || strchr(a, ' ') || strchr(b, ' '))
                return BN_ERROR(BN_ERR_FORMAT,
                                "%s: merge %d ['%s', '%s'] has an empty piece or "
                                "a piece with a space",
                                r->path, i, a, b);
            size_t len = strlen(a) + strlen(b) + 2;
            if ((s->merges[i] = malloc(len)) != NULL)
                snprintf(s->merges[i], len, "%s %s", a, b);
        } else {
            return BN_ERROR(BN_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [a, b]", r->path,
                            i);
        }
        if (s->merges[i] == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: merges", r->path);
        s->n_merges = ++i;
    }
    return BN_OK;
}

static bn_status read_model(hf_reader *r, const cJSON *model, const cJSON *added) {
    bn_tokenizer_spec *s = r->s;
    const char *type = str_item(model, "type");
    if (!cJSON_IsObject(model))
        return BN_ERROR(BN_ERR_FORMAT, "%s: no model object", r->path);
    if (type == NULL && item(model, "merges") != NULL)
        type = "BPE"; /* very old files leave the type out */
    if (type == NULL || strcmp(type, "BPE") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: model.type %s: only BPE tokenizers are supported",
                        r->path, type ? type : "(missing)");
    const cJSON *vocab = item(model, "vocab"), *merges = item(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: model.vocab must be an object and model.merges an "
                        "array",
                        r->path);
    if (added != NULL && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return BN_ERROR(BN_ERR_FORMAT, "%s: added_tokens is not an array", r->path);
    const cJSON *dropout = item(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: model.dropout %g: BPE dropout is for training",
                        r->path, dropout->valuedouble);
    const char *prefix = str_item(model, "continuing_subword_prefix");
    const char *suffix = str_item(model, "end_of_word_suffix");
    if ((prefix && *prefix) || (suffix && *suffix))
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: model.continuing_subword_prefix / "
                        "end_of_word_suffix are not supported",
                        r->path);
    BN_TRY(read_vocab(r, vocab, added));
    BN_TRY(read_merges(r, merges));
    s->ignore_merges = cJSON_IsTrue(item(model, "ignore_merges"));
    s->byte_fallback = cJSON_IsTrue(item(model, "byte_fallback"));
    s->fuse_unk = cJSON_IsTrue(item(model, "fuse_unk"));
    const char *unk = str_item(model, "unk_token");
    if (unk != NULL && (s->unk_id = bn_tokenizer_spec_find(s, unk)) < 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: model.unk_token '%s' is not in the vocabulary", r->path,
                        unk);
    if (s->unk_id >= 0 && s->types[s->unk_id] == BN_TOKEN_CONTROL)
        s->types[s->unk_id] = BN_TOKEN_UNKNOWN;
    return BN_OK;
}

/* ---- normalizer and pre-tokenizer -------------------------------------------------------- */

static bn_status read_normalizer(hf_reader *r, const cJSON *n) {
    bn_tokenizer_spec *s = r->s;
    if (n == NULL || cJSON_IsNull(n))
        return BN_OK;
    const char *type = str_item(n, "type");
    if (type != NULL && strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, item(n, "normalizers")) BN_TRY(read_normalizer(r, e));
        return BN_OK;
    }
    if (type != NULL && strcmp(type, "Prepend") == 0) {
        const char *p = str_item(n, "prepend");
        if (p != NULL && strcmp(p, METASPACE) == 0) {
            s->prepend = BN_PREPEND_ALWAYS;
            return BN_OK;
        }
    }
    if (type != NULL && strcmp(type, "Replace") == 0) {
        const char *from = str_item(item(n, "pattern"), "String");
        const char *to = str_item(n, "content");
        if (from != NULL && to != NULL && strcmp(from, " ") == 0 && strcmp(to, METASPACE) == 0) {
            s->replace_space = true;
            return BN_OK;
        }
    }
    return BN_ERROR(BN_ERR_UNSUPPORTED,
                    "%s: normalizer %s is not supported (only SentencePiece's "
                    "Prepend(\"▁\") and Replace(\" \", \"▁\"))",
                    r->path, type ? type : "(untyped)");
}

static bn_status read_split(hf_reader *r, const cJSON *p) {
    static const char *const behaviors[] = {"Isolated", "Removed", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
    bn_tokenizer_spec *s = r->s;
    if (s->n_splits == BN_TOK_MAX_SPLITS)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: more than %d Split pre-tokenizers", r->path,
                        BN_TOK_MAX_SPLITS);
    if (cJSON_IsTrue(item(p, "invert")))
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: Split with invert = true is not supported",
                        r->path);
    const char *behavior = str_item(p, "behavior");
    int b = -1;
    for (int i = 0; behavior != NULL && i < 5; i++)
        if (strcmp(behavior, behaviors[i]) == 0)
            b = i;
    if (b < 0)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: Split behavior %s is not one of Isolated, Removed, "
                        "MergedWithPrevious, MergedWithNext, Contiguous",
                        r->path, behavior ? behavior : "(missing)");
    const char *regex = str_item(item(p, "pattern"), "Regex");
    const char *literal = str_item(item(p, "pattern"), "String");
    char *pattern = NULL;
    if (regex != NULL) {
        pattern = strdup(regex);
    } else if (literal != NULL && *literal != '\0') { /* a literal: quote it for PCRE2 */
        size_t len = strlen(literal) + 5;
        if ((pattern = malloc(len)) != NULL && strstr(literal, "\\E") == NULL)
            snprintf(pattern, len, "\\Q%s\\E", literal);
        else if (pattern != NULL) {
            free(pattern);
            return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: Split string contains \\E", r->path);
        }
    } else {
        return BN_ERROR(BN_ERR_FORMAT, "%s: Split has no Regex or String pattern", r->path);
    }
    if (pattern == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: split pattern", r->path);
    s->splits[s->n_splits++] = (bn_tok_split){pattern, (bn_split_behavior)b};
    return BN_OK;
}

static bn_status read_metaspace(hf_reader *r, const cJSON *p) {
    bn_tokenizer_spec *s = r->s;
    const char *rep = str_item(p, "replacement");
    if (rep != NULL && strcmp(rep, METASPACE) != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: Metaspace replacement '%s' (only \"▁\")", r->path,
                        rep);
    const char *scheme = str_item(p, "prepend_scheme");
    if (scheme == NULL) /* files before tokenizers 0.14 had only add_prefix_space */
        scheme = cJSON_IsFalse(item(p, "add_prefix_space")) ? "never" : "always";
    if (strcmp(scheme, "always") == 0)
        s->prepend = BN_PREPEND_IF_MISSING;
    else if (strcmp(scheme, "first") == 0)
        s->prepend = BN_PREPEND_FIRST_ONLY;
    else if (strcmp(scheme, "never") == 0)
        s->prepend = BN_PREPEND_NONE;
    else
        return BN_ERROR(BN_ERR_FORMAT, "%s: Metaspace prepend_scheme '%s'", r->path, scheme);
    s->replace_space = true;
    s->metaspace_split = !cJSON_IsFalse(item(p, "split")); /* tokenizers' default: true */
    return BN_OK;
}

static bn_status read_pre(hf_reader *r, const cJSON *p, bool *byte_level) {
    bn_tokenizer_spec *s = r->s;
    if (p == NULL || cJSON_IsNull(p))
        return BN_OK;
    const char *type = str_item(p, "type");
    if (type == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: a pre_tokenizer has no type", r->path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, item(p, "pretokenizers")) BN_TRY(read_pre(r, e, byte_level));
        return BN_OK;
    }
    if (strcmp(type, "Split") == 0)
        return read_split(r, p);
    if (strcmp(type, "Metaspace") == 0)
        return read_metaspace(r, p);
    if (strcmp(type, "ByteLevel") == 0) {
        *byte_level = true;
        s->add_prefix_space = cJSON_IsTrue(item(p, "add_prefix_space"));
        s->gpt2_regex = !cJSON_IsFalse(item(p, "use_regex")); /* tokenizers' default: true */
        return BN_OK;
    }
    return BN_ERROR(BN_ERR_UNSUPPORTED,
                    "%s: pre_tokenizer of type %s is not supported (Split, "
                    "ByteLevel, Metaspace, Sequence)",
                    r->path, type);
}

/* GGUF can only name a pre-tokenizer; these are the names of the regex sets we know. */
static void name_pre(bn_tokenizer_spec *s) {
    if (s->model != BN_TOK_BYTE_BPE)
        return;
    if (s->n_splits == 1 && s->splits[0].behavior == BN_SPLIT_ISOLATED &&
        strcmp(s->splits[0].regex, BN_LLAMA3_SPLIT_REGEX) == 0 && !s->gpt2_regex)
        snprintf(s->pre, sizeof s->pre, "llama-bpe");
    else if (s->n_splits == 0 && s->gpt2_regex)
        snprintf(s->pre, sizeof s->pre, "gpt2");
}

/* ---- decoder and post-processor ---------------------------------------------------------- */

static bn_status read_decoder(hf_reader *r, const cJSON *d) {
    bn_tokenizer_spec *s = r->s;
    if (d == NULL || cJSON_IsNull(d))
        return BN_OK;
    const char *type = str_item(d, "type");
    if (type == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: a decoder has no type", r->path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, item(d, "decoders")) BN_TRY(read_decoder(r, e));
        return BN_OK;
    }
    if (strcmp(type, "Strip") == 0) {
        const cJSON *start = item(d, "start"), *stop = item(d, "stop");
        const char *content = str_item(d, "content");
        if (content == NULL || strcmp(content, " ") != 0 || !cJSON_IsNumber(start) ||
            start->valuedouble > 1 || (cJSON_IsNumber(stop) && stop->valuedouble != 0))
            return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: Strip decoder other than one leading space",
                            r->path);
        s->strip_leading_space = start->valuedouble == 1;
        return BN_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *scheme = str_item(d, "prepend_scheme");
        s->strip_leading_space =
            scheme ? strcmp(scheme, "never") != 0 : !cJSON_IsFalse(item(d, "add_prefix_space"));
        return BN_OK;
    }
    /* ByteLevel maps characters back to bytes, ByteFallback turns <0xXX> into bytes, Fuse joins,
     * Replace("▁", " ") undoes SentencePiece's spaces: the decoder does these from the model
     * type; only ByteFallback needs a flag, since without it <0xXX> decodes as its own text. */
    if (strcmp(type, "ByteFallback") == 0)
        s->decode_byte_tokens = true;
    if (strcmp(type, "ByteLevel") == 0 || strcmp(type, "ByteFallback") == 0 ||
        strcmp(type, "Fuse") == 0 || strcmp(type, "Replace") == 0)
        return BN_OK;
    return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: decoder of type %s is not supported", r->path, type);
}

static bn_status special_id(hf_reader *r, const cJSON *post, const char *name, int32_t *id) {
    const cJSON *ids = item(item(item(post, "special_tokens"), name), "ids");
    const cJSON *first = cJSON_GetArrayItem(ids, 0);
    if (cJSON_GetArraySize(ids) != 1 || !is_id(first) || first->valuedouble >= r->s->n_tokens)
        return BN_ERROR(BN_ERR_FORMAT, "%s: post_processor special token '%s' has no valid id",
                        r->path, name);
    *id = (int32_t)first->valuedouble;
    return BN_OK;
}

/* TemplateProcessing's "single" template: special tokens around the sequence $A. */
static bn_status read_post(hf_reader *r, const cJSON *post) {
    bn_tokenizer_spec *s = r->s;
    const char *type = str_item(post, "type");
    if (type == NULL)
        return BN_OK;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *p;
        cJSON_ArrayForEach(p, item(post, "processors")) BN_TRY(read_post(r, p));
        return BN_OK;
    }
    if (strcmp(type, "ByteLevel") == 0)
        return BN_OK; /* only adjusts offsets */
    if (strcmp(type, "TemplateProcessing") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: post_processor of type %s is not supported",
                        r->path, type);
    bool seen_sequence = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, item(post, "single")) {
        const char *name = str_item(item(e, "SpecialToken"), "id");
        if (item(e, "Sequence") != NULL) {
            seen_sequence = true;
            continue;
        }
        if (name == NULL)
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: post_processor template item is neither "
                            "SpecialToken nor Sequence",
                            r->path);
        int *n = seen_sequence ? &s->n_suffix : &s->n_prefix;
        int32_t *ids = seen_sequence ? s->suffix : s->prefix;
        if (*n == BN_TOK_MAX_AFFIX)
            return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: post_processor adds more than %d tokens",
                            r->path, BN_TOK_MAX_AFFIX);
        BN_TRY(special_id(r, post, name, &ids[(*n)++]));
    }
    if (s->n_prefix > 0 && s->bos_id < 0)
        s->bos_id = s->prefix[0];
    return BN_OK;
}

/* tokenizer_config.json: the chat template and the names of bos/eos. */
static const char *token_name(const cJSON *v) {
    return cJSON_IsString(v) ? v->valuestring : str_item(v, "content");
}

static bn_status read_config(hf_reader *r, const char *text, size_t len, const char *path) {
    bn_tokenizer_spec *s = r->s;
    cJSON *cfg = cJSON_ParseWithLength(text, len);
    if (cfg == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: not valid JSON", path);
    const cJSON *tmpl = item(cfg, "chat_template");
    if (cJSON_IsArray(tmpl)) { /* [{"name": "default", "template": ...}, ...] */
        const cJSON *e, *chosen = NULL;
        cJSON_ArrayForEach(e, tmpl) {
            const char *name = str_item(e, "name");
            if (chosen == NULL || (name && strcmp(name, "default") == 0))
                chosen = item(e, "template");
        }
        tmpl = chosen;
    }
    bn_status st = BN_OK;
    if (tmpl != NULL && !cJSON_IsString(tmpl) && !cJSON_IsNull(tmpl))
        st = BN_ERROR(BN_ERR_FORMAT, "%s: chat_template is not a string", path);
    else if (cJSON_IsString(tmpl) && (s->chat_template = strdup(tmpl->valuestring)) == NULL)
        st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: chat_template", path);
    const char *bos = token_name(item(cfg, "bos_token"));
    const char *eos = token_name(item(cfg, "eos_token"));
    const char *pad = token_name(item(cfg, "pad_token"));
    if (bos != NULL && s->bos_id < 0)
        s->bos_id = bn_tokenizer_spec_find(s, bos);
    if (eos != NULL)
        s->eos_id = bn_tokenizer_spec_find(s, eos);
    if (pad != NULL)
        s->pad_id = bn_tokenizer_spec_find(s, pad);
    cJSON_Delete(cfg);
    return st;
}

/* ---- the whole file ---------------------------------------------------------------------- */

static bn_status choose_model(hf_reader *r, bool byte_level) {
    bn_tokenizer_spec *s = r->s;
    bool spm = s->byte_fallback || s->prepend != BN_PREPEND_NONE || s->replace_space;
    if (spm && (byte_level || s->n_splits > 0))
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: mixes SentencePiece-style and byte-level "
                        "pieces",
                        r->path);
    if (!spm && !byte_level)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: neither byte-level (ByteLevel pre-tokenizer) nor "
                        "SentencePiece-style (▁ normalizer, Metaspace, byte_fallback)",
                        r->path);
    s->model = spm ? BN_TOK_SPM_BPE : BN_TOK_BYTE_BPE;
    if (s->model == BN_TOK_BYTE_BPE && s->n_splits == 0 && !s->gpt2_regex)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: ByteLevel with use_regex = false and no Split: "
                        "the whole text would be one word",
                        r->path);
    return BN_OK;
}

static bn_status parse(hf_reader *r, const cJSON *root) {
    bool byte_level = false;
    if (!cJSON_IsObject(root))
        return BN_ERROR(BN_ERR_FORMAT, "%s: not a JSON object", r->path);
    BN_TRY(read_model(r, item(root, "model"), item(root, "added_tokens")));
    BN_TRY(read_normalizer(r, item(root, "normalizer")));
    BN_TRY(read_pre(r, item(root, "pre_tokenizer"), &byte_level));
    BN_TRY(read_decoder(r, item(root, "decoder")));
    const cJSON *dec = item(root, "decoder");
    if (str_item(dec, "type") && strcmp(str_item(dec, "type"), "ByteLevel") == 0)
        byte_level = true;
    BN_TRY(choose_model(r, byte_level));
    name_pre(r->s);
    return read_post(r, item(root, "post_processor"));
}

static bn_status spec_new(bn_tokenizer_spec **out) {
    bn_tokenizer_spec *s = calloc(1, sizeof *s);
    if (s == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tokenizer");
    s->unk_id = s->bos_id = s->eos_id = s->eot_id = s->pad_id = -1;
    *out = s;
    return BN_OK;
}

/* Parse tokenizer.json text (and tokenizer_config.json text, may be NULL): the file-free entry
 * point the fuzzer drives. */
bn_status bn_tokenizer_spec_parse_hf(bn_tokenizer_spec **out, const char *json, size_t len,
                                     const char *config, size_t config_len, const char *name) {
    *out = NULL;
    bn_tokenizer_spec *s = NULL;
    BN_TRY(spec_new(&s));
    hf_reader r = {s, name};
    cJSON *root = cJSON_ParseWithLength(json, len);
    bn_status st = root ? parse(&r, root) : BN_ERROR(BN_ERR_FORMAT, "%s: not valid JSON", name);
    cJSON_Delete(root);
    if (st == BN_OK && config != NULL)
        st = read_config(&r, config, config_len, name);
    if (st != BN_OK) {
        bn_tokenizer_spec_free(s);
        return st;
    }
    bn_tokenizer_spec_find_eog(s);
    *out = s;
    return BN_OK;
}

bn_status bn_tokenizer_spec_load_hf(bn_tokenizer_spec **out, const char *path) {
    *out = NULL;
    char json_path[1200], config_path[1200];
    size_t plen = strlen(path);
    if (plen >= 5 && strcmp(path + plen - 5, ".json") == 0) { /* the tokenizer.json file */
        snprintf(json_path, sizeof json_path, "%s", path);
        const char *slash = strrchr(path, '/');
        int dir_len = slash ? (int)(slash - path) : 1;
        snprintf(config_path, sizeof config_path, "%.*s/tokenizer_config.json", dir_len,
                 slash ? path : ".");
    } else {
        snprintf(json_path, sizeof json_path, "%s/tokenizer.json", path);
        snprintf(config_path, sizeof config_path, "%s/tokenizer_config.json", path);
    }
    char *json = NULL, *config = NULL;
    size_t len = 0, config_len = 0;
    bn_status st = bn_hf_read_file(json_path, true, MAX_JSON, &json, &len);
    if (st == BN_OK)
        st = bn_hf_read_file(config_path, false, MAX_JSON, &config, &config_len);
    if (st == BN_OK)
        st = bn_tokenizer_spec_parse_hf(out, json, len, config, config_len, json_path);
    free(json);
    free(config);
    return st;
}
