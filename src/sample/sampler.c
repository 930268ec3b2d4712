/*
 * sampler.c - the token sampler (see sampler.h for the steps and their order).
 *
 * The history is kept incrementally so that a sample costs O(window) for the penalties, not a
 * recount: a ring of the last repeat_last_n tokens, count[t] for every token, and a dense list
 * of the distinct tokens with count > 0 (slot[t] is t's place in it, for O(1) removal), which
 * is what the penalty step walks.
 */
#include "sample/sampler.h"

#include "base/alloc.h"
#include "base/rng.h"
#include "base/status.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One entry of the top-k heap: a token and its (penalised) logit. */
typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct bn_sampler {
    bn_sampler_params params;
    int32_t n_vocab;
    bn_rng rng;

    /* history */
    int32_t *ring;     /* [ring_cap] the window, oldest at ring_head once full */
    int32_t ring_cap;  /* repeat_last_n when > 0, else 0 */
    int32_t ring_len;  /* tokens in the ring (<= ring_cap) */
    int32_t ring_head; /* next slot to write */
    int32_t *count;    /* [n_vocab] occurrences of each token in the window */
    int32_t *distinct; /* [n_vocab] tokens with count > 0, in no particular order */
    int32_t *slot;     /* [n_vocab] slot[t] = index of t in distinct, valid while count > 0 */
    int32_t n_distinct;

    /* scratch for one sample */
    cand *heap;      /* [n_vocab] the selected tokens (a heap under top-k), then best first */
    int32_t *ids;    /* [n_vocab] surviving ids, descending probability */
    float *probs;    /* [n_vocab] their probabilities */
    int32_t n_cands; /* survivors of the last random draw, for bn_sampler_candidates */
};

bn_sampler_params bn_sampler_default_params(void) {
    return (bn_sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .seed = 0xB17E7,
    };
}

