/*
 * gguf_write.c - the streaming GGUF writer (version 3, little-endian).
 *
 * Metadata and tensor infos stay in memory until begin_data, because the header needs their
 * counts and every tensor's offset; tensor bytes then stream straight to the file through a
 * large stdio buffer. Everything goes to a temporary file beside the target (io/outfile.h: same
 * directory, so the final rename is atomic; symbolic links followed; only regular files
 * replaced) which only a successful finish renames into place. A memory writer puts the file in
 * anonymous pages instead, sized exactly at begin_data, for a loader that converts on the fly.
 *
 * The first failure poisons the writer: the temporary file is removed at once and every later
 * call, finish included, fails with the first error. A caller that misses one error still
 * cannot publish a file with a tensor missing.
 *
 * The writer checks what it is given as strictly as the reader checks files (value types,
 * integer ranges, nesting, names, shapes, byte counts), so it never writes a file the reader
 * would refuse.
 */
#include "io/gguf.h"

#include "base/alloc.h"
#include "io/outfile.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_BUFFER_BYTES ((size_t)1 << 20)

typedef struct wkv {
    char *key;
    bn_gguf_value value; /* a deep copy owned by the writer */
} wkv;

typedef struct wtensor {
    char name[BN_GGUF_MAX_NAME + 1];
    uint32_t ggml_type;
    int n_dims;
    uint64_t ne[BN_GGUF_MAX_DIMS];
    size_t nbytes;
    uint64_t offset; /* relative to the data section, a multiple of the alignment */
} wtensor;

struct bn_gguf_writer {
    char *path;     /* as the caller named it, for messages */
    bn_outfile out; /* the temporary file (file writers) */
    FILE *fp;       /* over out.fd */
    char *buffer;   /* fp's stdio buffer; freed only after fp is closed */
    bool memory;    /* a memory writer: bytes go to mem instead */
    uint8_t *mem;   /* the header while it grows (malloc), then the whole file (pages) */
    size_t mem_cap;
    uint32_t alignment;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    bool data_started;
    uint64_t pos;         /* bytes written to the file so far */
    uint64_t data_offset; /* file offset of the data section, set by begin_data */
    uint64_t data_total;  /* sum of the tensors' nbytes */
    uint64_t data_done;   /* tensor bytes written so far */
    size_t cur;           /* tensor being written */
    size_t cur_done;      /* its bytes so far */
    bn_status failed;     /* the first failure, BN_OK while healthy */
    char why[512];        /* its message */
};

/* ---- failure handling ------------------------------------------------------------------- */

static void free_memory(bn_gguf_writer *w) {
    if (w->data_started)
        bn_pages_free(w->mem, w->mem_cap);
    else
        free(w->mem);
    w->mem = NULL;
    w->mem_cap = 0;
}

static void discard_temp(bn_gguf_writer *w) {
    if (w->fp != NULL) {
        fclose(w->fp);
        w->fp = NULL;
        w->out.fd = -1; /* fclose closed it */
    }
    bn_outfile_discard(&w->out);
    free_memory(w);
}

/* Record the first failure (its message is already set) and remove the temporary file. */
static bn_status poison(bn_gguf_writer *w, bn_status code) {
    if (code == BN_OK)
        return BN_OK;
    if (w->failed == BN_OK) {
        w->failed = code;
        snprintf(w->why, sizeof w->why, "%s", bn_last_error());
    }
    discard_temp(w);
    return code;
}

