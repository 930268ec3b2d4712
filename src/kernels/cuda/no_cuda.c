/*
 * no_cuda.c - the CUDA entry points of a build made without nvcc.
 *
 * Each answers BN_ERR_UNSUPPORTED with a message saying so, so callers (the CLI's --device cuda,
 * sysinfo) can tell the user what is missing instead of failing obscurely.
 */
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/forward_kernels.h"

static bn_status no_cuda(const char *what) {
    return BN_ERROR(BN_ERR_UNSUPPORTED,
                    "%s: this build of libbitnet has no CUDA support "
                    "(nvcc was not found when it was built)",
                    what);
}

bool bn_cuda_compiled(void) {
    return false;
}

bn_status bn_cuda_device_count(int *count, const char **why) {
    *count = 0;
    if (why)
        *why = "built without CUDA";
    return no_cuda("bn_cuda_device_count");
}

bn_status bn_cuda_device_info_get(int index, bn_cuda_device_info *out) {
    (void)index;
    (void)out;
    return no_cuda("bn_cuda_device_info_get");
}

bn_status bn_cuda_set_device(int index) {
    (void)index;
    return no_cuda("bn_cuda_set_device");
}

bn_status bn_cuda_malloc(void **ptr, size_t bytes) {
    (void)bytes;
    *ptr = NULL;
    return no_cuda("bn_cuda_malloc");
}

void bn_cuda_free(void *ptr) {
    (void)ptr;
}

bn_status bn_cuda_copy_to_device(void *dst, const void *src, size_t bytes) {
    (void)dst, (void)src, (void)bytes;
    return no_cuda("bn_cuda_copy_to_device");
}

bn_status bn_cuda_copy_to_host(void *dst, const void *src, size_t bytes) {
    (void)dst, (void)src, (void)bytes;
    return no_cuda("bn_cuda_copy_to_host");
}

bn_status bn_cuda_synchronize(void) {
    return no_cuda("bn_cuda_synchronize");
}

bn_status bn_cuda_f16_to_f32(const uint16_t *src, float *dst, size_t n, void *stream) {
    (void)src, (void)dst, (void)n, (void)stream;
    return no_cuda("bn_cuda_f16_to_f32");
}

bn_status bn_cuda_f32_to_f16(const float *src, uint16_t *dst, size_t n, void *stream) {
    (void)src, (void)dst, (void)n, (void)stream;
    return no_cuda("bn_cuda_f32_to_f16");
}

bn_status bn_cuda_bf16_to_f32(const uint16_t *src, float *dst, size_t n, void *stream) {
    (void)src, (void)dst, (void)n, (void)stream;
    return no_cuda("bn_cuda_bf16_to_f32");
}

bn_status bn_cuda_f32_to_bf16(const float *src, uint16_t *dst, size_t n, void *stream) {
    (void)src, (void)dst, (void)n, (void)stream;
    return no_cuda("bn_cuda_f32_to_bf16");
}

/* forward_kernels.h: the arguments are not looked at, there being nothing to run them on. */

