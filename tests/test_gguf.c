/*
 * test_gguf.c - the GGUF reader and writer.
 *
 * 1. Round trip: a file with every value type (extremes, empty and NUL-holding strings, arrays of
 *    each type, nested arrays to the depth limit) and seven tensor types, at alignment 32 and 64,
 *    reads back identical, with aligned data.
 * 2. Every error the reader raises, from files built byte by byte: each must fail with the right
 *    code and a message naming the field. Then truncation at every byte of the header region,
 *    byte flips, and allocation failures: errors, never crashes (run under ASan).
 * 3. Writer misuse: each failure leaves neither the target file nor a temporary file.
 * 4. The typed getters: widening, ranges, missing keys, wrong types.
 */
#include "base/alloc.h"
#include "io/gguf.h"
#include "test.h"

#include <dirent.h>
#include <float.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[64];

static void tmp_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

/* Files in tmp_dir: temporary files left behind show up here. */
static int count_files(void) {
    DIR *d = opendir(tmp_dir);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return n;
}

static void remove_tmp_dir(void) {
    DIR *d = opendir(tmp_dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char p[512];
        if (e->d_name[0] == '.')
            continue;
        tmp_path(p, sizeof p, e->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(tmp_dir);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n ? *n : 1);
    if (p != NULL && fread(p, 1, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

/* ---- building files byte by byte ------------------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort(); /* a test machine out of memory: nothing sensible to report */
    }
    if (n != 0)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(bytes *b, uint64_t v, size_t n) {
    uint8_t t[8];
    for (size_t i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, n);
}

static void put_str(bytes *b, const char *s, size_t len) {
    put_le(b, len, 8);
    put(b, s, len);
}

static void put_key(bytes *b, const char *key, bn_gguf_type type) {
    put_str(b, key, strlen(key));
    put_le(b, (uint64_t)type, 4);
}

static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put_le(b, BN_GGUF_MAGIC, 4);
    put_le(b, version, 4);
    put_le(b, n_tensors, 8);
    put_le(b, n_kv, 8);
}

static void put_tinfo(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                      uint32_t type, uint64_t offset) {
    put_str(b, name, strlen(name));
    put_le(b, n_dims, 4);
    for (uint32_t d = 0; d < n_dims; d++)
        put_le(b, ne[d], 8);
    put_le(b, type, 4);
    put_le(b, offset, 8);
}

static void put_zeros(bytes *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        put_le(b, 0, 1);
}

static void put_pad(bytes *b, size_t align) {
    put_zeros(b, (align - b->n % align) % align);
}

/* A file holding one key of the given type; the caller appends the value. */
static bytes kv_file(const char *key, bn_gguf_type type) {
    bytes b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, key, type);
    return b;
}

/* general.architecture = arch, one tensor info, padding, then data_bytes of data. */
static bytes tensor_file(const char *arch, const char *name, uint32_t n_dims, const uint64_t *ne,
                         uint32_t type, uint64_t offset, size_t data_bytes) {
    bytes b = {0};
    put_header(&b, 3, 1, 1);
    put_key(&b, "general.architecture", BN_GGUF_STRING);
    put_str(&b, arch, strlen(arch));
    put_tinfo(&b, name, n_dims, ne, type, offset);
    put_pad(&b, 32);
    put_zeros(&b, data_bytes);
    return b;
}

/* ---- opening bytes ------------------------------------------------------------------- */

/* Open a heap copy of exactly n bytes, so ASan flags any read past the end. */
static bn_status open_bytes(const uint8_t *p, size_t n, bn_gguf **g, uint8_t **copy) {
    *copy = malloc(n ? n : 1);
    if (n != 0)
        memcpy(*copy, p, n);
    return bn_gguf_open_memory(g, *copy, n, "test.gguf");
}

/* Opening must fail with code, and the message must hold each given word (NULL: none). */
static void expect_fail(const char *what, const bytes *b, bn_status code, const char *w1,
                        const char *w2) {
    bn_gguf *g = NULL;
    uint8_t *copy;
    bn_status st = open_bytes(b->p, b->n, &g, &copy);
    const char *msg = bn_last_error();
    CHECK(st == code, "%s: got %s (%s), want %s", what, bn_status_str(st), msg,
          bn_status_str(code));
    CHECK(g == NULL, "%s: handle set on failure", what);
    CHECK(w1 == NULL || strstr(msg, w1) != NULL, "%s: message lacks '%s': %s", what, w1, msg);
    CHECK(w2 == NULL || strstr(msg, w2) != NULL, "%s: message lacks '%s': %s", what, w2, msg);
    CHECK(strstr(msg, "test.gguf") != NULL, "%s: message lacks the file name: %s", what, msg);
    bn_gguf_close(g);
    free(copy);
}

static void expect_ok(const char *what, const bytes *b) {
    bn_gguf *g = NULL;
    uint8_t *copy;
    bn_status st = open_bytes(b->p, b->n, &g, &copy);
    CHECK(st == BN_OK, "%s: %s: %s", what, bn_status_str(st), bn_last_error());
    bn_gguf_close(g);
    free(copy);
}

/* ---- 1. round trip -------------------------------------------------------------------- */

/* Little-endian element bytes of a fixed-size array, from values given as 64-bit patterns. */
static void encode(uint8_t *dst, bn_gguf_type type, const uint64_t *bits, size_t count) {
    size_t size = bn_gguf_type_size(type);
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < size; k++)
            dst[i * size + k] = (uint8_t)(bits[i] >> (8 * k));
}

static uint64_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t f64_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

#define N_KV_MAX 64
typedef struct kv_set {
    const char *key[N_KV_MAX];
    bn_gguf_value value[N_KV_MAX];
    int n;
    uint8_t raw[16][64]; /* element bytes of the fixed-size arrays */
    int n_raw;
    bn_gguf_value items[32]; /* items of the string and nested arrays */
    int n_items;
} kv_set;

static void add_kv(kv_set *s, const char *key, bn_gguf_value v) {
    s->key[s->n] = key;
    s->value[s->n++] = v;
}

static void add_fixed_array(kv_set *s, const char *key, bn_gguf_type type, const uint64_t *bits,
                            size_t count) {
    uint8_t *raw = s->raw[s->n_raw++];
    encode(raw, type, bits, count);
    add_kv(s, key, (bn_gguf_value){.type = BN_GGUF_ARRAY, .arr = {type, count, raw, NULL}});
}

static bn_gguf_value *items(kv_set *s, size_t n) {
    bn_gguf_value *p = &s->items[s->n_items];
    s->n_items += (int)n;
    return p;
}

static bn_gguf_value str_value(const char *p, size_t len) {
    return (bn_gguf_value){.type = BN_GGUF_STRING, .str = {p, len}};
}

static bn_gguf_value arr_value(bn_gguf_type type, uint64_t count, const void *raw,
                               const bn_gguf_value *item) {
    return (bn_gguf_value){.type = BN_GGUF_ARRAY, .arr = {type, count, raw, item}};
}