static bn_status usable(const bn_gguf_writer *w) {
    if (w == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF writer: NULL writer");
    if (w->failed != BN_OK)
        return BN_ERROR(w->failed, "%s: not written: an earlier call failed: %s", w->path, w->why);
    return BN_OK;
}

/* ---- value copies ----------------------------------------------------------------------- */

static void free_value(bn_gguf_value *v);

static void free_items(bn_gguf_value *items, uint64_t count) {
    for (uint64_t i = 0; items != NULL && i < count; i++)
        free_value(&items[i]);
    free(items);
}

static void free_value(bn_gguf_value *v) {
    if (v->type == BN_GGUF_STRING)
        free((void *)v->str.data);
    else if (v->type == BN_GGUF_ARRAY && bn_gguf_type_size(v->arr.type) != 0)
        free((void *)v->arr.raw);
    else if (v->type == BN_GGUF_ARRAY)
        free_items((bn_gguf_value *)v->arr.items, v->arr.count);
    v->type = BN_GGUF_U8;
}

/* Integers must fit their declared width and an f32 must be representable as a float. */
static bn_status check_scalar(const char *key, const bn_gguf_value *v) {
    static const struct {
        int64_t lo;
        uint64_t hi;
    } limits[BN_GGUF_TYPE_COUNT] = {
        [BN_GGUF_U8] = {0, UINT8_MAX},          [BN_GGUF_U16] = {0, UINT16_MAX},
        [BN_GGUF_U32] = {0, UINT32_MAX},        [BN_GGUF_I8] = {INT8_MIN, INT8_MAX},
        [BN_GGUF_I16] = {INT16_MIN, INT16_MAX}, [BN_GGUF_I32] = {INT32_MIN, INT32_MAX},
    };
    switch (v->type) {
    case BN_GGUF_U8:
    case BN_GGUF_U16:
    case BN_GGUF_U32:
        if (v->u64 > limits[v->type].hi)
            return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': %" PRIu64 " does not fit %s", key, v->u64,
                            bn_gguf_type_name(v->type));
        return BN_OK;
    case BN_GGUF_I8:
    case BN_GGUF_I16:
    case BN_GGUF_I32:
        if (v->i64 < limits[v->type].lo || v->i64 > (int64_t)limits[v->type].hi)
            return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': %" PRId64 " does not fit %s", key, v->i64,
                            bn_gguf_type_name(v->type));
        return BN_OK;
    case BN_GGUF_F32:
        if (isfinite(v->f64) && fabs(v->f64) > FLT_MAX)
            return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': %g does not fit f32", key, v->f64);
        return BN_OK;
    default:
        return BN_OK;
    }
}

static bn_status copy_bytes(const char *key, const void *src, size_t n, size_t extra, void **out) {
    if (n > SIZE_MAX - extra)
        return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': value of %zu bytes is too large", key, n);
    uint8_t *p = malloc(n + extra == 0 ? 1 : n + extra);
    if (p == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF key '%s': no memory for %zu bytes", key, n);
    if (n != 0)
        memcpy(p, src, n);
    memset(p + n, 0, extra);
    *out = p;
    return BN_OK;
}

static bn_status copy_value(const char *key, const bn_gguf_value *src, int depth,
                            bn_gguf_value *dst);

static bn_status copy_fixed_elems(const char *key, const bn_gguf_array *a, bn_gguf_array *dst) {
    size_t esize = bn_gguf_type_size(a->type);
    if (a->count != 0 && a->raw == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF key '%s': array of %" PRIu64 " has no data", key,
                        a->count);
    if (a->count > SIZE_MAX / esize)
        return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': array of %" PRIu64 " %s is too large", key,
                        a->count, bn_gguf_type_name(a->type));
    const uint8_t *raw = a->raw;
    for (uint64_t i = 0; a->type == BN_GGUF_BOOL && i < a->count; i++)
        if (raw[i] > 1)
            return BN_ERROR(BN_ERR_INVALID_ARG,
                            "GGUF key '%s': bool array element %" PRIu64 " is %u (must be 0 or 1)",
                            key, i, raw[i]);
    void *copy;
    BN_TRY(copy_bytes(key, raw, (size_t)a->count * esize, 0, &copy));
    dst->raw = copy;
    return BN_OK;
}

static bn_status copy_item_elems(const char *key, const bn_gguf_array *a, int depth,
                                 bn_gguf_array *dst) {
    if (a->count == 0)
        return BN_OK;
    if (a->items == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF key '%s': array of %" PRIu64 " has no items", key,
                        a->count);
    if (a->count > SIZE_MAX / sizeof(bn_gguf_value))
        return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': array of %" PRIu64 " is too large", key,
                        a->count);
    bn_gguf_value *items = calloc((size_t)a->count, sizeof *items); /* zeroed: type u8 */
    if (items == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF key '%s': no memory for %" PRIu64 " items", key,
                        a->count);
    for (uint64_t i = 0; i < a->count; i++) {
        bn_status st =
            a->items[i].type == a->type
                ? copy_value(key, &a->items[i], depth, &items[i])
                : BN_ERROR(BN_ERR_INVALID_ARG,
                           "GGUF key '%s': item %" PRIu64 " has type %s in an array "
                           "of %s",
                           key, i, bn_gguf_type_name(a->items[i].type), bn_gguf_type_name(a->type));
        if (st != BN_OK) {
            free_items(items, a->count);
            return st;
        }
    }
    dst->items = items;
    return BN_OK;
}

