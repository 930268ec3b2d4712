/* test_fuzz_replay_serve_request.c - serve's request-parser fuzz harness over its corpus
 * (tests/fuzz/corpus_serve_request: valid and malformed bodies, crash-* files kept once fixed) and
 * the corrupted fixtures (bytes no request should be). */
#include "fuzz/fuzz_serve_request.c"
#include "fuzz_replay.h"

int main(void) {
    return replay_main("test_fuzz_replay_serve_request", "corpus_serve_request");
}
