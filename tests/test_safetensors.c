/* test_safetensors.c - safetensors reader and writer: round trips, the exact bytes the Python
 * library writes, sharded folders, and every malformed-file path the reader guards. */
#include "io/safetensors.h"
#include "test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define BAD "bad.safetensors" /* the name every malformed in-memory file is opened under */

/* ---- helpers ------------------------------------------------------------------------------- */

static char *make_tmpdir(void) {
    static char templ[64];
    snprintf(templ, sizeof templ, "/tmp/bn_st_XXXXXX");
    char *d = mkdtemp(templ);
    CHECK(d != NULL, "mkdtemp failed");
    return d ? strdup(d) : NULL;
}

/* The folders made here hold only files. */
static void remove_dir(char *dir) {
    if (!dir)
        return;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static int count_dir_entries(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    *size = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
        *size = (size_t)n;
    fclose(f);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n, "cannot write %s", path);
    if (f)
        fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_bytes(path, text, strlen(text));
}

/* A whole file image: length, header text (unpadded), then buf_size bytes of pattern. */
static uint8_t *image(const char *header, size_t hlen, size_t buf_size, size_t *size) {
    *size = 8 + hlen + buf_size;
    uint8_t *p = malloc(*size);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(p + 8, header, hlen);
    for (size_t i = 0; i < buf_size; i++)
        p[8 + hlen + i] = (uint8_t)(i * 7 + 1);
    return p;
}

static bn_status open_image(const uint8_t *p, size_t size) {
    bn_safetensors *st = NULL;
    bn_status s = bn_st_open_memory(&st, p, size, BAD);
    CHECK((s == BN_OK) == (st != NULL), "handle only on success");
    bn_st_close(st);
    return s;
}

/* Open header + buffer and require the error code and that the message names the file and
 * each of up to two words (the tensor, the field). */
static void expect_fail_at(int line, const char *header, size_t buf_size, bn_status code,
                           const char *w1, const char *w2) {
    size_t size;
    uint8_t *p = image(header, strlen(header), buf_size, &size);
    bn_status s = open_image(p, size);
    const char *msg = bn_last_error();
    CHECK(s == code, "line %d: got %s (%s), want %s", line, bn_status_str(s), msg,
          bn_status_str(code));
    CHECK(strstr(msg, BAD) != NULL, "line %d: message lacks the file: %s", line, msg);
    CHECK(!w1 || strstr(msg, w1), "line %d: message lacks '%s': %s", line, w1, msg);
    CHECK(!w2 || strstr(msg, w2), "line %d: message lacks '%s': %s", line, w2, msg);
    free(p);
}
#define EXPECT_FAIL(h, buf, code, w1, w2) expect_fail_at(__LINE__, (h), (buf), (code), (w1), (w2))

static void expect_ok_at(int line, const char *header, size_t buf_size, int64_t n_tensors) {
    size_t size;
    uint8_t *p = image(header, strlen(header), buf_size, &size);
    bn_safetensors *st = NULL;
    bn_status s = bn_st_open_memory(&st, p, size, BAD);
    CHECK(s == BN_OK, "line %d: %s", line, bn_last_error());
    CHECK(!st || st->n_tensors == n_tensors, "line %d: %lld tensors", line,
          st ? (long long)st->n_tensors : -1LL);
    bn_st_close(st);
    free(p);
}
#define EXPECT_OK(h, buf, n) expect_ok_at(__LINE__, (h), (buf), (n))

/* ---- round trip ---------------------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    bn_st_dtype dtype;
    int n_dims;
    int64_t shape[4];
} spec;

static const spec specs[] = {
    {"layers.0.w", BN_ST_F32, 2, {2, 3}},
    {"layers.0.b", BN_ST_BF16, 1, {5}},
    {"h", BN_ST_F16, 3, {1, 2, 2}},
    {"d", BN_ST_F64, 1, {3}},
    {"i64", BN_ST_I64, 1, {2}},
    {"i32", BN_ST_I32, 2, {2, 2}},
    {"i16", BN_ST_I16, 1, {3}},
    {"i8", BN_ST_I8, 1, {5}},
    {"u8", BN_ST_U8, 1, {7}},
    {"flag", BN_ST_BOOL, 1, {3}},
    {"scalar", BN_ST_F32, 0, {0}},
    {"empty", BN_ST_F32, 2, {0, 4}},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

static size_t spec_size(const spec *s) {
    size_t n = bn_st_dtype_size(s->dtype);
    for (int i = 0; i < s->n_dims; i++)
        n *= (size_t)s->shape[i];
    return n;
}

/* Data distinct per tensor and per byte. */
static uint8_t *spec_data(int k) {
    size_t n = spec_size(&specs[k]);
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(k * 31 + i * 3 + 1);
    return p;
}

