/*
 * decode.c - ids -> text, all at once or one token at a time.
 *
 * Each token stands for fixed bytes (tokenizer.c works them out once). Two rules sit on top:
 * special tokens can be skipped, and SentencePiece-style decoders drop the one space their
 * encoder put in front of the text. The streaming decoder also holds back the first bytes of
 * a UTF-8 character whose other bytes are in the next token.
 */
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

const char *bn_tokenizer_piece(const bn_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n) {
        *len = 0;
        return NULL;
    }
    *len = t->out_len[id];
    return (const char *)t->out[id];
}

bool bn_tokenizer_is_special(const bn_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n && (t->flags[id] & BN_TF_SPECIAL);
}

bool bn_tokenizer_is_eog(const bn_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n && (t->flags[id] & BN_TF_EOG);
}

/* The bytes of one token after the skip and leading-space rules; *started tracks whether the
 * output has begun. */
static const uint8_t *token_bytes(const bn_tokenizer *t, int32_t id, bool skip_special,
                                  bool *started, size_t *len) {
    *len = 0;
    if (skip_special && (t->flags[id] & BN_TF_SPECIAL))
        return NULL;
    const uint8_t *p = t->out[id];
    size_t n = t->out_len[id];
    if (!*started && n > 0) {
        *started = true;
        if (t->spec->strip_leading_space && p[0] == ' ') {
            p++;
            n--;
        }
    }
    *len = n;
    return p;
}

static bn_status check_id(const bn_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n)
        return BN_ERROR(BN_ERR_RANGE, "token id %d is outside the vocabulary (0..%d)", id,
                        t->n - 1);
    return BN_OK;
}

bn_status bn_tokenizer_decode(const bn_tokenizer *t, const int32_t *ids, size_t n,
                              bool skip_special, bn_bytes *out) {
    bool started = false;
    for (size_t i = 0; i < n; i++) {
        BN_TRY(check_id(t, ids[i]));
        size_t len;
        const uint8_t *p = token_bytes(t, ids[i], skip_special, &started, &len);
        if (len > 0)
            BN_TRY(bn_bytes_append(out, p, len));
    }
    return BN_OK;
}

static const uint8_t REPLACEMENT[3] = {0xEF, 0xBF, 0xBD};

/* A run of byte tokens: kept when it is valid UTF-8, else one U+FFFD per byte. */
static bn_status flush_byte_run(bn_bytes *out, size_t run_start) {
    size_t n = out->n - run_start;
    if (n == 0 || bn_utf8_is_valid((const uint8_t *)out->data + run_start, n))
        return BN_OK;
    out->n = run_start;
    for (size_t i = 0; i < n; i++)
        BN_TRY(bn_bytes_append(out, REPLACEMENT, 3));
    return BN_OK;
}

bn_status bn_tokenizer_decode_text(const bn_tokenizer *t, const int32_t *ids, size_t n,
                                   bool skip_special, bn_bytes *out) {
    size_t start = out->n;
    if (t->spec->model == BN_TOK_BYTE_BPE || !t->spec->decode_byte_tokens) {
        BN_TRY(bn_tokenizer_decode(t, ids, n, skip_special, out));
        size_t len = out->n - start;
        if (bn_utf8_is_valid((const uint8_t *)out->data + start, len))
            return BN_OK;
        uint8_t *clean = malloc(3 * len); /* from_utf8_lossy is bn_utf8_sanitize's policy */
        if (clean == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "decode");
        size_t k = bn_utf8_sanitize((const uint8_t *)out->data + start, len, clean);
        out->n = start;
        bn_status st = bn_bytes_append(out, clean, k);
        free(clean);
        return st;
    }
    bool started = false;
    size_t run = out->n; /* where the current run of byte tokens began */
    for (size_t i = 0; i < n; i++) {
        BN_TRY(check_id(t, ids[i]));
        size_t len;
        const uint8_t *p = token_bytes(t, ids[i], skip_special, &started, &len);
        if (p == NULL)
            continue; /* skipped: byte runs join across it, as in tokenizers */
        if (t->spec->types[ids[i]] != BN_TOKEN_BYTE) {
            BN_TRY(flush_byte_run(out, run));
            BN_TRY(bn_bytes_append(out, p, len));
            run = out->n;
        } else {
            BN_TRY(bn_bytes_append(out, p, len));
        }
    }
    return flush_byte_run(out, run);
}

void bn_detokenizer_init(bn_detokenizer *d, const bn_tokenizer *t, bool skip_special) {
    *d = (bn_detokenizer){.t = t, .skip_special = skip_special};
}

bn_status bn_detokenizer_push(bn_detokenizer *d, int32_t id, bn_bytes *out) {
    BN_TRY(check_id(d->t, id));
    size_t len;
    const uint8_t *p = token_bytes(d->t, id, d->skip_special, &d->started, &len);
    if (len == 0)
        return BN_OK;
    uint8_t joined[64];
    const uint8_t *s = p;
    size_t n = len;
    if (d->n_pending > 0) { /* finish the held-back character first */
        size_t take = len < sizeof joined - d->n_pending ? len : sizeof joined - d->n_pending;
        memcpy(joined, d->pending, d->n_pending);
        memcpy(joined + d->n_pending, p, take);
        size_t head = d->n_pending + take;
        size_t tail = take == len ? bn_utf8_incomplete_tail(joined, head) : 0;
        BN_TRY(bn_bytes_append(out, joined, head - tail));
        memcpy(d->pending, joined + head - tail, tail);
        d->n_pending = tail;
        if (take == len)
            return BN_OK;
        s = p + take;
        n = len - take;
    }
    size_t tail = bn_utf8_incomplete_tail(s, n);
    BN_TRY(bn_bytes_append(out, s, n - tail));
    memcpy(d->pending, s + n - tail, tail);
    d->n_pending = tail;
    return BN_OK;
}

bn_status bn_detokenizer_flush(bn_detokenizer *d, bn_bytes *out) {
    bn_status st = bn_bytes_append(out, d->pending, d->n_pending);
    d->n_pending = 0;
    return st;
}
