/*
 * cmd_train_tokenizer.c - `bitnet train-tokenizer --vocab N -o OUT_DIR FILES...`: a byte-level
 * BPE vocabulary learned from text, written as a Hugging Face tokenizer folder.
 */
#include "cli.h"

#include "base/timer.h"
#include "io/outfile.h"
#include "model/synth.h"
#include "text/bpe_train.h"
#include "text/tokenizer.h"
#include "train/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_VOCAB (1 << 20) /* far above what one trains from a text file */

static void usage(void) {
    printf(
        "usage: bitnet train-tokenizer --vocab N -o OUT_DIR [--special K] FILES...\n"
        "\n"
        "Learn a byte-level BPE vocabulary from text files and write OUT_DIR/tokenizer.json and\n"
        "OUT_DIR/tokenizer_config.json, which bitnet (tokenize, tokenize-data, chat) and\n"
        "Hugging Face tokenizers read. The vocabulary, in LLaMA-3's form:\n"
        "  - the 256 byte tokens (GPT-2's byte-to-unicode strings, ids 0..255);\n"
        "  - merges learned from FILES: LLaMA-3's pre-tokenizer regex, then the most frequent\n"
        "    adjacent pair merged first (ties to the lowest pair of ids) while a pair occurs\n"
        "    twice; if the text runs out of pairs, merges that extend words by a letter;\n"
        "  - K special tokens at the end, as the synthetic models have them: <|begin_of_text|>\n"
        "    (BOS, added to every encoding), <|end_of_text|> (EOS, ends each document of\n"
        "    tokenize-data), <|start_header_id|>, <|end_header_id|>, <|eot_id|> and reserved\n"
        "    ones; and BitNet b1.58 2B-4T's chat template.\n"
        "\n"
        "  --vocab N     tokens in all, the special ones included (N - K >= 256)\n"
        "  --special K   special tokens (default 16; at least 10, so <|eot_id|> has its place)\n"
        "  -o OUT_DIR    the folder to write (made if missing; its parent must exist)\n"
        "\n"
        "FILES hold documents separated by a line holding only a form feed (\\f), the corpus\n"
        "convention of tokenize-data and scripts/make_corpus.sh; pre-tokens never span two\n"
        "documents. Invalid UTF-8 is replaced by U+FFFD, as encoding does.\n");
}

typedef struct args {
    const char *out;
    int vocab, special;
    const char **files;
    int n_files;
} args;

static int parse(int argc, char **argv, args *a) {
    a->special = 16;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (bn_cli_is_help(o)) {
            usage();
            return -1;
        } else if (!strcmp(o, "--vocab") || !strcmp(o, "--special") || !strcmp(o, "-o") ||
                   !strcmp(o, "--out")) {
            if (i + 1 >= argc)
                return bn_cli_usage_error("train-tokenizer", "%s needs a value", o);
            const char *v = argv[++i];
            if (!strcmp(o, "-o") || !strcmp(o, "--out"))
                a->out = v;
            else if (!strcmp(o, "--vocab") && !bn_cli_parse_int(v, 1, MAX_VOCAB, &a->vocab))
                return bn_cli_usage_error("train-tokenizer",
                                          "--vocab %s: want a whole number up to %d", v, MAX_VOCAB);
            else if (!strcmp(o, "--special") && !bn_cli_parse_int(v, 10, 65536, &a->special))
                return bn_cli_usage_error("train-tokenizer",
                                          "--special %s: want a whole number 10..65536", v);
        } else if (o[0] == '-' && o[1] != '\0') {
            return bn_cli_usage_error("train-tokenizer", "unknown option '%s'", o);
        } else {
            a->files[a->n_files++] = o;
        }
    }
    if (a->vocab == 0)
        return bn_cli_usage_error("train-tokenizer", "--vocab N is required");
    if (a->vocab - a->special < 256)
        return bn_cli_usage_error("train-tokenizer",
                                  "--vocab %d with %d special tokens leaves %d for the others: "
                                  "want at least 256 (the bytes)",
                                  a->vocab, a->special, a->vocab - a->special);
    if (a->out == NULL)
        return bn_cli_usage_error("train-tokenizer", "-o OUT_DIR is required");
    if (a->n_files == 0)
        return bn_cli_usage_error("train-tokenizer", "give the text FILES to learn from");
    return 0;
}

/* The special tokens and chat template of the synthetic models (bn_synth_tokenizer), after the
 * n_normal learned tokens: the smallest synthetic vocabulary with k special tokens has them at
 * 256.., in the layout LLaMA-3 and BitNet 2B-4T use. */
