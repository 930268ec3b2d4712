/*
 * hf_tokenizer_write.c - bn_tokenizer_spec -> tokenizer.json + tokenizer_config.json, in the
 * form Hugging Face `tokenizers` writes for a byte-level BPE (LLaMA-3, GPT-2):
 *
 *   model          BPE: vocab (the tokens that are not added tokens), merges as [a, b] pairs
 *                  (tokenizers >= 0.20), ignore_merges, no dropout, no byte fallback
 *   pre_tokenizer  the Split regexes in order, then ByteLevel (use_regex: GPT-2's own regex)
 *   post_processor ByteLevel, then TemplateProcessing with the spec's BOS/EOS when it has any
 *   decoder        ByteLevel
 *   added_tokens   by id, with their special / lstrip / rstrip / single_word flags
 *
 * tokenizer_config.json names bos/eos/pad/unk, carries the chat template and
 * added_tokens_decoder, as transformers saves it. Both go through io/outfile.h. The reader
 * (hf_tokenizer.c) gives the same spec back, and tokenizers gives the same ids
 * (tests/py/test_hf_tokenizer_write.py).
 */
#include "io/outfile.h"
#include "io/tokenizer_spec.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF): JSON text must be
 * UTF-8, and a GGUF file can hold any bytes in a token string. */
static bool utf8_ok(const char *str) {
    const uint8_t *s = (const uint8_t *)str;
    while (*s) {
        uint8_t c = s[0];
        int n = c < 0x80                 ? 0
                : c >= 0xC2 && c <= 0xDF ? 1
                : c >= 0xE0 && c <= 0xEF ? 2
                : c >= 0xF0 && c <= 0xF4 ? 3
                                         : -1;
        if (n < 0)
            return false;
        uint8_t lo = 0x80, hi = 0xBF; /* the second byte's range (Unicode Table 3-7) */
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        else if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        for (int k = 1; k <= n; k++)
            if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xBF))
                return false;
        s += n + 1;
    }
    return true;
}

typedef struct writer {
    const bn_tokenizer_spec *s;
    const char *dir;
    bool *is_added; /* [n_tokens] */
    bool failed;    /* an allocation failed while building the JSON */
} writer;

static bn_status oom(const writer *w) {
    return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: building tokenizer.json", w->dir);
}

/* Attach item under key (at the end of an array when key is NULL) and return it. Any failed
 * allocation marks the writer, so that a document missing a piece is never written. */
