/*
 * cmd_synth.c - `bitnet synth --shape NAME --type T [--seed S] OUT.gguf`: a model with random
 * weights and a real shape, for benchmarks (see model/synth.h).
 */
#include "cli.h"
#include "report.h"

#include "base/timer.h"
#include "model/synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(void) {
    printf("usage: bitnet synth --shape NAME --type T [--embed-type E] [--seed S] OUT.gguf\n\n"
           "Write a GGUF model with random ternary weights in the shape of a real one, and a\n"
           "working byte-level BPE tokenizer of its vocabulary size, for benchmarks. It is named\n"
           "'random-NAME' so that it cannot pass for a trained model; `bitnet run` on it gives\n"
           "nonsense, fast.\n\n"
           "  --shape NAME  one of:\n");
    for (int i = 0; bn_synth_shape_at(i) != NULL; i++) {
        const bn_synth_shape *s = bn_synth_shape_at(i);
        printf("                  %-15s %s: %d layers, hidden %d, ffn %d, vocab %d\n", s->name,
               s->model, s->n_layers, s->dim, s->ffn_dim, s->n_vocab);
    }
    printf("  --type T      linear layers: tq2_0, tq1_0 or i2_s (same values and logits in each;\n"
           "                the TQ types need rows of 256 weights, i2_s rows*cols of 128: only\n"
           "                i2_s holds bitnet-3b and bitnet-xl)\n"
           "  --embed-type E  embeddings (and an untied head): f16 (default), f32, bf16, q8_0 or\n"
           "                a k-quant (q6_k, q4_k, ...), as llama-quantize would write them\n"
           "  --seed S      random seed, 0..2^64-1 (default 1); a seed gives the same file\n");
}

static int parse_seed(const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        return bn_cli_usage_error("synth", "seed '%s' is not a number 0..2^64-1", text);
    *out = (uint64_t)v;
    return 0;
}

int bn_cmd_synth(int argc, char **argv) {
    const char *shape = NULL, *type_name = NULL, *embed_name = "f16", *out = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (bn_cli_is_help(a)) {
            usage();
            return 0;
        } else if (strcmp(a, "--shape") == 0 || strcmp(a, "--type") == 0 ||
                   strcmp(a, "--embed-type") == 0 || strcmp(a, "--seed") == 0) {
            if (i + 1 >= argc)
                return bn_cli_usage_error("synth", "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--shape") == 0)
                shape = v;
            else if (strcmp(a, "--type") == 0)
                type_name = v;
            else if (strcmp(a, "--embed-type") == 0)
                embed_name = v;
            else if (parse_seed(v, &seed) != 0)
                return 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            return bn_cli_usage_error("synth", "unknown option '%s'", a);
        } else if (out == NULL) {
            out = a;
        } else {
            return bn_cli_usage_error("synth", "too many paths ('%s')", a);
        }
    }
    const bn_synth_shape *s = NULL;
    bn_dtype type;
    if (shape == NULL)
        return bn_cli_usage_error("synth", "want --shape NAME (see bitnet synth --help)");
    if (bn_synth_shape_find(shape, &s) != BN_OK)
        return bn_cli_usage_error("synth", "%s", bn_last_error());
    if (type_name == NULL)
        return bn_cli_usage_error("synth", "want --type (tq2_0, tq1_0, i2_s)");
    if (bn_dtype_from_name(type_name, &type) != BN_OK ||
        (type != BN_DTYPE_TQ2_0 && type != BN_DTYPE_TQ1_0 && type != BN_DTYPE_I2_S))
        return bn_cli_usage_error("synth", "--type '%s': want tq2_0, tq1_0 or i2_s", type_name);
    bn_dtype embed;
    if (bn_dtype_from_name(embed_name, &embed) != BN_OK || !bn_convert_is_table_type(embed))
        return bn_cli_usage_error("synth",
                                  "--embed-type '%s': want f16, f32, bf16, q8_0 or a k-quant "
                                  "(q6_k, q4_k, ...)",
                                  embed_name);
    if (out == NULL)
        return bn_cli_usage_error("synth", "want the output path OUT.gguf");
    double t0 = bn_time_s();
    bn_synth_options o = {.type = type,
                          .embed_type = embed,
                          .seed = seed,
                          .progress = bn_cli_progress,
                          .progress_ctx = NULL};
    bn_status st = bn_synth_write_shape(out, s, &o);
    if (st != BN_OK)
        return bn_cli_fail(st);
    struct stat sb;
    double mb = stat(out, &sb) == 0 ? (double)sb.st_size / 1e6 : 0;
    printf("wrote %s: random-%s, %s, embeddings %s, seed %llu, %.1f MB in %.2f s\n", out, s->name,
           bn_dtype_name(type), bn_dtype_name(embed), (unsigned long long)seed, mb,
           bn_time_s() - t0);
    return 0;
}
