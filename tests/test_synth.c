/*
 * test_synth.c - synthetic models (model/synth.h): the tiny shape in every ternary type loads
 * with bn_model_load with the shape's numbers, its tokenizer round-trips text, a forward pass
 * gives finite, spread-out logits that are the same bit for bit in every type; files are
 * byte-identical for one seed and differ for two; the linear layers hold about a third zeros.
 * The tokenizers of the real shapes (128256 and 32002 tokens) are built and checked without
 * writing their multi-gigabyte weights.
 */
#include "test.h"
#include "tools/json_spec.h"

#include "base/timer.h"
#include "model/forward.h"
#include "model/synth.h"
#include "text/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const bn_dtype types[] = {BN_DTYPE_TQ2_0, BN_DTYPE_TQ1_0, BN_DTYPE_I2_S};
#define N_TYPES 3

static void temp_path(char *buf, size_t size, const char *what) {
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/bn_test_synth_%d_%s.gguf", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
             what);
}

static void check_shapes(void) {
    const bn_synth_shape *s = NULL;
    CHECK(bn_synth_shape_find("bitnet-9z", &s) == BN_ERR_INVALID_ARG, "unknown shape refused");
    CHECK(strstr(bn_last_error(), "bitnet-2b4t, bitnet-700m, bitnet-3b, bitnet-xl, llama3-8b-1.58, "
                                  "falcon3-1b-1.58, tiny") != NULL,
          "the message names the shapes: %s", bn_last_error());
    /* The shapes of checkpoints whose rows are no whole number of blocks, and the head sizes
     * that are no multiple of 8 (3B: 100). */
    CHECK_OK(bn_synth_shape_find("bitnet-3b", &s));
    CHECK(s != NULL && s->dim == 3200 && s->ffn_dim == 8640 && s->n_layers == 26 &&
              s->n_heads == 32 && s->n_kv_heads == 32 && s->n_vocab == 32002 &&
              s->act == BN_ACT_SILU && s->sub_norms && !s->tied,
          "bitnet-3b");
    CHECK_OK(bn_synth_shape_find("bitnet-xl", &s));
    CHECK(s != NULL && s->dim == 2048 && s->ffn_dim == 5460 && s->n_layers == 24, "bitnet-xl");
    CHECK_OK(bn_synth_shape_find("llama3-8b-1.58", &s));
    CHECK(s != NULL && s->dim == 4096 && s->ffn_dim == 14336 && s->n_heads == 32 &&
              s->n_kv_heads == 8 && s->n_vocab == 128256 && !s->sub_norms && !s->tied,
          "llama3-8b-1.58");
    CHECK_OK(bn_synth_shape_find("falcon3-1b-1.58", &s));
    CHECK(s != NULL && s->dim / s->n_heads == 256 && s->n_kv_heads == 4 && s->n_vocab == 131072,
          "falcon3-1b-1.58");
    CHECK_OK(bn_synth_shape_find("bitnet-2b4t", &s));
    CHECK(s->n_vocab == 128256 && s->dim == 2560 && s->n_layers == 30 && s->n_heads == 20 &&
              s->n_kv_heads == 5 && s->ffn_dim == 6912 && s->ctx_max == 4096 && s->tied &&
              s->act == BN_ACT_RELU2 && s->rope_theta == 500000.0f,
          "2B-4T shape");
    CHECK_OK(bn_synth_shape_find("bitnet-700m", &s));
    CHECK(s->n_vocab == 32002 && s->dim == 1536 && s->n_layers == 24 && s->n_heads == 16 &&
              s->n_kv_heads == 16 && s->ffn_dim == 4096 && s->ctx_max == 2048 && !s->tied &&
              s->act == BN_ACT_SILU && s->rope_theta == 10000.0f,
          "700M shape");
    char path[512];
    temp_path(path, sizeof path, "bad");
    CHECK(bn_synth_write(path, "tiny", BN_DTYPE_F16, 1) == BN_ERR_INVALID_ARG, "f16 refused");
    CHECK(strstr(bn_last_error(), "tq1_0, tq2_0, i2_s") != NULL, "names the types: %s",
          bn_last_error());
    CHECK(access(path, F_OK) != 0, "nothing written on error");
}

/* encode -> decode gives the text back, and merges make it shorter than its bytes. */
static void check_round_trip(const bn_tokenizer *t, const char *text, const char *what) {
    bn_tokens ids = {0};
    bn_bytes back = {0};
    CHECK_OK(bn_tokenizer_encode(t, text, strlen(text), BN_TOK_ADD_SPECIAL, &ids));
    const bn_tokenizer_spec *s = bn_tokenizer_spec_of(t);
    CHECK(ids.n > 0 && ids.ids[0] == s->bos_id, "%s: BOS first", what);
    CHECK_OK(bn_tokenizer_decode(t, ids.ids, ids.n, true, &back));
    CHECK(back.n == strlen(text) && memcmp(back.data, text, back.n) == 0,
          "%s: round trip gave '%.*s'", what, (int)back.n, back.data ? back.data : "");
    bn_tokens_free(&ids);
    bn_bytes_free(&back);
}

