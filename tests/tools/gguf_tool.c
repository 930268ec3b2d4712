/*
 * gguf_tool.c - test tool: `gguf_tool dump FILE` prints a GGUF file as a JSON spec;
 * `gguf_tool write SPEC.json OUT.gguf` writes a GGUF from one with our writer.
 * tests/py/test_gguf_interop.py compares these against the Python `gguf` package.
 *
 * A value in the spec is {"type": T, "value": V} with V a string for scalars (integers in
 * decimal, floats in %.17g, "true"/"false"), hex for strings, and for arrays
 * {"type": "array", "elem": T, "items": [values...]}.
 */
#include "io/gguf.h"
#include "json_spec.h"

static cJSON *dump_value(const bn_gguf_value *v);

static cJSON *scalar(const char *type, const char *text) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "value", text);
    return o;
}

static cJSON *dump_array(const bn_gguf_array *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "array");
    cJSON_AddStringToObject(o, "elem", bn_gguf_type_name(a->type));
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (uint64_t i = 0; i < a->count; i++) {
        bn_gguf_value v = {.type = a->type};
        if (a->type == BN_GGUF_STRING || a->type == BN_GGUF_ARRAY) {
            v = a->items[i];
        } else if (a->type == BN_GGUF_F32 || a->type == BN_GGUF_F64) {
            bn_gguf_arr_get_f64(a, i, &v.f64);
        } else if (a->type == BN_GGUF_BOOL) {
            uint64_t b = 0;
            bn_gguf_arr_get_u64(a, i, &b);
            v.b = b != 0;
        } else if (a->type == BN_GGUF_I8 || a->type == BN_GGUF_I16 || a->type == BN_GGUF_I32 ||
                   a->type == BN_GGUF_I64) {
            bn_gguf_arr_get_i64(a, i, &v.i64);
        } else {
            bn_gguf_arr_get_u64(a, i, &v.u64);
        }
        cJSON_AddItemToArray(items, dump_value(&v));
    }
    return o;
}

static cJSON *dump_value(const bn_gguf_value *v) {
    char text[64];
    switch (v->type) {
    case BN_GGUF_U8:
    case BN_GGUF_U16:
    case BN_GGUF_U32:
    case BN_GGUF_U64:
        snprintf(text, sizeof text, "%llu", (unsigned long long)v->u64);
        return scalar(bn_gguf_type_name(v->type), text);
    case BN_GGUF_I8:
    case BN_GGUF_I16:
    case BN_GGUF_I32:
    case BN_GGUF_I64:
        snprintf(text, sizeof text, "%lld", (long long)v->i64);
        return scalar(bn_gguf_type_name(v->type), text);
    case BN_GGUF_F32:
    case BN_GGUF_F64:
        snprintf(text, sizeof text, "%.17g", v->f64);
        return scalar(bn_gguf_type_name(v->type), text);
    case BN_GGUF_BOOL:
        return scalar("bool", v->b ? "true" : "false");
    case BN_GGUF_STRING: {
        char *hex = spec_hex(v->str.data, v->str.len);
        cJSON *o = scalar("string", hex ? hex : "");
        free(hex);
        return o;
    }
    case BN_GGUF_ARRAY:
        return dump_array(&v->arr);
    default:
        return scalar("invalid", "");
    }
}

static int dump(const char *path) {
    bn_gguf *g = NULL;
    if (bn_gguf_open(&g, path) != BN_OK) {
        fprintf(stderr, "gguf_tool: %s\n", bn_last_error());
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", g->version);
    cJSON_AddNumberToObject(root, "alignment", g->alignment);
    cJSON *kvs = cJSON_AddArrayToObject(root, "kv");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        cJSON *o = dump_value(&g->kv[i].value);
        cJSON_AddStringToObject(o, "key", g->kv[i].key);
        cJSON_AddItemToArray(kvs, o);
    }
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddNumberToObject(o, "ggml_type", t->ggml_type);
        cJSON *ne = cJSON_AddArrayToObject(o, "ne");
        for (int d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(ne, cJSON_CreateNumber((double)t->ne[d]));
        char *hex = spec_hex(t->data, t->size);
        cJSON_AddStringToObject(o, "hex", hex ? hex : "");
        free(hex);
        cJSON_AddItemToArray(ts, o);
    }
    int rc = spec_print(root);
    cJSON_Delete(root);
    bn_gguf_close(g);
    return rc;
}

/* ---- write ---------------------------------------------------------------------------- */

static bn_gguf_type type_from_name(const char *name) {
    for (int t = 0; t < BN_GGUF_TYPE_COUNT; t++)
        if (strcmp(bn_gguf_type_name((bn_gguf_type)t), name) == 0)
            return (bn_gguf_type)t;
    return BN_GGUF_TYPE_COUNT;
}

/* Free what parse_value allocated inside v. */
static void free_value(bn_gguf_value *v) {
    if (v->type == BN_GGUF_STRING) {
        free((void *)v->str.data);
    } else if (v->type == BN_GGUF_ARRAY) {
        bn_gguf_value *items = (bn_gguf_value *)v->arr.items;
        for (uint64_t i = 0; items != NULL && i < v->arr.count; i++)
            free_value(&items[i]);
        free(items);
        free((void *)v->arr.raw);
    }
}