bn_status bn_sampler_params_check(const bn_sampler_params *p) {
    if (p == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "sampler: params are NULL");
    /* Written as !(ok) so that NaN, which fails every comparison, is rejected too. */
    if (!(p->temperature >= 0.0f && isfinite(p->temperature)))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "sampler: temperature = %g: must be finite and >= 0 (0 = greedy)",
                        (double)p->temperature);
    if (p->top_k < 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "sampler: top_k = %d: must be >= 0 (0 = off)",
                        p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return BN_ERROR(BN_ERR_INVALID_ARG, "sampler: top_p = %g: must be in (0, 1] (1 = off)",
                        (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return BN_ERROR(BN_ERR_INVALID_ARG, "sampler: min_p = %g: must be in [0, 1] (0 = off)",
                        (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "sampler: repeat_penalty = %g: must be finite and > 0 (1 = off)",
                        (double)p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "sampler: repeat_last_n = %d: must be >= -1 (-1 = whole history, "
                        "0 = no penalties)",
                        p->repeat_last_n);
    if (!isfinite(p->frequency_penalty))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "sampler: frequency_penalty = %g: must be finite (0 = off)",
                        (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "sampler: presence_penalty = %g: must be finite (0 = off)",
                        (double)p->presence_penalty);
    return BN_OK;
}

/* ---- create / free / history --------------------------------------------------------------- */

void bn_sampler_free(bn_sampler *s) {
    if (s == NULL)
        return;
    bn_aligned_free(s->ring);
    bn_aligned_free(s->count);
    bn_aligned_free(s->distinct);
    bn_aligned_free(s->slot);
    bn_aligned_free(s->heap);
    bn_aligned_free(s->ids);
    bn_aligned_free(s->probs);
    bn_aligned_free(s);
}

bn_status bn_sampler_create(bn_sampler **out, int32_t n_vocab, const bn_sampler_params *p) {
    if (out == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "sampler: out is NULL");
    *out = NULL;
    if (n_vocab <= 0)
        return BN_ERROR(BN_ERR_INVALID_ARG, "sampler: n_vocab = %d: must be > 0", (int)n_vocab);
    bn_sampler_params params = p ? *p : bn_sampler_default_params();
    BN_TRY(bn_sampler_params_check(&params));

    bn_sampler *s = bn_aligned_alloc(sizeof *s);
    if (s == NULL)
        return BN_ERR_OUT_OF_MEMORY; /* the allocator set the message */
    memset(s, 0, sizeof *s);
    s->params = params;
    s->n_vocab = n_vocab;
    s->ring_cap = params.repeat_last_n > 0 ? params.repeat_last_n : 0;
    size_t nv = (size_t)n_vocab;
    s->ring = bn_aligned_alloc((size_t)s->ring_cap * sizeof *s->ring);
    s->count = bn_aligned_alloc(nv * sizeof *s->count);
    s->distinct = bn_aligned_alloc(nv * sizeof *s->distinct);
    s->slot = bn_aligned_alloc(nv * sizeof *s->slot);
    s->heap = bn_aligned_alloc(nv * sizeof *s->heap);
    s->ids = bn_aligned_alloc(nv * sizeof *s->ids);
    s->probs = bn_aligned_alloc(nv * sizeof *s->probs);
    if (!s->ring || !s->count || !s->distinct || !s->slot || !s->heap || !s->ids || !s->probs) {
        bn_sampler_free(s);
        return BN_ERR_OUT_OF_MEMORY;
    }
    bn_sampler_reset(s);
    *out = s;
    return BN_OK;
}

void bn_sampler_reset(bn_sampler *s) {
    if (s == NULL)
        return;
    /* count must be all zero; distinct and slot are only read where count > 0. */
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->n_distinct = 0;
    s->ring_len = 0;
    s->ring_head = 0;
    s->n_cands = 0;
    bn_rng_seed(&s->rng, s->params.seed);
}

static void history_add(bn_sampler *s, int32_t t) {
    if (s->count[t]++ == 0) {
        s->slot[t] = s->n_distinct;
        s->distinct[s->n_distinct++] = t;
    }
}

static void history_remove(bn_sampler *s, int32_t t) {
    if (--s->count[t] == 0) {
        /* Move the last distinct token into t's slot. */
        int32_t last = s->distinct[--s->n_distinct];
        s->distinct[s->slot[t]] = last;
        s->slot[last] = s->slot[t];
    }
}

void bn_sampler_accept(bn_sampler *s, int32_t token) {
    if (s == NULL || token < 0 || token >= s->n_vocab || s->params.repeat_last_n == 0)
        return;
    if (s->params.repeat_last_n < 0) { /* whole history: nothing is ever evicted */
        history_add(s, token);
        return;
    }
    if (s->ring_len == s->ring_cap)
        history_remove(s, s->ring[s->ring_head]); /* the oldest sits where we write next */
    else
        s->ring_len++;
    s->ring[s->ring_head] = token;
    s->ring_head = s->ring_head + 1 == s->ring_cap ? 0 : s->ring_head + 1;
    history_add(s, token);
}

/* ---- the steps ----------------------------------------------------------------------------- */

/* Step 1. Walks the distinct tokens, so each is penalised once however often it occurs. */
static void apply_penalties(const bn_sampler *s, float *logits) {
    const bn_sampler_params *p = &s->params;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    for (int32_t i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        float l = logits[t];
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
        logits[t] = l;
    }
}

int32_t bn_argmax(const float *x, int32_t n) {
    if (n <= 0)
        return -1;
    int32_t best = 0;
    float best_val = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        if (x[i] > best_val) { /* strict: the first of equal values wins; NaN never does */
            best_val = x[i];
            best = i;
        }
    }
    return best;
}

/* The ranking of tokens: higher logit first, then lower id. A strict total order, so top-k
 * keeps exactly k tokens and the result does not depend on the heap's internals. */
static bool ranks_above(cand a, cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

/* The heap is a min-heap under ranks_above: h[0] is the lowest-ranked of those kept. */
static void sift_up(cand *h, int32_t i) {
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!ranks_above(h[parent], h[i]))
            break;
        cand tmp = h[parent];
        h[parent] = h[i];
        h[i] = tmp;
        i = parent;
    }
}

static void sift_down(cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_above(h[low], h[l]))
            low = l;
        if (r < n && ranks_above(h[low], h[r]))
            low = r;
        if (low == i)
            return;
        cand tmp = h[low];
        h[low] = h[i];
        h[i] = tmp;
        i = low;
    }
}

/* An unmasked logit as ranked: NaN and -INFINITY are masked (false); +INFINITY becomes FLT_MAX
 * so that differences between logits stay finite. */
static bool unmasked(float l, float *ranked) {
    *ranked = l > FLT_MAX ? FLT_MAX : l;
    return l > -INFINITY;
}

/* Step 4, top_k in [1, n). The k highest-ranked unmasked tokens into h[0..m), best first;
 * returns m. Once the heap is full a token enters only if it ranks above the weakest kept one,
 * so most of the vocabulary costs one comparison against a register. */
static int32_t select_top_k(const float *logits, int32_t n, int32_t k, cand *h) {
    int32_t m = 0;
    float weakest = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        float l;
        if (!unmasked(logits[i], &l) || l < weakest)
            continue;
        cand c = {l, i};
        if (m < k) {
            h[m] = c;
            sift_up(h, m++);
        } else if (ranks_above(c, h[0])) {
            h[0] = c;
            sift_down(h, m, 0);
        } else {
            continue;
        }
        if (m == k)
            weakest = h[0].logit;
    }
    /* Heap sort: each pass moves the weakest remaining to the end, leaving h best first. */
    for (int32_t end = m - 1; end > 0; end--) {
        cand tmp = h[0];
        h[0] = h[end];
        h[end] = tmp;
        sift_down(h, end, 0);
    }
    return m;
}

static int cmp_rank(const void *a, const void *b) {
    return ranks_above(*(const cand *)a, *(const cand *)b) ? -1 : 1; /* ids differ: never 0 */
}

