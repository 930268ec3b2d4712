/*
 * tokenizer_spec.c - the parts of a tokenizer spec that do not depend on the file it came from.
 */
#include "io/tokenizer_spec.h"

#include <stdlib.h>
#include <string.h>

/* The tiktoken pattern of LLaMA-3 exactly as its tokenizer.json writes it (facts §2.1). */
const char BN_LLAMA3_SPLIT_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* GPT-2's pattern, which the ByteLevel pre-tokenizer applies when use_regex is true. */
const char BN_GPT2_SPLIT_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

bn_status bn_tokenizer_spec_alloc(bn_tokenizer_spec *s, int32_t n_tokens, const char *what) {
    s->n_tokens = n_tokens;
    s->tokens = calloc((size_t)n_tokens, sizeof *s->tokens);
    s->types = calloc((size_t)n_tokens, sizeof *s->types);
    if (s->tokens == NULL || s->types == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: %d tokens", what, (int)n_tokens);
    return BN_OK;
}

int32_t bn_tokenizer_spec_find(const bn_tokenizer_spec *s, const char *token) {
    for (int32_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i] != NULL && strcmp(s->tokens[i], token) == 0)
            return i;
    return -1;
}

void bn_tokenizer_spec_add_eog(bn_tokenizer_spec *s, int32_t id) {
    if (id < 0 || id >= s->n_tokens || s->n_eog >= BN_TOK_MAX_EOG)
        return;
    for (int i = 0; i < s->n_eog; i++)
        if (s->eog[i] == id)
            return;
    s->eog[s->n_eog++] = id;
}

/* The end-of-turn and end-of-text tokens of the chat formats we know: a model stops on any. */
void bn_tokenizer_spec_find_eog(bn_tokenizer_spec *s) {
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    static const char *const end_names[] = {"<|end_of_text|>", "<|endoftext|>", "</s>"};
    for (size_t i = 0; i < sizeof eot_names / sizeof eot_names[0] && s->eot_id < 0; i++)
        s->eot_id = bn_tokenizer_spec_find(s, eot_names[i]);
    bn_tokenizer_spec_add_eog(s, s->eos_id);
    bn_tokenizer_spec_add_eog(s, s->eot_id);
    for (size_t i = 0; i < sizeof end_names / sizeof end_names[0]; i++) {
        int32_t id = bn_tokenizer_spec_find(s, end_names[i]);
        if (id >= 0 && s->types[id] == BN_TOKEN_CONTROL)
            bn_tokenizer_spec_add_eog(s, id);
    }
}

void bn_tokenizer_spec_free(bn_tokenizer_spec *s) {
    if (s == NULL)
        return;
    for (int32_t i = 0; s->tokens != NULL && i < s->n_tokens; i++)
        free(s->tokens[i]);
    for (int32_t i = 0; s->merges != NULL && i < s->n_merges; i++)
        free(s->merges[i]);
    for (int i = 0; i < s->n_splits; i++)
        free(s->splits[i].regex);
    free(s->tokens);
    free(s->types);
    free(s->scores);
    free(s->merges);
    free(s->added);
    free(s->chat_template);
    free(s);
}
