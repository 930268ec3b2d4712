/*
 * bpe_train.c - the byte-level BPE trainer of bpe_train.h.
 *
 * Tokens are raw bytes in one arena with a hash set over them. A training text is a few
 * kilobytes, so each round simply recounts every adjacent pair (sorting their keys) instead of
 * keeping counts up to date; the fill is one hash lookup per candidate, so a LLaMA-3-sized
 * vocabulary takes a fraction of a second.
 */
#include "text/bpe_train.h"
#include "text/tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct trainer {
    int32_t n, cap;      /* tokens made, tokens wanted */
    uint32_t *off, *len; /* token i is arena[off[i] .. off[i] + len[i]) */
    uint8_t *arena;
    size_t arena_n, arena_cap;
    int32_t *set; /* open addressing over the tokens' bytes; -1 marks an empty slot */
    uint32_t set_mask;
    int32_t (*merges)[2]; /* (left, right) by rank */
    int32_t n_merges, merges_cap;
    int32_t byte_id[256];
} trainer;

/* ---- the token set ----------------------------------------------------------------------- */

static bn_status trainer_init(trainer *tr, int32_t cap) {
    uint32_t size = 64;
    while (size < 2 * (uint32_t)cap)
        size *= 2;
    *tr = (trainer){.cap = cap, .set_mask = size - 1, .arena_cap = 16 * (size_t)cap};
    tr->off = malloc((size_t)cap * sizeof *tr->off);
    tr->len = malloc((size_t)cap * sizeof *tr->len);
    tr->arena = malloc(tr->arena_cap);
    tr->set = malloc(size * sizeof *tr->set);
    if (tr->off == NULL || tr->len == NULL || tr->arena == NULL || tr->set == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: %d tokens", (int)cap);
    memset(tr->set, 0xFF, size * sizeof *tr->set);
    return BN_OK;
}

static void trainer_free(trainer *tr) {
    free(tr->off);
    free(tr->len);
    free(tr->arena);
    free(tr->set);
    free(tr->merges);
}

/* The slot holding the token with bytes s[0..n), or the empty slot where it would go. */
static uint32_t set_slot(const trainer *tr, const uint8_t *s, size_t n) {
    uint32_t i = (uint32_t)bn_tok_hash(s, n) & tr->set_mask;
    for (; tr->set[i] >= 0; i = (i + 1) & tr->set_mask) {
        int32_t id = tr->set[i];
        if (tr->len[id] == n && memcmp(tr->arena + tr->off[id], s, n) == 0)
            break;
    }
    return i;
}

/* Room for `more` bytes at the end of the arena. */
static bn_status arena_reserve(trainer *tr, size_t more) {
    if (tr->arena_n + more <= tr->arena_cap)
        return BN_OK;
    size_t cap = 2 * tr->arena_cap + more;
    uint8_t *grown = realloc(tr->arena, cap);
    if (grown == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: token bytes");
    tr->arena = grown;
    tr->arena_cap = cap;
    return BN_OK;
}

/* The n bytes staged at the end of the arena become a new token, unless a token with the same
 * bytes exists; *id is that token either way. */
static bn_status commit_staged(trainer *tr, size_t n, int32_t *id, bool *fresh) {
    uint32_t slot = set_slot(tr, tr->arena + tr->arena_n, n);
    *fresh = tr->set[slot] < 0;
    if (!*fresh) {
        *id = tr->set[slot];
        return BN_OK;
    }
    if (tr->n >= tr->cap)
        return BN_ERROR(BN_ERR_INTERNAL, "BPE trainer: more than %d tokens", (int)tr->cap);
    *id = tr->n++;
    tr->off[*id] = (uint32_t)tr->arena_n;
    tr->len[*id] = (uint32_t)n;
    tr->arena_n += n;
    tr->set[slot] = *id;
    return BN_OK;
}

/* The token of the bytes of a followed by those of b. */
static bn_status add_concat(trainer *tr, int32_t a, int32_t b, int32_t *id, bool *fresh) {
    size_t la = tr->len[a], lb = tr->len[b];
    BN_TRY(arena_reserve(tr, la + lb));
    uint8_t *dst = tr->arena + tr->arena_n;
    memcpy(dst, tr->arena + tr->off[a], la);
    memcpy(dst + la, tr->arena + tr->off[b], lb);
    return commit_staged(tr, la + lb, id, fresh);
}

static bn_status add_merge(trainer *tr, int32_t a, int32_t b) {
    if (tr->n_merges == tr->merges_cap) {
        int32_t cap = tr->merges_cap ? 2 * tr->merges_cap : 1024;
        void *grown = realloc(tr->merges, (size_t)cap * sizeof *tr->merges);
        if (grown == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: merges");
        tr->merges = grown;
        tr->merges_cap = cap;
    }
    tr->merges[tr->n_merges][0] = a;
    tr->merges[tr->n_merges][1] = b;
    tr->n_merges++;
    return BN_OK;
}

/* GPT-2's order: the bytes that print as themselves first, then the others, each ascending
 * (which is their order by code point in the byte-to-unicode table). */
static bn_status add_bytes(trainer *tr) {
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++) {
            bool prints = bn_byte_to_cp((uint8_t)b) < 0x100;
            if (prints != (pass == 0))
                continue;
            bool fresh;
            BN_TRY(arena_reserve(tr, 1));
            tr->arena[tr->arena_n] = (uint8_t)b;
            BN_TRY(commit_staged(tr, 1, &tr->byte_id[b], &fresh));
        }
    return BN_OK;
}

/* ---- learning from the text -------------------------------------------------------------- */

/* The text as byte ids, each pre-token followed by -1. Text the regex does not match (none, for
 * LLaMA-3's, which matches every character) would be a pre-token of its own, as Split(Isolated)
 * keeps it. */
static bn_status pre_tokenize(const trainer *tr, const char *text, size_t len, int32_t *sym,
                              size_t *n_sym) {
    int err;
    PCRE2_SIZE err_off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)BN_LLAMA3_SPLIT_REGEX, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, NULL);
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    bn_status st = md ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: regex");
    size_t n = 0, at = 0;
    while (st == BN_OK && at < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, at, 0, md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            st = BN_ERROR(BN_ERR_INVALID_ARG, "BPE trainer: the text is not valid UTF-8 (%d)", rc);
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = rc >= 0 ? ov[0] : len, end = rc >= 0 && ov[1] > ov[0] ? ov[1] : len;
        size_t cuts[3] = {at, start, end};
        for (int p = 0; p < 2; p++) {
            if (cuts[p + 1] <= cuts[p])
                continue;
            for (size_t i = cuts[p]; i < cuts[p + 1]; i++)
                sym[n++] = tr->byte_id[(uint8_t)text[i]];
            sym[n++] = -1;
        }
        at = end;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    *n_sym = n;
    return st;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The most frequent adjacent pair (ties to the lowest key), and how often it occurs. */
static size_t best_pair(const int32_t *sym, size_t n, uint64_t *keys, uint64_t *best) {
    size_t k = 0, best_count = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (sym[i] >= 0 && sym[i + 1] >= 0)
            keys[k++] = (uint64_t)sym[i] << 32 | (uint32_t)sym[i + 1];
    qsort(keys, k, sizeof *keys, cmp_u64);
    for (size_t i = 0, j; i < k; i = j) {
        for (j = i; j < k && keys[j] == keys[i]; j++)
            ;
        if (j - i > best_count) {
            best_count = j - i;
            *best = keys[i];
        }
    }
    return best_count;
}

/* Every (a, b) becomes id, left to right; returns the new length. */
static size_t replace_pair(int32_t *sym, size_t n, int32_t a, int32_t b, int32_t id) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
            sym[o++] = id;
            i++;
        } else {
            sym[o++] = sym[i];
        }
    }
    return o;
}

