/*
 * data.h - the data side of training: token files, the corpus convention, batches.
 *
 * A token file (PREFIX.train.tok, PREFIX.val.tok from `bitnet tokenize-data`) is a text already
 * encoded, read through a read-only mapping so that a corpus of any size costs no copy:
 *
 *   offset size  field
 *        0    8  magic "BNTOKENS"
 *        8    4  u32 version = 1
 *       12    4  u32 bytes per token: 2 when every id fits uint16 (vocabulary <= 65536), else 4
 *       16    8  u64 token count
 *       24    4  u32 vocabulary size (every id is below it)
 *       28    4  u32 end-of-text id (the token appended after each document)
 *       32    8  u64 FNV-1a hash of the tokenizer's token strings (bn_token_vocab_hash), so that
 *                training refuses a file made with another tokenizer
 *       40   24  reserved, zero
 *       64       the ids, count * bytes per token, little-endian
 *
 * All integers are little-endian; the file is exactly 64 + count * width bytes. Opening checks
 * every field, the size, and every id against the vocabulary.
 *
 * The corpus convention (`bitnet tokenize-data`, `bitnet train-tokenizer`,
 * scripts/make_corpus.py): a text file holds documents separated by a line holding only a form
 * feed ("\f", optionally followed by "\r"). Newlines at either end of a document are not part
 * of it; a document with nothing else is skipped; every input file ends a document.
 *
 * Batches: random windows of T + 1 consecutive tokens from a seeded xoshiro256** stream, the
 * first T the inputs and the last T the targets (each input's next token). The stream's state and
 * the number of batches drawn are the whole state, so a resumed run that restores them sees the
 * very batches an uninterrupted one would. Evaluation walks fixed, non-overlapping windows.
 */
#ifndef BN_TRAIN_DATA_H
#define BN_TRAIN_DATA_H

#include "base/rng.h"
#include "base/status.h"
#include "io/mapped_file.h"
#include "io/outfile.h"
#include "io/tokenizer_spec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_TOKEN_FILE_MAGIC   "BNTOKENS"
#define BN_TOKEN_FILE_VERSION 1
#define BN_TOKEN_FILE_HEADER  64

/* FNV-1a (64 bits) over each token string of s followed by a zero byte, in id order. */
uint64_t bn_token_vocab_hash(const bn_tokenizer_spec *s);

/* ---- writing ----------------------------------------------------------------------------- */

/* A token file being written (through io/outfile.h: it appears whole at commit or not at all). */
typedef struct bn_token_writer {
    bn_outfile out;
    uint64_t n_tokens;
    uint32_t width, n_vocab, eot_id;
    uint64_t vocab_hash;
    uint8_t *buf; /* ids waiting to be written */
    size_t buf_n;
} bn_token_writer;

/* Start path for ids below n_vocab (1..2^31-1); eot_id < n_vocab. */
bn_status bn_token_writer_open(bn_token_writer *w, const char *path, uint32_t n_vocab,
                               uint32_t eot_id, uint64_t vocab_hash);

/* Append n ids. BN_ERR_RANGE, naming the id, when one is outside [0, n_vocab). */
bn_status bn_token_writer_append(bn_token_writer *w, const int32_t *ids, size_t n);

/* Write the header with the final count and put the file in place. Frees w either way. */
bn_status bn_token_writer_commit(bn_token_writer *w);

/* Drop the file; the target is untouched. Safe on a zeroed or finished writer. */
void bn_token_writer_discard(bn_token_writer *w);

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct bn_token_file {
    bn_mapped_file map;
    const uint8_t *ids; /* n_tokens * width bytes, inside map */
    uint64_t n_tokens;
    uint32_t width, n_vocab, eot_id;
    uint64_t vocab_hash;
} bn_token_file;

/* Map and check path: magic, version, width, vocabulary, the size against the count, the
 * reserved bytes, every id. BN_ERR_FORMAT naming the path and the field otherwise. */
bn_status bn_token_file_open(bn_token_file *f, const char *path);

void bn_token_file_close(bn_token_file *f);

/* Token i (i < n_tokens: the caller's check). */
static inline int32_t bn_token_file_id(const bn_token_file *f, uint64_t i) {
    const uint8_t *p = f->ids + i * f->width;
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    if (f->width == 4)
        v |= (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)v;
}

/* Tokens [first, first + n) into out. BN_ERR_RANGE when they are not all in the file. */
bn_status bn_token_file_read(const bn_token_file *f, uint64_t first, size_t n, int32_t *out);

