/*
 * quant_tool.c - test tool: runs one quantizer on a raw little-endian float32 file and writes
 * its outputs raw, for tests/py/test_quant_reference.py to compare with a numpy reference.
 *
 *   quant_tool ternary absmean|twn tensor|channel|group:G ROWS COLS IN.f32 OUT.bin
 *       OUT = int8 codes[ROWS*COLS], float32 scales[n_scales], float32 dequantized[ROWS*COLS]
 *   quant_tool act ROWS COLS IN.f32 OUT.bin
 *       OUT = int8 codes[ROWS*COLS], float32 scales[ROWS], int32 row_sums[ROWS]
 *   quant_tool kbit BITS sym|asym G N IN.f32 OUT.bin
 *       OUT = uint8 codes[N], float32 scales[N/G], float32 zeros[N/G] (asym only),
 *             float32 dequantized[N]
 *   quant_tool metrics N REF.f32 APPROX.f32 BPW
 *       prints the metrics as one JSON object; non-finite numbers are written Infinity,
 *       -Infinity or NaN, which Python's json module reads.
 *
 * On a library error it prints bn_last_error() to stderr and exits 1; on a usage error, 2.
 */
#include "quant/act_quant.h"
#include "quant/kbit.h"
#include "quant/metrics.h"
#include "quant/ternary.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr,
            "usage: quant_tool ternary absmean|twn tensor|channel|group:G ROWS COLS IN OUT\n"
            "       quant_tool act ROWS COLS IN OUT\n"
            "       quant_tool kbit BITS sym|asym G N IN OUT\n"
            "       quant_tool metrics N REF APPROX BPW\n");
    return 2;
}

/* A whole decimal int64 >= 0, or -1. */
static int64_t parse_count(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return -1;
    return (int64_t)v;
}

/* Reads exactly n float32 values from path (the file must hold exactly that many), malloc'd. */
static float *read_f32(const char *path, int64_t n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "quant_tool: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    size_t got = x ? fread(x, sizeof(float), (size_t)n, f) : 0;
    int extra = fgetc(f);
    fclose(f);
    if (x == NULL || got != (size_t)n || extra != EOF) {
        fprintf(stderr, "quant_tool: %s does not hold exactly %lld float32 values\n", path,
                (long long)n);
        free(x);
        return NULL;
    }
    return x;
}

/* Writes the given arrays one after another; returns 0 or 1. */
static int write_parts(const char *path, int n_parts, const void *const *data,
                       const size_t *bytes) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "quant_tool: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    int ok = 1;
    for (int i = 0; i < n_parts; i++)
        ok &= bytes[i] == 0 || fwrite(data[i], 1, bytes[i], f) == bytes[i];
    ok &= fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "quant_tool: writing %s failed\n", path);
    return ok ? 0 : 1;
}

static int cmd_ternary(char **argv) {
    bn_ternary_params p = {0};
    if (strcmp(argv[0], "absmean") == 0)
        p.method = BN_TERNARY_ABSMEAN;
    else if (strcmp(argv[0], "twn") == 0)
        p.method = BN_TERNARY_TWN;
    else
        return usage();
    if (strcmp(argv[1], "tensor") == 0) {
        p.granularity = BN_TERNARY_PER_TENSOR;
    } else if (strcmp(argv[1], "channel") == 0) {
        p.granularity = BN_TERNARY_PER_CHANNEL;
    } else if (strncmp(argv[1], "group:", 6) == 0) {
        p.granularity = BN_TERNARY_PER_GROUP;
        p.group_size = parse_count(argv[1] + 6);
    } else {
        return usage();
    }
    int64_t rows = parse_count(argv[2]), cols = parse_count(argv[3]), n_scales;
    if (rows < 0 || cols < 0)
        return usage();
    if (bn_ternary_n_scales(rows, cols, &p, &n_scales) != BN_OK) {
        fprintf(stderr, "quant_tool: %s\n", bn_last_error());
        return 1;
    }
    int64_t n = rows * cols;
    float *w = read_f32(argv[4], n);
    int8_t *q = malloc((size_t)n + 1);
    float *scales = malloc((size_t)(n_scales + 1) * sizeof(float));
    float *deq = malloc((size_t)(n + 1) * sizeof(float));
    int rc = 1;
    if (w == NULL || q == NULL || scales == NULL || deq == NULL)
        goto done;
    if (bn_ternary_quantize(w, rows, cols, &p, q, scales) != BN_OK) {
        fprintf(stderr, "quant_tool: %s\n", bn_last_error());
        goto done;
    }
    bn_ternary_dequantize(q, scales, rows, cols, &p, deq);
    const void *parts[3] = {q, scales, deq};
    size_t bytes[3] = {(size_t)n, (size_t)n_scales * sizeof(float), (size_t)n * sizeof(float)};
    rc = write_parts(argv[5], 3, parts, bytes);
done:
    free(w);
    free(q);
    free(scales);
    free(deq);
    return rc;
}

