/*
 * test_api.c - the public API (include/bitnet.h) as a program linked against libbitnet.so sees
 * it: nothing but the installed header. On the shipped model (models/default.gguf):
 *   - a batch of several sequences, interleaved, gives each sequence bit for bit the logits it
 *     gets evaluated alone (prefill across 64-row chunks, then batched decode steps);
 *   - truncating a sequence and evaluating again reproduces the logits;
 *   - misuse (NULL handles, ids and sequences out of range, positions that do not continue a
 *     sequence, a batch larger than the context) is refused with a message and leaves the cache
 *     as it was;
 *   - tokenize/detokenize size protocol, the generator and bn_generate (stop strings, limits),
 *     chat tokenization keeping typed markers as text, perplexity's window arithmetic.
 */
#include "test.h"

#include "bitnet.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#define MODEL BN_SOURCE_DIR "/models/default.gguf"

static bn_model *g_model;
static int32_t g_vocab;

static int32_t *tokenize(const char *text, int32_t *n) {
    int32_t need = 0;
    bn_status st =
        bn_tokenize(g_model, text, strlen(text), BN_TOKENIZE_ADD_SPECIAL, NULL, 0, &need);
    CHECK(st == BN_ERR_RANGE && need > 0, "measuring call: %s, %d", bn_status_str(st), need);
    int32_t *ids = malloc((size_t)need * sizeof *ids);
    CHECK_OK(bn_tokenize(g_model, text, strlen(text), BN_TOKENIZE_ADD_SPECIAL, ids, need, n));
    CHECK(*n == need, "count %d, measured %d", *n, need);
    return ids;
}

static bn_context *new_context(int n_seq) {
    bn_context_params cp = bn_context_default_params();
    cp.n_seq_max = n_seq;
    cp.n_threads = 2;
    bn_context *ctx = NULL;
    CHECK_OK(bn_context_create(&ctx, g_model, &cp));
    return ctx;
}

/* Every row's logits of a prompt evaluated alone in a fresh context, then `steps` more tokens
 * (the given ones) one at a time: out[(n + steps) * vocab]. */
static float *alone(const int32_t *ids, int n, const int32_t *more, int steps) {
    bn_context *ctx = new_context(1);
    float *out = malloc((size_t)(n + steps) * (size_t)g_vocab * sizeof *out);
    CHECK_OK(bn_context_eval(ctx, ids, n, out, true));
    for (int s = 0; s < steps; s++)
        CHECK_OK(bn_context_eval(ctx, &more[s], 1, out + (size_t)(n + s) * (size_t)g_vocab, false));
    bn_context_free(ctx);
    return out;
}

enum { N_SEQ = 3, STEPS = 3 };

