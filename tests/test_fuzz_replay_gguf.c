/* test_fuzz_replay_gguf.c - the GGUF fuzz harness over its corpus and the bad fixtures. */
#include "fuzz/fuzz_gguf.c"
#include "fuzz_replay.h"

int main(void) {
    return replay_main("test_fuzz_replay_gguf", "corpus_gguf");
}