/* A merge whose bytes another merge made already adds no token, as in BPE training. */
static bn_status learn(trainer *tr, const char *text, size_t len) {
    int32_t *sym = malloc((2 * len + 1) * sizeof *sym);
    uint64_t *keys = malloc((2 * len + 1) * sizeof *keys);
    size_t n = 0;
    bn_status st = sym && keys ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: text");
    if (st == BN_OK)
        st = pre_tokenize(tr, text, len, sym, &n);
    while (st == BN_OK && tr->n < tr->cap) {
        uint64_t best = 0;
        if (best_pair(sym, n, keys, &best) < 2)
            break;
        int32_t a = (int32_t)(best >> 32), b = (int32_t)(uint32_t)best, id;
        bool fresh;
        st = add_concat(tr, a, b, &id, &fresh);
        if (st == BN_OK)
            st = add_merge(tr, a, b);
        n = replace_pair(sym, n, a, b, id);
    }
    free(sym);
    free(keys);
    return st;
}

/* ---- filling the vocabulary -------------------------------------------------------------- */

static bool is_letter(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An optional leading space and ASCII letters: LLaMA-3's regex keeps such a word (and the word
 * plus a letter) in one pre-token, so a merge that extends it is one encoding can use. */
static bool word_like(const trainer *tr, int32_t id) {
    const uint8_t *s = tr->arena + tr->off[id];
    uint32_t n = tr->len[id], i = s[0] == ' ' ? 1 : 0;
    for (; i < n; i++)
        if (!is_letter(s[i]))
            return false;
    return n > 0;
}

