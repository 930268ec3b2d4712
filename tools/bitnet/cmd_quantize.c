/*
 * cmd_quantize.c - `bitnet quantize IN.gguf OUT.gguf --type T [--report] [--json]`: re-encode
 * the linear layers of a GGUF file (see model/quantize.h).
 */
#include "cli.h"
#include "report.h"

#include "model/quantize.h"

#include <stdio.h>
#include <string.h>

static void usage(void) {
    printf("usage: bitnet quantize IN.gguf OUT.gguf --type T [--embed-type E] [--head-type H]\n"
           "                       [--report] [--json]\n\n"
           "Re-encode the linear (BitLinear) layers of a GGUF file; the rest is copied, but for\n"
           "the embeddings and head when --embed-type / --head-type name a type for them.\n"
           "Ternary types convert among themselves losslessly when the scale granularity allows:\n"
           "TQ files with one scale per block keep it in TQ types but cannot become i2_s (one\n"
           "scale per tensor) - that is refused with the reason. Float weights that are not\n"
           "ternary are ternarized with absmean.\n\n"
           "  --type T        tq2_0, tq1_0, i2_s, f16, bf16, f32\n"
           "  --embed-type E  token_embd in E: f32, f16, bf16, q8_0, or a k-quant (q6_k, q5_k,\n"
           "                  q4_k, q3_k, q2_k, q5_0, q5_1, q4_0, q4_1, iq4_nl); default: as is\n"
           "  --head-type H   output in H (the same types); with tied embeddings, H applies to\n"
           "                  token_embd unless --embed-type is given, as in llama-quantize\n"
           "  --report        per-tensor error of the linear layers against the input, and a\n"
           "                  summary\n"
           "  --json          print the report as JSON\n");
}

int bn_cmd_quantize(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    bool have_type = false, json = false;
    bn_convert_options opt = {
        .progress = bn_cli_progress, .embed_as_source = true, .head_as_source = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (bn_cli_is_help(a)) {
            usage();
            return 0;
        } else if (strcmp(a, "--type") == 0) {
            if (i + 1 >= argc)
                return bn_cli_usage_error("quantize", "--type needs a type name");
            if (bn_dtype_from_name(argv[++i], &opt.type) != BN_OK)
                return bn_cli_usage_error("quantize", "--type: unknown type '%s'", argv[i]);
            have_type = true;
        } else if (strcmp(a, "--embed-type") == 0 || strcmp(a, "--head-type") == 0) {
            bool embed = a[2] == 'e';
            if (i + 1 >= argc)
                return bn_cli_usage_error("quantize", "%s needs a type name", a);
            if (bn_dtype_from_name(argv[++i], embed ? &opt.embed_type : &opt.head_type) != BN_OK)
                return bn_cli_usage_error("quantize", "%s: unknown type '%s'", a, argv[i]);
            if (embed)
                opt.embed_as_source = false;
            else
                opt.head_as_source = false;
        } else if (strcmp(a, "--report") == 0) {
            opt.report = true;
        } else if (strcmp(a, "--json") == 0) {
            json = opt.report = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return bn_cli_usage_error("quantize", "unknown option '%s'", a);
        } else if (n_paths < 2) {
            paths[n_paths++] = a;
        } else {
            return bn_cli_usage_error("quantize", "too many paths ('%s')", a);
        }
    }
    if (n_paths != 2)
        return bn_cli_usage_error("quantize", "want IN.gguf and OUT.gguf");
    if (!have_type)
        return bn_cli_usage_error("quantize", "--type is required");
    if (bn_convert_check_options(&opt) != BN_OK)
        return bn_cli_usage_error("quantize", "%s", bn_last_error());
    bn_convert_report report = {0, NULL};
    bn_status st = bn_quantize_gguf(paths[0], paths[1], &opt, &report);
    return bn_cli_finish_conversion(st, &report, opt.report, json, paths[1]);
}
