/*
 * test_model_load.c - bn_model_load refuses a damaged model file with an error that names what
 * is wrong: a tensor with the wrong shape, a missing one, one the model does not use, a linear
 * layer in an integer type, a block_count that does not match the tensors, another architecture,
 * a truncated file, an I2_S layer damaged by bitnet.cpp's multithreaded quantizer (refused when
 * certain, loaded with a warning when not). Each case is a copy of a synthetic tiny model
 * (bn_synth_write) with one edit, written through the GGUF writer or patched in place. And a
 * linear layer stored as f16 ternary values loads to the same logits as the packed original.
 */
#include "test.h"

#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "tensor/half.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One edit of the copy: the tensor `name` gets a new type and shape (type < 0: unchanged;
 * n_dims 0: removed), or the key `key` a new u32 / string value. A new shape with a new byte
 * count gets zeros for data. */
typedef struct edit {
    const char *name;
    int type, n_dims;
    uint64_t ne[2];
    const char *key;
    uint32_t u32;
    const char *str;
    bool as_f16; /* the tensor's values re-stored as f16 (the type must be F16) */
} edit;

static bn_status copy_kv(bn_gguf_writer *w, const bn_gguf_kv *kv, const edit *e) {
    if (e->key != NULL && strcmp(kv->key, e->key) == 0)
        return e->str != NULL ? bn_gguf_writer_set_str(w, kv->key, e->str)
                              : bn_gguf_writer_set_u32(w, kv->key, e->u32);
    return bn_gguf_writer_set(w, kv->key, &kv->value);
}

static size_t tensor_bytes(int type, int n_dims, const uint64_t *ne) {
    bn_dtype d;
    if (bn_dtype_from_gguf(type, &d) != BN_OK)
        return 0;
    const bn_dtype_traits *t = bn_dtype_get(d);
    uint64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= ne[i];
    return (size_t)(n / (uint64_t)t->block_size * t->block_bytes);
}

static bn_status write_copy(const bn_gguf *g, const char *out, const edit *e) {
    bn_gguf_writer *w = NULL;
    BN_TRY(bn_gguf_writer_create(&w, out, 0));
    bn_status st = BN_OK;
    for (uint64_t i = 0; st == BN_OK && i < g->n_kv; i++)
        st = copy_kv(w, &g->kv[i], e);
    size_t *sizes = calloc(g->n_tensors, sizeof *sizes);
    for (uint64_t i = 0; st == BN_OK && i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        int type = (int)t->ggml_type, n_dims = t->n_dims;
        uint64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (e->name != NULL && strcmp(t->name, e->name) == 0) {
            if (e->n_dims == 0)
                continue;
            type = e->type >= 0 ? e->type : type;
            n_dims = e->n_dims;
            memcpy(ne, e->ne, sizeof e->ne);
        }
        sizes[i] = tensor_bytes(type, n_dims, ne);
        st = bn_gguf_writer_add_tensor(w, t->name, (uint32_t)type, n_dims, ne, sizes[i]);
    }
    if (st == BN_OK)
        st = bn_gguf_writer_begin_data(w);
    for (uint64_t i = 0; st == BN_OK && i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        if (e->name != NULL && strcmp(t->name, e->name) == 0 && e->n_dims == 0)
            continue;
        bool edited = e->name != NULL && strcmp(t->name, e->name) == 0;
        void *other = sizes[i] == t->size && !edited ? NULL : calloc(1, sizes[i] + 1);
        if (other != NULL && edited && e->as_f16) {
            uint64_t n = sizes[i] / 2;
            float *f = malloc(n * sizeof(float));
            bn_dtype_get(t->dtype)->to_f32(t->data, f, (int64_t)n);
            bn_f32_to_f16_row(f, other, n);
            free(f);
        }
        st = bn_gguf_writer_write(w, other ? other : t->data, sizes[i]);
        free(other);
    }
    free(sizes);
    if (st != BN_OK) {
        bn_gguf_writer_abort(w);
        return st;
    }
    return bn_gguf_writer_finish(w);
}

static void last_logits(const char *path, float *out) {
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, path, NULL));
    bn_context *c = NULL;
    bn_context_params p = {.n_ctx = 16, .n_threads = 1, .kv_type = BN_KV_F32};
    if (m != NULL)
        CHECK_OK(bn_context_create(&c, m, &p));
    int32_t ids[] = {1, 17, 42, 99, 3};
    if (c != NULL)
        CHECK_OK(bn_context_eval(c, ids, 5, out, false));
    bn_context_free(c);
    bn_model_free(m);
}

