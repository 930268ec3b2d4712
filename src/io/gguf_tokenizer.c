/*
 * gguf_tokenizer.c - the tokenizer.* keys of GGUF <-> bn_tokenizer_spec.
 *
 * GGUF names a tokenizer rather than describing it: tokenizer.ggml.model says byte-level
 * ("gpt2") or SentencePiece ("llama"), tokenizer.ggml.pre names the pre-tokenizer regex set.
 * What a name cannot say (a custom Split regex, Metaspace's "first" scheme) we write under
 * tokenizer.bitnet.* keys, which other readers ignore.
 */
#include "io/gguf.h"
#include "io/tokenizer_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MODEL    "tokenizer.ggml.model"
#define KEY_PRE      "tokenizer.ggml.pre"
#define KEY_TOKENS   "tokenizer.ggml.tokens"
#define KEY_TYPES    "tokenizer.ggml.token_type"
#define KEY_SCORES   "tokenizer.ggml.scores"
#define KEY_MERGES   "tokenizer.ggml.merges"
#define KEY_SPLITS   "tokenizer.bitnet.split_regex"
#define KEY_BEHAVE   "tokenizer.bitnet.split_behavior"
#define KEY_PREPEND  "tokenizer.bitnet.prepend_scheme"
#define KEY_MSPLIT   "tokenizer.bitnet.metaspace_split"
#define KEY_IGNORE   "tokenizer.bitnet.ignore_merges"
#define KEY_GPT2     "tokenizer.bitnet.gpt2_regex"
#define KEY_PREFIXSP "tokenizer.bitnet.add_prefix_space"
#define KEY_DECBYTES "tokenizer.bitnet.decode_byte_tokens"

static const char *const prepend_names[] = {"none", "always", "if_missing", "first"};

/* ---- reading ----------------------------------------------------------------------------- */

static bn_status get_opt_bool(const bn_gguf *g, const char *key, bool *v) {
    return bn_gguf_find(g, key) ? bn_gguf_get_bool(g, key, v) : BN_OK;
}

static bn_status get_opt_id(const bn_gguf *g, const bn_tokenizer_spec *s, const char *key,
                            int32_t *id) {
    if (bn_gguf_find(g, key) == NULL)
        return BN_OK;
    uint32_t v;
    BN_TRY(bn_gguf_get_u32(g, key, &v));
    if (v >= (uint32_t)s->n_tokens)
        return BN_ERROR(BN_ERR_RANGE, "%s = %u is not below the vocabulary size %d", key, v,
                        s->n_tokens);
    *id = (int32_t)v;
    return BN_OK;
}

/* An optional array with one element per token. */
static bn_status get_per_token(const bn_gguf *g, const bn_tokenizer_spec *s, const char *key,
                               const bn_gguf_array **a) {
    *a = NULL;
    if (bn_gguf_find(g, key) == NULL)
        return BN_OK;
    BN_TRY(bn_gguf_get_arr(g, key, a));
    if ((*a)->count != (uint64_t)s->n_tokens)
        return BN_ERROR(BN_ERR_FORMAT, "%s has %llu entries for %d tokens", key,
                        (unsigned long long)(*a)->count, s->n_tokens);
    return BN_OK;
}

