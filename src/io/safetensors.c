/*
 * safetensors.c - the safetensors reader (single files, sharded folders, memory) and writer.
 *
 * The reader trusts nothing in the file. Before cJSON sees the header we check its length
 * against the file and its bytes for UTF-8 (upstream's rule); afterwards every tensor entry must
 * have exactly dtype/shape/data_offsets, every number must be an exact integer, and every byte
 * range must lie inside the data buffer, match dtype x shape, and not overlap another tensor.
 * Only then is a pointer into the mapping formed. Names and metadata strings are copied into
 * blocks owned by the handle (st->arena) so the cJSON tree can be freed at once.
 */
#include "io/safetensors.h"

#include "base/log.h"
#include "io/outfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* JSON numbers arrive as doubles; below 2^53 every integer is exact, above it they are not. */
#define ST_MAX_JSON_INT 9007199254740992.0
#define ST_INDEX_NAME   "model.safetensors.index.json"
#define ST_SINGLE_NAME  "model.safetensors"
#define ST_META_KEY     "__metadata__"

/* ---- dtypes ---------------------------------------------------------------------------------
 * rank is the dtype's position in upstream's Dtype enum, which is ordered by alignment. The
 * writer lays tensors out by descending rank, then name, exactly as the Python library does:
 * with contiguous offsets that is what keeps every tensor aligned to its element size. */
typedef struct st_dtype_row {
    const char *name;
    size_t size;
    int rank;
} st_dtype_row;

static const st_dtype_row st_dtypes[BN_ST_DTYPE_COUNT] = {
    [BN_ST_F64] = {"F64", 8, 12},  [BN_ST_F32] = {"F32", 4, 11}, [BN_ST_F16] = {"F16", 2, 7},
    [BN_ST_BF16] = {"BF16", 2, 8}, [BN_ST_I64] = {"I64", 8, 13}, [BN_ST_I32] = {"I32", 4, 9},
    [BN_ST_I16] = {"I16", 2, 5},   [BN_ST_I8] = {"I8", 1, 2},    [BN_ST_U8] = {"U8", 1, 1},
    [BN_ST_BOOL] = {"BOOL", 1, 0},
};

static bool st_dtype_valid(bn_st_dtype t) {
    return (int)t >= 0 && t < BN_ST_DTYPE_COUNT;
}

const char *bn_st_dtype_name(bn_st_dtype t) {
    return st_dtype_valid(t) ? st_dtypes[t].name : "?";
}

size_t bn_st_dtype_size(bn_st_dtype t) {
    return st_dtype_valid(t) ? st_dtypes[t].size : 0;
}

/* The dtype called name, or BN_ST_DTYPE_COUNT. */
static bn_st_dtype st_dtype_lookup(const char *name) {
    int t = 0;
    while (t < BN_ST_DTYPE_COUNT && strcmp(name, st_dtypes[t].name) != 0)
        t++;
    return (bn_st_dtype)t;
}

bn_status bn_st_dtype_parse(const char *name, bn_st_dtype *out) {
    if (!name || !out)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_dtype_parse: NULL argument");
    bn_st_dtype t = st_dtype_lookup(name);
    if (t != BN_ST_DTYPE_COUNT) {
        *out = t;
        return BN_OK;
    }
    return BN_ERROR(BN_ERR_DTYPE,
                    "safetensors dtype '%s' is not supported (F64 F32 F16 BF16 I64 I32 I16 I8 "
                    "U8 BOOL are)",
                    name);
}

/* Element count then bytes, multiplying in file order with overflow checks as upstream does
 * (so [2^40, 2^40, 0] overflows even though its product is 0). */
static bool st_nbytes(bn_st_dtype dtype, const int64_t *shape, int n_dims, size_t *out) {
    uint64_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > UINT64_MAX / d)
            return false;
        n *= d;
    }
    uint64_t es = st_dtypes[dtype].size;
    if (n > UINT64_MAX / es || n * es > SIZE_MAX)
        return false;
    *out = (size_t)(n * es);
    return true;
}

static void st_shape_str(const int64_t *shape, int n_dims, char *buf, size_t cap) {
    size_t at = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n_dims && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
}

/* ---- header text ----------------------------------------------------------------------------- */

/* Length of the UTF-8 sequence at p, or 0 if malformed: overlong forms, surrogates and code
 * points above U+10FFFF are refused, as Rust's str::from_utf8 (upstream's check) refuses them. */
static size_t st_utf8_len(const uint8_t *p, size_t avail) {
    uint8_t c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* UTF-8, plus two things cJSON lets through that would corrupt names: raw control bytes (JSON
 * allows none outside whitespace) and the escape \u0000 (our names are C strings, so "a\u0000b"
 * would silently become "a"). In valid JSON a backslash only starts an escape. */
static bn_status st_check_text(const char *path, const char *what, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return BN_ERROR(BN_ERR_FORMAT, "%s: %s has a raw control byte 0x%02x at byte %zu", path,
                            what, c, i);
        if (c == '\\' && i + 1 < n && p[i + 1] < 0x80) {
            if (n - i >= 6 && memcmp(p + i + 1, "u0000", 5) == 0)
                return BN_ERROR(BN_ERR_FORMAT,
                                "%s: %s has \\u0000 at byte %zu (names are C strings)", path, what,
                                i);
            i += 2;
            continue;
        }
        size_t len = st_utf8_len(p + i, n - i);
        if (len == 0)
            return BN_ERROR(BN_ERR_FORMAT, "%s: %s is not valid UTF-8 at byte %zu", path, what, i);
        i += len;
    }
    return BN_OK;
}

