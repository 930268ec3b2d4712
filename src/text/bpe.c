/*
 * bpe.c - byte-pair merging of one pre-token, by rank, with a priority queue.
 *
 * The word starts as one symbol per byte (byte-level) or per character (SentencePiece-style,
 * where characters outside the vocabulary fall back to <0xXX> byte tokens). Then, repeatedly,
 * the adjacent pair with the lowest merge rank (leftmost on ties) becomes one symbol. The queue
 * holds every candidate pair; entries made stale by an earlier merge are skipped when popped,
 * so a word of n symbols costs O(n log n), not the O(n^2) of rescanning.
 */
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool merge_before(const bn_bpe_merge *a, const bn_bpe_merge *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bn_bpe_merge *h, size_t *n, bn_bpe_merge m) {
    size_t i = (*n)++;
    while (i > 0 && merge_before(&m, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = m;
}

static bn_bpe_merge heap_pop(bn_bpe_merge *h, size_t *n) {
    bn_bpe_merge top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && merge_before(&h[c + 1], &h[c]))
            c++;
        if (!merge_before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static bn_status reserve(bn_encoder *e, size_t n) {
    if (n <= e->cap)
        return BN_OK;
    size_t cap = e->cap ? e->cap : 256;
    while (cap < n)
        cap *= 2;
    bn_bpe_symbol *sym = realloc(e->sym, cap * sizeof *sym);
    if (sym != NULL)
        e->sym = sym;
    bn_bpe_merge *heap = realloc(e->heap, cap * sizeof *heap);
    if (heap != NULL)
        e->heap = heap;
    if (sym == NULL || heap == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "BPE word of %zu bytes", n);
    e->cap = cap;
    return BN_OK;
}

/* Append a symbol, folding runs of unknown characters into one when the model says so. */
static void add_symbol(bn_encoder *e, size_t *n, int32_t id) {
    const bn_tokenizer_spec *s = e->t->spec;
    if (id == s->unk_id && s->fuse_unk && *n > 0 && e->sym[*n - 1].id == id)
        return;
    e->sym[*n] = (bn_bpe_symbol){id, (int32_t)*n - 1, (int32_t)*n + 1};
    (*n)++;
}

/* SentencePiece-style: one symbol per character; byte tokens for characters the vocabulary
 * lacks; the unknown token (or nothing, as tokenizers does without one) otherwise. */
static size_t char_symbols(bn_encoder *e, const uint8_t *w, size_t n) {
    const bn_tokenizer *t = e->t;
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        size_t k = bn_utf8_valid_len(w + i, n - i);
        if (k == 0)
            k = 1; /* cannot happen after sanitizing; keeps the loop finite regardless */
        int32_t id = bn_tok_lookup(t, w + i, k);
        if (id >= 0) {
            add_symbol(e, &count, id);
        } else if (t->spec->byte_fallback) {
            for (size_t j = 0; j < k; j++)
                add_symbol(e, &count, t->byte_id[w[i + j]]);
        } else if (t->spec->unk_id >= 0) {
            add_symbol(e, &count, t->spec->unk_id);
        }
        i += k;
    }
    return count;
}

static size_t byte_symbols(bn_encoder *e, const uint8_t *w, size_t n) {
    const bn_tokenizer *t = e->t;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id < 0)
            id = t->spec->unk_id;
        if (id >= 0)
            add_symbol(e, &count, id);
    }
    return count;
}

static void push_pair(bn_encoder *e, size_t *n_heap, int32_t pos) {
    const bn_bpe_symbol *sym = e->sym;
    int32_t next = sym[pos].next, result;
    if (next < 0)
        return;
    int32_t rank = bn_tok_pair(e->t, sym[pos].id, sym[next].id, &result);
    if (rank >= 0)
        heap_push(e->heap, n_heap, (bn_bpe_merge){rank, pos, sym[pos].id, sym[next].id, result});
}

static void merge_all(bn_encoder *e, size_t n_sym) {
    bn_bpe_symbol *sym = e->sym;
    size_t n_heap = 0;
    sym[n_sym - 1].next = -1;
    for (size_t i = 0; i + 1 < n_sym; i++)
        push_pair(e, &n_heap, (int32_t)i);
    while (n_heap > 0) {
        bn_bpe_merge m = heap_pop(e->heap, &n_heap);
        int32_t next = sym[m.pos].next;
        /* stale: the left symbol was merged away or changed, or its right neighbour did */
        if (sym[m.pos].id != m.left || next < 0 || sym[next].id != m.right)
            continue;
        sym[m.pos].id = m.result;
        sym[m.pos].next = sym[next].next;
        if (sym[next].next >= 0)
            sym[sym[next].next].prev = m.pos;
        sym[next].id = -1;
        if (sym[m.pos].prev >= 0)
            push_pair(e, &n_heap, sym[m.pos].prev);
        push_pair(e, &n_heap, m.pos);
    }
}

static bn_cache_entry *cache_slot(bn_encoder *e, const uint8_t *w, size_t n, uint64_t *hash) {
    if (e->cache == NULL || n > BN_CACHE_MAX_LEN)
        return NULL;
    *hash = bn_tok_hash(w, n);
    return &e->cache[*hash & (BN_CACHE_SLOTS - 1)];
}

bn_status bn_bpe_word(bn_encoder *e, const uint8_t *w, size_t n) {
    const bn_tokenizer *t = e->t;
    if (n == 0)
        return BN_OK;
    if (t->spec->ignore_merges) {
        int32_t id = bn_tok_lookup(t, w, n);
        if (id >= 0)
            return bn_tokens_push(e->out, id);
    }
    uint64_t hash = 0;
    bn_cache_entry *c = cache_slot(e, w, n, &hash);
    if (c != NULL && c->hash == hash && c->len == n && memcmp(c->bytes, w, n) == 0) {
        for (int i = 0; i < c->n_ids; i++)
            BN_TRY(bn_tokens_push(e->out, c->ids[i]));
        return BN_OK;
    }
    if (n > (SIZE_MAX - 4) / 4 / sizeof(bn_bpe_symbol))
        return BN_ERROR(BN_ERR_RANGE, "a pre-token of %zu bytes is too long to encode", n);
    BN_TRY(reserve(e, 4 * n + 4)); /* byte fallback: up to 4 symbols per character */
    size_t n_sym =
        t->spec->model == BN_TOK_BYTE_BPE ? byte_symbols(e, w, n) : char_symbols(e, w, n);
    if (n_sym == 0)
        return BN_OK;
    merge_all(e, n_sym);
    size_t first = e->out->n;
    for (int32_t i = 0; i >= 0; i = e->sym[i].next)
        BN_TRY(bn_tokens_push(e->out, e->sym[i].id));
    size_t n_ids = e->out->n - first;
    if (c != NULL && n_ids <= BN_CACHE_MAX_IDS) {
        c->hash = hash;
        c->len = (uint8_t)n;
        c->n_ids = (uint8_t)n_ids;
        memcpy(c->bytes, w, n);
        memcpy(c->ids, e->out->ids + first, n_ids * sizeof(int32_t));
    }
    return BN_OK;
}
