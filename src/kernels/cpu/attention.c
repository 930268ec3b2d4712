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

/* A chunk's scores to unnormalised probabilities in place: *mx gets their max, the return value
 * their sum. Shared by every variant: expf is the C library's, so the bits do not depend on the
 * path. */
static float softmax_unnormalised(float *s, int n, float *mx_out) {
    float mx = -INFINITY, sum = 0.0f;
    for (int t = 0; t < n; t++)
        mx = s[t] > mx ? s[t] : mx;
    for (int t = 0; t < n; t++) {
        s[t] = expf(s[t] - mx);
        sum += s[t];
    }
    *mx_out = mx;
    return sum;
}

static void chunk_range(const bn_attn_args *a, int c, int *t0, int *t1) {
    *t0 = c * BN_ATTN_CHUNK;
    *t1 = a->n - *t0 < BN_ATTN_CHUNK ? a->n : *t0 + BN_ATTN_CHUNK;
}

void bn_attn_chunk_scalar(const bn_attn_args *a, int c, float *partial) {
    int t0, t1, d = a->d;
    chunk_range(a, c, &t0, &t1);
    for (int j = 0; j < a->n_q; j++) {
        const float *q = a->q + (size_t)j * d;
        float *scores = a->scores + (size_t)j * BN_ATTN_CHUNK;
        float *p = partial + (size_t)j * bn_attn_partial_floats(d), *o = p + 2;
        for (int t = t0; t < t1; t++)
            scores[t - t0] = dot_scalar(q, a->keys, a->f16, t * a->stride, d) * a->scale;
        p[1] = softmax_unnormalised(scores, t1 - t0, &p[0]);
        memset(o, 0, (size_t)d * sizeof(float));
        for (int t = t0; t < t1; t++)
            for (int i = 0; i < d; i++)
                o[i] = fmaf(scores[t - t0], element(a->values, a->f16, t * a->stride + i), o[i]);
    }
}

/* One chunk: o / l (see attention.h). */
static bool combine_one(const float *partials, int n_chunks, int n_q, int d, float *out) {
    if (n_chunks != 1)
        return false;
    size_t pf = bn_attn_partial_floats(d);
    for (int j = 0; j < n_q; j++)
        for (int i = 0; i < d; i++)
            out[(size_t)j * d + i] = partials[j * pf + 2 + i] / partials[j * pf + 1];
    return true;
}

/* The largest chunk maximum of head j: M of attention.h. */
static float partials_max(const float *partials, int n_chunks, int n_q, int j, size_t pf) {
    float mx = -INFINITY;
    for (int c = 0; c < n_chunks; c++) {
        float m = partials[((size_t)c * n_q + j) * pf];
        mx = m > mx ? m : mx;
    }
    return mx;
}

void bn_attn_combine_scalar(const float *partials, int n_chunks, int n_q, int d, float *out) {
    if (combine_one(partials, n_chunks, n_q, d, out))
        return;
    size_t pf = bn_attn_partial_floats(d);
    for (int j = 0; j < n_q; j++) {
        float mx = partials_max(partials, n_chunks, n_q, j, pf), sum = 0.0f;
        float *acc = out + (size_t)j * d;
        memset(acc, 0, (size_t)d * sizeof(float));
        for (int c = 0; c < n_chunks; c++) {
            const float *p = partials + ((size_t)c * n_q + j) * pf;
            float f = expf(p[0] - mx);
            sum = fmaf(p[1], f, sum);
            for (int i = 0; i < d; i++)
                acc[i] = fmaf(f, p[2 + i], acc[i]);
        }
        for (int i = 0; i < d; i++)
            acc[i] = acc[i] / sum;
    }
}

