/*
 * serve_engine.c - slots, the queue and the batching thread of serve_engine.h.
 *
 * The engine thread owns the context: it alone creates generators and runs the batched steps.
 * Everything the HTTP threads touch (the queue, the requests' text and flags) is under one
 * mutex, which the engine drops while a step runs, so a request can be queued or cancelled at
 * any time and is looked at between steps.
 */
#include "serve_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Prompt tokens per step, shared by the prompts going in: enough for a prompt to be a GEMM,
 * small enough that the running sequences' next tokens are not held up long. */
#define PROMPT_CHUNK 64

struct bn_serve_engine {
    const bn_model *model;
    bn_context *ctx;
    int slots, n_ctx, max_waiting, n_vocab;
    bn_serve_request **slot; /* [slots]: the request on each sequence, or NULL */
    bn_serve_request *waiting_head, *waiting_tail;
    int n_waiting;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the engine's: work arrived, or stop */
    pthread_t thread;
    bool stopping;
    bn_serve_stats stats;
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

bn_serve_request *bn_serve_request_new(void) {
    bn_serve_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    pthread_cond_init(&r->cond, NULL);
    r->refs = 1;
    r->slot = -1;
    r->sampling = bn_sampler_default_params();
    return r;
}

static void request_free(bn_serve_request *r) {
    bn_generator_free(r->gen);
    bn_sampler_free(r->sampler);
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->prompt);
    free(r->text);
    free(r->lp);
    pthread_cond_destroy(&r->cond);
    free(r);
}

/* Under the lock. */
static void release_locked(bn_serve_request *r) {
    if (--r->refs == 0)
        request_free(r);
}

void bn_serve_release(bn_serve_engine *e, bn_serve_request *r) {
    if (r == NULL)
        return;
    pthread_mutex_lock(&e->lock);
    release_locked(r);
    pthread_mutex_unlock(&e->lock);
}

static bool append(bn_serve_request *r, const char *text, size_t len) {
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (t == NULL)
            return false;
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, text, len);
    r->len += len;
    r->text[r->len] = '\0';
    return true;
}

