/*
 * test_forward_guards.c - the forward pass never gives a silent wrong answer (issue 13):
 *   - GQA groups larger than the attention kernel's 8 heads per call: a 16:1 model equals the
 *     same model with its one KV head stored twice (8:1), bit for bit;
 *   - long contexts: decode splits a row's positions into chunks across threads, and gives the
 *     bits of a prompt that evaluates the same positions, whatever the thread count;
 *   - a call to bn_context_eval fully succeeds or changes nothing (a bad id anywhere, a
 *     non-finite value part-way);
 *   - non-finite values stop the pass with the place named (an embedding row, a layer);
 *   - GGUF keys that change the math are honoured or refused by name; eps, rope.freq_base and
 *     weight scales must be finite and positive; vocab_size must match the embeddings;
 *   - a padded vocabulary (embedding rows past the tokenizer's tokens) loads and runs;
 *   - the default context is bounded (4096) whatever the file declares, and a context that
 *     cannot fit in memory is refused with the sizes and the -c that would.
 * Models come from bn_synth_write_shape, then one edit each through the GGUF writer.
 */
#include "test.h"

#include "io/gguf.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *path_of(const char *name) {
    static char paths[8][160];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, 160, "%s/%s", dir, name);
    return p;
}

static bn_synth_shape tiny_shape(void) {
    const bn_synth_shape *t = NULL;
    bn_synth_shape_find("tiny", &t);
    bn_synth_shape s = *t;
    s.name = "guards";
    return s;
}

static bool make(const char *path, const bn_synth_shape *s) {
    bn_synth_options o = {.type = BN_DTYPE_TQ2_0, .embed_type = BN_DTYPE_F32, .seed = 7};
    bn_status st = bn_synth_write_shape(path, s, &o);
    CHECK(st == BN_OK, "synth %s: %s", path, bn_last_error());
    return st == BN_OK;
}

/* ---- copies with one edit --------------------------------------------------------------- */

typedef struct edit {
    const char *key; /* set (or add) this key: string, u32 or f32 per kind */
    char kind;       /* 's', 'u', 'f' */
    const char *str;
    double num;
    /* change a tensor's bytes (same size), or replace it with rows duplicated */
    const char *tensor;
    void (*patch)(uint8_t *data, size_t size);
    int repeat; /* > 1: `tensor` is written this many times over, as more rows */
} edit;

static bn_status set_key(bn_gguf_writer *w, const edit *e) {
    if (e->kind == 's')
        return bn_gguf_writer_set_str(w, e->key, e->str);
    if (e->kind == 'u')
        return bn_gguf_writer_set_u32(w, e->key, (uint32_t)e->num);
    return bn_gguf_writer_set_f32(w, e->key, (float)e->num);
}

static bool rewrite(const char *in, const char *out, const edit *e) {
    bn_gguf *g = NULL;
    bn_status st = bn_gguf_open(&g, in);
    bn_gguf_writer *w = NULL;
    if (st == BN_OK)
        st = bn_gguf_writer_create(&w, out, 0);
    for (uint64_t i = 0; st == BN_OK && i < g->n_kv; i++)
        if (e->key == NULL || strcmp(g->kv[i].key, e->key) != 0)
            st = bn_gguf_writer_set(w, g->kv[i].key, &g->kv[i].value);
    if (st == BN_OK && e->key != NULL)
        st = set_key(w, e);
    for (uint64_t i = 0; st == BN_OK && i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        uint64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        size_t size = t->size;
        if (e->tensor != NULL && e->repeat > 1 && strcmp(t->name, e->tensor) == 0) {
            ne[1] *= (uint64_t)e->repeat;
            size *= (size_t)e->repeat;
        }
        st = bn_gguf_writer_add_tensor(w, t->name, t->ggml_type, t->n_dims, ne, size);
    }
    if (st == BN_OK)
        st = bn_gguf_writer_begin_data(w);
    for (uint64_t i = 0; st == BN_OK && i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        bool mine = e->tensor != NULL && strcmp(t->name, e->tensor) == 0;
        if (mine && e->repeat > 1) {
            for (int k = 0; st == BN_OK && k < e->repeat; k++)
                st = bn_gguf_writer_write(w, t->data, t->size);
        } else if (mine && e->patch != NULL) {
            uint8_t *copy = malloc(t->size);
            memcpy(copy, t->data, t->size);
            e->patch(copy, t->size);
            st = bn_gguf_writer_write(w, copy, t->size);
            free(copy);
        } else {
            st = bn_gguf_writer_write(w, t->data, t->size);
        }
    }
    if (st == BN_OK) {
        st = bn_gguf_writer_finish(w);
    } else {
        bn_gguf_writer_abort(w);
    }
    bn_gguf_close(g);
    CHECK(st == BN_OK, "rewrite %s: %s", out, bn_last_error());
    return st == BN_OK;
}

