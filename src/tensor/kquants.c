/*
 * kquants.c - decoders and reference encoders of the legacy, k-quant and IQ4_NL block types
 * (layouts and contracts in kquants.h).
 *
 * Each block goes through integer "codes" (one per value) and integer scales, read or written
 * by one pair of functions per layout, so every bit placement is spelled out once; the float
 * arithmetic then follows gguf-py (decoders) or ggml's reference quantizers (encoders) one
 * operation at a time. ggml's helpers are re-derived here from their algorithms:
 *
 *  - fit_symmetric (ggml's make_qx_quants, weights x^2): codes l in [-nmax, nmax - 1] for one
 *    scale; tries iscale = -(nmax + 0.1 t) / max for t = -9..9 and keeps the least-squares
 *    scale sum(w x l) / sum(w l^2) of the best weighted fit. Q6_K's sub-blocks.
 *  - fit_q3 (make_q3_quants): the same start, then up to 5 sweeps that move single codes to
 *    the value the least-squares scale of the others asks for, while that improves the fit.
 *  - fit_affine (make_qkx2_quants): codes in [0, nmax] for x ~ scale * l + min, min <= 0; tries
 *    nstep + 1 code assignments from iscale = (nmax + rmin + rdelta t) / (max - min), solves the
 *    weighted 2x2 least squares for (scale, min) of each, keeps the least weighted error
 *    (absolute for Q2_K, squared for Q4_K/Q5_K). Q2_K, Q4_K and Q5_K sub-blocks.
 *  - The super-block scales (6-bit, 4-bit or int8) quantize the sub-block scales against their
 *    maximum, and the codes are then recomputed from the stored (f16-rounded) scales.
 *  - IQ4_NL (ggml's quantize_row_iq4_nl_impl, no importance matrix, 7 trials each side):
 *    nearest level of the non-linear table, the weighted least-squares scale of 15 trial
 *    scales around max / -127, then the codes again from the scale kept.
 */
#include "tensor/kquants.h"

#include "tensor/half.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Every float operation rounds on its own, as in ggml's and gguf-py's code: GCC does not fuse
 * a * b + c in -std=c11, but clang may whenever the target has FMA (-march=native builds).
 * It matters: built with gcc -ffp-contract=fast -march=native, the Q2_K/Q4_K/Q5_K/Q6_K encoders
 * no longer give llama-quantize's bytes (tests/py/test_formats_reference.py fails). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ggml's GROUP_MAX_EPS: sub-blocks whose largest |x| is below it count as zero. */
#define GROUP_MAX_EPS 1e-15f

const int8_t bn_iq4_nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

/* ---------------------------------------------------------------------------------------------
 * Codes <-> bytes
 * ------------------------------------------------------------------------------------------- */

/* The 32 nibbles of Q4_0/Q4_1/Q5_x/IQ4_NL: byte j holds value j low, value j + 16 high. */
static void read_nibbles(const uint8_t qs[16], uint8_t u[32]) {
    for (int j = 0; j < 16; j++) {
        u[j] = qs[j] & 0x0F;
        u[j + 16] = qs[j] >> 4;
    }
}

