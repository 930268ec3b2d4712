/*
 * cmd_info.c - `bitnet info PATH [--json]`: architecture, hyper-parameters, tokenizer and the
 * tensor table of a GGUF file or a Hugging Face folder, with totals and the effective bits per
 * weight of the linear (BitLinear) layers.
 */
#include "cli.h"
#include "info.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void bn_info_note(bn_info *info, const char *fmt, ...) {
    if (info->n_notes >= BN_INFO_MAX_NOTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->notes[info->n_notes++], sizeof info->notes[0], fmt, ap);
    va_end(ap);
}

bool bn_info_is_linear_name(const char *name) {
    static const char *const parts[] = {
        ".q_proj.",      ".k_proj.",    ".v_proj.", ".o_proj.",   ".gate_proj.",
        ".up_proj.",     ".down_proj.", ".attn_q.", ".attn_k.",   ".attn_v.",
        ".attn_output.", ".ffn_gate.",  ".ffn_up.", ".ffn_down.",
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(name, parts[i]) != NULL)
            return true;
    return false;
}

void bn_info_free(bn_info *info) {
    free(info->tensors);
    info->tensors = NULL;
}

typedef struct totals {
    uint64_t params, bytes, linear_params, linear_bytes;
} totals;

/* Scales count toward the linear layers' bytes but not their weights. */
static bool is_weight(const char *name) {
    size_t n = strlen(name);
    return n >= 7 && strcmp(name + n - 7, ".weight") == 0;
}

static totals sum_up(const bn_info *info) {
    totals t = {0, 0, 0, 0};
    for (int64_t i = 0; i < info->n_tensors; i++) {
        const bn_info_tensor *x = &info->tensors[i];
        t.bytes += x->bytes;
        if (is_weight(x->name) || !x->is_linear)
            t.params += x->params;
        if (x->is_linear) {
            t.linear_bytes += x->bytes;
            if (is_weight(x->name))
                t.linear_params += x->params;
        }
    }
    return t;
}

static const char *shape_text(const bn_info_tensor *t, char *buf, size_t size) {
    int n = snprintf(buf, size, "[");
    for (int d = 0; d < t->n_dims && n > 0 && (size_t)n < size; d++)
        n += snprintf(buf + n, size - (size_t)n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "]");
    return buf;
}

/* A single .safetensors file has tensors but no configuration. */
static bool has_config(const bn_info *info) {
    return strcmp(info->format, "safetensors") != 0;
}

static void print_config(const bn_info *info) {
    printf("architecture:  %s%s%s%s\n", bn_cli_shown(info->architecture),
           info->hf_class[0] ? " (" : "", bn_cli_shown(info->hf_class),
           info->hf_class[0] ? ")" : "");
    if (info->name[0])
        printf("name:          %s\n", bn_cli_shown(info->name));
    printf("shape:         hidden %lld, intermediate %lld, layers %lld, heads %lld, kv heads %lld, "
           "head_dim %lld, vocab %lld\n",
           (long long)info->hidden_size, (long long)info->intermediate_size,
           (long long)info->num_layers, (long long)info->num_heads, (long long)info->num_kv_heads,
           (long long)info->head_dim, (long long)info->vocab_size);
    printf("               context %lld, rope_theta %g, rms_norm_eps %g, activation %s, tied "
           "embeddings %s\n",
           (long long)info->context_length, info->rope_theta, info->rms_norm_eps,
           bn_cli_shown(info->hidden_act), info->tie_word_embeddings ? "yes" : "no");
    printf("quantization:  %s\n",
           info->quantization[0] ? bn_cli_shown(info->quantization) : "none");
}

static void print_text(const bn_info *info) {
    printf("file:          %s (%s)\n", bn_cli_shown(info->path), info->format);
    if (has_config(info)) /* a lone .safetensors file says so in a note */
        print_config(info);
    if (info->tok_vocab >= 0) {
        printf("tokenizer:     %s%s%s%s, %lld tokens, bos %lld, eos", bn_cli_shown(info->tok_model),
               info->tok_pre[0] ? " (pre " : "", bn_cli_shown(info->tok_pre),
               info->tok_pre[0] ? ")" : "", (long long)info->tok_vocab, (long long)info->bos_id);
        for (int i = 0; i < info->n_eos; i++)
            printf(" %lld", (long long)info->eos_ids[i]);
        if (info->eot_id >= 0)
            printf(", eot %lld", (long long)info->eot_id);
        printf("\n");
    } else {
        printf("tokenizer:     none\n");
    }
    for (int i = 0; i < info->n_notes; i++)
        printf("note:          %s\n", bn_cli_shown(info->notes[i]));
    printf("\n%-48s %-6s %-16s %12s\n", "tensor", "dtype", "shape", "bytes");
    char buf[96];
    for (int64_t i = 0; i < info->n_tensors; i++) {
        const bn_info_tensor *t = &info->tensors[i];
        printf("%-48s %-6s %-16s %12llu\n", bn_cli_shown(t->name), t->dtype,
               shape_text(t, buf, sizeof buf), (unsigned long long)t->bytes);
    }
    totals t = sum_up(info);
    printf("\ntotal:         %lld tensors, %llu parameters, %llu bytes (%.2f MiB)\n",
           (long long)info->n_tensors, (unsigned long long)t.params, (unsigned long long)t.bytes,
           (double)t.bytes / (1024.0 * 1024.0));
    if (t.linear_params > 0)
        printf("linear layers: %llu weights in %llu bytes: %.4f bits per weight\n",
               (unsigned long long)t.linear_params, (unsigned long long)t.linear_bytes,
               8.0 * (double)t.linear_bytes / (double)t.linear_params);
}