static int cmd_act(char **argv) {
    int64_t rows = parse_count(argv[0]), cols = parse_count(argv[1]);
    if (rows < 0 || cols < 0 || cols > INT32_MAX / 128)
        return usage();
    int64_t n = rows * cols;
    float *x = read_f32(argv[2], n);
    int8_t *q = malloc((size_t)n + 1);
    float *scales = malloc((size_t)(rows + 1) * sizeof(float));
    int32_t *sums = malloc((size_t)(rows + 1) * sizeof(int32_t));
    int rc = 1;
    if (x != NULL && q != NULL && scales != NULL && sums != NULL) {
        bn_act_quant_rows(x, rows, cols, q, scales, sums);
        const void *parts[3] = {q, scales, sums};
        size_t bytes[3] = {(size_t)n, (size_t)rows * sizeof(float), (size_t)rows * sizeof(int32_t)};
        rc = write_parts(argv[3], 3, parts, bytes);
    }
    free(x);
    free(q);
    free(scales);
    free(sums);
    return rc;
}

static int cmd_kbit(char **argv) {
    bn_kbit_params p = {0};
    p.bits = (int)parse_count(argv[0]);
    if (strcmp(argv[1], "sym") == 0)
        p.asymmetric = false;
    else if (strcmp(argv[1], "asym") == 0)
        p.asymmetric = true;
    else
        return usage();
    p.group_size = parse_count(argv[2]);
    int64_t n = parse_count(argv[3]);
    if (n < 0)
        return usage();
    /* Sizes below assume a valid group; quantize reports a bad one before anything is used. */
    int64_t n_groups = p.group_size > 0 ? n / p.group_size : 0;
    float *x = read_f32(argv[4], n);
    uint8_t *codes = malloc((size_t)n + 1);
    float *scales = malloc((size_t)(n_groups + 1) * sizeof(float));
    float *zeros = malloc((size_t)(n_groups + 1) * sizeof(float));
    float *deq = malloc((size_t)(n + 1) * sizeof(float));
    int rc = 1;
    if (x == NULL || codes == NULL || scales == NULL || zeros == NULL || deq == NULL)
        goto done;
    if (bn_kbit_quantize(x, n, &p, codes, scales, p.asymmetric ? zeros : NULL) != BN_OK) {
        fprintf(stderr, "quant_tool: %s\n", bn_last_error());
        goto done;
    }
    bn_kbit_dequantize(codes, scales, p.asymmetric ? zeros : NULL, n, &p, deq);
    size_t scale_bytes = (size_t)n_groups * sizeof(float);
    const void *parts[4] = {codes, scales, zeros, deq};
    size_t bytes[4] = {(size_t)n, scale_bytes, p.asymmetric ? scale_bytes : 0,
                       (size_t)n * sizeof(float)};
    rc = write_parts(argv[5], 4, parts, bytes);
done:
    free(x);
    free(codes);
    free(scales);
    free(zeros);
    free(deq);
    return rc;
}

/* A JSON number, or the Python json spelling of a non-finite one. */
static void print_number(const char *key, double v, const char *sep) {
    if (isnan(v))
        printf("\"%s\": NaN%s", key, sep);
    else if (isinf(v))
        printf("\"%s\": %sInfinity%s", key, v < 0 ? "-" : "", sep);
    else
        printf("\"%s\": %.17g%s", key, v, sep);
}

static int cmd_metrics(char **argv) {
    int64_t n = parse_count(argv[0]);
    char *end;
    double bpw = strtod(argv[3], &end);
    if (n < 0 || end == argv[3] || *end != '\0')
        return usage();
    float *ref = read_f32(argv[1], n);
    float *approx = read_f32(argv[2], n);
    if (ref == NULL || approx == NULL) {
        free(ref);
        free(approx);
        return 1;
    }
    bn_quant_metrics m;
    bn_quant_metrics_compute(ref, approx, n, bpw, &m);
    printf("{\"n\": %lld, \"n_neg\": %lld, \"n_zero\": %lld, \"n_pos\": %lld, ", (long long)m.n,
           (long long)m.n_neg, (long long)m.n_zero, (long long)m.n_pos);
    print_number("mse", m.mse, ", ");
    print_number("rmse", m.rmse, ", ");
    print_number("sqnr_db", m.sqnr_db, ", ");
    print_number("cosine", m.cosine, ", ");
    print_number("max_abs_err", m.max_abs_err, ", ");
    print_number("frac_zero", m.frac_zero, ", ");
    print_number("bits_per_weight", m.bits_per_weight, "}\n");
    free(ref);
    free(approx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 8 && strcmp(argv[1], "ternary") == 0)
        return cmd_ternary(argv + 2);
    if (argc == 6 && strcmp(argv[1], "act") == 0)
        return cmd_act(argv + 2);
    if (argc == 8 && strcmp(argv[1], "kbit") == 0)
        return cmd_kbit(argv + 2);
    if (argc == 6 && strcmp(argv[1], "metrics") == 0)
        return cmd_metrics(argv + 2);
    return usage();
}
