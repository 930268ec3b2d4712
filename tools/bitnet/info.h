/*
 * info.h - what `bitnet info` reports about a model, whatever file it came from.
 *
 * info_gguf.c and info_hf.c fill a bn_info from a GGUF file or a Hugging Face folder;
 * cmd_info.c prints it as text or JSON. Shapes are outermost first (PyTorch order) for both
 * sources, so the same model reads the same way from either.
 */
#ifndef BN_CLI_INFO_H
#define BN_CLI_INFO_H

#include "base/status.h"

#include <stdbool.h>
#include <stdint.h>

#define BN_INFO_MAX_NOTES 8
#define BN_INFO_MAX_IDS   8

typedef struct bn_info_tensor {
    char name[128];
    char dtype[24]; /* our name: "bf16", "tq2_0", "hf2" (HF packed ternary), "u8", ... */
    int n_dims;
    int64_t shape[8]; /* logical shape, outermost first */
    uint64_t bytes;   /* bytes stored */
    uint64_t params;  /* logical values */
    bool is_linear;   /* a BitLinear weight (q/k/v/o/gate/up/down), or its scale */
} bn_info_tensor;

typedef struct bn_info {
    char path[1024];
    char format[32];       /* "gguf" or "huggingface" */
    char architecture[64]; /* GGUF general.architecture or HF model_type */
    char hf_class[64];     /* HF architectures[0], "" for GGUF */
    char name[128];        /* general.name, "" when absent */
    int64_t hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads, head_dim;
    int64_t vocab_size, context_length;
    double rope_theta, rms_norm_eps;
    char hidden_act[16]; /* "relu2", "silu" */
    bool tie_word_embeddings;
    char quantization[128]; /* e.g. "bitnet autobitlinear offline", "" when none */
    /* tokenizer */
    char tok_model[32]; /* "gpt2"/"llama" (GGUF) or "BPE"/"Unigram"... (tokenizer.json) */
    char tok_pre[32];
    int64_t tok_vocab;              /* tokens in the tokenizer, -1 when there is none */
    int64_t bos_id, eot_id, pad_id; /* -1 when absent */
    int64_t eos_ids[BN_INFO_MAX_IDS];
    int n_eos;
    char notes[BN_INFO_MAX_NOTES][256];
    int n_notes;
    bn_info_tensor *tensors;
    int64_t n_tensors;
} bn_info;

bn_status bn_info_from_gguf(bn_info *info, const char *path);
bn_status bn_info_from_hf(bn_info *info, const char *dir);
bn_status bn_info_from_safetensors(bn_info *info, const char *path);

/* Add a note (ignored past BN_INFO_MAX_NOTES). */
void bn_info_note(bn_info *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether a tensor name is a BitLinear weight or scale in either naming (HF or GGUF). */
bool bn_info_is_linear_name(const char *name);

void bn_info_free(bn_info *info);

#endif /* BN_CLI_INFO_H */
