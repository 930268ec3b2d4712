/* checkpoint.c - save, verify and restore of checkpoint.h. */
#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum { CK_VERSION = 1 };
#define CK_FORMAT "bitnet-c-checkpoint"
#define CK_STATE  "train.data_state"

typedef struct ck_tensor {
    char name[80];
    bn_st_dtype dtype;
    int n_dims;
    int64_t shape[2];
    const void *data;
    size_t size;
} ck_tensor;

static int by_name(const void *a, const void *b) {
    return strcmp(((const ck_tensor *)a)->name, ((const ck_tensor *)b)->name);
}

/* CRC-32 of the tensors' bytes, in name order (both sides sort: the file's order is the
 * writer's, by dtype). zlib's crc32_z takes any length. */
static uint32_t crc_of(ck_tensor *t, size_t n) {
    qsort(t, n, sizeof *t, by_name);
    uLong crc = crc32_z(0L, Z_NULL, 0);
    for (size_t i = 0; i < n; i++)
        crc = crc32_z(crc, t[i].data, t[i].size);
    return (uint32_t)crc;
}

static void param_tensor(ck_tensor *t, const char *prefix, const bn_param *p, const float *data) {
    snprintf(t->name, sizeof t->name, "%s%s", prefix, p->name);
    t->dtype = BN_ST_F32;
    t->n_dims = p->rows > 1 ? 2 : 1;
    t->shape[0] = p->rows > 1 ? p->rows : p->cols;
    t->shape[1] = p->cols;
    t->data = data;
    t->size = (size_t)p->numel * sizeof(float);
}

/* Every tensor a checkpoint of this net holds (3 per parameter with the optimizer, plus the
 * data state). */
static size_t list_tensors(const bn_net *net, const bn_adamw *opt, const bn_checkpoint_info *info,
                           ck_tensor *t) {
    size_t n = 0;
    for (int i = 0; i < net->n_params; i++) {
        const bn_param *p = &net->params[i];
        size_t off = (size_t)(p->data - net->values);
        param_tensor(&t[n++], "", p, p->data);
        if (opt != NULL) {
            param_tensor(&t[n++], "optim.m.", p, opt->m + off);
            param_tensor(&t[n++], "optim.v.", p, opt->v + off);
        }
    }
    if (info->data_state_size > 0) {
        t[n] = (ck_tensor){.name = CK_STATE,
                           .dtype = BN_ST_U8,
                           .n_dims = 1,
                           .shape = {(int64_t)info->data_state_size},
                           .data = info->data_state,
                           .size = info->data_state_size};
        n++;
    }
    return n;
}

static bn_status add_meta_i64(bn_st_writer *w, const char *key, int64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, v);
    return bn_st_writer_add_meta(w, key, s);
}

static bn_status write_file(const char *path, bn_st_writer *w, const bn_net *net,
                            const bn_checkpoint_info *info, ck_tensor *t, size_t n) {
    char crc[16], *model = NULL;
    cJSON *m = bn_net_config_json(&net->cfg);
    if (m == NULL || (model = cJSON_PrintUnformatted(m)) == NULL) {
        cJSON_Delete(m);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "checkpoint: metadata");
    }
    cJSON_Delete(m);
    for (size_t i = 0; i < n; i++) {
        bn_status s = bn_st_writer_add(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].shape, t[i].data,
                                       t[i].size);
        if (s != BN_OK) {
            free(model);
            return s;
        }
    }
    snprintf(crc, sizeof crc, "%08" PRIx32, crc_of(t, n));
    bn_status s = bn_st_writer_add_meta(w, "format", CK_FORMAT);
    if (s == BN_OK)
        s = add_meta_i64(w, "version", CK_VERSION);
    if (s == BN_OK)
        s = add_meta_i64(w, "step", info->step);
    if (s == BN_OK)
        s = add_meta_i64(w, "adam_steps", info->adam_steps);
    if (s == BN_OK)
        s = add_meta_i64(w, "tokens", info->tokens);
    if (s == BN_OK)
        s = bn_st_writer_add_meta(w, "model", model);
    if (s == BN_OK && info->config != NULL)
        s = bn_st_writer_add_meta(w, "config", info->config);
    if (s == BN_OK)
        s = bn_st_writer_add_meta(w, "crc32", crc);
    free(model);
    return s == BN_OK ? bn_st_writer_write(w, path) : s;
}

bn_status bn_checkpoint_save(const char *path, const bn_net *net, const bn_adamw *opt,
                             const bn_checkpoint_info *info) {
    ck_tensor *t = calloc((size_t)net->n_params * 3 + 1, sizeof *t);
    bn_st_writer *w = NULL;
    if (t == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "checkpoint: tensor list");
    bn_status s = bn_st_writer_create(&w);
    if (s == BN_OK)
        s = write_file(path, w, net, info, t, list_tensors(net, opt, info, t));
    bn_st_writer_free(w);
    free(t);
    return s;
}

/* ---- loading ------------------------------------------------------------------------------ */

