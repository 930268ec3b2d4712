/*
 * generate.h - the token loop of `bitnet run` and `bitnet chat`, on the public API's generator
 * (bn_generator, bitnet.h): its text streamed to a FILE as it comes, Ctrl-C stopping it.
 */
#ifndef BN_CLI_GENERATE_H
#define BN_CLI_GENERATE_H

#include "sampling_args.h"

#include <stdio.h>

typedef struct bn_cli_gen {
    bn_context *c;
    bn_sampler *s;
    const bn_cli_sampling *opt; /* n_predict, the stop strings, --ignore-eos */
    FILE *out;                  /* the text is streamed here */
    bn_bytes *reply;            /* if not NULL, the text printed is appended here */
    bn_tokens *sampled;         /* if not NULL, each token sampled is appended here */
} bn_cli_gen;

/* Evaluate prompt[0..n_prompt) after what sequence 0 holds, then generate, printing the text.
 * End-of-generation tokens are not printed, nor is a stop string or anything after it.
 * Ctrl-C (bn_cli_interrupted) stops it with BN_STOP_CALLBACK. */
bn_status bn_cli_generate(const bn_cli_gen *g, const int32_t *prompt, int n_prompt,
                          bn_generate_result *r);

/* "the -n limit", "an end-of-generation token", ... for messages. */
const char *bn_cli_stop_str(bn_stop_reason reason);

#endif /* BN_CLI_GENERATE_H */