static void add_scalars(kv_set *s) {
    add_kv(s, "t.u8", (bn_gguf_value){.type = BN_GGUF_U8, .u64 = UINT8_MAX});
    add_kv(s, "t.i8", (bn_gguf_value){.type = BN_GGUF_I8, .i64 = INT8_MIN});
    add_kv(s, "t.u16", (bn_gguf_value){.type = BN_GGUF_U16, .u64 = UINT16_MAX});
    add_kv(s, "t.i16", (bn_gguf_value){.type = BN_GGUF_I16, .i64 = INT16_MIN});
    add_kv(s, "t.u32", (bn_gguf_value){.type = BN_GGUF_U32, .u64 = UINT32_MAX});
    add_kv(s, "t.i32", (bn_gguf_value){.type = BN_GGUF_I32, .i64 = INT32_MIN});
    add_kv(s, "t.f32", (bn_gguf_value){.type = BN_GGUF_F32, .f64 = -FLT_MAX});
    add_kv(s, "t.f32.tiny", (bn_gguf_value){.type = BN_GGUF_F32, .f64 = FLT_TRUE_MIN});
    add_kv(s, "t.bool", (bn_gguf_value){.type = BN_GGUF_BOOL, .b = true});
    add_kv(s, "t.bool.false", (bn_gguf_value){.type = BN_GGUF_BOOL, .b = false});
    add_kv(s, "t.u64", (bn_gguf_value){.type = BN_GGUF_U64, .u64 = UINT64_MAX});
    add_kv(s, "t.i64", (bn_gguf_value){.type = BN_GGUF_I64, .i64 = INT64_MIN});
    add_kv(s, "t.i64.max", (bn_gguf_value){.type = BN_GGUF_I64, .i64 = INT64_MAX});
    add_kv(s, "t.f64", (bn_gguf_value){.type = BN_GGUF_F64, .f64 = DBL_MAX});
    add_kv(s, "t.f64.negzero", (bn_gguf_value){.type = BN_GGUF_F64, .f64 = -0.0});
    add_kv(s, "t.str", str_value("h\xc3\xa9llo", 6));
    add_kv(s, "t.str.empty", str_value("", 0));
    add_kv(s, "t.str.nul", str_value("a\0b", 3));
}

static void add_arrays(kv_set *s) {
    uint64_t u8[] = {0, 1, 255}, i8[] = {(uint64_t)-128, 0, 127}, u16[] = {0, 65535};
    uint64_t i16[] = {(uint64_t)-32768, 32767}, u32[] = {1, UINT32_MAX};
    uint64_t i32[] = {(uint64_t)-5, 7, 1u << 30}, b[] = {1, 0, 1}, u64[] = {0, UINT64_MAX};
    uint64_t i64[] = {(uint64_t)INT64_MIN, (uint64_t)1 << 62};
    uint64_t f32[] = {f32_bits(0.5f), f32_bits(-1.25f), f32_bits(0.1f)};
    uint64_t f64[] = {f64_bits(1e300), f64_bits(-0.0)};
    add_fixed_array(s, "a.u8", BN_GGUF_U8, u8, 3);
    add_fixed_array(s, "a.i8", BN_GGUF_I8, i8, 3);
    add_fixed_array(s, "a.u16", BN_GGUF_U16, u16, 2);
    add_fixed_array(s, "a.i16", BN_GGUF_I16, i16, 2);
    add_fixed_array(s, "a.u32", BN_GGUF_U32, u32, 2);
    add_fixed_array(s, "a.i32", BN_GGUF_I32, i32, 3);
    add_fixed_array(s, "a.f32", BN_GGUF_F32, f32, 3);
    add_fixed_array(s, "a.bool", BN_GGUF_BOOL, b, 3);
    add_fixed_array(s, "a.u64", BN_GGUF_U64, u64, 2);
    add_fixed_array(s, "a.i64", BN_GGUF_I64, i64, 2);
    add_fixed_array(s, "a.f64", BN_GGUF_F64, f64, 2);
    add_kv(s, "a.empty", arr_value(BN_GGUF_U32, 0, NULL, NULL));
    add_kv(s, "a.str.empty", arr_value(BN_GGUF_STRING, 0, NULL, NULL));
    bn_gguf_value *strs = items(s, 4);
    strs[0] = str_value("\xc4\xa0the", 5);
    strs[1] = str_value("", 0);
    strs[2] = str_value("<|eot_id|>", 10);
    strs[3] = str_value("x\0y", 3);
    add_kv(s, "a.str", arr_value(BN_GGUF_STRING, 4, NULL, strs));
}

/* [["x", "yz"], ["w"]], [[1, 2, 3], [4]], and arrays nested to exactly the depth limit. */
static void add_nested(kv_set *s) {
    bn_gguf_value *xs = items(s, 3), *outer = items(s, 2);
    xs[0] = str_value("x", 1);
    xs[1] = str_value("yz", 2);
    xs[2] = str_value("w", 1);
    outer[0] = arr_value(BN_GGUF_STRING, 2, NULL, xs);
    outer[1] = arr_value(BN_GGUF_STRING, 1, NULL, xs + 2);
    add_kv(s, "a.nested.str", arr_value(BN_GGUF_ARRAY, 2, NULL, outer));
    uint64_t ints[] = {1, 2, 3, 4};
    uint8_t *raw = s->raw[s->n_raw++];
    encode(raw, BN_GGUF_I32, ints, 4);
    bn_gguf_value *rows = items(s, 2);
    rows[0] = arr_value(BN_GGUF_I32, 3, raw, NULL);
    rows[1] = arr_value(BN_GGUF_I32, 1, raw + 12, NULL);
    add_kv(s, "a.nested.int", arr_value(BN_GGUF_ARRAY, 2, NULL, rows));
    bn_gguf_value *level = items(s, BN_GGUF_MAX_NESTING - 1);
    level[0] = arr_value(BN_GGUF_U8, 1, raw, NULL); /* depth BN_GGUF_MAX_NESTING */
    for (int d = 1; d < BN_GGUF_MAX_NESTING - 1; d++)
        level[d] = arr_value(BN_GGUF_ARRAY, 1, NULL, &level[d - 1]);
    add_kv(s, "a.nested.deep", arr_value(BN_GGUF_ARRAY, 1, NULL, &level[BN_GGUF_MAX_NESTING - 2]));
}

static bool values_equal(const bn_gguf_value *a, const bn_gguf_value *b);

static bool arrays_equal(const bn_gguf_array *a, const bn_gguf_array *b) {
    if (a->type != b->type || a->count != b->count)
        return false;
    size_t size = bn_gguf_type_size(a->type);
    if (size != 0)
        return a->count == 0 || memcmp(a->raw, b->raw, (size_t)a->count * size) == 0;
    for (uint64_t i = 0; i < a->count; i++)
        if (!values_equal(&a->items[i], &b->items[i]))
            return false;
    return true;
}

