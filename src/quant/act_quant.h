/*
 * act_quant.h - per-token int8 absmax quantization of activations.
 *
 * This is transformers' ActQuant (integrations/bitnet.py) and bitnet.cpp's quantize_row_i8_s,
 * all in float32:
 *   s = 127.0f / max(max|x|, 1e-5f)
 *   q = clamp(round_half_even(x * s), -128, 127)
 *   x ~= q / s
 * There is no zero point. Because s comes from the absmax, |x * s| never exceeds 127 by more
 * than a rounding error, so codes stay in [-127, 127]; the -128 bound is kept only to mirror
 * the reference's clamp.
 *
 * x should be finite. A NaN is ignored by the max and gets code 0; an Inf makes s = 0 and every
 * code 0. Rounding assumes the default floating-point environment (ties to even), which the
 * library never changes.
 */
#ifndef BN_QUANT_ACT_QUANT_H
#define BN_QUANT_ACT_QUANT_H

#include <stdint.h>

/* The floor on max|x| (transformers clamps the absmax to 1e-5), in float32. */
#define BN_ACT_QUANT_MIN_ABSMAX 1e-5f

/* x[n] -> q[n] int8 with s = 127 / max(max|x|, 1e-5), q = clamp(round_half_even(x * s), -128,
 * 127) in float32; returns s (x ~= q / s); *row_sum (may be NULL) = sum of q. The sum is an
 * int32 as the integer kernels use it, so n must be at most INT32_MAX / 128 (asserted). */
float bn_act_quant_row(const float *x, int64_t n, int8_t *q, int32_t *row_sum);

/* M rows of n: scales[M], row_sums[M] (may be NULL). x and q are [m, n] row-major. */
void bn_act_quant_rows(const float *x, int64_t m, int64_t n, int8_t *q, float *scales,
                       int32_t *row_sums);

#endif /* BN_QUANT_ACT_QUANT_H */