static cJSON *put(writer *w, cJSON *parent, const char *key, cJSON *item) {
    bool ok = item != NULL && parent != NULL &&
              (key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item));
    if (!ok) {
        w->failed = true;
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

static void put_str(writer *w, cJSON *o, const char *key, const char *v) {
    put(w, o, key, cJSON_CreateString(v));
}

static void put_bool(writer *w, cJSON *o, const char *key, bool v) {
    put(w, o, key, cJSON_CreateBool(v));
}

static void put_num(writer *w, cJSON *o, const char *key, double v) {
    put(w, o, key, cJSON_CreateNumber(v));
}

static void put_null(writer *w, cJSON *o, const char *key) {
    put(w, o, key, cJSON_CreateNull());
}

/* ---- the pieces of tokenizer.json -------------------------------------------------------- */

static const char *behavior_name(bn_split_behavior b) {
    static const char *const names[] = {"Isolated", "Removed", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    return (unsigned)b < 5 ? names[b] : NULL;
}

static cJSON *byte_level(writer *w, bool add_prefix_space, bool trim_offsets, bool use_regex) {
    cJSON *o = cJSON_CreateObject();
    put_str(w, o, "type", "ByteLevel");
    put_bool(w, o, "add_prefix_space", add_prefix_space);
    put_bool(w, o, "trim_offsets", trim_offsets);
    put_bool(w, o, "use_regex", use_regex);
    return o;
}

/* A Split's pattern: the reader turns a String pattern into \Q...\E, so that form goes back to a
 * String (tokenizers' regex engine need not know \Q). */
static cJSON *split_pattern(writer *w, const char *regex) {
    cJSON *o = cJSON_CreateObject();
    size_t n = strlen(regex);
    if (n >= 4 && strncmp(regex, "\\Q", 2) == 0 && strcmp(regex + n - 2, "\\E") == 0) {
        char *literal = strndup(regex + 2, n - 4);
        if (literal != NULL && strstr(literal, "\\E") == NULL) {
            put_str(w, o, "String", literal);
            free(literal);
            return o;
        }
        free(literal);
    }
    put_str(w, o, "Regex", regex);
    return o;
}

static cJSON *pre_tokenizer(writer *w) {
    const bn_tokenizer_spec *s = w->s;
    cJSON *bl = byte_level(w, s->add_prefix_space, true, s->gpt2_regex);
    if (s->n_splits == 0)
        return bl;
    cJSON *seq = cJSON_CreateObject(), *list = cJSON_CreateArray();
    put_str(w, seq, "type", "Sequence");
    put(w, seq, "pretokenizers", list);
    for (int i = 0; i < s->n_splits; i++) {
        cJSON *split = cJSON_CreateObject();
        put_str(w, split, "type", "Split");
        put(w, split, "pattern", split_pattern(w, s->splits[i].regex));
        put_str(w, split, "behavior", behavior_name(s->splits[i].behavior));
        put_bool(w, split, "invert", false);
        put(w, list, NULL, split);
    }
    put(w, list, NULL, bl);
    return seq;
}

static cJSON *template_items(writer *w, const bn_tokenizer_spec *s, const char *seq, int type_id) {
    cJSON *items = cJSON_CreateArray();
    for (int part = 0; part < 3; part++) {
        int n = part == 0 ? s->n_prefix : part == 2 ? s->n_suffix : 1;
        for (int i = 0; i < n; i++) {
            cJSON *item = cJSON_CreateObject(), *inner = cJSON_CreateObject();
            if (part == 1) {
                put_str(w, inner, "id", seq);
                put(w, item, "Sequence", inner);
            } else {
                int32_t id = part == 0 ? s->prefix[i] : s->suffix[i];
                put_str(w, inner, "id", s->tokens[id]);
                put(w, item, "SpecialToken", inner);
            }
            put_num(w, inner, "type_id", type_id);
            put(w, items, NULL, item);
        }
    }
    return items;
}

/* ByteLevel (offsets only), then the BOS/EOS the spec adds, as TemplateProcessing. */
static cJSON *post_processor(writer *w) {
    const bn_tokenizer_spec *s = w->s;
    cJSON *bl = byte_level(w, true, false, true);
    if (s->n_prefix == 0 && s->n_suffix == 0)
        return bl;
    cJSON *seq = cJSON_CreateObject(), *list = cJSON_CreateArray(), *tp = cJSON_CreateObject();
    put_str(w, seq, "type", "Sequence");
    put(w, seq, "processors", list);
    put(w, list, NULL, bl);
    put(w, list, NULL, tp);
    put_str(w, tp, "type", "TemplateProcessing");
    put(w, tp, "single", template_items(w, s, "A", 0));
    /* a pair of sequences: the same tokens around each, the second with type id 1 */
    cJSON *pair = template_items(w, s, "A", 0), *second = template_items(w, s, "B", 1), *e;
    while (second != NULL && (e = cJSON_DetachItemFromArray(second, 0)) != NULL)
        put(w, pair, NULL, e);
    cJSON_Delete(second);
    put(w, tp, "pair", pair);
    cJSON *specials = cJSON_CreateObject();
    put(w, tp, "special_tokens", specials);
    for (int i = 0; i < s->n_prefix + s->n_suffix; i++) {
        int32_t id = i < s->n_prefix ? s->prefix[i] : s->suffix[i - s->n_prefix];
        const char *name = s->tokens[id];
        if (specials == NULL || cJSON_GetObjectItemCaseSensitive(specials, name) != NULL)
            continue;
        cJSON *st = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *toks = cJSON_CreateArray();
        put_str(w, st, "id", name);
        put(w, ids, NULL, cJSON_CreateNumber(id));
        put(w, st, "ids", ids);
        put(w, toks, NULL, cJSON_CreateString(name));
        put(w, st, "tokens", toks);
        put(w, specials, name, st);
    }
    return seq;
}

static cJSON *added_entry(writer *w, const bn_tokenizer_spec *s, const bn_tok_added *a,
                          bool with_id) {
    cJSON *o = cJSON_CreateObject();
    if (with_id)
        put_num(w, o, "id", a->id);
    put_str(w, o, "content", s->tokens[a->id]);
    put_bool(w, o, "single_word", a->single_word);
    put_bool(w, o, "lstrip", a->lstrip);
    put_bool(w, o, "rstrip", a->rstrip);
    /* tokenizers' default: special tokens are matched in the raw text, others after the
     * normalizer (there is none here, so both read the same) */
    put_bool(w, o, "normalized", !a->special);
    put_bool(w, o, "special", a->special);
    return o;
}

static int cmp_added(const void *a, const void *b) {
    int32_t x = ((const bn_tok_added *)a)->id, y = ((const bn_tok_added *)b)->id;
    return x < y ? -1 : x > y;
}

/* The added tokens by id (tokenizers' order), or NULL when out of memory. */
static bn_tok_added *sorted_added(const bn_tokenizer_spec *s) {
    bn_tok_added *a = malloc(((size_t)s->n_added + 1) * sizeof *a);
    if (a != NULL && s->n_added > 0) {
        memcpy(a, s->added, (size_t)s->n_added * sizeof *a);
        qsort(a, (size_t)s->n_added, sizeof *a, cmp_added);
    }
    return a;
}

static cJSON *model(writer *w) {
    const bn_tokenizer_spec *s = w->s;
    cJSON *m = cJSON_CreateObject(), *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    put_str(w, m, "type", "BPE");
    put_null(w, m, "dropout");
    if (s->unk_id >= 0 && s->unk_id < s->n_tokens)
        put_str(w, m, "unk_token", s->tokens[s->unk_id]);
    else
        put_null(w, m, "unk_token");
    put_null(w, m, "continuing_subword_prefix");
    put_null(w, m, "end_of_word_suffix");
    put_bool(w, m, "fuse_unk", s->fuse_unk);
    put_bool(w, m, "byte_fallback", false);
    put_bool(w, m, "ignore_merges", s->ignore_merges);
    put(w, m, "vocab", vocab);
    put(w, m, "merges", merges);
    /* appended without a lookup: bn_tokenizer_create refuses duplicate tokens, so keys are
     * unique */
    for (int32_t id = 0; id < s->n_tokens && !w->failed; id++)
        if (!w->is_added[id])
            put(w, vocab, s->tokens[id], cJSON_CreateNumber(id));
    for (int32_t r = 0; r < s->n_merges && !w->failed; r++) {
        const char *mg = s->merges[r], *sp = strchr(mg, ' '); /* one space: check() */
        cJSON *pair = put(w, merges, NULL, cJSON_CreateArray());
        char *left = strndup(mg, (size_t)(sp - mg));
        put(w, pair, NULL, left ? cJSON_CreateString(left) : NULL);
        put(w, pair, NULL, cJSON_CreateString(sp + 1));
        free(left);
    }
    return m;
}

static cJSON *tokenizer_json(writer *w, const bn_tok_added *added) {
    const bn_tokenizer_spec *s = w->s;
    cJSON *root = cJSON_CreateObject();
    put_str(w, root, "version", "1.0");
    put_null(w, root, "truncation");
    put_null(w, root, "padding");
    cJSON *list = put(w, root, "added_tokens", cJSON_CreateArray());
    for (int32_t i = 0; i < s->n_added; i++)
        put(w, list, NULL, added_entry(w, s, &added[i], true));
    put_null(w, root, "normalizer");
    put(w, root, "pre_tokenizer", pre_tokenizer(w));
    put(w, root, "post_processor", post_processor(w));
    put(w, root, "decoder", byte_level(w, true, true, true));
    put(w, root, "model", model(w));
    return root;
}

/* tokenizer_config.json as transformers saves it for a PreTrainedTokenizerFast. */
static cJSON *tokenizer_config(writer *w, const bn_tok_added *added) {
    const bn_tokenizer_spec *s = w->s;
    cJSON *root = cJSON_CreateObject();
    cJSON *decoder = put(w, root, "added_tokens_decoder", cJSON_CreateObject());
    for (int32_t i = 0; i < s->n_added; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", (int)added[i].id);
        put(w, decoder, key, added_entry(w, s, &added[i], false));
    }
    const struct {
        const char *key;
        int32_t id;
    } names[] = {{"bos_token", s->bos_id},
                 {"eos_token", s->eos_id},
                 {"pad_token", s->pad_id},
                 {"unk_token", s->unk_id}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].id >= 0 && names[i].id < s->n_tokens)
            put_str(w, root, names[i].key, s->tokens[names[i].id]);
    if (s->chat_template != NULL)
        put_str(w, root, "chat_template", s->chat_template);
    /* byte-level decoding gives the text back exactly; transformers' clean-up would remove the
     * space before punctuation */
    put_bool(w, root, "clean_up_tokenization_spaces", false);
    cJSON *input_names = put(w, root, "model_input_names", cJSON_CreateArray());
    put(w, input_names, NULL, cJSON_CreateString("input_ids"));
    put(w, input_names, NULL, cJSON_CreateString("attention_mask"));
    put_str(w, root, "tokenizer_class", "PreTrainedTokenizerFast");
    return root;
}

/* Print doc into dir/name through an outfile. */
static bn_status write_json(const writer *w, const char *name, cJSON *doc) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", w->dir, name) >= (int)sizeof path)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: path too long", w->dir);
    char *text = cJSON_Print(doc);
    if (text == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: printing the JSON", path);
    bn_outfile f;
    bn_status st = bn_outfile_open(&f, path);
    if (st == BN_OK)
        st = bn_outfile_write(&f, text, strlen(text));
    if (st == BN_OK)
        st = bn_outfile_write(&f, "\n", 1);
    if (st == BN_OK)
        st = bn_outfile_commit(&f);
    else
        bn_outfile_discard(&f);
    cJSON_free(text);
    return st;
}

