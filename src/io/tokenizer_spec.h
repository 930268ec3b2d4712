/*
 * tokenizer_spec.h - everything a tokenizer file says, in one struct, whatever the file.
 *
 * Two files describe tokenizers: Hugging Face tokenizer.json (+ tokenizer_config.json) and the
 * tokenizer.* keys of GGUF. Both loaders fill a bn_tokenizer_spec; the runtime tokenizer
 * (src/text/tokenizer.c) is built from a spec and never looks at a file, and the converter
 * writes a spec into GGUF. So "tokenizer.json and GGUF give the same ids" reduces to "both
 * loaders give the same spec", which is what the tests check first.
 *
 * Two model families are covered, both BPE:
 *   - byte-level BPE (GPT-2, LLaMA-3): text -> regex pre-tokens -> bytes -> merges. Token
 *     strings are stored in GPT-2's byte-to-unicode form ("Ġhello").
 *   - SentencePiece-style BPE (LLaMA-2, 1bitLLM): spaces become U+2581 "▁", a "▁" is put in
 *     front of the text, characters -> merges, and characters outside the vocabulary fall back
 *     to byte tokens "<0xXX>".
 */
#ifndef BN_IO_TOKENIZER_SPEC_H
#define BN_IO_TOKENIZER_SPEC_H

#include "base/status.h"

#include <stdbool.h>
#include <stddef.h>
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

typedef enum bn_tok_model {
    BN_TOK_BYTE_BPE = 1, /* GGUF tokenizer.ggml.model = "gpt2" */
    BN_TOK_SPM_BPE = 2,  /* GGUF tokenizer.ggml.model = "llama" */
} bn_tok_model;

/* Where the SentencePiece-style "▁" goes in front of a stretch of text (a stretch is the text
 * between two added tokens). */
typedef enum bn_tok_prepend {
    BN_PREPEND_NONE = 0,
    BN_PREPEND_ALWAYS = 1,     /* every non-empty stretch (HF Prepend normalizer, llama.cpp) */
    BN_PREPEND_IF_MISSING = 2, /* every stretch not already starting with ▁ (Metaspace always) */
    BN_PREPEND_FIRST_ONLY = 3, /* the stretch at the start of the text only (Metaspace first) */
} bn_tok_prepend;

/* How a Split pre-tokenizer treats what its regex matches (tokenizers' SplitDelimiterBehavior). */
typedef enum bn_split_behavior {
    BN_SPLIT_ISOLATED = 0,
    BN_SPLIT_REMOVED = 1,
    BN_SPLIT_MERGED_WITH_PREVIOUS = 2,
    BN_SPLIT_MERGED_WITH_NEXT = 3,
    BN_SPLIT_CONTIGUOUS = 4,
} bn_split_behavior;

#define BN_TOK_MAX_SPLITS 4
#define BN_TOK_MAX_AFFIX  4
#define BN_TOK_MAX_EOG    8

typedef struct bn_tok_split {
    char *regex; /* PCRE2 syntax */
    bn_split_behavior behavior;
} bn_tok_split;

/* An added token: matched as a whole in the input text before any pre-tokenization. */
typedef struct bn_tok_added {
    int32_t id;
    bool special; /* recognised only when the caller allows special tokens; skippable on decode */
    bool lstrip, rstrip; /* swallow the whitespace on its left / right */
    bool single_word;    /* only when not inside a word */
} bn_tok_added;

