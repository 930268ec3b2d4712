/*
 * attention.h - one query head against the KV cache: softmax(q k^T * scale) v.
 *
 * The cache holds keys and values in f32 or f16 (half the bytes; the forward pass's default).
 * The arithmetic every path follows exactly, for positions t = 0..n-1 and head size d
 * (d % 8 == 0):
 *
 *     dot(q, k_t): eight float lanes l = 0..7, lane l sums q[i] * k_t[i] for i = l, l+8, ...
 *                  in order with fmaf from 0, reduced as ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7))
 *     s_t   = dot(q, k_t) * scale;     mx = max_t s_t
 *     p_t   = expf(s_t - mx);          sum = p_0 + p_1 + ... (in order)
 *     out[i] = fmaf(p_t / sum, v_t[i], out[i])  for t = 0, 1, ..., from out = 0
 *
 * so a SIMD path (one __m256 per 8 lanes) gives the scalar reference's bits, and the prefill
 * and the decode of the same position agree to the bit. A f16 element is widened exactly.
 *
 * One call serves the n_q query heads that share a KV head (grouped-query attention): each
 * key and value row is loaded and widened once for all of them, and each head's arithmetic is
 * exactly the single head's above.
 */
#ifndef BN_KERNELS_CPU_ATTENTION_H
#define BN_KERNELS_CPU_ATTENTION_H

#include "base/cpu.h"

#include <stdbool.h>
#include <stdint.h>

enum { BN_ATTN_MAX_GROUP = 8 };

typedef struct bn_attn_args {
    const float *q;     /* [n_q][d] */
    const void *keys;   /* position t's key at keys + t * stride elements */
    const void *values; /* likewise */
    int64_t stride;     /* elements between positions */
    bool f16;           /* keys and values are f16 (else f32) */
    int n, d;           /* positions, head size (d % 8 == 0) */
    int n_q;            /* query heads on these keys and values, 1..BN_ATTN_MAX_GROUP */
    float scale;
    float *scores; /* scratch [n_q][n] */
    float *out;    /* [n_q][d] */
} bn_attn_args;

typedef void (*bn_attn_fn)(const bn_attn_args *a);

void bn_attn_head_scalar(const bn_attn_args *a);
#if defined(__x86_64__)
void bn_attn_head_avx2(const bn_attn_args *a); /* AVX2 + FMA + F16C; AVX-512 uses it too */
#endif

/* The variant for a path (the scalar one where there is no other). */
bn_attn_fn bn_attn_head_for(bn_isa isa);

#endif /* BN_KERNELS_CPU_ATTENTION_H */