static void write_nibbles(const uint8_t u[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((u[j] & 0x0F) | (u[j + 16] & 0x0F) << 4);
}

/* Bit 4 of the 32 Q5_0/Q5_1 codes: bit j of the little-endian uint32 qh. */
static void read_high_bits(const uint8_t qh[4], uint8_t u[32]) {
    uint32_t h =
        (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    for (int j = 0; j < 32; j++)
        u[j] |= (uint8_t)(((h >> j) & 1) << 4);
}

static void write_high_bits(const uint8_t u[32], uint8_t qh[4]) {
    memset(qh, 0, 4);
    for (int j = 0; j < 32; j++)
        qh[j / 8] |= (uint8_t)(((u[j] >> 4) & 1) << (j % 8));
}

/* 2-bit codes of Q2_K/Q3_K: value 128h + 32s + m at bits 2s of qs[32h + m]. */
static void read_crumbs(const uint8_t qs[64], uint8_t u[BN_QKK]) {
    for (int e = 0; e < BN_QKK; e++)
        u[e] = (qs[32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3;
}

static void write_crumbs(const uint8_t u[BN_QKK], uint8_t qs[64]) {
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m++) {
            const uint8_t *c = u + 128 * h + m;
            qs[32 * h + m] =
                (uint8_t)((c[0] & 3) | (c[32] & 3) << 2 | (c[64] & 3) << 4 | (c[96] & 3) << 6);
        }
}

/* The low 4 bits of Q4_K/Q5_K codes: value 64c + i low nibble, 64c + 32 + i high of qs[32c+i]. */
static void read_k_nibbles(const uint8_t qs[128], uint8_t u[BN_QKK]) {
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 32; i++) {
            u[64 * c + i] = qs[32 * c + i] & 0x0F;
            u[64 * c + 32 + i] = qs[32 * c + i] >> 4;
        }
}

static void write_k_nibbles(const uint8_t u[BN_QKK], uint8_t qs[128]) {
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 32; i++)
            qs[32 * c + i] = (uint8_t)((u[64 * c + i] & 0x0F) | (u[64 * c + 32 + i] & 0x0F) << 4);
}

void bn_q4_k_scale_min(const uint8_t s[12], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0x0F) | (s[j] >> 6) << 4);
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | (s[j + 4] >> 6) << 4);
    }
}

/* The inverse, for 6-bit sc and m. */
static void write_scale_min(const uint8_t sc[8], const uint8_t m[8], uint8_t s[12]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0F) | (m[j + 4] & 0x0F) << 4);
    }
}

/* Q3_K's 16 scales (6-bit, stored without the -32 offset). */
static void read_q3_scales(const uint8_t s[12], uint8_t sc[16]) {
    for (int j = 0; j < 16; j++) {
        int low = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
        int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (uint8_t)(low | high << 4);
    }
}

static void write_q3_scales(const uint8_t sc[16], uint8_t s[12]) {
    memset(s, 0, 12);
    for (int j = 0; j < 16; j++) {
        s[j % 8] |= (uint8_t)((sc[j] & 0x0F) << (j < 8 ? 0 : 4));
        s[8 + j % 4] |= (uint8_t)(((sc[j] >> 4) & 3) << (2 * (j / 4)));
    }
}

void bn_q4_k_codes(const bn_block_q4_k *b, uint8_t u[BN_QKK]) {
    read_k_nibbles(b->qs, u);
}

static void q5_k_codes(const bn_block_q5_k *b, uint8_t u[BN_QKK]) {
    read_k_nibbles(b->qs, u);
    for (int e = 0; e < BN_QKK; e++)
        u[e] |= (uint8_t)(((b->qh[e % 32] >> (e / 32)) & 1) << 4);
}

void bn_q6_k_codes(const bn_block_q6_k *b, uint8_t u[BN_QKK]) {
    for (int h = 0; h < 2; h++)
        for (int r = 0; r < 128; r++) {
            int low = (b->ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
            int high = (b->qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            u[128 * h + r] = (uint8_t)(low | high << 4);
        }
}

static void write_q6_k_codes(const uint8_t u[BN_QKK], bn_block_q6_k *b) {
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m++) {
            const uint8_t *c = u + 128 * h + m;
            b->ql[64 * h + m] = (uint8_t)((c[0] & 0x0F) | (c[64] & 0x0F) << 4);
            b->ql[64 * h + 32 + m] = (uint8_t)((c[32] & 0x0F) | (c[96] & 0x0F) << 4);
            b->qh[32 * h + m] = (uint8_t)((c[0] >> 4 & 3) | (c[32] >> 4 & 3) << 2 |
                                          (c[64] >> 4 & 3) << 4 | (c[96] >> 4 & 3) << 6);
        }
}

/* ---------------------------------------------------------------------------------------------
 * Decoders: gguf-py's float32 operations, in its order
 * ------------------------------------------------------------------------------------------- */

void bn_q4_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q4_0 *b = src;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        float d = bn_f16_to_f32(b[i].d);
        read_nibbles(b[i].qs, u);
        for (int j = 0; j < BN_QK4; j++)
            dst[i * BN_QK4 + j] = d * (float)(u[j] - 8);
    }
}

