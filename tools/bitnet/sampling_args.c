/*
 * sampling_args.c - parsing and checking the generation options of run and chat.
 *
 * The sampler checks its own parameters (bn_sampler_params_check); we run that check after
 * every option, so the first bad value is reported with the option the user typed rather than
 * the field name inside the library.
 */
#include "sampling_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

const char BN_CLI_SAMPLING_HELP[] =
    "  -n N                    tokens to generate (-1: until the context is full; 0: none)\n"
    "  --temp T                temperature, >= 0; 0 is greedy (default 0.8)\n"
    "  --top-k K               keep the K likeliest tokens, >= 0; 0 = off (default 40)\n"
    "  --top-p P               nucleus sampling, in (0, 1]; 1 = off (default 0.95)\n"
    "  --min-p P               drop tokens below P x the likeliest, in [0, 1] (default 0.05)\n"
    "  --repeat-penalty R      > 0; 1 = off (default 1)\n"
    "  --repeat-last-n N       penalty window in tokens; -1 = all, 0 = off (default 64)\n"
    "  --frequency-penalty F   subtract F x count (default 0)\n"
    "  --presence-penalty P    subtract P once a token was seen (default 0)\n"
    "  --seed S                random seed, an unsigned integer (default: a new one each run,\n"
    "                          printed on stderr)\n"
    "  --stop TEXT             stop when the output contains TEXT (not printed); repeatable,\n"
    "                          up to 16 strings\n"
    "  --ignore-eos            never sample an end-of-generation token: generate until -n or\n"
    "                          the context ends (benchmarks)\n"
    "Sampling order: penalties, then temperature, top-k, top-p, min-p, as transformers' logits\n"
    "processors do (temperature first, so it changes which tokens top-p and min-p keep);\n"
    "llama.cpp's default chain applies the temperature last. --temp 0 is greedy.\n";

bn_cli_sampling bn_cli_sampling_defaults(int n_predict) {
    return (bn_cli_sampling){.params = bn_sampler_default_params(), .n_predict = n_predict};
}

/* 0: a number; 1: not a number; 2: a number out of float's range (1e309, 1e-50). */
static int parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    *out = strtof(s, &end);
    if (end == s || *end != '\0')
        return 1;
    return errno == ERANGE ? 2 : 0;
}

void bn_cli_sampling_seed(bn_cli_sampling *s) {
    if (s->seed_given)
        return;
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) { /* no entropy: the clock */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    s->params.seed = seed;
    s->seed_given = true;
    if (s->params.temperature > 0.0f) /* greedy decoding draws no random number */
        fprintf(stderr, "seed: %llu (--seed %llu repeats this run)\n", (unsigned long long)seed,
                (unsigned long long)seed);
}

/* Digits only: strtoull would wrap "-1" around to 2^64 - 1. */
static bool parse_seed(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0;
}

/* The sampler parameter option o sets: *f for a float, *n for an int; both NULL when o is not
 * one of them. */
static void find_param(bn_sampler_params *p, const char *o, float **f, int **n) {
    const struct {
        const char *name;
        float *f;
        int *n;
    } params[] = {
        {"--temp", &p->temperature, NULL},
        {"--top-k", NULL, &p->top_k},
        {"--top-p", &p->top_p, NULL},
        {"--min-p", &p->min_p, NULL},
        {"--repeat-penalty", &p->repeat_penalty, NULL},
        {"--repeat-last-n", NULL, &p->repeat_last_n},
        {"--frequency-penalty", &p->frequency_penalty, NULL},
        {"--presence-penalty", &p->presence_penalty, NULL},
    };
    *f = NULL;
    *n = NULL;
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++)
        if (!strcmp(o, params[k].name)) {
            *f = params[k].f;
            *n = params[k].n;
        }
}

/* The sampler's reason for refusing a value, without its "sampler: field = value: " prefix,
 * which would name the field rather than the option. */
static const char *sampler_reason(void) {
    const char *msg = bn_last_error(), *must = strstr(msg, ": must ");
    return must != NULL ? must + 2 : msg;
}

static bn_cli_opt set_param(const char *cmd, const char *o, const char *v, float *f, int *n,
                            const bn_cli_sampling *s) {
    int bad = f != NULL ? parse_float(v, f) : !bn_cli_parse_int(v, -(1L << 30), 1L << 30, n);
    if (bad == 2) {
        bn_cli_usage_error(cmd, "%s %s: out of range for a float", o, v);
        return BN_CLI_BAD;
    }
    if (bad) {
        bn_cli_usage_error(cmd, "%s %s: not a %s", o, v, f != NULL ? "number" : "whole number");
        return BN_CLI_BAD;
    }
    if (bn_sampler_params_check(&s->params) != BN_OK) {
        bn_cli_usage_error(cmd, "%s %s: %s", o, v, sampler_reason());
        return BN_CLI_BAD;
    }
    return BN_CLI_TAKEN;
}

static bn_cli_opt set_other(const char *cmd, const char *o, const char *v, bn_cli_sampling *s) {
    if (!strcmp(o, "-n") || !strcmp(o, "--n-predict")) {
        if (!bn_cli_parse_int(v, -(1L << 30), 1L << 30, &s->n_predict) || s->n_predict < -1) {
            bn_cli_usage_error(
                cmd, "%s %s: must be a whole number >= -1 (-1: until the context is full)", o, v);
            return BN_CLI_BAD;
        }
    } else if (!strcmp(o, "--seed")) {
        if (!parse_seed(v, &s->params.seed)) {
            bn_cli_usage_error(cmd, "--seed %s: must be an unsigned integer", v);
            return BN_CLI_BAD;
        }
        s->seed_given = true;
    } else if (!strcmp(o, "--stop")) {
        if (v[0] == '\0') {
            bn_cli_usage_error(cmd, "--stop: the stop string is empty");
            return BN_CLI_BAD;
        }
        if (s->n_stops == BN_CLI_MAX_STOPS) {
            bn_cli_usage_error(cmd, "--stop: at most %d stop strings", BN_CLI_MAX_STOPS);
            return BN_CLI_BAD;
        }
        s->stops[s->n_stops++] = v;
    } else {
        return BN_CLI_NOT_MINE;
    }
    return BN_CLI_TAKEN;
}

static bool is_other(const char *o) {
    return !strcmp(o, "-n") || !strcmp(o, "--n-predict") || !strcmp(o, "--seed") ||
           !strcmp(o, "--stop");
}

bn_cli_opt bn_cli_sampling_option(const char *cmd, int argc, char **argv, int *i,
                                  bn_cli_sampling *s) {
    const char *o = argv[*i];
    if (!strcmp(o, "--ignore-eos")) {
        s->ignore_eos = true;
        return BN_CLI_TAKEN;
    }
    float *f;
    int *n;
    find_param(&s->params, o, &f, &n);
    bool param = f != NULL || n != NULL;
    if (!param && !is_other(o))
        return BN_CLI_NOT_MINE;
    if (*i + 1 >= argc) {
        bn_cli_usage_error(cmd, "%s needs a value", o);
        return BN_CLI_BAD;
    }
    const char *v = argv[++*i];
    return param ? set_param(cmd, o, v, f, n, s) : set_other(cmd, o, v, s);
}
