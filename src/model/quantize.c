/*
 * quantize.c - GGUF -> GGUF with the linear layers in another type. See quantize.h.
 */
#include "model/quantize.h"

#include "base/alloc.h"
#include "io/gguf.h"
#include "io/outfile.h"
#include "model/hparams.h"
#include "quant/ternary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_tensor {
    const bn_gguf_tensor *src;       /* source tensor (the weight, for a .scale) */
    const bn_gguf_tensor *src_scale; /* a linear's source .scale tensor, or NULL */
    bool linear, is_new_scale;
    bool table; /* embeddings or head re-encoded row by row in `type` */
    char name[96];
    bn_dtype type;
    int n_dims;
    uint64_t ne[BN_GGUF_MAX_DIMS];
    size_t nbytes;
} out_tensor;

typedef struct requant {
    const bn_convert_options *opt;
    bn_gguf *in;
    out_tensor *outs;
    int64_t n_outs;
    float last_gamma;
    bn_convert_report *report;
} requant;

static const char *const linear_names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                           "ffn_gate", "ffn_up", "ffn_down"};

/* "blk.N.<linear>.weight" -> true, and the ".scale" name beside it. */
static bool is_linear(const char *name, char *scale_name, size_t size) {
    int layer, used = 0;
    char mod[32];
    if (sscanf(name, "blk.%d.%31[a-z_].weight%n", &layer, mod, &used) != 2 || name[used] != '\0')
        return false;
    for (size_t i = 0; i < sizeof linear_names / sizeof linear_names[0]; i++) {
        if (strcmp(mod, linear_names[i]) == 0) {
            snprintf(scale_name, size, "blk.%d.%s.scale", layer, mod);
            return true;
        }
    }
    return false;
}

/* TQ types: per-block scales in the file, the per-tensor one in a .scale tensor beside it. */
static bool is_tq(bn_dtype t) {
    return bn_convert_has_scale_tensor(t);
}

static bn_status push(requant *q, const out_tensor *o) {
    out_tensor *grown = realloc(q->outs, (size_t)(q->n_outs + 1) * sizeof *grown);
    if (grown == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "quantize: tensor plan");
    q->outs = grown;
    q->outs[q->n_outs++] = *o;
    return BN_OK;
}

/* The type token_embd / output is to be written in, if re-encoded: --embed-type for the
 * embeddings, --head-type for an untied head; a tied head is the embeddings, so --head-type
 * alone re-encodes them (as llama-quantize's --output-tensor-type does). */
static bool table_type(const requant *q, const char *name, bn_dtype *type) {
    const bn_convert_options *o = q->opt;
    bool tied = bn_gguf_find_tensor(q->in, "output.weight") == NULL;
    if (strcmp(name, "token_embd.weight") == 0 && !o->embed_as_source)
        *type = o->embed_type;
    else if (strcmp(name, "token_embd.weight") == 0 && tied && !o->head_as_source)
        *type = o->head_type;
    else if (strcmp(name, "output.weight") == 0 && !o->head_as_source)
        *type = o->head_type;
    else
        return false;
    return true;
}

static bn_status plan_table(requant *q, out_tensor *o) {
    const bn_gguf_tensor *t = o->src;
    const bn_dtype_traits *from = bn_dtype_get(t->dtype);
    if (t->n_dims != 2 || from == NULL || from->to_f32 == NULL)
        return BN_ERROR(BN_ERR_DTYPE, "%s: '%s' is %s with %d dims: no rows to re-encode",
                        q->in->file.path, t->name, bn_dtype_name(t->dtype), t->n_dims);
    o->table = true;
    int64_t rows = (int64_t)t->ne[1], cols = (int64_t)t->ne[0];
    bn_status st = bn_dtype_tensor_bytes(o->type, cols, rows * cols, &o->nbytes);
    if (st != BN_OK)
        return BN_ERROR(st, "%s: '%s' [%lld x %lld] cannot be %s: %s", q->in->file.path, t->name,
                        (long long)rows, (long long)cols, bn_dtype_name(o->type), bn_last_error());
    return BN_OK;
}

