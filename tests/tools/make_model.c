/*
 * make_model.c - a synthetic model of any shape, for the CLI tests (bn_synth_write_shape):
 *
 *   make_model OUT.gguf [--dim D] [--layers L] [--heads H] [--kv-heads K] [--ffn F]
 *                       [--vocab V] [--pad P] [--ctx C] [--type T] [--embed-type E] [--seed S]
 *
 * starting from the "tiny" shape. Exit 0 on success, 1 with the library's message otherwise.
 */
#include "model/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr, "usage: make_model OUT.gguf [--dim D] [--layers L] [--heads H] [--kv-heads K] "
                    "[--ffn F] [--vocab V] [--pad P] [--ctx C] [--type T] [--embed-type E] "
                    "[--seed S]\n");
    return 2;
}

int main(int argc, char **argv) {
    const bn_synth_shape *tiny = NULL;
    if (bn_synth_shape_find("tiny", &tiny) != BN_OK || argc < 2)
        return usage();
    bn_synth_shape s = *tiny;
    s.name = "test";
    bn_synth_options o = {.type = BN_DTYPE_TQ2_0, .embed_type = BN_DTYPE_F16, .seed = 1};
    const struct {
        const char *flag;
        int *field;
    } ints[] = {{"--dim", &s.dim},       {"--layers", &s.n_layers},
                {"--heads", &s.n_heads}, {"--kv-heads", &s.n_kv_heads},
                {"--ffn", &s.ffn_dim},   {"--vocab", &s.n_vocab},
                {"--pad", &s.n_pad},     {"--ctx", &s.ctx_max}};
    for (int i = 2; i + 1 < argc; i += 2) {
        bool known = false;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            if (strcmp(argv[i], ints[k].flag) == 0) {
                *ints[k].field = atoi(argv[i + 1]);
                known = true;
            }
        if (strcmp(argv[i], "--type") == 0 || strcmp(argv[i], "--embed-type") == 0) {
            bn_dtype *t = argv[i][2] == 't' ? &o.type : &o.embed_type;
            known = bn_dtype_from_name(argv[i + 1], t) == BN_OK;
        } else if (strcmp(argv[i], "--seed") == 0) {
            o.seed = strtoull(argv[i + 1], NULL, 10);
            known = true;
        }
        if (!known)
            return usage();
    }
    if ((argc - 2) % 2 != 0)
        return usage();
    bn_status st = bn_synth_write_shape(argv[1], &s, &o);
    if (st != BN_OK) {
        fprintf(stderr, "make_model: %s\n", bn_last_error());
        return 1;
    }
    return 0;
}
