/*
 * half.c - f16 / bf16 <-> f32: the scalar specification and the row dispatchers.
 *
 * The scalar functions define every bit, including NaNs, and they were written to agree with
 * the x86 instructions (F16C VCVTPH2PS / VCVTPS2PH) so that the SIMD rows in half_x86.c can
 * use those instructions and still give the same bits as this file:
 *   f16 -> f32   exact; a NaN keeps its sign and payload (mantissa << 13) and comes out quiet
 *                (VCVTPH2PS quiets a signalling NaN).
 *   f32 -> f16   round to nearest, ties to even, f16 subnormals rounded correctly, overflow to
 *                Inf; a NaN keeps its sign and its top 10 payload bits and comes out quiet.
 *   bf16 -> f32  the 16-bit shift: exact, every bit kept (a NaN too, signalling or not).
 *   f32 -> bf16  round to nearest, ties to even, on the top 16 bits; f32 subnormals rounded like
 *                any value (no flush); a NaN keeps its sign and top payload bits and is quieted,
 *                because rounding its bits could carry it into Inf.
 * Only integer arithmetic is used, so the result never depends on the FP environment.
 */
#include "tensor/half.h"

#include "base/cpu.h"
#include "tensor/half_simd.h"

#include <string.h>

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---------------------------------------------------------------------------------------------
 * Scalar specification
 * ------------------------------------------------------------------------------------------- */

float bn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;

    if (exp == 0x1f) {
        if (man == 0)
            return bits_float(sign | 0x7f800000u);
        return bits_float(sign | 0x7fc00000u | (man << 13)); /* quiet bit set, as F16C does */
    }
    if (exp == 0) {
        if (man == 0)
            return bits_float(sign);
        /* Subnormal man * 2^-24: shift the leading 1 up to the implicit-bit position (bit 10);
         * every f16 subnormal is a normal f32. 113 is the f32 biased exponent of 2^-14. */
        uint32_t e = 113;
        while ((man & 0x400) == 0) {
            man <<= 1;
            e--;
        }
        return bits_float(sign | (e << 23) | ((man & 0x3ff) << 13));
    }
    /* Normal: rebias the exponent from 15 to 127. */
    return bits_float(sign | ((exp + 112) << 23) | (man << 13));
}

/* q = m >> shift, rounded to nearest with ties to even (1 <= shift <= 31). Written without a
 * branch: on real data the round-up decision is a coin toss, and a mispredicted branch per
 * value would cost more than the rest of the conversion. */
static uint32_t shift_right_rne(uint32_t m, unsigned shift) {
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    uint32_t round_up = (rem > half) | ((rem == half) & (q & 1));
    return q + round_up;
}

uint16_t bn_f32_to_f16(float f) {
    uint32_t x = float_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;

    if (a > 0x7f800000u) /* NaN: top 10 payload bits, quiet bit forced, as VCVTPS2PH does */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x477ff000u) /* >= 65520, the midpoint of 65504 (odd) and 2^16: Inf, or was Inf */
        return (uint16_t)(sign | 0x7c00);
    if (a >= 0x38800000u) {
        /* Normal result (>= 2^-14): rebias, then round away the low 13 mantissa bits. A carry
         * out of the mantissa correctly bumps the exponent; the Inf cases were caught above. */
        uint32_t rebiased = a - (112u << 23);
        return (uint16_t)(sign | shift_right_rne(rebiased, 13));
    }
    if (a <= 0x33000000u) /* <= 2^-25, half the smallest subnormal: the tie goes to even, 0 */
        return sign;
    /* Subnormal result, in units of 2^-24. The input is a normal f32 here (>= 2^-25), so its
     * value is (1.m) * 2^(e-127) = m24 * 2^(e-150) = m24 >> (126 - e) units; e is 102..112. */
    uint32_t e = a >> 23;
    uint32_t m24 = (a & 0x7fffffu) | 0x800000u;
    return (uint16_t)(sign | shift_right_rne(m24, 126 - e)); /* may round up to 0x400: fine */
}

float bn_bf16_to_f32(uint16_t h) {
    return bits_float((uint32_t)h << 16);
}

uint16_t bn_f32_to_bf16(float f) {
    uint32_t x = float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x0040);
    /* Adding 0x7fff rounds up past the midpoint; the extra lsb makes an exact tie round up only
     * when the kept part is odd. Largest finite values correctly overflow into Inf. */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* ---------------------------------------------------------------------------------------------
 * Scalar rows
 * ------------------------------------------------------------------------------------------- */

void bn_f16_to_f32_row_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = bn_f16_to_f32(src[i]);
}

void bn_f32_to_f16_row_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = bn_f32_to_f16(src[i]);
}

void bn_bf16_to_f32_row_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = bn_bf16_to_f32(src[i]);
}

void bn_f32_to_bf16_row_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = bn_f32_to_bf16(src[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Dispatch: the path in force (bn_cpu_isa) picks the variant; anything without a variant here
 * (scalar, NEON, a non-x86 build) uses the reference rows.
 * ------------------------------------------------------------------------------------------- */

void bn_f16_to_f32_row(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    switch (bn_cpu_isa()) {
    case BN_ISA_AVX512:
        bn_f16_to_f32_row_avx512(src, dst, n);
        return;
    case BN_ISA_AVX2:
        bn_f16_to_f32_row_avx2(src, dst, n);
        return;
    default:
        break;
    }
#endif
    bn_f16_to_f32_row_ref(src, dst, n);
}

void bn_f32_to_f16_row(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    switch (bn_cpu_isa()) {
    case BN_ISA_AVX512:
        bn_f32_to_f16_row_avx512(src, dst, n);
        return;
    case BN_ISA_AVX2:
        bn_f32_to_f16_row_avx2(src, dst, n);
        return;
    default:
        break;
    }
#endif
    bn_f32_to_f16_row_ref(src, dst, n);
}

void bn_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    switch (bn_cpu_isa()) {
    case BN_ISA_AVX512:
        bn_bf16_to_f32_row_avx512(src, dst, n);
        return;
    case BN_ISA_AVX2:
        bn_bf16_to_f32_row_avx2(src, dst, n);
        return;
    default:
        break;
    }
#endif
    bn_bf16_to_f32_row_ref(src, dst, n);
}

void bn_f32_to_bf16_row(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    switch (bn_cpu_isa()) {
    case BN_ISA_AVX512:
        bn_f32_to_bf16_row_avx512(src, dst, n);
        return;
    case BN_ISA_AVX2:
        bn_f32_to_bf16_row_avx2(src, dst, n);
        return;
    default:
        break;
    }
#endif
    bn_f32_to_bf16_row_ref(src, dst, n);
}
