/* test_fuzz_replay_model.c - the model-loading fuzz harness over its corpus and the bad
 * fixtures (read as edit scripts). */
#include "fuzz/fuzz_model.c"
#include "fuzz_replay.h"

int main(void) {
    return replay_main("test_fuzz_replay_model", "corpus_model");
}
