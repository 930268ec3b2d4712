/* data.c - token files, the corpus convention, training batches and evaluation windows. */
#include "train/data.h"

#include "text/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_BUF ((size_t)1 << 20) /* ids are written a megabyte at a time */

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

uint64_t bn_token_vocab_hash(const bn_tokenizer_spec *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a offset basis and prime */
    for (int32_t i = 0; i < s->n_tokens; i++) {
        const char *t = s->tokens[i] ? s->tokens[i] : "";
        for (size_t k = 0;; k++) { /* the zero byte too: "ab","c" differs from "a","bc" */
            h = (h ^ (uint8_t)t[k]) * 0x100000001b3ull;
            if (t[k] == '\0')
                break;
        }
    }
    return h;
}

/* ---- writing ----------------------------------------------------------------------------- */

static void header(uint8_t h[BN_TOKEN_FILE_HEADER], uint32_t width, uint64_t n_tokens,
                   uint32_t n_vocab, uint32_t eot_id, uint64_t vocab_hash) {
    memset(h, 0, BN_TOKEN_FILE_HEADER);
    memcpy(h, BN_TOKEN_FILE_MAGIC, 8);
    put_u32(h + 8, BN_TOKEN_FILE_VERSION);
    put_u32(h + 12, width);
    put_u64(h + 16, n_tokens);
    put_u32(h + 24, n_vocab);
    put_u32(h + 28, eot_id);
    put_u64(h + 32, vocab_hash);
}

bn_status bn_token_writer_open(bn_token_writer *w, const char *path, uint32_t n_vocab,
                               uint32_t eot_id, uint64_t vocab_hash) {
    *w = (bn_token_writer){.out = {.fd = -1, .slot = -1}};
    if (n_vocab == 0 || n_vocab > INT32_MAX || eot_id >= n_vocab)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: a vocabulary of %u tokens with end-of-text id %u: want 1..2^31-1 "
                        "tokens and the id below their count",
                        path, n_vocab, eot_id);
    w->width = n_vocab <= 65536 ? 2 : 4;
    w->n_vocab = n_vocab;
    w->eot_id = eot_id;
    w->vocab_hash = vocab_hash;
    if ((w->buf = malloc(WRITE_BUF)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: write buffer", path);
    bn_status st = bn_outfile_open(&w->out, path);
    uint8_t h[BN_TOKEN_FILE_HEADER] = {0}; /* the count is not known yet: rewritten at commit */
    if (st == BN_OK)
        st = bn_outfile_write(&w->out, h, sizeof h);
    if (st != BN_OK)
        bn_token_writer_discard(w);
    return st;
}

static bn_status flush(bn_token_writer *w) {
    bn_status st = bn_outfile_write(&w->out, w->buf, w->buf_n);
    w->buf_n = 0;
    return st;
}

bn_status bn_token_writer_append(bn_token_writer *w, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->n_vocab)
            return BN_ERROR(BN_ERR_RANGE, "%s: token id %d is outside the vocabulary of %u",
                            w->out.path, (int)ids[i], w->n_vocab);
        if (w->buf_n + 4 > WRITE_BUF)
            BN_TRY(flush(w));
        uint8_t *p = w->buf + w->buf_n;
        uint32_t v = (uint32_t)ids[i];
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        if (w->width == 4) {
            p[2] = (uint8_t)(v >> 16);
            p[3] = (uint8_t)(v >> 24);
        }
        w->buf_n += w->width;
        w->n_tokens++;
    }
    return BN_OK;
}

