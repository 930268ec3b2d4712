/*
 * hparams.c - the hyper-parameter keys of a BitNet GGUF file (see hparams.h).
 */
#include "model/hparams.h"

#include <stdio.h>

const char *bn_hparams_arch(bn_dtype linear_type) {
    return linear_type == BN_DTYPE_I2_S ? "bitnet-b1.58" : "bitnet";
}

uint32_t bn_hparams_file_type(bn_dtype linear_type) {
    switch (linear_type) {
    case BN_DTYPE_F32:
        return 0;
    case BN_DTYPE_F16:
        return 1;
    case BN_DTYPE_BF16:
        return 32;
    case BN_DTYPE_TQ1_0:
        return 36;
    case BN_DTYPE_TQ2_0:
        return 37;
    case BN_DTYPE_I2_S:
        return 40;
    default:
        return 0;
    }
}

bn_status bn_hparams_write_gguf(const bn_hparams *h, bn_gguf_writer *w) {
    const char *arch = bn_hparams_arch(h->linear_type);
    char key[128];
    BN_TRY(bn_gguf_writer_set_str(w, "general.architecture", arch));
    BN_TRY(bn_gguf_writer_set_str(w, "general.name", h->name));
    BN_TRY(bn_gguf_writer_set_u32(w, "general.file_type", bn_hparams_file_type(h->linear_type)));
    BN_TRY(bn_gguf_writer_set_u32(w, "general.quantization_version", 2));
    struct {
        const char *suffix;
        int64_t value;
    } ints[] = {
        {"vocab_size", h->vocab_size},
        {"context_length", h->context_length},
        {"embedding_length", h->embedding_length},
        {"block_count", h->block_count},
        {"feed_forward_length", h->feed_forward_length},
        {"rope.dimension_count", h->head_dim},
        {"attention.head_count", h->head_count},
        {"attention.head_count_kv", h->head_count_kv},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, ints[i].suffix);
        if (ints[i].value < 0 || ints[i].value > (int64_t)UINT32_MAX)
            return BN_ERROR(BN_ERR_RANGE, "%s = %lld does not fit a u32", key,
                            (long long)ints[i].value);
        BN_TRY(bn_gguf_writer_set_u32(w, key, (uint32_t)ints[i].value));
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    BN_TRY(bn_gguf_writer_set_f32(w, key, h->rms_eps));
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    BN_TRY(bn_gguf_writer_set_f32(w, key, h->rope_theta));
    snprintf(key, sizeof key, "%s.hidden_activation", arch);
    return bn_gguf_writer_set_str(w, key, h->activation);
}
