/* device.cu - GPU discovery and device memory helpers. */
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/cuda_check.h"

#include <stdio.h>
#include <string.h>

extern "C" bool bn_cuda_compiled(void) {
    return true;
}

extern "C" bn_status bn_cuda_device_count(int *count, const char **why) {
    *count = 0;
    if (why)
        *why = "";
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    /* No driver or no GPU is a normal answer on a CPU machine, not an error. */
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
        err == cudaErrorInitializationError || err == cudaErrorCompatNotSupportedOnDevice) {
        if (why)
            *why = cudaGetErrorString(err);
        cudaGetLastError(); /* clear the sticky error */
        return BN_OK;
    }
    BN_TRY(bn_cuda_check_at(err, "cudaGetDeviceCount", __FILE__, __LINE__));
    *count = n;
    return BN_OK;
}

extern "C" bn_status bn_cuda_device_info_get(int index, bn_cuda_device_info *out) {
    cudaDeviceProp prop;
    BN_CUDA_TRY(cudaGetDeviceProperties(&prop, index));
    memset(out, 0, sizeof *out);
    out->index = index;
    snprintf(out->name, sizeof out->name, "%s", prop.name);
    out->cc_major = prop.major;
    out->cc_minor = prop.minor;
    out->sm_count = prop.multiProcessorCount;
    out->total_memory = prop.totalGlobalMem;
    BN_CUDA_TRY(cudaDriverGetVersion(&out->driver_version));
    BN_CUDA_TRY(cudaRuntimeGetVersion(&out->runtime_version));
    return BN_OK;
}

extern "C" bn_status bn_cuda_malloc(void **ptr, size_t bytes) {
    *ptr = NULL;
    cudaError_t err = cudaMalloc(ptr, bytes ? bytes : 1);
    if (err != cudaSuccess)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "cudaMalloc of %zu bytes failed: %s", bytes,
                        cudaGetErrorString(err));
    return BN_OK;
}

extern "C" void bn_cuda_free(void *ptr) {
    if (ptr)
        cudaFree(ptr);
}

extern "C" bn_status bn_cuda_copy_to_device(void *dst, const void *src, size_t bytes) {
    BN_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return BN_OK;
}

extern "C" bn_status bn_cuda_copy_to_host(void *dst, const void *src, size_t bytes) {
    BN_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return BN_OK;
}

extern "C" bn_status bn_cuda_synchronize(void) {
    BN_CUDA_TRY(cudaDeviceSynchronize());
    return BN_OK;
}

extern "C" bn_status bn_cuda_set_device(int index) {
    BN_CUDA_TRY(cudaSetDevice(index));
    return BN_OK;
}