/* depth counts arrays from 1, as the reader does. */
static bn_status copy_array(const char *key, const bn_gguf_array *a, int depth,
                            bn_gguf_array *dst) {
    if (depth > BN_GGUF_MAX_NESTING)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF key '%s': arrays nested %d deep (at most %d)",
                        key, depth, BN_GGUF_MAX_NESTING);
    if ((int)a->type < 0 || a->type >= BN_GGUF_TYPE_COUNT)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "GGUF key '%s': array element type %d is not a GGUF "
                        "type",
                        key, (int)a->type);
    *dst = (bn_gguf_array){.type = a->type, .count = a->count};
    if (bn_gguf_type_size(a->type) != 0)
        return copy_fixed_elems(key, a, dst);
    return copy_item_elems(key, a, depth, dst);
}

/* Deep-copy src into *dst; *dst is written only on success. */
static bn_status copy_value(const char *key, const bn_gguf_value *src, int depth,
                            bn_gguf_value *dst) {
    bn_gguf_value v = *src;
    if ((int)v.type < 0 || v.type >= BN_GGUF_TYPE_COUNT)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF key '%s': value type %d is not a GGUF type", key,
                        (int)v.type);
    if (v.type == BN_GGUF_STRING) {
        if (v.str.data == NULL && v.str.len != 0)
            return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF key '%s': string has no data", key);
        if (v.str.len > SIZE_MAX)
            return BN_ERROR(BN_ERR_RANGE, "GGUF key '%s': string too long", key);
        void *copy;
        BN_TRY(copy_bytes(key, v.str.data, (size_t)v.str.len, 1, &copy));
        v.str.data = copy;
    } else if (v.type == BN_GGUF_ARRAY) {
        BN_TRY(copy_array(key, &src->arr, depth + 1, &v.arr));
    } else {
        BN_TRY(check_scalar(key, &v));
    }
    *dst = v;
    return BN_OK;
}

/* ---- metadata and tensor infos ---------------------------------------------------------- */

/* general.alignment is written from the alignment given at create; a caller may set it only to
 * the same value, as a u32, so the file cannot claim one alignment and use another. */
static bn_status check_alignment_key(const bn_gguf_writer *w, const char *key,
                                     const bn_gguf_value *v) {
    if (strcmp(key, "general.alignment") != 0)
        return BN_OK;
    if (v->type != BN_GGUF_U32 || v->u64 != w->alignment)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: general.alignment must be the u32 %u given to "
                        "bn_gguf_writer_create",
                        w->path, w->alignment);
    return BN_OK;
}

static bn_status grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap)
        return BN_OK;
    size_t new_cap = *cap ? *cap * 2 : 16;
    if (new_cap > SIZE_MAX / elem)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF writer: table too large");
    void *p = realloc(*arr, new_cap * elem);
    if (p == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for %zu entries", new_cap);
    *arr = p;
    *cap = new_cap;
    return BN_OK;
}

static bn_status set_value(bn_gguf_writer *w, const char *key, const bn_gguf_value *v) {
    if (key == NULL || v == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: bn_gguf_writer_set: NULL argument", w->path);
    if (w->data_started)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: key '%s' set after begin_data", w->path, key);
    size_t klen = strlen(key);
    if (klen > BN_GGUF_MAX_KEY)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: key of %zu bytes (at most %d)", w->path, klen,
                        BN_GGUF_MAX_KEY);
    BN_TRY(check_alignment_key(w, key, v));
    bn_gguf_value copy;
    BN_TRY(copy_value(key, v, 0, &copy));
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free_value(&w->kv[i].value);
            w->kv[i].value = copy;
            return BN_OK;
        }
    }
    void *key_copy = NULL;
    bn_status st = grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv);
    if (st == BN_OK)
        st = copy_bytes(key, key, klen, 1, &key_copy);
    if (st != BN_OK) {
        free_value(&copy);
        return st;
    }
    w->kv[w->n_kv++] = (wkv){.key = key_copy, .value = copy};
    return BN_OK;
}

