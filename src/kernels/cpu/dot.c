/* dot.c - dot.h's scalar reference, an AVX2 variant with the same bits, and the dispatch. */
#include "kernels/cpu/dot.h"

#include "tensor/half.h"

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

float bn_dot_f16_scalar(const uint16_t *a, const float *b, int64_t n) {
    float lane[8] = {0};
    for (int64_t i = 0; i < n; i++)
        lane[i % 8] = fmaf(bn_f16_to_f32(a[i]), b[i], lane[i % 8]);
    return reduce(lane);
}

float bn_dot_bf16_scalar(const uint16_t *a, const float *b, int64_t n) {
    float lane[8] = {0};
    for (int64_t i = 0; i < n; i++)
        lane[i % 8] = fmaf(bn_bf16_to_f32(a[i]), b[i], lane[i % 8]);
    return reduce(lane);
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 widen_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2 static inline __m256 widen_bf16(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* The 8-lane loop over whole vectors, then the scalar tail continuing each lane. */
#define DOT_HALF(widen, scalar_widen)                                                              \
    __m256 acc = _mm256_setzero_ps();                                                              \
    int64_t i = 0;                                                                                 \
    for (; i + 8 <= n; i += 8)                                                                     \
        acc = _mm256_fmadd_ps(widen(a + i), _mm256_loadu_ps(b + i), acc);                          \
    float lane[8];                                                                                 \
    _mm256_storeu_ps(lane, acc);                                                                   \
    for (; i < n; i++)                                                                             \
        lane[i % 8] = fmaf(scalar_widen(a[i]), b[i], lane[i % 8]);                                 \
    return reduce(lane)

AVX2 float bn_dot_f16_avx2(const uint16_t *a, const float *b, int64_t n) {
    DOT_HALF(widen_f16, bn_f16_to_f32);
}

AVX2 float bn_dot_bf16_avx2(const uint16_t *a, const float *b, int64_t n) {
    DOT_HALF(widen_bf16, bn_bf16_to_f32);
}

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

bn_dot_half_fn bn_dot_f16_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_dot_f16_avx2;
#endif
    (void)isa;
    return bn_dot_f16_scalar;
}

bn_dot_half_fn bn_dot_bf16_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_dot_bf16_avx2;
#endif
    (void)isa;
    return bn_dot_bf16_scalar;
}

bn_dot_half_fn bn_dot_half_for(bn_dtype t, bn_isa isa) {
    return t == BN_DTYPE_F16    ? bn_dot_f16_for(isa)
           : t == BN_DTYPE_BF16 ? bn_dot_bf16_for(isa)
                                : NULL;
}

bn_dot_fn bn_dot_f32_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_dot_f32_avx2;
#endif
    (void)isa;
    return bn_dot_f32_scalar;
}
