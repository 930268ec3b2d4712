/*
 * ternary_gemm.c - layout, activation quantization, the scalar kernel and the reference, and
 * the multithreaded dispatcher of the ternary products. ISA variants live in ternary_<isa>.c.
 */
#include "kernels/cpu/ternary_gemm.h"
#include "tensor/formats.h"

#include "base/alloc.h"
#include "quant/act_quant.h"
#include "tensor/dtype.h"

#include <string.h>

int bn_ternary_vbytes(bn_isa isa) {
    switch (isa) {
    case BN_ISA_AVX512:
        return 64;
    case BN_ISA_NEON:
        return 16;
    default:
        return 32;
    }
}

int64_t bn_ternary_padded_cols(int64_t cols, bn_isa isa) {
    int64_t block = 4 * (int64_t)bn_ternary_vbytes(isa);
    return (cols + block - 1) / block * block;
}

/* Values per block of t5v64. */
#define T5_BLOCK_VALUES 320

int64_t bn_ternary_layout_padded_cols(int64_t cols, bn_isa isa, bn_ternary_layout layout) {
    if (layout != BN_TERNARY_T5V)
        return bn_ternary_padded_cols(cols, isa);
    return (cols + T5_BLOCK_VALUES - 1) / T5_BLOCK_VALUES * T5_BLOCK_VALUES;
}

bool bn_ternary_layout_runs_on(bn_ternary_layout layout, bn_isa isa) {
    return bn_ternary_kernel_for(isa, layout) != NULL;
}

/* The dtype-table row of a layout on a path: the table owns the format (tensor/formats.c). */
static bn_dtype layout_dtype(bn_ternary_layout layout, int vbytes) {
    if (layout == BN_TERNARY_T5V)
        return BN_DTYPE_T5V64;
    return vbytes == 64 ? BN_DTYPE_I2V64 : (vbytes == 16 ? BN_DTYPE_I2V16 : BN_DTYPE_I2V32);
}

const char *bn_ternary_layout_name(bn_ternary_layout layout, bn_isa isa) {
    return bn_dtype_name(layout_dtype(layout, bn_ternary_vbytes(isa)));
}

bn_status bn_ternary_layout_parse(const char *word, bn_ternary_layout *out) {
    if (word != NULL && strcmp(word, "i2") == 0)
        *out = BN_TERNARY_I2V;
    else if (word != NULL && strcmp(word, "t5") == 0)
        *out = BN_TERNARY_T5V;
    else
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "weight layout \"%s\": want i2 (2 bits a weight) or t5 (1.6 bits)",
                        word ? word : "(null)");
    return BN_OK;
}

bn_status bn_ternary_matrix_pack(bn_ternary_matrix *m, const int8_t *t, int64_t rows, int64_t cols,
                                 float scale, bn_isa isa) {
    return bn_ternary_matrix_pack_layout(m, t, rows, cols, scale, isa, BN_TERNARY_I2V);
}

bn_status bn_ternary_matrix_pack_layout(bn_ternary_matrix *m, const int8_t *t, int64_t rows,
                                        int64_t cols, float scale, bn_isa isa,
                                        bn_ternary_layout layout) {
    memset(m, 0, sizeof *m);
    /* Packing is the format's, running the build's: like an i2v matrix for a path this build
     * lacks, a t5v64 one packs wherever the layout is defined and bn_ternary_gemm refuses it
     * where no kernel runs it. */
    if (layout == BN_TERNARY_T5V && isa != BN_ISA_SCALAR && isa != BN_ISA_AVX512)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "the t5v64 weight layout has no kernel on the %s path (it runs on "
                        "avx512 and scalar)",
                        bn_isa_name(isa));
    int vbytes = layout == BN_TERNARY_T5V ? 64 : bn_ternary_vbytes(isa);
    const bn_dtype_traits *format = bn_dtype_get(layout_dtype(layout, vbytes));
    size_t bytes;
    BN_TRY(format->ternary_bytes(rows, cols, &bytes));
    uint8_t *data = bn_aligned_alloc(bytes);
    if (data == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    bn_status st = format->pack_ternary(t, rows, cols, scale, data, bytes);
    if (st != BN_OK) {
        bn_aligned_free(data);
        return st;
    }
    m->rows = rows;
    m->cols = cols;
    m->isa = isa;
    m->layout = layout;
    m->vbytes = vbytes;
    m->cols_padded = bn_ternary_layout_padded_cols(cols, isa, layout);
    m->scale = scale;
    m->bytes = bytes;
    m->data = data;
    return BN_OK;
}

bn_status bn_ternary_matrix_from_tq2_0(bn_ternary_matrix *m, const void *src, size_t src_bytes,
                                       int64_t rows, int64_t cols, bn_isa isa, float *scale) {
    memset(m, 0, sizeof *m);
    if (bn_ternary_vbytes(isa) != 32)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "tq2_0 maps directly onto i2v32 only, not i2v%d",
                        bn_ternary_vbytes(isa));
    size_t bytes;
    BN_TRY(bn_dtype_get(BN_DTYPE_I2V32)->ternary_bytes(rows, cols, &bytes));
    uint8_t *data = bn_aligned_alloc(bytes);
    if (data == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    bn_status st = bn_tq2_0_to_i2v32(src, src_bytes, rows, cols, data, scale);
    if (st != BN_OK) {
        bn_aligned_free(data);
        return st;
    }
    *m = (bn_ternary_matrix){.rows = rows,
                             .cols = cols,
                             .cols_padded = bn_ternary_padded_cols(cols, isa),
                             .vbytes = 32,
                             .isa = isa,
                             .scale = *scale,
                             .data = data,
                             .bytes = bytes};
    return BN_OK;
}

