/*
 * cmd_run.c - `bitnet run` (generate text) and `bitnet logits` (write logits as .npy).
 */
#include "cli.h"
#include "engine_args.h"
#include "generate.h"
#include "sampling_args.h"

#include "base/timer.h"
#include "io/npy.h"
#include "io/outfile.h"
#include "model/convert.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct run_args {
    const char *model, *prompt, *prompt_file, *ids, *out;
    int n_ctx, threads;
    bool all, no_bos;
    bn_cli_sampling gen; /* run only */
    bn_cli_engine engine;
} run_args;

static const char RUN_USAGE[] =
    "usage: bitnet run [-m MODEL] (-p TEXT | -f FILE | --ids 1,2,3) [-n N] [-c CTX] [-t THREADS]\n"
    "                  [--no-bos]\n"
    "                  [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
    "                  [--repeat-last-n N] [--frequency-penalty F] [--presence-penalty P]\n"
    "                  [--seed S] [--stop TEXT]...\n"
    "\n"
    "Generate up to N tokens (default 128) after TEXT and stream them to stdout. Generation\n"
    "stops at the model's end-of-generation tokens, at a --stop string, after N tokens, or when\n"
    "the context (-c) is full. -n 0 evaluates the prompt and generates nothing (a prompt-speed\n"
    "measurement); -n -1 generates until the context is full. Ctrl-C stops generation (the\n"
    "timing line is still printed; exit status 130). stderr gets the seed (when sampling), the\n"
    "load time, then prompt and generation speed in tokens per second.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL       a GGUF file or a Hugging Face BitNet folder (default:\n"
    "                          $BITNET_MODEL, else the shipped models/default.gguf)\n"
    "  -p, --prompt TEXT       the prompt (- reads it from stdin); special tokens written in it\n"
    "                          (<|eot_id|>) are those tokens, and BOS goes first\n"
    "  -f, --file FILE         the prompt is the contents of FILE (- for stdin), for prompts\n"
    "                          too long for an argument (the kernel caps one at 128 KiB)\n"
    "  --ids 1,2,3             the prompt as token ids, used as given\n"
    "  --no-bos                no BOS in front of TEXT\n"
    "  -c, --ctx CTX           context length in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N         threads (default: one per CPU this process may use)\n";

static const char LOGITS_USAGE[] =
    "usage: bitnet logits -m MODEL (-p TEXT | -f FILE | --ids 1,2,3) [--all] --out FILE.npy\n"
    "                     [-c CTX] [-t THREADS] [--no-bos]\n"
    "\n"
    "Write float32 logits as a NumPy .npy file: shape [vocab] for the last position, [T, vocab]\n"
    "with --all. -p TEXT is tokenized with BOS, as transformers does by default. The defaults\n"
    "are the exact ones (--kv-type f32, --head-type f32: the head's rows decoded to float32 and\n"
    "dotted in float32), for comparison with float references.\n"
    "The file appears only when complete (written beside it, then renamed).\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL       a GGUF file or a Hugging Face BitNet folder\n"
    "  -p, --prompt TEXT       the prompt (- reads it from stdin)\n"
    "  -f, --file FILE         the prompt is the contents of FILE (- for stdin)\n"
    "  --ids 1,2,3             the prompt as token ids, used as given\n"
    "  --no-bos                no BOS in front of TEXT\n"
    "  --all                   the logits of every position, not only the last\n"
    "  --out FILE.npy          where to write them (- for stdout)\n"
    "  -c, --ctx CTX           context length in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N         threads (default: one per CPU this process may use)\n";

