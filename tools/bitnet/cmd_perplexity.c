/*
 * cmd_perplexity.c - `bitnet perplexity`: how well a model predicts a text file, computed as
 * llama.cpp's perplexity tool does (the method and the math are in src/model/perplexity.h).
 */
#include "cli.h"
#include "engine_args.h"

#include "base/status.h"
#include "base/timer.h"
#include "text/tokenizer.h" /* bn_bytes */

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: bitnet perplexity -m MODEL -f FILE [-c CTX] [-t THREADS] [--chunks N] [--json]\n"
    "\n"
    "Perplexity of MODEL over the text of FILE ('-' for stdin), computed as llama.cpp's\n"
    "perplexity tool does, so the numbers compare: the whole text is tokenized once (BOS first),\n"
    "cut into windows of CTX tokens that do not overlap, and each window is evaluated from an\n"
    "empty cache with BOS in its first place. Only the second half of each window is scored, so\n"
    "every scored token has at least CTX/2 tokens of context. The text needs at least 2 x CTX\n"
    "tokens.\n"
    "\n"
    "stderr gets the running perplexity after each window ([1]x,[2]y,...); stdout gets\n"
    "  PPL = exp(mean NLL) +/- its standard error (of the mean NLL, carried through exp)\n"
    "\n"
    "  -m, --model MODEL  a GGUF file or a Hugging Face BitNet folder\n"
    "  -f, --file FILE    the text, read byte for byte\n"
    "  -c, --ctx CTX      window length in tokens, >= 4 (default 512, or the model's context if\n"
    "                     that is shorter)\n"
    "  -t, --threads N    threads (default: one per CPU this process may use)\n"
    "  --chunks N         score only the first N windows (default: all that fit)\n"
    "  --json             print the result as JSON\n";

typedef struct ppl_args {
    const char *model, *file;
    int n_ctx, threads, chunks; /* n_ctx 0: the default; chunks 0: all */
    bool json;
    bn_cli_engine engine;
} ppl_args;

/* Returns 0, or an exit code (-1: help printed). */
static int parse(int argc, char **argv, ppl_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bn_cli_opt t = bn_cli_threads_option("perplexity", argc, argv, &i, &a->threads);
        if (t == BN_CLI_NOT_MINE)
            t = bn_cli_engine_option("perplexity", argc, argv, &i, &a->engine);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        bool ok = true;
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            fputs(BN_CLI_ENGINE_HELP, stdout);
            return -1;
        } else if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        } else if (v == NULL) {
            return bn_cli_usage_error("perplexity", "unknown option or missing value: %s", o);
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
            a->model = v;
        } else if (!strcmp(o, "-f") || !strcmp(o, "--file")) {
            a->file = v;
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) {
            ok = bn_cli_parse_int(v, 4, 1L << 30, &a->n_ctx);
        } else if (!strcmp(o, "--chunks")) {
            ok = bn_cli_parse_int(v, 1, 1L << 30, &a->chunks);
        } else {
            return bn_cli_usage_error("perplexity", "unknown option: %s", o);
        }
        if (!ok)
            return bn_cli_usage_error("perplexity", "%s %s: not a valid value (%s)", o, v,
                                      o[1] == 'c' ? "a window of at least 4 tokens"
                                                  : "a count of at least 1");
        i++;
    }
    if (a->model == NULL || a->file == NULL)
        return bn_cli_usage_error("perplexity", "-m MODEL and -f FILE are required");
    return 0;
}

/* Large perplexities (random models) print in exponent form rather than as 20 digits. */
static void print_num(FILE *f, double x, int decimals) {
    if (fabs(x) < 1e7)
        fprintf(f, "%.*f", decimals, x);
    else
        fprintf(f, "%.*e", decimals, x);
}

typedef struct progress {
    double t0;
    int window;
} progress;

