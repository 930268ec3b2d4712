/*
 * export.h - a trained net as files the engines load:
 *
 *   Hugging Face folder  config.json (BitNetForCausalLM), model.safetensors, tokenizer.json,
 *                        tokenizer_config.json, generation_config.json. BitLinear nets are
 *                        written as the packed 2B-4T checkpoint is (quantization_config
 *                        autobitlinear / offline: each linear weight its ternary codes packed
 *                        four rows to a byte, uint8 [out/4, in], with weight_scale [1] = gamma,
 *                        computed as the trainer's forward computes them); float nets as plain
 *                        float32 linear weights without quantization_config. Embeddings and
 *                        norms float32; the head is tied.
 *   GGUF                 the folder above converted by model/convert.h (any of its linear and
 *                        embedding types), through a temporary folder beside the output.
 *
 * So `bitnet run` and transformers both run the exported model as the trainer evaluates it.
 */
#ifndef BN_TRAIN_EXPORT_H
#define BN_TRAIN_EXPORT_H

#include "io/tokenizer_spec.h"
#include "model/convert.h"
#include "train/net.h"

/* Write the folder dir (made if missing; files in it are replaced atomically). */
bn_status bn_export_hf(const bn_net *net, const bn_tokenizer_spec *tok, const char *dir);

/* Write out_path as GGUF with opt's types (linear layers, embeddings). Only BitLinear nets:
 * the engine's linear layers are ternary (BN_ERR_UNSUPPORTED for a float net). */
bn_status bn_export_gguf(const bn_net *net, const bn_tokenizer_spec *tok, const char *out_path,
                         const bn_convert_options *opt);

#endif /* BN_TRAIN_EXPORT_H */
