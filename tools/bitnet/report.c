/* report.c - per-tensor error tables and the progress line shared by convert and quantize. */
#include "report.h"

#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

void bn_cli_progress(void *ctx, int64_t done, int64_t total, const char *name) {
    (void)ctx;
    if (!isatty(STDERR_FILENO) || total <= 0)
        return;
    fprintf(stderr, "\r\033[K[%3d%%] %s", (int)(100 * done / total), name);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

/* JSON has no Inf: a lossless tensor's SQNR is reported as null. */
static cJSON *number_or_null(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void print_json(const bn_convert_report *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "tensors");
    double total_bits = 0, total_n = 0, worst_sqnr = INFINITY;
    for (int64_t i = 0; i < r->n; i++) {
        const bn_tensor_report *t = &r->tensors[i];
        cJSON *o = cJSON_CreateObject();
        bn_cli_json_add_text(o, "name", t->name);
        cJSON_AddStringToObject(o, "type", t->type);
        cJSON_AddStringToObject(o, "source", t->source);
        cJSON_AddNumberToObject(o, "n", (double)t->m.n);
        cJSON_AddNumberToObject(o, "mse", t->m.mse);
        cJSON_AddNumberToObject(o, "rmse", t->m.rmse);
        cJSON_AddItemToObject(o, "sqnr_db", number_or_null(t->m.sqnr_db));
        cJSON_AddNumberToObject(o, "cosine", t->m.cosine);
        cJSON_AddNumberToObject(o, "max_abs_err", t->m.max_abs_err);
        cJSON_AddNumberToObject(o, "frac_zero", t->m.frac_zero);
        cJSON_AddNumberToObject(o, "n_neg", (double)t->m.n_neg);
        cJSON_AddNumberToObject(o, "n_zero", (double)t->m.n_zero);
        cJSON_AddNumberToObject(o, "n_pos", (double)t->m.n_pos);
        cJSON_AddNumberToObject(o, "bits_per_weight", t->m.bits_per_weight);
        cJSON_AddItemToArray(arr, o);
        total_bits += t->m.bits_per_weight * (double)t->m.n;
        total_n += (double)t->m.n;
        if (t->m.sqnr_db < worst_sqnr)
            worst_sqnr = t->m.sqnr_db;
    }
    cJSON *s = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(s, "tensors", (double)r->n);
    cJSON_AddNumberToObject(s, "values", total_n);
    cJSON_AddNumberToObject(s, "bits_per_weight", total_n > 0 ? total_bits / total_n : 0);
    cJSON_AddItemToObject(s, "worst_sqnr_db", number_or_null(worst_sqnr));
    bn_cli_print_json(root);
}

int bn_cli_finish_conversion(bn_status st, bn_convert_report *r, bool report, bool json,
                             const char *out_path) {
    if (st != BN_OK)
        return bn_cli_fail(st);
    if (report)
        bn_cli_print_report(r, json);
    else
        fprintf(stderr, "bitnet: wrote %s\n", out_path);
    bn_convert_report_free(r);
    return 0;
}

void bn_cli_print_report(const bn_convert_report *r, bool json) {
    if (json) {
        print_json(r);
        return;
    }
    printf("%-34s %-6s %-8s %10s %9s %9s %10s %6s %8s\n", "tensor", "type", "source", "rmse",
           "sqnr_dB", "cosine", "max_err", "zero%", "bits/w");
    double total_bits = 0, total_n = 0;
    for (int64_t i = 0; i < r->n; i++) {
        const bn_tensor_report *t = &r->tensors[i];
        printf("%-34s %-6s %-8s %10.3g %9.2f %9.6f %10.3g %6.1f %8.4f\n", t->name, t->type,
               t->source, t->m.rmse, t->m.sqnr_db, t->m.cosine, t->m.max_abs_err,
               100.0 * t->m.frac_zero, t->m.bits_per_weight);
        total_bits += t->m.bits_per_weight * (double)t->m.n;
        total_n += (double)t->m.n;
    }
    printf("summary: %lld tensors, %.0f values, %.4f bits per value overall\n", (long long)r->n,
           total_n, total_n > 0 ? total_bits / total_n : 0.0);
}
