/*
 * fuzz_replay.h - rerun a libFuzzer harness over its seed corpus and the corrupted fixtures in
 * plain `make test` (and so under ASan/UBSan), without clang's fuzzer runtime. Each replay test
 * includes its harness, then this file.
 */
#ifndef BN_FUZZ_REPLAY_H
#define BN_FUZZ_REPLAY_H

#include "test.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed every regular file of dir to the harness, or with inner set the file inner inside each
 * folder of dir; returns how many were fed. */
static int replay_dir(const char *dir, const char *inner) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, inner ? "%s/%s/%s" : "%s/%s", dir, e->d_name, inner);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue; /* a folder (the HF cases) */
        uint8_t *buf = malloc(1 << 20);
        size_t len = buf ? fread(buf, 1, 1 << 20, f) : 0;
        fclose(f);
        if (buf) {
            LLVMFuzzerTestOneInput(buf, len); /* must return without crashing */
            n++;
        }
        free(buf);
    }
    closedir(d);
    return n;
}

static int replay_main(const char *name, const char *corpus) {
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s", BN_SOURCE_DIR, corpus);
    int seeds = replay_dir(dir, NULL);
    CHECK(seeds > 0, "no seeds in %s", dir);
    snprintf(dir, sizeof dir, "%s/tests/fixtures/bad", BN_SOURCE_DIR);
    int bad = replay_dir(dir, NULL);
    CHECK(bad >= 30, "only %d corrupted fixtures in %s", bad, dir);
    printf("%s: replayed %d seeds and %d corrupted files\n", name, seeds, bad);
    return bn_test_finish(name);
}

#endif /* BN_FUZZ_REPLAY_H */