/* Parse exactly len bytes as one JSON object; anything but whitespace after it is an error
 * (cJSON alone would stop at the end of the first value and ignore the rest). */
static bn_status st_parse_json(const char *path, const char *what, const uint8_t *text, size_t len,
                               cJSON **out) {
    *out = NULL;
    BN_TRY(st_check_text(path, what, text, len));
    const char *start = (const char *)text, *end = start;
    cJSON *root = cJSON_ParseWithLengthOpts(start, len, &end, false);
    size_t at = (end && end >= start) ? (size_t)(end - start) : 0;
    if (!root)
        return BN_ERROR(BN_ERR_FORMAT, "%s: %s is not valid JSON (error near byte %zu of %zu)",
                        path, what, at, len);
    for (size_t i = at; i < len; i++) {
        if (start[i] == '\0' || !strchr(" \t\r\n", start[i])) {
            cJSON_Delete(root);
            return BN_ERROR(BN_ERR_FORMAT, "%s: %s has bytes after its JSON value, at byte %zu",
                            path, what, i);
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return BN_ERROR(BN_ERR_FORMAT, "%s: %s is not a JSON object", path, what);
    }
    *out = root;
    return BN_OK;
}

static const char *st_json_kind(const cJSON *v) {
    return cJSON_IsString(v)   ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsArray(v)  ? "an array"
           : cJSON_IsObject(v) ? "an object"
           : cJSON_IsBool(v)   ? "a boolean"
                               : "null";
}

/* A JSON value as a short text for error messages. */
static const char *st_json_show(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsNumber(v))
        snprintf(buf, cap, "%.16g", v->valuedouble);
    else if (cJSON_IsString(v))
        snprintf(buf, cap, "\"%.40s\"", v->valuestring);
    else
        snprintf(buf, cap, "%s", st_json_kind(v));
    return buf;
}

/* An exact non-negative integer below 2^53; NaN fails the range test. */
static bool st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d < ST_MAX_JSON_INT) || d != floor(d))
        return false;
    *out = (uint64_t)d;
    return true;
}

/* ---- the handle ------------------------------------------------------------------------------ */

/* Owned strings live in a chain of blocks, one per parsed header, freed by bn_st_close. */
typedef struct st_block {
    struct st_block *next;
    char bytes[];
} st_block;

static char *st_arena_alloc(bn_safetensors *st, size_t n) {
    if (n > SIZE_MAX - sizeof(st_block))
        return NULL;
    st_block *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->next = st->arena;
    st->arena = b;
    return b->bytes;
}

static const char *st_copy(char **cursor, const char *s) {
    size_t n = strlen(s) + 1;
    char *dst = *cursor;
    memcpy(dst, s, n);
    *cursor += n;
    return dst;
}

void bn_st_close(bn_safetensors *st) {
    if (!st)
        return;
    for (int i = 0; i < st->n_shards; i++)
        bn_mapped_file_close(&st->shards[i]);
    free(st->shards);
    free(st->tensors);
    free(st->meta);
    for (st_block *b = st->arena; b;) {
        st_block *next = b->next;
        free(b);
        b = next;
    }
    free(st);
}

static bn_status st_new(bn_safetensors **out, int n_shards) {
    bn_safetensors *st = calloc(1, sizeof *st);
    if (st)
        st->shards = calloc((size_t)n_shards, sizeof *st->shards);
    if (!st || !st->shards) {
        free(st);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "safetensors: no memory for a %d-shard handle",
                        n_shards);
    }
    st->n_shards = n_shards;
    *out = st;
    return BN_OK;
}

/* ---- one header ------------------------------------------------------------------------------ */

/* What a tensor entry is checked against: its file and that file's data buffer. */
typedef struct st_ctx {
    const char *path;
    const uint8_t *base; /* first byte after the header */
    uint64_t buf_size;   /* file size - 8 - N */
} st_ctx;

static bn_status st_header_len(const bn_mapped_file *f, uint64_t *out) {
    if (f->size < 8)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: file is %zu bytes, too short for the 8-byte header length", f->path,
                        f->size);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)f->data[i] << (8 * i);
    if (n == 0)
        return BN_ERROR(BN_ERR_FORMAT, "%s: header length is 0", f->path);
    if (n > BN_ST_MAX_HEADER)
        return BN_ERROR(BN_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", f->path,
                        (unsigned long long)n, (unsigned)BN_ST_MAX_HEADER);
    if (n > f->size - 8)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the %zu-byte file", f->path,
                        (unsigned long long)n, f->size);
    *out = n;
    return BN_OK;
}

/* Point each of dtype/shape/data_offsets at its member; any other member, a repeat, or a
 * missing one is an error. */
static bn_status st_tensor_fields(const st_ctx *c, const cJSON *entry, const cJSON *fields[3]) {
    static const char *const names[3] = {"dtype", "shape", "data_offsets"};
    const char *tname = entry->string;
    for (const cJSON *m = entry->child; m; m = m->next) {
        int k = 0;
        while (k < 3 && strcmp(m->string, names[k]) != 0)
            k++;
        if (k == 3)
            return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': unknown field '%s'", c->path, tname,
                            m->string);
        if (fields[k])
            return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': field '%s' appears twice", c->path,
                            tname, names[k]);
        fields[k] = m;
    }
    for (int k = 0; k < 3; k++) {
        if (!fields[k])
            return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': missing field '%s'", c->path, tname,
                            names[k]);
    }
    return BN_OK;
}

