/*
 * bench_train.c - `bitnet bench train CONFIG`: training steps per second of a model shape,
 * measured as scripts/train_reference.py bench measures PyTorch (same shape, batch, random
 * tokens, AdamW with clipping; the median of timed steps after warm-up; peak resident memory),
 * so the two compare side by side (bench/RESULTS.md).
 */
#include "cli.h"

#include "base/rng.h"
#include "base/timer.h"
#include "text/tokenizer.h"
#include "train/json_fields.h"
#include "train/net.h"
#include "train/optim.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char USAGE[] =
    "usage: bitnet bench train CONFIG.json [--steps N] [--warmup N] [-t THREADS] [--json]\n"
    "\n"
    "Time training steps (forward, backward, clipping, AdamW) of the model in CONFIG's \"model\"\n"
    "object (its vocab given) on \"batch\" sequences of random tokens (bench/train-shape.json is\n"
    "the shape of bench/RESULTS.md). Prints the median step time and tokens/s over the timed\n"
    "steps, and the peak resident memory: what scripts/train_reference.py bench prints for\n"
    "PyTorch on the same file.\n"
    "\n"
    "  --steps N    timed steps (default 8)\n"
    "  --warmup N   untimed steps first (default 2)\n"
    "  -t N         threads (default: one per CPU this process may use)\n"
    "  --json       one JSON object\n";

typedef struct bench_args {
    const char *config;
    int steps, warmup, threads;
    bool json;
} bench_args;

static int parse(int argc, char **argv, bench_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bn_cli_opt t = bn_cli_threads_option("bench train", argc, argv, &i, &a->threads);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            return -1;
        } else if (!strcmp(o, "--json")) {
            a->json = true;
        } else if ((!strcmp(o, "--steps") || !strcmp(o, "--warmup")) && v != NULL) {
            int *dst = !strcmp(o, "--steps") ? &a->steps : &a->warmup;
            if (!bn_cli_parse_int(v, !strcmp(o, "--steps") ? 1 : 0, 100000, dst))
                return bn_cli_usage_error("bench train", "%s %s: not a step count", o, v);
            i++;
        } else if (o[0] == '-' && o[1] != '\0') {
            return bn_cli_usage_error("bench train", "unknown option or missing value: %s", o);
        } else if (a->config == NULL) {
            a->config = o;
        } else {
            return bn_cli_usage_error("bench train", "one config, not %s too", o);
        }
    }
    if (a->config == NULL)
        return bn_cli_usage_error("bench train", "want CONFIG.json (bitnet bench train --help)");
    return 0;
}

/* The "model" object (with its vocab) and "batch" of a config file. */
static bn_status read_shape(const char *path, bn_net_config *m, int *batch) {
    bn_bytes text = {0};
    if (bn_cli_read_input(path, &text) != 0)
        return BN_ERR_IO;
    bn_status s = bn_bytes_append(&text, "", 1);
    cJSON *j = s == BN_OK ? cJSON_Parse(text.data) : NULL;
    bn_bytes_free(&text);
    if (j == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: not JSON", path);
    bn_jobj root = {.obj = j, .path = ""}, model;
    *batch = 8;
    s = bn_jobj_member(&root, "model", true, &model);
    if (s == BN_OK)
        s = bn_net_config_read(&model, m);
    if (s == BN_OK)
        s = bn_jobj_int32(&root, "batch", false, 1, 1 << 16, batch);
    if (s == BN_OK && m->vocab == 0)
        s = BN_ERROR(BN_ERR_INVALID_ARG, "model.vocab is needed (there is no tokenizer here)");
    if (s == BN_OK)
        s = bn_net_config_check(m);
    cJSON_Delete(j);
    return s == BN_OK ? BN_OK : BN_ERROR(s, "%s: %s", path, bn_last_error());
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_run {
    bn_net *net;
    bn_adamw *opt;
    bn_tape *tape;
    bn_threadpool *pool;
    int32_t *tokens, *targets;
} bench_run;

static bn_status run_steps(bench_run *r, int batch, int n, double *times, double *loss) {
    const bn_net_config *c = &r->net->cfg;
    bn_rng rng;
    bn_rng_seed(&rng, 7);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < batch * c->context; k++) {
            r->tokens[k] = (int32_t)(bn_rng_next(&rng) % (uint64_t)c->vocab);
            r->targets[k] = (int32_t)(bn_rng_next(&rng) % (uint64_t)c->vocab);
        }
        double t0 = bn_time_s();
        bn_tape_reset(r->tape);
        bn_net_zero_grad(r->net);
        bn_var *l;
        BN_TRY(bn_net_forward(r->net, r->tape, r->tokens, r->targets, batch, &l));
        BN_TRY(bn_tape_backward(r->tape, l));
        BN_TRY(bn_adamw_step(r->opt, r->net, 1e-3, 0.1, r->pool, NULL));
        times[i] = bn_time_s() - t0;
        *loss = l->data[0];
    }
    return BN_OK;
}