/* d * u + m: two roundings (numpy multiplies, then adds). */
void bn_q4_1_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q4_1 *b = src;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        float d = bn_f16_to_f32(b[i].d), m = bn_f16_to_f32(b[i].m);
        read_nibbles(b[i].qs, u);
        for (int j = 0; j < BN_QK4; j++) {
            float du = d * (float)u[j];
            dst[i * BN_QK4 + j] = du + m;
        }
    }
}

void bn_q5_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q5_0 *b = src;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        float d = bn_f16_to_f32(b[i].d);
        read_nibbles(b[i].qs, u);
        read_high_bits(b[i].qh, u);
        for (int j = 0; j < BN_QK4; j++)
            dst[i * BN_QK4 + j] = d * (float)(u[j] - 16);
    }
}

void bn_q5_1_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q5_1 *b = src;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        float d = bn_f16_to_f32(b[i].d), m = bn_f16_to_f32(b[i].m);
        read_nibbles(b[i].qs, u);
        read_high_bits(b[i].qh, u);
        for (int j = 0; j < BN_QK4; j++) {
            float du = d * (float)u[j];
            dst[i * BN_QK4 + j] = du + m;
        }
    }
}

/* dl = d * sc, ml = dmin * m per sub-block, then dl * u - ml. */
void bn_q2_k_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q2_k *b = src;
    uint8_t u[BN_QKK];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        float d = bn_f16_to_f32(b[i].d), dmin = bn_f16_to_f32(b[i].dmin);
        read_crumbs(b[i].qs, u);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)(b[i].scales[j] & 0x0F);
            float ml = dmin * (float)(b[i].scales[j] >> 4);
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                float du = dl * (float)u[e];
                dst[i * BN_QKK + e] = du - ml;
            }
        }
    }
}

void bn_q3_k_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q3_k *b = src;
    uint8_t u[BN_QKK], sc[16];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        float d = bn_f16_to_f32(b[i].d);
        read_crumbs(b[i].qs, u);
        read_q3_scales(b[i].scales, sc);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)(sc[j] - 32);
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                int high = (b[i].hmask[e % 32] >> (e / 32)) & 1;
                dst[i * BN_QKK + e] = dl * (float)(u[e] - (high ? 0 : 4));
            }
        }
    }
}

/* Q4_K and Q5_K: dl = d * sc, dm = dmin * m per sub-block of 32, then dl * u - dm. */
static void k_affine_to_f32(uint16_t d16, uint16_t dmin16, const uint8_t scales[12],
                            const uint8_t u[BN_QKK], float *y) {
    uint8_t sc[8], m[8];
    bn_q4_k_scale_min(scales, sc, m);
    float d = bn_f16_to_f32(d16), dmin = bn_f16_to_f32(dmin16);
    for (int j = 0; j < 8; j++) {
        float dl = d * (float)sc[j], dm = dmin * (float)m[j];
        for (int e = 32 * j; e < 32 * j + 32; e++) {
            float du = dl * (float)u[e];
            y[e] = du - dm;
        }
    }
}

void bn_q4_k_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q4_k *b = src;
    uint8_t u[BN_QKK];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        bn_q4_k_codes(&b[i], u);
        k_affine_to_f32(b[i].d, b[i].dmin, b[i].scales, u, dst + i * BN_QKK);
    }
}

void bn_q5_k_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q5_k *b = src;
    uint8_t u[BN_QKK];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        q5_k_codes(&b[i], u);
        k_affine_to_f32(b[i].d, b[i].dmin, b[i].scales, u, dst + i * BN_QKK);
    }
}

/* (d * scale) first, then times q: gguf-py's order (ggml's own decoder multiplies d * scale * q
 * left to right, which is the same). */
void bn_q6_k_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q6_k *b = src;
    uint8_t u[BN_QKK];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        float d = bn_f16_to_f32(b[i].d);
        bn_q6_k_codes(&b[i], u);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)b[i].scales[j];
            for (int e = 16 * j; e < 16 * j + 16; e++)
                dst[i * BN_QKK + e] = dl * (float)(u[e] - 32);
        }
    }
}

void bn_iq4_nl_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_iq4_nl *b = src;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        float d = bn_f16_to_f32(b[i].d);
        read_nibbles(b[i].qs, u);
        for (int j = 0; j < BN_QK4; j++)
            dst[i * BN_QK4 + j] = d * (float)bn_iq4_nl_levels[u[j]];
    }
}