/* BN_ERR_INVALID_ARG, naming the file, when it was made with a tokenizer other than s (another
 * vocabulary size or other token strings). */
bn_status bn_token_file_check_tokenizer(const bn_token_file *f, const bn_tokenizer_spec *s);

/* ---- the corpus convention --------------------------------------------------------------- */

/* The next document of text[0..len) from *pos on: [*start, *end), and *pos moves past it.
 * false when no document is left. */
bool bn_corpus_next_document(const char *text, size_t len, size_t *pos, size_t *start, size_t *end);

/* Text files read whole and cut into documents. Invalid UTF-8 is replaced (each maximal
 * ill-formed subpart by U+FFFD, as the tokenizer's encoder does), so a document is exactly the
 * text that is encoded and learned from. */
typedef struct bn_corpus {
    char *text; /* every file, one after the other */
    size_t len;
    size_t n_docs;
    size_t *doc_start, *doc_len; /* document i is text[doc_start[i] .. + doc_len[i]) */
} bn_corpus;

/* Read paths[0..n_paths) into c. BN_ERR_IO naming the file when one cannot be read. */
bn_status bn_corpus_read(bn_corpus *c, const char *const *paths, size_t n_paths);

void bn_corpus_free(bn_corpus *c);

/* ---- training batches -------------------------------------------------------------------- */

/* Everything that decides the batches still to come. The shape and the file's token count are
 * kept so that restoring into another setup is refused rather than silently drawing others. */
typedef struct bn_batcher_state {
    uint64_t rng[4];
    uint64_t n_batches; /* drawn so far */
    uint64_t n_tokens;  /* of the token file */
    uint32_t batch, seq_len;
} bn_batcher_state;

#define BN_BATCHER_STATE_BYTES 64

typedef struct bn_batcher {
    const bn_token_file *data;
    int batch, seq_len; /* B rows of T positions */
    bn_rng rng;
    uint64_t n_batches;
} bn_batcher;

/* B rows of T tokens each from data (which must outlive b and hold at least T + 1 tokens). */
bn_status bn_batcher_init(bn_batcher *b, const bn_token_file *data, int batch, int seq_len,
                          uint64_t seed);

/* The next batch: inputs and targets, each batch * seq_len ids, row after row; row r is
 * tokens [s, s + T) and [s + 1, s + T + 1) for a start s drawn uniformly in [0, n - T - 1]. */
bn_status bn_batcher_next(bn_batcher *b, int32_t *inputs, int32_t *targets);

void bn_batcher_get_state(const bn_batcher *b, bn_batcher_state *s);

/* Continue from s. BN_ERR_INVALID_ARG when s belongs to another batch shape or token count,
 * or its generator state is impossible (all zero). */
bn_status bn_batcher_set_state(bn_batcher *b, const bn_batcher_state *s);

/* The state as 64 little-endian bytes (for a checkpoint), and back; decode checks nothing but
 * the length, set_state checks the rest. */
void bn_batcher_state_encode(const bn_batcher_state *s, uint8_t out[BN_BATCHER_STATE_BYTES]);
void bn_batcher_state_decode(bn_batcher_state *s, const uint8_t in[BN_BATCHER_STATE_BYTES]);

/* ---- evaluation -------------------------------------------------------------------------- */

/* Window k holds tokens [k T, k T + T]: non-overlapping windows that share only their boundary
 * token, so every token but the first is a target once. The same windows every time. */
typedef struct bn_eval_walk {
    const bn_token_file *data;
    int batch, seq_len;
    uint64_t n_windows; /* all the windows the file has: (n - 1) / T */
    uint64_t n_used;    /* how many the walk visits: all, or max_windows spread evenly */
    uint64_t next;      /* the next one to visit, 0..n_used */
} bn_eval_walk;

/* A walk over the windows of data in batches of up to `batch` rows; max_windows > 0 visits only
 * that many, spread evenly over the file (window floor(i * n_windows / max_windows)). A file
 * shorter than T + 1 tokens has no window: the walk is empty. */
bn_status bn_eval_walk_init(bn_eval_walk *w, const bn_token_file *data, int batch, int seq_len,
                            uint64_t max_windows);

/* The next rows into inputs and targets (batch * seq_len ids each); *rows is how many rows were
 * filled, 0 when the walk is over. */
bn_status bn_eval_walk_next(bn_eval_walk *w, int32_t *inputs, int32_t *targets, int *rows);

#endif /* BN_TRAIN_DATA_H */
