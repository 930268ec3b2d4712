/*
 * fuzz_gguf.c - libFuzzer harness for the GGUF reader.
 *
 * Open the bytes, then touch everything a caller could: every typed getter on every key, every
 * array element at every nesting depth through every element getter, every tensor's lookup and
 * its first and last byte. Sanitizer reports, leaks and the invariant checks below (which abort:
 * a broken one is a reader bug) are the findings. tests/test_fuzz_replay_gguf.c includes this
 * file to replay the corpus in plain `make test`.
 */
#include "io/gguf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_gguf_sink; /* keeps the reads from being optimised away */

static void fuzz_gguf_require(bool ok) {
    if (!ok)
        abort();
}

/* A string the reader handed out: NUL-terminated at len, every byte readable. */
static void fuzz_gguf_touch_str(bn_gguf_str s) {
    fuzz_gguf_require(s.data != NULL && s.data[s.len] == '\0');
    if (s.len > 0)
        fuzz_gguf_sink ^= (uint8_t)s.data[0] ^ (uint8_t)s.data[s.len - 1];
}

static void fuzz_gguf_walk_array(const bn_gguf_array *a) {
    for (uint64_t i = 0; i < a->count; i++) {
        int64_t s;
        uint64_t u;
        double d;
        bn_gguf_str str;
        if (bn_gguf_arr_get_i64(a, i, &s) == BN_OK)
            fuzz_gguf_sink ^= (uint64_t)s;
        if (bn_gguf_arr_get_u64(a, i, &u) == BN_OK)
            fuzz_gguf_sink ^= u;
        if (bn_gguf_arr_get_f64(a, i, &d) == BN_OK)
            fuzz_gguf_sink ^= d == d;
        if (bn_gguf_arr_get_str(a, i, &str) == BN_OK)
            fuzz_gguf_touch_str(str);
        if (a->type == BN_GGUF_ARRAY)
            fuzz_gguf_walk_array(&a->items[i].arr);
    }
    int64_t s;
    fuzz_gguf_require(bn_gguf_arr_get_i64(a, a->count, &s) != BN_OK); /* one past the end */
}

static void fuzz_gguf_walk_kv(const bn_gguf *g, const bn_gguf_kv *kv) {
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    bool b;
    const char *s;
    const bn_gguf_array *a;
    fuzz_gguf_require(bn_gguf_find(g, kv->key) == kv);
    fuzz_gguf_require(bn_gguf_type_name(kv->value.type)[0] != '?');
    if (bn_gguf_get_u32(g, kv->key, &u32) == BN_OK)
        fuzz_gguf_sink ^= u32;
    if (bn_gguf_get_u64(g, kv->key, &u64) == BN_OK)
        fuzz_gguf_sink ^= u64;
    if (bn_gguf_get_i64(g, kv->key, &i64) == BN_OK)
        fuzz_gguf_sink ^= (uint64_t)i64;
    if (bn_gguf_get_f32(g, kv->key, &f) == BN_OK)
        fuzz_gguf_sink ^= f == f;
    if (bn_gguf_get_bool(g, kv->key, &b) == BN_OK)
        fuzz_gguf_sink ^= b;
    if (bn_gguf_get_str(g, kv->key, &s) == BN_OK)
        fuzz_gguf_touch_str(kv->value.str);
    if (bn_gguf_get_arr(g, kv->key, &a) == BN_OK)
        fuzz_gguf_walk_array(a);
}

/* Every tensor lies inside the file, after the data section's start, aligned. */
static void fuzz_gguf_walk_tensor(const bn_gguf *g, const bn_gguf_tensor *t) {
    const uint8_t *begin = g->file.data + g->data_offset, *end = g->file.data + g->file.size;
    fuzz_gguf_require(bn_gguf_find_tensor(g, t->name) == t);
    fuzz_gguf_require(strlen(t->name) <= BN_GGUF_MAX_NAME);
    fuzz_gguf_require(t->n_dims >= 1 && t->n_dims <= BN_GGUF_MAX_DIMS && t->size > 0);
    fuzz_gguf_require(t->offset % g->alignment == 0 && g->data_offset % g->alignment == 0);
    fuzz_gguf_require(t->data >= begin && t->size <= (size_t)(end - t->data));
    fuzz_gguf_sink ^= t->data[0] ^ t->data[t->size - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bn_gguf *g = NULL;
    if (bn_gguf_open_memory(&g, data, size, "fuzz.gguf") != BN_OK) {
        fuzz_gguf_require(g == NULL);
        return 0;
    }
    fuzz_gguf_require(g->data_offset <= size && g->architecture != NULL);
    for (uint64_t i = 0; i < g->n_kv; i++)
        fuzz_gguf_walk_kv(g, &g->kv[i]);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        fuzz_gguf_walk_tensor(g, &g->tensors[i]);
    fuzz_gguf_require(bn_gguf_find(g, "no such key \x01") == NULL);
    bn_gguf_close(g);
    return 0;
}
