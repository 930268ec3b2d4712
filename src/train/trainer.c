/* trainer.c - the config and the training loop of trainer.h. */
#include "train/trainer.h"

#include "base/log.h"
#include "base/timer.h"
#include "io/outfile.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/tokenize_data.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the config --------------------------------------------------------------------------- */

static bn_status read_optim(const bn_jobj *root, bn_train_config *c) {
    static const char *const keys[] = {"lr",
                                       "lr_cooldown",
                                       "min_lr",
                                       "warmup",
                                       "cooldown_start",
                                       "schedule",
                                       "weight_decay",
                                       "weight_decay_cooldown",
                                       "beta1",
                                       "beta2",
                                       "eps",
                                       "grad_clip",
                                       NULL};
    static const char *const shapes[] = {"linear", "cosine", NULL};
    bn_jobj o;
    BN_TRY(bn_jobj_member(root, "optim", true, &o));
    BN_TRY(bn_jobj_known(&o, keys));
    bn_schedule *s = &c->schedule;
    *s = (bn_schedule){.steps = c->steps, .cooldown_start = 0.5, .weight_decay = 0.1};
    BN_TRY(bn_jobj_num(&o, "lr", true, 1e-9, 10.0, &s->lr));
    s->lr_cooldown = s->lr;
    s->min_lr = 0.1 * s->lr;
    BN_TRY(bn_jobj_num(&o, "lr_cooldown", false, 1e-9, 10.0, &s->lr_cooldown));
    s->min_lr = s->min_lr < s->lr_cooldown ? s->min_lr : s->lr_cooldown;
    BN_TRY(bn_jobj_num(&o, "min_lr", false, 0.0, 10.0, &s->min_lr));
    BN_TRY(bn_jobj_int(&o, "warmup", false, 0, INT64_MAX, &s->warmup));
    BN_TRY(bn_jobj_num(&o, "cooldown_start", false, 1e-9, 1.0, &s->cooldown_start));
    int shape = 0;
    BN_TRY(bn_jobj_choice(&o, "schedule", false, shapes, &shape));
    s->shape = shape == 0 ? BN_DECAY_LINEAR : BN_DECAY_COSINE;
    BN_TRY(bn_jobj_num(&o, "weight_decay", false, 0.0, 0.999, &s->weight_decay));
    BN_TRY(bn_jobj_num(&o, "weight_decay_cooldown", false, 0.0, 0.999, &s->weight_decay_cooldown));
    c->adamw = bn_adamw_defaults();
    BN_TRY(bn_jobj_num(&o, "beta1", false, 0.0, 0.999999, &c->adamw.beta1));
    BN_TRY(bn_jobj_num(&o, "beta2", false, 0.0, 0.999999, &c->adamw.beta2));
    BN_TRY(bn_jobj_num(&o, "eps", false, 1e-30, 0.5, &c->adamw.eps));
    BN_TRY(bn_jobj_num(&o, "grad_clip", false, 0.0, 1e9, &c->adamw.grad_clip));
    BN_TRY(bn_schedule_check(s));
    return bn_adamw_check(&c->adamw);
}

/* data.text: a list of text files (a single string is one file). */
static bn_status read_text_files(const bn_jobj *data, bn_train_config *c) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(data->obj, "text");
    if (t == NULL)
        return BN_OK;
    int n = cJSON_IsArray(t) ? cJSON_GetArraySize(t) : cJSON_IsString(t) ? 1 : 0;
    if (n == 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "config: data.text must be a file name or a "
                                            "non-empty list of them");
    if ((c->text_files = calloc((size_t)n, sizeof *c->text_files)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "config");
    for (int i = 0; i < n; i++) {
        const cJSON *f = cJSON_IsArray(t) ? cJSON_GetArrayItem(t, i) : t;
        if (!cJSON_IsString(f) || f->valuestring[0] == '\0')
            return BN_ERROR(BN_ERR_INVALID_ARG, "config: data.text[%d] must be a file name", i);
        c->text_files[c->n_text++] = f->valuestring;
    }
    return BN_OK;
}

