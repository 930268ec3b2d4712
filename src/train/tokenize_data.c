/* tokenize_data.c - text files into training token files (tokenize_data.h). */
#include "train/tokenize_data.h"

#include "base/rng.h"
#include "base/threadpool.h"
#include "io/outfile.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 2048 /* documents encoded in parallel, then written in order */

/* A document is held out when splitmix64(FNV-1a(text) ^ seed), as a fraction of 2^64, falls
 * below F: a function of the text and the seed alone. */
static bool is_validation(const char *text, size_t len, uint64_t seed, double fraction) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)text[i]) * 0x100000001b3ull;
    h ^= seed;
    uint64_t x = bn_splitmix64(&h);
    return (double)(x >> 11) * (1.0 / 9007199254740992.0) < fraction; /* 53 bits in [0, 1) */
}

/* One block of documents, encoded by the pool's threads into one id list each. */
typedef struct block_job {
    const bn_tokenizer *t;
    const bn_corpus *c;
    size_t first;   /* the block's first document */
    bn_tokens *ids; /* [BLOCK] */
    int32_t eos;    /* appended to each document, unless the tokenizer already ends with it */
    bool eos_added; /* the post-processor adds eos itself */
    pthread_mutex_t lock;
    bn_status st; /* the first failure, with its message (errors are per thread) */
    char msg[BN_ERROR_MAX];
} block_job;

static void encode_range(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    block_job *j = ctx;
    for (size_t k = begin; k < end; k++) {
        size_t d = j->first + k;
        bn_tokens *ids = &j->ids[k];
        ids->n = 0;
        bn_status st = bn_tokenizer_encode(j->t, j->c->text + j->c->doc_start[d], j->c->doc_len[d],
                                           BN_TOK_ADD_SPECIAL, ids);
        if (st == BN_OK && !j->eos_added)
            st = bn_tokens_push(ids, j->eos);
        if (st != BN_OK) {
            pthread_mutex_lock(&j->lock);
            if (j->st == BN_OK) {
                j->st = st;
                snprintf(j->msg, sizeof j->msg, "document %zu: %s", d + 1, bn_last_error());
            }
            pthread_mutex_unlock(&j->lock);
            return;
        }
    }
}

typedef struct outputs {
    char train[4200], val[4200], txt[4200];
    bn_token_writer w_train, w_val;
    bn_outfile txt_file;
} outputs;

static bn_status open_outputs(outputs *o, const bn_tokenizer_spec *s, int32_t eos) {
    uint64_t hash = bn_token_vocab_hash(s);
    o->w_train = o->w_val = (bn_token_writer){.out = {.fd = -1, .slot = -1}};
    o->txt_file = (bn_outfile){.fd = -1, .slot = -1};
    BN_TRY(bn_token_writer_open(&o->w_train, o->train, (uint32_t)s->n_tokens, (uint32_t)eos, hash));
    BN_TRY(bn_token_writer_open(&o->w_val, o->val, (uint32_t)s->n_tokens, (uint32_t)eos, hash));
    return bn_outfile_open(&o->txt_file, o->txt);
}

static void discard_outputs(outputs *o) {
    bn_token_writer_discard(&o->w_train);
    bn_token_writer_discard(&o->w_val);
    bn_outfile_discard(&o->txt_file);
}

/* Encode every document and write it to its side, block after block. */
static bn_status encode_all(const bn_tokenize_data_params *a, const bn_tokenizer *t,
                            const bn_corpus *c, outputs *o, bn_tokenize_data_counts *n) {
    const bn_tokenizer_spec *s = bn_tokenizer_spec_of(t);
    block_job j = {.t = t, .c = c, .eos = s->eos_id, .lock = PTHREAD_MUTEX_INITIALIZER};
    j.eos_added = s->n_suffix > 0 && s->suffix[s->n_suffix - 1] == s->eos_id;
    bn_threadpool *pool = NULL;
    bn_status st = a->threads > 1 ? bn_threadpool_create(a->threads, &pool) : BN_OK;
    if (st == BN_OK && (j.ids = calloc(BLOCK, sizeof *j.ids)) == NULL)
        st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "token buffers");
    for (size_t first = 0; st == BN_OK && first < c->n_docs; first += BLOCK) {
        size_t count = c->n_docs - first < BLOCK ? c->n_docs - first : BLOCK;
        j.first = first;
        bn_parallel_for(pool, count, 1, encode_range, &j);
        if (j.st != BN_OK) {
            st = BN_ERROR(j.st, "%s", j.msg);
            break;
        }
        for (size_t k = 0; st == BN_OK && k < count; k++) {
            size_t d = first + k;
            const char *text = c->text + c->doc_start[d];
            size_t len = c->doc_len[d];
            int side = is_validation(text, len, a->seed, a->val_fraction);
            st = bn_token_writer_append(side ? &o->w_val : &o->w_train, j.ids[k].ids, j.ids[k].n);
            if (st == BN_OK && side && n->docs[1] > 0)
                st = bn_outfile_write(&o->txt_file, "\n\n", 2);
            if (st == BN_OK && side)
                st = bn_outfile_write(&o->txt_file, text, len);
            n->docs[side]++;
            n->tokens[side] += j.ids[k].n;
            n->bytes[side] += len;
        }
    }
    if (st == BN_OK && n->docs[1] > 0)
        st = bn_outfile_write(&o->txt_file, "\n", 1);
    for (size_t k = 0; j.ids != NULL && k < BLOCK; k++)
        bn_tokens_free(&j.ids[k]);
    free(j.ids);
    bn_threadpool_destroy(pool);
    pthread_mutex_destroy(&j.lock);
    return st;
}

bn_status bn_tokenize_data(const bn_tokenizer *t, const char *const *files, size_t n_files,
                           const bn_tokenize_data_params *p, bn_tokenize_data_counts *n) {
    memset(n, 0, sizeof *n);
    outputs o;
    memset(&o, 0, sizeof o);
    if (snprintf(o.train, sizeof o.train, "%s.train.tok", p->prefix) >= (int)sizeof o.train - 1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "tokenize-data: %s: the path is too long", p->prefix);
    snprintf(o.val, sizeof o.val, "%s.val.tok", p->prefix);
    snprintf(o.txt, sizeof o.txt, "%s.val.txt", p->prefix);
    if (!(p->val_fraction >= 0.0 && p->val_fraction < 1.0))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "tokenize-data: a validation fraction of %g (0 <= F "
                        "< 1)",
                        p->val_fraction);
    const bn_tokenizer_spec *s = bn_tokenizer_spec_of(t);
    if (s->eos_id < 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "tokenize-data: the tokenizer names no end-of-text "
                                            "(eos) token to end documents with");
    bn_corpus c = {0};
    BN_TRY(bn_corpus_read(&c, files, n_files));
    bn_status st = c.n_docs > 0 ? BN_OK
                                : BN_ERROR(BN_ERR_INVALID_ARG, "tokenize-data: no text in the "
                                                               "input files");
    if (st == BN_OK)
        st = open_outputs(&o, s, s->eos_id);
    if (st == BN_OK)
        st = encode_all(p, t, &c, &o, n);
    if (st == BN_OK)
        st = bn_token_writer_commit(&o.w_train);
    if (st == BN_OK)
        st = bn_token_writer_commit(&o.w_val);
    if (st == BN_OK)
        st = bn_outfile_commit(&o.txt_file);
    discard_outputs(&o);
    bn_corpus_free(&c);
    return st;
}