/*
 * Step 4 with top-k off: every unmasked token survives, sorted best first into h[0..m), and *z
 * gets the softmax denominator sum(exp((l - max) / T)) over all of them.
 *
 * Sorting a 128k vocabulary costs milliseconds, so tokens that min-p (step 7) will drop anyway
 * are left out of the sort; their weight still counts in *z, so the probabilities, top-p's
 * cumulative sums and the final set are those of the full list. This is exact because top-p
 * and min-p each keep a prefix of the sorted list, so applying them in either order keeps the
 * shorter prefix. The bar is lowered by 0.1% so that rounding cannot drop a token that the
 * exact test in min_p_cut keeps; that test still runs after the sort.
 */
static int32_t select_all(const float *logits, int32_t n, float temperature, float min_p, cand *h,
                          double *z) {
    float max = -INFINITY, l;
    for (int32_t i = 0; i < n; i++)
        if (unmasked(logits[i], &l) && l > max)
            max = l;
    *z = 0.0;
    if (max == -INFINITY)
        return 0;
    float bar = min_p * 0.999f;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!unmasked(logits[i], &l))
            continue;
        float w = expf((l - max) / temperature); /* the same expression softmax uses */
        *z += w;
        if (w >= bar)
            h[m++] = (cand){l, i};
    }
    qsort(h, (size_t)m, sizeof *h, cmp_rank);
    return m;
}

/* Step 5 (with the temperature of step 3): probabilities of the m survivors, best first, over
 * the denominator z; z <= 0 means the survivors' own sum. */
static void softmax(const cand *h, int32_t m, float temperature, double z, int32_t *ids,
                    float *probs) {
    float max = h[0].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < m; i++) {
        ids[i] = h[i].id;
        probs[i] = expf((h[i].logit - max) / temperature);
        sum += probs[i];
    }
    if (z > 0.0)
        sum = z;
    for (int32_t i = 0; i < m; i++)
        probs[i] = (float)(probs[i] / sum);
}

/* Step 6: the shortest prefix reaching top_p. */
static int32_t top_p_cut(const float *probs, int32_t m, float top_p) {
    if (top_p >= 1.0f)
        return m;
    double cum = 0.0;
    for (int32_t i = 0; i < m; i++) {
        cum += probs[i];
        if (cum >= top_p)
            return i + 1;
    }
    return m; /* rounding left the total just below top_p: keep everything */
}

/* Step 7. probs is descending, so the survivors are a prefix; probs[0] always stays. */
static int32_t min_p_cut(const float *probs, int32_t m, float min_p) {
    float threshold = min_p * probs[0];
    int32_t n = 1;
    while (n < m && probs[n] >= threshold)
        n++;
    return n;
}

/* Step 8. Renormalises probs[0..m) in place, then walks the cumulative sum. */
static int32_t draw(float *probs, int32_t m, float u) {
    double sum = 0.0;
    for (int32_t i = 0; i < m; i++)
        sum += probs[i];
    for (int32_t i = 0; i < m; i++)
        probs[i] = (float)(probs[i] / sum);
    double target = (double)u, cum = 0.0;
    int32_t last = 0; /* the last candidate with nonzero probability: the answer if rounding
                         leaves target at or above the final cumulative sum */
    for (int32_t i = 0; i < m; i++) {
        if (probs[i] <= 0.0f)
            continue;
        cum += probs[i];
        last = i;
        if (cum > target)
            return i;
    }
    return last;
}

int32_t bn_sampler_sample(bn_sampler *s, float *logits) {
    if (s == NULL || logits == NULL) {
        BN_ERROR(BN_ERR_INVALID_ARG, "sample: NULL %s", s == NULL ? "sampler" : "logits");
        return -1;
    }
    const bn_sampler_params *p = &s->params;
    apply_penalties(s, logits);
    if (p->temperature <= 0.0f)
        return bn_argmax(logits, s->n_vocab);

    float u = bn_rng_uniform(&s->rng); /* drawn first, so every call consumes exactly one */
    int32_t m;
    double z = 0.0;
    if (p->top_k > 0 && p->top_k < s->n_vocab)
        m = select_top_k(logits, s->n_vocab, p->top_k, s->heap);
    else
        m = select_all(logits, s->n_vocab, p->temperature, p->min_p, s->heap, &z);
    s->n_cands = 0;
    if (m == 0)
        return 0; /* every logit is masked */
    softmax(s->heap, m, p->temperature, z, s->ids, s->probs);
    m = top_p_cut(s->probs, m, p->top_p);
    if (p->min_p > 0.0f)
        m = min_p_cut(s->probs, m, p->min_p);
    s->n_cands = m;
    return s->ids[draw(s->probs, m, u)];
}

int32_t bn_sampler_n_vocab(const bn_sampler *s) {
    return s->n_vocab;
}

int32_t bn_sampler_candidates(const bn_sampler *s, const int32_t **ids, const float **probs) {
    *ids = s->ids;
    *probs = s->probs;
    return s->n_cands;
}
