/*
 * act_quant_avx2.c - bn_act_quant_row (src/quant/act_quant.h) with AVX2, bit for bit: the same
 * float32 products x * s, rounded half to even by VROUNDPS in the default rounding mode, the
 * same clamp, NaN to 0, and a max that skips NaN as the scalar comparison does (VMAXPS returns
 * its second operand when either is NaN).
 */
#if defined(__x86_64__)

#include "kernels/cpu/ternary_gemm.h"
#include "quant/act_quant.h"

#include <immintrin.h>
#include <math.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static float abs_max(const float *x, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
    float lane[8], amax = 0.0f;
    _mm256_storeu_ps(lane, m);
    for (int l = 0; l < 8; l++)
        amax = lane[l] > amax ? lane[l] : amax;
    for (; i < n; i++)
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    return amax;
}

/* Eight codes of x * s, as int32 lanes. */
AVX2 static inline __m256i codes8(__m256 v, __m256 s) {
    __m256 p = _mm256_mul_ps(v, s);
    __m256 ordered = _mm256_cmp_ps(p, p, _CMP_ORD_Q); /* false for NaN */
    __m256 r = _mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(_mm256_and_ps(r, ordered));
}

AVX2 float bn_act_quant_row_avx2(const float *x, int64_t n, int8_t *q, int32_t *row_sum) {
    float amax = abs_max(x, n);
    float s = 127.0f / (amax > BN_ACT_QUANT_MIN_ABSMAX ? amax : BN_ACT_QUANT_MIN_ABSMAX);
    const __m256 vs = _mm256_set1_ps(s);
    __m256i sum = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = codes8(_mm256_loadu_ps(x + i), vs), b = codes8(_mm256_loadu_ps(x + i + 8), vs);
        sum = _mm256_add_epi32(sum, _mm256_add_epi32(a, b));
        /* int32 -> int16 -> int8 packs work within 128-bit lanes: fix the order afterwards */
        __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), _MM_SHUFFLE(3, 1, 2, 0));
        __m128i w8 = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
        _mm_storeu_si128((__m128i *)(q + i), w8);
    }
    int32_t lane[8], total = 0;
    _mm256_storeu_si256((__m256i *)lane, sum);
    for (int l = 0; l < 8; l++)
        total += lane[l];
    for (; i < n; i++) {
        float p = x[i] * s, r = nearbyintf(p);
        int8_t c = isnan(r) ? 0 : r > 127.0f ? 127 : r < -128.0f ? -128 : (int8_t)r;
        q[i] = c;
        total += c;
    }
    if (row_sum != NULL)
        *row_sum = total;
    return s;
}

#endif /* __x86_64__ */
