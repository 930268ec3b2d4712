/*
 * encode.c - text -> ids: added tokens, then normalization and pre-tokenization of each stretch
 * between them, then BPE (bpe.c) on each pre-token. See tokenizer.h for the order.
 */
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- added tokens ------------------------------------------------------------------------ */

/* A word character for single_word tokens (tokenizer_impl.h's word_char): ASCII letters,
 * digits and '_' directly; other characters through the Unicode class. */
static bool is_word_byte_at(const bn_tokenizer *t, const uint8_t *s, size_t n, size_t i) {
    if (s[i] < 0x80)
        return (unsigned)((s[i] | 0x20) - 'a') < 26u || (unsigned)(s[i] - '0') < 10u || s[i] == '_';
    size_t k = bn_utf8_valid_len(s + i, n - i);
    if (k == 0)
        return false;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL); /* rare: only around a match */
    bool word =
        md != NULL && pcre2_match(t->word_char, s + i, k, 0, PCRE2_NO_UTF_CHECK, md, NULL) == 1;
    pcre2_match_data_free(md);
    return word;
}

/* The character that ends at byte i (exclusive): step back over continuation bytes to its
 * first byte, so a letter like "é" before a match counts. */
static bool is_word_char_before(const bn_tokenizer *t, const uint8_t *s, size_t i) {
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && (s[j] & 0xC0) == 0x80)
        j--;
    return bn_utf8_valid_len(s + j, i - j) == i - j && is_word_byte_at(t, s, i, j);
}

static size_t space_before(const uint8_t *s, size_t from, size_t at) {
    while (at > from) {
        size_t j = at - 1, k;
        while (j > from && (s[j] & 0xC0) == 0x80)
            j--;
        if (bn_utf8_valid_len(s + j, at - j) != at - j ||
            !bn_utf8_is_white_space(bn_utf8_decode(s + j, &k)))
            break;
        at = j;
    }
    return at;
}

static size_t space_after(const uint8_t *s, size_t n, size_t at) {
    while (at < n) {
        size_t k = bn_utf8_valid_len(s + at, n - at);
        if (k == 0 || !bn_utf8_is_white_space(bn_utf8_decode(s + at, &k)))
            break;
        at += k;
    }
    return at;
}

typedef struct added_match {
    size_t start, end; /* the text the token replaces, stripped whitespace included */
    int32_t id;
} added_match;

/* The longest allowed added token starting at s[i], or -1 (an index into spec->added). Special
 * tokens are allowed when special is set and they end by special_end. */
static int32_t longest_at(const bn_tokenizer *t, const uint8_t *s, size_t n, size_t i, bool special,
                          size_t special_end, size_t *end) {
    const bn_tok_added *added = t->spec->added;
    int32_t node = 0, best = -1;
    for (size_t j = i; j < n; j++) {
        int32_t c = t->trie[node].child;
        while (c >= 0 && t->trie[c].byte != s[j])
            c = t->trie[c].sibling;
        if (c < 0)
            break;
        node = c;
        int32_t a = t->trie[node].added;
        if (a < 0 || (added[a].special && (!special || j + 1 > special_end)))
            continue;
        if (added[a].single_word && ((i > 0 && is_word_char_before(t, s, i)) ||
                                     (j + 1 < n && is_word_byte_at(t, s, n, j + 1))))
            continue;
        best = a;
        *end = j + 1;
    }
    return best;
}

/* Where special tokens starting at i must end by: the start of the next plain span, or i when
 * i is inside one (none can start there), or n. */
static size_t special_end(const bn_encoder *e, size_t i, size_t n) {
    for (size_t k = 0; k < e->n_plain; k++) {
        if (i < e->plain[k].start)
            return e->plain[k].start;
        if (i < e->plain[k].end)
            return i;
    }
    return n;
}

/* The leftmost-longest added token in s[from..n), as tokenizers' AddedVocabulary finds it. */
static bool next_added(const bn_encoder *e, const uint8_t *s, size_t n, size_t from, bool special,
                       added_match *m) {
    const bn_tokenizer *t = e->t;
    for (size_t i = from; i < n; i++) {
        if (!t->first_byte[s[i]])
            continue;
        size_t end;
        int32_t a = longest_at(t, s, n, i, special, special_end(e, i, n), &end);
        if (a < 0)
            continue;
        const bn_tok_added *tok = &t->spec->added[a];
        m->id = tok->id;
        m->start = tok->lstrip ? space_before(s, from, i) : i;
        m->end = tok->rstrip ? space_after(s, n, end) : end;
        return true;
    }
    return false;
}

/* ---- pre-tokenization -------------------------------------------------------------------- */

static bn_status split_level(bn_encoder *e, int level, const uint8_t *s, size_t n);

static bn_status emit(bn_encoder *e, int level, const uint8_t *s, size_t n) {
    if (n == 0)
        return BN_OK;
    if (level + 1 < e->t->n_re)
        return split_level(e, level + 1, s, n);
    return bn_bpe_word(e, s, n);
}

