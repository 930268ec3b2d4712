/*
 * cuda.h - the C face of the CUDA code: devices, memory, and kernel launchers.
 *
 * Everything here is callable from C whether or not the build has CUDA: without it every call
 * returns BN_ERR_UNSUPPORTED ("built without CUDA"). Launchers take device pointers and a stream
 * (NULL = the default stream), validate their arguments, check the launch and return bn_status.
 */
#ifndef BN_KERNELS_CUDA_H
#define BN_KERNELS_CUDA_H

#include "base/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_cuda_device_info {
    int index;
    char name[256];
    int cc_major, cc_minor; /* compute capability */
    int sm_count;
    size_t total_memory; /* bytes */
    int driver_version;  /* e.g. 13000 for 13.0 */
    int runtime_version;
} bn_cuda_device_info;

/* Whether this build has CUDA support at all. */
bool bn_cuda_compiled(void);

/* Number of usable GPUs: 0 (and BN_OK) when the build has CUDA but the machine has no GPU or no
 * driver; *why then says why in words. BN_ERR_UNSUPPORTED when built without CUDA. */
bn_status bn_cuda_device_count(int *count, const char **why);

bn_status bn_cuda_device_info_get(int index, bn_cuda_device_info *out);

/* Make GPU index current for this thread's later calls. */
bn_status bn_cuda_set_device(int index);

/* Device memory and copies (synchronous). */
bn_status bn_cuda_malloc(void **ptr, size_t bytes);
void bn_cuda_free(void *ptr);
bn_status bn_cuda_copy_to_device(void *dst, const void *src, size_t bytes);
bn_status bn_cuda_copy_to_host(void *dst, const void *src, size_t bytes);
bn_status bn_cuda_synchronize(void);

/* Element-wise conversions on device arrays of n values; the same bits as src/tensor/half.h. */
bn_status bn_cuda_f16_to_f32(const uint16_t *src, float *dst, size_t n, void *stream);
bn_status bn_cuda_f32_to_f16(const float *src, uint16_t *dst, size_t n, void *stream);
bn_status bn_cuda_bf16_to_f32(const uint16_t *src, float *dst, size_t n, void *stream);
bn_status bn_cuda_f32_to_bf16(const float *src, uint16_t *dst, size_t n, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* BN_KERNELS_CUDA_H */
