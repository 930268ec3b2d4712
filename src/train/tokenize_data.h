/*
 * tokenize_data.h - text files into the token files training reads (train/data.h), split into
 * training and validation documents: what `bitnet tokenize-data` does, and what `bitnet train`
 * does itself for a config whose data are text files.
 *
 * Writes PREFIX.train.tok, PREFIX.val.tok and PREFIX.val.txt (the held-out documents as text,
 * separated by a blank line, for `bitnet perplexity`). Each document (the corpus convention of
 * data.h) is encoded as the tokenizer's BOS (when it adds one), the text, and its end-of-text
 * token. A document is held out when a hash of its text and the seed falls below the fraction:
 * the split depends on nothing else. Every file appears whole or not at all.
 */
#ifndef BN_TRAIN_TOKENIZE_DATA_H
#define BN_TRAIN_TOKENIZE_DATA_H

#include "text/tokenizer.h"
#include "train/data.h"

typedef struct bn_tokenize_data_params {
    const char *prefix;
    double val_fraction; /* 0 <= F < 1 */
    uint64_t seed;
    int threads; /* encoding threads; <= 1: the caller alone */
} bn_tokenize_data_params;

typedef struct bn_tokenize_data_counts {
    size_t docs[2];
    uint64_t tokens[2], bytes[2]; /* [0] training, [1] validation */
} bn_tokenize_data_counts;

bn_status bn_tokenize_data(const bn_tokenizer *t, const char *const *files, size_t n_files,
                           const bn_tokenize_data_params *p, bn_tokenize_data_counts *n);

#endif /* BN_TRAIN_TOKENIZE_DATA_H */
