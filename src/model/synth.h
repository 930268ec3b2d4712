/*
 * synth.h - models with random weights and a real shape, for benchmarks (`bitnet synth`).
 *
 * A synthetic model is a GGUF file that bn_model_load reads like a converted one (the keys of
 * model/hparams.h, convert's tensor names and scale convention): the shape of a real BitNet
 * model, random ternary linear layers in the asked type, random f16 embeddings, f32 norms, and
 * a working byte-level BPE tokenizer with exactly the shape's vocabulary (text/bpe_train.h,
 * LLaMA-3's special tokens at the end, the 2B-4T chat template). general.name is
 * "random-<shape>", so the file cannot pass for a trained model.
 *
 * Values depend only on the seed and the tensor's name: the same seed gives a byte-identical
 * file, and every ternary type stores the same values and the same float32 scales (TQ types in
 * a `.scale` tensor beside blocks with d = 1, i2_s in its tail), so a forward pass gives the
 * same logits whatever the type. Distributions, chosen so activations stay in a trained model's
 * range and the logits are finite and spread out:
 *   linear layers  uniform over {-1, 0, +1} (a third zeros, as absmean rounding of trained
 *                  weights gives), scale uniform in [0.5, 2)
 *   embeddings     ~N(0, 0.02^2), stored as f16 (the head too, when untied)
 *   norms          ~N(1, 0.05^2)
 *
 * One tensor is generated at a time and streamed to disk (the writer's temporary file appears
 * at the path only when complete); embeddings go in chunks of rows.
 */
#ifndef BN_MODEL_SYNTH_H
#define BN_MODEL_SYNTH_H

#include "model/convert.h"
#include "tensor/ops_ref.h"
#include "text/tokenizer.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct bn_synth_shape {
    const char *name;  /* "bitnet-2b4t" */
    const char *model; /* the model whose shape it is */
    int n_vocab;       /* tokens, the special ones included */
    int n_special;     /* control tokens at the end of the vocabulary (LLaMA-3's layout) */
    int dim, n_layers, n_heads, n_kv_heads, ffn_dim, ctx_max;
    float eps, rope_theta;
    bn_act act;
    bool sub_norms; /* attn_sub_norm and ffn_sub_norm */
    bool tied;      /* no output.weight: the head is the embeddings */
    int n_pad;      /* embedding (and head) rows past the tokenizer's n_vocab tokens, as
                       checkpoints pad their tables to a round size; 0 for the named shapes */
} bn_synth_shape;

typedef struct bn_synth_options {
    bn_dtype type;       /* linear layers: tq1_0, tq2_0 or i2_s */
    bn_dtype embed_type; /* embeddings and an untied head: f16 for the named shapes' files, or
                            any type with a row encoder (f32, bf16, q8_0, q6_k, q4_k, ...) */
    uint64_t seed;
    bn_progress_fn progress; /* may be NULL: called before each tensor and once at the end */
    void *progress_ctx;
} bn_synth_options;

/* The shapes, in the order `bitnet synth --help` lists them (NULL past the last). */
const bn_synth_shape *bn_synth_shape_at(int i);

/* Look a shape up by name; BN_ERR_INVALID_ARG naming the known ones when there is none. */
bn_status bn_synth_shape_find(const char *name, const bn_synth_shape **out);

/* The tokenizer of a synthetic model (synth_vocab.c): n_vocab tokens, the last n_special of
 * them LLaMA-3's special tokens (n_special >= 10, so that <|eot_id|> has its place), the rest
 * byte-level BPE learned from a built-in English text and filled up (text/bpe_train.h); BOS
 * added when encoding, the 2B-4T chat template. */
bn_status bn_synth_tokenizer(bn_tokenizer **out, int n_vocab, int n_special);

/* Write a synthetic model of any shape (tests build odd ones: GQA groups, padded tables, long
 * contexts). BN_ERR_INVALID_ARG for a type the options cannot take, naming the ones they can. */
bn_status bn_synth_write_shape(const char *path, const bn_synth_shape *shape,
                               const bn_synth_options *opt);

/* Write the synthetic model of a named shape with its linear layers in ternary_type (tq1_0,
 * tq2_0 or i2_s; BN_ERR_INVALID_ARG naming them otherwise) and f16 embeddings. */
bn_status bn_synth_write(const char *path, const char *shape, bn_dtype ternary_type, uint64_t seed);

/* The same, calling progress (may be NULL) before each tensor and once at the end. */
bn_status bn_synth_write_progress(const char *path, const char *shape, bn_dtype ternary_type,
                                  uint64_t seed, bn_progress_fn progress, void *progress_ctx);

#endif /* BN_MODEL_SYNTH_H */
