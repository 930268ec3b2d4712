/*
 * bench_model.c - `bitnet bench model`: prompt processing and generation speed of a model, the
 * way llama-bench measures them, so the numbers compare with llama.cpp's and bitnet.cpp's:
 *   ppN  N prompt tokens evaluated as one batch from an empty cache (logits of the last only)
 *   tgN  N tokens generated one at a time from an empty cache (each with its logits)
 * Token ids are random (speed does not depend on them); one warm-up run precedes the timed
 * repetitions; tokens/s is reported as mean and standard deviation over repetitions.
 */
#include "cli.h"
#include "engine_args.h"

#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/timer.h"
#include "kernels/cpu/bandwidth.h"
#include "kernels/cpu/ceiling.h"
#include "model/forward.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TESTS = 16 };

typedef struct bench_args {
    const char *model;
    int pp[MAX_TESTS], n_pp, tg[MAX_TESTS], n_tg;
    int reps, threads;
    bool json;
    bn_cli_engine engine; /* --kv-type, --head-type, --weight-layout */
} bench_args;

typedef struct bench_result {
    char test[32];
    double mean, sd;
} bench_result;

static const char USAGE[] =
    "usage: bitnet bench model -m MODEL [-p 128,512] [-n 128] [-r REPS] [-t THREADS]\n"
    "                          [--kv-type f16|f32] [--head-type q8_0|q6_k|q4_k|file|f32]\n"
    "                          [--json]\n"
    "\n"
    "Prompt processing (ppN: N tokens as one batch) and generation (tgN: N tokens one by one),\n"
    "each from an empty cache, in tokens/s: mean +- sd over REPS runs (default 5) after a\n"
    "warm-up. -p 0 or -n 0 skips that kind. Defaults: -p 512 -n 128, f16 KV cache, q6_k head\n"
    "(the generation settings of `bitnet run`). Also prints the weight bytes each generated\n"
    "token reads and the read rate they imply.\n";

/* "128,512" -> {128, 512}; each 0..65536 (0 = none). */
static bool parse_list(const char *s, int *out, int *n) {
    *n = 0;
    while (*s != '\0' && *n < MAX_TESTS) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno != 0 || v < 0 || v > 65536 || (*end != ',' && *end != '\0'))
            return false;
        if (v > 0)
            out[(*n)++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return *s == '\0';
}

static int parse(int argc, char **argv, bench_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bn_cli_opt t = bn_cli_threads_option("bench model", argc, argv, &i, &a->threads);
        if (t == BN_CLI_NOT_MINE)
            t = bn_cli_engine_option("bench model", argc, argv, &i, &a->engine);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            fputs(BN_CLI_ENGINE_HELP, stdout);
            return -1;
        }
        if (strcmp(o, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (v == NULL)
            return bn_cli_usage_error("bench model", "unknown option or missing value: '%s'", o);
        i++;
        bool ok = true;
        if (strcmp(o, "-m") == 0 || strcmp(o, "--model") == 0)
            a->model = v;
        else if (strcmp(o, "-p") == 0)
            ok = parse_list(v, a->pp, &a->n_pp);
        else if (strcmp(o, "-n") == 0)
            ok = parse_list(v, a->tg, &a->n_tg);
        else if (strcmp(o, "-r") == 0 || strcmp(o, "--reps") == 0)
            ok = (a->reps = atoi(v)) >= 1 && a->reps <= 1000;
        else
            return bn_cli_usage_error("bench model", "unknown option '%s'", o);
        if (!ok)
            return bn_cli_usage_error("bench model", "bad value '%s' for %s", v, o);
    }
    if (a->model == NULL)
        return bn_cli_usage_error("bench model", "-m MODEL is required");
    if (a->n_pp == 0 && a->n_tg == 0)
        return bn_cli_usage_error("bench model",
                                  "nothing to measure: -p and -n name no test (0 skips one)");
    return 0;
}

/* One timed run of a test: seconds. */
static bn_status run_once(bn_context *c, const int32_t *ids, int n, bool gen, float *logits,
                          double *secs) {
    bn_context_reset(c);
    double t0 = bn_time_s();
    if (gen)
        for (int i = 0; i < n; i++)
            BN_TRY(bn_context_eval(c, &ids[i], 1, logits, false));
    else
        BN_TRY(bn_context_eval(c, ids, n, logits, false));
    *secs = bn_time_s() - t0;
    return BN_OK;
}