/* After each window: the first window's time and the estimate, then [k]ppl, on stderr. */
static bool show_window(void *user, const bn_perplexity_result *r) {
    progress *p = user;
    if (r->n_windows == 1) {
        double s = bn_time_s() - p->t0;
        fprintf(stderr, "%lld tokens: %d windows of %d, scoring the last %d tokens of each\n",
                (long long)r->n_tokens, r->n_windows_total, p->window,
                p->window - 1 - p->window / 2);
        fprintf(stderr, "%.2f s per window, about %.0f s in all\n", s, s * r->n_windows_total);
    }
    fprintf(stderr, "[%d]", r->n_windows);
    print_num(stderr, r->ppl, 4);
    fputs(r->n_windows < r->n_windows_total ? "," : "\n", stderr);
    fflush(stderr);
    return true;
}

static int print_result(const ppl_args *a, const bn_perplexity_result *r, int n_ctx) {
    if (!a->json) {
        fputs("PPL = ", stdout);
        print_num(stdout, r->ppl, 4);
        fputs(" +/- ", stdout);
        print_num(stdout, r->ppl_err, 5);
        putchar('\n');
        return 0;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "ppl", r->ppl);
    cJSON_AddNumberToObject(root, "ppl_stderr", r->ppl_err);
    cJSON_AddNumberToObject(root, "mean_nll", r->mean_nll);
    cJSON_AddNumberToObject(root, "mean_nll_stderr", r->nll_err);
    cJSON_AddNumberToObject(root, "tokens", (double)r->n_tokens);
    cJSON_AddNumberToObject(root, "scored_tokens", (double)r->n_scored);
    cJSON_AddNumberToObject(root, "windows", r->n_windows);
    cJSON_AddNumberToObject(root, "ctx", n_ctx);
    return bn_cli_print_json(root);
}

int bn_cmd_perplexity(int argc, char **argv) {
    /* As llama.cpp's perplexity: the file's head, an f16 cache (--head-type q8_0 measures what
     * generation's head costs in perplexity; --kv-type f32 is exact). */
    ppl_args a = {.engine = {.kv_type = BN_KV_F16, .head = BN_CLI_HEAD_FILE}};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_bytes text = {0};
    if (bn_cli_read_input(a.file, &text) != 0)
        return 1;
    bn_model *m = NULL;
    bn_model_info info;
    bn_context *c = NULL;
    bn_perplexity_result r = {0};
    int n_ctx = 0;
    double t0 = bn_time_s();
    bn_status st = bn_cli_load_model(a.model, a.threads, &a.engine, &m);
    if (st == BN_OK)
        st = bn_model_get_info(m, &info);
    if (st == BN_OK) {
        n_ctx = a.n_ctx > 0 ? a.n_ctx : (info.n_ctx_train < 512 ? info.n_ctx_train : 512);
        if (n_ctx > info.n_ctx_train)
            st = BN_ERROR(BN_ERR_RANGE, "-c %d is longer than the model's context of %d tokens",
                          n_ctx, info.n_ctx_train);
    }
    if (st == BN_OK)
        st = bn_cli_engine_context(&a.engine, m, n_ctx, a.threads, &c);
    if (st == BN_OK) {
        fprintf(stderr, "loaded %s in %.2f s\n", a.model, bn_time_s() - t0);
        progress p = {bn_time_s(), n_ctx};
        st = bn_perplexity(c, text.data, text.n, n_ctx, a.chunks, show_window, &p, &r);
        if (st != BN_OK && strstr(bn_last_error(), "the text has") != NULL)
            st = BN_ERROR(st, "%s: %s (-c)", strcmp(a.file, "-") ? a.file : "stdin",
                          bn_last_error());
    }
    if (st == BN_OK)
        rc = print_result(&a, &r, n_ctx);
    bn_bytes_free(&text);
    bn_context_free(c);
    bn_model_free(m);
    return st == BN_OK ? rc : bn_cli_fail(st);
}