/* A linear layer stored as f16 holding its ternary values times their scale (what llama.cpp's
 * converter writes) loads to the very same model: the same logits, bit for bit. */
static void accepted_f16(const bn_gguf *g, const char *good, const edit *e, int vocab) {
    char path[] = "/tmp/bitnet-test-model-f16-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_OK(write_copy(g, path, e));
    float *want = calloc((size_t)vocab, sizeof(float)), *got = calloc((size_t)vocab, sizeof(float));
    last_logits(good, want);
    last_logits(path, got);
    CHECK(memcmp(want, got, (size_t)vocab * sizeof(float)) == 0,
          "f16 ternary layer: logits differ from the tq2_0 file's");
    free(want);
    free(got);
    unlink(path);
}

/* Load a copy with one edit: want status `code` and a message containing `says`. */
static void refused(const bn_gguf *g, const char *what, const edit *e, bn_status code,
                    const char *says) {
    char path[] = "/tmp/bitnet-test-model-load-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_OK(write_copy(g, path, e));
    bn_model *m = NULL;
    bn_status st = bn_model_load(&m, path, NULL);
    CHECK(st == code && m == NULL, "%s: status %s, want %s", what, bn_status_str(st),
          bn_status_str(code));
    CHECK(strstr(bn_last_error(), says) != NULL, "%s: message '%s' does not say '%s'", what,
          bn_last_error(), says);
    printf("%-28s -> %s\n", what, bn_last_error());
    bn_model_free(m);
    unlink(path);
}

/* A tiny I2_S model whose blk.1.ffn_up.weight gets `scale` both in its tail and over the first
 * 4 bytes of row 64 (ORed into the codes or copied); loading gives `code`, and stderr `warns`
 * when set. */
static void i2s_patched(const char *what, float scale, bool or_into, bn_status code,
                        const char *says, const char *warns) {
    char path[] = "/tmp/bitnet-test-model-i2s-XXXXXX", log[] = "/tmp/bitnet-test-log-XXXXXX";
    close(mkstemp(path));
    int log_fd = mkstemp(log);
    CHECK_OK(bn_synth_write(path, "tiny", BN_DTYPE_I2_S, 7));
    bn_gguf *g = NULL;
    CHECK_OK(bn_gguf_open(&g, path));
    const bn_gguf_tensor *up = g ? bn_gguf_find_tensor(g, "blk.1.ffn_up.weight") : NULL;
    CHECK(up != NULL && up->ne[0] == 256 && up->ne[1] > 64, "tiny ffn_up is [256, > 64]");
    if (up != NULL) {
        size_t at = g->data_offset + up->offset, n4 = up->ne[0] * up->ne[1] / 4;
        uint8_t row[4];
        memcpy(row, up->data + 64 * 64, 4);
        for (int b = 0; b < 4; b++)
            row[b] = (uint8_t)((or_into ? row[b] : 0) | ((const uint8_t *)&scale)[b]);
        FILE *f = fopen(path, "r+b");
        CHECK(f != NULL && fseek(f, (long)(at + n4), SEEK_SET) == 0 &&
                  fwrite(&scale, 4, 1, f) == 1 && fseek(f, (long)(at + 64 * 64), SEEK_SET) == 0 &&
                  fwrite(row, 1, 4, f) == 4 && fclose(f) == 0,
              "patch %s", path);
        int saved = dup(2);
        dup2(log_fd, 2); /* the warning, if any, goes to the log file */
        bn_model *m = NULL;
        bn_status st = bn_model_load(&m, path, NULL);
        dup2(saved, 2);
        close(saved);
        char text[2048] = "";
        ssize_t got = pread(log_fd, text, sizeof text - 1, 0);
        text[got > 0 ? got : 0] = '\0';
        CHECK(st == code && (says == NULL || strstr(bn_last_error(), says) != NULL) &&
                  (warns == NULL || strstr(text, warns) != NULL),
              "%s: status %s, error '%s', stderr '%s'", what, bn_status_str(st), bn_last_error(),
              text);
        printf("%-28s -> %s\n", what, st == BN_OK ? text : bn_last_error());
        bn_model_free(m);
    }
    bn_gguf_close(g);
    close(log_fd);
    unlink(log);
    unlink(path);
}