/* ---------------------------------------------------------------------------------------------
 * Encoder helpers
 * ------------------------------------------------------------------------------------------- */

/* Round to nearest, ties to even, by adding 1.5 * 2^23: the sum's last mantissa bit is then the
 * units digit (ggml's nearest_int). Exact for |f| < 2^22; other inputs, Inf and NaN give some
 * int in [-2^22, 2^22) instead of undefined behaviour, the same int ggml gets. */
static int nearest(float f) {
    float biased = f + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (int)(bits & 0x007FFFFF) - 0x00400000;
}

static int clampi(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* truncf(v) as a code in [0, hi], for the legacy encoders' (uint8)trunc(...) then clip: v is
 * in [0, hi + 1.5) for finite input; NaN and negative values give 0. */
static uint8_t trunc_code(float v, int hi) {
    if (!(v >= 0.0f))
        return 0;
    return v >= (float)hi ? (uint8_t)hi : (uint8_t)v;
}

static float inverse_or_zero(float d) {
    return d != 0.0f ? 1.0f / d : 0.0f;
}

/* The signed value of the first element with the largest |x| (numpy's argmax of abs). */
static float first_absmax(const float *x, int n) {
    int at = 0;
    for (int j = 1; j < n; j++)
        if (fabsf(x[j]) > fabsf(x[at]))
            at = j;
    return x[at];
}

/* The signed value with the largest |x|, starting from +0 (ggml's make_q*_quants loops). */
static float absmax_signed(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

/* ggml's first minimum and maximum (only strictly smaller/larger values replace x[0]). */
static void first_min_max(const float *x, int n, float *min, float *max) {
    *min = *max = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *min)
            *min = x[j];
        if (x[j] > *max)
            *max = x[j];
    }
}

/* ---------------------------------------------------------------------------------------------
 * Legacy encoders (gguf-py's quantize = ggml's quantize_row_*_ref)
 * ------------------------------------------------------------------------------------------- */

/* Q4_0/Q5_0: d = max / -(levels/2) with max the signed largest value, codes trunc(x/d + h). */
static uint16_t symmetric_codes(const float *x, int half, uint8_t u[BN_QK4]) {
    float d = first_absmax(x, BN_QK4) / (float)-half;
    float id = inverse_or_zero(d);
    for (int j = 0; j < BN_QK4; j++)
        u[j] = trunc_code(x[j] * id + ((float)half + 0.5f), 2 * half - 1);
    return bn_f32_to_f16(d);
}

/* Q4_1/Q5_1: d = (max - min) / (levels - 1), codes trunc((x - min) / d + 0.5). */
static void affine_codes(const float *x, int top, uint8_t u[BN_QK4], uint16_t *d16, uint16_t *m16) {
    float min, max;
    first_min_max(x, BN_QK4, &min, &max);
    float d = (max - min) / (float)top;
    float id = inverse_or_zero(d);
    for (int j = 0; j < BN_QK4; j++) {
        float v = (x[j] - min) * id;
        u[j] = trunc_code(v + 0.5f, top);
    }
    *d16 = bn_f32_to_f16(d);
    *m16 = bn_f32_to_f16(min);
}

void bn_q4_0_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q4_0 *b = dst;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        b[i].d = symmetric_codes(src + i * BN_QK4, 8, u);
        write_nibbles(u, b[i].qs);
    }
}

void bn_q4_1_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q4_1 *b = dst;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        affine_codes(src + i * BN_QK4, 15, u, &b[i].d, &b[i].m);
        write_nibbles(u, b[i].qs);
    }
}

void bn_q5_0_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q5_0 *b = dst;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        b[i].d = symmetric_codes(src + i * BN_QK4, 16, u);
        write_nibbles(u, b[i].qs);
        write_high_bits(u, b[i].qh);
    }
}

void bn_q5_1_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q5_1 *b = dst;
    uint8_t u[BN_QK4];
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        affine_codes(src + i * BN_QK4, 31, u, &b[i].d, &b[i].m);
        write_nibbles(u, b[i].qs);
        write_high_bits(u, b[i].qh);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Sub-block fits (the algorithms are summarized at the top of this file)
 * ------------------------------------------------------------------------------------------- */