static bn_status plan(requant *q) {
    for (uint64_t i = 0; i < q->in->n_tensors; i++) {
        const bn_gguf_tensor *t = &q->in->tensors[i];
        char scale_name[96];
        out_tensor o = {.src = t, .type = t->dtype, .n_dims = t->n_dims, .nbytes = t->size};
        memcpy(o.ne, t->ne, sizeof o.ne);
        snprintf(o.name, sizeof o.name, "%s", t->name);
        size_t len = strlen(t->name);
        if (len > 6 && strcmp(t->name + len - 6, ".scale") == 0) {
            char weight[96];
            snprintf(weight, sizeof weight, "%.*s.weight", (int)(len - 6), t->name);
            if (is_linear(weight, scale_name, sizeof scale_name) &&
                bn_gguf_find_tensor(q->in, weight))
                continue; /* folded into its weight; a new one is written if the type needs it */
        }
        if (table_type(q, t->name, &o.type)) {
            BN_TRY(plan_table(q, &o));
            BN_TRY(push(q, &o));
            continue;
        }
        if (!is_linear(t->name, scale_name, sizeof scale_name)) {
            BN_TRY(push(q, &o));
            continue;
        }
        if (t->n_dims != 2)
            return BN_ERROR(BN_ERR_SHAPE, "%s: linear layer '%s' has %d dims, want 2",
                            q->in->file.path, t->name, t->n_dims);
        o.linear = true;
        o.type = q->opt->type;
        o.src_scale = bn_gguf_find_tensor(q->in, scale_name);
        int64_t rows = (int64_t)t->ne[1], cols = (int64_t)t->ne[0];
        BN_TRY(bn_convert_check_linear_shape(o.type, rows, cols, t->name));
        BN_TRY(bn_dtype_tensor_bytes(o.type, cols, rows * cols, &o.nbytes));
        BN_TRY(push(q, &o));
        if (is_tq(o.type)) {
            out_tensor s = {.src = t,
                            .is_new_scale = true,
                            .type = BN_DTYPE_F32,
                            .n_dims = 1,
                            .ne = {1, 1, 1, 1},
                            .nbytes = sizeof(float)};
            snprintf(s.name, sizeof s.name, "%s", scale_name);
            BN_TRY(push(q, &s));
        }
    }
    return BN_OK;
}

/* The source's values (its .scale applied), whatever its type. */
static bn_status source_values(requant *q, const out_tensor *o, float *v, int8_t *t, int64_t n) {
    const bn_gguf_tensor *s = o->src;
    const bn_dtype_traits *tr = bn_dtype_get(s->dtype);
    int64_t rows = (int64_t)s->ne[1], cols = (int64_t)s->ne[0];
    if (tr->to_f32 != NULL) {
        tr->to_f32(s->data, v, n);
    } else if (tr->unpack_ternary != NULL) {
        float gamma;
        BN_TRY(tr->unpack_ternary(s->data, s->size, rows, cols, t, &gamma));
        for (int64_t i = 0; i < n; i++)
            v[i] = (float)t[i] * gamma;
    } else {
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: tensor '%s' of type %s cannot be decoded",
                        q->in->file.path, s->name, tr->name);
    }
    if (o->src_scale != NULL) {
        const bn_dtype_traits *st = bn_dtype_get(o->src_scale->dtype);
        float scale;
        if (st->to_f32 == NULL || o->src_scale->ne[0] * o->src_scale->ne[1] != 1)
            return BN_ERROR(BN_ERR_SHAPE, "%s: '%s' is not a 1-element float tensor",
                            q->in->file.path, o->src_scale->name);
        st->to_f32(o->src_scale->data, &scale, 1);
        for (int64_t i = 0; i < n; i++)
            v[i] *= scale;
    }
    return BN_OK;
}

/* Whether v is ternary with one magnitude: then t and gamma hold it exactly. Else *first and
 * *second are indices of two different nonzero magnitudes. */
static bool single_magnitude(const float *v, int64_t n, int8_t *t, float *gamma, int64_t *first,
                             int64_t *second) {
    float mag = 0.0f;
    *first = *second = -1;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(v[i]);
        if (a == 0.0f) {
            t[i] = 0;
            continue;
        }
        if (mag == 0.0f) {
            mag = a;
            *first = i;
        } else if (a != mag) {
            *second = i;
            return false;
        }
        t[i] = v[i] > 0 ? 1 : -1;
    }
    *gamma = mag;
    return true;
}

