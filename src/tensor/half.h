/*
 * half.h - IEEE half (f16) and bfloat16 (bf16) <-> float32.
 *
 * Narrowing rounds to nearest, ties to even; NaN stays NaN (quiet, sign kept), Inf stays Inf,
 * overflow gives Inf, f16 subnormals are produced and read exactly. The scalar functions are the
 * specification; the row functions pick an F16C / AVX-512 path at run time (bn_cpu_isa) and
 * must give the same bits.
 */
#ifndef BN_TENSOR_HALF_H
#define BN_TENSOR_HALF_H

#include <stddef.h>
#include <stdint.h>

float bn_f16_to_f32(uint16_t h);
uint16_t bn_f32_to_f16(float f);
float bn_bf16_to_f32(uint16_t h);
uint16_t bn_f32_to_bf16(float f);

/* Rows, dispatched on bn_cpu_isa(). */
void bn_f16_to_f32_row(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_f16_row(const float *src, uint16_t *dst, size_t n);
void bn_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_bf16_row(const float *src, uint16_t *dst, size_t n);

/* Scalar references of the rows (for tests and for the scalar path). */
void bn_f16_to_f32_row_ref(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_f16_row_ref(const float *src, uint16_t *dst, size_t n);
void bn_bf16_to_f32_row_ref(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_bf16_row_ref(const float *src, uint16_t *dst, size_t n);

#endif /* BN_TENSOR_HALF_H */
