/*
 * cmd_run.c - `bitnet run` (generate text) and `bitnet logits` (write logits as .npy).
 */
#include "cli.h"

#include "base/cpu.h"
#include "base/timer.h"
#include "io/npy.h"
#include "model/forward.h"
#include "sample/sampler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run_args {
    const char *model, *prompt, *ids, *out;
    int n_predict, n_ctx, threads;
    bool all, no_bos;
    bn_sampler_params sp;
} run_args;

static const char RUN_USAGE[] =
    "usage: bitnet run -m MODEL -p TEXT [-n N] [-c CTX] [-t THREADS] [--temp T] [--top-k K]\n"
    "                  [--top-p P] [--min-p P] [--repeat-penalty R] [--repeat-last-n N]\n"
    "                  [--frequency-penalty F] [--presence-penalty P] [--seed S] [--no-bos]\n"
    "\n"
    "Generate up to N tokens (default 128) after TEXT and stream them to stdout; stops at the\n"
    "model's end-of-generation tokens. Timing goes to stderr. --temp 0 is greedy.\n"
    "MODEL is a GGUF file or a Hugging Face BitNet folder.\n";

static const char LOGITS_USAGE[] =
    "usage: bitnet logits -m MODEL (-p TEXT | --ids 1,2,3) [--all] --out FILE.npy [-t THREADS]\n"
    "\n"
    "Write float32 logits as a NumPy .npy file: shape [vocab] for the last position, [T, vocab]\n"
    "with --all. -p TEXT is tokenized with BOS, as transformers does by default.\n";

static bool parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    *out = strtof(s, &end);
    return end != s && *end == '\0' && errno == 0;
}

static bool parse_int(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    *out = (int)v;
    return end != s && *end == '\0' && errno == 0 && v >= -1 && v <= 1 << 30;
}

/* Options shared by run and logits; returns 0, or an exit code (-1: help printed). */
static int parse(const char *cmd, const char *usage, int argc, char **argv, run_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        bn_cli_opt t = bn_cli_threads_option(cmd, argc, argv, &i, &a->threads);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(o, "--all")) {
            a->all = true;
            continue;
        } else if (!strcmp(o, "--no-bos")) {
            a->no_bos = true;
            continue;
        } else if (v == NULL) {
            return bn_cli_usage_error(cmd, "unknown option or missing value: %s", o);
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
            a->model = v;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            a->prompt = v;
        } else if (!strcmp(o, "--ids")) {
            a->ids = v;
        } else if (!strcmp(o, "--out")) {
            a->out = v;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-predict")) {
            ok = parse_int(v, &a->n_predict) && a->n_predict >= 0;
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) {
            ok = parse_int(v, &a->n_ctx) && a->n_ctx >= 1;
        } else if (!strcmp(o, "--temp")) {
            ok = parse_float(v, &a->sp.temperature);
        } else if (!strcmp(o, "--top-k")) {
            ok = parse_int(v, &a->sp.top_k);
        } else if (!strcmp(o, "--top-p")) {
            ok = parse_float(v, &a->sp.top_p);
        } else if (!strcmp(o, "--min-p")) {
            ok = parse_float(v, &a->sp.min_p);
        } else if (!strcmp(o, "--repeat-penalty")) {
            ok = parse_float(v, &a->sp.repeat_penalty);
        } else if (!strcmp(o, "--repeat-last-n")) {
            ok = parse_int(v, &a->sp.repeat_last_n);
        } else if (!strcmp(o, "--frequency-penalty")) {
            ok = parse_float(v, &a->sp.frequency_penalty);
        } else if (!strcmp(o, "--presence-penalty")) {
            ok = parse_float(v, &a->sp.presence_penalty);
        } else if (!strcmp(o, "--seed")) {
            char *end;
            a->sp.seed = strtoull(v, &end, 10);
            ok = end != v && *end == '\0';
        } else {
            return bn_cli_usage_error(cmd, "unknown option: %s", o);
        }
        if (!ok)
            return bn_cli_usage_error(cmd, "%s %s: not a valid value", o, v);
        i++;
    }
    if (a->model == NULL)
        return bn_cli_usage_error(cmd, "-m MODEL is required");
    return 0;
}

/* The prompt's ids: --ids as given, else the tokenized text (BOS unless --no-bos). */
static bn_status prompt_ids(const bn_model *m, const run_args *a, bn_tokens *ids) {
    if (a->ids != NULL) {
        for (const char *p = a->ids; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v >= m->cfg.n_vocab)
                return BN_ERROR(BN_ERR_INVALID_ARG, "--ids: '%s' is not a list of ids below %d",
                                a->ids, m->cfg.n_vocab);
            BN_TRY(bn_tokens_push(ids, (int32_t)v));
            p = *end == ',' ? end + 1 : end;
            if (*end != ',' && *end != '\0')
                return BN_ERROR(BN_ERR_INVALID_ARG, "--ids: '%s' is not a list of ids", a->ids);
        }
        return BN_OK;
    }
    unsigned flags = BN_TOK_PARSE_SPECIAL | (a->no_bos ? 0 : BN_TOK_ADD_SPECIAL);
    return bn_tokenizer_encode(m->tok, a->prompt, strlen(a->prompt), flags, ids);
}

