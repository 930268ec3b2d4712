/*
 * forward_cuda.h - the CUDA backend (context.h): the model's weights on the GPU, and a forward
 * pass that runs every step of a batch there, so that only token ids go in and the asked-for
 * logits come out.
 *
 * Weights are uploaded once, at load (bn_model_params.device = BN_DEVICE_CUDA): the ternary
 * layers in the i2v16 layout (16-byte blocks of 64 codes, read whole by each lane of a warp),
 * the norms in float32, the embeddings and the head widened or narrowed to f16 (the head's
 * products in float32). A context keeps its KV cache (f16 or f32, as bn_context_params asks)
 * and a batch's scratch on the GPU.
 *
 * Built without CUDA, loading for the GPU answers BN_ERR_UNSUPPORTED from the first call.
 */
#ifndef BN_MODEL_FORWARD_CUDA_H
#define BN_MODEL_FORWARD_CUDA_H

#include "model/context.h"
#include "model/model.h"

/* Upload m's weights to GPU device_index (made current for this thread); on success m->gpu
 * owns them. A GPU without room gives BN_ERR_OUT_OF_MEMORY with the sizes involved. The host
 * copies of the ternary layers are freed (the CPU cannot run them: they are packed for i2v16). */
bn_status bn_cuda_model_upload(bn_model *m, int device_index);

/* Free what bn_cuda_model_upload made (NULL-safe). */
void bn_cuda_model_free(bn_model *m);

extern const bn_backend bn_cuda_backend;

#endif /* BN_MODEL_FORWARD_CUDA_H */
