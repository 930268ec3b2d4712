/*
 * logits_npy.c - the logits of every position of a prompt, written as a NumPy .npy file of
 * float32 [T, vocab]: what a program comparing against another implementation wants. Exact
 * settings (float32 KV cache, the head dotted in float32), as `bitnet logits` uses.
 *
 *   logits_npy MODEL "PROMPT" OUT.npy
 */
#include <bitnet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NumPy's format 1.0: magic, version, header length, a dict padded with spaces to 64 bytes. */
static int write_npy(const char *path, const float *data, int rows, int cols) {
    char dict[128];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    unsigned short hlen = (unsigned short)(len + pad + 1); /* little-endian hosts */
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hlen, 2, 1, f);
    fprintf(f, "%s%*s\n", dict, pad, "");
    fwrite(data, sizeof *data, (size_t)rows * (size_t)cols, f);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL PROMPT OUT.npy\n", argv[0]);
        return 2;
    }
    bn_model *model = NULL;
    bn_context *ctx = NULL;
    bn_model_info info;
    int32_t n = 0, *ids = NULL;
    float *logits = NULL;
    unsigned flags = BN_TOKENIZE_ADD_SPECIAL | BN_TOKENIZE_PARSE_SPECIAL;
    bn_context_params cp = bn_context_default_params();
    cp.kv_type = BN_KV_F32;
    cp.float_head = true;

    bn_status st = bn_model_load(&model, argv[1], NULL);
    if (st == BN_OK)
        st = bn_model_get_info(model, &info);
    if (st == BN_OK) {
        bn_tokenize(model, argv[2], strlen(argv[2]), flags, NULL, 0, &n);
        ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
        logits = malloc((size_t)(n > 0 ? n : 1) * (size_t)info.n_vocab * sizeof *logits);
        st = ids && logits ? bn_tokenize(model, argv[2], strlen(argv[2]), flags, ids, n, &n)
                           : BN_ERR_OUT_OF_MEMORY;
    }
    if (st == BN_OK)
        st = bn_context_create(&ctx, model, &cp);
    if (st == BN_OK)
        st = bn_context_eval(ctx, ids, n, logits, true);
    int rc = 0;
    if (st != BN_OK) {
        fprintf(stderr, "logits_npy: %s (%s)\n", bn_last_error(), bn_status_str(st));
        rc = 1;
    } else if (write_npy(argv[3], logits, n, info.n_vocab) != 0) {
        perror(argv[3]);
        rc = 1;
    } else {
        printf("%s: [%d, %d] float32\n", argv[3], n, info.n_vocab);
    }
    bn_context_free(ctx);
    bn_model_free(model);
    free(ids);
    free(logits);
    return rc;
}
