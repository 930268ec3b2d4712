/*
 * hf_tokenizer.c - tokenizer.json / tokenizer_config.json -> the GGUF vocabulary.
 *
 * tokenizer.json keeps byte-level BPE tokens in GPT-2's byte-to-unicode form already, which is
 * the form GGUF's tokenizer.ggml.tokens wants, so strings are copied as they are.
 */
#include "io/hf_tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char BN_LLAMA3_SPLIT_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

#define MAX_TOKENS (1 << 24) /* far above any real vocabulary (LLaMA-3: 128256) */
#define MAX_JSON   ((size_t)512 << 20)

static bn_status read_json(const char *path, bool required, cJSON **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (!required && errno == ENOENT)
            return BN_OK;
        return BN_ERROR(errno == ENOENT ? BN_ERR_NOT_FOUND : BN_ERR_IO, "%s: cannot open: %s", path,
                        strerror(errno));
    }
    char *text = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || (size_t)size > MAX_JSON || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return BN_ERROR(BN_ERR_IO, "%s: unreadable or larger than %zu bytes", path, MAX_JSON);
    }
    text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        fclose(f);
        return BN_ERROR(BN_ERR_IO, "%s: cannot read %ld bytes", path, size);
    }
    fclose(f);
    *out = cJSON_ParseWithLength(text, (size_t)size);
    free(text);
    if (*out == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: not valid JSON", path);
    return BN_OK;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bn_status read_vocab(bn_hf_tokenizer *t, const cJSON *vocab, const cJSON *added,
                            const char *path) {
    int64_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= MAX_TOKENS ||
            it->valuedouble != (double)(int64_t)it->valuedouble)
            return BN_ERROR(BN_ERR_FORMAT, "%s: model.vocab['%s'] is not a token id", path,
                            it->string);
        if ((int64_t)it->valuedouble + 1 > n)
            n = (int64_t)it->valuedouble + 1;
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= MAX_TOKENS ||
            !cJSON_IsString(content))
            return BN_ERROR(BN_ERR_FORMAT, "%s: an added_tokens entry lacks a valid id or content",
                            path);
        if ((int64_t)id->valuedouble + 1 > n)
            n = (int64_t)id->valuedouble + 1;
    }
    if (n == 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: model.vocab is empty", path);
    t->n_tokens = n;
    t->tokens = calloc((size_t)n, sizeof *t->tokens);
    t->types = calloc((size_t)n, sizeof *t->types);
    if (t->tokens == NULL || t->types == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: %lld tokens", path, (long long)n);
    cJSON_ArrayForEach(it, vocab) {
        int64_t id = (int64_t)it->valuedouble;
        if (t->tokens[id] != NULL)
            return BN_ERROR(BN_ERR_FORMAT, "%s: token id %lld is used by both '%s' and '%s'", path,
                            (long long)id, t->tokens[id], it->string);
        if ((t->tokens[id] = dup_string(it->string)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: token strings", path);
        t->types[id] = BN_TOKEN_NORMAL;
    }
    cJSON_ArrayForEach(it, added) {
        int64_t id = (int64_t)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble;
        const char *content = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special"));
        if (t->tokens[id] != NULL && strcmp(t->tokens[id], content) != 0)
            return BN_ERROR(BN_ERR_FORMAT, "%s: added token %lld '%s' collides with vocab '%s'",
                            path, (long long)id, content, t->tokens[id]);
        free(t->tokens[id]);
        if ((t->tokens[id] = dup_string(content)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: token strings", path);
        t->types[id] = special ? BN_TOKEN_CONTROL : BN_TOKEN_USER_DEFINED;
        if (strcmp(content, "<|eot_id|>") == 0 || strcmp(content, "<|im_end|>") == 0)
            t->eot_id = id;
    }
    for (int64_t id = 0; id < n; id++) { /* holes: llama.cpp's converter writes [PAD<id>] */
        if (t->tokens[id] != NULL)
            continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%lld]", (long long)id);
        if ((t->tokens[id] = dup_string(pad)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: token strings", path);
        t->types[id] = BN_TOKEN_UNUSED;
    }
    return BN_OK;
}

/* Merges come as "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20). */
static bn_status read_merges(bn_hf_tokenizer *t, const cJSON *merges, const char *path) {
    int n = cJSON_GetArraySize(merges);
    t->merges = calloc((size_t)n + 1, sizeof *t->merges);
    if (t->merges == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: %d merges", path, n);
    t->n_merges = n;
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        if (cJSON_IsString(m)) {
            if (strchr(m->valuestring, ' ') == NULL)
                return BN_ERROR(BN_ERR_FORMAT, "%s: merge %d '%s' has no space", path, i,
                                m->valuestring);
            t->merges[i] = dup_string(m->valuestring);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            const char *a = cJSON_GetArrayItem(m, 0)->valuestring;
            const char *b = cJSON_GetArrayItem(m, 1)->valuestring;
            size_t len = strlen(a) + strlen(b) + 2;
            if ((t->merges[i] = malloc(len)) != NULL)
                snprintf(t->merges[i], len, "%s %s", a, b);
        } else {
            return BN_ERROR(BN_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [a, b]", path, i);
        }
        if (t->merges[i] == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: merges", path);
        i++;
    }
    return BN_OK;
}

/* Name the pre-tokenizer the way GGUF's tokenizer.ggml.pre does. */
static bn_status read_pre(bn_hf_tokenizer *t, const cJSON *pre, const char *path) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pre, "type"));
    if (type != NULL && strcmp(type, "ByteLevel") == 0) {
        snprintf(t->pre, sizeof t->pre, "gpt2");
        return BN_OK;
    }
    if (type != NULL && strcmp(type, "Sequence") == 0) {
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers")) {
            const char *pt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "type"));
            if (pt == NULL || strcmp(pt, "Split") != 0)
                continue;
            const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(p, "pattern");
            const char *regex =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pattern, "Regex"));
            if (regex != NULL && strcmp(regex, BN_LLAMA3_SPLIT_REGEX) == 0) {
                snprintf(t->pre, sizeof t->pre, "llama-bpe");
                return BN_OK;
            }
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "%s: pre_tokenizer Split regex is not one we know (LLaMA-3's): %.80s",
                            path, regex ? regex : "(not a Regex pattern)");
        }
    }
    return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: pre_tokenizer of type %s is not supported", path,
                    type ? type : "(none)");
}