static bn_status run_test(bn_context *c, const int32_t *ids, int n, bool gen, int reps,
                          float *logits, bench_result *r) {
    snprintf(r->test, sizeof r->test, "%s%d", gen ? "tg" : "pp", n);
    if (n > bn_context_n_ctx(c))
        return BN_ERROR(BN_ERR_RANGE, "%s needs %d positions; the model's context is %d", r->test,
                        n, bn_context_n_ctx(c));
    double secs, sum = 0.0, sq = 0.0;
    BN_TRY(run_once(c, ids, n, gen, logits, &secs)); /* warm-up */
    for (int i = 0; i < reps; i++) {
        BN_TRY(run_once(c, ids, n, gen, logits, &secs));
        double tps = n / secs;
        sum += tps;
        sq += tps * tps;
    }
    r->mean = sum / reps;
    r->sd = reps > 1 ? sqrt(fmax(0.0, (sq - sum * sum / reps) / (reps - 1))) : 0.0;
    return BN_OK;
}

/* What the results are judged against: memory after load and context creation (the bar is
 * weights + KV + 64 MiB), bytes per generated token (decode reads them all), and operations per
 * prompt token beside this CPU's int8 ceiling (prefill is compute-bound). */
typedef struct bench_facts {
    size_t resident, weights, kv;
    double ops_per_token, int8_gops, read_gbs;
} bench_facts;

/* A test's rate over its roofline: pp against the int8 ceiling, tg against the read bandwidth
 * over the weight bytes a token reads (0 when that roofline was not measured). */
static double fraction_of_bound(const bench_result *r, const bench_facts *facts, double weights) {
    if (r->test[0] == 't')
        return facts->read_gbs > 0 ? r->mean / (facts->read_gbs * 1e9 / weights) : 0.0;
    return facts->int8_gops > 0 ? r->mean / (facts->int8_gops * 1e9 / facts->ops_per_token) : 0.0;
}

static int report(const bench_args *a, const bn_model *m, int threads, const bench_result *r, int n,
                  const bench_facts *facts) {
    double weights = (double)bn_model_bytes_per_token(m);
    if (a->json) {
        cJSON *root = cJSON_CreateObject(), *list = cJSON_CreateArray();
        bn_cli_json_add_text(root, "model", m->name[0] ? m->name : a->model);
        cJSON_AddNumberToObject(root, "threads", threads);
        cJSON_AddStringToObject(root, "isa", bn_isa_name(bn_cpu_isa()));
        cJSON_AddStringToObject(root, "weight_layout", bn_ternary_layout_name(m->layout, m->isa));
        cJSON_AddNumberToObject(root, "weight_bytes_per_token", weights);
        cJSON_AddNumberToObject(root, "resident_bytes", (double)facts->resident);
        cJSON_AddNumberToObject(root, "kv_bytes", (double)facts->kv);
        cJSON_AddNumberToObject(root, "linear_ops_per_token", facts->ops_per_token);
        if (facts->int8_gops > 0) {
            cJSON_AddNumberToObject(root, "int8_ceiling_gops", facts->int8_gops);
            cJSON_AddNumberToObject(root, "pp_bound_tokens_per_s",
                                    facts->int8_gops * 1e9 / facts->ops_per_token);
        }
        if (facts->read_gbs > 0) {
            cJSON_AddNumberToObject(root, "read_bandwidth_gbs", facts->read_gbs);
            cJSON_AddNumberToObject(root, "tg_bound_tokens_per_s", facts->read_gbs * 1e9 / weights);
        }
        for (int i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "test", r[i].test);
            cJSON_AddNumberToObject(e, "tokens_per_s", r[i].mean);
            cJSON_AddNumberToObject(e, "sd", r[i].sd);
            double f = fraction_of_bound(&r[i], facts, weights);
            if (f > 0)
                cJSON_AddNumberToObject(e, "fraction_of_bound", f);
            cJSON_AddItemToArray(list, e);
        }
        cJSON_AddItemToObject(root, "results", list);
        return bn_cli_print_json(root);
    }
    printf("model %s, %d threads, %s, layers %s, head %s, %.1f MB of weights read per generated "
           "token\n",
           bn_cli_shown(m->name[0] ? m->name : a->model), threads, bn_isa_name(bn_cpu_isa()),
           bn_ternary_layout_name(m->layout, m->isa), bn_dtype_name(m->head_type), weights / 1e6);
    /* A head used from the file's mapping is resident only once read (the first token). */
    printf("resident after load: %.1f MiB; weights %.1f MiB%s + KV cache %.1f MiB + 64 MiB "
           "= %.1f MiB allowed\n",
           facts->resident / 1048576.0, facts->weights / 1048576.0,
           m->head_owned == NULL ? " (the head mapped from the file)" : "", facts->kv / 1048576.0,
           (double)(facts->weights + facts->kv) / 1048576.0 + 64.0);
    if (facts->int8_gops > 0) /* a prompt runs the head once, so the linear layers are its work */
        printf("prompt: %.2f GOP per token in the linear layers; the %s int8 multiply-add "
               "ceiling, %.1f GOP/s, bounds pp at %.1f tokens/s\n",
               facts->ops_per_token / 1e9, bn_isa_name(bn_cpu_isa()), facts->int8_gops,
               facts->int8_gops * 1e9 / facts->ops_per_token);
    if (facts->read_gbs > 0)
        printf("generation: the read bandwidth, %.1f GB/s, bounds tg at %.1f tokens/s "
               "(weights alone)\n",
               facts->read_gbs, facts->read_gbs * 1e9 / weights);
    if (facts->int8_gops > 0 || facts->read_gbs > 0)
        printf("(both measured after the tests with as many threads)\n");
    printf("%-8s %14s  %s\n", "test", "tokens/s", "of its bound");
    for (int i = 0; i < n; i++) {
        printf("%-8s %8.2f ± %-6.2f", r[i].test, r[i].mean, r[i].sd);
        double f = fraction_of_bound(&r[i], facts, weights);
        if (f > 0)
            printf("  %5.1f%%", 100.0 * f);
        if (r[i].test[0] == 't')
            printf("  (weights alone: %.1f GB/s)", weights * r[i].mean / 1e9);
        printf("\n");
    }
    return 0;
}