/* Weighted sums of a symmetric fit, w = x^2: sum w x l and sum w l^2, for codes
 * clamp(nearest(iscale * x), -nmax, nmax - 1). Products associate left to right, as ggml's. */
static void symmetric_sums(const float *x, int n, int nmax, float iscale, float *sumlx,
                           float *suml2) {
    float slx = 0.0f, sl2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        slx += w * x[i] * (float)l;
        sl2 += w * (float)l * (float)l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

static void symmetric_fill(const float *x, int n, int nmax, float iscale, int8_t *L) {
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(nmax + clampi(nearest(iscale * x[i]), -nmax, nmax - 1));
}

/* make_qx_quants with rmse_type 1 (weights x^2): codes L in [0, 2 nmax) (l + nmax), returns the
 * scale (0 for a sub-block below GROUP_MAX_EPS, whose codes are then 0). */
static float fit_symmetric(const float *x, int n, int nmax, int8_t *L) {
    float amax, max = absmax_signed(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max, sumlx, suml2;
    symmetric_sums(x, n, nmax, iscale, &sumlx, &suml2);
    symmetric_fill(x, n, nmax, iscale, L);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int t = -9; t <= 9; t++) {
        if (t == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)t) / max;
        symmetric_sums(x, n, nmax, iscale, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            symmetric_fill(x, n, nmax, iscale, L);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* make_q3_quants with do_rmse: codes L in [0, 2 nmax) (l + nmax), returns the scale. */
static float fit_q3(const float *x, int n, int nmax, int8_t *L) {
    float amax, max = absmax_signed(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max, sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0.0f))
                continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            int l = clampi(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (l == L[i])
                continue;
            slx += w * x[i] * (float)l;
            sl2 += w * (float)l * (float)l;
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (changed == 0)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* One affine trial's weighted error, sum w * |err| (mad) or w * err^2, err = s l + min - x. */
static float affine_error(const float *x, const float *w, const uint8_t *L, int n, float scale,
                          float min, bool mad) {
    float e = 0.0f;
    for (int i = 0; i < n; i++) {
        float diff = scale * (float)L[i] + min - x[i];
        diff = mad ? fabsf(diff) : diff * diff;
        e += w[i] * diff;
    }
    return e;
}

/* make_qkx2_quants: codes L in [0, nmax] with x ~ scale * L + min (min <= 0); returns the scale
 * and -min in *neg_min. */
static float fit_affine(const float *x, const float *w, int n, int nmax, float rmin, float rdelta,
                        int nstep, bool mad, uint8_t *L, float *neg_min) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f)
        min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - min)), 0, nmax);
    float best = affine_error(x, w, L, n, scale, min, mad);
    uint8_t trial[32];
    for (int t = 0; t <= nstep; t++) {
        iscale = (rmin + rdelta * (float)t + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * (x[i] - min)), 0, nmax);
            trial[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0.0f))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        float e = affine_error(x, w, trial, n, this_scale, this_min, mad);
        if (e < best) {
            memcpy(L, trial, (size_t)n);
            best = e;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* ---------------------------------------------------------------------------------------------
 * K-quant encoders (ggml's quantize_row_*_ref)
 * ------------------------------------------------------------------------------------------- */

/* A 6-bit (Q4_K/Q5_K) or 4-bit (Q2_K) quantization of non-negative sub-block scales against
 * their maximum: code nearest(top / max * v) wrapped to a byte (as ggml's uint8_t), and the
 * super-block scale max / top. A maximum that is not > 0 gives codes 0 and scale 0. */
static float quantize_scales(const float *v, int count, int top, bool cap, uint8_t *codes) {
    float max = 0.0f;
    for (int j = 0; j < count; j++)
        if (v[j] > max)
            max = v[j];
    float inv = max > 0.0f ? (float)top / max : 0.0f;
    for (int j = 0; j < count; j++) {
        uint8_t c = (uint8_t)nearest(inv * v[j]);
        codes[j] = cap && c > top ? (uint8_t)top : c;
    }
    return max / (float)top;
}

void bn_q2_k_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q2_k *b = dst;
    uint8_t u[BN_QKK], lsc[16], lmin[16];
    float w[16], scales[16], mins[16];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        const float *x = src + i * BN_QKK;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * j + l]);
            scales[j] =
                fit_affine(x + 16 * j, w, 16, 3, -0.5f, 0.1f, 15, true, u + 16 * j, &mins[j]);
        }
        /* The min codes are ORed over the scale codes without a mask, as in ggml (both are at
         * most 15 for finite input). */
        b[i].d = bn_f32_to_f16(quantize_scales(scales, 16, 15, false, lsc));
        b[i].dmin = bn_f32_to_f16(quantize_scales(mins, 16, 15, false, lmin));
        for (int j = 0; j < 16; j++)
            b[i].scales[j] = (uint8_t)(lsc[j] | (unsigned)lmin[j] << 4);
        float df = bn_f16_to_f32(b[i].d), mf = bn_f16_to_f32(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            float dl = df * (float)(b[i].scales[j] & 0x0F);
            if (dl == 0.0f)
                continue;
            float ml = mf * (float)(b[i].scales[j] >> 4);
            for (int l = 16 * j; l < 16 * j + 16; l++)
                u[l] = (uint8_t)clampi(nearest((x[l] + ml) / dl), 0, 3);
        }
        write_crumbs(u, b[i].qs);
    }
}

