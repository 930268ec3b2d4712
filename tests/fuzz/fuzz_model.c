/*
 * fuzz_model.c - libFuzzer harness for model loading: bn_model_load on a small synthetic model
 * whose header the input edits, then a forward step when it loads.
 *
 * Mutating a whole 0.6 MB file would spend nearly every edit on weight bytes, which the loader
 * only copies; the header (keys, tokenizer, tensor table) is where it decides. So an input is an
 * edit script applied to a valid file:
 *   byte 0       the base file (low 7 bits mod 3: the `tiny` synthetic shape with TQ1_0,
 *                TQ2_0 or I2_S layers); with the high bit set, the file is also cut short
 *   bytes 1..4   where to cut it (little-endian, modulo its size)
 *   then edits   3 bytes each: a 16-bit offset into the header and the byte to write there
 * A model that loads must then take a context and a two-token forward pass: every buffer is
 * sized from hyperparameters that passed the loader's checks. Sanitizer reports and leaks are
 * the findings. tests/test_fuzz_replay_model.c includes this file to replay the corpus in plain
 * `make test`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_model_base {
    uint8_t *bytes;
    size_t size, header; /* header: bytes before the tensor data */
} fuzz_model_base;

/* The three base files, written once per process through a scratch directory. */
static fuzz_model_base fuzz_model_bases[3];

static void fuzz_model_make_bases(void) {
    const bn_dtype types[3] = {BN_DTYPE_TQ1_0, BN_DTYPE_TQ2_0, BN_DTYPE_I2_S};
    char dir[] = "/tmp/bn-fuzz-model-XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/base.gguf", dir);
        if (bn_synth_write(path, "tiny", types[i], 1) != BN_OK)
            abort();
        FILE *f = fopen(path, "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0)
            abort();
        fuzz_model_base *b = &fuzz_model_bases[i];
        b->size = (size_t)ftell(f);
        b->bytes = malloc(b->size);
        rewind(f);
        if (b->bytes == NULL || fread(b->bytes, 1, b->size, f) != b->size)
            abort();
        fclose(f);
        remove(path);
        bn_gguf *g = NULL;
        if (bn_gguf_open_memory(&g, b->bytes, b->size, "base") != BN_OK)
            abort();
        b->header = g->data_offset;
        bn_gguf_close(g);
    }
    rmdir(dir);
}

/* Load the model at path and run two tokens through it; whether it loaded. */
static bool fuzz_model_run(const char *path) {
    bn_model *m = NULL;
    if (bn_model_load(&m, path, NULL) != BN_OK)
        return false;
    bn_context_params p = bn_context_default_params();
    p.n_ctx = 8;
    p.n_threads = 1;
    bn_context *c = NULL;
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof *logits);
    if (logits != NULL && bn_context_create(&c, m, &p) == BN_OK) {
        int32_t tokens[2] = {0, m->cfg.n_vocab - 1};
        bn_context_eval(c, tokens, 2, logits, false);
        bn_context_free(c);
    }
    free(logits);
    bn_model_free(m);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_model_bases[0].bytes == NULL)
        fuzz_model_make_bases();
    if (size < 5)
        return 0;
    const fuzz_model_base *b = &fuzz_model_bases[(data[0] & 0x7f) % 3];
    uint32_t cut = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                   (uint32_t)data[4] << 24;
    size_t len = data[0] & 0x80 ? cut % b->size : b->size;
    uint8_t *file = malloc(b->size);
    if (file == NULL)
        return 0;
    memcpy(file, b->bytes, b->size);
    for (size_t i = 5; i + 3 <= size; i += 3) {
        size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8) % b->header;
        file[off] = data[i + 2];
    }
    int fd = memfd_create("fuzz-model", 0);
    if (fd >= 0 && write(fd, file, len) == (ssize_t)len) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        bool loaded = fuzz_model_run(path);
        if (!loaded && size == 5 && !(data[0] & 0x80))
            abort(); /* an unedited base must load, or the harness tests nothing */
    }
    if (fd >= 0)
        close(fd);
    free(file);
    return 0;
}
