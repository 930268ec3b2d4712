/* dot.c - dot.h's scalar reference, an AVX2 variant with the same bits, and the dispatch. */
#include "kernels/cpu/dot.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static float reduce(const float *l) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

float bn_dot_f32_scalar(const float *a, const float *b, int64_t n) {
    float lane[8] = {0};
    for (int64_t i = 0; i < n; i++)
        lane[i % 8] = fmaf(a[i], b[i], lane[i % 8]);
    return reduce(lane);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float bn_dot_f32_avx2(const float *a, const float *b,
                                                          int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float lane[8];
    _mm256_storeu_ps(lane, acc);
    for (; i < n; i++) /* the tail continues each lane, as the reference does */
        lane[i % 8] = fmaf(a[i], b[i], lane[i % 8]);
    return reduce(lane);
}
#endif

bn_dot_fn bn_dot_f32_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_dot_f32_avx2;
#endif
    (void)isa;
    return bn_dot_f32_scalar;
}
