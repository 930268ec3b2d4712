/* test_sampler.c - the token sampler: greedy, truncation, penalties, history window, seeding. */
#include "base/alloc.h"
#include "base/status.h"
#include "sample/sampler.h"
#include "test.h"
#include "test_rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parameters that switch every truncation off; each test turns on what it exercises. */
static bn_sampler_params plain_params(float temperature) {
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static bn_sampler *make(int32_t n_vocab, const bn_sampler_params *p) {
    bn_sampler *s = NULL;
    CHECK_OK(bn_sampler_create(&s, n_vocab, p));
    return s;
}

static void test_defaults(void) {
    bn_sampler_params p = bn_sampler_default_params();
    CHECK(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f,
          "default truncation");
    CHECK(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.frequency_penalty == 0.0f &&
              p.presence_penalty == 0.0f,
          "default penalties");
    CHECK(p.seed == 0xB17E7, "default seed");
    CHECK_OK(bn_sampler_params_check(&p));
    bn_sampler *s = make(10, NULL); /* NULL params = the defaults */
    bn_sampler_free(s);
    bn_sampler_free(NULL);
}

static void test_params_check(void) {
    struct {
        const char *field; /* must appear in the message */
        bn_sampler_params p;
    } bad[20];
    int n = 0;
    bn_sampler_params d = bn_sampler_default_params();
#define BAD(field_, member, value)                                                                 \
    do {                                                                                           \
        bad[n].field = field_;                                                                     \
        bad[n].p = d;                                                                              \
        bad[n].p.member = value;                                                                   \
        n++;                                                                                       \
    } while (0)
    BAD("temperature", temperature, -0.1f);
    BAD("temperature", temperature, NAN);
    BAD("temperature", temperature, INFINITY);
    BAD("top_k", top_k, -1);
    BAD("top_p", top_p, 0.0f);
    BAD("top_p", top_p, 1.01f);
    BAD("top_p", top_p, NAN);
    BAD("min_p", min_p, -0.01f);
    BAD("min_p", min_p, 1.5f);
    BAD("min_p", min_p, NAN);
    BAD("repeat_penalty", repeat_penalty, 0.0f);
    BAD("repeat_penalty", repeat_penalty, -1.0f);
    BAD("repeat_penalty", repeat_penalty, NAN);
    BAD("repeat_last_n", repeat_last_n, -2);
    BAD("frequency_penalty", frequency_penalty, NAN);
    BAD("frequency_penalty", frequency_penalty, -INFINITY);
    BAD("presence_penalty", presence_penalty, NAN);
#undef BAD
    for (int i = 0; i < n; i++) {
        bn_clear_error();
        bn_status st = bn_sampler_params_check(&bad[i].p);
        CHECK(st == BN_ERR_INVALID_ARG, "bad %s (case %d) gives %s", bad[i].field, i,
              bn_status_str(st));
        CHECK(strstr(bn_last_error(), bad[i].field) != NULL, "message names %s: %s", bad[i].field,
              bn_last_error());
        /* create refuses the same values, and leaves *out NULL */
        bn_sampler *s = (bn_sampler *)&st; /* any non-NULL value: create must clear it */
        CHECK(bn_sampler_create(&s, 8, &bad[i].p) == BN_ERR_INVALID_ARG && s == NULL,
              "create rejects bad %s", bad[i].field);
    }
    /* the edges of every range are allowed */
    bn_sampler_params ok = d;
    ok.temperature = 0.0f;
    ok.top_k = 0;
    ok.top_p = 1.0f;
    ok.min_p = 1.0f;
    ok.repeat_last_n = -1;
    ok.frequency_penalty = -2.0f;
    ok.presence_penalty = 2.0f;
    CHECK_OK(bn_sampler_params_check(&ok));
    ok.min_p = 0.0f;
    ok.repeat_last_n = 0;
    CHECK_OK(bn_sampler_params_check(&ok));

    CHECK(bn_sampler_params_check(NULL) == BN_ERR_INVALID_ARG, "NULL params");
    bn_sampler *s = NULL;
    CHECK(bn_sampler_create(&s, 0, &d) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "n_vocab") != NULL,
          "n_vocab 0: %s", bn_last_error());
    CHECK(bn_sampler_create(NULL, 8, &d) == BN_ERR_INVALID_ARG, "NULL out");
}

