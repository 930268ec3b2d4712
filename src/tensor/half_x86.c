/*
 * half_x86.c - AVX2/F16C and AVX-512 rows for the f16 / bf16 <-> f32 conversions.
 *
 * The build passes no -m flags, so each function names its own features with a target
 * attribute and the file runs nowhere until half.c's dispatcher has checked bn_cpu_isa().
 * Every variant gives the bits of the scalar reference in half.c:
 *   - f16 uses the hardware converters (VCVTPH2PS / VCVTPS2PH with round-to-nearest-even as an
 *     immediate, so MXCSR.RC is not consulted); the reference was written to match them,
 *     NaNs included. MXCSR.DAZ could only touch f32 subnormal inputs, and those round to a
 *     signed zero in f16 whether or not they are flushed first.
 *   - bf16 is integer work. VCVTNEPS2BF16 (AVX512-BF16) is not used: it treats input
 *     denormals as zero, which the reference does not.
 * AVX2 tails (fewer than a vector) go through the scalar reference; AVX-512 tails use masked
 * loads and stores, which do not touch the masked-off memory.
 */
#if defined(__x86_64__)

#include "tensor/half.h"
#include "tensor/half_simd.h"

#include <immintrin.h>

/* ---------------------------------------------------------------------------------------------
 * AVX2 + F16C: 8 lanes (16 for bf16 narrowing, to fill one 256-bit store)
 * ------------------------------------------------------------------------------------------- */

__attribute__((target("avx2,fma,f16c"))) void bn_f16_to_f32_row_avx2(const uint16_t *src,
                                                                     float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    bn_f16_to_f32_row_ref(src + i, dst + i, n - i);
}

__attribute__((target("avx2,fma,f16c"))) void bn_f32_to_f16_row_avx2(const float *src,
                                                                     uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    bn_f32_to_f16_row_ref(src + i, dst + i, n - i);
}

__attribute__((target("avx2,fma,f16c"))) void bn_bf16_to_f32_row_avx2(const uint16_t *src,
                                                                      float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_si256((__m256i *)(dst + i), w);
    }
    bn_bf16_to_f32_row_ref(src + i, dst + i, n - i);
}

/* bf16 codes of 8 floats given as bits, one per 32-bit lane (upper halves zero); see
 * bn_f32_to_bf16 for the rounding and the NaN rule. */
__attribute__((target("avx2,fma,f16c"))) static inline __m256i bf16_round_avx2(__m256i x) {
    __m256i top = _mm256_srli_epi32(x, 16);
    __m256i lsb = _mm256_and_si256(top, _mm256_set1_epi32(1));
    __m256i biased = _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb);
    __m256i rounded = _mm256_srli_epi32(biased, 16);
    __m256i quiet_nan = _mm256_or_si256(top, _mm256_set1_epi32(0x40));
    /* |x| as a signed int is non-negative, so a signed compare orders magnitudes. */
    __m256i magnitude = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
    __m256i is_nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

__attribute__((target("avx2,fma,f16c"))) void bn_f32_to_bf16_row_avx2(const float *src,
                                                                      uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i lo = bf16_round_avx2(_mm256_loadu_si256((const __m256i *)(src + i)));
        __m256i hi = bf16_round_avx2(_mm256_loadu_si256((const __m256i *)(src + i + 8)));
        /* Lanes hold 0..0xffff, so the unsigned-saturating pack never saturates; it interleaves
         * 128-bit halves (lo0 hi0 lo1 hi1), which the permute puts back in order. */
        __m256i packed = _mm256_packus_epi32(lo, hi);
        packed = _mm256_permute4x64_epi64(packed, _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    bn_f32_to_bf16_row_ref(src + i, dst + i, n - i);
}

/* ---------------------------------------------------------------------------------------------
 * AVX-512 F/BW/VL/DQ: 16 lanes, masked tail
 * ------------------------------------------------------------------------------------------- */

/* Mask of the first n lanes, n < 16. */
static inline __mmask16 tail_mask(size_t n) {
    return (__mmask16)((1u << n) - 1);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void
bn_f16_to_f32_row_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(h));
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void
bn_f32_to_f16_row_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(dst + i), h);
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void
bn_bf16_to_f32_row_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
        _mm512_mask_storeu_epi32(dst + i, m, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}

/* bf16 codes of 16 floats given as bits, one per 32-bit lane; as bf16_round_avx2. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static inline __m512i
bf16_round_avx512(__m512i x) {
    __m512i top = _mm512_srli_epi32(x, 16);
    __m512i lsb = _mm512_and_si512(top, _mm512_set1_epi32(1));
    __m512i biased = _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), lsb);
    __m512i rounded = _mm512_srli_epi32(biased, 16);
    __m512i quiet_nan = _mm512_or_si512(top, _mm512_set1_epi32(0x40));
    __m512i magnitude = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
    __mmask16 is_nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_blend_epi32(is_nan, rounded, quiet_nan);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void
bn_f32_to_bf16_row_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i codes = bf16_round_avx512(_mm512_loadu_si512(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(codes));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512i codes = bf16_round_avx512(_mm512_maskz_loadu_epi32(m, src + i));
        _mm512_mask_cvtepi32_storeu_epi16(dst + i, m, codes);
    }
}

#endif /* __x86_64__ */
