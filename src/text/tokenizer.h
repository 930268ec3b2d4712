/*
 * tokenizer.h - text <-> token ids, exactly as Hugging Face `tokenizers` does it.
 *
 * Encoding, in the order the code runs (src/text/encode.c):
 *   1. invalid UTF-8 is replaced, each maximal ill-formed subpart by one U+FFFD (the policy
 *      of Python's bytes.decode(errors="replace"); tokenizers itself only takes valid text);
 *   2. added tokens are cut out of the text whole (special ones only with BN_TOK_PARSE_SPECIAL);
 *   3. each stretch between them is normalized (SentencePiece: "▁" for spaces, one in front)
 *      and split into pre-tokens (byte-level: PCRE2 regexes);
 *   4. each pre-token is merged by BPE rank (src/text/bpe.c);
 *   5. with BN_TOK_ADD_SPECIAL the post-processor's tokens (BOS) go around the result.
 * Decoding maps ids back to bytes; the streaming decoder holds back a UTF-8 sequence that a
 * token left unfinished until the next token completes it.
 *
 * A bn_tokenizer is read-only after creation and may be shared by threads.
 */
#ifndef BN_TEXT_TOKENIZER_H
#define BN_TEXT_TOKENIZER_H

#include "base/status.h"
#include "io/tokenizer_spec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bn_tokenizer bn_tokenizer;

/* A growable id array the caller owns and may reuse (encode appends; set n = 0 to reuse). */
typedef struct bn_tokens {
    int32_t *ids;
    size_t n, cap;
} bn_tokens;

/* A growable byte buffer, same rules. Not NUL-terminated unless a function says so. */
typedef struct bn_bytes {
    char *data;
    size_t n, cap;
} bn_bytes;

bn_status bn_tokens_push(bn_tokens *t, int32_t id);
void bn_tokens_free(bn_tokens *t);
void bn_bytes_free(bn_bytes *b);
bn_status bn_bytes_append(bn_bytes *b, const void *data, size_t n);

enum {
    BN_TOK_ADD_SPECIAL = 1u << 0, /* the post-processor's BOS/EOS (transformers' default) */
    BN_TOK_PARSE_SPECIAL =
        1u << 1, /* "<|eot_id|>" in the text is that token (tokenizers' default) */
};

/* A byte range [start, end) of a text. */
typedef struct bn_span {
    size_t start, end;
} bn_span;

/* bn_tokenizer_encode, except that special tokens are not parsed inside the plain spans (sorted,
 * disjoint), even with BN_TOK_PARSE_SPECIAL: a chat's template text holds its special tokens as
 * text, while what a user typed is only text ("<|eot_id|>" typed into a message stays those
 * characters). A special token must lie wholly outside the spans to be parsed. With spans, text
 * must be valid UTF-8 (BN_ERR_INVALID_ARG otherwise), so that its offsets are the ones encoded. */
bn_status bn_tokenizer_encode_plain(const bn_tokenizer *t, const char *text, size_t len,
                                    unsigned flags, const bn_span *plain, size_t n_plain,
                                    bn_tokens *out);

/* Build from a spec; takes ownership of spec (freed on failure too). Checks what a file can get
 * wrong: merges naming unknown tokens, duplicate tokens, missing byte tokens, bad regexes. */
bn_status bn_tokenizer_create(bn_tokenizer **out, bn_tokenizer_spec *spec);

/* Load from a GGUF file, a Hugging Face folder, or a tokenizer.json file. */
bn_status bn_tokenizer_load(bn_tokenizer **out, const char *path);

void bn_tokenizer_free(bn_tokenizer *t);

const bn_tokenizer_spec *bn_tokenizer_spec_of(const bn_tokenizer *t);
int32_t bn_tokenizer_n_vocab(const bn_tokenizer *t);

/* Append the ids of text[0..len) to out. */
bn_status bn_tokenizer_encode(const bn_tokenizer *t, const char *text, size_t len, unsigned flags,
                              bn_tokens *out);

/* The bytes token id stands for in decoded text (NULL and 0 for an id out of range). */
const char *bn_tokenizer_piece(const bn_tokenizer *t, int32_t id, size_t *len);

/* A special (control) token: skipped by decoding with skip_special. */
bool bn_tokenizer_is_special(const bn_tokenizer *t, int32_t id);

/* A token that ends generation (eos, eot and their kin). */
bool bn_tokenizer_is_eog(const bn_tokenizer *t, int32_t id);

/* Append the text of ids to out. BN_ERR_RANGE for an id outside the vocabulary. */
bn_status bn_tokenizer_decode(const bn_tokenizer *t, const int32_t *ids, size_t n,
                              bool skip_special, bn_bytes *out);

/* The same as valid UTF-8 text, exactly as Hugging Face tokenizers' decode() gives it: byte-level
 * output has each maximal ill-formed subpart replaced by U+FFFD; a run of <0xXX> byte tokens
 * that is not valid UTF-8 becomes one U+FFFD per token (its ByteFallback decoder). For JSON and
 * other places that need text rather than bytes. */
bn_status bn_tokenizer_decode_text(const bn_tokenizer *t, const int32_t *ids, size_t n,
                                   bool skip_special, bn_bytes *out);

/* Streaming decoder: feed ids one at a time, print what it appends. */
typedef struct bn_detokenizer {
    const bn_tokenizer *t;
    bool skip_special;
    bool started;       /* a byte has been produced (the leading-space rule applies before) */
    uint8_t pending[4]; /* an unfinished UTF-8 sequence */
    size_t n_pending;
} bn_detokenizer;

void bn_detokenizer_init(bn_detokenizer *d, const bn_tokenizer *t, bool skip_special);
bn_status bn_detokenizer_push(bn_detokenizer *d, int32_t id, bn_bytes *out);
/* Emit whatever is held back (an incomplete sequence at the very end stays as raw bytes). */
bn_status bn_detokenizer_flush(bn_detokenizer *d, bn_bytes *out);

#endif /* BN_TEXT_TOKENIZER_H */