/* Fail each allocation of create in turn: every path must report out of memory and leak
 * nothing (the sanitizer build checks the leaks). */
static void test_out_of_memory(void) {
    bn_sampler_params p = bn_sampler_default_params();
    int failures = 0;
    for (uint64_t n = 1; n < 20; n++) {
        bn_sampler *s = (bn_sampler *)&p; /* any non-NULL value: create must clear it */
        bn_alloc_fail_after(n);
        bn_status st = bn_sampler_create(&s, 1000, &p);
        bn_alloc_fail_after(0);
        if (st == BN_OK) {
            bn_sampler_free(s);
            break;
        }
        failures++;
        CHECK(st == BN_ERR_OUT_OF_MEMORY && s == NULL, "allocation %d: %s", (int)n,
              bn_status_str(st));
    }
    CHECK(failures == 8, "create makes 8 allocations, saw %d fail", failures);
}

static void test_argmax(void) {
    CHECK(bn_argmax((const float[]){1, 3, 3, 2}, 4) == 1, "ties go to the lowest index");
    CHECK(bn_argmax((const float[]){NAN, 1, 2, NAN}, 4) == 2, "NaN never wins");
    CHECK(bn_argmax((const float[]){-INFINITY, -INFINITY, -5}, 3) == 2, "finite above -inf");
    CHECK(bn_argmax((const float[]){-INFINITY, -INFINITY}, 2) == 0, "all masked: 0");
    CHECK(bn_argmax((const float[]){7, INFINITY, INFINITY}, 3) == 1, "+inf wins");
    CHECK(bn_argmax((const float[]){5}, 0) == -1, "empty");
}

static void test_greedy(void) {
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 0.0f;
    bn_sampler *s = make(6, &p);
    float a[6] = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f, 1.0f};
    CHECK(bn_sampler_sample(s, a) == 1, "greedy: lowest id among the maxima");
    float b[6] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -30.0f, -INFINITY};
    CHECK(bn_sampler_sample(s, b) == 4, "greedy: the only unmasked token");
    bn_sampler_free(s);
}

/* With top_k = 1 only the argmax survives, whatever the temperature and the other filters. */
static void test_top_k_1_is_greedy(void) {
    enum { V = 97 };
    const float temps[] = {0.05f, 0.8f, 1.0f, 7.0f, 1000.0f};
    bn_test_rng_state = 0x5A3;
    for (int ti = 0; ti < 5; ti++) {
        bn_sampler_params p = bn_sampler_default_params();
        p.temperature = temps[ti];
        p.top_k = 1;
        bn_sampler *s = make(V, &p);
        for (int round = 0; round < 50; round++) {
            float x[V];
            for (int i = 0; i < V; i++) /* few distinct values, so ties are common */
                x[i] = (float)rng_int(-4, 4) * 0.5f;
            int32_t want = bn_argmax(x, V);
            int32_t got = bn_sampler_sample(s, x);
            CHECK(got == want, "T=%g round %d: top_k=1 gave %d, argmax %d", (double)temps[ti],
                  round, got, want);
        }
        bn_sampler_free(s);
    }
}

/* Runs n_steps samples of the same pseudo-random logits, accepting each token drawn. */
static void run_sequence(bn_sampler *s, int n_steps, int32_t *tokens) {
    enum { V = 50 };
    bn_test_rng_state = 0xD1CE; /* the same logits for every run */
    for (int step = 0; step < n_steps; step++) {
        float x[V];
        for (int i = 0; i < V; i++)
            x[i] = (float)rng_int(-300, 300) / 100.0f;
        tokens[step] = bn_sampler_sample(s, x);
        bn_sampler_accept(s, tokens[step]);
    }
}