int bn_bench_train(int argc, char **argv) {
    bench_args a = {.steps = 8, .warmup = 2};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_net_config m;
    int batch;
    bn_status s = read_shape(a.config, &m, &batch);
    if (s != BN_OK)
        return bn_cli_fail(s);
    bench_run r = {0};
    int n = a.warmup + a.steps;
    double *times = calloc((size_t)n, sizeof *times), loss = 0.0;
    size_t tok = (size_t)batch * (size_t)m.context;
    r.tokens = malloc(tok * sizeof(int32_t));
    r.targets = malloc(tok * sizeof(int32_t));
    bn_adamw_config ac = bn_adamw_defaults();
    s = times && r.tokens && r.targets ? bn_threadpool_create(a.threads, &r.pool)
                                       : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "bench train");
    if (s == BN_OK) {
        openblas_set_num_threads(1); /* the pool splits the GEMMs (train/ops.c) */
        s = bn_net_create(&r.net, &m);
    }
    if (s == BN_OK) {
        bn_net_init(r.net, 1);
        s = bn_adamw_create(&r.opt, r.net, &ac);
    }
    if (s == BN_OK)
        s = bn_tape_create(&r.tape, (size_t)64 << 20, r.pool);
    if (s == BN_OK)
        s = run_steps(&r, batch, n, times, &loss);
    if (s == BN_OK) {
        double *timed = times + a.warmup;
        qsort(timed, (size_t)a.steps, sizeof *timed, by_value);
        double med =
            a.steps % 2 ? timed[a.steps / 2] : 0.5 * (timed[a.steps / 2 - 1] + timed[a.steps / 2]);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double tps = (double)tok / med, rss = (double)ru.ru_maxrss / 1024.0;
        const char *core = openblas_get_corename();
        if (a.json)
            printf("{\"tokens_per_s\": %.1f, \"step_s_median\": %.4f, \"step_s_min\": %.4f, "
                   "\"step_s_max\": %.4f, \"steps\": %d, \"warmup\": %d, \"threads\": %d, "
                   "\"batch\": %d, \"context\": %d, \"params\": %lld, \"peak_rss_mb\": %.1f, "
                   "\"arena_mb\": %.1f, \"loss_last\": %.4f, \"blas_core\": \"%s\"}\n",
                   tps, med, timed[0], timed[a.steps - 1], a.steps, a.warmup,
                   bn_threadpool_n_threads(r.pool), batch, m.context, (long long)r.net->n_values,
                   rss, (double)bn_tape_arena_peak(r.tape) / 1048576.0, loss, core ? core : "?");
        else
            printf("train %s: %d x %d tokens per step, %d threads, OpenBLAS core %s\n"
                   "  median step %.3f s (min %.3f, max %.3f) over %d steps: %.0f tokens/s\n"
                   "  peak resident memory %.0f MB (activations arena %.0f MB)\n",
                   a.config, batch, m.context, bn_threadpool_n_threads(r.pool), core ? core : "?",
                   med, timed[0], timed[a.steps - 1], a.steps, tps, rss,
                   (double)bn_tape_arena_peak(r.tape) / 1048576.0);
    }
    bn_tape_free(r.tape);
    bn_adamw_free(r.opt, r.net);
    bn_net_free(r.net);
    bn_threadpool_destroy(r.pool);
    free(r.tokens);
    free(r.targets);
    free(times);
    return s == BN_OK ? 0 : bn_cli_fail(s);
}
