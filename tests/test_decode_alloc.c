/*
 * test_decode_alloc.c - the decode loop allocates nothing: after the context, sampler and
 * output buffer exist, generating a token (evaluate one position, sample, stream its text)
 * never reaches malloc. Counted by interposing malloc/calloc/realloc in this executable
 * (glibc's __libc_* do the work); skipped under ASan, which owns those symbols.
 */
#include "test.h"

#include "model/forward.h"
#include "sample/sampler.h"

#include <stddef.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
int main(void) {
    return bn_test_skip("test_decode_alloc", "malloc cannot be interposed in this build");
}
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static volatile long allocations;

void *malloc(size_t n) {
    allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    allocations++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    allocations++;
    return __libc_realloc(p, n);
}

/* One generated token, as `bitnet run` makes it. */
static int32_t step(bn_context *c, bn_sampler *s, bn_detokenizer *d, bn_bytes *text, float *logits,
                    int32_t token) {
    CHECK_OK(bn_context_eval(c, &token, 1, logits, false));
    int32_t next = bn_sampler_sample(s, logits);
    bn_sampler_accept(s, next);
    text->n = 0;
    CHECK_OK(bn_detokenizer_push(d, next, text));
    return next;
}

int main(void) {
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, BN_SOURCE_DIR "/tests/fixtures/tiny-bitnet-hf", NULL));
    if (m == NULL)
        return bn_test_finish("test_decode_alloc");
    CHECK(allocations > 0, "the interposed malloc saw the model load"); /* the counter works */
    CHECK_OK(bn_model_set_head_type(m, BN_DTYPE_Q8_0, 0));
    bn_context_params p = bn_context_default_params();
    p.n_threads = 2;
    bn_context *c = NULL;
    CHECK_OK(bn_context_create(&c, m, &p));
    bn_sampler_params sp = bn_sampler_default_params();
    sp.repeat_penalty = 1.1f; /* every stage of the sampler on */
    sp.frequency_penalty = 0.2f;
    bn_sampler *s = NULL;
    CHECK_OK(bn_sampler_create(&s, m->cfg.n_vocab, &sp));
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof(float));
    bn_detokenizer d;
    bn_detokenizer_init(&d, m->tok, false);
    bn_bytes text = {0};
    CHECK_OK(bn_bytes_append(&text, "", 0));
    CHECK_OK(
        bn_bytes_append(&text, "                                                        ", 56));
    int32_t token = 1;
    for (int i = 0; c != NULL && s != NULL && i < 4; i++) /* warm-up: first-use growth */
        token = step(c, s, &d, &text, logits, token);
    long before = allocations;
    for (int i = 0; c != NULL && s != NULL && i < 64; i++)
        token = step(c, s, &d, &text, logits, token);
    CHECK(allocations == before, "64 decode steps made %ld allocations", allocations - before);
    bn_bytes_free(&text);
    free(logits);
    bn_sampler_free(s);
    bn_context_free(c);
    bn_model_free(m);
    return bn_test_finish("test_decode_alloc");
}
#endif
