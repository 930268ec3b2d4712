/*
 * convert.h - Hugging Face BitNet folder -> GGUF (architecture "bitnet", llama.cpp's names).
 *
 * Reads any of the checkpoints hf_config.h describes: packed autobitlinear/bitlinear weights
 * (unpacked, scale convention resolved here), float master weights (absmean-ternarized on the
 * way, exactly as transformers' online quantization does) and 1bitLLM latent weights. Writes the
 * linear layers in the asked type, embeddings in the embedding type, an untied head in its own
 * type, norms in f32, and the tokenizer in tokenizer.ggml.*. One tensor is in memory at a time.
 *
 * The variants map onto one graph (architecture "bitnet", see docs/ARCHITECTURE.md):
 *   2B-4T (BitNetForCausalLM)      relu2 FFN, attn_sub_norm / ffn_sub_norm, weight_scale = gamma
 *   LLaMA + quant_method bitnet    silu FFN, no sub-norms, bitlinear weight_scale = 1/gamma,
 *   (HF1BitLLM, Falcon3-1.58bit)   float lm_head kept unquantized (output.weight)
 *   1bitLLM BitnetForCausalLM      silu FFN, sub-norms from inner_attn_ln / ffn_layernorm,
 *                                  fp16 latent weights ternarized here
 * Everything is checked before the first byte is written: every tensor the graph needs exists
 * with its shape and dtype, no tensor is left over (a bias, BitLinear's own RMSNorm weights, a
 * layer too many), and config features the engine lacks (rope scaling, biases, use_rms_norm,
 * float linears in modules_to_not_convert, input_bits != 8) are refused, each error naming the
 * tensor or key.
 *
 * Ternary GGUF types keep the exact float32 per-tensor scale: TQ1_0/TQ2_0 blocks hold d = 1 and
 * a 1-element f32 `<name>.scale` tensor beside each weight carries gamma (llama.cpp's bitnet
 * graph multiplies by it); I2_S stores gamma in its tail. Float types store W_t * gamma.
 */
#ifndef BN_MODEL_CONVERT_H
#define BN_MODEL_CONVERT_H

#include "quant/metrics.h"
#include "tensor/dtype.h"

#include <stdbool.h>

/* bn_progress_fn is the public API's (bitnet.h). */

typedef struct bn_convert_options {
    bn_dtype type;        /* linear layers: tq1_0, tq2_0, i2_s, f16, bf16, f32 */
    bn_dtype embed_type;  /* embeddings (and so a tied head): bn_convert_is_table_type */
    bn_dtype head_type;   /* untied head (lm_head), likewise ... */
    bool head_as_source;  /* ... or, when set, the checkpoint's own f32/f16/bf16, unchanged */
    bool embed_as_source; /* embeddings likewise in the checkpoint's own float type */
    bool report;          /* measure each tensor's error against the source */
    bn_progress_fn progress;
    void *progress_ctx;
} bn_convert_options;

typedef struct bn_tensor_report {
    char name[96];   /* GGUF name */
    char type[16];   /* type written */
    char source[16]; /* "hf2", "bf16 master", ... */
    bn_quant_metrics m;
} bn_tensor_report;

typedef struct bn_convert_report {
    int64_t n;
    bn_tensor_report *tensors; /* malloc'd; free with bn_convert_report_free */
} bn_convert_report;

/* Convert. On failure nothing is left at out_path (the writer works on a temporary file). An
 * out_path that is one of the folder's own files is refused (BN_ERR_INVALID_ARG).
 * report may be NULL when opt->report is false. */
bn_status bn_convert_hf_to_gguf(const char *hf_dir, const char *out_path,
                                const bn_convert_options *opt, bn_convert_report *report);

/* The same conversion into memory: *data (pages, see bn_gguf_writer_finish_memory) holds the
 * GGUF file, *size its bytes. opt->report is ignored. */
bn_status bn_convert_hf_to_memory(const char *hf_dir, const bn_convert_options *opt, void **data,
                                  size_t *size);

void bn_convert_report_free(bn_convert_report *r);

/* Shared by convert and quantize (model/quantize.h). */

/* BN_ERR_INVALID_ARG when out_path is one of the files of the Hugging Face folder (its JSON,
 * safetensors and tokenizer.model files, which a conversion or a run reads): writing it would
 * replace an input. */
bn_status bn_convert_check_not_input(const char *hf_dir, const char *out_path);

/* The option checks convert runs first (BN_ERR_INVALID_ARG naming the option), for a caller
 * that wants to tell a bad option from a failed conversion. */
bn_status bn_convert_check_options(const bn_convert_options *opt);

/* Whether t is a type the linear layers can be written in (tq2_0, tq1_0, i2_s, f16, bf16, f32);
 * BN_ERR_INVALID_ARG naming them otherwise. */
bn_status bn_convert_check_linear_type(bn_dtype t);

/* Whether embeddings or a head can be written in t: a GGUF type with row encoder and decoder,
 * neither ternary nor integer (f32, f16, bf16, q8_0 and llama.cpp's k-quants). */
bool bn_convert_is_table_type(bn_dtype t);

/* TQ types keep the per-tensor scale in a 1-element f32 `.scale` tensor beside the weight. */
bool bn_convert_has_scale_tensor(bn_dtype t);

/* Append one tensor's errors (ref against approx, n values) to r; stored_bytes counts every
 * byte written for it (with its .scale tensor), for the bits per weight. r may be NULL. */
void bn_convert_report_add(bn_convert_report *r, const char *name, bn_dtype type,
                           const char *source, const float *ref, const float *approx, int64_t n,
                           size_t stored_bytes);

/* Whether a linear layer of [rows, cols] can be stored as type, with BN_ERR_SHAPE naming the
 * types that would work when not. */
bn_status bn_convert_check_linear_shape(bn_dtype type, int64_t rows, int64_t cols,
                                        const char *name);

#endif /* BN_MODEL_CONVERT_H */
