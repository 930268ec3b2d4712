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