static bn_status add_specials(bn_tokenizer_spec *s, int32_t n_normal, int k) {
    bn_tokenizer *synth = NULL;
    BN_TRY(bn_synth_tokenizer(&synth, 256 + k, k));
    const bn_tokenizer_spec *t = bn_tokenizer_spec_of(synth);
    bn_status st = BN_OK;
    if ((s->added = calloc((size_t)k, sizeof *s->added)) == NULL ||
        (t->chat_template != NULL && (s->chat_template = strdup(t->chat_template)) == NULL))
        st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "special tokens");
    for (int i = 0; st == BN_OK && i < k; i++) {
        if ((s->tokens[n_normal + i] = strdup(t->tokens[256 + i])) == NULL)
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "special tokens");
        s->types[n_normal + i] = t->types[256 + i];
    }
    for (int32_t i = 0; st == BN_OK && i < t->n_added; i++) {
        s->added[s->n_added] = t->added[i];
        s->added[s->n_added++].id = t->added[i].id - 256 + n_normal;
    }
    if (st == BN_OK) {
        int32_t shift = n_normal - 256;
        s->bos_id = t->bos_id + shift;
        s->eos_id = t->eos_id + shift;
        s->eot_id = t->eot_id + shift;
        for (int i = 0; i < t->n_prefix; i++)
            s->prefix[s->n_prefix++] = t->prefix[i] + shift;
        bn_tokenizer_spec_find_eog(s);
    }
    bn_tokenizer_free(synth);
    return st;
}

/* OUT_DIR, made when missing. */
static int make_dir(const char *dir) {
    struct stat sb;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
        return 0;
    fprintf(stderr, "bitnet: error: %s: cannot make the folder: %s\n", dir,
            errno == EEXIST ? "a file of that name exists" : strerror(errno));
    return 1;
}

int bn_cmd_train_tokenizer(int argc, char **argv) {
    args a = {0};
    if ((a.files = calloc((size_t)argc + 1, sizeof *a.files)) == NULL)
        return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    int rc = parse(argc, argv, &a);
    bn_corpus c = {0};
    const char **texts = NULL;
    char json_path[4200], config_path[4200];
    snprintf(json_path, sizeof json_path, "%s/tokenizer.json", a.out ? a.out : ".");
    snprintf(config_path, sizeof config_path, "%s/tokenizer_config.json", a.out ? a.out : ".");
    for (int f = 0; rc == 0 && f < a.n_files; f++)
        if (bn_outfile_check_not_input(json_path, a.files[f], "an input text") != BN_OK ||
            bn_outfile_check_not_input(config_path, a.files[f], "an input text") != BN_OK)
            rc = bn_cli_usage_error("train-tokenizer", "%s", bn_last_error());
    double t0 = bn_time_s();
    if (rc == 0) {
        bn_status st = bn_corpus_read(&c, a.files, (size_t)a.n_files);
        if (st == BN_OK && (texts = malloc((c.n_docs + 1) * sizeof *texts)) == NULL)
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%zu documents", c.n_docs);
        for (size_t i = 0; st == BN_OK && i < c.n_docs; i++)
            texts[i] = c.text + c.doc_start[i];
        if (st != BN_OK)
            rc = bn_cli_fail(st);
    }
    if (rc == 0 && c.n_docs == 0) {
        fprintf(stderr, "bitnet: error: no text in the input files\n");
        rc = 1;
    }
    bn_tokenizer *tok = NULL;
    bn_tokenizer_spec *s = NULL;
    int32_t n_normal = a.vocab - a.special;
    if (rc == 0) {
        bn_status st = BN_OK;
        if ((s = calloc(1, sizeof *s)) == NULL)
            st = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tokenizer");
        else
            s->unk_id = s->bos_id = s->eos_id = s->eot_id = s->pad_id = -1;
        if (st == BN_OK)
            st = bn_tokenizer_spec_alloc(s, a.vocab, "tokenizer");
        if (st == BN_OK)
            st = bn_bpe_train_texts(s, n_normal, texts, c.doc_len, c.n_docs);
        if (st == BN_OK)
            st = add_specials(s, n_normal, a.special);
        if (st == BN_OK) { /* checked as a file's would be; takes s */
            st = bn_tokenizer_create(&tok, s);
            s = NULL;
        }
        if (st == BN_OK && (rc = make_dir(a.out)) == 0)
            st = bn_tokenizer_spec_write_hf(bn_tokenizer_spec_of(tok), a.out);
        if (st != BN_OK)
            rc = bn_cli_fail(st);
    }
    if (rc == 0)
        printf("wrote %s and tokenizer_config.json: %d tokens (%d merges from %zu documents, "
               "%.1f MB; %d special) in %.2f s\n",
               json_path, a.vocab, bn_tokenizer_spec_of(tok)->n_merges, c.n_docs,
               (double)c.len / 1e6, a.special, bn_time_s() - t0);
    bn_tokenizer_spec_free(s);
    bn_tokenizer_free(tok);
    bn_corpus_free(&c);
    free(texts);
    free(a.files);
    return rc < 0 ? 0 : rc;
}