static bn_status st_parse_dtype(const st_ctx *c, const char *tname, const cJSON *v,
                                bn_st_dtype *out) {
    if (!cJSON_IsString(v))
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': field 'dtype' is %s, not a string",
                        c->path, tname, st_json_kind(v));
    *out = st_dtype_lookup(v->valuestring);
    if (*out != BN_ST_DTYPE_COUNT)
        return BN_OK;
    return BN_ERROR(BN_ERR_DTYPE,
                    "%s: tensor '%s': dtype '%.40s' is not supported (F64 F32 F16 BF16 I64 I32 "
                    "I16 I8 U8 BOOL are)",
                    c->path, tname, v->valuestring);
}

static bn_status st_parse_shape(const st_ctx *c, const char *tname, const cJSON *v,
                                bn_st_tensor *t) {
    char show[64];
    if (!cJSON_IsArray(v))
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': field 'shape' is %s, not an array",
                        c->path, tname, st_json_kind(v));
    int n = 0;
    for (const cJSON *d = v->child; d; d = d->next, n++) {
        uint64_t dim;
        if (n == BN_ST_MAX_DIMS)
            return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': field 'shape' has more than %d dims",
                            c->path, tname, BN_ST_MAX_DIMS);
        if (!st_json_uint(d, &dim))
            return BN_ERROR(
                BN_ERR_FORMAT,
                "%s: tensor '%s': shape[%d] is %s, not a non-negative integer below 2^53", c->path,
                tname, n, st_json_show(d, show, sizeof show));
        t->shape[n] = (int64_t)dim;
    }
    t->n_dims = n;
    if (!st_nbytes(t->dtype, t->shape, n, &t->size)) {
        char s[160];
        st_shape_str(t->shape, n, s, sizeof s);
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': shape %s x %s overflows 64-bit sizes",
                        c->path, tname, s, st_dtypes[t->dtype].name);
    }
    return BN_OK;
}

static bn_status st_parse_offsets(const st_ctx *c, const char *tname, const cJSON *v,
                                  bn_st_tensor *t) {
    char show[64];
    uint64_t off[2];
    int n = 0;
    if (!cJSON_IsArray(v))
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': field 'data_offsets' is %s, not an array",
                        c->path, tname, st_json_kind(v));
    for (const cJSON *e = v->child; e; e = e->next, n++) {
        if (n < 2 && !st_json_uint(e, &off[n]))
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets[%d] is %s, not a non-negative integer "
                            "below 2^53",
                            c->path, tname, n, st_json_show(e, show, sizeof show));
    }
    if (n != 2)
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': field 'data_offsets' must be [begin, end]",
                        c->path, tname);
    if (off[0] > off[1])
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %llu > end %llu",
                        c->path, tname, (unsigned long long)off[0], (unsigned long long)off[1]);
    if (off[1] > c->buf_size)
        return BN_ERROR(
            BN_ERR_FORMAT,
            "%s: tensor '%s': data_offsets end %llu is beyond the %llu-byte data buffer", c->path,
            tname, (unsigned long long)off[1], (unsigned long long)c->buf_size);
    if (off[1] - off[0] != t->size) {
        char s[160];
        st_shape_str(t->shape, t->n_dims, s, sizeof s);
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: tensor '%s': lying data_offsets [%llu, %llu] span %llu bytes but %s x "
                        "shape %s needs %zu",
                        c->path, tname, (unsigned long long)off[0], (unsigned long long)off[1],
                        (unsigned long long)(off[1] - off[0]), st_dtypes[t->dtype].name, s,
                        t->size);
    }
    t->data = c->base + off[0];
    return BN_OK;
}

static bn_status st_parse_tensor(const st_ctx *c, const cJSON *entry, bn_st_tensor *t) {
    const char *tname = entry->string;
    const cJSON *fields[3] = {NULL, NULL, NULL};
    if (!cJSON_IsObject(entry))
        return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s': entry is %s, not an object", c->path,
                        tname, st_json_kind(entry));
    memset(t, 0, sizeof *t);
    BN_TRY(st_tensor_fields(c, entry, fields));
    BN_TRY(st_parse_dtype(c, tname, fields[0], &t->dtype));
    BN_TRY(st_parse_shape(c, tname, fields[1], t));
    return st_parse_offsets(c, tname, fields[2], t);
}

static int st_cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* __metadata__ must be an object of string -> string with unique keys. Sorting a copy of the
 * keys finds repeats in n log n, which matters for a hostile header of a million keys. */
static bn_status st_check_meta(const st_ctx *c, const cJSON *m, size_t *count) {
    size_t n = 0;
    if (!cJSON_IsObject(m))
        return BN_ERROR(BN_ERR_FORMAT, "%s: field '" ST_META_KEY "' is %s, not an object", c->path,
                        st_json_kind(m));
    for (const cJSON *e = m->child; e; e = e->next, n++) {
        if (!cJSON_IsString(e))
            return BN_ERROR(BN_ERR_FORMAT, "%s: " ST_META_KEY " key '%s' is %s, not a string",
                            c->path, e->string, st_json_kind(e));
    }
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu metadata keys", c->path, n);
    size_t i = 0;
    for (const cJSON *e = m->child; e; e = e->next)
        keys[i++] = e->string;
    if (n > 1)
        qsort(keys, n, sizeof *keys, st_cmp_str_ptr);
    for (i = 1; i < n && strcmp(keys[i - 1], keys[i]) != 0; i++)
        ;
    bn_status s = BN_OK;
    if (n > 1 && i < n)
        s = BN_ERROR(BN_ERR_FORMAT, "%s: " ST_META_KEY " key '%s' appears twice", c->path, keys[i]);
    free(keys);
    *count = n;
    return s;
}