static const char *const meta_note = "h\xc3\xa9llo \"quoted\"\n\ttab \x01 \\ /";

static bn_status write_specs(const char *path) {
    bn_st_writer *w = NULL;
    uint8_t *data[N_SPECS];
    CHECK_OK(bn_st_writer_create(&w));
    CHECK_OK(bn_st_writer_add_meta(w, "format", "pt"));
    CHECK_OK(bn_st_writer_add_meta(w, "note", meta_note));
    for (int k = 0; k < N_SPECS; k++) {
        data[k] = spec_data(k);
        CHECK_OK(bn_st_writer_add(w, specs[k].name, specs[k].dtype, specs[k].n_dims, specs[k].shape,
                                  data[k], spec_size(&specs[k])));
    }
    bn_status s = bn_st_writer_write(w, path);
    bn_st_writer_free(w);
    for (int k = 0; k < N_SPECS; k++)
        free(data[k]);
    return s;
}

static void check_specs(const bn_safetensors *st) {
    CHECK(st->n_tensors == N_SPECS, "%lld tensors", (long long)st->n_tensors);
    for (int64_t i = 1; i < st->n_tensors; i++)
        CHECK(strcmp(st->tensors[i - 1].name, st->tensors[i].name) < 0, "sorted at %lld",
              (long long)i);
    for (int k = 0; k < N_SPECS; k++) {
        const bn_st_tensor *t = bn_st_find(st, specs[k].name);
        CHECK(t != NULL, "find %s", specs[k].name);
        if (!t)
            continue;
        CHECK(t->dtype == specs[k].dtype && t->n_dims == specs[k].n_dims, "%s: dtype/dims",
              t->name);
        for (int d = 0; d < t->n_dims; d++)
            CHECK(t->shape[d] == specs[k].shape[d], "%s: dim %d", t->name, d);
        CHECK(t->size == spec_size(&specs[k]), "%s: size %zu", t->name, t->size);
        /* the mapping is page aligned, and the layout keeps each tensor element-aligned */
        CHECK((uintptr_t)t->data % bn_st_dtype_size(t->dtype) == 0, "%s: aligned", t->name);
        uint8_t *want = spec_data(k);
        CHECK(t->size == 0 || memcmp(t->data, want, t->size) == 0, "%s: data", t->name);
        free(want);
    }
    CHECK(bn_st_find(st, "missing") == NULL && bn_st_find(st, "") == NULL, "absent names");
    CHECK(st->n_meta == 2, "%lld metadata entries", (long long)st->n_meta);
    if (st->n_meta == 2) {
        CHECK(strcmp(st->meta[0].key, "format") == 0 && strcmp(st->meta[0].value, "pt") == 0,
              "meta[0] in file order");
        CHECK(strcmp(st->meta[1].key, "note") == 0 && strcmp(st->meta[1].value, meta_note) == 0,
              "meta[1]: %s", st->meta[1].value);
    }
}

static void test_round_trip(void) {
    char *dir = make_tmpdir();
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(write_specs(path));
    CHECK(count_dir_entries(dir) == 1, "no temporary file left behind");
    bn_safetensors *st = NULL;
    CHECK_OK(bn_st_open(&st, path));
    if (st)
        check_specs(st);
    bn_st_close(st);
    st = NULL;
    CHECK_OK(bn_st_open_dir(&st, dir));
    if (st)
        check_specs(st);
    bn_st_close(st);
    /* the same bytes through memory */
    size_t size;
    uint8_t *bytes = read_file(path, &size);
    st = NULL;
    CHECK_OK(bn_st_open_memory(&st, bytes, size, "mem"));
    CHECK(st && st->n_tensors == N_SPECS, "memory open");
    bn_st_close(st);
    /* the file is overwritten in place atomically */
    CHECK_OK(write_specs(path));
    CHECK(count_dir_entries(dir) == 1, "still one file");
    free(bytes);
    remove_dir(dir);
}

/* ---- exact bytes ----------------------------------------------------------------------------
 * Headers as the Python library (Rust serde_json) writes them: compact JSON, "__metadata__"
 * first, tensors by descending dtype alignment then name with contiguous offsets, and spaces
 * until 8 + N is a multiple of 8. The first two are the upstream crate's own serialization
 * tests (a 64-byte header needing no padding, a 65-byte one needing 7 spaces). */

