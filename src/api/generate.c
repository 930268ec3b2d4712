/*
 * generate.c - bn_generator and bn_generate (bitnet.h): sample, evaluate, release text.
 *
 * Text goes through two filters before it is returned: the streaming detokenizer (which holds
 * back a UTF-8 character a token left unfinished) and the stop strings (which hold back what
 * may be the start of one), so every byte returned is final. The prompt is evaluated once at
 * create; each next samples one token and, unless generation ends there, evaluates it.
 */
#include "bitnet.h"

#include "base/timer.h"
#include "model/forward.h"
#include "sample/sampler.h"
#include "text/stop.h"
#include "text/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct bn_generator {
    bn_context *c;
    bn_sampler *s;
    const bn_model *m;
    bn_generate_params p;
    char **stops; /* copies of p.stop */
    bn_detokenizer detok;
    bn_stop stop;
    bn_bytes piece, out; /* a token's text; what the stop strings let out (returned) */
    float *logits;       /* [n_vocab]: the row of the last token evaluated */
    bn_generate_result r;
    bool done;
};

bn_generate_params bn_generate_default_params(void) {
    return (bn_generate_params){.n_predict = 128};
}

void bn_generator_free(bn_generator *g) {
    if (g == NULL)
        return;
    for (int i = 0; g->stops != NULL && i < g->p.n_stop; i++)
        free(g->stops[i]);
    free(g->stops);
    bn_stop_free(&g->stop);
    bn_bytes_free(&g->piece);
    bn_bytes_free(&g->out);
    free(g->logits);
    free(g);
}

static bn_status check_params(const bn_context *c, const bn_generate_params *p, int n_prompt) {
    if (p->n_predict < -1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "generate: n_predict %d (-1 = no limit)", p->n_predict);
    if (p->n_stop < 0 || (p->n_stop > 0 && p->stop == NULL))
        return BN_ERROR(BN_ERR_INVALID_ARG, "generate: %d stop strings at %p", p->n_stop,
                        (const void *)p->stop);
    for (int i = 0; i < p->n_stop; i++)
        if (p->stop[i] == NULL || p->stop[i][0] == '\0')
            return BN_ERROR(BN_ERR_INVALID_ARG, "generate: stop string %d is %s", i,
                            p->stop[i] == NULL ? "NULL" : "empty");
    if (p->seq < 0 || p->seq >= bn_context_n_seq_max(c))
        return BN_ERROR(BN_ERR_RANGE, "generate: sequence %d of a context of %d", p->seq,
                        bn_context_n_seq_max(c));
    if (n_prompt < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "generate: a prompt of %d tokens (at least one: the "
                        "first token is sampled from its logits)",
                        n_prompt);
    return BN_OK;
}