static void test_reproducible(void) {
    enum { V = 50, STEPS = 300 };
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 1.5f;
    p.repeat_penalty = 1.1f; /* the history feeds back into the logits */
    p.seed = 42;
    bn_sampler *a = make(V, &p);
    bn_sampler *b = make(V, &p);
    p.seed = 43;
    bn_sampler *c = make(V, &p);
    int32_t ta[STEPS], tb[STEPS], tc[STEPS], tr[STEPS];
    run_sequence(a, STEPS, ta);
    run_sequence(b, STEPS, tb);
    run_sequence(c, STEPS, tc);
    bn_sampler_reset(a); /* a reset sampler replays its fresh self */
    run_sequence(a, STEPS, tr);
    int same_ab = 1, same_ar = 1, diff_ac = 0;
    for (int i = 0; i < STEPS; i++) {
        same_ab &= ta[i] == tb[i];
        same_ar &= ta[i] == tr[i];
        diff_ac += ta[i] != tc[i];
    }
    CHECK(same_ab, "same seed, same logits: same tokens");
    CHECK(same_ar, "reset replays the sequence");
    CHECK(diff_ac > STEPS / 10, "another seed differs: only %d of %d tokens differ", diff_ac,
          STEPS);
    bn_sampler_free(a);
    bn_sampler_free(b);
    bn_sampler_free(c);
}

/* Normalise w[0..n) into p. */
static void normalise(const double *w, double *p, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += w[i];
    for (int i = 0; i < n; i++)
        p[i] = w[i] / sum;
}

/*
 * Draws N tokens from logits and compares their frequencies with want[] (the distribution left
 * after truncation, worked out in the caller). N = 20000: the standard error of a frequency is
 * at most sqrt(0.25 / N) = 0.0035, so a tolerance of 0.015 is over 4 sigma (and the seed is
 * fixed, so the run is deterministic anyway). Tokens with want 0 must never be drawn.
 */
static void check_distribution(const char *name, const float logits[5], bn_sampler_params p,
                               const double want[5]) {
    enum { N = 20000 };
    bn_sampler *s = make(5, &p);
    int counts[5] = {0};
    for (int i = 0; i < N; i++) {
        float x[5];
        memcpy(x, logits, sizeof x);
        int32_t t = bn_sampler_sample(s, x);
        CHECK(t >= 0 && t < 5, "%s: token %d in range", name, t);
        if (t >= 0 && t < 5)
            counts[t]++;
    }
    for (int t = 0; t < 5; t++) {
        if (want[t] == 0.0)
            CHECK(counts[t] == 0, "%s: removed token %d drawn %d times", name, t, counts[t]);
        else
            CHECK_NEAR((double)counts[t] / N, want[t], 0.015, name);
    }
    /* The candidate list holds the exact truncated distribution. */
    const int32_t *ids;
    const float *probs;
    int32_t m = bn_sampler_candidates(s, &ids, &probs);
    int n_want = 0;
    for (int t = 0; t < 5; t++)
        n_want += want[t] > 0.0;
    CHECK(m == n_want, "%s: %d candidates, want %d", name, m, n_want);
    for (int32_t i = 0; i < m; i++) {
        CHECK(i == 0 || probs[i] <= probs[i - 1], "%s: candidates descend", name);
        CHECK_NEAR(probs[i], want[ids[i]], 1e-6, name);
    }
    bn_sampler_free(s);
}

