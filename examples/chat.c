/*
 * chat.c - a chat loop: each line of stdin is a user turn, each reply streams to stdout. The
 * conversation is rendered in the model's chat template (or FORMAT) every turn; the tokens the
 * context already holds are kept, so a turn costs only its new tokens.
 *
 *   chat MODEL [FORMAT] < questions.txt          (FORMAT: bitnet, llama3, chatml)
 */
#include <bitnet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TURNS = 64, MAX_TOKENS = 8192 };

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [FORMAT] < lines\n", argv[0]);
        return 2;
    }
    const char *format = argc > 2 ? argv[2] : NULL;
    bn_model *model = NULL;
    bn_context *ctx = NULL;
    bn_sampler *sampler = NULL;
    bn_model_info info;
    bn_sampler_params sp = bn_sampler_default_params();
    sp.temperature = 0; /* greedy: the same answers every run */
    bn_status st = bn_model_load(&model, argv[1], NULL);
    if (st == BN_OK)
        st = bn_model_get_info(model, &info);
    if (st == BN_OK)
        st = bn_context_create(&ctx, model, NULL);
    if (st == BN_OK)
        st = bn_sampler_create(&sampler, info.n_vocab, &sp);

    bn_chat_message msgs[2 * MAX_TURNS];
    size_t n_msgs = 0;
    static int32_t conv[MAX_TOKENS], held[MAX_TOKENS]; /* the rendered conversation; the cache */
    int32_t n_conv = 0, n_held = 0;
    char line[4096];
    while (st == BN_OK && n_msgs + 2 <= 2 * MAX_TURNS && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        msgs[n_msgs++] = (bn_chat_message){"user", strdup(line)};
        st = bn_chat_tokenize(model, format, msgs, n_msgs, true, 0, conv, MAX_TOKENS, &n_conv);
        if (st != BN_OK)
            break;
        /* Keep the longest prefix the cache holds; evaluate the rest as the prompt. */
        int32_t keep = 0;
        while (keep < n_held && keep < n_conv - 1 && held[keep] == conv[keep])
            keep++;
        bn_context_seq_truncate(ctx, 0, keep);
        memcpy(held + keep, conv + keep, (size_t)(n_conv - keep) * sizeof *held);
        n_held = n_conv;

        bn_generate_params gp = bn_generate_default_params();
        gp.n_predict = 96;
        bn_generator *g = NULL;
        st = bn_generator_create(&g, ctx, sampler, conv + keep, n_conv - keep, &gp);
        size_t cap = 1, len = 0;
        char *reply = calloc(1, cap);
        bool done = false;
        while (st == BN_OK && !done) {
            const char *piece;
            size_t plen;
            int32_t tok;
            st = bn_generator_next(g, &piece, &plen, &tok, &done);
            if (st == BN_OK && tok >= 0 && n_held < MAX_TOKENS)
                held[n_held++] = tok;
            if (st == BN_OK && len + plen + 1 > cap)
                reply = realloc(reply, cap = 2 * (len + plen + 1));
            if (st == BN_OK)
                memcpy(reply + len, piece, plen), len += plen, reply[len] = '\0';
            fwrite(piece, 1, st == BN_OK ? plen : 0, stdout);
        }
        bn_generator_free(g);
        /* The cache ends at the last token evaluated: an end-of-generation token is not. */
        n_held = bn_context_seq_len(ctx, 0);
        printf("\n");
        fflush(stdout);
        msgs[n_msgs++] = (bn_chat_message){"assistant", reply};
    }
    if (st != BN_OK)
        fprintf(stderr, "chat: %s (%s)\n", bn_last_error(), bn_status_str(st));
    for (size_t i = 0; i < n_msgs; i++)
        free((char *)msgs[i].content);
    bn_sampler_free(sampler);
    bn_context_free(ctx);
    bn_model_free(model);
    return st == BN_OK ? 0 : 1;
}
