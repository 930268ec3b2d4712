/*
 * test_train_run.c - the trainer end to end on a tiny model:
 *
 *   - the loss falls: 40 steps on a token stream with structure take the validation loss well
 *     below its start (the seconds-long "training works" check of make test);
 *   - resume is exact: a run stopped at step 5 and resumed to step 12 ends with the same bits
 *     (weights, AdamW moments, data position: the checkpoint CRCs match) and logs the same
 *     losses as a run that never stopped;
 *   - a fresh run refuses a folder holding a checkpoint; resuming refuses another model;
 *   - configs: unknown keys, missing fields, out-of-range values and bad JSON are refused with
 *     messages naming the field.
 */
#include "test.h"

#include "io/safetensors.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/trainer.h"

#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/bn_test_train_run_XXXXXX";
static char tok_path[512];

/* A token stream with structure a small model learns quickly: short "sentences" drawn from a
 * few fixed patterns with random fillers. */
static void write_tokens(const char *path, int n, uint64_t seed) {
    bn_tokenizer *tok = NULL;
    CHECK_OK(bn_tokenizer_load(&tok, tok_path));
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(tok);
    bn_token_writer w;
    CHECK_OK(
        bn_token_writer_open(&w, path, (uint32_t)spec->n_tokens, 1, bn_token_vocab_hash(spec)));
    static const int32_t patterns[4][6] = {{40, 41, 42, 43, 44, 45},
                                           {50, 51, 52, 53, 54, 55},
                                           {60, 61, 62, 63, 64, 65},
                                           {70, 71, 72, 73, 74, 75}};
    uint64_t x = seed;
    bn_status st = BN_OK;
    for (int i = 0; st == BN_OK && i < n; i += 8) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        int32_t row[8];
        memcpy(row, patterns[(x >> 33) % 4], sizeof patterns[0]);
        row[6] = (int32_t)(100 + (x >> 40) % 100);
        row[7] = 1;
        st = bn_token_writer_append(&w, row, 8);
    }
    CHECK_OK(st);
    CHECK_OK(bn_token_writer_commit(&w));
    bn_tokenizer_free(tok);
}

static const char *config_text(const char *out, int steps, int dim) {
    static char text[2048];
    snprintf(text, sizeof text,
             "{\"model\": {\"dim\": %d, \"layers\": 2, \"heads\": 4, \"kv_heads\": 2, "
             "\"ffn\": 128, \"context\": 32},"
             " \"tokenizer\": \"%s\","
             " \"data\": {\"train\": \"%s/train.tok\", \"val\": \"%s/val.tok\"},"
             " \"out\": \"%s/%s\", \"steps\": %d, \"batch\": 4, \"seed\": 3, \"threads\": 2,"
             " \"optim\": {\"lr\": 1e-2, \"lr_cooldown\": 3e-3, \"warmup\": 4},"
             " \"eval\": {\"every\": 4, \"windows\": 8}}",
             dim, tok_path, dir, dir, dir, out, steps);
    return text;
}

static bn_status train(const char *out, int steps, int stop_after, bool resume, bool force) {
    bn_train_config c;
    BN_TRY(bn_train_config_parse(&c, config_text(out, steps, 64), "test config"));
    bn_train_options opt = {.resume = resume, .overwrite = force, .stop_after = stop_after};
    bn_status s = bn_train_run(&c, &opt);
    bn_train_config_free(&c);
    return s;
}