static void check_tokenizer(const bn_tokenizer *t, int n_vocab, int n_special, const char *what) {
    const bn_tokenizer_spec *s = bn_tokenizer_spec_of(t);
    int first = n_vocab - n_special;
    CHECK(bn_tokenizer_n_vocab(t) == n_vocab, "%s: %d tokens", what, bn_tokenizer_n_vocab(t));
    CHECK(s->bos_id == first && strcmp(s->tokens[first], "<|begin_of_text|>") == 0, "%s: BOS",
          what);
    CHECK(s->eos_id == first + 1 && strcmp(s->tokens[first + 1], "<|end_of_text|>") == 0, "%s: EOS",
          what);
    CHECK(s->eot_id == first + 9 && strcmp(s->tokens[first + 9], "<|eot_id|>") == 0, "%s: EOT",
          what);
    CHECK(strcmp(s->tokens[first + 6], "<|start_header_id|>") == 0 &&
              strcmp(s->tokens[n_vocab - 1], n_special == 256
                                                 ? "<|reserved_special_token_250|>"
                                                 : "<|reserved_special_token_10|>") == 0,
          "%s: LLaMA-3's special layout (last is %s)", what, s->tokens[n_vocab - 1]);
    CHECK(bn_tokenizer_is_eog(t, first + 1) && bn_tokenizer_is_eog(t, first + 9), "%s: eog", what);
    CHECK(strcmp(s->pre, "llama-bpe") == 0 && s->n_merges >= first - 256, "%s: %d merges", what,
          s->n_merges);
    CHECK(bn_chat_detect(s->chat_template) == BN_CHAT_BITNET, "%s: chat template", what);
    check_round_trip(t, "The river does not hurry, yet it reaches the sea.", what);
    check_round_trip(t, "Numbers: 1874, 3.14159 and 2,500,000!\n\n\tIndented; it's fine.", what);
    check_round_trip(t,
                     "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac "
                     "\xf0\x9f\x99\x82 zzzqxj",
                     what);
    bn_tokens ids = {0};
    const char *chat = "<|start_header_id|>user<|end_header_id|>hi<|eot_id|>";
    CHECK_OK(bn_tokenizer_encode(t, chat, strlen(chat), BN_TOK_PARSE_SPECIAL, &ids));
    CHECK(ids.n >= 3 && ids.ids[0] == first + 6 && ids.ids[ids.n - 1] == first + 9,
          "%s: special tokens parsed whole", what);
    ids.n = 0;
    const char *words = " the river";
    CHECK_OK(bn_tokenizer_encode(t, words, strlen(words), 0, &ids));
    CHECK(ids.n == 2, "%s: ' the river' is %zu tokens, want 2 (learned merges)", what, ids.n);
    bn_tokens_free(&ids);
}

/* The real shapes' vocabularies: exact sizes, fast to build. */
static void check_big_tokenizers(void) {
    static const int sizes[][2] = {{128256, 256}, {32002, 16}};
    for (int i = 0; i < 2; i++) {
        bn_tokenizer *t = NULL;
        double t0 = bn_time_s();
        CHECK_OK(bn_synth_tokenizer(&t, sizes[i][0], sizes[i][1]));
        double dt = bn_time_s() - t0;
        printf("synthetic tokenizer of %d tokens: %.3f s\n", sizes[i][0], dt);
        if (t == NULL)
            continue;
        char what[32];
        snprintf(what, sizeof what, "vocab %d", sizes[i][0]);
        check_tokenizer(t, sizes[i][0], sizes[i][1], what);
        bn_tokenizer_free(t);
    }
    bn_tokenizer *t = NULL;
    CHECK(bn_synth_tokenizer(&t, 300, 9) == BN_ERR_INVALID_ARG, "fewer than 10 specials refused");
    CHECK(bn_synth_tokenizer(&t, 260, 10) == BN_ERR_INVALID_ARG, "fewer than 256 others refused");
}

static double spread(const float *x, int n, bool *finite) {
    double sum = 0, sq = 0;
    *finite = true;
    for (int i = 0; i < n; i++) {
        *finite &= isfinite(x[i]) != 0;
        sum += x[i];
        sq += (double)x[i] * x[i];
    }
    double mean = sum / n;
    return sqrt(sq / n - mean * mean);
}