/* Keep the first shard's metadata in file order; other shards' are only validated. */
static bn_status st_parse_meta(bn_safetensors *st, const st_ctx *c, const cJSON *m, bool keep,
                               char **cursor) {
    size_t n = 0;
    BN_TRY(st_check_meta(c, m, &n));
    if (!keep || n == 0)
        return BN_OK;
    st->meta = calloc(n, sizeof *st->meta);
    if (!st->meta)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu metadata entries", c->path, n);
    for (const cJSON *e = m->child; e; e = e->next, st->n_meta++) {
        st->meta[st->n_meta].key = st_copy(cursor, e->string);
        st->meta[st->n_meta].value = st_copy(cursor, e->valuestring);
    }
    return BN_OK;
}

/* Bytes needed to copy every name and metadata string of one header. */
static size_t st_string_bytes(const cJSON *root) {
    size_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        n += strlen(e->string) + 1;
        if (strcmp(e->string, ST_META_KEY) != 0 || !cJSON_IsObject(e))
            continue;
        for (const cJSON *m = e->child; m; m = m->next)
            n += strlen(m->string) + 1 + (cJSON_IsString(m) ? strlen(m->valuestring) + 1 : 0);
    }
    return n;
}

static bn_status st_reserve(bn_safetensors *st, const char *path, size_t more) {
    size_t want = (size_t)st->n_tensors + more;
    if (want > SIZE_MAX / sizeof *st->tensors)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: too many tensors (%zu)", path, want);
    bn_st_tensor *t = realloc(st->tensors, (want ? want : 1) * sizeof *t);
    if (!t)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu tensors", path, want);
    st->tensors = t;
    return BN_OK;
}

static bn_status st_load_entries(bn_safetensors *st, int shard, const st_ctx *c,
                                 const cJSON *root) {
    size_t n_entries = 0;
    bool seen_meta = false;
    for (const cJSON *e = root->child; e; e = e->next)
        n_entries++;
    BN_TRY(st_reserve(st, c->path, n_entries));
    size_t n_chars = st_string_bytes(root);
    char *cursor = st_arena_alloc(st, n_chars ? n_chars : 1);
    if (!cursor)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu bytes of names", c->path,
                        n_chars);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, ST_META_KEY) == 0) {
            if (seen_meta)
                return BN_ERROR(BN_ERR_FORMAT, "%s: field '" ST_META_KEY "' appears twice",
                                c->path);
            seen_meta = true;
            BN_TRY(st_parse_meta(st, c, e, shard == 0, &cursor));
            continue;
        }
        bn_st_tensor *t = &st->tensors[st->n_tensors];
        BN_TRY(st_parse_tensor(c, e, t));
        t->name = st_copy(&cursor, e->string);
        t->shard = shard;
        st->n_tensors++;
    }
    return BN_OK;
}

static int st_cmp_data(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)(*(const bn_st_tensor *const *)a)->data;
    uintptr_t y = (uintptr_t)(*(const bn_st_tensor *const *)b)->data;
    return (x > y) - (x < y);
}

/* Sort one shard's non-empty tensors by start; each must end before the next begins. Empty
 * tensors occupy no bytes, so they never overlap anything. */
static bn_status st_check_overlaps(const char *path, bn_st_tensor *t, size_t n) {
    const bn_st_tensor **by_start = malloc((n ? n : 1) * sizeof *by_start);
    if (!by_start)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory to check %zu tensors", path, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].size > 0)
            by_start[m++] = &t[i];
    }
    if (m > 1)
        qsort(by_start, m, sizeof *by_start, st_cmp_data);
    bn_status s = BN_OK;
    for (size_t i = 1; i < m && s == BN_OK; i++) {
        const bn_st_tensor *a = by_start[i - 1], *b = by_start[i];
        if (a->data + a->size > b->data)
            s = BN_ERROR(BN_ERR_FORMAT,
                         "%s: tensors '%s' and '%s' overlap in the data buffer "
                         "(data_offsets)",
                         path, a->name, b->name);
    }
    free(by_start);
    return s;
}

/* Parse and check the header of st->shards[shard], appending its tensors to st->tensors. */
static bn_status st_parse_shard(bn_safetensors *st, int shard) {
    const bn_mapped_file *f = &st->shards[shard];
    uint64_t n = 0;
    cJSON *root = NULL;
    BN_TRY(st_header_len(f, &n));
    BN_TRY(st_parse_json(f->path, "header", f->data + 8, (size_t)n, &root));
    st_ctx c = {.path = f->path, .base = f->data + 8 + n, .buf_size = f->size - 8 - n};
    size_t first = (size_t)st->n_tensors;
    bn_status s = st_load_entries(st, shard, &c, root);
    cJSON_Delete(root);
    BN_TRY(s);
    return st_check_overlaps(f->path, st->tensors + first, (size_t)st->n_tensors - first);
}

