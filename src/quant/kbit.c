/*
 * kbit.c - symmetric and asymmetric k-bit group quantization: the scalar specification (see
 * kbit.h for the formulas).
 */
#include "quant/kbit.h"

#include "base/status.h"

#include <assert.h>
#include <math.h>

static bn_status kbit_check(int64_t n, const bn_kbit_params *p) {
    if (p == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "kbit: params are NULL");
    if (p->bits != 2 && p->bits != 4 && p->bits != 8)
        return BN_ERROR(BN_ERR_INVALID_ARG, "kbit: bits %d is not one of 2, 4, 8", p->bits);
    if (p->group_size < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "kbit: group_size %lld is below 1",
                        (long long)p->group_size);
    if (n < 0)
        return BN_ERROR(BN_ERR_SHAPE, "kbit: negative length %lld", (long long)n);
    if (n % p->group_size != 0)
        return BN_ERROR(BN_ERR_SHAPE, "kbit: n %lld is not a multiple of group_size %lld",
                        (long long)n, (long long)p->group_size);
    return BN_OK;
}

static double clamp(double v, double lo, double hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static void quantize_sym(const float *x, int64_t n, int bits, uint8_t *codes, float *scale) {
    int qmax = (1 << (bits - 1)) - 1;
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    float s = (float)((double)amax / qmax);
    *scale = s;
    for (int64_t i = 0; i < n; i++) {
        /* s == 0 (an all-zero group, or one so small the scale underflows) would divide by 0.
         * nearbyint rounds half to even in the default mode. */
        int q = s == 0.0f ? 0 : (int)clamp(nearbyint((double)x[i] / s), -qmax - 1, qmax);
        codes[i] = (uint8_t)(int8_t)q;
    }
}

static void quantize_asym(const float *x, int64_t n, int bits, uint8_t *codes, float *scale,
                          float *zero) {
    int levels = (1 << bits) - 1;
    float lo = 0.0f, hi = 0.0f; /* the range always includes 0: see kbit.h */
    for (int64_t i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    float s = (float)(((double)hi - (double)lo) / levels);
    double z = s == 0.0f ? 0.0 : clamp(nearbyint(-(double)lo / s), 0, levels);
    *scale = s;
    *zero = (float)z;
    for (int64_t i = 0; i < n; i++) {
        double q = s == 0.0f ? 0.0 : clamp(nearbyint((double)x[i] / s) + z, 0, levels);
        codes[i] = (uint8_t)q;
    }
}

bn_status bn_kbit_quantize(const float *x, int64_t n, const bn_kbit_params *p, uint8_t *codes,
                           float *scales, float *zeros) {
    BN_TRY(kbit_check(n, p));
    if (n > 0 && (x == NULL || codes == NULL || scales == NULL || (p->asymmetric && !zeros)))
        return BN_ERROR(BN_ERR_INVALID_ARG, "kbit: NULL buffer (n %lld%s)", (long long)n,
                        p->asymmetric ? ", asymmetric needs zeros" : "");
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return BN_ERROR(BN_ERR_RANGE, "kbit: x[%lld] is %s", (long long)i,
                            isnan(x[i]) ? "NaN" : "Inf");
    }
    int64_t g = p->group_size;
    for (int64_t k = 0; k < n / g; k++) {
        if (p->asymmetric)
            quantize_asym(x + k * g, g, p->bits, codes + k * g, &scales[k], &zeros[k]);
        else
            quantize_sym(x + k * g, g, p->bits, codes + k * g, &scales[k]);
    }
    return BN_OK;
}

void bn_kbit_dequantize(const uint8_t *codes, const float *scales, const float *zeros, int64_t n,
                        const bn_kbit_params *p, float *x) {
    bn_status st = kbit_check(n, p);
    assert(st == BN_OK && "bn_kbit_dequantize: arguments quantize would reject");
    if (st != BN_OK)
        return;
    int64_t g = p->group_size;
    for (int64_t i = 0; i < n; i++) {
        float s = scales[i / g];
        if (p->asymmetric)
            x[i] = ((float)codes[i] - zeros[i / g]) * s;
        else
            x[i] = (float)(int8_t)codes[i] * s;
    }
}