static const char *meta(const bn_safetensors *st, const char *key) {
    for (int64_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

static bn_status meta_i64(const bn_safetensors *st, const char *path, const char *key,
                          int64_t *out) {
    const char *v = meta(st, key);
    char *end;
    errno = 0;
    long long x = v != NULL ? strtoll(v, &end, 10) : 0;
    if (v == NULL || end == v || *end != '\0' || errno != 0 || x < 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: checkpoint metadata '%s' is %s", path, key,
                        v == NULL ? "missing" : "not a count");
    *out = x;
    return BN_OK;
}

static bn_status read_model(const bn_safetensors *st, const char *path, bn_net_config *c) {
    const char *text = meta(st, "model");
    cJSON *j = text != NULL ? cJSON_Parse(text) : NULL;
    if (j == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: checkpoint metadata 'model' is %s", path,
                        text == NULL ? "missing" : "not JSON");
    bn_jobj o = {.obj = j, .path = "model."};
    bn_status s = cJSON_IsObject(j) ? bn_net_config_read(&o, c)
                                    : BN_ERROR(BN_ERR_FORMAT, "not a JSON object");
    if (s == BN_OK)
        s = bn_net_config_check(c);
    cJSON_Delete(j);
    if (s != BN_OK)
        return BN_ERROR(s, "%s: the checkpoint's model config: %s", path, bn_last_error());
    return BN_OK;
}

static bn_status verify_crc(const bn_safetensors *st, const char *path) {
    const char *want = meta(st, "crc32");
    if (want == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: checkpoint metadata 'crc32' is missing", path);
    ck_tensor *t = calloc((size_t)st->n_tensors + 1, sizeof *t);
    if (t == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "checkpoint: tensor list");
    for (int64_t i = 0; i < st->n_tensors; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", st->tensors[i].name);
        t[i].data = st->tensors[i].data;
        t[i].size = st->tensors[i].size;
    }
    char got[16];
    snprintf(got, sizeof got, "%08" PRIx32, crc_of(t, (size_t)st->n_tensors));
    free(t);
    if (strcmp(got, want) != 0)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: checkpoint CRC-32 is %s, its metadata says %s (the "
                        "file was changed or damaged)",
                        path, got, want);
    return BN_OK;
}

static bn_status open_verified(bn_checkpoint *ck, const char *path) {
    bn_safetensors *st = ck->st;
    const char *format = meta(st, "format");
    if (format == NULL || strcmp(format, CK_FORMAT) != 0)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: not a BitNet-C training checkpoint (metadata format "
                        "is %s%s%s)",
                        path, format ? "'" : "", format ? format : "missing", format ? "'" : "");
    int64_t version;
    BN_TRY(meta_i64(st, path, "version", &version));
    if (version != CK_VERSION)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "%s: checkpoint version %lld (this build reads %d)",
                        path, (long long)version, CK_VERSION);
    BN_TRY(verify_crc(st, path));
    BN_TRY(meta_i64(st, path, "step", &ck->info.step));
    BN_TRY(meta_i64(st, path, "adam_steps", &ck->info.adam_steps));
    BN_TRY(meta_i64(st, path, "tokens", &ck->info.tokens));
    BN_TRY(read_model(st, path, &ck->model));
    ck->info.config = meta(st, "config");
    const bn_st_tensor *ds = bn_st_find(st, CK_STATE);
    if (ds != NULL && ds->dtype == BN_ST_U8) {
        ck->info.data_state = ds->data;
        ck->info.data_state_size = ds->size;
    }
    ck->has_optimizer = bn_st_find(st, "optim.m.model.embed_tokens.weight") != NULL;
    return BN_OK;
}

bn_status bn_checkpoint_open(bn_checkpoint *ck, const char *path) {
    memset(ck, 0, sizeof *ck);
    struct stat sb;
    char file[4096];
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (snprintf(file, sizeof file, "%s/%s", path, BN_CHECKPOINT_FILE) >= (int)sizeof file)
            return BN_ERROR(BN_ERR_INVALID_ARG, "checkpoint: path too long");
    } else
        snprintf(file, sizeof file, "%s", path);
    BN_TRY(bn_st_open(&ck->st, file));
    bn_status s = open_verified(ck, file);
    if (s != BN_OK)
        bn_checkpoint_close(ck);
    return s;
}

void bn_checkpoint_close(bn_checkpoint *ck) {
    bn_st_close(ck->st);
    memset(ck, 0, sizeof *ck);
}

static bn_status copy_tensor(const bn_checkpoint *ck, const char *prefix, const bn_param *p,
                             float *dst) {
    char name[96];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    const bn_st_tensor *t = bn_st_find(ck->st, name);
    if (t == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND, "checkpoint: tensor %s is missing", name);
    int64_t numel = 1;
    for (int i = 0; i < t->n_dims; i++)
        numel *= t->shape[i];
    int64_t last = t->n_dims > 0 ? t->shape[t->n_dims - 1] : 1;
    if (t->dtype != BN_ST_F32 || numel != p->numel || last != p->cols)
        return BN_ERROR(BN_ERR_SHAPE,
                        "checkpoint: tensor %s is %s of %lld values, the model "
                        "wants F32 [%lld, %lld]",
                        name, bn_st_dtype_name(t->dtype), (long long)numel, (long long)p->rows,
                        (long long)p->cols);
    memcpy(dst, t->data, t->size);
    return BN_OK;
}

bn_status bn_checkpoint_restore(const bn_checkpoint *ck, bn_net *net, bn_adamw *opt) {
    if (opt != NULL && !ck->has_optimizer)
        return BN_ERROR(BN_ERR_NOT_FOUND, "checkpoint: no optimizer state (weights only)");
    for (int i = 0; i < net->n_params; i++) {
        const bn_param *p = &net->params[i];
        size_t off = (size_t)(p->data - net->values);
        BN_TRY(copy_tensor(ck, "", p, p->data));
        if (opt != NULL) {
            BN_TRY(copy_tensor(ck, "optim.m.", p, opt->m + off));
            BN_TRY(copy_tensor(ck, "optim.v.", p, opt->v + off));
        }
    }
    if (opt != NULL)
        opt->steps = ck->info.adam_steps;
    return BN_OK;
}
