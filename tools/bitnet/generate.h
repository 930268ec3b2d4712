/*
 * generate.h - the token loop of `bitnet run` and `bitnet chat`: sample, print, evaluate.
 */
#ifndef BN_CLI_GENERATE_H
#define BN_CLI_GENERATE_H

#include "model/forward.h"
#include "sampling_args.h"

#include <stdio.h>

/* Why generation ended. */
typedef enum bn_gen_end {
    BN_GEN_LIMIT = 0,     /* n_predict tokens were made */
    BN_GEN_EOG = 1,       /* the model chose an end-of-generation token */
    BN_GEN_STOP = 2,      /* the output reached a --stop string */
    BN_GEN_FULL = 3,      /* the context is full */
    BN_GEN_INTERRUPT = 4, /* SIGINT (bn_cli_interrupted) */
} bn_gen_end;

typedef struct bn_gen {
    const bn_model *m;
    bn_context *c;
    bn_sampler *s;
    const bn_cli_sampling *opt; /* n_predict and the stop strings */
    FILE *out;                  /* the text is streamed here */
    bn_bytes *reply;            /* if not NULL, the text printed is appended here */
    bn_tokens *cached;          /* if not NULL, each token evaluated is appended here */
} bn_gen;

typedef struct bn_gen_result {
    int n_sampled;   /* tokens sampled (the last one is not evaluated) */
    int n_evaluated; /* tokens evaluated into the cache */
    double seconds;  /* the whole loop */
    bn_gen_end end;
} bn_gen_result;

/* Generate after what the cache holds; logits[n_vocab] must hold the row of its last token.
 * Generated tokens are accepted into the sampler's history. End-of-generation tokens are not
 * printed, nor is a stop string or anything after it. */
bn_status bn_cli_generate(const bn_gen *g, float *logits, bn_gen_result *r);

/* "the -n limit", "an end-of-generation token", ... for messages. */
const char *bn_gen_end_str(bn_gen_end end);

#endif /* BN_CLI_GENERATE_H */
