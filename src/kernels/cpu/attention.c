/*
 * attention.c - the scalar reference of attention.h, an AVX2 variant with the same bits, and
 * the dispatch.
 */
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dot.h"

#include "tensor/half.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static float element(const void *base, bool f16, int64_t i) {
    return f16 ? bn_f16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

/* q . k_t with dot.h's lane order (the one attention.h specifies). */
static float dot_scalar(const float *q, const void *k, bool f16, int64_t off, int d) {
    return f16 ? bn_dot_f16_scalar((const uint16_t *)k + off, q, d)
               : bn_dot_f32_scalar(q, (const float *)k + off, d);
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

static void one_head_scalar(const bn_attn_args *a, const float *q, float *scores, float *out) {
    for (int t = 0; t < a->n; t++)
        scores[t] = dot_scalar(q, a->keys, a->f16, t * a->stride, a->d) * a->scale;
    float sum = softmax_unnormalised(scores, a->n);
    memset(out, 0, (size_t)a->d * sizeof(float));
    for (int t = 0; t < a->n; t++) {
        float w = scores[t] / sum;
        for (int i = 0; i < a->d; i++)
            out[i] = fmaf(w, element(a->values, a->f16, t * a->stride + i), out[i]);
    }
}

void bn_attn_head_scalar(const bn_attn_args *a) {
    for (int j = 0; j < a->n_q; j++)
        one_head_scalar(a, a->q + (size_t)j * a->d, a->scores + (size_t)j * a->n,
                        a->out + (size_t)j * a->d);
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
    const int g = a->n_q, d = a->d;
    for (int t = 0; t < a->n; t++) {
        __m256 acc[BN_ATTN_MAX_GROUP];
        for (int j = 0; j < g; j++)
            acc[j] = _mm256_setzero_ps();
        for (int i = 0; i < d; i += 8) {
            __m256 k = load8(a->keys, a->f16, t * a->stride + i);
            for (int j = 0; j < g; j++)
                acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a->q + j * d + i), k, acc[j]);
        }
        for (int j = 0; j < g; j++)
            a->scores[j * a->n + t] = reduce8(acc[j]) * a->scale;
    }
    float sum[BN_ATTN_MAX_GROUP];
    for (int j = 0; j < g; j++)
        sum[j] = softmax_unnormalised(a->scores + j * a->n, a->n);
    memset(a->out, 0, (size_t)g * d * sizeof(float));
    for (int t = 0; t < a->n; t++) {
        __m256 w[BN_ATTN_MAX_GROUP];
        for (int j = 0; j < g; j++) /* p_t / sum, the division the reference does */
            w[j] = _mm256_set1_ps(a->scores[j * a->n + t] / sum[j]);
        for (int i = 0; i < d; i += 8) {
            __m256 v = load8(a->values, a->f16, t * a->stride + i);
            for (int j = 0; j < g; j++) {
                float *o = a->out + j * d + i;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(w[j], v, _mm256_loadu_ps(o)));
            }
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