/* Under the lock: the logprobs of the token r's generator sampled last. */
static bool record_logprob(bn_serve_request *r, int32_t token) {
    if (r->n_lp == r->lp_cap) {
        int cap = r->lp_cap ? 2 * r->lp_cap : 32;
        bn_serve_logprob *grown = realloc(r->lp, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return false;
        r->lp = grown;
        r->lp_cap = cap;
    }
    bn_serve_logprob *e = &r->lp[r->n_lp];
    const int32_t *ids;
    const float *lps;
    if (bn_generator_logprobs(r->gen, &e->logprob, &e->n_top, &ids, &lps) != BN_OK)
        return false;
    e->token = token;
    memcpy(e->top_id, ids, (size_t)e->n_top * sizeof *ids);
    memcpy(e->top_lp, lps, (size_t)e->n_top * sizeof *lps);
    r->n_lp++;
    return true;
}

/* Under the lock: r ends (status and message when it failed) and leaves its slot. */
static void finish_locked(bn_serve_engine *e, bn_serve_request *r, bn_status st, const char *why) {
    if (r->done)
        return;
    r->done = true;
    r->status = st;
    if (st != BN_OK) {
        snprintf(r->error, sizeof r->error, "%s", why ? why : bn_status_str(st));
        e->stats.errors++;
    }
    if (r->slot >= 0) {
        e->slot[r->slot] = NULL;
        r->slot = -1;
        e->stats.active--;
        release_locked(r); /* the slot's reference */
    }
    pthread_cond_broadcast(&r->cond);
}

/* Under the lock: queued requests into free slots. A request that cannot start (its sampler or
 * generator refused) ends with the reason. */
static void admit_locked(bn_serve_engine *e) {
    for (int s = 0; s < e->slots && e->waiting_head != NULL; s++) {
        if (e->slot[s] != NULL)
            continue;
        bn_serve_request *r = e->waiting_head;
        e->waiting_head = r->next_waiting;
        if (e->waiting_head == NULL)
            e->waiting_tail = NULL;
        e->n_waiting--;
        if (r->cancelled) {
            r->done = true;
            release_locked(r); /* the queue's reference */
            s--;
            continue;
        }
        bn_context_seq_truncate(e->ctx, s, 0); /* the previous request's positions go */
        bn_generate_params gp = bn_generate_default_params();
        gp.n_predict = r->max_tokens;
        gp.stop = (const char *const *)r->stop;
        gp.n_stop = r->n_stop;
        gp.seq = s;
        gp.defer_prompt = true;
        gp.logprobs = r->logprobs;
        gp.top_logprobs = r->top_logprobs;
        bn_status st = bn_sampler_create(&r->sampler, e->n_vocab, &r->sampling);
        if (st == BN_OK)
            st = bn_generator_create(&r->gen, e->ctx, r->sampler, r->prompt, r->n_prompt, &gp);
        e->slot[s] = r; /* the queue's reference becomes the slot's */
        r->slot = s;
        e->stats.active++;
        e->stats.prompt_tokens += r->n_prompt;
        if (st != BN_OK)
            finish_locked(e, r, st, bn_last_error());
    }
}

static void *engine_main(void *arg) {
    bn_serve_engine *e = arg;
    bn_generator **gens = calloc((size_t)e->slots, sizeof *gens);
    bn_serve_request **reqs = calloc((size_t)e->slots, sizeof *reqs);
    bn_generator_piece *out = calloc((size_t)e->slots, sizeof *out);
    pthread_mutex_lock(&e->lock);
    while (!e->stopping) {
        for (int s = 0; s < e->slots; s++) /* cancelled clients free their slots now */
            if (e->slot[s] != NULL && e->slot[s]->cancelled)
                finish_locked(e, e->slot[s], BN_OK, NULL);
        admit_locked(e);
        int n = 0;
        for (int s = 0; s < e->slots; s++)
            if (e->slot[s] != NULL) {
                reqs[n] = e->slot[s];
                gens[n++] = e->slot[s]->gen;
            }
        if (n == 0) {
            pthread_cond_wait(&e->wake, &e->lock);
            continue;
        }
        pthread_mutex_unlock(&e->lock);
        double t0 = now_s();
        bn_status st = gens != NULL && out != NULL
                           ? bn_generator_step_batch(gens, n, PROMPT_CHUNK, out)
                           : BN_ERR_OUT_OF_MEMORY;
        double t1 = now_s();
        pthread_mutex_lock(&e->lock);
        e->stats.busy_seconds += t1 - t0;
        for (int i = 0; i < n; i++) {
            bn_serve_request *r = reqs[i];
            if (st != BN_OK || out[i].status != BN_OK) {
                finish_locked(e, r, st != BN_OK ? st : out[i].status, bn_last_error());
                continue;
            }
            if (out[i].token >= 0) {
                r->n_generated++;
                e->stats.generated_tokens++;
                if (r->logprobs && !record_logprob(r, out[i].token)) {
                    finish_locked(e, r, BN_ERR_OUT_OF_MEMORY, "out of memory");
                    continue;
                }
            }
            if (out[i].len > 0) {
                if (r->t_first == 0) {
                    r->t_first = t1;
                    e->stats.ttft_sum += t1 - r->t_submit;
                    e->stats.ttft_count++;
                }
                if (!append(r, out[i].text, out[i].len)) {
                    finish_locked(e, r, BN_ERR_OUT_OF_MEMORY, "out of memory");
                    continue;
                }
                pthread_cond_broadcast(&r->cond);
            }
            if (out[i].done) {
                bn_generate_result res;
                bn_generator_result(r->gen, &res);
                r->reason = res.reason;
                finish_locked(e, r, BN_OK, NULL);
            }
        }
    }
    /* shutting down: everything running or queued ends with an error */
    for (int s = 0; s < e->slots; s++)
        if (e->slot[s] != NULL)
            finish_locked(e, e->slot[s], BN_ERR_INVALID_ARG, "the server is shutting down");
    while (e->waiting_head != NULL) {
        bn_serve_request *r = e->waiting_head;
        e->waiting_head = r->next_waiting;
        finish_locked(e, r, BN_ERR_INVALID_ARG, "the server is shutting down");
        release_locked(r); /* the queue's reference */
    }
    e->waiting_tail = NULL;
    e->n_waiting = 0;
    pthread_mutex_unlock(&e->lock);
    free(gens);
    free(reqs);
    free(out);
    return NULL;
}

bn_status bn_serve_engine_start(bn_serve_engine **out, const bn_model *model, int slots, int n_ctx,
                                int threads, int max_waiting) {
    *out = NULL;
    bn_serve_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    bn_model_info info;
    bn_status st = bn_model_get_info(model, &info);
    bn_context_params cp = bn_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq_max = slots;
    cp.n_threads = threads;
    if (st == BN_OK)
        st = bn_context_create(&e->ctx, model, &cp);
    e->slot = calloc((size_t)slots, sizeof *e->slot);
    if (st == BN_OK && e->slot == NULL)
        st = BN_ERR_OUT_OF_MEMORY;
    if (st != BN_OK) {
        bn_context_free(e->ctx);
        free(e->slot);
        free(e);
        return st;
    }
    e->model = model;
    e->slots = slots;
    e->n_ctx = bn_context_n_ctx(e->ctx);
    e->max_waiting = max_waiting;
    e->n_vocab = info.n_tokens; /* the sampler never picks the embeddings' padding rows */
    e->stats.slots = slots;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        bn_context_free(e->ctx);
        free(e->slot);
        free(e);
        return BN_ERR_OUT_OF_MEMORY;
    }
    *out = e;
    return BN_OK;
}