bn_status bn_token_writer_commit(bn_token_writer *w) {
    uint8_t h[BN_TOKEN_FILE_HEADER];
    header(h, w->width, w->n_tokens, w->n_vocab, w->eot_id, w->vocab_hash);
    bn_status st = flush(w);
    /* the header goes over the zeros written at open; pwrite leaves the file position alone */
    if (st == BN_OK && pwrite(w->out.fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        st = BN_ERROR(BN_ERR_IO, "%s: writing the header failed", w->out.tmp);
    if (st == BN_OK) {
        st = bn_outfile_commit(&w->out);
        w->out = (bn_outfile){.fd = -1, .slot = -1};
    }
    bn_token_writer_discard(w);
    return st;
}

void bn_token_writer_discard(bn_token_writer *w) {
    bn_outfile_discard(&w->out);
    free(w->buf);
    w->buf = NULL;
    w->buf_n = 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

static bn_status check_header(bn_token_file *f) {
    const char *path = f->map.path;
    const uint8_t *h = f->map.data;
    if (f->map.size < BN_TOKEN_FILE_HEADER)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: %zu bytes, shorter than the %d-byte header of a token file", path,
                        f->map.size, BN_TOKEN_FILE_HEADER);
    if (memcmp(h, BN_TOKEN_FILE_MAGIC, 8) != 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: not a token file (the magic is not \"%s\")", path,
                        BN_TOKEN_FILE_MAGIC);
    uint32_t version = get_u32(h + 8);
    if (version != BN_TOKEN_FILE_VERSION)
        return BN_ERROR(BN_ERR_FORMAT, "%s: token file version %u (this build reads %d)", path,
                        version, BN_TOKEN_FILE_VERSION);
    f->width = get_u32(h + 12);
    f->n_tokens = get_u64(h + 16);
    f->n_vocab = get_u32(h + 24);
    f->eot_id = get_u32(h + 28);
    f->vocab_hash = get_u64(h + 32);
    if (f->n_vocab == 0 || f->n_vocab > INT32_MAX)
        return BN_ERROR(BN_ERR_FORMAT, "%s: vocabulary size %u (want 1..2^31-1)", path, f->n_vocab);
    if (f->width != 2 && f->width != 4)
        return BN_ERROR(BN_ERR_FORMAT, "%s: %u bytes per token (want 2 or 4)", path, f->width);
    if (f->width == 2 && f->n_vocab > 65536)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: 2 bytes per token cannot hold the ids of a vocabulary of %u", path,
                        f->n_vocab);
    if (f->eot_id >= f->n_vocab)
        return BN_ERROR(BN_ERR_FORMAT, "%s: end-of-text id %u is outside the vocabulary of %u",
                        path, f->eot_id, f->n_vocab);
    for (int i = 40; i < BN_TOKEN_FILE_HEADER; i++)
        if (h[i] != 0)
            return BN_ERROR(BN_ERR_FORMAT, "%s: reserved header byte %d is %u, not 0", path, i,
                            h[i]);
    uint64_t body = f->map.size - BN_TOKEN_FILE_HEADER;
    if (f->n_tokens > body / f->width || body != f->n_tokens * f->width)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: the header counts %llu tokens of %u bytes, but %llu bytes follow it "
                        "(truncated or padded)",
                        path, (unsigned long long)f->n_tokens, f->width, (unsigned long long)body);
    return BN_OK;
}

/* Every id below the vocabulary: one pass over the file, at memory speed (the maximum of each
 * chunk; the first bad id is looked for only when a chunk holds one). */
static bn_status check_ids(const bn_token_file *f) {
    uint32_t top = 0;
    uint64_t chunk = (uint64_t)1 << 20;
    for (uint64_t i0 = 0; i0 < f->n_tokens; i0 += chunk) {
        uint64_t i1 = i0 + chunk < f->n_tokens ? i0 + chunk : f->n_tokens;
        for (uint64_t i = i0; i < i1; i++) {
            uint32_t id = (uint32_t)bn_token_file_id(f, i);
            top = id > top ? id : top;
        }
        if (top < f->n_vocab)
            continue;
        for (uint64_t i = i0; i < i1; i++) /* name the first one */
            if ((uint32_t)bn_token_file_id(f, i) >= f->n_vocab)
                return BN_ERROR(BN_ERR_FORMAT,
                                "%s: token %llu is id %u, outside the vocabulary of %u",
                                f->map.path, (unsigned long long)i,
                                (uint32_t)bn_token_file_id(f, i), f->n_vocab);
    }
    return BN_OK;
}

bn_status bn_token_file_open(bn_token_file *f, const char *path) {
    *f = (bn_token_file){0};
    BN_TRY(bn_mapped_file_open(&f->map, path));
    bn_status st = check_header(f);
    if (st == BN_OK) {
        f->ids = f->map.data + BN_TOKEN_FILE_HEADER;
        st = check_ids(f);
    }
    if (st != BN_OK)
        bn_token_file_close(f);
    return st;
}

void bn_token_file_close(bn_token_file *f) {
    bn_mapped_file_close(&f->map);
    *f = (bn_token_file){0};
}

bn_status bn_token_file_read(const bn_token_file *f, uint64_t first, size_t n, int32_t *out) {
    if (first > f->n_tokens || n > f->n_tokens - first)
        return BN_ERROR(BN_ERR_RANGE, "%s: tokens %llu..%llu asked of a file of %llu", f->map.path,
                        (unsigned long long)first, (unsigned long long)(first + n),
                        (unsigned long long)f->n_tokens);
    const uint8_t *p = f->ids + first * f->width;
    if (f->width == 2)
        for (size_t i = 0; i < n; i++, p += 2)
            out[i] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
    else
        for (size_t i = 0; i < n; i++, p += 4)
            out[i] = (int32_t)get_u32(p);
    return BN_OK;
}

bn_status bn_token_file_check_tokenizer(const bn_token_file *f, const bn_tokenizer_spec *s) {
    uint64_t hash = bn_token_vocab_hash(s);
    if ((int64_t)f->n_vocab != s->n_tokens || f->vocab_hash != hash)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s was made with another tokenizer (a vocabulary of %u tokens, hash "
                        "%016llx; this one: %d tokens, hash %016llx): tokenize the text again "
                        "with this tokenizer",
                        f->map.path, f->n_vocab, (unsigned long long)f->vocab_hash,
                        (int)s->n_tokens, (unsigned long long)hash);
    return BN_OK;
}

/* ---- the corpus convention --------------------------------------------------------------- */

/* Whether text[at] is a form feed alone on its line (a "\r" after it allowed); *next is the
 * start of the following line. */
static bool separator_at(const char *text, size_t len, size_t at, size_t *next) {
    if (text[at] != '\f' || (at > 0 && text[at - 1] != '\n'))
        return false;
    size_t e = at + 1;
    if (e < len && text[e] == '\r')
        e++;
    if (e < len && text[e] != '\n')
        return false;
    *next = e < len ? e + 1 : len;
    return true;
}

static bool is_newline(char c) {
    return c == '\n' || c == '\r';
}

bool bn_corpus_next_document(const char *text, size_t len, size_t *pos, size_t *start,
                             size_t *end) {
    while (*pos < len) {
        size_t s = *pos, e = len, next = len;
        for (const char *ff = memchr(text + s, '\f', len - s); ff != NULL;
             ff = memchr(ff + 1, '\f', len - (size_t)(ff + 1 - text))) {
            if (separator_at(text, len, (size_t)(ff - text), &next)) {
                e = (size_t)(ff - text);
                break;
            }
            if ((size_t)(ff + 1 - text) >= len)
                break;
        }
        *pos = next;
        while (s < e && is_newline(text[s]))
            s++;
        while (e > s && is_newline(text[e - 1]))
            e--;
        if (e > s) {
            *start = s;
            *end = e;
            return true;
        }
    }
    return false;
}

/* Append the file at path to c->text, made valid UTF-8. */
static bn_status read_file(bn_corpus *c, const char *path, size_t *cap) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return BN_ERROR(BN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t start = c->len;
    bn_status st = BN_OK;
    for (;;) {
        if (*cap - c->len < 65536) {
            size_t grown_cap = 2 * *cap + 65536;
            char *grown = realloc(c->text, grown_cap);
            if (grown == NULL) {
                st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: %zu bytes of text", path, grown_cap);
                break;
            }
            c->text = grown;
            *cap = grown_cap;
        }
        size_t got = fread(c->text + c->len, 1, *cap - c->len, f);
        c->len += got;
        if (got == 0) {
            if (ferror(f))
                st = BN_ERROR(BN_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st != BN_OK || bn_utf8_is_valid((const uint8_t *)c->text + start, c->len - start))
        return st;
    size_t n = c->len - start; /* repaired text is at most 3 times longer */
    uint8_t *clean = malloc(3 * n);
    if (clean == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: repairing its UTF-8", path);
    size_t m = bn_utf8_sanitize((const uint8_t *)c->text + start, n, clean);
    if (start + m > *cap) {
        char *grown = realloc(c->text, start + m);
        if (grown == NULL) {
            free(clean);
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: repairing its UTF-8", path);
        }
        c->text = grown;
        *cap = start + m;
    }
    memcpy(c->text + start, clean, m);
    c->len = start + m;
    free(clean);
    return BN_OK;
}

static bn_status add_documents(bn_corpus *c, size_t from, size_t *cap) {
    size_t pos = 0, s, e, len = c->len - from;
    while (bn_corpus_next_document(c->text + from, len, &pos, &s, &e)) {
        if (c->n_docs == *cap) {
            size_t grown_cap = *cap ? 2 * *cap : 1024;
            size_t *start = realloc(c->doc_start, grown_cap * sizeof *start);
            if (start != NULL)
                c->doc_start = start;
            size_t *dlen = realloc(c->doc_len, grown_cap * sizeof *dlen);
            if (dlen != NULL)
                c->doc_len = dlen;
            if (start == NULL || dlen == NULL)
                return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%zu documents", grown_cap);
            *cap = grown_cap;
        }
        c->doc_start[c->n_docs] = from + s;
        c->doc_len[c->n_docs++] = e - s;
    }
    return BN_OK;
}

bn_status bn_corpus_read(bn_corpus *c, const char *const *paths, size_t n_paths) {
    *c = (bn_corpus){0};
    size_t text_cap = 0, docs_cap = 0;
    bn_status st = BN_OK;
    for (size_t i = 0; st == BN_OK && i < n_paths; i++) {
        size_t from = c->len; /* each file ends a document */
        st = read_file(c, paths[i], &text_cap);
        if (st == BN_OK)
            st = add_documents(c, from, &docs_cap);
    }
    if (st != BN_OK)
        bn_corpus_free(c);
    return st;
}

void bn_corpus_free(bn_corpus *c) {
    free(c->text);
    free(c->doc_start);
    free(c->doc_len);
    *c = (bn_corpus){0};
}

/* ---- training batches -------------------------------------------------------------------- */

/* Uniform in [0, n) (n > 0) without modulo bias: draws below 2^64 mod n are redrawn. */
static uint64_t uniform_below(bn_rng *r, uint64_t n) {
    uint64_t reject = (0 - n) % n; /* 2^64 mod n */
    for (;;) {
        uint64_t x = bn_rng_next(r);
        if (x >= reject)
            return x % n;
    }
}

bn_status bn_batcher_init(bn_batcher *b, const bn_token_file *data, int batch, int seq_len,
                          uint64_t seed) {
    *b = (bn_batcher){0};
    if (batch < 1 || seq_len < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "batches of %d rows of %d tokens: want 1 or more each",
                        batch, seq_len);
    if (data->n_tokens < (uint64_t)seq_len + 1)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: %llu tokens, fewer than one window of %d + 1 (the context and its "
                        "next token)",
                        data->map.path, (unsigned long long)data->n_tokens, seq_len);
    b->data = data;
    b->batch = batch;
    b->seq_len = seq_len;
    bn_rng_seed(&b->rng, seed);
    return BN_OK;
}

bn_status bn_batcher_next(bn_batcher *b, int32_t *inputs, int32_t *targets) {
    size_t T = (size_t)b->seq_len;
    uint64_t n_starts = b->data->n_tokens - T; /* starts 0..n - T - 1 leave T + 1 tokens */
    for (int r = 0; r < b->batch; r++) {
        uint64_t s = uniform_below(&b->rng, n_starts);
        int32_t *in = inputs + (size_t)r * T;
        BN_TRY(bn_token_file_read(b->data, s, T, in));
        memcpy(targets + (size_t)r * T, in + 1, (T - 1) * sizeof *in);
        targets[(size_t)r * T + T - 1] = bn_token_file_id(b->data, s + T);
    }
    b->n_batches++;
    return BN_OK;
}

void bn_batcher_get_state(const bn_batcher *b, bn_batcher_state *s) {
    *s = (bn_batcher_state){
        .n_batches = b->n_batches,
        .n_tokens = b->data ? b->data->n_tokens : 0,
        .batch = (uint32_t)b->batch,
        .seq_len = (uint32_t)b->seq_len,
    };
    memcpy(s->rng, b->rng.s, sizeof s->rng);
}

bn_status bn_batcher_set_state(bn_batcher *b, const bn_batcher_state *s) {
    if (b->data == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "batcher state restored before bn_batcher_init");
    if (s->batch != (uint32_t)b->batch || s->seq_len != (uint32_t)b->seq_len ||
        s->n_tokens != b->data->n_tokens)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "the saved batch state is for %u rows of %u tokens over %llu tokens; "
                        "this run has %d rows of %d over %llu (%s): it would draw other batches",
                        s->batch, s->seq_len, (unsigned long long)s->n_tokens, b->batch, b->seq_len,
                        (unsigned long long)b->data->n_tokens, b->data->map.path);
    if ((s->rng[0] | s->rng[1] | s->rng[2] | s->rng[3]) == 0)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "the saved batch state has an all-zero generator state (xoshiro256** "
                        "never reaches it): the state is damaged");
    memcpy(b->rng.s, s->rng, sizeof s->rng);
    b->n_batches = s->n_batches;
    return BN_OK;
}

void bn_batcher_state_encode(const bn_batcher_state *s, uint8_t out[BN_BATCHER_STATE_BYTES]) {
    for (int i = 0; i < 4; i++)
        put_u64(out + 8 * i, s->rng[i]);
    put_u64(out + 32, s->n_batches);
    put_u64(out + 40, s->n_tokens);
    put_u64(out + 48, s->batch);
    put_u64(out + 56, s->seq_len);
}

void bn_batcher_state_decode(bn_batcher_state *s, const uint8_t in[BN_BATCHER_STATE_BYTES]) {
    for (int i = 0; i < 4; i++)
        s->rng[i] = get_u64(in + 8 * i);
    s->n_batches = get_u64(in + 32);
    s->n_tokens = get_u64(in + 40);
    /* a value above 32 bits is kept out of range, so that set_state refuses it */
    uint64_t batch = get_u64(in + 48), seq_len = get_u64(in + 56);
    s->batch = batch > UINT32_MAX ? UINT32_MAX : (uint32_t)batch;
    s->seq_len = seq_len > UINT32_MAX ? UINT32_MAX : (uint32_t)seq_len;
}

/* ---- evaluation -------------------------------------------------------------------------- */

bn_status bn_eval_walk_init(bn_eval_walk *w, const bn_token_file *data, int batch, int seq_len,
                            uint64_t max_windows) {
    *w = (bn_eval_walk){0};
    if (batch < 1 || seq_len < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "evaluation batches of %d rows of %d tokens: want 1 or more each", batch,
                        seq_len);
    w->data = data;
    w->batch = batch;
    w->seq_len = seq_len;
    w->n_windows = data->n_tokens > 0 ? (data->n_tokens - 1) / (uint64_t)seq_len : 0;
    if (max_windows > UINT32_MAX)
        return BN_ERROR(BN_ERR_INVALID_ARG, "evaluation over at most %llu windows: want below 2^32",
                        (unsigned long long)max_windows);
    w->n_used = max_windows > 0 && max_windows < w->n_windows ? max_windows : w->n_windows;
    return BN_OK;
}

bn_status bn_eval_walk_next(bn_eval_walk *w, int32_t *inputs, int32_t *targets, int *rows) {
    size_t T = (size_t)w->seq_len;
    int r = 0;
    for (; r < w->batch && w->next < w->n_used; r++, w->next++) {
        /* floor(i * n_windows / n_used) without overflow: i and the remainder are below
         * n_used < 2^32 */
        uint64_t q = w->n_windows / w->n_used, rem = w->n_windows % w->n_used;
        uint64_t k = w->next * q + w->next * rem / w->n_used;
        int32_t *in = inputs + (size_t)r * T;
        BN_TRY(bn_token_file_read(w->data, k * T, T, in));
        memcpy(targets + (size_t)r * T, in + 1, (T - 1) * sizeof *in);
        targets[(size_t)r * T + T - 1] = bn_token_file_id(w->data, k * T + T);
    }
    *rows = r;
    return BN_OK;
}
