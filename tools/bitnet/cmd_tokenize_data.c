/*
 * cmd_tokenize_data.c - `bitnet tokenize-data -m TOKENIZER -o PREFIX FILES...`: text files into
 * the token files training reads (train/data.h), split into training and validation documents.
 */
#include "cli.h"

#include "base/rng.h"
#include "base/threadpool.h"
#include "base/timer.h"
#include "io/outfile.h"
#include "text/tokenizer.h"
#include "train/tokenize_data.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void) {
    printf(
        "usage: bitnet tokenize-data -m TOKENIZER -o PREFIX [--val-fraction F] [--seed S]\n"
        "                            [-t N] FILES...\n"
        "\n"
        "Encode text files for training. Writes\n"
        "  PREFIX.train.tok  the training documents' tokens (a token file: src/train/data.h)\n"
        "  PREFIX.val.tok    the validation documents' tokens\n"
        "  PREFIX.val.txt    the validation documents as text, separated by a blank line, so\n"
        "                    that `bitnet perplexity -f PREFIX.val.txt` scores held-out text\n"
        "\n"
        "FILES hold documents separated by a line holding only a form feed (\\f); each file\n"
        "ends a document too (scripts/make_corpus.sh writes such a corpus). Each document is\n"
        "encoded as the tokenizer's BOS (when it adds one), the text, and the end-of-text token\n"
        "(the tokenizer's eos); special tokens written in the text stay text. A document goes\n"
        "to validation when a hash of its text and the seed falls below F: the split depends on\n"
        "nothing else (not the order of the files, not the other documents), and identical\n"
        "documents fall on the same side.\n"
        "\n"
        "  -m, --model TOKENIZER  a GGUF file, a Hugging Face folder or a tokenizer.json\n"
        "  -o PREFIX              the output files' common beginning\n"
        "  --val-fraction F       the share of documents held out, 0 <= F < 1 (default 0.05)\n"
        "  --seed S               chooses the split, 0..2^64-1 (default 0)\n"
        "  -t, --threads N        encoding threads (default: one per CPU this process may use)\n");
}

typedef struct args {
    const char *model, *prefix;
    double val_fraction;
    uint64_t seed;
    int threads;
    const char **files;
    int n_files;
} args;

static int parse_seed(const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        return bn_cli_usage_error("tokenize-data", "--seed '%s' is not a number 0..2^64-1", text);
    *out = (uint64_t)v;
    return 0;
}

static int parse(int argc, char **argv, args *a) {
    a->val_fraction = 0.05;
    a->threads = bn_cpu_count();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bn_cli_opt t = bn_cli_threads_option("tokenize-data", argc, argv, &i, &a->threads);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            usage();
            return -1;
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model") || !strcmp(o, "-o") ||
                   !strcmp(o, "--out") || !strcmp(o, "--val-fraction") || !strcmp(o, "--seed")) {
            if (i + 1 >= argc)
                return bn_cli_usage_error("tokenize-data", "%s needs a value", o);
            const char *v = argv[++i];
            char *end;
            if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
                a->model = v;
            } else if (!strcmp(o, "-o") || !strcmp(o, "--out")) {
                a->prefix = v;
            } else if (!strcmp(o, "--seed")) {
                if (parse_seed(v, &a->seed) != 0)
                    return 2;
            } else {
                errno = 0;
                a->val_fraction = strtod(v, &end);
                if (errno != 0 || end == v || *end != '\0' || !(a->val_fraction >= 0.0) ||
                    !(a->val_fraction < 1.0))
                    return bn_cli_usage_error("tokenize-data",
                                              "--val-fraction %s: want a number 0 <= F < 1", v);
            }
        } else if (o[0] == '-' && o[1] != '\0') {
            return bn_cli_usage_error("tokenize-data", "unknown option '%s'", o);
        } else {
            a->files[a->n_files++] = o;
        }
    }
    if (a->model == NULL)
        return bn_cli_usage_error("tokenize-data", "-m TOKENIZER is required");
    if (a->prefix == NULL || a->prefix[0] == '\0')
        return bn_cli_usage_error("tokenize-data", "-o PREFIX is required");
    if (a->n_files == 0)
        return bn_cli_usage_error("tokenize-data", "give the text FILES to encode");
    return 0;
}

static int check_paths(const args *a) {
    static const char *const ext[3] = {".train.tok", ".val.tok", ".val.txt"};
    for (int k = 0; k < 3; k++) {
        char out[4200];
        if (snprintf(out, sizeof out, "%s%s", a->prefix, ext[k]) >= (int)sizeof out - 1)
            return bn_cli_usage_error("tokenize-data", "-o %s: the path is too long", a->prefix);
        bn_status st = bn_outfile_check_not_input(out, a->model, "the tokenizer");
        for (int f = 0; st == BN_OK && f < a->n_files; f++)
            st = bn_outfile_check_not_input(out, a->files[f], "an input text");
        if (st != BN_OK)
            return bn_cli_usage_error("tokenize-data", "%s", bn_last_error());
    }
    return 0;
}

int bn_cmd_tokenize_data(int argc, char **argv) {
    args a = {0};
    if ((a.files = calloc((size_t)argc + 1, sizeof *a.files)) == NULL)
        return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    int rc = parse(argc, argv, &a);
    if (rc == 0)
        rc = check_paths(&a);
    if (rc != 0) {
        free(a.files);
        return rc < 0 ? 0 : rc;
    }
    double t0 = bn_time_s();
    bn_tokenizer *t = NULL;
    bn_tokenize_data_counts n;
    bn_tokenize_data_params p = {a.prefix, a.val_fraction, a.seed, a.threads};
    bn_status st = bn_tokenizer_load(&t, a.model);
    if (st == BN_OK)
        st = bn_tokenize_data(t, a.files, (size_t)a.n_files, &p, &n);
    if (st != BN_OK) {
        rc = bn_cli_fail(st);
    } else {
        size_t docs = n.docs[0] + n.docs[1];
        uint64_t tokens = n.tokens[0] + n.tokens[1];
        printf("documents: %zu training, %zu validation (%.2f%%)\n", n.docs[0], n.docs[1],
               100.0 * (double)n.docs[1] / (double)docs);
        printf("tokens: %llu training, %llu validation; %.2f bytes of text per token (BOS and "
               "end-of-text included); %d bytes per token in the files\n",
               (unsigned long long)n.tokens[0], (unsigned long long)n.tokens[1],
               (double)(n.bytes[0] + n.bytes[1]) / (double)tokens,
               bn_tokenizer_n_vocab(t) <= 65536 ? 2 : 4);
        printf("wrote %s.train.tok, %s.val.tok, %s.val.txt in %.2f s\n", a.prefix, a.prefix,
               a.prefix, bn_time_s() - t0);
    }
    bn_tokenizer_free(t);
    free(a.files);
    return rc;
}
