/* generate.c - the loop of generate.h: the public generator, printing as it goes. */
#include "generate.h"

#include "text/tokenizer.h"

#include <errno.h>
#include <string.h>

typedef struct printer {
    const bn_cli_gen *g;
    bn_status st; /* a failed write ends generation with this */
} printer;

static bool print_text(void *user, const char *text, size_t len, int32_t token) {
    printer *p = user;
    if (token >= 0 && p->g->sampled != NULL && (p->st = bn_tokens_push(p->g->sampled, token)))
        return false;
    if (len > 0) {
        /* a full disk or a closed pipe ends generation now, not after -n more tokens */
        if (fwrite(text, 1, len, p->g->out) != len || fflush(p->g->out) != 0) {
            p->st = BN_ERROR(BN_ERR_IO, "writing the generated text: %s", strerror(errno));
            return false;
        }
        if (p->g->reply != NULL && (p->st = bn_bytes_append(p->g->reply, text, len)) != BN_OK)
            return false;
    }
    return !bn_cli_interrupted; /* Ctrl-C: stop here, keep what was made */
}

bn_status bn_cli_generate(const bn_cli_gen *g, const int32_t *prompt, int n_prompt,
                          bn_generate_result *r) {
    bn_generate_params p = bn_generate_default_params();
    p.n_predict = g->opt->n_predict;
    p.stop = g->opt->stops;
    p.n_stop = g->opt->n_stops;
    p.ignore_eos = g->opt->ignore_eos;
    printer pr = {g, BN_OK};
    bn_status st = bn_generate(g->c, g->s, prompt, n_prompt, &p, print_text, &pr, r);
    return st != BN_OK ? st : pr.st;
}

const char *bn_cli_stop_str(bn_stop_reason reason) {
    switch (reason) {
    case BN_STOP_EOG:
        return "an end-of-generation token";
    case BN_STOP_STRING:
        return "a stop string";
    case BN_STOP_FULL:
        return "the end of the context";
    case BN_STOP_CALLBACK:
        return "an interrupt (Ctrl-C)";
    default:
        return "the -n limit";
    }
}
