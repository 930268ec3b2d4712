/*
 * kbit.h - k-bit (2, 4 or 8) integer quantization of float32 values, one scale per group.
 *
 * Each group of group_size consecutive values gets its own scale s (and, if asymmetric, zero
 * point z). The arithmetic is float64 on float32 inputs: the specification is mathematical, so
 * no float32 intermediate is mirrored; the scale is rounded to float32 once, when it is stored,
 * and the codes are computed from that stored scale so that dequantization sees the same s.
 *
 *   Symmetric (codes are int8 in [-2^(b-1), 2^(b-1)-1]):
 *     qmax = 2^(b-1) - 1
 *     s    = float32(max|x| / qmax)                    (s = 0 -> every code 0)
 *     q    = clamp(round_half_even(x / s), -qmax-1, qmax)
 *     x   ~= q * s
 *   Since s comes from the absmax, -qmax-1 is never produced (for 2 bits the codes are
 *   {-1, 0, 1}); the bound is the int range, not a target.
 *
 *   Asymmetric (codes are uint8 in [0, 2^b-1]):
 *     lo   = min(min x, 0), hi = max(max x, 0)
 *     s    = float32((hi - lo) / (2^b - 1))            (s = 0 -> z = 0 and every code 0)
 *     z    = clamp(round_half_even(-lo / s), 0, 2^b-1) (an integer, stored as float32)
 *     q    = clamp(round_half_even(x / s) + z, 0, 2^b-1)
 *     x   ~= (q - z) * s
 *   The range is widened to include 0, as GPTQ and PyTorch's MinMax observers do. Without it a
 *   group lying entirely above (or below) zero would get its zero point clamped to the end of
 *   the code range and lose its values: [10, 11] at 2 bits would come back as [1, 1]. With it,
 *   z lands inside the code range, 0 is represented exactly, and every value in [lo, hi] comes
 *   back within s/2 (plus float32 rounding of the product).
 *
 * In both forms s is 0 only for an all-zero group, or one whose range is so small (around 1e-43
 * or less) that the scale underflows float32; such a group comes back as zeros.
 *
 * Codes are stored one per byte in uint8_t memory; a symmetric code is the int8 bit pattern
 * (read it back through int8_t). Rounding assumes the default floating-point environment
 * (ties to even), which the library never changes.
 */
#ifndef BN_QUANT_KBIT_H
#define BN_QUANT_KBIT_H

#include "bitnet.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct bn_kbit_params {
    int bits;           /* 2, 4 or 8 */
    bool asymmetric;    /* true: uint8 codes with a zero point; false: int8 codes, no zero */
    int64_t group_size; /* values per scale, >= 1 */
} bn_kbit_params;

/* x[n] (n % group_size == 0, else BN_ERR_SHAPE) -> codes[n] (one per byte: int8 for symmetric
 * in [-2^(b-1), 2^(b-1)-1], uint8 for asymmetric in [0, 2^b-1], both stored in uint8_t memory),
 * scales[n/group], zeros[n/group] (asymmetric only; may be NULL for symmetric). bits not in
 * {2,4,8} -> BN_ERR_INVALID_ARG, as are a NULL p, a group_size below 1 and a NULL buffer.
 * BN_ERR_RANGE names the index of the first NaN or Inf in x (nothing is written then). */
bn_status bn_kbit_quantize(const float *x, int64_t n, const bn_kbit_params *p, uint8_t *codes,
                           float *scales, float *zeros);

/* x[i] = code * s (symmetric) or (code - z) * s (asymmetric), in float32. The arguments must be
 * ones that bn_kbit_quantize accepted. */
void bn_kbit_dequantize(const uint8_t *codes, const float *scales, const float *zeros, int64_t n,
                        const bn_kbit_params *p, float *x);

#endif /* BN_QUANT_KBIT_H */