typedef struct wt {
    const char *name;
    bn_st_dtype dtype;
    int n_dims;
    int64_t shape[4];
} wt;

static void check_exact(int line, const wt *ts, int n, const char *meta_k, const char *meta_v,
                        const char *want_header) {
    static const uint8_t zeros[64];
    char *dir = make_tmpdir();
    char path[1200];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    bn_st_writer *w = NULL;
    size_t total = 0;
    CHECK_OK(bn_st_writer_create(&w));
    if (meta_k)
        CHECK_OK(bn_st_writer_add_meta(w, meta_k, meta_v));
    for (int i = 0; i < n; i++) {
        size_t sz = bn_st_dtype_size(ts[i].dtype);
        for (int d = 0; d < ts[i].n_dims; d++)
            sz *= (size_t)ts[i].shape[d];
        total += sz;
        CHECK_OK(
            bn_st_writer_add(w, ts[i].name, ts[i].dtype, ts[i].n_dims, ts[i].shape, zeros, sz));
    }
    CHECK_OK(bn_st_writer_write(w, path));
    bn_st_writer_free(w);
    size_t size, hlen = strlen(want_header);
    uint8_t *got = read_file(path, &size);
    uint64_t n_got = 0;
    for (int i = 0; i < 8 && size >= 8; i++)
        n_got |= (uint64_t)got[i] << (8 * i);
    CHECK(n_got == hlen && size == 8 + hlen + total, "line %d: N = %llu, want %zu", line,
          (unsigned long long)n_got, hlen);
    CHECK(size >= 8 + hlen && memcmp(got + 8, want_header, hlen) == 0,
          "line %d: header\n got  %.*s\n want %s", line, (int)(size >= 8 ? size - 8 : 0),
          got ? (const char *)got + 8 : "", want_header);
    free(got);
    remove_dir(dir);
}