static void test_multi_sequence_batch(void) {
    const char *texts[N_SEQ] = {
        "It was a fine morning, and the people of the town went down to the river to see the "
        "boats that had come in the night before, carrying wool and grain from the hills.",
        "The history of the city",
        "In the year that followed, the council met again and again, and every time the same "
        "question came back to the table: who would pay for the new bridge, and who would "
        "cross it first? Nobody could say, and so the old ferry kept running as it always had, "
        "slow and crowded, until the river froze and the question answered itself."};
    int32_t *ids[N_SEQ], n[N_SEQ], total = 0;
    int32_t more[N_SEQ][STEPS];
    float *want[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        ids[s] = tokenize(texts[s], &n[s]);
        total += n[s];
        for (int k = 0; k < STEPS; k++)
            more[s][k] = (int32_t)(100 + 37 * s + 11 * k);
        want[s] = alone(ids[s], n[s], more[s], STEPS);
    }
    CHECK(total > 64 && n[2] > 64, "the batch spans several chunks (%d rows)", total);

    /* The prompts interleaved round-robin in one batch, every row's logits asked for. */
    int32_t *tok = malloc((size_t)total * sizeof *tok), *pos = malloc((size_t)total * sizeof *pos);
    int32_t *seq = malloc((size_t)total * sizeof *seq);
    int8_t *flag = malloc((size_t)total);
    int32_t at[N_SEQ] = {0}, rows = 0;
    while (rows < total)
        for (int s = 0; s < N_SEQ; s++)
            if (at[s] < n[s]) {
                tok[rows] = ids[s][at[s]], pos[rows] = at[s], seq[rows] = s, flag[rows] = 1;
                at[s]++, rows++;
            }
    bn_context *ctx = new_context(N_SEQ);
    float *got = malloc((size_t)total * (size_t)g_vocab * sizeof *got);
    bn_batch b = {.n = total, .tokens = tok, .pos = pos, .seq = seq, .logits = flag};
    CHECK_OK(bn_context_decode(ctx, &b, got));
    int32_t seen[N_SEQ] = {0};
    for (int r = 0; r < total; r++) {
        int s = seq[r];
        const float *w = want[s] + (size_t)seen[s]++ * (size_t)g_vocab;
        CHECK(memcmp(got + (size_t)r * (size_t)g_vocab, w, (size_t)g_vocab * sizeof *w) == 0,
              "row %d (sequence %d, position %d) differs from the sequence alone", r, s, pos[r]);
    }
    for (int s = 0; s < N_SEQ; s++)
        CHECK(bn_context_seq_len(ctx, s) == n[s], "sequence %d holds %d", s,
              bn_context_seq_len(ctx, s));

    /* Decode steps: one token of each sequence per batch, in reverse order, logits for all. */
    for (int k = 0; k < STEPS; k++) {
        int32_t t3[N_SEQ], p3[N_SEQ], s3[N_SEQ];
        for (int i = 0; i < N_SEQ; i++) {
            int s = N_SEQ - 1 - i;
            t3[i] = more[s][k], p3[i] = n[s] + k, s3[i] = s;
        }
        int8_t all[N_SEQ] = {1, 1, 1};
        bn_batch step = {.n = N_SEQ, .tokens = t3, .pos = p3, .seq = s3, .logits = all};
        CHECK_OK(bn_context_decode(ctx, &step, got));
        for (int i = 0; i < N_SEQ; i++) {
            int s = s3[i];
            const float *w = want[s] + (size_t)(n[s] + k) * (size_t)g_vocab;
            CHECK(memcmp(got + (size_t)i * (size_t)g_vocab, w, (size_t)g_vocab * sizeof *w) == 0,
                  "decode step %d, sequence %d differs from the sequence alone", k, s);
        }
    }

    /* Truncate sequence 2 to 10 positions and evaluate its prompt's rest again: same rows. */
    CHECK_OK(bn_context_seq_truncate(ctx, 2, 10));
    CHECK(bn_context_seq_len(ctx, 2) == 10 && bn_context_seq_len(ctx, 0) == n[0] + STEPS,
          "truncation touches only its sequence");
    int32_t pos2[256], seq2[256];
    for (int i = 0; i < n[2] - 10; i++)
        pos2[i] = 10 + i, seq2[i] = 2;
    bn_batch again = {.n = n[2] - 10, .tokens = ids[2] + 10, .pos = pos2, .seq = seq2};
    CHECK_OK(bn_context_decode(ctx, &again, got)); /* the last row's logits only */
    CHECK(memcmp(got, want[2] + (size_t)(n[2] - 1) * (size_t)g_vocab,
                 (size_t)g_vocab * sizeof *got) == 0,
          "after truncation, the re-evaluated last row matches");

    bn_context_free(ctx);
    free(got), free(tok), free(pos), free(seq), free(flag);
    for (int s = 0; s < N_SEQ; s++)
        free(ids[s]), free(want[s]);
}

