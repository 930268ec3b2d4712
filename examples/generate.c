/*
 * generate.c - the smallest complete program over libbitnet: load a model, tokenize a prompt,
 * stream a continuation to stdout.
 *
 *   generate MODEL "PROMPT" [N_PREDICT [TEMPERATURE [SEED]]]     (greedy when TEMPERATURE is 0)
 */
#include <bitnet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool print_piece(void *user, const char *text, size_t len, int32_t token) {
    (void)user, (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static int fail(const char *what, bn_status st) {
    fprintf(stderr, "generate: %s: %s (%s)\n", what, bn_last_error(), bn_status_str(st));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL PROMPT [N_PREDICT [TEMPERATURE [SEED]]]\n", argv[0]);
        return 2;
    }
    bn_model *model = NULL;
    bn_status st = bn_model_load(&model, argv[1], NULL);
    if (st != BN_OK)
        return fail("load", st);

    /* Tokenize: a first call measures, the second fills. */
    const char *prompt = argv[2];
    unsigned flags = BN_TOKENIZE_ADD_SPECIAL | BN_TOKENIZE_PARSE_SPECIAL;
    int32_t n = 0;
    bn_tokenize(model, prompt, strlen(prompt), flags, NULL, 0, &n);
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    st = bn_tokenize(model, prompt, strlen(prompt), flags, ids, n, &n);

    bn_context *ctx = NULL;
    bn_sampler *sampler = NULL;
    bn_model_info info;
    bn_sampler_params sp = bn_sampler_default_params();
    sp.temperature = argc > 4 ? strtof(argv[4], NULL) : 0.0f;
    sp.seed = argc > 5 ? strtoull(argv[5], NULL, 10) : sp.seed;
    bn_generate_params gp = bn_generate_default_params();
    gp.n_predict = argc > 3 ? atoi(argv[3]) : 64;
    bn_generate_result res;
    if (st == BN_OK)
        st = bn_context_create(&ctx, model, NULL);
    if (st == BN_OK)
        st = bn_model_get_info(model, &info);
    if (st == BN_OK)
        st = bn_sampler_create(&sampler, info.n_vocab, &sp);
    if (st == BN_OK)
        st = bn_generate(ctx, sampler, ids, n, &gp, print_piece, NULL, &res);
    if (st == BN_OK)
        fprintf(stderr, "\n%d prompt tokens, %d generated (%.1f tokens/s)\n", res.n_prompt,
                res.n_generated, res.n_generated / (res.generate_seconds + 1e-9));
    int rc = st == BN_OK ? 0 : fail("generate", st);
    bn_sampler_free(sampler);
    bn_context_free(ctx);
    bn_model_free(model);
    free(ids);
    return rc;
}