static void test_exact_bytes(void) {
    const wt attn_dot[] = {{"attn.0", BN_ST_F32, 3, {1, 2, 3}}};
    check_exact(__LINE__, attn_dot, 1, NULL, NULL,
                "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}");
    const wt attn0[] = {{"attn0", BN_ST_F32, 4, {1, 1, 2, 3}}};
    check_exact(__LINE__, attn0, 1, NULL, NULL,
                "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"
                "       ");
    check_exact(__LINE__, NULL, 0, NULL, NULL, "{}      ");
    check_exact(__LINE__, NULL, 0, "framework", "pt",
                "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
    /* mixed dtypes: I64 before F32 before U8, whatever the names */
    const wt mixed[] = {{"a", BN_ST_U8, 1, {3}},
                        {"b", BN_ST_F32, 2, {1, 1}},
                        {"c", BN_ST_I64, 1, {1}},
                        {"d", BN_ST_F32, 0, {0}},
                        {"e", BN_ST_BF16, 1, {0}}};
    check_exact(__LINE__, mixed, 5, "format", "pt",
                "{\"__metadata__\":{\"format\":\"pt\"},"
                "\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]},"
                "\"d\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[12,16]},"
                "\"e\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[16,16]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[16,19]}}       ");
    /* escapes as serde_json writes them; non-ASCII and '/' stay raw */
    const wt odd[] = {{"q\"b\\s/\n\x01\xc3\xa9", BN_ST_I8, 1, {1}}};
    check_exact(__LINE__, odd, 1, NULL, NULL,
                "{\"q\\\"b\\\\s/\\n\\u0001\xc3\xa9\":{\"dtype\":\"I8\",\"shape\":[1],"
                "\"data_offsets\":[0,1]}}  ");
}

/* ---- malformed single files ---------------------------------------------------------------- */

#define T_F32_2(name, b, e)                                                                        \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #b "," #e "]}"

static void test_bad_lengths(void) {
    uint8_t small[8] = {0};
    for (size_t n = 0; n < 8; n++) {
        CHECK(open_image(small, n) == BN_ERR_FORMAT, "%zu-byte file", n);
        CHECK(strstr(bn_last_error(), BAD) && strstr(bn_last_error(), "too short"), "msg: %s",
              bn_last_error());
    }
    CHECK(open_image(small, 8) == BN_ERR_FORMAT && strstr(bn_last_error(), "header length is 0"),
          "N = 0: %s", bn_last_error());
    uint8_t huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    CHECK(open_image(huge, 16) == BN_ERR_FORMAT && strstr(bn_last_error(), "limit"), "N = 2^63: %s",
          bn_last_error());
    uint64_t over = (uint64_t)BN_ST_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++)
        huge[i] = (uint8_t)(over >> (8 * i));
    CHECK(open_image(huge, 16) == BN_ERR_FORMAT && strstr(bn_last_error(), "limit"),
          "N = max + 1: %s", bn_last_error());
    uint8_t past[12] = {5, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    CHECK(open_image(past, 12) == BN_ERR_FORMAT && strstr(bn_last_error(), "runs past"),
          "N > file: %s", bn_last_error());
    CHECK(bn_st_open_memory(NULL, past, 12, BAD) == BN_ERR_INVALID_ARG, "NULL out");
}

static void test_bad_json(void) {
    EXPECT_FAIL("{\"a\":", 0, BN_ERR_FORMAT, "header", "not valid JSON");
    EXPECT_FAIL("{\"a\" 1}", 0, BN_ERR_FORMAT, "header", "not valid JSON");
    EXPECT_FAIL("{} {}", 0, BN_ERR_FORMAT, "header", "after its JSON value");
    EXPECT_FAIL("[]", 0, BN_ERR_FORMAT, "header", "not a JSON object");
    EXPECT_FAIL("\"x\"", 0, BN_ERR_FORMAT, "header", "not a JSON object");
    EXPECT_FAIL("{\"\xff\":1}", 0, BN_ERR_FORMAT, "UTF-8", "byte 2");
    EXPECT_FAIL("{\"\xc0\x80\":1}", 0, BN_ERR_FORMAT, "UTF-8", NULL);         /* overlong NUL */
    EXPECT_FAIL("{\"\xed\xa0\x80\":1}", 0, BN_ERR_FORMAT, "UTF-8", NULL);     /* surrogate */
    EXPECT_FAIL("{\"\xf4\x90\x80\x80\":1}", 0, BN_ERR_FORMAT, "UTF-8", NULL); /* > U+10FFFF */
    EXPECT_FAIL("{\"\xe2\x82\":1}", 0, BN_ERR_FORMAT, "UTF-8", NULL);         /* cut sequence */
    EXPECT_FAIL("{\"a\x01\":1}", 0, BN_ERR_FORMAT, "control byte 0x01", NULL);
    EXPECT_FAIL("{\"a\\u0000b\":{}}", 0, BN_ERR_FORMAT, "\\u0000", NULL);
    /* whitespace padding (spaces, as writers pad) and an empty header are fine */
    EXPECT_OK("{}      ", 0, 0);
    EXPECT_OK("{ }\n\t\r ", 16, 0);
}

static void test_bad_entries(void) {
    EXPECT_FAIL("{\"w\":3}", 0, BN_ERR_FORMAT, "'w'", "not an object");
    EXPECT_FAIL("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, BN_ERR_FORMAT, "'w'",
                "missing field 'dtype'");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, BN_ERR_FORMAT, "'w'",
                "missing field 'shape'");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, BN_ERR_FORMAT, "'w'",
                "missing field 'data_offsets'");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                BN_ERR_FORMAT, "'w'", "unknown field 'x'");
    EXPECT_FAIL(
        "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        BN_ERR_FORMAT, "'w'", "'dtype' appears twice");
    /* dtype */
    EXPECT_FAIL("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, BN_ERR_FORMAT,
                "'w'", "'dtype' is a number");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                BN_ERR_DTYPE, "'w'", "F8_E4M3");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, BN_ERR_DTYPE,
                "'w'", "'f32'");
    /* shape */
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4, BN_ERR_FORMAT,
                "'w'", "'shape' is a number");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                BN_ERR_FORMAT, "'w'", "shape[0] is -1");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4,
                BN_ERR_FORMAT, "'w'", "shape[1] is 1.5");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4,
                BN_ERR_FORMAT, "'w'", "shape[0]");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[9007199254740992],\"data_offsets\":[0,4]}}",
                4, BN_ERR_FORMAT, "'w'", "shape[0]");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                BN_ERR_FORMAT, "'w'", "shape[0] is \"2\"");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]}}", 8,
                BN_ERR_FORMAT, "'w'", "shape[0] is null");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                1, BN_ERR_FORMAT, "'w'", "more than 8 dims");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,16],"
                "\"data_offsets\":[0,1]}}",
                1, BN_ERR_FORMAT, "'w'", "overflows");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,1073741824],"
                "\"data_offsets\":[0,1]}}",
                1, BN_ERR_FORMAT, "'w'", "overflows");
    /* data_offsets */
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4, BN_ERR_FORMAT,
                "'w'", "'data_offsets' is an object");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, BN_ERR_FORMAT,
                "'w'", "[begin, end]");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
                BN_ERR_FORMAT, "'w'", "[begin, end]");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
                BN_ERR_FORMAT, "'w'", "data_offsets[0] is -4");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 8,
                BN_ERR_FORMAT, "'w'", "data_offsets[1] is 4.5");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
                BN_ERR_FORMAT, "'w'", "begin 8 > end 4");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 7,
                BN_ERR_FORMAT, "'w'", "beyond the 7-byte data buffer");
    EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
                BN_ERR_FORMAT, "'w'",
                "lying data_offsets [0, 20] span 20 bytes but F32 x shape "
                "[2, 3] needs 24");
}