/* ---- running a model -------------------------------------------------------------------- */

static bn_model *load(const char *path) {
    bn_model *m = NULL;
    bn_status st = bn_model_load(&m, path, NULL);
    CHECK(st == BN_OK, "load %s: %s", path, bn_last_error());
    return m;
}

static bn_context *context(const bn_model *m, int n_ctx, int threads) {
    bn_context *c = NULL;
    bn_context_params p = {.n_ctx = n_ctx, .n_threads = threads, .kv_type = BN_KV_F32};
    bn_status st = bn_context_create(&c, m, &p);
    CHECK(st == BN_OK, "context: %s", bn_last_error());
    return c;
}

static void prompt(int32_t *ids, int n, int vocab) {
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        ids[i] = (int32_t)((x >> 8) % (uint32_t)vocab);
    }
}

/* All logits of a prompt of n tokens evaluated in one call ([n, vocab]), or NULL. */
static float *all_logits(const char *path, int n, int threads) {
    bn_model *m = load(path);
    if (m == NULL)
        return NULL;
    bn_context *c = context(m, n, threads);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *out = malloc((size_t)n * m->cfg.n_vocab * sizeof(float));
    prompt(ids, n, bn_tokenizer_n_vocab(m->tok));
    bn_status st = c ? bn_context_eval(c, ids, n, out, true) : BN_ERR_INTERNAL;
    CHECK(st == BN_OK, "eval %s: %s", path, bn_last_error());
    free(ids);
    bn_context_free(c);
    bn_model_free(m);
    if (st != BN_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static bool same(const float *a, const float *b, size_t n) {
    return a != NULL && b != NULL && memcmp(a, b, n * sizeof(float)) == 0;
}

/* ---- GQA groups over 8 ------------------------------------------------------------------ */

static void test_large_groups(void) {
    bn_synth_shape s = tiny_shape();
    s.n_heads = 16; /* head size 16, one KV head: a group of 16 */
    s.n_kv_heads = 1;
    if (!make(path_of("g16.gguf"), &s))
        return;
    /* the same model with its KV head stored twice: two groups of 8 */
    edit kv2 = {.key = "bitnet.attention.head_count_kv", .kind = 'u', .num = 2};
    edit dup_k = {.tensor = "blk.0.attn_k.weight", .repeat = 2};
    bool ok = rewrite(path_of("g16.gguf"), path_of("a.gguf"), &kv2);
    for (int l = 0; ok && l < s.n_layers; l++) {
        char k[64], v[64];
        snprintf(k, sizeof k, "blk.%d.attn_k.weight", l);
        snprintf(v, sizeof v, "blk.%d.attn_v.weight", l);
        dup_k.tensor = k;
        ok = rewrite(path_of("a.gguf"), path_of("b.gguf"), &dup_k);
        dup_k.tensor = v;
        ok = ok && rewrite(path_of("b.gguf"), path_of("a.gguf"), &dup_k);
    }
    if (!ok)
        return;
    enum { N = 40 };
    float *g16 = all_logits(path_of("g16.gguf"), N, 2), *g8 = all_logits(path_of("a.gguf"), N, 2);
    CHECK(same(g16, g8, (size_t)N * s.n_vocab),
          "a 16:1 group gives the bits of the same heads in two groups of 8");
    free(g16);
    free(g8);
}

/* ---- long contexts: decode split over positions ---------------------------------------- */

/* The last logits after n tokens, the last one evaluated alone (a decode step) with threads. */
static float *decoded(const char *path, int n, int threads) {
    bn_model *m = load(path);
    if (m == NULL)
        return NULL;
    bn_context *c = context(m, n, threads);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *out = malloc((size_t)m->cfg.n_vocab * sizeof(float));
    prompt(ids, n, bn_tokenizer_n_vocab(m->tok));
    bn_status st = c ? bn_context_eval(c, ids, n - 1, NULL, false) : BN_ERR_INTERNAL;
    if (st == BN_OK)
        st = bn_context_eval(c, ids + n - 1, 1, out, false);
    CHECK(st == BN_OK, "decode: %s", bn_last_error());
    free(ids);
    bn_context_free(c);
    bn_model_free(m);
    return out;
}

static void test_long_decode(void) {
    bn_synth_shape s = tiny_shape();
    if (!make(path_of("long.gguf"), &s))
        return;
    enum { N = 300 }; /* two chunks of positions */
    float *prefill = all_logits(path_of("long.gguf"), N, 2);
    float *one = decoded(path_of("long.gguf"), N, 1), *two = decoded(path_of("long.gguf"), N, 2);
    float *three = decoded(path_of("long.gguf"), N, 3);
    size_t v = (size_t)s.n_vocab;
    CHECK(prefill && same(prefill + (N - 1) * v, one, v), "decode = prompt at position %d", N - 1);
    CHECK(same(one, two, v) && same(one, three, v), "decode: same bits on 1, 2 and 3 threads");
    free(prefill);
    free(one);
    free(two);
    free(three);
}

/* ---- atomic evaluation, non-finite values ---------------------------------------------- */

static void nan_row_5(uint8_t *data, size_t size) { /* f32 embeddings: row 5 */
    (void)size;
    float nan = NAN;
    memcpy(data + 5 * 256 * sizeof(float) + 8, &nan, sizeof nan);
}

static void nan_first(uint8_t *data, size_t size) { /* a norm: its third value */
    (void)size;
    float nan = NAN;
    memcpy(data + 8, &nan, sizeof nan);
}

static void nan_row_300(uint8_t *data, size_t size) { /* f32 embeddings (the tied head) */
    (void)size;
    float nan = NAN;
    memcpy(data + 300 * 256 * sizeof(float) + 12, &nan, sizeof nan);
}

static void huge_scale(uint8_t *data, size_t size) { /* a .scale tensor: one float */
    (void)size;
    float f = 3e38f;
    memcpy(data, &f, sizeof f);
}

static void test_atomic_and_nonfinite(void) {
    bn_synth_shape s = tiny_shape();
    if (!make(path_of("base.gguf"), &s))
        return;
    bn_model *m = load(path_of("base.gguf"));
    bn_context *c = m ? context(m, 64, 2) : NULL;
    if (c == NULL) {
        bn_model_free(m);
        return;
    }
    int32_t good[4] = {1, 2, 3, 4}, bad[4] = {1, 2, 3, 99999};
    float *want = malloc((size_t)s.n_vocab * sizeof(float));
    float *got = malloc((size_t)s.n_vocab * sizeof(float));
    CHECK(bn_context_eval(c, bad, 4, got, false) == BN_ERR_RANGE &&
              strstr(bn_last_error(), "99999") && strstr(bn_last_error(), "index 3"),
          "a bad id is refused naming it: %s", bn_last_error());
    CHECK(bn_context_n_past(c) == 0, "a refused call changes nothing (n_past %d)",
          bn_context_n_past(c));
    CHECK_OK(bn_context_eval(c, good, 4, got, false));
    bn_context *fresh = context(m, 64, 2);
    CHECK_OK(bn_context_eval(fresh, good, 4, want, false));
    CHECK(same(got, want, (size_t)s.n_vocab), "after a refused call, the same logits");
    bn_context_free(fresh);
    bn_context_free(c);
    bn_model_free(m);

    /* A NaN in embedding row 5, met at index 66 of a 70-token call: the first batch of 64
     * went through the layers before the second failed, and still nothing advanced. */
    edit nan = {.tensor = "token_embd.weight", .patch = nan_row_5};
    if (rewrite(path_of("base.gguf"), path_of("nan.gguf"), &nan) &&
        (m = load(path_of("nan.gguf"))) != NULL) {
        c = context(m, 128, 2);
        int32_t ids[70];
        for (int i = 0; i < 70; i++)
            ids[i] = i == 66 ? 5 : 1 + i % 4;
        CHECK(bn_context_eval(c, ids, 70, got, false) == BN_ERR_RANGE &&
                  strstr(bn_last_error(), "token 5 at position 66") &&
                  strstr(bn_last_error(), "token_embd"),
              "NaN embedding: %s", bn_last_error());
        CHECK(bn_context_n_past(c) == 0, "a call failing in its second batch advanced %d",
              bn_context_n_past(c));
        /* (row 5 is the tied head's too, so logits would be refused: none are asked for) */
        CHECK_OK(bn_context_eval(c, good, 4, NULL, false));
        CHECK(bn_context_n_past(c) == 4, "then a good call goes on from 0: n_past %d",
              bn_context_n_past(c));
        bn_context_free(c);
        bn_model_free(m);
    }
    /* A NaN in the row of a token that is only an output: the embeddings of the input are
     * finite, the logits are not, and the row of the (tied) head is named. */
    edit head_nan = {.tensor = "token_embd.weight", .patch = nan_row_300};
    if (rewrite(path_of("base.gguf"), path_of("headnan.gguf"), &head_nan) &&
        (m = load(path_of("headnan.gguf"))) != NULL) {
        c = context(m, 64, 2);
        CHECK(bn_context_eval(c, good, 4, got, false) == BN_ERR_RANGE &&
                  strstr(bn_last_error(), "row 300") && strstr(bn_last_error(), "token_embd"),
              "NaN head row: %s", bn_last_error());
        CHECK(bn_context_n_past(c) == 0, "nothing advanced");
        CHECK_OK(bn_context_eval(c, good, 4, NULL, false)); /* no head, no logits: fine */
        bn_context_free(c);
        bn_model_free(m);
    }
    /* an overflowing weight scale in layer 0 (the message used to lose the number 0) */
    edit inf0 = {.tensor = "blk.0.ffn_down.scale", .patch = huge_scale};
    if (rewrite(path_of("base.gguf"), path_of("inf0.gguf"), &inf0) &&
        (m = load(path_of("inf0.gguf"))) != NULL) {
        c = context(m, 64, 2);
        CHECK(bn_context_eval(c, good, 2, got, false) == BN_ERR_RANGE &&
                  strstr(bn_last_error(), "of layer 0 at position 0"),
              "overflow in layer 0: %s", bn_last_error());
        bn_context_free(c);
        bn_model_free(m);
    }
    /* an overflowing weight scale: Inf in layer 1's feed-forward, named */
    edit inf = {.tensor = "blk.1.ffn_down.scale", .patch = huge_scale};
    if (rewrite(path_of("base.gguf"), path_of("inf.gguf"), &inf) &&
        (m = load(path_of("inf.gguf"))) != NULL) {
        c = context(m, 64, 2);
        bn_status st = bn_context_eval(c, good, 2, got, false);
        CHECK(st == BN_ERR_RANGE && strstr(bn_last_error(), "non-finite") &&
                  strstr(bn_last_error(), "layer 1"),
              "overflow in layer 1: %s", bn_last_error());
        CHECK(bn_context_n_past(c) == 0, "the failed call left n_past at %d", bn_context_n_past(c));
        bn_context_free(c);
        bn_model_free(m);
    }
    free(want);
    free(got);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void refused(const char *what, const edit *e, const char *says) {
    if (!rewrite(path_of("base.gguf"), path_of("k.gguf"), e))
        return;
    bn_model *m = NULL;
    bn_status st = bn_model_load(&m, path_of("k.gguf"), NULL);
    CHECK(st != BN_OK && m == NULL && strstr(bn_last_error(), says) != NULL,
          "%s: want a refusal saying '%s', got %s: %s", what, says, bn_status_str(st),
          bn_last_error());
    bn_model_free(m);
}

/* The last logits of the edited copy, compared with the base model's. */
static void loads(const char *what, const edit *e, bool want_same) {
    if (!rewrite(path_of("base.gguf"), path_of("k.gguf"), e))
        return;
    enum { N = 12 };
    float *a = all_logits(path_of("base.gguf"), N, 2), *b = all_logits(path_of("k.gguf"), N, 2);
    size_t n = (size_t)N * 512;
    CHECK(a && b && same(a, b, n) == want_same, "%s: logits %s", what,
          want_same ? "differ (want the same)" : "the same (the key was ignored)");
    free(a);
    free(b);
}

static void test_keys(void) {
    /* honoured: RoPE on part of each head (head size 64), linear RoPE scaling */
    loads("rope.dimension_count = head size",
          &(edit){"bitnet.rope.dimension_count", 'u', .num = 64}, true);
    loads("rope.dimension_count = 32", &(edit){"bitnet.rope.dimension_count", 'u', .num = 32},
          false);
    loads("rope.scaling linear 1", &(edit){"bitnet.rope.scaling.type", 's', .str = "linear"}, true);
    loads("rope.scale_linear 2 (the old key)", &(edit){"bitnet.rope.scale_linear", 'f', .num = 2.0},
          false);
    /* llama.cpp's reading: the type defaults to linear, a factor of 0 is no scaling, and type
     * none ignores a factor */
    loads("rope.scaling.factor 2 without a type",
          &(edit){"bitnet.rope.scaling.factor", 'f', .num = 2.0}, false);
    loads("rope.scaling.factor 0", &(edit){"bitnet.rope.scaling.factor", 'f', .num = 0.0}, true);
    loads("rope.scaling.type none", &(edit){"bitnet.rope.scaling.type", 's', .str = "none"}, true);
    loads("attention.key_length = head size",
          &(edit){"bitnet.attention.key_length", 'u', .num = 64}, true);
    /* refused by name */
    refused("odd rope.dimension_count", &(edit){"bitnet.rope.dimension_count", 'u', .num = 33},
            "rope.dimension_count");
    refused("rope.dimension_count > head", &(edit){"bitnet.rope.dimension_count", 'u', .num = 128},
            "rope.dimension_count");
    refused("yarn", &(edit){"bitnet.rope.scaling.type", 's', .str = "yarn"}, "rope.scaling.type");
    refused("key_length", &(edit){"bitnet.attention.key_length", 'u', .num = 32}, "key_length");
    refused("value_length", &(edit){"bitnet.attention.value_length", 'u', .num = 128},
            "value_length");
    refused("expert_count", &(edit){"bitnet.expert_count", 'u', .num = 8}, "expert_count");
    refused("logit_scale", &(edit){"bitnet.logit_scale", 'f', .num = 2.0}, "logit_scale");
    refused("negative rope factor", &(edit){"bitnet.rope.scaling.factor", 'f', .num = -2.0},
            "rope.scaling.factor");
    refused("eps 0", &(edit){"bitnet.attention.layer_norm_rms_epsilon", 'f', .num = 0.0},
            "finite and > 0");
    refused("eps NaN", &(edit){"bitnet.attention.layer_norm_rms_epsilon", 'f', .num = NAN},
            "finite and > 0");
    refused("freq_base Inf", &(edit){"bitnet.rope.freq_base", 'f', .num = INFINITY},
            "finite and > 0");
    refused("vocab_size", &(edit){"bitnet.vocab_size", 'u', .num = 100}, "vocab_size");
}

static void inf_scale(uint8_t *data, size_t size) {
    (void)size;
    float f = INFINITY;
    memcpy(data, &f, sizeof f);
}

static void test_scales(void) {
    refused("an Inf weight scale", &(edit){.tensor = "blk.0.attn_q.scale", .patch = inf_scale},
            "blk.0.attn_q.scale");
    refused("a NaN norm", &(edit){.tensor = "blk.1.ffn_norm.weight", .patch = nan_first},
            "non-finite");
}

/* ---- vocabulary padding, context size --------------------------------------------------- */

static void test_padding_and_context(void) {
    bn_synth_shape s = tiny_shape();
    s.n_pad = 64;
    s.ctx_max = 20000000; /* a file may declare any length */
    if (!make(path_of("pad.gguf"), &s))
        return;
    bn_model *m = load(path_of("pad.gguf"));
    if (m == NULL)
        return;
    CHECK(m->cfg.n_vocab == 576 && bn_tokenizer_n_vocab(m->tok) == 512,
          "a padded table loads: %d rows, %d tokens", m->cfg.n_vocab, bn_tokenizer_n_vocab(m->tok));
    bn_context *c = NULL;
    bn_context_params p = bn_context_default_params();
    CHECK_OK(bn_context_create(&c, m, &p));
    CHECK(c && bn_context_n_ctx(c) == BN_DEFAULT_CTX, "default context %d, want %d",
          c ? bn_context_n_ctx(c) : -1, BN_DEFAULT_CTX);
    int32_t ids[2] = {3, 575}; /* a padding row is a valid input id */
    float *out = malloc(576 * sizeof(float));
    if (c != NULL)
        CHECK_OK(bn_context_eval(c, ids, 2, out, false));
    bn_context_free(c);
    free(out);
    /* 2^30 positions: terabytes of cache, refused up front with the -c that would fit */
    m->cfg.ctx_max = 1 << 30;
    p.n_ctx = 1 << 30;
    c = NULL;
    bn_status st = bn_context_create(&c, m, &p);
    CHECK(st == BN_ERR_OUT_OF_MEMORY && c == NULL && strstr(bn_last_error(), "GiB") &&
              strstr(bn_last_error(), "(-c)"),
          "a context too big for memory: %s: %s", bn_status_str(st), bn_last_error());
    bn_model_free(m);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/bn_guards_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return bn_test_skip("test_forward_guards", "no temporary folder");
    test_large_groups();
    test_long_decode();
    test_atomic_and_nonfinite(); /* writes base.gguf, which the key tests edit */
    test_keys();
    test_scales();
    test_padding_and_context();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return bn_test_finish("test_forward_guards");
}
