/*
 * st_tool.c - test tool: `st_tool dump FILE_OR_DIR` prints safetensors content as a JSON spec
 * {"metadata": {...}, "tensors": [{"name", "dtype", "shape", "hex"}]}; `st_tool write SPEC OUT`
 * writes a file from one with our writer. tests/py/test_safetensors_interop.py compares these
 * against the Python `safetensors` package.
 */
#include "io/safetensors.h"
#include "json_spec.h"

#include <sys/stat.h>

static int dump(const char *path) {
    bn_safetensors *st = NULL;
    struct stat sb;
    bool is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    bn_status s = is_dir ? bn_st_open_dir(&st, path) : bn_st_open(&st, path);
    if (s != BN_OK) {
        fprintf(stderr, "st_tool: %s\n", bn_last_error());
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    for (int64_t i = 0; i < st->n_meta; i++)
        cJSON_AddStringToObject(meta, st->meta[i].key, st->meta[i].value);
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const bn_st_tensor *t = &st->tensors[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", bn_st_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        char *hex = spec_hex(t->data, t->size);
        cJSON_AddStringToObject(o, "hex", hex ? hex : "");
        free(hex);
        cJSON_AddItemToArray(ts, o);
    }
    int rc = spec_print(root);
    cJSON_Delete(root);
    bn_st_close(st);
    return rc;
}

static int write_spec(const char *spec_path, const char *out) {
    size_t n;
    char *text = spec_read_file(spec_path, &n);
    cJSON *spec = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (spec == NULL) {
        fprintf(stderr, "st_tool: cannot read spec %s\n", spec_path);
        return 1;
    }
    bn_st_writer *w = NULL;
    if (bn_st_writer_create(&w) != BN_OK)
        goto fail;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(spec, "metadata")) {
        if (bn_st_writer_add_meta(w, m->string, cJSON_GetStringValue(m)) != BN_OK)
            goto fail;
    }
    /* Buffers stay alive until the write: collect them and free at the end. */
    uint8_t *buffers[256];
    int n_buffers = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(spec, "tensors")) {
        int64_t shape[BN_ST_MAX_DIMS];
        int nd = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "shape")) {
            if (nd < BN_ST_MAX_DIMS)
                shape[nd] = (int64_t)d->valuedouble;
            nd++;
        }
        bn_st_dtype dt;
        if (bn_st_dtype_parse(cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype")), &dt) != BN_OK)
            goto fail;
        size_t bytes = 0;
        uint8_t *data = spec_unhex(cJSON_GetStringValue(cJSON_GetObjectItem(t, "hex")), &bytes);
        if (data == NULL || n_buffers == 256)
            goto fail;
        buffers[n_buffers++] = data;
        if (bn_st_writer_add(w, cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), dt, nd, shape,
                             data, bytes) != BN_OK)
            goto fail;
    }
    bn_status s = bn_st_writer_write(w, out);
    for (int i = 0; i < n_buffers; i++)
        free(buffers[i]);
    bn_st_writer_free(w);
    cJSON_Delete(spec);
    if (s != BN_OK) {
        fprintf(stderr, "st_tool: %s\n", bn_last_error());
        return 1;
    }
    return 0;
fail:
    fprintf(stderr, "st_tool: %s\n", bn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "dump") == 0)
        return dump(argv[2]);
    if (argc == 4 && strcmp(argv[1], "write") == 0)
        return write_spec(argv[2], argv[3]);
    fprintf(stderr, "usage: st_tool dump FILE|DIR | st_tool write SPEC.json OUT.safetensors\n");
    return 2;
}