static void test_bad_layout(void) {
    EXPECT_FAIL("{" T_F32_2("a", 0, 8) "," T_F32_2("b", 4, 12) "}", 12, BN_ERR_FORMAT, "'a'",
                "'b' overlap");
    EXPECT_FAIL("{" T_F32_2("b", 4, 12) "," T_F32_2("a", 0, 8) "}", 12, BN_ERR_FORMAT, "'a'",
                "'b' overlap");
    EXPECT_FAIL("{" T_F32_2("a", 0, 8) "," T_F32_2("b", 0, 8) "}", 8, BN_ERR_FORMAT, "'a'",
                "overlap");
    EXPECT_FAIL("{" T_F32_2("a", 0, 8) "," T_F32_2("a", 8, 16) "}", 16, BN_ERR_FORMAT, "'a'",
                "appears twice");
    /* zero-size tensors share offsets freely; gaps between tensors are allowed */
    EXPECT_OK(
        "{\"z1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
        "\"z2\":{\"dtype\":\"I8\",\"shape\":[3,0],\"data_offsets\":[4,4]}," T_F32_2("a", 0, 8) "}",
        8, 3);
    EXPECT_OK("{" T_F32_2("a", 0, 8) "," T_F32_2("b", 16, 24) "}", 32, 2);
    EXPECT_OK("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, 1);
    /* metadata */
    EXPECT_FAIL("{\"__metadata__\":[]}", 0, BN_ERR_FORMAT, "__metadata__", "not an object");
    EXPECT_FAIL("{\"__metadata__\":{\"k\":1}}", 0, BN_ERR_FORMAT, "__metadata__",
                "key 'k' is a number");
    EXPECT_FAIL("{\"__metadata__\":{\"k\":{}}}", 0, BN_ERR_FORMAT, "key 'k'", "not a string");
    EXPECT_FAIL("{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", 0, BN_ERR_FORMAT,
                "__metadata__", "key 'k' appears twice");
    EXPECT_FAIL("{\"__metadata__\":{},\"__metadata__\":{}}", 0, BN_ERR_FORMAT, "__metadata__",
                "twice");
    EXPECT_OK("{\"__metadata__\":{}}", 0, 0);
}

/* A valid file cut anywhere must fail cleanly, both in memory and through mmap. */
static void test_truncation(void) {
    char *dir = make_tmpdir();
    char path[1200], cut[1200];
    snprintf(path, sizeof path, "%s/full.safetensors", dir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    CHECK_OK(write_specs(path));
    size_t size;
    uint8_t *bytes = read_file(path, &size);
    int failures = 0;
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees any over-read */
        memcpy(copy, bytes, n);
        failures += open_image(copy, n) != BN_OK;
        free(copy);
    }
    CHECK(failures == (int)size, "%d of %zu truncations failed", failures, size);
    for (size_t n = 0; n < size; n += 13) {
        write_bytes(cut, bytes, n);
        bn_safetensors *st = NULL;
        CHECK(bn_st_open(&st, cut) == BN_ERR_FORMAT && !st, "mmap cut at %zu", n);
        CHECK(strstr(bn_last_error(), "cut.safetensors") != NULL, "names file: %s",
              bn_last_error());
    }
    bn_safetensors *st = NULL;
    snprintf(cut, sizeof cut, "%s/absent.safetensors", dir);
    CHECK(bn_st_open(&st, cut) == BN_ERR_IO && strstr(bn_last_error(), "absent"), "absent: %s",
          bn_last_error());
    free(bytes);
    remove_dir(dir);
}

/* Flip header bytes: the result may be valid or not, but every tensor handed out must lie
 * inside the buffer (ASan checks the reads besides). */
static void test_byte_flips(void) {
    char *dir = make_tmpdir();
    char path[1200];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    CHECK_OK(write_specs(path));
    size_t size;
    uint8_t *bytes = read_file(path, &size);
    uint8_t *copy = malloc(size);
    static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x20, 0x80, 0xff};
    int accepted = 0, bad = 0;
    for (size_t i = 0; i < size && i < 8 + 2048; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(copy, bytes, size);
            copy[i] ^= masks[m];
            bn_safetensors *st = NULL;
            if (bn_st_open_memory(&st, copy, size, BAD) != BN_OK)
                continue;
            accepted++;
            for (int64_t k = 0; k < st->n_tensors; k++) {
                const bn_st_tensor *t = &st->tensors[k];
                bad += t->data < copy || t->data + t->size > copy + size;
            }
            bn_st_close(st);
        }
    }
    CHECK(bad == 0, "%d tensors outside the file", bad);
    CHECK(accepted > 0, "some flips (inside data values) stay valid");
    free(copy);
    free(bytes);
    remove_dir(dir);
}

