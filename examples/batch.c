/*
 * batch.c - several prompts generated at once: one context holds a sequence per prompt, and
 * each step evaluates one token of every unfinished sequence in a single batch (the weights
 * are read once for all of them). Each sequence's text is what it would be alone.
 *
 *   batch MODEL N_PREDICT "PROMPT 1" "PROMPT 2" ...          (greedy)
 */
#include <bitnet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SEQ = 16, MAX_PROMPT = 1024 };

int main(int argc, char **argv) {
    int n_seq = argc - 3;
    if (n_seq < 1 || n_seq > MAX_SEQ) {
        fprintf(stderr, "usage: %s MODEL N_PREDICT PROMPT... (1 to %d prompts)\n", argv[0],
                MAX_SEQ);
        return 2;
    }
    int n_predict = atoi(argv[2]);
    if (n_predict < 1) {
        fprintf(stderr, "batch: N_PREDICT must be at least 1, not '%s'\n", argv[2]);
        return 2;
    }
    bn_model *model = NULL;
    bn_context *ctx = NULL;
    bn_model_info info;
    bn_context_params cp = bn_context_default_params();
    cp.n_seq_max = n_seq;
    bn_status st = bn_model_load(&model, argv[1], NULL);
    if (st == BN_OK)
        st = bn_model_get_info(model, &info);
    if (st == BN_OK)
        st = bn_context_create(&ctx, model, &cp);

    /* The first batch: every prompt, each token at its position in its sequence. */
    static int32_t tok[MAX_SEQ * MAX_PROMPT], pos[MAX_SEQ * MAX_PROMPT], seq[MAX_SEQ * MAX_PROMPT];
    static int8_t want[MAX_SEQ * MAX_PROMPT];
    int32_t n = 0, *out[MAX_SEQ] = {0}, n_out[MAX_SEQ] = {0};
    for (int s = 0; s < n_seq && st == BN_OK; s++) {
        int32_t k = 0;
        st = bn_tokenize(model, argv[3 + s], strlen(argv[3 + s]), BN_TOKENIZE_ADD_SPECIAL, tok + n,
                         MAX_PROMPT, &k);
        for (int32_t i = 0; i < k; i++)
            pos[n + i] = i, seq[n + i] = s, want[n + i] = i == k - 1;
        n += k;
        out[s] = calloc((size_t)n_predict + 1, sizeof *out[s]);
    }
    float *logits =
        st == BN_OK ? malloc((size_t)n_seq * (size_t)info.n_vocab * sizeof *logits) : NULL;
    bool live[MAX_SEQ];
    for (int s = 0; s < n_seq; s++)
        live[s] = true;
    /* Each step: the batch's logits rows come in batch order, one per live sequence. */
    for (int step = 0; st == BN_OK && n > 0; step++) {
        bn_batch b = {.n = n, .tokens = tok, .pos = pos, .seq = seq, .logits = want};
        st = bn_context_decode(ctx, &b, logits);
        int row = 0, next = 0;
        for (int s = 0; s < n_seq && st == BN_OK; s++) {
            if (!live[s])
                continue;
            const float *l = logits + (size_t)row++ * (size_t)info.n_vocab;
            int32_t best = 0;
            for (int32_t v = 1; v < info.n_tokens; v++)
                best = l[v] > l[best] ? v : best;
            out[s][n_out[s]++] = best;
            live[s] = n_out[s] < n_predict && !bn_token_is_eog(model, best) &&
                      bn_context_seq_len(ctx, s) < bn_context_n_ctx(ctx);
            if (live[s])
                tok[next] = best, pos[next] = bn_context_seq_len(ctx, s), seq[next] = s,
                want[next++] = 1;
        }
        n = next;
    }
    for (int s = 0; s < n_seq && st == BN_OK; s++) {
        char text[8192];
        size_t len = 0;
        st = bn_detokenize(model, out[s], n_out[s], BN_DETOKENIZE_SKIP_SPECIAL, text, sizeof text,
                           &len);
        if (st == BN_OK)
            printf("[%d] %s%s\n", s, argv[3 + s], text);
    }
    if (st != BN_OK)
        fprintf(stderr, "batch: %s (%s)\n", bn_last_error(), bn_status_str(st));
    for (int s = 0; s < n_seq; s++)
        free(out[s]);
    free(logits);
    bn_context_free(ctx);
    bn_model_free(model);
    return st == BN_OK ? 0 : 1;
}
