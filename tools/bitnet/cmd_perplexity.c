/*
 * cmd_perplexity.c - `bitnet perplexity`: how well a model predicts a text file, computed as
 * llama.cpp's perplexity tool does (the method and the math are in src/model/perplexity.h).
 */
#include "cli.h"
#include "engine_args.h"

#include "base/cpu.h"
#include "base/timer.h"
#include "model/perplexity.h"

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

/* The token each window starts with, as llama.cpp puts it there: BOS when the tokenizer adds
 * BOS to a text, else -1 (the window keeps its own first token). */
static int32_t window_bos(const bn_tokenizer *t) {
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(t);
    return spec->bos_id >= 0 && spec->n_prefix > 0 && spec->prefix[0] == spec->bos_id ? spec->bos_id
                                                                                      : -1;
}

/* The whole text's tokens, BOS first when the model uses one. Special tokens written in the
 * text are text, and no EOS is added, as in llama.cpp. */
static bn_status tokenize(const bn_model *m, const bn_bytes *text, int32_t bos, bn_tokens *ids) {
    if (bos >= 0)
        BN_TRY(bn_tokens_push(ids, bos));
    return bn_tokenizer_encode(m->tok, text->data, text->n, 0, ids);
}

/* The window length (the default when a->n_ctx is 0) and the number of windows to score. */
static bn_status plan(const ppl_args *a, const bn_model *m, size_t n_tokens, int *n_ctx,
                      int *n_windows) {
    int max = m->cfg.ctx_max;
    *n_ctx = a->n_ctx > 0 ? a->n_ctx : (max < 512 ? max : 512);
    if (*n_ctx > max)
        return BN_ERROR(BN_ERR_RANGE, "-c %d is longer than the model's context of %d tokens",
                        *n_ctx, max);
    if (n_tokens < 2 * (size_t)*n_ctx)
        return BN_ERROR(BN_ERR_RANGE,
                        "%s has %zu tokens; perplexity with windows of %d tokens (-c) needs at "
                        "least %d (2 x %d): give a longer text or a smaller -c",
                        strcmp(a->file, "-") ? a->file : "stdin", n_tokens, *n_ctx, 2 * *n_ctx,
                        *n_ctx);
    *n_windows = (int)(n_tokens / (size_t)*n_ctx);
    if (a->chunks > 0 && a->chunks < *n_windows)
        *n_windows = a->chunks;
    return BN_OK;
}

/* Large perplexities (random models) print in exponent form rather than as 20 digits. */
static void print_num(FILE *f, double x, int decimals) {
    if (fabs(x) < 1e7)
        fprintf(f, "%.*f", decimals, x);
    else
        fprintf(f, "%.*e", decimals, x);
}

static bn_status score(const bn_model *m, bn_context *c, const bn_tokens *ids, int32_t bos,
                       int n_ctx, int n_windows, bn_nll_stats *s) {
    int32_t n_vocab = m->cfg.n_vocab;
    int32_t *window = malloc((size_t)n_ctx * sizeof *window);
    float *logits = malloc((size_t)(n_ctx - n_ctx / 2) * (size_t)n_vocab * sizeof *logits);
    bn_status st = window && logits ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "perplexity logits");
    for (int w = 0; st == BN_OK && w < n_windows; w++) {
        double t0 = bn_time_s();
        memcpy(window, ids->ids + (size_t)w * (size_t)n_ctx, (size_t)n_ctx * sizeof *window);
        if (bos >= 0)
            window[0] = bos;
        st = bn_perplexity_window(c, n_vocab, window, n_ctx, logits, s);
        if (st == BN_OK && w == 0)
            fprintf(stderr, "%.2f s per window, about %.0f s in all\n", bn_time_s() - t0,
                    (bn_time_s() - t0) * n_windows);
        if (st == BN_OK) {
            fprintf(stderr, "[%d]", w + 1);
            print_num(stderr, bn_nll_stats_ppl(s), 4);
            fputs(w + 1 < n_windows ? "," : "\n", stderr);
            fflush(stderr);
        }
    }
    free(window);
    free(logits);
    return st;
}

static int print_result(const ppl_args *a, const bn_nll_stats *s, size_t n_tokens, int n_ctx,
                        int n_windows) {
    if (!a->json) {
        fputs("PPL = ", stdout);
        print_num(stdout, bn_nll_stats_ppl(s), 4);
        fputs(" +/- ", stdout);
        print_num(stdout, bn_nll_stats_ppl_err(s), 5);
        putchar('\n');
        return 0;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "ppl", bn_nll_stats_ppl(s));
    cJSON_AddNumberToObject(root, "ppl_stderr", bn_nll_stats_ppl_err(s));
    cJSON_AddNumberToObject(root, "mean_nll", s->mean);
    cJSON_AddNumberToObject(root, "mean_nll_stderr", bn_nll_stats_stderr(s));
    cJSON_AddNumberToObject(root, "tokens", (double)n_tokens);
    cJSON_AddNumberToObject(root, "scored_tokens", (double)s->n);
    cJSON_AddNumberToObject(root, "windows", n_windows);
    cJSON_AddNumberToObject(root, "ctx", n_ctx);
    return bn_cli_print_json(root);
}

int bn_cmd_perplexity(int argc, char **argv) {
    /* As llama.cpp's perplexity: the file's head, an f16 cache (--head-type q8_0 measures what
     * generation's head costs in perplexity; --kv-type f32 is exact). */
    ppl_args a = {.engine = {.kv_type = BN_DTYPE_F16, .head = BN_CLI_HEAD_FILE}};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_bytes text = {0};
    if (bn_cli_read_input(a.file, &text) != 0)
        return 1;
    bn_model *m = NULL;
    bn_context *c = NULL;
    bn_tokens ids = {0};
    bn_nll_stats s = {0};
    int n_ctx = 0, n_windows = 0, bos = -1;
    double t0 = bn_time_s();
    bn_status st = bn_cli_load_model(a.model, a.threads, &m);
    if (st == BN_OK) {
        bos = window_bos(m->tok);
        st = tokenize(m, &text, bos, &ids);
    }
    if (st == BN_OK)
        st = plan(&a, m, ids.n, &n_ctx, &n_windows);
    if (st == BN_OK)
        st = bn_cli_engine_context(&a.engine, m, n_ctx, a.threads, &c);
    if (st == BN_OK) {
        fprintf(stderr, "loaded %s in %.2f s\n", a.model, bn_time_s() - t0);
        fprintf(stderr, "%zu tokens: %d windows of %d, scoring the last %d tokens of each\n", ids.n,
                n_windows, n_ctx, n_ctx - 1 - n_ctx / 2);
        st = score(m, c, &ids, bos, n_ctx, n_windows, &s);
    }
    if (st == BN_OK)
        rc = print_result(&a, &s, ids.n, n_ctx, n_windows);
    bn_bytes_free(&text);
    bn_tokens_free(&ids);
    bn_context_free(c);
    bn_model_free(m);
    return st == BN_OK ? rc : bn_cli_fail(st);
}