void bn_q3_k_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q3_k *b = dst;
    int8_t L[BN_QKK];
    uint8_t u[BN_QKK], sc[16];
    float scales[16];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        const float *x = src + i * BN_QKK;
        float max_scale = 0.0f, amax = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_q3(x + 16 * j, 16, 4, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(sc, 0, sizeof sc);
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int8_t l = (int8_t)(uint8_t)nearest(iscale * scales[j]); /* ggml's int8_t */
                sc[j] = (uint8_t)(clampi(l, -32, 31) + 32);
            }
            b[i].d = bn_f32_to_f16(1.0f / iscale);
        } else {
            b[i].d = bn_f32_to_f16(0.0f);
        }
        write_q3_scales(sc, b[i].scales);
        float df = bn_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = df * (float)(sc[j] - 32);
            if (dl == 0.0f)
                continue;
            for (int l = 16 * j; l < 16 * j + 16; l++)
                L[l] = (int8_t)(clampi(nearest(x[l] / dl), -4, 3) + 4);
        }
        /* L in [0, 7]: bit 2 goes to hmask, the low two bits to qs. */
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int e = 0; e < BN_QKK; e++) {
            u[e] = (uint8_t)(L[e] & 3);
            if (L[e] > 3)
                b[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        write_crumbs(u, b[i].qs);
    }
}

/* Q4_K and Q5_K: affine fits of the 8 sub-blocks of 32 with weights av + |x| (av = the
 * sub-block's RMS), 6-bit scales and mins, then codes recomputed from the stored scales. */
static void k_affine_from_f32(const float *x, int nmax, float rmin, int nstep, uint16_t *d16,
                              uint16_t *dmin16, uint8_t scales_out[12], uint8_t u[BN_QKK]) {
    float w[32], scales[8], mins[8];
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xj[l]);
        scales[j] = fit_affine(xj, w, 32, nmax, rmin, 0.1f, nstep, false, u + 32 * j, &mins[j]);
    }
    float d = quantize_scales(scales, 8, 63, true, sc);
    float dmin = quantize_scales(mins, 8, 63, true, m);
    write_scale_min(sc, m, scales_out);
    *d16 = bn_f32_to_f16(d);
    *dmin16 = bn_f32_to_f16(dmin);
    float df = bn_f16_to_f32(*d16), mf = bn_f16_to_f32(*dmin16);
    for (int j = 0; j < 8; j++) {
        float dl = df * (float)sc[j];
        if (dl == 0.0f)
            continue;
        float dm = mf * (float)m[j];
        for (int l = 32 * j; l < 32 * j + 32; l++)
            u[l] = (uint8_t)clampi(nearest((x[l] + dm) / dl), 0, nmax);
    }
}