/* What the writer cannot put into JSON, or what would not read back as the same tokenizer. */
static bn_status check(writer *w) {
    const bn_tokenizer_spec *s = w->s;
    if (s->model != BN_TOK_BYTE_BPE)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: only byte-level BPE tokenizers are written as tokenizer.json "
                        "(this one is SentencePiece-style)",
                        w->dir);
    if (s->n_merges == 0 && s->scores != NULL)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: the tokenizer ranks merges by scores, which tokenizer.json cannot "
                        "say",
                        w->dir);
    if (s->n_splits == 0 && !s->gpt2_regex)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "%s: the tokenizer has no pre-tokenizer regex (the whole text would be "
                        "one word)",
                        w->dir);
    for (int32_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i] == NULL || s->tokens[i][0] == '\0' || !utf8_ok(s->tokens[i]))
            return BN_ERROR(BN_ERR_FORMAT, "%s: token %d is empty or not valid UTF-8", w->dir,
                            (int)i);
    for (int32_t r = 0; r < s->n_merges; r++) {
        const char *mg = s->merges[r], *sp = mg ? strchr(mg, ' ') : NULL;
        if (sp == NULL || sp == mg || sp[1] == '\0' || strchr(sp + 1, ' ') != NULL)
            return BN_ERROR(BN_ERR_FORMAT, "%s: merge %d '%s' is not two pieces split by a space",
                            w->dir, (int)r, mg ? mg : "(null)");
        if (!utf8_ok(mg))
            return BN_ERROR(BN_ERR_FORMAT, "%s: merge %d is not valid UTF-8", w->dir, (int)r);
    }
    for (int i = 0; i < s->n_splits; i++)
        if (behavior_name(s->splits[i].behavior) == NULL || s->splits[i].regex == NULL ||
            !utf8_ok(s->splits[i].regex))
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: Split pre-tokenizer %d has no valid pattern or behaviour", w->dir,
                            i);
    for (int i = 0; i < s->n_prefix + s->n_suffix; i++) {
        int32_t id = i < s->n_prefix ? s->prefix[i] : s->suffix[i - s->n_prefix];
        if (id < 0 || id >= s->n_tokens)
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: the post-processor adds token %d, outside the vocabulary", w->dir,
                            (int)id);
    }
    if (s->chat_template != NULL && !utf8_ok(s->chat_template))
        return BN_ERROR(BN_ERR_FORMAT, "%s: the chat template is not valid UTF-8", w->dir);
    if ((w->is_added = calloc((size_t)s->n_tokens + 1, sizeof *w->is_added)) == NULL)
        return oom(w);
    for (int32_t i = 0; i < s->n_added; i++) {
        int32_t id = s->added[i].id;
        if (id < 0 || id >= s->n_tokens || w->is_added[id])
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: added token id %d is outside the vocabulary or "
                            "listed twice",
                            w->dir, (int)id);
        w->is_added[id] = true;
    }
    return BN_OK;
}

bn_status bn_tokenizer_spec_write_hf(const bn_tokenizer_spec *s, const char *dir) {
    writer w = {.s = s, .dir = dir};
    cJSON *json = NULL, *config = NULL;
    bn_tok_added *added = NULL;
    bn_status st = check(&w);
    if (st == BN_OK && (added = sorted_added(s)) == NULL)
        st = oom(&w);
    if (st == BN_OK) {
        json = tokenizer_json(&w, added);
        config = tokenizer_config(&w, added);
        if (w.failed || json == NULL || config == NULL)
            st = oom(&w);
    }
    if (st == BN_OK)
        st = write_json(&w, "tokenizer.json", json);
    if (st == BN_OK)
        st = write_json(&w, "tokenizer_config.json", config);
    cJSON_Delete(json);
    cJSON_Delete(config);
    free(added);
    free(w.is_added);
    return st;
}