bn_status bn_cuda_embed_f16(const uint16_t *table, const int32_t *tokens, int m, int dim,
                            float *out, void *stream) {
    (void)table, (void)tokens, (void)m, (void)dim, (void)out, (void)stream;
    return no_cuda("bn_cuda_embed_f16");
}
bn_status bn_cuda_bitlinear_input(float *x, const float *src, const float *up, int act,
                                  const float *norm, float eps, int m, int n, int kp, int8_t *xq,
                                  float *xs, int32_t *xsum, void *stream) {
    (void)x, (void)src, (void)up, (void)act, (void)norm, (void)eps, (void)m, (void)n, (void)kp;
    (void)xq, (void)xs, (void)xsum, (void)stream;
    return no_cuda("bn_cuda_bitlinear_input");
}
bn_status bn_cuda_ternary_gemv(const uint8_t *w, int n_rows, int kp, float w_scale,
                               const int8_t *xq, const float *xs, const int32_t *xsum, int m,
                               float *y, void *stream) {
    (void)w, (void)n_rows, (void)kp, (void)w_scale, (void)xq, (void)xs, (void)xsum, (void)m;
    (void)y, (void)stream;
    return no_cuda("bn_cuda_ternary_gemv");
}
bn_status bn_cuda_rope_neox(float *q, float *k, const float *rope, const int32_t *pos, int m,
                            int n_heads, int n_kv_heads, int head_dim, int n_rot, void *stream) {
    (void)q, (void)k, (void)rope, (void)pos, (void)m, (void)n_heads, (void)n_kv_heads;
    (void)head_dim, (void)n_rot, (void)stream;
    return no_cuda("bn_cuda_rope_neox");
}
bn_status bn_cuda_kv_store(const float *k, const float *v, void *k_cache, void *v_cache, bool f16,
                           const int32_t *seq, const int32_t *pos, int m, int layer, int n_layers,
                           int n_ctx, int kv_dim, void *stream) {
    (void)k, (void)v, (void)k_cache, (void)v_cache, (void)f16, (void)seq, (void)pos, (void)m;
    (void)layer, (void)n_layers, (void)n_ctx, (void)kv_dim, (void)stream;
    return no_cuda("bn_cuda_kv_store");
}
bn_status bn_cuda_attention(const float *q, const void *k_cache, const void *v_cache, bool f16,
                            const int32_t *seq, const int32_t *pos, int m, int layer, int n_layers,
                            int n_ctx, int n_heads, int n_kv_heads, int head_dim, float scale,
                            float *scores, float *out, void *stream) {
    (void)q, (void)k_cache, (void)v_cache, (void)f16, (void)seq, (void)pos, (void)m, (void)layer;
    (void)n_layers, (void)n_ctx, (void)n_heads, (void)n_kv_heads, (void)head_dim, (void)scale;
    (void)scores, (void)out, (void)stream;
    return no_cuda("bn_cuda_attention");
}
bn_status bn_cuda_add(float *x, const float *y, size_t n, void *stream) {
    (void)x, (void)y, (void)n, (void)stream;
    return no_cuda("bn_cuda_add");
}
bn_status bn_cuda_rmsnorm_rows(const float *x, const int32_t *rows, int k, int dim,
                               const float *norm, float eps, float *out, void *stream) {
    (void)x, (void)rows, (void)k, (void)dim, (void)norm, (void)eps, (void)out, (void)stream;
    return no_cuda("bn_cuda_rmsnorm_rows");
}
bn_status bn_cuda_head_f16(const uint16_t *head, int n_vocab, int dim, const float *xn, int k,
                           float *logits, void *stream) {
    (void)head, (void)n_vocab, (void)dim, (void)xn, (void)k, (void)logits, (void)stream;
    return no_cuda("bn_cuda_head_f16");
}
bn_status bn_cuda_copy_to_device_async(void *dst, const void *src, size_t bytes, void *stream) {
    (void)dst, (void)src, (void)bytes, (void)stream;
    return no_cuda("bn_cuda_copy_to_device_async");
}
bn_status bn_cuda_copy_to_host_async(void *dst, const void *src, size_t bytes, void *stream) {
    (void)dst, (void)src, (void)bytes, (void)stream;
    return no_cuda("bn_cuda_copy_to_host_async");
}
bn_status bn_cuda_stream_create(void **stream) {
    *stream = NULL;
    return no_cuda("bn_cuda_stream_create");
}
void bn_cuda_stream_destroy(void *stream) {
    (void)stream;
}
bn_status bn_cuda_stream_sync(void *stream) {
    (void)stream;
    return no_cuda("bn_cuda_stream_sync");
}
bn_status bn_cuda_memset(void *ptr, int value, size_t bytes) {
    (void)ptr, (void)value, (void)bytes;
    return no_cuda("bn_cuda_memset");
}