/* A refused call returns `want` with a message containing `needle`. */
static void check_refused(bn_status got, bn_status want, const char *needle, const char *what) {
    CHECK(got == want, "%s: %s, want %s (%s)", what, bn_status_str(got), bn_status_str(want),
          bn_last_error());
    CHECK(strstr(bn_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
          bn_last_error(), needle);
}

static void test_misuse(void) {
    float *logits = malloc((size_t)g_vocab * sizeof *logits);
    int32_t tok[2] = {5, 6};
    bn_batch ok = {.n = 2, .tokens = tok};
    check_refused(bn_context_decode(NULL, &ok, logits), BN_ERR_INVALID_ARG, "NULL", "NULL ctx");
    check_refused(bn_context_create(NULL, g_model, NULL), BN_ERR_INVALID_ARG, "NULL", "NULL out");
    bn_context *nc = (bn_context *)1;
    check_refused(bn_context_create(&nc, NULL, NULL), BN_ERR_INVALID_ARG, "NULL", "NULL model");
    CHECK(nc == NULL, "*out is NULL on failure");
    bn_context_free(NULL);
    bn_model_free(NULL);
    bn_sampler_free(NULL);
    bn_generator_free(NULL);
    bn_free(NULL);
    CHECK(bn_context_seq_len(NULL, 0) == -1, "seq_len of NULL");
    CHECK(bn_sampler_sample(NULL, logits) == -1, "sample with NULL sampler");
    bn_model_info info;
    check_refused(bn_model_get_info(NULL, &info), BN_ERR_INVALID_ARG, "NULL", "info of NULL");

    bn_context_params cp = bn_context_default_params();
    cp.n_seq_max = -1;
    check_refused(bn_context_create(&nc, g_model, &cp), BN_ERR_INVALID_ARG, "n_seq_max",
                  "negative n_seq_max");
    cp = bn_context_default_params();
    cp.kv_type = (bn_kv_type)7;
    check_refused(bn_context_create(&nc, g_model, &cp), BN_ERR_INVALID_ARG, "KV", "bad kv_type");

    bn_context *ctx = new_context(2);
    int n_ctx = bn_context_n_ctx(ctx);
    CHECK(n_ctx == 256 && bn_context_n_seq_max(ctx) == 2, "n_ctx %d", n_ctx);
    CHECK_OK(bn_context_decode(ctx, &ok, logits));
    float first[8];
    memcpy(first, logits, sizeof first);

    int32_t bad_id[1] = {g_vocab};
    bn_batch b = {.n = 1, .tokens = bad_id};
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "4096", "id = n_vocab");
    bad_id[0] = -3;
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "-3", "negative id");
    int32_t one[1] = {7}, p_gap[1] = {5}, s_bad[1] = {2}, s_neg[1] = {-1}, p0[1] = {0};
    b = (bn_batch){.n = 1, .tokens = one, .pos = p_gap};
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "position 5",
                  "a gap in positions");
    b = (bn_batch){.n = 1, .tokens = one, .pos = p0, .seq = s_bad};
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "sequence 2",
                  "sequence = n_seq_max");
    b.seq = s_neg;
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "sequence -1",
                  "negative sequence");
    b = (bn_batch){.n = -1, .tokens = one};
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_INVALID_ARG, "-1", "n < 0");
    b = (bn_batch){.n = 1, .tokens = NULL};
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_INVALID_ARG, "NULL", "NULL tokens");
    check_refused(bn_context_decode(ctx, NULL, logits), BN_ERR_INVALID_ARG, "NULL", "NULL batch");
    check_refused(bn_context_seq_truncate(ctx, 0, 3), BN_ERR_RANGE, "3", "truncate beyond");
    check_refused(bn_context_seq_truncate(ctx, 9, 0), BN_ERR_RANGE, "9", "truncate bad seq");

    /* More tokens than the context holds: refused whole, nothing evaluated. */
    int32_t *big = calloc((size_t)n_ctx, sizeof *big);
    b = (bn_batch){.n = n_ctx - 1, .tokens = big};
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "do not fit",
                  "batch beyond the context");
    CHECK(bn_context_seq_len(ctx, 0) == 2, "failed calls left the cache: %d",
          bn_context_seq_len(ctx, 0));
    /* ... and the sequence goes on as if they had not happened. */
    CHECK_OK(bn_context_seq_truncate(ctx, 0, 0));
    CHECK_OK(bn_context_decode(ctx, &ok, logits));
    CHECK(memcmp(first, logits, sizeof first) == 0, "same logits after the refused calls");
    /* The other sequence fills to the brim: n_ctx positions are allowed, n_ctx + 1 are not. */
    int32_t *pos = malloc((size_t)n_ctx * sizeof *pos), *seq = malloc((size_t)n_ctx * sizeof *seq);
    for (int i = 0; i < n_ctx; i++)
        pos[i] = i, seq[i] = 1;
    b = (bn_batch){.n = n_ctx, .tokens = big, .pos = pos, .seq = seq};
    CHECK_OK(bn_context_decode(ctx, &b, NULL));
    CHECK(bn_context_seq_len(ctx, 1) == n_ctx, "sequence 1 full");
    pos[0] = n_ctx;
    b.n = 1;
    check_refused(bn_context_decode(ctx, &b, logits), BN_ERR_RANGE, "fit", "one past full");
    bn_context_reset(ctx);
    CHECK(bn_context_seq_len(ctx, 0) == 0 && bn_context_seq_len(ctx, 1) == 0, "reset empties");
    free(big), free(pos), free(seq);
    bn_context_free(ctx);
    free(logits);
}