/* ---- sharded folders ----------------------------------------------------------------------- */

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static void write_shard(const char *dir, const char *file, const char *const *names, int n,
                        const char *meta_value) {
    char path[1200];
    float v[4] = {1, 2, 3, 4};
    int64_t shape[1] = {4};
    bn_st_writer *w = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    CHECK_OK(bn_st_writer_create(&w));
    CHECK_OK(bn_st_writer_add_meta(w, "shard", meta_value));
    for (int i = 0; i < n; i++)
        CHECK_OK(bn_st_writer_add(w, names[i], BN_ST_F32, 1, shape, v, sizeof v));
    CHECK_OK(bn_st_writer_write(w, path));
    bn_st_writer_free(w);
}

/* A folder with two shards (a, b | c, d) and the given index text. */
static char *sharded_dir(const char *index) {
    static const char *const first[] = {"a", "b"}, *const second[] = {"c", "d"};
    char *dir = make_tmpdir();
    write_shard(dir, SHARD1, first, 2, "one");
    write_shard(dir, SHARD2, second, 2, "two");
    if (index)
        write_text(dir, "model.safetensors.index.json", index);
    return dir;
}

#define WM(a, b, c, d)                                                                             \
    "{\"metadata\":{\"total_size\":64},\"weight_map\":{\"a\":\"" a "\",\"b\":\"" b "\",\"c\":\"" c \
    "\",\"d\":\"" d "\"}}"
#define GOOD_INDEX WM(SHARD1, SHARD1, SHARD2, SHARD2)

static void test_sharded(void) {
    char *dir = sharded_dir(GOOD_INDEX);
    bn_safetensors *st = NULL;
    CHECK_OK(bn_st_open_dir(&st, dir));
    if (st) {
        CHECK(st->n_shards == 2 && st->n_tensors == 4, "%d shards, %lld tensors", st->n_shards,
              (long long)st->n_tensors);
        static const char *const names[] = {"a", "b", "c", "d"};
        for (int i = 0; i < 4; i++) {
            const bn_st_tensor *t = bn_st_find(st, names[i]);
            CHECK(t && t->shard == i / 2 && t->size == 16, "tensor %s in shard %d", names[i],
                  i / 2);
            CHECK(t && strstr(st->shards[t->shard].path, i < 2 ? SHARD1 : SHARD2), "shard path");
            float got[4];
            if (t)
                memcpy(got, t->data, sizeof got);
            CHECK(t && got[0] == 1 && got[3] == 4, "data of %s", names[i]);
        }
        CHECK(st->n_meta == 1 && strcmp(st->meta[0].value, "one") == 0, "first shard's metadata");
    }
    bn_st_close(st);
    remove_dir(dir);
}

static void expect_dir_fail_at(int line, const char *index, bn_status code, const char *w1,
                               const char *w2) {
    char *dir = sharded_dir(index);
    bn_safetensors *st = NULL;
    bn_status s = bn_st_open_dir(&st, dir);
    const char *msg = bn_last_error();
    CHECK(s == code && !st, "line %d: got %s (%s), want %s", line, bn_status_str(s), msg,
          bn_status_str(code));
    CHECK(!w1 || strstr(msg, w1), "line %d: message lacks '%s': %s", line, w1, msg);
    CHECK(!w2 || strstr(msg, w2), "line %d: message lacks '%s': %s", line, w2, msg);
    bn_st_close(st);
    remove_dir(dir);
}
#define EXPECT_DIR_FAIL(i, code, w1, w2) expect_dir_fail_at(__LINE__, (i), (code), (w1), (w2))

