/*
 * quantize.h - re-encode the linear layers of a GGUF file in another type (`bitnet quantize`).
 *
 * Norms and all metadata are copied unchanged (the architecture prefix becomes "bitnet-b1.58"
 * for i2_s and "bitnet" otherwise, as convert writes); the embeddings and the head too, unless
 * opt asks for another type (embed_as_source / head_as_source false): then they are decoded and
 * encoded again a row at a time (a tied head is the embeddings, so a head type alone applies to
 * them, as llama-quantize's --output-tensor-type does). A linear layer's
 * values are read with any `.scale` tensor applied; if they are ternary with one magnitude per
 * tensor, the ternary values and the exact scale carry over losslessly to any ternary type. TQ
 * files with different scales per block convert losslessly among TQ types but not to i2_s,
 * which keeps one scale per tensor: that is refused, naming the blocks. Float weights that are
 * not ternary are ternarized with absmean.
 */
#ifndef BN_MODEL_QUANTIZE_H
#define BN_MODEL_QUANTIZE_H

#include "model/convert.h"

bn_status bn_quantize_gguf(const char *in_path, const char *out_path, const bn_convert_options *opt,
                           bn_convert_report *report);

#endif /* BN_MODEL_QUANTIZE_H */
