/*
 * main.c - the `bitnet` command: dispatches to one file per subcommand.
 */
#include "cli.h"

#include "base/status.h"
#include "text/tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct command {
    const char *name;
    bn_cli_fn fn;
    const char *summary;
} command;

static const command commands[] = {
    {"sysinfo", bn_cmd_sysinfo, "CPU model and features, kernel path, threads, CUDA devices"},
    {"selftest", bn_cmd_selftest, "check every fast kernel path against its scalar reference"},
    {"info", bn_cmd_info, "architecture, tokenizer and tensor table of a GGUF file or HF folder"},
    {"convert", bn_cmd_convert, "Hugging Face BitNet folder -> GGUF (tq2_0, tq1_0, i2_s, ...)"},
    {"quantize", bn_cmd_quantize, "re-encode the linear layers of a GGUF in another type"},
    {"synth", bn_cmd_synth, "a GGUF model with random weights and a real shape, for benchmarks"},
    {"run", bn_cmd_run, "generate text from a prompt (streams to stdout)"},
    {"chat", bn_cmd_chat, "talk with a chat model: lines of stdin in, replies out"},
    {"logits", bn_cmd_logits, "write a prompt's logits as a NumPy .npy file"},
    {"perplexity", bn_cmd_perplexity, "perplexity over a text file, in windows (as llama.cpp)"},
    {"tokenize", bn_cmd_tokenize, "text -> token ids and pieces, with a model's tokenizer"},
    {"detokenize", bn_cmd_detokenize, "token ids -> text"},
    {"bench", bn_cmd_bench, "benchmarks: model (pp/tg tokens/s), kernels, tokenizer"},
};

static int read_all(FILE *f, const char *name, bn_bytes *out) {
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        if (bn_bytes_append(out, buf, got) != BN_OK)
            return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    if (ferror(f)) {
        fprintf(stderr, "bitnet: error: %s: read failed: %s\n", name, strerror(errno));
        return 1;
    }
    return 0;
}

int bn_cli_read_input(const char *file, bn_bytes *text) {
    if (strcmp(file, "-") == 0)
        return read_all(stdin, "stdin", text);
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "bitnet: error: %s: cannot open: %s\n", file, strerror(errno));
        return 1;
    }
    int rc = read_all(f, file, text);
    fclose(f);
    return rc;
}

static void print_help(FILE *out) {
    fprintf(out, "bitnet %s - 1.58-bit (ternary) neural networks\n\n", bn_version());
    fprintf(out,
            "usage: bitnet <command> [options]    (bitnet <command> --help for its options)\n\n");
    fprintf(out, "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n  --version  print the version\n  --help     print this help\n");
    fprintf(out, "\nenvironment:\n"
                 "  BITNET_LOG=error|warn|info|debug   log level on stderr (default warn)\n"
                 "  BITNET_CPU=scalar|avx2|avx512|neon cap the CPU kernel path\n");
}

int bn_cli_fail(bn_status status) {
    const char *msg = bn_last_error();
    fprintf(stderr, "bitnet: error: %s\n", msg[0] ? msg : bn_status_str(status));
    return 1;
}

int bn_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bitnet %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see bitnet %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int bn_cli_print_json(struct cJSON *root) {
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        fprintf(stderr, "bitnet: error: out of memory printing JSON\n");
        return 1;
    }
    puts(text);
    cJSON_free(text);
    return 0;
}

bool bn_cli_parse_int(const char *s, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

bool bn_cli_is_help(const char *arg) {
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

bn_cli_opt bn_cli_threads_option(const char *cmd, int argc, char **argv, int *i, int *threads) {
    const char *opt = argv[*i];
    if (strcmp(opt, "-t") != 0 && strcmp(opt, "--threads") != 0)
        return BN_CLI_NOT_MINE;
    if (*i + 1 >= argc) {
        bn_cli_usage_error(cmd, "%s needs a thread count", opt);
        return BN_CLI_BAD;
    }
    const char *text = argv[++*i];
    if (!bn_cli_parse_int(text, 1, 1024, threads)) {
        bn_cli_usage_error(cmd, "thread count '%s' is not 1..1024", text);
        return BN_CLI_BAD;
    }
    return BN_CLI_TAKEN;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (bn_cli_is_help(argv[1])) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("bitnet %s\n", bn_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "bitnet: unknown command '%s' (see bitnet --help)\n", argv[1]);
    return 2;
}