static bool values_equal(const bn_gguf_value *a, const bn_gguf_value *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case BN_GGUF_STRING:
        return a->str.len == b->str.len && memcmp(a->str.data, b->str.data, a->str.len) == 0 &&
               b->str.data[b->str.len] == '\0';
    case BN_GGUF_ARRAY:
        return arrays_equal(&a->arr, &b->arr);
    case BN_GGUF_BOOL:
        return a->b == b->b;
    case BN_GGUF_F32:
    case BN_GGUF_F64:
        return memcmp(&a->f64, &b->f64, sizeof a->f64) == 0; /* keeps -0.0 */
    default:
        return a->u64 == b->u64;
    }
}

typedef struct tensor_spec {
    const char *name;
    uint32_t type;
    int n_dims;
    uint64_t ne[4];
    size_t nbytes;
} tensor_spec;

/* f32 3x5, f16 7, bf16 4x2, q8_0 2 rows of 64 (2 blocks of 34 bytes each), tq2_0 3 rows of 256
 * (66 bytes each), i8 5x1x1x3, i32 6. */
static const tensor_spec tensor_specs[] = {
    {"w.f32", 0, 2, {3, 5}, 60},
    {"w.f16", 1, 1, {7}, 14},
    {"w.bf16", 30, 2, {4, 2}, 16},
    {"w.q8_0", 8, 2, {64, 2}, 136},
    {"blk.0.attn_q.weight", 35, 2, {256, 3}, 198},
    {"w.i8", 24, 4, {5, 1, 1, 3}, 15},
    {"w.i32", 26, 1, {6}, 24},
};
#define N_TENSORS (sizeof tensor_specs / sizeof tensor_specs[0])

static uint8_t tensor_byte(size_t t, size_t i) {
    return (uint8_t)(i * 31 + t * 7 + 1);
}

/* Tensor bytes in uneven pieces: 7 at a time for the first tensor, then calls that span two
 * tensors, to exercise every path through write. */
static void write_tensor_data(bn_gguf_writer *w) {
    uint8_t all[1024];
    size_t n = 0;
    for (size_t t = 0; t < N_TENSORS; t++)
        for (size_t i = 0; i < tensor_specs[t].nbytes; i++)
            all[n++] = tensor_byte(t, i);
    size_t done = 0, first = tensor_specs[0].nbytes;
    for (; done < first; done += 7)
        CHECK_OK(bn_gguf_writer_write(w, all + done, done + 7 <= first ? 7 : first - done));
    done = first;
    CHECK_OK(bn_gguf_writer_write(w, all + done, 0));
    while (done < n) {
        size_t k = n - done < 100 ? n - done : 100;
        CHECK_OK(bn_gguf_writer_write(w, all + done, k));
        done += k;
    }
}

static void write_round_trip(const char *path, uint32_t alignment, const kv_set *s) {
    bn_gguf_writer *w = NULL;
    CHECK_OK(bn_gguf_writer_create(&w, path, alignment));
    if (w == NULL)
        return;
    CHECK_OK(bn_gguf_writer_set_str(w, "general.architecture", "bitnet"));
    CHECK_OK(bn_gguf_writer_set_u32(w, "t.replaced", 1)); /* replaced below, keeps its place */
    for (int i = 0; i < s->n; i++)
        CHECK_OK(bn_gguf_writer_set(w, s->key[i], &s->value[i]));
    CHECK_OK(bn_gguf_writer_set_str(w, "t.replaced", "two"));
    CHECK_OK(bn_gguf_writer_set_i32(w, "t.set_i32", -7));
    CHECK_OK(bn_gguf_writer_set_f32(w, "t.set_f32", 0.25f));
    CHECK_OK(bn_gguf_writer_set_bool(w, "t.set_bool", true));
    const char *strs[] = {"a", "", "ccc"};
    CHECK_OK(bn_gguf_writer_set_arr_str(w, "t.set_arr_str", strs, 3));
    uint8_t u16le[] = {1, 0, 0xff, 0xff};
    CHECK_OK(bn_gguf_writer_set_arr(w, "t.set_arr", BN_GGUF_U16, u16le, 2));
    for (size_t t = 0; t < N_TENSORS; t++) {
        const tensor_spec *ts = &tensor_specs[t];
        CHECK_OK(bn_gguf_writer_add_tensor(w, ts->name, ts->type, ts->n_dims, ts->ne, ts->nbytes));
    }
    CHECK_OK(bn_gguf_writer_begin_data(w));
    write_tensor_data(w);
    CHECK_OK(bn_gguf_writer_finish(w));
}

static void check_round_trip_kvs(const bn_gguf *g, const kv_set *s, uint32_t alignment) {
    uint64_t want = (uint64_t)s->n + 7 + (alignment != 32);
    CHECK(g->n_kv == want, "n_kv %llu, want %llu", (unsigned long long)g->n_kv,
          (unsigned long long)want);
    CHECK(strcmp(g->kv[0].key, "general.architecture") == 0 &&
              strcmp(g->kv[1].key, "t.replaced") == 0,
          "keys keep the order they were first set in");
    CHECK(strcmp(g->architecture, "bitnet") == 0, "architecture '%s'", g->architecture);
    for (int i = 0; i < s->n; i++) {
        const bn_gguf_kv *kv = bn_gguf_find(g, s->key[i]);
        CHECK(kv != NULL && kv == &g->kv[i + 2], "key %s found in place", s->key[i]);
        CHECK(kv != NULL && values_equal(&s->value[i], &kv->value), "key %s reads back equal",
              s->key[i]);
    }
    const char *str = NULL;
    CHECK_OK(bn_gguf_get_str(g, "t.replaced", &str));
    CHECK(str != NULL && strcmp(str, "two") == 0, "set replaces a key");
    int64_t i64 = 0;
    float f = 0;
    bool b = false;
    CHECK_OK(bn_gguf_get_i64(g, "t.set_i32", &i64));
    CHECK_OK(bn_gguf_get_f32(g, "t.set_f32", &f));
    CHECK_OK(bn_gguf_get_bool(g, "t.set_bool", &b));
    CHECK(i64 == -7 && f == 0.25f && b, "convenience setters");
    const bn_gguf_array *a = NULL;
    bn_gguf_str e = {0};
    uint64_t u = 0;
    CHECK_OK(bn_gguf_get_arr(g, "t.set_arr_str", &a));
    CHECK(a != NULL && a->count == 3 && bn_gguf_arr_get_str(a, 2, &e) == BN_OK &&
              strcmp(e.data, "ccc") == 0,
          "set_arr_str");
    CHECK_OK(bn_gguf_get_arr(g, "t.set_arr", &a));
    CHECK(a != NULL && a->count == 2 && bn_gguf_arr_get_u64(a, 1, &u) == BN_OK && u == 65535,
          "set_arr");
    uint32_t al = 0;
    if (alignment != 32)
        CHECK(bn_gguf_get_u32(g, "general.alignment", &al) == BN_OK && al == alignment &&
                  g->kv[g->n_kv - 1].value.type == BN_GGUF_U32,
              "general.alignment recorded last, as u32");
    else
        CHECK(bn_gguf_find(g, "general.alignment") == NULL, "no general.alignment at 32");
}