/* A TemplateProcessing post-processor whose single template starts with a special token means
 * "add BOS"; it may sit inside a Sequence (LLaMA-3's [ByteLevel, TemplateProcessing]). */
static void read_post(bn_hf_tokenizer *t, const cJSON *post) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(post, "type"));
    if (type == NULL)
        return;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(post, "processors")) read_post(t, p);
        return;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return;
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(post, "single"), 0);
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(special, "id"));
    if (name == NULL)
        return;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(post, "special_tokens");
    const cJSON *ids =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tokens, name), "ids");
    const cJSON *id = cJSON_GetArrayItem(ids, 0);
    if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < (double)t->n_tokens) {
        t->add_bos = true;
        t->bos_id = (int64_t)id->valuedouble;
    }
}

static bn_status read_config(bn_hf_tokenizer *t, const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    cJSON *cfg = NULL;
    BN_TRY(read_json(path, false, &cfg));
    if (cfg == NULL)
        return BN_OK;
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (cJSON_IsArray(tmpl)) { /* [{"name": "default", "template": ...}, ...] */
        const cJSON *e, *chosen = NULL;
        cJSON_ArrayForEach(e, tmpl) {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
            if (chosen == NULL || (name && strcmp(name, "default") == 0))
                chosen = cJSON_GetObjectItemCaseSensitive(e, "template");
        }
        tmpl = chosen;
    }
    bn_status st = BN_OK;
    if (tmpl != NULL && !cJSON_IsString(tmpl) && !cJSON_IsNull(tmpl))
        st = BN_ERROR(BN_ERR_FORMAT, "%s: chat_template is not a string", path);
    else if (cJSON_IsString(tmpl) && (t->chat_template = dup_string(tmpl->valuestring)) == NULL)
        st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: chat_template", path);
    cJSON_Delete(cfg);
    return st;
}

static bn_status parse(bn_hf_tokenizer *t, const cJSON *root, const char *path) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    if (type == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: no model.type", path);
    if (strcmp(type, "BPE") != 0)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: model.type %s: only byte-level BPE is read here",
                        path, type);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: model.vocab must be an object and model.merges an array", path);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added != NULL && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return BN_ERROR(BN_ERR_FORMAT, "%s: added_tokens is not an array", path);
    BN_TRY(read_vocab(t, vocab, added, path));
    BN_TRY(read_merges(t, merges, path));
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    BN_TRY(read_pre(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path));
    read_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    return BN_OK;
}

bn_status bn_hf_tokenizer_load(bn_hf_tokenizer **out, const char *dir) {
    *out = NULL;
    bn_hf_tokenizer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tokenizer");
    t->bos_id = t->eot_id = -1;
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cJSON *root = NULL;
    bn_status st = read_json(path, true, &root);
    if (st == BN_OK)
        st = parse(t, root, path);
    cJSON_Delete(root);
    if (st == BN_OK)
        st = read_config(t, dir);
    if (st != BN_OK) {
        bn_hf_tokenizer_free(t);
        return st;
    }
    *out = t;
    return BN_OK;
}

void bn_hf_tokenizer_free(bn_hf_tokenizer *t) {
    if (t == NULL)
        return;
    for (int64_t i = 0; t->tokens && i < t->n_tokens; i++)
        free(t->tokens[i]);
    for (int64_t i = 0; t->merges && i < t->n_merges; i++)
        free(t->merges[i]);
    free(t->tokens);
    free(t->types);
    free(t->merges);
    free(t->chat_template);
    free(t);
}