void bn_attn_heads(bn_attn_chunk_fn fn, const bn_attn_args *a, float *partials, float *out) {
    int n_chunks = bn_attn_chunks(a->n);
    size_t per_chunk = (size_t)a->n_q * bn_attn_partial_floats(a->d);
    for (int c = 0; c < n_chunks; c++)
        fn(a, c, partials + (size_t)c * per_chunk);
    bn_attn_combine(partials, n_chunks, a->n_q, a->d, out);
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* The scalar combination with the products as vector FMAs: each element's fmaf is exact-rounded
 * either way, so the bits are the scalar ones (and no call into libm's fmaf per element, which
 * a build without FMA makes of the scalar code). */
AVX2 void bn_attn_combine_avx2(const float *partials, int n_chunks, int n_q, int d, float *out) {
    if (combine_one(partials, n_chunks, n_q, d, out))
        return;
    size_t pf = bn_attn_partial_floats(d);
    for (int j = 0; j < n_q; j++) {
        float mx = partials_max(partials, n_chunks, n_q, j, pf), sum = 0.0f;
        float *acc = out + (size_t)j * d;
        memset(acc, 0, (size_t)d * sizeof(float));
        for (int c = 0; c < n_chunks; c++) {
            const float *p = partials + ((size_t)c * n_q + j) * pf;
            float f = expf(p[0] - mx);
            sum = fmaf(p[1], f, sum);
            __m256 fv = _mm256_set1_ps(f);
            int i = 0;
            for (; i + 8 <= d; i += 8)
                _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(fv, _mm256_loadu_ps(p + 2 + i),
                                                          _mm256_loadu_ps(acc + i)));
            for (; i < d; i++) /* a head size that is no multiple of 8 (1bitLLM-3B's 100) */
                acc[i] = fmaf(f, p[2 + i], acc[i]);
        }
        for (int i = 0; i < d; i++)
            acc[i] = acc[i] / sum;
    }
}

AVX2 static inline __m256 load8(const void *base, bool f16, int64_t i) {
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

/* The lanes of a dot's last partial group of elements (i = d8 .. d-1, lane i % 8) take their
 * one more product each, as the scalar lanes do; v as it is when d is a multiple of 8. */
AVX2 static inline __m256 add_tail(__m256 v, const float *q, const void *k, bool f16, int64_t off,
                                   int d8, int d) {
    if (d8 == d)
        return v;
    float l[8];
    _mm256_storeu_ps(l, v);
    for (int i = d8; i < d; i++)
        l[i - d8] = fmaf(q[i], element(k, f16, off + i), l[i - d8]);
    return _mm256_loadu_ps(l);
}

/* The eight lanes summed in attention.h's order, the tail added first. */
AVX2 static inline float reduce8(__m256 v, const float *q, const void *k, bool f16, int64_t off,
                                 int d8, int d) {
    float l[8];
    _mm256_storeu_ps(l, add_tail(v, q, k, f16, off, d8, d));
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* The scores of eight positions at once: v[u] holds position u's eight lane sums; a transpose
 * puts lane l of every position in r[l], and the rows are added in reduce8's pairing, so each
 * score has reduce8's bits while the eight reductions share 24 shuffles and 7 adds. */
AVX2 static inline __m256 reduce8x8(const __m256 *v) {
    __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    __m256 r0 = _mm256_permute2f128_ps(s0, s4, 0x20), r4 = _mm256_permute2f128_ps(s0, s4, 0x31);
    __m256 r1 = _mm256_permute2f128_ps(s1, s5, 0x20), r5 = _mm256_permute2f128_ps(s1, s5, 0x31);
    __m256 r2 = _mm256_permute2f128_ps(s2, s6, 0x20), r6 = _mm256_permute2f128_ps(s2, s6, 0x31);
    __m256 r3 = _mm256_permute2f128_ps(s3, s7, 0x20), r7 = _mm256_permute2f128_ps(s3, s7, 0x31);
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0, r4), _mm256_add_ps(r2, r6)),
                         _mm256_add_ps(_mm256_add_ps(r1, r5), _mm256_add_ps(r3, r7)));
}

/* Eight (head, position) scores at once, for G heads sharing the keys (G = 1, 2, 4 or 8) and
 * P = 8 / G positions: each key is loaded and widened once for the G heads, the eight lane sums
 * go through one 8 x 8 transpose (reduce8x8), and a head size that is no multiple of 8 adds its
 * last partial group to the lanes first (add_tail, as reduce8), so each score has reduce8's bits.
 * Returns the first position it did not do. */