static void check_round_trip_tensors(const bn_gguf *g, uint32_t alignment) {
    CHECK(g->n_tensors == N_TENSORS, "n_tensors %llu", (unsigned long long)g->n_tensors);
    CHECK(g->alignment == alignment && g->data_offset % alignment == 0, "alignment %u, data at %zu",
          g->alignment, g->data_offset);
    const uint8_t *base = g->file.data + g->data_offset;
    for (size_t t = 0; t < N_TENSORS && t < g->n_tensors; t++) {
        const tensor_spec *ts = &tensor_specs[t];
        const bn_gguf_tensor *gt = &g->tensors[t];
        CHECK(strcmp(gt->name, ts->name) == 0 && bn_gguf_find_tensor(g, ts->name) == gt,
              "tensor %zu name", t);
        CHECK(gt->ggml_type == ts->type && gt->n_dims == ts->n_dims && gt->size == ts->nbytes,
              "tensor %s type/dims/size", ts->name);
        for (int d = 0; d < 4; d++)
            CHECK(gt->ne[d] == (d < ts->n_dims ? ts->ne[d] : 1), "tensor %s ne[%d]", ts->name, d);
        CHECK(gt->data == base + gt->offset && gt->offset % alignment == 0,
              "tensor %s data aligned in the data section", ts->name);
        bool same = true;
        for (size_t i = 0; i < ts->nbytes; i++)
            same = same && gt->data[i] == tensor_byte(t, i);
        CHECK(same, "tensor %s bytes", ts->name);
    }
    CHECK(bn_gguf_find_tensor(g, "missing") == NULL, "missing tensor");
}

static void test_round_trip(kv_set *s, uint32_t alignment, const char *name) {
    char path[512];
    tmp_path(path, sizeof path, name);
    write_round_trip(path, alignment, s);
    bn_gguf *g = NULL;
    CHECK_OK(bn_gguf_open(&g, path));
    if (g == NULL)
        return;
    CHECK(g->version == 3, "version %u", g->version);
    check_round_trip_kvs(g, s, alignment);
    check_round_trip_tensors(g, alignment);
    bn_gguf_close(g);
}

/* ---- 2. reader errors ----------------------------------------------------------------- */

static void test_header_errors(void) {
    uint64_t ne[] = {32};
    bytes good = tensor_file("bitnet", "a", 1, ne, 0, 0, 128);
    expect_ok("good one-tensor file", &good);
    bytes b = {0};
    expect_fail("empty file", &b, BN_ERR_FORMAT, "magic", "at byte 0");
    put(&b, good.p, good.n);
    b.p[3] = 'X';
    expect_fail("bad magic", &b, BN_ERR_FORMAT, "magic", "not a GGUF file");
    memcpy(b.p, good.p, 4);
    uint32_t versions[] = {1, 99, 0x03000000};
    const char *words[] = {"version 1 is not supported", "version 99", "big-endian"};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 4; k++)
            b.p[4 + k] = (uint8_t)(versions[i] >> (8 * k));
        expect_fail(words[i], &b, BN_ERR_FORMAT, words[i], "byte 4");
    }
    b.p[4] = 2;
    b.p[7] = 0;
    expect_ok("version 2", &b);
    memset(b.p + 8, 0xff, 8);
    expect_fail("huge tensor_count", &b, BN_ERR_FORMAT, "tensor_count", "byte 8");
    memcpy(b.p + 8, good.p + 8, 8);
    memset(b.p + 16, 0xff, 8);
    expect_fail("huge kv_count", &b, BN_ERR_FORMAT, "kv_count", "byte 16");
    /* each count fits alone, both together do not */
    bytes c = {0};
    put_header(&c, 3, 2, 5);
    put_zeros(&c, 100);
    expect_fail("counts together", &c, BN_ERR_FORMAT, "cannot both fit", NULL);
    free(good.p);
    free(b.p);
    free(c.p);
}

/* Files with no tensors may end right after the infos (no padding, no data section). */
static void test_minimal_files(void) {
    bytes b = {0};
    put_header(&b, 3, 0, 0);
    expect_ok("header only", &b);
    bytes k = kv_file("general.name", BN_GGUF_STRING);
    put_str(&k, "x", 1);
    bn_gguf *g = NULL;
    uint8_t *copy;
    CHECK_OK(open_bytes(k.p, k.n, &g, &copy));
    CHECK(g != NULL && g->n_tensors == 0 && g->data_offset == k.n && g->type_note[0] == '\0',
          "no tensors: data_offset at the end");
    bn_gguf_close(g);
    free(copy);
    free(b.p);
    free(k.p);
}

static void test_string_errors(void) {
    bytes b = {0};
    put_header(&b, 3, 0, 1);
    put_le(&b, UINT64_MAX, 8);
    put_zeros(&b, 20);
    expect_fail("huge key length", &b, BN_ERR_FORMAT, "key length", "65535");
    b.n = 24;
    put_le(&b, 70000, 8);
    put_zeros(&b, 70010);
    expect_fail("key too long", &b, BN_ERR_FORMAT, "key length 70000", "byte 24");
    b.n = 24;
    put_str(&b, "a\0b", 3);
    put_le(&b, BN_GGUF_U8, 4);
    put_le(&b, 1, 1);
    expect_fail("NUL in key", &b, BN_ERR_FORMAT, "NUL", "kv 0");
    bytes s = kv_file("s", BN_GGUF_STRING);
    put_le(&s, 1000, 8);
    put_zeros(&s, 10);
    expect_fail("string past the end", &s, BN_ERR_FORMAT, "string length 1000", "kv 0 ('s')");
    free(b.p);
    free(s.p);
}

