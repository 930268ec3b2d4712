/*
 * generate.c - sample, print, evaluate: the loop run and chat share.
 *
 * Text goes through two filters before it is printed: the detokenizer (which holds back a UTF-8
 * character a token left unfinished) and the stop strings (which hold back what may be the
 * start of one), so every byte printed is final.
 */
#include "generate.h"

#include "cli.h"

#include "base/timer.h"
#include "text/stop.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Print text and keep a copy in the reply. */
static bn_status emit(const bn_gen *g, const bn_bytes *text) {
    if (text->n == 0)
        return BN_OK;
    /* a full disk or a closed pipe ends generation now, not after -n more tokens */
    if (fwrite(text->data, 1, text->n, g->out) != text->n || fflush(g->out) != 0)
        return BN_ERROR(BN_ERR_IO, "writing the generated text: %s", strerror(errno));
    return g->reply != NULL ? bn_bytes_append(g->reply, text->data, text->n) : BN_OK;
}

/* Decode one token and pass its text through the stop strings to the output. */
static bn_status put_token(const bn_gen *g, bn_detokenizer *d, bn_stop *stop, int32_t tok,
                           bn_bytes *text, bn_bytes *out) {
    text->n = 0;
    out->n = 0;
    BN_TRY(bn_detokenizer_push(d, tok, text));
    BN_TRY(bn_stop_push(stop, text->data, text->n, out));
    return emit(g, out);
}

/* The end of the text: what the detokenizer and the stop strings still hold. */
static bn_status put_rest(const bn_gen *g, bn_detokenizer *d, bn_stop *stop, bn_bytes *text,
                          bn_bytes *out) {
    text->n = 0;
    out->n = 0;
    BN_TRY(bn_detokenizer_flush(d, text));
    BN_TRY(bn_stop_push(stop, text->data, text->n, out));
    BN_TRY(bn_stop_flush(stop, out));
    return emit(g, out);
}

/* One step: sample a token and decide whether to go on. *go is false when generation ends. */
static bn_status step(const bn_gen *g, bn_detokenizer *d, bn_stop *stop, float *logits,
                      bn_bytes *bufs, bn_gen_result *r, bool *go) {
    int n_predict = g->opt->n_predict;
    if (g->opt->ignore_eos) {
        const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(g->m->tok);
        for (int i = 0; i < spec->n_eog; i++)
            logits[spec->eog[i]] = -INFINITY;
    }
    int32_t tok = bn_sampler_sample(g->s, logits);
    bn_sampler_accept(g->s, tok);
    r->n_sampled++;
    *go = false;
    if (bn_tokenizer_is_eog(g->m->tok, tok)) {
        r->end = BN_GEN_EOG;
        return BN_OK;
    }
    BN_TRY(put_token(g, d, stop, tok, &bufs[0], &bufs[1]));
    if (bn_stop_hit(stop))
        r->end = BN_GEN_STOP;
    else if (n_predict >= 0 && r->n_sampled >= n_predict)
        r->end = BN_GEN_LIMIT;
    else if (bn_context_n_past(g->c) >= bn_context_n_ctx(g->c))
        r->end = BN_GEN_FULL;
    else
        *go = true;
    if (!*go)
        return BN_OK;
    BN_TRY(bn_context_eval(g->c, &tok, 1, logits, false));
    r->n_evaluated++;
    return g->cached != NULL ? bn_tokens_push(g->cached, tok) : BN_OK;
}

bn_status bn_cli_generate(const bn_gen *g, float *logits, bn_gen_result *r) {
    *r = (bn_gen_result){.end = BN_GEN_LIMIT};
    bn_detokenizer d;
    bn_detokenizer_init(&d, g->m->tok, true);
    bn_stop stop;
    bn_stop_init(&stop, g->opt->stops, (size_t)g->opt->n_stops);
    bn_bytes bufs[2] = {{0}, {0}}; /* the token's text, then what the stop strings let out */
    double t0 = bn_time_s();
    bn_status st = BN_OK;
    bool go = g->opt->n_predict != 0;
    while (st == BN_OK && go) {
        if (bn_cli_interrupted) { /* Ctrl-C: stop here, keep what was made */
            r->end = BN_GEN_INTERRUPT;
            break;
        }
        st = step(g, &d, &stop, logits, bufs, r, &go);
    }
    if (st == BN_OK) /* after a stop string this adds nothing */
        st = put_rest(g, &d, &stop, &bufs[0], &bufs[1]);
    r->seconds = bn_time_s() - t0;
    bn_stop_free(&stop);
    bn_bytes_free(&bufs[0]);
    bn_bytes_free(&bufs[1]);
    return st;
}

const char *bn_gen_end_str(bn_gen_end end) {
    switch (end) {
    case BN_GEN_EOG:
        return "an end-of-generation token";
    case BN_GEN_STOP:
        return "a stop string";
    case BN_GEN_FULL:
        return "the end of the context";
    case BN_GEN_INTERRUPT:
        return "an interrupt (Ctrl-C)";
    default:
        return "the -n limit";
    }
}
