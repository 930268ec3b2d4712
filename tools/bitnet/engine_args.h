/*
 * engine_args.h - the precision options every command that runs a model shares:
 *   --kv-type f16|f32     the KV cache (f16 halves its bytes; f32 is exact)
 *   --weight-layout auto|i2|t5  the ternary layers' runtime layout (bn_model_params)
 *   --device cpu|cuda[:N]|auto   where the forward pass runs (bn_model_params.device)
 *   --head-type q8_0|q6_k|q4_k|file|f32  the output head (q8_0, q6_k or q4_k re-encode a head
 *                         without an int8 kernel once at load, which halves (q8_0) or more
 *                         what each generated token reads from an f16 head; q6_k/q4_k/q8_0
 *                         heads in the file stay; f32 is exact)
 * Generation and benchmarks default to f16 and q6_k (perplexity of a trained model: +0.05%
 * against the f16 head, q8_0 +0.005%, q4_k +0.22%; bench/RESULTS.md), falling back to q8_0 for
 * hidden sizes that are no multiple of 256; `bitnet logits`, whose purpose is to be
 * compared with float references, defaults to --kv-type f32 and --head-type f32.
 */
#ifndef BN_CLI_ENGINE_ARGS_H
#define BN_CLI_ENGINE_ARGS_H

#include "cli.h"

typedef enum bn_cli_head {
    BN_CLI_HEAD_Q8_0, /* generation: a head without an int8 kernel re-encoded as q8_0 */
    BN_CLI_HEAD_Q6_K, /* ... as q6_k (q8_0 where the hidden size is no multiple of 256) */
    BN_CLI_HEAD_Q4_K, /* ... as q4_k (likewise) */
    BN_CLI_HEAD_FILE, /* the file's head as it is (its int8 kernel when it has one) */
    BN_CLI_HEAD_F32,  /* the file's rows decoded to float32, dotted in float32: exact */
} bn_cli_head;

typedef struct bn_cli_engine {
    bn_kv_type kv_type;
    bn_cli_head head;
    const char *weight_layout; /* --weight-layout: NULL (auto), "auto", "i2" or "t5" */
    bn_device device;          /* --device: cpu (the default until the CUDA pass has been
                                  held to the CPU's on a GPU machine), cuda[:N] or auto */
    int device_index;
} bn_cli_engine;

extern const char BN_CLI_ENGINE_HELP[];

bn_cli_engine bn_cli_engine_defaults(bool exact);

/* --kv-type / --head-type / --weight-layout / --device: BN_CLI_TAKEN, BN_CLI_BAD (usage error
 * printed) or BN_CLI_NOT_MINE. */
bn_cli_opt bn_cli_engine_option(const char *cmd, int argc, char **argv, int *i, bn_cli_engine *e);

/* Load a model for this CPU's kernel path, repacking with threads threads (0 = all), its head
 * as e asks (q8_0: the public API's "a head the int8 kernels run"). */
bn_status bn_cli_load_model(const char *path, int threads, const bn_cli_engine *e, bn_model **out);

/* A context of n_ctx positions (0 = the model's) on threads threads (0 = all). */
bn_status bn_cli_engine_context(const bn_cli_engine *e, const bn_model *m, int n_ctx, int threads,
                                bn_context **out);

#endif /* BN_CLI_ENGINE_ARGS_H */
