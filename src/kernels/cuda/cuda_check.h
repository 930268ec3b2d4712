/* cuda_check.h - one checking wrapper for CUDA runtime calls: the failing call, its location
 * and CUDA's own message go into bn_last_error, and the function returns BN_ERR_CUDA. */
#ifndef BN_KERNELS_CUDA_CHECK_H
#define BN_KERNELS_CUDA_CHECK_H

#include "base/status.h"

#include <cuda_runtime.h>

static inline bn_status bn_cuda_check_at(cudaError_t err, const char *what, const char *file,
                                         int line) {
    if (err == cudaSuccess)
        return BN_OK;
    return bn_error_at(file, line, BN_ERR_CUDA, "%s failed: %s (%s)", what, cudaGetErrorString(err),
                       cudaGetErrorName(err));
}

#define BN_CUDA_TRY(call) BN_TRY(bn_cuda_check_at((call), #call, __FILE__, __LINE__))

#endif /* BN_KERNELS_CUDA_CHECK_H */
