/* test_fuzz_replay_safetensors.c - the safetensors fuzz harness over its corpus and the bad
 * fixtures. */
#include "fuzz/fuzz_safetensors.c"
#include "fuzz_replay.h"

int main(void) {
    return replay_main("test_fuzz_replay_safetensors", "corpus_safetensors");
}