static void test_sharded_errors(void) {
    EXPECT_DIR_FAIL(WM(SHARD1, SHARD1, SHARD2, "model-00003.safetensors"), BN_ERR_NOT_FOUND,
                    "model-00003.safetensors", "'d'");
    /* index lacks d: the shard has a tensor the index does not list */
    EXPECT_DIR_FAIL("{\"weight_map\":{\"a\":\"" SHARD1 "\",\"b\":\"" SHARD1 "\",\"c\":\"" SHARD2
                    "\"}}",
                    BN_ERR_FORMAT, "tensor 'd'", "missing from weight_map");
    /* index lists e, which no shard has */
    EXPECT_DIR_FAIL("{\"weight_map\":{\"a\":\"" SHARD1 "\",\"b\":\"" SHARD1 "\",\"c\":\"" SHARD2
                    "\",\"d\":\"" SHARD2 "\",\"e\":\"" SHARD2 "\"}}",
                    BN_ERR_FORMAT, "tensor 'e'", "does not have it");
    EXPECT_DIR_FAIL(WM(SHARD1, SHARD2, SHARD2, SHARD2), BN_ERR_FORMAT, "tensor 'b'", SHARD1);
    EXPECT_DIR_FAIL(WM(SHARD1, SHARD1, SHARD2, "sub/x.safetensors"), BN_ERR_FORMAT,
                    "sub/x.safetensors", "not a plain file name");
    EXPECT_DIR_FAIL(WM(SHARD1, SHARD1, SHARD2, ".."), BN_ERR_FORMAT, "'..'", "weight_map['d']");
    EXPECT_DIR_FAIL(WM(SHARD1, SHARD1, SHARD2, ""), BN_ERR_FORMAT, "weight_map['d']", NULL);
    EXPECT_DIR_FAIL("{\"weight_map\":{\"a\":1}}", BN_ERR_FORMAT, "weight_map['a']", "a number");
    EXPECT_DIR_FAIL("{\"weight_map\":[]}", BN_ERR_FORMAT, "'weight_map'", "an array");
    EXPECT_DIR_FAIL("{\"weight_map\":{}}", BN_ERR_FORMAT, "'weight_map'", "non-empty");
    EXPECT_DIR_FAIL("{\"metadata\":{}}", BN_ERR_FORMAT, "'weight_map'", "missing");
    EXPECT_DIR_FAIL("{\"weight_map\":{\"a\":\"" SHARD1 "\",\"a\":\"" SHARD1 "\"}}", BN_ERR_FORMAT,
                    "tensor 'a'", "twice");
    EXPECT_DIR_FAIL("{\"weight_map\":", BN_ERR_FORMAT, "index.json", "not valid JSON");

    /* the same tensor in both shards */
    char *dir = sharded_dir(WM(SHARD1, SHARD1, SHARD2, SHARD2));
    static const char *const dup[] = {"a", "c", "d"};
    write_shard(dir, SHARD2, dup, 3, "two");
    bn_safetensors *st = NULL;
    CHECK(bn_st_open_dir(&st, dir) == BN_ERR_FORMAT && !st, "duplicate across shards");
    CHECK(strstr(bn_last_error(), "'a'") && strstr(bn_last_error(), "two shards"), "msg: %s",
          bn_last_error());
    remove_dir(dir);

    /* a broken shard reports itself */
    dir = sharded_dir(GOOD_INDEX);
    write_text(dir, SHARD2, "garbage");
    CHECK(bn_st_open_dir(&st, dir) == BN_ERR_FORMAT && strstr(bn_last_error(), SHARD2),
          "broken shard: %s", bn_last_error());
    remove_dir(dir);

    /* neither file */
    dir = make_tmpdir();
    CHECK(bn_st_open_dir(&st, dir) == BN_ERR_NOT_FOUND && strstr(bn_last_error(), dir),
          "empty dir: %s", bn_last_error());
    remove_dir(dir);
}

/* ---- writer validation --------------------------------------------------------------------- */