/* Parse a spec value into v (malloc'd parts: free with free_value). Returns 0 on success. */
static int parse_value(const cJSON *o, bn_gguf_value *v) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(o, "type"));
    if (type == NULL)
        return 1;
    v->type = type_from_name(type);
    if (v->type == BN_GGUF_ARRAY) {
        const cJSON *items = cJSON_GetObjectItem(o, "items");
        bn_gguf_type elem = type_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(o, "elem")));
        int n = cJSON_GetArraySize(items);
        v->arr.type = elem;
        v->arr.count = (uint64_t)n;
        bn_gguf_value *parsed = calloc((size_t)n + 1, sizeof *parsed);
        v->arr.items = parsed; /* owned by v from here, so free_value releases it on failure */
        for (int i = 0; i < n; i++)
            if (parse_value(cJSON_GetArrayItem(items, i), &parsed[i]) != 0)
                return 1;
        if (elem == BN_GGUF_STRING || elem == BN_GGUF_ARRAY)
            return 0;
        size_t size = bn_gguf_type_size(elem);
        uint8_t *raw = calloc((size_t)n + 1, size);
        for (int i = 0; i < n; i++) {
            const bn_gguf_value *p = &parsed[i];
            uint8_t *dst = raw + (size_t)i * size;
            if (elem == BN_GGUF_F32) {
                float f = (float)p->f64;
                memcpy(dst, &f, 4);
            } else if (elem == BN_GGUF_F64) {
                memcpy(dst, &p->f64, 8);
            } else if (elem == BN_GGUF_BOOL) {
                *dst = p->b;
            } else { /* integers: little-endian low bytes of the widened value */
                uint64_t u = p->u64;
                memcpy(dst, &u, size);
            }
        }
        for (int i = 0; i < n; i++)
            free_value(&parsed[i]);
        free(parsed);
        v->arr.items = NULL;
        v->arr.raw = raw;
        return 0;
    }
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(o, "value"));
    if (text == NULL)
        return 1;
    switch (v->type) {
    case BN_GGUF_U8:
    case BN_GGUF_U16:
    case BN_GGUF_U32:
    case BN_GGUF_U64:
        v->u64 = strtoull(text, NULL, 10);
        return 0;
    case BN_GGUF_I8:
    case BN_GGUF_I16:
    case BN_GGUF_I32:
    case BN_GGUF_I64:
        v->i64 = strtoll(text, NULL, 10);
        return 0;
    case BN_GGUF_F32:
    case BN_GGUF_F64:
        v->f64 = strtod(text, NULL);
        return 0;
    case BN_GGUF_BOOL:
        v->b = strcmp(text, "true") == 0;
        return 0;
    case BN_GGUF_STRING: {
        size_t n = 0;
        uint8_t *bytes = spec_unhex(text, &n);
        if (bytes == NULL)
            return 1;
        bytes[n] = '\0';
        v->str.data = (const char *)bytes;
        v->str.len = n;
        return 0;
    }
    default:
        return 1;
    }
}

static int fail(bn_gguf_writer *w) {
    fprintf(stderr, "gguf_tool: %s\n", bn_last_error());
    bn_gguf_writer_abort(w);
    return 1;
}

static int write_spec(const char *spec_path, const char *out) {
    size_t n;
    char *text = spec_read_file(spec_path, &n);
    cJSON *spec = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (spec == NULL) {
        fprintf(stderr, "gguf_tool: cannot read spec %s\n", spec_path);
        return 1;
    }
    const cJSON *align = cJSON_GetObjectItem(spec, "alignment");
    bn_gguf_writer *w = NULL;
    if (bn_gguf_writer_create(&w, out, align ? (uint32_t)align->valuedouble : 0) != BN_OK)
        return fail(NULL);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(spec, "kv")) {
        bn_gguf_value v;
        memset(&v, 0, sizeof v);
        if (parse_value(kv, &v) != 0) {
            fprintf(stderr, "gguf_tool: bad value in spec\n");
            free_value(&v);
            bn_gguf_writer_abort(w);
            return 1;
        }
        bn_status st =
            bn_gguf_writer_set(w, cJSON_GetStringValue(cJSON_GetObjectItem(kv, "key")), &v);
        free_value(&v);
        if (st != BN_OK)
            return fail(w);
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(spec, "tensors")) {
        uint64_t ne[BN_GGUF_MAX_DIMS];
        int nd = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "ne")) {
            if (nd < BN_GGUF_MAX_DIMS)
                ne[nd] = (uint64_t)d->valuedouble;
            nd++;
        }
        size_t bytes = strlen(cJSON_GetStringValue(cJSON_GetObjectItem(t, "hex"))) / 2;
        if (bn_gguf_writer_add_tensor(w, cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")),
                                      (uint32_t)cJSON_GetObjectItem(t, "ggml_type")->valuedouble,
                                      nd, ne, bytes) != BN_OK)
            return fail(w);
    }
    if (bn_gguf_writer_begin_data(w) != BN_OK)
        return fail(w);
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(spec, "tensors")) {
        size_t bytes = 0;
        uint8_t *data = spec_unhex(cJSON_GetStringValue(cJSON_GetObjectItem(t, "hex")), &bytes);
        bn_status st = bn_gguf_writer_write(w, data, bytes);
        free(data);
        if (st != BN_OK)
            return fail(w);
    }
    cJSON_Delete(spec);
    if (bn_gguf_writer_finish(w) != BN_OK) {
        fprintf(stderr, "gguf_tool: %s\n", bn_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "dump") == 0)
        return dump(argv[2]);
    if (argc == 4 && strcmp(argv[1], "write") == 0)
        return write_spec(argv[2], argv[3]);
    fprintf(stderr, "usage: gguf_tool dump FILE | gguf_tool write SPEC.json OUT.gguf\n");
    return 2;
}
