/*
 * attention.h - one query head against the KV cache: softmax(q k^T * scale) v.
 *
 * The cache holds keys and values in f32 or f16 (half the bytes; the forward pass's default).
 * Positions are taken in fixed chunks of BN_ATTN_CHUNK (flash-decoding): each chunk gives a
 * partial result on its own, and the partials are combined in chunk order. A long context's
 * chunks can then run on different threads (a decode step has only n_kv_heads other work
 * items: 5 for 2B-4T), and since the chunks are fixed, not chosen per thread count, the result
 * has the same bits however many threads share the work, in prefill and in decode alike.
 *
 * The arithmetic every path follows exactly, for head size d (any: lane l of a last partial group
 * of 8 takes element d8 + l, d8 = d rounded down to 8) and chunk c holding
 * positions t = cC .. min(n, cC + C) - 1 (C = BN_ATTN_CHUNK):
 *
 *     dot(q, k_t): eight float lanes l = 0..7, lane l sums q[i] * k_t[i] for i = l, l+8, ...
 *                  in order with fmaf from 0, reduced as ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7))
 *     s_t    = dot(q, k_t) * scale
 *     m_c    = max of s_t over the chunk
 *     p_t    = expf(s_t - m_c);            l_c = p_first + ... + p_last (in order, from 0)
 *     o_c[i] = fmaf(p_t, v_t[i], o_c[i])   for the chunk's t in order, from 0
 * and then, over chunks c = 0, 1, ... in order (M = max of m_c, f_c = expf(m_c - M)):
 *     L      = fmaf(l_c, f_c, L)           from L = 0
 *     a[i]   = fmaf(f_c, o_c[i], a[i])     from a = 0
 *     out[i] = a[i] / L
 *
 * so a SIMD path (one __m256 per 8 lanes) gives the scalar reference's bits. A f16 element is
 * widened exactly. A partial is d + 2 floats: m_c, l_c, then o_c[0..d).
 *
 * One call serves the n_q query heads that share a KV head (grouped-query attention): each
 * key and value row is loaded and widened once for all of them, and each head's arithmetic is
 * exactly the single head's above.
 */
#ifndef BN_KERNELS_CPU_ATTENTION_H
#define BN_KERNELS_CPU_ATTENTION_H

#include "base/cpu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { BN_ATTN_MAX_GROUP = 8, BN_ATTN_CHUNK = 256 };

typedef struct bn_attn_args {
    const float *q;     /* [n_q][d] */
    const void *keys;   /* position t's key at keys + t * stride elements */
    const void *values; /* likewise */
    int64_t stride;     /* elements between positions */
    bool f16;           /* keys and values are f16 (else f32) */
    int n, d;           /* positions, head size (any; 1bitLLM-3B's is 100) */
    int n_q;            /* query heads on these keys and values, 1..BN_ATTN_MAX_GROUP */
    float scale;
    float *scores; /* scratch [n_q][BN_ATTN_CHUNK] */
} bn_attn_args;

/* Chunks of n positions. */
static inline int bn_attn_chunks(int n) {
    return (n + BN_ATTN_CHUNK - 1) / BN_ATTN_CHUNK;
}

/* Floats of one head's partial result. */
static inline size_t bn_attn_partial_floats(int d) {
    return (size_t)d + 2;
}

/* Chunk c's partials of the n_q heads into partial[n_q][d + 2]. */
typedef void (*bn_attn_chunk_fn)(const bn_attn_args *a, int c, float *partial);

void bn_attn_chunk_scalar(const bn_attn_args *a, int c, float *partial);
#if defined(__x86_64__)
void bn_attn_chunk_avx2(const bn_attn_args *a, int c, float *partial); /* AVX-512 uses it too */
#endif

/* The variant for a path (the scalar one where there is no other). */
bn_attn_chunk_fn bn_attn_chunk_for(bn_isa isa);

/* out[n_q][d] from the partials of n_chunks chunks, chunk-major: partials[c][n_q][d + 2]. The
 * path bn_cpu_isa() picks; every variant gives the scalar one's bits (the fmaf of each element
 * is exact however it is computed). One chunk is o / l: f = expf(0) = 1 makes the fmaf steps
 * exact copies, so the shortcut has the same bits. */
void bn_attn_combine(const float *partials, int n_chunks, int n_q, int d, float *out);
void bn_attn_combine_scalar(const float *partials, int n_chunks, int n_q, int d, float *out);
#if defined(__x86_64__)
void bn_attn_combine_avx2(const float *partials, int n_chunks, int n_q, int d, float *out);
#endif

/* The whole thing on one thread: every chunk through fn, then the combination. partials is
 * scratch of bn_attn_chunks(a->n) * a->n_q * (d + 2) floats. */
void bn_attn_heads(bn_attn_chunk_fn fn, const bn_attn_args *a, float *partials, float *out);

#endif /* BN_KERNELS_CPU_ATTENTION_H */