static void test_vocabulary(void) {
    const char *text = "Hello, world. Ünïcödé too.";
    int32_t n = 0;
    int32_t *ids = tokenize(text, &n);
    bn_model_info info;
    CHECK_OK(bn_model_get_info(g_model, &info));
    CHECK(n > 2 && ids[0] == info.bos, "BOS first (%d)", ids[0]);
    int32_t few[2];
    int32_t need = 0;
    CHECK(bn_tokenize(g_model, text, strlen(text), 0, few, 2, &need) == BN_ERR_RANGE &&
              need == n - 1,
          "a small buffer gives BN_ERR_RANGE and the count (%d)", need);
    size_t len = 0;
    char buf[128];
    CHECK_OK(bn_detokenize(g_model, ids, n, BN_DETOKENIZE_SKIP_SPECIAL, buf, sizeof buf, &len));
    CHECK(len == strlen(text) && strcmp(buf, text) == 0, "round trip: '%s'", buf);
    CHECK(bn_detokenize(g_model, ids, n, BN_DETOKENIZE_SKIP_SPECIAL, buf, 4, &len) ==
                  BN_ERR_RANGE &&
              len == strlen(text),
          "a small text buffer gives the length");
    int32_t bad[1] = {g_vocab + 5};
    check_refused(bn_detokenize(g_model, bad, 1, 0, buf, sizeof buf, &len), BN_ERR_RANGE, "4101",
                  "detokenize an id out of range");
    size_t plen = 0;
    CHECK(bn_token_piece(g_model, -1, &plen) == NULL &&
              bn_token_piece(g_model, g_vocab, &plen) == NULL,
          "pieces out of range are NULL");
    CHECK(bn_token_is_eog(g_model, info.eos) && !bn_token_is_eog(g_model, ids[1]), "eog");
    CHECK(bn_token_is_special(g_model, info.bos) && !bn_token_is_special(g_model, ids[1]),
          "special");
    free(ids);

    /* A marker typed into a message stays text unless asked otherwise. */
    bn_chat_message msg[1] = {{"user", "say <|eot_id|> please"}};
    int32_t plain[64], parsed[64], np = 0, nq = 0;
    CHECK_OK(bn_chat_tokenize(g_model, "llama3", msg, 1, true, 0, plain, 64, &np));
    CHECK_OK(bn_chat_tokenize(g_model, "llama3", msg, 1, true, BN_TOKENIZE_PARSE_SPECIAL, parsed,
                              64, &nq));
    int eot_plain = 0, eot_parsed = 0;
    for (int i = 0; i < np; i++)
        eot_plain += plain[i] == info.eot;
    for (int i = 0; i < nq; i++)
        eot_parsed += parsed[i] == info.eot;
    CHECK(eot_parsed == eot_plain + 1, "typed marker: %d plain, %d parsed", eot_plain, eot_parsed);
    /* Invalid UTF-8 in a message is replaced, as bn_tokenize does. */
    bn_chat_message latin1[1] = {{"user", "caf\xe9"}};
    int32_t nl = 0;
    CHECK_OK(bn_chat_tokenize(g_model, "llama3", latin1, 1, true, 0, plain, 64, &nl));
    CHECK(nl > 5, "a message with invalid UTF-8 tokenizes (%d)", nl);
    char *rendered = NULL;
    size_t rlen = 0;
    CHECK_OK(bn_chat_apply(g_model, "llama3", msg, 1, true, &rendered, &rlen));
    CHECK(rendered != NULL && strlen(rendered) == rlen &&
              strstr(rendered, "<|start_header_id|>assistant<|end_header_id|>") != NULL,
          "rendered: %s", rendered ? rendered : "(null)");
    bn_free(rendered);
    check_refused(bn_chat_apply(g_model, "nope", msg, 1, true, &rendered, &rlen),
                  BN_ERR_INVALID_ARG, "nope", "unknown chat format");
}

typedef struct collected {
    char text[4096];
    size_t len;
    int calls, stop_after;
} collected;

static bool collect(void *user, const char *text, size_t len, int32_t token) {
    collected *c = user;
    (void)token;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    return ++c->calls != c->stop_after;
}

/* Three sequences generated together in batched steps (prompts deferred and fed in chunks of
 * 5 tokens shared by all, so they interleave with running sequences) make exactly the text and
 * tokens each makes alone; a stop string and a limit end their own sequence only; misuse is
 * refused. */