static int st_cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const bn_st_tensor *)a)->name, ((const bn_st_tensor *)b)->name);
}

/* Sort by name for bn_st_find; equal neighbours are a name used twice. */
static bn_status st_sort_tensors(bn_safetensors *st) {
    size_t n = (size_t)st->n_tensors;
    if (n > 1)
        qsort(st->tensors, n, sizeof *st->tensors, st_cmp_tensor_name);
    for (size_t i = 1; i < n; i++) {
        const bn_st_tensor *a = &st->tensors[i - 1], *b = &st->tensors[i];
        if (strcmp(a->name, b->name) != 0)
            continue;
        if (a->shard == b->shard)
            return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s' appears twice",
                            st->shards[a->shard].path, a->name);
        return BN_ERROR(BN_ERR_FORMAT, "tensor '%s' appears in two shards: %s and %s", a->name,
                        st->shards[a->shard].path, st->shards[b->shard].path);
    }
    return BN_OK;
}

/* Hand the handle out on success, free it on failure. */
static bn_status st_finish(bn_safetensors *st, bn_status s, bn_safetensors **out) {
    if (s != BN_OK) {
        bn_st_close(st);
        return s;
    }
    *out = st;
    return BN_OK;
}

bn_status bn_st_open(bn_safetensors **out, const char *path) {
    bn_safetensors *st = NULL;
    if (!out || !path)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_open: NULL argument");
    *out = NULL;
    BN_TRY(st_new(&st, 1));
    bn_status s = bn_mapped_file_open(&st->shards[0], path);
    if (s == BN_OK)
        s = st_parse_shard(st, 0);
    if (s == BN_OK)
        s = st_sort_tensors(st);
    return st_finish(st, s, out);
}

bn_status bn_st_open_memory(bn_safetensors **out, const void *bytes, size_t size,
                            const char *name) {
    bn_safetensors *st = NULL;
    if (!out || (!bytes && size > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_open_memory: NULL argument");
    *out = NULL;
    BN_TRY(st_new(&st, 1));
    bn_mapped_file_from_memory(&st->shards[0], bytes, size, name ? name : "<memory>");
    bn_status s = st_parse_shard(st, 0);
    if (s == BN_OK)
        s = st_sort_tensors(st);
    return st_finish(st, s, out);
}

static int st_cmp_find(const void *key, const void *elem) {
    return strcmp(key, ((const bn_st_tensor *)elem)->name);
}

const bn_st_tensor *bn_st_find(const bn_safetensors *st, const char *name) {
    if (!st || !name || st->n_tensors == 0)
        return NULL;
    return bsearch(name, st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, st_cmp_find);
}

/* ---- sharded folders ------------------------------------------------------------------------- */

typedef struct st_map_entry {
    const char *tensor; /* a weight_map key */
    const char *file;   /* its shard's file name */
    int shard;          /* index into st_index.files */
} st_map_entry;

typedef struct st_index {
    char path[1024];
    bn_mapped_file file;
    cJSON *root;
    st_map_entry *map; /* sorted by tensor */
    size_t n_map;
    const char **files; /* distinct shard names, sorted */
    int n_files;
} st_index;

static bn_status st_join(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s/%s: path longer than %zu bytes", dir, name,
                        cap - 1);
    return BN_OK;
}

/* stat() failing for a reason other than ENOENT still counts as present: opening it will then
 * report the real problem (permissions, ...). */
static bool st_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 || errno != ENOENT;
}

/* A shard is a file beside the index: no directories, no escaping the folder. */
static bn_status st_check_shard_name(const st_index *ix, const cJSON *e) {
    if (!cJSON_IsString(e))
        return BN_ERROR(BN_ERR_FORMAT, "%s: weight_map['%s'] is %s, not a file name", ix->path,
                        e->string, st_json_kind(e));
    const char *f = e->valuestring;
    if (f[0] == '\0' || strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
        return BN_ERROR(BN_ERR_FORMAT,
                        "%s: weight_map['%s'] names shard '%s', which is not a plain file name",
                        ix->path, e->string, f);
    return BN_OK;
}

static int st_cmp_map(const void *a, const void *b) {
    return strcmp(((const st_map_entry *)a)->tensor, ((const st_map_entry *)b)->tensor);
}

/* Sorted, distinct shard names, and each map entry's index among them. */
static bn_status st_index_files(st_index *ix) {
    ix->files = malloc((ix->n_map ? ix->n_map : 1) * sizeof *ix->files);
    if (!ix->files)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu shard names", ix->path,
                        ix->n_map);
    for (size_t i = 0; i < ix->n_map; i++)
        ix->files[i] = ix->map[i].file;
    if (ix->n_map > 1)
        qsort(ix->files, ix->n_map, sizeof *ix->files, st_cmp_str_ptr);
    size_t n = 0;
    for (size_t i = 0; i < ix->n_map; i++) {
        if (n == 0 || strcmp(ix->files[n - 1], ix->files[i]) != 0)
            ix->files[n++] = ix->files[i];
    }
    ix->n_files = (int)n; /* the index is at most BN_ST_MAX_HEADER bytes, so n fits an int */
    for (size_t i = 0; i < ix->n_map; i++) {
        const char **hit =
            bsearch(&ix->map[i].file, ix->files, n, sizeof *ix->files, st_cmp_str_ptr);
        ix->map[i].shard = (int)(hit - ix->files);
    }
    return BN_OK;
}