/* Loads, checks the configuration and tokenizer, and leaves the last position's logits. */
static void check_model(const char *path, bn_dtype type, float *logits) {
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, path, NULL));
    if (m == NULL)
        return;
    const bn_model_config *c = &m->cfg;
    const char *tn = bn_dtype_name(type);
    CHECK(c->n_vocab == 512 && c->dim == 256 && c->n_layers == 2 && c->n_heads == 4 &&
              c->n_kv_heads == 2 && c->head_dim == 64 && c->ffn_dim == 512 && c->ctx_max == 512,
          "%s: config", tn);
    CHECK(c->eps == 1e-5f && c->rope_theta == 500000.0f && c->act == BN_ACT_RELU2,
          "%s: eps, theta, activation", tn);
    CHECK(strcmp(m->name, "random-tiny") == 0, "%s: name '%s'", tn, m->name);
    CHECK(m->head == m->embed && m->embed_type == BN_DTYPE_F16, "%s: tied f16 embeddings", tn);
    CHECK(m->layers[1].attn_sub_norm != NULL && m->layers[1].ffn_sub_norm != NULL, "%s: sub-norms",
          tn);
    CHECK(strcmp(m->gguf->architecture, type == BN_DTYPE_I2_S ? "bitnet-b1.58" : "bitnet") == 0,
          "%s: architecture %s", tn, m->gguf->architecture);
    check_tokenizer(m->tok, 512, 16, tn);

    const char *prompt = "The market moved to the square beside the old stone bridge.";
    bn_tokens ids = {0};
    CHECK_OK(bn_tokenizer_encode(m->tok, prompt, strlen(prompt), BN_TOK_ADD_SPECIAL, &ids));
    bn_context *ctx = NULL;
    bn_context_params cp = bn_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    CHECK_OK(bn_context_create(&ctx, m, &cp));
    if (ctx != NULL && ids.n > 0) {
        CHECK_OK(bn_context_eval(ctx, ids.ids, (int)ids.n, logits, false));
        bool finite;
        double sd = spread(logits, c->n_vocab, &finite);
        printf("%s: %zu prompt tokens, logits sd %.3f\n", tn, ids.n, sd);
        CHECK(finite, "%s: finite logits", tn);
        CHECK(sd > 0.05 && sd < 100, "%s: logits spread (sd %g)", tn, sd);
    }
    bn_context_free(ctx);
    bn_tokens_free(&ids);

    /* The ternary values: a third zeros; a scale in [0.5, 2). */
    const bn_gguf_tensor *w = bn_gguf_find_tensor(m->gguf, "blk.0.ffn_up.weight");
    CHECK(w != NULL && w->dtype == type, "%s: ffn_up type", tn);
    if (w != NULL) {
        int8_t *t = malloc(512 * 256);
        float scale = 0;
        CHECK_OK(bn_dtype_get(w->dtype)->unpack_ternary(w->data, w->size, 512, 256, t, &scale));
        const bn_gguf_tensor *st = bn_gguf_find_tensor(m->gguf, "blk.0.ffn_up.scale");
        if (st != NULL)
            scale *= *(const float *)st->data;
        int zeros = 0;
        for (int i = 0; i < 512 * 256; i++)
            zeros += t[i] == 0;
        CHECK(zeros > 0.30 * 512 * 256 && zeros < 0.37 * 512 * 256, "%s: %d zeros", tn, zeros);
        CHECK(scale >= 0.5f && scale < 2.0f, "%s: scale %g", tn, (double)scale);
        free(t);
    }
    bn_model_free(m);
}

static void check_types(void) {
    float *logits[N_TYPES];
    char path[512];
    for (int i = 0; i < N_TYPES; i++) {
        logits[i] = calloc(512, sizeof(float));
        temp_path(path, sizeof path, bn_dtype_name(types[i]));
        double t0 = bn_time_s();
        CHECK_OK(bn_synth_write(path, "tiny", types[i], 7));
        printf("synth tiny %s: %.3f s\n", bn_dtype_name(types[i]), bn_time_s() - t0);
        check_model(path, types[i], logits[i]);
        unlink(path);
    }
    for (int i = 1; i < N_TYPES; i++)
        CHECK(memcmp(logits[0], logits[i], 512 * sizeof(float)) == 0,
              "%s and %s give the same logits", bn_dtype_name(types[0]), bn_dtype_name(types[i]));
    for (int i = 0; i < N_TYPES; i++)
        free(logits[i]);
}

static void check_seeds(void) {
    char a[512], b[512], c[512];
    temp_path(a, sizeof a, "seed_a");
    temp_path(b, sizeof b, "seed_b");
    temp_path(c, sizeof c, "seed_c");
    CHECK_OK(bn_synth_write(a, "tiny", BN_DTYPE_TQ2_0, 42));
    CHECK_OK(bn_synth_write(b, "tiny", BN_DTYPE_TQ2_0, 42));
    CHECK_OK(bn_synth_write(c, "tiny", BN_DTYPE_TQ2_0, 43));
    size_t na = 0, nb = 0, nc = 0;
    char *da = spec_read_file(a, &na), *db = spec_read_file(b, &nb), *dc = spec_read_file(c, &nc);
    CHECK(da && db && dc, "files read back");
    if (da && db && dc) {
        CHECK(na == nb && memcmp(da, db, na) == 0, "the same seed gives the same bytes");
        CHECK(na == nc, "another seed gives the same size (%zu, %zu)", na, nc);
        CHECK(na == nc && memcmp(da, dc, na) != 0, "another seed gives other bytes");
    }
    free(da);
    free(db);
    free(dc);
    unlink(a);
    unlink(b);
    unlink(c);
}

int main(void) {
    check_shapes();
    check_big_tokenizers();
    check_types();
    check_seeds();
    return bn_test_finish("test_synth");
}
