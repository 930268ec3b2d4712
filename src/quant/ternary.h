/*
 * ternary.h - float32 weights to ternary codes {-1, 0, +1} with float32 scales (w ~= q * scale).
 *
 * Two methods, each applied per tensor, per output row ("channel") or per group of consecutive
 * columns within a row:
 *
 *   ABSMEAN (BitNet b1.58; transformers integrations/bitnet.py WeightQuant), in float32:
 *     gamma = mean(|w|) over the group, clamped to >= 1e-5f
 *     inv   = 1.0f / gamma
 *     q     = clamp(round_half_even(w * inv), -1, 1)
 *     scale = gamma
 *   The product w * inv is the float32 product, as torch computes it: w / gamma rounds
 *   differently exactly where w * inv lands on a tie. The mean is accumulated in float64 and
 *   rounded once to float32. torch reduces in float32 in an order of its own, so its gamma can
 *   differ from ours in the last bit; ours is the float64 mean rounded to float32, which is the
 *   correctly rounded mean except when the float64 sum is within about 1e-16 of a float32
 *   rounding boundary.
 *
 *   TWN (Li & Liu 2016, "Ternary Weight Networks"), in float64 (a mathematical definition, so
 *   no float32 intermediate is mirrored):
 *     delta = 0.7 * mean(|w|) over the group
 *     q     = sign(w) where |w| > delta, else 0
 *     scale = float32(mean of |w| over the entries with |w| > delta)
 *   Only an all-zero group has no entry above delta (its maximum would otherwise exceed its
 *   mean); it gets scale 1e-5f, the absmean clamp, and all codes 0, so every scale is positive.
 *
 * An empty group (cols == 0) has mean 0 and gets the clamp value 1e-5f under both methods.
 * Rounding assumes the default floating-point environment (round to nearest, ties to even);
 * the library never changes it.
 */
#ifndef BN_QUANT_TERNARY_H
#define BN_QUANT_TERNARY_H

#include "bitnet.h"

#include <stdint.h>

typedef enum bn_ternary_method { BN_TERNARY_ABSMEAN = 0, BN_TERNARY_TWN = 1 } bn_ternary_method;

typedef enum bn_ternary_granularity {
    BN_TERNARY_PER_TENSOR = 0,  /* one scale */
    BN_TERNARY_PER_CHANNEL = 1, /* one scale per row (output feature) */
    BN_TERNARY_PER_GROUP = 2,   /* one scale per group_size consecutive columns of a row */
} bn_ternary_granularity;

typedef struct bn_ternary_params {
    bn_ternary_method method;
    bn_ternary_granularity granularity;
    int64_t group_size; /* 32/64/128/256 for PER_GROUP, groups run along each row (cols);
                           ignored by the other granularities */
} bn_ternary_params;

/* The smallest scale quantize writes: the 1e-5 clamp of transformers' WeightQuant, in float32. */
#define BN_TERNARY_MIN_SCALE 1e-5f

/* Number of scales quantize writes: 1, rows, or rows*cols/group_size. Scales of PER_GROUP are
 * laid out [rows, cols/group_size] row-major. BN_ERR_SHAPE if cols % group_size != 0 (name
 * both), or for negative or overflowing dimensions; BN_ERR_INVALID_ARG for a NULL p, an unknown
 * method or granularity, or a group size other than 32, 64, 128 or 256. */
bn_status bn_ternary_n_scales(int64_t rows, int64_t cols, const bn_ternary_params *p, int64_t *out);

/* w [rows, cols] row-major float32 -> q[rows*cols] in {-1,0,1}, scales[n_scales]; w ~= q * scale.
 * Errors as bn_ternary_n_scales, plus BN_ERR_RANGE naming the index of the first NaN or Inf in
 * w (nothing is written then). */
bn_status bn_ternary_quantize(const float *w, int64_t rows, int64_t cols,
                              const bn_ternary_params *p, int8_t *q, float *scales);

/* The two halves of absmean quantization, for callers that split the work (the trainer codes
 * a tensor on several threads): gamma = max(mean |w|, BN_TERNARY_MIN_SCALE), with the sum in
 * float64 in index order (non-finite when some w is NaN or Inf: check it); then the codes
 * q[i] = clamp(round_half_even(w[i] * (1 / gamma)), -1, 1) of any part of the tensor. Together
 * they are exactly what bn_ternary_quantize computes per tensor (or per group). */
float bn_ternary_absmean_gamma(const float *w, int64_t n);
void bn_ternary_absmean_codes(const float *w, int64_t n, float gamma, int8_t *q);

/* w[i] = q[i] * (the scale of i's group), in float32. The arguments must be ones that
 * bn_ternary_quantize accepted. */
void bn_ternary_dequantize(const int8_t *q, const float *scales, int64_t rows, int64_t cols,
                           const bn_ternary_params *p, float *w);

#endif /* BN_QUANT_TERNARY_H */
