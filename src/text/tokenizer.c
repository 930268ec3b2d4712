/*
 * tokenizer.c - building a bn_tokenizer from a spec: the lookup tables every encode and decode
 * uses, checked once here so that encoding can trust them.
 */
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

#include "io/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small shared pieces ----------------------------------------------------------------- */

uint64_t bn_tok_hash(const uint8_t *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

int32_t bn_tok_lookup(const bn_tokenizer *t, const uint8_t *s, size_t n) {
    for (uint32_t i = (uint32_t)bn_tok_hash(s, n) & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t id = t->map[i];
        if (id < 0)
            return -1;
        if (t->key_len[id] == n && memcmp(t->key[id], s, n) == 0)
            return id;
    }
}

static uint32_t pair_slot(uint64_t key, uint32_t mask) {
    key ^= key >> 31;
    key *= 0x7FB5D329728EA185ull;
    return (uint32_t)(key >> 32) & mask;
}

int32_t bn_tok_pair(const bn_tokenizer *t, int32_t left, int32_t right, int32_t *result) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = pair_slot(key, t->pair_mask);; i = (i + 1) & t->pair_mask) {
        if (t->pair_key[i] == UINT64_MAX)
            return -1;
        if (t->pair_key[i] == key) {
            *result = t->pair_result[i];
            return t->pair_rank[i];
        }
    }
}

uint32_t bn_byte_to_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        return b;
    /* the 68 others, in byte order, from U+0100 */
    uint32_t k = 0;
    for (uint32_t x = 0; x < b; x++)
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE))
            k++;
    return 0x100 + k;
}

int bn_cp_to_byte(uint32_t cp) {
    static int16_t table[0x144];
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        int16_t tmp[0x144];
        for (int i = 0; i < 0x144; i++)
            tmp[i] = -1;
        for (int b = 0; b < 256; b++)
            tmp[bn_byte_to_cp((uint8_t)b)] = (int16_t)b;
        memcpy(table, tmp, sizeof table); /* every thread computes the same table */
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    return cp < 0x144 ? table[cp] : -1;
}

bn_status bn_tokens_push(bn_tokens *t, int32_t id) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        int32_t *ids = realloc(t->ids, cap * sizeof *ids);
        if (ids == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "token ids");
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->n++] = id;
    return BN_OK;
}

void bn_tokens_free(bn_tokens *t) {
    free(t->ids);
    *t = (bn_tokens){0};
}

bn_status bn_bytes_append(bn_bytes *b, const void *data, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "text buffer");
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->n, data, n);
    b->n += n;
    b->data[b->n] = '\0'; /* room was kept: callers may print data directly */
    return BN_OK;
}

void bn_bytes_free(bn_bytes *b) {
    free(b->data);
    *b = (bn_bytes){0};
}

/* ---- token bytes ------------------------------------------------------------------------- */

static bool is_added(int32_t type) {
    return type == BN_TOKEN_CONTROL || type == BN_TOKEN_USER_DEFINED || type == BN_TOKEN_UNKNOWN;
}

/* Byte-level token text "Ġhello" -> bytes " hello". A character outside GPT-2's table (a token
 * that was never byte-level encoded) keeps its UTF-8 bytes. */