static bn_status read_config(const bn_jobj *root, bn_train_config *c) {
    static const char *const keys[] = {"model", "tokenizer",  "data", "out",     "steps",
                                       "batch", "accumulate", "seed", "threads", "optim",
                                       "eval",  "checkpoint", NULL};
    static const char *const data_keys[] = {"train", "val", "text", "val_fraction", NULL};
    static const char *const eval_keys[] = {"every", "windows", NULL};
    static const char *const ckpt_keys[] = {"every", NULL};
    BN_TRY(bn_jobj_known(root, keys));
    bn_jobj model, data, eval, ckpt;
    BN_TRY(bn_jobj_member(root, "model", true, &model));
    BN_TRY(bn_net_config_read(&model, &c->model));
    BN_TRY(bn_jobj_str(root, "tokenizer", true, &c->tokenizer));
    BN_TRY(bn_jobj_member(root, "data", true, &data));
    BN_TRY(bn_jobj_known(&data, data_keys));
    BN_TRY(read_text_files(&data, c));
    BN_TRY(bn_jobj_str(&data, "train", c->n_text == 0, &c->train_data));
    BN_TRY(bn_jobj_str(&data, "val", false, &c->val_data));
    if (c->n_text > 0 && (c->train_data != NULL || c->val_data != NULL))
        return BN_ERROR(BN_ERR_INVALID_ARG, "config: data.text excludes data.train and data.val "
                                            "(the run makes them)");
    c->val_fraction = 0.05;
    BN_TRY(bn_jobj_num(&data, "val_fraction", false, 0.0, 0.5, &c->val_fraction));
    BN_TRY(bn_jobj_str(root, "out", true, &c->out));
    BN_TRY(bn_jobj_int(root, "steps", true, 1, INT64_C(1) << 40, &c->steps));
    c->batch = 8;
    c->accumulate = 1;
    BN_TRY(bn_jobj_int32(root, "batch", false, 1, 1 << 16, &c->batch));
    BN_TRY(bn_jobj_int32(root, "accumulate", false, 1, 1 << 16, &c->accumulate));
    int64_t seed = 1;
    BN_TRY(bn_jobj_int(root, "seed", false, 0, INT64_MAX, &seed));
    c->seed = (uint64_t)seed;
    BN_TRY(bn_jobj_int32(root, "threads", false, 0, 4096, &c->threads));
    BN_TRY(read_optim(root, c));
    BN_TRY(bn_jobj_member(root, "eval", false, &eval));
    BN_TRY(bn_jobj_known(&eval, eval_keys));
    c->eval_every = c->steps / 10 > 0 ? c->steps / 10 : 1;
    c->eval_windows = 64;
    BN_TRY(bn_jobj_int(&eval, "every", false, 1, INT64_MAX, &c->eval_every));
    BN_TRY(bn_jobj_int(&eval, "windows", false, 0, INT64_MAX, &c->eval_windows));
    BN_TRY(bn_jobj_member(root, "checkpoint", false, &ckpt));
    BN_TRY(bn_jobj_known(&ckpt, ckpt_keys));
    c->checkpoint_every = c->steps;
    BN_TRY(bn_jobj_int(&ckpt, "every", false, 1, INT64_MAX, &c->checkpoint_every));
    return BN_OK;
}

bn_status bn_train_config_parse(bn_train_config *c, const char *text, const char *name) {
    memset(c, 0, sizeof *c);
    c->json = cJSON_Parse(text);
    if (c->json == NULL || !cJSON_IsObject(c->json)) {
        bn_train_config_free(c);
        return BN_ERROR(BN_ERR_FORMAT, "%s: not a JSON object (near \"%.20s\")", name,
                        cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    }
    if ((c->text = strdup(text)) == NULL) {
        bn_train_config_free(c);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "config");
    }
    bn_jobj root = {.obj = c->json, .path = ""};
    bn_status s = read_config(&root, c);
    if (s != BN_OK) {
        s = BN_ERROR(s, "%s: %s", name, bn_last_error());
        bn_train_config_free(c);
    }
    return s;
}

