/*
 * act_quant.c - per-token int8 absmax quantization: the scalar specification (see act_quant.h).
 */
#include "quant/act_quant.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

/* Round half to even, clamp to [-128, 127]; NaN gives 0 so the conversion to int is defined. */
static int8_t round_clamp_i8(float v) {
    float r = nearbyintf(v);
    if (isnan(r))
        return 0;
    if (r > 127.0f)
        return 127;
    if (r < -128.0f)
        return -128;
    return (int8_t)r;
}

float bn_act_quant_row(const float *x, int64_t n, int8_t *q, int32_t *row_sum) {
    assert(n >= 0 && n <= INT32_MAX / 128);
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) /* false for NaN, so a NaN never becomes the max */
            amax = a;
    }
    float s = 127.0f / (amax > BN_ACT_QUANT_MIN_ABSMAX ? amax : BN_ACT_QUANT_MIN_ABSMAX);
    int32_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        q[i] = round_clamp_i8(x[i] * s);
        sum += q[i];
    }
    if (row_sum != NULL)
        *row_sum = sum;
    return s;
}

void bn_act_quant_rows(const float *x, int64_t m, int64_t n, int8_t *q, float *scales,
                       int32_t *row_sums) {
    for (int64_t r = 0; r < m; r++)
        scales[r] = bn_act_quant_row(x + r * n, n, q + r * n, row_sums ? row_sums + r : NULL);
}