void bn_q4_k_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q4_k *b = dst;
    uint8_t u[BN_QKK];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        k_affine_from_f32(src + i * BN_QKK, 15, -1.0f, 20, &b[i].d, &b[i].dmin, b[i].scales, u);
        write_k_nibbles(u, b[i].qs);
    }
}

void bn_q5_k_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q5_k *b = dst;
    uint8_t u[BN_QKK];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        k_affine_from_f32(src + i * BN_QKK, 31, -0.5f, 15, &b[i].d, &b[i].dmin, b[i].scales, u);
        write_k_nibbles(u, b[i].qs);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < BN_QKK; e++)
            b[i].qh[e % 32] |= (uint8_t)(((u[e] >> 4) & 1) << (e / 32));
    }
}

/* Q6_K: symmetric fits of the 16 sub-blocks of 16 (codes in [-32, 31]), int8 scales against
 * the signed scale of largest magnitude (-128 for it), codes recomputed from the stored d. */
void bn_q6_k_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_q6_k *b = dst;
    int8_t L[BN_QKK];
    uint8_t u[BN_QKK];
    float scales[16];
    for (int64_t i = 0; i < n / BN_QKK; i++) {
        const float *x = src + i * BN_QKK;
        float max_scale = 0.0f, max_abs = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric(x + 16 * j, 16, 32, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs < GROUP_MAX_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -128.0f / max_scale;
        b[i].d = bn_f32_to_f16(1.0f / iscale);
        for (int j = 0; j < 16; j++) {
            int s = nearest(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(uint8_t)(s > 127 ? 127 : s); /* ggml's int8 store */
        }
        float df = bn_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = df * (float)b[i].scales[j];
            if (dl == 0.0f)
                continue;
            for (int l = 16 * j; l < 16 * j + 16; l++)
                L[l] = (int8_t)(clampi(nearest(x[l] / dl), -32, 31) + 32);
        }
        for (int e = 0; e < BN_QKK; e++)
            u[e] = (uint8_t)L[e];
        write_q6_k_codes(u, &b[i]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * IQ4_NL (ggml's quantize_iq4_nl without an importance matrix: 7 trial scales each side)
 * ------------------------------------------------------------------------------------------- */

/* The level nearest to v (ties to the upper one), by bisection as ggml's best_index_int8; NaN
 * gives the top level. */
static int nearest_level(float v) {
    const int8_t *lv = bn_iq4_nl_levels;
    if (v <= (float)lv[0])
        return 0;
    if (v >= (float)lv[15])
        return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < (float)lv[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - (float)lv[hi - 1] < (float)lv[hi] - v ? hi - 1 : hi;
}

/* sum w q x and sum w q^2 over a block for the levels nearest to id * x, w = x^2. */
static void level_sums(const float *x, float id, float *sumqx, float *sumq2) {
    float sqx = 0.0f, sq2 = 0.0f;
    for (int j = 0; j < BN_QK4; j++) {
        float q = (float)bn_iq4_nl_levels[nearest_level(id * x[j])];
        float w = x[j] * x[j];
        sqx += w * q * x[j];
        sq2 += w * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

void bn_iq4_nl_from_f32(const float *src, void *dst, int64_t n) {
    bn_block_iq4_nl *b = dst;
    uint8_t u[BN_QK4];
    const int ntry = 7;
    for (int64_t i = 0; i < n / BN_QK4; i++) {
        const float *x = src + i * BN_QK4;
        float amax, max = absmax_signed(x, BN_QK4, &amax), d = 0.0f;
        if (amax >= GROUP_MAX_EPS) {
            float sumqx, sumq2;
            level_sums(x, 1.0f / (-max / (float)bn_iq4_nl_levels[0]), &sumqx, &sumq2);
            d = sumqx / sumq2;
            float best = d * sumqx;
            for (int t = -ntry; t <= ntry; t++) {
                level_sums(x, (float)(t + bn_iq4_nl_levels[0]) / max, &sumqx, &sumq2);
                if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
        }
        b[i].d = bn_f32_to_f16(d);
        /* The codes come from the unrounded d, as in ggml. */
        float id = inverse_or_zero(d);
        for (int j = 0; j < BN_QK4; j++)
            u[j] = (uint8_t)nearest_level(id * x[j]);
        write_nibbles(u, b[i].qs);
    }
}
