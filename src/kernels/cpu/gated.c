/* gated.c - the gated activation of gated.h: the scalar reference's wrapper, an AVX2 variant
 * with its bits, and the dispatch. */
#include "kernels/cpu/gated.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

void bn_gated_scalar(float *x, const float *up, size_t n, bn_act act) {
    bn_ref_gated(x, x, up, n, act);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void bn_gated_avx2(float *x, const float *up, size_t n,
                                                   bn_act act) {
    if (act != BN_ACT_RELU2 && act != BN_ACT_RELU) {
        bn_ref_gated(x, x, up, n, act);
        return;
    }
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* max(x, 0) gives its second operand, 0, when x is NaN or -0: the reference's value */
        __m256 r = _mm256_max_ps(_mm256_loadu_ps(x + i), zero);
        if (act == BN_ACT_RELU2)
            r = _mm256_mul_ps(r, r);
        _mm256_storeu_ps(x + i, _mm256_mul_ps(r, _mm256_loadu_ps(up + i)));
    }
    bn_ref_gated(x + i, x + i, up + i, n - i, act);
}
#endif

bn_gated_fn bn_gated_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_gated_avx2;
#endif
    (void)isa;
    return bn_gated_scalar;
}