static void test_distributions(void) {
    /* Token ids are shuffled against their rank so the id bookkeeping is exercised:
     * rank by logit is token 1 (2), 4 (1), 3 (0), 0 (-1); token 2 is masked. */
    const float x[5] = {-1.0f, 2.0f, -INFINITY, 0.0f, 1.0f};
    double w[5], want[5];

    /* Temperature 1, no truncation: softmax of {2, 1, 0, -1} = {.6439, .2369, .0871, .0321}. */
    bn_sampler_params p = plain_params(1.0f);
    w[0] = exp(-1), w[1] = exp(2), w[2] = 0, w[3] = exp(0), w[4] = exp(1);
    normalise(w, want, 5);
    check_distribution("plain T=1", x, p, want);

    /* T = 0.5 doubles the logits: weights e^4, e^2, e^0, e^-2 = {.8650, .1171, .0158, .0021}.
     * top_p 0.9: .8650 < .9 and .8650 + .1171 >= .9, so tokens 1 and 4 remain, renormalised
     * e^4 / (e^4 + e^2) = .8808 and .1192. */
    p = plain_params(0.5f);
    p.top_p = 0.9f;
    w[0] = 0, w[1] = exp(4), w[2] = 0, w[3] = 0, w[4] = exp(2);
    normalise(w, want, 5);
    check_distribution("T=0.5 top_p=0.9", x, p, want);

    /* min_p 0.1 at T = 1: the bar is 0.1 * .6439 = .0644; .0871 (token 3) passes, .0321
     * (token 0) does not. Remaining e^2, e, 1 -> {.6652, .2447, .0900}. */
    p = plain_params(1.0f);
    p.min_p = 0.1f;
    w[0] = 0, w[1] = exp(2), w[2] = 0, w[3] = exp(0), w[4] = exp(1);
    normalise(w, want, 5);
    check_distribution("T=1 min_p=0.1", x, p, want);

    /* top_k 2 at T = 2: logits halved to {1, 0.5}: e / (e + e^.5) = .6225 and .3775. */
    p = plain_params(2.0f);
    p.top_k = 2;
    w[0] = 0, w[1] = exp(1), w[2] = 0, w[3] = 0, w[4] = exp(0.5);
    normalise(w, want, 5);
    check_distribution("T=2 top_k=2", x, p, want);

    /* All three: top_k 3 keeps {e^2, e, 1} = {.6652, .2447, .0900}; top_p 0.8 then stops at
     * .6652 + .2447 = .9099, keeping tokens 1 and 4: e^2 / (e^2 + e) = .7311 and .2689; min_p
     * 0.3 (bar .3 * .7311 = .2193) keeps both. */
    p = plain_params(1.0f);
    p.top_k = 3;
    p.top_p = 0.8f;
    p.min_p = 0.3f;
    w[0] = 0, w[1] = exp(2), w[2] = 0, w[3] = 0, w[4] = exp(1);
    normalise(w, want, 5);
    check_distribution("T=1 top_k=3 top_p=0.8 min_p=0.3", x, p, want);

    /* All-equal logits with top_k 3: the tie at the 3rd value keeps the lowest ids, 1/3 each. */
    const float flat[5] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    p = plain_params(1.0f);
    p.top_k = 3;
    double third[5] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0};
    check_distribution("flat top_k=3", flat, p, third);
}