static bn_status fill(trainer *tr) {
    static const char letters[] = "etaoinsrhldcumfpgwybvkxjqz"; /* by frequency in English */
    for (int32_t base = 0; tr->n < tr->cap; base++) {
        if (base >= tr->n) /* cannot happen: every word-like token has new extensions below */
            return BN_ERROR(BN_ERR_INTERNAL, "BPE trainer: no token left to extend");
        if (!word_like(tr, base))
            continue;
        for (const char *c = letters; *c && tr->n < tr->cap; c++) {
            int32_t right = tr->byte_id[(uint8_t)*c], id;
            bool fresh;
            BN_TRY(add_concat(tr, base, right, &id, &fresh));
            if (fresh)
                BN_TRY(add_merge(tr, base, right));
        }
    }
    return BN_OK;
}

/* ---- into the spec ----------------------------------------------------------------------- */

/* A token's bytes in GPT-2's byte-to-unicode form ("Ġthe"), malloc'd; appended at dst when
 * dst is not NULL (then returns the end). */
static char *byte_level(const trainer *tr, int32_t id, char *dst) {
    char *out = dst ? dst : malloc(2 * (size_t)tr->len[id] + 1);
    if (out == NULL)
        return NULL;
    char *p = out;
    const uint8_t *s = tr->arena + tr->off[id];
    for (uint32_t i = 0; i < tr->len[id]; i++) {
        uint32_t cp = bn_byte_to_cp(s[i]); /* below 0x144: one or two bytes of UTF-8 */
        if (cp < 0x80) {
            *p++ = (char)cp;
        } else {
            *p++ = (char)(0xC0 | (cp >> 6));
            *p++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *p = '\0';
    return dst ? p : out;
}

static bn_status to_spec(const trainer *tr, bn_tokenizer_spec *s) {
    for (int32_t i = 0; i < tr->n; i++) {
        if ((s->tokens[i] = byte_level(tr, i, NULL)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: tokens");
        s->types[i] = BN_TOKEN_NORMAL;
    }
    if ((s->merges = calloc((size_t)tr->n_merges + 1, sizeof *s->merges)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: merges");
    s->n_merges = tr->n_merges;
    for (int32_t r = 0; r < tr->n_merges; r++) {
        int32_t a = tr->merges[r][0], b = tr->merges[r][1];
        char *m = malloc(2 * ((size_t)tr->len[a] + tr->len[b]) + 2);
        if ((s->merges[r] = m) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: merges");
        char *p = byte_level(tr, a, m);
        *p++ = ' ';
        byte_level(tr, b, p);
    }
    s->model = BN_TOK_BYTE_BPE;
    if ((s->splits[0].regex = strdup(BN_LLAMA3_SPLIT_REGEX)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE trainer: regex");
    s->splits[0].behavior = BN_SPLIT_ISOLATED;
    s->n_splits = 1;
    s->ignore_merges = true; /* what "llama-bpe" means in GGUF */
    snprintf(s->pre, sizeof s->pre, "llama-bpe");
    return BN_OK;
}

bn_status bn_bpe_train(bn_tokenizer_spec *s, int32_t n_normal, const char *text, size_t len) {
    if (n_normal < 256 || n_normal > s->n_tokens)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "BPE trainer: %d tokens asked of a vocabulary of %d; want 256 or more "
                        "(the byte tokens), and no more than the vocabulary",
                        (int)n_normal, (int)s->n_tokens);
    trainer tr;
    bn_status st = trainer_init(&tr, n_normal);
    if (st == BN_OK)
        st = add_bytes(&tr);
    if (st == BN_OK)
        st = learn(&tr, text, len);
    if (st == BN_OK)
        st = fill(&tr);
    if (st == BN_OK)
        st = to_spec(&tr, s);
    trainer_free(&tr);
    return st;
}