static void add_ids(cJSON *o, const char *key, const int64_t *ids, int n) {
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)ids[i]));
}

/* Text fields come from the file: made valid UTF-8 (bn_cli_json_text). */
static void add_config(cJSON *o, const bn_info *info) {
    bn_cli_json_add_text(o, "architecture", info->architecture);
    if (info->hf_class[0])
        bn_cli_json_add_text(o, "hf_architecture", info->hf_class);
    bn_cli_json_add_text(o, "name", info->name);
    cJSON_AddNumberToObject(o, "hidden_size", (double)info->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)info->intermediate_size);
    cJSON_AddNumberToObject(o, "num_layers", (double)info->num_layers);
    cJSON_AddNumberToObject(o, "num_heads", (double)info->num_heads);
    cJSON_AddNumberToObject(o, "num_kv_heads", (double)info->num_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)info->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", (double)info->vocab_size);
    cJSON_AddNumberToObject(o, "context_length", (double)info->context_length);
    cJSON_AddNumberToObject(o, "rope_theta", info->rope_theta);
    cJSON_AddNumberToObject(o, "rms_norm_eps", info->rms_norm_eps);
    bn_cli_json_add_text(o, "hidden_act", info->hidden_act);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", info->tie_word_embeddings);
    bn_cli_json_add_text(o, "quantization", info->quantization);
}

static int print_json(const bn_info *info) {
    cJSON *o = cJSON_CreateObject();
    bn_cli_json_add_text(o, "path", info->path);
    cJSON_AddStringToObject(o, "format", info->format);
    if (has_config(info))
        add_config(o, info);
    cJSON *tok = cJSON_AddObjectToObject(o, "tokenizer");
    bn_cli_json_add_text(tok, "model", info->tok_model);
    bn_cli_json_add_text(tok, "pre", info->tok_pre);
    cJSON_AddNumberToObject(tok, "vocab_size", (double)info->tok_vocab);
    cJSON_AddNumberToObject(tok, "bos_id", (double)info->bos_id);
    add_ids(tok, "eos_ids", info->eos_ids, info->n_eos);
    cJSON_AddNumberToObject(tok, "eot_id", (double)info->eot_id);
    cJSON_AddNumberToObject(tok, "pad_id", (double)info->pad_id);
    cJSON *notes = cJSON_AddArrayToObject(o, "notes");
    for (int i = 0; i < info->n_notes; i++)
        cJSON_AddItemToArray(notes, bn_cli_json_text(info->notes[i]));
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (int64_t i = 0; i < info->n_tensors; i++) {
        const bn_info_tensor *t = &info->tensors[i];
        cJSON *x = cJSON_CreateObject();
        bn_cli_json_add_text(x, "name", t->name);
        cJSON_AddStringToObject(x, "dtype", t->dtype);
        add_ids(x, "shape", t->shape, t->n_dims);
        cJSON_AddNumberToObject(x, "bytes", (double)t->bytes);
        cJSON_AddItemToArray(ts, x);
    }
    totals t = sum_up(info);
    cJSON *tot = cJSON_AddObjectToObject(o, "totals");
    cJSON_AddNumberToObject(tot, "tensors", (double)info->n_tensors);
    cJSON_AddNumberToObject(tot, "parameters", (double)t.params);
    cJSON_AddNumberToObject(tot, "bytes", (double)t.bytes);
    cJSON_AddNumberToObject(tot, "linear_parameters", (double)t.linear_params);
    cJSON_AddNumberToObject(tot, "linear_bytes", (double)t.linear_bytes);
    cJSON_AddNumberToObject(tot, "linear_bits_per_weight",
                            t.linear_params ? 8.0 * (double)t.linear_bytes / (double)t.linear_params
                                            : 0.0);
    return bn_cli_print_json(o);
}

static void usage(void) {
    printf("usage: bitnet info PATH [--json]\n\n"
           "PATH is a GGUF file, a Hugging Face model folder (config.json + safetensors) or a\n"
           "single .safetensors file.\n"
           "Prints the architecture and hyper-parameters, a tokenizer summary, the tensor table\n"
           "(shapes outermost first) and the effective bits per weight of the linear layers.\n\n"
           "  --json   one JSON object on stdout\n");
}

int bn_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (bn_cli_is_help(argv[i])) {
            usage();
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return bn_cli_usage_error("info", "unknown option '%s'", argv[i]);
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return bn_cli_usage_error("info", "one PATH only ('%s' is extra)", argv[i]);
        }
    }
    if (path == NULL)
        return bn_cli_usage_error("info", "missing PATH");
    bn_info info;
    memset(&info, 0, sizeof info);
    info.bos_id = info.eot_id = info.pad_id = info.tok_vocab = -1;
    snprintf(info.path, sizeof info.path, "%s", path);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "bitnet: error: %s: no such file or folder\n", path);
        return 1;
    }
    bn_status st;
    size_t len = strlen(path);
    if (S_ISDIR(sb.st_mode))
        st = bn_info_from_hf(&info, path);
    else if (len >= 12 && strcmp(path + len - 12, ".safetensors") == 0)
        st = bn_info_from_safetensors(&info, path);
    else
        st = bn_info_from_gguf(&info, path);
    if (st != BN_OK) {
        bn_info_free(&info);
        return bn_cli_fail(st);
    }
    int rc = json ? print_json(&info) : (print_text(&info), 0);
    bn_info_free(&info);
    return rc;
}