static const char *meta(const bn_safetensors *st, const char *key) {
    for (int64_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return "";
}

/* The log without its timing fields: "step ... grad_norm" of each line. */
static void strip_times(char *log) {
    char *w = log;
    for (char *r = log; *r;) {
        char *t = strstr(r, ",\"tokens\":"), *nl = strchr(r, '\n');
        if (t == NULL || nl == NULL)
            break;
        memmove(w, r, (size_t)(t - r));
        w += t - r;
        char *v = strstr(t, ",\"val_loss\"");
        if (v != NULL && v < nl) {
            memmove(w, v, (size_t)(nl - v));
            w += nl - v;
        }
        *w++ = '\n';
        r = nl + 1;
    }
    *w = '\0';
}

static double val_loss_at(const char *log, int step) {
    char key[64];
    snprintf(key, sizeof key, "{\"step\":%d,", step);
    const char *line = strstr(log, key), *v = line ? strstr(line, "\"val_loss\":") : NULL;
    return v != NULL ? atof(v + strlen("\"val_loss\":")) : NAN;
}

static void check_loss_falls(void) {
    CHECK_OK(train("falls", 40, 0, false, false));
    char path[600];
    snprintf(path, sizeof path, "%s/falls/log.jsonl", dir);
    char *log = bn_test_read_file(path, NULL);
    double first = log ? val_loss_at(log, 4) : NAN, last = log ? val_loss_at(log, 40) : NAN;
    printf("validation loss: step 4 %.3f, step 40 %.3f\n", first, last);
    CHECK(last < first - 1.0, "the validation loss did not fall: %.3f -> %.3f", first, last);
    free(log);
}

static void check_resume(void) {
    CHECK_OK(train("whole", 12, 0, false, false));
    CHECK_OK(train("parts", 12, 5, false, false));
    /* A fresh run over a checkpoint is refused, --force allowed. */
    CHECK(train("parts", 12, 0, false, false) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "--resume") != NULL,
          "a fresh run over a checkpoint: %s", bn_last_error());
    CHECK_OK(train("parts", 12, 0, true, false));

    char a[600], b[600];
    bn_safetensors *sa = NULL, *sb = NULL;
    snprintf(a, sizeof a, "%s/whole/checkpoint.safetensors", dir);
    snprintf(b, sizeof b, "%s/parts/checkpoint.safetensors", dir);
    CHECK_OK(bn_st_open(&sa, a));
    CHECK_OK(bn_st_open(&sb, b));
    if (sa != NULL && sb != NULL) {
        CHECK(strcmp(meta(sa, "crc32"), meta(sb, "crc32")) == 0 &&
                  strcmp(meta(sa, "step"), "12") == 0 && strcmp(meta(sb, "step"), "12") == 0,
              "resumed run ends elsewhere: crc %s vs %s, step %s vs %s", meta(sa, "crc32"),
              meta(sb, "crc32"), meta(sa, "step"), meta(sb, "step"));
        const bn_st_tensor *ta = bn_st_find(sa, "optim.v.model.norm.weight"),
                           *tb = bn_st_find(sb, "optim.v.model.norm.weight");
        CHECK(ta && tb && ta->size == tb->size && memcmp(ta->data, tb->data, ta->size) == 0,
              "AdamW moments differ");
    }
    bn_st_close(sa);
    bn_st_close(sb);
    snprintf(a, sizeof a, "%s/whole/log.jsonl", dir);
    snprintf(b, sizeof b, "%s/parts/log.jsonl", dir);
    char *la = bn_test_read_file(a, NULL), *lb = bn_test_read_file(b, NULL);
    if (la != NULL && lb != NULL) {
        strip_times(la);
        strip_times(lb);
        CHECK(strcmp(la, lb) == 0, "the logs differ:\n%s---\n%s", la, lb);
    }
    free(la);
    free(lb);

    /* Resuming with another model is refused. */
    bn_train_config c;
    CHECK_OK(bn_train_config_parse(&c, config_text("parts", 20, 128), "test config"));
    bn_train_options opt = {.resume = true};
    CHECK(bn_train_run(&c, &opt) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "another model") != NULL,
          "resume with another model: %s", bn_last_error());
    bn_train_config_free(&c);
}

/* Config errors: each must be refused, with the named field in the message. */
static void check_config_errors(void) {
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{", "not a JSON object"},
        {"[]", "not a JSON object"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", \"steps\": 10, \"optim\": "
         "{\"lr\": 1e-3}, \"bogus\": 1}",
         "unknown key bogus"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", \"steps\": 10}",
         "optim is missing"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", \"steps\": 10, \"optim\": "
         "{\"lr\": -1}}",
         "optim.lr is -1"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128, \"activation\": "
         "\"gelu\"}, \"tokenizer\": \"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", "
         "\"steps\": 10, \"optim\": {\"lr\": 1e-3}}",
         "model.activation is \"gelu\""},
        {"{\"model\": {\"dim\": 64, \"layers\": 2.5, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", \"steps\": 10, \"optim\": "
         "{\"lr\": 1e-3}}",
         "model.layers must be an integer"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", \"steps\": 10, \"optim\": "
         "{\"lr\": 1e-3, \"warmup\": 10}}",
         "optim.warmup"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {\"train\": \"x\"}, \"out\": \"o\", \"steps\": 10, \"optim\": "
         "{\"lr\": 1e-3, \"lr_cooldown\": 1e-2}}",
         "optim.lr_cooldown"},
        {"{\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128}, \"tokenizer\": "
         "\"t\", \"data\": {}, \"out\": \"o\", \"steps\": 10, \"optim\": {\"lr\": 1e-3}}",
         "data.train is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bn_train_config c;
        bn_status s = bn_train_config_parse(&c, bad[i].json, "cfg.json");
        CHECK(s != BN_OK && strstr(bn_last_error(), bad[i].want) != NULL &&
                  strstr(bn_last_error(), "cfg.json") != NULL,
              "config %zu: got %s, want an error with '%s'", i, bn_last_error(), bad[i].want);
        if (s == BN_OK)
            bn_train_config_free(&c);
    }
}

static void remove_tree(const char *path) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

int main(void) {
    snprintf(tok_path, sizeof tok_path, "%s/tests/fixtures/tiny-bitnet-hf/tokenizer.json",
             BN_SOURCE_DIR);
    if (mkdtemp(dir) == NULL)
        return bn_test_skip("test_train_run", "no temporary folder");
    char path[600];
    snprintf(path, sizeof path, "%s/train.tok", dir);
    write_tokens(path, 40000, 1);
    snprintf(path, sizeof path, "%s/val.tok", dir);
    write_tokens(path, 4000, 2);
    check_config_errors();
    check_loss_falls();
    check_resume();
    remove_tree(dir);
    return bn_test_finish("test_train_run");
}
