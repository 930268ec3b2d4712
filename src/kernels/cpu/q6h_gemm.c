/*
 * q6h_gemm.c - the reference and scalar kernel, and the multithreaded dispatcher of the Q6H
 * products (contract in q6h_gemm.h). The AVX2 variant lives in q6h_avx2.c.
 */
#include "kernels/cpu/q6h_gemm.h"

#include "tensor/formats.h"
#include "tensor/half.h"

#include <math.h>

static_assert(BN_Q8_BLOCK == BN_QK_Q6H, "activation blocks match the weight blocks");

/* One output: W row `row` (nb blocks) against one activation row, in Q8_0's float order. */
static float dot_row(const bn_block_q6h *row, const int8_t *x, const float *xd, int64_t nb) {
    float acc[8] = {0};
    int8_t w[BN_QK_Q6H];
    for (int64_t b = 0; b < nb; b++) {
        bn_q6h_codes(&row[b], w);
        float s = bn_f16_to_f32(row[b].d) * xd[b];
        const int8_t *xb = x + b * BN_Q8_BLOCK;
        for (int l = 0; l < 8; l++) {
            int32_t p = 0;
            for (int j = 4 * l; j < 4 * l + 4; j++)
                p += (int32_t)w[j] * xb[j];
            acc[l] = fmaf(s, (float)p, acc[l]);
        }
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void bn_q6h_kernel_scalar(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                          int64_t m, int64_t n0, int64_t n1, float *y) {
    int64_t nb = k / BN_Q8_BLOCK;
    const bn_block_q6h *blocks = w;
    for (int64_t row = n0; row < n1; row++)
        for (int64_t mi = 0; mi < m; mi++)
            y[mi * n + row] = dot_row(blocks + row * nb, xq + mi * k, xd + mi * nb, nb);
}

void bn_q6h_gemm_ref(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                     int64_t m, float *y) {
    bn_q6h_kernel_scalar(w, n, k, xq, xd, m, 0, n, y);
}

bn_q8_kernel_fn bn_q6h_kernel_for(bn_isa isa) {
    switch (isa) {
    case BN_ISA_SCALAR:
        return bn_q6h_kernel_scalar;
#if defined(__x86_64__)
    case BN_ISA_AVX2:
    case BN_ISA_AVX512: /* every AVX-512 CPU we select has AVX2, FMA and F16C */
        return bn_q6h_kernel_avx2;
#endif
    default:
        return NULL;
    }
}

typedef struct q6h_job {
    bn_q8_kernel_fn kernel;
    const void *w;
    int64_t n, k;
    const int8_t *xq;
    const float *xd;
    int64_t m;
    float *y;
} q6h_job;

static void run_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const q6h_job *j = ctx;
    j->kernel(j->w, j->n, j->k, j->xq, j->xd, j->m, (int64_t)begin, (int64_t)end, j->y);
}

bn_status bn_q6h_gemm(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                      int64_t m, float *y, bn_threadpool *pool) {
    if (n <= 0 || k <= 0 || m <= 0 || k % BN_Q8_BLOCK != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "q6h gemm: W [%lld, %lld] x [%lld, %lld]: dimensions must be > 0 and "
                        "K a multiple of %d",
                        (long long)n, (long long)k, (long long)m, (long long)k, BN_Q8_BLOCK);
    bn_q8_kernel_fn kernel = bn_q6h_kernel_for(bn_cpu_isa());
    if (kernel == NULL)
        kernel = bn_q6h_kernel_scalar;
    q6h_job job = {kernel, w, n, k, xq, xd, m, y};
    /* Rows per chunk, as bn_q8_gemm chooses them: a GEMV streams W once in large chunks (the
     * kernel's prefetch runs ahead within its range); a GEMM keeps 16 rows in cache while every
     * token passes over them. */
    size_t chunk = m == 1 ? 256 : 16;
    bn_parallel_for(pool, (size_t)n, chunk, run_rows, &job);
    return BN_OK;
}
