/*
 * test_train_export.c - a trained model leaves the trainer and runs in the engine unchanged:
 *
 *   - a checkpoint saved and opened again restores every weight bit for bit; a damaged byte is
 *     refused by the CRC;
 *   - the GGUF export (TQ2_0, TQ1_0 and I2_S linear layers, f32 embeddings) gives, through the
 *     inference engine (bn_model_load + bn_context_eval, float head, f32 cache), the trainer's
 *     own eval-mode logits (bn_net_logits) within 1e-4 relative L2;
 *   - the Hugging Face export, loaded by the engine's HF path, gives them too.
 * The net is a tiny one, a few AdamW steps away from its initialization so that the weights are
 * not the symmetric random ones, with the tokenizer of tests/fixtures/tiny-bitnet-hf.
 */
#include "test.h"

#include "model/forward.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/export.h"
#include "train/optim.h"

#include <string.h>
#include <unistd.h>

enum { T = 24 };

/* A few steps on a repeating pattern, so the weights move away from their initialization. */
static void train_a_little(bn_net *net, bn_tape *tape) {
    bn_adamw *opt;
    bn_adamw_config ac = bn_adamw_defaults();
    CHECK_OK(bn_adamw_create(&opt, net, &ac));
    int32_t tok[2 * 32], tgt[2 * 32];
    for (int i = 0; i < 2 * 32; i++) {
        tok[i] = (i * 7) % net->cfg.vocab;
        tgt[i] = (i * 7 + 7) % net->cfg.vocab;
    }
    for (int step = 0; step < 5; step++) {
        bn_tape_reset(tape);
        bn_net_zero_grad(net);
        bn_var *loss;
        CHECK_OK(bn_net_forward(net, tape, tok, tgt, 2, &loss));
        CHECK_OK(bn_tape_backward(tape, loss));
        CHECK_OK(bn_adamw_step(opt, net, 1e-2, 0.1, NULL, NULL));
    }
    bn_adamw_free(opt, net);
}

/* The engine's logits for the tokens from a model file or folder. */
static bool engine_logits_n(const char *path, const int32_t *tokens, int n, float *logits) {
    bn_model *m = NULL;
    bn_context *c = NULL;
    bn_status s = bn_model_load(&m, path, NULL);
    CHECK(s == BN_OK, "load %s: %s", path, bn_last_error());
    bn_context_params p = bn_context_default_params();
    p.kv_type = BN_KV_F32;
    p.float_head = true;
    p.n_threads = 1;
    if (s == BN_OK)
        CHECK_OK(s = bn_context_create(&c, m, &p));
    if (s == BN_OK)
        CHECK_OK(s = bn_context_eval(c, tokens, n, logits, true));
    bn_context_free(c);
    bn_model_free(m);
    return s == BN_OK;
}

static bool engine_logits(const char *path, const int32_t *tokens, float *logits) {
    return engine_logits_n(path, tokens, T, logits);
}

/* tests/fixtures/train-export (scripts/make_train_export_fixture.sh): a folder our trainer
 * exported and the logits transformers' BitNetForCausalLM computes from it. The engine must
 * agree within 1e-3 relative L2: what a user running the folder in transformers gets. */
static void check_transformers_fixture(void) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/train-export/hf", BN_SOURCE_DIR);
    snprintf(path, sizeof path, "%s/tests/fixtures/train-export/transformers-logits.safetensors",
             BN_SOURCE_DIR);
    bn_safetensors *st = NULL;
    CHECK_OK(bn_st_open(&st, path));
    const bn_st_tensor *ids = st ? bn_st_find(st, "ids") : NULL;
    const bn_st_tensor *want = st ? bn_st_find(st, "logits") : NULL;
    CHECK(ids != NULL && want != NULL && want->n_dims == 2 && ids->shape[0] == want->shape[0],
          "the transformers fixture's tensors");
    if (ids != NULL && want != NULL) {
        int n = (int)ids->shape[0];
        float *got = malloc(want->size);
        if (engine_logits_n(dir, (const int32_t *)ids->data, n, got)) {
            double e = bn_test_rel_l2(got, (const float *)want->data, n * want->shape[1]);
            printf("trained and exported folder vs transformers: logits relative L2 %.2e\n", e);
            CHECK(e <= 1e-3, "exported folder: logits differ from transformers': %.3g", e);
        }
        free(got);
    }
    bn_st_close(st);
}