static bn_status check_shape(const bn_gguf_writer *w, const char *name, int n_dims,
                             const uint64_t *ne, uint64_t *numel) {
    if (n_dims < 1 || n_dims > BN_GGUF_MAX_DIMS)
        return BN_ERROR(BN_ERR_SHAPE, "%s: tensor '%s': n_dims %d (must be 1..%d)", w->path, name,
                        n_dims, BN_GGUF_MAX_DIMS);
    if (ne == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: tensor '%s': NULL dims", w->path, name);
    *numel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] == 0)
            return BN_ERROR(BN_ERR_SHAPE, "%s: tensor '%s': dims[%d] = 0 (must be > 0)", w->path,
                            name, d);
        if (ne[d] > (uint64_t)INT64_MAX / *numel)
            return BN_ERROR(BN_ERR_RANGE, "%s: tensor '%s': element count overflows int64", w->path,
                            name);
        *numel *= ne[d];
    }
    return BN_OK;
}

/* The type must be one we know, and nbytes what that type and shape take. */
static bn_status check_tensor_bytes(const bn_gguf_writer *w, const char *name, uint32_t type,
                                    const uint64_t *ne, uint64_t numel, size_t nbytes) {
    bn_dtype dt;
    if (type > (uint32_t)INT32_MAX || bn_dtype_from_gguf((int)type, &dt) != BN_OK)
        return BN_ERROR(BN_ERR_DTYPE, "%s: tensor '%s': ggml type %u is not one BitNet-C writes",
                        w->path, name, type);
    const bn_dtype_traits *tr = bn_dtype_get(dt);
    if (tr->ternary_bytes == NULL && ne[0] % (uint64_t)tr->block_size != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s: tensor '%s': dims[0] = %" PRIu64 " is not a multiple of the %s "
                        "block size %" PRId64,
                        w->path, name, ne[0], tr->name, tr->block_size);
    size_t want;
    BN_TRY(bn_dtype_tensor_bytes(dt, (int64_t)ne[0], (int64_t)numel, &want));
    if (nbytes != want)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s: tensor '%s': nbytes %zu, but %" PRIu64 " %s values take %zu bytes",
                        w->path, name, nbytes, numel, tr->name, want);
    return BN_OK;
}

static bn_status add_tensor(bn_gguf_writer *w, const char *name, uint32_t type, int n_dims,
                            const uint64_t *ne, size_t nbytes) {
    if (name == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: add_tensor: NULL name", w->path);
    if (w->data_started)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: tensor '%s' added after begin_data", w->path,
                        name);
    if (strlen(name) > BN_GGUF_MAX_NAME)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: tensor name '%.64s...' is %zu bytes (at most %d)",
                        w->path, name, strlen(name), BN_GGUF_MAX_NAME);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return BN_ERROR(BN_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", w->path, name);
    uint64_t numel = 0;
    BN_TRY(check_shape(w, name, n_dims, ne, &numel));
    BN_TRY(check_tensor_bytes(w, name, type, ne, numel, nbytes));
    uint64_t offset = 0;
    if (w->n_tensors > 0) {
        const wtensor *prev = &w->tensors[w->n_tensors - 1];
        uint64_t end = prev->offset + prev->nbytes;
        offset = end < prev->offset ? 0 : bn_align_up(end, w->alignment);
        if (offset == 0 || w->data_total > UINT64_MAX - nbytes)
            return BN_ERROR(BN_ERR_RANGE, "%s: tensor '%s': data section too large", w->path, name);
    }
    BN_TRY(grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors));
    wtensor *t = &w->tensors[w->n_tensors++];
    *t = (wtensor){.ggml_type = type, .n_dims = n_dims, .nbytes = nbytes, .offset = offset};
    snprintf(t->name, sizeof t->name, "%s", name);
    for (int d = 0; d < BN_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    w->data_total += nbytes;
    return BN_OK;
}

/* ---- byte output ------------------------------------------------------------------------ */