static void test_writer_errors(void) {
    bn_st_writer *w = NULL;
    float v[6] = {0};
    int64_t shape[BN_ST_MAX_DIMS + 1] = {2, 3, 1, 1, 1, 1, 1, 1, 1};
    int64_t neg[2] = {2, -3};
    CHECK_OK(bn_st_writer_create(&w));
    CHECK_OK(bn_st_writer_add(w, "x", BN_ST_F32, 2, shape, v, sizeof v));
    CHECK(bn_st_writer_add(w, "x", BN_ST_F32, 2, shape, v, sizeof v) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "'x' added twice"),
          "duplicate: %s", bn_last_error());
    CHECK(bn_st_writer_add(w, "", BN_ST_F32, 2, shape, v, sizeof v) == BN_ERR_INVALID_ARG,
          "empty name");
    CHECK(bn_st_writer_add(w, "__metadata__", BN_ST_F32, 2, shape, v, sizeof v) ==
              BN_ERR_INVALID_ARG,
          "reserved name");
    CHECK(bn_st_writer_add(w, "bad\xff", BN_ST_U8, 0, NULL, v, 1) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "UTF-8"),
          "non-UTF-8 name: %s", bn_last_error());
    CHECK(bn_st_writer_add(w, "y", BN_ST_DTYPE_COUNT, 2, shape, v, sizeof v) == BN_ERR_DTYPE &&
              strstr(bn_last_error(), "'y'"),
          "bad dtype: %s", bn_last_error());
    CHECK(bn_st_writer_add(w, "y", BN_ST_F32, 2, neg, v, sizeof v) == BN_ERR_SHAPE &&
              strstr(bn_last_error(), "shape[1] = -3"),
          "negative dim: %s", bn_last_error());
    CHECK(bn_st_writer_add(w, "y", BN_ST_F32, BN_ST_MAX_DIMS + 1, shape, v, sizeof v) ==
              BN_ERR_INVALID_ARG,
          "too many dims");
    CHECK(bn_st_writer_add(w, "y", BN_ST_F32, 2, shape, v, 20) == BN_ERR_SHAPE &&
              strstr(bn_last_error(), "20 bytes given") && strstr(bn_last_error(), "needs 24"),
          "size mismatch: %s", bn_last_error());
    CHECK(bn_st_writer_add(w, "y", BN_ST_F32, 2, shape, NULL, sizeof v) == BN_ERR_INVALID_ARG,
          "NULL data");
    CHECK_OK(bn_st_writer_add(w, "empty", BN_ST_F32, 1, (int64_t[]){0}, NULL, 0));
    CHECK_OK(bn_st_writer_add_meta(w, "k", "v"));
    CHECK(bn_st_writer_add_meta(w, "k", "w") == BN_ERR_INVALID_ARG, "duplicate metadata key");
    CHECK(bn_st_writer_add_meta(w, "k2", "\xc3") == BN_ERR_INVALID_ARG, "non-UTF-8 value");
    /* an unwritable target leaves nothing behind */
    char *dir = make_tmpdir();
    char path[1200];
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    CHECK(bn_st_writer_write(w, path) == BN_ERR_IO && strstr(bn_last_error(), "no/such"),
          "unwritable: %s", bn_last_error());
    /* a directory in the way is refused before anything is written (a rename would fail, and
     * for other kinds of node, succeed in replacing the node) */
    snprintf(path, sizeof path, "%s/taken", dir);
    CHECK(mkdir(path, 0700) == 0, "mkdir");
    CHECK(bn_st_writer_write(w, path) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "is a directory"),
          "a directory as the output: %s", bn_last_error());
    CHECK(count_dir_entries(dir) == 1, "no temp file left");
    rmdir(path);
    bn_st_writer_free(w);
    remove_dir(dir);
}

static void test_dtypes(void) {
    static const char *const names[BN_ST_DTYPE_COUNT] = {"F64", "F32", "F16", "BF16", "I64",
                                                         "I32", "I16", "I8",  "U8",   "BOOL"};
    static const size_t sizes[BN_ST_DTYPE_COUNT] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
    for (int t = 0; t < BN_ST_DTYPE_COUNT; t++) {
        bn_st_dtype got = BN_ST_DTYPE_COUNT;
        CHECK(strcmp(bn_st_dtype_name((bn_st_dtype)t), names[t]) == 0, "name %d", t);
        CHECK(bn_st_dtype_size((bn_st_dtype)t) == sizes[t], "size %d", t);
        CHECK(bn_st_dtype_parse(names[t], &got) == BN_OK && got == (bn_st_dtype)t, "parse %s",
              names[t]);
    }
    bn_st_dtype got;
    CHECK(bn_st_dtype_parse("F8_E4M3", &got) == BN_ERR_DTYPE && strstr(bn_last_error(), "F8_E4M3"),
          "unsupported: %s", bn_last_error());
    CHECK(bn_st_dtype_size(BN_ST_DTYPE_COUNT) == 0 &&
              strcmp(bn_st_dtype_name(BN_ST_DTYPE_COUNT), "?") == 0,
          "out of range");
}

int main(void) {
    test_dtypes();
    test_round_trip();
    test_exact_bytes();
    test_bad_lengths();
    test_bad_json();
    test_bad_entries();
    test_bad_layout();
    test_truncation();
    test_byte_flips();
    test_sharded();
    test_sharded_errors();
    test_writer_errors();
    return bn_test_finish("test_safetensors");
}