static bn_status encode_linear(requant *q, const out_tensor *o, const float *v, int8_t *t,
                               float *approx, uint8_t *out, int64_t n) {
    const bn_dtype_traits *tr = bn_dtype_get(o->type);
    int64_t rows = (int64_t)o->ne[1], cols = (int64_t)o->ne[0];
    float gamma = 0.0f;
    int64_t a, b;
    bool ternary = single_magnitude(v, n, t, &gamma, &a, &b);
    if (!ternary && tr->pack_ternary != NULL) {
        if (is_tq(o->src->dtype)) { /* ternary blocks with their own scales */
            if (!is_tq(o->type))
                return BN_ERROR(BN_ERR_UNSUPPORTED,
                                "%s: '%s' has different scales per block (|w| = %g at %lld, %g at "
                                "%lld); %s keeps one scale per tensor, so this would be lossy. "
                                "Types that keep per-block scales: tq1_0, tq2_0",
                                q->in->file.path, o->name, (double)fabsf(v[a]), (long long)a,
                                (double)fabsf(v[b]), (long long)b, tr->name);
            tr->from_f32(v, out, n); /* each block's absmax is its scale: lossless */
            tr->to_f32(out, approx, n);
            q->last_gamma = 1.0f;
            return BN_OK;
        }
        /* float weights that are not ternary: BitNet's absmean, as convert does */
        bn_ternary_params tp = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_TENSOR, 0};
        BN_TRY(bn_ternary_quantize(v, rows, cols, &tp, t, &gamma));
    }
    if (tr->pack_ternary != NULL) {
        BN_TRY(tr->pack_ternary(t, rows, cols, is_tq(o->type) ? 1.0f : gamma, out, o->nbytes));
        for (int64_t i = 0; i < n; i++)
            approx[i] = (float)t[i] * gamma;
    } else {
        tr->from_f32(v, out, n);
        tr->to_f32(out, approx, n);
    }
    q->last_gamma = gamma;
    return BN_OK;
}

static void record(requant *q, const out_tensor *o, const float *ref, const float *approx,
                   int64_t n) {
    size_t extra = is_tq(o->type) ? sizeof(float) : 0;
    bn_convert_report_add(q->report, o->name, o->type, bn_dtype_name(o->src->dtype), ref, approx, n,
                          o->nbytes + extra);
}

static bn_status write_linear(requant *q, const out_tensor *o, uint8_t *out) {
    int64_t n = (int64_t)(o->ne[0] * o->ne[1]);
    float *v = bn_aligned_alloc((size_t)n * sizeof(float));
    float *approx = bn_aligned_alloc((size_t)n * sizeof(float));
    int8_t *t = bn_aligned_alloc((size_t)n);
    bn_status st = v && approx && t ? BN_OK : BN_ERR_OUT_OF_MEMORY;
    if (st == BN_OK)
        st = source_values(q, o, v, t, n);
    if (st == BN_OK)
        st = encode_linear(q, o, v, t, approx, out, n);
    if (st == BN_OK)
        record(q, o, v, approx, n);
    bn_aligned_free(v);
    bn_aligned_free(approx);
    bn_aligned_free(t);
    return st;
}

/* Embeddings or head in another type, a row at a time: decoded from the file's type to float32,
 * encoded in the new one. (Not in the report, which holds whole tensors: a 2B-4T table is 1.3 GB
 * as float32.) */
static bn_status write_table(const out_tensor *o, bn_gguf_writer *w) {
    const bn_gguf_tensor *t = o->src;
    const bn_dtype_traits *from = bn_dtype_get(t->dtype), *to = bn_dtype_get(o->type);
    int64_t rows = (int64_t)t->ne[1], cols = (int64_t)t->ne[0];
    size_t in_row = t->size / (size_t)rows, out_row = o->nbytes / (size_t)rows;
    float *v = bn_aligned_alloc((size_t)cols * sizeof(float));
    uint8_t *enc = bn_aligned_alloc(out_row);
    bn_status st = v && enc ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "quantize: a row");
    for (int64_t r = 0; st == BN_OK && r < rows; r++) {
        from->to_f32(t->data + (size_t)r * in_row, v, cols);
        to->from_f32(v, enc, cols);
        st = bn_gguf_writer_write(w, enc, out_row);
    }
    bn_aligned_free(v);
    bn_aligned_free(enc);
    return st;
}

/* Metadata: everything but alignment (the writer sets it) and file type; the architecture
 * prefix follows the output type. */