/* Memory writers: the header grows by doubling; from begin_data on, mem holds the whole file
 * (sized then), so a write past its end is a bug. */
static bn_status mem_bytes(bn_gguf_writer *w, const void *p, size_t n) {
    if (n > w->mem_cap - w->pos) {
        if (w->data_started)
            return BN_ERROR(BN_ERR_INTERNAL, "%s: write past the file's end", w->path);
        size_t cap = w->mem_cap ? w->mem_cap : 4096;
        while (cap - w->pos < n)
            cap *= 2;
        uint8_t *m = realloc(w->mem, cap);
        if (m == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: a header of %zu bytes", w->path, cap);
        w->mem = m;
        w->mem_cap = cap;
    }
    memcpy(w->mem + w->pos, p, n);
    return BN_OK;
}

static bn_status wbytes(bn_gguf_writer *w, const void *p, size_t n) {
    if (n == 0)
        return BN_OK;
    if (w->memory)
        BN_TRY(mem_bytes(w, p, n));
    else if (fwrite(p, 1, n, w->fp) != n)
        return BN_ERROR(BN_ERR_IO, "%s: write failed at byte %" PRIu64 ": %s", w->out.tmp, w->pos,
                        strerror(errno));
    w->pos += n;
    return BN_OK;
}

static bn_status wuint(bn_gguf_writer *w, uint64_t v, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return wbytes(w, b, n);
}

static bn_status wstr(bn_gguf_writer *w, const char *s, uint64_t len) {
    BN_TRY(wuint(w, len, 8));
    return wbytes(w, s, (size_t)len);
}

/* Zeros up to the next multiple of the alignment. */
static bn_status wpad(bn_gguf_writer *w) {
    static const uint8_t zeros[256];
    uint64_t n = (w->alignment - w->pos % w->alignment) % w->alignment;
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        BN_TRY(wbytes(w, zeros, k));
        n -= k;
    }
    return BN_OK;
}

static bn_status write_array(bn_gguf_writer *w, const bn_gguf_array *a);

/* A value body (no type tag): scalars in their declared width, strings, arrays. */
static bn_status write_value(bn_gguf_writer *w, const bn_gguf_value *v) {
    size_t n = bn_gguf_type_size(v->type);
    float f;
    uint32_t f_bits;
    uint64_t bits;
    switch (v->type) {
    case BN_GGUF_STRING:
        return wstr(w, v->str.data, v->str.len);
    case BN_GGUF_ARRAY:
        return write_array(w, &v->arr);
    case BN_GGUF_BOOL:
        return wuint(w, v->b ? 1 : 0, 1);
    case BN_GGUF_F32:
        f = (float)v->f64; /* range checked when the value was set */
        memcpy(&f_bits, &f, sizeof f_bits);
        return wuint(w, f_bits, 4);
    case BN_GGUF_F64:
        memcpy(&bits, &v->f64, sizeof bits);
        return wuint(w, bits, 8);
    case BN_GGUF_I8:
    case BN_GGUF_I16:
    case BN_GGUF_I32:
    case BN_GGUF_I64:
        return wuint(w, (uint64_t)v->i64, n); /* two's complement, low bytes */
    default:
        return wuint(w, v->u64, n);
    }
}

static bn_status write_array(bn_gguf_writer *w, const bn_gguf_array *a) {
    BN_TRY(wuint(w, (uint64_t)a->type, 4));
    BN_TRY(wuint(w, a->count, 8));
    size_t esize = bn_gguf_type_size(a->type);
    if (esize != 0)
        return wbytes(w, a->raw, (size_t)a->count * esize);
    for (uint64_t i = 0; i < a->count; i++)
        BN_TRY(write_value(w, &a->items[i]));
    return BN_OK;
}

static bn_status write_infos(bn_gguf_writer *w) {
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        BN_TRY(wstr(w, t->name, strlen(t->name)));
        BN_TRY(wuint(w, (uint64_t)t->n_dims, 4));
        for (int d = 0; d < t->n_dims; d++)
            BN_TRY(wuint(w, t->ne[d], 8));
        BN_TRY(wuint(w, t->ggml_type, 4));
        BN_TRY(wuint(w, t->offset, 8));
    }
    return BN_OK;
}

/* A non-default alignment must be recorded. It goes after the caller's keys, unless the caller
 * set it already (then it stays where the caller put it). */
