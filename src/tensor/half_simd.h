/*
 * half_simd.h - the x86 SIMD variants of the half.h rows (internal to src/tensor).
 *
 * Each has the signature of its reference row and gives the same bits. They are compiled with
 * per-function target attributes, so calling one on a CPU without its features faults: only the
 * dispatchers in half.c call them, after bn_cpu_isa() said the path is available.
 *   _avx2:   AVX2 + F16C (BN_ISA_AVX2)
 *   _avx512: AVX-512 F/BW/VL/DQ (BN_ISA_AVX512)
 */
#ifndef BN_TENSOR_HALF_SIMD_H
#define BN_TENSOR_HALF_SIMD_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
void bn_f16_to_f32_row_avx2(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_f16_row_avx2(const float *src, uint16_t *dst, size_t n);
void bn_bf16_to_f32_row_avx2(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_bf16_row_avx2(const float *src, uint16_t *dst, size_t n);

void bn_f16_to_f32_row_avx512(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_f16_row_avx512(const float *src, uint16_t *dst, size_t n);
void bn_bf16_to_f32_row_avx512(const uint16_t *src, float *dst, size_t n);
void bn_f32_to_bf16_row_avx512(const float *src, uint16_t *dst, size_t n);
#endif

#endif /* BN_TENSOR_HALF_SIMD_H */