bn_status bn_train_config_load(bn_train_config *c, const char *path) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return BN_ERROR(BN_ERR_IO, "%s: %s", path, strerror(errno));
    char *text = malloc(1 << 20);
    size_t n = text != NULL ? fread(text, 1, (1 << 20) - 1, f) : 0;
    bool too_big = n == (1 << 20) - 1 && fgetc(f) != EOF, failed = ferror(f);
    fclose(f);
    if (text == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s", path);
    bn_status s = BN_OK;
    if (failed || too_big)
        s = BN_ERROR(failed ? BN_ERR_IO : BN_ERR_FORMAT, "%s: %s", path,
                     failed ? "read error" : "a config of 1 MiB or more");
    else {
        text[n] = '\0';
        s = bn_train_config_parse(c, text, path);
    }
    free(text);
    return s;
}

void bn_train_config_free(bn_train_config *c) {
    cJSON_Delete(c->json);
    free(c->text_files);
    free(c->text);
    memset(c, 0, sizeof *c);
}

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct run {
    const bn_train_config *c;
    bn_tokenizer *tok;
    bn_token_file train, val;
    bool have_val;
    bn_threadpool *pool;
    bn_net *net;
    bn_adamw *opt;
    bn_tape *tape;
    bn_batcher batcher;
    int32_t *inputs, *targets;
    FILE *log;
    char ckpt_path[4096], log_path[4096];
    char train_path[4200], val_path[4200]; /* the token files (made here from data.text) */
    int64_t step, tokens;
} run;

static bn_status make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return BN_ERROR(BN_ERR_INVALID_ARG, "train: out path too long");
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return BN_ERROR(BN_ERR_IO, "train: cannot make the folder %s: %s", buf,
                                strerror(errno));
            if (end)
                break;
            *p = '/';
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return BN_ERROR(BN_ERR_IO, "train: out %s is not a folder", path);
    return BN_OK;
}

/* data.text: tokenize the files into OUT/data.*.tok (the same files every time: the split
 * depends on the text alone, so a resumed run gets the very tokens it had). */
static bn_status tokenize_text(run *r) {
    const bn_train_config *c = r->c;
    char prefix[4100];
    snprintf(prefix, sizeof prefix, "%s/data", c->out);
    bn_tokenize_data_params p = {prefix, c->val_fraction, 0, c->threads};
    bn_tokenize_data_counts n;
    BN_TRY(bn_tokenize_data(r->tok, c->text_files, (size_t)c->n_text, &p, &n));
    if (c->val_fraction > 0.0 && n.docs[1] == 0)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "train: no document of data.text fell into the "
                        "validation split (%zu documents, val_fraction %g): "
                        "raise it, or give more and shorter documents",
                        n.docs[0], c->val_fraction);
    snprintf(r->train_path, sizeof r->train_path, "%s.train.tok", prefix);
    if (n.docs[1] > 0)
        snprintf(r->val_path, sizeof r->val_path, "%s.val.tok", prefix);
    bn_log(BN_LOG_INFO, "train: %s: %llu training and %llu validation tokens from %zu documents",
           prefix, (unsigned long long)n.tokens[0], (unsigned long long)n.tokens[1],
           n.docs[0] + n.docs[1]);
    return BN_OK;
}

/* Tokenizer, data files (made with that tokenizer) and the model's vocabulary. */
static bn_status open_data(run *r, bn_net_config *model) {
    const bn_train_config *c = r->c;
    BN_TRY(bn_tokenizer_load(&r->tok, c->tokenizer));
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(r->tok);
    if (c->n_text > 0) {
        BN_TRY(make_dirs(c->out));
        BN_TRY(tokenize_text(r));
    } else {
        snprintf(r->train_path, sizeof r->train_path, "%s", c->train_data);
        snprintf(r->val_path, sizeof r->val_path, "%s", c->val_data ? c->val_data : "");
    }
    BN_TRY(bn_token_file_open(&r->train, r->train_path));
    BN_TRY(bn_token_file_check_tokenizer(&r->train, spec));
    if (r->val_path[0] != '\0') {
        BN_TRY(bn_token_file_open(&r->val, r->val_path));
        r->have_val = true;
        BN_TRY(bn_token_file_check_tokenizer(&r->val, spec));
    }
    int32_t n_vocab = bn_tokenizer_n_vocab(r->tok);
    if (model->vocab == 0)
        model->vocab = n_vocab;
    if (model->vocab < n_vocab)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "train: model.vocab %d is below the tokenizer's %d "
                        "tokens",
                        model->vocab, n_vocab);
    if (r->train.n_tokens < (uint64_t)model->context + 1)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "train: %s has %llu tokens, fewer than one window of "
                        "context + 1 = %d",
                        r->train_path, (unsigned long long)r->train.n_tokens, model->context + 1);
    return BN_OK;
}

