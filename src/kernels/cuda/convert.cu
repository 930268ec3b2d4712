/*
 * convert.cu - f16 / bf16 <-> f32 on the GPU, bit-identical to src/tensor/half.c.
 *
 * Integer bit manipulation rather than cuda_fp16's intrinsics, so NaN payloads and rounding are
 * exactly those of the CPU reference (round to nearest even, NaN quieted with its top payload
 * bits kept, overflow to Inf, f16 subnormals exact).
 */
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/cuda_check.h"

#include <stdint.h>

/* ---- kernels ------------------------------------------------------------------------------ */

__device__ static float f16_to_f32_bits(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    uint32_t bits;
    if (e == 0x1F) {
        bits = sign | 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u); /* Inf, or quiet NaN */
    } else if (e == 0) {
        if (m == 0) {
            bits = sign;
        } else { /* subnormal: normalise the mantissa */
            uint32_t exp = 113;
            while (!(m & 0x400u)) {
                m <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((m & 0x3FFu) << 13);
        }
    } else {
        bits = sign | ((e + 112) << 23) | (m << 13);
    }
    return __uint_as_float(bits);
}

__device__ static uint16_t f32_to_f16_bits(float f) {
    uint32_t x = __float_as_uint(f);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) /* NaN */
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u) /* >= 65520 (or Inf) rounds to Inf */
        return (uint16_t)(sign | 0x7C00u);
    if (ax >= 0x38800000u) { /* normal f16: rebias the exponent, round 13 bits away */
        uint32_t m = ax - 0x38000000u;
        return (uint16_t)(sign | ((m + 0x0FFFu + ((m >> 13) & 1u)) >> 13));
    }
    uint32_t e = ax >> 23;
    if (e < 102) /* below 2^-25: rounds to zero */
        return (uint16_t)sign;
    uint32_t mant = (ax & 0x7FFFFFu) | 0x800000u, shift = 126 - e;
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

__device__ static uint16_t f32_to_bf16_bits(float f) {
    uint32_t x = __float_as_uint(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: keep sign and top payload, set quiet */
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

__device__ static float bf16_to_f32_bits(uint16_t h) {
    return __uint_as_float((uint32_t)h << 16);
}

/* One grid-stride element-wise kernel for all four conversions. */
template <typename In, typename Out, Out (*Convert)(In)>
__global__ static void convert_kernel(const In *src, Out *dst, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = Convert(src[i]);
}

/* ---- launchers ---------------------------------------------------------------------------- */

static const unsigned int THREADS = 256;
static const size_t MAX_BLOCKS = 4096;

static unsigned int grid_for(size_t n) {
    size_t blocks = (n + THREADS - 1) / THREADS;
    return (unsigned int)(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS);
}

template <typename In, typename Out, Out (*Convert)(In)>
static bn_status launch(const In *src, Out *dst, size_t n, void *stream, const char *op) {
    if (n > 0 && (src == NULL || dst == NULL))
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: NULL device pointer for %zu values", op, n);
    if (n == 0)
        return BN_OK;
    convert_kernel<In, Out, Convert>
        <<<grid_for(n), THREADS, 0, (cudaStream_t)stream>>>(src, dst, n);
    BN_CUDA_TRY(cudaGetLastError());
    return BN_OK;
}

extern "C" bn_status bn_cuda_f16_to_f32(const uint16_t *src, float *dst, size_t n, void *stream) {
    return launch<uint16_t, float, f16_to_f32_bits>(src, dst, n, stream, "bn_cuda_f16_to_f32");
}

extern "C" bn_status bn_cuda_f32_to_f16(const float *src, uint16_t *dst, size_t n, void *stream) {
    return launch<float, uint16_t, f32_to_f16_bits>(src, dst, n, stream, "bn_cuda_f32_to_f16");
}

extern "C" bn_status bn_cuda_bf16_to_f32(const uint16_t *src, float *dst, size_t n, void *stream) {
    return launch<uint16_t, float, bf16_to_f32_bits>(src, dst, n, stream, "bn_cuda_bf16_to_f32");
}

extern "C" bn_status bn_cuda_f32_to_bf16(const float *src, uint16_t *dst, size_t n, void *stream) {
    return launch<float, uint16_t, f32_to_bf16_bits>(src, dst, n, stream, "bn_cuda_f32_to_bf16");
}
