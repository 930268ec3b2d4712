/*
 * hf_folder_edit.h - copies of a Hugging Face fixture folder with one thing changed, for tests
 * that a loader refuses bad folders (or treats equivalent ones alike): config.json with one text
 * replacement, model.safetensors rewritten through the library's writer with a tensor left out,
 * reshaped, retyped, added or its weight_scale inverted, tokenizer.json swapped for a
 * tokenizer.model. Made under $TMPDIR (or /tmp), removed with hf_edit_remove.
 */
#ifndef BN_TEST_HF_FOLDER_EDIT_H
#define BN_TEST_HF_FOLDER_EDIT_H

#include "io/safetensors.h"
#include "tensor/half.h"
#include "tools/json_spec.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct hf_edit {
    const char *cfg_from, *cfg_to; /* config.json: first cfg_from becomes cfg_to */
    const char *drop;              /* tensor left out */
    const char *reshape;           /* tensor whose shape is refolded, same element count */
    const char *retype;            /* tensor relabelled as retype_to (same element size) */
    bn_st_dtype retype_to;
    const char *add;      /* extra F32 tensor of 256 zeros */
    bool invert_scales;   /* every *.weight_scale (BF16) -> F32 1/value */
    bool tokenizer_model; /* tokenizer.model instead of tokenizer.json */
} hf_edit;

static const char *const hf_edit_files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                            "tokenizer_config.json", "tokenizer.model"};

static inline bool hf_edit_write(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL && fwrite(data, 1, n, f) == n;
    return (f == NULL || fclose(f) == 0) && ok;
}

static inline bool hf_edit_copy_file(const char *src, const char *dst, const char *name) {
    char from[1200], to[1200];
    snprintf(from, sizeof from, "%s/%s", src, name);
    snprintf(to, sizeof to, "%s/%s", dst, name);
    size_t n = 0;
    char *text = spec_read_file(from, &n);
    bool ok = text != NULL && hf_edit_write(to, text, n);
    free(text);
    return ok;
}

/* config.json with the first e->cfg_from replaced; false if it is not there. */
static inline bool hf_edit_config(const char *src, const char *dst, const hf_edit *e) {
    char from[1200], to[1200];
    snprintf(from, sizeof from, "%s/config.json", src);
    snprintf(to, sizeof to, "%s/config.json", dst);
    size_t n = 0;
    char *text = spec_read_file(from, &n);
    char *at = text && e->cfg_from ? strstr(text, e->cfg_from) : NULL;
    bool ok = text != NULL && (e->cfg_from == NULL || at != NULL);
    if (ok && at != NULL) {
        size_t head = (size_t)(at - text), cut = strlen(e->cfg_from), add = strlen(e->cfg_to);
        char *out = malloc(n - cut + add + 1);
        memcpy(out, text, head);
        memcpy(out + head, e->cfg_to, add);
        memcpy(out + head + add, at + cut, n - head - cut);
        ok = hf_edit_write(to, out, n - cut + add);
        free(out);
    } else if (ok) {
        ok = hf_edit_write(to, text, n);
    }
    free(text);
    return ok;
}

/* One source tensor into the writer, as the edit wants it. scale is storage for an inverted
 * weight_scale (valid until the write). */
static inline bn_status hf_edit_tensor(bn_st_writer *w, const bn_st_tensor *t, const hf_edit *e,
                                       float *scale) {
    int64_t shape[BN_ST_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    int nd = t->n_dims;
    bn_st_dtype dt = t->dtype;
    const void *data = t->data;
    size_t size = t->size;
    size_t len = strlen(t->name);
    if (e->reshape && strcmp(t->name, e->reshape) == 0) { /* [a, b] -> [a/2, 2b]; [n] -> [n/2, 2] */
        if (nd == 1)
            nd = 2, shape[1] = 2;
        else
            shape[1] *= 2;
        shape[0] /= 2;
    }
    if (e->retype && strcmp(t->name, e->retype) == 0)
        dt = e->retype_to;
    if (e->invert_scales && len > 13 && strcmp(t->name + len - 13, ".weight_scale") == 0) {
        float ws;
        bn_bf16_to_f32_row((const uint16_t *)t->data, &ws, 1);
        *scale = 1.0f / ws; /* the converter's own float division, so gamma matches bit for bit */
        dt = BN_ST_F32, data = scale, size = sizeof *scale;
    }
    return bn_st_writer_add(w, t->name, dt, nd, shape, data, size);
}

static inline bool hf_edit_weights(const char *src, const char *dst, const hf_edit *e) {
    static const float zeros[256];
    bn_safetensors *st = NULL;
    bn_st_writer *w = NULL;
    if (bn_st_open_dir(&st, src) != BN_OK || bn_st_writer_create(&w) != BN_OK) {
        bn_st_close(st);
        return false;
    }
    float *scales = calloc((size_t)st->n_tensors + 1, sizeof *scales);
    bn_status s = scales ? BN_OK : BN_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; s == BN_OK && i < st->n_tensors; i++)
        if (!(e->drop && strcmp(st->tensors[i].name, e->drop) == 0))
            s = hf_edit_tensor(w, &st->tensors[i], e, &scales[i]);
    int64_t one = 256;
    if (s == BN_OK && e->add)
        s = bn_st_writer_add(w, e->add, BN_ST_F32, 1, &one, zeros, sizeof zeros);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    if (s == BN_OK)
        s = bn_st_writer_write(w, path);
    bn_st_writer_free(w);
    bn_st_close(st);
    free(scales);
    return s == BN_OK;
}

/* A copy of the folder src with e applied, in a new directory written to dir[cap]. */
static inline bool hf_edit_make(char *dir, size_t cap, const char *src, const hf_edit *e) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/bitnet-hfedit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        return false;
    bool ok = hf_edit_config(src, dir, e) && hf_edit_weights(src, dir, e) &&
              hf_edit_copy_file(src, dir, "tokenizer_config.json");
    if (ok && e->tokenizer_model) { /* bytes that are no tokenizer: only the name matters */
        char path[1200];
        snprintf(path, sizeof path, "%s/tokenizer.model", dir);
        ok = hf_edit_write(path, "\n\x0bnot a model", 13);
    } else if (ok) {
        ok = hf_edit_copy_file(src, dir, "tokenizer.json");
    }
    return ok;
}

static inline void hf_edit_remove(const char *dir) {
    char path[1200];
    for (size_t i = 0; i < sizeof hf_edit_files / sizeof hf_edit_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, hf_edit_files[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif /* BN_TEST_HF_FOLDER_EDIT_H */
