/*
 * attention.c - the scalar reference of attention.h, an AVX2 variant with the same bits, and
 * the dispatch.
 */
#include "kernels/cpu/attention.h"

#include "tensor/half.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static float element(const void *base, bool f16, int64_t i) {
    return f16 ? bn_f16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

static float dot_scalar(const float *q, const void *k, bool f16, int64_t off, int d) {
    float lane[8] = {0};
    for (int i = 0; i < d; i++)
        lane[i % 8] = fmaf(q[i], element(k, f16, off + i), lane[i % 8]);
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
           ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

/* Scores to probabilities in place; returns their sum. Shared by every variant: expf is the
 * C library's, so the bits do not depend on the path. */
static float softmax_unnormalised(float *s, int n) {
    float mx = -INFINITY, sum = 0.0f;
    for (int t = 0; t < n; t++)
        mx = s[t] > mx ? s[t] : mx;
    for (int t = 0; t < n; t++) {
        s[t] = expf(s[t] - mx);
        sum += s[t];
    }
    return sum;
}

void bn_attn_head_scalar(const bn_attn_args *a) {
    for (int t = 0; t < a->n; t++)
        a->scores[t] = dot_scalar(a->q, a->keys, a->f16, t * a->stride, a->d) * a->scale;
    float sum = softmax_unnormalised(a->scores, a->n);
    memset(a->out, 0, (size_t)a->d * sizeof(float));
    for (int t = 0; t < a->n; t++) {
        float w = a->scores[t] / sum;
        for (int i = 0; i < a->d; i++)
            a->out[i] = fmaf(w, element(a->values, a->f16, t * a->stride + i), a->out[i]);
    }
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 load8(const void *base, bool f16, int64_t i) {
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

AVX2 static inline float reduce8(__m256 v) {
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

AVX2 void bn_attn_head_avx2(const bn_attn_args *a) {
    for (int t = 0; t < a->n; t++) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < a->d; i += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(a->q + i),
                                  load8(a->keys, a->f16, t * a->stride + i), acc);
        a->scores[t] = reduce8(acc) * a->scale;
    }
    float sum = softmax_unnormalised(a->scores, a->n);
    memset(a->out, 0, (size_t)a->d * sizeof(float));
    for (int t = 0; t < a->n; t++) {
        __m256 w = _mm256_set1_ps(a->scores[t] / sum);
        for (int i = 0; i < a->d; i += 8) {
            __m256 v = load8(a->values, a->f16, t * a->stride + i);
            _mm256_storeu_ps(a->out + i, _mm256_fmadd_ps(w, v, _mm256_loadu_ps(a->out + i)));
        }
    }
}
#endif

bn_attn_fn bn_attn_head_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_attn_head_avx2;
#endif
    (void)isa;
    return bn_attn_head_scalar;
}
