/*
 * ternary.c - absmean and TWN ternary quantization: the scalar specification (see ternary.h).
 *
 * Every granularity reduces to the same loop because the groups are contiguous in a row-major
 * [rows, cols] array: the whole array (per tensor), one row (per channel), or group_size
 * consecutive values of a row (per group; group_size divides cols, so no group crosses a row).
 */
#include "quant/ternary.h"

#include "base/status.h"

#include <assert.h>
#include <math.h>

/* Checks the arguments and gives the number of groups and the length of each. */
static bn_status ternary_groups(int64_t rows, int64_t cols, const bn_ternary_params *p,
                                int64_t *n_groups, int64_t *group_len) {
    *n_groups = 0;
    *group_len = 0;
    if (p == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "ternary: params are NULL");
    if (p->method != BN_TERNARY_ABSMEAN && p->method != BN_TERNARY_TWN)
        return BN_ERROR(BN_ERR_INVALID_ARG, "ternary: unknown method %d", (int)p->method);
    if (rows < 0 || cols < 0)
        return BN_ERROR(BN_ERR_SHAPE, "ternary: negative shape [%lld, %lld]", (long long)rows,
                        (long long)cols);
    if (cols > 0 && rows > INT64_MAX / cols)
        return BN_ERROR(BN_ERR_SHAPE, "ternary: shape [%lld, %lld] overflows int64",
                        (long long)rows, (long long)cols);
    switch (p->granularity) {
    case BN_TERNARY_PER_TENSOR:
        *n_groups = 1;
        *group_len = rows * cols;
        return BN_OK;
    case BN_TERNARY_PER_CHANNEL:
        *n_groups = rows;
        *group_len = cols;
        return BN_OK;
    case BN_TERNARY_PER_GROUP: {
        int64_t g = p->group_size;
        /* The sizes the packed formats and kernels are built around. */
        if (g != 32 && g != 64 && g != 128 && g != 256)
            return BN_ERROR(BN_ERR_INVALID_ARG,
                            "ternary: group_size %lld is not one of 32, 64, 128, 256",
                            (long long)g);
        if (cols % g != 0)
            return BN_ERROR(BN_ERR_SHAPE, "ternary: cols %lld is not a multiple of group_size %lld",
                            (long long)cols, (long long)g);
        *n_groups = rows * (cols / g);
        *group_len = g;
        return BN_OK;
    }
    }
    return BN_ERROR(BN_ERR_INVALID_ARG, "ternary: unknown granularity %d", (int)p->granularity);
}

bn_status bn_ternary_n_scales(int64_t rows, int64_t cols, const bn_ternary_params *p,
                              int64_t *out) {
    int64_t n_groups, group_len;
    BN_TRY(ternary_groups(rows, cols, p, &n_groups, &group_len));
    *out = n_groups;
    return BN_OK;
}

/* Sum of |w| in float64. Each |w| is exact in float64, and the sum of a few million of them
 * keeps far more than float32's 24 bits. */
static double sum_abs(const float *w, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)w[i]);
    return sum;
}

float bn_ternary_absmean_gamma(const float *w, int64_t n) {
    float gamma = n > 0 ? (float)(sum_abs(w, n) / (double)n) : 0.0f;
    return gamma < BN_TERNARY_MIN_SCALE ? BN_TERNARY_MIN_SCALE : gamma; /* NaN stays NaN */
}

void bn_ternary_absmean_codes(const float *w, int64_t n, float gamma, int8_t *q) {
    float inv = 1.0f / gamma;
    for (int64_t i = 0; i < n; i++) {
        /* Round half to even, as torch.round does: clamped to [-2, 2] first, adding and taking
         * away 1.5 * 2^23 rounds in the default mode exactly as nearbyintf, but the compiler
         * vectorizes it (nearbyintf is a library call per value). */
        float x = w[i] * inv;
        x = x > 2.0f ? 2.0f : x < -2.0f ? -2.0f : x;
        float r = (x + 12582912.0f) - 12582912.0f;
        q[i] = (int8_t)(r > 1.0f ? 1 : r < -1.0f ? -1 : (int)r);
    }
}

static float quantize_absmean(const float *w, int64_t n, int8_t *q) {
    float gamma = bn_ternary_absmean_gamma(w, n);
    bn_ternary_absmean_codes(w, n, gamma, q);
    return gamma;
}

static float quantize_twn(const float *w, int64_t n, int8_t *q) {
    double delta = n > 0 ? 0.7 * (sum_abs(w, n) / (double)n) : 0.0;
    double sum_kept = 0.0;
    int64_t n_kept = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)w[i]);
        if (a > delta) {
            q[i] = (int8_t)(w[i] > 0.0f ? 1 : -1);
            sum_kept += a;
            n_kept++;
        } else {
            q[i] = 0;
        }
    }
    /* No value above delta only happens for an all-zero (or empty) group: keep scales positive. */
    return n_kept > 0 ? (float)(sum_kept / (double)n_kept) : BN_TERNARY_MIN_SCALE;
}

bn_status bn_ternary_quantize(const float *w, int64_t rows, int64_t cols,
                              const bn_ternary_params *p, int8_t *q, float *scales) {
    int64_t n_groups, group_len;
    BN_TRY(ternary_groups(rows, cols, p, &n_groups, &group_len));
    int64_t n = rows * cols;
    if ((n > 0 && (w == NULL || q == NULL)) || (n_groups > 0 && scales == NULL))
        return BN_ERROR(BN_ERR_INVALID_ARG, "ternary: NULL buffer for [%lld, %lld]",
                        (long long)rows, (long long)cols);
    /* Check everything first so that a failure writes nothing. */
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(w[i]))
            return BN_ERROR(BN_ERR_RANGE, "ternary: w[%lld] (row %lld, col %lld) is %s",
                            (long long)i, (long long)(i / cols), (long long)(i % cols),
                            isnan(w[i]) ? "NaN" : "Inf");
    }
    for (int64_t g = 0; g < n_groups; g++) {
        const float *wg = w + g * group_len;
        int8_t *qg = q + g * group_len;
        scales[g] = p->method == BN_TERNARY_ABSMEAN ? quantize_absmean(wg, group_len, qg)
                                                    : quantize_twn(wg, group_len, qg);
    }
    return BN_OK;
}

void bn_ternary_dequantize(const int8_t *q, const float *scales, int64_t rows, int64_t cols,
                           const bn_ternary_params *p, float *w) {
    int64_t n_groups, group_len;
    bn_status st = ternary_groups(rows, cols, p, &n_groups, &group_len);
    assert(st == BN_OK && "bn_ternary_dequantize: arguments quantize would reject");
    if (st != BN_OK)
        return;
    for (int64_t g = 0; g < n_groups; g++) {
        for (int64_t i = 0; i < group_len; i++)
            w[g * group_len + i] = (float)q[g * group_len + i] * scales[g];
    }
}
