/*
 * sampling_args.h - the generation options that `bitnet run` and `bitnet chat` share: how many
 * tokens, how to sample them (src/sample/sampler.h) and where to stop.
 */
#ifndef BN_CLI_SAMPLING_ARGS_H
#define BN_CLI_SAMPLING_ARGS_H

#include "cli.h"

#define BN_CLI_MAX_STOPS 16

typedef struct bn_cli_sampling {
    bn_sampler_params params;
    bool seed_given; /* --seed was given; otherwise bn_cli_sampling_seed draws one */
    bool ignore_eos; /* --ignore-eos: end-of-generation tokens are never sampled */
    int n_predict;   /* tokens to generate; -1 = until the context is full */
    int n_stops;
    const char *stops[BN_CLI_MAX_STOPS]; /* --stop strings (point into argv) */
} bn_cli_sampling;

/* The options' help, for a command's usage text (each line indented by two spaces). */
extern const char BN_CLI_SAMPLING_HELP[];

/* The sampler's defaults, n_predict as given, no stop strings. */
bn_cli_sampling bn_cli_sampling_defaults(int n_predict);

/* Without --seed, draw a random seed (so that --temp 0.8 differs from run to run) and, unless
 * the temperature is 0 (greedy: no random number is drawn), say it on stderr, so that --seed
 * SEED repeats the run; with --seed, nothing. Call once before creating the sampler. */
void bn_cli_sampling_seed(bn_cli_sampling *s);

/* If argv[*i] is one of the options in BN_CLI_SAMPLING_HELP, read and check its value, advance
 * *i past it and return BN_CLI_TAKEN; a missing or bad value prints a usage error naming the
 * option (bitnet CMD: --temp -1: must be ...) and returns BN_CLI_BAD. Otherwise
 * BN_CLI_NOT_MINE. */
bn_cli_opt bn_cli_sampling_option(const char *cmd, int argc, char **argv, int *i,
                                  bn_cli_sampling *s);

#endif /* BN_CLI_SAMPLING_ARGS_H */