static bn_status setup(run *r) {
    const bn_train_config *c = r->c;
    bn_net_config model = c->model;
    BN_TRY(open_data(r, &model));
    BN_TRY(bn_threadpool_create(c->threads, &r->pool));
    openblas_set_num_threads(1); /* the pool splits the GEMMs (train/ops.c) */
    BN_TRY(bn_net_create(&r->net, &model));
    bn_net_init(r->net, c->seed);
    BN_TRY(bn_adamw_create(&r->opt, r->net, &c->adamw));
    BN_TRY(bn_tape_create(&r->tape, (size_t)64 << 20, r->pool));
    BN_TRY(bn_batcher_init(&r->batcher, &r->train, c->batch, model.context, c->seed));
    size_t n = (size_t)c->batch * (size_t)model.context;
    r->inputs = malloc(n * sizeof(int32_t));
    r->targets = malloc(n * sizeof(int32_t));
    if (r->inputs == NULL || r->targets == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: batch buffers");
    BN_TRY(make_dirs(c->out));
    /* The run's folder keeps its tokenizer, so that export needs nothing else. */
    bn_status ts = bn_tokenizer_spec_write_hf(bn_tokenizer_spec_of(r->tok), c->out);
    if (ts != BN_OK && ts != BN_ERR_UNSUPPORTED)
        return ts;
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/%s", c->out, BN_CHECKPOINT_FILE);
    snprintf(r->log_path, sizeof r->log_path, "%s/log.jsonl", c->out);
    return BN_OK;
}

static void teardown(run *r) {
    if (r->log != NULL)
        fclose(r->log);
    free(r->inputs);
    free(r->targets);
    bn_tape_free(r->tape);
    bn_adamw_free(r->opt, r->net);
    bn_net_free(r->net);
    bn_threadpool_destroy(r->pool);
    if (r->have_val)
        bn_token_file_close(&r->val);
    bn_token_file_close(&r->train);
    bn_tokenizer_free(r->tok);
}

static bool same_model(const bn_net_config *a, const bn_net_config *b) {
    return a->dim == b->dim && a->layers == b->layers && a->heads == b->heads &&
           a->kv_heads == b->kv_heads && a->ffn == b->ffn && a->vocab == b->vocab &&
           a->context == b->context && a->rope_theta == b->rope_theta && a->eps == b->eps &&
           a->act == b->act && a->ternary == b->ternary;
}

/* Keep the log's lines up to step (a killed run may have logged steps past its checkpoint):
 * the resumed run writes them again, so the log reads as one uninterrupted run. */
static bn_status trim_log(const char *path, int64_t step) {
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return errno == ENOENT ? BN_OK : BN_ERROR(BN_ERR_IO, "%s: %s", path, strerror(errno));
    bn_outfile out;
    bn_status s = bn_outfile_open(&out, path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (s == BN_OK && (len = getline(&line, &cap, in)) > 0) {
        long long at = -1;
        if (sscanf(line, "{\"step\":%lld", &at) == 1 && at > step)
            break;
        s = bn_outfile_write(&out, line, (size_t)len);
    }
    free(line);
    fclose(in);
    if (s == BN_OK)
        return bn_outfile_commit(&out);
    bn_outfile_discard(&out);
    return s;
}

/* A run killed while writing its checkpoint leaves the temporary file beside it (the checkpoint
 * itself is the previous one, whole): remove such leftovers. */
static void remove_stale_temps(const run *r) {
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s.tmp.*", r->ckpt_path);
    glob_t g;
    if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (unlink(g.gl_pathv[i]) == 0)
            bn_log(BN_LOG_INFO, "train: removed %s (left by a run that was killed)", g.gl_pathv[i]);
    globfree(&g);
}

static bn_status resume(run *r) {
    remove_stale_temps(r);
    bn_checkpoint ck;
    BN_TRY(bn_checkpoint_open(&ck, r->ckpt_path));
    bn_status s = BN_OK;
    if (!same_model(&ck.model, &r->net->cfg))
        s = BN_ERROR(BN_ERR_INVALID_ARG, "train: %s holds another model than the config's",
                     r->ckpt_path);
    if (s == BN_OK)
        s = bn_checkpoint_restore(&ck, r->net, r->opt);
    if (s == BN_OK && ck.info.data_state_size != BN_BATCHER_STATE_BYTES)
        s = BN_ERROR(BN_ERR_FORMAT, "%s: the data loader's state is missing", r->ckpt_path);
    if (s == BN_OK) {
        bn_batcher_state bs;
        bn_batcher_state_decode(&bs, ck.info.data_state);
        s = bn_batcher_set_state(&r->batcher, &bs);
    }
    r->step = ck.info.step;
    r->tokens = ck.info.tokens;
    bn_checkpoint_close(&ck);
    BN_TRY(s);
    if (r->step > r->c->steps)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "train: the checkpoint is at step %lld, past the "
                        "config's %lld steps",
                        (long long)r->step, (long long)r->c->steps);
    return trim_log(r->log_path, r->step);
}

static bn_status save(run *r) {
    bn_batcher_state bs;
    uint8_t state[BN_BATCHER_STATE_BYTES];
    bn_batcher_get_state(&r->batcher, &bs);
    bn_batcher_state_encode(&bs, state);
    bn_checkpoint_info info = {.step = r->step,
                               .adam_steps = r->opt->steps,
                               .tokens = r->tokens,
                               .config = r->c->text,
                               .data_state = state,
                               .data_state_size = sizeof state};
    return bn_checkpoint_save(r->ckpt_path, r->net, r->opt, &info);
}

/* One update: accumulate micro-batches' gradients, average, clip, AdamW. */
static bn_status train_step(run *r, double lr, double wd, double *loss, double *grad_norm) {
    const bn_train_config *c = r->c;
    bn_net_zero_grad(r->net);
    double sum = 0.0;
    bn_tape_set_grad(r->tape, true);
    for (int m = 0; m < c->accumulate; m++) {
        BN_TRY(bn_batcher_next(&r->batcher, r->inputs, r->targets));
        bn_tape_reset(r->tape);
        bn_var *l;
        BN_TRY(bn_net_forward(r->net, r->tape, r->inputs, r->targets, c->batch, &l));
        BN_TRY(bn_tape_backward(r->tape, l));
        sum += l->data[0];
    }
    if (c->accumulate > 1) {
        float inv = 1.0f / (float)c->accumulate;
        for (int64_t i = 0; i < r->net->values_padded; i++)
            r->net->grads[i] *= inv;
    }
    *loss = sum / c->accumulate;
    if (!isfinite(*loss))
        return BN_ERROR(BN_ERR_RANGE,
                        "train: the loss is not finite at step %lld (lower optim.lr "
                        "or raise optim.warmup)",
                        (long long)r->step + 1);
    return bn_adamw_step(r->opt, r->net, lr, wd, r->pool, grad_norm);
}

/* The mean loss over the validation walk (gradients off). */
static bn_status evaluate(run *r, double *val_loss) {
    const bn_train_config *c = r->c;
    bn_eval_walk w;
    BN_TRY(
        bn_eval_walk_init(&w, &r->val, c->batch, r->net->cfg.context, (uint64_t)c->eval_windows));
    bn_tape_set_grad(r->tape, false);
    double sum = 0.0;
    int64_t n = 0;
    for (;;) {
        int rows;
        BN_TRY(bn_eval_walk_next(&w, r->inputs, r->targets, &rows));
        if (rows == 0)
            break;
        bn_tape_reset(r->tape);
        bn_var *l;
        BN_TRY(bn_net_forward(r->net, r->tape, r->inputs, r->targets, rows, &l));
        sum += (double)l->data[0] * rows;
        n += rows;
    }
    bn_tape_set_grad(r->tape, true);
    *val_loss = n > 0 ? sum / (double)n : NAN;
    return BN_OK;
}

static bn_status log_step(run *r, const bn_train_progress *p) {
    if (r->log == NULL && (r->log = fopen(r->log_path, "ab")) == NULL)
        return BN_ERROR(BN_ERR_IO, "%s: %s", r->log_path, strerror(errno));
    fprintf(r->log,
            "{\"step\":%lld,\"loss\":%.6f,\"lr\":%.6g,\"weight_decay\":%.6g,\"grad_norm\":%.6f,"
            "\"tokens\":%lld,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f",
            (long long)p->step, p->loss, p->lr, p->weight_decay, p->grad_norm, (long long)p->tokens,
            p->tokens_per_s, p->elapsed_s);
    if (!isnan(p->val_loss))
        fprintf(r->log, ",\"val_loss\":%.6f,\"val_ppl\":%.4f", p->val_loss, exp(p->val_loss));
    fputs("}\n", r->log);
    if (fflush(r->log) != 0 || ferror(r->log))
        return BN_ERROR(BN_ERR_IO, "%s: write failed: %s", r->log_path, strerror(errno));
    return BN_OK;
}

static bool stop_now(const bn_train_options *opt, int64_t step) {
    return (opt->stop != NULL && *opt->stop) || (opt->stop_after > 0 && step >= opt->stop_after);
}

static bn_status loop(run *r, const bn_train_options *opt) {
    const bn_train_config *c = r->c;
    int64_t first = r->step;
    double train_s = 0.0;
    uint64_t t0 = bn_time_ns();
    while (r->step < c->steps) {
        bn_train_progress p = {.steps = c->steps, .val_loss = NAN};
        p.lr = bn_schedule_lr(&c->schedule, r->step);
        p.weight_decay = bn_schedule_weight_decay(&c->schedule, r->step);
        uint64_t s0 = bn_time_ns();
        BN_TRY(train_step(r, p.lr, p.weight_decay, &p.loss, &p.grad_norm));
        train_s += (double)(bn_time_ns() - s0) * 1e-9;
        r->step++;
        r->tokens += (int64_t)c->batch * c->accumulate * r->net->cfg.context;
        p.step = r->step;
        p.tokens = r->tokens;
        bool last = r->step == c->steps, stop = stop_now(opt, r->step);
        if (r->have_val && (r->step % c->eval_every == 0 || last))
            BN_TRY(evaluate(r, &p.val_loss));
        p.elapsed_s = (double)(bn_time_ns() - t0) * 1e-9;
        double per_step = p.elapsed_s / (double)(r->step - first);
        p.tokens_per_s =
            (double)(r->step - first) * c->batch * c->accumulate * r->net->cfg.context / train_s;
        p.eta_s = per_step * (double)(c->steps - r->step);
        BN_TRY(log_step(r, &p));
        if (r->step % c->checkpoint_every == 0 || last || stop) {
            BN_TRY(save(r));
            p.checkpointed = true;
        }
        if (opt->progress != NULL)
            opt->progress(&p, opt->progress_ctx);
        if (stop)
            break;
    }
    return BN_OK;
}

bn_status bn_train_run(const bn_train_config *c, const bn_train_options *opt) {
    run r = {.c = c};
    bn_status s = setup(&r);
    if (s == BN_OK && opt->resume)
        s = resume(&r);
    struct stat sb;
    if (s == BN_OK && !opt->resume && !opt->overwrite && stat(r.ckpt_path, &sb) == 0)
        s = BN_ERROR(BN_ERR_INVALID_ARG,
                     "train: %s already holds a checkpoint: --resume to "
                     "continue it, --force to start afresh over it",
                     c->out);
    if (s == BN_OK && !opt->resume)
        s = trim_log(r.log_path, 0); /* a fresh run starts a fresh log */
    if (s == BN_OK)
        s = loop(&r, opt);
    teardown(&r);
    return s;
}