static void test_value_errors(void) {
    bytes b = kv_file("x", (bn_gguf_type)13);
    put_zeros(&b, 8);
    expect_fail("value type 13", &b, BN_ERR_FORMAT, "value type 13", "kv 0 ('x')");
    bytes t = kv_file("flag", BN_GGUF_BOOL);
    put_le(&t, 2, 1);
    expect_fail("bool 2", &t, BN_ERR_FORMAT, "bool = 2", "'flag'");
    bytes a = kv_file("flags", BN_GGUF_ARRAY);
    put_le(&a, BN_GGUF_BOOL, 4);
    put_le(&a, 3, 8);
    put_le(&a, 0x00020100, 3);
    expect_fail("bool element 2", &a, BN_ERR_FORMAT, "array element 2 (bool) = 2", NULL);
    bytes e = kv_file("arr", BN_GGUF_ARRAY);
    put_le(&e, 13, 4);
    put_le(&e, 0, 8);
    expect_fail("array element type", &e, BN_ERR_FORMAT, "array element type 13", NULL);
    bytes h = kv_file("arr", BN_GGUF_ARRAY);
    put_le(&h, BN_GGUF_U64, 4);
    put_le(&h, UINT64_MAX / 4, 8);
    put_zeros(&h, 64);
    expect_fail("fixed array count", &h, BN_ERR_FORMAT, "array of", "u64");
    bytes s = kv_file("tokens", BN_GGUF_ARRAY);
    put_le(&s, BN_GGUF_STRING, 4);
    put_le(&s, 1000, 8);
    put_zeros(&s, 64);
    expect_fail("string array count", &s, BN_ERR_FORMAT, "cannot fit", "'tokens'");
    s.n = s.n - 64 - 8;
    put_le(&s, 2, 8);
    put_str(&s, "ok", 2);
    put_le(&s, 99, 8);
    expect_fail("second string", &s, BN_ERR_FORMAT, "('tokens')[1]", "string length 99");
    bytes d = {0};
    put_header(&d, 3, 0, 2);
    for (int i = 0; i < 2; i++) {
        put_key(&d, "x", BN_GGUF_U8);
        put_le(&d, 1, 1);
    }
    expect_fail("duplicate key", &d, BN_ERR_FORMAT, "duplicate key", "kv 1 ('x')");
    bytes *all[] = {&b, &t, &a, &e, &h, &s, &d};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->p);
}

static bytes nested_file(int depth) {
    bytes b = kv_file("deep", BN_GGUF_ARRAY);
    for (int level = 1; level <= depth; level++) {
        put_le(&b, level < depth ? BN_GGUF_ARRAY : BN_GGUF_U8, 4);
        put_le(&b, level < depth ? 1 : 0, 8);
    }
    return b;
}

static void test_nesting(void) {
    bytes ok = nested_file(BN_GGUF_MAX_NESTING), deep = nested_file(BN_GGUF_MAX_NESTING + 1);
    expect_ok("nesting at the limit", &ok);
    expect_fail("nesting too deep", &deep, BN_ERR_FORMAT, "nesting depth 9", "'deep')[0]");
    free(ok.p);
    free(deep.p);
}

static void test_known_key_errors(void) {
    uint64_t values[] = {12, 4, 0, (uint64_t)1 << 32};
    for (int i = 0; i < 4; i++) {
        bytes b = kv_file("general.alignment", BN_GGUF_U64);
        put_le(&b, values[i], 8);
        expect_fail("bad alignment", &b, BN_ERR_FORMAT, "general.alignment =", "power of two");
        free(b.p);
    }
    bytes neg = kv_file("general.alignment", BN_GGUF_I32);
    put_le(&neg, (uint64_t)-32, 4);
    expect_fail("negative alignment", &neg, BN_ERR_FORMAT, "general.alignment = -32", NULL);
    bytes s = kv_file("general.alignment", BN_GGUF_STRING);
    put_str(&s, "32", 2);
    expect_fail("alignment as string", &s, BN_ERR_FORMAT, "general.alignment has type string",
                NULL);
    bytes u64 = kv_file("general.alignment", BN_GGUF_U64);
    put_le(&u64, 64, 8);
    expect_ok("alignment as u64 (any integer type is accepted)", &u64);
    bytes arch = kv_file("general.architecture", BN_GGUF_U32);
    put_le(&arch, 1, 4);
    expect_fail("architecture not a string", &arch, BN_ERR_FORMAT, "general.architecture", "u32");
    free(neg.p);
    free(s.p);
    free(u64.p);
    free(arch.p);
}

static void test_tensor_info_errors(void) {
    uint64_t ne[] = {32, 2}, zero[] = {32, 0}, big[] = {(uint64_t)1 << 40, (uint64_t)1 << 40};
    bytes b = tensor_file("bitnet",
                          "0123456789012345678901234567890123456789012345678901234567890123"
                          "4",
                          2, ne, 0, 0, 256);
    expect_fail("name too long", &b, BN_ERR_FORMAT, "tensor name length 65", "tensor info 0");
    free(b.p);
    b = tensor_file("bitnet", "a", 0, ne, 0, 0, 256);
    expect_fail("n_dims 0", &b, BN_ERR_FORMAT, "n_dims = 0", "tensor info 0 ('a')");
    free(b.p);
    uint64_t ne5[] = {32, 1, 1, 1, 1};
    b = tensor_file("bitnet", "a", 5, ne5, 0, 0, 256);
    expect_fail("n_dims 5", &b, BN_ERR_FORMAT, "n_dims = 5", NULL);
    free(b.p);
    b = tensor_file("bitnet", "blk.0.attn_q.weight", 2, zero, 0, 0, 256);
    expect_fail("dim 0", &b, BN_ERR_FORMAT, "('blk.0.attn_q.weight'): dims[1] = 0 at byte",
                "must be > 0");
    free(b.p);
    b = tensor_file("bitnet", "a", 2, big, 0, 0, 256);
    expect_fail("dims overflow", &b, BN_ERR_FORMAT, "dims[1]", "overflow");
    free(b.p);
    b = tensor_file("bitnet", "a\x01", 2, ne, 0, 4, 256);
    expect_fail("misaligned offset", &b, BN_ERR_FORMAT, "offset 4", "alignment 32");
    CHECK(strstr(bn_last_error(), "'a?'") != NULL, "unprintable name bytes shown as '?': %s",
          bn_last_error());
    free(b.p);
    uint64_t q8[] = {33};
    b = tensor_file("bitnet", "q", 1, q8, 8, 0, 256);
    expect_fail("not whole blocks", &b, BN_ERR_FORMAT, "dims[0] = 33", "q8_0 block size 32");
    free(b.p);
}

static void test_tensor_pair_errors(void) {
    uint64_t ne[] = {16};
    bytes b = {0};
    put_header(&b, 3, 2, 0);
    put_tinfo(&b, "same", 1, ne, 0, 0);
    put_tinfo(&b, "same", 1, ne, 0, 64);
    put_pad(&b, 32);
    put_zeros(&b, 128);
    expect_fail("duplicate tensor name", &b, BN_ERR_FORMAT, "duplicate tensor name",
                "tensor info 1 ('same')");
    b.n = 0;
    put_header(&b, 3, 2, 0);
    put_tinfo(&b, "a", 1, ne, 0, 0);
    put_tinfo(&b, "b", 1, ne, 0, 32);
    put_pad(&b, 32);
    put_zeros(&b, 128);
    expect_fail("overlap", &b, BN_ERR_FORMAT, "overlaps tensor 'a'", "tensor info 1 ('b')");
    free(b.p);
}

static void test_data_errors(void) {
    uint64_t ne[] = {16};
    bytes b = tensor_file("bitnet", "a", 1, ne, 0, 64, 64);
    expect_fail("offset beyond the file", &b, BN_ERR_FORMAT, "offset 64", "past the end");
    free(b.p);
    b = tensor_file("bitnet", "a", 1, ne, 0, 0, 63);
    expect_fail("data one byte short", &b, BN_ERR_FORMAT, "size 64", "past the end");
    free(b.p);
    /* the file ends inside the padding after the infos: a tensor but no data section */
    b = (bytes){0};
    put_header(&b, 3, 1, 0);
    put_tinfo(&b, "a", 1, ne, 0, 0);
    put_zeros(&b, (32 - b.n % 32) % 32 / 2);
    CHECK(b.n % 32 != 0, "test file must end unaligned");
    expect_fail("no data section", &b, BN_ERR_FORMAT, "data section", "past the end");
    free(b.p);
}