/* Read weight_map into ix->map, sorted by tensor name, refusing repeated keys. */
static bn_status st_index_map(st_index *ix) {
    const cJSON *wm = NULL;
    for (const cJSON *e = ix->root->child; e; e = e->next) {
        if (strcmp(e->string, "weight_map") != 0)
            continue;
        if (wm)
            return BN_ERROR(BN_ERR_FORMAT, "%s: field 'weight_map' appears twice", ix->path);
        wm = e;
    }
    if (!wm || !cJSON_IsObject(wm) || !wm->child)
        return BN_ERROR(BN_ERR_FORMAT, "%s: field 'weight_map' is %s, not a non-empty object",
                        ix->path, wm ? st_json_kind(wm) : "missing");
    for (const cJSON *e = wm->child; e; e = e->next)
        ix->n_map++;
    ix->map = calloc(ix->n_map, sizeof *ix->map);
    if (!ix->map)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu entries", ix->path, ix->n_map);
    size_t i = 0;
    for (const cJSON *e = wm->child; e; e = e->next, i++) {
        BN_TRY(st_check_shard_name(ix, e));
        ix->map[i] = (st_map_entry){.tensor = e->string, .file = e->valuestring};
    }
    qsort(ix->map, ix->n_map, sizeof *ix->map, st_cmp_map);
    for (i = 1; i < ix->n_map; i++) {
        if (strcmp(ix->map[i - 1].tensor, ix->map[i].tensor) == 0)
            return BN_ERROR(BN_ERR_FORMAT, "%s: weight_map lists tensor '%s' twice", ix->path,
                            ix->map[i].tensor);
    }
    return st_index_files(ix);
}

static bn_status st_index_load(st_index *ix, const char *dir) {
    BN_TRY(st_join(ix->path, sizeof ix->path, dir, ST_INDEX_NAME));
    BN_TRY(bn_mapped_file_open(&ix->file, ix->path));
    if (ix->file.size > BN_ST_MAX_HEADER)
        return BN_ERROR(BN_ERR_FORMAT, "%s: index is %zu bytes, above the %u-byte limit", ix->path,
                        ix->file.size, (unsigned)BN_ST_MAX_HEADER);
    BN_TRY(st_parse_json(ix->path, "index", ix->file.data, ix->file.size, &ix->root));
    return st_index_map(ix);
}

static void st_index_free(st_index *ix) {
    cJSON_Delete(ix->root);
    bn_mapped_file_close(&ix->file);
    free(ix->map);
    free(ix->files);
}

static const char *st_index_example(const st_index *ix, int shard) {
    for (size_t i = 0; i < ix->n_map; i++) {
        if (ix->map[i].shard == shard)
            return ix->map[i].tensor;
    }
    return "?";
}

static bn_status st_index_open_shards(bn_safetensors *st, const st_index *ix, const char *dir) {
    char path[sizeof st->shards[0].path];
    for (int i = 0; i < ix->n_files; i++) {
        BN_TRY(st_join(path, sizeof path, dir, ix->files[i]));
        if (!st_exists(path))
            return BN_ERROR(BN_ERR_NOT_FOUND,
                            "%s: weight_map names shard '%s' (e.g. for tensor '%s'), which does "
                            "not exist",
                            ix->path, ix->files[i], st_index_example(ix, i));
        BN_TRY(bn_mapped_file_open(&st->shards[i], path));
        BN_TRY(st_parse_shard(st, i));
    }
    return BN_OK;
}

/* Both lists are sorted by name: walk them together. */
static bn_status st_index_crosscheck(const bn_safetensors *st, const st_index *ix) {
    size_t i = 0, j = 0, nt = (size_t)st->n_tensors;
    while (i < nt || j < ix->n_map) {
        const bn_st_tensor *t = i < nt ? &st->tensors[i] : NULL;
        const st_map_entry *m = j < ix->n_map ? &ix->map[j] : NULL;
        int c = !t ? 1 : !m ? -1 : strcmp(t->name, m->tensor);
        if (c < 0)
            return BN_ERROR(BN_ERR_FORMAT, "%s: tensor '%s' is missing from weight_map in %s",
                            st->shards[t->shard].path, t->name, ix->path);
        if (c > 0)
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: weight_map puts tensor '%s' in shard '%s', which does not have it",
                            ix->path, m->tensor, m->file);
        if (t->shard != m->shard)
            return BN_ERROR(BN_ERR_FORMAT,
                            "%s: weight_map puts tensor '%s' in shard '%s', but it "
                            "is in %s",
                            ix->path, m->tensor, m->file, st->shards[t->shard].path);
        i++, j++;
    }
    return BN_OK;
}

static bn_status st_open_index(bn_safetensors **out, const char *dir) {
    st_index ix;
    bn_safetensors *st = NULL;
    memset(&ix, 0, sizeof ix);
    bn_status s = st_index_load(&ix, dir);
    if (s == BN_OK)
        s = st_new(&st, ix.n_files);
    if (s == BN_OK) {
        s = st_index_open_shards(st, &ix, dir);
        if (s == BN_OK)
            s = st_sort_tensors(st);
        if (s == BN_OK)
            s = st_index_crosscheck(st, &ix);
        s = st_finish(st, s, out);
    }
    st_index_free(&ix);
    return s;
}

