/*
 * serve_engine.h - the generation engine of `bitnet serve`: one context with a sequence per slot,
 * and one thread that runs every active slot's next token in one batched forward pass per step
 * (bn_generator_step_batch), admitting queued requests into free slots between steps and
 * feeding their prompts in chunks so the running ones keep streaming (continuous batching).
 *
 * A request is shared by the HTTP side (which waits on it and reads its text) and the engine
 * (which writes text into it); each holds a reference and the last one frees it. Uses the
 * public API (bitnet.h) only.
 */
#ifndef BN_SERVE_ENGINE_H
#define BN_SERVE_ENGINE_H

#include "bitnet.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bn_serve_engine bn_serve_engine;

/* A generated token's log-probability and its most likely alternatives. */
typedef struct bn_serve_logprob {
    int32_t token;
    float logprob;
    int n_top;
    int32_t top_id[20];
    float top_lp[20];
} bn_serve_logprob;

typedef struct bn_serve_request {
    /* set by the HTTP side before submitting */
    bool logprobs;    /* record bn_serve_logprob entries */
    int top_logprobs; /* 0..20 */
    int32_t *prompt;
    int n_prompt;
    bn_sampler_params sampling;
    int max_tokens;
    char *stop[4];
    int n_stop;
    /* written by the engine under the engine's lock; waited for with cond */
    char *text; /* made so far; [0, read) already taken by the HTTP side */
    size_t len, cap, read;
    int n_generated;
    bn_serve_logprob *lp; /* [n_lp]: one per generated token when logprobs; [0, lp_read) taken */
    int n_lp, lp_cap, lp_read;
    bn_stop_reason reason;
    bn_status status; /* BN_OK, or what ended it (the message is in error) */
    char error[256];
    bool done, cancelled;
    double t_submit, t_first; /* seconds (bn-time), for the metrics */
    pthread_cond_t cond;
    int refs;
    /* the engine's */
    int slot;
    bn_generator *gen;
    bn_sampler *sampler;
    struct bn_serve_request *next_waiting;
} bn_serve_request;

typedef struct bn_serve_stats {
    int64_t requests, prompt_tokens, generated_tokens, errors;
    int active, waiting, slots;
    double busy_seconds; /* in batched steps */
    double ttft_sum;     /* submit -> first text, summed over requests that had text */
    int64_t ttft_count;
} bn_serve_stats;

/* An engine over model: slots sequences of n_ctx positions each, threads worker threads;
 * at most max_waiting requests queue for a slot (then submit answers BN_ERR_RANGE: busy). */
bn_status bn_serve_engine_start(bn_serve_engine **out, const bn_model *model, int slots, int n_ctx,
                                int threads, int max_waiting);

/* Stop generating: every request still running or queued ends with an error ("the server is
 * shutting down"), the thread is joined and the context freed. Waiting on, cancelling and
 * releasing requests still work (they find them done) until bn_serve_engine_free. */
void bn_serve_engine_stop(bn_serve_engine *e);

/* Free a stopped engine, once no other thread uses it. */
void bn_serve_engine_free(bn_serve_engine *e);

/* A new request with one reference (the caller's); NULL when out of memory. */
bn_serve_request *bn_serve_request_new(void);

/* Queue r (the engine takes its own reference). BN_ERR_RANGE when the queue is full,
 * BN_ERR_INVALID_ARG once the engine is stopping. */
bn_status bn_serve_submit(bn_serve_engine *e, bn_serve_request *r);

/* Wait until r has text past r->read or is done; copy that text out (malloc'd, *len bytes;
 * NULL when none) and mark it read. Returns r->done as it was when the text was taken. */
bool bn_serve_wait(bn_serve_engine *e, bn_serve_request *r, char **text, size_t *len);

/* The logprob entries made since the last call (malloc'd copy, *n of them; NULL when none). */
bn_serve_logprob *bn_serve_take_logprobs(bn_serve_engine *e, bn_serve_request *r, int *n);

/* The client has gone: the engine frees r's slot at its next step. */
void bn_serve_cancel(bn_serve_engine *e, bn_serve_request *r);

/* Drop a reference. */
void bn_serve_release(bn_serve_engine *e, bn_serve_request *r);

int bn_serve_n_ctx(const bn_serve_engine *e);

void bn_serve_stats_get(bn_serve_engine *e, bn_serve_stats *out);

#endif /* BN_SERVE_ENGINE_H */