static void test_type_ids(void) {
    uint64_t ne[] = {256};
    struct {
        const char *arch;
        uint32_t id;
        const char *w1, *w2;
    } cases[] = {
        {"bitnet", 23, "upstream ggml IQ4_XS", "type 23"}, /* a type we have no row for */
        {"bitnet", 31, "Q4_0_4_4", "retired"},
        {"bitnet", 200, "type 200", "not a known ggml type"},
        {"llama", 39, "MXFP4", "not supported"},
        {"bitnet", 39, "MXFP4", "not supported"},
        {"bitnet-b1.58", 39, "is TL2", "not supported"},
        {"bitnet-25", 39, "is TL2", NULL},
        {"bitnet-25", 37, "is I8_S", "type 37 read as bitnet.cpp I8_S"},
        {"bitnet-25", 38, "is TL1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes b = tensor_file(cases[i].arch, "blk.3.ffn_up.weight", 1, ne, cases[i].id, 0, 1024);
        expect_fail(cases[i].w1, &b, BN_ERR_DTYPE, cases[i].w1, cases[i].w2);
        CHECK(strstr(bn_last_error(), "blk.3.ffn_up.weight") != NULL, "names the tensor: %s",
              bn_last_error());
        free(b.p);
    }
    /* 36 is bitnet.cpp's I2_S in every file: 256 values take 64 bytes plus a 32-byte tail */
    bytes b = tensor_file("bitnet", "w", 1, ne, 36, 0, 96);
    bn_gguf *g = NULL;
    uint8_t *copy;
    CHECK_OK(open_bytes(b.p, b.n, &g, &copy));
    CHECK(g != NULL && g->tensors[0].dtype == BN_DTYPE_I2_S && g->tensors[0].size == 96 &&
              strstr(g->type_note, "type 36 read as bitnet.cpp I2_S") != NULL,
          "type 36 is I2_S with a note: %s", g ? g->type_note : "");
    bn_gguf_close(g);
    free(copy);
    free(b.p);
}

/* ---- truncation, flips, allocation failures ------------------------------------------- */

static void test_damage(const char *path) {
    size_t n = 0;
    uint8_t *good = read_all(path, &n);
    bn_gguf *g = NULL;
    uint8_t *copy;
    CHECK(good != NULL && open_bytes(good, n, &g, &copy) == BN_OK, "good file opens");
    size_t data_offset = g ? g->data_offset : 0, data_end = 0; /* after the last tensor */
    for (uint64_t t = 0; g != NULL && t < g->n_tensors; t++)
        if (g->tensors[t].offset + g->tensors[t].size > data_end)
            data_end = g->tensors[t].offset + g->tensors[t].size;
    bn_gguf_close(g);
    free(copy);
    if (good == NULL || data_offset == 0)
        return;
    int bad = 0;
    /* every byte of the header, KV pairs, tensor infos and padding; a few inside the data (the
     * padding after the last tensor may go: nothing reads it) */
    size_t cuts[] = {data_offset + 1, data_offset + 100, data_offset + data_end - 1};
    for (size_t cut = 0; cut < data_offset + 3; cut++) {
        size_t len = cut < data_offset ? cut : cuts[cut - data_offset];
        g = NULL;
        bn_status st = open_bytes(good, len, &g, &copy);
        bad += st == BN_OK || strstr(bn_last_error(), "at byte") == NULL;
        bn_gguf_close(g);
        free(copy);
    }
    CHECK(bad == 0, "%d truncations were accepted or unnamed", bad);
    static const uint8_t flips[] = {0xff, 0x01, 0x80};
    for (size_t i = 0; i < data_offset; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            good[i] ^= flips[f];
            g = NULL;
            if (open_bytes(good, n, &g, &copy) == BN_OK)
                bn_gguf_close(g); /* some flips stay valid; none may crash */
            free(copy);
            good[i] ^= flips[f];
        }
    }
    free(good);
}

static void test_out_of_memory(const char *path) {
    size_t n = 0;
    uint8_t *good = read_all(path, &n);
    int failures = 0;
    for (uint64_t k = 1; good != NULL && k < 100; k++) {
        bn_gguf *g = NULL;
        uint8_t *copy;
        bn_alloc_fail_after(k);
        bn_status st = open_bytes(good, n, &g, &copy);
        bn_alloc_fail_after(0);
        free(copy);
        if (st == BN_OK) {
            bn_gguf_close(g);
            break;
        }
        CHECK(st == BN_ERR_OUT_OF_MEMORY && g == NULL, "allocation %llu: %s: %s",
              (unsigned long long)k, bn_status_str(st), bn_last_error());
        failures++;
    }
    CHECK(failures >= 2, "only %d allocation points failed", failures);
    free(good);
}

/* ---- 3. writer errors ----------------------------------------------------------------- */

/* After a failed or aborted write: no file at path, no temporary left, a prior file intact. */
static void expect_nothing_written(const char *what, const char *path, int files_before) {
    CHECK(!file_exists(path), "%s: %s exists", what, path);
    CHECK(count_files() == files_before, "%s: %d files, want %d (temporary left?)", what,
          count_files(), files_before);
}

static bn_gguf_writer *writer_with_tensor(const char *path) {
    bn_gguf_writer *w = NULL;
    uint64_t ne[] = {2};
    CHECK_OK(bn_gguf_writer_create(&w, path, 0));
    if (w != NULL)
        CHECK_OK(bn_gguf_writer_add_tensor(w, "t", 0, 1, ne, 8));
    return w;
}

