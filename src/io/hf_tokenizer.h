/*
 * hf_tokenizer.h - a Hugging Face tokenizer.json (+ tokenizer_config.json) read into the
 * vocabulary GGUF stores: token strings by id, token types, merges, special ids, the
 * pre-tokenizer's name and the chat template.
 *
 * Byte-level BPE only (GPT-2 / LLaMA-3 style: tokens are already in GPT-2's byte-to-unicode
 * form in tokenizer.json, exactly as GGUF wants them). This is the file-format half; the
 * tokenizer that encodes text is built on top of it (src/text).
 */
#ifndef BN_IO_HF_TOKENIZER_H
#define BN_IO_HF_TOKENIZER_H

#include "base/status.h"

#include <stdbool.h>
#include <stdint.h>

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    BN_TOKEN_NORMAL = 1,
    BN_TOKEN_UNKNOWN = 2,
    BN_TOKEN_CONTROL = 3,
    BN_TOKEN_USER_DEFINED = 4,
    BN_TOKEN_UNUSED = 5,
    BN_TOKEN_BYTE = 6,
};

typedef struct bn_hf_tokenizer {
    int64_t n_tokens; /* highest id + 1 */
    char **tokens;    /* [n_tokens]; ids missing from the file get "[PAD<id>]" (type UNUSED) */
    int32_t *types;   /* [n_tokens] */
    int64_t n_merges;
    char **merges; /* "left right", index = rank */
    bool ignore_merges;
    char pre[32];        /* "llama-bpe" (the LLaMA-3 split regex), "gpt2" (ByteLevel's own), "" */
    bool add_bos;        /* the post-processor puts a BOS special token first */
    int64_t bos_id;      /* -1 when none */
    int64_t eot_id;      /* id of <|eot_id|> or <|im_end|> when present, else -1 */
    char *chat_template; /* tokenizer_config.json's chat_template, NULL when absent */
} bn_hf_tokenizer;

/* Read dir/tokenizer.json (required) and dir/tokenizer_config.json (optional). Errors name the
 * file and the field: BN_ERR_NOT_FOUND, BN_ERR_FORMAT, BN_ERR_UNSUPPORTED (not byte-level BPE,
 * or an unknown pre-tokenizer regex). */
bn_status bn_hf_tokenizer_load(bn_hf_tokenizer **out, const char *dir);

void bn_hf_tokenizer_free(bn_hf_tokenizer *t);

/* The LLaMA-3 pre-tokenizer regex (facts §2.1), as tokenizer.json writes it. */
extern const char BN_LLAMA3_SPLIT_REGEX[];

#endif /* BN_IO_HF_TOKENIZER_H */
