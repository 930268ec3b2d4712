/*
 * metrics.c - quantization error metrics (definitions in metrics.h).
 */
#include "quant/metrics.h"

#include <math.h>

void bn_quant_metrics_compute(const float *ref, const float *approx, int64_t n,
                              double bits_per_weight, bn_quant_metrics *out) {
    double sum_err2 = 0.0, sum_ref2 = 0.0, sum_app2 = 0.0, dot = 0.0, max_err = 0.0;
    int64_t n_neg = 0, n_zero = 0, n_pos = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref[i], a = approx[i], e = r - a;
        sum_err2 += e * e;
        sum_ref2 += r * r;
        sum_app2 += a * a;
        dot += r * a;
        if (fabs(e) > max_err || isnan(e))
            max_err = fabs(e);
        if (a < 0.0)
            n_neg++;
        else if (a > 0.0)
            n_pos++;
        else if (a == 0.0)
            n_zero++;
    }
    out->n = n;
    out->mse = n > 0 ? sum_err2 / (double)n : 0.0;
    out->rmse = sqrt(out->mse);
    if (sum_err2 == 0.0)
        out->sqnr_db = INFINITY;
    else if (sum_ref2 == 0.0)
        out->sqnr_db = -INFINITY;
    else
        out->sqnr_db = 10.0 * log10(sum_ref2 / sum_err2);
    if (sum_ref2 == 0.0 && sum_app2 == 0.0)
        out->cosine = 1.0;
    else if (sum_ref2 == 0.0 || sum_app2 == 0.0)
        out->cosine = 0.0;
    else
        out->cosine = dot / (sqrt(sum_ref2) * sqrt(sum_app2));
    out->max_abs_err = max_err;
    out->frac_zero = n > 0 ? (double)n_zero / (double)n : 0.0;
    out->n_neg = n_neg;
    out->n_zero = n_zero;
    out->n_pos = n_pos;
    out->bits_per_weight = bits_per_weight;
}