static bn_status bench(const bench_args *a, bn_model *m, bench_result *r, int *n,
                       bench_facts *facts) {
    int longest = 1;
    for (int i = 0; i < a->n_pp; i++)
        longest = a->pp[i] > longest ? a->pp[i] : longest;
    for (int i = 0; i < a->n_tg; i++)
        longest = a->tg[i] > longest ? a->tg[i] : longest;
    /* As llama-bench does: a cache as long as the longest test, not the model's whole context. */
    bn_context *c = NULL;
    BN_TRY(bn_cli_engine_context(&a->engine, m, longest < m->cfg.ctx_max ? longest : m->cfg.ctx_max,
                                 a->threads, &c));
    *facts = (bench_facts){bn_resident_bytes(),
                           bn_model_bytes_per_token(m),
                           bn_context_kv_bytes(c),
                           bn_model_linear_ops_per_token(m),
                           0.0,
                           0.0};
    int32_t *ids = malloc((size_t)longest * sizeof *ids);
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof *logits);
    bn_status st = ids && logits ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "bench buffers");
    uint32_t seed = 12345;
    for (int i = 0; st == BN_OK && i < longest; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)((seed >> 8) % (uint32_t)m->cfg.n_vocab);
    }
    *n = 0;
    for (int i = 0; st == BN_OK && i < a->n_pp; i++)
        st = run_test(c, ids, a->pp[i], false, a->reps, logits, &r[(*n)++]);
    for (int i = 0; st == BN_OK && i < a->n_tg; i++)
        st = run_test(c, ids, a->tg[i], true, a->reps, logits, &r[(*n)++]);
    free(ids);
    free(logits);
    bn_context_free(c);
    /* The rooflines, measured after the tests so they cannot disturb them, with as many
     * threads: the int8 ceiling for prompts, the read bandwidth for generation. */
    bn_threadpool *pool = NULL;
    if (st == BN_OK && (st = bn_threadpool_create(a->threads, &pool)) == BN_OK) {
        if (a->n_pp > 0)
            facts->int8_gops = bn_measure_int8_ceiling(bn_cpu_isa(), 0.05, 10, pool);
        if (a->n_tg > 0)
            facts->read_gbs = bn_measure_read_bandwidth(bn_bandwidth_probe_bytes(), 5, pool);
        bn_threadpool_destroy(pool);
    }
    return st;
}

int bn_bench_model(int argc, char **argv) {
    bench_args a = {.pp = {512},
                    .n_pp = 1,
                    .tg = {128},
                    .n_tg = 1,
                    .reps = 5,
                    .threads = bn_cpu_count(),
                    .engine = bn_cli_engine_defaults(false)};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_model *m = NULL;
    bn_status st = bn_cli_load_model(a.model, a.threads, &a.engine, &m);
    bench_result r[2 * MAX_TESTS];
    int n = 0;
    bench_facts facts;
    if (st == BN_OK)
        st = bench(&a, m, r, &n, &facts);
    if (st == BN_OK)
        rc = report(&a, m, a.threads, r, n, &facts);
    bn_model_free(m);
    return st == BN_OK ? rc : bn_cli_fail(st);
}
