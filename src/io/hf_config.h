/*
 * hf_config.h - a Hugging Face model folder's config.json (and generation_config.json) as one
 * model-config struct.
 *
 * Covers BitNet (model_type "bitnet", BitNetForCausalLM: sub-norms, relu2), LLaMA-architecture
 * ternary checkpoints (LlamaForCausalLM with quantization_config.quant_method "bitnet": no
 * sub-norms, SiLU), and 1bitLLM's BitnetForCausalLM (SiLU, sub-norm names inner_attn_ln /
 * ffn_layernorm, latent float weights). Missing keys take transformers' own defaults for that
 * model_type (facts §1.1 and Trap 9: BitNetConfig defaults are not the 2B-4T values).
 */
#ifndef BN_IO_HF_CONFIG_H
#define BN_IO_HF_CONFIG_H

#include "base/status.h"

#include <stdbool.h>
#include <stdint.h>

#define BN_HF_MAX_IDS         8
#define BN_HF_MAX_NOT_CONVERT 16

typedef enum bn_hf_family {
    BN_HF_BITNET = 0,       /* model_type bitnet: microsoft/bitnet-b1.58-2B-4T and kin */
    BN_HF_LLAMA_BITNET = 1, /* model_type llama + quant_method bitnet (HF1BitLLM, Falcon3) */
    BN_HF_1BITLLM = 2,      /* architectures BitnetForCausalLM (1bitLLM/bitnet_b1_58-*) */
} bn_hf_family;

typedef enum bn_hf_act { BN_HF_ACT_RELU2 = 0, BN_HF_ACT_SILU = 1 } bn_hf_act;

typedef enum bn_hf_linear_class {
    BN_HF_LINEAR_NONE = 0,         /* no quantization_config: latent float weights */
    BN_HF_LINEAR_BITLINEAR = 1,    /* weight_scale = 1/gamma: divide */
    BN_HF_LINEAR_AUTOBITLINEAR = 2 /* weight_scale = gamma: multiply */
} bn_hf_linear_class;

typedef enum bn_hf_quant_mode {
    BN_HF_QUANT_NONE = 0,
    BN_HF_QUANT_OFFLINE = 1, /* packed uint8 weights + weight_scale */
    BN_HF_QUANT_ONLINE = 2,  /* float master weights, absmean at load */
} bn_hf_quant_mode;

typedef struct bn_hf_config {
    char model_type[32];
    char architecture[64]; /* architectures[0] */
    bn_hf_family family;
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t num_layers;
    int64_t num_heads;
    int64_t num_kv_heads; /* defaults to num_heads */
    int64_t head_dim;     /* defaults to hidden / heads */
    int64_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    char rope_scaling_type[32]; /* "" when rope_scaling is null/absent */
    double rope_scaling_factor; /* 1 when absent */
    bn_hf_act hidden_act;
    bool tie_word_embeddings;
    bool has_sub_norms;  /* attn_sub_norm / ffn_sub_norm present in the graph */
    bool attention_bias; /* q/k/v/o carry biases (LlamaConfig.attention_bias; false if absent) */
    bool mlp_bias;       /* gate/up/down carry biases (LlamaConfig.mlp_bias; false if absent) */
    int64_t input_bits;  /* 1bitLLM's activation bits (input_bits); 8 when absent */
    int64_t bos_ids[BN_HF_MAX_IDS];
    int n_bos;
    int64_t eos_ids[BN_HF_MAX_IDS]; /* config eos plus generation_config eos, deduplicated */
    int n_eos;
    int64_t pad_id; /* -1 when absent */
    /* quantization_config */
    bool quantized; /* quant_method == "bitnet" */
    bn_hf_linear_class linear_class;
    bn_hf_quant_mode quant_mode;
    bool use_rms_norm; /* BitLinear's optional inner RMSNorm */
    char modules_not_convert[BN_HF_MAX_NOT_CONVERT][64];
    int n_modules_not_convert;
    char torch_dtype[16];
} bn_hf_config;

/* Parse config.json in dir (and generation_config.json when present). Errors name the file and
 * the key (BN_ERR_FORMAT for bad JSON or wrong types, BN_ERR_UNSUPPORTED for an unknown
 * model_type / architectures[0] / activation / linear class, BN_ERR_RANGE for values out of
 * range). Keys that parse but describe a graph the engine lacks (rope scaling, biases,
 * use_rms_norm) are recorded here and refused by the converter (model/convert.h). */
bn_status bn_hf_config_load(bn_hf_config *cfg, const char *dir);

/* A whole JSON file of an HF folder (config, tokenizer) into *out, NUL-terminated; the caller
 * frees it. *out is NULL for a missing optional file. BN_ERR_NOT_FOUND for a missing required
 * one, BN_ERR_RANGE above max_bytes, BN_ERR_IO for what is not a regular readable file. */
bn_status bn_hf_read_file(const char *path, bool required, size_t max_bytes, char **out,
                          size_t *len);

/* The same from JSON text (config, and generation config or NULL), for tests and fuzzers. */
bn_status bn_hf_config_parse(bn_hf_config *cfg, const char *config_json, size_t config_len,
                             const char *generation_json, size_t generation_len, const char *name);

const char *bn_hf_family_name(bn_hf_family f);
const char *bn_hf_act_name(bn_hf_act a);
const char *bn_hf_linear_class_name(bn_hf_linear_class c);

#endif /* BN_IO_HF_CONFIG_H */
