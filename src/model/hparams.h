/*
 * hparams.h - the hyper-parameters of a BitNet GGUF file, written the one way every writer of
 * ours (convert, synth) writes them, so that model.c reads all their files alike.
 *
 * Keys (facts §3.3), under the architecture's prefix A: A.vocab_size, A.context_length,
 * A.embedding_length, A.block_count, A.feed_forward_length, A.rope.dimension_count,
 * A.attention.head_count, A.attention.head_count_kv (u32), A.attention.layer_norm_rms_epsilon,
 * A.rope.freq_base (f32), A.hidden_activation (string: upstream llama.cpp defaults the FFN to
 * SiLU without it); and general.architecture, general.name, general.file_type,
 * general.quantization_version.
 */
#ifndef BN_MODEL_HPARAMS_H
#define BN_MODEL_HPARAMS_H

#include "io/gguf.h"
#include "tensor/dtype.h"

typedef struct bn_hparams {
    const char *name;     /* general.name */
    bn_dtype linear_type; /* the linear layers' type: file type and architecture */
    int64_t vocab_size, context_length, embedding_length, block_count, feed_forward_length;
    int64_t head_dim, head_count, head_count_kv;
    float rms_eps, rope_theta;
    const char *activation; /* "relu2" or "silu" */
} bn_hparams;

/* The architecture a file with linear layers of this type gets: "bitnet-b1.58" for i2_s (the
 * name bitnet.cpp reads I2_S under), "bitnet" otherwise (upstream llama.cpp's). */
const char *bn_hparams_arch(bn_dtype linear_type);

/* llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*; bitnet.cpp's I2_S is 40). */
uint32_t bn_hparams_file_type(bn_dtype linear_type);

/* Set every key above on w; BN_ERR_RANGE naming the key for a count that does not fit a u32. */
bn_status bn_hparams_write_gguf(const bn_hparams *h, bn_gguf_writer *w);

#endif /* BN_MODEL_HPARAMS_H */