static void test_batched_generation(void) {
    const char *texts[3] = {"It was a fine morning, and", "The cat", "Once upon a time there was"};
    const char *stop[1] = {" the"};
    char alone_text[3][4096];
    int32_t alone_tok[3][64], n_alone[3];
    bn_sampler_params sp = bn_sampler_default_params();
    sp.temperature = 0;
    for (int i = 0; i < 3; i++) { /* each alone, through bn_generator_next */
        int32_t n = 0;
        int32_t *prompt = tokenize(texts[i], &n);
        bn_context *ctx = new_context(1);
        bn_sampler *smp = NULL;
        CHECK_OK(bn_sampler_create(&smp, g_vocab, &sp));
        bn_generate_params gp = bn_generate_default_params();
        gp.n_predict = 10 + 7 * i;
        gp.ignore_eos = true;
        gp.stop = i == 1 ? stop : NULL;
        gp.n_stop = i == 1;
        bn_generator *g = NULL;
        CHECK_OK(bn_generator_create(&g, ctx, smp, prompt, n, &gp));
        size_t len = 0;
        n_alone[i] = 0;
        for (bool done = false; g != NULL && !done;) {
            const char *t;
            size_t l;
            int32_t tok;
            CHECK_OK(bn_generator_next(g, &t, &l, &tok, &done));
            memcpy(alone_text[i] + len, t, l);
            len += l;
            if (tok >= 0)
                alone_tok[i][n_alone[i]++] = tok;
        }
        alone_text[i][len] = '\0';
        bn_generator_free(g);
        bn_sampler_free(smp);
        bn_context_free(ctx);
        free(prompt);
    }
    bn_context *ctx = new_context(4);
    bn_generator *gens[3] = {NULL, NULL, NULL};
    bn_sampler *smps[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        int32_t n = 0;
        int32_t *prompt = tokenize(texts[i], &n);
        CHECK_OK(bn_sampler_create(&smps[i], g_vocab, &sp));
        bn_generate_params gp = bn_generate_default_params();
        gp.n_predict = 10 + 7 * i;
        gp.ignore_eos = true;
        gp.stop = i == 1 ? stop : NULL;
        gp.n_stop = i == 1;
        gp.seq = 3 - i; /* sequences 3, 2, 1: not the generators' order */
        gp.defer_prompt = true;
        CHECK_OK(bn_generator_create(&gens[i], ctx, smps[i], prompt, n, &gp));
        free(prompt);
    }
    char text[3][4096];
    size_t len[3] = {0, 0, 0};
    int32_t toks[3][64];
    int n_tok[3] = {0, 0, 0}, steps = 0;
    bool all_done = false;
    while (!all_done && steps < 200) {
        bn_generator_piece out[3];
        CHECK_OK(bn_generator_step_batch(gens, 3, 5, out));
        steps++;
        all_done = true;
        for (int i = 0; i < 3; i++) {
            memcpy(text[i] + len[i], out[i].text, out[i].len);
            len[i] += out[i].len;
            if (out[i].token >= 0)
                toks[i][n_tok[i]++] = out[i].token;
            all_done &= out[i].done;
        }
    }
    for (int i = 0; i < 3; i++) {
        text[i][len[i]] = '\0';
        CHECK(strcmp(text[i], alone_text[i]) == 0, "sequence %d batched: '%s', alone: '%s'", i,
              text[i], alone_text[i]);
        CHECK(n_tok[i] == n_alone[i] &&
                  memcmp(toks[i], alone_tok[i], (size_t)n_tok[i] * sizeof(int32_t)) == 0,
              "sequence %d: %d tokens batched, %d alone", i, n_tok[i], n_alone[i]);
    }
    bn_generate_result r;
    bn_generator_result(gens[2], &r);
    CHECK(r.reason == BN_STOP_LIMIT && r.n_generated == 24, "the third ends by its limit: %d, %d",
          r.reason, r.n_generated);
    /* misuse: two generators on one sequence, a NULL, a zero chunk */
    bn_generator_piece out[3];
    int32_t one = 1;
    bn_generate_params gp = bn_generate_default_params();
    gp.seq = 0;
    gp.defer_prompt = true;
    bn_generator *a = NULL, *b = NULL;
    CHECK_OK(bn_generator_create(&a, ctx, smps[0], &one, 1, &gp));
    CHECK_OK(bn_generator_create(&b, ctx, smps[1], &one, 1, &gp));
    bn_generator *both[2] = {a, b};
    check_refused(bn_generator_step_batch(both, 2, 8, out), BN_ERR_INVALID_ARG, "sequence 0",
                  "two generators on one sequence");
    check_refused(bn_generator_step_batch(both, 1, 0, out), BN_ERR_INVALID_ARG, "prompt_chunk",
                  "a zero chunk");
    both[1] = NULL;
    check_refused(bn_generator_step_batch(both, 2, 8, out), BN_ERR_INVALID_ARG, "NULL", "a NULL");
    bn_generator_free(a);
    bn_generator_free(b);
    for (int i = 0; i < 3; i++) {
        bn_generator_free(gens[i]);
        bn_sampler_free(smps[i]);
    }
    bn_context_free(ctx);
}

/* logprobs: the greedy token is the most likely one and its logprob is the log-softmax of the
 * logits the context gives for the same prompt (computed here in double); the top list is
 * sorted and its probabilities sum to at most 1; made without logprobs, the call is refused. */
static void test_logprobs(void) {
    int32_t n = 0;
    int32_t *prompt = tokenize("It was a fine morning, and", &n);
    float *ref = malloc((size_t)g_vocab * sizeof *ref);
    bn_context *ctx = new_context(1);
    CHECK_OK(bn_context_eval(ctx, prompt, n, ref, false));
    bn_context_reset(ctx);
    bn_sampler_params sp = bn_sampler_default_params();
    sp.temperature = 0;
    bn_sampler *smp = NULL;
    CHECK_OK(bn_sampler_create(&smp, g_vocab, &sp));
    bn_generate_params gp = bn_generate_default_params();
    gp.n_predict = 3;
    gp.logprobs = true;
    gp.top_logprobs = 5;
    bn_generator *g = NULL;
    CHECK_OK(bn_generator_create(&g, ctx, smp, prompt, n, &gp));
    float lp = 1.0f;
    CHECK(bn_generator_logprobs(g, &lp, NULL, NULL, NULL) == BN_ERR_INVALID_ARG,
          "no logprobs before a token is sampled");
    const char *text;
    size_t len;
    int32_t tok;
    bool done;
    CHECK_OK(bn_generator_next(g, &text, &len, &tok, &done));
    int n_top = 0;
    const int32_t *ids = NULL;
    const float *tops = NULL;
    CHECK_OK(bn_generator_logprobs(g, &lp, &n_top, &ids, &tops));
    double top = -INFINITY, sum = 0.0;
    for (int i = 0; i < g_vocab; i++)
        top = fmax(top, ref[i]);
    for (int i = 0; i < g_vocab; i++)
        sum += exp((double)ref[i] - top);
    double want = ref[tok] - top - log(sum);
    CHECK(fabs(lp - want) < 1e-4, "logprob %g, log-softmax %g", lp, want);
    CHECK(n_top == 5 && ids[0] == tok && fabsf(tops[0] - lp) < 1e-6f, "top: %d, first %d (%g)",
          n_top, n_top > 0 ? ids[0] : -1, n_top > 0 ? tops[0] : 0.0);
    double mass = 0.0;
    for (int i = 0; i < n_top; i++) {
        CHECK(tops[i] <= 0.0f && (i == 0 || tops[i] <= tops[i - 1]), "top %d: %g", i, tops[i]);
        mass += exp(tops[i]);
    }
    CHECK(mass <= 1.0 + 1e-6, "top probabilities sum to %g", mass);
    bn_generator_free(g);
    gp.logprobs = false;
    CHECK_OK(bn_generator_create(&g, ctx, smp, prompt, n, &gp));
    CHECK_OK(bn_generator_next(g, &text, &len, &tok, &done));
    check_refused(bn_generator_logprobs(g, &lp, NULL, NULL, NULL), BN_ERR_INVALID_ARG,
                  "without logprobs", "logprobs not asked for");
    bn_generator_free(g);
    gp.top_logprobs = 21;
    check_refused(bn_generator_create(&g, ctx, smp, prompt, n, &gp), BN_ERR_INVALID_ARG,
                  "top_logprobs 21", "too many top logprobs");
    bn_sampler_free(smp);
    bn_context_free(ctx);
    free(ref);
    free(prompt);
}

