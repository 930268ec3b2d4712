/*
 * test_fuzz_replay_tokenizer.c - the tokenizer fuzz harness over its corpus (crash-* files
 * included: each is a bug found by fuzzing, kept so that it stays fixed), the refused
 * tokenizer.json files of tests/fixtures/tokenizer/bad and the full-size fixture tokenizers.
 */
#include "fuzz/fuzz_tokenizer.c"
#include "fuzz_replay.h"

/* Read path whole into *buf (appending after *len bytes); false when it cannot be read. */
static bool replay_read(const char *path, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    bool ok = fseek(f, 0, SEEK_END) == 0;
    long size = ok ? ftell(f) : -1;
    ok = size >= 0 && fseek(f, 0, SEEK_SET) == 0;
    uint8_t *b = ok ? realloc(*buf, *len + (size_t)size + 1) : NULL;
    if (b != NULL) {
        *buf = b;
        ok = fread(b + *len, 1, (size_t)size, f) == (size_t)size;
        *len += (size_t)size;
    }
    fclose(f);
    return ok && b != NULL;
}

/* Feed tests/fixtures/tokenizer/bad/<each case>/tokenizer.json; returns how many were fed. */
static int replay_bad_tokenizers(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/tokenizer/bad", BN_SOURCE_DIR);
    return replay_dir(dir, "tokenizer.json");
}

/* One fixture folder as the harness input JSON 0x00 CONFIG 0x00 TEXT. */
static bool replay_fixture(const char *name, const char *text) {
    char path[2048];
    uint8_t *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer/%s/tokenizer.json", BN_SOURCE_DIR,
             name);
    bool ok = replay_read(path, &buf, &len);
    if (ok) {
        buf[len++] = 0;
        snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer/%s/tokenizer_config.json",
                 BN_SOURCE_DIR, name);
        ok = replay_read(path, &buf, &len);
    }
    size_t n = strlen(text);
    uint8_t *b = ok ? realloc(buf, len + 1 + n) : NULL;
    if (b != NULL) {
        buf = b;
        buf[len++] = 0;
        memcpy(buf + len, text, n);
        LLVMFuzzerTestOneInput(buf, len + n);
    }
    free(buf);
    return b != NULL;
}

/* The refused files and the full-size fixtures here, then the corpus (and, as in the other
 * replay tests, the corrupted GGUF/safetensors files, which must be refused as JSON too). */
int main(void) {
    static const char *const fixtures[] = {"gpt2", "spm", "spm-metaspace", "bpe", "bpe-strmerges"};
    static const char text[] =
        "<|begin_of_text|>Hello, world! It's 12345 <s> caf\xc3\xa9 "
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd"
        "  \t\n\xff\xc3<|eot_id|></s><|endoftext|>";
    int bad = replay_bad_tokenizers();
    CHECK(bad >= 19, "only %d refused tokenizer.json files in tests/fixtures/tokenizer/bad", bad);
    int full = 0;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        bool ok = replay_fixture(fixtures[i], text);
        CHECK(ok, "fixture %s unreadable", fixtures[i]);
        full += ok;
    }
    printf("test_fuzz_replay_tokenizer: replayed %d refused tokenizer.json files and %d fixture "
           "tokenizers\n",
           bad, full);
    return replay_main("test_fuzz_replay_tokenizer", "corpus_tokenizer");
}