bn_status bn_st_open_dir(bn_safetensors **out, const char *dir) {
    char path[sizeof((bn_mapped_file *)0)->path];
    if (!out || !dir)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_open_dir: NULL argument");
    *out = NULL;
    BN_TRY(st_join(path, sizeof path, dir, ST_INDEX_NAME));
    if (st_exists(path))
        return st_open_index(out, dir);
    BN_TRY(st_join(path, sizeof path, dir, ST_SINGLE_NAME));
    if (st_exists(path))
        return bn_st_open(out, path);
    return BN_ERROR(BN_ERR_NOT_FOUND,
                    "%s: neither " ST_SINGLE_NAME " nor " ST_INDEX_NAME " is there", dir);
}

/* ---- writer ---------------------------------------------------------------------------------- */

typedef struct st_wtensor {
    char *name;
    bn_st_dtype dtype;
    int n_dims;
    int64_t shape[BN_ST_MAX_DIMS];
    const void *data;
    size_t size;
} st_wtensor;

struct bn_st_writer {
    st_wtensor *tensors;
    size_t n_tensors, cap_tensors;
    bn_st_meta *meta; /* owned copies, in insertion order */
    size_t n_meta, cap_meta;
};

bn_status bn_st_writer_create(bn_st_writer **out) {
    if (!out)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_writer_create: NULL argument");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "safetensors writer: no memory");
    return BN_OK;
}

void bn_st_writer_free(bn_st_writer *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free((char *)w->meta[i].key);
        free((char *)w->meta[i].value);
    }
    free(w->tensors);
    free(w->meta);
    free(w);
}

/* items (n used of *cap, elem bytes each) with room for one more: items itself, a larger copy,
 * or NULL when out of memory (items is then unchanged). */
static void *st_grow(void *items, size_t *cap, size_t n, size_t elem) {
    if (n < *cap)
        return items;
    size_t want = *cap ? *cap * 2 : 16;
    void *p = want <= SIZE_MAX / elem ? realloc(items, want * elem) : NULL;
    if (p)
        *cap = want;
    return p;
}

/* The reader refuses headers that are not UTF-8 (as upstream does), so the writer refuses such
 * names and values rather than write a file nobody can read back. */
static bn_status st_check_string(const char *what, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = st_utf8_len((const uint8_t *)s + i, n - i);
        if (len == 0)
            return BN_ERROR(BN_ERR_INVALID_ARG, "safetensors writer: %s '%s' is not valid UTF-8",
                            what, s);
        i += len;
    }
    return BN_OK;
}

bn_status bn_st_writer_add_meta(bn_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_writer_add_meta: NULL argument");
    BN_TRY(st_check_string("metadata key", key));
    BN_TRY(st_check_string("metadata value", value));
    for (size_t i = 0; i < w->n_meta; i++) {
        if (strcmp(w->meta[i].key, key) == 0)
            return BN_ERROR(BN_ERR_INVALID_ARG, "safetensors writer: metadata key '%s' added twice",
                            key);
    }
    char *k = strdup(key), *v = strdup(value);
    bn_st_meta *m = st_grow(w->meta, &w->cap_meta, w->n_meta, sizeof *m);
    if (!k || !v || !m) {
        free(k);
        free(v);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "safetensors writer: no memory for metadata '%s'",
                        key);
    }
    w->meta = m;
    w->meta[w->n_meta++] = (bn_st_meta){.key = k, .value = v};
    return BN_OK;
}

static bn_status st_check_add(const bn_st_writer *w, const char *name, bn_st_dtype dtype,
                              int n_dims, const int64_t *shape, size_t size) {
    size_t need = 0;
    if (name[0] == '\0' || strcmp(name, ST_META_KEY) == 0)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "safetensors writer: tensor name '%s' is empty or reserved", name);
    BN_TRY(st_check_string("tensor name", name));
    if (!st_dtype_valid(dtype))
        return BN_ERROR(BN_ERR_DTYPE, "safetensors writer: tensor '%s': dtype %d is not valid",
                        name, (int)dtype);
    if (n_dims < 0 || n_dims > BN_ST_MAX_DIMS || (n_dims > 0 && !shape))
        return BN_ERROR(BN_ERR_INVALID_ARG, "safetensors writer: tensor '%s': %d dims (0..%d)",
                        name, n_dims, BN_ST_MAX_DIMS);
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] < 0 || (double)shape[i] >= ST_MAX_JSON_INT)
            return BN_ERROR(BN_ERR_SHAPE, "safetensors writer: tensor '%s': shape[%d] = %lld", name,
                            i, (long long)shape[i]);
    }
    if (!st_nbytes(dtype, shape, n_dims, &need) || need != size)
        return BN_ERROR(BN_ERR_SHAPE,
                        "safetensors writer: tensor '%s': %zu bytes given, %s x shape needs %zu",
                        name, size, st_dtypes[dtype].name, need);
    /* A linear scan: checkpoints have thousands of tensors, not millions. */
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0)
            return BN_ERROR(BN_ERR_INVALID_ARG, "safetensors writer: tensor '%s' added twice",
                            name);
    }
    return BN_OK;
}