static int match_at(bn_encoder *e, int level, const uint8_t *s, size_t n, size_t at, size_t *m0,
                    size_t *m1) {
    pcre2_code *re = e->t->re[level];
    int rc = pcre2_match(re, s, n, at, PCRE2_NO_UTF_CHECK, e->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
    /* \K or a lookbehind can report a match starting before `at` or ending before it starts;
     * the splitter's bookkeeping assumes at <= m0 <= m1 <= n, so such a match is an error. */
    if (ov[0] < at || ov[1] < ov[0] || ov[1] > n)
        return PCRE2_ERROR_BADOFFSET;
    *m0 = ov[0];
    *m1 = ov[1];
    return 1;
}

/* Split s by the regex of this level, pieces going to the next level (or BPE) as the Split's
 * behaviour says. Empty matches move on by one character, as tokenizers' find_iter does. */
static bn_status split_level(bn_encoder *e, int level, const uint8_t *s, size_t n) {
    const size_t none = (size_t)-1;
    bn_split_behavior b = e->t->re_behavior[level];
    size_t at = 0, piece = 0, m0, m1; /* piece: start of the text not yet emitted */
    size_t run0 = none, run1 = 0;     /* Contiguous: the run of adjacent matches so far */
    int rc;
    while (at <= n && (rc = match_at(e, level, s, n, at, &m0, &m1)) == 1) {
        if (m1 == m0) {
            size_t k = m0 < n ? bn_utf8_valid_len(s + m0, n - m0) : 0;
            at = m0 + (k > 0 ? k : 1);
            continue;
        }
        switch (b) {
        case BN_SPLIT_ISOLATED:
            BN_TRY(emit(e, level, s + piece, m0 - piece));
            BN_TRY(emit(e, level, s + m0, m1 - m0));
            break;
        case BN_SPLIT_REMOVED:
            BN_TRY(emit(e, level, s + piece, m0 - piece));
            break;
        case BN_SPLIT_MERGED_WITH_PREVIOUS:
            BN_TRY(emit(e, level, s + piece, m1 - piece));
            break;
        case BN_SPLIT_MERGED_WITH_NEXT:
            BN_TRY(emit(e, level, s + piece, m0 - piece));
            break;
        case BN_SPLIT_CONTIGUOUS:
            if (run0 != none && m0 == run1) {
                run1 = m1;
                break;
            }
            if (run0 != none)
                BN_TRY(emit(e, level, s + run0, run1 - run0));
            BN_TRY(emit(e, level, s + piece, m0 - piece));
            run0 = m0;
            run1 = m1;
            break;
        }
        piece = b == BN_SPLIT_MERGED_WITH_NEXT ? m0 : m1; /* there the match starts a piece */
        at = m1;
    }
    if (at <= n && rc < 0) {
        /* A pattern that backtracks past PCRE2's limits on some input is the tokenizer's
         * (unsupported) property, not a bug of ours. */
        bool limit = rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
                     rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return BN_ERROR(limit ? BN_ERR_UNSUPPORTED : BN_ERR_INTERNAL,
                        "pre-tokenizer regex failed at byte %zu: %s (PCRE2 error %d)", at,
                        (const char *)msg, rc);
    }
    if (run0 != none)
        BN_TRY(emit(e, level, s + run0, run1 - run0));
    return emit(e, level, s + piece, n - piece);
}

/* ---- one stretch of text between added tokens -------------------------------------------- */

static bn_status reserve_buf(bn_encoder *e, size_t n) {
    if (n <= e->buf_cap)
        return BN_OK;
    uint8_t *b = realloc(e->buf, n);
    if (b == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "text of %zu bytes", n);
    e->buf = b;
    e->buf_cap = n;
    return BN_OK;
}

static const uint8_t METASPACE[3] = {0xE2, 0x96, 0x81};

/* SentencePiece-style: spaces -> ▁ and a ▁ in front as the spec says; then BPE on the whole
 * stretch, or on each ▁-led word when Metaspace splits. */
static bn_status encode_spm(bn_encoder *e, const uint8_t *s, size_t n, bool text_start) {
    const bn_tokenizer_spec *spec = e->t->spec;
    BN_TRY(reserve_buf(e, 3 * n + 3));
    size_t o = 0;
    if (spec->prepend == BN_PREPEND_ALWAYS)
        o = (memcpy(e->buf, METASPACE, 3), 3);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' && spec->replace_space)
            o += (memcpy(e->buf + o, METASPACE, 3), 3);
        else
            e->buf[o++] = s[i];
    }
    bool starts = o >= 3 && memcmp(e->buf, METASPACE, 3) == 0;
    if ((spec->prepend == BN_PREPEND_IF_MISSING ||
         (spec->prepend == BN_PREPEND_FIRST_ONLY && text_start)) &&
        !starts) {
        memmove(e->buf + 3, e->buf, o);
        memcpy(e->buf, METASPACE, 3);
        o += 3;
    }
    if (!spec->metaspace_split && !e->t->spm_words_independent)
        return bn_bpe_word(e, e->buf, o);
    /* Metaspace splits before every ▁; independent words (tokenizer_impl.h) may be split before
     * a ▁ that follows another character, which gives the same ids as one long word. */
    size_t word = 0;
    for (size_t i = 3; i + 3 <= o; i++) {
        if (memcmp(e->buf + i, METASPACE, 3) != 0)
            continue;
        if (!spec->metaspace_split && memcmp(e->buf + i - 3, METASPACE, 3) == 0)
            continue;
        BN_TRY(bn_bpe_word(e, e->buf + word, i - word));
        word = i;
    }
    return bn_bpe_word(e, e->buf + word, o - word);
}