/* Options shared by run and logits; returns 0, or an exit code (-1: help printed). */
static int parse(const char *cmd, const char *usage, int argc, char **argv, run_args *a,
                 bool logits) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        bn_cli_opt t = bn_cli_threads_option(cmd, argc, argv, &i, &a->threads);
        if (t == BN_CLI_NOT_MINE)
            t = bn_cli_engine_option(cmd, argc, argv, &i, &a->engine);
        if (t == BN_CLI_NOT_MINE && !logits)
            t = bn_cli_sampling_option(cmd, argc, argv, &i, &a->gen);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            fputs(usage, stdout);
            fputs(BN_CLI_ENGINE_HELP, stdout);
            if (!logits)
                fputs(BN_CLI_SAMPLING_HELP, stdout);
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
        } else if (!strcmp(o, "-f") || !strcmp(o, "--file")) {
            a->prompt_file = v;
        } else if (!strcmp(o, "--ids")) {
            a->ids = v;
        } else if (!strcmp(o, "--out")) {
            a->out = v;
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) {
            ok = bn_cli_parse_int(v, 1, 1L << 30, &a->n_ctx);
        } else {
            return bn_cli_usage_error(cmd, "unknown option: %s", o);
        }
        if (!ok)
            return bn_cli_usage_error(cmd, "%s %s: not a valid value", o, v);
        i++;
    }
    if (a->model == NULL && !logits) {
        char tried[9000];
        if ((a->model = bn_cli_default_model(tried, sizeof tried)) == NULL)
            return bn_cli_usage_error(cmd, "-m MODEL is required (no default model at %s)", tried);
    }
    if (a->model == NULL)
        return bn_cli_usage_error(cmd, "-m MODEL is required");
    return 0;
}

/* The prompt's ids: --ids as given, else the tokenized text (BOS unless --no-bos). */
static bn_status prompt_ids(const bn_model *m, const run_args *a, const bn_bytes *text,
                            bn_tokens *ids) {
    bn_model_info info;
    BN_TRY(bn_model_get_info(m, &info));
    if (a->ids != NULL) {
        for (const char *p = a->ids; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v >= info.n_vocab)
                return BN_ERROR(BN_ERR_INVALID_ARG, "--ids: '%s' is not a list of ids below %d",
                                a->ids, info.n_vocab);
            BN_TRY(bn_tokens_push(ids, (int32_t)v));
            p = *end == ',' ? end + 1 : end;
            if (*end != ',' && *end != '\0')
                return BN_ERROR(BN_ERR_INVALID_ARG, "--ids: '%s' is not a list of ids", a->ids);
        }
        return BN_OK;
    }
    unsigned flags = BN_TOKENIZE_PARSE_SPECIAL | (a->no_bos ? 0 : BN_TOKENIZE_ADD_SPECIAL);
    return bn_cli_tokenize(m, text->data ? text->data : "", text->n, flags, ids);
}

static bn_status do_logits(const run_args *a, const bn_model *m, bn_context *c,
                           const bn_tokens *ids) {
    bn_model_info info;
    BN_TRY(bn_model_get_info(m, &info));
    int64_t vocab = info.n_vocab, rows = a->all ? (int64_t)ids->n : 1;
    float *logits = malloc((size_t)(rows * vocab) * sizeof(float));
    if (logits == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "logits");
    bn_status st = bn_context_eval(c, ids->ids, (int)ids->n, logits, a->all);
    int64_t shape[2] = {rows, vocab};
    const int64_t *dims = a->all ? shape : shape + 1;
    int ndim = a->all ? 2 : 1;
    if (st == BN_OK)
        st = strcmp(a->out, "-") == 0
                 ? bn_npy_write_f32_stream(stdout, "stdout", logits, dims, ndim)
                 : bn_npy_write_f32(a->out, logits, dims, ndim);
    free(logits);
    return st;
}

/* *interrupted: Ctrl-C stopped generation (the timing line is still printed). */
static bn_status generate(const run_args *a, const bn_model *m, bn_context *c, const bn_tokens *ids,
                          bool *interrupted) {
    bn_model_info info;
    BN_TRY(bn_model_get_info(m, &info));
    bn_sampler *s = NULL;
    /* Only ids the tokenizer has can be sampled: the embeddings may have more rows (padded to
     * a multiple of 64 or 128), whose logits are noise that could not even be printed. */
    BN_TRY(bn_sampler_create(&s, info.n_tokens, &a->gen.params));
    for (size_t i = 0; i < ids->n; i++)
        bn_sampler_accept(s, ids->ids[i]);
    bn_cli_catch_interrupt(true, true);
    bn_cli_gen g = {.c = c, .s = s, .opt = &a->gen, .out = stdout};
    bn_generate_result r = {0};
    bn_status st = bn_cli_generate(&g, ids->ids, (int)ids->n, &r);
    if (st == BN_OK && a->gen.n_predict != 0) {
        printf("\n");
        fflush(stdout); /* before the timing line on stderr, which shares the terminal */
    }
    if (st == BN_OK) {
        fprintf(stderr, "prompt: %d tokens, %.2f tokens/s; generation: %d tokens, %.2f tokens/s",
                r.n_prompt, r.n_prompt / r.prompt_seconds, r.n_generated,
                r.generate_seconds > 0 ? r.n_generated / r.generate_seconds : 0.0);
        fprintf(stderr, "; stopped by %s\n", bn_cli_stop_str(r.reason));
    }
    *interrupted = r.reason == BN_STOP_CALLBACK;
    bn_cli_catch_interrupt(false, true);
    bn_sampler_free(s);
    return st;
}