void bn_ternary_matrix_unpack(const bn_ternary_matrix *m, int8_t *t) {
    float no_scale;
    /* The matrix was packed by the same row, so its bytes are well formed. */
    bn_dtype_get(layout_dtype(m->layout, m->vbytes))
        ->unpack_ternary(m->data, m->bytes, m->rows, m->cols, t, &no_scale);
}

void bn_ternary_matrix_free(bn_ternary_matrix *m) {
    bn_aligned_free(m->data);
    memset(m, 0, sizeof *m);
}

void bn_ternary_quantize_acts(const bn_ternary_matrix *w, const float *x, int64_t m, int8_t *xq,
                              float *x_scale, int32_t *x_sum) {
    float (*quant_row)(const float *, int64_t, int8_t *, int32_t *) = bn_act_quant_row;
#if defined(__x86_64__)
    if ((w->isa == BN_ISA_AVX2 || w->isa == BN_ISA_AVX512) && bn_cpu_isa_supported(BN_ISA_AVX2))
        quant_row = bn_act_quant_row_avx2;
#endif
    for (int64_t i = 0; i < m; i++) {
        int8_t *row = xq + i * w->cols_padded;
        x_scale[i] = quant_row(x + i * w->cols, w->cols, row, &x_sum[i]);
        memset(row + w->cols, 0, (size_t)(w->cols_padded - w->cols));
    }
}

void bn_ternary_gemm_ref(const int8_t *t, float w_scale, int64_t n, int64_t k, const int8_t *xq,
                         const float *x_scale, int64_t m, float *y) {
    for (int64_t mi = 0; mi < m; mi++) {
        float factor = w_scale / x_scale[mi];
        for (int64_t ni = 0; ni < n; ni++) {
            int32_t acc = 0;
            for (int64_t ki = 0; ki < k; ki++)
                acc += (int32_t)t[ni * k + ki] * xq[mi * k + ki];
            y[mi * n + ni] = (float)acc * factor;
        }
    }
}

/* Scalar: the layout walked with plain loops (the fallback path, and the template the SIMD
 * variants follow). */
void bn_ternary_kernel_scalar(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                              const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1, float *y) {
    int v = w->vbytes;
    int64_t row_bytes = w->cols_padded / 4, blocks = w->cols_padded / (4 * v);
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = w->data + n * row_bytes;
        for (int64_t mi = 0; mi < m; mi++) {
            const int8_t *x = xq + mi * w->cols_padded;
            int32_t acc = 0;
            for (int64_t b = 0; b < blocks; b++) {
                const uint8_t *codes = row + b * v;
                const int8_t *xb = x + b * 4 * v;
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < v; j++)
                        acc += ((codes[j] >> (2 * i)) & 3) * xb[i * v + j];
            }
            acc -= x_sum[mi];
            y[mi * w->rows + n] = (float)acc * (w->scale / x_scale[mi]);
        }
    }
}

/* Scalar on t5v64: digit i of byte j of a block is value 64 i + j (ternary_gemm.h). */
void bn_ternary_kernel_t5_scalar(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                                 const int32_t *x_sum, int64_t m, int64_t n0, int64_t n1,
                                 float *y) {
    int64_t row_bytes = w->cols_padded / 5, blocks = w->cols_padded / T5_BLOCK_VALUES;
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = w->data + n * row_bytes;
        for (int64_t mi = 0; mi < m; mi++) {
            const int8_t *x = xq + mi * w->cols_padded;
            int32_t acc = 0;
            for (int64_t b = 0; b < blocks; b++)
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 64; j++)
                        acc += bn_trit(row[b * 64 + j], i) * x[b * T5_BLOCK_VALUES + i * 64 + j];
            acc -= x_sum[mi];
            y[mi * w->rows + n] = (float)acc * (w->scale / x_scale[mi]);
        }
    }
}

typedef struct gemm_job {
    bn_ternary_kernel_fn kernel;
    const bn_ternary_matrix *w;
    const int8_t *xq;
    const float *x_scale;
    const int32_t *x_sum;
    int64_t m;
    float *y;
} gemm_job;

static void run_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const gemm_job *j = ctx;
    j->kernel(j->w, j->xq, j->x_scale, j->x_sum, j->m, (int64_t)begin, (int64_t)end, j->y);
}

bn_status bn_ternary_gemm(const bn_ternary_matrix *w, const int8_t *xq, const float *x_scale,
                          const int32_t *x_sum, int64_t m, float *y, bn_threadpool *pool) {
    bn_ternary_kernel_fn kernel = bn_ternary_kernel_for(w->isa, w->layout);
    if (kernel == NULL || !bn_cpu_isa_supported(w->isa))
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "ternary matrix packed (%s) for the %s path, which this "
                        "build or CPU cannot run",
                        bn_ternary_layout_name(w->layout, w->isa), bn_isa_name(w->isa));
    gemm_job job = {kernel, w, xq, x_scale, x_sum, m, y};
    /* Decode streams memory: long runs of rows per chunk keep each core's prefetch stream going
     * (32-row chunks measured 55-60% of read bandwidth at 2 threads, 128+ rows 80-85%), with
     * two chunks per thread for balance. Prefill is compute-bound: small chunks balance best. */
    size_t threads = (size_t)(pool ? bn_threadpool_n_threads(pool) : 1);
    size_t chunk = 16;
    if (m <= 8) {
        chunk = ((size_t)w->rows + 2 * threads - 1) / (2 * threads);
        if (chunk < 64)
            chunk = 64;
    }
    bn_parallel_for(pool, (size_t)w->rows, chunk, run_rows, &job);
    return BN_OK;
}
