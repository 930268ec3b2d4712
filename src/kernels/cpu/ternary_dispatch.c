/* ternary_dispatch.c - which kernel variant serves which path (filled per build). */
#include "kernels/cpu/ternary_gemm.h"
#include "kernels/cpu/ternary_simd.h"

bn_ternary_kernel_fn bn_ternary_kernel_for(bn_isa isa, bn_ternary_layout layout) {
    if (layout == BN_TERNARY_T5V) {
        if (isa == BN_ISA_SCALAR)
            return bn_ternary_kernel_t5_scalar;
#if defined(__x86_64__)
        if (isa == BN_ISA_AVX512)
            return bn_ternary_kernel_t5_avx512;
#endif
        return NULL;
    }
    switch (isa) {
    case BN_ISA_SCALAR:
        return bn_ternary_kernel_scalar;
#if defined(__x86_64__)
    case BN_ISA_AVX2:
        return bn_ternary_kernel_avx2;
    case BN_ISA_AVX512:
        return bn_ternary_kernel_avx512;
#endif
#if defined(__aarch64__)
    case BN_ISA_NEON:
        return bn_ternary_kernel_neon;
#endif
    default:
        return NULL;
    }
}