static int run_common(const char *cmd, const char *usage, int argc, char **argv, bool logits) {
    run_args a = {.gen = bn_cli_sampling_defaults(128), .engine = bn_cli_engine_defaults(logits)};
    int rc = parse(cmd, usage, argc, argv, &a, logits);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((a.prompt != NULL) + (a.prompt_file != NULL) + (a.ids != NULL) != 1)
        return bn_cli_usage_error(cmd, "give one of -p TEXT, -f FILE or --ids 1,2,3");
    if (logits && a.out == NULL)
        return bn_cli_usage_error(cmd, "--out FILE.npy is required");
    if (logits && strcmp(a.out, "-") == 0 && isatty(STDOUT_FILENO))
        return bn_cli_usage_error(cmd, "--out -: stdout is a terminal; redirect it or name a file");
    if (logits && strcmp(a.out, "-") != 0) { /* the .npy must not replace what is being read */
        struct stat sb;
        bn_status st = stat(a.model, &sb) == 0 && S_ISDIR(sb.st_mode)
                           ? bn_convert_check_not_input(a.model, a.out)
                           : bn_outfile_check_not_input(a.out, a.model, "the model");
        if (st == BN_OK && a.prompt_file != NULL && strcmp(a.prompt_file, "-") != 0)
            st = bn_outfile_check_not_input(a.out, a.prompt_file, "the prompt file");
        if (st != BN_OK)
            return bn_cli_fail(st);
    }
    if (!logits)
        bn_cli_sampling_seed(&a.gen);
    bn_bytes text = {0}; /* the prompt's text: -p TEXT, or read from -f FILE / -p - / -f - */
    const char *file = a.prompt_file                        ? a.prompt_file
                       : a.prompt && !strcmp(a.prompt, "-") ? "-"
                                                            : NULL;
    if (file != NULL && (rc = bn_cli_read_input(file, &text)) != 0)
        return rc;
    if (file == NULL && a.prompt != NULL &&
        bn_bytes_append(&text, a.prompt, strlen(a.prompt)) != BN_OK)
        return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    bn_model *m = NULL;
    bn_context *c = NULL;
    bn_tokens ids = {0};
    double t0 = bn_time_s();
    bn_status st = bn_cli_load_model(a.model, a.threads, &a.engine, &m);
    if (st == BN_OK)
        st = prompt_ids(m, &a, &text, &ids);
    if (st == BN_OK && ids.n == 0)
        st = BN_ERROR(BN_ERR_INVALID_ARG, "the prompt has no tokens");
    if (st == BN_OK)
        st = bn_cli_engine_context(&a.engine, m, a.n_ctx, a.threads, &c);
    if (st == BN_OK && (int)ids.n > bn_context_n_ctx(c))
        st = BN_ERROR(BN_ERR_RANGE,
                      "the prompt has %zu tokens, more than the context of %d "
                      "(-c)",
                      ids.n, bn_context_n_ctx(c));
    if (st == BN_OK && !logits)
        fprintf(stderr, "loaded %s in %.2f s\n", a.model, bn_time_s() - t0);
    bool interrupted = false;
    if (st == BN_OK)
        st = logits ? do_logits(&a, m, c, &ids) : generate(&a, m, c, &ids, &interrupted);
    bn_bytes_free(&text);
    bn_tokens_free(&ids);
    bn_context_free(c);
    bn_model_free(m);
    if (st != BN_OK)
        return bn_cli_fail(st);
    return interrupted ? 130 : 0; /* 128 + SIGINT, as for a process the signal ended */
}

int bn_cmd_run(int argc, char **argv) {
    return run_common("run", RUN_USAGE, argc, argv, false);
}

int bn_cmd_logits(int argc, char **argv) {
    return run_common("logits", LOGITS_USAGE, argc, argv, true);
}