static bn_status read_tokens(bn_tokenizer_spec *s, const bn_gguf *g) {
    const bn_gguf_array *tokens, *types, *scores;
    BN_TRY(bn_gguf_get_arr(g, KEY_TOKENS, &tokens));
    if (tokens->type != BN_GGUF_STRING || tokens->count == 0 || tokens->count > (1u << 24))
        return BN_ERROR(BN_ERR_FORMAT, KEY_TOKENS " must be a non-empty array of strings");
    BN_TRY(bn_tokenizer_spec_alloc(s, (int32_t)tokens->count, "GGUF vocabulary"));
    BN_TRY(get_per_token(g, s, KEY_TYPES, &types));
    BN_TRY(get_per_token(g, s, KEY_SCORES, &scores));
    if (scores != NULL && (s->scores = malloc((size_t)s->n_tokens * sizeof(float))) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF vocabulary scores");
    for (int32_t i = 0; i < s->n_tokens; i++) {
        bn_gguf_str str;
        int64_t type = BN_TOKEN_NORMAL;
        BN_TRY(bn_gguf_arr_get_str(tokens, (uint64_t)i, &str));
        if (types != NULL)
            BN_TRY(bn_gguf_arr_get_i64(types, (uint64_t)i, &type));
        if (type < BN_TOKEN_NORMAL || type > BN_TOKEN_BYTE)
            return BN_ERROR(BN_ERR_FORMAT, KEY_TYPES "[%d] = %lld is not a token type (1..6)", i,
                            (long long)type);
        if (str.len == 0 || memchr(str.data, '\0', str.len) != NULL)
            return BN_ERROR(BN_ERR_FORMAT, KEY_TOKENS "[%d] is empty or contains a NUL byte", i);
        if ((s->tokens[i] = strndup(str.data, str.len)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF vocabulary");
        s->types[i] = (int32_t)type;
        double score = 0;
        if (scores != NULL)
            BN_TRY(bn_gguf_arr_get_f64(scores, (uint64_t)i, &score));
        if (s->scores != NULL)
            s->scores[i] = (float)score;
    }
    return BN_OK;
}

static bn_status read_merges(bn_tokenizer_spec *s, const bn_gguf *g) {
    if (bn_gguf_find(g, KEY_MERGES) == NULL)
        return BN_OK;
    const bn_gguf_array *a;
    BN_TRY(bn_gguf_get_arr(g, KEY_MERGES, &a));
    if (a->type != BN_GGUF_STRING || a->count > (1u << 26))
        return BN_ERROR(BN_ERR_FORMAT, KEY_MERGES " must be an array of strings");
    if ((s->merges = calloc((size_t)a->count + 1, sizeof *s->merges)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF merges");
    for (uint64_t i = 0; i < a->count; i++) {
        bn_gguf_str str;
        BN_TRY(bn_gguf_arr_get_str(a, i, &str));
        if ((s->merges[i] = strndup(str.data, str.len)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF merges");
        s->n_merges = (int32_t)i + 1;
    }
    return BN_OK;
}

static bn_status read_splits(bn_tokenizer_spec *s, const bn_gguf *g) {
    const bn_gguf_array *re, *be = NULL;
    BN_TRY(bn_gguf_get_arr(g, KEY_SPLITS, &re));
    if (bn_gguf_find(g, KEY_BEHAVE) != NULL)
        BN_TRY(bn_gguf_get_arr(g, KEY_BEHAVE, &be));
    if (re->type != BN_GGUF_STRING || re->count > BN_TOK_MAX_SPLITS ||
        (be != NULL && be->count != re->count))
        return BN_ERROR(BN_ERR_FORMAT,
                        KEY_SPLITS " must hold at most %d strings, with as many " KEY_BEHAVE
                                   " entries",
                        BN_TOK_MAX_SPLITS);
    for (uint64_t i = 0; i < re->count; i++) {
        bn_gguf_str str;
        int64_t b = BN_SPLIT_ISOLATED;
        BN_TRY(bn_gguf_arr_get_str(re, i, &str));
        if (be != NULL)
            BN_TRY(bn_gguf_arr_get_i64(be, i, &b));
        if (b < BN_SPLIT_ISOLATED || b > BN_SPLIT_CONTIGUOUS)
            return BN_ERROR(BN_ERR_FORMAT, KEY_BEHAVE "[%llu] = %lld", (unsigned long long)i,
                            (long long)b);
        if ((s->splits[i].regex = strndup(str.data, str.len)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF split regex");
        s->splits[i].behavior = (bn_split_behavior)b;
        s->n_splits = (int)i + 1;
    }
    return BN_OK;
}

/* LLaMA-3's vocabulary: 128000 BPE tokens then <|begin_of_text|> (facts §2.1). */
static bool llama3_shaped(const bn_tokenizer_spec *s) {
    return s->n_tokens >= 128256 && strcmp(s->tokens[128000], "<|begin_of_text|>") == 0;
}

static bn_status byte_level_pre(bn_tokenizer_spec *s, const bn_gguf *g) {
    const char *pre = NULL;
    if (bn_gguf_find(g, KEY_SPLITS) != NULL)
        return read_splits(s, g);
    if (bn_gguf_find(g, KEY_PRE) != NULL)
        BN_TRY(bn_gguf_get_str(g, KEY_PRE, &pre));
    if (pre == NULL && llama3_shaped(s)) {
        pre = "llama-bpe";
        snprintf(s->note, sizeof s->note,
                 "no tokenizer.ggml.pre: LLaMA-3 vocabulary, so "
                 "LLaMA-3 pre-tokenizer rules assumed");
    } else if (pre == NULL) {
        pre = "gpt2";
        snprintf(s->note, sizeof s->note, "no tokenizer.ggml.pre: GPT-2 pre-tokenizer assumed");
    }
    if (strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0 ||
        strcmp(pre, "llama-v3") == 0) {
        s->splits[0] = (bn_tok_split){strdup(BN_LLAMA3_SPLIT_REGEX), BN_SPLIT_ISOLATED};
        if (s->splits[0].regex == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "pre-tokenizer");
        s->n_splits = 1;
        s->ignore_merges = true;
        snprintf(s->pre, sizeof s->pre, "llama-bpe");
    } else if (strcmp(pre, "gpt2") == 0 || strcmp(pre, "default") == 0) {
        s->gpt2_regex = true;
        snprintf(s->pre, sizeof s->pre, "gpt2");
    } else {
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        KEY_PRE " '%s' is not supported (llama-bpe, llama3, "
                                "llama-v3, gpt2, default)",
                        pre);
    }
    return BN_OK;
}

static bn_status spm_settings(bn_tokenizer_spec *s, const bn_gguf *g) {
    bool add_space = true;
    BN_TRY(get_opt_bool(g, "tokenizer.ggml.add_space_prefix", &add_space));
    s->prepend = add_space ? BN_PREPEND_ALWAYS : BN_PREPEND_NONE;
    if (bn_gguf_find(g, KEY_PREPEND) != NULL) {
        const char *name;
        BN_TRY(bn_gguf_get_str(g, KEY_PREPEND, &name));
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(name, prepend_names[i]) == 0)
                found = i;
        if (found < 0)
            return BN_ERROR(BN_ERR_FORMAT, KEY_PREPEND " '%s'", name);
        s->prepend = (bn_tok_prepend)found;
    }
    s->byte_fallback = true;
    s->replace_space = true;
    s->strip_leading_space = s->prepend != BN_PREPEND_NONE;
    s->decode_byte_tokens = true;
    BN_TRY(get_opt_bool(g, KEY_DECBYTES, &s->decode_byte_tokens));
    return get_opt_bool(g, KEY_MSPLIT, &s->metaspace_split);
}

static bn_status read_ids(bn_tokenizer_spec *s, const bn_gguf *g) {
    BN_TRY(get_opt_id(g, s, "tokenizer.ggml.bos_token_id", &s->bos_id));
    BN_TRY(get_opt_id(g, s, "tokenizer.ggml.eos_token_id", &s->eos_id));
    BN_TRY(get_opt_id(g, s, "tokenizer.ggml.eot_token_id", &s->eot_id));
    BN_TRY(get_opt_id(g, s, "tokenizer.ggml.unknown_token_id", &s->unk_id));
    BN_TRY(get_opt_id(g, s, "tokenizer.ggml.padding_token_id", &s->pad_id));
    if (s->unk_id < 0)
        for (int32_t i = 0; i < s->n_tokens && s->unk_id < 0; i++)
            if (s->types[i] == BN_TOKEN_UNKNOWN)
                s->unk_id = i;
    bool add_bos = s->model == BN_TOK_SPM_BPE || strcmp(s->pre, "llama-bpe") == 0;
    bool add_eos = false;
    BN_TRY(get_opt_bool(g, "tokenizer.ggml.add_bos_token", &add_bos));
    BN_TRY(get_opt_bool(g, "tokenizer.ggml.add_eos_token", &add_eos));
    if (add_bos && s->bos_id >= 0)
        s->prefix[s->n_prefix++] = s->bos_id;
    if (add_eos && s->eos_id >= 0)
        s->suffix[s->n_suffix++] = s->eos_id;
    return BN_OK;
}

/* Control, unknown and user-defined tokens are matched whole in the text, as llama.cpp does. */
static bn_status collect_added(bn_tokenizer_spec *s) {
    if ((s->added = calloc((size_t)s->n_tokens, sizeof *s->added)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "added tokens");
    for (int32_t i = 0; i < s->n_tokens; i++) {
        int32_t t = s->types[i];
        if (t == BN_TOKEN_CONTROL || t == BN_TOKEN_UNKNOWN || t == BN_TOKEN_USER_DEFINED)
            s->added[s->n_added++] = (bn_tok_added){.id = i, .special = t != BN_TOKEN_USER_DEFINED};
    }
    return BN_OK;
}

static bn_status load(bn_tokenizer_spec *s, const bn_gguf *g) {
    const char *model;
    BN_TRY(bn_gguf_get_str(g, KEY_MODEL, &model));
    if (strcmp(model, "gpt2") == 0)
        s->model = BN_TOK_BYTE_BPE;
    else if (strcmp(model, "llama") == 0)
        s->model = BN_TOK_SPM_BPE;
    else
        return BN_ERROR(BN_ERR_UNSUPPORTED, KEY_MODEL " '%s' is not supported (gpt2, llama)",
                        model);
    BN_TRY(read_tokens(s, g));
    BN_TRY(read_merges(s, g));
    if (s->model == BN_TOK_BYTE_BPE) {
        if (s->n_merges == 0)
            return BN_ERROR(BN_ERR_NOT_FOUND, "byte-level BPE without " KEY_MERGES);
        BN_TRY(byte_level_pre(s, g));
        BN_TRY(get_opt_bool(g, KEY_IGNORE, &s->ignore_merges));
        BN_TRY(get_opt_bool(g, KEY_GPT2, &s->gpt2_regex));
        BN_TRY(get_opt_bool(g, KEY_PREFIXSP, &s->add_prefix_space));
    } else {
        if (s->n_merges == 0 && s->scores == NULL)
            return BN_ERROR(BN_ERR_NOT_FOUND,
                            "SentencePiece vocabulary without " KEY_SCORES " or " KEY_MERGES);
        BN_TRY(spm_settings(s, g));
    }
    BN_TRY(read_ids(s, g));
    BN_TRY(collect_added(s));
    if (bn_gguf_find(g, "tokenizer.chat_template") != NULL) {
        const char *t;
        BN_TRY(bn_gguf_get_str(g, "tokenizer.chat_template", &t));
        if ((s->chat_template = strdup(t)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "chat template");
    }
    bn_tokenizer_spec_find_eog(s);
    return BN_OK;
}

bn_status bn_tokenizer_spec_load_gguf(bn_tokenizer_spec **out, const bn_gguf *g) {
    *out = NULL;
    bn_tokenizer_spec *s = calloc(1, sizeof *s);
    if (s == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tokenizer");
    s->unk_id = s->bos_id = s->eos_id = s->eot_id = s->pad_id = -1;
    bn_status st = load(s, g);
    if (st != BN_OK) {
        bn_tokenizer_spec_free(s);
        return st;
    }
    *out = s;
    return BN_OK;
}

/* ---- writing ----------------------------------------------------------------------------- */

typedef struct named_id {
    const char *text;
    int32_t id;
} named_id;

static int cmp_named(const void *a, const void *b) {
    return strcmp(((const named_id *)a)->text, ((const named_id *)b)->text);
}

/* SentencePiece readers (llama.cpp) merge by score, not by merge list: give each token the
 * score -(rank of the first merge that makes it), so both orders agree. */
static bn_status merge_scores(const bn_tokenizer_spec *s, float *scores) {
    named_id *byname = malloc((size_t)s->n_tokens * sizeof *byname);
    char *buf = malloc(4096);
    if (byname == NULL || buf == NULL) {
        free(byname);
        free(buf);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "merge scores");
    }
    for (int32_t i = 0; i < s->n_tokens; i++) {
        byname[i] = (named_id){s->tokens[i], i};
        scores[i] = s->types[i] == BN_TOKEN_NORMAL ? -1e9f : 0.0f;
    }
    qsort(byname, (size_t)s->n_tokens, sizeof *byname, cmp_named);
    for (int32_t r = s->n_merges - 1; r >= 0; r--) { /* backwards: the first merge wins */
        size_t j = 0;
        for (const char *p = s->merges[r]; *p && j < 4095; p++)
            if (*p != ' ' || p == s->merges[r])
                buf[j++] = *p;
        buf[j] = '\0';
        named_id key = {buf, 0};
        named_id *hit = bsearch(&key, byname, (size_t)s->n_tokens, sizeof *byname, cmp_named);
        if (hit != NULL)
            scores[hit->id] = -(float)r;
    }
    free(byname);
    free(buf);
    return BN_OK;
}

static bn_status write_splits(const bn_tokenizer_spec *s, bn_gguf_writer *w) {
    const char *re[BN_TOK_MAX_SPLITS];
    int32_t be[BN_TOK_MAX_SPLITS];
    for (int i = 0; i < s->n_splits; i++) {
        re[i] = s->splits[i].regex;
        be[i] = (int32_t)s->splits[i].behavior;
    }
    BN_TRY(bn_gguf_writer_set_arr_str(w, KEY_SPLITS, re, (uint64_t)s->n_splits));
    BN_TRY(bn_gguf_writer_set_arr(w, KEY_BEHAVE, BN_GGUF_I32, be, (uint64_t)s->n_splits));
    BN_TRY(bn_gguf_writer_set_bool(w, KEY_IGNORE, s->ignore_merges));
    BN_TRY(bn_gguf_writer_set_bool(w, KEY_GPT2, s->gpt2_regex));
    return bn_gguf_writer_set_bool(w, KEY_PREFIXSP, s->add_prefix_space);
}

static bn_status write_model(const bn_tokenizer_spec *s, bn_gguf_writer *w) {
    if (s->model == BN_TOK_BYTE_BPE) {
        BN_TRY(bn_gguf_writer_set_str(w, KEY_MODEL, "gpt2"));
        bool named = s->pre[0] != '\0' && !s->add_prefix_space &&
                     s->ignore_merges == (strcmp(s->pre, "llama-bpe") == 0);
        if (named)
            return bn_gguf_writer_set_str(w, KEY_PRE, s->pre);
        return write_splits(s, w); /* a regex set GGUF has no name for */
    }
    BN_TRY(bn_gguf_writer_set_str(w, KEY_MODEL, "llama"));
    BN_TRY(bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix",
                                   s->prepend != BN_PREPEND_NONE));
    if (s->prepend != BN_PREPEND_ALWAYS && s->prepend != BN_PREPEND_NONE)
        BN_TRY(bn_gguf_writer_set_str(w, KEY_PREPEND, prepend_names[s->prepend]));
    if (s->metaspace_split)
        BN_TRY(bn_gguf_writer_set_bool(w, KEY_MSPLIT, true));
    if (!s->decode_byte_tokens)
        BN_TRY(bn_gguf_writer_set_bool(w, KEY_DECBYTES, false));
    if (!s->byte_fallback)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "SentencePiece-style tokenizer without byte_fallback "
                                            "cannot be written to GGUF");
    float *scores = s->scores;
    if (scores == NULL) {
        if ((scores = malloc((size_t)s->n_tokens * sizeof *scores)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "scores");
        bn_status st = merge_scores(s, scores);
        if (st != BN_OK) {
            free(scores);
            return st;
        }
    }
    bn_status st =
        bn_gguf_writer_set_arr(w, KEY_SCORES, BN_GGUF_F32, scores, (uint64_t)s->n_tokens);
    if (scores != s->scores)
        free(scores);
    return st;
}

static bn_status set_id(bn_gguf_writer *w, const char *key, int32_t id) {
    return id >= 0 ? bn_gguf_writer_set_u32(w, key, (uint32_t)id) : BN_OK;
}

bn_status bn_tokenizer_spec_write_gguf(const bn_tokenizer_spec *s, bn_gguf_writer *w) {
    for (int32_t i = 0; i < s->n_added; i++)
        if (s->added[i].lstrip || s->added[i].rstrip || s->added[i].single_word)
            return BN_ERROR(BN_ERR_UNSUPPORTED,
                            "added token '%s' strips whitespace or matches "
                            "single words, which GGUF cannot record",
                            s->tokens[s->added[i].id]);
    if (s->n_prefix > 1 || s->n_suffix > 1 || (s->n_prefix == 1 && s->prefix[0] != s->bos_id) ||
        (s->n_suffix == 1 && s->suffix[0] != s->eos_id))
        return BN_ERROR(BN_ERR_UNSUPPORTED, "the post-processor adds tokens other than BOS first "
                                            "and EOS last, which GGUF cannot record");
    BN_TRY(write_model(s, w));
    BN_TRY(bn_gguf_writer_set_arr_str(w, KEY_TOKENS, (const char *const *)s->tokens,
                                      (uint64_t)s->n_tokens));
    BN_TRY(bn_gguf_writer_set_arr(w, KEY_TYPES, BN_GGUF_I32, s->types, (uint64_t)s->n_tokens));
    if (s->n_merges > 0)
        BN_TRY(bn_gguf_writer_set_arr_str(w, KEY_MERGES, (const char *const *)s->merges,
                                          (uint64_t)s->n_merges));
    BN_TRY(set_id(w, "tokenizer.ggml.bos_token_id", s->bos_id));
    BN_TRY(set_id(w, "tokenizer.ggml.eos_token_id", s->eos_id));
    BN_TRY(set_id(w, "tokenizer.ggml.eot_token_id", s->eot_id));
    BN_TRY(set_id(w, "tokenizer.ggml.unknown_token_id", s->unk_id));
    BN_TRY(set_id(w, "tokenizer.ggml.padding_token_id", s->pad_id));
    BN_TRY(bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", s->n_prefix == 1));
    BN_TRY(bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", s->n_suffix == 1));
    if (s->chat_template != NULL)
        BN_TRY(bn_gguf_writer_set_str(w, "tokenizer.chat_template", s->chat_template));
    return BN_OK;
}