static bn_status record_alignment(bn_gguf_writer *w) {
    if (w->alignment == BN_GGUF_DEFAULT_ALIGNMENT)
        return BN_OK;
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0)
            return BN_OK;
    bn_gguf_value v = {.type = BN_GGUF_U32, .u64 = w->alignment};
    return set_value(w, "general.alignment", &v);
}

/* The file's final size, once the header's is known. */
static uint64_t file_end(const bn_gguf_writer *w) {
    uint64_t end = w->data_offset;
    if (w->n_tensors > 0) {
        const wtensor *last = &w->tensors[w->n_tensors - 1];
        end += bn_align_up(last->offset + last->nbytes, w->alignment);
    }
    return end;
}

/* A memory writer moves its header into pages that hold the whole file. */
static bn_status size_memory(bn_gguf_writer *w) {
    uint64_t end = file_end(w);
    if (end > SIZE_MAX)
        return BN_ERROR(BN_ERR_RANGE, "%s: %" PRIu64 " bytes do not fit in memory", w->path, end);
    uint8_t *pages = bn_pages_alloc((size_t)end);
    if (pages == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: a GGUF of %" PRIu64 " bytes in memory", w->path,
                        end);
    memcpy(pages, w->mem, (size_t)w->pos);
    free(w->mem);
    w->mem = pages;
    w->mem_cap = (size_t)end;
    return BN_OK;
}

static bn_status begin_data(bn_gguf_writer *w) {
    if (w->data_started)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: begin_data called twice", w->path);
    BN_TRY(record_alignment(w));
    BN_TRY(wuint(w, BN_GGUF_MAGIC, 4));
    BN_TRY(wuint(w, 3, 4));
    BN_TRY(wuint(w, w->n_tensors, 8));
    BN_TRY(wuint(w, w->n_kv, 8));
    for (size_t i = 0; i < w->n_kv; i++) {
        BN_TRY(wstr(w, w->kv[i].key, strlen(w->kv[i].key)));
        BN_TRY(wuint(w, (uint64_t)w->kv[i].value.type, 4));
        BN_TRY(write_value(w, &w->kv[i].value));
    }
    BN_TRY(write_infos(w));
    BN_TRY(wpad(w));
    w->data_offset = w->pos;
    if (w->memory)
        BN_TRY(size_memory(w));
    w->data_started = true;
    return BN_OK;
}

/* A tensor is complete: pad so the next one starts at its recorded offset. */
static bn_status end_tensor(bn_gguf_writer *w) {
    BN_TRY(wpad(w));
    w->cur++;
    w->cur_done = 0;
    if (w->cur < w->n_tensors && w->pos - w->data_offset != w->tensors[w->cur].offset)
        return BN_ERROR(BN_ERR_INTERNAL, "%s: tensor '%s' would start at %" PRIu64 ", not %" PRIu64,
                        w->path, w->tensors[w->cur].name, w->pos - w->data_offset,
                        w->tensors[w->cur].offset);
    return BN_OK;
}

static bn_status write_data(bn_gguf_writer *w, const void *data, size_t bytes) {
    if (!w->data_started)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: tensor data written before begin_data", w->path);
    if (bytes == 0)
        return BN_OK;
    if (data == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: NULL tensor data", w->path);
    if (bytes > w->data_total - w->data_done)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: write of %zu bytes, but only %" PRIu64 " bytes of tensor data "
                        "remain",
                        w->path, bytes, w->data_total - w->data_done);
    const uint8_t *p = data;
    while (bytes > 0) {
        const wtensor *t = &w->tensors[w->cur];
        size_t n = t->nbytes - w->cur_done < bytes ? t->nbytes - w->cur_done : bytes;
        BN_TRY(wbytes(w, p, n));
        p += n;
        bytes -= n;
        w->cur_done += n;
        w->data_done += n;
        if (w->cur_done == t->nbytes)
            BN_TRY(end_tensor(w));
    }
    return BN_OK;
}

/* ---- file handling ---------------------------------------------------------------------- */

