/*
 * fuzz_serve_request.c - libFuzzer harness for `bitnet serve`'s request parser
 * (tools/bitnet/serve_request.c, with serve_engine.c for its requests): any bytes as the body of a
 * chat (first byte even) or a completion request, against the shipped model's tokenizer and a
 * context from the first byte. What parses must be a request the engine can run (a prompt of at
 * least one token, prompt plus max_tokens within the context, sampling values in range, at most 4
 * non-empty stops); what does not must be refused with status 400 and a message. Anything else
 * aborts, as do sanitizer reports. tests/test_fuzz_replay_serve_request.c replays the corpus in
 * plain `make test`.
 */
#include "../../tools/bitnet/serve_engine.c"
#include "../../tools/bitnet/serve_request.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bn_model *fuzz_serve_model(void) {
    static bn_model *m;
    if (m == NULL) {
        bn_model_params p = bn_model_default_params();
        p.n_threads = 1;
        if (bn_model_load(&m, BN_SOURCE_DIR "/models/default.gguf", &p) != BN_OK)
            abort();
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    bn_serve_kind kind = data[0] % 2 ? BN_SERVE_COMPLETION : BN_SERVE_CHAT;
    int n_ctx = 16 + (data[0] >> 1) * 2; /* 16..270 */
    bn_serve_request *r = bn_serve_request_new();
    if (r == NULL)
        return 0;
    bn_serve_parsed p;
    bool ok =
        bn_serve_parse(fuzz_serve_model(), kind, (const char *)data + 1, size - 1, n_ctx, r, &p);
    if (ok) {
        const bn_sampler_params *s = &r->sampling;
        if (r->n_prompt < 1 || r->max_tokens < 0 ||
            r->n_prompt + (r->max_tokens > 0 ? r->max_tokens : 1) > n_ctx ||
            !(s->temperature >= 0 && s->temperature <= 2) || !(s->top_p > 0 && s->top_p <= 1) ||
            r->n_stop > 4 || r->top_logprobs < 0 || r->top_logprobs > 20 ||
            bn_sampler_params_check(s) != BN_OK)
            abort();
        for (int i = 0; i < r->n_stop; i++)
            if (r->stop[i] == NULL || r->stop[i][0] == '\0')
                abort();
    } else if (p.http_status != 400 || p.error[0] == '\0') {
        abort();
    }
    request_free(r); /* serve_engine.c's, as the last release does */
    return 0;
}
