/*
 * cmd_train.c - `bitnet train CONFIG.json`: quantization-aware training (train/trainer.h).
 */
#include "cli.h"

#include "base/cpu.h"
#include "train/trainer.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: bitnet train CONFIG.json [--resume DIR] [--force] [--stop-after N] [-t THREADS]\n"
    "\n"
    "Train a BitNet b1.58 model (ternary BitLinear layers with the straight-through estimator,\n"
    "or float linear layers for a baseline) as CONFIG says: model shape, tokenizer, token files\n"
    "from `bitnet tokenize-data`, steps, batch, the two-stage AdamW schedule, evaluation and\n"
    "checkpoints (src/train/trainer.h documents every field; configs/ has examples).\n"
    "\n"
    "The run's folder (\"out\") gets log.jsonl (one JSON object per step: step, loss, lr,\n"
    "grad_norm, tokens_per_s, and val_loss on evaluation steps; `bitnet plot` draws it) and\n"
    "checkpoint.safetensors (weights, optimizer state, data position), replaced atomically. On a\n"
    "terminal a progress line shows step, loss, tokens/s and the time left. Ctrl-C writes a\n"
    "checkpoint and stops; --resume continues exactly where it stopped.\n"
    "\n"
    "  --resume DIR       continue the run whose folder is DIR (its checkpoint), bit for bit\n"
    "  --force            start afresh even though the out folder holds a checkpoint\n"
    "  --stop-after N     stop (with a checkpoint) once step N is done\n"
    "  -t, --threads N    threads (default: the config's, else one per CPU this process may use)\n"
    "\n"
    "Export the result with `bitnet export DIR OUT.gguf` or `bitnet export DIR --hf OUT_DIR`.\n";

typedef struct train_args {
    const char *config, *resume;
    bool force;
    int threads, stop_after;
} train_args;

static int parse(int argc, char **argv, train_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bn_cli_opt t = bn_cli_threads_option("train", argc, argv, &i, &a->threads);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            return -1;
        } else if (!strcmp(o, "--force")) {
            a->force = true;
        } else if (o[0] != '-' || o[1] == '\0') {
            if (a->config != NULL)
                return bn_cli_usage_error("train", "one config file, not %s too", o);
            a->config = o;
        } else if (v == NULL) {
            return bn_cli_usage_error("train", "unknown option or missing value: %s", o);
        } else if (!strcmp(o, "--resume")) {
            a->resume = v;
            i++;
        } else if (!strcmp(o, "--stop-after")) {
            if (!bn_cli_parse_int(v, 1, 1L << 30, &a->stop_after))
                return bn_cli_usage_error("train", "--stop-after %s: not a step number", v);
            i++;
        } else {
            return bn_cli_usage_error("train", "unknown option: %s", o);
        }
    }
    if (a->config == NULL)
        return bn_cli_usage_error("train", "no config file (bitnet train --help)");
    if (a->resume != NULL && a->force)
        return bn_cli_usage_error("train", "--resume and --force exclude each other");
    return 0;
}

static void clock_text(char *buf, size_t n, double s) {
    long t = isfinite(s) && s > 0 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

typedef struct progress_ctx {
    bool tty;
    double last_val;
} progress_ctx;

/* A progress line redrawn in place on a terminal; elsewhere a line per evaluation. */
static void show_progress(const bn_train_progress *p, void *ctx) {
    progress_ctx *pc = ctx;
    if (!isnan(p->val_loss))
        pc->last_val = p->val_loss;
    char eta[32], val[32] = "";
    clock_text(eta, sizeof eta, p->eta_s);
    if (!isnan(pc->last_val))
        snprintf(val, sizeof val, " val %.4f", pc->last_val);
    if (pc->tty) {
        int width = 24, done = (int)((double)width * (double)p->step / (double)p->steps);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < done ? '=' : i == done ? '>' : ' ';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K%lld/%lld [%s] loss %.4f%s lr %.2e %.0f tok/s ETA %s",
                (long long)p->step, (long long)p->steps, bar, p->loss, val, p->lr, p->tokens_per_s,
                eta);
    } else if (!isnan(p->val_loss) || p->step == p->steps) {
        fprintf(stderr, "step %lld/%lld loss %.4f%s lr %.2e %.0f tok/s ETA %s%s\n",
                (long long)p->step, (long long)p->steps, p->loss, val, p->lr, p->tokens_per_s, eta,
                p->checkpointed ? " (checkpoint)" : "");
    }
    fflush(stderr);
}

/* Debian's OpenBLAS (0.3.21) predates AMD Zen 4 and Zen 5: on them it picks its AVX2 (Haswell)
 * kernels although the CPU has AVX-512, and a training step takes about 1.4 times as long as
 * with its SkylakeX kernels (Zen 5, bench/RESULTS.md: 2971 against 4209 tokens/s). The core is
 * chosen when the library loads, from OPENBLAS_CORETYPE, so the only way to change it is to run
 * again with the variable set: once, before any work, and never when the user set it. */
void bn_cli_choose_blas_core(char **argv) {
    const bn_cpu_features *f = bn_cpu_features_get();
    const char *core = openblas_get_corename();
    if (getenv("OPENBLAS_CORETYPE") != NULL || core == NULL || !f->avx512f || !f->avx512bw ||
        !f->avx512vl || !f->avx512dq ||
        (strcasecmp(core, "haswell") != 0 && strcasecmp(core, "zen") != 0))
        return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (args == NULL)
        return;
    args[0] = exe;
    memcpy(args + 1, argv, (size_t)argc * sizeof *args);
    execv(exe, args); /* returns only on failure: train with the core there is */
    free(args);
}

int bn_cmd_train(int argc, char **argv) {
    bn_cli_choose_blas_core(argv);
    train_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_train_config c;
    bn_status s = bn_train_config_load(&c, a.config);
    if (s != BN_OK)
        return bn_cli_fail(s);
    if (a.resume != NULL)
        c.out = a.resume;
    if (a.threads > 0)
        c.threads = a.threads;
    progress_ctx pc = {.tty = isatty(STDERR_FILENO), .last_val = NAN};
    bn_cli_catch_interrupt(true, true); /* Ctrl-C: checkpoint, then stop */
    bn_train_options opt = {.resume = a.resume != NULL,
                            .overwrite = a.force,
                            .stop_after = a.stop_after,
                            .stop = &bn_cli_interrupted,
                            .progress = show_progress,
                            .progress_ctx = &pc};
    s = bn_train_run(&c, &opt);
    if (pc.tty)
        fputc('\n', stderr);
    if (s == BN_OK)
        fprintf(stderr, "bitnet train: %s/checkpoint.safetensors%s\n", c.out,
                bn_cli_interrupted ? " (interrupted: --resume continues)" : "");
    bn_train_config_free(&c);
    return s == BN_OK ? 0 : bn_cli_fail(s);
}