static void test_generation(void) {
    int32_t n = 0;
    int32_t *prompt = tokenize("It was a fine morning, and", &n);
    bn_sampler_params sp = bn_sampler_default_params();
    sp.temperature = 0;
    bn_sampler *smp = NULL;
    CHECK_OK(bn_sampler_create(&smp, g_vocab, &sp));
    bn_context *ctx = new_context(1);

    /* Greedy, 40 tokens: the reference text, by the callback and by the generator. */
    bn_generate_params gp = bn_generate_default_params();
    gp.n_predict = 40;
    gp.ignore_eos = true;
    collected whole = {.stop_after = -1};
    bn_generate_result res;
    CHECK_OK(bn_generate(ctx, smp, prompt, n, &gp, collect, &whole, &res));
    CHECK(res.reason == BN_STOP_LIMIT && res.n_generated == 40 && res.n_prompt == n,
          "limit: reason %d, %d made", res.reason, res.n_generated);
    CHECK(whole.len > 40, "40 tokens of English: '%s'", whole.text);

    bn_context_reset(ctx);
    bn_generator *g = NULL;
    CHECK_OK(bn_generator_create(&g, ctx, smp, prompt, n, &gp));
    char streamed[4096] = "";
    size_t slen = 0;
    bool done = false;
    int steps = 0;
    while (!done) {
        const char *piece;
        size_t len;
        int32_t tok;
        CHECK_OK(bn_generator_next(g, &piece, &len, &tok, &done));
        memcpy(streamed + slen, piece, len);
        slen += len;
        steps++;
    }
    streamed[slen] = '\0';
    bn_generator_free(g);
    CHECK(steps == 40 && strcmp(streamed, whole.text) == 0, "generator = bn_generate: '%s'",
          streamed);

    /* A stop string from the middle of that text: the text ends just before it. */
    const char *mid = whole.text + whole.len / 2;
    char stop[8];
    memcpy(stop, mid, 5);
    stop[5] = '\0';
    const char *stops[1] = {stop};
    gp.stop = stops;
    gp.n_stop = 1;
    bn_context_reset(ctx);
    collected cut = {.stop_after = -1};
    CHECK_OK(bn_generate(ctx, smp, prompt, n, &gp, collect, &cut, &res));
    const char *first = strstr(whole.text, stop);
    CHECK(res.reason == BN_STOP_STRING && first != NULL &&
              cut.len == (size_t)(first - whole.text) &&
              strncmp(cut.text, whole.text, cut.len) == 0,
          "stop '%s': '%s'", stop, cut.text);

    /* The callback stops it; a prompt continuing what the sequence holds. */
    gp.n_stop = 0;
    bn_context_reset(ctx);
    collected three = {.stop_after = 3};
    CHECK_OK(bn_generate(ctx, smp, prompt, n, &gp, collect, &three, &res));
    CHECK(res.reason == BN_STOP_CALLBACK && res.n_generated == 3, "callback stop: %d",
          res.n_generated);
    CHECK(bn_context_seq_len(ctx, 0) == n + 3, "prompt + 3 tokens held: %d",
          bn_context_seq_len(ctx, 0));

    /* Misuse: no sampler, a sequence out of range, a prompt with an id out of range. */
    check_refused(bn_generate(ctx, NULL, prompt, n, &gp, NULL, NULL, NULL), BN_ERR_INVALID_ARG,
                  "NULL", "NULL sampler");
    gp.seq = 4;
    check_refused(bn_generate(ctx, smp, prompt, n, &gp, NULL, NULL, NULL), BN_ERR_RANGE,
                  "sequence 4", "generate in a sequence out of range");
    gp.seq = 0;
    int32_t bad[2] = {1, g_vocab};
    check_refused(bn_generate(ctx, smp, bad, 2, &gp, NULL, NULL, NULL), BN_ERR_RANGE, "4096",
                  "prompt id out of range");
    bn_sampler *wide = NULL;
    CHECK_OK(bn_sampler_create(&wide, g_vocab + 1, &sp));
    check_refused(bn_generate(ctx, wide, prompt, n, &gp, NULL, NULL, NULL), BN_ERR_INVALID_ARG,
                  "4097", "a sampler wider than the logits");
    bn_sampler_free(wide);
    bn_sampler_params wrong = sp;
    wrong.top_p = 1.5f;
    check_refused(bn_sampler_params_check(&wrong), BN_ERR_INVALID_ARG, "top_p", "top_p 1.5");

    bn_context_free(ctx);
    bn_sampler_free(smp);
    free(prompt);
}

