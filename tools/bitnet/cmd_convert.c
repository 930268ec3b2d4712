/*
 * cmd_convert.c - `bitnet convert HF_DIR OUT.gguf [--type T] [--embed-type E] [--head-type H]
 * [--report] [--json]`: a Hugging Face BitNet folder to a GGUF file llama.cpp reads (see
 * model/convert.h).
 */
#include "cli.h"
#include "report.h"

#include <stdio.h>
#include <string.h>

static void usage(void) {
    printf(
        "usage: bitnet convert HF_DIR OUT.gguf [--type T] [--embed-type E] [--head-type H]\n"
        "                      [--report] [--json]\n\n"
        "Convert a Hugging Face BitNet folder (packed autobitlinear/bitlinear checkpoints such as\n"
        "2B-4T, HF1BitLLM and Falcon3-1.58bit, bf16 master weights, or 1bitLLM latent weights)\n"
        "to GGUF with architecture 'bitnet'\n"
        "('bitnet-b1.58' for i2_s, as bitnet.cpp expects), llama.cpp's tensor names and the\n"
        "tokenizer from tokenizer.json.\n\n"
        "  --type T        linear layers: tq2_0 (default), tq1_0, i2_s, f16, bf16, f32\n"
        "  --embed-type E  embeddings (and a tied head): f16 (default), bf16, q8_0, f32\n"
        "  --head-type H   untied head: source (default: the checkpoint's own f32/f16/bf16),\n"
        "                  f16, bf16, q8_0, f32\n"
        "  --report        per-tensor error against the source, and a summary\n"
        "  --json          print the report as JSON\n\n"
        "TQ types keep the exact scale in a 1-element '<weight>.scale' f32 tensor (blocks hold\n"
        "d = 1); i2_s keeps it in its tail. The output appears only when complete.\n");
}

static int parse_type(const char *flag, const char *name, bn_dtype *out) {
    if (bn_dtype_from_name(name, out) != BN_OK)
        return bn_cli_usage_error("convert", "%s: unknown type '%s'", flag, name);
    return 0;
}

int bn_cmd_convert(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    bn_convert_options opt = {.type = BN_DTYPE_TQ2_0,
                              .embed_type = BN_DTYPE_F16,
                              .head_as_source = true,
                              .progress = bn_cli_progress};
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (bn_cli_is_help(a)) {
            usage();
            return 0;
        } else if (strcmp(a, "--type") == 0 || strcmp(a, "--embed-type") == 0) {
            if (i + 1 >= argc)
                return bn_cli_usage_error("convert", "%s needs a type name", a);
            int rc =
                parse_type(a, argv[++i], strcmp(a, "--type") == 0 ? &opt.type : &opt.embed_type);
            if (rc)
                return rc;
        } else if (strcmp(a, "--head-type") == 0) {
            if (i + 1 >= argc)
                return bn_cli_usage_error("convert", "%s needs a type name or 'source'", a);
            opt.head_as_source = strcmp(argv[++i], "source") == 0;
            int rc = opt.head_as_source ? 0 : parse_type(a, argv[i], &opt.head_type);
            if (rc)
                return rc;
        } else if (strcmp(a, "--report") == 0) {
            opt.report = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return bn_cli_usage_error("convert", "unknown option '%s'", a);
        } else if (n_paths < 2) {
            paths[n_paths++] = a;
        } else {
            return bn_cli_usage_error("convert", "too many paths ('%s')", a);
        }
    }
    if (n_paths != 2)
        return bn_cli_usage_error("convert", "want HF_DIR and OUT.gguf");
    if (json)
        opt.report = true;
    if (bn_convert_check_options(&opt) != BN_OK) /* a bad --type is a usage error */
        return bn_cli_usage_error("convert", "%s", bn_last_error());
    bn_convert_report report = {0, NULL};
    bn_status st = bn_convert_hf_to_gguf(paths[0], paths[1], &opt, &report);
    return bn_cli_finish_conversion(st, &report, opt.report, json, paths[1]);
}