static void test_writer_tensor_errors(const char *path, int before) {
    uint64_t ne[] = {4}, q8[] = {33}, zero[] = {4, 0};
    struct {
        const char *name;
        uint32_t type;
        int n_dims;
        const uint64_t *ne;
        size_t nbytes;
        bn_status code;
        const char *word;
    } cases[] = {
        {"t", 0, 1, ne, 16, BN_ERR_INVALID_ARG, "duplicate tensor name 't'"},
        {"u", 0, 1, ne, 15, BN_ERR_SHAPE, "nbytes 15"},
        {"u", 23, 1, ne, 16, BN_ERR_DTYPE, "type 23"},
        {"u", 37, 1, ne, 16, BN_ERR_DTYPE, "type 37"},
        {"u", 8, 1, q8, 34, BN_ERR_SHAPE, "block size"},
        {"u", 0, 0, ne, 16, BN_ERR_SHAPE, "n_dims 0"},
        {"u", 0, 5, ne, 16, BN_ERR_SHAPE, "n_dims 5"},
        {"u", 0, 2, zero, 16, BN_ERR_SHAPE, "dims[1] = 0"},
        {"0123456789012345678901234567890123456789012345678901234567890123x", 0, 1, ne, 16,
         BN_ERR_INVALID_ARG, "at most 64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bn_gguf_writer *w = writer_with_tensor(path);
        bn_status st = bn_gguf_writer_add_tensor(w, cases[i].name, cases[i].type, cases[i].n_dims,
                                                 cases[i].ne, cases[i].nbytes);
        CHECK(st == cases[i].code && strstr(bn_last_error(), cases[i].word) != NULL,
              "add_tensor case %zu: %s: %s", i, bn_status_str(st), bn_last_error());
        CHECK(bn_gguf_writer_begin_data(w) == cases[i].code, "later calls fail too");
        CHECK(bn_gguf_writer_finish(w) == cases[i].code &&
                  strstr(bn_last_error(), "earlier call failed") != NULL,
              "finish fails after case %zu: %s", i, bn_last_error());
        expect_nothing_written(cases[i].word, path, before);
    }
}

static void test_writer_byte_counts(const char *path, int before) {
    uint8_t nine[9] = {0};
    bn_gguf_writer *w = writer_with_tensor(path);
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK(bn_gguf_writer_write(w, nine, 9) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "only 8 bytes") != NULL,
          "too many bytes: %s", bn_last_error());
    CHECK(bn_gguf_writer_finish(w) != BN_OK, "finish after too many bytes");
    expect_nothing_written("too many bytes", path, before);
    w = writer_with_tensor(path);
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK_OK(bn_gguf_writer_write(w, nine, 7));
    CHECK(bn_gguf_writer_finish(w) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "tensor 't' got 7 of its 8 bytes") != NULL,
          "too few bytes: %s", bn_last_error());
    expect_nothing_written("too few bytes", path, before);
    w = writer_with_tensor(path);
    CHECK(bn_gguf_writer_write(w, nine, 8) == BN_ERR_INVALID_ARG, "write before begin_data");
    bn_gguf_writer_abort(w);
    w = writer_with_tensor(path);
    CHECK(bn_gguf_writer_finish(w) == BN_ERR_INVALID_ARG, "finish before begin_data");
    expect_nothing_written("finish before begin_data", path, before);
    w = writer_with_tensor(path);
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK_OK(bn_gguf_writer_write(w, nine, 3));
    CHECK(count_files() == before + 1, "a temporary file while writing");
    bn_gguf_writer_abort(w);
    expect_nothing_written("abort", path, before);
    bn_gguf_writer_abort(NULL);
}

static void test_writer_value_errors(const char *path, int before) {
    bn_gguf_writer *w = NULL;
    CHECK(bn_gguf_writer_create(&w, path, 12) == BN_ERR_INVALID_ARG && w == NULL, "alignment 12");
    CHECK(bn_gguf_writer_create(&w, path, 4) == BN_ERR_INVALID_ARG && w == NULL, "alignment 4");
    CHECK(bn_gguf_writer_create(&w, "/nonexistent-dir/x.gguf", 0) == BN_ERR_IO && w == NULL,
          "missing directory: %s", bn_last_error());
    bn_gguf_value big = {.type = BN_GGUF_U8, .u64 = 300}, bad_type = {.type = BN_GGUF_TYPE_COUNT};
    bn_gguf_value level[BN_GGUF_MAX_NESTING + 1];
    level[0] = arr_value(BN_GGUF_U8, 0, NULL, NULL);
    for (int d = 1; d <= BN_GGUF_MAX_NESTING; d++)
        level[d] = arr_value(BN_GGUF_ARRAY, 1, NULL, &level[d - 1]);
    struct {
        const char *key;
        const bn_gguf_value *v;
        bn_status code;
        const char *word;
    } cases[] = {
        {"general.alignment", &(bn_gguf_value){.type = BN_GGUF_U32, .u64 = 16}, BN_ERR_INVALID_ARG,
         "general.alignment"},
        {"x", &big, BN_ERR_RANGE, "300 does not fit u8"},
        {"x", &bad_type, BN_ERR_INVALID_ARG, "not a GGUF type"},
        {"x", &level[BN_GGUF_MAX_NESTING], BN_ERR_INVALID_ARG, "nested 9 deep"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_OK(bn_gguf_writer_create(&w, path, 0));
        bn_status st = bn_gguf_writer_set(w, cases[i].key, cases[i].v);
        CHECK(st == cases[i].code && strstr(bn_last_error(), cases[i].word) != NULL,
              "set case %zu: %s: %s", i, bn_status_str(st), bn_last_error());
        CHECK(bn_gguf_writer_finish(w) == cases[i].code, "finish fails after set case %zu", i);
        expect_nothing_written(cases[i].word, path, before);
    }
    CHECK_OK(bn_gguf_writer_create(&w, path, 0));
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK(bn_gguf_writer_set_u32(w, "late", 1) == BN_ERR_INVALID_ARG, "set after begin_data");
    bn_gguf_writer_abort(w);
    expect_nothing_written("set after begin_data", path, before);
}

/* A failed write leaves an existing file alone; a successful one replaces it. */
static void test_writer_replaces(const char *path) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fputs("old", f) >= 0, "prior file");
    if (f != NULL)
        fclose(f);
    bn_gguf_writer *w = writer_with_tensor(path);
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK(bn_gguf_writer_finish(w) != BN_OK, "incomplete write fails");
    size_t n = 0;
    uint8_t *p = read_all(path, &n);
    CHECK(p != NULL && n == 3 && memcmp(p, "old", 3) == 0, "the prior file is intact");
    free(p);
    CHECK_OK(bn_gguf_writer_create(&w, path, 0));
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK_OK(bn_gguf_writer_finish(w));
    bn_gguf *g = NULL;
    CHECK_OK(bn_gguf_open(&g, path));
    /* 24 header bytes, padded to the alignment as upstream does even without tensors */
    CHECK(g != NULL && g->n_kv == 0 && g->n_tensors == 0 && g->file.size == 32,
          "empty file replaced the prior one");
    bn_gguf_close(g);
    unlink(path);
}

static void test_writer_errors(void) {
    char path[512];
    tmp_path(path, sizeof path, "writer.gguf");
    int before = count_files();
    test_writer_tensor_errors(path, before);
    test_writer_byte_counts(path, before);
    test_writer_value_errors(path, before);
    test_writer_replaces(path);
}

/* ---- 4. getters ----------------------------------------------------------------------- */

