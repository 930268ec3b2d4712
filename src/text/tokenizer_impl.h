/*
 * tokenizer_impl.h - the inside of bn_tokenizer, shared by its build (tokenizer.c), the
 * encoder (encode.c), BPE (bpe.c) and the decoder (decode.c). Nothing outside src/text.
 */
#ifndef BN_TEXT_TOKENIZER_IMPL_H
#define BN_TEXT_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/tokenizer.h"

#include <pcre2.h>
#include <pthread.h>

enum {
    BN_TF_SPECIAL = 1 << 0, /* skipped by decode(skip_special) */
    BN_TF_EOG = 1 << 1,
};

/* Added tokens in a byte trie: children of a node are a sibling list (the root's are a table,
 * since every text position starts there). */
typedef struct bn_trie_node {
    int32_t child, sibling; /* node indices, -1 when none */
    int32_t added;          /* index into spec->added when a token ends here, else -1 */
    uint8_t byte;
} bn_trie_node;

/* A BPE word cache entry: short pre-tokens recur constantly in real text. */
#define BN_CACHE_SLOTS   8192
#define BN_CACHE_MAX_LEN 30
#define BN_CACHE_MAX_IDS 7
typedef struct bn_cache_entry {
    uint64_t hash;
    uint8_t len, n_ids;
    uint8_t bytes[BN_CACHE_MAX_LEN];
    int32_t ids[BN_CACHE_MAX_IDS];
} bn_cache_entry;

struct bn_tokenizer {
    bn_tokenizer_spec *spec;
    int32_t n;

    /* per token: the bytes the model looks it up by, and the bytes it decodes to */
    const uint8_t **key, **out;
    uint32_t *key_len, *out_len;
    uint8_t *flags;
    uint8_t *arena;

    /* key bytes -> id, open addressing; -1 marks an empty slot */
    int32_t *map;
    uint32_t map_mask;

    /* (left id, right id) -> (rank, result id) */
    uint64_t *pair_key; /* UINT64_MAX marks an empty slot */
    int32_t *pair_rank, *pair_result;
    uint32_t pair_mask;

    /* SentencePiece-style: no piece has a ▁ after another character, so no merge can cross the
     * start of a ▁-led word and words can be merged (and cached) one by one. */
    bool spm_words_independent;

    int32_t byte_id[256]; /* byte-level: the token of each byte; SentencePiece: <0xXX> */

    bn_trie_node *trie;
    int32_t n_trie;
    uint8_t first_byte[256]; /* 1 when some added token starts with this byte */

    pcre2_code *re[BN_TOK_MAX_SPLITS + 1];
    bn_split_behavior re_behavior[BN_TOK_MAX_SPLITS + 1];
    int n_re;
    pcre2_code *word_char; /* one \w character as tokenizers' regex crate defines it */

    pthread_mutex_t cache_lock;
    bn_cache_entry *cache;
};

uint64_t bn_tok_hash(const uint8_t *s, size_t n);
int32_t bn_tok_lookup(const bn_tokenizer *t, const uint8_t *s, size_t n);
/* Rank and result of merging left with right, or -1 when they do not merge. */
int32_t bn_tok_pair(const bn_tokenizer *t, int32_t left, int32_t right, int32_t *result);

/* Per-call scratch of the encoder (the tokenizer itself stays read-only). */
typedef struct bn_bpe_symbol {
    int32_t id, prev, next;
} bn_bpe_symbol;

typedef struct bn_bpe_merge {
    int32_t rank, pos, left, right, result; /* result: the merged token, kept from the lookup */
} bn_bpe_merge;

typedef struct bn_encoder {
    const bn_tokenizer *t;
    bn_tokens *out;
    bn_cache_entry *cache; /* NULL when another thread holds it */
    pcre2_match_data *md;
    bn_bpe_symbol *sym;
    bn_bpe_merge *heap;
    size_t cap;   /* of sym and heap */
    uint8_t *buf; /* normalized text of a stretch */
    size_t buf_cap;
    const bn_span *plain; /* byte ranges where special tokens are not parsed (sorted) */
    size_t n_plain;
} bn_encoder;

/* BPE over one pre-token (bytes in the model's key form), appending ids to e->out. */
bn_status bn_bpe_word(bn_encoder *e, const uint8_t *w, size_t n);

/* GPT-2's byte <-> code point table (bytes that print stay themselves, others go above 0x100). */
uint32_t bn_byte_to_cp(uint8_t b);
int bn_cp_to_byte(uint32_t cp); /* -1 when cp is not one of the 256 */

#endif /* BN_TEXT_TOKENIZER_IMPL_H */