AVX2 __attribute__((always_inline)) static inline int scores_by_eight(const bn_attn_args *a, int t0,
                                                                      int t1, int G) {
    const int d = a->d, d8 = d & ~7, P = 8 / G;
    int t = t0;
    for (; t + P <= t1; t += P) {
        __m256 acc[8]; /* [j * P + u] */
        for (int s = 0; s < 8; s++)
            acc[s] = _mm256_setzero_ps();
        for (int i = 0; i < d8; i += 8)
            for (int u = 0; u < P; u++) {
                __m256 k = load8(a->keys, a->f16, (t + u) * a->stride + i);
                for (int j = 0; j < G; j++)
                    acc[j * P + u] =
                        _mm256_fmadd_ps(_mm256_loadu_ps(a->q + j * d + i), k, acc[j * P + u]);
            }
        for (int s = 0; s < 8 && d8 < d; s++)
            acc[s] = add_tail(acc[s], a->q + (s / P) * d, a->keys, a->f16, (t + s % P) * a->stride,
                              d8, d);
        float sc[8];
        _mm256_storeu_ps(sc, _mm256_mul_ps(reduce8x8(acc), _mm256_set1_ps(a->scale)));
        for (int s = 0; s < 8; s++)
            a->scores[(s / P) * BN_ATTN_CHUNK + t + s % P - t0] = sc[s];
    }
    return t;
}

/* The positions scores_by_eight takes for this group size (the rest go one by one). */
AVX2 static int scores_grouped(const bn_attn_args *a, int t0, int t1) {
    switch (a->n_q) {
    case 1:
        return scores_by_eight(a, t0, t1, 1);
    case 2:
        return scores_by_eight(a, t0, t1, 2);
    case 4:
        return scores_by_eight(a, t0, t1, 4);
    case 8:
        return scores_by_eight(a, t0, t1, 8);
    default:
        return t0;
    }
}

AVX2 void bn_attn_chunk_avx2(const bn_attn_args *a, int c, float *partial) {
    const int g = a->n_q, d = a->d, d8 = d & ~7;
    const size_t pf = bn_attn_partial_floats(d);
    int t0, t1;
    chunk_range(a, c, &t0, &t1);
    int from = scores_grouped(a, t0, t1);
    for (int t = from; t < t1; t++) {
        __m256 acc[BN_ATTN_MAX_GROUP];
        for (int j = 0; j < g; j++)
            acc[j] = _mm256_setzero_ps();
        for (int i = 0; i < d8; i += 8) {
            __m256 k = load8(a->keys, a->f16, t * a->stride + i);
            for (int j = 0; j < g; j++)
                acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a->q + j * d + i), k, acc[j]);
        }
        for (int j = 0; j < g; j++)
            a->scores[j * BN_ATTN_CHUNK + t - t0] =
                reduce8(acc[j], a->q + j * d, a->keys, a->f16, t * a->stride, d8, d) * a->scale;
    }
    for (int j = 0; j < g; j++) {
        float *p = partial + j * pf;
        p[1] = softmax_unnormalised(a->scores + j * BN_ATTN_CHUNK, t1 - t0, &p[0]);
        memset(p + 2, 0, (size_t)d * sizeof(float));
    }
    for (int t = t0; t < t1; t++) {
        __m256 w[BN_ATTN_MAX_GROUP];
        for (int j = 0; j < g; j++)
            w[j] = _mm256_set1_ps(a->scores[j * BN_ATTN_CHUNK + t - t0]);
        for (int i = 0; i < d8; i += 8) {
            __m256 v = load8(a->values, a->f16, t * a->stride + i);
            for (int j = 0; j < g; j++) {
                float *o = partial + j * pf + 2 + i;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(w[j], v, _mm256_loadu_ps(o)));
            }
        }
        for (int i = d8; i < d; i++) {
            float v = element(a->values, a->f16, t * a->stride + i);
            for (int j = 0; j < g; j++)
                partial[j * pf + 2 + i] =
                    fmaf(a->scores[j * BN_ATTN_CHUNK + t - t0], v, partial[j * pf + 2 + i]);
        }
    }
}
#endif

void bn_attn_combine(const float *partials, int n_chunks, int n_q, int d, float *out) {
#if defined(__x86_64__)
    bn_isa isa = bn_cpu_isa();
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512) {
        bn_attn_combine_avx2(partials, n_chunks, n_q, d, out);
        return;
    }
#endif
    bn_attn_combine_scalar(partials, n_chunks, n_q, d, out);
}

bn_attn_chunk_fn bn_attn_chunk_for(bn_isa isa) {
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 || isa == BN_ISA_AVX512)
        return bn_attn_chunk_avx2;
#endif
    (void)isa;
    return bn_attn_chunk_scalar;
}
