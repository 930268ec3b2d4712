/*
 * trainer.h - a training run from a config file: `bitnet train CONFIG.json`.
 *
 * The config (JSON; every field checked, unknown keys refused, paths relative to the working
 * directory):
 *   {
 *     "model":      {...}                      net.h's model object; vocab from the tokenizer
 *     "tokenizer":  "models/tokenizer.json"    any tokenizer the project loads (HF, GGUF)
 *     "data":       {"train": "x.train.tok", "val": "x.val.tok"}   `bitnet tokenize-data` files,
 *                   or {"text": ["a.txt", ...], "val_fraction": 0.05}: text files (documents
 *                   separated by form-feed lines, train/data.h) the run tokenizes itself into
 *                   OUT/data.train.tok and OUT/data.val.tok (train/tokenize_data.h)
 *     "out":        "runs/tiny"                the run's folder: checkpoint, log.jsonl
 *     "steps": 1000, "batch": 8, "accumulate": 1, "seed": 1, "threads": 0 (all CPUs),
 *     "optim":      {"lr": 3e-3, "lr_cooldown": 1e-3, "min_lr": 1e-4, "warmup": 50,
 *                    "cooldown_start": 0.5, "schedule": "linear", "weight_decay": 0.1,
 *                    "weight_decay_cooldown": 0, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
 *                    "grad_clip": 1.0}
 *     "eval":       {"every": 100, "windows": 64}   validation loss every N steps, on up to
 *                                                   `windows` evenly spread windows (0: all)
 *     "checkpoint": {"every": 200}
 *   }
 * A step is `accumulate` micro-batches of `batch` sequences of model.context tokens; the
 * gradients are averaged over them before the update.
 *
 * The log (OUT/log.jsonl) has one JSON object per step: step, loss, lr, weight_decay,
 * grad_norm, tokens, tokens_per_s, elapsed_s, and val_loss / val_ppl on evaluation steps.
 * Resuming (bn_train_run with resume) continues from OUT's checkpoint bit for bit: the same
 * weights, optimizer moments, batches and log lines as a run that never stopped.
 */
#ifndef BN_TRAIN_TRAINER_H
#define BN_TRAIN_TRAINER_H

#include "train/net.h"
#include "train/optim.h"

#include <signal.h>

typedef struct bn_train_config {
    bn_net_config model;
    const char *tokenizer, *train_data, *val_data, *out;
    const char **text_files; /* n_text text files to tokenize (instead of train_data/val_data) */
    int n_text;
    double val_fraction;
    int64_t steps;
    int batch, accumulate, threads;
    uint64_t seed;
    bn_schedule schedule;
    bn_adamw_config adamw;
    int64_t eval_every, eval_windows, checkpoint_every;
    cJSON *json; /* owns the strings above */
    char *text;  /* the config file as read (kept in checkpoints) */
} bn_train_config;

/* Read and check a config file. Errors name the file and the field. */
bn_status bn_train_config_load(bn_train_config *c, const char *path);

/* The same from text (tests); name is used in messages. */
bn_status bn_train_config_parse(bn_train_config *c, const char *text, const char *name);

void bn_train_config_free(bn_train_config *c);

/* What the run reports after each step (and each evaluation). */
typedef struct bn_train_progress {
    int64_t step, steps; /* step just done (1-based) of steps */
    double loss, lr, weight_decay, grad_norm;
    double val_loss;     /* NaN unless this step evaluated */
    int64_t tokens;      /* trained on so far */
    double tokens_per_s; /* over this run's steps (not counting evaluation) */
    double elapsed_s, eta_s;
    bool checkpointed;
} bn_train_progress;

typedef void (*bn_train_progress_fn)(const bn_train_progress *p, void *ctx);

typedef struct bn_train_options {
    bool resume;                 /* continue from OUT's checkpoint */
    bool overwrite;              /* start afresh even when OUT holds a checkpoint */
    int64_t stop_after;          /* > 0: stop (with a checkpoint) once this step is done */
    volatile sig_atomic_t *stop; /* when set to nonzero: checkpoint and return (SIGINT) */
    bn_train_progress_fn progress;
    void *progress_ctx;
} bn_train_options;

/* Train. Returns BN_OK when the run reached its last step, or stopped as asked with its
 * checkpoint written. */
bn_status bn_train_run(const bn_train_config *c, const bn_train_options *opt);

#endif /* BN_TRAIN_TRAINER_H */