static size_t bytelevel_decode(const char *text, uint8_t *dst) {
    const uint8_t *s = (const uint8_t *)text;
    size_t n = strlen(text), o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = bn_utf8_valid_len(s + i, n - i);
        if (k == 0) {
            dst[o++] = s[i++];
            continue;
        }
        int b = bn_cp_to_byte(bn_utf8_decode(s + i, &k));
        if (b >= 0) {
            dst[o++] = (uint8_t)b;
        } else {
            memcpy(dst + o, s + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

/* SentencePiece piece "▁hello" -> " hello". */
static size_t metaspace_decode(const char *text, uint8_t *dst) {
    size_t o = 0;
    for (const char *p = text; *p;) {
        if (strncmp(p, "\xe2\x96\x81", 3) == 0) { /* strncmp: stops at the NUL */
            dst[o++] = ' ';
            p += 3;
        } else {
            dst[o++] = (uint8_t)*p++;
        }
    }
    return o;
}

/* "<0x41>" -> 0x41, or -1. */
static int byte_token_value(const char *text) {
    unsigned v;
    char end;
    if (strlen(text) == 6 && sscanf(text, "<0x%2X%c", &v, &end) == 2 && end == '>')
        return (int)v;
    return -1;
}

static bn_status build_bytes(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    size_t total = 0;
    for (int32_t i = 0; i < t->n; i++)
        total += 2 * strlen(s->tokens[i]) + 2;
    t->arena = malloc(total);
    if (t->arena == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "token bytes");
    uint8_t *p = t->arena;
    for (int32_t i = 0; i < t->n; i++) {
        const char *text = s->tokens[i];
        int32_t type = s->types[i];
        size_t len = strlen(text), k;
        int byte = s->decode_byte_tokens && (type == BN_TOKEN_BYTE || type == BN_TOKEN_NORMAL)
                       ? byte_token_value(text)
                       : -1;
        if (s->model == BN_TOK_BYTE_BPE && !is_added(type))
            k = bytelevel_decode(text, p);
        else
            k = (memcpy(p, text, len), len);
        t->key[i] = p;
        t->key_len[i] = (uint32_t)k;
        p += k;
        if (s->model == BN_TOK_SPM_BPE && !is_added(type)) {
            if (byte >= 0) {
                *p = (uint8_t)byte;
                k = 1;
            } else {
                k = metaspace_decode(text, p);
            }
            t->out[i] = p;
            t->out_len[i] = (uint32_t)k;
            p += k;
        } else {
            t->out[i] = t->key[i];
            t->out_len[i] = t->key_len[i];
        }
    }
    return BN_OK;
}

/* ---- token map --------------------------------------------------------------------------- */

static uint32_t table_size(uint64_t n) {
    uint32_t size = 64;
    while (size < 2 * n)
        size *= 2;
    return size;
}

/* Whether some piece has a ▁ right after another character ("a▁b"): only such a piece lets a
 * merge cross the boundary in front of a word's ▁. */
static bool spm_words_independent(const bn_tokenizer *t) {
    static const uint8_t ms[3] = {0xE2, 0x96, 0x81};
    for (int32_t id = 0; id < t->n; id++) {
        if (t->spec->types[id] != BN_TOKEN_NORMAL)
            continue;
        const uint8_t *k = t->key[id];
        for (uint32_t i = 1; i + 3 <= t->key_len[id]; i++)
            if (memcmp(k + i, ms, 3) == 0 && (i < 3 || memcmp(k + i - 3, ms, 3) != 0))
                return false;
    }
    return true;
}

static bn_status build_map(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    uint32_t size = table_size((uint64_t)t->n);
    t->map_mask = size - 1;
    if ((t->map = malloc(size * sizeof *t->map)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "token map");
    memset(t->map, 0xFF, size * sizeof *t->map);
    for (int32_t id = 0; id < t->n; id++) {
        if (s->types[id] != BN_TOKEN_NORMAL && s->types[id] != BN_TOKEN_BYTE)
            continue;
        uint32_t i = (uint32_t)bn_tok_hash(t->key[id], t->key_len[id]) & t->map_mask;
        for (; t->map[i] >= 0; i = (i + 1) & t->map_mask) {
            int32_t other = t->map[i];
            if (t->key_len[other] == t->key_len[id] &&
                memcmp(t->key[other], t->key[id], t->key_len[id]) == 0)
                return BN_ERROR(BN_ERR_FORMAT, "duplicate token '%s': ids %d and %d", s->tokens[id],
                                other, id);
        }
        t->map[i] = id;
    }
    return BN_OK;
}

/* ---- merges ------------------------------------------------------------------------------ */

static bn_status pairs_alloc(bn_tokenizer *t, uint64_t n) {
    uint32_t size = table_size(n);
    t->pair_mask = size - 1;
    t->pair_key = malloc(size * sizeof *t->pair_key);
    t->pair_rank = malloc(size * sizeof *t->pair_rank);
    t->pair_result = malloc(size * sizeof *t->pair_result);
    if (t->pair_key == NULL || t->pair_rank == NULL || t->pair_result == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "merge table");
    memset(t->pair_key, 0xFF, size * sizeof *t->pair_key);
    return BN_OK;
}

/* Keeps the first (best) rank when a pair comes twice. */
static void pair_insert(bn_tokenizer *t, int32_t left, int32_t right, int32_t rank,
                        int32_t result) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t i = pair_slot(key, t->pair_mask);
    for (; t->pair_key[i] != UINT64_MAX; i = (i + 1) & t->pair_mask)
        if (t->pair_key[i] == key)
            return;
    t->pair_key[i] = key;
    t->pair_rank[i] = rank;
    t->pair_result[i] = result;
}

/* One piece of a merge, in key form, looked up. */
static bn_status merge_piece(bn_tokenizer *t, int32_t rank, const char *text, size_t len,
                             uint8_t *tmp, int32_t *id) {
    char *piece = (char *)tmp + 2 * len + 8; /* past what bytelevel_decode writes */
    memcpy(piece, text, len);
    piece[len] = '\0';
    size_t k = t->spec->model == BN_TOK_BYTE_BPE ? bytelevel_decode(piece, tmp)
                                                 : (memcpy(tmp, piece, len), len);
    if ((*id = bn_tok_lookup(t, tmp, k)) < 0)
        return BN_ERROR(BN_ERR_FORMAT, "merge %d '%s': '%s' is not in the vocabulary", rank,
                        t->spec->merges[rank], piece);
    return BN_OK;
}

static bn_status pairs_from_merges(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    BN_TRY(pairs_alloc(t, (uint64_t)s->n_merges));
    size_t longest = 0;
    for (int32_t r = 0; r < s->n_merges; r++)
        if (strlen(s->merges[r]) > longest)
            longest = strlen(s->merges[r]);
    uint8_t *tmp = malloc(4 * longest + 16);
    if (tmp == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "merges");
    bn_status st = BN_OK;
    for (int32_t r = 0; r < s->n_merges && st == BN_OK; r++) {
        const char *m = s->merges[r];
        const char *sp = m[0] ? strchr(m + 1, ' ') : NULL; /* llama.cpp: first space after 0 */
        if (sp == NULL || sp[1] == '\0') {
            st = BN_ERROR(BN_ERR_FORMAT, "merge %d '%s' is not two pieces split by a space", r, m);
            break;
        }
        int32_t left, right, result;
        size_t llen = (size_t)(sp - m), rlen = strlen(sp + 1);
        char *joined = malloc(llen + rlen + 1);
        if (joined == NULL) {
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "merges");
            break;
        }
        memcpy(joined, m, llen);
        memcpy(joined + llen, sp + 1, rlen + 1);
        st = merge_piece(t, r, m, llen, tmp, &left);
        if (st == BN_OK)
            st = merge_piece(t, r, sp + 1, rlen, tmp, &right);
        if (st == BN_OK)
            st = merge_piece(t, r, joined, llen + rlen, tmp, &result);
        free(joined);
        if (st == BN_OK)
            pair_insert(t, left, right, r, result);
    }
    free(tmp);
    return st;
}

/* SentencePiece files without merges: every split of a piece into two pieces is a merge, and
 * pieces with higher scores merge first (what SentencePiece's BPE does). */
typedef struct scored {
    float score;
    int32_t id;
} scored;

static int cmp_scored(const void *a, const void *b) { /* higher score first, then lower id */
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bn_status pairs_from_scores(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    scored *order = malloc((size_t)t->n * sizeof *order);
    if (order == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "score order");
    uint64_t n_pairs = 0;
    int32_t n_order = 0;
    for (int32_t i = 0; i < t->n; i++)
        if (s->types[i] == BN_TOKEN_NORMAL && t->key_len[i] > 1) {
            order[n_order++] = (scored){s->scores[i], i};
            n_pairs += t->key_len[i];
        }
    qsort(order, (size_t)n_order, sizeof *order, cmp_scored);
    bn_status st = pairs_alloc(t, n_pairs);
    for (int32_t r = 0; r < n_order && st == BN_OK; r++) {
        int32_t id = order[r].id;
        const uint8_t *k = t->key[id];
        for (uint32_t cut = 1; cut < t->key_len[id]; cut++) {
            if ((k[cut] & 0xC0) == 0x80)
                continue; /* only between characters */
            int32_t left = bn_tok_lookup(t, k, cut);
            int32_t right = bn_tok_lookup(t, k + cut, t->key_len[id] - cut);
            if (left >= 0 && right >= 0)
                pair_insert(t, left, right, r, id);
        }
    }
    free(order);
    return st;
}

/* ---- bytes, added tokens, regexes -------------------------------------------------------- */

static bn_status build_byte_ids(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = -1;
    if (s->model == BN_TOK_BYTE_BPE) {
        for (int b = 0; b < 256; b++) {
            uint8_t c = (uint8_t)b;
            t->byte_id[b] = bn_tok_lookup(t, &c, 1);
        }
        return BN_OK;
    }
    for (int32_t i = 0; i < t->n; i++) {
        int v = s->types[i] == BN_TOKEN_BYTE || s->types[i] == BN_TOKEN_NORMAL
                    ? byte_token_value(s->tokens[i])
                    : -1;
        if (v >= 0 && t->byte_id[v] < 0) {
            t->byte_id[v] = i;
            s->types[i] = BN_TOKEN_BYTE;
        }
    }
    for (int b = 0; s->byte_fallback && b < 256; b++)
        if (t->byte_id[b] < 0)
            return BN_ERROR(BN_ERR_FORMAT,
                            "byte_fallback is set but byte token <0x%02X> is not in "
                            "the vocabulary",
                            b);
    return BN_OK;
}

static int32_t trie_child(bn_tokenizer *t, int32_t node, uint8_t byte, bool create) {
    int32_t c = t->trie[node].child;
    for (; c >= 0; c = t->trie[c].sibling)
        if (t->trie[c].byte == byte)
            return c;
    if (!create)
        return -1;
    c = t->n_trie++;
    t->trie[c] =
        (bn_trie_node){.child = -1, .sibling = t->trie[node].child, .added = -1, .byte = byte};
    t->trie[node].child = c;
    return c;
}

static bn_status build_trie(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    size_t nodes = 1;
    for (int32_t a = 0; a < s->n_added; a++)
        nodes += t->key_len[s->added[a].id];
    if ((t->trie = malloc(nodes * sizeof *t->trie)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "added-token trie");
    t->trie[0] = (bn_trie_node){.child = -1, .sibling = -1, .added = -1};
    t->n_trie = 1;
    for (int32_t a = 0; a < s->n_added; a++) {
        int32_t id = s->added[a].id, node = 0;
        if (id < 0 || id >= t->n)
            return BN_ERROR(BN_ERR_FORMAT, "added token id %d is outside the vocabulary", id);
        for (uint32_t i = 0; i < t->key_len[id]; i++)
            node = trie_child(t, node, t->key[id][i], true);
        if (t->key_len[id] == 0)
            return BN_ERROR(BN_ERR_FORMAT, "added token %d is empty", id);
        t->first_byte[t->key[id][0]] = 1;
        if (t->trie[node].added < 0)
            t->trie[node].added = a;
    }
    return BN_OK;
}

/* Unicode White_Space, which is what \s means to Oniguruma, the regex engine of tokenizers.
 * PCRE2's \s (with UCP) also takes U+180E, which Unicode stopped calling a space in 6.3: we
 * spell the class out so both engines split the same text the same way. */
#define WHITE_SPACE                                                                                \
    "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"                                 \
    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Rewrite \s and \S of a tokenizers regex into PCRE2 classes (see WHITE_SPACE). */
static bn_status rewrite_spaces(const char *pattern, char **out) {
    size_t n = strlen(pattern), o = 0;
    char *r = malloc(n * (sizeof WHITE_SPACE + 4) + 1);
    if (r == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "regex");
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < n && pattern[i + 1] == 'Q') { /* \Q..\E is literal text */
            const char *e = strstr(pattern + i + 2, "\\E");
            size_t end = e != NULL ? (size_t)(e - pattern) + 2 : n;
            memcpy(r + o, pattern + i, end - i);
            o += end - i;
            i = end - 1;
            continue;
        }
        if (c == '\\' && i + 1 < n && (pattern[i + 1] == 's' || pattern[i + 1] == 'S')) {
            bool neg = pattern[++i] == 'S';
            if (in_class && neg) {
                free(r);
                return BN_ERROR(BN_ERR_UNSUPPORTED,
                                "pre-tokenizer regex uses \\S inside a "
                                "character class: %.60s",
                                pattern);
            }
            o += (size_t)sprintf(r + o, in_class ? "%s" : neg ? "[^%s]" : "[%s]", WHITE_SPACE);
            continue;
        }
        if (c == '\\' && i + 1 < n) { /* any other escape is copied whole */
            r[o++] = c;
            r[o++] = pattern[++i];
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            r[o++] = c;
            if (i + 1 < n && pattern[i + 1] == '^')
                r[o++] = pattern[++i];
            if (i + 1 < n && pattern[i + 1] == ']') /* a leading ] is a literal */
                r[o++] = pattern[++i];
            continue;
        }
        if (c == ']' && in_class)
            in_class = false;
        r[o++] = c;
    }
    r[o] = '\0';
    *out = r;
    return BN_OK;
}

static bn_status compile_regex(bn_tokenizer *t, const char *source, bn_split_behavior b) {
    int err;
    PCRE2_SIZE at;
    char *pattern = NULL;
    BN_TRY(rewrite_spaces(source, &pattern));
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err, &at,
                                   NULL); /* \C could end a piece inside a character */
    free(pattern);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return BN_ERROR(BN_ERR_FORMAT, "pre-tokenizer regex does not compile: %s (%.60s)",
                        (const char *)msg, source);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT, pcre2_match interprets */
    t->re[t->n_re] = re;
    t->re_behavior[t->n_re++] = b;
    return BN_OK;
}

/* single_word added tokens must not touch a word character, where "word" is the regex crate's
 * Unicode \w (tokenizers' AddedVocabulary uses \b): Alphabetic, marks, decimal digits,
 * connector punctuation and the joiners. PCRE2's own \w differs (all of N, no marks). */
static const char WORD_CHAR_REGEX[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]";

static bn_status build_regexes(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    int err;
    PCRE2_SIZE at;
    t->word_char = pcre2_compile((PCRE2_SPTR)WORD_CHAR_REGEX, PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &at, NULL);
    if (t->word_char == NULL)
        return BN_ERROR(BN_ERR_INTERNAL, "the word-character class does not compile (PCRE2 %d)",
                        err);
    for (int i = 0; i < s->n_splits; i++)
        BN_TRY(compile_regex(t, s->splits[i].regex, s->splits[i].behavior));
    if (s->gpt2_regex)
        BN_TRY(compile_regex(t, BN_GPT2_SPLIT_REGEX, BN_SPLIT_ISOLATED));
    return BN_OK;
}

static void build_flags(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    for (int32_t a = 0; a < s->n_added; a++)
        if (s->added[a].special)
            t->flags[s->added[a].id] |= BN_TF_SPECIAL;
    for (int i = 0; i < s->n_eog; i++)
        t->flags[s->eog[i]] |= BN_TF_EOG;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static bn_status build(bn_tokenizer *t) {
    const bn_tokenizer_spec *s = t->spec;
    t->n = s->n_tokens;
    t->key = calloc((size_t)t->n, sizeof *t->key);
    t->out = calloc((size_t)t->n, sizeof *t->out);
    t->key_len = calloc((size_t)t->n, sizeof *t->key_len);
    t->out_len = calloc((size_t)t->n, sizeof *t->out_len);
    t->flags = calloc((size_t)t->n, 1);
    t->cache = calloc(BN_CACHE_SLOTS, sizeof *t->cache);
    if (!t->key || !t->out || !t->key_len || !t->out_len || !t->flags || !t->cache)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tokenizer of %d tokens", t->n);
    BN_TRY(build_bytes(t));
    BN_TRY(build_map(t));
    t->spm_words_independent = s->model == BN_TOK_SPM_BPE && spm_words_independent(t);
    if (s->n_merges > 0 || s->scores == NULL)
        BN_TRY(pairs_from_merges(t));
    else
        BN_TRY(pairs_from_scores(t));
    BN_TRY(build_byte_ids(t));
    BN_TRY(build_trie(t));
    BN_TRY(build_regexes(t));
    build_flags(t);
    return BN_OK;
}

bn_status bn_tokenizer_create(bn_tokenizer **out, bn_tokenizer_spec *spec) {
    *out = NULL;
    bn_tokenizer *t = calloc(1, sizeof *t);
    if (t == NULL) {
        bn_tokenizer_spec_free(spec);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tokenizer");
    }
    t->spec = spec;
    pthread_mutex_init(&t->cache_lock, NULL);
    bn_status st = build(t);
    if (st != BN_OK) {
        bn_tokenizer_free(t);
        return st;
    }
    *out = t;
    return BN_OK;
}

static bool is_gguf_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    if (f == NULL)
        return false;
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    return got == 4 && memcmp(magic, "GGUF", 4) == 0;
}

bn_status bn_tokenizer_load(bn_tokenizer **out, const char *path) {
    *out = NULL;
    bn_tokenizer_spec *spec = NULL;
    if (is_gguf_file(path)) {
        bn_gguf *g;
        BN_TRY(bn_gguf_open(&g, path));
        bn_status st = bn_tokenizer_spec_load_gguf(&spec, g);
        bn_gguf_close(g);
        BN_TRY(st);
    } else {
        BN_TRY(bn_tokenizer_spec_load_hf(&spec, path));
    }
    return bn_tokenizer_create(out, spec);
}

void bn_tokenizer_free(bn_tokenizer *t) {
    if (t == NULL)
        return;
    for (int i = 0; i < t->n_re; i++)
        pcre2_code_free(t->re[i]);
    pcre2_code_free(t->word_char);
    pthread_mutex_destroy(&t->cache_lock);
    free(t->key);
    free(t->out);
    free(t->key_len);
    free(t->out_len);
    free(t->flags);
    free(t->arena);
    free(t->map);
    free(t->pair_key);
    free(t->pair_rank);
    free(t->pair_result);
    free(t->trie);
    free(t->cache);
    bn_tokenizer_spec_free(t->spec);
    free(t);
}

const bn_tokenizer_spec *bn_tokenizer_spec_of(const bn_tokenizer *t) {
    return t->spec;
}

int32_t bn_tokenizer_n_vocab(const bn_tokenizer *t) {
    return t->n;
}
