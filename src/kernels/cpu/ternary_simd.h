/* ternary_simd.h - the ISA variants of the ternary kernel (contract in ternary_gemm.h). Each is
 * compiled with its own target attributes, so one binary carries all and picks at run time. */
#ifndef BN_KERNELS_CPU_TERNARY_SIMD_H
#define BN_KERNELS_CPU_TERNARY_SIMD_H

#include "kernels/cpu/ternary_gemm.h"

#if defined(__x86_64__)
void bn_ternary_kernel_avx2(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                            const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y);
void bn_ternary_kernel_avx512(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                              const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y);
void bn_ternary_kernel_t5_avx512(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                                 const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y);
/* The same with the prefill decoder for CPUs without VBMI (the one above picks it there
 * itself); declared for the tests, which hold both to the reference on any AVX-512 CPU. */
void bn_ternary_kernel_t5_avx512_cmp(const bn_ternary_matrix *w, const int8_t *xq,
                                     const float *x_scale, const int32_t *x_sum, int64_t m,
                                     int64_t n0, int64_t n1, float *y);
#endif
#if defined(__aarch64__)
void bn_ternary_kernel_neon(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                            const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y);
#endif

#endif /* BN_KERNELS_CPU_TERNARY_SIMD_H */
