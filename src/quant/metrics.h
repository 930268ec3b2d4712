/*
 * metrics.h - how far a quantized tensor is from its float reference.
 *
 * All sums are float64 over float32 inputs, in index order. With err = ref - approx:
 *   mse         = sum(err^2) / n                    rmse = sqrt(mse)
 *   sqnr_db     = 10 log10(sum(ref^2) / sum(err^2)) +INFINITY when err is all 0 (even if the
 *                                                   signal is 0 too); -INFINITY when the signal
 *                                                   is 0 but the error is not
 *   cosine      = dot(ref, approx) / (|ref| |approx|)  1 when both are all 0; 0 when only one is
 *   max_abs_err = max |err|
 *   frac_zero   = n_zero / n, where n_neg / n_zero / n_pos count the sign of approx
 * For n = 0 every sum is 0: mse = rmse = max_abs_err = frac_zero = 0, sqnr_db = +INFINITY,
 * cosine = 1. A NaN in either input propagates into the sums (and a NaN approx is counted in no
 * sign class).
 */
#ifndef BN_QUANT_METRICS_H
#define BN_QUANT_METRICS_H

#include <stdint.h>

typedef struct bn_quant_metrics {
    int64_t n;                    /* values compared */
    double mse, rmse;             /* mean squared error and its root */
    double sqnr_db;               /* signal to quantization noise, dB */
    double cosine;                /* cosine similarity of ref and approx */
    double max_abs_err;           /* largest |ref - approx| */
    double frac_zero;             /* fraction of approx equal to 0 */
    int64_t n_neg, n_zero, n_pos; /* sign counts of approx */
    double bits_per_weight;       /* the caller's storage cost, passed through for reports */
} bn_quant_metrics;

/* ref vs approx over n values; accumulate in double (see above for the definitions). */
void bn_quant_metrics_compute(const float *ref, const float *approx, int64_t n,
                              double bits_per_weight, bn_quant_metrics *out);

#endif /* BN_QUANT_METRICS_H */
