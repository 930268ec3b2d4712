/*
 * fuzz_safetensors.c - libFuzzer harness for the safetensors reader.
 *
 * Build and run from the repository root, as one command line (copy the corpus first so that
 * new inputs are not written into the repository):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc
 *     tests/fuzz/fuzz_safetensors.c src/io/safetensors.c src/io/mapped_file.c
 *     $(find src/base src/tensor -name '*.c') -lcjson -lpthread -lm -o /tmp/fuzz_st
 *   cp -r tests/fuzz/corpus_safetensors /tmp/corpus_st && /tmp/fuzz_st /tmp/corpus_st
 * The seeds were written by bn_st_writer (plus one hand-made file with gaps and zero-size
 * tensors sharing an offset); each is under 4 KB.
 *
 * Whatever the reader accepts, every byte of every tensor it hands out is read (so ASan sees a
 * range that leaves the input), names must come back sorted and findable, and the metadata
 * strings are walked. Any violated invariant aborts: that is how a fuzzer reports a bug.
 */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

static void check_tensor(const bn_safetensors *st, int64_t i, const uint8_t *data, size_t size) {
    const bn_st_tensor *t = &st->tensors[i];
    uint8_t x = 0;
    if (t->size > 0 && (t->data < data || t->size > size || t->data + t->size > data + size))
        abort();
    for (size_t k = 0; k < t->size; k++)
        x ^= t->data[k];
    sink = x;
    if (i > 0 && strcmp(st->tensors[i - 1].name, t->name) >= 0)
        abort();
    if (bn_st_find(st, t->name) != t)
        abort();
    if (t->n_dims < 0 || t->n_dims > BN_ST_MAX_DIMS || t->shard != 0)
        abort();
    if (bn_st_dtype_size(t->dtype) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bn_safetensors *st = NULL;
    if (bn_st_open_memory(&st, data, size, "fuzz.safetensors") != BN_OK) {
        if (st != NULL)
            abort();
        return 0;
    }
    for (int64_t i = 0; i < st->n_tensors; i++)
        check_tensor(st, i, data, size);
    size_t total = 0;
    for (int64_t i = 0; i < st->n_meta; i++)
        total += strlen(st->meta[i].key) + strlen(st->meta[i].value);
    sink = (uint8_t)total;
    bn_st_close(st);
    return 0;
}