static bn_status do_logits(const run_args *a, bn_model *m, bn_context *c, const bn_tokens *ids) {
    int64_t vocab = m->cfg.n_vocab, rows = a->all ? (int64_t)ids->n : 1;
    float *logits = malloc((size_t)(rows * vocab) * sizeof(float));
    if (logits == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "logits");
    bn_status st = bn_context_eval(c, ids->ids, (int)ids->n, logits, a->all);
    int64_t shape[2] = {rows, vocab};
    if (st == BN_OK)
        st = a->all ? bn_npy_write_f32(a->out, logits, shape, 2)
                    : bn_npy_write_f32(a->out, logits, shape + 1, 1);
    free(logits);
    return st;
}

static bn_status generate(const run_args *a, bn_model *m, bn_context *c, const bn_tokens *ids) {
    bn_sampler *s = NULL;
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof(float));
    bn_bytes text = {0};
    bn_detokenizer d;
    bn_detokenizer_init(&d, m->tok, true);
    bn_status st = logits ? bn_sampler_create(&s, m->cfg.n_vocab, &a->sp)
                          : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "logits");
    double t0 = bn_time_s();
    if (st == BN_OK)
        st = bn_context_eval(c, ids->ids, (int)ids->n, logits, false);
    double t1 = bn_time_s();
    int made = 0;
    for (size_t i = 0; st == BN_OK && i < ids->n; i++)
        bn_sampler_accept(s, ids->ids[i]);
    while (st == BN_OK && made < a->n_predict) {
        int32_t tok = bn_sampler_sample(s, logits);
        bn_sampler_accept(s, tok);
        made++;
        if (bn_tokenizer_is_eog(m->tok, tok))
            break;
        text.n = 0;
        st = bn_detokenizer_push(&d, tok, &text);
        if (st == BN_OK && text.n > 0) {
            fwrite(text.data, 1, text.n, stdout);
            fflush(stdout);
        }
        if (st == BN_OK && made < a->n_predict) {
            if (bn_context_n_past(c) >= bn_context_n_ctx(c))
                break; /* the context is full: stop, as documented */
            st = bn_context_eval(c, &tok, 1, logits, false);
        }
    }
    text.n = 0;
    if (st == BN_OK && bn_detokenizer_flush(&d, &text) == BN_OK)
        fwrite(text.data, 1, text.n, stdout);
    double t2 = bn_time_s();
    printf("\n");
    fprintf(stderr, "prompt: %zu tokens, %.2f tokens/s; generation: %d tokens, %.2f tokens/s\n",
            ids->n, (double)ids->n / (t1 - t0), made, made > 1 ? (made - 1) / (t2 - t1) : 0.0);
    bn_bytes_free(&text);
    bn_sampler_free(s);
    free(logits);
    return st;
}

static int run_common(const char *cmd, const char *usage, int argc, char **argv, bool logits) {
    run_args a = {.n_predict = 128, .sp = bn_sampler_default_params()};
    int rc = parse(cmd, usage, argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((a.prompt == NULL) == (a.ids == NULL))
        return bn_cli_usage_error(cmd, "give either -p TEXT or --ids 1,2,3");
    if (logits && a.out == NULL)
        return bn_cli_usage_error(cmd, "--out FILE.npy is required");
    bn_status st = bn_sampler_params_check(&a.sp);
    if (st != BN_OK)
        return bn_cli_fail(st);
    bn_model *m = NULL;
    bn_context *c = NULL;
    bn_tokens ids = {0};
    double t0 = bn_time_s();
    st = bn_model_load(&m, a.model, bn_cpu_isa());
    if (st == BN_OK)
        st = prompt_ids(m, &a, &ids);
    if (st == BN_OK && ids.n == 0)
        st = BN_ERROR(BN_ERR_INVALID_ARG, "the prompt has no tokens");
    /* logits exists to compare with float references: f32 cache and the file's head. Generation
     * takes the fast settings: f16 cache, q8_0 head. */
    bn_context_params cp = bn_context_default_params();
    cp.n_ctx = a.n_ctx;
    cp.n_threads = a.threads;
    cp.kv_type = logits ? BN_DTYPE_F32 : BN_DTYPE_F16;
    if (st == BN_OK && !logits && m->head_type != BN_DTYPE_Q8_0 && m->cfg.dim % 32 == 0)
        st = bn_model_set_head_type(m, BN_DTYPE_Q8_0);
    if (st == BN_OK)
        st = bn_context_create(&c, m, &cp);
    if (st == BN_OK && (int)ids.n > bn_context_n_ctx(c))
        st = BN_ERROR(BN_ERR_RANGE,
                      "the prompt has %zu tokens, more than the context of %d "
                      "(-c)",
                      ids.n, bn_context_n_ctx(c));
    if (st == BN_OK && !logits)
        fprintf(stderr, "loaded %s in %.2f s\n", a.model, bn_time_s() - t0);
    if (st == BN_OK)
        st = logits ? do_logits(&a, m, c, &ids) : generate(&a, m, c, &ids);
    bn_tokens_free(&ids);
    bn_context_free(c);
    bn_model_free(m);
    return st == BN_OK ? 0 : bn_cli_fail(st);
}

int bn_cmd_run(int argc, char **argv) {
    return run_common("run", RUN_USAGE, argc, argv, false);
}

int bn_cmd_logits(int argc, char **argv) {
    return run_common("logits", LOGITS_USAGE, argc, argv, true);
}
