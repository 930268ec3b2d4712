/*
 * generate.c - bn_generator and bn_generate (bitnet.h): sample, evaluate, release text.
 *
 * Text goes through two filters before it is returned: the streaming detokenizer (which holds
 * back a UTF-8 character a token left unfinished) and the stop strings (which hold back what
 * may be the start of one), so every byte returned is final. The prompt is evaluated once at
 * create; each next samples one token and, unless generation ends there, evaluates it.
 *
 * Batched (bn_generator_step_batch): a generator made with defer_prompt keeps its prompt and
 * feeds it in chunks, and a sampled token waits (pending) to be evaluated in the next step with
 * the other sequences' tokens; sampling and the text are the same code as next's.
 */
#include "bitnet.h"

#include "base/timer.h"
#include "model/forward.h"
#include "model/perplexity.h"
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
    int32_t *prompt;     /* a deferred prompt (defer_prompt), fed by the batched steps */
    int n_prompt, prompt_fed;
    int32_t pending;  /* sampled, not yet evaluated (batched steps) */
    bool has_pending; /* ... when true */
    bool has_logits;  /* logits hold the row to sample from */
    /* logprobs of the token sampled last (p.logprobs): its own and the top ones */
    float *raw; /* [n_vocab]: the logits before sampling, when logprobs */
    float logprob, top_lp[20];
    int32_t top_id[20];
    int n_top;
    bool has_logprobs;
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
    free(g->prompt);
    free(g->raw);
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
    if (p->top_logprobs < 0 || p->top_logprobs > 20)
        return BN_ERROR(BN_ERR_INVALID_ARG, "generate: top_logprobs %d (0..20)", p->top_logprobs);
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
        if ((g->logits = malloc((size_t)g->m->cfg.n_vocab * sizeof(float))) == NULL ||
            (p->logprobs && (g->raw = malloc((size_t)g->m->cfg.n_vocab * sizeof(float))) == NULL))
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate: logits");
    }
    double t0 = bn_time_s();
    if (st == BN_OK && p->defer_prompt) {
        g->n_prompt = n_prompt;
        if ((g->prompt = malloc((size_t)n_prompt * sizeof *g->prompt)) == NULL)
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generate: prompt");
        else
            memcpy(g->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    } else if (st == BN_OK) {
        st = eval_seq(c, p->seq, prompt, n_prompt, g->logits);
        g->has_logits = true;
    }
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

/* The p.top_logprobs largest logits of x[0..n) into g->top_id / top_lp, largest first (lower id
 * first on ties), by insertion into a short sorted list. */
static void top_tokens(bn_generator *g, const float *logits, int n, double log_z) {
    int k = g->p.top_logprobs, have = 0;
    for (int i = 0; i < n && k > 0; i++) {
        float v = logits[i];
        if (have == k && v <= g->top_lp[k - 1])
            continue;
        int at = have < k ? have++ : k - 1;
        while (at > 0 && g->top_lp[at - 1] < v) {
            g->top_lp[at] = g->top_lp[at - 1];
            g->top_id[at] = g->top_id[at - 1];
            at--;
        }
        g->top_lp[at] = v;
        g->top_id[at] = i;
    }
    for (int j = 0; j < have; j++)
        g->top_lp[j] = (float)(g->top_lp[j] - log_z);
    g->n_top = have;
}

/* One token from a row of logits (g->logits, or a batched step's row; changed in place): sample
 * it and release its text; g->done when generation ends here. The token is not evaluated. */
static bn_status sample(bn_generator *g, float *logits, int32_t *token) {
    g->has_logits = false;
    /* Rows past the tokenizer's tokens (embeddings padded to a round size) are no tokens. */
    for (int32_t i = bn_tokenizer_n_vocab(g->m->tok); i < g->m->cfg.n_vocab; i++)
        logits[i] = -INFINITY;
    if (g->p.ignore_eos) {
        const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(g->m->tok);
        for (int i = 0; i < spec->n_eog; i++)
            logits[spec->eog[i]] = -INFINITY;
    }
    /* the model's distribution, taken before the sampler penalizes the logits in place */
    int n = (int)bn_sampler_n_vocab(g->s);
    double log_z = 0.0;
    if (g->p.logprobs) {
        log_z = bn_log_sum_exp(logits, n);
        memcpy(g->raw, logits, (size_t)n * sizeof *g->raw);
        top_tokens(g, logits, n, log_z);
    }
    int32_t tok = bn_sampler_sample(g->s, logits);
    if (g->p.logprobs) {
        g->logprob = (float)(g->raw[tok] - log_z);
        g->has_logprobs = true;
    }
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
    return BN_OK;
}

/* The logits to sample from: what a batched step left unevaluated goes in first. */
static bn_status ensure_logits(bn_generator *g) {
    if (g->prompt_fed < g->n_prompt) {
        BN_TRY(eval_seq(g->c, g->p.seq, g->prompt + g->prompt_fed, g->n_prompt - g->prompt_fed,
                        g->logits));
        g->prompt_fed = g->n_prompt;
        g->has_logits = true;
    } else if (g->has_pending) {
        BN_TRY(eval_seq(g->c, g->p.seq, &g->pending, 1, g->logits));
        g->has_pending = false;
        g->has_logits = true;
    }
    return BN_OK;
}

/* One token: sample it, release its text, and evaluate it unless generation ends here. */
static bn_status step(bn_generator *g, int32_t *token) {
    BN_TRY(ensure_logits(g));
    BN_TRY(sample(g, g->logits, token));
    if (g->done)
        return BN_OK;
    BN_TRY(eval_seq(g->c, g->p.seq, token, 1, g->logits));
    g->has_logits = true;
    return BN_OK;
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

/* ---- batched steps ---------------------------------------------------------------------- */

static bn_status check_batch_args(bn_generator *const *gens, int n, int prompt_chunk,
                                  bn_generator_piece *out) {
    if (gens == NULL || out == NULL || n < 1 || prompt_chunk < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "generator step: %s",
                        gens == NULL || out == NULL ? "NULL arguments"
                        : n < 1                     ? "no generators"
                                                    : "prompt_chunk < 1");
    for (int i = 0; i < n; i++) {
        if (gens[i] == NULL)
            return BN_ERROR(BN_ERR_INVALID_ARG, "generator step: generator %d is NULL", i);
        if (gens[i]->c != gens[0]->c)
            return BN_ERROR(BN_ERR_INVALID_ARG,
                            "generator step: generators %d and 0 are of different contexts", i);
        for (int j = 0; j < i; j++)
            if (!gens[i]->done && !gens[j]->done && gens[i]->p.seq == gens[j]->p.seq)
                return BN_ERROR(BN_ERR_INVALID_ARG,
                                "generator step: generators %d and %d both continue sequence %d", j,
                                i, gens[i]->p.seq);
    }
    return BN_OK;
}

/* The rows generator g puts in this step's batch (its prompt's next chunk within *budget, or
 * its pending token), and whether the last of them wants logits. */
static int rows_of(const bn_generator *g, int *budget, bool *wants) {
    *wants = false;
    if (g->done || g->has_logits)
        return 0;
    if (g->prompt_fed < g->n_prompt) {
        int left = g->n_prompt - g->prompt_fed, k = left < *budget ? left : *budget;
        *budget -= k;
        *wants = k == left && k > 0;
        return k;
    }
    *wants = g->has_pending;
    return g->has_pending ? 1 : 0;
}

bn_status bn_generator_step_batch(bn_generator *const *gens, int n, int prompt_chunk,
                                  bn_generator_piece *out) {
    BN_TRY(check_batch_args(gens, n, prompt_chunk, out));
    bn_context *c = gens[0]->c;
    int n_vocab = gens[0]->m->cfg.n_vocab, rows = 0, budget = prompt_chunk, k = 0;
    int *take = calloc((size_t)n, sizeof *take);
    bool *wants = calloc((size_t)n, sizeof *wants);
    for (int i = 0; take != NULL && wants != NULL && i < n; i++) {
        take[i] = rows_of(gens[i], &budget, &wants[i]);
        rows += take[i];
        k += wants[i];
    }
    int32_t *tokens = malloc((size_t)(rows + 1) * sizeof *tokens);
    int32_t *seqs = malloc((size_t)(rows + 1) * sizeof *seqs);
    int8_t *flags = malloc((size_t)(rows + 1));
    float *logits = malloc(((size_t)k + 1) * (size_t)n_vocab * sizeof *logits);
    bn_status st = take && wants && tokens && seqs && flags && logits
                       ? BN_OK
                       : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "generator step");
    double t0 = bn_time_s();
    if (st == BN_OK && rows > 0) {
        int r = 0;
        for (int i = 0; i < n; i++) {
            const bn_generator *g = gens[i];
            const int32_t *src =
                g->prompt_fed < g->n_prompt ? g->prompt + g->prompt_fed : &g->pending;
            for (int j = 0; j < take[i]; j++, r++) {
                tokens[r] = src[j];
                seqs[r] = g->p.seq;
                flags[r] = (int8_t)(wants[i] && j == take[i] - 1);
            }
        }
        bn_batch b = {.n = rows, .tokens = tokens, .seq = seqs, .logits = flags};
        st = bn_context_decode(c, &b, logits);
    }
    double pass = bn_time_s() - t0;
    int row = 0;
    for (int i = 0; i < n; i++) {
        bn_generator *g = gens[i];
        bn_generator_piece *o = &out[i];
        *o = (bn_generator_piece){.text = "", .token = -1, .done = g->done, .status = st};
        g->out.n = 0;
        if (g->done || st != BN_OK) {
            g->done = true;
            o->done = true;
            continue;
        }
        float *row_logits = g->logits; /* what g samples from: its own, or this step's row */
        if (take[i] > 0) {             /* what this step evaluated for g */
            if (g->prompt_fed < g->n_prompt) {
                g->prompt_fed += take[i];
                g->r.prompt_seconds += pass;
            } else {
                g->has_pending = false;
                g->r.generate_seconds += pass;
            }
            if (wants[i]) { /* sampled in place, not copied */
                row_logits = logits + (size_t)row++ * n_vocab;
                g->has_logits = true;
            }
        }
        if (!g->has_logits)
            continue; /* its prompt is still going in */
        double t1 = bn_time_s();
        int32_t tok = -1;
        o->status = sample(g, row_logits, &tok);
        g->r.generate_seconds += bn_time_s() - t1;
        if (o->status == BN_OK && !g->done) {
            g->pending = tok;
            g->has_pending = true;
        }
        if (o->status != BN_OK)
            g->done = true;
        o->token = tok;
        o->text = g->out.n > 0 ? g->out.data : "";
        o->len = g->out.n;
        o->done = g->done;
    }
    free(take), free(wants), free(tokens), free(seqs), free(flags), free(logits);
    return st;
}

bn_status bn_generator_logprobs(const bn_generator *g, float *logprob, int *n_top,
                                const int32_t **top_ids, const float **top_logprobs) {
    if (g == NULL || !g->p.logprobs || !g->has_logprobs)
        return BN_ERROR(BN_ERR_INVALID_ARG, "generator logprobs: %s",
                        g == NULL        ? "NULL generator"
                        : !g->p.logprobs ? "the generator was made without logprobs"
                                         : "no token sampled yet");
    if (logprob != NULL)
        *logprob = g->logprob;
    if (n_top != NULL)
        *n_top = g->n_top;
    if (top_ids != NULL)
        *top_ids = g->top_id;
    if (top_logprobs != NULL)
        *top_logprobs = g->top_lp;
    return BN_OK;
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
