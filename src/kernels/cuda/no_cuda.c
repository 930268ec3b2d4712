/*
 * no_cuda.c - the CUDA entry points of a build made without nvcc.
 *
 * Each answers BN_ERR_UNSUPPORTED with a message saying so, so callers (the CLI's --device cuda,
 * sysinfo) can tell the user what is missing instead of failing obscurely.
 */
#include "kernels/cuda/cuda.h"

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