static bn_status encode_stretch(bn_encoder *e, const uint8_t *s, size_t n, bool text_start) {
    if (n == 0)
        return BN_OK;
    if (e->t->spec->model == BN_TOK_SPM_BPE)
        return encode_spm(e, s, n, text_start);
    if (e->t->spec->add_prefix_space && s[0] != ' ') {
        BN_TRY(reserve_buf(e, n + 1));
        e->buf[0] = ' ';
        memcpy(e->buf + 1, s, n);
        s = e->buf;
        n++;
    }
    if (e->t->n_re == 0)
        return bn_bpe_word(e, s, n);
    return split_level(e, 0, s, n);
}

/* ---- the whole text ---------------------------------------------------------------------- */

static bn_status encode_text(bn_encoder *e, const uint8_t *s, size_t n, unsigned flags) {
    const bn_tokenizer_spec *spec = e->t->spec;
    bool special = (flags & BN_TOK_PARSE_SPECIAL) != 0;
    if (flags & BN_TOK_ADD_SPECIAL)
        for (int i = 0; i < spec->n_prefix; i++)
            BN_TRY(bn_tokens_push(e->out, spec->prefix[i]));
    size_t pos = 0;
    added_match m;
    while (pos < n && next_added(e, s, n, pos, special, &m)) {
        BN_TRY(encode_stretch(e, s + pos, m.start - pos, pos == 0));
        BN_TRY(bn_tokens_push(e->out, m.id));
        pos = m.end;
    }
    BN_TRY(encode_stretch(e, s + pos, n - pos, pos == 0));
    if (flags & BN_TOK_ADD_SPECIAL)
        for (int i = 0; i < spec->n_suffix; i++)
            BN_TRY(bn_tokens_push(e->out, spec->suffix[i]));
    return BN_OK;
}

bn_status bn_tokenizer_encode(const bn_tokenizer *t, const char *text, size_t len, unsigned flags,
                              bn_tokens *out) {
    return bn_tokenizer_encode_plain(t, text, len, flags, NULL, 0, out);
}

bn_status bn_tokenizer_encode_plain(const bn_tokenizer *t, const char *text, size_t len,
                                    unsigned flags, const bn_span *plain, size_t n_plain,
                                    bn_tokens *out) {
    if (text == NULL && len > 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "encode: NULL text of length %zu", len);
    const uint8_t *s = (const uint8_t *)text;
    uint8_t *clean = NULL;
    if (n_plain > 0 && !bn_utf8_is_valid(s, len))
        return BN_ERROR(BN_ERR_INVALID_ARG, "encode: text with plain spans must be valid UTF-8");
    for (size_t k = 0; k < n_plain; k++)
        if (plain[k].start > plain[k].end || plain[k].end > len ||
            (k > 0 && plain[k].start < plain[k - 1].end))
            return BN_ERROR(BN_ERR_INVALID_ARG,
                            "encode: plain span %zu [%zu, %zu) is out of order "
                            "or past the text's %zu bytes",
                            k, plain[k].start, plain[k].end, len);
    if (!bn_utf8_is_valid(s, len)) { /* the replacement policy of tokenizer.h */
        if ((clean = malloc(3 * len)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "encode: %zu bytes", len);
        len = bn_utf8_sanitize(s, len, clean);
        s = clean;
    }
    bn_encoder e = {.t = t, .out = out, .plain = plain, .n_plain = n_plain};
    bn_tokenizer *mut = (bn_tokenizer *)t; /* only the cache lock and the cache change */
    bool locked = pthread_mutex_trylock(&mut->cache_lock) == 0;
    e.cache = locked ? mut->cache : NULL;
    bn_status st = BN_OK;
    if (t->n_re > 0 && (e.md = pcre2_match_data_create(4, NULL)) == NULL)
        st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "encode: regex match data");
    if (st == BN_OK)
        st = encode_text(&e, s, len, flags);
    if (locked)
        pthread_mutex_unlock(&mut->cache_lock);
    pcre2_match_data_free(e.md);
    free(e.sym);
    free(e.heap);
    free(e.buf);
    free(clean);
    return st;
}
