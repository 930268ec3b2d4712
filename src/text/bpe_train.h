/*
 * bpe_train.h - a small byte-level BPE trainer, for the tokenizers of synthetic models.
 *
 * The vocabulary it makes is a real one, in the LLaMA-3 form (GPT-2's byte-to-unicode token
 * strings, LLaMA-3's split regex, ignore_merges):
 *   1. the 256 byte tokens, in GPT-2's order (ids 0..255);
 *   2. merges learned from a text the way BPE training does: split it into pre-tokens with the
 *      regex, then repeatedly merge the most frequent adjacent pair inside a pre-token (ties to
 *      the lowest pair of ids), while some pair occurs at least twice;
 *   3. when the text runs out of pairs before the vocabulary is full, merges that extend a
 *      word-like token (an optional leading space and ASCII letters) by one lower-case letter,
 *      in id order and English letter-frequency order, skipping words that exist already.
 * So every token is one that encoding some text produces (step 3's tokens are words the regex
 * keeps in one pre-token), and the result depends on nothing but the text and the size.
 */
#ifndef BN_TEXT_BPE_TRAIN_H
#define BN_TEXT_BPE_TRAIN_H

#include "io/tokenizer_spec.h"

/* Fill tokens [0, n_normal) of s (allocated with bn_tokenizer_spec_alloc for at least n_normal
 * tokens) as BN_TOKEN_NORMAL, the merges, and the byte-level LLaMA-3 pre-tokenizer settings.
 * The tokens from n_normal on are the caller's (special tokens). n_normal must be at least 256
 * (BN_ERR_INVALID_ARG otherwise); the text must be valid UTF-8 (BN_ERR_INVALID_ARG). */
bn_status bn_bpe_train(bn_tokenizer_spec *s, int32_t n_normal, const char *text, size_t len);

/* The same, learning from several texts (documents) that are pre-tokenized one by one, so that
 * no pre-token spans two of them (as when each is encoded on its own). bn_bpe_train is this
 * with one text; the order of the texts does not change the result. */
bn_status bn_bpe_train_texts(bn_tokenizer_spec *s, int32_t n_normal, const char *const *texts,
                             const size_t *lens, size_t n_texts);

#endif /* BN_TEXT_BPE_TRAIN_H */