bn_status bn_st_writer_add(bn_st_writer *w, const char *name, bn_st_dtype dtype, int n_dims,
                           const int64_t *shape, const void *data, size_t size) {
    if (!w || !name || (!data && size > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_writer_add: NULL argument");
    BN_TRY(st_check_add(w, name, dtype, n_dims, shape, size));
    char *copy = strdup(name);
    st_wtensor *ts = st_grow(w->tensors, &w->cap_tensors, w->n_tensors, sizeof *ts);
    if (!copy || !ts) {
        free(copy);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "safetensors writer: no memory for tensor '%s'",
                        name);
    }
    w->tensors = ts;
    st_wtensor *t = &w->tensors[w->n_tensors++];
    *t = (st_wtensor){.name = copy, .dtype = dtype, .n_dims = n_dims, .data = data, .size = size};
    if (n_dims > 0)
        memcpy(t->shape, shape, (size_t)n_dims * sizeof *shape);
    return BN_OK;
}

/* The header text, built in a growing buffer; one failed allocation poisons it. */
typedef struct st_buf {
    char *p;
    size_t len, cap;
    bool failed;
} st_buf;

static void st_put(st_buf *b, const char *s, size_t n) {
    if (b->failed)
        return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void st_puts(st_buf *b, const char *s) {
    st_put(b, s, strlen(s));
}

static void st_putu(st_buf *b, uint64_t v) {
    char num[24];
    st_put(b, num, (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v));
}

/* A JSON string escaped as serde_json (the Python library's serializer) escapes it: '"', '\\',
 * the five short control escapes, other control bytes as \u00xx; everything else raw. */
static void st_put_json_string(st_buf *b, const char *s) {
    static const char plain[] = "\"\\\b\f\n\r\t", escaped[] = "\"\\bfnrt";
    st_put(b, "\"", 1);
    for (; *s; s++) {
        const char *hit = strchr(plain, *s);
        char esc[8] = {'\\', hit ? escaped[hit - plain] : 0};
        if (hit)
            st_put(b, esc, 2);
        else if ((unsigned char)*s < 0x20)
            st_put(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*s));
        else
            st_put(b, s, 1);
    }
    st_put(b, "\"", 1);
}

static void st_put_tensor(st_buf *b, const st_wtensor *t, uint64_t begin) {
    st_put_json_string(b, t->name);
    st_puts(b, ":{\"dtype\":\"");
    st_puts(b, st_dtypes[t->dtype].name);
    st_puts(b, "\",\"shape\":[");
    for (int i = 0; i < t->n_dims; i++) {
        if (i)
            st_put(b, ",", 1);
        st_putu(b, (uint64_t)t->shape[i]);
    }
    st_puts(b, "],\"data_offsets\":[");
    st_putu(b, begin);
    st_put(b, ",", 1);
    st_putu(b, begin + t->size);
    st_puts(b, "]}");
}

/* Descending alignment rank, then name: the Python library's layout (see st_dtypes). */
static int st_cmp_layout(const void *a, const void *b) {
    const st_wtensor *x = a, *y = b;
    int rx = st_dtypes[x->dtype].rank, ry = st_dtypes[y->dtype].rank;
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name);
}

/* {"__metadata__":{...},"name":{...},...} then spaces so that 8 + N is a multiple of 8. */
static bn_status st_build_header(bn_st_writer *w, st_buf *b) {
    uint64_t offset = 0;
    st_put(b, "{", 1);
    if (w->n_meta > 0) {
        st_puts(b, "\"" ST_META_KEY "\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i)
                st_put(b, ",", 1);
            st_put_json_string(b, w->meta[i].key);
            st_put(b, ":", 1);
            st_put_json_string(b, w->meta[i].value);
        }
        st_puts(b, "}");
    }
    if (w->n_tensors > 1)
        qsort(w->tensors, w->n_tensors, sizeof *w->tensors, st_cmp_layout);
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (i > 0 || w->n_meta > 0)
            st_put(b, ",", 1);
        if (w->tensors[i].size >= (uint64_t)ST_MAX_JSON_INT - offset)
            return BN_ERROR(BN_ERR_RANGE, "safetensors writer: data passes 2^53 bytes at '%s'",
                            w->tensors[i].name);
        st_put_tensor(b, &w->tensors[i], offset);
        offset += w->tensors[i].size;
    }
    st_put(b, "}", 1);
    while (!b->failed && b->len % 8 != 0)
        st_put(b, " ", 1);
    if (b->failed)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "safetensors writer: no memory for the header");
    if (b->len > BN_ST_MAX_HEADER)
        return BN_ERROR(BN_ERR_RANGE, "safetensors writer: header of %zu bytes exceeds %u", b->len,
                        (unsigned)BN_ST_MAX_HEADER);
    return BN_OK;
}

/* Through io/outfile.h: a temporary file beside path, renamed into place once complete, so
 * readers never see half a file (symbolic links followed, only a regular file replaced). */
static bn_status st_write_file(const bn_st_writer *w, const char *path, const st_buf *h) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)h->len >> (8 * i));
    bn_outfile f;
    BN_TRY(bn_outfile_open(&f, path));
    bn_status s = bn_outfile_write(&f, len, sizeof len);
    if (s == BN_OK)
        s = bn_outfile_write(&f, h->p, h->len);
    for (size_t i = 0; s == BN_OK && i < w->n_tensors; i++)
        s = bn_outfile_write(&f, w->tensors[i].data, w->tensors[i].size);
    if (s != BN_OK) {
        bn_outfile_discard(&f);
        return s;
    }
    return bn_outfile_commit(&f);
}

bn_status bn_st_writer_write(bn_st_writer *w, const char *path) {
    if (!w || !path)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_st_writer_write: NULL argument");
    st_buf h = {0};
    bn_status s = st_build_header(w, &h);
    if (s == BN_OK)
        s = st_write_file(w, path, &h);
    free(h.p);
    return s;
}