static bn_status copy_metadata(requant *q, bn_gguf_writer *w, const char *arch) {
    const char *old = q->in->architecture;
    size_t old_len = strlen(old);
    for (uint64_t i = 0; i < q->in->n_kv; i++) {
        const bn_gguf_kv *kv = &q->in->kv[i];
        if (strcmp(kv->key, "general.alignment") == 0 || strcmp(kv->key, "general.file_type") == 0)
            continue;
        if (strcmp(kv->key, "general.architecture") == 0) {
            BN_TRY(bn_gguf_writer_set_str(w, kv->key, arch));
            continue;
        }
        char key[512];
        if (old_len > 0 && strncmp(kv->key, old, old_len) == 0 && kv->key[old_len] == '.')
            snprintf(key, sizeof key, "%s%s", arch, kv->key + old_len);
        else
            snprintf(key, sizeof key, "%s", kv->key);
        BN_TRY(bn_gguf_writer_set(w, key, &kv->value));
    }
    return BN_OK;
}

static bn_status write_all(requant *q, bn_gguf_writer *w) {
    bool bitnet = strncmp(q->in->architecture, "bitnet", 6) == 0;
    const char *arch = bitnet ? bn_hparams_arch(q->opt->type) : q->in->architecture;
    BN_TRY(copy_metadata(q, w, arch));
    for (int64_t i = 0; i < q->n_outs; i++) {
        const out_tensor *o = &q->outs[i];
        BN_TRY(bn_gguf_writer_add_tensor(w, o->name, (uint32_t)bn_dtype_get(o->type)->gguf_type,
                                         o->n_dims, o->ne, o->nbytes));
    }
    BN_TRY(bn_gguf_writer_begin_data(w));
    for (int64_t i = 0; i < q->n_outs; i++) {
        const out_tensor *o = &q->outs[i];
        if (q->opt->progress)
            q->opt->progress(q->opt->progress_ctx, i, q->n_outs, o->name);
        if (o->table) {
            BN_TRY(write_table(o, w));
            continue;
        }
        if (!o->linear && !o->is_new_scale) {
            BN_TRY(bn_gguf_writer_write(w, o->src->data, o->nbytes));
            continue;
        }
        if (o->is_new_scale) {
            BN_TRY(bn_gguf_writer_write(w, &q->last_gamma, sizeof(float)));
            continue;
        }
        uint8_t *out = bn_aligned_alloc(o->nbytes);
        if (out == NULL)
            return BN_ERR_OUT_OF_MEMORY;
        memset(out, 0, o->nbytes);
        bn_status st = write_linear(q, o, out);
        if (st == BN_OK)
            st = bn_gguf_writer_write(w, out, o->nbytes);
        bn_aligned_free(out);
        BN_TRY(st);
    }
    if (q->opt->progress)
        q->opt->progress(q->opt->progress_ctx, q->n_outs, q->n_outs, "");
    return BN_OK;
}

static bn_status run(requant *q, const char *in_path, const char *out_path) {
    BN_TRY(bn_convert_check_linear_type(q->opt->type));
    BN_TRY(bn_gguf_open(&q->in, in_path));
    BN_TRY(plan(q));
    if (q->report != NULL) {
        q->report->n = 0;
        q->report->tensors = calloc((size_t)q->n_outs + 1, sizeof *q->report->tensors);
        if (q->report->tensors == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "quantize: report");
    }
    /* the rename would succeed under the input's mapping and replace the model being read */
    BN_TRY(bn_outfile_check_not_input(out_path, in_path, "the input model"));
    bn_gguf_writer *w = NULL;
    BN_TRY(bn_gguf_writer_create(&w, out_path, q->in->alignment));
    bn_status st = write_all(q, w);
    if (st != BN_OK) {
        bn_gguf_writer_abort(w);
        return st;
    }
    return bn_gguf_writer_finish(w);
}

bn_status bn_quantize_gguf(const char *in_path, const char *out_path, const bn_convert_options *opt,
                           bn_convert_report *report) {
    requant q = {.opt = opt, .report = opt->report ? report : NULL};
    bn_status st = run(&q, in_path, out_path);
    bn_gguf_close(q.in);
    free(q.outs);
    if (st != BN_OK && report != NULL)
        bn_convert_report_free(report);
    return st;
}