typedef struct bn_tokenizer_spec {
    bn_tok_model model;
    int32_t n_tokens;
    char **tokens;  /* [n_tokens], as the file stores them; added tokens hold their literal text */
    int32_t *types; /* [n_tokens] BN_TOKEN_* */
    float *scores; /* [n_tokens] or NULL: SentencePiece merge priorities when there are no merges */
    int32_t n_merges;
    char **merges; /* "left right", index = rank; may be 0 for SentencePiece GGUF files */

    bool ignore_merges; /* a pre-token that is itself in the vocabulary is emitted as is */
    bool byte_fallback; /* characters outside the vocabulary become <0xXX> tokens */
    bool fuse_unk;      /* consecutive unknown characters give one unknown token */

    /* byte-level pre-tokenization: the Split regexes in order, then GPT-2's regex if set */
    int n_splits;
    bn_tok_split splits[BN_TOK_MAX_SPLITS];
    bool gpt2_regex;       /* ByteLevel(use_regex = true) */
    bool add_prefix_space; /* ByteLevel(add_prefix_space = true) */
    char pre[32];          /* GGUF tokenizer.ggml.pre name: "llama-bpe", "gpt2", or "" (custom) */
    char note[200];        /* a remark for `bitnet info`, e.g. how a missing pre was resolved */

    /* SentencePiece-style normalization and decoding */
    bn_tok_prepend prepend;
    bool replace_space;       /* " " -> "▁" */
    bool metaspace_split;     /* split words before each "▁" (Metaspace split = true) */
    bool strip_leading_space; /* the decoder drops one leading space of the output */
    bool decode_byte_tokens;  /* the decoder turns <0xXX> into its byte (HF ByteFallback) */

    /* post-processing (TemplateProcessing for one sequence, or GGUF add_bos/add_eos) */
    int n_prefix, n_suffix;
    int32_t prefix[BN_TOK_MAX_AFFIX], suffix[BN_TOK_MAX_AFFIX];

    int32_t n_added;
    bn_tok_added *added;

    int32_t unk_id, bos_id, eos_id, eot_id, pad_id; /* -1 when none */
    int n_eog;
    int32_t eog[BN_TOK_MAX_EOG]; /* every token that ends generation */
    char *chat_template;         /* Jinja text, NULL when the file has none */
} bn_tokenizer_spec;

/* Load dir/tokenizer.json (or the tokenizer.json file itself) and the tokenizer_config.json
 * beside it. Errors name the file and the field. */
bn_status bn_tokenizer_spec_load_hf(bn_tokenizer_spec **out, const char *path);

/* The same from memory: tokenizer.json text and tokenizer_config.json text (config may be NULL);
 * name is used in messages. */
bn_status bn_tokenizer_spec_parse_hf(bn_tokenizer_spec **out, const char *json, size_t len,
                                     const char *config, size_t config_len, const char *name);

typedef struct bn_gguf bn_gguf;
typedef struct bn_gguf_writer bn_gguf_writer;

/* Read the tokenizer.* keys of an open GGUF file. */
bn_status bn_tokenizer_spec_load_gguf(bn_tokenizer_spec **out, const bn_gguf *g);

/* Write the spec as tokenizer.* keys. BN_ERR_UNSUPPORTED when GGUF cannot say what the spec
 * does (a custom pre-tokenizer regex). */
bn_status bn_tokenizer_spec_write_gguf(const bn_tokenizer_spec *s, bn_gguf_writer *w);

/* Write a byte-level BPE spec as dir/tokenizer.json and dir/tokenizer_config.json (the folder
 * must exist), each through io/outfile.h, as Hugging Face tokenizers and transformers write
 * them (hf_tokenizer_write.c). BN_ERR_UNSUPPORTED for a SentencePiece-style spec. */
bn_status bn_tokenizer_spec_write_hf(const bn_tokenizer_spec *s, const char *dir);

void bn_tokenizer_spec_free(bn_tokenizer_spec *s);

/* Helpers shared by the loaders. */
bn_status bn_tokenizer_spec_alloc(bn_tokenizer_spec *s, int32_t n_tokens, const char *what);
int32_t bn_tokenizer_spec_find(const bn_tokenizer_spec *s, const char *token); /* -1 if absent */
void bn_tokenizer_spec_add_eog(bn_tokenizer_spec *s, int32_t id);
/* Fill eot and the end-of-generation list from the token strings the model families use. */
void bn_tokenizer_spec_find_eog(bn_tokenizer_spec *s);

/* The pre-tokenizer regexes (facts §2.1): LLaMA-3's as tokenizer.json writes it, and GPT-2's. */
extern const char BN_LLAMA3_SPLIT_REGEX[];
extern const char BN_GPT2_SPLIT_REGEX[];

#endif /* BN_IO_TOKENIZER_SPEC_H */