static void i2s_chunk_damage(void) {
    /* 1.0f's top byte 0x3F ORed into codes makes codes 3: certain, refused */
    i2s_patched("i2_s chunk scale, ORed", 1.0f, true, BN_ERR_FORMAT,
                "tensor 'blk.1.ffn_up.weight': i2_s: row 64 begins with bits of the tensor's "
                "scale",
                NULL);
    /* 2.0f's bytes are valid codes: maybe a true row, loaded with a warning naming it */
    i2s_patched("i2_s chunk scale, exact", 2.0f, false, BN_OK, NULL,
                "tensor 'blk.1.ffn_up.weight': i2_s row 64 begins with exactly the bytes");
}

int main(void) {
    char good[] = "/tmp/bitnet-test-model-good-XXXXXX";
    int fd = mkstemp(good);
    close(fd);
    CHECK_OK(bn_synth_write(good, "tiny", BN_DTYPE_TQ2_0, 7));
    bn_model *m = NULL;
    bn_status st = BN_OK;
    CHECK_OK(bn_model_load(&m, good, NULL)); /* the unedited copy is fine */
    int dim = m ? m->cfg.dim : 0, ffn = m ? m->cfg.ffn_dim : 0, vocab = m ? m->cfg.n_vocab : 0;
    bn_model_free(m);
    bn_gguf *g = NULL;
    CHECK_OK(bn_gguf_open(&g, good));
    if (g == NULL || dim == 0)
        return bn_test_finish("test_model_load");

    /* ffn_up [dim -> ffn] written as [ffn -> dim]: the same bytes, the wrong shape */
    edit shape = {.name = "blk.1.ffn_up.weight",
                  .type = -1,
                  .n_dims = 2,
                  .ne = {(uint64_t)ffn, (uint64_t)dim}};
    refused(g, "wrong shape", &shape, BN_ERR_SHAPE, "blk.1.ffn_up.weight");
    edit missing = {.name = "blk.0.ffn_down.weight", .n_dims = 0};
    refused(g, "missing tensor", &missing, BN_ERR_NOT_FOUND, "blk.0.ffn_down.weight");
    edit f16_linear = {.name = "blk.0.attn_q.weight",
                       .type = 1 /* F16 */,
                       .n_dims = 2,
                       .ne = {(uint64_t)dim, (uint64_t)dim},
                       .as_f16 = true};
    accepted_f16(g, good, &f16_linear, vocab);
    edit i32_linear = {.name = "blk.0.attn_q.weight",
                       .type = 26 /* I32 */,
                       .n_dims = 2,
                       .ne = {(uint64_t)dim, (uint64_t)dim}};
    refused(g, "linear layer in i32", &i32_linear, BN_ERR_DTYPE, "want a ternary type");
    edit fewer = {.key = "bitnet.block_count", .u32 = 1};
    refused(g, "block_count 1 of 2 layers", &fewer, BN_ERR_FORMAT, "blk.1.");
    edit more = {.key = "bitnet.block_count", .u32 = 3};
    refused(g, "block_count 3 of 2 layers", &more, BN_ERR_NOT_FOUND, "blk.2.");
    edit arch = {.key = "general.architecture", .str = "llama"};
    refused(g, "another architecture", &arch, BN_ERR_UNSUPPORTED, "llama");
    edit bad_shape_kv = {.key = "bitnet.attention.head_count", .u32 = 3};
    refused(g, "heads do not divide", &bad_shape_kv, BN_ERR_SHAPE, "heads 3");
    bn_gguf_close(g);

    /* I2_S layers damaged as bitnet.cpp's multithreaded quantizer can leave them: the tensor's
     * scale over the first bytes of the chunk starting at row 64 (64 rows of 256 values) */
    i2s_chunk_damage();

    /* the file cut short, in the middle of the tensor data */
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(good, size / 2) == 0, "truncate");
    st = bn_model_load(&m, good, NULL);
    CHECK(st != BN_OK && m == NULL, "a truncated file loads");
    printf("%-28s -> %s\n", "truncated file", bn_last_error());
    unlink(good);
    return bn_test_finish("test_model_load");
}