static void test_perplexity(void) {
    size_t len = 0;
    char *text = bn_test_read_file(BN_SOURCE_DIR "/models/heldout.txt", &len);
    CHECK(text != NULL, "heldout.txt");
    if (text == NULL)
        return;
    bn_context *ctx = new_context(1);
    bn_perplexity_result r;
    CHECK_OK(bn_perplexity(ctx, text, 4000, 64, 3, NULL, NULL, &r));
    CHECK(r.n_windows == 3 && r.n_scored == 3 * 31, "3 windows, 93 tokens scored: %d, %lld",
          r.n_windows, (long long)r.n_scored);
    CHECK_NEAR(r.ppl, exp(r.mean_nll), 1e-9 * r.ppl, "ppl = exp(mean nll)");
    CHECK(r.ppl > 10 && r.ppl < 500, "a trained model's perplexity: %g", r.ppl);
    check_refused(bn_perplexity(ctx, text, 100, 64, 0, NULL, NULL, &r), BN_ERR_RANGE, "128",
                  "text shorter than two windows");
    check_refused(bn_perplexity(ctx, text, len, 512, 0, NULL, NULL, &r), BN_ERR_RANGE, "512",
                  "window beyond the context");
    bn_context_free(ctx);
    free(text);
}

static void test_load_errors(void) {
    bn_model *m = (bn_model *)1;
    check_refused(bn_model_load(&m, "/nonexistent/model.gguf", NULL), BN_ERR_IO,
                  "/nonexistent/model.gguf", "missing file");
    CHECK(m == NULL, "*out NULL on failure");
    check_refused(bn_model_load(&m, NULL, NULL), BN_ERR_INVALID_ARG, "NULL", "NULL path");
    bn_model_params p = bn_model_default_params();
    p.device = BN_DEVICE_CUDA;
    check_refused(bn_model_load(&m, MODEL, &p), BN_ERR_UNSUPPORTED, "CUDA", "the CUDA device");
    p = bn_model_default_params();
    p.cpu_kernels = "sse9";
    check_refused(bn_model_load(&m, MODEL, &p), BN_ERR_INVALID_ARG, "sse9", "unknown kernels");
    p = bn_model_default_params();
    p.head_type = "q3_x";
    check_refused(bn_model_load(&m, MODEL, &p), BN_ERR_DTYPE, "q3_x", "unknown head");
    p = bn_model_default_params();
    p.weight_layout = "t9";
    check_refused(bn_model_load(&m, MODEL, &p), BN_ERR_INVALID_ARG, "\"t9\"", "unknown layout");
#if defined(__x86_64__)
    p.weight_layout = "t5"; /* no t5v64 kernel on the AVX2 path */
    p.cpu_kernels = "avx2";
    check_refused(bn_model_load(&m, MODEL, &p), BN_ERR_UNSUPPORTED, "avx2", "t5 on avx2");
#endif
}

/* Both runtime layouts give the same logits (the integer sums are exact either way), and the
 * info names the one that runs. */
static void test_weight_layouts(void) {
    float *logits[2] = {NULL, NULL};
    int32_t n_vocab = 0;
    const char *names[2] = {"i2", "t5"};
    for (int l = 0; l < 2; l++) {
        bn_model_params p = bn_model_default_params();
        p.weight_layout = names[l];
        bn_model *m = NULL;
        if (bn_model_load(&m, MODEL, &p) == BN_ERR_UNSUPPORTED) {
            p.cpu_kernels = "scalar"; /* t5v64 runs on avx512 and scalar */
            CHECK_OK(bn_model_load(&m, MODEL, &p));
        }
        if (m == NULL)
            return;
        bn_model_info info;
        CHECK_OK(bn_model_get_info(m, &info));
        CHECK(strncmp(info.weight_layout, l == 0 ? "i2v" : "t5v64", 3) == 0, "layout %s runs as %s",
              names[l], info.weight_layout);
        n_vocab = info.n_vocab;
        bn_context *c = NULL;
        CHECK_OK(bn_context_create(&c, m, NULL));
        int32_t toks[4] = {1, 2, 3, 4};
        logits[l] = malloc((size_t)n_vocab * sizeof(float));
        CHECK_OK(bn_context_eval(c, toks, 4, logits[l], false));
        bn_context_free(c);
        bn_model_free(m);
    }
    CHECK(logits[0] && logits[1] &&
              memcmp(logits[0], logits[1], (size_t)n_vocab * sizeof(float)) == 0,
          "i2 and t5 layouts give the same logits");
    free(logits[0]);
    free(logits[1]);
}