static void test_key_getters(const bn_gguf *g) {
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f = 0;
    bool b = false;
    const char *s = NULL;
    CHECK(bn_gguf_get_u32(g, "t.u8", &u32) == BN_OK && u32 == 255, "u32 from u8");
    CHECK(bn_gguf_get_u32(g, "t.u32", &u32) == BN_OK && u32 == UINT32_MAX, "u32 from u32");
    CHECK(bn_gguf_get_u32(g, "t.i64.max", &u32) == BN_ERR_RANGE &&
              strstr(bn_last_error(), "'t.i64.max'") != NULL,
          "u32 from a large i64: %s", bn_last_error());
    CHECK(bn_gguf_get_u32(g, "t.u64", &u32) == BN_ERR_RANGE &&
              strstr(bn_last_error(), "18446744073709551615 (u64)") != NULL,
          "u32 from u64 out of range: %s", bn_last_error());
    CHECK(bn_gguf_get_u64(g, "t.u64", &u64) == BN_OK && u64 == UINT64_MAX, "u64");
    CHECK(bn_gguf_get_u64(g, "t.i8", &u64) == BN_ERR_RANGE, "u64 from a negative i8");
    CHECK(bn_gguf_get_i64(g, "t.i64", &i64) == BN_OK && i64 == INT64_MIN, "i64 min");
    CHECK(bn_gguf_get_i64(g, "t.i16", &i64) == BN_OK && i64 == INT16_MIN, "i64 from i16");
    CHECK(bn_gguf_get_i64(g, "t.u64", &i64) == BN_ERR_RANGE, "i64 from u64 max");
    CHECK(bn_gguf_get_u32(g, "missing.key", &u32) == BN_ERR_NOT_FOUND &&
              strstr(bn_last_error(), "'missing.key'") != NULL,
          "missing key named: %s", bn_last_error());
    CHECK(bn_gguf_get_u32(g, "t.str", &u32) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "'t.str' has type string, not u32") != NULL,
          "wrong type: %s", bn_last_error());
    CHECK(bn_gguf_get_f32(g, "t.f32", &f) == BN_OK && f == -FLT_MAX, "f32");
    CHECK(bn_gguf_get_f32(g, "t.f64.negzero", &f) == BN_OK && f == 0.0f && signbit(f),
          "f32 from f64");
    CHECK(bn_gguf_get_f32(g, "t.f64", &f) == BN_ERR_RANGE, "f64 max does not fit f32");
    CHECK(bn_gguf_get_f32(g, "t.u32", &f) == BN_ERR_FORMAT, "f32 from an integer");
    CHECK(bn_gguf_get_bool(g, "t.bool", &b) == BN_OK && b, "bool");
    CHECK(bn_gguf_get_bool(g, "t.u8", &b) == BN_ERR_FORMAT, "bool from u8");
    CHECK(bn_gguf_get_str(g, "t.str.nul", &s) == BN_OK && strcmp(s, "a") == 0 &&
              bn_gguf_find(g, "t.str.nul")->value.str.len == 3,
          "string with a NUL keeps its length");
    const bn_gguf_array *a = NULL;
    CHECK(bn_gguf_get_arr(g, "t.u8", &a) == BN_ERR_FORMAT, "array from a scalar");
    CHECK(bn_gguf_find(g, NULL) == NULL && bn_gguf_find(NULL, "x") == NULL, "NULL lookups");
}

static void test_array_getters(const bn_gguf *g) {
    const bn_gguf_array *a = NULL;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    double d = 0;
    bn_gguf_str s = {0};
    CHECK_OK(bn_gguf_get_arr(g, "a.i8", &a));
    CHECK(bn_gguf_arr_get_i64(a, 0, &i64) == BN_OK && i64 == -128, "i8 element");
    CHECK(bn_gguf_arr_get_u64(a, 0, &u64) == BN_ERR_RANGE, "negative element as u64");
    CHECK(bn_gguf_arr_get_i64(a, 3, &i64) == BN_ERR_RANGE, "index out of range");
    CHECK(bn_gguf_arr_get_str(a, 0, &s) == BN_ERR_FORMAT, "string from an i8 array");
    CHECK_OK(bn_gguf_get_arr(g, "a.u64", &a));
    CHECK(bn_gguf_arr_get_i64(a, 1, &i64) == BN_ERR_RANGE, "u64 max as i64");
    CHECK_OK(bn_gguf_get_arr(g, "a.f32", &a));
    CHECK(bn_gguf_arr_get_f64(a, 2, &d) == BN_OK && d == (double)0.1f, "f32 element");
    CHECK(bn_gguf_arr_get_i64(a, 0, &i64) == BN_ERR_FORMAT, "integer from f32");
    CHECK_OK(bn_gguf_get_arr(g, "a.bool", &a));
    CHECK(bn_gguf_arr_get_u64(a, 2, &u64) == BN_OK && u64 == 1, "bool element as 0/1");
    CHECK_OK(bn_gguf_get_arr(g, "a.str", &a));
    CHECK(bn_gguf_arr_get_str(a, 3, &s) == BN_OK && s.len == 3 && s.data[2] == 'y', "strings");
    CHECK(bn_gguf_arr_get_f64(a, 0, &d) == BN_ERR_FORMAT, "float from a string");
    CHECK_OK(bn_gguf_get_arr(g, "a.nested.int", &a));
    CHECK(a->items[0].arr.count == 3 && bn_gguf_arr_get_i64(&a->items[0].arr, 2, &i64) == BN_OK &&
              i64 == 3,
          "nested int array");
    CHECK(bn_gguf_arr_get_i64(NULL, 0, &i64) == BN_ERR_INVALID_ARG, "NULL array");
    CHECK(strcmp(bn_gguf_type_name(BN_GGUF_STRING), "string") == 0 &&
              strcmp(bn_gguf_type_name((bn_gguf_type)99), "?") == 0,
          "type names");
    CHECK(bn_gguf_type_size(BN_GGUF_U16) == 2 && bn_gguf_type_size(BN_GGUF_ARRAY) == 0 &&
              bn_gguf_type_size((bn_gguf_type)-1) == 0,
          "type sizes");
}

static void test_getters(const char *path) {
    bn_gguf *g = NULL;
    CHECK_OK(bn_gguf_open(&g, path));
    if (g == NULL)
        return;
    test_key_getters(g);
    test_array_getters(g);
    bn_gguf_close(g);
    CHECK(bn_gguf_open(&g, "/nonexistent.gguf") == BN_ERR_IO && g == NULL, "missing file");
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/bn_gguf_XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) {
        CHECK(0, "mkdtemp failed");
        return bn_test_finish("test_gguf");
    }
    static kv_set s; /* static: large, and the raw bytes must outlive the writes */
    add_scalars(&s);
    add_arrays(&s);
    add_nested(&s);
    test_round_trip(&s, 32, "round32.gguf");
    test_round_trip(&s, 64, "round64.gguf");
    char path[512];
    tmp_path(path, sizeof path, "round64.gguf");
    test_getters(path);
    test_header_errors();
    test_minimal_files();
    test_string_errors();
    test_value_errors();
    test_nesting();
    test_known_key_errors();
    test_tensor_info_errors();
    test_tensor_pair_errors();
    test_data_errors();
    test_type_ids();
    test_damage(path);
    test_out_of_memory(path);
    test_writer_errors();
    CHECK(count_files() == 2, "only the two round-trip files remain (%d files)", count_files());
    remove_tmp_dir();
    return bn_test_finish("test_gguf");
}