static void check_checkpoint(const bn_net *net, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    bn_checkpoint_info info = {.step = 7, .tokens = 99, .config = "{}"};
    CHECK_OK(bn_checkpoint_save(path, net, NULL, &info));
    bn_checkpoint ck;
    CHECK_OK(bn_checkpoint_open(&ck, path));
    bn_net *back = NULL;
    CHECK_OK(bn_net_create(&back, &ck.model));
    if (back != NULL) {
        CHECK_OK(bn_checkpoint_restore(&ck, back, NULL));
        CHECK(memcmp(back->values, net->values, (size_t)net->values_padded * sizeof(float)) == 0,
              "checkpoint weights differ after a round trip");
        CHECK(ck.info.step == 7 && ck.info.tokens == 99, "checkpoint step/tokens");
    }
    bn_net_free(back);
    bn_checkpoint_close(&ck);

    /* One flipped byte in the data: the CRC refuses the file. */
    FILE *f = fopen(path, "r+b");
    fseek(f, -100, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(ch ^ 0x10, f);
    fclose(f);
    bn_status s = bn_checkpoint_open(&ck, path);
    CHECK(s == BN_ERR_FORMAT && strstr(bn_last_error(), "CRC") != NULL, "a damaged checkpoint: %s",
          bn_last_error());
    unlink(path);
}

int main(void) {
    char tok_path[512], dir[] = "/tmp/bn_test_train_export_XXXXXX";
    snprintf(tok_path, sizeof tok_path, "%s/tests/fixtures/tiny-bitnet-hf/tokenizer.json",
             BN_SOURCE_DIR);
    if (mkdtemp(dir) == NULL)
        return bn_test_skip("test_train_export", "no temporary folder");
    bn_tokenizer *tok = NULL;
    CHECK_OK(bn_tokenizer_load(&tok, tok_path));
    if (tok == NULL)
        return bn_test_finish("test_train_export");
    /* dim and ffn multiples of 256: the TQ types' block. */
    bn_net_config cfg = {.dim = 256,
                         .layers = 2,
                         .heads = 4,
                         .kv_heads = 2,
                         .ffn = 512,
                         .vocab = bn_tokenizer_n_vocab(tok),
                         .context = 32,
                         .rope_theta = 10000.0f,
                         .eps = 1e-5f,
                         .act = BN_ACT_RELU2,
                         .ternary = true};
    bn_net *net = NULL;
    bn_tape *tape = NULL;
    CHECK_OK(bn_net_create(&net, &cfg));
    CHECK_OK(bn_tape_create(&tape, 1 << 22, NULL));
    bn_net_init(net, 3);
    train_a_little(net, tape);
    check_checkpoint(net, dir);
    check_transformers_fixture();

    int32_t tokens[T];
    for (int i = 0; i < T; i++)
        tokens[i] = (i * 13 + 5) % cfg.vocab;
    size_t n = (size_t)T * (size_t)cfg.vocab;
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    CHECK_OK(bn_net_logits(net, tape, tokens, T, want));

    const bn_dtype types[] = {BN_DTYPE_TQ2_0, BN_DTYPE_TQ1_0, BN_DTYPE_I2_S};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/model-%zu.gguf", dir, k);
        bn_convert_options opt = {
            .type = types[k], .embed_type = BN_DTYPE_F32, .head_as_source = true};
        CHECK_OK(bn_export_gguf(net, bn_tokenizer_spec_of(tok), path, &opt));
        bn_gguf *g = NULL;
        const char *name = NULL;
        char want_name[32];
        snprintf(want_name, sizeof want_name, "model-%zu", k);
        CHECK_OK(bn_gguf_open(&g, path));
        if (g != NULL)
            CHECK_OK(bn_gguf_get_str(g, "general.name", &name));
        CHECK(name != NULL && strcmp(name, want_name) == 0, "general.name is %s, want %s",
              name ? name : "(none)", want_name);
        bn_gguf_close(g);
        if (engine_logits(path, tokens, got)) {
            double e = bn_test_rel_l2(got, want, (int64_t)n);
            printf("GGUF %s: logits relative L2 %.2e\n", bn_dtype_name(types[k]), e);
            CHECK(e <= 1e-4, "GGUF %s: engine logits differ from the trainer's: %.3g",
                  bn_dtype_name(types[k]), e);
        }
        unlink(path);
    }

    char hf[600];
    snprintf(hf, sizeof hf, "%s/hf", dir);
    CHECK_OK(bn_export_hf(net, bn_tokenizer_spec_of(tok), hf));
    if (engine_logits(hf, tokens, got)) {
        double e = bn_test_rel_l2(got, want, (int64_t)n);
        printf("HF folder: logits relative L2 %.2e\n", e);
        CHECK(e <= 1e-4, "HF export: engine logits differ from the trainer's: %.3g", e);
    }
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors",
                           "tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", hf, files[i]);
        CHECK(access(path, R_OK) == 0, "HF export lacks %s", files[i]);
        unlink(path);
    }
    rmdir(hf);
    rmdir(dir);

    /* A float-linear net has no GGUF form. */
    bn_net_config fc = cfg;
    fc.ternary = false;
    bn_net *fnet = NULL;
    CHECK_OK(bn_net_create(&fnet, &fc));
    bn_convert_options opt = {
        .type = BN_DTYPE_TQ2_0, .embed_type = BN_DTYPE_F32, .head_as_source = true};
    CHECK(fnet != NULL && bn_export_gguf(fnet, bn_tokenizer_spec_of(tok), "/tmp/never.gguf",
                                         &opt) == BN_ERR_UNSUPPORTED,
          "a float net exported as GGUF");
    bn_net_free(fnet);

    free(want);
    free(got);
    bn_tape_free(tape);
    bn_net_free(net);
    bn_tokenizer_free(tok);
    return bn_test_finish("test_train_export");
}