/* A context outlives bn_model_free of its model: the weights go with the last context. */
static void test_model_freed_first(void) {
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, MODEL, NULL));
    bn_context *a = NULL, *b = NULL;
    CHECK_OK(bn_context_create(&a, m, NULL));
    CHECK_OK(bn_context_create(&b, m, NULL));
    if (a == NULL || b == NULL)
        return;
    float *before = malloc((size_t)g_vocab * sizeof *before);
    float *after = malloc((size_t)g_vocab * sizeof *after);
    int32_t ids[3] = {10, 20, 30};
    CHECK_OK(bn_context_eval(a, ids, 3, before, false));
    bn_model_free(m); /* the caller's handle only: two contexts still read the weights */
    bn_context_free(a);
    CHECK_OK(bn_context_eval(b, ids, 3, after, false)); /* ASan would see a use after free */
    CHECK(memcmp(before, after, (size_t)g_vocab * sizeof *after) == 0,
          "a context still works after bn_model_free");
    bn_context_free(b); /* frees the model */
    free(before), free(after);
}

typedef struct hammer {
    bn_context *ctx;
    int seq, refused, other_errors;
} hammer;

/* Decode 48-token batches into one sequence of a shared context, emptying it when full. */
static void *hammer_run(void *arg) {
    hammer *h = arg;
    int32_t toks[48], pos[48], seq[48];
    for (int it = 0; it < 40; it++) {
        if (bn_context_seq_len(h->ctx, h->seq) + 48 > bn_context_n_ctx(h->ctx))
            bn_context_seq_truncate(h->ctx, h->seq, 0);
        int at = bn_context_seq_len(h->ctx, h->seq);
        for (int i = 0; i < 48; i++)
            toks[i] = 100 + i, pos[i] = at + i, seq[i] = h->seq;
        bn_batch b = {.n = 48, .tokens = toks, .pos = pos, .seq = seq};
        bn_status st = bn_context_decode(h->ctx, &b, NULL);
        if (st == BN_ERR_INVALID_ARG && strstr(bn_last_error(), "another thread") != NULL)
            h->refused++;
        else if (st != BN_OK)
            h->other_errors++;
    }
    return NULL;
}

/* Two threads on one context: the calls that overlap are refused with a message, none races
 * (the sanitizer build runs this too). */
static void test_two_threads_one_context(void) {
    bn_context_params cp = bn_context_default_params();
    cp.n_seq_max = 2;
    cp.n_threads = 1;
    bn_context *ctx = NULL;
    CHECK_OK(bn_context_create(&ctx, g_model, &cp));
    if (ctx == NULL)
        return;
    hammer h[2] = {{ctx, 0, 0, 0}, {ctx, 1, 0, 0}};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, hammer_run, &h[1]) == 0, "thread");
    hammer_run(&h[0]);
    pthread_join(t, NULL);
    CHECK(h[0].other_errors == 0 && h[1].other_errors == 0, "only 'in use' refusals: %d %d",
          h[0].other_errors, h[1].other_errors);
    CHECK(h[0].refused + h[1].refused > 0, "overlapping calls were refused (%d, %d)", h[0].refused,
          h[1].refused);
    bn_context_free(ctx);
}

int main(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BN_VERSION_MAJOR, BN_VERSION_MINOR, BN_VERSION_PATCH);
    CHECK(strcmp(bn_version(), want) == 0, "bn_version %s, header %s", bn_version(), want);
    test_load_errors();
    test_weight_layouts();
    bn_model_params mp = bn_model_default_params();
    mp.n_threads = 2;
    CHECK_OK(bn_model_load(&g_model, MODEL, &mp));
    if (g_model == NULL)
        return bn_test_finish("test_api");
    bn_model_info info;
    CHECK_OK(bn_model_get_info(g_model, &info));
    g_vocab = info.n_vocab;
    CHECK(info.n_vocab == 4096 && info.dim == 384 && info.n_layers == 6 && info.n_kv_heads == 2 &&
              strcmp(info.linear_type, "i2_s") == 0 && strcmp(info.activation, "relu2") == 0,
          "info: vocab %d dim %d layers %d %s %s", info.n_vocab, info.dim, info.n_layers,
          info.linear_type, info.activation);
    test_multi_sequence_batch();
    test_misuse();
    test_vocabulary();
    test_generation();
    test_batched_generation();
    test_logprobs();
    test_perplexity();
    test_model_freed_first();
    test_two_threads_one_context();
    bn_model_free(g_model);
    return bn_test_finish("test_api");
}
