/*
 * dot.h - float32 dot products for the float paths that are not the hot ones (a float output
 * head in `bitnet logits` and `perplexity`).
 *
 * The arithmetic every path follows: eight lanes, lane l sums a[i] * b[i] for i = l, l + 8, ...
 * in order with fmaf from 0, reduced as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) -- the order of
 * attention.h's dot -- so a SIMD path gives the scalar reference's bits.
 */
#ifndef BN_KERNELS_CPU_DOT_H
#define BN_KERNELS_CPU_DOT_H

#include "base/cpu.h"
#include "tensor/dtype.h"

#include <stdint.h>

typedef float (*bn_dot_fn)(const float *a, const float *b, int64_t n);

float bn_dot_f32_scalar(const float *a, const float *b, int64_t n);
#if defined(__x86_64__)
float bn_dot_f32_avx2(const float *a, const float *b, int64_t n); /* AVX2 + FMA */
#endif

/* The variant for a path (the scalar one where there is no other). */
bn_dot_fn bn_dot_f32_for(bn_isa isa);

/* The same dot with a stored as f16 or bf16 (widened exactly, so the result is that of the f32
 * dot over the widened row): a float head read straight from the file, without a pass that
 * writes the widened row first. */
typedef float (*bn_dot_half_fn)(const uint16_t *a, const float *b, int64_t n);

float bn_dot_f16_scalar(const uint16_t *a, const float *b, int64_t n);
float bn_dot_bf16_scalar(const uint16_t *a, const float *b, int64_t n);
#if defined(__x86_64__)
float bn_dot_f16_avx2(const uint16_t *a, const float *b, int64_t n);  /* + F16C */
float bn_dot_bf16_avx2(const uint16_t *a, const float *b, int64_t n); /* AVX2 + FMA */
#endif

bn_dot_half_fn bn_dot_f16_for(bn_isa isa);
bn_dot_half_fn bn_dot_bf16_for(bn_isa isa);

/* The half dot for rows stored as t: f16 or bf16; NULL for any other type. */
bn_dot_half_fn bn_dot_half_for(bn_dtype t, bn_isa isa);

#endif /* BN_KERNELS_CPU_DOT_H */