static void test_masked(void) {
    bn_sampler_params p = plain_params(1.0f);
    bn_sampler *s = make(4, &p);
    for (int i = 0; i < 200; i++) {
        float one[4] = {-INFINITY, -INFINITY, 3.0f, -INFINITY};
        CHECK(bn_sampler_sample(s, one) == 2, "the only unmasked token");
        float nan[4] = {NAN, -INFINITY, NAN, 0.0f};
        CHECK(bn_sampler_sample(s, nan) == 3, "NaN counts as masked");
        float inf[4] = {100.0f, INFINITY, 50.0f, INFINITY};
        int32_t t = bn_sampler_sample(s, inf);
        CHECK(t == 1 || t == 3, "+inf outranks every finite logit, got %d", t);
        float none[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        CHECK(bn_sampler_sample(s, none) == 0, "all masked: 0");
    }
    /* two +inf tie: they share the mass and the finite ones get none */
    int hits[4] = {0};
    for (int i = 0; i < 2000; i++) {
        float inf[4] = {100.0f, INFINITY, 50.0f, INFINITY};
        hits[bn_sampler_sample(s, inf)]++;
    }
    CHECK(hits[0] == 0 && hits[2] == 0 && hits[1] > 800 && hits[3] > 800, "+inf pair: %d %d %d %d",
          hits[0], hits[1], hits[2], hits[3]);
    bn_sampler_free(s);
}

static void test_repeat_penalty(void) {
    bn_sampler_params p = plain_params(0.0f); /* greedy shows the effect on the argmax */
    p.repeat_penalty = 2.0f;
    bn_sampler *s = make(4, &p);
    float x[4] = {2.0f, 1.5f, -1.0f, -1.5f};
    CHECK(bn_sampler_sample(s, x) == 0, "no history: no penalty");
    CHECK(x[0] == 2.0f, "untouched");

    bn_sampler_accept(s, 0);
    float y[4] = {2.0f, 1.5f, -1.0f, -1.5f};
    CHECK(bn_sampler_sample(s, y) == 1, "2.0 / 2 = 1.0 falls below 1.5");
    CHECK_NEAR(y[0], 1.0, 0.0, "positive logit divided");
    CHECK(y[1] == 1.5f && y[2] == -1.0f, "other tokens untouched");

    bn_sampler_accept(s, 0);
    bn_sampler_accept(s, 0);
    float z[4] = {2.0f, 1.5f, -1.0f, -1.5f};
    bn_sampler_sample(s, z);
    CHECK_NEAR(z[0], 1.0, 0.0, "a token seen three times is penalised once");
    bn_sampler_free(s);

    /* Negative logits are multiplied: -1 * 2 = -2 drops below -1.5. */
    s = make(4, &p);
    bn_sampler_accept(s, 0);
    float n[4] = {-1.0f, -1.5f, -3.0f, -INFINITY};
    CHECK(bn_sampler_sample(s, n) == 1, "-1 * 2 = -2 falls below -1.5");
    CHECK_NEAR(n[0], -2.0, 0.0, "negative logit multiplied");
    bn_sampler_accept(s, 3);
    float m[4] = {-1.0f, -1.5f, -3.0f, -INFINITY};
    bn_sampler_sample(s, m);
    CHECK(m[3] == -INFINITY, "a masked token stays masked");
    bn_sampler_free(s);
}

static void test_frequency_presence(void) {
    bn_sampler_params p = plain_params(0.0f);
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    bn_sampler *s = make(3, &p);
    bn_sampler_accept(s, 0);
    bn_sampler_accept(s, 0);
    bn_sampler_accept(s, 1);
    float x[3] = {3.0f, 2.0f, 1.0f};
    /* token 0: 3 - 2 * 0.5 - 0.25 = 1.75; token 1: 2 - 0.5 - 0.25 = 1.25; token 2 unseen */
    CHECK(bn_sampler_sample(s, x) == 0, "1.75 still leads");
    CHECK_NEAR(x[0], 1.75, 1e-6, "frequency x2 + presence");
    CHECK_NEAR(x[1], 1.25, 1e-6, "frequency x1 + presence");
    CHECK_NEAR(x[2], 1.0, 0.0, "unseen");
    bn_sampler_free(s);

    /* Repetition first, then frequency/presence: 3 / 2 = 1.5, then - 0.5 - 0.25 = 0.75. */
    p.repeat_penalty = 2.0f;
    s = make(3, &p);
    bn_sampler_accept(s, 0);
    float y[3] = {3.0f, 1.0f, 0.9f};
    CHECK(bn_sampler_sample(s, y) == 1, "0.75 falls below 1.0");
    CHECK_NEAR(y[0], 0.75, 1e-6, "repeat then frequency/presence");
    bn_sampler_free(s);
}

static void test_window(void) {
    /* Window 2, a strong repetition penalty: token 0 is penalised until two newer tokens push it
     * out of the window. */
    bn_sampler_params p = plain_params(0.0f);
    p.repeat_penalty = 10.0f;
    p.repeat_last_n = 2;
    bn_sampler *s = make(8, &p);
    const float base[8] = {2.0f, 1.9f, 0, 0, 0, 0, 0, 0};
    float x[8];
    bn_sampler_accept(s, 0);
    memcpy(x, base, sizeof x);
    CHECK(bn_sampler_sample(s, x) == 1, "token 0 in the window");
    bn_sampler_accept(s, 5);
    memcpy(x, base, sizeof x);
    CHECK(bn_sampler_sample(s, x) == 1, "window {0, 5}");
    bn_sampler_accept(s, 6);
    memcpy(x, base, sizeof x);
    CHECK(bn_sampler_sample(s, x) == 0, "window {5, 6} forgot token 0");
    bn_sampler_accept(s, 0);
    bn_sampler_reset(s);
    memcpy(x, base, sizeof x);
    CHECK(bn_sampler_sample(s, x) == 0, "reset clears the history");
    bn_sampler_accept(s, -1); /* out of range: ignored */
    bn_sampler_accept(s, 8);
    bn_sampler_free(s);

    /* The incremental counts equal a recount of the window. With logits 0 and a frequency
     * penalty of 1, the penalised logits are exactly -count. Windows: 7, whole history, none. */
    const int windows[3] = {7, -1, 0};
    for (int wi = 0; wi < 3; wi++) {
        enum { V = 20, STEPS = 400 };
        bn_sampler_params q = plain_params(0.0f);
        q.frequency_penalty = 1.0f;
        q.repeat_last_n = windows[wi];
        s = make(V, &q);
        int32_t hist[STEPS];
        bn_test_rng_state = 0xC0DE + (uint64_t)wi;
        int mismatches = 0;
        for (int step = 0; step < STEPS; step++) {
            hist[step] = rng_int(0, 5) == 0 ? rng_int(0, V - 1) : rng_int(0, 3); /* repeats */
            bn_sampler_accept(s, hist[step]);
            int from = windows[wi] < 0 ? 0 : step + 1 - windows[wi];
            int want[V] = {0};
            for (int i = from < 0 ? 0 : from; i <= step && windows[wi] != 0; i++)
                want[hist[i]]++;
            float z[V] = {0};
            bn_sampler_sample(s, z);
            for (int t = 0; t < V; t++)
                mismatches += z[t] != (float)-want[t];
        }
        CHECK(mismatches == 0, "window %d: %d counts differ from a recount", windows[wi],
              mismatches);
        bn_sampler_free(s);
    }
}

/* Ranking used by the sampler: logit descending, then id ascending. */
static const float *rank_logits;

static int rank_cmp(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = rank_logits[i], y = rank_logits[j];
    if (x != y)
        return x > y ? -1 : 1;
    return i < j ? -1 : 1;
}

static void test_big_vocab(void) {
    enum { V = 128256, K = 40 };
    float *logits = malloc(V * sizeof *logits);
    float *work = malloc(V * sizeof *work);
    int32_t *order = malloc(V * sizeof *order);
    CHECK(logits && work && order, "test buffers");
    if (!logits || !work || !order)
        goto done;
    bn_test_rng_state = 0xB16;
    for (int i = 0; i < V; i++) /* 1/1000 steps: plenty of ties; some tokens masked */
        logits[i] = rng_int(0, 9) == 0 ? -INFINITY : (float)rng_int(-8000, 8000) / 1000.0f;
    for (int i = 0; i < V; i++)
        order[i] = i;
    rank_logits = logits;
    qsort(order, V, sizeof *order, rank_cmp);

    bn_sampler_params p = plain_params(1.0f);
    p.top_k = K;
    bn_sampler *s = make(V, &p);
    int outside = 0;
    for (int round = 0; round < 200; round++) {
        memcpy(work, logits, V * sizeof *work);
        int32_t t = bn_sampler_sample(s, work);
        outside += !(t >= 0 && t < V && logits[t] >= logits[order[K - 1]]);
    }
    CHECK(outside == 0, "%d draws outside the top %d", outside, K);
    const int32_t *ids;
    const float *probs;
    int32_t m = bn_sampler_candidates(s, &ids, &probs);
    int same = m == K;
    for (int i = 0; i < m && i < K; i++)
        same &= ids[i] == order[i];
    CHECK(same, "the candidates are the top %d in rank order (m = %d)", K, m);
    bn_sampler_free(s);

    /* top_k 0 sorts the whole vocabulary; masked tokens never come back. */
    p = plain_params(1.0f);
    s = make(V, &p);
    int masked = 0;
    for (int round = 0; round < 20; round++) {
        memcpy(work, logits, V * sizeof *work);
        masked += logits[bn_sampler_sample(s, work)] == -INFINITY;
    }
    CHECK(masked == 0, "masked token drawn %d times", masked);
    m = bn_sampler_candidates(s, &ids, &probs);
    same = 1;
    for (int i = 0; i < m; i++)
        same &= ids[i] == order[i];
    CHECK(same && logits[order[m - 1]] > -INFINITY && (m == V || logits[order[m]] == -INFINITY),
          "top_k 0: every unmasked token, in rank order (m = %d)", m);
    bn_sampler_free(s);

    /* top_k 0 with top_p and min_p (min-p trims the list before the sort): the survivors are
     * the prefix of the ranking that a double-precision recount gives. */
    p = plain_params(0.7f);
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    s = make(V, &p);
    memcpy(work, logits, V * sizeof *work);
    int32_t t = bn_sampler_sample(s, work);
    m = bn_sampler_candidates(s, &ids, &probs);
    double max = logits[order[0]], z = 0, cum = 0;
    for (int i = 0; i < V && logits[order[i]] > -INFINITY; i++)
        z += exp((logits[order[i]] - max) / 0.7);
    int want = 0;
    while (cum < 0.95 && exp((logits[order[want]] - max) / 0.7) >= 0.05) /* p_max = 1 / z */
        cum += exp((logits[order[want++]] - max) / 0.7) / z;
    same = 1;
    for (int i = 0; i < m && i < want; i++)
        same &= ids[i] == order[i];
    /* float against double may move a token sitting exactly on a bar: allow one either way */
    CHECK(same && abs(m - want) <= 1, "top_p + min_p over the vocab: %d candidates, recount %d", m,
          want);
    int drawn = 0;
    for (int i = 0; i < m; i++)
        drawn |= ids[i] == t;
    CHECK(drawn, "token %d is a candidate", t);
    bn_sampler_free(s);

    /* All equal: exactly the 40 lowest ids survive. */
    for (int i = 0; i < V; i++)
        work[i] = 1.0f;
    p = plain_params(1.0f);
    p.top_k = K;
    s = make(V, &p);
    t = bn_sampler_sample(s, work);
    m = bn_sampler_candidates(s, &ids, &probs);
    same = m == K && t < K;
    for (int i = 0; i < m; i++)
        same &= ids[i] == i && fabsf(probs[i] - 1.0f / K) < 1e-6f;
    CHECK(same, "flat vocab: ids 0..%d with 1/%d each (m = %d, t = %d)", K - 1, K, m, t);
    bn_sampler_free(s);
done:
    free(logits);
    free(work);
    free(order);
}

int main(void) {
    test_defaults();
    test_params_check();
    test_out_of_memory();
    test_argmax();
    test_greedy();
    test_top_k_1_is_greedy();
    test_reproducible();
    test_distributions();
    test_masked();
    test_repeat_penalty();
    test_frequency_presence();
    test_window();
    test_big_vocab();
    return bn_test_finish("test_sampler");
}