void bn_serve_engine_stop(bn_serve_engine *e) {
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    bn_context_free(e->ctx);
    e->ctx = NULL;
}

void bn_serve_engine_free(bn_serve_engine *e) {
    if (e == NULL)
        return;
    free(e->slot);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    free(e);
}

bn_status bn_serve_submit(bn_serve_engine *e, bn_serve_request *r) {
    pthread_mutex_lock(&e->lock);
    bool stopping = e->stopping, full = e->n_waiting >= e->max_waiting || stopping;
    if (!full) {
        r->refs++; /* the queue's, then the slot's */
        r->t_submit = now_s();
        r->next_waiting = NULL;
        if (e->waiting_tail != NULL)
            e->waiting_tail->next_waiting = r;
        else
            e->waiting_head = r;
        e->waiting_tail = r;
        e->n_waiting++;
        e->stats.requests++;
        pthread_cond_signal(&e->wake);
    }
    pthread_mutex_unlock(&e->lock);
    return stopping ? BN_ERR_INVALID_ARG : full ? BN_ERR_RANGE : BN_OK;
}

bool bn_serve_wait(bn_serve_engine *e, bn_serve_request *r, char **text, size_t *len) {
    pthread_mutex_lock(&e->lock);
    while (!r->done && r->read == r->len)
        pthread_cond_wait(&r->cond, &e->lock);
    bool done = r->done;
    *len = r->len - r->read;
    *text = NULL;
    if (*len > 0 && (*text = malloc(*len + 1)) != NULL) {
        memcpy(*text, r->text + r->read, *len);
        (*text)[*len] = '\0';
    }
    if (*text == NULL)
        *len = 0;
    r->read = r->len;
    pthread_mutex_unlock(&e->lock);
    return done;
}

bn_serve_logprob *bn_serve_take_logprobs(bn_serve_engine *e, bn_serve_request *r, int *n) {
    pthread_mutex_lock(&e->lock);
    *n = r->n_lp - r->lp_read;
    bn_serve_logprob *out = *n > 0 ? malloc((size_t)*n * sizeof *out) : NULL;
    if (out != NULL) {
        memcpy(out, r->lp + r->lp_read, (size_t)*n * sizeof *out);
        r->lp_read = r->n_lp;
    } else {
        *n = 0;
    }
    pthread_mutex_unlock(&e->lock);
    return out;
}

void bn_serve_cancel(bn_serve_engine *e, bn_serve_request *r) {
    pthread_mutex_lock(&e->lock);
    r->cancelled = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

int bn_serve_n_ctx(const bn_serve_engine *e) {
    return e->n_ctx;
}

void bn_serve_stats_get(bn_serve_engine *e, bn_serve_stats *out) {
    pthread_mutex_lock(&e->lock);
    *out = e->stats;
    out->waiting = e->n_waiting;
    pthread_mutex_unlock(&e->lock);
}
