/* engine_args.c - the --kv-type / --head-type / --weight-layout / --device options of
 * engine_args.h. */
#include "engine_args.h"

#include <stdlib.h>
#include <string.h>

const char BN_CLI_ENGINE_HELP[] =
    "  --kv-type f16|f32      KV cache precision\n"
    "  --head-type q8_0|q6_k|q4_k|file|f32\n"
    "                         output head: q6_k (generation's default) re-encodes a head\n"
    "                         without an int8 kernel (f16, bf16, f32, q5_k, ...) as q6_k once\n"
    "                         at load (q8_0 where the hidden size is no multiple of 256) and\n"
    "                         keeps q8_0, q6_k and q4_k heads as they are; q8_0 and q4_k\n"
    "                         likewise; file runs the file's head as it is; f32 decodes its\n"
    "                         rows to float32 and dots them in float32 (exact)\n"
    "  --weight-layout auto|i2|t5\n"
    "                         runtime layout of the ternary layers: t5 (1.6 bits a weight,\n"
    "                         20% fewer bytes per token; auto's choice on AVX-512) or i2 (2\n"
    "                         bits; auto's choice elsewhere); the logits are identical\n"
    "  --device cpu|cuda[:N]|auto\n"
    "                         where the model runs (default cpu): cuda runs the whole\n"
    "                         forward pass on GPU N (0 first); auto takes the GPU when\n"
    "                         there is a usable one, else the CPU with an info line\n";

/* --head-type's words, in bn_cli_head's order; the re-encoding ones name the GGUF type. */
static const char *const HEAD_NAMES[] = {"q8_0", "q6_k", "q4_k", "file", "f32"};

bn_cli_engine bn_cli_engine_defaults(bool exact) {
    return (bn_cli_engine){.kv_type = exact ? BN_KV_F32 : BN_KV_F16,
                           .head = exact ? BN_CLI_HEAD_F32 : BN_CLI_HEAD_Q6_K};
}

bn_cli_opt bn_cli_engine_option(const char *cmd, int argc, char **argv, int *i, bn_cli_engine *e) {
    const char *o = argv[*i];
    bool kv = strcmp(o, "--kv-type") == 0, head = strcmp(o, "--head-type") == 0,
         layout = strcmp(o, "--weight-layout") == 0, device = strcmp(o, "--device") == 0;
    if (!kv && !head && !layout && !device)
        return BN_CLI_NOT_MINE;
    if (*i + 1 >= argc) {
        bn_cli_usage_error(cmd, "%s needs a value", o);
        return BN_CLI_BAD;
    }
    const char *v = argv[++*i];
    if (kv && (strcmp(v, "f16") == 0 || strcmp(v, "f32") == 0))
        e->kv_type = v[1] == '1' ? BN_KV_F16 : BN_KV_F32;
    else if (device) {
        char *end = NULL;
        if (strcmp(v, "cpu") == 0 || strcmp(v, "auto") == 0) {
            e->device = v[0] == 'c' ? BN_DEVICE_CPU : BN_DEVICE_AUTO;
        } else if (strncmp(v, "cuda", 4) == 0 && (v[4] == '\0' || v[4] == ':')) {
            long index = v[4] == ':' ? strtol(v + 5, &end, 10) : 0;
            if (v[4] == ':' && (end == v + 5 || *end != '\0' || index < 0 || index > 1023)) {
                bn_cli_usage_error(cmd, "%s %s: want cuda:N with N a GPU index", o, v);
                return BN_CLI_BAD;
            }
            e->device = BN_DEVICE_CUDA;
            e->device_index = (int)index;
        } else {
            bn_cli_usage_error(cmd, "%s %s: want cpu, cuda, cuda:N or auto", o, v);
            return BN_CLI_BAD;
        }
    } else if (layout) {
        if (strcmp(v, "auto") != 0 && strcmp(v, "i2") != 0 && strcmp(v, "t5") != 0) {
            bn_cli_usage_error(cmd, "%s %s: want auto, i2 or t5", o, v);
            return BN_CLI_BAD;
        }
        e->weight_layout = v;
    } else if (head) {
        size_t k = 0;
        while (k < sizeof HEAD_NAMES / sizeof HEAD_NAMES[0] && strcmp(v, HEAD_NAMES[k]) != 0)
            k++;
        if (k == sizeof HEAD_NAMES / sizeof HEAD_NAMES[0]) {
            bn_cli_usage_error(cmd, "%s %s: want q8_0, q6_k, q4_k, file or f32", o, v);
            return BN_CLI_BAD;
        }
        e->head = (bn_cli_head)k;
    } else {
        bn_cli_usage_error(cmd, "%s %s: want f16 or f32", o, v);
        return BN_CLI_BAD;
    }
    return BN_CLI_TAKEN;
}

bn_status bn_cli_load_model(const char *path, int threads, const bn_cli_engine *e, bn_model **out) {
    bn_model_params p = bn_model_default_params();
    p.n_threads = threads;
    bool reencode =
        e->head == BN_CLI_HEAD_Q8_0 || e->head == BN_CLI_HEAD_Q6_K || e->head == BN_CLI_HEAD_Q4_K;
    p.head_type = reencode ? HEAD_NAMES[e->head] : NULL;
    p.weight_layout = e->weight_layout;
    p.device = e->device;
    p.device_index = e->device_index;
    return bn_model_load(out, path, &p);
}

bn_status bn_cli_engine_context(const bn_cli_engine *e, const bn_model *m, int n_ctx, int threads,
                                bn_context **out) {
    bn_context_params p = bn_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = threads;
    p.kv_type = e->kv_type;
    p.float_head = e->head == BN_CLI_HEAD_F32;
    return bn_context_create(out, m, &p);
}