/* Evaluate tokens[0..n) at the end of sequence seq; logits gets the last one's row. */
static bn_status eval_seq(bn_context *c, int seq, const int32_t *tokens, int n, float *logits) {
    if (seq == 0)
        return bn_context_eval(c, tokens, n, logits, false);
    int32_t few[64], *seqs = n <= 64 ? few : malloc((size_t)n * sizeof *seqs);
    if (seqs == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate");
    for (int i = 0; i < n; i++)
        seqs[i] = seq;
    bn_batch b = {.n = n, .tokens = tokens, .seq = seqs};
    bn_status st = bn_context_decode(c, &b, logits);
    if (seqs != few)
        free(seqs);
    return st;
}

static bn_status copy_stops(bn_generator *g) {
    if (g->p.n_stop == 0)
        return BN_OK;
    if ((g->stops = calloc((size_t)g->p.n_stop, sizeof *g->stops)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate");
    for (int i = 0; i < g->p.n_stop; i++)
        if ((g->stops[i] = strdup(g->p.stop[i])) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate");
    g->p.stop = (const char *const *)g->stops;
    return BN_OK;
}

bn_status bn_generator_create(bn_generator **out, bn_context *c, bn_sampler *s,
                              const int32_t *prompt, int n_prompt, const bn_generate_params *p) {
    if (out == NULL || c == NULL || s == NULL || (prompt == NULL && n_prompt > 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "generate: NULL %s",
                        out == NULL ? "out"
                        : c == NULL ? "context"
                        : s == NULL ? "sampler"
                                    : "prompt");
    *out = NULL;
    bn_generate_params dp = bn_generate_default_params();
    if (p == NULL)
        p = &dp;
    BN_TRY(check_params(c, p, n_prompt));
    /* The sampler reads (and penalizes in place) its own row length of our logits buffer. */
    const bn_model *m = bn_context_model(c);
    if (bn_sampler_n_vocab(s) > m->cfg.n_vocab)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "generate: a sampler for %d tokens, but the model's logits have %d",
                        (int)bn_sampler_n_vocab(s), (int)m->cfg.n_vocab);
    bn_generator *g = calloc(1, sizeof *g);
    if (g == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate");
    g->c = c;
    g->s = s;
    g->m = m;
    g->p = *p;
    bn_stop_init(&g->stop, NULL, 0); /* so that a failure below frees cleanly */
    bn_status st = copy_stops(g);
    if (st == BN_OK) {
        bn_stop_init(&g->stop, g->p.stop, (size_t)g->p.n_stop);
        bn_detokenizer_init(&g->detok, g->m->tok, true);
        if ((g->logits = malloc((size_t)g->m->cfg.n_vocab * sizeof(float))) == NULL)
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate: logits");
    }
    double t0 = bn_time_s();
    if (st == BN_OK)
        st = eval_seq(c, p->seq, prompt, n_prompt, g->logits);
    g->r.prompt_seconds = bn_time_s() - t0;
    g->r.n_prompt = n_prompt;
    if (st != BN_OK) {
        bn_generator_free(g);
        return st;
    }
    g->done = p->n_predict == 0;
    if (g->done)
        g->r.reason = BN_STOP_LIMIT;
    *out = g;
    return BN_OK;
}

/* The end: whatever the detokenizer and the stop strings still hold goes out. */
static bn_status finish(bn_generator *g, bn_stop_reason reason) {
    g->done = true;
    g->r.reason = reason;
    g->piece.n = 0;
    BN_TRY(bn_detokenizer_flush(&g->detok, &g->piece));
    BN_TRY(bn_stop_push(&g->stop, g->piece.data, g->piece.n, &g->out));
    return bn_stop_flush(&g->stop, &g->out); /* after a stop string this adds nothing */
}

/* One token: sample it, release its text, and evaluate it unless generation ends here. */
static bn_status step(bn_generator *g, int32_t *token) {
    /* Rows past the tokenizer's tokens (embeddings padded to a round size) are no tokens. */
    for (int32_t i = bn_tokenizer_n_vocab(g->m->tok); i < g->m->cfg.n_vocab; i++)
        g->logits[i] = -INFINITY;
    if (g->p.ignore_eos) {
        const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(g->m->tok);
        for (int i = 0; i < spec->n_eog; i++)
            g->logits[spec->eog[i]] = -INFINITY;
    }
    int32_t tok = bn_sampler_sample(g->s, g->logits);
    bn_sampler_accept(g->s, tok);
    g->r.n_generated++;
    *token = tok;
    if (bn_tokenizer_is_eog(g->m->tok, tok))
        return finish(g, BN_STOP_EOG);
    g->piece.n = 0;
    BN_TRY(bn_detokenizer_push(&g->detok, tok, &g->piece));
    BN_TRY(bn_stop_push(&g->stop, g->piece.data, g->piece.n, &g->out));
    if (bn_stop_hit(&g->stop))
        return finish(g, BN_STOP_STRING);
    if (g->p.n_predict >= 0 && g->r.n_generated >= g->p.n_predict)
        return finish(g, BN_STOP_LIMIT);
    if (bn_context_seq_len(g->c, g->p.seq) >= bn_context_n_ctx(g->c))
        return finish(g, BN_STOP_FULL);
    return eval_seq(g->c, g->p.seq, &tok, 1, g->logits);
}

bn_status bn_generator_next(bn_generator *g, const char **text, size_t *len, int32_t *token,
                            bool *done) {
    if (g == NULL || text == NULL || len == NULL || done == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "generator next: NULL %s",
                        g == NULL ? "generator" : "output pointer");
    int32_t tok = -1;
    g->out.n = 0;
    bn_status st = BN_OK;
    if (!g->done) {
        double t0 = bn_time_s();
        st = step(g, &tok);
        g->r.generate_seconds += bn_time_s() - t0;
    }
    if (st != BN_OK) /* an error ends generation: the next call says done */
        g->done = true;
    *text = g->out.n > 0 ? g->out.data : "";
    *len = g->out.n;
    *done = g->done;
    if (token != NULL)
        *token = tok;
    return st;
}

void bn_generator_result(const bn_generator *g, bn_generate_result *out) {
    if (g != NULL && out != NULL)
        *out = g->r;
}

bn_status bn_generate(bn_context *c, bn_sampler *s, const int32_t *prompt, int n_prompt,
                      const bn_generate_params *p, bn_text_fn on_text, void *user,
                      bn_generate_result *result) {
    bn_generator *g;
    BN_TRY(bn_generator_create(&g, c, s, prompt, n_prompt, p));
    bn_status st = BN_OK;
    for (bool done = false; st == BN_OK && !done;) {
        const char *text;
        size_t len;
        int32_t tok;
        st = bn_generator_next(g, &text, &len, &tok, &done);
        if (st == BN_OK && on_text != NULL && !on_text(user, text, len, tok) && !done) {
            g->done = true;
            g->r.reason = BN_STOP_CALLBACK;
            done = true;
        }
    }
    if (result != NULL)
        *result = g->r;
    bn_generator_free(g);
    return st;
}
