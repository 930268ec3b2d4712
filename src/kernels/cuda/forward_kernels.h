/*
 * forward_kernels.h - the CUDA kernels of one BitNet forward pass, as C launchers on device
 * pointers (src/model/forward_cuda.c strings them together; tests/test_cuda_forward.c holds
 * each to the CPU reference).
 *
 * Every launcher validates its sizes, launches on `stream` (NULL: the default stream) and
 * returns the launch's status; without CUDA in the build each returns BN_ERR_UNSUPPORTED
 * (no_cuda.c). Rows are row-major; m is the number of token rows of a batch.
 *
 * The numbers follow the CPU engine's: RMSNorm sums squares in double and multiplies
 * x * inv * w in float; activations are quantized to int8 with s = 127 / max(absmax, 1e-5),
 * round half to even, and the ternary products are exact int32 sums finished with the CPU's
 * float expression (float)(acc - sum x) * (w_scale / x_scale), so a GEMV given the CPU's int8
 * activations gives the CPU's floats bit for bit. Reductions in a different order (the RMSNorm
 * and the softmax sums, the head's dot products) differ from the CPU in the last bits.
 */
#ifndef BN_KERNELS_CUDA_FORWARD_KERNELS_H
#define BN_KERNELS_CUDA_FORWARD_KERNELS_H

#include "base/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out[i][:] = the f16 row tokens[i] of table [*, dim], widened to float (exact). */
bn_status bn_cuda_embed_f16(const uint16_t *table, const int32_t *tokens, int m, int dim,
                            float *out, void *stream);

/*
 * BitLinear's input side for m rows of n values (the CPU's input_rows): x = src (when not
 * NULL), x = act(x) * up (when up is not NULL; act 0 relu2, 1 silu, 2 relu, as bn_act), then
 * RMSNorm with weight norm (when not NULL), then int8 codes xq[m][kp] (padding zeroed), scales
 * xs[m] and code sums xsum[m]. x keeps the normalized floats.
 */
bn_status bn_cuda_bitlinear_input(float *x, const float *src, const float *up, int act,
                                  const float *norm, float eps, int m, int n, int kp, int8_t *xq,
                                  float *xs, int32_t *xsum, void *stream);

/*
 * y[m][n_rows] = W . xq for a ternary W in the i2v16 layout (rows of kp / 4 bytes; 16-byte
 * block b holds the codes w + 1 of values 64 b + j + 16 p at bit pair p of byte j): a warp per
 * row, each lane reading whole 16-byte blocks (coalesced) and multiplying them with __dp4a.
 */
bn_status bn_cuda_ternary_gemv(const uint8_t *w, int n_rows, int kp, float w_scale,
                               const int8_t *xq, const float *xs, const int32_t *xsum, int m,
                               float *y, void *stream);

/* NEOX RoPE on q [m][n_heads * head_dim] and k [m][n_kv_heads * head_dim] with each row's
 * cos/sin row rope[pos[i]] ([n_rot / 2] cos, then [n_rot / 2] sin), pos on the device. */
bn_status bn_cuda_rope_neox(float *q, float *k, const float *rope, const int32_t *pos, int m,
                            int n_heads, int n_kv_heads, int head_dim, int n_rot, void *stream);

/* The rows' k and v into the cache at [seq[i]][layer][pos[i]] (f16 when f16, else f32):
 * element offset ((seq * n_layers + layer) * n_ctx + pos) * kv_dim. */
bn_status bn_cuda_kv_store(const float *k, const float *v, void *k_cache, void *v_cache, bool f16,
                           const int32_t *seq, const int32_t *pos, int m, int layer, int n_layers,
                           int n_ctx, int kv_dim, void *stream);

/* Causal GQA attention of each row over its own sequence's positions 0..pos[i]: out[m][n_heads
 * * head_dim]; scores is scratch of m * n_heads * n_ctx floats. */
bn_status bn_cuda_attention(const float *q, const void *k_cache, const void *v_cache, bool f16,
                            const int32_t *seq, const int32_t *pos, int m, int layer, int n_layers,
                            int n_ctx, int n_heads, int n_kv_heads, int head_dim, float scale,
                            float *scores, float *out, void *stream);

/* x[i] += y[i] for n values. */
bn_status bn_cuda_add(float *x, const float *y, size_t n, void *stream);

/* out[j][:] = RMSNorm(x[rows[j]][:]) * norm for j < k (rows on the device). */
bn_status bn_cuda_rmsnorm_rows(const float *x, const int32_t *rows, int k, int dim,
                               const float *norm, float eps, float *out, void *stream);

/* logits[j][v] = sum_d head[v][d] * xn[j][d] for an f16 head [n_vocab][dim], j < k. */
bn_status bn_cuda_head_f16(const uint16_t *head, int n_vocab, int dim, const float *xn, int k,
                           float *logits, void *stream);

/* Asynchronous copies on a stream, and waiting for it. */
bn_status bn_cuda_copy_to_device_async(void *dst, const void *src, size_t bytes, void *stream);
bn_status bn_cuda_copy_to_host_async(void *dst, const void *src, size_t bytes, void *stream);
bn_status bn_cuda_stream_create(void **stream);
void bn_cuda_stream_destroy(void *stream);
bn_status bn_cuda_stream_sync(void *stream);
bn_status bn_cuda_memset(void *ptr, int value, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* BN_KERNELS_CUDA_FORWARD_KERNELS_H */