static bn_status open_temp(bn_gguf_writer *w, const char *path) {
    if ((w->path = strdup(path)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for a GGUF writer", path);
    if (w->memory)
        return BN_OK;
    if ((w->buffer = malloc(WRITE_BUFFER_BYTES)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for a GGUF writer", path);
    BN_TRY(bn_outfile_open(&w->out, path));
    w->fp = fdopen(w->out.fd, "wb");
    if (w->fp == NULL)
        return BN_ERROR(BN_ERR_IO, "%s: fdopen: %s", w->out.tmp, strerror(errno));
    setvbuf(w->fp, w->buffer, _IOFBF, WRITE_BUFFER_BYTES);
    return BN_OK;
}

static bn_status finish(bn_gguf_writer *w) {
    if (!w->data_started)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: finish called before begin_data", w->path);
    if (w->cur < w->n_tensors)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: tensor '%s' got %zu of its %zu bytes (%" PRIu64 " of %" PRIu64
                        " tensor data bytes written)",
                        w->path, w->tensors[w->cur].name, w->cur_done, w->tensors[w->cur].nbytes,
                        w->data_done, w->data_total);
    uint64_t end = file_end(w);
    if (w->pos != end)
        return BN_ERROR(BN_ERR_INTERNAL, "%s: wrote %" PRIu64 " bytes, expected %" PRIu64, w->path,
                        w->pos, end);
    if (w->memory)
        return BN_OK;
    if (fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0)
        return BN_ERROR(BN_ERR_IO, "%s: write failed: %s", w->out.tmp, strerror(errno));
    FILE *fp = w->fp;
    w->fp = NULL;
    w->out.fd = -1; /* fclose closes it */
    if (fclose(fp) != 0)
        return BN_ERROR(BN_ERR_IO, "%s: cannot close: %s", w->out.tmp, strerror(errno));
    return bn_outfile_commit(&w->out);
}

static void free_writer(bn_gguf_writer *w) {
    discard_temp(w); /* closes fp before its buffer goes */
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free_value(&w->kv[i].value);
    }
    free(w->kv);
    free(w->tensors);
    free(w->buffer);
    free(w->path);
    free(w);
}

/* ---- public entry points ---------------------------------------------------------------- */

static bn_status create(bn_gguf_writer **out, const char *path, uint32_t alignment, bool memory) {
    if (out == NULL || path == NULL || path[0] == '\0')
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_gguf_writer_create: NULL or empty argument");
    *out = NULL;
    alignment = alignment == 0 ? BN_GGUF_DEFAULT_ALIGNMENT : alignment;
    if (alignment < 8 || (alignment & (alignment - 1)) != 0)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: alignment %u (must be 0 for the default %d, or a power of two >= 8)",
                        path, alignment, BN_GGUF_DEFAULT_ALIGNMENT);
    bn_gguf_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for a GGUF writer", path);
    w->alignment = alignment;
    w->memory = memory;
    w->out = (bn_outfile){.fd = -1, .slot = -1};
    bn_status st = open_temp(w, path);
    if (st != BN_OK) {
        free_writer(w);
        return st;
    }
    *out = w;
    return BN_OK;
}

bn_status bn_gguf_writer_create(bn_gguf_writer **out, const char *path, uint32_t alignment) {
    return create(out, path, alignment, false);
}

bn_status bn_gguf_writer_create_memory(bn_gguf_writer **out, const char *name, uint32_t alignment) {
    return create(out, name, alignment, true);
}

bn_status bn_gguf_writer_set(bn_gguf_writer *w, const char *key, const bn_gguf_value *v) {
    BN_TRY(usable(w));
    return poison(w, set_value(w, key, v));
}

bn_status bn_gguf_writer_set_u32(bn_gguf_writer *w, const char *key, uint32_t v) {
    bn_gguf_value val = {.type = BN_GGUF_U32, .u64 = v};
    return bn_gguf_writer_set(w, key, &val);
}

bn_status bn_gguf_writer_set_i32(bn_gguf_writer *w, const char *key, int32_t v) {
    bn_gguf_value val = {.type = BN_GGUF_I32, .i64 = v};
    return bn_gguf_writer_set(w, key, &val);
}

bn_status bn_gguf_writer_set_f32(bn_gguf_writer *w, const char *key, float v) {
    bn_gguf_value val = {.type = BN_GGUF_F32, .f64 = v};
    return bn_gguf_writer_set(w, key, &val);
}

bn_status bn_gguf_writer_set_bool(bn_gguf_writer *w, const char *key, bool v) {
    bn_gguf_value val = {.type = BN_GGUF_BOOL, .b = v};
    return bn_gguf_writer_set(w, key, &val);
}

bn_status bn_gguf_writer_set_str(bn_gguf_writer *w, const char *key, const char *v) {
    if (v == NULL)
        return bn_gguf_writer_set(w, key, NULL);
    bn_gguf_value val = {.type = BN_GGUF_STRING, .str = {v, strlen(v)}};
    return bn_gguf_writer_set(w, key, &val);
}

bn_status bn_gguf_writer_set_arr(bn_gguf_writer *w, const char *key, bn_gguf_type elem_type,
                                 const void *raw, uint64_t count) {
    bn_gguf_value val = {.type = BN_GGUF_ARRAY, .arr = {elem_type, count, raw, NULL}};
    return bn_gguf_writer_set(w, key, &val);
}

/* Items pointing at the caller's strings; set deep-copies them. */
static bn_status set_arr_str(bn_gguf_writer *w, const char *key, const char *const *strs,
                             uint64_t count) {
    if (count != 0 && strs == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: key '%s': NULL string array", w->path,
                        key ? key : "(null)");
    if (count > SIZE_MAX / sizeof(bn_gguf_value))
        return BN_ERROR(BN_ERR_RANGE, "%s: key '%s': too many strings", w->path,
                        key ? key : "(null)");
    for (uint64_t i = 0; i < count; i++)
        if (strs[i] == NULL)
            return BN_ERROR(BN_ERR_INVALID_ARG, "%s: key '%s': string %" PRIu64 " is NULL", w->path,
                            key ? key : "(null)", i);
    bn_gguf_value *items = calloc(count ? (size_t)count : 1, sizeof *items);
    if (items == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %" PRIu64 " strings", w->path,
                        count);
    for (uint64_t i = 0; i < count; i++)
        items[i] = (bn_gguf_value){.type = BN_GGUF_STRING, .str = {strs[i], strlen(strs[i])}};
    bn_gguf_value val = {.type = BN_GGUF_ARRAY, .arr = {BN_GGUF_STRING, count, NULL, items}};
    bn_status st = set_value(w, key, &val);
    free(items);
    return st;
}

bn_status bn_gguf_writer_set_arr_str(bn_gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t count) {
    BN_TRY(usable(w));
    return poison(w, set_arr_str(w, key, strs, count));
}

bn_status bn_gguf_writer_add_tensor(bn_gguf_writer *w, const char *name, uint32_t ggml_type,
                                    int n_dims, const uint64_t *ne, size_t nbytes) {
    BN_TRY(usable(w));
    return poison(w, add_tensor(w, name, ggml_type, n_dims, ne, nbytes));
}

bn_status bn_gguf_writer_begin_data(bn_gguf_writer *w) {
    BN_TRY(usable(w));
    return poison(w, begin_data(w));
}

bn_status bn_gguf_writer_write(bn_gguf_writer *w, const void *data, size_t bytes) {
    BN_TRY(usable(w));
    return poison(w, write_data(w, data, bytes));
}

bn_status bn_gguf_writer_finish(bn_gguf_writer *w) {
    bn_status st = usable(w);
    if (w == NULL)
        return st;
    if (st == BN_OK)
        st = poison(w, finish(w));
    free_writer(w);
    return st;
}

bn_status bn_gguf_writer_finish_memory(bn_gguf_writer *w, void **data, size_t *size) {
    *data = NULL;
    *size = 0;
    bn_status st = usable(w);
    if (w == NULL)
        return st;
    if (st == BN_OK && !w->memory)
        st = BN_ERROR(BN_ERR_INVALID_ARG, "%s: not a memory writer", w->path);
    if (st == BN_OK)
        st = poison(w, finish(w));
    if (st == BN_OK) { /* the pages are the caller's now */
        *data = w->mem;
        *size = w->mem_cap;
        w->mem = NULL;
        w->mem_cap = 0;
    }
    free_writer(w);
    return st;
}

void bn_gguf_writer_abort(bn_gguf_writer *w) {
    if (w != NULL)
        free_writer(w);
}
